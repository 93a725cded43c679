//! Property tests: reverse mode against central finite differences (independent of every
//! rule in the engine) and against forward mode (dual numbers, whose derivative rules are
//! written separately from the backward rules).
//!
//! Case count per `cargo test`: 32 op tests × 64 cases + 640 random compositions = 2,688, and
//! 256 compositions run with values released and kept, and 256 recorded at other values
//! and given these by `set_values`.

use proptest::prelude::*;
use tape::{gradcheck, jvp, Algebra, Dual, Functions, Tape, Tensor, Tolerance, Var};

/// Shapes that all broadcast against [3, 3], so any two can meet in a binary op.
const SHAPES: [&[usize]; 6] = [&[3, 3], &[3], &[1, 3], &[3, 1], &[], &[2, 3, 3]];

fn tensor(shape: &'static [usize], lo: f64, hi: f64) -> impl Strategy<Value = Tensor> {
    let n: usize = shape.iter().product();
    prop::collection::vec(lo..hi, n).prop_map(move |v| Tensor::new(v, shape))
}

/// Values whose magnitude lies in [lo, hi], either sign: keeps abs, relu and division
/// away from their kinks and poles, where finite differences mean nothing.
fn signed_tensor(shape: &'static [usize], lo: f64, hi: f64) -> impl Strategy<Value = Tensor> {
    let n: usize = shape.iter().product();
    prop::collection::vec((lo..hi, any::<bool>()), n).prop_map(move |v| {
        Tensor::new(
            v.into_iter().map(|(x, s)| if s { x } else { -x }).collect(),
            shape,
        )
    })
}

fn shape() -> impl Strategy<Value = &'static [usize]> {
    prop::sample::select(SHAPES.to_vec())
}

/// Reverse mode vs finite differences for every element (gradcheck), and reverse vs
/// forward mode along a random direction: ⟨seed, J·v⟩ two ways.
fn check_op(
    f: impl for<'t> Fn(&[Var<'t>]) -> Var<'t> + Copy,
    g: impl Fn(&[Dual]) -> Dual,
    xs: &[Tensor],
) {
    let report = gradcheck(f, xs, Tolerance::default());
    assert!(report.passed(), "gradcheck failed: {report:?} at {xs:?}");

    let tape = Tape::new();
    let vars: Vec<Var> = xs.iter().map(|x| tape.param(x.clone())).collect();
    let out = f(&vars);
    let seed = Tensor::randn(&out.shape(), 11);
    let grads = out.backward_with(&seed);
    let dirs: Vec<Tensor> = xs
        .iter()
        .enumerate()
        .map(|(i, x)| Tensor::randn(x.shape(), 100 + i as u64))
        .collect();
    let reverse: f64 = vars
        .iter()
        .zip(&dirs)
        .map(|(v, d)| grads.get(*v).mul(d).sum().item())
        .sum();
    let (_, tangent) = jvp(g, xs, &dirs);
    let forward = tangent.mul(&seed).sum().item();
    assert!(
        (reverse - forward).abs() <= 1e-9 * (1.0 + forward.abs()),
        "reverse {reverse} vs forward {forward} at {xs:?}"
    );
}

/// Each op written once, generic over the algebra, checked in every mode.
macro_rules! op_test {
    ($name:ident, $strategy:expr, |$x:ident| $body:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn $name(xs in $strategy) {
                fn f<T: Algebra>($x: &[T]) -> T { $body }
                check_op(|v| f(v), |v| f(v), &xs);
            }
        }
    };
}

fn one(lo: f64, hi: f64) -> impl Strategy<Value = Vec<Tensor>> {
    shape()
        .prop_flat_map(move |s| tensor(s, lo, hi))
        .prop_map(|t| vec![t])
}
fn one_signed(lo: f64, hi: f64) -> impl Strategy<Value = Vec<Tensor>> {
    shape()
        .prop_flat_map(move |s| signed_tensor(s, lo, hi))
        .prop_map(|t| vec![t])
}
fn two(lo: f64, hi: f64) -> impl Strategy<Value = Vec<Tensor>> {
    (shape(), shape())
        .prop_flat_map(move |(a, b)| (tensor(a, lo, hi), tensor(b, lo, hi)))
        .prop_map(|(a, b)| vec![a, b])
}
fn two_denominator() -> impl Strategy<Value = Vec<Tensor>> {
    (shape(), shape())
        .prop_flat_map(|(a, b)| (tensor(a, -2.0, 2.0), signed_tensor(b, 0.3, 2.0)))
        .prop_map(|(a, b)| vec![a, b])
}
/// Matrix-matrix, matrix-vector, vector-matrix and vector-vector operands with matching
/// inner dimensions.
fn matmul_operands() -> impl Strategy<Value = Vec<Tensor>> {
    (1usize..4, 1usize..4, 1usize..4, 0usize..4).prop_flat_map(|(m, k, n, kind)| {
        let (sa, sb): (Vec<usize>, Vec<usize>) = match kind {
            0 => (vec![m, k], vec![k, n]),
            1 => (vec![m, k], vec![k]),
            2 => (vec![k], vec![k, n]),
            _ => (vec![k], vec![k]),
        };
        let (na, nb): (usize, usize) = (sa.iter().product(), sb.iter().product());
        (
            prop::collection::vec(-2.0..2.0, na),
            prop::collection::vec(-2.0..2.0, nb),
        )
            .prop_map(move |(a, b)| vec![Tensor::new(a, &sa), Tensor::new(b, &sb)])
    })
}

op_test!(add, two(-2.0, 2.0), |x| x[0].add(&x[1]));
op_test!(sub, two(-2.0, 2.0), |x| x[0].sub(&x[1]));
op_test!(mul, two(-2.0, 2.0), |x| x[0].mul(&x[1]));
op_test!(div, two_denominator(), |x| x[0].div(&x[1]));
op_test!(neg, one(-2.0, 2.0), |x| x[0].neg());
op_test!(powf, one(0.3, 2.0), |x| x[0].powf(1.7));
op_test!(powi, one(-2.0, 2.0), |x| x[0].powi(3));
op_test!(square, one(-2.0, 2.0), |x| x[0].square());
op_test!(exp, one(-2.0, 2.0), |x| x[0].exp());
op_test!(ln, one(0.2, 3.0), |x| x[0].ln());
op_test!(sqrt, one(0.2, 3.0), |x| x[0].sqrt());
op_test!(abs, one_signed(0.1, 2.0), |x| x[0].abs());
op_test!(tanh, one(-2.0, 2.0), |x| x[0].tanh());
op_test!(sigmoid, one(-4.0, 4.0), |x| x[0].sigmoid());
op_test!(relu, one_signed(0.1, 2.0), |x| x[0].relu());
op_test!(sin, one(-3.0, 3.0), |x| x[0].sin());
op_test!(cos, one(-3.0, 3.0), |x| x[0].cos());
op_test!(atan, one(-3.0, 3.0), |x| x[0].atan());
op_test!(log1p, one(-0.6, 3.0), |x| x[0].log1p());
op_test!(expm1, one(-2.0, 2.0), |x| x[0].expm1());
op_test!(softplus, one(-4.0, 4.0), |x| x[0].softplus());
op_test!(maximum, two(-2.0, 2.0), |x| x[0].maximum(&x[1]));
op_test!(minimum, two(-2.0, 2.0), |x| x[0].minimum(&x[1]));
op_test!(
    softmax_family,
    prop::collection::vec(-3.0..3.0f64, 12).prop_map(|v| vec![Tensor::new(v, &[3, 4])]),
    |x| x[0]
        .logsumexp(1, false)
        .sum()
        .add(&x[0].softmax(0).square().sum())
        .add(&x[0].log_softmax(1).mean())
);
op_test!(
    var_std_norm,
    prop::collection::vec(-3.0..3.0f64, 12).prop_map(|v| vec![Tensor::new(v, &[3, 4])]),
    |x| x[0]
        .var(1.0)
        .add(&x[0].std(0.0))
        .add(&x[0].var_axis(1, 1.0, false).sum())
        .add(&x[0].std_axis(0, 0.0, true).mean())
        .add(&x[0].norm())
);
op_test!(clamp, one_signed(0.1, 2.0), |x| x[0].clamp(-1.0, 1.0));
op_test!(
    narrow_cat_stack_permute_index,
    prop::collection::vec(-2.0..2.0f64, 24).prop_map(|v| vec![Tensor::new(v, &[2, 3, 4])]),
    |x| {
        let halves = [x[0].narrow(1, 0, 2), x[0].narrow(1, 1, 2).tanh()];
        Functions::cat(&halves, 1)
            .square()
            .sum()
            .add(
                &Functions::stack(&[x[0].clone(), x[0].sin()], 0)
                    .permute(&[3, 0, 2, 1])
                    .mul(&x[0].permute(&[2, 0, 1]).reshape(&[4, 2, 3, 1]))
                    .sum(),
            )
            .add(&x[0].index_select(2, &[3, 0, 3]).exp().mean())
    }
);
op_test!(
    gather,
    prop::collection::vec(-2.0..2.0f64, 24).prop_map(|v| vec![Tensor::new(v, &[2, 3, 4])]),
    |x| {
        let index = Tensor::new(vec![2.0, 0.0, 1.0, 1.0, 0.0, 2.0, 2.0, 2.0], &[2, 1, 4]);
        x[0].gather(1, &index).exp().sum()
    }
);
op_test!(
    bmm,
    (
        prop::collection::vec(-2.0..2.0f64, 24),
        prop::collection::vec(-2.0..2.0f64, 8)
    )
        .prop_map(|(a, b)| vec![Tensor::new(a, &[2, 3, 4]), Tensor::new(b, &[4, 2])]),
    |x| x[0].bmm(&x[1].reshape(&[1, 4, 2])).square().sum()
);
op_test!(
    max_min_axes_where,
    prop::collection::vec(-3.0..3.0f64, 24).prop_map(|v| vec![Tensor::new(v, &[2, 3, 4])]),
    |x| x[0]
        .max_along(1, false)
        .sum()
        .add(&x[0].min_along(2, true).square().sum())
        .add(&x[0].sum_axes(&[-1, 0], false).square().mean())
        .add(&x[0].mean_axes(&[0, 2], true).sum())
        .add(
            &x[0]
                .map_const(|v| f64::from(u8::from(v > 0.0)))
                .where_(&x[0].exp(), &x[0].square())
                .sum()
        )
);
op_test!(pow, two(-1.5, 1.5), |x| x[0]
    .square()
    .add(&x[0].map_const(|_| 0.5))
    .pow(&x[1]));
op_test!(matmul, matmul_operands(), |x| x[0].matmul(&x[1]));
op_test!(sum_mean, one(-2.0, 2.0), |x| x[0]
    .sum()
    .add(&x[0].mean().scale(3.0)));
op_test!(
    axis_reductions,
    prop::collection::vec(-2.0..2.0f64, 24).prop_map(|v| vec![Tensor::new(v, &[2, 3, 4])]),
    |x| x[0]
        .sum_axis(1, false)
        .mul(&x[0].mean_axis(1, false))
        .sum()
        .add(
            &x[0]
                .mul(&x[0].sum_axis(2, true).sum_axis(0, true).square())
                .mean_axis(2, true)
        )
);
op_test!(
    reshape_transpose,
    prop::collection::vec(-2.0..2.0f64, 24).prop_map(|v| vec![Tensor::new(v, &[2, 3, 4])]),
    |x| x[0]
        .reshape(&[4, 6])
        .transpose(0, 1)
        .matmul(&x[0].transpose(0, 2).reshape(&[4, 6]))
);
op_test!(
    broadcast_to,
    (shape(), shape())
        .prop_flat_map(|(a, _)| tensor(a, -2.0, 2.0))
        .prop_map(|t| vec![t]),
    |x| x[0]
        .broadcast_to(&[2, 3, 3])
        .mul(&x[0].broadcast_to(&[2, 3, 3]).exp())
);

/// A random expression over three leaves. Ops that could leave their domain or overflow
/// within six levels take a squashed or shifted argument: ln(x²+½), √(x²+½),
/// (σ(x)+½)^p, exp(tanh x), a / (b²+½). The raw op is still the one under test.
#[derive(Clone, Debug)]
enum Expr {
    Leaf(usize),
    Unary(u8, Box<Expr>),
    Binary(u8, Box<Expr>, Box<Expr>),
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = (0usize..3).prop_map(Expr::Leaf);
    leaf.prop_recursive(6, 48, 2, |inner| {
        prop_oneof![
            (0u8..21, inner.clone()).prop_map(|(op, e)| Expr::Unary(op, Box::new(e))),
            (0u8..5, inner.clone(), inner).prop_map(|(op, a, b)| Expr::Binary(
                op,
                Box::new(a),
                Box::new(b)
            )),
        ]
    })
}

fn eval<T: Algebra>(e: &Expr, leaves: &[T]) -> T {
    match e {
        Expr::Leaf(i) => leaves[*i].clone(),
        Expr::Unary(op, a) => {
            let a = eval(a, leaves);
            let pos = || a.square().add(&a.map_const(|_| 0.5));
            match op {
                0 => a.neg(),
                1 => a.tanh().exp(),
                2 => pos().ln(),
                3 => pos().sqrt(),
                4 => a.square(),
                5 => a.tanh(),
                6 => a.sigmoid(),
                7 => a.sigmoid().add(&a.map_const(|_| 0.5)).powf(1.5),
                8 => a.tanh().powi(3),
                9 => a.sum(),
                10 => a.mean(),
                11 if a.shape().len() >= 2 => {
                    let r = a.shape().len();
                    a.transpose(r - 2, r - 1)
                }
                12 if !a.shape().is_empty() => a.sum_axis(0, true),
                13 => a.broadcast_to(&tape::broadcast_shape("test", &a.shape(), &[3, 3])),
                14 => a.sin(),
                15 => a.cos(),
                16 => a.atan(),
                17 => pos().pow(&a.tanh()),
                18 => a.tanh().log1p(),
                19 => a.tanh().expm1(),
                20 => a.softplus(),
                _ => a.scale(0.5),
            }
        }
        Expr::Binary(op, a, b) => {
            let (a, b) = (eval(a, leaves), eval(b, leaves));
            let (sa, sb) = (a.shape(), b.shape());
            let matmul_ok = (1..=2).contains(&sa.len()) && (1..=2).contains(&sb.len()) && {
                let k_a = sa[sa.len() - 1];
                let k_b = sb[0];
                k_a == k_b
            };
            match op {
                0 => a.add(&b),
                1 => a.sub(&b),
                2 => a.mul(&b),
                3 => a.div(&b.square().add(&b.map_const(|_| 0.5))),
                _ if matmul_ok => a.matmul(&b),
                _ => a.mul(&b),
            }
        }
    }
}

/// A value never far from 1 in size that the finite differences can trust.
fn leaves() -> impl Strategy<Value = Vec<Tensor>> {
    (shape(), shape(), shape()).prop_flat_map(leaves_of)
}

/// Three leaves of the given shapes, values in [-1, 1).
fn leaves_of(
    (a, b, c): (&'static [usize], &'static [usize], &'static [usize]),
) -> impl Strategy<Value = Vec<Tensor>> {
    (
        tensor(a, -1.0, 1.0),
        tensor(b, -1.0, 1.0),
        tensor(c, -1.0, 1.0),
    )
        .prop_map(|(a, b, c)| vec![a, b, c])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(640))]
    #[test]
    fn random_compositions(e in expr(), xs in leaves()) {
        // Broadcasting between the shapes in SHAPES always succeeds, so every case runs.
        check_op(|v| eval(&e, v), |v| eval(&e, v), &xs);
    }
}

/// Everything a run shows, as bits: the output, first-order gradients by the fast pass,
/// the same gradients recorded (`create_graph`), and the gradient of their squared norm
/// (second order through the recorded rules).
///
/// With `recorded_at`, the expression is recorded at those leaf values and then given
/// `xs` by `set_values`.
fn run_bits(
    e: &Expr,
    xs: &[Tensor],
    release_min: usize,
    recorded_at: Option<&[Tensor]>,
) -> Vec<Vec<u64>> {
    let tape = Tape::new();
    tape.set_release_min(release_min);
    let vars: Vec<Var> = recorded_at
        .unwrap_or(xs)
        .iter()
        .map(|x| tape.param(x.clone()))
        .collect();
    let out = eval(e, &vars).sum();
    if recorded_at.is_some() {
        tape.set_values(vars.iter().copied().zip(xs));
    }
    let bits = |t: Tensor| t.data().iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
    let mut seen = vec![bits(out.value())];
    let fast = out.backward();
    seen.extend(vars.iter().map(|v| bits(fast.get(*v))));
    drop(fast);
    let recorded = tape.grad(out, &vars, true);
    seen.extend(recorded.iter().map(|g| bits(g.value())));
    let norm = recorded
        .iter()
        .map(|g| g.square().sum())
        .reduce(|a, b| a + b)
        .expect("three leaves");
    let second = norm.backward();
    seen.extend(vars.iter().map(|v| bits(second.get(*v))));
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Releasing consumed values (every one that may go, at `set_release_min(0)`) changes
    /// memory only: values and gradients of every order agree to the bit with a tape
    /// that keeps everything.
    #[test]
    fn releasing_values_changes_no_result(e in expr(), xs in leaves()) {
        prop_assert_eq!(run_bits(&e, &xs, 0, None), run_bits(&e, &xs, usize::MAX, None));
    }

    /// A tape recorded at other values and given these by `set_values` computes what a
    /// tape recorded at these does, to the bit: values, gradients of every order (with
    /// released values too, which are computed from the new inputs when read).
    #[test]
    fn set_values_is_recording_afresh(
        e in expr(),
        (xs, before) in (shape(), shape(), shape())
            .prop_flat_map(|shapes| (leaves_of(shapes), leaves_of(shapes))),
        release_min in prop::sample::select(vec![0, usize::MAX]),
    ) {
        prop_assert_eq!(
            run_bits(&e, &xs, release_min, Some(&before)),
            run_bits(&e, &xs, release_min, None)
        );
    }
}
