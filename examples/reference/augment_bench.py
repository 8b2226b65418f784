#!/usr/bin/env python3
"""Data-augmentation throughput (single thread by default): torchvision.transforms.v2, albumentations
(images) and audiomentations (audio), each measured only if it imports.

Images: the first --n-images (5000 = all) digits of mnist_5k.csv.gz as 28x28 grayscale uint8.
  per-image: a Python loop calling the transform on one tensor (1, 28, 28) at a time (torchvision) or on
             one numpy array (28, 28, 1) (albumentations; a fresh dict per call as its API wants).
  batched:   torchvision only, one call on a (B, 1, 28, 28) tensor (B = --batch, 256).  NOTE: v2 draws
             ONE set of random parameters per call, so a whole batch gets the same flip/angle/crop/
             erased box - it is a throughput figure, not per-sample augmentation.
  Ops (p = 1 everywhere, so every image is transformed):
    hflip          RandomHorizontalFlip(p=1)              | A.HorizontalFlip(p=1)
    rotate15       RandomRotation(15, BILINEAR, fill 0)   | A.Rotate(limit=15, INTER_LINEAR, border constant 0)
    rrc            RandomResizedCrop(28, scale=(0.8,1.0)) (bilinear, antialias; ratio 3/4..4/3)
                                                          | A.RandomResizedCrop((28,28), scale=(0.8,1.0))
    jitter         ColorJitter(brightness=0.2, contrast=0.2) on uint8
                                                          | A.RandomBrightnessContrast(0.2, 0.2, p=1)
    noise          GaussianNoise(sigma=0.1) on float32 [0,1] (clip) | A.GaussNoise(std_range=(0.1,0.1)) on float32
    erase          RandomErasing(p=1, scale 0.02-0.33, ratio 0.3-3.3, value 0) | A.Erasing(p=1, same)
  The uint8 -> float32 conversion for `noise` is done beforehand (not timed).
Audio: --n-clips (1600 = all) clips of spoken_digits.tar.gz (read straight from the tar, 8 kHz mono float32,
  a seeded random sample; mean length recorded), each op called once per clip with p=1:
    AddGaussianSNR(min_snr_db=10, max_snr_db=30); TimeStretch(0.8, 1.25) [default method
    signalsmith_stretch, and librosa_phase_vocoder]; PitchShift(-2, +2) [same two methods];
    Shift() (defaults: +-50% of the clip, rollover).
Every op gets --warmup calls first (not timed); the figure is the median over --repeats passes.

Copied from the workplace's shared/bench/augment_bench.py into Anneal's repository so a clone can rerun the
comparison (`cargo xtask bench augment --reference <python>`); one change: --audio may also name a folder of
WAV files (the repository's data/spoken_digits, the same 1600 clips unpacked), read in sorted path order.

Prints one JSON line.  Example:
  OMP_WAIT_POLICY=PASSIVE python augment_bench.py --threads 1 --out augment_bench.json
"""
import argparse
import io
import os
import sys
import tarfile
import time

import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations would otherwise query PyPI on import

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import emit, env_info, median  # noqa: E402

import torch  # noqa: E402


def default_dataset(name):
    return os.path.join(HERE, "..", "datasets", name)


def bench(fn, items, repeats, warmup, count=None):
    """fn(item) for item in items; returns (median items/s, all rates)."""
    n = count if count is not None else len(items)
    for it in items[:warmup]:
        fn(it)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for it in items:
            fn(it)
        rates.append(n / (time.perf_counter() - t0))
    return median(rates), rates


def run_torchvision(imgs_u8, a, out):
    import torchvision
    from torchvision.transforms import v2
    out["torchvision"] = torchvision.__version__
    B = v2.InterpolationMode.BILINEAR
    ops = {
        "hflip": (v2.RandomHorizontalFlip(p=1.0), "u8"),
        "rotate15": (v2.RandomRotation(15, interpolation=B, fill=0), "u8"),
        "rrc": (v2.RandomResizedCrop(28, scale=(0.8, 1.0), interpolation=B, antialias=True), "u8"),
        "jitter": (v2.ColorJitter(brightness=0.2, contrast=0.2), "u8"),
        "noise": (v2.GaussianNoise(sigma=0.1), "f32"),
        "erase": (v2.RandomErasing(p=1.0, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0), "u8"),
    }
    t_u8 = torch.from_numpy(imgs_u8).unsqueeze(1)  # (N,1,28,28)
    t_f32 = t_u8.float() / 255.0
    res = {}
    for name, (tf, kind) in ops.items():
        src = t_u8 if kind == "u8" else t_f32
        per = [src[i] for i in range(src.shape[0])]
        r = {"input": "uint8" if kind == "u8" else "float32", "transform": repr(tf)}
        la = os.getloadavg()[0]
        r["per_image_images_per_s"], r["per_image_runs"] = bench(tf, per, a.repeats, a.warmup)
        batches = [src[i:i + a.batch] for i in range(0, src.shape[0], a.batch)]
        try:
            r["batched_images_per_s"], r["batched_runs"] = bench(tf, batches, a.repeats, 2, count=src.shape[0])
            r["batched_shape"] = list(tf(batches[0]).shape)
        except Exception as e:  # noqa: BLE001
            r["batched_error"] = f"{type(e).__name__}: {e}"
        r["loadavg"] = [la, os.getloadavg()[0]]
        res[name] = r
        print(f"# torchvision {name}: per-image {r['per_image_images_per_s']:.0f}/s, batched "
              f"{r.get('batched_images_per_s', float('nan')):.0f}/s (loadavg {la:.2f})", file=sys.stderr, flush=True)
    out["torchvision_v2"] = res


def run_albumentations(imgs_u8, a, out):
    import albumentations as A
    import cv2
    cv2.setNumThreads(a.threads)
    out["albumentations"] = A.__version__
    out["opencv"] = cv2.__version__
    ops = {
        "hflip": (A.HorizontalFlip(p=1.0), "u8"),
        "rotate15": (A.Rotate(limit=15, interpolation=cv2.INTER_LINEAR, border_mode=cv2.BORDER_CONSTANT, fill=0, p=1.0), "u8"),
        "rrc": (A.RandomResizedCrop(size=(28, 28), scale=(0.8, 1.0), p=1.0), "u8"),
        "jitter": (A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=1.0), "u8"),
        "noise": (A.GaussNoise(std_range=(0.1, 0.1), p=1.0), "f32"),
        "erase": (A.Erasing(scale=(0.02, 0.33), ratio=(0.3, 3.3), fill=0, p=1.0), "u8"),
    }
    u8 = [np.ascontiguousarray(im[:, :, None]) for im in imgs_u8]
    f32 = [(im.astype(np.float32) / 255.0) for im in u8]
    res = {}
    for name, (tf, kind) in ops.items():
        src = u8 if kind == "u8" else f32
        r = {"input": "uint8" if kind == "u8" else "float32", "transform": type(tf).__name__}
        la = os.getloadavg()[0]
        try:
            r["per_image_images_per_s"], r["per_image_runs"] = bench(lambda im: tf(image=im)["image"], src, a.repeats, a.warmup)
        except Exception as e:  # noqa: BLE001
            r["error"] = f"{type(e).__name__}: {e}"
        r["loadavg"] = [la, os.getloadavg()[0]]
        res[name] = r
        print(f"# albumentations {name}: per-image {r.get('per_image_images_per_s', float('nan')):.0f}/s "
              f"(loadavg {la:.2f})", file=sys.stderr, flush=True)
    out["albumentations_ops"] = res


def load_clips(path, n, seed):
    import soundfile as sf
    clips, srs = [], set()
    if os.path.isdir(path):
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".wav"))
        rng = np.random.default_rng(seed)
        pick = sorted(rng.choice(len(files), size=min(n, len(files)), replace=False))
        for i in pick:
            data, sr = sf.read(files[i], dtype="float32")
            clips.append(data if data.ndim == 1 else data.mean(1))
            srs.add(sr)
        return clips, srs, len(files)
    with tarfile.open(path, "r:gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.name.endswith(".wav")), key=lambda m: m.name)
        rng = np.random.default_rng(seed)
        pick = sorted(rng.choice(len(members), size=min(n, len(members)), replace=False))
        for i in pick:
            data, sr = sf.read(io.BytesIO(tar.extractfile(members[i]).read()), dtype="float32")
            clips.append(data if data.ndim == 1 else data.mean(1))
            srs.add(sr)
    return clips, srs, len(members)


def run_audiomentations(a, out):
    import audiomentations as am
    out["audiomentations"] = am.__version__
    clips, srs, n_all = load_clips(a.audio, a.n_clips, a.seed)
    sr = srs.pop() if len(srs) == 1 else None
    out["audio_data"] = {"n_clips_total": n_all, "n_clips_used": len(clips), "sample_rate": sr,
                         "mean_clip_s": float(np.mean([len(c) for c in clips]) / sr),
                         "min_clip_s": float(min(len(c) for c in clips) / sr),
                         "max_clip_s": float(max(len(c) for c in clips) / sr)}
    ops = {
        "AddGaussianSNR_10_30dB": am.AddGaussianSNR(min_snr_db=10.0, max_snr_db=30.0, p=1.0),
        "TimeStretch_0.8_1.25_signalsmith": am.TimeStretch(min_rate=0.8, max_rate=1.25, method="signalsmith_stretch", p=1.0),
        "TimeStretch_0.8_1.25_librosa": am.TimeStretch(min_rate=0.8, max_rate=1.25, method="librosa_phase_vocoder", p=1.0),
        "PitchShift_pm2_signalsmith": am.PitchShift(min_semitones=-2, max_semitones=2, method="signalsmith_stretch", p=1.0),
        "PitchShift_pm2_librosa": am.PitchShift(min_semitones=-2, max_semitones=2, method="librosa_phase_vocoder", p=1.0),
        "Shift_default": am.Shift(p=1.0),
    }
    import warnings
    # librosa warns "n_fft=2048 is too large for input signal" on the short clips: that is audiomentations'
    # default n_fft for the phase vocoder, kept as is.
    warnings.filterwarnings("ignore", message="n_fft=.*is too large")
    res = {}
    total_audio_s = sum(len(c) for c in clips) / sr
    for name, tf in ops.items():
        la = os.getloadavg()[0]
        r = {}
        try:
            r["clips_per_s"], r["runs"] = bench(lambda c: tf(samples=c, sample_rate=sr), clips, a.audio_repeats, a.warmup)
            r["audio_seconds_per_s"] = r["clips_per_s"] * total_audio_s / len(clips)
        except Exception as e:  # noqa: BLE001
            r["error"] = f"{type(e).__name__}: {e}"
        r["loadavg"] = [la, os.getloadavg()[0]]
        res[name] = r
        print(f"# audiomentations {name}: {r.get('clips_per_s', float('nan')):.0f} clips/s (loadavg {la:.2f})",
              file=sys.stderr, flush=True)
    out["audiomentations_ops"] = res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnist", default=default_dataset("mnist_5k.csv.gz"))
    ap.add_argument("--audio", default=default_dataset("spoken_digits.tar.gz"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--audio-repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-images", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--n-clips", type=int, default=1600)
    ap.add_argument("--skip", default="", help="comma list of torchvision,albumentations,audiomentations")
    ap.add_argument("--out")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    import random
    random.seed(a.seed)
    from threadpoolctl import threadpool_limits
    skip = set(filter(None, a.skip.split(",")))
    res = {"bench": "augment_bench", "env": env_info(with_torch=True),
           "config": vars(a) | {"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}, "failed": {}}
    import pandas as pd
    df = pd.read_csv(a.mnist, nrows=a.n_images)
    imgs = df.iloc[:, 1:].to_numpy(np.uint8).reshape(-1, 28, 28)
    res["n_images"] = int(imgs.shape[0])
    with threadpool_limits(limits=a.threads):
        for name, fn in (("torchvision", lambda: run_torchvision(imgs, a, res)),
                         ("albumentations", lambda: run_albumentations(imgs, a, res)),
                         ("audiomentations", lambda: run_audiomentations(a, res))):
            if name in skip:
                continue
            try:
                fn()
            except ImportError as e:
                res["failed"][name] = f"ImportError: {e}"
                print(f"# {name}: not available ({e})", file=sys.stderr, flush=True)
    emit(res, a.out)


if __name__ == "__main__":
    main()
