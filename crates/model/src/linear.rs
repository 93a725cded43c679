//! Models whose parameters live outside the tape between steps, and `Linear`.

use indexmap::IndexMap;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use smallvec::SmallVec;
use tape::prelude::*;

/// Parameters by name, in insertion order, as PyTorch's `named_parameters()`.
pub type Params = IndexMap<String, Tensor>;

/// Parameters bound to one tape for one step: each name with its value on the tape, in
/// the model's order.
///
/// A step binds every parameter, so binding must cost next to nothing: names of up to
/// 24 bytes and up to four parameters live inline (no allocation), and lookup by name is
/// a linear scan, faster than hashing for the few parameters a model has.
///
/// ```
/// use model::Bound;
/// use tape::prelude::*;
/// let tape = Tape::new();
/// let p: Bound = [("m", tape.param(0.9)), ("b", tape.param(0.1))].into_iter().collect();
/// assert_eq!(p["b"].item(), 0.1);
/// assert_eq!(p.names().collect::<Vec<_>>(), ["m", "b"]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Bound<'t> {
    entries: SmallVec<[(Name, Var<'t>); 4]>,
}

/// A parameter's name, inline when short.
type Name = SmallVec<[u8; 24]>;

impl<'t> Bound<'t> {
    /// Every parameter of `params` put on `tape` as a value that requires gradients, in
    /// order.
    ///
    /// ```
    /// use model::{Bound, Params};
    /// use tape::prelude::*;
    /// let mut params = Params::new();
    /// params.insert("w".into(), Tensor::from([1.0, 2.0]));
    /// let tape = Tape::new();
    /// let p = Bound::new(&tape, &params);
    /// assert!(p["w"].requires_grad());
    /// ```
    pub fn new(tape: &'t Tape, params: &Params) -> Bound<'t> {
        params
            .iter()
            .map(|(k, v)| (k.as_str(), tape.param(v.clone())))
            .collect()
    }

    /// The value bound to `name`, if the model has such a parameter.
    pub fn get(&self, name: &str) -> Option<Var<'t>> {
        self.find(name).copied()
    }

    fn find(&self, name: &str) -> Option<&Var<'t>> {
        let name = name.as_bytes();
        self.entries.iter().find(|e| e.0[..] == *name).map(|e| &e.1)
    }
    /// The values, in the model's order of parameters.
    pub fn vars(&self) -> impl Iterator<Item = Var<'t>> + Clone + '_ {
        self.entries.iter().map(|e| e.1)
    }
    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries
            .iter()
            .map(|e| std::str::from_utf8(&e.0).expect("made from a str"))
    }
    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// True when nothing is bound.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'t, 'a> FromIterator<(&'a str, Var<'t>)> for Bound<'t> {
    fn from_iter<I: IntoIterator<Item = (&'a str, Var<'t>)>>(it: I) -> Bound<'t> {
        Bound {
            entries: it
                .into_iter()
                .map(|(k, v)| (Name::from_slice(k.as_bytes()), v))
                .collect(),
        }
    }
}

impl<'t> std::ops::Index<&str> for Bound<'t> {
    type Output = Var<'t>;
    #[track_caller]
    fn index(&self, name: &str) -> &Var<'t> {
        match self.find(name) {
            Some(v) => v,
            None => panic!(
                "no parameter named {name:?}; the model has {:?}",
                self.names().collect::<Vec<_>>()
            ),
        }
    }
}

/// A model trained by gradient descent: named parameters, and a forward pass on a tape.
///
/// Parameters are plain tensors between steps. Each step binds them to a fresh (or
/// cleared) tape with [`Model::bind`], so the tape only ever holds one step's graph; or,
/// for a full batch and a model whose graph does not depend on values
/// ([`Model::graph_is_static`]), `train` binds them once and gives that one graph each
/// step's values with [`Tape::set_values`].
pub trait Model {
    /// The parameters by name, in order.
    fn named_parameters(&self) -> &Params;
    /// Mutable parameters, for optimizers.
    fn named_parameters_mut(&mut self) -> &mut Params;
    /// The prediction for the rows of `x`, from parameters bound to `x`'s tape.
    fn forward<'t>(&self, params: &Bound<'t>, x: Var<'t>) -> Var<'t>;
    /// The mean squared error of the prediction for `x` against `y` (`[n, 1]`). Models
    /// with a fused path override it; the value and gradients are the same.
    fn mse<'t>(&self, params: &Bound<'t>, x: Var<'t>, y: Var<'t>) -> Var<'t> {
        crate::loss::mse(self.forward(params, x), y)
    }
    /// The parameters a ridge or lasso penalty applies to (all but biases, by default).
    fn penalized(&self) -> Vec<String> {
        self.named_parameters()
            .keys()
            .filter(|k| !k.contains("bias"))
            .cloned()
            .collect()
    }
    /// True if [`Model::mse`] records the same ops whatever the parameters' values: no
    /// branch on a value, no `detach` or `map_const` of a parameter. Full-batch
    /// [`train`](crate::train()) then records its objective once and gives it each step's
    /// parameters with [`Tape::set_values`] instead of recording it again (the results
    /// are the same to the bit; only the time differs). False unless a model says so, as
    /// tracing a graph whose shape depends on values would train the wrong model.
    ///
    /// ```
    /// use model::{Init, Linear, Model};
    /// assert!(Linear::new(2, 1, Init::Zeros).graph_is_static());
    /// ```
    fn graph_is_static(&self) -> bool {
        false
    }
    /// Puts every parameter on `tape` as a value that requires gradients.
    fn bind<'t>(&self, tape: &'t Tape) -> Bound<'t> {
        Bound::new(tape, self.named_parameters())
    }
}

/// How `Linear` starts its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// Every weight and bias 0, as the tutorials start.
    Zeros,
    /// Every weight and bias the same value.
    Constant(f64),
    /// U(−√(1/fan_in), √(1/fan_in)) with a seed, as PyTorch's `nn.Linear`.
    Uniform(u64),
    /// N(0, 1/fan_in) with a seed.
    Normal(u64),
}

/// `y = X·W + b`: `weight` is `[in, out]`, `bias` is `[out]`.
///
/// ```
/// use model::{Init, Linear, Model};
/// use tape::prelude::*;
/// let lin = Linear::new(2, 1, Init::Constant(0.5));
/// let tape = Tape::new();
/// let p = lin.bind(&tape);
/// let y = lin.forward(&p, tape.constant([[1.0, 2.0]]));
/// assert_eq!(y.value().to_vec(), vec![2.0]);
/// assert_eq!(lin.named_parameters().keys().collect::<Vec<_>>(), ["weight", "bias"]);
/// ```
#[derive(Clone, Debug)]
pub struct Linear {
    params: Params,
}

impl Linear {
    /// A linear map from `in_features` to `out_features`.
    pub fn new(in_features: usize, out_features: usize, init: Init) -> Linear {
        let (wn, bn) = (in_features * out_features, out_features);
        let bound = (1.0 / in_features.max(1) as f64).sqrt();
        let values = |n: usize, salt: u64| -> Vec<f64> {
            match init {
                Init::Zeros => vec![0.0; n],
                Init::Constant(c) => vec![c; n],
                Init::Uniform(seed) => {
                    let mut rng = StdRng::seed_from_u64(seed ^ salt);
                    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
                }
                Init::Normal(seed) => {
                    let mut rng = StdRng::seed_from_u64(seed ^ salt);
                    let normal = Normal::new(0.0, bound).expect("positive std");
                    (0..n).map(|_| normal.sample(&mut rng)).collect()
                }
            }
        };
        let mut params = Params::new();
        params.insert(
            "weight".into(),
            Tensor::new(values(wn, 0), &[in_features, out_features]),
        );
        params.insert(
            "bias".into(),
            Tensor::new(values(bn, 0x9e37_79b9), &[out_features]),
        );
        Linear { params }
    }

    /// A single-output linear model with the given weights and bias.
    ///
    /// ```
    /// let lin = model::Linear::from_coefficients(&[0.9], 0.1);
    /// assert_eq!(lin.bias(), 0.1);
    /// ```
    pub fn from_coefficients(weights: &[f64], bias: f64) -> Linear {
        let mut params = Params::new();
        params.insert(
            "weight".into(),
            Tensor::new(weights.to_vec(), &[weights.len(), 1]),
        );
        params.insert("bias".into(), Tensor::new(vec![bias], &[1]));
        Linear { params }
    }

    /// A single-output linear model through the origin, `y = X·w`: no bias parameter.
    ///
    /// ```
    /// use model::{Linear, Model};
    /// let lin = model::Linear::without_intercept(&[2.0]);
    /// assert_eq!(lin.bias(), 0.0);
    /// assert_eq!(lin.named_parameters().keys().collect::<Vec<_>>(), ["weight"]);
    /// ```
    pub fn without_intercept(weights: &[f64]) -> Linear {
        let mut params = Params::new();
        params.insert(
            "weight".into(),
            Tensor::new(weights.to_vec(), &[weights.len(), 1]),
        );
        Linear { params }
    }

    /// True if the model has a bias.
    pub fn has_intercept(&self) -> bool {
        self.params.contains_key("bias")
    }

    /// The weights as a flat vector (column-major over outputs for one output).
    pub fn weights(&self) -> Vec<f64> {
        self.params["weight"].to_vec()
    }

    /// The first output's bias (0 for a model without one).
    pub fn bias(&self) -> f64 {
        self.params.get("bias").map_or(0.0, |b| b.data()[0])
    }

    /// Predictions for the rows of `x` (`[n, in]`), without a tape.
    pub fn predict(&self, x: &Tensor) -> Tensor {
        let xw = x.matmul(&self.params["weight"]);
        match self.params.get("bias") {
            Some(b) => xw.zip_with(b, "add", |a, b| a + b),
            None => xw,
        }
    }
}

impl Model for Linear {
    fn named_parameters(&self) -> &Params {
        &self.params
    }
    fn graph_is_static(&self) -> bool {
        true // the fused op or matmul and add, chosen by shapes alone
    }
    fn named_parameters_mut(&mut self) -> &mut Params {
        &mut self.params
    }
    fn forward<'t>(&self, p: &Bound<'t>, x: Var<'t>) -> Var<'t> {
        match p.get("bias") {
            Some(b) => x.matmul(&p["weight"]) + b,
            None => x.matmul(&p["weight"]),
        }
    }
    /// One output: the fused `linear_mse` op, one pass over `x` per step.
    fn mse<'t>(&self, p: &Bound<'t>, x: Var<'t>, y: Var<'t>) -> Var<'t> {
        let w = p["weight"];
        // Without a bias, the fused op takes a constant 0 in its place.
        let b = p
            .get("bias")
            .unwrap_or_else(|| x.tape().constant(Tensor::new(vec![0.0], &[1])));
        let (ws, bs) = (w.shape(), b.shape());
        if ws.len() == 2 && ws[1] == 1 && bs[..] == [1] && !x.requires_grad() {
            tape::linear_mse(x, w, b, y)
        } else {
            crate::loss::mse(self.forward(p, x), y)
        }
    }
}
