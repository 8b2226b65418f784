//! Metrics against scikit-learn's values (produced by `tests/golden.py`, committed as
//! `tests/it/golden.json`).

use anneal_evaluate::{accuracy, confusion_matrix, macro_f1};
use serde_json::Value;

#[test]
fn metrics_equal_scikit_learn() {
    let golden: Value = serde_json::from_str(include_str!("golden.json")).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 9);
    for case in cases {
        let v = |k: &str| case[k].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect::<Vec<_>>();
        let (t, p) = (v("y_true"), v("y_pred"));
        let k = t.iter().chain(&p).max().unwrap() + 1;
        assert!((accuracy(&t, &p).unwrap() - case["accuracy"].as_f64().unwrap()).abs() < 1e-12, "{case}");
        assert!((macro_f1(&t, &p).unwrap() - case["macro_f1"].as_f64().unwrap()).abs() < 1e-12, "{case}");
        let cm: Vec<Vec<u64>> = serde_json::from_value(case["confusion_matrix"].clone()).unwrap();
        assert_eq!(confusion_matrix(&t, &p, k).unwrap().counts(), cm.as_slice(), "{case}");
    }
}
