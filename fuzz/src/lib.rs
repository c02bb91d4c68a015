//! The fuzz targets of issue 14 (see `docs/RELIABILITY.md`): their bodies are in
//! [`targets`], shared with the replay test of the committed corpora.

pub mod targets;
