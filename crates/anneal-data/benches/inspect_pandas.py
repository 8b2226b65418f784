#!/usr/bin/env python3
"""`anneal data inspect` against pandas on the same files (run by `cargo xtask bench inspect`).

Two generated files (numpy, seed 0), written once to --dir:

  wide.csv     1 000 000 rows x 23 columns: a row id, 14 floats (5 % missing), 2 counts,
               a 0/1 flag, a yes/no column, categoricals with 5, 50 and 1000 levels (Zipf-ish),
               and a date stored as text.
  flights.csv  336 776 rows x 19 columns shaped like nycflights13's `flights` (integers with
               2-3 % missing, carrier / tailnum / origin / dest codes, a `time_hour` timestamp).

Each measurement runs in a fresh process, so peak resident memory is the whole process's
(`ru_maxrss` from wait4), interpreter and imports included for pandas:

  pandas   read_csv + describe() + isna().sum() + nunique() + duplicated().sum()
           (time from before read_csv to after duplicated; import time excluded)
  anneal   `anneal data inspect FILE` to /dev/null (whole process, start-up included)

Median of --repeats runs per tool and file. Prints one JSON line.

    python inspect_pandas.py --anneal target/release/anneal [--dir target/bench/inspect] [--repeats 3]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

WIDE_ROWS = 1_000_000
FLIGHT_ROWS = 336_776


def make_wide(path, n=WIDE_ROWS, seed=0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols = {"id": np.arange(1, n + 1)}
    for j in range(14):
        x = np.round(rng.standard_normal(n) * rng.uniform(0.5, 50) + rng.uniform(-100, 100), 4)
        x[rng.random(n) < 0.05] = np.nan
        cols[f"x{j}"] = x
    cols["visits"] = rng.poisson(3.0, n)
    cols["items"] = rng.poisson(12.0, n)
    cols["flag"] = (rng.random(n) < 0.3).astype(int)
    cols["member"] = np.where(rng.random(n) < 0.6, "yes", "no")
    for levels in (5, 50, 1000):
        p = 1.0 / np.arange(1, levels + 1)
        codes = rng.choice(levels, size=n, p=p / p.sum())
        cols[f"cat{levels}"] = np.array([f"L{levels}_{i}" for i in range(levels)], dtype=object)[codes]
    days = rng.integers(0, 3 * 365, n)
    cols["signup"] = (np.datetime64("2021-01-01") + days.astype("timedelta64[D]")).astype(str)
    pd.DataFrame(cols).to_csv(path, index=False)


def make_flights(path, n=FLIGHT_ROWS, seed=0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    day_of_year = rng.integers(0, 365, n)
    date = np.datetime64("2013-01-01") + day_of_year.astype("timedelta64[D]")
    months = date.astype("datetime64[M]").astype(int) % 12 + 1
    days = (date - date.astype("datetime64[M]")).astype(int) + 1
    sched_hour = rng.integers(5, 24, n)
    sched_min = rng.choice(np.arange(0, 60, 5), n)
    dep_delay = np.round(rng.gamma(0.6, 20.0, n) - 5).astype(float)
    dep_minutes = sched_hour * 60 + sched_min + dep_delay
    dep_time = ((dep_minutes // 60) % 24) * 100 + dep_minutes % 60
    air_time = np.round(rng.uniform(20, 650, n))
    distance = np.round(air_time * rng.uniform(6.5, 8.0, n))
    arr_minutes = dep_minutes + air_time + rng.integers(10, 40, n)
    arr_time = ((arr_minutes // 60) % 24) * 100 + arr_minutes % 60
    sched_arr = ((sched_hour * 60 + sched_min + air_time + 25) // 60 % 24) * 100 + (sched_min + air_time + 25) % 60
    arr_delay = dep_delay + rng.normal(-5, 10, n).round()
    cancelled = rng.random(n) < 0.025
    landed_missing = cancelled | (rng.random(n) < 0.003)
    carriers = np.array(["UA", "B6", "EV", "DL", "AA", "MQ", "US", "9E", "WN", "VX", "FL", "AS", "F9", "YV", "HA", "OO"])
    cp = 1.0 / np.arange(1, 17) ** 1.2
    dests = np.array([f"D{i:02d}" for i in range(105)])
    dp = 1.0 / np.arange(1, 106)
    tails = np.array([f"N{i:04d}X" for i in range(4043)], dtype=object)
    tailnum = tails[rng.integers(0, 4043, n)]
    tailnum[rng.random(n) < 0.007] = None
    frame = pd.DataFrame({
        "year": 2013,
        "month": months,
        "day": days,
        "dep_time": np.where(cancelled, np.nan, dep_time),
        "sched_dep_time": sched_hour * 100 + sched_min,
        "dep_delay": np.where(cancelled, np.nan, dep_delay),
        "arr_time": np.where(landed_missing, np.nan, arr_time),
        "sched_arr_time": sched_arr,
        "arr_delay": np.where(landed_missing, np.nan, arr_delay),
        "carrier": carriers[rng.choice(16, n, p=cp / cp.sum())],
        "flight": rng.integers(1, 8500, n),
        "tailnum": tailnum,
        "origin": rng.choice(["EWR", "JFK", "LGA"], n),
        "dest": dests[rng.choice(105, n, p=dp / dp.sum())],
        "air_time": np.where(landed_missing, np.nan, air_time),
        "distance": distance,
        "hour": sched_hour,
        "minute": sched_min,
        "time_hour": [f"{d} {h:02d}:00:00" for d, h in zip(date.astype(str), sched_hour)],
    })
    frame.to_csv(path, index=False, float_format="%.0f")


def pandas_child(path):
    """Runs in a fresh interpreter: prints {"seconds", "rss_after_import_mb"}."""
    import resource

    import pandas as pd

    after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    df.describe()
    df.isna().sum()
    df.nunique()
    duplicates = int(df.duplicated().sum())
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "rss_after_import_mb": after_import, "duplicates": duplicates,
                      "rows": len(df), "pandas": pd.__version__}))


def measure(argv, parse_json):
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"{argv} failed ({status}): {err.decode(errors='replace')[-2000:]}")
    result = {"wall_seconds": wall, "peak_rss_mb": usage.ru_maxrss / 1024}
    if parse_json:
        result |= json.loads(out.decode().strip().splitlines()[-1])
    return result


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if len(values) % 2 else 0.5 * (values[len(values) // 2 - 1] + values[len(values) // 2])


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--pandas-child":
        return pandas_child(sys.argv[2])
    if len(sys.argv) == 4 and sys.argv[1] == "--make":
        return {"wide": make_wide, "flights": make_flights}[sys.argv[2]](sys.argv[3])
    ap = argparse.ArgumentParser()
    ap.add_argument("--anneal", help="the anneal binary (release build); without it only pandas is measured")
    ap.add_argument("--dir", default="target/bench/inspect")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    files = {name: os.path.join(a.dir, f"{name}.csv") for name in ("wide", "flights")}
    result = {"bench": "inspect", "python": platform.python_version(), "machine": platform.machine(),
              "cpus": os.cpu_count(), "repeats": a.repeats, "files": {}}
    for name, path in files.items():
        if not os.path.exists(path):
            # In a child process: Linux carries a parent's peak memory into the children it
            # forks, so this process stays small (no numpy or pandas imported here).
            print(f"writing {path}", file=sys.stderr)
            subprocess.run([sys.executable, os.path.abspath(__file__), "--make", name, path], check=True)
        entry = {"path": path, "bytes": os.path.getsize(path)}
        runs = {"pandas": [], "anneal": []}
        for _ in range(a.repeats):
            runs["pandas"].append(measure([sys.executable, os.path.abspath(__file__), "--pandas-child", path], True))
            if a.anneal:
                runs["anneal"].append(measure([a.anneal, "data", "inspect", path], False))
        p = runs["pandas"]
        entry["pandas"] = {"seconds": median([r["seconds"] for r in p]),
                           "process_seconds": median([r["wall_seconds"] for r in p]),
                           "peak_rss_mb": median([r["peak_rss_mb"] for r in p]),
                           "rss_after_import_mb": median([r["rss_after_import_mb"] for r in p]),
                           "duplicates": p[0]["duplicates"], "version": p[0]["pandas"]}
        if runs["anneal"]:
            r = runs["anneal"]
            entry["anneal"] = {"seconds": median([x["wall_seconds"] for x in r]),
                               "peak_rss_mb": median([x["peak_rss_mb"] for x in r])}
            entry["time_ratio"] = entry["anneal"]["seconds"] / entry["pandas"]["seconds"]
            entry["memory_ratio"] = entry["anneal"]["peak_rss_mb"] / entry["pandas"]["peak_rss_mb"]
        result["files"][name] = entry
        print(json.dumps({name: entry}), file=sys.stderr)
    line = json.dumps(result)
    if a.out:
        with open(a.out, "w") as f:
            f.write(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
