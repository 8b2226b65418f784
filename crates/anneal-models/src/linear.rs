//! A linear model: one affine layer from the features to the outputs. With a
//! mean-squared-error loss it is linear regression (with L2 / L1 penalties:
//! ridge / lasso), with cross-entropy logistic or softmax regression.

use anneal_core::{SeededRng, Stream};
use burn::nn::Linear;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::model::Model;

/// The shape of a [`LinearModel`]: `input -> output`.
///
/// ```
/// use anneal_models::{LinearConfig, Model};
/// use burn::prelude::*;
///
/// let device = Device::flex();
/// let model = LinearConfig { input: 3, output: 1 }.init(7, &device)?;
/// assert_eq!(model.forward(Tensor::zeros([4, 3], &device)).dims(), [4, 1]);
/// # Ok::<(), anneal_models::ModelError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LinearConfig {
    /// Number of input features (0 in a run config: taken from the data).
    #[serde(default, skip_serializing_if = "crate::config::is_zero")]
    pub input: usize,
    /// Number of outputs: classes, or regression targets (0 in a run config: from the data).
    #[serde(default, skip_serializing_if = "crate::config::is_zero")]
    pub output: usize,
}

/// A linear (affine) model. Build it with [`LinearConfig::init`].
#[derive(Module, Debug)]
pub struct LinearModel {
    linear: Linear,
}

impl LinearConfig {
    /// Checks the sizes.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.input == 0 {
            return Err(ModelError::EmptyLayer { layer: "input".into() });
        }
        if self.output == 0 {
            return Err(ModelError::EmptyLayer { layer: "output".into() });
        }
        Ok(())
    }

    /// Builds the model on `device` with weights drawn from `seed` (as an MLP's
    /// layers are: U(−1/√fan_in, 1/√fan_in) on the host, the same on every backend).
    pub fn init(&self, seed: u64, device: &Device) -> Result<LinearModel, ModelError> {
        self.validate()?;
        let mut rng = SeededRng::stream(seed, Stream::Init);
        Ok(LinearModel { linear: crate::mlp::linear_layer(&mut rng, self.input, self.output, device) })
    }
}

impl LinearModel {
    /// The weights as a row-major `[input, output]` matrix and the bias, read back to the host.
    pub fn coefficients(&self) -> (Vec<f32>, Vec<f32>) {
        let read = |t: TensorData| t.convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
        let weight = read(self.linear.weight.val().into_data());
        let bias = self.linear.bias.as_ref().map(|b| read(b.val().into_data())).unwrap_or_default();
        (weight, bias)
    }
}

impl Model for LinearModel {
    type Input = Tensor<2>;

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.linear.forward(x)
    }
}
