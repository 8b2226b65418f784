//! The error no model can beat, estimated from the data by nearest neighbours:
//! the scale the bias/variance verdict measures "high error" against
//! ([`DiagnosisConfig::noise_floor`](crate::diagnose::DiagnosisConfig::noise_floor)).
//!
//! - Classes: the 1-nearest-neighbour error `R₁` of held-out rows bounds the
//!   Bayes error `R*` from below (Cover & Hart 1967, for `k` classes:
//!   `R₁ ≤ R*·(2 − k/(k−1)·R*)`), so `R* ≥ (k−1)/k · (1 − √(1 − k/(k−1)·R₁))`.
//! - Values: half the mean squared difference between a held-out row's target
//!   and its nearest training neighbour's estimates the noise variance σ² (the
//!   difference-based estimator behind the Gamma test); as a share of the
//!   target's variance it is the `1 − R²` a perfect model would still leave.
//!
//! Both are asymptotic: with few rows or many features the neighbour is far and
//! the estimate errs high. Neighbours are found by Euclidean distance on the
//! features as the model sees them (after preprocessing).
//!
//! ```
//! use anneal_evaluate::noise::classification_noise_floor;
//!
//! // One feature; classes split at 0, no noise: the floor is 0.
//! let fit: Vec<f32> = (0..40).map(|i| i as f32 - 20.0).collect();
//! let y_fit: Vec<usize> = fit.iter().map(|&x| usize::from(x >= 0.0)).collect();
//! let test = [-5.5f32, 7.5, 12.5];
//! let floor = classification_noise_floor(&fit, &y_fit, &test, &[0, 1, 1], 1, 2)?;
//! assert_eq!(floor, 0.0);
//! # Ok::<(), anneal_evaluate::EvalError>(())
//! ```

use crate::EvalError;
use crate::check;

/// Index of the row of `fit` (row-major, `d` per row) nearest to `row`.
fn nearest(fit: &[f32], d: usize, row: &[f32]) -> usize {
    let mut best = (0, f32::INFINITY);
    for (i, candidate) in fit.chunks_exact(d).enumerate() {
        let dist: f32 = candidate.iter().zip(row).map(|(a, b)| (a - b) * (a - b)).sum();
        if dist < best.1 {
            best = (i, dist);
        }
    }
    best.0
}

fn check_shapes(fit: &[f32], n_fit: usize, test: &[f32], n_test: usize, d: usize) -> Result<(), EvalError> {
    if d == 0 || n_fit == 0 || n_test == 0 {
        return Err(EvalError::Empty);
    }
    check::lengths(fit.len(), n_fit * d)?;
    check::lengths(test.len(), n_test * d)
}

/// A lower bound on the Bayes error of a `k`-class problem from the
/// 1-nearest-neighbour error of the `test` rows among the `fit` rows (features
/// row-major, `d` per row).
pub fn classification_noise_floor(
    fit: &[f32],
    y_fit: &[usize],
    test: &[f32],
    y_test: &[usize],
    d: usize,
    k: usize,
) -> Result<f64, EvalError> {
    check_shapes(fit, y_fit.len(), test, y_test.len(), d)?;
    let wrong = test.chunks_exact(d).zip(y_test).filter(|(row, y)| y_fit[nearest(fit, d, row)] != **y).count();
    let r1 = wrong as f64 / y_test.len() as f64;
    if k < 2 {
        return Ok(0.0);
    }
    let c = k as f64 / (k as f64 - 1.0);
    // Past (k−1)/k the 1-NN rule is no better than chance: the bound is its maximum.
    Ok((1.0 - (1.0 - c * r1).max(0.0).sqrt()) / c)
}

/// The share of the target's variance that is noise, `σ² / Var(y)`, from the
/// squared differences between each `test` row's target and its nearest `fit`
/// row's target (one target per row), clamped to `[0, 1]`.
pub fn regression_noise_floor(
    fit: &[f32],
    y_fit: &[f64],
    test: &[f32],
    y_test: &[f64],
    d: usize,
) -> Result<f64, EvalError> {
    check_shapes(fit, y_fit.len(), test, y_test.len(), d)?;
    check::finite("y_fit", y_fit)?;
    check::finite("y_test", y_test)?;
    let n = y_test.len() as f64;
    let sigma2 =
        test.chunks_exact(d).zip(y_test).map(|(row, y)| (y - y_fit[nearest(fit, d, row)]).powi(2)).sum::<f64>()
            / (2.0 * n);
    let mean = y_test.iter().sum::<f64>() / n;
    let var = y_test.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / n;
    Ok(if var > 0.0 { (sigma2 / var).clamp(0.0, 1.0) } else { 0.0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anneal_core::SeededRng;

    /// `n` rows of two unit-variance blobs at (−3, 0) and (3, 0), labels flipped with probability `flip`.
    fn noisy_blobs(n: usize, flip: f64, seed: u64) -> (Vec<f32>, Vec<usize>) {
        let mut rng = SeededRng::new(seed);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..n {
            let class = i % 2;
            let centre = if class == 0 { -3.0 } else { 3.0 };
            x.push((centre + rng.normal()) as f32);
            x.push(rng.normal() as f32);
            y.push(if rng.next_f64() < flip { 1 - class } else { class });
        }
        (x, y)
    }

    #[test]
    fn label_noise_is_found() {
        // Two well-separated blobs with 30 % of the labels flipped: the Bayes error is 0.3.
        let (fit, y_fit) = noisy_blobs(2000, 0.3, 1);
        let (test, y_test) = noisy_blobs(500, 0.3, 2);
        let floor = classification_noise_floor(&fit, &y_fit, &test, &y_test, 2, 2).unwrap();
        assert!((0.22..0.38).contains(&floor), "floor {floor}");
        let (clean_fit, clean_y) = noisy_blobs(2000, 0.0, 1);
        let (clean_test, clean_y_test) = noisy_blobs(500, 0.0, 2);
        assert!(classification_noise_floor(&clean_fit, &clean_y, &clean_test, &clean_y_test, 2, 2).unwrap() < 0.02);
    }

    #[test]
    fn value_noise_is_found() {
        // y = sin(3x) + N(0, 0.5²) on x ∈ [0, 2]: noise share 0.25 / (0.25 + Var(sin 3x)).
        let mut rng = SeededRng::new(12345);
        let mut draw = |n: usize| {
            let x: Vec<f64> = (0..n).map(|_| 2.0 * rng.next_f64()).collect();
            let y: Vec<f64> = x.iter().map(|x| (3.0 * x).sin() + 0.5 * rng.normal()).collect();
            (x.iter().map(|&v| v as f32).collect::<Vec<_>>(), y)
        };
        let (fit, y_fit) = draw(4000);
        let (test, y_test) = draw(1000);
        let floor = regression_noise_floor(&fit, &y_fit, &test, &y_test, 1).unwrap();
        let mean = y_test.iter().sum::<f64>() / 1000.0;
        let var = y_test.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / 1000.0;
        let truth = 0.25 / var;
        assert!((floor - truth).abs() < 0.06, "floor {floor}, true share {truth}");
    }
}
