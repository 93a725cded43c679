//! [`Gradients`]: the adjoints of one backward pass, how a rule's contribution is added
//! into them (`step`, the tensor path of the walk), and how they are read. `step` is on
//! the hot path of every tensor model.

use super::{is_unreached, reached_or_zero};
use crate::op::{Id, Op};
use crate::tape::Var;
use crate::tape::{Inner, Kind, Tape};
use crate::tensor::Tensor;
use smallvec::SmallVec;

/// The gradients from one backward pass: the adjoint of every node up to the output.
///
/// Read a parameter's gradient with [`Gradients::get`]. Printing a `Gradients` prints
/// the tape's Wengert list with each node's adjoint.
pub struct Gradients<'t> {
    pub(crate) tape: &'t Tape,
    pub(crate) len: usize,
    pub(crate) scalars: Vec<f64>,
    pub(crate) tensors: Vec<Option<Tensor>>,
}

impl Drop for Gradients<'_> {
    fn drop(&mut self) {
        // Hand the adjoint buffers back for the next backward pass. A tape borrowed
        // elsewhere at this moment just lets the buffer go.
        if let Ok(mut inner) = self.tape.inner.try_borrow_mut() {
            if inner.spare.0.capacity() < self.scalars.capacity() {
                inner.spare.0 = std::mem::take(&mut self.scalars);
            }
            if inner.spare.1.capacity() < self.tensors.capacity() {
                self.tensors.clear();
                inner.spare.1 = std::mem::take(&mut self.tensors);
            }
        }
    }
}

impl<'t> Gradients<'t> {
    /// One step of backward by the op's rule on tensors: every node that is not on the
    /// scalar fast path. Kept out of line, so that the fast path's loop stays small
    /// enough to keep its state in registers.
    #[inline(never)]
    pub(crate) fn step(&mut self, inner: &Inner, i: usize) {
        let node = inner.nodes[i];
        let ins = inner.spec(node.op).inputs;
        if ins.is_empty() {
            return;
        }
        let g = match node.value.kind() {
            Kind::Scalar(_) if is_unreached(self.scalars[i]) => return,
            Kind::Scalar(_) => Tensor::scalar(self.scalars[i]),
            Kind::Tensor(k) => match &self.tensors[k as usize] {
                Some(g) => g.clone(),
                None => return, // unreachable from the output
            },
        };
        if let Op::Custom(k) = node.op {
            let need: SmallVec<[bool; 4]> = ins.iter().map(|&j| inner.requires_grad(j)).collect();
            let kept = match node.value.kind() {
                Kind::Scalar(_) => inner.custom_kept_gradients(k, g.item(), &need),
                Kind::Tensor(_) => None,
            };
            let out = match kept {
                Some(kept) => kept.into_vec(),
                None => inner.custom_vjp(i, k, &g, &need),
            };
            for (&input, d) in ins.iter().zip(out) {
                if let Some(d) = d {
                    self.put(inner, i, input, d);
                }
            }
            return;
        }
        let xs: SmallVec<[Tensor; 4]> = ins.iter().map(|&j| inner.value_for_backward(j)).collect();
        let y = inner.value_for_backward(i as Id);
        let need = [0, 1].map(|k| ins.get(k).is_some_and(|&j| inner.requires_grad(j)));
        let out = node.op.vjp(&xs, &y, &g, need);
        for (k, d) in out.into_iter().enumerate() {
            if let Some(d) = d {
                self.put(inner, i, ins[k], d);
            }
        }
    }

    /// Adds `d`, the contribution of node `i`'s rule to its input `input`, into that
    /// input's adjoint (in anomaly mode, first checks that it is finite).
    pub(crate) fn put(&mut self, inner: &Inner, i: usize, input: Id, d: Tensor) {
        if inner.detect_anomaly && d.data().iter().any(|x| !x.is_finite()) {
            panic!(
                "detect_anomaly: the backward rule of {} at node #{i} \
                 made a non-finite gradient for its input #{input}",
                inner.spec(inner.nodes[i].op).name,
            );
        }
        self.accumulate(inner, input, d);
    }

    pub(crate) fn accumulate(&mut self, inner: &Inner, id: Id, d: Tensor) {
        match inner.nodes[id as usize].value.kind() {
            Kind::Scalar(_) => self.scalars[id as usize] += d.item(),
            Kind::Tensor(k) => match &mut self.tensors[k as usize] {
                Some(g) => {
                    debug_assert_eq!(g.shape(), d.shape());
                    for (a, b) in g.data_mut().iter_mut().zip(d.data()) {
                        *a += b;
                    }
                }
                slot @ None => *slot = Some(d),
            },
        }
    }

    /// The adjoint of node `id`, or `None` for a node past the output.
    pub(crate) fn adjoint(&self, id: usize) -> Option<Tensor> {
        self.adjoint_in(&self.tape.inner.borrow(), id)
    }

    pub(crate) fn adjoint_in(&self, inner: &Inner, id: usize) -> Option<Tensor> {
        if id >= self.len {
            return None;
        }
        Some(match inner.nodes[id].value.kind() {
            Kind::Scalar(_) => Tensor::scalar(reached_or_zero(self.scalars[id])),
            Kind::Tensor(k) => match &self.tensors[k as usize] {
                Some(g) => g.clone(),
                None => Tensor::zeros(inner.tensors[k as usize].shape()),
            },
        })
    }

    /// The gradient of the output with respect to `v`, shaped like `v`; zeros where `v`
    /// does not reach the output. Panics if `v` needs no gradient (it is a constant),
    /// was recorded after the output, or belongs to another tape.
    ///
    /// ```
    /// let tape = tape::Tape::new();
    /// let (a, b) = (tape.param(2.0), tape.param(5.0));
    /// let grads = (a * 3.0).backward();
    /// assert_eq!((grads.get(a).item(), grads.get(b).item()), (3.0, 0.0));
    /// ```
    #[track_caller]
    pub fn get(&self, v: Var<'t>) -> Tensor {
        match self.try_get(v) {
            Ok(g) => g,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`Gradients::try_get`], moving a tensor adjoint out instead of cloning it (the
    /// set is dropped next: see [`Var::backward_into`]).
    pub(crate) fn take(&mut self, v: Var<'t>) -> Result<Tensor, String> {
        if std::ptr::eq(self.tape, v.tape) && v.requires_grad() && (v.id as usize) < self.len {
            let inner = self.tape.inner.borrow();
            if let Kind::Tensor(k) = inner.nodes[v.id as usize].value.kind() {
                if let Some(g) = self.tensors[k as usize].take() {
                    return Ok(g);
                }
            }
        }
        self.try_get(v)
    }

    /// Like [`Gradients::get`], with the reason as an error instead of a panic.
    pub fn try_get(&self, v: Var<'t>) -> Result<Tensor, String> {
        if !std::ptr::eq(self.tape, v.tape) {
            return Err(format!(
                "Gradients::get: value #{} belongs to another tape",
                v.id
            ));
        }
        let inner = self.tape.inner.borrow();
        if !inner.requires_grad(v.id) {
            return Err(format!(
                "Gradients::get: value #{} is a constant (it needs no gradient); make it with Tape::param",
                v.id
            ));
        }
        match self.adjoint_in(&inner, v.id as usize) {
            Some(g) => Ok(g),
            None if matches!(inner.nodes[v.id as usize].op, Op::Param) => {
                Ok(Tensor::zeros(inner.value(v.id).shape()))
            }
            None => Err(format!(
                "Gradients::get: value #{} was recorded after the output #{}; it is not part of this backward pass",
                v.id,
                self.len - 1
            )),
        }
    }
}
