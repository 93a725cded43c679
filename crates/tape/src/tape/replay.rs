//! Replay: parameters given new values, and every op recorded after them evaluated
//! again in recording order, so a training loop whose graph does not change records it
//! once. On the hot path of a replayed training loop.

use super::node::{Kind, Node, Slot};
use super::record::check_forward;
use super::store::{Inner, EPOCH_STALE};
use super::{same_shape, Leaf, Tape};
use crate::op::{Id, Op};
use crate::tape::Var;
use crate::tensor::Tensor;

impl Tape {
    /// Gives parameters new values and computes again every value recorded after them:
    /// the recorded tape run as a program on new inputs (as ADOL-C re-evaluates a trace,
    /// or a captured graph is replayed), so a training loop whose graph does not change
    /// records it once instead of every step. Values, gradients and `backward()` are then
    /// exactly those of a tape recorded afresh at the new values. Each new value must
    /// have its parameter's shape. Constants keep their values, including those made
    /// from parameters by `detach`, `no_grad` or `map_const`: they were data when recorded.
    ///
    /// ```
    /// use tape::prelude::*;
    /// let tape = Tape::new();
    /// let (w, b) = (tape.param(2.0), tape.param([1.0, 1.0]));
    /// let loss = (w * b).square().sum();
    /// assert_eq!(loss.item(), 8.0);
    /// tape.set_values([(w, Tensor::scalar(3.0)), (b, Tensor::from([1.0, 2.0]))]);
    /// assert_eq!(loss.item(), 45.0); // 3² + 6²
    /// assert_eq!(loss.backward().get(w).item(), 30.0); // 2·(3·1·1 + 6·2)
    /// ```
    #[track_caller]
    pub fn set_values<'t, 'a, L: Into<Leaf<'a>>>(
        &'t self,
        values: impl IntoIterator<Item = (Var<'t>, L)>,
    ) {
        let mut inner = self.inner.borrow_mut();
        let mut first = inner.nodes.len();
        inner.epoch = (inner.epoch + 1).min(EPOCH_STALE);
        inner.set_key();
        for (v, value) in values {
            self.same_tape("set_values", &v);
            inner.set_leaf(v.id, value.into());
            first = first.min(v.id as usize);
        }
        inner.recompute(first);
    }
}

impl Inner {
    /// Writes a new value into parameter `id`, of the same shape.
    #[track_caller]
    pub(crate) fn set_leaf(&mut self, id: Id, value: Leaf<'_>) {
        // The usual case first, with nothing else on its way: a tensor parameter given
        // a tensor of its shape (the new values copied into the tape's own buffer, so
        // that the caller, an optimizer, can update its tensor in place, and nothing is
        // moved here).
        if let Leaf::Tensor(t) = &value {
            let node = self.nodes[id as usize];
            if let (Op::Param, Kind::Tensor(k)) = (node.op, node.value.kind()) {
                let to = &mut self.tensors[k as usize];
                if same_shape(to.shape(), t.shape()) {
                    match (to.data_mut(), t.data()) {
                        ([to], [from]) => *to = *from, // `copy_from_slice` calls `memcpy`
                        (to, from) => to.copy_from_slice(from),
                    }
                    return;
                }
            }
        }
        self.set_leaf_checked(id, value);
    }

    /// [`Inner::set_leaf`] in every other case, and its misuse messages.
    #[cold]
    #[track_caller]
    pub(crate) fn set_leaf_checked(&mut self, id: Id, value: Leaf<'_>) {
        let node = self.nodes[id as usize];
        assert!(
            matches!(node.op, Op::Param),
            "set_values: #{id} is a {}, not a parameter; only parameters take new values",
            self.spec(node.op).name
        );
        let old = match node.value.kind() {
            Kind::Scalar(_) => &[][..],
            Kind::Tensor(k) => self.tensors[k as usize].shape(),
        };
        let new = match &value {
            Leaf::Scalar(_) => &[][..],
            Leaf::Tensor(t) => t.shape(),
        };
        assert!(
            same_shape(old, new),
            "set_values: parameter #{id} has shape {old:?}; the new value has shape {new:?}"
        );
        match (node.value.kind(), value) {
            (Kind::Scalar(_), Leaf::Scalar(x)) => self.nodes[id as usize].value = Slot::scalar(x),
            (Kind::Scalar(_), Leaf::Tensor(t)) => {
                self.nodes[id as usize].value = Slot::scalar(t.item())
            }
            (Kind::Tensor(k), Leaf::Tensor(t)) => self.tensors[k as usize]
                .data_mut()
                .copy_from_slice(t.data()),
            (Kind::Tensor(_), Leaf::Scalar(_)) => unreachable!("a tensor slot has rank ≥ 1"),
        }
    }

    /// Evaluates every op node from `first` on again, in recording order (so each reads
    /// inputs already brought up to date). A released value stays released: it is
    /// computed from its up-to-date inputs if read.
    #[track_caller]
    pub(crate) fn recompute(&mut self, first: usize) {
        // Leaves keep their values: start at the first op after `first`.
        let first = first.max(self.first_op.min(self.nodes.len() as Id) as usize);
        for i in first..self.nodes.len() {
            let Node { op, value } = self.nodes[i];
            if matches!(op, Op::Const | Op::Param) {
                continue;
            }
            if let Op::Custom(k) = op {
                self.replay_custom(i, k);
                continue;
            }
            match value.kind() {
                Kind::Scalar(_) => {
                    let ins = op.inputs();
                    let (xs, all_scalar) = self.scalars(&ins);
                    let y = if all_scalar && op.scalar_closed() {
                        op.eval::<f64>(&xs[..ins.len()], &[])
                    } else {
                        self.eval_node(i as Id).item()
                    };
                    if self.detect_anomaly {
                        check_forward(self, op.name(), &op.inputs(), i, &Tensor::scalar(y));
                    }
                    self.nodes[i].value = Slot::scalar(y);
                }
                Kind::Tensor(k) => {
                    let k = k as usize;
                    if self.tensors[k].is_released() {
                        continue;
                    }
                    let y = self.eval_node(i as Id);
                    if self.detect_anomaly {
                        check_forward(self, op.name(), &op.inputs(), i, &y);
                    }
                    self.tensors[k] = y;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EPOCH_STALE;
    use crate::prelude::*;

    #[test]
    fn a_saturated_epoch_trusts_no_handle() {
        // After 2³⁰ − 1 calls of set_values the count stops; were it to wrap, a handle
        // from long ago could match it again and record with an out-of-date value.
        let tape = Tape::new();
        tape.inner.borrow_mut().epoch = EPOCH_STALE - 1;
        let w = tape.param(1.0);
        tape.set_values([(w, 2.0)]);
        let v = tape.param(10.0); // made in the saturated epoch
        tape.set_values([(w, 3.0), (v, 20.0)]);
        assert_eq!(tape.inner.borrow().epoch, EPOCH_STALE);
        assert_eq!((w * v).item(), 60.0);
        // Both handles from the saturated epoch: only the stale key keeps them off the
        // fast path, which would read v's old 10.
        assert_eq!((v * v).item(), 400.0);
    }
}
