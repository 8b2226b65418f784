//! Does audio augmentation make a recogniser robust when speakers are few? The
//! spoken-digit CNN of `examples/configs/spoken_digits_cnn.toml` trained on a
//! quarter of its training speakers (28 of 112, the same ones for every seed),
//! with and without waveform and spectrogram augmentation, and tested on the
//! run's 24 unseen test speakers twice: as recorded, and as a perturbed copy
//! (each clip played 10 % faster or slower, then white noise at 10 dB SNR; the
//! same copy for every seed). Each seed trains both arms from the same initial
//! weights and batch order; the table gives both test sets and how much of the
//! clean-vs-perturbed gap augmentation closes.
//!
//! Run: `cargo run --release --example audio_augment_effect [-- --seeds
//! 0,1,2,3,4 --epochs 150 --share 0.25 --augment <a TOML file of steps>]`.

use std::collections::BTreeSet;

use anneal::RunConfig;
use anneal::data::audio::{LogMel, decode_clip};
use anneal::data::{Augmented, ClassificationData, Dataset, SeededRng, Stream, TabularData, Targets};
use anneal::pipeline::FeatureState;
use anneal::regularize::augment::audio::{add_noise, resample_by};
use anneal::regularize::augment::{AudioAugmenter, AugmentConfig, NoiseColor};
use anneal::train::{AudioRowsAugment, Backend, Loss, Progress, Trainer, evaluate};

const AUGMENT: &str = r#"
steps = [
  { transform = "speed", factor = [0.85, 1.15], p = 0.8 },
  { transform = "add_noise", snr_db = [5, 25], p = 0.8 },
  { transform = "gain", db = [-6, 6] },
  { transform = "time_mask", width = [0, 8] },
  { transform = "freq_mask", width = [0, 4] },
]
"#;

/// The value after `--name` on the command line, parsed.
fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

/// The speaker of a clip file (`s042_7.wav` → `s042`).
fn speaker(path: &std::path::Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    stem.split('_').next().unwrap_or_default().to_string()
}

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut config = RunConfig::load(root.join("examples/configs/spoken_digits_cnn.toml"))?;
    config.training.epochs = arg("--epochs").unwrap_or(150);
    let share: f64 = arg("--share").unwrap_or(0.25);
    let seeds: Vec<u64> = match arg::<String>("--seeds") {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![0, 1, 2, 3, 4],
    };
    let augment_config: AugmentConfig = match arg::<String>("--augment") {
        Some(path) => toml::from_str(&std::fs::read_to_string(path)?)?,
        None => toml::from_str(AUGMENT)?,
    };
    let backend = Backend::resolve(None)?;
    let device = backend.device()?;

    let data = anneal::run::prepare(&config)?;
    let (TabularData::Classification(train), FeatureState::Image(normalizer)) = (&data.train, &data.fitted.features)
    else {
        anyhow::bail!("the spoken-digit config is a classification of spectrograms");
    };
    let files = data.loaded.images.as_ref().and_then(|i| i.files.clone()).ok_or_else(|| anyhow::anyhow!("files"))?;
    let options = config.audio_options();
    let front_end = LogMel::new(&options)?;
    let (mean, std) = (normalizer.mean()[0] as f32, normalizer.std()[0] as f32);

    // A fixed share of the training speakers, all their clips.
    let speakers: BTreeSet<String> = data.split.train.iter().map(|&r| speaker(&files[r])).collect();
    let mut speakers: Vec<String> = speakers.into_iter().collect();
    SeededRng::stream(0, Stream::Named("audio_augment_effect_speakers", 0)).shuffle(&mut speakers);
    let kept: BTreeSet<&String> = speakers.iter().take((share * speakers.len() as f64).round() as usize).collect();
    let rows: Vec<usize> = (0..train.len()).filter(|&i| kept.contains(&speaker(&files[data.split.train[i]]))).collect();
    let d = train.n_features();
    let targets = train.targets();
    let subset = ClassificationData::new(
        rows.iter().flat_map(|&i| train.features()[i * d..(i + 1) * d].iter().copied()).collect(),
        d,
        rows.iter().map(|&i| targets[i]).collect(),
    )?;
    let clips =
        rows.iter().map(|&i| decode_clip(&files[data.split.train[i]], &options)).collect::<Result<Vec<_>, _>>()?;

    // The perturbed copy of the test clips.
    let Targets::Classes(test_classes) = data.test.all_targets() else { anyhow::bail!("class targets") };
    let mut perturbed = Vec::with_capacity(test_classes.len() * d);
    for (i, &r) in data.split.test.iter().enumerate() {
        let mut rng = SeededRng::derive(20261204, i as u64);
        let factor = if rng.next_f64() < 0.5 { 0.9 } else { 1.1 };
        let mut clip = resample_by(&decode_clip(&files[r], &options)?, factor);
        add_noise(&mut clip, 10.0, NoiseColor::White, &mut rng);
        perturbed.extend(front_end.compute(&clip).into_iter().map(|v| (v - mean) / std));
    }
    let perturbed = TabularData::Classification(ClassificationData::new(perturbed, d, test_classes.clone())?);

    let model_config =
        config.model_config(subset.n_features(), data.loaded.target.n_outputs(), Some(&data.fitted.features));
    println!(
        "spoken digits CNN, {} training clips ({} of {} training speakers), {} test clips of 24 unseen speakers, \
         {} epochs of batch {}; augmentation: {}\n",
        subset.len(),
        kept.len(),
        speakers.len(),
        test_classes.len(),
        config.training.epochs,
        config.training.batch_size,
        augment_config.describe()
    );
    println!("| seed | clean, without | clean, with | perturbed, without | perturbed, with | gap without | gap with |");
    println!("|---|---|---|---|---|---|---|");
    let mut results = Vec::new();
    let mut times = Vec::new();
    for &seed in &seeds {
        config.seed = seed;
        let augment = AudioRowsAugment::new(
            AudioAugmenter::new(augment_config.clone(), seed, options.sample_rate)?,
            front_end.clone(),
            clips.clone(),
            f64::from(mean),
            f64::from(std),
        )?;
        let run = |augmented: bool| -> anyhow::Result<(f64, f64, f64)> {
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
            let clean = evaluate(&fitted.model, &data.test, &Loss::CrossEntropy, &device, 1000)?.scores()?.0;
            let noisy = evaluate(&fitted.model, &perturbed, &Loss::CrossEntropy, &device, 1000)?.scores()?.0;
            Ok((clean, noisy, seconds))
        };
        let ((c0, p0, s0), (c1, p1, s1)) = (run(false)?, run(true)?);
        println!("| {seed} | {c0:.4} | {c1:.4} | {p0:.4} | {p1:.4} | {:.4} | {:.4} |", c0 - p0, c1 - p1);
        results.push([c0, c1, p0, p1]);
        times.push(s1 / s0);
    }
    let n = results.len() as f64;
    let mean_of = |j: usize| results.iter().map(|r| r[j]).sum::<f64>() / n;
    let se = |f: &dyn Fn(&[f64; 4]) -> f64| {
        let m = results.iter().map(f).sum::<f64>() / n;
        (results.iter().map(|r| (f(r) - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt() / n.sqrt()
    };
    let (gap_without, gap_with) = (mean_of(0) - mean_of(2), mean_of(1) - mean_of(3));
    println!(
        "\nmean clean accuracy {:.4} without, {:.4} with (paired difference {:+.4} ± {:.4})",
        mean_of(0),
        mean_of(1),
        mean_of(1) - mean_of(0),
        se(&|r| r[1] - r[0])
    );
    println!(
        "mean perturbed accuracy {:.4} without, {:.4} with (paired difference {:+.4} ± {:.4})",
        mean_of(2),
        mean_of(3),
        mean_of(3) - mean_of(2),
        se(&|r| r[3] - r[2])
    );
    println!(
        "clean-vs-perturbed gap {gap_without:.4} without, {gap_with:.4} with: augmentation closes {:.0} % of it \
         (perturbed accuracy recovered: {:.0} % of the gap without)",
        100.0 * (1.0 - gap_with / gap_without),
        100.0 * (mean_of(3) - mean_of(2)) / gap_without
    );
    times.sort_by(f64::total_cmp);
    println!("training time with augmentation / without: {:.2} (median over seeds)", times[times.len() / 2]);
    Ok(())
}
