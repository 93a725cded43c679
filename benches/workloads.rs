//! The workloads of the benchmark issue, timed on this machine.
//!
//! `cargo bench --bench workloads` runs each workload in a child process of its own (so
//! that its peak resident memory is its own), prints a table and one JSON line per
//! result. `-- --only NAME` runs one workload here; `-- --rounds N` sets the rounds
//! (median reported, default 3). Data come from splitmix64, written out in
//! `bench/peers.py` too, so every engine gets the same numbers and checksums agree.
//!
//! - W1: h ← relu(aᵢ·h + bᵢ) for 1,000,000 steps (3 op nodes a step), then backward;
//!   leaves made before the clock; ns per op node and bytes of tape per node. With the
//!   environment variable `W1_SPLIT` set, each round also prints (to stderr) recording
//!   and backward apart.
//! - W2: full-batch linear regression, X 1,000,000 × 16 standardised, 50 iterations at
//!   lr 0.1 from zero: (a) the general tape path, (b) the fused `linear_mse` op, and the
//!   floor: a plain Rust loop making one pass over X and y per iteration on every core,
//!   built for the same vectors as descent's kernels (AVX2 where the CPU has it).
//!   The read-bandwidth probe sums X and y once.
//! - W1bare: W1's chain on a bare tape written for it alone: a `Vec` of (op, value)
//!   nodes of three ops, an adjoint `Vec`, the same backward loop (the adjoint of the
//!   node just before carried in a register), and nothing else: no handles checked, no
//!   `RefCell`, no other ops. Not a floor (a tape could be leaner still); a measure of
//!   what recording and reversing a chain costs on this machine, without an engine.
//! - W3: 100 points, 1000 full-batch iterations at lr 1e-4 through the model crate.
//! - W4: the `descent` program end to end on a large file, `fit bench/data/w4.csv
//!   --target y --iters 0` (read, least squares and its full report, no gradient descent)
//!   on a 1,000,000 × 16 CSV (about 340 MB) written here from splitmix64 the first time;
//!   total ms and the child's peak resident memory. `bench/peers.py` times pandas +
//!   statsmodels, polars + NumPy `lstsq` and pandas + scikit-learn on the same file.
//! - W5: the `descent` program end to end, `fit bench/data/w5.csv --target y` with
//!   default options (read, least squares and its report, gradient descent beside it) on
//!   a 5,000 × 300 CSV written here from splitmix64 the first time; total ms of the
//!   process. `bench/peers.py` times statsmodels on the same file (read, fit, summary).
//! - W6: the 27 NIST StRD nonlinear problems from both start points, each fitted by
//!   Levenberg-Marquardt with its standard errors (what `fit --model` computes, without
//!   reading the file); the slowest fit's ms, with the median in the checksum.

#[path = "../tests/nist/mod.rs"]
mod nist;

use descent::model::*;
use descent::tape::prelude::*;
use std::process::Command;
use std::time::Instant;

/// splitmix64 (Steele, Lea, Flood 2014): the bench's only source of numbers.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// U[0, 1) with 53 random bits.
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normals by Box–Muller, both of each pair.
    fn normals(&mut self, n: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            let (u1, u2) = (1.0 - self.uniform(), self.uniform());
            let r = (-2.0 * u1.ln()).sqrt();
            let t = 2.0 * std::f64::consts::PI * u2;
            out.push(r * t.cos());
            out.push(r * t.sin());
        }
        out.truncate(n);
        out
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident set of this process, in MB (VmHWM).
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn w1(tape: &mut Tape) -> (f64, String) {
    let s = 1_000_000;
    let mut rng = SplitMix(1);
    let a: Vec<f64> = (0..s).map(|_| 0.99 + 0.02 * rng.uniform()).collect();
    let b: Vec<f64> = (0..s).map(|_| rng.uniform()).collect();
    tape.clear();
    let av: Vec<Var> = a.iter().map(|&x| tape.param(x)).collect();
    let bv: Vec<Var> = b.iter().map(|&x| tape.param(x)).collect();
    let x0 = tape.param(0.5);
    let before = tape.len();
    let t = Instant::now();
    let mut h = x0;
    for i in 0..s {
        h = (av[i] * h + bv[i]).relu();
    }
    let recorded = t.elapsed();
    let g = h.backward();
    let nodes = (tape.len() - before) as f64;
    let ns = t.elapsed().as_nanos() as f64 / nodes;
    if std::env::var_os("W1_SPLIT").is_some() {
        let fwd = recorded.as_nanos() as f64 / nodes;
        eprintln!(
            "W1 record {fwd:.1} ns/node, backward {:.1} ns/node",
            ns - fwd
        );
    }
    let sa: f64 = av.iter().map(|v| g.get(*v).item()).sum();
    let sb: f64 = bv.iter().map(|v| g.get(*v).item()).sum();
    let sum = format!("L={} Σ∂a={sa} Σ∂b={sb} ∂x0={}", h.item(), g.get(x0).item());
    (ns, sum)
}

/// W1bare's ops: the three of the chain.
#[derive(Clone, Copy)]
enum BareOp {
    Leaf,
    Mul(u32, u32),
    Add(u32, u32),
    Relu(u32),
}

/// W1bare's tape: nodes only.
struct BareTape(Vec<(BareOp, f64)>);

impl BareTape {
    #[inline(always)]
    fn push(&mut self, op: BareOp, v: f64) -> (u32, f64) {
        self.0.push((op, v));
        (self.0.len() as u32 - 1, v)
    }
}

#[inline(never)]
fn bare_chain(t: &mut BareTape, x0: (u32, f64), a: &[(u32, f64)], b: &[(u32, f64)]) -> u32 {
    let mut h = x0;
    for (a, b) in a.iter().zip(b) {
        let m = t.push(BareOp::Mul(a.0, h.0), a.1 * h.1);
        let s = t.push(BareOp::Add(m.0, b.0), m.1 + b.1);
        h = t.push(BareOp::Relu(s.0), if s.1 > 0.0 { s.1 } else { 0.0 });
    }
    h.0
}

#[inline(never)]
fn bare_backward(t: &BareTape, out: u32, adj: &mut Vec<f64>) {
    adj.clear();
    adj.resize(out as usize + 1, 0.0);
    adj[out as usize] = 1.0;
    let mut carry = 0.0;
    for i in (0..=out as usize).rev() {
        let g = adj[i] + carry;
        adj[i] = g;
        carry = 0.0;
        let mut put = |j: u32, d: f64| {
            if j as usize + 1 == i {
                carry += d
            } else {
                adj[j as usize] += d
            }
        };
        let v = |j: u32| t.0[j as usize].1;
        match t.0[i].0 {
            BareOp::Leaf => {}
            BareOp::Mul(a, b) => {
                put(a, g * v(b));
                put(b, g * v(a));
            }
            BareOp::Add(a, b) => {
                put(a, g);
                put(b, g);
            }
            BareOp::Relu(a) => put(a, if v(a) > 0.0 { g } else { 0.0 }),
        }
    }
}

fn w1_bare(tape: &mut BareTape, adj: &mut Vec<f64>) -> (f64, String) {
    let s = 1_000_000;
    let mut rng = SplitMix(1);
    let a: Vec<f64> = (0..s).map(|_| 0.99 + 0.02 * rng.uniform()).collect();
    let b: Vec<f64> = (0..s).map(|_| rng.uniform()).collect();
    tape.0.clear();
    let av: Vec<(u32, f64)> = a.iter().map(|&x| tape.push(BareOp::Leaf, x)).collect();
    let bv: Vec<(u32, f64)> = b.iter().map(|&x| tape.push(BareOp::Leaf, x)).collect();
    let x0 = tape.push(BareOp::Leaf, 0.5);
    let before = tape.0.len();
    let t = Instant::now();
    let h = bare_chain(tape, x0, &av, &bv);
    bare_backward(tape, h, adj);
    let ns = t.elapsed().as_nanos() as f64 / (tape.0.len() - before) as f64;
    let sa: f64 = av.iter().map(|v| adj[v.0 as usize]).sum();
    let sb: f64 = bv.iter().map(|v| adj[v.0 as usize]).sum();
    let l = tape.0[h as usize].1;
    let sum = format!("L={l} Σ∂a={sa} Σ∂b={sb} ∂x0={}", adj[x0.0 as usize]);
    (ns, sum)
}

const N: usize = 1_000_000;
const D: usize = 16;

/// X (standardised columns, row-major) and y = X·w* + 0.5 + 0.1·N(0, 1), w*ⱼ = j/8.
fn w2_data() -> (Tensor, Tensor) {
    let mut rng = SplitMix(5);
    let mut x = rng.normals(N * D);
    for j in 0..D {
        let mean = (0..N).map(|i| x[i * D + j]).sum::<f64>() / N as f64;
        let var = (0..N).map(|i| (x[i * D + j] - mean).powi(2)).sum::<f64>() / N as f64;
        let sd = var.sqrt();
        for i in 0..N {
            x[i * D + j] = (x[i * D + j] - mean) / sd;
        }
    }
    let noise = rng.normals(N);
    let y: Vec<f64> = (0..N)
        .map(|i| {
            let xi = &x[i * D..(i + 1) * D];
            let f: f64 = xi
                .iter()
                .enumerate()
                .map(|(j, v)| v * (j + 1) as f64 / 8.0)
                .sum();
            f + 0.5 + 0.1 * noise[i]
        })
        .collect();
    (Tensor::new(x, &[N, D]), Tensor::new(y, &[N]))
}

/// 50 iterations of gradient descent at lr 0.1; `step` gives (loss, ∂w, ∂b).
fn descend(mut step: impl FnMut(&Tensor, &Tensor) -> (f64, Tensor, Tensor)) -> (f64, String) {
    let (mut w, mut b) = (Tensor::zeros(&[D]), Tensor::scalar(0.0));
    let mut loss = 0.0;
    let t = Instant::now();
    for _ in 0..50 {
        let (l, gw, gb) = step(&w, &b);
        loss = l;
        w = w.zip_with(&gw, "step", |w, g| w - 0.1 * g);
        b = b.zip_with(&gb, "step", |b, g| b - 0.1 * g);
    }
    let ms = t.elapsed().as_secs_f64() * 1e3 / 50.0;
    (
        ms,
        format!("loss={loss} Σw={} b={}", w.sum().item(), b.item()),
    )
}

fn w2a(x: &Tensor, y: &Tensor) -> (f64, String) {
    let mut tape = Tape::new();
    descend(|w, b| {
        let r = {
            let (wv, bv) = (tape.param(w), tape.param(b));
            let l = (tape.constant(x).matmul(&wv) + bv - tape.constant(y))
                .square()
                .mean();
            let g = l.backward();
            (l.item(), g.get(wv), g.get(bv))
        };
        tape.clear();
        r
    })
}

fn w2b(x: &Tensor, y: &Tensor) -> (f64, String) {
    let mut tape = Tape::new();
    descend(|w, b| {
        let r = {
            let (wv, bv) = (tape.param(w), tape.param(b));
            let l = descent::tape::linear_mse(tape.constant(x), wv, bv, tape.constant(y));
            let g = l.backward();
            (l.item(), g.get(wv), g.get(bv))
        };
        tape.clear();
        r
    })
}

/// The floor: no tape, one pass over X and y per iteration, rows split across cores.
fn floor(x: &Tensor, y: &Tensor) -> (f64, String) {
    let (xd, yd) = (x.data(), y.data());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads - 1)
        .build()
        .expect("threads for the floor");
    descend(|w, b| {
        let (w, b) = (w.data(), b.item());
        let per = N.div_ceil(threads);
        let share = |t: usize| floor_rows_wide((xd, yd, w, b, t * per..((t + 1) * per).min(N)));
        // The calling thread takes the first share and a worker kept waiting each other
        // share, as descent's kernels do.
        let mut parts: Vec<(f64, [f64; D], f64)> = vec![(0.0, [0.0; D], 0.0); threads];
        let (mine, rest) = parts.split_first_mut().expect("one thread at least");
        pool.in_place_scope(|s| {
            for (t, slot) in rest.iter_mut().enumerate() {
                s.spawn(move |_| *slot = share(t + 1));
            }
            *mine = share(0);
        });
        let k = 2.0 / N as f64;
        let sse: f64 = parts.iter().map(|p| p.0).sum();
        let gw: Vec<f64> = (0..D)
            .map(|j| parts.iter().map(|p| p.1[j]).sum::<f64>() * k)
            .collect();
        let gb = parts.iter().map(|p| p.2).sum::<f64>() * k;
        (sse / N as f64, Tensor::new(gw, &[D]), Tensor::scalar(gb))
    })
}

/// X, y, w, b and a range of rows.
type FloorRows<'a> = (&'a [f64], &'a [f64], &'a [f64], f64, std::ops::Range<usize>);

/// The floor's pass over some rows: (Σr², Σr·x, Σr).
#[inline(always)]
fn floor_rows((xd, yd, w, b, rows): FloorRows<'_>) -> (f64, [f64; D], f64) {
    let (mut sse, mut gw, mut gb) = (0.0, [0.0; D], 0.0);
    for i in rows {
        let xi = &xd[i * D..(i + 1) * D];
        // Four running sums: a dot product that waits on one add after another would
        // make this bound by latency, not by memory.
        let mut acc = [0.0; 4];
        for q in 0..D / 4 {
            for l in 0..4 {
                acc[l] += xi[4 * q + l] * w[4 * q + l];
            }
        }
        let r = (acc[0] + acc[1]) + (acc[2] + acc[3]) + b - yd[i];
        sse += r * r;
        gb += r;
        for j in 0..D {
            gw[j] += r * xi[j];
        }
    }
    (sse, gw, gb)
}

/// [`floor_rows`] compiled for AVX2 where the CPU has it, as descent's kernels are: a
/// floor built for narrower vectors than the code it bounds would not be a floor.
fn floor_rows_wide(args: FloorRows<'_>) -> (f64, [f64; D], f64) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn avx2(args: FloorRows<'_>) -> (f64, [f64; D], f64) {
            floor_rows(args)
        }
        // SAFETY: `avx2` needs only that the CPU has AVX2, checked on the line above.
        return unsafe { avx2(args) };
    }
    floor_rows(args)
}

/// Read bandwidth: one pass summing X and y on every core; (ms, GB/s).
fn bandwidth(x: &Tensor, y: &Tensor) -> (f64, String) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = Instant::now();
    let total: f64 = [x.data(), y.data()]
        .iter()
        .map(|d| {
            let per = d.len().div_ceil(threads);
            std::thread::scope(|s| {
                let hs: Vec<_> = d
                    .chunks(per)
                    .map(|c| {
                        s.spawn(move || {
                            let mut acc = [0.0; 8];
                            let it = c.chunks_exact(8);
                            let tail: f64 = it.remainder().iter().sum();
                            for ch in it {
                                for l in 0..8 {
                                    acc[l] += ch[l];
                                }
                            }
                            acc.iter().sum::<f64>() + tail
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum::<f64>()
            })
        })
        .sum();
    let secs = t.elapsed().as_secs_f64();
    let bytes = ((N * D + N) * 8) as f64;
    (
        secs * 1e3,
        format!("{:.2} GB/s, Σ={total}", bytes / secs / 1e9),
    )
}

fn w3() -> (f64, String) {
    let mut rng = SplitMix(3);
    let xs: Vec<f64> = (0..100).map(|_| 20.0 + 60.0 * rng.uniform()).collect();
    let noise = rng.normals(100);
    let ys: Vec<f64> = xs
        .iter()
        .zip(&noise)
        .map(|(x, e)| 1.3 * x + 5.0 * e)
        .collect();
    let rows: Vec<Vec<f64>> = xs.iter().map(|&x| vec![x]).collect();
    let data = Dataset::from_rows(&rows, &ys);
    let t = Instant::now();
    let mut lin = Linear::new(1, 1, Init::Zeros);
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(1000),
        ..Default::default()
    };
    train(&mut lin, &mut Sgd::new(1e-4), &data, None, &cfg, |_| {}).expect("stable");
    (
        t.elapsed().as_secs_f64() * 1e3,
        format!("w={} b={}", lin.weights()[0], lin.bias()),
    )
}

/// The W4 file: 1,000,000 rows of 16 standard-normal features and y = X·β + 0.5 +
/// N(0, 1), written once (shortest round-trip decimals) and reused.
fn w4_file() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/data");
    let path = dir.join("w4.csv");
    if path.exists() {
        return path;
    }
    let (n, d) = (1_000_000, 16);
    let mut rng = SplitMix(44);
    let beta: Vec<f64> = (0..d).map(|j| (j as f64 - 7.5) / 5.0).collect();
    std::fs::create_dir_all(&dir).expect("bench/data");
    let tmp = dir.join("w4.csv.tmp");
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(&tmp).expect("creates the W4 file"));
    use std::io::Write;
    let header = (0..d)
        .map(|j| format!("x{j}"))
        .collect::<Vec<_>>()
        .join(",");
    writeln!(out, "{header},y").expect("writes the W4 file");
    for _ in 0..n {
        let row = rng.normals(d);
        let noise = rng.normals(1)[0];
        let y = 0.5 + row.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>() + noise;
        let mut line = String::new();
        for v in &row {
            line += &format!("{v:?},");
        }
        writeln!(out, "{line}{y:?}").expect("writes the W4 file");
    }
    out.flush().expect("writes the W4 file");
    drop(out);
    std::fs::rename(&tmp, &path).expect("renames the W4 file");
    path
}

/// The largest peak resident memory of the child processes waited for, in MB.
fn children_peak_rss_mb() -> f64 {
    // SAFETY: getrusage only writes the struct it is given, which is zeroed and ours.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid `who` and a valid pointer to a rusage struct.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } == 0;
    if ok {
        usage.ru_maxrss as f64 / 1024.0
    } else {
        f64::NAN
    }
}

/// `descent ARGS` as a child: total ms, the checksum line its output starts with `key`.
fn run_descent(args: &[&str], key: &str) -> (f64, String) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_descent"))
        .args(args)
        .output()
        .expect("runs descent");
    let ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or("no checksum line")
        .to_string();
    (ms, line)
}

fn w4() -> (f64, String) {
    let path = w4_file();
    run_descent(
        &[
            "fit",
            &path.to_string_lossy(),
            "--target",
            "y",
            "--iters",
            "0",
        ],
        "R² ",
    )
}

/// The W5 file: 5,000 rows of 300 standard-normal features and y = X·β + 1 + N(0, 1),
/// written once (shortest round-trip decimals) and reused.
fn w5_file() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/data");
    let path = dir.join("w5.csv");
    if path.exists() {
        return path;
    }
    let (n, d) = (5_000, 300);
    let mut rng = SplitMix(55);
    let x = rng.normals(n * d);
    let noise = rng.normals(n);
    let beta: Vec<f64> = (0..d).map(|j| ((j % 7) as f64 - 3.0) / 4.0).collect();
    let mut text = (0..d)
        .map(|j| format!("x{j}"))
        .collect::<Vec<_>>()
        .join(",")
        + ",y\n";
    for i in 0..n {
        let row = &x[i * d..(i + 1) * d];
        let y = 1.0 + row.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>() + noise[i];
        for v in row {
            text += &format!("{v:?},");
        }
        text += &format!("{y:?}\n");
    }
    std::fs::create_dir_all(&dir).expect("bench/data");
    let tmp = dir.join("w5.csv.tmp");
    std::fs::write(&tmp, text).expect("writes the W5 file");
    std::fs::rename(&tmp, &path).expect("renames the W5 file");
    path
}

fn w5() -> (f64, String) {
    let path = w5_file();
    run_descent(&["fit", &path.to_string_lossy(), "--target", "y"], "R² ")
}

fn w6() -> (f64, String) {
    let mut times = Vec::new();
    let mut slowest = String::new();
    for (name, text) in nist::NONLINEAR {
        let s = nist::load(name);
        let cols: Vec<&str> = s.columns.iter().map(String::as_str).collect();
        let f0 = Formula::parse(text, &cols).expect("a NIST formula");
        let rows: Vec<Vec<f64>> = s
            .rows
            .iter()
            .map(|r| {
                f0.columns()
                    .iter()
                    .map(|c| r[s.columns.iter().position(|k| k == c).expect("column")])
                    .collect()
            })
            .collect();
        let y: Vec<f64> = s
            .rows
            .iter()
            .map(|r| f0.target_transform().map_or(r[0], |t| t.value(r[0])))
            .collect();
        let d = Dataset::from_rows(&rows, &y);
        for start in &s.starts {
            let mut f = f0.clone();
            for (k, v) in start.iter().enumerate() {
                f.set(&format!("b{}", k + 1), *v).expect("b_k");
            }
            let t = Instant::now();
            let r = f.fit_least_squares(&d, &LmOptions::default(), false);
            let est = f.values();
            let resid = f.residuals_precise(&d);
            let names = f.parameter_names();
            let inf = inference(&f.jacobian(&d.x), &resid, &est, &names);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            assert!(r.stop.converged() && inf.is_ok(), "W6: {name}");
            if times.iter().all(|t| *t < ms) {
                slowest = format!("{name} ({} evaluations)", r.evaluations);
            }
            times.push(ms);
        }
    }
    let max = times.iter().copied().fold(0.0, f64::max);
    (
        max,
        format!("slowest {slowest}; median {:.3} ms", median(times)),
    )
}

/// Runs one workload `rounds` times here and prints its JSON line.
fn run_one(name: &str, rounds: usize) {
    // W1's tape, made before any clock starts; the other workloads make their own.
    let mut tape = if name == "W1" {
        Tape::with_capacity(5_000_001)
    } else {
        Tape::new()
    };
    let data = name.starts_with("W2") || name == "floor" || name == "bandwidth";
    let (x, y) = if data {
        w2_data()
    } else {
        (Tensor::scalar(0.0), Tensor::scalar(0.0))
    };
    // W1bare's tape and adjoints, their pages mapped before any clock, as W1's are.
    let (mut bare, mut adj) = if name == "W1bare" {
        let mut nodes = vec![(BareOp::Leaf, 0.0); 5_000_001];
        nodes.clear();
        (BareTape(nodes), vec![0.0; 5_000_001])
    } else {
        (BareTape(Vec::new()), Vec::new())
    };
    let mut times = Vec::new();
    let mut sum = String::new();
    for _ in 0..rounds {
        let (v, s) = match name {
            "W1" => w1(&mut tape),
            "W1bare" => w1_bare(&mut bare, &mut adj),
            "W2a" => w2a(&x, &y),
            "W2b" => w2b(&x, &y),
            "floor" => floor(&x, &y),
            "bandwidth" => bandwidth(&x, &y),
            "W3" => w3(),
            "W4" => w4(),
            "W5" => w5(),
            "W6" => w6(),
            other => panic!("no workload {other}"),
        };
        times.push(v);
        sum = s;
    }
    let unit = match name {
        "W1" | "W1bare" => "ns_per_node",
        "W3" | "W4" | "W5" => "total_ms",
        "W6" => "max_ms_per_fit",
        "bandwidth" => "ms_per_pass",
        _ => "ms_per_iteration",
    };
    let extra = if name == "W1" {
        // A node is its op and an 8-byte value (NaN-boxed); backward adds an 8-byte adjoint.
        let node = std::mem::size_of::<descent::tape::Op>() + 8;
        format!(",\"bytes_per_node\":{}", node + 8)
    } else {
        String::new()
    };
    // The program's workloads run as a child: its peak, not this process's.
    let peak = if matches!(name, "W4" | "W5") {
        children_peak_rss_mb()
    } else {
        peak_rss_mb()
    };
    println!(
        "{{\"engine\":\"descent\",\"workload\":\"{name}\",\"{unit}\":{},\"rounds\":{rounds},\"peak_rss_mb\":{peak:.1}{extra},\"checksum\":{:?}}}",
        median(times),
        sum
    );
}

fn field(line: &str, key: &str) -> Option<f64> {
    let at = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    line[at..].split([',', '}']).next()?.trim().parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there are no tests here.
    }
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    if let Some(i) = args.iter().position(|a| a == "--only") {
        run_one(&args[i + 1], rounds);
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut lines = Vec::new();
    for name in [
        "W1",
        "W1bare",
        "W2a",
        "W2b",
        "floor",
        "bandwidth",
        "W3",
        "W4",
        "W5",
        "W6",
    ] {
        let out = Command::new(&exe)
            .args(["--only", name, "--rounds", &rounds.to_string()])
            .output()
            .expect("runs itself");
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(out.status.success() && !line.is_empty(), "{name} failed");
        lines.push((name, line));
    }
    let get = |n: &str, k: &str| {
        lines
            .iter()
            .find(|(m, _)| *m == n)
            .and_then(|(_, l)| field(l, k))
            .unwrap_or(f64::NAN)
    };
    let fl = get("floor", "ms_per_iteration");
    let xy_mb = ((N * D + N) * 8) as f64 / (1 << 20) as f64;
    println!(
        "{:<52} {:>12} {:>10}",
        format!("workload (median of {rounds})"),
        "descent",
        "vs floor"
    );
    println!(
        "{:<52} {:>12.1}",
        "W1 scalar chain, ns per op node",
        get("W1", "ns_per_node")
    );
    println!(
        "{:<52} {:>12.1}",
        "W1 on a bare tape of three ops, ns per op node",
        get("W1bare", "ns_per_node")
    );
    println!(
        "{:<52} {:>12.0}",
        "W1 tape bytes per node (node + adjoint)",
        get("W1", "bytes_per_node")
    );
    for (n, what) in [
        ("W2a", "general tape path"),
        ("W2b", "fused linear_mse"),
        ("floor", "floor, plain loop"),
    ] {
        let ms = get(n, "ms_per_iteration");
        println!(
            "{:<52} {ms:>12.2} {:>9.2}×",
            format!("W2 {what}, ms per iteration"),
            ms / fl
        );
        println!(
            "{:<52} {:>12.0} {:>9.2}×",
            format!("W2 {what}, peak MB (X and y: {xy_mb:.0})"),
            get(n, "peak_rss_mb"),
            get(n, "peak_rss_mb") / xy_mb
        );
    }
    println!(
        "{:<52} {:>12.2}",
        "bandwidth probe, ms per pass over X and y",
        get("bandwidth", "ms_per_pass")
    );
    println!(
        "{:<52} {:>12.3}",
        "W3 100 points × 1000 iterations, total ms",
        get("W3", "total_ms")
    );
    println!(
        "{:<52} {:>12.1}",
        "W4 descent fit --iters 0, 1M × 16 CSV, total ms",
        get("W4", "total_ms")
    );
    println!(
        "{:<52} {:>12.0} {:>9.2}×",
        "W4 peak MB (f64 data 130 MB)",
        get("W4", "peak_rss_mb"),
        get("W4", "peak_rss_mb") / ((1_000_000 * 17 * 8) as f64 / (1 << 20) as f64)
    );
    println!(
        "{:<52} {:>12.1}",
        "W5 descent fit, 5,000 × 300 CSV end to end, total ms",
        get("W5", "total_ms")
    );
    println!(
        "{:<52} {:>12.2}",
        "W6 NIST nonlinear fits, slowest of 54, ms",
        get("W6", "max_ms_per_fit")
    );
    for (_, l) in &lines {
        println!("{l}");
    }
}
