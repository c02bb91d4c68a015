//! Tessera's values and its native read API on the wire, defined once for every side: the
//! server's HTTP routes, the device's remote client and command line, and the stream
//! engine's JSON events.
//!
//! - [`value_json`]: the JSON codec of [`tessera_online::Value`] and
//!   [`tessera_online::KeyValue`] (columns, rows, request context; values out with RFC 3339
//!   timestamps and base64 bytes).
//! - [`native_read`]: `POST /v1/features` — [`NativeReadRequest`], and the answer's encoder
//!   [`encode_read_response`] with its inverse [`decode_read_response`].
//!
//! Value statuses are named by [`crate::ValueStatus::as_str`] and read back by
//! [`crate::ValueStatus::parse`]: one table.

pub mod native_read;
pub mod value_json;

pub use native_read::{
    decode_read_response, encode_read_response, NativeFeature, NativeReadRequest,
    NativeReadResponse,
};
pub use value_json::{
    format_ts, json_value, request_context, JsonOut, JsonValue, KeyColumns, KeyOut, KeyRow,
    KeysOut, TsCache, ValueColumns, ValueRow,
};
