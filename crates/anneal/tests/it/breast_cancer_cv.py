"""Reference for the breast-cancer cross-validation test (tests/it/cv.rs).

scikit-learn's StandardScaler + LogisticRegression (defaults: L2, C = 1, lbfgs),
5-fold stratified CV (shuffled, random_state 0) on data/sklearn_breast_cancer.csv.gz.
Writes the folds' test rows (0-based data rows) and the per-fold and mean test
accuracy, so the Rust test trains on exactly these folds and runs no Python.

Run from the repository root (scikit-learn 1.9.1):

    /work/refbench-venv/bin/python crates/anneal/tests/it/breast_cancer_cv.py \
        > crates/anneal/tests/it/breast_cancer_cv.json
"""
import json
import sys

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

data = pd.read_csv("data/sklearn_breast_cancer.csv.gz")
y = data["target"].to_numpy()
X = data.drop(columns="target").to_numpy()

cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
folds = [test.tolist() for _, test in cv.split(X, y)]
# The pipeline refits the scaler inside every fold.
model = make_pipeline(StandardScaler(), LogisticRegression())
scores = cross_validate(model, X, y, cv=cv, scoring="accuracy", return_train_score=True)

json.dump(
    {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "model": "make_pipeline(StandardScaler(), LogisticRegression())",
        "cv": "StratifiedKFold(n_splits=5, shuffle=True, random_state=0)",
        "rows": len(y),
        "test_rows": folds,
        "test_accuracy": scores["test_score"].tolist(),
        "train_accuracy": scores["train_score"].tolist(),
        "mean_test_accuracy": float(scores["test_score"].mean()),
        "std_test_accuracy": float(scores["test_score"].std()),
    },
    sys.stdout,
)
sys.stdout.write("\n")
