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

#[test]
fn graph_draws_one_box_per_node_with_the_listings_values_and_gradients() {
    // The dosage tutorial's loss at m = 0.9, b = 0.1 (published: C = 19.6755,
    // dC/dm = 36.305, dC/db = 6.265).
    let dir = "target/pictures-test/graph";
    fresh(dir);
    let path = format!("{dir}/graph.svg");
    std::fs::create_dir_all(format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    descent(&[
        "graph",
        "tests/data/dosage.csv",
        "--model",
        "y = m*x + b",
        "--init",
        "m=0.9,b=0.1",
        "--out",
        &path,
    ]);
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let nodes: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("node"))
        .collect();
    let edges: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("edge"))
        .collect();
    // The same tape through the library, for its listing.
    let listing = dosage_listing();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(nodes.len(), lines.len(), "one box per node of the tape");
    let inputs: usize = lines
        .iter()
        .map(|l| l.matches('#').count() - 1) // "#i" opens the line; the rest are inputs
        .sum();
    assert_eq!(edges.len(), inputs, "one edge per input");
    // Each rank-0 node's value and gradient as the listing prints them.
    for (node, line) in nodes.iter().zip(&lines) {
        let texts: Vec<&str> = node
            .descendants()
            .filter(|t| t.has_tag_name("text"))
            .filter_map(|t| t.text())
            .collect();
        let w: Vec<&str> = line.split_whitespace().collect();
        if w[2] == "[]" {
            assert_eq!(texts[1], format!("value {}", w[3]), "{line}");
            if let Some(g) = line.split("grad ").nth(1) {
                assert_eq!(texts[2], format!("grad {g}"), "{line}");
            }
        }
    }
    let all = texts_of(&doc);
    for published in ["grad 36.305", "grad 6.265", "value 19.6755"] {
        assert!(all.iter().any(|t| t == published), "{published} in {all:?}");
    }
    // No two boxes overlap, and each line fits its box (7.3 units a character).
    let rects: Vec<(f64, f64, f64, f64)> = nodes
        .iter()
        .map(|g| {
            let r = g.children().find(|c| c.has_tag_name("rect")).unwrap();
            let a = |k: &str| r.attribute(k).unwrap().parse::<f64>().unwrap();
            (a("x"), a("y"), a("width"), a("height"))
        })
        .collect();
    for (i, a) in rects.iter().enumerate() {
        for b in &rects[i + 1..] {
            let apart =
                a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
            assert!(apart, "boxes {a:?} and {b:?} overlap");
        }
    }
    for (g, r) in nodes.iter().zip(&rects) {
        for t in g
            .descendants()
            .filter(|t| t.has_tag_name("text"))
            .filter_map(|t| t.text())
        {
            assert!(
                t.chars().count() as f64 * 7.3 + 6.0 <= r.2,
                "'{t}' overflows its box"
            );
        }
    }
}

fn texts_of(doc: &roxmltree::Document) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::to_string)
        .collect()
}

#[test]
fn graph_listing_and_page_carry_the_librarys_figures() {
    // `graph --listing` is the library's listing of the same tape, and `graph --html`
    // embeds, for each node, the value and gradient that listing prints (rank-0 nodes,
    // where both print the number itself).
    let dir = "target/pictures-test/graph-page";
    fresh(dir);
    std::fs::create_dir_all(format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let args = [
        "graph",
        "tests/data/dosage.csv",
        "--model",
        "y = m*x + b",
        "--init",
        "m=0.9,b=0.1",
    ];
    let out = Command::new(env!("CARGO_BIN_EXE_descent"))
        .args(args)
        .arg("--listing")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    assert_eq!(listing, dosage_listing());

    let page = format!("{dir}/steps.html");
    let mut with_html = args.to_vec();
    with_html.extend(["--html", &page]);
    descent(&with_html);
    let html = std::fs::read_to_string(format!("{}/{page}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let start = html.find("application/json\">").unwrap() + "application/json\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    let d: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(d["nodes"].as_array().unwrap().len(), lines.len());
    // Two parameters, 41 slider positions each, and the recorded point.
    assert_eq!(d["frames"].as_array().unwrap().len(), 1 + 2 * 41);
    for (i, line) in lines.iter().enumerate() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w[2] == "[]" {
            assert_eq!(d["frames"][0]["values"][i], w[3], "{line}");
            if let Some(g) = line.split("grad ").nth(1) {
                assert_eq!(d["frames"][0]["grads"][i], g, "{line}");
            }
        }
    }
    assert_eq!(d["frames"][0]["loss"], "19.6755"); // the dosage tutorial's C
}

/// The library's listing, with gradients, of the mean squared error of `y = m*x + b` on
/// the dosage tutorial's points at m = 0.9, b = 0.1: what `descent graph` draws there.
fn dosage_listing() -> String {
    use descent::model::*;
    use descent::tape::prelude::*;
    let bytes = std::fs::read(format!(
        "{}/tests/data/dosage.csv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let data = parse_csv(&bytes, "dosage.csv", &CsvOptions::new("y")).unwrap();
    let mut f = Formula::parse("y = m*x + b", &["x", "y"]).unwrap();
    f.set("m", 0.9).unwrap();
    f.set("b", 0.1).unwrap();
    let tape = Tape::new();
    let bound = Bound::new(&tape, f.named_parameters());
    let grads = objective(&f, &bound, &data, 0.0, 0.0).backward();
    format!("{grads}")
}
