#!/usr/bin/env bash
# The PyTorch comparisons, in the environment bench/setup.sh makes: the special-point
# figures and the committed differential set are rewritten (check `git diff`: they should
# not change), then N random programs (default 5000) are generated at a seed and run.
#   bash tests/torch/run.sh [N] [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-5000}"
seed="${2:-1}"
bench/.venv/bin/python -c 'import torch' 2>/dev/null || bash bench/setup.sh
py=bench/.venv/bin/python
$py tests/torch/special_points.py 2>/dev/null > crates/tape/tests/data/torch_special_points.json
$py tests/torch/differential.py --programs 400 --seed 19 --out crates/tape/tests/data/differential.json 2>/dev/null
out="$(mktemp --suffix=.json)"
$py tests/torch/differential.py --programs "$n" --seed "$seed" --out "$out" 2>/dev/null
cargo test -q -p descent-tape --test special_points --test differential
DIFFERENTIAL="$out" cargo test -q -p descent-tape --test differential -- --ignored --nocapture 2>&1 | grep -E "agree|disagree|^program"
rm -f "$out"
