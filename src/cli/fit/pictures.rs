//! The pictures of a fit (`fit --plot DIR`): what each picture shows is computed here, from
//! the report (the loss curve, the fitted line or predicted against actual, the loss
//! surface around the path of two parameters); `cli::plot` only draws what it is given.

use super::Report;
use crate::cli::plot::{contours, loss_curves, predicted_vs_actual, range, scatter_line};
use model::*;
use tape::prelude::*;

pub(in crate::cli) fn fit_pictures(r: &Report, dir: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("--plot {dir}: {e}"))?;
    let train: Vec<(f64, f64)> = r
        .history
        .train
        .iter()
        .enumerate()
        .map(|(i, l)| ((i * r.history.stride.max(1)) as f64, *l))
        .collect();
    let mut series = vec![("training loss".to_string(), train)];
    if !r.history.valid.is_empty() {
        series.push((
            "validation MSE".to_string(),
            r.history
                .valid
                .iter()
                .map(|&(i, v)| (i as f64, v))
                .collect(),
        ));
    }
    let optimum = r.closed_mse();
    loss_curves(
        &format!("{dir}/loss.svg"),
        "Loss during training",
        &series,
        optimum,
    )?;
    if r.features.len() == 1 {
        let xs = r.train_raw.x.data();
        let pts: Vec<(f64, f64)> = xs
            .iter()
            .copied()
            .zip(r.train_raw.y.data().iter().copied())
            .collect();
        let (lo, hi) = range(xs.iter().copied(), 0.0);
        let grid = Tensor::new(
            (0..=200)
                .map(|i| lo + (hi - lo) * i as f64 / 200.0)
                .collect(),
            &[201, 1],
        );
        let curve: Vec<(f64, f64)> = grid
            .data()
            .iter()
            .copied()
            .zip(r.fitted.predict(&grid).data().iter().copied())
            .collect();
        scatter_line(
            &format!("{dir}/fit.svg"),
            &format!("{} against {}", r.target, r.features[0]),
            (&r.features[0], &r.target),
            &pts,
            &curve,
        )?;
    } else {
        let series: Vec<(String, Vec<(f64, f64)>)> = r
            .splits_raw
            .iter()
            .map(|(n, d)| {
                let p = r.fitted.predict(&d.x);
                (
                    n.to_string(),
                    d.y.data()
                        .iter()
                        .copied()
                        .zip(p.data().iter().copied())
                        .collect(),
                )
            })
            .collect();
        predicted_vs_actual(
            &format!("{dir}/predicted.svg"),
            &format!("Predicted against actual {}", r.target),
            &series,
        )?;
    }
    if r.path.len() > 1 && r.train.len() <= 200_000 {
        let names: Vec<String> = parameter_table(r.fitted.model()).into_keys().collect();
        let model = r.fitted.model();
        let data = &r.train;
        let keys: Vec<String> = model.named_parameters().keys().cloned().collect();
        let loss = |a: f64, b: f64| {
            let mut p = model.named_parameters().clone();
            let mut vals = [a, b].into_iter();
            for k in &keys {
                let t = &p[k];
                let v: Vec<f64> = (0..t.numel()).map(|_| vals.next().unwrap_or(0.0)).collect();
                let shape = t.shape().to_vec();
                p[k] = Tensor::new(v, &shape);
            }
            let tape = Tape::new();
            tape.no_grad(|| objective(model, &Bound::new(&tape, &p), data, 0.0, 0.0).item())
        };
        let end = *r.path.last().expect("two points");
        let xr = range(
            r.path
                .iter()
                .map(|p| p.0)
                .chain([end.0 * 1.3, end.0 * 0.7 - 0.1]),
            0.15,
        );
        let yr = range(
            r.path
                .iter()
                .map(|p| p.1)
                .chain([end.1 * 1.3, end.1 * 0.7 - 0.1]),
            0.15,
        );
        let scaled = matches!(
            r.fitted,
            super::Fitted::Linear {
                scaler: Some(_),
                ..
            }
        );
        let label = |n: &str| {
            if scaled {
                format!("{n} (standardised units)")
            } else {
                n.to_string()
            }
        };
        contours(
            &format!("{dir}/surface.svg"),
            "Loss surface and the path of gradient descent",
            (&label(&names[0]), &label(&names[1])),
            &loss,
            xr,
            yr,
            &[("gradient descent".to_string(), r.path.clone())],
            None,
        )?;
    }
    Ok(())
}
