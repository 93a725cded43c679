//! Recording: an op applied to handles becomes a node. The scalar fast path (every input
//! a rank-0 handle of this epoch: the op evaluated on `f64` from the values the handles
//! carry) and the general path (tensors, releasing, anomaly checks). The hot path of
//! every model (W1 is its scalar path, a million times over).

use super::node::{Node, Slot};
use super::store::{Inner, LIVE};
use super::Tape;
use crate::algebra::Algebra;
use crate::op::{Id, Op};
use crate::tape::Var;
use crate::tensor::Tensor;
use smallvec::SmallVec;

/// The input handles of an op being recorded, passed by value (a slice of them would be
/// built in memory, and read back at a cost on every op of a scalar chain).
#[derive(Clone, Copy)]
pub(crate) enum Ins<'t> {
    /// An op with no scalar path (its inputs are read from the tape).
    Tensor,
    One(Var<'t>),
    Two(Var<'t>, Var<'t>),
}

impl Tape {
    /// Records `op` applied to its inputs and returns the handle of the result.
    /// `ins` are the handles of `op`'s inputs, in order (the scalar path reads their
    /// values), or `Ins::Tensor` for an op that has no scalar path.
    ///
    /// The op comes as a function that makes it, called again for the tensor path: an op
    /// passed to that out-of-line path by reference would need a copy in memory, which
    /// the scalar path would then read back (a stall on every op of a scalar chain).
    #[inline(always)]
    #[track_caller]
    pub(crate) fn record<'t>(
        &'t self,
        op: impl Fn() -> Op,
        ins: Ins<'t>,
        target: &[usize],
    ) -> Var<'t> {
        if target.is_empty() && !matches!(ins, Ins::Tensor) {
            if let Some(v) = self.inner.borrow_mut().record_scalar(self, op(), ins) {
                return v;
            }
        }
        let id = self.record_tensor(op(), target);
        self.inner.borrow().handle(self, id)
    }

    /// The general path: tensor values, anomaly checks.
    #[track_caller]
    pub(crate) fn record_tensor(&self, op: Op, target: &[usize]) -> Id {
        let mut inner = self.inner.borrow_mut();
        let ins = op.inputs();
        let live = !inner.no_grad && ins.iter().any(|&i| inner.requires_grad(i));
        let op_kept = if live { op } else { Op::Const };
        let (scalars, all_scalar) = inner.scalars(&ins);
        if all_scalar && target.is_empty() && op.scalar_closed() {
            let y = op.eval::<f64>(&scalars[..ins.len()], target);
            if inner.detect_anomaly {
                check_forward(
                    &inner,
                    op.name(),
                    &ins,
                    inner.nodes.len(),
                    &Tensor::scalar(y),
                );
            }
            return inner.push_scalar(op_kept, y);
        }
        if live && op.saves().inputs {
            // Put back any released input this rule will read, before computing.
            inner.consume(op);
        }
        let y = match inner.donor(op, live) {
            Some(a) => {
                let b = inner.value(ins[1]);
                // Each element by the op's own rule on numbers (`Algebra for f64`).
                let name = op.name();
                match op {
                    Op::Add(..) => a.zip_with_owned(&b, name, |x, y| Algebra::add(&x, &y)),
                    _ => a.zip_with_owned(&b, name, |x, y| Algebra::sub(&x, &y)),
                }
            }
            None => {
                let xs: SmallVec<[Tensor; 4]> = ins.iter().map(|&i| inner.value(i)).collect();
                op.eval::<Tensor>(&xs, target)
            }
        };
        if inner.detect_anomaly {
            check_forward(&inner, op.name(), &ins, inner.nodes.len(), &y);
        }
        let id = inner.push(op_kept, y);
        if live && !op.saves().inputs {
            inner.consume(op);
        }
        id
    }
}

impl Inner {
    /// The scalar fast path of recording: every input a rank-0 handle of this epoch (so
    /// each carries its node's current value: recording a step of a long chain reads no
    /// earlier node), no anomaly checks. Pushes the node and returns its handle, or
    /// `None`, leaving the tape as it was, for the general path.
    #[inline(always)]
    pub(crate) fn record_scalar<'t>(
        &mut self,
        tape: &'t Tape,
        op: Op,
        ins: Ins<'t>,
    ) -> Option<Var<'t>> {
        if !op.scalar_closed() {
            return None;
        }
        let key = self.key;
        let number = |v: &Var<'_>| f64::from_bits(v.slot.0); // rank 0: the bits themselves
        let (y, live) = match ins {
            Ins::One(a) if a.stamp | LIVE == key => (op.eval::<f64>(&[number(&a)], &[]), a.stamp),
            Ins::Two(a, b) if ((a.stamp | LIVE) ^ key) | ((b.stamp | LIVE) ^ key) == 0 => (
                op.eval::<f64>(&[number(&a), number(&b)], &[]),
                a.stamp | b.stamp,
            ),
            _ => return None,
        };
        let live = live & LIVE == LIVE && !self.no_grad;
        let value = Slot::scalar(y);
        // Two pushes rather than one of a chosen op: a select between two enum values
        // compiles to byte-by-byte copies through the stack.
        if live {
            self.nodes.push(Node { op, value });
            self.note_op(op);
        } else {
            self.nodes.push(Node {
                op: Op::Const,
                value,
            });
        }
        Some(Var {
            tape,
            id: self.nodes.len() as Id - 1,
            stamp: key ^ u32::from(!live),
            slot: value,
        })
    }
}

#[track_caller]
/// Panics if `op` at node `at` made a NaN or an infinity from finite inputs.
pub(crate) fn check_forward(inner: &Inner, name: &str, ins: &[Id], at: usize, value: &Tensor) {
    let finite = |t: &Tensor| t.data().iter().all(|x| x.is_finite());
    if finite(value) || !ins.iter().all(|&i| finite(&inner.value(i))) {
        return;
    }
    let args: Vec<String> = ins
        .iter()
        .map(|&i| format!("#{i} = {}", inner.value(i)))
        .collect();
    panic!(
        "detect_anomaly: {name} at node #{} made {} from finite inputs {}",
        at,
        if value.data().iter().any(|x| x.is_nan()) {
            "NaN"
        } else {
            "an infinity"
        },
        args.join(", ")
    );
}
