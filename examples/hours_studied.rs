//! The hours-studied tutorial: 100 (hours, score) points, b = m = 0, learning rate
//! 0.0001, 1000 iterations of full-batch gradient descent, printing b, m and the error.
//! The data is generated (seeded) in the tutorial's ranges. The result is checked
//! against the tutorial's own plain loop over the points.
//!
//! `cargo run --release --example hours_studied`

use descent::model::*;

fn main() {
    let data = synthetic(100, &[1.32], 7.9, 10.0, (25.0, 70.0), 2017);
    let error = |lin: &Linear| metrics(&lin.predict(&data.x), &data.y).mse;
    let mut lin = Linear::new(1, 1, Init::Zeros);
    println!(
        "Starting gradient descent at b = 0, m = 0, error = {:.4}",
        error(&lin)
    );
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(1000),
        log_every: 250,
        ..Default::default()
    };
    train(&mut lin, &mut Sgd::new(0.0001), &data, None, &cfg, |p| {
        let (m, b) = (p.params["weight"].data()[0], p.params["bias"].data()[0]);
        println!(
            "  iteration {:>4}: b = {b:.6}, m = {m:.6}, error = {:.4}",
            p.iteration, p.loss
        );
    })
    .expect("lr 0.0001 is stable on this data");
    let (b, m) = (lin.bias(), lin.weights()[0]);
    println!(
        "After 1000 iterations b = {b:.6}, m = {m:.6}, error = {:.4}",
        error(&lin)
    );

    // The tutorial's loop, point by point.
    let (mut pb, mut pm) = (0.0, 0.0);
    let n = data.len() as f64;
    for _ in 0..1000 {
        let (mut bg, mut mg) = (0.0, 0.0);
        for i in 0..data.len() {
            let (x, y) = (data.row(i)[0], data.y.data()[i]);
            bg += -(2.0 / n) * (y - (pm * x + pb));
            mg += -(2.0 / n) * x * (y - (pm * x + pb));
        }
        pb -= 0.0001 * bg;
        pm -= 0.0001 * mg;
    }
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    println!("The tutorial's plain loop gives b = {pb:.6}, m = {pm:.6}");
    if rel(b, pb) > 1e-12 || rel(m, pm) > 1e-12 {
        eprintln!("descent and the plain loop disagree");
        std::process::exit(1);
    }
    let (cw, cb) = least_squares(&data, 0.0, Solver::Qr).expect("full rank");
    println!(
        "(The least-squares optimum is b = {cb:.4}, m = {:.4}: at lr 0.0001 the intercept crawls.)",
        cw[0]
    );
}
