//! The error type of `anneal-regularize`: regularisation settings that cannot work.

/// A regularisation setting that cannot be used; every message names the setting and the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RegularizeError {
    /// `min_delta` is negative or not finite.
    #[error("early stopping min_delta must be a finite number >= 0, got {0}")]
    MinDelta(f64),
    /// The monitored metric name is empty.
    #[error("early stopping needs a metric to monitor")]
    NoMonitor,
    /// The early-stopping warm-up covers the whole run, so it could never stop.
    #[error("early stopping warmup_epochs = {warmup} is not shorter than the run's {epochs} epochs")]
    WarmupTooLong {
        /// Warm-up epochs asked for.
        warmup: usize,
        /// Epochs in the run.
        epochs: usize,
    },
    /// A penalty strength is negative or not finite.
    #[error("{name} = {value} must be a finite number >= 0")]
    Strength {
        /// `l1` or `l2`, with the group when it is one (`groups[1].l2`).
        name: String,
        /// The value given.
        value: f64,
    },
    /// A penalty group names no layer.
    #[error("regularization groups[{index}] has an empty `layers` list")]
    EmptyGroup {
        /// 0-based position of the group.
        index: usize,
    },
    /// A penalty group names a layer the model does not have.
    #[error("regularization groups[{index}] names layer {layer}, but the model has {layers} layers (0-based)")]
    NoSuchLayer {
        /// 0-based position of the group.
        index: usize,
        /// The layer named.
        layer: usize,
        /// Layers in the model.
        layers: usize,
    },
    /// An augmentation step's parameter is out of range.
    #[error("{setting} = {value} is not valid: expected {expected}")]
    Augment {
        /// The setting, with its step's path (`augment.steps[2].degrees`).
        setting: String,
        /// The value given.
        value: String,
        /// What it must be.
        expected: String,
    },
    /// The images of a batch and the rows given for them differ in number.
    #[error("augmentation got {images} images but {rows} row numbers for them")]
    AugmentBatch {
        /// Row numbers given.
        rows: usize,
        /// Images in the batch.
        images: usize,
    },
    /// An augmentation step transforms another kind of data than the run's.
    #[error("{step} transforms {works_on}, but the run's data is {data}")]
    AugmentMedia {
        /// The step's path and name (`augment.steps[1] (pitch_shift)`).
        step: String,
        /// What the step transforms.
        works_on: String,
        /// What the run's rows are.
        data: String,
    },
    /// A mixing step (mixup, CutMix) was asked to run without the images' classes.
    #[error("augmentation steps mixup and cutmix mix classes: they need class labels (a classification)")]
    AugmentLabels,
    /// A step cannot work on images of this shape.
    #[error("augmentation step {step} needs {expected}, but the images are {height}x{width}")]
    AugmentShape {
        /// The step.
        step: String,
        /// Image height.
        height: usize,
        /// Image width.
        width: usize,
        /// What the step needs.
        expected: String,
    },
}
