//! The model crate against independent sources: plain loops written here, the closed
//! form, the Hessian of MSE in closed form, and identities of least squares.

use model::*;
use tape::prelude::*;

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

/// The hours-studied tutorial's loop, verbatim in spirit: for each point,
/// b_grad += −(2/N)(y − (m·x + b)), m_grad += −(2/N)·x·(y − (m·x + b)).
fn tutorial_loop(points: &[(f64, f64)], lr: f64, iterations: usize) -> (f64, f64) {
    let (mut b, mut m) = (0.0, 0.0);
    let n = points.len() as f64;
    for _ in 0..iterations {
        let (mut bg, mut mg) = (0.0, 0.0);
        for &(x, y) in points {
            bg += -(2.0 / n) * (y - (m * x + b));
            mg += -(2.0 / n) * x * (y - (m * x + b));
        }
        b -= lr * bg;
        m -= lr * mg;
    }
    (b, m)
}

#[test]
fn hours_studied_rule_matches_a_plain_loop() {
    let data = synthetic(100, &[1.3], 4.0, 10.0, (20.0, 80.0), 42);
    let points: Vec<(f64, f64)> = (0..100)
        .map(|i| (data.row(i)[0], data.y.data()[i]))
        .collect();
    let (b, m) = tutorial_loop(&points, 0.0001, 1000);
    let mut lin = Linear::new(1, 1, Init::Zeros);
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(1000),
        ..Default::default()
    };
    train(&mut lin, &mut Sgd::new(0.0001), &data, None, &cfg, |_| {}).unwrap();
    assert!(rel(lin.bias(), b) < 1e-12, "b {} vs {b}", lin.bias());
    assert!(
        rel(lin.weights()[0], m) < 1e-12,
        "m {} vs {m}",
        lin.weights()[0]
    );
}

#[test]
fn autodiff_matches_the_hand_derived_gradient() {
    let data = synthetic(40, &[0.5, -1.0, 2.0], 0.3, 1.0, (-3.0, 3.0), 5);
    let (w, b) = (vec![0.1, 0.2, -0.3], 0.7);
    let lin = Linear::from_coefficients(&w, b);
    let tape = Tape::new();
    let p = lin.bind(&tape);
    let g = objective(&lin, &p, &data, 0.0, 0.0).backward();
    let (dw, db) = mse_gradient(&data.rows(), data.y.data(), &w, b);
    for (a, h) in g.get(p["weight"]).data().iter().zip(&dw) {
        assert!((a - h).abs() < 1e-12, "{a} vs {h}");
    }
    assert!((g.get(p["bias"]).item() - db).abs() < 1e-12);
}

fn fit_by_descent(data: &Dataset, l2: f64) -> Linear {
    let mut lin = Linear::new(data.dim(), 1, Init::Zeros);
    let c = curvature(&lin, data, l2).unwrap();
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(100_000),
        tol: Some(1e-16),
        l2,
        ..Default::default()
    };
    let h = train(
        &mut lin,
        &mut Sgd::new(c.best_lr()),
        data,
        None,
        &cfg,
        |_| {},
    )
    .unwrap();
    assert!(
        h.converged,
        "did not converge in {} iterations",
        h.iterations
    );
    lin
}

#[test]
fn descent_reaches_the_closed_form_with_1_and_16_features() {
    for d in [1usize, 16] {
        let w: Vec<f64> = (0..d).map(|j| (j as f64 * 0.7).sin() * 3.0).collect();
        let raw = synthetic(500, &w, 2.0, 0.5, (-5.0, 15.0), 9 + d as u64);
        let data = Standardizer::fit(&raw.x).apply(&raw);
        let lin = fit_by_descent(&data, 0.0);
        for solver in [Solver::Cholesky, Solver::Qr] {
            let (cw, cb) = least_squares(&data, 0.0, solver).unwrap();
            for (a, c) in lin.weights().iter().zip(&cw) {
                assert!((a - c).abs() < 1e-6, "d={d} {solver:?}: {a} vs {c}");
            }
            assert!((lin.bias() - cb).abs() < 1e-6);
        }
        // R² of an OLS fit with intercept equals the squared correlation of ŷ and y.
        let pred = lin.predict(&data.x);
        let r2 = metrics(&pred, &data.y).r2;
        let (p, y) = (pred.data(), data.y.data());
        let n = y.len() as f64;
        let (mp, my) = (p.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let cov: f64 = p.iter().zip(y).map(|(p, y)| (p - mp) * (y - my)).sum();
        let vp: f64 = p.iter().map(|p| (p - mp).powi(2)).sum();
        let vy: f64 = y.iter().map(|y| (y - my).powi(2)).sum();
        assert!((r2 - cov * cov / (vp * vy)).abs() < 1e-9, "d={d}: R² {r2}");
    }
}

#[test]
fn closed_form_recovers_noise_free_coefficients_and_ridge_matches_descent() {
    let data = synthetic(60, &[1.5, -2.0], 0.25, 0.0, (-1.0, 1.0), 3);
    for solver in [Solver::Cholesky, Solver::Qr] {
        let (w, b) = least_squares(&data, 0.0, solver).unwrap();
        assert!(
            (w[0] - 1.5).abs() < 1e-10 && (w[1] + 2.0).abs() < 1e-10 && (b - 0.25).abs() < 1e-10
        );
    }
    let l2 = 0.3;
    let lin = fit_by_descent(&data, l2);
    for solver in [Solver::Cholesky, Solver::Qr] {
        let (w, b) = least_squares(&data, l2, solver).unwrap();
        assert!((lin.weights()[0] - w[0]).abs() < 1e-6 && (lin.weights()[1] - w[1]).abs() < 1e-6);
        assert!((lin.bias() - b).abs() < 1e-6);
        assert!(w[0].abs() < 1.5, "ridge shrinks: {w:?}");
    }
    // Collinear features: Cholesky refuses with a reason, ridge makes it solvable.
    let rows: Vec<Vec<f64>> = (0..10).map(|i| vec![i as f64, 2.0 * i as f64]).collect();
    let dup = Dataset::from_rows(&rows, &(0..10).map(|i| i as f64).collect::<Vec<_>>());
    assert!(least_squares(&dup, 0.0, Solver::Cholesky)
        .unwrap_err()
        .contains("collinear"));
    assert!(least_squares(&dup, 0.0, Solver::Qr)
        .unwrap_err()
        .contains("collinear"));
    assert!(least_squares(&dup, 0.1, Solver::Qr).is_ok());
}

#[test]
fn standardised_fit_maps_back_to_original_units() {
    let raw = synthetic(200, &[0.8, -0.05], 30.0, 1.0, (0.0, 100.0), 4);
    let s = Standardizer::fit(&raw.x);
    let lin = fit_by_descent(&s.apply(&raw), 0.0);
    let (w, b) = s.to_original(&lin.weights(), lin.bias());
    let (cw, cb) = least_squares(&raw, 0.0, Solver::Qr).unwrap();
    assert!((w[0] - cw[0]).abs() < 1e-6 && (w[1] - cw[1]).abs() < 1e-6 && (b - cb).abs() < 1e-4);
}

/// The extreme eigenvalues (largest, smallest) of the Hessian of MSE for a linear model
/// on `rows`, from its closed form (2/n)·[X 1]ᵀ[X 1], built here rather than by the tape.
fn mse_hessian_extremes(rows: &[Vec<f64>]) -> (f64, f64) {
    let n = rows.len() as f64;
    let design: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| r.iter().copied().chain([1.0]).collect())
        .collect();
    let h: Vec<Vec<f64>> = gram(&design)
        .into_iter()
        .map(|r| r.into_iter().map(|v| 2.0 / n * v).collect())
        .collect();
    let eig = symmetric_eigenvalues(h);
    (
        eig.iter().cloned().fold(f64::MIN, f64::max),
        eig.iter().cloned().fold(f64::MAX, f64::min),
    )
}

/// `c` has the extreme eigenvalues `(max, min)`, to relative `tol`.
fn assert_extremes(c: &Curvature, (max, min): (f64, f64), tol: f64) {
    assert!(
        rel(c.lambda_max, max) < tol,
        "λmax {} vs {max}",
        c.lambda_max
    );
    assert!(
        rel(c.lambda_min, min) < tol,
        "λmin {} vs {min}",
        c.lambda_min
    );
}

#[test]
fn curvature_of_many_parameters_by_power_iteration() {
    // 271 parameters: past the size where the whole Hessian is formed, so λmax and λmin
    // come from power iteration on Hessian-vector products.
    let (n, d) = (400, 260);
    let x = Tensor::randn(&[n, d], 5);
    let rows: Vec<Vec<f64>> = x.data().chunks(d).map(|r| r.to_vec()).collect();
    let ys: Vec<f64> = Tensor::randn(&[n], 6).to_vec();
    let data = Dataset::from_rows(&rows, &ys);
    let c = curvature(&Linear::new(d, 1, Init::Zeros), &data, 0.0).unwrap();
    assert_extremes(&c, mse_hessian_extremes(&rows), 1e-6);
}

#[test]
fn curvature_of_one_feature_matches_the_quadratic_formula() {
    // H = (2/n)[[Σx², Σx], [Σx, n]]: eigenvalues (tr ± √(tr² − 4·det))/2, by hand.
    let data = synthetic(100, &[1.32], 7.9, 10.0, (25.0, 70.0), 2017);
    let xs = data.x.to_vec();
    let n = xs.len() as f64;
    let (sx, sxx) = (
        xs.iter().sum::<f64>(),
        xs.iter().map(|x| x * x).sum::<f64>(),
    );
    let (a, b, d) = (2.0 * sxx / n, 2.0 * sx / n, 2.0);
    let (tr, det) = (a + d, a * d - b * b);
    let disc = (tr * tr - 4.0 * det).sqrt();
    let c = curvature(&Linear::new(1, 1, Init::Zeros), &data, 0.0).unwrap();
    assert!(rel(c.lambda_max, (tr + disc) / 2.0) < 1e-12);
    // λmin = det/λmax avoids the cancellation in (tr − disc)/2.
    assert!(
        rel(c.lambda_min, det / ((tr + disc) / 2.0)) < 1e-9,
        "{}",
        c.lambda_min
    );
}

#[test]
fn curvature_matches_the_eigenvalues_and_predicts_divergence() {
    let data = synthetic(80, &[1.0, -0.5, 0.25], 1.0, 0.3, (-2.0, 3.0), 21);
    let lin = Linear::new(3, 1, Init::Zeros);
    let c = curvature(&lin, &data, 0.0).unwrap();
    let (max, min) = mse_hessian_extremes(&data.rows());
    assert_extremes(&c, (max, min), 1e-8);

    let cfg = TrainConfig {
        schedule: Schedule::Iterations(20_000),
        ..Default::default()
    };
    let mut stable = lin.clone();
    let h = train(
        &mut stable,
        &mut Sgd::new(0.99 * c.max_stable_lr()),
        &data,
        None,
        &cfg,
        |_| {},
    )
    .unwrap();
    let (cw, _) = least_squares(&data, 0.0, Solver::Qr).unwrap();
    assert!(
        (stable.weights()[0] - cw[0]).abs() < 1e-6,
        "0.99 × 2/λmax converges: {:?} after {}",
        stable.weights(),
        h.iterations
    );

    let mut unstable = lin.clone();
    let err = train(
        &mut unstable,
        &mut Sgd::new(1.01 * c.max_stable_lr()),
        &data,
        None,
        &cfg,
        |_| {},
    )
    .unwrap_err();
    let TrainError::Diverged {
        iteration,
        max_stable_lr,
        ..
    } = &err;
    assert!(*iteration < 20_000);
    assert!(rel(max_stable_lr.unwrap(), 2.0 / max) < 1e-8);
    let msg = err.to_string();
    assert!(
        msg.starts_with("training diverged at iteration")
            && msg.contains("largest stable learning rate"),
        "{msg}"
    );

    // Far too large: the loss overflows and the report says so.
    let mut wild = lin.clone();
    let err = train(&mut wild, &mut Sgd::new(1e3), &data, None, &cfg, |_| {}).unwrap_err();
    assert!(
        err.to_string().contains("infinite")
            || err.to_string().contains("NaN")
            || err.to_string().contains("grew"),
        "{err}"
    );
}

#[test]
fn optimizers_and_batch_modes_reach_the_closed_form() {
    let raw = synthetic(64, &[2.0, -1.0], 0.5, 0.1, (-1.0, 1.0), 8);
    let (cw, cb) = least_squares(&raw, 0.0, Solver::Qr).unwrap();
    let close = |lin: &Linear, tol: f64| {
        lin.weights()
            .iter()
            .zip(&cw)
            .all(|(a, c)| (a - c).abs() < tol)
            && (lin.bias() - cb).abs() < tol
    };
    let mut lin = Linear::new(2, 1, Init::Zeros);
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(3000),
        ..Default::default()
    };
    train(
        &mut lin,
        &mut Momentum::new(0.05, 0.9),
        &raw,
        None,
        &cfg,
        |_| {},
    )
    .unwrap();
    assert!(close(&lin, 1e-8), "momentum: {:?}", lin.weights());
    let mut lin = Linear::new(2, 1, Init::Zeros);
    train(&mut lin, &mut Adam::new(0.01), &raw, None, &cfg, |_| {}).unwrap();
    assert!(close(&lin, 1e-3), "adam: {:?}", lin.weights());
    // Mini-batch and stochastic: noisy, but near the minimum.
    for batch in [8, 1] {
        let mut lin = Linear::new(2, 1, Init::Zeros);
        let cfg = TrainConfig {
            schedule: Schedule::Epochs(300),
            batch_size: Some(batch),
            seed: 1,
            ..Default::default()
        };
        let h = train(&mut lin, &mut Sgd::new(0.02), &raw, None, &cfg, |_| {}).unwrap();
        assert_eq!(h.iterations, 300 * 64 / batch);
        assert!(
            close(&lin, 0.05),
            "batch {batch}: {:?} vs {cw:?}",
            lin.weights()
        );
    }
}

#[test]
fn optimizer_steps_by_hand() {
    let mut p = Params::new();
    p.insert("w".into(), Tensor::from([1.0, -1.0]));
    let g = [Tensor::from([0.5, -4.0])];
    // Momentum: v1 = g, θ1 = θ0 − lr·g; v2 = βg + g, θ2 = θ1 − lr·1.9g.
    let mut m = Momentum::new(0.1, 0.9);
    m.step(&mut p, &g);
    m.step(&mut p, &g);
    assert!((p["w"].data()[0] - (1.0 - 0.1 * 0.5 - 0.1 * 1.9 * 0.5)).abs() < 1e-15);
    // Adam's first step is lr·sign(g) (bias correction makes m̂/√v̂ = g/|g|).
    let mut p = Params::new();
    p.insert("w".into(), Tensor::from([1.0, -1.0]));
    Adam::new(0.1).step(&mut p, &g);
    // With ε = 1e-8 in the denominator: θ − lr·|g|/(|g| + ε)·sign(g).
    let want = [
        1.0 - 0.1 * 0.5 / (0.5 + 1e-8),
        -1.0 + 0.1 * 4.0 / (4.0 + 1e-8),
    ];
    assert!(
        (p["w"].data()[0] - want[0]).abs() < 1e-15 && (p["w"].data()[1] - want[1]).abs() < 1e-15,
        "{:?}",
        p["w"]
    );
}

#[test]
fn callbacks_history_and_validation() {
    let data = synthetic(100, &[1.0], 0.0, 0.1, (0.0, 1.0), 2);
    let parts = split_chronological(&data, &[0.8, 0.2]);
    let mut lin = Linear::new(1, 1, Init::Zeros);
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(100),
        log_every: 25,
        ..Default::default()
    };
    let mut seen = vec![];
    let h = train(
        &mut lin,
        &mut Sgd::new(0.5),
        &parts[0],
        Some(&parts[1]),
        &cfg,
        |p| seen.push(p.iteration),
    )
    .unwrap();
    assert_eq!(seen, vec![25, 50, 75, 100]);
    assert_eq!(h.train.len(), 100);
    assert_eq!(
        h.valid.iter().map(|v| v.0).collect::<Vec<_>>(),
        vec![25, 50, 75, 100, 100]
    );
    assert!(h.train[99] < h.train[0] / 10.0);
}

#[test]
fn splits_are_ordered_or_seeded() {
    let rows: Vec<Vec<f64>> = (0..20).map(|i| vec![i as f64]).collect();
    let data = Dataset::from_rows(&rows, &(0..20).map(|i| i as f64).collect::<Vec<_>>());
    let parts = split_chronological(&data, &[0.7, 0.15, 0.15]);
    assert_eq!(
        parts.iter().map(Dataset::len).collect::<Vec<_>>(),
        vec![14, 3, 3]
    );
    assert_eq!(parts[1].row(0)[0], 14.0);
    let a = split_shuffled(&data, &[0.5, 0.5], 7);
    assert_eq!(a, split_shuffled(&data, &[0.5, 0.5], 7));
    let mut all: Vec<f64> = a.iter().flat_map(|p| p.x.to_vec()).collect();
    all.sort_by(f64::total_cmp);
    assert_eq!(all, (0..20).map(|i| i as f64).collect::<Vec<_>>());
    assert_ne!(
        a[0].x.to_vec(),
        (0..10).map(|i| i as f64).collect::<Vec<_>>()
    );
}

/// A model that says nothing of its graph: `train` records it afresh every step.
struct Rerecorded(Box<dyn Model>);

impl Model for Rerecorded {
    fn named_parameters(&self) -> &Params {
        self.0.named_parameters()
    }
    fn named_parameters_mut(&mut self) -> &mut Params {
        self.0.named_parameters_mut()
    }
    fn forward<'t>(&self, p: &Bound<'t>, x: Var<'t>) -> Var<'t> {
        self.0.forward(p, x)
    }
    fn mse<'t>(&self, p: &Bound<'t>, x: Var<'t>, y: Var<'t>) -> Var<'t> {
        self.0.mse(p, x, y)
    }
    fn penalized(&self) -> Vec<String> {
        self.0.penalized()
    }
}

#[test]
fn training_on_a_graph_recorded_once_is_training_on_one_recorded_each_step() {
    // Full batch, static graph: train records once and uses Tape::set_values. Every
    // loss and parameter must be what recording each step gives, to the bit, on the
    // fused path (one feature), the general path (with ridge and lasso) and a formula.
    let bits = |h: &History, p: &Params| {
        let mut v: Vec<u64> = h.train.iter().map(|x| x.to_bits()).collect();
        v.extend(p.values().flat_map(|t| t.to_vec()).map(f64::to_bits));
        v
    };
    let one = synthetic(60, &[1.3], 4.0, 10.0, (20.0, 80.0), 5);
    let three = synthetic(80, &[0.5, -2.0, 1.0], 1.0, 0.3, (-1.0, 1.0), 6);
    let formula = Formula::parse(
        "y = a * exp(b * x1) + c * x2 + d * x3",
        &["x1", "x2", "x3", "y"],
    )
    .unwrap();
    type Make = Box<dyn Fn() -> Box<dyn Model>>;
    let cases: Vec<(Make, &Dataset, f64, f64, bool)> = vec![
        (
            Box::new(|| Box::new(Linear::new(1, 1, Init::Zeros))),
            &one,
            0.0,
            0.0,
            false,
        ),
        (
            Box::new(|| Box::new(Linear::new(3, 1, Init::Normal(2)))),
            &three,
            0.1,
            0.01,
            false,
        ),
        // With backtracking, steps are taken back and retried at a shorter rate.
        (
            Box::new(move || Box::new(formula.clone())),
            &three,
            0.0,
            0.0,
            true,
        ),
    ];
    for (make, data, l2, l1, backtrack) in cases {
        let cfg = TrainConfig {
            schedule: Schedule::Iterations(300),
            l2,
            l1,
            backtrack,
            ..Default::default()
        };
        let lr = if data.dim() == 1 { 1e-4 } else { 0.01 };
        let mut replayed = make();
        assert!(replayed.graph_is_static());
        let h1 = train(&mut *replayed, &mut Sgd::new(lr), data, None, &cfg, |_| {}).unwrap();
        let mut again = Rerecorded(make());
        let h2 = train(&mut again, &mut Sgd::new(lr), data, None, &cfg, |_| {}).unwrap();
        assert_eq!(h1.iterations, 300);
        assert_eq!(
            bits(&h1, replayed.named_parameters()),
            bits(&h2, again.named_parameters())
        );
    }
}
