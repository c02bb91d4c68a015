//! Handing states over to the publisher (which writes them to the online store): encoded
//! here, on every core, not under the publisher's lock.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_core::aggregate::ViewState;
use tessera_core::map_parallel;
use tessera_online::Stamp;

use super::{SourceRuntime, StreamEngine, ViewKind};
use crate::checkpoint::SourceMeta;

/// States per thread below which encoding them on another thread is not worth starting it.
pub(super) const ENCODE_PER_THREAD: usize = 1024;

/// `state` encoded into a buffer of exactly its size (the encodings stay in memory until
/// written and snapshotted: with many entities a generous capacity per state adds up to
/// hundreds of MB). Encoded first into a scratch buffer of the thread, reused.
pub(super) fn encode_exact(state: &ViewState) -> Vec<u8> {
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        scratch.clear();
        state.encode(&mut scratch);
        scratch.to_vec()
    })
}

pub(super) fn stamp_of(meta: &SourceMeta) -> Stamp {
    Stamp::new(meta.last_stamp, i64::try_from(meta.seq).unwrap_or(i64::MAX))
}

impl StreamEngine {
    /// Encodes the given states and hands them to the publisher; returns the generation.
    /// With `remember`, the encodings are kept for the next snapshot too.
    pub(super) fn hand_over(
        &self,
        rt: &mut SourceRuntime,
        which: Vec<(usize, Vec<u8>)>,
        stamp: Stamp,
        remember: bool,
    ) -> u64 {
        let mut by_view: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
        for (vi, kb) in which {
            by_view.entry(vi).or_default().push(kb);
        }
        let mut gen = 0;
        for (vi, keys) in by_view {
            let v = &rt.views[vi];
            let ViewKind::Aggregate { states, .. } = &v.kind else {
                continue;
            };
            // Encoded here, on every core, not under the publisher's lock.
            let rows = map_parallel(&keys, ENCODE_PER_THREAD, |kb| {
                let (key, state) = states.get(kb)?;
                Some((
                    kb.clone(),
                    (key.clone(), stamp, Arc::new(encode_exact(state))),
                ))
            });
            if remember {
                for (kb, (_, _, bytes)) in &rows {
                    rt.unsnapshotted
                        .insert((vi, kb.clone()), Some((stamp, bytes.clone())));
                }
            }
            gen = self.publisher.publish(&rt.views[vi].name, rows);
        }
        gen
    }
}
