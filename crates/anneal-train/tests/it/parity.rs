//! Backend parity: the same model (an MLP, CNNs on images and spectrograms, a
//! transformer on token ids) from the same initial weights, trained on every
//! compiled backend, has the same losses within 1e-4 at every step.

use anneal_data::{Dataset, LastBatch};
use anneal_models::{ActivationKind, CnnConfig, ConvBlockConfig, MlpConfig, Model, PoolKind};
use anneal_optim::OptimizerConfig;
use anneal_train::{Backend, Loss, StepInfo, train_step};

/// The autodiff device of `backend`, which must start.
fn train_device(backend: Backend) -> burn::prelude::Device {
    let device = backend.device().unwrap_or_else(|e| panic!("backend {backend} must start for the parity test: {e}"));
    device.autodiff()
}

/// The loss of each of `steps` cross-entropy steps of Adam at `lr`, training
/// `model` on `batches` of `data` in turn (cycled).
fn step_losses<M: Model, D: Dataset<Input = M::Input>>(
    mut model: M,
    data: &D,
    batches: &[Vec<usize>],
    steps: usize,
    lr: f64,
    device: &burn::prelude::Device,
) -> Vec<f32> {
    let mut optimizer = OptimizerConfig::adam(lr).init().unwrap();
    let mut out = Vec::new();
    for i in 0..steps {
        let batch = data.batch(&batches[i % batches.len()], device);
        let step = StepInfo { epoch: 1, iteration: i + 1, batch_len: batches[i % batches.len()].len() };
        let loss;
        (model, loss) = train_step(model, &mut optimizer, batch, &Loss::CrossEntropy, &step, &mut []).unwrap();
        out.push(loss.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()[0]);
    }
    out
}

/// Compares `losses` of every compiled backend with flex's `reference`: within 1e-4 at every step.
fn assert_backends_agree(what: &str, reference: &[f32], losses: impl Fn(Backend) -> Vec<f32>) {
    for backend in Backend::compiled().into_iter().filter(|b| *b != Backend::Flex) {
        let other = losses(backend);
        let worst = reference.iter().zip(&other).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        eprintln!("{backend} vs flex{what}: max |loss difference| over {} steps = {worst:e}", reference.len());
        assert!(worst < 1e-4, "{backend} differs from flex by {worst}: {other:?} vs {reference:?}");
    }
}

/// The CNN of both CNN parity tests for `shape` images and `output` classes:
/// a block of convolution, batch norm and max pooling, then one of convolution,
/// ReLU and max pooling (which flex runs as one fused operation of our own,
/// the other backends as burn's), a dense head of 12. Sharing the blocks saves
/// compiling some wgpu kernels twice on lavapipe, which is most of these tests' time.
fn parity_cnn(shape: [usize; 3], output: usize) -> CnnConfig {
    CnnConfig {
        blocks: vec![
            ConvBlockConfig { padding: 1, batch_norm: true, ..ConvBlockConfig::new(6).with_pool(PoolKind::Max, 2) },
            ConvBlockConfig { padding: 1, ..ConvBlockConfig::new(8).with_pool(PoolKind::Max, 2) },
        ],
        hidden: vec![12],
        ..CnnConfig::new(shape, output)
    }
}

fn losses(backend: Backend) -> Vec<f32> {
    let train_device = train_device(backend);
    let data = super::blobs(256, 8, 5, 1.0);
    let config = MlpConfig {
        input: 8,
        hidden: vec![32, 16],
        output: 3,
        activation: ActivationKind::Relu,
        dropout: 0.0,
        layer_dropout: vec![],
    };
    let model = config.init(11, &train_device).unwrap();
    let batches = data.batch_indices(32, None, LastBatch::Keep).unwrap();
    step_losses(model, &data, &batches, 100, 1e-2, &train_device)
}

#[test]
fn every_compiled_backend_gives_the_same_losses() {
    let reference = losses(Backend::Flex);
    assert!(reference[99] < reference[0] * 0.5, "the run must actually learn: {reference:?}");
    assert_backends_agree("", &reference, losses);
}

/// With the `wgpu` feature, the parity test must really include wgpu (CI installs
/// Mesa's software Vulkan driver for it).
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_takes_part_when_compiled() {
    assert!(Backend::compiled().contains(&Backend::Wgpu));
    Backend::Wgpu.device().expect("wgpu must start: install mesa-vulkan-drivers when there is no GPU");
}

/// The CNN kind (convolution, batch norm, max pooling, a dense head) from the same
/// initial weights, trained for 20 steps on every compiled backend.
fn cnn_losses(backend: Backend) -> Vec<f32> {
    let train_device = train_device(backend);
    // 16 features read as 1x4x4 images.
    let data = super::blobs(128, 16, 5, 1.0);
    let model = parity_cnn([1, 4, 4], 3).init(5, &train_device).unwrap();
    let batches = data.batch_indices(32, None, LastBatch::Keep).unwrap();
    step_losses(model, &data, &batches, 20, 1e-2, &train_device)
}

#[test]
fn every_compiled_backend_gives_the_same_cnn_losses() {
    let reference = cnn_losses(Backend::Flex);
    assert!(reference[19] < reference[0] * 0.8, "the CNN must actually learn: {reference:?}");
    assert_backends_agree(", CNN", &reference, cnn_losses);
}

/// The augmentation pipeline is burn tensor operations: the same images on every
/// compiled backend (wgpu included, where the geometric steps are `grid_sample`
/// on the device), and the host warp that CPU runs use gives them too.
#[test]
fn every_compiled_backend_gives_the_same_augmented_images() {
    use anneal_regularize::augment::{AugmentConfig, ImageAugmenter};
    use burn::prelude::*;
    let (n, c, h, w) = (6, 3, 10, 12);
    let mut rng = anneal_data::SeededRng::new(5);
    let pixels: Vec<f32> = (0..n * c * h * w).map(|_| rng.next_f64() as f32).collect();
    let config: AugmentConfig = toml::from_str(
        r#"steps = [
            { transform = "horizontal_flip" },
            { transform = "affine", degrees = 20, translate = 0.1, scale = [0.8, 1.2], shear = 5 },
            { transform = "resized_crop", scale = [0.5, 1.0] },
            { transform = "brightness", factor = 0.3 },
            { transform = "contrast", factor = 0.3 },
            { transform = "gamma", range = [0.7, 1.4] },
            { transform = "noise", std = 0.05 },
            { transform = "blur", sigma = [0.5, 1.5], kernel = 5 },
            { transform = "erase" },
            { transform = "cutmix", p = 0.5 },
        ]"#,
    )
    .unwrap();
    let rows: Vec<usize> = (0..n).collect();
    let run = |backend: Backend, host: bool| -> Vec<f32> {
        let device = backend.device().unwrap();
        let images = Tensor::<4>::from_data(TensorData::new(pixels.clone(), [n, c, h, w]), &device);
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 0, 1, 2], [n]), &device);
        let augmenter = ImageAugmenter::new(config.clone(), 3).unwrap().with_host_geometry(host);
        let (out, _) = augmenter.apply_labelled(images, labels, &rows, 1).unwrap();
        out.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    };
    let reference = run(Backend::Flex, false);
    let host = run(Backend::Flex, true);
    let gap = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(gap(&reference, &host) < 1e-4, "host warp vs grid_sample: {}", gap(&reference, &host));
    for backend in Backend::compiled().into_iter().filter(|b| *b != Backend::Flex) {
        let other = run(backend, false);
        let worst = gap(&reference, &other);
        eprintln!("{backend} vs flex, augmentation: max |pixel difference| = {worst:e}");
        assert!(worst < 1e-4, "{backend} augments differently from flex by {worst}");
    }
}

/// The spectrogram CNN of audio runs: 16 bundled clips (digits 0-3 of four
/// speakers) as standardised 20-band log-mel spectrograms of 0.4 s (41 frames),
/// a convolution block with batch norm and max pooling and a dense head, 8 steps
/// from the same initial weights on every compiled backend.
fn spectrogram_cnn_losses(backend: Backend) -> Vec<f32> {
    use anneal_data::ClassificationData;
    use anneal_data::audio::{AudioOptions, LogMel};
    let train_device = train_device(backend);
    let options = AudioOptions {
        sample_rate: 8000,
        duration: 0.4,
        n_fft: 256,
        hop_length: 80,
        n_mels: 20,
        ..AudioOptions::default()
    };
    let front = LogMel::new(&options).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/spoken_digits");
    let (mut values, mut targets) = (Vec::new(), Vec::new());
    for digit in 0..4 {
        for speaker in 0..4 {
            values.extend(front.file(&root.join(format!("{digit}/s{speaker:03}_{digit}.wav"))).unwrap());
            targets.push(digit);
        }
    }
    let mean = values.iter().sum::<f32>() / values.len() as f32;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32).sqrt();
    let values: Vec<f32> = values.iter().map(|v| (v - mean) / std).collect();
    let shape = front.shape();
    let data = ClassificationData::new(values, shape.iter().product(), targets).unwrap();
    let model = parity_cnn(shape, 4).init(3, &train_device).unwrap();
    let batches = data.batch_indices(8, Some(&mut anneal_data::SeededRng::new(1)), LastBatch::Keep).unwrap();
    step_losses(model, &data, &batches, 8, 3e-3, &train_device)
}

#[test]
fn every_compiled_backend_gives_the_same_spectrogram_cnn_losses() {
    let reference = spectrogram_cnn_losses(Backend::Flex);
    let (first, last) = (reference[..2].iter().sum::<f32>(), reference[6..].iter().sum::<f32>());
    assert!(last < first, "the CNN must actually learn: {reference:?}");
    assert_backends_agree(", spectrogram CNN", &reference, spectrogram_cnn_losses);
}

/// The transformer of text runs: the first 32 bundled food reviews as 24 word
/// ids each (a word tokenizer fitted on them), two pre-LN blocks with dropout
/// (its masks are drawn on the host, so every backend drops the same values),
/// 8 steps from the same initial weights on every compiled backend.
fn transformer_losses(backend: Backend) -> Vec<f32> {
    use anneal_data::text::{TextEncoder, TextOptions};
    use anneal_data::{ClassificationData, CsvOptions, LabelEncoder, Table};
    use anneal_models::TransformerConfig;
    let train_device = train_device(backend);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fine_foods.csv.gz");
    let table = Table::read(path, &CsvOptions::default()).unwrap().take(&(0..32).collect::<Vec<_>>()).unwrap();
    let options = TextOptions { max_len: 24, vocab_size: 300, min_count: 1, ..TextOptions::default() };
    let (encoder, ids) = TextEncoder::fit_transform(&options, &table, "review").unwrap();
    let targets = LabelEncoder::fit(&table, "score").unwrap().encode(&table).unwrap();
    let data = ClassificationData::new(ids.values, ids.n_cols, targets).unwrap();
    let config = TransformerConfig {
        vocab: encoder.vocab_len(),
        max_len: 24,
        d_model: 16,
        heads: 2,
        d_ff: 32,
        output: 2,
        ..TransformerConfig::default()
    };
    let model = config.init(3, &train_device).unwrap();
    let batches = data.batch_indices(8, Some(&mut anneal_data::SeededRng::new(1)), LastBatch::Keep).unwrap();
    step_losses(model, &data, &batches, 8, 3e-3, &train_device)
}

#[test]
fn every_compiled_backend_gives_the_same_transformer_losses() {
    let reference = transformer_losses(Backend::Flex);
    let (first, last) = (reference[..2].iter().sum::<f32>(), reference[6..].iter().sum::<f32>());
    assert!(last < first, "the transformer must actually learn: {reference:?}");
    assert_backends_agree(", transformer", &reference, transformer_losses);
}

/// Transfer and distillation machinery on every compiled backend: an MLP with
/// its first layer frozen (no gradient computed) and its second thawed after
/// one epoch, learning from a teacher's targets through the distillation
/// objective, trained by the loop for 4 epochs of full batches from the same
/// weights. The frozen layer comes out unchanged and the losses agree.
fn frozen_distilled(backend: Backend) -> (Vec<f32>, bool) {
    use anneal_data::Augmented;
    use anneal_models::{ActivationKind, MlpConfig};
    use anneal_optim::OptimizerConfig;
    use anneal_train::{Distillation, Loss, ParamGroupConfig, Progress, TeacherTargets, TrainConfig, Trainer};
    let data = super::blobs(60, 4, 2, 1.0);
    let config = MlpConfig {
        input: 4,
        hidden: vec![8, 8],
        output: 3,
        activation: ActivationKind::Tanh,
        dropout: 0.0,
        layer_dropout: vec![],
    };
    let model = config.init(4, &train_device(backend)).unwrap();
    let before = super::params(&model);
    // A teacher's log-probabilities: a fixed, confident function of the row.
    let teacher: Vec<f32> = (0..60).flat_map(|r| (0..3).map(move |c| if r % 3 == c { -0.1 } else { -3.0 })).collect();
    let teacher = TeacherTargets::new(teacher, 3).unwrap();
    let groups = vec![
        ParamGroupConfig { layers: vec![0], frozen: true, lr_scale: 1.0, frozen_epochs: 0 },
        ParamGroupConfig { layers: vec![1], frozen: false, lr_scale: 0.5, frozen_epochs: 1 },
    ];
    let train = TrainConfig { param_groups: groups, ..TrainConfig::new(4, 60) };
    let fitted = Trainer::new(train, backend.device().unwrap())
        .with_progress(Progress::Silent)
        .with_objective(Distillation::new(Box::new(Loss::CrossEntropy), 2.0, 0.7).unwrap())
        .fit(
            model,
            &mut OptimizerConfig::Gd { learning_rate: 0.2 }.init().unwrap(),
            &Augmented::new(&data, &teacher),
            None,
        )
        .unwrap();
    let after = super::params(&fitted.model);
    let frozen_kept = before[..2] == after[..2] && before[2..4] != after[2..4];
    (fitted.history.iter().map(|r| r.metric("train_loss").unwrap() as f32).collect(), frozen_kept)
}

#[test]
fn every_compiled_backend_freezes_and_distills_alike() {
    let (reference, kept) = frozen_distilled(Backend::Flex);
    assert!(kept, "flex: the frozen layer moved, or the thawed one did not");
    assert!(reference[3] < reference[0], "the student must learn: {reference:?}");
    assert_backends_agree(", frozen + distilled", &reference, |b| {
        let (losses, kept) = frozen_distilled(b);
        assert!(kept, "{b}: the frozen layer moved, or the thawed one did not");
        losses
    });
}
