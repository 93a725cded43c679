//! `derivative` on every NIST StRD nonlinear formula and the tutorials' formulas: at the
//! data's rows and at the start values, and at the certified values, each symbolic
//! partial equals the tape's gradient to 1e-10 (the tape is the independent side: its
//! rules are not the symbolic ones).

#[path = "../../../tests/nist/mod.rs"]
mod nist;

use model::{derivative, Formula};
use tape::prelude::*;

/// ∂f/∂p by the tape at one row.
fn tape_partials(f: &Formula, row: &[f64], params: &[f64]) -> Vec<f64> {
    let tape = Tape::new();
    let cols: Vec<Var> = row.iter().map(|&v| tape.constant(v)).collect();
    let ps: Vec<Var> = params.iter().map(|&v| tape.param(v)).collect();
    let y = f.expr().eval(&cols, &ps, &|x| tape.constant(x));
    let g = y.backward();
    ps.iter().map(|p| g.get(*p).item()).collect()
}

fn check(
    name: &str,
    text: &str,
    columns: &[&str],
    rows: &[Vec<f64>],
    points: &[Vec<f64>],
) -> usize {
    let f = Formula::parse(text, columns).unwrap_or_else(|e| panic!("{name}: {e}"));
    let partials: Vec<_> = (0..f.parameter_names().len())
        .map(|p| derivative(f.expr(), p).unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect();
    let mut checked = 0;
    for params in points {
        for row in rows {
            let want = tape_partials(&f, row, params);
            for (p, d) in partials.iter().enumerate() {
                let got = d.result.eval::<f64>(row, params, &|x| x);
                let w = want[p];
                assert!(
                    got == w
                        || (got - w).abs() <= 1e-10 * w.abs().max(1e-300)
                        || (got.is_nan() && w.is_nan()),
                    "{name}: d/d{} = {} is {got} at {row:?}, {params:?}; the tape says {w}",
                    f.parameter_names()[p],
                    f.show(&d.result)
                );
                checked += 1;
            }
        }
    }
    checked
}

#[test]
fn symbolic_partials_equal_the_tape_on_every_nist_formula() {
    let mut total = 0;
    for (name, text) in nist::NONLINEAR {
        let s = nist::load(name);
        let cols: Vec<&str> = s.columns.iter().map(String::as_str).collect();
        // The formula's columns are the data's x columns; take every 7th row.
        let f = Formula::parse(text, &cols).expect("a NIST formula");
        let idx: Vec<usize> = f
            .columns()
            .iter()
            .map(|c| cols.iter().position(|n| n == c).expect("a column"))
            .collect();
        let rows: Vec<Vec<f64>> = s
            .rows
            .iter()
            .step_by(7)
            .map(|r| idx.iter().map(|&i| r[i]).collect())
            .collect();
        let mut points = s.starts.clone();
        points.push(s.params.iter().map(|p| p.1).collect());
        total += check(name, text, &cols, &rows, &points);
    }
    eprintln!("{total} symbolic partials checked against the tape");
}

#[test]
fn the_tutorials_formulas_and_every_function() {
    let rows: Vec<Vec<f64>> = (0..12).map(|i| vec![0.1 + 0.07 * i as f64]).collect();
    let points = vec![vec![0.9, 0.1, 0.3], vec![-0.4, 0.7, 1.3]];
    for text in [
        "y = m*x + b",
        "y = m*x + b + c*x^2",
        "y = exp(m*x)/(1 + b*x) - c",
        "y = sqrt(m*m + x) * ln(b*b + x) + abs(c*x - 0.2)",
        "y = sin(m*x) + cos(b*x) * tan(c*x) + atan(m*b*x)",
        "y = asin(0.5*tanh(m*x)) + acos(0.3*sigmoid(b*x)) + sinh(c*x) + cosh(m*x)",
        "y = log10(m*m + x) + log2(b*b + x) + exp2(c*x) + square(m - x)",
        "y = pow(m*m + 0.5, b*x) + x^c",
        "y = -m/(b*b + x) - (c - x)^3",
    ] {
        check(text, text, &["x", "y"], &rows, &points);
    }
}

#[test]
fn the_linear_models_derivative_reads_as_by_hand() {
    let f = Formula::parse("y = m*x + b", &["x", "y"]).unwrap();
    let dm = derivative(f.expr(), 0).unwrap();
    let db = derivative(f.expr(), 1).unwrap();
    assert_eq!(f.show(&dm.result), "x");
    assert_eq!(f.show(&db.result), "1");
    let g = Formula::parse("y = a*exp(k*x) + c", &["x", "y"]).unwrap();
    let dk = derivative(g.expr(), 1).unwrap();
    assert_eq!(g.show(&dk.result), "a*(exp(k*x)*x)");
    assert_eq!(
        g.show_latex(&dk.result),
        "a \\cdot \\left(e^{k \\cdot x} \\cdot x\\right)"
    );
    assert!(derivative(
        Formula::parse("y = relu(m*x)", &["x", "y"]).unwrap().expr(),
        0
    )
    .is_err());
}
