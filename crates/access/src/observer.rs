//! [`AccessObserver`]: hooks through which a server counts what the access layer does
//! (store latency, denials) without this crate knowing about metrics.

use std::time::Duration;

use tessera_core::Refusal;

/// Store operations the access layer performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOp {
    /// A read of one view.
    Read,
    /// A write of one view.
    Write,
}

/// Called by the access layer as it works. Every method has an empty default.
pub trait AccessObserver: std::fmt::Debug + Send + Sync {
    /// One store call finished (`ok` is false when it failed or timed out).
    fn store_call(&self, _store: &'static str, _op: StoreOp, _elapsed: Duration, _ok: bool) {}
    /// A request was refused by the policy gate.
    fn denied(&self, _refusals: &[Refusal]) {}
    /// A read finished: how many entities and features it served.
    fn read_done(&self, _entities: usize, _features: usize) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl AccessObserver for NoObserver {}
