//! The `anneal` command-line program: `anneal train` and `anneal predict`.

use std::error::Error as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anneal::train::{Backend, Progress};
use anneal::{RunConfig, run};
use clap::{Parser, Subcommand};

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
        #[arg(long)]
        config: PathBuf,
        /// Run folder to create [default: runs/<config name>-<n>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compute backend: ndarray, flex or wgpu [default: $BURN_DEVICE, else flex].
        #[arg(long)]
        device: Option<String>,
        /// Print one line per epoch instead of a progress bar, even on a terminal.
        #[arg(long)]
        log: bool,
    },
    /// Look at a data file before training on it.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Predict classes for the rows of a CSV file with a finished run.
    Predict {
        /// The run folder written by `anneal train`.
        #[arg(long)]
        run: PathBuf,
        /// CSV file with the feature columns (the target column may be absent).
        #[arg(long)]
        input: PathBuf,
        /// Where to write the predictions [default: standard output].
        #[arg(long)]
        output: Option<PathBuf>,
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
        /// CSV file (plain or gzip).
        file: PathBuf,
        /// Where to write the Markdown report [default: <file name>.inspect.md].
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run_cli(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::from(2)
        }
    }
}

fn run_cli(cli: Cli) -> anneal::Result<()> {
    match cli.command {
        Command::Train { config, out, device, log } => {
            let backend = Backend::resolve(device.as_deref())?;
            let run_config = RunConfig::load(&config)?;
            let out = out.unwrap_or_else(|| run::default_out(&config));
            let progress = if log { Progress::Log } else { Progress::Auto };
            let metrics = run::train(&run_config, &run::TrainOptions { out: out.clone(), backend, progress })?;
            println!(
                "test accuracy {:.4}  macro-F1 {:.4}  ({} test rows, {} epochs, device {})",
                metrics.test.accuracy,
                metrics.test.macro_f1,
                metrics.test.rows,
                metrics.history.len(),
                metrics.device
            );
            println!("run folder: {}  (report: {})", out.display(), out.join("report.md").display());
        }
        Command::Data { command: DataCommand::Inspect { file, output } } => {
            let table = anneal::data::Table::read(&file, &anneal::data::CsvOptions::default())?;
            let report = anneal::data::inspect::inspect(&table)?.to_markdown(&file.display().to_string());
            print!("{report}");
            let name = file.file_name().map_or("data".into(), |n| n.to_string_lossy().into_owned());
            let output = output.unwrap_or_else(|| PathBuf::from(format!("{name}.inspect.md")));
            std::fs::write(&output, report).map_err(|source| anneal::Error::Io { path: output.clone(), source })?;
            eprintln!("wrote {}", output.display());
        }
        Command::Predict { run: run_dir, input, output, device } => {
            let backend = Backend::resolve(device.as_deref())?;
            let predictions = run::predict(&run_dir, &input, backend)?;
            let csv = predictions.to_csv();
            match output {
                Some(path) => {
                    std::fs::write(&path, csv).map_err(|source| anneal::Error::Io { path: path.clone(), source })?;
                    eprintln!("wrote {} predictions to {}", predictions.evaluation.predictions.len(), path.display());
                }
                None => print!("{csv}"),
            }
        }
    }
    Ok(())
}
