//! Gaussian-process Bayesian optimisation, as Optuna's `GPSampler`: a Matérn 5/2 ARD
//! kernel with hyperparameters fitted by maximum a posteriori marginal likelihood, a
//! fitted quadratic prior mean, and log expected improvement (Ament et al. 2023) maximised
//! by quasi-random candidates and L-BFGS local search.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{RandomSampler, SampleContext, Sampler, SobolSampler, trials_with};
use crate::error::{HpoError, Result};
use crate::math::{cholesky, dot, lbfgs_minimize, log_ei, solve_lower, solve_upper_t};
use crate::space::Distribution;
use crate::storage::{FrozenTrial, TrialState};
use anneal_core::SeededRng;

/// Optuna's noise variance floor (`DEFAULT_MINIMUM_NOISE_VAR`), on standardised values.
const OPTUNA_MIN_NOISE: f64 = 1e-6;

/// Our noise variance floor: low enough that a deterministic objective is interpolated
/// closely near its optimum (see [`GpSampler::new`]), high enough to keep the Cholesky
/// factor of nearly coincident trials well conditioned in `f64`.
const MIN_NOISE: f64 = 1e-8;

/// The model's fixed choices.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Model {
    /// The prior on each lengthscale.
    prior: LengthscalePrior,
    /// The prior mean.
    mean: PriorMean,
    /// The least noise variance, on standardised values.
    min_noise: f64,
}

impl Model {
    /// Optuna 5's model.
    const OPTUNA: Self = Self { prior: LengthscalePrior::Optuna, mean: PriorMean::Zero, min_noise: OPTUNA_MIN_NOISE };
}

/// Bayesian optimisation with a Gaussian-process surrogate.
///
/// Inputs are normalised to `[0, 1]` (log parameters on the log scale, discrete ones at the
/// centre of their cell); categorical parameters are compared by Hamming distance, which
/// is one-hot encoding with one lengthscale per parameter. Objective values are
/// standardised, and the prior mean is the constant plus multiple of the squared distance
/// from the centre of the space that best explain them for the fitted kernel (see
/// [`PriorMean`]). The kernel is Matérn 5/2 with one
/// lengthscale per dimension (ARD), a signal variance and a noise variance (at least 1e-8
/// of the objective's variance), fitted by L-BFGS on the log marginal likelihood
/// plus priors (Optuna's Gamma(2, 1) on the signal variance and Gamma(1.1, 30) on the
/// noise; a Gamma(3, 6) prior on each lengthscale, see [`LengthscalePrior`]), warm-started
/// from the previous fit. The next point maximises log expected improvement over the best value
/// seen: 2048 scrambled Sobol candidates, then L-BFGS from the best of them, the best trial
/// so far and 8 more picked by roulette, with exhaustive search over discrete parameters.
/// Trials still running enter as "kriging believer" observations at their predicted mean,
/// so parallel workers do not all propose the same point.
///
/// The most sample-efficient choice for low-dimensional continuous problems (up to ~20
/// parameters) with expensive trials; it costs milliseconds per trial and its cost grows
/// with the cube of the number of trials. Conditional parameters are sampled at random.
#[derive(Debug)]
pub struct GpSampler {
    seed: u64,
    n_startup_trials: usize,
    n_candidates: usize,
    n_local_search: usize,
    model: Model,
    cache: Mutex<Option<Vec<f64>>>,
}

impl Clone for GpSampler {
    fn clone(&self) -> Self {
        Self {
            seed: self.seed,
            n_startup_trials: self.n_startup_trials,
            n_candidates: self.n_candidates,
            n_local_search: self.n_local_search,
            model: self.model,
            cache: Mutex::new(None),
        }
    }
}

impl GpSampler {
    /// GP-BO with Optuna's settings (10 random start-up trials, 2048 candidates, 10 local
    /// searches) except the model: a Gamma(3, 6) lengthscale prior (see [`LengthscalePrior`]),
    /// a fitted quadratic prior mean (see [`PriorMean::Quadratic`]), and a noise
    /// variance floor of 1e-8 of the objective's variance instead of 1e-6.
    ///
    /// The lower floor lets the model interpolate a deterministic objective closely near its
    /// optimum, where Optuna's floor smooths over differences below about a thousandth of
    /// the objective's spread: on Branin and Hartmann6 (seeds 100–299, 50 trials) the
    /// median regret went from 4.2e-5 to 6.7e-6 and from 8.1e-5 to 1.0e-5 with it. The
    /// noise of a noisy objective, a validation loss say, is fitted far above either floor.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            n_startup_trials: 10,
            n_candidates: 2048,
            n_local_search: 10,
            model: Model { prior: LengthscalePrior::default(), mean: PriorMean::default(), min_noise: MIN_NOISE },
            cache: Mutex::new(None),
        }
    }

    /// GP-BO with Optuna 5's `GPSampler` settings throughout: its lengthscale prior, a prior
    /// mean of zero on the standardised values, and its noise floor of 1e-6.
    pub fn optuna(seed: u64) -> Self {
        Self { model: Model::OPTUNA, ..Self::new(seed) }
    }

    /// The GP's prior mean: [`PriorMean::Quadratic`] (the default), a fitted constant, or
    /// zero (Optuna's model).
    ///
    /// ```
    /// use anneal_hpo::sampler::{GpSampler, PriorMean};
    ///
    /// // Expected improvement with a constant prior mean, as BoTorch's `SingleTaskGP`.
    /// let sampler = GpSampler::new(7).with_prior_mean(PriorMean::Constant);
    /// # let _ = sampler;
    /// ```
    pub fn with_prior_mean(mut self, mean: PriorMean) -> Self {
        self.model.mean = mean;
        self
    }

    /// The prior on the kernel's lengthscales; [`LengthscalePrior::Optuna`] makes the model
    /// Optuna 5's `GPSampler`'s. A Gamma prior needs a finite shape of at least 1 (below,
    /// its density is unbounded at `ℓ = 0`) and a finite positive rate.
    pub fn with_lengthscale_prior(mut self, prior: LengthscalePrior) -> Result<Self> {
        if let LengthscalePrior::Gamma { shape, rate } = prior
            && !(shape.is_finite() && shape >= 1.0 && rate.is_finite() && rate > 0.0)
        {
            return Err(HpoError::InvalidSetting {
                setting: "lengthscale_prior",
                value: format!("Gamma({shape}, {rate})"),
                expected: "a Gamma prior with finite shape >= 1 and finite rate > 0",
            });
        }
        self.model.prior = prior;
        Ok(self)
    }

    /// Random trials before the model is used (at least 2 are always used).
    pub fn with_startup_trials(mut self, n: usize) -> Self {
        self.n_startup_trials = n;
        self
    }

    /// Quasi-random candidates scored before the local search.
    pub fn with_candidates(mut self, n: usize) -> Self {
        self.n_candidates = n.max(1);
        self
    }
}

/// The Gaussian process's prior mean: what the model expects of the objective where it has
/// no trials nearby. Its coefficients are fitted by generalised least squares (the values
/// that maximise the marginal likelihood for the current kernel), on the standardised
/// values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PriorMean {
    /// Zero on the standardised values, i.e. the mean of the trials so far: Optuna 5's
    /// model. Good trials cluster, so they pull this mean towards themselves and unexplored
    /// regions look better than ordinary.
    Zero,
    /// A fitted constant, `1ᵀC⁻¹y / 1ᵀC⁻¹1` (as BoTorch's `ConstantMean`). Correlated
    /// trials count for less than spread-out ones, so it sits near the level most of the
    /// space scores at rather than at the trials' average, and unexplored regions look as
    /// ordinary as they are. On Hartmann6 (seeds 100–299, 50 trials) the median regret went
    /// from 2.2e-3 with [`PriorMean::Zero`] to 8.1e-5 with it (Optuna's noise floor), and on
    /// Branin from 5.1e-5 to 4.2e-5.
    Constant,
    /// A fitted constant plus a fitted multiple of the squared distance from the centre of
    /// the search space (numeric parameters on their unit scale, log ones on the log scale;
    /// categorical ones do not count): `β₀ + β₁ Σⱼ (uⱼ − ½)²`. The default.
    ///
    /// The posterior variance is largest at the edges and corners of the space, so with a
    /// constant mean expected improvement is drawn there, the "boundary over-exploration" of
    /// Bayesian optimisation (Siivola et al. 2018) — most of a box's volume lies near its
    /// surface from a few dimensions on. The fitted trend lets the trials say how the
    /// objective changes towards the edges: where they are worse, the model expects the
    /// unexplored edges to be worse too and expected improvement stays inside; where the
    /// good region is at an edge, `β₁` takes the other sign. On Hartmann6 (seeds 100–299,
    /// 50 trials), against [`PriorMean::Constant`]: model-based trials on a bound 15 % →
    /// 10 %, runs reaching the global optimum's basin 63 % → 67.5 %, median regret 1.0e-5 →
    /// 6.4e-6; on Branin, whose three minima lie near its edges, 6.7e-6 → 4.1e-6. Part of
    /// the Hartmann6 gain is that its global minimum lies nearer the centre than the local
    /// one; on 6-d Styblinski–Tang, whose minimum is off-centre, the two means measure the
    /// same median (see the Tuning chapter).
    #[default]
    Quadratic,
}

impl PriorMean {
    /// The number of basis functions.
    fn len(self) -> usize {
        match self {
            Self::Zero => 0,
            Self::Constant => 1,
            Self::Quadratic => 2,
        }
    }

    /// The squared distance of `p` (unit coordinates) from the centre of the space, over
    /// the numeric parameters.
    fn centre_sqd(p: &[f64], cat: &[bool]) -> f64 {
        p.iter().zip(cat).filter(|(_, c)| !**c).map(|(u, _)| (u - 0.5) * (u - 0.5)).sum()
    }

    /// Appends the basis functions' values at `p` (unit coordinates) to `out`.
    fn basis(self, p: &[f64], cat: &[bool], out: &mut Vec<f64>) {
        match self {
            Self::Zero => {}
            Self::Constant => out.push(1.0),
            Self::Quadratic => out.extend([1.0, Self::centre_sqd(p, cat)]),
        }
    }

    /// The mean with coefficients `beta` at `p`.
    fn value(self, beta: &[f64], p: &[f64], cat: &[bool]) -> f64 {
        match self {
            Self::Zero => 0.0,
            Self::Constant => beta[0],
            Self::Quadratic => beta[0] + beta[1] * Self::centre_sqd(p, cat),
        }
    }

    /// The derivative of [`PriorMean::value`] in a numeric coordinate that is at `u`.
    fn derivative(self, beta: &[f64], u: f64) -> f64 {
        match self {
            Self::Zero | Self::Constant => 0.0,
            Self::Quadratic => 2.0 * beta[1] * (u - 0.5),
        }
    }

    /// The basis functions' values at `n` points, row-major `n × len`.
    fn design(self, x: &[f64], n: usize, d: usize, cat: &[bool]) -> Vec<f64> {
        let mut h = Vec::with_capacity(n * self.len());
        for i in 0..n {
            self.basis(&x[i * d..(i + 1) * d], cat, &mut h);
        }
        h
    }
}

/// The prior on each lengthscale `ℓ` of the Matérn kernel (inputs scaled to `[0, 1]`), as a
/// log density up to a constant. It decides how smooth the model believes the objective is
/// before the data say otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LengthscalePrior {
    /// `Gamma(shape, rate)` on `ℓ` (shape at least 1, rate positive). The default,
    /// `Gamma(3, 6)` (mode 1/3, mean 1/2, as BoTorch's `SingleTaskGP` before 2024), favours
    /// lengthscales below the range of a parameter: a model that believes in short
    /// lengthscales keeps uncertainty in every dimension and leaves a local optimum sooner.
    /// On Hartmann6 (seeds 100–299, 50 trials) 61 % of runs reach the global basin (regret
    /// below 0.01) against 48 % with Optuna's prior, both with Optuna's zero mean and noise
    /// floor (with the fitted mean, 64 % against 60 %); on Branin the two priors measure
    /// about the same.
    Gamma {
        /// The shape `α`.
        shape: f64,
        /// The rate `β`.
        rate: f64,
    },
    /// Optuna's `-(0.1/θ + 0.1 θ)` on the inverse squared lengthscale `θ = 1/ℓ²` (mode at
    /// `ℓ = 1`, the whole range): the model of Optuna 5's `GPSampler`.
    Optuna,
}

impl Default for LengthscalePrior {
    fn default() -> Self {
        Self::Gamma { shape: 3.0, rate: 6.0 }
    }
}

impl LengthscalePrior {
    /// Log density at the inverse squared lengthscale `θ`, up to a constant.
    fn log_density(self, theta: f64) -> f64 {
        match self {
            Self::Gamma { shape, rate } => {
                let l = 1.0 / theta.sqrt();
                (shape - 1.0) * l.ln() - rate * l
            }
            Self::Optuna => -(0.1 / theta + 0.1 * theta),
        }
    }

    /// Derivative of [`Self::log_density`] in `ln θ`.
    fn d_log_density(self, theta: f64) -> f64 {
        match self {
            // ℓ = exp(-ln θ / 2), so dℓ/d ln θ = -ℓ/2.
            Self::Gamma { shape, rate } => 0.5 * (rate / theta.sqrt() - (shape - 1.0)),
            Self::Optuna => 0.1 / theta - 0.1 * theta,
        }
    }
}

/// The Matérn 5/2 kernel as a function of the squared scaled distance `r²`, and its
/// derivative in `r²`.
fn matern52(r2: f64) -> (f64, f64) {
    let s = (5.0 * r2).sqrt();
    let e = (-s).exp();
    (e * (5.0 / 3.0 * r2 + s + 1.0), -5.0 / 6.0 * (1.0 + s) * e)
}

fn sqd(a: f64, b: f64, categorical: bool) -> f64 {
    if categorical { f64::from(u8::from(a != b)) } else { (a - b) * (a - b) }
}

/// A GP conditioned on `(x, y)` with fixed hyperparameters.
struct Gp<'a> {
    x: &'a [f64],
    n: usize,
    d: usize,
    cat: &'a [bool],
    theta: Vec<f64>,
    scale: f64,
    /// The prior mean's coefficients, one per [`PriorMean::basis`] function.
    mean: PriorMean,
    beta: Vec<f64>,
    alpha: Vec<f64>,
    linv: Vec<f64>,
    c_inv: Vec<f64>,
}

/// Hyperparameters in log space: `[ln θ_1..ln θ_d, ln s, ln(σ² - min_noise)]`.
fn unpack(raw: &[f64], d: usize, min_noise: f64) -> (Vec<f64>, f64, f64) {
    (raw[..d].iter().map(|r| r.exp()).collect(), raw[d].exp(), raw[d + 1].exp() + min_noise)
}

/// Pairwise squared differences per dimension, `[(a, b, j)]` flattened for `a < b`.
fn pair_sqd(x: &[f64], n: usize, d: usize, cat: &[bool]) -> Vec<f64> {
    let mut out = Vec::with_capacity(n * (n - 1) / 2 * d);
    for a in 0..n {
        for b in a + 1..n {
            for j in 0..d {
                out.push(sqd(x[a * d + j], x[b * d + j], cat[j]));
            }
        }
    }
    out
}

/// `L⁻ᵀ` (row-major: row c is column c of `L⁻¹`, non-zero from entry c) and
/// `C⁻¹ = L⁻ᵀ L⁻¹` from the Cholesky factor `L`.
fn inverse_from_cholesky(l: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    // Column c of L⁻¹ solves L x = e_c; stored as a row so the products below read
    // contiguous memory.
    let mut cols = vec![0.0; n * n];
    for c in 0..n {
        let col = &mut cols[c * n..(c + 1) * n];
        col[c] = 1.0;
        solve_lower(l, n, col);
    }
    // C⁻¹[a][b] = Σ_k L⁻¹[k][a] L⁻¹[k][b], non-zero terms from k = max(a, b).
    let mut c_inv = vec![0.0; n * n];
    for a in 0..n {
        for b in 0..=a {
            let v = dot(&cols[a * n + a..(a + 1) * n], &cols[b * n + a..(b + 1) * n]);
            c_inv[a * n + b] = v;
            c_inv[b * n + a] = v;
        }
    }
    (cols, c_inv)
}

/// The prior mean fitted by generalised least squares for the kernel `C = LLᵀ`: with the
/// basis functions' values `H` (`n × m`, row-major, `m ≤ 2`), `β = (HᵀC⁻¹H)⁻¹ HᵀC⁻¹y`, the
/// coefficients that maximise the marginal likelihood for fixed kernel hyperparameters.
/// Returns `L⁻¹(y − Hβ)` and `β`. When the second basis function is (nearly) a multiple of
/// the first at the trials, its coefficient is 0 and the first alone is fitted.
fn fit_trend(l: &[f64], n: usize, y: &[f64], h: &[f64], m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = y.to_vec();
    solve_lower(l, n, &mut v);
    if m == 0 {
        return (v, Vec::new());
    }
    // U = L⁻¹H column by column; then β solves (UᵀU) β = Uᵀ(L⁻¹y).
    let u: Vec<Vec<f64>> = (0..m)
        .map(|k| {
            let mut col: Vec<f64> = (0..n).map(|i| h[i * m + k]).collect();
            solve_lower(l, n, &mut col);
            col
        })
        .collect();
    let (g00, r0) = (dot(&u[0], &u[0]), dot(&u[0], &v));
    let beta = if m == 2 {
        let (g01, g11, r1) = (dot(&u[0], &u[1]), dot(&u[1], &u[1]), dot(&u[1], &v));
        let det = g00 * g11 - g01 * g01;
        // det / (g00 g11) is the squared sine of the angle between the two columns.
        if det > 1e-6 * g00 * g11 {
            vec![(g11 * r0 - g01 * r1) / det, (g00 * r1 - g01 * r0) / det]
        } else {
            vec![r0 / g00, 0.0]
        }
    } else {
        vec![r0 / g00]
    };
    for (col, b) in u.iter().zip(&beta) {
        for (vi, ui) in v.iter_mut().zip(col) {
            *vi -= b * ui;
        }
    }
    (v, beta)
}

/// The trials as the marginal likelihood sees them.
struct Data<'a> {
    /// Pairwise squared differences per dimension ([`pair_sqd`]).
    sq: Vec<f64>,
    /// Standardised values, larger is better.
    y: &'a [f64],
    /// The prior mean's basis functions at the trials ([`PriorMean::design`]).
    h: Vec<f64>,
    n: usize,
    d: usize,
}

impl<'a> Data<'a> {
    fn new(x: &[f64], y: &'a [f64], d: usize, cat: &[bool], mean: PriorMean) -> Self {
        let n = y.len();
        Self { sq: pair_sqd(x, n, d, cat), y, h: mean.design(x, n, d, cat), n, d }
    }
}

/// Builds `C = K + σ² I` and factors it; returns `L`, `C` and `s · f'(r²)` per pair.
type Factored = (Vec<f64>, Vec<f64>, Vec<f64>);
fn kernel_cholesky(sq: &[f64], n: usize, d: usize, theta: &[f64], scale: f64, noise: f64) -> Option<Factored> {
    let mut k = vec![0.0; n * n];
    let mut dk = vec![0.0; n * n];
    let mut p = 0;
    for a in 0..n {
        k[a * n + a] = scale + noise;
        for b in a + 1..n {
            let r2: f64 = (0..d).map(|j| theta[j] * sq[p + j]).sum();
            p += d;
            let (f, df) = matern52(r2);
            k[a * n + b] = scale * f;
            k[b * n + a] = scale * f;
            dk[a * n + b] = scale * df;
            dk[b * n + a] = scale * df;
        }
    }
    Some((cholesky(&k, n)?, k, dk))
}

/// Negative log marginal likelihood minus log prior (the model's prior on the lengthscales,
/// Optuna's Gamma priors on the signal and noise variances), and its gradient in the raw
/// parameters. With a fitted mean the likelihood is profiled over its coefficients: the
/// gradient is the partial one at `β̂`, since `β̂` maximises the likelihood.
fn neg_log_posterior(raw: &[f64], grad: &mut [f64], data: &Data<'_>, model: Model) -> f64 {
    let Model { prior, min_noise, .. } = model;
    let Data { ref sq, y, ref h, n, d } = *data;
    let (theta, scale, noise) = unpack(raw, d, min_noise);
    let Some((l, k, dk)) = kernel_cholesky(sq, n, d, &theta, scale, noise) else {
        grad.iter_mut().for_each(|g| *g = 0.0);
        return f64::INFINITY;
    };
    let (mut alpha, _) = fit_trend(&l, n, y, h, model.mean.len());
    let quad: f64 = alpha.iter().map(|a| a * a).sum();
    solve_upper_t(&l, n, &mut alpha);
    let logdet_half: f64 = (0..n).map(|i| l[i * n + i].ln()).sum();
    let (_, c_inv) = inverse_from_cholesky(&l, n);
    // W = ααᵀ - C⁻¹; d mll / dθ = ½ tr(W dC/dθ).
    let w = |a: usize, b: usize| alpha[a] * alpha[b] - c_inv[a * n + b];
    let mut g_theta = vec![0.0; d];
    let mut g_scale = 0.0;
    let mut p = 0;
    for a in 0..n {
        g_scale += 0.5 * w(a, a) * scale;
        for b in a + 1..n {
            let wab = w(a, b);
            // Off-diagonal pairs count twice in the trace, which cancels the ½.
            g_scale += wab * k[a * n + b];
            let dfab = dk[a * n + b];
            for j in 0..d {
                g_theta[j] += wab * dfab * sq[p + j] * theta[j];
            }
            p += d;
        }
    }
    let trace_w: f64 = (0..n).map(|a| w(a, a)).sum();
    let g_noise = 0.5 * trace_w * (noise - min_noise);
    let mll = -logdet_half - 0.5 * quad;
    let log_prior = theta.iter().map(|&t| prior.log_density(t)).sum::<f64>()
        + (scale.ln() - scale)
        + (0.1 * noise.ln() - 30.0 * noise);
    for j in 0..d {
        grad[j] = -(g_theta[j] + prior.d_log_density(theta[j]));
    }
    grad[d] = -(g_scale + (1.0 - scale));
    grad[d + 1] = -(g_noise + (0.1 / noise - 30.0) * (noise - min_noise));
    -(mll + log_prior)
}

impl<'a> Gp<'a> {
    fn new(x: &'a [f64], y: &[f64], d: usize, cat: &'a [bool], raw: &[f64], model: Model) -> Option<Self> {
        let n = y.len();
        let (theta, scale, noise) = unpack(raw, d, model.min_noise);
        let sq = pair_sqd(x, n, d, cat);
        let (l, _, _) = kernel_cholesky(&sq, n, d, &theta, scale, noise)?;
        let (mut alpha, beta) = fit_trend(&l, n, y, &model.mean.design(x, n, d, cat), model.mean.len());
        solve_upper_t(&l, n, &mut alpha);
        let (linv_t, c_inv) = inverse_from_cholesky(&l, n);
        // L⁻¹ row by row, for the variance without gradients.
        let mut linv = vec![0.0; n * n];
        for r in 0..n {
            for c in 0..=r {
                linv[r * n + c] = linv_t[c * n + r];
            }
        }
        Some(Self { x, n, d, cat, theta, scale, mean: model.mean, beta, alpha, linv, c_inv })
    }

    /// Posterior mean and variance of `f(p)`, with their gradients in the continuous
    /// coordinates when `grad` is given (`(dmean, dvar)`, length `d` each).
    fn posterior(&self, p: &[f64], grad: Option<(&mut [f64], &mut [f64])>) -> (f64, f64) {
        let (n, d) = (self.n, self.d);
        let mut k = vec![0.0; n];
        let mut dfs = vec![0.0; n];
        for i in 0..n {
            let row = &self.x[i * d..(i + 1) * d];
            let r2: f64 = (0..d).map(|j| self.theta[j] * sqd(p[j], row[j], self.cat[j])).sum();
            let (f, df) = matern52(r2);
            k[i] = self.scale * f;
            dfs[i] = self.scale * df;
        }
        let mean = self.mean.value(&self.beta, p, self.cat) + dot(&k, &self.alpha);
        let Some((dmean, dvar)) = grad else {
            // kᵀ C⁻¹ k = |L⁻¹ k|², half the work of C⁻¹ k.
            let quad: f64 = (0..n)
                .map(|r| {
                    let w = dot(&self.linv[r * n..r * n + r + 1], &k[..=r]);
                    w * w
                })
                .sum();
            return (mean, (self.scale - quad).max(0.0));
        };
        let v: Vec<f64> = (0..n).map(|a| dot(&self.c_inv[a * n..(a + 1) * n], &k)).collect();
        let var = (self.scale - dot(&k, &v)).max(0.0);
        for j in 0..d {
            if self.cat[j] {
                dmean[j] = 0.0;
                dvar[j] = 0.0;
                continue;
            }
            let (mut gm, mut gv) = (0.0, 0.0);
            for i in 0..n {
                let dk = dfs[i] * self.theta[j] * 2.0 * (p[j] - self.x[i * d + j]);
                gm += self.alpha[i] * dk;
                gv -= 2.0 * v[i] * dk;
            }
            dmean[j] = gm + self.mean.derivative(&self.beta, p[j]);
            dvar[j] = gv;
        }
        (mean, var)
    }

    /// Log expected improvement over `best` at `p`, with its gradient when asked.
    fn log_ei(&self, p: &[f64], best: f64, grad: Option<&mut [f64]>) -> f64 {
        let d = self.d;
        let mut dm = vec![0.0; d];
        let mut dv = vec![0.0; d];
        let want = grad.is_some();
        let (mean, var) = self.posterior(p, if want { Some((&mut dm, &mut dv)) } else { None });
        let var = var + 1e-12;
        let sigma = var.sqrt();
        let z = (mean - best) / sigma;
        let (val, dval) = log_ei(z);
        if let Some(g) = grad {
            for j in 0..d {
                let dsigma = dv[j] / (2.0 * sigma);
                let dz = (dm[j] * sigma - (mean - best) * dsigma) / var;
                g[j] = dval * dz + dsigma / sigma;
            }
        }
        val + sigma.ln()
    }
}

impl GpSampler {
    /// Maximises log EI over `[0, 1]^d`: Sobol candidates, then local searches from the
    /// best candidate, `best_x` and roulette-picked candidates. Returns the point and value.
    fn maximize_log_ei(
        &self,
        gp: &Gp<'_>,
        params: &[(String, Distribution)],
        theta: &[f64],
        best_x: Vec<f64>,
        best_y: f64,
        rng: &mut SeededRng,
    ) -> Option<(Vec<f64>, f64)> {
        let d = params.len();
        // Candidates: scrambled Sobol points snapped onto discrete values.
        let snap = |u: f64, dist: &Distribution| -> f64 {
            match dist {
                Distribution::Float { step: None, .. } => u,
                _ => dist.to_unit(dist.from_unit(u)),
            }
        };
        let sobol = SobolSampler::new(rng.next_u64());
        let points = sobol.points(0, self.n_candidates, d).ok()?;
        let cands: Vec<Vec<f64>> =
            points.into_iter().map(|u| u.iter().zip(params).map(|(&u, (_, dist))| snap(u, dist)).collect()).collect();
        let scores: Vec<f64> = cands.iter().map(|c| gp.log_ei(c, best_y, None)).collect();
        let top = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b]))?;
        let mut starts = vec![cands[top].clone()];
        let mut probs: Vec<f64> = scores.iter().map(|s| (s - scores[top]).exp()).collect();
        probs[top] = 0.0;
        for _ in 0..self.n_local_search.saturating_sub(2) {
            if probs.iter().all(|&p| p <= 0.0 || !p.is_finite()) {
                break;
            }
            let i = rng.weighted(&probs);
            probs[i] = 0.0;
            starts.push(cands[i].clone());
        }
        starts.push(best_x);

        // Local search: L-BFGS on the continuous coordinates (preconditioned by the
        // lengthscales), then exhaustive search over each discrete coordinate, until stable.
        let cont: Vec<usize> =
            (0..d).filter(|&j| matches!(params[j].1, Distribution::Float { step: None, .. })).collect();
        let lengths: Vec<f64> = cont.iter().map(|&j| 1.0 / theta[j].sqrt()).collect();
        let mut best: Option<(f64, Vec<f64>)> = None;
        for start in starts {
            let (p, val) = local_search(gp, params, &cont, &lengths, start, best_y);
            if best.as_ref().is_none_or(|(b, _)| val > *b) {
                best = Some((val, p));
            }
        }
        best.map(|(v, p)| (p, v))
    }

    fn propose(
        &self,
        ctx: &SampleContext<'_>,
        params: &[(String, Distribution)],
        complete: &[&FrozenTrial],
    ) -> Option<BTreeMap<String, f64>> {
        let d = params.len();
        let cat: Vec<bool> = params.iter().map(|(_, dist)| dist.is_categorical()).collect();
        let to_x = |t: &FrozenTrial| -> Vec<f64> { params.iter().map(|(n, dist)| dist.to_unit(t.params[n])).collect() };
        let mut x: Vec<f64> = complete.iter().flat_map(|t| to_x(t)).collect();
        let losses: Vec<f64> = complete.iter().map(|t| -ctx.direction.to_loss(t.value.unwrap_or(f64::NAN))).collect();
        let n = losses.len();
        let mean = losses.iter().sum::<f64>() / n as f64;
        let std = (losses.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt().max(1e-10);
        let mut y: Vec<f64> = losses.iter().map(|v| (v - mean) / std).collect();

        // Hyperparameters: warm start from the previous fit when the dimension matches.
        let default_raw: Vec<f64> = vec![0.0; d + 2];
        let cached = self.cache.lock().unwrap_or_else(|e| e.into_inner()).clone().filter(|c| c.len() == d + 2);
        let data = Data::new(&x, &y, d, &cat, self.model.mean);
        let mut fitted = None;
        for start in cached.iter().chain(std::iter::once(&default_raw)) {
            let (raw, f) =
                lbfgs_minimize(|r, g| neg_log_posterior(r, g, &data, self.model), start, None, 200, 1e-2, false);
            if f.is_finite() {
                fitted = Some(raw);
                break;
            }
        }
        let raw = fitted.unwrap_or(default_raw);
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some(raw.clone());
        let best_y = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let best_idx = y.iter().position(|&v| v == best_y).unwrap_or(0);
        let best_x: Vec<f64> = x[best_idx * d..(best_idx + 1) * d].to_vec();

        // Running trials: condition on their predicted mean (kriging believer).
        let running: Vec<&FrozenTrial> = ctx
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Running)
            .filter(|t| params.iter().all(|(nm, dist)| t.distributions.get(nm) == Some(dist)))
            .map(|t| t.as_ref())
            .collect();
        if !running.is_empty() {
            let gp = Gp::new(&x, &y, d, &cat, &raw, self.model)?;
            let fantasies: Vec<(Vec<f64>, f64)> = running
                .iter()
                .map(|t| {
                    let p = to_x(t);
                    let m = gp.posterior(&p, None).0;
                    (p, m)
                })
                .collect();
            for (p, m) in fantasies {
                x.extend(p);
                y.push(m);
            }
        }
        let gp = Gp::new(&x, &y, d, &cat, &raw, self.model)?;

        let theta = unpack(&raw, d, self.model.min_noise).0;
        let mut rng = SeededRng::derive_pair(self.seed, ctx.number, 0x0072_006F);
        let (p, _) = self.maximize_log_ei(&gp, params, &theta, best_x, best_y, &mut rng)?;
        Some(params.iter().zip(p).map(|((n, dist), u)| (n.clone(), dist.snap(dist.from_unit(u)))).collect())
    }
}

/// Local search for log EI from `start`: L-BFGS on the continuous coordinates
/// (preconditioned by their lengthscales), then exhaustive search over each discrete
/// coordinate, until neither improves.
fn local_search(
    gp: &Gp<'_>,
    params: &[(String, Distribution)],
    cont: &[usize],
    lengths: &[f64],
    start: Vec<f64>,
    best_y: f64,
) -> (Vec<f64>, f64) {
    let d = params.len();
    let mut p = start;
    let mut val = gp.log_ei(&p, best_y, None);
    for _round in 0..20 {
        let mut changed = false;
        if !cont.is_empty() {
            let z0: Vec<f64> = cont.iter().zip(lengths).map(|(&j, l)| p[j] / l).collect();
            let hi: Vec<f64> = lengths.iter().map(|l| 1.0 / l).collect();
            let lo = vec![0.0; cont.len()];
            let base = p.clone();
            let (z, neg) = lbfgs_minimize(
                |z, g| {
                    let mut q = base.clone();
                    for (k, &j) in cont.iter().enumerate() {
                        q[j] = z[k] * lengths[k];
                    }
                    let mut full = vec![0.0; d];
                    let v = gp.log_ei(&q, best_y, Some(&mut full));
                    for (k, &j) in cont.iter().enumerate() {
                        g[k] = -full[j] * lengths[k];
                    }
                    -v
                },
                &z0,
                Some((&lo, &hi)),
                200,
                1e-2,
                true,
            );
            if -neg > val + 1e-12 {
                for (k, &j) in cont.iter().enumerate() {
                    p[j] = (z[k] * lengths[k]).clamp(0.0, 1.0);
                }
                val = -neg;
                changed = true;
            }
        }
        for (j, (_, dist)) in params.iter().enumerate() {
            if cont.contains(&j) {
                continue;
            }
            let choices: Vec<f64> = match dist.grid_values(None) {
                Some(v) if v.len() <= 64 => v.iter().map(|&c| dist.to_unit(c)).collect(),
                Some(v) => {
                    // Large integer ranges: a coarse sweep plus the neighbourhood.
                    let m = v.len();
                    let here = ((p[j] * m as f64) as usize).min(m - 1);
                    let mut idx: Vec<usize> = (0..32).map(|i| i * (m - 1) / 31).collect();
                    idx.extend(here.saturating_sub(8)..(here + 9).min(m));
                    idx.into_iter().map(|i| dist.to_unit(v[i])).collect()
                }
                None => continue,
            };
            for c in choices {
                if c == p[j] {
                    continue;
                }
                let mut q = p.clone();
                q[j] = c;
                let v = gp.log_ei(&q, best_y, None);
                if v > val + 1e-12 {
                    val = v;
                    p = q;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    (p, val)
}

impl Sampler for GpSampler {
    fn name(&self) -> &'static str {
        "gp"
    }

    fn sample_relative(
        &self,
        ctx: &SampleContext<'_>,
        params: &[(String, Distribution)],
    ) -> Result<BTreeMap<String, f64>> {
        if params.is_empty() {
            return Ok(BTreeMap::new());
        }
        let complete: Vec<&FrozenTrial> = trials_with(ctx.trials, params, false)
            .into_iter()
            .filter(|t| t.value.is_some_and(f64::is_finite))
            .collect();
        if complete.len() < self.n_startup_trials.max(2) {
            return Ok(BTreeMap::new());
        }
        Ok(self.propose(ctx, params, &complete).unwrap_or_default())
    }

    fn sample_independent(&self, ctx: &SampleContext<'_>, name: &str, distribution: &Distribution) -> Result<f64> {
        Ok(RandomSampler::draw(self.seed, ctx.number, name, distribution))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marginal_likelihood_gradient_matches_finite_differences() {
        let (n, d) = (7, 2);
        let cat = [false, true];
        let mut rng = SeededRng::new(3);
        let x: Vec<f64> =
            (0..n * d).map(|i| if i % 2 == 1 { (rng.below(3)) as f64 / 3.0 } else { rng.next_f64() }).collect();
        let y: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let raw = [0.3, -0.2, 0.1, -3.0];
        let ours = GpSampler::new(0).model;
        let models = [PriorMean::Quadratic, PriorMean::Constant, PriorMean::Zero]
            .into_iter()
            .flat_map(|mean| [Model { mean, ..ours }, Model { mean, ..Model::OPTUNA }]);
        for model in models {
            let data = Data::new(&x, &y, d, &cat, model.mean);
            let mut g = [0.0; 4];
            neg_log_posterior(&raw, &mut g, &data, model);
            for k in 0..4 {
                let h = 1e-6;
                let (mut a, mut b) = (raw, raw);
                a[k] += h;
                b[k] -= h;
                let mut tmp = [0.0; 4];
                let fd = (neg_log_posterior(&a, &mut tmp, &data, model)
                    - neg_log_posterior(&b, &mut tmp, &data, model))
                    / (2.0 * h);
                assert!((fd - g[k]).abs() < 1e-5 * fd.abs().max(1.0), "{model:?} param {k}: {fd} vs {}", g[k]);
            }
        }
    }

    /// The fitted trend's coefficients and the objective the marginal likelihood reaches with
    /// them, for `model` at fixed hyperparameters `raw`.
    fn trend(x: &[f64], y: &[f64], d: usize, cat: &[bool], raw: &[f64], model: Model) -> (Vec<f64>, f64) {
        let data = Data::new(x, y, d, cat, model.mean);
        let (theta, scale, noise) = unpack(raw, d, model.min_noise);
        let (l, _, _) = kernel_cholesky(&data.sq, data.n, d, &theta, scale, noise).unwrap();
        let (_, beta) = fit_trend(&l, data.n, y, &data.h, model.mean.len());
        let mut g = vec![0.0; raw.len()];
        (beta, neg_log_posterior(raw, &mut g, &data, model))
    }

    #[test]
    fn fitted_constant_maximises_the_likelihood_and_discounts_clusters() {
        // Five trials clustered near 0.1 scoring 3, five spread out scoring 0: the cluster's
        // values are correlated, so they count for less than five spread-out trials.
        let (d, cat) = (1, [false]);
        let x = [0.10, 0.11, 0.12, 0.13, 0.14, 0.3, 0.45, 0.6, 0.75, 0.9];
        let y = [3.0, 3.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let raw = [4.0, 0.0, -6.0]; // lengthscale e^-2 ≈ 0.14, unit signal, little noise
        let model = Model { mean: PriorMean::Constant, ..GpSampler::new(0).model };
        let (beta, fitted) = trend(&x, &y, d, &cat, &raw, model);
        let m = beta[0];
        assert!(m > 0.0 && m < 1.0, "fitted mean {m}, the plain mean is 1.5");
        // It is the maximum-likelihood constant: shifting the data by m, or by anything
        // else, and fitting no mean scores no better.
        for shift in [m, m - 0.3, m + 0.3, 0.0, 1.5] {
            let ys: Vec<f64> = y.iter().map(|v| v - shift).collect();
            let (_, plain) = trend(&x, &ys, d, &cat, &raw, Model { mean: PriorMean::Zero, ..model });
            assert!(fitted <= plain + 1e-9, "shift {shift}: {plain} < {fitted}");
            if shift == m {
                assert!((fitted - plain).abs() < 1e-9);
            }
        }
        // The posterior mean far from every trial reverts to m.
        let gp = Gp::new(&x, &y, d, &cat, &raw, model).unwrap();
        let far = gp.posterior(&[5.0], None).0;
        assert!((far - m).abs() < 1e-9, "{far} vs {m}");
    }

    #[test]
    fn quadratic_trend_is_the_likelihood_maximiser_and_extrapolates_to_the_edges() {
        // A bowl, 1 − 4 Σ (u − ½)², plus a wiggle, sampled away from the edges: the fitted
        // trend recovers the curvature, and where no trial is near (a corner) the model
        // expects the bowl's value, not the trials' level.
        let (n, d, cat) = (24, 2, [false, false]);
        let mut rng = SeededRng::new(19);
        let x: Vec<f64> = (0..n * d).map(|_| 0.2 + 0.6 * rng.next_f64()).collect();
        let bowl = |p: &[f64]| 1.0 - 4.0 * ((p[0] - 0.5).powi(2) + (p[1] - 0.5).powi(2));
        let y: Vec<f64> = (0..n).map(|i| bowl(&x[i * d..i * d + 2]) + 0.05 * (9.0 * x[i * d]).sin()).collect();
        let raw = [2.0, 2.0, -2.0, -8.0]; // lengthscales e^-1 ≈ 0.37
        let model = GpSampler::new(0).model;
        assert_eq!(model.mean, PriorMean::Quadratic);
        let (beta, fitted) = trend(&x, &y, d, &cat, &raw, model);
        assert!((beta[1] + 4.0).abs() < 0.5, "curvature {beta:?}, the bowl's is -4");
        // No other coefficients, applied as a fixed shift, score a better likelihood.
        let q = |i: usize| (x[i * d] - 0.5).powi(2) + (x[i * d + 1] - 0.5).powi(2);
        for (b0, b1) in [(beta[0], beta[1]), (beta[0] + 0.1, beta[1]), (beta[0], beta[1] + 0.5), (1.0, -4.0)] {
            let ys: Vec<f64> = (0..n).map(|i| y[i] - b0 - b1 * q(i)).collect();
            let (_, plain) = trend(&x, &ys, d, &cat, &raw, Model { mean: PriorMean::Zero, ..model });
            assert!(fitted <= plain + 1e-9, "({b0}, {b1}): {plain} < {fitted}");
        }
        let gp = Gp::new(&x, &y, d, &cat, &raw, model).unwrap();
        let corner = gp.posterior(&[0.0, 0.0], None).0;
        assert!((corner - bowl(&[0.0, 0.0])).abs() < 0.3, "{corner} at the corner, the bowl has -1");
        let constant = Gp::new(&x, &y, d, &cat, &raw, Model { mean: PriorMean::Constant, ..model }).unwrap();
        assert!(constant.posterior(&[0.0, 0.0], None).0 > corner + 0.5, "a constant mean expects more there");
        // The mean's gradient includes the trend's.
        let (mut dm, mut dv) = ([0.0; 2], [0.0; 2]);
        let p = [0.05, 0.9];
        gp.posterior(&p, Some((&mut dm, &mut dv)));
        for j in 0..2 {
            let h = 1e-6;
            let (mut a, mut b) = (p, p);
            a[j] += h;
            b[j] -= h;
            let fd = (gp.posterior(&a, None).0 - gp.posterior(&b, None).0) / (2.0 * h);
            assert!((fd - dm[j]).abs() < 1e-5 * fd.abs().max(1.0), "dim {j}: {fd} vs {}", dm[j]);
        }
    }

    #[test]
    fn quadratic_trend_falls_back_to_a_constant_when_it_cannot_be_told_apart() {
        // Only categorical parameters: the squared distance from the centre is 0 everywhere.
        let (d, cat) = (2, [true, true]);
        let x = [0.0, 1.0, 1.0, 0.0, 0.5, 0.5, 1.0, 1.0];
        let y = [0.3, -1.2, 0.8, 0.1];
        let raw = [0.0, 0.0, 0.0, -4.0];
        let model = GpSampler::new(0).model;
        let (beta, fitted) = trend(&x, &y, d, &cat, &raw, model);
        assert_eq!(beta[1], 0.0);
        let (constant, same) = trend(&x, &y, d, &cat, &raw, Model { mean: PriorMean::Constant, ..model });
        assert!((beta[0] - constant[0]).abs() < 1e-12 && (fitted - same).abs() < 1e-12);
        let gp = Gp::new(&x, &y, d, &cat, &raw, model).unwrap();
        assert!(gp.posterior(&[0.5, 0.0], None).0.is_finite());
    }

    #[test]
    fn coincident_trials_still_factor_with_the_low_noise_floor() {
        // A deterministic objective sampled repeatedly at one point and a hair away from it
        // (integer parameters, or a converged search): the fit and the model stay finite.
        let (n, d) = (30, 2);
        let cat = [false, false];
        let mut rng = SeededRng::new(7);
        let mut x = Vec::new();
        for i in 0..n {
            match i % 3 {
                0 => x.extend([0.25, 0.75]),
                1 => x.extend([0.25 + 1e-9 * i as f64, 0.75]),
                _ => x.extend([rng.next_f64(), rng.next_f64()]),
            }
        }
        let y: Vec<f64> = (0..n).map(|i| if i % 3 == 2 { rng.normal() } else { -1.0 }).collect();
        let model = GpSampler::new(0).model;
        let data = Data::new(&x, &y, d, &cat, model.mean);
        let (raw, f) = lbfgs_minimize(|r, g| neg_log_posterior(r, g, &data, model), &[0.0; 4], None, 200, 1e-2, false);
        assert!(f.is_finite());
        let gp = Gp::new(&x, &y, d, &cat, &raw, model).expect("the kernel matrix factors");
        let (m, v) = gp.posterior(&[0.25, 0.75], None);
        assert!((m + 1.0).abs() < 1e-3 && v < 1e-3, "posterior at the repeated point: {m}, {v}");
    }

    #[test]
    fn both_variance_paths_agree() {
        // The variance without gradients goes through L⁻¹ k, with gradients through C⁻¹ k.
        let (n, d) = (9, 3);
        let cat = [false, false, true];
        let mut rng = SeededRng::new(11);
        let x: Vec<f64> = (0..n * d).map(|i| if i % 3 == 2 { rng.below(2) as f64 } else { rng.next_f64() }).collect();
        let y: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let gp = Gp::new(&x, &y, d, &cat, &[0.5, 1.0, 0.0, 0.2, -4.0], GpSampler::new(0).model).unwrap();
        for p in [[0.1, 0.9, 1.0], [0.5, 0.5, 0.0], [x[0], x[1], x[2]]] {
            let (m1, v1) = gp.posterior(&p, None);
            let (mut dm, mut dv) = ([0.0; 3], [0.0; 3]);
            let (m2, v2) = gp.posterior(&p, Some((&mut dm, &mut dv)));
            assert!((m1 - m2).abs() < 1e-12 && (v1 - v2).abs() < 1e-10, "{p:?}: ({m1}, {v1}) vs ({m2}, {v2})");
        }
    }

    #[test]
    fn acquisition_gradient_matches_finite_differences() {
        let (n, d) = (6, 2);
        let cat = [false, false];
        let mut rng = SeededRng::new(5);
        let x: Vec<f64> = (0..n * d).map(|_| rng.next_f64()).collect();
        let y: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let gp = Gp::new(&x, &y, d, &cat, &[1.0, 0.5, 0.0, -5.0], GpSampler::new(0).model).unwrap();
        let p = [0.3, 0.6];
        let mut g = [0.0; 2];
        gp.log_ei(&p, 1.0, Some(&mut g));
        for j in 0..2 {
            let h = 1e-6;
            let (mut a, mut b) = (p, p);
            a[j] += h;
            b[j] -= h;
            let fd = (gp.log_ei(&a, 1.0, None) - gp.log_ei(&b, 1.0, None)) / (2.0 * h);
            assert!((fd - g[j]).abs() < 1e-4 * fd.abs().max(1.0), "dim {j}: {fd} vs {}", g[j]);
        }
    }
}

#[cfg(test)]
mod optuna_parity {
    use super::*;

    /// Optuna 5.0's fitted model and local-search results on a Hartmann6 history
    /// (`testdata/gp_snapshot.py` produced them).
    fn snapshot() -> serde_json::Value {
        serde_json::from_str(include_str!("testdata/gp_snapshot.json")).expect("valid JSON")
    }

    fn floats(v: &serde_json::Value) -> Vec<f64> {
        v.as_array().expect("an array").iter().map(|a| a.as_f64().expect("a number")).collect()
    }

    #[test]
    fn fit_and_local_search_match_optuna() {
        let s = snapshot();
        let x: Vec<f64> = s["X"].as_array().unwrap().iter().flat_map(floats).collect();
        let y = floats(&s["y"]);
        let d = 6;
        let cat = vec![false; d];
        let theta = floats(&s["theta"]);
        let mut raw: Vec<f64> = theta.iter().map(|t| t.ln()).collect();
        raw.push(s["scale"].as_f64().unwrap().ln());
        raw.push((s["noise"].as_f64().unwrap() - OPTUNA_MIN_NOISE).ln());
        // With Optuna's priors, our fit from the default start reaches Optuna's objective value.
        let optuna = Model::OPTUNA;
        let data = Data::new(&x, &y, d, &cat, optuna.mean);
        let mut g = vec![0.0; d + 2];
        let optuna_loss = neg_log_posterior(&raw, &mut g, &data, optuna);
        let (_, ours) =
            lbfgs_minimize(|r, g| neg_log_posterior(r, g, &data, optuna), &[0.0; 8], None, 200, 1e-2, false);
        assert!(ours <= optuna_loss + 1e-5, "{ours} vs {optuna_loss}");
        // From Optuna's start points, our local search ends with the same log EI.
        let gp = Gp::new(&x, &y, d, &cat, &raw, optuna).unwrap();
        let best_y = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let params: Vec<(String, Distribution)> =
            (0..d).map(|i| (format!("x{i}"), Distribution::float(0.0, 1.0))).collect();
        let cont: Vec<usize> = (0..d).collect();
        let lengths: Vec<f64> = theta.iter().map(|t| 1.0 / t.sqrt()).collect();
        for st in s["starts"].as_array().unwrap() {
            let (_, val) = local_search(&gp, &params, &cont, &lengths, floats(&st["start"]), best_y);
            let want = st["f1"].as_f64().unwrap();
            assert!((val - want).abs() < 5e-3, "{val} vs Optuna's {want}");
        }
    }
}
