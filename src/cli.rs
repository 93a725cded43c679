//! The `descent` command line. Every error on user input is one line on stderr and exit
//! status 2; nothing here panics on user input.

use clap::{Parser, Subcommand, ValueEnum};
use model::*;
use std::time::Instant;
use tape::prelude::*;

#[derive(Parser, Debug)]
#[command(
    name = "descent",
    version,
    about = "Linear regression by gradient descent, with every gradient from a reverse-mode autodiff tape"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fit y = Xw + b by gradient descent and compare with the closed form.
    Fit(Fit),
    /// The gradient at the starting point four ways: by hand, reverse mode, forward mode,
    /// central differences.
    Check(Data),
    /// Train at several learning rates: which converge, which crawl, which diverge.
    Sweep {
        #[command(flatten)]
        data: Data,
        /// Learning rates, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "1e-5,1e-4,1e-3,1e-2,1e-1"
        )]
        lrs: Vec<f64>,
        /// Iterations per rate.
        #[arg(long, default_value_t = 1000)]
        iters: usize,
    },
}

#[derive(clap::Args, Debug, Clone)]
struct Data {
    /// The CSV file.
    file: String,
    /// The column to predict (name or 0-based index).
    #[arg(long)]
    target: String,
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
}

#[derive(clap::Args, Debug)]
struct Fit {
    #[command(flatten)]
    data: Data,
    /// Learning rate (default: the best constant step from the Hessian's eigenvalues).
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
    /// zeros, uniform, normal, or explicit values such as m=0.9,b=0.1 (weights in
    /// feature order, then the bias).
    #[arg(long, default_value = "zeros")]
    init: String,
    /// Ridge penalty λ·Σw².
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    l2: f64,
    /// Lasso penalty λ·Σ|w|.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    l1: f64,
    /// Train/valid/test fractions, in time order unless --shuffle.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    split: Vec<f64>,
    #[arg(long)]
    shuffle: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the loss every this many iterations.
    #[arg(long, default_value_t = 0)]
    log_every: usize,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum MissingArg {
    Error,
    Drop,
    Ffill,
    Mean,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum OptArg {
    Sgd,
    Momentum,
    Adam,
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
        None => demo(),
        Some(Command::Fit(f)) => fit(&f),
        Some(Command::Check(d)) => check(&d),
        Some(Command::Sweep { data, lrs, iters }) => sweep(&data, &lrs, iters),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("descent: {e}");
            2
        }
    }
}

fn load(d: &Data) -> Result<Dataset, String> {
    let opts = CsvOptions {
        header: None,
        target: d.target.as_str().into(),
        features: d
            .features
            .as_ref()
            .map(|f| f.iter().map(|s| s.as_str().into()).collect()),
        missing: match d.missing {
            MissingArg::Error => Missing::Error,
            MissingArg::Drop => Missing::Drop,
            MissingArg::Ffill => Missing::ForwardFill,
            MissingArg::Mean => Missing::Mean,
        },
    };
    load_csv(&d.file, &opts).map_err(|e| e.to_string())
}

fn parse_init(s: &str, data: &Dataset) -> Result<Linear, String> {
    let d = data.dim();
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

fn fit(f: &Fit) -> Result<(), String> {
    let raw = load(&f.data)?;
    if f.split.iter().any(|x| x.is_nan() || *x <= 0.0) || f.split.len() > 3 {
        return Err("--split: give one to three positive fractions, such as 0.7,0.15,0.15".into());
    }
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
    let scaler = f.data.standardize.then(|| Standardizer::fit(&parts[0].x));
    let prep = |d: &Dataset| scaler.as_ref().map_or_else(|| d.clone(), |s| s.apply(d));
    let (tr, va, te) = (
        prep(&parts[0]),
        parts.get(1).map(prep),
        parts.get(2).map(prep),
    );
    let mut lin = parse_init(&f.init, &tr)?;
    let curv = curvature(&lin, &tr, f.l2)
        .map_err(|e| format!("cannot measure the loss's curvature: {e}"))?;
    let lr = f.lr.unwrap_or(curv.best_lr());
    if lr.is_nan() || lr <= 0.0 || lr.is_infinite() {
        return Err(format!("--lr must be a positive number, got {lr}"));
    }
    if f.l2.is_nan() || f.l1.is_nan() || f.l2 < 0.0 || f.l1 < 0.0 {
        return Err(format!(
            "--l2 and --l1 must be zero or positive, got {} and {}",
            f.l2, f.l1
        ));
    }
    let mut opt: Box<dyn Optimizer> = match f.optimizer {
        OptArg::Sgd => Box::new(Sgd::new(lr)),
        OptArg::Momentum => Box::new(Momentum::new(lr, 0.9)),
        OptArg::Adam => Box::new(Adam::new(lr)),
    };
    let cfg = TrainConfig {
        schedule: f
            .epochs
            .map_or(Schedule::Iterations(f.iters), Schedule::Epochs),
        batch_size: f.batch_size,
        seed: f.seed,
        l2: f.l2,
        l1: f.l1,
        log_every: f.log_every,
        ..Default::default()
    };
    let json = f.data.json;
    let start = Instant::now();
    let hist = train(&mut lin, opt.as_mut(), &tr, va.as_ref(), &cfg, |p| {
        if !json {
            let v = p
                .valid
                .map_or(String::new(), |v| format!(", valid MSE {}", tape::fmt_g(v)));
            println!(
                "iteration {:>7}: loss {}{v}",
                p.iteration,
                tape::fmt_g(p.loss)
            );
        }
    })
    .map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    let closed = least_squares(&tr, f.l2, Solver::Qr).map_err(|e| format!("closed form: {e}"))?;
    let back = |w: &[f64], b: f64| {
        scaler
            .as_ref()
            .map_or((w.to_vec(), b), |s| s.to_original(w, b))
    };
    let (w, b) = back(&lin.weights(), lin.bias());
    let (cw, cb) = back(&closed.0, closed.1);
    let sets: Vec<(&str, &Dataset)> = [
        ("train", Some(&tr)),
        ("valid", va.as_ref()),
        ("test", te.as_ref()),
    ]
    .into_iter()
    .filter_map(|(n, d)| d.map(|d| (n, d)))
    .collect();
    let names: Vec<String> = tr
        .features
        .iter()
        .cloned()
        .chain(["(intercept)".to_string()])
        .collect();
    if json {
        let coef = |v: &[f64], b: f64| {
            names
                .iter()
                .zip(v.iter().chain([&b]))
                .map(|(n, x)| format!("{:?}: {x:?}", n))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let metr = sets
            .iter()
            .map(|(n, d)| {
                let m = metrics(&lin.predict(&d.x), &d.y);
                format!(
                    "{n:?}: {{\"mse\": {:?}, \"rmse\": {:?}, \"mae\": {:?}, \"r2\": {:?}}}",
                    m.mse, m.rmse, m.mae, m.r2
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "{{\"parameters\": {{{}}}, \"closed_form\": {{{}}}, \"metrics\": {{{metr}}}, \"iterations\": {}, \"learning_rate\": {lr:?}, \"optimizer\": {:?}, \"lambda_max\": {:?}, \"lambda_min\": {:?}}}",
            coef(&w, b),
            coef(&cw, cb),
            hist.iterations,
            opt.name(),
            curv.lambda_max,
            curv.lambda_min
        );
        return Ok(());
    }
    println!(
        "\n{:<14} {:>16} {:>16}",
        "coefficient", "descent", "closed form"
    );
    for (n, (a, c)) in names
        .iter()
        .zip(w.iter().chain([&b]).zip(cw.iter().chain([&cb])))
    {
        println!("{n:<14} {a:>16.6} {c:>16.6}");
    }
    println!();
    for (n, d) in &sets {
        let m = metrics(&lin.predict(&d.x), &d.y);
        println!(
            "{n:<6} MSE {:<12} RMSE {:<12} MAE {:<12} R² {}",
            tape::fmt_g(m.mse),
            tape::fmt_g(m.rmse),
            tape::fmt_g(m.mae),
            tape::fmt_g(m.r2)
        );
    }
    println!(
        "\n{} iterations of {} at lr {} ({}), {:.3} s; Hessian λmax {}, λmin {}",
        hist.iterations,
        opt.name(),
        tape::fmt_g(lr),
        if f.lr.is_some() {
            "given"
        } else {
            "best constant step 2/(λmax+λmin)"
        },
        secs,
        tape::fmt_g(curv.lambda_max),
        tape::fmt_g(curv.lambda_min)
    );
    Ok(())
}

/// Gradient of the MSE at zero parameters: by hand, reverse mode, forward mode, and
/// central differences.
fn check(d: &Data) -> Result<(), String> {
    let raw = load(d)?;
    let data = if d.standardize {
        Standardizer::fit(&raw.x).apply(&raw)
    } else {
        raw
    };
    let dim = data.dim();
    let (w0, b0) = (vec![0.0; dim], 0.0);
    let (hw, hb) = mse_gradient(&data.rows(), data.y.data(), &w0, b0);
    let lin = Linear::from_coefficients(&w0, b0);
    let tape = Tape::new();
    let p = lin.bind(&tape);
    let g = objective(&lin, &p, &data, 0.0, 0.0).backward();
    let (rw, rb) = (g.get(p["weight"]).to_vec(), g.get(p["bias"]).item());
    let y = data.y.reshape(&[data.len()]);
    let cost = |w: &[f64], b: f64| {
        let pred = data.x.matmul(&Tensor::from(w.to_vec()));
        pred.data()
            .iter()
            .zip(y.data())
            .map(|(p, y)| (p + b - y).powi(2))
            .sum::<f64>()
            / data.len() as f64
    };
    let eps = 1e-6;
    let mut rows = Vec::new();
    for j in 0..=dim {
        let mut e = vec![0.0; dim];
        let (eb, hand, rev) = if j < dim {
            e[j] = 1.0;
            (0.0, hw[j], rw[j])
        } else {
            (1.0, hb, rb)
        };
        let (_, fwd) = tape::jvp(
            |v| {
                let x = tape::Dual::constant(data.x.clone());
                x.matmul(&v[0])
                    .add(&v[1])
                    .sub(&tape::Dual::constant(y.clone()))
                    .square()
                    .mean()
            },
            &[Tensor::from(w0.clone()), Tensor::scalar(b0)],
            &[Tensor::from(e.clone()), Tensor::scalar(eb)],
        );
        let shift = |s: f64| {
            let w: Vec<f64> = w0.iter().zip(&e).map(|(w, e)| w + s * e).collect();
            cost(&w, b0 + s * eb)
        };
        let fd = (shift(eps) - shift(-eps)) / (2.0 * eps);
        let name = if j < dim {
            data.features[j].clone()
        } else {
            "(intercept)".into()
        };
        rows.push((name, hand, rev, fwd.item(), fd));
    }
    if d.json {
        let body: Vec<String> = rows
            .iter()
            .map(|(n, h, r, f, c)| format!("{n:?}: {{\"hand\": {h:?}, \"reverse\": {r:?}, \"forward\": {f:?}, \"finite_difference\": {c:?}}}"))
            .collect();
        println!("{{\"gradients\": {{{}}}}}", body.join(", "));
        return Ok(());
    }
    println!(
        "Gradient of the MSE at w = 0, b = 0 ({} rows)\n",
        data.len()
    );
    println!(
        "{:<14} {:>16} {:>16} {:>16} {:>16} {:>10}",
        "parameter", "hand", "reverse", "forward", "central diff", "max |Δ|"
    );
    for (n, h, r, f, c) in &rows {
        let worst = [(r - h).abs(), (r - f).abs(), (r - c).abs()]
            .into_iter()
            .fold(0.0, f64::max);
        println!("{n:<14} {h:>16.9} {r:>16.9} {f:>16.9} {c:>16.9} {worst:>10.1e}");
    }
    Ok(())
}

fn sweep(d: &Data, lrs: &[f64], iters: usize) -> Result<(), String> {
    let raw = load(d)?;
    let data = if d.standardize {
        Standardizer::fit(&raw.x).apply(&raw)
    } else {
        raw
    };
    let start = Linear::new(data.dim(), 1, Init::Zeros);
    let curv = curvature(&start, &data, 0.0)
        .map_err(|e| format!("cannot measure the loss's curvature: {e}"))?;
    let (cw, cb) =
        least_squares(&data, 0.0, Solver::Qr).map_err(|e| format!("closed form: {e}"))?;
    let best = metrics(
        &Linear::from_coefficients(&cw, cb).predict(&data.x),
        &data.y,
    )
    .mse;
    let mut out = Vec::new();
    for &lr in lrs {
        let mut lin = start.clone();
        let cfg = TrainConfig {
            schedule: Schedule::Iterations(iters),
            ..Default::default()
        };
        let verdict = match train(&mut lin, &mut Sgd::new(lr), &data, None, &cfg, |_| {}) {
            Ok(h) => {
                let last = *h.train.last().unwrap_or(&f64::NAN);
                if last <= best * (1.0 + 1e-6) + 1e-12 {
                    ("converged".to_string(), last)
                } else {
                    (format!("crawling ({:.2}× the optimum)", last / best), last)
                }
            }
            Err(TrainError::Diverged { iteration, .. }) => {
                (format!("diverged at iteration {iteration}"), f64::NAN)
            }
        };
        out.push((lr, verdict));
    }
    if d.json {
        let body: Vec<String> = out
            .iter()
            .map(|(lr, (v, l))| {
                format!(
                    "{{\"lr\": {lr:?}, \"result\": {v:?}, \"final_loss\": {}}}",
                    if l.is_finite() {
                        format!("{l:?}")
                    } else {
                        "null".into()
                    }
                )
            })
            .collect();
        println!(
            "{{\"max_stable_lr\": {:?}, \"best_lr\": {:?}, \"runs\": [{}]}}",
            curv.max_stable_lr(),
            curv.best_lr(),
            body.join(", ")
        );
        return Ok(());
    }
    println!(
        "largest stable learning rate 2/λmax = {}, best constant step = {}\n",
        tape::fmt_g(curv.max_stable_lr()),
        tape::fmt_g(curv.best_lr())
    );
    for (lr, (v, l)) in &out {
        let loss = if l.is_finite() {
            tape::fmt_g(*l)
        } else {
            "-".into()
        };
        println!("lr {:<10} final MSE {:<14} {v}", tape::fmt_g(*lr), loss);
    }
    Ok(())
}

/// The demo on data descent generates: the hours-studied tutorial, fitted and checked.
fn demo() -> Result<(), String> {
    let data = synthetic(100, &[1.32], 7.9, 10.0, (25.0, 70.0), 2017);
    println!("descent demo: 100 (hours studied, test score) points, generated with seed 2017\n");
    let lin = Linear::new(1, 1, Init::Zeros);
    let curv = curvature(&lin, &data, 0.0)?;
    println!(
        "Hessian of the MSE: λmax = {}, λmin = {} (condition number {:.0});\nlargest stable learning rate {}, best constant step {}\n",
        tape::fmt_g(curv.lambda_max),
        tape::fmt_g(curv.lambda_min),
        curv.condition_number(),
        tape::fmt_g(curv.max_stable_lr()),
        tape::fmt_g(curv.best_lr())
    );
    let tape = Tape::new();
    let p = lin.bind(&tape);
    let grads = objective(&lin, &p, &data, 0.0, 0.0).backward();
    let (hw, hb) = mse_gradient(&data.rows(), data.y.data(), &[0.0], 0.0);
    println!("Gradient at m = 0, b = 0:");
    println!("  {:<8} {:>16} {:>16}", "", "by hand", "backward()");
    println!(
        "  {:<8} {:>16.6} {:>16.6}",
        "dC/dm",
        hw[0],
        grads.get(p["weight"]).item()
    );
    println!(
        "  {:<8} {:>16.6} {:>16.6}\n",
        "dC/db",
        hb,
        grads.get(p["bias"]).item()
    );
    drop(grads);
    // Raw hours make the loss a long narrow valley (the condition number above): plain
    // descent crawls along it. Standardising the feature makes it round.
    let scaler = Standardizer::fit(&data.x);
    let std_data = scaler.apply(&data);
    let mut lin = Linear::new(1, 1, Init::Zeros);
    let c = curvature(&lin, &std_data, 0.0)?;
    println!(
        "Standardised hours: condition number {:.1}; training at the best step {}:",
        c.condition_number(),
        tape::fmt_g(c.best_lr())
    );
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(5),
        log_every: 1,
        ..Default::default()
    };
    let h = train(
        &mut lin,
        &mut Sgd::new(c.best_lr()),
        &std_data,
        None,
        &cfg,
        |p| {
            println!(
                "  iteration {:>4}: MSE {}",
                p.iteration,
                tape::fmt_g(p.loss)
            );
        },
    )
    .map_err(|e| e.to_string())?;
    let (w, b) = scaler.to_original(&lin.weights(), lin.bias());
    let (cw, cb) = least_squares(&data, 0.0, Solver::Qr)?;
    let m = metrics(&lin.predict(&std_data.x), &data.y);
    println!(
        "\nAfter {} iterations: score = {:.4}·hours + {:.4}   (closed form: {:.4}·hours + {:.4})",
        h.iterations, w[0], b, cw[0], cb
    );
    println!("MSE {}, R² {}", tape::fmt_g(m.mse), tape::fmt_g(m.r2));
    Ok(())
}
