//! Properties: metrics do not depend on sample order, accuracy is the confusion
//! matrix's trace over its total, streaming equals one-shot whatever the batches,
//! and the sort-based ROC-AUC equals naive pair counting.

use anneal_evaluate::prelude::*;
use proptest::collection::vec;
use proptest::prelude::*;

const K: usize = 4;

/// Labelled samples: true class, predicted class, a binary label, a score drawn from
/// a small set (so that ties are common), a probability row, a regression pair.
#[derive(Debug, Clone)]
struct Sample {
    t: usize,
    p: usize,
    b: usize,
    score: f64,
    proba: [f64; K],
    y: f64,
    y_hat: f64,
}

fn sample() -> impl Strategy<Value = Sample> {
    (0..K, 0..K, 0usize..2, 0u8..12, [1u8..20, 1u8..20, 1u8..20, 1u8..20], -50.0..50.0f64, -5.0..5.0f64).prop_map(
        |(t, p, b, s, w, y, e)| {
            let total: f64 = w.iter().map(|&v| f64::from(v)).sum();
            Sample { t, p, b, score: f64::from(s) / 4.0 - 1.0, proba: w.map(|v| f64::from(v) / total), y, y_hat: y + e }
        },
    )
}

struct Columns {
    t: Vec<usize>,
    p: Vec<usize>,
    b: Vec<usize>,
    score: Vec<f64>,
    proba: Vec<f64>,
    y: Vec<f64>,
    y_hat: Vec<f64>,
}

fn columns(s: &[Sample]) -> Columns {
    Columns {
        t: s.iter().map(|x| x.t).collect(),
        p: s.iter().map(|x| x.p).collect(),
        b: s.iter().map(|x| x.b).collect(),
        score: s.iter().map(|x| x.score).collect(),
        proba: s.iter().flat_map(|x| x.proba).collect(),
        y: s.iter().map(|x| x.y).collect(),
        y_hat: s.iter().map(|x| x.y_hat).collect(),
    }
}

/// A data set and a permutation of it.
fn shuffled() -> impl Strategy<Value = (Vec<Sample>, Vec<Sample>)> {
    vec(sample(), 1..80).prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
}

fn near(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

/// Every value computed from the columns, errors included, as bits where the
/// result must not depend on order at all and as floats where sums are reordered.
fn exact_metrics(c: &Columns) -> Vec<Result<u64, EvalError>> {
    let bits = |r: Result<f64, EvalError>| r.map(f64::to_bits);
    let mut out = vec![
        bits(accuracy(&c.t, &c.p)),
        bits(balanced_accuracy(&c.t, &c.p, K)),
        bits(matthews_corrcoef(&c.t, &c.p, K)),
        bits(roc_auc(&c.b, &c.score)),
        bits(average_precision(&c.b, &c.score)),
        bits(top_k_accuracy(&c.t, &c.proba, K, 2)),
        bits(median_absolute_error(&c.y, &c.y_hat)),
        bits(max_error(&c.y, &c.y_hat)),
    ];
    for average in [Average::Micro, Average::Macro, Average::Weighted, Average::Binary { pos_label: 1 }] {
        for zd in [ZeroDivision::Zero, ZeroDivision::Nan] {
            let prf = precision_recall_fscore(&c.t, &c.p, K, 0.5, average, zd);
            out.push(prf.clone().map(|s| s.precision.to_bits()));
            out.push(prf.map(|s| s.f_score.to_bits()));
        }
    }
    for w in [KappaWeights::Unweighted, KappaWeights::Linear, KappaWeights::Quadratic] {
        out.push(bits(cohen_kappa(&c.t, &c.p, K, w)));
    }
    for mc in [MultiClass::OneVsRest, MultiClass::OneVsOne] {
        out.push(bits(roc_auc_multiclass(&c.t, &c.proba, K, mc, Average::Weighted)));
    }
    out
}

fn summed_metrics(c: &Columns) -> Vec<f64> {
    let r = regression_metrics(&c.y, &c.y_hat).unwrap();
    vec![log_loss(&c.t, &c.proba, K).unwrap(), r.mse, r.mae, r.mape, r.r2, r.explained_variance]
}

/// Naive ROC-AUC: every positive-negative pair.
fn naive_auc(b: &[usize], s: &[f64]) -> f64 {
    let (mut good, mut pairs) = (0.0, 0.0);
    for i in 0..b.len() {
        for j in 0..b.len() {
            if b[i] == 1 && b[j] == 0 {
                pairs += 1.0;
                good += if s[i] > s[j] {
                    1.0
                } else if s[i] == s[j] {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    good / pairs
}

proptest! {
    #[test]
    fn accuracy_is_trace_over_total(s in vec(sample(), 1..80)) {
        let c = columns(&s);
        let cm = confusion_matrix(&c.t, &c.p, K).unwrap();
        let trace: u64 = (0..K).map(|i| cm.counts()[i][i]).sum();
        prop_assert_eq!(accuracy(&c.t, &c.p).unwrap(), trace as f64 / cm.total() as f64);
        prop_assert_eq!(cm.accuracy(), accuracy(&c.t, &c.p).unwrap());
        let micro = cm.scores(1.0, Average::Micro, ZeroDivision::Zero).unwrap();
        prop_assert!(near(micro.f_score, cm.accuracy()) && near(micro.precision, cm.accuracy()));
    }

    #[test]
    fn metrics_ignore_sample_order((a, b) in shuffled()) {
        let (ca, cb) = (columns(&a), columns(&b));
        prop_assert_eq!(exact_metrics(&ca), exact_metrics(&cb));
        prop_assert_eq!(confusion_matrix(&ca.t, &ca.p, K).unwrap(), confusion_matrix(&cb.t, &cb.p, K).unwrap());
        for (x, y) in summed_metrics(&ca).into_iter().zip(summed_metrics(&cb)) {
            prop_assert!(near(x, y), "{} vs {}", x, y);
        }
        prop_assert_eq!(
            roc_curve(&ca.b, &ca.score, true).map(|c| format!("{c:?}")),
            roc_curve(&cb.b, &cb.score, true).map(|c| format!("{c:?}"))
        );
    }

    #[test]
    fn streaming_equals_one_shot(s in vec(sample(), 1..120), cuts in vec(0usize..120, 0..6)) {
        let c = columns(&s);
        let n = s.len();
        let mut bounds: Vec<usize> = cuts.into_iter().map(|x| x % (n + 1)).chain([0, n]).collect();
        bounds.sort_unstable();
        let (mut acc, mut cm, mut ll, mut auc, mut reg) = (
            StreamingAccuracy::new(),
            StreamingConfusion::new(K).unwrap(),
            StreamingLogLoss::new(K),
            StreamingRocAuc::new(),
            StreamingRegression::with_median(),
        );
        for w in bounds.windows(2) {
            let r = w[0]..w[1];
            acc.update(&c.t[r.clone()], &c.p[r.clone()]).unwrap();
            cm.update(&c.t[r.clone()], &c.p[r.clone()]).unwrap();
            ll.update(&c.t[r.clone()], &c.proba[r.start * K..r.end * K]).unwrap();
            auc.update(&c.b[r.clone()], &c.score[r.clone()]).unwrap();
            reg.update(&c.y[r.clone()], &c.y_hat[r]).unwrap();
        }
        prop_assert_eq!(acc.compute().unwrap(), accuracy(&c.t, &c.p).unwrap());
        let one_shot = confusion_matrix(&c.t, &c.p, K).unwrap();
        prop_assert_eq!(&cm.compute().unwrap(), &one_shot);
        prop_assert!(near(ll.compute().unwrap(), log_loss(&c.t, &c.proba, K).unwrap()));
        prop_assert_eq!(auc.compute(), roc_auc(&c.b, &c.score));
        let (streamed, whole) = (reg.compute().unwrap(), regression_metrics(&c.y, &c.y_hat).unwrap());
        prop_assert_eq!(streamed.median_absolute_error, whole.median_absolute_error);
        prop_assert_eq!(streamed.max_error, whole.max_error);
        for (x, y) in [
            (streamed.mse, whole.mse), (streamed.mae, whole.mae), (streamed.mape, whole.mape),
            (streamed.r2, whole.r2), (streamed.explained_variance, whole.explained_variance),
        ] {
            prop_assert!((x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-10 * y.abs().max(1.0), "{} vs {}", x, y);
        }
    }

    #[test]
    fn sorted_roc_auc_equals_pair_counting(s in vec(sample(), 2..200)) {
        let c = columns(&s);
        match roc_auc(&c.b, &c.score) {
            Ok(auc) => prop_assert!((auc - naive_auc(&c.b, &c.score)).abs() < 1e-12),
            Err(e) => prop_assert!(matches!(e, EvalError::SingleClass { .. }), "{:?}", e),
        }
        // The trapezoids under the curve give the same area.
        if let Ok(auc) = roc_auc(&c.b, &c.score) {
            let curve = roc_curve(&c.b, &c.score, false).unwrap();
            let area: f64 = curve.fpr.windows(2).zip(curve.tpr.windows(2))
                .map(|(x, y)| (x[1] - x[0]) * (y[1] + y[0]) / 2.0).sum();
            prop_assert!((area - auc).abs() < 1e-12);
        }
    }

    #[test]
    fn top_k_of_every_class_is_one(s in vec(sample(), 1..40)) {
        let c = columns(&s);
        prop_assert_eq!(top_k_accuracy(&c.t, &c.proba, K, K).unwrap(), 1.0);
        let top1 = top_k_accuracy(&c.t, &c.proba, K, 1).unwrap();
        let argmax: Vec<usize> = c.proba.chunks(K)
            .map(|r| (0..K).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap())
            .collect();
        prop_assert_eq!(top1, accuracy(&c.t, &argmax).unwrap());
    }
}
