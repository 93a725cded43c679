//! `descent predict`: a saved model's predictions for the rows of a CSV file.

use super::{read, MissingArg};
use model::*;
use serde_json::Value;
use std::io::Write;
use tape::Tensor;

#[derive(clap::Args, Debug)]
pub(super) struct Predict {
    /// A model saved by `descent fit --save`.
    model: String,
    /// The CSV file with the model's feature columns (the target column may be absent).
    file: String,
    /// Write the predictions here instead of to standard output.
    #[arg(long)]
    out: Option<String>,
    /// Columns of the file to carry through to the output unchanged, first (such as an
    /// id or a date, so that rows can be matched).
    #[arg(long, value_delimiter = ',')]
    keep: Vec<String>,
    /// What to do with missing values.
    #[arg(long, value_enum, default_value_t = MissingArg::Error)]
    missing: MissingArg,
}

/// A model read back from its JSON.
struct Saved {
    target: String,
    features: Vec<String>,
    /// The source columns the features come from, and the text ones' coding.
    columns: Vec<String>,
    categories: Vec<Categorical>,
    predict: Box<dyn Fn(&Tensor) -> Tensor>,
}

fn load_model(path: &str) -> Result<Saved, String> {
    let text = String::from_utf8(read(path)?).map_err(|_| format!("{path}: not UTF-8 text"))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("{path}: not a saved model: {e}"))?;
    let bad = |what: &str| format!("{path}: not a saved model: {what}");
    if doc.get("descent_model").and_then(Value::as_u64) != Some(1) {
        return Err(bad(
            "no \"descent_model\": 1 (save one with descent fit --save)",
        ));
    }
    let string = |key: &str| -> Result<String, String> {
        doc.get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(&format!("\"{key}\" is missing or not a string")))
    };
    let target = string("target")?;
    let features: Vec<String> = doc
        .get("features")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
        .ok_or_else(|| bad("\"features\" is missing or not a list of names"))?;
    let names_list = |key: &str| -> Option<Vec<String>> {
        doc.get(key)?
            .as_array()?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let columns = match doc.get("columns") {
        None | Some(Value::Null) => features.clone(),
        Some(_) => {
            names_list("columns").ok_or_else(|| bad("\"columns\" is not a list of names"))?
        }
    };
    let categories: Vec<Categorical> = match doc.get("categories") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(list)) => list
            .iter()
            .map(|c| {
                let column = c.get("column").and_then(Value::as_str);
                let reference = c.get("reference").and_then(Value::as_str);
                let levels: Option<Vec<String>> = c
                    .get("levels")
                    .and_then(Value::as_array)
                    .and_then(|l| l.iter().map(|v| v.as_str().map(str::to_string)).collect());
                match (column, reference, levels) {
                    (Some(column), Some(reference), Some(levels))
                        if levels.len() >= 2 && levels.iter().any(|l| l == reference) =>
                    {
                        Ok(Categorical {
                            column: column.to_string(),
                            levels,
                            reference: reference.to_string(),
                        })
                    }
                    _ => Err(bad(
                        "a category is not {column, levels (two or more), reference among them}",
                    )),
                }
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("\"categories\" is not a list")),
    };
    // The features the columns give must be the model's, in order.
    let expanded: Vec<String> = columns
        .iter()
        .flat_map(|c| match categories.iter().find(|g| g.column == *c) {
            Some(g) => g.features(),
            None => vec![c.clone()],
        })
        .collect();
    if expanded != features {
        return Err(bad(
            "\"columns\" and \"categories\" do not give the model's \"features\"",
        ));
    }
    let params = doc
        .get("parameters")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("\"parameters\" is missing"))?;
    let value = |name: &str| -> Result<f64, String> {
        params
            .get(name)
            .and_then(Value::as_f64)
            .ok_or_else(|| bad(&format!("parameter '{name}' is missing or not a number")))
    };
    let predict: Box<dyn Fn(&Tensor) -> Tensor> = match string("kind")?.as_str() {
        "linear" => {
            let w: Vec<f64> = features
                .iter()
                .map(|f| value(f))
                .collect::<Result<_, _>>()?;
            let lin = if doc.get("intercept") == Some(&Value::Bool(false)) {
                Linear::without_intercept(&w)
            } else {
                Linear::from_coefficients(&w, value("(intercept)")?)
            };
            Box::new(move |x| lin.predict(x))
        }
        "formula" => {
            let text = string("formula")?;
            let mut names: Vec<&str> = features.iter().map(String::as_str).collect();
            names.push(&target);
            let mut f = Formula::parse(&text, &names).map_err(|e| bad(&format!("formula: {e}")))?;
            if f.columns() != features.as_slice() {
                return Err(bad("the formula's columns differ from \"features\""));
            }
            let pnames: Vec<String> = f.parameter_names().iter().map(|s| s.to_string()).collect();
            for n in pnames {
                f.set(&n, value(&n)?)?;
            }
            Box::new(move |x| f.predict(x))
        }
        other => return Err(bad(&format!("unknown kind '{other}'"))),
    };
    Ok(Saved {
        target,
        features,
        columns,
        categories,
        predict,
    })
}

pub(super) fn predict(p: &Predict) -> Result<(), String> {
    let saved = load_model(&p.model)?;
    let (x, kept) = encode_keeping(
        super::open(&p.file)?,
        super::display(&p.file),
        &saved.columns,
        &saved.categories,
        p.missing.into(),
        &p.keep,
    )
    .map_err(|e| e.to_string())?;
    let names = saved.features.clone();
    let y = (saved.predict)(&x);
    let mut out = csv::Writer::from_writer(Vec::new());
    let header: Vec<String> = p
        .keep
        .iter()
        .chain(&names)
        .cloned()
        .chain([format!("predicted_{}", saved.target)])
        .collect();
    let d = names.len();
    let write_err = |e: csv::Error| e.to_string();
    out.write_record(&header).map_err(write_err)?;
    for (i, yhat) in y.data().iter().enumerate() {
        let row: Vec<String> = kept[i]
            .iter()
            .cloned()
            .chain(
                x.data()[i * d..(i + 1) * d]
                    .iter()
                    .chain([yhat])
                    .map(|v| format!("{v:?}")),
            )
            .collect();
        out.write_record(&row).map_err(write_err)?;
    }
    let text = out.into_inner().map_err(|e| e.to_string())?;
    match &p.out {
        Some(path) => {
            super::write_atomic(path, &text, &[&p.file, &p.model]).map_err(|e| format!("--out {e}"))
        }
        None => {
            if let Err(e) = std::io::stdout().write_all(&text) {
                super::write_failed(&e);
            }
            Ok(())
        }
    }
}
