"""Reference figures for descent's OLS report and its lasso / elastic net, from
statsmodels and scikit-learn, on a generated file. Run from the repository root:

    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install statsmodels scikit-learn
    /tmp/refenv/bin/python tests/reference/ols_reference.py

It writes tests/data/reference/ols.csv (the data) and ols_reference.json (the figures,
with the versions that made them); tests/cli.rs compares descent's --json with them.
"""
import json
import numpy as np
import statsmodels
import statsmodels.api as sm
import sklearn
from sklearn.linear_model import ElasticNet, Lasso

rng = np.random.default_rng(20261205)
n = 200
x1 = rng.normal(10.0, 2.0, n)
x2 = rng.uniform(-1.0, 1.0, n) * 1000.0
x3 = 0.5 * x1 + rng.normal(0.0, 0.3, n)  # correlated with x1
x4 = rng.normal(0.0, 1.0, n)  # pure noise: lasso sets it to 0
x5 = rng.normal(0.0, 1.0, n)  # pure noise
noise = rng.normal(0.0, 1.0, n) * (0.5 + np.abs(x4))  # heteroskedastic
y = 3.0 + 1.5 * x1 - 0.002 * x2 + 0.8 * x3 + noise
X = np.column_stack([x1, x2, x3, x4, x5])
names = ["x1", "x2", "x3", "x4", "x5"]

with open("tests/data/reference/ols.csv", "w") as f:
    f.write(",".join(names + ["y"]) + "\n")
    for i in range(n):
        f.write(",".join(repr(float(v)) for v in list(X[i]) + [y[i]]) + "\n")

exog = sm.add_constant(X, prepend=False)  # descent lists the intercept last
out = {"versions": {"statsmodels": statsmodels.__version__, "sklearn": sklearn.__version__, "numpy": np.__version__}}
for cov in ["nonrobust", "HC0", "HC1", "HC2", "HC3"]:
    res = sm.OLS(y, exog).fit(cov_type=cov, use_t=True)
    out[cov] = {
        "params": res.params.tolist(),
        "bse": res.bse.tolist(),
        "tvalues": res.tvalues.tolist(),
        "pvalues": res.pvalues.tolist(),
        "conf_int": res.conf_int(0.05).tolist(),
        "fvalue": float(res.fvalue),
        "f_pvalue": float(res.f_pvalue),
        "rsquared": res.rsquared,
        "rsquared_adj": res.rsquared_adj,
        "scale_sqrt": float(np.sqrt(res.scale)),
        "llf": res.llf,
        "aic": res.aic,
        "bic": res.bic,
        "condition_number": float(res.condition_number),
        "df_resid": res.df_resid,
        "df_model": res.df_model,
    }

# descent's objective mean((Xw + b - y)^2) + l2*|w|^2 + l1*|w|_1 is twice scikit-learn's
# |y - Xw - b|^2/(2n) + alpha*rho*|w|_1 + alpha*(1-rho)/2*|w|^2 with
# alpha = l1/2 + l2, rho = (l1/2)/alpha.
for key, l1, l2 in [("lasso", 0.4, 0.0), ("elastic_net", 0.4, 0.3)]:
    alpha = l1 / 2 + l2
    rho = (l1 / 2) / alpha
    if l2 == 0.0:
        m = Lasso(alpha=alpha, tol=1e-14, max_iter=1_000_000).fit(X, y)
    else:
        m = ElasticNet(alpha=alpha, l1_ratio=rho, tol=1e-14, max_iter=1_000_000).fit(X, y)
    out[key] = {"l1": l1, "l2": l2, "coef": m.coef_.tolist(), "intercept": float(m.intercept_)}

with open("tests/data/reference/ols_reference.json", "w") as f:
    json.dump(out, f, indent=1)
print(json.dumps(out["lasso"]), json.dumps(out["elastic_net"]))
print("condition number", out["nonrobust"]["condition_number"])

# ---- categorical columns: statsmodels' formula API on a file with text columns ----
import statsmodels.formula.api as smf
import pandas as pd

rng = np.random.default_rng(7)
n = 120
colors = np.array(["red", "green", "blue"])[rng.integers(0, 3, n)]
sizes = np.array(["S", "M", "L"])[rng.integers(0, 3, n)]
x = rng.normal(5.0, 2.0, n)
effect = {"red": 1.5, "green": -0.7, "blue": 0.0}
seffect = {"S": 0.0, "M": 0.4, "L": 1.1}
y = 2.0 + 0.8 * x + np.array([effect[c] for c in colors]) + np.array([seffect[s] for s in sizes]) + rng.normal(0, 0.5, n)
df = pd.DataFrame({"color": colors, "x": x, "size": sizes, "y": y})
with open("tests/data/reference/categorical.csv", "w") as f:
    f.write("color,x,size,y\n")
    for i in range(n):
        f.write(f"{colors[i]},{float(x[i])!r},{sizes[i]},{float(y[i])!r}\n")
res = smf.ols("y ~ C(color) + x + C(size)", data=df).fit()
cat = {
    "params": {k.replace("C(", "").replace(")[", "["): v for k, v in res.params.items()},
    "bse": {k.replace("C(", "").replace(")[", "["): v for k, v in res.bse.items()},
    "rsquared": res.rsquared,
    "scale_sqrt": float(np.sqrt(res.scale)),
}
with open("tests/data/reference/categorical_reference.json", "w") as f:
    json.dump({"versions": out["versions"], "ols": cat}, f, indent=1)
print(json.dumps(cat["params"]))
