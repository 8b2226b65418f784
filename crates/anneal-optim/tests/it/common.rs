//! The tiny problem the tests share: a 3 -> 2 linear layer with bias and a mean squared error.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// The flex backend with autodiff.
pub fn device() -> Device {
    Device::flex().autodiff()
}

/// A row-major `[rows, cols]` tensor from nested JSON arrays.
pub fn matrix(value: &serde_json::Value, device: &Device) -> Tensor<2> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(value.clone()).expect("a matrix");
    let (r, c) = (rows.len(), rows[0].len());
    let flat: Vec<f32> = rows.into_iter().flatten().map(|v| v as f32).collect();
    Tensor::from_data(TensorData::new(flat, [r, c]), device)
}

/// The linear layer with the given weight (burn layout, `[in, out]`) and bias.
pub fn linear(weight: Tensor<2>, bias: Vec<f64>, device: &Device) -> Linear {
    let [input, output] = weight.dims();
    let mut layer = LinearConfig::new(input, output).init(device);
    layer.weight = Param::from_tensor(weight);
    let bias: Vec<f32> = bias.into_iter().map(|v| v as f32).collect();
    layer.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [output]), device)));
    layer
}

/// The golden fixture's problem: the layer, inputs and targets.
pub struct Problem {
    pub layer: Linear,
    pub x: Tensor<2>,
    pub t: Tensor<2>,
}

impl Problem {
    pub fn from_golden(golden: &serde_json::Value) -> Self {
        let device = device();
        let p = &golden["problem"];
        let weight = matrix(&p["weight"], &device);
        let bias: Vec<f64> = serde_json::from_value(p["bias"].clone()).unwrap();
        Self { layer: linear(weight, bias, &device), x: matrix(&p["x"], &device), t: matrix(&p["t"], &device) }
    }

    /// `scale · mean((x W + b − t)²)` and its gradients for `layer`.
    pub fn grads(&self, layer: &Linear, scale: f64) -> GradientsParams {
        let diff = layer.forward(self.x.clone()) - self.t.clone();
        let loss = diff.clone().mul(diff).mean().mul_scalar(scale);
        GradientsParams::from_grads(loss.backward(), layer)
    }
}

/// The weight (row-major, burn layout) and bias of a layer.
pub fn values(layer: &Linear) -> (Vec<f32>, Vec<f32>) {
    let w = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
    let b = layer.bias.as_ref().unwrap().val().into_data().try_to_vec::<f32>().unwrap();
    (w, b)
}

/// Flattens nested JSON number arrays.
pub fn flat(value: &serde_json::Value) -> Vec<f64> {
    match value {
        serde_json::Value::Array(items) => items.iter().flat_map(flat).collect(),
        serde_json::Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("not a number array: {other}"),
    }
}

/// Asserts `|a − b| ≤ tol` elementwise, naming `what` on failure.
pub fn assert_close(what: &str, actual: &[f32], expected: &[f64], tol: f64) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!((*a as f64 - e).abs() <= tol, "{what}[{i}]: got {a}, expected {e} (tolerance {tol})");
    }
}
