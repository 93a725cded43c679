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
    let _ = std::fs::remove_dir_all("target/cli-test/demo-snapshot");
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
    // x2 = 2·x: the design has rank 2 of 3; x2 is named and gets no coefficient.
    assert!(
        out.contains("x2 is a linear combination of x (the design has rank 2 of 3)"),
        "{out}"
    );
    assert!(out.contains("NA (dropped)"), "{out}");
    assert!(out.contains("the design is singular"), "{out}");
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
        (
            &[
                "check",
                "tests/data/small.csv",
                "--model",
                "score = a*hours",
                "--delimiter",
                "",
            ],
            "--delimiter: give comma, semicolon, tab, pipe or one ASCII character",
        ),
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
                "score = frob(hours)",
            ],
            "unknown function 'frob'",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--model",
                "sin(score) = hours*p",
            ],
            "'sin' cannot transform the target",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--model",
                "score = pow(hours) * p",
            ],
            "pow needs two arguments",
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
        assert!(out.is_empty(), "{args:?}: nothing on stdout, got {out:?}");
    }
}

/// Runs `descent` and parses its `--json` document.
fn fit_json(args: &[&str]) -> serde_json::Value {
    let (code, out, err) = descent(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

#[test]
fn numerical_failures_exit_4_with_where_they_came_from() {
    // An overflowing learning rate, on the linear model and on a formula; a formula that
    // saturates to infinity at its start.
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--target",
                "score",
                "--lr",
                "5",
            ],
            "training diverged at iteration 21 (learning rate 5)",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--model",
                "score = exp(k*hours)",
                "--init",
                "k=0",
                "--lr",
                "10",
            ],
            "training diverged at iteration",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--model",
                "score = a*exp(k*hours)",
                "--init",
                "a=1,k=800",
            ],
            "the formula is inf at its start values (a=1, k=800) on data row 1 (hours=1)",
        ),
        (
            &[
                "fit",
                "tests/data/small.csv",
                "--model",
                "score = a*exp(k*hours)",
                "--init",
                "a=1,k=800",
                "--optimizer",
                "gd",
            ],
            "the loss became infinite",
        ),
    ];
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("overflow");
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.csv");
    std::fs::write(&big, "x,y\n1e200,1\n2e200,3\n3e200,4\n4e200,9\n").unwrap();
    let big = big.to_string_lossy().to_string();
    let (code, _, err) = descent(&["fit", &big, "--target", "y"]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("column 'x' reaches 4e200: its squares overflow double precision"),
        "{err}"
    );
    for (args, want) in cases {
        let (code, out, err) = descent(args);
        assert_eq!(code, 4, "{args:?}: exit {code}, stderr {err}");
        assert!(err.contains(want), "{args:?}: {err:?} lacks {want:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!out.contains("NaN") && !out.contains("inf"), "{out}");
    }
}

#[path = "nist/mod.rs"]
mod nist;

/// A StRD linear set as the CSV a user would give: its predictor columns (powers of x
/// written out for the polynomial sets) and y.
fn nist_csv(s: &nist::Strd) -> (String, bool) {
    let (names, cols, y, intercept) = nist::linear_design(s);
    let mut text = names.join(",") + ",y\n";
    for i in 0..y.len() {
        let row: Vec<String> = cols.iter().map(|c| format!("{:?}", c[i])).collect();
        text += &format!("{},{:?}\n", row.join(","), y[i]);
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("nist");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.csv", s.name));
    std::fs::write(&path, text).unwrap();
    (path.to_string_lossy().into_owned(), intercept)
}

#[test]
fn nist_linear_through_the_program_with_default_options() {
    for name in nist::LINEAR {
        let s = nist::load(name);
        let (path, intercept) = nist_csv(&s);
        let mut args = vec!["fit", path.as_str(), "--target", "y", "--json"];
        if !intercept {
            args.push("--no-intercept");
        }
        let doc = fit_json(&args);
        let coefs = doc["coefficients"].as_array().unwrap();
        // descent lists the intercept last; NIST lists B0 first.
        let mut order: Vec<usize> = (0..coefs.len()).collect();
        if intercept {
            order.rotate_right(1);
        }
        let coef_min = if matches!(name, "Filip" | "Wampler4" | "Wampler5") {
            7.0
        } else {
            9.0
        };
        for (k, (pname, est, sd)) in s.params.iter().enumerate() {
            let c = &coefs[order[k]];
            let b = nist::lre(c["estimate"].as_f64().unwrap(), *est);
            let e = nist::lre(c["std_error"].as_f64().unwrap(), *sd);
            assert!(b >= coef_min, "{name} {pname}: coefficient LRE {b:.1}");
            assert!(e >= 7.0, "{name} {pname}: std error LRE {e:.1}");
        }
        let sd = nist::lre(doc["residual_std_error"].as_f64().unwrap(), s.residual_sd);
        let r2 = nist::lre(
            doc["statistics"]["r_squared"].as_f64().unwrap(),
            s.r_squared.unwrap(),
        );
        assert!(
            sd >= 7.0 && r2 >= 7.0,
            "{name}: sd LRE {sd:.1}, R² LRE {r2:.1}"
        );
    }
}

#[test]
fn a_formula_without_a_constant_reports_the_uncentred_r_squared() {
    // NoInt1 as a formula y = b*x: NIST certifies the uncentred R² 0.999365492298663.
    let s = nist::load("NoInt1");
    let (path, _) = nist_csv(&s);
    let doc = fit_json(&["fit", &path, "--model", "y = b*x", "--json"]);
    let r2 = doc["statistics"]["r_squared"].as_f64().unwrap();
    assert!(nist::lre(r2, 0.999365492298663) >= 9.0, "{r2}");
    assert_eq!(doc["statistics"]["has_constant"], false);
    let b = doc["coefficients"][0]["estimate"].as_f64().unwrap();
    assert!(nist::lre(b, 2.07438016528926) >= 9.0, "{b}");
}

/// `a` and `b` agree to `tol`, relative to the larger.
fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()) || a == b
}

#[test]
fn every_figure_matches_statsmodels() {
    // tests/reference/ols_reference.py made the data and statsmodels' figures.
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/data/reference/ols_reference.json").unwrap(),
    )
    .unwrap();
    for (se, key) in [
        ("nonrobust", "nonrobust"),
        ("hc0", "HC0"),
        ("hc1", "HC1"),
        ("hc2", "HC2"),
        ("hc3", "HC3"),
    ] {
        let doc = fit_json(&[
            "fit",
            "tests/data/reference/ols.csv",
            "--target",
            "y",
            "--se",
            se,
            "--json",
        ]);
        let w = &want[key];
        let st = &doc["statistics"];
        let check = |what: &str, got: f64, exp: f64| {
            assert!(
                rel_close(got, exp, 1e-9),
                "{se} {what}: {got} vs statsmodels {exp}"
            );
        };
        for (i, c) in doc["coefficients"].as_array().unwrap().iter().enumerate() {
            check(
                "estimate",
                c["estimate"].as_f64().unwrap(),
                w["params"][i].as_f64().unwrap(),
            );
            check(
                "std error",
                c["std_error"].as_f64().unwrap(),
                w["bse"][i].as_f64().unwrap(),
            );
            check(
                "t",
                c["t"].as_f64().unwrap(),
                w["tvalues"][i].as_f64().unwrap(),
            );
            let (p, wp) = (
                c["p_value"].as_f64().unwrap(),
                w["pvalues"][i].as_f64().unwrap(),
            );
            // p-values far below 1e-9 are compared as absolute figures.
            assert!(
                rel_close(p, wp, 1e-9) || (p - wp).abs() < 1e-20,
                "{se} p: {p} vs {wp}"
            );
            for k in 0..2 {
                check(
                    "ci",
                    c["ci95"][k].as_f64().unwrap(),
                    w["conf_int"][i][k].as_f64().unwrap(),
                );
            }
        }
        for (what, ours, theirs) in [
            ("F", &st["f_statistic"], "fvalue"),
            ("R²", &st["r_squared"], "rsquared"),
            ("adj R²", &st["adj_r_squared"], "rsquared_adj"),
            ("σ̂", &doc["residual_std_error"], "scale_sqrt"),
            ("llf", &st["log_likelihood"], "llf"),
            ("AIC", &st["aic"], "aic"),
            ("BIC", &st["bic"], "bic"),
            (
                "condition number",
                &st["condition_number"],
                "condition_number",
            ),
        ] {
            check(what, ours.as_f64().unwrap(), w[theirs].as_f64().unwrap());
        }
        let (p, wp) = (
            st["f_p_value"].as_f64().unwrap(),
            w["f_pvalue"].as_f64().unwrap(),
        );
        assert!(
            rel_close(p, wp, 1e-9) || (p - wp).abs() < 1e-20,
            "{se} F p: {p} vs {wp}"
        );
        assert_eq!(doc["df"].as_f64(), w["df_resid"].as_f64());
    }
}

#[test]
fn lasso_and_elastic_net_match_scikit_learn_with_exact_zeros() {
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/data/reference/ols_reference.json").unwrap(),
    )
    .unwrap();
    for key in ["lasso", "elastic_net"] {
        let w = &want[key];
        let (l1, l2) = (
            w["l1"].as_f64().unwrap().to_string(),
            w["l2"].as_f64().unwrap().to_string(),
        );
        let doc = fit_json(&[
            "fit",
            "tests/data/reference/ols.csv",
            "--target",
            "y",
            "--standardize",
            "--l1",
            &l1,
            "--l2",
            &l2,
            "--json",
        ]);
        // --standardize: the penalty applies to standardised coefficients, which is not
        // scikit-learn's objective on raw columns; the raw fit below is.
        assert!(doc["closed_form"].is_object());
        let doc = fit_json(&[
            "fit",
            "tests/data/reference/ols.csv",
            "--target",
            "y",
            "--l1",
            &l1,
            "--l2",
            &l2,
            "--iters",
            "0",
            "--json",
        ]);
        let closed = &doc["closed_form"];
        for (i, name) in ["x1", "x2", "x3", "x4", "x5"].iter().enumerate() {
            let (got, exp) = (
                closed[name].as_f64().unwrap(),
                w["coef"][i].as_f64().unwrap(),
            );
            if exp == 0.0 {
                assert_eq!(got, 0.0, "{key} {name}: exact zero");
            } else {
                assert!(
                    rel_close(got, exp, 1e-8),
                    "{key} {name}: {got} vs scikit-learn {exp}"
                );
            }
        }
        let b = closed["(intercept)"].as_f64().unwrap();
        assert!(
            rel_close(b, w["intercept"].as_f64().unwrap(), 1e-8),
            "{key} intercept {b}"
        );
    }
}

#[test]
fn proximal_descent_reaches_exact_zeros() {
    // Standardised, lasso by ISTA: x4 and x5 end at exactly 0, as the exact minimiser has.
    let doc = fit_json(&[
        "fit",
        "tests/data/reference/ols.csv",
        "--target",
        "y",
        "--standardize",
        "--l1",
        "1",
        "--json",
    ]);
    let closed = &doc["closed_form"];
    let descent = &doc["descent"];
    let mut zeros = 0;
    for name in ["x1", "x2", "x3", "x4", "x5"] {
        let c = closed[name].as_f64().unwrap();
        if c == 0.0 {
            zeros += 1;
            assert_eq!(descent[name].as_f64().unwrap(), 0.0, "{name}");
        }
    }
    assert!(zeros >= 1, "{doc}");
    assert_eq!(doc["reached_closed_form"], true, "{doc}");
}

#[test]
fn convergence_is_a_test_that_passed() {
    // Standardised: converges well inside the default 1000 iterations.
    let doc = fit_json(&[
        "fit",
        "tests/data/multi.csv",
        "--target",
        "y",
        "--standardize",
        "--json",
    ]);
    assert_eq!(doc["converged"], true);
    assert!(doc["iterations"].as_u64().unwrap() < 1000);
    assert_eq!(doc["reached_closed_form"], true);
    // Raw, ill-conditioned columns, 50 iterations: not converged, not reached, and the
    // table still at the least-squares solution (p of x3 tiny, as at the solution).
    let doc = fit_json(&[
        "fit",
        "tests/data/multi.csv",
        "--target",
        "y",
        "--iters",
        "50",
        "--json",
    ]);
    assert_eq!(doc["converged"], false);
    assert_eq!(doc["reached_closed_form"], false);
    let x3 = &doc["coefficients"][2];
    assert!(x3["p_value"].as_f64().unwrap() < 1e-5, "{x3}");
    assert!((x3["descent"].as_f64().unwrap() - x3["estimate"].as_f64().unwrap()).abs() > 1e-6);
}

/// A NIST nonlinear set as the CSV a user would give (its columns as NIST names them).
fn nist_nonlinear_csv(s: &nist::Strd) -> String {
    let mut text = s.columns.join(",") + "\n";
    for r in &s.rows {
        let row: Vec<String> = r.iter().map(|v| format!("{v:?}")).collect();
        text += &(row.join(",") + "\n");
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("nist");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.csv", s.name));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn nist_nonlinear_through_the_program_from_both_starts() {
    let mut failures = vec![];
    for (name, formula) in nist::NONLINEAR {
        let s = nist::load(name);
        let path = nist_nonlinear_csv(&s);
        for start in 0..2 {
            let init: Vec<String> = s.starts[start]
                .iter()
                .enumerate()
                .map(|(k, v)| format!("b{}={v:?}", k + 1))
                .collect();
            let init = init.join(",");
            let (code, out, err) =
                descent(&["fit", &path, "--model", formula, "--init", &init, "--json"]);
            if code != 0 {
                failures.push(format!("{name} start {}: exit {code}: {err}", start + 1));
                continue;
            }
            let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(doc["optimizer"], "levenberg-marquardt");
            assert_eq!(doc["converged"], true);
            let coefs = doc["coefficients"].as_array().unwrap();
            let by_name = |n: &str| coefs.iter().find(|c| c["name"] == n).unwrap();
            let (se_min, sd_min) = if name == "Lanczos1" {
                (2.9, 2.9)
            } else {
                (4.0, 4.0)
            };
            for (k, (_, cert, sd)) in s.params.iter().enumerate() {
                let c = by_name(&format!("b{}", k + 1));
                // A linear-in-parameters set reports the least-squares estimate with the
                // optimizer beside it; a nonlinear one the optimizer's estimate.
                let est = c["estimate"].as_f64().unwrap();
                let b = nist::lre(est, *cert);
                let e = nist::lre(c["std_error"].as_f64().unwrap_or(f64::NAN), *sd);
                if b < 6.0 || e < se_min {
                    failures.push(format!(
                        "{name} start {} b{}: LRE {b:.1}, se {e:.1}",
                        start + 1,
                        k + 1
                    ));
                }
            }
            let sd = nist::lre(doc["residual_std_error"].as_f64().unwrap(), s.residual_sd);
            if sd < sd_min {
                failures.push(format!(
                    "{name} start {}: residual sd LRE {sd:.1}",
                    start + 1
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_fit_that_does_not_converge_prints_no_result_and_exits_3() {
    // Misra1a from b1 = 500, b2 = 1e-4 by plain gradient descent for 1000 iterations.
    let s = nist::load("Misra1a");
    let path = nist_nonlinear_csv(&s);
    let (code, out, err) = descent(&[
        "fit",
        &path,
        "--model",
        "y = b1*(1-exp(-b2*x))",
        "--init",
        "b1=500,b2=1e-4",
        "--optimizer",
        "gd",
        "--iters",
        "1000",
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("sgd did not converge: "), "{err}");
    // Levenberg-Marquardt with too few evaluations says so the same way.
    let (code, _, err) = descent(&[
        "fit",
        &path,
        "--model",
        "y = b1*(1-exp(-b2*x))",
        "--init",
        "b1=500,b2=1e-4",
        "--iters",
        "3",
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("levenberg-marquardt did not converge: the evaluation limit was reached after 3 evaluations"), "{err}");
}

#[test]
fn a_users_file_is_never_overwritten_and_names_are_never_ambiguous() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-loss");
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("data.csv");
    std::fs::copy("tests/data/small.csv", &data).unwrap();
    let before = std::fs::read(&data).unwrap();
    let data_s = data.to_string_lossy().to_string();
    let model = dir.join("model.json").to_string_lossy().to_string();
    // --save onto the input, by another name for the same file too.
    let other_name = dir.join(".").join("data.csv").to_string_lossy().to_string();
    for target in [&data_s, &other_name] {
        let (code, out, err) = descent(&["fit", &data_s, "--target", "score", "--save", target]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("is also an input"), "{err}");
        assert!(out.is_empty());
    }
    let (code, _, err) = descent(&["fit", &data_s, "--target", "score", "--save", &model]);
    assert_eq!(code, 0, "{err}");
    for target in [&data_s, &model] {
        let (code, _, err) = descent(&["predict", &model, &data_s, "--out", target]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("is also an input"), "{err}");
    }
    assert_eq!(std::fs::read(&data).unwrap(), before);
    // Duplicate and reserved names are refused at fit time, for the linear model and a
    // formula.
    let dup = dir.join("dup.csv");
    std::fs::write(&dup, "x,x,y\n1,2,3\n2,1,4\n3,5,6\n4,4,9\n").unwrap();
    let dup = dup.to_string_lossy().to_string();
    let (code, _, err) = descent(&["fit", &dup, "--target", "y"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the column name 'x' is used twice"), "{err}");
    let (code, _, err) = descent(&["fit", &dup, "--model", "y = a*x + b"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("'x' appears more than once"), "{err}");
    let reserved = dir.join("reserved.csv");
    std::fs::write(&reserved, "(intercept),y\n1,3\n2,4\n3,6\n").unwrap();
    let (code, _, err) = descent(&["fit", &reserved.to_string_lossy(), "--target", "y"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("named '(intercept)'"), "{err}");
}

#[test]
fn a_save_killed_at_any_moment_leaves_the_old_file_or_the_new_one_whole() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("kill-save");
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("model.json");
    let old = "{\"old\": true}\n";
    std::fs::write(&model, old).unwrap();
    let model_s = model.to_string_lossy().to_string();
    let mut seen_new = 0;
    for i in 0..200u64 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_descent"))
            .args([
                "fit",
                "tests/data/multi.csv",
                "--target",
                "y",
                "--save",
                &model_s,
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill after 0-20 ms, spread over the run (a golden-ratio spread of i).
        let delay = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 20_000;
        std::thread::sleep(std::time::Duration::from_micros(delay));
        let _ = child.kill();
        let _ = child.wait();
        let text = std::fs::read_to_string(&model).unwrap();
        if text != old {
            let doc: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("round {i}: a partial model file: {e}: {text:?}"));
            assert_eq!(doc["descent_model"], 1);
            seen_new += 1;
            std::fs::write(&model, old).unwrap();
        }
    }
    // Some runs finished before the kill (else the test would show nothing).
    assert!(seen_new > 0, "no run finished its save");
}

#[test]
fn a_closed_pipe_ends_quietly_and_a_full_disk_says_so() {
    use std::io::Read;
    // Predictions for 50,000 rows: far more than a pipe's buffer, so the writes after
    // the reader has gone fail (EPIPE) and the program must handle it.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pipe");
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.csv");
    let mut text = String::from("hours,score\n");
    for i in 0..50_000 {
        text += &format!("{},{}\n", i % 10, 50 + i % 37);
    }
    std::fs::write(&big, text).unwrap();
    let model = dir.join("model.json");
    let (code, _, err) = descent(&[
        "fit",
        "tests/data/small.csv",
        "--target",
        "score",
        "--save",
        &model.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{err}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_descent"))
        .args(["predict", &model.to_string_lossy(), &big.to_string_lossy()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then close the pipe, as `head -c1` does.
    let mut one = [0u8; 1];
    let mut stdout = child.stdout.take().unwrap();
    stdout.read_exact(&mut one).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    if std::path::Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_descent"))
            .args(["fit", "tests/data/multi.csv", "--target", "y"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(full)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("cannot write the output"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn long_formulas_and_huge_counts_are_refused_or_bounded_never_a_crash() {
    // A 10,000-term formula, on the command line and inside a saved model.
    let long = format!("score = {}", vec!["a*hours"; 10_000].join("+"));
    let (code, _, err) = descent(&["fit", "tests/data/small.csv", "--model", &long]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the formula is too long"), "{err}");
    assert!(
        err.len() < 400,
        "the message quotes the formula in full: {} bytes",
        err.len()
    );
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("long");
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("deep.json");
    let doc = serde_json::json!({
        "descent_model": 1, "kind": "formula", "formula": format!("score = {}", vec!["a*hours"; 100_000].join("+")),
        "target": "score", "features": ["hours"], "parameters": {"a": 1.0},
    });
    std::fs::write(&model, doc.to_string()).unwrap();
    let (code, _, err) = descent(&["predict", &model.to_string_lossy(), "tests/data/small.csv"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("too long"), "{err}");
    // usize::MAX iterations: no capacity overflow.
    let (code, _, err) = descent(&[
        "sweep",
        "tests/data/small.csv",
        "--target",
        "score",
        "--iters",
        "18446744073709551615",
        "--lrs",
        "1e9",
    ]);
    assert_eq!(code, 0, "{err}");
    // Negative numbers as values.
    let (code, _, err) = descent(&[
        "fit",
        "tests/data/multi.csv",
        "--target",
        "y",
        "--shuffle",
        "--seed",
        "-1",
        "--split",
        "0.8,0.2",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = descent(&[
        "fit",
        "tests/data/multi.csv",
        "--target",
        "y",
        "--split",
        "-0.5,1",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--split: give one to three positive fractions"),
        "{err}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_billion_iterations_run_in_flat_memory() {
    let rss = |pid: u32| -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_descent"))
        .args([
            "fit",
            "tests/data/multi.csv",
            "--target",
            "y",
            "--iters",
            "1000000000",
            "--tol",
            "0",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let early = rss(child.id());
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let late = rss(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert!(early > 0, "the process ended early");
    // ~10 million updates in between: 8 bytes each would be 80 MB.
    assert!(
        late <= early + 2048,
        "memory grew from {early} kB to {late} kB"
    );
}

#[test]
fn categorical_columns_match_statsmodels_and_round_trip_through_predict() {
    // tests/reference/ols_reference.py: statsmodels' ols('y ~ C(color) + x + C(size)').
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/data/reference/categorical_reference.json").unwrap(),
    )
    .unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("categorical");
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("model.json").to_string_lossy().to_string();
    let doc = fit_json(&[
        "fit",
        "tests/data/reference/categorical.csv",
        "--target",
        "y",
        "--save",
        &model,
        "--json",
    ]);
    let coefs = doc["coefficients"].as_array().unwrap();
    let names: Vec<&str> = coefs.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "color[T.green]",
            "color[T.red]",
            "x",
            "size[T.M]",
            "size[T.S]",
            "(intercept)"
        ]
    );
    for c in coefs {
        let name = c["name"].as_str().unwrap();
        let key = if name == "(intercept)" {
            "Intercept"
        } else {
            name
        };
        for (ours, theirs) in [("estimate", "params"), ("std_error", "bse")] {
            let (got, exp) = (
                c[ours].as_f64().unwrap(),
                want["ols"][theirs][key].as_f64().unwrap(),
            );
            assert!(
                rel_close(got, exp, 1e-9),
                "{name} {ours}: {got} vs statsmodels {exp}"
            );
        }
    }
    // predict on the same file gives the fit's predictions (its training MSE).
    let (code, csv, err) = descent(&["predict", &model, "tests/data/reference/categorical.csv"]);
    assert_eq!(code, 0, "{err}");
    let ys: Vec<f64> = std::fs::read_to_string("tests/data/reference/categorical.csv")
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    let preds: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    let mse = preds
        .iter()
        .zip(&ys)
        .map(|(p, y)| (p - y).powi(2))
        .sum::<f64>()
        / ys.len() as f64;
    let want_mse = doc["metrics"]["train"]["mse"].as_f64().unwrap();
    assert!(rel_close(mse, want_mse, 1e-12), "{mse} vs {want_mse}");
    // A level the model never saw is a clear error; --reference picks another reference.
    let unseen = dir.join("unseen.csv");
    std::fs::write(&unseen, "color,x,size,y\nred,1,S,0\npurple,2,M,0\n").unwrap();
    let (code, _, err) = descent(&["predict", &model, &unseen.to_string_lossy()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("data row 2: column 'color' has the level 'purple'"),
        "{err}"
    );
    let doc = fit_json(&[
        "fit",
        "tests/data/reference/categorical.csv",
        "--target",
        "y",
        "--reference",
        "color=red",
        "--json",
    ]);
    assert_eq!(doc["coefficients"][0]["name"], "color[T.blue]");
    // --keep carries columns through as their text, even numbers and missing-looking ones.
    let rows = dir.join("rows.csv");
    std::fs::write(
        &rows,
        "id,color,x,size,when\n0012,red,1.5,S,2024-01-05\n,blue,2,M,NA\n",
    )
    .unwrap();
    let (code, out, err) = descent(&[
        "predict",
        &model,
        &rows.to_string_lossy(),
        "--keep",
        "id,when",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("id,when,color[T.green]"), "{out}");
    assert!(lines[1].starts_with("0012,2024-01-05,0.0,1.0,1.5"), "{out}");
    assert!(lines[2].starts_with(",NA,0.0,0.0,2.0"), "{out}");
}

#[test]
fn formulas_read_levels_of_text_columns_as_statsmodels_does() {
    // The model of the test above written as a formula: each level the formula names is
    // its 0/1 dummy, so Levenberg-Marquardt lands on statsmodels' ols('y ~ C(color) + x + C(size)').
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/data/reference/categorical_reference.json").unwrap(),
    )
    .unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("categorical-formula");
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("model.json").to_string_lossy().to_string();
    let formula = "y = b0 + g*color[T.green] + r*color[T.red] + k*x + m*size[T.M] + s*size[T.S]";
    let file = "tests/data/reference/categorical.csv";
    let doc = fit_json(&["fit", file, "--model", formula, "--save", &model, "--json"]);
    let theirs = [
        ("b0", "Intercept"),
        ("g", "color[T.green]"),
        ("r", "color[T.red]"),
        ("k", "x"),
        ("m", "size[T.M]"),
        ("s", "size[T.S]"),
    ];
    for c in doc["coefficients"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let key = theirs.iter().find(|(n, _)| *n == name).unwrap().1;
        for (ours, field) in [("estimate", "params"), ("std_error", "bse")] {
            let (got, exp) = (
                c[ours].as_f64().unwrap(),
                want["ols"][field][key].as_f64().unwrap(),
            );
            assert!(
                rel_close(got, exp, 1e-9),
                "{name} {ours}: {got} vs statsmodels {exp}"
            );
        }
    }
    // predict reads the saved levels and gives the fit's own predictions, to the bit.
    let (code, out, err) = descent(&["predict", &model, file]);
    assert_eq!(code, 0, "{err}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    let p = |n: &str| saved["parameters"][n].as_f64().unwrap();
    let text = std::fs::read_to_string(file).unwrap();
    for (line, pred) in text.lines().skip(1).zip(out.lines().skip(1)) {
        let f: Vec<&str> = line.split(',').collect();
        let is = |v: &str, l: &str| if v == l { 1.0 } else { 0.0 };
        let x: f64 = f[1].parse().unwrap();
        // The formula's own order of operations: ((((b0 + g·G) + r·R) + k·x) + m·M) + s·S.
        let want = p("b0")
            + p("g") * is(f[0], "green")
            + p("r") * is(f[0], "red")
            + p("k") * x
            + p("m") * is(f[2], "M")
            + p("s") * is(f[2], "S");
        let got: f64 = pred.rsplit(',').next().unwrap().parse().unwrap();
        assert_eq!(got.to_bits(), want.to_bits(), "{line}: {got} vs {want}");
    }
    // Levels that cannot be read say which and why.
    for (formula, says) in [
        (
            "y = b + c*color[T.blue] + k*x",
            "'blue' is the reference level of 'color'",
        ),
        (
            "y = b + c*color[T.pink] + k*x",
            "'color' has no level 'pink' (levels: 'blue', 'green', 'red')",
        ),
        (
            "y = b + c*colour[T.red] + k*x",
            "'colour' is not a column of the data",
        ),
    ] {
        let (code, _, err) = descent(&["fit", file, "--model", formula]);
        assert_eq!(code, 2, "{formula}: {err}");
        assert!(err.contains(says), "{formula}: {err}");
    }
}

#[test]
fn numeric_header_names_are_names_and_indices_are_written_with_a_hash() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("numeric-header");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("num.csv").to_string_lossy().to_string();
    // y = 1 + 2·(column "1") exactly; column "2" is noise.
    std::fs::write(&file, "1,2,y\n1,5,3\n2,4,5\n3,1,7\n4,2,9\n").unwrap();
    let by_name = fit_json(&[
        "fit",
        &file,
        "--target",
        "y",
        "--features",
        "1",
        "--iters",
        "0",
        "--json",
    ]);
    assert_eq!(by_name["coefficients"][0]["name"], "1");
    assert!(rel_close(
        by_name["coefficients"][0]["estimate"].as_f64().unwrap(),
        2.0,
        1e-12
    ));
    let by_index = fit_json(&[
        "fit",
        &file,
        "--target",
        "y",
        "--features",
        "#1",
        "--iters",
        "0",
        "--json",
    ]);
    assert_eq!(by_index["coefficients"][0]["name"], "2");
}

#[test]
fn a_large_design_is_solved_in_place_with_the_same_report() {
    // 70,000 × 14 features: past the size where fit reads the design in place (TSQR and
    // semi-normal equations); the report must equal Householder QR of a column-major
    // copy (model::ols), robust standard errors included.
    let (n, d) = (70_000usize, 14usize);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut text = (0..d).map(|j| format!("x{j},")).collect::<String>() + "y\n";
    let mut rows = Vec::with_capacity(n * d);
    let mut ys = Vec::with_capacity(n);
    for _ in 0..n {
        let x: Vec<f64> = (0..d)
            .map(|j| uniform() * (j + 1) as f64 + j as f64)
            .collect();
        let y = x
            .iter()
            .enumerate()
            .map(|(j, v)| v * (j as f64 - 6.5))
            .sum::<f64>()
            + 3.0
            + uniform() * (1.0 + x[0].abs());
        for v in &x {
            text += &format!("{v:?},");
        }
        text += &format!("{y:?}\n");
        rows.extend(x);
        ys.push(y);
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("large-design");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("large.csv");
    std::fs::write(&file, text).unwrap();
    let doc = fit_json(&[
        "fit",
        &file.to_string_lossy(),
        "--target",
        "y",
        "--iters",
        "0",
        "--se",
        "hc1",
        "--json",
    ]);
    assert!(
        doc["method"].as_str().unwrap().contains("TSQR"),
        "{}",
        doc["method"]
    );
    let design: Vec<f64> = (0..=d)
        .flat_map(|j| (0..n).map(move |i| (i, j)))
        .map(|(i, j)| if j < d { rows[i * d + j] } else { 1.0 })
        .collect();
    let mut names: Vec<String> = (0..d).map(|j| format!("x{j}")).collect();
    names.push("(intercept)".into());
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let want = model::ols(&design, n, &refs, &ys, model::CovType::HC1).unwrap();
    for (c, w) in doc["coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&want.coefficients)
    {
        assert_eq!(c["name"], w.name);
        for (got, exp) in [
            (c["estimate"].as_f64().unwrap(), w.estimate.unwrap()),
            (c["std_error"].as_f64().unwrap(), w.std_error.unwrap()),
        ] {
            assert!(rel_close(got, exp, 1e-11), "{}: {got} vs {exp}", w.name);
        }
    }
}

/// The rows of a file too large for a small memory cap: 2,500,000 rows of five small
/// integers and y, 120 MB as f64, written to `w` as they are made.
fn write_big_rows(w: &mut impl std::io::Write) -> std::io::Result<()> {
    let mut buf = String::with_capacity(1 << 16);
    buf += "a,b,c,d,e,y\n";
    for i in 0u64..2_500_000 {
        let x = [
            i % 1000,
            (i * 7) % 101,
            (i * 13) % 37,
            (i / 1000) % 50,
            (i * 31) % 17,
        ];
        let y = 3 * x[0] + 5 * x[1] + 2 * x[2] + x[3] + (i * 17) % 23;
        buf += &format!("{},{},{},{},{},{y}\n", x[0], x[1], x[2], x[3], x[4]);
        if buf.len() > 60_000 {
            w.write_all(buf.as_bytes())?;
            buf.clear();
        }
    }
    w.write_all(buf.as_bytes())
}

/// `descent ARGS` reading the big rows from standard input, under `prlimit` when `cap`.
fn run_on_big_rows(args: &[&str], cap: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let bin = env!("CARGO_BIN_EXE_descent");
    let mut cmd = match cap {
        Some(cap) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--data={cap}")).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let mut child = cmd
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = write_big_rows(&mut stdin);
        let _ = stdin.flush();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn stream_fits_what_the_whole_file_fits_in_memory_that_does_not_grow() {
    // The statsmodels file: the same report, and gradient descent's same steps.
    let file = "tests/data/reference/ols.csv";
    let whole = fit_json(&["fit", file, "--target", "y", "--json"]);
    let streamed = fit_json(&["fit", file, "--target", "y", "--stream", "--json"]);
    let (a, b) = (
        whole["coefficients"].as_array().unwrap(),
        streamed["coefficients"].as_array().unwrap(),
    );
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x["name"], y["name"]);
        for key in ["estimate", "std_error", "t", "p_value"] {
            let (u, v) = (x[key].as_f64().unwrap(), y[key].as_f64().unwrap());
            assert!(rel_close(u, v, 1e-11), "{} {key}: {u} vs {v}", x["name"]);
        }
        let (u, v) = (
            x["descent"].as_f64().unwrap(),
            y["descent"].as_f64().unwrap(),
        );
        assert!(rel_close(u, v, 1e-8), "{} descent: {u} vs {v}", x["name"]);
    }
    // The condition number is √(λmax/λmin) of XᵀX, whose λmin is known to about κ²·ε.
    for (key, tol) in [
        ("r_squared", 1e-11),
        ("adj_r_squared", 1e-11),
        ("log_likelihood", 1e-11),
        ("aic", 1e-11),
        ("bic", 1e-11),
        ("condition_number", 1e-7),
    ] {
        let (u, v) = (
            whole["statistics"][key].as_f64().unwrap(),
            streamed["statistics"][key].as_f64().unwrap(),
        );
        assert!(rel_close(u, v, tol), "{key}: {u} vs {v}");
    }
    // What needs the rows twice, or their order, is refused with the reason.
    for (extra, says) in [
        (
            &["--se", "hc1"][..],
            "--stream: --se needs each row's leverage",
        ),
        (
            &["--split", "0.8,0.2"][..],
            "--stream: --split needs the row count",
        ),
        (&["--standardize"][..], "--stream: --standardize needs"),
    ] {
        let mut args = vec!["fit", file, "--target", "y", "--stream"];
        args.extend_from_slice(extra);
        let (code, _, err) = descent(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // 120 MB of numbers through a pipe under a 100 MB cap on the data segment: --stream
    // fits them (the coefficients of the in-memory fit, uncapped); the in-memory fit
    // cannot.
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("prlimit is not installed: the memory-cap part is skipped");
        return;
    }
    let args = ["fit", "-", "--target", "y", "--iters", "0", "--json"];
    let (code, out, err) = run_on_big_rows(&args, None);
    assert_eq!(code, 0, "{err}");
    let free: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut capped_args = args.to_vec();
    capped_args.push("--stream");
    let (code, out, err) = run_on_big_rows(&capped_args, Some("100000000"));
    assert_eq!(code, 0, "{err}");
    let capped: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(capped["rows"], 2_500_000);
    for (x, y) in free["coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .zip(capped["coefficients"].as_array().unwrap())
    {
        // (e does not enter y: its coefficient is 0 give or take its standard error.)
        let (u, v) = (
            x["estimate"].as_f64().unwrap(),
            y["estimate"].as_f64().unwrap(),
        );
        let se = x["std_error"].as_f64().unwrap();
        assert!(
            (u - v).abs() <= 1e-9 * (u.abs() + se),
            "{}: {u} vs {v}",
            x["name"]
        );
    }
    // The cap binds: the whole file does not fit under it. (Where the allocation that
    // fails is the data's, the message names --stream; any other aborts.)
    let (code, _, err) = run_on_big_rows(&args, Some("100000000"));
    assert_ne!(code, 0, "{err}");
}

#[test]
fn pictures_never_replace_a_file_nobody_asked_to_replace() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pictures-force");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_string_lossy().to_string();
    // A user's own loss.svg in the folder: fit --plot refuses, --force replaces it.
    std::fs::write(dir.join("loss.svg"), "mine").unwrap();
    let args = [
        "fit",
        "tests/data/small.csv",
        "--target",
        "score",
        "--plot",
        &d,
    ];
    let (code, _, err) = descent(&args);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("loss.svg exists: give --force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("loss.svg")).unwrap(),
        "mine"
    );
    let mut forced = args.to_vec();
    forced.push("--force");
    let (code, _, err) = descent(&forced);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(dir.join("loss.svg"))
        .unwrap()
        .contains("<svg"));
    // The demo never writes into a folder it did not make: it takes a fresh one beside it,
    // and reuses its own on the next run.
    let user = dir.join("plots");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(user.join("fit.svg"), "mine").unwrap();
    let u = user.to_string_lossy().to_string();
    for _ in 0..2 {
        let (code, out, err) = descent(&["--plot", &u]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(&format!("{u}-2/")), "{out}");
    }
    assert_eq!(
        std::fs::read_to_string(user.join("fit.svg")).unwrap(),
        "mine"
    );
    assert!(!dir.join("plots-3").exists());
}

#[test]
fn derive_writes_the_hand_derivation_and_checks_it_against_backward() {
    // The dosage tutorial's 8 points at m = 0.9, b = 0.1: its published partials are
    // dC/dm = 36.305 and dC/db = 6.265.
    let args = [
        "derive",
        "tests/data/dosage.csv",
        "--model",
        "y = m*x + b",
        "--init",
        "m=0.9,b=0.1",
    ];
    let (code, out, err) = descent(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("dL/dm = (2/n) * sum((m*x + b - y) * x)"),
        "{out}"
    );
    assert!(out.contains("dL/db = (2/n) * sum(m*x + b - y)"), "{out}");
    let figure = |name: &str| -> (f64, f64) {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap();
        let v: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .take(2)
            .map(|t| t.parse().unwrap())
            .collect();
        (v[0], v[1])
    };
    for (name, published) in [("m", 36.305), ("b", 6.265)] {
        let (hand, tape) = figure(name);
        assert!(
            rel_close(hand, published, 1e-12) && rel_close(tape, published, 1e-12),
            "{name}: {hand} {tape}"
        );
    }
    insta::assert_snapshot!("derive_formula", out);
    let (code, out, err) = descent(&[
        "derive",
        "tests/data/dosage.csv",
        "--target",
        "y",
        "--init",
        "0.9,0.1",
        "--steps",
    ]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("derive_linear", out);
    let (code, out, err) = descent(&[
        "derive",
        "tests/data/dosage.csv",
        "--model",
        "y = a*exp(k*x) + c",
        "--latex",
    ]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("derive_latex", out);
    let (code, _, err) = descent(&[
        "derive",
        "tests/data/dosage.csv",
        "--model",
        "y = relu(m*x)",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("relu has no derivative expression"), "{err}");
}

mod model_files {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// A saved model with a byte changed or cut short: predict says what is wrong
        /// (exit 2) or predicts (exit 0), never a panic.
        #[test]
        fn mutated_models_never_panic(pos in 0usize..400, byte in prop::sample::select(b"{}[]\",:0-9e.x\\ n".to_vec()), cut in 0usize..401) {
            let good = r#"{"descent_model": 1, "kind": "linear", "formula": null, "target": "y", "features": ["color[T.red]", "x"], "columns": ["color", "x"], "categories": [{"column": "color", "levels": ["blue", "red"], "reference": "blue"}], "intercept": true, "parameters": {"color[T.red]": 1.5, "x": 0.8, "(intercept)": 2.0}}"#;
            let mut bytes = good.as_bytes().to_vec();
            let pos = pos % bytes.len();
            bytes[pos] = byte;
            bytes.truncate(cut.min(bytes.len()).max(1));
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("model-fuzz");
            std::fs::create_dir_all(&dir).unwrap();
            let model = dir.join(format!("m{pos}-{cut}-{byte}.json"));
            std::fs::write(&model, &bytes).unwrap();
            let data = dir.join("data.csv");
            std::fs::write(&data, "color,x,y\nred,1,3\nblue,2,4\n").unwrap();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_descent"))
                .args(["predict", &model.to_string_lossy(), &data.to_string_lossy()])
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            prop_assert!(matches!(out.status.code(), Some(0) | Some(2)), "exit {:?}: {}", out.status.code(), err);
            prop_assert!(!err.contains("panicked"), "{}", err);
        }
    }
}

#[test]
fn degenerate_data_say_so_and_never_print_nan() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("degenerate");
    std::fs::create_dir_all(&dir).unwrap();
    let one = dir.join("one.csv");
    std::fs::write(&one, "x,y\n1,2\n").unwrap();
    let one = one.to_string_lossy().to_string();
    let (code, _, err) = descent(&["fit", &one, "--model", "y = a*x + b"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("1 training rows for 2 parameters"), "{err}");
    let constant = dir.join("constant.csv");
    std::fs::write(&constant, "x,y\n1,5\n2,5\n3,5\n").unwrap();
    for path in [one, constant.to_string_lossy().to_string()] {
        let (code, out, err) = descent(&["fit", &path, "--target", "y"]);
        assert_eq!(code, 0, "{err}");
        assert!(!out.contains("NaN") && !out.contains("inf"), "{out}");
    }
    // Collinear features: sweep judges against the least-squares fit all the same.
    let (code, out, err) = descent(&[
        "sweep",
        "tests/data/bad/collinear.csv",
        "--target",
        "y",
        "--lrs",
        "0.001",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("lr 0.001"), "{out}");
}
