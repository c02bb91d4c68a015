//! [`Caller`]: who is reading or writing, as established by the protocol layer.

use std::fmt;
use std::sync::Arc;

/// Who makes a request. The protocol layer authenticates (bearer token, mTLS …) and hands
/// the access layer the result; the access layer never sees credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// A declared consumer, authenticated.
    Consumer(Arc<str>),
    /// Nobody in particular: a server started with authentication switched off for local
    /// development. Purpose × classification rules still apply; consumer rules cannot.
    Anonymous,
}

impl Caller {
    /// A declared consumer.
    pub fn consumer(name: &str) -> Self {
        Caller::Consumer(Arc::from(name))
    }

    /// The consumer name, or `None` when anonymous.
    pub fn consumer_name(&self) -> Option<&str> {
        match self {
            Caller::Consumer(n) => Some(n),
            Caller::Anonymous => None,
        }
    }
}

impl fmt::Display for Caller {
    /// The name written to the audit log: the consumer, or `anonymous`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Consumer(n) => f.write_str(n),
            Caller::Anonymous => f.write_str("anonymous"),
        }
    }
}
