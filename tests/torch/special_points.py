"""PyTorch's figures at the special points of descent's derivative rules (float64).

Run from the repository root with the bench environment (bash bench/setup.sh):
    bench/.venv/bin/python tests/torch/special_points.py > crates/tape/tests/data/torch_special_points.json
The Rust test `special_points_follow_pytorch` (crates/tape/tests/special_points.rs)
reads the JSON; CI needs no PyTorch.
"""
import json
import math

import torch

torch.set_default_dtype(torch.float64)


def num(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0.0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    return v


def grad(f, x0):
    x = torch.tensor(x0, requires_grad=True)
    (g,) = torch.autograd.grad(f(x), x)
    return num(g)


def grad_vec(f, x0):
    x = torch.tensor(x0, requires_grad=True)
    (g,) = torch.autograd.grad(f(x), x)
    return g


def grad2(f, x0):
    x = torch.tensor(x0, requires_grad=True)
    (g,) = torch.autograd.grad(f(x), x, create_graph=True)
    (h,) = torch.autograd.grad(g, x)
    return num(h)


def jvp(f, x0):
    _, t = torch.func.jvp(f, (torch.tensor(x0),), (torch.tensor(1.0),))
    return num(t)


cases = {
    # pow with exponent 0 at 0: the gradient is 0 (not 0·0⁻¹).
    "powi0_grad_at_0": grad(lambda x: x ** 0, 0.0),
    "powf0_grad_at_0": grad(lambda x: x ** 0.0, 0.0),
    # exponent 1 at 0: the second derivative is 0.
    "powi1_second_at_0": grad2(lambda x: x ** 1, 0.0),
    "powf1_second_at_0": grad2(lambda x: x ** 1.0, 0.0),
    # relu selects: the branch not taken gets 0 whatever the adjoint (sqrt'(0) = ∞).
    "sqrt_relu_grad_at_-1": grad(lambda x: torch.sqrt(torch.relu(x)), -1.0),
    # tanh and sigmoid with an infinite adjoint: ∞·(1 − y²) and ∞·y(1 − y).
    "sqrt_tanh_grad_at_0": grad(lambda x: torch.sqrt(torch.tanh(x)), 0.0),
    "sqrt_sigmoid_minus_half_grad_at_0": grad(lambda x: torch.sqrt(torch.sigmoid(x) - 0.5), 0.0),
    # On the path, 0·∞ is NaN.
    "sqrt_times_zero_grad_at_0": grad(lambda x: torch.sqrt(x) * 0.0, 0.0),
    # Forward mode: a constant through an infinite derivative adds nothing.
    "jvp_x_plus_sqrt_const_0": jvp(lambda x: x + torch.sqrt(torch.zeros(())), 2.0),
    "jvp_powi0_at_0": jvp(lambda x: x ** 0, 0.0),
    "jvp_sqrt_relu_at_-1": jvp(lambda x: torch.sqrt(torch.relu(x)), -1.0),
    # maximum and minimum: a tie splits the gradient; the branch not taken gets 0 even
    # under an infinite adjoint.
    "maximum_tie_grad": grad(lambda x: torch.maximum(x, torch.tensor(1.0)), 1.0),
    "sqrt_minimum_grad_at_1": grad(lambda x: torch.sqrt(torch.minimum(x, torch.tensor(0.0))), 1.0),
    # softplus: the identity above its threshold of 20, and its slope there is 1.
    "softplus_at_30": num(torch.nn.functional.softplus(torch.tensor(30.0))),
    "softplus_grad_at_30": grad(torch.nn.functional.softplus, 30.0),
    "softplus_grad_at_-3": grad(torch.nn.functional.softplus, -3.0),
    "log1p_grad_at_-0.5": grad(torch.log1p, -0.5),
    "expm1_grad_at_1e-10": grad(torch.expm1, 1e-10),
    # Functions built from the ops (tape::Functions).
    "logsumexp_of_1000_1000": num(torch.logsumexp(torch.tensor([1000.0, 1000.0]), 0)),
    "logsumexp_grad_0_of_1000_1000": num(grad_vec(lambda x: torch.logsumexp(x, 0), [1000.0, 1000.0])[0]),
    "log_softmax_of_0_1000": num(torch.log_softmax(torch.tensor([0.0, 1000.0]), 0)[0]),
    "logsumexp_of_all_-inf": num(torch.logsumexp(torch.tensor([-math.inf, -math.inf]), 0)),
    "logsumexp_grad_of_all_-inf": [num(v) for v in grad_vec(lambda x: torch.logsumexp(x, 0), [-math.inf, -math.inf])],
    "logsumexp_of_inf_1": num(torch.logsumexp(torch.tensor([math.inf, 1.0]), 0)),
    "logsumexp_grad_of_inf_1": [num(v) for v in grad_vec(lambda x: torch.logsumexp(x, 0), [math.inf, 1.0])],
    "var_unbiased_1234": num(torch.tensor([1.0, 2.0, 3.0, 4.0]).var()),
    "std_population_1234": num(torch.tensor([1.0, 2.0, 3.0, 4.0]).std(correction=0)),
    "std_grad_0_of_constant": num(grad_vec(lambda x: x.std(), [2.0, 2.0, 2.0])[0]),
    "norm_grad_0_at_zero": num(grad_vec(lambda x: torch.linalg.vector_norm(x), [0.0, 0.0])[0]),
    "clamp_grad_at_upper_bound": grad(lambda x: torch.clamp(x, -1.0, 1.0), 1.0),
    "clamp_grad_outside": grad(lambda x: torch.clamp(x, -1.0, 1.0), 2.0),
    "clamp_of_nan": num(torch.clamp(torch.tensor(float("nan")), -1.0, 1.0)),
    "max_dim_grad_with_tie": [num(v) for v in grad_vec(lambda x: torch.max(x, 1).values.sum(), [[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]]).flatten()],
    "min_dim_grad_with_tie": [num(v) for v in grad_vec(lambda x: torch.min(x, 0).values.sum(), [[1.0, 3.0], [1.0, 0.0]]).flatten()],
    "where_grad_other_branch_infinite": [num(v) for v in grad_vec(lambda x: torch.sqrt(torch.where(torch.tensor([True, False]), x, torch.zeros(2))).sum(), [4.0, 4.0])],
    "sum_dims_-1_0": [num(v) for v in torch.arange(24.0).reshape(2, 3, 4).sum(dim=(-1, 0))],
    "mean_dims_0_2_keepdim": [num(v) for v in torch.arange(24.0).reshape(2, 3, 4).mean(dim=(0, 2), keepdim=True).flatten()],
    # Structure: narrow, cat, stack, permute, index_select, batched matmul.
    "narrow_grad": [num(v) for v in grad_vec(lambda x: (torch.narrow(x, 0, 1, 2) * torch.tensor([2.0, 3.0])).sum(), [1.0, 2.0, 3.0, 4.0])],
    "cat_values": [num(v) for v in torch.cat([torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0]])], 1).flatten()],
    "stack_values": [num(v) for v in torch.stack([torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])], 1).flatten()],
    "permute_values": [num(v) for v in torch.arange(24.0).reshape(2, 3, 4).permute(2, 0, 1).flatten()],
    "index_select_grad_repeats": [num(v) for v in grad_vec(lambda x: torch.index_select(x, 0, torch.tensor([2, 0, 2])).sum(), [1.0, 2.0, 3.0])],
    "bmm_broadcast_values": [num(v) for v in (torch.arange(12.0).reshape(2, 2, 3) @ torch.arange(6.0).reshape(3, 2)).flatten()],
    "gather_values_dim1": [num(v) for v in torch.gather(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), 1, torch.tensor([[2, 0], [1, 1]])).flatten()],
    "gather_grad_dim1": [num(v) for v in grad_vec(lambda x: torch.gather(x, 1, torch.tensor([[2, 0], [1, 1]])).sum(), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).flatten()],
    "gather_values_dim0": [num(v) for v in torch.gather(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), 0, torch.tensor([[1, 0, 1]])).flatten()],
    # Signed zeros of reductions.
    "sum_of_empty": num(torch.zeros(0).sum()),
    "mean_of_minus_zero": num(torch.tensor([-0.0]).mean()),
    "sum_of_minus_zeros": num(torch.tensor([-0.0, -0.0]).sum()),
}
print(json.dumps({"torch": torch.__version__, "cases": cases}, indent=1, ensure_ascii=False))
