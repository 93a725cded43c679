//! The pictures the program draws: each SVG is produced, is well-formed XML, and holds
//! the series it should (points, lines, legend labels), not merely a file.

use std::process::Command;

fn descent(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_descent"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Empties a picture folder left by an earlier run (pictures do not replace files).
fn fresh(dir: &str) {
    let _ = std::fs::remove_dir_all(format!("{}/{dir}", env!("CARGO_MANIFEST_DIR")));
}

/// What a picture holds: its element counts and its texts.
struct Svg {
    circles: usize,
    polylines: Vec<usize>,
    texts: Vec<String>,
}

fn read(path: &str) -> Svg {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg", "{path}");
    let named = |n: &str| {
        doc.descendants()
            .filter(move |x| x.tag_name().name() == n)
            .collect::<Vec<_>>()
    };
    Svg {
        circles: named("circle").len(),
        polylines: named("polyline")
            .iter()
            .map(|p| {
                p.attribute("points")
                    .unwrap_or("")
                    .split_whitespace()
                    .count()
            })
            .collect(),
        texts: named("text")
            .iter()
            .filter_map(|t| t.text())
            .map(|t| t.trim().to_string())
            .collect(),
    }
}

fn has(svg: &Svg, label: &str, path: &str) {
    assert!(
        svg.texts.iter().any(|t| t == label),
        "{path}: no text {label:?} among {:?}",
        svg.texts
    );
}

#[test]
fn the_demo_draws_its_four_pictures() {
    let dir = "target/pictures-test/demo";
    fresh(dir);
    descent(&["--plot", dir]);

    let p = format!("{dir}/fit.svg");
    let fit = read(&p);
    // 100 data points and the legend's marker; the fitted line.
    assert_eq!(fit.circles, 101, "{p}");
    has(&fit, "data", &p);
    has(&fit, "fit", &p);
    has(&fit, "hours", &p);
    assert!(fit.polylines.contains(&2), "{p}: the line is two points");

    let p = format!("{dir}/loss.svg");
    let loss = read(&p);
    has(&loss, "raw hours, lr 1/λmax", &p);
    has(&loss, "standardised hours", &p);
    // The raw curve has a point per iteration; the standardised one stops where the loss
    // reaches the optimum to rounding.
    assert!(
        loss.polylines.iter().any(|&n| n >= 900),
        "{p}: {:?}",
        loss.polylines
    );

    let p = format!("{dir}/surface.svg");
    let surface = read(&p);
    has(&surface, "gradient descent, 1000 steps", &p);
    has(&surface, "closed-form minimum", &p);
    assert!(surface.polylines.len() > 200, "{p}: contour segments");
    assert!(surface.polylines.iter().any(|&n| n > 900), "{p}: the path");

    let p = format!("{dir}/sweep.svg");
    let sweep = read(&p);
    let rates: Vec<&String> = sweep
        .texts
        .iter()
        .filter(|t| t.starts_with("lr "))
        .collect();
    assert_eq!(rates.len(), 4, "{p}: {:?}", sweep.texts);
}

#[test]
fn fit_draws_the_line_or_predicted_against_actual_and_the_surface() {
    let dir = "target/pictures-test/fit-one";
    fresh(dir);
    descent(&[
        "fit",
        "tests/data/small.csv",
        "--target",
        "score",
        "--plot",
        dir,
    ]);
    let p = format!("{dir}/fit.svg");
    let fit = read(&p);
    assert_eq!(fit.circles, 7, "{p}: six rows and the legend's marker");
    let p = format!("{dir}/loss.svg");
    has(&read(&p), "training loss", &p);
    let p = format!("{dir}/surface.svg");
    let s = read(&p);
    has(&s, "gradient descent", &p);
    assert!(
        s.polylines.iter().any(|&n| n >= 1000),
        "{p}: a path of 1001 points"
    );

    let dir = "target/pictures-test/fit-multi";

    fresh(dir);
    descent(&[
        "fit",
        "tests/data/multi.csv",
        "--target",
        "y",
        "--split",
        "0.6,0.2,0.2",
        "--plot",
        dir,
    ]);
    let p = format!("{dir}/predicted.svg");
    let pred = read(&p);
    for split in ["train", "valid", "test", "predicted = actual"] {
        has(&pred, split, &p);
    }
    // 18 + 6 + 6 rows, and three legend markers.
    assert_eq!(pred.circles, 33, "{p}");
    assert!(!std::path::Path::new(&format!("{dir}/surface.svg")).exists());

    let dir = "target/pictures-test/sweep";

    fresh(dir);
    descent(&[
        "sweep",
        "tests/data/small.csv",
        "--target",
        "score",
        "--lrs",
        "0.001,0.03,1",
        "--plot",
        dir,
    ]);
    let p = format!("{dir}/sweep.svg");
    let s = read(&p);
    for lr in ["lr 0.001", "lr 0.03", "lr 1"] {
        has(&s, lr, &p);
    }
}
