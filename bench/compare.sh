#!/usr/bin/env bash
# descent and its peers (NumPy, PyTorch, JAX, micrograd) on the same workloads, run
# interleaved for 3 rounds (ROUNDS=N to change); prints the medians and each peer's
# time as a multiple of descent's, with the date and the machine. Raw JSON lines are
# kept in bench/results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${ROUNDS:-3}"
bench/.venv/bin/python -c 'import statsmodels, torch, jax, polars, sklearn' 2>/dev/null || bash bench/setup.sh
cargo bench --bench workloads --no-run 2>/dev/null
out=bench/results.jsonl
: > "$out"
for round in $(seq "$rounds"); do
    echo "round $round of $rounds" >&2
    cargo bench -q --bench workloads -- --rounds 1 2>/dev/null | grep '^{' >> "$out"
    bench/.venv/bin/python bench/peers.py --rounds 1 2>/dev/null >> "$out"
done
python3 - "$out" <<'PY'
import json, platform, statistics, subprocess, sys, datetime

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
versions = next((r["versions"] for r in rows if "versions" in r), {})
runs = [r for r in rows if "engine" in r and "error" not in r]
errors = [r for r in rows if "error" in r]
metric = {"ns_per_node", "ms_per_iteration", "total_ms", "ms_per_pass", "max_ms_per_fit"}

def med(engine, workload):
    vals = [v for r in runs if r["engine"] == engine and r["workload"] == workload
            for k, v in r.items() if k in metric]
    return statistics.median(vals) if vals else None

def cpu():
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            return l.split(":", 1)[1].strip()
    return platform.processor()

cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
print(f"{datetime.date.today()}, {cpu()}, {cores} cores, {platform.system()} {platform.release()}")
print(f"medians of {max(1, len([r for r in runs if r['engine']=='descent' and r['workload']=='W1']))} interleaved rounds; "
      + ", ".join(f"{k} {v}" for k, v in versions.items()))
print()
fmt = lambda v: "—" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.3g}")
ratio = lambda p, d: "" if p is None or d is None else f" ({p / d:,.0f}×)" if p / d >= 10 else f" ({p / d:.1f}×)"
floor = med("descent", "floor")
print("| workload | descent | micrograd | PyTorch | JAX | NumPy | plain Python | floor |")
print("|---|---|---|---|---|---|---|---|")
d1 = med("descent", "W1")
print(f"| W1 scalar chain, ns per op node | {fmt(d1)} | {fmt(med('micrograd','W1'))}{ratio(med('micrograd','W1'), d1)} | "
      f"{fmt(med('pytorch','W1'))}{ratio(med('pytorch','W1'), d1)} | {fmt(med('jax','W1'))}{ratio(med('jax','W1'), d1)} (eager) | — | — | "
      f"{fmt(med('descent','W1bare'))} (bare tape) |")
for name, label in [("W2a", "W2 (a) tape path"), ("W2b", "W2 (b) fused op")]:
    d = med("descent", name)
    print(f"| {label}, ms per iteration | {fmt(d)} ({d / floor:.2f}× floor) | — | "
          f"{fmt(med('pytorch','W2'))}{ratio(med('pytorch','W2'), d)} | {fmt(med('jax','W2'))}{ratio(med('jax','W2'), d)} (jit) | "
          f"{fmt(med('numpy','W2'))}{ratio(med('numpy','W2'), d)} | — | {fmt(floor)} |")
d3 = med("descent", "W3")
print(f"| W3 100 points × 1000 iterations, total ms | {fmt(d3)} | {fmt(med('micrograd','W3'))}{ratio(med('micrograd','W3'), d3)} | "
      f"{fmt(med('pytorch','W3'))}{ratio(med('pytorch','W3'), d3)} | {fmt(med('jax','W3'))}{ratio(med('jax','W3'), d3)} | "
      f"{fmt(med('numpy','W3'))}{ratio(med('numpy','W3'), d3)} | {fmt(med('python','W3'))}{ratio(med('python','W3'), d3)} | — |")
d4 = med("descent", "W4")
print(f"| W4 `descent fit --iters 0` on a 1,000,000 × 16 CSV, total ms | {fmt(d4)} | — | — | — | — | — | "
      f"pandas+statsmodels {fmt(med('statsmodels','W4'))}{ratio(med('statsmodels','W4'), d4)}, "
      f"polars+NumPy {fmt(med('polars','W4'))}{ratio(med('polars','W4'), d4)}, "
      f"pandas+scikit-learn {fmt(med('sklearn','W4'))}{ratio(med('sklearn','W4'), d4)} |")
d5, s5 = med("descent", "W5"), med("statsmodels", "W5")
print(f"| W5 `descent fit` on a 5,000 × 300 CSV, total ms | {fmt(d5)} | — | — | — | — | — | statsmodels {fmt(s5)}{ratio(s5, d5)} |")
print(f"| W6 slowest of the 54 NIST nonlinear fits, ms | {fmt(med('descent', 'W6'))} | — | — | — | — | — | — |")
peak = {r["workload"]: r["peak_rss_mb"] for r in runs if r["engine"] == "descent"}
w4peak = {r["engine"]: r["peak_rss_mb"] for r in runs if r["workload"] == "W4"}
bw = med("descent", "bandwidth")
print()
print(f"Peers' multiples of descent in parentheses. Floor: one pass over X and y per iteration on every core, "
      f"no tape; read-bandwidth probe {fmt(bw)} ms per pass over X and y. Peak memory, X and y being 130 MB: "
      f"W2a {peak.get('W2a', 0):.0f} MB, W2b {peak.get('W2b', 0):.0f} MB. "
      f"W1 bytes of tape per node: {next((r['bytes_per_node'] for r in runs if r.get('bytes_per_node')), '?')}. "
      f"W1's bare tape: the chain on a Vec of (op, value) nodes of three ops and nothing else (benches/workloads.rs).")
print(f"W4 peak memory (the f64 data are 130 MB): " + ", ".join(f"{e} {v:.0f} MB" for e, v in w4peak.items()) + ".")
for e in errors:
    print(f"error: {e['engine']} {e['workload']}: {e['error']}")
PY
