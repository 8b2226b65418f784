//! Does augmentation help when data is scarce? The MNIST CNN of
//! `examples/configs/mnist_cnn.toml` trained on 400 images (a stratified 10 % of
//! its 4 000 training images, 40 per class) for 30 epochs, with and without
//! augmentation (rotation ±10°, a shift of up to 2 px, a resized crop of 90–100 %
//! of the area: the torchvision pipeline of `examples/reference/aug_effect.py`),
//! tested on the run's 1 000 test images. Each seed trains both arms from the same
//! initial weights and batch order; the table gives the paired differences.
//!
//! Run: `cargo run --release --example augment_effect [-- --seeds 0,1,2,3,4
//! --epochs 30 --per-class 40]` (about 15 s per seed in release on 2 cores).

use anneal::RunConfig;
use anneal::data::{Augmented, ClassificationData, Dataset, SeededRng, Stream, Targets};
use anneal::pipeline::FeatureState;
use anneal::regularize::augment::{AugmentConfig, ImageAugmenter};
use anneal::train::{Backend, ImageRowsAugment, Loss, Progress, Trainer, evaluate};

const AUGMENT: &str = r#"
steps = [
  { transform = "affine", degrees = 10, translate = 0.0714285714 },
  { transform = "resized_crop", scale = [0.9, 1.0] },
]
"#;

/// The value after `--name` on the command line, parsed.
fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

/// `per_class` rows of every class of `data`, drawn with a fixed seed (the same
/// subset for every training seed).
fn stratified_subset(data: &ClassificationData, per_class: usize) -> anyhow::Result<ClassificationData> {
    let targets = data.targets();
    let classes = targets.iter().max().map_or(0, |m| m + 1);
    let mut order: Vec<usize> = (0..targets.len()).collect();
    SeededRng::stream(0, Stream::Named("augment_effect_subset", 0)).shuffle(&mut order);
    let mut taken = vec![0; classes];
    let mut rows: Vec<usize> = order
        .into_iter()
        .filter(|&r| {
            let keep = taken[targets[r]] < per_class;
            taken[targets[r]] += usize::from(keep);
            keep
        })
        .collect();
    rows.sort_unstable();
    let d = data.n_features();
    let features = rows.iter().flat_map(|&r| data.features()[r * d..(r + 1) * d].iter().copied()).collect();
    Ok(ClassificationData::new(features, d, rows.iter().map(|&r| targets[r]).collect())?)
}

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join("examples/configs/mnist_cnn.toml");
    let mut config = RunConfig::load(&path)?;
    config.training.epochs = arg("--epochs").unwrap_or(30);
    let per_class: usize = arg("--per-class").unwrap_or(40);
    let seeds: Vec<u64> = match arg::<String>("--seeds") {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![0, 1, 2, 3, 4],
    };
    let augment_config: AugmentConfig = toml::from_str(AUGMENT)?;
    let backend = Backend::resolve(None)?;
    let device = backend.device()?;

    let data = anneal::run::prepare(&config)?;
    let anneal::data::TabularData::Classification(train) = &data.train else {
        anyhow::bail!("the MNIST config is a classification");
    };
    let subset = stratified_subset(train, per_class)?;
    let FeatureState::Image(images) = &data.fitted.features else {
        anyhow::bail!("the MNIST config reads images");
    };
    let model_config =
        config.model_config(subset.n_features(), data.loaded.target.n_outputs(), Some(&data.fitted.features));
    let Targets::Classes(test_classes) = data.test.all_targets() else { anyhow::bail!("class targets") };
    println!(
        "MNIST CNN, {} training images ({per_class} per class), {} test images, {} epochs of batch {}; augmentation: {}\n",
        subset.len(),
        test_classes.len(),
        config.training.epochs,
        config.training.batch_size,
        augment_config.describe()
    );
    println!("| seed | without | with | difference | training time without | with |");
    println!("|---|---|---|---|---|---|");
    let mut pairs = Vec::new();
    let mut times = Vec::new();
    for &seed in &seeds {
        config.seed = seed;
        let augment = ImageRowsAugment::new(
            ImageAugmenter::new(augment_config.clone(), seed)?.with_host_geometry(backend.is_cpu()),
            images.shape(),
            images.mean(),
            images.std(),
        )?;
        let run = |augmented: bool| -> anyhow::Result<(f64, f64)> {
            let model = model_config.init(seed, &device.clone().autodiff())?;
            let mut optimizer = config.optimizer.init()?;
            let train = if augmented { Augmented::new(&subset, &augment) } else { Augmented::plain(&subset) };
            let start = std::time::Instant::now();
            let fitted = Trainer::new(config.train_config(), device.clone()).with_progress(Progress::Silent).fit(
                model,
                &mut optimizer,
                &train,
                None,
            )?;
            let seconds = start.elapsed().as_secs_f64();
            let test = evaluate(&fitted.model, &data.test, &Loss::CrossEntropy, &device, 1000)?;
            Ok((test.scores()?.0, seconds))
        };
        let ((without, plain_s), (with, augmented_s)) = (run(false)?, run(true)?);
        println!(
            "| {seed} | {without:.4} | {with:.4} | {:+.4} | {plain_s:.1} s | {augmented_s:.1} s |",
            with - without
        );
        pairs.push((without, with));
        times.push(augmented_s / plain_s);
    }
    let n = pairs.len() as f64;
    let mean = |f: &dyn Fn(&(f64, f64)) -> f64| pairs.iter().map(f).sum::<f64>() / n;
    let gain = mean(&|p| p.1 - p.0);
    let sd = (pairs.iter().map(|p| (p.1 - p.0 - gain).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    println!(
        "\nmean test accuracy {:.4} without, {:.4} with: gain {:+.4} ± {:.4} (standard error of the paired difference), better on {} of {} seeds",
        mean(&|p| p.0),
        mean(&|p| p.1),
        gain,
        sd / n.sqrt(),
        pairs.iter().filter(|p| p.1 > p.0).count(),
        pairs.len()
    );
    times.sort_by(f64::total_cmp);
    println!("training time with augmentation / without: {:.2} (median over seeds)", times[times.len() / 2]);
    Ok(())
}
