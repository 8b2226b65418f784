//! `anneal eval`: score a finished run on a labelled data file and write a
//! report — metrics table, per-class report, confusion heat map, ROC and
//! precision-recall curves — as Markdown with PNG and SVG figures.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anneal_data::{DataError, Split, Table};
use anneal_evaluate::plot::Figure;
use anneal_evaluate::{
    Average, ClassificationReport, ConfusionMatrix, EvalError, KappaWeights, MultiClass, ZeroDivision,
    average_precision, brier_score, confusion_matrix, log_loss, precision_recall_fscore, roc_auc, roc_auc_multiclass,
};
use anneal_train::Backend;
use anneal_train::Evaluation;
use serde::{Deserialize, Serialize};

use crate::config::{RunConfig, Task};
use crate::cv::write;
use crate::error::{Error, Result};
use crate::pipeline::TargetData;
use crate::run::{self, LoadedRun, RegressionTest, RunFolder, TestMetrics};
use anneal_core::markdown::{code, escape};

/// How to run `anneal eval`.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The run folder written by `anneal train`.
    pub run: PathBuf,
    /// A data file with the feature columns and the run's target column.
    pub data: PathBuf,
    /// Output folder to create (must not exist, or be empty).
    pub out: PathBuf,
    /// The compute backend.
    pub backend: Backend,
    /// Score only the rows of this part of the run's split (`split.json`); the data
    /// file must then be the one the run was trained on.
    pub part: Option<Part>,
}

/// A part of a run's split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The rows the weights were fitted on.
    Train,
    /// The early-stopping rows.
    Valid,
    /// The held-out test rows.
    Test,
}

/// A metric that may have no value on this data, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaybeMetric {
    /// The value, when defined.
    pub value: Option<f64>,
    /// Why it is undefined.
    pub note: Option<String>,
}

impl MaybeMetric {
    fn of(r: std::result::Result<f64, EvalError>) -> Self {
        match r {
            Ok(v) => Self { value: Some(v), note: None },
            Err(e) => Self { value: None, note: Some(e.to_string()) },
        }
    }

    fn cell(&self) -> String {
        match (self.value, &self.note) {
            (Some(v), _) => format!("{v:.4}"),
            (None, Some(n)) => format!("– ({n})"),
            (None, None) => "–".into(),
        }
    }
}

/// Metrics of a run on a labelled data file, as `eval.json` holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EvalMetrics {
    /// A classifier's (boxed: it is much larger than a regression's).
    Classification(Box<ClassificationEval>),
    /// A regression's.
    Regression(RegressionEval),
}

impl EvalMetrics {
    /// The main metrics in one line, as `anneal eval` prints them.
    pub fn summary(&self) -> String {
        match self {
            EvalMetrics::Classification(m) => format!(
                "accuracy {:.4}  macro-F1 {:.4}  log loss {:.4}  ({} rows)",
                m.accuracy, m.macro_f1, m.log_loss, m.rows
            ),
            EvalMetrics::Regression(m) => format!(
                "R² {:.4}  RMSE {}  MAE {}  ({} rows)",
                m.metrics.r2,
                run::significant(m.metrics.rmse),
                run::significant(m.metrics.mae),
                m.rows
            ),
        }
    }
}

/// A regression run's metrics on a labelled data file, in the targets' units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionEval {
    /// The target columns.
    pub targets: Vec<String>,
    /// Rows scored.
    pub rows: usize,
    /// The part of the run's split scored, when not every row of the file.
    pub part: Option<Part>,
    /// R², RMSE, MAE, MAPE, explained variance, max error (averaged over
    /// targets, each target's under `per_target`).
    pub metrics: RegressionTest,
}

/// A classifier's metrics on a labelled data file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationEval {
    /// Class names in code order.
    pub classes: Vec<String>,
    /// Rows scored.
    pub rows: usize,
    /// The part of the run's split scored, when not every row of the file.
    pub part: Option<Part>,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Mean recall over the classes present.
    pub balanced_accuracy: f64,
    /// Unweighted mean F1 over the classes present.
    pub macro_f1: f64,
    /// Support-weighted mean F1.
    pub weighted_f1: f64,
    /// Matthews correlation coefficient.
    pub matthews_corrcoef: f64,
    /// Cohen's kappa (unweighted).
    pub cohen_kappa: f64,
    /// Log loss of the predicted probabilities.
    pub log_loss: f64,
    /// ROC-AUC: binary on the second class's probability, else one-vs-rest macro.
    pub roc_auc: MaybeMetric,
    /// Average precision of the second class (binary problems only).
    pub average_precision: Option<MaybeMetric>,
    /// Brier score of the second class's probability (binary problems only).
    pub brier_score: Option<MaybeMetric>,
    /// Confusion matrix counts (rows true, columns predicted).
    pub confusion_matrix: Vec<Vec<u64>>,
    /// Per-class precision, recall, F1 and support.
    pub report: ClassificationReport,
}

/// Scores the run in `options.run` on `options.data` and writes `eval.md`,
/// `eval.json`, `predictions.csv` and the figures into `options.out`: for a
/// classifier `confusion`, `roc` and `pr`; for a regression
/// `predicted_vs_actual`, `residuals` and `residual_histogram` (each PNG and SVG).
pub fn evaluate_run(options: &EvalOptions) -> Result<EvalMetrics> {
    let run = LoadedRun::open(&options.run, options.backend)?;
    let config = run.config.clone();
    let lock = crate::run::claim_out(&options.out)?;
    let out = lock.dir().to_path_buf();
    let names = run.saved.output_names();

    let csv = config.csv_options();
    // An image run reads a folder of class folders as it was trained.
    let mut files = None;
    let table = match &run.saved.fitted.features {
        crate::pipeline::FeatureState::Image(images) if options.data.is_dir() => {
            let folder = run.read_images(&options.data, images, Some(&config.data.target.joined()))?;
            files = Some(folder.files);
            folder.table
        }
        _ => Table::read(&options.data, &csv)?,
    };
    for target in config.data.target.names() {
        if !table.column_names().contains(&target) {
            return Err(Error::UnknownTarget {
                column: target,
                path: options.data.clone(),
                available: table.column_names().join(", "),
            });
        }
    }
    let rows = scored_rows(options, table.n_rows())?;
    let table = table.take(&rows)?;
    let data_row = |i: usize| rows[i];
    match run.saved.task() {
        Task::MultiTask => Err(Error::Setting(
            "anneal eval of a multi-task run is not supported yet: its report scores every task on the test rows, \
             and anneal predict predicts new rows"
                .into(),
        )),
        Task::Classification => {
            let target = config.data.target.joined();
            let codes = table
                .as_strings(&target)?
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let v = v.ok_or_else(|| DataError::MissingTarget { column: target.clone(), row: data_row(i) })?;
                    names
                        .iter()
                        .position(|c| *c == v)
                        .ok_or(DataError::UnknownCategory { column: target.clone(), value: v })
                })
                .collect::<std::result::Result<Vec<usize>, DataError>>()?;
            let labels = run.saved.labels.clone().ok_or_else(|| Error::NotARun {
                path: options.run.clone(),
                missing: "class labels in preprocessing.json",
            })?;
            let e = run.evaluate(&table, Some(&TargetData::Classes { labels, codes }), data_row)?;
            let metrics = classification_metrics(options, &names, &e)?;
            let EvalMetrics::Classification(m) = &metrics else { unreachable!("a classification's metrics") };
            let cm = confusion_matrix(e.targets.classes().unwrap_or_default(), &e.predicted_classes(), names.len())?;
            let proba: Vec<f64> = e.predictions.iter().map(|&p| f64::from(p)).collect();
            let y_true = e.targets.classes().unwrap_or_default();
            let mut figures = write_figures(&out, &cm, y_true, &proba, &names)?;
            if let crate::pipeline::FeatureState::Image(images) = &run.saved.fitted.features {
                let pixels = crate::run::viewable(&config, images, &table)?;
                let row_names: Vec<String> = match &files {
                    Some(files) => rows.iter().map(|&r| crate::run::file_name(&files[r])).collect(),
                    None => rows.iter().map(|r| format!("row {r}")).collect(),
                };
                figures.misclassified =
                    write_misclassified(&out, &pixels, images.shape(), y_true, &proba, &names, &row_names)?;
            }
            write(&out, "predictions.csv", run::predictions_csv(&rows, &names, Task::Classification, &e, true))?;
            write(&out, "eval.json", serde_json::to_string_pretty(&metrics).expect("metrics serialise") + "\n")?;
            write(&out, "eval.md", markdown(options, &config, m, &figures))?;
            Ok(metrics)
        }
        Task::Regression => {
            let mut columns = Vec::new();
            for t in &names {
                let values = anneal_data::preprocess::numeric_target(&table, t).map_err(|e| match e {
                    DataError::MissingTarget { column, row } => DataError::MissingTarget { column, row: data_row(row) },
                    other => other,
                })?;
                columns.push(values);
            }
            let values = (0..table.n_rows()).flat_map(|r| columns.iter().map(move |c| c[r])).collect();
            let e = run.evaluate(&table, Some(&TargetData::Values { columns: names.clone(), values }), data_row)?;
            let m = RegressionEval {
                targets: names.clone(),
                rows: e.len(),
                part: options.part,
                metrics: TestMetrics::regression(&e, &names)?,
            };
            let drawn = run::write_regression_figures(&out, &e, &names)?;
            write(&out, "predictions.csv", run::predictions_csv(&rows, &names, Task::Regression, &e, true))?;
            let metrics = EvalMetrics::Regression(m);
            write(&out, "eval.json", serde_json::to_string_pretty(&metrics).expect("metrics serialise") + "\n")?;
            let EvalMetrics::Regression(m) = &metrics else { unreachable!("a regression's metrics") };
            write(&out, "eval.md", regression_markdown(options, &config, m, &drawn))?;
            Ok(metrics)
        }
    }
}

/// The data rows scored: every row of the file, or one part of the run's split.
fn scored_rows(options: &EvalOptions, n: usize) -> Result<Vec<usize>> {
    let Some(part) = options.part else { return Ok((0..n).collect()) };
    // The split holds row positions of the run's file: only that file, byte for
    // byte, gives them meaning (reordered rows would score the wrong ones).
    run::check_data_file(&options.run, &options.data, "scored by --part")?;
    let split_path = RunFolder::new(&options.run).require(run::SPLIT)?;
    let text = std::fs::read_to_string(&split_path).map_err(crate::error::io(&split_path))?;
    let split: Split =
        serde_json::from_str(&text).map_err(|e| Error::Config { path: split_path.clone(), message: e.to_string() })?;
    let rows = match part {
        Part::Train => split.train,
        Part::Valid => split.valid,
        Part::Test => split.test,
    };
    if let Some(&row) = rows.iter().find(|&&r| r >= n) {
        return Err(Error::Config {
            path: split_path,
            message: format!(
                "row {row} of the {part:?} part is not in {} ({n} rows): pass the data file the run was trained on",
                options.data.display(),
            ),
        });
    }
    if rows.is_empty() {
        return Err(EvalError::Empty.into());
    }
    Ok(rows)
}

/// A classifier's metrics on its evaluation.
fn classification_metrics(options: &EvalOptions, classes: &[String], e: &Evaluation) -> Result<EvalMetrics> {
    let k = classes.len();
    let y_true = e.targets.classes().unwrap_or_default();
    let y_pred = &e.predicted_classes();
    let proba: Vec<f64> = e.predictions.iter().map(|&p| f64::from(p)).collect();
    let cm = confusion_matrix(y_true, y_pred, k)?;
    let weighted = precision_recall_fscore(y_true, y_pred, k, 1.0, Average::Weighted, ZeroDivision::Zero)?;
    let positive: Vec<f64> = proba.chunks_exact(k).map(|r| r[k.min(2) - 1]).collect();
    let (roc, ap, brier) = if k == 2 {
        (
            MaybeMetric::of(roc_auc(y_true, &positive)),
            Some(MaybeMetric::of(average_precision(y_true, &positive))),
            Some(MaybeMetric::of(brier_score(y_true, &positive))),
        )
    } else {
        (MaybeMetric::of(roc_auc_multiclass(y_true, &proba, k, MultiClass::OneVsRest, Average::Macro)), None, None)
    };
    Ok(EvalMetrics::Classification(Box::new(ClassificationEval {
        classes: classes.to_vec(),
        rows: y_true.len(),
        part: options.part,
        accuracy: cm.accuracy(),
        balanced_accuracy: cm.balanced_accuracy(),
        macro_f1: cm.macro_f1(),
        weighted_f1: weighted.f_score,
        matthews_corrcoef: cm.matthews_corrcoef(),
        cohen_kappa: cm.cohen_kappa(KappaWeights::Unweighted),
        log_loss: log_loss(y_true, &proba, k)?,
        roc_auc: roc,
        average_precision: ap,
        brier_score: brier,
        confusion_matrix: cm.counts().to_vec(),
        report: ClassificationReport::from_confusion(&cm, ZeroDivision::Zero).with_names(classes)?,
    })))
}

fn regression_markdown(
    options: &EvalOptions,
    config: &RunConfig,
    m: &RegressionEval,
    drawn: &[(String, String)],
) -> String {
    let mut r = header(options, m.part, m.rows, &format!("regression of {}", code(&config.data.target.joined())));
    r.push('\n');
    let t = &m.metrics;
    let _ = writeln!(r, "## Metrics (in the target's units)\n\n| metric | value |\n|---|---|");
    r += &t.metric_rows();
    if !t.per_target.is_empty() {
        let _ = writeln!(r, "\n## Per target\n\n| target | R² | RMSE | MAE |\n|---|---|---|---|");
        for (name, v) in &t.per_target {
            let g = |k: &str| v.get(k).map_or("–".to_string(), |x| run::significant(*x));
            let _ = writeln!(r, "| {} | {} | {} | {} |", escape(name), g("r2"), g("rmse"), g("mae"));
        }
    }
    r.push('\n');
    r += &run::regression_figures_markdown(drawn, "##");
    r
}

/// The title and the run / data line every evaluation report starts with.
fn header(options: &EvalOptions, part: Option<Part>, rows: usize, subject: &str) -> String {
    let scope = match part {
        Some(part) => format!("the {rows} rows of the run's {part:?} part").to_lowercase(),
        None => format!("{rows} rows"),
    };
    format!(
        "# Anneal evaluation report\n\n- run: {}; data: {} ({scope}, {subject})\n",
        code(&options.run.display().to_string()),
        code(&options.data.display().to_string())
    )
}

fn markdown(options: &EvalOptions, config: &RunConfig, m: &ClassificationEval, figures: &Figures) -> String {
    let mut r = header(options, m.part, m.rows, &format!("target {}", code(&config.data.target.joined())));
    let _ = writeln!(r, "- classes: {}\n", crate::run::escaped_list(&m.classes));
    let _ = writeln!(r, "## Metrics\n\n| metric | value |\n|---|---|");
    for (name, v) in [
        ("accuracy", m.accuracy),
        ("balanced accuracy", m.balanced_accuracy),
        ("macro-F1", m.macro_f1),
        ("weighted F1", m.weighted_f1),
        ("Matthews correlation", m.matthews_corrcoef),
        ("Cohen's kappa", m.cohen_kappa),
        ("log loss", m.log_loss),
    ] {
        let _ = writeln!(r, "| {name} | {v:.4} |");
    }
    let auc_name = if m.classes.len() == 2 {
        format!("ROC-AUC ({} positive)", escape(&m.classes[1]))
    } else {
        "ROC-AUC (one-vs-rest, macro)".into()
    };
    let _ = writeln!(r, "| {auc_name} | {} |", m.roc_auc.cell());
    if let Some(ap) = &m.average_precision {
        let _ = writeln!(r, "| average precision | {} |", ap.cell());
    }
    if let Some(b) = &m.brier_score {
        let _ = writeln!(r, "| Brier score | {} |", b.cell());
    }
    let _ = writeln!(r, "\n## Per class\n\n{}", m.report.to_markdown(4));
    let _ = write!(r, "{}", figures.markdown("##"));
    r
}

/// The first `runs/<run name>-eval-<n>` that does not exist yet.
pub fn default_out(run: &Path) -> PathBuf {
    let stem = run.file_name().and_then(|s| s.to_str()).unwrap_or("run");
    (1..)
        .map(|n| PathBuf::from("runs").join(format!("{stem}-eval-{n}")))
        .find(|p| !p.exists())
        .expect("an unused name exists")
}

/// Above this many classes no confusion heat map, ROC or PR figure is drawn, and
/// reports show the confusion matrix as a table only up to it: a figure of
/// thousands of classes is megabytes that nobody can read.
pub(crate) const MAX_DRAWN_CLASSES: usize = 50;

/// Which evaluation figures [`write_figures`] drew, for the report that embeds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Figures {
    /// The number of classes, when it is above [`MAX_DRAWN_CLASSES`] and no figure was drawn.
    too_many: Option<usize>,
    /// Why the ROC and precision-recall curves were not drawn (they need rows of
    /// two classes at least, and finite probabilities).
    no_curves: Option<String>,
    /// The positive class of a two-class problem.
    positive: Option<String>,
    /// Classes without a one-vs-rest curve: absent from the rows, or in every row.
    without_curve: Vec<String>,
    /// Image runs: misclassified images drawn and misclassified in all (`misclassified.png`).
    pub(crate) misclassified: Option<(usize, usize)>,
}

/// The most misclassified images drawn in `misclassified.png`.
pub(crate) const MAX_MISCLASSIFIED_DRAWN: usize = 36;

/// Draws the first [`MAX_MISCLASSIFIED_DRAWN`] misclassified images of labelled
/// rows into `out/misclassified.png`, each captioned with its row name, true and
/// predicted class and the predicted class's probability. `pixels` holds each
/// row's image (channel-major, `[0, 1]`). Returns (drawn, misclassified), or
/// `None` when every row is right.
pub(crate) fn write_misclassified(
    out: &Path,
    pixels: &[f32],
    shape: [usize; 3],
    y_true: &[usize],
    proba: &[f64],
    classes: &[String],
    row_names: &[String],
) -> Result<Option<(usize, usize)>> {
    let (k, per_image) = (classes.len(), shape.iter().product::<usize>());
    let predicted: Vec<(usize, f64)> = proba
        .chunks_exact(k)
        .map(|r| {
            r.iter().copied().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, p)| if p > b.1 { (i, p) } else { b })
        })
        .collect();
    let wrong: Vec<usize> = (0..y_true.len()).filter(|&i| predicted[i].0 != y_true[i]).collect();
    if wrong.is_empty() {
        return Ok(None);
    }
    let tiles = wrong
        .iter()
        .take(MAX_MISCLASSIFIED_DRAWN)
        .map(|&i| {
            let (p, prob) = predicted[i];
            let caption = format!("{}: {} → {} ({:.2})", row_names[i], classes[y_true[i]], classes[p], prob);
            anneal_evaluate::ImageTile::new(pixels[i * per_image..(i + 1) * per_image].to_vec(), shape, caption)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let drawn = tiles.len();
    Figure::image_grid(tiles, 6)?
        .with_title(format!(
            "Misclassified test images: {drawn} of {} (row: true → predicted (probability))",
            wrong.len()
        ))
        .save(out.join("misclassified.png"))?;
    Ok(Some((drawn, wrong.len())))
}

/// Draws the figures of labelled rows into `out`, each as PNG and SVG: the
/// confusion heat map (`confusion`), and ROC (`roc`) and precision-recall (`pr`)
/// curves — of the second class against the first for two classes, one-vs-rest per
/// class otherwise, with AUC and average precision in the legends. `proba` is
/// row-major, one row of class probabilities per true label. `anneal train` (its
/// test rows) and `anneal eval` both draw through here.
pub(crate) fn write_figures(
    out: &Path,
    cm: &ConfusionMatrix,
    y_true: &[usize],
    proba: &[f64],
    classes: &[String],
) -> Result<Figures> {
    let k = classes.len();
    if k > MAX_DRAWN_CLASSES {
        return Ok(Figures {
            too_many: Some(k),
            no_curves: None,
            positive: None,
            without_curve: Vec::new(),
            misclassified: None,
        });
    }
    Figure::confusion(cm, classes)?.save_png_svg(out, "confusion")?;
    let present = |c: usize| {
        let n = y_true.iter().filter(|&&y| y == c).count();
        n > 0 && n < y_true.len()
    };
    // Legends say "class 1 (AUC 0.995)", not a bare "1 (AUC 0.995)".
    let names: Vec<String> = classes.iter().map(|c| format!("class {c}")).collect();
    let curves = if k == 2 {
        let positive: Vec<f64> = proba.chunks_exact(k).map(|r| r[1]).collect();
        let title = |what: &str| format!("{what} (positive class: {})", classes[1]);
        Figure::roc_binary(y_true, &positive, &names[1]).and_then(|roc| {
            let pr = Figure::pr_binary(y_true, &positive, &names[1])?;
            Ok((roc.with_title(title("ROC curve")), pr.with_title(title("Precision-recall curve"))))
        })
    } else {
        Figure::roc_one_vs_rest(y_true, proba, &names)
            .and_then(|roc| Ok((roc, Figure::pr_one_vs_rest(y_true, proba, &names)?)))
    };
    // Rows of one class (or probabilities a diverged model left non-finite) leave
    // the curves undefined: the report says why instead of failing the run.
    let no_curves = match curves {
        Ok((roc, pr)) => {
            roc.save_png_svg(out, "roc")?;
            pr.save_png_svg(out, "pr")?;
            None
        }
        Err(EvalError::SingleClass { .. }) => Some("the rows hold one class only".to_string()),
        Err(e) => Some(e.to_string()),
    };
    Ok(Figures {
        too_many: None,
        misclassified: None,
        no_curves,
        positive: (k == 2).then(|| classes[1].clone()),
        without_curve: if k == 2 {
            Vec::new()
        } else {
            (0..k).filter(|&c| !present(c)).map(|c| classes[c].clone()).collect()
        },
    })
}

impl Figures {
    /// The figures as Markdown sections under headings of level `heading` (`"##"`),
    /// each with a short caption.
    pub(crate) fn markdown(&self, heading: &str) -> String {
        let mut r = String::new();
        if let Some((drawn, total)) = self.misclassified {
            let _ = writeln!(
                r,
                "{heading} Misclassified images
"
            );
            let _ = writeln!(
                r,
                "![misclassified images](misclassified.png)\n\n*The first {drawn} of the {total} misclassified \
                 images, as the model saw them before normalisation: each captioned with its row (or file), true \
                 class → predicted class and the predicted class's probability.*\n"
            );
        }
        if let Some(k) = self.too_many {
            let _ = writeln!(
                r,
                "No figures: {k} classes are more than the {MAX_DRAWN_CLASSES} a readable confusion heat map or \
                 set of curves holds; the scores of every class are in the per-class table and the JSON.\n"
            );
            return r;
        }
        let _ = writeln!(r, "{heading} Confusion heat map\n");
        let _ = writeln!(
            r,
            "![confusion matrix](confusion.png)\n\n*Rows: true class; columns: predicted class. Each cell holds \
             the count and its share of the true class, which also sets the colour, so the diagonal reads as \
             each class's recall.* ([SVG](confusion.svg))\n"
        );
        if let Some(why) = &self.no_curves {
            let _ = writeln!(r, "No ROC or precision-recall curves: {}.\n", escape(why));
            return r;
        }
        let (roc, pr) = match self.positive.as_deref().map(code) {
            Some(p) => (
                format!(
                    "*ROC curve of class {p} as the positive class, scored by its predicted probability; \
                     the dashed diagonal is chance, the legend gives the area under the curve (AUC).*"
                ),
                format!(
                    "*Precision-recall curve of class {p}; the dashed line is the precision of guessing \
                     (the share of {p} rows), the legend gives the average precision (AP).*"
                ),
            ),
            None => {
                let missing = if self.without_curve.is_empty() {
                    String::new()
                } else {
                    format!(
                        " No curve for {}: a class needs rows both in and out of it.",
                        self.without_curve.iter().map(|c| code(c)).collect::<Vec<_>>().join(", ")
                    )
                };
                (
                    format!(
                        "*One-vs-rest ROC curves: each class against all others, scored by its predicted \
                         probability; the dashed diagonal is chance, the legend gives each curve's AUC.{missing}*"
                    ),
                    format!(
                        "*One-vs-rest precision-recall curves, one per class; the legend gives each curve's \
                         average precision (AP).{missing}*"
                    ),
                )
            }
        };
        let _ = writeln!(r, "{heading} ROC curves\n\n![ROC curves](roc.png)\n\n{roc} ([SVG](roc.svg))\n");
        let _ = writeln!(
            r,
            "{heading} Precision-recall curves\n\n![precision-recall curves](pr.png)\n\n{pr} ([SVG](pr.svg))\n"
        );
        r
    }
}
