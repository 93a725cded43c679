//! Optimizers: plain SGD (the tutorials' update), SGD with momentum, and Adam.
//!
//! `step` takes the gradients of this step explicitly, one per parameter in the model's
//! order. descent's `backward()` returns a fresh gradient set each time, so there is
//! nothing to zero: `step(params, grads)` is the whole of `torch.optim`'s
//! `zero_grad(); backward(); step()`.

use crate::linear::Params;
use tape::Tensor;

/// An update rule for named parameters.
pub trait Optimizer {
    /// Moves each parameter against its gradient: `grads[i]` belongs to the `i`-th
    /// parameter of `params`, as PyTorch's optimizers pair `params` with their `.grad`.
    fn step(&mut self, params: &mut Params, grads: &[Tensor]);
    /// The learning rate.
    fn lr(&self) -> f64;
    /// Changes the learning rate (backtracking halves it).
    fn set_lr(&mut self, lr: f64);
    /// A short name for reports.
    fn name(&self) -> &'static str;
}

fn update(p: &mut Tensor, f: impl Fn(usize, f64) -> f64) {
    for (i, x) in p.data_mut().iter_mut().enumerate() {
        *x = f(i, *x);
    }
}

/// `θ ← θ − lr·g`.
///
/// ```
/// use model::{Optimizer, Params, Sgd};
/// let mut p = Params::new();
/// p.insert("m".into(), tape::Tensor::scalar(1.0));
/// Sgd::new(0.1).step(&mut p, &[tape::Tensor::scalar(2.0)]);
/// assert_eq!(p["m"].item(), 0.8);
/// ```
#[derive(Clone, Debug)]
pub struct Sgd {
    lr: f64,
}

impl Sgd {
    /// Plain gradient descent at learning rate `lr`.
    pub fn new(lr: f64) -> Sgd {
        Sgd { lr }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, params: &mut Params, grads: &[Tensor]) {
        for (p, g) in params.values_mut().zip(grads) {
            let (p, g) = (p.data_mut(), g.data());
            assert_eq!(p.len(), g.len(), "Sgd::step: a gradient of the wrong size");
            for (x, g) in p.iter_mut().zip(g) {
                *x -= self.lr * g;
            }
        }
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn name(&self) -> &'static str {
        "sgd"
    }
}

/// `v ← β·v + g; θ ← θ − lr·v` (PyTorch's SGD with momentum, no dampening).
#[derive(Clone, Debug)]
pub struct Momentum {
    lr: f64,
    beta: f64,
    velocity: Vec<Tensor>,
}

impl Momentum {
    /// Momentum SGD; `beta` 0.9 is the usual choice.
    ///
    /// ```
    /// let opt = model::Momentum::new(0.01, 0.9);
    /// assert_eq!(model::Optimizer::lr(&opt), 0.01);
    /// ```
    pub fn new(lr: f64, beta: f64) -> Momentum {
        Momentum {
            lr,
            beta,
            velocity: Vec::new(),
        }
    }
}

impl Optimizer for Momentum {
    fn step(&mut self, params: &mut Params, grads: &[Tensor]) {
        if self.velocity.is_empty() {
            self.velocity = params.values().map(|p| Tensor::zeros(p.shape())).collect();
        }
        for ((p, g), v) in params.values_mut().zip(grads).zip(&mut self.velocity) {
            let g = g.data();
            update(v, |i, v| self.beta * v + g[i]);
            let v = v.data();
            update(p, |i, x| x - self.lr * v[i]);
        }
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn name(&self) -> &'static str {
        "momentum"
    }
}

/// Adam (Kingma & Ba), with bias correction, as `torch.optim.Adam`.
#[derive(Clone, Debug)]
pub struct Adam {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    t: i32,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl Adam {
    /// Adam with β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
    ///
    /// ```
    /// let opt = model::Adam::new(0.1);
    /// assert_eq!(model::Optimizer::name(&opt), "adam");
    /// ```
    pub fn new(lr: f64) -> Adam {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }
}

impl Optimizer for Adam {
    fn step(&mut self, params: &mut Params, grads: &[Tensor]) {
        self.t += 1;
        let (c1, c2) = (1.0 - self.beta1.powi(self.t), 1.0 - self.beta2.powi(self.t));
        if self.m.is_empty() {
            self.m = params.values().map(|p| Tensor::zeros(p.shape())).collect();
            self.v = self.m.clone();
        }
        let state = self.m.iter_mut().zip(&mut self.v);
        for ((p, g), (m, v)) in params.values_mut().zip(grads).zip(state) {
            let g = g.data();
            update(m, |i, m| self.beta1 * m + (1.0 - self.beta1) * g[i]);
            update(v, |i, v| self.beta2 * v + (1.0 - self.beta2) * g[i] * g[i]);
            let (m, v) = (m.data(), v.data());
            update(p, |i, x| {
                x - self.lr * (m[i] / c1) / ((v[i] / c2).sqrt() + self.eps)
            });
        }
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn name(&self) -> &'static str {
        "adam"
    }
}
