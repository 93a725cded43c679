//! Eigenvalues of a symmetric matrix: Householder reduction to tridiagonal form, then the
//! implicit QL algorithm with Wilkinson shifts (EISPACK's `tred1` and `tql1`; Golub & Van
//! Loan, "Matrix Computations", 4th ed., §8.3). O(p³) once, for the p × p Gram matrix of a
//! design: its extreme eigenvalues give the condition number and the default step.

/// The eigenvalues of the symmetric matrix `a` (rows; only the lower triangle is read),
/// in increasing order.
///
/// ```
/// // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
/// let e = model::symmetric_eigenvalues(vec![vec![2.0, 1.0], vec![1.0, 2.0]]);
/// assert!((e[0] - 1.0).abs() < 1e-14 && (e[1] - 3.0).abs() < 1e-14);
/// ```
pub fn symmetric_eigenvalues(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let n = a.len();
    if n == 0 {
        return vec![];
    }
    let (mut d, mut e) = tridiagonalize(&mut a);
    ql_implicit(&mut d, &mut e);
    d.sort_by(f64::total_cmp);
    d
}

/// Householder reduction of `a` to tridiagonal `T = QᵀAQ`: the diagonal and the
/// subdiagonal (`e[i]` couples `i − 1` and `i`; `e[0] = 0`).
fn tridiagonalize(a: &mut [Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let n = a.len();
    for i in 0..n {
        for j in i + 1..n {
            a[i][j] = a[j][i];
        }
    }
    let mut d = vec![0.0; n];
    let mut e = vec![0.0; n];
    for i in (1..n).rev() {
        let l = i - 1;
        let scale: f64 = (0..=l).map(|k| a[i][k].abs()).sum();
        if l == 0 || scale == 0.0 {
            e[i] = a[i][l];
            d[i] = 0.0;
            continue;
        }
        let mut h = 0.0;
        for k in 0..=l {
            a[i][k] /= scale;
            h += a[i][k] * a[i][k];
        }
        let f = a[i][l];
        let g = if f >= 0.0 { -h.sqrt() } else { h.sqrt() };
        e[i] = scale * g;
        h -= f * g;
        a[i][l] = f - g;
        // p = A·u / h, then K = uᵀp / 2h, q = p − K·u, A ← A − q·uᵀ − u·qᵀ.
        let mut p = vec![0.0; l + 1];
        for j in 0..=l {
            let mut s = 0.0;
            for k in 0..=j {
                s += a[j][k] * a[i][k];
            }
            for k in j + 1..=l {
                s += a[k][j] * a[i][k];
            }
            p[j] = s / h;
        }
        let kk: f64 = (0..=l).map(|j| a[i][j] * p[j]).sum::<f64>() / (h + h);
        for j in 0..=l {
            p[j] -= kk * a[i][j];
        }
        for j in 0..=l {
            let (fj, gj) = (a[i][j], p[j]);
            for k in 0..=j {
                a[j][k] -= fj * p[k] + gj * a[i][k];
            }
        }
        d[i] = h;
    }
    for i in 0..n {
        d[i] = a[i][i];
    }
    (d, e)
}

/// The eigenvalues of the tridiagonal matrix (`d`, `e`) by implicit QL, into `d`.
fn ql_implicit(d: &mut [f64], e: &mut [f64]) {
    let n = d.len();
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    for l in 0..n {
        let mut iter = 0;
        loop {
            // A negligible subdiagonal element splits the matrix.
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd {
                    break;
                }
                m += 1;
            }
            if m == l {
                break;
            }
            iter += 1;
            if iter > 60 {
                break; // does not happen for finite symmetric input; never loop forever
            }
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0, 1.0, 0.0);
            let mut i = m;
            let mut deflated = false;
            while i > l {
                i -= 1;
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    deflated = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
            }
            if deflated {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_spectra() {
        // The second-difference matrix tridiag(−1, 2, −1) of order n has eigenvalues
        // 2 − 2cos(kπ/(n + 1)).
        let n: usize = 12;
        let a: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| match i.abs_diff(j) {
                        0 => 2.0,
                        1 => -1.0,
                        _ => 0.0,
                    })
                    .collect()
            })
            .collect();
        let e = symmetric_eigenvalues(a);
        for (k, v) in e.iter().enumerate() {
            let want = 2.0 - 2.0 * ((k + 1) as f64 * std::f64::consts::PI / (n + 1) as f64).cos();
            assert!((v - want).abs() < 1e-13, "{k}: {v} vs {want}");
        }
        // The Hilbert matrix of order 4: eigenvalues from the literature (Todd, 1954).
        let h: Vec<Vec<f64>> = (0..4)
            .map(|i| (0..4).map(|j| 1.0 / (i + j + 1) as f64).collect())
            .collect();
        let e = symmetric_eigenvalues(h);
        let want = [
            9.670_230_402_258e-5,
            6.738_273_605_760e-3,
            0.169_141_220_3,
            1.500_214_280_059,
        ];
        for (v, w) in e.iter().zip(want) {
            assert!((v - w).abs() < 1e-9 * w.max(1e-3), "{v} vs {w}");
        }
        // A dense matrix Q·diag·Qᵀ built from a Householder reflection.
        let u = [1.0, -2.0, 0.5, 3.0, 1.5];
        let uu: f64 = u.iter().map(|x| x * x).sum();
        let lam = [-3.0, 0.25, 1.0, 7.0, 100.0];
        let q = |i: usize, j: usize| f64::from(i == j) - 2.0 * u[i] * u[j] / uu;
        let a: Vec<Vec<f64>> = (0..5)
            .map(|i| {
                (0..5)
                    .map(|j| (0..5).map(|k| q(i, k) * lam[k] * q(j, k)).sum())
                    .collect()
            })
            .collect();
        let e = symmetric_eigenvalues(a);
        for (v, w) in e.iter().zip(lam) {
            assert!((v - w).abs() < 1e-12 * 100.0, "{v} vs {w}");
        }
    }
}
