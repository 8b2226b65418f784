//! The `anneal` command-line program: `anneal train`, `anneal predict`, `anneal cv`,
//! `anneal eval`, `anneal lr-find`, `anneal tune` and `anneal data inspect`.

use std::error::Error as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anneal::cv::Splitter;
use anneal::eval::Part;
use anneal::train::{Backend, Progress};
use anneal::{RunConfig, run};
use clap::{CommandFactory, Parser, Subcommand};

/// mimalloc keeps the training step's large buffers instead of handing them back to the
/// kernel after every step as glibc's malloc does (see the workspace manifest).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Train, evaluate and apply models from one TOML config.
#[derive(Parser)]
#[command(name = "anneal", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model from a config and write a run folder (config, preprocessing,
    /// weights, metrics.json, report.md).
    Train {
        /// The run config (TOML).
        #[arg(long, required_unless_present = "resume")]
        config: Option<PathBuf>,
        /// Run folder to create [default: runs/<config name>-<n>].
        #[arg(long, conflicts_with = "resume")]
        out: Option<PathBuf>,
        /// Continue the run in this folder from its last checkpoint (its own
        /// config.toml is used) on the backend it was started on, unless --device says otherwise.
        #[arg(long, conflicts_with = "config")]
        resume: Option<PathBuf>,
        /// Compute backend: ndarray, flex or wgpu [default: $BURN_DEVICE, else flex].
        #[arg(long)]
        device: Option<String>,
        /// Print one line per epoch instead of a progress bar, even on a terminal.
        #[arg(long)]
        log: bool,
        /// Data-parallel replicas on threads of this process, each with its own
        /// share of every global batch of replicas × batch_size rows [default:
        /// [distributed] replicas, else 1]. A resumed run keeps its global batch: on
        /// another number of replicas each one's batch is the global batch over it.
        #[arg(long)]
        replicas: Option<usize>,
        /// `mpi`: the replicas are the processes `mpirun -np N` started (one rank
        /// each; rank 0 writes the run folder). Needs a build with `--features mpi`.
        #[arg(long, value_parser = ["threads", "mpi"], default_value = "threads")]
        distributed: String,
    },
    /// Pretrain a text run's transformer as a masked-token model (BERT's recipe)
    /// on the texts of its training rows, labels unused; fine-tune the result with
    /// `[transfer] from = "<its folder>"`.
    Pretrain {
        /// The run config (TOML) of a text run with a transformer.
        #[arg(long)]
        config: PathBuf,
        /// Run folder to create [default: runs/<config name>-pretrain-<n>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compute backend: ndarray, flex or wgpu [default: $BURN_DEVICE, else flex].
        #[arg(long)]
        device: Option<String>,
        /// The share of each text's tokens masked per epoch.
        #[arg(long, default_value_t = 0.15)]
        mask_rate: f64,
        /// Print one line per epoch instead of a progress bar, even on a terminal.
        #[arg(long)]
        log: bool,
    },
    /// The learning-rate range test (Smith 2017): train briefly while the learning
    /// rate grows exponentially, plot the loss against it (lr_find.png, .svg, .csv)
    /// and suggest the rate where the loss falls fastest.
    LrFind {
        /// The run config (TOML), as for `anneal train`.
        #[arg(long)]
        config: PathBuf,
        /// Folder to create for the plot [default: runs/<config name>-lr-find-<n>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compute backend: ndarray, flex or wgpu [default: $BURN_DEVICE, else flex].
        #[arg(long)]
        device: Option<String>,
        /// The first learning rate.
        #[arg(long, default_value_t = 1e-7)]
        start_lr: f64,
        /// The last learning rate.
        #[arg(long, default_value_t = 10.0)]
        end_lr: f64,
        /// Steps (mini-batches) of the sweep.
        #[arg(long, default_value_t = 100)]
        steps: usize,
    },
    /// Look at what a config's `[augment]` steps do to its training images, clips or texts.
    Augment {
        #[command(subcommand)]
        command: AugmentCommand,
    },
    /// Look at a data file before training on it.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Predict classes (with probabilities) or values for the rows of a CSV file
    /// with a finished run.
    Predict {
        /// The run folder written by `anneal train`.
        #[arg(long)]
        run: PathBuf,
        /// CSV file with the feature columns (the target column may be absent); for
        /// an image run also a folder of images (the CSV then starts with `file`).
        #[arg(long)]
        input: PathBuf,
        /// Where to write the predictions [default: standard output].
        #[arg(long)]
        output: Option<PathBuf>,
        /// Compute backend: ndarray, flex or wgpu [default: $BURN_DEVICE, else flex].
        #[arg(long)]
        device: Option<String>,
    },
    /// Write a finished run's weights for other tools: safetensors in PyTorch's
    /// layout (the run folder keeps burn's own format).
    Export {
        /// The run folder written by `anneal train`.
        #[arg(long)]
        run: PathBuf,
        /// The format: safetensors.
        #[arg(long, default_value = "safetensors")]
        format: String,
        /// The file to write [default: <run folder>.safetensors, beside the run folder].
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Cross-validate a run config: k-fold (stratified by default; plain, group or
    /// time-series with --split) over the train and validation rows of its split,
    /// preprocessing re-fitted in every fold; per-fold and mean ± std scores (cv.md,
    /// cv.json), optionally a learning curve and a bias/variance verdict.
    Cv {
        /// The run config (TOML), as for `anneal train`.
        #[arg(long)]
        config: PathBuf,
        /// Number of folds.
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// How to cut the folds: stratified k-fold, k-fold of the shuffled rows,
        /// group k-fold (needs --group) or time-series folds by row order
        /// [default: stratified for a classification, k-fold for a regression, or
        /// group when --group is given or the config has [split] group].
        #[arg(long, value_enum)]
        split: Option<SplitKind>,
        /// Group k-fold by this column: rows with one value never straddle folds.
        #[arg(long, value_name = "COLUMN")]
        group: Option<String>,
        /// Time-series folds: rows left out between each fold's training and test rows.
        #[arg(long, value_name = "ROWS")]
        gap: Option<usize>,
        /// Folds trained at once [default: the number of CPUs, at most --folds].
        #[arg(long)]
        workers: Option<usize>,
        /// Output folder to create [default: runs/<config name>-cv-<n>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compute backend: ndarray, flex or wgpu [default: $BURN_DEVICE, else flex].
        #[arg(long)]
        device: Option<String>,
        /// Also compute a learning curve against training-set size and its verdict.
        #[arg(long)]
        learning_curve: bool,
        /// Training-set sizes of the learning curve, as fractions of each fold's
        /// training rows.
        #[arg(long, value_delimiter = ',', default_value = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0")]
        sizes: Vec<f64>,
        /// Verdict threshold: a validation error (1 − accuracy, 1 − R²) above this is
        /// high [default: the data's noise floor, estimated by nearest neighbours, +
        /// --max-gap].
        #[arg(long)]
        max_error: Option<f64>,
        /// Verdict threshold: a validation − training error gap above this is large.
        #[arg(long, default_value_t = 0.05)]
        max_gap: f64,
    },
    /// Score a finished run on a labelled data file: for a classifier metrics,
    /// per-class report, confusion heat map, ROC and precision-recall curves; for
    /// a regression R², RMSE, MAE, ... with predicted-vs-true, residual and
    /// residual-histogram figures (eval.md, PNG and SVG).
    Eval {
        /// The run folder written by `anneal train`.
        #[arg(long)]
        run: PathBuf,
        /// CSV or Parquet file with the feature columns and the run's target column(s).
        #[arg(long)]
        data: PathBuf,
        /// Output folder to create [default: runs/<run name>-eval-<n>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compute backend: ndarray, flex or wgpu [default: $BURN_DEVICE, else flex].
        #[arg(long)]
        device: Option<String>,
        /// Score only this part of the run's split (split.json); --data must be the
        /// file the run was trained on.
        #[arg(long, value_enum)]
        part: Option<PartArg>,
    },
    /// Reinforcement learning: train an agent (PPO, DQN) on an environment
    /// (CartPole-v1, a gridworld) from a TOML config into a run folder (episode
    /// returns, return curve, report.md, checkpoints, the policy). `anneal rl eval
    /// --run <dir>` plays the trained policy.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Rl {
        #[command(subcommand)]
        action: Option<RlCommand>,
        /// The RL config (TOML): seed, total_steps, target_return, [env], [agent].
        #[arg(long, required_unless_present = "resume")]
        config: Option<PathBuf>,
        /// Run folder to create [default: runs/<config name>-<n>].
        #[arg(long, conflicts_with = "resume")]
        out: Option<PathBuf>,
        /// Continue the run in this folder from its last checkpoint.
        #[arg(long, conflicts_with = "config")]
        resume: Option<PathBuf>,
        /// Compute backend: ndarray, flex or wgpu [default: $BURN_DEVICE, else flex].
        #[arg(long)]
        device: Option<String>,
        /// Print one line per iteration.
        #[arg(long)]
        log: bool,
    },
    /// A local web dashboard (read-only) of the run folders under --runs and of
    /// hyperparameter studies: the runs table and overlaid curves, each run's live
    /// training curves, metrics, figures and config, and each study's trials,
    /// history, importances, parallel coordinates, slices and pruned trials' curves.
    Dashboard {
        /// The folder of run folders (searched 4 levels deep; study.db files in it are listed too).
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        /// A study storage to show as well: sqlite://<file> or postgres://<user>@<host>/<db> (repeatable).
        #[arg(long)]
        storage: Vec<String>,
        /// Port to listen on (0: any free port).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to listen on. The default keeps it on this machine; the dashboard has
        /// no authentication, so think twice before 0.0.0.0.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
    },
    /// Hyperparameter search: every trial is an `anneal train` run of the base config
    /// with sampled settings, scored on its validation rows. The study lives in a
    /// storage, so running the command again resumes it.
    Tune {
        /// The tune config (TOML): base run config, [study] and [[param]] entries.
        #[arg(long)]
        config: PathBuf,
        /// Finished (complete or pruned) trials the study should hold when the
        /// command ends.
        #[arg(long, default_value_t = 20)]
        trials: usize,
        /// Trials trained at once in this process (more processes or machines may
        /// share the same --storage).
        #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        workers: usize,
        /// Study storage: sqlite://<file> or postgres://<user>@<host>/<db>
        /// [default: sqlite://<out>/study.db].
        #[arg(long)]
        storage: Option<String>,
        /// Folder of the trial runs and the report [default: runs/tune-<study name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compute backend: ndarray, flex or wgpu [default: $BURN_DEVICE, else flex].
        #[arg(long)]
        device: Option<String>,
        /// Only summarise the study: best trials, parameter importances and the
        /// optimisation-history plot (report.md, history.png, history.svg).
        #[arg(long)]
        report: bool,
        /// Then train the best trial's configuration into <out>/best-<n>, a full
        /// run folder (report, weights, test metrics).
        #[arg(long)]
        retrain_best: bool,
    },
}

/// What `anneal rl` does besides training.
#[derive(Subcommand)]
enum RlCommand {
    /// Run a trained policy greedily and report its mean return.
    Eval {
        /// The run folder `anneal rl` wrote.
        #[arg(long)]
        run: PathBuf,
        /// Episodes to play.
        #[arg(long, default_value_t = 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        episodes: usize,
        /// Seed of the first episode (episode k uses seed + k).
        #[arg(long, default_value_t = 10_000)]
        seed: u64,
        /// Compute backend: ndarray, flex or wgpu [default: the run's].
        #[arg(long)]
        device: Option<String>,
    },
}

#[derive(Subcommand)]
enum AugmentCommand {
    /// Show training rows (spread over the training part) beside their augmented
    /// copies of the first epochs, as training will see them: images and audio
    /// spectrograms in augment_preview.png (audio also as WAV files in wav/),
    /// texts side by side in augment_preview.md.
    Preview {
        /// The run config (TOML) with an `[augment]` table.
        #[arg(long)]
        config: PathBuf,
        /// Training rows (images, clips, texts) to show.
        #[arg(long, default_value_t = 16)]
        n: usize,
        /// Augmented copies of each (epochs 1 to this).
        #[arg(long, default_value_t = 4)]
        copies: usize,
        /// Folder to create for the preview [default: runs/<config name>-augment-<n>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compute backend: ndarray, flex or wgpu [default: $BURN_DEVICE, else flex].
        #[arg(long)]
        device: Option<String>,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Print a data-quality summary (types, missing values, duplicates, IQR
    /// outliers, cardinalities) and write it as Markdown.
    Inspect {
        /// CSV or Parquet file (CSV plain or gzip).
        file: PathBuf,
        /// Also write the Markdown report to this file (by default it is only printed).
        #[arg(long)]
        output: Option<PathBuf>,
        /// The target column: adds its class balance.
        #[arg(long)]
        target: Option<String>,
        /// The field separator of a CSV file.
        #[arg(long, default_value_t = ',')]
        delimiter: char,
    },
}

/// Why the program stops early: an error of the library, or standard output
/// that cannot be written (a closed pipe ends the program quietly, as `head`
/// expects; any other write failure is an error).
#[derive(Debug)]
enum Failure {
    Anneal(anneal::Error),
    BrokenPipe,
    Stdout(std::io::Error),
}

impl<E: Into<anneal::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Anneal(e.into())
    }
}

/// Writes to standard output without panicking: `print!` panics on a closed pipe.
fn emit(args: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_fmt(args).and_then(|()| out.flush()).map_err(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => Failure::BrokenPipe,
        _ => Failure::Stdout(e),
    })
}

macro_rules! out {
    ($($arg:tt)*) => { emit(format_args!($($arg)*))? };
}

macro_rules! outln {
    ($($arg:tt)*) => { emit(format_args!("{}\n", format_args!($($arg)*)))? };
}

/// mimalloc reads its settings from the environment before `main` runs. By
/// default it hands memory that stayed free for 10 ms back to the kernel, and a
/// training step frees and takes again the same large buffers every few
/// milliseconds, so the kernel zeroes them anew each time: on a transformer epoch
/// here that cost a tenth of the time (4.7 s of system time against 2.5 s in a
/// 21 s run). So the program starts itself once more with
/// `MIMALLOC_PURGE_DELAY=-1` (keep freed memory: the process stays at its peak,
/// as PyTorch's caching allocator does), unless the variable is set already,
/// which also lets a user choose otherwise.
#[cfg(unix)]
fn keep_freed_memory() {
    use std::os::unix::process::CommandExt;
    const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";
    if std::env::var_os(PURGE_DELAY).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // `exec` returns only when it failed; the program then runs here, with mimalloc's defaults.
    let _ = std::process::Command::new(exe).arg0(arg0).args(args).env(PURGE_DELAY, "-1").exec();
}

fn main() -> ExitCode {
    use std::io::Write;
    #[cfg(unix)]
    keep_freed_memory();
    let failure = match run_cli(Cli::parse()) {
        Ok(()) => return ExitCode::SUCCESS,
        Err(Failure::BrokenPipe) => return ExitCode::SUCCESS,
        Err(f) => f,
    };
    // Standard error may be closed too: report what can be reported, never panic.
    let mut err = std::io::stderr().lock();
    match failure {
        Failure::Anneal(e) => {
            let _ = writeln!(err, "error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                let _ = writeln!(err, "  caused by: {s}");
                source = s.source();
            }
        }
        Failure::Stdout(e) => {
            let _ = writeln!(err, "error: cannot write to standard output: {e}");
        }
        Failure::BrokenPipe => {}
    }
    ExitCode::from(2)
}

/// The backend of `anneal train` or `anneal rl`: `--device`, else a resumed run's own
/// backend, else the default.
fn backend_for(resume: Option<&std::path::Path>, device: Option<&str>) -> Result<Backend, Failure> {
    if let (Some(dir), None) = (resume, device)
        && let Some(recorded) = run::run_backend(dir)?
    {
        return Ok(recorded);
    }
    Ok(Backend::resolve(device)?)
}

fn run_cli(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Train { config, out, resume, device, log, replicas, distributed } => {
            let backend = backend_for(resume.as_deref(), device.as_deref())?;
            let (run_config, out) = match (&resume, &config) {
                (Some(dir), _) => (run::resume_config(dir)?, dir.clone()),
                (None, Some(config)) => (RunConfig::load(config)?, out.unwrap_or_else(|| run::default_out(config))),
                (None, None) => unreachable!("clap requires --config or --resume"),
            };
            let progress = if log { Progress::Log } else { Progress::Auto };
            let options = run::TrainOptions {
                out: out.clone(),
                backend,
                progress,
                resume: resume.is_some(),
                replicas,
                mpi: distributed == "mpi",
            };
            let metrics = run::train(&run_config, &options)?;
            if metrics.rank != 0 {
                return Ok(());
            }
            outln!(
                "{}  ({} test rows, {} epochs, device {})",
                metrics.test.summary(),
                metrics.test.rows(),
                metrics.history.len(),
                metrics.device
            );
            outln!("run folder: {}  (report: {})", out.display(), run::RunFolder::new(&out).report().display());
        }
        Command::Rl { action: Some(RlCommand::Eval { run, episodes, seed, device }), .. } => {
            let backend = match (device, run::run_backend(&run)?) {
                (None, Some(recorded)) => recorded,
                (device, _) => Backend::resolve(device.as_deref())?,
            };
            let returns = anneal::reinforcement::evaluate(&run, episodes, seed, backend)?;
            let mean = returns.iter().sum::<f64>() / returns.len() as f64;
            let std = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / returns.len() as f64).sqrt();
            outln!(
                "mean return {} ± {} over {} episodes (greedy policy, seeds {seed}..)",
                run::significant(mean),
                // Identical returns leave a rounding residue, not a spread.
                if std <= 1e-9 * (1.0 + mean.abs()) { "0".into() } else { run::significant(std) },
                returns.len()
            );
        }
        Command::Rl { action: None, config, out, resume, device, log } => {
            let backend = backend_for(resume.as_deref(), device.as_deref())?;
            let (rl_config, out) = match (&resume, &config) {
                (Some(dir), _) => (anneal::reinforcement::run_config(dir)?, dir.clone()),
                (None, Some(config)) => {
                    (anneal::reinforcement::load_config(config)?, out.unwrap_or_else(|| run::default_out(config)))
                }
                (None, None) => unreachable!("clap requires --config or --resume"),
            };
            let options = anneal::reinforcement::RlOptions { out: out.clone(), backend, resume: resume.is_some(), log };
            let s = anneal::reinforcement::train(&rl_config, &options)?;
            let mut parts = vec![format!("{} steps", s.env_steps), format!("{} episodes", s.episodes)];
            match (s.target_return, s.steps_to_target) {
                (Some(t), Some(k)) => parts.push(format!("reached {t} after {k} steps")),
                (Some(t), None) => parts.push(format!("did not reach {t}")),
                _ => {}
            }
            if let Some(m) = s.eval_mean_return {
                parts.push(format!("greedy policy {} over {} episodes", run::significant(m), s.eval_episodes));
            }
            outln!(
                "{} on {}: {}  ({:.0} steps/s)",
                s.algorithm.to_uppercase(),
                s.env,
                parts.join(", "),
                s.env_steps_per_second
            );
            outln!("run folder: {}  (report: {})", out.display(), out.join("report.md").display());
        }
        Command::Tune { config, trials, workers, storage, out, device, report, retrain_best } => {
            let tune_config = anneal::tune::TuneConfig::load(&config)?;
            let out = out.unwrap_or_else(|| PathBuf::from("runs").join(format!("tune-{}", tune_config.study.name)));
            if !report {
                let backend = Backend::resolve(device.as_deref())?;
                let options =
                    anneal::tune::TuneOptions { trials, workers, storage: storage.clone(), out: out.clone(), backend };
                anneal::tune::tune(&tune_config, &options)?;
            }
            let summary = anneal::tune::report(&tune_config, &storage, &out)?;
            let markdown = anneal::tune::write_report(&tune_config, &summary, &out)?;
            outln!("{markdown}");
            outln!("report: {}  (plot: {})", out.join("report.md").display(), out.join("history.png").display());
            if let Some(best) = anneal::tune::best_trial(&tune_config, &storage, &out)? {
                let objective = tune_config.study.objective.name();
                match &best.test {
                    Some(test) => outln!(
                        "best trial {}: {objective} {:.4}; on its held-out test rows: {}  ({})",
                        best.number,
                        best.value,
                        test.summary(),
                        best.folder.display()
                    ),
                    None => outln!(
                        "best trial {}: {objective} {:.4} (cross-validated: no test rows held out)  ({})",
                        best.number,
                        best.value,
                        best.folder.display()
                    ),
                }
                if retrain_best {
                    let backend = Backend::resolve(device.as_deref())?;
                    let (folder, metrics) = anneal::tune::retrain_best(&tune_config, &best, &out, backend)?;
                    outln!(
                        "retrained the best configuration: {}  (run folder: {})",
                        metrics.test.summary(),
                        folder.display()
                    );
                }
            }
        }
        Command::Pretrain { config, out, device, mask_rate, log } => {
            let backend = Backend::resolve(device.as_deref())?;
            let run_config = RunConfig::load(&config)?;
            let out = out.unwrap_or_else(|| run::default_out_named(&config, "pretrain"));
            let progress = if log { Progress::Log } else { Progress::Auto };
            let options = anneal::pretrain::PretrainOptions { out: out.clone(), backend, progress, mask_rate };
            let m = anneal::pretrain::pretrain(&run_config, &options)?;
            if let Some(last) = m.history.last() {
                outln!(
                    "masked-token accuracy {:.4}, loss {:.4} after {} epochs on {} texts",
                    last.metric("train_accuracy").unwrap_or(f64::NAN),
                    last.metric("train_loss").unwrap_or(f64::NAN),
                    m.history.len(),
                    m.texts
                );
            }
            outln!("run folder: {}  (use it as [transfer] from)", out.display());
        }
        Command::LrFind { config, out, device, start_lr, end_lr, steps } => {
            let backend = Backend::resolve(device.as_deref())?;
            let run_config = RunConfig::load(&config)?;
            let out = out.unwrap_or_else(|| run::default_out_named(&config, "lr-find"));
            let result =
                run::lr_find(&run_config, &run::LrFindOptions { out: out.clone(), backend, start_lr, end_lr, steps })?;
            let last = result.learning_rates.last().copied().unwrap_or(start_lr);
            outln!(
                "swept {} steps from {start_lr:e} to {last:e}{}",
                result.learning_rates.len(),
                if result.diverged { " (stopped: the loss diverged)" } else { "" }
            );
            match result.suggestion {
                Some(lr) => outln!("suggested learning rate: {lr:.3e} (steepest descent of the smoothed loss)"),
                None => outln!("no suggestion: the loss never fell steadily; widen the range or add steps"),
            }
            outln!("plot: {}", out.join("lr_find.png").display());
        }
        Command::Augment { command: AugmentCommand::Preview { config, n, copies, out, device } } => {
            let backend = Backend::resolve(device.as_deref())?;
            let run_config = RunConfig::load(&config)?;
            let out = out.unwrap_or_else(|| run::default_out_named(&config, "augment"));
            let options = run::AugmentPreviewOptions { out, images: n, copies, backend };
            let path = run::augment_preview(&run_config, &options)?;
            outln!("preview: {}", path.display());
        }
        Command::Data { command: DataCommand::Inspect { file, output, target, delimiter } } => {
            if let Some(output) = &output {
                run::refuse_overwrite(output, &file)?;
            }
            let options = anneal::data::CsvOptions { delimiter, ..anneal::data::CsvOptions::default() };
            let table = anneal::data::Table::read(&file, &options)?;
            let mut inspection = anneal::data::inspect::inspect(&table)?;
            if let Some(target) = &target {
                inspection = inspection.with_target(&table, target)?;
            }
            let report = inspection.to_markdown(&file.display().to_string());
            out!("{report}");
            if let Some(output) = output {
                std::fs::write(&output, report).map_err(|source| anneal::Error::Io { path: output.clone(), source })?;
                eprintln!("wrote {}", output.display());
            }
        }
        Command::Predict { run: run_dir, input, output, device } => {
            if let Some(path) = &output {
                run::refuse_overwrite(path, &input)?;
                run::refuse_overwrite(path, &run_dir)?;
            }
            let backend = Backend::resolve(device.as_deref())?;
            let predictions = run::predict(&run_dir, &input, backend)?;
            let csv = predictions.to_csv();
            match output {
                Some(path) => {
                    std::fs::write(&path, csv).map_err(|source| anneal::Error::Io { path: path.clone(), source })?;
                    eprintln!("wrote {} predictions to {}", predictions.len(), path.display());
                }
                None => out!("{csv}"),
            }
        }
        Command::Dashboard { runs, storage, port, host } => {
            let config = anneal_dashboard::DashboardConfig {
                runs,
                storages: storage,
                addr: std::net::SocketAddr::new(host, port),
            };
            let dashboard = anneal_dashboard::Dashboard::start(config).map_err(anneal::Error::from)?;
            // The one line a script waits for (tests read the address from it).
            outln!("dashboard: {}  (Ctrl-C to stop)", dashboard.url());
            dashboard.wait().map_err(anneal::Error::from)?;
        }
        Command::Export { run: run_dir, format, output } => {
            if format != "safetensors" {
                return Err(anneal::Error::Setting(format!(
                    "--format {format}: the export format is safetensors (PyTorch loads it with \
                     safetensors.torch.load_file)"
                ))
                .into());
            }
            let output = output.unwrap_or_else(|| run_dir.with_extension("safetensors"));
            run::refuse_overwrite(&output, &run_dir)?;
            run::export(&run_dir, &output)?;
            eprintln!("wrote the weights of {} to {}", run_dir.display(), output.display());
        }
        Command::Cv {
            config,
            folds,
            split,
            group,
            gap,
            workers,
            out,
            device,
            learning_curve,
            sizes,
            max_error,
            max_gap,
        } => {
            let splitter = splitter(split, group, gap);
            let backend = Backend::resolve(device.as_deref())?;
            let run_config = RunConfig::load(&config)?;
            let out = out.unwrap_or_else(|| anneal::cv::default_out(&config));
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            let options = anneal::cv::CvOptions {
                folds,
                splitter,
                workers: workers.unwrap_or_else(|| cpus.min(folds).max(1)),
                backend,
                out: out.clone(),
                learning_curve: learning_curve.then_some(sizes),
                diagnosis: anneal::evaluate::DiagnosisConfig {
                    max_error: max_error.unwrap_or(anneal::evaluate::DiagnosisConfig::default().max_error),
                    max_gap,
                    ..Default::default()
                },
                estimate_noise_floor: max_error.is_none(),
            };
            let outcome = anneal::cv::cross_validate(&run_config, &options)?;
            out!("{}", outcome.report.to_markdown(4));
            let name = match outcome.task {
                anneal::config::Task::Classification => "accuracy",
                anneal::config::Task::Regression | anneal::config::Task::MultiTask => "r2",
            };
            let acc = &outcome.report.test[name];
            outln!(
                "cross-validated {name} {:.4} ± {:.4}  ({} folds over {} rows, {} held out)",
                acc.mean,
                acc.std,
                outcome.n_folds,
                outcome.rows,
                outcome.held_out
            );
            if let Some(d) = &outcome.diagnosis {
                outln!("learning curve verdict: {}", d.explanation());
            }
            outln!("report: {}", out.join("cv.md").display());
        }
        Command::Eval { run: run_dir, data, out, device, part } => {
            let backend = Backend::resolve(device.as_deref())?;
            let out = out.unwrap_or_else(|| anneal::eval::default_out(&run_dir));
            let options =
                anneal::eval::EvalOptions { run: run_dir, data, out: out.clone(), backend, part: part.map(Part::from) };
            let m = anneal::eval::evaluate_run(&options)?;
            outln!("{}", m.summary());
            outln!("report: {}", out.join("eval.md").display());
        }
    }
    Ok(())
}

/// The splitter names of the command line (`--split`); the library's type is
/// [`Splitter`] (clap's types stay in the program).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SplitKind {
    /// Stratified k-fold.
    Stratified,
    /// Plain shuffled k-fold.
    KFold,
    /// Group k-fold (with `--group <column>`).
    Group,
    /// Time-series folds (with `--gap <rows>`).
    TimeSeries,
}

/// The parts of a run's split on the command line (`anneal eval --part`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PartArg {
    /// The rows the weights were fitted on.
    Train,
    /// The early-stopping rows.
    Valid,
    /// The held-out test rows.
    Test,
}

impl From<PartArg> for Part {
    fn from(p: PartArg) -> Part {
        match p {
            PartArg::Train => Part::Train,
            PartArg::Valid => Part::Valid,
            PartArg::Test => Part::Test,
        }
    }
}

/// The splitter of `anneal cv`'s --split, --group and --gap (`None`: the task's
/// default); a combination that does not fit exits as clap's usage errors do.
fn splitter(split: Option<SplitKind>, group: Option<String>, gap: Option<usize>) -> Option<Splitter> {
    let usage = |message: &str| -> ! {
        Cli::command().error(clap::error::ErrorKind::ArgumentConflict, message).exit();
    };
    let splitter = match (split, group) {
        (None | Some(SplitKind::Group), Some(column)) => Splitter::Group { column },
        (Some(SplitKind::Group), None) => usage("--split group needs --group <COLUMN>"),
        (Some(_), Some(_)) => usage("--group is only for group k-fold (--split group)"),
        (None, None) => {
            if gap.is_some() {
                usage("--gap is only for time-series folds (--split time-series)");
            }
            return None;
        }
        (Some(SplitKind::Stratified), None) => Splitter::Stratified,
        (Some(SplitKind::KFold), None) => Splitter::KFold,
        (Some(SplitKind::TimeSeries), None) => Splitter::TimeSeries { gap: gap.unwrap_or(0) },
    };
    if gap.is_some() && !matches!(splitter, Splitter::TimeSeries { .. }) {
        usage("--gap is only for time-series folds (--split time-series)");
    }
    Some(splitter)
}
