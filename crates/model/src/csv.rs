//! CSV into a [`Dataset`]: the entry points (`load_csv`, `parse_csv`, `stream_csv`,
//! `encode_columns`, …) that choose the target and features, code text columns and apply
//! the missing-value policy, on top of the reader (`reader.rs`), which turns bytes into
//! fields and numbers. Not a hot path itself: the reader is.

use crate::data::{Categorical, Column, CsvOptions, DataError, Dataset, Missing, RowSink};
use crate::reader::{read_table, shown, Text};
use std::path::Path;
use tape::Tensor;

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
