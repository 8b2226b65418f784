//! Train a penguin-species classifier with the Anneal library API (no CLI, no config
//! file): load → stratified split → preprocessing fitted on train → MLP → Adam with
//! early stopping → test metrics.
//!
//! Run: `cargo run --release --example penguins`

use anneal::data::prelude::*;
use anneal::models::{ActivationKind, MlpConfig};
use anneal::optim::OptimizerConfig;
use anneal::regularize::{EarlyStoppingConfig, Goal};
use anneal::train::{Backend, Loss, Progress, TrainConfig, Trainer, evaluate};

fn main() -> anyhow::Result<()> {
    let seed = 42;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/penguins.csv.gz");
    let table = Table::read_csv(path, &CsvOptions::default())?;

    // Target codes, and a split that keeps the species proportions.
    let labels = LabelEncoder::fit(&table, "species")?;
    let y = labels.encode(&table)?;
    let split = stratified_holdout(&y, labels.classes(), SplitFractions { train: 0.6, valid: 0.2, test: 0.2 }, seed)?;

    // Imputation, scaling and one-hot encoding are fitted on the training rows only.
    let features: Vec<String> = table.column_names().into_iter().filter(|c| c != "species").collect();
    let preprocessor = PreprocessConfig::default().fit(&table.take(&split.train)?, &features)?;
    let part = |rows: &[usize]| -> anyhow::Result<ClassificationData> {
        let m = preprocessor.transform(&table.take(rows)?)?;
        Ok(ClassificationData::new(m.values, m.n_cols, rows.iter().map(|&i| y[i]).collect())?)
    };
    let (train, valid, test) = (part(&split.train)?, part(&split.valid)?, part(&split.test)?);
    println!("features after preprocessing: {}", preprocessor.feature_names().join(", "));

    // The backend is chosen at run time: BURN_DEVICE=ndarray|flex|wgpu, default flex.
    let backend = Backend::resolve(None)?;
    let device = backend.device()?;
    let model = MlpConfig {
        input: train.n_features(),
        hidden: vec![32, 16],
        output: labels.classes().len(),
        activation: ActivationKind::Relu,
        dropout: 0.1,
        layer_dropout: vec![],
    }
    .init(seed, &device.clone().autodiff())?;
    let mut optimizer = OptimizerConfig::adam(0.01).init()?;
    let config = TrainConfig {
        seed,
        early_stopping: Some(EarlyStoppingConfig::new("val_loss", Goal::Minimize, 25)),
        ..TrainConfig::new(200, 16)
    };
    let fitted = Trainer::new(config, device.clone()).with_progress(Progress::Silent).fit(
        model,
        &mut optimizer,
        &train,
        Some(&valid),
    )?;
    println!("trained {} epochs on {backend}, kept epoch {}", fitted.history.len(), fitted.best_epoch);

    let result = evaluate(&fitted.model, &test, &Loss::CrossEntropy, &device, 256)?;
    let (accuracy, macro_f1, cm) = result.scores()?;
    println!("test accuracy {accuracy:.4}, macro-F1 {macro_f1:.4} on {} rows", test.len());
    println!("confusion matrix (rows true, columns predicted; {}):", labels.classes().join(", "));
    for row in cm.counts() {
        println!("  {row:?}");
    }
    Ok(())
}
