//! Shapes: element counts, row-major strides, and NumPy's broadcasting rules. Strides
//! and offsets are computed on every broadcasting op; not a hot path by themselves.

use smallvec::SmallVec;

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

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides of a shape.
pub(crate) fn strides(shape: &[usize]) -> Shape {
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
pub(crate) fn broadcast_strides(from: &[usize], to: &[usize]) -> Shape {
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
pub(crate) fn for_each_offset(
    shape: &[usize],
    sa: &[usize],
    sb: &[usize],
    mut f: impl FnMut(usize, usize),
) {
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
