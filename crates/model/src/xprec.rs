//! Sums and dot products as if in twice the working precision: the error-free
//! transformations TwoSum (Knuth) and TwoProduct (Dekker, by Veltkamp's split, so no
//! fused multiply-add is needed), combined as Ogita, Rump and Oishi's `Dot2` ("Accurate
//! sum and dot product", SIAM J. Sci. Comput. 26, 2005). Least squares uses them for the
//! residuals of iterative refinement, which are worthless when rounded in working
//! precision. Not a hot path: O(n·p) per refinement step against the QR's O(n·p²).

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
