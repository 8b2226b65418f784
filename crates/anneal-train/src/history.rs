//! The history of a run on disk: `metrics.jsonl` (one JSON object per epoch),
//! `history.csv`, and the training curves `curves.png` / `curves.svg`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::TrainError;
use crate::plot::{Chart, PALETTE, Series, save_charts};
use crate::trainer::{Accounting, EpochRecord, TrainHook};

/// File names in the run folder.
pub const JSONL: &str = "metrics.jsonl";
/// The CSV history.
pub const CSV: &str = "history.csv";
/// The training curves, without extension (`.png` and `.svg` are written).
pub const CURVES: &str = "curves";

fn out_err(path: &Path, e: &dyn std::fmt::Display) -> TrainError {
    TrainError::Output { path: path.to_path_buf(), message: e.to_string() }
}

/// The history as JSON lines, one epoch per line.
pub fn to_jsonl(history: &[EpochRecord]) -> String {
    history.iter().map(|r| serde_json::to_string(r).expect("records serialise") + "\n").collect()
}

/// The metric columns of a history, in CSV order: `train_*` metrics, then
/// `val_loss`, then the other `val_*` metrics, each group by name.
pub fn metric_columns(history: &[EpochRecord]) -> Vec<String> {
    let names: std::collections::BTreeSet<&String> = history.iter().flat_map(|r| r.metrics.keys()).collect();
    let rank = |n: &str| match n {
        _ if n.starts_with("train_") => 0,
        "val_loss" => 1,
        _ if n.starts_with("val_") => 2,
        _ => 3,
    };
    let mut columns: Vec<String> = names.into_iter().cloned().collect();
    columns.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    columns
}

/// The history as CSV: `epoch,train_loss`, the metric columns
/// ([`metric_columns`]: for a classifier `train_accuracy,val_loss,val_accuracy,val_macro_f1`),
/// `learning_rate,seconds` and, when logged, one `grad_norm_<layer>` column per
/// layer. Missing values are empty cells.
pub fn to_csv(history: &[EpochRecord]) -> String {
    let layers = history.iter().filter_map(|r| r.gradient_norms.as_ref().map(Vec::len)).max().unwrap_or(0);
    let columns = metric_columns(history);
    let mut header: Vec<String> = vec!["epoch".into(), "train_loss".into()];
    header.extend(columns.iter().cloned());
    header.extend(["learning_rate".to_string(), "seconds".to_string()]);
    header.extend((0..layers).map(|l| format!("grad_norm_{l}")));
    let cell = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail; a metric name with a comma is quoted.
    let _ = w.write_record(&header);
    for r in history {
        let mut record = vec![r.epoch.to_string(), r.train_loss.to_string()];
        record.extend(columns.iter().map(|c| cell(r.metrics.get(c).copied())));
        record.extend([r.learning_rate.to_string(), r.seconds.to_string()]);
        record.extend((0..layers).map(|l| cell(r.gradient_norms.as_ref().and_then(|g| g.get(l).copied()))));
        let _ = w.write_record(&record);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Writes `metrics.jsonl` and `history.csv` into `dir`.
pub fn write_history(dir: &Path, history: &[EpochRecord]) -> Result<(), TrainError> {
    for (name, text) in [(JSONL, to_jsonl(history)), (CSV, to_csv(history))] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| out_err(&path, &e))?;
    }
    Ok(())
}

/// The training curves: loss (train and validation) per epoch, and beside it
/// accuracy for a classifier, R² for a regression, else the first other
/// validation metric, with the kept epoch marked.
pub fn curves(history: &[EpochRecord], best_epoch: Option<usize>) -> [Chart; 2] {
    let series = |label: &str, key: &str, color| {
        let points: Vec<(f64, f64)> = history.iter().filter_map(|r| Some((r.epoch as f64, r.metric(key)?))).collect();
        (!points.is_empty()).then(|| Series { markers: history.len() <= 30, ..Series::line(label, points, color) })
    };
    let marker = best_epoch.map(|e| (e as f64, format!("kept (epoch {e})")));
    let loss = Chart {
        title: "Loss".into(),
        x_label: "epoch".into(),
        y_label: "loss".into(),
        series: [series("train", "train_loss", PALETTE[0]), series("validation", "val_loss", PALETTE[1])]
            .into_iter()
            .flatten()
            .collect(),
        marker: marker.clone(),
        ..Default::default()
    };
    let columns = metric_columns(history);
    // A multi-task run: each task's headline validation score, one line per task.
    let per_task: Vec<&String> =
        columns.iter().filter(|c| c.starts_with("val_") && (c.ends_with("_accuracy") || c.ends_with("_r2"))).collect();
    if !per_task.is_empty() && !columns.iter().any(|c| c == "val_accuracy" || c == "val_r2") {
        let tasks = Chart {
            title: "Each task (validation)".into(),
            x_label: "epoch".into(),
            y_label: "accuracy or R²".into(),
            series: per_task
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    let name = c[4..].replace("_accuracy", " accuracy").replace("_r2", " R²");
                    series(&name, c, PALETTE[(i + 1) % PALETTE.len()])
                })
                .collect(),
            marker,
            legend_bottom: true,
            ..Default::default()
        };
        return [loss, tasks];
    }
    let second = ["accuracy", "r2"]
        .into_iter()
        .find(|m| columns.iter().any(|c| c == &format!("val_{m}") || c == &format!("train_{m}")))
        .map(str::to_string)
        .or_else(|| columns.iter().find(|c| c.starts_with("val_") && *c != "val_loss").map(|c| c[4..].to_string()))
        .unwrap_or_else(|| "accuracy".into());
    let (title, label) = match second.as_str() {
        "accuracy" => ("Accuracy".to_string(), "accuracy".to_string()),
        "r2" => ("R²".to_string(), "R²".to_string()),
        other => (other.to_string(), other.to_string()),
    };
    let metric = Chart {
        title,
        x_label: "epoch".into(),
        y_label: label,
        series: [
            series("train", &format!("train_{second}"), PALETTE[0]),
            series("validation", &format!("val_{second}"), PALETTE[1]),
        ]
        .into_iter()
        .flatten()
        .collect(),
        marker,
        legend_bottom: true,
        ..Default::default()
    };
    [loss, metric]
}

/// Writes `curves.png` and `curves.svg` into `dir`; returns their paths.
pub fn plot_curves(dir: &Path, history: &[EpochRecord], best_epoch: Option<usize>) -> Result<[PathBuf; 2], TrainError> {
    Ok(save_charts(&curves(history, best_epoch), &dir.join(CURVES))?)
}

/// A hook that appends each epoch to `metrics.jsonl` as it ends, so a running
/// (or crashed) run can be followed with `tail -f`. On a resumed run it first
/// rewrites the file with the checkpoint's history.
#[derive(Debug)]
pub struct HistoryWriter {
    path: PathBuf,
    error: Option<TrainError>,
}

impl HistoryWriter {
    /// Appends to `metrics.jsonl` in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { path: dir.join(JSONL), error: None }
    }

    /// The first write error, if any (hooks cannot fail the loop).
    pub fn error(&self) -> Option<&TrainError> {
        self.error.as_ref()
    }

    fn keep(&mut self, r: std::io::Result<()>) {
        if let (Err(e), None) = (r, &self.error) {
            self.error = Some(out_err(&self.path, &e));
        }
    }
}

impl TrainHook for HistoryWriter {
    fn on_train_start(&mut self, _plan: &Accounting, history: &[EpochRecord]) {
        let r = std::fs::write(&self.path, to_jsonl(history));
        self.keep(r);
    }

    fn on_epoch_end(&mut self, record: &EpochRecord) {
        let line = to_jsonl(std::slice::from_ref(record));
        let r = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        self.keep(r);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn record(epoch: usize, metrics: &[(&str, f64)]) -> EpochRecord {
        let metrics: BTreeMap<String, f64> = metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        EpochRecord { epoch, train_loss: 1.0, learning_rate: 0.1, seconds: 0.1, gradient_norms: None, metrics }
    }

    /// A multi-task run's second chart has a line per task's headline score;
    /// a single-task run's keeps train and validation of its one metric.
    #[test]
    fn multi_task_curves_show_each_tasks_score() {
        let multi = [("val_loss", 0.5), ("val_species_accuracy", 0.9), ("val_mass_r2", 0.7), ("val_mass_rmse", 300.0)];
        let [_, tasks] = curves(&[record(1, &multi), record(2, &multi)], Some(2));
        let names: Vec<&str> = tasks.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(names, ["mass R²", "species accuracy"]);
        let single = [("val_loss", 0.5), ("train_accuracy", 0.8), ("val_accuracy", 0.9)];
        let [_, accuracy] = curves(&[record(1, &single)], None);
        assert_eq!(accuracy.title, "Accuracy");
        assert_eq!(accuracy.series.len(), 2);
    }
}
