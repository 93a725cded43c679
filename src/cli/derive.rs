//! `descent derive`: the hand derivation written out. For the mean squared error
//! L = (1/n)·Σ(f − y)², each partial ∂L/∂p = (2/n)·Σ(f − y)·∂f/∂p with ∂f/∂p differentiated
//! symbolically from the formula's tree (`model::derivative`), or the textbook forms for
//! the linear model; then evaluated on the data and printed beside `backward()`, and the
//! run fails (status 4) if the two disagree by more than 1e-10.

use super::args::{load, AtPoint};
use super::io::Fail;
use model::*;
use tape::prelude::*;

#[derive(clap::Args, Debug)]
pub(super) struct Derive {
    #[command(flatten)]
    at: AtPoint,
    /// Show the chain rule node by node.
    #[arg(long)]
    steps: bool,
    /// Write the derivatives as LaTeX.
    #[arg(long)]
    latex: bool,
}

/// Agreement required between the derivation and the tape.
const TOLERANCE: f64 = 1e-10;

fn agree(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= TOLERANCE * a.abs().max(b.abs()).max(f64::MIN_POSITIVE)
}

/// The comparison table, and a failure if any row disagrees.
fn compare(rows: &[(String, f64, f64)]) -> Result<(), Fail> {
    out!(
        "\n{:<14} {:>22} {:>22} {:>20}",
        "parameter",
        "by the derivation",
        "by backward()",
        "relative difference"
    );
    for (name, hand, tape) in rows {
        // Differences below 1e-15 are rounding in the last bits: shown as such, not as
        // digits that depend on the order of the sums.
        let rel = (hand - tape).abs() / hand.abs().max(tape.abs()).max(f64::MIN_POSITIVE);
        let shown = if rel < 1e-15 {
            "< 1e-15".to_string()
        } else {
            tape::fmt_g(rel)
        };
        out!(
            "{name:<14} {:>22} {:>22} {shown:>20}",
            tape::fmt_g(*hand),
            tape::fmt_g(*tape),
        );
    }
    if let Some((name, hand, tape)) = rows.iter().find(|(_, h, t)| !agree(*h, *t)) {
        return Err(Fail::numerical(format!(
            "the derivation and backward() disagree on {name}: {hand} against {tape}"
        )));
    }
    out!("\nthey agree to {TOLERANCE:e} (relative)");
    Ok(())
}

pub(super) fn derive(d: &Derive) -> Result<(), Fail> {
    match &d.at.model {
        Some(text) => formula(d, text),
        None => linear(d),
    }
}

fn formula(d: &Derive, text: &str) -> Result<(), Fail> {
    let (f, data) = super::fit::load_formula(&d.at.data, text)?;
    let f = super::fit::parse_init_formula(d.at.init.as_deref().unwrap_or("ones"), f)?;
    let names: Vec<String> = f.parameter_names().iter().map(|s| s.to_string()).collect();
    let partials: Vec<Derivation> = (0..names.len())
        .map(|p| derivative(f.expr(), p))
        .collect::<Result<_, _>>()
        .map_err(Fail::input)?;
    let target = f.target_label();
    let n = data.len();
    let model = f.show(f.expr());
    if d.latex {
        out!("% L = \\frac{{1}}{{n}} \\sum_{{i=1}}^{{n}} (f_i - y_i)^2, n = {n}");
        out!("f = {}", f.show_latex(f.expr()));
        for (name, p) in names.iter().zip(&partials) {
            let factor = f.show_latex(&p.result);
            let times = if factor == "1" {
                String::new()
            } else {
                format!(" \\cdot \\left({factor}\\right)")
            };
            out!(
                "\\frac{{\\partial L}}{{\\partial {}}} = \\frac{{2}}{{n}} \\sum_{{i=1}}^{{n}} \\left({} - {}\\right){times}",
                latex_name(name),
                f.show_latex(f.expr()),
                latex_name(&target),
            );
        }
    } else {
        out!("L = (1/n) * sum((f - {target})^2) over the n = {n} rows, f = {model}");
        for (name, p) in names.iter().zip(&partials) {
            let factor = f.show(&p.result);
            if factor == "1" {
                out!("dL/d{name} = (2/n) * sum({model} - {target})");
            } else {
                out!(
                    "dL/d{name} = (2/n) * sum(({model} - {target}) * {})",
                    wrap(&factor)
                );
            }
            if d.steps {
                for (node, rule, result) in &p.steps {
                    out!(
                        "    d/d{name} [{}] = {}   ({rule})",
                        f.show(node),
                        f.show(result)
                    );
                }
            }
        }
    }
    // Evaluated on the data at the given values, and by the tape.
    let values = f.values();
    let d_cols = data.dim();
    let x = data.x.data();
    let y = data.y.data();
    let hand: Vec<f64> = partials
        .iter()
        .map(|p| {
            let mut s = 0.0;
            for i in 0..n {
                let row = &x[i * d_cols..(i + 1) * d_cols];
                let fi = f.expr().eval::<f64>(row, &values, &|v| v);
                s += (fi - y[i]) * p.result.eval::<f64>(row, &values, &|v| v);
            }
            2.0 * s / n as f64
        })
        .collect();
    let tape = Tape::new();
    let bound = Bound::new(&tape, f.named_parameters());
    let grads = objective(&f, &bound, &data, 0.0, 0.0).backward();
    let at: Vec<String> = names
        .iter()
        .zip(&values)
        .map(|(n, v)| format!("{n} = {}", tape::fmt_g(*v)))
        .collect();
    out!("\nat {}:", at.join(", "));
    let rows: Vec<(String, f64, f64)> = names
        .iter()
        .zip(&hand)
        .map(|(name, h)| {
            let v = bound.get(name).expect("a parameter of the formula");
            (name.clone(), *h, grads.get(v).item())
        })
        .collect();
    compare(&rows)
}

/// A sum's term in parentheses when it is more than one factor.
fn wrap(text: &str) -> String {
    if text.contains(' ') {
        format!("({text})")
    } else {
        text.to_string()
    }
}

fn linear(d: &Derive) -> Result<(), Fail> {
    let data = load(&d.at.data)?;
    let (n, k) = (data.len(), data.dim());
    let lin = super::fit::parse_init_linear(d.at.init.as_deref().unwrap_or("zeros"), k, true)?;
    if d.latex {
        out!("% L = \\frac{{1}}{{n}} \\lVert Xw + b - y \\rVert^2, n = {n}");
        out!("\\frac{{\\partial L}}{{\\partial w}} = \\frac{{2}}{{n}} X^\\top \\left(Xw + b - y\\right)");
        out!("\\frac{{\\partial L}}{{\\partial b}} = \\frac{{2}}{{n}} \\sum_{{i=1}}^{{n}} \\left(x_i^\\top w + b - y_i\\right)");
    } else {
        out!(
            "L = (1/n) * |Xw + b - y|^2 over the n = {n} rows, X the columns {}",
            data.features.join(", ")
        );
        out!("dL/dw = (2/n) * X^T (Xw + b - y)");
        out!("dL/db = (2/n) * sum(Xw + b - y)");
        if d.steps {
            out!("    r = Xw + b - y; L = (1/n) * r^T r");
            out!("    dL/dr = (2/n) * r                      (power rule, summed)");
            out!("    dL/dw = X^T dL/dr, dL/db = sum(dL/dr)   (chain rule through r = Xw + b - y)");
        }
    }
    let (w, b) = (lin.weights(), lin.bias());
    let x = data.x.data();
    let y = data.y.data();
    let r: Vec<f64> = (0..n)
        .map(|i| {
            x[i * k..(i + 1) * k]
                .iter()
                .zip(&w)
                .map(|(a, c)| a * c)
                .sum::<f64>()
                + b
                - y[i]
        })
        .collect();
    let scale = 2.0 / n as f64;
    let mut hand: Vec<f64> = (0..k)
        .map(|j| scale * (0..n).map(|i| x[i * k + j] * r[i]).sum::<f64>())
        .collect();
    hand.push(scale * r.iter().sum::<f64>());
    let tape = Tape::new();
    let bound = Bound::new(&tape, lin.named_parameters());
    let grads = objective(&lin, &bound, &data, 0.0, 0.0).backward();
    let gw = grads.get(bound.get("weight").expect("weights")).to_vec();
    let gb = grads.get(bound.get("bias").expect("a bias")).item();
    let mut names: Vec<String> = data.features.iter().map(|f| format!("w[{f}]")).collect();
    names.push("b".into());
    let taped: Vec<f64> = gw.into_iter().chain([gb]).collect();
    let at: Vec<String> = names
        .iter()
        .zip(w.iter().chain([&b]))
        .map(|(n, v)| format!("{n} = {}", tape::fmt_g(*v)))
        .collect();
    out!("\nat {}:", at.join(", "));
    let rows: Vec<(String, f64, f64)> = names
        .into_iter()
        .zip(hand)
        .zip(taped)
        .map(|((n, h), t)| (n, h, t))
        .collect();
    compare(&rows)
}
