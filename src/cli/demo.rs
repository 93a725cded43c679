//! The demo: the hours-studied tutorial on data descent generates, fitted, checked and
//! drawn.

use super::plot;
use model::*;
use tape::prelude::*;

/// Plain gradient descent on the linear model, recording the loss and the (m, b) path.
fn descend(data: &Dataset, lr: f64, iters: usize) -> (Linear, Vec<f64>, Vec<(f64, f64)>) {
    let mut lin = Linear::new(1, 1, Init::Zeros);
    let mut path = vec![(0.0, 0.0)];
    let mut losses = Vec::with_capacity(iters);
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(iters),
        log_every: 1,
        ..Default::default()
    };
    let _ = train(&mut lin, &mut Sgd::new(lr), data, None, &cfg, |p| {
        losses.push(p.loss);
        path.push((p.params["weight"].item(), p.params["bias"].item()));
    });
    (lin, losses, path)
}

/// The demo on data descent generates: the hours-studied tutorial, fitted, checked and
/// drawn into `dir`.
/// The demo's picture folder: `dir` when it does not exist yet or is one descent made
/// (it holds the marker file), else the first of `dir-2`, `dir-3`, … that is: the demo
/// never replaces a file the user did not ask for.
fn own_folder(dir: &str) -> Result<String, String> {
    const MARK: &str = ".descent-pictures";
    for k in 1..1000 {
        let name = if k == 1 {
            dir.to_string()
        } else {
            format!("{dir}-{k}")
        };
        let path = std::path::Path::new(&name);
        if path.join(MARK).exists() {
            return Ok(name);
        }
        if !path.exists() {
            std::fs::create_dir_all(path).map_err(|e| format!("--plot {name}: {e}"))?;
            std::fs::write(path.join(MARK), "pictures written by descent's demo\n")
                .map_err(|e| format!("--plot {name}: {e}"))?;
            return Ok(name);
        }
    }
    Err(format!("--plot {dir}: no free folder name beside it"))
}

pub(super) fn demo(dir: &str, force: bool) -> Result<(), String> {
    let dir = &if force {
        dir.to_string()
    } else {
        own_folder(dir)?
    };
    plot::REPLACE.store(true, std::sync::atomic::Ordering::Relaxed);
    let data = synthetic(100, &[1.32], 7.9, 10.0, (25.0, 70.0), 2017);
    out!("descent demo: 100 (hours studied, test score) points, generated with seed 2017\n");
    let lin = Linear::new(1, 1, Init::Zeros);
    let curv = curvature(&lin, &data, 0.0)?;
    out!(
        "Hessian of the MSE: λmax = {}, λmin = {} (condition number {:.0});\nlargest stable learning rate {}, best constant step {}\n",
        tape::fmt_g(curv.lambda_max),
        tape::fmt_g(curv.lambda_min),
        curv.condition_number(),
        tape::fmt_g(curv.max_stable_lr()),
        tape::fmt_g(curv.best_lr())
    );
    let tape = Tape::new();
    let p = lin.bind(&tape);
    let grads = objective(&lin, &p, &data, 0.0, 0.0).backward();
    let (hw, hb) = mse_gradient(&data.rows(), data.y.data(), &[0.0], 0.0);
    out!("Gradient at m = 0, b = 0:");
    out!("  {:<8} {:>16} {:>16}", "", "by hand", "backward()");
    out!(
        "  {:<8} {:>16.6} {:>16.6}",
        "dC/dm",
        hw[0],
        grads.get(p["weight"]).item()
    );
    out!(
        "  {:<8} {:>16.6} {:>16.6}\n",
        "dC/db",
        hb,
        grads.get(p["bias"]).item()
    );
    drop(grads);

    let (cw, cb) = least_squares(&data, 0.0, Solver::Qr)?;
    let optimum = metrics(
        &Linear::from_coefficients(&cw, cb).predict(&data.x),
        &data.y,
    )
    .mse;
    // Raw hours make the loss a long narrow valley (the condition number above): plain
    // descent at 1/λmax drops to the valley floor at once, then crawls along it.
    let (raw_fit, raw_losses, raw_path) = descend(&data, curv.safe_lr(), 1000);
    out!(
        "Raw hours, 1000 iterations at 1/λmax = {}: score = {:.4}·hours + {:.4}, MSE {} (optimum {})",
        tape::fmt_g(curv.safe_lr()),
        raw_fit.weights()[0],
        raw_fit.bias(),
        tape::fmt_g(*raw_losses.last().unwrap_or(&f64::NAN)),
        tape::fmt_g(optimum)
    );

    // Standardising the feature makes the valley round.
    let scaler = Standardizer::fit(&data.x);
    let std_data = scaler.apply(&data);
    let mut lin = Linear::new(1, 1, Init::Zeros);
    let c = curvature(&lin, &std_data, 0.0)?;
    out!(
        "Standardised hours: condition number {:.1}; training at the best step {}:",
        c.condition_number(),
        tape::fmt_g(c.best_lr())
    );
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(5),
        log_every: 1,
        ..Default::default()
    };
    let mut std_losses = vec![];
    let h = train(
        &mut lin,
        &mut Sgd::new(c.best_lr()),
        &std_data,
        None,
        &cfg,
        |p| {
            std_losses.push(p.loss);
            out!(
                "  iteration {:>4}: MSE {}",
                p.iteration,
                tape::fmt_g(p.loss)
            );
        },
    )
    .map_err(|e| e.to_string())?;
    let (w, b) = scaler.to_original(&lin.weights(), lin.bias());
    let m = metrics(&lin.predict(&std_data.x), &data.y);
    out!(
        "\nAfter {} iterations: score = {:.4}·hours + {:.4}   (closed form: {:.4}·hours + {:.4})",
        h.iterations,
        w[0],
        b,
        cw[0],
        cb
    );
    out!("MSE {}, R² {}", tape::fmt_g(m.mse), tape::fmt_g(m.r2));

    // Learning rates around the edge of stability: too small crawls, too large diverges.
    let edge = curv.max_stable_lr();
    let rates = [edge * 0.001, curv.safe_lr(), edge * 0.95, edge * 1.02];
    let mut curves = Vec::new();
    for lr in rates {
        let (_, losses, _) = descend(&data, lr, 300);
        curves.push((lr, losses));
    }
    pictures(
        dir,
        &data,
        (w[0], b),
        (&raw_losses, &std_losses),
        &raw_path,
        optimum,
        &curves,
    )?;
    // The tape of the loss at m = b = 0, with its gradients: the computation drawn.
    let mut f =
        Formula::parse("score = m*hours + b", &["hours", "score"]).map_err(|e| e.to_string())?;
    f.set("m", 0.0)?;
    f.set("b", 0.0)?;
    let tape = Tape::new();
    let bound = Bound::new(&tape, f.named_parameters());
    let grads = objective(&f, &bound, &data, 0.0, 0.0).backward();
    plot::svg_picture(&format!("{dir}/graph.svg"), &tape.to_svg(Some(&grads)))?;
    out!("\nPictures written to {dir}/: fit.svg, loss.svg, surface.svg, sweep.svg, graph.svg");
    Ok(())
}

#[allow(clippy::type_complexity)]
fn pictures(
    dir: &str,
    data: &Dataset,
    (m, b): (f64, f64),
    (raw, standardised): (&[f64], &[f64]),
    path: &[(f64, f64)],
    optimum: f64,
    sweep: &[(f64, Vec<f64>)],
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("--plot {dir}: {e}"))?;
    let xs = data.x.data();
    let pts: Vec<(f64, f64)> = xs
        .iter()
        .copied()
        .zip(data.y.data().iter().copied())
        .collect();
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, c), &x| {
            (a.min(x), c.max(x))
        });
    plot::scatter_line(
        &format!("{dir}/fit.svg"),
        "Test score against hours studied, and the fitted line",
        ("hours", "score"),
        &pts,
        &[(lo, m * lo + b), (hi, m * hi + b)],
    )?;
    let curve = |v: &[f64]| v.iter().enumerate().map(|(i, l)| (i as f64, *l)).collect();
    plot::loss_curves(
        &format!("{dir}/loss.svg"),
        "MSE by iteration: raw against standardised hours",
        &[
            ("raw hours, lr 1/λmax".to_string(), curve(raw)),
            ("standardised hours".to_string(), curve(standardised)),
        ],
        Some(optimum),
    )?;
    let n = data.len() as f64;
    let (sx, sy) = (xs.iter().sum::<f64>(), data.y.data().iter().sum::<f64>());
    let sxx: f64 = xs.iter().map(|x| x * x).sum();
    let syy: f64 = data.y.data().iter().map(|y| y * y).sum();
    let sxy: f64 = xs.iter().zip(data.y.data()).map(|(x, y)| x * y).sum();
    // MSE(m, b) of a line is a quadratic in (m, b) with these sums as coefficients.
    let mse = |m: f64, b: f64| {
        (syy - 2.0 * m * sxy - 2.0 * b * sy + m * m * sxx + 2.0 * m * b * sx + n * b * b) / n
    };
    // The minimum of the quadratic, for the picture's axes and marker.
    let det = n * sxx - sx * sx;
    let (m0, b0) = ((n * sxy - sx * sy) / det, (sxx * sy - sx * sxy) / det);
    plot::contours(
        &format!("{dir}/surface.svg"),
        "MSE over (m, b) for raw hours: a long valley, and the path descent took",
        ("m (points per hour)", "b (intercept)"),
        &mse,
        (-0.1, m0 * 1.25),
        (
            b0.min(0.0) - 0.5 * b0.abs() - 1.0,
            b0.max(0.0) + 0.5 * b0.abs() + 1.0,
        ),
        &[("gradient descent, 1000 steps".to_string(), path.to_vec())],
        Some((m0, b0)),
    )?;
    let series: Vec<(f64, Vec<f64>)> = sweep.to_vec();
    plot::sweep_picture(&series, optimum, &format!("{dir}/sweep.svg"))
}
