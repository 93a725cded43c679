//! # model: linear regression on descent's tape
//!
//! `y = XW + b` trained on mean squared error by gradient descent, every gradient from
//! the tape's `backward()`; the closed form beside it; CSV data with strict parsing.
//!
//! ```
//! use model::*;
//! let data = synthetic(100, &[1.3], 4.0, 0.5, (0.0, 1.0), 1);
//! let mut lin = Linear::new(1, 1, Init::Zeros);
//! let c = curvature(&lin, &data, 0.0).unwrap();
//! let cfg = TrainConfig { schedule: Schedule::Iterations(20_000), tol: Some(1e-15), ..Default::default() };
//! train(&mut lin, &mut Sgd::new(c.best_lr()), &data, None, &cfg, |_| {}).unwrap();
//! let (w, b) = least_squares(&data, 0.0, Solver::Qr).unwrap();
//! assert!((lin.weights()[0] - w[0]).abs() < 1e-6 && (lin.bias() - b).abs() < 1e-6);
//! ```

#![warn(missing_docs)]

mod closed;
mod csv;
mod data;
mod eigen;
mod enet;
mod formula;
mod linear;
mod lm;
mod loss;
mod lstsq;
mod ols;
mod optim;
mod qr;
mod reader;
mod saved;
mod stats;
mod streamed;
mod symbolic;
mod train;
mod tsqr;
mod xprec;

pub use closed::{
    cholesky, cholesky_solve, design_columns, design_gram, gram, least_squares, qr_solve,
    ridge_lstsq, Solver,
};
pub use csv::{
    csv_columns, encode_columns, encode_keeping, load_csv, parse_columns, parse_csv,
    parse_csv_from, parse_csv_with, stream_csv,
};
pub use data::{
    split_chronological, split_shuffled, synthetic, Categorical, Column, CsvOptions, DataError,
    Dataset, Missing, RowSink, Standardizer,
};
pub use eigen::symmetric_eigenvalues;
pub use enet::elastic_net;
pub use formula::{dummy_base, parameter_table, Expr, Formula, FormulaError, Func};
pub use linear::{Bound, Init, Linear, Model, Params};
pub use lm::{gauss_newton, levenberg_marquardt, LmOptions, LmResult, LmStop};
pub use loss::{lasso, metrics, mse, mse_gradient, ridge, sse, Metrics};
pub use lstsq::{lstsq, LeastSquares};
pub use ols::{ols, ols_rows, CovType, Ols, OlsCoef};
pub use optim::{Adam, Momentum, Optimizer, Sgd};
pub use qr::{column_major, default_rank_tol, Qr};
pub use saved::{Kind, Predictor, SavedModel, FORMAT_VERSION, MAX_ITEMS, MAX_TEXT};

/// The name of a linear model's intercept, as statsmodels and R print it.
pub const INTERCEPT: &str = "(intercept)";
pub use stats::{
    f_sf, incomplete_beta, inference, ln_gamma, student_t_quantile, student_t_sf, CoefStat,
    Inference,
};
pub use streamed::StreamedOls;
pub use symbolic::{derivative, latex_name, Derivation};
pub use train::{
    curvature, curvature_at, evaluate, objective, train, Curvature, History, Progress, Schedule,
    TrainConfig, TrainError,
};
pub use tsqr::{lstsq_rows, tsqr_rows, Rows, Tsqr, CSNE_MAX_COND};
pub use xprec::{dot2, Dd, Dot2};
