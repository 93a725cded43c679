#!/usr/bin/env python3
"""The benchmark workloads on descent's peers: NumPy, PyTorch, JAX and micrograd.

The workloads are those of benches/workloads.rs, defined the same way, on the same
numbers: splitmix64 (written out below as in the Rust bench), so checksums agree across
engines to rounding. Each (engine, workload) runs in a fresh process for its own peak
memory; the parent prints one JSON line per result.

    bench/.venv/bin/python bench/peers.py [--rounds N] [--only ENGINE:WORKLOAD]

Made with bench/setup.sh. W1 runs fewer steps on the slow engines (the size is in each
result): the figure is per op node, which does not depend on the length of the chain.
"""

import argparse
import gc
import json
import math
import subprocess
import sys
import threading
import time

import numpy as np

GAMMA = np.uint64(0x9E3779B97F4A7C15)


def splitmix_uniform(seed, start, count):
    """U[0, 1) draws start .. start+count of splitmix64(seed), 53 bits each."""
    with np.errstate(over="ignore"):
        i = np.arange(start + 1, start + count + 1, dtype=np.uint64)
        z = np.uint64(seed) + i * GAMMA
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def splitmix_normals(seed, start, count):
    """Box-Muller on consecutive pairs of uniforms, both of each pair (as the Rust bench)."""
    pairs = (count + 1) // 2
    u = splitmix_uniform(seed, start, 2 * pairs)
    u1, u2 = 1.0 - u[0::2], u[1::2]
    r = np.sqrt(-2.0 * np.log(u1))
    t = 2.0 * math.pi * u2
    out = np.empty(2 * pairs)
    out[0::2], out[1::2] = r * np.cos(t), r * np.sin(t)
    return out[:count], start + 2 * pairs


def w1_data(steps):
    u = splitmix_uniform(1, 0, 2_000_000)
    return (0.99 + 0.02 * u[:1_000_000])[:steps], u[1_000_000:][:steps]


N, D = 1_000_000, 16


def w2_data():
    x, used = splitmix_normals(5, 0, N * D)
    x = x.reshape(N, D)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    noise, _ = splitmix_normals(5, used, N)
    w_star = np.arange(1, D + 1) / 8.0
    y = x @ w_star + 0.5 + 0.1 * noise
    return np.ascontiguousarray(x), y


def w3_data():
    xs = 20.0 + 60.0 * splitmix_uniform(3, 0, 100)
    noise, _ = splitmix_normals(3, 100, 100)
    return xs, 1.3 * xs + 5.0 * noise


# ---- W1: h <- relu(a_i*h + b_i), then backward; ns per op node (3 a step) ----


def w1_micrograd(steps):
    from micrograd.engine import Value

    a, b = w1_data(steps)
    av = [Value(float(v)) for v in a]
    bv = [Value(float(v)) for v in b]
    x0 = Value(0.5)
    result = {}

    def run():
        gc.disable()  # "GC off", as the figure
        t = time.perf_counter()
        h = x0
        for i in range(steps):
            h = (av[i] * h + bv[i]).relu()
        h.backward()
        result["s"] = time.perf_counter() - t
        gc.enable()
        result["sum"] = f"L={h.data} Σ∂a={sum(v.grad for v in av)} Σ∂b={sum(v.grad for v in bv)} ∂x0={x0.grad}"

    # micrograd's backward sorts the graph recursively: a deep chain needs a deep stack.
    sys.setrecursionlimit(10 * steps + 1000)
    threading.stack_size(1 << 30)
    th = threading.Thread(target=run)
    th.start()
    th.join()
    return result["s"] * 1e9 / (3 * steps), result["sum"]


def w1_torch(steps):
    import torch

    torch.set_grad_enabled(True)
    a, b = w1_data(steps)
    av = [torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for v in a]
    bv = [torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for v in b]
    x0 = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    t = time.perf_counter()
    h = x0
    for i in range(steps):
        h = torch.relu(av[i] * h + bv[i])
    h.backward()
    s = time.perf_counter() - t
    sa = sum(float(v.grad) for v in av)
    sb = sum(float(v.grad) for v in bv)
    return s * 1e9 / (3 * steps), f"L={float(h.detach())} Σ∂a={sa} Σ∂b={sb} ∂x0={float(x0.grad)}"


def w1_jax(steps):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    a, b = w1_data(steps)
    av = [jnp.asarray(v) for v in a]
    bv = [jnp.asarray(v) for v in b]

    def f(av, bv, x0):
        h = x0
        for i in range(steps):
            h = jax.nn.relu(av[i] * h + bv[i])
        return h

    x0 = jnp.asarray(0.5)
    t = time.perf_counter()
    val, (ga, gb, gx) = jax.value_and_grad(f, argnums=(0, 1, 2))(av, bv, x0)
    jax.block_until_ready(gx)
    s = time.perf_counter() - t
    sa = float(sum(float(g) for g in ga))
    sb = float(sum(float(g) for g in gb))
    return s * 1e9 / (3 * steps), f"L={float(val)} Σ∂a={sa} Σ∂b={sb} ∂x0={float(gx)}"


# ---- W2: 50 full-batch iterations at lr 0.1 from zero; ms per iteration ----


def w2_numpy():
    x, y = w2_data()
    w, b = np.zeros(D), 0.0
    t = time.perf_counter()
    for _ in range(50):
        r = x @ w + b - y
        loss = r @ r / N
        gw, gb = (2.0 / N) * (x.T @ r), (2.0 / N) * r.sum()
        w, b = w - 0.1 * gw, b - 0.1 * gb
    s = time.perf_counter() - t
    return s * 1e3 / 50, f"loss={loss} Σw={w.sum()} b={b}"


def w2_torch():
    import torch

    xn, yn = w2_data()
    x, y = torch.from_numpy(xn), torch.from_numpy(yn)
    w = torch.zeros(D, dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    t = time.perf_counter()
    for _ in range(50):
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w -= 0.1 * w.grad
            b -= 0.1 * b.grad
        w.grad, b.grad = None, None
    s = time.perf_counter() - t
    return s * 1e3 / 50, f"loss={float(loss.detach())} Σw={float(w.detach().sum())} b={float(b.detach())}"


def w2_jax():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    xn, yn = w2_data()
    x, y = jnp.asarray(xn), jnp.asarray(yn)

    def loss_fn(w, b):
        return jnp.mean((x @ w + b - y) ** 2)

    @jax.jit
    def step(w, b):
        loss, (gw, gb) = jax.value_and_grad(loss_fn, argnums=(0, 1))(w, b)
        return loss, w - 0.1 * gw, b - 0.1 * gb

    w, b = jnp.zeros(D), jnp.asarray(0.0)
    jax.block_until_ready(step(w, b))  # compile before the clock
    t = time.perf_counter()
    for _ in range(50):
        loss, w, b = step(w, b)
    jax.block_until_ready(w)
    s = time.perf_counter() - t
    return s * 1e3 / 50, f"loss={float(loss)} Σw={float(w.sum())} b={float(b)}"


# ---- W3: 100 points, 1000 full-batch iterations at lr 1e-4 from 0; total ms ----


def w3_micrograd():
    from micrograd.engine import Value

    xs, ys = w3_data()
    xs, ys = [float(v) for v in xs], [float(v) for v in ys]
    w, b = Value(0.0), Value(0.0)
    t = time.perf_counter()
    for _ in range(1000):
        loss = sum(((w * x + b - y) ** 2 for x, y in zip(xs, ys)), Value(0.0)) * (1.0 / 100)
        w.grad, b.grad = 0.0, 0.0
        loss.backward()
        w.data -= 1e-4 * w.grad
        b.data -= 1e-4 * b.grad
    s = time.perf_counter() - t
    return s * 1e3, f"w={w.data} b={b.data}"


def w3_torch():
    import torch

    xn, yn = w3_data()
    x, y = torch.from_numpy(xn), torch.from_numpy(yn)
    w = torch.zeros((), dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    t = time.perf_counter()
    for _ in range(1000):
        loss = ((w * x + b - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w -= 1e-4 * w.grad
            b -= 1e-4 * b.grad
        w.grad, b.grad = None, None
    s = time.perf_counter() - t
    return s * 1e3, f"w={float(w.detach())} b={float(b.detach())}"


def w3_jax():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    xn, yn = w3_data()
    x, y = jnp.asarray(xn), jnp.asarray(yn)

    @jax.jit
    def step(w, b):
        gw, gb = jax.grad(lambda w, b: jnp.mean((w * x + b - y) ** 2), argnums=(0, 1))(w, b)
        return w - 1e-4 * gw, b - 1e-4 * gb

    w, b = jnp.asarray(0.0), jnp.asarray(0.0)
    jax.block_until_ready(step(w, b))  # compile before the clock
    t = time.perf_counter()
    for _ in range(1000):
        w, b = step(w, b)
    jax.block_until_ready(w)
    s = time.perf_counter() - t
    return s * 1e3, f"w={float(w)} b={float(b)}"


def w3_numpy():
    x, y = w3_data()
    w, b = 0.0, 0.0
    t = time.perf_counter()
    for _ in range(1000):
        r = w * x + b - y
        w, b = w - 1e-4 * (2.0 / 100) * (r @ x), b - 1e-4 * (2.0 / 100) * r.sum()
    s = time.perf_counter() - t
    return s * 1e3, f"w={w} b={b}"


def w3_python():
    xs, ys = w3_data()
    xs, ys = [float(v) for v in xs], [float(v) for v in ys]
    w, b = 0.0, 0.0
    t = time.perf_counter()
    for _ in range(1000):
        gw = gb = 0.0
        for x, y in zip(xs, ys):
            r = w * x + b - y
            gw += r * x
            gb += r
        w -= 1e-4 * (2.0 / 100) * gw
        b -= 1e-4 * (2.0 / 100) * gb
    s = time.perf_counter() - t
    return s * 1e3, f"w={w} b={b}"


# ---- W5: statsmodels OLS end to end on the file the Rust bench writes ----
def w5_statsmodels():
    """End to end as a user's script runs it: import pandas and statsmodels (in this fresh
    process, as descent's time includes its process start), read, fit, summarise."""
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "w5.csv")
    t = time.perf_counter()
    import pandas as pd
    import statsmodels.api as sm

    df = pd.read_csv(path)
    y = df.pop("y").to_numpy()
    res = sm.OLS(y, sm.add_constant(df.to_numpy(), prepend=False)).fit()
    text = str(res.summary())
    s = time.perf_counter() - t
    return s * 1e3, f"R² {res.rsquared:.6g} ({len(text)} chars)"


# ---- W4: a 1,000,000 × 16 CSV (the file the Rust bench writes) read and fitted ----
def w4_path():
    import os

    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "w4.csv")


def w4_statsmodels():
    """pandas read_csv + statsmodels OLS with its summary: the full report, as descent prints."""
    t = time.perf_counter()
    import pandas as pd
    import statsmodels.api as sm

    df = pd.read_csv(w4_path())
    y = df.pop("y").to_numpy()
    res = sm.OLS(y, sm.add_constant(df.to_numpy(), prepend=False)).fit()
    text = str(res.summary())
    s = time.perf_counter() - t
    return s * 1e3, f"R² {res.rsquared:.6g} ({len(text)} chars)"


def w4_polars():
    """polars read_csv + NumPy lstsq: the coefficients only."""
    t = time.perf_counter()
    import numpy as np
    import polars as pl

    df = pl.read_csv(w4_path())
    y = df["y"].to_numpy()
    x = np.column_stack([df.drop("y").to_numpy(), np.ones(len(y))])
    coef, rss, _, _ = np.linalg.lstsq(x, y, rcond=None)
    s = time.perf_counter() - t
    return s * 1e3, f"R² {1 - rss[0] / ((y - y.mean()) ** 2).sum():.6g}"


def w4_sklearn():
    """pandas read_csv + scikit-learn LinearRegression: the coefficients only."""
    t = time.perf_counter()
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    df = pd.read_csv(w4_path())
    y = df.pop("y").to_numpy()
    x = df.to_numpy()
    m = LinearRegression().fit(x, y)
    s = time.perf_counter() - t
    return s * 1e3, f"R² {m.score(x, y):.6g}"


# (engine, workload) -> (function, metric, W1 chain length or None)
RUNS = {
    ("micrograd", "W1"): (lambda: w1_micrograd(200_000), "ns_per_node", 200_000),
    ("pytorch", "W1"): (lambda: w1_torch(100_000), "ns_per_node", 100_000),
    ("jax", "W1"): (lambda: w1_jax(1_000), "ns_per_node", 1_000),
    ("numpy", "W2"): (w2_numpy, "ms_per_iteration", None),
    ("pytorch", "W2"): (w2_torch, "ms_per_iteration", None),
    ("jax", "W2"): (w2_jax, "ms_per_iteration", None),
    ("micrograd", "W3"): (w3_micrograd, "total_ms", None),
    ("pytorch", "W3"): (w3_torch, "total_ms", None),
    ("jax", "W3"): (w3_jax, "total_ms", None),
    ("numpy", "W3"): (w3_numpy, "total_ms", None),
    ("python", "W3"): (w3_python, "total_ms", None),
    ("statsmodels", "W4"): (w4_statsmodels, "total_ms", None),
    ("polars", "W4"): (w4_polars, "total_ms", None),
    ("sklearn", "W4"): (w4_sklearn, "total_ms", None),
    ("statsmodels", "W5"): (w5_statsmodels, "total_ms", None),
}


def versions():
    import jax
    import torch

    import polars
    import sklearn
    import statsmodels

    return {
        "numpy": np.__version__,
        "pytorch": torch.__version__,
        "jax": jax.__version__,
        "statsmodels": statsmodels.__version__,
        "polars": polars.__version__,
        "scikit-learn": sklearn.__version__,
    }


def peak_rss_mb():
    """This process's peak resident set (VmHWM): unlike ru_maxrss, not inherited across exec."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def run_one(engine, workload, rounds):
    fn, metric, steps = RUNS[(engine, workload)]
    results = [fn() for _ in range(rounds)]
    values = sorted(r[0] for r in results)
    line = {
        "engine": engine,
        "workload": workload,
        metric: values[len(values) // 2],
        "rounds": rounds,
        "peak_rss_mb": peak_rss_mb(),
        "checksum": results[-1][1],
    }
    if steps:
        line["steps"] = steps
    print(json.dumps(line, ensure_ascii=False), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only", help="ENGINE:WORKLOAD, such as pytorch:W2")
    args = p.parse_args()
    if args.only:
        engine, workload = args.only.split(":")
        run_one(engine, workload, args.rounds)
        return
    print(json.dumps({"versions": versions()}), flush=True)
    for engine, workload in RUNS:
        out = subprocess.run(
            [sys.executable, __file__, "--only", f"{engine}:{workload}", "--rounds", str(args.rounds)],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            print(json.dumps({"engine": engine, "workload": workload, "error": out.stderr.strip().splitlines()[-1:]}), flush=True)
        else:
            print(out.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
