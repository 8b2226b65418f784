//! Data-parallel scaling benchmark: MLP 784-256-128-10 (or with `--model cnn` the
//! MNIST CNN of `examples/configs/mnist_cnn.toml`), Adam (lr 1e-3),
//! seeded synthetic 60 000 × 784 data (`anneal_data::batch::linear_teacher`, as
//! `examples/reference/mlp_train.py`), through `Trainer::fit` on flex.
//!
//! Configurations, each `--repeats` times after one discarded warm-up round,
//! interleaved so a change of load hits all alike; one JSON line each with the
//! median samples/s:
//! - `replicas=1 threads=1 batch=256`: the single-thread baseline;
//! - `replicas=2 threads=1 batch=256` (weak scaling: global batch 512);
//! - `replicas=2 threads=1 batch=256 solo` (two replicas at once without
//!   an exchange, each over all the rows: the ceiling of weak scaling);
//! - `replicas=2 threads=1 batch=128` (strong scaling: global batch 256);
//! - `replicas=1 threads=2 batch=256` (intra-op parallelism instead).
//!
//! With `--mpi` (under `mpirun -np N`), each rank is one single-threaded replica
//! at `--batch 256` over MPI, and rank 0 prints one line.
//!
//! With `--allreduce` (threads: `--replicas 2`; or under `mpirun` with `--mpi`),
//! the gradient all-reduce alone against message size, one JSON line per size;
//! on threads also through the trait's default staged path for comparison.
//!
//! Run through `cargo xtask bench distributed`. Arguments: `--epochs 1 --repeats 3 --n 60000
//! --configs 1x1x256,2x1x256,2x1x256s,2x1x128,1x2x256` (replicas × threads per replica × local
//! batch; a trailing `s`: solo replicas).

use std::time::{Duration, Instant};

#[path = "shared/models.rs"]
mod models;

/// The allocator the `anneal` program uses (see the workspace manifest).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anneal_data::dataset::ShuffledBatches;
use anneal_data::{LastBatch, Sharded};
use anneal_distributed::{Collective, GradientSync, ThreadReplicas};
use anneal_models::ModelConfig;
use anneal_optim::OptimizerConfig;
use anneal_train::{Progress, TrainConfig, Trainer};
use burn::prelude::Device;

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: usize| {
        argv.iter()
            .position(|a| a == name)
            .and_then(|i| argv.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (epochs, repeats, n) = (flag("--epochs", 1), flag("--repeats", 3), flag("--n", 60_000));
    let data = anneal_data::batch::linear_teacher(n, 784, 10, 0).expect("valid shapes");
    // `--model cnn`: the MNIST CNN of examples/configs/mnist_cnn.toml on the same
    // rows read as 28×28 images (Adam 1e-3 as its reference).
    let model = match argv.iter().position(|a| a == "--model").and_then(|i| argv.get(i + 1)).map(String::as_str) {
        Some("cnn") => models::mnist_cnn(),
        _ => models::mlp(),
    };
    if argv.iter().any(|a| a == "--allreduce") {
        if argv.iter().any(|a| a == "--mpi") {
            #[cfg(feature = "mpi")]
            {
                let collective = anneal_distributed::MpiCollective::init(Duration::from_secs(600)).expect("MPI starts");
                let rank = collective.rank();
                let (_, lines) = allreduce_times(collective, "mpi");
                if rank == 0 {
                    lines.iter().for_each(|l| println!("{l}"));
                }
                return;
            }
            #[cfg(not(feature = "mpi"))]
            panic!("--mpi needs the benchmark built with the `mpi` feature");
        }
        let world = flag("--replicas", 2);
        let runner = ThreadReplicas { replicas: world, threads_per_replica: 1, timeout: Duration::from_secs(600) };
        let lines = runner
            .run(|c| {
                let (c, mut lines) = allreduce_times(c, "threads");
                // The same group through the trait's default (host buffers,
                // buckets, the bucket summed under the group's lock), as MPI
                // does it, for comparison.
                let (Staged(c), staged) = allreduce_times(Staged(c), "threads-staged");
                lines.extend(staged);
                c.finish();
                Ok(lines)
            })
            .expect("the all-reduce runs");
        lines[0].iter().for_each(|l| println!("{l}"));
        return;
    }
    if argv.iter().any(|a| a == "--mpi") {
        #[cfg(feature = "mpi")]
        return mpi_ranks(&data, &model, epochs, repeats, flag("--batch", 256));
        #[cfg(not(feature = "mpi"))]
        panic!("--mpi needs the benchmark built with the `mpi` feature");
    }
    // `--configs 1x1x256,2x1x256`: replicas × threads per replica × local batch;
    // a trailing `s` (`2x1x256s`): that many solo replicas at once, each in a
    // world of its own over all the rows (no exchange: the ceiling of weak
    // scaling on these cores).
    let configs: Vec<(usize, usize, usize, bool)> = argv
        .iter()
        .position(|a| a == "--configs")
        .and_then(|i| argv.get(i + 1))
        .map_or("1x1x256,2x1x256,2x1x256s,2x1x128,1x2x256", String::as_str)
        .split(',')
        .map(|c| {
            let solo = c.ends_with('s');
            let v: Vec<usize> =
                c.trim_end_matches('s').split('x').map(|x| x.parse().expect("replicas x threads x batch")).collect();
            (v[0], v[1], v[2], solo)
        })
        .collect();
    let mut runs: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    let mut sync_seconds: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    let mut reduce_seconds: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    // One discarded round first: the first run of a configuration pays for
    // faulting in its memory (as much as a third of an epoch here).
    for round in 0..=repeats {
        for (c, &(replicas, threads, batch, solo)) in configs.iter().enumerate() {
            let start = Instant::now();
            let synced = if solo {
                let alone =
                    ThreadReplicas { replicas: 1, threads_per_replica: threads, timeout: Duration::from_secs(600) };
                std::thread::scope(|s| {
                    let handles: Vec<_> = (0..replicas)
                        .map(|_| {
                            s.spawn(|| {
                                alone.run(|c| {
                                    let (c, _) = train_replica(c, &model, 1, batch, epochs, &data)?;
                                    c.finish();
                                    Ok((0.0, 0.0))
                                })
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().expect("a solo replica").expect("the benchmark trains")[0])
                        .collect::<Vec<_>>()
                })
            } else {
                let runner =
                    ThreadReplicas { replicas, threads_per_replica: threads, timeout: Duration::from_secs(600) };
                runner
                    .run(|collective| {
                        let (collective, stats) = train_replica(collective, &model, replicas, batch, epochs, &data)?;
                        collective.finish();
                        Ok((stats.seconds, stats.reduce_seconds))
                    })
                    .expect("the benchmark trains")
            };
            if round == 0 {
                continue;
            }
            let rows = if solo { replicas * n } else { n };
            runs[c].push((rows * epochs) as f64 / start.elapsed().as_secs_f64());
            sync_seconds[c].push(synced[0].0);
            reduce_seconds[c].push(synced[0].1);
        }
    }
    // The 2-core limit: single-thread f32 GEMM throughput at the MLP's first-layer
    // shape (batch 256 × 784 × 256), measured here, × 2 cores ÷ the training FLOPs
    // per sample (the forward pass's 234 048 multiply-adds, 2 FLOPs each, and
    // the backward pass's two products per layer: 3 × 2 × 234 048 ≈ 1.4 MFLOP).
    let gemm = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a thread").install(|| {
        use burn::prelude::*;
        let device = Device::flex();
        let a = Tensor::<2>::ones([256, 784], &device);
        let b = Tensor::<2>::ones([784, 256], &device);
        let _ = a.clone().matmul(b.clone()).into_data();
        let reps = 200;
        let start = Instant::now();
        for _ in 0..reps {
            let _ = a.clone().matmul(b.clone()).into_data();
        }
        (2.0 * 256.0 * 784.0 * 256.0 * reps as f64) / start.elapsed().as_secs_f64()
    });
    let flops_per_sample = 3.0 * 2.0 * (784.0 * 256.0 + 256.0 * 128.0 + 128.0 * 10.0);
    println!(
        "{}",
        serde_json::json!({
            "gemm_gflops_1_thread": gemm / 1e9,
            "training_flops_per_sample": flops_per_sample,
            "two_core_limit_samples_per_s": 2.0 * gemm / flops_per_sample,
        })
    );
    for (c, &(replicas, threads, batch, solo)) in configs.iter().enumerate() {
        println!(
            "{}",
            serde_json::json!({
                "replicas": replicas,
                "solo": solo,
                "threads_per_replica": threads,
                "local_batch": batch,
                "global_batch": replicas * batch,
                "samples_per_s_median": median(runs[c].clone()),
                "runs": runs[c],
                "sync_seconds_median": median(sync_seconds[c].clone()),
                "allreduce_seconds_median": median(reduce_seconds[c].clone()),
            })
        );
    }
}

/// Replicas as MPI ranks: `repeats` runs of `epochs` epochs, each rank one
/// single-threaded replica at `batch` rows; rank 0 prints the median samples/s.
#[cfg(feature = "mpi")]
fn mpi_ranks(data: &anneal_data::ClassificationData, model: &ModelConfig, epochs: usize, repeats: usize, batch: usize) {
    use anneal_distributed::MpiCollective;
    let mut collective = MpiCollective::init(Duration::from_secs(600)).expect("MPI starts");
    let world = collective.world();
    let n = anneal_data::Dataset::len(data);
    let mut runs = Vec::new();
    let mut synced = Vec::new();
    // One discarded run first, as on threads.
    for round in 0..=repeats {
        collective.barrier().expect("barrier");
        let start = Instant::now();
        // One compute thread per rank: `RAYON_NUM_THREADS=1` (set by xtask).
        let (c, stats) = train_replica(collective, model, world, batch, epochs, data).expect("training");
        let seconds = stats.reduce_seconds;
        collective = c;
        collective.barrier().expect("barrier");
        if round > 0 {
            runs.push((n * epochs) as f64 / start.elapsed().as_secs_f64());
            synced.push(seconds);
        }
    }
    if collective.rank() == 0 {
        println!(
            "{}",
            serde_json::json!({
                "mpi_ranks": world,
                "local_batch": batch,
                "global_batch": world * batch,
                "samples_per_s_median": median(runs.clone()),
                "runs": runs,
                "allreduce_seconds_median": median(synced),
            })
        );
    }
}

/// One replica of `world` at `batch` rows: `model` (seed 0), Adam 1e-3, the
/// global batches of the run's seed sharded by the collective's rank.
fn train_replica<C: Collective>(
    collective: C,
    model: &ModelConfig,
    world: usize,
    batch: usize,
    epochs: usize,
    data: &anneal_data::ClassificationData,
) -> Result<(C, anneal_distributed::SyncStats), anneal_train::TrainError> {
    let rank = collective.rank();
    let device = Device::flex();
    let model = model.init(0, &device.clone().autodiff())?;
    let mut optimizer = OptimizerConfig::adam(1e-3).init()?;
    let global = world * batch;
    let sampler = ShuffledBatches { batch_size: global, seed: 0, last: LastBatch::Keep };
    let mut sync = GradientSync::new(collective);
    Trainer::new(TrainConfig::new(epochs, global), device)
        .with_progress(Progress::Silent)
        .with_sampler(Sharded::new(sampler, rank, world)?)
        .with_hook(&mut sync)
        .fit(model, &mut optimizer, data, None)?;
    let stats = sync.stats();
    Ok((sync.into_collective(), stats))
}

/// The gradient all-reduce alone ([`Collective::all_reduce_mean`] of one
/// tensor, as `GradientSync` calls it) at sizes from 256 values to 4 Mi values
/// (16 MiB): the median seconds of one operation on this replica, one JSON line
/// per size. The MLP's gradients are 235 146 values.
fn allreduce_times<C: Collective>(mut collective: C, transport: &str) -> (C, Vec<serde_json::Value>) {
    use burn::prelude::*;
    let device = Device::flex();
    let world = collective.world();
    let mut lines = Vec::new();
    for exp in (8..=22).step_by(2) {
        let n = 1usize << exp;
        let reps = (1usize << 26 >> exp).clamp(20, 2000);
        let mut times = Vec::with_capacity(reps);
        let mut tensor = Tensor::<1>::ones([n], &device);
        for rep in 0..reps + 5 {
            let start = Instant::now();
            let mut out = collective.all_reduce_mean(vec![tensor], 1.0, usize::MAX).expect("the all-reduce");
            tensor = out.pop().expect("one tensor");
            if rep >= 5 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
        lines.push(serde_json::json!({
            "transport": transport,
            "world": world,
            "values": n,
            "bytes": 4 * n,
            "seconds_median": median(times.clone()),
            "seconds_min": times.iter().copied().fold(f64::INFINITY, f64::min),
        }));
    }
    (collective, lines)
}

/// A collective that forwards everything but
/// [`all_reduce_mean`](Collective::all_reduce_mean), which stays the trait's
/// default.
struct Staged<C>(C);

impl<C: Collective> Collective for Staged<C> {
    fn rank(&self) -> usize {
        self.0.rank()
    }
    fn world(&self) -> usize {
        self.0.world()
    }
    fn all_reduce_sum(&mut self, buf: &mut [f32]) -> anneal_distributed::Result<()> {
        self.0.all_reduce_sum(buf)
    }
    fn all_reduce_sum_many(&mut self, bufs: &mut [&mut [f32]]) -> anneal_distributed::Result<()> {
        self.0.all_reduce_sum_many(bufs)
    }
    fn broadcast(&mut self, buf: &mut [f32], root: usize) -> anneal_distributed::Result<()> {
        self.0.broadcast(buf, root)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
