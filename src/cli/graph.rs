//! `descent graph`: the tape of a model's loss at given parameter values, drawn as an SVG
//! (`Tape::to_svg`): one box per node with its value and its gradient from `backward()`.

use super::args::{load, AtPoint};
use super::io::Fail;
use model::*;
use std::io::Write;
use tape::prelude::*;

#[derive(clap::Args, Debug)]
pub(super) struct Graph {
    #[command(flatten)]
    at: AtPoint,
    /// Write the picture here (default: standard output).
    #[arg(long)]
    out: Option<String>,
}

pub(super) fn graph(g: &Graph) -> Result<(), Fail> {
    let tape = Tape::new();
    let svg = match &g.at.model {
        Some(text) => {
            let (f, data) = super::fit::load_formula(&g.at.data, text)?;
            let f = super::fit::parse_init_formula(g.at.init.as_deref().unwrap_or("ones"), f)?;
            let bound = Bound::new(&tape, f.named_parameters());
            let grads = objective(&f, &bound, &data, 0.0, 0.0).backward();
            tape.to_svg(Some(&grads))
        }
        None => {
            let data = load(&g.at.data)?;
            let lin = super::fit::parse_init_linear(
                g.at.init.as_deref().unwrap_or("zeros"),
                data.dim(),
                true,
            )?;
            let bound = Bound::new(&tape, lin.named_parameters());
            let grads = objective(&lin, &bound, &data, 0.0, 0.0).backward();
            tape.to_svg(Some(&grads))
        }
    };
    match &g.out {
        Some(path) => super::io::write_atomic(path, svg.as_bytes(), &[&g.at.data.file])
            .map_err(|e| Fail::from(format!("--out {e}"))),
        None => {
            if let Err(e) = std::io::stdout().write_all(svg.as_bytes()) {
                super::io::write_failed(&e);
            }
            Ok(())
        }
    }
}
