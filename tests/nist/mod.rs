//! NIST StRD files (shipped in tests/data/nist, as NIST publishes them): their certified
//! values and data, and the log relative error NIST scores software by. Shared by the
//! model crate's tests and the program's.
#![allow(dead_code)]

use std::path::PathBuf;

/// A parsed StRD file.
#[derive(Debug, Clone)]
pub struct Strd {
    pub name: String,
    /// (name, certified estimate, certified standard deviation).
    pub params: Vec<(String, f64, f64)>,
    pub residual_sd: f64,
    /// Linear sets only.
    pub r_squared: Option<f64>,
    /// Nonlinear sets only: the two start points.
    pub starts: Vec<Vec<f64>>,
    /// Column names of the data, the response first.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|p| p.join("tests/data/nist").is_dir())
        .expect("tests/data/nist")
        .join("tests/data/nist")
}

fn num(s: &str) -> f64 {
    s.replace(['D', 'd'], "E").parse().expect("a number")
}

pub fn load(name: &str) -> Strd {
    let text = std::fs::read_to_string(dir().join(format!("{name}.dat"))).expect("StRD file");
    let mut params = vec![];
    let mut starts: Vec<Vec<f64>> = vec![];
    let mut residual_sd = f64::NAN;
    let mut r_squared = None;
    let mut columns = vec![];
    let mut rows = vec![];
    let mut in_data = false;
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if in_data {
            if !w.is_empty() {
                rows.push(w.iter().map(|s| num(s)).collect());
            }
            continue;
        }
        if w.first() == Some(&"Data:") && w.len() > 1 && !w[1].starts_with(char::is_numeric) {
            if w[1] == "y" || w[1] == "x" || w[1].starts_with('x') || w[1].starts_with('y') {
                columns = w[1..].iter().map(|s| s.to_string()).collect();
                in_data = true;
            }
            continue;
        }
        // Linear: "B1  est  sd"; nonlinear: "b1 = start1 start2 est sd".
        if w.len() == 3 && w[0].starts_with('B') && w[0][1..].parse::<u32>().is_ok() {
            params.push((w[0].to_string(), num(w[1]), num(w[2])));
        } else if w.len() == 6 && w[0].starts_with('b') && w[1] == "=" {
            params.push((w[0].to_string(), num(w[4]), num(w[5])));
            if starts.is_empty() {
                starts = vec![vec![], vec![]];
            }
            starts[0].push(num(w[2]));
            starts[1].push(num(w[3]));
        } else if line.contains("Residual Standard Deviation")
            || (w.len() == 3 && w[0] == "Standard" && w[1] == "Deviation")
        {
            residual_sd = num(w.last().unwrap());
        } else if line.contains("R-Squared") {
            r_squared = Some(num(w.last().unwrap()));
        }
    }
    // NIST data lines list y first for the linear sets ("Data: y x") and y first too for
    // the nonlinear ones ("Data: y x"), as the header line names them.
    Strd {
        name: name.to_string(),
        params,
        residual_sd,
        r_squared,
        starts,
        columns,
        rows,
    }
}

/// Log relative error: the number of correct significant digits; for a certified 0,
/// the log absolute error. Capped at 15 (exact).
pub fn lre(estimate: f64, certified: f64) -> f64 {
    if !estimate.is_finite() {
        return 0.0;
    }
    let err = if certified == 0.0 {
        estimate.abs()
    } else {
        ((estimate - certified) / certified).abs()
    };
    if err == 0.0 {
        15.0
    } else {
        (-err.log10()).clamp(0.0, 15.0)
    }
}

pub const LINEAR: [&str; 11] = [
    "Norris", "Pontius", "NoInt1", "NoInt2", "Filip", "Longley", "Wampler1", "Wampler2",
    "Wampler3", "Wampler4", "Wampler5",
];

/// A linear set's design, as a user would give it: the predictor columns (powers of x
/// for the polynomial sets, x1..x6 for Longley) and whether the model has B0.
pub fn linear_design(s: &Strd) -> (Vec<String>, Vec<Vec<f64>>, Vec<f64>, bool) {
    let intercept = s.params.iter().any(|p| p.0 == "B0");
    let y: Vec<f64> = s.rows.iter().map(|r| r[0]).collect();
    let names: Vec<String>;
    let cols: Vec<Vec<f64>>;
    if s.columns.len() > 2 {
        names = s.columns[1..].to_vec();
        cols = (1..s.columns.len())
            .map(|j| s.rows.iter().map(|r| r[j]).collect())
            .collect();
    } else {
        let degree = s.params.len() - usize::from(intercept);
        names = (1..=degree)
            .map(|k| {
                if k == 1 {
                    "x".to_string()
                } else {
                    format!("x{k}")
                }
            })
            .collect();
        cols = (1..=degree as i32)
            .map(|k| s.rows.iter().map(|r| r[1].powi(k)).collect())
            .collect();
    }
    (names, cols, y, intercept)
}

/// The 27 nonlinear sets with their models as descent formulas (NIST's text, in the
/// formula language: `**` as `^`, brackets as parentheses).
pub const NONLINEAR: [(&str, &str); 27] = [
    ("Misra1a", "y = b1*(1-exp(-b2*x))"),
    ("Chwirut2", "y = exp(-b1*x)/(b2+b3*x)"),
    ("Chwirut1", "y = exp(-b1*x)/(b2+b3*x)"),
    ("Lanczos3", "y = b1*exp(-b2*x) + b3*exp(-b4*x) + b5*exp(-b6*x)"),
    ("Gauss1", "y = b1*exp(-b2*x) + b3*exp(-(x-b4)^2/b5^2) + b6*exp(-(x-b7)^2/b8^2)"),
    ("Gauss2", "y = b1*exp(-b2*x) + b3*exp(-(x-b4)^2/b5^2) + b6*exp(-(x-b7)^2/b8^2)"),
    ("DanWood", "y = b1*x^b2"),
    ("Misra1b", "y = b1*(1-(1+b2*x/2)^(-2))"),
    ("Kirby2", "y = (b1 + b2*x + b3*x^2)/(1 + b4*x + b5*x^2)"),
    ("Hahn1", "y = (b1+b2*x+b3*x^2+b4*x^3)/(1+b5*x+b6*x^2+b7*x^3)"),
    ("Nelson", "ln(y) = b1 - b2*x1*exp(-b3*x2)"),
    ("MGH17", "y = b1 + b2*exp(-x*b4) + b3*exp(-x*b5)"),
    ("Lanczos1", "y = b1*exp(-b2*x) + b3*exp(-b4*x) + b5*exp(-b6*x)"),
    ("Lanczos2", "y = b1*exp(-b2*x) + b3*exp(-b4*x) + b5*exp(-b6*x)"),
    ("Gauss3", "y = b1*exp(-b2*x) + b3*exp(-(x-b4)^2/b5^2) + b6*exp(-(x-b7)^2/b8^2)"),
    ("Misra1c", "y = b1*(1-(1+2*b2*x)^(-0.5))"),
    ("Misra1d", "y = b1*b2*x*((1+b2*x)^(-1))"),
    ("Roszman1", "y = b1 - b2*x - arctan(b3/(x-b4))/pi"),
    ("ENSO", "y = b1 + b2*cos(2*pi*x/12) + b3*sin(2*pi*x/12) + b5*cos(2*pi*x/b4) + b6*sin(2*pi*x/b4) + b8*cos(2*pi*x/b7) + b9*sin(2*pi*x/b7)"),
    ("MGH09", "y = b1*(x^2+x*b2)/(x^2+x*b3+b4)"),
    ("Thurber", "y = (b1 + b2*x + b3*x^2 + b4*x^3)/(1 + b5*x + b6*x^2 + b7*x^3)"),
    ("BoxBOD", "y = b1*(1-exp(-b2*x))"),
    ("Rat42", "y = b1/(1+exp(b2-b3*x))"),
    ("MGH10", "y = b1*exp(b2/(x+b3))"),
    ("Eckerle4", "y = (b1/b2)*exp(-0.5*((x-b3)/b2)^2)"),
    ("Rat43", "y = b1/((1+exp(b2-b3*x))^(1/b4))"),
    ("Bennett5", "y = b1*(b2+x)^(-1/b3)"),
];
