"""Golden values for anneal-evaluate's tests, from scikit-learn.

Run (scikit-learn 1.9.1, NumPy 2.x):

    /work/refbench-venv/bin/python tests/golden.py > tests/it/golden.json

The Rust tests read the JSON and run no Python. Non-finite numbers are written as
the strings "nan", "inf" and "-inf"; a call scikit-learn refuses is written as
{"error": "<its message>"}. Labels are passed as `labels=range(n_classes)` wherever
the Rust function takes n_classes and scikit-learn's default label set would differ
(confusion matrix, kappa, log loss, top-k, multi-class ROC-AUC, per-class scores);
precision/recall/F averages, balanced accuracy, MCC and the report use
scikit-learn's default label set (classes in y_true or y_pred), as the Rust code
does.
"""
import json
import math
import warnings

import numpy as np
import scipy
import sklearn
from sklearn import metrics as M

warnings.simplefilter("ignore")
rng = np.random.default_rng(20261127)


def enc(x):
    """JSON-safe: numpy scalars and arrays to Python, non-finite floats to strings."""
    if isinstance(x, dict):
        return {k: enc(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [enc(v) for v in x]
    if isinstance(x, np.ndarray):
        return enc(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    return x


def call(f, *a, **kw):
    try:
        return f(*a, **kw)
    except (ValueError, ZeroDivisionError) as e:
        return {"error": str(e)}


# ---------------------------------------------------------------- label metrics
label_cases = [
    ([0, 1, 2, 2, 1], [0, 2, 2, 2, 1], 3),
    ([0, 0, 1, 1, 2, 3], [0, 1, 1, 1, 3, 3], 4),  # class 2 never predicted
    ([1, 1, 1], [1, 1, 1], 2),  # one class only, perfect
    ([0, 1, 0, 1], [1, 0, 1, 0], 2),  # all wrong
    ([3, 3, 0], [0, 0, 0], 5),  # classes 1, 2, 4 absent everywhere
    ([0, 0, 0, 0], [0, 0, 1, 1], 2),  # y_true one class
    ([1, 1, 0, 0], [1, 1, 1, 1], 2),  # y_pred one class
    ([0], [0], 2),  # one sample
    ([2, 2, 2], [2, 2, 2], 3),  # one class, not the positive one
    ([0, 1], [1, 1], 2),
    ([0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], 6),
    ([1, 0, 1, 1, 0, 1, 0, 0], [1, 0, 0, 1, 0, 1, 1, 0], 2),
    ([0, 2, 0, 2], [0, 0, 2, 2], 3),  # binary data without class 1
    ([0, 1, 2, 3, 4, 0, 1, 2, 3, 4], [0, 2, 2, 4, 4, 1, 1, 3, 3, 3], 5),  # ordinal
    ([0, 0, 0, 1], [1, 1, 1, 1], 3),
    ([0, 0], [2, 2], 3),  # disjoint single classes
]
for n, k, drop_pred in [
    (10, 2, None), (20, 2, None), (50, 3, None), (100, 3, 2), (200, 5, None), (500, 5, 0),
    (1000, 10, None), (30, 4, None), (60, 6, 5), (300, 8, None), (5, 3, None), (40, 7, 3),
]:
    t = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.7, t, rng.integers(0, k, n))
    if drop_pred is not None:  # a class never predicted
        p = np.where(p == drop_pred, (drop_pred + 1) % k, p)
    label_cases.append((t.tolist(), p.tolist(), k))

ZD = {"zero": 0.0, "one": 1.0, "nan": np.nan}
AVERAGES = ["binary", "micro", "macro", "weighted"]
labels_out = []
for t, p, k in label_cases:
    labels = list(range(k))
    prf = []
    for beta in [0.5, 1.0, 2.0]:
        for avg in AVERAGES:
            for zname, z in ZD.items():
                r = call(M.precision_recall_fscore_support, t, p, beta=beta, average=avg, pos_label=1,
                         zero_division=z)
                if isinstance(r, dict):
                    prf.append({"beta": beta, "average": avg, "zero_division": zname, **r})
                else:
                    prf.append({"beta": beta, "average": avg, "zero_division": zname,
                                "precision": r[0], "recall": r[1], "f_score": r[2]})
    per_class = []
    for beta in [0.5, 1.0, 2.0]:
        for zname, z in ZD.items():
            pr, rc, f, s = M.precision_recall_fscore_support(t, p, beta=beta, labels=labels, average=None,
                                                             zero_division=z)
            per_class.append({"beta": beta, "zero_division": zname, "precision": pr, "recall": rc,
                              "f_score": f, "support": s})
    labels_out.append({
        "y_true": t, "y_pred": p, "n_classes": k,
        "accuracy": M.accuracy_score(t, p),
        "macro_f1": M.f1_score(t, p, average="macro", zero_division=0),
        "balanced_accuracy": M.balanced_accuracy_score(t, p),
        "confusion": M.confusion_matrix(t, p, labels=labels),
        "confusion_true": M.confusion_matrix(t, p, labels=labels, normalize="true"),
        "confusion_pred": M.confusion_matrix(t, p, labels=labels, normalize="pred"),
        "confusion_all": M.confusion_matrix(t, p, labels=labels, normalize="all"),
        "prf": prf,
        "per_class": per_class,
        "mcc": M.matthews_corrcoef(t, p),
        "kappa": {w or "unweighted": M.cohen_kappa_score(t, p, labels=labels, weights=w)
                  for w in [None, "linear", "quadratic"]},
        "report": M.classification_report(t, p, zero_division=0),
        "report_4": M.classification_report(t, p, digits=4, zero_division=0),
        "report_nan": M.classification_report(t, p, zero_division=np.nan),
    })


# ---------------------------------------------------------- probability metrics
def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


proba_cases = [
    ([0, 1, 2, 0], np.full((4, 3), 1 / 3)),  # every score tied
    ([0, 1, 2], np.eye(3)),  # perfect and certain
    ([1, 2, 0], np.eye(3)),  # certain and wrong everywhere
    ([0, 1, 0, 1, 1], np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.4, 0.4, 0.2], [0.4, 0.4, 0.2],
                                [0.1, 0.1, 0.8]])),  # class 2 absent from y_true; column ties
    ([0, 0, 0], np.array([[0.5, 0.3, 0.2], [0.6, 0.2, 0.2], [0.2, 0.3, 0.5]])),  # y_true one class
    ([2, 0, 1, 2], np.array([[0.2, 0.4, 0.4], [0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])),  # ties
    ([0, 1, 1, 0], np.array([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5], [0.1, 0.9]])),  # binary, two columns
    ([1, 0], np.array([[0.0, 1.0], [1.0, 0.0]])),  # binary, certain
    ([0, 1, 2, 3, 3, 2], np.array([[0.1, 0.2, 0.3, 0.4]] * 6)),  # same row everywhere
]
for n, k, temp, f32 in [
    (10, 3, 1.0, False), (20, 3, 2.0, False), (50, 4, 1.0, False), (100, 5, 0.5, False),
    (200, 3, 1.0, True), (300, 6, 1.5, False), (500, 10, 1.0, False), (40, 2, 1.0, False),
    (80, 2, 3.0, True), (15, 4, 1.0, False), (60, 7, 1.0, False), (120, 3, 0.2, False),
    (25, 5, 1.0, False),
]:
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) * temp
    logits[np.arange(n), y] += 1.0
    pr = softmax(logits)
    if f32:  # a float32 softmax: rows sum to 1 within ~1e-7 only
        pr = softmax(logits.astype(np.float32)).astype(np.float64)
    proba_cases.append((y.tolist(), pr))
for n, k in [(30, 3), (40, 4)]:  # rounded probabilities: many tied scores
    y = rng.integers(0, k, n)
    counts = rng.multinomial(10, np.ones(k) / k, size=n)
    proba_cases.append((y.tolist(), counts / 10.0))

proba_out = []
for y, pr in proba_cases:
    k = pr.shape[1]
    labels = list(range(k))
    case = {"y_true": y, "y_proba": pr.ravel(), "n_classes": k,
            "log_loss": M.log_loss(y, pr, labels=labels)}
    if k >= 3:
        case["top_k"] = {str(kk): M.top_k_accuracy_score(y, pr, k=kk, labels=labels) for kk in range(1, k + 1)}
        case["roc_auc"] = {
            f"{mc}_{avg}": call(M.roc_auc_score, y, pr, multi_class=mc, average=avg, labels=labels)
            for mc, avg in [("ovr", "macro"), ("ovr", "weighted"), ("ovr", "micro"), ("ovo", "macro"),
                            ("ovo", "weighted")]
        }
    proba_out.append(case)


# ------------------------------------------------------------- binary scores
binary_cases = [
    ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]),
    ([0, 1, 0, 1, 1, 0], [0.5] * 6),  # all tied
    ([0, 1, 0, 1, 1, 0], [0.2, 0.2, 0.5, 0.5, 0.9, 0.1]),  # tied groups
    ([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]),  # separated
    ([1, 1, 1, 0, 0, 0], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]),  # inverted
    ([0, 0, 0, 0], [0.1, 0.5, 0.5, 0.9]),  # no positive
    ([1, 1, 1], [0.3, 0.2, 0.9]),  # no negative
    ([1], [0.3]),  # one sample
    ([0, 1], [0.3, 0.3]),
    ([0, 1, 1, 0, 1], [-2.5, 3.1, 0.0, -0.0, 7.0]),  # decision values; -0.0 ties 0.0
    ([1, 0, 1, 0], [0.0, -0.0, 0.0, 1.0]),  # signed zeros tie
    ([0] * 99 + [1], list(np.linspace(0, 1, 100))),  # one positive
    ([0, 1, 1, 0, 0, 1, 1, 1], [1, 2, 2, 3, 3, 3, 4, 4]),  # integer scores
]
for n, p_pos, decimals in [
    (10, 0.5, None), (50, 0.3, 1), (100, 0.5, None), (200, 0.1, 2), (500, 0.4, None), (1000, 0.5, 1),
    (30, 0.7, None), (75, 0.5, 0), (150, 0.2, None), (400, 0.6, 2), (20, 0.5, 1),
]:
    y = (rng.random(n) < p_pos).astype(int)
    s = np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1)
    if decimals is not None:
        s = np.round(s, decimals)
    binary_cases.append((y.tolist(), s.tolist()))

binary_out = []
for y, s in binary_cases:
    y, s = list(y), [float(v) for v in s]
    roc = M.roc_curve(y, s)
    roc_all = M.roc_curve(y, s, drop_intermediate=False)
    pr = M.precision_recall_curve(y, s)
    pr_drop = M.precision_recall_curve(y, s, drop_intermediate=True)
    binary_out.append({
        "y_true": y, "y_score": s,
        "roc_auc": call(M.roc_auc_score, y, s),
        "roc_curve": {"fpr": roc[0], "tpr": roc[1], "thresholds": roc[2]},
        "roc_curve_all": {"fpr": roc_all[0], "tpr": roc_all[1], "thresholds": roc_all[2]},
        "pr_curve": {"precision": pr[0], "recall": pr[1], "thresholds": pr[2]},
        "pr_curve_drop": {"precision": pr_drop[0], "recall": pr_drop[1], "thresholds": pr_drop[2]},
        "average_precision": M.average_precision_score(y, s),
        "brier": call(M.brier_score_loss, y, s, pos_label=1),
    })


# ---------------------------------------------------------------- regression
reg_cases = [
    ([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]),
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),  # perfect
    ([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]),  # constant target, imperfect
    ([2.0, 2.0], [2.0, 2.0]),  # constant target, perfect
    ([4.0], [3.0]),  # one sample: R² is NaN
    ([0.0, 1.0, 0.0, 2.0], [0.5, 1.0, 0.0, 2.5]),  # zeros in y_true: MAPE huge
    ([1.0, 2.0, 3.0, 4.0, 5.0], [1.5, 2.5, 3.5, 4.5, 5.5]),  # constant bias: EV 1
    ([1e6, 2e6, 3e6], [1.1e6, 1.9e6, 3.2e6]),
    ([-3.0, -1.0, -2.0, -5.0], [-2.0, -1.5, -2.5, -4.0]),
    ([1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]),  # anti-correlated: R² < 0
]
for n, noise, scale in [
    (2, 0.5, 1.0), (3, 1.0, 10.0), (10, 0.1, 1.0), (50, 2.0, 5.0), (100, 0.5, 100.0), (1000, 1.0, 1.0),
    (11, 3.0, 1.0), (200, 0.01, 1e3), (25, 1.0, 1e-3), (500, 0.2, 1.0), (7, 1.0, 1.0), (64, 5.0, 2.0),
]:
    t = rng.normal(size=n) * scale + scale
    p = t + rng.normal(size=n) * noise * scale
    reg_cases.append((t.tolist(), p.tolist()))

reg_out = []
for t, p in reg_cases:
    reg_out.append({
        "y_true": t, "y_pred": p,
        "mse": M.mean_squared_error(t, p),
        "rmse": M.root_mean_squared_error(t, p),
        "mae": M.mean_absolute_error(t, p),
        "median_absolute_error": M.median_absolute_error(t, p),
        "mape": M.mean_absolute_percentage_error(t, p),
        "r2": M.r2_score(t, p),
        "explained_variance": M.explained_variance_score(t, p),
        "max_error": M.max_error(t, p),
    })

print(json.dumps(enc({
    "sklearn": sklearn.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
    "labels": labels_out, "proba": proba_out, "binary": binary_out, "regression": reg_out,
}), separators=(",", ":")))
