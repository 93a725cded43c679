//! Custom ops: a user's operation with its own forward and backward rules, recorded as
//! one node, as PyTorch's `autograd.Function`, JAX's `custom_vjp` or candle's `CustomOp`.
//! The op enum has one variant for all of them, [`Op::Custom`], indexing the tape's
//! table of custom nodes. This file holds the trait, the table, recording and replay;
//! the backward side is `backward/custom.rs`. The fused `linear_mse` is built on this
//! seam (`linear_mse.rs`). On the hot path of the training loops built on a custom op.

use super::{check_forward, Inner, Kind, Slot, Tape, Var};
use crate::op::{Id, Inputs, Op, Path, Saves, Spec};
use crate::tensor::Tensor;
use smallvec::SmallVec;
use std::cell::RefCell;
use std::rc::Rc;

/// A user-defined op: its forward value on tensors, its vector-Jacobian product, and
/// optionally the same product written on [`Var`] (so that its gradient can itself be
/// differentiated) and a forward-mode rule (for [`Dual`](crate::Dual)). Recorded by
/// [`Tape::custom`] as one node, named in the listing by [`CustomOp::name`].
///
/// A user's `softplus`, `ln(1 + eˣ)`, whose derivative is the logistic function. The
/// backward rule is written once against [`Algebra`](crate::Algebra) and used on tensors
/// and on `Var`:
///
/// ```
/// use tape::{Algebra, CustomOp, Tape, Tensor, Var};
///
/// struct Softplus;
///
/// fn slope<T: Algebra>(x: &T, g: &T) -> T {
///     g.mul(&x.sigmoid())
/// }
///
/// impl CustomOp for Softplus {
///     fn name(&self) -> &'static str {
///         "my_softplus"
///     }
///     fn forward(&mut self, x: &[&Tensor]) -> Tensor {
///         x[0].map(|v| v.exp().ln_1p())
///     }
///     fn vjp(&self, x: &[&Tensor], _y: &Tensor, g: &Tensor, _need: &[bool]) -> Vec<Option<Tensor>> {
///         vec![Some(slope(x[0], g))]
///     }
///     fn vjp_var<'t>(&self, x: &[Var<'t>], _y: Var<'t>, g: Var<'t>, _need: &[bool]) -> Option<Vec<Option<Var<'t>>>> {
///         Some(vec![Some(slope(&x[0], &g))])
///     }
/// }
///
/// let tape = Tape::new();
/// let x = tape.param([0.0, 2.0]);
/// let y = tape.custom(Softplus, &[x]).sum();
/// let g = y.backward().get(x);
/// assert_eq!(g.to_vec(), vec![0.5, 1.0 / (1.0 + (-2.0f64).exp())]);
/// // Second order through the rule on Var: d²/dx² softplus = σ(x)(1 − σ(x)) = 1/4 at 0.
/// let dy = tape.grad(y, &[x], true)[0];
/// let d2 = tape.grad(dy.sum(), &[x], false)[0].value();
/// assert_eq!(d2.to_vec()[0], 0.25);
/// assert!(format!("{tape}").contains("my_softplus(#0)"));
/// ```
pub trait CustomOp: 'static {
    /// The op's name, as the listing, DOT and panics print it.
    fn name(&self) -> &'static str;

    /// The value from the inputs' values. Takes `&mut self` so that the op may keep
    /// what its backward rule needs (PyTorch's `ctx.save_for_backward`); it runs again,
    /// on the same op, when the tape replays (`Tape::set_values`).
    fn forward(&mut self, inputs: &[&Tensor]) -> Tensor;

    /// The vector-Jacobian product: given the inputs, the output and the output's
    /// adjoint `grad`, the contribution to each input's adjoint, shaped like that input,
    /// one entry per input (`None` for an input that gets none). Entries whose `need` is
    /// false are not read and may be `None`.
    fn vjp(
        &self,
        inputs: &[&Tensor],
        output: &Tensor,
        grad: &Tensor,
        need: &[bool],
    ) -> Vec<Option<Tensor>>;

    /// The same product recorded on the tape, for [`Tape::grad`] with `create_graph`.
    /// `None`, the default, means the op cannot be differentiated twice: `grad` with
    /// `create_graph` then panics, naming it.
    fn vjp_var<'t>(
        &self,
        inputs: &[Var<'t>],
        output: Var<'t>,
        grad: Var<'t>,
        need: &[bool],
    ) -> Option<Vec<Option<Var<'t>>>> {
        let _ = (inputs, output, grad, need);
        None
    }

    /// Forward mode: the output's tangent given the inputs' tangents (`None` for a
    /// constant input), for [`Dual::custom`](crate::Dual::custom). `None`, the default,
    /// means the op has no forward-mode rule.
    fn jvp(
        &self,
        inputs: &[&Tensor],
        output: &Tensor,
        tangents: &[Option<&Tensor>],
    ) -> Option<Tensor> {
        let _ = (inputs, output, tangents);
        None
    }

    /// For an op with a rank-0 output whose forward pass computes its gradient along the
    /// way (a fused loss): the gradient of the output in input `input`, as of the last
    /// forward pass, so that the engine need not call `vjp` (it scales this by the
    /// output's adjoint, and reads it as it is for the usual seed of 1). It must be what
    /// `vjp` would give for an adjoint of 1, shaped like the input (checked once, when the
    /// op is recorded). `None`, the default, means "call `vjp`".
    fn gradient(&self, input: usize) -> Option<&Tensor> {
        let _ = input;
        None
    }

    /// What [`CustomOp::vjp`] reads besides shapes. Inputs it does not read may be
    /// released by the tape once consumed and reach `vjp` as their shape alone
    /// (see [`Tape::set_release_min`]). The default keeps everything.
    fn saves(&self) -> Saves {
        Saves {
            inputs: true,
            output: true,
        }
    }
}

/// A custom op on a tape: the op (shared, so that `grad(create_graph)` can run its rule
/// while the rule records onto the same tape) and its inputs.
pub(crate) struct CustomNode {
    pub(crate) op: Rc<RefCell<dyn CustomOp>>,
    pub(crate) inputs: Inputs,
    /// True if every input is a leaf and none appears twice (each then reaches the
    /// output by its one edge: see `custom_leaf_gradients`).
    pub(crate) leaf_inputs: bool,
}

impl CustomNode {
    #[inline]
    fn spec(&self) -> Spec {
        let op = self.op.borrow();
        Spec {
            name: op.name(),
            inputs: self.inputs,
            saves: op.saves(),
            path: Path::Tensor,
            rule: "the op's own rule (CustomOp::vjp)",
        }
    }
}

/// Runs `f` on a custom op's inputs as its rules take them: read in place where the tape
/// holds them (this runs every step of a training loop on a fused loss, whose data may be
/// large), a rank-0 value as a tensor of its own. A released value is computed again for
/// `forward`; `vjp` gets it as its shape alone (see [`CustomOp::saves`]).
pub(crate) fn with_inputs<R>(
    inner: &Inner,
    ids: &[Id],
    for_forward: bool,
    f: impl FnOnce(&[&Tensor]) -> R,
) -> R {
    // The values made here (rank 0, or released), by input position: usually one, `b`.
    let mut made: SmallVec<[(usize, Tensor); 2]> = SmallVec::new();
    for (k, &j) in ids.iter().enumerate() {
        match inner.nodes[j as usize].value.kind() {
            Kind::Scalar(v) => made.push((k, Tensor::scalar(v))),
            Kind::Tensor(t) if for_forward && inner.tensors[t as usize].is_released() => {
                made.push((k, inner.value(j)))
            }
            Kind::Tensor(_) => {}
        }
    }
    let filler;
    let first = match (made.first(), inner.tensors.first()) {
        (Some((_, t)), _) | (None, Some(t)) => t,
        (None, None) => {
            filler = Tensor::scalar(0.0);
            &filler
        }
    };
    let mut refs: [&Tensor; 4] = [first; 4];
    for (k, &j) in ids.iter().enumerate() {
        if let Kind::Tensor(t) = inner.nodes[j as usize].value.kind() {
            refs[k] = &inner.tensors[t as usize];
        }
    }
    for (k, t) in &made {
        refs[*k] = t;
    }
    f(&refs[..ids.len()])
}

impl Tape {
    /// Records a user's op (see [`CustomOp`]) applied to `inputs` (one to four values of
    /// this tape) as one node, and returns its value. As every op, it is recorded as a
    /// constant when no input requires a gradient or inside `no_grad`.
    ///
    /// ```
    /// use tape::{CustomOp, Tape, Tensor};
    /// struct Twice;
    /// impl CustomOp for Twice {
    ///     fn name(&self) -> &'static str { "twice" }
    ///     fn forward(&mut self, x: &[&Tensor]) -> Tensor { x[0].map(|v| 2.0 * v) }
    ///     fn vjp(&self, _: &[&Tensor], _: &Tensor, g: &Tensor, _: &[bool]) -> Vec<Option<Tensor>> {
    ///         vec![Some(g.map(|v| 2.0 * v))]
    ///     }
    /// }
    /// let tape = Tape::new();
    /// let x = tape.param(3.0);
    /// let y = tape.custom(Twice, &[x]);
    /// assert_eq!((y.item(), y.backward().get(x).item()), (6.0, 2.0));
    /// ```
    #[track_caller]
    pub fn custom<'t>(&'t self, mut op: impl CustomOp, inputs: &[Var<'t>]) -> Var<'t> {
        let name = op.name();
        assert!(
            (1..=4).contains(&inputs.len()),
            "{name}: a custom op takes 1 to 4 inputs; it was given {}",
            inputs.len()
        );
        for v in inputs {
            self.same_tape(name, v);
        }
        let ids: SmallVec<[Id; 4]> = inputs.iter().map(|v| v.id).collect();
        let mut inner = self.inner.borrow_mut();
        let y = with_inputs(&inner, &ids, true, |x| {
            let y = op.forward(x);
            // A kept gradient is read with no further check (it runs every step):
            // checked here, once, at the caller's line.
            for (j, x) in x.iter().enumerate() {
                if let Some(d) = op.gradient(j).filter(|d| d.shape() != x.shape()) {
                    panic!(
                        "{name}: the kept gradient for input {j} has shape {:?}; the input has shape {:?}",
                        d.shape(),
                        x.shape()
                    );
                }
            }
            y
        });
        if inner.detect_anomaly {
            check_forward(&inner, name, &ids, inner.nodes.len(), &y);
        }
        let live = !inner.no_grad && ids.iter().any(|&i| inner.requires_grad(i));
        let id = if live {
            let k = inner.customs.len() as u32;
            let leaf = |j: &Id| matches!(inner.nodes[*j as usize].op, Op::Const | Op::Param);
            let distinct = (0..ids.len()).all(|a| !ids[a + 1..].contains(&ids[a]));
            let leaf_inputs = distinct && ids.iter().all(leaf);
            inner.customs.push(CustomNode {
                op: Rc::new(RefCell::new(op)),
                inputs: Inputs::from_slice(&ids),
                leaf_inputs,
            });
            let id = inner.push(Op::Custom(k), y);
            inner.consume(Op::Custom(k));
            id
        } else {
            inner.push(Op::Const, y)
        };
        inner.handle(self, id)
    }
}

impl Inner {
    /// The declaration of `op` (see [`Op::spec`]), a custom op's from its table.
    #[inline(always)]
    pub(crate) fn spec(&self, op: Op) -> Spec {
        match op {
            Op::Custom(k) => self.customs[k as usize].spec(),
            _ => op.spec(),
        }
    }

    /// Replay of custom node `i` (table entry `k`): its forward run again on its inputs'
    /// current values.
    #[track_caller]
    pub(crate) fn replay_custom(&mut self, i: usize, k: u32) {
        let node = &self.customs[k as usize];
        let y = with_inputs(self, &node.inputs, true, |x| {
            node.op.borrow_mut().forward(x)
        });
        if self.detect_anomaly {
            check_forward(self, node.op.borrow().name(), &node.inputs, i, &y);
        }
        match self.nodes[i].value.kind() {
            Kind::Scalar(_) => self.nodes[i].value = Slot::scalar(y.item()),
            Kind::Tensor(t) => self.tensors[t as usize] = y,
        }
    }
}
