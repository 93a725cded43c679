//! `descent graph`: the tape of a model's loss at given parameter values, drawn as an SVG
//! (`Tape::to_svg`): one box per node with its value and its gradient from `backward()`;
//! or, with `--html`, a page to step through the forward and backward passes, with a
//! slider per parameter (`Tape::to_html`); or, with `--listing`, the tape as text.

use super::args::{load, AtPoint};
use super::io::Fail;
use model::*;
use std::io::Write;
use tape::prelude::*;
use tape::Slider;

#[derive(clap::Args, Debug)]
pub(super) struct Graph {
    #[command(flatten)]
    at: AtPoint,
    /// Write the picture here (default: standard output).
    #[arg(long)]
    out: Option<String>,
    /// Write a page to step through instead: the forward pass then the backward pass
    /// node by node, with a slider for each parameter (one HTML file, nothing to fetch).
    #[arg(long, conflicts_with_all = ["out", "listing"])]
    html: Option<String>,
    /// Print the tape as text instead: one line per node, its value and its gradient.
    #[arg(long, conflicts_with = "out")]
    listing: bool,
}

/// Slider positions a side of the recorded value (41 in all, the recorded value in the
/// middle), fewer for a large tape so that the page stays under ~400,000 node frames.
fn slider_points(nodes: usize, sliders: usize) -> usize {
    let budget = 400_000 / nodes.max(1) / sliders.max(1);
    (budget.saturating_sub(1) / 2).clamp(2, 20)
}

/// A slider for every number of every parameter of at most 8 numbers, over the recorded
/// value ± max(|value|, 1).
fn sliders<'t>(tape: &Tape, bound: &Bound<'t>) -> Vec<Slider<'t>> {
    let mut out = Vec::new();
    for (name, v) in bound.names().zip(bound.vars()) {
        let value = v.value();
        if value.numel() > 8 {
            continue;
        }
        for (index, &x) in value.data().iter().enumerate() {
            let name = if value.rank() == 0 {
                name.to_string()
            } else {
                format!("{name}[{index}]")
            };
            out.push(Slider {
                name,
                param: v,
                index,
                values: vec![x],
            });
        }
    }
    let k = slider_points(tape.len(), out.len()) as i32;
    for s in &mut out {
        let x = s.values[0];
        let d = x.abs().max(1.0);
        s.values = (-k..=k)
            .map(|j| x + d * f64::from(j) / f64::from(k))
            .collect();
    }
    out
}

pub(super) fn graph(g: &Graph) -> Result<(), Fail> {
    let tape = Tape::new();
    let (bound, loss, title) = match &g.at.model {
        Some(text) => {
            let (f, data) = super::fit::load_formula(&g.at.data, text)?;
            let f = super::fit::parse_init_formula(g.at.init.as_deref().unwrap_or("ones"), f)?;
            let bound = Bound::new(&tape, f.named_parameters());
            let loss = objective(&f, &bound, &data, 0.0, 0.0);
            (bound, loss, text.clone())
        }
        None => {
            let data = load(&g.at.data)?;
            let lin = super::fit::parse_init_linear(
                g.at.init.as_deref().unwrap_or("zeros"),
                data.dim(),
                true,
            )?;
            let bound = Bound::new(&tape, lin.named_parameters());
            let loss = objective(&lin, &bound, &data, 0.0, 0.0);
            (bound, loss, "the linear model".to_string())
        }
    };
    let title = format!("MSE of {title} on {}", super::io::display(&g.at.data.file));
    if let Some(path) = &g.html {
        let page = tape.to_html(loss, &sliders(&tape, &bound), &title);
        return super::io::write_atomic(path, page.as_bytes(), &[&g.at.data.file])
            .map_err(|e| Fail::from(format!("--html {e}")));
    }
    let grads = loss.backward();
    let text = if g.listing {
        format!("{grads}")
    } else {
        tape.to_svg(Some(&grads))
    };
    match &g.out {
        Some(path) => super::io::write_atomic(path, text.as_bytes(), &[&g.at.data.file])
            .map_err(|e| Fail::from(format!("--out {e}"))),
        None => {
            if let Err(e) = std::io::stdout().write_all(text.as_bytes()) {
                super::io::write_failed(&e);
            }
            Ok(())
        }
    }
}
