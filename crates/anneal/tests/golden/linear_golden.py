"""Golden numbers for linear models with L2 / L1 penalties on the diabetes data.

Data: data/sklearn_diabetes_raw.csv.gz (442 rows, features age,sex,bmi,bp,s1..s6,
target). X = the ten features standardised over ALL rows with the population
std (StandardScaler), y = target standardised the same way, so coefficients
are O(1) and the optimal intercept is 0.

Our training objective (mean squared error over rows, bias unpenalised):

    J(w, b) = (1/n)·Σ r_i² + l2·½·Σ w_j² + l1·Σ |w_j|,    r = Xw + b − y

  * sklearn Ridge(alpha) minimises ||r||² + alpha·||w||²
        -> same minimiser as ours with l2 = 2·alpha/n (l1 = 0)
  * sklearn Lasso(alpha) minimises (1/(2n))·||r||² + alpha·||w||₁
        -> same minimiser as ours with l1 = 2·alpha (l2 = 0)

Lasso is fitted by coordinate descent to full precision (tol=1e-12,
max_iter=10**6). The script also checks the optimality conditions of OUR
objective at sklearn's solutions (gradient / subgradient), reports our
objective value there, and simulates in numpy our full-batch gradient descent
from w = 0, b = 0:

  * L = 2·λ_max(XᵀX/n) is the Lipschitz constant of ∇(MSE) in w (the bias
    block has curvature 2 < L and is decoupled since X is centred);
  * Ridge: w ← w − lr·(∇_w MSE + l2·w),  b ← b − lr·∇_b MSE
  * Lasso (ISTA): w ← S(w − lr·∇_w MSE, lr·l1),  b ← b − lr·∇_b MSE,
    S(z, t) = sign(z)·max(|z| − t, 0)
  * ∇_w MSE = (2/n)·Xᵀr, ∇_b MSE = (2/n)·Σ r

with lr = 1/L and lr = 1.9/L, in float64 and in float32 (all arrays and the
learning rate float32). "gd" in the JSON gives, per model/dtype/lr, the number
of update steps k after which max_j |w_j − sklearn coef_j| < tol, for tol 1e-4
and 1e-5: "first" is the first such k, "stays" the first k from which it holds
until the end of the simulation (null: never within "max_iters"); "min_err" is
the smallest error seen and "final_err" the error at the last step. For ISTA,
"zero_pattern_stays" is the first k from which exactly the coefficients that
sklearn has at 0 are exactly 0 (and no others).

Regenerate from the repository root (any Python with numpy, pandas, scikit-learn;
recorded with scikit-learn 1.9.1, numpy 2.4.6):

    /work/refvenv/bin/python crates/anneal/tests/golden/linear_golden.py
    # writes crates/anneal/tests/golden/linear_golden.json
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import Lasso, Ridge
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
DATA = REPO / "data/sklearn_diabetes_raw.csv.gz"
OUT = HERE / "linear_golden.json"

RIDGE_ALPHA = 10.0
LASSO_ALPHA = 0.05
TOLS = (1e-4, 1e-5)
MAX_ITERS = {"float64": 20_000, "float32": 20_000}


def soft_threshold(z, t):
    return np.sign(z) * np.maximum(np.abs(z) - t, 0)


def our_objective(X, y, w, b, l2=0.0, l1=0.0):
    r = X @ w + b - y
    return float(np.mean(r**2) + l2 * 0.5 * np.sum(w**2) + l1 * np.sum(np.abs(w)))


def simulate(X, y, coef, kind, reg, lr_factor, L, dtype, max_iters):
    """Full-batch GD (ridge) or ISTA (lasso) from zero; returns the error trace."""
    X = X.astype(dtype)
    y = y.astype(dtype)
    n = X.shape[0]
    lr = dtype(lr_factor / L)
    reg = dtype(reg)
    two_over_n = dtype(2.0 / n)
    w = np.zeros(X.shape[1], dtype=dtype)
    b = dtype(0.0)
    errs = np.empty(max_iters)
    pattern_ok = np.empty(max_iters, dtype=bool)
    zero = coef == 0.0
    bias_abs_max = 0.0
    for k in range(max_iters):
        r = X @ w + b - y
        gw = two_over_n * (X.T @ r)
        gb = two_over_n * r.sum(dtype=dtype)
        if kind == "ridge":
            w = w - lr * (gw + reg * w)
        else:
            w = soft_threshold(w - lr * gw, lr * reg)
        b = b - lr * gb
        assert w.dtype == dtype
        errs[k] = np.max(np.abs(w.astype(np.float64) - coef))
        pattern_ok[k] = np.array_equal(w == 0, zero)
        bias_abs_max = max(bias_abs_max, abs(float(b)))
    return errs, pattern_ok, float(b), bias_abs_max


def summarise(errs):
    out = {}
    for tol in TOLS:
        below = errs < tol
        first = int(np.argmax(below)) + 1 if below.any() else None
        if below[-1]:
            above = np.flatnonzero(~below)
            stays = int(above[-1]) + 2 if above.size else 1
        else:
            stays = None
        out[f"{tol:g}"] = {"first": first, "stays": stays}
    out["min_err"] = float(errs.min())
    out["final_err"] = float(errs[-1])
    out["max_iters"] = len(errs)
    return out


def main():
    data = pd.read_csv(DATA)
    features = [c for c in data.columns if c != "target"]
    X_raw = data[features].to_numpy(dtype=np.float64)
    y_raw = data["target"].to_numpy(dtype=np.float64)
    n = len(y_raw)

    xs = StandardScaler().fit(X_raw)
    ys = StandardScaler().fit(y_raw[:, None])
    X = xs.transform(X_raw)
    y = ys.transform(y_raw[:, None]).ravel()

    eig = np.linalg.eigvalsh(X.T @ X / n)
    L = 2.0 * eig[-1]

    # Ridge
    ridge = Ridge(alpha=RIDGE_ALPHA).fit(X, y)
    l2 = 2.0 * RIDGE_ALPHA / n
    r = X @ ridge.coef_ + ridge.intercept_ - y
    ridge_grad = 2.0 / n * (X.T @ r) + l2 * ridge.coef_
    # closed form of our objective as a cross-check
    w_closed = np.linalg.solve(2.0 / n * X.T @ X + l2 * np.eye(X.shape[1]), 2.0 / n * X.T @ y)

    # Lasso
    lasso = Lasso(alpha=LASSO_ALPHA, tol=1e-12, max_iter=10**6).fit(X, y)
    n_zero = int(np.sum(lasso.coef_ == 0.0))
    if not 2 <= n_zero <= 5:
        raise SystemExit(f"Lasso(alpha={LASSO_ALPHA}) has {n_zero} zero coefficients; pick another alpha")
    l1 = 2.0 * LASSO_ALPHA
    r = X @ lasso.coef_ + lasso.intercept_ - y
    g = 2.0 / n * (X.T @ r)
    nz = lasso.coef_ != 0
    # KKT of our objective: g_j + l1·sign(w_j) = 0 on the support, |g_j| <= l1 off it
    kkt = np.where(nz, np.abs(g + l1 * np.sign(lasso.coef_)), np.maximum(np.abs(g) - l1, 0.0))

    gd = {}
    for kind, coef, reg in (("ridge", ridge.coef_, l2), ("lasso", lasso.coef_, l1)):
        gd[kind] = {}
        for dtype in (np.float64, np.float32):
            dname = np.dtype(dtype).name
            gd[kind][dname] = {}
            for lr_factor in (1.0, 1.9):
                errs, pattern_ok, b_end, bmax = simulate(
                    X, y, coef, kind, reg, lr_factor, L, dtype, MAX_ITERS[dname])
                s = summarise(errs)
                s["lr"] = lr_factor / L
                s["final_bias"] = b_end
                s["max_abs_bias"] = bmax
                if kind == "lasso":
                    # first step from which exactly the sklearn zeros are exactly 0
                    s["zero_pattern_stays"] = (
                        int(np.flatnonzero(~pattern_ok)[-1]) + 2 if not pattern_ok.all() else 1
                    ) if pattern_ok[-1] else None
                gd[kind][dname][f"{lr_factor:g}/L"] = s

    out = {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "data": "data/sklearn_diabetes_raw.csv.gz",
        "features": features,
        "n": n,
        "standardisation": "StandardScaler over all rows (population std, ddof=0) for X and for y",
        "x_mean": xs.mean_.tolist(),
        "x_std": xs.scale_.tolist(),
        "y_mean": float(ys.mean_[0]),
        "y_std": float(ys.scale_[0]),
        "objective": "(1/n)·Σ r² + l2·½·Σ w² + l1·Σ|w|, bias unpenalised",
        "ridge": {
            "sklearn": f"Ridge(alpha={RIDGE_ALPHA})",
            "alpha": RIDGE_ALPHA,
            "l2": l2,
            "coef": ridge.coef_.tolist(),
            "intercept": float(ridge.intercept_),
            "our_objective": our_objective(X, y, ridge.coef_, ridge.intercept_, l2=l2),
            "max_abs_grad_of_our_objective": float(np.max(np.abs(ridge_grad))),
            "max_abs_diff_to_closed_form": float(np.max(np.abs(w_closed - ridge.coef_))),
        },
        "lasso": {
            "sklearn": f"Lasso(alpha={LASSO_ALPHA}, tol=1e-12, max_iter=10**6)",
            "alpha": LASSO_ALPHA,
            "l1": l1,
            "coef": lasso.coef_.tolist(),
            "intercept": float(lasso.intercept_),
            "zero_features": [f for f, c in zip(features, lasso.coef_) if c == 0.0],
            "n_iter": int(lasso.n_iter_),
            "our_objective": our_objective(X, y, lasso.coef_, lasso.intercept_, l1=l1),
            "max_kkt_violation_of_our_objective": float(np.max(kkt)),
        },
        "eigenvalues_XtX_over_n": eig.tolist(),
        "L": L,
        "lr_1_over_L": 1.0 / L,
        "lr_1.9_over_L": 1.9 / L,
        "gd_note": ("iterations = update steps from w=0,b=0 until max_j |w_j - sklearn coef_j| < tol; "
                    "first = first such step, stays = first step from which it holds to max_iters; "
                    "null = never"),
        "gd": gd,
    }
    with open(OUT, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
