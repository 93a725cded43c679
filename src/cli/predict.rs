//! `descent predict`: a saved model's predictions for the rows of a CSV file.

use super::args::MissingArg;
use super::io::read;
use model::*;
use std::io::Write;

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

fn load_model(path: &str) -> Result<SavedModel, String> {
    let text = String::from_utf8(read(path)?).map_err(|_| format!("{path}: not UTF-8 text"))?;
    SavedModel::from_json(&text).map_err(|e| format!("{path}: not a saved model: {e}"))
}

pub(super) fn predict(p: &Predict) -> Result<(), String> {
    let saved = load_model(&p.model)?;
    let predictor = saved.predictor().map_err(|e| format!("{}: {e}", p.model))?;
    let (x, kept) = encode_keeping(
        super::io::open(&p.file)?,
        super::io::display(&p.file),
        saved.columns(),
        &saved.categories,
        p.missing.into(),
        &p.keep,
    )
    .map_err(|e| e.to_string())?;
    let names = saved.encoded();
    let y = predictor.predict(&x);
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
        Some(path) => super::io::write_atomic(path, &text, &[&p.file, &p.model])
            .map_err(|e| format!("--out {e}")),
        None => {
            if let Err(e) = std::io::stdout().write_all(&text) {
                super::io::write_failed(&e);
            }
            Ok(())
        }
    }
}
