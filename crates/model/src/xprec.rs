//! Sums and dot products as if in twice the working precision: the error-free
//! transformations TwoSum (Knuth) and TwoProduct (Dekker, by Veltkamp's split, so no
//! fused multiply-add is needed), combined as Ogita, Rump and Oishi's `Dot2` ("Accurate
//! sum and dot product", SIAM J. Sci. Comput. 26, 2005). Least squares uses them for the
//! residuals of iterative refinement, which are worthless when rounded in working
//! precision. The refinement passes of `tsqr.rs` make `add_prod` a hot path for large
//! designs; `add_prod_fma` is its form for code compiled with fused multiply-add.

/// `a + b = s + e` exactly.
#[inline]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// Veltkamp's split: `a = hi + lo` with each half at most 26 significant bits.
#[inline]
fn split(a: f64) -> (f64, f64) {
    let c = 134_217_729.0 * a; // 2^27 + 1
    let hi = c - (c - a);
    (hi, a - hi)
}

/// True if the CPU has fused multiply-add (detected once).
pub(crate) fn has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static FMA: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *FMA.get_or_init(|| std::arch::is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `a · b = p + e` exactly (barring overflow and underflow).
#[inline]
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    let (ah, al) = split(a);
    let (bh, bl) = split(b);
    (p, ((ah * bh - p) + ah * bl + al * bh) + al * bl)
}

/// A running sum carried as a value and the accumulated rounding errors: the result is
/// as accurate as if computed in twice the working precision, then rounded once.
///
/// ```
/// use model::Dot2;
/// let mut s = Dot2::default();
/// s.add(1e16);
/// s.add(1.0);
/// s.add(-1e16);
/// assert_eq!(s.value(), 1.0); // plain f64 arithmetic gives 0
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Dot2 {
    hi: f64,
    lo: f64,
}

impl Dot2 {
    /// Adds `a`.
    #[inline]
    pub fn add(&mut self, a: f64) {
        let (s, e) = two_sum(self.hi, a);
        self.hi = s;
        self.lo += e;
    }

    /// Adds the exact product `a · b`.
    #[inline]
    pub fn add_prod(&mut self, a: f64, b: f64) {
        let (p, ep) = two_prod(a, b);
        let (s, es) = two_sum(self.hi, p);
        self.hi = s;
        self.lo += ep + es;
    }

    /// [`Dot2::add_prod`] with the product's error from one fused multiply-add: the same
    /// exact error term (so the same bits, barring underflow), in two operations instead
    /// of Veltkamp's ten. Without the `fma` target feature `mul_add` is a library call:
    /// use it only in code compiled for FMA.
    #[inline(always)]
    pub fn add_prod_fma(&mut self, a: f64, b: f64) {
        let p = a * b;
        let ep = a.mul_add(b, -p);
        let (s, es) = two_sum(self.hi, p);
        self.hi = s;
        self.lo += ep + es;
    }

    /// Adds another sum (of terms that follow this one's).
    #[inline]
    pub fn merge(&mut self, other: &Dot2) {
        self.add(other.hi);
        self.lo += other.lo;
    }

    /// The sum as `(rounded, remainder)`: the rounded value and what rounding left out.
    #[inline]
    pub fn split(&self) -> (f64, f64) {
        two_sum(self.hi, self.lo)
    }

    /// The sum, rounded once.
    pub fn value(&self) -> f64 {
        self.hi + self.lo
    }
}

/// `Σ aᵢ·bᵢ` as [`Dot2`] computes it.
pub fn dot2(a: &[f64], b: &[f64]) -> f64 {
    let mut s = Dot2::default();
    for (x, y) in a.iter().zip(b) {
        s.add_prod(*x, *y);
    }
    s.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_double_exp_and_ln() {
        // e to 32 digits: 2.7182818284590452353602874713527.
        let e = Dd::from(1.0).exp();
        assert_eq!(e.hi, std::f64::consts::E);
        assert!((e.lo - 1.445_646_891_729_250_2e-16).abs() < 1e-31, "{e:?}");
        // ln(e) = 1 to double-double precision, and exp(ln 10) = 10.
        let one = e.ln();
        assert!((one.hi - 1.0).abs() + one.lo.abs() < 1e-30, "{one:?}");
        let ten = Dd::from(10.0).ln().exp();
        assert!((ten.hi - 10.0).abs() + ten.lo.abs() < 1e-29, "{ten:?}");
        // (1 + 2⁻⁴⁰)³ = 1 + 3·2⁻⁴⁰ + 3·2⁻⁸⁰ + 2⁻¹²⁰, whose second term f64 loses.
        let x = Dd::from(1.0 + 2f64.powi(-40)).powi(3);
        assert_eq!(x.hi, 1.0 + 3.0 * 2f64.powi(-40));
        assert!((x.lo - 3.0 * 2f64.powi(-80)).abs() < 1e-31);
        // Division and square root: 1/3·3 = 1 and √2·√2 = 2 to ~1e-32.
        let third = Dd::from(1.0) / Dd::from(3.0);
        let back = third * Dd::from(3.0) - Dd::from(1.0);
        assert!(back.hi.abs() < 1e-31, "{back:?}");
        let r2 = Dd::from(2.0).sqrt();
        let d = r2 * r2 - Dd::from(2.0);
        assert!(d.hi.abs() < 1e-31, "{d:?}");
    }

    #[test]
    fn products_and_sums_are_exact() {
        // (1 + 2^-30)² = 1 + 2^-29 + 2^-60: the last term is lost in f64 and kept here.
        let a = 1.0 + 2f64.powi(-30);
        let (p, e) = two_prod(a, a);
        assert_eq!(p, 1.0 + 2f64.powi(-29));
        assert_eq!(e, 2f64.powi(-60));
        let (s, e) = two_sum(1.0, 2f64.powi(-60));
        assert_eq!((s, e), (1.0, 2f64.powi(-60)));
        // An ill-conditioned dot product whose exact value is 1.
        let x = [1e20, 1.0, -1e20, 3.0];
        let y = [1.0, 1.0, 1.0, -0.0];
        assert_eq!(dot2(&x, &y), 1.0);
        let naive: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        assert_eq!(naive, 0.0);
    }
}

/// A double-double number `hi + lo` (|lo| ≤ ulp(hi)/2): about 32 significant digits, for
/// evaluating a model's residuals where they are far smaller than its values (NIST's
/// Lanczos1, whose residuals are 1e-13 of values near 1). Arithmetic after Dekker and
/// Bailey's QD library; `exp` and `ln` are accurate to double-double precision, the
/// trigonometric functions only to double precision.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dd {
    /// The leading part.
    pub hi: f64,
    /// The trailing part.
    pub lo: f64,
}

#[inline]
fn quick_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

impl From<f64> for Dd {
    fn from(x: f64) -> Dd {
        Dd { hi: x, lo: 0.0 }
    }
}

/// ln 2 in double-double.
pub(crate) const LN2: Dd = Dd {
    hi: std::f64::consts::LN_2,
    lo: 2.319_046_813_846_299_6e-17,
};

impl std::ops::Add for Dd {
    type Output = Dd;
    fn add(self, o: Dd) -> Dd {
        let (s, e) = two_sum(self.hi, o.hi);
        let (t, f) = two_sum(self.lo, o.lo);
        let (s, e) = quick_two_sum(s, e + t);
        Dd::norm(s, e + f)
    }
}

impl std::ops::Neg for Dd {
    type Output = Dd;
    fn neg(self) -> Dd {
        Dd {
            hi: -self.hi,
            lo: -self.lo,
        }
    }
}

impl std::ops::Sub for Dd {
    type Output = Dd;
    fn sub(self, o: Dd) -> Dd {
        self + -o
    }
}

impl std::ops::Mul for Dd {
    type Output = Dd;
    fn mul(self, o: Dd) -> Dd {
        let (p, e) = two_prod(self.hi, o.hi);
        Dd::norm(p, e + (self.hi * o.lo + self.lo * o.hi))
    }
}

impl std::ops::Div for Dd {
    type Output = Dd;
    fn div(self, o: Dd) -> Dd {
        let q1 = self.hi / o.hi;
        let r = self - o * Dd::from(q1);
        let q2 = r.hi / o.hi;
        let r = r - o * Dd::from(q2);
        let q3 = r.hi / o.hi;
        let (q1, q2) = quick_two_sum(q1, q2);
        Dd { hi: q1, lo: q2 } + Dd::from(q3)
    }
}

impl Dd {
    fn norm(hi: f64, lo: f64) -> Dd {
        let (hi, lo) = quick_two_sum(hi, lo);
        Dd { hi, lo }
    }
    /// The value rounded to `f64`.
    pub fn to_f64(self) -> f64 {
        self.hi + self.lo
    }
    /// `√self`, by one Newton step from the `f64` root.
    pub fn sqrt(self) -> Dd {
        if self.hi <= 0.0 {
            return Dd::from(self.hi.sqrt());
        }
        let y = self.hi.sqrt();
        let yy = Dd::from(y) * Dd::from(y);
        Dd::from(y) + Dd::from((self - yy).hi / (2.0 * y))
    }
    /// `self ^ n`, by repeated squaring.
    pub fn powi(self, n: i32) -> Dd {
        let mut base = self;
        let mut e = n.unsigned_abs();
        let mut acc = Dd::from(1.0);
        while e > 0 {
            if e & 1 == 1 {
                acc = acc * base;
            }
            base = base * base;
            e >>= 1;
        }
        if n < 0 {
            Dd::from(1.0) / acc
        } else {
            acc
        }
    }
    /// `eˣ`: `x = k·ln 2 + r`, `r/512` by its Taylor series, squared nine times.
    pub fn exp(self) -> Dd {
        if !self.hi.is_finite() || self.hi.abs() > 700.0 {
            return Dd::from(self.hi.exp());
        }
        let k = (self.hi / LN2.hi).round();
        let r = self - LN2 * Dd::from(k);
        let r = Dd {
            hi: r.hi / 512.0,
            lo: r.lo / 512.0,
        };
        // e^r − 1 = r + r²/2 + … (|r| < 7e-4: 10 terms are far below 1e-32).
        let mut term = r;
        let mut s = r;
        for i in 2..=10 {
            term = term * r / Dd::from(i as f64);
            s = s + term;
        }
        // (1 + s)² − 1 = 2s + s², nine times.
        for _ in 0..9 {
            s = s + s + s * s;
        }
        let y = s + Dd::from(1.0);
        let scale = 2f64.powi(k as i32);
        Dd {
            hi: y.hi * scale,
            lo: y.lo * scale,
        }
    }
    /// `ln x`, by one Newton step `y + x·e⁻ʸ − 1` from the `f64` logarithm.
    pub fn ln(self) -> Dd {
        if self.hi <= 0.0 || !self.hi.is_finite() {
            return Dd::from(self.hi.ln());
        }
        let y = Dd::from(self.hi.ln());
        y + self * (-y).exp() - Dd::from(1.0)
    }
}
