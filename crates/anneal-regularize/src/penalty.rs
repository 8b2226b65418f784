//! L1 and L2 weight penalties per parameter group, as settings and plain maths
//! over `f64`; the training loop applies them to tensors.
//!
//! The penalised objective is
//!
//! ```text
//! L(θ) + Σ_groups ( l1·Σ|w| + l2·½·Σw² )
//! ```
//!
//! The L2 term's gradient `l2·w` is added to each gradient before the optimiser
//! step (for SGD exactly PyTorch's coupled `weight_decay = l2`). The L1 term is
//! applied by default as a proximal step after the optimiser update,
//! `w ← sign(w)·max(|w| − lr·l1, 0)` (soft-thresholding, as ISTA does): unlike the
//! subgradient `l1·sign(w)`, which makes weights oscillate around zero and never
//! reach it, the proximal step sets small weights to exactly 0. With SGD it is the
//! exact proximal-gradient method; with adaptive optimisers it is the usual
//! heuristic (the threshold uses the global learning rate, not Adam's per-weight
//! step).

use serde::{Deserialize, Serialize};

use crate::error::RegularizeError;

/// How the L1 term is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum L1Method {
    /// Soft-threshold each weight after the optimiser step by `lr·l1`: gives exact zeros.
    #[default]
    Proximal,
    /// Add the subgradient `l1·sign(w)` to the gradient (what adding `l1·Σ|w|` to
    /// the loss and back-propagating does); weights hover near zero instead of reaching it.
    Subgradient,
}

/// L1 and L2 penalties on the weights: one setting for every layer, with
/// optional overrides for groups of layers. Biases are excluded unless
/// `include_biases` is set.
///
/// ```
/// use anneal_regularize::{PenaltyConfig, Strength};
///
/// let config: PenaltyConfig = toml::from_str(r#"
///     l2 = 1e-4
///     groups = [{ layers = [0], l1 = 1e-3 }]
/// "#)?;
/// config.validate_for_layers(3)?;
/// assert_eq!(config.strength(0, false), Strength { l1: 1e-3, l2: 1e-4 });
/// assert_eq!(config.strength(2, false), Strength { l1: 0.0, l2: 1e-4 });
/// assert_eq!(config.strength(2, true), Strength::NONE); // biases are excluded by default
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PenaltyConfig {
    /// Strength of `l1·Σ|w|`, non-negative.
    #[serde(default)]
    pub l1: f64,
    /// Strength of `l2·½·Σw²`, non-negative.
    #[serde(default)]
    pub l2: f64,
    /// Whether biases are penalised too.
    #[serde(default)]
    pub include_biases: bool,
    /// How the L1 term is applied.
    #[serde(default)]
    pub l1_method: L1Method,
    /// Overrides for groups of layers; a later group wins over an earlier one.
    #[serde(default)]
    pub groups: Vec<PenaltyGroup>,
}

/// A group of layers with its own penalty settings; what it leaves out is taken
/// from the enclosing [`PenaltyConfig`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PenaltyGroup {
    /// 0-based layer indices, in the order the model holds its layers (for an MLP,
    /// 0 is the layer after the input).
    pub layers: Vec<usize>,
    /// Strength of the L1 term for these layers.
    #[serde(default)]
    pub l1: Option<f64>,
    /// Strength of the L2 term for these layers.
    #[serde(default)]
    pub l2: Option<f64>,
    /// Whether these layers' biases are penalised.
    #[serde(default)]
    pub include_biases: Option<bool>,
}

/// The penalty strengths that apply to one parameter tensor.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Strength {
    /// L1 strength.
    pub l1: f64,
    /// L2 strength.
    pub l2: f64,
}

impl Strength {
    /// No penalty.
    pub const NONE: Strength = Strength { l1: 0.0, l2: 0.0 };

    /// Whether any term is non-zero.
    pub fn is_active(&self) -> bool {
        self.l1 > 0.0 || self.l2 > 0.0
    }
}

impl PenaltyConfig {
    /// Whether any parameter of any layer is penalised.
    pub fn is_active(&self) -> bool {
        self.l1 > 0.0 || self.l2 > 0.0 || self.groups.iter().any(|g| g.l1 > Some(0.0) || g.l2 > Some(0.0))
    }

    /// Checks the strengths (finite, non-negative) and that no group is empty.
    pub fn validate(&self) -> Result<(), RegularizeError> {
        strength("l1".into(), self.l1)?;
        strength("l2".into(), self.l2)?;
        for (i, g) in self.groups.iter().enumerate() {
            if g.layers.is_empty() {
                return Err(RegularizeError::EmptyGroup { index: i });
            }
            if let Some(v) = g.l1 {
                strength(format!("groups[{i}].l1"), v)?;
            }
            if let Some(v) = g.l2 {
                strength(format!("groups[{i}].l2"), v)?;
            }
        }
        Ok(())
    }

    /// [`validate`](PenaltyConfig::validate), and every layer named by a group
    /// exists in a model of `layers` layers.
    pub fn validate_for_layers(&self, layers: usize) -> Result<(), RegularizeError> {
        self.validate()?;
        for (index, g) in self.groups.iter().enumerate() {
            if let Some(&layer) = g.layers.iter().find(|&&l| l >= layers) {
                return Err(RegularizeError::NoSuchLayer { index, layer, layers });
            }
        }
        Ok(())
    }

    /// The strengths for a parameter of layer `layer` (0-based); `is_bias` for a bias vector.
    pub fn strength(&self, layer: usize, is_bias: bool) -> Strength {
        let (mut l1, mut l2, mut biases) = (self.l1, self.l2, self.include_biases);
        for g in self.groups.iter().filter(|g| g.layers.contains(&layer)) {
            l1 = g.l1.unwrap_or(l1);
            l2 = g.l2.unwrap_or(l2);
            biases = g.include_biases.unwrap_or(biases);
        }
        if is_bias && !biases { Strength::NONE } else { Strength { l1, l2 } }
    }
}

fn strength(name: String, value: f64) -> Result<(), RegularizeError> {
    if value >= 0.0 && value.is_finite() { Ok(()) } else { Err(RegularizeError::Strength { name, value }) }
}

/// The value of the penalty on `weights`: `l1·Σ|w| + l2·½·Σw²`.
pub fn penalty(weights: &[f64], s: Strength) -> f64 {
    weights.iter().map(|w| s.l1 * w.abs() + 0.5 * s.l2 * w * w).sum()
}

/// What the penalty adds to the gradient of `w`: `l2·w`, plus `l1·sign(w)` with
/// [`L1Method::Subgradient`] (0 at `w = 0`).
pub fn penalty_gradient(w: f64, s: Strength, method: L1Method) -> f64 {
    let l1 = match method {
        L1Method::Subgradient if w != 0.0 => s.l1 * w.signum(),
        _ => 0.0,
    };
    s.l2 * w + l1
}

/// The proximal operator of `t·|w|`: `sign(w)·max(|w| − t, 0)` (soft-thresholding).
pub fn soft_threshold(w: f64, t: f64) -> f64 {
    w.signum() * (w.abs() - t).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn groups_override_in_order_and_biases_follow_the_flag() {
        let c = PenaltyConfig {
            l2: 0.1,
            groups: vec![
                PenaltyGroup { layers: vec![1, 2], l1: Some(0.5), ..Default::default() },
                PenaltyGroup { layers: vec![2], l2: Some(0.0), include_biases: Some(true), ..Default::default() },
            ],
            ..Default::default()
        };
        assert_eq!(c.strength(0, false), Strength { l1: 0.0, l2: 0.1 });
        assert_eq!(c.strength(1, false), Strength { l1: 0.5, l2: 0.1 });
        assert_eq!(c.strength(1, true), Strength::NONE);
        assert_eq!(c.strength(2, true), Strength { l1: 0.5, l2: 0.0 });
        assert!(c.is_active());
        assert!(!PenaltyConfig::default().is_active());
    }

    #[test]
    fn bad_settings_name_the_key() {
        let c = PenaltyConfig { l1: -1.0, ..Default::default() };
        assert_eq!(c.validate(), Err(RegularizeError::Strength { name: "l1".into(), value: -1.0 }));
        let c = PenaltyConfig {
            groups: vec![PenaltyGroup { layers: vec![0], l2: Some(f64::NAN), ..Default::default() }],
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("groups[0].l2"));
        let c = PenaltyConfig {
            groups: vec![PenaltyGroup { layers: vec![4], ..Default::default() }],
            ..Default::default()
        };
        assert_eq!(c.validate_for_layers(3), Err(RegularizeError::NoSuchLayer { index: 0, layer: 4, layers: 3 }));
        let c = PenaltyConfig { groups: vec![PenaltyGroup::default()], ..Default::default() };
        assert_eq!(c.validate(), Err(RegularizeError::EmptyGroup { index: 0 }));
    }

    proptest! {
        /// The soft-threshold is the minimiser of ½(x − w)² + t|x|: no point on a
        /// grid around it does better.
        #[test]
        fn soft_threshold_is_the_proximal_operator(w in -3.0f64..3.0, t in 0.0f64..2.0) {
            let x = soft_threshold(w, t);
            let f = |x: f64| 0.5 * (x - w) * (x - w) + t * x.abs();
            for k in -300..=300 {
                let y = k as f64 * 0.01;
                prop_assert!(f(x) <= f(y) + 1e-12, "x {} f {} vs y {} f {}", x, f(x), y, f(y));
            }
        }

        /// The gradient is the derivative of the penalty away from zero.
        #[test]
        fn gradient_matches_finite_differences(w in 0.01f64..3.0, sign in proptest::bool::ANY, l1 in 0.0f64..1.0, l2 in 0.0f64..1.0) {
            let w = if sign { w } else { -w };
            let s = Strength { l1, l2 };
            let h = 1e-6;
            let numeric = (penalty(&[w + h], s) - penalty(&[w - h], s)) / (2.0 * h);
            prop_assert!((numeric - penalty_gradient(w, s, L1Method::Subgradient)).abs() < 1e-6);
            prop_assert!((penalty_gradient(w, s, L1Method::Proximal) - l2 * w).abs() < 1e-15);
        }
    }
}
