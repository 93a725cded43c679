//! Vectorised multivariate regression: a column of ones carries the intercept, so the
//! whole model is one matrix product X·θ, and the cost J = (1/2m)·Σ(Xθ − y)² is printed
//! every 2000 iterations.
//!
//! `cargo run --release --example vectorized`

use descent::model::*;
use descent::tape::prelude::*;

fn main() {
    let raw = synthetic(200, &[3.0, -1.5, 0.7], 5.0, 0.3, (-1.0, 1.0), 11);
    let (m, d) = (raw.len(), raw.dim());
    // [1 x₁ x₂ x₃] row by row.
    let x = Tensor::new(
        raw.rows()
            .iter()
            .flat_map(|r| std::iter::once(1.0).chain(r.iter().copied()))
            .collect(),
        &[m, d + 1],
    );
    let y = raw.y.reshape(&[m]);
    let mut theta = Tensor::zeros(&[d + 1]);
    let (alpha, iterations) = (0.1, 10_000);
    let mut tape = Tape::new();
    for it in 0..=iterations {
        let grad = {
            let t = tape.param(theta.clone());
            let r = tape.constant(x.clone()).matmul(&t) - tape.constant(y.clone());
            let cost = r.square().sum() / (2.0 * m as f64);
            if it % 2000 == 0 {
                println!("iteration {it:>6}: cost {:.8}", cost.item());
            }
            cost.backward().get(t)
        };
        tape.clear();
        theta = theta.zip_with(&grad, "step", |t, g| t - alpha * g);
    }
    let (cw, cb) = least_squares(&raw, 0.0, Solver::Qr).expect("full rank");
    println!("θ           = {theta}");
    println!(
        "closed form = [{cb:.6}, {}]",
        cw.iter()
            .map(|w| format!("{w:.6}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let want: Vec<f64> = std::iter::once(cb).chain(cw).collect();
    if theta
        .data()
        .iter()
        .zip(&want)
        .any(|(a, b)| (a - b).abs() > 1e-8)
    {
        eprintln!("gradient descent did not reach the closed form");
        std::process::exit(1);
    }
}
