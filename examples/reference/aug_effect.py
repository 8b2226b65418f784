#!/usr/bin/env python3
"""Does augmentation help with little data?  The CNN of cnn_train.py on 400 MNIST images, with and
without torchvision augmentation.

Data: the fixed split of cnn_train.py (mnist_5k, 4000 train / 1000 test, stratified, random_state 0);
  from the 4000 train images a fixed stratified 10% subset: train_test_split(train_size=400,
  stratify=y, random_state=--subset-seed (0)) -> 40 images per class.  Test: all 1000 test images.
Model/training: as cnn_train.py (Conv32-Conv64-FC128-Dropout0.25-FC10, Adam 1e-3, batch 64 with the last
  partial batch kept = 7 steps/epoch), --epochs (30) epochs, seeds --seed .. --seed+--repeats-1.
Augmentation (condition "aug"): every epoch each uint8 (1,28,28) training image goes through
  v2.Compose([RandomAffine(degrees=10, translate=(2/28, 2/28), bilinear, fill 0),
              RandomResizedCrop(28, scale=(0.9, 1.0), bilinear, antialias)])   (default ratio 3/4..4/3)
  i.e. rotation +-10 deg, translation +-2 px, crop of 90-100% of the area resized back to 28x28, drawn
  independently per image and epoch (torch global RNG, seeded); then /255.  Condition "none": /255 only.
Reported per condition: test accuracy after the last epoch (mean/std/min/max over seeds), the
  per-seed accuracy every 5 epochs, training time and the time spent augmenting.

Copied unchanged from the workplace's shared/bench/aug_effect.py into Anneal's repository so a clone can
rerun the comparison with examples/augment_effect (`--data ../../data/mnist_5k.csv.gz`); it imports the
repository's cnn_train.py.

Prints one JSON line.  Example:
  OMP_WAIT_POLICY=PASSIVE python aug_effect.py --repeats 3 --out aug_effect.json
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import emit, env_info  # noqa: E402
from cnn_train import accuracy, default_dataset, load_mnist_split, make_cnn, to_float_tensor  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402


def make_aug():
    from torchvision.transforms import v2
    B = v2.InterpolationMode.BILINEAR
    return v2.Compose([
        v2.RandomAffine(degrees=10, translate=(2 / 28, 2 / 28), interpolation=B, fill=0),
        v2.RandomResizedCrop(28, scale=(0.9, 1.0), interpolation=B, antialias=True),
    ])


def train_run(Xsub_u8, ysub, Xte, yte, seed, epochs, aug, batch=64, lr=1e-3, eval_every=5):
    torch.manual_seed(seed)
    model = make_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    lossf = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(seed)
    n = Xsub_u8.shape[0]
    X_plain = Xsub_u8.float() / 255.0
    curve, losses_ep = {}, []
    train_s = aug_s = 0.0
    for ep in range(1, epochs + 1):
        t0 = time.perf_counter()
        if aug is not None:
            X = torch.stack([aug(Xsub_u8[i]) for i in range(n)]).float() / 255.0
        else:
            X = X_plain
        t1 = time.perf_counter()
        aug_s += t1 - t0
        perm = torch.randperm(n, generator=g)
        model.train()
        losses = []
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(X[idx]), ysub[idx])
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        train_s += time.perf_counter() - t1
        losses_ep.append(float(torch.stack(losses).mean()))
        if ep % eval_every == 0 or ep == epochs:
            curve[ep] = accuracy(model, Xte, yte)
    return {"seed": seed, "test_acc": curve[epochs], "test_acc_curve": curve, "epoch_train_loss": losses_ep,
            "train_s": train_s, "augment_s": aug_s}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=default_dataset("mnist_5k.csv.gz"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="seeds --seed .. --seed+repeats-1 per condition")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--subset-seed", type=int, default=0)
    ap.add_argument("--subset-size", type=int, default=400)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--out")
    a = ap.parse_args()

    import torchvision
    from sklearn.model_selection import train_test_split
    torch.set_num_threads(a.threads)
    res = {"bench": "aug_effect", "framework": "pytorch", "torchvision": torchvision.__version__,
           "env": env_info(with_torch=True),
           "config": vars(a) | {"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "augmentation": repr(make_aug())}}
    Xtr8, ytr8, Xte8, yte8 = load_mnist_split(a.data, a.split_seed)
    idx = np.arange(len(ytr8))
    sub, _ = train_test_split(idx, train_size=a.subset_size, stratify=ytr8, random_state=a.subset_seed)
    Xsub = torch.from_numpy(Xtr8[np.sort(sub)]).unsqueeze(1)  # uint8 (400,1,28,28)
    ysub = torch.from_numpy(ytr8[np.sort(sub)])
    Xte, yte = to_float_tensor(Xte8), torch.from_numpy(yte8)
    res["subset_class_counts"] = np.bincount(ysub.numpy(), minlength=10).tolist()
    conds = {}
    for cond in ("none", "aug"):
        runs = []
        for r in range(a.repeats):
            seed = a.seed + r
            la0 = os.getloadavg()
            out = train_run(Xsub, ysub, Xte, yte, seed, a.epochs, make_aug() if cond == "aug" else None, a.batch)
            out.update(loadavg_start=list(la0), loadavg_end=list(os.getloadavg()))
            runs.append(out)
            print(f"# {cond} seed={seed}: test acc {out['test_acc']:.4f} curve {out['test_acc_curve']} "
                  f"train {out['train_s']:.1f}s aug {out['augment_s']:.1f}s (loadavg {la0[0]:.2f})",
                  file=sys.stderr, flush=True)
        accs = [x["test_acc"] for x in runs]
        conds[cond] = {"test_acc_mean": statistics.fmean(accs),
                       "test_acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                       "test_acc_min": min(accs), "test_acc_max": max(accs), "test_acc_per_seed": accs,
                       "runs": runs}
    res["conditions"] = conds
    res["aug_minus_none_mean"] = conds["aug"]["test_acc_mean"] - conds["none"]["test_acc_mean"]
    res["aug_minus_none_per_seed"] = [x - y for x, y in zip(conds["aug"]["test_acc_per_seed"],
                                                              conds["none"]["test_acc_per_seed"])]
    emit(res, a.out)


if __name__ == "__main__":
    main()
