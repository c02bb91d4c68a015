//! Progress reporting for long runs, decoupled from any terminal library.

/// Receives progress from long-running work. Implementations must be cheap: `advance` is
/// called once per batch.
pub trait Progress: Send + Sync {
    /// A new stage started.
    fn message(&self, _msg: &str) {}
    /// `rows` more input rows were processed.
    fn advance(&self, _rows: u64) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
