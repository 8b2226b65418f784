//! Quasi-random search: a scrambled Sobol sequence.

use std::collections::BTreeMap;

use super::sobol_table::{MAX_DIMS, POLY, VINIT};
use super::{SampleContext, Sampler};
use crate::error::{HpoError, Result};
use crate::space::Distribution;
use anneal_core::SeededRng;

const BITS: usize = 32;

/// Sobol low-discrepancy points (Joe-Kuo direction numbers, up to 256 dimensions), with
/// Owen-style linear matrix scrambling and a random digital shift drawn from the seed.
/// Trial `n` gets point `n`, so parallel workers never share a point.
///
/// Covers the space more evenly than random search for the same budget; like random search
/// it ignores the results, so it suits exploratory sweeps and warm-up designs. Only the
/// jointly sampled parameters follow the sequence (the declared space's parameters, each
/// its own dimension); others are drawn at random.
#[derive(Debug, Clone)]
pub struct SobolSampler {
    seed: u64,
    scramble: bool,
}

impl SobolSampler {
    /// A scrambled Sobol sampler.
    pub fn new(seed: u64) -> Self {
        Self { seed, scramble: true }
    }

    /// The plain (unscrambled) sequence, point 0 being the origin: for tests and for
    /// comparing with published tables.
    pub fn unscrambled() -> Self {
        Self { seed: 0, scramble: false }
    }

    /// Point `index` of the `dims`-dimensional sequence, each coordinate in `[0, 1)`.
    pub fn point(&self, index: u64, dims: usize) -> Result<Vec<f64>> {
        Ok(self.points(index, 1, dims)?.pop().unwrap_or_default())
    }

    /// Points `start..start + count` of the `dims`-dimensional sequence.
    pub fn points(&self, start: u64, count: usize, dims: usize) -> Result<Vec<Vec<f64>>> {
        if dims > MAX_DIMS {
            return Err(HpoError::TooManyDimensions { dims, max: MAX_DIMS });
        }
        let mut rng = SeededRng::derive_pair(self.seed, 0x0073_6F62_6F6C, 0);
        let table: Vec<([u32; BITS], u32)> = (0..dims)
            .map(|d| {
                let mut v = directions(d);
                let mut shift = 0u32;
                if self.scramble {
                    // Linear matrix scramble: a random lower-triangular bit matrix with unit
                    // diagonal applied to every direction number, then a digital shift.
                    let rows: Vec<u32> = (0..BITS)
                        .map(|i| {
                            let below = if i == 0 { 0 } else { (rng.next_u64() as u32) & (u32::MAX << (BITS - i)) };
                            below | (1u32 << (BITS - 1 - i))
                        })
                        .collect();
                    for x in v.iter_mut() {
                        let mut out = 0u32;
                        for (i, row) in rows.iter().enumerate() {
                            if (row & *x).count_ones() % 2 == 1 {
                                out |= 1 << (BITS - 1 - i);
                            }
                        }
                        *x = out;
                    }
                    shift = rng.next_u64() as u32;
                }
                (v, shift)
            })
            .collect();
        Ok((start..start + count as u64)
            .map(|index| {
                let gray = index ^ (index >> 1);
                table
                    .iter()
                    .map(|(v, shift)| {
                        let mut x = *shift;
                        for (j, vj) in v.iter().enumerate() {
                            if (gray >> j) & 1 == 1 {
                                x ^= vj;
                            }
                        }
                        x as f64 / 4_294_967_296.0
                    })
                    .collect()
            })
            .collect())
    }
}

/// The 32 direction numbers of dimension `d` (bit 31 = first binary digit).
fn directions(d: usize) -> [u32; BITS] {
    let mut m = [0u32; BITS];
    if d == 0 {
        m = [1; BITS];
    } else {
        let p = POLY[d];
        let deg = (32 - p.leading_zeros() - 1) as usize;
        m[..deg].copy_from_slice(&VINIT[d][..deg]);
        for j in deg..BITS {
            let mut new = m[j - deg] ^ (m[j - deg] << deg);
            for k in 1..deg {
                if (p >> (deg - k)) & 1 == 1 {
                    new ^= m[j - k] << k;
                }
            }
            m[j] = new;
        }
    }
    let mut v = [0u32; BITS];
    for j in 0..BITS {
        v[j] = m[j] << (BITS - 1 - j);
    }
    v
}

impl Sampler for SobolSampler {
    fn name(&self) -> &'static str {
        "sobol"
    }

    fn sample_relative(
        &self,
        ctx: &SampleContext<'_>,
        params: &[(String, Distribution)],
    ) -> Result<BTreeMap<String, f64>> {
        let dims: Vec<(String, Distribution)> = match ctx.space {
            Some(space) => space.params().iter().map(|p| (p.name.clone(), p.distribution.clone())).collect(),
            None => params.to_vec(),
        };
        if dims.is_empty() {
            return Ok(BTreeMap::new());
        }
        let u = self.point(ctx.number, dims.len())?;
        Ok(dims.iter().zip(u).map(|((n, d), u)| (n.clone(), d.from_unit(u))).collect())
    }

    fn sample_independent(&self, ctx: &SampleContext<'_>, name: &str, distribution: &Distribution) -> Result<f64> {
        Ok(super::RandomSampler::draw(self.seed, ctx.number, name, distribution))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unscrambled_points_match_scipy() {
        // scipy 1.17: qmc.Sobol(d=6, scramble=False).random(8)
        let expected = [
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
            [0.75, 0.25, 0.25, 0.25, 0.75, 0.75],
            [0.25, 0.75, 0.75, 0.75, 0.25, 0.25],
            [0.375, 0.375, 0.625, 0.875, 0.375, 0.125],
            [0.875, 0.875, 0.125, 0.375, 0.875, 0.625],
            [0.625, 0.125, 0.875, 0.625, 0.625, 0.875],
            [0.125, 0.625, 0.375, 0.125, 0.125, 0.375],
        ];
        let s = SobolSampler::unscrambled();
        for (i, row) in expected.iter().enumerate() {
            assert_eq!(s.point(i as u64, 6).unwrap(), row.to_vec(), "point {i}");
        }
        // x = qmc.Sobol(d=40, scramble=False).random(16); x[5][30:40], x[15][20:25]
        let p5 = s.point(5, 40).unwrap();
        assert_eq!(&p5[30..40], &[0.875, 0.625, 0.375, 0.375, 0.125, 0.125, 0.125, 0.375, 0.875, 0.375]);
        let p15 = s.point(15, 40).unwrap();
        assert_eq!(&p15[20..25], &[0.8125, 0.8125, 0.5625, 0.8125, 0.3125]);
    }

    #[test]
    fn scrambled_points_stay_stratified() {
        // Any scrambled Sobol net keeps the (0, m, 1) property per coordinate: the first
        // 2^m points fall one in each interval of width 2^-m.
        let s = SobolSampler::new(7);
        for d in [0, 1, 5, 20, 255] {
            let mut cells: Vec<usize> = (0..64).map(|i| (s.point(i, d + 1).unwrap()[d] * 64.0) as usize).collect();
            cells.sort_unstable();
            assert_eq!(cells, (0..64).collect::<Vec<_>>(), "dimension {d}");
        }
        assert!(matches!(s.point(0, 257), Err(HpoError::TooManyDimensions { .. })));
    }
}
