#!/usr/bin/env python3
"""PyTorch CPU baseline: small CNN on MNIST (mnist_5k) - training throughput + test accuracy.

Data: mnist_5k.csv.gz (label first, then 784 pixels 0..255, 500 per class).  Fixed split, independent
  of --seed: sklearn train_test_split(test_size=1000, stratify=label, random_state=--split-seed (0))
  -> 4000 train / 1000 test (100 per class).  Pixels / 255 as float32, shape (N, 1, 28, 28).
Model: Conv2d(1,32,3) -> ReLU -> MaxPool2 -> Conv2d(32,64,3) -> ReLU -> MaxPool2 -> Flatten
  -> Linear(1600,128) -> ReLU -> Dropout(0.25) -> Linear(128,10); PyTorch default init.
Training: Adam(lr 1e-3), mean cross-entropy, batch 64 (last partial batch kept: 63 steps/epoch),
  a fresh seeded permutation each epoch, `--epochs` (10) epochs.
Repeats: repeat r uses seed = --seed + r (torch.manual_seed for init/dropout, a torch.Generator for
  shuffling).  samples/s = 4000 * epochs / (time inside the training loop: forward + backward + step;
  the per-epoch test evaluation is excluded).  Reported: median samples/s over repeats and mean/min/max
  test accuracy (model.eval(), dropout off) over repeats (= seeds).

Copied from the workplace's shared/bench/cnn_train.py into Anneal's repository so a clone can rerun the
comparison (`cargo xtask bench cnn --reference <python>`).  One addition: `--split-json PATH` reads the train
and test rows from an Anneal run folder's split.json (0-based data rows), so both frameworks train and test
on the same 4000 / 1000 images; without it the script is unchanged.

Prints one JSON line.  Example (run once per thread count):
  OMP_WAIT_POLICY=PASSIVE python cnn_train.py --threads 1 --repeats 3 --out cnn_train_t1.json
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import emit, env_info, median  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402


def default_dataset(name):
    return os.path.join(HERE, "..", "datasets", name)


def load_mnist_split(path, split_seed=0, test_size=1000, split_json=None):
    """Returns uint8 arrays Xtr (N,28,28), ytr, Xte, yte (fixed stratified split)."""
    import pandas as pd
    df = pd.read_csv(path)
    y = df.iloc[:, 0].to_numpy(np.int64)
    X = df.iloc[:, 1:].to_numpy(np.uint8).reshape(-1, 28, 28)
    if split_json:
        import json
        with open(split_json) as f:
            rows = json.load(f)
        tr, te = np.array(rows["train"]), np.array(rows["test"])
        return X[tr], y[tr], X[te], y[te]
    from sklearn.model_selection import train_test_split
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, stratify=y, random_state=split_seed)
    return Xtr, ytr, Xte, yte


def to_float_tensor(X_u8):
    return torch.from_numpy(X_u8.astype(np.float32) / 255.0).unsqueeze(1)


def make_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(1600, 128), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(128, 10),
    )


@torch.no_grad()
def accuracy(model, X, y, bs=1000):
    model.eval()
    correct = 0
    for i in range(0, X.shape[0], bs):
        correct += int((model(X[i:i + bs]).argmax(1) == y[i:i + bs]).sum())
    return correct / X.shape[0]


def train_run(Xtr, ytr, Xte, yte, seed, epochs, batch=64, lr=1e-3, eval_every_epoch=True):
    torch.manual_seed(seed)
    model = make_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    lossf = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(seed)
    n = Xtr.shape[0]
    train_s = 0.0
    epoch_loss, epoch_acc, epoch_s = [], [], []
    for ep in range(epochs):
        perm = torch.randperm(n, generator=g)
        model.train()
        losses = []
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(Xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        dt = time.perf_counter() - t0
        train_s += dt
        epoch_s.append(dt)
        epoch_loss.append(float(torch.stack(losses).mean()))
        if eval_every_epoch or ep == epochs - 1:
            epoch_acc.append(accuracy(model, Xte, yte))
    return {"train_s": train_s, "samples_per_s": n * epochs / train_s, "epoch_s": epoch_s,
            "epoch_train_loss": epoch_loss, "epoch_test_acc": epoch_acc, "test_acc": epoch_acc[-1]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=default_dataset("mnist_5k.csv.gz"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="full trainings; repeat r uses seed --seed + r")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--split-json", help="train/test rows from an Anneal run folder's split.json")
    ap.add_argument("--out")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    res = {"bench": "cnn_train", "framework": "pytorch", "env": env_info(with_torch=True),
           "config": vars(a) | {"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                                "arch": "conv(1,32,3)-relu-pool2-conv(32,64,3)-relu-pool2-flatten-fc(1600,128)-relu-dropout(0.25)-fc(128,10)",
                                "optimizer": "Adam", "loss": "cross_entropy",
                                "split": "train_test_split(test_size=1000, stratify=y, random_state=split_seed); X/255"}}
    Xtr8, ytr8, Xte8, yte8 = load_mnist_split(a.data, a.split_seed, split_json=a.split_json)
    Xtr, Xte = to_float_tensor(Xtr8), to_float_tensor(Xte8)
    ytr, yte = torch.from_numpy(ytr8), torch.from_numpy(yte8)
    res["n_train"], res["n_test"] = int(Xtr.shape[0]), int(Xte.shape[0])
    res["n_params"] = sum(p.numel() for p in make_cnn().parameters())

    runs = []
    for r in range(a.repeats):
        seed = a.seed + r
        la0 = os.getloadavg()
        out = train_run(Xtr, ytr, Xte, yte, seed, a.epochs, a.batch, a.lr)
        out.update(seed=seed, loadavg_start=list(la0), loadavg_end=list(os.getloadavg()))
        runs.append(out)
        print(f"# threads={a.threads} seed={seed}: {out['samples_per_s']:.0f} samples/s, test acc {out['test_acc']:.4f}, "
              f"loadavg {la0[0]:.2f}", file=sys.stderr, flush=True)
    accs = [r["test_acc"] for r in runs]
    res["threads"] = a.threads
    res["samples_per_s_median"] = median([r["samples_per_s"] for r in runs])
    res["samples_per_s_max"] = max(r["samples_per_s"] for r in runs)
    res["train_s_median"] = median([r["train_s"] for r in runs])
    res["test_acc_mean"] = statistics.fmean(accs)
    res["test_acc_std"] = statistics.stdev(accs) if len(accs) > 1 else 0.0
    res["test_acc_min"], res["test_acc_max"] = min(accs), max(accs)
    res["runs"] = runs
    emit(res, a.out)


if __name__ == "__main__":
    main()
