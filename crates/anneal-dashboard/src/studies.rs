//! Hyperparameter studies as the dashboard sees them: the storages given on the
//! command line (SQLite files, PostgreSQL databases) and every `study.db` found
//! under the runs folder (where `anneal tune` keeps its study by default).
//! Storage URLs reach the browser only without their passwords
//! ([`redact_url`]); requests name a storage by a key, never by its URL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anneal_hpo::open::redact_url;
use anneal_hpo::{Choice, Direction, Distribution, ParamValue, Storage, TrialState};
use serde::Serialize;
use serde_json::Value;

use crate::error::{DashboardError, Result};

/// How deep under the runs folder `study.db` files are looked for.
const MAX_DEPTH: usize = 3;

/// One study in the list.
#[derive(Debug, Clone, Serialize)]
pub struct StudyRow {
    /// The storage's key (for requests).
    pub source: String,
    /// The storage as shown: a URL without password, or a path under the runs folder.
    pub storage: String,
    /// The study's name.
    pub name: String,
    /// `minimize` or `maximize`.
    pub direction: Direction,
    /// Trials by state.
    pub counts: BTreeMap<String, u64>,
}

/// A parameter's axis.
#[derive(Debug, Clone, Serialize)]
pub struct ParamAxis {
    /// Its name.
    pub name: String,
    /// `float`, `int` or `categorical`.
    pub kind: &'static str,
    /// Lower bound (numbers).
    pub low: Option<f64>,
    /// Upper bound (numbers).
    pub high: Option<f64>,
    /// Log scale.
    pub log: bool,
    /// The choices, as text (categoricals).
    pub choices: Vec<String>,
}

/// One trial of a study.
#[derive(Debug, Clone, Serialize)]
pub struct TrialRow {
    /// Its number.
    pub number: u64,
    /// `running`, `complete`, `pruned` or `failed`.
    pub state: TrialState,
    /// Its value (a pruned trial: its last report).
    pub value: Option<f64>,
    /// Its parameters (numbers, or the choice as text).
    pub params: BTreeMap<String, Value>,
    /// Milliseconds from start to finish (to its last heartbeat while running).
    pub duration_ms: u64,
    /// Its intermediate values as `[step, value]`.
    pub curve: Vec<(u64, f64)>,
}

/// A study's page.
#[derive(Debug, Clone, Serialize)]
pub struct StudyView {
    /// Its row in the list.
    pub study: StudyRow,
    /// Each parameter's axis.
    pub params: Vec<ParamAxis>,
    /// Every trial in number order.
    pub trials: Vec<TrialRow>,
    /// The complete trials as `(number, value, best so far)`.
    pub history: Vec<(u64, f64, f64)>,
    /// Parameter importances, largest first.
    pub importances: Vec<(String, f64)>,
    /// The best trial's number.
    pub best: Option<u64>,
}

/// The studies the dashboard shows.
#[derive(Debug)]
pub struct Studies {
    root: PathBuf,
    /// Storages from the command line: (shown URL, storage).
    given: Vec<(String, Arc<dyn Storage>)>,
    /// `study.db` files found under the runs folder, opened once.
    found: Mutex<BTreeMap<PathBuf, Arc<dyn Storage>>>,
}

impl Studies {
    /// Opens the storages `urls` (a `sqlite://` file must exist: the dashboard never
    /// creates one) and looks for `study.db` files under `root`.
    pub fn open(root: &Path, urls: &[String]) -> Result<Self> {
        let mut given = Vec::new();
        for url in urls {
            let shown = redact_url(url);
            if let Some(path) = url.strip_prefix("sqlite://")
                && !Path::new(path).is_file()
            {
                return Err(DashboardError::Storage { url: shown, message: "no such database file".into() });
            }
            let storage = anneal_hpo::open_storage(url)
                .map_err(|e| DashboardError::Storage { url: shown.clone(), message: e.to_string() })?;
            given.push((shown, storage));
        }
        Ok(Self { root: root.to_path_buf(), given, found: Mutex::new(BTreeMap::new()) })
    }

    /// Every storage as (key, shown name, storage): the given ones (`0`, `1`, ...) then
    /// the `study.db` files under the runs folder (`runs/<path>`).
    fn sources(&self) -> Vec<(String, String, Arc<dyn Storage>)> {
        let mut files = Vec::new();
        find_dbs(&self.root, 0, &mut files);
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        for f in files {
            if !found.contains_key(&f)
                && let Ok(storage) = anneal_hpo::open_storage(&format!("sqlite://{}", f.display()))
            {
                found.insert(f, storage);
            }
        }
        let mut out: Vec<_> =
            self.given.iter().enumerate().map(|(i, (shown, s))| (i.to_string(), shown.clone(), s.clone())).collect();
        for (path, s) in found.iter() {
            let rel = path.strip_prefix(&self.root).unwrap_or(path).to_string_lossy().replace('\\', "/");
            out.push((format!("runs/{rel}"), format!("runs/{rel}"), s.clone()));
        }
        out
    }

    /// Every study of every storage.
    pub fn rows(&self) -> Result<Vec<StudyRow>> {
        let mut rows = Vec::new();
        for (key, shown, storage) in self.sources() {
            let studies = storage
                .studies()
                .map_err(|e| DashboardError::Storage { url: shown.clone(), message: e.to_string() })?;
            for s in studies {
                rows.push(StudyRow {
                    source: key.clone(),
                    storage: shown.clone(),
                    name: s.name,
                    direction: s.direction,
                    counts: s.counts.iter().map(|(k, v)| (k.as_str().to_string(), *v)).collect(),
                });
            }
        }
        Ok(rows)
    }

    /// The page of study `name` in storage `source`.
    pub fn view(&self, source: &str, name: &str) -> Result<StudyView> {
        let not_found = || DashboardError::NotFound { what: format!("study {name:?} in storage {source:?}") };
        let (key, shown, storage) = self.sources().into_iter().find(|(k, _, _)| k == source).ok_or_else(not_found)?;
        let err = |e: anneal_hpo::HpoError| DashboardError::Storage { url: shown.clone(), message: e.to_string() };
        let summary = storage.studies().map_err(err)?.into_iter().find(|s| s.name == name).ok_or_else(not_found)?;
        let trials = storage.trials(summary.id, None).map_err(err)?;
        let mut params: BTreeMap<String, ParamAxis> = BTreeMap::new();
        for t in &trials {
            for (n, d) in &t.distributions {
                params.entry(n.clone()).or_insert_with(|| axis(n, d));
            }
        }
        let rows = trials
            .iter()
            .map(|t| TrialRow {
                number: t.number,
                state: t.state,
                value: t.value,
                params: t.param_values().into_iter().map(|(k, v)| (k, param_json(&v))).collect(),
                duration_ms: t.finished_ms.unwrap_or(t.heartbeat_ms).saturating_sub(t.started_ms),
                curve: t.intermediate.iter().map(|(&s, &v)| (s, v)).collect(),
            })
            .collect();
        let history = anneal_hpo::analysis::best_so_far(trials.iter().map(|t| &**t), summary.direction);
        let best = trials
            .iter()
            .filter(|t| t.state == TrialState::Complete)
            .filter_map(|t| Some((t.number, t.value?)))
            .min_by(|a, b| summary.direction.to_loss(a.1).total_cmp(&summary.direction.to_loss(b.1)))
            .map(|(n, _)| n);
        Ok(StudyView {
            study: StudyRow {
                source: key,
                storage: shown,
                name: summary.name,
                direction: summary.direction,
                counts: summary.counts.iter().map(|(k, v)| (k.as_str().to_string(), *v)).collect(),
            },
            params: params.into_values().collect(),
            trials: rows,
            history,
            importances: anneal_hpo::analysis::importances(trials.iter().map(|t| &**t)),
            best,
        })
    }
}

/// A choice as the page shows it: a string without its quotes.
fn choice_text(c: &Choice) -> String {
    match c {
        Choice::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

fn param_json(v: &ParamValue) -> Value {
    match v {
        ParamValue::Int(i) => Value::from(*i),
        ParamValue::Float(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
        ParamValue::Categorical(c) => Value::String(choice_text(c)),
    }
}

fn axis(name: &str, d: &Distribution) -> ParamAxis {
    match d {
        Distribution::Float { low, high, log, .. } => ParamAxis {
            name: name.into(),
            kind: "float",
            low: Some(*low),
            high: Some(*high),
            log: *log,
            choices: Vec::new(),
        },
        Distribution::Int { low, high, log, .. } => ParamAxis {
            name: name.into(),
            kind: "int",
            low: Some(*low as f64),
            high: Some(*high as f64),
            log: *log,
            choices: Vec::new(),
        },
        Distribution::Categorical { choices } => ParamAxis {
            name: name.into(),
            kind: "categorical",
            low: None,
            high: None,
            log: false,
            choices: choices.iter().map(choice_text).collect(),
        },
    }
}

/// `study.db` files under `dir`, not looking inside run folders.
fn find_dbs(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > 0 && dir.join("run.json").is_file() {
        return;
    }
    for (path, is_dir) in crate::runs::entries(dir) {
        if !is_dir && path.file_name().is_some_and(|n| n == "study.db") {
            out.push(path);
        } else if is_dir && depth < MAX_DEPTH {
            find_dbs(&path, depth + 1, out);
        }
    }
}
