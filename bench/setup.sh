#!/usr/bin/env bash
# The peers' environment: a virtual environment beside this script with pinned NumPy,
# PyTorch (CPU), JAX and micrograd from PyPI, and the data tools W4 and W5 compare with. Run once; compare.sh uses it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python3 -m venv "$here/.venv"
"$here/.venv/bin/pip" install --quiet --upgrade pip
"$here/.venv/bin/pip" install --quiet \
    numpy==2.4.6 \
    torch==2.15.0 \
    jax==0.10.2 jaxlib==0.10.2 \
    micrograd==0.1.0 \
    pandas statsmodels==0.15.0 polars==2.1.0 scikit-learn==1.9.1
"$here/.venv/bin/python" -c 'import numpy, torch, jax, micrograd, statsmodels, polars, sklearn; print("numpy", numpy.__version__, "torch", torch.__version__, "jax", jax.__version__, "statsmodels", statsmodels.__version__, "polars", polars.__version__, "scikit-learn", sklearn.__version__)'
