//! Householder QR with column pivoting of a column-scaled matrix: `A·D·P = Q·R`, the
//! factorisation every least-squares result of descent comes from (LAPACK's `xGEQP3`
//! without blocking: Golub & Van Loan, "Matrix Computations", 4th ed., §5.4.2; the norm
//! downdating with its safeguard is Drmač and Bujanović's, LAPACK Working Note 176).
//!
//! `D` scales every column to a norm in [0.5, 2) by a power of two, so it is exact in
//! floating point and the rank decision (`|R_kk| ≤ tol·|R_00|`) does not depend on the
//! columns' units. Pivoting puts the largest remaining column first, so `|R_kk|` does not
//! increase and a rank-deficient matrix keeps its dependent columns last. The QR is the
//! O(n·p²) part of `fit` for the linear model: a hot path for wide designs.

use rayon::prelude::*;

/// The factorisation of an `n × p` matrix (`n ≥ p`), column-major.
#[derive(Clone, Debug)]
pub struct Qr {
    n: usize,
    p: usize,
    /// Column-major `n × p`: `R` on and above the diagonal, the Householder vectors below
    /// it (their first entry 1 is implied).
    a: Vec<f64>,
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
#[inline]
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
        let mut perm: Vec<usize> = (0..p).collect();
        let mut vn1: Vec<f64> = (0..p).map(|j| norm2(&a[j * n..(j + 1) * n])).collect();
        let mut vn2 = vn1.clone();
        let tol3z = f64::EPSILON.sqrt();
        let mut tau = vec![0.0; p];
        for k in 0..p {
            // Pivot: the remaining column of largest norm (the first on ties).
            let mut pvt = k;
            for j in k + 1..p {
                if vn1[j] > vn1[pvt] {
                    pvt = j;
                }
            }
            if pvt != k {
                for i in 0..n {
                    a.swap(pvt * n + i, k * n + i);
                }
                perm.swap(pvt, k);
                vn1[pvt] = vn1[k];
                vn2[pvt] = vn2[k];
            }
            // The reflector H = I − τ·v·vᵀ with H·a[k.., k] = β·e₁ (LAPACK's xLARFG).
            let col = &mut a[k * n + k..(k + 1) * n];
            let xnorm = norm2(&col[1..]);
            let alpha = col[0];
            if xnorm == 0.0 {
                tau[k] = 0.0;
            } else {
                let beta = -alpha.signum() * norm2(&[alpha, xnorm]);
                tau[k] = (beta - alpha) / beta;
                let inv = 1.0 / (alpha - beta);
                col[1..].iter_mut().for_each(|v| *v *= inv);
                col[0] = beta;
            }
            if tau[k] != 0.0 {
                let (head, tail) = a.split_at_mut((k + 1) * n);
                let v = &head[k * n + k..(k + 1) * n];
                let t = tau[k];
                let update = |c: &mut [f64]| {
                    let c = &mut c[k..];
                    // vᵀc with v[0] = 1 implied.
                    let s = t * (c[0] + dot(&v[1..], &c[1..]));
                    c[0] -= s;
                    for (ci, vi) in c[1..].iter_mut().zip(&v[1..]) {
                        *ci -= s * vi;
                    }
                };
                // Columns are independent: on every core when there is enough work (each
                // column's arithmetic is the same, so the bits are too).
                if (n - k) * (p - k) >= 1 << 16 {
                    tail.par_chunks_exact_mut(n).for_each(update);
                } else {
                    tail.chunks_exact_mut(n).for_each(update);
                }
            }
            // Downdate the remaining columns' norms, recomputing where cancellation
            // would leave too few correct digits (LAWN 176).
            for j in k + 1..p {
                if vn1[j] != 0.0 {
                    let r = a[j * n + k].abs() / vn1[j];
                    let temp = (1.0 - r * r).max(0.0);
                    let temp2 = temp * (vn1[j] / vn2[j]).powi(2);
                    if temp2 <= tol3z {
                        vn1[j] = norm2(&a[j * n + k + 1..(j + 1) * n]);
                        vn2[j] = vn1[j];
                    } else {
                        vn1[j] *= temp.sqrt();
                    }
                }
            }
        }
        Qr {
            n,
            p,
            a,
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
            self.a[j * self.n + i]
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

    /// `x ← Qᵀx` with the first `k` reflectors (`x` has `n` entries).
    pub fn apply_qt(&self, k: usize, x: &mut [f64]) {
        for j in 0..k {
            self.reflect(j, x);
        }
    }

    /// `x ← Qx` with the first `k` reflectors.
    pub fn apply_q(&self, k: usize, x: &mut [f64]) {
        for j in (0..k).rev() {
            self.reflect(j, x);
        }
    }

    fn reflect(&self, j: usize, x: &mut [f64]) {
        let t = self.tau[j];
        if t == 0.0 {
            return;
        }
        let v = &self.a[j * self.n + j + 1..(j + 1) * self.n];
        let x = &mut x[j..];
        let s = t * (x[0] + dot(v, &x[1..]));
        x[0] -= s;
        for (xi, vi) in x[1..].iter_mut().zip(v) {
            *xi -= s * vi;
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
            let col = &self.a[i * self.n..i * self.n + i];
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
