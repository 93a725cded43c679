//! The `descent` command line. Every error on user input is one line on stderr and exit
//! status 2; nothing here panics on user input.

/// `println!` for the program's results: a closed standard output ends the run quietly
/// with status 0 (as `head`-style pipelines expect); any other write error is one line
/// on stderr and status 1. Never a panic.
macro_rules! out {
    () => {
        $crate::cli::emit(format_args!(""))
    };
    ($($t:tt)*) => {
        $crate::cli::emit(format_args!($($t)*))
    };
}

mod check;
mod demo;
mod derive;
mod fit;
mod graph;
mod plot;
mod predict;
mod sweep;

use clap::{Parser, Subcommand, ValueEnum};
use model::*;

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

/// A model at a point: what `derive` and `graph` read.
#[derive(clap::Args, Debug)]
struct AtPoint {
    #[command(flatten)]
    data: Data,
    /// The model as a formula (default: the linear model over the features).
    #[arg(long)]
    model: Option<String>,
    /// Where to evaluate: name=value pairs (default: zeros for the linear model, ones for
    /// a formula's parameters).
    #[arg(long, allow_hyphen_values = true)]
    init: Option<String>,
}

/// The data options shared by `fit`, `check` and `sweep`.
#[derive(clap::Args, Debug, Clone)]
struct Data {
    /// The CSV file.
    file: String,
    /// The column to predict (name or 0-based index).
    #[arg(long)]
    target: Option<String>,
    /// Predictor columns (default: every other column).
    #[arg(long, value_delimiter = ',')]
    features: Option<Vec<String>>,
    /// What to do with missing values.
    #[arg(long, value_enum, default_value_t = MissingArg::Error)]
    missing: MissingArg,
    /// Standardise features (fitted on the training split); coefficients are reported in
    /// the original units.
    #[arg(long)]
    standardize: bool,
    /// Print one JSON document at full precision instead of tables.
    #[arg(long)]
    json: bool,
    /// The field delimiter: comma, semicolon, tab, pipe, or one character (default:
    /// detected from the first line).
    #[arg(long)]
    delimiter: Option<String>,
    /// The reference level of a text (categorical) column, as column=level (default: the
    /// first level in sorted order, as statsmodels and R choose).
    #[arg(long, value_delimiter = ',')]
    reference: Vec<String>,
}

impl Data {
    /// `--delimiter` as a byte: a named one, or one ASCII character other than a quote or
    /// a line end; `None` to detect it.
    fn delimiter(&self) -> Result<Option<u8>, String> {
        Ok(match self.delimiter.as_deref() {
            None => None,
            Some("comma") => Some(b','),
            Some("semicolon") => Some(b';'),
            Some("tab" | "\\t") => Some(b'\t'),
            Some("pipe") => Some(b'|'),
            Some(o) if o.len() == 1 && o.is_ascii() && o != "\"" && o != "\n" => {
                Some(o.as_bytes()[0])
            }
            Some(o) => {
                return Err(format!(
                "--delimiter: give comma, semicolon, tab, pipe or one ASCII character, got '{}'",
                short(o)
            ))
            }
        })
    }
}

/// User text for a message: at most 60 characters, marked where cut.
fn short(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// The input as a reader: a file, or standard input for `-`.
fn open(file: &str) -> Result<Box<dyn std::io::Read>, String> {
    if file == "-" {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    std::fs::File::open(file)
        .map(|f| Box::new(f) as Box<dyn std::io::Read>)
        .map_err(|e| format!("cannot read {file}: {e}"))
}

/// How messages name an input.
fn display(file: &str) -> &str {
    if file == "-" {
        "<stdin>"
    } else {
        file
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum MissingArg {
    Error,
    Drop,
    Ffill,
    Mean,
}

impl From<MissingArg> for Missing {
    fn from(m: MissingArg) -> Missing {
        match m {
            MissingArg::Error => Missing::Error,
            MissingArg::Drop => Missing::Drop,
            MissingArg::Ffill => Missing::ForwardFill,
            MissingArg::Mean => Missing::Mean,
        }
    }
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

/// Writes one line of results to standard output (see `out!`).
pub(crate) fn emit(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_fmt(args).and_then(|()| o.write_all(b"\n")) {
        write_failed(&e);
    }
}

/// Ends the process after a failed write to standard output.
pub(crate) fn write_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("descent: cannot write the output: {e}");
    std::process::exit(1);
}

/// Writes `bytes` to `path` so that a reader sees the old file or the new one, whole:
/// into a temporary file in the same folder, flushed to disk, then renamed into place. A
/// path that is one of `inputs` (the same file by any name) is refused, so a user's data
/// is never overwritten by a result.
pub(crate) fn write_atomic(path: &str, bytes: &[u8], inputs: &[&str]) -> Result<(), String> {
    use std::io::Write;
    let target = std::path::Path::new(path);
    for input in inputs {
        let same = match (std::fs::canonicalize(target), std::fs::canonicalize(input)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            return Err(format!(
                "{path} is also an input ({input}): refusing to overwrite it; write to another file"
            ));
        }
    }
    let Some(name) = target.file_name() else {
        return Err(format!("{path}: not a file name"));
    };
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, target));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(|e| format!("{path}: {e}"))
}

/// Why a command failed, with the exit status `--help` documents for it.
#[derive(Debug)]
pub(crate) struct Fail {
    pub status: i32,
    pub message: String,
}

impl Fail {
    /// Bad input or options: status 2.
    pub fn input(message: impl Into<String>) -> Fail {
        Fail {
            status: 2,
            message: message.into(),
        }
    }
    /// The fit did not converge: status 3.
    pub fn not_converged(message: impl Into<String>) -> Fail {
        Fail {
            status: 3,
            message: message.into(),
        }
    }
    /// A NaN or infinity: status 4.
    pub fn numerical(message: impl Into<String>) -> Fail {
        Fail {
            status: 4,
            message: message.into(),
        }
    }
}

impl From<String> for Fail {
    fn from(message: String) -> Fail {
        Fail::input(message)
    }
}

impl From<&str> for Fail {
    fn from(message: &str) -> Fail {
        Fail::input(message)
    }
}

/// The file's bytes, or an error naming it.
fn read(file: &str) -> Result<Vec<u8>, String> {
    std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))
}

impl Data {
    /// `--reference` as (column, level) pairs.
    fn references(&self) -> Result<Vec<(String, String)>, String> {
        self.reference
            .iter()
            .map(|r| {
                r.split_once('=')
                    .map(|(c, l)| (c.trim().to_string(), l.trim().to_string()))
                    .ok_or_else(|| format!("--reference: '{}' is not column=level", short(r)))
            })
            .collect()
    }
}

/// The dataset for `--target` and `--features`.
fn load(d: &Data) -> Result<Dataset, String> {
    let Some(target) = &d.target else {
        return Err("give the column to predict with --target COLUMN".into());
    };
    let opts = CsvOptions {
        header: None,
        target: target.as_str().into(),
        features: d
            .features
            .as_ref()
            .map(|f| f.iter().map(|s| s.as_str().into()).collect()),
        missing: d.missing.into(),
        delimiter: d.delimiter()?,
        categorical: true,
        reference: d.references()?,
    };
    let data =
        parse_csv_from(open(&d.file)?, display(&d.file), &opts).map_err(|e| e.to_string())?;
    check_names(&d.file, &data.target, &data.features)?;
    Ok(data)
}

/// Refuses column names that would make a saved model ambiguous: a name used twice
/// among the features and the target, or a feature named `(intercept)`.
fn check_names(file: &str, target: &str, features: &[String]) -> Result<(), String> {
    let mut seen: Vec<&str> = vec![target];
    for f in features {
        if f == model::INTERCEPT {
            return Err(format!(
                "{file}: a feature column is named '(intercept)', the name of the model's constant term: rename it"
            ));
        }
        if seen.contains(&f.as_str()) {
            return Err(format!(
                "{file}: the column name '{f}' is used twice among the target and features: names must be unique (rename one, or pick columns with --features)"
            ));
        }
        seen.push(f);
    }
    Ok(())
}

/// Standardised when asked: `check` and `sweep` work on the whole file.
fn load_prepared(d: &Data) -> Result<Dataset, String> {
    let raw = load(d)?;
    Ok(if d.standardize {
        Standardizer::fit(&raw.x).apply(&raw)
    } else {
        raw
    })
}

/// A number for JSON: `null` for NaN and infinities, which JSON cannot hold.
fn num(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}
