"""Golden values for anneal-optim's tests, from PyTorch.

Run: /work/refbench-venv/bin/python golden.py > it/golden.json
(the Rust tests read the JSON; they run no Python). Made with torch 2.15.0.

Everything is computed in float64; the Rust side runs burn in float32 and
compares to 1e-5.

The problem: a linear layer 3 -> 2 with bias, y = x W^T + b, and the loss
mean((y - t)^2) over a fixed batch of 4 rows. Weights are written in burn's
layout, [in, out] (PyTorch's W^T), so the Rust test can compare directly.

- "optimizers": the weight and bias after each of 5 steps. Every case has
  "config", an anneal OptimizerConfig as JSON. The torch.optim cases use
  torch.optim with the same hyperparameters; sgd_hd and adam_hd are the
  hypergradient algorithms of Baydin et al. 2018 (arXiv:1703.04782,
  Algorithms 2 and 3) written below in plain torch, with the learning rate
  after each step in "lrs".
- "schedules": the learning rate before each of 100 optimizer steps for
  torch.optim.lr_scheduler classes; "config" is an anneal ScheduleConfig,
  "base_lr" the optimizer's lr, "total_steps" the run length given to build.
  ReduceLROnPlateau is fed "metrics", one per step, and the rate is read after.
- "clipping": raw gradients of the problem (loss scaled by 10), and the
  results of clip_grad_norm_ / clip_grad_value_ on them.
"""
import json
import math

import torch
from torch import nn

torch.set_default_dtype(torch.float64)

X = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-0.2, 0.8, 0.1], [1.0, 1.0, -1.0]])
T = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, -0.5], [-1.0, 2.0]])
W0 = torch.tensor([[0.2, -0.3, 0.1], [0.4, 0.05, -0.2]])  # PyTorch layout [out, in]
B0 = torch.tensor([0.1, -0.1])
STEPS = 5


def model():
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.copy_(W0)
        layer.bias.copy_(B0)
    return layer


def loss_of(layer, scale=1.0):
    return scale * ((layer(X) - T) ** 2).mean()


def snapshot(layer):
    return {"weight": layer.weight.detach().T.tolist(), "bias": layer.bias.detach().tolist()}


def run_torch(make_optimizer):
    layer = model()
    opt = make_optimizer(layer.parameters())
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss_of(layer).backward()
        opt.step()
        out.append(snapshot(layer))
    return out


def run_hd(lr, beta, adam=None):
    """SGD-HD (adam=None) or Adam-HD (adam=(beta1, beta2, eps)), Baydin et al. 2018."""
    layer = model()
    params = list(layer.parameters())
    u_prev = [torch.zeros_like(p) for p in params]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    out, lrs = [], []
    for t in range(1, STEPS + 1):
        for p in params:
            p.grad = None
        loss_of(layer).backward()
        grads = [p.grad for p in params]
        h = -sum((g * u).sum() for g, u in zip(grads, u_prev))
        lr = lr - beta * h.item()
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(params, grads)):
                if adam is None:
                    u = g.clone()
                else:
                    b1, b2, eps = adam
                    m[i] = b1 * m[i] + (1 - b1) * g
                    v[i] = b2 * v[i] + (1 - b2) * g * g
                    m_hat = m[i] / (1 - b1**t)
                    v_hat = v[i] / (1 - b2**t)
                    u = m_hat / (v_hat.sqrt() + eps)
                p -= lr * u
                u_prev[i] = u
        out.append(snapshot(layer))
        lrs.append(lr)
    return out, lrs


optimizers = []


def case(config, make_optimizer):
    optimizers.append({"config": config, "params": run_torch(make_optimizer)})


O = torch.optim
case({"name": "gd", "learning_rate": 0.1}, lambda p: O.SGD(p, lr=0.1))
case({"name": "sgd", "learning_rate": 0.1, "momentum": 0.9}, lambda p: O.SGD(p, lr=0.1, momentum=0.9))
case(
    {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    lambda p: O.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
)
case({"name": "rmsprop", "learning_rate": 0.01}, lambda p: O.RMSprop(p, lr=0.01))
case(
    {"name": "rmsprop", "learning_rate": 0.01, "alpha": 0.9, "momentum": 0.8, "centered": True, "weight_decay": 0.01},
    lambda p: O.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.8, centered=True, weight_decay=0.01),
)
case({"name": "adam", "learning_rate": 0.01}, lambda p: O.Adam(p, lr=0.01))
case(
    {"name": "adam", "learning_rate": 0.01, "beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1},
    lambda p: O.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
)
case(
    {"name": "adam", "learning_rate": 0.1, "beta2": 0.5, "amsgrad": True},
    lambda p: O.Adam(p, lr=0.1, betas=(0.9, 0.5), amsgrad=True),
)
case({"name": "adam", "learning_rate": 0.1, "beta2": 0.5}, lambda p: O.Adam(p, lr=0.1, betas=(0.9, 0.5)))
case({"name": "adamw", "learning_rate": 0.01, "weight_decay": 0.1}, lambda p: O.AdamW(p, lr=0.01, weight_decay=0.1))
case({"name": "adamw", "learning_rate": 0.01}, lambda p: O.AdamW(p, lr=0.01))

params, lrs = run_hd(0.1, 0.01)
optimizers.append({"config": {"name": "sgd_hd", "learning_rate": 0.1, "hypergradient_lr": 0.01}, "params": params, "lrs": lrs})
params, lrs = run_hd(0.01, 0.001, adam=(0.9, 0.999, 1e-8))
optimizers.append({"config": {"name": "adam_hd", "learning_rate": 0.01, "hypergradient_lr": 0.001}, "params": params, "lrs": lrs})

# --- schedules -----------------------------------------------------------------
S = torch.optim.lr_scheduler
N = 100
BASE = 0.1


def lrs_of(make_scheduler, metrics=None):
    opt = O.SGD([nn.Parameter(torch.zeros(1))], lr=BASE)
    sched = make_scheduler(opt)
    out = []
    for i in range(N):
        if metrics is None:
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        else:
            opt.step()
            sched.step(metrics[i])
            out.append(opt.param_groups[0]["lr"])
    return out


schedules = []


def sched_case(config, make_scheduler, metrics=None):
    entry = {"config": config, "base_lr": BASE, "total_steps": N, "lrs": lrs_of(make_scheduler, metrics)}
    if metrics is not None:
        entry["metrics"] = metrics
    schedules.append(entry)


sched_case({"name": "constant"}, lambda o: S.ConstantLR(o, factor=1.0))
sched_case({"name": "step", "step_size": 10, "gamma": 0.5}, lambda o: S.StepLR(o, step_size=10, gamma=0.5))
sched_case(
    {"name": "multi_step", "milestones": [20, 50, 80], "gamma": 0.3},
    lambda o: S.MultiStepLR(o, milestones=[20, 50, 80], gamma=0.3),
)
sched_case({"name": "exponential", "gamma": 0.97}, lambda o: S.ExponentialLR(o, gamma=0.97))
sched_case({"name": "cosine", "eta_min": 0.001}, lambda o: S.CosineAnnealingLR(o, T_max=N, eta_min=0.001))
sched_case({"name": "cosine", "t_max": 30, "eta_min": 0.001}, lambda o: S.CosineAnnealingLR(o, T_max=30, eta_min=0.001))
sched_case(
    {"name": "warmup", "steps": 10, "start_factor": 0.1, "then": {"name": "cosine"}},
    lambda o: S.SequentialLR(
        o,
        [S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=10), S.CosineAnnealingLR(o, T_max=N - 10)],
        milestones=[10],
    ),
)
sched_case(
    {"name": "warmup", "steps": 5, "then": {"name": "step", "step_size": 20, "gamma": 0.5}},
    lambda o: S.SequentialLR(
        o,
        [S.LinearLR(o, start_factor=1 / 3, end_factor=1.0, total_iters=5), S.StepLR(o, step_size=20, gamma=0.5)],
        milestones=[5],
    ),
)
sched_case(
    {"name": "one_cycle"},
    lambda o: S.OneCycleLR(o, max_lr=BASE, total_steps=N, cycle_momentum=False),
)
sched_case(
    {"name": "one_cycle", "pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0},
    lambda o: S.OneCycleLR(
        o, max_lr=BASE, total_steps=N, pct_start=0.25, div_factor=10.0, final_div_factor=100.0, cycle_momentum=False
    ),
)

g = torch.Generator().manual_seed(0)
noise = (torch.rand(N, generator=g) - 0.5).tolist()
loss_like = [1.0 / (1 + 0.3 * i) + (0.3 if i >= 30 else 0.0) + 0.02 * noise[i] for i in range(N)]
sched_case(
    {"name": "reduce_on_plateau", "factor": 0.5, "patience": 3, "threshold": 0.01, "cooldown": 2, "min_lr": 0.005},
    lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=3, threshold=0.01, cooldown=2, min_lr=0.005),
    loss_like,
)
accuracy_like = [min(0.95, 0.5 + 0.02 * i) + 0.01 * noise[i] for i in range(N)]
sched_case(
    {"name": "reduce_on_plateau", "mode": "max", "factor": 0.7, "patience": 2, "threshold": 0.005, "threshold_mode": "abs"},
    lambda o: S.ReduceLROnPlateau(o, mode="max", factor=0.7, patience=2, threshold=0.005, threshold_mode="abs"),
    accuracy_like,
)

# --- clipping --------------------------------------------------------------------
def grads_of(scale):
    layer = model()
    loss_of(layer, scale).backward()
    return layer


clipping = {"loss_scale": 10.0}
layer = grads_of(10.0)
clipping["grads"] = {"weight": layer.weight.grad.T.tolist(), "bias": layer.bias.grad.tolist()}
for max_norm in [0.5, 1000.0]:
    layer = grads_of(10.0)
    norm = nn.utils.clip_grad_norm_(layer.parameters(), max_norm)
    clipping.setdefault("norm", []).append({
        "max_norm": max_norm,
        "total_norm": norm.item(),
        "weight": layer.weight.grad.T.tolist(),
        "bias": layer.bias.grad.tolist(),
    })
layer = grads_of(10.0)
nn.utils.clip_grad_value_(layer.parameters(), 1.0)
clipping["value"] = {"clip_value": 1.0, "weight": layer.weight.grad.T.tolist(), "bias": layer.bias.grad.tolist()}

print(json.dumps({
    "torch": torch.__version__,
    "dtype": "float64",
    "problem": {"x": X.tolist(), "t": T.tolist(), "weight": W0.T.tolist(), "bias": B0.tolist()},
    "optimizers": optimizers,
    "schedules": schedules,
    "clipping": clipping,
}, indent=1))
