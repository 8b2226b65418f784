//! The audio front end's throughput on one thread: every bundled spoken-digit clip
//! decoded, padded to one second and turned into a 40-band log-mel spectrogram
//! (the settings of `examples/configs/spoken_digits_cnn.toml`), clip after clip.
//! `cargo xtask bench audio` runs it beside `examples/reference/audio_frontend.py`
//! (librosa). Prints one JSON line: the median clips/s over `--repeats` passes.

use std::path::PathBuf;
use std::time::Instant;

use anneal_data::audio::{AudioOptions, LogMel};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let repeats: usize = flag("--repeats").and_then(|r| r.parse().ok()).unwrap_or(3);
    let root = flag("--data")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/spoken_digits"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("the spoken digits folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .flat_map(|d| std::fs::read_dir(d).unwrap().filter_map(|e| e.ok().map(|e| e.path())))
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    files.sort();
    let options = AudioOptions { sample_rate: 8000, n_fft: 256, hop_length: 80, ..AudioOptions::default() };
    let mut rates = Vec::new();
    let mut checksum = 0f64;
    for _ in 0..repeats {
        let start = Instant::now();
        // Planning is part of the work: once per pass, as once per run.
        let front = LogMel::new(&options).unwrap();
        for f in &files {
            let s = front.file(f).unwrap();
            checksum += f64::from(s[s.len() / 2]);
        }
        rates.push(files.len() as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "{{\"clips\": {}, \"repeats\": {repeats}, \"clips_per_s\": {:.1}, \"all_clips_per_s\": {:?}, \"checksum\": {checksum:.3}}}",
        files.len(),
        rates[rates.len() / 2],
        rates
    );
}
