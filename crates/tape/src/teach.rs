//! The whole idea on scalars, in one short file: the engine without its speed.
//!
//! Reverse-mode automatic differentiation is two steps. **Record**: each operation on a
//! [`Value`] appends a node to a tape: which op, which earlier nodes it read, and the
//! number it made. Nodes are appended in evaluation order, so the tape is already sorted:
//! every node comes after its inputs. **Walk back**: start from ∂y/∂y = 1 at the output,
//! visit the nodes from last to first, and let each node's rule turn its adjoint ∂y/∂node
//! into contributions to its inputs' adjoints (the chain rule: multiply by the local
//! derivative, add over every path). When the walk has passed a parameter, its adjoint is
//! the gradient.
//!
//! The rules are not repeated here: [`Op::eval`] and [`Op::vjp`] are the engine's own,
//! written once against [`Algebra`](crate::Algebra) and run here on plain `f64`. The full
//! engine ([`crate::Tape`]) adds tensors, memory reuse, replay, a fast path for scalar
//! chains and gradients of gradients; a test runs both on the same random programs and
//! requires the same bits.
//!
//! ```
//! use tape::teach::Tape;
//! let tape = Tape::new();
//! let (w, b) = (tape.param(0.5), tape.param(0.1));
//! let (x, y) = (tape.constant(2.0), tape.constant(3.0));
//! let loss = (w * x + b - y).square(); // (0.5·2 + 0.1 − 3)²
//! let grads = tape.backward(loss);
//! // By hand: ∂/∂w = 2(wx + b − y)·x, ∂/∂b = 2(wx + b − y).
//! assert_eq!(grads.get(w), 2.0 * (1.1 - 3.0) * 2.0);
//! assert_eq!(grads.get(b), 2.0 * (1.1 - 3.0));
//! ```

use crate::op::{Id, Op};
use std::cell::RefCell;

/// A tape of scalar nodes: each an op (naming its inputs by index) and the number it made.
#[derive(Debug, Default)]
pub struct Tape {
    nodes: RefCell<Vec<(Op, f64)>>,
}

/// A number on a [`Tape`]: the index of its node. Arithmetic on values records.
#[derive(Clone, Copy, Debug)]
pub struct Value<'t> {
    tape: &'t Tape,
    id: Id,
}

/// The adjoints of one backward walk, one per node.
#[derive(Debug)]
pub struct Gradients(Vec<f64>);

/// The adjoint a node starts with: −0, which adding anything changes (−0 + x is x, even
/// for x = +0). A node whose adjoint is still −0 was never reached from the output: its
/// rule is skipped, so a node off the path changes no gradient (0·∞ would make NaN).
const UNREACHED: f64 = -0.0;

impl Tape {
    /// An empty tape.
    pub fn new() -> Tape {
        Tape::default()
    }

    /// A number the gradient is taken in.
    pub fn param(&self, x: f64) -> Value<'_> {
        self.push(Op::Param, x)
    }

    /// A number that is data.
    pub fn constant(&self, x: f64) -> Value<'_> {
        self.push(Op::Const, x)
    }

    /// Records `op`: its value is its forward rule applied to its inputs' values.
    #[track_caller]
    pub fn record(&self, op: Op) -> Value<'_> {
        let xs: Vec<f64> = op.inputs().iter().map(|&j| self.value(j)).collect();
        self.push(op, op.eval::<f64>(&xs, &[]))
    }

    fn push(&self, op: Op, x: f64) -> Value<'_> {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push((op, x));
        Value {
            tape: self,
            id: nodes.len() as Id - 1,
        }
    }

    fn value(&self, id: Id) -> f64 {
        self.nodes.borrow()[id as usize].1
    }

    /// The walk back from `y`: each node's rule, last node first, turns its adjoint into
    /// its inputs'.
    pub fn backward(&self, y: Value<'_>) -> Gradients {
        let nodes = self.nodes.borrow();
        let mut adjoint = vec![UNREACHED; y.id as usize + 1];
        adjoint[y.id as usize] = 1.0;
        for i in (0..=y.id as usize).rev() {
            let (op, value) = nodes[i];
            let g = adjoint[i];
            if g.to_bits() == UNREACHED.to_bits() {
                continue; // off the path from the output
            }
            let inputs = op.inputs();
            let xs: Vec<f64> = inputs.iter().map(|&j| nodes[j as usize].1).collect();
            let local = op.vjp(&xs, &value, &g, [true, true]);
            for (&j, d) in inputs.iter().zip(local) {
                adjoint[j as usize] += d.unwrap_or(UNREACHED);
            }
        }
        Gradients(adjoint)
    }
}

impl Gradients {
    /// The gradient of the output in `v`: 0 where `v` does not reach it.
    pub fn get(&self, v: Value<'_>) -> f64 {
        match self.0.get(v.id as usize) {
            Some(&g) if g.to_bits() != UNREACHED.to_bits() => g,
            _ => 0.0,
        }
    }
}

impl<'t> Value<'t> {
    /// The number.
    pub fn value(self) -> f64 {
        self.tape.value(self.id)
    }
    /// The node index.
    pub fn id(self) -> usize {
        self.id as usize
    }
    /// Records `op(self)`, as `x.unary(Op::Exp)`.
    pub fn unary(self, op: fn(Id) -> Op) -> Value<'t> {
        self.tape.record(op(self.id))
    }
    /// `self²`.
    pub fn square(self) -> Value<'t> {
        self.unary(Op::Square)
    }
    /// `eˣ`.
    pub fn exp(self) -> Value<'t> {
        self.unary(Op::Exp)
    }
    /// `ln x`.
    pub fn ln(self) -> Value<'t> {
        self.unary(Op::Ln)
    }
    /// `tanh x`.
    pub fn tanh(self) -> Value<'t> {
        self.unary(Op::Tanh)
    }
    /// `max(x, 0)`.
    pub fn relu(self) -> Value<'t> {
        self.unary(Op::Relu)
    }
    /// `xⁿ`.
    pub fn powi(self, n: i32) -> Value<'t> {
        self.tape.record(Op::Powi(self.id, n))
    }
}

/// `+ - * /` between values, and with plain numbers (recorded as constants).
macro_rules! binary {
    ($trait:ident, $method:ident, $op:ident) => {
        impl<'t> std::ops::$trait for Value<'t> {
            type Output = Value<'t>;
            fn $method(self, o: Value<'t>) -> Value<'t> {
                self.tape.record(Op::$op(self.id, o.id))
            }
        }
        impl<'t> std::ops::$trait<f64> for Value<'t> {
            type Output = Value<'t>;
            fn $method(self, o: f64) -> Value<'t> {
                std::ops::$trait::$method(self, self.tape.constant(o))
            }
        }
    };
}
binary!(Add, add, Add);
binary!(Sub, sub, Sub);
binary!(Mul, mul, Mul);
binary!(Div, div, Div);
