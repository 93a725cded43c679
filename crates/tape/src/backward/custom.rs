//! The backward side of custom ops ([`CustomOp`]): their rule on tensors in the walk,
//! their kept gradient (a fused loss's) in place of the rule, the gradient of a custom
//! op of leaves read with no walk at all, and their rule on `Var` for `create_graph`.
//! On the hot path of the training loops built on a custom op (W2b, W3).

use super::{reached_or_zero, UNREACHED};
use crate::algebra::Algebra;
use crate::op::Op;
use crate::tape::{with_inputs, CustomOp, Inner, Kind, Tape, Var};
use crate::tensor::Tensor;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

impl Inner {
    /// Custom node `k` (node `i`)'s rule on tensors given its output's adjoint `g`: each
    /// input's contribution (`None` where `need` is false), checked for shape.
    #[track_caller]
    pub(crate) fn custom_vjp(
        &self,
        i: usize,
        k: u32,
        g: &Tensor,
        need: &[bool],
    ) -> Vec<Option<Tensor>> {
        let node = &self.customs[k as usize];
        let op = node.op.borrow();
        let y = match self.nodes[i].value.kind() {
            Kind::Scalar(v) => Cow::Owned(Tensor::scalar(v)),
            Kind::Tensor(t) => Cow::Borrowed(&self.tensors[t as usize]),
        };
        with_inputs(self, &node.inputs, false, |x| {
            let mut out = op.vjp(x, &y, g, need);
            out.resize(x.len(), None);
            for (j, d) in out.iter_mut().enumerate() {
                if !need[j] {
                    *d = None;
                } else if let Some(d) = d.as_ref().filter(|d| d.shape() != x[j].shape()) {
                    wrong_shape(op.name(), j, d, x[j]);
                }
            }
            out
        })
    }

    /// The gradients of `wrt` with no backward pass, where that is exactly what the walk
    /// would compute: node `i` is a rank-0 custom op that keeps its gradient
    /// ([`CustomOp::gradient`]) and whose inputs are distinct leaves (each reaches the
    /// output by its one edge, so its gradient is the op's own), every value asked for is
    /// one of them, and anomaly mode is off. False, with `out` in any state, otherwise.
    /// This is each step of a replayed training loop on a fused loss.
    pub(crate) fn custom_leaf_gradients<'t>(
        &self,
        tape: &Tape,
        i: usize,
        wrt: impl Iterator<Item = Var<'t>>,
        out: &mut Vec<Tensor>,
    ) -> bool {
        let node = self.nodes[i];
        let (Op::Custom(k), Kind::Scalar(_)) = (node.op, node.value.kind()) else {
            return false;
        };
        let custom = &self.customs[k as usize];
        if self.detect_anomaly || !custom.leaf_inputs {
            return false;
        }
        let (ins, op) = (custom.inputs, custom.op.borrow());
        for v in wrt {
            let (v, same) = (v.id, std::ptr::eq(v.tape, tape));
            let Some(at) = ins.iter().position(|&j| j == v && same) else {
                return false;
            };
            let Some(d) = op.gradient(at).filter(|_| self.requires_grad(v)) else {
                return false;
            };
            // As the walk reads a rank-0 adjoint: started at −0, so −0 reads as 0.
            // (Its shape was checked when the op was recorded.)
            out.push(match self.nodes[v as usize].value.kind() {
                Kind::Scalar(_) => Tensor::scalar(reached_or_zero(UNREACHED + d.item())),
                Kind::Tensor(_) => d.clone(),
            });
        }
        true
    }

    /// Custom node `k`'s kept gradient in each input (see [`CustomOp::gradient`]) scaled
    /// by the output's adjoint `g`, for the inputs in `need`; `None` if the op keeps none.
    pub(crate) fn custom_kept_gradients(
        &self,
        k: u32,
        g: f64,
        need: &[bool],
    ) -> Option<SmallVec<[Option<Tensor>; 4]>> {
        let node = &self.customs[k as usize];
        let op = node.op.borrow();
        let mut out = SmallVec::new();
        for (j, &need) in need.iter().enumerate() {
            let d = op.gradient(j);
            if need && d.is_none() {
                return None;
            }
            out.push(
                d.filter(|_| need)
                    .map(|d| if g == 1.0 { d.clone() } else { d.scale(g) }),
            );
        }
        Some(out)
    }

    /// Custom node `k`'s op, shared (its rule on `Var` records onto this tape).
    pub(crate) fn custom_op(&self, k: u32) -> Rc<RefCell<dyn CustomOp>> {
        Rc::clone(&self.customs[k as usize].op)
    }
}

impl Tape {
    /// `grad(create_graph)`'s step through custom node `k`: its rule on `Var`.
    #[track_caller]
    pub(crate) fn custom_vjp_var<'t>(
        &'t self,
        k: u32,
        xs: &[Var<'t>],
        y: Var<'t>,
        g: Var<'t>,
        need: &[bool],
    ) -> Vec<Option<Var<'t>>> {
        let op = self.inner.borrow().custom_op(k);
        let op = op.borrow();
        match op.vjp_var(xs, y, g, need) {
            Some(out) => out,
            None => panic!(
                "grad(create_graph): the custom op {} has no rule on Var (CustomOp::vjp_var), \
                 so its gradient cannot be differentiated again",
                op.name()
            ),
        }
    }
}

/// The panic of a custom op whose rule gave input `j` a gradient not shaped like it.
#[cold]
#[track_caller]
fn wrong_shape(op: &str, j: usize, d: &Tensor, input: &Tensor) -> ! {
    panic!(
        "{op}: the gradient for input {j} has shape {:?}; the input has shape {:?}",
        d.shape(),
        input.shape()
    )
}
