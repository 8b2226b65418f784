#!/usr/bin/env python3
"""scikit-learn baseline: TF-IDF + logistic regression on fine_foods (review -> great/other).

The classical anchor a neural text model has to beat.
Features: TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), otherwise defaults
  (lowercase, token_pattern r"(?u)\\b\\w\\w+\\b", l2 norm, smooth idf), fitted on the train file only.
Model: LogisticRegression(C=--C (1.0), solver lbfgs, max_iter=--max-iter (1000)), label great = 1.
Reported: test accuracy and macro-F1, and wall times (median over --repeats) of vectoriser fit_transform
  on train, LR fit, and transform + predict on test.  scikit-learn runs this single-threaded
  (threadpoolctl limits BLAS/OpenMP to --threads).

Copied from the workplace's shared/bench/text_baseline.py into Anneal's repository so a clone can rerun the
comparison.  One change: the default --train and --test are Anneal's bundled
data/fine_foods.csv.gz, whose `part` column (train / test) holds the same two files' rows in the same
order; a file without that column is read whole, as before.

Prints one JSON line.  Example:
  python text_baseline.py --out text_baseline.json
"""
import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import emit, env_info, median  # noqa: E402


def default_dataset(name):
    return os.path.join(HERE, "..", "..", "data", "fine_foods.csv.gz")


def read_part(path, part):
    """The rows of `path` whose `part` is `part`; every row of a file without a `part` column."""
    import pandas as pd
    df = pd.read_csv(path)
    return df[df["part"] == part].reset_index(drop=True) if "part" in df.columns else df


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", default=default_dataset("fine_foods_train.csv.gz"))
    ap.add_argument("--test", default=default_dataset("fine_foods_test.csv.gz"))
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--max-iter", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0, help="LogisticRegression random_state (lbfgs is deterministic)")
    ap.add_argument("--out")
    a = ap.parse_args()

    import pandas as pd
    import sklearn
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from threadpoolctl import threadpool_limits

    res = {"bench": "text_baseline", "framework": "scikit-learn", "sklearn": sklearn.__version__,
           "env": env_info(),
           "config": vars(a) | {"vectorizer": "TfidfVectorizer(ngram_range=(1,2), min_df=2, sublinear_tf=True)",
                                "model": f"LogisticRegression(C={a.C}, max_iter={a.max_iter}, solver='lbfgs')"}}
    tr, te = read_part(a.train, "train"), read_part(a.test, "test")
    ytr = (tr["score"] == "great").to_numpy(np.int64)
    yte = (te["score"] == "great").to_numpy(np.int64)
    runs = []
    with threadpool_limits(limits=a.threads):
        for r in range(a.repeats):
            la0 = os.getloadavg()
            vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
            t0 = time.perf_counter()
            Xtr = vec.fit_transform(tr["review"])
            t1 = time.perf_counter()
            clf = LogisticRegression(C=a.C, max_iter=a.max_iter, random_state=a.seed)
            clf.fit(Xtr, ytr)
            t2 = time.perf_counter()
            pred = clf.predict(vec.transform(te["review"]))
            t3 = time.perf_counter()
            runs.append({"vectorize_fit_s": t1 - t0, "lr_fit_s": t2 - t1, "fit_total_s": t2 - t0,
                         "predict_s": t3 - t2, "n_iter": int(clf.n_iter_[0]), "n_features": int(Xtr.shape[1]),
                         "test_acc": float(accuracy_score(yte, pred)),
                         "test_macro_f1": float(f1_score(yte, pred, average="macro")),
                         "loadavg_start": list(la0), "loadavg_end": list(os.getloadavg())})
            print(f"# repeat {r}: acc {runs[-1]['test_acc']:.4f} F1 {runs[-1]['test_macro_f1']:.4f} "
                  f"fit {runs[-1]['fit_total_s']:.3f}s (loadavg {la0[0]:.2f})", file=sys.stderr, flush=True)
    res.update({
        "test_acc": runs[0]["test_acc"], "test_macro_f1": runs[0]["test_macro_f1"],
        "majority_class_acc": float(max(yte.mean(), 1 - yte.mean())),
        "n_features": runs[0]["n_features"], "lr_n_iter": runs[0]["n_iter"],
        "vectorize_fit_s_median": median([x["vectorize_fit_s"] for x in runs]),
        "lr_fit_s_median": median([x["lr_fit_s"] for x in runs]),
        "fit_total_s_median": median([x["fit_total_s"] for x in runs]),
        "predict_s_median": median([x["predict_s"] for x in runs]),
        "runs": runs,
    })
    emit(res, a.out)


if __name__ == "__main__":
    main()
