"""scikit-learn reference numbers for the diabetes regression example.

Reads the rows an `anneal train` run used (its run folder's `split.json`,
`{"train": [...], "valid": [...], "test": [...]}`, 0-based data rows of the
CSV), standardises the ten features with a StandardScaler fitted on the train
rows only, and fits on the train rows only (the validation rows are not used
for fitting: our run uses them only for early stopping):

  * Ridge(alpha)                     (default alpha 1.0)
  * LinearRegression()
  * RidgeCV(alphas=np.logspace(-3, 3, 13))  (efficient leave-one-out on train)

Prints one JSON object with, per model, the test-set r2, rmse
(sqrt(mean_squared_error)), mae, mape, explained_variance and max_error
(all from sklearn.metrics), plus the versions used.

Run from the repository root (any Python with numpy, pandas and scikit-learn;
numbers recorded with scikit-learn 1.9.1):

    /work/refvenv/bin/python examples/reference/diabetes_ridge.py \
        --split runs/diabetes-1/split.json [--alpha 1.0] [--data PATH]

`diabetes_ridge.json` beside this file is its output on the split of
`examples/configs/diabetes.toml` (seed 42) with `--alpha 0.532` (the config's
l2 = 0.004 over its 266 training rows: alpha = l2 * n / 2); the end-to-end test
`crates/anneal/tests/it/regression.rs` checks the example's test R² against it.
"""
import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn import metrics
from sklearn.linear_model import LinearRegression, Ridge, RidgeCV
from sklearn.preprocessing import StandardScaler

REPO = Path(__file__).resolve().parents[2]


def scores(y_true, y_pred):
    return {
        "r2": metrics.r2_score(y_true, y_pred),
        "rmse": math.sqrt(metrics.mean_squared_error(y_true, y_pred)),
        "mae": metrics.mean_absolute_error(y_true, y_pred),
        "mape": metrics.mean_absolute_percentage_error(y_true, y_pred),
        "explained_variance": metrics.explained_variance_score(y_true, y_pred),
        "max_error": metrics.max_error(y_true, y_pred),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO / "data/sklearn_diabetes_raw.csv.gz"))
    ap.add_argument("--split", required=True, help="split.json from an anneal run folder")
    ap.add_argument("--alpha", type=float, default=1.0, help="Ridge alpha")
    args = ap.parse_args()

    data = pd.read_csv(args.data)
    y = data["target"].to_numpy(dtype=np.float64)
    features = [c for c in data.columns if c != "target"]
    X = data[features].to_numpy(dtype=np.float64)

    with open(args.split) as f:
        split = json.load(f)
    train = np.asarray(split["train"], dtype=np.int64)
    test = np.asarray(split["test"], dtype=np.int64)
    valid = np.asarray(split.get("valid", []), dtype=np.int64)
    n = len(y)
    for name, rows in (("train", train), ("valid", valid), ("test", test)):
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            raise SystemExit(f"{name} rows out of range 0..{n - 1}")
    if np.intersect1d(train, test).size:
        raise SystemExit("train and test rows overlap")

    scaler = StandardScaler().fit(X[train])
    X_train, X_test = scaler.transform(X[train]), scaler.transform(X[test])

    models = {
        "ridge": Ridge(alpha=args.alpha),
        "linear_regression": LinearRegression(),
        "ridge_cv": RidgeCV(alphas=np.logspace(-3, 3, 13)),
    }
    out = {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "data": args.data,
        "split": args.split,
        "rows": {"train": int(train.size), "valid": int(valid.size), "test": int(test.size)},
        "test_rows": [int(r) for r in test],
        "features": features,
        "scaler": "StandardScaler fitted on train rows",
        "models": {},
    }
    for name, model in models.items():
        model.fit(X_train, y[train])
        entry = {"test": scores(y[test], model.predict(X_test)),
                 "train": scores(y[train], model.predict(X_train))}
        if name == "ridge":
            entry["alpha"] = args.alpha
        if name == "ridge_cv":
            entry["alpha"] = float(model.alpha_)
        entry["coef"] = model.coef_.tolist()
        entry["intercept"] = float(model.intercept_)
        out["models"][name] = entry
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
