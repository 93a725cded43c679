//! Data: CSV loading with strict parsing and located errors, missing-value policies,
//! standardisation, splits, and synthetic data.

use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use std::fmt;
use std::path::Path;
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
    /// A name, or an index when the text is a number (`"2"` is the third column).
    fn from(s: &str) -> Column {
        match s.parse() {
            Ok(i) => Column::Index(i),
            Err(_) => Column::Name(s.to_string()),
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
}

impl CsvOptions {
    /// Options for a target column, with every other column as a feature.
    pub fn new(target: impl Into<Column>) -> CsvOptions {
        CsvOptions {
            header: None,
            target: target.into(),
            features: None,
            missing: Missing::Error,
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
        }
    }
}

impl std::error::Error for DataError {}

fn is_missing(s: &str) -> bool {
    matches!(s, "" | "NA" | "N/A" | "NaN" | "nan" | "null" | "NULL")
}

/// Loads a CSV file; see [`parse_csv`].
pub fn load_csv(path: impl AsRef<Path>, opts: &CsvOptions) -> Result<Dataset, DataError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| DataError::Io {
        path: name.clone(),
        message: e.to_string(),
    })?;
    parse_csv(&bytes, &name, opts)
}

/// Parses CSV bytes (`name` is what errors call the source). LF and CRLF line ends; the
/// chosen columns must hold numbers (`1e-3`, `-2.5`); other columns are ignored.
///
/// ```
/// use model::{parse_csv, CsvOptions};
/// let d = parse_csv(b"hours,score\r\n1,52\r\n2,60\r\n", "mem.csv", &CsvOptions::new("score")).unwrap();
/// assert_eq!((d.len(), d.features.clone()), (2, vec!["hours".to_string()]));
/// let e = parse_csv(b"hours,score\n1,abc\n", "mem.csv", &CsvOptions::new("score")).unwrap_err();
/// assert_eq!(e.to_string(), "mem.csv:2:2: column 'score': 'abc' is not a number");
/// ```
pub fn parse_csv(bytes: &[u8], name: &str, opts: &CsvOptions) -> Result<Dataset, DataError> {
    let mut target = 0;
    let mut features = Vec::new();
    let table = read_table(bytes, name, opts.header, opts.missing, |resolve, width| {
        target = resolve(&opts.target)?;
        features = match &opts.features {
            Some(cols) => cols.iter().map(resolve).collect::<Result<_, _>>()?,
            None => (0..width).filter(|&i| i != target).collect(),
        };
        Ok(features.iter().copied().chain([target]).collect())
    })?;
    let (n, d) = (table.rows, features.len());
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for row in table.values.chunks_exact(d + 1) {
        x.extend_from_slice(&row[..d]);
        y.push(row[d]);
    }
    Ok(Dataset {
        x: Tensor::new(x, &[n, d]),
        y: Tensor::new(y, &[n, 1]),
        features: table.names[..d].to_vec(),
        target: table.names[d].clone(),
    })
}

/// The column names of a CSV file: its header, or `column 0`, `column 1`, … when its
/// first row is data (as [`parse_csv`] decides with `header: None`).
///
/// ```
/// assert_eq!(model::csv_columns(b"hours,score\n1,2\n", "mem.csv").unwrap(), ["hours", "score"]);
/// assert_eq!(model::csv_columns(b"1,2\n", "mem.csv").unwrap(), ["column 0", "column 1"]);
/// ```
pub fn csv_columns(bytes: &[u8], name: &str) -> Result<Vec<String>, DataError> {
    let (records, names, _) = read_records(bytes, name, None)?;
    drop(records);
    Ok(names)
}

/// Chosen columns of a CSV file as a `[rows, columns]` tensor, with the same strict
/// parsing, errors and missing-value policies as [`parse_csv`]; for data without a
/// target, such as rows to predict.
///
/// ```
/// use model::{parse_columns, Missing};
/// let (x, names) = parse_columns(b"a,b,c\n1,2,3\n4,5,6\n", "mem.csv", &["c".into(), "a".into()], Missing::Error).unwrap();
/// assert_eq!((x.to_vec(), names), (vec![3.0, 1.0, 6.0, 4.0], vec!["c".to_string(), "a".to_string()]));
/// ```
pub fn parse_columns(
    bytes: &[u8],
    name: &str,
    columns: &[Column],
    missing: Missing,
) -> Result<(Tensor, Vec<String>), DataError> {
    let table = read_table(bytes, name, None, missing, |resolve, _| {
        columns.iter().map(resolve).collect()
    })?;
    Ok((
        Tensor::new(table.values, &[table.rows, columns.len()]),
        table.names,
    ))
}

type Records = Vec<(u64, csv::StringRecord)>;

/// The non-blank records with their line numbers, the column names, and whether the
/// first record was a header.
fn read_records(
    bytes: &[u8],
    name: &str,
    header: Option<bool>,
) -> Result<(Records, Vec<String>, bool), DataError> {
    let path = name.to_string();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = Vec::new();
    for r in reader.records() {
        let r = r.map_err(|e| DataError::Csv {
            path: path.clone(),
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        })?;
        // A blank line (csv yields one empty field) is not a row.
        if r.len() == 1 && r[0].trim().is_empty() {
            continue;
        }
        let line = r.position().map_or(0, |p| p.line());
        records.push((line, r));
    }
    let Some((_, first)) = records.first() else {
        return Err(DataError::Empty { path });
    };
    let width = first.len();
    let has_header = header.unwrap_or_else(|| {
        first
            .iter()
            .any(|f| f.trim().parse::<f64>().is_err() && !is_missing(f.trim()))
    });
    let names: Vec<String> = if has_header {
        first.iter().map(|s| s.trim().to_string()).collect()
    } else {
        (0..width).map(|i| format!("column {i}")).collect()
    };
    Ok((records, names, has_header))
}

/// The chosen columns, parsed and filled: row-major values.
struct Table {
    names: Vec<String>,
    rows: usize,
    values: Vec<f64>,
}

type Resolve<'a> = dyn Fn(&Column) -> Result<usize, DataError> + 'a;

/// Reads the columns that `choose` picks (given a resolver of names and the width).
fn read_table(
    bytes: &[u8],
    name: &str,
    header: Option<bool>,
    missing: Missing,
    choose: impl FnOnce(&Resolve<'_>, usize) -> Result<Vec<usize>, DataError>,
) -> Result<Table, DataError> {
    let path = name.to_string();
    let (records, names, has_header) = read_records(bytes, name, header)?;
    let width = names.len();
    let rows = &records[usize::from(has_header)..];
    if rows.is_empty() {
        return Err(DataError::HeaderOnly { path });
    }
    let resolve = |c: &Column| -> Result<usize, DataError> {
        let found = match c {
            Column::Name(n) => names.iter().position(|h| h == n),
            Column::Index(i) => (*i < width).then_some(*i),
        };
        found.ok_or_else(|| DataError::UnknownColumn {
            path: path.clone(),
            column: match c {
                Column::Name(n) => format!("'{n}'"),
                Column::Index(i) => format!("#{i} (there are {width})"),
            },
            available: names.clone(),
        })
    };
    let columns = choose(&resolve, width)?;

    // Parse every chosen cell; None marks a missing one.
    let mut table: Vec<(u64, Vec<Option<f64>>)> = Vec::with_capacity(rows.len());
    for (line, r) in rows {
        if r.len() != width {
            return Err(DataError::Ragged {
                path,
                line: *line,
                expected: width,
                found: r.len(),
            });
        }
        let mut cells = Vec::with_capacity(columns.len());
        for &c in &columns {
            let text = r[c].trim();
            let at = |kind: fn(String, u64, usize, String, String) -> DataError| {
                kind(
                    path.clone(),
                    *line,
                    c + 1,
                    names[c].clone(),
                    text.to_string(),
                )
            };
            if is_missing(text) {
                cells.push(None);
                continue;
            }
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => cells.push(Some(v)),
                Ok(_) => {
                    return Err(at(|path, line, column, name, text| DataError::Infinite {
                        path,
                        line,
                        column,
                        name,
                        text,
                    }))
                }
                Err(_) => {
                    return Err(at(|path, line, column, name, text| DataError::NotANumber {
                        path,
                        line,
                        column,
                        name,
                        text,
                    }))
                }
            }
        }
        table.push((*line, cells));
    }

    fill_missing(&mut table, &columns, &names, &path, missing)?;
    if table.is_empty() {
        return Err(DataError::NoRowsLeft { path });
    }
    Ok(Table {
        names: columns.iter().map(|&i| names[i].clone()).collect(),
        rows: table.len(),
        values: table
            .iter()
            .flat_map(|(_, cells)| cells.iter().map(|c| c.expect("filled")))
            .collect(),
    })
}

fn fill_missing(
    table: &mut Vec<(u64, Vec<Option<f64>>)>,
    columns: &[usize],
    names: &[String],
    path: &str,
    policy: Missing,
) -> Result<(), DataError> {
    let located = |line: u64, k: usize| {
        (
            path.to_string(),
            line,
            columns[k] + 1,
            names[columns[k]].clone(),
        )
    };
    match policy {
        Missing::Error => {
            for (line, cells) in table.iter() {
                if let Some(k) = cells.iter().position(Option::is_none) {
                    let (path, line, column, name) = located(*line, k);
                    return Err(DataError::MissingValue {
                        path,
                        line,
                        column,
                        name,
                    });
                }
            }
        }
        Missing::Drop => table.retain(|(_, cells)| cells.iter().all(Option::is_some)),
        Missing::ForwardFill => {
            for k in 0..columns.len() {
                let mut last = None;
                for (line, cells) in table.iter_mut() {
                    match cells[k] {
                        Some(v) => last = Some(v),
                        None => match last {
                            Some(v) => cells[k] = Some(v),
                            None => {
                                let (path, line, column, name) = located(*line, k);
                                return Err(DataError::NothingToFill {
                                    path,
                                    line,
                                    column,
                                    name,
                                });
                            }
                        },
                    }
                }
            }
        }
        Missing::Mean => {
            for k in 0..columns.len() {
                let present: Vec<f64> = table.iter().filter_map(|(_, c)| c[k]).collect();
                if present.is_empty() {
                    let (path, line, column, name) = located(table[0].0, k);
                    return Err(DataError::MissingValue {
                        path,
                        line,
                        column,
                        name,
                    });
                }
                let mean = present.iter().sum::<f64>() / present.len() as f64;
                for (_, cells) in table.iter_mut() {
                    cells[k].get_or_insert(mean);
                }
            }
        }
    }
    Ok(())
}

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
