//! The error type of `anneal-models`: invalid model configurations.

/// A model configuration that cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A layer would have no units.
    #[error("{layer} has 0 units; every layer needs at least one")]
    EmptyLayer {
        /// Which layer (`input`, `hidden layer 2`, `output`).
        layer: String,
    },
    /// Dropout probability outside `[0, 1)`.
    #[error("dropout {0} is outside [0, 1)")]
    Dropout(f64),
    /// `layer_dropout` does not give one probability per hidden layer.
    #[error("layer_dropout has {given} values but the model has {hidden} hidden layers")]
    LayerDropout {
        /// Values given.
        given: usize,
        /// Hidden layers.
        hidden: usize,
    },
    /// Attention heads that do not divide the model width.
    #[error(
        "transformer d_model {d_model} is not a multiple of its {heads} heads: each head gets d_model / heads values"
    )]
    Heads {
        /// The model width.
        d_model: usize,
        /// The heads asked for.
        heads: usize,
    },
    /// A CNN without convolution blocks.
    #[error(
        "a kind = \"cnn\" model needs at least one block in `blocks`, e.g. blocks = [{{ channels = 32, pool = \"max\" }}]"
    )]
    NoBlocks,
    /// A convolution block setting of 0.
    #[error("conv block {block}: {key} must be at least 1")]
    BlockSetting {
        /// 1-based block number.
        block: usize,
        /// The key (`kernel`, `stride`, `pool_size`).
        key: &'static str,
    },
    /// A block's kernel or pooling window is larger than the feature map reaching it.
    #[error(
        "conv block {block} gets a {height}x{width} feature map, too small for its {kernel}x{kernel} kernel{}: use \
         fewer blocks, padding, or larger images",
        pool.map(|p| format!(" and {p}x{p} pooling")).unwrap_or_default()
    )]
    ImageTooSmall {
        /// 1-based block number.
        block: usize,
        /// Height reaching the block.
        height: usize,
        /// Width reaching the block.
        width: usize,
        /// Kernel size.
        kernel: usize,
        /// Pooling window, if any.
        pool: Option<usize>,
    },
    /// A CNN built without image dimensions: its data is not images.
    #[error(
        "a kind = \"cnn\" model reads images: set [data] kind = \"image\" (with [data.image] height, width, channels for a pixel CSV)"
    )]
    NotImages,
    /// Weights that cannot be read, written or matched to the model.
    #[error("weights {path}: {message}")]
    Weights {
        /// The weights file.
        path: std::path::PathBuf,
        /// What went wrong, with the keys at fault.
        message: String,
    },
    /// Settings that cannot go together (a causal transformer pooling at `[CLS]`).
    #[error("{0}")]
    Incompatible(String),
    /// Weights of a trained model that do not fit the model they should start.
    #[error("the source model's weights do not fit this model: {0}")]
    Transfer(String),
}
