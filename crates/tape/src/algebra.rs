//! The arithmetic every op and every backward rule is written in.
//!
//! Four types implement [`Algebra`]: `f64` (rank-0 values, the fast path for scalar
//! graphs), [`Tensor`] (plain values, the fast path for tensor graphs), [`Var`](crate::Var)
//! (recorded values, so a backward pass can itself be differentiated) and
//! [`Dual`](crate::Dual) (forward mode). The backward rules in `op/rules.rs` are generic over
//! this trait and written once; a user function written against it runs in every mode.

use crate::tensor::{numel, Shape, Tensor};
use smallvec::SmallVec;

/// The argument that seals [`Algebra`]'s engine-only methods: a type no other crate can
/// name, so no other crate can call or override them.
#[derive(Clone, Copy)]
pub struct Sealed(());

/// The only value of [`Sealed`].
pub(crate) const SEALED: Sealed = Sealed(());

/// The op set of descent, shared by plain values, recorded values and dual numbers.
///
/// Binary ops broadcast by NumPy's rules. Write a function once against this trait and
/// evaluate it plainly, on a tape, or in forward mode:
///
/// ```
/// use tape::{Algebra, Tensor, Tape};
/// fn f<T: Algebra>(x: &T) -> T { x.square().exp().sum() }
/// let x = Tensor::from([0.5, -0.25]);
/// let plain = f(&x).item();
/// let tape = Tape::new();
/// let xv = tape.param(x);
/// assert_eq!(f(&xv).item(), plain);
/// ```
pub trait Algebra: Clone {
    /// The shape of the value.
    fn shape(&self) -> Shape;
    /// `self + o`, broadcasting.
    fn add(&self, o: &Self) -> Self;
    /// `self - o`, broadcasting.
    fn sub(&self, o: &Self) -> Self;
    /// `self * o` elementwise, broadcasting.
    fn mul(&self, o: &Self) -> Self;
    /// `self / o` elementwise, broadcasting.
    fn div(&self, o: &Self) -> Self;
    /// `-self`.
    fn neg(&self) -> Self;
    /// `self * c` for a constant `c`.
    fn scale(&self, c: f64) -> Self;
    /// `self * o * c`, broadcasting: one pass where a backward rule would make two
    /// (`g·2a` for `square`). Plain tensors fuse it; the default composes `mul` and
    /// `scale`, which is what recorded values should do. The engine's own: the sealed
    /// argument keeps it out of every other crate.
    #[doc(hidden)]
    fn mul_scaled(&self, o: &Self, c: f64, _: Sealed) -> Self {
        self.mul(o).scale(c)
    }
    /// `self ^ p` elementwise.
    fn powf(&self, p: f64) -> Self;
    /// `self ^ n` elementwise.
    fn powi(&self, n: i32) -> Self;
    /// `self²` elementwise.
    fn square(&self) -> Self;
    /// `eˣ` elementwise.
    fn exp(&self) -> Self;
    /// Natural logarithm elementwise.
    fn ln(&self) -> Self;
    /// Square root elementwise.
    fn sqrt(&self) -> Self;
    /// Absolute value elementwise.
    fn abs(&self) -> Self;
    /// Hyperbolic tangent elementwise.
    fn tanh(&self) -> Self;
    /// Logistic sigmoid `1 / (1 + e⁻ˣ)` elementwise.
    fn sigmoid(&self) -> Self;
    /// `max(x, 0)` elementwise.
    fn relu(&self) -> Self;
    /// Sine elementwise.
    fn sin(&self) -> Self;
    /// Cosine elementwise.
    fn cos(&self) -> Self;
    /// Arctangent elementwise.
    fn atan(&self) -> Self;
    /// `self ^ o` elementwise with a tensor exponent, broadcasting.
    fn pow(&self, o: &Self) -> Self;
    /// A pointwise function treated as a constant: its value flows forward, no gradient
    /// flows back. Backward rules use it for the piecewise-constant factors `sign(x)` and
    /// `[x > 0]`.
    fn map_const(&self, f: fn(f64) -> f64) -> Self;
    /// `self · mask` where `mask` is non-zero, 0 elsewhere: a selection, not a product, so
    /// an infinite `self` stays out of the branch not taken (PyTorch's rule for relu,
    /// maximum, minimum, clamp and where). On `Var` it is recorded as its own op, whose
    /// rule selects again, so second derivatives and functions built from it select too.
    fn masked_mul(&self, mask: &Self) -> Self;
    /// A constant from two operands' values, broadcast (no gradient flows back): the
    /// branch weights of maximum and minimum.
    fn zip_const(&self, o: &Self, f: fn(f64, f64) -> f64) -> Self;
    /// [`Algebra::map_const`] with a closure (a constant: no gradient flows back).
    fn map_const_with(&self, f: &(dyn Fn(f64) -> f64 + Sync)) -> Self;
    /// The largest value along `axis`, as a constant (NaN if any is): the shift that keeps
    /// `logsumexp` and `softmax` from overflowing, which cancels from their derivatives.
    fn max_axis_const(&self, axis: usize, keepdim: bool) -> Self;
    /// `t` as a constant beside `self` (on the same tape, for a `Var`).
    fn lift_const(&self, t: &Tensor) -> Self;
    /// Entries `start..start + len` along `axis` (`torch.narrow`).
    fn narrow(&self, axis: usize, start: usize, len: usize) -> Self;
    /// `self` at `start` along `axis` of zeros `total` long there (narrow's adjoint).
    fn pad_axis(&self, axis: usize, start: usize, total: usize) -> Self;
    /// A constant of `self`'s shape: 1 at the first largest value along `axis`, 0
    /// elsewhere (where `max(dim)` sends its gradient, as PyTorch).
    fn first_max_const(&self, axis: usize) -> Self;
    /// `ln(1 + x)`, accurate for small `x`.
    fn log1p(&self) -> Self;
    /// `eˣ − 1`, accurate for small `x`.
    fn expm1(&self) -> Self;
    /// `ln(1 + eˣ)`, as PyTorch computes it (β = 1, and `x` itself above 20).
    fn softplus(&self) -> Self;
    /// The larger of two values elementwise (NaN if either is), broadcast.
    fn maximum(&self, o: &Self) -> Self;
    /// The smaller of two values elementwise (NaN if either is), broadcast.
    fn minimum(&self, o: &Self) -> Self;
    /// `op(self) · op(b)` for matrices, each transposed when its flag is set.
    fn gemm(&self, b: &Self, ta: bool, tb: bool) -> Self;
    /// Sum of all elements (rank 0).
    fn sum(&self) -> Self;
    /// Mean of all elements (rank 0).
    fn mean(&self) -> Self;
    /// Sum along `axis`.
    fn sum_axis(&self, axis: usize, keepdim: bool) -> Self;
    /// Mean along `axis`.
    fn mean_axis(&self, axis: usize, keepdim: bool) -> Self;
    /// The same elements under another shape.
    fn reshape(&self, shape: &[usize]) -> Self;
    /// Swaps two axes.
    fn transpose(&self, d0: usize, d1: usize) -> Self;
    /// Repeats along axes of extent 1 to reach `shape`.
    fn broadcast_to(&self, shape: &[usize]) -> Self;

    /// The number of elements.
    fn numel(&self) -> usize {
        numel(&self.shape())
    }

    /// Matrix product with vector promotion, as `numpy.matmul` for ranks 1 and 2.
    #[track_caller]
    fn matmul(&self, b: &Self) -> Self {
        let (sa, sb) = (self.shape(), b.shape());
        match (sa.len(), sb.len()) {
            (2, 2) => self.gemm(b, false, false),
            (2, 1) => self
                .gemm(&b.reshape(&[sb[0], 1]), false, false)
                .reshape(&[sa[0]]),
            (1, 2) => self
                .reshape(&[1, sa[0]])
                .gemm(b, false, false)
                .reshape(&[sb[1]]),
            (1, 1) => self
                .reshape(&[1, sa[0]])
                .gemm(&b.reshape(&[sb[0], 1]), false, false)
                .reshape(&[]),
            _ => panic!("matmul: expects matrices or vectors, got shapes {sa:?} and {sb:?}"),
        }
    }

    /// The gradient rule of broadcasting, shared by every binary op: sums `self` over
    /// the axes that broadcasting added or stretched, so it takes the shape `shape`.
    fn unbroadcast(&self, shape: &[usize]) -> Self {
        let mut g = self.clone();
        let mut have = g.shape();
        if have[..] == shape[..] {
            return g;
        }
        if numel(shape) == 1 {
            // Everything sums into one value (a bias): one reduction, not one per axis.
            let total = g.sum();
            return if shape.is_empty() {
                total
            } else {
                total.reshape(shape)
            };
        }
        while have.len() > shape.len() {
            g = g.sum_axis(0, false);
            have = g.shape();
        }
        for (axis, &d) in shape.iter().enumerate() {
            if d == 1 && have[axis] != 1 {
                g = g.sum_axis(axis, true);
            }
        }
        g
    }
}

/// Rank-0 values: the arithmetic of scalar graphs, compiled to plain float code. Shape
/// ops are identities here; the tape takes this path only when every value of a node is
/// rank 0, and never for matrix or axis ops, which need rank ≥ 1.
impl Algebra for f64 {
    fn shape(&self) -> Shape {
        SmallVec::new()
    }
    fn add(&self, o: &f64) -> f64 {
        self + o
    }
    fn sub(&self, o: &f64) -> f64 {
        self - o
    }
    fn mul(&self, o: &f64) -> f64 {
        self * o
    }
    fn div(&self, o: &f64) -> f64 {
        self / o
    }
    fn neg(&self) -> f64 {
        -self
    }
    fn scale(&self, c: f64) -> f64 {
        self * c
    }
    fn powf(&self, p: f64) -> f64 {
        f64::powf(*self, p)
    }
    fn powi(&self, n: i32) -> f64 {
        f64::powi(*self, n)
    }
    fn square(&self) -> f64 {
        self * self
    }
    fn exp(&self) -> f64 {
        f64::exp(*self)
    }
    fn ln(&self) -> f64 {
        f64::ln(*self)
    }
    fn sqrt(&self) -> f64 {
        f64::sqrt(*self)
    }
    fn abs(&self) -> f64 {
        f64::abs(*self)
    }
    fn tanh(&self) -> f64 {
        f64::tanh(*self)
    }
    fn sigmoid(&self) -> f64 {
        sigmoid(*self)
    }
    fn relu(&self) -> f64 {
        relu(*self)
    }
    fn sin(&self) -> f64 {
        f64::sin(*self)
    }
    fn cos(&self) -> f64 {
        f64::cos(*self)
    }
    fn atan(&self) -> f64 {
        f64::atan(*self)
    }
    fn pow(&self, o: &f64) -> f64 {
        self.powf(*o)
    }
    fn masked_mul(&self, mask: &f64) -> f64 {
        if *mask != 0.0 {
            self * mask
        } else {
            0.0
        }
    }
    fn zip_const(&self, o: &f64, f: fn(f64, f64) -> f64) -> f64 {
        f(*self, *o)
    }
    fn map_const_with(&self, f: &(dyn Fn(f64) -> f64 + Sync)) -> f64 {
        f(*self)
    }
    #[track_caller]
    fn max_axis_const(&self, axis: usize, _keepdim: bool) -> f64 {
        panic!("max_axis: axis {axis} is out of range for a rank-0 value")
    }
    #[track_caller]
    fn first_max_const(&self, axis: usize) -> f64 {
        panic!("max: axis {axis} is out of range for a rank-0 value")
    }
    #[track_caller]
    fn lift_const(&self, t: &Tensor) -> f64 {
        t.item()
    }
    #[track_caller]
    fn narrow(&self, axis: usize, _start: usize, _len: usize) -> f64 {
        panic!("narrow: axis {axis} is out of range for a rank-0 value")
    }
    #[track_caller]
    fn pad_axis(&self, axis: usize, _start: usize, _total: usize) -> f64 {
        panic!("pad_axis: axis {axis} is out of range for a rank-0 value")
    }
    fn log1p(&self) -> f64 {
        self.ln_1p()
    }
    fn expm1(&self) -> f64 {
        self.exp_m1()
    }
    fn softplus(&self) -> f64 {
        softplus(*self)
    }
    fn maximum(&self, o: &f64) -> f64 {
        maximum(*self, *o)
    }
    fn minimum(&self, o: &f64) -> f64 {
        minimum(*self, *o)
    }
    fn map_const(&self, f: fn(f64) -> f64) -> f64 {
        f(*self)
    }
    fn gemm(&self, _: &f64, _: bool, _: bool) -> f64 {
        unreachable!("matmul never runs on rank-0 values")
    }
    fn sum(&self) -> f64 {
        *self
    }
    fn mean(&self) -> f64 {
        *self
    }
    fn sum_axis(&self, _: usize, _: bool) -> f64 {
        unreachable!("sum_axis never runs on rank-0 values")
    }
    fn mean_axis(&self, _: usize, _: bool) -> f64 {
        unreachable!("mean_axis never runs on rank-0 values")
    }
    fn reshape(&self, _: &[usize]) -> f64 {
        *self
    }
    fn transpose(&self, _: usize, _: usize) -> f64 {
        unreachable!("transpose never runs on rank-0 values")
    }
    fn broadcast_to(&self, _: &[usize]) -> f64 {
        *self
    }
    fn unbroadcast(&self, _: &[usize]) -> f64 {
        *self
    }
}

pub(crate) fn sigmoid(x: f64) -> f64 {
    // Two branches so that neither exp overflows for large |x|.
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + eˣ)` as PyTorch's softplus (β = 1, threshold 20): `x` itself above 20.
pub(crate) fn softplus(x: f64) -> f64 {
    if x > 20.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

/// softplus' = the logistic function, 1 above the threshold (as PyTorch's rule).
pub(crate) fn softplus_slope(x: f64) -> f64 {
    if x > 20.0 {
        1.0
    } else {
        let z = x.exp();
        z / (z + 1.0)
    }
}

/// The larger value, NaN if either is (as torch.maximum; `f64::max` ignores a NaN).
pub(crate) fn maximum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a >= b {
        a
    } else {
        b
    }
}

/// The smaller value, NaN if either is.
pub(crate) fn minimum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a <= b {
        a
    } else {
        b
    }
}

/// The weight of `a`'s branch in maximum(a, b): 1 where it wins, ½ at a tie (PyTorch
/// splits the gradient), 0 where it loses.
pub(crate) fn wins_max(a: f64, b: f64) -> f64 {
    if a > b {
        1.0
    } else if a == b {
        0.5
    } else {
        0.0
    }
}

/// The weight of `a`'s branch in minimum(a, b).
pub(crate) fn wins_min(a: f64, b: f64) -> f64 {
    wins_max(b, a)
}

pub(crate) fn relu(x: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

impl Algebra for Tensor {
    fn shape(&self) -> Shape {
        crate::tensor::shape_of(Tensor::shape(self))
    }
    #[track_caller]
    fn add(&self, o: &Tensor) -> Tensor {
        self.zip_with(o, "add", |x, y| x + y)
    }
    #[track_caller]
    fn sub(&self, o: &Tensor) -> Tensor {
        self.zip_with(o, "sub", |x, y| x - y)
    }
    #[track_caller]
    fn mul(&self, o: &Tensor) -> Tensor {
        self.zip_with(o, "mul", |x, y| x * y)
    }
    #[track_caller]
    fn mul_scaled(&self, o: &Tensor, c: f64, _: Sealed) -> Tensor {
        self.zip_with(o, "mul", |x, y| x * y * c)
    }
    #[track_caller]
    fn div(&self, o: &Tensor) -> Tensor {
        self.zip_with(o, "div", |x, y| x / y)
    }
    fn neg(&self) -> Tensor {
        self.map(|x| -x)
    }
    fn scale(&self, c: f64) -> Tensor {
        self.map(|x| x * c)
    }
    fn powf(&self, p: f64) -> Tensor {
        self.map(|x| x.powf(p))
    }
    fn powi(&self, n: i32) -> Tensor {
        self.map(|x| x.powi(n))
    }
    fn square(&self) -> Tensor {
        self.map(|x| x * x)
    }
    fn exp(&self) -> Tensor {
        self.map(f64::exp)
    }
    fn ln(&self) -> Tensor {
        self.map(f64::ln)
    }
    fn sqrt(&self) -> Tensor {
        self.map(f64::sqrt)
    }
    fn abs(&self) -> Tensor {
        self.map(f64::abs)
    }
    fn tanh(&self) -> Tensor {
        self.map(f64::tanh)
    }
    fn sigmoid(&self) -> Tensor {
        self.map(sigmoid)
    }
    fn relu(&self) -> Tensor {
        self.map(relu)
    }
    fn sin(&self) -> Tensor {
        self.map(f64::sin)
    }
    fn cos(&self) -> Tensor {
        self.map(f64::cos)
    }
    fn atan(&self) -> Tensor {
        self.map(f64::atan)
    }
    #[track_caller]
    fn pow(&self, o: &Tensor) -> Tensor {
        self.zip_with(o, "pow", f64::powf)
    }
    fn map_const(&self, f: fn(f64) -> f64) -> Tensor {
        self.map(f)
    }
    #[track_caller]
    fn masked_mul(&self, mask: &Tensor) -> Tensor {
        self.zip_with(
            mask,
            "masked_mul",
            |x, m| if m != 0.0 { x * m } else { 0.0 },
        )
    }
    #[track_caller]
    fn zip_const(&self, o: &Tensor, f: fn(f64, f64) -> f64) -> Tensor {
        self.zip_with(o, "zip", f)
    }
    fn map_const_with(&self, f: &(dyn Fn(f64) -> f64 + Sync)) -> Tensor {
        self.map(f)
    }
    #[track_caller]
    fn max_axis_const(&self, axis: usize, keepdim: bool) -> Tensor {
        Tensor::max_axis(self, axis, keepdim)
    }
    #[track_caller]
    fn first_max_const(&self, axis: usize) -> Tensor {
        Tensor::first_max_onehot(self, axis)
    }
    fn lift_const(&self, t: &Tensor) -> Tensor {
        t.clone()
    }
    #[track_caller]
    fn narrow(&self, axis: usize, start: usize, len: usize) -> Tensor {
        Tensor::narrow(self, axis, start, len)
    }
    #[track_caller]
    fn pad_axis(&self, axis: usize, start: usize, total: usize) -> Tensor {
        Tensor::pad_axis(self, axis, start, total)
    }
    fn log1p(&self) -> Tensor {
        self.map(f64::ln_1p)
    }
    fn expm1(&self) -> Tensor {
        self.map(f64::exp_m1)
    }
    fn softplus(&self) -> Tensor {
        self.map(softplus)
    }
    #[track_caller]
    fn maximum(&self, o: &Tensor) -> Tensor {
        self.zip_with(o, "maximum", maximum)
    }
    #[track_caller]
    fn minimum(&self, o: &Tensor) -> Tensor {
        self.zip_with(o, "minimum", minimum)
    }
    #[track_caller]
    fn gemm(&self, b: &Tensor, ta: bool, tb: bool) -> Tensor {
        Tensor::gemm(self, b, ta, tb)
    }
    fn sum(&self) -> Tensor {
        Tensor::sum(self)
    }
    fn mean(&self) -> Tensor {
        Tensor::mean(self)
    }
    #[track_caller]
    fn sum_axis(&self, axis: usize, keepdim: bool) -> Tensor {
        Tensor::sum_axis(self, axis, keepdim)
    }
    #[track_caller]
    fn mean_axis(&self, axis: usize, keepdim: bool) -> Tensor {
        let n = Tensor::shape(self).get(axis).copied().unwrap_or(1) as f64;
        Tensor::sum_axis(self, axis, keepdim).map(|x| x / n)
    }
    #[track_caller]
    fn reshape(&self, shape: &[usize]) -> Tensor {
        Tensor::reshape(self, shape)
    }
    #[track_caller]
    fn transpose(&self, d0: usize, d1: usize) -> Tensor {
        Tensor::transpose(self, d0, d1)
    }
    #[track_caller]
    fn broadcast_to(&self, shape: &[usize]) -> Tensor {
        Tensor::broadcast_to(self, shape)
    }
}

impl Tensor {
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
        Algebra::matmul(self, b)
    }
}
