//! Losses built from tape ops, metrics on plain tensors, and the hand-derived gradient
//! of MSE for comparison with autodiff.

use tape::prelude::*;

/// Mean squared error, `mean((ŷ − y)²)`, on the tape.
///
/// ```
/// use tape::prelude::*;
/// let tape = Tape::new();
/// let l = model::mse(tape.constant([1.0, 2.0]), tape.constant([0.0, 0.0]));
/// assert_eq!(l.item(), 2.5);
/// ```
pub fn mse<'t>(pred: Var<'t>, target: Var<'t>) -> Var<'t> {
    (pred - target).square().mean()
}

/// Sum of squared errors, `Σ(ŷ − y)²`, on the tape.
///
/// ```
/// use tape::prelude::*;
/// let tape = Tape::new();
/// assert_eq!(model::sse(tape.constant([1.0, 2.0]), tape.constant([0.0, 0.0])).item(), 5.0);
/// ```
pub fn sse<'t>(pred: Var<'t>, target: Var<'t>) -> Var<'t> {
    (pred - target).square().sum()
}

/// Ridge penalty `λ·Σw²`.
///
/// ```
/// use tape::prelude::*;
/// let tape = Tape::new();
/// assert_eq!(model::ridge(tape.param([1.0, -2.0]), 0.5).item(), 2.5);
/// ```
pub fn ridge(w: Var<'_>, lambda: f64) -> Var<'_> {
    w.square().sum() * lambda
}

/// Lasso penalty `λ·Σ|w|` (its gradient at 0 is 0, PyTorch's subgradient).
///
/// ```
/// use tape::prelude::*;
/// let tape = Tape::new();
/// assert_eq!(model::lasso(tape.param([1.0, -2.0]), 0.5).item(), 1.5);
/// ```
pub fn lasso(w: Var<'_>, lambda: f64) -> Var<'_> {
    w.abs().sum() * lambda
}

/// Regression metrics of predictions against targets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    /// Mean squared error.
    pub mse: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Coefficient of determination, `1 − SS_res / SS_tot`.
    pub r2: f64,
}

/// MSE, RMSE, MAE and R² of `pred` against `target` (any shapes with equal sizes).
///
/// ```
/// let m = model::metrics(&tape::Tensor::from([1.0, 2.0, 3.0]), &tape::Tensor::from([1.0, 2.0, 4.0]));
/// assert_eq!(m.mae, 1.0 / 3.0);
/// assert!((m.r2 - (1.0 - 1.0 / (14.0 / 3.0))).abs() < 1e-12);
/// ```
#[track_caller]
pub fn metrics(pred: &Tensor, target: &Tensor) -> Metrics {
    assert_eq!(
        pred.numel(),
        target.numel(),
        "metrics: predictions of shape {:?} against targets of shape {:?}",
        pred.shape(),
        target.shape()
    );
    let n = pred.numel() as f64;
    let (p, y) = (pred.data(), target.data());
    let mean_y = y.iter().sum::<f64>() / n;
    let ss_res: f64 = p.iter().zip(y).map(|(p, y)| (p - y).powi(2)).sum();
    let ss_tot: f64 = y.iter().map(|y| (y - mean_y).powi(2)).sum();
    let mse = ss_res / n;
    Metrics {
        mse,
        rmse: mse.sqrt(),
        mae: p.iter().zip(y).map(|(p, y)| (p - y).abs()).sum::<f64>() / n,
        r2: 1.0 - ss_res / ss_tot,
    }
}

/// The hand-derived gradient of `mean((Xw + b − y)²)`:
/// `∂L/∂w = (2/n)·Xᵀ(ŷ − y)`, `∂L/∂b = (2/n)·Σ(ŷ − y)`, computed with plain loops and no
/// tape, so that it is an independent check of `backward()`.
///
/// ```
/// // The drug-dosage tutorial's figures at m = 0.9, b = 0.1.
/// let x: Vec<Vec<f64>> = (0..8).map(|i| vec![i as f64]).collect();
/// let y = [1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37];
/// let (dw, db) = model::mse_gradient(&x, &y, &[0.9], 0.1);
/// assert!((dw[0] - 36.305).abs() < 1e-12 && (db - 6.265).abs() < 1e-12);
/// ```
pub fn mse_gradient(x: &[Vec<f64>], y: &[f64], w: &[f64], b: f64) -> (Vec<f64>, f64) {
    let n = y.len() as f64;
    let mut dw = vec![0.0; w.len()];
    let mut db = 0.0;
    for (row, &target) in x.iter().zip(y) {
        let pred: f64 = row.iter().zip(w).map(|(x, w)| x * w).sum::<f64>() + b;
        let r = pred - target;
        for (d, x) in dw.iter_mut().zip(row) {
            *d += 2.0 / n * r * x;
        }
        db += 2.0 / n * r;
    }
    (dw, db)
}
