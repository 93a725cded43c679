//! The differential test against PyTorch: random programs over descent's ops, written
//! with PyTorch's results (float64) by `tests/torch/differential.py`; descent runs each and
//! must agree on the value, the gradient of every leaf, a Hessian-vector product (reverse
//! over reverse) and a Jacobian-vector product (forward mode), to 1e-10 relative, with
//! NaN exactly where PyTorch gives NaN. The committed set (400 programs) runs in CI; the
//! script writes any number more, run with `DIFFERENTIAL=file cargo test --test
//! differential -- --ignored`.

use serde_json::Value;
use tape::{Algebra, Dual, Functions, Tape, Tensor, Var};

/// One op of a program on any algebra; `args[0]` (and `args[1]`) are earlier nodes, or
/// `args[1]` an axis.
fn apply<T: Algebra>(op: &str, args: &[usize], nodes: &[T]) -> T {
    let a = &nodes[args[0]];
    let b = || &nodes[args[1]];
    let axis = args.get(1).copied().unwrap_or(0);
    let pos = |x: &T| x.square().add(&x.map_const(|_| 0.5));
    match op {
        "add" => a.add(b()),
        "sub" => a.sub(b()),
        "mul" => a.mul(b()),
        "div_pos" => a.div(&pos(b())),
        "maximum" => a.maximum(b()),
        "minimum" => a.minimum(b()),
        "matmul" => a.matmul(b()),
        "where" => a
            .map_const(|v| f64::from(u8::from(v > 0.0)))
            .where_(&a.exp(), &b().square()),
        "neg" => a.neg(),
        "square" => a.square(),
        "exp_tanh" => a.tanh().exp(),
        "log_pos" => pos(a).ln(),
        "sqrt_pos" => pos(a).sqrt(),
        "abs" => a.abs(),
        "tanh" => a.tanh(),
        "sigmoid" => a.sigmoid(),
        "relu" => a.relu(),
        "sin" => a.sin(),
        "cos" => a.cos(),
        "atan" => a.atan(),
        "log1p_sig" => a.sigmoid().log1p(),
        "expm1" => a.tanh().expm1(),
        "softplus" => a.softplus(),
        "powi3" => a.tanh().powi(3),
        "powf_pos" => pos(a).powf(1.5),
        "sum" => a.sum(),
        "mean" => a.mean(),
        "sum_axis" => a.sum_axis(axis, false),
        "mean_axis" => a.mean_axis(axis, false),
        "softmax" => a.softmax(axis),
        "log_softmax" => a.log_softmax(axis),
        "logsumexp" => a.logsumexp(axis, false),
        "clamp" => a.clamp(-0.5, 0.5),
        "max_along" => a.max_along(axis, false),
        "var" if a.shape().iter().product::<usize>() > 1 => a.var(1.0),
        "var" => a.scale(1.0),
        "norm" => a.norm(),
        "narrow" => a.narrow(axis, 1, a.shape()[axis] - 1),
        "permute" => {
            let r = a.shape().len();
            a.permute(&(0..r).rev().collect::<Vec<_>>())
        }
        "cat" => Functions::cat(&[a.clone(), b().clone()], 0),
        "bmm" => a.bmm(b()),
        other => panic!("no op {other} in the differential test"),
    }
}

fn run<T: Algebra>(program: &Value, leaves: Vec<T>) -> T {
    let mut nodes = leaves;
    for op in program["ops"].as_array().expect("ops") {
        let op = op.as_array().expect("an op");
        let name = op[0].as_str().expect("a name");
        let args: Vec<usize> = op[1..]
            .iter()
            .map(|v| v.as_u64().expect("an index") as usize)
            .collect();
        let out = apply(name, &args, &nodes);
        nodes.push(out);
    }
    nodes.pop().expect("a program has ops")
}

fn number(v: &Value) -> f64 {
    match v {
        Value::String(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("{other}"),
        },
        v => v.as_f64().expect("a number"),
    }
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().expect("a list").iter().map(number).collect()
}

fn tensor(values: &[f64], shape: &[usize]) -> Tensor {
    Tensor::new(values.to_vec(), shape)
}

/// Where `got` and PyTorch's `want` differ: more than 1e-10 relative (1e-12 absolute
/// near 0), or NaN on one side only. With `finite_for_nan`, a number where PyTorch has
/// NaN is accepted (counted by the caller): PyTorch's double backward of `norm` at the
/// zero vector is NaN even where the function is constant (`‖x − x‖`), where descent's
/// rule (`√(r + [r = 0]) − [r = 0]`) gives the true second derivative, 0.
fn differs(got: &[f64], want: &[f64], finite_for_nan: bool) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{} values, PyTorch {}", got.len(), want.len()));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_nan() && g.is_finite() && finite_for_nan {
            true
        } else if w.is_nan() || g.is_nan() {
            w.is_nan() && g.is_nan()
        } else if w.is_infinite() || g.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= 1e-10 * w.abs() + 1e-12
        };
        if !ok {
            return Some(format!("[{i}] descent {g:?}, PyTorch {w:?}"));
        }
    }
    None
}

fn check(file: &str, text: &str) {
    let doc: Value = serde_json::from_str(text).expect("the script's JSON");
    let programs = doc["programs"].as_array().expect("programs");
    let mut failures = Vec::new();
    let mut finite_where_nan = 0;
    for (k, p) in programs.iter().enumerate() {
        let want = &p["expected"];
        let leaves: Vec<(Vec<usize>, Vec<f64>)> = p["leaves"]
            .as_array()
            .expect("leaves")
            .iter()
            .map(|l| {
                let shape = l["shape"]
                    .as_array()
                    .expect("shape")
                    .iter()
                    .map(|d| d.as_u64().expect("a size") as usize)
                    .collect();
                (shape, numbers(&l["data"]))
            })
            .collect();
        let mut report = |what: &str, got: &[f64], expected: &[f64]| {
            let second = what.starts_with("hvp");
            if second
                && got
                    .iter()
                    .zip(expected)
                    .any(|(g, w)| w.is_nan() && g.is_finite())
            {
                finite_where_nan += 1;
            }
            if let Some(d) = differs(got, expected, second) {
                failures.push(format!("program {k} {what}: {d}: {}", p["ops"]));
            }
        };
        // Value, gradients and a Hessian-vector product on the tape.
        let tape = Tape::new();
        let xs: Vec<Var> = leaves
            .iter()
            .map(|(s, v)| tape.param(tensor(v, s)))
            .collect();
        let out = run(p, xs.clone());
        report("value", &out.value().to_vec(), &numbers(&want["value"]));
        let total = out.sum();
        let grads = total.backward();
        for (i, x) in xs.iter().enumerate() {
            report(
                &format!("grad {i}"),
                &grads.get(*x).to_vec(),
                &numbers(&want["grads"][i]),
            );
        }
        let g = tape.grad(total, &xs, true);
        let mut dot: Option<Var> = None;
        for (i, gi) in g.iter().enumerate() {
            let v = tape.constant(tensor(&numbers(&want["hvp_v"][i]), &leaves[i].0));
            let term = (*gi * v).sum();
            dot = Some(match dot {
                Some(d) => d + term,
                None => term,
            });
        }
        let hv = dot.expect("a leaf").backward();
        for (i, x) in xs.iter().enumerate() {
            report(
                &format!("hvp {i}"),
                &hv.get(*x).to_vec(),
                &numbers(&want["hvp"][i]),
            );
        }
        // A Jacobian-vector product by forward mode.
        let duals: Vec<Dual> = leaves
            .iter()
            .enumerate()
            .map(|(i, (s, v))| Dual::new(tensor(v, s), tensor(&numbers(&want["jvp_t"][i]), s)))
            .collect();
        let jv = run(p, duals).sum().tangent.item();
        report("jvp", &[jv], &[number(&want["jvp"])]);
    }
    assert!(
        failures.is_empty(),
        "{file}: {} of {} programs disagree with PyTorch:\n{}",
        failures.len(),
        programs.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "{file}: {} programs agree with PyTorch ({finite_where_nan} second derivatives a number where PyTorch's is NaN)",
        programs.len()
    );
}

#[test]
fn descent_agrees_with_pytorch_on_the_committed_programs() {
    check("differential.json", include_str!("data/differential.json"));
}

/// A larger set the script writes: `DIFFERENTIAL=/tmp/d.json cargo test -p descent-tape
/// --test differential -- --ignored`.
#[test]
#[ignore]
fn descent_agrees_with_pytorch_on_a_generated_set() {
    let path = std::env::var("DIFFERENTIAL")
        .expect("DIFFERENTIAL=file written by tests/torch/differential.py");
    let text = std::fs::read_to_string(&path).expect("the file");
    check(&path, &text);
}
