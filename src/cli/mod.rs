//! The `descent` command line. Every error on user input is one line on stderr and exit
//! status 2; nothing here panics on user input.

/// `println!` for the program's results: a closed standard output ends the run quietly
/// with status 0 (as `head`-style pipelines expect); any other write error is one line
/// on stderr and status 1. Never a panic.
macro_rules! out {
    () => {
        $crate::cli::io::emit(format_args!(""))
    };
    ($($t:tt)*) => {
        $crate::cli::io::emit(format_args!($($t)*))
    };
}

mod args;
mod check;
mod demo;
mod derive;
mod fit;
mod graph;
mod io;
mod plot;
mod predict;
mod sweep;

use clap::{Parser, Subcommand};
use io::Fail;

#[derive(Parser, Debug)]
#[command(
    name = "descent",
    version,
    about = "Linear regression by gradient descent, with every gradient from a reverse-mode autodiff tape",
    after_help = "With no command, runs the demo on generated hours-studied data and writes its pictures.\n\n\
Exit status: 0 success; 1 the output could not be written (a full disk); 2 bad input or options (one line on stderr naming what and where); \
3 the fit did not converge (no result table is printed); 4 a numerical failure: a NaN or \
infinite loss, parameter or statistic (training diverged, or the data overflow), with the \
place it came from. A closed standard output ends the run quietly with status 0."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Where the demo writes its pictures (a folder it made, or a fresh one beside it).
    #[arg(long, default_value = "descent-plots")]
    plot: String,
    /// Let the demo write into --plot as it is, replacing its pictures there.
    #[arg(long)]
    force: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fit a model by gradient descent: y = Xw + b over the features, or any --model
    /// formula; the closed form, standard errors and metrics beside it.
    Fit(fit::Fit),
    /// Predictions of a model saved with `fit --save`, for the rows of a CSV file.
    Predict(predict::Predict),
    /// The gradient at the starting point four ways: by hand, reverse mode, forward mode,
    /// central differences.
    Check(check::Check),
    /// Train at several learning rates: which converge, which crawl, which diverge.
    Sweep(sweep::Sweep),
    /// The hand derivation: each partial of the loss as an expression (the chain rule on
    /// the formula's tree), evaluated on the data beside backward().
    Derive(derive::Derive),
    /// The tape of the loss drawn as an SVG: one box per node, its value and gradient.
    Graph(graph::Graph),
}

/// Runs the program with the process's arguments; returns the exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        None => demo::demo(&cli.plot, cli.force).map_err(Fail::from),
        Some(Command::Fit(f)) => fit::fit(&f),
        Some(Command::Predict(p)) => predict::predict(&p).map_err(Fail::from),
        Some(Command::Check(c)) => check::check(&c).map_err(Fail::from),
        Some(Command::Sweep(s)) => sweep::sweep(&s).map_err(Fail::from),
        Some(Command::Derive(d)) => derive::derive(&d),
        Some(Command::Graph(g)) => graph::graph(&g),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("descent: {}", e.message);
            e.status
        }
    }
}
