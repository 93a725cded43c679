//! The hand derivation, done by machine: the partial derivative of a formula's tree with
//! respect to one parameter, by the chain rule applied node by node, simplified modestly
//! and predictably (constants folded, 0 and 1 removed; like terms are not collected), and
//! printed as plain text (the formula syntax, so it parses again) or as LaTeX. `descent
//! derive` prints ∂L/∂p = (2/n)·Σ (f − y)·∂f/∂p with it and checks it against `backward()`.

use crate::formula::{Expr, Formula, Func};

/// A derivative with the steps that made it: for each non-trivial node, the rule and the
/// result (`--steps`).
#[derive(Clone, Debug)]
pub struct Derivation {
    /// ∂f/∂p, simplified.
    pub result: Expr,
    /// `(node, rule, derivative)` in the order the chain rule finished them (innermost
    /// first).
    pub steps: Vec<(Expr, &'static str, Expr)>,
}

/// ∂e/∂(parameter `p`), or why there is none (a formula with `relu`, which has no
/// derivative expression at 0).
///
/// ```
/// use model::{derivative, Formula};
/// let f = Formula::parse("y = m*x + b", &["x", "y"]).unwrap();
/// let d = derivative(f.expr(), 0).unwrap(); // ∂/∂m
/// assert_eq!(f.show(&d.result), "x");
/// ```
pub fn derivative(e: &Expr, p: usize) -> Result<Derivation, String> {
    let mut steps = Vec::new();
    let result = d(e, p, &mut steps)?;
    Ok(Derivation { result, steps })
}

fn num(x: f64) -> Expr {
    Expr::Num(x)
}

fn is(e: &Expr, v: f64) -> bool {
    matches!(e, Expr::Num(x) if *x == v)
}

/// `a + b`, simplified.
pub(crate) fn add(a: Expr, b: Expr) -> Expr {
    match (&a, &b) {
        (Expr::Num(x), Expr::Num(y)) => num(x + y),
        _ if is(&a, 0.0) => b,
        _ if is(&b, 0.0) => a,
        (_, Expr::Neg(inner)) => sub(a, (**inner).clone()),
        _ => Expr::Add(Box::new(a), Box::new(b)),
    }
}

/// `a − b`, simplified.
pub(crate) fn sub(a: Expr, b: Expr) -> Expr {
    match (&a, &b) {
        (Expr::Num(x), Expr::Num(y)) => num(x - y),
        _ if is(&b, 0.0) => a,
        _ if is(&a, 0.0) => neg(b),
        _ => Expr::Sub(Box::new(a), Box::new(b)),
    }
}

/// `a · b`, simplified.
pub(crate) fn mul(a: Expr, b: Expr) -> Expr {
    match (&a, &b) {
        (Expr::Num(x), Expr::Num(y)) => num(x * y),
        _ if is(&a, 0.0) || is(&b, 0.0) => num(0.0),
        _ if is(&a, 1.0) => b,
        _ if is(&b, 1.0) => a,
        _ if is(&a, -1.0) => neg(b),
        _ if is(&b, -1.0) => neg(a),
        // Constants first: 2·x, not x·2.
        (_, Expr::Num(_)) => Expr::Mul(Box::new(b), Box::new(a)),
        _ => Expr::Mul(Box::new(a), Box::new(b)),
    }
}

/// `a / b`, simplified.
pub(crate) fn div(a: Expr, b: Expr) -> Expr {
    match (&a, &b) {
        (Expr::Num(x), Expr::Num(y)) if *y != 0.0 => num(x / y),
        _ if is(&a, 0.0) => num(0.0),
        _ if is(&b, 1.0) => a,
        _ => Expr::Div(Box::new(a), Box::new(b)),
    }
}

/// `−a`, simplified.
pub(crate) fn neg(a: Expr) -> Expr {
    match a {
        Expr::Num(x) => num(-x),
        Expr::Neg(inner) => *inner,
        other => Expr::Neg(Box::new(other)),
    }
}

fn pow(a: Expr, p: f64) -> Expr {
    match a {
        _ if p == 0.0 => num(1.0),
        _ if p == 1.0 => a,
        Expr::Num(x) => num(x.powf(p)),
        other => Expr::Pow(Box::new(other), p),
    }
}

fn call(f: Func, a: Expr) -> Expr {
    Expr::Call(f, Box::new(a))
}

/// Whether `e` depends on parameter `p`.
fn depends(e: &Expr, p: usize) -> bool {
    match e {
        Expr::Num(_) | Expr::Column(_) => false,
        Expr::Param(k) => *k == p,
        Expr::Neg(a) | Expr::Pow(a, _) | Expr::Call(_, a) => depends(a, p),
        Expr::Add(a, b)
        | Expr::Sub(a, b)
        | Expr::Mul(a, b)
        | Expr::Div(a, b)
        | Expr::PowE(a, b) => depends(a, p) || depends(b, p),
    }
}

fn d(e: &Expr, p: usize, steps: &mut Vec<(Expr, &'static str, Expr)>) -> Result<Expr, String> {
    if !depends(e, p) {
        return Ok(num(0.0));
    }
    let (rule, out) = match e {
        Expr::Num(_) | Expr::Column(_) => return Ok(num(0.0)),
        Expr::Param(_) => return Ok(num(1.0)),
        Expr::Neg(a) => ("negation", neg(d(a, p, steps)?)),
        Expr::Add(a, b) => ("sum rule", add(d(a, p, steps)?, d(b, p, steps)?)),
        Expr::Sub(a, b) => ("difference rule", sub(d(a, p, steps)?, d(b, p, steps)?)),
        Expr::Mul(a, b) => {
            let (da, db) = (d(a, p, steps)?, d(b, p, steps)?);
            let rule = if is(&da, 0.0) || is(&db, 0.0) {
                "constant factor"
            } else {
                "product rule"
            };
            (rule, add(mul(da, (**b).clone()), mul((**a).clone(), db)))
        }
        Expr::Div(a, b) => {
            let (da, db) = (d(a, p, steps)?, d(b, p, steps)?);
            if is(&db, 0.0) {
                ("constant divisor", div(da, (**b).clone()))
            } else {
                // (a/b)' = a'/b − a·b'/b²
                let first = div(da, (**b).clone());
                let second = div(mul((**a).clone(), db), pow((**b).clone(), 2.0));
                ("quotient rule", sub(first, second))
            }
        }
        Expr::Pow(a, k) => {
            let da = d(a, p, steps)?;
            (
                "power rule",
                mul(mul(num(*k), pow((**a).clone(), k - 1.0)), da),
            )
        }
        Expr::PowE(a, b) => {
            // (a^b)' = a^b·(b'·ln a + b·a'/a)
            let (da, db) = (d(a, p, steps)?, d(b, p, steps)?);
            let inner = add(
                mul(db, call(Func::Ln, (**a).clone())),
                div(mul((**b).clone(), da), (**a).clone()),
            );
            ("general power rule", mul(e.clone(), inner))
        }
        Expr::Call(f, a) => {
            let da = d(a, p, steps)?;
            let u = (**a).clone();
            let outer = match f {
                Func::Exp => e.clone(),
                Func::Ln => div(num(1.0), u),
                Func::Sqrt => div(num(1.0), mul(num(2.0), e.clone())),
                Func::Abs => div(u, e.clone()),
                Func::Tanh => sub(num(1.0), pow(e.clone(), 2.0)),
                Func::Sigmoid => mul(e.clone(), sub(num(1.0), e.clone())),
                Func::Square => mul(num(2.0), u),
                Func::Sin => call(Func::Cos, u),
                Func::Cos => neg(call(Func::Sin, u)),
                Func::Tan => div(num(1.0), pow(call(Func::Cos, u), 2.0)),
                Func::Atan => div(num(1.0), add(num(1.0), pow(u, 2.0))),
                Func::Asin => div(num(1.0), call(Func::Sqrt, sub(num(1.0), pow(u, 2.0)))),
                Func::Acos => neg(div(num(1.0), call(Func::Sqrt, sub(num(1.0), pow(u, 2.0))))),
                Func::Sinh => call(Func::Cosh, u),
                Func::Cosh => call(Func::Sinh, u),
                Func::Log10 => div(num(1.0), mul(u, call(Func::Ln, num(10.0)))),
                Func::Log2 => div(num(1.0), mul(u, call(Func::Ln, num(2.0)))),
                Func::Exp2 => mul(e.clone(), call(Func::Ln, num(2.0))),
                Func::Relu => {
                    return Err(
                        "relu has no derivative expression (its slope jumps at 0): derive formulas without it".into(),
                    )
                }
            };
            ("chain rule", mul(outer, da))
        }
    };
    steps.push((e.clone(), rule, out.clone()));
    Ok(out)
}

/// How tightly an expression binds, for parentheses: higher binds tighter.
fn prec(e: &Expr) -> u8 {
    match e {
        Expr::Add(..) | Expr::Sub(..) => 1,
        Expr::Mul(..) | Expr::Div(..) => 2,
        Expr::Neg(_) => 3,
        Expr::Num(x) if *x < 0.0 => 3,
        Expr::Pow(..) => 4,
        _ => 5,
    }
}

/// Plain text in the formula syntax (`*`, `/`, `^`, `-`), with only the parentheses the
/// precedence needs.
pub fn to_text(e: &Expr, columns: &[String], params: &[String]) -> String {
    let go = |x: &Expr| to_text(x, columns, params);
    let wrap = |x: &Expr, min: u8| {
        if prec(x) < min {
            format!("({})", go(x))
        } else {
            go(x)
        }
    };
    match e {
        Expr::Num(x) => format!("{x}"),
        Expr::Column(j) => columns[*j].clone(),
        Expr::Param(k) => params[*k].clone(),
        Expr::Neg(a) => format!("-{}", wrap(a, 3)),
        Expr::Add(a, b) => format!("{} + {}", go(a), wrap(b, 2)),
        Expr::Sub(a, b) => format!("{} - {}", go(a), wrap(b, 2)),
        Expr::Mul(a, b) => format!("{}*{}", wrap(a, 2), wrap(b, 3)),
        Expr::Div(a, b) => format!("{}/{}", wrap(a, 2), wrap(b, 3)),
        Expr::Pow(a, k) => format!("{}^{k}", wrap(a, 5)),
        Expr::PowE(a, b) => format!("pow({}, {})", go(a), go(b)),
        Expr::Call(f, a) => format!("{}({})", f.name(), go(a)),
    }
}

/// A name in LaTeX math: one letter as it is, a longer name upright (`\mathrm`).
///
/// ```
/// assert_eq!(model::latex_name("m"), "m");
/// assert_eq!(model::latex_name("rate_1"), "\\mathrm{rate\\_1}");
/// ```
pub fn latex_name(s: &str) -> String {
    if s.chars().count() == 1 {
        s.to_string()
    } else {
        format!("\\mathrm{{{}}}", s.replace('_', "\\_"))
    }
}

/// LaTeX math (no surrounding `$`): `\frac`, `\cdot`, `^{}`, `\left(`…`\right)`.
pub fn to_latex(e: &Expr, columns: &[String], params: &[String]) -> String {
    let go = |x: &Expr| to_latex(x, columns, params);
    let wrap = |x: &Expr, min: u8| {
        if prec(x) < min {
            format!("\\left({}\\right)", go(x))
        } else {
            go(x)
        }
    };
    let name = latex_name;
    match e {
        Expr::Num(x) => format!("{x}"),
        Expr::Column(j) => name(&columns[*j]),
        Expr::Param(k) => name(&params[*k]),
        Expr::Neg(a) => format!("-{}", wrap(a, 3)),
        Expr::Add(a, b) => format!("{} + {}", go(a), wrap(b, 2)),
        Expr::Sub(a, b) => format!("{} - {}", go(a), wrap(b, 2)),
        Expr::Mul(a, b) => format!("{} \\cdot {}", wrap(a, 2), wrap(b, 3)),
        Expr::Div(a, b) => format!("\\frac{{{}}}{{{}}}", go(a), go(b)),
        Expr::Pow(a, k) => format!("{}^{{{k}}}", wrap(a, 5)),
        Expr::PowE(a, b) => format!("{}^{{{}}}", wrap(a, 5), go(b)),
        Expr::Call(f, a) => {
            let inner = go(a);
            match f {
                Func::Sqrt => format!("\\sqrt{{{inner}}}"),
                Func::Abs => format!("\\left|{inner}\\right|"),
                Func::Exp => format!("e^{{{inner}}}"),
                Func::Ln
                | Func::Sin
                | Func::Cos
                | Func::Tan
                | Func::Sinh
                | Func::Cosh
                | Func::Tanh => {
                    format!("\\{}\\left({inner}\\right)", f.name())
                }
                Func::Atan => format!("\\arctan\\left({inner}\\right)"),
                Func::Asin => format!("\\arcsin\\left({inner}\\right)"),
                Func::Acos => format!("\\arccos\\left({inner}\\right)"),
                Func::Log10 => format!("\\log_{{10}}\\left({inner}\\right)"),
                Func::Log2 => format!("\\log_{{2}}\\left({inner}\\right)"),
                Func::Exp2 => format!("2^{{{inner}}}"),
                other => format!("\\mathrm{{{}}}\\left({inner}\\right)", other.name()),
            }
        }
    }
}

/// Printing, here beside the printers, so that the formula does not import them back.
impl Formula {
    /// An expression over this formula's columns and parameters as text, in the formula
    /// syntax (as [`derivative`](crate::derivative) results are printed).
    pub fn show(&self, e: &Expr) -> String {
        let params: Vec<String> = self
            .parameter_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        to_text(e, &self.columns, &params)
    }

    /// [`Formula::show`] as LaTeX math.
    pub fn show_latex(&self, e: &Expr) -> String {
        let params: Vec<String> = self
            .parameter_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        to_latex(e, &self.columns, &params)
    }
}
