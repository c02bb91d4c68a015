//! Issue 14, guarantee 11: every committed fuzz input — the seeds (`fuzz/seeds/<target>/`)
//! and the inputs that once crashed a target (`fuzz/regressions/<target>/`) — replayed
//! through the fuzz targets' own bodies on stable Rust, so CI exercises the corpora without
//! nightly or cargo-fuzz. A panic here is a decoding bug: fix it in the library.

use std::path::Path;

#[allow(unreachable_pub, dead_code)]
#[path = "../../../../fuzz/src/targets.rs"]
mod targets;

#[test]
fn every_fuzz_seed_and_regression_input_decodes_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (name, target) in targets::TARGETS {
        let mut seeds = 0;
        for dir in ["seeds", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                let result = std::panic::catch_unwind(|| target(&bytes));
                assert!(result.is_ok(), "{name}: {} panicked", path.display());
                seeds += usize::from(dir == "seeds");
            }
        }
        assert!(seeds > 0, "{name}: no seeds under fuzz/seeds/{name}");
    }
}
