//! Recycled buffers for large tensors: a fresh buffer's pages fault on first write, a
//! recycled one's do not (as PyTorch's caching allocator). Every large tensor value is
//! allocated and freed here: a hot path of tensor models.

/// A tensor's storage. Large buffers go back to a per-thread pool when the last tensor
/// using them is dropped, and new tensors of a similar size take them from there, as
/// PyTorch's caching allocator does: a fresh buffer faults in its pages the first time it
/// is written, a recycled one does not (figures in docs/performance.md).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Buffer(pub(crate) Vec<f64>);

impl std::ops::Deref for Buffer {
    type Target = Vec<f64>;
    fn deref(&self) -> &Vec<f64> {
        &self.0
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.0));
    }
}

/// Buffers smaller than this (in elements; 512 KB) come from the allocator directly.
pub(crate) const POOL_MIN: usize = 1 << 16;
/// At most this many buffers wait in a thread's pool.
const POOL_MAX: usize = 32;

thread_local! {
    static POOL: std::cell::RefCell<Vec<Vec<f64>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A pooled vector with room for `n` values, if one of about that size waits.
pub(crate) fn take_pooled(n: usize) -> Option<Vec<f64>> {
    if n < POOL_MIN {
        return None;
    }
    POOL.try_with(|p| {
        let mut p = p.try_borrow_mut().ok()?;
        // The most recently recycled first: its lines may still be in cache, where the
        // oldest buffer's are not, and writing a buffer that is not in cache reads it
        // from memory first.
        let i = p
            .iter()
            .rposition(|v| v.capacity() >= n && v.capacity() <= 2 * n)?;
        Some(p.remove(i))
    })
    .ok()
    .flatten()
}

/// An empty vector with room for `n` values, recycled when one of about that size waits.
pub(crate) fn buffer(n: usize) -> Vec<f64> {
    match take_pooled(n) {
        Some(mut v) => {
            v.clear();
            v
        }
        None => Vec::with_capacity(n),
    }
}

/// `n` values for the caller to overwrite every one of: a recycled buffer keeps its old
/// values (shortening it is free, where zeroing would be one more pass over memory).
pub(crate) fn scratch(n: usize) -> Vec<f64> {
    let mut v = take_pooled(n).unwrap_or_default();
    v.truncate(n);
    v.resize(n, 0.0);
    v
}

pub(crate) fn recycle(v: Vec<f64>) {
    if v.capacity() < POOL_MIN {
        return;
    }
    let _ = POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if p.len() < POOL_MAX {
                p.push(v);
            }
        }
    });
}
