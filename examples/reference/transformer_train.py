#!/usr/bin/env python3
"""PyTorch CPU baseline: small Transformer-encoder text classifier on fine_foods (review -> great/other).

Tokens: re.findall(r"\\w+", review.lower()).  Vocabulary from the train file only: words with count >= 2,
  the 8000 most frequent (ties broken alphabetically), ids 0 = <pad>, 1 = <unk>, words from id 2
  (<= 8002 entries).  Each review: the first 128 tokens, padded with <pad> at the end to 128 (a review
  with no token becomes a single <unk>).  Label: score == "great" -> 1, "other" -> 0.
Model: token embedding (vocab, 128) + learned position embedding (128, 128), summed (no scaling, no
  extra dropout) -> nn.TransformerEncoder(TransformerEncoderLayer(d_model 128, 4 heads, ff 256,
  dropout 0.1, ReLU, batch_first, norm_first=--norm-first), 2 layers; pre-LN (--norm-first 1) adds the
  usual final LayerNorm) with src_key_padding_mask = (token == <pad>) -> masked mean over real tokens
  -> Linear(128, 2).  Mean cross-entropy.
Optimiser: AdamW(lr --lr (1e-3), weight_decay 0.01 on all parameters, betas 0.9/0.999), batch 32
  (4000/32 = 125 steps per epoch), --epochs (5).  LR schedule per step s (0-based), total T steps,
  W = --warmup-steps: s < W -> lr*(s+1)/W; else lr*(T-s)/(T-W)  (W = 0 -> plain linear decay to 0).
  --warmup-steps -1 means 10% of T.
Throughput: time inside the training loop (forward + backward + step + schedule); samples/s,
  padded tokens/s (= 128 * samples/s) and real (non-pad) tokens/s.
Metrics: test accuracy and macro-F1 (sklearn) after the last epoch; per-epoch mean train loss and test
  accuracy.  Flags per run: nonfinite (a NaN/inf loss), collapsed (one class predicted for every test
  review), at_chance (last-epoch train loss >= H(prior) - 0.02 where H(prior) = 0.647 nats is the
  loss of always predicting the train class prior), diverged = nonfinite or last-epoch train loss more
  than 0.1 above the lowest epoch loss.

--sweep runs the stability grid instead of a single configuration:
  norm_first {0,1} x warmup {0, 10% of steps} x lr {--sweep-lrs} x seeds (--seed .. --seed+--repeats-1).

Copied from the workplace's shared/bench/transformer_train.py into Anneal's repository so a clone can rerun the
comparison (`cargo xtask bench transformer --reference <python>`).  One change: the default --train and --test are Anneal's bundled
data/fine_foods.csv.gz, whose `part` column (train / test) holds the same two files' rows in the same
order; a file without that column is read whole, as before.

Prints one JSON line.  Examples:
  OMP_WAIT_POLICY=PASSIVE python transformer_train.py --norm-first 1 --warmup-steps 0 --repeats 2 --out tf.json
  OMP_WAIT_POLICY=PASSIVE python transformer_train.py --sweep --epochs 3 --repeats 3 --out tf_sweep.json
"""
import argparse
import math
import os
import re
import statistics
import sys
import time
from collections import Counter

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import emit, env_info, median  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402

TOKEN_RE = re.compile(r"\w+")
PAD, UNK = 0, 1


def default_dataset(name):
    return os.path.join(HERE, "..", "..", "data", "fine_foods.csv.gz")


def read_part(path, part):
    """The rows of `path` whose `part` is `part`; every row of a file without a `part` column."""
    import pandas as pd
    df = pd.read_csv(path)
    return df[df["part"] == part].reset_index(drop=True) if "part" in df.columns else df


def tokenize(text):
    return TOKEN_RE.findall(str(text).lower())


def build_vocab(token_lists, max_words=8000, min_count=2):
    c = Counter(t for toks in token_lists for t in toks)
    words = sorted((w for w, n in c.items() if n >= min_count), key=lambda w: (-c[w], w))[:max_words]
    vocab = {"<pad>": PAD, "<unk>": UNK}
    for w in words:
        vocab[w] = len(vocab)
    return vocab


def encode(token_lists, vocab, max_len=128):
    out = np.full((len(token_lists), max_len), PAD, dtype=np.int64)
    for i, toks in enumerate(token_lists):
        ids = [vocab.get(t, UNK) for t in toks[:max_len]] or [UNK]
        out[i, :len(ids)] = ids
    return out


def load_text(train_path, test_path, max_words, min_count, max_len):
    import pandas as pd
    tr, te = read_part(train_path, "train"), read_part(test_path, "test")
    tr_tok, te_tok = [tokenize(t) for t in tr["review"]], [tokenize(t) for t in te["review"]]
    vocab = build_vocab(tr_tok, max_words, min_count)
    Xtr, Xte = encode(tr_tok, vocab, max_len), encode(te_tok, vocab, max_len)
    ytr = (tr["score"] == "great").to_numpy(np.int64)
    yte = (te["score"] == "great").to_numpy(np.int64)
    info = {"vocab_size": len(vocab), "max_len": max_len,
            "train_tokens_mean": float(np.mean([len(t) for t in tr_tok])),
            "train_truncated_frac": float(np.mean([len(t) > max_len for t in tr_tok])),
            "train_unk_frac": float((Xtr == UNK).sum() / max(1, (Xtr != PAD).sum())),
            "test_unk_frac": float((Xte == UNK).sum() / max(1, (Xte != PAD).sum())),
            "train_pos_frac": float(ytr.mean()), "test_pos_frac": float(yte.mean())}
    return (torch.from_numpy(Xtr), torch.from_numpy(ytr), torch.from_numpy(Xte), torch.from_numpy(yte), info)


class TextTransformer(nn.Module):
    def __init__(self, vocab_size, max_len=128, d=128, heads=4, ff=256, layers=2, dropout=0.1,
                 norm_first=False, n_classes=2):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, d)
        self.pos = nn.Embedding(max_len, d)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout, batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d) if norm_first else None,
                                             enable_nested_tensor=False)
        self.head = nn.Linear(d, n_classes)

    def forward(self, ids):
        pad = ids == PAD
        pos = torch.arange(ids.shape[1], device=ids.device)
        h = self.encoder(self.tok(ids) + self.pos(pos)[None], src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        pooled = (h * keep).sum(1) / keep.sum(1).clamp_min(1.0)
        return self.head(pooled)


def lr_lambda_factory(total, warmup):
    def f(s):
        if s < warmup:
            return (s + 1) / warmup
        return max(0.0, (total - s) / max(1, total - warmup))
    return f


@torch.no_grad()
def predict(model, X, bs=256):
    model.eval()
    return torch.cat([model(X[i:i + bs]).argmax(1) for i in range(0, X.shape[0], bs)])


def train_run(data, seed, norm_first, lr, warmup_steps, epochs, batch=32, weight_decay=0.01,
              eval_every_epoch=True):
    from sklearn.metrics import f1_score
    Xtr, ytr, Xte, yte, info = data
    torch.manual_seed(seed)
    model = TextTransformer(info["vocab_size"], info["max_len"], norm_first=bool(norm_first))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = Xtr.shape[0]
    steps_per_epoch = math.ceil(n / batch)
    total = steps_per_epoch * epochs
    warmup = int(round(0.1 * total)) if warmup_steps < 0 else warmup_steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda_factory(total, warmup))
    lossf = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(seed)
    train_s, real_tokens = 0.0, 0
    epoch_loss, epoch_acc, epoch_s = [], [], []
    nonfinite = False
    for ep in range(epochs):
        perm = torch.randperm(n, generator=g)
        model.train()
        losses = []
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb = Xtr[idx]
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(xb), ytr[idx])
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.detach())
            real_tokens += int((xb != PAD).sum())
        dt = time.perf_counter() - t0
        train_s += dt
        epoch_s.append(dt)
        el = torch.stack(losses)
        nonfinite = nonfinite or not bool(torch.isfinite(el).all())
        epoch_loss.append(float(el.mean()))
        if eval_every_epoch or ep == epochs - 1:
            epoch_acc.append(float((predict(model, Xte) == yte).float().mean()))
    pred = predict(model, Xte)
    p = info["train_pos_frac"]
    h_prior = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    finite_losses = [x for x in epoch_loss if math.isfinite(x)]
    last = epoch_loss[-1]
    at_chance = (not math.isfinite(last)) or last >= h_prior - 0.02
    diverged = nonfinite or (bool(finite_losses) and last > min(finite_losses) + 0.1)
    return {
        "seed": seed, "norm_first": int(norm_first), "lr": lr, "warmup_steps": warmup, "total_steps": total,
        "epochs": epochs, "train_s": train_s, "samples_per_s": n * epochs / train_s,
        "padded_tokens_per_s": n * epochs * Xtr.shape[1] / train_s, "real_tokens_per_s": real_tokens / train_s,
        "epoch_s": epoch_s, "epoch_train_loss": epoch_loss, "epoch_test_acc": epoch_acc,
        "test_acc": float((pred == yte).float().mean()),
        "test_macro_f1": float(f1_score(yte.numpy(), pred.numpy(), average="macro")),
        "test_pred_pos_frac": float(pred.float().mean()),
        "nonfinite": nonfinite, "collapsed": bool(pred.min() == pred.max()), "at_chance": bool(at_chance),
        "diverged": bool(diverged), "prior_entropy": h_prior,
    }


def summarize(runs):
    accs = [r["test_acc"] for r in runs]
    f1s = [r["test_macro_f1"] for r in runs]
    return {
        "n_runs": len(runs),
        "samples_per_s_median": median([r["samples_per_s"] for r in runs]),
        "padded_tokens_per_s_median": median([r["padded_tokens_per_s"] for r in runs]),
        "real_tokens_per_s_median": median([r["real_tokens_per_s"] for r in runs]),
        "test_acc_mean": statistics.fmean(accs), "test_acc_min": min(accs), "test_acc_max": max(accs),
        "test_macro_f1_mean": statistics.fmean(f1s), "test_macro_f1_min": min(f1s), "test_macro_f1_max": max(f1s),
        "n_diverged": sum(r["diverged"] for r in runs), "n_at_chance": sum(r["at_chance"] for r in runs),
        "n_collapsed": sum(r["collapsed"] for r in runs), "n_nonfinite": sum(r["nonfinite"] for r in runs),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", default=default_dataset("fine_foods_train.csv.gz"))
    ap.add_argument("--test", default=default_dataset("fine_foods_test.csv.gz"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="seeds --seed .. --seed+repeats-1 (per cell with --sweep)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--norm-first", type=int, choices=[0, 1], default=1)
    ap.add_argument("--warmup-steps", type=int, default=0, help="-1 = 10%% of total steps")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-words", type=int, default=8000)
    ap.add_argument("--min-count", type=int, default=2)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--sweep", action="store_true", help="norm_first {0,1} x warmup {0,10%%} x lr x seeds")
    ap.add_argument("--sweep-lrs", default="1e-3,5e-3")
    ap.add_argument("--sweep-norm-first", default="0,1")
    ap.add_argument("--out")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    data = load_text(a.train, a.test, a.max_words, a.min_count, a.max_len)
    res = {"bench": "transformer_train" + ("_sweep" if a.sweep else ""), "framework": "pytorch",
           "env": env_info(with_torch=True),
           "config": vars(a) | {"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                                "arch": "emb128+learned pos -> TransformerEncoder(2 layers, 4 heads, ff 256, dropout 0.1, relu)"
                                        " -> masked mean pool -> Linear(128,2)",
                                "optimizer": "AdamW", "schedule": "linear warmup (s+1)/W then linear decay to 0"},
           "data": data[4]}
    res["n_params"] = sum(p.numel() for p in TextTransformer(data[4]["vocab_size"], a.max_len).parameters())
    seeds = [a.seed + r for r in range(a.repeats)]

    def one(nf, lr, wu, seed):
        la0 = os.getloadavg()
        out = train_run(data, seed, nf, lr, wu, a.epochs, a.batch, a.weight_decay)
        out.update(loadavg_start=list(la0), loadavg_end=list(os.getloadavg()))
        print(f"# norm_first={nf} lr={lr:g} warmup={out['warmup_steps']} seed={seed}: acc {out['test_acc']:.4f} "
              f"F1 {out['test_macro_f1']:.4f} loss/epoch {[round(x, 3) for x in out['epoch_train_loss']]} "
              f"{out['samples_per_s']:.0f} samples/s {'DIVERGED ' if out['diverged'] else ''}"
              f"{'AT_CHANCE' if out['at_chance'] else ''} (loadavg {la0[0]:.2f})", file=sys.stderr, flush=True)
        return out

    if not a.sweep:
        runs = [one(a.norm_first, a.lr, a.warmup_steps, s) for s in seeds]
        res.update(threads=a.threads, **summarize(runs))
        res["runs"] = runs
    else:
        cells = []
        for nf in [int(x) for x in a.sweep_norm_first.split(",")]:
            for wu in (0, -1):
                for lr in [float(x) for x in a.sweep_lrs.split(",")]:
                    runs = [one(nf, lr, wu, s) for s in seeds]
                    cell = {"norm_first": nf, "warmup": "10%" if wu < 0 else 0, "warmup_steps": runs[0]["warmup_steps"],
                            "lr": lr, **summarize(runs), "runs": runs}
                    cells.append(cell)
        res["threads"] = a.threads
        res["cells"] = cells
        res["table"] = [{k: c[k] for k in ("norm_first", "warmup_steps", "lr", "test_acc_mean", "test_acc_min",
                                           "test_macro_f1_mean", "n_diverged", "n_at_chance", "n_collapsed")}
                        for c in cells]
    emit(res, a.out)


if __name__ == "__main__":
    main()
