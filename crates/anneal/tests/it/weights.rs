//! Weights that travel to and from PyTorch, checked against golden files made by
//! `tests/golden/weights/make_weights.py` (its docstring says how): PyTorch's
//! weights loaded through `[model] init_from` with a key-remapping table give
//! PyTorch's logits, and Anneal's exported weights give Anneal's logits in PyTorch.

use std::path::{Path, PathBuf};

use anneal::config::ModelSection;
use anneal::models::{CnnConfig, ConvBlockConfig, Model, ModelConfig, PoolKind};
use burn::prelude::*;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/weights")
}

fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(golden_dir().join(name)).unwrap()).unwrap()
}

fn rows(v: &serde_json::Value) -> Vec<Vec<f32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
        .collect()
}

/// The two golden networks as Anneal configs, with the remapping from the
/// PyTorch `nn.Sequential`'s indices to Anneal's module paths.
fn network(name: &str) -> (ModelConfig, &'static str) {
    match name {
        "mnist" => (
            ModelConfig::Cnn(CnnConfig {
                blocks: vec![
                    ConvBlockConfig::new(32).with_pool(PoolKind::Max, 2),
                    ConvBlockConfig::new(64).with_pool(PoolKind::Max, 2),
                ],
                hidden: vec![128],
                dropout: 0.25,
                ..CnnConfig::new([1, 28, 28], 10)
            }),
            r#"[["^0\\.", "blocks.0.conv."], ["^3\\.", "blocks.1.conv."], ["^7\\.", "head.0."], ["^10\\.", "head.1."]]"#,
        ),
        _ => (
            ModelConfig::Cnn(CnnConfig {
                blocks: vec![ConvBlockConfig {
                    padding: 1,
                    batch_norm: true,
                    ..ConvBlockConfig::new(4).with_pool(PoolKind::Avg, 2)
                }],
                ..CnnConfig::new([1, 8, 8], 3)
            }),
            r#"[["^0\\.", "blocks.0.conv."], ["^1\\.", "blocks.0.norm."], ["^5\\.", "head.0."]]"#,
        ),
    }
}

fn logits(model: &impl Model<Input = Tensor<2>>, inputs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let device = Device::flex();
    let d = inputs[0].len();
    let x = Tensor::<2>::from_data(TensorData::new(inputs.concat(), [inputs.len(), d]), &device);
    let out = model.forward(x);
    let k = out.dims()[1];
    out.into_data().try_to_vec::<f32>().unwrap().chunks(k).map(<[f32]>::to_vec).collect()
}

fn worst(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn pytorch_weights_loaded_with_a_remapping_table_give_pytorchs_logits() {
    for (name, file) in [("mnist", "mnist.safetensors"), ("bn", "bn.safetensors"), ("bn", "bn.pt")] {
        let (config, remap) = network(name);
        let io = json(&format!("{name}_io.json"));
        // The [model] table as a user writes it.
        let toml_text = format!(
            "kind = \"cnn\"\nblocks = [{{ channels = 1 }}]\ninit_from = {:?}\ninit_remap = {remap}\n",
            golden_dir().join(file).display().to_string()
        );
        let section: ModelSection = toml::from_str(&toml_text).unwrap();
        let init = section.init().unwrap();
        let (model, report) = init.apply(config.init(0, &Device::flex()).unwrap()).unwrap();
        assert!(report.missing.is_empty() && report.unused.is_empty(), "{file}: {report:?}");
        let ours = logits(&model, &rows(&io["inputs"]));
        let theirs = rows(&io["logits"]);
        let diff = worst(&ours, &theirs);
        eprintln!("{file}: max |Anneal − PyTorch| logit = {diff:e}");
        assert!(diff < 1e-4, "{file}: logits differ by {diff}: {ours:?} vs {theirs:?}");
    }
}

#[test]
fn a_file_without_the_remapping_lists_the_unmatched_keys() {
    let (config, _) = network("bn");
    let init = anneal::models::InitFrom { path: golden_dir().join("bn.safetensors"), remap: vec![], partial: false };
    let e = init.apply(config.init(0, &Device::flex()).unwrap()).unwrap_err().to_string();
    for key in ["blocks.0.conv.weight", "0.weight", "init_remap"] {
        assert!(e.contains(key), "`{key}` missing from: {e}");
    }
}

#[test]
fn anneals_exported_weights_give_anneals_logits_in_pytorch() {
    let dir = tempfile::tempdir().unwrap();
    let write_golden = std::env::var_os("ANNEAL_WRITE_GOLDEN").is_some();
    for name in ["mnist", "bn"] {
        let (config, _) = network(name);
        let model = config.init(7, &Device::flex()).unwrap();
        let file = if write_golden {
            golden_dir().join(format!("{name}_anneal.safetensors"))
        } else {
            dir.path().join(format!("{name}.safetensors"))
        };
        anneal::models::export_safetensors(&model, &file, &[]).unwrap();
        if write_golden {
            continue;
        }
        let io = json(&format!("{name}_io.json"));
        let ours = logits(&model, &rows(&io["inputs"]));
        let theirs = rows(&json(&format!("{name}_torch_from_anneal.json"))["logits"]);
        let diff = worst(&ours, &theirs);
        eprintln!("{name}: max |PyTorch from Anneal's export − Anneal| logit = {diff:e}");
        assert!(diff < 1e-4, "{name}: logits differ by {diff}");
    }
}
