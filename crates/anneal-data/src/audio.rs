//! Audio data: a folder of class folders of WAV files (the Speech Commands
//! layout) turned into log-mel spectrograms, one per row of the same
//! [`Table`](crate::Table) as every other dataset, so that image models, normalisation, splits and
//! reports serve audio unchanged: a clip becomes a one-channel image of
//! `n_mels` rows (low frequencies first) and one column per frame.
//!
//! The front end follows librosa: WAV decoded by `hound` (integer samples
//! divided by 2^(bits−1), channels averaged to mono), resampled to
//! `sample_rate` by `rubato` when the file has another rate, padded with zeros
//! at the end or cut to `duration` seconds, then a centred, zero-padded STFT
//! (`realfft`) with a periodic window (Hann by default), the power spectrum through a Slaney
//! mel filter bank with Slaney area normalisation (`librosa.feature.melspectrogram`'s
//! defaults), and `10·log10(max(1e-10, S))` clipped at `top_db` below the
//! clip's peak (`librosa.power_to_db`).
//!
//! ```
//! use anneal_data::audio::{AudioOptions, LogMel};
//!
//! let options = AudioOptions { sample_rate: 8000, duration: 0.5, n_fft: 256, hop_length: 80, n_mels: 40, ..AudioOptions::default() };
//! let front = LogMel::new(&options)?;
//! // A 440 Hz tone: 4000 samples make 1 + 4000 / 80 = 51 centred frames of 40 bands.
//! let tone: Vec<f32> = (0..4000).map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 8000.0).sin()).collect();
//! let spectrogram = front.compute(&tone);
//! assert_eq!(front.shape(), [1, 40, 51]);
//! assert_eq!(spectrogram.len(), 40 * 51);
//! # Ok::<(), anneal_data::DataError>(())
//! ```

use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use realfft::RealToComplex;
use realfft::num_complex::Complex;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::image::{ImageFolder, ImageOptions, Normalization, PixelLayout, class_folder_files, folder_table};

/// The file extensions read as audio (case-insensitive).
pub const AUDIO_EXTENSIONS: [&str; 1] = ["wav"];

fn default_sample_rate() -> u32 {
    16_000
}
fn default_duration() -> f64 {
    1.0
}
fn default_n_fft() -> usize {
    512
}
fn default_hop() -> usize {
    160
}
fn default_n_mels() -> usize {
    40
}
fn default_top_db() -> f64 {
    80.0
}

/// The `[data.audio]` table: how clips become log-mel spectrograms.
///
/// The defaults are Speech Commands' (16 kHz, one second) with a 32 ms frame,
/// a 10 ms hop and 40 mel bands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioOptions {
    /// The rate every clip is resampled to, in Hz.
    #[serde(default = "default_sample_rate")]
    pub sample_rate: u32,
    /// Every clip is padded with silence at the end, or cut, to this many seconds.
    #[serde(default = "default_duration")]
    pub duration: f64,
    /// Samples per FFT frame.
    #[serde(default = "default_n_fft")]
    pub n_fft: usize,
    /// Samples of the window (default `n_fft`; a shorter window is centred in
    /// the frame, as librosa does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub win_length: Option<usize>,
    /// The window's shape.
    #[serde(default)]
    pub window: Window,
    /// Samples between the starts of consecutive frames.
    #[serde(default = "default_hop")]
    pub hop_length: usize,
    /// Mel bands: the spectrogram's height.
    #[serde(default = "default_n_mels")]
    pub n_mels: usize,
    /// The lowest frequency of the filter bank, in Hz.
    #[serde(default)]
    pub fmin: f64,
    /// The highest frequency, in Hz (default: half the sample rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fmax: Option<f64>,
    /// Decibels kept below each clip's loudest cell (`inf` keeps all).
    #[serde(default = "default_top_db")]
    pub top_db: f64,
}

impl Default for AudioOptions {
    fn default() -> Self {
        Self {
            sample_rate: default_sample_rate(),
            duration: default_duration(),
            n_fft: default_n_fft(),
            win_length: None,
            window: Window::Hann,
            hop_length: default_hop(),
            n_mels: default_n_mels(),
            fmin: 0.0,
            fmax: None,
            top_db: default_top_db(),
        }
    }
}

impl AudioOptions {
    /// Checks the settings, naming the first that cannot work.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(DataError::InvalidParameter(format!("[data.audio] {m}")));
        if self.sample_rate == 0 {
            return bad("sample_rate = 0: a rate in Hz, such as 16000".into());
        }
        if !(self.duration.is_finite() && self.duration > 0.0) || self.samples() == 0 {
            return bad(format!("duration = {}: a positive number of seconds (at least one sample)", self.duration));
        }
        if self.n_fft < 2 {
            return bad(format!("n_fft = {}: a frame needs at least 2 samples", self.n_fft));
        }
        if let Some(w) = self.win_length
            && (w == 0 || w > self.n_fft)
        {
            return bad(format!("win_length = {w}: between 1 and n_fft ({})", self.n_fft));
        }
        if self.hop_length == 0 {
            return bad("hop_length = 0: frames must advance".into());
        }
        if self.n_mels == 0 {
            return bad("n_mels = 0: the spectrogram needs at least one mel band".into());
        }
        let nyquist = f64::from(self.sample_rate) / 2.0;
        let fmax = self.fmax();
        if !(self.fmin.is_finite() && self.fmin >= 0.0) {
            return bad(format!("fmin = {}: a frequency of at least 0 Hz", self.fmin));
        }
        if !(fmax.is_finite() && fmax > self.fmin && fmax <= nyquist) {
            return bad(format!(
                "fmax = {fmax}: above fmin ({}) and at most half the sample rate ({nyquist} Hz)",
                self.fmin
            ));
        }
        if self.top_db.is_nan() || self.top_db <= 0.0 {
            return bad(format!("top_db = {}: a positive number of decibels (inf keeps everything)", self.top_db));
        }
        Ok(())
    }

    /// Samples per clip after padding or cutting.
    pub fn samples(&self) -> usize {
        (self.duration * f64::from(self.sample_rate)).round() as usize
    }

    /// The filter bank's top frequency.
    pub fn fmax(&self) -> f64 {
        self.fmax.unwrap_or(f64::from(self.sample_rate) / 2.0)
    }

    /// Frames per clip: centred frames, `1 + samples / hop_length` for an even
    /// `n_fft` (librosa's count: `n_fft / 2` zeros on each side).
    pub fn frames(&self) -> usize {
        1 + (self.samples() + 2 * (self.n_fft / 2)).saturating_sub(self.n_fft) / self.hop_length
    }

    /// `[1, n_mels, frames]`: the spectrogram as an image.
    pub fn shape(&self) -> [usize; 3] {
        [1, self.n_mels, self.frames()]
    }

    /// How the spectrograms are read as images: the shape above, values in
    /// decibels as they are (scale 1), standardised with the training clips'
    /// mean and standard deviation.
    pub fn image_options(&self) -> ImageOptions {
        let [c, h, w] = self.shape();
        ImageOptions {
            height: Some(h),
            width: Some(w),
            channels: Some(c),
            scale: 1.0,
            layout: PixelLayout::Chw,
            normalize: Normalization::Channel,
        }
    }
}

/// The shape of the STFT's window, periodic as `scipy.signal.get_window(…,
/// fftbins=True)` makes it (librosa's windows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// `0.5 − 0.5·cos(2πi/N)`.
    #[default]
    Hann,
    /// `0.54 − 0.46·cos(2πi/N)`.
    Hamming,
    /// `0.42 − 0.5·cos(2πi/N) + 0.08·cos(4πi/N)`.
    Blackman,
    /// All ones (scipy's `boxcar`).
    Rectangular,
}

impl Window {
    /// The window's `len` values.
    pub fn values(self, len: usize) -> Vec<f64> {
        let tau = 2.0 * std::f64::consts::PI;
        (0..len)
            .map(|i| {
                let x = tau * i as f64 / len as f64;
                match self {
                    Window::Hann => 0.5 - 0.5 * x.cos(),
                    Window::Hamming => 0.54 - 0.46 * x.cos(),
                    Window::Blackman => 0.42 - 0.5 * x.cos() + 0.08 * (2.0 * x).cos(),
                    Window::Rectangular => 1.0,
                }
            })
            .collect()
    }
}

/// A WAV file's samples, channels averaged to mono, in `[-1, 1]`, and its rate.
pub fn read_wav(path: &Path) -> Result<(Vec<f32>, u32)> {
    let bad = |message: String| DataError::Audio { path: path.to_path_buf(), message };
    let file = std::fs::File::open(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    let reader = hound::WavReader::new(std::io::BufReader::new(file))
        .map_err(|e| bad(format!("not a readable WAV file: {e}")))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    if channels == 0 {
        return Err(bad("the header says 0 channels".into()));
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<std::result::Result<_, _>>(),
        hound::SampleFormat::Int => {
            let full = (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader.into_samples::<i32>().map(|s| s.map(|s| s as f32 / full)).collect()
        }
    }
    .map_err(|e| bad(format!("cannot read its samples: {e}")))?;
    if let Some(i) = interleaved.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!("sample {} is {}, not a finite number", i / channels, interleaved[i])));
    }
    let mono = if channels == 1 {
        interleaved
    } else {
        interleaved.chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() / channels as f32).collect()
    };
    Ok((mono, spec.sample_rate))
}

/// `samples` at `from` Hz resampled to `to` Hz (rubato's FFT resampler),
/// `ceil(len · to / from)` samples long.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    use rubato::Resampler;
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let err = |e: String| DataError::InvalidParameter(format!("resampling {from} Hz to {to} Hz: {e}"));
    let mut resampler =
        rubato::FftFixedInOut::<f32>::new(from as usize, to as usize, 1024, 1).map_err(|e| err(e.to_string()))?;
    let delay = resampler.output_delay();
    let want = (samples.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    let mut out = Vec::with_capacity(want + delay + resampler.output_frames_max());
    let mut pos = 0;
    while out.len() < want + delay {
        let need = resampler.input_frames_next();
        let chunk = if pos + need <= samples.len() {
            resampler.process(&[&samples[pos..pos + need]], None)
        } else if pos < samples.len() {
            resampler.process_partial(Some(&[&samples[pos..]]), None)
        } else {
            resampler.process_partial(None::<&[&[f32]]>, None)
        }
        .map_err(|e| err(e.to_string()))?;
        pos += need;
        out.extend_from_slice(&chunk[0]);
    }
    out.drain(..delay);
    out.truncate(want);
    Ok(out)
}

/// A clip as the front end reads it: decoded, mono, at `options.sample_rate`,
/// padded with zeros at the end or cut to `options.samples()`.
pub fn load_clip(path: &Path, options: &AudioOptions) -> Result<Vec<f32>> {
    let mut clip = decode_clip(path, options)?;
    clip.resize(options.samples(), 0.0);
    Ok(clip)
}

/// A clip decoded, mono, at `options.sample_rate`, at its own length (what
/// waveform augmentation starts from).
pub fn decode_clip(path: &Path, options: &AudioOptions) -> Result<Vec<f32>> {
    let (samples, rate) = read_wav(path)?;
    if rate == 0 {
        return Err(DataError::Audio { path: path.to_path_buf(), message: "the header says 0 Hz".into() });
    }
    resample(&samples, rate, options.sample_rate)
}

/// Writes `samples` (clipped to `[-1, 1]`) as a 16-bit mono WAV file at `rate`.
pub fn write_wav(path: &Path, samples: &[f32], rate: u32) -> Result<()> {
    let failed = |e: hound::Error| DataError::Audio { path: path.to_path_buf(), message: e.to_string() };
    let spec =
        hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut writer = hound::WavWriter::create(path, spec).map_err(failed)?;
    for &v in samples {
        writer.write_sample((v.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16).map_err(failed)?;
    }
    writer.finalize().map_err(failed)
}

/// Hz to mel on the Slaney scale (linear below 1 kHz, logarithmic above), as
/// `librosa.hz_to_mel(htk=False)`.
pub fn hz_to_mel(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let log_step = 6.4f64.ln() / 27.0;
    if hz >= MIN_LOG_HZ { MIN_LOG_HZ / F_SP + (hz / MIN_LOG_HZ).ln() / log_step } else { hz / F_SP }
}

/// The inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let log_step = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel { MIN_LOG_HZ * (log_step * (mel - min_log_mel)).exp() } else { F_SP * mel }
}

/// The log-mel front end: a planned real FFT, the window and the filter bank,
/// built once and shared by every clip (and thread).
#[derive(Clone)]
pub struct LogMel {
    options: AudioOptions,
    fft: Arc<dyn RealToComplex<f32>>,
    /// The window centred in an `n_fft` frame.
    window: Vec<f32>,
    /// Each band's first FFT bin and its weights from there on.
    bands: Vec<(usize, Vec<f32>)>,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel").field("options", &self.options).finish_non_exhaustive()
    }
}

impl LogMel {
    /// Plans the front end of `options` (checked first).
    pub fn new(options: &AudioOptions) -> Result<Self> {
        options.validate()?;
        let n_fft = options.n_fft;
        let win = options.win_length.unwrap_or(n_fft);
        // The periodic window, centred in the frame.
        let left = (n_fft - win) / 2;
        let mut window = vec![0f32; n_fft];
        for (i, v) in options.window.values(win).into_iter().enumerate() {
            window[left + i] = v as f32;
        }
        Ok(Self {
            options: options.clone(),
            fft: realfft::RealFftPlanner::<f32>::new().plan_fft_forward(n_fft),
            window,
            bands: mel_bands(options),
        })
    }

    /// The options it was built with.
    pub fn options(&self) -> &AudioOptions {
        &self.options
    }

    /// `[1, n_mels, frames]`.
    pub fn shape(&self) -> [usize; 3] {
        self.options.shape()
    }

    /// The log-mel spectrogram of `clip` (already at the sample rate; padded
    /// with zeros or cut to the configured length here), band-major: value
    /// `band * frames + frame`, in decibels.
    pub fn compute(&self, clip: &[f32]) -> Vec<f32> {
        let o = &self.options;
        let (n_fft, hop, frames) = (o.n_fft, o.hop_length, o.frames());
        let samples = o.samples();
        // Centred frames: n_fft / 2 zeros on each side of the fixed-length clip.
        let pad = n_fft / 2;
        let mut padded = vec![0f32; samples + 2 * pad];
        let keep = clip.len().min(samples);
        padded[pad..pad + keep].copy_from_slice(&clip[..keep]);
        let bins = n_fft / 2 + 1;
        let mut frame = vec![0f32; n_fft];
        let mut spectrum = vec![Complex::new(0f32, 0f32); bins];
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; bins];
        let mut mel = vec![0f32; o.n_mels * frames];
        for t in 0..frames {
            let start = t * hop;
            for (i, f) in frame.iter_mut().enumerate() {
                *f = padded.get(start + i).copied().unwrap_or(0.0) * self.window[i];
            }
            self.fft.process_with_scratch(&mut frame, &mut spectrum, &mut scratch).expect("buffer sizes from the plan");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (band, (first, weights)) in self.bands.iter().enumerate() {
                let s: f32 = weights.iter().zip(&power[*first..]).map(|(w, p)| w * p).sum();
                mel[band * frames + t] = s;
            }
        }
        // librosa.power_to_db(ref=1.0, amin=1e-10, top_db).
        let mut peak = f32::NEG_INFINITY;
        for v in &mut mel {
            *v = 10.0 * v.max(1e-10).log10();
            peak = peak.max(*v);
        }
        if o.top_db.is_finite() {
            let floor = peak - o.top_db as f32;
            for v in &mut mel {
                *v = v.max(floor);
            }
        }
        mel
    }

    /// The log-mel spectrogram of the WAV file at `path`.
    pub fn file(&self, path: &Path) -> Result<Vec<f32>> {
        Ok(self.compute(&load_clip(path, &self.options)?))
    }
}

/// The Slaney mel filter bank (`librosa.filters.mel(htk=False, norm="slaney")`)
/// as each band's first nonzero FFT bin and its weights.
fn mel_bands(o: &AudioOptions) -> Vec<(usize, Vec<f32>)> {
    let bins = o.n_fft / 2 + 1;
    let sr = f64::from(o.sample_rate);
    let fft_freqs: Vec<f64> = (0..bins).map(|k| k as f64 * sr / o.n_fft as f64).collect();
    let (lo, hi) = (hz_to_mel(o.fmin), hz_to_mel(o.fmax()));
    let edges: Vec<f64> =
        (0..o.n_mels + 2).map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (o.n_mels + 1) as f64)).collect();
    (0..o.n_mels)
        .map(|m| {
            let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
            let norm = 2.0 / (right - left);
            let weights: Vec<f64> = fft_freqs
                .iter()
                .map(|&f| {
                    let lower = (f - left) / (centre - left);
                    let upper = (right - f) / (right - centre);
                    lower.min(upper).max(0.0) * norm
                })
                .collect();
            let first = weights.iter().position(|w| *w > 0.0).unwrap_or(bins - 1);
            let last = weights.iter().rposition(|w| *w > 0.0).unwrap_or(first);
            (first, weights[first..=last].iter().map(|w| *w as f32).collect())
        })
        .collect()
}

/// Reads the WAV clips under `dir` into a table of log-mel spectrograms, one
/// row per clip: either one folder per class (the folder's name is the class,
/// stored in `class_column`), or WAV files directly (no class column: clips to
/// predict). Files are read in sorted order; hidden files and, beside class
/// folders, files that are not WAV (such as `speakers.csv`) are skipped; any
/// other file, and a clip that cannot be decoded, is an error naming it.
///
/// The value columns are named `pixel0`, ... unless `names` gives them (those
/// a run was trained with); `shape` is [`AudioOptions::shape`].
pub fn read_audio_folder(
    dir: &Path,
    class_column: Option<&str>,
    options: &AudioOptions,
    names: Option<&[String]>,
) -> Result<ImageFolder> {
    let front = LogMel::new(options)?;
    let (files, labels, has_classes) = class_folder_files(dir, &AUDIO_EXTENSIONS, "audio")?;
    let rows: Vec<Vec<f32>> = files.par_iter().map(|f| front.file(f)).collect::<Result<_>>()?;
    let shape = front.shape();
    let (table, pixels) = folder_table(class_column.filter(|_| has_classes), labels, &rows, shape, names)?;
    Ok(ImageFolder { table, files, pixels, shape })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mel_scale_round_trips_and_is_linear_below_one_kilohertz() {
        for hz in [0.0, 100.0, 999.0, 1000.0, 2500.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9 * hz.max(1.0));
        }
        assert!((hz_to_mel(200.0) - 3.0).abs() < 1e-12);
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
    }

    #[test]
    fn a_tone_peaks_in_the_band_around_its_frequency() {
        let options =
            AudioOptions { sample_rate: 8000, duration: 0.25, n_fft: 256, hop_length: 64, ..AudioOptions::default() };
        let front = LogMel::new(&options).unwrap();
        let tone: Vec<f32> =
            (0..2000).map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 8000.0).sin()).collect();
        let s = front.compute(&tone);
        let [_, bands, frames] = front.shape();
        let t = frames / 2;
        let loudest = (0..bands).max_by(|&a, &b| s[a * frames + t].total_cmp(&s[b * frames + t])).unwrap();
        let edges: Vec<f64> = (0..bands + 2)
            .map(|i| mel_to_hz(hz_to_mel(0.0) + (hz_to_mel(4000.0) - hz_to_mel(0.0)) * i as f64 / (bands + 1) as f64))
            .collect();
        assert!(
            edges[loudest] < 1000.0 && 1000.0 < edges[loudest + 2],
            "band {loudest}: {:?}",
            &edges[loudest..loudest + 3]
        );
        // top_db: nothing more than 80 dB below the peak.
        let peak = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert!(s.iter().all(|v| *v >= peak - 80.0 - 1e-4));
    }

    #[test]
    fn resampling_keeps_a_tone_and_the_length() {
        let tone = |rate: f32, n: usize| -> Vec<f32> {
            (0..n).map(|i| (2.0 * std::f32::consts::PI * 300.0 * i as f32 / rate).sin()).collect()
        };
        let up = resample(&tone(8000.0, 4000), 8000, 16000).unwrap();
        assert_eq!(up.len(), 8000);
        let expected = tone(16000.0, 8000);
        // Away from the edges, the resampled tone is the tone sampled at 16 kHz.
        let worst = up[500..7500].iter().zip(&expected[500..7500]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-2, "{worst}");
        let down = resample(&tone(16000.0, 8000), 16000, 8000).unwrap();
        assert_eq!(down.len(), 4000);
    }

    #[test]
    fn bad_settings_are_named() {
        let e = AudioOptions { fmax: Some(9000.0), sample_rate: 8000, ..AudioOptions::default() }.validate();
        assert!(e.unwrap_err().to_string().contains("fmax = 9000"));
        let e = AudioOptions { win_length: Some(1024), ..AudioOptions::default() }.validate();
        assert!(e.unwrap_err().to_string().contains("win_length = 1024"));
        assert!(AudioOptions { duration: 0.0, ..AudioOptions::default() }.validate().is_err());
        assert!(AudioOptions { n_mels: 0, ..AudioOptions::default() }.validate().is_err());
        assert!(AudioOptions { top_db: f64::NAN, ..AudioOptions::default() }.validate().is_err());
        assert!(AudioOptions { top_db: f64::INFINITY, ..AudioOptions::default() }.validate().is_ok());
    }
}
