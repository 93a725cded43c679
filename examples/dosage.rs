//! The PyTorch autograd tutorial on 8 drug-dosage points: the cost and its partials at
//! m = 0.9, b = 0.1 (published: C = 19.6755, ∂C/∂m = 36.305, ∂C/∂b = 6.265), then 1000
//! epochs of SGD at learning rate 0.01.
//!
//! `cargo run --release --example dosage`

use descent::model::*;
use descent::tape::prelude::*;

fn main() {
    let xs: Vec<Vec<f64>> = (0..8).map(|i| vec![i as f64]).collect();
    let data = Dataset::from_rows(&xs, &[1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37]);
    let mut lin = Linear::from_coefficients(&[0.9], 0.1);
    let tape = Tape::new();
    let p = lin.bind(&tape);
    let cost = objective(&lin, &p, &data, 0.0, 0.0);
    let g = cost.backward();
    let (c, dm, db) = (
        cost.item(),
        g.get(p["weight"]).item(),
        g.get(p["bias"]).item(),
    );
    println!("C = {c:.4}, dC/dm = {dm:.4}, dC/db = {db:.4}");
    let published = [(c, 19.675475), (dm, 36.305), (db, 6.265)];
    if published.iter().any(|(a, b)| (a - b).abs() > 1e-12) {
        eprintln!("does not reproduce the published figures");
        std::process::exit(1);
    }
    drop(g);

    let cfg = TrainConfig {
        schedule: Schedule::Epochs(1000),
        log_every: 200,
        ..Default::default()
    };
    train(&mut lin, &mut Sgd::new(0.01), &data, None, &cfg, |p| {
        println!("  epoch {:>4}: loss = {:.6}", p.epoch, p.loss);
    })
    .expect("lr 0.01 is below 2/λmax for this data");
    let (cw, cb) = least_squares(&data, 0.0, Solver::Qr).expect("full rank");
    println!(
        "after 1000 epochs: m = {:.6}, b = {:.6}",
        lin.weights()[0],
        lin.bias()
    );
    println!("closed form:       m = {:.6}, b = {:.6}", cw[0], cb);
    if (lin.weights()[0] - cw[0]).abs() > 1e-2 || (lin.bias() - cb).abs() > 1e-1 {
        eprintln!("SGD did not approach the least-squares line");
        std::process::exit(1);
    }
}
