//! Whole-function derivatives, as `torch.autograd.functional` and `gradcheck`:
//! Jacobian-vector products (forward mode), Hessian-vector products and Hessians
//! (reverse over reverse), and a finite-difference check of reverse mode.

use crate::algebra::Algebra;
use crate::dual::Dual;
use crate::tensor::Tensor;
use crate::{Tape, Var};

/// Forward mode: `f(x)` and the directional derivative `J_f(x)·v`, by dual numbers.
///
/// ```
/// use tape::{jvp, Algebra, Tensor};
/// let (y, dy) = jvp(|x| x[0].mul(&x[0]).sum(), &[Tensor::from([1.0, 2.0])], &[Tensor::from([1.0, 0.0])]);
/// assert_eq!((y.item(), dy.item()), (5.0, 2.0));
/// ```
#[track_caller]
pub fn jvp(f: impl Fn(&[Dual]) -> Dual, x: &[Tensor], v: &[Tensor]) -> (Tensor, Tensor) {
    assert_eq!(
        x.len(),
        v.len(),
        "jvp: {} inputs but {} directions",
        x.len(),
        v.len()
    );
    let duals: Vec<Dual> = x
        .iter()
        .zip(v)
        .map(|(x, v)| Dual::new(x.clone(), v.clone()))
        .collect();
    let y = f(&duals);
    (y.value, y.tangent)
}

/// Hessian-vector products: `H·v` for a scalar function of several inputs, where `H` is
/// the Hessian with respect to all of them jointly. One recorded backward pass and one
/// plain one; the Hessian itself is never formed.
///
/// ```
/// use tape::{hvp, Algebra, Tensor};
/// // f(x) = Σ x³ has H = diag(6x).
/// let hv = hvp(|x| x[0].powi(3).sum(), &[Tensor::from([1.0, 2.0])], &[Tensor::from([1.0, 1.0])]);
/// assert_eq!(hv[0].to_vec(), vec![6.0, 12.0]);
/// ```
#[track_caller]
pub fn hvp(f: impl for<'t> Fn(&[Var<'t>]) -> Var<'t>, x: &[Tensor], v: &[Tensor]) -> Vec<Tensor> {
    assert_eq!(
        x.len(),
        v.len(),
        "hvp: {} inputs but {} directions",
        x.len(),
        v.len()
    );
    let tape = Tape::new();
    let xs: Vec<Var> = x.iter().map(|x| tape.param(x.clone())).collect();
    tape.hvp(f(&xs), &xs, v)
}

impl Tape {
    /// `H·v` for the recorded scalar `y`, where `H` is its Hessian with respect to the
    /// values `wrt` jointly: the form of [`hvp`] for a graph already on a tape.
    ///
    /// ```
    /// use tape::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.param(Tensor::from([1.0, 2.0]));
    /// let hv = tape.hvp(x.powi(3).sum(), &[x], &[Tensor::from([1.0, 1.0])]);
    /// assert_eq!(hv[0].to_vec(), vec![6.0, 12.0]);
    /// ```
    #[track_caller]
    pub fn hvp<'t>(&'t self, y: Var<'t>, wrt: &[Var<'t>], v: &[Tensor]) -> Vec<Tensor> {
        assert_eq!(
            wrt.len(),
            v.len(),
            "hvp: {} inputs but {} directions",
            wrt.len(),
            v.len()
        );
        let g = self.grad(y, wrt, true);
        let mut gv = self.constant(0.0);
        for (g, v) in g.iter().zip(v) {
            gv += g.mul(&self.constant(v.clone())).sum();
        }
        self.grad(gv, wrt, false)
            .iter()
            .map(|h| h.value())
            .collect()
    }
}

/// The full Hessian of a scalar function of one vector, as an `n×n` tensor.
///
/// ```
/// use tape::{hessian, Algebra, Tensor};
/// // f(x, y) = x²y: H = [[2y, 2x], [2x, 0]]
/// let h = hessian(|v| v.powi(2).mul(&v.reshape(&[2, 1]).sum_axis(1, false)).sum(), &Tensor::from([1.0, 3.0]));
/// assert_eq!(h.shape(), &[2, 2]);
/// ```
#[track_caller]
pub fn hessian(f: impl for<'t> Fn(Var<'t>) -> Var<'t>, x: &Tensor) -> Tensor {
    assert_eq!(
        x.rank(),
        1,
        "hessian: expects a vector, got shape {:?}",
        x.shape()
    );
    let n = x.numel();
    let tape = Tape::new();
    let xv = tape.param(x.clone());
    let g = tape.grad(f(xv), &[xv], true)[0];
    let mut rows = Vec::with_capacity(n * n);
    for i in 0..n {
        let mut e = vec![0.0; n];
        e[i] = 1.0;
        let gi = g.mul(&tape.constant(e)).sum();
        rows.extend(tape.grad(gi, &[xv], false)[0].value().data());
    }
    Tensor::new(rows, &[n, n])
}

/// The Jacobian of a vector function of one vector, `J[i][j] = ∂f_i/∂x_j`, as an `m×n`
/// tensor: one reverse pass per output (as `torch.autograd.functional.jacobian`).
///
/// ```
/// use tape::{jacobian, Algebra, Tensor};
/// // f(x) = x²: J = diag(2x)
/// let j = jacobian(|v| v.square(), &Tensor::from([1.0, 3.0]));
/// assert_eq!(j.to_vec(), vec![2.0, 0.0, 0.0, 6.0]);
/// ```
#[track_caller]
pub fn jacobian(f: impl for<'t> Fn(Var<'t>) -> Var<'t>, x: &Tensor) -> Tensor {
    assert_eq!(
        x.rank(),
        1,
        "jacobian: expects a vector, got shape {:?}",
        x.shape()
    );
    let n = x.numel();
    let tape = Tape::new();
    let xv = tape.param(x.clone());
    let y = f(xv);
    assert!(
        y.shape().len() <= 1,
        "jacobian: expects a vector output, got shape {:?}",
        y.shape()
    );
    let m = y.numel();
    let mut rows = Vec::with_capacity(m * n);
    for i in 0..m {
        let mut e = vec![0.0; m];
        e[i] = 1.0;
        let yi = y.mul(&tape.constant(Tensor::new(e, &y.shape()))).sum();
        rows.extend(tape.grad(yi, &[xv], false)[0].value().data());
    }
    Tensor::new(rows, &[m, n])
}

/// Tolerances of [`gradcheck`], with `torch.autograd.gradcheck`'s defaults.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    /// Finite-difference step.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
}

impl Default for Tolerance {
    fn default() -> Tolerance {
        Tolerance {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
        }
    }
}

/// What [`gradcheck`] found for one input.
#[derive(Clone, Debug)]
pub struct InputCheck {
    /// Largest |reverse − numeric| over the input's Jacobian entries.
    pub max_abs: f64,
    /// Largest |reverse − numeric| / |numeric| over entries with |numeric| > atol.
    pub max_rel: f64,
    /// Every entry met |reverse − numeric| ≤ atol + rtol·|numeric|.
    pub passed: bool,
}

/// What [`gradcheck`] found, input by input.
#[derive(Clone, Debug)]
pub struct GradcheckReport {
    /// One entry per input, in order.
    pub inputs: Vec<InputCheck>,
}

impl GradcheckReport {
    /// True when every input passed.
    pub fn passed(&self) -> bool {
        self.inputs.iter().all(|c| c.passed)
    }
}

/// Compares every entry of the Jacobian from reverse mode with central finite
/// differences `(f(x+ε) − f(x−ε)) / 2ε`, as `torch.autograd.gradcheck`. The output may
/// have any shape: each of its elements seeds one backward pass.
///
/// ```
/// use tape::{gradcheck, Algebra, Tensor, Tolerance};
/// let r = gradcheck(|x| x[0].tanh().mul(&x[1]), &[Tensor::from([0.3, -1.2]), Tensor::from([2.0, 0.5])], Tolerance::default());
/// assert!(r.passed(), "{r:?}");
/// ```
pub fn gradcheck(
    f: impl for<'t> Fn(&[Var<'t>]) -> Var<'t>,
    inputs: &[Tensor],
    tol: Tolerance,
) -> GradcheckReport {
    let eval = |xs: &[Tensor]| -> Tensor {
        let tape = Tape::new();
        let vs: Vec<Var> = xs.iter().map(|x| tape.param(x.clone())).collect();
        f(&vs).value()
    };
    let out_shape = eval(inputs).shape().to_vec();
    let m = out_shape.iter().product::<usize>();
    // Reverse mode: row o of every input's Jacobian from one seeded backward pass.
    let mut reverse: Vec<Vec<f64>> = inputs.iter().map(|x| vec![0.0; m * x.numel()]).collect();
    for o in 0..m {
        let tape = Tape::new();
        let vs: Vec<Var> = inputs.iter().map(|x| tape.param(x.clone())).collect();
        let mut seed = vec![0.0; m];
        seed[o] = 1.0;
        let grads = f(&vs).backward_with(&Tensor::new(seed, &out_shape));
        for (i, v) in vs.iter().enumerate() {
            let n = inputs[i].numel();
            reverse[i][o * n..(o + 1) * n].copy_from_slice(grads.get(*v).data());
        }
    }
    let mut report = GradcheckReport { inputs: vec![] };
    for (i, x) in inputs.iter().enumerate() {
        let n = x.numel();
        let mut check = InputCheck {
            max_abs: 0.0,
            max_rel: 0.0,
            passed: true,
        };
        for j in 0..n {
            let shifted = |d: f64| {
                let mut xs = inputs.to_vec();
                xs[i].data_mut()[j] += d;
                eval(&xs)
            };
            let (hi, lo) = (shifted(tol.eps), shifted(-tol.eps));
            for o in 0..m {
                let numeric = (hi.data()[o] - lo.data()[o]) / (2.0 * tol.eps);
                let analytic = reverse[i][o * n + j];
                let err = (analytic - numeric).abs();
                check.max_abs = check.max_abs.max(err);
                if numeric.abs() > tol.atol {
                    check.max_rel = check.max_rel.max(err / numeric.abs());
                }
                // NaN on either side fails: a NaN error is not within tolerance.
                let within = err <= tol.atol + tol.rtol * numeric.abs();
                if !within {
                    check.passed = false;
                }
            }
        }
        report.inputs.push(check);
    }
    report
}
