//! The built `descent` binary, driven as a user would: each subcommand's output (insta
//! snapshots, timings filtered out) and each bad input's one-line message and exit 2.

use std::process::Command;

fn descent(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_descent"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn without_timings(s: &str) -> String {
    s.lines()
        .map(|l| match l.find(" s; ") {
            Some(i) => {
                let start = l[..i].rfind(", ").map_or(0, |j| j + 2);
                format!("{}[time]{}", &l[..start], &l[i + 2..])
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn fit_check_sweep_and_demo_output() {
    let (code, out, err) = descent(&["fit", "tests/data/small.csv", "--target", "score"]);
    assert_eq!((code, err.as_str()), (0, ""));
    insta::assert_snapshot!("fit", without_timings(&out));
    let (code, out, _) = descent(&["check", "tests/data/small.csv", "--target", "score"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("check", out);
    let (code, out, _) = descent(&[
        "sweep",
        "tests/data/small.csv",
        "--target",
        "score",
        "--lrs",
        "1e-3,0.05,0.2",
    ]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("sweep", out);
    let (code, out, _) = descent(&["--plot", "target/cli-test/demo-snapshot"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("demo", out);
    let (code, out, err) = descent(&[
        "fit",
        "tests/data/small.csv",
        "--model",
        "score = a*ln(hours) + c",
        "--iters",
        "3000",
    ]);
    assert_eq!((code, err.as_str()), (0, ""));
    insta::assert_snapshot!("fit_formula", without_timings(&out));
    let (code, out, err) = descent(&[
        "fit",
        "tests/data/multi.csv",
        "--target",
        "y",
        "--standardize",
        "--split",
        "0.6,0.2,0.2",
    ]);
    assert_eq!((code, err.as_str()), (0, ""));
    insta::assert_snapshot!("fit_multi", without_timings(&out));
}

#[test]
fn collinear_features_still_fit_and_say_why_the_closed_form_is_missing() {
    let (code, out, err) = descent(&["fit", "tests/data/bad/collinear.csv", "--target", "y"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(out.contains("features are collinear"), "{out}");
    assert!(out.contains("not identifiable"), "{out}");
}

#[test]
fn save_then_predict() {
    for (name, args) in [
        ("linear", &["--target", "score"][..]),
        ("formula", &["--model", "score = a*exp(k*hours) + c"][..]),
    ] {
        let path = format!("target/cli-test/{name}.json");
        std::fs::create_dir_all("target/cli-test").unwrap();
        let mut a = vec!["fit", "tests/data/small.csv", "--json", "--save", &path];
        a.extend_from_slice(args);
        let (code, out, err) = descent(&a);
        assert_eq!(code, 0, "{err}");
        let fit: serde_json::Value = serde_json::from_str(&out).unwrap();
        let (code, csv, err) = descent(&["predict", &path, "tests/data/small.csv"]);
        assert_eq!(code, 0, "{err}");
        // The predictions' MSE against the file's scores is the fit's training MSE.
        let scores = [52.0, 60.0, 65.0, 71.0, 80.0, 85.0];
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("hours,predicted_score"));
        let preds: Vec<f64> = lines
            .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        let mse: f64 = preds
            .iter()
            .zip(scores)
            .map(|(p, y)| (p - y).powi(2))
            .sum::<f64>()
            / 6.0;
        let want = fit["metrics"]["train"]["mse"].as_f64().unwrap();
        assert!((mse - want).abs() < 1e-9 * want, "{name}: {mse} vs {want}");
    }
}

#[test]
fn json_is_full_precision() {
    let (code, out, _) = descent(&[
        "fit",
        "tests/data/small.csv",
        "--target",
        "score",
        "--json",
        "--iters",
        "3000",
    ]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    // Slope Sxy/Sxx = 115.5/17.5 = 6.6 and intercept 68.8333 − 3.5·6.6 = 45.7333, by hand.
    let closed = &doc["closed_form"];
    assert!(
        (closed["hours"].as_f64().unwrap() - 6.6).abs() < 1e-12,
        "{out}"
    );
    assert!((closed["(intercept)"].as_f64().unwrap() - 45.733333333333333).abs() < 1e-12);
    // se(slope) = σ/√Sxx with σ² = RSS/4 and RSS = 6·MSE at the optimum = 4.5333…, by hand.
    let slope = &doc["coefficients"][0];
    let se = (4.533333333333333f64 / 4.0).sqrt() / 17.5f64.sqrt();
    assert!(
        (slope["std_error"].as_f64().unwrap() - se).abs() < 1e-7,
        "{slope}"
    );
    // The 95% interval uses t(0.975, 4) = 2.7764 (tables).
    let ci = slope["ci95"].as_array().unwrap();
    let half = (ci[1].as_f64().unwrap() - ci[0].as_f64().unwrap()) / 2.0;
    assert!((half / slope["std_error"].as_f64().unwrap() - 2.7764).abs() < 1e-4);
    assert_eq!(doc["df"], 4);
    // At w = b = 0: ∂w = −(2/6)·Σx·y = −1561/3 and ∂b = −(2/6)·Σy = −413/3, by hand.
    let (_, out, _) = descent(&[
        "check",
        "tests/data/small.csv",
        "--target",
        "score",
        "--json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    for way in ["hand", "reverse", "forward", "finite_difference"] {
        let got = doc["gradients"]["hours"][way].as_f64().unwrap();
        let tol = if way == "finite_difference" {
            1e-5
        } else {
            1e-9
        };
        assert!((got - -1561.0 / 3.0).abs() < tol, "{way}: {got}");
        let got = doc["gradients"]["(intercept)"][way].as_f64().unwrap();
        assert!((got - -413.0 / 3.0).abs() < tol, "{way}: {got}");
    }
    // A formula at a = 1, k = 0.1, c = 2: the partials of mean((a·e^(kx) + c − y)²), by hand.
    let (_, out, _) = descent(&[
        "check",
        "tests/data/small.csv",
        "--model",
        "score = a*exp(k*hours) + c",
        "--init",
        "a=1,k=0.1,c=2",
        "--json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    let (a, k, c) = (1.0f64, 0.1f64, 2.0f64);
    let xs = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
    let ys = [52.0, 60.0, 65.0, 71.0, 80.0, 85.0];
    let r: Vec<f64> = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| a * (k * x).exp() + c - y)
        .collect();
    let mean = |f: &dyn Fn(usize) -> f64| (0..6).map(f).sum::<f64>() / 6.0;
    let want = [
        ("a", mean(&|i| 2.0 * r[i] * (k * xs[i]).exp())),
        ("k", mean(&|i| 2.0 * r[i] * a * xs[i] * (k * xs[i]).exp())),
        ("c", mean(&|i| 2.0 * r[i])),
    ];
    for (name, want) in want {
        for way in ["reverse", "forward", "finite_difference"] {
            let got = doc["gradients"][name][way].as_f64().unwrap();
            let tol = if way == "finite_difference" {
                1e-5
            } else {
                1e-10
            };
            assert!(
                (got - want).abs() < tol * want.abs(),
                "{name} {way}: {got} vs {want}"
            );
        }
        assert!(doc["gradients"][name]["hand"].is_null());
    }
    let (_, out, _) = descent(&[
        "sweep",
        "tests/data/small.csv",
        "--target",
        "score",
        "--json",
        "--lrs",
        "0.01,1",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert!(doc["runs"][1]["result"]
        .as_str()
        .unwrap()
        .starts_with("diverged at iteration"));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["fit", "tests/data/bad/empty.csv", "--target", "y"],
            "the file is empty",
        ),
        (
            &["fit", "tests/data/bad/header_only.csv", "--target", "y"],
            "has a header but no data rows",
        ),
        (
            &["fit", "tests/data/bad/ragged.csv", "--target", "y"],
            "ragged.csv:3: row has 1 fields",
        ),
        (
            &["fit", "tests/data/bad/word.csv", "--target", "y"],
            "word.csv:3:2: column 'y': 'abc' is not a number",
        ),
        (
            &["fit", "tests/data/bad/missing.csv", "--target", "y"],
            "missing.csv:3:1: column 'x': missing value",
        ),
        (
            &["fit", "tests/data/bad/infinite.csv", "--target", "y"],
            "'inf' is infinite",
        ),
        (
            &["fit", "tests/data/bad/utf8.csv", "--target", "y"],
            "UTF-8",
        ),
        (
            &[
                "fit",
                "tests/data/bad/ffill_first.csv",
                "--target",
                "y",
                "--missing",
                "ffill",
            ],
            "nothing to fill forward from",
        ),
        (
            &["fit", "tests/data/small.csv", "--target", "nope"],
            "no column 'nope'; the columns are: hours, score",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--target",
                "score",
                "--features",
                "hourz",
            ],
            "no column 'hourz'",
        ),
        (
            &["fit", "tests/data/missing_file.csv", "--target", "y"],
            "cannot read",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--target",
                "score",
                "--lr",
                "5",
            ],
            "training diverged at iteration",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--target",
                "score",
                "--lr",
                "-1",
            ],
            "--lr must be a positive number",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--target",
                "score",
                "--l2",
                "-0.5",
            ],
            "--l2 and --l1 must be zero or positive",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--target",
                "score",
                "--init",
                "m=abc,b=1",
            ],
            "--init: 'm=abc' is not a number",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--target",
                "score",
                "--init",
                "1,2,3",
            ],
            "--init: 3 values given",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--target",
                "score",
                "--split",
                "0.5,-1",
            ],
            "--split",
        ),
        (
            &[
                "fit",
                "tests/data/bad/two_rows.csv",
                "--target",
                "y",
                "--split",
                "0.9,0.05,0.05",
            ],
            "leaves a part empty",
        ),
        (&["fit", "tests/data/small.csv"], "--target"),
        (&["frobnicate"], "unrecognized subcommand"),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--model",
                "score = m*hour + b",
            ],
            "--model 'score = m*hour + b': character 11: 'hour' is not a column",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--model",
                "score = m*hours +",
            ],
            "character 18: the formula ends where a value was expected",
        ),
        (
            &["fit", "tests/data/small.csv", "--model", "grade = m*hours"],
            "the target 'grade' is not a column (columns: hours, score)",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--model",
                "score = a*exp(k*hours",
            ],
            "the '(' at character 14 is never closed",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--model",
                "score = cosh(hours)",
            ],
            "unknown function 'cosh'",
        ),
        (
            &["fit", "tests/data/small.csv", "--model", "score = hours^p"],
            "the exponent must be a number",
        ),
        (
            &["fit", "tests/data/small.csv", "--model", "score = 3*hours"],
            "no parameters to fit",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--model",
                "score = m*hours + b",
                "--init",
                "k=1",
            ],
            "--init: 'k' is not a parameter of the formula (parameters: m, b)",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--model",
                "score = m*hours",
                "--features",
                "hours",
            ],
            "the formula names the columns it uses",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--model",
                "score = exp(k*hours)",
                "--lr",
                "10",
            ],
            "training diverged at iteration",
        ),
        (
            &[
                "predict",
                "tests/data/bad_models/garbage.json",
                "tests/data/small.csv",
            ],
            "garbage.json: not a saved model: expected ident at line 1 column 2",
        ),
        (
            &[
                "predict",
                "tests/data/bad_models/no_version.json",
                "tests/data/small.csv",
            ],
            "no \"descent_model\": 1",
        ),
        (
            &[
                "predict",
                "tests/data/bad_models/no_intercept.json",
                "tests/data/small.csv",
            ],
            "parameter '(intercept)' is missing",
        ),
        (
            &[
                "predict",
                "tests/data/bad_models/bad_formula.json",
                "tests/data/small.csv",
            ],
            "formula: character 15: the formula ends where a value was expected",
        ),
        (
            &[
                "predict",
                "tests/data/bad_models/unknown_feature.json",
                "tests/data/small.csv",
            ],
            "no column 'minutes'",
        ),
        (
            &[
                "sweep",
                "tests/data/small.csv",
                "--target",
                "score",
                "--lrs",
                "0.1,-2",
            ],
            "--lrs: every learning rate must be a positive number, got -2",
        ),
    ];
    for (args, want) in cases {
        let (code, out, err) = descent(args);
        assert_eq!(code, 2, "{args:?}: exit {code}, stderr {err}");
        assert!(
            err.contains(want),
            "{args:?}: stderr {err:?} lacks {want:?}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{args:?}: {err}"
        );
        if !args.contains(&"frobnicate") && !args.ends_with(&["tests/data/small.csv"]) {
            assert_eq!(
                err.trim_end().lines().count(),
                1,
                "{args:?}: one line, got {err:?}"
            );
        }
        assert!(
            out.is_empty() || args.contains(&"5") || args.contains(&"10"),
            "{args:?}: nothing on stdout but progress, got {out:?}"
        );
    }
}
