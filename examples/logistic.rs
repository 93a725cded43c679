//! Logistic regression: the engine serves more than squared error. The loss is the
//! binary cross-entropy of the logits z = Xw + b, written stably as
//! mean(softplus(z) − y·z); gradient descent minimises it with gradients from
//! `backward()`, and Newton's method, with the tape's Hessian, lands on the same
//! maximum-likelihood estimate in a few steps. The answer is checked independently of
//! the tape: at the estimate, the score Xᵀ(σ(z) − y), summed by hand, is zero.
//!
//! `cargo run --release --example logistic`

use descent::model::{cholesky, cholesky_solve};
use descent::tape::{hessian, prelude::*};

/// splitmix64, for data that is the same on every machine.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The mean binary cross-entropy of the logits `A·θ` (A = [X 1]) against labels `y`.
fn bce<'t>(design: &Tensor, y: &Tensor, theta: Var<'t>) -> Var<'t> {
    let tape = theta.tape();
    let z = tape.constant(design.clone()).matmul(&theta);
    (z.softplus() - tape.constant(y.clone()) * z).mean()
}

fn main() {
    // 400 points, two features, labels drawn from the model with w = (1.5, −2), b = 0.5.
    let (n, d) = (400usize, 2usize);
    let truth = [1.5, -2.0, 0.5];
    let mut rng = Rng(7);
    let mut rows = Vec::with_capacity(n * (d + 1));
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let x = [rng.uniform() * 4.0 - 2.0, rng.uniform() * 4.0 - 2.0];
        let z = truth[0] * x[0] + truth[1] * x[1] + truth[2];
        let p = 1.0 / (1.0 + (-z).exp());
        labels.push(f64::from(u8::from(rng.uniform() < p)));
        rows.extend([x[0], x[1], 1.0]);
    }
    let design = Tensor::new(rows.clone(), &[n, d + 1]);
    let y = Tensor::new(labels.clone(), &[n]);

    // Gradient descent, every gradient from backward().
    let tape = Tape::new();
    let theta = tape.param(Tensor::zeros(&[d + 1]));
    let loss = bce(&design, &y, theta);
    let mut params = Tensor::zeros(&[d + 1]);
    let lr = 2.0;
    let mut steps = 0;
    for step in 1..=20_000 {
        tape.set_values([(theta, &params)]);
        let g = loss.backward().get(theta);
        params = params.sub(&g.scale(lr));
        steps = step;
        if g.data().iter().all(|v| v.abs() < 1e-10) {
            break;
        }
    }
    let gd = params.to_vec();

    // Newton's method: θ ← θ − H⁻¹∇L, the Hessian from the tape (reverse over reverse).
    let mut newton = Tensor::zeros(&[d + 1]);
    let mut iterations = 0;
    for it in 1..=50 {
        let h = hessian(|t| bce(&design, &y, t), &newton);
        let tape = Tape::new();
        let t = tape.param(newton.clone());
        let g = bce(&design, &y, t).backward().get(t);
        let k = d + 1;
        let rows: Vec<Vec<f64>> = (0..k)
            .map(|i| h.data()[i * k..(i + 1) * k].to_vec())
            .collect();
        let step = cholesky_solve(
            &cholesky(&rows).expect("the Hessian is positive definite"),
            g.data(),
        );
        newton = newton.sub(&Tensor::new(step.clone(), &[k]));
        iterations = it;
        if step.iter().all(|s| s.abs() < 1e-15) {
            break;
        }
    }
    let nt = newton.to_vec();

    // The check that does not use the tape: the score Xᵀ(σ(z) − y) at Newton's estimate.
    let mut score = [0.0f64; 3];
    for i in 0..n {
        let r = &rows[i * 3..(i + 1) * 3];
        let z: f64 = r.iter().zip(&nt).map(|(a, b)| a * b).sum();
        let p = 1.0 / (1.0 + (-z).exp());
        for j in 0..3 {
            score[j] += r[j] * (p - labels[i]);
        }
    }
    println!(
        "true parameters         w = ({}, {}), b = {}",
        truth[0], truth[1], truth[2]
    );
    println!(
        "gradient descent        w = ({:.6}, {:.6}), b = {:.6}  ({steps} steps at lr {lr})",
        gd[0], gd[1], gd[2]
    );
    println!(
        "Newton (tape Hessian)   w = ({:.6}, {:.6}), b = {:.6}  ({iterations} steps)",
        nt[0], nt[1], nt[2]
    );
    println!(
        "score at Newton's estimate, by hand: ({:.1e}, {:.1e}, {:.1e})",
        score[0], score[1], score[2]
    );
    let agree = gd.iter().zip(&nt).all(|(a, b)| (a - b).abs() < 1e-8);
    let stationary = score.iter().all(|s| s.abs() < 1e-9);
    if !agree || !stationary {
        eprintln!("gradient descent and Newton disagree, or the score is not zero");
        std::process::exit(1);
    }
}
