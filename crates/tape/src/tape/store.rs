//! The tape's storage ([`Inner`]): the node arena, the tensor arena, the table of custom
//! nodes, and the stamps that let a handle carry its own value (epochs and the fast-path
//! key). Pushing nodes and reading values back. On the hot path: every op records here.

use super::node::{Kind, Node, Slot};
use super::release::ReleaseMin;
use super::CustomNode;
use super::{Leaf, Tape};
use crate::op::{Id, Op};
use crate::tape::Var;
use crate::tensor::Tensor;
use smallvec::SmallVec;

pub(crate) struct Inner {
    pub(crate) nodes: Vec<Node>,
    pub(crate) tensors: Vec<Tensor>,
    pub(crate) no_grad: bool,
    pub(crate) detect_anomaly: bool,
    /// The adjoint buffers (scalar and tensor) of the last dropped [`Gradients`], kept so
    /// the next backward pass writes into memory it already has.
    pub(crate) spare: (Vec<f64>, Vec<Option<Tensor>>),
    /// The custom ops recorded ([`Op::Custom`] indexes this table).
    pub(crate) customs: Vec<CustomNode>,
    /// Per tensor value, once a backward rule recorded after it reads it: it must stay.
    /// (Grown only when a large value is consumed, so small graphs never touch it.)
    pub(crate) pinned: Vec<bool>,
    pub(crate) release_min: ReleaseMin,
    /// The index of the first op node that is not a leaf (`Id::MAX` if none): backward
    /// stops there, since the leaves before it pass nothing on (a model's parameters and
    /// data are usually made first, W1's two million leaves among them).
    pub(crate) first_op: Id,
    /// How many times `set_values` has run (saturating at [`EPOCH_STALE`]): a handle
    /// made in an earlier epoch may hold an out-of-date value.
    pub(crate) epoch: u32,
    /// The stamp, bit 0 set, of a rank-0 handle made in this epoch: an op whose inputs'
    /// stamps all match it (bit 0 aside) is recorded on the fast path, from the values
    /// the handles carry, with one comparison an input. `0`, which no such stamp
    /// matches, in anomaly mode and once the epoch has saturated. Kept by `set_key`.
    pub(crate) key: u32,
}

/// The epoch after 2³⁰ − 1 calls of `set_values`: from then on no handle's copy of its
/// value is trusted (every read goes to the node), so the count can never wrap around
/// to an old handle's stamp.
pub(crate) const EPOCH_STALE: u32 = u32::MAX >> 2;

/// A handle's stamp: bit 0 its requires-grad flag, bit 1 set if its value is rank 0
/// (the slot holds the number itself), bits 2 and up the epoch it was made in.
pub(crate) const LIVE: u32 = 1;
pub(crate) const RANK0: u32 = 2;

impl Default for Inner {
    fn default() -> Inner {
        Inner {
            nodes: Vec::new(),
            tensors: Vec::new(),
            no_grad: false,
            detect_anomaly: false,
            spare: Default::default(),
            customs: Vec::new(),
            pinned: Vec::new(),
            release_min: ReleaseMin::default(),
            first_op: Id::MAX,
            epoch: 0,
            key: RANK0 | LIVE,
        }
    }
}

impl Inner {
    /// A node's value; a released one is computed again from its inputs.
    pub(crate) fn value(&self, id: Id) -> Tensor {
        match self.nodes[id as usize].value.kind() {
            Kind::Scalar(x) => Tensor::scalar(x),
            Kind::Tensor(k) => {
                let t = &self.tensors[k as usize];
                if !t.is_released() {
                    return t.clone();
                }
                self.eval_node(id)
            }
        }
    }

    /// Node `id`'s op evaluated again from its inputs' current values (the target shape
    /// of a reshape or broadcast is the node's own, which a released value keeps).
    pub(crate) fn eval_node(&self, id: Id) -> Tensor {
        let op = self.nodes[id as usize].op;
        let target = match self.nodes[id as usize].value.kind() {
            Kind::Scalar(_) => &[][..],
            Kind::Tensor(k) => self.tensors[k as usize].shape(),
        };
        let xs: SmallVec<[Tensor; 4]> = op.inputs().iter().map(|&j| self.value(j)).collect();
        op.eval::<Tensor>(&xs, target)
    }

    /// The inputs' values if all are rank 0 (the flag says whether they were).
    #[inline]
    pub(crate) fn scalars(&self, ins: &[Id]) -> ([f64; 4], bool) {
        let mut xs = [0.0; 4];
        for (x, &i) in xs.iter_mut().zip(ins) {
            match self.nodes[i as usize].value.kind() {
                Kind::Scalar(v) => *x = v,
                Kind::Tensor(_) => return (xs, false),
            }
        }
        (xs, true)
    }

    #[inline]
    pub(crate) fn requires_grad(&self, id: Id) -> bool {
        !matches!(self.nodes[id as usize].op, Op::Const)
    }

    pub(crate) fn push(&mut self, op: Op, value: Tensor) -> Id {
        if value.rank() == 0 {
            return self.push_scalar(op, value.item());
        }
        self.tensors.push(value);
        let value = Slot::tensor(self.tensors.len() as u32 - 1);
        self.nodes.push(Node { op, value });
        self.note_op(op);
        self.nodes.len() as Id - 1
    }

    /// Keeps `first_op` up to date after pushing a node made by `op`.
    #[inline(always)]
    pub(crate) fn note_op(&mut self, op: Op) {
        // Ids only grow until `clear`, so the first op noted is the lowest.
        if self.first_op == Id::MAX && !matches!(op, Op::Const | Op::Param) {
            self.first_op = self.nodes.len() as Id - 1;
        }
    }

    /// Makes `key` agree with the epoch and the anomaly mode.
    pub(crate) fn set_key(&mut self) {
        self.key = if self.detect_anomaly || self.epoch == EPOCH_STALE {
            0
        } else {
            (self.epoch << 2) | RANK0 | LIVE
        };
    }

    /// The handle of node `id`, stamped with the current epoch.
    pub(crate) fn handle<'t>(&self, tape: &'t Tape, id: Id) -> Var<'t> {
        let slot = self.nodes[id as usize].value;
        let rank0 = matches!(slot.kind(), Kind::Scalar(_));
        Var {
            tape,
            id,
            stamp: (self.epoch << 2)
                | (u32::from(rank0) * RANK0)
                | u32::from(self.requires_grad(id)),
            slot,
        }
    }

    pub(crate) fn push_leaf(&mut self, op: Op, value: Leaf<'_>) -> Id {
        match value {
            Leaf::Scalar(x) => self.push_scalar(op, x),
            Leaf::Tensor(t) => self.push(op, t.into_owned()),
        }
    }

    #[inline]
    pub(crate) fn push_scalar(&mut self, op: Op, x: f64) -> Id {
        self.nodes.push(Node {
            op,
            value: Slot::scalar(x),
        });
        self.note_op(op);
        self.nodes.len() as Id - 1
    }
}
