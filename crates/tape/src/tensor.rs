//! Plain f64 tensors: row-major data behind an `Arc`, shape in a `SmallVec`.
//!
//! A `Tensor` knows nothing of gradients. The tape stores tensors as node values and the
//! fast first-order backward pass runs the backward rules on them directly. Cloning is a
//! reference-count bump, so handing a parameter to a tape each step copies nothing. A
//! tensor of one value (a scalar, a bias of shape `[1]`, a loss) holds it inline: small
//! models make many of those each step, and none of them costs an allocation.

use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use smallvec::SmallVec;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// The shape of a tensor: one extent per axis, outermost first. Rank 0 is a scalar.
pub type Shape = SmallVec<[usize; 4]>;

/// `dims` as a [`Shape`]. Shapes are copied at every recorded op; up to rank 4 this is a
/// few register moves, where `SmallVec::from_slice` calls `memcpy`.
#[inline]
pub(crate) fn shape_of(dims: &[usize]) -> Shape {
    if dims.len() > 4 {
        return SmallVec::from_slice(dims);
    }
    let mut buf = [0; 4];
    for i in 0..4 {
        buf[i] = dims.get(i).copied().unwrap_or(0);
    }
    SmallVec::from_buf_and_len(buf, dims.len())
}

/// A dense, row-major tensor of `f64` of any rank.
///
/// ```
/// use tape::Tensor;
/// let t = Tensor::from([[1.0, 2.0], [3.0, 4.0]]);
/// assert_eq!(t.shape(), &[2, 2]);
/// assert_eq!(t.sum().item(), 10.0);
/// ```
#[derive(PartialEq)]
pub struct Tensor {
    shape: Shape,
    data: Storage,
}

impl Clone for Tensor {
    /// The shape copied by `shape_of` (tapes clone values at every node), the values
    /// shared.
    #[inline]
    fn clone(&self) -> Tensor {
        Tensor {
            shape: shape_of(&self.shape),
            data: self.data.clone(),
        }
    }
}

/// `v` at `n` positions, and the `n` copies once something needed them written out.
struct Splat {
    v: f64,
    n: usize,
    out: OnceLock<Buffer>,
}

impl Splat {
    /// The `n` copies, written out.
    fn write_out(&self) -> Buffer {
        Buffer(fill(self.n, |_| self.v))
    }
}

/// A tensor's values: one inline, or any number shared.
#[derive(Clone)]
enum Storage {
    One(f64),
    Shared(Arc<Buffer>),
    /// The same value at all `n` positions (the adjoint of a sum or a mean): elementwise
    /// ops read the one value, and the `n` copies are written out only if something asks
    /// for the values as a slice.
    Splat(Arc<Splat>),
    /// A value the tape let go of (see [`Tape::set_release_min`](crate::Tape)): its
    /// shape remains, for backward rules that read only shapes; its values are gone.
    Released,
}

impl Storage {
    fn new(data: Vec<f64>) -> Storage {
        match data[..] {
            [x] => Storage::One(x),
            _ => Storage::Shared(Arc::new(Buffer(data))),
        }
    }
    /// The value at every position, if the storage holds just one.
    fn single(&self) -> Option<f64> {
        match *self {
            Storage::One(x) => Some(x),
            Storage::Splat(ref s) => Some(s.v),
            _ => None,
        }
    }
    /// The values, copied on write when shared.
    #[inline]
    fn make_mut(&mut self) -> &mut [f64] {
        // One value, the common case of small models, inline; the rest out of line.
        if let Storage::One(x) = self {
            return std::slice::from_mut(x);
        }
        self.make_mut_shared()
    }

    #[inline(never)]
    fn make_mut_shared(&mut self) -> &mut [f64] {
        if let Storage::Splat(s) = self {
            *self = Storage::Shared(Arc::new(s.write_out()));
        }
        match self {
            Storage::One(x) => std::slice::from_mut(x),
            Storage::Shared(a) => Arc::make_mut(a).0.as_mut_slice(),
            Storage::Splat(..) => unreachable!("written out above"),
            Storage::Released => released(),
        }
    }

    /// [`Storage`]'s `Deref` for a splat or a released value.
    #[inline(never)]
    fn deref_rare(&self) -> &[f64] {
        match self {
            Storage::One(x) => std::slice::from_ref(x),
            Storage::Shared(a) => a,
            Storage::Splat(s) => s.out.get_or_init(|| s.write_out()),
            Storage::Released => released(),
        }
    }
}

#[track_caller]
fn released() -> ! {
    panic!("internal error: a value released from the tape was read; please report this")
}

impl std::ops::Deref for Storage {
    type Target = [f64];
    #[inline]
    fn deref(&self) -> &[f64] {
        // The two common cases first, without a jump table.
        if let Storage::Shared(a) = self {
            return a;
        }
        if let Storage::One(x) = self {
            return std::slice::from_ref(x);
        }
        self.deref_rare()
    }
}

impl PartialEq for Storage {
    fn eq(&self, other: &Storage) -> bool {
        self[..] == other[..]
    }
}

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides of a shape.
fn strides(shape: &[usize]) -> Shape {
    let mut s: Shape = SmallVec::from_elem(0, shape.len());
    let mut acc = 1;
    for i in (0..shape.len()).rev() {
        s[i] = acc;
        acc *= shape[i];
    }
    s
}

/// NumPy's broadcasting rule: align shapes on the right; each pair of extents must be equal
/// or one of them 1.
#[track_caller]
pub fn broadcast_shape(op: &str, a: &[usize], b: &[usize]) -> Shape {
    let rank = a.len().max(b.len());
    let mut out: Shape = SmallVec::from_elem(0, rank);
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => panic!("{op}: shapes {a:?} and {b:?} cannot be broadcast together"),
        };
    }
    out
}

/// Strides that read a tensor of shape `from` as if it had the (broadcast) shape `to`:
/// broadcast axes get stride 0.
fn broadcast_strides(from: &[usize], to: &[usize]) -> Shape {
    let s = strides(from);
    let lead = to.len() - from.len();
    (0..to.len())
        .map(|i| {
            if i < lead || from[i - lead] == 1 {
                0
            } else {
                s[i - lead]
            }
        })
        .collect()
}

/// Visits every element of `shape` in row-major order, calling `f(offset_a, offset_b)`
/// with the offsets that two strided sources hold for it. The innermost axis is a plain
/// loop so that the odometer's cost is paid once a row, not once an element.
fn for_each_offset(shape: &[usize], sa: &[usize], sb: &[usize], mut f: impl FnMut(usize, usize)) {
    let rank = shape.len();
    if rank == 0 {
        f(0, 0);
        return;
    }
    if numel(shape) == 0 {
        return;
    }
    let (n, ia, ib) = (shape[rank - 1], sa[rank - 1], sb[rank - 1]);
    let mut idx: Shape = SmallVec::from_elem(0, rank);
    let (mut oa, mut ob) = (0usize, 0usize);
    loop {
        for j in 0..n {
            f(oa + j * ia, ob + j * ib);
        }
        // Advance the odometer over the outer axes.
        let mut ax = rank - 1;
        loop {
            if ax == 0 {
                return;
            }
            ax -= 1;
            idx[ax] += 1;
            oa += sa[ax];
            ob += sb[ax];
            if idx[ax] < shape[ax] {
                break;
            }
            oa -= sa[ax] * shape[ax];
            ob -= sb[ax] * shape[ax];
            idx[ax] = 0;
        }
    }
}

/// A tensor's storage. Large buffers go back to a per-thread pool when the last tensor
/// using them is dropped, and new tensors of a similar size take them from there, as
/// PyTorch's caching allocator does: a fresh 8 MB buffer costs 2,048 page faults the
/// first time it is written (measured: about 2 ms of a 4 ms elementwise op on 1e6
/// elements), a recycled one none.
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
const POOL_MIN: usize = 1 << 16;
/// At most this many buffers wait in a thread's pool.
const POOL_MAX: usize = 32;

thread_local! {
    static POOL: std::cell::RefCell<Vec<Vec<f64>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `n` values from `f(i)`: on every core when `n` is large, into a recycled buffer when
/// one of about that size waits.
fn fill(n: usize, f: impl Fn(usize) -> f64 + Sync) -> Vec<f64> {
    if n < POOL_MIN {
        return (0..n).map(f).collect();
    }
    let mut out = scratch(n);
    crate::kernels::fill_rows(&mut out, 1, n, |first, chunk| {
        for (k, o) in chunk.iter_mut().enumerate() {
            *o = f(first + k);
        }
    });
    out
}

/// `f` of each element of `a` (and `b`, element for element, when given), filled as
/// [`fill`] does. Each chunk walks its slices of the inputs, with no index to check per
/// element, so the loop vectorises (`square` on 1,000,000 values: see the commit).
fn fill_zip(a: &[f64], b: Option<&[f64]>, f: impl Fn(f64, f64) -> f64 + Sync) -> Vec<f64> {
    let n = a.len();
    if n < POOL_MIN {
        return match b {
            Some(b) => a.iter().zip(b).map(|(x, y)| f(*x, *y)).collect(),
            None => a.iter().map(|x| f(*x, 0.0)).collect(),
        };
    }
    let mut out = scratch(n);
    crate::kernels::fill_rows(&mut out, 1, n, |first, chunk| {
        let a = &a[first..first + chunk.len()];
        match b {
            Some(b) => {
                let b = &b[first..first + chunk.len()];
                for ((o, x), y) in chunk.iter_mut().zip(a).zip(b) {
                    *o = f(*x, *y);
                }
            }
            None => {
                for (o, x) in chunk.iter_mut().zip(a) {
                    *o = f(*x, 0.0);
                }
            }
        }
    });
    out
}

/// A pooled vector with room for `n` values, if one of about that size waits.
fn take_pooled(n: usize) -> Option<Vec<f64>> {
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

fn recycle(v: Vec<f64>) {
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

impl Tensor {
    /// A tensor from row-major data and a shape. Panics if they disagree in size.
    ///
    /// ```
    /// let t = tape::Tensor::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    /// assert_eq!(t.at(&[1, 0]), 4.0);
    /// ```
    #[track_caller]
    pub fn new(data: Vec<f64>, shape: &[usize]) -> Tensor {
        match Tensor::try_new(data, shape) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Tensor::new`], but a size mismatch is an error instead of a panic.
    ///
    /// ```
    /// assert!(tape::Tensor::try_new(vec![1.0, 2.0], &[3]).is_err());
    /// ```
    pub fn try_new(data: Vec<f64>, shape: &[usize]) -> Result<Tensor, String> {
        if data.len() != numel(shape) {
            return Err(format!(
                "Tensor::new: {} values cannot fill shape {:?} ({} elements)",
                data.len(),
                shape,
                numel(shape)
            ));
        }
        Ok(Tensor {
            shape: shape_of(shape),
            data: Storage::new(data),
        })
    }

    /// A tensor copied from row-major values (one value is held inline: no allocation).
    /// Panics if the shape holds a different number of values.
    ///
    /// ```
    /// let t = tape::Tensor::from_slice(&[1.0, 2.0], &[2, 1]);
    /// assert_eq!(t.shape(), &[2, 1]);
    /// ```
    #[track_caller]
    pub fn from_slice(data: &[f64], shape: &[usize]) -> Tensor {
        assert_eq!(
            data.len(),
            numel(shape),
            "Tensor::from_slice: {} values cannot fill shape {shape:?}",
            data.len()
        );
        Tensor::from_fn(shape, |i| data[i])
    }

    /// A rank-0 tensor.
    ///
    /// ```
    /// assert_eq!(tape::Tensor::scalar(2.5).item(), 2.5);
    /// ```
    pub fn scalar(x: f64) -> Tensor {
        Tensor {
            shape: Shape::new(),
            data: Storage::One(x),
        }
    }

    /// A tensor of the given shape filled with `x`.
    ///
    /// ```
    /// assert_eq!(tape::Tensor::full(&[2, 2], 7.0).sum().item(), 28.0);
    /// ```
    pub fn full(shape: &[usize], x: f64) -> Tensor {
        Tensor::from_fn(shape, |_| x)
    }

    /// `v` at every position of `shape`, written out only when read as a slice.
    pub(crate) fn splat(shape: &[usize], v: f64) -> Tensor {
        let n = numel(shape);
        Tensor {
            shape: shape_of(shape),
            data: if n == 1 {
                Storage::One(v)
            } else {
                Storage::Splat(Arc::new(Splat {
                    v,
                    n,
                    out: OnceLock::new(),
                }))
            },
        }
    }

    /// This tensor's shape without its values, for a tape that released them.
    pub(crate) fn released(&self) -> Tensor {
        Tensor {
            shape: self.shape.clone(),
            data: Storage::Released,
        }
    }

    /// True if the values were released (only a tape's own copies ever are).
    pub(crate) fn is_released(&self) -> bool {
        matches!(self.data, Storage::Released)
    }

    /// The tensor of `shape` whose `i`-th value (row-major) is `f(i)`; a large one is
    /// filled on every core, a one-value one is made without allocating.
    fn from_fn(shape: &[usize], f: impl Fn(usize) -> f64 + Sync) -> Tensor {
        Tensor::from_storage(shape, || f(0), || fill(numel(shape), &f))
    }

    /// `f` of the elements of `a` (and of `b`, of the same size), in a tensor of `shape`.
    fn from_zip(
        shape: &[usize],
        a: &[f64],
        b: Option<&[f64]>,
        f: impl Fn(f64, f64) -> f64 + Sync,
    ) -> Tensor {
        let one = || f(a[0], b.map_or(0.0, |b| b[0]));
        Tensor::from_storage(shape, one, || fill_zip(a, b, &f))
    }

    /// A tensor of `shape` holding `one()` when it has one element, else `many()`.
    fn from_storage(
        shape: &[usize],
        one: impl FnOnce() -> f64,
        many: impl FnOnce() -> Vec<f64>,
    ) -> Tensor {
        let data = if numel(shape) == 1 {
            Storage::One(one())
        } else {
            Storage::new(many())
        };
        Tensor {
            shape: shape_of(shape),
            data,
        }
    }

    /// A tensor of zeros.
    ///
    /// ```
    /// assert_eq!(tape::Tensor::zeros(&[3]).to_vec(), vec![0.0; 3]);
    /// ```
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 0.0)
    }

    /// A tensor of ones.
    ///
    /// ```
    /// assert_eq!(tape::Tensor::ones(&[2, 3]).sum().item(), 6.0);
    /// ```
    pub fn ones(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 1.0)
    }

    /// Standard normal samples from a seeded generator: the same seed gives the same tensor.
    ///
    /// ```
    /// let a = tape::Tensor::randn(&[3], 7);
    /// assert_eq!(a, tape::Tensor::randn(&[3], 7));
    /// ```
    pub fn randn(shape: &[usize], seed: u64) -> Tensor {
        let mut rng = StdRng::seed_from_u64(seed);
        let normal = Normal::new(0.0, 1.0).expect("unit normal is valid");
        Tensor::new(
            (0..numel(shape)).map(|_| normal.sample(&mut rng)).collect(),
            shape,
        )
    }

    /// Uniform samples on `[low, high)` from a seeded generator.
    ///
    /// ```
    /// let u = tape::Tensor::rand_uniform(&[100], -1.0, 1.0, 3);
    /// assert!(u.to_vec().iter().all(|x| (-1.0..1.0).contains(x)));
    /// ```
    pub fn rand_uniform(shape: &[usize], low: f64, high: f64, seed: u64) -> Tensor {
        let mut rng = StdRng::seed_from_u64(seed);
        Tensor::new(
            (0..numel(shape))
                .map(|_| low + (high - low) * rng.random::<f64>())
                .collect(),
            shape,
        )
    }

    /// The extents of each axis.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// The elements in row-major order.
    #[inline]
    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// Mutable access to the elements; copies them first if another tensor shares them.
    ///
    /// ```
    /// let mut t = tape::Tensor::zeros(&[2]);
    /// t.data_mut()[1] = 5.0;
    /// assert_eq!(t.to_vec(), vec![0.0, 5.0]);
    /// ```
    #[inline]
    pub fn data_mut(&mut self) -> &mut [f64] {
        self.data.make_mut()
    }

    /// The elements as a fresh `Vec`.
    pub fn to_vec(&self) -> Vec<f64> {
        self.data.to_vec()
    }

    /// The value of a one-element tensor. Panics on any other size.
    #[track_caller]
    pub fn item(&self) -> f64 {
        assert!(
            self.numel() == 1,
            "item: tensor of shape {:?} has {} elements, not one",
            self.shape,
            self.numel()
        );
        self.data[0]
    }

    /// The element at a multi-index.
    #[track_caller]
    pub fn at(&self, index: &[usize]) -> f64 {
        assert!(
            index.len() == self.rank() && index.iter().zip(&self.shape).all(|(i, n)| i < n),
            "at: index {index:?} is outside shape {:?}",
            self.shape
        );
        let s = strides(&self.shape);
        self.data[index.iter().zip(&s).map(|(i, s)| i * s).sum::<usize>()]
    }

    /// Applies `f` to every element.
    pub fn map(&self, f: impl Fn(f64) -> f64 + Sync) -> Tensor {
        if let Some(v) = self.data.single() {
            return Tensor::splat(&self.shape, f(v));
        }
        Tensor::from_zip(&self.shape, &self.data, None, |x, _| f(x))
    }

    /// Combines two tensors elementwise under NumPy broadcasting; `op` names the caller in
    /// the panic message when the shapes are incompatible.
    #[track_caller]
    pub fn zip_with(&self, other: &Tensor, op: &str, f: impl Fn(f64, f64) -> f64 + Sync) -> Tensor {
        let shape = if self.shape == other.shape {
            self.shape.clone()
        } else {
            broadcast_shape(op, &self.shape, &other.shape)
        };
        // A side that holds one value (a scalar, a splat) is read as that value.
        match (self.data.single(), other.data.single()) {
            (Some(x), Some(y)) => return Tensor::splat(&shape, f(x, y)),
            (None, Some(y)) if shape == self.shape => {
                return Tensor::from_zip(&shape, &self.data, None, |x, _| f(x, y));
            }
            (Some(x), None) if shape == other.shape => {
                return Tensor::from_zip(&shape, &other.data, None, |y, _| f(x, y));
            }
            _ => {}
        }
        let (a, b) = (&self.data[..], &other.data[..]);
        if self.shape == other.shape {
            return Tensor::from_zip(&shape, a, Some(b), f);
        }
        let sa = broadcast_strides(&self.shape, &shape);
        let sb = broadcast_strides(&other.shape, &shape);
        let mut out = buffer(numel(&shape));
        for_each_offset(&shape, &sa, &sb, |i, j| out.push(f(a[i], b[j])));
        Tensor::new(out, &shape)
    }

    /// `self.zip_with(other, op, f)`, written into `self`'s memory when nothing else
    /// shares it and the result has `self`'s shape (the caller gives `self` up): the
    /// same values, and no new buffer.
    #[track_caller]
    pub(crate) fn zip_with_owned(
        mut self,
        other: &Tensor,
        op: &str,
        f: impl Fn(f64, f64) -> f64 + Sync,
    ) -> Tensor {
        let fits = self.shape == other.shape
            || other.data.single().is_some() && {
                let shape = broadcast_shape(op, &self.shape, &other.shape);
                shape == self.shape
            };
        let Storage::Shared(buffer) = &mut self.data else {
            return self.zip_with(other, op, f);
        };
        let Some(own) = Arc::get_mut(buffer).filter(|_| fits) else {
            return self.zip_with(other, op, f);
        };
        let out = own.0.as_mut_slice();
        let n = out.len();
        match other.data.single() {
            Some(y) => crate::kernels::fill_rows(out, 1, n, |_, chunk| {
                for o in chunk {
                    *o = f(*o, y);
                }
            }),
            None => {
                let b = &other.data[..];
                crate::kernels::fill_rows(out, 1, n, |first, chunk| {
                    for (o, y) in chunk.iter_mut().zip(&b[first..]) {
                        *o = f(*o, *y);
                    }
                });
            }
        }
        self
    }

    /// Sum of all elements, as a rank-0 tensor.
    pub fn sum(&self) -> Tensor {
        Tensor::scalar(crate::kernels::sum(&self.data))
    }

    /// Mean of all elements, as a rank-0 tensor.
    pub fn mean(&self) -> Tensor {
        Tensor::scalar(crate::kernels::sum(&self.data) / self.numel() as f64)
    }

    /// Sum along one axis; `keepdim` keeps that axis with extent 1.
    ///
    /// ```
    /// let t = tape::Tensor::from([[1.0, 2.0], [3.0, 4.0]]);
    /// assert_eq!(t.sum_axis(0, false).to_vec(), vec![4.0, 6.0]);
    /// assert_eq!(t.sum_axis(1, true).shape(), &[2, 1]);
    /// ```
    #[track_caller]
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Tensor {
        self.fold_axis("sum_axis", axis, keepdim, 0.0, |d, s| d + s)
    }

    /// Folds the entries along `axis` into `init` with `f`, in index order.
    #[track_caller]
    fn fold_axis(
        &self,
        op: &str,
        axis: usize,
        keepdim: bool,
        init: f64,
        f: impl Fn(f64, f64) -> f64,
    ) -> Tensor {
        assert!(
            axis < self.rank(),
            "{op}: axis {axis} is out of range for shape {:?}",
            self.shape
        );
        let outer = numel(&self.shape[..axis]);
        let n = self.shape[axis];
        let inner = numel(&self.shape[axis + 1..]);
        let mut out = vec![init; outer * inner];
        for o in 0..outer {
            let dst = &mut out[o * inner..(o + 1) * inner];
            for k in 0..n {
                let src = &self.data[(o * n + k) * inner..(o * n + k + 1) * inner];
                for (d, s) in dst.iter_mut().zip(src) {
                    *d = f(*d, *s);
                }
            }
        }
        let mut shape = self.shape.clone();
        if keepdim {
            shape[axis] = 1;
        } else {
            shape.remove(axis);
        }
        Tensor::new(out, &shape)
    }

    /// The largest value along `axis` (NaN where any is NaN), as `torch.amax`.
    ///
    /// ```
    /// let t = tape::Tensor::new(vec![1.0, 5.0, 3.0, 2.0], &[2, 2]);
    /// assert_eq!(t.max_axis(1, false).data(), &[5.0, 3.0]);
    /// ```
    #[track_caller]
    pub fn max_axis(&self, axis: usize, keepdim: bool) -> Tensor {
        assert!(
            axis >= self.rank() || self.shape[axis] > 0,
            "max_axis: axis {axis} of shape {:?} is empty",
            self.shape
        );
        let keep = |d: f64, s: f64| if s.is_nan() || s > d { s } else { d };
        self.fold_axis("max_axis", axis, keepdim, f64::NEG_INFINITY, keep)
    }

    /// Entries `start..start + len` along `axis` (a copy), as `torch.narrow`.
    ///
    /// ```
    /// let t = tape::Tensor::new((0..6).map(f64::from).collect(), &[2, 3]);
    /// assert_eq!(t.narrow(1, 1, 2).data(), &[1.0, 2.0, 4.0, 5.0]);
    /// ```
    #[track_caller]
    pub fn narrow(&self, axis: usize, start: usize, len: usize) -> Tensor {
        assert!(
            axis < self.rank() && start + len <= self.shape[axis],
            "narrow: entries {start}..{} of axis {axis} do not fit shape {:?}",
            start + len,
            self.shape
        );
        let outer = numel(&self.shape[..axis]);
        let n = self.shape[axis];
        let inner = numel(&self.shape[axis + 1..]);
        let mut out = Vec::with_capacity(outer * len * inner);
        for o in 0..outer {
            out.extend_from_slice(
                &self.data[(o * n + start) * inner..(o * n + start + len) * inner],
            );
        }
        let mut shape = self.shape.clone();
        shape[axis] = len;
        Tensor::new(out, &shape)
    }

    /// This tensor placed at `start` along `axis` of a zero tensor `total` long there: the
    /// adjoint of [`Tensor::narrow`].
    ///
    /// ```
    /// let t = tape::Tensor::new(vec![1.0, 2.0], &[1, 2]);
    /// assert_eq!(t.pad_axis(1, 1, 4).data(), &[0.0, 1.0, 2.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn pad_axis(&self, axis: usize, start: usize, total: usize) -> Tensor {
        assert!(
            axis < self.rank() && start + self.shape[axis] <= total,
            "pad_axis: shape {:?} at {start} of {total} along axis {axis} does not fit",
            self.shape
        );
        let outer = numel(&self.shape[..axis]);
        let len = self.shape[axis];
        let inner = numel(&self.shape[axis + 1..]);
        let mut out = vec![0.0; outer * total * inner];
        for o in 0..outer {
            out[(o * total + start) * inner..(o * total + start + len) * inner]
                .copy_from_slice(&self.data[o * len * inner..(o + 1) * len * inner]);
        }
        let mut shape = self.shape.clone();
        shape[axis] = total;
        Tensor::new(out, &shape)
    }

    /// The values with their axes reordered (output axis `i` is axis `dims[i]`), a copy.
    ///
    /// ```
    /// let t = tape::Tensor::new((0..6).map(f64::from).collect(), &[2, 3]);
    /// assert_eq!(t.permute_values(&[1, 0]).data(), &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    /// ```
    #[track_caller]
    pub fn permute_values(&self, dims: &[usize]) -> Tensor {
        let r = self.rank();
        assert!(
            dims.len() == r && (0..r).all(|d| dims.contains(&d)),
            "permute: {dims:?} is not a permutation of the axes of shape {:?}",
            self.shape
        );
        let shape: Vec<usize> = dims.iter().map(|&d| self.shape[d]).collect();
        let mut strides = vec![1usize; r];
        for k in (0..r.saturating_sub(1)).rev() {
            strides[k] = strides[k + 1] * self.shape[k + 1];
        }
        let n = self.numel();
        let mut out = Vec::with_capacity(n);
        let mut at = vec![0usize; r];
        for _ in 0..n {
            let src: usize = (0..r).map(|i| at[i] * strides[dims[i]]).sum();
            out.push(self.data[src]);
            for i in (0..r).rev() {
                at[i] += 1;
                if at[i] < shape[i] {
                    break;
                }
                at[i] = 0;
            }
        }
        Tensor::new(out, &shape)
    }

    /// 1 at the first largest value along `axis` (the first NaN, if any), 0 elsewhere:
    /// the positions `torch.max(dim)` returns as its indices.
    ///
    /// ```
    /// let t = tape::Tensor::new(vec![1.0, 5.0, 5.0, 2.0], &[2, 2]);
    /// assert_eq!(t.first_max_onehot(1).data(), &[0.0, 1.0, 1.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn first_max_onehot(&self, axis: usize) -> Tensor {
        let best = self.max_axis(axis, true);
        let outer = numel(&self.shape[..axis]);
        let n = self.shape[axis];
        let inner = numel(&self.shape[axis + 1..]);
        let mut out = vec![0.0; self.numel()];
        for o in 0..outer {
            for i in 0..inner {
                let m = best.data[o * inner + i];
                let hit = (0..n).find(|&k| {
                    let v = self.data[(o * n + k) * inner + i];
                    v == m || (m.is_nan() && v.is_nan())
                });
                if let Some(k) = hit {
                    out[(o * n + k) * inner + i] = 1.0;
                }
            }
        }
        Tensor::new(out, &self.shape)
    }

    /// The same data under another shape with the same number of elements (no copy).
    ///
    /// ```
    /// let t = tape::Tensor::from([1.0, 2.0, 3.0, 4.0]).reshape(&[2, 2]);
    /// assert_eq!(t.at(&[1, 1]), 4.0);
    /// ```
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Tensor {
        assert!(
            numel(shape) == self.numel(),
            "reshape: cannot view shape {:?} ({} elements) as {:?} ({} elements)",
            self.shape,
            self.numel(),
            shape,
            numel(shape)
        );
        Tensor {
            shape: shape_of(shape),
            data: self.data.clone(),
        }
    }

    /// Swaps two axes (a copy in the new order).
    ///
    /// ```
    /// let t = tape::Tensor::from([[1.0, 2.0, 3.0]]).transpose(0, 1);
    /// assert_eq!(t.shape(), &[3, 1]);
    /// ```
    #[track_caller]
    pub fn transpose(&self, d0: usize, d1: usize) -> Tensor {
        assert!(
            d0 < self.rank() && d1 < self.rank(),
            "transpose: axes ({d0}, {d1}) are out of range for shape {:?}",
            self.shape
        );
        let mut shape = self.shape.clone();
        shape.swap(d0, d1);
        let mut s = strides(&self.shape);
        s.swap(d0, d1);
        let mut out = Vec::with_capacity(self.numel());
        for_each_offset(&shape, &s, &s, |i, _| out.push(self.data[i]));
        Tensor::new(out, &shape)
    }

    /// Repeats the tensor along axes of extent 1 (and new leading axes) to reach `shape`.
    ///
    /// ```
    /// let t = tape::Tensor::from([1.0, 2.0]).broadcast_to(&[2, 2]);
    /// assert_eq!(t.to_vec(), vec![1.0, 2.0, 1.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Tensor {
        let target = broadcast_shape("broadcast_to", &self.shape, shape);
        assert!(
            target[..] == shape[..],
            "broadcast_to: shape {:?} cannot be broadcast to {:?}",
            self.shape,
            shape
        );
        if let Some(v) = self.data.single() {
            // One value everywhere (the adjoint of a mean or a sum): nothing to write.
            return Tensor::splat(shape, v);
        }
        let s = broadcast_strides(&self.shape, shape);
        let mut out = buffer(numel(shape));
        for_each_offset(shape, &s, &s, |i, _| out.push(self.data[i]));
        Tensor::new(out, shape)
    }

    /// `op(a) · op(b)` for 2-D tensors, where `op` transposes when its flag is set. The
    /// transposed operands are read in place, so `Xᵀ·g` never copies `X`.
    ///
    /// ```
    /// let a = tape::Tensor::from([[1.0, 2.0], [3.0, 4.0]]);
    /// let i = tape::Tensor::from([[1.0, 0.0], [0.0, 1.0]]);
    /// assert_eq!(a.gemm(&i, true, false), a.transpose(0, 1));
    /// ```
    #[track_caller]
    pub fn gemm(&self, b: &Tensor, ta: bool, tb: bool) -> Tensor {
        assert!(
            self.rank() == 2 && b.rank() == 2,
            "matmul: expects matrices or vectors, got shapes {:?} and {:?}",
            self.shape,
            b.shape
        );
        let (m, k) = if ta {
            (self.shape[1], self.shape[0])
        } else {
            (self.shape[0], self.shape[1])
        };
        let (k2, n) = if tb {
            (b.shape[1], b.shape[0])
        } else {
            (b.shape[0], b.shape[1])
        };
        assert!(
            k == k2,
            "matmul: inner dimensions differ: shapes {:?}{} and {:?}{}",
            self.shape,
            if ta { "ᵀ" } else { "" },
            b.shape,
            if tb { "ᵀ" } else { "" }
        );
        let out = crate::kernels::gemm(&self.data, &b.data, m, k, n, ta, tb);
        Tensor::new(out, &[m, n])
    }

    /// Matrix product with NumPy's promotion of vectors: `[m,k]·[k]` is `[m]`,
    /// `[k]·[k,n]` is `[n]`, `[k]·[k]` is a scalar.
    ///
    /// ```
    /// let x = tape::Tensor::from([[1.0, 2.0], [3.0, 4.0]]);
    /// let w = tape::Tensor::from([1.0, 1.0]);
    /// assert_eq!(x.matmul(&w).to_vec(), vec![3.0, 7.0]);
    /// ```
    #[track_caller]
    pub fn matmul(&self, b: &Tensor) -> Tensor {
        crate::Algebra::matmul(self, b)
    }
}

impl fmt::Debug for Tensor {
    /// Shape and every element at full (round-trip) precision.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor{:?}{:?}", &self.shape[..], &self.data[..])
    }
}

/// A number as `%g` prints it with six significant digits: short enough for a listing,
/// and `1.9000000000000001` reads as `1.9`.
pub fn fmt_g(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let e = x.abs().log10().floor() as i32;
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if !(-4..6).contains(&e) {
        let s = format!("{x:.5e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        format!("{}e{exp}", trim(mantissa.to_string()))
    } else {
        trim(format!("{:.*}", (5 - e) as usize, x))
    }
}

/// Writes nested brackets, eliding the middle of long axes as NumPy does.
fn write_nested(f: &mut fmt::Formatter<'_>, data: &[f64], shape: &[usize]) -> fmt::Result {
    const EDGE: usize = 3;
    if shape.is_empty() {
        return match f.precision() {
            Some(p) => write!(f, "{:.*}", p, data[0]),
            None => f.write_str(&fmt_g(data[0])),
        };
    }
    let (n, inner) = (shape[0], numel(&shape[1..]));
    write!(f, "[")?;
    let mut first = true;
    for i in 0..n {
        if n > 2 * EDGE + 1 && i == EDGE {
            write!(f, ", ...")?;
        }
        if n > 2 * EDGE + 1 && (EDGE..n - EDGE).contains(&i) {
            continue;
        }
        if !first {
            write!(f, ", ")?;
        }
        first = false;
        write_nested(f, &data[i * inner..(i + 1) * inner], &shape[1..])?;
    }
    write!(f, "]")
}

impl fmt::Display for Tensor {
    /// Nested brackets, six significant digits (or the precision asked for, `{:.3}`),
    /// long axes elided.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_nested(f, &self.data, &self.shape)
    }
}

impl From<f64> for Tensor {
    fn from(x: f64) -> Tensor {
        Tensor::scalar(x)
    }
}

impl From<Vec<f64>> for Tensor {
    fn from(v: Vec<f64>) -> Tensor {
        let n = v.len();
        Tensor::new(v, &[n])
    }
}

impl From<&[f64]> for Tensor {
    fn from(v: &[f64]) -> Tensor {
        Tensor::from(v.to_vec())
    }
}

impl<const N: usize> From<[f64; N]> for Tensor {
    fn from(v: [f64; N]) -> Tensor {
        Tensor::new(v.to_vec(), &[N])
    }
}

impl<const M: usize, const N: usize> From<[[f64; N]; M]> for Tensor {
    fn from(v: [[f64; N]; M]) -> Tensor {
        Tensor::new(v.iter().flatten().copied().collect(), &[M, N])
    }
}

impl<const L: usize, const M: usize, const N: usize> From<[[[f64; N]; M]; L]> for Tensor {
    fn from(v: [[[f64; N]; M]; L]) -> Tensor {
        Tensor::new(v.iter().flatten().flatten().copied().collect(), &[L, M, N])
    }
}
