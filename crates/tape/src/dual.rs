//! Forward mode: dual numbers over tensors, `value + ε·tangent` with `ε² = 0`.
//!
//! These derivative rules are written independently of the backward rules in
//! `op/rules.rs`, on purpose: forward mode is the second opinion the property tests check
//! reverse mode against.

use crate::algebra::{relu, sigmoid, softplus, softplus_slope, wins_max, wins_min, Algebra};
use crate::tape::CustomOp;
use crate::tensor::{Shape, Tensor};

/// A value and its directional derivative (tangent), shaped alike.
///
/// ```
/// use tape::{Algebra, Dual, Tensor};
/// // d/dx x³ at x = 2 in direction 1 is 12.
/// let x = Dual::new(Tensor::scalar(2.0), Tensor::scalar(1.0));
/// assert_eq!(x.powi(3).tangent.item(), 12.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dual {
    /// The primal value.
    pub value: Tensor,
    /// The derivative of the value along the chosen direction.
    pub tangent: Tensor,
    /// True for a constant: it has no tangent (held as zeros), and a rule applied to it
    /// makes a constant, as in PyTorch's forward mode, so `x + sqrt(0)` has the tangent of
    /// `x`, not NaN. A computed tangent of zero is a number like any other (`∞·0` is NaN).
    constant: bool,
}

impl Dual {
    /// A dual number; panics if the tangent is not shaped like the value.
    #[track_caller]
    pub fn new(value: Tensor, tangent: Tensor) -> Dual {
        assert!(
            value.shape() == tangent.shape(),
            "Dual::new: tangent of shape {:?} for a value of shape {:?}",
            tangent.shape(),
            value.shape()
        );
        Dual {
            value,
            tangent,
            constant: false,
        }
    }

    /// A constant: no tangent (see the field `constant`).
    pub fn constant(value: Tensor) -> Dual {
        let tangent = Tensor::zeros(value.shape());
        Dual {
            value,
            tangent,
            constant: true,
        }
    }

    /// A result from its value and the tangent terms of its non-constant operands.
    fn from_terms(value: Tensor, terms: impl IntoIterator<Item = Option<Tensor>>) -> Dual {
        let mut tangent: Option<Tensor> = None;
        for t in terms.into_iter().flatten() {
            tangent = Some(match tangent {
                Some(s) => s.add(&t),
                None => t,
            });
        }
        match tangent {
            Some(tangent) => Dual {
                tangent: tangent.broadcast_to(value.shape()),
                value,
                constant: false,
            },
            None => Dual::constant(value),
        }
    }

    /// The tangent term `f(ẋ)` of this operand, or none for a constant.
    fn term(&self, f: impl FnOnce(&Tensor) -> Tensor) -> Option<Tensor> {
        (!self.constant).then(|| f(&self.tangent))
    }

    /// Chain rule for a pointwise function: value `f(x)`, tangent `f'(x)·ẋ`.
    fn pointwise(&self, f: impl Fn(f64) -> f64 + Sync, df: impl Fn(f64) -> f64 + Sync) -> Dual {
        let value = self.value.map(f);
        let term = self.term(|t| self.value.map(df).mul(t));
        Dual::from_terms(value, [term])
    }

    /// A user's op ([`CustomOp`]) in forward mode: its forward pass on the values, its
    /// [`CustomOp::jvp`] for the tangent. A result of constants alone is a constant.
    /// Panics, naming the op, if it has no forward-mode rule.
    ///
    /// ```
    /// use tape::{CustomOp, Dual, Tensor};
    /// struct Cube;
    /// impl CustomOp for Cube {
    ///     fn name(&self) -> &'static str { "cube" }
    ///     fn forward(&mut self, x: &[&Tensor]) -> Tensor { x[0].map(|v| v * v * v) }
    ///     fn vjp(&self, x: &[&Tensor], _: &Tensor, g: &Tensor, _: &[bool]) -> Vec<Option<Tensor>> {
    ///         vec![Some(g.zip_with(x[0], "cube", |g, v| g * 3.0 * v * v))]
    ///     }
    ///     fn jvp(&self, x: &[&Tensor], _: &Tensor, t: &[Option<&Tensor>]) -> Option<Tensor> {
    ///         Some(t[0]?.zip_with(x[0], "cube", |t, v| 3.0 * v * v * t))
    ///     }
    /// }
    /// let x = Dual::new(Tensor::scalar(2.0), Tensor::scalar(1.0));
    /// let y = Dual::custom(&mut Cube, &[x]);
    /// assert_eq!((y.value.item(), y.tangent.item()), (8.0, 12.0));
    /// ```
    #[track_caller]
    pub fn custom(op: &mut impl CustomOp, inputs: &[Dual]) -> Dual {
        let values: Vec<&Tensor> = inputs.iter().map(|d| &d.value).collect();
        let value = op.forward(&values);
        if inputs.iter().all(|d| d.constant) {
            return Dual::constant(value);
        }
        let tangents: Vec<Option<&Tensor>> = inputs
            .iter()
            .map(|d| (!d.constant).then_some(&d.tangent))
            .collect();
        let Some(tangent) = op.jvp(&values, &value, &tangents) else {
            panic!(
                "Dual::custom: the custom op {} has no forward-mode rule (CustomOp::jvp)",
                op.name()
            )
        };
        Dual::new(value, tangent)
    }

    /// Applies the same linear map to value and tangent.
    fn linear(&self, f: impl Fn(&Tensor) -> Tensor) -> Dual {
        Dual {
            value: f(&self.value),
            tangent: f(&self.tangent),
            constant: self.constant,
        }
    }
}

impl Algebra for Dual {
    fn shape(&self) -> Shape {
        Algebra::shape(&self.value)
    }
    #[track_caller]
    fn add(&self, o: &Dual) -> Dual {
        let value = self.value.add(&o.value);
        Dual::from_terms(value, [self.term(|t| t.clone()), o.term(|t| t.clone())])
    }
    #[track_caller]
    fn sub(&self, o: &Dual) -> Dual {
        let value = self.value.sub(&o.value);
        Dual::from_terms(value, [self.term(|t| t.clone()), o.term(|t| t.neg())])
    }
    #[track_caller]
    fn mul(&self, o: &Dual) -> Dual {
        let value = self.value.mul(&o.value);
        let terms = [
            self.term(|t| t.mul(&o.value)),
            o.term(|t| self.value.mul(t)),
        ];
        Dual::from_terms(value, terms)
    }
    #[track_caller]
    fn div(&self, o: &Dual) -> Dual {
        // (a/b)' = (ȧ·b − a·ḃ) / b²
        let value = self.value.div(&o.value);
        let b2 = o.value.square();
        let terms = [
            self.term(|t| t.mul(&o.value).div(&b2)),
            o.term(|t| self.value.mul(t).div(&b2).neg()),
        ];
        Dual::from_terms(value, terms)
    }
    fn neg(&self) -> Dual {
        self.linear(|t| t.neg())
    }
    fn scale(&self, c: f64) -> Dual {
        self.linear(|t| t.scale(c))
    }
    fn powf(&self, p: f64) -> Dual {
        // x⁰ is constant: derivative 0 everywhere, 0 at 0 too (not 0·0⁻¹), as PyTorch.
        if p == 0.0 {
            return self.pointwise(|x| x.powf(p), |_| 0.0);
        }
        self.pointwise(|x| x.powf(p), |x| p * x.powf(p - 1.0))
    }
    fn powi(&self, n: i32) -> Dual {
        if n == 0 {
            return self.pointwise(|x| x.powi(n), |_| 0.0);
        }
        self.pointwise(|x| x.powi(n), |x| n as f64 * x.powi(n - 1))
    }
    fn square(&self) -> Dual {
        self.pointwise(|x| x * x, |x| 2.0 * x)
    }
    fn exp(&self) -> Dual {
        self.pointwise(f64::exp, f64::exp)
    }
    fn ln(&self) -> Dual {
        self.pointwise(f64::ln, |x| 1.0 / x)
    }
    fn sqrt(&self) -> Dual {
        self.pointwise(f64::sqrt, |x| 0.5 / x.sqrt())
    }
    fn abs(&self) -> Dual {
        self.pointwise(f64::abs, |x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        })
    }
    fn tanh(&self) -> Dual {
        self.pointwise(f64::tanh, |x| 1.0 / x.cosh().powi(2))
    }
    fn sigmoid(&self) -> Dual {
        self.pointwise(sigmoid, |x| sigmoid(x) * sigmoid(-x))
    }
    fn relu(&self) -> Dual {
        self.pointwise(relu, |x| if x > 0.0 { 1.0 } else { 0.0 })
    }
    fn sin(&self) -> Dual {
        self.pointwise(f64::sin, f64::cos)
    }
    fn cos(&self) -> Dual {
        self.pointwise(f64::cos, |x| -x.sin())
    }
    fn atan(&self) -> Dual {
        self.pointwise(f64::atan, |x| 1.0 / (1.0 + x * x))
    }
    #[track_caller]
    fn pow(&self, o: &Dual) -> Dual {
        // (a^b)' = ȧ·b·a^(b−1) + ḃ·a^b·ln a, with a^b·ln a taken as 0 at a = 0.
        let (a, b) = (&self.value, &o.value);
        let y = a.pow(b);
        let da = a.zip_with(b, "pow", |a, b| b * a.powf(b - 1.0));
        let db = a.zip_with(
            b,
            "pow",
            |a, b| if a == 0.0 { 0.0 } else { a.powf(b) * a.ln() },
        );
        Dual::from_terms(y, [self.term(|t| t.mul(&da)), o.term(|t| t.mul(&db))])
    }
    #[track_caller]
    fn masked_mul(&self, mask: &Dual) -> Dual {
        let value = self.value.masked_mul(&mask.value);
        Dual::from_terms(value, [self.term(|t| t.masked_mul(&mask.value))])
    }
    #[track_caller]
    fn zip_const(&self, o: &Dual, f: fn(f64, f64) -> f64) -> Dual {
        Dual::constant(self.value.zip_with(&o.value, "zip", f))
    }
    fn map_const_with(&self, f: &(dyn Fn(f64) -> f64 + Sync)) -> Dual {
        Dual::constant(self.value.map(f))
    }
    #[track_caller]
    fn max_axis_const(&self, axis: usize, keepdim: bool) -> Dual {
        Dual::constant(self.value.max_axis(axis, keepdim))
    }
    fn lift_const(&self, t: &Tensor) -> Dual {
        Dual::constant(t.clone())
    }
    #[track_caller]
    fn narrow(&self, axis: usize, start: usize, len: usize) -> Dual {
        self.linear(|t| t.narrow(axis, start, len))
    }
    #[track_caller]
    fn pad_axis(&self, axis: usize, start: usize, total: usize) -> Dual {
        self.linear(|t| t.pad_axis(axis, start, total))
    }
    #[track_caller]
    fn first_max_const(&self, axis: usize) -> Dual {
        Dual::constant(self.value.first_max_onehot(axis))
    }
    fn log1p(&self) -> Dual {
        self.pointwise(f64::ln_1p, |x| 1.0 / (1.0 + x))
    }
    fn expm1(&self) -> Dual {
        self.pointwise(f64::exp_m1, f64::exp)
    }
    fn softplus(&self) -> Dual {
        self.pointwise(softplus, softplus_slope)
    }
    #[track_caller]
    fn maximum(&self, o: &Dual) -> Dual {
        let value = self.value.maximum(&o.value);
        let (wa, wb) = (
            self.value.zip_with(&o.value, "maximum", wins_max),
            o.value.zip_with(&self.value, "maximum", wins_max),
        );
        Dual::from_terms(
            value,
            [
                self.term(|t| t.masked_mul(&wa)),
                o.term(|t| t.masked_mul(&wb)),
            ],
        )
    }
    #[track_caller]
    fn minimum(&self, o: &Dual) -> Dual {
        let value = self.value.minimum(&o.value);
        let (wa, wb) = (
            self.value.zip_with(&o.value, "minimum", wins_min),
            o.value.zip_with(&self.value, "minimum", wins_min),
        );
        Dual::from_terms(
            value,
            [
                self.term(|t| t.masked_mul(&wa)),
                o.term(|t| t.masked_mul(&wb)),
            ],
        )
    }
    fn map_const(&self, f: fn(f64) -> f64) -> Dual {
        Dual::constant(self.value.map(f))
    }
    #[track_caller]
    fn gemm(&self, b: &Dual, ta: bool, tb: bool) -> Dual {
        // (AB)' = ȦB + AḂ
        let value = self.value.gemm(&b.value, ta, tb);
        let terms = [
            self.term(|t| t.gemm(&b.value, ta, tb)),
            b.term(|t| self.value.gemm(t, ta, tb)),
        ];
        Dual::from_terms(value, terms)
    }
    fn sum(&self) -> Dual {
        self.linear(|t| t.sum())
    }
    fn mean(&self) -> Dual {
        self.linear(|t| t.mean())
    }
    #[track_caller]
    fn sum_axis(&self, axis: usize, keepdim: bool) -> Dual {
        self.linear(|t| t.sum_axis(axis, keepdim))
    }
    #[track_caller]
    fn mean_axis(&self, axis: usize, keepdim: bool) -> Dual {
        self.linear(|t| Algebra::mean_axis(t, axis, keepdim))
    }
    #[track_caller]
    fn reshape(&self, shape: &[usize]) -> Dual {
        self.linear(|t| t.reshape(shape))
    }
    #[track_caller]
    fn transpose(&self, d0: usize, d1: usize) -> Dual {
        self.linear(|t| t.transpose(d0, d1))
    }
    #[track_caller]
    fn broadcast_to(&self, shape: &[usize]) -> Dual {
        self.linear(|t| t.broadcast_to(shape))
    }
}
