//! Functions people write models with, each defined once from the ops on any [`Algebra`]:
//! so each has its forward value (on `f64` and `Tensor`), its reverse rule and second
//! derivatives (recorded on `Var`) and its forward-mode rule (on `Dual`) from the ops'
//! own rules, with nothing new to get wrong. Where the plain definition would overflow
//! or divide by zero, a constant (no gradient) is added that cancels from the value and
//! the derivatives: the largest value along the axis in `logsumexp`, as every library
//! does, and `[r = 0]` under the square root of `norm`, which gives PyTorch's gradient 0
//! at the zero vector.

use crate::algebra::Algebra;

/// `logsumexp`, `softmax`, `log_softmax`, `var`, `std`, `norm`, `clamp`, `max_along`,
/// `min_along`, `sum_axes`, `mean_axes`, `where_`, `cat`, `stack`, `permute`,
/// `index_select`, `gather` and `bmm` on anything the rules run on (`f64`, [`Tensor`](crate::Tensor), [`Var`](crate::Var),
/// [`Dual`](crate::Dual)).
///
/// ```
/// use tape::prelude::*;
/// use tape::Functions;
/// let tape = Tape::new();
/// let x = tape.param([1.0, 2.0, 3.0]);
/// let p = x.softmax(0);
/// assert!((p.value().sum().item() - 1.0).abs() < 1e-15);
/// // d/dx logsumexp(x) = softmax(x).
/// let g = x.logsumexp(0, false).backward().get(x);
/// assert!(g.data().iter().zip(p.value().data()).all(|(a, b)| (a - b).abs() < 1e-15));
/// ```
pub trait Functions: Algebra {
    /// `ln Σ exp(x)` along `axis`, computed as `m + ln Σ exp(x − m)` with `m` the largest
    /// value (a constant), so that large values do not overflow. An infinite largest
    /// value is not subtracted (∞ − ∞ is NaN): a row of −∞ gives −∞ and a row holding ∞
    /// gives ∞, as PyTorch's.
    #[track_caller]
    fn logsumexp(&self, axis: usize, keepdim: bool) -> Self {
        let m = self
            .max_axis_const(axis, true)
            .map_const(|v| if v.is_finite() { v } else { 0.0 });
        let s = self.sub(&m).exp().sum_axis(axis, true).ln().add(&m);
        if keepdim {
            s
        } else {
            let mut shape = self.shape();
            shape.remove(axis);
            s.reshape(&shape)
        }
    }

    /// `exp(x − logsumexp(x))` along `axis`: non-negative, summing to 1.
    #[track_caller]
    fn softmax(&self, axis: usize) -> Self {
        self.log_softmax(axis).exp()
    }

    /// `x − logsumexp(x)` along `axis`, without forming `softmax` (stable for large `x`).
    #[track_caller]
    fn log_softmax(&self, axis: usize) -> Self {
        self.sub(&self.logsumexp(axis, true))
    }

    /// The variance of every element, `Σ(x − x̄)²/(n − correction)`: `correction` 1 is
    /// the unbiased estimate (PyTorch's default, R's `var`), 0 the population variance
    /// (NumPy's default).
    fn var(&self, correction: f64) -> Self {
        let n = self.shape().iter().product::<usize>() as f64;
        let d = self.sub(&self.mean());
        d.square().sum().scale(1.0 / (n - correction))
    }

    /// [`Functions::var`] along `axis`.
    #[track_caller]
    fn var_axis(&self, axis: usize, correction: f64, keepdim: bool) -> Self {
        let n = self.shape()[axis] as f64;
        let d = self.sub(&self.mean_axis(axis, true));
        d.square()
            .sum_axis(axis, keepdim)
            .scale(1.0 / (n - correction))
    }

    /// The standard deviation, `√var` (see [`Functions::var`] for `correction`), with
    /// PyTorch's gradient 0 where it is 0 (all values equal).
    fn std(&self, correction: f64) -> Self {
        self.var(correction).sqrt_or_zero()
    }

    /// [`Functions::std`] along `axis`.
    #[track_caller]
    fn std_axis(&self, axis: usize, correction: f64, keepdim: bool) -> Self {
        self.var_axis(axis, correction, keepdim).sqrt_or_zero()
    }

    /// The Euclidean norm of every element, `√Σx²`, with PyTorch's gradient 0 at the zero
    /// vector.
    fn norm(&self) -> Self {
        self.square().sum().sqrt_or_zero()
    }

    /// The largest value along `axis`, its gradient to the first position that holds it
    /// (`torch.max(x, dim)`'s values).
    #[track_caller]
    fn max_along(&self, axis: usize, keepdim: bool) -> Self {
        self.masked_mul(&self.first_max_const(axis))
            .sum_axis(axis, keepdim)
    }

    /// The smallest value along `axis`, its gradient to the first position that holds it.
    #[track_caller]
    fn min_along(&self, axis: usize, keepdim: bool) -> Self {
        // The first smallest of x is the first largest of −x (a constant either way).
        self.masked_mul(&self.neg().first_max_const(axis))
            .sum_axis(axis, keepdim)
    }

    /// The sum over several axes, negative ones counted from the end (`-1` is the last),
    /// as `torch.sum(x, dim=(…))`.
    #[track_caller]
    fn sum_axes(&self, axes: &[isize], keepdim: bool) -> Self {
        let (axes, kept) = reduced_axes("sum_axes", &self.shape(), axes);
        let s = axes
            .iter()
            .rev()
            .fold(self.clone(), |acc, &a| acc.sum_axis(a, true));
        if keepdim {
            s
        } else {
            s.reshape(&kept)
        }
    }

    /// The mean over several axes, negative ones counted from the end.
    #[track_caller]
    fn mean_axes(&self, axes: &[isize], keepdim: bool) -> Self {
        let (normal, _) = reduced_axes("mean_axes", &self.shape(), axes);
        let shape = self.shape();
        let n: usize = normal.iter().map(|&a| shape[a]).product();
        self.sum_axes(axes, keepdim).scale(1.0 / n as f64)
    }

    /// `a` where `self` (the condition) is non-zero, `b` elsewhere, broadcast, as
    /// `torch.where(cond, a, b)`: each gradient goes only to the branch taken (selected:
    /// an infinite adjoint stays out of the other).
    #[track_caller]
    fn where_(&self, a: &Self, b: &Self) -> Self {
        let yes = self.map_const(|c| f64::from(u8::from(c != 0.0)));
        let no = self.map_const(|c| f64::from(u8::from(c == 0.0)));
        a.masked_mul(&yes).add(&b.masked_mul(&no))
    }

    /// Joins `parts` along `axis` (their shapes equal elsewhere), as `torch.cat`: each
    /// part padded to the whole length at its offset, summed (so each part's gradient is
    /// its slice of the output's).
    #[track_caller]
    fn cat(parts: &[Self], axis: usize) -> Self {
        assert!(!parts.is_empty(), "cat: no tensors to join");
        let total: usize = parts.iter().map(|p| p.shape()[axis]).sum();
        let mut at = 0;
        let mut out: Option<Self> = None;
        for p in parts {
            let len = p.shape()[axis];
            let placed = p.pad_axis(axis, at, total);
            at += len;
            out = Some(match out {
                Some(o) => o.add(&placed),
                None => placed,
            });
        }
        out.expect("at least one part")
    }

    /// Stacks `parts` (all of one shape) along a new axis at `axis`, as `torch.stack`.
    #[track_caller]
    fn stack(parts: &[Self], axis: usize) -> Self {
        let lifted: Vec<Self> = parts
            .iter()
            .map(|p| {
                let mut shape = p.shape();
                assert!(
                    axis <= shape.len(),
                    "stack: axis {axis} is out of range for shape {:?}",
                    &shape[..]
                );
                shape.insert(axis, 1);
                p.reshape(&shape)
            })
            .collect();
        Self::cat(&lifted, axis)
    }

    /// The axes reordered, output axis `i` being input axis `dims[i]`, as `torch.permute`
    /// (a sequence of transpositions).
    #[track_caller]
    fn permute(&self, dims: &[usize]) -> Self {
        let r = self.shape().len();
        let mut seen = vec![false; r];
        assert!(
            dims.len() == r
                && dims
                    .iter()
                    .all(|&d| d < r && !std::mem::replace(&mut seen[d], true)),
            "permute: {dims:?} is not a permutation of the {r} axes of shape {:?}",
            &self.shape()[..]
        );
        let mut current: Vec<usize> = (0..r).collect();
        let mut out = self.clone();
        for i in 0..r {
            let j = current
                .iter()
                .position(|&c| c == dims[i])
                .expect("a permutation");
            if j != i {
                out = out.transpose(i, j);
                current.swap(i, j);
            }
        }
        out
    }

    /// The entries at `indices` along `axis`, in that order (repeats allowed), as
    /// `torch.index_select`: a gradient returns to every place it was taken from.
    #[track_caller]
    fn index_select(&self, axis: usize, indices: &[usize]) -> Self {
        let picked: Vec<Self> = indices.iter().map(|&i| self.narrow(axis, i, 1)).collect();
        Self::cat(&picked, axis)
    }

    /// `out[…, j, …] = x[…, index[…, j, …], …]` along `axis`, as `torch.gather`:
    /// `index` holds whole numbers, shaped as `self` except along `axis`. Written as a
    /// one-hot selection summed along `axis` (memory: the index's size times the axis
    /// length), so each gradient returns to the place it was taken from, repeats summed.
    #[track_caller]
    fn gather(&self, axis: usize, index: &crate::Tensor) -> Self {
        let shape = self.shape();
        let r = shape.len();
        let ishape = index.shape();
        assert!(
            axis < r && ishape.len() == r && (0..r).all(|k| k == axis || ishape[k] == shape[k]),
            "gather: index of shape {ishape:?} does not fit shape {:?} along axis {axis}",
            &shape[..]
        );
        let m = shape[axis];
        // The axis moved last, then one-hot weights of shape index' + [m].
        let mut order: Vec<usize> = (0..r).filter(|&k| k != axis).collect();
        order.push(axis);
        let moved = self.permute(&order);
        let idx = index.permute_values(&order);
        let mut onehot = vec![0.0; idx.numel() * m];
        for (p, &v) in idx.data().iter().enumerate() {
            assert!(
                v >= 0.0 && v.fract() == 0.0 && (v as usize) < m,
                "gather: index {v} is not a position along an axis of {m}"
            );
            onehot[p * m + v as usize] = 1.0;
        }
        let mut oshape: Vec<usize> = idx.shape().to_vec();
        oshape.push(m);
        let mut xshape: Vec<usize> = moved.shape().to_vec();
        xshape.insert(r - 1, 1);
        let picked = moved
            .reshape(&xshape)
            .masked_mul(&self.lift_const(&crate::Tensor::new(onehot, &oshape)))
            .sum_axis(r, false);
        // Back to the original order of axes.
        let mut back = vec![0; r];
        for (i, &o) in order.iter().enumerate() {
            back[o] = i;
        }
        picked.permute(&back)
    }

    /// Batched matrix product, `[…, m, k] · […, k, n] → […, m, n]`, the batch axes
    /// broadcast as NumPy's and PyTorch's `matmul` (one 2-D product per batch entry).
    #[track_caller]
    fn bmm(&self, b: &Self) -> Self {
        let (sa, sb) = (self.shape(), b.shape());
        assert!(
            sa.len() >= 2 && sb.len() >= 2 && sa[sa.len() - 1] == sb[sb.len() - 2],
            "bmm: shapes {:?} and {:?} are not […, m, k] and […, k, n]",
            &sa[..],
            &sb[..]
        );
        let (m, k, n) = (sa[sa.len() - 2], sa[sa.len() - 1], sb[sb.len() - 1]);
        let batch = crate::broadcast_shape("bmm", &sa[..sa.len() - 2], &sb[..sb.len() - 2]);
        let count: usize = batch.iter().product();
        let full = |x: &Self, rows: usize, cols: usize| {
            let mut to: Vec<usize> = batch.to_vec();
            to.extend([rows, cols]);
            x.broadcast_to(&to).reshape(&[count, rows, cols])
        };
        let (a3, b3) = (full(self, m, k), full(b, k, n));
        let products: Vec<Self> = (0..count)
            .map(|i| {
                a3.narrow(0, i, 1)
                    .reshape(&[m, k])
                    .matmul(&b3.narrow(0, i, 1).reshape(&[k, n]))
            })
            .collect();
        let mut shape: Vec<usize> = batch.to_vec();
        shape.extend([m, n]);
        Self::stack(&products, 0).reshape(&shape)
    }

    /// `√r` whose derivative is taken as 0 where `r = 0` (where `√` alone would give
    /// `∞·0` through the square that made `r`): `√(r + [r = 0]) − [r = 0]`.
    fn sqrt_or_zero(&self) -> Self {
        let zero = self.map_const(|v| f64::from(u8::from(v == 0.0)));
        self.add(&zero).sqrt().sub(&zero)
    }

    /// `x` limited to `[lo, hi]`: the gradient passes strictly inside, `lo < x < hi`,
    /// and is 0 at the bounds and outside (as PyTorch's `clamp` does), selected (an
    /// infinite adjoint stays out). NaN stays NaN.
    fn clamp(&self, lo: f64, hi: f64) -> Self {
        let inside = self.map_const_with(&|v| f64::from(u8::from(lo < v && v < hi)));
        let outside = self.map_const_with(&|v| {
            if v < lo {
                lo
            } else if v > hi {
                hi
            } else if v.is_nan() || v == lo || v == hi {
                v
            } else {
                0.0
            }
        });
        self.masked_mul(&inside).add(&outside)
    }
}

impl<T: Algebra> Functions for T {}

/// `axes` as distinct indices into `shape` (negative ones from the end), in increasing
/// order, and the shape without them.
#[track_caller]
fn reduced_axes(op: &str, shape: &[usize], axes: &[isize]) -> (Vec<usize>, Vec<usize>) {
    let rank = shape.len() as isize;
    let mut normal: Vec<usize> = axes
        .iter()
        .map(|&a| {
            let k = if a < 0 { a + rank } else { a };
            assert!(
                (0..rank).contains(&k),
                "{op}: axis {a} is out of range for shape {shape:?}"
            );
            k as usize
        })
        .collect();
    normal.sort_unstable();
    let before = normal.len();
    normal.dedup();
    assert_eq!(
        before,
        normal.len(),
        "{op}: an axis appears twice in {axes:?}"
    );
    let kept = (0..shape.len())
        .filter(|k| !normal.contains(k))
        .map(|k| shape[k])
        .collect();
    (normal, kept)
}
