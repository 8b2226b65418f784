"""Produces gp_snapshot.json: Optuna 5.0's GP model and acquisition local search on a fixed history.

The history is 35 trials of Optuna's GPSampler(seed=1) on Hartmann6 (shared/bench/hpo.py's
objective); X are the normalised parameters, y the standardised negated values. Optuna fits
the kernel (optuna._gp.gp.fit_kernel_params, default prior) and runs its local search
(optuna._gp.optim_mixed.local_search_mixed_batched, tol 1e-4) from the best of 2048 Sobol
candidates, 8 roulette picks (np.random.RandomState(0)) and the best observed point; f1 is
the log EI each search ends with. Run with the reference venv:

    python gp_snapshot.py   # after producing gphist35.json with the GPSampler run
"""
import json

import numpy as np
from optuna._gp import acqf, gp, optim_mixed, prior
from optuna._gp import search_space as ss
from optuna.distributions import FloatDistribution

hist = json.load(open("gphist35.json"))
X = np.array([a for a, _ in hist])
y = -np.array([v for _, v in hist])
ys = (y - y.mean()) / y.std()
g = gp.fit_kernel_params(X, ys, np.zeros(6, bool), prior.default_log_prior, prior.DEFAULT_MINIMUM_NOISE_VAR, False)
space = ss.SearchSpace({f"x{i}": FloatDistribution(0, 1) for i in range(6)})
a = acqf.LogEI(g, space, ys.max())
rng = np.random.RandomState(0)
xs = space.sample_normalized_params(2048, rng)
f = a.eval_acqf_no_grad(xs)
top = np.argmax(f)
probs = np.exp(f - f[top])
probs[top] = 0
probs /= probs.sum()
idx = np.append([top], rng.choice(2048, size=8, replace=False, p=probs))
starts = np.vstack([xs[idx], X[np.argmax(ys)][None]])
out = []
for s in starts:
    bx, bf = optim_mixed.local_search_mixed_batched(a, s[None].copy(), tol=1e-4)
    out.append({"start": s.tolist(), "f1": float(bf[0])})
json.dump({"X": X.tolist(), "y": ys.tolist(), "theta": g.inverse_squared_lengthscales.numpy().tolist(),
           "scale": g.kernel_scale.item(), "noise": g.noise_var.item(), "starts": out}, open("gp_snapshot.json", "w"))
