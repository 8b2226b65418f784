//! A hand-written training loop that uses every part of anneal-optim: an
//! optimiser, a warm-up + cosine schedule stepped per update, gradient
//! accumulation over two micro-batches and clipping by global norm.
//!
//! Run: `cargo run -p anneal-optim --example training_loop`. It fits
//! `y = 2x − 1` with a one-weight linear layer and prints the final weights.

use anneal_optim::prelude::*;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // ANCHOR: configs
    let optimizer: OptimizerConfig = toml::from_str(
        r#"
        name = "sgd"
        learning_rate = 0.1
        momentum = 0.9
        nesterov = true
        "#,
    )?;
    let schedule: ScheduleConfig = toml::from_str(
        r#"
        name = "warmup"
        steps = 10
        start_factor = 0.1
        then = { name = "cosine", eta_min = 0.001 }
        "#,
    )?;
    let clipping: GradientClippingConfig = toml::from_str("by = \"norm\"\nmax_norm = 1.0")?;
    // ANCHOR_END: configs

    let device = Device::flex().autodiff();
    let xs: Vec<f32> = (0..32).map(|i| i as f32 / 16.0 - 1.0).collect();
    let micro_batches: Vec<(Tensor<2>, Tensor<2>)> = xs
        .chunks(4)
        .map(|chunk| {
            let x = Tensor::from_data(TensorData::new(chunk.to_vec(), [chunk.len(), 1]), &device);
            let y = x.clone().mul_scalar(2.0).sub_scalar(1.0);
            (x, y)
        })
        .collect();
    let mut model: Linear = LinearConfig::new(1, 1).init(&device);

    // ANCHOR: loop
    let epochs = 30;
    let accumulate = 2; // micro-batches per optimiser update
    let updates_per_epoch = micro_batches.len() / accumulate;

    let mut optimizer = optimizer.init()?;
    let total_steps = ScheduleUnit::Iteration.total_steps(epochs, updates_per_epoch);
    let mut scheduler = schedule.build(optimizer.learning_rate(), total_steps)?;
    let clipper = clipping.init()?;
    let mut accumulator = Accumulator::new(accumulate)?;

    for _epoch in 0..epochs {
        for (x, y) in &micro_batches {
            let error = model.forward(x.clone()) - y.clone();
            let loss = error.clone().mul(error).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            // 1. Accumulate: only every `accumulate`-th micro-batch yields an update.
            let Some(mut grads) = accumulator.push(&model, grads) else { continue };
            // 2. Clip the mean gradient by its global norm.
            clipper.clip(&model, &mut grads);
            // 3. The schedule sets the rate, the optimiser steps, the schedule advances.
            optimizer.set_learning_rate(scheduler.lr());
            model = optimizer.step(model, grads);
            scheduler.step();
        }
    }
    // ANCHOR_END: loop

    let weight: f32 = model.weight.val().into_scalar();
    let bias: f32 = model.bias.as_ref().expect("a bias").val().into_scalar();
    println!(
        "after {} updates: weight {weight:.3}, bias {bias:.3} (target 2, -1); last learning rate {:.5}",
        optimizer.steps(),
        optimizer.learning_rate()
    );
    assert!((weight - 2.0).abs() < 0.05 && (bias + 1.0).abs() < 0.05);
    Ok(())
}
