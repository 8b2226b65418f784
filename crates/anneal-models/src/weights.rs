//! Weights that travel: a model's parameters written as safetensors in
//! PyTorch's layout ([`export_safetensors`]), and a model initialised from
//! weights trained elsewhere ([`InitFrom`]: safetensors, or a PyTorch `.pt` /
//! `.pth` file), through burn-store.
//!
//! Keys are the model's module paths (`blocks.0.conv.weight`, `head.1.bias`; the
//! kind's enum variant is left out). PyTorch's conventions are applied both ways:
//! linear weights are `[out, in]` in the file and `[in, out]` in burn, batch-norm
//! scale and shift are `weight` / `bias` in the file. A file with other names is
//! matched through `remap`, regular expressions applied in order to every key of
//! the file (`["^0\\.", "blocks.0.conv."]`).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn_store::{
    BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// Where a model's initial weights come from, when not from its seed: the
/// `init_from`, `init_remap` and `init_partial` keys of a run's `[model]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitFrom {
    /// A `.safetensors` file, or a PyTorch `.pt` / `.pth` state dict.
    pub path: PathBuf,
    /// `[pattern, replacement]` pairs (regular expressions, `$1` for groups)
    /// applied in order to the file's keys before they are matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remap: Vec<[String; 2]>,
    /// Initialise the parameters the file has and leave the others (a new head)
    /// to the seed; otherwise every parameter must be in the file and every
    /// tensor of the file must be used.
    #[serde(default)]
    pub partial: bool,
}

/// What [`InitFrom::apply`] loaded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InitReport {
    /// Model parameters set from the file.
    pub applied: Vec<String>,
    /// Model parameters the file does not have (kept at their seeded values).
    pub missing: Vec<String>,
    /// Tensors of the file that match no parameter.
    pub unused: Vec<String>,
}

impl InitFrom {
    fn remapper(&self) -> Result<KeyRemapper, ModelError> {
        KeyRemapper::from_patterns(self.remap.iter().map(|[a, b]| (a.as_str(), b.as_str())).collect()).map_err(|e| {
            ModelError::Weights { path: self.path.clone(), message: format!("init_remap holds a bad pattern: {e}") }
        })
    }

    /// Sets `model`'s parameters from the file. Shape mismatches are always an
    /// error; so are parameters missing from the file and unused tensors unless
    /// `partial`, and a file that matches no parameter at all. Every error lists
    /// the keys at fault.
    pub fn apply<M: Module>(&self, model: M) -> Result<(M, InitReport), ModelError> {
        self.apply_except(model, |_| false)
    }

    /// [`apply`](InitFrom::apply) to every parameter but those whose path
    /// (`head.1.weight`) `keep_seeded` picks: they keep their seeded values and
    /// the file's tensors of that name are ignored (a new head for a new label set).
    pub fn apply_except<M: Module>(
        &self,
        mut model: M,
        keep_seeded: impl Fn(&str) -> bool,
    ) -> Result<(M, InitReport), ModelError> {
        let fail = |message: String| ModelError::Weights { path: self.path.clone(), message };
        let wanted: Vec<String> =
            model.collect(None, None, true).into_iter().map(|t| t.name).filter(|p| !keep_seeded(p)).collect();
        let filter = burn_store::PathFilter::new().with_full_paths(wanted);
        if !self.path.is_file() {
            return Err(fail("no such file".into()));
        }
        let remapper = self.remapper()?;
        let ext = self.path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        let result = match ext.as_str() {
            "safetensors" => {
                let mut store = SafetensorsStore::from_file(&self.path)
                    .filter(filter)
                    .with_from_adapter(PyTorchToBurnAdapter)
                    .remap(remapper)
                    .skip_enum_variants(true)
                    .map_indices_contiguous(false)
                    .allow_partial(true)
                    .validate(false);
                model.load_from(&mut store).map_err(|e| fail(e.to_string()))?
            }
            "pt" | "pth" | "bin" => {
                // The PyTorch store applies PyTorch's conventions itself.
                let mut store = PytorchStore::from_file(&self.path)
                    .filter(filter)
                    .remap(remapper)
                    .skip_enum_variants(true)
                    .map_indices_contiguous(false)
                    .allow_partial(true)
                    .validate(false);
                model.load_from(&mut store).map_err(|e| fail(e.to_string()))?
            }
            _ => {
                return Err(fail("unknown weights format: the file name must end in .safetensors, .pt or .pth".into()));
            }
        };
        let report = InitReport {
            applied: result.applied.clone(),
            missing: result.missing.iter().map(|(path, _)| path.clone()).filter(|p| !keep_seeded(p)).collect(),
            // PyTorch's batch-norm step counter has no counterpart (momentum is fixed).
            unused: result
                .unused
                .iter()
                .filter(|k| !k.ends_with("num_batches_tracked") && !keep_seeded(k))
                .cloned()
                .collect(),
        };
        let mut problems = Vec::new();
        if !result.errors.is_empty() {
            problems.push(format!(
                "shape mismatches (model vs file): {}",
                result.errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            ));
        }
        if report.applied.is_empty() {
            problems.push("no tensor of the file matches a parameter of the model".into());
        }
        if !self.partial || report.applied.is_empty() {
            if !report.missing.is_empty() {
                problems.push(format!("model parameters not in the file: {}", report.missing.join(", ")));
            }
            if !report.unused.is_empty() {
                problems.push(format!("file tensors matching no parameter: {}", report.unused.join(", ")));
            }
        }
        if !problems.is_empty() {
            let hint = if self.partial {
                ""
            } else {
                " (map the file's names with init_remap, or set init_partial = true to initialise only the matching \
                 layers)"
            };
            return Err(fail(format!("{}{hint}", problems.join("; "))));
        }
        Ok((model, report))
    }
}

/// Copies the parameters (and batch-norm statistics) of `source`, a trained
/// model of the same kind, into `model`, all but those whose path
/// (`blocks.0.conv.weight`, without the kind's variant) `keep_seeded` picks:
/// transfer learning's start. Every other parameter must exist in both with the
/// same shape; an error lists those that do not.
pub fn transfer_weights<M: Module>(
    source: &M,
    mut model: M,
    keep_seeded: impl Fn(&str) -> bool,
) -> Result<(M, InitReport), ModelError> {
    let tensors: Vec<_> = source.collect(None, None, true).into_iter().filter(|t| !keep_seeded(&t.name)).collect();
    let result = model.apply(tensors, None, None, true);
    let missing: Vec<String> =
        result.missing.iter().map(|(path, _)| path.clone()).filter(|p| !keep_seeded(p)).collect();
    let mut problems = Vec::new();
    if !result.errors.is_empty() {
        problems.push(format!(
            "shape mismatches (source vs this model): {}",
            result.errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        ));
    }
    if !missing.is_empty() {
        problems.push(format!("parameters the source does not have: {}", missing.join(", ")));
    }
    if !result.unused.is_empty() {
        problems.push(format!("source parameters this model does not have: {}", result.unused.join(", ")));
    }
    if !problems.is_empty() {
        return Err(ModelError::Transfer(problems.join("; ")));
    }
    Ok((model, InitReport { applied: result.applied, missing: Vec::new(), unused: Vec::new() }))
}

/// Writes `model`'s parameters (and batch-norm running statistics) to `path`
/// as safetensors in PyTorch's layout, with `metadata` (the model config, say)
/// in the file's header.
pub fn export_safetensors<M: Module>(model: &M, path: &Path, metadata: &[(&str, &str)]) -> Result<(), ModelError> {
    let mut store = SafetensorsStore::from_file(path)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .overwrite(true)
        .metadata("producer", "anneal");
    for (k, v) in metadata {
        store = store.metadata(*k, *v);
    }
    model.save_into(&mut store).map_err(|e| ModelError::Weights { path: path.to_path_buf(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;

    use super::*;
    use crate::{CnnConfig, ConvBlockConfig, ModelConfig, PoolKind};

    fn cnn() -> ModelConfig {
        ModelConfig::Cnn(CnnConfig {
            blocks: vec![ConvBlockConfig { batch_norm: true, ..ConvBlockConfig::new(4).with_pool(PoolKind::Max, 2) }],
            hidden: vec![8],
            ..CnnConfig::new([1, 6, 6], 3)
        })
    }

    #[test]
    fn exported_weights_load_back_into_a_model_of_another_seed() {
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.safetensors");
        let a = cnn().init(1, &device).unwrap();
        export_safetensors(&a, &file, &[]).unwrap();
        let x = Tensor::<2>::from_data(
            TensorData::new((0..72).map(|i| i as f32 / 72.0).collect::<Vec<_>>(), [2, 36]),
            &device,
        );
        let b = cnn().init(2, &device).unwrap();
        use crate::Model;
        assert_ne!(a.forward(x.clone()).into_data(), b.forward(x.clone()).into_data());
        let init = InitFrom { path: file.clone(), remap: vec![], partial: false };
        let (b, report) = init.apply(b).unwrap();
        assert!(report.missing.is_empty() && report.unused.is_empty(), "{report:?}");
        a.forward(x.clone())
            .into_data()
            .assert_approx_eq::<f32>(&b.forward(x).into_data(), burn::tensor::Tolerance::absolute(1e-6));
    }

    #[test]
    fn unmatched_keys_and_wrong_shapes_are_listed() {
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.safetensors");
        export_safetensors(&cnn().init(1, &device).unwrap(), &file, &[]).unwrap();
        // Renamed keys: nothing matches.
        let renamed = InitFrom { path: file.clone(), remap: vec![["^blocks".into(), "layers".into()]], partial: false };
        let e = renamed.apply(cnn().init(2, &device).unwrap()).unwrap_err().to_string();
        assert!(e.contains("not in the file") && e.contains("blocks.0.conv.weight") && e.contains("layers.0"), "{e}");
        // Another head size: a shape mismatch naming the tensor, even when partial.
        let other = match cnn() {
            ModelConfig::Cnn(c) => ModelConfig::Cnn(CnnConfig { output: 5, ..c }),
            _ => unreachable!(),
        };
        let partial = InitFrom { path: file, remap: vec![], partial: true };
        let e = partial.apply(other.init(2, &device).unwrap()).unwrap_err().to_string();
        assert!(e.contains("head.1.weight") || e.contains("head.1.bias"), "{e}");
    }

    #[test]
    fn a_new_head_keeps_its_seed_while_the_backbone_travels() {
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.safetensors");
        let source = cnn().init(1, &device).unwrap();
        export_safetensors(&source, &file, &[]).unwrap();
        let five = match cnn() {
            ModelConfig::Cnn(c) => ModelConfig::Cnn(CnnConfig { output: 5, ..c }),
            _ => unreachable!(),
        };
        let is_head = |p: &str| five.stage_of(p).unwrap().is_none();
        let seeded = five.init(2, &device).unwrap();
        let init = InitFrom { path: file, remap: vec![], partial: false };
        let (from_file, report) = init.apply_except(five.init(2, &device).unwrap(), is_head).unwrap();
        assert!(report.missing.is_empty() && report.unused.is_empty(), "{report:?}");
        let (from_model, _) = transfer_weights(&source, five.init(2, &device).unwrap(), is_head).unwrap();
        let tensors = |m: &crate::AnyModel| -> Vec<(String, Vec<f32>)> {
            m.collect(None, None, true)
                .iter()
                .map(|t| {
                    let bytes = t.to_bytes().unwrap();
                    (
                        t.name.clone(),
                        bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
                    )
                })
                .collect()
        };
        let (src, seed) = (tensors(&source), tensors(&seeded));
        for ((path, a), (b, c)) in
            tensors(&from_file).iter().zip(tensors(&from_model).iter().map(|(_, v)| v).zip(&seed))
        {
            assert_eq!(a, b, "{path}: file and model transfer agree");
            if is_head(path) {
                assert_eq!(a, &c.1, "{path} keeps its seeded values");
            } else {
                let s = &src.iter().find(|(p, _)| p == path).unwrap().1;
                assert_eq!(a, s, "{path} comes from the source");
            }
        }
        // Another backbone: named, not half-loaded.
        let wider = match cnn() {
            ModelConfig::Cnn(c) => ModelConfig::Cnn(CnnConfig { hidden: vec![9], ..c }),
            _ => unreachable!(),
        };
        let e = transfer_weights(&source, wider.init(2, &device).unwrap(), |p| wider.stage_of(p).unwrap().is_none())
            .unwrap_err()
            .to_string();
        assert!(e.contains("shape mismatches") && e.contains("head.0"), "{e}");
    }
}
