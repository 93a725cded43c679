//! `descent fit --stream`: the linear model fitted over a file that is read once, in
//! batches, and never held: least squares by TSQR (`model::StreamedOls`), its classical
//! report, and gradient descent on the rows' sufficient statistics, whose mean squared
//! error equals the file's for every coefficient vector, so each step is the full-batch
//! step over every row without reading them again. Memory does not depend on the number
//! of rows.

use super::{close_enough, parse_init_linear, print_solution, OptArg, SeArg, Solution};
use super::{Fail, Fit};
use crate::cli::io::num;
use model::*;
use serde_json::json;
use std::time::Instant;

/// What `--stream` cannot do, and why, or nothing.
fn refused(f: &Fit) -> Option<String> {
    let why = |option: &str, because: &str| Some(format!("--stream: {option} {because}"));
    if f.model.is_some() {
        return why(
            "--model",
            "is fitted by Levenberg-Marquardt on the rows: drop --stream",
        );
    }
    if f.data.standardize {
        return why("--standardize", "needs the columns' means and deviations before the first row is used: scale the columns first, or drop --stream");
    }
    if f.split.len() > 1 {
        return why(
            "--split",
            "needs the row count before the first row is used: drop --stream",
        );
    }
    if !matches!(f.se, SeArg::Nonrobust) {
        return why(
            "--se",
            "needs each row's leverage, a second pass over the rows: drop --stream",
        );
    }
    if f.plot.is_some() {
        return why(
            "--plot",
            "draws the rows, which are not kept: drop --stream",
        );
    }
    if f.batch_size.is_some() || f.epochs.is_some() {
        return why("--batch-size and --epochs", "take mini-batches of rows, which are not kept: --stream takes full-batch steps (--iters)");
    }
    if f.l1 > 0.0 || f.l2 > 0.0 {
        return why(
            "--l1 and --l2",
            "are not fitted when streaming: drop --stream",
        );
    }
    if !f.data.reference.is_empty() {
        return why("--reference", "applies to text columns, which --stream does not read (their levels are not known until the end): drop --stream");
    }
    if matches!(f.optimizer, Some(OptArg::Lm | OptArg::GaussNewton)) {
        return why(
            "--optimizer lm and gauss-newton",
            "fit formulas: drop --stream",
        );
    }
    None
}

pub(in crate::cli) fn fit_stream(f: &Fit) -> Result<(), Fail> {
    if let Some(why) = refused(f) {
        return Err(Fail::input(why));
    }
    let Some(target) = &f.data.target else {
        return Err(Fail::input(
            "give the column to predict with --target COLUMN",
        ));
    };
    let opts = CsvOptions {
        header: None,
        target: target.as_str().into(),
        features: f
            .data
            .features
            .as_ref()
            .map(|v| v.iter().map(|s| s.as_str().into()).collect()),
        missing: f.data.missing.into(),
        delimiter: f.data.delimiter()?,
        categorical: false,
        reference: vec![],
    };
    let intercept = !f.no_intercept;
    let file = &f.data.file;
    let mut fit: Option<StreamedOls> = None;
    let (features, target, rows) = stream_csv(
        crate::cli::io::open(file)?,
        crate::cli::io::display(file),
        &opts,
        &mut |batch, k| {
            fit.get_or_insert_with(|| StreamedOls::new(k - 1, intercept))
                .push(batch);
            Ok(())
        },
    )
    .map_err(|e| e.to_string())?;
    crate::cli::args::check_names(file, &target, &features)?;
    let fit = fit.expect("a table with rows handed them over");
    debug_assert_eq!(fit.rows(), rows);
    for (name, big) in features.iter().chain([&target]).zip(fit.largest()) {
        if *big > 1e150 {
            return Err(Fail::numerical(format!(
                "column '{name}' reaches {}: its squares overflow double precision, so the sums of squares cannot be computed; rescale it",
                tape::fmt_g(*big)
            )));
        }
    }
    let mut names: Vec<String> = features.clone();
    if intercept {
        names.push(INTERCEPT.to_string());
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let o = fit.finish(&refs).map_err(Fail::numerical)?;
    let estimates: Vec<Option<f64>> = o.coefficients.iter().map(|c| c.estimate).collect();

    // Gradient descent on the sufficient statistics: the design's columns, the
    // intercept's included, as features of a model without one.
    let iters = f.iters.unwrap_or(1000);
    let tol = f.tol.unwrap_or(1e-10);
    let data = fit.sufficient_rows(&names, &target);
    let start = parse_init_linear(
        f.init.as_deref().unwrap_or("zeros"),
        features.len(),
        intercept,
    )?;
    let mut theta = start.weights();
    if intercept {
        theta.push(start.bias());
    }
    let mut lin = Linear::without_intercept(&theta);
    let curv = curvature(&lin, &data, 0.0).map_err(|e| Fail::numerical(e.to_string()))?;
    let optimizer = f.optimizer.unwrap_or(OptArg::Sgd);
    let lr = match (f.lr, optimizer) {
        (Some(lr), _) => lr,
        (None, OptArg::Adam) => fit.column_rms()[names.len()] / 100.0,
        (None, _) if curv.lambda_max > 0.0 && curv.lambda_max.is_finite() => curv.safe_lr(),
        (None, _) => {
            return Err(Fail::numerical(
                "cannot take a default step: the loss's curvature is not positive and finite (give --lr)",
            ))
        }
    };
    let mut opt: Box<dyn Optimizer> = match optimizer {
        OptArg::Momentum => Box::new(Momentum::new(lr, 0.9)),
        OptArg::Adam => Box::new(Adam::new(lr)),
        _ => Box::new(Sgd::new(lr)),
    };
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(iters),
        tol: (tol > 0.0).then_some(tol),
        ..Default::default()
    };
    let clock = Instant::now();
    let history = train(&mut lin, opt.as_mut(), &data, None, &cfg, |_| {})
        .map_err(|e| Fail::numerical(e.to_string()))?;
    let seconds = clock.elapsed().as_secs_f64();
    let theta = lin.weights();
    let descent_mse = evaluate(&lin, &data);
    let rms = fit.column_rms();
    let target_rms = rms[names.len()];
    let coefficients: Vec<(String, f64)> =
        names.iter().cloned().zip(theta.iter().copied()).collect();
    let gaps: Vec<Option<(f64, bool)>> = coefficients
        .iter()
        .enumerate()
        .map(|(j, (_, v))| {
            estimates[j].map(|want| (v - want, close_enough(*v, want, rms[j], target_rms)))
        })
        .collect();
    let reached = gaps.iter().all(|g| g.is_none_or(|g| g.1));
    let mse = o.rss / rows as f64;

    if f.data.json {
        let coefs: Vec<serde_json::Value> = o
            .coefficients
            .iter()
            .zip(&theta)
            .map(|(c, d)| {
                json!({
                    "name": c.name,
                    "estimate": c.estimate.map(num),
                    "std_error": c.std_error.map(num),
                    "t": c.t.map(num),
                    "p_value": c.p_value.map(num),
                    "ci95": c.ci95.map(|(a, b)| vec![num(a), num(b)]),
                    "descent": num(*d),
                })
            })
            .collect();
        let doc = json!({
            "method": "least squares (TSQR, one pass)",
            "target": target,
            "rows": rows,
            "coefficients": coefs,
            "residual_std_error": o.sigma.map(num),
            "df": o.df_resid,
            "statistics": {
                "r_squared": num(o.r_squared),
                "adj_r_squared": o.adj_r_squared.map(num),
                "f": o.f_statistic.map(|(v, p)| json!({"value": num(v), "p_value": num(p)})),
                "log_likelihood": num(o.log_likelihood),
                "aic": num(o.aic),
                "bic": num(o.bic),
                "condition_number": num(o.condition_number),
            },
            "metrics": {"train": {"mse": num(mse), "rmse": num(mse.sqrt()), "r2": num(o.r_squared)}},
            "descent_mse": num(descent_mse),
            "iterations": history.iterations,
            "converged": history.converged,
            "reached_closed_form": reached,
            "learning_rate": num(lr),
        });
        out!("{doc}");
    } else {
        out!("{rows} rows streamed from {file} (the rows are not kept)");
        print_solution(
            &Solution {
                method: "least squares (TSQR in one pass)",
                beside: "gradient descent on the file's sufficient statistics",
                label: "descent",
                ols: Some(&o),
                estimates: &estimates,
            },
            &coefficients,
            &gaps,
        );
        if history.iterations == 0 {
            out!(
                "\ngradient descent was not run (--iters 0): its column holds the starting values"
            );
        } else if reached {
            out!("\ndescent reached the solution: every coefficient within 1e-4 of it (relative), or moving the predictions by at most 1e-6 of the target's scale");
        } else {
            out!("\nnote: descent has not reached the solution; the table's statistics are at the solution. Try more --iters, or another --lr");
        }
        out!("descent's training MSE {}", tape::fmt_g(descent_mse));
        out!(
            "\ntrain  MSE {:<12} RMSE {:<12} R² {}",
            tape::fmt_g(mse),
            tape::fmt_g(mse.sqrt()),
            tape::fmt_g(o.r_squared)
        );
        out!(
            "(metrics at the exact solution; the MAE needs the rows, which --stream does not keep)"
        );
        let stop = if history.converged {
            format!(
                "converged: loss and parameters changed by less than {} (relative)",
                tape::fmt_g(tol)
            )
        } else {
            format!(
                "stopped at the iteration limit before the convergence test (--tol {}) passed",
                tape::fmt_g(tol)
            )
        };
        out!(
            "\ndescent: {} full-batch iterations of {} at lr {}, {:.3} s, each the gradient over all {rows} rows from R of [X 1 y]; {stop}; Hessian λmax {}, λmin {}",
            history.iterations,
            opt.name(),
            tape::fmt_g(lr),
            seconds,
            tape::fmt_g(curv.lambda_max),
            tape::fmt_g(curv.lambda_min),
        );
    }
    if let Some(path) = &f.save {
        let parameters: Vec<(String, f64)> = names
            .iter()
            .cloned()
            .zip(estimates.iter().zip(&theta).map(|(e, d)| e.unwrap_or(*d)))
            .collect();
        let saved = SavedModel::linear(&target, &features, &[], intercept, &parameters);
        crate::cli::io::write_atomic(path, saved.to_json().as_bytes(), &[file])
            .map_err(|e| format!("--save {e}"))?;
        if !f.data.json {
            out!("model saved to {path}");
        }
    }
    Ok(())
}
