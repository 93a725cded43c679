//! Builds y = Wx + b and MSE on the tape, calls `backward()`, and checks every gradient
//! against the hand-derived partials, central finite differences and forward mode.
//! Prints a table; exits non-zero on any disagreement.
//!
//! `cargo run --release --example manual_vs_autograd`

use descent::model::{mse_gradient, Dataset};
use descent::tape::{jvp, prelude::*, Dual};

/// MSE of y = Xw + b at (w, b), written once against the algebra so that it runs on the
/// tape (reverse mode), on dual numbers (forward mode) and on plain tensors.
fn cost<T: Algebra>(x: &T, y: &T, w: &T, b: &T) -> T {
    x.matmul(w).add(b).sub(y).square().mean()
}

fn check(name: &str, data: &Dataset, w0: &[f64], b0: f64) -> bool {
    let d = data.dim();
    let (x, y) = (data.x.clone(), data.y.reshape(&[data.len()]));
    let tape = Tape::new();
    let (w, b) = (tape.param(Tensor::from(w0.to_vec())), tape.param(b0));
    let c = cost(&tape.constant(x.clone()), &tape.constant(y.clone()), &w, &b);
    let grads = c.backward();
    let (gw, gb) = (grads.get(w).to_vec(), grads.get(b).item());

    let (hw, hb) = mse_gradient(&data.rows(), y.data(), w0, b0);

    let plain =
        |w: &[f64], b: f64| cost(&x, &y, &Tensor::from(w.to_vec()), &Tensor::scalar(b)).item();
    let eps = 1e-6;
    let fd = |j: usize| {
        let (mut hi, mut lo) = (w0.to_vec(), w0.to_vec());
        if j < d {
            hi[j] += eps;
            lo[j] -= eps;
            (plain(&hi, b0) - plain(&lo, b0)) / (2.0 * eps)
        } else {
            (plain(w0, b0 + eps) - plain(w0, b0 - eps)) / (2.0 * eps)
        }
    };
    let fwd = |j: usize| {
        let mut dw = vec![0.0; d];
        let db = if j < d {
            dw[j] = 1.0;
            0.0
        } else {
            1.0
        };
        let f = |v: &[Dual]| {
            cost(
                &Dual::constant(x.clone()),
                &Dual::constant(y.clone()),
                &v[0],
                &v[1],
            )
        };
        jvp(
            f,
            &[Tensor::from(w0.to_vec()), Tensor::scalar(b0)],
            &[Tensor::from(dw), Tensor::scalar(db)],
        )
        .1
        .item()
    };

    println!("{name}: cost = {}", fmt(c.item()));
    println!(
        "  {:<8} {:>16} {:>16} {:>16} {:>16} {:>10}",
        "partial", "hand", "backward()", "finite diff", "forward mode", "worst |Δ|"
    );
    let mut ok = true;
    for j in 0..=d {
        let (label, auto, hand) = if j < d {
            (format!("dC/dw{}", j + 1), gw[j], hw[j])
        } else {
            ("dC/db".to_string(), gb, hb)
        };
        let (num, fm) = (fd(j), fwd(j));
        let worst = [(auto - hand).abs(), (auto - num).abs(), (auto - fm).abs()]
            .into_iter()
            .fold(0.0, f64::max);
        // Hand, reverse and forward agree to rounding; finite differences to O(ε²) plus
        // rounding, as gradcheck allows (atol 1e-5 + rtol 1e-3).
        let agree = (auto - hand).abs() <= 1e-9 * (1.0 + hand.abs())
            && (auto - fm).abs() <= 1e-9 * (1.0 + fm.abs())
            && (auto - num).abs() <= 1e-5 + 1e-3 * num.abs();
        ok &= agree;
        println!(
            "  {label:<8} {:>16} {:>16} {:>16} {:>16} {:>10.1e}{}",
            fmt(hand),
            fmt(auto),
            fmt(num),
            fmt(fm),
            worst,
            if agree { "" } else { "  DISAGREE" }
        );
    }
    ok
}

fn fmt(x: f64) -> String {
    format!("{x:.9}")
}

fn main() {
    // The drug-dosage tutorial: 8 points, m = 0.9, b = 0.1, published C = 19.6755,
    // dC/dm = 36.305, dC/db = 6.265.
    let xs: Vec<Vec<f64>> = (0..8).map(|i| vec![i as f64]).collect();
    let dosage = Dataset::from_rows(&xs, &[1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37]);
    let mut ok = check("drug dosage, y = m·x + b", &dosage, &[0.9], 0.1);
    println!();
    let multi = descent::model::synthetic(50, &[1.5, -2.0, 0.5], 3.0, 0.5, (-2.0, 2.0), 7);
    ok &= check("synthetic, 3 features", &multi, &[0.2, 0.1, -0.4], -1.0);
    if !ok {
        eprintln!("autodiff disagrees with the hand-derived partials");
        std::process::exit(1);
    }
    println!("\nall partials agree");
}
