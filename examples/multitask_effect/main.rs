//! Does training related tasks together help? Two files, two tasks each, every
//! task trained alone and both together through `[multitask]` with each loss
//! weighting and gradient combination, 5 paired seeds (a seed fixes the split,
//! the initial weights and the batch order of every arm):
//!
//! - `data/penguins.csv.gz`: `species` (3 classes) and `body_mass_g` (grams)
//!   from island, bill and flipper measurements, sex and year (the two rows
//!   with no measurement at all are dropped in every arm, so all arms score
//!   the same test rows);
//! - `data/sklearn_diabetes_raw.csv.gz`: disease progression after a year
//!   (`target`) and the serum triglycerides measurement `s5`, from age, sex,
//!   BMI, blood pressure and the other five serum measurements.
//!
//! Arms: each task alone; together with fixed weights (summed gradients, the
//! conflict rate measured), learned uncertainty weights, dynamic weight
//! average, and PCGrad. Prints each task's test score (accuracy, or R² and
//! RMSE) as mean ± standard deviation, the paired difference against the task
//! alone (mean ± standard error), the conflict rate and the time per epoch,
//! and writes them to `target/multitask_effect/results.json`.
//!
//! Run: `cargo run --release --example multitask_effect [-- --seeds 0,1,2,3,4]`
//! (about 5 minutes on 2 cores).

use std::path::Path;

use anneal::RunConfig;
use anneal::run::{RunMetrics, TaskTest, TestMetrics};

#[path = "../common/experiment.rs"]
mod experiment;
use experiment::{arg, mean_sd, run};

/// One file's two tasks and how its runs are set up.
struct Problem {
    name: &'static str,
    data: &'static str,
    tasks: [&'static str; 2],
    /// Extra tables of every arm's config (cleaning, preprocessing).
    extra: &'static str,
}

const PROBLEMS: [Problem; 2] = [
    Problem {
        name: "penguins",
        data: "data/penguins.csv.gz",
        tasks: ["species", "body_mass_g"],
        extra: "[clean]\ndrop_missing = [\"body_mass_g\"]\n[preprocess]\nnumeric_impute = \"median\"\nscaling = \"standard\"\none_hot = { unknown = \"ignore\" }\n",
    },
    Problem {
        name: "diabetes",
        data: "data/sklearn_diabetes_raw.csv.gz",
        tasks: ["target", "s5"],
        extra: "[preprocess]\nscaling = \"standard\"\n",
    },
];

/// The arms: a task alone (its index), or both with a `[multitask]` table.
const ARMS: [(&str, Option<&str>); 6] = [
    ("first task alone", None),
    ("second task alone", None),
    ("together, fixed weights", Some("weighting = \"fixed\"\nmeasure_conflicts = true")),
    ("together, uncertainty", Some("weighting = \"uncertainty\"")),
    ("together, DWA", Some("weighting = \"dwa\"")),
    ("together, PCGrad", Some("weighting = \"fixed\"\ngradients = \"pcgrad\"")),
];

fn config_text(root: &Path, p: &Problem, arm: usize, seed: u64) -> String {
    let target = match arm {
        0 => format!("\"{}\"", p.tasks[0]),
        1 => format!("\"{}\"", p.tasks[1]),
        _ => format!("[\"{}\", \"{}\"]", p.tasks[0], p.tasks[1]),
    };
    // A task trained alone leaves the other out of its inputs too.
    let exclude = match arm {
        0 => format!("exclude = [\"{}\"]", p.tasks[1]),
        1 => format!("exclude = [\"{}\"]", p.tasks[0]),
        _ => String::new(),
    };
    let multitask = ARMS[arm].1.map_or(String::new(), |t| format!("[multitask]\n{t}\n"));
    let extra = p.extra;
    format!(
        r#"seed = {seed}
[data]
path = "{data}"
target = {target}
{exclude}
[split]
train = 0.6
valid = 0.2
test = 0.2
stratify = false
{extra}
[model]
kind = "mlp"
hidden = [32, 16]
activation = "relu"
dropout = 0.1
[optimizer]
name = "adam"
learning_rate = 0.01
[training]
epochs = 200
batch_size = 16
early_stopping = {{ monitor = "val_loss", goal = "minimize", patience = 25, restore_best = true }}
{multitask}"#,
        data = root.join(p.data).display()
    )
}

/// A test score, and the RMSE of a regression.
type Score = (f64, Option<f64>);

/// The test score of `task` in a run: accuracy for classes, R² and RMSE for values.
fn scores(m: &RunMetrics, task: &str) -> Option<Score> {
    let of = |t: &TaskTest| match t {
        TaskTest::Classification(c) => (c.accuracy, None),
        TaskTest::Regression(r) => (r.r2, Some(r.rmse)),
    };
    match &m.test {
        TestMetrics::Classification(c) => Some((c.accuracy, None)),
        TestMetrics::Regression(r) => Some((r.r2, Some(r.rmse))),
        TestMetrics::MultiTask(t) => t.tasks.get(task).map(of),
    }
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize()?;
    let seeds: Vec<u64> = match arg::<String>("--seeds") {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => (0..5).collect(),
    };
    let work = root.join("target/multitask_effect");
    std::fs::create_dir_all(&work)?;
    let mut results = serde_json::Map::new();
    for p in &PROBLEMS {
        println!("\n## {} ({} and {}), {} seeds\n", p.name, p.tasks[0], p.tasks[1], seeds.len());
        // [arm][task] → per seed (score, rmse); [arm] → conflict rates, seconds per epoch.
        let mut score: Vec<[Vec<Score>; 2]> = vec![[Vec::new(), Vec::new()]; ARMS.len()];
        let mut conflicts: Vec<Vec<f64>> = vec![Vec::new(); ARMS.len()];
        let mut per_epoch: Vec<Vec<f64>> = vec![Vec::new(); ARMS.len()];
        for &seed in &seeds {
            for arm in 0..ARMS.len() {
                let file = work.join(format!("{}_{arm}_{seed}.toml", p.name));
                std::fs::write(&file, config_text(&root, p, arm, seed))?;
                let config = RunConfig::load(&file)?;
                let m = run(&config, &work.join(format!("{}_{arm}_{seed}", p.name)))?;
                for (t, task) in p.tasks.iter().enumerate() {
                    let applies = arm >= 2 || arm == t;
                    if let (true, Some(s)) = (applies, scores(&m, task)) {
                        score[arm][t].push(s);
                    }
                }
                let epochs = m.history.len().max(1) as f64;
                per_epoch[arm].push(m.history.iter().map(|r| r.seconds).sum::<f64>() / epochs);
                let rates: Vec<f64> = m.history.iter().filter_map(|r| r.metric("train_conflict_rate")).collect();
                if !rates.is_empty() {
                    conflicts[arm].push(rates.iter().sum::<f64>() / rates.len() as f64);
                }
            }
            eprintln!("{} seed {seed} done", p.name);
        }
        let is_class = score[0][0].first().is_some_and(|s| s.1.is_none());
        println!(
            "| arm | {} {} | vs alone | {} R² | vs alone | {} RMSE | conflict rate | s/epoch |\n|---|---|---|---|---|---|---|---|",
            p.tasks[0],
            if is_class { "accuracy" } else { "R²" },
            p.tasks[1],
            p.tasks[1]
        );
        let mut rows = Vec::new();
        for (arm, (name, _)) in ARMS.iter().enumerate() {
            let cell = |t: usize| -> (String, String) {
                let v: Vec<f64> = score[arm][t].iter().map(|s| s.0).collect();
                if v.is_empty() {
                    return ("".into(), "".into());
                }
                let (m, sd) = mean_sd(&v);
                let diff = if arm >= 2 {
                    let alone: Vec<f64> = score[t][t].iter().map(|s| s.0).collect();
                    let d: Vec<f64> = v.iter().zip(&alone).map(|(a, b)| a - b).collect();
                    let (dm, dsd) = mean_sd(&d);
                    format!("{:+.4} ± {:.4}", dm, dsd / (d.len() as f64).sqrt())
                } else {
                    String::new()
                };
                (format!("{m:.4} ± {sd:.4}"), diff)
            };
            let ((a, da), (b, db)) = (cell(0), cell(1));
            let rmse: Vec<f64> = score[arm][1].iter().filter_map(|s| s.1).collect();
            let rmse = if rmse.is_empty() {
                String::new()
            } else {
                let (m, sd) = mean_sd(&rmse);
                format!("{m:.4} ± {sd:.4}")
            };
            let conflict =
                if conflicts[arm].is_empty() { String::new() } else { format!("{:.2}", mean_sd(&conflicts[arm]).0) };
            let seconds = mean_sd(&per_epoch[arm]).0;
            println!("| {name} | {a} | {da} | {b} | {db} | {rmse} | {conflict} | {seconds:.3} |");
            rows.push(serde_json::json!({
                "arm": name, "first": score[arm][0], "second": score[arm][1],
                "conflict_rate": conflicts[arm], "seconds_per_epoch": per_epoch[arm],
            }));
        }
        results.insert(p.name.to_string(), serde_json::Value::Array(rows));
    }
    let out = work.join("results.json");
    std::fs::write(&out, serde_json::to_string_pretty(&serde_json::Value::Object(results))?)?;
    println!("\nresults: {}", out.display());
    Ok(())
}
