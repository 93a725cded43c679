//! Least squares for tall designs without a copy of the data: TSQR, then corrected
//! semi-normal equations.
//!
//! The `R` factor of `[A y]` is accumulated over blocks of rows (Demmel, Grigori, Hoemmen
//! & Langou, "Communication-optimal parallel and sequential QR and LU factorizations",
//! SIAM J. Sci. Comput. 34, 2012): each block of rows is stacked under the running `R`
//! and factored by Householder QR, groups of blocks on every core, and the groups' factors
//! combined in file order (so the bits do not depend on the number of cores). Only `R`
//! is kept: memory is one block, whatever the number of rows, which is also what
//! `fit --stream` needs. The small least-squares problem `min ‖R·x − z‖` then goes through
//! the same scaled, pivoted QR as `lstsq` (rank decided relative to each column's norm,
//! with `n` rows in the tolerance). Without `Q`, the solution is refined by the corrected
//! semi-normal equations `x ← x + R⁻¹R⁻ᵀ·Aᵀ(y − A·x)`, residuals and `Aᵀr` summed in twice
//! the working precision (Björck, "Stability analysis of the method of seminormal
//! equations", Linear Algebra Appl. 88/89, 1987): each step contracts the error by about
//! `κ²·ε`, so this is used only where `κ ≤ CSNE_MAX_COND` and `lstsq.rs` (Householder with
//! refinement of the augmented system) everywhere else. These passes over the rows are
//! the O(n·p²) hot path of `fit` for large files.

use crate::lstsq::{dependent_columns, LeastSquares};
use crate::qr::{blocked_qr, default_rank_tol, Qr};
use crate::xprec::{has_fma, Dot2};
use rayon::prelude::*;

/// Rows factored together under the running `R` (the block stays in the L2 cache).
const BLOCK_ROWS: usize = 1024;

/// Rows a group reduces on one core before the groups' factors are combined.
const GROUP_ROWS: usize = 1 << 16;

/// The largest condition number (of the column-scaled design) for which the corrected
/// semi-normal equations are used: each refinement step then contracts the error by
/// `κ²·ε ≤ 1e-4`.
pub const CSNE_MAX_COND: f64 = 1e6;

/// Features stored row-major (`n × d`), with an optional intercept column after them:
/// the design `[X 1]` read in place.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    /// The features, row-major.
    pub x: &'a [f64],
    /// Rows.
    pub n: usize,
    /// Features per row.
    pub d: usize,
    /// Whether the design ends with a column of ones.
    pub intercept: bool,
}

impl Rows<'_> {
    /// Columns of the design.
    pub fn p(&self) -> usize {
        self.d + usize::from(self.intercept)
    }

    /// Design entry `(i, j)`.
    #[inline]
    fn at(&self, i: usize, j: usize) -> f64 {
        if j < self.d {
            self.x[i * self.d + j]
        } else {
            1.0
        }
    }
}

/// The running `R` of a matrix whose rows arrive in blocks: `q × q`, column-major, upper
/// triangular.
#[derive(Clone, Debug)]
pub struct Tsqr {
    q: usize,
    r: Vec<f64>,
    rows: usize,
    /// The work buffer: the running `R` over a block of rows, column-major.
    work: Vec<f64>,
}

impl Tsqr {
    /// An empty accumulation of `q` columns.
    pub fn new(q: usize) -> Tsqr {
        Tsqr {
            q,
            r: vec![0.0; q * q],
            rows: 0,
            work: Vec::new(),
        }
    }

    /// Rows taken so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `R[i][j]`.
    pub fn r(&self, i: usize, j: usize) -> f64 {
        self.r[j * self.q + i]
    }

    /// Takes `m` more rows, written by `fill(row, out)` (each `out` has `q` entries).
    pub fn push_rows(&mut self, m: usize, mut fill: impl FnMut(usize, &mut [f64])) {
        let q = self.q;
        let mut row = vec![0.0; q];
        let mut i = 0;
        while i < m {
            let b = BLOCK_ROWS.min(m - i);
            let ld = q + b;
            self.work.clear();
            self.work.resize(ld * q, 0.0);
            for j in 0..q {
                self.work[j * ld..j * ld + j + 1].copy_from_slice(&self.r[j * q..j * q + j + 1]);
            }
            for t in 0..b {
                fill(i + t, &mut row);
                for j in 0..q {
                    self.work[j * ld + q + t] = row[j];
                }
            }
            self.factor(ld);
            i += b;
        }
        self.rows += m;
    }

    /// Combines another accumulation (rows that come after this one's).
    pub fn merge(&mut self, other: &Tsqr) {
        let q = self.q;
        let ld = 2 * q;
        self.work.clear();
        self.work.resize(ld * q, 0.0);
        for j in 0..q {
            self.work[j * ld..j * ld + j + 1].copy_from_slice(&self.r[j * q..j * q + j + 1]);
            self.work[j * ld + q..j * ld + q + j + 1]
                .copy_from_slice(&other.r[j * q..j * q + j + 1]);
        }
        self.factor(ld);
        self.rows += other.rows;
    }

    /// Householder QR of the work buffer (`ld` rows); its `R` becomes the running `R`.
    fn factor(&mut self, ld: usize) {
        let q = self.q;
        blocked_qr(&mut self.work, ld, q);
        for j in 0..q {
            self.r[j * q..j * q + j + 1].copy_from_slice(&self.work[j * ld..j * ld + j + 1]);
        }
    }
}

/// The `R` factor of `[A y]` for the design `a`, on every core.
pub fn tsqr_rows(a: Rows<'_>, y: &[f64]) -> Tsqr {
    let p = a.p();
    let groups: Vec<Tsqr> = (0..a.n.div_ceil(GROUP_ROWS))
        .into_par_iter()
        .map(|g| {
            let start = g * GROUP_ROWS;
            let m = GROUP_ROWS.min(a.n - start);
            let mut t = Tsqr::new(p + 1);
            t.push_rows(m, |i, out| {
                let i = start + i;
                for (j, o) in out[..p].iter_mut().enumerate() {
                    *o = a.at(i, j);
                }
                out[p] = y[i];
            });
            t
        })
        .collect();
    let mut all = Tsqr::new(p + 1);
    for g in &groups {
        all.merge(g);
    }
    all
}

/// `r = y − A·x` (each rounded once) and `Aᵀr` (of the unrounded `r`, summed in twice the
/// working precision), in one pass on every core.
fn residuals_and_gradient(a: Rows<'_>, y: &[f64], x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let p = a.p();
    let mut r = vec![0.0; a.n];
    let fma = has_fma();
    let partial: Vec<Vec<Dot2>> = r
        .par_chunks_mut(GROUP_ROWS)
        .enumerate()
        .map(|(g, rs)| {
            if fma {
                // SAFETY: the CPU has FMA (checked at run time just above).
                unsafe { group_pass_fma(a, y, x, g * GROUP_ROWS, rs) }
            } else {
                group_pass::<false>(a, y, x, g * GROUP_ROWS, rs)
            }
        })
        .collect();
    let mut g = vec![Dot2::default(); p];
    for part in &partial {
        for (gj, pj) in g.iter_mut().zip(part) {
            gj.merge(pj);
        }
    }
    (r, g.iter().map(Dot2::value).collect())
}

/// `r ← r − A·δx`, on every core.
fn shift_residuals(a: Rows<'_>, r: &mut [f64], dx: &[f64]) {
    r.par_chunks_mut(GROUP_ROWS)
        .enumerate()
        .for_each(|(g, rs)| {
            for (t, ri) in rs.iter_mut().enumerate() {
                let i = g * GROUP_ROWS + t;
                let s: f64 = dx.iter().enumerate().map(|(j, d)| a.at(i, j) * d).sum();
                *ri -= s;
            }
        });
}

/// One group of rows of [`residuals_and_gradient`], from row `start`: its residuals into
/// `rs` and its share of `Aᵀr`.
#[inline(always)]
fn group_pass<const FMA: bool>(
    a: Rows<'_>,
    y: &[f64],
    x: &[f64],
    start: usize,
    rs: &mut [f64],
) -> Vec<Dot2> {
    let prod = |s: &mut Dot2, u: f64, v: f64| {
        if FMA {
            s.add_prod_fma(u, v)
        } else {
            s.add_prod(u, v)
        }
    };
    let mut acc = vec![Dot2::default(); a.p()];
    for (t, ri) in rs.iter_mut().enumerate() {
        let i = start + t;
        let mut s = Dot2::default();
        s.add(y[i]);
        for (j, xj) in x.iter().enumerate() {
            prod(&mut s, -a.at(i, j), *xj);
        }
        // What rounding r leaves out still counts in Aᵀr: with large residuals (NIST's
        // Wampler5) it is what limits the solution's digits.
        let (hi, lo) = s.split();
        *ri = hi;
        for (j, aj) in acc.iter_mut().enumerate() {
            let aij = a.at(i, j);
            prod(aj, aij, hi);
            // aij·lo is ε below aij·hi: its own rounding is beyond the sum's precision.
            aj.add(aij * lo);
        }
    }
    acc
}

/// [`group_pass`] compiled for fused multiply-add: the same sums to the bit.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn group_pass_fma(
    a: Rows<'_>,
    y: &[f64],
    x: &[f64],
    start: usize,
    rs: &mut [f64],
) -> Vec<Dot2> {
    group_pass::<true>(a, y, x, start, rs)
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn group_pass_fma(
    a: Rows<'_>,
    y: &[f64],
    x: &[f64],
    start: usize,
    rs: &mut [f64],
) -> Vec<Dot2> {
    group_pass::<false>(a, y, x, start, rs)
}

/// Solves `min ‖y − A·x‖` for a design stored as rows, by TSQR and corrected semi-normal
/// equations; `None` when the column-scaled design's condition number exceeds
/// [`CSNE_MAX_COND`] (or it is rank-deficient), where only `lstsq` on a column-major
/// copy keeps the digits.
///
/// ```
/// use model::{lstsq_rows, Rows};
/// // y = 1 + 2x on x = 0, 1, 2, the intercept last.
/// let s = lstsq_rows(Rows { x: &[0.0, 1.0, 2.0], n: 3, d: 1, intercept: true }, &[1.0, 3.0, 5.0]).unwrap();
/// assert_eq!(s.coef, [Some(2.0), Some(1.0)]);
/// ```
pub fn lstsq_rows(a: Rows<'_>, y: &[f64]) -> Option<LeastSquares> {
    let (n, p) = (a.n, a.p());
    assert_eq!(y.len(), n, "lstsq_rows: {n} rows but {} targets", y.len());
    if n < p || p == 0 {
        return None;
    }
    let t = tsqr_rows(a, y);
    let mut rcm = vec![0.0; p * p];
    for j in 0..p {
        for i in 0..=j {
            rcm[j * p + i] = t.r(i, j);
        }
    }
    let qr = Qr::new(rcm, p, p);
    let k = qr.rank(default_rank_tol(n, p));
    if k < p {
        return None;
    }
    // κ∞(R) of the scaled design, within a factor p of its κ₂.
    let rinv = qr.r_inverse(k);
    let norm = |m: &dyn Fn(usize, usize) -> f64| -> f64 {
        (0..k)
            .map(|i| (0..k).map(|j| m(i, j).abs()).sum::<f64>())
            .fold(0.0, f64::max)
    };
    let cond = norm(&|i, j| qr.r(i, j)) * norm(&|i, j| rinv[i][j]);
    if cond.is_nan() || cond > CSNE_MAX_COND {
        return None;
    }
    let unscale = |z: &[f64]| -> Vec<f64> {
        let mut x = vec![0.0; p];
        for i in 0..k {
            x[qr.perm[i]] = z[i] / qr.scale[qr.perm[i]];
        }
        x
    };
    let mut c: Vec<f64> = (0..p).map(|i| t.r(i, p)).collect();
    qr.apply_qt(k, &mut c);
    let mut z = c[..k].to_vec();
    qr.solve_r(k, &mut z);
    let mut x = unscale(&z);
    let (mut r, mut g) = residuals_and_gradient(a, y, &x);
    let mut refinements = 0;
    let mut last = f64::INFINITY;
    for _ in 0..10 {
        // (A_sᵀA_s)·δz = A_sᵀr with A_s = A·D·P and A_sᵀA_s = Rᵀ·R.
        let mut dz: Vec<f64> = (0..k)
            .map(|i| g[qr.perm[i]] / qr.scale[qr.perm[i]])
            .collect();
        qr.solve_rt(k, &mut dz);
        qr.solve_r(k, &mut dz);
        let size = dz.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let zsize = z.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        // Stop when no longer contracting, or when no entry of z can change: every
        // correction under a quarter of its unit in the last place.
        let changes = dz
            .iter()
            .zip(&z)
            .any(|(d, z)| d.abs() >= 0.25 * f64::EPSILON * z.abs());
        if !size.is_finite() || size >= last || !changes {
            break;
        }
        z.iter_mut().zip(&dz).for_each(|(z, d)| *z += d);
        let next = unscale(&z);
        refinements += 1;
        if size <= f64::EPSILON * zsize {
            // A last correction at the level of z's rounding: the residuals follow it
            // by r − A·δx (δx tiny, so each residual is within an ulp of y − A·x), and
            // another pass over the rows could not change z further.
            let dx: Vec<f64> = next.iter().zip(&x).map(|(n, o)| n - o).collect();
            shift_residuals(a, &mut r, &dx);
            x = next;
            break;
        }
        x = next;
        (r, g) = residuals_and_gradient(a, y, &x);
        last = size;
    }
    let dependent = dependent_columns(&qr, k);
    Some(LeastSquares::compressed(
        x.into_iter().map(Some).collect(),
        r,
        k,
        dependent,
        refinements,
        qr,
    ))
}

/// The sandwich `(AᵀA)⁻¹·Aᵀ·diag(ω)·A·(AᵀA)⁻¹` for a solution of [`lstsq_rows`], from the
/// rows: each row's leverage is `‖R⁻ᵀ·(D·P·aᵢ)‖²`.
pub(crate) fn sandwich_rows(
    ls: &LeastSquares,
    a: Rows<'_>,
    omega: impl Fn(usize, f64) -> f64 + Sync,
) -> Vec<Vec<f64>> {
    let qr = ls.factor();
    let (p, k) = (a.p(), ls.rank);
    let partial: Vec<Vec<f64>> = (0..a.n.div_ceil(GROUP_ROWS))
        .into_par_iter()
        .map(|g| {
            let mut meat = vec![0.0; k * k];
            let mut u = vec![0.0; k];
            for i in g * GROUP_ROWS..((g + 1) * GROUP_ROWS).min(a.n) {
                for (t, ut) in u.iter_mut().enumerate() {
                    let j = qr.perm[t];
                    *ut = a.at(i, j) / qr.scale[j];
                }
                qr.solve_rt(k, &mut u);
                let h: f64 = u.iter().map(|v| v * v).sum();
                let w = omega(i, h);
                for s in 0..k {
                    let ws = w * u[s];
                    for t in 0..=s {
                        meat[s * k + t] += ws * u[t];
                    }
                }
            }
            meat
        })
        .collect();
    let mut meat = vec![vec![0.0; k]; k];
    for part in &partial {
        for s in 0..k {
            for t in 0..=s {
                meat[s][t] += part[s * k + t];
            }
        }
    }
    for s in 0..k {
        for t in 0..s {
            meat[t][s] = meat[s][t];
        }
    }
    ls.sandwich_from_meat(&meat, p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lstsq::lstsq;

    #[test]
    fn agrees_with_householder_on_the_whole_matrix() {
        // 3,000 rows (two groups would need more; blocks and merges are exercised).
        let n = 3000;
        let d = 3;
        let x: Vec<f64> = (0..n * d)
            .map(|k| ((k * 7919) % 1000) as f64 / 100.0 - 5.0)
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|i| {
                1.5 * x[i * d] - 2.0 * x[i * d + 1]
                    + 0.25 * x[i * d + 2]
                    + 3.0
                    + ((i * 31) % 17) as f64 / 17.0
            })
            .collect();
        let rows = Rows {
            x: &x,
            n,
            d,
            intercept: true,
        };
        let a: Vec<f64> = (0..d + 1)
            .flat_map(|j| (0..n).map(move |i| (j, i)))
            .map(|(j, i)| if j < d { x[i * d + j] } else { 1.0 })
            .collect();
        let full = lstsq(&a, n, d + 1, &y);
        let tall = lstsq_rows(rows, &y).unwrap();
        for (f, t) in full.coef.iter().zip(&tall.coef) {
            let (f, t) = (f.unwrap(), t.unwrap());
            assert!((f - t).abs() <= 1e-14 * f.abs().max(1.0), "{f} vs {t}");
        }
        for (f, t) in full.residuals.iter().zip(&tall.residuals) {
            assert!((f - t).abs() <= 1e-12, "{f} vs {t}");
        }
        let (cf, ct) = (full.unscaled_cov(), tall.unscaled_cov());
        for (a, b) in cf.iter().flatten().zip(ct.iter().flatten()) {
            assert!((a - b).abs() <= 1e-12 * a.abs().max(1e-300), "{a} vs {b}");
        }
    }

    #[test]
    fn groups_merge_to_the_same_r_as_one_pass() {
        let n = GROUP_ROWS + 5000;
        let x: Vec<f64> = (0..n).map(|i| (i % 101) as f64).collect();
        let y: Vec<f64> = (0..n).map(|i| (i % 7) as f64).collect();
        let t = tsqr_rows(
            Rows {
                x: &x,
                n,
                d: 1,
                intercept: true,
            },
            &y,
        );
        // RᵀR = [A y]ᵀ[A y]: check the Gram entries against direct sums.
        let rtr = |i: usize, j: usize| (0..3).map(|s| t.r(s, i) * t.r(s, j)).sum::<f64>();
        let sxx: f64 = x.iter().map(|v| v * v).sum();
        let sxy: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        assert!((rtr(0, 0) - sxx).abs() <= 1e-12 * sxx);
        assert!((rtr(0, 2) - sxy).abs() <= 1e-12 * sxy);
        assert!((rtr(1, 1) - n as f64).abs() <= 1e-9);
        assert_eq!(t.rows(), n);
    }
}
