//! The models both benchmarks of this crate train (included by `#[path]`).

use anneal_models::{ActivationKind, MlpConfig, ModelConfig};

/// The distributed chapter's MLP, 784-256-128-10, no dropout.
pub fn mlp() -> ModelConfig {
    ModelConfig::Mlp(MlpConfig {
        input: 784,
        hidden: vec![256, 128],
        output: 10,
        activation: ActivationKind::Relu,
        dropout: 0.0,
        layer_dropout: vec![],
    })
}

/// The MNIST CNN of `examples/configs/mnist_cnn.toml` (28×28 rows read as images).
pub fn mnist_cnn() -> ModelConfig {
    toml::from_str(
        r#"
        kind = "cnn"
        channels_in = 1
        height = 28
        width = 28
        output = 10
        blocks = [
          { channels = 32, kernel = 3, pool = "max", pool_size = 2 },
          { channels = 64, kernel = 3, pool = "max", pool_size = 2 },
        ]
        hidden = [128]
        dropout = 0.25
        "#,
    )
    .expect("the CNN config parses")
}
