//! The one numeric kernel that deserves its own file: `op(A)·op(B)` on row-major slices.
//!
//! Each transpose case gets the loop order that walks both operands contiguously, so the
//! tall-skinny products of regression (`X·w`, `Xᵀ·r`) stream `X` once from memory.

/// `C[m×n] = op(A)·op(B)` where `op(A)` is `m×k` and `op(B)` is `k×n`. With `ta`, `A` is
/// stored `k×m`; with `tb`, `B` is stored `n×k`.
pub(crate) fn gemm(
    a: &[f64],
    b: &[f64],
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    match (ta, tb) {
        // Matrix times vector (X·w in regression): one dot product per row.
        (false, false) if n == 1 => {
            for (i, ci) in c.iter_mut().enumerate() {
                *ci = dot(&a[i * k..(i + 1) * k], &b[..k]);
            }
        }
        // Transposed matrix times vector (Xᵀ·r): rows of A scaled and added, in order.
        (true, false) if n == 1 => {
            for (p, &bp) in b[..k].iter().enumerate() {
                for (ci, &api) in c.iter_mut().zip(&a[p * m..(p + 1) * m]) {
                    *ci += api * bp;
                }
            }
        }
        // C[i,:] += A[i,p] · B[p,:]
        (false, false) => {
            for i in 0..m {
                let ci = &mut c[i * n..(i + 1) * n];
                for p in 0..k {
                    let aip = a[i * k + p];
                    for (cij, bpj) in ci.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                        *cij += aip * bpj;
                    }
                }
            }
        }
        // A is k×m: C[i,:] += A[p,i] · B[p,:], walking A and B row by row.
        (true, false) => {
            for p in 0..k {
                let ap = &a[p * m..(p + 1) * m];
                let bp = &b[p * n..(p + 1) * n];
                for (i, &api) in ap.iter().enumerate() {
                    for (cij, bpj) in c[i * n..(i + 1) * n].iter_mut().zip(bp) {
                        *cij += api * bpj;
                    }
                }
            }
        }
        // B is n×k: C[i,j] = A[i,:]·B[j,:], a dot product of two contiguous rows.
        (false, true) => {
            for i in 0..m {
                let ai = &a[i * k..(i + 1) * k];
                for j in 0..n {
                    c[i * n + j] = dot(ai, &b[j * k..(j + 1) * k]);
                }
            }
        }
        // Both stored transposed: C[i,j] = Σ_p A[p,i]·B[j,p].
        (true, true) => {
            for i in 0..m {
                for j in 0..n {
                    let bj = &b[j * k..(j + 1) * k];
                    c[i * n + j] = (0..k).map(|p| a[p * m + i] * bj[p]).sum();
                }
            }
        }
    }
    c
}

/// A dot product with four running sums, so the additions pipeline (and vectorise)
/// instead of waiting on one another; the order is fixed, so results are reproducible.
fn dot(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    let (xc, yc) = (x[..n].chunks_exact(4), y[..n].chunks_exact(4));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    let mut acc = [0.0; 4];
    for (a, b) in xc.zip(yc) {
        for l in 0..4 {
            acc[l] += a[l] * b[l];
        }
    }
    let tail: f64 = xr.iter().zip(yr).map(|(a, b)| a * b).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}
