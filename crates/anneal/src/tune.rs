//! `anneal tune`: hyperparameter search where every trial is an `anneal train` run.
//!
//! A tune config names a base run config, the study (objective, sampler, storage) and
//! the search space; each parameter's name is the dotted path of the run-config
//! setting it replaces (`optimizer.learning_rate`, `model.hidden.0`,
//! `model.dropout`). A trial loads the base config, sets the sampled values, trains
//! with `anneal train` into `<out>/trial-<n>` and is scored by its **validation**
//! metric at the kept epoch — the test rows never steer the search. With
//! `[study] cv_folds = k` a trial is instead an `anneal cv` run scored by the mean of
//! its k held-out folds.
//!
//! ```toml
//! base = "../configs/penguins.toml"
//!
//! [study]
//! name = "penguins-mlp"
//! objective = "val_loss"   # or val_accuracy, val_macro_f1; val_rmse, val_r2, ... for regression
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
//! Every epoch's validation metric is reported to the trial, so a pruner can stop
//! unpromising trials early: `[study] pruner = "median"` (settings in
//! `[study.median]`), `"asha"` (`[study.asha]`) or `"hyperband"` (`[study.hyperband]`);
//! a pruned trial's run folder holds the epochs it trained and the storage records it
//! as pruned.
//!
//! `optimizer.name` may be searched over every optimiser, the hypergradient ones
//! (`sgd_hd`, `adam_hd`) included; a setting only some optimisers have, such as
//! `optimizer.hypergradient_lr`, is declared conditional on `optimizer.name`:
//!
//! ```toml
//! [[param]]
//! name = "optimizer.name"
//! type = "categorical"
//! choices = ["adam", "adam_hd"]
//!
//! [[param]]
//! name = "optimizer.hypergradient_lr"
//! type = "float"
//! low = 1e-6
//! high = 1e-3
//! log = true
//! condition = { parent = "optimizer.name", values = ["adam_hd"] }
//! ```
//!
//! The study lives in a storage (`sqlite://<out>/study.db` by default): run the same
//! command again and it resumes from the trials already finished; start it on
//! several machines against one `postgres://` URL and they share the study. A trial
//! whose run fails is recorded as failed and its slot handed out again; after
//! `max_failures_in_a_row` (`[study]`, default 10) failures one after another the
//! search stops with the last failure's message.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anneal_evaluate::diagnose::DiagnosisConfig;
use anneal_hpo::prelude::*;
use anneal_hpo::{Choice, FrozenTrial, HpoError, ObjectiveError, ParamSpec, Trial, open_storage};
use anneal_optim::OptimizerConfig;
use anneal_train::{Backend, EpochRecord, Progress, TrainHook};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::cv::{CvOptions, cross_validate};
use crate::error::{Error, Result, io};
use crate::run::{TrainOptions, train_with_hook};

/// Which validation metric scores a trial: `val_loss` (the default, minimised) or
/// `val_<metric>` for any metric the run records (`val_accuracy`, `val_macro_f1`
/// for a classification; `val_r2`, `val_rmse`, `val_mae`, `val_mape`,
/// `val_explained_variance`, `val_max_error` for a regression), minimised or
/// maximised as the metric says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Objective(String);

impl Default for Objective {
    fn default() -> Self {
        Objective("val_loss".into())
    }
}

impl TryFrom<String> for Objective {
    type Error = String;

    fn try_from(name: String) -> std::result::Result<Self, String> {
        match (name.starts_with("val_"), anneal_train::metric::higher_is_better(&name)) {
            (true, Some(_)) => Ok(Objective(name)),
            _ => Err(format!(
                "unknown objective `{name}`: use val_loss, val_accuracy or val_macro_f1 (classification), \
                 or val_r2, val_rmse, val_mae, val_mape, val_explained_variance or val_max_error (regression)"
            )),
        }
    }
}

impl From<Objective> for String {
    fn from(o: Objective) -> String {
        o.0
    }
}

impl Objective {
    fn direction(&self) -> Direction {
        match anneal_train::metric::higher_is_better(&self.0) {
            Some(true) => Direction::Maximize,
            _ => Direction::Minimize,
        }
    }

    /// The metric's name (`val_loss`, `val_r2`, ...).
    pub fn name(&self) -> &str {
        &self.0
    }

    /// The fold test score it reads under cross-validation (`anneal cv`'s names:
    /// a classifier's loss is `log_loss`, a regression's `loss`).
    fn cv_score(&self, scores: &BTreeMap<String, anneal_evaluate::Summary>) -> Option<f64> {
        let names: &[&str] = match self.0.as_str() {
            "val_loss" => &["log_loss", "loss"],
            other => &[&other[4..]],
        };
        names.iter().find_map(|n| scores.get(*n)).map(|s| s.mean)
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

/// Which pruner stops unpromising trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PrunerKind {
    /// Every trial trains all its epochs.
    #[default]
    None,
    /// The median stopping rule ([`MedianPruner`]), settings in `[study.median]`.
    Median,
    /// Asynchronous successive halving ([`AshaPruner`]), settings in `[study.asha]`.
    Asha,
    /// Hyperband brackets over ASHA ([`HyperbandPruner`]), settings in `[study.hyperband]`.
    Hyperband,
}

/// `[study.median]`: the median pruner's settings (steps are epochs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MedianSettings {
    /// No pruning until this many trials have completed.
    pub n_startup_trials: usize,
    /// No pruning before this epoch of each trial.
    pub n_warmup_steps: u64,
    /// Decide only every this many epochs after warm-up (at least 1).
    pub interval_steps: u64,
    /// At least this many completed trials must have reported the epoch.
    pub n_min_trials: usize,
}

impl Default for MedianSettings {
    fn default() -> Self {
        let d = MedianPruner::default();
        Self {
            n_startup_trials: d.n_startup_trials,
            n_warmup_steps: d.n_warmup_steps,
            interval_steps: d.interval_steps,
            n_min_trials: d.n_min_trials,
        }
    }
}

/// `[study.asha]`: asynchronous successive halving's settings (steps are epochs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AshaSettings {
    /// Epoch of the first rung.
    pub min_resource: u64,
    /// η: a trial goes on past a rung if it is in the best `1/η` there.
    pub reduction_factor: f64,
    /// `s`: rungs start at `min_resource · η^s`.
    pub min_early_stopping_rate: u32,
}

impl Default for AshaSettings {
    fn default() -> Self {
        Self { min_resource: 1, reduction_factor: 3.0, min_early_stopping_rate: 0 }
    }
}

/// `[study.hyperband]`: Hyperband's settings (steps are epochs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HyperbandSettings {
    /// R, the most epochs a trial trains (default: the base config's `training.epochs`).
    pub max_resource: Option<u64>,
    /// η of the brackets.
    pub reduction_factor: f64,
}

impl Default for HyperbandSettings {
    fn default() -> Self {
        Self { max_resource: None, reduction_factor: 3.0 }
    }
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
    /// Trials that may fail one after another before the search stops with the last
    /// failure's message (default 10): a failed trial's slot is handed out again, so an
    /// objective that always fails (a data file that cannot be parsed) would otherwise never end.
    #[serde(default = "default_max_failures")]
    pub max_failures_in_a_row: usize,
    /// Score each trial by stratified k-fold cross-validation with this many folds
    /// (`anneal cv` over the base config's training and validation rows) instead of by
    /// its validation rows: the objective is then the mean over the held-out folds
    /// (`val_loss` → log-loss, `val_accuracy` → accuracy, `val_macro_f1` → macro-F1).
    /// Not with a pruner: pruning stops one run between epochs, a trial here is several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cv_folds: Option<usize>,
    /// The pruner.
    #[serde(default)]
    pub pruner: PrunerKind,
    /// Settings of the median pruner (only with `pruner = "median"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median: Option<MedianSettings>,
    /// Settings of ASHA (only with `pruner = "asha"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asha: Option<AshaSettings>,
    /// Settings of the Hyperband pruner (only with `pruner = "hyperband"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hyperband: Option<HyperbandSettings>,
}

/// A pruner built from the `[study]` settings; `epochs` is the base config's.
enum BuiltPruner {
    None,
    Median(MedianPruner),
    Asha(AshaPruner),
    Hyperband(HyperbandPruner),
}

impl StudySection {
    fn build_pruner(&self, epochs: usize) -> std::result::Result<BuiltPruner, String> {
        let given = [
            ("median", self.median.is_some(), PrunerKind::Median),
            ("asha", self.asha.is_some(), PrunerKind::Asha),
            ("hyperband", self.hyperband.is_some(), PrunerKind::Hyperband),
        ];
        for (table, present, kind) in given {
            if present && kind != self.pruner {
                return Err(format!("[study.{table}] is given but the pruner is {:?}", self.pruner));
            }
        }
        Ok(match self.pruner {
            PrunerKind::None => BuiltPruner::None,
            PrunerKind::Median => {
                let m = self.median.unwrap_or_default();
                if m.interval_steps == 0 {
                    return Err("[study.median] interval_steps must be at least 1".into());
                }
                BuiltPruner::Median(MedianPruner {
                    n_startup_trials: m.n_startup_trials,
                    n_warmup_steps: m.n_warmup_steps,
                    interval_steps: m.interval_steps,
                    n_min_trials: m.n_min_trials,
                })
            }
            PrunerKind::Asha => {
                let a = self.asha.unwrap_or_default();
                let mut p =
                    AshaPruner::new(a.min_resource, a.reduction_factor).map_err(|e| format!("[study.asha] {e}"))?;
                p.min_early_stopping_rate = a.min_early_stopping_rate;
                BuiltPruner::Asha(p)
            }
            PrunerKind::Hyperband => {
                let h = self.hyperband.unwrap_or_default();
                let max = h.max_resource.unwrap_or(epochs as u64);
                BuiltPruner::Hyperband(
                    HyperbandPruner::new(max, h.reduction_factor, self.seed)
                        .map_err(|e| format!("[study.hyperband] {e}"))?,
                )
            }
        })
    }
}

fn default_max_failures() -> usize {
    10
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
        if raw.study.max_failures_in_a_row == 0 {
            return Err(bad("max_failures_in_a_row must be at least 1, got 0".into()));
        }
        if let Some(k) = raw.study.cv_folds {
            if k < 2 {
                return Err(bad(format!("cv_folds must be at least 2, got {k}")));
            }
            if raw.study.pruner != PrunerKind::None {
                return Err(bad(format!(
                    "cv_folds = {k} cannot go with pruner = {:?}: pruning stops one run between epochs, and a \
                     cross-validated trial is {k} runs; set pruner = \"none\" or drop cv_folds",
                    raw.study.pruner
                )));
            }
        }
        check_study_name(&raw.study.name).map_err(bad)?;
        for p in space.params() {
            let section = p.name.split('.').next().unwrap_or_default();
            if !TUNABLE.contains(&section) {
                return Err(bad(format!(
                    "parameter `{}` is not tunable: a search space may set `seed` and settings under [{}] \
                     (not [data], [split] or [energy], which define the problem and its evaluation)",
                    p.name,
                    TUNABLE[1..].join("], [")
                )));
            }
        }
        let base = path.parent().unwrap_or(Path::new(".")).join(&raw.base);
        let config = Self { base, study: raw.study, space, path: path.to_path_buf() };
        config.study.build_pruner(RunConfig::load(&config.base)?.training.epochs).map_err(bad)?;
        // Every optimiser the space can pick exists.
        if let Some(Distribution::Categorical { choices }) = config.space.get(OPTIMIZER_NAME).map(|p| &p.distribution) {
            for c in choices {
                optimizer_fields(&choice_text(c)).map_err(|e| bad(format!("parameter `{OPTIMIZER_NAME}`: {e}")))?;
            }
        }
        // Every parameter must name a setting of the base config, or a setting of
        // each optimiser it is active for.
        let base_value = config.base_value()?;
        for p in config.space.params() {
            if let Some(key) = p.name.strip_prefix("optimizer.")
                && !matches!(key, "name" | "learning_rate")
                && config.space.get(OPTIMIZER_NAME).is_some()
            {
                for name in config.optimizers_for(p, &base_value) {
                    if !optimizer_has(&name, key, &p.distribution).map_err(bad)? {
                        return Err(bad(format!(
                            "parameter `{}` is not a setting of optimizer `{name}`: declare it with \
                             condition = {{ parent = \"{OPTIMIZER_NAME}\", values = [...] }} naming \
                             the optimisers that have it",
                            p.name
                        )));
                    }
                }
            } else if lookup(&base_value, &p.name).is_none()
                && !base_optimizer_has(&base_value, &p.name, &p.distribution).map_err(bad)?
            {
                return Err(bad(format!(
                    "parameter `{}` does not name a setting of {}",
                    p.name,
                    config.base.display()
                )));
            }
        }
        Ok(config)
    }

    /// The optimiser names parameter `p` can be active with: its condition's values
    /// when it depends on `optimizer.name`, else every choice of `optimizer.name`.
    fn optimizers_for(&self, p: &ParamSpec, base: &toml::Value) -> Vec<String> {
        let names = |choices: &[Choice]| choices.iter().map(choice_text).collect::<Vec<_>>();
        match (&p.condition, self.space.get(OPTIMIZER_NAME).map(|q| &q.distribution)) {
            (Some(c), _) if c.parent == OPTIMIZER_NAME => names(&c.values),
            (_, Some(Distribution::Categorical { choices })) => names(choices),
            _ => lookup(base, OPTIMIZER_NAME).and_then(|v| v.as_str()).map(String::from).into_iter().collect(),
        }
    }

    fn base_value(&self) -> Result<toml::Value> {
        let base = RunConfig::load(&self.base)?;
        toml::Value::try_from(&base).map_err(|e| Error::Config { path: self.base.clone(), message: e.to_string() })
    }

    /// The base run config with `params` set.
    ///
    /// When `optimizer.name` picks another optimiser than the base config's, the
    /// `[optimizer]` table starts from that optimiser's defaults
    /// ([`OptimizerConfig::with_defaults`]) and keeps the base values of the settings
    /// both optimisers have, except `weight_decay` (coupled in Adam and SGD, decoupled
    /// in AdamW); then the other sampled `optimizer.*` values are set.
    pub fn trial_config(&self, params: &BTreeMap<String, ParamValue>) -> Result<RunConfig> {
        let mut value = self.base_value()?;
        let bad = |message: String| Error::Config { path: self.path.clone(), message };
        if let Some(ParamValue::Categorical(Choice::Str(name))) = params.get(OPTIMIZER_NAME) {
            let base = lookup(&value, "optimizer").and_then(|v| v.as_table()).cloned().unwrap_or_default();
            if base.get("name").and_then(|v| v.as_str()) != Some(name) {
                let mut table =
                    optimizer_fields(name).map_err(|e| bad(format!("parameter `{OPTIMIZER_NAME}`: {e}")))?;
                for (k, v) in &base {
                    if k != "name"
                        && k != "weight_decay"
                        && optimizer_accepts(name, k, v)
                            .map_err(|e| bad(format!("parameter `{OPTIMIZER_NAME}`: {e}")))?
                    {
                        table.insert(k.clone(), v.clone());
                    }
                }
                if let Some(slot) = lookup_mut(&mut value, "optimizer") {
                    *slot = toml::Value::Table(table);
                }
            }
        }
        for (name, v) in params {
            if let Some(slot) = lookup_mut(&mut value, name) {
                *slot = to_toml(v);
                continue;
            }
            // A setting the base optimiser lacks (checked against the sampled one by `load`).
            let (parent, key) = name.rsplit_once('.').unwrap_or(("", name));
            match lookup_mut(&mut value, parent) {
                Some(toml::Value::Table(t)) if parent == "optimizer" => {
                    t.insert(key.to_string(), to_toml(v));
                }
                _ => {
                    return Err(bad(format!("parameter `{name}` does not name a setting of {}", self.base.display())));
                }
            }
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

/// The parameter that picks the optimiser.
const OPTIMIZER_NAME: &str = "optimizer.name";

/// What a search space may set: `seed` and the settings of these run-config
/// sections. `[data]`, `[split]` and `[energy]` define the problem and how it is
/// scored, so a trial never changes them.
pub const TUNABLE: [&str; 8] =
    ["seed", "model", "optimizer", "schedule", "regularization", "training", "preprocess", "clean"];

/// A study name becomes a folder name (`runs/tune-<name>`): letters, digits,
/// `.`, `_` and `-` only, not starting with a dot, at most 100 characters.
fn check_study_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "study name {name:?} must be 1 to 100 letters, digits, `.`, `_` or `-`, not starting with `.` \
             (it names the study's folder)"
        ))
    }
}

/// The file that marks a folder as the study's own (`{"study": "<name>"}`).
const TUNE_MARKER: &str = "tune.json";

/// Creates the study's folder `out`, or checks that an existing one is this
/// study's (it holds `tune.json` naming it): a folder of anything else is never
/// written into.
pub fn claim_out(config: &TuneConfig, out: &Path) -> Result<()> {
    let marker = out.join(TUNE_MARKER);
    if anneal_core::lock::is_empty_folder(out)? {
        std::fs::create_dir_all(out).map_err(io(out))?;
        let json = serde_json::json!({ "study": config.study.name });
        std::fs::write(&marker, json.to_string() + "\n").map_err(io(&marker))?;
        return Ok(());
    }
    let recorded = std::fs::read_to_string(&marker)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("study").and_then(|s| s.as_str()).map(String::from));
    match recorded {
        Some(name) if name == config.study.name => Ok(()),
        Some(name) => Err(Error::Tune(format!(
            "{} holds study `{name}`, not `{}`; choose another --out",
            out.display(),
            config.study.name
        ))),
        None => Err(Error::OutExists { path: out.to_path_buf() }),
    }
}

/// The `[optimizer]` table of optimiser `name` with its defaults.
fn optimizer_fields(name: &str) -> std::result::Result<toml::Table, String> {
    let config = OptimizerConfig::with_defaults(name, 1e-3).map_err(|e| e.to_string())?;
    toml::Table::try_from(&config).map_err(|e| e.to_string())
}

/// Whether optimiser `name` has setting `key`, tried with a value of the parameter's
/// type; this also finds optional settings its defaults leave out (`max_lr_factor`).
fn optimizer_has(name: &str, key: &str, distribution: &Distribution) -> std::result::Result<bool, String> {
    let sample = match distribution {
        Distribution::Float { low, .. } => toml::Value::Float(*low),
        Distribution::Int { low, .. } => toml::Value::Integer(*low),
        Distribution::Categorical { choices } => match choices.first() {
            Some(c) => to_toml(&ParamValue::Categorical(c.clone())),
            None => return Ok(false),
        },
    };
    optimizer_accepts(name, key, &sample)
}

/// Whether optimiser `name` has setting `key` taking `value`'s type: its defaults name
/// it, or (an optional setting such as `max_lr_factor`) its config reads it.
fn optimizer_accepts(name: &str, key: &str, value: &toml::Value) -> std::result::Result<bool, String> {
    let mut table = optimizer_fields(name)?;
    if table.contains_key(key) {
        return Ok(true);
    }
    table.insert(key.to_string(), value.clone());
    Ok(toml::Value::Table(table).try_into::<OptimizerConfig>().is_ok())
}

/// Whether `path` (`optimizer.<key>`) is a setting of the base config's optimiser that
/// the base leaves unset.
fn base_optimizer_has(
    base: &toml::Value,
    path: &str,
    distribution: &Distribution,
) -> std::result::Result<bool, String> {
    match (path.strip_prefix("optimizer."), lookup(base, OPTIMIZER_NAME).and_then(|v| v.as_str())) {
        (Some(key), Some(name)) if !key.contains('.') => optimizer_has(name, key, distribution),
        _ => Ok(false),
    }
}

fn choice_text(c: &Choice) -> String {
    match c {
        Choice::Str(s) => s.clone(),
        other => other.to_string(),
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
        .direction(config.study.objective.direction())
        .max_failures_in_a_row(config.study.max_failures_in_a_row);
    let builder = match config.study.sampler {
        SamplerKind::Random => builder.sampler(RandomSampler::new(seed)),
        SamplerKind::Sobol => builder.sampler(SobolSampler::new(seed)),
        SamplerKind::Tpe => builder.sampler(TpeSampler::new(seed)),
        SamplerKind::Gp => builder.sampler(GpSampler::new(seed)),
    };
    let bad = |message: String| Error::Config { path: config.path.clone(), message };
    let builder = match config.study.build_pruner(RunConfig::load(&config.base)?.training.epochs).map_err(bad)? {
        BuiltPruner::None => builder,
        BuiltPruner::Median(p) => builder.pruner(p),
        BuiltPruner::Asha(p) => builder.pruner(p),
        BuiltPruner::Hyperband(p) => builder.pruner(p),
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
    claim_out(config, &options.out)?;
    let url = storage_url(&options.storage, &options.out);
    // Each worker thread gets its own sampler seed, all share the storage.
    let study = study(config, &url, 0)?;
    let objective = config.study.objective.clone();
    let trials = study.trials().map_err(hpo_error)?;
    let count = |state| trials.iter().filter(|t| t.state == state).count();
    let (complete, pruned) = (count(TrialState::Complete), count(TrialState::Pruned));
    let base = RunConfig::load(&config.base)?;
    // A missing data file would fail every trial: say so before the first one.
    std::fs::metadata(&base.data.path).map_err(io(&base.data.path))?;
    let max_epochs = base.training.epochs;
    eprintln!(
        "tune: study `{}` in {}: {} of {} trials finished ({complete} complete, {pruned} pruned); {} worker(s); \
         objective {} ({:?}); pruner {:?}",
        config.study.name,
        anneal_hpo::open::redact_url(&url),
        complete + pruned,
        options.trials,
        options.workers,
        objective.name(),
        objective.direction(),
        config.study.pruner,
    );
    let timeout = Duration::from_secs_f64(config.study.heartbeat_timeout_s);
    // Trials left running by a killed process hold their slots until their
    // heartbeat is older than the timeout: say so rather than wait in silence.
    let running: Vec<String> =
        trials.iter().filter(|t| t.state == TrialState::Running).map(|t| t.number.to_string()).collect();
    if !running.is_empty() {
        eprintln!(
            "tune: trial(s) {} are marked running (by another process, or by one that was killed); a trial whose \
             heartbeat is older than {} s is failed and its slot handed out again, so this may wait up to that long",
            running.join(", "),
            config.study.heartbeat_timeout_s
        );
    }
    study
        .optimize_until(options.trials, options.workers.max(1), timeout, |trial| {
            let params = trial.suggest_space()?;
            let number = trial.number();
            let failed = |e: &dyn std::fmt::Display| {
                eprintln!("tune: trial {number} failed: {e}  {}", describe(&params));
                ObjectiveError::Failed(e.to_string())
            };
            let run_config = config.trial_config(&params).map_err(|e| failed(&e))?;
            let out = options.out.join(format!("trial-{number}"));
            if let Some(folds) = config.study.cv_folds {
                let cv_options = CvOptions {
                    folds,
                    splitter: None,
                    workers: 1,
                    backend: options.backend,
                    out,
                    learning_curve: None,
                    diagnosis: DiagnosisConfig::default(),
                    estimate_noise_floor: false,
                };
                let outcome = cross_validate(&run_config, &cv_options).map_err(|e| failed(&e))?;
                let value = objective.cv_score(&outcome.report.test).filter(|v| v.is_finite());
                let value = value.ok_or_else(|| failed(&format!("no finite {} over the folds", objective.name())))?;
                eprintln!(
                    "tune: trial {number} → {} {value:.4} (mean of {folds} folds)  {}",
                    objective.name(),
                    describe(&params)
                );
                return Ok(value);
            }
            let train_options = TrainOptions {
                out,
                backend: options.backend,
                progress: Progress::Silent,
                resume: false,
                replicas: None,
                mpi: false,
            };
            let prune = config.study.pruner != PrunerKind::None;
            let mut reporter =
                TrialReporter { trial, objective: objective.clone(), prune, max_epochs, pruned_at: None, error: None };
            let metrics = train_with_hook(&run_config, &train_options, &mut reporter).map_err(|e| failed(&e))?;
            let TrialReporter { trial, pruned_at, error, .. } = reporter;
            if let Some(e) = error {
                return Err(ObjectiveError::Hpo(e));
            }
            if let Some(epoch) = pruned_at {
                let value = metrics.history.last().and_then(|r| metric(r, &objective)).unwrap_or(f64::NAN);
                eprintln!(
                    "tune: trial {} pruned after epoch {epoch} of {max_epochs} ({} {value:.4})  {}",
                    trial.number(),
                    objective.name(),
                    describe(&params)
                );
                return Err(ObjectiveError::Pruned);
            }
            let kept = metrics.history.iter().find(|r| r.epoch == metrics.best_epoch).or(metrics.history.last());
            let value = kept.and_then(|r| metric(r, &objective)).ok_or_else(|| {
                failed(&format!("no {} in the history (is the validation split empty?)", objective.name()))
            })?;
            eprintln!("tune: trial {number} → {} {value:.4}  {}", objective.name(), describe(&params));
            Ok(value)
        })
        .map_err(hpo_error)?;
    study.best_trial().map_err(hpo_error)
}

/// The hook that reports each epoch's validation metric to the trial and, with a
/// pruner, stops the run when the pruner says so (never after the last epoch: a trial
/// that trained them all completes).
struct TrialReporter<'t> {
    trial: &'t mut Trial,
    objective: Objective,
    prune: bool,
    max_epochs: usize,
    pruned_at: Option<usize>,
    error: Option<HpoError>,
}

impl TrainHook for TrialReporter<'_> {
    fn on_epoch_end(&mut self, record: &EpochRecord) {
        if self.error.is_some() || self.pruned_at.is_some() {
            return;
        }
        let Some(value) = metric(record, &self.objective) else { return };
        let decided = self.trial.report(record.epoch as u64, value).and_then(|()| {
            if self.prune && record.epoch < self.max_epochs { self.trial.should_prune() } else { Ok(false) }
        });
        match decided {
            Ok(true) => self.pruned_at = Some(record.epoch),
            Ok(false) => {}
            Err(e) => self.error = Some(e),
        }
    }

    fn stop_requested(&self) -> bool {
        self.pruned_at.is_some() || self.error.is_some()
    }
}

fn metric(r: &EpochRecord, objective: &Objective) -> Option<f64> {
    r.metric(objective.name())
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
    /// The pruned trials in number order: number, the last epoch it trained, its value there.
    pub pruned: Vec<(u64, u64, f64)>,
    /// Epochs trained by the finished (complete and pruned) trials, as they reported them.
    pub epochs_trained: u64,
}

/// The best complete trial of the study and what its run folder says of the
/// held-out test rows (absent for a cross-validated trial, which keeps no test
/// rows apart).
#[derive(Debug, Clone)]
pub struct BestTrial {
    /// The trial's number.
    pub number: u64,
    /// Its objective value.
    pub value: f64,
    /// Its parameters.
    pub params: BTreeMap<String, ParamValue>,
    /// Its run folder (`<out>/trial-<n>`).
    pub folder: PathBuf,
    /// The test metrics of its run folder, when it has them.
    pub test: Option<crate::run::TestMetrics>,
}

/// The study's best complete trial, if it has one.
pub fn best_trial(config: &TuneConfig, storage: &Option<String>, out: &Path) -> Result<Option<BestTrial>> {
    let study = study(config, &storage_url(storage, out), 0)?;
    let Some(best) = study.best_trial().map_err(hpo_error)? else { return Ok(None) };
    let folder = out.join(format!("trial-{}", best.number));
    let test = std::fs::read_to_string(crate::run::RunFolder::new(&folder).metrics())
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| serde_json::from_value::<crate::run::TestMetrics>(v.get("test")?.clone()).ok());
    Ok(Some(BestTrial {
        number: best.number,
        value: best.value.unwrap_or(f64::NAN),
        params: best.param_values(),
        folder,
        test,
    }))
}

/// Trains the best trial's configuration into `<out>/best-<n>`, a complete run
/// folder (report, weights, test metrics) like `anneal train` writes.
pub fn retrain_best(
    config: &TuneConfig,
    best: &BestTrial,
    out: &Path,
    backend: anneal_train::Backend,
) -> Result<(PathBuf, crate::run::RunMetrics)> {
    let run_config = config.trial_config(&best.params)?;
    let folder = out.join(format!("best-{}", best.number));
    let options = TrainOptions {
        out: folder.clone(),
        backend,
        progress: Progress::Auto,
        resume: false,
        replicas: None,
        mpi: false,
    };
    let metrics = crate::run::train(&run_config, &options)?;
    Ok((folder, metrics))
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
    let history = anneal_hpo::analysis::best_so_far(complete.iter().map(|t| &***t), direction);
    let pruned = trials
        .iter()
        .filter(|t| t.state == TrialState::Pruned)
        .map(|t| {
            let (step, value) = t.last_intermediate().unwrap_or((0, f64::NAN));
            (t.number, step, value)
        })
        .collect();
    let epochs_trained = trials
        .iter()
        .filter(|t| matches!(t.state, TrialState::Complete | TrialState::Pruned))
        .map(|t| t.intermediate.len() as u64)
        .sum();
    Ok(TuneReport {
        counts,
        best,
        importances: anneal_hpo::analysis::importances(complete.iter().map(|t| &***t)),
        history,
        pruned,
        epochs_trained,
    })
}

impl TuneReport {
    /// The report as Markdown.
    pub fn to_markdown(&self, config: &TuneConfig) -> String {
        let mut s = format!("# Study {}\n\n", anneal_core::markdown::code(&config.study.name));
        let _ = writeln!(
            s,
            "Objective: {} ({:?}), sampler {:?}, pruner {:?}. Trials: {}. {}\n",
            config.study.objective.name(),
            config.study.objective.direction(),
            config.study.sampler,
            config.study.pruner,
            self.counts.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", "),
            match config.study.cv_folds {
                Some(k) => format!(
                    "Each trial scored by stratified {k}-fold cross-validation (the mean over the held-out folds; \
                     each trial folder holds its cv.md)."
                ),
                None => format!("Epochs trained by the finished trials: {}.", self.epochs_trained),
            }
        );
        let _ =
            writeln!(s, "## Best trials\n\n| trial | {} | parameters |\n|---|---|---|", config.study.objective.name());
        for (n, v, params) in &self.best {
            let p = params
                .iter()
                .map(|(k, v)| {
                    format!("{} = {}", anneal_core::markdown::code(k), anneal_core::markdown::escape(&v.to_string()))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(s, "| {n} | {v:.4} | {p} |");
        }
        let _ = writeln!(
            s,
            "\n## Parameter importances\n\nShare of the objective's variance between groups of trials \
             (categories, or quartiles of a numeric parameter): a first-order estimate that ignores \
             interactions.\n\n| parameter | importance |\n|---|---|"
        );
        for (k, v) in &self.importances {
            let _ = writeln!(s, "| {} | {v:.3} |", anneal_core::markdown::code(k));
        }
        if !self.pruned.is_empty() {
            let _ = writeln!(
                s,
                "\n## Pruned trials\n\nStopped by the pruner after the epoch shown; their run folders hold \
                 the epochs they trained.\n\n| trial | last epoch | {} there |\n|---|---|---|",
                config.study.objective.name()
            );
            for (n, epoch, v) in &self.pruned {
                let _ = writeln!(s, "| {n} | {epoch} | {v:.4} |");
            }
        }
        let _ = writeln!(s, "\n## Optimisation history\n\n![history](history.png)");
        s
    }
}

/// Writes `report.md`, `report.json` and the optimisation history
/// (`history.png`, `history.svg`) into `out`; returns the Markdown.
pub fn write_report(config: &TuneConfig, report: &TuneReport, out: &Path) -> Result<String> {
    use anneal_train::plot::{Chart, PALETTE, Series, save_charts};
    claim_out(config, out)?;
    let markdown = report.to_markdown(config);
    let path = out.join("report.md");
    std::fs::write(&path, &markdown).map_err(io(&path))?;
    let path = out.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(report).unwrap_or_default() + "\n").map_err(io(&path))?;
    let trials = report.history.iter().map(|&(n, v, _)| (n as f64, v)).collect();
    let best = report.history.iter().map(|&(n, _, b)| (n as f64, b)).collect();
    // Trials are independent: points, not a line; pruned ones apart, at the
    // value they last reported.
    let pruned: Vec<(f64, f64)> = report.pruned.iter().map(|&(n, _, v)| (n as f64, v)).collect();
    let mut series = vec![Series::points("complete trial", trials, PALETTE[0])];
    if !pruned.is_empty() {
        series.push(Series::points("pruned trial (last reported value)", pruned, PALETTE[4]));
    }
    series.push(Series::line("best so far", best, PALETTE[1]));
    let chart = Chart {
        title: format!("Optimisation history of `{}`", config.study.name),
        x_label: "trial".into(),
        y_label: config.study.objective.name().into(),
        series,
        ..Chart::default()
    };
    save_charts(&[chart], &out.join("history"))?;
    Ok(markdown)
}
