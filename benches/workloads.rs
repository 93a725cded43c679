//! The workloads of the benchmark issue, timed on this machine: median of 3 rounds.
//! `cargo bench --bench workloads` prints a table and one JSON line per result.
//!
//! - W1: h ← relu(aᵢ·h + bᵢ) for 1,000,000 steps (3 op nodes a step), then backward;
//!   leaves made before the clock; ns per op node and bytes of tape per node.
//! - W2a: full-batch linear regression on a 1,000,000 × 16 standardised X through the
//!   general tape path (matmul, add, sub, square, mean, backward); ms per iteration.
//! - W3: 100 points, 1000 full-batch iterations at lr 1e-4 through the model crate.

use descent::model::*;
use descent::tape::prelude::*;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn w1(tape: &mut Tape) -> (f64, f64, String) {
    let s = 1_000_000;
    let a = Tensor::rand_uniform(&[s], 0.99, 1.01, 1);
    let b = Tensor::rand_uniform(&[s], 0.0, 1.0, 2);
    tape.clear();
    let (av, bv): (Vec<Var>, Vec<Var>) = (
        a.data().iter().map(|&x| tape.param(x)).collect(),
        b.data().iter().map(|&x| tape.param(x)).collect(),
    );
    let x0 = tape.param(0.5);
    let before = tape.len();
    let t = Instant::now();
    let mut h = x0;
    for i in 0..s {
        h = (av[i] * h + bv[i]).relu();
    }
    let g = h.backward();
    let ns = t.elapsed().as_nanos() as f64 / (tape.len() - before) as f64;
    let sa: f64 = av.iter().map(|v| g.get(*v).item()).sum();
    let sb: f64 = bv.iter().map(|v| g.get(*v).item()).sum();
    let checksum = format!("L={} Σ∂a={sa} Σ∂b={sb} ∂x0={}", h.item(), g.get(x0).item());
    // Node (32 bytes) plus the adjoint backward keeps per node (8 bytes).
    (
        ns,
        (std::mem::size_of::<descent::tape::Op>() + 16 + 8) as f64,
        checksum,
    )
}

fn w2a(x: &Tensor, y: &Tensor) -> (f64, String) {
    let (mut w, mut b) = (Tensor::zeros(&[16]), Tensor::scalar(0.0));
    let mut tape = Tape::new();
    let mut loss = 0.0;
    let t = Instant::now();
    for _ in 0..50 {
        let (gw, gb) = {
            let (wv, bv) = (tape.param(w.clone()), tape.param(b.clone()));
            let l = (tape.constant(x.clone()).matmul(&wv) + bv - tape.constant(y.clone()))
                .square()
                .mean();
            loss = l.item();
            let g = l.backward();
            (g.get(wv), g.get(bv))
        };
        tape.clear();
        w = w.zip_with(&gw, "step", |w, g| w - 0.1 * g);
        b = b.zip_with(&gb, "step", |b, g| b - 0.1 * g);
    }
    let ms = t.elapsed().as_secs_f64() * 1e3 / 50.0;
    (
        ms,
        format!("loss={loss} Σw={} b={}", w.sum().item(), b.item()),
    )
}

fn w3(data: &Dataset) -> (f64, String) {
    let t = Instant::now();
    let mut lin = Linear::new(1, 1, Init::Zeros);
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(1000),
        ..Default::default()
    };
    train(&mut lin, &mut Sgd::new(1e-4), data, None, &cfg, |_| {}).expect("stable");
    (
        t.elapsed().as_secs_f64() * 1e3,
        format!("w={} b={}", lin.weights()[0], lin.bias()),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there are no tests here.
    }
    let mut tape = Tape::with_capacity(5_000_001);
    let r1: Vec<(f64, f64, String)> = (0..3).map(|_| w1(&mut tape)).collect();
    drop(tape);
    let raw = synthetic(
        1_000_000,
        &(1..=16).map(|j| j as f64 / 8.0).collect::<Vec<_>>(),
        0.5,
        0.1,
        (-1.0, 1.0),
        5,
    );
    let x = Standardizer::fit(&raw.x).transform(&raw.x);
    let y = raw.y.reshape(&[1_000_000]);
    let r2: Vec<(f64, String)> = (0..3).map(|_| w2a(&x, &y)).collect();
    let small = synthetic(100, &[1.3], 0.0, 5.0, (20.0, 80.0), 3);
    let r3: Vec<(f64, String)> = (0..3).map(|_| w3(&small)).collect();

    let w1ns = median(r1.iter().map(|r| r.0).collect());
    let w2ms = median(r2.iter().map(|r| r.0).collect());
    let w3ms = median(r3.iter().map(|r| r.0).collect());
    println!("{:<44} {:>14}", "workload (median of 3)", "descent");
    println!("{:<44} {:>14.1}", "W1 scalar chain, ns per op node", w1ns);
    println!("{:<44} {:>14.0}", "W1 tape bytes per node", r1[0].1);
    println!(
        "{:<44} {:>14.1}",
        "W2a linreg 1e6×16, ms per iteration (tape)", w2ms
    );
    println!(
        "{:<44} {:>14.3}",
        "W3 100 points × 1000 iterations, total ms", w3ms
    );
    println!(
        "{{\"workload\":\"W1\",\"ns_per_node\":{w1ns},\"bytes_per_node\":{},\"checksum\":{:?}}}",
        r1[0].1, r1[0].2
    );
    println!(
        "{{\"workload\":\"W2a\",\"ms_per_iteration\":{w2ms},\"checksum\":{:?}}}",
        r2[0].1
    );
    println!(
        "{{\"workload\":\"W3\",\"total_ms\":{w3ms},\"checksum\":{:?}}}",
        r3[0].1
    );
}
