"""Expected values for anneal-data's numerics, computed by scikit-learn.

Run from this folder:  python make_golden.py > golden.json
The Rust tests (tests/it/golden.rs) read golden.json; they run no Python.
"""
import json

import numpy as np
import sklearn
from sklearn.decomposition import PCA
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import (MaxAbsScaler, MinMaxScaler, OneHotEncoder, PolynomialFeatures,
                                   PowerTransformer, RobustScaler, StandardScaler)

rng = np.random.default_rng(2026)


def nan_list(a):
    return [[None if np.isnan(v) else float(v) for v in row] for row in np.asarray(a, dtype=float)]


out = {"sklearn": sklearn.__version__}

# A matrix with missing cells, skew and different scales.
X = np.column_stack([
    rng.normal(10, 3, 40),
    rng.lognormal(0, 1, 40),
    rng.integers(0, 5, 40).astype(float),
    rng.uniform(-50, 50, 40),
])
Xm = X.copy()
Xm[rng.random(X.shape) < 0.15] = np.nan
Xt = X[:10] * 1.3 + 0.5  # "new" rows for transform
Xt[2, 1] = np.nan
out["x_missing"] = nan_list(Xm)
out["x_new"] = nan_list(Xt)

out["simple_imputer"] = {}
for name, kw in [("mean", {}), ("median", {}), ("most_frequent", {}), ("constant", {"fill_value": -7.5})]:
    imp = SimpleImputer(strategy=name, **kw).fit(Xm)
    out["simple_imputer"][name] = {"statistics": imp.statistics_.tolist(), "transform_new": imp.transform(Xt).tolist()}
imp = SimpleImputer(strategy="median", add_indicator=True).fit(Xm)
out["simple_imputer"]["median_indicator"] = imp.transform(Xm).tolist()

out["knn_imputer"] = {}
for weights in ["uniform", "distance"]:
    imp = KNNImputer(n_neighbors=3, weights=weights).fit(Xm)
    out["knn_imputer"][weights] = {"fit_transform": imp.transform(Xm).tolist(), "transform_new": imp.transform(Xt).tolist()}

# Scalers on complete data (and NaN-aware on missing data).
out["x"] = X.tolist()
scalers = {
    "standard": StandardScaler(),
    "min_max": MinMaxScaler(feature_range=(-1, 2)),
    "robust": RobustScaler(),
    "max_abs": MaxAbsScaler(),
}
out["scalers"] = {}
for name, s in scalers.items():
    s.fit(X)
    out["scalers"][name] = {"transform_new": s.transform(X[:10] * 1.3 + 0.5).tolist(),
                            "missing_fit_transform": nan_list(type(s)(**s.get_params()).fit(Xm).transform(Xm))}

# Power transforms: Box-Cox needs positive data.
P = np.column_stack([rng.lognormal(0, 0.8, 50), rng.gamma(2.0, 2.0, 50), rng.uniform(0.5, 3, 50)])
Y = np.column_stack([rng.normal(0, 2, 50) ** 3, rng.normal(5, 1, 50), -rng.lognormal(0, 1, 50)])
out["power"] = {"positive": P.tolist(), "real": Y.tolist()}
for method, data in [("box-cox", P), ("yeo-johnson", Y)]:
    for std in [True, False]:
        pt = PowerTransformer(method=method, standardize=std).fit(data)
        out["power"][f"{method}_{std}"] = {"lambdas": pt.lambdas_.tolist(), "transform": pt.transform(data).tolist()}

# One-hot with an unknown category at transform time.
cats = np.array([["b", "x"], ["a", "y"], ["c", "x"], ["a", "x"], ["b", "z"]], dtype=object)
new_cats = np.array([["a", "z"], ["d", "y"]], dtype=object)
enc = OneHotEncoder(handle_unknown="ignore").fit(cats)
out["one_hot"] = {"fit": cats.tolist(), "new": new_cats.tolist(), "transform_new": enc.transform(new_cats).toarray().tolist(),
                  "names": enc.get_feature_names_out(["c1", "c2"]).tolist()}

# Polynomial features.
Q = rng.normal(0, 1, (6, 3))
out["poly"] = {"x": Q.tolist()}
for degree, inter, bias in [(3, False, True), (2, True, False), (2, False, False)]:
    pf = PolynomialFeatures(degree=degree, interaction_only=inter, include_bias=bias).fit(Q)
    out["poly"][f"{degree}_{inter}_{bias}"] = {"transform": pf.transform(Q).tolist(),
                                               "names": pf.get_feature_names_out(["a", "b", "c"]).tolist()}

# PCA.
Z = rng.normal(0, 1, (60, 5)) @ rng.normal(0, 1, (5, 5)) + rng.normal(0, 0.1, (60, 5))
out["pca"] = {"x": Z.tolist()}
for k, whiten in [(3, False), (3, True), (5, False)]:
    p = PCA(n_components=k, whiten=whiten, svd_solver="full").fit(Z)
    out["pca"][f"{k}_{whiten}"] = {"components": p.components_.tolist(), "explained_variance": p.explained_variance_.tolist(),
                                   "explained_variance_ratio": p.explained_variance_ratio_.tolist(),
                                   "transform": p.transform(Z[:8]).tolist()}
p = PCA(n_components=0.9, svd_solver="full").fit(Z)
out["pca"]["fraction_0.9_n"] = int(p.n_components_)

# Fold sizes.
out["kfold"] = {}
for n, k in [(23, 5), (10, 3), (100, 7)]:
    out["kfold"][f"{n}_{k}"] = [len(t) for _, t in KFold(n_splits=k).split(np.zeros(n))]
labels = rng.choice([2, 0, 1], size=57, p=[0.5, 0.3, 0.2])
out["stratified"] = {"labels": labels.tolist()}
for k in [3, 5]:
    folds = list(StratifiedKFold(n_splits=k).split(np.zeros(len(labels)), labels))
    out["stratified"][str(k)] = {"sizes": [len(t) for _, t in folds],
                                 "class_counts": [np.bincount(labels[t], minlength=3).tolist() for _, t in folds]}

print(json.dumps(out))
