//! Integration tests of the training loop's public API.

mod loop_behaviour;
mod parity;

use anneal_data::{ClassificationData, SeededRng};

/// A seeded three-class problem: points around three centres in `d` dimensions.
pub fn blobs(n: usize, d: usize, seed: u64, noise: f64) -> ClassificationData {
    let mut rng = SeededRng::new(seed);
    let centres: Vec<Vec<f64>> = (0..3).map(|_| (0..d).map(|_| rng.normal() * 2.0).collect()).collect();
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % 3;
        x.extend(centres[c].iter().map(|m| (m + noise * rng.normal()) as f32));
        y.push(c);
    }
    ClassificationData::new(x, d, y).unwrap()
}
