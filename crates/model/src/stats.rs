//! Standard errors, t statistics and confidence intervals for least-squares fits, as R's
//! `summary(lm)` and statsmodels print them, and the Student t distribution they need.
//!
//! For a model with predictions f(θ) and Jacobian J = ∂f/∂θ at the fit, the covariance
//! of the estimate is σ²(JᵀJ)⁻¹ with σ² = RSS/(n − p), computed from the R factor of a
//! column-pivoted QR of J (never a Cholesky of JᵀJ, which squares J's condition number).
//! For the linear model J is the design matrix with its column of ones, and this is
//! exactly the OLS formula; for a nonlinear formula it is the usual Gauss–Newton
//! (asymptotic) approximation, as R's `nls` reports.

use tape::Tensor;

/// One row of the coefficient table.
#[derive(Clone, Debug, PartialEq)]
pub struct CoefStat {
    /// Parameter name.
    pub name: String,
    /// The estimate.
    pub estimate: f64,
    /// Its standard error.
    pub std_error: f64,
    /// estimate / standard error.
    pub t: f64,
    /// Two-sided p-value of t under the Student t with `df` degrees of freedom.
    pub p_value: f64,
    /// The 95% confidence interval.
    pub ci95: (f64, f64),
}

/// The coefficient table of a least-squares fit.
#[derive(Clone, Debug, PartialEq)]
pub struct Inference {
    /// One row per parameter.
    pub coefficients: Vec<CoefStat>,
    /// Residual degrees of freedom, n − p.
    pub df: usize,
    /// Residual standard error σ̂ = √(RSS / df).
    pub sigma: f64,
}

/// Standard errors, t, p and 95% intervals from the Jacobian `[n, p]` of the predictions
/// at the estimate and the residuals there.
///
/// ```
/// use model::inference;
/// use tape::Tensor;
/// // y = b0 + b1·x on four points; J = [1 x].
/// let x = [1.0, 2.0, 3.0, 4.0];
/// let y = [2.0, 4.1, 5.9, 8.2];
/// let (b1, b0) = (2.04, -0.05); // the least-squares line
/// let j = Tensor::new(x.iter().flat_map(|&x| [1.0, x]).collect(), &[4, 2]);
/// let r: Vec<f64> = x.iter().zip(&y).map(|(x, y)| y - b0 - b1 * x).collect();
/// let inf = inference(&j, &r, &[b0, b1], &["(intercept)", "x"]).unwrap();
/// // se(b1) = σ / √Σ(x − x̄)² with Σ(x − x̄)² = 5
/// let sigma = (r.iter().map(|r| r * r).sum::<f64>() / 2.0).sqrt();
/// assert!((inf.coefficients[1].std_error - sigma / 5f64.sqrt()).abs() < 1e-12);
/// ```
pub fn inference(
    jacobian: &Tensor,
    residuals: &[f64],
    estimates: &[f64],
    names: &[&str],
) -> Result<Inference, String> {
    let (n, p) = (jacobian.shape()[0], jacobian.shape()[1]);
    if residuals.len() != n || estimates.len() != p || names.len() != p {
        return Err(format!(
            "inference: a Jacobian of shape [{n}, {p}] needs {n} residuals and {p} estimates and names"
        ));
    }
    if n <= p {
        return Err(format!(
            "{n} rows for {p} parameters leave no degrees of freedom for standard errors"
        ));
    }
    let df = n - p;
    let rss: f64 = residuals.iter().map(|r| r * r).sum();
    let sigma2 = rss / df as f64;
    let jd = jacobian.data();
    if jd.iter().any(|v| !v.is_finite()) {
        return Err(
            "the Jacobian at the estimate is not finite, so there are no standard errors".into(),
        );
    }
    let cm: Vec<f64> = crate::qr::column_major(jd, n, p);
    let qr = crate::lstsq::lstsq(&cm, n, p, &vec![0.0; n]);
    if qr.rank < p {
        let why: Vec<String> = qr
            .dependent
            .iter()
            .map(|(j, with)| {
                if with.is_empty() {
                    format!("{} has no effect on the predictions", names[*j])
                } else {
                    let w: Vec<&str> = with.iter().map(|i| names[*i]).collect();
                    format!(
                        "{} moves them as a combination of {} does",
                        names[*j],
                        w.join(", ")
                    )
                }
            })
            .collect();
        return Err(format!(
            "the parameters are not identifiable from the data at the estimate (the Jacobian has rank {} of {p}: {}), so they have no standard errors",
            qr.rank,
            why.join("; ")
        ));
    }
    let cov = qr.unscaled_cov();
    let tcrit = student_t_quantile(0.975, df as f64);
    let coefficients = (0..p)
        .map(|k| {
            let var = sigma2 * cov[k][k];
            let se = var.max(0.0).sqrt();
            let t = estimates[k] / se;
            CoefStat {
                name: names[k].to_string(),
                estimate: estimates[k],
                std_error: se,
                t,
                p_value: 2.0 * student_t_sf(t.abs(), df as f64),
                ci95: (estimates[k] - tcrit * se, estimates[k] + tcrit * se),
            }
        })
        .collect();
    Ok(Inference {
        coefficients,
        df,
        sigma: sigma2.sqrt(),
    })
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; about 15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let mut a = G[0];
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised incomplete beta function I_x(a, b), by Lentz's continued fraction.
pub fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    // The fraction converges fast for x < (a + 1)/(a + b + 2); use the symmetry otherwise.
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(1.0 - x, b, a);
    }
    let tiny = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    if d.abs() < tiny {
        d = tiny;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = m as f64;
        for step in 0..2 {
            let num = if step == 0 {
                m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m))
            } else {
                -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0))
            };
            d = 1.0 + num * d;
            if d.abs() < tiny {
                d = tiny;
            }
            c = 1.0 + num / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            h *= d * c;
            if step == 1 && (d * c - 1.0).abs() < 1e-16 {
                return ln_front.exp() * h / a;
            }
        }
    }
    ln_front.exp() * h / a
}

/// P(T > t) for Student's t with `df` degrees of freedom.
pub fn student_t_sf(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        return f64::NAN;
    }
    let tail = 0.5 * incomplete_beta(df / (df + t * t), df / 2.0, 0.5);
    if t >= 0.0 {
        tail
    } else {
        1.0 - tail
    }
}

/// P(F > f) for Snedecor's F with `d1` and `d2` degrees of freedom:
/// `I_{d2/(d2 + d1·f)}(d2/2, d1/2)`.
///
/// ```
/// // F(2, 2): P(F > f) = 1/(1 + f).
/// assert!((model::f_sf(3.0, 2.0, 2.0) - 0.25).abs() < 1e-14);
/// ```
pub fn f_sf(f: f64, d1: f64, d2: f64) -> f64 {
    if f.is_nan() {
        return f64::NAN;
    }
    if f <= 0.0 {
        return 1.0;
    }
    incomplete_beta(d2 / (d2 + d1 * f), d2 / 2.0, d1 / 2.0)
}

/// The p-quantile of Student's t with `df` degrees of freedom (0 < p < 1).
///
/// ```
/// // The 97.5% point that 95% intervals use; tables give 12.7062 for 1 degree of
/// // freedom and 2.2281 for 10.
/// assert!((model::student_t_quantile(0.975, 1.0) - 12.7062).abs() < 1e-4);
/// assert!((model::student_t_quantile(0.975, 10.0) - 2.2281).abs() < 1e-4);
/// ```
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    if p == 0.5 {
        return 0.0;
    }
    if p < 0.5 {
        return -student_t_quantile(1.0 - p, df);
    }
    // Bracket, then bisect on the survival function: monotone and safe for every df.
    let target = 1.0 - p;
    let (mut lo, mut hi) = (0.0, 1.0);
    while student_t_sf(hi, df) > target {
        hi *= 2.0;
        if hi > 1e12 {
            return f64::INFINITY;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if student_t_sf(mid, df) > target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-15 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_published_tables() {
        // Two-sided 95% critical values, from any statistics table (e.g. NIST/SEMATECH
        // e-Handbook 1.3.6.7.2), to the digits printed there.
        for (df, t) in [
            (1.0, 12.706),
            (2.0, 4.303),
            (5.0, 2.571),
            (10.0, 2.228),
            (30.0, 2.042),
            (100.0, 1.984),
        ] {
            let q = student_t_quantile(0.975, df);
            assert!((q - t).abs() < 5e-4, "df {df}: {q} vs {t}");
        }
        // Large df approaches the normal's 1.959964.
        assert!((student_t_quantile(0.975, 1e7) - 1.959964).abs() < 1e-5);
    }

    #[test]
    fn t_distribution_closed_forms() {
        // df = 1 is Cauchy: P(T > t) = 1/2 − atan(t)/π.
        for t in [0.1f64, 1.0, 3.0, 40.0] {
            let exact = 0.5 - t.atan() / std::f64::consts::PI;
            assert!((student_t_sf(t, 1.0) - exact).abs() < 1e-13, "t = {t}");
        }
        // df = 2: P(T > t) = 1/2 − t / (2√(t² + 2)).
        for t in [0.5, 2.0, 10.0] {
            let exact = 0.5 - t / (2.0 * (t * t + 2.0f64).sqrt());
            assert!((student_t_sf(t, 2.0) - exact).abs() < 1e-13, "t = {t}");
        }
        // Γ(5) = 24, Γ(1/2) = √π.
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
    }
}
