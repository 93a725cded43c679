//! `descent check`: the gradient at the starting point four ways.

use super::{load_prepared, Data};
use model::*;
use tape::prelude::*;

/// Gradient of the MSE at zero parameters: by hand, reverse mode, forward mode, and
/// central differences.
pub(super) fn check(d: &Data) -> Result<(), String> {
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
            "(intercept)".into()
        };
        rows.push((name, hand, rev, fwd.item(), fd));
    }
    if d.json {
        let body: Vec<String> = rows
            .iter()
            .map(|(n, h, r, f, c)| format!("{n:?}: {{\"hand\": {h:?}, \"reverse\": {r:?}, \"forward\": {f:?}, \"finite_difference\": {c:?}}}"))
            .collect();
        println!("{{\"gradients\": {{{}}}}}", body.join(", "));
        return Ok(());
    }
    println!(
        "Gradient of the MSE at w = 0, b = 0 ({} rows)\n",
        data.len()
    );
    println!(
        "{:<14} {:>16} {:>16} {:>16} {:>16} {:>10}",
        "parameter", "hand", "reverse", "forward", "central diff", "max |Δ|"
    );
    for (n, h, r, f, c) in &rows {
        let worst = [(r - h).abs(), (r - f).abs(), (r - c).abs()]
            .into_iter()
            .fold(0.0, f64::max);
        println!("{n:<14} {h:>16.9} {r:>16.9} {f:>16.9} {c:>16.9} {worst:>10.1e}");
    }
    Ok(())
}
