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
    /// An operator on the machine that holds the store, running a CLI command such as
    /// `tessera get`, named by the OS user. Holds no consumer's purposes: the read must
    /// name one, and purpose × classification rules apply. Audited as `local:<user>`.
    Local(Arc<str>),
}

impl Caller {
    /// A declared consumer.
    pub fn consumer(name: &str) -> Self {
        Caller::Consumer(Arc::from(name))
    }

    /// A local operator (`user` without the `local:` prefix).
    pub fn local(user: &str) -> Self {
        Caller::Local(Arc::from(user))
    }

    /// The consumer name, or `None` when anonymous or local.
    pub fn consumer_name(&self) -> Option<&str> {
        match self {
            Caller::Consumer(n) => Some(n),
            Caller::Anonymous | Caller::Local(_) => None,
        }
    }
}

impl fmt::Display for Caller {
    /// The name written to the audit log: the consumer, `anonymous`, or `local:<user>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Consumer(n) => f.write_str(n),
            Caller::Anonymous => f.write_str("anonymous"),
            Caller::Local(u) => write!(f, "local:{u}"),
        }
    }
}
