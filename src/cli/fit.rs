//! `descent fit`: the exact solution (least squares by refined, pivoted QR, with the
//! report of R's `summary(lm)` and statsmodels; or the exact ridge, lasso or elastic-net
//! minimiser) beside gradient descent's path to it, with the distance of each descent
//! coefficient from the solution; metrics per split, pictures and a saved model. Every
//! figure is computed where the report says: statistics at the solution.

use super::args::Data;
use super::io::{num, Fail};
use super::plot;

mod pictures;
mod stream;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use model::*;
use serde_json::json;
use std::io::IsTerminal;
use std::time::Instant;
use tape::prelude::*;

#[derive(clap::Args, Debug)]
pub(super) struct Fit {
    #[command(flatten)]
    data: Data,
    /// The model as a formula over the CSV's columns and named parameters, such as
    /// 'score = m*hours + b' or 'y = a*exp(k*x) + c' (default: the linear model over the
    /// features).
    #[arg(long)]
    model: Option<String>,
    /// Learning rate (default: from the Hessian's eigenvalues; see the README).
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Iterations (updates) of gradient descent (default 1000), or the most evaluations
    /// of the residuals for lm and gauss-newton (default 2000).
    #[arg(long)]
    iters: Option<usize>,
    /// Gradient descent (full batch) stops when one update changes the loss and every
    /// parameter by at most this, relative to their size (default 1e-10; 0 runs every
    /// iteration); lm and gauss-newton use it as MINPACK's ftol and xtol (default 1e-15).
    #[arg(long)]
    tol: Option<f64>,
    /// Fit the linear model without an intercept (through the origin); R² is then
    /// uncentred, as R and NIST report it.
    #[arg(long)]
    no_intercept: bool,
    /// Standard errors: classical, or heteroskedasticity-robust (White's HC0 and its
    /// HC1-HC3 corrections, as statsmodels' cov_type).
    #[arg(long, value_enum, default_value_t = SeArg::Nonrobust)]
    se: SeArg,
    /// Epochs (instead of --iters).
    #[arg(long)]
    epochs: Option<usize>,
    /// Rows per update (default: all).
    #[arg(long)]
    batch_size: Option<usize>,
    /// The optimizer (default: lm for a --model formula, sgd for the linear model).
    #[arg(long, value_enum)]
    optimizer: Option<OptArg>,
    /// zeros, ones, uniform, normal, or explicit values: for the linear model the weights
    /// in feature order then the bias (0.9,0.1 or m=0.9,b=0.1; default zeros); for a
    /// formula by parameter name (a=1,k=0.1; the others start at 1, as nls needs starts).
    #[arg(long)]
    init: Option<String>,
    /// Ridge penalty λ·Σw² (intercepts are not penalised).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    l2: f64,
    /// Lasso penalty λ·Σ|w|.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    l1: f64,
    /// Train/valid/test fractions, in row order unless --shuffle.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1",
        allow_hyphen_values = true
    )]
    split: Vec<f64>,
    #[arg(long)]
    shuffle: bool,
    /// Seed of the shuffle (any integer, negative too).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: i64,
    /// Print the loss every this many iterations.
    #[arg(long, default_value_t = 0)]
    log_every: usize,
    /// Save the fitted model as JSON, for `descent predict`.
    #[arg(long)]
    save: Option<String>,
    /// Write pictures (SVG) into this directory.
    #[arg(long)]
    plot: Option<String>,
    /// Replace pictures that already exist in the --plot folder.
    #[arg(long)]
    force: bool,
    /// Read the file once in batches and never hold it (files larger than memory): the
    /// least-squares solution by TSQR with its classical report, and gradient descent's
    /// full-batch steps from the rows' sufficient statistics.
    #[arg(long)]
    stream: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OptArg {
    /// Plain gradient descent (alias: gd).
    #[value(alias = "gd")]
    Sgd,
    Momentum,
    Adam,
    /// Levenberg-Marquardt (MINPACK's lmder), for formulas.
    #[value(alias = "levenberg-marquardt")]
    Lm,
    /// Damped Gauss-Newton (R's nls default), for formulas.
    #[value(alias = "gn")]
    GaussNewton,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SeArg {
    Nonrobust,
    Hc0,
    Hc1,
    Hc2,
    Hc3,
}

impl From<SeArg> for CovType {
    fn from(s: SeArg) -> CovType {
        match s {
            SeArg::Nonrobust => CovType::Nonrobust,
            SeArg::Hc0 => CovType::HC0,
            SeArg::Hc1 => CovType::HC1,
            SeArg::Hc2 => CovType::HC2,
            SeArg::Hc3 => CovType::HC3,
        }
    }
}

/// A model the program can fit: the linear model (perhaps on standardised features) or a
/// formula.
pub(super) enum Fitted {
    Linear {
        lin: Linear,
        scaler: Option<Standardizer>,
    },
    Formula(Formula),
}

impl Fitted {
    pub(super) fn model(&self) -> &dyn Model {
        match self {
            Fitted::Linear { lin, .. } => lin,
            Fitted::Formula(f) => f,
        }
    }

    fn model_mut(&mut self) -> &mut dyn Model {
        match self {
            Fitted::Linear { lin, .. } => lin,
            Fitted::Formula(f) => f,
        }
    }

    /// Predictions `[n, 1]` for raw (unstandardised) features.
    pub(super) fn predict(&self, x: &Tensor) -> Tensor {
        match self {
            Fitted::Linear { lin, scaler } => match scaler {
                Some(s) => lin.predict(&s.transform(x)),
                None => lin.predict(x),
            },
            Fitted::Formula(f) => f.predict(x),
        }
    }

    /// Names and values of the parameters in the data's own units.
    pub(super) fn coefficients(&self, features: &[String]) -> Vec<(String, f64)> {
        match self {
            Fitted::Linear { lin, scaler } => {
                let (w, b) = match scaler {
                    Some(s) => s.to_original(&lin.weights(), lin.bias()),
                    None => (lin.weights(), lin.bias()),
                };
                let intercept = lin.has_intercept().then(|| (INTERCEPT.to_string(), b));
                features.iter().cloned().zip(w).chain(intercept).collect()
            }
            Fitted::Formula(f) => f
                .parameter_names()
                .iter()
                .map(|s| s.to_string())
                .zip(f.values())
                .collect(),
        }
    }
}

fn check_options(f: &Fit) -> Result<(), String> {
    f.data.delimiter()?;
    if f.split.iter().any(|x| x.is_nan() || *x <= 0.0) || f.split.len() > 3 {
        return Err("--split: give one to three positive fractions, such as 0.7,0.15,0.15".into());
    }
    if let Some(lr) = f.lr {
        if lr.is_nan() || lr <= 0.0 || lr.is_infinite() {
            return Err(format!("--lr must be a positive number, got {lr}"));
        }
    }
    if f.l2.is_nan() || f.l1.is_nan() || f.l2 < 0.0 || f.l1 < 0.0 {
        return Err(format!(
            "--l2 and --l1 must be zero or positive, got {} and {}",
            f.l2, f.l1
        ));
    }
    if let Some(tol) = f.tol.filter(|t| t.is_nan() || *t < 0.0) {
        return Err(format!("--tol must be zero or positive, got {tol}"));
    }
    if matches!(f.optimizer, Some(OptArg::Lm | OptArg::GaussNewton)) {
        if f.model.is_none() {
            return Err("--optimizer lm and gauss-newton fit formulas (--model); the linear model's least-squares solution is computed exactly beside gradient descent".into());
        }
        if f.l1 > 0.0
            || f.l2 > 0.0
            || f.batch_size.is_some()
            || f.epochs.is_some()
            || f.lr.is_some()
        {
            return Err("--optimizer lm and gauss-newton take no --lr, --l1, --l2, --batch-size or --epochs".into());
        }
    }
    if f.no_intercept && f.data.standardize {
        return Err("--standardize centres the features, which needs an intercept: drop --no-intercept, or scale the columns yourself".into());
    }
    if f.no_intercept && f.model.is_some() {
        return Err("--no-intercept applies to the linear model; a formula without a constant term has none".into());
    }
    if f.se != SeArg::Nonrobust && (f.l1 > 0.0 || f.l2 > 0.0) {
        return Err("--se: penalised fits have no standard errors".into());
    }
    if f.batch_size == Some(0) {
        return Err("--batch-size must be at least 1".into());
    }
    if f.model.is_some() {
        if f.data.features.is_some() {
            return Err("--features and --model: the formula names the columns it uses".into());
        }
        if f.data.standardize {
            return Err(
                "--standardize applies to the linear model; write any scaling into the --model formula"
                    .into(),
            );
        }
    }
    Ok(())
}

/// Parses `--model` against the file's header and loads the columns it uses, in one
/// pass over the input.
pub(super) fn load_formula(data: &Data, text: &str) -> Result<(Formula, Dataset), String> {
    let file = &data.file;
    let mut parsed: Option<Formula> = None;
    let opts = CsvOptions {
        header: None,
        target: Column::Index(0),
        features: None,
        missing: data.missing.into(),
        delimiter: data.delimiter()?,
        // Text columns are read as levels only when the formula names a level.
        categorical: text.contains("[T."),
        reference: data.references()?,
    };
    let reject = |message: String| DataError::Rejected { message };
    let mut loaded = parse_csv_with(super::io::open(file)?, super::io::display(file), &opts, |columns| {
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        let formula = Formula::parse(text, &names)
            .map_err(|e| reject(format!("--model '{}': {e}", super::io::short(text))))?;
        for used in formula
            .columns()
            .iter()
            .chain([&formula.target().to_string()])
        {
            if names.iter().filter(|n| *n == used).count() > 1 {
                return Err(reject(format!(
                    "{file}: the column name '{used}' appears more than once in the header, so the formula's '{used}' is ambiguous: rename one"
                )));
            }
        }
        if let Some(t) = &data.target {
            if t != formula.target() {
                return Err(reject(format!(
                    "--target {t} but the formula predicts '{}'",
                    formula.target()
                )));
            }
        }
        // A level `color[T.red]` reads its text column `color`, once.
        let mut sources: Vec<String> = Vec::new();
        for c in formula.columns() {
            let source = match dummy_base(c) {
                Some(base) if !names.contains(&c.as_str()) => base.to_string(),
                _ => c.clone(),
            };
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
        let picked = (
            Column::Name(formula.target().to_string()),
            Some(sources.into_iter().map(Column::Name).collect()),
        );
        parsed = Some(formula);
        Ok(picked)
    })
    .map_err(|e| e.to_string())?;
    let formula = parsed.expect("the header was read");
    if !loaded.categories.is_empty() {
        loaded = formula_columns(loaded, &formula, text)?;
    }
    if let Some(func) = formula.target_transform() {
        let y: Vec<f64> = loaded.y.data().iter().map(|v| func.value(*v)).collect();
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "--model '{}': {}({}) of data row {} ({}) is not a finite number",
                super::io::short(text),
                func.name(),
                formula.target(),
                i + 1,
                loaded.y.data()[i]
            ));
        }
        loaded.y = Tensor::new(y, loaded.y.shape());
        loaded.target = formula.target_label();
    }
    Ok((formula, loaded))
}

/// The data's features in the order the formula reads them, from a table whose text
/// columns were dummy-coded: each level the formula names must be one the data have and
/// not the reference; a text column cannot be read as a number.
fn formula_columns(loaded: Dataset, formula: &Formula, text: &str) -> Result<Dataset, String> {
    let model = format!("--model '{}'", super::io::short(text));
    let mut pick = Vec::with_capacity(formula.columns().len());
    for c in formula.columns() {
        if let Some(j) = loaded.features.iter().position(|f| f == c) {
            pick.push(j);
            continue;
        }
        let base = dummy_base(c).unwrap_or(c);
        let Some(cat) = loaded.categories.iter().find(|g| g.column == base) else {
            unreachable!("a formula column not among the features is a text column's level")
        };
        let shown = |l: &String| format!("'{}'", super::io::short(l));
        let levels: Vec<String> = cat.levels.iter().take(8).map(shown).collect();
        return Err(if dummy_base(c).is_none() {
            format!(
                "{model}: column '{base}' holds text (levels {}), not numbers: name a level in the formula, as {base}[T.{}]",
                levels.join(", "),
                cat.levels.iter().find(|l| **l != cat.reference).unwrap_or(&cat.reference)
            )
        } else if c == &format!("{base}[T.{}]", cat.reference) {
            format!(
                "{model}: '{}' is the reference level of '{base}', which has no column of its own (the others are measured from it); choose another with --reference {base}=LEVEL",
                super::io::short(&cat.reference)
            )
        } else {
            format!(
                "{model}: '{base}' has no level '{}' (levels: {})",
                super::io::short(&c[base.len() + 3..c.len() - 1]),
                levels.join(", ")
            )
        });
    }
    let d = loaded.dim();
    let x: Vec<f64> = (0..loaded.len())
        .flat_map(|i| {
            let row = &loaded.x.data()[i * d..(i + 1) * d];
            pick.iter().map(move |&j| row[j])
        })
        .collect();
    Ok(Dataset {
        x: Tensor::new(x, &[loaded.len(), pick.len()]),
        features: formula.columns().to_vec(),
        ..loaded
    })
}

pub(super) fn parse_init_linear(s: &str, d: usize, intercept: bool) -> Result<Linear, String> {
    if !intercept {
        if matches!(s, "zeros" | "uniform" | "normal") {
            return Ok(Linear::without_intercept(
                &parse_init_linear(s, d, true)?.weights(),
            ));
        }
        // d weights: parse them as d weights and a bias of 0.
        let lin = parse_init_linear(&format!("{s},0"), d, true)
            .map_err(|_| format!("--init: without an intercept give {d} weights, got '{s}'"))?;
        return Ok(Linear::without_intercept(&lin.weights()));
    }
    Ok(match s {
        "zeros" => Linear::new(d, 1, Init::Zeros),
        "uniform" => Linear::new(d, 1, Init::Uniform(0)),
        "normal" => Linear::new(d, 1, Init::Normal(0)),
        values => {
            let nums: Vec<f64> = values
                .split(',')
                .map(|kv| {
                    let v = kv.rsplit('=').next().unwrap_or(kv).trim();
                    v.parse::<f64>()
                        .map_err(|_| format!("--init: '{kv}' is not a number or name=number"))
                })
                .collect::<Result<_, _>>()?;
            if nums.len() != d + 1 {
                return Err(format!(
                    "--init: {} values given, the model has {} weights and a bias",
                    nums.len(),
                    d
                ));
            }
            Linear::from_coefficients(&nums[..d], nums[d])
        }
    })
}

pub(super) fn parse_init_formula(s: &str, mut formula: Formula) -> Result<Formula, String> {
    let names: Vec<String> = formula
        .parameter_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    match s {
        "zeros" => {}
        "ones" => {
            for n in &names {
                formula.set(n, 1.0)?;
            }
        }
        "uniform" | "normal" => {
            let names: Vec<String> = formula
                .parameter_names()
                .iter()
                .map(|s| s.to_string())
                .collect();
            let k = names.len();
            let draws = match s {
                "uniform" => Tensor::rand_uniform(&[k], -1.0, 1.0, 0),
                _ => Tensor::randn(&[k], 0),
            };
            for (n, v) in names.iter().zip(draws.data()) {
                formula.set(n, *v)?;
            }
        }
        values => {
            // Parameters not named start at 1.
            for n in &names {
                formula.set(n, 1.0)?;
            }
            for kv in values.split(',') {
                let Some((k, v)) = kv.split_once('=') else {
                    return Err(format!(
                        "--init: '{kv}' is not name=number (a formula's parameters are set by name)"
                    ));
                };
                let v: f64 = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("--init: '{kv}' is not name=number"))?;
                formula
                    .set(k.trim(), v)
                    .map_err(|e| format!("--init: {e}"))?;
            }
        }
    }
    Ok(formula)
}

/// The exact minimiser of the objective gradient descent trains on, in the data's units.
pub(super) struct Reference {
    /// How it was computed.
    pub method: &'static str,
    /// One per coefficient; `None` for a column dropped as a combination of others.
    pub coef: Vec<Option<f64>>,
    /// The OLS report, for unpenalised least squares.
    pub ols: Option<Ols>,
}

impl Reference {
    /// The coefficients, a dropped column's as 0: what predictions use, as R's `predict`.
    fn filled(&self) -> Vec<f64> {
        self.coef.iter().map(|c| c.unwrap_or(0.0)).collect()
    }
}

/// Everything a fit produced, for the report, the JSON, the pictures and the saved model.
pub(super) struct Report {
    pub fitted: Fitted,
    pub formula_text: Option<String>,
    pub target: String,
    pub features: Vec<String>,
    /// Gradient descent's coefficients, in the data's units.
    pub coefficients: Vec<(String, f64)>,
    pub reference: Option<Reference>,
    /// Why there is no exact solution, or what it leaves out.
    pub reference_note: Option<String>,
    /// Standard errors at descent's estimate, for a nonlinear formula that converged.
    pub inference: Option<Result<Inference, String>>,
    /// Per split, at the reference when there is one, else at descent's estimate.
    pub metrics: Vec<(&'static str, Metrics)>,
    pub metrics_at: &'static str,
    /// Descent's own training MSE.
    pub descent_mse: f64,
    /// Per coefficient: descent − reference, and whether it is within the tolerance.
    pub gaps: Vec<Option<(f64, bool)>>,
    pub history: History,
    pub tol: f64,
    /// The parameters after each update, when there are exactly two (for the loss
    /// surface picture).
    pub path: Vec<(f64, f64)>,
    pub lr: f64,
    pub lr_how: &'static str,
    pub optimizer: &'static str,
    /// The solver's account, for lm and gauss-newton.
    pub solved: Option<LmResult>,
    pub curvature: Option<Curvature>,
    pub seconds: f64,
    /// Training rows as the model saw them (standardised when asked), and raw.
    pub train: Dataset,
    pub train_raw: Dataset,
    pub splits_raw: Vec<(&'static str, Dataset)>,
    pub penalised: bool,
}

impl Report {
    /// The exact solution's coefficients (see [`Reference::filled`]), when there is one.
    fn closed(&self) -> Option<Vec<f64>> {
        self.reference.as_ref().map(Reference::filled)
    }

    /// The training MSE at the exact solution: the floor descent approaches (`None` for
    /// penalised fits, whose objective is not the MSE alone).
    pub(super) fn closed_mse(&self) -> Option<f64> {
        let c = self.closed().filter(|_| !self.penalised)?;
        Some(
            metrics(
                &predict_with(&self.fitted, &c, &self.train_raw.x)?,
                &self.train_raw.y,
            )
            .mse,
        )
    }

    /// The iterative method, for sentences.
    fn method(&self) -> &'static str {
        if self.solved.is_some() {
            self.optimizer
        } else {
            "descent"
        }
    }

    /// The iterative method's column heading.
    fn label(&self) -> &'static str {
        match self.solved {
            Some(_) if self.optimizer == "gauss-newton" => "gn",
            Some(_) => "lm",
            None => "descent",
        }
    }

    /// True when descent reached the reference in every coefficient.
    fn reached(&self) -> Option<bool> {
        self.reference.as_ref()?;
        Some(self.gaps.iter().flatten().all(|g| g.1))
    }

    /// The coefficients the report is about: the reference's when it has every one.
    fn reported(&self) -> Vec<(String, f64)> {
        match &self.closed() {
            Some(c) => self
                .coefficients
                .iter()
                .zip(c)
                .map(|((n, _), v)| (n.clone(), *v))
                .collect(),
            None => self.coefficients.clone(),
        }
    }
}

/// Predictions for raw features with the coefficients `c` (in the data's units).
fn predict_with(fitted: &Fitted, c: &[f64], x: &Tensor) -> Option<Tensor> {
    Some(match fitted {
        Fitted::Linear { lin, .. } => {
            let d = x.shape()[1];
            if lin.has_intercept() {
                Linear::from_coefficients(&c[..d], c[d]).predict(x)
            } else {
                Linear::without_intercept(&c[..d]).predict(x)
            }
        }
        Fitted::Formula(f) => {
            let mut f = f.clone();
            let names: Vec<String> = f.parameter_names().iter().map(|s| s.to_string()).collect();
            for (n, v) in names.iter().zip(c) {
                f.set(n, *v).ok()?;
            }
            f.predict(x)
        }
    })
}

pub(super) fn fit(f: &Fit) -> Result<(), Fail> {
    if f.stream {
        return stream::fit_stream(f);
    }
    check_options(f)?;
    let (formula, raw) = match &f.model {
        Some(text) => {
            let (fm, d) = load_formula(&f.data, text)?;
            (Some(fm), d)
        }
        None => (None, super::args::load(&f.data)?),
    };
    let report = run(f, formula, raw)?;
    if let Some(path) = &f.save {
        save(&report, path, &f.data.file)?;
    }
    if let Some(dir) = &f.plot {
        plot::REPLACE.store(f.force, std::sync::atomic::Ordering::Relaxed);
        pictures::fit_pictures(&report, dir)?;
    }
    if f.data.json {
        print_json(&report);
    } else {
        print_report(&report);
        if let Some(path) = &f.save {
            out!("model saved to {path}");
        }
        if let Some(dir) = &f.plot {
            out!("pictures written to {dir}/");
        }
    }
    Ok(())
}

/// The exact solution on the training rows, in the data's units, or why there is none.
/// Designs of at least this many entries are solved in place by `ols_rows`.
const LARGE_DESIGN: usize = 1 << 20;

fn reference(
    f: &Fit,
    fitted: &Fitted,
    raw: &Dataset,
    tr: &Dataset,
    scaler: &Option<Standardizer>,
) -> Result<(Option<Reference>, Option<String>), Fail> {
    let n = raw.len();
    let y = raw.y.data();
    match fitted {
        Fitted::Linear { lin, .. } if f.l1 == 0.0 && f.l2 == 0.0 => {
            let intercept = lin.has_intercept();
            let mut names: Vec<&str> = raw.features.iter().map(String::as_str).collect();
            if intercept {
                names.push(INTERCEPT);
            }
            if n < names.len() {
                return Ok((
                    None,
                    Some(format!(
                        "no least-squares solution: {n} training rows for {} coefficients",
                        names.len()
                    )),
                ));
            }
            // A large design is read in place (TSQR): a column-major copy would double
            // the memory the data take.
            let o = if n * names.len() >= LARGE_DESIGN {
                let rows = Rows {
                    x: raw.x.data(),
                    n,
                    d: raw.dim(),
                    intercept,
                };
                ols_rows(rows, &names, y, f.se.into())
            } else {
                let (x, _, _) = design_columns(raw, 0.0, intercept);
                ols(&x, n, &names, y, f.se.into())
            }
            .map_err(Fail::numerical)?;
            let coef = o.coefficients.iter().map(|c| c.estimate).collect();
            Ok((
                Some(Reference {
                    method: if o.tsqr {
                        "least squares (TSQR, refined by semi-normal equations)"
                    } else {
                        "least squares (pivoted QR, refined)"
                    },
                    coef,
                    ols: Some(o),
                }),
                None,
            ))
        }
        Fitted::Linear { lin, .. } => {
            let intercept = lin.has_intercept();
            let (w, b, method) = if f.l1 == 0.0 {
                let c: Vec<f64> = ridge_lstsq(tr, f.l2, intercept)
                    .coef
                    .iter()
                    .map(|v| v.unwrap_or(0.0))
                    .collect();
                let b = if intercept { c[tr.dim()] } else { 0.0 };
                (c[..tr.dim()].to_vec(), b, "exact ridge minimiser (QR)")
            } else if intercept {
                let ((w, b), _) = elastic_net(tr, f.l1, f.l2);
                let what = if f.l2 > 0.0 {
                    "exact elastic-net minimiser (coordinate descent)"
                } else {
                    "exact lasso minimiser (coordinate descent)"
                };
                (w, b, what)
            } else {
                return Ok((
                    None,
                    Some("no exact lasso minimiser without an intercept".into()),
                ));
            };
            let (w, b) = match scaler {
                Some(s) => s.to_original(&w, b),
                None => (w, b),
            };
            let mut coef: Vec<Option<f64>> = w.into_iter().map(Some).collect();
            if intercept {
                coef.push(Some(b));
            }
            Ok((
                Some(Reference {
                    method,
                    coef,
                    ols: None,
                }),
                None,
            ))
        }
        Fitted::Formula(fm) if f.l1 == 0.0 && f.l2 == 0.0 => match fm.linear_design(raw) {
            Some((j, f0)) => {
                let p = fm.parameter_names().len();
                if n < p {
                    return Ok((None, Some(format!("{n} training rows for {p} parameters"))));
                }
                let cm = column_major(&j, n, p);
                let rhs: Vec<f64> = y.iter().zip(&f0).map(|(y, f)| y - f).collect();
                let names = fm.parameter_names();
                let o = ols(&cm, n, &names, &rhs, f.se.into()).map_err(Fail::numerical)?;
                // R² and F against the target itself, not the offset target y − f(0).
                let o = if f0.iter().any(|v| *v != 0.0) {
                    restate_against(o, y)
                } else {
                    o
                };
                let coef = o.coefficients.iter().map(|c| c.estimate).collect();
                Ok((
                    Some(Reference {
                        method: "least squares (pivoted QR of the formula's Jacobian, refined)",
                        coef,
                        ols: Some(o),
                    }),
                    None,
                ))
            }
            None => Ok((
                None,
                Some("no closed form: the formula is not linear in its parameters".into()),
            )),
        },
        Fitted::Formula(_) => Ok((
            None,
            Some("no exact minimiser for a penalised formula".into()),
        )),
    }
}

/// An OLS fit of `y − f(0)` restated for `y`: the residuals are the same, so only R²
/// (and adjusted R²) change; the F test of the formula's non-constant parameters keeps
/// its meaning.
fn restate_against(mut o: Ols, y: &[f64]) -> Ols {
    let n = y.len() as f64;
    let center = if o.has_constant {
        y.iter().sum::<f64>() / n
    } else {
        0.0
    };
    let tss: f64 = y.iter().map(|v| (v - center) * (v - center)).sum();
    o.r_squared = 1.0 - o.rss / tss;
    let kc = usize::from(o.has_constant);
    o.adj_r_squared = (o.df_resid > 0)
        .then(|| 1.0 - (1.0 - o.r_squared) * (o.nobs - kc) as f64 / o.df_resid as f64);
    o
}

/// MINPACK's `gtol` measure at the model's parameters: the largest `|J_jᵀr| /
/// (‖J_j‖·‖r‖)` over the Jacobian's columns (0 at a stationary point; scale-invariant).
fn gradient_cosine(fitted: &Fitted, data: &Dataset) -> f64 {
    let (n, d) = (data.len(), data.dim());
    let pred = fitted.predict(&data.x);
    let r: Vec<f64> = data
        .y
        .data()
        .iter()
        .zip(pred.data())
        .map(|(y, p)| y - p)
        .collect();
    let rnorm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
    if rnorm == 0.0 {
        return 0.0;
    }
    let columns: Vec<Vec<f64>> = match fitted {
        Fitted::Linear { lin, .. } => {
            let x = data.x.data();
            let mut c: Vec<Vec<f64>> = (0..d)
                .map(|j| (0..n).map(|i| x[i * d + j]).collect())
                .collect();
            if lin.has_intercept() {
                c.push(vec![1.0; n]);
            }
            c
        }
        Fitted::Formula(fm) => {
            let j = fm.jacobian(&data.x);
            let p = fm.parameter_names().len();
            (0..p)
                .map(|k| (0..n).map(|i| j.data()[i * p + k]).collect())
                .collect()
        }
    };
    columns
        .iter()
        .map(|c| {
            let norm = c.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm == 0.0 {
                0.0
            } else {
                (c.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>() / (norm * rnorm)).abs()
            }
        })
        .fold(0.0, f64::max)
}

/// `a=1, k=0.5` for a message.
fn shown(names: &[&str], values: &[f64]) -> String {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}={}", tape::fmt_g(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why the residuals are not finite at a formula's start: the first row where the
/// formula is not, or the Jacobian.
fn not_finite_at_start(fm: &Formula, data: &Dataset) -> String {
    let pred = fm.predict(&data.x);
    let start = shown(&fm.parameter_names(), &fm.values());
    match pred.data().iter().position(|v| !v.is_finite()) {
        Some(i) => {
            let row: Vec<String> = fm
                .columns()
                .iter()
                .zip(data.row(i))
                .map(|(c, v)| format!("{c}={}", tape::fmt_g(*v)))
                .collect();
            format!(
                "the formula is {} at its start values ({start}) on data row {} ({}): give start values with --init",
                pred.data()[i],
                i + 1,
                row.join(", ")
            )
        }
        None => format!(
            "the Jacobian of the formula is not finite at its start values ({start}): give other start values with --init"
        ),
    }
}

/// A note for a failed fit whose Jacobian is singular at the start.
fn singular_start(fm: &Formula, data: &Dataset) -> String {
    let j = fm.jacobian(&data.x);
    let (n, p) = (data.len(), fm.parameter_names().len());
    if j.data().iter().any(|v| !v.is_finite()) || n < p {
        return String::new();
    }
    let cm: Vec<f64> = column_major(j.data(), n, p);
    let s = lstsq(&cm, n, p, &vec![0.0; n]);
    if s.rank == p {
        return String::new();
    }
    let names = fm.parameter_names();
    let idle: Vec<&str> = s.dependent.iter().map(|(k, _)| names[*k]).collect();
    let zeros = fm.values().contains(&0.0);
    format!(
        "; at the start the Jacobian is singular ({} has no effect of its own{})",
        idle.join(", "),
        if zeros {
            ", as a parameter starting at 0 can cause"
        } else {
            ""
        }
    )
}

/// Whether descent's `got` has reached the reference `want`: within 1e-4 relative, or
/// moving the predictions by at most 1e-6 of the target's root mean square (so a
/// coefficient the data barely determine is judged by its effect, in any units).
fn close_enough(got: f64, want: f64, column_rms: f64, target_rms: f64) -> bool {
    let gap = (got - want).abs();
    gap <= 1e-4 * want.abs() || gap * column_rms <= 1e-6 * target_rms
}

/// Refuses data whose squares overflow double precision (sums of squares, the loss and
/// the Gram matrix would be infinite), naming the column.
fn check_magnitudes(raw: &Dataset) -> Result<(), Fail> {
    let limit = 1e150; // (1e150)² = 1e300: sums of squares of many rows still fit
    let d = raw.dim();
    let x = raw.x.data();
    // One pass in row order (a column at a time would stride through the whole matrix).
    let mut most = vec![0.0f64; d];
    for row in x.chunks_exact(d.max(1)) {
        for (m, v) in most.iter_mut().zip(row) {
            *m = m.max(v.abs());
        }
    }
    for (j, &big) in most.iter().enumerate() {
        if big > limit {
            return Err(Fail::numerical(format!(
                "column '{}' reaches {}: its squares overflow double precision, so the loss and the report cannot be computed; rescale it",
                raw.features[j],
                tape::fmt_g(big)
            )));
        }
    }
    let big = raw.y.data().iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if big > limit {
        return Err(Fail::numerical(format!(
            "the target '{}' reaches {}: its squares overflow double precision, so the loss and the report cannot be computed; rescale it",
            raw.target,
            tape::fmt_g(big)
        )));
    }
    Ok(())
}

fn run(f: &Fit, formula: Option<Formula>, raw: Dataset) -> Result<Report, Fail> {
    check_magnitudes(&raw)?;
    let parts = if f.shuffle {
        split_shuffled(&raw, &f.split, f.seed as u64)
    } else {
        split_chronological(&raw, &f.split)
    };
    if parts.iter().any(Dataset::is_empty) {
        return Err(format!("--split: a split of {} rows leaves a part empty", raw.len()).into());
    }
    let formula_text = formula.as_ref().map(|fm| fm.text().to_string());
    // A formula is fitted by Levenberg-Marquardt unless an option of gradient descent
    // says otherwise.
    let descent_options =
        f.lr.is_some() || f.batch_size.is_some() || f.epochs.is_some() || f.l1 > 0.0 || f.l2 > 0.0;
    let optimizer = f
        .optimizer
        .unwrap_or(if formula.is_some() && !descent_options {
            OptArg::Lm
        } else {
            OptArg::Sgd
        });
    let solver = matches!(optimizer, OptArg::Lm | OptArg::GaussNewton);
    let iters = f.iters.unwrap_or(if solver { 2000 } else { 1000 });
    let tol = f.tol.unwrap_or(if solver { 1e-15 } else { 1e-10 });
    let init = f
        .init
        .clone()
        .unwrap_or_else(|| if formula.is_some() { "ones" } else { "zeros" }.to_string());
    let scaler = f.data.standardize.then(|| Standardizer::fit(&parts[0].x));
    let prep = |d: &Dataset| scaler.as_ref().map_or_else(|| d.clone(), |s| s.apply(d));
    let tr = prep(&parts[0]);
    let va = parts.get(1).map(prep);
    let mut fitted = match formula {
        Some(fm) => Fitted::Formula(parse_init_formula(&init, fm)?),
        None => Fitted::Linear {
            lin: parse_init_linear(&init, tr.dim(), !f.no_intercept)?,
            scaler: scaler.clone(),
        },
    };
    let train_raw = parts[0].clone();
    let (reference, reference_note) = reference(f, &fitted, &train_raw, &tr, &scaler)?;
    let is_formula = matches!(fitted, Fitted::Formula(_));
    let mut path = vec![];
    let (history, lr, lr_how, opt_name, curv, seconds, solved) = if solver {
        let gn = optimizer == OptArg::GaussNewton;
        let Fitted::Formula(fm) = &mut fitted else {
            unreachable!("check_options refuses lm for the linear model")
        };
        let start_values = fm.clone();
        let p = fm.parameter_names().len();
        if tr.len() < p {
            return Err(Fail::input(format!(
                "{} training rows for {p} parameters: a least-squares fit needs at least as many rows as parameters",
                tr.len()
            )));
        }
        let opts = LmOptions {
            ftol: tol,
            xtol: tol,
            max_evaluations: iters.max(2),
            ..LmOptions::default()
        };
        let start = Instant::now();
        let r = fm.fit_least_squares(&tr, &opts, gn);
        let seconds = start.elapsed().as_secs_f64();
        let name = if gn {
            "gauss-newton"
        } else {
            "levenberg-marquardt"
        };
        if r.stop == LmStop::NotFinite {
            return Err(Fail::numerical(not_finite_at_start(&start_values, &tr)));
        }
        if !r.stop.converged() {
            return Err(Fail::not_converged(format!(
                "{name} did not converge: {} after {} evaluations, at a residual sum of squares of {} with {}; no result is reported. Try other start values (--init){}",
                r.stop.describe(),
                r.evaluations,
                tape::fmt_g(r.fnorm * r.fnorm),
                shown(&fm.parameter_names(), &fm.values()),
                singular_start(&start_values, &tr),
            )));
        }
        let history = History {
            train: vec![r.fnorm * r.fnorm / tr.len().max(1) as f64],
            valid: vec![],
            iterations: r.iterations,
            converged: true,
            stride: 1,
        };
        (history, 0.0, "", name, None, seconds, Some(r))
    } else {
        // The step: from the Gram matrix's eigenvalues for the linear model (the OLS report
        // has them for raw, unpenalised data), from Hessian-vector products for a formula.
        let needs_curvature = f.lr.is_none() && optimizer != OptArg::Adam;
        let curv: Option<Result<Curvature, String>> = match &fitted {
            Fitted::Linear { lin, .. } => {
                let n = tr.len();
                let mut mask = vec![true; tr.dim()];
                if lin.has_intercept() {
                    mask.push(false);
                }
                let from_ols = reference
                    .as_ref()
                    .and_then(|r| r.ols.as_ref())
                    .filter(|_| scaler.is_none() && f.l2 == 0.0);
                match from_ols {
                    Some(o) => Some(Ok(Curvature {
                        lambda_max: 2.0 / n as f64
                            * o.gram_eigenvalues.last().copied().unwrap_or(0.0),
                        lambda_min: 2.0 / n as f64
                            * o.gram_eigenvalues.first().copied().unwrap_or(0.0),
                    })),
                    None if needs_curvature => Some(Ok(Curvature::from_gram(
                        &design_gram(&tr.x, lin.has_intercept()),
                        n,
                        f.l2,
                        &mask,
                    ))),
                    None => None,
                }
            }
            Fitted::Formula(_) => needs_curvature.then(|| curvature(fitted.model(), &tr, f.l2)),
        };
        let target_scale = {
            let y = tr.y.data();
            let n = y.len().max(1) as f64;
            let mean = y.iter().sum::<f64>() / n;
            let sd = (y.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
            sd.max(mean.abs())
        };
        let (lr, lr_how) = match (f.lr, optimizer, is_formula, &curv) {
            (Some(lr), ..) => (lr, "given"),
            (None, OptArg::Adam, ..) => (
                target_scale / 100.0,
                "Adam's default: 1/100 of the target's scale max(sd, |mean|), the distance its steps must cover",
            ),
            (None, _, false, Some(Ok(c))) if c.lambda_max > 0.0 && c.lambda_max.is_finite() => (
                c.safe_lr(),
                "1/λmax: the steepest direction settles at once, the rest shrink monotonically",
            ),
            (None, _, false, _) => {
                return Err(Fail::numerical(
                    "cannot take a default step: the loss's curvature is not positive and finite (give --lr)",
                ))
            }
            (None, _, true, Some(Ok(c))) if c.lambda_max.abs() > 0.0 && c.lambda_max.is_finite() => (
                1.0 / c.lambda_max.abs(),
                "1/|λmax| at the start, then halved on any rise and grown 10% on each fall",
            ),
            (None, _, true, _) => (
                1e-3,
                "1e-3 (the start is flat), then halved on any rise and grown 10% on each fall",
            ),
        };
        let mut opt: Box<dyn Optimizer> = match optimizer {
            OptArg::Sgd => Box::new(Sgd::new(lr)),
            OptArg::Momentum => Box::new(Momentum::new(lr, 0.9)),
            OptArg::Adam => Box::new(Adam::new(lr)),
            OptArg::Lm | OptArg::GaussNewton => unreachable!("solvers take the other branch"),
        };
        let n = tr.len();
        let batch = f.batch_size.unwrap_or(n).clamp(1, n.max(1));
        let total = match f.epochs {
            Some(e) => e
                .checked_mul(n.div_ceil(batch))
                .ok_or_else(|| Fail::input(format!("--epochs {e}: too many updates to count")))?,
            None => iters,
        };
        let two_params = fitted
            .model()
            .named_parameters()
            .values()
            .map(Tensor::numel)
            .sum::<usize>()
            == 2;
        // A bar on a terminal for runs that take more than a moment; log lines otherwise.
        // On a terminal, a bar that appears once the run has taken a second (a shorter
        // run never shows it); log lines otherwise.
        let show_bar = std::io::stderr().is_terminal() && !f.data.json;
        let bar = ProgressBar::hidden();
        bar.set_length(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} iterations, {msg} [{eta} left]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let mut bar_shown = false;
        let every = {
            let mut k = f.log_every;
            if show_bar {
                // Ticks often enough to notice the first second, rarely enough to cost
                // nothing.
                let tick = (total / 200).clamp(1, 10_000);
                k = if k == 0 { tick } else { k.min(tick) };
            }
            if two_params && f.plot.is_some() {
                k = 1;
            }
            k
        };
        let cfg = TrainConfig {
            schedule: f
                .epochs
                .map_or(Schedule::Iterations(iters), Schedule::Epochs),
            batch_size: f.batch_size,
            seed: f.seed as u64,
            tol: (tol > 0.0).then_some(tol),
            l2: f.l2,
            l1: f.l1,
            log_every: every,
            backtrack: is_formula && f.lr.is_none() && optimizer == OptArg::Sgd,
            ..Default::default()
        };
        let json = f.data.json;
        let scalars = |p: &Params| -> Vec<f64> { p.values().flat_map(Tensor::to_vec).collect() };
        if two_params {
            let s = scalars(fitted.model().named_parameters());
            path.push((s[0], s[1]));
        }
        let start = Instant::now();
        let history = train(
            fitted.model_mut(),
            opt.as_mut(),
            &tr,
            va.as_ref(),
            &cfg,
            |p| {
                if show_bar && !bar_shown && start.elapsed().as_secs_f64() >= 1.0 {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    bar_shown = true;
                }
                bar.set_position(p.iteration as u64);
                bar.set_message(format!("loss {}", tape::fmt_g(p.loss)));
                if two_params {
                    let s = scalars(&p.params);
                    path.push((s[0], s[1]));
                }
                if !json && f.log_every > 0 && p.iteration % f.log_every == 0 {
                    let v = p
                        .valid
                        .map_or(String::new(), |v| format!(", valid MSE {}", tape::fmt_g(v)));
                    bar.println(format!(
                        "iteration {:>7}: loss {}{v}",
                        p.iteration,
                        tape::fmt_g(p.loss)
                    ));
                }
            },
        );
        bar.finish_and_clear();
        let history = history.map_err(|e| Fail::numerical(e.to_string()))?;
        let seconds = start.elapsed().as_secs_f64();
        (history, lr, lr_how, opt.name(), curv, seconds, None)
    };
    // The relative-change test can pass because the steps are tiny, not because the
    // minimum is near (a learning rate far too small): descent counts as converged only
    // if the first-order test passes too, MINPACK's gtol cosine between the residuals
    // and each Jacobian column at most √tol (no one parameter could lower the sum of
    // squares by more than tol of it).
    let mut history = history;
    let mut stalled = false;
    if !solver && history.converged && f.l1 == 0.0 && f.l2 == 0.0 {
        let cosine = gradient_cosine(&fitted, &train_raw);
        if cosine.is_nan() || cosine > tol.sqrt() {
            history.converged = false;
            stalled = true;
        }
    }
    // A nonlinear formula has no exact solution to report beside descent: a descent
    // that did not pass its convergence test has no result to report.
    if is_formula && reference.is_none() && !history.converged && f.l1 == 0.0 && f.l2 == 0.0 {
        let names: Vec<String> = fitted
            .coefficients(&tr.features)
            .into_iter()
            .map(|c| c.0)
            .collect();
        let values: Vec<f64> = fitted
            .coefficients(&tr.features)
            .into_iter()
            .map(|c| c.1)
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let why = if stalled {
            "its steps became too small to move while the gradient test still failed"
        } else {
            "without passing the convergence test"
        };
        return Err(Fail::not_converged(format!(
            "{opt_name} did not converge: {} iterations, {why} (--tol {}), at loss {} with {}; no result is reported. Try the default optimizer (Levenberg-Marquardt), more --iters, or another --lr",
            history.iterations,
            tape::fmt_g(tol),
            history.train.last().map_or("-".to_string(), |l| tape::fmt_g(*l)),
            shown(&names, &values),
        )));
    }

    let features = tr.features.clone();
    let coefficients = fitted.coefficients(&features);
    if let Some((name, v)) = coefficients.iter().find(|c| !c.1.is_finite()) {
        return Err(Fail::numerical(format!(
            "gradient descent ended with {name} = {v} after {} iterations (learning rate {}): try a smaller --lr",
            history.iterations,
            tape::fmt_g(lr)
        )));
    }
    let closed = reference.as_ref().map(Reference::filled);
    let rank_deficient = reference
        .as_ref()
        .is_some_and(|r| r.coef.iter().any(Option::is_none));
    // Descent's distance from the reference, per coefficient, judged in the data's units.
    let gaps: Vec<Option<(f64, bool)>> = match &reference {
        // Many coefficient vectors fit a rank-deficient design equally well: judge
        // descent by its predictions, which are unique.
        Some(_) if rank_deficient => {
            let c = closed.as_deref().unwrap_or_default();
            let at = predict_with(&fitted, c, &train_raw.x);
            let own = fitted.predict(&train_raw.x);
            let y = train_raw.y.data();
            let rms = |v: &mut dyn Iterator<Item = f64>| {
                (v.map(|a| a * a).sum::<f64>() / y.len().max(1) as f64).sqrt()
            };
            let ok = at.is_some_and(|at| {
                rms(&mut at.data().iter().zip(own.data()).map(|(a, b)| a - b))
                    <= 1e-6 * rms(&mut y.iter().copied())
            });
            vec![Some((f64::NAN, ok)); 1]
        }
        Some(r) => {
            let x = train_raw.x.data();
            let (m, d) = (train_raw.len(), train_raw.dim());
            let rms = |v: &mut dyn Iterator<Item = f64>| {
                (v.map(|a| a * a).sum::<f64>() / m.max(1) as f64).sqrt()
            };
            let target_rms = rms(&mut train_raw.y.data().iter().copied());
            // Every column's root mean square in one pass over the rows.
            let mut column_rms = vec![0.0; d];
            for row in x.chunks_exact(d.max(1)).take(m) {
                for (s, v) in column_rms.iter_mut().zip(row) {
                    *s += v * v;
                }
            }
            column_rms
                .iter_mut()
                .for_each(|s| *s = (*s / m.max(1) as f64).sqrt());
            coefficients
                .iter()
                .enumerate()
                .map(|(j, (name, got))| {
                    let want = r.coef[j]?;
                    let col = match &fitted {
                        Fitted::Linear { .. } if j < d => column_rms[j],
                        Fitted::Linear { .. } => 1.0,
                        Fitted::Formula(fm) => {
                            // The Jacobian column: how the predictions move with it.
                            let jac = fm.jacobian(&train_raw.x);
                            let p = fm.parameter_names().len();
                            let k = fm.parameter_names().iter().position(|p| p == name)?;
                            rms(&mut (0..m).map(|i| jac.data()[i * p + k]))
                        }
                    };
                    Some((got - want, close_enough(*got, want, col, target_rms)))
                })
                .collect()
        }
        None => vec![None; coefficients.len()],
    };
    // Standard errors at descent's estimate only for a nonlinear formula whose descent
    // passed its convergence test.
    let inference = match (&fitted, &reference) {
        (Fitted::Formula(fm), None) if f.l1 == 0.0 && f.l2 == 0.0 => Some(if history.converged {
            let r = fm.residuals_precise(&train_raw);
            let est: Vec<f64> = coefficients.iter().map(|c| c.1).collect();
            let names: Vec<&str> = coefficients.iter().map(|c| c.0.as_str()).collect();
            inference(&fm.jacobian(&train_raw.x), &r, &est, &names)
        } else {
            Err(format!(
                "no standard errors: gradient descent stopped at its iteration limit ({}) without passing its convergence test (--tol {}), so its estimate is not the least-squares solution",
                history.iterations,
                tape::fmt_g(tol)
            ))
        }),
        _ => None,
    };
    let names = ["train", "valid", "test"];
    let splits_raw: Vec<(&'static str, Dataset)> = names.into_iter().zip(parts).collect();
    let at_reference = closed.is_some();
    let metrics = splits_raw
        .iter()
        .map(|(n, d)| {
            let pred = match &closed {
                Some(c) => predict_with(&fitted, c, &d.x).unwrap_or_else(|| fitted.predict(&d.x)),
                None => fitted.predict(&d.x),
            };
            (*n, model::metrics(&pred, &d.y))
        })
        .collect();
    let descent_mse = model::metrics(&fitted.predict(&train_raw.x), &train_raw.y).mse;
    Ok(Report {
        formula_text,
        target: tr.target.clone(),
        features,
        coefficients,
        reference,
        reference_note,
        inference,
        metrics,
        metrics_at: if at_reference {
            "at the exact solution"
        } else {
            "at the estimate"
        },
        descent_mse,
        gaps,
        history,
        tol,
        path,
        lr,
        lr_how,
        optimizer: opt_name,
        solved,
        curvature: curv.and_then(Result::ok),
        seconds,
        train: tr,
        train_raw,
        splits_raw,
        fitted,
        penalised: f.l1 > 0.0 || f.l2 > 0.0,
    })
}

fn p_value(p: f64) -> String {
    if p < 2e-16 {
        "<2e-16".into()
    } else if p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

/// A figure for the table: `-` where there is none.
fn g(x: Option<f64>) -> String {
    x.map_or("-".to_string(), tape::fmt_g)
}

fn print_report(r: &Report) {
    if let Some(t) = &r.formula_text {
        out!("model: {t}");
    }
    match &r.reference {
        Some(reference) => print_reference_table(r, reference),
        None => print_descent_table(r),
    }
    out!();
    for (n, m) in &r.metrics {
        out!(
            "{n:<6} MSE {:<12} RMSE {:<12} MAE {:<12} R² {}",
            tape::fmt_g(m.mse),
            tape::fmt_g(m.rmse),
            tape::fmt_g(m.mae),
            if m.r2.is_finite() {
                tape::fmt_g(m.r2)
            } else {
                "undefined (the target does not vary)".to_string()
            }
        );
    }
    out!("(metrics {})", r.metrics_at);
    if let Some(sv) = &r.solved {
        out!(
            "\n{}: {} iterations, {} evaluations of the residuals and {} of the Jacobian (forward mode), {:.3} s; converged: {}",
            r.optimizer,
            sv.iterations,
            sv.evaluations,
            sv.jacobians,
            r.seconds,
            sv.stop.describe()
        );
        return;
    }
    let curv = r.curvature.map_or(String::new(), |c| {
        format!(
            "; Hessian λmax {}, λmin {}",
            tape::fmt_g(c.lambda_max),
            tape::fmt_g(c.lambda_min)
        )
    });
    if r.history.iterations == 0 {
        out!("\ndescent: not run (--iters 0)");
        return;
    }
    let stop = if r.history.converged {
        format!(
            "converged: loss and parameters changed by less than {} (relative)",
            tape::fmt_g(r.tol)
        )
    } else if r.tol > 0.0 {
        format!(
            "stopped at the iteration limit before the convergence test (--tol {}) passed",
            tape::fmt_g(r.tol)
        )
    } else {
        "ran every iteration (--tol 0)".to_string()
    };
    out!(
        "\ndescent: {} iterations of {} at lr {} ({}), {:.3} s; {stop}{curv}",
        r.history.iterations,
        r.optimizer,
        tape::fmt_g(r.lr),
        r.lr_how,
        r.seconds,
    );
}

/// An exact solution as the tables show it.
pub(super) struct Solution<'a> {
    pub method: &'a str,
    /// What is beside it: "gradient descent", "lm", ...
    pub beside: &'a str,
    /// The column heading of what is beside it.
    pub label: &'a str,
    pub ols: Option<&'a Ols>,
    pub estimates: &'a [Option<f64>],
}

/// The solution's table with the fitted coefficients and their gaps beside it, and its
/// statistics.
pub(super) fn print_solution(
    sol: &Solution<'_>,
    coefficients: &[(String, f64)],
    gaps: &[Option<(f64, bool)>],
) {
    let o = sol.ols;
    out!("\n{}, with {} beside it:", sol.method, sol.beside);
    if o.is_some() {
        out!(
            "{:<14} {:>12} {:>11} {:>9} {:>7} {:>12} {:>12} {:>12} {:>10}",
            "coefficient",
            "estimate",
            "std err",
            "t",
            "P>|t|",
            "[0.025",
            "0.975]",
            sol.label,
            "gap"
        );
    } else {
        out!(
            "{:<14} {:>12} {:>12} {:>10}",
            "coefficient",
            "estimate",
            sol.label,
            "gap"
        );
    }
    for (i, (name, v)) in coefficients.iter().enumerate() {
        let gap = gaps
            .get(i)
            .copied()
            .flatten()
            .filter(|g| g.0.is_finite())
            .map_or("-".to_string(), |(d, _)| tape::fmt_g(d));
        match o {
            Some(o) => {
                let c = &o.coefficients[i];
                if c.estimate.is_none() {
                    out!(
                        "{name:<14} {:>12} {:>11} {:>9} {:>7} {:>12} {:>12} {:>12} {gap:>10}",
                        "NA (dropped)",
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        tape::fmt_g(*v)
                    );
                    continue;
                }
                out!(
                    "{name:<14} {:>12} {:>11} {:>9} {:>7} {:>12} {:>12} {:>12} {gap:>10}",
                    g(c.estimate),
                    g(c.std_error),
                    c.t.map_or("-".into(), |t| format!("{t:.3}")),
                    c.p_value.map_or("-".into(), p_value),
                    g(c.ci95.map(|c| c.0)),
                    g(c.ci95.map(|c| c.1)),
                    tape::fmt_g(*v),
                );
            }
            None => out!(
                "{name:<14} {:>12} {:>12} {gap:>10}",
                g(sol.estimates[i]),
                tape::fmt_g(*v)
            ),
        }
    }
    if let Some(o) = o {
        for (col, with) in &o.dependent {
            out!(
                "\nnote: {col} is a linear combination of {} (the design has rank {} of {}): it has no coefficient, as R marks it NA",
                with.join(", "),
                o.rank,
                o.coefficients.len()
            );
        }
        match o.sigma {
            Some(s) => out!(
                "\nresidual standard error {} on {} degrees of freedom",
                tape::fmt_g(s),
                o.df_resid
            ),
            None => out!("\n(no residual degrees of freedom: no standard errors)"),
        }
        let centred = if o.has_constant {
            ""
        } else {
            " (uncentred: no constant)"
        };
        if o.r_squared.is_finite() {
            out!(
                "R² {}, adjusted R² {}{centred}",
                tape::fmt_g(o.r_squared),
                g(o.adj_r_squared)
            );
        } else {
            out!("R² undefined: the target does not vary");
        }
        if let Some((fv, pv)) = o.f_statistic {
            out!(
                "F {} on {} and {} DF, p-value {}{}",
                tape::fmt_g(fv),
                o.df_model,
                o.df_resid,
                p_value(pv),
                if o.cov_type == CovType::Nonrobust {
                    ""
                } else {
                    " (Wald, robust covariance)"
                }
            );
        }
        if o.log_likelihood.is_finite() {
            out!(
                "log-likelihood {}, AIC {}, BIC {}",
                tape::fmt_g(o.log_likelihood),
                tape::fmt_g(o.aic),
                tape::fmt_g(o.bic)
            );
        } else {
            out!("log-likelihood, AIC, BIC undefined: the fit is exact (RSS 0)");
        }
        if o.cov_type != CovType::Nonrobust {
            out!(
                "standard errors: {} (heteroskedasticity-robust)",
                o.cov_type.name()
            );
        }
        if o.rank < o.coefficients.len() {
            out!(
                "condition number infinite: the design is singular (rank {} of {})",
                o.rank,
                o.coefficients.len()
            );
        } else if o.condition_number.is_finite() {
            out!("condition number {}", tape::fmt_g(o.condition_number));
            if o.condition_number > 1000.0 {
                out!(
                    "warning: the condition number is large ({}): this might indicate strong multicollinearity or other numerical problems",
                    tape::fmt_g(o.condition_number)
                );
            }
        } else {
            out!("condition number infinite: the design is singular");
        }
    }
}

/// The exact solution's table, descent beside it.
fn print_reference_table(r: &Report, reference: &Reference) {
    let beside = if r.solved.is_some() {
        r.optimizer
    } else {
        "gradient descent"
    };
    print_solution(
        &Solution {
            method: reference.method,
            beside,
            label: r.label(),
            ols: reference.ols.as_ref(),
            estimates: &reference.coef,
        },
        &r.coefficients,
        &r.gaps,
    );
    let not_run = r.solved.is_none() && r.history.iterations == 0;
    match r.reached() {
        _ if not_run => out!(
            "\ngradient descent was not run (--iters 0): its column holds the starting values"
        ),
        Some(true) if r.gaps.len() < r.coefficients.len() => out!(
            "\n{} reached the solution's predictions (within 1e-6 of the target's scale); with dependent columns its coefficients are one of many equally good sets",
            r.method()
        ),
        Some(true) => out!(
            "\n{} reached the solution: every coefficient within 1e-4 of it (relative), or moving the predictions by at most 1e-6 of the target's scale",
            r.method()
        ),
        Some(false) if r.gaps.len() < r.coefficients.len() => out!(
            "\nnote: {} has not reached the solution's predictions; the table's statistics are at the solution",
            r.method()
        ),
        _ => {
            let worst = r
                .gaps
                .iter()
                .zip(&r.coefficients)
                .filter_map(|(g, c)| g.filter(|g| !g.1).map(|g| (c, g.0)))
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()));
            if let Some(((name, v), gap)) = worst {
                out!(
                    "\nnote: {} has not reached the solution: {name} is {} where the solution has {} (gap {}); the table's statistics are at the solution. Try --standardize, more --iters, or another --lr",
                    r.method(),
                    tape::fmt_g(*v),
                    tape::fmt_g(v - gap),
                    tape::fmt_g(gap)
                );
            }
        }
    }
    out!(
        "{}'s training MSE {}",
        r.method(),
        tape::fmt_g(r.descent_mse)
    );
    if let Some(note) = &r.reference_note {
        out!("({note})");
    }
}

/// Descent's own table, for a formula with no exact solution.
fn print_descent_table(r: &Report) {
    let stats = r.inference.as_ref().and_then(|i| i.as_ref().ok());
    out!(
        "\n{:<14} {:>12} {:>11} {:>9} {:>7} {:>12} {:>12}",
        "coefficient",
        "estimate",
        "std err",
        "t",
        "P>|t|",
        "[0.025",
        "0.975]"
    );
    for (i, (name, v)) in r.coefficients.iter().enumerate() {
        let s = stats.map(|s| &s.coefficients[i]);
        out!(
            "{name:<14} {:>12} {:>11} {:>9} {:>7} {:>12} {:>12}",
            tape::fmt_g(*v),
            g(s.map(|s| s.std_error)),
            s.filter(|s| s.t.is_finite())
                .map_or("-".into(), |s| format!("{:.3}", s.t)),
            s.map_or("-".into(), |s| p_value(s.p_value)),
            g(s.map(|s| s.ci95.0)),
            g(s.map(|s| s.ci95.1)),
        );
    }
    match &r.inference {
        Some(Ok(s)) => out!(
            "\nresidual standard error {} on {} degrees of freedom",
            tape::fmt_g(s.sigma),
            s.df
        ),
        Some(Err(e)) => out!("\n({e})"),
        None => out!(),
    }
    if let Some(note) = &r.reference_note {
        out!("({note})");
    }
}

fn opt(x: Option<f64>) -> serde_json::Value {
    x.map_or(serde_json::Value::Null, num)
}

fn print_json(r: &Report) {
    let ols_stats = r.reference.as_ref().and_then(|x| x.ols.as_ref());
    let nl_stats = r.inference.as_ref().and_then(|i| i.as_ref().ok());
    let coefficients: Vec<serde_json::Value> = r
        .coefficients
        .iter()
        .enumerate()
        .map(|(i, (name, v))| match (ols_stats, nl_stats) {
            (Some(o), _) => {
                let c = &o.coefficients[i];
                json!({
                    "name": name,
                    "estimate": opt(c.estimate),
                    "std_error": opt(c.std_error),
                    "t": opt(c.t),
                    "p_value": opt(c.p_value),
                    "ci95": c.ci95.map(|c| [num(c.0), num(c.1)]),
                    "descent": num(*v),
                    "descent_gap": r.gaps.get(i).copied().flatten().map(|g| num(g.0)),
                })
            }
            (None, Some(s)) => {
                let s = &s.coefficients[i];
                json!({
                    "name": name,
                    "estimate": num(*v),
                    "std_error": num(s.std_error),
                    "t": num(s.t),
                    "p_value": num(s.p_value),
                    "ci95": [num(s.ci95.0), num(s.ci95.1)],
                    "descent": num(*v),
                })
            }
            (None, None) => json!({
                "name": name,
                "estimate": r.reference.as_ref().map_or(num(*v), |x| opt(x.coef[i])),
                "descent": num(*v),
                "descent_gap": r.gaps.get(i).copied().flatten().map(|g| num(g.0)),
            }),
        })
        .collect();
    let map = |pairs: &[(String, f64)]| -> serde_json::Map<String, serde_json::Value> {
        pairs.iter().map(|(n, v)| (n.clone(), num(*v))).collect()
    };
    let closed: Option<serde_json::Map<String, serde_json::Value>> =
        r.reference.as_ref().map(|x| {
            r.coefficients
                .iter()
                .zip(&x.coef)
                .map(|((n, _), v)| (n.clone(), opt(*v)))
                .collect()
        });
    let metrics: serde_json::Map<String, serde_json::Value> = r
        .metrics
        .iter()
        .map(|(n, m)| {
            (
                n.to_string(),
                json!({"mse": num(m.mse), "rmse": num(m.rmse), "mae": num(m.mae), "r2": num(m.r2)}),
            )
        })
        .collect();
    let statistics = ols_stats.map(|o| {
        json!({
            "nobs": o.nobs,
            "rank": o.rank,
            "df_model": o.df_model,
            "df_resid": o.df_resid,
            "has_constant": o.has_constant,
            "rss": num(o.rss),
            "r_squared": num(o.r_squared),
            "adj_r_squared": opt(o.adj_r_squared),
            "f_statistic": o.f_statistic.map(|f| num(f.0)),
            "f_p_value": o.f_statistic.map(|f| num(f.1)),
            "log_likelihood": num(o.log_likelihood),
            "aic": num(o.aic),
            "bic": num(o.bic),
            "condition_number": num(o.condition_number),
            "cov_type": o.cov_type.name(),
            "dependent": o.dependent.iter().map(|(c, w)| json!({"column": c, "combination_of": w})).collect::<Vec<_>>(),
        })
    });
    let sigma = ols_stats
        .and_then(|o| o.sigma)
        .or(nl_stats.map(|s| s.sigma));
    let df = ols_stats.map(|o| o.df_resid).or(nl_stats.map(|s| s.df));
    let doc = json!({
        "model": r.formula_text,
        "target": r.target,
        "parameters": map(&r.reported()),
        "method": r.reference.as_ref().map_or("gradient descent", |x| x.method),
        "closed_form": closed,
        "coefficients": coefficients,
        "residual_std_error": opt(sigma),
        "df": df,
        "statistics": statistics,
        "metrics": metrics,
        "metrics_at": r.metrics_at,
        "descent": map(&r.coefficients),
        "descent_mse": num(r.descent_mse),
        "iterations": r.history.iterations,
        "converged": r.history.converged,
        "evaluations": r.solved.as_ref().map(|s| s.evaluations),
        "jacobians": r.solved.as_ref().map(|s| s.jacobians),
        "stop": r.solved.as_ref().map(|s| s.stop.describe()),
        "reached_closed_form": r.reached(),
        "learning_rate": if r.solved.is_some() { serde_json::Value::Null } else { num(r.lr) },
        "optimizer": r.optimizer,
        "lambda_max": r.curvature.map(|c| num(c.lambda_max)),
        "lambda_min": r.curvature.map(|c| num(c.lambda_min)),
    });
    out!("{doc}");
}

/// The saved model: what `descent predict` reads. It holds the coefficients the report
/// is about (the exact solution when there is one, else descent's).
fn save(r: &Report, path: &str, input: &str) -> Result<(), String> {
    let parameters = r.reported();
    let saved = match (&r.fitted, &r.formula_text) {
        (Fitted::Linear { lin, .. }, _) => SavedModel::linear(
            &r.target,
            &r.features,
            &r.train_raw.categories,
            lin.has_intercept(),
            &parameters,
        ),
        (Fitted::Formula(_), Some(text)) => SavedModel::formula(
            text,
            &r.target,
            &r.features,
            &r.train_raw.categories,
            &parameters,
        ),
        (Fitted::Formula(_), None) => unreachable!("a fitted formula keeps its text"),
    };
    super::io::write_atomic(path, saved.to_json().as_bytes(), &[input])
        .map_err(|e| format!("--save {e}"))
}
