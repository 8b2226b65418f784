//! Audio augmentation throughput: the transforms of the workplace's
//! `augment_bench.py` (audiomentations) on the same 1 600 spoken-digit clips
//! (8 kHz), each clip alone as audiomentations takes them, with its own drawn
//! parameters, p = 1: AddGaussianSNR 10–30 dB (`add_noise`), TimeStretch
//! 0.8–1.25 (`time_stretch`), PitchShift ±2 semitones (`pitch_shift`), Shift
//! ±50 % with rollover (`shift`). Clips per second, median over `--repeats`
//! passes after one warm-up pass; every clip's output is kept until the pass
//! ends, so the figure includes finishing the work.
//!
//! `cargo bench -p anneal-regularize --bench audio_augment -- --clips
//! data/spoken_digits [--repeats 3]` (single-threaded: one clip at a time).
//! Prints a table and one JSON line.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anneal_regularize::augment::{AudioAugmenter, AugmentConfig};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn wav_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("the clips folder").map(|e| e.expect("an entry").path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            wav_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "wav") {
            out.push(p);
        }
    }
}

/// A 16-bit mono clip as floats in `[-1, 1)`.
fn read(path: &Path) -> Vec<f32> {
    let mut reader = hound::WavReader::open(path).expect("a WAV file");
    reader.samples::<i16>().map(|s| f32::from(s.expect("a sample")) / 32768.0).collect()
}

fn main() {
    let dir = arg("--clips").unwrap_or_else(|| "data/spoken_digits".into());
    let repeats: usize = arg("--repeats").map_or(3, |r| r.parse().expect("--repeats"));
    let mut files = Vec::new();
    wav_files(Path::new(&dir), &mut files);
    let clips: Vec<Vec<f32>> = files.iter().map(|f| read(f)).collect();
    let n = clips.len();
    let ops: [(&str, &str); 4] = [
        ("AddGaussianSNR", r#"{ transform = "add_noise", snr_db = [10, 30] }"#),
        ("TimeStretch", r#"{ transform = "time_stretch", rate = [0.8, 1.25] }"#),
        ("PitchShift", r#"{ transform = "pitch_shift", semitones = [-2, 2] }"#),
        ("Shift", r#"{ transform = "shift", fraction = [-0.5, 0.5] }"#),
    ];
    let mut results = serde_json::Map::new();
    println!("| transform | clips/s (median of {repeats}) | passes |");
    println!("|---|---|---|");
    for (name, steps) in ops {
        let config: AugmentConfig = toml::from_str(&format!("steps = [{steps}]")).expect("a valid pipeline");
        let augment = AudioAugmenter::new(config, 0, 8000).expect("valid settings");
        let pass = |epoch: usize| -> f64 {
            let start = Instant::now();
            let mut kept = Vec::with_capacity(n);
            for (row, clip) in clips.iter().enumerate() {
                let ops = augment.plan(row, epoch, 40, 101);
                kept.push(augment.apply_waveform(clip, &ops).expect("augmented"));
            }
            std::hint::black_box(&kept);
            n as f64 / start.elapsed().as_secs_f64()
        };
        pass(0);
        let mut rates: Vec<f64> = (1..=repeats).map(pass).collect();
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        println!(
            "| {name} | {median:.0} | {} |",
            rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ")
        );
        results.insert(name.into(), serde_json::json!({ "clips_per_s": median, "runs": rates }));
    }
    let mean_s = clips.iter().map(Vec::len).sum::<usize>() as f64 / n.max(1) as f64 / 8000.0;
    println!("{}", serde_json::json!({ "bench": "audio_augment", "clips": n, "mean_clip_s": mean_s, "ops": results }));
}
