//! The numeric kernels that deserve their own file: `op(A)·op(B)` on row-major slices,
//! and the fused linear-MSE pass.
//!
//! Each transpose case gets the loop order that walks both operands contiguously, so the
//! tall-skinny products of regression (`X·w`, `Xᵀ·r`) stream `X` once from memory.
//!
//! Large kernels use every core: rows are cut into chunks of a fixed size (not a size
//! that depends on the number of threads), each chunk's partial result is computed the
//! same way whichever thread runs it, and partials are combined in chunk order. So a
//! result is the same bit for bit on one core or many, and from run to run.

use std::ops::Range;

/// Defines `wide(args)` as `kernel(args)` compiled for AVX2 (four `f64` lanes a vector,
/// where the baseline x86-64 build has two) when the CPU has it, and for the baseline
/// otherwise; `kernel` is `#[inline(always)]`, so its body is compiled into both. Rust
/// never fuses a multiply and an add unless told to, so the two builds do the same
/// operations in the same order and give the same bits (a test checks it): kernels stay
/// plain Rust, and the compiler picks the vectors.
macro_rules! wide {
    ($(#[$doc:meta])* fn $wide:ident$(<const $c:ident>)?($args:ident: $t:ty) -> $r:ty = $kernel:ident) => {
        $(#[$doc])*
        fn $wide$(<const $c: usize>)?($args: $t) -> $r {
            #[cfg(target_arch = "x86_64")]
            if has_avx2() {
                #[target_feature(enable = "avx2")]
                fn avx2$(<const $c: usize>)?($args: $t) -> $r {
                    $kernel$(::<$c>)?($args)
                }
                // SAFETY: `avx2` needs only that the CPU has AVX2, checked just above.
                return unsafe { avx2$(::<$c>)?($args) };
            }
            $kernel$(::<$c>)?($args)
        }
    };
}

/// Whether the CPU has AVX2 and the operating system saves its registers, asked once.
///
/// The question std's `is_x86_feature_detected!` answers, with two `CPUID`s where std's
/// first call makes eight to fill its table of every feature: under a hypervisor each one
/// traps, and the first call sits on the clock of a short run (figures in
/// docs/performance.md).
#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx2() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
    static KNOWN: AtomicU8 = AtomicU8::new(0); // 0: not asked yet, 1: no, 2: yes
    match KNOWN.load(Relaxed) {
        0 => {}
        k => return k == 2,
    }
    #[cold]
    fn ask() -> bool {
        use std::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
        // Leaf 1: AVX (ecx bit 28) and OSXSAVE (bit 27), the OS's use of XSAVE. Every CPU
        // with AVX has leaf 7 (its XSAVE needs leaf 13), so no leaf-0 check is needed.
        let l1 = __cpuid(1);
        if l1.ecx & (1 << 27) == 0 || l1.ecx & (1 << 28) == 0 {
            return false;
        }
        // SAFETY: OSXSAVE, checked just above, says the OS enabled XGETBV.
        let xcr0 = unsafe { _xgetbv(0) };
        // The OS saves SSE (bit 1) and AVX (bit 2) state across context switches.
        xcr0 & 0b110 == 0b110 && __cpuid_count(7, 0).ebx & (1 << 5) != 0
    }
    let yes = ask();
    KNOWN.store(1 + yes as u8, Relaxed);
    yes
}

/// Rows per chunk of the threaded kernels.
const CHUNK: usize = 4096;
/// Below this many elements a kernel runs on the calling thread (same chunks, same order).
const PARALLEL_MIN: usize = 1 << 18;

/// The number of cores, asked once: the question reads files under /sys and /proc.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `share` of each input, each on its own thread, results in input order: the first on
/// the calling thread, the others on workers kept for the process (`cores() - 1` of
/// them, so that the calling thread never waits for a core).
///
/// A waiting worker takes its share in a fraction of the time a new thread needs to
/// start (figures in docs/performance.md).
fn on_threads<I: Send, T: Send>(inputs: Vec<I>, share: impl Fn(I) -> T + Sync) -> Vec<T> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(cores() - 1)
            .thread_name(|i| format!("descent-kernel-{i}"))
            .build()
            .ok()
    });
    let Some(pool) = pool else {
        // No threads to be had: the same shares, one after another.
        return inputs.into_iter().map(share).collect();
    };
    let mut out: Vec<Option<T>> = inputs.iter().map(|_| None).collect();
    let mut inputs = inputs.into_iter();
    let mine = inputs.next();
    let (first, rest) = out.split_first_mut().expect("at least one share");
    pool.in_place_scope(|scope| {
        let share = &share;
        for (slot, input) in rest.iter_mut().zip(inputs) {
            scope.spawn(move |_| *slot = Some(share(input)));
        }
        *first = mine.map(share);
    });
    out.into_iter()
        .map(|r| r.expect("every share ran"))
        .collect()
}

/// `f` on each chunk of `0..rows`, results in chunk order; on several threads when the
/// work (`rows·width` elements) is large.
pub(crate) fn chunked<R: Send>(
    rows: usize,
    width: usize,
    f: impl Fn(Range<usize>) -> R + Sync,
) -> Vec<R> {
    let chunks = (0..rows.div_ceil(CHUNK)).map(|c| c * CHUNK..((c + 1) * CHUNK).min(rows));
    if rows * width.max(1) < PARALLEL_MIN || cores() <= 1 {
        return chunks.map(f).collect();
    }
    let chunks: Vec<Range<usize>> = chunks.collect();
    let threads = cores().min(chunks.len());
    // Thread t takes chunks t, t + T, t + 2T, …: a fixed assignment, no work stealing.
    let mut parts = on_threads((0..threads).collect(), |t| {
        (t..chunks.len())
            .step_by(threads)
            .map(|c| (c, f(chunks[c].clone())))
            .collect::<Vec<_>>()
    });
    let mut out: Vec<Option<R>> = (0..chunks.len()).map(|_| None).collect();
    for (c, r) in parts.iter_mut().flat_map(std::mem::take) {
        out[c] = Some(r);
    }
    out.into_iter()
        .map(|r| r.expect("every chunk ran"))
        .collect()
}

/// `f(first_row, rows_out)` on each chunk of the rows of `out` (`width` values a row), on
/// several threads when `work` (elements read) is large. Each output value is written by
/// exactly one call, so the result cannot depend on the threads.
pub(crate) fn fill_rows(
    out: &mut [f64],
    width: usize,
    work: usize,
    f: impl Fn(usize, &mut [f64]) + Sync,
) {
    let step = CHUNK * width.max(1);
    if work < PARALLEL_MIN || cores() <= 1 {
        for (c, chunk) in out.chunks_mut(step).enumerate() {
            f(c * CHUNK, chunk);
        }
        return;
    }
    let threads = cores();
    let mut lists: Vec<Vec<(usize, &mut [f64])>> = (0..threads).map(|_| Vec::new()).collect();
    for (c, chunk) in out.chunks_mut(step).enumerate() {
        lists[c % threads].push((c * CHUNK, chunk));
    }
    on_threads(lists, |list| {
        for (row, chunk) in list {
            f(row, chunk);
        }
    });
}

/// The sum of `x`: four running sums per chunk, chunks on every core when `x` is large,
/// partials added in chunk order (so the same bits every time).
pub(crate) fn sum(x: &[f64]) -> f64 {
    chunked(x.len(), 1, |r| {
        let c = &x[r];
        let it = c.chunks_exact(4);
        let tail: f64 = it.remainder().iter().sum();
        let mut acc = [0.0; 4];
        for q in it {
            for l in 0..4 {
                acc[l] += q[l];
            }
        }
        (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
    })
    .into_iter()
    // From +0, as PyTorch sums (the standard library's float sum starts at −0, which
    // makes the sum of nothing −0).
    .fold(0.0, |a, b| a + b)
}

/// One pass over the rows of `x` (`n×d`) and `y`: `r = x·w + b − y`; returns
/// `(mean r², (2/n)·Σr)`, the loss and its gradient in `b`, and writes the gradient in
/// `w`, `(2/n)·xᵀr`, into `gw` (`d` long).
pub(crate) fn linear_mse(x: &[f64], y: &[f64], w: &[f64], b: f64, gw: &mut [f64]) -> (f64, f64) {
    let (n, d) = (y.len(), w.len());
    gw.fill(0.0);
    // A small problem is one chunk: summed straight into `gw`, no partials to combine.
    let (sse, gb) = if n <= CHUNK {
        linear_mse_rows(x, y, w, b, 0..n, gw)
    } else {
        let parts = chunked(n, d, |rows| {
            let mut gw = vec![0.0; d];
            let (sse, gb) = linear_mse_rows(x, y, w, b, rows, &mut gw);
            (sse, gw, gb)
        });
        let (mut sse, mut gb) = (0.0, 0.0);
        for (s, g, b) in parts {
            sse += s;
            gb += b;
            for (a, v) in gw.iter_mut().zip(&g) {
                *a += v;
            }
        }
        (sse, gb)
    };
    let k = 2.0 / n as f64;
    for g in gw.iter_mut() {
        *g *= k;
    }
    (sse / n as f64, gb * k)
}

/// The sums of one chunk of rows: returns `(Σr², Σr)` and adds `Σr·x` into `gw`.
#[inline]
fn linear_mse_rows(
    x: &[f64],
    y: &[f64],
    w: &[f64],
    b: f64,
    rows: Range<usize>,
    gw: &mut [f64],
) -> (f64, f64) {
    let args = (x, y, w, b, rows, gw);
    if w.len() == 1 {
        return linear_mse_rows_one_wide(args);
    }
    // Up to 16 features the row length is a constant: the dot product unrolls and the
    // gradient's running sums stay in registers (the same operations in the same order,
    // so the same bits as `linear_mse_rows_any`).
    macro_rules! fixed {
        ($($k:literal)*) => {
            match w.len() {
                $($k => linear_mse_rows_wide::<$k>(args),)*
                _ => linear_mse_rows_any(args),
            }
        };
    }
    fixed!(2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
}

/// The arguments of [`linear_mse_rows`] as one tuple.
type RowsArgs<'a> = (
    &'a [f64],
    &'a [f64],
    &'a [f64],
    f64,
    Range<usize>,
    &'a mut [f64],
);

/// [`linear_mse_rows`] for one feature, the tutorials' case: four rows at a time in four
/// lanes of running sums, so the additions overlap instead of waiting on each other
/// (lanes and chunk boundaries are fixed, so the result does not depend on threads).
#[inline(always)]
fn linear_mse_rows_one((x, y, w, b, rows, gw): RowsArgs<'_>) -> (f64, f64) {
    let w0 = w[0];
    let (xs, ys) = (&x[rows.clone()], &y[rows]);
    let (xq, yq) = (xs.chunks_exact(4), ys.chunks_exact(4));
    let (xt, yt) = (xq.remainder(), yq.remainder());
    let (mut s, mut e, mut g) = ([0.0; 4], [0.0; 4], [0.0; 4]);
    for (xq, yq) in xq.zip(yq) {
        for l in 0..4 {
            let r = xq[l] * w0 + b - yq[l];
            s[l] += r * r;
            e[l] += r;
            g[l] += r * xq[l];
        }
    }
    let (mut st, mut et, mut gt) = (0.0, 0.0, 0.0);
    for (&xi, &yi) in xt.iter().zip(yt) {
        let r = xi * w0 + b - yi;
        st += r * r;
        et += r;
        gt += r * xi;
    }
    // Lanes 0 + 2 and 1 + 3 first: the compiler then keeps lanes (0, 1) and (2, 3) as two
    // vectors; with 0 + 1 first it pairs (0, 2) and shuffles every row.
    let lanes = |a: [f64; 4], t: f64| (a[0] + a[2]) + (a[1] + a[3]) + t;
    gw[0] += lanes(g, gt);
    (lanes(s, st), lanes(e, et))
}

/// [`linear_mse_rows_one`] in four-lane vectors when the CPU has AVX2. Left to itself the
/// compiler splits the four lanes into two two-lane vectors, more than twice the
/// instructions. The same operations on the same lanes in the same order: the same bits
/// (a test checks it).
#[inline]
fn linear_mse_rows_one_wide(args: RowsArgs<'_>) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: `avx2` needs only that the CPU has AVX2, checked just above.
        return unsafe { avx2::linear_mse_rows_one(args) };
    }
    linear_mse_rows_one(args)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// The first four values of `a` as one vector, lane `l` holding `a[l]`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn four(a: &[f64]) -> __m256d {
        _mm256_set_pd(a[3], a[2], a[1], a[0])
    }

    /// [`super::linear_mse_rows_one`], lane `l` of each vector being its lane `l`.
    #[target_feature(enable = "avx2")]
    pub(super) fn linear_mse_rows_one((x, y, w, b, rows, gw): super::RowsArgs<'_>) -> (f64, f64) {
        let (xs, ys) = (&x[rows.clone()], &y[rows]);
        let (xq, yq) = (xs.chunks_exact(4), ys.chunks_exact(4));
        let (xt, yt) = (xq.remainder(), yq.remainder());
        let (w0, bv) = (_mm256_set1_pd(w[0]), _mm256_set1_pd(b));
        let (mut s, mut e, mut g) = (
            _mm256_setzero_pd(),
            _mm256_setzero_pd(),
            _mm256_setzero_pd(),
        );
        for (xq, yq) in xq.zip(yq) {
            let xv = four(xq);
            let r = _mm256_sub_pd(_mm256_add_pd(_mm256_mul_pd(xv, w0), bv), four(yq));
            s = _mm256_add_pd(s, _mm256_mul_pd(r, r));
            e = _mm256_add_pd(e, r);
            g = _mm256_add_pd(g, _mm256_mul_pd(r, xv));
        }
        let (mut st, mut et, mut gt) = (0.0, 0.0, 0.0);
        for (&xi, &yi) in xt.iter().zip(yt) {
            let r = xi * w[0] + b - yi;
            st += r * r;
            et += r;
            gt += r * xi;
        }
        // (lane 0 + lane 2) + (lane 1 + lane 3), then the tail: the baseline's order.
        let lanes = |v: __m256d, t: f64| {
            let h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
            _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h))) + t
        };
        gw[0] += lanes(g, gt);
        (lanes(s, st), lanes(e, et))
    }

    /// [`super::matvec`] for rows a multiple of four long, four rows at a time: each
    /// row's products summed in four lanes as [`super::dot`] sums them, and the four
    /// rows' lanes reduced together in `dot`'s order, ((0 + 1) + (2 + 3)) + tail.
    #[target_feature(enable = "avx2")]
    pub(super) fn matvec((a, v, out): (&[f64], &[f64], &mut [f64])) {
        let k = v.len();
        debug_assert!(k > 0 && k.is_multiple_of(4));
        // `dot`'s tail, of no elements here: whatever an empty sum is.
        let tail = _mm256_set1_pd(std::iter::empty::<f64>().sum::<f64>());
        let row = |r: &[f64]| {
            let mut acc = _mm256_setzero_pd();
            for (x, w) in r.chunks_exact(4).zip(v.chunks_exact(4)) {
                acc = _mm256_add_pd(acc, _mm256_mul_pd(four(x), four(w)));
            }
            acc
        };
        let done = out.len() / 4 * 4;
        for (o, rows) in out.chunks_exact_mut(4).zip(a.chunks_exact(4 * k)) {
            let (r0, r1) = (row(&rows[..k]), row(&rows[k..2 * k]));
            let (r2, r3) = (row(&rows[2 * k..3 * k]), row(&rows[3 * k..]));
            // (lane 0 + lane 1) and (lane 2 + lane 3) of each row, then their sum.
            let (h01, h23) = (_mm256_hadd_pd(r0, r1), _mm256_hadd_pd(r2, r3));
            let lo = _mm256_permute2f128_pd::<0x20>(h01, h23);
            let hi = _mm256_permute2f128_pd::<0x31>(h01, h23);
            let sums = _mm256_add_pd(_mm256_add_pd(lo, hi), tail);
            let (s01, s23) = (
                _mm256_castpd256_pd128(sums),
                _mm256_extractf128_pd::<1>(sums),
            );
            o[0] = _mm_cvtsd_f64(s01);
            o[1] = _mm_cvtsd_f64(_mm_unpackhi_pd(s01, s01));
            o[2] = _mm_cvtsd_f64(s23);
            o[3] = _mm_cvtsd_f64(_mm_unpackhi_pd(s23, s23));
        }
        for (o, r) in out[done..].iter_mut().zip(a[done * k..].chunks_exact(k)) {
            *o = super::dot(r, v);
        }
    }
}

/// [`linear_mse_rows`] for any number of features.
fn linear_mse_rows_any((x, y, w, b, rows, gw): RowsArgs<'_>) -> (f64, f64) {
    let d = w.len();
    let (mut sse, mut gb) = (0.0, 0.0);
    for i in rows {
        let xi = &x[i * d..(i + 1) * d];
        let r = dot(xi, w) + b - y[i];
        sse += r * r;
        gb += r;
        for (g, xij) in gw.iter_mut().zip(xi) {
            *g += r * xij;
        }
    }
    (sse, gb)
}

wide! {
    /// [`linear_mse_rows_fixed`], in the widest vectors the CPU has.
    fn linear_mse_rows_wide<const D>(args: RowsArgs<'_>) -> (f64, f64) = linear_mse_rows_fixed
}

/// [`linear_mse_rows`] for `D` features.
#[inline(always)]
fn linear_mse_rows_fixed<const D: usize>(args: RowsArgs<'_>) -> (f64, f64) {
    let (x, y, w, b, rows, gw) = args;
    let (mut sse, mut gb, mut acc) = (0.0, 0.0, [0.0; D]);
    let w: &[f64; D] = w.try_into().expect("D weights");
    let xs = x[rows.start * D..rows.end * D].chunks_exact(D);
    for (xi, &yi) in xs.zip(&y[rows]) {
        let xi: &[f64; D] = xi.try_into().expect("rows of D");
        let r = dot(xi, w) + b - yi;
        sse += r * r;
        gb += r;
        for j in 0..D {
            acc[j] += r * xi[j];
        }
    }
    for (g, a) in gw.iter_mut().zip(acc) {
        *g += a;
    }
    (sse, gb)
}

/// `C[m×n] = op(A)·op(B)` where `op(A)` is `m×k` and `op(B)` is `k×n`. With `ta`, `A` is
/// stored `k×m`; with `tb`, `B` is stored `n×k`.
pub(crate) fn gemm(
    a: &[f64],
    b: &[f64],
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
) -> Vec<f64> {
    if (ta, tb, n) == (false, false, 1) {
        // Matrix times vector (X·w in regression): one dot product per row, each row's
        // written once, so a recycled buffer need not be zeroed first (an 8 MB pass).
        let mut c = crate::pool::scratch(m);
        fill_rows(&mut c, 1, m * k, |first, out| {
            matvec_fast((&a[first * k..(first + out.len()) * k], &b[..k], out));
        });
        return c;
    }
    let mut c = crate::pool::buffer(m * n);
    c.resize(m * n, 0.0);
    match (ta, tb) {
        // Transposed matrix times vector (Xᵀ·r): rows of A scaled and added, a partial
        // sum per chunk of rows, the partials added in order.
        (true, false) if n == 1 => {
            let parts = chunked(k, m, |rows| {
                let mut part = vec![0.0; m];
                let (a, b) = (&a[rows.start * m..rows.end * m], &b[rows]);
                tmatvec_wide((a, b, &mut part));
                part
            });
            for part in parts {
                for (ci, v) in c.iter_mut().zip(&part) {
                    *ci += v;
                }
            }
        }
        // C[i,:] += A[i,p] · B[p,:]
        (false, false) => {
            for i in 0..m {
                let ci = &mut c[i * n..(i + 1) * n];
                for p in 0..k {
                    let aip = a[i * k + p];
                    for (cij, bpj) in ci.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                        *cij += aip * bpj;
                    }
                }
            }
        }
        // A is k×m: C[i,:] += A[p,i] · B[p,:], walking A and B row by row.
        (true, false) => {
            for p in 0..k {
                let ap = &a[p * m..(p + 1) * m];
                let bp = &b[p * n..(p + 1) * n];
                for (i, &api) in ap.iter().enumerate() {
                    for (cij, bpj) in c[i * n..(i + 1) * n].iter_mut().zip(bp) {
                        *cij += api * bpj;
                    }
                }
            }
        }
        // B is n×k: C[i,j] = A[i,:]·B[j,:], a dot product of two contiguous rows.
        (false, true) => {
            for i in 0..m {
                let ai = &a[i * k..(i + 1) * k];
                for j in 0..n {
                    c[i * n + j] = dot(ai, &b[j * k..(j + 1) * k]);
                }
            }
        }
        // Both stored transposed: C[i,j] = Σ_p A[p,i]·B[j,p].
        (true, true) => {
            for i in 0..m {
                for j in 0..n {
                    let bj = &b[j * k..(j + 1) * k];
                    c[i * n + j] = (0..k).map(|p| a[p * m + i] * bj[p]).sum();
                }
            }
        }
    }
    c
}

wide! {
    /// [`matvec`], in the widest vectors the CPU has.
    fn matvec_wide(args: (&[f64], &[f64], &mut [f64])) -> () = matvec
}

/// `out = A·v` for the rows of `A` (row-major, `v.len()` columns) that `out` covers.
#[inline(always)]
fn matvec((a, v, out): (&[f64], &[f64], &mut [f64])) {
    if v.is_empty() {
        return out.fill(0.0);
    }
    for (ci, ai) in out.iter_mut().zip(a.chunks_exact(v.len())) {
        *ci = dot(ai, v);
    }
}

/// [`matvec`], four rows at a time in AVX2 when the rows are a multiple of four long (the
/// compiler, left to itself, reduces each row's four lanes apart).
#[inline]
fn matvec_fast(args: (&[f64], &[f64], &mut [f64])) {
    #[cfg(target_arch = "x86_64")]
    if !args.1.is_empty() && args.1.len().is_multiple_of(4) && has_avx2() {
        // SAFETY: `avx2` needs only that the CPU has AVX2, checked just above.
        return unsafe { avx2::matvec(args) };
    }
    matvec_wide(args)
}

wide! {
    /// [`tmatvec`], in the widest vectors the CPU has.
    fn tmatvec_wide(args: (&[f64], &[f64], &mut [f64])) -> () = tmatvec
}

/// `out += Aᵀ·v` for a block of rows of `A` (row-major, `out.len()` columns): each row
/// scaled by its element of `v` and added.
#[inline(always)]
fn tmatvec((a, v, out): (&[f64], &[f64], &mut [f64])) {
    if out.is_empty() {
        return;
    }
    for (ap, &vp) in a.chunks_exact(out.len()).zip(v) {
        for (ci, &api) in out.iter_mut().zip(ap) {
            *ci += api * vp;
        }
    }
}

/// A dot product with four running sums, so the additions pipeline (and vectorise)
/// instead of waiting on one another; the order is fixed, so results are reproducible.
#[inline(always)]
fn dot(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    let (xc, yc) = (x[..n].chunks_exact(4), y[..n].chunks_exact(4));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    let mut acc = [0.0; 4];
    for (a, b) in xc.zip(yc) {
        for l in 0..4 {
            acc[l] += a[l] * b[l];
        }
    }
    let tail: f64 = xr.iter().zip(yr).map(|(a, b)| a * b).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_avx2_check_agrees_with_std() {
        assert_eq!(has_avx2(), std::is_x86_feature_detected!("avx2"));
        assert_eq!(has_avx2(), std::is_x86_feature_detected!("avx2")); // cached
    }

    #[test]
    fn the_wide_kernels_give_the_baselines_bits() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        // d = 1 against its own kernel in the baseline build, the others against the
        // general loop (also the baseline build): the wide build must match both.
        for d in 1..=16 {
            for n in [1, 5, 8, 13, 37, 100, 257, 1001] {
                let x: Vec<f64> = (0..n * d).map(|_| next()).collect();
                let y: Vec<f64> = (0..n).map(|_| next()).collect();
                let w: Vec<f64> = (0..d).map(|_| next()).collect();
                let (mut g1, mut g2) = (vec![0.0; d], vec![0.0; d]);
                let r1 = linear_mse_rows(&x, &y, &w, 0.3, 1..n, &mut g1);
                let r2 = if d == 1 {
                    linear_mse_rows_one((&x, &y, &w, 0.3, 1..n, &mut g2))
                } else {
                    linear_mse_rows_any((&x, &y, &w, 0.3, 1..n, &mut g2))
                };
                let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    (r1.0.to_bits(), r1.1.to_bits()),
                    (r2.0.to_bits(), r2.1.to_bits())
                );
                assert_eq!(bits(&g1), bits(&g2), "d = {d}, n = {n}");
                // The products of the general path, wide against the baseline build.
                let (mut p1, mut p2) = (vec![0.0; n], vec![0.0; n]);
                matvec_wide((&x, &w, &mut p1));
                matvec((&x, &w, &mut p2));
                assert_eq!(bits(&p1), bits(&p2), "X·w, d = {d}, n = {n}");
                // Four rows at a time in AVX2, when `d` is a multiple of four; into a
                // fresh buffer, so that a kernel that wrote nothing could not pass.
                let mut p1 = vec![f64::NAN; n];
                matvec_fast((&x, &w, &mut p1));
                assert_eq!(
                    bits(&p1),
                    bits(&p2),
                    "X·w four rows a time, d = {d}, n = {n}"
                );
                let (mut q1, mut q2) = (vec![0.0; d], vec![0.0; d]);
                tmatvec_wide((&x, &y, &mut q1));
                tmatvec((&x, &y, &mut q2));
                assert_eq!(bits(&q1), bits(&q2), "Xᵀ·y, d = {d}, n = {n}");
            }
        }
    }
}
