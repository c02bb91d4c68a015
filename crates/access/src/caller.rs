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
    /// A local operator acting as a declared consumer without its token (`tessera get
    /// --consumer C`: file access to the repository and the store is the credential). Holds
    /// that consumer's purposes and write permissions, and is audited as
    /// `local:<user> as <consumer>`, so the log tells it from the consumer's own requests.
    LocalAs {
        /// The OS user, without the `local:` prefix.
        user: Arc<str>,
        /// The consumer acted as.
        consumer: Arc<str>,
    },
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

    /// A local operator (`user` without the `local:` prefix) acting as `consumer`.
    pub fn local_as(user: &str, consumer: &str) -> Self {
        Caller::LocalAs {
            user: Arc::from(user),
            consumer: Arc::from(consumer),
        }
    }

    /// The consumer whose rights apply, or `None` when anonymous or local.
    pub fn consumer_name(&self) -> Option<&str> {
        match self {
            Caller::Consumer(n) | Caller::LocalAs { consumer: n, .. } => Some(n),
            Caller::Anonymous | Caller::Local(_) => None,
        }
    }
}

impl fmt::Display for Caller {
    /// The name written to the audit log: the consumer, `anonymous`, `local:<user>` or
    /// `local:<user> as <consumer>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Consumer(n) => f.write_str(n),
            Caller::Anonymous => f.write_str("anonymous"),
            Caller::Local(u) => write!(f, "local:{u}"),
            Caller::LocalAs { user, consumer } => write!(f, "local:{user} as {consumer}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_names() {
        assert_eq!(Caller::consumer("ranker").to_string(), "ranker");
        assert_eq!(Caller::Anonymous.to_string(), "anonymous");
        assert_eq!(Caller::local("alice").to_string(), "local:alice");
        let c = Caller::local_as("alice", "ranker");
        assert_eq!(c.to_string(), "local:alice as ranker");
        assert_eq!(c.consumer_name(), Some("ranker"));
        assert_eq!(Caller::local("alice").consumer_name(), None);
    }
}
