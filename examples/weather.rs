//! The weather tutorial: predict tomorrow's maximum temperature from today's tmax, tmin
//! and rain. descent generates 13,509 days of seasonal weather with gaps, reads them as a
//! CSV with missing values filled forward, splits 70/15/15 in time order, and compares
//! gradient descent with the closed form; then the learning-rate experiments (too high
//! diverges, too low crawls), initialisation, and ridge.
//!
//! `cargo run --release --example weather`

use descent::model::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

/// A seasonal daily series (°F, inches) with about 1% of cells left empty.
fn weather_csv(days: usize, seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let noise = Normal::new(0.0, 4.0).unwrap();
    let season = |d: usize| (2.0 * std::f64::consts::PI * d as f64 / 365.25).cos();
    let tmax: Vec<f64> = (0..=days)
        .map(|d| (62.0 - 12.0 * season(d) + noise.sample(&mut rng)).round())
        .collect();
    let mut out = String::from(",tmax,tmin,rain,tmax_tomorrow\n");
    for d in 0..days {
        let tmin = (tmax[d] - 14.0 + noise.sample(&mut rng) / 2.0).round();
        let rain = if rng.random::<f64>() < 0.2 {
            (rng.random::<f64>() * 1.5 * 100.0).round() / 100.0
        } else {
            0.0
        };
        let cell = |v: f64, rng: &mut StdRng| {
            if rng.random::<f64>() < 0.01 {
                String::new()
            } else {
                v.to_string()
            }
        };
        out += &format!(
            "day{d},{},{},{},{}\n",
            cell(tmax[d], &mut rng),
            cell(tmin, &mut rng),
            cell(rain, &mut rng),
            tmax[d + 1]
        );
    }
    out
}

fn main() {
    let csv = weather_csv(13_509, 1970);
    let opts = CsvOptions {
        features: Some(vec!["tmax".into(), "tmin".into(), "rain".into()]),
        missing: Missing::ForwardFill,
        ..CsvOptions::new("tmax_tomorrow")
    };
    let data = parse_csv(csv.as_bytes(), "weather.csv", &opts).expect("generated CSV parses");
    let parts = split_chronological(&data, &[0.7, 0.15, 0.15]);
    let (train_raw, valid_raw, test_raw) = (&parts[0], &parts[1], &parts[2]);
    println!(
        "{} days: {} train, {} valid, {} test (in time order)",
        data.len(),
        train_raw.len(),
        valid_raw.len(),
        test_raw.len()
    );

    // Standardise with the training split's statistics only.
    let s = Standardizer::fit(&train_raw.x);
    let (tr, va, te) = (s.apply(train_raw), s.apply(valid_raw), s.apply(test_raw));
    let mut lin = Linear::new(3, 1, Init::Uniform(0));
    let c = curvature(&lin, &tr, 0.0).expect("finite");
    println!(
        "Hessian eigenvalues: λmax = {:.4}, λmin = {:.4}; largest stable lr 2/λmax = {:.4}, best lr = {:.4}",
        c.lambda_max, c.lambda_min, c.max_stable_lr(), c.best_lr()
    );
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(3000),
        log_every: 10,
        ..Default::default()
    };
    let h = train(
        &mut lin,
        &mut Sgd::new(c.best_lr()),
        &tr,
        Some(&va),
        &cfg,
        |_| {},
    )
    .expect("stable");
    let (w, b) = s.to_original(&lin.weights(), lin.bias());
    let (cw, cb) = least_squares(train_raw, 0.0, Solver::Qr).expect("full rank");
    println!("\n{:<8} {:>14} {:>14}", "", "descent", "closed form");
    for (j, name) in data.features.iter().enumerate() {
        println!("{name:<8} {:>14.6} {:>14.6}", w[j], cw[j]);
    }
    println!("{:<8} {:>14.6} {:>14.6}", "bias", b, cb);
    println!("{} iterations at lr {:.4}", h.iterations, c.best_lr());
    for (name, d) in [("train", &tr), ("valid", &va), ("test", &te)] {
        let m = metrics(&lin.predict(&d.x), &d.y);
        println!(
            "{name:<6} MSE {:>8.4}  RMSE {:>7.4}  MAE {:>7.4}  R² {:.4}",
            m.mse, m.rmse, m.mae, m.r2
        );
    }
    // The check is made where descent trained: on the standardised features.
    let (sw, sb) = least_squares(&tr, 0.0, Solver::Qr).expect("full rank");
    let off = lin
        .weights()
        .iter()
        .zip(&sw)
        .map(|(a, b)| (a - b).abs())
        .fold((lin.bias() - sb).abs(), f64::max);
    println!("largest difference from the closed form on standardised features: {off:.1e}");
    if off > 1e-6 {
        eprintln!("descent is {off:e} from the closed form");
        std::process::exit(1);
    }

    println!("\nLearning rates (unstandardised features, 500 iterations from zero):");
    let c_raw = curvature(&Linear::new(3, 1, Init::Zeros), train_raw, 0.0).expect("finite");
    for lr in [
        1e-7,
        1e-5,
        0.5 * c_raw.max_stable_lr(),
        1.5 * c_raw.max_stable_lr(),
    ] {
        let mut lin = Linear::new(3, 1, Init::Zeros);
        let cfg = TrainConfig {
            schedule: Schedule::Iterations(500),
            ..Default::default()
        };
        match train(&mut lin, &mut Sgd::new(lr), train_raw, None, &cfg, |_| {}) {
            Ok(h) => println!(
                "  lr {lr:<10.3e} final loss {:>12.4} (from {:.1})",
                h.train.last().unwrap(),
                h.train[0]
            ),
            Err(e) => println!("  lr {lr:<10.3e} {e}"),
        }
    }

    println!("\nRidge (standardised), weight on tmax as λ grows:");
    for l2 in [0.0, 0.1, 1.0, 10.0] {
        let (w, b) = least_squares(&tr, l2, Solver::Cholesky).expect("positive definite");
        let valid = metrics(&Linear::from_coefficients(&w, b).predict(&va.x), &va.y).mse;
        println!("  λ = {l2:<5} w_tmax = {:.4}, valid MSE = {valid:.4}", w[0]);
    }
}
