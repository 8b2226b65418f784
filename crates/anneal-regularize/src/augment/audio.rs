//! Audio augmentation: transforms of waveforms (noise, gain, shift, speed, pitch,
//! tempo) and SpecAugment's masks of spectrograms, on plain `f32` slices.
//!
//! [`AudioAugmenter`] draws what each step does to one clip from the clip's own
//! generator ([`super::plan::sample_rng`]) and applies the waveform steps in
//! order; the caller computes the spectrogram and hands it back for the masks
//! ([`AudioAugmenter::apply_spectrogram`]). The transforms are also public on
//! their own: [`add_noise`], [`mix_at_snr`], [`gain_db`], [`shift`],
//! [`resample_by`] and the [`PhaseVocoder`]'s [`stretch`](PhaseVocoder::stretch)
//! and [`pitch_shift`](PhaseVocoder::pitch_shift).
//!
//! ```
//! use anneal_regularize::augment::audio::{PhaseVocoder, resample_by};
//!
//! let tone: Vec<f32> = (0..8000).map(|i| (i as f32 * 440.0 / 8000.0 * std::f32::consts::TAU).sin()).collect();
//! let vocoder = PhaseVocoder::new(512)?;
//! assert_eq!(vocoder.stretch(&tone, 1.25).len(), 6400); // 25 % faster, same pitch
//! assert_eq!(vocoder.pitch_shift(&tone, 2.0).len(), 8000); // two semitones up, same length
//! assert_eq!(resample_by(&tone, 0.8).len(), 10000); // 20 % slower, pitch down with it
//! # Ok::<(), anneal_regularize::RegularizeError>(())
//! ```

use std::collections::HashMap;
use std::f64::consts::PI;
use std::sync::{Arc, OnceLock};

use anneal_core::SeededRng;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::config::{AugmentConfig, Media, NoiseColor, Step};
use super::plan::{draw_with, sample_rng, uniform};
use crate::error::RegularizeError;

/// What one step does to one clip.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioOp {
    /// Generated noise at this signal-to-noise ratio (dB), from this seed.
    Noise {
        /// Signal-to-noise ratio in dB.
        snr_db: f64,
        /// White or pink.
        color: NoiseColor,
        /// Seed of the noise's generator.
        seed: u64,
    },
    /// A clip of a noise folder at this ratio.
    Background {
        /// The folder, as the step names it.
        folder: String,
        /// Signal-to-noise ratio in dB.
        snr_db: f64,
        /// Which clip (taken modulo the folder's clips).
        clip: u64,
        /// Where in the clip to start, as a share of its length.
        offset: f64,
    },
    /// Multiply by this factor (linear).
    Gain(f64),
    /// Move by this share of the clip's length (positive: later).
    Shift {
        /// Share of the clip's length.
        fraction: f64,
        /// Wrap round instead of padding with silence.
        rollover: bool,
    },
    /// Resample by this speed factor.
    Speed(f64),
    /// Move the pitch by this many semitones.
    PitchShift(f64),
    /// Stretch the tempo by this rate.
    TimeStretch(f64),
    /// Mask these runs of frames: `(first, width)`.
    TimeMask(Vec<(usize, usize)>),
    /// Mask these runs of bands: `(first, width)`.
    FreqMask(Vec<(usize, usize)>),
}

/// A seeded audio augmentation pipeline: the `[augment]` steps of an audio run.
#[derive(Clone)]
pub struct AudioAugmenter {
    config: AugmentConfig,
    seed: u64,
    vocoder: PhaseVocoder,
    noise: HashMap<String, Arc<Vec<Vec<f32>>>>,
}

impl std::fmt::Debug for AudioAugmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioAugmenter").field("config", &self.config).field("seed", &self.seed).finish()
    }
}

impl AudioAugmenter {
    /// The pipeline of `config` (checked: audio steps only) for clips at
    /// `sample_rate`, its draws seeded by `seed`. Its phase vocoder uses frames of
    /// about 64 ms ([`PhaseVocoder::for_rate`]).
    pub fn new(config: AugmentConfig, seed: u64, sample_rate: u32) -> Result<Self, RegularizeError> {
        config.validate_for(Media::Audio)?;
        Ok(Self { config, seed, vocoder: PhaseVocoder::for_rate(sample_rate)?, noise: HashMap::new() })
    }

    /// The folders the `background_noise` steps read, as written in the config.
    pub fn noise_folders(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for step in super::plan::leaves(&self.config) {
            if let Step::BackgroundNoise { folder, .. } = step
                && !out.contains(&folder)
            {
                out.push(folder);
            }
        }
        out
    }

    /// Gives the clips of a `background_noise` folder (already at the data's
    /// sample rate); every folder of [`noise_folders`](Self::noise_folders) needs
    /// at least one non-silent clip.
    pub fn with_noise(mut self, folder: &str, clips: Vec<Vec<f32>>) -> Result<Self, RegularizeError> {
        let clips: Vec<Vec<f32>> = clips.into_iter().filter(|c| c.iter().any(|v| *v != 0.0)).collect();
        if clips.is_empty() {
            return Err(RegularizeError::Augment {
                setting: "augment background_noise.folder".into(),
                value: folder.into(),
                expected: "a folder with at least one WAV clip that is not silent".into(),
            });
        }
        self.noise.insert(folder.to_string(), Arc::new(clips));
        Ok(self)
    }

    /// The configuration.
    pub fn config(&self) -> &AugmentConfig {
        &self.config
    }

    /// What every leaf does to the clip of `row` in `epoch` (`None`: not
    /// applied), for spectrograms of `bands × frames`.
    pub fn plan(&self, row: usize, epoch: usize, bands: usize, frames: usize) -> Vec<Option<AudioOp>> {
        let mut rng = sample_rng(self.seed, epoch, row);
        draw_with(&self.config, &mut rng, &mut |step, rng| audio_op(step, rng, bands, frames))
    }

    /// The waveform steps of `ops` applied to `clip`, in order (the result may be
    /// longer or shorter than `clip` after `speed` or `time_stretch`).
    pub fn apply_waveform(&self, clip: &[f32], ops: &[Option<AudioOp>]) -> Result<Vec<f32>, RegularizeError> {
        let mut out = clip.to_vec();
        for op in ops.iter().flatten() {
            match op {
                AudioOp::Noise { snr_db, color, seed } => {
                    add_noise(&mut out, *snr_db, *color, &mut SeededRng::new(*seed));
                }
                AudioOp::Background { folder, snr_db, clip, offset } => {
                    let clips = self.noise.get(folder).ok_or_else(|| RegularizeError::Augment {
                        setting: "augment background_noise.folder".into(),
                        value: folder.clone(),
                        expected: "a folder whose clips were loaded (AudioAugmenter::with_noise)".into(),
                    })?;
                    let source = &clips[(*clip % clips.len() as u64) as usize];
                    let start = ((offset * source.len() as f64) as usize).min(source.len() - 1);
                    let noise: Vec<f32> = source.iter().cycle().skip(start).take(out.len()).copied().collect();
                    mix_at_snr(&mut out, &noise, *snr_db);
                }
                AudioOp::Gain(g) => out.iter_mut().for_each(|v| *v *= *g as f32),
                AudioOp::Shift { fraction, rollover } => {
                    let by = (fraction * out.len() as f64).round() as isize;
                    shift(&mut out, by, *rollover);
                }
                AudioOp::Speed(f) => out = resample_by(&out, *f),
                AudioOp::PitchShift(s) => out = self.vocoder.pitch_shift(&out, *s),
                AudioOp::TimeStretch(r) => out = self.vocoder.stretch(&out, *r),
                AudioOp::TimeMask(_) | AudioOp::FreqMask(_) => {}
            }
        }
        Ok(out)
    }

    /// The spectrogram steps of `ops` applied to `spectrogram` (band-major:
    /// value `band * frames + frame`), masked values set to `fill`.
    pub fn apply_spectrogram(
        &self,
        spectrogram: &mut [f32],
        bands: usize,
        frames: usize,
        ops: &[Option<AudioOp>],
        fill: f32,
    ) {
        for op in ops.iter().flatten() {
            match op {
                AudioOp::TimeMask(runs) => {
                    for &(first, width) in runs {
                        for band in spectrogram.chunks_exact_mut(frames).take(bands) {
                            band[first.min(frames)..(first + width).min(frames)].fill(fill);
                        }
                    }
                }
                AudioOp::FreqMask(runs) => {
                    for &(first, width) in runs {
                        let len = spectrogram.len();
                        let (a, b) = (first.min(bands) * frames, (first + width).min(bands) * frames);
                        spectrogram[a.min(len)..b.min(len)].fill(fill);
                    }
                }
                _ => {}
            }
        }
    }

    /// Whether some step masks the spectrogram.
    pub fn has_spectrogram_steps(&self) -> bool {
        super::plan::leaves(&self.config).iter().any(Step::is_spectrogram)
    }
}

fn masks(rng: &mut SeededRng, width: [usize; 2], count: usize, size: usize) -> Vec<(usize, usize)> {
    (0..count)
        .map(|_| {
            let w = (width[0] + rng.below((width[1] - width[0] + 1) as u64) as usize).min(size);
            (rng.below((size - w + 1) as u64) as usize, w)
        })
        .collect()
}

fn audio_op(step: &Step, rng: &mut SeededRng, bands: usize, frames: usize) -> Option<AudioOp> {
    Some(match step {
        Step::AddNoise { snr_db, color, .. } => {
            AudioOp::Noise { snr_db: uniform(rng, snr_db[0], snr_db[1]), color: *color, seed: rng.next_u64() }
        }
        Step::BackgroundNoise { folder, snr_db, .. } => AudioOp::Background {
            folder: folder.clone(),
            snr_db: uniform(rng, snr_db[0], snr_db[1]),
            clip: rng.next_u64(),
            offset: rng.next_f64(),
        },
        Step::Gain { db, .. } => AudioOp::Gain(10f64.powf(uniform(rng, db[0], db[1]) / 20.0)),
        Step::Shift { fraction, rollover, .. } => {
            AudioOp::Shift { fraction: uniform(rng, fraction[0], fraction[1]), rollover: *rollover }
        }
        Step::Speed { factor, .. } => AudioOp::Speed(uniform(rng, factor[0], factor[1])),
        Step::PitchShift { semitones, .. } => AudioOp::PitchShift(uniform(rng, semitones[0], semitones[1])),
        Step::TimeStretch { rate, .. } => AudioOp::TimeStretch(uniform(rng, rate[0], rate[1])),
        Step::TimeMask { width, count, .. } => AudioOp::TimeMask(masks(rng, *width, *count, frames)),
        Step::FreqMask { width, count, .. } => AudioOp::FreqMask(masks(rng, *width, *count, bands)),
        _ => return None,
    })
}

/// The root mean square of `x` (0 for an empty slice).
pub fn rms(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Adds `noise` (as long as `clip` or longer) to `clip`, scaled so that the
/// clip's power over the added noise's is exactly `snr_db` decibels. A silent
/// clip or silent noise leaves the clip as it is.
pub fn mix_at_snr(clip: &mut [f32], noise: &[f32], snr_db: f64) {
    let (signal, n) = (rms(clip), rms(&noise[..clip.len().min(noise.len())]));
    if signal == 0.0 || n == 0.0 || !signal.is_finite() {
        return;
    }
    let scale = (signal / 10f64.powf(snr_db / 20.0) / n) as f32;
    for (c, v) in clip.iter_mut().zip(noise) {
        *c += scale * v;
    }
}

/// Fills `out` with standard normal draws (Marsaglia's polar method, two per
/// accepted pair).
pub fn fill_normal(rng: &mut SeededRng, out: &mut [f32]) {
    let mut i = 0;
    while i < out.len() {
        let (u, v) = (2.0 * rng.next_f64() - 1.0, 2.0 * rng.next_f64() - 1.0);
        let s = u * u + v * v;
        if s >= 1.0 || s == 0.0 {
            continue;
        }
        let f = (-2.0 * s.ln() / s).sqrt();
        out[i] = (u * f) as f32;
        if i + 1 < out.len() {
            out[i + 1] = (v * f) as f32;
        }
        i += 2;
    }
}

/// Noise of `len` samples and `color`: white is Gaussian; pink is white noise
/// whose spectrum is scaled by `1/√f` (power ∝ 1/f), the mean removed.
pub fn noise(len: usize, color: NoiseColor, rng: &mut SeededRng) -> Vec<f32> {
    match color {
        NoiseColor::White => {
            let mut out = vec![0f32; len];
            fill_normal(rng, &mut out);
            out
        }
        NoiseColor::Pink => {
            let n = len.max(2).next_power_of_two();
            let mut white = vec![0f32; n];
            fill_normal(rng, &mut white);
            let mut planner = RealFftPlanner::<f32>::new();
            let (forward, inverse) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
            let mut spectrum = forward.make_output_vec();
            forward.process(&mut white, &mut spectrum).expect("buffer sizes from the plan");
            spectrum[0] = Complex::new(0.0, 0.0);
            for (k, c) in spectrum.iter_mut().enumerate().skip(1) {
                *c /= (k as f32).sqrt();
            }
            // The Nyquist bin of a real signal has no imaginary part.
            if let Some(last) = spectrum.last_mut() {
                last.im = 0.0;
            }
            let mut out = inverse.make_output_vec();
            inverse.process(&mut spectrum, &mut out).expect("buffer sizes from the plan");
            out.truncate(len);
            out
        }
    }
}

/// Adds noise of `color` to `clip` at exactly `snr_db` decibels below the clip's
/// power (audiomentations' `AddGaussianSNR` draws the noise at that power in
/// expectation; here its realised power is set).
pub fn add_noise(clip: &mut [f32], snr_db: f64, color: NoiseColor, rng: &mut SeededRng) {
    let n = noise(clip.len(), color, rng);
    mix_at_snr(clip, &n, snr_db);
}

/// Multiplies `clip` by `db` decibels.
pub fn gain_db(clip: &mut [f32], db: f64) {
    let g = 10f64.powf(db / 20.0) as f32;
    clip.iter_mut().for_each(|v| *v *= g);
}

/// Moves `clip` by `by` samples (positive: later); what leaves one end comes
/// back at the other with `rollover`, else the gap is silence.
pub fn shift(clip: &mut [f32], by: isize, rollover: bool) {
    let n = clip.len();
    if n == 0 || by == 0 {
        return;
    }
    let k = by.unsigned_abs().min(n);
    if rollover {
        let k = by.rem_euclid(n as isize) as usize;
        clip.rotate_right(k);
    } else if by > 0 {
        clip.copy_within(..n - k, k);
        clip[..k].fill(0.0);
    } else {
        clip.copy_within(k.., 0);
        clip[n - k..].fill(0.0);
    }
}

/// Zero crossings of the interpolation kernel on each side.
const ZEROS: usize = 8;
/// Kernel values per zero crossing in the table.
const STEPS: usize = 256;

/// `sinc(u) · blackman(u / ZEROS)` for `u` in `[0, ZEROS]`, `STEPS` values per
/// unit, each with the slope to the next value (for linear interpolation).
fn kernel() -> &'static [(f32, f32)] {
    static TABLE: OnceLock<Vec<(f32, f32)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let value = |i: usize| {
            let u = i as f64 / STEPS as f64;
            if u >= ZEROS as f64 {
                return 0.0;
            }
            let sinc = if u == 0.0 { 1.0 } else { (PI * u).sin() / (PI * u) };
            // Blackman window over [-ZEROS, ZEROS], centred at 0.
            let x = u / ZEROS as f64;
            sinc * (0.42 + 0.5 * (PI * x).cos() + 0.08 * (2.0 * PI * x).cos())
        };
        (0..=ZEROS * STEPS).map(|i| (value(i) as f32, (value(i + 1) - value(i)) as f32)).collect()
    })
}

/// `clip` played `factor` times faster: `round(len / factor)` samples, each read
/// at position `i · factor` by band-limited (windowed-sinc, 8 zero crossings)
/// interpolation, with the cut-off lowered to the new Nyquist frequency when the
/// clip speeds up. Pitch and tempo move together, as on a tape.
pub fn resample_by(clip: &[f32], factor: f64) -> Vec<f32> {
    let n = clip.len();
    let out_len = (n as f64 / factor).round() as usize;
    if n == 0 || out_len == 0 {
        return Vec::new();
    }
    let table = kernel();
    let last_entry = (table.len() - 1) as f32;
    let cutoff = (1.0 / factor).min(1.0);
    let reach = ZEROS as f64 / cutoff;
    // Table entries per input sample.
    let step = (cutoff * STEPS as f64) as f32;
    (0..out_len)
        .map(|i| {
            let t = i as f64 * factor;
            let first = ((t - reach).ceil().max(0.0)) as usize;
            let last = ((t + reach).floor() as usize).min(n - 1);
            // The kernel's argument for the first tap, falling by `step` per tap.
            let mut pos = ((t - first as f64) * f64::from(step)) as f32;
            let mut acc = 0f32;
            for &x in &clip[first..=last] {
                let a = pos.abs().min(last_entry);
                let k = a as usize;
                let (v, slope) = table[k];
                acc += x * (v + (a - k as f32) * slope);
                pos -= step;
            }
            acc * cutoff as f32
        })
        .collect()
}

/// A phase vocoder (Flanagan and Golden 1966; librosa's `phase_vocoder`): the
/// clip's short-time spectrum read at a different pace, each bin's phase
/// advanced by its measured frequency, and resynthesised by overlap-add.
#[derive(Clone)]
pub struct PhaseVocoder {
    n_fft: usize,
    hop: usize,
    window: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
}

impl std::fmt::Debug for PhaseVocoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhaseVocoder").field("n_fft", &self.n_fft).field("hop", &self.hop).finish()
    }
}

impl PhaseVocoder {
    /// Frames of `n_fft` samples (even, at least 16), a hop of a quarter frame, a
    /// periodic Hann window.
    pub fn new(n_fft: usize) -> Result<Self, RegularizeError> {
        if n_fft < 16 || n_fft % 2 == 1 {
            return Err(RegularizeError::Augment {
                setting: "phase vocoder n_fft".into(),
                value: n_fft.to_string(),
                expected: "an even frame length of at least 16 samples".into(),
            });
        }
        let mut planner = RealFftPlanner::<f32>::new();
        let window = (0..n_fft).map(|i| (0.5 - 0.5 * (2.0 * PI * i as f64 / n_fft as f64).cos()) as f32).collect();
        Ok(Self {
            n_fft,
            hop: n_fft / 4,
            window,
            forward: planner.plan_fft_forward(n_fft),
            inverse: planner.plan_fft_inverse(n_fft),
        })
    }

    /// The vocoder for clips at `sample_rate`: frames of the power of two nearest
    /// 64 ms (512 samples at 8 kHz, 1024 at 16 kHz), which resolve a voice's
    /// harmonics.
    pub fn for_rate(sample_rate: u32) -> Result<Self, RegularizeError> {
        let target = f64::from(sample_rate.max(250)) * 0.064;
        Self::new(2usize.pow(target.log2().round() as u32))
    }

    /// `clip` played `rate` times faster at the same pitch: `round(len / rate)`
    /// samples.
    pub fn stretch(&self, clip: &[f32], rate: f64) -> Vec<f32> {
        let out_len = (clip.len() as f64 / rate).round() as usize;
        if clip.is_empty() || out_len == 0 {
            return Vec::new();
        }
        let (n, hop) = (self.n_fft, self.hop);
        let bins = n / 2 + 1;
        let pad = n / 2;
        // Centred frames over the zero-padded clip.
        let mut padded = vec![0f32; clip.len() + 2 * pad];
        padded[pad..pad + clip.len()].copy_from_slice(clip);
        let frames = 1 + clip.len() / hop;
        // Each analysis frame as magnitudes and unit phasors (X / |X|, 1 where X = 0);
        // two silent frames after the last, as librosa pads.
        let mut mags = vec![0f32; (frames + 2) * bins];
        let mut units = vec![Complex::new(1f32, 0f32); (frames + 2) * bins];
        let mut spectrum = vec![Complex::new(0f32, 0f32); bins];
        let mut frame = vec![0f32; n];
        let mut scratch = self.forward.make_scratch_vec();
        for t in 0..frames {
            for (i, f) in frame.iter_mut().enumerate() {
                *f = padded.get(t * hop + i).copied().unwrap_or(0.0) * self.window[i];
            }
            self.forward
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .expect("buffer sizes from the plan");
            for (k, c) in spectrum.iter().enumerate() {
                let m = c.norm();
                mags[t * bins + k] = m;
                if m > 0.0 {
                    units[t * bins + k] = c / m;
                }
            }
        }
        // The phase of each output bin starts at the first frame's and advances, per
        // step, by the phase difference of the two frames it reads between. librosa
        // adds the expected advance plus the wrapped deviation from it; modulo 2π
        // that is the same difference, so it is kept as a unit phasor and rotated,
        // without an angle ever being computed.
        let mut phase: Vec<Complex<f32>> = units[..bins].to_vec();
        let steps = ((frames as f64) / rate).ceil() as usize;
        let total = (steps.saturating_sub(1)) * hop + n;
        let mut signal = vec![0f32; total];
        let mut norm = vec![0f32; total];
        let mut column = vec![Complex::new(0f32, 0f32); bins];
        let mut inv_scratch = self.inverse.make_scratch_vec();
        let scale = 1.0 / n as f32;
        for s in 0..steps {
            let t = s as f64 * rate;
            let (i, alpha) = (t.floor() as usize, t.fract() as f32);
            if i >= frames {
                break;
            }
            let (ma, mb) = (&mags[i * bins..(i + 1) * bins], &mags[(i + 1) * bins..(i + 2) * bins]);
            let (ua, ub) = (&units[i * bins..(i + 1) * bins], &units[(i + 1) * bins..(i + 2) * bins]);
            for k in 0..bins {
                let mag = (1.0 - alpha) * ma[k] + alpha * mb[k];
                column[k] = phase[k] * mag;
                let p = phase[k] * ub[k] * ua[k].conj();
                // One Newton step back onto the unit circle keeps rounding from drifting.
                phase[k] = p * (1.5 - 0.5 * p.norm_sqr());
            }
            // A real signal's DC and Nyquist bins are real.
            column[0].im = 0.0;
            column[bins - 1].im = 0.0;
            self.inverse.process_with_scratch(&mut column, &mut frame, &mut inv_scratch).expect("buffer sizes");
            let start = s * hop;
            for (j, &v) in frame.iter().enumerate() {
                let w = self.window[j];
                signal[start + j] += v * w * scale;
                norm[start + j] += w * w;
            }
        }
        let floor = f32::MIN_POSITIVE.sqrt();
        (0..out_len)
            .map(|i| {
                let j = i + pad;
                match (signal.get(j), norm.get(j)) {
                    (Some(&v), Some(&w)) if w > floor => v / w,
                    (Some(&v), _) => v,
                    _ => 0.0,
                }
            })
            .collect()
    }

    /// `clip` moved by `semitones` (a ratio of `2^(semitones/12)`) at the same
    /// length and tempo: stretched to `len · ratio` samples, then resampled back
    /// to `len`.
    pub fn pitch_shift(&self, clip: &[f32], semitones: f64) -> Vec<f32> {
        let ratio = 2f64.powf(semitones / 12.0);
        let stretched = self.stretch(clip, 1.0 / ratio);
        let mut out = resample_by(&stretched, stretched.len() as f64 / clip.len() as f64);
        out.resize(clip.len(), 0.0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: f64, len: usize) -> Vec<f32> {
        (0..len).map(|i| (2.0 * PI * freq * i as f64 / rate).sin() as f32 * 0.5).collect()
    }

    /// The frequency of the largest peak of `x`'s spectrum (Hann window, zero
    /// padded to 64k points, parabolic interpolation).
    fn peak_hz(x: &[f32], rate: f64) -> f64 {
        let n = 1 << 16;
        let mut buf = vec![0f32; n];
        for (i, &v) in x.iter().enumerate() {
            buf[i] = v * (0.5 - 0.5 * (2.0 * PI * i as f64 / x.len() as f64).cos()) as f32;
        }
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
        let mut spec = fft.make_output_vec();
        fft.process(&mut buf, &mut spec).unwrap();
        let mag: Vec<f64> = spec.iter().map(|c| f64::from(c.norm()).max(1e-30).ln()).collect();
        let k = (1..mag.len() - 1).max_by(|&a, &b| mag[a].total_cmp(&mag[b])).unwrap();
        let d = 0.5 * (mag[k - 1] - mag[k + 1]) / (mag[k - 1] - 2.0 * mag[k] + mag[k + 1]);
        (k as f64 + d) * rate / n as f64
    }

    #[test]
    fn noise_lands_on_the_asked_snr() {
        let clip = tone(300.0, 8000.0, 6000);
        for (color, snr) in [(NoiseColor::White, 10.0), (NoiseColor::White, 3.5), (NoiseColor::Pink, 20.0)] {
            let mut noisy = clip.clone();
            add_noise(&mut noisy, snr, color, &mut SeededRng::new(4));
            let residual: Vec<f32> = noisy.iter().zip(&clip).map(|(a, b)| a - b).collect();
            let measured = 20.0 * (rms(&clip) / rms(&residual)).log10();
            assert!((measured - snr).abs() < 0.1, "{color:?}: {measured} dB for {snr}");
        }
        let mut silent = vec![0f32; 100];
        add_noise(&mut silent, 10.0, NoiseColor::White, &mut SeededRng::new(1));
        assert!(silent.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn pink_noise_loses_three_db_per_octave() {
        let x = noise(1 << 15, NoiseColor::Pink, &mut SeededRng::new(9));
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(x.len());
        let mut buf = x.clone();
        let mut spec = fft.make_output_vec();
        fft.process(&mut buf, &mut spec).unwrap();
        let band = |lo: usize| spec[lo..2 * lo].iter().map(|c| f64::from(c.norm_sqr())).sum::<f64>() / lo as f64;
        // Mean power per bin halves from one octave to the next.
        let drop = 10.0 * (band(256) / band(512)).log10();
        assert!((drop - 3.01).abs() < 0.3, "{drop} dB per octave");
    }

    #[test]
    fn pitch_shift_moves_the_peak_by_the_semitone_ratio() {
        let vocoder = PhaseVocoder::new(512).unwrap();
        let clip = tone(440.0, 8000.0, 8000);
        let base = peak_hz(&clip, 8000.0);
        for k in [-7.0, -4.0, -1.0, 1.0, 3.0, 5.0] {
            let shifted = vocoder.pitch_shift(&clip, k);
            assert_eq!(shifted.len(), clip.len());
            let want = base * 2f64.powf(k / 12.0);
            let got = peak_hz(&shifted[1000..7000], 8000.0);
            assert!((got / want - 1.0).abs() < 0.01, "{k} semitones: {got} Hz for {want}");
        }
    }

    #[test]
    fn time_stretch_keeps_the_pitch_and_speed_moves_it() {
        let vocoder = PhaseVocoder::for_rate(8000).unwrap();
        let clip = tone(500.0, 8000.0, 8000);
        for rate in [0.8, 1.25] {
            let stretched = vocoder.stretch(&clip, rate);
            assert_eq!(stretched.len(), (8000.0 / rate).round() as usize);
            let got = peak_hz(&stretched[800..stretched.len() - 800], 8000.0);
            assert!((got / 500.0 - 1.0).abs() < 0.01, "stretch {rate}: {got} Hz");
            let fast = resample_by(&clip, rate);
            assert_eq!(fast.len(), (8000.0 / rate).round() as usize);
            let got = peak_hz(&fast[100..fast.len() - 100], 8000.0);
            assert!((got / (500.0 * rate) - 1.0).abs() < 0.01, "speed {rate}: {got} Hz");
        }
    }

    #[test]
    fn resampling_by_one_is_the_identity_and_downsampling_filters_aliases() {
        let clip = tone(700.0, 8000.0, 2000);
        let same = resample_by(&clip, 1.0);
        let err = same.iter().zip(&clip).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(err < 1e-4, "{err}");
        // 3.5 kHz halved in speed... doubled: 7 kHz is above the new Nyquist (4 kHz) and is removed.
        let high = tone(3500.0, 8000.0, 4000);
        let fast = resample_by(&high, 2.0);
        assert!(rms(&fast[50..1950]) < 0.02 * rms(&high), "{}", rms(&fast[50..1950]));
    }

    #[test]
    fn shift_wraps_or_pads() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0, 5.0];
        shift(&mut x, 2, true);
        assert_eq!(x, [4.0, 5.0, 1.0, 2.0, 3.0]);
        shift(&mut x, -1, false);
        assert_eq!(x, [5.0, 1.0, 2.0, 3.0, 0.0]);
        shift(&mut x, 9, false);
        assert_eq!(x, [0.0; 5]);
        let mut y = vec![1.0, 2.0];
        gain_db(&mut y, 20.0);
        assert!((y[1] - 20.0).abs() < 1e-4);
    }

    #[test]
    fn masks_cover_the_drawn_widths_and_replay() {
        let config: AugmentConfig = toml::from_str(
            r#"steps = [{ transform = "time_mask", width = [3, 3], count = 2 }, { transform = "freq_mask", width = [0, 5] }]"#,
        )
        .unwrap();
        let augmenter = AudioAugmenter::new(config, 7, 8000).unwrap();
        let (bands, frames) = (10, 40);
        for row in 0..50 {
            let ops = augmenter.plan(row, 2, bands, frames);
            assert_eq!(ops, augmenter.plan(row, 2, bands, frames));
            let Some(AudioOp::TimeMask(t)) = &ops[0] else { panic!("{ops:?}") };
            let Some(AudioOp::FreqMask(f)) = &ops[1] else { panic!("{ops:?}") };
            assert!(t.iter().all(|&(_, w)| w == 3) && f[0].1 <= 5);
            let mut spec = vec![1f32; bands * frames];
            augmenter.apply_spectrogram(&mut spec, bands, frames, &ops, -9.0);
            let masked_frames = (0..frames).filter(|&j| (0..bands).all(|b| spec[b * frames + j] == -9.0)).count();
            let mut covered: Vec<usize> = t.iter().flat_map(|&(s, w)| s..s + w).collect();
            covered.sort_unstable();
            covered.dedup();
            let full_band = f[0].1 == bands;
            if !full_band {
                assert_eq!(masked_frames, covered.len(), "row {row}: {t:?}");
            }
            let masked_bands =
                (0..bands).filter(|&b| spec[b * frames..(b + 1) * frames].iter().all(|v| *v == -9.0)).count();
            assert!(masked_bands >= f[0].1);
        }
    }

    #[test]
    fn the_pipeline_replays_and_needs_its_noise_clips() {
        let config: AugmentConfig = toml::from_str(
            r#"steps = [
                { transform = "add_noise", snr_db = [10, 20], color = "pink" },
                { transform = "background_noise", folder = "noise", snr_db = [5, 5] },
                { transform = "shift", fraction = [-0.1, 0.1] },
                { transform = "one_of", of = [{ transform = "speed", factor = [0.9, 1.1] }, { transform = "pitch_shift", semitones = [-2, 2] }, { transform = "time_stretch", rate = [0.9, 1.1] }] },
            ]"#,
        )
        .unwrap();
        let augmenter = AudioAugmenter::new(config, 1, 8000).unwrap();
        assert_eq!(augmenter.noise_folders(), ["noise"]);
        let clip = tone(200.0, 8000.0, 4000);
        let ops = augmenter.plan(3, 0, 40, 101);
        assert!(augmenter.apply_waveform(&clip, &ops).is_err(), "the folder's clips were not given");
        let augmenter = augmenter.with_noise("noise", vec![tone(1234.0, 8000.0, 700)]).unwrap();
        let a = augmenter.apply_waveform(&clip, &ops).unwrap();
        assert_eq!(a, augmenter.apply_waveform(&clip, &augmenter.plan(3, 0, 40, 101)).unwrap());
        assert_ne!(a, augmenter.apply_waveform(&clip, &augmenter.plan(4, 0, 40, 101)).unwrap());
        assert!(a.iter().all(|v| v.is_finite()));
        assert!(
            AudioAugmenter::new(toml::from_str("steps = [{ transform = \"rotate\", degrees = 3 }]").unwrap(), 0, 8000)
                .unwrap_err()
                .to_string()
                .contains("transforms images")
        );
    }
}
