"""scikit-learn reference for `benches/metrics.rs` (run by `cargo xtask bench eval`).

The same 10^7 predictions, generated bit-identically from a counter-based SplitMix64
(see metrics.rs); timed: accuracy_score, f1_score(average="macro") and
roc_auc_score, each the median of --repeats runs. Prints one JSON line.

    python metrics.py [--n 10000000] [--repeats 5]
"""
import argparse
import json
import platform
import time

import numpy as np
import sklearn
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

GOLDEN, C1, C2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def mix(seed, i):
    z = np.uint64(seed) + (i + np.uint64(1)) * GOLDEN
    z = (z ^ (z >> np.uint64(30))) * C1
    z = (z ^ (z >> np.uint64(27))) * C2
    return z ^ (z >> np.uint64(31))


def uniform(seed, i):
    return (mix(seed, i) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def timed(repeats, f):
    seconds, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = f()
        seconds.append(time.perf_counter() - start)
    return sorted(seconds)[len(seconds) // 2], out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    start = time.perf_counter()
    i = np.arange(a.n, dtype=np.uint64)
    y_true = (mix(1, i) % np.uint64(10)).astype(np.int64)
    y_pred = np.where(uniform(2, i) < 0.7, y_true, (mix(3, i) % np.uint64(10)).astype(np.int64))
    y_bin = (uniform(4, i) < 0.3).astype(np.int64)
    score = 0.35 * y_bin + 0.65 * uniform(5, i)
    generate_s = time.perf_counter() - start

    acc_s, acc = timed(a.repeats, lambda: accuracy_score(y_true, y_pred))
    f1_s, f1 = timed(a.repeats, lambda: f1_score(y_true, y_pred, average="macro"))
    auc_s, auc = timed(a.repeats, lambda: roc_auc_score(y_bin, score))
    print(json.dumps({
        "n": a.n, "repeats": a.repeats, "generate_s": generate_s,
        "sklearn": sklearn.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "seconds_median": {"accuracy": acc_s, "macro_f1": f1_s, "roc_auc": auc_s},
        "values": {"accuracy": float(acc), "macro_f1": float(f1), "roc_auc": float(auc)},
    }))


if __name__ == "__main__":
    main()
