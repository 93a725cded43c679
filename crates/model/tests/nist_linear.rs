//! The 11 linear-regression sets of NIST's StRD against their certified values, through
//! `ols` with default options and through `ols_rows` (the design read as rows, TSQR where
//! it is well conditioned): every coefficient to LRE ≥ 9 (Filip, Wampler4 and Wampler5
//! ≥ 7), every standard error, the residual standard deviation and R² ≥ 7.

#[path = "../../../tests/nist/mod.rs"]
mod nist;

use model::{ols, ols_rows, CovType, Ols, Rows};
use nist::{lre, LINEAR};

#[test]
fn nist_linear_certified() {
    let mut failures = vec![];
    for name in LINEAR {
        let s = nist::load(name);
        let (mut names, cols, y, intercept) = nist::linear_design(&s);
        let n = y.len();
        let mut x: Vec<f64> = cols.concat();
        if intercept {
            names.insert(0, "(intercept)".into());
            let mut with = vec![1.0; n];
            with.extend(x);
            x = with;
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let fit = ols(&x, n, &refs, &y, CovType::Nonrobust).unwrap();
        // The same design as rows, the intercept last; its table turned to NIST's order.
        let d = cols.len();
        let rows: Vec<f64> = (0..n)
            .flat_map(|i| cols.iter().map(move |c| c[i]))
            .collect();
        let mut row_names: Vec<&str> = refs[usize::from(intercept)..].to_vec();
        if intercept {
            row_names.push("(intercept)");
        }
        let mut by_rows = ols_rows(
            Rows {
                x: &rows,
                n,
                d,
                intercept,
            },
            &row_names,
            &y,
            CovType::Nonrobust,
        )
        .unwrap();
        if intercept {
            by_rows.coefficients.rotate_right(1);
        }
        for (fit, how) in [(&fit, "ols"), (&by_rows, "ols_rows")] {
            check(name, fit, how, &s, intercept, &mut failures);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn check(
    name: &str,
    fit: &Ols,
    how: &str,
    s: &nist::Strd,
    intercept: bool,
    failures: &mut Vec<String>,
) {
    {
        let coef_min = if matches!(name, "Filip" | "Wampler4" | "Wampler5") {
            7.0
        } else {
            9.0
        };
        let mut worst = (f64::INFINITY, f64::INFINITY);
        for (c, (pname, est, sd)) in fit.coefficients.iter().zip(&s.params) {
            let b = lre(c.estimate.unwrap_or(f64::NAN), *est);
            let e = lre(c.std_error.unwrap_or(f64::NAN), *sd);
            worst = (worst.0.min(b), worst.1.min(e));
            if b < coef_min {
                failures.push(format!("{how} {name} {pname}: coefficient LRE {b:.1}"));
            }
            if e < 7.0 {
                failures.push(format!("{how} {name} {pname}: std error LRE {e:.1}"));
            }
        }
        let sd = lre(fit.sigma.unwrap(), s.residual_sd);
        let r2 = lre(fit.r_squared, s.r_squared.unwrap());
        if sd < 7.0 || r2 < 7.0 {
            failures.push(format!(
                "{how} {name}: residual sd LRE {sd:.1}, R² LRE {r2:.1}"
            ));
        }
        assert_eq!(fit.rank, s.params.len(), "{name}: full rank");
        assert_eq!(fit.has_constant, intercept, "{name}");
        eprintln!(
            "{how:<8} {name:<9} coef LRE ≥ {:.1}  se ≥ {:.1}  sd {sd:.1}  R² {r2:.1}  refinements {}",
            worst.0, worst.1, fit.refinements
        );
    }
}
