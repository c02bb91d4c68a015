//! Scoped parallelism for CPU-bound work split into independent parts: the window join's key
//! ranges and the stream engine's state encoding.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// How many threads `work` items deserve: at most the cores, and only as many as give each
/// thread at least `min_per_thread` items (at least one thread).
pub fn threads_for(work: usize, min_per_thread: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(work / min_per_thread.max(1))
        .max(1)
}

/// Runs `f` on every part, each on a scoped thread of its own (the first on the calling
/// thread), and returns the results in part order; a part whose `f` panicked gives `Err`
/// with the panic's payload. `f` must not block.
pub fn run_parts<T: Send, R: Send>(
    parts: Vec<T>,
    f: impl Fn(T) -> R + Sync,
) -> Vec<std::thread::Result<R>> {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return Vec::new();
    };
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts.map(|p| scope.spawn(move || f(p))).collect();
        let mut out = Vec::with_capacity(handles.len() + 1);
        out.push(catch_unwind(AssertUnwindSafe(|| f(first))));
        out.extend(handles.into_iter().map(|h| h.join()));
        out
    })
}

/// `items.iter().filter_map(f)`, in order, computed on up to every core, each thread taking
/// at least `min_per_thread` items (small inputs stay on the calling thread). A panic in `f`
/// (a bug) goes on on the calling thread.
pub fn map_parallel<T: Sync, R: Send>(
    items: &[T],
    min_per_thread: usize,
    f: impl Fn(&T) -> Option<R> + Sync,
) -> Vec<R> {
    let threads = threads_for(items.len(), min_per_thread);
    if threads == 1 {
        return items.iter().filter_map(&f).collect();
    }
    let chunks: Vec<&[T]> = items.chunks(items.len().div_ceil(threads)).collect();
    let mut out = Vec::with_capacity(items.len());
    for part in run_parts(chunks, |c| c.iter().filter_map(&f).collect::<Vec<R>>()) {
        match part {
            Ok(p) => out.extend(p),
            Err(panic) => resume_unwind(panic),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_filters() {
        for n in [0, 1, 1023, 5000] {
            let items: Vec<u32> = (0..n).collect();
            let got = map_parallel(&items, 1024, |x| (x % 3 != 0).then_some(x * 2));
            let want: Vec<u32> = items
                .iter()
                .filter(|x| *x % 3 != 0)
                .map(|x| x * 2)
                .collect();
            assert_eq!(got, want, "{n} items");
        }
    }

    #[test]
    fn parts_in_order_and_panics_as_errors() {
        let got = run_parts(vec![3, 0, 5], |x: u32| {
            assert!(x != 0, "part zero");
            x * 10
        });
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().ok(), Some(&30));
        assert!(got[1].is_err());
        assert_eq!(got[2].as_ref().ok(), Some(&50));
        assert!(run_parts(Vec::<u32>::new(), |x| x).is_empty());
        assert_eq!(threads_for(0, 10), 1);
    }
}
