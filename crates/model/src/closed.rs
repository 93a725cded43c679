//! The closed-form least-squares fit that gradient descent is compared against, as the
//! tutorials compare with scikit-learn: normal equations by Cholesky, or the refined,
//! column-pivoted Householder QR of `lstsq.rs` for ill-conditioned data. The ridge term matches the training loss
//! `mean((Xw + b − y)²) + λ·Σw²` (the intercept is not penalised).

use crate::data::Dataset;

/// How to solve the least-squares problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Solver {
    /// `(AᵀA + nλD)θ = Aᵀy` by Cholesky: fast, squares the condition number.
    Cholesky,
    /// Householder QR of `A` (stacked with `√(nλ)·D` for ridge): slower, stable.
    Qr,
}

/// The design matrix `A = [X 1]` as rows.
fn design(data: &Dataset) -> Vec<Vec<f64>> {
    (0..data.len())
        .map(|i| data.row(i).iter().copied().chain([1.0]).collect())
        .collect()
}

/// The minimiser `(w, b)` of `mean((Xw + b − y)²) + l2·Σw²`.
///
/// ```
/// use model::{least_squares, Dataset, Solver};
/// let d = Dataset::from_rows(&[vec![0.0], vec![1.0], vec![2.0]], &[1.0, 3.0, 5.0]);
/// let (w, b) = least_squares(&d, 0.0, Solver::Qr).unwrap();
/// assert!((w[0] - 2.0).abs() < 1e-12 && (b - 1.0).abs() < 1e-12);
/// ```
pub fn least_squares(data: &Dataset, l2: f64, solver: Solver) -> Result<(Vec<f64>, f64), String> {
    let (n, p) = (data.len(), data.dim() + 1);
    let theta = match solver {
        Solver::Cholesky => {
            let a = design(data);
            let y = data.y.data();
            let mut ata = gram(&a);
            for j in 0..p - 1 {
                ata[j][j] += n as f64 * l2;
            }
            let aty: Vec<f64> = (0..p)
                .map(|j| a.iter().zip(y).map(|(r, y)| r[j] * y).sum())
                .collect();
            let l = cholesky(&ata).ok_or(
                "the normal equations are singular: features are collinear (try the QR solver or a ridge penalty)",
            )?;
            cholesky_solve(&l, &aty)
        }
        Solver::Qr => ridge_lstsq(data, l2, true)
            .coef
            .into_iter()
            .collect::<Option<Vec<f64>>>()
            .ok_or(
                "the design matrix is rank deficient: features are collinear (try a ridge penalty)",
            )?,
    };
    Ok((theta[..p - 1].to_vec(), theta[p - 1]))
}

/// The design `[X 1]` (or `X` alone without an intercept) column-major, as
/// [`lstsq`](crate::lstsq) takes it, with `√(n·l2)` on the weights' diagonal in `p − 1`
/// (or `p`) rows below it when `l2 > 0`, so that least squares on it minimises
/// `mean((Xw + b − y)²) + l2·Σw²`; its rows and columns. The transpose goes in blocks of
/// rows, so that reads and writes both stay in cache.
///
/// ```
/// let d = model::Dataset::from_rows(&[vec![2.0], vec![3.0]], &[0.0, 0.0]);
/// assert_eq!(model::design_columns(&d, 0.0, true), (vec![2.0, 3.0, 1.0, 1.0], 2, 2));
/// // Ridge with l2 = 2 over n = 2 rows adds √4 = 2 under the weight.
/// assert_eq!(model::design_columns(&d, 2.0, false), (vec![2.0, 3.0, 2.0], 3, 1));
/// ```
pub fn design_columns(data: &Dataset, l2: f64, intercept: bool) -> (Vec<f64>, usize, usize) {
    let (n, d) = (data.len(), data.dim());
    let p = d + usize::from(intercept);
    let rows = if l2 > 0.0 { n + d } else { n };
    let x = data.x.data();
    let mut a = vec![0.0; rows * p];
    for i0 in (0..n).step_by(64) {
        for j in 0..d {
            for i in i0..(i0 + 64).min(n) {
                a[j * rows + i] = x[i * d + j];
            }
        }
    }
    if intercept {
        a[d * rows..d * rows + n].fill(1.0);
    }
    if l2 > 0.0 {
        let root = (n as f64 * l2).sqrt();
        for j in 0..d {
            a[j * rows + n + j] = root;
        }
    }
    (a, rows, p)
}

/// Least squares on [`design_columns`] against `y` (padded with zeros under ridge): the
/// whole solution, a column that combines others marked `None`.
pub fn ridge_lstsq(data: &Dataset, l2: f64, intercept: bool) -> crate::lstsq::LeastSquares {
    let (a, rows, p) = design_columns(data, l2, intercept);
    let mut rhs = data.y.data().to_vec();
    rhs.resize(rows, 0.0);
    crate::lstsq::lstsq(&a, rows, p, &rhs)
}

/// `AᵀA`.
pub fn gram(a: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let p = a.first().map_or(0, |r| r.len());
    let mut g = vec![vec![0.0; p]; p];
    for r in a {
        for i in 0..p {
            for j in 0..=i {
                g[i][j] += r[i] * r[j];
            }
        }
    }
    for i in 0..p {
        for j in i + 1..p {
            g[i][j] = g[j][i];
        }
    }
    g
}

/// Lower-triangular `L` with `LLᵀ = M`, or `None` if `M` is not positive definite.
pub fn cholesky(m: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let p = m.len();
    let mut l = vec![vec![0.0; p]; p];
    let scale = (0..p).map(|i| m[i][i].abs()).fold(0.0, f64::max);
    for i in 0..p {
        for j in 0..=i {
            let s: f64 = m[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            if i == j {
                if s <= 1e-13 * scale {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    Some(l)
}

/// Solves `LLᵀx = b`.
pub fn cholesky_solve(l: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let p = l.len();
    let mut z = vec![0.0; p];
    for i in 0..p {
        z[i] = (b[i] - (0..i).map(|k| l[i][k] * z[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; p];
    for i in (0..p).rev() {
        x[i] = (z[i] - (i + 1..p).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    x
}

/// Least squares `min ‖Ax − b‖` by the refined, column-pivoted QR of [`lstsq`](crate::lstsq),
/// `A` given as rows; `None` if `A` is rank deficient.
///
/// ```
/// let x = model::qr_solve(vec![vec![1.0, 0.0], vec![1.0, 1.0], vec![1.0, 2.0]], vec![1.0, 3.0, 5.0]).unwrap();
/// assert!((x[0] - 1.0).abs() < 1e-12 && (x[1] - 2.0).abs() < 1e-12);
/// ```
pub fn qr_solve(a: Vec<Vec<f64>>, b: Vec<f64>) -> Option<Vec<f64>> {
    let (n, p) = (a.len(), a.first().map_or(0, |r| r.len()));
    if n < p || b.len() != n {
        return None;
    }
    let cm: Vec<f64> = (0..p).flat_map(|j| a.iter().map(move |r| r[j])).collect();
    crate::lstsq::lstsq(&cm, n, p, &b)
        .coef
        .into_iter()
        .collect()
}

/// `AᵀA` for the design `A = [X 1]` (or `X` alone without an intercept), `X` an
/// `[n, d]` tensor: the Gram matrix whose eigenvalues give gradient descent's step.
///
/// ```
/// let x = tape::Tensor::new(vec![0.0, 1.0], &[2, 1]);
/// assert_eq!(model::design_gram(&x, true), vec![vec![1.0, 1.0], vec![1.0, 2.0]]);
/// ```
pub fn design_gram(x: &tape::Tensor, intercept: bool) -> Vec<Vec<f64>> {
    let (n, d) = (x.shape()[0], x.shape()[1]);
    let p = d + usize::from(intercept);
    let xd = x.data();
    let mut g = vec![vec![0.0; p]; p];
    for row in xd.chunks_exact(d.max(1)).take(n) {
        for a in 0..d {
            let ra = row[a];
            let ga = &mut g[a];
            for b in 0..=a {
                ga[b] += ra * row[b];
            }
            if intercept {
                g[d][a] += ra;
            }
        }
    }
    if intercept {
        g[d][d] = n as f64;
    }
    for a in 0..p {
        for b in 0..a {
            g[b][a] = g[a][b];
        }
    }
    g
}
