//! The [`Tape`]: an arena of nodes in evaluation order, and its public face (leaves,
//! clearing, `no_grad`, anomaly mode). Recording, releasing and replay are each in their
//! own file beside this one; the storage is `store.rs`.

mod custom;
mod node;
mod record;
mod release;
mod replay;
mod store;
mod var;

pub use custom::CustomOp;
pub(crate) use custom::{with_inputs, CustomNode};
pub(crate) use node::{Kind, Node, Slot};
pub(crate) use record::{check_forward, Ins};
pub(crate) use store::{Inner, LIVE};
pub use var::Var;

use crate::op::{Id, Op};
use crate::tensor::Tensor;
use release::ReleaseMin;
use std::borrow::Cow;
use std::cell::RefCell;

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
        inner.customs.clear();
        inner.epoch = 0; // no handle outlives a clear
        inner.set_key();
        inner.first_op = Id::MAX;
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

    #[track_caller]
    pub(crate) fn same_tape(&self, op: &str, v: &Var<'_>) {
        if !std::ptr::eq(self, v.tape) {
            other_tape(op, v.id);
        }
    }
}

/// The panic of an op given a value of another tape. It takes the id, not the handle: a
/// handle passed by reference would have to live in memory on the op's hot path.
#[cold]
#[track_caller]
pub(crate) fn other_tape(op: &str, id: Id) -> ! {
    panic!("{op}: value #{id} belongs to another tape")
}

/// `a == b`, element by element: shapes are short, and a slice `==` calls `memcmp`.
#[inline]
pub(crate) fn same_shape(a: &[usize], b: &[usize]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a == b)
}
