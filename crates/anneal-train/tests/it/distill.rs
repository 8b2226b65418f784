//! Knowledge distillation: the loss against PyTorch's `kl_div` (golden values
//! from `tests/golden/make_distill_golden.py`), and teacher targets on batches.

use anneal_data::{BatchAugment, Target};
use anneal_train::{Distillation, Loss, Objective, TeacherTargets};
use burn::prelude::*;

fn matrix(v: &serde_json::Value, device: &Device) -> Tensor<2> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
    let (n, k) = (rows.len(), rows[0].len());
    let flat: Vec<f32> = rows.into_iter().flatten().map(|x| x as f32).collect();
    Tensor::from_data(TensorData::new(flat, [n, k]), device)
}

#[test]
fn the_distillation_loss_equals_pytorchs_kl_div_at_every_temperature() {
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("../golden/distill_golden.json")).expect("golden file parses");
    let device = Device::flex();
    let student = matrix(&golden["student"], &device);
    let teacher = matrix(&golden["teacher"], &device);
    let labels: Vec<i64> = serde_json::from_value(golden["labels"].clone()).unwrap();
    let n = labels.len();
    let classes = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &device);
    let cases = golden["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 16);
    for case in cases {
        let (t, alpha) = (case["temperature"].as_f64().unwrap(), case["alpha"].as_f64().unwrap());
        let kd = Distillation::new(Box::new(Loss::CrossEntropy), t, alpha).unwrap();
        let soft = kd.soft_loss(student.clone(), teacher.clone()).into_scalar::<f32>() as f64;
        let expected = case["soft"].as_f64().unwrap();
        assert!((soft - expected).abs() <= 1e-5 * (1.0 + expected.abs()), "T = {t}: {soft} vs PyTorch {expected}");
        // The teacher as log-probabilities instead of logits: the same loss.
        let log_p = burn::tensor::activation::log_softmax(teacher.clone(), 1);
        let target = Target::Taught { classes: classes.clone(), teacher: log_p };
        let terms = kd.terms(student.clone(), &target).unwrap();
        let total: f64 = terms.iter().map(|t| t.value.clone().into_scalar::<f32>() as f64).sum();
        let expected = case["total"].as_f64().unwrap();
        assert!(
            (total - expected).abs() <= 1e-5 * (1.0 + expected.abs()),
            "T = {t}, alpha = {alpha}: {total} vs PyTorch {expected}"
        );
        let names: Vec<&str> = terms.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, if alpha < 1.0 { vec!["distillation", "cross_entropy"] } else { vec!["distillation"] });
    }
    // Validation batches carry no teacher: the hard loss alone.
    let kd = Distillation::new(Box::new(Loss::CrossEntropy), 4.0, 0.9).unwrap();
    let plain = kd.terms(student.clone(), &Target::Classes(classes.clone())).unwrap();
    let hard = golden["cases"][0]["hard"].as_f64().unwrap();
    assert!((plain[0].value.clone().into_scalar::<f32>() as f64 - hard).abs() < 1e-5);
    // A plain loss refuses a teacher it would ignore.
    let taught = Target::Taught { classes, teacher };
    assert!(Loss::CrossEntropy.terms(student, &taught).unwrap_err().to_string().contains("teacher"));
}

#[test]
fn bad_settings_are_named() {
    let hard = || Box::new(Loss::CrossEntropy) as Box<dyn Objective>;
    assert!(Distillation::new(hard(), 0.0, 0.5).err().unwrap().to_string().contains("temperature"));
    assert!(Distillation::new(hard(), 2.0, 1.5).err().unwrap().to_string().contains("alpha"));
    assert!(TeacherTargets::new(vec![0.0; 5], 2).unwrap_err().to_string().contains("rows of 2"));
    assert!(TeacherTargets::new(vec![0.0, f32::NAN], 2).unwrap_err().to_string().contains("row 0"));
}

#[test]
fn teacher_targets_join_each_rows_class() {
    let device = Device::flex();
    let teacher = TeacherTargets::new(vec![0.0, -1.0, -2.0, -3.0, -4.0, -5.0], 2).unwrap();
    let batch = anneal_data::Batch {
        input: Tensor::<2>::zeros([2, 1], &device),
        target: Target::Classes(Tensor::from_data([1, 0], &device)),
    };
    let taught = teacher.augment(batch, &[2, 0], 1).unwrap();
    let Target::Taught { classes, teacher: t } = taught.target else { panic!("not taught") };
    assert_eq!(classes.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(), [1, 0]);
    assert_eq!(t.into_data().try_to_vec::<f32>().unwrap(), [-4.0, -5.0, 0.0, -1.0]);
    let values = anneal_data::Batch {
        input: Tensor::<2>::zeros([1, 1], &device),
        target: Target::Values(Tensor::zeros([1, 1], &device)),
    };
    assert!(teacher.augment(values, &[0], 1).unwrap_err().to_string().contains("numeric"));
}
