//! Metrics benchmark: the workload of `benches/metrics.py` (scikit-learn), run side
//! by side by `cargo xtask bench eval --reference PYTHON`.
//!
//! 10^7 predictions, generated bit-identically here and in NumPy from a
//! counter-based SplitMix64: 10-class `y_true`, `y_pred` equal to it 70 % of the
//! time and uniform otherwise; a binary label (30 % positive) and a score
//! `0.35 * label + 0.65 * uniform`. Timed: accuracy, macro-F1 (confusion matrix
//! included) and binary ROC-AUC, each the median of `--repeats` runs on one
//! thread. One JSON line with the seconds and the values (which must equal
//! scikit-learn's).

use std::hint::black_box;
use std::time::Instant;

use anneal_evaluate::{Average, accuracy, f1, roc_auc};

/// SplitMix64 of counter `i` in stream `seed` (the same arithmetic as `metrics.py`).
fn mix(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_add((i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn uniform(seed: u64, i: u64) -> f64 {
    (mix(seed, i) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(repeats: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut seconds = Vec::new();
    let mut out = None;
    for _ in 0..repeats {
        let start = Instant::now();
        out = Some(black_box(f()));
        seconds.push(start.elapsed().as_secs_f64());
    }
    (median(seconds), out.expect("at least one repeat"))
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
    let (n, repeats) = (arg("--n", 10_000_000), arg("--repeats", 5).max(1));
    let start = Instant::now();
    let y_true: Vec<usize> = (0..n as u64).map(|i| (mix(1, i) % 10) as usize).collect();
    let y_pred: Vec<usize> = (0..n as u64)
        .map(|i| if uniform(2, i) < 0.7 { y_true[i as usize] } else { (mix(3, i) % 10) as usize })
        .collect();
    let y_bin: Vec<usize> = (0..n as u64).map(|i| usize::from(uniform(4, i) < 0.3)).collect();
    let score: Vec<f64> = (0..n as u64).map(|i| 0.35 * y_bin[i as usize] as f64 + 0.65 * uniform(5, i)).collect();
    let generate_s = start.elapsed().as_secs_f64();

    let (acc_s, acc) = time(repeats, || accuracy(&y_true, &y_pred).expect("valid input"));
    let (f1_s, macro_f1) = time(repeats, || f1(&y_true, &y_pred, 10, Average::Macro).expect("valid input"));
    let (auc_s, auc) = time(repeats, || roc_auc(&y_bin, &score).expect("valid input"));
    println!(
        "{{\"n\":{n},\"repeats\":{repeats},\"generate_s\":{generate_s:.3},\
         \"seconds_median\":{{\"accuracy\":{acc_s:.6},\"macro_f1\":{f1_s:.6},\"roc_auc\":{auc_s:.6}}},\
         \"values\":{{\"accuracy\":{acc:?},\"macro_f1\":{macro_f1:?},\"roc_auc\":{auc:?}}}}}"
    );
}
