//! Alone in its own test binary, so that no other test's allocations move the
//! resident set it measures.

use tape::prelude::*;

fn resident_kib() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

/// A million training steps on a cleared tape keep a flat resident set: the arena is
/// reused, nothing leaks per step.
#[test]
fn a_million_steps_keep_memory_flat() {
    let Some(_) = resident_kib() else {
        eprintln!("no /proc/self/statm on this system; memory check not run");
        return;
    };
    let x = Tensor::from([1.0, 2.0, 3.0, 4.0]);
    let y = Tensor::from([3.0, 5.0, 7.0, 9.0]);
    let (mut m, mut b) = (0.0, 0.0);
    let mut tape = Tape::with_capacity(16);
    let mut after_warmup = 0;
    for step in 0..1_000_000 {
        let (mv, bv) = (tape.param(m), tape.param(b));
        let loss = (tape.constant(x.clone()) * mv + bv - tape.constant(y.clone()))
            .square()
            .mean();
        let g = loss.backward();
        m -= 0.01 * g.get(mv).item();
        b -= 0.01 * g.get(bv).item();
        drop(g);
        tape.clear();
        if step == 10_000 {
            after_warmup = resident_kib().unwrap();
        }
    }
    let end = resident_kib().unwrap();
    assert!(
        end <= after_warmup + 1024,
        "resident set grew from {after_warmup} KiB to {end} KiB"
    );
    assert!(
        (m - 2.0).abs() < 1e-6 && (b - 1.0).abs() < 1e-6,
        "trained to m={m}, b={b}"
    );
}
