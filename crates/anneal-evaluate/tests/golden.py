"""Golden values for anneal-evaluate's tests, from scikit-learn.

Run: python golden.py > it/golden.json   (the Rust tests read the JSON; they run no Python)
"""
import json

import numpy as np
import sklearn
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

rng = np.random.default_rng(0)
cases = [
    ([0, 1, 2, 2, 1], [0, 2, 2, 2, 1]),
    ([0, 0, 1, 1, 2, 3], [0, 1, 1, 1, 3, 3]),  # class 2 never predicted
    ([1, 1, 1], [1, 1, 1]),  # one class only
    ([0, 1, 0, 1], [1, 0, 1, 0]),  # all wrong
    ([3, 3, 0], [0, 0, 0]),  # labels 1 and 2 absent everywhere
]
for n, k in [(10, 2), (50, 3), (200, 5), (1000, 10)]:
    t = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.7, t, rng.integers(0, k, n))
    cases.append((t.tolist(), p.tolist()))

out = {"sklearn": sklearn.__version__, "cases": []}
for t, p in cases:
    k = max(t + p) + 1
    out["cases"].append({
        "y_true": t,
        "y_pred": p,
        "accuracy": accuracy_score(t, p),
        "macro_f1": f1_score(t, p, average="macro", zero_division=0),
        "confusion_matrix": confusion_matrix(t, p, labels=list(range(k))).tolist(),
    })
print(json.dumps(out))
