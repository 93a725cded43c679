//! Nonlinear least squares `min ½‖f(x)‖²` by Levenberg–Marquardt, as MINPACK's `lmder`
//! (Moré, "The Levenberg–Marquardt algorithm: implementation and theory", Numerical
//! Analysis, LNM 630, 1978; Moré, Garbow & Hillstrom, MINPACK-1, ANL-80-74): a trust
//! region in the variables scaled by the Jacobian's column norms, the step from a QR of
//! the Jacobian (column-pivoted, from `qr.rs`) and `lmpar`'s safeguarded Newton iteration
//! for the Levenberg parameter, with MINPACK's `ftol`, `xtol` and `gtol` tests. The
//! Jacobian is exact: the caller's (descent's forward mode through a formula). A step
//! whose residuals are NaN or infinite is rejected and the region shrunk, never taken.
//!
//! Also damped Gauss–Newton (Hartley 1961; R's `nls` default): the QR least-squares step,
//! halved until the sum of squares falls.

use crate::qr::{column_major, Qr};

/// Tolerances and limits, MINPACK's names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LmOptions {
    /// Stop when the actual and predicted relative reductions of the sum of squares are
    /// both at most this.
    pub ftol: f64,
    /// Stop when the trust region's radius is at most `xtol·‖D·x‖`.
    pub xtol: f64,
    /// Stop when the cosine of the angle between the residuals and every Jacobian
    /// column is at most this.
    pub gtol: f64,
    /// At most this many evaluations of the residuals.
    pub max_evaluations: usize,
    /// The first trust region's radius, as a multiple of `‖D·x₀‖` (MINPACK's `factor`).
    pub factor: f64,
}

impl Default for LmOptions {
    /// Tight enough that the parameters are found to about the precision the data allow
    /// (NIST's certified values to 6 or more digits): `ftol = xtol = 1e-15`, `gtol = 0`,
    /// 2,000 evaluations, `factor = 100`.
    fn default() -> LmOptions {
        LmOptions {
            ftol: 1e-15,
            xtol: 1e-15,
            gtol: 0.0,
            max_evaluations: 2000,
            factor: 100.0,
        }
    }
}

/// Why the solver stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LmStop {
    /// The relative reduction of the sum of squares is at most `ftol` (MINPACK info 1).
    Ftol,
    /// The relative change of the parameters is at most `xtol` (info 2).
    Xtol,
    /// Both (info 3).
    FtolAndXtol,
    /// The residuals are orthogonal to the Jacobian's columns within `gtol` (info 4).
    Gtol,
    /// No further reduction is possible in working precision (info 6, 7 and 8): the
    /// solution to machine precision.
    MachinePrecision,
    /// The evaluation limit was reached (info 5): not converged.
    MaxEvaluations,
    /// The residuals or the Jacobian at the start are not finite: not converged.
    NotFinite,
}

impl LmStop {
    /// True for the tests that mean convergence.
    pub fn converged(self) -> bool {
        !matches!(self, LmStop::MaxEvaluations | LmStop::NotFinite)
    }

    /// A sentence for reports.
    pub fn describe(self) -> &'static str {
        match self {
            LmStop::Ftol => "the relative reduction of the sum of squares fell below ftol",
            LmStop::Xtol => "the relative change of the parameters fell below xtol",
            LmStop::FtolAndXtol => {
                "the relative reduction of the sum of squares and the relative change of the parameters fell below ftol and xtol"
            }
            LmStop::Gtol => "the gradient's angle test passed (gtol)",
            LmStop::MachinePrecision => {
                "no further reduction of the sum of squares is possible in double precision"
            }
            LmStop::MaxEvaluations => "the evaluation limit was reached",
            LmStop::NotFinite => "the residuals or the Jacobian are not finite at the start",
        }
    }
}

/// The result of a fit.
#[derive(Clone, Debug, PartialEq)]
pub struct LmResult {
    /// The parameters.
    pub x: Vec<f64>,
    /// `‖f(x)‖`.
    pub fnorm: f64,
    /// Evaluations of the residuals.
    pub evaluations: usize,
    /// Evaluations of the Jacobian.
    pub jacobians: usize,
    /// Accepted steps.
    pub iterations: usize,
    /// Why it stopped.
    pub stop: LmStop,
}

/// The Euclidean norm (MINPACK's `enorm` scales against overflow; `hypot` folding does
/// the same).
fn enorm(x: &[f64]) -> f64 {
    let m = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if m == 0.0 || !m.is_finite() {
        return m;
    }
    m * x.iter().map(|v| (v / m) * (v / m)).sum::<f64>().sqrt()
}

/// Minimises `½‖f(x)‖²` from `x0`. `residuals(x)` gives `f(x)` (`m` values); `jacobian(x)`
/// gives `∂f/∂x` row-major (`m × n`). `m ≥ n`.
///
/// ```
/// use model::{levenberg_marquardt, LmOptions};
/// // Fit y = a·exp(b·t) to exact data from a = 2, b = -0.5.
/// let t = [0.0f64, 1.0, 2.0, 3.0, 4.0];
/// let y: Vec<f64> = t.iter().map(|t| 2.0 * (-0.5 * t).exp()).collect();
/// let f = |x: &[f64]| -> Vec<f64> { t.iter().zip(&y).map(|(t, y)| x[0] * (x[1] * t).exp() - y).collect() };
/// let j = |x: &[f64]| -> Vec<f64> {
///     t.iter().flat_map(|t| [(x[1] * t).exp(), x[0] * t * (x[1] * t).exp()]).collect()
/// };
/// let r = levenberg_marquardt(f, j, &[1.0, 0.0], &LmOptions::default());
/// assert!(r.stop.converged());
/// assert!((r.x[0] - 2.0).abs() < 1e-12 && (r.x[1] + 0.5).abs() < 1e-12);
/// ```
pub fn levenberg_marquardt(
    mut residuals: impl FnMut(&[f64]) -> Vec<f64>,
    mut jacobian: impl FnMut(&[f64]) -> Vec<f64>,
    x0: &[f64],
    opts: &LmOptions,
) -> LmResult {
    let n = x0.len();
    let eps = f64::EPSILON;
    let mut x = x0.to_vec();
    let mut fvec = residuals(&x);
    let m = fvec.len();
    let mut evaluations = 1;
    let mut jacobians = 0;
    let mut iterations = 0;
    let mut fnorm = enorm(&fvec);
    let done = |x: Vec<f64>, fnorm, evaluations, jacobians, iterations, stop| LmResult {
        x,
        fnorm,
        evaluations,
        jacobians,
        iterations,
        stop,
    };
    if !fnorm.is_finite() || m < n {
        return done(
            x,
            fnorm,
            evaluations,
            jacobians,
            iterations,
            LmStop::NotFinite,
        );
    }
    let mut par = 0.0;
    let mut diag = vec![0.0; n];
    let mut delta = 0.0;
    let mut xnorm = 0.0;
    let mut first = true;
    loop {
        let jac = jacobian(&x);
        jacobians += 1;
        if jac.iter().any(|v| !v.is_finite()) {
            return done(
                x,
                fnorm,
                evaluations,
                jacobians,
                iterations,
                LmStop::NotFinite,
            );
        }
        // Column-major for the QR, and the column norms.
        let cm: Vec<f64> = column_major(&jac, m, n);
        let acnorm: Vec<f64> = (0..n).map(|j| enorm(&cm[j * m..(j + 1) * m])).collect();
        let qr = Qr::new(cm, m, n);
        // R of J·P, unscaled (the scaling is by powers of two, so exactly).
        let r: Vec<Vec<f64>> = (0..n)
            .map(|i| (0..n).map(|j| qr.r(i, j) * qr.scale[qr.perm[j]]).collect())
            .collect();
        let ipvt = &qr.perm;
        if first {
            for j in 0..n {
                diag[j] = if acnorm[j] == 0.0 { 1.0 } else { acnorm[j] };
            }
            xnorm = enorm(&x.iter().zip(&diag).map(|(x, d)| x * d).collect::<Vec<_>>());
            delta = opts.factor * xnorm;
            if delta == 0.0 {
                delta = opts.factor;
            }
            first = false;
        }
        let mut qtf = fvec.clone();
        qr.apply_qt(n, &mut qtf);
        qtf.truncate(n);
        // The scaled gradient's largest cosine with the residuals.
        let mut gnorm: f64 = 0.0;
        if fnorm != 0.0 {
            for j in 0..n {
                let l = ipvt[j];
                if acnorm[l] != 0.0 {
                    let sum: f64 = (0..=j).map(|i| r[i][j] * (qtf[i] / fnorm)).sum();
                    gnorm = gnorm.max((sum / acnorm[l]).abs());
                }
            }
        }
        if gnorm <= opts.gtol {
            return done(x, fnorm, evaluations, jacobians, iterations, LmStop::Gtol);
        }
        for j in 0..n {
            diag[j] = diag[j].max(acnorm[j]);
        }
        loop {
            let mut r_work = r.clone();
            let step = lmpar(&mut r_work, ipvt, &diag, &qtf, delta, &mut par);
            let p: Vec<f64> = step.iter().map(|v| -v).collect();
            let trial: Vec<f64> = x.iter().zip(&p).map(|(x, p)| x + p).collect();
            let pnorm = enorm(&p.iter().zip(&diag).map(|(p, d)| p * d).collect::<Vec<_>>());
            if iterations == 0 {
                delta = delta.min(pnorm);
            }
            let f_trial = residuals(&trial);
            evaluations += 1;
            let fnorm1 = enorm(&f_trial);
            // A NaN or infinite trial is no reduction at all: the region shrinks.
            let actred = if fnorm1.is_finite() && 0.1 * fnorm1 < fnorm {
                1.0 - (fnorm1 / fnorm).powi(2)
            } else {
                -1.0
            };
            // Predicted reduction from the linear model.
            let mut jp = vec![0.0; n];
            for j in 0..n {
                let temp = p[ipvt[j]];
                for i in 0..=j {
                    jp[i] += r[i][j] * temp;
                }
            }
            let temp1 = enorm(&jp) / fnorm;
            let temp2 = par.sqrt() * pnorm / fnorm;
            let prered = temp1 * temp1 + temp2 * temp2 / 0.5;
            let dirder = -(temp1 * temp1 + temp2 * temp2);
            let ratio = if prered != 0.0 { actred / prered } else { 0.0 };
            if ratio <= 0.25 {
                let mut temp = if actred >= 0.0 {
                    0.5
                } else {
                    0.5 * dirder / (dirder + 0.5 * actred)
                };
                if !fnorm1.is_finite() || 0.1 * fnorm1 >= fnorm || temp < 0.1 {
                    temp = 0.1;
                }
                delta = temp * delta.min(pnorm / 0.1);
                par /= temp;
            } else if par == 0.0 || ratio >= 0.75 {
                delta = pnorm / 0.5;
                par *= 0.5;
            }
            let accepted = ratio >= 1e-4;
            if accepted {
                x = trial;
                fvec = f_trial;
                xnorm = enorm(&x.iter().zip(&diag).map(|(x, d)| x * d).collect::<Vec<_>>());
                fnorm = fnorm1;
                iterations += 1;
            }
            let f_ok = actred.abs() <= opts.ftol && prered <= opts.ftol && 0.5 * ratio <= 1.0;
            let x_ok = delta <= opts.xtol * xnorm;
            let stop = match (f_ok, x_ok) {
                (true, true) => Some(LmStop::FtolAndXtol),
                (true, false) => Some(LmStop::Ftol),
                (false, true) => Some(LmStop::Xtol),
                _ if evaluations >= opts.max_evaluations => Some(LmStop::MaxEvaluations),
                _ if (actred.abs() <= eps && prered <= eps && 0.5 * ratio <= 1.0)
                    || delta <= eps * xnorm
                    || gnorm <= eps =>
                {
                    Some(LmStop::MachinePrecision)
                }
                _ => None,
            };
            if let Some(stop) = stop {
                if stop.converged() {
                    // Polish: Gauss–Newton steps from the converged point while they
                    // lower the sum of squares, so that the parameters are the
                    // minimiser to the precision the residuals allow.
                    for _ in 0..5 {
                        let jac = jacobian(&x);
                        jacobians += 1;
                        let cm: Vec<f64> = column_major(&jac, m, n).iter().map(|v| -v).collect();
                        let d = crate::lstsq::lstsq(&cm, m, n, &fvec);
                        let trial: Vec<f64> = x
                            .iter()
                            .zip(&d.coef)
                            .map(|(x, d)| x + d.unwrap_or(0.0))
                            .collect();
                        let ft = residuals(&trial);
                        evaluations += 1;
                        let fn1 = enorm(&ft);
                        if fn1.is_nan() || fn1 >= fnorm {
                            break;
                        }
                        x = trial;
                        fvec = ft;
                        fnorm = fn1;
                    }
                }
                return done(x, fnorm, evaluations, jacobians, iterations, stop);
            }
            if accepted {
                break;
            }
        }
    }
}

/// MINPACK's `lmpar`: the Levenberg parameter `par` for which the step
/// `x = argmin ‖J·x + f‖² + par·‖D·x‖²` has `‖D·x‖` within 10% of `delta` (or `par = 0`
/// when the Gauss–Newton step is inside the region). `r` is `R` of `J·P` (upper triangle;
/// its strict lower triangle is overwritten), `qtb` is `Qᵀf`. Returns the step `x`.
fn lmpar(
    r: &mut [Vec<f64>],
    ipvt: &[usize],
    diag: &[f64],
    qtb: &[f64],
    delta: f64,
    par: &mut f64,
) -> Vec<f64> {
    let n = r.len();
    let dwarf = f64::MIN_POSITIVE;
    // The Gauss–Newton direction (least squares if R is singular).
    let mut wa1 = qtb.to_vec();
    let mut nsing = n;
    for j in 0..n {
        if r[j][j] == 0.0 && nsing == n {
            nsing = j;
        }
        if nsing < n {
            wa1[j] = 0.0;
        }
    }
    for k in (0..nsing).rev() {
        wa1[k] /= r[k][k];
        let temp = wa1[k];
        for i in 0..k {
            wa1[i] -= r[i][k] * temp;
        }
    }
    let mut x = vec![0.0; n];
    for j in 0..n {
        x[ipvt[j]] = wa1[j];
    }
    let mut wa2: Vec<f64> = (0..n).map(|j| diag[j] * x[j]).collect();
    let mut dxnorm = enorm(&wa2);
    let mut fp = dxnorm - delta;
    if fp <= 0.1 * delta {
        *par = 0.0;
        return x;
    }
    // A lower bound for par from the Newton step (zero if the Jacobian is singular).
    let mut parl = 0.0;
    if nsing >= n {
        for j in 0..n {
            let l = ipvt[j];
            wa1[j] = diag[l] * (wa2[l] / dxnorm);
        }
        for j in 0..n {
            let sum: f64 = (0..j).map(|i| r[i][j] * wa1[i]).sum();
            wa1[j] = (wa1[j] - sum) / r[j][j];
        }
        let temp = enorm(&wa1);
        parl = ((fp / delta) / temp) / temp;
    }
    // An upper bound.
    for j in 0..n {
        let sum: f64 = (0..=j).map(|i| r[i][j] * qtb[i]).sum();
        wa1[j] = sum / diag[ipvt[j]];
    }
    let gnorm = enorm(&wa1);
    let mut paru = gnorm / delta;
    if paru == 0.0 {
        paru = dwarf / delta.min(0.1);
    }
    *par = par.max(parl).min(paru);
    if *par == 0.0 {
        *par = gnorm / dxnorm;
    }
    let mut sdiag = vec![0.0; n];
    for iter in 1.. {
        if *par == 0.0 {
            *par = dwarf.max(0.001 * paru);
        }
        let temp = par.sqrt();
        let d: Vec<f64> = diag.iter().map(|v| temp * v).collect();
        qrsolv(r, ipvt, &d, qtb, &mut x, &mut sdiag);
        wa2 = (0..n).map(|j| diag[j] * x[j]).collect();
        dxnorm = enorm(&wa2);
        let temp = fp;
        fp = dxnorm - delta;
        if fp.abs() <= 0.1 * delta || (parl == 0.0 && fp <= temp && temp < 0.0) || iter == 10 {
            break;
        }
        // Newton's correction.
        for j in 0..n {
            let l = ipvt[j];
            wa1[j] = diag[l] * (wa2[l] / dxnorm);
        }
        for j in 0..n {
            wa1[j] /= sdiag[j];
            let temp = wa1[j];
            for i in j + 1..n {
                wa1[i] -= r[i][j] * temp;
            }
        }
        let temp = enorm(&wa1);
        let parc = ((fp / delta) / temp) / temp;
        if fp > 0.0 {
            parl = parl.max(*par);
        }
        if fp < 0.0 {
            paru = paru.min(*par);
        }
        *par = parl.max(*par + parc);
    }
    x
}

/// MINPACK's `qrsolv`: solves `[R; D·P]·z ≈ [Qᵀb; 0]` by Givens rotations that eliminate
/// the diagonal `D`, keeping `R`'s upper triangle and leaving `S` (with `SᵀS = PᵀJᵀJP +
/// PᵀD²P`) in `r`'s strict lower triangle and `sdiag`.
fn qrsolv(
    r: &mut [Vec<f64>],
    ipvt: &[usize],
    diag: &[f64],
    qtb: &[f64],
    x: &mut [f64],
    sdiag: &mut [f64],
) {
    let n = r.len();
    let mut wa = qtb.to_vec();
    for j in 0..n {
        for i in j..n {
            r[i][j] = r[j][i];
        }
        x[j] = r[j][j];
    }
    for j in 0..n {
        let l = ipvt[j];
        if diag[l] != 0.0 {
            sdiag[j..].iter_mut().for_each(|v| *v = 0.0);
            sdiag[j] = diag[l];
            let mut qtbpj = 0.0;
            for k in j..n {
                if sdiag[k] == 0.0 {
                    continue;
                }
                let (sin, cos) = if r[k][k].abs() < sdiag[k].abs() {
                    let cotan = r[k][k] / sdiag[k];
                    let sin = 0.5 / (0.25 + 0.25 * cotan * cotan).sqrt();
                    (sin, sin * cotan)
                } else {
                    let tan = sdiag[k] / r[k][k];
                    let cos = 0.5 / (0.25 + 0.25 * tan * tan).sqrt();
                    (cos * tan, cos)
                };
                r[k][k] = cos * r[k][k] + sin * sdiag[k];
                let temp = cos * wa[k] + sin * qtbpj;
                qtbpj = -sin * wa[k] + cos * qtbpj;
                wa[k] = temp;
                for i in k + 1..n {
                    let temp = cos * r[i][k] + sin * sdiag[i];
                    sdiag[i] = -sin * r[i][k] + cos * sdiag[i];
                    r[i][k] = temp;
                }
            }
        }
        sdiag[j] = r[j][j];
        r[j][j] = x[j];
    }
    let mut nsing = n;
    for j in 0..n {
        if sdiag[j] == 0.0 && nsing == n {
            nsing = j;
        }
        if nsing < n {
            wa[j] = 0.0;
        }
    }
    for k in (0..nsing).rev() {
        let sum: f64 = (k + 1..nsing).map(|i| r[i][k] * wa[i]).sum();
        wa[k] = (wa[k] - sum) / sdiag[k];
    }
    for j in 0..n {
        x[ipvt[j]] = wa[j];
    }
}

/// Damped Gauss–Newton: the least-squares step `δ = argmin ‖J·δ + f‖` (refined, pivoted
/// QR), halved up to 30 times until the sum of squares falls; stops as
/// [`levenberg_marquardt`] does on `ftol` and `xtol` (relative reduction of the sum of
/// squares, relative size of the step).
pub fn gauss_newton(
    mut residuals: impl FnMut(&[f64]) -> Vec<f64>,
    mut jacobian: impl FnMut(&[f64]) -> Vec<f64>,
    x0: &[f64],
    opts: &LmOptions,
) -> LmResult {
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut f = residuals(&x);
    let m = f.len();
    let (mut evaluations, mut jacobians, mut iterations) = (1, 0, 0);
    let mut fnorm = enorm(&f);
    let done = |x, fnorm, evaluations, jacobians, iterations, stop| LmResult {
        x,
        fnorm,
        evaluations,
        jacobians,
        iterations,
        stop,
    };
    if !fnorm.is_finite() || m < n {
        return done(
            x,
            fnorm,
            evaluations,
            jacobians,
            iterations,
            LmStop::NotFinite,
        );
    }
    loop {
        let jac = jacobian(&x);
        jacobians += 1;
        if jac.iter().any(|v| !v.is_finite()) {
            return done(
                x,
                fnorm,
                evaluations,
                jacobians,
                iterations,
                LmStop::NotFinite,
            );
        }
        let cm: Vec<f64> = column_major(&jac, m, n).iter().map(|v| -v).collect();
        let step = crate::lstsq::lstsq(&cm, m, n, &f);
        let delta: Vec<f64> = step.coef.iter().map(|v| v.unwrap_or(0.0)).collect();
        let mut t = 1.0;
        let mut moved = false;
        for _ in 0..30 {
            let trial: Vec<f64> = x.iter().zip(&delta).map(|(x, d)| x + t * d).collect();
            let ft = residuals(&trial);
            evaluations += 1;
            let fnorm1 = enorm(&ft);
            if fnorm1.is_finite() && fnorm1 <= fnorm {
                let reduction = 1.0 - (fnorm1 / fnorm).powi(2);
                let size = enorm(&delta) * t;
                let xnorm = enorm(&trial);
                x = trial;
                f = ft;
                fnorm = fnorm1;
                iterations += 1;
                moved = true;
                let f_ok = reduction.abs() <= opts.ftol;
                let x_ok = size <= opts.xtol * xnorm;
                let stop = match (f_ok, x_ok) {
                    (true, true) => Some(LmStop::FtolAndXtol),
                    (true, false) => Some(LmStop::Ftol),
                    (false, true) => Some(LmStop::Xtol),
                    _ => None,
                };
                if let Some(stop) = stop {
                    return done(x, fnorm, evaluations, jacobians, iterations, stop);
                }
                break;
            }
            t *= 0.5;
        }
        if !moved {
            // No step of any length lowers the sum of squares: the minimum to precision.
            return done(
                x,
                fnorm,
                evaluations,
                jacobians,
                iterations,
                LmStop::MachinePrecision,
            );
        }
        if evaluations >= opts.max_evaluations {
            return done(
                x,
                fnorm,
                evaluations,
                jacobians,
                iterations,
                LmStop::MaxEvaluations,
            );
        }
    }
}
