//! Ordinary least squares with the report of R's `summary(lm)` and statsmodels' `OLS`:
//! coefficients, standard errors (classical or heteroskedasticity-robust HC0–HC3),
//! t statistics, p-values and 95% intervals, σ̂, R² and adjusted R² (centred, or uncentred
//! for a model without a constant, as R and NIST report them), the F statistic, the
//! log-likelihood, AIC, BIC and the design's condition number. Every figure is computed at
//! the least-squares solution of `lstsq.rs`, and the covariances come from its `R`
//! factor, never from a Cholesky of `XᵀX`.

use crate::eigen::symmetric_eigenvalues;
use crate::lstsq::{lstsq, LeastSquares};
use crate::stats::{f_sf, student_t_quantile, student_t_sf};
use crate::tsqr::{lstsq_rows, sandwich_rows, Rows};
use crate::xprec::Dot2;

/// The covariance of the estimates, as statsmodels' `cov_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CovType {
    /// `σ̂²·(XᵀX)⁻¹`.
    #[default]
    Nonrobust,
    /// White's sandwich with weights `eᵢ²`.
    HC0,
    /// HC0 times `n/(n − p)`.
    HC1,
    /// Weights `eᵢ²/(1 − hᵢ)`.
    HC2,
    /// Weights `eᵢ²/(1 − hᵢ)²`.
    HC3,
}

impl CovType {
    /// The name statsmodels gives it.
    pub fn name(self) -> &'static str {
        match self {
            CovType::Nonrobust => "nonrobust",
            CovType::HC0 => "HC0",
            CovType::HC1 => "HC1",
            CovType::HC2 => "HC2",
            CovType::HC3 => "HC3",
        }
    }
}

/// One row of the coefficient table; the figures are `None` for a column dropped as a
/// linear combination of others, and the inference figures without residual degrees
/// of freedom.
#[derive(Clone, Debug, PartialEq)]
pub struct OlsCoef {
    /// The column's name.
    pub name: String,
    /// The least-squares estimate.
    pub estimate: Option<f64>,
    /// Its standard error.
    pub std_error: Option<f64>,
    /// estimate / standard error.
    pub t: Option<f64>,
    /// Two-sided p-value under Student's t with the residual degrees of freedom.
    pub p_value: Option<f64>,
    /// The 95% confidence interval.
    pub ci95: Option<(f64, f64)>,
}

/// An OLS fit and its summary statistics.
#[derive(Clone, Debug)]
pub struct Ols {
    /// One row per column of the design.
    pub coefficients: Vec<OlsCoef>,
    /// Rows.
    pub nobs: usize,
    /// The design's numerical rank.
    pub rank: usize,
    /// True if the design has a constant column (R² and F are then centred).
    pub has_constant: bool,
    /// `rank − 1` with a constant, `rank` without.
    pub df_model: usize,
    /// `n − rank`.
    pub df_resid: usize,
    /// Residual sum of squares.
    pub rss: f64,
    /// `√(RSS/df_resid)`; `None` without residual degrees of freedom.
    pub sigma: Option<f64>,
    /// R², centred with a constant and uncentred without.
    pub r_squared: f64,
    /// `1 − (1 − R²)·(n − k)/df_resid` with `k` 1 for a constant, 0 without.
    pub adj_r_squared: Option<f64>,
    /// The F statistic of all non-constant coefficients being 0, and its p-value (a Wald
    /// test with the chosen covariance, as statsmodels).
    pub f_statistic: Option<(f64, f64)>,
    /// Gaussian log-likelihood at the solution.
    pub log_likelihood: f64,
    /// `−2·llf + 2·rank`.
    pub aic: f64,
    /// `−2·llf + ln(n)·rank`.
    pub bic: f64,
    /// `√(λmax/λmin)` of `XᵀX`, as statsmodels' `condition_number`.
    pub condition_number: f64,
    /// The eigenvalues of `XᵀX`, increasing.
    pub gram_eigenvalues: Vec<f64>,
    /// The covariance used for the standard errors.
    pub cov_type: CovType,
    /// Each dropped column's name with the names of the columns it is a combination of.
    pub dependent: Vec<(String, Vec<String>)>,
    /// `y − X·β`.
    pub residuals: Vec<f64>,
    /// Refinement steps the solver took.
    pub refinements: usize,
    /// True when the solution came from TSQR and semi-normal equations (`ols_rows`), not
    /// from Householder QR of the whole design.
    pub tsqr: bool,
}

/// Fits `y ≈ X·β` for the column-major `n × p` design `x` with column `names`. A
/// constant column (every entry equal and non-zero) is recognised as the intercept.
///
/// ```
/// use model::{ols, CovType};
/// // y = 1 + 2x + e on five points.
/// let x = [1.0, 2.0, 3.0, 4.0, 5.0];
/// let y = [3.1, 4.9, 7.2, 8.8, 11.1];
/// let design: Vec<f64> = x.iter().copied().chain([1.0; 5]).collect();
/// let fit = ols(&design, 5, &["x", "(intercept)"], &y, CovType::Nonrobust).unwrap();
/// assert!((fit.coefficients[0].estimate.unwrap() - 1.99).abs() < 1e-12);
/// assert!(fit.has_constant && fit.df_resid == 3);
/// ```
pub fn ols(x: &[f64], n: usize, names: &[&str], y: &[f64], cov: CovType) -> Result<Ols, String> {
    let p = names.len();
    if x.len() != n * p || y.len() != n {
        return Err(format!(
            "ols: a design of {} values, {p} names and {} targets for {n} rows",
            x.len(),
            y.len()
        ));
    }
    if n < p {
        return Err(format!(
            "{n} rows for {p} coefficients: least squares needs at least as many rows as coefficients"
        ));
    }
    for (j, name) in names.iter().enumerate() {
        if let Some(i) = x[j * n..(j + 1) * n].iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "column '{name}', row {}: the value is not finite",
                i + 1
            ));
        }
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "the target, row {}: the value is not finite",
            i + 1
        ));
    }
    let ls: LeastSquares = lstsq(x, n, p, y);
    let col = |j: usize| &x[j * n..(j + 1) * n];
    // A constant column (every entry equal and non-zero) is the intercept.
    let constant: Vec<bool> = (0..p)
        .map(|j| {
            let c = col(j);
            c[0] != 0.0 && c.iter().all(|v| *v == c[0])
        })
        .collect();
    let sums = sums_of_squares(&ls.residuals, y, constant.contains(&true));
    Ok(report(ls, &constant, names, sums, cov, |ls, omega| {
        ls.sandwich(omega)
    }))
}

/// [`ols`] for a design stored as rows (features row-major, the intercept last when
/// `a.intercept`), without a copy of it: TSQR and corrected semi-normal equations
/// (`tsqr.rs`) when the column-scaled design is well conditioned (κ ≤ 10⁶) and of full
/// rank, else [`ols`] on a column-major copy. `names` has one name per design column.
///
/// ```
/// use model::{ols, ols_rows, CovType, Rows};
/// let (x, y) = ([1.0, 2.0, 3.0, 4.0, 5.0], [3.1, 4.9, 7.2, 8.8, 11.1]);
/// let rows = ols_rows(Rows { x: &x, n: 5, d: 1, intercept: true }, &["x", "(intercept)"], &y, CovType::HC1).unwrap();
/// let design: Vec<f64> = x.iter().copied().chain([1.0; 5]).collect();
/// let cols = ols(&design, 5, &["x", "(intercept)"], &y, CovType::HC1).unwrap();
/// let (a, b) = (rows.coefficients[0].std_error.unwrap(), cols.coefficients[0].std_error.unwrap());
/// assert!((a - b).abs() < 1e-14 * b);
/// ```
pub fn ols_rows(a: Rows<'_>, names: &[&str], y: &[f64], cov: CovType) -> Result<Ols, String> {
    let (n, d, p) = (a.n, a.d, a.p());
    if a.x.len() != n * d || y.len() != n || names.len() != p {
        return Err(format!(
            "ols_rows: {} values, {} names and {} targets for {n} rows of {d} features",
            a.x.len(),
            names.len(),
            y.len()
        ));
    }
    let ls = if n < p || a.x.iter().any(|v| !v.is_finite()) {
        None // the column-major path says what is wrong, and where
    } else {
        lstsq_rows(a, y)
    };
    let Some(ls) = ls else {
        let design: Vec<f64> = (0..p)
            .flat_map(|j| (0..n).map(move |i| (i, j)))
            .map(|(i, j)| if j < d { a.x[i * d + j] } else { 1.0 })
            .collect();
        return ols(&design, n, names, y, cov);
    };
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "the target, row {}: the value is not finite",
            i + 1
        ));
    }
    let constant: Vec<bool> = (0..p)
        .map(|j| {
            j == d || {
                let c0 = a.x[j];
                c0 != 0.0 && (0..n).all(|i| a.x[i * d + j] == c0)
            }
        })
        .collect();
    let sums = sums_of_squares(&ls.residuals, y, constant.contains(&true));
    Ok(report(ls, &constant, names, sums, cov, |ls, omega| {
        sandwich_rows(ls, a, omega)
    }))
}

/// The classical report of a TSQR solution whose rows are gone (`StreamedOls`).
pub(crate) fn report_streamed(
    ls: LeastSquares,
    constant: &[bool],
    names: &[&str],
    sums: (usize, f64, f64),
) -> Ols {
    report(ls, constant, names, sums, CovType::Nonrobust, |_, _| {
        unreachable!("a streamed fit reports the classical covariance")
    })
}

/// `(n, RSS, TSS)`: the residual sum of squares and the total sum of squares about the
/// mean (centred, with a constant) or about 0, each summed in twice the working precision.
fn sums_of_squares(residuals: &[f64], y: &[f64], centred: bool) -> (usize, f64, f64) {
    let n = y.len();
    let mut rss = Dot2::default();
    for r in residuals {
        rss.add_prod(*r, *r);
    }
    let center = if centred {
        let mut s = Dot2::default();
        y.iter().for_each(|v| s.add(*v));
        s.value() / n as f64
    } else {
        0.0
    };
    let mut tss = Dot2::default();
    for v in y {
        let d = v - center;
        tss.add_prod(d, d);
    }
    (n, rss.value(), tss.value())
}

/// The report at a least-squares solution: `constant` marks the constant columns,
/// `sandwich` gives the robust covariance for row weights `ω(i, hᵢ)`.
fn report(
    ls: LeastSquares,
    constant: &[bool],
    names: &[&str],
    (n, rss, tss): (usize, f64, f64),
    cov: CovType,
    sandwich: impl Fn(&LeastSquares, &(dyn Fn(usize, f64) -> f64 + Sync)) -> Vec<Vec<f64>>,
) -> Ols {
    let p = names.len();
    let k = ls.rank;
    let has_constant = constant.contains(&true);
    let df_resid = n - k;
    let kc = usize::from(has_constant);
    let df_model = k.saturating_sub(kc);
    let r_squared = if tss > 0.0 { 1.0 - rss / tss } else { f64::NAN };
    let sigma2 = (df_resid > 0).then(|| rss / df_resid as f64);
    let vcov: Option<Vec<Vec<f64>>> = sigma2.map(|s2| match cov {
        CovType::Nonrobust => {
            let mut c = ls.unscaled_cov();
            c.iter_mut().flatten().for_each(|v| *v *= s2);
            c
        }
        CovType::HC0 | CovType::HC1 | CovType::HC2 | CovType::HC3 => {
            let e = &ls.residuals;
            let dof = n as f64 / df_resid as f64;
            let omega = |i: usize, h: f64| {
                let e2 = e[i] * e[i];
                match cov {
                    CovType::HC0 => e2,
                    CovType::HC1 => e2 * dof,
                    CovType::HC2 => e2 / (1.0 - h),
                    _ => e2 / ((1.0 - h) * (1.0 - h)),
                }
            };
            sandwich(&ls, &omega)
        }
    });
    let df = df_resid as f64;
    let tcrit = (df_resid > 0).then(|| student_t_quantile(0.975, df));
    let coefficients: Vec<OlsCoef> = (0..p)
        .map(|j| {
            let estimate = ls.coef[j];
            let se = match (estimate, &vcov) {
                (Some(_), Some(v)) => Some(v[j][j].max(0.0).sqrt()),
                _ => None,
            };
            let (t, pv, ci) = match (estimate, se, tcrit) {
                (Some(b), Some(se), Some(tc)) => {
                    let t = b / se;
                    // An exact fit has se 0: t is infinite and p is 0, as R prints.
                    let pv = if se == 0.0 {
                        if b == 0.0 {
                            None
                        } else {
                            Some(0.0)
                        }
                    } else {
                        Some(2.0 * student_t_sf(t.abs(), df))
                    };
                    (
                        (se > 0.0).then_some(t),
                        pv,
                        Some((b - tc * se, b + tc * se)),
                    )
                }
                _ => (None, None, None),
            };
            OlsCoef {
                name: names[j].to_string(),
                estimate,
                std_error: se,
                t,
                p_value: pv,
                ci95: ci,
            }
        })
        .collect();
    let adj_r_squared = (df_resid > 0).then(|| 1.0 - (1.0 - r_squared) * (n - kc) as f64 / df);
    // F: classical from the sums of squares, or the Wald form with a robust covariance.
    let f_statistic = match (sigma2, df_model > 0) {
        (Some(s2), true) => {
            let f = match (&vcov, cov) {
                (_, CovType::Nonrobust) => ((tss - rss) / df_model as f64) / s2,
                (Some(v), _) => {
                    let idx: Vec<usize> = (0..p)
                        .filter(|&j| ls.coef[j].is_some() && !constant[j])
                        .collect();
                    let b: Vec<f64> = idx.iter().map(|&j| ls.coef[j].unwrap_or(0.0)).collect();
                    let m: Vec<Vec<f64>> = idx
                        .iter()
                        .map(|&a| idx.iter().map(|&c| v[a][c]).collect())
                        .collect();
                    match crate::closed::cholesky(&m) {
                        Some(l) => {
                            let s = crate::closed::cholesky_solve(&l, &b);
                            b.iter().zip(&s).map(|(a, c)| a * c).sum::<f64>() / idx.len() as f64
                        }
                        None => f64::NAN,
                    }
                }
                (None, _) => f64::NAN,
            };
            f.is_finite().then(|| (f, f_sf(f, df_model as f64, df)))
        }
        _ => None,
    };
    let nf = n as f64;
    let log_likelihood = -nf / 2.0 * ((2.0 * std::f64::consts::PI).ln() + (rss / nf).ln() + 1.0);
    let aic = -2.0 * log_likelihood + 2.0 * k as f64;
    let bic = -2.0 * log_likelihood + nf.ln() * k as f64;
    let gram_eigenvalues = symmetric_eigenvalues(ls.gram());
    let lmax = gram_eigenvalues.last().copied().unwrap_or(0.0);
    let lmin = gram_eigenvalues.first().copied().unwrap_or(0.0);
    let condition_number = if lmin > 0.0 {
        (lmax / lmin).sqrt()
    } else {
        f64::INFINITY
    };
    let dependent = ls
        .dependent
        .iter()
        .map(|(j, with)| {
            (
                names[*j].to_string(),
                with.iter().map(|i| names[*i].to_string()).collect(),
            )
        })
        .collect();
    Ols {
        coefficients,
        nobs: n,
        rank: k,
        has_constant,
        df_model,
        df_resid,
        rss,
        sigma: sigma2.map(f64::sqrt),
        r_squared,
        adj_r_squared,
        f_statistic,
        log_likelihood,
        aic,
        bic,
        condition_number,
        gram_eigenvalues,
        cov_type: cov,
        dependent,
        refinements: ls.refinements,
        tsqr: ls.is_compressed(),
        residuals: ls.residuals,
    }
}
