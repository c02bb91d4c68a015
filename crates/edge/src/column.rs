//! [`Column`] and [`Status`]: what a provider of this crate answers for one feature, one
//! value and one status per entity.

use tessera_online::Value;

/// The status of one value of a device read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// A current value.
    Present,
    /// No value is known for the entity.
    Missing,
    /// The value is older than its view's TTL; it is withheld.
    Expired,
    /// The value is null.
    Null,
    /// A cloud value from the cache, older than its cache TTL, served because the cloud did
    /// not answer in time (or is being asked again in the background).
    Stale,
    /// A cloud value the cloud did not give in time, with nothing usable in the cache.
    Unavailable,
    /// The cloud refused to give this value to this device (its consumer or purpose).
    Refused,
}

impl Status {
    /// `present`, `missing`, `expired`, `null`, `stale`, `unavailable`, `refused`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Present => "present",
            Status::Missing => "missing",
            Status::Expired => "expired",
            Status::Null => "null",
            Status::Stale => "stale",
            Status::Unavailable => "unavailable",
            Status::Refused => "refused",
        }
    }

    /// Parses the server's status names (`present`, `missing`, `expired`, `null`, …).
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "present" => Status::Present,
            "missing" => Status::Missing,
            "expired" => Status::Expired,
            "null" => Status::Null,
            "stale" => Status::Stale,
            "unavailable" => Status::Unavailable,
            "refused" => Status::Refused,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One feature's values for every entity of a read, with a status and an event time
/// (µs since the epoch) per value.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Column {
    pub(crate) values: Vec<Value>,
    pub(crate) statuses: Vec<Status>,
    pub(crate) event_ts: Vec<Option<i64>>,
}

impl Column {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            values: Vec::with_capacity(n),
            statuses: Vec::with_capacity(n),
            event_ts: Vec::with_capacity(n),
        }
    }

    pub(crate) fn push(&mut self, value: Value, status: Status, ts: Option<i64>) {
        self.values.push(value);
        self.statuses.push(status);
        self.event_ts.push(ts);
    }

    /// `n` values of one status, e.g. every value unavailable.
    pub(crate) fn filled(n: usize, status: Status) -> Self {
        Self {
            values: vec![Value::Null; n],
            statuses: vec![status; n],
            event_ts: vec![None; n],
        }
    }
}
