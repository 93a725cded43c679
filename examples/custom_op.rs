//! A custom op: your own function with your own derivative, recorded as one node (as
//! PyTorch's `torch.autograd.Function`). Here a user's `softplus(x) = ln(1 + eˣ)`, whose
//! derivative is the logistic function σ(x). The backward rule is written once against
//! `Algebra`, so it runs on tensors for `backward()` and on recorded values for
//! `grad(create_graph)`; a forward-mode rule makes it usable with dual numbers.
//!
//! Each figure is checked against something independent of the op's own rules: the
//! engine's built-in `softplus`, central differences (`gradcheck`) and the hand-derived
//! second derivative σ(x)(1 − σ(x)). Exits non-zero on a wrong answer.
//!
//! `cargo run --release --example custom_op`

use descent::tape::{gradcheck, prelude::*, CustomOp, Dual, Tolerance};

/// softplus, stable for large x: ln(1 + eˣ) = max(x, 0) + ln(1 + e^−|x|).
struct MySoftplus;

/// The rule: ∂softplus/∂x = σ(x), so the input's adjoint is g·σ(x).
fn rule<T: Algebra>(x: &T, g: &T) -> T {
    g.mul(&x.sigmoid())
}

impl CustomOp for MySoftplus {
    fn name(&self) -> &'static str {
        "my_softplus"
    }
    fn forward(&mut self, x: &[&Tensor]) -> Tensor {
        x[0].map(|v| v.max(0.0) + (-v.abs()).exp().ln_1p())
    }
    fn vjp(&self, x: &[&Tensor], _: &Tensor, g: &Tensor, _: &[bool]) -> Vec<Option<Tensor>> {
        vec![Some(rule(x[0], g))]
    }
    fn vjp_var<'t>(
        &self,
        x: &[Var<'t>],
        _: Var<'t>,
        g: Var<'t>,
        _: &[bool],
    ) -> Option<Vec<Option<Var<'t>>>> {
        Some(vec![Some(rule(&x[0], &g))])
    }
    fn jvp(&self, x: &[&Tensor], _: &Tensor, t: &[Option<&Tensor>]) -> Option<Tensor> {
        Some(t[0]?.mul(&x[0].sigmoid()))
    }
    fn saves(&self) -> descent::tape::Saves {
        descent::tape::Saves {
            inputs: true, // σ(x) reads x
            output: false,
        }
    }
}

fn check(what: &str, ok: bool) {
    println!("{} {what}", if ok { "ok  " } else { "FAIL" });
    if !ok {
        std::process::exit(1);
    }
}

fn main() {
    let xs = Tensor::from([-3.0, -0.5, 0.0, 0.7, 25.0]);
    let tape = Tape::new();
    let x = tape.param(xs.clone());
    let y = tape.custom(MySoftplus, &[x]);
    let loss = y.sum();
    let grads = loss.backward();
    println!("the tape, with each node's gradient:\n{grads}");

    // The same function by the engine's built-in op: values and gradients.
    let built_in = tape.param(xs.clone());
    let reference = built_in.softplus().sum().backward().get(built_in);
    let close = |a: &[f64], b: &[f64], tol: f64| a.iter().zip(b).all(|(a, b)| (a - b).abs() <= tol);
    // (Above 20 the built-in is x itself, slope 1, as PyTorch's: 1.4e-11 from ours at 25.)
    check(
        "values equal the built-in softplus to 1e-10",
        close(&y.value().to_vec(), &xs.softplus().to_vec(), 1e-10),
    );
    check(
        "gradients equal the built-in softplus's to 1e-10",
        close(&grads.get(x).to_vec(), &reference.to_vec(), 1e-10),
    );

    // Central differences, as torch.autograd.gradcheck.
    let report = gradcheck(
        |v| v[0].tape().custom(MySoftplus, &[v[0]]).square().sum(),
        &[Tensor::from([-1.3, 0.2, 2.5])],
        Tolerance::default(),
    );
    check("gradcheck against central differences", report.passed());

    // Second order through the rule on Var: d²/dx² softplus = σ(x)(1 − σ(x)).
    let dy = tape.grad(loss, &[x], true)[0];
    let d2 = tape.grad(dy.sum(), &[x], false)[0].value();
    let by_hand: Vec<f64> = xs
        .to_vec()
        .iter()
        .map(|&v| {
            let s = 1.0 / (1.0 + (-v).exp());
            s * (1.0 - s)
        })
        .collect();
    check(
        "second derivative equals σ(x)(1 − σ(x)) to 1e-15",
        close(&d2.to_vec(), &by_hand, 1e-15),
    );

    // Forward mode: the tangent along (1, 1, 1, 1, 1) is σ(x).
    let dual = Dual::new(xs.clone(), Tensor::ones(&[5]));
    let out = Dual::custom(&mut MySoftplus, &[dual]);
    check(
        "forward mode's tangent equals the reverse-mode gradient, bit for bit",
        out.tangent.to_vec() == grads.get(x).to_vec(),
    );

    // The listing and DOT name the op.
    check(
        "the listing names the op",
        format!("{tape}").contains("my_softplus(#0)"),
    );
    check(
        "DOT names the op",
        tape.to_dot(Some(&grads)).contains("my_softplus"),
    );
}
