//! A small, seeded, portable random number generator (SplitMix64) with named
//! streams.
//!
//! The same seed yields the same stream on every platform and in every version of
//! this crate. Every random choice in Anneal draws from its own [`Stream`] of the
//! run's seed, so adding or removing one use of randomness never shifts another:
//! the split, the initial weights, each layer's dropout masks, each epoch's
//! shuffle and each splitter have streams of their own.

/// Who draws: each use of randomness in the workspace has its own stream of a
/// seed. New uses add a variant (or a [`Named`](Stream::Named) stream), never
/// reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// The train / validation / test hold-out split.
    Split,
    /// Initial weights of a model.
    Init,
    /// Dropout masks of hidden layer `i` (0-based).
    Dropout(u64),
    /// The shuffle of training epoch `e` (1-based).
    Shuffle(u64),
    /// Shuffled k-fold.
    KFold,
    /// Stratified k-fold.
    StratifiedKFold,
    /// Any other use, by a name unique to it (`"hold_back_groups"`) and an index.
    Named(&'static str, u64),
}

impl Stream {
    /// The stream's name and index, which key its generator.
    fn key(self) -> (&'static str, u64) {
        match self {
            Stream::Split => ("split", 0),
            Stream::Init => ("init", 0),
            Stream::Dropout(i) => ("dropout", i),
            Stream::Shuffle(e) => ("shuffle", e),
            Stream::KFold => ("k_fold", 0),
            Stream::StratifiedKFold => ("stratified_k_fold", 0),
            Stream::Named(name, i) => (name, i),
        }
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): a 64-bit generator that passes BigCrush and
/// is fully determined by its seed.
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

/// SplitMix64's increment (Steele et al. 2014): the state after `n` draws is `seed + n·γ`.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function of a state.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SeededRng {
    /// A generator whose whole stream is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The generator of `stream` of `seed`.
    pub fn stream(seed: u64, stream: Stream) -> Self {
        let (name, index) = stream.key();
        Self::derive_pair(seed, hash_str(name), index)
    }

    /// A generator for the sub-stream `stream` of `seed` (a plain index; prefer
    /// [`SeededRng::stream`], whose names cannot collide by accident).
    pub fn derive(seed: u64, stream: u64) -> Self {
        let mut base = Self::new(seed ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        Self::new(base.next_u64())
    }

    /// An independent generator for `(seed, a, b)`: the samplers of `anneal-hpo`
    /// derive one per trial and parameter, so a suggestion does not depend on what
    /// else ran before.
    pub fn derive_pair(seed: u64, a: u64, b: u64) -> Self {
        let mut r = Self::new(seed ^ a.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ b.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        Self::new(r.next_u64())
    }

    /// The generator's whole state: `SeededRng::new(rng.state())` continues
    /// exactly where `rng` is (for checkpoints of generators that live long,
    /// such as an environment's).
    pub fn state(&self) -> u64 {
        self.state
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }

    /// What the `n`-th call of [`next_u64`](Self::next_u64) from here would
    /// return (`n = 0`: the next), without drawing. A draw depends only on its
    /// position, so a long run of them can be made in parallel pieces:
    ///
    /// ```
    /// use anneal_core::SeededRng;
    /// let mut rng = SeededRng::new(7);
    /// let ahead: Vec<u64> = (0..4).map(|n| rng.peek_u64(n)).collect();
    /// rng.skip(2);
    /// assert_eq!(rng.next_u64(), ahead[2]);
    /// ```
    pub fn peek_u64(&self, n: u64) -> u64 {
        mix(self.state.wrapping_add(n.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA)))
    }

    /// Moves past `n` draws, as `n` calls of [`next_u64`](Self::next_u64) would.
    pub fn skip(&mut self, n: u64) {
        self.state = self.state.wrapping_add(n.wrapping_mul(GOLDEN_GAMMA));
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `0..n`, without modulo bias.
    ///
    /// # Panics
    /// If `n` is zero.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no valid result");
        // Lemire's nearly-divisionless method.
        let mut m = (self.next_u64() as u128) * (n as u128);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = (self.next_u64() as u128) * (n as u128);
            }
        }
        (m >> 64) as u64
    }

    /// A standard normal draw (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A Gamma(`shape`, 1) draw, `shape > 0` (Marsaglia & Tsang 2000; shapes below 1
    /// boosted by `U^(1/shape)`).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let u = 1.0 - self.next_f64();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = 1.0 - self.next_f64();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// A Beta(`a`, `b`) draw (`a, b > 0`), from two Gamma draws (0.5 in the rare
    /// case that both underflow to 0, which tiny shapes allow).
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        if x + y > 0.0 { x / (x + y) } else { 0.5 }
    }

    /// An index drawn with probability proportional to `weights` (non-negative, not all zero).
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut u = self.next_f64() * total;
        for (i, &w) in weights.iter().enumerate() {
            if u < w {
                return i;
            }
            u -= w;
        }
        weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// A stable 64-bit hash of a string (FNV-1a): names key streams.
pub fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let a: Vec<u64> = (0..5).scan(SeededRng::new(7), |r, _| Some(r.next_u64())).collect();
        let b: Vec<u64> = (0..5).scan(SeededRng::new(7), |r, _| Some(r.next_u64())).collect();
        assert_eq!(a, b);
        // Reference value of SplitMix64 with seed 0 (first output).
        assert_eq!(SeededRng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_ne!(SeededRng::derive_pair(3, 4, 5).next_u64(), SeededRng::derive_pair(3, 5, 4).next_u64());
    }

    #[test]
    fn every_named_stream_is_distinct() {
        let streams = [
            Stream::Split,
            Stream::Init,
            Stream::Dropout(0),
            Stream::Dropout(1),
            Stream::Shuffle(1),
            Stream::Shuffle(2),
            Stream::KFold,
            Stream::StratifiedKFold,
            Stream::Named("hold_back_groups", 0),
        ];
        let firsts: std::collections::BTreeSet<u64> =
            streams.iter().map(|&s| SeededRng::stream(42, s).next_u64()).collect();
        assert_eq!(firsts.len(), streams.len());
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut v: Vec<usize> = (0..100).collect();
        SeededRng::new(3).shuffle(&mut v);
        let mut s = v.clone();
        s.sort_unstable();
        assert_eq!(s, (0..100).collect::<Vec<_>>());
        assert_ne!(v, s);
    }

    #[test]
    fn below_stays_in_range_and_weights_of_zero_are_never_drawn() {
        let mut r = SeededRng::new(1);
        for n in 1..50 {
            assert!(r.below(n) < n);
        }
        for _ in 0..200 {
            assert_ne!(r.weighted(&[1.0, 0.0, 2.0]), 1);
        }
    }

    #[test]
    fn gamma_and_beta_draws_have_their_moments() {
        let mut rng = SeededRng::new(3);
        let n = 20_000;
        let mean = |draws: Vec<f64>| draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean((0..n).map(|_| rng.beta(2.0, 6.0)).collect()) - 0.25).abs() < 0.01);
        assert!((mean((0..n).map(|_| rng.gamma(0.5)).collect()) - 0.5).abs() < 0.02);
        assert!((mean((0..n).map(|_| rng.gamma(3.0)).collect()) - 3.0).abs() < 0.05);
        // Beta(a, a): variance 1 / (4 (2a + 1)).
        for a in [0.2, 1.0, 4.0] {
            let draws: Vec<f64> = (0..n).map(|_| rng.beta(a, a)).collect();
            assert!(draws.iter().all(|d| (0.0..=1.0).contains(d)));
            let m = mean(draws.clone());
            let var = mean(draws.iter().map(|d| (d - m).powi(2)).collect());
            let want = 1.0 / (4.0 * (2.0 * a + 1.0));
            assert!((m - 0.5).abs() < 0.01 && (var - want).abs() < 0.1 * want, "a = {a}: {m}, {var}");
        }
    }
}
