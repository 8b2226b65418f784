//! The `[augment]` table: an ordered list of steps, each a transform or a group.

use serde::{Deserialize, Serialize};

use crate::error::RegularizeError;

fn half() -> f64 {
    0.5
}

fn one() -> f64 {
    1.0
}

fn default_crop_scale() -> [f64; 2] {
    [0.08, 1.0]
}

fn default_crop_ratio() -> [f64; 2] {
    [3.0 / 4.0, 4.0 / 3.0]
}

fn default_erase_scale() -> [f64; 2] {
    [0.02, 0.33]
}

fn default_erase_ratio() -> [f64; 2] {
    [0.3, 3.3]
}

fn default_shift() -> [f64; 2] {
    [-0.5, 0.5]
}

fn yes() -> bool {
    true
}

fn one_usize() -> usize {
    1
}

fn tenth() -> f64 {
    0.1
}

/// Negations: an augmentation that dropped or moved one could flip a text's meaning.
fn default_protected() -> Vec<String> {
    ["not", "no", "never", "nor", "none", "nobody", "nothing", "neither", "nowhere", "cannot", "without"]
        .map(String::from)
        .to_vec()
}

fn is_default_protected(words: &[String]) -> bool {
    words == default_protected().as_slice()
}

fn unit_scale() -> [f64; 2] {
    [1.0, 1.0]
}

/// Augmentation of training images: the steps run in order on every training
/// batch, each sample drawing its own parameters.
///
/// ```
/// use anneal_regularize::augment::{AugmentConfig, Step};
///
/// let config: AugmentConfig = toml::from_str(r#"
///     steps = [
///       { transform = "rotate", degrees = 10 },
///       { transform = "resized_crop", scale = [0.9, 1.0] },
///       { transform = "one_of", p = 0.5, of = [
///           { transform = "brightness", factor = 0.2 },
///           { transform = "contrast", factor = 0.2 },
///       ] },
///     ]
/// "#)?;
/// config.validate()?;
/// assert!(matches!(config.steps[0], Step::Rotate { degrees, p } if degrees == 10.0 && p == 1.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// The steps, applied in this order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Text steps never replace, delete, move or insert a synonym of these words
    /// (compared in lower case; a word ending in `n't` is always protected). The
    /// default is the negations: `not`, `no`, `never`, `nor`, `none`, `nobody`,
    /// `nothing`, `neither`, `nowhere`, `cannot`, `without`.
    #[serde(default = "default_protected", skip_serializing_if = "is_default_protected")]
    pub protected: Vec<String>,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self { steps: Vec::new(), protected: default_protected() }
    }
}

/// The spectrum of `add_noise`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NoiseColor {
    /// The same power at every frequency.
    #[default]
    White,
    /// Power falling as 1/f (3 dB per octave).
    Pink,
}

/// What a run's rows are, and so which steps can apply to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// Images `[channels, height, width]`.
    Image,
    /// Audio clips: waveform steps, then the spectrogram's.
    Audio,
    /// Texts, as words before tokenisation.
    Text,
}

impl std::fmt::Display for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Media::Image => "images",
            Media::Audio => "audio",
            Media::Text => "text",
        })
    }
}

/// One step: a transform applied with probability `p`, or a group of steps.
///
/// Images are `[channels, height, width]` with pixel values in `[0, 1]`.
/// Geometric transforms map each output pixel back to the input by an affine
/// map about the image centre and sample it bilinearly; what falls outside the
/// input is 0. Consecutive geometric steps are composed into one map, so they
/// interpolate once. `p` is 0.5 for the flips and for `erase` (torchvision's
/// defaults) and 1 for every other step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "transform", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Step {
    /// Mirror left to right (exact: no interpolation).
    HorizontalFlip {
        /// Probability of the step.
        #[serde(default = "half")]
        p: f64,
    },
    /// Mirror top to bottom (exact).
    VerticalFlip {
        /// Probability of the step.
        #[serde(default = "half")]
        p: f64,
    },
    /// A quarter, half or three-quarter turn, chosen uniformly (exact; square images only).
    Rotate90 {
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Rotation by an angle drawn uniformly from `[-degrees, degrees]`
    /// (positive: counter-clockwise, as torchvision).
    Rotate {
        /// The largest angle, in degrees, in `[0, 180]`.
        degrees: f64,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// torchvision's `RandomAffine`: rotation in `[-degrees, degrees]`, a shift of up
    /// to `translate` times the width (height) in each direction, a zoom drawn from
    /// `scale`, and a horizontal shear in `[-shear, shear]` degrees.
    Affine {
        /// The largest rotation, in degrees, in `[0, 180]`.
        #[serde(default)]
        degrees: f64,
        /// The largest shift as a fraction of the image size, in `[0, 1]`.
        #[serde(default)]
        translate: f64,
        /// The zoom range `[low, high]`, positive.
        #[serde(default = "unit_scale")]
        scale: [f64; 2],
        /// The largest shear, in degrees, in `[0, 90)`.
        #[serde(default)]
        shear: f64,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// A shift by up to `pixels` in each direction, drawn uniformly (fractional shifts interpolate).
    Translate {
        /// The largest shift, in pixels, ≥ 0.
        pixels: f64,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// torchvision's `RandomResizedCrop` back to the image's own size: a box
    /// covering a share of the area drawn from `scale`, with an aspect ratio drawn
    /// log-uniformly from `ratio`, at a uniform position, stretched to the image.
    ResizedCrop {
        /// The share of the area, `0 < low ≤ high ≤ 1`.
        #[serde(default = "default_crop_scale")]
        scale: [f64; 2],
        /// The box's width / height range, positive.
        #[serde(default = "default_crop_ratio")]
        ratio: [f64; 2],
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Zero-padding by `padding` pixels, then a crop of the original size at a
    /// uniform integer position (torchvision's `RandomCrop(size, padding)`).
    PadCrop {
        /// The padding on every side, in pixels.
        padding: usize,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Pixel values times a factor drawn from `[1 - factor, 1 + factor]`, clamped to `[0, 1]`.
    Brightness {
        /// In `[0, 1]`.
        factor: f64,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Distances from the image's mean grey level times a factor drawn from
    /// `[1 - factor, 1 + factor]`, clamped to `[0, 1]` (torchvision's contrast).
    Contrast {
        /// In `[0, 1]`.
        factor: f64,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Pixel values raised to a power drawn from `range`.
    Gamma {
        /// `[low, high]`, positive.
        range: [f64; 2],
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Gaussian noise of standard deviation `std` added to every pixel, clamped to `[0, 1]`.
    Noise {
        /// The noise's standard deviation, ≥ 0.
        std: f64,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Gaussian blur with a standard deviation drawn from `sigma`, over a square
    /// window of `kernel` pixels (odd); at the border the kernel is renormalised
    /// over the pixels inside the image.
    Blur {
        /// `[low, high]`, positive, in pixels.
        sigma: [f64; 2],
        /// The window's side, odd.
        kernel: usize,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Random erasing (Zhong et al. 2020) / cutout: a box covering a share of
    /// the area drawn from `scale`, with an aspect ratio drawn log-uniformly from
    /// `ratio`, set to `value`.
    Erase {
        /// The share of the area, `0 < low ≤ high ≤ 1`.
        #[serde(default = "default_erase_scale")]
        scale: [f64; 2],
        /// The box's width / height range, positive.
        #[serde(default = "default_erase_ratio")]
        ratio: [f64; 2],
        /// The value written into the box.
        #[serde(default)]
        value: f64,
        /// Probability of the step.
        #[serde(default = "half")]
        p: f64,
    },
    /// Mixup (Zhang et al. 2018): the image mixed with the next image of its batch
    /// as `λ·own + (1 − λ)·next`, λ drawn from Beta(`alpha`, `alpha`); the loss
    /// mixes the two classes' losses in the same shares. Class targets only; at
    /// most one mixing step, not inside a group.
    Mixup {
        /// The Beta distribution's parameter, positive (1: λ uniform).
        #[serde(default = "one")]
        alpha: f64,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// CutMix (Yun et al. 2019): a box of the next image of the batch pasted over the
    /// image, its area `1 − λ` of the image with λ from Beta(`alpha`, `alpha`) (clipped
    /// at the border); the loss mixes the two classes' losses by the areas. Class
    /// targets only; at most one mixing step, not inside a group.
    Cutmix {
        /// The Beta distribution's parameter, positive.
        #[serde(default = "one")]
        alpha: f64,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Audio: noise added at a signal-to-noise ratio drawn uniformly (in dB) from
    /// `snr_db`, measured against the clip's own RMS; the noise is scaled to hit
    /// the ratio exactly (audiomentations' `AddGaussianSNR` for white noise).
    AddNoise {
        /// `[low, high]` in dB.
        snr_db: [f64; 2],
        /// The noise's spectrum: `white` (flat) or `pink` (power falling as 1/f).
        #[serde(default)]
        color: NoiseColor,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Audio: a noise clip from a folder of WAV files (resampled to the data's
    /// rate, chosen uniformly, from a uniform offset, looped when shorter) mixed in
    /// at a signal-to-noise ratio drawn from `snr_db` (audiomentations'
    /// `AddBackgroundNoise`).
    BackgroundNoise {
        /// The folder of WAV files (relative to the run config).
        folder: String,
        /// `[low, high]` in dB.
        snr_db: [f64; 2],
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Audio: the waveform times a gain drawn uniformly in dB from `db`.
    Gain {
        /// `[low, high]` in dB.
        db: [f64; 2],
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Audio: a shift in time by a share of the clip drawn from `fraction`
    /// (positive: later), the samples pushed out wrapping round to the other end
    /// (`rollover`) or replaced by silence (audiomentations' `Shift`).
    Shift {
        /// `[low, high]`, each in `[-1, 1]`.
        #[serde(default = "default_shift")]
        fraction: [f64; 2],
        /// Wrap round instead of padding with silence.
        #[serde(default = "yes")]
        rollover: bool,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Audio: played faster or slower by a factor drawn from `factor` (resampled:
    /// the duration divides by it and the pitch moves with it, as a tape).
    Speed {
        /// `[low, high]`, positive (1.1: 10 % faster).
        factor: [f64; 2],
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Audio: the pitch moved by a number of semitones drawn from `semitones`,
    /// the duration kept (a phase-vocoder stretch, then resampling).
    PitchShift {
        /// `[low, high]`, each in `[-24, 24]`.
        semitones: [f64; 2],
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Audio: faster or slower by a rate drawn from `rate`, the pitch kept (a
    /// phase vocoder): the duration divides by the rate.
    TimeStretch {
        /// `[low, high]`, positive.
        rate: [f64; 2],
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Spectrogram (SpecAugment, Park et al. 2019): `count` runs of consecutive
    /// frames, each of a width drawn uniformly from `width` at a uniform start,
    /// set to the training data's mean (0 once standardised).
    TimeMask {
        /// `[low, high]` frames.
        width: [usize; 2],
        /// Masks per clip.
        #[serde(default = "one_usize")]
        count: usize,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Spectrogram: `count` runs of consecutive mel bands masked, as `time_mask`.
    FreqMask {
        /// `[low, high]` bands.
        width: [usize; 2],
        /// Masks per clip.
        #[serde(default = "one_usize")]
        count: usize,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Text (EDA, Wei and Zou 2019): `max(1, round(share · words))` words that
    /// are neither protected nor stop words, and that have a synonym, each
    /// replaced by one of its WordNet synonyms drawn uniformly.
    SynonymReplace {
        /// Share of the words, in `[0, 1]`.
        #[serde(default = "tenth")]
        share: f64,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Text: `max(1, round(share · words))` times, a synonym of a random
    /// unprotected word inserted at a random position.
    RandomInsert {
        /// Share of the words, in `[0, 1]`.
        #[serde(default = "tenth")]
        share: f64,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Text: `max(1, round(share · words))` times, two unprotected words swapped.
    RandomSwap {
        /// Share of the words, in `[0, 1]`.
        #[serde(default = "tenth")]
        share: f64,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Text: each unprotected word deleted with probability `share` (one word is
    /// always kept).
    RandomDelete {
        /// The probability per word, in `[0, 1]`.
        #[serde(default = "tenth")]
        share: f64,
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// Text: the sentences (ended by `.`, `!` or `?`) put in a random order.
    SentenceShuffle {
        /// Probability of the step.
        #[serde(default = "one")]
        p: f64,
    },
    /// With probability `p`, exactly one of the steps in `of`, chosen with
    /// probability proportional to its own `p`, and then applied for sure.
    OneOf {
        /// The candidates.
        of: Vec<Step>,
        /// Probability of the group.
        #[serde(default = "one")]
        p: f64,
    },
    /// With probability `p`, `n` distinct steps of `of` chosen uniformly, each then
    /// applied for sure, in the order they are listed.
    SomeOf {
        /// The candidates.
        of: Vec<Step>,
        /// How many to apply, `1 ≤ n ≤ of.len()`.
        n: usize,
        /// Probability of the group.
        #[serde(default = "one")]
        p: f64,
    },
}

impl Step {
    /// The step's name, as written in `transform = "..."`.
    pub fn name(&self) -> &'static str {
        match self {
            Step::HorizontalFlip { .. } => "horizontal_flip",
            Step::VerticalFlip { .. } => "vertical_flip",
            Step::Rotate90 { .. } => "rotate90",
            Step::Rotate { .. } => "rotate",
            Step::Affine { .. } => "affine",
            Step::Translate { .. } => "translate",
            Step::ResizedCrop { .. } => "resized_crop",
            Step::PadCrop { .. } => "pad_crop",
            Step::Brightness { .. } => "brightness",
            Step::Contrast { .. } => "contrast",
            Step::Gamma { .. } => "gamma",
            Step::Noise { .. } => "noise",
            Step::Blur { .. } => "blur",
            Step::Erase { .. } => "erase",
            Step::Mixup { .. } => "mixup",
            Step::Cutmix { .. } => "cutmix",
            Step::AddNoise { .. } => "add_noise",
            Step::BackgroundNoise { .. } => "background_noise",
            Step::Gain { .. } => "gain",
            Step::Shift { .. } => "shift",
            Step::Speed { .. } => "speed",
            Step::PitchShift { .. } => "pitch_shift",
            Step::TimeStretch { .. } => "time_stretch",
            Step::TimeMask { .. } => "time_mask",
            Step::FreqMask { .. } => "freq_mask",
            Step::SynonymReplace { .. } => "synonym_replace",
            Step::RandomInsert { .. } => "random_insert",
            Step::RandomSwap { .. } => "random_swap",
            Step::RandomDelete { .. } => "random_delete",
            Step::SentenceShuffle { .. } => "sentence_shuffle",
            Step::OneOf { .. } => "one_of",
            Step::SomeOf { .. } => "some_of",
        }
    }

    /// The step's probability.
    pub fn p(&self) -> f64 {
        match self {
            Step::HorizontalFlip { p }
            | Step::VerticalFlip { p }
            | Step::Rotate90 { p }
            | Step::Rotate { p, .. }
            | Step::Affine { p, .. }
            | Step::Translate { p, .. }
            | Step::ResizedCrop { p, .. }
            | Step::PadCrop { p, .. }
            | Step::Brightness { p, .. }
            | Step::Contrast { p, .. }
            | Step::Gamma { p, .. }
            | Step::Noise { p, .. }
            | Step::Blur { p, .. }
            | Step::Erase { p, .. }
            | Step::Mixup { p, .. }
            | Step::Cutmix { p, .. }
            | Step::AddNoise { p, .. }
            | Step::BackgroundNoise { p, .. }
            | Step::Gain { p, .. }
            | Step::Shift { p, .. }
            | Step::Speed { p, .. }
            | Step::PitchShift { p, .. }
            | Step::TimeStretch { p, .. }
            | Step::TimeMask { p, .. }
            | Step::FreqMask { p, .. }
            | Step::SynonymReplace { p, .. }
            | Step::RandomInsert { p, .. }
            | Step::RandomSwap { p, .. }
            | Step::RandomDelete { p, .. }
            | Step::SentenceShuffle { p }
            | Step::OneOf { p, .. }
            | Step::SomeOf { p, .. } => *p,
        }
    }

    /// What the step transforms (`None` for a group, which holds steps).
    pub fn media(&self) -> Option<Media> {
        match self {
            Step::OneOf { .. } | Step::SomeOf { .. } => None,
            Step::AddNoise { .. }
            | Step::BackgroundNoise { .. }
            | Step::Gain { .. }
            | Step::Shift { .. }
            | Step::Speed { .. }
            | Step::PitchShift { .. }
            | Step::TimeStretch { .. }
            | Step::TimeMask { .. }
            | Step::FreqMask { .. } => Some(Media::Audio),
            Step::SynonymReplace { .. }
            | Step::RandomInsert { .. }
            | Step::RandomSwap { .. }
            | Step::RandomDelete { .. }
            | Step::SentenceShuffle { .. } => Some(Media::Text),
            _ => Some(Media::Image),
        }
    }

    /// Whether the step works on an audio clip's spectrogram (SpecAugment's
    /// masks) rather than on its waveform.
    pub fn is_spectrogram(&self) -> bool {
        matches!(self, Step::TimeMask { .. } | Step::FreqMask { .. })
    }

    /// Whether the step moves pixels by an affine map (and so composes with its
    /// geometric neighbours into one interpolation).
    #[cfg(feature = "tensors")]
    pub(crate) fn is_affine(&self) -> bool {
        matches!(
            self,
            Step::Rotate { .. }
                | Step::Affine { .. }
                | Step::Translate { .. }
                | Step::ResizedCrop { .. }
                | Step::PadCrop { .. }
        )
    }
}

impl AugmentConfig {
    /// Whether there is no step.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Checks every step's parameters; the error names the step by its path
    /// (`steps[2].of[0].degrees`) and the value.
    pub fn validate(&self) -> Result<(), RegularizeError> {
        for (i, step) in self.steps.iter().enumerate() {
            validate_step(step, &format!("augment.steps[{i}]"))?;
        }
        let mixing = self.steps.iter().filter(|s| matches!(s, Step::Mixup { .. } | Step::Cutmix { .. })).count();
        check(mixing <= 1, "augment", "steps", format!("{mixing} mixing steps"), "at most one mixup or cutmix step")
    }

    /// Checks the steps as [`validate`](Self::validate) does, and that each
    /// transforms `media`: the error names the first step that does not.
    pub fn validate_for(&self, media: Media) -> Result<(), RegularizeError> {
        self.validate()?;
        fn walk(steps: &[Step], path: &str, media: Media) -> Result<(), RegularizeError> {
            for (i, s) in steps.iter().enumerate() {
                let here = format!("{path}[{i}]");
                match s {
                    Step::OneOf { of, .. } | Step::SomeOf { of, .. } => walk(of, &format!("{here}.of"), media)?,
                    leaf => {
                        let works_on = leaf.media().unwrap_or(media);
                        if works_on != media {
                            return Err(RegularizeError::AugmentMedia {
                                step: format!("{here} ({})", leaf.name()),
                                works_on: works_on.to_string(),
                                data: media.to_string(),
                            });
                        }
                    }
                }
            }
            Ok(())
        }
        walk(&self.steps, "augment.steps", media)?;
        if media == Media::Text
            && let Some(w) = self.protected.iter().find(|w| w.trim().is_empty() || w.split_whitespace().count() > 1)
        {
            return Err(bad("augment", "protected", format!("{w:?}"), "single words"));
        }
        Ok(())
    }

    /// The steps in a line: `rotate, translate, one of [brightness, contrast] (p 0.5), erase (p 0.5)`.
    pub fn describe(&self) -> String {
        fn step(s: &Step) -> String {
            let body = match s {
                Step::OneOf { of, .. } => format!("one of [{}]", list(of)),
                Step::SomeOf { of, n, .. } => format!("{n} of [{}]", list(of)),
                leaf => leaf.name().to_string(),
            };
            if s.p() < 1.0 { format!("{body} (p {})", s.p()) } else { body }
        }
        fn list(steps: &[Step]) -> String {
            steps.iter().map(step).collect::<Vec<_>>().join(", ")
        }
        list(&self.steps)
    }

    /// Whether a step mixes two images and their classes (`mixup`, `cutmix`), so
    /// that the pipeline needs class labels.
    pub fn has_mixing(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Mixup { .. } | Step::Cutmix { .. }))
    }

    /// Whether some step is `rotate90` (which needs square images).
    #[cfg(feature = "tensors")]
    pub(crate) fn needs_square(&self) -> bool {
        fn any(steps: &[Step]) -> bool {
            steps.iter().any(|s| match s {
                Step::Rotate90 { .. } => true,
                Step::OneOf { of, .. } | Step::SomeOf { of, .. } => any(of),
                _ => false,
            })
        }
        any(&self.steps)
    }
}

fn bad(path: &str, key: &str, value: impl std::fmt::Display, expected: &str) -> RegularizeError {
    RegularizeError::Augment { setting: format!("{path}.{key}"), value: value.to_string(), expected: expected.into() }
}

fn check(
    ok: bool,
    path: &str,
    key: &str,
    value: impl std::fmt::Display,
    expected: &str,
) -> Result<(), RegularizeError> {
    if ok { Ok(()) } else { Err(bad(path, key, value, expected)) }
}

fn range(path: &str, key: &str, r: [f64; 2], lowest: f64, highest: f64, expected: &str) -> Result<(), RegularizeError> {
    let ok = r.iter().all(|v| v.is_finite()) && r[0] <= r[1] && r[0] > lowest && r[1] <= highest;
    check(ok, path, key, format!("[{}, {}]", r[0], r[1]), expected)
}

fn validate_step(step: &Step, path: &str) -> Result<(), RegularizeError> {
    let p = step.p();
    check((0.0..=1.0).contains(&p), path, "p", p, "a probability in [0, 1]")?;
    let unit = "a number in [0, 1]";
    match step {
        Step::HorizontalFlip { .. } | Step::VerticalFlip { .. } | Step::Rotate90 { .. } => Ok(()),
        Step::Rotate { degrees, .. } => {
            check((0.0..=180.0).contains(degrees), path, "degrees", degrees, "degrees in [0, 180]")
        }
        Step::Affine { degrees, translate, scale, shear, .. } => {
            check((0.0..=180.0).contains(degrees), path, "degrees", degrees, "degrees in [0, 180]")?;
            check((0.0..=1.0).contains(translate), path, "translate", translate, unit)?;
            range(path, "scale", *scale, 0.0, f64::MAX, "[low, high] with 0 < low <= high")?;
            check((0.0..90.0).contains(shear), path, "shear", shear, "degrees in [0, 90)")
        }
        Step::Translate { pixels, .. } => {
            check(pixels.is_finite() && *pixels >= 0.0, path, "pixels", pixels, "a shift in pixels >= 0")
        }
        Step::ResizedCrop { scale, ratio, .. } | Step::Erase { scale, ratio, .. } => {
            range(path, "scale", *scale, 0.0, 1.0, "[low, high] with 0 < low <= high <= 1")?;
            range(path, "ratio", *ratio, 0.0, f64::MAX, "[low, high] with 0 < low <= high")?;
            if let Step::Erase { value, .. } = step {
                check(value.is_finite(), path, "value", value, "a finite number")?;
            }
            Ok(())
        }
        Step::PadCrop { .. } => Ok(()),
        Step::Brightness { factor, .. } | Step::Contrast { factor, .. } => {
            check((0.0..=1.0).contains(factor), path, "factor", factor, unit)
        }
        Step::Gamma { range: r, .. } => range(path, "range", *r, 0.0, f64::MAX, "[low, high] with 0 < low <= high"),
        Step::Noise { std, .. } => check(std.is_finite() && *std >= 0.0, path, "std", std, "a standard deviation >= 0"),
        Step::Blur { sigma, kernel, .. } => {
            range(path, "sigma", *sigma, 0.0, f64::MAX, "[low, high] with 0 < low <= high")?;
            check(kernel % 2 == 1, path, "kernel", kernel, "an odd window size")
        }
        Step::Mixup { alpha, .. } | Step::Cutmix { alpha, .. } => {
            check(alpha.is_finite() && *alpha > 0.0, path, "alpha", alpha, "a positive number")
        }
        Step::AddNoise { snr_db, .. } | Step::BackgroundNoise { snr_db, .. } => {
            let ok = snr_db.iter().all(|v| v.is_finite()) && snr_db[0] <= snr_db[1];
            check(ok, path, "snr_db", format!("[{}, {}]", snr_db[0], snr_db[1]), "[low, high] in dB, low <= high")?;
            if let Step::BackgroundNoise { folder, .. } = step {
                check(!folder.trim().is_empty(), path, "folder", "\"\"", "a folder of WAV files")?;
            }
            Ok(())
        }
        Step::Gain { db, .. } => {
            let ok = db.iter().all(|v| v.is_finite() && v.abs() <= 60.0) && db[0] <= db[1];
            check(ok, path, "db", format!("[{}, {}]", db[0], db[1]), "[low, high] in dB within [-60, 60]")
        }
        Step::Shift { fraction, .. } => {
            let ok = fraction.iter().all(|v| (-1.0..=1.0).contains(v)) && fraction[0] <= fraction[1];
            check(ok, path, "fraction", format!("[{}, {}]", fraction[0], fraction[1]), "[low, high] within [-1, 1]")
        }
        Step::Speed { factor: r, .. } | Step::TimeStretch { rate: r, .. } => {
            let key = if matches!(step, Step::Speed { .. }) { "factor" } else { "rate" };
            range(path, key, *r, 0.0, 8.0, "[low, high] with 0 < low <= high <= 8")?;
            check(r[0] >= 0.125, path, key, r[0], "a factor of at least 0.125")
        }
        Step::PitchShift { semitones: s, .. } => {
            let ok = s.iter().all(|v| (-24.0..=24.0).contains(v)) && s[0] <= s[1];
            check(ok, path, "semitones", format!("[{}, {}]", s[0], s[1]), "[low, high] within [-24, 24]")
        }
        Step::TimeMask { width, count, .. } | Step::FreqMask { width, count, .. } => {
            check(width[0] <= width[1], path, "width", format!("[{}, {}]", width[0], width[1]), "[low, high]")?;
            check(*count >= 1, path, "count", count, "at least one mask")
        }
        Step::SynonymReplace { share, .. }
        | Step::RandomInsert { share, .. }
        | Step::RandomSwap { share, .. }
        | Step::RandomDelete { share, .. } => check((0.0..=1.0).contains(share), path, "share", share, unit),
        Step::SentenceShuffle { .. } => Ok(()),
        Step::OneOf { of, .. } | Step::SomeOf { of, .. } => {
            check(!of.is_empty(), path, "of", "[]", "at least one step")?;
            if let Some(i) = of.iter().position(|s| matches!(s, Step::Mixup { .. } | Step::Cutmix { .. })) {
                return Err(bad(path, &format!("of[{i}]"), of[i].name(), "no mixup or cutmix inside a group"));
            }
            if let Step::SomeOf { n, .. } = step {
                check(
                    *n >= 1 && *n <= of.len(),
                    path,
                    "n",
                    n,
                    &format!("between 1 and {} (the steps in `of`)", of.len()),
                )?;
            }
            if let Step::OneOf { .. } = step {
                let total: f64 = of.iter().map(Step::p).sum();
                check(total > 0.0, path, "of", "steps whose p are all 0", "a step with p > 0")?;
            }
            for (i, s) in of.iter().enumerate() {
                validate_step(s, &format!("{path}.of[{i}]"))?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_lists_the_steps_with_their_probabilities() {
        let config: AugmentConfig = toml::from_str(
            r#"steps = [
                { transform = "rotate", degrees = 5 },
                { transform = "one_of", p = 0.5, of = [{ transform = "brightness", factor = 0.1 }, { transform = "contrast", factor = 0.1 }] },
                { transform = "some_of", n = 1, of = [{ transform = "erase" }, { transform = "horizontal_flip" }] },
            ]"#,
        )
        .unwrap();
        assert_eq!(
            config.describe(),
            "rotate, one of [brightness, contrast] (p 0.5), 1 of [erase (p 0.5), horizontal_flip (p 0.5)]"
        );
        #[cfg(feature = "tensors")]
        assert!(!config.needs_square());
        assert!(AugmentConfig::default().is_empty());
    }

    #[test]
    fn defaults_are_torchvisions() {
        let config: AugmentConfig = toml::from_str(
            r#"steps = [{ transform = "resized_crop" }, { transform = "erase" }, { transform = "vertical_flip" }]"#,
        )
        .unwrap();
        assert_eq!(
            config.steps,
            [
                Step::ResizedCrop { scale: [0.08, 1.0], ratio: [0.75, 4.0 / 3.0], p: 1.0 },
                Step::Erase { scale: [0.02, 0.33], ratio: [0.3, 3.3], value: 0.0, p: 0.5 },
                Step::VerticalFlip { p: 0.5 },
            ]
        );
        config.validate().unwrap();
    }

    #[test]
    fn out_of_range_settings_name_their_path() {
        let cases = [
            (r#"{ transform = "affine", scale = [1.2, 0.8] }"#, "augment.steps[0].scale = [1.2, 0.8]"),
            (r#"{ transform = "affine", shear = 90 }"#, "augment.steps[0].shear = 90"),
            (r#"{ transform = "brightness", factor = 1.5 }"#, "augment.steps[0].factor = 1.5"),
            (r#"{ transform = "noise", std = -1 }"#, "augment.steps[0].std = -1"),
            (r#"{ transform = "gamma", range = [0, 1] }"#, "augment.steps[0].range = [0, 1]"),
            (r#"{ transform = "resized_crop", scale = [0.5, 1.5] }"#, "augment.steps[0].scale = [0.5, 1.5]"),
            (r#"{ transform = "one_of", of = [] }"#, "augment.steps[0].of = []"),
            (r#"{ transform = "translate", pixels = inf }"#, "augment.steps[0].pixels = inf"),
        ];
        for (step, want) in cases {
            let config: AugmentConfig = toml::from_str(&format!("steps = [{step}]")).unwrap();
            let err = config.validate().unwrap_err().to_string();
            assert!(err.starts_with(want), "{step}: {err}");
        }
    }
}
