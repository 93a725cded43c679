//! Custom ops (`tape::CustomOp`) through every part of the engine: backward against
//! central differences, second order through a rule on `Var` against a hand derivation,
//! replay, anomaly mode, `no_grad`, the listing, DOT and SVG, forward mode, and the
//! misuse messages.

use tape::prelude::*;
use tape::{gradcheck, CustomOp, Dual, Saves, Tolerance};

/// `a·b + sin(a)`, elementwise: ∂/∂a = b + cos(a), ∂/∂b = a (by hand). Its rule is
/// written once on `Algebra`; second derivatives by hand: ∂²/∂a² = −sin(a), ∂²/∂a∂b = 1.
struct MulSin;

fn mul_sin_rule<T: Algebra>(a: &T, b: &T, g: &T) -> [T; 2] {
    [g.mul(&b.add(&a.cos())), g.mul(a)]
}

impl CustomOp for MulSin {
    fn name(&self) -> &'static str {
        "mul_sin"
    }
    fn forward(&mut self, x: &[&Tensor]) -> Tensor {
        x[0].mul(x[1]).add(&x[0].sin())
    }
    fn vjp(&self, x: &[&Tensor], _: &Tensor, g: &Tensor, _: &[bool]) -> Vec<Option<Tensor>> {
        mul_sin_rule(x[0], x[1], g).map(Some).to_vec()
    }
    fn vjp_var<'t>(
        &self,
        x: &[Var<'t>],
        _: Var<'t>,
        g: Var<'t>,
        _: &[bool],
    ) -> Option<Vec<Option<Var<'t>>>> {
        Some(mul_sin_rule(&x[0], &x[1], &g).map(Some).to_vec())
    }
    fn jvp(&self, x: &[&Tensor], _: &Tensor, t: &[Option<&Tensor>]) -> Option<Tensor> {
        let [da, db] = mul_sin_rule(x[0], x[1], &Tensor::ones(x[0].shape()));
        let mut out = Tensor::zeros(x[0].shape());
        if let Some(ta) = t[0] {
            out = out.add(&da.mul(ta));
        }
        if let Some(tb) = t[1] {
            out = out.add(&db.mul(tb));
        }
        Some(out)
    }
}

/// An op with no rule on `Var` and none for forward mode; its forward pass counts its
/// calls, and it can be made to misbehave.
struct Plain {
    calls: std::rc::Rc<std::cell::Cell<usize>>,
    nan_at_zero: bool,
    wrong_shape: bool,
}

impl CustomOp for Plain {
    fn name(&self) -> &'static str {
        "plain"
    }
    fn forward(&mut self, x: &[&Tensor]) -> Tensor {
        self.calls.set(self.calls.get() + 1);
        let nan = self.nan_at_zero;
        x[0].map(move |v| if nan && v == 0.0 { f64::NAN } else { 3.0 * v })
    }
    fn vjp(&self, _: &[&Tensor], _: &Tensor, g: &Tensor, _: &[bool]) -> Vec<Option<Tensor>> {
        if self.wrong_shape {
            return vec![Some(Tensor::from([1.0, 2.0, 3.0]))];
        }
        vec![Some(g.scale(3.0))]
    }
    fn saves(&self) -> Saves {
        Saves {
            inputs: false,
            output: false,
        }
    }
}

fn plain() -> Plain {
    Plain {
        calls: Default::default(),
        nan_at_zero: false,
        wrong_shape: false,
    }
}

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let err = std::panic::catch_unwind(f).expect_err("a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn gradients_agree_with_central_differences() {
    let a = Tensor::from([[0.3, -1.2], [2.0, 0.0]]);
    let b = Tensor::from([[1.5, 0.25], [-0.7, 3.0]]);
    let r = gradcheck(
        |v| v[0].tape().custom(MulSin, &[v[0], v[1]]).square().sum(),
        &[a, b],
        Tolerance::default(),
    );
    assert!(r.passed(), "{r:?}");
}

#[test]
fn second_order_through_the_rule_on_var_matches_the_hand_derivation() {
    // f = Σ (a·b + sin a); ∂f/∂a = b + cos a; ∂/∂a Σ ∂f/∂a = −sin a, ∂/∂b Σ ∂f/∂a = 1.
    let tape = Tape::new();
    let (av, bv) = ([0.3, -1.2, 2.0], [1.5, 0.25, -0.7]);
    let (a, b) = (tape.param(av), tape.param(bv));
    let f = tape.custom(MulSin, &[a, b]).sum();
    let da = tape.grad(f, &[a, b], true)[0];
    let hand: Vec<f64> = av.iter().zip(bv).map(|(a, b)| b + a.cos()).collect();
    assert_eq!(da.value().to_vec(), hand);
    let second = tape.grad(da.sum(), &[a, b], false);
    let minus_sin: Vec<f64> = av.iter().map(|a| -a.sin()).collect();
    assert_eq!(second[0].value().to_vec(), minus_sin);
    assert_eq!(second[1].value().to_vec(), vec![1.0; 3]);
}

#[test]
fn forward_mode_agrees_with_reverse_mode() {
    let (a, b) = (Tensor::from([0.3, -1.2]), Tensor::from([1.5, 0.25]));
    let (ta, tb) = (Tensor::from([1.0, -2.0]), Tensor::from([0.5, 4.0]));
    let out = Dual::custom(
        &mut MulSin,
        &[
            Dual::new(a.clone(), ta.clone()),
            Dual::new(b.clone(), tb.clone()),
        ],
    );
    // The tangent is Σ ∂f/∂x · ẋ: reverse mode's gradients dotted with the direction.
    let tape = Tape::new();
    let (av, bv) = (tape.param(a), tape.param(b));
    let y = tape.custom(MulSin, &[av, bv]);
    for i in 0..2 {
        let mut seed = [0.0; 2];
        seed[i] = 1.0;
        let g = y.backward_with(&Tensor::from(seed));
        let expected = g.get(av).data()[i] * ta.data()[i] + g.get(bv).data()[i] * tb.data()[i];
        assert!((out.tangent.data()[i] - expected).abs() < 1e-15);
    }
    // A constant input has no tangent; all constant, the result is a constant.
    let one = Dual::constant(Tensor::from([1.0]));
    let c = Dual::custom(&mut MulSin, &[one.clone(), one]);
    assert_eq!(c.tangent.to_vec(), vec![0.0]);
    let msg = panic_message(|| {
        Dual::custom(
            &mut plain(),
            &[Dual::new(Tensor::scalar(1.0), Tensor::scalar(1.0))],
        );
    });
    assert!(msg.contains("plain has no forward-mode rule"), "{msg}");
}

#[test]
fn replay_runs_the_forward_pass_again_and_matches_a_fresh_tape() {
    let run = |w: f64, replay_from: Option<f64>| {
        let p = plain();
        let calls = p.calls.clone();
        let tape = Tape::new();
        let wv = tape.param(replay_from.unwrap_or(w));
        let loss = (tape.custom(p, &[wv * 2.0]) + wv).square();
        if replay_from.is_some() {
            tape.set_values([(wv, w)]);
        }
        let g = loss.backward().get(wv).item();
        (loss.item().to_bits(), g.to_bits(), calls.get())
    };
    let (fresh, replayed) = (run(0.7, None), run(0.7, Some(-3.0)));
    assert_eq!((fresh.0, fresh.1), (replayed.0, replayed.1));
    assert_eq!((fresh.2, replayed.2), (1, 2)); // forward ran again on replay
                                               // By hand: loss = (6w + w)² = 49w², ∂/∂w = 98w.
    assert_eq!(f64::from_bits(fresh.1), 98.0 * 0.7);
}

#[test]
fn the_listing_dot_and_svg_name_the_op() {
    let tape = Tape::new();
    let (a, b) = (tape.param([1.0, 2.0]), tape.constant([3.0, 4.0]));
    let y = tape.custom(MulSin, &[a, b]).sum();
    let grads = y.backward();
    insta::assert_snapshot!(format!("{grads}"));
    assert!(tape.to_dot(Some(&grads)).contains("#2 mul_sin"));
    assert!(tape.to_svg(Some(&grads)).contains("mul_sin(#0, #1)"));
    assert!(format!("{:?}", tape.custom(MulSin, &[a, b])).starts_with("Var(#4 mul_sin"));
}

#[test]
fn no_grad_and_constant_inputs_record_a_constant() {
    let tape = Tape::new();
    let w = tape.param(2.0);
    assert!(!tape.no_grad(|| tape.custom(plain(), &[w])).requires_grad());
    let c = tape.custom(plain(), &[tape.constant(1.0)]);
    assert!(!c.requires_grad());
    assert_eq!(c.item(), 3.0);
    assert!(tape.custom(plain(), &[w]).requires_grad());
}

#[test]
fn anomaly_mode_names_a_custom_op_that_makes_nan() {
    let msg = panic_message(|| {
        let tape = Tape::new();
        tape.set_detect_anomaly(true);
        let x = tape.param(0.0);
        let mut op = plain();
        op.nan_at_zero = true;
        tape.custom(op, &[x]);
    });
    assert!(
        msg.contains("detect_anomaly: plain at node #1 made NaN"),
        "{msg}"
    );
}

#[test]
fn misuse_panics_name_the_op() {
    let msg = panic_message(|| {
        let tape = Tape::new();
        let x = tape.param(1.0);
        let mut op = plain();
        op.wrong_shape = true;
        tape.custom(op, &[x]).backward();
    });
    assert!(
        msg.contains("plain: the gradient for input 0 has shape [3]; the input has shape []"),
        "{msg}"
    );
    let msg = panic_message(|| {
        let tape = Tape::new();
        let x = tape.param(1.0);
        let y = tape.custom(plain(), &[x]);
        tape.grad(y, &[x], true);
    });
    assert!(
        msg.contains("the custom op plain has no rule on Var"),
        "{msg}"
    );
    let msg = panic_message(|| {
        let tape = Tape::new();
        let x = tape.param(1.0);
        tape.custom(plain(), &[x, x, x, x, x]);
    });
    assert!(
        msg.contains("plain: a custom op takes 1 to 4 inputs; it was given 5"),
        "{msg}"
    );
    let msg = panic_message(|| {
        let (one, two) = (Tape::new(), Tape::new());
        one.custom(MulSin, &[one.param(1.0), two.param(1.0)]);
    });
    assert!(
        msg.contains("mul_sin: value #0 belongs to another tape"),
        "{msg}"
    );
}
