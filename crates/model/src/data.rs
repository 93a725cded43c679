//! Data: CSV loading with strict parsing and located errors, missing-value policies,
//! standardisation, splits, and synthetic data.

use crate::reader::{read_table, Text};
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

/// A missing value, under every spelling pandas' `read_csv` accepts by default (which
/// includes R's `NA`): empty, `NA`, `N/A`, `n/a`, `NaN`, `nan`, `-NaN`, `-nan`, `null`,
/// `NULL`, `None`, `<NA>`, `#N/A`, `#N/A N/A`, `#NA`, `1.#IND`, `-1.#IND`, `1.#QNAN`,
/// `-1.#QNAN`.
pub(crate) fn is_missing(s: &str) -> bool {
    matches!(
        s,
        "" | "NA"
            | "N/A"
            | "n/a"
            | "NaN"
            | "nan"
            | "-NaN"
            | "-nan"
            | "null"
            | "NULL"
            | "None"
            | "<NA>"
            | "#N/A"
            | "#N/A N/A"
            | "#NA"
            | "1.#IND"
            | "-1.#IND"
            | "1.#QNAN"
            | "-1.#QNAN"
    )
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
    parse_csv_from(bytes, name, opts)
}

/// [`parse_csv`] from any reader (a file, standard input, a pipe), in one streaming pass.
pub fn parse_csv_from(
    source: impl std::io::Read,
    name: &str,
    opts: &CsvOptions,
) -> Result<Dataset, DataError> {
    parse_csv_with(source, name, opts, |_| {
        Ok((opts.target.clone(), opts.features.clone()))
    })
}

/// A consumer of streamed rows (see [`stream_csv`]): a batch of rows, row-major, and how
/// many values each row has.
pub type RowSink<'a> = dyn FnMut(&[f64], usize) -> Result<(), DataError> + 'a;

/// Reads a CSV source in one pass without holding it: `sink` gets the rows in batches,
/// row-major, each row's features (as `opts` chooses them) then its target, with the
/// number of values a row has. Returns the
/// feature names, the target's name and the number of rows. Text columns are an error
/// (their levels are not known until the end), and so is the mean policy for missing
/// values (the means are not known until the end).
///
/// ```
/// use model::{stream_csv, CsvOptions};
/// let mut sum = 0.0;
/// let (features, target, rows) = stream_csv(&b"x,y\n1,2\n3,4\n"[..], "mem.csv", &CsvOptions::new("y"), &mut |batch, _| {
///     sum += batch.iter().sum::<f64>();
///     Ok(())
/// }).unwrap();
/// assert_eq!((features, target, rows, sum), (vec!["x".to_string()], "y".to_string(), 2, 10.0));
/// ```
pub fn stream_csv(
    source: impl std::io::Read,
    name: &str,
    opts: &CsvOptions,
    sink: &mut RowSink<'_>,
) -> Result<(Vec<String>, String, usize), DataError> {
    if opts.missing == Missing::Mean {
        return Err(DataError::Rejected {
            message: "--missing mean needs every row before the first is used: use drop or ffill when streaming".into(),
        });
    }
    let table = crate::reader::stream_table(
        source,
        name,
        opts.header,
        opts.missing,
        opts.delimiter,
        |resolve, names| {
            let target = resolve(&opts.target)?;
            let features: Vec<usize> = match &opts.features {
                Some(cols) => cols.iter().map(resolve).collect::<Result<_, _>>()?,
                None => (0..names.len()).filter(|&i| i != target).collect(),
            };
            Ok(features.into_iter().chain([target]).collect())
        },
        sink,
    )?;
    let mut names = table.names;
    let target = names.pop().unwrap_or_default();
    Ok((names, target, table.rows))
}

/// [`parse_csv_from`] with the target and features chosen from the header's names by
/// `pick` (which may refuse with [`DataError::Rejected`]): one pass even when the
/// columns depend on the header, as a formula's do. `opts.target` and `opts.features`
/// are not used.
pub fn parse_csv_with(
    source: impl std::io::Read,
    name: &str,
    opts: &CsvOptions,
    pick: impl FnOnce(&[String]) -> Result<(Column, Option<Vec<Column>>), DataError>,
) -> Result<Dataset, DataError> {
    let mut features = Vec::new();
    let mut width = 0;
    let table = read_table(
        source,
        name,
        opts.header,
        opts.missing,
        opts.delimiter,
        if opts.categorical {
            Text::AllButLast
        } else {
            Text::None
        },
        |resolve, names| {
            let (target, chosen) = pick(names)?;
            let target = resolve(&target)?;
            features = match &chosen {
                Some(cols) => cols.iter().map(resolve).collect::<Result<_, _>>()?,
                None => (0..names.len()).filter(|&i| i != target).collect(),
            };
            width = features.len();
            Ok(features.iter().copied().chain([target]).collect())
        },
    );
    let table = table?;
    let (n, d) = (table.rows, width);
    // Dummy coding: each text column becomes one 0/1 feature per level but the
    // reference (the first level in sorted order, or the one asked for).
    let mut categories = Vec::new();
    let mut names = Vec::new();
    // For each feature column: None (numeric) or (code → output column or None).
    let mut plan: Vec<Option<Vec<Option<usize>>>> = Vec::with_capacity(d);
    for j in 0..d {
        match &table.levels[j] {
            None => {
                plan.push(None);
                names.push(table.names[j].clone());
            }
            Some(seen) => {
                let column = table.names[j].clone();
                let mut sorted = seen.clone();
                sorted.sort();
                let reference = match opts.reference.iter().find(|(c, _)| *c == column) {
                    Some((_, level)) if sorted.contains(level) => level.clone(),
                    Some((_, level)) => {
                        return Err(DataError::Rejected {
                            message: format!(
                            "--reference {column}={}: '{column}' has no level '{}' (levels: {})",
                            shown(level),
                            shown(level),
                            shown(&sorted.join(", "))
                        ),
                        })
                    }
                    None => sorted[0].clone(),
                };
                let cat = Categorical {
                    column,
                    levels: sorted.clone(),
                    reference: reference.clone(),
                };
                let first = names.len();
                names.extend(cat.features());
                let codes: Vec<Option<usize>> = seen
                    .iter()
                    .map(|l| {
                        if *l == reference {
                            None
                        } else {
                            let k = sorted
                                .iter()
                                .filter(|s| **s != reference)
                                .position(|s| s == l);
                            k.map(|k| first + k)
                        }
                    })
                    .collect();
                plan.push(Some(codes));
                categories.push(cat);
            }
        }
    }
    if plan.iter().all(Option::is_none) {
        // All numbers: the features are each row without its last value, moved down in
        // place (row i goes to i·d ≤ i·(d + 1)), so the data are never held twice.
        let mut values = table.values;
        let y: Vec<f64> = values.iter().skip(d).step_by(d + 1).copied().collect();
        for i in 0..n {
            values.copy_within(i * (d + 1)..i * (d + 1) + d, i * d);
        }
        values.truncate(n * d);
        values.shrink_to_fit();
        return Ok(Dataset {
            x: Tensor::new(values, &[n, d]),
            y: Tensor::new(y, &[n, 1]),
            features: names,
            target: table.names[d].clone(),
            categories,
        });
    }
    let width_out = names.len();
    let mut x = Vec::with_capacity(n * width_out);
    let mut y = Vec::with_capacity(n);
    for row in table.values.chunks_exact(d + 1) {
        let start = x.len();
        x.resize(start + width_out, 0.0);
        let mut at = start;
        for j in 0..d {
            match &plan[j] {
                None => {
                    x[at] = row[j];
                    at += 1;
                }
                Some(codes) => {
                    let levels = table.levels[j].as_ref().map_or(0, Vec::len);
                    if let Some(Some(col)) = codes.get(row[j] as usize) {
                        x[start + col] = 1.0;
                    }
                    at += levels - 1;
                }
            }
        }
        y.push(row[d]);
    }
    drop(table.values);
    Ok(Dataset {
        x: Tensor::new(x, &[n, width_out]),
        y: Tensor::new(y, &[n, 1]),
        features: names,
        target: table.names[d].clone(),
        categories,
    })
}

/// The features of a saved model for the rows of a CSV source: `columns` are the source
/// columns it reads, in order; a column named in `categories` is dummy-coded with the
/// saved levels (a level the model never saw is an error naming the row), the others are
/// numbers. Returns the `[rows, features]` matrix.
///
/// ```
/// use model::{encode_columns, Categorical, Missing};
/// let color = Categorical { column: "color".into(), levels: vec!["blue".into(), "red".into()], reference: "blue".into() };
/// let x = encode_columns(&b"x,color\n1,red\n2,blue\n"[..], "mem.csv", &["x".into(), "color".into()], &[color], Missing::Error).unwrap();
/// assert_eq!(x.to_vec(), vec![1.0, 1.0, 2.0, 0.0]);
/// ```
pub fn encode_columns(
    source: impl std::io::Read,
    name: &str,
    columns: &[String],
    categories: &[Categorical],
    missing: Missing,
) -> Result<Tensor, DataError> {
    encode_keeping(source, name, columns, categories, missing, &[]).map(|(x, _)| x)
}

/// [`encode_columns`], also carrying the columns `keep` through as their text, row by row
/// (to match predictions with the rows they are for).
pub fn encode_keeping(
    source: impl std::io::Read,
    name: &str,
    columns: &[String],
    categories: &[Categorical],
    missing: Missing,
    keep: &[String],
) -> Result<(Tensor, Vec<Vec<String>>), DataError> {
    let m = columns.len();
    let table = read_table(
        source,
        name,
        None,
        missing,
        None,
        Text::AllKeepingFrom(m),
        |resolve, _| {
            columns
                .iter()
                .chain(keep)
                .map(|c| resolve(&Column::Name(c.clone())))
                .collect()
        },
    )?;
    let k = m + keep.len();
    let n = table.rows;
    let kept: Vec<Vec<String>> = (0..table.rows)
        .map(|i| {
            (m..k)
                .map(|j| {
                    let v = table.values[i * k + j];
                    match &table.levels[j] {
                        Some(l) if !v.is_nan() => l[v as usize].clone(),
                        _ => String::new(),
                    }
                })
                .collect()
        })
        .collect();
    let mut blocks: Vec<(Option<&Categorical>, Vec<String>)> = Vec::new();
    for (j, c) in columns.iter().enumerate() {
        let cat = categories.iter().find(|g| g.column == *c);
        // The levels as read; a text column of numbers is matched by their text below.
        let seen: Vec<String> = table.levels[j].clone().unwrap_or_default();
        if cat.is_none() && table.levels[j].is_some() {
            return Err(DataError::Rejected {
                message: format!(
                    "{name}: column '{}' holds text, but the model reads it as numbers",
                    shown(c)
                ),
            });
        }
        blocks.push((cat, seen));
    }
    let width: usize = blocks
        .iter()
        .map(|(c, _)| c.map_or(1, |c| c.levels.len() - 1))
        .sum();
    let mut x = vec![0.0; n * width];
    for i in 0..n {
        let mut at = i * width;
        for (j, (cat, seen)) in blocks.iter().enumerate() {
            let v = table.values[i * k + j];
            match cat {
                None => {
                    x[at] = v;
                    at += 1;
                }
                Some(cat) => {
                    let text = if table.levels[j].is_some() {
                        seen[v as usize].clone()
                    } else {
                        format!("{v}")
                    };
                    let others: Vec<&String> =
                        cat.levels.iter().filter(|l| **l != cat.reference).collect();
                    if text != cat.reference {
                        match others.iter().position(|l| **l == text) {
                            Some(p) => x[at + p] = 1.0,
                            None => {
                                return Err(DataError::Rejected {
                                    message: format!(
                                        "{name}: data row {}: column '{}' has the level '{}', which the model was not fitted on (levels: {})",
                                        i + 1,
                                        shown(&cat.column),
                                        shown(&text),
                                        shown(&cat.levels.join(", "))
                                    ),
                                })
                            }
                        }
                    }
                    at += others.len();
                }
            }
        }
    }
    Ok((Tensor::new(x, &[n, width]), kept))
}

/// The column names of a CSV file: its header, or `column 0`, `column 1`, … when its
/// first row is data (as [`parse_csv`] decides with `header: None`).
///
/// ```
/// assert_eq!(model::csv_columns(b"hours,score\n1,2\n", "mem.csv").unwrap(), ["hours", "score"]);
/// assert_eq!(model::csv_columns(b"1,2\n", "mem.csv").unwrap(), ["column 0", "column 1"]);
/// ```
pub fn csv_columns(bytes: &[u8], name: &str) -> Result<Vec<String>, DataError> {
    let mut found = Vec::new();
    match read_table(
        bytes,
        name,
        None,
        Missing::Error,
        None,
        Text::None,
        |_, names| {
            found = names.to_vec();
            Err(DataError::Empty {
                path: String::new(),
            })
        },
    ) {
        Err(DataError::Empty { path }) if path.is_empty() => Ok(found),
        Err(e) => Err(e),
        Ok(_) => Ok(found),
    }
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
    let table = read_table(
        bytes,
        name,
        None,
        missing,
        None,
        Text::None,
        |resolve, _| columns.iter().map(resolve).collect(),
    )?;
    Ok((
        Tensor::new(table.values, &[table.rows, columns.len()]),
        table.names,
    ))
}

/// Text of a field for messages: at most 40 characters, marked where cut.
pub(crate) fn shown(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
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
