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
///
/// The mask of the `n`-th training call is drawn from its own sub-stream of the
/// layer's seed, so the generator's whole state is one counter
/// ([`rng_state`](Dropout::rng_state)): a checkpoint saves it and a resumed run
/// draws the masks an uninterrupted run would have drawn.
#[derive(Module, Debug)]
pub struct Dropout {
    prob: f64,
    #[module(skip)]
    rng: Arc<Mutex<DropoutRng>>,
}

#[derive(Debug, Clone, Copy)]
struct DropoutRng {
    seed: u64,
    calls: u64,
}

impl Dropout {
    /// Dropout with probability `prob` (in `[0, 1)`, checked by the model config) and
    /// masks drawn from streams seeded by `rng`.
    pub fn new(prob: f64, mut rng: SeededRng) -> Self {
        Self { prob, rng: Arc::new(Mutex::new(DropoutRng { seed: rng.next_u64(), calls: 0 })) }
    }

    /// The drop probability.
    pub fn prob(&self) -> f64 {
        self.prob
    }

    /// Masks drawn so far: the generator's state.
    pub fn rng_state(&self) -> u64 {
        self.lock().calls
    }

    /// Restores a state read with [`rng_state`](Dropout::rng_state). Clones of this
    /// layer share the generator, so they all continue from there.
    pub fn set_rng_state(&self, calls: u64) {
        self.lock().calls = calls;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DropoutRng> {
        // A poisoned lock only means another thread panicked mid-draw; the
        // generator state is still a valid state.
        self.rng.lock().unwrap_or_else(|e| e.into_inner())
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
        let mut rng = {
            let mut state = self.lock();
            state.calls += 1;
            SeededRng::derive(state.seed, state.calls)
        };
        let mask: Vec<f32> =
            (0..shape.num_elements()).map(|_| if rng.next_f64() < keep { scale } else { 0.0 }).collect();
        // A tensor made from data is a constant of the graph: no gradient flows into it.
        let mask = Tensor::<D>::from_data(TensorData::new(mask, shape), &x.device());
        x * mask
    }
}
