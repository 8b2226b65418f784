//! Dropout with its own seeded generator, so a model's masks depend only on its seed.
//!
//! burn's `Dropout` draws from the backend's process-wide generator: two models
//! training at once in one process (parallel tests, parallel tuning trials) would
//! interleave their draws and lose run-to-run determinism.

use std::sync::{Arc, Mutex};

use anneal_data::SeededRng;
use burn::prelude::*;

/// Inverted dropout (Srivastava et al. 2014, <https://jmlr.org/papers/v15/srivastava14a.html>):
/// in training, each element is zeroed with probability `prob` and the survivors are
/// scaled by `1 / (1 - prob)`; in evaluation it is the identity.
///
/// It is active when its input lives on an autodiff device, i.e. while training;
/// [`Module::valid`] moves a model off autodiff, which turns it off.
#[derive(Module, Debug)]
pub struct Dropout {
    prob: f64,
    #[module(skip)]
    rng: Arc<Mutex<SeededRng>>,
}

impl Dropout {
    /// Dropout with probability `prob` (in `[0, 1)`, checked by the model config) and
    /// masks drawn from `rng`.
    pub fn new(prob: f64, rng: SeededRng) -> Self {
        Self { prob, rng: Arc::new(Mutex::new(rng)) }
    }

    /// Applies dropout in training, the identity otherwise.
    ///
    /// # Shapes
    /// - `x`: any; the output has the same shape.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if self.prob == 0.0 || !x.device().is_autodiff() {
            return x;
        }
        let shape = x.shape();
        let keep = 1.0 - self.prob;
        let scale = (1.0 / keep) as f32;
        let mask: Vec<f32> = {
            // A poisoned lock only means another thread panicked mid-draw; the
            // generator state is still a valid state.
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            (0..shape.num_elements()).map(|_| if rng.next_f64() < keep { scale } else { 0.0 }).collect()
        };
        // A tensor made from data is a constant of the graph: no gradient flows into it.
        let mask = Tensor::<D>::from_data(TensorData::new(mask, shape), &x.device());
        x * mask
    }
}
