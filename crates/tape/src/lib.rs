//! # tape: descent's reverse-mode automatic differentiation engine
//!
//! Record a computation on a [`Tape`], call [`Var::backward`], read the gradients:
//!
//! ```
//! use tape::prelude::*;
//! let tape = Tape::new();
//! let w = tape.param([[0.5], [-1.0]]);        // 2×1 weights
//! let b = tape.param(0.1);
//! let x = tape.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]);
//! let y = tape.constant([[1.0], [2.0], [3.0]]);
//! let loss = (x.matmul(&w) + b - y).square().mean();
//! let grads = loss.backward();
//! assert_eq!(grads.get(w).shape(), &[2, 1]);
//! println!("{grads}"); // the Wengert list, each node with its adjoint
//! ```
//!
//! How it works, in one file: `tape.rs`. Every op is a variant of [`Op`]; its forward
//! value ([`Op::eval`]) and backward rule ([`Op::vjp`]) sit side by side, and the rules
//! are one exhaustive `match` written against the [`Algebra`] trait, so the same rules run
//! on `f64`, on [`Tensor`] and, for higher-order derivatives, on [`Var`] itself.

#![warn(missing_docs)]

mod algebra;
mod dual;
mod functional;
mod kernels;
mod show;
mod tape;
mod tensor;

pub use algebra::Algebra;
pub use dual::Dual;
pub use functional::{
    gradcheck, hessian, hvp, jacobian, jvp, GradcheckReport, InputCheck, Tolerance,
};
pub use tape::{linear_mse, Gradients, Inputs, Leaf, Op, Tape, Var, NODE_BYTES};
pub use tensor::{broadcast_shape, fmt_g, numel, Shape, Tensor};

/// Everything a model needs in scope: `use tape::prelude::*;`.
pub mod prelude {
    pub use crate::{Algebra, Gradients, Tape, Tensor, Var};
}
