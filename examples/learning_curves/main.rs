//! Learning curves on the digits data (8x8 images, 10 classes) and the two
//! failures they diagnose:
//!
//! - an over-regularised tiny model (4 hidden units, strong L2) on all the data:
//!   training and validation accuracy meet low down — high bias;
//! - a large unregularised model (two layers of 512) on 10 % of the data: it fits
//!   its training rows perfectly and validation accuracy stays far below — high
//!   variance.
//!
//! Each curve is 5-fold stratified cross-validation at ten training-set sizes,
//! preprocessing (standard scaling) re-fitted inside every fit. Run from the
//! repository root:
//!
//! ```sh
//! cargo run --release --example learning_curves            # writes docs/src/images/learning_curve_*.png
//! cargo run --release --example learning_curves -- /tmp/lc # or into another folder
//! ```

use std::path::PathBuf;

use anneal::cv::CvData;
use anneal::evaluate::prelude::*;
use anneal::train::Backend;
use anneal::{Result, RunConfig};

/// A run config for the digits with `model` and `optimizer` TOML tables; `train`
/// is the fraction of rows cross-validated (the rest is held out, unused here).
fn config(train: f64, model: &str, optimizer: &str, epochs: usize) -> RunConfig {
    let text = format!(
        r#"
        seed = 7
        [data]
        path = "data/sklearn_digits.csv.gz"
        target = "target"
        [split]
        train = {train}
        valid = 0.0
        test = {test}
        [preprocess]
        scaling = "standard"
        [model]
        {model}
        [optimizer]
        {optimizer}
        [training]
        epochs = {epochs}
        batch_size = 64
        "#,
        test = 1.0 - train
    );
    toml::from_str(&text).expect("the example's configs are valid")
}

/// The learning curve of `config` and its verdict, drawn to `<out>/<stem>.png`.
fn learning_curve(config: &RunConfig, title: &str, out: &std::path::Path, stem: &str) -> Result<Diagnosis> {
    // ANCHOR: curve
    // Load and clean once; folds index the cross-validated rows.
    let data = CvData::load(config)?;
    let folds = data.stratified_folds(5, config.seed)?;
    let cv = CrossValidation::new(folds, data.rows.len(), Coverage::Partition)?.with_workers(2)?;
    // Each fit: preprocessing fitted on the fit's training rows, the config's model
    // trained, accuracy on those rows and on the fold's test rows.
    let fit_and_score = |train: &[usize], test: &[usize]| -> Result<FoldScores> {
        Ok(data.fit_fold(config, train, test, Backend::Flex)?.scores)
    };
    let sizes = SizeCurveConfig::deciles("accuracy", true, config.seed);
    let curve = size_curve(&cv, &sizes, fit_and_score)?;
    let diagnosis = diagnose(&curve, &DiagnosisConfig::default())?;
    // ANCHOR_END: curve
    println!("{title}: {} rows cross-validated", data.rows.len());
    println!("  training rows  training accuracy   validation accuracy");
    for p in &curve.points {
        println!(
            "  {:>13.0}  {:.3} ± {:.3}       {:.3} ± {:.3}",
            p.x, p.train.mean, p.train.std, p.valid.mean, p.valid.std
        );
    }
    println!("  verdict: {}\n", diagnosis.explanation());
    Figure::learning_curve(&curve, Some(&diagnosis))?
        .with_title(format!("{title}: {}", diagnosis.verdict))
        .save(out.join(format!("{stem}.png")))?;
    Ok(diagnosis)
}

fn main() -> Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "docs/src/images".into()));
    std::fs::create_dir_all(&out).map_err(|source| anneal::Error::Io { path: out.clone(), source })?;

    let tiny = config(
        1.0,
        "hidden = [4]",
        r#"name = "adam"
        learning_rate = 0.01
        weight_decay = 0.05"#,
        60,
    );
    let bias = learning_curve(&tiny, "Tiny model, strong L2, all rows", &out, "learning_curve_bias")?;

    let large = config(
        0.1,
        "hidden = [512, 512]",
        r#"name = "adam"
        learning_rate = 0.001"#,
        100,
    );
    let variance =
        learning_curve(&large, "512-512 MLP, no regularisation, 10 % of rows", &out, "learning_curve_variance")?;

    println!("verdicts: {} and {}", bias.verdict, variance.verdict);
    println!("figures: {}", out.display());
    Ok(())
}
