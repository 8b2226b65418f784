//! How training scales beyond the machine it was measured on: the α + β·n
//! cost of a message, fitted to measured times; ring all-reduce and GPipe's
//! schedule modelled from it; and the scaling efficiency they predict for a
//! model whose single-worker speed was measured.
//!
//! ```
//! use anneal_distributed::scaling::{LinearCost, ModelCost, data_parallel_efficiency, ring_all_reduce};
//!
//! // 10 µs and 1 GB/s: α = 1e-5 s, β = 1e-9 s per byte.
//! let link = LinearCost::fit(&[(1e3, 1.1e-5), (1e6, 1.01e-3), (1e7, 1.001e-2)]).unwrap();
//! assert!((link.alpha - 1e-5).abs() < 1e-6 && (link.beta - 1e-9).abs() < 1e-11);
//! // Two workers send each byte once each way: 2·(p − 1)/p·n·β + 2·(p − 1)·α.
//! assert!((ring_all_reduce(2, 1e6, &link, 0.0) - (1e6 * 1e-9 + 2e-5)).abs() < 1e-12);
//! let mlp = ModelCost {
//!     seconds_per_sample: 1e-5,
//!     parameters: 250_000,
//!     batch: 256,
//!     activation_values_per_sample: 256.0,
//!     small_batches: vec![],
//! };
//! let e = data_parallel_efficiency(&mlp, 8, &link, 0.0);
//! assert!(e > 0.0 && e < 1.0);
//! ```

use serde::{Deserialize, Serialize};

/// A message's time as `alpha + beta · bytes`: latency and inverse bandwidth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearCost {
    /// Seconds per message (latency).
    pub alpha: f64,
    /// Seconds per byte (1 / bandwidth).
    pub beta: f64,
}

impl LinearCost {
    /// The line through measured `(bytes, seconds)` points that minimises the
    /// squared *relative* error (each point weighted by `1/seconds²`), so that
    /// the microsecond latencies of small messages count as much as the
    /// milliseconds of large ones. `None` with fewer than two distinct sizes.
    /// A negative intercept or slope (noise) is clamped to 0.
    pub fn fit(points: &[(f64, f64)]) -> Option<Self> {
        let points: Vec<(f64, f64)> =
            points.iter().copied().filter(|&(n, t)| n.is_finite() && t.is_finite() && t > 0.0).collect();
        // Weighted least squares: minimise Σ w (t − α − β n)², w = 1 / t².
        let (mut sw, mut swn, mut swnn, mut swt, mut swnt) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &(n, t) in &points {
            let w = 1.0 / (t * t);
            sw += w;
            swn += w * n;
            swnn += w * n * n;
            swt += w * t;
            swnt += w * n * t;
        }
        let det = sw * swnn - swn * swn;
        if points.len() < 2 || det.abs() <= f64::EPSILON * sw * swnn {
            return None;
        }
        let beta = (sw * swnt - swn * swt) / det;
        let alpha = (swt - beta * swn) / sw;
        Some(Self { alpha: alpha.max(0.0), beta: beta.max(0.0) })
    }

    /// The time of one message of `bytes`.
    pub fn time(&self, bytes: f64) -> f64 {
        self.alpha + self.beta * bytes
    }

    /// Bandwidth in gigabytes per second (`1 / β`).
    pub fn gigabytes_per_second(&self) -> f64 {
        if self.beta > 0.0 { 1e-9 / self.beta } else { f64::INFINITY }
    }
}

/// A network between workers, by its point-to-point cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Its name.
    pub name: String,
    /// Point-to-point α and β.
    pub link: LinearCost,
    /// Where the figures come from (measured here, or a specification).
    pub source: String,
}

/// The networks of the scaling model: `measured` (this machine's point-to-point
/// fit, named by the caller) first, then Ethernet at 10, 25 and 100 Gb/s and
/// InfiniBand HDR (200 Gb/s) from their line rates, with the typical MPI
/// latencies stated beside them (a latency is not part of a line-rate
/// specification: these are assumptions, not measurements).
pub fn networks(measured: Vec<Network>) -> Vec<Network> {
    let spec = |name: &str, gbit: f64, latency_us: f64| Network {
        name: name.into(),
        link: LinearCost { alpha: latency_us * 1e-6, beta: 8.0 / (gbit * 1e9) },
        source: format!("line rate {gbit} Gb/s (specification); latency {latency_us} µs assumed (typical MPI)"),
    };
    measured
        .into_iter()
        .chain([
            spec("10 Gb/s Ethernet", 10.0, 20.0),
            spec("25 Gb/s Ethernet", 25.0, 10.0),
            spec("100 Gb/s Ethernet", 100.0, 5.0),
            spec("InfiniBand HDR", 200.0, 1.0),
        ])
        .collect()
}

/// The time of a ring all-reduce of `bytes` over `p` workers: each sends and
/// receives `2 (p − 1) / p` of the buffer in `2 (p − 1)` steps
/// (reduce-scatter, then all-gather), and adds up `(p − 1) / p` of it:
/// `2(p − 1)/p · n · β + 2(p − 1) · α + (p − 1)/p · n · γ`, where `reduce`
/// is γ, the seconds per byte of that addition (memory-bound on a CPU).
pub fn ring_all_reduce(p: usize, bytes: f64, link: &LinearCost, reduce: f64) -> f64 {
    if p < 2 {
        return 0.0;
    }
    let p = p as f64;
    2.0 * (p - 1.0) / p * bytes * link.beta + 2.0 * (p - 1.0) * link.alpha + (p - 1.0) / p * bytes * reduce
}

/// γ of [`ring_all_reduce`] from two fits on the same machine: a 2-worker
/// all-reduce (`n·β + 2α + n·γ/2` in the ring model) and the point-to-point
/// link, `γ = 2 (β_all-reduce − β_link)` (0 when the all-reduce is no slower
/// per byte than a message).
pub fn reduce_cost(all_reduce_2: &LinearCost, link: &LinearCost) -> f64 {
    (2.0 * (all_reduce_2.beta - link.beta)).max(0.0)
}

/// What the scaling model needs to know about a model, measured on one worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCost {
    /// Training seconds per sample on one worker (forward, backward, update).
    pub seconds_per_sample: f64,
    /// Parameters (the all-reduce sends one `f32` gradient per parameter).
    pub parameters: usize,
    /// Samples per worker per step.
    pub batch: usize,
    /// Activation values per sample that cross a cut between stages (the
    /// gradient sent back has as many).
    pub activation_values_per_sample: f64,
    /// Training seconds per sample measured at smaller batches `(rows,
    /// seconds)`: a pipeline's micro-batches run at these rates (a small batch
    /// uses the cores less well). Empty: every batch at `seconds_per_sample`.
    #[serde(default)]
    pub small_batches: Vec<(usize, f64)>,
}

impl ModelCost {
    /// Seconds per sample at batches of `rows`: the measured rate of the
    /// largest measured batch not above `rows`; below every measured batch,
    /// the smallest one's (an optimistic guess: smaller batches are slower
    /// still); `seconds_per_sample` at `batch` and above, or when nothing
    /// smaller was measured.
    pub fn seconds_per_sample_at(&self, rows: usize) -> f64 {
        if rows >= self.batch {
            return self.seconds_per_sample;
        }
        let below = self.small_batches.iter().filter(|&&(r, _)| r <= rows).max_by_key(|&&(r, _)| r);
        let smallest = self.small_batches.iter().min_by_key(|&&(r, _)| r);
        below.or(smallest).map_or(self.seconds_per_sample, |&(_, s)| s)
    }
}

/// Data-parallel efficiency at `p` workers (weak scaling, `batch` each): one
/// worker's step time over the step time with the gradients' ring all-reduce
/// after the backward pass (Anneal's `GradientSync` does not overlap them).
/// `reduce` is γ of [`ring_all_reduce`].
pub fn data_parallel_efficiency(model: &ModelCost, p: usize, link: &LinearCost, reduce: f64) -> f64 {
    let compute = model.seconds_per_sample * model.batch as f64;
    compute / (compute + ring_all_reduce(p, 4.0 * model.parameters as f64, link, reduce))
}

/// Pipeline efficiency of `stages` equal stages with `micro_batches`
/// micro-batches, against `stages` times one worker's speed on the whole
/// batch: every stage-step of GPipe's `M + S − 1` takes `1/S` of a
/// micro-batch's compute (at the micro-batch's own measured rate,
/// [`ModelCost::seconds_per_sample_at`]) plus, between stages, an activation
/// sent forward and its gradient sent back.
pub fn pipeline_efficiency(model: &ModelCost, stages: usize, micro_batches: usize, link: &LinearCost) -> f64 {
    let (s, m) = (stages.max(1) as f64, micro_batches.max(1) as f64);
    let compute = model.seconds_per_sample * model.batch as f64;
    let rows = (model.batch / micro_batches.max(1)).max(1);
    let micro = model.seconds_per_sample_at(rows) * rows as f64;
    let message = 4.0 * model.activation_values_per_sample * rows as f64;
    let comm = if stages > 1 { 2.0 * link.time(message) } else { 0.0 };
    let step = (m + s - 1.0) * (micro / s + comm);
    compute / (s * step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_recovers_a_line_and_refuses_one_point() {
        let link = LinearCost { alpha: 3e-6, beta: 2.5e-10 };
        let points: Vec<(f64, f64)> = (8..24).map(|e| 2f64.powi(e)).map(|n| (n, link.time(n))).collect();
        let fit = LinearCost::fit(&points).unwrap();
        assert!((fit.alpha - 3e-6).abs() < 1e-12 && (fit.beta - 2.5e-10).abs() < 1e-18, "{fit:?}");
        assert!((fit.gigabytes_per_second() - 4.0).abs() < 1e-6);
        assert!(LinearCost::fit(&[(1e3, 1e-5)]).is_none());
        assert!(LinearCost::fit(&[(1e3, 1e-5), (1e3, 2e-5)]).is_none());
    }

    #[test]
    fn ring_all_reduce_follows_its_formula() {
        let link = LinearCost { alpha: 1e-6, beta: 1e-9 };
        assert_eq!(ring_all_reduce(1, 1e6, &link, 1e-9), 0.0);
        // p = 4: 1.5 n β + 6 α, plus 0.75 n γ.
        assert!((ring_all_reduce(4, 1e6, &link, 0.0) - (1.5e-3 + 6e-6)).abs() < 1e-15);
        assert!((ring_all_reduce(4, 1e6, &link, 2e-9) - (1.5e-3 + 6e-6 + 1.5e-3)).abs() < 1e-15);
        // The bandwidth term approaches 2 n β as p grows; the latency term grows with p.
        assert!((ring_all_reduce(64, 1e6, &link, 0.0) - (2.0 * 63.0 / 64.0 * 1e-3 + 126e-6)).abs() < 1e-15);
        // γ from a 2-worker all-reduce measured at n β + 2 α + n γ / 2.
        let all_reduce = LinearCost { alpha: 2e-6, beta: 2e-9 };
        assert!((reduce_cost(&all_reduce, &link) - 2e-9).abs() < 1e-20);
        assert_eq!(reduce_cost(&link, &all_reduce), 0.0);
    }

    #[test]
    fn efficiencies_are_one_without_communication_and_fall_with_it() {
        let free = LinearCost { alpha: 0.0, beta: 0.0 };
        let mut m = ModelCost {
            seconds_per_sample: 1e-4,
            parameters: 1_000_000,
            batch: 64,
            activation_values_per_sample: 1e3,
            small_batches: vec![],
        };
        assert_eq!(data_parallel_efficiency(&m, 64, &free, 0.0), 1.0);
        // The pipeline without communication is GPipe's bubble: M / (M + S − 1).
        assert!((pipeline_efficiency(&m, 4, 8, &free) - 8.0 / 11.0).abs() < 1e-12);
        assert!((pipeline_efficiency(&m, 1, 8, &free) - 1.0).abs() < 1e-12);
        let slow = LinearCost { alpha: 1e-5, beta: 1e-9 };
        let (e2, e64) = (data_parallel_efficiency(&m, 2, &slow, 0.0), data_parallel_efficiency(&m, 64, &slow, 0.0));
        assert!(e64 < e2 && e2 < 1.0);
        assert!(pipeline_efficiency(&m, 4, 8, &slow) < 8.0 / 11.0);
        // Micro-batches of 8 rows that run at half the speed halve the efficiency.
        m.small_batches = vec![(8, 2e-4), (32, 1.5e-4)];
        assert_eq!(m.seconds_per_sample_at(8), 2e-4);
        assert_eq!(m.seconds_per_sample_at(16), 2e-4);
        assert_eq!(m.seconds_per_sample_at(64), 1e-4);
        assert_eq!(m.seconds_per_sample_at(4), 2e-4);
        assert!((pipeline_efficiency(&m, 4, 8, &free) - 4.0 / 11.0).abs() < 1e-12);
    }
}
