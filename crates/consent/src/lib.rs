//! Consent per (entity, purpose), changing over time.
//!
//! A purpose may declare `requires_consent: true`. Consent changes (`granted` /
//! `withdrawn` at an instant) arrive by `POST /v1/consent`, `tessera consent set` and
//! `tessera consent import`, and are appended to the repository's consent log
//! ([`CONSENT_LOG`]) as keyed hashes of the entity keys, never the keys. A
//! [`ConsentStore`] loads the log into an index that every read path checks: online reads
//! (consent in force now) and training sets (in force at the spine row's time **and** now).
//! See `docs/CONSENT.md`.
//!
//! ```
//! use tessera_consent::{ConsentState, ConsentStore};
//! let dir = tempfile::tempdir()?;
//! let store = ConsentStore::open_with(
//!     dir.path().join("consent.jsonl"),
//!     tessera_core::EntityHasher::from_key(b"demo key"),
//! )?;
//! let u1 = store.digest("user_id", "u1");
//! store.record("ads", ConsentState::Granted, 1_000, std::slice::from_ref(&u1))?;
//! assert!(store.in_force(&u1, "ads", 2_000));
//! assert!(!store.in_force(&u1, "ads", 500));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod consent_history;
mod consent_log;
mod consent_purpose;
mod consent_state;
mod consent_store;
mod error;

pub use consent_history::ConsentHistory;
pub use consent_log::{LogLine, CONSENT_LOG};
pub use consent_purpose::{check_key_name, check_purpose};
pub use consent_state::{format_time, now_us, parse_time, ConsentState};
pub use consent_store::{ConsentStore, REFRESH_EVERY};
pub use error::{Error, Result};
