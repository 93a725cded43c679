//! Householder QR with column pivoting of a column-scaled matrix: `A·D·P = Q·R`, the
//! factorisation every least-squares result of descent comes from.
//!
//! `D` scales every column to a norm in [0.5, 2) by a power of two, so it is exact in
//! floating point and the rank decision (`|R_kk| ≤ tol·|R_00|`) does not depend on the
//! columns' units. It runs in two stages. First the tall `n × p` matrix is factored
//! without pivoting, `A·D = Q₀·R₀`, by blocked Householder QR (compact WY, blocks of 32
//! columns: Schreiber & Van Loan 1989, LAPACK's `xGEQRF`/`xLARFT`), whose trailing updates
//! read each column once per block instead of once per reflector and run on every core;
//! Householder QR is backward stable column by column, so `R₀` carries `A`'s numerical
//! rank. Then the small `p × p` factor is factored with column pivoting, `R₀·P = Q₁·R`
//! (LAPACK's `xGEQP3` without blocking: Golub & Van Loan, "Matrix Computations", 4th ed.,
//! §5.4.2; the norm downdating with its safeguard is Drmač and Bujanović's, LAPACK Working
//! Note 176): pivoting puts the largest remaining column first, so `|R_kk|` does not
//! increase and a rank-deficient matrix keeps its dependent columns last. `Q = Q₀·Q₁`.
//! The first stage is the O(n·p²) part of `fit` for the linear model: a hot path for wide
//! designs.

use rayon::prelude::*;

/// The factorisation of an `n × p` matrix (`n ≥ p`), column-major.
#[derive(Clone, Debug)]
pub struct Qr {
    n: usize,
    p: usize,
    /// Stage one, column-major `n × p`: `R₀` on and above the diagonal (unused), the
    /// Householder vectors below it (their first entry 1 is implied).
    a: Vec<f64>,
    tau0: Vec<f64>,
    /// Stage two, column-major `p × p`: `R` on and above the diagonal, the Householder
    /// vectors of `Q₁` below it.
    b: Vec<f64>,
    tau: Vec<f64>,
    /// `perm[k]`: the original column that is column `k` of `A·D·P`.
    pub perm: Vec<usize>,
    /// The power-of-two scale of each original column.
    pub scale: Vec<f64>,
}

/// A unit-roundoff multiple for the default rank tolerance, as LAPACK and NumPy's
/// `matrix_rank` use: `max(n, p)·ε`.
pub fn default_rank_tol(n: usize, p: usize) -> f64 {
    n.max(p) as f64 * f64::EPSILON
}

/// `Σ aᵢ·bᵢ` in four lanes, so that it vectorises.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            s[l] += x[l] * y[l];
        }
    }
    let mut t = (s[0] + s[1]) + (s[2] + s[3]);
    for (x, y) in ra.iter().zip(rb) {
        t += x * y;
    }
    t
}

/// The Euclidean norm, scaled against overflow and underflow (LAPACK's `xNRM2` idea).
fn norm2(x: &[f64]) -> f64 {
    let m = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if m == 0.0 || !m.is_finite() {
        return m;
    }
    let s: f64 = x.iter().map(|v| (v / m) * (v / m)).sum();
    m * s.sqrt()
}

/// The power of two nearest a column's norm, so `x / it` has a norm in [0.5, 2).
fn pow2_near(norm: f64) -> f64 {
    if norm == 0.0 || !norm.is_finite() {
        return 1.0;
    }
    let e = norm.log2().round() as i32;
    2f64.powi(e.clamp(-1000, 1000))
}

/// A row-major `n × p` matrix (a Jacobian as forward mode gives it) in the column-major
/// order [`Qr::new`] and [`lstsq`](crate::lstsq) take.
///
/// ```
/// assert_eq!(model::column_major(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2), [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
/// ```
pub fn column_major(rows: &[f64], n: usize, p: usize) -> Vec<f64> {
    (0..p)
        .flat_map(|k| (0..n).map(move |i| rows[i * p + k]))
        .collect()
}

/// Columns a block of the first stage holds.
const BLOCK: usize = 16;

/// The reflector `H = I − τ·v·vᵀ` with `H·x = β·e₁` (LAPACK's `xLARFG`): `x[1..]` becomes
/// `v[1..]` (`v[0] = 1` implied), `x[0]` becomes `β`; returns `τ`.
fn reflector(x: &mut [f64]) -> f64 {
    let xnorm = norm2(&x[1..]);
    let alpha = x[0];
    if xnorm == 0.0 {
        return 0.0;
    }
    let beta = -alpha.signum() * norm2(&[alpha, xnorm]);
    let inv = 1.0 / (alpha - beta);
    x[1..].iter_mut().for_each(|v| *v *= inv);
    x[0] = beta;
    (beta - alpha) / beta
}

/// `c ← (I − τ·v·vᵀ)·c` with `v = [1; v_tail]`.
#[inline]
fn apply_reflector(t: f64, v_tail: &[f64], c: &mut [f64]) {
    if t == 0.0 {
        return;
    }
    let s = t * (c[0] + dot(v_tail, &c[1..]));
    c[0] -= s;
    for (ci, vi) in c[1..].iter_mut().zip(v_tail) {
        *ci -= s * vi;
    }
}

/// Stage one: blocked Householder QR without pivoting of the column-major `n × p`
/// matrix `a`, in place; the `τ`s.
pub(crate) fn blocked_qr(a: &mut [f64], n: usize, p: usize) -> Vec<f64> {
    let mut tau = vec![0.0; p];
    let mut k0 = 0;
    while k0 < p {
        let kb = BLOCK.min(p - k0);
        // The panel, unblocked.
        for k in k0..k0 + kb {
            let (head, tail) = a.split_at_mut((k + 1) * n);
            tau[k] = reflector(&mut head[k * n + k..(k + 1) * n]);
            let v = &head[k * n + k + 1..(k + 1) * n];
            for c in tail.chunks_exact_mut(n).take(k0 + kb - k - 1) {
                apply_reflector(tau[k], v, &mut c[k..]);
            }
        }
        if k0 + kb < p {
            // T (upper triangular, kb × kb) with H_k0 ⋯ H_k0+kb-1 = I − V·T·Vᵀ (xLARFT,
            // forward, columnwise), V the panel's vectors from row k0 on.
            let (panel, trailing) = a.split_at_mut((k0 + kb) * n);
            let panel: &[f64] = panel;
            let vcol = |i: usize| &panel[(k0 + i) * n..(k0 + i + 1) * n];
            // v_i[r] for r ≥ k0 (row r of the block's V): 0 above row k0+i, 1 at it.
            let vat = |i: usize, r: usize| -> f64 {
                let row = k0 + i;
                match r.cmp(&row) {
                    std::cmp::Ordering::Less => 0.0,
                    std::cmp::Ordering::Equal => 1.0,
                    std::cmp::Ordering::Greater => vcol(i)[r],
                }
            };
            let mut t = vec![vec![0.0; kb]; kb];
            for i in 0..kb {
                let ti = tau[k0 + i];
                t[i][i] = ti;
                if ti == 0.0 {
                    continue;
                }
                // w_j = v_jᵀ v_i for j < i (rows k0+i.. where v_i is non-zero).
                let row = k0 + i;
                let w: Vec<f64> = (0..i)
                    .map(|j| vat(j, row) + dot(&vcol(j)[row + 1..], &vcol(i)[row + 1..]))
                    .collect();
                for r in 0..i {
                    let s: f64 = (r..i).map(|j| t[r][j] * w[j]).sum();
                    t[r][i] = -ti * s;
                }
            }
            let t = &t;
            let avx2 = has_avx2();
            let update = |c: &mut [f64]| {
                if avx2 {
                    // SAFETY: the CPU has AVX2 (checked at run time just above).
                    unsafe { wy_update_avx2(c, panel, n, k0, kb, t) }
                } else {
                    wy_update(c, panel, n, k0, kb, t)
                }
            };
            // Columns are independent: on every core when there is enough work (each
            // column's arithmetic is the same, so the bits are too).
            if (n - k0) * (p - k0 - kb) >= 1 << 15 {
                trailing.par_chunks_exact_mut(n).for_each(update);
            } else {
                trailing.chunks_exact_mut(n).for_each(update);
            }
        }
        k0 += kb;
    }
    tau
}

/// True if the CPU has AVX2 (detected once).
fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX2.get_or_init(|| std::arch::is_x86_feature_detected!("avx2"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One trailing column's block update `c ← (I − V·Tᵀ·Vᵀ)·c` (rows `k0..` only): `w = Vᵀc`,
/// then `Tᵀw`, then `c −= V·w`. The panel's vectors are columns `k0..k0+kb` of `panel`.
#[inline(always)]
fn wy_update_body(c: &mut [f64], panel: &[f64], n: usize, k0: usize, kb: usize, t: &[Vec<f64>]) {
    let vcol = |i: usize| &panel[(k0 + i) * n..(k0 + i + 1) * n];
    let mut w = [0.0f64; BLOCK];
    for (i, wi) in w.iter_mut().enumerate().take(kb) {
        let row = k0 + i;
        *wi = c[row] + dot(&vcol(i)[row + 1..], &c[row + 1..]);
    }
    for i in (0..kb).rev() {
        let s: f64 = (0..=i).map(|j| t[j][i] * w[j]).sum();
        w[i] = s;
    }
    for (i, &wi) in w.iter().enumerate().take(kb) {
        let row = k0 + i;
        if wi == 0.0 {
            continue;
        }
        c[row] -= wi;
        for (ci, vi) in c[row + 1..].iter_mut().zip(&vcol(i)[row + 1..]) {
            *ci -= wi * vi;
        }
    }
}

fn wy_update(c: &mut [f64], panel: &[f64], n: usize, k0: usize, kb: usize, t: &[Vec<f64>]) {
    wy_update_body(c, panel, n, k0, kb, t)
}

/// [`wy_update`] compiled for AVX2: the same operations in the same order (no fused
/// multiply-add), so the same bits, in four-lane vectors.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn wy_update_avx2(
    c: &mut [f64],
    panel: &[f64],
    n: usize,
    k0: usize,
    kb: usize,
    t: &[Vec<f64>],
) {
    wy_update_body(c, panel, n, k0, kb, t)
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn wy_update_avx2(
    c: &mut [f64],
    panel: &[f64],
    n: usize,
    k0: usize,
    kb: usize,
    t: &[Vec<f64>],
) {
    wy_update_body(c, panel, n, k0, kb, t)
}

/// Stage two: Householder QR with column pivoting of the column-major `m × p` matrix
/// `a`, in place; the `τ`s and the permutation.
fn pivoted_qr(a: &mut [f64], m: usize, p: usize) -> (Vec<f64>, Vec<usize>) {
    let mut perm: Vec<usize> = (0..p).collect();
    let mut vn1: Vec<f64> = (0..p).map(|j| norm2(&a[j * m..(j + 1) * m])).collect();
    let mut vn2 = vn1.clone();
    let tol3z = f64::EPSILON.sqrt();
    let mut tau = vec![0.0; p];
    for k in 0..p.min(m) {
        // Pivot: the remaining column of largest norm (the first on ties).
        let mut pvt = k;
        for j in k + 1..p {
            if vn1[j] > vn1[pvt] {
                pvt = j;
            }
        }
        if pvt != k {
            for i in 0..m {
                a.swap(pvt * m + i, k * m + i);
            }
            perm.swap(pvt, k);
            vn1[pvt] = vn1[k];
            vn2[pvt] = vn2[k];
        }
        let (head, tail) = a.split_at_mut((k + 1) * m);
        tau[k] = reflector(&mut head[k * m + k..(k + 1) * m]);
        let v = &head[k * m + k + 1..(k + 1) * m];
        for c in tail.chunks_exact_mut(m) {
            apply_reflector(tau[k], v, &mut c[k..]);
        }
        // Downdate the remaining columns' norms, recomputing where cancellation would
        // leave too few correct digits (LAWN 176).
        for j in k + 1..p {
            if vn1[j] != 0.0 {
                let r = a[j * m + k].abs() / vn1[j];
                let temp = (1.0 - r * r).max(0.0);
                let temp2 = temp * (vn1[j] / vn2[j]).powi(2);
                if temp2 <= tol3z {
                    vn1[j] = norm2(&a[j * m + k + 1..(j + 1) * m]);
                    vn2[j] = vn1[j];
                } else {
                    vn1[j] *= temp.sqrt();
                }
            }
        }
    }
    (tau, perm)
}

impl Qr {
    /// Factors the column-major `n × p` matrix `a`.
    ///
    /// ```
    /// use model::Qr;
    /// // Columns [1, 1, 1] and [0, 1, 2]: full rank.
    /// let qr = Qr::new(vec![1.0, 1.0, 1.0, 0.0, 1.0, 2.0], 3, 2);
    /// assert_eq!(qr.rank(1e-12), 2);
    /// ```
    #[track_caller]
    pub fn new(mut a: Vec<f64>, n: usize, p: usize) -> Qr {
        assert_eq!(
            a.len(),
            n * p,
            "Qr::new: {} values for an {n} × {p} matrix",
            a.len()
        );
        assert!(n >= p, "Qr::new: {n} rows for {p} columns (needs n ≥ p)");
        let scale: Vec<f64> = (0..p)
            .map(|j| pow2_near(norm2(&a[j * n..(j + 1) * n])))
            .collect();
        for j in 0..p {
            let inv = 1.0 / scale[j];
            a[j * n..(j + 1) * n].iter_mut().for_each(|v| *v *= inv);
        }
        let tau0 = blocked_qr(&mut a, n, p);
        let mut b = vec![0.0; p * p];
        for j in 0..p {
            b[j * p..j * p + j + 1].copy_from_slice(&a[j * n..j * n + j + 1]);
        }
        let (tau, perm) = pivoted_qr(&mut b, p, p);
        Qr {
            n,
            p,
            a,
            tau0,
            b,
            tau,
            perm,
            scale,
        }
    }

    /// Rows and columns of the factored matrix.
    pub fn shape(&self) -> (usize, usize) {
        (self.n, self.p)
    }

    /// `R[i][j]` (of the scaled, permuted matrix).
    pub fn r(&self, i: usize, j: usize) -> f64 {
        if i > j {
            0.0
        } else {
            self.b[j * self.p + i]
        }
    }

    /// The numerical rank: the number of `|R_kk| > tol·|R_00|`.
    pub fn rank(&self, tol: f64) -> usize {
        let r00 = self.r(0, 0).abs();
        if self.p == 0 || r00 == 0.0 {
            return 0;
        }
        (0..self.p)
            .take_while(|&k| self.r(k, k).abs() > tol * r00)
            .count()
    }

    /// `x ← Qᵀx` (`x` has `n` entries) with `Q = Q₀·Q₁` and only the first `k` reflectors
    /// of `Q₁`: enough that `x[..k]` becomes `Q[:, ..k]ᵀ·x` (later reflectors of `Q₁` leave
    /// the first `k` columns of `Q` alone), and undone exactly by [`Qr::apply_q`]`(k)`.
    pub fn apply_qt(&self, k: usize, x: &mut [f64]) {
        for j in 0..self.p {
            let v = &self.a[j * self.n + j + 1..(j + 1) * self.n];
            apply_reflector(self.tau0[j], v, &mut x[j..]);
        }
        for j in 0..k {
            let v = &self.b[j * self.p + j + 1..(j + 1) * self.p];
            apply_reflector(self.tau[j], v, &mut x[j..self.p]);
        }
    }

    /// `x ← Qx`, the inverse of [`Qr::apply_qt`] with the same `k`.
    pub fn apply_q(&self, k: usize, x: &mut [f64]) {
        for j in (0..k).rev() {
            let v = &self.b[j * self.p + j + 1..(j + 1) * self.p];
            apply_reflector(self.tau[j], v, &mut x[j..self.p]);
        }
        for j in (0..self.p).rev() {
            let v = &self.a[j * self.n + j + 1..(j + 1) * self.n];
            apply_reflector(self.tau0[j], v, &mut x[j..]);
        }
    }

    /// Solves `R[..k, ..k]·z = c` in place (back substitution).
    pub fn solve_r(&self, k: usize, c: &mut [f64]) {
        for i in (0..k).rev() {
            let mut s = c[i];
            for j in i + 1..k {
                s -= self.r(i, j) * c[j];
            }
            c[i] = s / self.r(i, i);
        }
    }

    /// Solves `R[..k, ..k]ᵀ·z = c` in place (forward substitution).
    pub fn solve_rt(&self, k: usize, c: &mut [f64]) {
        for i in 0..k {
            let col = &self.b[i * self.p..i * self.p + i];
            let s = c[i] - dot(col, &c[..i]);
            c[i] = s / self.r(i, i);
        }
    }

    /// `R[..k, ..k]⁻¹`, upper triangular, as rows.
    pub fn r_inverse(&self, k: usize) -> Vec<Vec<f64>> {
        let mut inv = vec![vec![0.0; k]; k];
        for j in 0..k {
            let mut e = vec![0.0; k];
            e[j] = 1.0;
            self.solve_r(j + 1, &mut e[..j + 1]);
            for i in 0..=j {
                inv[i][j] = e[i];
            }
        }
        inv
    }

    /// The first `k` columns of `Q`, column-major `n × k`.
    pub fn thin_q(&self, k: usize) -> Vec<f64> {
        let mut q = vec![0.0; self.n * k];
        for (j, col) in q.chunks_exact_mut(self.n).enumerate() {
            col[j] = 1.0;
            self.apply_q(k, col);
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A column-major matrix from rows.
    fn cm(rows: &[&[f64]]) -> (Vec<f64>, usize, usize) {
        let (n, p) = (rows.len(), rows[0].len());
        (
            (0..p)
                .flat_map(|j| rows.iter().map(move |r| r[j]))
                .collect(),
            n,
            p,
        )
    }

    #[test]
    fn reconstructs_the_scaled_permuted_matrix() {
        let (a, n, p) = cm(&[
            &[1.0, 200.0, 3e-5],
            &[2.0, -100.0, 1e-5],
            &[0.5, 400.0, -2e-5],
            &[4.0, 0.0, 7e-5],
        ]);
        let qr = Qr::new(a.clone(), n, p);
        // Q·R column by column equals the scaled, permuted original.
        for k in 0..p {
            let mut col = vec![0.0; n];
            for i in 0..=k {
                col[i] = qr.r(i, k);
            }
            qr.apply_q(p, &mut col);
            let j = qr.perm[k];
            for i in 0..n {
                let want = a[j * n + i] / qr.scale[j];
                assert!(
                    (col[i] - want).abs() < 1e-14,
                    "{k} {i}: {} vs {want}",
                    col[i]
                );
            }
        }
        // Diagonal of R non-increasing in magnitude.
        for k in 1..p {
            assert!(qr.r(k, k).abs() <= qr.r(k - 1, k - 1).abs() * (1.0 + 1e-15));
        }
        assert_eq!(qr.rank(default_rank_tol(n, p)), 3);
    }

    #[test]
    fn blocked_stage_reconstructs_wide_matrices() {
        // 200 × 80: three blocks of the first stage, on every core; columns of very
        // different scales. Q·R must give back the scaled, permuted matrix, and Qᵀ must
        // undo Q.
        let (n, p) = (200, 80);
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let a: Vec<f64> = (0..n * p)
            .map(|i| next() * 10f64.powi((i / n % 7) as i32 - 3))
            .collect();
        let qr = Qr::new(a.clone(), n, p);
        let mut worst: f64 = 0.0;
        for k in 0..p {
            let mut col = vec![0.0; n];
            for i in 0..=k {
                col[i] = qr.r(i, k);
            }
            qr.apply_q(p, &mut col);
            let j = qr.perm[k];
            for i in 0..n {
                worst = worst.max((col[i] - a[j * n + i] / qr.scale[j]).abs());
            }
        }
        assert!(worst < 1e-13, "reconstruction error {worst}");
        let x: Vec<f64> = (0..n).map(|_| next()).collect();
        let mut y = x.clone();
        qr.apply_qt(p, &mut y);
        qr.apply_q(p, &mut y);
        let back = x
            .iter()
            .zip(&y)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(back < 1e-14, "Q·Qᵀ error {back}");
        assert_eq!(qr.rank(default_rank_tol(n, p)), p);
    }

    #[test]
    fn rank_does_not_depend_on_units() {
        // x3 = x1 + x2 exactly; then the same with x2 in units a million times smaller.
        let rows: Vec<[f64; 3]> = (0..6)
            .map(|i| {
                let (x1, x2) = (i as f64, ((i * i) % 5) as f64);
                [x1, x2, x1 + x2]
            })
            .collect();
        let r: Vec<&[f64]> = rows.iter().map(|r| &r[..]).collect();
        let (a, n, p) = cm(&r);
        let qr = Qr::new(a.clone(), n, p);
        assert_eq!(qr.rank(default_rank_tol(n, p)), 2);
        let mut b = a.clone();
        for v in &mut b[n..2 * n] {
            *v *= 1e6;
        }
        for i in 0..n {
            b[2 * n + i] = b[i] + b[n + i];
        }
        assert_eq!(Qr::new(b, n, p).rank(default_rank_tol(n, p)), 2);
        // Full rank in any units: a column of 1e-9 beside one of 1e9.
        let (c, n, p) = cm(&[&[1e9, 1e-9], &[2e9, 3e-9], &[3e9, 2e-9]]);
        assert_eq!(Qr::new(c, n, p).rank(default_rank_tol(n, p)), 2);
    }
}
