//! The engine's promises, each checked against something independent of it: the drug
//! dosage tutorial's published figures (and the hand derivation below), closed-form
//! second derivatives, and the behaviour PyTorch documents for the same calls.

use std::panic::{catch_unwind, AssertUnwindSafe};
use tape::prelude::*;
use tape::{hessian, hvp, Op};

/// The drug-dosage tutorial: x = 0..7, y below, m = 0.9, b = 0.1.
const XS: [f64; 8] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
const YS: [f64; 8] = [1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37];

/// By hand: residuals r = m·x + b − y are
/// [-1.76, -0.31, 1.28, 2.47, 3.61, 5.27, 6.73, 7.77];
/// C = Σr²/8 = 157.4038/8 = 19.675475, ∂C/∂m = 2/8·Σr·x = 145.22/4 = 36.305,
/// ∂C/∂b = 2/8·Σr = 25.06/4 = 6.265. The tutorial prints the same three figures.
const COST: f64 = 19.675475;
const DM: f64 = 36.305;
const DB: f64 = 6.265;

#[test]
fn dosage_partials_by_scalar_ops() {
    let tape = Tape::new();
    let (m, b) = (tape.param(0.9), tape.param(0.1));
    let mut cost = tape.constant(0.0);
    for (x, y) in XS.iter().zip(YS) {
        cost += (m * *x + b - y).square();
    }
    let cost = cost / 8.0;
    let grads = cost.backward();
    assert!((cost.item() - COST).abs() < 1e-12, "{}", cost.item());
    assert!(
        (grads.get(m).item() - DM).abs() < 1e-12,
        "{}",
        grads.get(m).item()
    );
    assert!(
        (grads.get(b).item() - DB).abs() < 1e-12,
        "{}",
        grads.get(b).item()
    );
}

#[test]
fn dosage_partials_by_matrix_form() {
    let tape = Tape::new();
    let x = tape.constant(Tensor::new(XS.to_vec(), &[8, 1]));
    let y = tape.constant(Tensor::new(YS.to_vec(), &[8, 1]));
    let w = tape.param([[0.9]]);
    let b = tape.param([0.1]);
    let cost = (x.matmul(&w) + b - y).square().mean();
    let grads = cost.backward();
    assert!((cost.item() - COST).abs() < 1e-12);
    assert!((grads.get(w).item() - DM).abs() < 1e-12);
    assert!((grads.get(b).item() - DB).abs() < 1e-12);
    assert_eq!(grads.get(w).shape(), &[1, 1]);
    assert_eq!(grads.get(b).shape(), &[1]);
}

#[test]
fn second_derivative_of_cube() {
    let tape = Tape::new();
    let x = tape.param(2.0);
    let dx = tape.grad(x.powi(3), &[x], true)[0];
    let ddx = tape.grad(dx, &[x], true)[0];
    let dddx = tape.grad(ddx, &[x], false)[0];
    // d/dx x³ = 3x² = 12, d²/dx² = 6x = 12, d³/dx³ = 6.
    assert_eq!((dx.item(), ddx.item(), dddx.item()), (12.0, 12.0, 6.0));
    // The same through the multiplication rule rather than powi.
    let y = x * x * x;
    let d = tape.grad(y, &[x], true)[0];
    assert_eq!(tape.grad(d, &[x], false)[0].item(), 12.0);
}

/// Pins a closure's signature to the higher-ranked one `hvp` and `hessian` take.
fn several<F: for<'t> Fn(&[Var<'t>]) -> Var<'t>>(f: F) -> F {
    f
}
fn single<F: for<'t> Fn(Var<'t>) -> Var<'t>>(f: F) -> F {
    f
}

/// The Hessian of MSE of y = Xw + b in (w, b) is (2/n)·[X 1]ᵀ[X 1], whatever w, b, y.
/// Built column by column from Hessian-vector products, against the product of the
/// design matrix with itself computed here with plain loops.
#[test]
fn hessian_of_mse_is_twice_the_gram_matrix() {
    let (n, d) = (20, 3);
    let x = Tensor::randn(&[n, d], 1);
    let y = Tensor::randn(&[n], 2);
    let (w0, b0) = (Tensor::randn(&[d], 3), Tensor::scalar(0.3));
    let mse = several(|p| {
        let tape = p[0].tape();
        let pred = tape.constant(x.clone()).matmul(&p[0]) + p[1];
        (pred - tape.constant(y.clone())).square().mean()
    });
    let mut h = vec![vec![0.0; d + 1]; d + 1];
    for j in 0..=d {
        let mut vw = vec![0.0; d];
        let mut vb = 0.0;
        if j < d {
            vw[j] = 1.0;
        } else {
            vb = 1.0;
        }
        let hv = hvp(
            mse,
            &[w0.clone(), b0.clone()],
            &[Tensor::from(vw), Tensor::scalar(vb)],
        );
        for i in 0..d {
            h[i][j] = hv[0].data()[i];
        }
        h[d][j] = hv[1].item();
    }
    let row = |r: usize| -> Vec<f64> { (0..d).map(|c| x.at(&[r, c])).chain([1.0]).collect() };
    for i in 0..=d {
        for j in 0..=d {
            let gram: f64 = (0..n).map(|r| row(r)[i] * row(r)[j]).sum();
            let want = 2.0 / n as f64 * gram;
            assert!(
                (h[i][j] - want).abs() < 1e-12,
                "H[{i}][{j}] = {} want {want}",
                h[i][j]
            );
        }
    }
}

#[test]
fn full_hessian_of_a_small_function() {
    // f(a, b) = a²·b + exp(a·b): H = [[2b + b²e, 2a + e + ab·e], [2a + e + ab·e, a²e]], e = exp(ab)
    let f = single(|v| {
        let a = v.reshape(&[2]).mul(&v.tape().constant([1.0, 0.0])).sum();
        let b = v.mul(&v.tape().constant([0.0, 1.0])).sum();
        a * a * b + (a * b).exp()
    });
    let (a, b) = (0.7, -0.4);
    let h = hessian(f, &Tensor::from([a, b]));
    let e = f64::exp(a * b);
    let want = [
        2.0 * b + b * b * e,
        2.0 * a + e + a * b * e,
        2.0 * a + e + a * b * e,
        a * a * e,
    ];
    for (got, want) in h.data().iter().zip(want) {
        assert!((got - want).abs() < 1e-12, "{h:?}");
    }
}

#[test]
fn backward_twice_gives_the_same_answer_and_keeps_the_tape() {
    let tape = Tape::new();
    let w = tape.param([1.5, -0.5]);
    let loss = (w * w * 3.0).sum();
    let len = tape.len();
    let first = loss.backward().get(w);
    let second = loss.backward().get(w);
    assert_eq!(first, second);
    assert_eq!(first.to_vec(), vec![9.0, -3.0]);
    assert_eq!(tape.len(), len, "backward records nothing");
    // Still usable: extend the graph and differentiate again.
    let more = loss + w.sum();
    assert_eq!(more.backward().get(w).to_vec(), vec![10.0, -2.0]);
}

#[test]
fn constants_record_nothing_and_no_grad_records_nothing() {
    let tape = Tape::new();
    let c = tape.constant([1.0, 2.0]);
    let d = (c * 2.0).exp();
    assert_eq!(d.op(), Op::Const);
    let w = tape.param(1.0);
    let inside = tape.no_grad(|| w * 5.0);
    assert_eq!(inside.op(), Op::Const);
    assert!((w * 5.0).requires_grad(), "recording resumes after no_grad");
}

#[test]
fn detach_stops_gradients() {
    let tape = Tape::new();
    let x = tape.param(3.0);
    let y = x.square() * x.detach();
    // d/dx (x²·c) with c = 3 held constant: 2x·3 = 18, not 3x² = 27.
    assert_eq!(y.backward().get(x).item(), 18.0);
}

#[test]
fn unreachable_params_get_zeros() {
    let tape = Tape::new();
    let (a, b) = (tape.param([1.0, 2.0]), tape.param([[1.0], [2.0]]));
    let g = a.sum().backward();
    assert_eq!(g.get(b), Tensor::zeros(&[2, 1]));
}

fn panic_message(f: impl FnOnce()) -> (String, String) {
    use std::sync::{Arc, Mutex};
    let location = Arc::new(Mutex::new(String::new()));
    let seen = Arc::clone(&location);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(l) = info.location() {
            *seen.lock().unwrap() = format!("{}:{}", l.file(), l.line());
        }
    }));
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("should panic");
    std::panic::set_hook(previous);
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let loc = location.lock().unwrap().clone();
    (msg, loc)
}

/// Library misuse panics with the op and both shapes, at the caller's line. One test
/// holds all the checks because the panic hook is process-wide.
#[test]
fn misuse_panics_name_the_op_and_shapes_at_the_callers_line() {
    let tape = Tape::new();
    let a = tape.param(Tensor::zeros(&[2, 3]));
    let b = tape.param(Tensor::zeros(&[4]));

    let (msg, loc) = panic_message(|| {
        let _ = a + b;
    });
    assert_eq!(
        msg,
        "add: shapes [2, 3] and [4] cannot be broadcast together"
    );
    assert!(
        loc.starts_with(&format!("{}:", file!())),
        "reported at {loc}"
    );

    let (msg, loc) = panic_message(|| {
        let _ = a.matmul(&tape.param(Tensor::zeros(&[2, 2])));
    });
    assert_eq!(
        msg,
        "matmul: inner dimensions differ: shapes [2, 3] and [2, 2]"
    );
    assert!(
        loc.starts_with(&format!("{}:", file!())),
        "reported at {loc}"
    );

    let (msg, _) = panic_message(|| {
        let _ = (a * 2.0).backward();
    });
    assert!(msg.starts_with("backward: output #"), "{msg}");
    assert!(msg.contains("has shape [2, 3]"), "{msg}");

    let other = Tape::new();
    let foreign = other.param(1.0);
    let (msg, _) = panic_message(|| {
        let _ = a.sum() * foreign;
    });
    assert!(msg.contains("belongs to another tape"), "{msg}");

    let loss = a.sum();
    let grads = loss.backward();
    let (msg, _) = panic_message(|| {
        let _ = grads.get(foreign);
    });
    assert!(msg.contains("belongs to another tape"), "{msg}");
    let later = tape.param(1.0);
    let (msg, _) = panic_message(|| {
        let _ = grads.get(later * 2.0);
    });
    assert!(msg.contains("recorded after the output"), "{msg}");
    let (msg, _) = panic_message(|| {
        let _ = grads.get(tape.constant(1.0));
    });
    assert!(msg.contains("is a constant"), "{msg}");

    let t = Tape::new();
    t.set_detect_anomaly(true);
    let x = t.param([1.0, -1.0]);
    let (msg, loc) = panic_message(|| {
        let _ = x.ln();
    });
    assert!(
        msg.starts_with("detect_anomaly: ln at node #1 made NaN from finite inputs #0 = [1, -1]"),
        "{msg}"
    );
    assert!(
        loc.starts_with(&format!("{}:", file!())),
        "reported at {loc}"
    );
    let z = t.param(0.0);
    let (msg, _) = panic_message(|| {
        let _ = 1.0 / z;
    });
    assert!(msg.contains("div") && msg.contains("an infinity"), "{msg}");
    // Backward on scalars: √x is finite at 0 but its derivative 1/(2√x) is not.
    let s = t.param(0.0);
    let r = s.sqrt();
    let (msg, _) = panic_message(|| {
        let _ = r.backward();
    });
    assert!(
        msg.contains("backward rule of sqrt") && msg.contains("non-finite"),
        "{msg}"
    );
}

#[test]
fn wengert_listing_and_dot() {
    let tape = Tape::new();
    let m = tape.param(0.9);
    let b = tape.param(0.1);
    let x = tape.constant([0.0, 1.0, 2.0]);
    let y = tape.constant([1.86, 1.31, 0.62]);
    let cost = (m * x + b - y).square().mean();
    insta::assert_snapshot!("listing", tape.to_string());
    let grads = cost.backward();
    insta::assert_snapshot!("listing_with_grads", grads.to_string());
    insta::assert_snapshot!("dot", tape.to_dot(Some(&grads)));
}

#[test]
fn a_scalar_nan_on_the_tape_stays_a_scalar_nan() {
    // Tensor values are stored as NaNs with a payload; a scalar NaN of any payload must
    // never be read back as a tensor.
    let tape = Tape::new();
    let _t = tape.constant([1.0, 2.0, 3.0]);
    for bits in [
        f64::NAN.to_bits(),
        0x7FFC_0000_0000_0000,
        0x7FFC_0000_0000_0001, // the payload of a tensor index
        0xFFFC_0000_0000_0000,
    ] {
        let v = tape.param(f64::from_bits(bits));
        assert!(v.item().is_nan() && v.shape().is_empty(), "{bits:#x}");
        let w = v * 2.0;
        assert!(w.item().is_nan() && w.shape().is_empty(), "{bits:#x}");
    }
}

/// The general regression step above the default release size: of the `[n]` temporaries
/// only the residual stays on the tape (the rule of `square` reads it); the prediction,
/// the shifted prediction and the squares go once consumed, and come back when read.
#[test]
fn large_temporaries_no_rule_reads_are_released() {
    let (n, d) = (70_000, 3);
    let x = tape::Tensor::randn(&[n, d], 1);
    let y = tape::Tensor::randn(&[n], 2);
    let tape = Tape::new();
    let (w, b) = (tape.param(tape::Tensor::zeros(&[d])), tape.param(0.5));
    let (xv, yv) = (tape.constant(x.clone()), tape.constant(y.clone()));
    let p = xv.matmul(&w);
    let q = p + b;
    let r = q - yv;
    let s = r.square();
    let loss = s.mean();
    assert!(p.is_released() && q.is_released() && s.is_released());
    assert!(!r.is_released() && !xv.is_released() && !yv.is_released());
    // Read again, a released value is what it was: here p = 0 and q = 0.5.
    assert!(q.value().data().iter().all(|&v| v == 0.5));
    // The gradient is the hand-derived (2/n)·Σ(0.5 − y) for b.
    let want = 2.0 / n as f64 * y.data().iter().map(|v| 0.5 - v).sum::<f64>();
    let got = loss.backward().get(b).item();
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    // A small tape keeps everything, for the listing.
    let small = Tape::new();
    let v = small.param([1.0, 2.0]);
    let e = v * 2.0;
    let _ = (e + 1.0).sum();
    assert!(!e.is_released());
}

/// A one-value broadcast (the adjoint of a mean) is kept as one value until something
/// reads it as a slice; every way of reading it sees the written-out tensor.
#[test]
fn a_broadcast_single_value_reads_as_the_full_tensor() {
    use tape::Algebra;
    let s = Tensor::scalar(2.5).broadcast_to(&[3, 2]);
    let full = Tensor::new(vec![2.5; 6], &[3, 2]);
    assert_eq!(s.shape(), &[3, 2]);
    assert_eq!(s.numel(), 6);
    assert_eq!(s, full);
    let r = Tensor::new((0..6).map(f64::from).collect(), &[3, 2]);
    assert_eq!(s.mul(&r), full.mul(&r));
    assert_eq!(r.sub(&s), r.sub(&full));
    assert_eq!(s.exp(), full.exp());
    assert_eq!(s.sum_axis(0, false), full.sum_axis(0, false));
    assert_eq!(s.transpose(0, 1), full.transpose(0, 1));
    assert_eq!(s.reshape(&[6]).to_vec(), vec![2.5; 6]);
    assert_eq!(s.gemm(&r, true, false), full.gemm(&r, true, false));
    let mut m = s.clone();
    m.data_mut()[0] = 0.0;
    assert_eq!(m.to_vec(), vec![0.0, 2.5, 2.5, 2.5, 2.5, 2.5]);
    assert_eq!(
        s.to_vec(),
        vec![2.5; 6],
        "a write copies, as for any shared tensor"
    );
}

#[test]
#[should_panic(expected = "set_values: #1 is a const, not a parameter")]
fn only_parameters_take_new_values() {
    let tape = Tape::new();
    let (w, x) = (tape.param(1.0), tape.constant(2.0));
    let _ = w * x;
    tape.set_values([(x, 3.0)]);
}

#[test]
#[should_panic(expected = "set_values: parameter #0 has shape [2]; the new value has shape [3]")]
fn a_new_value_keeps_its_parameters_shape() {
    let tape = Tape::new();
    let w = tape.param([1.0, 2.0]);
    tape.set_values([(w, [1.0, 2.0, 3.0])]);
}

#[test]
fn set_values_leaves_constants_made_from_parameters_as_recorded() {
    // detach and no_grad make data: a later set_values does not reach them.
    let tape = Tape::new();
    let w = tape.param(2.0);
    let (d, n) = (w.detach(), tape.no_grad(|| w * 10.0));
    let y = w * d + n;
    tape.set_values([(w, 3.0)]);
    assert_eq!((d.item(), n.item()), (2.0, 20.0));
    assert_eq!(y.item(), 3.0 * 2.0 + 20.0);
    assert_eq!(y.backward().get(w).item(), 2.0);
}

#[test]
fn handles_made_before_set_values_record_with_the_new_values() {
    // A handle carries its node's value for recording; after set_values the tape's value
    // is the one to use, for parameters and for every value computed from them.
    let tape = Tape::new();
    let w = tape.param(2.0);
    let h = w * w; // 4
    tape.set_values([(w, 3.0)]);
    let z = h + w; // 9 + 3, not 4 + 2
    assert_eq!(z.item(), 12.0);
    assert_eq!(z.backward().get(w).item(), 7.0); // 2w + 1
    let v = tape.param(5.0); // made after: its own value is current
    assert_eq!((v * h).item(), 45.0);
    tape.set_values([(w, 1.0)]);
    assert_eq!((h - 1.0).item(), 0.0);
}

#[test]
fn add_and_sub_write_into_an_input_released_right_after_them() {
    // p = x·w is read by no rule and let go once consumed: p + b may write its sum into
    // p's memory, and (p + b) − y into that of p + b. The values, the gradients and p
    // itself (computed again when read) must be what a tape that keeps everything gives.
    let x = Tensor::randn(&[300, 4], 1);
    let y = Tensor::randn(&[300], 2);
    let run = |release_min: usize, keep_p: bool| {
        let tape = Tape::new();
        tape.set_release_min(release_min);
        let (xv, yv) = (tape.constant(&x), tape.constant(&y));
        let (w, b) = (tape.param(Tensor::randn(&[4], 3)), tape.param(0.25));
        let p = xv.matmul(&w);
        let held = keep_p.then(|| p.value()); // shares p's memory: no writing into it
        let before = p.value().data().as_ptr();
        let q = p + b;
        let wrote_into_p = q.value().data().as_ptr() == before;
        let r = 2.0 - (q - yv);
        let loss = r.square().mean();
        let g = loss.backward();
        let bits = |t: Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let out = (
            bits(r.value()),
            bits(g.get(w)),
            bits(g.get(b)),
            bits(p.value()),
        );
        drop(held);
        (out, wrote_into_p)
    };
    let (kept, in_place) = (run(usize::MAX, false), run(0, false));
    assert_eq!(in_place.0, kept.0);
    assert!(in_place.1, "p + b made a new buffer");
    assert!(!kept.1);
    let shared = run(0, true);
    assert_eq!(shared.0, kept.0);
    assert!(!shared.1, "p + b wrote into memory a caller still holds");
}

/// Elementwise ops on tensors large enough to be split into chunks on every core: each
/// value is the op on the matching inputs, as a plain loop over the elements gives it
/// (broadcast sides included), whichever thread wrote it.
#[test]
fn large_elementwise_ops_match_a_plain_loop() {
    let n = 300_001; // above the size at which kernels go parallel, and not a multiple of a chunk
    let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
    let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos() + 2.0).collect();
    let (ta, tb) = (Tensor::new(a.clone(), &[n]), Tensor::new(b.clone(), &[n]));
    let s = Tensor::scalar(1.5);
    let want = |f: &dyn Fn(usize) -> f64| (0..n).map(f).collect::<Vec<f64>>();
    assert_eq!(ta.map(|x| x * x).to_vec(), want(&|i| a[i] * a[i]));
    assert_eq!(
        ta.zip_with(&tb, "div", |x, y| x / y).to_vec(),
        want(&|i| a[i] / b[i])
    );
    assert_eq!(
        ta.zip_with(&s, "sub", |x, y| x - y).to_vec(),
        want(&|i| a[i] - 1.5)
    );
    assert_eq!(
        s.zip_with(&tb, "sub", |x, y| x - y).to_vec(),
        want(&|i| 1.5 - b[i])
    );
}

#[test]
fn jacobian_matches_the_hand_derivation() {
    // f(x) = [x0·x1, sin(x0) + x1³, exp(x0 − x1)]: a 3 × 2 Jacobian, by hand below.
    let x = Tensor::from([0.7, -1.3]);
    let j = tape::jacobian(
        |v| {
            let t = v.tape();
            let e0 = (v * t.constant(Tensor::from([1.0, 0.0]))).sum();
            let e1 = (v * t.constant(Tensor::from([0.0, 1.0]))).sum();
            let rows = [e0 * e1, e0.sin() + e1.powi(3), (e0 - e1).exp()];
            let mut out = t.constant(Tensor::from([0.0, 0.0, 0.0]));
            for (i, r) in rows.iter().enumerate() {
                let mut unit = [0.0; 3];
                unit[i] = 1.0;
                out += *r * t.constant(Tensor::from(unit));
            }
            out
        },
        &x,
    );
    let (x0, x1) = (0.7f64, -1.3f64);
    let want = [
        x1,
        x0,
        x0.cos(),
        3.0 * x1 * x1,
        (x0 - x1).exp(),
        -(x0 - x1).exp(),
    ];
    assert_eq!(j.shape(), &[3, 2]);
    for (got, want) in j.data().iter().zip(want) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want} (by hand)");
    }
}
