//! Linear least squares `min ‖y − A·x‖` as statistical software must solve it: Householder
//! QR with column pivoting on the column-scaled design (see `qr.rs`), a rank decision
//! relative to each column's own norm, and iterative refinement of the augmented system
//!
//! ```text
//!     [ I   A ] [ r ]   [ y ]
//!     [ Aᵀ  0 ] [ x ] = [ 0 ]
//! ```
//!
//! after Björck ("Iterative refinement of linear least squares solutions I", BIT 7, 1967;
//! "Numerical Methods for Least Squares Problems", SIAM 1996, §2.9): the solution and the
//! residual are corrected together, from `f = y − r − A·x` and `g = −Aᵀ·r` accumulated in
//! twice the working precision (`xprec.rs`). Refining `x` alone does not help where the
//! residual is large; this keeps the digits of ill-conditioned designs (NIST's Filip and
//! Wampler sets). A rank-deficient design is solved on its independent columns (the
//! others get no coefficient, as R marks them `NA`), and each dependent column is named
//! with the columns it is a combination of.

use crate::qr::{default_rank_tol, Qr};
use crate::xprec::Dot2;

/// The solution of a least-squares problem and what inference needs of its factorisation.
#[derive(Clone, Debug)]
pub struct LeastSquares {
    /// One coefficient per column; `None` for a column dropped as a linear combination of
    /// the others.
    pub coef: Vec<Option<f64>>,
    /// `y − A·x`, refined with the solution.
    pub residuals: Vec<f64>,
    /// The numerical rank.
    pub rank: usize,
    /// For each dropped column, the kept columns it is a combination of.
    pub dependent: Vec<(usize, Vec<usize>)>,
    /// Refinement steps taken.
    pub refinements: usize,
    qr: Qr,
    /// True when `qr` factors the `R` of a TSQR (`tsqr.rs`), not the design itself.
    compressed: bool,
}

/// Solves `min ‖y − A·x‖` for the column-major `n × p` matrix `a` (`n ≥ p`, finite).
///
/// ```
/// use model::lstsq;
/// // y = 1 + 2x on x = 0, 1, 2; columns [1 1 1] and [0 1 2].
/// let s = lstsq(&[1.0, 1.0, 1.0, 0.0, 1.0, 2.0], 3, 2, &[1.0, 3.0, 5.0]);
/// assert_eq!(s.coef, [Some(1.0), Some(2.0)]);
/// assert_eq!(s.rank, 2);
/// ```
#[track_caller]
pub fn lstsq(a: &[f64], n: usize, p: usize, y: &[f64]) -> LeastSquares {
    assert_eq!(y.len(), n, "lstsq: {n} rows but {} targets", y.len());
    let qr = Qr::new(a.to_vec(), n, p);
    let k = qr.rank(default_rank_tol(n, p));
    let col = |j: usize| &a[j * n..(j + 1) * n];
    // x in the original units for the kept columns, in pivot order.
    let unscale = |z: &[f64]| -> Vec<f64> {
        (0..k)
            .map(|i| z[i] / qr.scale[qr.perm[i]])
            .collect::<Vec<f64>>()
    };
    let mut c = y.to_vec();
    qr.apply_qt(k, &mut c);
    let mut z = c[..k].to_vec();
    qr.solve_r(k, &mut z);
    let mut r = c;
    r[..k].iter_mut().for_each(|v| *v = 0.0);
    qr.apply_q(k, &mut r);
    let mut x = unscale(&z);
    let mut refinements = 0;
    let mut last = f64::INFINITY;
    for _ in 0..10 {
        // f = y − r − A·x and g = −Aᵀ·r, each rounded once.
        let mut fa: Vec<Dot2> = y
            .iter()
            .zip(&r)
            .map(|(y, r)| {
                let mut s = Dot2::default();
                s.add(*y);
                s.add(-r);
                s
            })
            .collect();
        for (i, xi) in x.iter().enumerate() {
            for (s, aij) in fa.iter_mut().zip(col(qr.perm[i])) {
                s.add_prod(-aij, *xi);
            }
        }
        let mut f: Vec<f64> = fa.iter().map(Dot2::value).collect();
        // g in the scaled columns: (A·D)ᵀr = D·Aᵀr.
        let mut g: Vec<f64> = (0..k)
            .map(|i| {
                let j = qr.perm[i];
                let mut s = Dot2::default();
                for (aij, ri) in col(j).iter().zip(&r) {
                    s.add_prod(-aij, *ri);
                }
                s.value() / qr.scale[j]
            })
            .collect();
        // [I A_s; A_sᵀ 0][δr; δz] = [f; g] through A_s = Q·[R; 0]:
        // d₁ = R⁻ᵀg, δz = R⁻¹(f₁ − d₁), δr = Q·[d₁; f₂].
        qr.solve_rt(k, &mut g);
        qr.apply_qt(k, &mut f);
        let mut dz: Vec<f64> = f[..k].iter().zip(&g).map(|(f, d)| f - d).collect();
        qr.solve_r(k, &mut dz);
        f[..k].copy_from_slice(&g);
        qr.apply_q(k, &mut f);
        let size = dz.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let zsize = z.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if !size.is_finite() || size >= last {
            break; // no longer contracting: stop at the better iterate
        }
        z.iter_mut().zip(&dz).for_each(|(z, d)| *z += d);
        r.iter_mut().zip(&f).for_each(|(r, d)| *r += d);
        x = unscale(&z);
        refinements += 1;
        last = size;
        if size <= f64::EPSILON * zsize {
            break;
        }
    }
    let mut coef = vec![None; p];
    for (i, v) in x.iter().enumerate() {
        coef[qr.perm[i]] = Some(*v);
    }
    let dependent = dependent_columns(&qr, k);
    LeastSquares {
        coef,
        residuals: r,
        rank: k,
        dependent,
        refinements,
        qr,
        compressed: false,
    }
}

/// Each column past the rank with the kept columns it is a combination of:
/// `A_s[:, j] ≈ A_s[:, kept]·c` with `R₁₁·c = R₁₂[:, j]`.
pub(crate) fn dependent_columns(qr: &Qr, k: usize) -> Vec<(usize, Vec<usize>)> {
    let (_, p) = qr.shape();
    (k..p)
        .map(|jj| {
            let mut c: Vec<f64> = (0..k).map(|i| qr.r(i, jj)).collect();
            qr.solve_r(k, &mut c);
            let big = c.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let mut with: Vec<usize> = (0..k)
                .filter(|&i| c[i].abs() > 1e-8 * big)
                .map(|i| qr.perm[i])
                .collect();
            with.sort_unstable();
            (qr.perm[jj], with)
        })
        .collect()
}

impl LeastSquares {
    /// A solution from a TSQR, whose `qr` factors the design's `R`.
    pub(crate) fn compressed(
        coef: Vec<Option<f64>>,
        residuals: Vec<f64>,
        rank: usize,
        dependent: Vec<(usize, Vec<usize>)>,
        refinements: usize,
        qr: Qr,
    ) -> LeastSquares {
        LeastSquares {
            coef,
            residuals,
            rank,
            dependent,
            refinements,
            qr,
            compressed: true,
        }
    }

    /// True for a solution of [`lstsq_rows`](crate::lstsq_rows) (TSQR), which keeps no `Q`.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// The factorisation behind the solution.
    pub(crate) fn factor(&self) -> &Qr {
        &self.qr
    }

    /// `(AᵀA)⁻¹` over the kept columns, in the original units and column order, as rows
    /// indexed by the kept columns' positions among `0..p` (dropped rows and columns are
    /// zero). From `R⁻¹`: `(AᵀA)⁻¹ = D·P·R⁻¹·R⁻ᵀ·Pᵀ·D`, never from a Cholesky of `AᵀA`,
    /// which would square the condition number.
    pub fn unscaled_cov(&self) -> Vec<Vec<f64>> {
        let (_, p) = self.qr.shape();
        let k = self.rank;
        let rinv = self.qr.r_inverse(k);
        let mut cov = vec![vec![0.0; p]; p];
        for a in 0..k {
            for b in 0..=a {
                // Row a of R⁻¹ is zero left of the diagonal.
                let s: f64 = (a..k).map(|j| rinv[a][j] * rinv[b][j]).sum();
                let (ja, jb) = (self.qr.perm[a], self.qr.perm[b]);
                let v = s / (self.qr.scale[ja] * self.qr.scale[jb]);
                cov[ja][jb] = v;
                cov[jb][ja] = v;
            }
        }
        cov
    }

    /// The sandwich `(AᵀA)⁻¹·Aᵀ·diag(ω)·A·(AᵀA)⁻¹` over the kept columns, from the thin
    /// `Q`: `D·P·R⁻¹·(Q₁ᵀ·diag(ω)·Q₁)·R⁻ᵀ·Pᵀ·D`. `omega(i, hᵢ)` gives each row's weight
    /// from its index and leverage `hᵢ = ‖Q₁[i, :]‖²`.
    ///
    /// For a solution of [`lstsq_rows`](crate::lstsq_rows), which keeps no `Q`, use
    /// `ols`, which reads the leverages from the rows.
    #[track_caller]
    pub fn sandwich(&self, omega: impl Fn(usize, f64) -> f64) -> Vec<Vec<f64>> {
        assert!(
            !self.compressed,
            "sandwich: a TSQR solution keeps no Q; the rows give the leverages"
        );
        let (n, p) = self.qr.shape();
        let k = self.rank;
        let q = self.qr.thin_q(k);
        let h: Vec<f64> = (0..n)
            .map(|i| (0..k).map(|j| q[j * n + i] * q[j * n + i]).sum())
            .collect();
        let w: Vec<f64> = (0..n).map(|i| omega(i, h[i])).collect();
        let mut meat = vec![vec![0.0; k]; k];
        for a in 0..k {
            for b in 0..=a {
                let (qa, qb) = (&q[a * n..(a + 1) * n], &q[b * n..(b + 1) * n]);
                let s: f64 = (0..n).map(|i| qa[i] * w[i] * qb[i]).sum();
                meat[a][b] = s;
                meat[b][a] = s;
            }
        }
        self.sandwich_from_meat(&meat, p)
    }

    /// `D·P·R⁻¹·M·R⁻ᵀ·Pᵀ·D` for the `k × k` meat `M = Q₁ᵀ·diag(ω)·Q₁`, as `p × p` rows.
    pub(crate) fn sandwich_from_meat(&self, meat: &[Vec<f64>], p: usize) -> Vec<Vec<f64>> {
        let k = self.rank;
        let rinv = self.qr.r_inverse(k);
        // B = R⁻¹·M, then B·R⁻ᵀ.
        let bm: Vec<Vec<f64>> = (0..k)
            .map(|a| {
                (0..k)
                    .map(|c| (a..k).map(|j| rinv[a][j] * meat[j][c]).sum())
                    .collect()
            })
            .collect();
        let mut cov = vec![vec![0.0; p]; p];
        for a in 0..k {
            for b in 0..k {
                let s: f64 = (b..k).map(|j| bm[a][j] * rinv[b][j]).sum();
                let (ja, jb) = (self.qr.perm[a], self.qr.perm[b]);
                cov[ja][jb] = s / (self.qr.scale[ja] * self.qr.scale[jb]);
            }
        }
        cov
    }

    /// `AᵀA` in the original units, from `R` (so O(p³), not O(n·p²)): the Gram matrix
    /// whose eigenvalues give the design's condition number and gradient descent's step.
    pub fn gram(&self) -> Vec<Vec<f64>> {
        let (_, p) = self.qr.shape();
        // M = R·Pᵀ·D⁻¹ has MᵀM = AᵀA.
        let m = |i: usize, j: usize| self.qr.r(i, j) * self.qr.scale[self.qr.perm[j]];
        let mut g = vec![vec![0.0; p]; p];
        for a in 0..p {
            for b in 0..=a {
                let s: f64 = (0..=b).map(|i| m(i, a) * m(i, b)).sum();
                let (ja, jb) = (self.qr.perm[a], self.qr.perm[b]);
                g[ja][jb] = s;
                g[jb][ja] = s;
            }
        }
        g
    }
}
