//! Integration tests of the offline engine: one binary, topical modules.

mod bad_input;
mod differential;
mod fixtures;
mod movielens;
mod reference;
mod shapes;
