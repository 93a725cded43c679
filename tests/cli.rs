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
    let (code, out, _) = descent(&[]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("demo", out);
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
    // Slope Sxy/Sxx = 115.5/17.5 = 6.6 and intercept 68.8333 − 3.5·6.6 = 45.7333, by hand.
    let number_after = |key: &str| -> f64 {
        // The first occurrence of `key`: the fitted parameters come first, then the closed form.
        let at = out.find(key).unwrap_or_else(|| panic!("{key} in {out}")) + key.len();
        out[at..]
            .split([',', '}'])
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert!(
        (number_after("\"closed_form\": {\"hours\": ") - 6.6).abs() < 1e-12,
        "{out}"
    );
    assert!(
        (number_after("\"(intercept)\": ") - 45.733333333333333).abs() < 1e-9,
        "{out}"
    );
    assert!(out.trim_start().starts_with('{') && out.trim_end().ends_with('}'));
    // At w = b = 0: ∂w = −(2/6)·Σx·y = −1561/3 and ∂b = −(2/6)·Σy = −413/3, by hand.
    let (_, out, _) = descent(&[
        "check",
        "tests/data/small.csv",
        "--target",
        "score",
        "--json",
    ]);
    for (key, want) in [
        ("\"hand\": ", -1561.0 / 3.0),
        ("\"reverse\": ", -1561.0 / 3.0),
        ("\"forward\": ", -1561.0 / 3.0),
    ] {
        let at = out.find(key).unwrap() + key.len();
        let got: f64 = out[at..]
            .split([',', '}'])
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!((got - want).abs() < 1e-9, "{key}{got} vs {want}");
    }
    assert!(
        out.contains("\"(intercept)\": {\"hand\": -137.6666666666666"),
        "{out}"
    );
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
        (
            &["fit", "tests/data/bad/collinear.csv", "--target", "y"],
            "collinear",
        ),
        (&["fit", "tests/data/small.csv"], "--target"),
        (&["frobnicate"], "unrecognized subcommand"),
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
            out.is_empty() || args.contains(&"5"),
            "{args:?}: nothing on stdout but progress, got {out:?}"
        );
    }
}
