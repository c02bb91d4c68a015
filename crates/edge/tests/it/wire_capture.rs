//! Placeholder replaced by the wire-capture test against a real `tessera serve`.
