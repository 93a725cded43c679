//! Least squares over rows that arrive in batches and are not kept (`fit --stream`): the
//! `R` factor of `[X 1 y]` accumulated by TSQR (`tsqr.rs`), then the classical report
//! from it (`ols.rs`). Runs once a batch of rows: the hot path of `fit --stream`.

use crate::lstsq::{dependent_columns, LeastSquares};
use crate::ols::Ols;
use crate::qr::{default_rank_tol, Qr};
use crate::tsqr::Tsqr;
use crate::xprec::Dot2;
use crate::Dataset;

/// Least squares over rows that arrive in batches and are not kept (`fit --stream`): the
/// `R` of `[X 1 y]` by TSQR, so memory does not depend on the number of rows. One pass
/// gives the solution (Householder's accuracy, without the refinement that needs the rows
/// again), the classical report, and the sufficient statistics gradient descent needs.
///
/// ```
/// use model::StreamedOls;
/// // y = 1 + 2x, two batches of rows [x, y].
/// let mut s = StreamedOls::new(1, true);
/// s.push(&[0.0, 1.0, 1.0, 3.0]);
/// s.push(&[2.0, 5.0, 3.0, 7.1]);
/// let o = s.finish(&["x", "(intercept)"]).unwrap();
/// assert!((o.coefficients[0].estimate.unwrap() - 2.03).abs() < 1e-12);
/// assert_eq!(o.nobs, 4);
/// ```
#[derive(Clone, Debug)]
pub struct StreamedOls {
    d: usize,
    intercept: bool,
    t: Tsqr,
    /// The `R` of `[1 y]`, whose last entry squared is the centred total sum of squares.
    centre: Tsqr,
    /// `Σy²`, for the uncentred total sum of squares.
    sum_y2: Dot2,
    /// The first row's features, and which features have kept that value.
    first: Vec<f64>,
    same: Vec<bool>,
    /// The largest magnitude of each feature and of the target.
    largest: Vec<f64>,
}

impl StreamedOls {
    /// An empty fit of `d` features, with an intercept column after them or not.
    pub fn new(d: usize, intercept: bool) -> StreamedOls {
        StreamedOls {
            d,
            intercept,
            t: Tsqr::new(d + usize::from(intercept) + 1),
            centre: Tsqr::new(2),
            sum_y2: Dot2::default(),
            first: Vec::new(),
            same: vec![true; d],
            largest: vec![0.0; d + 1],
        }
    }

    /// Takes rows, row-major, each its `d` features then its target.
    #[track_caller]
    pub fn push(&mut self, rows: &[f64]) {
        let (d, k) = (self.d, self.d + 1);
        assert_eq!(
            rows.len() % k,
            0,
            "StreamedOls::push: {} values for rows of {k}",
            rows.len()
        );
        let m = rows.len() / k;
        if m == 0 {
            return;
        }
        if self.first.is_empty() {
            self.first = rows[..d].to_vec();
        }
        for row in rows.chunks_exact(k) {
            for j in 0..d {
                self.same[j] &= row[j] == self.first[j];
            }
            for (l, v) in self.largest.iter_mut().zip(row) {
                *l = l.max(v.abs());
            }
            self.sum_y2.add_prod(row[d], row[d]);
        }
        let intercept = self.intercept;
        self.t.push_rows(m, |i, out| {
            let row = &rows[i * k..(i + 1) * k];
            out[..d].copy_from_slice(&row[..d]);
            if intercept {
                out[d] = 1.0;
            }
            out[out.len() - 1] = row[d];
        });
        self.centre.push_rows(m, |i, out| {
            out[0] = 1.0;
            out[1] = rows[i * k + d];
        });
    }

    /// Rows taken.
    pub fn rows(&self) -> usize {
        self.t.rows()
    }

    /// The largest magnitude of each feature, then of the target.
    pub fn largest(&self) -> &[f64] {
        &self.largest
    }

    /// The root mean square of each design column and then of the target, from `R`
    /// (a column's norm is its `R` column's).
    pub fn column_rms(&self) -> Vec<f64> {
        let q = self.d + usize::from(self.intercept) + 1;
        let n = self.rows().max(1) as f64;
        (0..q)
            .map(|j| ((0..=j).map(|i| self.t.r(i, j).powi(2)).sum::<f64>() / n).sqrt())
            .collect()
    }

    /// The least-squares report (classical covariance) over every row taken; `names` has
    /// one name per design column (the features, then the intercept).
    pub fn finish(&self, names: &[&str]) -> Result<Ols, String> {
        let n = self.rows();
        let p = self.d + usize::from(self.intercept);
        if names.len() != p {
            return Err(format!(
                "StreamedOls::finish: {} names for {p} columns",
                names.len()
            ));
        }
        if n < p {
            return Err(format!(
                "{n} rows for {p} coefficients: least squares needs at least as many rows as coefficients"
            ));
        }
        let mut rcm = vec![0.0; p * p];
        for j in 0..p {
            for i in 0..=j {
                rcm[j * p + i] = self.t.r(i, j);
            }
        }
        let qr = Qr::new(rcm, p, p);
        let k = qr.rank(default_rank_tol(n, p));
        let mut c: Vec<f64> = (0..p).map(|i| self.t.r(i, p)).collect();
        qr.apply_qt(k, &mut c);
        let mut z = c[..k].to_vec();
        qr.solve_r(k, &mut z);
        let mut coef = vec![None; p];
        for i in 0..k {
            coef[qr.perm[i]] = Some(z[i] / qr.scale[qr.perm[i]]);
        }
        // ‖y − X·b‖² = ‖R_aug·[b; −1]‖², every row of R_aug.
        let mut rss = Dot2::default();
        for i in 0..=p {
            let mut e = Dot2::default();
            for (j, b) in coef.iter().enumerate().skip(i) {
                e.add_prod(self.t.r(i, j), b.unwrap_or(0.0));
            }
            e.add(-self.t.r(i, p));
            let v = e.value();
            rss.add_prod(v, v);
        }
        let mut constant: Vec<bool> = (0..self.d)
            .map(|j| self.same[j] && self.first.get(j).is_some_and(|v| *v != 0.0))
            .collect();
        if self.intercept {
            constant.push(true);
        }
        let tss = if constant.contains(&true) {
            let r = self.centre.r(1, 1);
            r * r
        } else {
            self.sum_y2.value()
        };
        let dependent = dependent_columns(&qr, k);
        let ls = LeastSquares::compressed(coef, Vec::new(), k, dependent, 0, qr);
        Ok(crate::ols::report_streamed(
            ls,
            &constant,
            names,
            (n, rss.value(), tss),
        ))
    }

    /// The rows' sufficient statistics as a small dataset whose mean squared error equals
    /// the mean squared error over every row taken, for every coefficient vector: the
    /// rows of `R_aug` scaled by `√(q/n)`, the design's columns (the intercept's included)
    /// as features. Gradient descent on it takes the full-batch steps over the file.
    pub fn sufficient_rows(&self, names: &[String], target: &str) -> Dataset {
        let p = self.d + usize::from(self.intercept);
        let q = p + 1;
        let s = (q as f64 / self.rows() as f64).sqrt();
        let mut x = vec![0.0; q * p];
        let mut y = vec![0.0; q];
        for i in 0..q {
            for j in i..p {
                x[i * p + j] = self.t.r(i, j) * s;
            }
            y[i] = self.t.r(i, p) * s;
        }
        Dataset {
            x: tape::Tensor::new(x, &[q, p]),
            y: tape::Tensor::new(y, &[q, 1]),
            features: names.to_vec(),
            target: target.to_string(),
            categories: vec![],
        }
    }
}
