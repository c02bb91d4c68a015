//! [`map_parallel`]: CPU-bound work over many independent items (encoding states) split
//! across the cores.

/// Items per thread below which another thread is not worth starting.
const MIN_PER_THREAD: usize = 1024;

/// `items.iter().filter_map(f)`, in order, computed on up to every core (small inputs on
/// the calling thread). `f` must not block.
pub(crate) fn map_parallel<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Option<R> + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len() / MIN_PER_THREAD)
        .max(1);
    if threads == 1 {
        return items.iter().filter_map(&f).collect();
    }
    let per = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per)
            .skip(1)
            .map(|chunk| scope.spawn(move || chunk.iter().filter_map(f).collect::<Vec<R>>()))
            .collect();
        // The first chunk on this thread, the others joined in order.
        let mut out: Vec<R> = items[..per.min(items.len())].iter().filter_map(f).collect();
        for h in handles {
            match h.join() {
                Ok(part) => out.extend(part),
                // `f` panicked on a worker (a bug): the panic goes on on the caller's
                // thread, as if `f` had run there.
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_filters() {
        for n in [0, 1, 1023, 5000] {
            let items: Vec<u32> = (0..n).collect();
            let got = map_parallel(&items, |x| (x % 3 != 0).then_some(x * 2));
            let want: Vec<u32> = items
                .iter()
                .filter(|x| *x % 3 != 0)
                .map(|x| x * 2)
                .collect();
            assert_eq!(got, want, "{n} items");
        }
    }
}
