//! The op set: every recorded operation as a variant of [`Op`], and what the engine
//! knows about each one besides its rules, declared once in [`Op::spec`].
//!
//! The rules themselves, forward value and vector-Jacobian product side by side, are in
//! `rules.rs`; a user's op with its own rules goes through the
//! [`CustomOp`](crate::CustomOp) seam (`tape/custom.rs`), and the fused `linear_mse` is
//! one such op (`linear_mse.rs`). Where a new op goes is written in `README.md` beside
//! this file. Not a hot path by itself, but
//! `spec` is inlined into the recording and backward loops, where each call is folded to
//! the one field it reads.

mod rules;

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
    /// A user's op ([`CustomOp`](crate::CustomOp)): the index of its entry in the tape's table of custom
    /// nodes, which holds the op, its name and its inputs.
    Custom(u32),
}

/// Which of its values an op's backward rule reads besides shapes. A value no rule
/// reads may be released from the tape once consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saves {
    /// The rule reads its inputs' values (`mul`: `g·b`, `g·a`).
    pub inputs: bool,
    /// The rule reads the op's own value (`exp`: `g·y`).
    pub output: bool,
}

/// Where an op may run without tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// Elementwise: a rank-0 output means rank-0 inputs, so forward and backward both run
    /// on plain `f64` for scalar nodes.
    Elementwise,
    /// Forward on `f64` when every input is rank 0; backward on tensors (a reduction or a
    /// reshape may make rank 0 of a tensor).
    ScalarForward,
    /// Tensors only (matrix and axis ops need rank ≥ 1).
    Tensor,
}

/// Everything the engine knows about an op besides its rules.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    pub(crate) name: &'static str,
    pub(crate) inputs: Inputs,
    pub(crate) saves: Saves,
    pub(crate) path: Path,
    /// The backward rule in words, for pictures and pages (g: the node's adjoint; y: its
    /// value; a, b: its inputs).
    pub(crate) rule: &'static str,
}

/// The input node indices of an op (at most four), without allocation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Inputs {
    pub(crate) len: u8,
    pub(crate) ids: [Id; 4],
}

impl Inputs {
    const NONE: Inputs = Inputs {
        len: 0,
        ids: [0; 4],
    };
    #[inline(always)]
    const fn one(a: Id) -> Inputs {
        Inputs {
            len: 1,
            ids: [a, 0, 0, 0],
        }
    }
    #[inline(always)]
    const fn two(a: Id, b: Id) -> Inputs {
        Inputs {
            len: 2,
            ids: [a, b, 0, 0],
        }
    }
    pub(crate) fn from_slice(ids: &[Id]) -> Inputs {
        let mut out = Inputs::NONE;
        out.ids[..ids.len()].copy_from_slice(ids);
        out.len = ids.len() as u8;
        out
    }
}

impl std::ops::Deref for Inputs {
    type Target = [Id];
    #[inline(always)]
    fn deref(&self) -> &[Id] {
        &self.ids[..self.len as usize]
    }
}

const NOTHING: Saves = Saves {
    inputs: false,
    output: false,
};
const INPUTS: Saves = Saves {
    inputs: true,
    output: false,
};
const OUTPUT: Saves = Saves {
    inputs: false,
    output: true,
};
const BOTH: Saves = Saves {
    inputs: true,
    output: true,
};

impl Op {
    /// The declaration of every op: its name in the listing, its inputs, what its
    /// backward rule reads, where it may run on `f64`, and its rule in words. One line an op; the compiler
    /// refuses a variant without one. (A custom op's entry is resolved by the tape,
    /// which holds its table: see `Inner::spec`.)
    #[inline(always)]
    #[rustfmt::skip]
    pub(crate) fn spec(&self) -> Spec {
        use Op::*;
        use Path::*;
        let op = |name, inputs, saves, path, rule| Spec { name, inputs, saves, path, rule };
        let (one, two) = (Inputs::one, Inputs::two);
        match *self {
            Const => op("const", Inputs::NONE, NOTHING, Elementwise, "a leaf: it passes nothing on"),
            Param => op("param", Inputs::NONE, NOTHING, Elementwise, "a leaf: its adjoint is the gradient"),
            Add(a, b) => op("add", two(a, b), NOTHING, Elementwise, "∂a = g, ∂b = g (each summed to its input's shape)"),
            Sub(a, b) => op("sub", two(a, b), NOTHING, Elementwise, "∂a = g, ∂b = −g"),
            Mul(a, b) => op("mul", two(a, b), INPUTS, Elementwise, "∂a = g·b, ∂b = g·a"),
            Div(a, b) => op("div", two(a, b), BOTH, Elementwise, "∂a = g/b, ∂b = −g·y/b"),
            Neg(a) => op("neg", one(a), NOTHING, Elementwise, "∂a = −g"),
            Powf(a, _) => op("powf", one(a), INPUTS, Elementwise, "∂a = g·p·a^(p−1)"),
            Powi(a, _) => op("powi", one(a), INPUTS, Elementwise, "∂a = g·n·a^(n−1)"),
            Square(a) => op("square", one(a), INPUTS, Elementwise, "∂a = g·2a"),
            Exp(a) => op("exp", one(a), OUTPUT, Elementwise, "∂a = g·y"),
            Ln(a) => op("ln", one(a), INPUTS, Elementwise, "∂a = g/a"),
            Sqrt(a) => op("sqrt", one(a), OUTPUT, Elementwise, "∂a = g/(2y)"),
            Abs(a) => op("abs", one(a), INPUTS, Elementwise, "∂a = g·sign(a)"),
            Tanh(a) => op("tanh", one(a), OUTPUT, Elementwise, "∂a = g·(1 − y²)"),
            Sigmoid(a) => op("sigmoid", one(a), OUTPUT, Elementwise, "∂a = g·y·(1 − y)"),
            Relu(a) => op("relu", one(a), INPUTS, Elementwise, "∂a = g where a > 0, else 0"),
            Sin(a) => op("sin", one(a), INPUTS, Elementwise, "∂a = g·cos(a)"),
            Cos(a) => op("cos", one(a), INPUTS, Elementwise, "∂a = −g·sin(a)"),
            Atan(a) => op("atan", one(a), INPUTS, Elementwise, "∂a = g/(1 + a²)"),
            Log1p(a) => op("log1p", one(a), INPUTS, Elementwise, "∂a = g/(1 + a)"),
            Expm1(a) => op("expm1", one(a), OUTPUT, Elementwise, "∂a = g·(y + 1)"),
            Softplus(a) => op("softplus", one(a), INPUTS, Elementwise, "∂a = g·σ(a) (g above 20)"),
            Pow(a, b) => op("pow", two(a, b), BOTH, Elementwise, "∂a = g·b·a^(b−1), ∂b = g·y·ln(a)"),
            Maximum(a, b) => op("maximum", two(a, b), INPUTS, Elementwise, "the larger input takes g (g/2 each at a tie)"),
            Minimum(a, b) => op("minimum", two(a, b), INPUTS, Elementwise, "the smaller input takes g (g/2 each at a tie)"),
            MaskedMul(a, b) => op("masked_mul", two(a, b), INPUTS, Elementwise, "∂a = g where mask ≠ 0, else 0; ∂mask = g·a"),
            Narrow { x, .. } => op("narrow", one(x), NOTHING, Tensor, "∂x = g at the entries taken, 0 elsewhere"),
            Pad { x, .. } => op("pad", one(x), NOTHING, Tensor, "∂x = g at x's entries"),
            MatMul { a, b, .. } => op("matmul", two(a, b), INPUTS, Tensor, "∂A = G·Bᵀ, ∂B = Aᵀ·G"),
            Sum(a) => op("sum", one(a), NOTHING, ScalarForward, "∂a = g at every entry"),
            Mean(a) => op("mean", one(a), NOTHING, ScalarForward, "∂a = g/n at every entry"),
            SumAxis { x, .. } => op("sum_axis", one(x), NOTHING, Tensor, "∂x = g spread along the axis"),
            MeanAxis { x, .. } => op("mean_axis", one(x), NOTHING, Tensor, "∂x = g/n spread along the axis"),
            Reshape(a) => op("reshape", one(a), NOTHING, ScalarForward, "∂a = g in a's shape"),
            Transpose(a, _, _) => op("transpose", one(a), NOTHING, Tensor, "∂a = g transposed back"),
            BroadcastTo(a) => op("broadcast_to", one(a), NOTHING, ScalarForward, "∂a = g summed over the broadcast axes"),
            Custom(_) => op("custom", Inputs::NONE, BOTH, Tensor, "the op's own rule (CustomOp::vjp)"),
        }
    }

    /// The op's name as the listing prints it (`"custom"` for every custom op: the
    /// listing prints the op's own name, which its tape holds).
    ///
    /// ```
    /// assert_eq!(tape::Op::Mul(0, 1).name(), "mul");
    /// ```
    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    /// What this op's backward rule reads besides shapes.
    ///
    /// ```
    /// use tape::Op;
    /// assert!(Op::Square(0).saves().inputs); // g·2a reads a
    /// assert!(Op::Exp(0).saves().output); // g·y reads y
    /// assert_eq!(Op::Add(0, 1).saves(), Op::Neg(0).saves()); // g alone: nothing
    /// ```
    pub fn saves(&self) -> Saves {
        self.spec().saves
    }

    /// The nodes this op reads (none for a custom op: its tape holds them).
    #[inline(always)]
    pub(crate) fn inputs(&self) -> Inputs {
        self.spec().inputs
    }

    /// True for ops whose output is rank 0 whenever every input is: these may record on
    /// plain `f64`.
    #[inline(always)]
    pub(crate) fn scalar_closed(&self) -> bool {
        self.spec().path != Path::Tensor
    }
}
