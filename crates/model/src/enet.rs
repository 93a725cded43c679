//! The exact minimiser of the lasso and elastic-net objectives that `fit --l1` trains
//! toward, by cyclic coordinate descent (Friedman, Hastie & Tibshirani, "Regularization
//! paths for generalized linear models via coordinate descent", J. Stat. Softw. 33, 2010):
//! the reference that proximal gradient descent is compared against, as least squares is
//! for the unpenalised fit.
//!
//! The objective is descent's training loss, `mean((Xw + b − y)²) + l2·Σw² + l1·Σ|w|`,
//! with the intercept unpenalised. Halved, it is scikit-learn's `ElasticNet` objective
//! `‖y − Xw − b‖²/(2n) + α·ρ·‖w‖₁ + α·(1 − ρ)/2·‖w‖²` with `α = l1/2 + l2` and
//! `ρ = (l1/2)/α` (`Lasso(alpha = l1/2)` when `l2 = 0`).

use crate::data::Dataset;

/// `(w, b)` minimising `mean((Xw + b − y)²) + l2·Σw² + l1·Σ|w|`, to a relative change
/// of the coefficients below 1e-14 per sweep (at most 100,000 sweeps); the sweeps taken.
///
/// ```
/// use model::{elastic_net, Dataset};
/// // y = 2x: a lasso penalty too large for the data sets w to exactly 0.
/// let d = Dataset::from_rows(&[vec![-1.0], vec![0.0], vec![1.0]], &[-2.0, 0.0, 2.0]);
/// let ((w, b), _) = elastic_net(&d, 100.0, 0.0);
/// assert_eq!((w[0], b), (0.0, 0.0));
/// // Small enough, it shrinks w by n·l1/2 / ‖x‖² = 3·0.5/2·... : w = S(4, 0.75)/2 = 1.625.
/// let ((w, _), _) = elastic_net(&d, 0.5, 0.0);
/// assert!((w[0] - 1.625).abs() < 1e-14);
/// ```
pub fn elastic_net(data: &Dataset, l1: f64, l2: f64) -> ((Vec<f64>, f64), usize) {
    let (n, d) = (data.len(), data.dim());
    let nf = n as f64;
    let x = data.x.data();
    let y = data.y.data();
    // Centre the columns and y: the intercept then drops out of every update.
    let xm: Vec<f64> = (0..d)
        .map(|j| (0..n).map(|i| x[i * d + j]).sum::<f64>() / nf)
        .collect();
    let ym = y.iter().sum::<f64>() / nf;
    let cols: Vec<Vec<f64>> = (0..d)
        .map(|j| (0..n).map(|i| x[i * d + j] - xm[j]).collect())
        .collect();
    let sq: Vec<f64> = cols.iter().map(|c| c.iter().map(|v| v * v).sum()).collect();
    let mut r: Vec<f64> = y.iter().map(|v| v - ym).collect();
    let mut w = vec![0.0; d];
    let thresh = nf * l1 / 2.0;
    let mut sweeps = 0;
    for _ in 0..100_000 {
        sweeps += 1;
        let (mut change, mut size) = (0.0f64, 0.0f64);
        for j in 0..d {
            if sq[j] == 0.0 {
                continue;
            }
            let c = &cols[j];
            let rho: f64 = c.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>() + sq[j] * w[j];
            let new = rho.signum() * (rho.abs() - thresh).max(0.0) / (sq[j] + nf * l2);
            let delta = new - w[j];
            if delta != 0.0 {
                r.iter_mut().zip(c).for_each(|(r, c)| *r -= delta * c);
                w[j] = new;
            }
            change = change.max(delta.abs());
            size = size.max(new.abs());
        }
        if change <= 1e-14 * size || change == 0.0 {
            break;
        }
    }
    let b = ym - w.iter().zip(&xm).map(|(w, m)| w * m).sum::<f64>();
    ((w, b), sweeps)
}
