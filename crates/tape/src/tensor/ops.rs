//! What a tensor computes: elementwise maps and zips (broadcasting), reductions along
//! all or one axis, slicing and padding, reshaping, transposing, broadcasting and matrix
//! products. The hot path of every tensor model; the loops themselves are `kernels.rs`.

use super::{
    broadcast_shape, broadcast_strides, for_each_offset, numel, shape_of, strides, Storage, Tensor,
};
use crate::pool::buffer;
use std::sync::Arc;

impl Tensor {
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
    pub(crate) fn fold_axis(
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
}
