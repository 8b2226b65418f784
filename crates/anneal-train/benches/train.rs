//! Training-throughput benchmark: MLP 784-256-128-10, Adam (lr 1e-3), cross-entropy,
//! seeded synthetic 60 000 × 784 data (10 classes from a random linear teacher, as
//! `shared/bench/mlp_train.py`), batch 64 and 256.
//!
//! Run through `cargo xtask bench train`, which sets the thread count per process
//! (`RAYON_NUM_THREADS`, `MATMUL_NUM_THREADS`) and compares with PyTorch. Prints one
//! JSON line per measurement: `step` is the bare forward/backward/step loop (data
//! gathered into batch tensors on the host, as PyTorch's `X[idx]`), `loop` is the
//! same work through `Trainer::fit` (batching, hooks, metrics, progress off).
//! The two alternate run by run, so that a change of load hits both alike.
//!
//! Arguments: `--backends flex,ndarray --batches 64,256 --epochs 1 --repeats 3 --n 60000
//! --modes step,loop`.

use std::time::Instant;

/// The allocator the `anneal` program uses (see the workspace manifest).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anneal_data::{ClassificationData, Dataset, LastBatch, SeededRng};
use anneal_models::{ActivationKind, MlpConfig};
use anneal_optim::OptimizerConfig;
use anneal_train::{Backend, Loss, Progress, StepInfo, TrainConfig, Trainer, train_step};

struct Args {
    backends: Vec<Backend>,
    batches: Vec<usize>,
    epochs: usize,
    repeats: usize,
    n: usize,
    modes: Vec<String>,
}

fn parse() -> Args {
    let mut a = Args {
        backends: vec![Backend::Flex, Backend::Ndarray],
        batches: vec![64, 256],
        epochs: 1,
        repeats: 3,
        n: 60_000,
        modes: vec!["step".into(), "loop".into()],
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--backends" => a.backends = value.split(',').map(|b| b.parse().expect("backend name")).collect(),
            "--batches" => a.batches = value.split(',').map(|b| b.parse().expect("batch size")).collect(),
            "--epochs" => a.epochs = value.parse().expect("epochs"),
            "--repeats" => a.repeats = value.parse().expect("repeats"),
            "--n" => a.n = value.parse().expect("rows"),
            "--modes" => a.modes = value.split(',').map(String::from).collect(),
            _ => {
                i += 1; // `--bench` and other harness flags
                continue;
            }
        }
        i += 2;
    }
    a
}

fn synthetic(n: usize, d: usize, k: usize, seed: u64) -> ClassificationData {
    anneal_data::batch::linear_teacher(n, d, k, seed).expect("the benchmark's shapes are valid")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args = parse();
    let data = synthetic(args.n, 784, 10, 0);
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let mlp = MlpConfig {
        input: 784,
        hidden: vec![256, 128],
        output: 10,
        activation: ActivationKind::Relu,
        dropout: 0.0,
        layer_dropout: vec![],
    };
    for &backend in &args.backends {
        let device = backend.device().expect("backend starts");
        let train_device = device.clone().autodiff();
        for &batch in &args.batches {
            // Step and loop runs alternate, so a change of machine load hits both alike.
            let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
            for r in 0..args.repeats {
                for (m, mode) in ["step", "loop"].into_iter().enumerate() {
                    if !args.modes.iter().any(|x| x == mode) {
                        continue;
                    }
                    let model = mlp.init(r as u64, &train_device).expect("valid config");
                    let mut optimizer = OptimizerConfig::adam(1e-3).init().expect("valid config");
                    let start = Instant::now();
                    match mode {
                        "step" => {
                            let mut model = model;
                            let mut rng = SeededRng::new(r as u64);
                            let mut it = 0;
                            for epoch in 1..=args.epochs {
                                for idx in
                                    data.batch_indices(batch, Some(&mut rng), LastBatch::Keep).expect("batch > 0")
                                {
                                    it += 1;
                                    let batch = Dataset::batch(&data, &idx, &train_device);
                                    let step = StepInfo { epoch, iteration: it, batch_len: idx.len() };
                                    (model, _) =
                                        train_step(model, &mut optimizer, batch, &Loss::CrossEntropy, &step, &mut [])
                                            .expect("cross-entropy fits class targets");
                                }
                            }
                            // Wait for queued work (matters on GPU backends).
                            let _ = device.sync();
                        }
                        _ => {
                            let config = TrainConfig { seed: r as u64, ..TrainConfig::new(args.epochs, batch) };
                            Trainer::new(config, device.clone())
                                .with_progress(Progress::Silent)
                                .fit(model, &mut optimizer, &data, None)
                                .expect("training runs");
                        }
                    }
                    rates[m].push((args.n * args.epochs) as f64 / start.elapsed().as_secs_f64());
                }
            }
            for (mode, rates) in ["step", "loop"].into_iter().zip(rates).filter(|(_, r)| !r.is_empty()) {
                println!(
                    "{{\"bench\":\"train\",\"backend\":\"{backend}\",\"threads\":\"{threads}\",\"batch\":{batch},\"mode\":\"{mode}\",\"samples_per_s_median\":{:.1},\"runs\":{:?}}}",
                    median(rates.clone()),
                    rates.iter().map(|r| r.round()).collect::<Vec<_>>()
                );
            }
        }
    }
}
