//! Data: CSV loading with strict parsing and located errors, missing-value policies,
//! standardisation, splits, and synthetic data.

use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use std::fmt;
use tape::Tensor;

/// Rows of features and targets: `x` is `[n, d]`, `y` is `[n, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Features, one row per example.
    pub x: Tensor,
    /// Targets, one row per example.
    pub y: Tensor,
    /// Feature names, in column order.
    pub features: Vec<String>,
    /// Target name.
    pub target: String,
    /// The text columns among the features, dummy-coded.
    pub categories: Vec<Categorical>,
}

/// A text column dummy-coded as statsmodels and R do (treatment coding): one 0/1 feature
/// `name[T.level]` per level but the reference.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Categorical {
    /// The column's name in the file.
    pub column: String,
    /// The levels, sorted, the reference included.
    pub levels: Vec<String>,
    /// The level without a feature of its own.
    pub reference: String,
}

impl Categorical {
    /// The feature names, `column[T.level]` for each level but the reference.
    pub fn features(&self) -> Vec<String> {
        self.levels
            .iter()
            .filter(|l| **l != self.reference)
            .map(|l| format!("{}[T.{}]", self.column, l))
            .collect()
    }
}

impl Dataset {
    /// A dataset from rows of features and targets.
    ///
    /// ```
    /// let d = model::Dataset::from_rows(&[vec![1.0], vec![2.0]], &[3.0, 5.0]);
    /// assert_eq!((d.len(), d.dim()), (2, 1));
    /// ```
    #[track_caller]
    pub fn from_rows(rows: &[Vec<f64>], y: &[f64]) -> Dataset {
        assert_eq!(
            rows.len(),
            y.len(),
            "Dataset::from_rows: {} rows but {} targets",
            rows.len(),
            y.len()
        );
        let d = rows.first().map_or(0, |r| r.len());
        assert!(
            rows.iter().all(|r| r.len() == d),
            "Dataset::from_rows: rows of different lengths"
        );
        Dataset {
            x: Tensor::new(rows.concat(), &[rows.len(), d]),
            y: Tensor::new(y.to_vec(), &[y.len(), 1]),
            features: (1..=d).map(|i| format!("x{i}")).collect(),
            target: "y".into(),
            categories: vec![],
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.y.numel()
    }

    /// True if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of features.
    pub fn dim(&self) -> usize {
        self.x.shape()[1]
    }

    /// Row `i`'s features.
    pub fn row(&self, i: usize) -> &[f64] {
        let d = self.dim();
        &self.x.data()[i * d..(i + 1) * d]
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let d = self.dim();
        let x: Vec<f64> = indices.iter().flat_map(|&i| self.row(i).to_vec()).collect();
        let y: Vec<f64> = indices.iter().map(|&i| self.y.data()[i]).collect();
        Dataset {
            x: Tensor::new(x, &[indices.len(), d]),
            y: Tensor::new(y, &[indices.len(), 1]),
            features: self.features.clone(),
            target: self.target.clone(),
            categories: self.categories.clone(),
        }
    }

    /// The features as rows of `Vec`s (for hand computations).
    pub fn rows(&self) -> Vec<Vec<f64>> {
        (0..self.len()).map(|i| self.row(i).to_vec()).collect()
    }
}

/// A column chosen by header name or by 0-based index.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    /// By header name.
    Name(String),
    /// By position, 0-based.
    Index(usize),
}

impl From<&str> for Column {
    /// `#2` is the third column (0-based); anything else is a name, so a header whose
    /// names are numbers is read by name (a bare number that no column is named is taken
    /// as an index when the table is read).
    ///
    /// ```
    /// use model::Column;
    /// assert_eq!(Column::from("#2"), Column::Index(2));
    /// assert_eq!(Column::from("2"), Column::Name("2".into()));
    /// ```
    fn from(s: &str) -> Column {
        match s.strip_prefix('#').map(str::parse) {
            Some(Ok(i)) => Column::Index(i),
            _ => Column::Name(s.to_string()),
        }
    }
}

/// What to do with a missing value (an empty cell, `NA`, `N/A`, `NaN`, `null`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Missing {
    /// Stop with an error naming the cell.
    #[default]
    Error,
    /// Drop every row with a missing value in a chosen column.
    Drop,
    /// Take the value from the row above, as pandas' `ffill` (the weather tutorial).
    ForwardFill,
    /// Use the column's mean over the rows where it is present.
    Mean,
}

/// How to read a CSV file.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    /// `Some(true)`: the first row names the columns; `Some(false)`: it is data; `None`:
    /// decide from the first row (a row of numbers is data).
    pub header: Option<bool>,
    /// The column to predict.
    pub target: Column,
    /// The predictors; `None` takes every other column.
    pub features: Option<Vec<Column>>,
    /// The missing-value policy.
    pub missing: Missing,
    /// The field delimiter; `None` detects it from the first line (the most frequent
    /// of `,` `;` tab `|`).
    pub delimiter: Option<u8>,
    /// Text feature columns are dummy-coded ([`Categorical`]) instead of refused, with
    /// the first level in sorted order as the reference unless this names another
    /// (`(column, level)`).
    pub categorical: bool,
    /// Reference levels chosen by column.
    pub reference: Vec<(String, String)>,
}

impl CsvOptions {
    /// Options for a target column, with every other column as a feature.
    pub fn new(target: impl Into<Column>) -> CsvOptions {
        CsvOptions {
            header: None,
            target: target.into(),
            features: None,
            missing: Missing::Error,
            delimiter: None,
            categorical: false,
            reference: vec![],
        }
    }
}

/// Why a data file could not be loaded; `Display` says what and where in one line.
/// `line` is 1-based in the file, `column` 1-based in the row, `name` the column's header.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum DataError {
    /// The file could not be read.
    Io { path: String, message: String },
    /// The file has no rows.
    Empty { path: String },
    /// The file has a header and no data rows.
    HeaderOnly { path: String },
    /// A row has a different number of fields than the first row.
    Ragged {
        path: String,
        line: u64,
        expected: usize,
        found: usize,
    },
    /// A chosen column is not in the header, or past the last column.
    UnknownColumn {
        path: String,
        column: String,
        available: Vec<String>,
    },
    /// A cell is not a number.
    NotANumber {
        path: String,
        line: u64,
        column: usize,
        name: String,
        text: String,
    },
    /// A cell is an infinity.
    Infinite {
        path: String,
        line: u64,
        column: usize,
        name: String,
        text: String,
    },
    /// A cell is missing and the policy is `Missing::Error`.
    MissingValue {
        path: String,
        line: u64,
        column: usize,
        name: String,
    },
    /// Forward fill met a missing value with no row above it.
    NothingToFill {
        path: String,
        line: u64,
        column: usize,
        name: String,
    },
    /// The CSV reader itself failed (bad UTF-8, an unclosed quote).
    Csv {
        path: String,
        line: u64,
        message: String,
    },
    /// No rows are left after dropping the ones with missing values.
    NoRowsLeft { path: String },
    /// The caller refused the header (a formula that names no column of it).
    Rejected { message: String },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DataError::*;
        match self {
            Io { path, message } => write!(f, "{path}: cannot read: {message}"),
            Empty { path } => write!(f, "{path}: the file is empty"),
            HeaderOnly { path } => write!(f, "{path}: the file has a header but no data rows"),
            Ragged { path, line, expected, found } => {
                write!(f, "{path}:{line}: row has {found} fields, but the first row has {expected}")
            }
            UnknownColumn { path, column, available } => write!(
                f,
                "{path}: no column {column}; the columns are: {}",
                available.join(", ")
            ),
            NotANumber { path, line, column, name, text } => write!(
                f,
                "{path}:{line}:{column}: column '{name}': '{text}' is not a number"
            ),
            Infinite { path, line, column, name, text } => write!(
                f,
                "{path}:{line}:{column}: column '{name}': '{text}' is infinite"
            ),
            MissingValue { path, line, column, name } => write!(
                f,
                "{path}:{line}:{column}: column '{name}': missing value (choose a policy: drop, ffill or mean)"
            ),
            NothingToFill { path, line, column, name } => write!(
                f,
                "{path}:{line}:{column}: column '{name}': missing value in the first row, nothing to fill forward from"
            ),
            Csv { path, line, message } => write!(f, "{path}:{line}: {message}"),
            NoRowsLeft { path } => write!(f, "{path}: no rows are left after dropping rows with missing values"),
            Rejected { message } => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for DataError {}

/// A consumer of streamed rows (see [`stream_csv`](crate::stream_csv)): a batch of rows, row-major, and how
/// many values each row has.
pub type RowSink<'a> = dyn FnMut(&[f64], usize) -> Result<(), DataError> + 'a;

/// Per-feature mean and standard deviation, fitted on one split and applied to others.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// Feature means.
    pub mean: Vec<f64>,
    /// Feature standard deviations (population); a constant column keeps 1.
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Fits on the rows of `x` (`[n, d]`).
    ///
    /// ```
    /// let s = model::Standardizer::fit(&tape::Tensor::from([[1.0], [3.0]]));
    /// assert_eq!((s.mean[0], s.std[0]), (2.0, 1.0));
    /// ```
    pub fn fit(x: &Tensor) -> Standardizer {
        let (n, d) = (x.shape()[0], x.shape()[1]);
        let col = |j: usize| (0..n).map(move |i| x.data()[i * d + j]);
        let mean: Vec<f64> = (0..d).map(|j| col(j).sum::<f64>() / n as f64).collect();
        let std = (0..d)
            .map(|j| {
                let s = (col(j).map(|v| (v - mean[j]).powi(2)).sum::<f64>() / n as f64).sqrt();
                if s > 0.0 {
                    s
                } else {
                    1.0
                }
            })
            .collect();
        Standardizer { mean, std }
    }

    /// `(x − mean) / std`, column by column.
    pub fn transform(&self, x: &Tensor) -> Tensor {
        let d = self.mean.len();
        let data = x
            .data()
            .iter()
            .enumerate()
            .map(|(i, v)| (v - self.mean[i % d]) / self.std[i % d])
            .collect();
        Tensor::new(data, x.shape())
    }

    /// Applies [`Standardizer::transform`] to a dataset's features.
    pub fn apply(&self, data: &Dataset) -> Dataset {
        Dataset {
            x: self.transform(&data.x),
            ..data.clone()
        }
    }

    /// Maps coefficients fitted on standardised features back to the original units:
    /// `w_j / σ_j` and `b − Σ w_j·μ_j/σ_j`.
    ///
    /// ```
    /// let s = model::Standardizer { mean: vec![10.0], std: vec![2.0] };
    /// // ŷ = 3·(x − 10)/2 + 1 = 1.5·x − 14
    /// assert_eq!(s.to_original(&[3.0], 1.0), (vec![1.5], -14.0));
    /// ```
    pub fn to_original(&self, w: &[f64], b: f64) -> (Vec<f64>, f64) {
        let w0: Vec<f64> = w.iter().zip(&self.std).map(|(w, s)| w / s).collect();
        let b0 = b - w0.iter().zip(&self.mean).map(|(w, m)| w * m).sum::<f64>();
        (w0, b0)
    }
}

/// Splits rows in order (no shuffle), as a time series must be: fractions such as
/// `[0.7, 0.15, 0.15]`; the last part takes the rounding remainder.
///
/// ```
/// let d = model::Dataset::from_rows(&(0..10).map(|i| vec![i as f64]).collect::<Vec<_>>(), &[0.0; 10]);
/// let parts = model::split_chronological(&d, &[0.7, 0.3]);
/// assert_eq!((parts[0].len(), parts[1].row(0)[0]), (7, 7.0));
/// ```
pub fn split_chronological(data: &Dataset, fractions: &[f64]) -> Vec<Dataset> {
    if fractions.len() == 1 {
        return vec![data.clone()]; // shares the values: no copy
    }
    let order: Vec<usize> = (0..data.len()).collect();
    split_by(data, &order, fractions)
}

/// Splits rows after a seeded shuffle.
pub fn split_shuffled(data: &Dataset, fractions: &[f64], seed: u64) -> Vec<Dataset> {
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    split_by(data, &order, fractions)
}

fn split_by(data: &Dataset, order: &[usize], fractions: &[f64]) -> Vec<Dataset> {
    let total: f64 = fractions.iter().sum();
    let mut parts = Vec::new();
    let mut start = 0;
    for (k, f) in fractions.iter().enumerate() {
        let end = if k + 1 == fractions.len() {
            order.len()
        } else {
            (start + (f / total * order.len() as f64).round() as usize).min(order.len())
        };
        parts.push(data.select(&order[start..end]));
        start = end;
    }
    parts
}

/// `y = X·w* + b* + N(0, noise²)` with `X` uniform on `[low, high)`, from a seed.
///
/// ```
/// let d = model::synthetic(100, &[1.3], 4.0, 0.0, (20.0, 80.0), 1);
/// assert!((d.y.data()[0] - (1.3 * d.row(0)[0] + 4.0)).abs() < 1e-12);
/// ```
pub fn synthetic(
    n: usize,
    weights: &[f64],
    bias: f64,
    noise: f64,
    range: (f64, f64),
    seed: u64,
) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let normal = Normal::new(0.0, 1.0).expect("unit normal");
    let d = weights.len();
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|_| (0..d).map(|_| rng.random_range(range.0..range.1)).collect())
        .collect();
    let y: Vec<f64> = rows
        .iter()
        .map(|r| {
            r.iter().zip(weights).map(|(x, w)| x * w).sum::<f64>()
                + bias
                + noise * normal.sample(&mut rng)
        })
        .collect();
    Dataset::from_rows(&rows, &y)
}
