//! `descent sweep`: plain gradient descent at several learning rates.

use super::args::{load_prepared, Data};
use super::plot;
use model::*;

#[derive(clap::Args, Debug)]
pub(super) struct Sweep {
    #[command(flatten)]
    data: Data,
    /// Learning rates, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1e-5,1e-4,1e-3,1e-2,1e-1",
        allow_negative_numbers = true
    )]
    lrs: Vec<f64>,
    /// Iterations per rate.
    #[arg(long, default_value_t = 1000)]
    iters: usize,
    /// Write the loss curves (SVG) into this directory.
    #[arg(long)]
    plot: Option<String>,
    /// Replace pictures that already exist in the --plot folder.
    #[arg(long)]
    force: bool,
}

pub(super) fn sweep(s: &Sweep) -> Result<(), String> {
    let (d, lrs, iters) = (&s.data, &s.lrs, s.iters);
    if let Some(bad) = lrs.iter().find(|lr| !(lr.is_finite() && **lr > 0.0)) {
        return Err(format!(
            "--lrs: every learning rate must be a positive number, got {bad}"
        ));
    }
    let data = load_prepared(d)?;
    let start = Linear::new(data.dim(), 1, Init::Zeros);
    let curv = curvature(&start, &data, 0.0)
        .map_err(|e| format!("cannot measure the loss's curvature: {e}"))?;
    // The least-squares optimum's MSE: the floor each run is judged against (a column
    // that combines others counts as 0, which leaves the fitted values unchanged).
    let (n, dim) = (data.len(), data.dim());
    if n < dim + 1 {
        return Err(format!(
            "{n} rows for {} coefficients: least squares needs at least as many rows",
            dim + 1
        ));
    }
    let coef: Vec<f64> = ridge_lstsq(&data, 0.0, true)
        .coef
        .iter()
        .map(|c| c.unwrap_or(0.0))
        .collect();
    let best = metrics(
        &Linear::from_coefficients(&coef[..dim], coef[dim]).predict(&data.x),
        &data.y,
    )
    .mse;
    let mut out = Vec::new();
    let mut curves = Vec::new();
    for &lr in lrs {
        let mut lin = start.clone();
        let cfg = TrainConfig {
            schedule: Schedule::Iterations(iters),
            log_every: 1,
            ..Default::default()
        };
        let mut curve = Vec::with_capacity(iters.min(History::CAP));
        let run = train(&mut lin, &mut Sgd::new(lr), &data, None, &cfg, |p| {
            // Bounded, as the history is: every other point once the curve is full.
            if curve.len() >= History::CAP {
                curve = curve.iter().step_by(2).copied().collect();
            }
            curve.push(p.loss)
        });
        curves.push((lr, curve));
        let verdict = match run {
            Ok(h) => {
                let last = *h.train.last().unwrap_or(&f64::NAN);
                if last <= best * (1.0 + 1e-6) + 1e-12 {
                    ("converged".to_string(), last)
                } else {
                    (format!("crawling ({:.2}× the optimum)", last / best), last)
                }
            }
            Err(TrainError::Diverged { iteration, .. }) => {
                (format!("diverged at iteration {iteration}"), f64::NAN)
            }
        };
        out.push((lr, verdict));
    }
    if let Some(dir) = &s.plot {
        plot::REPLACE.store(s.force, std::sync::atomic::Ordering::Relaxed);
        plot::sweep_picture(&curves, best, &format!("{dir}/sweep.svg"))?;
    }
    if d.json {
        let body: Vec<String> = out
            .iter()
            .map(|(lr, (v, l))| {
                format!(
                    "{{\"lr\": {lr:?}, \"result\": {v:?}, \"final_loss\": {}}}",
                    if l.is_finite() {
                        format!("{l:?}")
                    } else {
                        "null".into()
                    }
                )
            })
            .collect();
        out!(
            "{{\"max_stable_lr\": {:?}, \"best_lr\": {:?}, \"runs\": [{}]}}",
            curv.max_stable_lr(),
            curv.best_lr(),
            body.join(", ")
        );
        return Ok(());
    }
    out!(
        "largest stable learning rate 2/λmax = {}, best constant step = {}\n",
        tape::fmt_g(curv.max_stable_lr()),
        tape::fmt_g(curv.best_lr())
    );
    for (lr, (v, l)) in &out {
        let loss = if l.is_finite() {
            tape::fmt_g(*l)
        } else {
            "-".into()
        };
        out!("lr {:<10} final MSE {:<14} {v}", tape::fmt_g(*lr), loss);
    }
    if let Some(dir) = &s.plot {
        out!("\npicture written to {dir}/sweep.svg");
    }
    Ok(())
}
