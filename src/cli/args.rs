//! The options commands share (the data file and how to read it; a model at a point) and
//! loading the dataset they name.

use super::io::{display, open, short};
use clap::ValueEnum;
use model::*;

/// A model at a point: what `derive` and `graph` read.
#[derive(clap::Args, Debug)]
pub(crate) struct AtPoint {
    #[command(flatten)]
    pub(crate) data: Data,
    /// The model as a formula (default: the linear model over the features).
    #[arg(long)]
    pub(crate) model: Option<String>,
    /// Where to evaluate: name=value pairs (default: zeros for the linear model, ones for
    /// a formula's parameters).
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) init: Option<String>,
}

/// The data options shared by `fit`, `check` and `sweep`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Data {
    /// The CSV file.
    pub(crate) file: String,
    /// The column to predict (name or 0-based index).
    #[arg(long)]
    pub(crate) target: Option<String>,
    /// Predictor columns (default: every other column).
    #[arg(long, value_delimiter = ',')]
    pub(crate) features: Option<Vec<String>>,
    /// What to do with missing values.
    #[arg(long, value_enum, default_value_t = MissingArg::Error)]
    pub(crate) missing: MissingArg,
    /// Standardise features (fitted on the training split); coefficients are reported in
    /// the original units.
    #[arg(long)]
    pub(crate) standardize: bool,
    /// Print one JSON document at full precision instead of tables.
    #[arg(long)]
    pub(crate) json: bool,
    /// The field delimiter: comma, semicolon, tab, pipe, or one character (default:
    /// detected from the first line).
    #[arg(long)]
    pub(crate) delimiter: Option<String>,
    /// The reference level of a text (categorical) column, as column=level (default: the
    /// first level in sorted order, as statsmodels and R choose).
    #[arg(long, value_delimiter = ',')]
    pub(crate) reference: Vec<String>,
}

impl Data {
    /// `--delimiter` as a byte: a named one, or one ASCII character other than a quote or
    /// a line end; `None` to detect it.
    pub(crate) fn delimiter(&self) -> Result<Option<u8>, String> {
        Ok(match self.delimiter.as_deref() {
            None => None,
            Some("comma") => Some(b','),
            Some("semicolon") => Some(b';'),
            Some("tab" | "\\t") => Some(b'\t'),
            Some("pipe") => Some(b'|'),
            Some(o) if o.len() == 1 && o.is_ascii() && o != "\"" && o != "\n" => {
                Some(o.as_bytes()[0])
            }
            Some(o) => {
                return Err(format!(
                "--delimiter: give comma, semicolon, tab, pipe or one ASCII character, got '{}'",
                short(o)
            ))
            }
        })
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum MissingArg {
    Error,
    Drop,
    Ffill,
    Mean,
}

impl From<MissingArg> for Missing {
    fn from(m: MissingArg) -> Missing {
        match m {
            MissingArg::Error => Missing::Error,
            MissingArg::Drop => Missing::Drop,
            MissingArg::Ffill => Missing::ForwardFill,
            MissingArg::Mean => Missing::Mean,
        }
    }
}

impl Data {
    /// `--reference` as (column, level) pairs.
    pub(crate) fn references(&self) -> Result<Vec<(String, String)>, String> {
        self.reference
            .iter()
            .map(|r| {
                r.split_once('=')
                    .map(|(c, l)| (c.trim().to_string(), l.trim().to_string()))
                    .ok_or_else(|| format!("--reference: '{}' is not column=level", short(r)))
            })
            .collect()
    }
}

/// The dataset for `--target` and `--features`.
pub(crate) fn load(d: &Data) -> Result<Dataset, String> {
    let Some(target) = &d.target else {
        return Err("give the column to predict with --target COLUMN".into());
    };
    let opts = CsvOptions {
        header: None,
        target: target.as_str().into(),
        features: d
            .features
            .as_ref()
            .map(|f| f.iter().map(|s| s.as_str().into()).collect()),
        missing: d.missing.into(),
        delimiter: d.delimiter()?,
        categorical: true,
        reference: d.references()?,
    };
    let data =
        parse_csv_from(open(&d.file)?, display(&d.file), &opts).map_err(|e| e.to_string())?;
    check_names(&d.file, &data.target, &data.features)?;
    Ok(data)
}

/// Refuses column names that would make a saved model ambiguous: a name used twice
/// among the features and the target, or a feature named `(intercept)`.
pub(crate) fn check_names(file: &str, target: &str, features: &[String]) -> Result<(), String> {
    let mut seen: Vec<&str> = vec![target];
    for f in features {
        if f == model::INTERCEPT {
            return Err(format!(
                "{file}: a feature column is named '(intercept)', the name of the model's constant term: rename it"
            ));
        }
        if seen.contains(&f.as_str()) {
            return Err(format!(
                "{file}: the column name '{f}' is used twice among the target and features: names must be unique (rename one, or pick columns with --features)"
            ));
        }
        seen.push(f);
    }
    Ok(())
}

/// Standardised when asked: `check` and `sweep` work on the whole file.
pub(crate) fn load_prepared(d: &Data) -> Result<Dataset, String> {
    let raw = load(d)?;
    Ok(if d.standardize {
        Standardizer::fit(&raw.x).apply(&raw)
    } else {
        raw
    })
}
