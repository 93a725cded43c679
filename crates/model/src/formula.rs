//! Models written as formulas: `score = m*hours + b`, `y = a*exp(k*x) + c`.
//!
//! A formula is parsed once into an [`Expr`] tree. Names that are columns of the data
//! are data; every other name is a parameter, fitted by gradient descent with gradients
//! from the tape. The tree is evaluated against [`Algebra`], so the same formula runs on
//! the tape (training), on plain tensors (prediction) and on dual numbers (the Jacobian
//! for standard errors).

use crate::data::Dataset;
use crate::linear::{Bound, Model, Params};
use crate::xprec::Dd;
use indexmap::IndexMap;
use std::fmt;
use tape::prelude::*;
use tape::Dual;

/// Why a formula was refused: what, and at which character (1-based).
#[derive(Clone, Debug, PartialEq)]
pub struct FormulaError {
    /// The character position the problem starts at (1-based; 0 when it is about the
    /// whole formula).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FormulaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            0 => write!(f, "{}", self.message),
            c => write!(f, "character {c}: {}", self.message),
        }
    }
}

impl std::error::Error for FormulaError {}

fn err<T>(column: usize, message: impl Into<String>) -> Result<T, FormulaError> {
    Err(FormulaError {
        column,
        message: message.into(),
    })
}

/// A pointwise function a formula can call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Func {
    Exp,
    Ln,
    Sqrt,
    Abs,
    Tanh,
    Sigmoid,
    Relu,
    Square,
    Sin,
    Cos,
    Tan,
    Atan,
    Asin,
    Acos,
    Sinh,
    Cosh,
    Log10,
    Log2,
    Exp2,
}

impl Func {
    const ALL: [(&'static str, Func); 21] = [
        ("exp", Func::Exp),
        ("ln", Func::Ln),
        ("log", Func::Ln),
        ("sqrt", Func::Sqrt),
        ("abs", Func::Abs),
        ("tanh", Func::Tanh),
        ("sigmoid", Func::Sigmoid),
        ("relu", Func::Relu),
        ("square", Func::Square),
        ("sin", Func::Sin),
        ("cos", Func::Cos),
        ("tan", Func::Tan),
        ("atan", Func::Atan),
        ("arctan", Func::Atan),
        ("asin", Func::Asin),
        ("acos", Func::Acos),
        ("sinh", Func::Sinh),
        ("cosh", Func::Cosh),
        ("log10", Func::Log10),
        ("log2", Func::Log2),
        ("exp2", Func::Exp2),
    ];

    fn named(name: &str) -> Option<Func> {
        Func::ALL.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
    }

    /// The function's name in formulas.
    pub fn name(self) -> &'static str {
        Func::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .expect("listed")
            .0
    }

    fn apply<T: Algebra>(self, x: &T) -> T {
        match self {
            Func::Exp => x.exp(),
            Func::Ln => x.ln(),
            Func::Sqrt => x.sqrt(),
            Func::Abs => x.abs(),
            Func::Tanh => x.tanh(),
            Func::Sigmoid => x.sigmoid(),
            Func::Relu => x.relu(),
            Func::Square => x.square(),
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Atan => x.atan(),
            // The rest are compositions of tape ops, so their derivatives are the chain
            // rule over rules written once.
            Func::Tan => x.sin().div(&x.cos()),
            Func::Asin => x.div(&x.map_const(|_| 1.0).sub(&x.square()).sqrt()).atan(),
            Func::Acos => x
                .map_const(|_| std::f64::consts::FRAC_PI_2)
                .sub(&Func::Asin.apply(x)),
            Func::Sinh => x.exp().sub(&x.neg().exp()).scale(0.5),
            Func::Cosh => x.exp().add(&x.neg().exp()).scale(0.5),
            Func::Log10 => x.ln().scale(1.0 / std::f64::consts::LN_10),
            Func::Log2 => x.ln().scale(1.0 / std::f64::consts::LN_2),
            Func::Exp2 => x.scale(std::f64::consts::LN_2).exp(),
        }
    }

    /// The plain value, for transforming a target column.
    pub fn value(self, x: f64) -> f64 {
        self.apply(&x)
    }
}

/// A parsed formula's right-hand side. Names are resolved: `Column(j)` is the formula's
/// j-th column, `Param(k)` its k-th parameter.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Expr {
    Num(f64),
    Column(usize),
    Param(usize),
    Neg(Box<Expr>),
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
    Div(Box<Expr>, Box<Expr>),
    /// `x ^ p` for a constant exponent.
    Pow(Box<Expr>, f64),
    /// `a ^ b` with an exponent that is not a constant (`x^b`, `a^x`, `pow(a, b)`).
    PowE(Box<Expr>, Box<Expr>),
    Call(Func, Box<Expr>),
}

impl Expr {
    /// Evaluates the tree in any [`Algebra`]: `num` makes a constant, `cols` and `params`
    /// are the values of the formula's columns and parameters.
    pub fn eval<T: Algebra>(&self, cols: &[T], params: &[T], num: &dyn Fn(f64) -> T) -> T {
        let go = |e: &Expr| e.eval(cols, params, num);
        match self {
            Expr::Num(x) => num(*x),
            Expr::Column(j) => cols[*j].clone(),
            Expr::Param(k) => params[*k].clone(),
            Expr::Neg(a) => go(a).neg(),
            Expr::Add(a, b) => go(a).add(&go(b)),
            Expr::Sub(a, b) => go(a).sub(&go(b)),
            Expr::Mul(a, b) => go(a).mul(&go(b)),
            Expr::Div(a, b) => go(a).div(&go(b)),
            Expr::Pow(a, p) if p.fract() == 0.0 && p.abs() <= i32::MAX as f64 => {
                go(a).powi(*p as i32)
            }
            Expr::Pow(a, p) => go(a).powf(*p),
            Expr::PowE(a, b) => go(a).pow(&go(b)),
            Expr::Call(f, a) => f.apply(&go(a)),
        }
    }

    /// Evaluates the tree at one row in double-double arithmetic (see [`Dd`]).
    fn eval_dd(&self, cols: &[Dd], params: &[Dd]) -> Dd {
        let go = |e: &Expr| e.eval_dd(cols, params);
        match self {
            Expr::Num(x) => Dd::from(*x),
            Expr::Column(j) => cols[*j],
            Expr::Param(k) => params[*k],
            Expr::Neg(a) => -go(a),
            Expr::Add(a, b) => go(a) + go(b),
            Expr::Sub(a, b) => go(a) - go(b),
            Expr::Mul(a, b) => go(a) * go(b),
            Expr::Div(a, b) => go(a) / go(b),
            Expr::Pow(a, p) if p.fract() == 0.0 && p.abs() <= 64.0 => go(a).powi(*p as i32),
            Expr::Pow(a, p) => (go(a).ln() * Dd::from(*p)).exp(),
            Expr::PowE(a, b) => (go(a).ln() * go(b)).exp(),
            Expr::Call(f, a) => {
                let x = go(a);
                match f {
                    Func::Exp => x.exp(),
                    Func::Ln => x.ln(),
                    Func::Sqrt => x.sqrt(),
                    Func::Square => x * x,
                    Func::Abs => {
                        if x.hi < 0.0 {
                            -x
                        } else {
                            x
                        }
                    }
                    Func::Exp2 => (x * crate::xprec::LN2).exp(),
                    // The rest in double precision.
                    other => Dd::from(other.value(x.to_f64())),
                }
            }
        }
    }

    fn fmt_with(&self, f: &mut fmt::Formatter<'_>, names: &Names) -> fmt::Result {
        let bin = |f: &mut fmt::Formatter<'_>, a: &Expr, op: &str, b: &Expr| {
            write!(f, "(")?;
            a.fmt_with(f, names)?;
            write!(f, " {op} ")?;
            b.fmt_with(f, names)?;
            write!(f, ")")
        };
        match self {
            Expr::Num(x) => write!(f, "{x}"),
            Expr::Column(j) => write!(f, "{}", names.columns[*j]),
            Expr::Param(k) => write!(f, "{}", names.params[*k]),
            Expr::Neg(a) => {
                write!(f, "-")?;
                a.fmt_with(f, names)
            }
            Expr::Add(a, b) => bin(f, a, "+", b),
            Expr::Sub(a, b) => bin(f, a, "-", b),
            Expr::Mul(a, b) => bin(f, a, "*", b),
            Expr::Div(a, b) => bin(f, a, "/", b),
            Expr::Pow(a, p) => {
                // A base that is not a single value is wrapped, so that printing and
                // parsing again gives the same tree.
                let atom = matches!(
                    **a,
                    Expr::Column(_)
                        | Expr::Param(_)
                        | Expr::Call(..)
                        | Expr::Add(..)
                        | Expr::Sub(..)
                        | Expr::Mul(..)
                        | Expr::Div(..)
                ) || matches!(**a, Expr::Num(x) if x >= 0.0);
                if !atom {
                    write!(f, "(")?;
                }
                a.fmt_with(f, names)?;
                if !atom {
                    write!(f, ")")?;
                }
                write!(f, "^{p}")
            }
            Expr::PowE(a, b) => {
                write!(f, "pow(")?;
                a.fmt_with(f, names)?;
                write!(f, ", ")?;
                b.fmt_with(f, names)?;
                write!(f, ")")
            }
            Expr::Call(func, a) => {
                write!(f, "{}(", func.name())?;
                a.fmt_with(f, names)?;
                write!(f, ")")
            }
        }
    }
}

struct Names {
    columns: Vec<String>,
    params: Vec<String>,
}

/// A model given as a formula over data columns and named parameters, fitted by least
/// squares with gradients from the tape.
///
/// ```
/// use model::*;
/// use tape::prelude::*;
/// let f = Formula::parse("y = a*exp(k*x) + c", &["x", "y"]).unwrap();
/// assert_eq!(f.target(), "y");
/// assert_eq!(f.columns(), ["x"]);
/// assert_eq!(f.parameter_names(), ["a", "k", "c"]);
/// let mut f = f;
/// f.set("a", 2.0).unwrap();
/// let x = Tensor::new(vec![0.0, 1.0], &[2, 1]);
/// assert_eq!(f.predict(&x).to_vec(), vec![2.0, 2.0]); // k = c = 0
/// ```
#[derive(Clone, Debug)]
pub struct Formula {
    text: String,
    target: String,
    target_transform: Option<Func>,
    pub(crate) columns: Vec<String>,
    expr: Expr,
    params: Params,
}

impl Formula {
    /// Parses `text` (`target = expression`) against the names of the data's columns.
    /// Names that are columns are data; other names are parameters, starting at 0.
    pub fn parse(text: &str, columns: &[&str]) -> Result<Formula, FormulaError> {
        let tokens = lex(text)?;
        let target_transform;
        let (target, rhs_at) = match tokens.iter().position(|t| t.tok == Tok::Eq) {
            Some(eq) => {
                let lhs = &tokens[..eq];
                // A transformed target: f(y) with f one of the invertible functions.
                let (lhs, transform) = match lhs {
                    [Token {
                        tok: Tok::Ident(f),
                        at,
                    }, Token {
                        tok: Tok::LParen, ..
                    }, inner @ Token {
                        tok: Tok::Ident(_), ..
                    }, Token {
                        tok: Tok::RParen, ..
                    }] => match Func::named(f) {
                        Some(
                            func @ (Func::Ln
                            | Func::Sqrt
                            | Func::Log10
                            | Func::Log2
                            | Func::Exp
                            | Func::Square),
                        ) => (std::slice::from_ref(inner), Some(func)),
                        _ => {
                            return err(
                                *at,
                                format!("'{f}' cannot transform the target; use ln, log, log10, log2, sqrt, exp or square"),
                            )
                        }
                    },
                    other => (other, None),
                };
                target_transform = transform;
                match lhs {
                    [Token {
                        tok: Tok::Ident(name),
                        at,
                    }] => {
                        if !columns.contains(&name.as_str()) {
                            return err(
                                *at,
                                format!(
                                    "the target '{name}' is not a column (columns: {})",
                                    columns.join(", ")
                                ),
                            );
                        }
                        (name.clone(), eq + 1)
                    }
                    [] => return err(tokens[eq].at, "nothing before '='; write target = ..."),
                    [t, ..] => return err(
                        t.at,
                        "the left of '=' must be one column name, or ln(column), sqrt(column), ...",
                    ),
                }
            }
            None => {
                return err(
                    0,
                    "a formula needs a target: write it as target = expression",
                )
            }
        };
        let mut p = Parser {
            tokens: &tokens[rhs_at..],
            pos: 0,
            end: text.chars().count() + 1,
            columns,
            used_columns: Vec::new(),
            params: Vec::new(),
            nodes: 0,
        };
        if p.tokens.is_empty() {
            return err(p.end, "nothing after '='");
        }
        let expr = p.expr()?;
        if let Some(t) = p.peek() {
            let what = match &t.tok {
                Tok::Eq => "a second '='".to_string(),
                Tok::RParen => "a ')' with no '(' before it".to_string(),
                Tok::Comma => "a ',' outside pow(a, b)".to_string(),
                other => format!("{other} where an operator (+ - * / ^) was expected"),
            };
            return err(t.at, format!("unexpected {what}"));
        }
        for (name, at) in &p.params {
            if let Some(c) = columns.iter().find(|c| looks_like(name, c)) {
                return err(
                    *at,
                    format!(
                        "'{name}' is not a column, so it would be a parameter; did you mean the column '{c}'? (rename the parameter if not)"
                    ),
                );
            }
        }
        if p.used_columns.is_empty() {
            return err(
                0,
                format!(
                    "the formula uses no column of the data (columns: {})",
                    columns.join(", ")
                ),
            );
        }
        if p.used_columns.contains(&target) {
            return err(
                0,
                format!("the target '{target}' also appears on the right-hand side"),
            );
        }
        if p.params.is_empty() {
            return err(0, "the formula has no parameters to fit");
        }
        let params = p
            .params
            .iter()
            .map(|(n, _)| (n.clone(), Tensor::scalar(0.0)))
            .collect();
        Ok(Formula {
            text: text.trim().to_string(),
            target,
            target_transform,
            columns: p.used_columns,
            expr,
            params,
        })
    }

    /// The function of the target the formula models (`ln` in `ln(y) = …`), if any.
    pub fn target_transform(&self) -> Option<Func> {
        self.target_transform
    }

    /// What the formula predicts, as written on its left: `y` or `ln(y)`.
    pub fn target_label(&self) -> String {
        match self.target_transform {
            Some(f) => format!("{}({})", f.name(), self.target),
            None => self.target.clone(),
        }
    }

    /// The formula as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The column the formula predicts.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The data columns the formula reads, in order of first use: the features of the
    /// dataset it is trained on.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The parameter names, in order of first use.
    pub fn parameter_names(&self) -> Vec<&str> {
        self.params.keys().map(String::as_str).collect()
    }

    /// The parameter values, in order.
    pub fn values(&self) -> Vec<f64> {
        self.params.values().map(Tensor::item).collect()
    }

    /// Sets a parameter by name.
    pub fn set(&mut self, name: &str, value: f64) -> Result<(), String> {
        match self.params.get_mut(name) {
            Some(t) => {
                *t = Tensor::scalar(value);
                Ok(())
            }
            None => Err(format!(
                "'{name}' is not a parameter of the formula (parameters: {})",
                self.parameter_names().join(", ")
            )),
        }
    }

    /// The parsed right-hand side.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Parameters that enter only as a bare term of the top-level sum (`+ b`): the
    /// intercepts, which ridge and lasso leave unpenalised.
    pub fn intercepts(&self) -> Vec<String> {
        fn terms<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
            match e {
                Expr::Add(a, b) | Expr::Sub(a, b) => {
                    terms(a, out);
                    terms(b, out);
                }
                e => out.push(e),
            }
        }
        fn count(e: &Expr, k: usize) -> usize {
            match e {
                Expr::Param(j) => usize::from(*j == k),
                Expr::Num(_) | Expr::Column(_) => 0,
                Expr::Neg(a) | Expr::Pow(a, _) | Expr::Call(_, a) => count(a, k),
                Expr::Add(a, b)
                | Expr::Sub(a, b)
                | Expr::Mul(a, b)
                | Expr::Div(a, b)
                | Expr::PowE(a, b) => count(a, k) + count(b, k),
            }
        }
        let mut top = Vec::new();
        terms(&self.expr, &mut top);
        self.params
            .keys()
            .enumerate()
            .filter(|&(k, _)| {
                top.iter().any(|t| **t == Expr::Param(k)) && count(&self.expr, k) == 1
            })
            .map(|(_, n)| n.clone())
            .collect()
    }

    fn columns_of<T: Algebra>(x: &T, d: usize, onehot: impl Fn(usize) -> T) -> Vec<T> {
        // Column j of x as x·e_j: a matmul, so it needs no op of its own.
        (0..d).map(|j| x.matmul(&onehot(j))).collect()
    }

    /// Predictions `[n, 1]` for the rows of `x` (`[n, columns]`, in [`Formula::columns`]
    /// order), without a tape.
    pub fn predict(&self, x: &Tensor) -> Tensor {
        let (n, d) = (x.shape()[0], self.columns.len());
        let cols = Formula::columns_of(x, d, |j| onehot(d, j));
        let params: Vec<Tensor> = self.params.values().cloned().collect();
        let y = self.expr.eval(&cols, &params, &Tensor::scalar);
        y.broadcast_to(&[n, 1])
    }

    /// The Jacobian `[n, p]` of the predictions with respect to the parameters, by
    /// forward mode (one dual-number pass per parameter).
    pub fn jacobian(&self, x: &Tensor) -> Tensor {
        let (n, d, p) = (x.shape()[0], self.columns.len(), self.params.len());
        let xd = Dual::constant(x.clone());
        let cols = Formula::columns_of(&xd, d, |j| Dual::constant(onehot(d, j)));
        let mut jac = vec![0.0; n * p];
        for k in 0..p {
            let params: Vec<Dual> = self
                .params
                .values()
                .enumerate()
                .map(|(i, v)| Dual::new(v.clone(), Tensor::scalar(f64::from(i == k))))
                .collect();
            let y = self
                .expr
                .eval(&cols, &params, &|c| Dual::constant(Tensor::scalar(c)));
            let dy = y.tangent.broadcast_to(&[n, 1]);
            for (i, v) in dy.data().iter().enumerate() {
                jac[i * p + k] = *v;
            }
        }
        Tensor::new(jac, &[n, p])
    }
}

impl Formula {
    /// For a formula linear in its parameters (`f(θ) = f(0) + Jθ` with the same `J`
    /// everywhere, such as `m*x + b`), the exact least-squares parameters, by QR of `J`;
    /// `None` for a formula that is not.
    ///
    /// ```
    /// use model::*;
    /// let d = Dataset::from_rows(&[vec![0.0], vec![1.0], vec![2.0]], &[1.0, 3.0, 5.0]);
    /// let f = Formula::parse("y = m*x + b", &["x", "y"]).unwrap();
    /// let theta = f.closed_form(&d).unwrap().unwrap();
    /// assert!((theta[0] - 2.0).abs() < 1e-12 && (theta[1] - 1.0).abs() < 1e-12);
    /// assert!(Formula::parse("y = a*exp(k*x)", &["x", "y"]).unwrap().closed_form(&d).is_none());
    /// ```
    pub fn closed_form(&self, data: &Dataset) -> Option<Result<Vec<f64>, String>> {
        let (j, f0) = self.linear_design(data)?;
        let (n, p) = (data.len(), self.params.len());
        if n < p {
            return Some(Err(format!("{n} rows for {p} parameters")));
        }
        let rhs: Vec<f64> = data.y.data().iter().zip(&f0).map(|(y, f)| y - f).collect();
        let cm = crate::qr::column_major(&j, n, p);
        let s = crate::lstsq::lstsq(&cm, n, p, &rhs);
        Some(s.coef.iter().copied().collect::<Option<Vec<f64>>>().ok_or_else(|| {
            "the parameters are not identifiable from the data (the Jacobian is rank deficient)"
                .to_string()
        }))
    }

    /// For a formula linear in its parameters, its Jacobian `J` (`[n, p]` row-major, the
    /// same at every point) and its value at θ = 0, so that `f(θ) = f(0) + J·θ`; `None`
    /// for a formula that is not.
    pub fn linear_design(&self, data: &Dataset) -> Option<(Vec<f64>, Vec<f64>)> {
        let p = self.params.len();
        let mut at = self.clone();
        let zero = vec![0.0; p];
        // Two points far apart: a formula whose Jacobian and predictions agree with one
        // affine map at both is linear in its parameters (up to rounding).
        let probe: Vec<f64> = (0..p).map(|k| 0.75 + 0.5 * k as f64).collect();
        let mut eval = |theta: &[f64]| {
            for (t, v) in at.params.values_mut().zip(theta) {
                *t = Tensor::scalar(*v);
            }
            (at.predict(&data.x), at.jacobian(&data.x))
        };
        let (f0, j0) = eval(&zero);
        let (f1, j1) = eval(&probe);
        let finite = |t: &Tensor| t.data().iter().all(|v| v.is_finite());
        if !(finite(&f0) && finite(&j0) && finite(&f1) && finite(&j1)) {
            return None;
        }
        let scale = j0
            .data()
            .iter()
            .chain(f0.data())
            .fold(1.0f64, |m, x| m.max(x.abs()));
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * scale;
        let same_j = j0.data().iter().zip(j1.data()).all(|(a, b)| close(*a, *b));
        let affine = f1
            .data()
            .iter()
            .zip(f0.data())
            .enumerate()
            .all(|(i, (f1, f0))| {
                let row = &j0.data()[i * p..(i + 1) * p];
                close(
                    *f1,
                    f0 + row.iter().zip(&probe).map(|(j, t)| j * t).sum::<f64>(),
                )
            });
        (same_j && affine).then(|| (j0.to_vec(), f0.to_vec()))
    }
}

impl Formula {
    /// The parameters from a vector, in order.
    fn set_all(&mut self, theta: &[f64]) {
        for (t, v) in self.params.values_mut().zip(theta) {
            *t = Tensor::scalar(*v);
        }
    }

    /// `y − f(x)` for every row, each computed in double-double arithmetic and rounded
    /// once: residuals accurate even where they are many digits smaller than the values
    /// (the formula's functions `exp`, `ln`, powers and the arithmetic in double-double,
    /// the trigonometric ones in double precision).
    ///
    /// ```
    /// use model::*;
    /// let d = Dataset::from_rows(&[vec![1.0]], &[std::f64::consts::E]);
    /// let mut f = Formula::parse("y = exp(a*x)", &["x", "y"]).unwrap();
    /// f.set("a", 1.0).unwrap();
    /// // e − exp(1): the f64 constant's rounding error, −1.4456e-16, which f64 loses.
    /// let r = f.residuals_precise(&d);
    /// assert!((r[0] + 1.445_646_891_729_250_2e-16).abs() < 1e-30);
    /// ```
    pub fn residuals_precise(&self, data: &Dataset) -> Vec<f64> {
        let params: Vec<Dd> = self.values().into_iter().map(Dd::from).collect();
        let d = data.dim();
        (0..data.len())
            .map(|i| {
                let cols: Vec<Dd> = data.row(i)[..d].iter().map(|v| Dd::from(*v)).collect();
                (Dd::from(data.y.data()[i]) - self.expr.eval_dd(&cols, &params)).to_f64()
            })
            .collect()
    }

    /// Fits the parameters by nonlinear least squares from their current values:
    /// [`levenberg_marquardt`](crate::levenberg_marquardt), or damped Gauss–Newton when
    /// `gauss_newton`, with the exact Jacobian from forward mode. The formula keeps the
    /// final parameters whether or not the solver converged (its result says).
    ///
    /// ```
    /// use model::*;
    /// let d = Dataset::from_rows(&[vec![0.0], vec![1.0], vec![2.0], vec![3.0]], &[2.0, 1.2, 0.7, 0.45]);
    /// let mut f = Formula::parse("y = a*exp(k*x)", &["x", "y"]).unwrap();
    /// f.set("a", 1.0).unwrap();
    /// let r = f.fit_least_squares(&d, &LmOptions::default(), false);
    /// assert!(r.stop.converged() && r.iterations > 0);
    /// ```
    pub fn fit_least_squares(
        &mut self,
        data: &Dataset,
        opts: &crate::lm::LmOptions,
        gauss_newton: bool,
    ) -> crate::lm::LmResult {
        let y = data.y.data().to_vec();
        let x0 = self.values();
        let mut at = self.clone();
        let mut at_j = self.clone();
        let residuals = |theta: &[f64]| -> Vec<f64> {
            at.set_all(theta);
            at.predict(&data.x)
                .data()
                .iter()
                .zip(&y)
                .map(|(p, y)| p - y)
                .collect()
        };
        let jacobian = |theta: &[f64]| -> Vec<f64> {
            at_j.set_all(theta);
            at_j.jacobian(&data.x).to_vec()
        };
        let mut r = if gauss_newton {
            crate::lm::gauss_newton(residuals, jacobian, &x0, opts)
        } else {
            crate::lm::levenberg_marquardt(residuals, jacobian, &x0, opts)
        };
        self.set_all(&r.x);
        if r.stop.converged() {
            // Gauss–Newton steps on residuals computed in double-double, while they
            // lower the sum of squares: the minimiser to the precision the data allow,
            // even where the residuals are far below the values' rounding.
            let (n, p) = (data.len(), self.params.len());
            let ss = |r: &[f64]| r.iter().map(|v| v * v).sum::<f64>();
            let mut res = self.residuals_precise(data);
            for _ in 0..3 {
                let j = self.jacobian(&data.x);
                let jd = j.data();
                let cm: Vec<f64> = crate::qr::column_major(jd, n, p);
                let step = crate::lstsq::lstsq(&cm, n, p, &res);
                let mut trial = self.clone();
                let next: Vec<f64> =
                    r.x.iter()
                        .zip(&step.coef)
                        .map(|(x, d)| x + d.unwrap_or(0.0))
                        .collect();
                trial.set_all(&next);
                let tres = trial.residuals_precise(data);
                r.evaluations += 1;
                r.jacobians += 1;
                if ss(&tres).is_nan() || ss(&tres) >= ss(&res) {
                    break;
                }
                *self = trial;
                r.x = next;
                r.fnorm = ss(&tres).sqrt();
                res = tres;
            }
        }
        r
    }
}

fn onehot(d: usize, j: usize) -> Tensor {
    let mut e = vec![0.0; d];
    e[j] = 1.0;
    Tensor::new(e, &[d, 1])
}

/// True if a parameter name is probably a misspelt column: the same but for case, or
/// one character dropped or added (`hour` for `hours`) when the shorter has at least
/// three characters. Substitutions are not flagged: `rate` beside a column `date` is a
/// fair parameter name.
fn looks_like(name: &str, column: &str) -> bool {
    if name.eq_ignore_ascii_case(column) {
        return true;
    }
    let (a, b): (Vec<char>, Vec<char>) = (name.chars().collect(), column.chars().collect());
    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
    if short.len() < 3 || long.len() != short.len() + 1 {
        return false;
    }
    // Dropping one character of the longer gives the shorter.
    let first = short.iter().zip(&long).take_while(|(x, y)| x == y).count();
    short[first..] == long[first + 1..]
}

impl fmt::Display for Formula {
    /// The formula as parsed, fully parenthesised: what the parser understood.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = ", self.target_label())?;
        let names = Names {
            columns: self.columns.clone(),
            params: self.params.keys().cloned().collect(),
        };
        self.expr.fmt_with(f, &names)
    }
}

impl Model for Formula {
    fn named_parameters(&self) -> &Params {
        &self.params
    }
    fn graph_is_static(&self) -> bool {
        true // the parsed expression's ops, whatever the values
    }
    fn named_parameters_mut(&mut self) -> &mut Params {
        &mut self.params
    }
    fn forward<'t>(&self, p: &Bound<'t>, x: Var<'t>) -> Var<'t> {
        let tape = x.tape();
        let (n, d) = (x.shape()[0], self.columns.len());
        let cols = Formula::columns_of(&x, d, |j| tape.constant(onehot(d, j)));
        let params: Vec<Var<'t>> = self.params.keys().map(|k| p[k]).collect();
        let y = self.expr.eval(&cols, &params, &|c| tape.constant(c));
        y.broadcast_to(&[n, 1])
    }
    fn penalized(&self) -> Vec<String> {
        let free = self.intercepts();
        self.params
            .keys()
            .filter(|k| !free.contains(k))
            .cloned()
            .collect()
    }
}

// ---- lexer ----

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Op(char),
    LParen,
    RParen,
    Comma,
    Eq,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Num(x) => write!(f, "the number {x}"),
            Tok::Ident(s) => write!(f, "'{s}'"),
            Tok::Op(c) => write!(f, "'{c}'"),
            Tok::LParen => write!(f, "'('"),
            Tok::RParen => write!(f, "')'"),
            Tok::Comma => write!(f, "','"),
            Tok::Eq => write!(f, "'='"),
        }
    }
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    /// 1-based character position.
    at: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, FormulaError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // An exponent only if digits follow: `2e3`, `1.5E-2`.
            if i < chars.len() && matches!(chars[i], 'e' | 'E') {
                let mut j = i + 1;
                if j < chars.len() && matches!(chars[j], '+' | '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let s: String = chars[start..i].iter().collect();
            match s.parse::<f64>() {
                Ok(x) if x.is_finite() => out.push(Token {
                    tok: Tok::Num(x),
                    at,
                }),
                Ok(_) => return err(at, format!("the number {s} is too large")),
                Err(_) => return err(at, format!("'{s}' is not a number")),
            }
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            // A level of a text column, named as the report names its dummy: `color[T.red]`.
            if chars.get(i) == Some(&'[')
                && chars.get(i + 1) == Some(&'T')
                && chars.get(i + 2) == Some(&'.')
            {
                match chars[i..].iter().position(|&c| c == ']') {
                    Some(k) if k > 3 => i += k + 1,
                    _ => {
                        return err(
                            at + (i - start),
                            "a level is written name[T.level], with a level and a closing ']'",
                        )
                    }
                }
            }
            out.push(Token {
                tok: Tok::Ident(chars[start..i].iter().collect()),
                at,
            });
            continue;
        }
        let tok = match c {
            '+' | '-' | '/' | '^' => Tok::Op(c),
            '*' if chars.get(i + 1) == Some(&'*') => {
                return err(at, "'**' is not an operator here; write x^2 for a power")
            }
            '*' => Tok::Op('*'),
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            '=' => Tok::Eq,
            '~' => return err(at, "write the formula as target = expression, not with '~'"),
            other => return err(at, format!("'{other}' is not part of a formula")),
        };
        out.push(Token { tok, at });
        i += 1;
    }
    if out.is_empty() {
        return err(0, "the formula is empty");
    }
    Ok(out)
}

/// The text column of a dummy's name, `color` for `color[T.red]`.
pub fn dummy_base(name: &str) -> Option<&str> {
    let (base, rest) = name.split_once("[T.")?;
    (rest.len() > 1 && rest.ends_with(']')).then_some(base)
}

// ---- parser: recursive descent, one function per precedence level ----

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    /// The position just past the end, for "expected ... at the end" errors.
    end: usize,
    columns: &'a [&'a str],
    used_columns: Vec<String>,
    params: Vec<(String, usize)>,
    /// Nodes made so far (see `MAX_NODES`).
    nodes: usize,
}

/// The most nodes a formula may have: far beyond any real model (NIST's longest has
/// about 60), and small enough that evaluating, printing and dropping the tree, which
/// recurse, stay well inside the stack whatever its shape.
pub const MAX_NODES: usize = 2000;

/// How deep parentheses and unary minus may nest: far beyond any real formula, well
/// short of the stack.
const MAX_DEPTH: usize = 200;

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    /// Counts one more node; refuses a formula past `MAX_NODES`.
    fn node(&mut self) -> Result<(), FormulaError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return err(
                self.at(),
                format!("the formula is too long: more than {MAX_NODES} terms and operations"),
            );
        }
        Ok(())
    }

    fn at(&self) -> usize {
        self.peek().map_or(self.end, |t| t.at)
    }

    fn eat_op(&mut self, ops: &[char]) -> Option<char> {
        match self.peek() {
            Some(Token {
                tok: Tok::Op(c), ..
            }) if ops.contains(c) => {
                let c = *c;
                self.pos += 1;
                Some(c)
            }
            _ => None,
        }
    }

    /// expr := term (('+' | '-') term)*
    fn expr(&mut self) -> Result<Expr, FormulaError> {
        self.expr_at(0)
    }

    fn expr_at(&mut self, depth: usize) -> Result<Expr, FormulaError> {
        let mut e = self.term(depth)?;
        while let Some(op) = self.eat_op(&['+', '-']) {
            self.node()?;
            let r = self.term(depth)?;
            e = match op {
                '+' => Expr::Add(Box::new(e), Box::new(r)),
                _ => Expr::Sub(Box::new(e), Box::new(r)),
            };
        }
        Ok(e)
    }

    /// term := unary (('*' | '/') unary)*
    fn term(&mut self, depth: usize) -> Result<Expr, FormulaError> {
        let mut e = self.unary(depth)?;
        while let Some(op) = self.eat_op(&['*', '/']) {
            self.node()?;
            let r = self.unary(depth)?;
            e = match op {
                '*' => Expr::Mul(Box::new(e), Box::new(r)),
                _ => Expr::Div(Box::new(e), Box::new(r)),
            };
        }
        Ok(e)
    }

    /// unary := '-' unary | power
    fn unary(&mut self, depth: usize) -> Result<Expr, FormulaError> {
        if depth > MAX_DEPTH {
            return err(self.at(), "the formula nests too deeply");
        }
        if self.eat_op(&['-']).is_some() {
            self.node()?;
            return Ok(Expr::Neg(Box::new(self.unary(depth + 1)?)));
        }
        self.power(depth)
    }

    /// power := atom ('^' unary)?: a constant exponent (`2`, `-1`, `(0.5)`) is `Pow`, any
    /// other (`x^b`, `a^x`) is `PowE`.
    fn power(&mut self, depth: usize) -> Result<Expr, FormulaError> {
        let base = self.atom(depth)?;
        if self.eat_op(&['^']).is_none() {
            return Ok(base);
        }
        self.node()?;
        let exponent = self.unary(depth + 1)?;
        Ok(match constant(&exponent) {
            Some(p) => Expr::Pow(Box::new(base), p),
            None => Expr::PowE(Box::new(base), Box::new(exponent)),
        })
    }

    /// atom := number | column | parameter | function '(' expr ')' | '(' expr ')'
    fn atom(&mut self, depth: usize) -> Result<Expr, FormulaError> {
        let Some(t) = self.peek().cloned() else {
            return err(self.end, "the formula ends where a value was expected");
        };
        self.node()?;
        self.pos += 1;
        match t.tok {
            Tok::Num(x) => Ok(Expr::Num(x)),
            Tok::LParen => {
                let e = self.expr_at(depth + 1)?;
                self.close(t.at)?;
                Ok(e)
            }
            Tok::Ident(name) => {
                let call = matches!(
                    self.peek(),
                    Some(Token {
                        tok: Tok::LParen,
                        ..
                    })
                );
                if call && name == "pow" {
                    let open = self.at();
                    self.pos += 1;
                    let a = self.expr_at(depth + 1)?;
                    match self.peek() {
                        Some(Token {
                            tok: Tok::Comma, ..
                        }) => self.pos += 1,
                        _ => return err(self.at(), "pow needs two arguments: pow(base, exponent)"),
                    }
                    let b = self.expr_at(depth + 1)?;
                    self.close(open)?;
                    return Ok(match constant(&b) {
                        Some(p) => Expr::Pow(Box::new(a), p),
                        None => Expr::PowE(Box::new(a), Box::new(b)),
                    });
                }
                if call {
                    let Some(f) = Func::named(&name) else {
                        let known: Vec<&str> =
                            Func::ALL.iter().map(|(n, _)| *n).chain(["pow"]).collect();
                        return err(
                            t.at,
                            format!("unknown function '{name}' (known: {})", known.join(", ")),
                        );
                    };
                    let open = self.at();
                    self.pos += 1;
                    if matches!(
                        self.peek(),
                        Some(Token {
                            tok: Tok::RParen,
                            ..
                        })
                    ) {
                        return err(self.at(), format!("{name}() needs an argument"));
                    }
                    let e = self.expr_at(depth + 1)?;
                    self.close(open)?;
                    return Ok(Expr::Call(f, Box::new(e)));
                }
                if Func::named(&name).is_some() {
                    return err(t.at, format!("'{name}' is a function: write {name}(...)"));
                }
                // pi and e are the constants, unless the data have columns of those names.
                if !self.columns.contains(&name.as_str()) {
                    match name.as_str() {
                        "pi" => return Ok(Expr::Num(std::f64::consts::PI)),
                        "e" => return Ok(Expr::Num(std::f64::consts::E)),
                        _ => {}
                    }
                }
                if let Some(base) = dummy_base(&name) {
                    if !self.columns.contains(&base) && !self.columns.contains(&name.as_str()) {
                        return err(t.at, format!("'{base}' is not a column of the data, so '{name}' is not one of its levels"));
                    }
                }
                if self.columns.contains(&name.as_str()) || dummy_base(&name).is_some() {
                    let j = match self.used_columns.iter().position(|c| *c == name) {
                        Some(j) => j,
                        None => {
                            self.used_columns.push(name);
                            self.used_columns.len() - 1
                        }
                    };
                    return Ok(Expr::Column(j));
                }
                let k = match self.params.iter().position(|(p, _)| *p == name) {
                    Some(k) => k,
                    None => {
                        self.params.push((name, t.at));
                        self.params.len() - 1
                    }
                };
                Ok(Expr::Param(k))
            }
            Tok::Op(c) => err(t.at, format!("'{c}' where a value was expected")),
            Tok::RParen => err(t.at, "')' where a value was expected"),
            Tok::Comma => err(t.at, "',' where a value was expected"),
            Tok::Eq => err(t.at, "a second '='"),
        }
    }

    fn close(&mut self, open: usize) -> Result<(), FormulaError> {
        match self.peek() {
            Some(Token {
                tok: Tok::RParen, ..
            }) => {
                self.pos += 1;
                Ok(())
            }
            Some(t) => err(
                t.at,
                format!(
                    "expected ')' to close the '(' at character {open}, found {}",
                    t.tok
                ),
            ),
            None => err(
                self.end,
                format!("the '(' at character {open} is never closed"),
            ),
        }
    }
}

/// The value of an expression made only of numbers, if it is one.
fn constant(e: &Expr) -> Option<f64> {
    match e {
        Expr::Num(x) => Some(*x),
        Expr::Neg(a) => constant(a).map(|x| -x),
        _ => None,
    }
}

/// Parameter names and values, in order, for reports.
pub fn parameter_table(m: &dyn Model) -> IndexMap<String, f64> {
    m.named_parameters()
        .iter()
        .flat_map(|(k, v)| {
            let many = v.numel() > 1;
            v.to_vec()
                .into_iter()
                .enumerate()
                .map(move |(i, x)| (if many { format!("{k}[{i}]") } else { k.clone() }, x))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_associativity() {
        let f = Formula::parse("y = a - b - c*x^2/d + -g", &["x", "y"]).unwrap();
        assert_eq!(f.to_string(), "y = (((a - b) - ((c * x^2) / d)) + -g)");
    }

    #[test]
    fn intercepts_are_bare_top_level_terms() {
        let f = Formula::parse("y = m*x + b", &["x", "y"]).unwrap();
        assert_eq!(f.intercepts(), ["b"]);
        let f = Formula::parse("y = a*exp(k*x) + c", &["x", "y"]).unwrap();
        assert_eq!(f.intercepts(), ["c"]);
        // b appears twice, so it is not a plain intercept.
        let f = Formula::parse("y = b*x + b", &["x", "y"]).unwrap();
        assert!(f.intercepts().is_empty());
    }

    #[test]
    fn misspelt_columns_are_caught() {
        assert!(looks_like("hour", "hours"));
        assert!(looks_like("X", "x"));
        assert!(looks_like("tmax", "tmx"));
        assert!(!looks_like("m", "x"));
        assert!(!looks_like("rate", "date"));
        assert!(!looks_like("b", "b1"));
    }
}
