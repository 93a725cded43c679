//! `descent check`: the gradient at the starting point four ways.

use super::args::{load_prepared, Data};
use model::*;
use tape::prelude::*;
use tape::Dual;

#[derive(clap::Args, Debug)]
pub(super) struct Check {
    #[command(flatten)]
    data: Data,
    /// Check a formula model instead of the linear one (see `fit --model`).
    #[arg(long)]
    model: Option<String>,
    /// The point to check a formula at: name=value pairs (others are 0).
    #[arg(long, default_value = "zeros")]
    init: String,
}

/// One parameter's gradient, four ways (no hand derivation for a formula).
type Row = (String, Option<f64>, f64, f64, f64);

pub(super) fn check(c: &Check) -> Result<(), String> {
    let (rows, n, at) = match &c.model {
        Some(text) => {
            let (f, data) = super::fit::load_formula(&c.data, text)?;
            let f = super::fit::parse_init_formula(&c.init, f)?;
            let at = format!("of {text} at {}", point(&f));
            (formula_rows(&f, &data), data.len(), at)
        }
        None => {
            let (rows, n) = linear_rows(&c.data)?;
            (rows, n, "at w = 0, b = 0".to_string())
        }
    };
    let d = &c.data;
    if d.json {
        let body: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(n, h, r, f, c)| {
                let v = serde_json::json!({"hand": h.map(super::io::num), "reverse": super::io::num(*r), "forward": super::io::num(*f), "finite_difference": super::io::num(*c)});
                (n.clone(), v)
            })
            .collect();
        out!("{}", serde_json::json!({ "gradients": body }));
        return Ok(());
    }
    out!("Gradient of the MSE {at} ({n} rows)\n");
    out!(
        "{:<14} {:>16} {:>16} {:>16} {:>16} {:>10}",
        "parameter",
        "hand",
        "reverse",
        "forward",
        "central diff",
        "max |Δ|"
    );
    for (n, h, r, f, c) in &rows {
        let worst = [
            h.map_or(0.0, |h| (r - h).abs()),
            (r - f).abs(),
            (r - c).abs(),
        ]
        .into_iter()
        .fold(0.0, f64::max);
        let h = h.map_or(format!("{:>16}", "-"), |h| format!("{h:>16.9}"));
        out!("{n:<14} {h} {r:>16.9} {f:>16.9} {c:>16.9} {worst:>10.1e}");
    }
    Ok(())
}

/// The formula's starting point as `a = 1, k = 0`.
fn point(f: &Formula) -> String {
    f.parameter_names()
        .iter()
        .zip(f.values())
        .map(|(n, v)| format!("{n} = {}", tape::fmt_g(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A formula's gradient: reverse mode from the tape, forward mode by dual numbers
/// through the loss, central differences; no hand derivation.
fn formula_rows(f: &Formula, data: &Dataset) -> Vec<Row> {
    let tape = Tape::new();
    let p = f.bind(&tape);
    let g = objective(f, &p, data, 0.0, 0.0).backward();
    let n = data.len();
    let d = f.columns().len();
    let cols: Vec<Dual> = (0..d)
        .map(|j| {
            let col: Vec<f64> = (0..n).map(|i| data.x.data()[i * d + j]).collect();
            Dual::constant(Tensor::new(col, &[n, 1]))
        })
        .collect();
    let y = Dual::constant(data.y.clone());
    let names: Vec<String> = f.parameter_names().iter().map(|s| s.to_string()).collect();
    let values = f.values();
    let h = 1e-6;
    names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let params: Vec<Dual> = values
                .iter()
                .enumerate()
                .map(|(i, v)| Dual::new(Tensor::scalar(*v), Tensor::scalar(f64::from(i == k))))
                .collect();
            let pred = f
                .expr()
                .eval(&cols, &params, &|c| Dual::constant(Tensor::scalar(c)));
            let loss = pred.sub(&y).square().mean();
            let shifted = |s: f64| {
                let mut m = f.clone();
                let _ = m.set(name, values[k] + s);
                evaluate(&m, data)
            };
            let fd = (shifted(h) - shifted(-h)) / (2.0 * h);
            (
                name.clone(),
                None,
                g.get(p[name]).item(),
                loss.tangent.item(),
                fd,
            )
        })
        .collect()
}

/// The linear model's gradient at zero: by hand, reverse mode, forward mode, and
/// central differences.
fn linear_rows(d: &Data) -> Result<(Vec<Row>, usize), String> {
    let data = load_prepared(d)?;
    let dim = data.dim();
    let (w0, b0) = (vec![0.0; dim], 0.0);
    let (hw, hb) = mse_gradient(&data.rows(), data.y.data(), &w0, b0);
    let lin = Linear::from_coefficients(&w0, b0);
    let tape = Tape::new();
    let p = lin.bind(&tape);
    let g = objective(&lin, &p, &data, 0.0, 0.0).backward();
    let (rw, rb) = (g.get(p["weight"]).to_vec(), g.get(p["bias"]).item());
    let y = data.y.reshape(&[data.len()]);
    let cost = |w: &[f64], b: f64| {
        let pred = data.x.matmul(&Tensor::from(w.to_vec()));
        pred.data()
            .iter()
            .zip(y.data())
            .map(|(p, y)| (p + b - y).powi(2))
            .sum::<f64>()
            / data.len() as f64
    };
    let eps = 1e-6;
    let mut rows = Vec::new();
    for j in 0..=dim {
        let mut e = vec![0.0; dim];
        let (eb, hand, rev) = if j < dim {
            e[j] = 1.0;
            (0.0, hw[j], rw[j])
        } else {
            (1.0, hb, rb)
        };
        let (_, fwd) = tape::jvp(
            |v| {
                let x = tape::Dual::constant(data.x.clone());
                x.matmul(&v[0])
                    .add(&v[1])
                    .sub(&tape::Dual::constant(y.clone()))
                    .square()
                    .mean()
            },
            &[Tensor::from(w0.clone()), Tensor::scalar(b0)],
            &[Tensor::from(e.clone()), Tensor::scalar(eb)],
        );
        let shift = |s: f64| {
            let w: Vec<f64> = w0.iter().zip(&e).map(|(w, e)| w + s * e).collect();
            cost(&w, b0 + s * eb)
        };
        let fd = (shift(eps) - shift(-eps)) / (2.0 * eps);
        let name = if j < dim {
            data.features[j].clone()
        } else {
            model::INTERCEPT.into()
        };
        rows.push((name, Some(hand), rev, fwd.item(), fd));
    }
    Ok((rows, data.len()))
}
