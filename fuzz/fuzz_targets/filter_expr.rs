//! Aggregation filters (`filter: "action = 'skip'"`): parse, type-check, evaluate.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tessera_fuzz::targets::filter_expr(data));
