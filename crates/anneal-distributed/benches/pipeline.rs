//! Pipeline and communication benchmark, the measurements of the scaling
//! chapter (run through `cargo xtask bench pipeline`, which also runs it under
//! `mpirun`). One JSON line per measurement.
//!
//! - default (threads of this process): the GPipe bubble. A 2-stage pipeline
//!   of an MLP 512-512-512-512-512-10 cut into halves of equal parameters
//!   (and work), Adam, seeded synthetic rows, global batch 256, for
//!   `M` = 1, 2, 4, 8 micro-batches, `--repeats` times interleaved after a
//!   warm-up round: each stage's share of step time spent waiting for the
//!   other, and samples/s; the same model on one thread through the plain
//!   loop as the baseline (`"kind": "bubble"`, `"kind": "plain"`).
//!   Then `"kind": "model"` lines for the scaling model: that MLP, and the
//!   MLP, CNN and transformer of the distributed and text chapters, on one
//!   thread — samples/s at their batch and seconds per sample at a half, a
//!   quarter and an eighth of it (a pipeline's micro-batches), parameters, and
//!   the activation values per sample that cross a balanced 2-stage cut.
//! - `--mpi` (under `mpirun -np 2`): the bubble study with the stages as MPI
//!   ranks; each rank prints its own lines.
//! - `--comm` (threads, 2 ranks; or under `mpirun -np N` with `--mpi`): the
//!   all-reduce (sum) and the point-to-point one-way time (half a ping-pong
//!   between ranks 0 and 1) against message size, 256 values to 4 Mi values;
//!   rank 0 prints (`"kind": "allreduce"`, `"kind": "p2p"`). `--label` names
//!   the transport in the lines (`shm`, `veth`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "shared/models.rs"]
mod models;

/// The allocator the `anneal` program uses (see the workspace manifest).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anneal_data::{ClassificationData, Dataset};
use anneal_distributed::pipeline::{StageJob, fit_stage};
use anneal_distributed::{Collective, StageStats, ThreadReplicas};
use anneal_models::pipeline::{self, Split};
use anneal_models::{ActivationKind, MlpConfig, ModelConfig};
use anneal_optim::OptimizerConfig;
use anneal_train::{Objective, Progress, TrainConfig, Trainer, default_objective};
use burn::module::Module;
use burn::prelude::Device;

const BATCH: usize = 256;

fn flag(argv: &[String], name: &str) -> Option<String> {
    argv.iter().position(|a| a == name).and_then(|i| argv.get(i + 1)).cloned()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let repeats: usize = flag(&argv, "--repeats").and_then(|v| v.parse().ok()).unwrap_or(3);
    let label = flag(&argv, "--label").unwrap_or_else(|| "shm".into());
    let mpi = argv.iter().any(|a| a == "--mpi");
    if argv.iter().any(|a| a == "--comm") {
        if mpi {
            #[cfg(feature = "mpi")]
            {
                let c = anneal_distributed::MpiCollective::init(Duration::from_secs(600)).expect("MPI starts");
                let rank = c.rank();
                let (_, lines) = comm_times(c, &format!("mpi-{label}"));
                if rank == 0 {
                    lines.iter().for_each(|l| println!("{l}"));
                }
                return;
            }
            #[cfg(not(feature = "mpi"))]
            panic!("--mpi needs the benchmark built with the `mpi` feature");
        }
        let lines = ThreadReplicas { replicas: 2, threads_per_replica: 1, timeout: Duration::from_secs(600) }
            .run(|c| {
                let (c, lines) = comm_times(c, "threads");
                c.finish();
                Ok(lines)
            })
            .expect("the threads exchange");
        lines[0].iter().for_each(|l| println!("{l}"));
        return;
    }
    let data = anneal_data::batch::linear_teacher(4096, 512, 10, 0).expect("valid shapes");
    let mlp = ModelConfig::Mlp(MlpConfig {
        input: 512,
        hidden: vec![512; 4],
        output: 10,
        activation: ActivationKind::Relu,
        dropout: 0.0,
        layer_dropout: vec![],
    });
    if mpi {
        #[cfg(feature = "mpi")]
        {
            let mut c = anneal_distributed::MpiCollective::init(Duration::from_secs(600)).expect("MPI starts");
            for round in 0..=repeats {
                for m in [1, 2, 4, 8] {
                    let (stats, seconds) = bubble_rank(&mut c, &mlp, &data, m);
                    if round > 0 {
                        println!("{}", bubble_line("mpi", m, &[stats], seconds, round));
                    }
                }
            }
            return;
        }
        #[cfg(not(feature = "mpi"))]
        panic!("--mpi needs the benchmark built with the `mpi` feature");
    }
    for round in 0..=repeats {
        let start = Instant::now();
        plain(&mlp, &data);
        let plain_seconds = start.elapsed().as_secs_f64();
        if round > 0 {
            println!(
                "{}",
                serde_json::json!({"kind": "plain", "round": round, "samples_per_s": data.len() as f64 / plain_seconds})
            );
        }
        for m in [1, 2, 4, 8] {
            let stats = Arc::new(Mutex::new(Vec::new()));
            let start = Instant::now();
            ThreadReplicas { replicas: 2, threads_per_replica: 1, timeout: Duration::from_secs(600) }
                .run(|mut c| {
                    let (s, _) = bubble_rank(&mut c, &mlp, &data, m);
                    stats.lock().expect("stats").push(s);
                    c.finish();
                    Ok(())
                })
                .expect("the pipeline trains");
            let seconds = start.elapsed().as_secs_f64();
            let mut stats = stats.lock().expect("stats").clone();
            stats.sort_by_key(|s| s.stage);
            if round > 0 {
                println!("{}", bubble_line("threads", m, &stats, seconds, round));
            }
        }
    }
    // The bubble study's own MLP, to check the pipeline model against the pipeline measured above.
    println!("{}", model_line("mlp-512x4", &mlp, &data, BATCH));
    for (name, config, rows, batch) in scaling_models() {
        println!("{}", model_line(name, &config, &rows, batch));
    }
}

/// One epoch of the plain loop on one thread: the baseline.
fn plain(config: &ModelConfig, data: &ClassificationData) {
    let model = config.init(0, &Device::flex()).expect("the model builds");
    let optimizer: OptimizerConfig = toml::from_str("name = \"adam\"\nlearning_rate = 0.001").expect("adam");
    Trainer::new(TrainConfig::new(1, BATCH), Device::flex())
        .with_progress(Progress::Silent)
        .fit(model, &mut optimizer.init().expect("adam"), data, None)
        .expect("the plain loop trains");
}

/// One epoch of this rank's stage of a balanced 2-stage pipeline with `m` micro-batches.
fn bubble_rank<C: Collective>(
    c: &mut C,
    config: &ModelConfig,
    data: &ClassificationData,
    m: usize,
) -> (StageStats, f64) {
    let model = config.init(0, &Device::flex()).expect("the model builds");
    let stage = pipeline::split(model, &Split::Balanced, c.world()).expect("splits").swap_remove(c.rank());
    let objective: Arc<dyn Objective> = default_objective(&data.all_targets());
    let train = TrainConfig::new(1, BATCH);
    let job = StageJob {
        config: &train,
        objective,
        train: data,
        valid: None,
        device: Device::flex(),
        progress: Progress::Silent,
    };
    let optimizer: OptimizerConfig = toml::from_str("name = \"adam\"\nlearning_rate = 0.001").expect("adam");
    let start = Instant::now();
    let trained = fit_stage(c, stage, m, &mut optimizer.init().expect("adam"), &job, Vec::new(), None).expect("trains");
    (trained.stats, start.elapsed().as_secs_f64())
}

fn bubble_line(transport: &str, m: usize, stats: &[StageStats], seconds: f64, round: usize) -> serde_json::Value {
    serde_json::json!({
        "kind": "bubble",
        "transport": transport,
        "round": round,
        "stages": 2,
        "micro_batches": m,
        "theory": anneal_distributed::pipeline::theoretical_bubble(2, m),
        "per_stage": stats.iter().map(|s| serde_json::json!({
            "stage": s.stage, "bubble": s.bubble(), "wait_s": s.wait_seconds, "step_s": s.step_seconds,
            "parameters": s.parameters,
        })).collect::<Vec<_>>(),
        "samples_per_s": 4096.0 / seconds,
    })
}

/// The three models of the scaling model, each with seeded synthetic rows and its batch.
fn scaling_models() -> Vec<(&'static str, ModelConfig, ClassificationData, usize)> {
    let transformer: ModelConfig = toml::from_str(
        r#"
        kind = "transformer"
        vocab = 2002
        max_len = 64
        d_model = 128
        layers = 2
        heads = 4
        d_ff = 256
        dropout = 0.1
        output = 2
        "#,
    )
    .expect("the transformer config parses");
    let ids: Vec<f32> = (0..2048 * 64).map(|i| (1 + ((i * 2654435761_usize) >> 7) % 2001) as f32).collect();
    let texts = ClassificationData::new(ids, 64, (0..2048).map(|r| r % 2).collect()).expect("valid shapes");
    vec![
        ("mlp", models::mlp(), anneal_data::batch::linear_teacher(8192, 784, 10, 0).expect("valid"), 256),
        ("cnn", models::mnist_cnn(), anneal_data::batch::linear_teacher(2048, 784, 10, 0).expect("valid"), 64),
        ("transformer", transformer, texts, 32),
    ]
}

/// A model's single-thread training rate, parameters, and the activation
/// values per sample crossing a balanced 2-stage cut.
fn model_line(name: &str, config: &ModelConfig, data: &ClassificationData, batch: usize) -> serde_json::Value {
    let optimizer: OptimizerConfig = toml::from_str("name = \"adam\"\nlearning_rate = 0.001").expect("adam");
    // Seconds per sample at `rows` per batch: the median of two epochs after a warm-up.
    let seconds_at = |rows: usize| {
        let mut times = Vec::new();
        for round in 0..3 {
            let model = config.init(0, &Device::flex()).expect("the model builds");
            let start = Instant::now();
            Trainer::new(TrainConfig::new(1, rows), Device::flex())
                .with_progress(Progress::Silent)
                .fit(model, &mut optimizer.init().expect("adam"), data, None)
                .expect("trains");
            if round > 0 {
                times.push(start.elapsed().as_secs_f64() / data.len() as f64);
            }
        }
        median(times)
    };
    let rates = vec![1.0 / seconds_at(batch)];
    // The micro-batches of a pipeline's M = 2, 4, 8.
    let small: Vec<(usize, f64)> = [2, 4, 8].iter().map(|m| (batch / m, seconds_at(batch / m))).collect();
    let model = config.init(0, &Device::flex()).expect("the model builds");
    let parameters = model.num_params();
    let units = pipeline::unit_params(&model);
    let cut = pipeline::balanced_cuts(&units, 2).expect("two stages");
    // The activation crossing the cut, for one row: the first stage's output.
    let stages = pipeline::split(model, &Split::Balanced, 2).expect("splits");
    let rows: Vec<usize> = (0..4).collect();
    let batch4 = Dataset::batch(data, &rows, &Device::flex());
    let out = stages[0].forward(&batch4.input, pipeline::Flow::Rows(batch4.input.clone()));
    let per_row = out.dims().iter().product::<usize>() as f64 / 4.0;
    serde_json::json!({
        "kind": "model", "model": name, "batch": batch, "samples_per_s": median(rates),
        "parameters": parameters, "units": units, "cut": cut, "activation_values_per_sample": per_row,
        "small_batches": small,
    })
}

/// All-reduce and point-to-point times against message size on this collective.
fn comm_times<C: Collective>(mut c: C, transport: &str) -> (C, Vec<serde_json::Value>) {
    let (rank, world) = (c.rank(), c.world());
    let mut lines = Vec::new();
    for exp in (8..=22).step_by(2) {
        let n = 1usize << exp;
        let reps = (1usize << 25 >> exp).clamp(10, 1000);
        let mut buf = vec![1.0f32; n];
        let mut reduce = Vec::with_capacity(reps);
        let mut p2p = Vec::with_capacity(reps);
        for rep in 0..reps + 3 {
            let start = Instant::now();
            c.all_reduce_sum(&mut buf).expect("all-reduce");
            let t = start.elapsed().as_secs_f64();
            buf.fill(1.0);
            // Ping-pong between ranks 0 and 1; the others wait at the barrier.
            let start = Instant::now();
            if rank == 0 {
                c.send(1, &buf).expect("send");
                buf = c.recv(1).expect("recv");
            } else if rank == 1 {
                buf = c.recv(0).expect("recv");
                c.send(0, &buf).expect("send");
            }
            let pp = start.elapsed().as_secs_f64() / 2.0;
            c.barrier().expect("barrier");
            if rep >= 3 {
                reduce.push(t);
                p2p.push(pp);
            }
        }
        for (kind, times) in [("allreduce", reduce), ("p2p", p2p)] {
            if rank == 0 {
                eprintln!("{transport} {kind} {n} values: {:.1} µs", 1e6 * median(times.clone()));
            }
            lines.push(serde_json::json!({
                "kind": kind, "transport": transport, "world": world, "values": n, "bytes": 4 * n,
                "seconds_median": median(times.clone()),
                "seconds_min": times.iter().copied().fold(f64::INFINITY, f64::min),
            }));
        }
    }
    (c, lines)
}
