//! The training loop: full-batch, mini-batch and stochastic gradient descent, with
//! divergence caught and explained by the curvature of the loss.

use crate::data::Dataset;
use crate::linear::{Bound, Model, Params};
use crate::loss::{lasso, mse, ridge};
use crate::optim::Optimizer;
use indexmap::IndexMap;
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use std::fmt;
use tape::prelude::*;

/// How long to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// This many parameter updates.
    Iterations(usize),
    /// This many passes over the training rows.
    Epochs(usize),
}

/// Everything about a training run except the model and the optimizer.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// How long to train.
    pub schedule: Schedule,
    /// Rows per update: `None` for full batch, `Some(1)` for stochastic.
    pub batch_size: Option<usize>,
    /// Seed of the shuffle before each epoch (mini-batch and stochastic).
    pub seed: u64,
    /// Full batch: stop when one update changes the objective by at most `tol·|loss|`
    /// and every parameter by at most `tol·‖θ‖∞` (both relative, so the test does not
    /// depend on the data's units). `History::converged` says whether it stopped the run.
    pub tol: Option<f64>,
    /// Ridge penalty `l2·Σw²` on the model's penalised parameters.
    pub l2: f64,
    /// Lasso penalty `l1·Σ|w|`. With [`Sgd`](crate::Sgd) or
    /// [`Momentum`](crate::Momentum) on a full batch without backtracking it is applied
    /// by its proximal map (soft-thresholding by `lr·l1` after each gradient step on the
    /// rest of the objective: ISTA, Beck & Teboulle 2009), which sets coefficients to
    /// exact zeros; otherwise by its subgradient.
    pub l1: f64,
    /// Call the callback every this many iterations (0: never).
    pub log_every: usize,
    /// Declare divergence when the full-batch loss has grown this many iterations in a
    /// row and stands above twice the best loss seen.
    pub patience: usize,
    /// Full batch only, the "bold driver" rule: a step that raised the objective (or
    /// made it NaN) is taken back and retried at half the learning rate, and each step
    /// that lowered it lets the rate grow by 10%. The loss never rises, so the run
    /// cannot diverge, and the rate finds the scale of the curvature as it changes
    /// (nonlinear models). Meant for [`Sgd`](crate::Sgd): the state of momentum and Adam
    /// is not rewound.
    pub backtrack: bool,
}

impl Default for TrainConfig {
    fn default() -> TrainConfig {
        TrainConfig {
            schedule: Schedule::Iterations(1000),
            batch_size: None,
            seed: 0,
            tol: None,
            l2: 0.0,
            l1: 0.0,
            log_every: 0,
            patience: 20,
            backtrack: false,
        }
    }
}

/// What the callback sees every `log_every` iterations.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Updates made so far.
    pub iteration: usize,
    /// Passes over the data begun so far.
    pub epoch: usize,
    /// The objective (loss plus penalties) of the last batch.
    pub loss: f64,
    /// Validation MSE, when a validation set was given.
    pub valid: Option<f64>,
    /// The parameters now.
    pub params: IndexMap<String, Tensor>,
}

/// The losses of a run.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// The objective of each update's batch, before the update: entry `k` is update
    /// `k·stride`'s. A run longer than [`History::CAP`] updates keeps every `stride`-th
    /// (the stride doubling each time the list fills), so memory stays bounded whatever
    /// the number of updates and the curve keeps its shape.
    pub train: Vec<f64>,
    /// The updates between two entries of `train` (1 until the run outgrows the cap).
    pub stride: usize,
    /// Validation MSE at each callback point and at the end: (iteration, value).
    pub valid: Vec<(usize, f64)>,
    /// Updates made.
    pub iterations: usize,
    /// True if the tolerance stopped the run.
    pub converged: bool,
}

impl History {
    /// The most entries `train` holds.
    pub const CAP: usize = 1 << 16;

    /// Records update `it`'s objective, decimating when the list is full.
    #[inline]
    fn record(&mut self, it: usize, loss: f64) {
        // Until the first decimation every update is kept: no division on the hot path.
        let stride = self.stride.max(1);
        if stride > 1 && !it.is_multiple_of(stride) {
            return;
        }
        self.train.push(loss);
        if self.train.len() >= History::CAP {
            let kept: Vec<f64> = self.train.iter().step_by(2).copied().collect();
            self.train = kept;
            self.stride = stride * 2;
        }
    }
}

/// Why training stopped early.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainError {
    /// The loss became NaN or infinite, or kept growing.
    Diverged {
        /// The update at which it was noticed (1-based).
        iteration: usize,
        /// The learning rate in use.
        lr: f64,
        /// What was seen.
        reason: String,
        /// The largest stable learning rate for plain gradient descent on this data,
        /// `2/λmax` of the loss's Hessian.
        max_stable_lr: Option<f64>,
    },
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let TrainError::Diverged {
            iteration,
            lr,
            reason,
            max_stable_lr,
        } = self;
        write!(
            f,
            "training diverged at iteration {iteration} (learning rate {lr}): {reason}"
        )?;
        if let Some(m) = max_stable_lr {
            write!(
                f,
                "; the largest stable learning rate for this data is {} (2/λmax of the loss's Hessian): \
                 try a learning rate below it, or standardise the features",
                tape::fmt_g(*m)
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for TrainError {}

/// The objective on a batch: MSE plus penalties, recorded on `tape`.
pub fn objective<'t, M: Model + ?Sized>(
    model: &M,
    p: &Bound<'t>,
    batch: &Dataset,
    l2: f64,
    l1: f64,
) -> Var<'t> {
    let tape = p.vars().next().expect("a model has parameters").tape();
    let mut loss = model.mse(
        p,
        tape.constant(batch.x.clone()),
        tape.constant(batch.y.clone()),
    );
    if l2 == 0.0 && l1 == 0.0 {
        return loss;
    }
    for name in model.penalized() {
        if l2 > 0.0 {
            loss += ridge(p[&name], l2);
        }
        if l1 > 0.0 {
            loss += lasso(p[&name], l1);
        }
    }
    loss
}

/// Backward from `loss`: its value, and the gradient of each parameter in `p` (in order)
/// written into `grads`.
fn gradients<'t>(p: &Bound<'t>, loss: Var<'t>, grads: &mut Vec<Tensor>) -> f64 {
    loss.backward_into(p.vars(), grads);
    loss.item()
}

/// Validation MSE of the model's current parameters, without recording gradients.
pub fn evaluate<M: Model + ?Sized>(model: &M, data: &Dataset) -> f64 {
    let tape = Tape::new();
    tape.no_grad(|| {
        let p = model.bind(&tape);
        mse(
            model.forward(&p, tape.constant(data.x.clone())),
            tape.constant(data.y.clone()),
        )
        .item()
    })
}

/// Trains `model` with `opt` on `train`; `on_log` runs every `log_every` iterations.
///
/// ```
/// use model::*;
/// let data = synthetic(50, &[2.0], 1.0, 0.0, (-1.0, 1.0), 3);
/// let mut lin = Linear::new(1, 1, Init::Zeros);
/// let cfg = TrainConfig { schedule: Schedule::Iterations(2000), ..Default::default() };
/// let h = train(&mut lin, &mut Sgd::new(0.5), &data, None, &cfg, |_| {}).unwrap();
/// assert!((lin.weights()[0] - 2.0).abs() < 1e-6 && h.train.len() == 2000);
/// ```
pub fn train<M: Model + ?Sized>(
    model: &mut M,
    opt: &mut dyn Optimizer,
    data: &Dataset,
    valid: Option<&Dataset>,
    cfg: &TrainConfig,
    mut on_log: impl FnMut(&Progress),
) -> Result<History, TrainError> {
    let n = data.len();
    let batch = cfg.batch_size.unwrap_or(n).clamp(1, n.max(1));
    let full_batch = batch >= n;
    let per_epoch = n.div_ceil(batch);
    let total = match cfg.schedule {
        Schedule::Iterations(k) => k,
        Schedule::Epochs(e) => e * per_epoch,
    };
    let initial = model.named_parameters().clone();
    // Mini-batches only: the generator and the row order it shuffles each epoch.
    let mut shuffle =
        (!full_batch).then(|| (StdRng::seed_from_u64(cfg.seed), (0..n).collect::<Vec<_>>()));
    let mut history = History {
        stride: 1,
        ..History::default()
    };
    // One objective a step: reserved, so that it never reallocates mid-training.
    history.train.reserve(total.min(History::CAP));
    // The objective before the last update (the history may skip it when decimated).
    let mut prev_loss: Option<f64> = None;
    let mut tape = Tape::new();
    // A full batch with a static graph is recorded once, on its own tape, and given
    // each step's parameters by `set_values` (see `Model::graph_is_static`).
    let fixed = Tape::new();
    let mut recorded: Option<(Bound, Var)> = None;
    let replay = full_batch && model.graph_is_static();
    let mut growing = 0;
    let mut best = f64::INFINITY;
    let proximal =
        cfg.l1 > 0.0 && full_batch && !cfg.backtrack && matches!(opt.name(), "sgd" | "momentum");
    let l1_in_graph = if proximal { 0.0 } else { cfg.l1 };
    let penalized = if proximal {
        model.penalized()
    } else {
        Vec::new()
    };
    let l1_value = |m: &M| -> f64 {
        let p = m.named_parameters();
        penalized
            .iter()
            .filter_map(|k| p.get(k))
            .flat_map(|t| t.data().iter().map(|v| v.abs()))
            .sum::<f64>()
            * cfg.l1
    };
    // The parameters before the last update, for the tolerance's parameter test.
    let mut previous: Option<Params> = None;
    // Backtracking: the parameters, objective and gradient before the last step.
    let mut before: Option<(Params, f64, Vec<Tensor>)> = None;
    // This step's gradients, one per parameter (the list is reused from step to step).
    let mut grads: Vec<Tensor> = Vec::new();
    for it in 0..total {
        let (epoch, k) = (it / per_epoch, it % per_epoch);
        let rows = shuffle.as_mut().map(|(rng, order)| {
            if k == 0 {
                order.shuffle(rng);
            }
            data.select(&order[k * batch..((k + 1) * batch).min(n)])
        });
        let loss = if replay {
            let (p, loss) = match &recorded {
                Some((p, loss)) => {
                    fixed.set_values(p.vars().zip(model.named_parameters().values()));
                    (p, *loss)
                }
                None => {
                    let p = model.bind(&fixed);
                    let loss = objective(&*model, &p, data, cfg.l2, l1_in_graph);
                    let (p, loss) = recorded.insert((p, loss));
                    (&*p, *loss)
                }
            };
            gradients(p, loss, &mut grads)
        } else {
            let loss = {
                let p = model.bind(&tape);
                let loss = objective(
                    &*model,
                    &p,
                    rows.as_ref().unwrap_or(data),
                    cfg.l2,
                    l1_in_graph,
                );
                gradients(&p, loss, &mut grads)
            };
            tape.clear();
            loss
        };
        let loss = if proximal {
            loss + l1_value(&*model)
        } else {
            loss
        };
        if cfg.backtrack && full_batch {
            match before.take() {
                // Rounding may lift a converged loss by an ulp or so; that is not uphill.
                // A NaN loss is uphill.
                Some((params, prev, grads))
                    if loss.is_nan() || loss > prev + 1e-12 * prev.abs() =>
                {
                    // The last step went uphill: take it back and step again, shorter.
                    *model.named_parameters_mut() = params.clone();
                    opt.set_lr(opt.lr() / 2.0);
                    opt.step(model.named_parameters_mut(), &grads);
                    before = Some((params, prev, grads));
                    history.iterations = it + 1;
                    continue;
                }
                last => {
                    if last.is_some() {
                        opt.set_lr(opt.lr() * 1.1);
                    }
                    before = Some((model.named_parameters().clone(), loss, grads.clone()))
                }
            }
        }
        // Curvature at the starting point: the diverged parameters may be NaN.
        let diverged = |reason: String| {
            let max_stable_lr = curvature_at(&*model, &initial, data, cfg.l2)
                .ok()
                .map(|c| c.max_stable_lr());
            TrainError::Diverged {
                iteration: it + 1,
                lr: opt.lr(),
                reason,
                max_stable_lr,
            }
        };
        if !loss.is_finite() {
            let what = if loss.is_nan() { "NaN" } else { "infinite" };
            return Err(diverged(format!("the loss became {what}")));
        }
        if let Some(prev) = prev_loss {
            // Growing alone is not divergence: Adam and momentum wander up and down at
            // the noise floor. Divergence grows without stopping, past twice the best.
            best = best.min(prev);
            if full_batch && loss > prev {
                growing += 1;
                if growing >= cfg.patience && loss > 2.0 * best {
                    return Err(diverged(format!(
                        "the loss grew {growing} iterations in a row, to {}",
                        tape::fmt_g(loss)
                    )));
                }
            } else {
                growing = 0;
            }
            if let (Some(tol), true, Some(before)) = (cfg.tol, full_batch, &previous) {
                if (prev - loss).abs() <= tol * loss.abs()
                    && relative_change(before, model.named_parameters()) <= tol
                {
                    history.record(it, loss);
                    history.converged = true;
                    break;
                }
            }
        }
        history.record(it, loss);
        prev_loss = Some(loss);
        if cfg.tol.is_some() && full_batch {
            previous = Some(model.named_parameters().clone());
        }
        opt.step(model.named_parameters_mut(), &grads);
        if proximal {
            let t = opt.lr() * cfg.l1;
            let params = model.named_parameters_mut();
            for k in &penalized {
                if let Some(w) = params.get_mut(k) {
                    for v in w.data_mut() {
                        // soft-threshold: the proximal map of t·|v|
                        *v = v.signum() * (v.abs() - t).max(0.0);
                    }
                }
            }
        }
        history.iterations = it + 1;
        if cfg.log_every > 0 && (it + 1) % cfg.log_every == 0 {
            let v = valid.map(|v| evaluate(&*model, v));
            if let Some(v) = v {
                history.valid.push((it + 1, v));
            }
            on_log(&Progress {
                iteration: it + 1,
                epoch: epoch + 1,
                loss,
                valid: v,
                params: model.named_parameters().clone(),
            });
        }
    }
    if let Some(v) = valid {
        history
            .valid
            .push((history.iterations, evaluate(&*model, v)));
    }
    Ok(history)
}

/// `max |θ − θ'| / max |θ|` over every parameter entry (0 when nothing moved).
fn relative_change(before: &Params, now: &Params) -> f64 {
    let (mut d, mut m) = (0.0f64, 0.0f64);
    for (a, b) in before.values().zip(now.values()) {
        for (x, y) in a.data().iter().zip(b.data()) {
            d = d.max((x - y).abs());
            m = m.max(y.abs());
        }
    }
    if d == 0.0 {
        0.0
    } else {
        d / m
    }
}

/// The extreme eigenvalues of the Hessian of the objective in all parameters jointly.
/// For MSE of a linear model it is `(2/n)·[X 1]ᵀ[X 1]` (plus `2·l2` on the weights),
/// the same at every point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Curvature {
    /// Largest eigenvalue.
    pub lambda_max: f64,
    /// Smallest eigenvalue.
    pub lambda_min: f64,
}

impl Curvature {
    /// `2/λmax`: plain gradient descent on a quadratic converges exactly below this.
    pub fn max_stable_lr(&self) -> f64 {
        2.0 / self.lambda_max
    }
    /// `1/λmax`: the step that settles the steepest direction of a quadratic loss in one
    /// iteration and shrinks every other direction monotonically; the program's default.
    /// On ill-conditioned data it lowers the loss far faster than [`Curvature::best_lr`],
    /// which makes the steepest direction oscillate at a rate of nearly 1.
    pub fn safe_lr(&self) -> f64 {
        1.0 / self.lambda_max
    }
    /// `2/(λmax + λmin)`: the constant step with the fastest worst-case convergence of
    /// the parameters.
    pub fn best_lr(&self) -> f64 {
        2.0 / (self.lambda_max + self.lambda_min)
    }
    /// `λmax/λmin`: how many times slower the flattest direction converges.
    pub fn condition_number(&self) -> f64 {
        self.lambda_max / self.lambda_min
    }

    /// The curvature of `mean((A·θ − y)²) + l2·Σ_{penalised} θ²` from the Gram matrix
    /// `G = AᵀA` of its design: the Hessian is `(2/n)·G + 2·l2·diag(penalised)`, the same
    /// at every point, and its extreme eigenvalues come from a symmetric eigen-solver
    /// (O(p³) once; no Hessian-vector products).
    ///
    /// ```
    /// use model::Curvature;
    /// // A = [x 1] with x = (0, 1): G = [[1, 1], [1, 2]], H = G, eigenvalues (3 ± √5)/2.
    /// let c = Curvature::from_gram(&[vec![1.0, 1.0], vec![1.0, 2.0]], 2, 0.0, &[true, false]);
    /// assert!((c.lambda_max - (3.0 + 5f64.sqrt()) / 2.0).abs() < 1e-14);
    /// ```
    pub fn from_gram(gram: &[Vec<f64>], n: usize, l2: f64, penalised: &[bool]) -> Curvature {
        let scale = 2.0 / n as f64;
        let h: Vec<Vec<f64>> = gram
            .iter()
            .enumerate()
            .map(|(i, row)| {
                row.iter()
                    .enumerate()
                    .map(|(j, g)| {
                        scale * g
                            + if i == j && penalised[i] {
                                2.0 * l2
                            } else {
                                0.0
                            }
                    })
                    .collect()
            })
            .collect();
        let e = crate::eigen::symmetric_eigenvalues(h);
        Curvature {
            lambda_max: e.last().copied().unwrap_or(0.0),
            lambda_min: e.first().copied().unwrap_or(0.0),
        }
    }
}

/// λmax and λmin of the objective's Hessian at the model's current parameters, by power
/// iteration on Hessian-vector products from the tape (reverse over reverse); λmin by
/// power iteration on `λmax·I − H`. The Hessian is never formed.
///
/// ```
/// use model::*;
/// // One feature x ∈ {0, 1}: H = (2/2)·[[1, 1], [1, 2]], eigenvalues (3 ± √5)/2.
/// let d = Dataset::from_rows(&[vec![0.0], vec![1.0]], &[0.0, 1.0]);
/// let c = curvature(&Linear::new(1, 1, Init::Zeros), &d, 0.0).unwrap();
/// assert!((c.lambda_max - (3.0 + 5f64.sqrt()) / 2.0).abs() < 1e-9);
/// assert!((c.lambda_min - (3.0 - 5f64.sqrt()) / 2.0).abs() < 1e-9);
/// ```
pub fn curvature<M: Model + ?Sized>(
    model: &M,
    data: &Dataset,
    l2: f64,
) -> Result<Curvature, String> {
    curvature_at(model, model.named_parameters(), data, l2)
}

/// [`curvature`] at the parameters `at` instead of the model's own.
pub fn curvature_at<M: Model + ?Sized>(
    model: &M,
    at: &Params,
    data: &Dataset,
    l2: f64,
) -> Result<Curvature, String> {
    let point: Vec<Tensor> = at.values().cloned().collect();
    let hv = |v: &[Tensor]| -> Vec<Tensor> {
        let tape = Tape::new();
        let p = Bound::new(&tape, at);
        let vars: Vec<Var> = p.vars().collect();
        tape.hvp(objective(model, &p, data, l2, 0.0), &vars, v)
    };
    let dot = |a: &[Tensor], b: &[Tensor]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(a, b)| {
                a.data()
                    .iter()
                    .zip(b.data())
                    .map(|(x, y)| x * y)
                    .sum::<f64>()
            })
            .sum()
    };
    let normalize = |v: Vec<Tensor>| -> Vec<Tensor> {
        let norm = dot(&v, &v).sqrt();
        v.iter().map(|t| t.map(|x| x / norm)).collect()
    };
    // Few parameters: the whole Hessian, one HVP per unit vector, and its eigenvalues
    // exactly. Many: power iteration, which never forms the matrix.
    let p: usize = point.iter().map(Tensor::numel).sum();
    if p <= 256 {
        let unit = |k: usize| -> Vec<Tensor> {
            let mut seen = 0;
            point
                .iter()
                .map(|t| {
                    let v: Vec<f64> = (0..t.numel()).map(|i| f64::from(seen + i == k)).collect();
                    seen += t.numel();
                    Tensor::new(v, t.shape())
                })
                .collect()
        };
        let mut h: Vec<Vec<f64>> = (0..p)
            .map(|k| hv(&unit(k)).iter().flat_map(Tensor::to_vec).collect())
            .collect();
        if h.iter().flatten().any(|x| !x.is_finite()) {
            return Err("the Hessian is not finite".into());
        }
        // Symmetrise away rounding: H is symmetric in exact arithmetic.
        for a in 0..p {
            for b in 0..a {
                let m = 0.5 * (h[a][b] + h[b][a]);
                h[a][b] = m;
                h[b][a] = m;
            }
        }
        let eig = crate::eigen::symmetric_eigenvalues(h);
        return Ok(Curvature {
            lambda_max: eig.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            lambda_min: eig.iter().copied().fold(f64::INFINITY, f64::min),
        });
    }
    // Power iteration for the dominant eigenvalue of v ↦ shift·v − H·v (shift 0: H).
    let power = |shift: f64, sign: f64| -> Result<f64, String> {
        let mut v = normalize(
            point
                .iter()
                .enumerate()
                .map(|(i, t)| Tensor::randn(t.shape(), 7 + i as u64))
                .collect(),
        );
        let mut lambda = f64::NAN;
        for _ in 0..5_000 {
            let hv = hv(&v);
            let w: Vec<Tensor> = v
                .iter()
                .zip(&hv)
                .map(|(v, h)| v.zip_with(h, "power", |v, h| shift * v + sign * h))
                .collect();
            let next = dot(&v, &w);
            if !next.is_finite() {
                return Err("the Hessian-vector product is not finite".into());
            }
            if dot(&w, &w) == 0.0 {
                return Ok(0.0);
            }
            let done = (next - lambda).abs() <= 1e-12 * next.abs().max(1e-300);
            lambda = next;
            v = normalize(w);
            if done {
                break;
            }
        }
        Ok(lambda)
    };
    let lambda_max = power(0.0, 1.0)?;
    let lambda_min = lambda_max - power(lambda_max, -1.0)?;
    Ok(Curvature {
        lambda_max,
        lambda_min,
    })
}
