//! [`Var`]: a handle to a value on a tape, and the arithmetic that records. Every
//! method of [`Algebra`] on a `Var` records one op (through `Tape::record`); the
//! operators `+ - * /` and their assignments do the same. On the hot path: W1's chain
//! is these methods called a million times.

use crate::algebra::Algebra;
use crate::op::{Id, Op};
use crate::tape::{other_tape, Ins, Kind, Slot, Tape, LIVE};
use crate::tensor::{shape_of, Shape, Tensor};
use smallvec::SmallVec;
use std::fmt;

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
    pub(crate) stamp: u32,
    /// The node's value (or tensor index) as of that epoch: recording reads its inputs
    /// from their handles, not from the tape, as micrograd's `Value` carries its `data`.
    pub(crate) slot: Slot,
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

    /// The node's value slot.
    pub(crate) fn node_slot(&self) -> Slot {
        self.tape.inner.borrow().nodes[self.id as usize].value
    }
}

impl fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.tape.inner.borrow().spec(self.op()).name;
        write!(f, "Var(#{} {name} = {})", self.id, self.value())
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
    pub(crate) fn unary(&self, op: impl Fn(Id) -> Op) -> Var<'t> {
        let a = self.id;
        self.tape.record(|| op(a), Ins::One(*self), &[])
    }

    #[inline(always)]
    #[track_caller]
    pub(crate) fn binary(&self, op: fn(Id, Id) -> Op, o: &Var<'t>) -> Var<'t> {
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
    use crate::prelude::*;

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
}
