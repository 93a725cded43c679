"""Random programs over descent's ops, run by PyTorch (float64): the differential test.

A seeded generator writes programs (leaves with values, then ops on earlier nodes) and
PyTorch's results for each: the output's value, the gradient of sum(output) for every
leaf, a Hessian-vector product (the gradient of Σ grad·v) and a Jacobian-vector product
(forward mode). `crates/tape/tests/differential.rs` runs the same programs on descent and
requires agreement to 1e-10 relative, and NaN exactly where PyTorch gives NaN.

    bench/.venv/bin/python tests/torch/differential.py --programs 5000 --seed 1 --out /tmp/d.json
    cargo test -p descent-tape --test differential -- --ignored   # with DIFFERENTIAL=/tmp/d.json

CI runs the committed set (crates/tape/tests/data/differential.json, written by
`--programs 400 --seed 19`), so it needs no PyTorch.
"""
import argparse
import json
import math
import random

import torch

torch.set_default_dtype(torch.float64)

SHAPES = [[3, 3], [3], [1, 3], [3, 1], [], [2, 3, 3]]
UNARY = ["neg", "square", "exp_tanh", "log_pos", "sqrt_pos", "abs", "tanh", "sigmoid", "relu",
         "sin", "cos", "atan", "log1p_sig", "expm1", "softplus", "powi3", "powf_pos",
         "sum", "mean", "sum_axis", "mean_axis", "softmax", "log_softmax", "logsumexp",
         "clamp", "max_along", "var", "norm", "narrow", "permute"]
BINARY = ["add", "sub", "mul", "div_pos", "maximum", "minimum", "matmul", "where", "cat", "bmm"]


def apply(op, args, nodes):
    a = nodes[args[0]]
    if op in BINARY:
        b = nodes[args[1]]
        if op == "add":
            return a + b
        if op == "sub":
            return a - b
        if op == "mul":
            return a * b
        if op == "div_pos":
            return a / (b * b + 0.5)
        if op == "maximum":
            return torch.maximum(a, b)
        if op == "minimum":
            return torch.minimum(a, b)
        if op == "matmul":
            return a @ b
        if op == "where":
            return torch.where(a > 0, a.exp(), b * b)
        if op == "cat":
            return torch.cat([a, b], 0)
        if op == "bmm":
            return torch.matmul(a, b)
    axis = args[1] if len(args) > 1 else 0
    return {
        "neg": lambda: -a,
        "square": lambda: a * a,
        "exp_tanh": lambda: torch.tanh(a).exp(),
        "log_pos": lambda: torch.log(a * a + 0.5),
        "sqrt_pos": lambda: torch.sqrt(a * a + 0.5),
        "abs": lambda: a.abs(),
        "tanh": lambda: torch.tanh(a),
        "sigmoid": lambda: torch.sigmoid(a),
        "relu": lambda: torch.relu(a),
        "sin": lambda: torch.sin(a),
        "cos": lambda: torch.cos(a),
        "atan": lambda: torch.atan(a),
        "log1p_sig": lambda: torch.log1p(torch.sigmoid(a)),
        "expm1": lambda: torch.expm1(torch.tanh(a)),
        "softplus": lambda: torch.nn.functional.softplus(a),
        "powi3": lambda: torch.tanh(a) ** 3,
        "powf_pos": lambda: (a * a + 0.5) ** 1.5,
        "sum": lambda: a.sum(),
        "mean": lambda: a.mean(),
        "sum_axis": lambda: a.sum(axis),
        "mean_axis": lambda: a.mean(axis),
        "softmax": lambda: torch.softmax(a, axis),
        "log_softmax": lambda: torch.log_softmax(a, axis),
        "logsumexp": lambda: torch.logsumexp(a, axis),
        "clamp": lambda: torch.clamp(a, -0.5, 0.5),
        "max_along": lambda: torch.max(a, axis).values,
        "var": lambda: a.var() if a.numel() > 1 else a * 1.0,
        "norm": lambda: torch.linalg.vector_norm(a) if a.numel() > 0 else a,
        "narrow": lambda: torch.narrow(a, axis, 1, a.shape[axis] - 1),
        "permute": lambda: a.permute(*reversed(range(a.dim()))),
    }[op]()


def shape_of(op, args, shapes):
    """The output shape, or None if the op does not apply."""
    sa = shapes[args[0]]
    if op in BINARY:
        sb = shapes[args[1]]
        if op == "matmul":
            if 1 <= len(sa) <= 2 and 1 <= len(sb) <= 2 and sa[-1] == sb[0]:
                return sa[:-1] + sb[1:]
            return None
        if op == "cat":
            if len(sa) >= 1 and len(sa) == len(sb) and sa[1:] == sb[1:]:
                return [sa[0] + sb[0]] + sa[1:]
            return None
        if op == "bmm":
            if len(sa) == 3 and len(sb) in (2, 3) and sa[-1] == sb[-2]:
                try:
                    batch = list(torch.broadcast_shapes(torch.Size(sa[:-2]), torch.Size(sb[:-2])))
                except RuntimeError:
                    return None
                return batch + [sa[-2], sb[-1]]
            return None
        try:
            return list(torch.broadcast_shapes(torch.Size(sa), torch.Size(sb)))
        except RuntimeError:
            return None
    if op in ("sum_axis", "mean_axis", "logsumexp", "max_along"):
        if len(sa) == 0 or args[1] >= len(sa):
            return None
        return sa[: args[1]] + sa[args[1] + 1:]
    if op in ("softmax", "log_softmax"):
        if len(sa) == 0 or args[1] >= len(sa):
            return None
        return sa
    if op in ("sum", "mean", "norm"):
        return []
    if op == "narrow":
        if len(sa) == 0 or args[1] >= len(sa) or sa[args[1]] < 2:
            return None
        return sa[: args[1]] + [sa[args[1]] - 1] + sa[args[1] + 1:]
    if op == "permute":
        return list(reversed(sa)) if len(sa) >= 2 else None
    if op == "var":
        n = math.prod(sa) if sa else 1
        return [] if n > 1 else sa
    return sa


def value(x):
    v = float(x)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def flat(t):
    return [value(v) for v in t.detach().reshape(-1).tolist()] if t.dim() else [value(t)]


def program(rng):
    leaves = []
    for _ in range(rng.randint(1, 3)):
        shape = rng.choice(SHAPES)
        n = math.prod(shape) if shape else 1
        # Mostly ordinary values, sometimes the special points (0, ties).
        data = [rng.choice([0.0, 1.0, -1.0]) if rng.random() < 0.08 else rng.uniform(-2, 2) for _ in range(n)]
        leaves.append({"shape": shape, "data": data})
    shapes = [l["shape"] for l in leaves]
    ops = []
    for _ in range(rng.randint(1, 6)):
        for _attempt in range(20):
            if rng.random() < 0.4:
                op = rng.choice(BINARY)
                args = [rng.randrange(len(shapes)), rng.randrange(len(shapes))]
            else:
                op = rng.choice(UNARY)
                args = [rng.randrange(len(shapes)), rng.randrange(3)]
            s = shape_of(op, args, shapes)
            if s is not None:
                ops.append([op] + args)
                shapes.append(s)
                break
    return {"leaves": leaves, "ops": ops}


def run(p, rng):
    xs = [torch.tensor(l["data"]).reshape(l["shape"]).requires_grad_(True) for l in p["leaves"]]

    def forward(*leaves):
        nodes = list(leaves)
        for op in p["ops"]:
            nodes.append(apply(op[0], op[1:], nodes))
        return nodes[-1]

    out = forward(*xs)
    total = out.sum()
    grads = torch.autograd.grad(total, xs, create_graph=True, allow_unused=True)
    grads = [g if g is not None else torch.zeros_like(x) for g, x in zip(grads, xs)]
    vs = [torch.tensor([rng.uniform(-1, 1) for _ in range(x.numel())]).reshape(x.shape) for x in xs]
    dot = sum((g * v).sum() for g, v in zip(grads, vs))
    if dot.requires_grad:
        hvp = torch.autograd.grad(dot, xs, allow_unused=True)
        hvp = [h if h is not None else torch.zeros_like(x) for h, x in zip(hvp, xs)]
    else:
        hvp = [torch.zeros_like(x) for x in xs]
    tangents = [torch.tensor([rng.uniform(-1, 1) for _ in range(x.numel())]).reshape(x.shape) for x in xs]
    _, jv = torch.func.jvp(lambda *l: forward(*l).sum(), tuple(x.detach() for x in xs), tuple(tangents))
    return {
        "value": flat(out),
        "grads": [flat(g) for g in grads],
        "hvp_v": [flat(v) for v in vs],
        "hvp": [flat(h) for h in hvp],
        "jvp_t": [flat(t) for t in tangents],
        "jvp": value(jv),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--programs", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    cases = []
    while len(cases) < args.programs:
        p = program(rng)
        try:
            p["expected"] = run(p, rng)
        except RuntimeError:
            continue  # an op PyTorch refuses on these shapes: drawn again
        cases.append(p)
    with open(args.out, "w") as f:
        json.dump({"torch": torch.__version__, "seed": args.seed, "programs": cases}, f)


if __name__ == "__main__":
    main()
