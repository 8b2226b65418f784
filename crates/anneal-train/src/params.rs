//! A model's parameters by layer: which layer each parameter belongs to and
//! whether it is a bias; the L1/L2 penalties and per-layer gradient norms that
//! work on that layout.

use std::collections::{HashMap, HashSet};

use anneal_regularize::{L1Method, PenaltyConfig, Strength};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// Where a parameter sits in its model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamInfo {
    /// The parameter's id (stable across optimiser steps and burnpack save/load).
    pub id: ParamId,
    /// 0-based layer index: layers are the modules that hold parameters directly,
    /// in the order the model visits them (for an MLP, its linear layers).
    pub layer: usize,
    /// The layer's path in the module tree (`layers.0`).
    pub layer_path: String,
    /// Whether the parameter is named `bias`.
    pub is_bias: bool,
    /// Number of elements.
    pub len: usize,
    /// The shape (its length is the tensor's rank).
    pub shape: Vec<usize>,
}

/// Runs `$body` with the const `$d` set to `$rank` (1 to 6; other ranks do
/// nothing): gradients are stored per rank, and a parameter's rank is known only
/// at run time.
macro_rules! by_rank {
    ($rank:expr, $d:ident => $body:block) => {
        match $rank {
            1 => {
                const $d: usize = 1;
                $body
            }
            2 => {
                const $d: usize = 2;
                $body
            }
            3 => {
                const $d: usize = 3;
                $body
            }
            4 => {
                const $d: usize = 4;
                $body
            }
            5 => {
                const $d: usize = 5;
                $body
            }
            6 => {
                const $d: usize = 6;
                $body
            }
            _ => {}
        }
    };
}

/// The parameters of a model, grouped by layer.
///
/// ```
/// use anneal_models::{ActivationKind, MlpConfig};
/// use anneal_train::ParamLayout;
///
/// let config = MlpConfig { input: 4, hidden: vec![8], output: 3, activation: ActivationKind::Relu, dropout: 0.0, layer_dropout: vec![] };
/// let model = config.init(1, &burn::prelude::Device::flex())?;
/// let layout = ParamLayout::of(&model);
/// assert_eq!(layout.layers(), ["layers.0", "layers.1"]);
/// assert_eq!(layout.params().iter().filter(|p| p.is_bias).count(), 2);
/// # Ok::<(), anneal_models::ModelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamLayout {
    params: Vec<ParamInfo>,
    layers: Vec<String>,
}

impl ParamLayout {
    /// Reads the layout of `model`.
    pub fn of<M: Module>(model: &M) -> Self {
        let mut v = LayoutVisitor { path: Vec::new(), layout: ParamLayout { params: Vec::new(), layers: Vec::new() } };
        model.visit(&mut v);
        v.layout
    }

    /// Every float parameter, in visiting order.
    pub fn params(&self) -> &[ParamInfo] {
        &self.params
    }

    /// The layers' paths, by index.
    pub fn layers(&self) -> &[String] {
        &self.layers
    }

    /// Passes each parameter's gradient in `grads`, flattened to one dimension,
    /// with its place in the model ([`ParamInfo`]: layer path, bias or not) to
    /// `f`, and puts back what `f` returns, reshaped (it must keep the number of
    /// elements): what an all-reduce, gradient surgery or a per-layer rescaling
    /// needs. Parameters without a gradient are skipped, and so are parameters
    /// of more than 6 dimensions.
    ///
    /// ```
    /// use anneal_models::{ActivationKind, MlpConfig, Model};
    /// use anneal_train::ParamLayout;
    /// use burn::optim::GradientsParams;
    /// use burn::prelude::*;
    ///
    /// let device = Device::flex().autodiff();
    /// let config = MlpConfig { input: 3, hidden: vec![4], output: 2, activation: ActivationKind::Relu, dropout: 0.0, layer_dropout: vec![] };
    /// let model = config.init(1, &device)?;
    /// let loss = Model::forward(&model, Tensor::ones([5, 3], &device)).sum();
    /// let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    /// let layout = ParamLayout::of(&model);
    /// let mut seen = Vec::new();
    /// // Halve every gradient of the output layer, by path.
    /// layout.map_gradients(&mut grads, |p, g| {
    ///     seen.push((p.layer_path.clone(), p.is_bias, g.dims()[0]));
    ///     if p.layer_path == "layers.1" { g.mul_scalar(0.5) } else { g }
    /// });
    /// assert_eq!(seen, [("layers.0".into(), false, 12), ("layers.0".into(), true, 4), ("layers.1".into(), false, 8), ("layers.1".into(), true, 2)]);
    /// # Ok::<(), anneal_models::ModelError>(())
    /// ```
    pub fn map_gradients(&self, grads: &mut GradientsParams, mut f: impl FnMut(&ParamInfo, Tensor<1>) -> Tensor<1>) {
        for p in &self.params {
            by_rank!(p.shape.len(), D => {
                if let Some(g) = grads.remove::<D>(p.id) {
                    let dims: [usize; D] = g.dims();
                    let flat = f(p, g.reshape([p.len]));
                    grads.register::<D>(p.id, flat.reshape(dims));
                }
            });
        }
    }

    /// Moves every parameter's gradient out of `grads`, flattened to one
    /// dimension, in [`params`](Self::params) order, with the parameter's index
    /// there (parameters without a gradient are skipped): for hooks that work on
    /// all gradients at once without copying them, such as an all-reduce. Put
    /// them back with [`put_gradients`](Self::put_gradients).
    pub fn take_gradients_flat(&self, grads: &mut GradientsParams) -> Vec<(usize, Tensor<1>)> {
        let mut taken = Vec::with_capacity(self.params.len());
        for (i, p) in self.params.iter().enumerate() {
            by_rank!(p.shape.len(), D => {
                if let Some(g) = grads.remove::<D>(p.id) {
                    taken.push((i, g.reshape([p.len])));
                }
            });
        }
        taken
    }

    /// Registers flattened gradients (index into [`params`](Self::params), values
    /// with that parameter's number of elements) in `grads`, reshaped to the
    /// parameters' shapes. A gradient of the wrong length or index is left out and
    /// named in the error.
    pub fn put_gradients(&self, grads: &mut GradientsParams, flat: Vec<(usize, Tensor<1>)>) -> Result<(), String> {
        let mut wrong = Vec::new();
        for (i, g) in flat {
            match self.params.get(i) {
                Some(p) if g.dims()[0] == p.len => {
                    by_rank!(p.shape.len(), D => {
                        let dims: [usize; D] = p.shape.clone().try_into().unwrap_or([0; D]);
                        grads.register::<D>(p.id, g.reshape(dims));
                    });
                }
                _ => wrong.push(i),
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(format!("gradients for parameter(s) {wrong:?} do not fit the model"))
        }
    }

    /// Moves the gradients of `ids` out of `grads` into a set of their own.
    pub fn take_gradients(&self, grads: &mut GradientsParams, ids: &HashSet<ParamId>) -> GradientsParams {
        let mut taken = GradientsParams::new();
        for p in self.params.iter().filter(|p| ids.contains(&p.id)) {
            by_rank!(p.shape.len(), D => {
                if let Some(g) = grads.remove::<D>(p.id) {
                    taken.register::<D>(p.id, g);
                }
            });
        }
        taken
    }
}

/// Optimiser parameter groups resolved for one model: frozen parameters (no
/// gradient computed, no update, no penalty), for the whole run or for its first
/// epochs, and groups whose learning rate is the optimiser's times a factor.
#[derive(Debug, Clone)]
pub struct ParamGroups {
    layout: ParamLayout,
    /// Each frozen parameter's last frozen epoch (`usize::MAX`: every epoch).
    frozen_until: HashMap<ParamId, usize>,
    /// The parameters frozen in the current epoch.
    frozen: HashSet<ParamId>,
    scaled: Vec<(f64, HashSet<ParamId>)>,
}

impl ParamGroups {
    /// Resolves `groups` against `layout`; `None` when there are none. Fails when
    /// a group names a layer the model does not have, a factor is not positive,
    /// or every parameter would be frozen. Nothing is frozen until
    /// [`enter_epoch`](ParamGroups::enter_epoch).
    pub fn new(groups: &[ParamGroupConfig], layout: &ParamLayout) -> Result<Option<Self>, crate::TrainError> {
        if groups.is_empty() {
            return Ok(None);
        }
        let n = layout.layers().len();
        let mut frozen_until: HashMap<ParamId, usize> = HashMap::new();
        let mut scale_of: HashMap<ParamId, f64> = HashMap::new();
        for (i, g) in groups.iter().enumerate() {
            if let Some(&l) = g.layers.iter().find(|&&l| l >= n) {
                return Err(crate::TrainError::InvalidSetting(format!(
                    "param_groups[{i}] names layer {l}, but the model has {n} layers (0 to {})",
                    n.saturating_sub(1)
                )));
            }
            if !(g.lr_scale.is_finite() && g.lr_scale > 0.0) {
                return Err(crate::TrainError::InvalidSetting(format!(
                    "param_groups[{i}] lr_scale must be a positive number, not {} (use frozen = true to stop updates)",
                    g.lr_scale
                )));
            }
            if g.frozen && g.frozen_epochs > 0 {
                return Err(crate::TrainError::InvalidSetting(format!(
                    "param_groups[{i}] is frozen = true (every epoch) and frozen_epochs = {}: say one",
                    g.frozen_epochs
                )));
            }
            for p in layout.params().iter().filter(|p| g.layers.contains(&p.layer)) {
                // A later group wins over an earlier one, as penalty groups do.
                frozen_until.remove(&p.id);
                scale_of.remove(&p.id);
                if g.frozen {
                    frozen_until.insert(p.id, usize::MAX);
                } else if g.frozen_epochs > 0 {
                    frozen_until.insert(p.id, g.frozen_epochs);
                }
                if !g.frozen && g.lr_scale != 1.0 {
                    scale_of.insert(p.id, g.lr_scale);
                }
            }
        }
        if layout.params().iter().all(|p| frozen_until.get(&p.id) == Some(&usize::MAX)) {
            return Err(crate::TrainError::InvalidSetting(
                "param_groups freeze every layer: nothing would train".into(),
            ));
        }
        let mut scaled: Vec<(f64, HashSet<ParamId>)> = Vec::new();
        for (id, scale) in scale_of {
            match scaled.iter_mut().find(|(s, _)| s.to_bits() == scale.to_bits()) {
                Some((_, ids)) => {
                    ids.insert(id);
                }
                None => scaled.push((scale, HashSet::from([id]))),
            }
        }
        scaled.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(Some(Self { layout: layout.clone(), frozen_until, frozen: HashSet::new(), scaled }))
    }

    /// The parameters frozen in the current epoch.
    pub fn frozen(&self) -> &HashSet<ParamId> {
        &self.frozen
    }

    /// The parameters frozen in every epoch.
    pub fn always_frozen(&self) -> HashSet<ParamId> {
        self.frozen_until.iter().filter(|(_, until)| **until == usize::MAX).map(|(id, _)| *id).collect()
    }

    /// Enters epoch `epoch` (1-based): the parameters frozen in it stop requiring
    /// gradients, so backpropagation computes none for them (a frozen body costs
    /// its forward pass only), and the ones whose frozen epochs are over require
    /// them again. Fails when every parameter would be frozen in this epoch.
    pub fn enter_epoch<M: Module>(&mut self, epoch: usize, model: M) -> Result<M, crate::TrainError> {
        let frozen: HashSet<ParamId> =
            self.frozen_until.iter().filter(|(_, until)| epoch <= **until).map(|(id, _)| *id).collect();
        if self.layout.params().iter().all(|p| frozen.contains(&p.id)) {
            return Err(crate::TrainError::InvalidSetting(format!(
                "param_groups freeze every layer in epoch {epoch}: nothing would train"
            )));
        }
        let thawed: Vec<ParamId> = self.frozen.difference(&frozen).copied().collect();
        let newly: Vec<ParamId> = frozen.difference(&self.frozen).copied().collect();
        let mut model = model;
        if !newly.is_empty() {
            model = model.set_require_grad_group(ParamGroup::from_ids(newly), false);
        }
        if !thawed.is_empty() {
            model = model.set_require_grad_group(ParamGroup::from_ids(thawed), true);
        }
        self.frozen = frozen;
        Ok(model)
    }

    /// Splits `grads` into the optimiser's own group (factor 1) and one set per
    /// other learning-rate factor.
    pub fn split(&self, mut grads: GradientsParams) -> Vec<(f64, GradientsParams)> {
        let mut parts: Vec<(f64, GradientsParams)> =
            self.scaled.iter().map(|(scale, ids)| (*scale, self.layout.take_gradients(&mut grads, ids))).collect();
        parts.insert(0, (1.0, grads));
        parts
    }
}

/// An optimiser parameter group: layers (indices of [`ParamLayout::layers`]) that
/// are frozen (for the whole run, or for its first `frozen_epochs` epochs:
/// gradual unfreezing), or learn at the optimiser's rate times `lr_scale` — what
/// fine-tuning needs (a frozen body, a new head at a larger rate). A later group
/// wins over an earlier one for a layer in both. Frozen parameters require no
/// gradient: backpropagation computes none for them.
///
/// ```
/// let g: anneal_train::ParamGroupConfig = toml::from_str("layers = [0, 1]\nfrozen = true")?;
/// assert!(g.frozen && g.lr_scale == 1.0);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamGroupConfig {
    /// 0-based layer indices (for an MLP, 0 is the layer after the input).
    pub layers: Vec<usize>,
    /// No gradients, updates or penalties for these layers, in any epoch.
    #[serde(default)]
    pub frozen: bool,
    /// Frozen in epochs `1..=frozen_epochs` only, then trained at `lr_scale`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub frozen_epochs: usize,
    /// Learning-rate factor for these layers (default 1).
    #[serde(default = "one")]
    pub lr_scale: f64,
}

fn one() -> f64 {
    1.0
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

struct LayoutVisitor {
    path: Vec<String>,
    layout: ParamLayout,
}

impl ModuleVisitor for LayoutVisitor {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // The path ends with the parameter's own field name when burn reports it.
        let (layer_path, name) = match self.path.split_last() {
            Some((last, parent)) if last == "weight" || last == "bias" => (parent.join("."), last.as_str()),
            _ => (self.path.join("."), ""),
        };
        let layer = match self.layout.layers.iter().position(|l| *l == layer_path) {
            Some(i) => i,
            None => {
                self.layout.layers.push(layer_path.clone());
                self.layout.layers.len() - 1
            }
        };
        self.layout.params.push(ParamInfo {
            id: param.id,
            layer,
            layer_path,
            is_bias: name == "bias",
            len: param.shape().num_elements(),
            shape: param.shape().to_vec(),
        });
    }
}

/// L1/L2 penalties resolved for one model: a strength per parameter id.
#[derive(Debug, Clone)]
pub struct Penalties {
    strengths: HashMap<ParamId, Strength>,
    method: L1Method,
}

impl Penalties {
    /// Resolves `config` against `layout`; `None` when nothing is penalised.
    ///
    /// Fails when a group names a layer the model does not have.
    pub fn new(
        config: &PenaltyConfig,
        layout: &ParamLayout,
    ) -> Result<Option<Self>, anneal_regularize::RegularizeError> {
        config.validate_for_layers(layout.layers().len())?;
        if !config.is_active() {
            return Ok(None);
        }
        let strengths = layout
            .params()
            .iter()
            .map(|p| (p.id, config.strength(p.layer, p.is_bias)))
            .filter(|(_, s)| s.is_active())
            .collect();
        Ok(Some(Self { strengths, method: config.l1_method }))
    }

    /// Adds the penalties' gradients to `grads`: `l2·w`, and `l1·sign(w)` with the
    /// subgradient method.
    pub fn add_gradients<M: Module>(&self, model: &M, grads: &mut GradientsParams) {
        model.visit(&mut AddPenaltyGrads { penalties: self, grads });
    }

    /// Leaves the parameters `ids` unpenalised (frozen parameters).
    pub fn exclude(&mut self, ids: &HashSet<ParamId>) {
        self.strengths.retain(|id, _| !ids.contains(id));
    }

    /// The proximal L1 step after an update with learning rate `lr`:
    /// `w ← sign(w)·max(|w| − lr·l1, 0)`. Does nothing with the subgradient method.
    pub fn proximal_step<M: Module>(&self, model: M, lr: f64) -> M {
        if self.method != L1Method::Proximal || !self.strengths.values().any(|s| s.l1 > 0.0) {
            return model;
        }
        model.map(&mut SoftThreshold { penalties: self, lr })
    }
}

struct AddPenaltyGrads<'a> {
    penalties: &'a Penalties,
    grads: &'a mut GradientsParams,
}

impl ModuleVisitor for AddPenaltyGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(s) = self.penalties.strengths.get(&param.id) else { return };
        let l1 = if self.penalties.method == L1Method::Subgradient { s.l1 } else { 0.0 };
        if s.l2 == 0.0 && l1 == 0.0 {
            return;
        }
        let Some(grad) = self.grads.remove::<D>(param.id) else { return };
        let w = param.val().inner().to_device(&grad.device());
        let mut extra = w.clone().mul_scalar(s.l2);
        if l1 > 0.0 {
            extra = extra + w.sign().mul_scalar(l1);
        }
        self.grads.register::<D>(param.id, grad + extra);
    }
}

struct SoftThreshold<'a> {
    penalties: &'a Penalties,
    lr: f64,
}

impl ModuleMapper for SoftThreshold<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(s) = self.penalties.strengths.get(&param.id).filter(|s| s.l1 > 0.0) else { return param };
        let t = self.lr * s.l1;
        let (id, tensor, mapper) = param.consume();
        let (require_grad, autodiff) = (tensor.is_require_grad(), tensor.is_autodiff());
        if autodiff && !require_grad {
            // A frozen parameter (this epoch): no update of any kind.
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let w = tensor.inner();
        let shrunk = w.clone().sign() * w.abs().sub_scalar(t).clamp_min(0.0);
        let mut updated = if autodiff { shrunk.autodiff() } else { shrunk };
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// Per-layer gradient norms, summed over the updates of an epoch on the device
/// and read back once at its end.
#[derive(Debug)]
pub struct LayerNorms {
    layer_of: HashMap<ParamId, usize>,
    layers: usize,
    sum: Option<Tensor<1>>,
    updates: usize,
}

impl LayerNorms {
    /// Norms for the layers of `layout`.
    pub fn new(layout: &ParamLayout) -> Self {
        Self {
            layer_of: layout.params().iter().map(|p| (p.id, p.layer)).collect(),
            layers: layout.layers().len(),
            sum: None,
            updates: 0,
        }
    }

    /// Adds the L2 norm of each layer's gradients (weights and biases together) in `grads`.
    pub fn record<M: Module>(&mut self, model: &M, grads: &GradientsParams) {
        let mut v = SquaresByLayer { norms: self, grads, squares: vec![None; self.layers] };
        model.visit(&mut v);
        let squares = v.squares;
        let Some(device) = squares.iter().flatten().next().map(Tensor::device) else { return };
        let parts: Vec<Tensor<1>> = squares
            .into_iter()
            .map(|s| s.map_or_else(|| Tensor::zeros([1], &device), |s| s.to_device(&device)))
            .collect();
        let norms = Tensor::cat(parts, 0).sqrt();
        self.sum = Some(match self.sum.take() {
            Some(sum) => sum + norms,
            None => norms,
        });
        self.updates += 1;
    }

    /// The mean norm per layer over the updates recorded since the last call, and a reset.
    pub fn take_means(&mut self) -> Option<Vec<f64>> {
        let sum = self.sum.take()?;
        let updates = std::mem::take(&mut self.updates).max(1) as f64;
        let values = sum.into_data().convert::<f64>().try_to_vec::<f64>().ok()?;
        Some(values.into_iter().map(|v| v / updates).collect())
    }
}

struct SquaresByLayer<'a> {
    norms: &'a LayerNorms,
    grads: &'a GradientsParams,
    squares: Vec<Option<Tensor<1>>>,
}

impl ModuleVisitor for SquaresByLayer<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let (Some(&layer), Some(grad)) = (self.norms.layer_of.get(&param.id), self.grads.get::<D>(param.id)) else {
            return;
        };
        let sq = grad.square().sum();
        let slot = &mut self.squares[layer];
        *slot = Some(match slot.take() {
            Some(s) => s + sq,
            None => sq,
        });
    }
}

/// The first layer (by [`ParamLayout`] order) with a NaN or infinite weight, if
/// any: one device read for the whole model.
pub(crate) fn non_finite_layer<M: Module>(
    model: &M,
    layout: &ParamLayout,
) -> Result<Option<String>, crate::TrainError> {
    let mut visitor = NonFiniteSums { sums: Vec::new(), ids: Vec::new() };
    model.visit(&mut visitor);
    if visitor.sums.is_empty() {
        return Ok(None);
    }
    let sums = crate::trainer::read_vec(Tensor::cat(visitor.sums, 0))?;
    Ok(sums.iter().position(|s| !s.is_finite()).map(|i| {
        let id = visitor.ids[i];
        layout.params().iter().find(|p| p.id == id).map_or_else(|| format!("{id}"), |p| p.layer_path.clone())
    }))
}

/// Per parameter, the sum of `w - w`: zero when every weight is finite, NaN otherwise.
struct NonFiniteSums {
    sums: Vec<Tensor<1>>,
    ids: Vec<ParamId>,
}

impl ModuleVisitor for NonFiniteSums {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let w = param.val().detach();
        self.sums.push((w.clone() - w).sum());
        self.ids.push(param.id);
    }
}

#[cfg(test)]
mod tests {
    use anneal_models::{ActivationKind, MlpConfig};

    use super::*;

    #[test]
    fn backward_computes_no_gradient_for_a_frozen_layer() {
        let device = burn::prelude::Device::flex().autodiff();
        let config = MlpConfig {
            input: 3,
            hidden: vec![4],
            output: 2,
            activation: ActivationKind::Relu,
            dropout: 0.0,
            layer_dropout: vec![],
        };
        let model = config.init(1, &device).unwrap();
        let layout = ParamLayout::of(&model);
        let frozen = ParamGroupConfig { layers: vec![0], frozen: true, lr_scale: 1.0, frozen_epochs: 0 };
        let mut groups = ParamGroups::new(&[frozen], &layout).unwrap().unwrap();
        let model = groups.enter_epoch(1, model).unwrap();
        let x = Tensor::<2>::ones([5, 3], &device);
        let loss = anneal_models::Model::forward(&model, x).powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        // Straight out of backward, before anything drops gradients.
        for p in layout.params() {
            let has = match p.shape.len() {
                1 => grads.get::<1>(p.id).is_some(),
                _ => grads.get::<2>(p.id).is_some(),
            };
            assert_eq!(has, p.layer == 1, "{} ({:?})", p.layer_path, p.shape);
        }
        assert_eq!(groups.frozen().len(), 2);
    }
}
