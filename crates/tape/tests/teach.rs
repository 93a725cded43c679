//! The teaching core (`tape::teach`, the idea in one short file) and the full engine run the
//! same random scalar programs: every value and every parameter's gradient must be the
//! same bits (NaN as NaN, whatever its payload: the engine stores one canonical NaN).

use rand::{rngs::StdRng, Rng, SeedableRng};
use tape::prelude::*;
use tape::{teach, Op};

const UNARY: [fn(u32) -> Op; 16] = [
    Op::Neg,
    Op::Square,
    Op::Exp,
    Op::Ln,
    Op::Sqrt,
    Op::Abs,
    Op::Tanh,
    Op::Sigmoid,
    Op::Relu,
    Op::Sin,
    Op::Cos,
    Op::Atan,
    Op::Log1p,
    Op::Expm1,
    Op::Softplus,
    |a| Op::Powi(a, 3),
];
const BINARY: [fn(u32, u32) -> Op; 7] = [
    Op::Add,
    Op::Sub,
    Op::Mul,
    Op::Div,
    Op::Pow,
    Op::Maximum,
    Op::Minimum,
];

/// The same op on the full engine, by its `Algebra` method.
fn on_engine<'t>(op: Op, v: &[Var<'t>]) -> Var<'t> {
    let x = |i: u32| v[i as usize];
    match op {
        Op::Neg(a) => x(a).neg(),
        Op::Square(a) => x(a).square(),
        Op::Exp(a) => x(a).exp(),
        Op::Ln(a) => x(a).ln(),
        Op::Sqrt(a) => x(a).sqrt(),
        Op::Abs(a) => x(a).abs(),
        Op::Tanh(a) => x(a).tanh(),
        Op::Sigmoid(a) => x(a).sigmoid(),
        Op::Relu(a) => x(a).relu(),
        Op::Sin(a) => x(a).sin(),
        Op::Cos(a) => x(a).cos(),
        Op::Atan(a) => x(a).atan(),
        Op::Log1p(a) => x(a).log1p(),
        Op::Expm1(a) => x(a).expm1(),
        Op::Softplus(a) => x(a).softplus(),
        Op::Powi(a, n) => x(a).powi(n),
        Op::Powf(a, p) => x(a).powf(p),
        Op::Add(a, b) => x(a) + x(b),
        Op::Sub(a, b) => x(a) - x(b),
        Op::Mul(a, b) => x(a) * x(b),
        Op::Div(a, b) => x(a) / x(b),
        Op::Pow(a, b) => x(a).pow(&x(b)),
        Op::Maximum(a, b) => x(a).maximum(&x(b)),
        Op::Minimum(a, b) => x(a).minimum(&x(b)),
        _ => unreachable!("not generated: {op:?}"),
    }
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn the_teaching_core_and_the_engine_agree_bit_for_bit() {
    let mut rng = StdRng::seed_from_u64(18);
    let (mut programs, mut nans) = (0, 0);
    for _ in 0..3000 {
        let (small, full) = (teach::Tape::new(), Tape::new());
        let (mut values, mut vars, mut params) = (Vec::new(), Vec::new(), Vec::new());
        let leaves = rng.random_range(1..5);
        let ops = rng.random_range(1..40);
        for k in 0..leaves + ops {
            let n = values.len() as u32;
            if k < leaves {
                // Zeros, negatives, large and tiny magnitudes: the rules' special points.
                let x = match rng.random_range(0..6) {
                    0 => 0.0,
                    1 => -rng.random_range(0.0..3.0),
                    2 => rng.random_range(10.0..40.0),
                    3 => rng.random_range(1e-6..1e-3),
                    _ => rng.random_range(-2.0..2.0),
                };
                if rng.random_bool(0.7) {
                    params.push(k);
                    values.push(small.param(x));
                    vars.push(full.param(x));
                } else {
                    values.push(small.constant(x));
                    vars.push(full.constant(x));
                }
                continue;
            }
            // Inputs lean to the latest node (chains, the engine's register carry) and
            // are often the same node twice (x·x).
            let pick = |rng: &mut StdRng| {
                if rng.random_bool(0.5) {
                    n - 1
                } else {
                    rng.random_range(0..n)
                }
            };
            let a = pick(&mut rng);
            let op = match rng.random_range(0..3) {
                0 => UNARY[rng.random_range(0..UNARY.len())](a),
                1 => Op::Powf(a, [0.0, 1.0, 0.5, -1.5, 2.0][rng.random_range(0..5)]),
                _ => {
                    let b = if rng.random_bool(0.2) {
                        a
                    } else {
                        pick(&mut rng)
                    };
                    BINARY[rng.random_range(0..BINARY.len())](a, b)
                }
            };
            values.push(small.record(op));
            vars.push(on_engine(op, &vars));
        }
        for (k, (v, w)) in values.iter().zip(&vars).enumerate() {
            assert!(
                same(v.value(), w.item()),
                "node #{k}: {} vs {}",
                v.value(),
                w.item()
            );
        }
        let out = rng.random_range(0..values.len());
        let (g_small, g_full) = (small.backward(values[out]), vars[out].backward());
        for &p in &params {
            let (a, b) = (g_small.get(values[p]), g_full.get(vars[p]).item());
            assert!(
                same(a, b),
                "program {programs}, ∂#{out}/∂#{p}: {a} (teach) vs {b} (engine)\n{full}"
            );
            nans += usize::from(a.is_nan());
        }
        programs += 1;
    }
    // The programs reach the special points: some gradients are NaN (0·∞ on the path).
    assert!(nans > 0 && programs == 3000);
}
