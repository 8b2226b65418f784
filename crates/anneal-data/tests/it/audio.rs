//! The audio front end against librosa (expected values from
//! `tests/golden/make_audio_golden.py`, committed as `audio_golden.json`), and
//! reading folders of WAV files.

use std::path::{Path, PathBuf};

use anneal_data::DataError;
use anneal_data::audio::{AudioOptions, LogMel, load_clip, read_audio_folder, read_wav};
use serde_json::Value;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/spoken_digits")
}

fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[i16]) {
    let spec =
        hound::WavSpec { channels, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        w.write_sample(*s).unwrap();
    }
    w.finalize().unwrap();
}

/// Every value of five clips' log-mel spectrograms equals librosa's within
/// 1e-4 relative (1e-4 dB absolute near 0 dB), over the example's settings, a
/// cut clip with a shorter window and a band, a hop that does not divide the
/// length, an odd frame length with a Hamming window, and a Blackman window
/// without top_db.
#[test]
fn log_mel_spectrograms_equal_librosa() {
    let golden: Value = serde_json::from_str(include_str!("../golden/audio_golden.json")).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let options = AudioOptions {
            sample_rate: case["sample_rate"].as_u64().unwrap() as u32,
            duration: case["duration"].as_f64().unwrap(),
            n_fft: case["n_fft"].as_u64().unwrap() as usize,
            win_length: case["win_length"].as_u64().map(|w| w as usize),
            hop_length: case["hop_length"].as_u64().unwrap() as usize,
            n_mels: case["n_mels"].as_u64().unwrap() as usize,
            fmin: case["fmin"].as_f64().unwrap(),
            fmax: case["fmax"].as_f64(),
            // librosa's top_db = None keeps every value.
            top_db: case["top_db"].as_f64().unwrap_or(f64::INFINITY),
            window: serde_json::from_value(case["window"].clone()).unwrap(),
        };
        let file = case["file"].as_str().unwrap();
        let front = LogMel::new(&options).unwrap();
        let got = front.file(&data().join(file)).unwrap();
        let shape: Vec<usize> =
            case["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        assert_eq!(front.shape()[1..], shape[..], "{file}: shape");
        let want: Vec<f64> = case["log_mel"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(got.len(), want.len());
        let mut worst = 0f64;
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let err = (f64::from(*g) - w).abs() / w.abs().max(1.0);
            worst = worst.max(err);
            assert!(
                err <= 1e-4,
                "{file}: value {i} (band {}, frame {}): got {g}, librosa {w}",
                i / shape[1],
                i % shape[1]
            );
        }
        eprintln!("{file}: largest relative difference from librosa {worst:.2e}");
    }
}

#[test]
fn the_bundled_folder_reads_as_one_row_per_clip_with_its_class() {
    let options = AudioOptions { sample_rate: 8000, n_fft: 256, hop_length: 80, ..AudioOptions::default() };
    let folder = read_audio_folder(&data(), Some("digit"), &options, None).unwrap();
    assert_eq!(folder.table.n_rows(), 1600);
    assert_eq!(folder.shape, [1, 40, 101]);
    assert_eq!(folder.pixels.len(), 40 * 101);
    assert_eq!(folder.table.column_names()[0], "digit");
    let labels = folder.table.as_strings("digit").unwrap();
    assert_eq!(labels.iter().filter(|l| l.as_deref() == Some("7")).count(), 160);
    // Files are in sorted order, class by class; speakers.csv beside the classes is not a clip.
    assert!(folder.files[0].ends_with("0/s000_0.wav"), "{:?}", folder.files[0]);
    assert!(folder.files.iter().all(|f| f.extension().unwrap() == "wav"));
}

#[test]
fn stereo_is_averaged_other_rates_are_resampled_and_lengths_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let stereo = dir.path().join("stereo.wav");
    // Left 16384, right -16384: mono 0. Left 16384, right 16384: mono 0.5.
    write_wav(&stereo, 8000, 2, &[16384, -16384, 16384, 16384]);
    let (mono, rate) = read_wav(&stereo).unwrap();
    assert_eq!((mono, rate), (vec![0.0, 0.5], 8000));
    let fast = dir.path().join("fast.wav");
    write_wav(&fast, 16000, 1, &vec![1000; 3200]);
    let options = AudioOptions { sample_rate: 8000, duration: 0.5, ..AudioOptions::default() };
    let clip = load_clip(&fast, &options).unwrap();
    // 0.2 s at 16 kHz → 1600 samples at 8 kHz, then silence to 0.5 s.
    assert_eq!(clip.len(), 4000);
    assert!((clip[800] - 1000.0 / 32768.0).abs() < 1e-3, "{}", clip[800]);
    assert!(clip[1700..].iter().all(|v| *v == 0.0));
    let cut = AudioOptions { duration: 0.1, ..options };
    assert_eq!(load_clip(&fast, &cut).unwrap().len(), 800);
}

#[test]
fn bad_folders_and_files_are_named() {
    let options = AudioOptions { sample_rate: 8000, ..AudioOptions::default() };
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join("yes");
    std::fs::create_dir(&class).unwrap();
    write_wav(&class.join("a.wav"), 8000, 1, &[0, 100, -100]);
    // Not a WAV inside a class folder.
    std::fs::write(class.join("notes.txt"), "hello").unwrap();
    let e = read_audio_folder(dir.path(), Some("y"), &options, None).unwrap_err().to_string();
    assert!(e.contains("notes.txt") && e.contains("not an audio file"), "{e}");
    std::fs::remove_file(class.join("notes.txt")).unwrap();
    // A file named .wav that is not one.
    std::fs::write(class.join("broken.wav"), "RIFF but not really").unwrap();
    let e = read_audio_folder(dir.path(), Some("y"), &options, None).unwrap_err();
    assert!(matches!(&e, DataError::Audio { path, .. } if path.ends_with("broken.wav")), "{e}");
    std::fs::remove_file(class.join("broken.wav")).unwrap();
    // A clip beside the class folders belongs to no class.
    write_wav(&dir.path().join("loose.wav"), 8000, 1, &[0, 1]);
    let e = read_audio_folder(dir.path(), Some("y"), &options, None).unwrap_err().to_string();
    assert!(e.contains("loose.wav") && e.contains("belongs to no class"), "{e}");
    std::fs::remove_file(dir.path().join("loose.wav")).unwrap();
    let folder = read_audio_folder(dir.path(), Some("y"), &options, None).unwrap();
    assert_eq!(folder.table.n_rows(), 1);
    // An empty folder.
    let empty = tempfile::tempdir().unwrap();
    let e = read_audio_folder(empty.path(), Some("y"), &options, None).unwrap_err().to_string();
    assert!(e.contains("no wav file"), "{e}");
    // Settings.
    let e = read_audio_folder(dir.path(), None, &AudioOptions { hop_length: 0, ..options }, None).unwrap_err();
    assert!(e.to_string().contains("hop_length = 0"), "{e}");
}
