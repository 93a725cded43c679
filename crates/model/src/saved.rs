//! The saved model: one serde type that `descent fit --save` writes and `descent predict`
//! reads, with a format version, the exact source column each coefficient reads, the
//! categorical levels and the formula; a model read from a file is checked whole (finite
//! numbers, size limits, a formula within `MAX_NODES`, names that agree) before it is used.

use crate::{Categorical, Formula, Linear};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use tape::Tensor;

/// The format version written in `"descent_model"`.
pub const FORMAT_VERSION: u32 = 1;

/// The most features, categorical levels, or characters in a name a loaded model may have:
/// far beyond any real model, small enough that a hostile file cannot make `predict` build
/// something huge before it reads a row.
pub const MAX_ITEMS: usize = 1_000_000;

/// A name or formula longer than this is refused when a model is loaded.
pub const MAX_TEXT: usize = 1 << 20;

/// Which model the coefficients belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `ŷ = Xw + b` (or `Xw` without an intercept).
    Linear,
    /// A formula with named parameters.
    Formula,
}

/// A fitted model as stored in JSON.
///
/// ```
/// use model::SavedModel;
/// let m = SavedModel::linear("y", &["x".into()], &[], true, &[("x".into(), 2.0), ("(intercept)".into(), 1.0)]);
/// let back = SavedModel::from_json(&m.to_json()).unwrap();
/// assert_eq!(back, m);
/// let p = back.predictor().unwrap();
/// assert_eq!(p.predict(&tape::Tensor::new(vec![3.0], &[1, 1])).data(), &[7.0]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedModel {
    /// The format version, [`FORMAT_VERSION`].
    pub descent_model: u32,
    /// Linear or formula.
    pub kind: Kind,
    /// The formula's text (formula models only).
    #[serde(default)]
    pub formula: Option<String>,
    /// The target column's name.
    pub target: String,
    /// The features, in the order the coefficients read them (dummies as `column[T.level]`).
    pub features: Vec<String>,
    /// The source columns the features come from, each once, in order (a text column
    /// once for all its dummies). Absent in early files, where it equals `features`.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// The text columns' coding.
    #[serde(default)]
    pub categories: Vec<Categorical>,
    /// Whether a linear model has an intercept (absent: it has one).
    #[serde(default)]
    pub intercept: Option<bool>,
    /// Every parameter by name: the features' coefficients and `(intercept)`, or the
    /// formula's parameters.
    pub parameters: IndexMap<String, f64>,
}

/// A loaded model, ready to predict.
pub enum Predictor {
    /// A linear model.
    Linear(Linear),
    /// A formula with its parameters set, and the encoded column each of its columns is.
    Formula(Box<Formula>, Vec<usize>),
}

impl Predictor {
    /// Predictions for the rows of `x`: `[n, d]`, the encoded features
    /// ([`SavedModel::encoded`]) in order.
    pub fn predict(&self, x: &Tensor) -> Tensor {
        match self {
            Predictor::Linear(l) => l.predict(x),
            Predictor::Formula(f, pick) => {
                let (n, d) = (x.shape()[0], x.shape()[1]);
                if pick.len() == d && pick.iter().enumerate().all(|(i, &j)| i == j) {
                    return f.predict(x);
                }
                let data = x.data();
                let picked: Vec<f64> = (0..n)
                    .flat_map(|i| pick.iter().map(move |&j| data[i * d + j]))
                    .collect();
                f.predict(&Tensor::new(picked, &[n, pick.len()]))
            }
        }
    }
}

impl SavedModel {
    /// A linear model's record: `parameters` the coefficients by feature and `(intercept)`.
    pub fn linear(
        target: &str,
        features: &[String],
        categories: &[Categorical],
        intercept: bool,
        parameters: &[(String, f64)],
    ) -> SavedModel {
        SavedModel {
            descent_model: FORMAT_VERSION,
            kind: Kind::Linear,
            formula: None,
            target: target.to_string(),
            features: features.to_vec(),
            columns: Some(source_columns(features, categories)),
            categories: categories.to_vec(),
            intercept: Some(intercept),
            parameters: parameters.iter().cloned().collect(),
        }
    }

    /// A formula model's record.
    pub fn formula(
        text: &str,
        target: &str,
        features: &[String],
        categories: &[Categorical],
        parameters: &[(String, f64)],
    ) -> SavedModel {
        SavedModel {
            descent_model: FORMAT_VERSION,
            kind: Kind::Formula,
            formula: Some(text.to_string()),
            target: target.to_string(),
            features: features.to_vec(),
            columns: Some(source_columns(features, categories)),
            categories: categories.to_vec(),
            intercept: None,
            parameters: parameters.iter().cloned().collect(),
        }
    }

    /// The JSON text, pretty-printed, ending in a newline.
    pub fn to_json(&self) -> String {
        // Serialising plain strings, numbers and maps cannot fail.
        serde_json::to_string_pretty(self).expect("a saved model serialises") + "\n"
    }

    /// Reads and checks a model: the version, every size within its limit, every number
    /// finite, the columns and categories giving exactly the features, and the parameters
    /// exactly the model's.
    pub fn from_json(text: &str) -> Result<SavedModel, String> {
        // serde_json limits nesting to 128 levels, so a deep document cannot overflow the stack.
        let probe: serde_json::Value = serde_json::from_str(text).map_err(clipped)?;
        match probe
            .get("descent_model")
            .and_then(serde_json::Value::as_u64)
        {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "format version {v}, this descent reads version {FORMAT_VERSION}"
                ))
            }
            None => {
                return Err(format!(
                    "no \"descent_model\": {FORMAT_VERSION} (save one with descent fit --save)"
                ))
            }
        }
        let m: SavedModel = serde_json::from_value(probe).map_err(clipped)?;
        m.check()?;
        Ok(m)
    }

    /// The features the source columns give when encoded (every dummy of a text column):
    /// the columns of the rows [`Predictor::predict`] takes.
    pub fn encoded(&self) -> Vec<String> {
        expand(self.columns(), &self.categories)
    }

    /// The source columns, each once (the features themselves in early files).
    pub fn columns(&self) -> &[String] {
        self.columns.as_deref().unwrap_or(&self.features)
    }

    fn check(&self) -> Result<(), String> {
        let texts = std::iter::once(&self.target)
            .chain(&self.features)
            .chain(self.columns())
            .chain(self.formula.iter())
            .chain(self.parameters.keys())
            .chain(self.categories.iter().flat_map(|c| {
                std::iter::once(&c.column)
                    .chain(&c.levels)
                    .chain([&c.reference])
            }));
        for t in texts {
            if t.len() > MAX_TEXT {
                return Err(format!("a name or formula is longer than {MAX_TEXT} bytes"));
            }
        }
        let levels: usize = self.categories.iter().map(|c| c.levels.len()).sum();
        if self.features.len() > MAX_ITEMS || levels > MAX_ITEMS {
            return Err(format!(
                "more than {MAX_ITEMS} features or categorical levels"
            ));
        }
        if let Some((name, v)) = self.parameters.iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!("parameter '{name}' is {v}, not a finite number"));
        }
        for c in &self.categories {
            let mut sorted = c.levels.clone();
            sorted.sort();
            sorted.dedup();
            if c.levels.len() < 2
                || sorted.len() != c.levels.len()
                || !c.levels.contains(&c.reference)
            {
                return Err(format!(
                    "category '{}' needs two or more distinct levels with its reference among them",
                    c.column
                ));
            }
        }
        // A linear model reads every dummy; a formula the levels it names.
        let expanded = self.encoded();
        let fits = match self.kind {
            Kind::Linear => expanded == self.features,
            Kind::Formula => {
                self.features.iter().all(|f| expanded.contains(f))
                    && source_columns(&self.features, &self.categories) == self.columns()
            }
        };
        if !fits {
            return Err(
                "\"columns\" and \"categories\" do not give the model's \"features\"".into(),
            );
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = self.features.iter().find(|f| !seen.insert(f.as_str())) {
            return Err(format!("feature '{dup}' appears twice"));
        }
        let expected: Vec<String> = match self.kind {
            Kind::Linear => {
                if self.formula.is_some() {
                    return Err("a linear model has no formula".into());
                }
                let mut names = self.features.clone();
                if self.intercept != Some(false) {
                    names.push(crate::INTERCEPT.to_string());
                }
                names
            }
            Kind::Formula => {
                let f = self.parse_formula()?;
                f.parameter_names().iter().map(|s| s.to_string()).collect()
            }
        };
        let mut want: Vec<&str> = expected.iter().map(String::as_str).collect();
        let mut have: Vec<&str> = self.parameters.keys().map(String::as_str).collect();
        want.sort_unstable();
        have.sort_unstable();
        if want != have {
            let missing: Vec<&str> = want.iter().filter(|n| !have.contains(n)).copied().collect();
            let extra: Vec<&str> = have.iter().filter(|n| !want.contains(n)).copied().collect();
            return Err(if !missing.is_empty() {
                format!("{} missing", counted("parameter", &missing))
            } else {
                format!("{} not in the model", counted("parameter", &extra))
            });
        }
        Ok(())
    }

    fn parse_formula(&self) -> Result<Formula, String> {
        let text = self
            .formula
            .as_deref()
            .ok_or("a formula model has no \"formula\"")?;
        let mut names: Vec<&str> = self.features.iter().map(String::as_str).collect();
        names.push(&self.target);
        let f = Formula::parse(text, &names).map_err(|e| format!("formula: {e}"))?;
        if f.columns() != self.features.as_slice() {
            return Err("the formula's columns differ from \"features\"".into());
        }
        Ok(f)
    }

    /// The model, ready to predict on rows of its features.
    pub fn predictor(&self) -> Result<Predictor, String> {
        match self.kind {
            Kind::Linear => {
                let w: Vec<f64> = self.features.iter().map(|f| self.parameters[f]).collect();
                Ok(Predictor::Linear(if self.intercept == Some(false) {
                    Linear::without_intercept(&w)
                } else {
                    Linear::from_coefficients(&w, self.parameters[crate::INTERCEPT])
                }))
            }
            Kind::Formula => {
                let mut f = self.parse_formula()?;
                for (n, v) in &self.parameters {
                    f.set(n, *v)?;
                }
                let encoded = self.encoded();
                let pick = self
                    .features
                    .iter()
                    .map(|c| {
                        encoded
                            .iter()
                            .position(|e| e == c)
                            .expect("checked on load")
                    })
                    .collect();
                Ok(Predictor::Formula(Box::new(f), pick))
            }
        }
    }
}

/// The features that source columns give: a text column's dummies, else the column.
fn expand(columns: &[String], categories: &[Categorical]) -> Vec<String> {
    columns
        .iter()
        .flat_map(|c| match categories.iter().find(|g| g.column == *c) {
            Some(g) => g.features(),
            None => vec![c.clone()],
        })
        .collect()
}

/// The source column of each feature, each once, in order.
fn source_columns(features: &[String], categories: &[Categorical]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for f in features {
        let source = categories
            .iter()
            .find(|c| c.features().contains(f))
            .map_or(f.clone(), |c| c.column.clone());
        if !columns.contains(&source) {
            columns.push(source);
        }
    }
    columns
}

/// A parser's message, which may quote the file, cut to a readable length.
fn clipped(e: serde_json::Error) -> String {
    let text = e.to_string();
    match text.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// "parameter 'a' is" or "parameters 'a', 'b' are", names shortened, at most five listed.
fn counted(what: &str, names: &[&str]) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(5)
        .map(|n| match n.char_indices().nth(40) {
            Some((i, _)) => format!("'{}…'", &n[..i]),
            None => format!("'{n}'"),
        })
        .collect();
    let more = match names.len() {
        0..=5 => String::new(),
        k => format!(" and {} more", k - 5),
    };
    match names.len() {
        1 => format!("{what} {} is", shown[0]),
        _ => format!("{what}s {}{more} are", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn color() -> Categorical {
        Categorical {
            column: "color".into(),
            levels: vec!["blue".into(), "red".into()],
            reference: "blue".into(),
        }
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let feats = vec!["color[T.red]".to_string(), "x".to_string()];
        let m = SavedModel::linear(
            "y",
            &feats,
            &[color()],
            true,
            &[
                ("color[T.red]".into(), 1.5),
                ("x".into(), 0.1 + 0.2),
                ("(intercept)".into(), -0.0),
            ],
        );
        assert_eq!(m.columns(), ["color", "x"]);
        let back = SavedModel::from_json(&m.to_json()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.parameters["x"].to_bits(), (0.1f64 + 0.2).to_bits());
    }

    #[test]
    fn refuses_what_does_not_fit_together() {
        let ok = SavedModel::linear(
            "y",
            &["x".into()],
            &[],
            true,
            &[("x".into(), 1.0), ("(intercept)".into(), 0.0)],
        );
        type Edit = Box<dyn Fn(&mut SavedModel)>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "parameter '(intercept)' is missing",
                Box::new(|m| {
                    m.parameters.shift_remove("(intercept)");
                }),
            ),
            (
                "parameter 'z' is not in the model",
                Box::new(|m| {
                    m.parameters.insert("z".into(), 1.0);
                }),
            ),
            (
                "do not give",
                Box::new(|m| m.columns = Some(vec!["w".into()])),
            ),
            (
                "appears twice",
                Box::new(|m| {
                    m.features = vec!["x".into(), "x".into()];
                    m.columns = Some(m.features.clone());
                }),
            ),
            (
                "model has no \"formula\"",
                Box::new(|m| m.kind = Kind::Formula),
            ),
            (
                "linear model has no formula",
                Box::new(|m| m.formula = Some("y = a*x".into())),
            ),
            (
                "longer than",
                Box::new(|m| m.target = "t".repeat(MAX_TEXT + 1)),
            ),
        ];
        for (want, edit) in cases {
            let mut m = ok.clone();
            edit(&mut m);
            let e = SavedModel::from_json(&m.to_json()).unwrap_err();
            assert!(e.contains(want), "{want}: {e}");
        }
        let e = SavedModel::from_json(&ok.to_json().replace("1.0", "1e999")).unwrap_err();
        assert!(
            e.contains("number out of range") || e.contains("finite"),
            "{e}"
        );
        let e = SavedModel::from_json(
            &ok.to_json()
                .replace("\"descent_model\": 1", "\"descent_model\": 7"),
        )
        .unwrap_err();
        assert!(e.contains("version 7"), "{e}");
    }
}
