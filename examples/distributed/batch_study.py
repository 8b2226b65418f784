"""The batch-size study of docs/src/distributed.md: test accuracy and training time
against the global batch, with and without the linear learning-rate scaling rule.

Digits (examples/configs/digits.toml's data and split, an MLP with one hidden layer
of 64, SGD with momentum 0.9 at 0.05 for a batch of 32), R data-parallel replicas
of batch 32 each (global batch 32·R), 30 epochs with early stopping on the
validation loss, seeds 0-2. Run from the repository root after
`cargo build --release -p anneal`:

    python3 examples/distributed/batch_study.py [--anneal target/release/anneal]

Prints one Markdown table (medians over the seeds).
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import tempfile

CONFIG = """
seed = {seed}
[data]
path = "{data}"
target = "target"
[split]
train = 0.6
valid = 0.2
test = 0.2
stratify = true
[preprocess]
scaling = "standard"
[model]
hidden = [64]
[optimizer]
name = "sgd"
learning_rate = 0.05
momentum = 0.9
[training]
epochs = 30
batch_size = 32
last_batch = "drop"
early_stopping = {{ monitor = "val_loss", goal = "minimize", patience = 5, restore_best = true }}
[distributed]
replicas = {replicas}
lr_scaling = "{scaling}"
warmup_epochs = {warmup}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--anneal", default="target/release/anneal")
    ap.add_argument("--replicas", default="1,2,4,8")
    ap.add_argument("--seeds", type=int, default=3)
    a = ap.parse_args()
    data = pathlib.Path("data/sklearn_digits.csv.gz").resolve()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for replicas in [int(r) for r in a.replicas.split(",")]:
            for scaling in (["none"] if replicas == 1 else ["none", "linear"]):
                acc, secs, epochs = [], [], []
                for seed in range(a.seeds):
                    warmup = 2 if scaling == "linear" else 0
                    name = f"r{replicas}-{scaling}-{seed}"
                    cfg = tmp / f"{name}.toml"
                    cfg.write_text(CONFIG.format(seed=seed, data=data, replicas=replicas, scaling=scaling, warmup=warmup))
                    out = tmp / name
                    subprocess.run([a.anneal, "train", "--config", str(cfg), "--out", str(out), "--log"],
                                   check=True, capture_output=True)
                    m = json.loads((out / "metrics.json").read_text())
                    acc.append(m["test"]["accuracy"])
                    secs.append(sum(e["seconds"] for e in m["history"]))
                    epochs.append(len(m["history"]))
                rows.append((replicas, 32 * replicas, scaling, statistics.median(acc), min(acc), max(acc),
                             statistics.median(epochs), statistics.median(secs)))
    print("| replicas | global batch | lr scaling | test accuracy (median; min–max) | epochs run | training s |")
    print("|---|---|---|---|---|---|")
    for r, b, s, acc, lo, hi, ep, sec in rows:
        rule = "linear, 2 warm-up epochs" if s == "linear" else "none"
        print(f"| {r} | {b} | {rule} | {acc:.4f} ({lo:.4f}–{hi:.4f}) | {ep:.0f} | {sec:.2f} |")


if __name__ == "__main__":
    main()
