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
//! ## How it works
//!
//! Start with [`teach`]: the whole idea on scalars in one short file, a tape of nodes,
//! recording, and the walk back, running the engine's own rules. The full engine is the
//! same idea with tensors and speed, a module a concern:
//!
//! | where | what |
//! |---|---|
//! | `op/` | [`Op`], one variant an op, declared once (`Op::spec`: name, inputs, what backward reads, scalar path); `rules.rs`: each op's forward value ([`Op::eval`]) and vector-Jacobian product ([`Op::vjp`]) side by side, written against [`Algebra`] so one copy runs on `f64`, [`Tensor`] and [`Var`] |
//! | `tape/` | the [`Tape`] (node storage, recording with its scalar fast path, releasing consumed values, replay by [`Tape::set_values`]), the [`Var`] handle, and the [`CustomOp`] seam |
//! | `backward/` | the walk ([`Var::backward`]), [`Gradients`], gradients recorded for higher order ([`Tape::grad`]) |
//! | `tensor/`, `kernels.rs`, `pool.rs` | plain tensors, their loops, recycled buffers |
//! | `dual.rs`, `functional.rs`, `composite.rs` | forward mode, `jvp`/`hvp`/`hessian`/`gradcheck`, functions built from the ops |
//! | `show.rs`, `picture.rs`, `page.rs` | the listing, DOT, the SVG picture, and the page to step through |
//!
//! A new op is a variant, a line in `Op::spec` and its two rules (`op/README.md`); an
//! op with rules of its own needs no change here at all: implement [`CustomOp`].
//!
//! The crate is `descent-tape`; its library is `tape` (`use tape::prelude::*`), re-exported
//! by the `descent` facade as `descent::tape`.
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
//! | `logsumexp` of a row of −∞; of a row holding ∞ | −∞, gradient NaN; ∞, gradient NaN at ∞ and 0 elsewhere | the same |
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
mod page;
mod picture;
mod pool;
mod show;
mod tape;
pub mod teach;
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
pub use page::Slider;
pub use tape::{CustomOp, Leaf, Tape, Var};
pub use tensor::{broadcast_shape, fmt_g, numel, Shape, Tensor};

/// Everything a model needs in scope: `use tape::prelude::*;`.
pub mod prelude {
    pub use crate::{Algebra, Functions, Gradients, Tape, Tensor, Var};
}
