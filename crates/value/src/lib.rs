//! Tessera's one scalar value model, at the bottom of the crate graph so that every tier —
//! aggregations (`tessera-aggregate`), expressions (`tessera-expr`), Arrow conversion
//! (`tessera-core`), the online store (`tessera-online`), the stream engine, the access
//! layer, the server and the device — holds the same values without converting them:
//!
//! - [`Value`]: one feature value (null, bool, int64, float64, string, bytes, timestamp,
//!   list), with the total order aggregations break ties by ([`Value::total_cmp`]);
//! - [`KeyValue`] / [`KeyValueRef`]: the value of one join key (an integer or a string).
//!
//! Encodings live with their users: the online store's byte encoding in `tessera-online`,
//! the JSON codec of the native API in `tessera_access::wire`, Arrow in `tessera-core`.
//!
//! ```
//! use tessera_value::{KeyValue, Value};
//! assert_eq!(Value::from(3), Value::Int64(3));
//! assert_eq!(Value::Bytes(vec![1, 255]).to_string(), "0x01ff");
//! assert_eq!(KeyValue::from("a7").to_string(), "\"a7\"");
//! ```

mod key_value;
mod value;

pub use key_value::{KeyValue, KeyValueRef};
pub use value::Value;
