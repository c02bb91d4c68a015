//! The integration tests of `tessera-dp`: one binary, one module per topic.

mod accountant;
mod release_variance;
mod releases;
mod samplers;
