//! Plain f64 tensors: row-major data behind an `Arc`, shape in a `SmallVec`.
//!
//! A `Tensor` knows nothing of gradients. The tape stores tensors as node values and the
//! fast first-order backward pass runs the backward rules on them directly. Cloning is a
//! reference-count bump, so handing a parameter to a tape each step copies nothing. A
//! tensor of one value (a scalar, a bias of shape `[1]`, a loss) holds it inline: small
//! models make many of those each step, and none of them costs an allocation.

//!
//! This file holds the type, its storage and its constructors; `shape.rs` the shape
//! arithmetic and broadcasting, `ops.rs` the operations, `format.rs` the printing.
//! Elementwise ops and reductions on large tensors are on the hot path of every tensor
//! model (their kernels are in `kernels.rs`).

mod format;
mod ops;
mod shape;

pub use format::fmt_g;
pub use shape::{broadcast_shape, numel, Shape};
pub(crate) use shape::{broadcast_strides, for_each_offset, shape_of, strides};

use crate::pool::{scratch, Buffer, POOL_MIN};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use std::sync::{Arc, OnceLock};

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
pub(crate) struct Splat {
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
pub(crate) enum Storage {
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
pub(crate) fn released() -> ! {
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

/// `n` values from `f(i)`: on every core when `n` is large, into a recycled buffer when
/// one of about that size waits.
pub(crate) fn fill(n: usize, f: impl Fn(usize) -> f64 + Sync) -> Vec<f64> {
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
pub(crate) fn fill_zip(
    a: &[f64],
    b: Option<&[f64]>,
    f: impl Fn(f64, f64) -> f64 + Sync,
) -> Vec<f64> {
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
    pub(crate) fn from_fn(shape: &[usize], f: impl Fn(usize) -> f64 + Sync) -> Tensor {
        Tensor::from_storage(shape, || f(0), || fill(numel(shape), &f))
    }

    /// `f` of the elements of `a` (and of `b`, of the same size), in a tensor of `shape`.
    pub(crate) fn from_zip(
        shape: &[usize],
        a: &[f64],
        b: Option<&[f64]>,
        f: impl Fn(f64, f64) -> f64 + Sync,
    ) -> Tensor {
        let one = || f(a[0], b.map_or(0.0, |b| b[0]));
        Tensor::from_storage(shape, one, || fill_zip(a, b, &f))
    }

    /// A tensor of `shape` holding `one()` when it has one element, else `many()`.
    pub(crate) fn from_storage(
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
