//! Criterion benches of the tape's hot paths: `cargo bench -p descent-tape --bench hot_paths`.
//! The end-to-end workloads (W1–W3, the floor) are in the root package's `workloads` bench.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use tape::prelude::*;

const STEPS: usize = 10_000;

/// The W1 chain, 10,000 steps (30,000 op nodes) on a reused tape.
fn scalar_chain(c: &mut Criterion) {
    let mut g = c.benchmark_group("scalar chain");
    g.throughput(Throughput::Elements(3 * STEPS as u64));
    let a: Vec<f64> = (0..STEPS)
        .map(|i| 0.99 + 0.02 * ((i * 7919) % 1000) as f64 / 1000.0)
        .collect();
    let b: Vec<f64> = (0..STEPS)
        .map(|i| ((i * 104_729) % 1000) as f64 / 1000.0)
        .collect();
    let mut tape = Tape::with_capacity(5 * STEPS + 1);
    g.bench_function("record", |bench| {
        bench.iter(|| {
            tape.clear();
            let av: Vec<Var> = a.iter().map(|&x| tape.param(x)).collect();
            let bv: Vec<Var> = b.iter().map(|&x| tape.param(x)).collect();
            let mut h = tape.param(0.5);
            for i in 0..STEPS {
                h = (av[i] * h + bv[i]).relu();
            }
            black_box(h.item())
        })
    });
    g.bench_function("record + backward", |bench| {
        bench.iter(|| {
            tape.clear();
            let av: Vec<Var> = a.iter().map(|&x| tape.param(x)).collect();
            let bv: Vec<Var> = b.iter().map(|&x| tape.param(x)).collect();
            let x0 = tape.param(0.5);
            let mut h = x0;
            for i in 0..STEPS {
                h = (av[i] * h + bv[i]).relu();
            }
            black_box(h.backward().get(x0).item())
        })
    });
    g.finish();
}

/// Tensor ops at regression sizes: 100,000 × 16.
fn tensor_ops(c: &mut Criterion) {
    let (n, d) = (100_000, 16);
    let x = Tensor::randn(&[n, d], 1);
    let y = Tensor::randn(&[n], 2);
    let w = Tensor::randn(&[d], 3);
    let mut g = c.benchmark_group("tensor");
    g.throughput(Throughput::Bytes((n * d * 8) as u64));
    g.bench_function("matmul X·w", |b| b.iter(|| black_box(x.matmul(&w))));
    g.bench_function("matmul Xᵀ·r", |b| {
        b.iter(|| black_box(x.gemm(&y.reshape(&[n, 1]), true, false)))
    });
    g.throughput(Throughput::Bytes((n * 8) as u64));
    g.bench_function("add", |b| {
        b.iter(|| black_box(y.zip_with(&y, "add", |a, b| a + b)))
    });
    g.throughput(Throughput::Bytes((n * d * 8) as u64));
    g.bench_function("general path step", |b| {
        b.iter_batched(
            Tape::new,
            |tape| {
                let (wv, bv) = (tape.param(w.clone()), tape.param(0.0));
                let l = (tape.constant(x.clone()).matmul(&wv) + bv - tape.constant(y.clone()))
                    .square()
                    .mean();
                black_box(l.backward().get(wv));
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("fused linear_mse step", |b| {
        b.iter_batched(
            Tape::new,
            |tape| {
                let (wv, bv) = (tape.param(w.clone()), tape.param(0.0));
                let l =
                    tape::linear_mse(tape.constant(x.clone()), wv, bv, tape.constant(y.clone()));
                black_box(l.backward().get(wv));
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, scalar_chain, tensor_ops);
criterion_main!(benches);
