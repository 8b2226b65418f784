//! `anneal tune`: hyperparameter search where every trial is an `anneal train` run.
//!
//! A tune config names a base run config, the study (objective, sampler, storage) and
//! the search space; each parameter's name is the dotted path of the run-config
//! setting it replaces (`optimizer.learning_rate`, `model.hidden.0`,
//! `model.dropout`). A trial loads the base config, sets the sampled values, trains
//! with `anneal train` into `<out>/trial-<n>` and is scored by its **validation**
//! metric at the kept epoch — the test rows never steer the search.
//!
//! ```toml
//! base = "../configs/penguins.toml"
//!
//! [study]
//! name = "penguins-mlp"
//! objective = "val_loss"   # or val_accuracy, val_macro_f1
//! sampler = "tpe"          # random, sobol, tpe, gp
//! seed = 0
//!
//! [[param]]
//! name = "optimizer.learning_rate"
//! type = "float"
//! low = 1e-4
//! high = 0.1
//! log = true
//! ```
//!
//! The study lives in a storage (`sqlite://<out>/study.db` by default): run the same
//! command again and it resumes from the trials already finished; start it on
//! several machines against one `postgres://` URL and they share the study.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anneal_hpo::prelude::*;
use anneal_hpo::{Choice, FrozenTrial, HpoError, ObjectiveError, open_storage};
use anneal_train::{Backend, Progress};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::{Error, Result, io};
use crate::run::{TrainOptions, train};

/// Which validation metric scores a trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Validation cross-entropy at the kept epoch (minimised).
    #[default]
    ValLoss,
    /// Validation accuracy at the kept epoch (maximised).
    ValAccuracy,
    /// Validation macro-F1 at the kept epoch (maximised).
    ValMacroF1,
}

impl Objective {
    fn direction(self) -> Direction {
        match self {
            Objective::ValLoss => Direction::Minimize,
            Objective::ValAccuracy | Objective::ValMacroF1 => Direction::Maximize,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Objective::ValLoss => "val_loss",
            Objective::ValAccuracy => "val_accuracy",
            Objective::ValMacroF1 => "val_macro_f1",
        }
    }
}

/// The search algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    /// Uniform random search.
    Random,
    /// Scrambled Sobol quasi-random points.
    Sobol,
    /// Tree-structured Parzen estimator (multivariate).
    #[default]
    Tpe,
    /// Gaussian-process Bayesian optimisation (Matérn 5/2, expected improvement).
    Gp,
}

/// The `[study]` table of a tune config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudySection {
    /// The study's name in its storage.
    pub name: String,
    /// The validation metric to optimise.
    #[serde(default)]
    pub objective: Objective,
    /// The sampler.
    #[serde(default)]
    pub sampler: SamplerKind,
    /// Seed of the sampler (each worker thread offsets it).
    #[serde(default)]
    pub seed: u64,
    /// Seconds without a heartbeat after which another worker fails a running trial.
    #[serde(default = "default_heartbeat")]
    pub heartbeat_timeout_s: f64,
}

fn default_heartbeat() -> f64 {
    120.0
}

/// A tune config: the base run config, the study and the search space.
#[derive(Debug, Clone, PartialEq)]
pub struct TuneConfig {
    /// The run config every trial starts from (normalised path).
    pub base: PathBuf,
    /// The study settings.
    pub study: StudySection,
    /// The search space; parameter names are dotted run-config paths.
    pub space: SearchSpace,
    /// Where this config was read from.
    pub path: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTune {
    base: PathBuf,
    study: StudySection,
    param: toml::Value,
}

impl TuneConfig {
    /// Reads a tune config; the base path is relative to the config's folder.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let bad = |message: String| Error::Config { path: path.to_path_buf(), message };
        let raw: RawTune = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let mut table = toml::Table::new();
        table.insert("param".into(), raw.param);
        let space = SearchSpace::from_toml_str(&toml::to_string(&table).map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
        if !(raw.study.heartbeat_timeout_s.is_finite() && raw.study.heartbeat_timeout_s > 0.0) {
            return Err(bad(format!("heartbeat_timeout_s must be > 0, got {}", raw.study.heartbeat_timeout_s)));
        }
        let base = path.parent().unwrap_or(Path::new(".")).join(&raw.base);
        let config = Self { base, study: raw.study, space, path: path.to_path_buf() };
        // Every parameter must name a setting of the base config.
        let base_value = config.base_value()?;
        for p in config.space.params() {
            if lookup(&base_value, &p.name).is_none() {
                return Err(bad(format!(
                    "parameter `{}` does not name a setting of {}",
                    p.name,
                    config.base.display()
                )));
            }
        }
        Ok(config)
    }

    fn base_value(&self) -> Result<toml::Value> {
        let base = RunConfig::load(&self.base)?;
        toml::Value::try_from(&base).map_err(|e| Error::Config { path: self.base.clone(), message: e.to_string() })
    }

    /// The base run config with `params` set.
    pub fn trial_config(&self, params: &BTreeMap<String, ParamValue>) -> Result<RunConfig> {
        let mut value = self.base_value()?;
        for (name, v) in params {
            let slot = lookup_mut(&mut value, name).ok_or_else(|| Error::Config {
                path: self.path.clone(),
                message: format!("parameter `{name}` does not name a setting of {}", self.base.display()),
            })?;
            *slot = to_toml(v);
        }
        let mut config: RunConfig = value.try_into().map_err(|e: toml::de::Error| Error::Config {
            path: self.path.clone(),
            message: format!("a sampled configuration is invalid: {e}"),
        })?;
        // The data path was normalised when the base was loaded; keep it.
        config.data.path = RunConfig::load(&self.base)?.data.path;
        Ok(config)
    }
}

fn to_toml(v: &ParamValue) -> toml::Value {
    match v {
        ParamValue::Int(i) => toml::Value::Integer(*i),
        ParamValue::Float(x) => toml::Value::Float(*x),
        ParamValue::Categorical(Choice::Bool(b)) => toml::Value::Boolean(*b),
        ParamValue::Categorical(Choice::Int(i)) => toml::Value::Integer(*i),
        ParamValue::Categorical(Choice::Float(x)) => toml::Value::Float(*x),
        ParamValue::Categorical(Choice::Str(s)) => toml::Value::String(s.clone()),
    }
}

fn lookup<'a>(value: &'a toml::Value, path: &str) -> Option<&'a toml::Value> {
    path.split('.').try_fold(value, |v, key| match v {
        toml::Value::Table(t) => t.get(key),
        toml::Value::Array(a) => a.get(key.parse::<usize>().ok()?),
        _ => None,
    })
}

fn lookup_mut<'a>(value: &'a mut toml::Value, path: &str) -> Option<&'a mut toml::Value> {
    path.split('.').try_fold(value, |v, key| match v {
        toml::Value::Table(t) => t.get_mut(key),
        toml::Value::Array(a) => a.get_mut(key.parse::<usize>().ok()?),
        _ => None,
    })
}

/// How to run a search.
#[derive(Debug, Clone)]
pub struct TuneOptions {
    /// Complete trials the study should hold when this returns.
    pub trials: usize,
    /// Worker threads in this process.
    pub workers: usize,
    /// The storage URL (default: `sqlite://<out>/study.db`).
    pub storage: Option<String>,
    /// Folder of the trial run folders.
    pub out: PathBuf,
    /// The compute backend of every trial.
    pub backend: Backend,
}

fn study(config: &TuneConfig, storage: &str, seed_offset: u64) -> Result<Study> {
    let seed = config.study.seed.wrapping_add(seed_offset);
    let builder = Study::builder(&config.study.name)
        .storage(open_storage(storage).map_err(hpo_error)?)
        .space(config.space.clone())
        .direction(config.study.objective.direction());
    let builder = match config.study.sampler {
        SamplerKind::Random => builder.sampler(RandomSampler::new(seed)),
        SamplerKind::Sobol => builder.sampler(SobolSampler::new(seed)),
        SamplerKind::Tpe => builder.sampler(TpeSampler::new(seed)),
        SamplerKind::Gp => builder.sampler(GpSampler::new(seed)),
    };
    builder.build().map_err(hpo_error)
}

fn hpo_error(e: HpoError) -> Error {
    Error::Tune(e.to_string())
}

fn storage_url(options_storage: &Option<String>, out: &Path) -> String {
    options_storage.clone().unwrap_or_else(|| format!("sqlite://{}", out.join("study.db").display()))
}

/// Runs the search until the study holds `options.trials` complete trials (resuming
/// whatever is already in its storage) and returns the best trial.
pub fn tune(config: &TuneConfig, options: &TuneOptions) -> Result<Option<Arc<FrozenTrial>>> {
    std::fs::create_dir_all(&options.out).map_err(io(&options.out))?;
    let url = storage_url(&options.storage, &options.out);
    // Each worker thread gets its own sampler seed, all share the storage.
    let study = study(config, &url, 0)?;
    let objective = config.study.objective;
    let done = study.trials().map_err(hpo_error)?.iter().filter(|t| t.state == TrialState::Complete).count();
    eprintln!(
        "tune: study `{}` in {url}: {done} of {} trials complete; {} worker(s); objective {} ({:?})",
        config.study.name,
        options.trials,
        options.workers,
        objective.name(),
        objective.direction()
    );
    let timeout = Duration::from_secs_f64(config.study.heartbeat_timeout_s);
    study
        .optimize_until(options.trials, options.workers.max(1), timeout, |trial| {
            let params = trial.suggest_space()?;
            let run_config = config.trial_config(&params).map_err(|e| ObjectiveError::Failed(e.to_string()))?;
            let out = options.out.join(format!("trial-{}", trial.number()));
            let train_options =
                TrainOptions { out, backend: options.backend, progress: Progress::Silent, resume: false };
            let metrics = train(&run_config, &train_options).map_err(|e| ObjectiveError::Failed(e.to_string()))?;
            for r in &metrics.history {
                if let Some(v) = metric(r, objective) {
                    trial.report(r.epoch as u64, v)?;
                }
            }
            let kept = metrics.history.iter().find(|r| r.epoch == metrics.best_epoch).or(metrics.history.last());
            let value = kept.and_then(|r| metric(r, objective)).ok_or_else(|| {
                ObjectiveError::Failed(format!(
                    "no {} in the history (is the validation split empty?)",
                    objective.name()
                ))
            })?;
            eprintln!("tune: trial {} → {} {value:.4}  {}", trial.number(), objective.name(), describe(&params));
            Ok(value)
        })
        .map_err(hpo_error)?;
    study.best_trial().map_err(hpo_error)
}

fn metric(r: &anneal_train::EpochRecord, objective: Objective) -> Option<f64> {
    match objective {
        Objective::ValLoss => r.val_loss,
        Objective::ValAccuracy => r.val_accuracy,
        Objective::ValMacroF1 => r.val_macro_f1,
    }
}

fn describe(params: &BTreeMap<String, ParamValue>) -> String {
    params.iter().map(|(k, v)| format!("{k}={}", show(v))).collect::<Vec<_>>().join("  ")
}

fn show(v: &ParamValue) -> String {
    match v {
        ParamValue::Int(i) => i.to_string(),
        ParamValue::Float(x) => format!("{x:.4e}"),
        ParamValue::Categorical(c) => match c {
            Choice::Bool(b) => b.to_string(),
            Choice::Int(i) => i.to_string(),
            Choice::Float(x) => x.to_string(),
            Choice::Str(s) => s.clone(),
        },
    }
}

/// A study's summary: the best trials, parameter importances and the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TuneReport {
    /// Trials by state.
    pub counts: BTreeMap<String, usize>,
    /// The best complete trials, best first: number, value, parameters.
    pub best: Vec<(u64, f64, BTreeMap<String, String>)>,
    /// Per parameter, the share of the objective's variance explained by it.
    pub importances: Vec<(String, f64)>,
    /// Per complete trial in number order: (number, value, best so far).
    pub history: Vec<(u64, f64, f64)>,
}

/// Summarises the study `config` names in `storage` (default `sqlite://<out>/study.db`).
pub fn report(config: &TuneConfig, storage: &Option<String>, out: &Path) -> Result<TuneReport> {
    let url = storage_url(storage, out);
    let study = study(config, &url, 0)?;
    let trials = study.trials().map_err(hpo_error)?;
    let direction = config.study.objective.direction();
    let mut counts = BTreeMap::new();
    for t in &trials {
        *counts.entry(t.state.as_str().to_string()).or_insert(0) += 1;
    }
    let complete: Vec<&Arc<FrozenTrial>> =
        trials.iter().filter(|t| t.state == TrialState::Complete && t.value.is_some()).collect();
    let mut ranked = complete.clone();
    ranked.sort_by(|a, b| {
        direction.to_loss(a.value.unwrap_or(f64::NAN)).total_cmp(&direction.to_loss(b.value.unwrap_or(f64::NAN)))
    });
    let best = ranked
        .iter()
        .take(5)
        .map(|t| {
            let params = t.param_values().iter().map(|(k, v)| (k.clone(), show(v))).collect();
            (t.number, t.value.unwrap_or(f64::NAN), params)
        })
        .collect();
    let mut history = Vec::new();
    let mut best_so_far: Option<f64> = None;
    for t in &complete {
        let v = t.value.unwrap_or(f64::NAN);
        best_so_far = Some(match best_so_far {
            Some(b) if !direction.better(v, b) => b,
            _ => v,
        });
        history.push((t.number, v, best_so_far.unwrap_or(v)));
    }
    Ok(TuneReport { counts, best, importances: importances(&config.space, &complete), history })
}

/// Variance-based importance: for each parameter, the trials are grouped (categories,
/// or quartiles of the internal value for numbers) and the between-group variance of
/// the objective is divided by its total variance; shares are normalised to sum to 1.
/// A cheap first-order estimate (no interactions), stated as such in the report.
fn importances(space: &SearchSpace, trials: &[&Arc<FrozenTrial>]) -> Vec<(String, f64)> {
    let values: Vec<f64> = trials.iter().filter_map(|t| t.value).collect();
    if values.len() < 4 {
        return Vec::new();
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let total: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    let mut raw = Vec::new();
    for p in space.params() {
        let mut pairs: Vec<(f64, f64)> =
            trials.iter().filter_map(|t| Some((*t.params.get(&p.name)?, t.value?))).collect();
        if pairs.len() < 4 || total <= 0.0 {
            raw.push((p.name.clone(), 0.0));
            continue;
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let categorical = matches!(p.distribution, Distribution::Categorical { .. });
        let mut groups: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for (i, (x, v)) in pairs.iter().enumerate() {
            let key = if categorical { *x as i64 } else { (4 * i / pairs.len()) as i64 };
            groups.entry(key).or_default().push(*v);
        }
        let between: f64 = groups
            .values()
            .map(|g| {
                let m = g.iter().sum::<f64>() / g.len() as f64;
                g.len() as f64 * (m - mean).powi(2)
            })
            .sum();
        raw.push((p.name.clone(), between / total));
    }
    let sum: f64 = raw.iter().map(|(_, v)| v).sum();
    if sum > 0.0 {
        for (_, v) in &mut raw {
            *v /= sum;
        }
    }
    raw.sort_by(|a, b| b.1.total_cmp(&a.1));
    raw
}

impl TuneReport {
    /// The report as Markdown.
    pub fn to_markdown(&self, config: &TuneConfig) -> String {
        let mut s = format!("# Study `{}`\n\n", config.study.name);
        let _ = writeln!(
            s,
            "Objective: {} ({:?}), sampler {:?}. Trials: {}.\n",
            config.study.objective.name(),
            config.study.objective.direction(),
            config.study.sampler,
            self.counts.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
        );
        let _ =
            writeln!(s, "## Best trials\n\n| trial | {} | parameters |\n|---|---|---|", config.study.objective.name());
        for (n, v, params) in &self.best {
            let p = params.iter().map(|(k, v)| format!("`{k}` = {v}")).collect::<Vec<_>>().join(", ");
            let _ = writeln!(s, "| {n} | {v:.4} | {p} |");
        }
        let _ = writeln!(
            s,
            "\n## Parameter importances\n\nShare of the objective's variance between groups of trials \
             (categories, or quartiles of a numeric parameter): a first-order estimate that ignores \
             interactions.\n\n| parameter | importance |\n|---|---|"
        );
        for (k, v) in &self.importances {
            let _ = writeln!(s, "| `{k}` | {v:.3} |");
        }
        let _ = writeln!(s, "\n## Optimisation history\n\n![history](history.png)");
        s
    }
}

/// Writes `report.md`, `report.json` and the optimisation history
/// (`history.png`, `history.svg`) into `out`; returns the Markdown.
pub fn write_report(config: &TuneConfig, report: &TuneReport, out: &Path) -> Result<String> {
    use anneal_train::plot::{Chart, PALETTE, Series, save_charts};
    std::fs::create_dir_all(out).map_err(io(out))?;
    let markdown = report.to_markdown(config);
    let path = out.join("report.md");
    std::fs::write(&path, &markdown).map_err(io(&path))?;
    let path = out.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(report).unwrap_or_default() + "\n").map_err(io(&path))?;
    let trials = report.history.iter().map(|&(n, v, _)| (n as f64, v)).collect();
    let best = report.history.iter().map(|&(n, _, b)| (n as f64, b)).collect();
    let mut each = Series::line("trial", trials, PALETTE[0]);
    each.markers = true;
    let chart = Chart {
        title: format!("Optimisation history of `{}`", config.study.name),
        x_label: "trial".into(),
        y_label: config.study.objective.name().into(),
        series: vec![each, Series::line("best so far", best, PALETTE[1])],
        ..Chart::default()
    };
    save_charts(&[chart], &out.join("history"))?;
    Ok(markdown)
}
