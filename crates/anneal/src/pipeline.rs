//! The one data pipeline of every command: load → clean → targets (task) →
//! split → fit preprocessing (and a target transform) on the fitting rows →
//! datasets. `anneal train`, `lr-find` and `tune` prepare a run with
//! [`prepare`]; `anneal cv` fits each fold through the same [`Loaded::fit`];
//! `anneal predict` and `eval` re-apply a run's [`Fitted`] state.

use std::path::{Path, PathBuf};

use anneal_data::audio::read_audio_folder;
use anneal_data::clean::CleanReport;
use anneal_data::encode::TargetValues;
use anneal_data::image::{ImageNormalizer, read_image_folder};
use anneal_data::text::TextEncoder;
use anneal_data::{
    Augmented, ClassificationData, Column, ColumnKind, LabelEncoder, Matrix, Preprocessor, RegressionData, Split,
    Table, TabularData, TargetTransform, group_holdout, holdout, stratified_holdout,
};
use serde::{Deserialize, Serialize};

use crate::config::{DataKind, RunConfig, Task};
use crate::error::{Error, Result};

/// Above this many distinct values a numeric target is inferred to be a regression target.
pub const MAX_INFERRED_CLASSES: usize = 20;

/// The most classes a classification may have unless `[data] max_classes` says
/// otherwise: a target with more distinct values is almost always a quantity or
/// an identifier, and would train a huge output layer and unreadable reports.
pub const DEFAULT_MAX_CLASSES: usize = 1000;

/// The targets of the loaded rows.
#[derive(Debug, Clone)]
pub enum TargetData {
    /// Class targets: the encoder and each row's code.
    Classes {
        /// Class names in code order.
        labels: LabelEncoder,
        /// Each table row's class code.
        codes: Vec<usize>,
    },
    /// Numeric targets: row-major, one value per target column.
    Values {
        /// The target columns.
        columns: Vec<String>,
        /// Each table row's values.
        values: Vec<f64>,
    },
    /// A multi-task run's targets: one task per `[data] target` column.
    Tasks(Vec<TaskData>),
}

/// One task of a multi-task run.
#[derive(Debug, Clone)]
pub struct TaskData {
    /// The target column.
    pub column: String,
    /// Its targets ([`TargetData::Classes`] or one-column [`TargetData::Values`]);
    /// rows without a label hold class 0 or 0.
    pub target: TargetData,
    /// Whether each table row has a label.
    pub present: Vec<bool>,
}

impl TargetData {
    /// The task these targets make.
    pub fn task(&self) -> Task {
        match self {
            TargetData::Classes { .. } => Task::Classification,
            TargetData::Values { .. } => Task::Regression,
            TargetData::Tasks(_) => Task::MultiTask,
        }
    }

    /// Outputs a model needs: classes, or target columns.
    pub fn n_outputs(&self) -> usize {
        match self {
            TargetData::Classes { labels, .. } => labels.classes().len(),
            TargetData::Values { columns, .. } => columns.len(),
            TargetData::Tasks(tasks) => tasks.iter().map(|t| t.target.n_outputs()).sum(),
        }
    }

    /// The class names (empty for numeric targets).
    pub fn classes(&self) -> &[String] {
        match self {
            TargetData::Classes { labels, .. } => labels.classes(),
            TargetData::Values { .. } | TargetData::Tasks(_) => &[],
        }
    }

    /// A multi-task run's tasks: column, kind and head width.
    pub fn tasks(&self) -> Vec<(String, Task, usize)> {
        match self {
            TargetData::Tasks(tasks) => {
                tasks.iter().map(|t| (t.column.clone(), t.target.task(), t.target.n_outputs())).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// A run's data, loaded, cleaned and with its targets read, before any split.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The table after cleaning.
    pub table: Table,
    /// Each kept row's row in the data file.
    pub original: Vec<usize>,
    /// What cleaning removed (outlier trimming is counted by whoever trims).
    pub cleaning: CleanReport,
    /// Feature columns.
    pub features: Vec<String>,
    /// The targets.
    pub target: TargetData,
    /// How the task was decided, when it was inferred from a numeric target: one
    /// line for the user, with how to override it.
    pub task_note: Option<String>,
    /// Warnings for the user (a one-hot column of very many categories).
    pub warnings: Vec<String>,
    /// Image runs: each row's `[channels, height, width]` and, for a folder, its files.
    pub images: Option<Images>,
    /// Each table row's group, when `[split] group` names a column: the split
    /// keeps groups whole.
    pub groups: Option<Vec<String>>,
    /// The split named by `[split] column`, in table rows.
    pub predefined: Option<Split>,
    numeric: Vec<String>,
}

/// What an image run's rows are.
#[derive(Debug, Clone)]
pub struct Images {
    /// `[channels, height, width]` of every image.
    pub shape: [usize; 3],
    /// Each table row's image file, when the data is a folder.
    pub files: Option<Vec<PathBuf>>,
}

/// The state fitted on a run's (or a fold's) fitting rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fitted {
    /// How feature columns become the model's inputs.
    #[serde(flatten)]
    pub features: FeatureState,
    /// The regression target transform (absent for classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_transform: Option<TargetTransform>,
}

/// How a run turns its feature columns into model inputs, fitted on the training rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureState {
    /// Table columns: `[preprocess]` (imputation, scaling, encoding, ...).
    Preprocessor(Box<Preprocessor>),
    /// Image pixels: scaled and normalised per channel.
    Image(ImageNormalizer),
    /// A text column: tokenized into rows of token ids.
    Text(TextEncoder),
}

impl FeatureState {
    /// The model inputs of the rows of `table`.
    pub fn transform(&self, table: &Table) -> Result<Matrix> {
        Ok(match self {
            FeatureState::Preprocessor(p) => p.transform(table)?,
            FeatureState::Image(n) => n.transform(table)?,
            FeatureState::Text(t) => t.transform(table)?,
        })
    }

    /// `[channels, height, width]` of an image run.
    pub fn image_shape(&self) -> Option<[usize; 3]> {
        match self {
            FeatureState::Image(n) => Some(n.shape()),
            FeatureState::Preprocessor(_) | FeatureState::Text(_) => None,
        }
    }

    /// The tokenizer of a text run.
    pub fn text(&self) -> Option<&TextEncoder> {
        match self {
            FeatureState::Text(t) => Some(t),
            _ => None,
        }
    }
}

impl Loaded {
    /// Reads the config's data file, checks the target columns, cleans the table
    /// and reads the targets for the config's task (inferred when not given).
    pub fn load(config: &RunConfig) -> Result<Self> {
        let data_path = &config.data.path;
        let csv = config.csv_options();
        let targets = config.data.target.names();
        // The target is never an input: listed as a feature or as excluded, the
        // config says two things at once (a feature target would score 1.0).
        for t in &targets {
            if config.data.features.as_ref().is_some_and(|f| f.contains(t)) {
                return Err(Error::Target {
                    column: t.clone(),
                    message: "it is both the target and listed in [data] features; remove it from features".into(),
                });
            }
            if config.data.exclude.contains(t) {
                return Err(Error::Target {
                    column: t.clone(),
                    message: "it is the target and also listed in [data] exclude; remove it from exclude".into(),
                });
            }
        }
        let image_kind = config.data.kind.is_image_like();
        let audio_kind = config.data.kind == DataKind::Audio;
        if config.model.needs_images() && !image_kind {
            return Err(Error::Setting(
                "[model] kind = \"cnn\" reads images: set [data] kind = \"image\" (a folder of class folders, or a \
                 pixel CSV with [data.image] height, width and channels) or kind = \"audio\" (a folder of class \
                 folders of WAV files)"
                    .into(),
            ));
        }
        let text_kind = config.data.kind == DataKind::Text;
        if config.model.needs_text() != text_kind {
            return Err(Error::Setting(if text_kind {
                format!(
                    "[data] kind = \"text\" makes rows of token ids, which only [model] kind = \"transformer\" reads \
                     (kind = \"{}\" would take the ids for quantities)",
                    config.model.kind()
                )
            } else {
                "[model] kind = \"transformer\" reads token ids: set [data] kind = \"text\" (one text column, \
                 tokenized by [data.text])"
                    .into()
            }));
        }
        if !text_kind && config.data.text.is_some() {
            return Err(Error::Setting("[data.text] is a setting of [data] kind = \"text\"".into()));
        }
        if let Some(text) = &config.data.text {
            text.validate()?;
        }
        if config.data.kind != DataKind::Image && config.data.image.is_some() {
            return Err(Error::Setting("[data.image] is a setting of [data] kind = \"image\"".into()));
        }
        if !audio_kind && config.data.audio.is_some() {
            return Err(Error::Setting("[data.audio] is a setting of [data] kind = \"audio\"".into()));
        }
        if audio_kind && !data_path.is_dir() {
            return Err(Error::Setting(format!(
                "[data] kind = \"audio\" reads a folder of class folders of WAV files, but {} is not a folder",
                data_path.display()
            )));
        }
        if config.data.file_groups.is_some() && !(image_kind && data_path.is_dir()) {
            return Err(Error::Setting(
                "[data] file_groups reads groups from file names: it needs a folder of class folders (kind = \
                 \"image\" or \"audio\")"
                    .into(),
            ));
        }
        if !config.augment.is_empty() {
            config.augment.validate_for(augment_media(config)?).map_err(anneal_train::TrainError::from)?;
        }
        check_multitask(config)?;
        check_transfer_and_distill(config)?;
        let mut folder_files = None;
        let raw = if image_kind && data_path.is_dir() {
            let folder = if audio_kind {
                read_audio_folder(data_path, Some(&targets[0]), &config.audio_options(), None)?
            } else {
                read_image_folder(data_path, Some(&targets[0]), &config.image_options(), None)?
            };
            if !folder.table.column_names().contains(&targets[0]) {
                return Err(Error::Setting(format!(
                    "{} holds {} but no class folders: a training folder needs one folder per class",
                    data_path.display(),
                    if audio_kind { "clips" } else { "images" }
                )));
            }
            let table = match &config.data.file_groups {
                Some(groups) => folder
                    .table
                    .with_column(&groups.column, Column::Categorical(file_groups(groups, &folder.files)?))?,
                None => folder.table,
            };
            folder_files = Some((folder.files, folder.shape));
            table
        } else {
            Table::read(data_path, &csv)?
        };
        let check_targets = |table: &Table| -> Result<()> {
            let columns = table.column_names();
            // One column whose name holds another separator: the file is not comma-separated.
            if let [only] = columns.as_slice()
                && let Some(sep) = [';', '\t', '|'].into_iter().find(|c| only.contains(*c))
            {
                let shown = if sep == '\t' { "\\t".to_string() } else { sep.to_string() };
                return Err(Error::Setting(format!(
                    "{} reads as one column, and its name `{}` holds `{shown}`: the fields seem separated by \
                     `{shown}`, so set [data] delimiter = \"{shown}\"",
                    data_path.display(),
                    only.chars().take(60).collect::<String>()
                )));
            }
            match targets.iter().find(|t| !columns.contains(t)) {
                Some(t) => Err(Error::UnknownTarget {
                    column: t.clone(),
                    path: data_path.clone(),
                    available: columns.join(", "),
                }),
                None => Ok(()),
            }
        };
        check_targets(&raw)?;
        if targets.is_empty() {
            return Err(Error::Setting("[data] target names no column".into()));
        }
        // Whole-table cleaning; `original` maps each kept row to its data row.
        let (table, original, cleaning) = config.clean.apply(&raw, &targets)?;
        check_targets(&table)?;
        let columns = table.column_names();
        // The split's group and parts columns and a folder's file groups are never default features.
        let group_columns: Vec<&String> = config
            .split
            .group
            .iter()
            .chain(&config.split.column)
            .chain(config.data.file_groups.as_ref().map(|g| &g.column))
            .collect();
        let features: Vec<String> = match &config.data.features {
            Some(f) => f.iter().filter(|c| !cleaning.dropped_columns.contains(c)).cloned().collect(),
            None => columns
                .iter()
                .filter(|c| !targets.contains(c) && !config.data.exclude.contains(c) && !group_columns.contains(c))
                .cloned()
                .collect(),
        };
        if features.is_empty() {
            return Err(Error::Setting(match &config.data.features {
                Some(_) => "[data] features lists no column (or only columns cleaning dropped): a model needs at \
                            least one input"
                    .into(),
                None => "every column is the target or excluded: a model needs at least one input column".into(),
            }));
        }
        for f in features.iter().chain(&config.data.exclude) {
            if !cleaning.dropped_columns.contains(f) {
                table.kind(f)?;
            }
        }
        if text_kind {
            match features.as_slice() {
                [one] if table.kind(one)? == ColumnKind::Categorical => {}
                [one] => {
                    return Err(Error::Setting(format!(
                        "[data] kind = \"text\": feature column `{one}` holds numbers, not text (if they are texts, \
                         set [data] column_kinds = {{ {one} = \"categorical\" }})"
                    )));
                }
                more => {
                    return Err(Error::Setting(format!(
                        "[data] kind = \"text\" reads one text column, but {} columns are features ({}): name it \
                         with [data] features = [\"...\"] or exclude the others",
                        more.len(),
                        more.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        }
        let images = if image_kind {
            Some(match folder_files {
                Some((files, shape)) => {
                    let [c, h, w] = shape;
                    if features.len() != c * h * w {
                        return Err(Error::Setting(format!(
                            "the images have {} pixel values each ({c}x{h}x{w}) but {} pixel columns are features: \
                             leave [data] features, exclude and column-dropping cleaning out of an image folder run",
                            c * h * w,
                            features.len()
                        )));
                    }
                    // Cleaning may have dropped rows (duplicate images): keep each kept row's file.
                    let files = original.iter().map(|&r| files[r].clone()).collect();
                    Images { shape, files: Some(files) }
                }
                None => {
                    for f in &features {
                        if table.kind(f)? != ColumnKind::Numeric {
                            return Err(Error::Setting(format!(
                                "[data] kind = \"image\": feature column `{f}` holds text, not pixel values (list \
                                 the pixel columns in [data] features, or exclude the others)"
                            )));
                        }
                    }
                    Images { shape: config.image_options().csv_shape(&features)?, files: None }
                }
            })
        } else {
            None
        };
        let data_row = |row: usize| original.get(row).copied().unwrap_or(row);
        let (target, task_note) = match &config.multitask {
            Some(m) => multitask_targets(config, m, &table, &targets, &data_row)?,
            None => {
                let (task, note) = infer_task(config, &table, &targets)?;
                (read_target(config, &table, &targets, task, &data_row)?, note)
            }
        };
        let numeric = features
            .iter()
            .filter(|f| !config.preprocess.date_columns.contains(f) && table.kind(f).ok() == Some(ColumnKind::Numeric))
            .cloned()
            .collect();
        // One-hot columns of very many categories: the matrix grows by one column each.
        let mut warnings = Vec::new();
        for f in features.iter().filter(|_| !image_kind && !text_kind) {
            let one_hot = config.preprocess.encoders.get(f).copied().unwrap_or(config.preprocess.encoding)
                == anneal_data::preprocess::Encoding::OneHot;
            // Rare categories grouped: the size check before the matrix is built speaks for it.
            let grouped = config.preprocess.one_hot.min_frequency.is_some();
            if one_hot
                && !grouped
                && !config.preprocess.date_columns.contains(f)
                && table.kind(f)? == ColumnKind::Categorical
            {
                let distinct = table.distinct_labels(f)?;
                let rows = table.n_rows();
                if anneal_data::inspect::is_high_cardinality(distinct, rows) {
                    warnings.push(format!(
                        "warning: feature `{f}` has {distinct} categories in {rows} rows: one-hot encoding makes a \
                         column for each; group rare ones ([preprocess] one_hot = {{ min_frequency = 20 }}), \
                         target-encode it, or exclude it if it identifies rows"
                    ));
                }
            }
        }
        let groups = match &config.split.group {
            Some(column) => {
                if targets.contains(column) {
                    return Err(Error::Setting(format!(
                        "[split] group = \"{column}\" is the target: groups are another column (a speaker, a patient)"
                    )));
                }
                if !table.column_names().contains(column) {
                    return Err(Error::Setting(format!(
                        "[split] group = \"{column}\": no such column (available: {}{})",
                        listed_columns(&table, image_kind),
                        if image_kind && config.data.file_groups.is_none() {
                            "; a folder run makes one from file names with [data] file_groups"
                        } else {
                            ""
                        }
                    )));
                }
                let values = table.as_strings(column)?;
                if let Some(r) = values.iter().position(Option::is_none) {
                    return Err(Error::MissingGroup { column: column.clone(), row: data_row(r) });
                }
                Some(values.into_iter().map(Option::unwrap_or_default).collect())
            }
            None => None,
        };
        let predefined = match &config.split.column {
            Some(column) => Some(predefined_split(config, &table, &targets, &features, column, image_kind, data_row)?),
            None => None,
        };
        Ok(Self {
            table,
            original,
            cleaning,
            features,
            target,
            task_note,
            warnings,
            images,
            groups,
            predefined,
            numeric,
        })
    }

    /// The task of the run.
    pub fn task(&self) -> Task {
        self.target.task()
    }

    /// Whether splits and folds are stratified: the config's `[split] stratify`,
    /// else yes for classification and no for regression. Stratifying a
    /// continuous target is refused.
    pub fn stratify(&self, config: &RunConfig) -> Result<bool> {
        if let Some(column) = &config.split.group {
            return match config.split.stratify {
                Some(true) => Err(Error::Setting(format!(
                    "[split] stratify = true and group = \"{column}\": a group split keeps groups whole and is not \
                     stratified; leave stratify out"
                ))),
                _ => Ok(false),
            };
        }
        match (self.task(), config.split.stratify) {
            (Task::Regression, Some(true)) => Err(Error::Setting(format!(
                "[split] stratify = true needs classes, but `{}` is a continuous (regression) target: \
                 leave stratify out or set it to false",
                config.data.target
            ))),
            (Task::MultiTask, Some(true)) => Err(Error::Setting(
                "[split] stratify = true: a multi-task run has several targets to stratify by; leave stratify out"
                    .into(),
            )),
            (Task::Regression | Task::MultiTask, _) => Ok(false),
            (Task::Classification, s) => Ok(s.unwrap_or(true)),
        }
    }

    /// The seeded train / validation / test split of the config (table rows).
    pub fn split(&self, config: &RunConfig) -> Result<Split> {
        config.split.fractions().validate()?;
        if let Some(split) = &self.predefined {
            return Ok(split.clone());
        }
        let n = self.table.n_rows();
        let split_seed = config.split.seed.unwrap_or(config.seed);
        if let Some(groups) = &self.groups {
            self.stratify(config)?;
            return Ok(group_holdout(groups, config.split.fractions(), split_seed)?);
        }
        Ok(match &self.target {
            TargetData::Classes { labels, codes } if self.stratify(config)? => {
                stratified_holdout(codes, labels.classes(), config.split.fractions(), split_seed)?
            }
            _ => {
                self.stratify(config)?;
                holdout(n, config.split.fractions(), split_seed)?
            }
        })
    }

    /// The rows of `rows` kept after the config's outlier trimming, fitted on
    /// those rows (`[clean] outliers`); the others are dropped from fitting only.
    pub fn trim(&self, config: &RunConfig, rows: &[usize]) -> Result<Vec<usize>> {
        let kept = config.clean.trim(&self.table.take(rows)?, &self.numeric)?;
        Ok(kept.into_iter().map(|i| rows[i]).collect())
    }

    /// Fits preprocessing (and, for regression, the target transform) on the
    /// table rows `rows` only; returns the fitted state and those rows as a
    /// dataset. Target encodings of these rows are cross-fitted.
    pub fn fit(&self, config: &RunConfig, rows: &[usize]) -> Result<(Fitted, TabularData)> {
        let fit_table = self.table.take(rows)?;
        match &self.target {
            TargetData::Classes { labels, codes } => {
                let y: Vec<usize> = rows.iter().map(|&r| codes[r]).collect();
                let target = TargetValues::Classes { codes: &y, classes: labels.classes() };
                let (features, m) = self.fit_features(config, &fit_table, target)?;
                let data = ClassificationData::new(m.values, m.n_cols, y)?;
                Ok((Fitted { features, target_transform: None }, TabularData::Classification(data)))
            }
            TargetData::Values { columns, values } => {
                let k = columns.len();
                let y = rows_of(values, k, rows);
                if config.training.loss == Some(crate::config::LossName::Poisson)
                    && let Some(i) = y.iter().position(|v| *v < 0.0)
                {
                    return Err(Error::Target {
                        column: columns[i % k].clone(),
                        message: format!(
                            "loss = \"poisson\" models counts, but data row {} holds {} (negative)",
                            self.original.get(rows[i / k]).copied().unwrap_or(rows[i / k]),
                            y[i]
                        ),
                    });
                }
                let transform = TargetTransform::fit(config.target_transform()?, &y, k)?;
                // Target encoding of a regression run learns from the first target.
                let first: Vec<f64> = y.iter().step_by(k).copied().collect();
                let target = TargetValues::Continuous(&first);
                let (features, m) = self.fit_features(config, &fit_table, target)?;
                let data = RegressionData::new(m.values, m.n_cols, transform.transform(&y)?, k)?
                    .with_transform(transform.clone());
                Ok((Fitted { features, target_transform: Some(transform) }, TabularData::Regression(data)))
            }
            TargetData::Tasks(tasks) => {
                // Target encoding learns from the first task.
                let (first_codes, first_values, first_classes);
                let target = match &tasks[0].target {
                    TargetData::Classes { labels, codes } => {
                        first_codes = rows.iter().map(|&r| codes[r]).collect::<Vec<_>>();
                        first_classes = labels.classes().to_vec();
                        TargetValues::Classes { codes: &first_codes, classes: &first_classes }
                    }
                    TargetData::Values { values, .. } => {
                        first_values = rows.iter().map(|&r| values[r]).collect::<Vec<_>>();
                        TargetValues::Continuous(&first_values)
                    }
                    TargetData::Tasks(_) => return Err(Error::Setting("a task of tasks".into())),
                };
                if !rows.iter().all(|&r| tasks[0].present[r]) && target_encoded(config) {
                    return Err(Error::Setting(format!(
                        "target encoding learns from the first task `{}`, which some training rows lack: put a task \
                         every row has first, or encode categories another way",
                        tasks[0].column
                    )));
                }
                let (features, m) = self.fit_features(config, &fit_table, target)?;
                let transform = config.target_transform()?;
                let data =
                    anneal_data::multitask::MultiTaskData::fit(m.values, m.n_cols, task_rows(tasks, rows), transform)?;
                Ok((Fitted { features, target_transform: None }, TabularData::MultiTask(data)))
            }
        }
    }

    /// Fits how the features of `fit_table` become model inputs: `[preprocess]`
    /// for tables, per-channel normalisation for images.
    fn fit_features(
        &self,
        config: &RunConfig,
        fit_table: &Table,
        target: TargetValues<'_>,
    ) -> Result<(FeatureState, Matrix)> {
        if let Some(features) = self.transfer_features(config)? {
            let m = features.transform(fit_table)?;
            return Ok((features, m));
        }
        if config.data.kind == DataKind::Text {
            let (encoder, m) = TextEncoder::fit_transform(&config.text_options(), fit_table, &self.features[0])?;
            return Ok((FeatureState::Text(encoder), m));
        }
        Ok(match &self.images {
            Some(images) => {
                let (n, m) =
                    ImageNormalizer::fit_transform(&config.image_options(), images.shape, fit_table, &self.features)?;
                (FeatureState::Image(n), m)
            }
            None => {
                let (p, m) = config.preprocess.fit_transform_with_target(
                    fit_table,
                    &self.features,
                    Some(target),
                    config.seed,
                )?;
                (FeatureState::Preprocessor(Box::new(p)), m)
            }
        })
    }

    /// A `[transfer]` run from a run folder reads its inputs as the source run
    /// did: its tokenizer, image normalisation or preprocessing (`None` otherwise).
    fn transfer_features(&self, config: &RunConfig) -> Result<Option<FeatureState>> {
        let Some(t) = config.transfer.as_ref().filter(|t| t.from.is_dir()) else { return Ok(None) };
        crate::run::verify_run(&t.from)?;
        let (saved, _) = crate::run::SavedPreprocessing::load(&t.from)?;
        let features = saved.fitted.features;
        let fits = match (&features, config.data.kind) {
            (FeatureState::Text(_), DataKind::Text) => true,
            (FeatureState::Image(n), DataKind::Image | DataKind::Audio) => {
                self.images.as_ref().is_some_and(|i| i.shape == n.shape())
            }
            (FeatureState::Preprocessor(_), DataKind::Table) => true,
            _ => false,
        };
        if !fits {
            let what = |f: &FeatureState| match f {
                FeatureState::Text(_) => "texts".to_string(),
                FeatureState::Image(n) => format!("images of {:?}", n.shape()),
                FeatureState::Preprocessor(_) => "table columns".to_string(),
            };
            let ours = match (&self.images, config.data.kind) {
                (Some(i), _) => format!("images of {:?}", i.shape),
                (None, DataKind::Text) => "texts".into(),
                _ => "table columns".into(),
            };
            return Err(Error::Setting(format!(
                "[transfer] run {} read {}, this run reads {ours}: a model carries over to inputs like its own",
                t.from.display(),
                what(&features)
            )));
        }
        Ok(Some(features))
    }

    /// The table rows `rows` as a dataset, with preprocessing fitted elsewhere.
    pub fn data(&self, fitted: &Fitted, rows: &[usize]) -> Result<TabularData> {
        self.data_like(fitted, rows, None)
    }

    /// [`data`](Self::data), for a multi-task run with the target transforms
    /// of `train` (its training rows' dataset).
    pub fn data_like(&self, fitted: &Fitted, rows: &[usize], train: Option<&TabularData>) -> Result<TabularData> {
        let m = fitted.features.transform(&self.table.take(rows)?)?;
        Ok(match (&self.target, &fitted.target_transform) {
            (TargetData::Tasks(tasks), _) => match train {
                Some(TabularData::MultiTask(train)) => {
                    TabularData::MultiTask(train.like(m.values, m.n_cols, task_rows(tasks, rows))?)
                }
                _ => return Err(Error::Setting("a multi-task run's rows need its training rows' targets".into())),
            },
            (TargetData::Classes { codes, .. }, _) => TabularData::Classification(ClassificationData::new(
                m.values,
                m.n_cols,
                rows.iter().map(|&r| codes[r]).collect(),
            )?),
            (TargetData::Values { columns, values }, transform) => {
                let k = columns.len();
                let y = rows_of(values, k, rows);
                let transform = transform.clone().unwrap_or_else(TargetTransform::identity);
                TabularData::Regression(
                    RegressionData::new(m.values, m.n_cols, transform.transform(&y)?, k)?.with_transform(transform),
                )
            }
        })
    }
}

/// The tasks' labels of the table rows `rows`.
fn task_rows(tasks: &[TaskData], rows: &[usize]) -> Vec<anneal_data::multitask::Task> {
    use anneal_data::multitask::{Task as OneTask, TaskLabels};
    tasks
        .iter()
        .map(|t| {
            let labels = match &t.target {
                TargetData::Classes { labels, codes } => TaskLabels::Classes {
                    codes: rows.iter().map(|&r| codes[r]).collect(),
                    n_classes: labels.classes().len(),
                },
                TargetData::Values { values, .. } => {
                    TaskLabels::Values { values: rows.iter().map(|&r| values[r]).collect(), n_targets: 1 }
                }
                TargetData::Tasks(_) => TaskLabels::Values { values: vec![0.0; rows.len()], n_targets: 1 },
            };
            OneTask::new(t.column.clone(), labels).with_present(rows.iter().map(|&r| t.present[r]).collect())
        })
        .collect()
}

/// Whether `[preprocess]` target-encodes any column.
fn target_encoded(config: &RunConfig) -> bool {
    use anneal_data::preprocess::Encoding;
    config.preprocess.encoding == Encoding::Target
        || config.preprocess.encoders.values().any(|e| *e == Encoding::Target)
}

/// The rows `rows` of a row-major matrix with `k` values per row.
/// The columns of `table` for a message naming what a setting could use: an
/// image run's pixel columns left out, at most 20 names.
fn listed_columns(table: &Table, image_kind: bool) -> String {
    let columns: Vec<String> =
        table.column_names().into_iter().filter(|c| !image_kind || !c.starts_with("pixel")).collect();
    let more = if columns.len() > 20 { format!(", … {} more", columns.len() - 20) } else { String::new() };
    format!("{}{more}", columns[..columns.len().min(20)].join(", "))
}

/// The split `[split] column` names: each row's part read from the column.
fn predefined_split(
    config: &RunConfig,
    table: &Table,
    targets: &[String],
    features: &[String],
    column: &str,
    image_kind: bool,
    data_row: impl Fn(usize) -> usize,
) -> Result<Split> {
    if let Some(group) = &config.split.group {
        return Err(Error::Setting(format!(
            "[split] column = \"{column}\" names each row's part, and group = \"{group}\" asks for a split by \
             groups: give one of them"
        )));
    }
    if config.split.stratify == Some(true) {
        return Err(Error::Setting(format!(
            "[split] column = \"{column}\" names each row's part, so nothing is stratified: leave stratify out"
        )));
    }
    if targets.iter().chain(features).any(|c| c == column) {
        return Err(Error::Setting(format!(
            "[split] column = \"{column}\" is also a target or a feature: the part of a row is neither"
        )));
    }
    if !table.column_names().iter().any(|c| c == column) {
        return Err(Error::Setting(format!(
            "[split] column = \"{column}\": no such column (available: {})",
            listed_columns(table, image_kind)
        )));
    }
    let mut split = Split { train: Vec::new(), valid: Vec::new(), test: Vec::new() };
    for (row, value) in table.as_strings(column)?.into_iter().enumerate() {
        match value.as_deref() {
            Some("train") => split.train.push(row),
            Some("valid") => split.valid.push(row),
            Some("test") => split.test.push(row),
            other => {
                return Err(Error::Setting(format!(
                    "[split] column `{column}`, data row {}: {}; each row's part is `train`, `valid` or `test`",
                    data_row(row),
                    other.map_or("the part is missing".to_string(), |v| format!("`{v}` is not a part"))
                )));
            }
        }
    }
    if split.train.is_empty() {
        return Err(Error::Setting(format!("[split] column `{column}` names no `train` row: there is nothing to fit")));
    }
    Ok(split)
}

/// Each file's group by `[data] file_groups`: the pattern's first capture
/// group in the file's name (the whole match when it has none).
fn file_groups(groups: &crate::config::FileGroups, files: &[PathBuf]) -> Result<Vec<Option<String>>> {
    let pattern = regex::Regex::new(&groups.pattern)
        .map_err(|e| Error::Setting(format!("[data] file_groups pattern `{}`: {e}", groups.pattern)))?;
    files
        .iter()
        .map(|f| {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let found = pattern.captures(&name).and_then(|c| c.get(1).or_else(|| c.get(0)));
            match found {
                Some(m) if !m.as_str().is_empty() => Ok(Some(m.as_str().to_string())),
                _ => Err(Error::Setting(format!(
                    "[data] file_groups pattern `{}` finds no group in the file name `{name}` ({})",
                    groups.pattern,
                    f.display()
                ))),
            }
        })
        .collect()
}

fn rows_of(values: &[f64], k: usize, rows: &[usize]) -> Vec<f64> {
    rows.iter().flat_map(|&r| values[r * k..(r + 1) * k].iter().copied()).collect()
}

/// The task of `config` on `table`: `[data] task` when given, else inferred
/// from the targets (see [`Task`]), with a note when a numeric target decided it.
fn infer_task(config: &RunConfig, table: &Table, targets: &[String]) -> Result<(Task, Option<String>)> {
    if targets.len() > 1 {
        if config.data.task == Some(Task::Classification) {
            return Err(Error::Target {
                column: targets.join(", "),
                message: "several targets make a multi-output regression; classification takes one target column"
                    .into(),
            });
        }
        return Ok((Task::Regression, None));
    }
    let column = &targets[0];
    if let Some(task) = config.data.task {
        return Ok((task, None));
    }
    if table.kind(column)? != ColumnKind::Numeric {
        return Ok((Task::Classification, None));
    }
    let values: Vec<f64> = table.numeric(column)?.into_iter().flatten().collect();
    let integers = values.iter().all(|v| v.fract() == 0.0);
    let mut distinct: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let n = distinct.len();
    if integers && n <= MAX_INFERRED_CLASSES {
        let note = format!(
            "target `{column}` is numeric with {n} distinct integer values: treated as classification \
             (set [data] task = \"regression\" to predict it as a number)"
        );
        Ok((Task::Classification, Some(note)))
    } else {
        let why = if integers {
            format!("{n} distinct values (more than {MAX_INFERRED_CLASSES})")
        } else {
            "non-integer values".to_string()
        };
        let note = format!(
            "target `{column}` is numeric with {why}: treated as regression \
             (set [data] task = \"classification\" to predict it as classes)"
        );
        Ok((Task::Regression, Some(note)))
    }
}

/// The targets of `task` in the columns `targets` of `table` (every row labelled).
fn read_target(
    config: &RunConfig,
    table: &Table,
    targets: &[String],
    task: Task,
    data_row: &dyn Fn(usize) -> usize,
) -> Result<TargetData> {
    Ok(match task {
        Task::Classification => {
            let labels = match &config.data.classes {
                None => LabelEncoder::fit(table, &targets[0]).map_err(|e| remap_row(e, data_row))?,
                Some(order) => LabelEncoder::with_classes(table, &targets[0], order).map_err(|e| match e {
                    anneal_data::DataError::UnknownCategory { column, value } => Error::Target {
                        column,
                        message: format!("it holds `{value}`, which [data] classes does not list"),
                    },
                    anneal_data::DataError::InvalidParameter(message) => {
                        Error::Setting(format!("[data] classes: {message}"))
                    }
                    e => remap_row(e, data_row),
                })?,
            };
            if let [only] = labels.classes() {
                return Err(Error::Target {
                    column: targets[0].clone(),
                    message: format!(
                        "every row holds the one class `{only}`: there is nothing to tell apart (a \
                         classification needs at least two classes)"
                    ),
                });
            }
            let max = config.data.max_classes.unwrap_or(DEFAULT_MAX_CLASSES);
            if labels.classes().len() > max {
                return Err(Error::Target {
                    column: targets[0].clone(),
                    message: format!(
                        "its {} distinct values would make as many classes, more than max_classes = {max}: \
                         a quantity is a regression (set [data] task = \"regression\"), an identifier is not \
                         a target; if it really has that many classes, raise [data] max_classes",
                        labels.classes().len()
                    ),
                });
            }
            let codes = labels.encode(table)?;
            TargetData::Classes { labels, codes }
        }
        Task::Regression => {
            if config.data.classes.is_some() {
                return Err(Error::Setting(
                    "[data] classes orders the classes of a classification, but the task is regression".into(),
                ));
            }
            let mut per_column = Vec::with_capacity(targets.len());
            for t in targets {
                if table.kind(t)? != ColumnKind::Numeric {
                    return Err(Error::Target {
                        column: t.clone(),
                        message: "a regression target must be numeric, but the column holds text \
                                  (set [data] task = \"classification\" to predict it as classes)"
                            .into(),
                    });
                }
                let values = anneal_data::preprocess::numeric_target(table, t).map_err(|e| remap_row(e, data_row))?;
                if let Some(row) = values.iter().position(|v| !v.is_finite()) {
                    return Err(Error::Target {
                        column: t.clone(),
                        message: format!("data row {} holds {}, not a finite number", data_row(row), values[row]),
                    });
                }
                per_column.push(values);
            }
            let n = table.n_rows();
            let values = (0..n).flat_map(|r| per_column.iter().map(move |c| c[r])).collect();
            TargetData::Values { columns: targets.to_vec(), values }
        }
        Task::MultiTask => {
            return Err(Error::Setting(
                "[data] task = \"multi_task\" is what a [multitask] table makes; add one instead".into(),
            ));
        }
    })
}

/// The tasks of a `[multitask]` run: each target column read as its kind
/// (`[multitask.tasks.<column>] kind`, else inferred as `[data] task` is) from
/// the rows that have a value in it; the others are marked unlabelled. The
/// notes say how numeric columns' kinds were inferred.
fn multitask_targets(
    config: &RunConfig,
    section: &crate::config::MultitaskSection,
    table: &Table,
    targets: &[String],
    data_row: &dyn Fn(usize) -> usize,
) -> Result<(TargetData, Option<String>)> {
    if let Some(task) = config.data.task {
        return Err(Error::Setting(format!(
            "[data] task = \"{task}\" and [multitask]: each task's kind goes in [multitask.tasks.<column>] kind"
        )));
    }
    if config.data.classes.is_some() {
        return Err(Error::Setting(
            "[data] classes orders one target's classes; a [multitask] run has several targets".into(),
        ));
    }
    if let Some(unknown) = section.tasks.keys().find(|k| !targets.contains(k)) {
        return Err(Error::Setting(format!(
            "[multitask.tasks.{unknown}]: `{unknown}` is not a [data] target column (the tasks are {})",
            targets.join(", ")
        )));
    }
    if !(section.dwa_temperature.is_finite() && section.dwa_temperature > 0.0) {
        return Err(Error::Setting(format!(
            "[multitask] dwa_temperature must be a positive number, not {}",
            section.dwa_temperature
        )));
    }
    let n = table.n_rows();
    let mut tasks = Vec::with_capacity(targets.len());
    let mut notes = Vec::new();
    for column in targets {
        let present: Vec<bool> = table.as_strings(column)?.iter().map(Option::is_some).collect();
        let rows: Vec<usize> = (0..n).filter(|&r| present[r]).collect();
        if rows.is_empty() {
            return Err(Error::Target {
                column: column.clone(),
                message: "no row has a value: nothing to learn".into(),
            });
        }
        let labelled = table.take(&rows)?;
        let one = std::slice::from_ref(column);
        let kind = match section.tasks.get(column).and_then(|t| t.kind) {
            Some(Task::MultiTask) => {
                return Err(Error::Setting(format!("[multitask.tasks.{column}] kind is classification or regression")));
            }
            Some(kind) => kind,
            None => {
                let (kind, note) = infer_task(config, &labelled, one)?;
                notes.extend(note);
                kind
            }
        };
        let row_of = |r: usize| data_row(rows[r]);
        let target = match read_target(config, &labelled, one, kind, &row_of)? {
            TargetData::Classes { labels, codes } => {
                let mut all = vec![0; n];
                rows.iter().zip(codes).for_each(|(&r, c)| all[r] = c);
                TargetData::Classes { labels, codes: all }
            }
            TargetData::Values { columns, values } => {
                let mut all = vec![0.0; n];
                rows.iter().zip(values).for_each(|(&r, v)| all[r] = v);
                TargetData::Values { columns, values: all }
            }
            TargetData::Tasks(_) => return Err(Error::Setting(format!("task `{column}` read as several tasks"))),
        };
        tasks.push(TaskData { column: column.clone(), target, present });
    }
    Ok((TargetData::Tasks(tasks), (!notes.is_empty()).then(|| notes.join("\n"))))
}

/// A missing-target error names the row of the data file, not of the cleaned table.
fn remap_row(e: anneal_data::DataError, data_row: impl Fn(usize) -> usize) -> Error {
    match e {
        anneal_data::DataError::MissingTarget { column, row } => {
            anneal_data::DataError::MissingTarget { column, row: data_row(row) }.into()
        }
        other => other.into(),
    }
}

/// The data of a job, prepared as `anneal train` prepares it: cleaned, split
/// (seeded), preprocessed with statistics of the training rows only.
pub struct Prepared {
    /// The loaded data (the table after cleaning, targets, features).
    pub loaded: Loaded,
    /// Rows (of the table) of each part; outliers trimmed from the training rows.
    pub split: Split,
    /// What cleaning removed, outlier trimming included.
    pub cleaning: CleanReport,
    /// The state fitted on the training rows.
    pub fitted: Fitted,
    /// Training rows as a dataset.
    pub train: TabularData,
    /// Validation rows.
    pub valid: TabularData,
    /// Test rows.
    pub test: TabularData,
}

/// The training batches of a `[curriculum]` run (`None` without one): the
/// training rows of `data` ranked by their difficulty (a column, or the loss of
/// a finished run's model on them) and admitted by the pacing, as the sampler
/// the training loop draws its epochs from.
pub fn curriculum(
    config: &RunConfig,
    data: &Prepared,
    backend: anneal_train::Backend,
) -> Result<Option<anneal_data::curriculum::Curriculum>> {
    use crate::config::Difficulty;
    use anneal_data::curriculum::{Curriculum, Pacing, SelfPacedBatches};
    let Some(section) = &config.curriculum else { return Ok(None) };
    section.pacing().validate()?;
    if config.optimizer.is_full_batch() {
        return Err(Error::Setting(
            "[curriculum] admits rows epoch by epoch in mini-batches, but the optimizer trains on the full batch"
                .into(),
        ));
    }
    let model_loss = section.difficulty == Difficulty::Model;
    if section.pacing == Pacing::SelfPaced && !model_loss {
        return Err(Error::Setting(
            "[curriculum] pacing = \"self_paced\" admits rows by the model's own current loss: set difficulty = \
             \"model\""
                .into(),
        ));
    }
    if section.pacing != Pacing::SelfPaced && (section.threshold.is_some() || section.growth.is_some()) {
        return Err(Error::Setting("[curriculum] threshold and growth are settings of pacing = \"self_paced\"".into()));
    }
    let rows = &data.split.train;
    let classes = match (&data.loaded.target, section.balance_classes) {
        (TargetData::Classes { codes, .. }, None | Some(true)) => Some(rows.iter().map(|&r| codes[r]).collect()),
        (TargetData::Values { .. } | TargetData::Tasks(_), Some(true)) => {
            return Err(Error::Setting(
                "[curriculum] balance_classes = true needs classes, but the task has none to balance".into(),
            ));
        }
        _ => None,
    };
    let data_row = |i: usize| data.loaded.original.get(rows[i]).copied().unwrap_or(rows[i]);
    let difficulty: Vec<f64> = match &section.difficulty {
        Difficulty::Model => {
            if config.multitask.is_some() {
                return Err(Error::Setting(
                    "[curriculum] difficulty = \"model\" ranks rows by one loss; a [multitask] run has one per task"
                        .into(),
                ));
            }
            let sampler = SelfPacedBatches::new(
                section.pacing(),
                section.self_paced(),
                section.order,
                classes,
                config.training.batch_size,
                config.seed,
                config.training.last_batch,
            )?;
            return Ok(Some(Curriculum::SelfPaced(sampler)));
        }
        Difficulty::Column(column) => {
            if !data.loaded.table.column_names().contains(column) {
                return Err(Error::Setting(format!(
                    "[curriculum] difficulty column `{column}` does not exist (available: {})",
                    listed_columns(&data.loaded.table, data.loaded.images.is_some())
                )));
            }
            if data.loaded.table.kind(column)? != ColumnKind::Numeric {
                return Err(Error::Setting(format!(
                    "[curriculum] difficulty column `{column}` holds text: a difficulty is a number (low = easy)"
                )));
            }
            let values = data.loaded.table.numeric(column)?;
            rows.iter()
                .enumerate()
                .map(|(i, &r)| match values[r] {
                    Some(v) if v.is_finite() => Ok(v),
                    other => Err(Error::Setting(format!(
                        "[curriculum] difficulty column `{column}`, data row {}: {}",
                        data_row(i),
                        other.map_or("missing".to_string(), |v| format!("{v} is not a finite number"))
                    ))),
                })
                .collect::<Result<_>>()?
        }
        Difficulty::Run(path) => {
            let reference = crate::run::LoadedRun::open(path, backend)?;
            let ours = match &data.loaded.target {
                TargetData::Classes { labels, .. } => labels.classes().to_vec(),
                TargetData::Values { columns, .. } => columns.clone(),
                TargetData::Tasks(_) => {
                    return Err(Error::Setting("[curriculum] from a run's losses needs one target".into()));
                }
            };
            if reference.saved.task() != data.loaded.task() || reference.saved.output_names() != ours {
                return Err(Error::Setting(format!(
                    "[curriculum] difficulty run {} predicts {} ({}), this run {} ({}): the losses would not be of \
                     these targets",
                    path.display(),
                    reference.saved.task(),
                    reference.saved.output_names().join(", "),
                    data.loaded.task(),
                    ours.join(", ")
                )));
            }
            let table = data.loaded.table.take(rows)?;
            let targets = match &data.loaded.target {
                TargetData::Classes { labels, codes } => {
                    TargetData::Classes { labels: labels.clone(), codes: rows.iter().map(|&r| codes[r]).collect() }
                }
                TargetData::Values { columns, values } => {
                    TargetData::Values { columns: columns.clone(), values: rows_of(values, columns.len(), rows) }
                }
                TargetData::Tasks(_) => {
                    return Err(Error::Setting("[curriculum] from a run's losses needs one target".into()));
                }
            };
            let e = reference.evaluate(&table, Some(&targets), data_row)?;
            let k = e.n_outputs.max(1);
            match &e.targets {
                anneal_data::Targets::Classes(y) => {
                    e.predictions.chunks_exact(k).zip(y).map(|(p, &c)| -f64::from(p[c]).max(1e-12).ln()).collect()
                }
                anneal_data::Targets::Values { values, .. } => e
                    .predictions
                    .chunks_exact(k)
                    .zip(values.chunks_exact(k))
                    .map(|(p, y)| p.iter().zip(y).map(|(p, y)| f64::from(p - y).powi(2)).sum())
                    .collect(),
                anneal_data::Targets::Tasks(_) => {
                    return Err(Error::Setting("[curriculum] from a run's losses needs one target".into()));
                }
            }
        }
    };
    let mut ranked = anneal_data::curriculum::rank(&difficulty, section.order, config.seed)?;
    if let Some(classes) = &classes {
        ranked = anneal_data::curriculum::balance_classes(&ranked, classes)?;
    }
    Ok(Some(Curriculum::Ranked(anneal_data::curriculum::CurriculumBatches {
        pacing: section.pacing(),
        ranked,
        batch_size: config.training.batch_size,
        seed: config.seed,
        last: config.training.last_batch,
    })))
}

/// What `[augment]` transforms in a run of `config`'s data kind (an error for
/// table rows, which have no augmentation).
pub fn augment_media(config: &RunConfig) -> Result<anneal_regularize::augment::Media> {
    use anneal_regularize::augment::Media;
    match config.data.kind {
        DataKind::Image => Ok(Media::Image),
        DataKind::Audio => Ok(Media::Audio),
        DataKind::Text => Ok(Media::Text),
        DataKind::Table => Err(Error::Setting(
            "[augment] transforms images, audio clips or texts: it needs [data] kind = \"image\", \"audio\" or \
             \"text\" (table rows have no augmentation)"
                .into(),
        )),
    }
}

/// The augmentation of the training batches that `[augment]` asks for (`None`
/// without steps), seeded by the run's seed. `rows` are the table rows of the
/// training data (its row `i` is table row `rows[i]`): audio runs keep their
/// clips and text runs their texts, which the steps transform before the front
/// end (log-mel, tokenizer) runs again. On a CPU `backend` an image pipeline's
/// geometric steps run on the host, which is faster there than the backend's
/// `grid_sample`.
pub fn augmentation(
    config: &RunConfig,
    loaded: &Loaded,
    rows: &[usize],
    fitted: &Fitted,
    backend: anneal_train::Backend,
) -> Result<Option<anneal_train::RowsAugment>> {
    use anneal_regularize::augment::{AudioAugmenter, ImageAugmenter, TextAugmenter};
    use anneal_train::{AudioRowsAugment, ImageRowsAugment, RowsAugment, TextRowsAugment};
    if config.augment.is_empty() {
        return Ok(None);
    }
    let failed = |e: anneal_regularize::RegularizeError| Error::from(anneal_train::TrainError::from(e));
    if config.augment.has_mixing() && fitted.target_transform.is_some() {
        return Err(Error::Setting(
            "[augment] mixup and cutmix mix classes: they need a classification, not a regression".into(),
        ));
    }
    let media = augment_media(config)?;
    match (&fitted.features, media) {
        (FeatureState::Image(images), anneal_regularize::augment::Media::Image) => {
            let augmenter = ImageAugmenter::new(config.augment.clone(), config.seed)
                .map_err(failed)?
                .with_host_geometry(backend.is_cpu());
            Ok(Some(RowsAugment::Image(ImageRowsAugment::new(augmenter, images.shape(), images.mean(), images.std())?)))
        }
        (FeatureState::Image(images), anneal_regularize::augment::Media::Audio) => {
            let options = config.audio_options();
            let Some(files) = loaded.images.as_ref().and_then(|i| i.files.as_ref()) else {
                return Err(Error::Setting("[augment] audio steps need the clips' files (a folder run)".into()));
            };
            let mut augmenter =
                AudioAugmenter::new(config.augment.clone(), config.seed, options.sample_rate).map_err(failed)?;
            for folder in augmenter.noise_folders() {
                let clips = noise_clips(Path::new(&folder), &options)?;
                augmenter = augmenter.with_noise(&folder, clips).map_err(failed)?;
            }
            let clips = rows
                .iter()
                .map(|&r| anneal_data::audio::decode_clip(&files[r], &options))
                .collect::<anneal_data::Result<Vec<_>>>()?;
            let front_end = anneal_data::audio::LogMel::new(&options)?;
            Ok(Some(RowsAugment::Audio(AudioRowsAugment::new(
                augmenter,
                front_end,
                clips,
                images.mean()[0],
                images.std()[0],
            )?)))
        }
        (FeatureState::Text(encoder), anneal_regularize::augment::Media::Text) => {
            let augmenter = TextAugmenter::new(config.augment.clone(), config.seed).map_err(failed)?;
            let texts = encoder.texts(&loaded.table.take(rows)?)?;
            Ok(Some(RowsAugment::Text(TextRowsAugment::new(augmenter, encoder.clone(), texts))))
        }
        _ => Err(Error::Setting(format!("[augment] steps for {media} do not fit this run's features"))),
    }
}

/// The WAV clips of a `background_noise` folder (sorted, hidden files skipped),
/// decoded at the run's sample rate.
fn noise_clips(folder: &Path, options: &anneal_data::audio::AudioOptions) -> Result<Vec<Vec<f32>>> {
    let entries = std::fs::read_dir(folder).map_err(|e| {
        Error::Setting(format!("[augment] background_noise folder {} cannot be read: {e}", folder.display()))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav"))
                && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Setting(format!(
            "[augment] background_noise folder {} holds no WAV file",
            folder.display()
        )));
    }
    Ok(files.iter().map(|f| anneal_data::audio::decode_clip(f, options)).collect::<anneal_data::Result<_>>()?)
}

/// `train` with its training batches augmented by `augment` and given their
/// teacher's targets by `teacher` (when there are).
pub fn augmented<'a>(
    augment: &'a Option<anneal_train::RowsAugment>,
    teacher: Option<&'a anneal_train::TeacherTargets>,
    train: &'a TabularData,
) -> Augmented<'a, &'a TabularData> {
    let mut data = match augment {
        Some(a) => Augmented::new(train, a),
        None => Augmented::plain(train),
    };
    if let Some(t) = teacher {
        data = data.then(t);
    }
    data
}

/// What training on `train` minimises: the config's loss ([`RunConfig::loss`]), or
/// with `[training] class_weight` the weighted cross-entropy (weights from `train`'s
/// class counts when balanced); with `[distill]`, that plus the distillation term
/// (its teacher targets come from [`teacher`]).
pub fn objective(
    config: &RunConfig,
    target: &TargetData,
    train: &TabularData,
) -> Result<Box<dyn anneal_train::Objective>> {
    if let TargetData::Tasks(_) = target {
        if config.training.class_weight.is_some() {
            return Err(Error::Setting(
                "[training] class_weight weights one target's classes; a [multitask] run has several targets".into(),
            ));
        }
        return Ok(Box::new(config.multitask_objective(&target.tasks())?));
    }
    let hard = hard_objective(config, target, train)?;
    Ok(match &config.distill {
        Some(d) => {
            if target.task() != Task::Classification {
                return Err(Error::Setting(
                    "[distill] learns a teacher's class probabilities: it needs a classification".into(),
                ));
            }
            Box::new(anneal_train::Distillation::new(hard, d.temperature, d.alpha)?)
        }
        None => hard,
    })
}

/// The objective of the labels alone (what `[distill]` adds its term to).
fn hard_objective(
    config: &RunConfig,
    target: &TargetData,
    train: &TabularData,
) -> Result<Box<dyn anneal_train::Objective>> {
    use crate::config::ClassWeight;
    let Some(weighting) = &config.training.class_weight else { return Ok(Box::new(config.loss(target.task())?)) };
    let (TargetData::Classes { labels, .. }, TabularData::Classification(rows)) = (target, train) else {
        return Err(Error::Setting("[training] class_weight is a setting of classification runs".into()));
    };
    let classes = labels.classes();
    let objective = match weighting {
        ClassWeight::Balanced(_) => anneal_train::WeightedCrossEntropy::balanced(&rows.targets(), classes.len())?,
        ClassWeight::Table(table) => {
            if let Some(unknown) = table.keys().find(|k| !classes.contains(k)) {
                return Err(Error::Setting(format!(
                    "[training] class_weight names class `{unknown}`, which the target does not have (classes: {})",
                    classes.join(", ")
                )));
            }
            if let Some((class, w)) = table.iter().find(|(_, w)| !(w.is_finite() && **w > 0.0)) {
                return Err(Error::Setting(format!(
                    "[training] class_weight of `{class}` is {w}: a weight must be a positive number"
                )));
            }
            anneal_train::WeightedCrossEntropy::new(
                classes.iter().map(|c| table.get(c).copied().unwrap_or(1.0) as f32).collect(),
            )?
        }
    };
    Ok(Box::new(objective))
}

/// Builds the model of `model_config` on `device`: weights from the run's seed,
/// then, with `[model] init_from`, the file's weights over them.
pub fn init_model(
    config: &RunConfig,
    model_config: &anneal_models::ModelConfig,
    device: &burn::prelude::Device,
) -> Result<anneal_models::AnyModel> {
    let model = model_config.init(config.seed, device)?;
    if let Some(t) = &config.transfer {
        // The head (sized for this run's labels) keeps its seeded weights.
        let is_head = |path: &str| matches!(model_config.stage_of(path), Ok(None));
        if t.from.is_dir() {
            let (_, source_config, source) = crate::run::LoadedRun::load_model(&t.from, device)?;
            if source_config.kind() != model_config.kind() {
                return Err(Error::Setting(format!(
                    "[transfer] run {} trained a {} model, this config's [model] is a {}: transfer needs the same \
                     architecture (the head aside)",
                    t.from.display(),
                    source_config.kind(),
                    model_config.kind()
                )));
            }
            return Ok(anneal_models::transfer_weights(&source, model, is_head)?.0);
        }
        let file = anneal_models::InitFrom { path: t.from.clone(), remap: t.remap.clone(), partial: false };
        return Ok(file.apply_except(model, is_head)?.0);
    }
    Ok(match config.model.init() {
        Some(init) => init.apply(model)?.0,
        None => model,
    })
}

/// The loop's settings of `config` for a model of `model_config`: with
/// `[transfer]`, its parameter groups (frozen or scaled backbone stages) come
/// before `[training] param_groups` (which win where both name a layer).
pub fn train_config(
    config: &RunConfig,
    model_config: &anneal_models::ModelConfig,
    device: &burn::prelude::Device,
) -> Result<anneal_train::TrainConfig> {
    let mut train = config.train_config();
    if let Some(t) = &config.transfer {
        let layout = anneal_train::ParamLayout::of(&model_config.init(config.seed, device)?);
        let mut groups = t.param_groups(model_config, layout.layers())?;
        groups.append(&mut train.param_groups);
        train.param_groups = groups;
    }
    // Gradient surgery leaves the heads (and learned task variances) to their tasks.
    if let (Some(surgery), Some(m)) = (&mut train.gradient_surgery, &config.multitask) {
        let layout = anneal_train::ParamLayout::of(&model_config.init(config.seed, device)?);
        let uncertainty = m.weighting == crate::config::WeightingName::Uncertainty;
        let mut heads = Vec::new();
        for layer in layout.layers() {
            if model_config.stage_of(layer)?.is_none() {
                heads.push(if uncertainty { format!("model.{layer}") } else { layer.clone() });
            }
        }
        if uncertainty {
            heads.push("log_vars".into());
        }
        surgery.task_specific = heads;
    }
    Ok(train)
}

/// Refuses a run folder `source` (a transfer source or a teacher, `what`)
/// that was trained on this run's data file and saw any of `data`'s test rows
/// (in its training or validation part): this run's test score would carry
/// them.
fn refuse_seen_test_rows(source: &Path, what: &str, config: &RunConfig, data: &Prepared) -> Result<()> {
    if !crate::run::same_data_file(source, &config.data.path)? {
        return Ok(());
    }
    let split = crate::run::saved_split(source)?;
    let seen: std::collections::HashSet<usize> = split.train.into_iter().chain(split.valid).collect();
    let original = &data.loaded.original;
    let leaked = data.split.test.iter().filter(|&&r| seen.contains(&original[r])).count();
    if leaked > 0 {
        return Err(Error::Setting(format!(
            "{what} {} was trained (or validated) on {leaked} of this run's {} test rows: this run's test score \
             would carry what it saw. Train it with this run's seed and [split]",
            source.display(),
            data.split.test.len()
        )));
    }
    Ok(())
}

/// Refuses a `[transfer]` source run that saw this run's test rows (see
/// [`teacher`] for the same check of a teacher).
pub fn check_transfer_source(config: &RunConfig, data: &Prepared) -> Result<()> {
    match &config.transfer {
        Some(t) if t.from.is_dir() => refuse_seen_test_rows(&t.from, "[transfer] source run", config, data),
        _ => Ok(()),
    }
}

/// Checks `[transfer]` and `[distill]` before any data loads.
/// What a `[multitask]` run cannot combine with yet, refused by name.
fn check_multitask(config: &RunConfig) -> Result<()> {
    if config.multitask.is_none() {
        return Ok(());
    }
    let refuse = |what: &str| Err(Error::Setting(format!("[multitask] and {what}")));
    if config.distill.is_some() {
        return refuse("[distill]: a teacher's class probabilities are one target's; leave one out");
    }
    if config.augment.has_mixing() {
        return refuse(
            "mixup / cutmix: mixing two rows' labels is defined for one class target; leave the mixing steps out",
        );
    }
    if matches!(
        &config.curriculum,
        Some(crate::config::CurriculumSection { difficulty: crate::config::Difficulty::Run(_), .. })
    ) {
        return refuse(
            "[curriculum] difficulty = { run = ... }: a reference run's losses are one target's; rank the rows by a \
             column instead",
        );
    }
    if config.training.loss.is_some() || config.training.huber_delta.is_some() {
        return refuse("[training] loss: each task has its own, in [multitask.tasks.<column>] loss");
    }
    Ok(())
}

fn check_transfer_and_distill(config: &RunConfig) -> Result<()> {
    if let Some(t) = &config.transfer {
        t.validate()?;
        if config.model.init_from.is_some() {
            return Err(Error::Setting(
                "[transfer] from and [model] init_from both say where the weights come from: keep one".into(),
            ));
        }
        if !t.from.exists() {
            return Err(Error::Setting(format!(
                "[transfer] from = {}: no such run folder or weights file",
                t.from.display()
            )));
        }
    }
    if let Some(d) = &config.distill {
        anneal_train::Distillation::new(Box::new(anneal_train::Loss::CrossEntropy), d.temperature, d.alpha)?;
        if !d.teacher.is_dir() {
            return Err(Error::Setting(format!("[distill] teacher = {}: no such run folder", d.teacher.display())));
        }
        if config.augment.has_mixing() {
            return Err(Error::Setting(
                "[distill] gives each training row its teacher's distribution, but mixup and cutmix mix rows: leave \
                 them out of [augment]"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// The teacher targets of a `[distill]` run (`None` without one): the teacher
/// run's log-probabilities for each training row of `data`, computed once with
/// the teacher's own preprocessing. The teacher must predict the same classes,
/// and, when it was trained on the same data file, must not have seen this
/// run's test rows (the student's test score would carry them).
pub fn teacher(
    config: &RunConfig,
    data: &Prepared,
    backend: anneal_train::Backend,
) -> Result<Option<anneal_train::TeacherTargets>> {
    let Some(d) = &config.distill else { return Ok(None) };
    let teacher = crate::run::LoadedRun::open(&d.teacher, backend)?;
    let TargetData::Classes { labels, codes } = &data.loaded.target else {
        return Err(Error::Setting(
            "[distill] learns a teacher's class probabilities: it needs a classification".into(),
        ));
    };
    if teacher.saved.task() != Task::Classification || teacher.saved.output_names() != labels.classes() {
        return Err(Error::Setting(format!(
            "[distill] teacher {} predicts {} ({}), this run the classes {}: a teacher must predict the same \
             classes in the same order",
            d.teacher.display(),
            teacher.saved.task(),
            teacher.saved.output_names().join(", "),
            labels.classes().join(", ")
        )));
    }
    let original = &data.loaded.original;
    refuse_seen_test_rows(&d.teacher, "[distill] teacher", config, data)?;
    let rows = &data.split.train;
    let table = data.loaded.table.take(rows)?;
    let targets = TargetData::Classes { labels: labels.clone(), codes: rows.iter().map(|&r| codes[r]).collect() };
    let e = teacher.evaluate(&table, Some(&targets), |i| original.get(rows[i]).copied().unwrap_or(rows[i]))?;
    // Probabilities back to log-probabilities (a softmax at any temperature reads
    // them as it reads logits); an underflowed probability stands at ln(1e-38).
    let log_probs = e.predictions.iter().map(|p| p.max(1e-38).ln()).collect();
    Ok(Some(anneal_train::TeacherTargets::new(log_probs, labels.classes().len())?))
}

/// Loads, cleans, splits and preprocesses the data of `config`.
pub fn prepare(config: &RunConfig) -> Result<Prepared> {
    let loaded = Loaded::load(config)?;
    let mut split = loaded.split(config)?;
    // Outliers are trimmed from the training rows only, with fences fitted on them.
    let kept = loaded.trim(config, &split.train)?;
    let mut cleaning = loaded.cleaning.clone();
    cleaning.outliers_trimmed = split.train.len() - kept.len();
    split.train = kept;
    let (fitted, train) = loaded.fit(config, &split.train)?;
    let (valid, test) =
        (loaded.data_like(&fitted, &split.valid, Some(&train))?, loaded.data_like(&fitted, &split.test, Some(&train))?);
    Ok(Prepared { loaded, split, cleaning, fitted, train, valid, test })
}
