//! Regression metrics against scikit-learn.

use anneal_evaluate::prelude::*;

use crate::golden::{assert_close, cases, floats};

#[test]
fn every_regression_metric() {
    for case in cases("regression") {
        let (t, p) = (floats(&case["y_true"]), floats(&case["y_pred"]));
        let what = |m: &str| format!("{m} on {case}");
        assert_close(mean_squared_error(&t, &p).unwrap(), &case["mse"], &what("mse"));
        assert_close(root_mean_squared_error(&t, &p).unwrap(), &case["rmse"], &what("rmse"));
        assert_close(mean_absolute_error(&t, &p).unwrap(), &case["mae"], &what("mae"));
        assert_close(median_absolute_error(&t, &p).unwrap(), &case["median_absolute_error"], &what("median"));
        assert_close(mean_absolute_percentage_error(&t, &p).unwrap(), &case["mape"], &what("mape"));
        assert_close(r2_score(&t, &p).unwrap(), &case["r2"], &what("r2"));
        assert_close(explained_variance_score(&t, &p).unwrap(), &case["explained_variance"], &what("ev"));
        assert_close(max_error(&t, &p).unwrap(), &case["max_error"], &what("max error"));

        let all = regression_metrics(&t, &p).unwrap();
        assert_close(all.mse, &case["mse"], &what("all.mse"));
        assert_close(all.rmse, &case["rmse"], &what("all.rmse"));
        assert_close(all.mae, &case["mae"], &what("all.mae"));
        assert_close(all.median_absolute_error.unwrap(), &case["median_absolute_error"], &what("all.median"));
        assert_close(all.mape, &case["mape"], &what("all.mape"));
        assert_close(all.r2, &case["r2"], &what("all.r2"));
        assert_close(all.explained_variance, &case["explained_variance"], &what("all.ev"));
        assert_close(all.max_error, &case["max_error"], &what("all.max"));
    }
}
