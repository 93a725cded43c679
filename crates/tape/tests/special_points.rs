//! The derivative rules at their special points against PyTorch's figures (float64),
//! written by `tests/torch/special_points.py` into `tests/data/torch_special_points.json`.
//! The table of what each rule does there is in the crate's documentation (`lib.rs`).

use tape::{jvp, Algebra, Dual, Functions, Tape, Tensor, Var};

fn expected() -> serde_json::Map<String, serde_json::Value> {
    let text = include_str!("data/torch_special_points.json");
    let doc: serde_json::Value = serde_json::from_str(text).expect("the JSON the script wrote");
    doc["cases"].as_object().expect("cases").clone()
}

/// PyTorch's figure as numbers ("inf", "nan", "-0" and "0" spelled out; a list for a
/// tensor).
fn figure(cases: &serde_json::Map<String, serde_json::Value>, name: &str) -> Vec<f64> {
    fn one(v: &serde_json::Value, name: &str) -> f64 {
        match v {
            serde_json::Value::String(s) => match s.as_str() {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" => f64::NAN,
                "-0" => -0.0,
                "0" => 0.0,
                other => panic!("{name}: {other}"),
            },
            v => v.as_f64().expect("a number"),
        }
    }
    match &cases[name] {
        serde_json::Value::Array(list) => list.iter().map(|v| one(v, name)).collect(),
        v => vec![one(v, name)],
    }
}

/// Equal as PyTorch prints them: NaN for NaN, infinities and zeros with their signs,
/// other numbers to 1e-12 relative (rules written alike may round differently:
/// PyTorch's logsumexp gradient at (1000, 1000) is 0.5000000000000275, descent's 0.5).
fn same(got: f64, want: f64) -> bool {
    (got.is_nan() && want.is_nan())
        || got.to_bits() == want.to_bits()
        || (want.is_finite() && want != 0.0 && (got - want).abs() <= 1e-12 * want.abs())
}

fn grad(f: impl for<'t> Fn(Var<'t>) -> Var<'t>, x0: f64) -> f64 {
    let tape = Tape::new();
    let x = tape.param(x0);
    let y = f(x);
    let g = y.backward().get(x).item();
    g
}

fn grad_vec(f: impl for<'t> Fn(Var<'t>) -> Var<'t>, x0: &[f64]) -> Vec<f64> {
    let tape = Tape::new();
    let x = tape.param(x0.to_vec());
    let y = f(x);
    let g = y.backward().get(x).to_vec();
    g
}

fn grad_mat<const C: usize>(f: impl for<'t> Fn(Var<'t>) -> Var<'t>, x0: &[[f64; C]]) -> Vec<f64> {
    let tape = Tape::new();
    let x = tape.param(Tensor::new(
        x0.iter().flatten().copied().collect(),
        &[x0.len(), C],
    ));
    let y = f(x);
    let g = y.backward().get(x).to_vec();
    g
}

fn grad2(f: impl for<'t> Fn(Var<'t>) -> Var<'t>, x0: f64) -> f64 {
    let tape = Tape::new();
    let x = tape.param(x0);
    let g = tape.grad(f(x), &[x], true)[0];
    let h = g.backward().get(x).item();
    h
}

fn forward(f: impl Fn(&Dual) -> Dual, x0: f64) -> f64 {
    let (_, t) = jvp(|x| f(&x[0]), &[Tensor::scalar(x0)], &[Tensor::scalar(1.0)]);
    t.item()
}

#[test]
fn special_points_follow_pytorch() {
    let cases = expected();
    let zero = |d: &Dual| Dual::constant(Tensor::scalar(0.0 * d.value.item()));
    let ours: Vec<(&str, f64)> = vec![
        ("powi0_grad_at_0", grad(|x| x.powi(0), 0.0)),
        ("powf0_grad_at_0", grad(|x| x.powf(0.0), 0.0)),
        ("powi1_second_at_0", grad2(|x| x.powi(1), 0.0)),
        ("powf1_second_at_0", grad2(|x| x.powf(1.0), 0.0)),
        ("sqrt_relu_grad_at_-1", grad(|x| x.relu().sqrt(), -1.0)),
        ("sqrt_tanh_grad_at_0", grad(|x| x.tanh().sqrt(), 0.0)),
        (
            "sqrt_sigmoid_minus_half_grad_at_0",
            grad(|x| (x.sigmoid() - 0.5).sqrt(), 0.0),
        ),
        ("sqrt_times_zero_grad_at_0", grad(|x| x.sqrt() * 0.0, 0.0)),
        (
            "jvp_x_plus_sqrt_const_0",
            forward(|x| x.add(&zero(x).sqrt()), 2.0),
        ),
        ("jvp_powi0_at_0", forward(|x| x.powi(0), 0.0)),
        ("jvp_sqrt_relu_at_-1", forward(|x| x.relu().sqrt(), -1.0)),
        (
            "maximum_tie_grad",
            grad(|x| x.maximum(&x.map_const(|_| 1.0)), 1.0),
        ),
        (
            "sqrt_minimum_grad_at_1",
            grad(|x| x.minimum(&x.map_const(|_| 0.0)).sqrt(), 1.0),
        ),
        ("softplus_at_30", Tensor::scalar(30.0).softplus().item()),
        ("softplus_grad_at_30", grad(|x| x.softplus(), 30.0)),
        ("softplus_grad_at_-3", grad(|x| x.softplus(), -3.0)),
        ("log1p_grad_at_-0.5", grad(|x| x.log1p(), -0.5)),
        ("expm1_grad_at_1e-10", grad(|x| x.expm1(), 1e-10)),
        (
            "logsumexp_of_1000_1000",
            Tensor::from([1000.0, 1000.0]).logsumexp(0, false).item(),
        ),
        (
            "logsumexp_grad_0_of_1000_1000",
            grad_vec(|x| x.logsumexp(0, false), &[1000.0, 1000.0])[0],
        ),
        (
            "log_softmax_of_0_1000",
            Tensor::from([0.0, 1000.0]).log_softmax(0).data()[0],
        ),
        (
            "logsumexp_of_all_-inf",
            Tensor::from([f64::NEG_INFINITY; 2])
                .logsumexp(0, false)
                .item(),
        ),
        (
            "logsumexp_of_inf_1",
            Tensor::from([f64::INFINITY, 1.0])
                .logsumexp(0, false)
                .item(),
        ),
        (
            "var_unbiased_1234",
            Tensor::from([1.0, 2.0, 3.0, 4.0]).var(1.0).item(),
        ),
        (
            "std_population_1234",
            Tensor::from([1.0, 2.0, 3.0, 4.0]).std(0.0).item(),
        ),
        (
            "std_grad_0_of_constant",
            grad_vec(|x| x.std(1.0), &[2.0, 2.0, 2.0])[0],
        ),
        (
            "norm_grad_0_at_zero",
            grad_vec(|x| x.norm(), &[0.0, 0.0])[0],
        ),
        (
            "clamp_grad_at_upper_bound",
            grad(|x| x.clamp(-1.0, 1.0), 1.0),
        ),
        ("clamp_grad_outside", grad(|x| x.clamp(-1.0, 1.0), 2.0)),
        ("clamp_of_nan", Functions::clamp(&f64::NAN, -1.0, 1.0)),
        ("sum_of_empty", Tensor::new(vec![], &[0]).sum().item()),
        (
            "mean_of_minus_zero",
            Tensor::new(vec![-0.0], &[1]).mean().item(),
        ),
        (
            "sum_of_minus_zeros",
            Tensor::new(vec![-0.0, -0.0], &[2]).sum().item(),
        ),
    ];
    let mut ours: Vec<(&str, Vec<f64>)> = ours.into_iter().map(|(n, v)| (n, vec![v])).collect();
    let grid = || Tensor::new((0..24).map(f64::from).collect(), &[2, 3, 4]);
    ours.extend([
        (
            "logsumexp_grad_of_all_-inf",
            grad_vec(|x| x.logsumexp(0, false), &[f64::NEG_INFINITY; 2]),
        ),
        (
            "logsumexp_grad_of_inf_1",
            grad_vec(|x| x.logsumexp(0, false), &[f64::INFINITY, 1.0]),
        ),
        (
            "max_dim_grad_with_tie",
            grad_mat(
                |x| x.max_along(1, false).sum(),
                &[[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]],
            ),
        ),
        (
            "min_dim_grad_with_tie",
            grad_mat(|x| x.min_along(0, false).sum(), &[[1.0, 3.0], [1.0, 0.0]]),
        ),
        (
            "where_grad_other_branch_infinite",
            grad_vec(
                |x| {
                    let cond = x.tape().constant([1.0, 0.0]);
                    cond.where_(&x, &x.map_const(|_| 0.0)).sqrt().sum()
                },
                &[4.0, 4.0],
            ),
        ),
        (
            "narrow_grad",
            grad_vec(
                |x| (x.narrow(0, 1, 2) * x.tape().constant([2.0, 3.0])).sum(),
                &[1.0, 2.0, 3.0, 4.0],
            ),
        ),
        (
            "cat_values",
            Functions::cat(
                &[
                    Tensor::new(vec![1.0, 2.0], &[1, 2]),
                    Tensor::new(vec![3.0], &[1, 1]),
                ],
                1,
            )
            .to_vec(),
        ),
        (
            "stack_values",
            Functions::stack(&[Tensor::from([1.0, 2.0]), Tensor::from([3.0, 4.0])], 1).to_vec(),
        ),
        ("permute_values", grid().permute(&[2, 0, 1]).to_vec()),
        (
            "index_select_grad_repeats",
            grad_vec(|x| x.index_select(0, &[2, 0, 2]).sum(), &[1.0, 2.0, 3.0]),
        ),
        (
            "bmm_broadcast_values",
            Tensor::new((0..12).map(f64::from).collect(), &[2, 2, 3])
                .bmm(&Tensor::new((0..6).map(f64::from).collect(), &[3, 2]))
                .to_vec(),
        ),
        (
            "gather_values_dim1",
            Tensor::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])
                .gather(1, &Tensor::new(vec![2.0, 0.0, 1.0, 1.0], &[2, 2]))
                .to_vec(),
        ),
        (
            "gather_grad_dim1",
            grad_mat(
                |x| {
                    x.gather(1, &Tensor::new(vec![2.0, 0.0, 1.0, 1.0], &[2, 2]))
                        .sum()
                },
                &[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
            ),
        ),
        (
            "gather_values_dim0",
            Tensor::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])
                .gather(0, &Tensor::new(vec![1.0, 0.0, 1.0], &[1, 3]))
                .to_vec(),
        ),
        ("sum_dims_-1_0", grid().sum_axes(&[-1, 0], false).to_vec()),
        (
            "mean_dims_0_2_keepdim",
            grid().mean_axes(&[0, 2], true).to_vec(),
        ),
    ]);
    let mut wrong = vec![];
    for (name, got) in &ours {
        let want = figure(&cases, name);
        if got.len() != want.len() || got.iter().zip(&want).any(|(g, w)| !same(*g, *w)) {
            wrong.push(format!("{name}: descent {got:?}, PyTorch {want:?}"));
        }
    }
    assert_eq!(
        ours.len(),
        cases.len(),
        "every case of the script is checked"
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
}
