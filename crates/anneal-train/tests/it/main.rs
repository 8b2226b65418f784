//! Integration tests of the training loop's public API.

mod augment;
mod checkpoints;
mod distill;
mod groups;
mod loop_behaviour;
mod multitask;
mod parity;
mod regularization;
mod self_paced;
mod wiring;

use anneal_data::{ClassificationData, SeededRng};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

/// A seeded three-class problem: points around three centres in `d` dimensions.
pub fn blobs(n: usize, d: usize, seed: u64, noise: f64) -> ClassificationData {
    let mut rng = SeededRng::new(seed);
    let centres: Vec<Vec<f64>> = (0..3).map(|_| (0..d).map(|_| rng.normal() * 2.0).collect()).collect();
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % 3;
        x.extend(centres[c].iter().map(|m| (m + noise * rng.normal()) as f32));
        y.push(c);
    }
    ClassificationData::new(x, d, y).unwrap()
}

/// A bundled scikit-learn data set (numeric features, integer `target` last),
/// standardised with the statistics of all rows, split into train (first 70 %,
/// after a seeded shuffle) and test.
pub fn sklearn(name: &str) -> (ClassificationData, ClassificationData) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data").join(name);
    let table = anneal_data::Table::read(&path, &Default::default()).unwrap();
    let names = table.column_names();
    let (features, target) = names.split_at(names.len() - 1);
    let n = table.n_rows();
    let columns: Vec<Vec<f64>> = features
        .iter()
        .map(|f| {
            let v: Vec<f64> = table.numeric(f).unwrap().into_iter().map(|v| v.unwrap()).collect();
            let mean = v.iter().sum::<f64>() / n as f64;
            let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt().max(1e-12);
            v.into_iter().map(|x| (x - mean) / sd).collect()
        })
        .collect();
    let y: Vec<usize> = table.numeric(&target[0]).unwrap().into_iter().map(|v| v.unwrap() as usize).collect();
    let mut rows: Vec<usize> = (0..n).collect();
    SeededRng::new(7).shuffle(&mut rows);
    let part = |rows: &[usize]| {
        let x = rows.iter().flat_map(|&r| columns.iter().map(move |c| c[r] as f32)).collect();
        ClassificationData::new(x, columns.len(), rows.iter().map(|&r| y[r]).collect()).unwrap()
    };
    let cut = n * 7 / 10;
    (part(&rows[..cut]), part(&rows[cut..]))
}

/// Every float parameter's values, in visiting order, with whether it is a vector (a bias).
pub fn params<M: Module>(model: &M) -> Vec<(bool, Vec<f32>)> {
    struct Collect(Vec<(bool, Vec<f32>)>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values = param.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
            self.0.push((D == 1, values));
        }
    }
    let mut c = Collect(Vec::new());
    model.visit(&mut c);
    c.0
}
