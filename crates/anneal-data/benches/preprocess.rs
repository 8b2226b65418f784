//! Preprocessing benchmark: the workload of `shared/bench/preprocess.py`.
//!
//! 200 000 rows × 40 numeric columns (N(μ_j, σ_j), 5 % missing completely at random)
//! and 4 categorical columns with 10, 20, 35 and 50 levels (Zipf-like frequencies),
//! held in a `Table`. Timed: the whole pipeline (median imputation → standard
//! scaling on the numeric block, one-hot on the categoricals, PCA(10) over all 155
//! features) as `fit_transform` and as `transform` on a fitted pipeline, and the
//! materialisation of 5 k-fold index pairs with and without shuffling. Median of
//! `--repeats` runs; peak resident memory from `/proc/self/status`. One JSON line.
//!
//! Run through `cargo xtask bench data`.

use std::time::Instant;

use anneal_data::folds::k_fold;
use anneal_data::pca::{Components, PcaConfig};
use anneal_data::{Column, PreprocessConfig, SeededRng, Table};

const LEVELS: [usize; 4] = [10, 20, 35, 50];

fn make_table(n: usize, seed: u64) -> Table {
    let mut rng = SeededRng::new(seed);
    let mut columns = Vec::new();
    for j in 0..40 {
        let mu = rng.next_f64() * 20.0 - 10.0;
        let sd = 0.5 + rng.next_f64() * 4.5;
        let values = (0..n).map(|_| {
            let v = rng.normal() * sd + mu;
            if rng.next_f64() < 0.05 { None } else { Some(v) }
        });
        columns.push((format!("x{j}"), Column::Numeric(values.collect())));
    }
    for (c, &k) in LEVELS.iter().enumerate() {
        let weights: Vec<f64> = (1..=k).map(|i| 1.0 / i as f64).collect();
        let total: f64 = weights.iter().sum();
        let labels: Vec<String> = (0..k).map(|i| format!("c{c}_{i}")).collect();
        let values = (0..n).map(|_| {
            let mut u = rng.next_f64() * total;
            let mut i = 0;
            while i + 1 < k && u >= weights[i] {
                u -= weights[i];
                i += 1;
            }
            Some(labels[i].clone())
        });
        columns.push((format!("cat{c}"), Column::Categorical(values.collect())));
    }
    Table::from_columns(columns).expect("columns have equal length")
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        argv.iter()
            .position(|a| a == name)
            .and_then(|i| argv.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (rows, repeats) = (arg("--rows", 200_000), arg("--repeats", 3));
    let start = Instant::now();
    let table = make_table(rows, 0);
    let gen_s = start.elapsed().as_secs_f64();
    let rss_data = peak_rss_mb();
    let features = table.column_names();
    let config = PreprocessConfig {
        pca: Some(PcaConfig { components: Components::Count(10), whiten: false }),
        ..Default::default()
    };

    let (mut fit_transform, mut transform, mut shuffled, mut plain) = (vec![], vec![], vec![], vec![]);
    let mut ratio = 0.0;
    for r in 0..repeats {
        let t = Instant::now();
        let (pre, m) = config.fit_transform(&table, &features).expect("pipeline fits");
        fit_transform.push(t.elapsed().as_secs_f64());
        assert_eq!((m.n_rows, m.n_cols), (rows, 10));
        let t = Instant::now();
        let again = pre.transform(&table).expect("pipeline transforms");
        transform.push(t.elapsed().as_secs_f64());
        assert_eq!(again.values.len(), m.values.len());
        let t = Instant::now();
        let folds = k_fold(rows, 5, Some(r as u64)).expect("5 <= rows");
        shuffled.push(t.elapsed().as_secs_f64());
        assert_eq!(folds.iter().map(|f| f.test.len()).sum::<usize>(), rows);
        let t = Instant::now();
        let _ = k_fold(rows, 5, None).expect("5 <= rows");
        plain.push(t.elapsed().as_secs_f64());
        ratio = serde_json::to_value(&pre)
            .ok()
            .and_then(|v| {
                v["pca"]["explained_variance_ratio"].as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).sum())
            })
            .unwrap_or(f64::NAN);
    }
    println!(
        "{{\"bench\":\"preprocess\",\"rows\":{rows},\"gen_s\":{gen_s:.3},\"seconds_median\":{{\"pipeline_fit_transform\":{:.4},\"pipeline_transform\":{:.4},\"kfold5_shuffle\":{:.4},\"kfold5_noshuffle\":{:.4}}},\"peak_rss_mb\":{:.0},\"rss_after_data_mb\":{rss_data:.0},\"pca_explained_variance_ratio_sum\":{ratio:.4},\"runs_fit_transform\":{fit_transform:?}}}",
        median(fit_transform.clone()),
        median(transform),
        median(shuffled),
        median(plain),
        peak_rss_mb(),
    );
}
