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
//!
//! ## The rules at their special points
//!
//! Where a rule meets an infinity, a zero divided by zero, or a branch, it does what
//! PyTorch does (float64), checked against PyTorch's own figures written by
//! `tests/torch/special_points.py` (the test `special_points_follow_pytorch`):
//!
//! | where | reverse mode | forward mode ([`Dual`]) |
//! |---|---|---|
//! | a node off the path to the output (recorded, unused) | skipped: changes no gradient | — |
//! | `x.powi(0)`, `x.powf(0.0)` at any x, 0 included | gradient 0 | tangent 0 |
//! | `x.powi(1)`, `x.powf(1.0)`: second derivative at 0 | 0 | 0 |
//! | `relu` at x ≤ 0 with an infinite adjoint | 0 (a selection, not `∞·0`) | `0·ẋ` |
//! | `maximum`, `minimum`: the branch not taken; a tie | 0 whatever the adjoint; `g/2` each | the same |
//! | `softplus` above 20 | the identity: value `x`, slope 1 | the same |
//! | `clamp(lo, hi)` at a bound | 0 (the gradient passes strictly inside) | the same |
//! | `std`, `norm` where they are 0 | 0 (not `∞·0`) | the same |
//! | `logsumexp`, `softmax` of large values | shifted by the maximum: finite | the same |
//! | `tanh`, `sigmoid` with an infinite adjoint | `∞·(1 − y²)`, `∞·y(1 − y)`: ∞ | — |
//! | `0·∞` on the path (`sqrt(x)·0` at 0) | NaN | NaN |
//! | a constant through an infinite derivative (`x + sqrt(0)`) | — | no tangent: `ẋ` |
//! | `abs` at 0 | `g·0` | `0·ẋ` |
//! | `pow(a, b)` at a = 0 | ∂b taken as 0 (the limit of `y·ln a`) | the same |
//! | the sum of nothing; sums of −0 | +0; +0 | — |
//! | `where_`: the branch not taken | 0 whatever the adjoint | the same |

#![warn(missing_docs)]

mod algebra;
mod backward;
mod composite;
mod dual;
mod functional;
mod kernels;
mod linear_mse;
mod op;
mod picture;
mod pool;
mod show;
mod tape;
mod tensor;

pub use algebra::Algebra;
pub use backward::Gradients;
pub use composite::Functions;
pub use dual::Dual;
pub use functional::{
    gradcheck, hessian, hvp, jacobian, jvp, GradcheckReport, InputCheck, Tolerance,
};
pub use linear_mse::linear_mse;
pub use op::{Op, Saves};
pub use tape::{CustomOp, Leaf, Tape, Var};
pub use tensor::{broadcast_shape, fmt_g, numel, Shape, Tensor};

/// Everything a model needs in scope: `use tape::prelude::*;`.
pub mod prelude {
    pub use crate::{Algebra, Functions, Gradients, Tape, Tensor, Var};
}
