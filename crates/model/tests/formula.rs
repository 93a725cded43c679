//! Formula models: parsing, gradients against central differences, fits against the
//! closed form and against known coefficients, standard errors against the textbook
//! formula, and a parser that never panics.

use model::*;
use proptest::prelude::*;
use tape::prelude::*;

fn data(xs: &[f64], f: impl Fn(f64) -> f64) -> Dataset {
    let rows: Vec<Vec<f64>> = xs.iter().map(|&x| vec![x]).collect();
    let ys: Vec<f64> = xs.iter().map(|&x| f(x)).collect();
    let mut d = Dataset::from_rows(&rows, &ys);
    d.features = vec!["x".into()];
    d.target = "y".into();
    d
}

#[test]
fn jacobian_by_forward_mode_matches_central_differences() {
    let mut f = Formula::parse(
        "y = a*exp(k*x) + c/(1 + x^2) - sqrt(abs(a)) * tanh(x) + sigmoid(k)*x^-1 + ln(x)",
        &["x", "y"],
    )
    .unwrap();
    for (name, v) in [("a", 1.7), ("k", -0.4), ("c", 0.9)] {
        f.set(name, v).unwrap();
    }
    let x = Tensor::new(vec![0.5, 1.0, 2.0, 3.5], &[4, 1]);
    let j = f.jacobian(&x);
    let h = 1e-6;
    for (k, name) in ["a", "k", "c"].iter().enumerate() {
        let v = f.values()[k];
        let mut up = f.clone();
        up.set(name, v + h).unwrap();
        let mut down = f.clone();
        down.set(name, v - h).unwrap();
        let (pu, pd) = (up.predict(&x), down.predict(&x));
        for i in 0..4 {
            let fd = (pu.data()[i] - pd.data()[i]) / (2.0 * h);
            let ad = j.data()[i * 3 + k];
            assert!(
                (fd - ad).abs() <= 1e-7 * (1.0 + fd.abs()),
                "∂f/∂{name} at row {i}: forward mode {ad}, central differences {fd}"
            );
        }
    }
}

#[test]
fn tape_gradient_of_the_formula_loss_matches_central_differences() {
    let d = data(&[0.0, 0.5, 1.0, 1.5, 2.0, 2.5], |x| {
        2.0 * (0.3 * x).exp() + 1.0
    });
    let mut f = Formula::parse("y = a*exp(k*x) + c", &["x", "y"]).unwrap();
    for (name, v) in [("a", 1.5), ("k", 0.1), ("c", 0.2)] {
        f.set(name, v).unwrap();
    }
    let tape = Tape::new();
    let p = f.bind(&tape);
    let loss = objective(&f, &p, &d, 0.0, 0.0);
    let g = loss.backward();
    let h = 1e-6;
    for (k, name) in ["a", "k", "c"].iter().enumerate() {
        let v = f.values()[k];
        let at = |t: f64| {
            let mut m = f.clone();
            m.set(name, t).unwrap();
            evaluate(&m, &d)
        };
        let fd = (at(v + h) - at(v - h)) / (2.0 * h);
        let ad = g.get(p[*name]).item();
        assert!(
            (fd - ad).abs() <= 1e-6 * (1.0 + fd.abs()),
            "{name}: {ad} vs {fd}"
        );
    }
}

#[test]
fn an_exponential_model_is_recovered() {
    let xs: Vec<f64> = (0..41).map(|i| i as f64 * 0.1 - 2.0).collect();
    let d = data(&xs, |x| 2.0 * (0.3 * x).exp() + 1.0);
    let mut f = Formula::parse("y = a*exp(k*x) + c", &["x", "y"]).unwrap();
    // The step the program takes by default: 1/λmax at the start, then the bold
    // driver (halved when a step would raise the loss, grown 10% when it fell).
    let lr = 1.0 / curvature(&f, &d, 0.0).unwrap().lambda_max;
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(60_000),
        tol: Some(1e-30),
        backtrack: true,
        ..Default::default()
    };
    let h = train(&mut f, &mut Sgd::new(lr), &d, None, &cfg, |_| {}).unwrap();
    assert!(h.train.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-12)));
    let v = f.values();
    for (got, want) in v.iter().zip([2.0, 0.3, 1.0]) {
        assert!((got - want).abs() < 1e-4, "{v:?}");
    }
}

#[test]
fn a_linear_formula_lands_on_the_closed_form_with_textbook_standard_errors() {
    let d = synthetic(60, &[1.3], 4.0, 0.7, (0.0, 2.0), 11);
    let mut f = Formula::parse("y = m*x + b", &["x", "y"]).unwrap();
    let mut d = d;
    d.features = vec!["x".into()];
    d.target = "y".into();
    let c = curvature(&f, &d, 0.0).unwrap();
    // No tolerance: near the optimum the loss stops changing in its last bit while the
    // gradient still points the parameters onward.
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(50_000),
        ..Default::default()
    };
    train(&mut f, &mut Sgd::new(c.best_lr()), &d, None, &cfg, |_| {}).unwrap();
    let (w, b) = least_squares(&d, 0.0, Solver::Qr).unwrap();
    let v = f.values();
    assert!(
        (v[0] - w[0]).abs() < 1e-8 && (v[1] - b).abs() < 1e-8,
        "{v:?} vs {w:?} {b}"
    );

    // se(m) = σ/√Σ(x − x̄)², se(b) = σ·√(1/n + x̄²/Σ(x − x̄)²), σ² = RSS/(n − 2).
    let x = d.x.to_vec();
    let n = x.len() as f64;
    let pred = f.predict(&d.x);
    let r: Vec<f64> =
        d.y.data()
            .iter()
            .zip(pred.data())
            .map(|(y, p)| y - p)
            .collect();
    let sigma = (r.iter().map(|r| r * r).sum::<f64>() / (n - 2.0)).sqrt();
    let xbar = x.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|x| (x - xbar).powi(2)).sum();
    let inf = inference(&f.jacobian(&d.x), &r, &v, &["m", "b"]).unwrap();
    let se_m = sigma / sxx.sqrt();
    let se_b = sigma * (1.0 / n + xbar * xbar / sxx).sqrt();
    assert!((inf.coefficients[0].std_error - se_m).abs() < 1e-10 * se_m);
    assert!((inf.coefficients[1].std_error - se_b).abs() < 1e-10 * se_b);
    assert_eq!(inf.df, 58);
    let t = inf.coefficients[0].t;
    assert!((t - v[0] / se_m).abs() < 1e-9 * t.abs());
    // The interval is estimate ± t₀.₉₇₅(58)·se, and t₀.₉₇₅(58) = 2.0017 (tables).
    let (lo, hi) = inf.coefficients[0].ci95;
    assert!(((hi - lo) / (2.0 * se_m) - 2.0017).abs() < 1e-4);
}

#[test]
fn ridge_leaves_the_intercept_alone() {
    let f = Formula::parse("y = w1*x + w2*z + b", &["x", "z", "y"]).unwrap();
    assert_eq!(f.penalized(), ["w1", "w2"]);
}

#[test]
fn bad_formulas_say_what_and_where() {
    let cols = ["hours", "score", "x"];
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("score", "needs a target"),
        ("= m*hours", "nothing before '='"),
        ("score =", "nothing after '='"),
        ("score = m*hours +", "ends where a value was expected"),
        ("score = (m*hours + b", "never closed"),
        ("score = m*hours) + b", "')' with no '('"),
        ("score = foo(hours)", "unknown function 'foo'"),
        ("score = m**hours", "'**'"),
        ("score = m*hour + b", "did you mean the column 'hours'"),
        ("grade = m*hours + b", "the target 'grade' is not a column"),
        ("score = m + b", "uses no column"),
        ("score = 2*hours", "no parameters"),
        ("score = pow(hours, k", "never closed"),
        ("tanh(score) = k*hours", "cannot transform the target"),
        ("score = m*hours + b = 3", "a second '='"),
        ("score = m hours", "where an operator"),
        ("score = m*hours + #", "'#' is not part of a formula"),
        ("score = exp()", "needs an argument"),
        ("score = exp + hours", "is a function"),
        ("score = 1e999*hours", "too large"),
        ("score ~ hours", "'~'"),
        ("score = m*score", "also appears on the right"),
        ("score hours = m", "must be one column name"),
        ("score = 1.2.3*hours", "not a number"),
    ];
    for (text, want) in cases {
        let e = Formula::parse(text, &cols).expect_err(text);
        assert!(
            e.to_string().contains(want),
            "{text:?}: {e} (wanted {want:?})"
        );
    }
    // Positions are 1-based characters.
    let e = Formula::parse("score = m*hours + #", &cols).unwrap_err();
    assert_eq!(e.column, 19);
}

fn valid_formulas() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "y = b1*(b2+x)^(-1/b3)",
        "ln(y) = a - b*x*exp(-c*z)",
        "y = b1 - b2*x - arctan(b3/(x-b4))/pi + pow(x, c)*sin(2*pi*x/d)",
        "y = m*x + b",
        "y = a*exp(k*x) + c",
        "y = w1*x + w2*z + b",
        "y = a/(1 + exp(-k*(x - x0)))",
        "y = sqrt(abs(a*x)) - relu(b - z)^2 + tanh(c)*sigmoid(x)",
        "y = -(-a)*x^-2 + ln(z) * (b + 1.5e-3)",
    ])
    .prop_map(str::to_string)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Formula::parse(&text, &["x", "y", "z"]);
    }

    #[test]
    fn mutated_formulas_never_panic_and_round_trip(
        base in valid_formulas(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(
            vec!['(', ')', '*', '+', '-', '^', '/', '=', 'x', 'k', '2', '.', 'e', ' ', '~', 'é']
        )), 0..4),
    ) {
        let mut chars: Vec<char> = base.chars().collect();
        for (at, kind, c) in edits {
            let i = at.index(chars.len() + 1);
            match kind {
                0 => chars.insert(i, c),
                1 if i < chars.len() => { chars.remove(i); }
                _ if i < chars.len() => chars[i] = c,
                _ => {}
            }
        }
        let text: String = chars.into_iter().collect();
        if let Ok(f) = Formula::parse(&text, &["x", "y", "z"]) {
            // What the parser understood, printed and parsed again, is the same tree.
            let again = Formula::parse(&f.to_string(), &["x", "y", "z"]).unwrap();
            prop_assert_eq!(again.expr(), f.expr());
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow(depth in 150usize..5000) {
        let text = format!("y = {}x{}", "(".repeat(depth), ")".repeat(depth));
        let r = Formula::parse(&text, &["x", "y"]);
        if depth > 200 {
            prop_assert!(r.unwrap_err().to_string().contains("nests too deeply"));
        }
    }
}

#[test]
fn every_function_and_fitted_exponent_differentiates_right_both_ways() {
    // Each function at arguments inside its domain: forward mode (the Jacobian) and
    // reverse mode (the tape's gradient of the loss) against central differences.
    let formulas = [
        "y = sin(a*x + c)",
        "y = cos(a*x + c)",
        "y = tan(a*x + c)",
        "y = atan(a*x + c)",
        "y = arctan(a*x) + c",
        "y = asin(a*x + c)",
        "y = acos(a*x + c)",
        "y = sinh(a*x + c)",
        "y = cosh(a*x + c)",
        "y = log10(a*x + c)",
        "y = log2(a*x + c)",
        "y = exp2(a*x + c)",
        "y = c*x^a",
        "y = c*a^x",
        "y = pow(x + c, a)",
        "y = a*e^(c*x) + pi",
    ];
    let d = data(&[0.1, 0.2, 0.3, 0.45, 0.6], |x| 0.3 + 0.2 * x);
    for text in formulas {
        let mut f = Formula::parse(text, &["x", "y"]).unwrap();
        f.set("a", 0.7).unwrap();
        f.set("c", 0.2).unwrap();
        let names: Vec<String> = f.parameter_names().iter().map(|s| s.to_string()).collect();
        let p = names.len();
        let j = f.jacobian(&d.x);
        let tape = Tape::new();
        let bound = f.bind(&tape);
        let g = objective(&f, &bound, &d, 0.0, 0.0).backward();
        let h = 1e-6;
        for (k, name) in names.iter().enumerate() {
            let v = f.values()[k];
            let moved = |t: f64| {
                let mut m = f.clone();
                m.set(name, t).unwrap();
                m
            };
            let (up, down) = (moved(v + h), moved(v - h));
            let (pu, pd) = (up.predict(&d.x), down.predict(&d.x));
            for i in 0..d.len() {
                let fd = (pu.data()[i] - pd.data()[i]) / (2.0 * h);
                let ad = j.data()[i * p + k];
                assert!(
                    (fd - ad).abs() <= 1e-6 * (1.0 + fd.abs()),
                    "{text}: ∂f/∂{name} row {i}: forward {ad}, central {fd}"
                );
            }
            let fd = (evaluate(&up, &d) - evaluate(&down, &d)) / (2.0 * h);
            let rd = g.get(bound[name.as_str()]).item();
            assert!(
                (fd - rd).abs() <= 1e-6 * (1.0 + fd.abs()),
                "{text}: ∂L/∂{name}: reverse {rd}, central {fd}"
            );
        }
    }
}
