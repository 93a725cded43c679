//! The rules: each op's forward value ([`Op::eval`]) and its vector-Jacobian product
//! ([`Op::vjp`]) side by side, one exhaustive `match` each, written against [`Algebra`]
//! so that one copy runs on `f64` (scalar nodes and the teaching core), on [`Tensor`]
//! (tensor nodes) and on [`Var`](crate::Var) (gradients recorded for higher order).
//! On the hot path: both are inlined into the recording and backward loops.

use super::Op;
use crate::algebra::{wins_max, wins_min, Algebra, SEALED};
use crate::tensor::Shape;
#[allow(unused_imports)]
use crate::tensor::Tensor;
use smallvec::SmallVec;

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
            Custom(_) => unreachable!("a custom op runs its own forward (CustomOp::forward)"),
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
            Powf(_, p) => [na.then(|| g.mul_scaled(&a.powf(p - 1.0), p, SEALED)), None],
            Powi(_, n) => [
                na.then(|| g.mul_scaled(&a.powi(n - 1), n as f64, SEALED)),
                None,
            ],
            Square(_) => [na.then(|| g.mul_scaled(a, 2.0, SEALED)), None],
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
            Custom(_) => unreachable!("a custom op runs its own rule (CustomOp::vjp)"),
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
