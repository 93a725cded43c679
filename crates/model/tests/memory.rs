//! Alone in its own test binary so that no other test moves the resident set.

use model::*;

fn resident_kib() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    Some(statm.split_whitespace().nth(1)?.parse::<usize>().ok()? * 4)
}

#[test]
fn memory_stays_flat_over_100_000_training_steps() {
    let Some(_) = resident_kib() else {
        eprintln!("no /proc/self/statm on this system; memory check not run");
        return;
    };
    let data = synthetic(32, &[1.0, 2.0], 0.5, 0.1, (-1.0, 1.0), 1);
    let mut lin = Linear::new(2, 1, Init::Zeros);
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(10_000),
        ..Default::default()
    };
    train(&mut lin, &mut Sgd::new(0.1), &data, None, &cfg, |_| {}).unwrap();
    let warm = resident_kib().unwrap();
    let cfg = TrainConfig {
        schedule: Schedule::Iterations(100_000),
        log_every: 1000,
        ..Default::default()
    };
    let h = train(&mut lin, &mut Adam::new(0.01), &data, None, &cfg, |_| {}).unwrap();
    let end = resident_kib().unwrap();
    // The history itself grows by 8 bytes a step (800 KB); allow that and a little.
    assert!(
        end <= warm + 2048,
        "resident set grew from {warm} KiB to {end} KiB"
    );
    assert_eq!(h.iterations, 100_000);
}
