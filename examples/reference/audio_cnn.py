#!/usr/bin/env python3
"""PyTorch + librosa reference for examples/configs/spoken_digits_cnn.toml: the same
log-mel front end and the same CNN, on the same speaker-grouped split.

Data: data/spoken_digits/<digit>/<speaker>_<digit>.wav, files in the order Anneal reads
  them (class folders sorted, then file names sorted); `--split PATH` reads the train /
  test rows from an Anneal run folder's split.json, so both train and test on the same
  clips (the validation rows are not trained on, as in Anneal).
Front end (librosa, once for all clips, timed): soundfile float32, fix_length to 1 s at
  8 kHz, melspectrogram(n_fft=256, hop_length=80, n_mels=40, center, constant padding,
  Slaney), power_to_db(ref=1, amin=1e-10, top_db=80); standardised with the training
  clips' mean and std.
Model: 3 x [Conv2d(k3, padding 1) -> BatchNorm2d -> ReLU -> MaxPool2] with 16, 32, 64
  channels -> global average pooling -> Linear(64, 64) -> ReLU -> Dropout(0.25) ->
  Linear(64, 10); PyTorch default init.
Training: Adam(lr 1e-3), mean cross-entropy, batch 32 (last partial batch kept), a fresh
  seeded permutation each epoch, 30 epochs. Seed s: torch.manual_seed(s) and a
  torch.Generator(s) for shuffling.

Prints one JSON line: per-seed test accuracy, training samples/s, the front end's
clips/s (one thread, decode + log-mel).
  OMP_WAIT_POLICY=PASSIVE python audio_cnn.py --split runs/x/split.json --seeds 0 1 2 3 4
"""
import argparse
import json
import os
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def files_in_order(root):
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    files, labels = [], []
    for c in classes:
        for f in sorted(os.listdir(os.path.join(root, c))):
            if f.startswith("."):
                continue
            files.append(os.path.join(root, c, f))
            labels.append(classes.index(c))
    return files, np.array(labels, dtype=np.int64), classes


def log_mel(path, sr=8000, duration=1.0, n_fft=256, hop=80, n_mels=40):
    import librosa
    import soundfile
    y, rate = soundfile.read(path, dtype="float32")
    assert rate == sr, f"{path}: {rate} Hz"
    y = librosa.util.fix_length(y, size=int(round(duration * sr)))
    s = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, center=True,
                                       pad_mode="constant", power=2.0)
    return librosa.power_to_db(s, ref=1.0, amin=1e-10, top_db=80.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "data", "spoken_digits"))
    ap.add_argument("--split", required=True, help="an Anneal run folder's split.json")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch
    from torch import nn
    torch.set_num_threads(args.threads)

    files, y, classes = files_in_order(args.data)
    start = time.perf_counter()
    X = np.stack([log_mel(f) for f in files]).astype(np.float32)
    front_s = time.perf_counter() - start
    with open(args.split) as f:
        rows = json.load(f)
    tr, te = np.array(rows["train"]), np.array(rows["test"])
    mean, std = X[tr].mean(), X[tr].std()
    X = (X - mean) / std
    Xtr = torch.from_numpy(X[tr]).unsqueeze(1)
    ytr = torch.from_numpy(y[tr])
    Xte = torch.from_numpy(X[te]).unsqueeze(1)
    yte = torch.from_numpy(y[te])

    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

    results = []
    for seed in args.seeds:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                              nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.25), nn.Linear(64, len(classes)))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = nn.CrossEntropyLoss()
        train_time = 0.0
        for _ in range(args.epochs):
            model.train()
            perm = torch.randperm(len(ytr), generator=gen)
            t0 = time.perf_counter()
            for i in range(0, len(perm), 32):
                idx = perm[i:i + 32]
                opt.zero_grad()
                loss = loss_fn(model(Xtr[idx]), ytr[idx])
                loss.backward()
                opt.step()
            train_time += time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            accuracy = (model(Xte).argmax(1) == yte).float().mean().item()
        results.append({"seed": seed, "test_accuracy": accuracy,
                        "train_samples_per_s": len(ytr) * args.epochs / train_time})
    accs = [r["test_accuracy"] for r in results]
    print(json.dumps({
        "torch": torch.__version__, "librosa": __import__("librosa").__version__, "threads": args.threads,
        "clips": len(files), "train": len(tr), "test": len(te),
        "front_end_clips_per_s": len(files) / front_s,
        "mean_test_accuracy": float(np.mean(accs)), "runs": results,
    }))


if __name__ == "__main__":
    main()
