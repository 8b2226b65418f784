//! Gradient surgery: each term of the objective (each task of a multi-task
//! objective) back-propagated on its own, and the per-parameter gradients
//! combined — summed, or with PCGrad's projections (Yu et al. 2020, "Gradient
//! Surgery for Multi-Task Learning") — with the cosines between the terms'
//! gradients measured on the way (the conflict rate: the share of updates where
//! two tasks' gradients point against each other).
//!
//! Only the parameters the terms share take part in the projections and the
//! cosines; task-specific ones (the heads) get the sum of their gradients, as
//! in the paper.

use std::collections::HashSet;

use anneal_data::{SeededRng, Stream};
use burn::module::ParamId;
use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::params::ParamLayout;

/// How the gradients of an objective's terms are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurgeryMethod {
    /// Their sum: the gradient of the total loss (with the cosines measured).
    #[default]
    Sum,
    /// PCGrad: each term's gradient, where it conflicts with (has a negative
    /// dot product with) another term's, loses its component along that one,
    /// the others taken in a random order per update; then the results are summed.
    Pcgrad,
}

/// Gradient surgery in a training run ([`TrainConfig::gradient_surgery`](crate::TrainConfig)):
/// each term of the objective gets its own backward pass (a forward pass each,
/// with the same dropout masks), so a step costs about as many passes as there
/// are terms.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradientSurgeryConfig {
    /// How the terms' gradients are combined.
    #[serde(default)]
    pub method: SurgeryMethod,
    /// Layers (paths as [`ParamLayout::layers`] names them, or a prefix of them
    /// ending at a `.`: `model.layers.2`) whose parameters belong to single
    /// tasks: their gradients are summed, never projected, and left out of the
    /// cosines. A multi-task model's output layer (the heads) and its learned
    /// task variances belong here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_specific: Vec<String>,
}

/// Gradient surgery resolved for one model.
#[derive(Debug, Clone)]
pub struct GradientSurgery {
    method: SurgeryMethod,
    specific: HashSet<ParamId>,
    seed: u64,
}

/// What one update's surgery measured.
#[derive(Debug, Clone, PartialEq)]
pub struct SurgeryReport {
    /// Cosine between the shared-parameter gradients of each pair of terms
    /// `(i, j)`, `i < j`, in that order (NaN where one is zero).
    pub cosines: Vec<f64>,
    /// How many term gradients PCGrad projected (0 for a sum).
    pub projections: usize,
}

impl SurgeryReport {
    /// Whether any two terms' gradients conflict (a negative cosine).
    pub fn conflict(&self) -> bool {
        self.cosines.iter().any(|&c| c < 0.0)
    }
}

impl GradientSurgery {
    /// Resolves `config` on `layout`; `seed` keys PCGrad's per-update orders.
    /// A `task_specific` entry that names no layer is an error listing the layers.
    pub fn new(config: &GradientSurgeryConfig, layout: &ParamLayout, seed: u64) -> Result<Self, TrainError> {
        let matches = |layer: &str, entry: &str| layer == entry || layer.starts_with(&format!("{entry}."));
        for entry in &config.task_specific {
            if !layout.layers().iter().any(|l| matches(l, entry)) {
                return Err(TrainError::InvalidSetting(format!(
                    "gradient surgery: task_specific names `{entry}`, which is no layer of the model (layers: {})",
                    layout.layers().iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let specific = layout
            .params()
            .iter()
            .filter(|p| config.task_specific.iter().any(|e| matches(&p.layer_path, e)))
            .map(|p| p.id)
            .collect();
        Ok(Self { method: config.method, specific, seed })
    }

    /// Combines the terms' gradients (one set per term, in term order) into
    /// the update's; `iteration` keys PCGrad's random order.
    pub fn combine(
        &self,
        layout: &ParamLayout,
        mut per_term: Vec<GradientsParams>,
        iteration: usize,
    ) -> Result<(GradientsParams, SurgeryReport), TrainError> {
        let params = layout.params();
        let flat: Vec<Vec<Option<Tensor<1>>>> = per_term
            .iter_mut()
            .map(|g| {
                let mut slots: Vec<Option<Tensor<1>>> = vec![None; params.len()];
                for (i, t) in layout.take_gradients_flat(g) {
                    slots[i] = Some(t);
                }
                slots
            })
            .collect();
        let k = flat.len();
        let mut out: Vec<(usize, Tensor<1>)> = Vec::new();
        // Task-specific parameters: the sum of whatever gradients they have.
        let mut shared = Vec::new();
        for (i, p) in params.iter().enumerate() {
            let present: Vec<Tensor<1>> = flat.iter().filter_map(|f| f[i].clone()).collect();
            let specific = self.specific.contains(&p.id);
            match present.into_iter().reduce(|a, b| a + b) {
                None => {}
                Some(sum) if specific => out.push((i, sum)),
                Some(_) => shared.push(i),
            }
        }
        let mut report = SurgeryReport { cosines: Vec::new(), projections: 0 };
        // A shared parameter has a gradient of some term, which names the device.
        let device = flat.iter().flatten().flatten().next().map(|t| t.device());
        if let (false, Some(device)) = (shared.is_empty(), device) {
            // [terms, shared elements]: each term's shared gradient, zeros where it has none.
            let rows: Vec<Tensor<1>> = flat
                .iter()
                .map(|f| {
                    let parts: Vec<Tensor<1>> = shared
                        .iter()
                        .map(|&i| f[i].clone().unwrap_or_else(|| Tensor::zeros([params[i].len], &device)))
                        .collect();
                    Tensor::cat(parts, 0)
                })
                .collect();
            let g = Tensor::stack::<2>(rows, 0);
            let gram_data = g.clone().matmul(g.clone().transpose()).into_data().convert::<f64>();
            let gram_flat = gram_data
                .try_to_vec::<f64>()
                .map_err(|e| TrainError::InvalidSetting(format!("reading the gradients' dot products: {e:?}")))?;
            let gram: Vec<Vec<f64>> = gram_flat.chunks(k).map(<[f64]>::to_vec).collect();
            report.cosines = cosines(&gram);
            let coefficients = match self.method {
                SurgeryMethod::Sum => vec![1.0; k],
                SurgeryMethod::Pcgrad => {
                    let mut rng = SeededRng::stream(self.seed, Stream::Named("pcgrad", iteration as u64));
                    let (c, projected) = pcgrad_coefficients(&gram, &mut rng);
                    report.projections = projected;
                    c
                }
            };
            let c = Tensor::<2>::from_data(
                TensorData::new(coefficients.iter().map(|&v| v as f32).collect::<Vec<_>>(), [1, k]),
                &device,
            );
            let combined = c.matmul(g).flatten::<1>(0, 1);
            let mut start = 0;
            for &i in &shared {
                let len = params[i].len;
                out.push((i, combined.clone().slice(start..start + len)));
                start += len;
            }
        }
        let mut grads = GradientsParams::new();
        layout.put_gradients(&mut grads, out).map_err(TrainError::InvalidSetting)?;
        Ok((grads, report))
    }
}

/// Cosines of each pair `(i, j)`, `i < j`, from the Gram matrix of the vectors.
pub fn cosines(gram: &[Vec<f64>]) -> Vec<f64> {
    let k = gram.len();
    let mut out = Vec::with_capacity(k * k.saturating_sub(1) / 2);
    for i in 0..k {
        for j in i + 1..k {
            let norms = (gram[i][i] * gram[j][j]).sqrt();
            out.push(if norms > 0.0 { gram[i][j] / norms } else { f64::NAN });
        }
    }
    out
}

/// PCGrad on vectors given by their Gram matrix `gram` (`gram[i][j] = gᵢ·gⱼ`):
/// the coefficients `c` with `Σᵢ gᵢ^PC = Σₘ cₘ gₘ`, and how many projections
/// were made. For each `i`, `gᵢ^PC` starts as `gᵢ` and, for every other `j` in
/// an order drawn from `rng`, loses `(gᵢ^PC·gⱼ / ‖gⱼ‖²) gⱼ` when `gᵢ^PC·gⱼ < 0`
/// (the original `gⱼ`, as in the paper's algorithm 1).
///
/// ```
/// use anneal_data::SeededRng;
/// use anneal_train::surgery::pcgrad_coefficients;
///
/// // g₁ = (1, 0), g₂ = (−1, 1): they conflict (g₁·g₂ = −1).
/// let gram = vec![vec![1.0, -1.0], vec![-1.0, 2.0]];
/// let (c, projected) = pcgrad_coefficients(&gram, &mut SeededRng::new(1));
/// // g₁^PC = g₁ + g₂/2 = (0.5, 0.5); g₂^PC = g₂ + g₁ = (0, 1); their sum (0.5, 1.5) = 2·g₁ + 1.5·g₂.
/// assert_eq!((c, projected), (vec![2.0, 1.5], 2));
/// ```
pub fn pcgrad_coefficients(gram: &[Vec<f64>], rng: &mut SeededRng) -> (Vec<f64>, usize) {
    let k = gram.len();
    let mut total = vec![0.0; k];
    let mut projected = 0;
    for i in 0..k {
        // gᵢ^PC = Σₘ a[m] gₘ
        let mut a = vec![0.0; k];
        a[i] = 1.0;
        let mut others: Vec<usize> = (0..k).filter(|&j| j != i).collect();
        rng.shuffle(&mut others);
        for j in others {
            let dot: f64 = (0..k).map(|m| a[m] * gram[m][j]).sum();
            if dot < 0.0 && gram[j][j] > 0.0 {
                a[j] -= dot / gram[j][j];
                projected += 1;
            }
        }
        total.iter_mut().zip(&a).for_each(|(t, v)| *t += v);
    }
    (total, projected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gram(vectors: &[Vec<f64>]) -> Vec<Vec<f64>> {
        vectors.iter().map(|a| vectors.iter().map(|b| a.iter().zip(b).map(|(x, y)| x * y).sum()).collect()).collect()
    }

    /// PCGrad by hand on three vectors in 3-D, in both orders of the others:
    /// every projected gradient is orthogonal to (or agrees with) each other
    /// gradient it was projected against, and no conflict means a plain sum.
    #[test]
    fn projects_conflicting_gradients_by_hand() {
        let g = vec![vec![1.0, 0.0, 0.0], vec![-1.0, 1.0, 0.0], vec![0.0, 0.0, 2.0]];
        let (c, projected) = pcgrad_coefficients(&gram(&g), &mut SeededRng::new(5));
        // g₃ conflicts with nobody; g₁ and g₂ project onto each other's normal plane once each.
        assert_eq!(projected, 2);
        let combined: Vec<f64> = (0..3).map(|d| (0..3).map(|m| c[m] * g[m][d]).sum()).collect();
        // g₁^PC = (0.5, 0.5, 0), g₂^PC = (0, 1, 0), g₃ = (0, 0, 2).
        for (x, want) in combined.iter().zip([0.5, 1.5, 2.0]) {
            assert!((x - want).abs() < 1e-12, "{combined:?}");
        }
        let agree = vec![vec![1.0, 0.0], vec![1.0, 1.0]];
        assert_eq!(pcgrad_coefficients(&gram(&agree), &mut SeededRng::new(5)), (vec![1.0, 1.0], 0));
        let cos = cosines(&gram(&g));
        assert!((cos[0] + 1.0 / 2f64.sqrt()).abs() < 1e-12 && cos[1] == 0.0 && cos[2] == 0.0);
    }

    /// With three mutually conflicting gradients the order matters; every order
    /// leaves each projected gradient without conflict against the last one it
    /// was projected on (the paper's guarantee for each step).
    #[test]
    fn the_order_of_projections_is_seeded() {
        let g = vec![vec![1.0, 0.2], vec![-0.8, 1.0], vec![-0.5, -1.0]];
        let gm = gram(&g);
        let a = pcgrad_coefficients(&gm, &mut SeededRng::new(1));
        let b = pcgrad_coefficients(&gm, &mut SeededRng::new(1));
        assert_eq!(a, b);
        let differs = (2..40).any(|s| pcgrad_coefficients(&gm, &mut SeededRng::new(s)).0 != a.0);
        assert!(differs, "the random order never changed the result");
    }
}
