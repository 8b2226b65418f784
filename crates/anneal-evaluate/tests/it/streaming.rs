//! Streaming accumulators against the one-shot functions on the golden inputs.

use anneal_evaluate::prelude::*;

use crate::golden::{cases, close, codes, floats};

/// Splits `0..n` into batches of sizes 1, 2, 3, ... (the last one shorter).
fn batches(n: usize) -> Vec<std::ops::Range<usize>> {
    let (mut out, mut start, mut size) = (Vec::new(), 0, 1);
    while start < n {
        out.push(start..(start + size).min(n));
        start += size;
        size += 1;
    }
    out
}

#[test]
fn confusion_and_accuracy_streams() {
    for case in cases("labels") {
        let (t, p) = (codes(&case["y_true"]), codes(&case["y_pred"]));
        let k = case["n_classes"].as_u64().unwrap() as usize;
        let (mut cm, mut acc) = (StreamingConfusion::new(k).unwrap(), StreamingAccuracy::new());
        for r in batches(t.len()) {
            cm.update(&t[r.clone()], &p[r.clone()]).unwrap();
            acc.update(&t[r.clone()], &p[r]).unwrap();
        }
        let one_shot = confusion_matrix(&t, &p, k).unwrap();
        assert_eq!(cm.compute().unwrap(), one_shot);
        assert_eq!(acc.compute().unwrap(), accuracy(&t, &p).unwrap());
        let streamed = cm.compute().unwrap();
        for average in [Average::Micro, Average::Macro, Average::Weighted] {
            assert_eq!(
                streamed.scores(2.0, average, ZeroDivision::Nan).unwrap().f_score.to_bits(),
                one_shot.scores(2.0, average, ZeroDivision::Nan).unwrap().f_score.to_bits()
            );
        }
    }
}

#[test]
fn log_loss_stream() {
    for case in cases("proba") {
        let (t, proba) = (codes(&case["y_true"]), floats(&case["y_proba"]));
        let k = case["n_classes"].as_u64().unwrap() as usize;
        let mut acc = StreamingLogLoss::new(k);
        for r in batches(t.len()) {
            acc.update(&t[r.clone()], &proba[r.start * k..r.end * k]).unwrap();
        }
        let (ours, one_shot) = (acc.compute().unwrap(), log_loss(&t, &proba, k).unwrap());
        assert!(close(ours, one_shot), "{ours} vs {one_shot}");
    }
}

#[test]
fn roc_auc_stream_is_exact() {
    for case in cases("binary") {
        let (t, s) = (codes(&case["y_true"]), floats(&case["y_score"]));
        let mut acc = StreamingRocAuc::new();
        for r in batches(t.len()) {
            acc.update(&t[r.clone()], &s[r]).unwrap();
        }
        assert_eq!(acc.compute(), roc_auc(&t, &s));
    }
}

#[test]
fn regression_stream() {
    for case in cases("regression") {
        let (t, p) = (floats(&case["y_true"]), floats(&case["y_pred"]));
        let (mut acc, mut lean) = (StreamingRegression::with_median(), StreamingRegression::new());
        for r in batches(t.len()) {
            acc.update(&t[r.clone()], &p[r.clone()]).unwrap();
            lean.update(&t[r.clone()], &p[r]).unwrap();
        }
        let (ours, one_shot) = (acc.compute().unwrap(), regression_metrics(&t, &p).unwrap());
        assert_eq!(ours.median_absolute_error, one_shot.median_absolute_error);
        assert_eq!(lean.compute().unwrap().median_absolute_error, None);
        for (a, b, m) in [
            (ours.mse, one_shot.mse, "mse"),
            (ours.rmse, one_shot.rmse, "rmse"),
            (ours.mae, one_shot.mae, "mae"),
            (ours.mape, one_shot.mape, "mape"),
            (ours.r2, one_shot.r2, "r2"),
            (ours.explained_variance, one_shot.explained_variance, "ev"),
            (ours.max_error, one_shot.max_error, "max"),
        ] {
            assert!(close(a, b), "{m}: streamed {a}, one-shot {b}");
        }
    }
}

#[test]
fn merge_combines_workers() {
    let (t, p) = ([0, 1, 2, 2, 1, 0], [0, 2, 2, 2, 1, 1]);
    let (mut a, mut b) = (StreamingConfusion::new(3).unwrap(), StreamingConfusion::new(3).unwrap());
    a.update(&t[..2], &p[..2]).unwrap();
    b.update(&t[2..], &p[2..]).unwrap();
    a.merge(&b).unwrap();
    assert_eq!(a.compute().unwrap(), confusion_matrix(&t, &p, 3).unwrap());
    assert!(a.merge(&StreamingConfusion::new(4).unwrap()).is_err());

    let (mut x, mut y) = (StreamingRocAuc::new(), StreamingRocAuc::new());
    x.update(&[0, 1], &[0.2, 0.9]).unwrap();
    y.update(&[1, 0], &[0.4, 0.5]).unwrap();
    x.merge(&y);
    assert_eq!(x.compute(), roc_auc(&[0, 1, 1, 0], &[0.2, 0.9, 0.4, 0.5]));

    let (mut r, mut s) = (StreamingRegression::with_median(), StreamingRegression::with_median());
    r.update(&[1.0, 2.0], &[1.5, 2.0]).unwrap();
    s.update(&[3.0], &[2.0]).unwrap();
    r.merge(&s);
    assert_eq!(r.compute().unwrap().median_absolute_error, Some(0.5));
    r.merge(&StreamingRegression::new());
    assert_eq!(r.compute().unwrap().median_absolute_error, None);

    let (mut l, mut m) = (StreamingLogLoss::new(2), StreamingLogLoss::new(2));
    l.update(&[0], &[0.8, 0.2]).unwrap();
    m.update(&[1], &[0.4, 0.6]).unwrap();
    l.merge(&m).unwrap();
    assert!(close(l.compute().unwrap(), log_loss(&[0, 1], &[0.8, 0.2, 0.4, 0.6], 2).unwrap()));
    let mut acc = StreamingAccuracy::new();
    acc.merge(&StreamingAccuracy::new());
    assert_eq!(acc.compute(), Err(EvalError::Empty));
}

#[test]
fn rejected_batches_change_nothing() {
    let mut cm = StreamingConfusion::new(2).unwrap();
    cm.update(&[0, 1], &[0, 1]).unwrap();
    let before = cm.clone();
    assert!(cm.update(&[0, 1, 0], &[1, 1, 2]).is_err());
    assert!(cm.update(&[0], &[0, 1]).is_err());
    assert_eq!(cm, before);

    let mut auc = StreamingRocAuc::new();
    auc.update(&[0, 1], &[0.1, 0.9]).unwrap();
    let before = auc.clone();
    assert!(auc.update(&[1, 0, 1], &[0.3, 0.2, f64::NAN]).is_err());
    assert!(auc.update(&[1, 0, 3], &[0.3, 0.2, 0.1]).is_err());
    assert_eq!(auc, before);

    let mut ll = StreamingLogLoss::new(2);
    assert!(ll.update(&[0], &[0.5, 0.6]).is_err());
    assert!(ll.update(&[], &[0.5]).is_err());
    ll.update(&[], &[]).unwrap();
    assert_eq!(ll.compute(), Err(EvalError::Empty));

    let mut reg = StreamingRegression::new();
    assert!(reg.update(&[1.0, f64::NAN], &[1.0, 2.0]).is_err());
    assert_eq!(reg.compute(), Err(EvalError::Empty));
    assert_eq!(StreamingConfusion::new(3).unwrap().compute(), Err(EvalError::Empty));
    assert_eq!(StreamingRocAuc::new().compute(), Err(EvalError::Empty));
}
