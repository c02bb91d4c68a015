//! On-demand feature expressions: compile against typed inputs, then evaluate on edge values.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tessera_fuzz::targets::ondemand_expr(data));
