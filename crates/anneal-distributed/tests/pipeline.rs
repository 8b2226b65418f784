//! A pipeline of 2 stages × 4 micro-batches equals one device on the whole
//! batch: outputs, loss and every parameter's gradient within 1e-5, for an
//! MLP, a CNN and a transformer, on threads and on 2 MPI ranks; and training
//! through the pipeline equals the plain loop's.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use anneal_data::{ClassificationData, Dataset};
use anneal_distributed::pipeline::{GPipe, StageJob, fit_stage};
use anneal_distributed::{Collective, ThreadCollective, ThreadReplicas};
use anneal_models::pipeline::{self, Split, Stage};
use anneal_models::{
    ActivationKind, AnyModel, CnnConfig, ConvBlockConfig, MlpConfig, Model, ModelConfig, PoolKind, TransformerConfig,
};
use anneal_optim::OptimizerConfig;
use anneal_train::{Progress, TrainConfig, Trainer, default_objective, evaluate};
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;

const ROWS: usize = 24;

/// 24 rows of `width` features in 3 classes; token ids (1‥9, padding at the
/// end of some rows) for a transformer.
fn data(width: usize, ids: bool) -> ClassificationData {
    let features: Vec<f32> = (0..ROWS * width)
        .map(|i| {
            let (r, c) = (i / width, i % width);
            if ids {
                if c >= width - r % 3 { 0.0 } else { (1 + (i * 7) % 9) as f32 }
            } else {
                ((i * 2654435761_usize) % 1000) as f32 / 500.0 - 1.0
            }
        })
        .collect();
    let classes = (0..ROWS).map(|r| (r * 5) % 3).collect();
    ClassificationData::new(features, width, classes).unwrap()
}

/// The three kinds, without dropout or batch norm (whose masks and batch
/// statistics are per micro-batch in a pipeline).
fn cases() -> Vec<(&'static str, ModelConfig, ClassificationData)> {
    let mlp = MlpConfig {
        input: 6,
        hidden: vec![16, 12, 8],
        output: 3,
        activation: ActivationKind::Tanh,
        dropout: 0.0,
        layer_dropout: vec![],
    };
    let cnn = CnnConfig {
        blocks: vec![ConvBlockConfig::new(4).with_pool(PoolKind::Max, 2), ConvBlockConfig::new(6)],
        hidden: vec![10],
        dropout: 0.0,
        ..CnnConfig::new([1, 10, 10], 3)
    };
    let transformer = TransformerConfig {
        vocab: 10,
        max_len: 6,
        d_model: 8,
        layers: 2,
        heads: 2,
        d_ff: 16,
        dropout: 0.0,
        output: 3,
        ..TransformerConfig::default()
    };
    vec![
        ("mlp", ModelConfig::Mlp(mlp), data(6, false)),
        ("cnn", ModelConfig::Cnn(cnn), data(100, false)),
        ("transformer", ModelConfig::Transformer(transformer), data(6, true)),
    ]
}

struct Grads<'a> {
    grads: &'a GradientsParams,
    out: BTreeMap<ParamId, Vec<f32>>,
}

impl ModuleVisitor for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.out.insert(param.id, g.into_data().convert::<f32>().try_into_vec::<f32>().unwrap());
        }
    }
}

fn by_id<M: Module>(module: &M, grads: &GradientsParams) -> BTreeMap<ParamId, Vec<f32>> {
    let mut g = Grads { grads, out: BTreeMap::new() };
    module.visit(&mut g);
    g.out
}

/// What one device computes on the whole batch: predictions, loss and gradients.
fn single(model: &AnyModel, data: &ClassificationData) -> (Vec<f32>, f64, BTreeMap<ParamId, Vec<f32>>) {
    let device = Device::flex().autodiff();
    let objective = default_objective(&data.all_targets());
    let rows: Vec<usize> = (0..ROWS).collect();
    let batch = Dataset::batch(data, &rows, &device);
    let terms = objective.terms(model.forward(batch.input), &batch.target).unwrap();
    let loss = anneal_train::objective::total(&terms).unwrap();
    let value = f64::from(loss.clone().into_data().convert::<f32>().try_into_vec::<f32>().unwrap()[0]);
    let grads = GradientsParams::from_grads(loss.backward(), model);
    let predictions = evaluate(model, data, objective.as_ref(), &Device::flex(), 7).unwrap().predictions;
    (predictions, value, by_id(model, &grads))
}

/// One stage's share of a pipelined batch: its gradients, and on the last
/// stage the loss and the predictions.
type StageOut = (BTreeMap<ParamId, Vec<f32>>, Option<f64>, Option<Vec<f32>>);

fn stage_run<C: Collective>(collective: C, stage: Stage, data: &ClassificationData) -> StageOut {
    let device = Device::flex().autodiff();
    let objective = default_objective(&data.all_targets());
    let rows: Vec<usize> = (0..ROWS).collect();
    let stage = stage.fork(&device);
    let mut pipe = GPipe::new(collective, stage, 4).unwrap();
    let out = pipe.gradients(data, &rows, 1, objective.as_ref(), &device).unwrap();
    let grads = by_id(pipe.stage().unwrap(), &out.grads);
    let predicted = pipe.evaluate(data, objective.as_ref(), &Device::flex(), 7).unwrap();
    (grads, out.loss, predicted.map(|e| e.predictions))
}

/// Runs `f` on one thread per stage, each with its stage and its end of the
/// stages' group (rank = the stage's index).
fn on_threads<T: Send>(
    stages: Vec<Stage>,
    f: impl Fn(ThreadCollective, Stage) -> Result<T, anneal_train::TrainError> + Sync,
) -> anneal_distributed::Result<Vec<T>> {
    let n = stages.len();
    let stages = Mutex::new(stages.into_iter().map(Some).collect::<Vec<_>>());
    ThreadReplicas { replicas: n, threads_per_replica: 1, timeout: Duration::from_secs(60) }.run(|collective| {
        let stage = stages.lock().unwrap()[collective.rank()].take().unwrap();
        f(collective, stage)
    })
}

/// The plain loop's training of `model` on `data`, validated on `data` too.
fn plain_fit(
    train: &TrainConfig,
    optimizer: &OptimizerConfig,
    model: AnyModel,
    data: &ClassificationData,
) -> anneal_train::Fitted<AnyModel> {
    Trainer::new(train.clone(), Device::flex())
        .with_progress(Progress::Silent)
        .fit(model, &mut optimizer.init().unwrap(), data, Some(data))
        .unwrap()
}

/// A stage's training job on `data`, validated on `data` too.
fn stage_job<'a>(train: &'a TrainConfig, data: &'a ClassificationData) -> StageJob<'a, ClassificationData> {
    StageJob {
        config: train,
        objective: default_objective(&data.all_targets()),
        train: data,
        valid: Some(data),
        device: Device::flex(),
        progress: Progress::Silent,
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn assert_equal(name: &str, whole: &(Vec<f32>, f64, BTreeMap<ParamId, Vec<f32>>), stages: &[StageOut]) {
    let (predictions, loss, grads) = whole;
    let last = stages.last().unwrap();
    assert!((last.1.unwrap() - loss).abs() < 1e-5, "{name}: loss {:?} against {loss}", last.1);
    assert!(max_diff(last.2.as_ref().unwrap(), predictions) < 1e-5, "{name}: predictions differ");
    let mut seen = 0;
    for (id, g) in stages.iter().flat_map(|s| &s.0) {
        let reference = grads.get(id).unwrap_or_else(|| panic!("{name}: a stage has a parameter the model lacks"));
        let d = max_diff(g, reference);
        assert!(d < 1e-5, "{name}: a gradient differs by {d}");
        seen += 1;
    }
    assert_eq!(seen, grads.len(), "{name}: every parameter has its gradient on one stage");
}

#[test]
fn two_stages_of_four_micro_batches_on_threads_equal_one_device() {
    for (name, config, data) in cases() {
        let model = config.init(5, &Device::flex().autodiff()).unwrap();
        let whole = single(&model, &data);
        let stages = pipeline::split(model.clone(), &Split::Balanced, 2).unwrap();
        let outs = on_threads(stages, |collective, stage| Ok(stage_run(collective, stage, &data))).unwrap();
        assert_equal(name, &whole, &outs);
    }
}

/// Three stages at explicit cuts, and more micro-batches than rows in a batch.
#[test]
fn three_stages_at_given_cuts_and_tiny_micro_batches_equal_one_device() {
    let (_, config, data) = cases().remove(0);
    let model = config.init(9, &Device::flex().autodiff()).unwrap();
    let whole = single(&model, &data);
    let stages = pipeline::split(model, &Split::At(vec![1, 3]), 3).unwrap();
    let outs = on_threads(stages, |collective, stage| {
        let device = Device::flex().autodiff();
        let objective = default_objective(&data.all_targets());
        let rows: Vec<usize> = (0..ROWS).collect();
        let mut pipe = GPipe::new(collective, stage.fork(&device), 40).unwrap();
        let out = pipe.gradients(&data, &rows, 1, objective.as_ref(), &device).unwrap();
        let grads = by_id(pipe.stage().unwrap(), &out.grads);
        let predicted = pipe.evaluate(&data, objective.as_ref(), &Device::flex(), 5).unwrap();
        Ok((grads, out.loss, predicted.map(|e| e.predictions)))
    })
    .unwrap();
    assert_equal("mlp in 3 stages", &whole, &outs);
}

/// Training: 3 epochs of Adam through 2 stages equal the plain loop's weights and losses.
#[test]
fn training_through_the_pipeline_equals_the_plain_loop() {
    for (name, config, data) in cases().into_iter().take(2) {
        let train = TrainConfig { seed: 4, ..TrainConfig::new(3, 8) };
        let optimizer: OptimizerConfig = toml::from_str("name = \"adam\"\nlearning_rate = 0.01").unwrap();
        let model = config.init(5, &Device::flex()).unwrap();
        let plain = plain_fit(&train, &optimizer, model.clone(), &data);
        let stages = pipeline::split(model, &Split::Balanced, 2).unwrap();
        let job = stage_job(&train, &data);
        let trained = on_threads(stages, |collective, stage| {
            let mut optimizer = optimizer.init()?;
            let t = fit_stage(collective, stage, 3, &mut optimizer, &job, Vec::new(), None)?;
            t.collective.finish();
            Ok((t.stage, t.history, t.stats))
        })
        .unwrap();
        let histories: Vec<_> = trained.iter().map(|t| t.1.clone()).collect();
        let stats: Vec<_> = trained.iter().map(|t| t.2.clone()).collect();
        let joined = pipeline::join(trained.into_iter().map(|t| t.0).collect()).unwrap();
        let (a, b) = (flat(&plain.model), flat(&joined));
        assert!(max_diff(&a, &b) < 1e-5, "{name}: weights differ by {}", max_diff(&a, &b));
        for h in &histories {
            assert_eq!(h.len(), 3);
            for (p, q) in plain.history.iter().zip(h) {
                assert!((p.train_loss - q.train_loss).abs() < 1e-5, "{name}: {} vs {}", p.train_loss, q.train_loss);
                let (pv, qv) = (p.metric("val_loss").unwrap(), q.metric("val_loss").unwrap());
                assert!((pv - qv).abs() < 1e-5, "{name}: val_loss {pv} vs {qv}");
                assert_eq!(p.metric("val_accuracy"), q.metric("val_accuracy"), "{name}");
            }
        }
        assert_eq!(stats.iter().map(|s| s.steps).collect::<Vec<_>>(), vec![9, 9]);
        assert!(stats.iter().all(|s| s.wait_seconds < s.step_seconds && s.parameters > 0));
    }
}

/// A grid of 2 pipelines × 2 stages, each pipeline on half of every global
/// batch and each stage's gradients averaged across the pipelines, trains the
/// plain loop's model at the global batch.
#[test]
fn a_grid_of_two_pipelines_trains_the_plain_loops_model_at_the_global_batch() {
    for (name, config, data) in cases().into_iter().take(2) {
        let train = TrainConfig { seed: 4, ..TrainConfig::new(3, 8) };
        let optimizer: OptimizerConfig = toml::from_str("name = \"adam\"\nlearning_rate = 0.01").unwrap();
        let plain = plain_fit(&train, &optimizer, config.init(5, &Device::flex()).unwrap(), &data);
        let store: Vec<Option<Stage>> = (0..2)
            .flat_map(|_| pipeline::split(config.init(5, &Device::flex()).unwrap(), &Split::Balanced, 2).unwrap())
            .map(Some)
            .collect();
        let store = Mutex::new(store);
        let job = stage_job(&train, &data);
        let trained = ThreadReplicas { replicas: 2, threads_per_replica: 1, timeout: Duration::from_secs(60) }
            .run_grid(2, |pipe, mut across| {
                let stage = store.lock().unwrap()[across.rank() * 2 + pipe.rank()].take().unwrap();
                let replicas: Option<&mut (dyn Collective + Send)> = Some(&mut across);
                let t = fit_stage(pipe, stage, 2, &mut optimizer.init()?, &job, Vec::new(), replicas)?;
                t.collective.finish();
                across.finish();
                Ok((t.stage, t.history))
            })
            .unwrap();
        assert_eq!(trained.len(), 4);
        let histories: Vec<_> = trained.iter().map(|t| t.1.clone()).collect();
        let mut stages: Vec<Stage> = trained.into_iter().map(|t| t.0).collect();
        let second = pipeline::join(stages.split_off(2)).unwrap();
        let first = pipeline::join(stages).unwrap();
        let (a, b, c) = (flat(&plain.model), flat(&first), flat(&second));
        assert!(max_diff(&b, &c) == 0.0, "{name}: the pipelines' weights differ");
        assert!(max_diff(&a, &b) < 1e-4, "{name}: weights differ from the plain loop's by {}", max_diff(&a, &b));
        for h in &histories {
            for (p, q) in plain.history.iter().zip(h) {
                assert!((p.train_loss - q.train_loss).abs() < 1e-5, "{name}: {} vs {}", p.train_loss, q.train_loss);
            }
            // Every worker records the same epochs (each its own wall time).
            let numbers = |h: &[anneal_train::EpochRecord]| -> Vec<_> {
                h.iter().map(|r| (r.epoch, r.train_loss.to_bits(), r.metrics.clone())).collect()
            };
            assert_eq!(numbers(h), numbers(&histories[0]), "{name}");
        }
    }
}

/// Early stopping through the pipeline stops where the plain loop stops and
/// restores the same best weights.
#[test]
fn early_stopping_through_the_pipeline_stops_and_restores_as_the_plain_loop() {
    let (_, config, data) = cases().remove(0);
    let mut train = TrainConfig { seed: 2, ..TrainConfig::new(30, 8) };
    train.early_stopping = Some(toml::from_str("monitor = \"val_loss\"\ngoal = \"minimize\"\npatience = 2").unwrap());
    // A learning rate high enough that the validation loss soon stops improving.
    let optimizer: OptimizerConfig = toml::from_str("name = \"adam\"\nlearning_rate = 0.2").unwrap();
    let model = config.init(5, &Device::flex()).unwrap();
    let plain = plain_fit(&train, &optimizer, model.clone(), &data);
    assert!(plain.stopped_early && plain.best_epoch < plain.history.len(), "the case must stop early");
    let stages = pipeline::split(model, &Split::Balanced, 2).unwrap();
    let job = stage_job(&train, &data);
    let trained = on_threads(stages, |collective, stage| {
        let t = fit_stage(collective, stage, 3, &mut optimizer.init()?, &job, Vec::new(), None)?;
        t.collective.finish();
        Ok((t.stage, t.history.len(), t.best_epoch, t.stopped_early))
    })
    .unwrap();
    for t in &trained {
        assert_eq!((t.1, t.2, t.3), (plain.history.len(), plain.best_epoch, true));
    }
    let joined = pipeline::join(trained.into_iter().map(|t| t.0).collect()).unwrap();
    let d = max_diff(&flat(&plain.model), &flat(&joined));
    assert!(d < 1e-4, "the restored weights differ by {d}");
}

/// `split = "time"`: every unit is timed, the cut balances the times, and the
/// stages of that cut still equal one device.
#[test]
fn a_split_by_measured_time_times_every_unit_and_cuts_between_them() {
    let (_, config, data) = cases().remove(1);
    let device = Device::flex().autodiff();
    let model = config.init(5, &device).unwrap();
    let pipeline: anneal_distributed::PipelineConfig = toml::from_str("stages = 2\nsplit = \"time\"").unwrap();
    let sample = || Ok(Dataset::batch(&data, &(0..8).collect::<Vec<_>>(), &device).input);
    let (ranges, times) = anneal_distributed::pipeline::plan(
        &model,
        &pipeline,
        sample,
        None::<&mut anneal_distributed::ThreadCollective>,
    )
    .unwrap();
    assert_eq!(times.len(), 4, "two convolution blocks and two dense layers");
    assert!(times.iter().all(|&t| t > 0.0 && t < 10.0), "{times:?}");
    assert_eq!((ranges.len(), ranges[0].start, ranges[1].end), (2, 0, 4));
    // The cut is the balanced one for these times.
    let micros: Vec<usize> = times.iter().map(|t| ((t * 1e6).round() as usize).max(1)).collect();
    assert_eq!(vec![ranges[1].start], pipeline::balanced_cuts(&micros, 2).unwrap());
    let whole = single(&model, &data);
    let outs = on_threads(pipeline::split_at(model, &ranges).unwrap(), |collective, stage| {
        Ok(stage_run(collective, stage, &data))
    })
    .unwrap();
    assert_equal("cnn cut by time", &whole, &outs);
}

fn flat(model: &AnyModel) -> Vec<f32> {
    struct Flat(Vec<f32>);
    impl ModuleVisitor for Flat {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.extend(param.val().into_data().convert::<f32>().try_into_vec::<f32>().unwrap());
        }
    }
    let mut f = Flat(Vec::new());
    model.visit(&mut f);
    f.0
}

#[test]
fn a_failing_stage_ends_the_other_with_its_name() {
    let (_, config, data) = cases().remove(0);
    let model = config.init(5, &Device::flex()).unwrap();
    let stages = pipeline::split(model, &Split::Balanced, 2).unwrap();
    let err = on_threads(stages, |collective, stage| {
        if collective.rank() == 1 {
            return Err(anneal_train::TrainError::InvalidSetting("stage 1 gave up".into()));
        }
        let device = Device::flex().autodiff();
        let objective = default_objective(&data.all_targets());
        let mut pipe = GPipe::new(collective, stage.fork(&device), 2).unwrap();
        pipe.gradients(&data, &(0..ROWS).collect::<Vec<_>>(), 1, objective.as_ref(), &device)?;
        Ok(())
    })
    .unwrap_err()
    .to_string();
    // The root cause, not stage 0's "replica 1 left the group" that followed.
    assert!(err.contains("stage 1 gave up"), "{err}");
}

/// `ranks` MPI ranks, one stage each: this test binary runs its ignored
/// worker below under `launcher` (an `mpirun` command line), each rank
/// writing its stage's results, and compares them with one device.
#[cfg(feature = "mpi")]
fn mpi_stages_equal_one_device(ranks: usize, launcher: &mut std::process::Command) {
    let dir = tempfile::tempdir().unwrap();
    let status = launcher
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "mpi_worker", "--ignored", "--test-threads", "1"])
        .env("ANNEAL_PIPELINE_OUT", dir.path())
        .env("RAYON_NUM_THREADS", "1")
        .status()
        .unwrap();
    assert!(status.success());
    for (name, config, data) in cases() {
        let model = config.init(5, &Device::flex().autodiff()).unwrap();
        let whole = single(&model, &data);
        // The ranks built the same model from the same seed and cut it alike:
        // each stage's parameters in the order of this copy's stages.
        let stages = pipeline::split(model, &Split::Balanced, ranks).unwrap();
        let outs: Vec<StageOut> = stages
            .iter()
            .enumerate()
            .map(|(rank, stage)| {
                let text = std::fs::read_to_string(dir.path().join(format!("{name}.{rank}.json"))).unwrap();
                let (grads, loss, predictions): (Vec<Vec<f32>>, Option<f64>, Option<Vec<f32>>) =
                    serde_json::from_str(&text).unwrap();
                let ids = flat_ids(stage);
                assert_eq!(ids.len(), grads.len(), "{name}: stage {rank}'s gradients");
                (ids.into_iter().zip(grads).collect(), loss, predictions)
            })
            .collect();
        assert_equal(&format!("{name} on {ranks} MPI ranks"), &whole, &outs);
    }
}

#[cfg(feature = "mpi")]
fn mpirun(ranks: usize) -> std::process::Command {
    let mut c = std::process::Command::new("mpirun");
    c.args(["--allow-run-as-root", "--oversubscribe", "-np", &ranks.to_string()]);
    c
}

#[cfg(feature = "mpi")]
#[test]
fn two_stages_of_four_micro_batches_on_two_mpi_ranks_equal_one_device() {
    mpi_stages_equal_one_device(2, &mut mpirun(2));
}

/// Four stages on four ranks of two cores (oversubscribed).
#[cfg(feature = "mpi")]
#[test]
fn four_stages_on_four_oversubscribed_mpi_ranks_equal_one_device() {
    mpi_stages_equal_one_device(4, &mut mpirun(4));
}

/// Two ranks in two network namespaces joined by a veth pair, the multi-host
/// path on one machine: Open MPI starts rank 1's daemon in the second
/// namespace (its remote-shell agent is `ip netns exec`) and the ranks talk
/// TCP over the pair (addresses that exist only inside the namespaces). Needs
/// root: skipped otherwise, except under CI, where it fails.
#[cfg(all(feature = "mpi", target_os = "linux"))]
#[test]
fn two_stages_on_two_network_namespaces_over_veth_equal_one_device() {
    let root = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout == b"0\n");
    if !root {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root, which network namespaces need");
        eprintln!("skipped: network namespaces need root");
        return;
    }
    let link = Veth::up().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent = dir.path().join("agent.sh");
    std::fs::write(
        &agent,
        format!("#!/bin/sh\n# host name, then the command\nshift\nexec ip netns exec {} sh -c \"$*\"\n", link.ns[1]),
    )
    .unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&agent).status().unwrap();
    let mut c = std::process::Command::new("ip");
    c.args(["netns", "exec", &link.ns[0], "mpirun", "--allow-run-as-root"])
        .args(["--host", &format!("localhost:1,{}:1", link.addr[1]), "-np", "2"])
        .args(["--mca", "plm_rsh_agent"])
        .arg(&agent)
        .args(["--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", &link.subnet])
        .args(["--mca", "oob_tcp_if_include", &link.subnet])
        // Ranks that spin while they wait would starve the softirq that moves
        // veth packets on a small machine (4 ms per message on 2 cores).
        .args(["--mca", "mpi_yield_when_idle", "1"])
        .args(["-x", "ANNEAL_PIPELINE_OUT", "-x", "RAYON_NUM_THREADS"]);
    mpi_stages_equal_one_device(2, &mut c);
    let sent =
        std::process::Command::new("ip").args(["-n", &link.ns[0], "-s", "link", "show", "anneal-v0"]).output().unwrap();
    let text = String::from_utf8_lossy(&sent.stdout).into_owned();
    // TX bytes: the ranks' traffic went over the pair.
    let tx: u64 = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("TX:"))
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|b| b.parse().ok())
        .unwrap_or(0);
    assert!(tx > 10_000, "{text}");
}

/// Two network namespaces joined by a veth pair (`anneal-v0` ↔ `anneal-v1`),
/// removed again when dropped.
#[cfg(all(feature = "mpi", target_os = "linux"))]
struct Veth {
    ns: [String; 2],
    addr: [String; 2],
    subnet: String,
}

#[cfg(all(feature = "mpi", target_os = "linux"))]
impl Veth {
    fn up() -> Result<Self, String> {
        let id = std::process::id() % 200 + 20;
        let link = Veth {
            ns: [format!("anneal-{id}-0"), format!("anneal-{id}-1")],
            addr: [format!("10.231.{id}.1"), format!("10.231.{id}.2")],
            subnet: format!("10.231.{id}.0/24"),
        };
        let ip = |args: &[&str]| -> Result<(), String> {
            let o = std::process::Command::new("ip").args(args).output().map_err(|e| e.to_string())?;
            if o.status.success() {
                Ok(())
            } else {
                Err(format!("ip {args:?}: {}", String::from_utf8_lossy(&o.stderr)))
            }
        };
        let [a, b] = &link.ns;
        ip(&["netns", "add", a])?;
        ip(&["netns", "add", b])?;
        ip(&["link", "add", "anneal-v0", "netns", a, "type", "veth", "peer", "name", "anneal-v1", "netns", b])?;
        for (i, ns) in link.ns.iter().enumerate() {
            ip(&["-n", ns, "addr", "add", &format!("{}/24", link.addr[i]), "dev", &format!("anneal-v{i}")])?;
            ip(&["-n", ns, "link", "set", &format!("anneal-v{i}"), "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(link)
    }
}

#[cfg(all(feature = "mpi", target_os = "linux"))]
impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the pair, and with it the pair.
        for ns in &self.ns {
            let _ = std::process::Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[cfg(feature = "mpi")]
fn flat_ids<M: Module>(module: &M) -> Vec<ParamId> {
    struct Ids(Vec<ParamId>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id);
        }
    }
    let mut ids = Ids(Vec::new());
    module.visit(&mut ids);
    ids.0
}

/// The MPI rank's half of the tests above (run by them under `mpirun`): the
/// model cut into one stage per rank.
#[cfg(feature = "mpi")]
#[test]
#[ignore = "run under mpirun by the MPI pipeline tests"]
fn mpi_worker() {
    let Ok(out) = std::env::var("ANNEAL_PIPELINE_OUT") else { return };
    let mut collective = anneal_distributed::MpiCollective::init(Duration::from_secs(60)).unwrap();
    let (rank, world) = (collective.rank(), collective.world());
    for (name, config, data) in cases() {
        let model = config.init(5, &Device::flex().autodiff()).unwrap();
        let stage = pipeline::split(model, &Split::Balanced, world).unwrap().swap_remove(rank);
        let order = flat_ids(&stage);
        let (grads, loss, predictions) = stage_run(&mut collective, stage, &data);
        let grads: Vec<Vec<f32>> = order.iter().map(|id| grads[id].clone()).collect();
        let text = serde_json::to_string(&(grads, loss, predictions)).unwrap();
        std::fs::write(std::path::Path::new(&out).join(format!("{name}.{rank}.json")), text).unwrap();
    }
}
