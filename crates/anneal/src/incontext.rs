//! In-context learning in miniature (Garg et al. 2022, "What can transformers
//! learn in-context?", <https://arxiv.org/abs/2208.01633>): a causal
//! transformer ([`InContextRegressor`]) is trained on prompts of `(x, y)` pairs
//! from random linear functions `y = w·x + ε` (`x, w ~ N(0, I_d)`,
//! `ε ~ N(0, noise²)`), every prompt a new `w`, and is then asked for the `y` of
//! a query `x` of functions it never saw, with no parameter update: all it
//! knows of the function is the `k` pairs before the query.
//!
//! Its error against `k` is measured beside three estimators that see the same
//! `k` pairs: least squares (the minimum-norm solution while `k < d`), the
//! mean `y` of the 3 nearest `x` (k-nearest neighbours) and averaging
//! (`ŵ = (1/k)·Σ yᵢxᵢ`). Errors are squared errors divided by `d` (the
//! variance of `w·x`), so guessing 0 scores about 1.
//!
//! ```
//! use anneal::incontext::{Baseline, Prompts, baseline_errors};
//!
//! let prompts = Prompts::sample(5, 16, 200, 0.1, 7);
//! let ls = baseline_errors(&prompts, Baseline::LeastSquares);
//! assert!(ls[0] > 0.6 && ls[10] < 0.02); // nothing known at k = 0; w pinned down at k = 2d
//! ```

use anneal_core::{SeededRng, Stream};
use anneal_data::{Batch, Target};
use anneal_models::incontext::{InContextConfig, InContextRegressor};
use anneal_optim::{OptimizerConfig, ScheduleConfig};
use anneal_train::{Loss, StepInfo, Stepper};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A batch of prompts, each from its own random linear function.
#[derive(Debug, Clone)]
pub struct Prompts {
    /// The inputs' dimension `d`.
    pub dim: usize,
    /// Pairs per prompt.
    pub points: usize,
    /// `[n, points, d]` row-major.
    pub xs: Vec<f64>,
    /// `[n, points]`: `w·x + ε`.
    pub ys: Vec<f64>,
}

impl Prompts {
    /// `n` prompts of `points` pairs in `dim` dimensions with noise standard
    /// deviation `noise`, every value drawn from `seed`.
    pub fn sample(dim: usize, points: usize, n: usize, noise: f64, seed: u64) -> Self {
        let mut rng = SeededRng::stream(seed, Stream::Named("incontext_prompts", 0));
        let mut xs = Vec::with_capacity(n * points * dim);
        let mut ys = Vec::with_capacity(n * points);
        for _ in 0..n {
            let w: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
            for _ in 0..points {
                let x: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
                ys.push(x.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + noise * rng.normal());
                xs.extend(x);
            }
        }
        Self { dim, points, xs, ys }
    }

    /// The number of prompts.
    pub fn len(&self) -> usize {
        self.ys.len() / self.points.max(1)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ys.is_empty()
    }

    fn x(&self, prompt: usize, i: usize) -> &[f64] {
        let at = (prompt * self.points + i) * self.dim;
        &self.xs[at..at + self.dim]
    }

    /// The model's input: `[n, 2 · points, d + 1]`, tokens `[x, 0]` and `[0, …, 0, y]`.
    pub fn tokens(&self, device: &Device) -> Tensor<3> {
        let (n, p, d) = (self.len(), self.points, self.dim);
        let mut values = vec![0.0f32; n * 2 * p * (d + 1)];
        for prompt in 0..n {
            for i in 0..p {
                let x_token = ((prompt * p + i) * 2) * (d + 1);
                for (v, &x) in values[x_token..x_token + d].iter_mut().zip(self.x(prompt, i)) {
                    *v = x as f32;
                }
                values[x_token + 2 * (d + 1) - 1] = self.ys[prompt * p + i] as f32;
            }
        }
        Tensor::from_data(TensorData::new(values, [n, 2 * p, d + 1]), device)
    }

    /// The targets `[n · points, 1]`, in the model's output order.
    pub fn targets(&self, device: &Device) -> Tensor<2> {
        let ys: Vec<f32> = self.ys.iter().map(|&y| y as f32).collect();
        Tensor::from_data(TensorData::new(ys, [self.ys.len(), 1]), device)
    }
}

/// An estimator the transformer is compared with, fitted on each prompt's
/// first `k` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// Ordinary least squares; the minimum-norm solution while `k < d`
    /// (NumPy's `lstsq`). 0 at `k = 0`.
    LeastSquares,
    /// The mean `y` of the 3 nearest `x` (all `k` while `k < 3`; 0 at `k = 0`).
    NearestNeighbours,
    /// `ŵ = (1/k)·Σ yᵢxᵢ`, an unbiased estimate of `w` for `x ~ N(0, I)`. 0 at `k = 0`.
    Averaging,
}

impl Baseline {
    /// Its name in tables and plots.
    pub fn label(self) -> &'static str {
        match self {
            Self::LeastSquares => "least squares",
            Self::NearestNeighbours => "3-nearest neighbours",
            Self::Averaging => "averaging",
        }
    }

    /// The guess at `x` from the pairs `(xs[i], ys[i])` (`xs` row-major, `d` wide).
    fn predict(self, xs: &[f64], ys: &[f64], x: &[f64]) -> f64 {
        let (k, d) = (ys.len(), x.len());
        if k == 0 {
            return 0.0;
        }
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
        match self {
            Self::Averaging => {
                let mut w = vec![0.0; d];
                for (xi, &yi) in xs.chunks(d).zip(ys) {
                    for (wj, &xj) in w.iter_mut().zip(xi) {
                        *wj += yi * xj / k as f64;
                    }
                }
                dot(&w, x)
            }
            Self::NearestNeighbours => {
                let mut by_distance: Vec<(f64, f64)> = xs
                    .chunks(d)
                    .zip(ys)
                    .map(|(xi, &yi)| (xi.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f64>(), yi))
                    .collect();
                by_distance.sort_by(|a, b| a.0.total_cmp(&b.0));
                let near = &by_distance[..k.min(3)];
                near.iter().map(|p| p.1).sum::<f64>() / near.len() as f64
            }
            Self::LeastSquares => least_squares(xs, ys, d).map_or(0.0, |w| dot(&w, x)),
        }
    }
}

/// The least-squares `w` of `k` pairs, the minimum-norm one while `k < d`:
/// `Xᵀ(XXᵀ)⁻¹y` for `k ≤ d`, `(XᵀX)⁻¹Xᵀy` after. `None` for a singular system
/// (probability 0 with Gaussian inputs).
fn least_squares(xs: &[f64], ys: &[f64], d: usize) -> Option<Vec<f64>> {
    let k = ys.len();
    let row = |i: usize| &xs[i * d..(i + 1) * d];
    if k <= d {
        let gram: Vec<f64> =
            (0..k * k).map(|ij| row(ij / k).iter().zip(row(ij % k)).map(|(a, b)| a * b).sum()).collect();
        let a = solve_spd(gram, ys.to_vec(), k)?;
        Some((0..d).map(|j| (0..k).map(|i| a[i] * row(i)[j]).sum()).collect())
    } else {
        let gram: Vec<f64> = (0..d * d).map(|jl| (0..k).map(|i| row(i)[jl / d] * row(i)[jl % d]).sum()).collect();
        let rhs: Vec<f64> = (0..d).map(|j| (0..k).map(|i| row(i)[j] * ys[i]).sum()).collect();
        solve_spd(gram, rhs, d)
    }
}

/// Solves `A·x = b` for a symmetric positive definite `A` (`n × n`, row-major)
/// by Cholesky factorisation; `None` when `A` is not positive definite.
fn solve_spd(mut a: Vec<f64>, mut b: Vec<f64>, n: usize) -> Option<Vec<f64>> {
    for j in 0..n {
        let mut diag = a[j * n + j];
        for p in 0..j {
            diag -= a[j * n + p] * a[j * n + p];
        }
        if diag <= 1e-12 * a[j * n + j].abs().max(1e-300) {
            return None;
        }
        let diag = diag.sqrt();
        a[j * n + j] = diag;
        for i in j + 1..n {
            let mut v = a[i * n + j];
            for p in 0..j {
                v -= a[i * n + p] * a[j * n + p];
            }
            a[i * n + j] = v / diag;
        }
    }
    for i in 0..n {
        for p in 0..i {
            b[i] -= a[i * n + p] * b[p];
        }
        b[i] /= a[i * n + i];
    }
    for i in (0..n).rev() {
        for p in i + 1..n {
            b[i] -= a[p * n + i] * b[p];
        }
        b[i] /= a[i * n + i];
    }
    Some(b)
}

/// The normalised squared error of `baseline` at every `k = 0 … points − 1`:
/// the guess for pair `k + 1` from the `k` before it, squared error over `d`,
/// averaged over the prompts.
pub fn baseline_errors(prompts: &Prompts, baseline: Baseline) -> Vec<f64> {
    let (p, d, n) = (prompts.points, prompts.dim, prompts.len());
    let mut errors = vec![0.0; p];
    for prompt in 0..n {
        let xs = &prompts.xs[prompt * p * d..(prompt + 1) * p * d];
        let ys = &prompts.ys[prompt * p..(prompt + 1) * p];
        for (k, e) in errors.iter_mut().enumerate() {
            let guess = baseline.predict(&xs[..k * d], &ys[..k], &xs[k * d..(k + 1) * d]);
            *e += (guess - ys[k]).powi(2) / d as f64 / n as f64;
        }
    }
    errors
}

/// The model's normalised squared error at every `k = 0 … points − 1`, as
/// [`baseline_errors`] (prompts evaluated in batches of 500).
pub fn model_errors(model: &InContextRegressor, prompts: &Prompts, device: &Device) -> Result<Vec<f64>> {
    let (p, d) = (prompts.points, prompts.dim);
    let mut errors = vec![0.0; p];
    let n = prompts.len();
    for start in (0..n).step_by(500) {
        let end = (start + 500).min(n);
        let part = Prompts {
            dim: d,
            points: p,
            xs: prompts.xs[start * p * d..end * p * d].to_vec(),
            ys: prompts.ys[start * p..end * p].to_vec(),
        };
        let guesses = model.forward(part.tokens(device)).into_data().convert::<f32>().try_to_vec::<f32>();
        let guesses = guesses.map_err(|e| Error::Setting(format!("reading the model's guesses: {e:?}")))?;
        for (i, (g, y)) in guesses.iter().zip(&part.ys).enumerate() {
            errors[i % p] += (f64::from(*g) - y).powi(2) / d as f64 / n as f64;
        }
    }
    Ok(errors)
}

/// How the transformer is trained: fresh prompts every step (an endless
/// stream, as Garg et al.), Adam with a linear warm-up and a cosine decay,
/// the squared error of every guess in the prompt the loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IclConfig {
    /// The network (`dim` and `points` are the task's).
    pub model: InContextConfig,
    /// The noise's standard deviation (0.1).
    pub noise: f64,
    /// Updates.
    pub steps: usize,
    /// Prompts per update.
    pub batch_size: usize,
    /// Adam's peak learning rate.
    pub learning_rate: f64,
    /// Updates of linear warm-up.
    pub warmup: usize,
    /// Seed of the initial weights and of the training prompts.
    pub seed: u64,
}

impl IclConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        self.model.validate().map_err(|e| Error::Setting(e.to_string()))?;
        let bad = |m: String| Err(Error::Setting(format!("in-context training: {m}")));
        if self.steps == 0 || self.batch_size == 0 {
            return bad(format!("steps ({}) and batch_size ({}) must be at least 1", self.steps, self.batch_size));
        }
        if !(self.noise >= 0.0 && self.noise.is_finite()) {
            return bad(format!("noise must be a finite standard deviation ≥ 0, not {}", self.noise));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(format!("learning_rate must be positive, not {}", self.learning_rate));
        }
        if self.warmup >= self.steps {
            return bad(format!("warmup ({}) must be shorter than the run ({} steps)", self.warmup, self.steps));
        }
        Ok(())
    }
}

/// Trains the transformer of `config` on `train_device` (an autodiff device);
/// `progress` gets every 100th step's mean training loss. Returns the model
/// on the inner device and the loss curve (mean per 100 steps).
pub fn train(
    config: &IclConfig,
    train_device: &Device,
    progress: &mut dyn FnMut(usize, f64),
) -> Result<(InContextRegressor, Vec<(usize, f64)>)> {
    config.validate()?;
    let m = &config.model;
    let mut model = config.model.init(config.seed, train_device).map_err(|e| Error::Setting(e.to_string()))?;
    let optimizer_config = OptimizerConfig::adam(config.learning_rate);
    let mut optimizer = optimizer_config.init()?;
    let schedule = ScheduleConfig::Warmup {
        steps: config.warmup.max(1),
        start_factor: 0.01,
        then: Box::new(ScheduleConfig::Cosine { t_max: None, eta_min: 0.0 }),
    };
    let mut scheduler = schedule.build(config.learning_rate, config.steps)?;
    let mut stepper = Stepper::<InContextRegressor>::plain();
    let mut curve = Vec::new();
    let (mut sum, mut count) = (0.0, 0usize);
    for step in 0..config.steps {
        let prompts = Prompts::sample(
            m.dim,
            m.points,
            config.batch_size,
            config.noise,
            SeededRng::derive(config.seed, 1 + step as u64).next_u64(),
        );
        optimizer.set_learning_rate(scheduler.lr());
        let batch =
            Batch { input: prompts.tokens(train_device), target: Target::Values(prompts.targets(train_device)) };
        let info = StepInfo { epoch: 1, iteration: step + 1, batch_len: config.batch_size };
        let (updated, out) = stepper.step(model, &mut optimizer, batch, &Loss::Mse, &info, &mut [])?;
        model = updated;
        scheduler.step();
        let loss = f64::from(out.loss.into_scalar::<f32>());
        if !loss.is_finite() {
            return Err(Error::Setting(format!("in-context training diverged at step {}: loss {loss}", step + 1)));
        }
        sum += loss;
        count += 1;
        if count == 100 || step + 1 == config.steps {
            curve.push((step + 1, sum / count as f64));
            progress(step + 1, sum / count as f64);
            (sum, count) = (0.0, 0);
        }
    }
    Ok((model.valid(), curve))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Least squares recovers `w` exactly from `d` noiseless pairs, and is the
    /// minimum-norm interpolant before that; averaging and the neighbours
    /// guess 0 with no pair and the one `y` with one.
    #[test]
    fn baselines_are_the_textbook_estimators() {
        let xs = [1.0, 0.0, 0.0, 2.0, 1.0, 1.0];
        let ys = [3.0, -4.0, 1.0]; // w = (3, -2)
        let w = least_squares(&xs[..4], &ys[..2], 2).unwrap();
        assert!((w[0] - 3.0).abs() < 1e-12 && (w[1] + 2.0).abs() < 1e-12, "{w:?}");
        // One pair: the minimum-norm w is along x₁.
        let w = least_squares(&xs[..2], &ys[..1], 2).unwrap();
        assert_eq!(w, vec![3.0, 0.0]);
        // Overdetermined and consistent: the same w.
        let w = least_squares(&xs, &ys, 2).unwrap();
        assert!((w[0] - 3.0).abs() < 1e-12 && (w[1] + 2.0).abs() < 1e-12, "{w:?}");
        for b in [Baseline::LeastSquares, Baseline::NearestNeighbours, Baseline::Averaging] {
            assert_eq!(b.predict(&[], &[], &[1.0, 1.0]), 0.0);
        }
        assert_eq!(Baseline::NearestNeighbours.predict(&xs[..2], &ys[..1], &[5.0, 5.0]), 3.0);
        assert_eq!(Baseline::Averaging.predict(&xs[..4], &ys[..2], &[1.0, 1.0]), (3.0 - 8.0) / 2.0);
        assert!(least_squares(&[1.0, 1.0, 2.0, 2.0], &[1.0, 2.0], 2).is_none(), "a singular system is refused");
    }

    /// The errors as the theory says: 1 + noise/d with no pair, least squares
    /// near its noise floor σ²(1 + d/(k − d − 1))/d at k = 2d, averaging worse
    /// than least squares there.
    #[test]
    fn baseline_errors_match_the_theory() {
        let prompts = Prompts::sample(5, 16, 4000, 0.1, 3);
        let ls = baseline_errors(&prompts, Baseline::LeastSquares);
        let avg = baseline_errors(&prompts, Baseline::Averaging);
        assert!((ls[0] - 1.002).abs() < 0.06, "{}", ls[0]);
        let floor = 0.01 * (1.0 + 5.0 / 4.0) / 5.0;
        assert!((ls[10] - floor).abs() < 0.3 * floor, "{} vs {floor}", ls[10]);
        assert!(avg[10] > 10.0 * ls[10], "{} {}", avg[10], ls[10]);
    }

    /// A few hundred steps of a tiny network already beat guessing 0, and the
    /// same seed trains the same weights.
    #[test]
    fn a_tiny_transformer_learns_something_in_context_and_is_deterministic() {
        let config = IclConfig {
            model: InContextConfig { dim: 2, points: 6, d_model: 16, layers: 2, heads: 2, d_ff: 32 },
            noise: 0.1,
            steps: 400,
            batch_size: 64,
            learning_rate: 5e-3,
            warmup: 20,
            seed: 1,
        };
        let device = Device::flex();
        let (model, curve) = train(&config, &device.clone().autodiff(), &mut |_, _| {}).unwrap();
        let prompts = Prompts::sample(2, 6, 500, 0.1, 99);
        let errors = model_errors(&model, &prompts, &device).unwrap();
        assert!(curve.last().unwrap().1 < curve[0].1, "{curve:?}");
        assert!(errors[5] < 0.6 * errors[0], "{errors:?}");
        let short = IclConfig { steps: 30, warmup: 5, ..config.clone() };
        let (a, _) = train(&short, &device.clone().autodiff(), &mut |_, _| {}).unwrap();
        let (b, _) = train(&short, &device.clone().autodiff(), &mut |_, _| {}).unwrap();
        assert_eq!(model_errors(&a, &prompts, &device).unwrap(), model_errors(&b, &prompts, &device).unwrap());
        let bad = IclConfig { warmup: 400, ..config };
        assert!(bad.validate().unwrap_err().to_string().contains("warmup"));
    }
}
