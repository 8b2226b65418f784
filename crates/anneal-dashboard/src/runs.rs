//! Run folders as the dashboard sees them: found under the runs folder, read
//! through the generic run-folder format only, so a run kind added later shows up
//! without changes here.
//!
//! What is read, all optional but `run.json` or `metrics.jsonl` (which make a
//! folder a run):
//!
//! - `metrics.jsonl`: one JSON object per epoch or iteration. Its numbers, and
//!   those of any object inside it (the metrics map), are the curves; the x axis
//!   is the first of `epoch`, `env_steps`, `step` or `iteration` it has.
//! - `metrics.json` (`test` object: the test metrics; `task`; `energy`) or
//!   `summary.json` (its numbers): the final metrics.
//! - `config.toml`: the model, the data and a few key settings; `run.json`: the
//!   data file and the backend.
//! - `status.json` ([`anneal_core::status`]) and the folder's lock
//!   ([`FolderLock::is_held`]): running, finished, diverged, failed or stopped.
//! - Figures: the `.svg`, `.png` and `.jpg` files at the top of the folder.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use anneal_core::lock::FolderLock;
use anneal_core::status::{RunState, RunStatus};
use serde::Serialize;
use serde_json::Value;

use crate::error::{DashboardError, Result};

/// How deep under the runs folder run folders are looked for (`runs/tune/trial-3` is 2).
const MAX_DEPTH: usize = 4;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A process holds the folder's lock.
    Running,
    /// It wrote its results.
    Finished,
    /// Its divergence guard stopped it.
    Diverged,
    /// It ended with an error.
    Failed,
    /// No process holds it and it did not finish: killed or interrupted (it can be resumed).
    Stopped,
}

/// One row of the runs table.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    /// Its path under the runs folder, with `/` separators: the id requests use.
    pub id: String,
    /// Classification, regression, reinforcement learning, ... as the run says.
    pub task: String,
    /// The data file's name (or the environment's).
    pub data: String,
    /// The model (kind and shape) or the agent.
    pub model: String,
    /// A few settings by dotted name (`optimizer.learning_rate`, `training.batch_size`, ...).
    pub settings: BTreeMap<String, String>,
    /// The final metrics (test metrics, or a summary's numbers); empty until it finishes.
    pub metrics: BTreeMap<String, f64>,
    /// The last record's numbers (the latest epoch while it trains).
    pub last: BTreeMap<String, f64>,
    /// Records (epochs, iterations) in `metrics.jsonl`.
    pub records: usize,
    /// Its status.
    pub status: Status,
    /// Why it ended, for a diverged or failed run.
    pub message: Option<String>,
    /// When a file of it last changed (milliseconds since the Unix epoch).
    pub updated_ms: u64,
}

/// What one run's page shows beside its row.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetail {
    /// The row.
    pub row: RunRow,
    /// `config.toml` as written.
    pub config: Option<String>,
    /// The test metrics object of `metrics.json`, or `summary.json`, as stored.
    pub results: Option<Value>,
    /// The energy estimate (`metrics.json`'s `energy`).
    pub energy: Option<Value>,
    /// Figure files at the top of the folder, one per name (SVG preferred to PNG).
    pub figures: Vec<String>,
    /// Whether it has a `report.md`.
    pub report: bool,
}

/// Records of `metrics.jsonl` from some line on.
#[derive(Debug, Clone, Serialize)]
pub struct Curves {
    /// The x key (`epoch`, `env_steps`, `step`, `iteration`, or `record` for the line number).
    pub x: String,
    /// Each record's numbers, flattened (the x key among them).
    pub records: Vec<BTreeMap<String, f64>>,
    /// The line to ask from next time.
    pub next: usize,
    /// The file is shorter than the line asked from (rewritten, as a resumed run
    /// does): `records` holds all of it, and the caller starts over.
    pub reset: bool,
}

/// A file's change stamp: modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// The files a row is read from, in this order.
const ROW_FILES: [&str; 6] =
    ["metrics.jsonl", "metrics.json", "summary.json", "status.json", "config.toml", "run.json"];

#[derive(Debug, Clone)]
struct Cached {
    stamps: [Stamp; 6],
    row: RunRow,
}

/// The runs under one folder, with each run's parsed row kept until one of its
/// files changes.
#[derive(Debug)]
pub struct RunIndex {
    root: PathBuf,
    cache: Mutex<HashMap<PathBuf, Cached>>,
}

impl RunIndex {
    /// The runs under `root` (which must be a folder).
    pub fn new(root: &Path) -> Result<Self> {
        let root = root.canonicalize().map_err(|_| DashboardError::NoRunsFolder { path: root.to_path_buf() })?;
        if !root.is_dir() {
            return Err(DashboardError::NoRunsFolder { path: root });
        }
        Ok(Self { root, cache: Mutex::new(HashMap::new()) })
    }

    /// The runs folder (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every run folder's row, by id.
    pub fn rows(&self) -> Vec<RunRow> {
        let mut dirs = Vec::new();
        find_runs(&self.root, 0, &mut dirs);
        let mut rows: Vec<RunRow> = dirs.iter().map(|d| self.row(d)).collect();
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        rows
    }

    /// The row of the run folder `dir` (cached by its files' stamps; the lock is
    /// looked at every time).
    fn row(&self, dir: &Path) -> RunRow {
        let stamps = ROW_FILES.map(|f| stamp(&dir.join(f)));
        let cached = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(dir).cloned();
        let mut row = match cached {
            Some(c) if c.stamps == stamps => c.row,
            _ => {
                let row = read_row(&self.root, dir, &stamps);
                self.cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(dir.to_path_buf(), Cached { stamps, row: row.clone() });
                row
            }
        };
        if FolderLock::is_held(dir) {
            row.status = Status::Running;
            row.message = None;
        }
        row
    }

    /// The folder of run `id`, which must be a run folder inside the runs folder.
    pub fn resolve(&self, id: &str) -> Result<PathBuf> {
        let not_found = || DashboardError::NotFound { what: format!("run {id:?}") };
        let dir = inside(&self.root, id).ok_or_else(not_found)?;
        if !is_run(&dir) {
            return Err(not_found());
        }
        Ok(dir)
    }

    /// Run `id`'s page.
    pub fn detail(&self, id: &str) -> Result<RunDetail> {
        let dir = self.resolve(id)?;
        let row = self.row(&dir);
        let metrics = read_json(&dir.join("metrics.json"));
        let results =
            metrics.as_ref().and_then(|m| m.get("test").cloned()).or_else(|| read_json(&dir.join("summary.json")));
        let energy = metrics.as_ref().and_then(|m| m.get("energy").cloned()).filter(|e| !e.is_null());
        Ok(RunDetail {
            row,
            config: std::fs::read_to_string(dir.join("config.toml")).ok(),
            results,
            energy,
            figures: figures(&dir),
            report: dir.join("report.md").is_file(),
        })
    }

    /// Run `id`'s records from line `from` on.
    pub fn curves(&self, id: &str, from: usize) -> Result<Curves> {
        let dir = self.resolve(id)?;
        let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap_or_default();
        Ok(curves(&text, from))
    }

    /// A file of run `id` (`name` relative to it), read whole: only a plain file inside
    /// the run folder, never the lock or anything outside the runs folder.
    pub fn file(&self, id: &str, name: &str) -> Result<(Vec<u8>, &'static str)> {
        let dir = self.resolve(id)?;
        let not_found = || DashboardError::NotFound { what: format!("file {name:?} of run {id:?}") };
        let path = inside(&dir, name).ok_or_else(not_found)?;
        let kind = content_type(&path).ok_or_else(not_found)?;
        if !path.is_file() {
            return Err(not_found());
        }
        let bytes = std::fs::read(&path).map_err(|source| DashboardError::Io { path: path.clone(), source })?;
        Ok((bytes, kind))
    }
}

/// `base/relative`, if `relative` is a plain relative path (no `..`, no root, no
/// prefix, no hidden part) and what it names, links resolved, is still inside `base`.
pub fn inside(base: &Path, relative: &str) -> Option<PathBuf> {
    if relative.is_empty() || relative.contains('\0') || relative.contains('\\') {
        return None;
    }
    let rel = Path::new(relative);
    for c in rel.components() {
        match c {
            Component::Normal(part) if !part.to_string_lossy().starts_with('.') => {}
            _ => return None,
        }
    }
    let path = base.join(rel).canonicalize().ok()?;
    path.starts_with(base).then_some(path)
}

/// The content type of a file the dashboard serves, by extension; `None` for the rest.
fn content_type(path: &Path) -> Option<&'static str> {
    Some(match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "md" | "csv" | "toml" | "txt" => "text/plain; charset=utf-8",
        "json" | "jsonl" => "application/json",
        _ => return None,
    })
}

fn is_run(dir: &Path) -> bool {
    dir.is_dir() && (dir.join("run.json").is_file() || dir.join("metrics.jsonl").is_file())
}

/// The entries of `dir` a scan looks at, as (path, is a folder): hidden ones (the
/// lock) and checkpoint folders are skipped.
pub(crate) fn entries(dir: &Path) -> impl Iterator<Item = (PathBuf, bool)> {
    std::fs::read_dir(dir).into_iter().flatten().flatten().filter_map(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.starts_with("checkpoint") {
            return None;
        }
        Some((e.path(), e.file_type().ok()?.is_dir()))
    })
}

fn find_runs(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if is_run(dir) && depth > 0 {
        out.push(dir.to_path_buf());
        return;
    }
    if depth >= MAX_DEPTH {
        return;
    }
    for (path, is_dir) in entries(dir) {
        if is_dir {
            find_runs(&path, depth + 1, out);
        }
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The numbers of a JSON object, and those of the objects inside it under their
/// own names (a record's metrics map), in one map.
fn numbers(value: &Value) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if let Value::Object(map) = value {
        for (k, v) in map {
            match v {
                Value::Number(n) => {
                    if let Some(x) = n.as_f64() {
                        out.insert(k.clone(), x);
                    }
                }
                Value::Object(inner) => {
                    for (k2, v2) in inner {
                        if let Some(x) = v2.as_f64() {
                            out.entry(k2.clone()).or_insert(x);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

const X_KEYS: [&str; 4] = ["epoch", "env_steps", "step", "iteration"];

/// The records of a `metrics.jsonl` text from line `from` on. A record whose x is
/// not past the one before (a resumed run repeating epochs after its checkpoint)
/// replaces the records from that x on, so each curve runs forward.
pub fn curves(text: &str, from: usize) -> Curves {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let parse = |line: &str| serde_json::from_str::<Value>(line).ok().map(|v| numbers(&v));
    let x = lines
        .iter()
        .find_map(|l| parse(l))
        .and_then(|r| X_KEYS.iter().find(|k| r.contains_key(**k)).map(|k| (*k).to_string()))
        .unwrap_or_else(|| "record".to_string());
    let reset = from > lines.len();
    let start = if reset { 0 } else { from };
    let mut records: Vec<BTreeMap<String, f64>> = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(start) {
        let Some(mut r) = parse(line) else { continue };
        if x == "record" {
            r.insert("record".into(), (i + 1) as f64);
        }
        let Some(&xv) = r.get(&x) else { continue };
        while records.last().is_some_and(|p| p.get(&x).is_some_and(|&px| px >= xv)) {
            records.pop();
        }
        records.push(r);
    }
    Curves { x, records, next: lines.len(), reset }
}

fn read_row(root: &Path, dir: &Path, stamps: &[Stamp; 6]) -> RunRow {
    let id = dir
        .strip_prefix(root)
        .unwrap_or(dir)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    let config: Option<toml::Table> =
        std::fs::read_to_string(dir.join("config.toml")).ok().and_then(|t| t.parse().ok());
    let run_info = read_json(&dir.join("run.json"));
    let metrics = read_json(&dir.join("metrics.json"));
    let summary = read_json(&dir.join("summary.json"));
    let jsonl = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap_or_default();
    let last_line = jsonl.lines().rev().find(|l| !l.trim().is_empty());
    let last = last_line.and_then(|l| serde_json::from_str::<Value>(l).ok()).map(|v| numbers(&v)).unwrap_or_default();
    let records = jsonl.lines().filter(|l| !l.trim().is_empty()).count();

    let get = |path: &str| -> Option<&toml::Value> {
        let mut parts = path.split('.');
        let mut v = config.as_ref()?.get(parts.next()?)?;
        for p in parts {
            v = v.as_table()?.get(p)?;
        }
        Some(v)
    };
    let show = |v: &toml::Value| match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(a) => format!("[{}]", a.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    };
    let task = metrics
        .as_ref()
        .and_then(|m| m.get("task")?.as_str().map(str::to_string))
        .or_else(|| get("task").map(show))
        .or_else(|| get("agent").map(|_| "reinforcement".to_string()))
        .unwrap_or_default();
    let file_name = |p: &str| Path::new(p).file_name().map_or(p.to_string(), |f| f.to_string_lossy().into_owned());
    let data = run_info
        .as_ref()
        .and_then(|r| r.get("data")?.get("path")?.as_str().map(file_name))
        .or_else(|| get("data.path").and_then(|v| v.as_str().map(file_name)))
        .or_else(|| get("env.name").map(show))
        .unwrap_or_default();
    let model = match (get("model.kind"), get("agent.algorithm")) {
        (Some(kind), _) => {
            let shape = ["model.hidden", "model.channels"].iter().find_map(|k| get(k)).map(show);
            match shape {
                Some(s) => format!("{} {s}", show(kind)),
                None => show(kind),
            }
        }
        (None, Some(algorithm)) => show(algorithm),
        (None, None) => String::new(),
    };
    let settings = [
        "seed",
        "optimizer.name",
        "optimizer.learning_rate",
        "training.epochs",
        "training.batch_size",
        "agent.optimizer.learning_rate",
        "agent.n_envs",
        "total_steps",
        "distributed.replicas",
    ]
    .iter()
    .filter_map(|k| Some((k.to_string(), show(get(k)?))))
    .collect();
    let final_metrics = metrics
        .as_ref()
        .and_then(|m| m.get("test"))
        .map(numbers)
        .or_else(|| summary.as_ref().map(numbers))
        .unwrap_or_default();
    let finished = metrics.is_some() || summary.is_some();
    let (status, message) = match RunStatus::read(dir) {
        Some(s) => (
            match s.state {
                RunState::Finished => Status::Finished,
                RunState::Diverged => Status::Diverged,
                RunState::Failed => Status::Failed,
            },
            s.message,
        ),
        None if finished => (Status::Finished, None),
        None => (Status::Stopped, None),
    };
    let updated_ms = stamps
        .iter()
        .flatten()
        .filter_map(|(t, _)| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .max()
        .unwrap_or(0);
    RunRow { id, task, data, model, settings, metrics: final_metrics, last, records, status, message, updated_ms }
}

/// A figure's preference by extension (lower is better), `None` for other files.
fn figure_rank(path: &Path) -> Option<u8> {
    match path.extension()?.to_string_lossy().to_ascii_lowercase().as_str() {
        "svg" => Some(0),
        "png" => Some(1),
        "jpg" | "jpeg" => Some(2),
        _ => None,
    }
}

fn figures(dir: &Path) -> Vec<String> {
    let mut by_stem: BTreeMap<String, (u8, String)> = BTreeMap::new();
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    for path in read.flatten().map(|e| e.path()) {
        let (Some(rank), Some(stem), Some(name)) = (figure_rank(&path), path.file_stem(), path.file_name()) else {
            continue;
        };
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let (stem, name) = (stem.to_string_lossy().into_owned(), name.to_string_lossy().into_owned());
        if by_stem.get(&stem).is_none_or(|(old, _)| rank < *old) {
            by_stem.insert(stem, (rank, name));
        }
    }
    by_stem.into_values().map(|(_, name)| name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        std::fs::create_dir(base.join("a")).unwrap();
        std::fs::write(base.join("a/f.svg"), "x").unwrap();
        assert_eq!(inside(&base, "a/f.svg"), Some(base.join("a/f.svg")));
        for bad in
            ["../etc/passwd", "a/../../x", "/etc/passwd", "a/.anneal.lock", ".hidden", "", "a\\..\\..\\x", "a/missing"]
        {
            assert_eq!(inside(&base, bad), None, "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_link_out_of_the_folder_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "s").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), base.join("link.txt")).unwrap();
        assert_eq!(inside(&base, "link.txt"), None);
    }

    #[test]
    fn curves_flatten_the_metrics_map_and_run_forward() {
        let text = r#"{"iteration":1,"env_steps":256,"metrics":{"loss":2.0}}
{"iteration":2,"env_steps":512,"metrics":{"loss":1.5,"mean_return":20.0}}
not json
{"iteration":2,"env_steps":512,"metrics":{"loss":1.4}}
"#;
        let c = curves(text, 0);
        assert_eq!(c.x, "env_steps");
        assert_eq!(c.records.len(), 2);
        assert_eq!(c.records[1]["loss"], 1.4);
        assert_eq!(c.next, 4);
        let tail = curves(text, 3);
        assert_eq!((tail.records.len(), tail.reset), (1, false));
        let reset = curves(text, 9);
        assert!(reset.reset);
        assert_eq!(reset.records.len(), 2);
    }

    #[test]
    fn records_without_a_known_x_are_numbered() {
        let c = curves("{\"bleu\":0.1}\n{\"bleu\":0.2}\n", 0);
        assert_eq!(c.x, "record");
        assert_eq!(c.records[1]["record"], 2.0);
    }
}
