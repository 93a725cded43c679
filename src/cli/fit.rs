//! `descent fit`: gradient descent beside the closed form, with standard errors, t
//! statistics and intervals, metrics per split, pictures and a saved model.

use super::{num, plot, read, Data};
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
    /// Iterations (updates).
    #[arg(long, default_value_t = 1000)]
    iters: usize,
    /// Epochs (instead of --iters).
    #[arg(long)]
    epochs: Option<usize>,
    /// Rows per update (default: all).
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long, value_enum, default_value_t = OptArg::Sgd)]
    optimizer: OptArg,
    /// zeros, uniform, normal, or explicit values: for the linear model the weights in
    /// feature order then the bias (0.9,0.1 or m=0.9,b=0.1); for a formula by parameter
    /// name (a=1,k=0.1; others start at 0).
    #[arg(long, default_value = "zeros")]
    init: String,
    /// Ridge penalty λ·Σw² (intercepts are not penalised).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    l2: f64,
    /// Lasso penalty λ·Σ|w|.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    l1: f64,
    /// Train/valid/test fractions, in row order unless --shuffle.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    split: Vec<f64>,
    #[arg(long)]
    shuffle: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the loss every this many iterations.
    #[arg(long, default_value_t = 0)]
    log_every: usize,
    /// Save the fitted model as JSON, for `descent predict`.
    #[arg(long)]
    save: Option<String>,
    /// Write pictures (SVG) into this directory.
    #[arg(long)]
    plot: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OptArg {
    Sgd,
    Momentum,
    Adam,
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
                features
                    .iter()
                    .cloned()
                    .zip(w)
                    .chain([("(intercept)".to_string(), b)])
                    .collect()
            }
            Fitted::Formula(f) => f
                .parameter_names()
                .iter()
                .map(|s| s.to_string())
                .zip(f.values())
                .collect(),
        }
    }

    /// The Jacobian of the predictions with respect to the coefficients, on raw features.
    fn jacobian(&self, x: &Tensor) -> Tensor {
        match self {
            Fitted::Linear { .. } => {
                let (n, d) = (x.shape()[0], x.shape()[1]);
                let mut j = Vec::with_capacity(n * (d + 1));
                for i in 0..n {
                    j.extend_from_slice(&x.data()[i * d..(i + 1) * d]);
                    j.push(1.0);
                }
                Tensor::new(j, &[n, d + 1])
            }
            Fitted::Formula(f) => f.jacobian(x),
        }
    }
}

fn check_options(f: &Fit) -> Result<(), String> {
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

/// Parses `--model` against the file's columns and loads those columns.
pub(super) fn load_formula(
    data: &Data,
    text: &str,
    bytes: &[u8],
) -> Result<(Formula, Dataset), String> {
    let file = &data.file;
    let columns = csv_columns(bytes, file).map_err(|e| e.to_string())?;
    let names: Vec<&str> = columns.iter().map(String::as_str).collect();
    let formula = Formula::parse(text, &names).map_err(|e| format!("--model '{text}': {e}"))?;
    if let Some(t) = &data.target {
        if t != formula.target() {
            return Err(format!(
                "--target {t} but the formula predicts '{}'",
                formula.target()
            ));
        }
    }
    let opts = CsvOptions {
        header: None,
        target: formula.target().into(),
        features: Some(
            formula
                .columns()
                .iter()
                .map(|c| c.as_str().into())
                .collect(),
        ),
        missing: data.missing.into(),
    };
    let loaded = parse_csv(bytes, file, &opts).map_err(|e| e.to_string())?;
    Ok((formula, loaded))
}

fn parse_init_linear(s: &str, d: usize) -> Result<Linear, String> {
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
    match s {
        "zeros" => {}
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

/// Everything a fit produced, for the report, the JSON, the pictures and the saved model.
pub(super) struct Report {
    pub fitted: Fitted,
    pub formula_text: Option<String>,
    pub target: String,
    pub features: Vec<String>,
    pub coefficients: Vec<(String, f64)>,
    pub closed: Option<Vec<f64>>,
    pub closed_note: Option<String>,
    pub inference: Result<Inference, String>,
    pub metrics: Vec<(&'static str, Metrics)>,
    pub history: History,
    /// The parameters after each update, when there are exactly two (for the loss
    /// surface picture).
    pub path: Vec<(f64, f64)>,
    pub lr: f64,
    pub lr_how: &'static str,
    pub optimizer: &'static str,
    pub curvature: Option<Curvature>,
    pub seconds: f64,
    /// Training rows as the model saw them (standardised when asked), and raw.
    pub train: Dataset,
    pub train_raw: Dataset,
    pub splits_raw: Vec<(&'static str, Dataset)>,
    pub penalised: bool,
}

impl Report {
    /// The training MSE at the closed-form coefficients: the floor descent approaches
    /// (`None` for penalised fits, whose objective is not the MSE alone).
    pub(super) fn closed_mse(&self) -> Option<f64> {
        let c = self.closed.as_ref().filter(|_| !self.penalised)?;
        let d = &self.train_raw;
        let pred = match &self.fitted {
            Fitted::Linear { .. } => {
                let k = c.len() - 1;
                Linear::from_coefficients(&c[..k], c[k]).predict(&d.x)
            }
            Fitted::Formula(f) => {
                let mut f = f.clone();
                let names: Vec<String> =
                    f.parameter_names().iter().map(|s| s.to_string()).collect();
                for (n, v) in names.iter().zip(c) {
                    f.set(n, *v).ok()?;
                }
                f.predict(&d.x)
            }
        };
        Some(metrics(&pred, &d.y).mse)
    }

    /// Descent's training MSE and the closed form's, when descent is visibly short of it.
    fn short_of_closed_form(&self) -> Option<(f64, f64)> {
        let best = self.closed_mse()?;
        let own = self.metrics.first()?.1.mse;
        (own > best * (1.0 + 1e-4) + 1e-12).then_some((own, best))
    }
}

pub(super) fn fit(f: &Fit) -> Result<(), String> {
    check_options(f)?;
    let bytes = read(&f.data.file)?;
    let (formula, raw) = match &f.model {
        Some(text) => {
            let (fm, d) = load_formula(&f.data, text, &bytes)?;
            (Some(fm), d)
        }
        None => (None, super::load(&f.data)?),
    };
    let report = run(f, formula, raw)?;
    if let Some(path) = &f.save {
        save(&report, path)?;
    }
    if let Some(dir) = &f.plot {
        plot::fit_pictures(&report, dir)?;
    }
    if f.data.json {
        print_json(&report);
    } else {
        print_report(&report);
        if let Some(path) = &f.save {
            println!("model saved to {path}");
        }
        if let Some(dir) = &f.plot {
            println!("pictures written to {dir}/");
        }
    }
    Ok(())
}

fn run(f: &Fit, formula: Option<Formula>, raw: Dataset) -> Result<Report, String> {
    let parts = if f.shuffle {
        split_shuffled(&raw, &f.split, f.seed)
    } else {
        split_chronological(&raw, &f.split)
    };
    if parts.iter().any(Dataset::is_empty) {
        return Err(format!(
            "--split: a split of {} rows leaves a part empty",
            raw.len()
        ));
    }
    let formula_text = formula.as_ref().map(|fm| fm.text().to_string());
    let scaler = f.data.standardize.then(|| Standardizer::fit(&parts[0].x));
    let prep = |d: &Dataset| scaler.as_ref().map_or_else(|| d.clone(), |s| s.apply(d));
    let tr = prep(&parts[0]);
    let va = parts.get(1).map(prep);
    let mut fitted = match formula {
        Some(fm) => Fitted::Formula(parse_init_formula(&f.init, fm)?),
        None => Fitted::Linear {
            lin: parse_init_linear(&f.init, tr.dim())?,
            scaler: scaler.clone(),
        },
    };
    let is_formula = matches!(fitted, Fitted::Formula(_));
    let curv = curvature(fitted.model(), &tr, f.l2);
    let (lr, lr_how) = match (f.lr, is_formula, &curv) {
        (Some(lr), ..) => (lr, "given"),
        (None, false, Ok(c)) => (
            c.safe_lr(),
            "1/λmax: the steepest direction settles at once, the rest shrink monotonically",
        ),
        (None, false, Err(e)) => return Err(format!("cannot measure the loss's curvature: {e}")),
        (None, true, Ok(c)) if c.lambda_max.abs() > 0.0 && c.lambda_max.is_finite() => (
            1.0 / c.lambda_max.abs(),
            "1/|λmax| at the start, then halved on any rise and grown 10% on each fall",
        ),
        (None, true, _) => (
            1e-3,
            "1e-3 (the start is flat), then halved on any rise and grown 10% on each fall",
        ),
    };
    let mut opt: Box<dyn Optimizer> = match f.optimizer {
        OptArg::Sgd => Box::new(Sgd::new(lr)),
        OptArg::Momentum => Box::new(Momentum::new(lr, 0.9)),
        OptArg::Adam => Box::new(Adam::new(lr)),
    };
    let n = tr.len();
    let batch = f.batch_size.unwrap_or(n).clamp(1, n.max(1));
    let total = match f.epochs {
        Some(e) => e * n.div_ceil(batch),
        None => f.iters,
    };
    let two_params = fitted
        .model()
        .named_parameters()
        .values()
        .map(Tensor::numel)
        .sum::<usize>()
        == 2;
    // A bar on a terminal for runs that take more than a moment; log lines otherwise.
    let show_bar = std::io::stderr().is_terminal()
        && !f.data.json
        && total.saturating_mul(n.max(1)) >= 20_000_000;
    let bar = if show_bar {
        let b = ProgressBar::new(total as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} iterations, {msg} [{eta} left]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let every = {
        let mut k = f.log_every;
        if show_bar {
            let tick = (total / 200).max(1);
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
            .map_or(Schedule::Iterations(f.iters), Schedule::Epochs),
        batch_size: f.batch_size,
        seed: f.seed,
        l2: f.l2,
        l1: f.l1,
        log_every: every,
        backtrack: is_formula && f.lr.is_none() && f.optimizer == OptArg::Sgd,
        ..Default::default()
    };
    let json = f.data.json;
    let scalars = |p: &Params| -> Vec<f64> { p.values().flat_map(Tensor::to_vec).collect() };
    let mut path = vec![];
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
    )
    .map_err(|e| e.to_string());
    bar.finish_and_clear();
    let history = history?;
    let seconds = start.elapsed().as_secs_f64();

    let features = tr.features.clone();
    let coefficients = fitted.coefficients(&features);
    let (closed, closed_note) = closed_form(&fitted, &tr, &scaler, f);
    let train_raw = parts[0].clone();
    let inference = if f.l1 > 0.0 || f.l2 > 0.0 {
        Err("standard errors are not reported for penalised fits".to_string())
    } else {
        let pred = fitted.predict(&train_raw.x);
        let r: Vec<f64> = train_raw
            .y
            .data()
            .iter()
            .zip(pred.data())
            .map(|(y, p)| y - p)
            .collect();
        let est: Vec<f64> = coefficients.iter().map(|c| c.1).collect();
        let names: Vec<&str> = coefficients.iter().map(|c| c.0.as_str()).collect();
        inference(&fitted.jacobian(&train_raw.x), &r, &est, &names)
    };
    let names = ["train", "valid", "test"];
    let splits_raw: Vec<(&'static str, Dataset)> = names.into_iter().zip(parts).collect();
    let metrics = splits_raw
        .iter()
        .map(|(n, d)| (*n, model::metrics(&fitted.predict(&d.x), &d.y)))
        .collect();
    Ok(Report {
        formula_text,
        target: tr.target.clone(),
        features,
        coefficients,
        closed,
        closed_note,
        inference,
        metrics,
        history,
        path,
        lr,
        lr_how,
        optimizer: opt.name(),
        curvature: curv.ok(),
        seconds,
        train: tr,
        train_raw,
        splits_raw,
        fitted,
        penalised: f.l1 > 0.0 || f.l2 > 0.0,
    })
}

/// The closed-form coefficients in the data's units, or why there are none.
fn closed_form(
    fitted: &Fitted,
    tr: &Dataset,
    scaler: &Option<Standardizer>,
    f: &Fit,
) -> (Option<Vec<f64>>, Option<String>) {
    match fitted {
        Fitted::Linear { .. } => match least_squares(tr, f.l2, Solver::Qr) {
            Ok((w, b)) => {
                let (w, b) = match scaler {
                    Some(s) => s.to_original(&w, b),
                    None => (w, b),
                };
                let mut v = w;
                v.push(b);
                let note = (f.l1 > 0.0).then(|| "closed form is without the lasso term".into());
                (Some(v), note)
            }
            Err(e) => (None, Some(format!("closed form: {e}"))),
        },
        Fitted::Formula(fm) if f.l1 == 0.0 && f.l2 == 0.0 => match fm.closed_form(tr) {
            Some(Ok(v)) => (Some(v), None),
            Some(Err(e)) => (None, Some(format!("closed form: {e}"))),
            None => (
                None,
                Some("no closed form: the formula is not linear in its parameters".into()),
            ),
        },
        Fitted::Formula(_) => (None, Some("no closed form for a penalised formula".into())),
    }
}

fn p_value(p: f64) -> String {
    if p < 2e-16 {
        "<2e-16".into()
    } else {
        format!("{p:.3}")
    }
}

fn print_report(r: &Report) {
    if let Some(t) = &r.formula_text {
        println!("model: {t}");
    }
    let stats = r.inference.as_ref().ok();
    println!(
        "\n{:<14} {:>12} {:>12} {:>11} {:>9} {:>7} {:>12} {:>12}",
        "coefficient", "descent", "closed form", "std err", "t", "P>|t|", "[0.025", "0.975]"
    );
    for (i, (name, v)) in r.coefficients.iter().enumerate() {
        let c = r
            .closed
            .as_ref()
            .map_or("-".to_string(), |c| tape::fmt_g(c[i]));
        let s = stats.map(|s| &s.coefficients[i]);
        let g = |x: Option<f64>| x.map_or("-".to_string(), tape::fmt_g);
        println!(
            "{name:<14} {:>12} {c:>12} {:>11} {:>9} {:>7} {:>12} {:>12}",
            tape::fmt_g(*v),
            g(s.map(|s| s.std_error)),
            s.map_or("-".into(), |s| format!("{:.3}", s.t)),
            s.map_or("-".into(), |s| p_value(s.p_value)),
            g(s.map(|s| s.ci95.0)),
            g(s.map(|s| s.ci95.1)),
        );
    }
    if let Some((own, best)) = r.short_of_closed_form() {
        println!(
            "\nnote: descent has not reached the minimum yet: training MSE {} against {} at the closed form; try --standardize, more --iters, or another --lr",
            tape::fmt_g(own),
            tape::fmt_g(best)
        );
    }
    match &r.inference {
        Ok(s) => println!(
            "\nresidual standard error {} on {} degrees of freedom",
            tape::fmt_g(s.sigma),
            s.df
        ),
        Err(e) => println!("\n({e})"),
    }
    if let Some(note) = &r.closed_note {
        println!("({note})");
    }
    println!();
    for (n, m) in &r.metrics {
        println!(
            "{n:<6} MSE {:<12} RMSE {:<12} MAE {:<12} R² {}",
            tape::fmt_g(m.mse),
            tape::fmt_g(m.rmse),
            tape::fmt_g(m.mae),
            tape::fmt_g(m.r2)
        );
    }
    let curv = r.curvature.map_or(String::new(), |c| {
        format!(
            "; Hessian λmax {}, λmin {}",
            tape::fmt_g(c.lambda_max),
            tape::fmt_g(c.lambda_min)
        )
    });
    println!(
        "\n{} iterations of {} at lr {} ({}), {:.3} s{curv}",
        r.history.iterations,
        r.optimizer,
        tape::fmt_g(r.lr),
        r.lr_how,
        r.seconds,
    );
}

fn print_json(r: &Report) {
    let stats = r.inference.as_ref().ok();
    let coefficients: Vec<serde_json::Value> = r
        .coefficients
        .iter()
        .enumerate()
        .map(|(i, (name, v))| {
            let s = stats.map(|s| &s.coefficients[i]);
            json!({
                "name": name,
                "estimate": num(*v),
                "closed_form": r.closed.as_ref().map(|c| num(c[i])),
                "std_error": s.map(|s| num(s.std_error)),
                "t": s.map(|s| num(s.t)),
                "p_value": s.map(|s| num(s.p_value)),
                "ci95": s.map(|s| [num(s.ci95.0), num(s.ci95.1)]),
            })
        })
        .collect();
    let parameters: serde_json::Map<String, serde_json::Value> = r
        .coefficients
        .iter()
        .map(|(n, v)| (n.clone(), num(*v)))
        .collect();
    let closed: Option<serde_json::Map<String, serde_json::Value>> = r.closed.as_ref().map(|c| {
        r.coefficients
            .iter()
            .zip(c)
            .map(|((n, _), v)| (n.clone(), num(*v)))
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
    let doc = json!({
        "model": r.formula_text,
        "target": r.target,
        "parameters": parameters,
        "closed_form": closed,
        "coefficients": coefficients,
        "residual_std_error": stats.map(|s| num(s.sigma)),
        "df": stats.map(|s| s.df),
        "metrics": metrics,
        "iterations": r.history.iterations,
        "converged": r.history.converged,
        "reached_closed_form": r.closed_mse().map(|_| r.short_of_closed_form().is_none()),
        "learning_rate": num(r.lr),
        "optimizer": r.optimizer,
        "lambda_max": r.curvature.map(|c| num(c.lambda_max)),
        "lambda_min": r.curvature.map(|c| num(c.lambda_min)),
    });
    println!("{doc}");
}

/// The saved model: what `descent predict` reads.
fn save(r: &Report, path: &str) -> Result<(), String> {
    let parameters: serde_json::Map<String, serde_json::Value> = r
        .coefficients
        .iter()
        .map(|(n, v)| (n.clone(), num(*v)))
        .collect();
    let doc = json!({
        "descent_model": 1,
        "kind": if r.formula_text.is_some() { "formula" } else { "linear" },
        "formula": r.formula_text,
        "target": r.target,
        "features": r.features,
        "parameters": parameters,
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("--save {path}: {e}"))
}
