"""Expected values for anneal-data's numerics, computed by scikit-learn.

Run from this folder:  python make_golden.py > golden.json
The Rust tests (tests/it/golden.rs) read golden.json; they run no Python.
"""
import json

import numpy as np
import sklearn
from sklearn.decomposition import PCA
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import (MaxAbsScaler, MinMaxScaler, OneHotEncoder, OrdinalEncoder, PolynomialFeatures,
                                   PowerTransformer, RobustScaler, StandardScaler, TargetEncoder)

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

# Iterative imputation with a ridge estimator (mean start, ascending order).
out["iterative_imputer"] = {}
for max_iter, tol in [(10, 1e-3), (3, 0.0)]:
    imp = IterativeImputer(estimator=Ridge(alpha=1.0), max_iter=max_iter, tol=tol, random_state=0)
    fitted = imp.fit_transform(Xm)
    out["iterative_imputer"][f"{max_iter}"] = {"tol": tol, "fit_transform": fitted.tolist(),
                                               "transform_new": imp.transform(Xt).tolist(), "n_iter": int(imp.n_iter_)}

# One-hot with infrequent categories, a dropped column and unknown categories.
skew = np.array([[v] for v in "aaaaabbbbccdde"], dtype=object)
skew_new = np.array([["a"], ["d"], ["zz"], ["e"], ["b"]], dtype=object)
out["one_hot_options"] = {"fit": [r[0] for r in skew], "new": [r[0] for r in skew_new]}
for name, kw in [("min2_infrequent", dict(min_frequency=2, handle_unknown="infrequent_if_exist")),
                 ("frac_drop_first", dict(min_frequency=0.2, handle_unknown="infrequent_if_exist", drop="first")),
                 ("drop_first_ignore", dict(drop="first", handle_unknown="ignore")),
                 ("min3_ignore", dict(min_frequency=3, handle_unknown="ignore"))]:
    enc = OneHotEncoder(**kw).fit(skew)
    out["one_hot_options"][name] = {"names": enc.get_feature_names_out(["c"]).tolist(),
                                    "transform_new": enc.transform(skew_new).toarray().tolist()}

# Ordinal encoding, learned and given order, unknown value.
enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1).fit(skew)
out["ordinal"] = {"learned": enc.transform(skew_new).ravel().tolist()}
enc = OrdinalEncoder(categories=[["e", "d", "c", "b", "a"]], handle_unknown="use_encoded_value",
                     unknown_value=-1).fit(skew)
out["ordinal"]["given"] = enc.transform(skew_new).ravel().tolist()

# Target encoding: the full-data encodings (cross-fitting folds differ by RNG).
town = rng.choice(["n", "e", "s", "w", "c"], size=60, p=[0.4, 0.25, 0.15, 0.15, 0.05]).reshape(-1, 1)
y_cont = rng.normal(0, 1, 60) + (town.ravel() == "n") * 2.0
y_bin = (rng.random(60) < np.where(town.ravel() == "e", 0.8, 0.3)).astype(int)
y_multi = rng.integers(0, 3, 60)
out["target"] = {"x": town.ravel().tolist(), "continuous": y_cont.tolist(), "binary": y_bin.tolist(),
                 "multiclass": y_multi.tolist()}
for smooth in ["auto", 5.0]:
    for kind, y in [("continuous", y_cont), ("binary", y_bin), ("multiclass", y_multi)]:
        enc = TargetEncoder(smooth=smooth, target_type=kind).fit(town, y)
        out["target"][f"{kind}_{smooth}"] = {"categories": enc.categories_[0].tolist(),
                                             "encodings": [e.tolist() for e in enc.encodings_],
                                             "target_mean": np.atleast_1d(enc.target_mean_).tolist()}

print(json.dumps(out))
