#!/usr/bin/env python3
"""librosa's log-mel front end on the bundled spoken digits, one thread: the work of
crates/anneal-data/benches/audio.rs (each clip read with soundfile as float32, padded
to 1 s at 8 kHz, melspectrogram(n_fft=256, hop_length=80, n_mels=40, centred, constant
padding, Slaney) and power_to_db(top_db=80)), clip after clip. The first pass warms
librosa's caches (mel filters, FFT plans) and is not counted. Prints one JSON line:
the median clips/s over --repeats passes.
  OMP_NUM_THREADS=1 python audio_frontend.py --repeats 3
"""
import argparse
import glob
import json
import os
import statistics
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "data", "spoken_digits"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import librosa
    import numpy as np
    import soundfile
    files = sorted(glob.glob(os.path.join(args.data, "*", "*.wav")))

    def one_pass():
        checksum = 0.0
        for f in files:
            y, sr = soundfile.read(f, dtype="float32")
            y = librosa.util.fix_length(y, size=8000)
            s = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=256, hop_length=80, n_mels=40, center=True,
                                               pad_mode="constant", power=2.0)
            db = librosa.power_to_db(s, ref=1.0, amin=1e-10, top_db=80.0)
            checksum += float(db.ravel()[db.size // 2])
        return checksum

    one_pass()
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        one_pass()
        rates.append(len(files) / (time.perf_counter() - start))
    print(json.dumps({"librosa": librosa.__version__, "numpy": np.__version__, "clips": len(files),
                      "clips_per_s": statistics.median(rates), "all_clips_per_s": rates}))


if __name__ == "__main__":
    main()
