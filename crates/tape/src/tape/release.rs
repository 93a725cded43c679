//! Releasing consumed values: a large temporary that no backward rule reads is let go
//! once the op that consumes it is recorded (its shape stays; reading it computes it
//! again), and `add`/`sub` write their result into such a temporary's memory. Called
//! once per tensor op while recording.

use super::node::Kind;
use super::store::Inner;
use crate::op::{Id, Op};
use crate::tensor::Tensor;

/// Tensor values of at least this many elements may be released (the default: 512 KB of
/// values, the size where memory, not bookkeeping, is what a tape costs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReleaseMin(pub(crate) usize);

impl Default for ReleaseMin {
    fn default() -> ReleaseMin {
        ReleaseMin(1 << 16)
    }
}

impl Inner {
    /// True if the tape let go of this node's values (see [`Tape::set_release_min`]).
    pub(crate) fn is_released(&self, id: Id) -> bool {
        match self.nodes[id as usize].value.kind() {
            Kind::Tensor(k) => self.tensors[k as usize].is_released(),
            Kind::Scalar(_) => false,
        }
    }

    /// A node's value for a backward rule: a released one as its shape alone, which is
    /// all that any rule reading it uses (a rule that reads values keeps them).
    pub(crate) fn value_for_backward(&self, id: Id) -> Tensor {
        match self.nodes[id as usize].value.kind() {
            Kind::Scalar(x) => Tensor::scalar(x),
            Kind::Tensor(k) => self.tensors[k as usize].clone(),
        }
    }

    /// Marks the tensor inputs of a just-recorded live `op` as kept (its backward rule
    /// reads them: a released one is computed again and put back) or, if no rule reads
    /// them, releases those not kept: the memory of an expression's temporaries is then
    /// that of the few its backward pass needs, as in PyTorch.
    pub(crate) fn consume(&mut self, op: Op) {
        let spec = self.spec(op);
        let reads = spec.saves.inputs;
        for &j in spec.inputs.iter() {
            let Some(k) = self.releasable(j) else {
                continue;
            };
            if reads {
                if self.tensors[k].is_released() {
                    self.tensors[k] = self.value(j);
                }
                if self.pinned.len() <= k {
                    self.pinned.resize(k + 1, false);
                }
                self.pinned[k] = true;
            } else {
                self.tensors[k] = self.tensors[k].released();
            }
        }
    }

    /// The tensor index of node `j`'s value if `consume` may let it go: leaves (which
    /// cannot be computed again), values their own rule reads, small values and values a
    /// recorded rule reads always stay.
    pub(crate) fn releasable(&self, j: Id) -> Option<usize> {
        let node = self.nodes[j as usize];
        // A custom op's value stays too: computing it again would run the user's forward.
        if matches!(node.op, Op::Const | Op::Param | Op::Custom(_)) || node.op.saves().output {
            return None;
        }
        let Kind::Tensor(k) = node.value.kind() else {
            return None;
        };
        let k = k as usize;
        let small = self.tensors[k].numel() < self.release_min.0;
        (!small && self.pinned.get(k) != Some(&true)).then_some(k)
    }

    /// For a live `op` that will release its first input right after it is computed
    /// (`consume`), the value of that input, taken out of the arena (a released value
    /// left in its place) so that the op may write its result into its memory: `p + b`
    /// and `(p + b) - y` then make no new `[n]` buffer, whose writing would read it from
    /// memory first. Only `add` and `sub` qualify: no rule reads their inputs, and the
    /// result has the first input's shape unless broadcasting grows it (checked by the
    /// caller).
    pub(crate) fn donor(&mut self, op: Op, live: bool) -> Option<Tensor> {
        let (Op::Add(a, b) | Op::Sub(a, b)) = op else {
            return None;
        };
        if !live || a == b {
            return None;
        }
        let k = self.releasable(a)?;
        let t = &mut self.tensors[k];
        if t.is_released() {
            return None;
        }
        let released = t.released();
        Some(std::mem::replace(t, released))
    }
}
