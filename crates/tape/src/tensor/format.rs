//! Printing tensors: `%g`-style numbers and nested brackets, as NumPy prints arrays.

use super::{numel, Tensor};
use std::fmt;

impl fmt::Debug for Tensor {
    /// Shape and every element at full (round-trip) precision.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor{:?}{:?}", &self.shape[..], &self.data[..])
    }
}

/// A number as `%g` prints it with six significant digits: short enough for a listing,
/// and `1.9000000000000001` reads as `1.9`.
pub fn fmt_g(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let e = x.abs().log10().floor() as i32;
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if !(-4..6).contains(&e) {
        let s = format!("{x:.5e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        format!("{}e{exp}", trim(mantissa.to_string()))
    } else {
        trim(format!("{:.*}", (5 - e) as usize, x))
    }
}

/// Writes nested brackets, eliding the middle of long axes as NumPy does.
fn write_nested(f: &mut fmt::Formatter<'_>, data: &[f64], shape: &[usize]) -> fmt::Result {
    const EDGE: usize = 3;
    if shape.is_empty() {
        return match f.precision() {
            Some(p) => write!(f, "{:.*}", p, data[0]),
            None => f.write_str(&fmt_g(data[0])),
        };
    }
    let (n, inner) = (shape[0], numel(&shape[1..]));
    write!(f, "[")?;
    let mut first = true;
    for i in 0..n {
        if n > 2 * EDGE + 1 && i == EDGE {
            write!(f, ", ...")?;
        }
        if n > 2 * EDGE + 1 && (EDGE..n - EDGE).contains(&i) {
            continue;
        }
        if !first {
            write!(f, ", ")?;
        }
        first = false;
        write_nested(f, &data[i * inner..(i + 1) * inner], &shape[1..])?;
    }
    write!(f, "]")
}

impl fmt::Display for Tensor {
    /// Nested brackets, six significant digits (or the precision asked for, `{:.3}`),
    /// long axes elided.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_nested(f, &self.data, &self.shape)
    }
}
