//! One Newton step θ₁ = θ₀ − H⁻¹∇L, with the Hessian and gradient from the tape, lands on
//! the least-squares solution exactly, because MSE is quadratic; gradient descent at its
//! best constant step needs many steps to get there.
//!
//! `cargo run --release --example newton`

use descent::model::*;
use descent::tape::{hessian, prelude::*};

/// mean((Aθ − y)²) for the design matrix A = [X 1].
fn mse_of<'t>(design: &Tensor, y: &Tensor, theta: Var<'t>) -> Var<'t> {
    let tape = theta.tape();
    (tape.constant(design.clone()).matmul(&theta) - tape.constant(y.clone()))
        .square()
        .mean()
}

fn main() {
    let data = synthetic(100, &[2.0, -3.0], 1.0, 0.5, (0.0, 10.0), 5);
    let (n, d) = (data.len(), data.dim());
    let design = Tensor::new(
        data.rows()
            .iter()
            .flat_map(|r| r.iter().copied().chain([1.0]))
            .collect(),
        &[n, d + 1],
    );
    let y = data.y.reshape(&[n]);
    let theta0 = Tensor::zeros(&[d + 1]);
    let h = hessian(|t| mse_of(&design, &y, t), &theta0);
    let tape = Tape::new();
    let t = tape.param(theta0.clone());
    let g = mse_of(&design, &y, t).backward().get(t);
    // Solve H·s = g by Cholesky (H is symmetric positive definite here).
    let rows: Vec<Vec<f64>> = (0..=d)
        .map(|i| h.data()[i * (d + 1)..(i + 1) * (d + 1)].to_vec())
        .collect();
    let step = cholesky_solve(&cholesky(&rows).expect("positive definite"), g.data());
    let theta1: Vec<f64> = theta0
        .data()
        .iter()
        .zip(&step)
        .map(|(t, s)| t - s)
        .collect();
    let (cw, cb) = least_squares(&data, 0.0, Solver::Qr).expect("full rank");
    let want: Vec<f64> = cw.iter().copied().chain([cb]).collect();
    println!("Newton, one step: {theta1:?}");
    println!("closed form:      {want:?}");

    let mut lin = Linear::new(d, 1, Init::Zeros);
    let c = curvature(&lin, &data, 0.0).expect("finite");
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(1_000_000),
        tol: Some(1e-16),
        ..Default::default()
    };
    let hist = train(
        &mut lin,
        &mut Sgd::new(c.best_lr()),
        &data,
        None,
        &cfg,
        |_| {},
    )
    .expect("stable");
    println!(
        "gradient descent at its best step 2/(λmax+λmin): {} iterations (condition number {:.0})",
        hist.iterations,
        c.condition_number()
    );
    if theta1.iter().zip(&want).any(|(a, b)| (a - b).abs() > 1e-9) {
        eprintln!("the Newton step missed the closed form");
        std::process::exit(1);
    }
}
