//! Parallel work with deterministic results: every parallel pass in kiln goes through
//! [`par_map`], on rayon's pool, so output never depends on scheduling. A leaf: imports nothing
//! of kiln's but the error type.

use crate::error::Result;

/// `f` over `items` on every core (rayon's pool, whose threads and their allocator caches
/// live for the whole process), results in item order. A failed item stops the work on items
/// after it (their results are never looked at: the caller stops at the first error).
pub(crate) fn par_map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Vec<Result<R>> {
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let first_error = AtomicUsize::new(usize::MAX);
    let results: Vec<Option<Result<R>>> = items
        .par_iter()
        .enumerate()
        .map(|(i, item)| {
            if i > first_error.load(Ordering::Relaxed) {
                return None;
            }
            let result = f(item);
            if result.is_err() {
                first_error.fetch_min(i, Ordering::Relaxed);
            }
            Some(result)
        })
        .collect();
    // Every item up to the first failure was done; nothing after it is needed.
    results.into_iter().map_while(|r| r).collect()
}
