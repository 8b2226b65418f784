//! Dropout with its own seeded generator, so a model's masks depend only on its seed.
//!
//! burn's `Dropout` draws from the backend's process-wide generator: two models
//! training at once in one process (parallel tests, parallel tuning trials) would
//! interleave their draws and lose run-to-run determinism.

use std::sync::{Arc, Mutex};

use anneal_data::SeededRng;
use burn::prelude::*;
use rayon::prelude::*;

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
        let rng = {
            let mut state = self.lock();
            state.calls += 1;
            SeededRng::derive(state.seed, state.calls)
        };
        // Element `i` keeps when the stream's `i`-th `next_f64()` is below `keep`,
        // tested without the float (its top 53 bits below `keep · 2^53`) and in
        // parallel pieces: the same mask as drawing them one by one.
        let below = (keep * (1u64 << 53) as f64).ceil() as u64;
        let mut mask = vec![0.0f32; shape.num_elements()];
        const PIECE: usize = 1 << 15;
        mask.par_chunks_mut(PIECE).enumerate().for_each(|(piece, chunk)| {
            let start = (piece * PIECE) as u64;
            for (i, m) in (start..).zip(chunk.iter_mut()) {
                if rng.peek_u64(i) >> 11 < below {
                    *m = scale;
                }
            }
        });
        // A tensor made from data is a constant of the graph: no gradient flows into it.
        let mask = Tensor::<D>::from_data(TensorData::new(mask, shape), &x.device());
        x * mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mask is the definition drawn one element at a time: element `i` of
    /// the `n`-th call survives (scaled by 1/keep) when the `i`-th `next_f64()` of
    /// `SeededRng::derive(seed, n)` is below `keep`; over several pieces of the
    /// parallel fill, and in evaluation the layer is the identity.
    #[test]
    fn masks_are_the_sequential_definition_and_eval_is_identity() {
        let device = Device::flex().autodiff();
        let n = 100_003; // four pieces and a ragged end
        let dropout = Dropout::new(0.3, SeededRng::new(11));
        let seed = dropout.lock().seed;
        let ones = Tensor::<1>::ones([n], &device);
        for call in 1..=2u64 {
            let out = dropout.forward(ones.clone()).into_data().try_to_vec::<f32>().unwrap();
            let mut rng = SeededRng::derive(seed, call);
            let scale = (1.0 / 0.7f64) as f32;
            for (i, &v) in out.iter().enumerate() {
                let want = if rng.next_f64() < 0.7 { scale } else { 0.0 };
                assert_eq!(v, want, "call {call}, element {i}");
            }
            let kept = out.iter().filter(|&&v| v > 0.0).count() as f64 / n as f64;
            assert!((kept - 0.7).abs() < 0.01, "kept {kept}");
        }
        assert_eq!(dropout.rng_state(), 2);
        let plain = Tensor::<1>::ones([5], &Device::flex());
        assert_eq!(dropout.forward(plain).into_data().try_to_vec::<f32>().unwrap(), vec![1.0; 5]);
    }
}
