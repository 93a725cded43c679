//! The Wengert tape: every op, its forward value and its backward rule, side by side.
//!
//! A [`Tape`] is an arena `Vec` of nodes. A [`Var`] is a `Copy` handle: a reference to its
//! tape, an index, and a copy of the node's value that recording reads (so a long scalar
//! chain never reads back nodes it wrote long ago; see [`Tape::set_values`] for when the
//! copy goes stale). Nodes are pushed in evaluation order, so walking the arena backwards
//! is already a valid reverse topological order: no sort, no hash maps, no `Rc` graph.
//! Dropping the tape frees the graph; `backward()` reads the tape and leaves it as it was.
//!
//! Rank-0 values live inline in their node (no heap allocation for scalar graphs); other
//! values live in a side arena of [`Tensor`]s. The backward rules ([`Op::vjp`]) are one
//! exhaustive `match`, generic over [`Algebra`]: they run on `f64` for scalar nodes, on
//! `Tensor` for tensor nodes, and on `Var` when the gradient itself must be recorded
//! ([`Tape::grad`] with `create_graph`). One copy of the rules serves all three.

use crate::algebra::{wins_max, wins_min, Algebra};
use crate::tensor::{shape_of, Shape, Tensor};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

/// Index of a node on its tape.
pub(crate) type Id = u32;

/// One recorded operation, naming its inputs by node index.
///
/// `Const` and `Param` are leaves: data that needs no gradient, and values that do (as
/// `requires_grad` in PyTorch). An op whose inputs are all `Const` is itself recorded
/// as `Const`: nothing is recorded for a computation that touches no parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Op {
    Const,
    Param,
    Add(Id, Id),
    Sub(Id, Id),
    Mul(Id, Id),
    Div(Id, Id),
    Neg(Id),
    Powf(Id, f64),
    Powi(Id, i32),
    Square(Id),
    Exp(Id),
    Ln(Id),
    Sqrt(Id),
    Abs(Id),
    Tanh(Id),
    Sigmoid(Id),
    Relu(Id),
    Sin(Id),
    Log1p(Id),
    Expm1(Id),
    Softplus(Id),
    Cos(Id),
    Atan(Id),
    /// `a ^ b` elementwise with a tensor exponent, broadcasting.
    Pow(Id, Id),
    Maximum(Id, Id),
    Minimum(Id, Id),
    /// `a · mask` where `mask` ≠ 0, 0 elsewhere (a selection: see `Algebra::masked_mul`).
    MaskedMul(Id, Id),
    /// Entries `start..start + len` along `axis`.
    Narrow {
        x: Id,
        axis: u8,
        start: u32,
        len: u32,
    },
    /// `x` at `start` along `axis` of zeros `total` long there (narrow's adjoint).
    Pad {
        x: Id,
        axis: u8,
        start: u32,
        total: u32,
    },
    /// `op(a)·op(b)` on matrices; the flags transpose an operand in place.
    MatMul {
        a: Id,
        b: Id,
        ta: bool,
        tb: bool,
    },
    Sum(Id),
    Mean(Id),
    SumAxis {
        x: Id,
        axis: u32,
        keepdim: bool,
    },
    MeanAxis {
        x: Id,
        axis: u32,
        keepdim: bool,
    },
    /// The target shape is the shape of this node's own value.
    Reshape(Id),
    Transpose(Id, u8, u8),
    /// The target shape is the shape of this node's own value.
    BroadcastTo(Id),
    /// `mean((x·w + b − y)²)` in one pass over the rows of `x` (fused: no `[n]`
    /// temporaries). `x` and `y` are data; the forward pass also leaves the gradient in
    /// `w` and `b` for backward, so an iteration reads `x` once.
    /// `x` and `y` are adjacent constant nodes (`y` is node `xy + 1`), which keeps every
    /// op within 16 bytes.
    LinearMse {
        w: Id,
        b: Id,
        xy: Id,
    },
}

fn sign(x: f64) -> f64 {
    // sign(0) = 0, as torch.sign: the subgradient of |x| at 0 that PyTorch uses.
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

fn step(x: f64) -> f64 {
    // relu'(0) = 0, as in PyTorch.
    if x > 0.0 {
        1.0
    } else {
        0.0
    }
}

impl Op {
    /// The nodes this op reads.
    #[inline(always)]
    pub fn inputs(&self) -> Inputs {
        use Op::*;
        let (len, ids) = match *self {
            Const | Param => (0, [0; 4]),
            Add(a, b) | Sub(a, b) | Mul(a, b) | Div(a, b) | Pow(a, b) | MatMul { a, b, .. } => {
                (2, [a, b, 0, 0])
            }
            Maximum(a, b) | Minimum(a, b) | MaskedMul(a, b) => (2, [a, b, 0, 0]),
            LinearMse { w, b, xy } => (4, [w, b, xy, xy + 1]),
            Neg(a)
            | Powf(a, _)
            | Powi(a, _)
            | Square(a)
            | Exp(a)
            | Ln(a)
            | Sqrt(a)
            | Abs(a)
            | Tanh(a)
            | Sigmoid(a)
            | Relu(a)
            | Sin(a)
            | Cos(a)
            | Atan(a)
            | Log1p(a)
            | Expm1(a)
            | Softplus(a)
            | Sum(a)
            | Mean(a)
            | Reshape(a)
            | Transpose(a, _, _)
            | BroadcastTo(a) => (1, [a, 0, 0, 0]),
            SumAxis { x, .. } | MeanAxis { x, .. } => (1, [x, 0, 0, 0]),
            Narrow { x, .. } | Pad { x, .. } => (1, [x, 0, 0, 0]),
        };
        Inputs { len, ids }
    }

    /// The op's name as the listing prints it.
    pub fn name(&self) -> &'static str {
        use Op::*;
        match self {
            Const => "const",
            Param => "param",
            Add(..) => "add",
            Sub(..) => "sub",
            Mul(..) => "mul",
            Div(..) => "div",
            Neg(..) => "neg",
            Powf(..) => "powf",
            Powi(..) => "powi",
            Square(..) => "square",
            Exp(..) => "exp",
            Ln(..) => "ln",
            Sqrt(..) => "sqrt",
            Abs(..) => "abs",
            Tanh(..) => "tanh",
            Sigmoid(..) => "sigmoid",
            Relu(..) => "relu",
            Sin(..) => "sin",
            Cos(..) => "cos",
            Atan(..) => "atan",
            Log1p(..) => "log1p",
            Expm1(..) => "expm1",
            Softplus(..) => "softplus",
            Pow(..) => "pow",
            Maximum(..) => "maximum",
            Minimum(..) => "minimum",
            MaskedMul(..) => "masked_mul",
            Narrow { .. } => "narrow",
            Pad { .. } => "pad",
            MatMul { .. } => "matmul",
            Sum(..) => "sum",
            Mean(..) => "mean",
            SumAxis { .. } => "sum_axis",
            MeanAxis { .. } => "mean_axis",
            Reshape(..) => "reshape",
            Transpose(..) => "transpose",
            BroadcastTo(..) => "broadcast_to",
            LinearMse { .. } => "linear_mse",
        }
    }

    /// What this op's backward rule reads besides shapes: (its inputs' values, its own
    /// value). A value that no rule reads may be released from the tape once consumed.
    ///
    /// ```
    /// use tape::Op;
    /// assert_eq!(Op::Square(0).saves(), (true, false)); // g·2a reads a
    /// assert_eq!(Op::Exp(0).saves(), (false, true)); // g·y reads y
    /// assert_eq!(Op::Add(0, 1).saves(), (false, false)); // g, summed to a's shape
    /// ```
    pub fn saves(&self) -> (bool, bool) {
        use Op::*;
        match self {
            Const | Param | Add(..) | Sub(..) | Neg(_) => (false, false),
            Sum(_) | Mean(_) | SumAxis { .. } | MeanAxis { .. } => (false, false),
            Reshape(_) | Transpose(..) | BroadcastTo(_) => (false, false),
            Narrow { .. } | Pad { .. } => (false, false),
            Mul(..) | MatMul { .. } | Powf(..) | Powi(..) | Square(_) | Ln(_) => (true, false),
            Abs(_) | Relu(_) | LinearMse { .. } => (true, false),
            Sin(_) | Cos(_) | Atan(_) | Log1p(_) | Softplus(_) => (true, false),
            Maximum(..) | Minimum(..) | MaskedMul(..) => (true, false),
            Expm1(_) => (false, true),
            Exp(_) | Sqrt(_) | Tanh(_) | Sigmoid(_) => (false, true),
            Div(..) | Pow(..) => (true, true),
        }
    }

    /// True for ops whose output is rank 0 whenever every input is: these may run on
    /// plain `f64`. Matrix and axis ops need rank ≥ 1 and always take the tensor path.
    #[inline(always)]
    fn scalar_closed(&self) -> bool {
        !matches!(
            self,
            Op::MatMul { .. }
                | Op::SumAxis { .. }
                | Op::MeanAxis { .. }
                | Op::Transpose(..)
                | Op::LinearMse { .. }
                | Op::Narrow { .. }
                | Op::Pad { .. }
        )
    }

    /// Forward: the op's value from its inputs' values. `target` is the output shape of
    /// `Reshape` and `BroadcastTo`, and empty otherwise.
    #[track_caller]
    #[inline(always)]
    pub fn eval<T: Algebra>(&self, x: &[T], target: &[usize]) -> T {
        use Op::*;
        match *self {
            Const | Param => unreachable!("leaves are not evaluated"),
            Add(..) => x[0].add(&x[1]),
            Sub(..) => x[0].sub(&x[1]),
            Mul(..) => x[0].mul(&x[1]),
            Div(..) => x[0].div(&x[1]),
            Neg(_) => x[0].neg(),
            Powf(_, p) => x[0].powf(p),
            Powi(_, n) => x[0].powi(n),
            Square(_) => x[0].square(),
            Exp(_) => x[0].exp(),
            Ln(_) => x[0].ln(),
            Sqrt(_) => x[0].sqrt(),
            Abs(_) => x[0].abs(),
            Tanh(_) => x[0].tanh(),
            Sigmoid(_) => x[0].sigmoid(),
            Relu(_) => x[0].relu(),
            Sin(_) => x[0].sin(),
            Cos(_) => x[0].cos(),
            Atan(_) => x[0].atan(),
            Log1p(_) => x[0].log1p(),
            Expm1(_) => x[0].expm1(),
            Softplus(_) => x[0].softplus(),
            Pow(..) => x[0].pow(&x[1]),
            Maximum(..) => x[0].maximum(&x[1]),
            Minimum(..) => x[0].minimum(&x[1]),
            MaskedMul(..) => x[0].masked_mul(&x[1]),
            Narrow {
                axis, start, len, ..
            } => x[0].narrow(axis as usize, start as usize, len as usize),
            Pad {
                axis, start, total, ..
            } => x[0].pad_axis(axis as usize, start as usize, total as usize),
            MatMul { ta, tb, .. } => x[0].gemm(&x[1], ta, tb),
            Sum(_) => x[0].sum(),
            Mean(_) => x[0].mean(),
            SumAxis { axis, keepdim, .. } => x[0].sum_axis(axis as usize, keepdim),
            MeanAxis { axis, keepdim, .. } => x[0].mean_axis(axis as usize, keepdim),
            Reshape(_) => x[0].reshape(target),
            Transpose(_, d0, d1) => x[0].transpose(d0 as usize, d1 as usize),
            BroadcastTo(_) => x[0].broadcast_to(target),
            LinearMse { .. } => {
                let p = x[2].matmul(&x[0]);
                p.add(&x[1]).sub(&x[3].reshape(&p.shape())).square().mean()
            }
        }
    }

    /// Backward: given the inputs `x`, the output `y` and the output's adjoint `g`, the
    /// adjoint contribution to each input, shaped like that input (vector-Jacobian
    /// product). Only inputs flagged in `need` are computed.
    #[inline(always)]
    pub fn vjp<T: Algebra>(&self, x: &[T], y: &T, g: &T, need: [bool; 2]) -> [Option<T>; 2] {
        use Op::*;
        let Some(a) = x.first() else {
            return [None, None]; // a leaf
        };
        // Each arm gives [∂a, ∂b]; `then` skips the work for an input that needs none.
        let [na, nb] = need;
        let b = || &x[1];
        match *self {
            Const | Param => [None, None],
            Add(..) => [
                na.then(|| g.unbroadcast(&a.shape())),
                nb.then(|| g.unbroadcast(&b().shape())),
            ],
            Sub(..) => [
                na.then(|| g.unbroadcast(&a.shape())),
                nb.then(|| g.neg().unbroadcast(&b().shape())),
            ],
            Mul(..) => [
                na.then(|| g.mul(b()).unbroadcast(&a.shape())),
                nb.then(|| g.mul(a).unbroadcast(&b().shape())),
            ],
            // d(a/b)/db = -a/b² = -y/b
            Div(..) => [
                na.then(|| g.div(b()).unbroadcast(&a.shape())),
                nb.then(|| g.mul(y).div(b()).neg().unbroadcast(&b().shape())),
            ],
            Neg(_) => [na.then(|| g.neg()), None],
            // x⁰ is constant: its derivative is 0 everywhere, 0 at 0 too (not 0·0⁻¹).
            Powf(_, 0.0) => [na.then(|| a.map_const(|_| 0.0)), None],
            Powi(_, 0) => [na.then(|| a.map_const(|_| 0.0)), None],
            Powf(_, p) => [na.then(|| g.mul_scaled(&a.powf(p - 1.0), p)), None],
            Powi(_, n) => [na.then(|| g.mul_scaled(&a.powi(n - 1), n as f64)), None],
            Square(_) => [na.then(|| g.mul_scaled(a, 2.0)), None],
            Exp(_) => [na.then(|| g.mul(y)), None],
            Ln(_) => [na.then(|| g.div(a)), None],
            Sqrt(_) => [na.then(|| g.div(&y.scale(2.0))), None],
            Abs(_) => [na.then(|| g.mul(&a.map_const(sign))), None],
            // tanh' = 1 − y², applied as g·(1 − y²): an infinite g gives ∞, not ∞ − ∞.
            Tanh(_) => [
                na.then(|| g.mul(&y.map_const(|_| 1.0).sub(&y.square()))),
                None,
            ],
            Sigmoid(_) => [na.then(|| g.mul(&y.sub(&y.square()))), None],
            // A selection: the branch not taken gets 0 whatever g is.
            Relu(_) => [na.then(|| g.masked_mul(&a.map_const(step))), None],
            // log1p' = 1/(1 + a); expm1' = eᵃ = y + 1; softplus' = the logistic function
            // (1 above PyTorch's threshold of 20, where softplus is the identity).
            Log1p(_) => [na.then(|| g.div(&a.map_const(|_| 1.0).add(a))), None],
            Expm1(_) => [na.then(|| g.mul(&y.add(&y.map_const(|_| 1.0)))), None],
            Softplus(_) => [
                na.then(|| {
                    let below = a.map_const(|x| f64::from(u8::from(x <= 20.0)));
                    let above = a.map_const(|x| f64::from(u8::from(x > 20.0)));
                    g.mul(&a.sigmoid().masked_mul(&below).add(&above))
                }),
                None,
            ],
            // The winner's branch takes g, each takes g/2 at a tie (as PyTorch), selected.
            Maximum(..) => [
                na.then(|| {
                    g.masked_mul(&a.zip_const(b(), wins_max))
                        .unbroadcast(&a.shape())
                }),
                nb.then(|| {
                    g.masked_mul(&b().zip_const(a, wins_max))
                        .unbroadcast(&b().shape())
                }),
            ],
            Minimum(..) => [
                na.then(|| {
                    g.masked_mul(&a.zip_const(b(), wins_min))
                        .unbroadcast(&a.shape())
                }),
                nb.then(|| {
                    g.masked_mul(&b().zip_const(a, wins_min))
                        .unbroadcast(&b().shape())
                }),
            ],
            // The selected input takes g·mask, selected again; the mask (a constant in
            // every use) takes g·a.
            MaskedMul(..) => [
                na.then(|| g.masked_mul(b()).unbroadcast(&a.shape())),
                nb.then(|| g.mul(a).unbroadcast(&b().shape())),
            ],
            // Linear maps, each the other's adjoint.
            Narrow { axis, start, .. } => [
                na.then(|| g.pad_axis(axis as usize, start as usize, a.shape()[axis as usize])),
                None,
            ],
            Pad { axis, start, .. } => [
                na.then(|| g.narrow(axis as usize, start as usize, a.shape()[axis as usize])),
                None,
            ],
            Sin(_) => [na.then(|| g.mul(&a.cos())), None],
            Cos(_) => [na.then(|| g.mul(&a.sin()).neg()), None],
            // atan' = 1/(1 + a²)
            Atan(_) => [
                na.then(|| g.div(&a.square().add(&a.map_const(|_| 1.0)))),
                None,
            ],
            // ∂a = g·b·a^(b−1); ∂b = g·y·ln a, taken as 0 where a = 0 (the limit of
            // y·ln a as a → 0⁺ for b > 0), as PyTorch does.
            Pow(..) => [
                na.then(|| {
                    let b1 = b().sub(&b().map_const(|_| 1.0));
                    g.mul(b()).mul(&a.pow(&b1)).unbroadcast(&a.shape())
                }),
                nb.then(|| {
                    let ln_a = a.add(&a.map_const(|v| f64::from(v == 0.0))).ln();
                    g.mul(y).mul(&ln_a).unbroadcast(&b().shape())
                }),
            ],
            // C = op(A)·op(B): ∂op(A) = G·op(B)ᵀ and ∂op(B) = op(A)ᵀ·G, transposed back
            // where the operand was stored transposed. Every product is again a gemm.
            MatMul { ta, tb, .. } => [
                na.then(|| {
                    if ta {
                        b().gemm(g, tb, true)
                    } else {
                        g.gemm(b(), false, !tb)
                    }
                }),
                nb.then(|| {
                    if tb {
                        g.gemm(a, true, ta)
                    } else {
                        a.gemm(g, !ta, false)
                    }
                }),
            ],
            Sum(_) => [na.then(|| g.broadcast_to(&a.shape())), None],
            Mean(_) => [
                na.then(|| g.scale(1.0 / a.numel() as f64).broadcast_to(&a.shape())),
                None,
            ],
            SumAxis { axis, keepdim, .. } => {
                [na.then(|| keep_axis(g, &a.shape(), axis, keepdim)), None]
            }
            MeanAxis { axis, keepdim, .. } => [
                na.then(|| {
                    let n = a.shape()[axis as usize] as f64;
                    keep_axis(&g.scale(1.0 / n), &a.shape(), axis, keepdim)
                }),
                None,
            ],
            Reshape(_) => [na.then(|| g.reshape(&a.shape())), None],
            Transpose(_, d0, d1) => [na.then(|| g.transpose(d0 as usize, d1 as usize)), None],
            BroadcastTo(_) => [na.then(|| g.unbroadcast(&a.shape())), None],
            // With r = x·w + b − y and n rows: ∂w = (2/n)·xᵀr, ∂b = (2/n)·Σr (x, y: data).
            LinearMse { .. } => {
                let (x, y) = (&x[2], &x[3]);
                let p = x.matmul(a);
                let r = p.add(b()).sub(&y.reshape(&p.shape()));
                let scale = g.scale(2.0 / r.numel() as f64);
                [
                    na.then(|| x.transpose(0, 1).matmul(&r).mul(&scale)),
                    nb.then(|| r.sum().mul(&scale).broadcast_to(&b().shape())),
                ]
            }
        }
    }
}

/// Spreads the adjoint of a reduction along `axis` back over that axis.
fn keep_axis<T: Algebra>(g: &T, input: &[usize], axis: u32, keepdim: bool) -> T {
    let g = if keepdim {
        g.clone()
    } else {
        let mut kept: Shape = SmallVec::from_slice(input);
        kept[axis as usize] = 1;
        g.reshape(&kept)
    };
    g.broadcast_to(input)
}

/// The input node indices of an op (at most four), without allocation.
#[derive(Clone, Copy, Debug)]
pub struct Inputs {
    len: u8,
    ids: [Id; 4],
}

impl std::ops::Deref for Inputs {
    type Target = [Id];
    #[inline(always)]
    fn deref(&self) -> &[Id] {
        &self.ids[..self.len as usize]
    }
}

/// Where a node's value lives, in 8 bytes: a rank-0 value is the `f64` itself; a tensor
/// value is an index into the tensor arena, kept as a NaN with a payload arithmetic never
/// produces (NaN-boxing). A scalar NaN is stored as the canonical NaN, so the two cannot
/// be confused. Small nodes are most of what makes a long scalar tape fast.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot(u64);

/// A quiet NaN with bits 50 and 51 set; the canonical NaN has only bit 51.
const TENSOR_TAG: u64 = 0x7FFC_0000_0000_0000;

impl Slot {
    #[inline(always)]
    fn scalar(x: f64) -> Slot {
        Slot(if x.is_nan() { f64::NAN } else { x }.to_bits())
    }
    #[inline(always)]
    fn tensor(k: u32) -> Slot {
        Slot(TENSOR_TAG | u64::from(k))
    }
    #[inline(always)]
    pub(crate) fn kind(self) -> Kind {
        if self.0 & 0xFFFF_FFFF_0000_0000 == TENSOR_TAG {
            Kind::Tensor(self.0 as u32)
        } else {
            Kind::Scalar(f64::from_bits(self.0))
        }
    }
}

/// A [`Slot`] unpacked.
pub(crate) enum Kind {
    Scalar(f64),
    Tensor(u32),
}

/// Bytes one node takes on the tape (its op and its inline value or tensor index), for
/// reports; backward adds 8 bytes of adjoint per node.
pub const NODE_BYTES: usize = std::mem::size_of::<Node>();

#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub(crate) op: Op,
    pub(crate) value: Slot,
}

pub(crate) struct Inner {
    pub(crate) nodes: Vec<Node>,
    pub(crate) tensors: Vec<Tensor>,
    no_grad: bool,
    detect_anomaly: bool,
    /// The adjoint buffers (scalar and tensor) of the last dropped [`Gradients`], kept so
    /// the next backward pass writes into memory it already has.
    spare: (Vec<f64>, Vec<Option<Tensor>>),
    /// What fused ops left for their backward pass (as PyTorch's `save_for_backward`):
    /// node, and the gradient of its value in each input.
    saved: Vec<(Id, [Tensor; 2])>,
    /// Per tensor value, once a backward rule recorded after it reads it: it must stay.
    /// (Grown only when a large value is consumed, so small graphs never touch it.)
    pinned: Vec<bool>,
    release_min: ReleaseMin,
    /// The index of the first op node that is not a leaf (`Id::MAX` if none): backward
    /// stops there, since the leaves before it pass nothing on (a model's parameters and
    /// data are usually made first, W1's two million leaves among them).
    first_op: Id,
    /// How many times `set_values` has run (saturating at [`EPOCH_STALE`]): a handle
    /// made in an earlier epoch may hold an out-of-date value.
    epoch: u32,
    /// The stamp, bit 0 set, of a rank-0 handle made in this epoch: an op whose inputs'
    /// stamps all match it (bit 0 aside) is recorded on the fast path, from the values
    /// the handles carry, with one comparison an input. `0`, which no such stamp
    /// matches, in anomaly mode and once the epoch has saturated. Kept by `set_key`.
    key: u32,
}

/// The epoch after 2³⁰ − 1 calls of `set_values`: from then on no handle's copy of its
/// value is trusted (every read goes to the node), so the count can never wrap around
/// to an old handle's stamp.
const EPOCH_STALE: u32 = u32::MAX >> 2;

/// A handle's stamp: bit 0 its requires-grad flag, bit 1 set if its value is rank 0
/// (the slot holds the number itself), bits 2 and up the epoch it was made in.
const LIVE: u32 = 1;
const RANK0: u32 = 2;

impl Default for Inner {
    fn default() -> Inner {
        Inner {
            nodes: Vec::new(),
            tensors: Vec::new(),
            no_grad: false,
            detect_anomaly: false,
            spare: Default::default(),
            saved: Vec::new(),
            pinned: Vec::new(),
            release_min: ReleaseMin::default(),
            first_op: Id::MAX,
            epoch: 0,
            key: RANK0 | LIVE,
        }
    }
}

/// Tensor values of at least this many elements may be released (the default: 512 KB of
/// values, the size where memory, not bookkeeping, is what a tape costs).
#[derive(Clone, Copy, Debug)]
struct ReleaseMin(usize);

impl Default for ReleaseMin {
    fn default() -> ReleaseMin {
        ReleaseMin(1 << 16)
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
    fn eval_node(&self, id: Id) -> Tensor {
        let op = self.nodes[id as usize].op;
        let target = match self.nodes[id as usize].value.kind() {
            Kind::Scalar(_) => &[][..],
            Kind::Tensor(k) => self.tensors[k as usize].shape(),
        };
        let xs: SmallVec<[Tensor; 4]> = op.inputs().iter().map(|&j| self.value(j)).collect();
        op.eval::<Tensor>(&xs, target)
    }

    /// True if the tape let go of this node's values (see [`Tape::set_release_min`]).
    pub(crate) fn is_released(&self, id: Id) -> bool {
        match self.nodes[id as usize].value.kind() {
            Kind::Tensor(k) => self.tensors[k as usize].is_released(),
            Kind::Scalar(_) => false,
        }
    }

    /// A node's value for a backward rule: a released one as its shape alone, which is
    /// all that any rule reading it uses (a rule that reads values keeps them).
    fn value_for_backward(&self, id: Id) -> Tensor {
        match self.nodes[id as usize].value.kind() {
            Kind::Scalar(x) => Tensor::scalar(x),
            Kind::Tensor(k) => self.tensors[k as usize].clone(),
        }
    }

    /// Marks the tensor inputs of a just-recorded live `op` as kept (its backward rule
    /// reads them: a released one is computed again and put back) or, if no rule reads
    /// them, releases those not kept: the memory of an expression's temporaries is then
    /// that of the few its backward pass needs, as in PyTorch.
    fn consume(&mut self, op: Op) {
        let reads = op.saves().0;
        for &j in op.inputs().iter() {
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
    fn releasable(&self, j: Id) -> Option<usize> {
        let node = self.nodes[j as usize];
        if matches!(node.op, Op::Const | Op::Param) || node.op.saves().1 {
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
    fn donor(&mut self, op: Op, live: bool) -> Option<Tensor> {
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

    /// The gradient pair fused op `id`'s forward pass saved, if it saved one.
    fn saved_grads(&self, id: usize) -> Option<&[Tensor; 2]> {
        self.saved_at(id).map(|k| &self.saved[k].1)
    }

    /// Where in `saved` fused op `id`'s gradient pair is, if it saved one.
    fn saved_at(&self, id: usize) -> Option<usize> {
        self.saved.iter().position(|s| s.0 as usize == id)
    }

    /// Writes a new value into parameter `id`, of the same shape.
    #[track_caller]
    fn set_leaf(&mut self, id: Id, value: Leaf<'_>) {
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
    fn set_leaf_checked(&mut self, id: Id, value: Leaf<'_>) {
        let node = self.nodes[id as usize];
        assert!(
            matches!(node.op, Op::Param),
            "set_values: #{id} is a {}, not a parameter; only parameters take new values",
            node.op.name()
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
    fn recompute(&mut self, first: usize) {
        // Leaves keep their values: start at the first op after `first`.
        let first = first.max(self.first_op.min(self.nodes.len() as Id) as usize);
        for i in first..self.nodes.len() {
            let Node { op, value } = self.nodes[i];
            if matches!(op, Op::Const | Op::Param) {
                continue;
            }
            if let Op::LinearMse { w, b, xy } = op {
                // The saved gradient is rewritten in place: a training step that replays
                // the tape makes no new tensors for it.
                let at = self.saved_at(i);
                let ids = [w, b, xy, xy + 1];
                let loss = match at {
                    // Leaves are never released: most inputs are answered by their op.
                    Some(k)
                        if !ids.iter().any(|&id| {
                            !matches!(self.nodes[id as usize].op, Op::Const | Op::Param)
                                && self.is_released(id)
                        }) =>
                    {
                        let Inner {
                            nodes,
                            tensors,
                            saved,
                            ..
                        } = self;
                        linear_mse_replay(nodes, tensors, ids, &mut saved[k].1)
                    }
                    _ => {
                        let mut grads = no_grads();
                        let loss = fused_linear_mse(self, w, b, xy, &mut grads);
                        if let Some(k) = at {
                            self.saved[k].1 = grads;
                        }
                        loss
                    }
                };
                if self.detect_anomaly {
                    check_forward(self, op, i, &Tensor::scalar(loss));
                }
                self.nodes[i].value = Slot::scalar(loss);
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
                        check_forward(self, op, i, &Tensor::scalar(y));
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
                        check_forward(self, op, i, &y);
                    }
                    self.tensors[k] = y;
                }
            }
        }
    }

    /// The inputs' values if all are rank 0 (the flag says whether they were).
    #[inline]
    fn scalars(&self, ins: &[Id]) -> ([f64; 4], bool) {
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
    fn requires_grad(&self, id: Id) -> bool {
        !matches!(self.nodes[id as usize].op, Op::Const)
    }

    fn push(&mut self, op: Op, value: Tensor) -> Id {
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
    fn note_op(&mut self, op: Op) {
        // Ids only grow until `clear`, so the first op noted is the lowest.
        if self.first_op == Id::MAX && !matches!(op, Op::Const | Op::Param) {
            self.first_op = self.nodes.len() as Id - 1;
        }
    }

    /// The scalar fast path of recording: every input a rank-0 handle of this epoch (so
    /// each carries its node's current value: recording a step of a long chain reads no
    /// earlier node), no anomaly checks. Pushes the node and returns its handle, or
    /// `None`, leaving the tape as it was, for the general path.
    #[inline(always)]
    fn record_scalar<'t>(&mut self, tape: &'t Tape, op: Op, ins: Ins<'t>) -> Option<Var<'t>> {
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

    /// Makes `key` agree with the epoch and the anomaly mode.
    fn set_key(&mut self) {
        self.key = if self.detect_anomaly || self.epoch == EPOCH_STALE {
            0
        } else {
            (self.epoch << 2) | RANK0 | LIVE
        };
    }

    /// The handle of node `id`, stamped with the current epoch.
    fn handle<'t>(&self, tape: &'t Tape, id: Id) -> Var<'t> {
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

    /// One step of backward on the scalar fast path: node `i` is an elementwise op with a
    /// rank-0 value (so its inputs are rank 0 too: broadcasting never shrinks a rank), and
    /// `g` its adjoint. Runs the same rule on `f64` and returns the contribution to node
    /// `i - 1`, which the caller carries in a register: in a chain, each node's only input
    /// is the node just before it, and a round trip through memory would put a store and
    /// a load on the critical path of every step. Returns `None`, having done nothing,
    /// when node `i` needs the tensor path (a leaf returns `Some(0.0)`).
    ///
    /// Every input gets its contribution, needed or not: for rank 0 a partial costs a
    /// multiply, less than asking whether it is needed; a constant's adjoint is never
    /// read (`Gradients::get` refuses constants, the listing does not print it).
    #[inline(always)]
    fn backward_scalar(&self, i: usize, g: f64, adj: &mut [f64]) -> Option<f64> {
        use Op::*;
        let node = &self.nodes[i];
        let Kind::Scalar(y) = node.value.kind() else {
            return match node.op {
                Const | Param => Some(UNREACHED),
                _ => None,
            };
        };
        // Off the path to the output: its rule must not run (0·∞ would be NaN).
        if is_unreached(g) {
            return Some(UNREACHED);
        }
        // Rank 0 is known here, so the value is the slot's bits as they are.
        let val = |j: Id| f64::from_bits(self.nodes[j as usize].value.0);
        let mut carry = UNREACHED;
        let mut put = |j: Id, d: Option<f64>| {
            let d = d.unwrap_or(UNREACHED);
            if j as usize + 1 == i {
                carry += d;
            } else {
                adj[j as usize] += d;
            }
        };
        match node.op {
            Const | Param => {}
            Add(a, b)
            | Sub(a, b)
            | Mul(a, b)
            | Div(a, b)
            | Pow(a, b)
            | Maximum(a, b)
            | Minimum(a, b)
            | MaskedMul(a, b) => {
                let [da, db] = node.op.vjp(&[val(a), val(b)], &y, &g, [true, true]);
                put(a, da);
                put(b, db);
            }
            Neg(a)
            | Powf(a, _)
            | Powi(a, _)
            | Square(a)
            | Exp(a)
            | Ln(a)
            | Sqrt(a)
            | Abs(a)
            | Tanh(a)
            | Sigmoid(a)
            | Relu(a)
            | Sin(a)
            | Cos(a)
            | Atan(a)
            | Log1p(a)
            | Expm1(a)
            | Softplus(a) => {
                let [da, _] = node.op.vjp(&[val(a)], &y, &g, [true, false]);
                put(a, da);
            }
            // Reductions and reshapes may make rank 0 of a tensor; the rest never do.
            MatMul { .. } | Sum(_) | Mean(_) | SumAxis { .. } | MeanAxis { .. } => return None,
            Reshape(_) | Transpose(..) | BroadcastTo(_) | LinearMse { .. } => return None,
            Narrow { .. } | Pad { .. } => return None,
        }
        Some(carry)
    }

    fn push_leaf(&mut self, op: Op, value: Leaf<'_>) -> Id {
        match value {
            Leaf::Scalar(x) => self.push_scalar(op, x),
            Leaf::Tensor(t) => self.push(op, t.into_owned()),
        }
    }

    #[inline]
    fn push_scalar(&mut self, op: Op, x: f64) -> Id {
        self.nodes.push(Node {
            op,
            value: Slot::scalar(x),
        });
        self.note_op(op);
        self.nodes.len() as Id - 1
    }
}

/// What a leaf ([`Tape::param`], [`Tape::constant`]) is made from: a number, kept inline
/// on the tape with no heap allocation, or a [`Tensor`] (anything that converts into one).
/// A borrowed tensor stays borrowed until the tape needs its own copy: giving parameters
/// new values by [`Tape::set_values`] copies the values into the tape's buffer, no more.
///
/// ```
/// use tape::{Leaf, Tensor};
/// assert!(matches!(Leaf::from(2.0), Leaf::Scalar(_)));
/// assert!(matches!(Leaf::from([1.0, 2.0]), Leaf::Tensor(_)));
/// assert!(matches!(Leaf::from(Tensor::scalar(2.0)), Leaf::Tensor(_)));
/// ```
#[derive(Clone, Debug)]
pub enum Leaf<'a> {
    /// A rank-0 value.
    Scalar(f64),
    /// A value of any rank, owned or borrowed.
    Tensor(Cow<'a, Tensor>),
}

impl From<f64> for Leaf<'_> {
    fn from(x: f64) -> Self {
        Leaf::Scalar(x)
    }
}

impl<'a> From<&'a Tensor> for Leaf<'a> {
    fn from(t: &'a Tensor) -> Leaf<'a> {
        Leaf::Tensor(Cow::Borrowed(t))
    }
}

/// Every other source of a tensor becomes a tensor leaf.
macro_rules! tensor_leaf {
    ($([$($g:tt)*] $t:ty),* $(,)?) => {$(
        impl<$($g)*> From<$t> for Leaf<'_> {
            fn from(v: $t) -> Self {
                Leaf::Tensor(Cow::Owned(Tensor::from(v)))
            }
        }
    )*};
}
tensor_leaf!(
    [] Tensor,
    [] Vec<f64>,
    ['a] &'a [f64],
    [const N: usize] [f64; N],
    [const M: usize, const N: usize] [[f64; N]; M],
    [const L: usize, const M: usize, const N: usize] [[[f64; N]; M]; L],
);

/// The record of a computation, and the arena that owns its values.
///
/// ```
/// use tape::prelude::*;
/// let tape = Tape::new();
/// let m = tape.param(0.9);
/// let b = tape.param(0.1);
/// let x = tape.constant([0.0, 1.0, 2.0]);
/// let y = tape.constant([1.0, 2.0, 3.0]);
/// let loss = (m * x + b - y).square().mean();
/// let grads = loss.backward();
/// // ∂/∂b mean((m·x + b − y)²) = 2·mean(m·x + b − y)
/// let r: f64 = [0.1 - 1.0, 1.0 - 2.0, 1.9 - 3.0].iter().sum();
/// assert!((grads.get(b).item() - 2.0 * r / 3.0).abs() < 1e-12);
/// ```
#[derive(Default)]
pub struct Tape {
    pub(crate) inner: RefCell<Inner>,
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Tape {
        Tape::default()
    }

    /// An empty tape with room for `nodes` nodes, and for their adjoints in backward,
    /// before it reallocates. The memory is written once here, so that the operating
    /// system maps its pages now rather than one at a time while the tape records (the W1
    /// benchmark makes its tape this way, so that no page fault falls inside its clock).
    /// A cleared tape keeps this memory for its next use.
    ///
    /// ```
    /// let tape = tape::Tape::with_capacity(1 << 10);
    /// assert!(tape.is_empty());
    /// ```
    pub fn with_capacity(nodes: usize) -> Tape {
        let tape = Tape::new();
        {
            let mut inner = tape.inner.borrow_mut();
            let leaf = Node {
                op: Op::Const,
                value: Slot::scalar(0.0),
            };
            inner.nodes.resize(nodes, leaf);
            inner.nodes.clear();
            inner.spare.0.resize(nodes, 0.0);
            inner.spare.0.clear();
        }
        tape
    }

    /// A value that requires gradients: a parameter (`requires_grad=True`).
    ///
    /// ```
    /// let tape = tape::Tape::new();
    /// assert!(tape.param([1.0, 2.0]).requires_grad());
    /// ```
    pub fn param<'a>(&self, value: impl Into<Leaf<'a>>) -> Var<'_> {
        let mut inner = self.inner.borrow_mut();
        let id = inner.push_leaf(Op::Param, value.into());
        inner.handle(self, id)
    }

    /// A value that needs no gradient: data or a constant.
    ///
    /// ```
    /// let tape = tape::Tape::new();
    /// assert!(!tape.constant(3.0).requires_grad());
    /// ```
    pub fn constant<'a>(&self, value: impl Into<Leaf<'a>>) -> Var<'_> {
        let mut inner = self.inner.borrow_mut();
        let id = inner.push_leaf(Op::Const, value.into());
        inner.handle(self, id)
    }

    /// Sets the size (in elements) from which a tape may let go of a value once it has
    /// been consumed, if no backward rule reads it. With `p = x.matmul(w)`, `p + b` reads
    /// only `p`'s shape in backward, so after `p + b` is recorded `p`'s values are
    /// released; reading them again (`p.value()`, the listing, another op) computes them
    /// again from `p`'s inputs, and an op whose backward rule reads them puts them back
    /// for good. Values, gradients and results are the same whatever this is set to;
    /// only memory changes. The default, 65,536 (512 KB), leaves small graphs whole:
    /// `0` releases every value it can, `usize::MAX` none.
    ///
    /// ```
    /// use tape::prelude::*;
    /// let tape = Tape::new();
    /// tape.set_release_min(0);
    /// let (x, w) = (tape.constant([[1.0, 2.0], [3.0, 4.0]]), tape.param([1.0, -1.0]));
    /// let p = x.matmul(&w);
    /// let loss = (p + 1.0).square().sum(); // p is released here, p + 1 kept for square
    /// assert_eq!(p.value().to_vec(), vec![-1.0, -1.0]); // computed again
    /// assert_eq!(loss.backward().get(w).to_vec(), vec![0.0, 0.0]);
    /// ```
    pub fn set_release_min(&self, elements: usize) {
        self.inner.borrow_mut().release_min = ReleaseMin(elements);
    }

    /// The number of nodes recorded.
    pub fn len(&self) -> usize {
        self.inner.borrow().nodes.len()
    }

    /// True if nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every node but keeps the memory, for the next training step. Taking
    /// `&mut self` means no handle into the old graph can outlive this call.
    ///
    /// ```
    /// let mut tape = tape::Tape::new();
    /// for _ in 0..3 {
    ///     let w = tape.param(2.0);
    ///     assert_eq!((w * w).backward().get(w).item(), 4.0);
    ///     tape.clear();
    /// }
    /// ```
    pub fn clear(&mut self) {
        let inner = self.inner.get_mut();
        inner.nodes.clear();
        inner.tensors.clear();
        inner.pinned.clear();
        inner.saved.clear();
        inner.epoch = 0; // no handle outlives a clear
        inner.set_key();
        inner.first_op = Id::MAX;
    }

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

    /// Runs `f` with recording off, as `torch.no_grad()`: every value made inside is a
    /// constant, whatever its inputs.
    ///
    /// ```
    /// let tape = tape::Tape::new();
    /// let w = tape.param(2.0);
    /// let y = tape.no_grad(|| w * 3.0);
    /// assert!(!y.requires_grad());
    /// ```
    pub fn no_grad<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore<'a>(&'a Tape, bool);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.inner.borrow_mut().no_grad = self.1;
            }
        }
        let before = std::mem::replace(&mut self.inner.borrow_mut().no_grad, true);
        let _restore = Restore(self, before);
        f()
    }

    /// Anomaly mode, as `torch.autograd.detect_anomaly`: the first op that makes a NaN or
    /// an infinity from finite inputs panics, naming itself, its inputs and the caller's
    /// line; so does the first backward rule that makes a non-finite gradient.
    ///
    /// ```should_panic
    /// use tape::prelude::*;
    /// let tape = Tape::new();
    /// tape.set_detect_anomaly(true);
    /// let x = tape.param(-1.0);
    /// let _ = x.ln(); // panics: ln made NaN from x = -1
    /// ```
    pub fn set_detect_anomaly(&self, on: bool) {
        let mut inner = self.inner.borrow_mut();
        inner.detect_anomaly = on;
        inner.set_key();
    }

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
    fn record_tensor(&self, op: Op, target: &[usize]) -> Id {
        let mut inner = self.inner.borrow_mut();
        let ins = op.inputs();
        let live = !inner.no_grad && ins.iter().any(|&i| inner.requires_grad(i));
        let op_kept = if live { op } else { Op::Const };
        let (scalars, all_scalar) = inner.scalars(&ins);
        if all_scalar && target.is_empty() && op.scalar_closed() {
            let y = op.eval::<f64>(&scalars[..ins.len()], target);
            if inner.detect_anomaly {
                check_forward(&inner, op, inner.nodes.len(), &Tensor::scalar(y));
            }
            return inner.push_scalar(op_kept, y);
        }
        if live && op.saves().0 {
            // Put back any released input this rule will read, before computing.
            inner.consume(op);
        }
        if let Op::LinearMse { w, b, xy } = op {
            let mut grads = no_grads();
            let loss = fused_linear_mse(&inner, w, b, xy, &mut grads);
            let y = Tensor::scalar(loss);
            if inner.detect_anomaly {
                check_forward(&inner, op, inner.nodes.len(), &y);
            }
            let id = inner.push(op_kept, y);
            if live {
                inner.saved.push((id, grads));
            }
            return id;
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
            check_forward(&inner, op, inner.nodes.len(), &y);
        }
        let id = inner.push(op_kept, y);
        if live && !op.saves().0 {
            inner.consume(op);
        }
        id
    }

    /// Gradients of `y` (one element) with respect to `wrt`, as `torch.autograd.grad`.
    /// With `create_graph`, the gradients are themselves recorded on this tape and can be
    /// differentiated again; the same backward rules run, on `Var` instead of `Tensor`.
    ///
    /// ```
    /// use tape::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.param(2.0);
    /// let y = x.powi(3);
    /// let dy = tape.grad(y, &[x], true)[0];   // 3x² = 12
    /// let d2y = tape.grad(dy, &[x], false)[0]; // 6x = 12
    /// assert_eq!((dy.item(), d2y.item()), (12.0, 12.0));
    /// ```
    #[track_caller]
    pub fn grad<'t>(&'t self, y: Var<'t>, wrt: &[Var<'t>], create_graph: bool) -> Vec<Var<'t>> {
        for v in wrt {
            self.same_tape("grad", v);
        }
        if !create_graph {
            let grads = y.backward();
            return wrt.iter().map(|&v| self.constant(grads.get(v))).collect();
        }
        y.assert_one_element("grad");
        let n = y.id as usize + 1;
        let mut adj: Vec<Option<Var<'t>>> = vec![None; n];
        adj[y.id as usize] = Some(self.constant(Tensor::ones(&y.shape())));
        for i in (0..n).rev() {
            let Some(g) = adj[i] else { continue };
            // Copy the node out: the rules below record onto this tape.
            let (op, xs, y) = {
                let inner = self.inner.borrow();
                let op = inner.nodes[i].op;
                let xs: SmallVec<[Var<'t>; 2]> = op
                    .inputs()
                    .iter()
                    .map(|&id| inner.handle(self, id))
                    .collect();
                (op, xs, inner.handle(self, i as Id))
            };
            let ins = op.inputs();
            let need = [0, 1].map(|k| xs.get(k).is_some_and(|v| v.requires_grad()));
            let out = op.vjp(&xs, &y, &g, need);
            for (k, d) in out.into_iter().enumerate() {
                if let Some(d) = d {
                    let slot = &mut adj[ins[k] as usize];
                    *slot = Some(match *slot {
                        Some(prev) => prev + d,
                        None => d,
                    });
                }
            }
        }
        wrt.iter()
            .map(|v| match adj.get(v.id as usize).copied().flatten() {
                Some(g) => g,
                None => self.constant(Tensor::zeros(&v.shape())),
            })
            .collect()
    }

    #[track_caller]
    fn same_tape(&self, op: &str, v: &Var<'_>) {
        if !std::ptr::eq(self, v.tape) {
            other_tape(op, v.id);
        }
    }
}

/// The panic of an op given a value of another tape. It takes the id, not the handle: a
/// handle passed by reference would have to live in memory on the op's hot path.
#[cold]
#[track_caller]
fn other_tape(op: &str, id: Id) -> ! {
    panic!("{op}: value #{id} belongs to another tape")
}

/// `a == b`, element by element: shapes are short, and a slice `==` calls `memcmp`.
#[inline]
fn same_shape(a: &[usize], b: &[usize]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a == b)
}

/// Placeholders for a fused op's gradient, before `linear_mse_values` writes it.
fn no_grads() -> [Tensor; 2] {
    [Tensor::scalar(0.0), Tensor::scalar(0.0)]
}

/// The fused linear-MSE forward pass: checks shapes, then one pass over `x` for the loss,
/// with its gradient in `w` and `b` written into `grads`.
#[track_caller]
fn fused_linear_mse(inner: &Inner, w: Id, b: Id, xy: Id, grads: &mut [Tensor; 2]) -> f64 {
    let ids = [w, b, xy, xy + 1];
    if ids.iter().any(|&id| inner.is_released(id)) {
        // Only outside recording: `consume` puts released inputs back before it.
        let [w, b, x, y] = ids.map(|id| inner.value(id));
        return linear_mse_values(&w, &b, &x, &y, grads);
    }
    // Read in place: this runs every training step, and x and y may be large.
    let get = |id: Id| match inner.nodes[id as usize].value.kind() {
        Kind::Tensor(k) => Cow::Borrowed(&inner.tensors[k as usize]),
        Kind::Scalar(v) => Cow::Owned(Tensor::scalar(v)),
    };
    linear_mse_values(&get(w), &get(b), &get(xy), &get(xy + 1), grads)
}

/// [`fused_linear_mse`] when replaying: the shapes were checked when the op was
/// recorded (its saved gradient pair has them), and a replay changes no shape (a
/// parameter's new value must have its shape; data are constants), so this goes straight
/// to the kernel. It runs every step of a replayed training loop.
fn linear_mse_replay(
    nodes: &[Node],
    tensors: &[Tensor],
    [w, b, x, y]: [Id; 4],
    [gw, gb]: &mut [Tensor; 2],
) -> f64 {
    let data = |id: Id| match nodes[id as usize].value.kind() {
        Kind::Tensor(k) => tensors[k as usize].data(),
        Kind::Scalar(_) => unreachable!("linear_mse: w, x and y have rank ≥ 1"),
    };
    let b = match nodes[b as usize].value.kind() {
        Kind::Scalar(v) => v,
        Kind::Tensor(k) => tensors[k as usize].data()[0],
    };
    let (loss, db) = crate::kernels::linear_mse(data(x), data(y), data(w), b, gw.data_mut());
    gb.data_mut()[0] = db;
    loss
}

/// The loss; the gradient goes into `grads`, in place when they have the shapes of `w`
/// and `b` already (else they are made so).
fn linear_mse_values(
    w: &Tensor,
    b: &Tensor,
    x: &Tensor,
    y: &Tensor,
    grads: &mut [Tensor; 2],
) -> f64 {
    let (xs, ys, ws, bs) = (x.shape(), y.shape(), w.shape(), b.shape());
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
    let [gw, gb] = grads;
    for (g, shape) in [(&mut *gw, ws), (&mut *gb, bs)] {
        if !same_shape(g.shape(), shape) {
            *g = Tensor::zeros(shape);
        }
    }
    let (loss, db) =
        crate::kernels::linear_mse(x.data(), y.data(), w.data(), b.data()[0], gw.data_mut());
    gb.data_mut()[0] = db;
    loss
}

/// `mean((x·w + b − y)²)` recorded as one fused op: the forward pass reads each row of
/// `x` once and leaves the gradient in `w` and `b` for backward, so a training step reads
/// `x` once instead of the general path's several passes and `[n]` temporaries. `x`
/// (`[n, d]`) and `y` (`[n]` or `[n, 1]`) are data; `w` is `[d]` or `[d, 1]`, `b` is `[]` or `[1]`.
/// The gradient is the general path's, to rounding (the tests check it); higher-order
/// derivatives (`tape.grad(.., create_graph)`) use the general rule.
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
    let tape = x.tape;
    for v in [&w, &b, &y] {
        tape.same_tape("linear_mse", v);
    }
    let recording = !tape.inner.borrow().no_grad;
    for (v, what) in [(&x, "x"), (&y, "y")] {
        assert!(
            !(recording && v.requires_grad()),
            "linear_mse: {what} (#{}) requires a gradient; the fused op treats x and y as data: use the general path (x.matmul(w) + b - y) to differentiate through them",
            v.id
        );
    }
    // The data as two adjacent nodes: x and y themselves when they already are (as the
    // model crate records them), else constants sharing their storage.
    let xy = if y.id == x.id + 1 {
        x.id
    } else {
        let xy = tape.constant(x.value()).id;
        tape.constant(y.value());
        xy
    };
    let op = Op::LinearMse {
        w: w.id,
        b: b.id,
        xy,
    };
    tape.record(|| op, Ins::Tensor, &[])
}

#[track_caller]
/// Panics if `op` at node `at` made a NaN or an infinity from finite inputs.
fn check_forward(inner: &Inner, op: Op, at: usize, value: &Tensor) {
    let finite = |t: &Tensor| t.data().iter().all(|x| x.is_finite());
    let ins = op.inputs();
    if finite(value) || !ins.iter().all(|&i| finite(&inner.value(i))) {
        return;
    }
    let args: Vec<String> = ins
        .iter()
        .map(|&i| format!("#{i} = {}", inner.value(i)))
        .collect();
    panic!(
        "detect_anomaly: {} at node #{} made {} from finite inputs {}",
        op.name(),
        at,
        if value.data().iter().any(|x| x.is_nan()) {
            "NaN"
        } else {
            "an infinity"
        },
        args.join(", ")
    );
}

/// The input handles of an op being recorded, passed by value (a slice of them would be
/// built in memory, and read back at a cost on every op of a scalar chain).
#[derive(Clone, Copy)]
pub(crate) enum Ins<'t> {
    /// An op with no scalar path (its inputs are read from the tape).
    Tensor,
    One(Var<'t>),
    Two(Var<'t>, Var<'t>),
}

/// A value on a tape: a `Copy` handle (the tape, a node index, and the node's value as of
/// the handle's making, with its requires-grad flag; 24 bytes).
///
/// Arithmetic on handles records onto their tape, reading the inputs' values from the
/// handles; a handle made before the last [`Tape::set_values`] reads the tape instead.
/// The borrow of the tape inside each handle means no handle can outlive its tape or
/// survive [`Tape::clear`]; mixing handles of two tapes panics, naming the op.
///
/// ```
/// use tape::prelude::*;
/// let tape = Tape::new();
/// let x = tape.param(3.0);
/// let y = 2.0 * x * x + 1.0;
/// assert_eq!(y.item(), 19.0);
/// assert_eq!(y.backward().get(x).item(), 12.0);
/// ```
#[derive(Clone, Copy)]
pub struct Var<'t> {
    pub(crate) tape: &'t Tape,
    pub(crate) id: Id,
    /// The tape's epoch when this handle was made, shifted left by 2; bit 1 set if the
    /// value is rank 0, bit 0 the requires-grad flag (a node's flag and rank never
    /// change; its value may, by `set_values`).
    stamp: u32,
    /// The node's value (or tensor index) as of that epoch: recording reads its inputs
    /// from their handles, not from the tape, as micrograd's `Value` carries its `data`.
    slot: Slot,
}

impl<'t> Var<'t> {
    /// The tape this value lives on.
    pub fn tape(&self) -> &'t Tape {
        self.tape
    }

    /// The node index, as the listing prints it (`#id`).
    pub fn id(&self) -> usize {
        self.id as usize
    }

    /// The value.
    pub fn value(&self) -> Tensor {
        self.tape.inner.borrow().value(self.id)
    }

    /// The value of a one-element value.
    #[track_caller]
    pub fn item(&self) -> f64 {
        match self.node_slot().kind() {
            Kind::Scalar(x) => x,
            Kind::Tensor(_) => self.value().item(),
        }
    }

    /// True if the tape has let go of this value's elements (see
    /// [`Tape::set_release_min`]); reading it computes them again.
    ///
    /// ```
    /// use tape::prelude::*;
    /// let tape = Tape::new();
    /// tape.set_release_min(0);
    /// let w = tape.param([1.0, 2.0]);
    /// let (e, s) = (w * 3.0, (w + 1.0).sum());
    /// assert!(!e.is_released()); // mul's rule reads w, not e; e is not consumed yet
    /// let t = (e + 1.0).sum();
    /// assert!(e.is_released() && !w.is_released());
    /// assert_eq!(e.value().to_vec(), vec![3.0, 6.0]);
    /// # let _ = (s, t);
    /// ```
    pub fn is_released(&self) -> bool {
        self.tape.inner.borrow().is_released(self.id)
    }

    /// True for parameters and for values computed from them (outside `no_grad`).
    pub fn requires_grad(&self) -> bool {
        self.stamp & LIVE == LIVE
    }

    /// The recorded op that made this value.
    pub fn op(&self) -> Op {
        self.tape.inner.borrow().nodes[self.id as usize].op
    }

    /// The same value as a constant: gradients stop here, as `Tensor.detach()`.
    ///
    /// ```
    /// let tape = tape::Tape::new();
    /// let x = tape.param(3.0);
    /// let y = x * x.detach();
    /// assert_eq!(y.backward().get(x).item(), 3.0);
    /// ```
    pub fn detach(self) -> Var<'t> {
        self.tape.constant(self.value())
    }

    /// `self.transpose(0, 1)` for a matrix.
    pub fn t(self) -> Var<'t> {
        Algebra::transpose(&self, 0, 1)
    }

    #[track_caller]
    fn assert_one_element(&self, op: &str) {
        let shape = self.shape();
        assert!(
            crate::tensor::numel(&shape) == 1,
            "{op}: output #{} has shape {:?}; a gradient needs a one-element output, \
             or backward_with(seed) with a seed of that shape",
            self.id,
            &shape[..]
        );
    }

    /// Reverse mode from a one-element value: the gradient of every value that requires
    /// one. Each call returns a fresh [`Gradients`] set: nothing accumulates across
    /// calls, so there is no `zero_grad` to forget.
    ///
    /// ```
    /// use tape::prelude::*;
    /// let tape = Tape::new();
    /// let w = tape.param([1.0, -2.0]);
    /// let loss = w.square().sum();
    /// assert_eq!(loss.backward().get(w).to_vec(), vec![2.0, -4.0]);
    /// assert_eq!(loss.backward().get(w).to_vec(), vec![2.0, -4.0]);
    /// ```
    #[track_caller]
    pub fn backward(self) -> Gradients<'t> {
        let rank0 = matches!(self.node_slot().kind(), Kind::Scalar(_));
        if rank0 {
            return self.reverse(None); // the usual loss: seeded with 1, no tensor made
        }
        self.assert_one_element("backward");
        self.backward_with(&Tensor::ones(&self.shape()))
    }

    /// Reverse mode from a value of any shape, seeded with the adjoint `seed` of that
    /// shape (PyTorch's `y.backward(gradient=seed)`).
    ///
    /// ```
    /// let tape = tape::Tape::new();
    /// let x = tape.param([1.0, 2.0]);
    /// let y = x * 3.0;
    /// let g = y.backward_with(&tape::Tensor::from([1.0, 10.0]));
    /// assert_eq!(g.get(x).to_vec(), vec![3.0, 30.0]);
    /// ```
    #[track_caller]
    pub fn backward_with(self, seed: &Tensor) -> Gradients<'t> {
        let shape = self.shape();
        assert!(
            seed.shape() == &shape[..],
            "backward_with: seed of shape {:?} does not match output #{} of shape {:?}",
            seed.shape(),
            self.id,
            &shape[..]
        );
        self.reverse(Some(seed))
    }

    /// The gradients of this one-element value in each of `wrt`, in order, written into
    /// `out` (cleared first): `[g.get(v) for v in wrt]` of `g = self.backward()`, for a
    /// training loop that needs only its parameters' gradients. They are moved out of the
    /// backward pass rather than copied (on a fused loss of parameters, the gradient its
    /// forward pass saved is returned with no backward pass at all), and `out` keeps its
    /// memory from step to step. Panics as [`Gradients::get`] does.
    ///
    /// ```
    /// use tape::prelude::*;
    /// let tape = Tape::new();
    /// let (a, b) = (tape.param([1.0, 2.0]), tape.param(3.0));
    /// let loss = (a * b).sum();
    /// let mut grads = Vec::new();
    /// loss.backward_into([a, b], &mut grads);
    /// assert_eq!(grads[0].to_vec(), vec![3.0, 3.0]);
    /// assert_eq!(grads[1].item(), 3.0);
    /// ```
    #[track_caller]
    pub fn backward_into<I>(self, wrt: I, out: &mut Vec<Tensor>)
    where
        I: IntoIterator<Item = Var<'t>>,
        I::IntoIter: Clone,
    {
        let wrt = wrt.into_iter();
        out.clear();
        if self.saved_gradient_into(wrt.clone(), out) {
            return;
        }
        out.clear();
        let mut grads = self.backward();
        for v in wrt {
            match grads.take(v) {
                Ok(g) => out.push(g),
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// `backward_into` with no backward pass, when this value is a fused op that saved its
    /// gradient (see [`linear_mse`]) and `wrt` are its parameter inputs, distinct leaves:
    /// the output's adjoint is 1, and a leaf's only way to the output is through the op,
    /// so their gradients are the saved ones as they are. This is each step of a replayed
    /// training loop on the fused loss. False (`out` then holds any part) in every other
    /// case, and in anomaly mode, whose general path checks each gradient.
    fn saved_gradient_into(
        &self,
        wrt: impl Iterator<Item = Var<'t>>,
        out: &mut Vec<Tensor>,
    ) -> bool {
        let inner = self.tape.inner.borrow();
        let Op::LinearMse { w, b, .. } = inner.nodes[self.id as usize].op else {
            return false;
        };
        let leaf = |id: Id| matches!(inner.nodes[id as usize].op, Op::Param);
        if inner.detect_anomaly || w == b || !leaf(w) || !leaf(b) {
            return false;
        }
        let Some([dw, db]) = inner.saved_grads(self.id as usize) else {
            return false;
        };
        for v in wrt {
            let d = match v.id {
                _ if !std::ptr::eq(v.tape, self.tape) => return false,
                id if id == w => dw,
                id if id == b => db,
                _ => return false,
            };
            out.push(d.clone());
        }
        true
    }

    /// The node's value slot.
    fn node_slot(&self) -> Slot {
        self.tape.inner.borrow().nodes[self.id as usize].value
    }

    /// Reverse mode from this node, seeded with `seed` (1 for a rank-0 node if `None`).
    fn reverse(self, seed: Option<&Tensor>) -> Gradients<'t> {
        let n = self.id as usize + 1;
        let (mut scalars, mut tensors) = std::mem::take(&mut self.tape.inner.borrow_mut().spare);
        scalars.clear();
        scalars.resize(n, UNREACHED);
        let inner = self.tape.inner.borrow();
        tensors.clear();
        tensors.extend((0..inner.tensors.len()).map(|_| None));
        let mut grads = Gradients {
            tape: self.tape,
            len: n,
            scalars,
            tensors,
        };
        match seed {
            Some(seed) => grads.accumulate(&inner, self.id, seed.clone()),
            None => grads.scalars[self.id as usize] = 1.0,
        }
        let fast = !inner.detect_anomaly;
        // The part of node i's adjoint that node i + 1 passed on in a register.
        let mut carry = UNREACHED;
        let first = (inner.first_op as usize).min(n);
        for i in (first..n).rev() {
            let g = grads.scalars[i] + carry;
            grads.scalars[i] = g;
            carry = UNREACHED;
            if fast {
                if let Some(c) = inner.backward_scalar(i, g, &mut grads.scalars) {
                    carry = c;
                    continue;
                }
            }
            grads.step(&inner, i);
        }
        if first > 0 {
            grads.scalars[first - 1] += carry; // the leaf just before the first op
        }
        grads
    }
}

/// The adjoint a rank-0 node starts with: −0 is the identity of addition (−0 + x is x
/// for every x, +0 included), so any contribution, even +0, leaves a different bit
/// pattern, and a node still holding −0 was never reached from the output. Its backward
/// rule is then skipped, as PyTorch skips a node off the path: 0·∞ would otherwise put a
/// NaN into its inputs. (A node reached only by contributions of −0 counts as unreached;
/// its rule would add only zeros, or NaN where a local derivative is infinite.)
const UNREACHED: f64 = -0.0;

#[inline(always)]
fn is_unreached(g: f64) -> bool {
    g.to_bits() == UNREACHED.to_bits()
}

/// An adjoint as read: a node never reached has gradient 0.
fn reached_or_zero(g: f64) -> f64 {
    if is_unreached(g) {
        0.0
    } else {
        g
    }
}

/// The gradients from one backward pass: the adjoint of every node up to the output.
///
/// Read a parameter's gradient with [`Gradients::get`]. Printing a `Gradients` prints
/// the tape's Wengert list with each node's adjoint.
pub struct Gradients<'t> {
    pub(crate) tape: &'t Tape,
    len: usize,
    scalars: Vec<f64>,
    tensors: Vec<Option<Tensor>>,
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
    fn step(&mut self, inner: &Inner, i: usize) {
        let node = inner.nodes[i];
        if let Op::LinearMse { w, b, .. } = node.op {
            if self.step_saved(inner, i, [w, b]) {
                return;
            }
        }
        let ins = node.op.inputs();
        if ins.is_empty() {
            return;
        }
        let need = [0, 1].map(|k| ins.get(k).is_some_and(|&j| inner.requires_grad(j)));
        let g = match node.value.kind() {
            Kind::Scalar(_) if is_unreached(self.scalars[i]) => return,
            Kind::Scalar(_) => Tensor::scalar(self.scalars[i]),
            Kind::Tensor(k) => match &self.tensors[k as usize] {
                Some(g) => g.clone(),
                None => return, // unreachable from the output
            },
        };
        let xs: SmallVec<[Tensor; 4]> = ins.iter().map(|&j| inner.value_for_backward(j)).collect();
        let out = node
            .op
            .vjp(&xs, &inner.value_for_backward(i as Id), &g, need);
        for (k, d) in out.into_iter().enumerate() {
            if let Some(d) = d {
                self.put(inner, i, ins[k], d);
            }
        }
    }

    /// A fused op's step: the gradient its forward pass saved, times `g` (its value is
    /// rank 0), into `inputs`. False if nothing was saved (the op is then differentiated
    /// by its general rule). Out of line and apart from `step`, whose general rules make
    /// a large frame: this runs every iteration of a replayed training loop.
    #[inline(never)]
    fn step_saved(&mut self, inner: &Inner, i: usize, inputs: [Id; 2]) -> bool {
        let Some(saved) = inner.saved_grads(i) else {
            return false;
        };
        let g = self.scalars[i];
        if is_unreached(g) {
            return true;
        }
        for (&input, d) in inputs.iter().zip(saved) {
            if inner.requires_grad(input) {
                self.put_scaled(inner, i, input, d, g);
            }
        }
        true
    }

    /// Adds `d`, the contribution of node `i`'s rule to its input `input`, into that
    /// input's adjoint (in anomaly mode, first checks that it is finite).
    fn put(&mut self, inner: &Inner, i: usize, input: Id, d: Tensor) {
        if inner.detect_anomaly && d.data().iter().any(|x| !x.is_finite()) {
            panic!(
                "detect_anomaly: the backward rule of {} at node #{i} \
                 made a non-finite gradient for its input #{input}",
                inner.nodes[i].op.name(),
            );
        }
        self.accumulate(inner, input, d);
    }

    /// `put` of `g·d`, reading `d` in place: a rank-0 adjoint takes the number, a tensor
    /// adjoint the sum, and only an adjoint not yet started gets a tensor of its own
    /// (`d` itself, shared, when `g` is the usual seed of 1).
    fn put_scaled(&mut self, inner: &Inner, i: usize, input: Id, d: &Tensor, g: f64) {
        if inner.detect_anomaly {
            return self.put(inner, i, input, d.scale(g));
        }
        match inner.nodes[input as usize].value.kind() {
            Kind::Scalar(_) => self.scalars[input as usize] += g * d.item(),
            Kind::Tensor(k) => match &mut self.tensors[k as usize] {
                Some(a) => {
                    for (a, b) in a.data_mut().iter_mut().zip(d.data()) {
                        *a += g * b;
                    }
                }
                slot @ None => *slot = Some(if g == 1.0 { d.clone() } else { d.scale(g) }),
            },
        }
    }

    fn accumulate(&mut self, inner: &Inner, id: Id, d: Tensor) {
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

    fn adjoint_in(&self, inner: &Inner, id: usize) -> Option<Tensor> {
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
    fn take(&mut self, v: Var<'t>) -> Result<Tensor, String> {
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

impl fmt::Display for Tape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::show::listing(self, None))
    }
}

impl fmt::Display for Gradients<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::show::listing(self.tape, Some(self)))
    }
}

impl fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Var(#{} {} = {})",
            self.id,
            self.op().name(),
            self.value()
        )
    }
}

impl<'t> Algebra for Var<'t> {
    #[inline]
    fn shape(&self) -> Shape {
        let inner = self.tape.inner.borrow();
        match inner.nodes[self.id as usize].value.kind() {
            Kind::Scalar(_) => SmallVec::new(),
            Kind::Tensor(k) => shape_of(inner.tensors[k as usize].shape()),
        }
    }
    #[track_caller]
    #[inline]
    fn add(&self, o: &Self) -> Self {
        self.binary(Op::Add, o)
    }
    #[track_caller]
    #[inline]
    fn sub(&self, o: &Self) -> Self {
        self.binary(Op::Sub, o)
    }
    #[track_caller]
    #[inline]
    fn mul(&self, o: &Self) -> Self {
        self.binary(Op::Mul, o)
    }
    #[track_caller]
    #[inline]
    fn div(&self, o: &Self) -> Self {
        self.binary(Op::Div, o)
    }
    #[inline]
    fn neg(&self) -> Self {
        self.unary(Op::Neg)
    }
    #[inline]
    fn scale(&self, c: f64) -> Self {
        Algebra::mul(self, &self.tape.constant(c))
    }
    #[inline]
    fn powf(&self, p: f64) -> Self {
        self.unary(|a| Op::Powf(a, p))
    }
    #[inline]
    fn powi(&self, n: i32) -> Self {
        self.unary(|a| Op::Powi(a, n))
    }
    #[inline]
    fn square(&self) -> Self {
        self.unary(Op::Square)
    }
    #[track_caller]
    #[inline]
    fn exp(&self) -> Self {
        self.unary(Op::Exp)
    }
    #[track_caller]
    #[inline]
    fn ln(&self) -> Self {
        self.unary(Op::Ln)
    }
    #[track_caller]
    #[inline]
    fn sqrt(&self) -> Self {
        self.unary(Op::Sqrt)
    }
    #[inline]
    fn abs(&self) -> Self {
        self.unary(Op::Abs)
    }
    #[inline]
    fn tanh(&self) -> Self {
        self.unary(Op::Tanh)
    }
    #[inline]
    fn sigmoid(&self) -> Self {
        self.unary(Op::Sigmoid)
    }
    #[inline]
    fn relu(&self) -> Self {
        self.unary(Op::Relu)
    }
    #[inline]
    fn sin(&self) -> Self {
        self.unary(Op::Sin)
    }
    #[inline]
    fn cos(&self) -> Self {
        self.unary(Op::Cos)
    }
    #[inline]
    fn atan(&self) -> Self {
        self.unary(Op::Atan)
    }
    #[track_caller]
    #[inline]
    fn pow(&self, o: &Self) -> Self {
        self.binary(Op::Pow, o)
    }
    #[inline]
    fn map_const(&self, f: fn(f64) -> f64) -> Self {
        self.tape.constant(self.value().map(f))
    }
    #[track_caller]
    fn masked_mul(&self, mask: &Self) -> Self {
        self.binary(Op::MaskedMul, mask)
    }
    #[track_caller]
    fn zip_const(&self, o: &Self, f: fn(f64, f64) -> f64) -> Self {
        self.tape.same_tape("zip_const", o);
        self.tape
            .constant(self.value().zip_with(&o.value(), "zip", f))
    }
    fn map_const_with(&self, f: &(dyn Fn(f64) -> f64 + Sync)) -> Self {
        self.tape.constant(self.value().map(f))
    }
    #[track_caller]
    fn max_axis_const(&self, axis: usize, keepdim: bool) -> Self {
        self.tape.constant(self.value().max_axis(axis, keepdim))
    }
    #[track_caller]
    fn first_max_const(&self, axis: usize) -> Self {
        self.tape.constant(self.value().first_max_onehot(axis))
    }
    fn lift_const(&self, t: &Tensor) -> Self {
        self.tape.constant(t.clone())
    }
    #[track_caller]
    fn narrow(&self, axis: usize, start: usize, len: usize) -> Self {
        let shape = self.shape();
        assert!(
            axis < shape.len() && start + len <= shape[axis],
            "narrow: entries {start}..{} of axis {axis} do not fit shape {:?}",
            start + len,
            &shape[..]
        );
        let (x, axis, start, len) = (self.id, axis as u8, start as u32, len as u32);
        self.tape.record(
            || Op::Narrow {
                x,
                axis,
                start,
                len,
            },
            Ins::Tensor,
            &[],
        )
    }
    #[track_caller]
    fn pad_axis(&self, axis: usize, start: usize, total: usize) -> Self {
        let shape = self.shape();
        assert!(
            axis < shape.len() && start + shape[axis] <= total,
            "pad_axis: shape {:?} at {start} of {total} along axis {axis} does not fit",
            &shape[..]
        );
        let (x, axis, start, total) = (self.id, axis as u8, start as u32, total as u32);
        self.tape.record(
            || Op::Pad {
                x,
                axis,
                start,
                total,
            },
            Ins::Tensor,
            &[],
        )
    }
    fn log1p(&self) -> Self {
        self.unary(Op::Log1p)
    }
    fn expm1(&self) -> Self {
        self.unary(Op::Expm1)
    }
    fn softplus(&self) -> Self {
        self.unary(Op::Softplus)
    }
    #[track_caller]
    fn maximum(&self, o: &Self) -> Self {
        self.binary(Op::Maximum, o)
    }
    #[track_caller]
    fn minimum(&self, o: &Self) -> Self {
        self.binary(Op::Minimum, o)
    }
    #[track_caller]
    #[inline]
    fn gemm(&self, b: &Self, ta: bool, tb: bool) -> Self {
        self.tape.same_tape("matmul", b);
        self.tape.record(
            || Op::MatMul {
                a: self.id,
                b: b.id,
                ta,
                tb,
            },
            Ins::Tensor,
            &[],
        )
    }
    #[inline]
    fn sum(&self) -> Self {
        self.unary(Op::Sum)
    }
    #[inline]
    fn mean(&self) -> Self {
        self.unary(Op::Mean)
    }
    #[track_caller]
    #[inline]
    fn sum_axis(&self, axis: usize, keepdim: bool) -> Self {
        self.unary(|x| Op::SumAxis {
            x,
            axis: axis as u32,
            keepdim,
        })
    }
    #[track_caller]
    #[inline]
    fn mean_axis(&self, axis: usize, keepdim: bool) -> Self {
        self.unary(|x| Op::MeanAxis {
            x,
            axis: axis as u32,
            keepdim,
        })
    }
    #[track_caller]
    #[inline]
    fn reshape(&self, shape: &[usize]) -> Self {
        self.tape
            .record(|| Op::Reshape(self.id), Ins::One(*self), shape)
    }
    #[track_caller]
    #[inline]
    fn transpose(&self, d0: usize, d1: usize) -> Self {
        let r = self.shape().len();
        assert!(
            d0 < r && d1 < r,
            "transpose: axes ({d0}, {d1}) are out of range for shape {:?}",
            &self.shape()[..]
        );
        self.tape.record(
            || Op::Transpose(self.id, d0 as u8, d1 as u8),
            Ins::Tensor,
            &[],
        )
    }
    #[track_caller]
    #[inline]
    fn broadcast_to(&self, shape: &[usize]) -> Self {
        self.tape
            .record(|| Op::BroadcastTo(self.id), Ins::One(*self), shape)
    }
}

impl<'t> Var<'t> {
    /// Records `op` of this value, a rank-0 one on the scalar path.
    #[inline(always)]
    #[track_caller]
    fn unary(&self, op: impl Fn(Id) -> Op) -> Var<'t> {
        let a = self.id;
        self.tape.record(|| op(a), Ins::One(*self), &[])
    }

    #[inline(always)]
    #[track_caller]
    fn binary(&self, op: fn(Id, Id) -> Op, o: &Var<'t>) -> Var<'t> {
        let (a, b) = (self.id, o.id);
        if !std::ptr::eq(self.tape, o.tape) {
            other_tape(op(a, b).name(), b);
        }
        self.tape.record(|| op(a, b), Ins::Two(*self, *o), &[])
    }
}

/// `Var ⊕ Var`, `Var ⊕ f64` and `f64 ⊕ Var` for the four arithmetic operators; an `f64`
/// becomes a constant node, as in micrograd.
macro_rules! var_operator {
    ($trait:ident, $method:ident, $assign:ident, $assign_method:ident) => {
        impl<'t> std::ops::$trait for Var<'t> {
            type Output = Var<'t>;
            #[track_caller]
            #[inline]
            fn $method(self, o: Var<'t>) -> Var<'t> {
                Algebra::$method(&self, &o)
            }
        }
        impl<'t> std::ops::$trait<f64> for Var<'t> {
            type Output = Var<'t>;
            #[track_caller]
            #[inline]
            fn $method(self, o: f64) -> Var<'t> {
                Algebra::$method(&self, &self.tape.constant(o))
            }
        }
        impl<'t> std::ops::$trait<Var<'t>> for f64 {
            type Output = Var<'t>;
            #[track_caller]
            #[inline]
            fn $method(self, o: Var<'t>) -> Var<'t> {
                Algebra::$method(&o.tape.constant(self), &o)
            }
        }
        // Integer literals (`2 * x`), as the f64 they stand for.
        impl<'t> std::ops::$trait<i32> for Var<'t> {
            type Output = Var<'t>;
            #[track_caller]
            #[inline]
            fn $method(self, o: i32) -> Var<'t> {
                Algebra::$method(&self, &self.tape.constant(f64::from(o)))
            }
        }
        impl<'t> std::ops::$trait<Var<'t>> for i32 {
            type Output = Var<'t>;
            #[track_caller]
            #[inline]
            fn $method(self, o: Var<'t>) -> Var<'t> {
                Algebra::$method(&o.tape.constant(f64::from(self)), &o)
            }
        }
        // `x op= y` records `x op y` and makes `x` that new node, as `x = x op y`.
        impl<'t, R> std::ops::$assign<R> for Var<'t>
        where
            Var<'t>: std::ops::$trait<R, Output = Var<'t>>,
        {
            #[track_caller]
            #[inline]
            fn $assign_method(&mut self, o: R) {
                *self = std::ops::$trait::$method(*self, o);
            }
        }
    };
}
var_operator!(Add, add, AddAssign, add_assign);
var_operator!(Sub, sub, SubAssign, sub_assign);
var_operator!(Mul, mul, MulAssign, mul_assign);
var_operator!(Div, div, DivAssign, div_assign);

impl<'t> std::ops::Neg for Var<'t> {
    type Output = Var<'t>;
    fn neg(self) -> Var<'t> {
        Algebra::neg(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19's reproducers: a value recorded before the output but off its path does
    /// not touch a gradient. The expected figures are PyTorch's (float64): the gradient of
    /// the output alone, since PyTorch never visits a node off the path.
    #[test]
    fn nodes_off_the_path_to_the_output_change_no_gradient() {
        // x = 0: sqrt's local derivative is ∞; PyTorch gives d(2x)/dx = 2.
        let tape = Tape::new();
        let x = tape.param(0.0);
        let _ = x.sqrt();
        let y = x * 2.0;
        assert_eq!(y.backward().get(x).item(), 2.0);
        let mut out = Vec::new();
        y.backward_into([x], &mut out);
        assert_eq!(out[0].item(), 2.0);
        assert_eq!(tape.grad(y, &[x], false)[0].value().item(), 2.0);
        // exp(w²) kept for logging overflows at w = 30; loss = w² + 1 has gradient 60.
        let tape = Tape::new();
        let w = tape.param(30.0);
        let logged = (w * w).exp();
        let loss = w * w + 1.0;
        assert!(logged.value().item().is_infinite());
        assert_eq!(loss.backward().get(w).item(), 60.0);
        // 1/x and ln(x) at 0 off the path.
        let tape = Tape::new();
        let x = tape.param(0.0);
        let _ = 1.0 / x;
        let _ = x.ln();
        let y = x * 3.0 + 1.0;
        assert_eq!(y.backward().get(x).item(), 3.0);
        // On the path, 0·∞ is NaN, as in PyTorch (torch.sqrt(x) * 0 at x = 0).
        let tape = Tape::new();
        let x = tape.param(0.0);
        let y = x.sqrt() * 0.0;
        assert!(y.backward().get(x).item().is_nan());
        // A parameter off the path reads 0, not −0.
        let tape = Tape::new();
        let (a, b) = (tape.param(1.0), tape.param(2.0));
        let g = (a * 3.0).backward();
        assert_eq!(g.get(b).item().to_bits(), 0.0f64.to_bits());
        // Anomaly mode takes the general path: the same answer, and no false alarm.
        let tape = Tape::new();
        tape.set_detect_anomaly(true);
        let x = tape.param(0.0);
        let _ = x.sqrt();
        assert_eq!((x * 2.0).backward().get(x).item(), 2.0);
    }

    #[test]
    fn compound_assignment_and_integer_scalars_record_the_op() {
        // loss = 2·x² + x/4 − 1 built with +=, -=, *=, /= and integer literals:
        // d/dx = 4x + 1/4 = 12.25 at x = 3 (by hand).
        let tape = Tape::new();
        let x = tape.param(3.0);
        let mut loss = 2 * x;
        loss *= x;
        let mut q = x;
        q /= 4;
        loss += q;
        loss -= 1;
        assert_eq!(loss.item(), 2.0 * 9.0 + 0.75 - 1.0);
        assert_eq!(loss.backward().get(x).item(), 12.25);
        assert_eq!((1 - x).item(), -2.0);
    }

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
