"""Expected log-mel spectrograms of bundled clips, computed by librosa.

Run from this folder:  python make_audio_golden.py > audio_golden.json
The Rust test (tests/it/audio.rs) reads audio_golden.json; it runs no Python.
Each case: a clip of data/spoken_digits read as float32 (soundfile, int16 / 32768),
padded with zeros at the end or cut to `duration` seconds (librosa.util.fix_length),
then librosa.feature.melspectrogram (center=True, pad_mode="constant", a periodic window,
power 2, Slaney mel scale and norm) and librosa.power_to_db(ref=1.0, amin=1e-10, top_db).
"""
import json
from pathlib import Path

import librosa
import numpy as np
import soundfile

DATA = Path(__file__).resolve().parents[4] / "data" / "spoken_digits"
CASES = [
    # The example config's settings.
    {"file": "3/s052_3.wav", "sample_rate": 8000, "duration": 1.0, "n_fft": 256, "hop_length": 80,
     "n_mels": 40, "fmin": 0.0, "fmax": None, "win_length": None, "top_db": 80.0},
    # A clip longer than the duration (cut), a shorter window, a band and another top_db.
    {"file": "7/s000_7.wav", "sample_rate": 8000, "duration": 0.3, "n_fft": 512, "hop_length": 128,
     "n_mels": 64, "fmin": 50.0, "fmax": 3800.0, "win_length": 400, "top_db": 60.0},
    # A hop that does not divide the length.
    {"file": "0/s159_0.wav", "sample_rate": 8000, "duration": 0.8, "n_fft": 200, "hop_length": 77,
     "n_mels": 32, "fmin": 20.0, "fmax": 4000.0, "win_length": 160, "top_db": 80.0},
    # An odd frame length (one frame fewer than an even one would give), a Hamming window.
    {"file": "5/s080_5.wav", "sample_rate": 8000, "duration": 0.5, "n_fft": 255, "hop_length": 100,
     "n_mels": 24, "fmin": 0.0, "fmax": None, "win_length": None, "top_db": 70.0, "window": "hamming"},
    # A Blackman window, and no top_db clipping.
    {"file": "9/s120_9.wav", "sample_rate": 8000, "duration": 0.6, "n_fft": 256, "hop_length": 80,
     "n_mels": 40, "fmin": 0.0, "fmax": None, "win_length": 200, "top_db": None, "window": "blackman"},
]

out = {"librosa": librosa.__version__, "cases": []}
for case in CASES:
    y, sr = soundfile.read(DATA / case["file"], dtype="float32")
    assert sr == case["sample_rate"]
    y = librosa.util.fix_length(y, size=int(round(case["duration"] * sr)))
    s = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=case["n_fft"], hop_length=case["hop_length"], win_length=case["win_length"],
        window=case.get("window", "hann"), center=True, pad_mode="constant", power=2.0, n_mels=case["n_mels"],
        fmin=case["fmin"], fmax=case["fmax"], htk=False, norm="slaney")
    db = librosa.power_to_db(s, ref=1.0, amin=1e-10, top_db=case["top_db"])
    out["cases"].append({"window": "hann", **case, "shape": list(db.shape), "log_mel": [float(v) for v in db.ravel()]})
print(json.dumps(out))
