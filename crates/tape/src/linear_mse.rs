//! The fused linear-MSE loss, `mean((x·w + b − y)²)` in one pass over the rows of `x`,
//! as a custom op: its forward pass also leaves the gradient in `w` and `b` (kept in the
//! op, as `save_for_backward`), so a training step reads `x` once and makes no `[n]`
//! temporaries. On the hot path of the model crate's training loop (W2b, W3).

use crate::algebra::Algebra;
use crate::op::Saves;
use crate::tape::{CustomOp, Var};
use crate::tensor::Tensor;

/// The op: the gradient of the loss in `w` and `b` from its last forward pass, shaped as
/// they are.
struct LinearMse {
    grads: [Tensor; 2],
}

/// `mean((x·w + b − y)²)` recorded as one fused op: the forward pass reads each row of
/// `x` once and leaves the gradient in `w` and `b` for backward, so a training step reads
/// `x` once instead of the general path's several passes and `[n]` temporaries. `x`
/// (`[n, d]`) and `y` (`[n]` or `[n, 1]`) are data; `w` is `[d]` or `[d, 1]`, `b` is `[]` or `[1]`.
/// The gradient is the general path's, to rounding (the tests check it); higher-order
/// derivatives (`tape.grad(.., create_graph)`) and forward mode use the general rule.
///
/// ```
/// use tape::prelude::*;
/// let tape = Tape::new();
/// let x = tape.constant([[0.0], [1.0], [2.0]]);
/// let y = tape.constant([1.0, 3.0, 5.0]);
/// let (w, b) = (tape.param([1.0]), tape.param(0.0));
/// let fused = tape::linear_mse(x, w, b, y);
/// let general = (x.matmul(&w) + b - y).square().mean();
/// assert!((fused.item() - general.item()).abs() < 1e-12);
/// let (gf, gg) = (fused.backward(), general.backward());
/// assert!((gf.get(w).item() - gg.get(w).item()).abs() < 1e-12);
/// ```
#[track_caller]
pub fn linear_mse<'t>(x: Var<'t>, w: Var<'t>, b: Var<'t>, y: Var<'t>) -> Var<'t> {
    let tape = x.tape();
    let recording = !tape.inner.borrow().no_grad;
    for (v, what) in [(&x, "x"), (&y, "y")] {
        assert!(
            !(recording && v.requires_grad()),
            "linear_mse: {what} (#{}) requires a gradient; the fused op treats x and y as data: use the general path (x.matmul(w) + b - y) to differentiate through them",
            v.id
        );
    }
    // Shapes checked here, so that a misuse panics at the caller's line.
    let shapes = [w, b, x, y].map(|v| v.shape());
    check_shapes(&shapes[2], &shapes[0], &shapes[1], &shapes[3]);
    let grads = [Tensor::zeros(&shapes[0]), Tensor::zeros(&shapes[1])];
    tape.custom(LinearMse { grads }, &[w, b, x, y])
}

/// Panics unless `x` is `[n, d]` with n ≥ 1, `w` `[d]` or `[d, 1]`, `b` `[]` or `[1]`, and
/// `y` `[n]` or `[n, 1]`.
#[track_caller]
fn check_shapes(xs: &[usize], ws: &[usize], bs: &[usize], ys: &[usize]) {
    // Matched, not compared as slices: a slice `==` calls `memcmp`, every step.
    let ok = match *xs {
        [n, d] => {
            n > 0
                && matches!(*ws, [k] | [k, 1] if k == d)
                && matches!(*bs, [] | [1])
                && matches!(*ys, [m] | [m, 1] if m == n)
        }
        _ => false,
    };
    assert!(
        ok,
        "linear_mse: x {xs:?}, w {ws:?}, b {bs:?}, y {ys:?}: needs x [n, d], w [d] or [d, 1], b [] or [1], y [n] or [n, 1] with n ≥ 1",
    );
}

/// The general rule, on any [`Algebra`]: with r = x·w + b − y and n rows,
/// ∂w = (2/n)·xᵀr and ∂b = (2/n)·Σr (x and y are data).
fn general_vjp<T: Algebra>(w: &T, b: &T, x: &T, y: &T, g: &T, need: &[bool]) -> Vec<Option<T>> {
    let p = x.matmul(w);
    let r = p.add(b).sub(&y.reshape(&p.shape()));
    let scale = g.scale(2.0 / r.numel() as f64);
    vec![
        need[0].then(|| x.transpose(0, 1).matmul(&r).mul(&scale)),
        need[1].then(|| r.sum().mul(&scale).broadcast_to(&b.shape())),
        None,
        None,
    ]
}

impl CustomOp for LinearMse {
    fn name(&self) -> &'static str {
        "linear_mse"
    }

    /// One pass over the rows; the gradient is written over the last one. The shapes
    /// were checked when the op was recorded, and a replay changes none (a parameter's
    /// new value has its shape; data are constants).
    fn forward(&mut self, inputs: &[&Tensor]) -> Tensor {
        let [w, b, x, y] = [inputs[0], inputs[1], inputs[2], inputs[3]];
        let [gw, gb] = &mut self.grads;
        let (loss, db) =
            crate::kernels::linear_mse(x.data(), y.data(), w.data(), b.data()[0], gw.data_mut());
        gb.data_mut()[0] = db;
        Tensor::scalar(loss)
    }

    /// The kept gradient times `g` (the loss is rank 0): shared, not copied, for the
    /// usual seed of 1.
    fn vjp(&self, _: &[&Tensor], _: &Tensor, g: &Tensor, need: &[bool]) -> Vec<Option<Tensor>> {
        let g = g.item();
        let scaled = |d: &Tensor| if g == 1.0 { d.clone() } else { d.scale(g) };
        vec![
            need[0].then(|| scaled(&self.grads[0])),
            need[1].then(|| scaled(&self.grads[1])),
            None,
            None,
        ]
    }

    fn gradient(&self, input: usize) -> Option<&Tensor> {
        self.grads.get(input) // none for x and y: they are data
    }

    fn vjp_var<'t>(
        &self,
        x: &[Var<'t>],
        _: Var<'t>,
        g: Var<'t>,
        need: &[bool],
    ) -> Option<Vec<Option<Var<'t>>>> {
        Some(general_vjp(&x[0], &x[1], &x[2], &x[3], &g, need))
    }

    /// The loss is a function of `w` and `b` alone (x and y are data): its tangent is
    /// the saved gradient dotted with theirs.
    fn jvp(&self, _: &[&Tensor], _: &Tensor, t: &[Option<&Tensor>]) -> Option<Tensor> {
        let mut dot = 0.0;
        for (d, t) in self.grads.iter().zip(t) {
            if let Some(t) = t {
                dot += d
                    .data()
                    .iter()
                    .zip(t.data())
                    .map(|(a, b)| a * b)
                    .sum::<f64>();
            }
        }
        Some(Tensor::scalar(dot))
    }

    fn saves(&self) -> Saves {
        Saves {
            inputs: true,
            output: false,
        }
    }
}
