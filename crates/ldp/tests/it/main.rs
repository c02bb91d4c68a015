//! The integration tests of `tessera-ldp`: one binary, topical modules.

mod sketch_algebra;
mod statistics;
mod wire_format;
