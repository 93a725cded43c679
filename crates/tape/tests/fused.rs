//! The fused linear-MSE op against the general tape path, central differences, and
//! itself (threaded kernels give the same bits every run).

use tape::prelude::*;

fn problem(n: usize, d: usize, seed: u64) -> (Tensor, Tensor, Tensor, Tensor) {
    let x = Tensor::randn(&[n, d], seed);
    let y = Tensor::randn(&[n], seed + 1);
    let w = Tensor::randn(&[d], seed + 2);
    (x, y, w, Tensor::scalar(0.3))
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

#[test]
fn fused_matches_the_general_path_on_a_threaded_size() {
    // 200,000 × 16 is past the size where the kernels use every core.
    let (x, y, w, b) = problem(200_000, 16, 3);
    let tape = Tape::new();
    let (xv, yv) = (tape.constant(x), tape.constant(y));
    let (wv, bv) = (tape.param(w), tape.param(b));
    let fused = tape::linear_mse(xv, wv, bv, yv);
    let general = (xv.matmul(&wv) + bv - yv).square().mean();
    assert!(rel(fused.item(), general.item()) < 1e-12);
    let (gf, gg) = (fused.backward(), general.backward());
    for (a, b) in gf.get(wv).data().iter().zip(gg.get(wv).data()) {
        assert!(rel(*a, *b) < 1e-9, "{a} vs {b}");
    }
    assert!(rel(gf.get(bv).item(), gg.get(bv).item()) < 1e-9);
}

#[test]
fn fused_gradient_matches_central_differences_and_y_may_be_a_column() {
    let (x, y, w, b) = problem(7, 3, 11);
    let report = tape::gradcheck(
        |v| {
            let t = v[0].tape();
            tape::linear_mse(
                t.constant(x.clone()),
                v[0],
                v[1],
                t.constant(y.reshape(&[7, 1])),
            )
        },
        &[w, b],
        Default::default(),
    );
    assert!(report.passed(), "{report:?}");
}

#[test]
fn second_order_through_the_fused_op_uses_the_general_rule() {
    // The Hessian of mean((Xw + b − y)²) in w is (2/n)·XᵀX, whatever the point.
    let (x, y, w, _) = problem(9, 2, 5);
    let tape = Tape::new();
    let (wv, bv) = (tape.param(w), tape.param(0.0));
    let loss = tape::linear_mse(tape.constant(x.clone()), wv, bv, tape.constant(y));
    let gw = tape.grad(loss, &[wv], true)[0];
    let e0 = tape.constant([1.0, 0.0]);
    let h0 = tape.grad((gw * e0).sum(), &[wv], false)[0].value();
    let xtx = x.transpose(0, 1).matmul(&x);
    for j in 0..2 {
        assert!(rel(h0.data()[j], 2.0 / 9.0 * xtx.data()[j * 2]) < 1e-12);
    }
}

#[test]
fn threaded_results_are_the_same_bits_every_run() {
    let (x, y, w, b) = problem(300_000, 8, 9);
    let run = || {
        let tape = Tape::new();
        let (wv, bv) = (tape.param(w.clone()), tape.param(b.clone()));
        let l = tape::linear_mse(tape.constant(x.clone()), wv, bv, tape.constant(y.clone()));
        let g = l.backward();
        (
            l.item().to_bits(),
            g.get(wv).to_vec(),
            g.get(bv).item().to_bits(),
        )
    };
    let first = run();
    for _ in 0..5 {
        assert_eq!(run(), first);
    }
    // The general path's matrix-vector products are chunked the same way.
    let xw = || x.matmul(&w).to_vec();
    assert_eq!(xw(), xw());
}

#[test]
fn misuse_names_the_op_and_the_shapes() {
    let tape = Tape::new();
    let x = tape.constant([[1.0, 2.0], [3.0, 4.0]]);
    let y = tape.constant([1.0, 2.0]);
    let (w, b) = (tape.param([1.0, 2.0, 3.0]), tape.param(0.0));
    let msg = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tape::linear_mse(x, w, b, y);
    }))
    .unwrap_err();
    let msg = msg.downcast_ref::<String>().unwrap();
    assert!(
        msg.starts_with("linear_mse: x [2, 2], w [3], b [], y [2]"),
        "{msg}"
    );
    let xp = tape.param([[1.0, 2.0], [3.0, 4.0]]);
    let w2 = tape.param([1.0, 2.0]);
    let msg = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tape::linear_mse(xp, w2, b, y);
    }))
    .unwrap_err();
    let msg = msg.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("x (#") && msg.contains("requires a gradient"),
        "{msg}"
    );
}

#[test]
fn fused_op_given_new_parameters_is_the_fused_op_recorded_at_them() {
    // The fused op keeps its gradient from the forward pass: set_values must redo both.
    let (x, y, w0, b0) = problem(50, 3, 21);
    let (w1, b1) = (Tensor::randn(&[3], 99), Tensor::scalar(-0.7));
    let run = |w: &Tensor, b: &Tensor, then: Option<(&Tensor, &Tensor)>| {
        let tape = Tape::new();
        let (xv, yv) = (tape.constant(x.clone()), tape.constant(y.clone()));
        let (wv, bv) = (tape.param(w.clone()), tape.param(b.clone()));
        let loss = tape::linear_mse(xv, wv, bv, yv);
        if let Some((w, b)) = then {
            tape.set_values([(wv, w.clone()), (bv, b.clone())]);
        }
        let g = loss.backward();
        let (gw, gb) = (g.get(wv).to_vec(), g.get(bv).item());
        (
            loss.item().to_bits(),
            gw.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            gb.to_bits(),
        )
    };
    let fresh = run(&w1, &b1, None);
    assert_eq!(run(&w0, &b0, Some((&w1, &b1))), fresh);
    assert_ne!(run(&w0, &b0, None), fresh);
}

#[test]
fn backward_into_gives_what_get_gives() {
    // backward_into must agree with Gradients::get bit for bit, in the order asked (a
    // value asked for twice included), on fused losses of leaves and of computed values,
    // before and after a replay.
    let (x, y, w, b) = problem(37, 3, 5);
    let tape = Tape::new();
    let (xv, yv) = (tape.constant(x), tape.constant(y));
    let (wv, bv, q) = (tape.param(w), tape.param(b), tape.param(2.0));
    let fused = tape::linear_mse(xv, wv, bv, yv);
    let p = tape.param(Tensor::randn(&[3], 8));
    let through = tape::linear_mse(xv, p * 1.5, bv, yv); // w is not a leaf
    let twice = tape::linear_mse(xv, wv, wv.sum(), yv); // w reaches the loss twice
    let (x1, v) = (tape.constant(Tensor::randn(&[37, 1], 6)), tape.param([0.4]));
    let same = tape::linear_mse(x1, v, v, yv); // one parameter as w and as b
    let general = (xv.matmul(&wv) + bv - yv).square().mean() + q * 0.0;
    let bits = |ts: &[Tensor]| {
        ts.iter()
            .map(|t| {
                (
                    t.shape().to_vec(),
                    t.data().iter().map(|v| v.to_bits()).collect(),
                )
            })
            .collect::<Vec<(Vec<usize>, Vec<u64>)>>()
    };
    let check = |loss: Var, wrt: &[Var]| {
        let mut out = vec![Tensor::scalar(7.0)]; // cleared first
        loss.backward_into(wrt.iter().copied(), &mut out);
        let g = loss.backward();
        let expected: Vec<Tensor> = wrt.iter().map(|&v| g.get(v)).collect();
        assert_eq!(bits(&out), bits(&expected), "loss #{}", loss.id());
    };
    for _ in 0..2 {
        check(fused, &[wv, bv]);
        check(fused, &[bv, wv, wv]);
        check(fused, &[wv, q]); // q does not reach the loss: zeros
        check(through, &[p, bv]);
        check(twice, &[wv]);
        check(same, &[v]);
        check(general, &[wv, bv, q]);
        tape.set_values([(wv, Tensor::randn(&[3], 9)), (bv, Tensor::scalar(-0.2))]);
    }
}

#[test]
#[should_panic(expected = "is a constant (it needs no gradient)")]
fn backward_into_refuses_a_constant_as_get_does() {
    let (x, y, w, b) = problem(5, 2, 1);
    let tape = Tape::new();
    let (xv, yv) = (tape.constant(x), tape.constant(y));
    let (wv, bv) = (tape.param(w), tape.param(b));
    let mut out = Vec::new();
    tape::linear_mse(xv, wv, bv, yv).backward_into([wv, xv], &mut out);
}
