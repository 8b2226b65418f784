//! Sampler benchmark: the workload of `shared/bench/hpo.py` (Optuna).
//!
//! Branin (2-d, x1 in [-5, 10], x2 in [0, 15]) and Hartmann6 (6-d, [0, 1]^6), minimised
//! for `--trials` trials with each of `--seeds` seeds (0, 1, …) through `Study::ask` /
//! `Trial::suggest_float` / `Study::tell` on in-memory storage, exactly as the Python
//! script drives Optuna. Recorded per run: the simple regret (best value so far minus the
//! known minimum) after each trial, and the wall time of ask + suggest + tell (the
//! sampler and storage overhead; the functions themselves take microseconds). Reported:
//! median, 25 % and 75 % quantiles (numpy's linear interpolation) of the regret over seeds
//! at the checkpoints, and the mean overhead per trial (all trials and the last 10).
//! One JSON line, the same schema as the Python script's.
//!
//! Run through `cargo xtask bench hpo`, or directly:
//! `cargo bench -p anneal-hpo --bench hpo -- --samplers tpe,gp --trials 100 --seeds 10`.
//! `--first-seed k` runs seeds `k, k + 1, …` instead (to check a change on seeds other
//! than the benchmark's); `regret_per_seed` in the JSON has every seed's regret at the
//! checkpoints, in seed order; `tpe_optuna` and `gp_optuna` are the samplers with Optuna 5's
//! settings ([`TpeSampler::optuna`], [`GpSampler::optuna`]).

use std::time::Instant;

use anneal_hpo::prelude::*;
use anneal_hpo::sampler::Sampler;

const BRANIN_MIN: f64 = 0.397_887_357_729_738_16;
const HARTMANN6_MIN: f64 = -3.322_368_011_415_514_7;

fn branin(x1: f64, x2: f64) -> f64 {
    use std::f64::consts::PI;
    let (a, b, c) = (1.0, 5.1 / (4.0 * PI * PI), 5.0 / PI);
    let (r, s, t) = (6.0, 10.0, 1.0 / (8.0 * PI));
    a * (x2 - b * x1 * x1 + c * x1 - r).powi(2) + s * (1.0 - t) * x1.cos() + s
}

fn hartmann6(x: &[f64]) -> f64 {
    const A: [[f64; 6]; 4] = [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    const P: [[f64; 6]; 4] = [
        [1312.0, 1696.0, 5569.0, 124.0, 8283.0, 5886.0],
        [2329.0, 4135.0, 8307.0, 3736.0, 1004.0, 9991.0],
        [2348.0, 1451.0, 3522.0, 2883.0, 3047.0, 6650.0],
        [4047.0, 8828.0, 8732.0, 5743.0, 1091.0, 381.0],
    ];
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    -(0..4)
        .map(|i| {
            let s: f64 = (0..6).map(|j| A[i][j] * (x[j] - 1e-4 * P[i][j]).powi(2)).sum();
            ALPHA[i] * (-s).exp()
        })
        .sum::<f64>()
}

fn objective(name: &str, trial: &mut Trial) -> anneal_hpo::Result<f64> {
    Ok(match name {
        "branin" => {
            let x1 = trial.suggest_float("x1", -5.0, 10.0)?;
            let x2 = trial.suggest_float("x2", 0.0, 15.0)?;
            branin(x1, x2)
        }
        _ => {
            let x: Vec<f64> =
                (0..6).map(|i| trial.suggest_float(&format!("x{i}"), 0.0, 1.0)).collect::<anneal_hpo::Result<_>>()?;
            hartmann6(&x)
        }
    })
}

fn sampler(name: &str, seed: u64) -> Box<dyn Sampler> {
    match name {
        "tpe" => Box::new(TpeSampler::new(seed)),
        "tpe_optuna" => Box::new(TpeSampler::optuna(seed)),
        "tpe_indep" => Box::new(TpeSampler::new(seed).univariate()),
        "gp" => Box::new(GpSampler::new(seed)),
        "gp_optuna" => Box::new(GpSampler::optuna(seed)),
        "sobol" => Box::new(SobolSampler::new(seed)),
        "random" => Box::new(RandomSampler::new(seed)),
        other => panic!("unknown sampler {other}"),
    }
}

fn run_one(sampler_name: &str, func: &str, seed: u64, trials: usize) -> (Vec<f64>, Vec<f64>) {
    let f_min = if func == "branin" { BRANIN_MIN } else { HARTMANN6_MIN };
    let study = Study::builder(format!("{sampler_name}-{func}-{seed}"))
        .sampler(sampler(sampler_name, seed))
        .build()
        .expect("a valid study");
    let mut best = f64::INFINITY;
    let (mut curve, mut overhead) = (Vec::with_capacity(trials), Vec::with_capacity(trials));
    for _ in 0..trials {
        let t0 = Instant::now();
        let mut trial = study.ask().expect("ask");
        let v = objective(func, &mut trial).expect("suggest");
        study.tell(trial, v).expect("tell");
        overhead.push(t0.elapsed().as_secs_f64());
        best = best.min(v);
        curve.push(best - f_min);
    }
    (curve, overhead)
}

/// numpy.quantile with linear interpolation.
fn quantile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let pos = q * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

fn flag(args: &[String], name: &str, default: &str) -> String {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.into())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let samplers = flag(&args, "--samplers", "tpe,gp,random,sobol");
    let funcs = flag(&args, "--funcs", "branin,hartmann6");
    let trials: usize = flag(&args, "--trials", "100").parse().expect("--trials is a number");
    let seeds: u64 = flag(&args, "--seeds", "10").parse().expect("--seeds is a number");
    let first_seed: u64 = flag(&args, "--first-seed", "0").parse().expect("--first-seed is a number");
    let checkpoints: Vec<usize> = flag(&args, "--checkpoints", "25,50,100")
        .split(',')
        .filter_map(|c| c.parse().ok())
        .filter(|&c| c <= trials)
        .collect();
    let mut results = serde_json::Map::new();
    for s in samplers.split(',') {
        for f in funcs.split(',') {
            let (mut curves, mut overheads, mut walls) = (Vec::new(), Vec::new(), Vec::new());
            for seed in first_seed..first_seed + seeds {
                let t0 = Instant::now();
                let (c, o) = run_one(s, f, seed, trials);
                walls.push(t0.elapsed().as_secs_f64());
                curves.push(c);
                overheads.push(o);
            }
            let at = |k: usize, q: f64| quantile(&curves.iter().map(|c| c[k - 1]).collect::<Vec<_>>(), q);
            let per_cp = |q: f64| -> serde_json::Value {
                checkpoints.iter().map(|&k| (k.to_string(), serde_json::json!(at(k, q)))).collect()
            };
            let all: Vec<f64> = overheads.iter().flatten().copied().collect();
            let last10: Vec<f64> = overheads.iter().flat_map(|o| o[o.len().saturating_sub(10)..].to_vec()).collect();
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let r = serde_json::json!({
                "median_regret": per_cp(0.5),
                "q25_regret": per_cp(0.25),
                "q75_regret": per_cp(0.75),
                "regret_per_seed": checkpoints
                    .iter()
                    .map(|&k| (k.to_string(), serde_json::json!(curves.iter().map(|c| c[k - 1]).collect::<Vec<_>>())))
                    .collect::<serde_json::Map<_, _>>(),
                "overhead_s_per_trial_mean": mean(&all),
                "overhead_s_per_trial_median": quantile(&all, 0.5),
                "overhead_s_per_trial_last10_mean": mean(&last10),
                "wall_s_per_run_median": quantile(&walls, 0.5),
                "seeds": seeds,
                "trials": trials,
            });
            eprintln!(
                "# {s:7} {f:10} regret@{checkpoints:?} = {:?} overhead/trial={:.3} ms (last10 {:.3} ms)",
                checkpoints.iter().map(|&k| at(k, 0.5)).collect::<Vec<_>>(),
                mean(&all) * 1e3,
                mean(&last10) * 1e3
            );
            results.insert(format!("{s}/{f}"), r);
        }
    }
    let out = serde_json::json!({
        "bench": "hpo",
        "framework": "anneal-hpo",
        "config": {"samplers": samplers, "funcs": funcs, "trials": trials, "seeds": seeds, "first_seed": first_seed},
        "f_min": {"branin": BRANIN_MIN, "hartmann6": HARTMANN6_MIN},
        "results": results,
    });
    println!("{out}");
}
