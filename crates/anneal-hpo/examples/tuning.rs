//! Tuning a (simulated) training run: a TOML search space, TPE with median pruning on
//! two worker threads, the same search define-by-run, and Hyperband.
//!
//! `cargo run --release -p anneal-hpo --example tuning`

use anneal_hpo::ParamValue;
use anneal_hpo::prelude::*;
use std::collections::BTreeMap;

/// Stands in for a training run: the validation loss after `epoch` epochs.
fn validation_loss(p: &BTreeMap<String, ParamValue>, epoch: u64) -> f64 {
    let lr = p["lr"].as_f64().unwrap_or(1e-3);
    let hidden = p["hidden"].as_i64().unwrap_or(64) as f64;
    let dropout = p["dropout"].as_f64().unwrap_or(0.0);
    let momentum = p.get("momentum").and_then(ParamValue::as_f64).unwrap_or(0.9);
    let floor = (lr.log10() + 2.5).powi(2) * 0.1 + (hidden.log2() - 7.0).powi(2) * 0.02 + (dropout - 0.2).powi(2);
    let floor = if p["optimizer"].as_str() == Some("sgd") { floor + (momentum - 0.9).powi(2) } else { floor + 0.01 };
    floor + 1.0 / (1.0 + epoch as f64)
}

fn main() -> Result<(), HpoError> {
    // ANCHOR: space
    let space = SearchSpace::from_toml_file(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/space.toml"))?;
    // ANCHOR_END: space

    // ANCHOR: study
    let study = Study::builder("mlp")
        .space(space.clone())
        .sampler(TpeSampler::new(42))
        .pruner(MedianPruner::new(5, 3))
        .build()?;
    study.optimize_parallel(60, 2, |trial| {
        let params = trial.suggest_space()?;
        let mut loss = f64::NAN;
        for epoch in 0..20 {
            loss = validation_loss(&params, epoch);
            trial.report(epoch, loss)?;
            if trial.should_prune()? {
                return Err(ObjectiveError::Pruned);
            }
        }
        Ok(loss)
    })?;
    let best = study.best_trial()?.expect("some trial completed");
    println!("TPE: best loss {:.4} with {:?}", best.value.unwrap_or(f64::NAN), best.param_values());
    // ANCHOR_END: study

    // ANCHOR: define_by_run
    let study = Study::builder("mlp-dbr").sampler(TpeSampler::new(42)).build()?;
    study.optimize(40, |trial| {
        let mut p = BTreeMap::new();
        p.insert("lr".to_string(), ParamValue::Float(trial.suggest_float_log("lr", 1e-4, 1e-1)?));
        p.insert("hidden".to_string(), ParamValue::Int(trial.suggest_int_log("hidden", 16, 512)?));
        p.insert("dropout".to_string(), ParamValue::Float(trial.suggest_float_step("dropout", 0.0, 0.5, 0.05)?));
        let optimizer = trial.suggest_categorical("optimizer", &["sgd", "adam"])?;
        if optimizer == "sgd" {
            p.insert("momentum".to_string(), ParamValue::Float(trial.suggest_float("momentum", 0.0, 0.99)?));
        }
        p.insert("optimizer".to_string(), ParamValue::Categorical(optimizer.into()));
        Ok(validation_loss(&p, 19))
    })?;
    // ANCHOR_END: define_by_run
    println!("define-by-run TPE: best loss {:.4}", study.best_trial()?.and_then(|t| t.value).unwrap_or(f64::NAN));

    // ANCHOR: hyperband
    let study = Study::builder("mlp-hyperband").space(space).sampler(RandomSampler::new(7)).build()?;
    // Budgets are epochs: brackets of Li et al. for R = 27, η = 3.
    study.hyperband(27.0, 3.0, |trial, epochs| {
        let params = trial.suggest_space()?;
        Ok(validation_loss(&params, epochs as u64))
    })?;
    // ANCHOR_END: hyperband
    let best = study.best_trial()?.expect("every bracket completes a trial");
    println!("Hyperband: best loss {:.4} after {} trials", best.value.unwrap_or(f64::NAN), study.trials()?.len());
    Ok(())
}
