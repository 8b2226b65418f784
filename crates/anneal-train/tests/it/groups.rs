//! Optimiser parameter groups (frozen layers, per-group learning rates) and
//! hooks that work on gradients by parameter path.

use anneal_models::{ActivationKind, Mlp, MlpConfig};
use anneal_optim::OptimizerConfig;
use anneal_train::{
    Backend, ParamGroupConfig, ParamLayout, Progress, StepInfo, TrainConfig, TrainError, TrainHook, Trainer,
};
use burn::optim::GradientsParams;

use super::{blobs, params};

fn model() -> Mlp {
    let config = MlpConfig {
        input: 4,
        hidden: vec![8],
        output: 3,
        activation: ActivationKind::Tanh,
        dropout: 0.0,
        layer_dropout: vec![],
    };
    config.init(3, &Backend::Flex.device().unwrap().autodiff()).unwrap()
}

/// Full-batch gradient descent for `epochs` updates with `groups` and `hook`.
fn fit(epochs: usize, groups: Vec<ParamGroupConfig>, hook: impl TrainHook) -> Result<Mlp, TrainError> {
    let data = blobs(60, 4, 1, 1.0);
    let mut optimizer = OptimizerConfig::Gd { learning_rate: 0.1 }.init().unwrap();
    let config = TrainConfig { param_groups: groups, ..TrainConfig::new(epochs, 60) };
    Ok(Trainer::new(config, Backend::Flex.device().unwrap())
        .with_progress(Progress::Silent)
        .with_hook(hook)
        .fit(model(), &mut optimizer, &data, None)?
        .model)
}

struct NoHook;
impl TrainHook for NoHook {}

fn group(layers: &[usize], frozen: bool, lr_scale: f64) -> ParamGroupConfig {
    ParamGroupConfig { layers: layers.to_vec(), frozen, lr_scale, frozen_epochs: 0 }
}

/// Parameters in visiting order: layer 0 weight, bias, layer 1 weight, bias.
fn deltas(after: &Mlp) -> Vec<Vec<f32>> {
    params(&model())
        .iter()
        .zip(params(after))
        .map(|((_, a), (_, b))| b.iter().zip(a).map(|(b, a)| b - a).collect())
        .collect()
}

#[test]
fn a_frozen_layer_keeps_its_weights_bit_for_bit() {
    let trained = fit(5, vec![group(&[0], true, 1.0)], NoHook).unwrap();
    let d = deltas(&trained);
    assert!(d[0].iter().chain(&d[1]).all(|&x| x == 0.0), "layer 0 moved");
    assert!(d[2].iter().any(|&x| x != 0.0), "layer 1 should learn");
}

/// Records the layer of every gradient the loop computes, per epoch.
#[derive(Default)]
struct SeenGradients {
    layout: Option<ParamLayout>,
    seen: Vec<(usize, String)>,
}

impl TrainHook for SeenGradients {
    fn on_layout(&mut self, layout: &ParamLayout) {
        self.layout = Some(layout.clone());
    }

    fn after_backward(&mut self, step: &StepInfo, grads: &mut GradientsParams) {
        let Some(layout) = &self.layout else { return };
        let seen = &mut self.seen;
        layout.map_gradients(grads, |p, g| {
            seen.push((step.epoch, p.layer_path.clone()));
            g
        });
    }
}

#[test]
fn a_frozen_layer_gets_no_gradient_computed() {
    // Not computed and dropped: backpropagation never produced one (the hook sees
    // the gradients as they come out of backward).
    let mut hook = SeenGradients::default();
    fit(3, vec![group(&[0], true, 1.0)], &mut hook).unwrap();
    assert_eq!(hook.seen.len(), 6, "{:?}", hook.seen);
    assert!(hook.seen.iter().all(|(_, l)| l == "layers.1"), "{:?}", hook.seen);
    let everything = fit(1, vec![group(&[0, 1], true, 1.0)], NoHook).unwrap_err();
    assert!(everything.to_string().contains("freeze every layer"), "{everything}");
}

#[test]
fn gradual_unfreezing_thaws_a_layer_after_its_frozen_epochs() {
    let thawing = |epochs| {
        let mut hook = SeenGradients::default();
        let g = ParamGroupConfig { frozen_epochs: 2, ..group(&[0], false, 1.0) };
        let trained = fit(epochs, vec![g], &mut hook).unwrap();
        (deltas(&trained), hook.seen)
    };
    let (d, seen) = thawing(2);
    assert!(d[0].iter().chain(&d[1]).all(|&x| x == 0.0), "layer 0 moved while frozen");
    assert!(seen.iter().all(|(_, l)| l == "layers.1"), "{seen:?}");
    let (d, seen) = thawing(3);
    assert!(d[0].iter().any(|&x| x != 0.0), "layer 0 should learn in epoch 3");
    let third: Vec<&str> = seen.iter().filter(|(e, _)| *e == 3).map(|(_, l)| l.as_str()).collect();
    assert_eq!(third, ["layers.0", "layers.0", "layers.1", "layers.1"]);
    let both = ParamGroupConfig { frozen_epochs: 2, ..group(&[0], true, 1.0) };
    let bad = fit(1, vec![both], NoHook).unwrap_err();
    assert!(bad.to_string().contains("say one"), "{bad}");
}

#[test]
fn a_group_learning_rate_scales_its_layers_update() {
    // One full-batch step from the same weights: the same gradient, so the scaled
    // layer's step is exactly 3 times the plain one's and the other layer's equal.
    let plain = deltas(&fit(1, vec![], NoHook).unwrap());
    let scaled = deltas(&fit(1, vec![group(&[1], false, 3.0)], NoHook).unwrap());
    assert_eq!(plain[0], scaled[0]);
    for (p, s) in plain[2].iter().chain(&plain[3]).zip(scaled[2].iter().chain(&scaled[3])) {
        assert!((3.0 * p - s).abs() <= 1e-5 * (1.0 + p.abs()), "{s} vs 3 × {p}");
    }
    let bad = fit(1, vec![group(&[2], false, 1.0)], NoHook).unwrap_err();
    assert!(bad.to_string().contains("names layer 2, but the model has 2 layers"), "{bad}");
    let bad = fit(1, vec![group(&[0], false, 0.0)], NoHook).unwrap_err();
    assert!(bad.to_string().contains("lr_scale must be a positive number"), "{bad}");
}

/// Zeroes the gradients of one layer, found by its path: what a hook doing
/// all-reduce or gradient surgery by name does with the same call.
struct ZeroLayer {
    path: &'static str,
    layout: Option<ParamLayout>,
    seen: Vec<String>,
}

impl TrainHook for ZeroLayer {
    fn on_layout(&mut self, layout: &ParamLayout) {
        self.layout = Some(layout.clone());
    }

    fn after_backward(&mut self, _step: &StepInfo, grads: &mut GradientsParams) {
        let Some(layout) = &self.layout else { return };
        let (path, seen) = (self.path, &mut self.seen);
        layout.map_gradients(grads, |p, g| {
            seen.push(p.layer_path.clone());
            if p.layer_path == path { g.zeros_like() } else { g }
        });
    }
}

#[test]
fn a_hook_reaches_every_gradient_by_its_path() {
    let mut hook = ZeroLayer { path: "layers.0", layout: None, seen: Vec::new() };
    let trained = fit(2, vec![], &mut hook).unwrap();
    assert_eq!(hook.seen, ["layers.0", "layers.0", "layers.1", "layers.1"].repeat(2));
    let d = deltas(&trained);
    assert!(d[0].iter().chain(&d[1]).all(|&x| x == 0.0), "zeroed gradients leave layer 0 as it was");
    assert!(d[2].iter().any(|&x| x != 0.0));
}
