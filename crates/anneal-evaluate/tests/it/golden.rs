//! Loading `golden.json` and comparing to it.
//!
//! Tolerance: `|ours - sklearn| <= 1e-9 * max(1, |sklearn|)`; NaN equals NaN and
//! infinities must match exactly. Non-finite numbers are stored as the strings
//! "nan", "inf" and "-inf"; a call scikit-learn refused as `{"error": ...}`.

use std::sync::OnceLock;

use serde_json::Value;

/// The parsed fixture.
pub fn golden() -> &'static Value {
    static GOLDEN: OnceLock<Value> = OnceLock::new();
    GOLDEN.get_or_init(|| serde_json::from_str(include_str!("golden.json")).expect("golden.json parses"))
}

/// The cases of one section, at least 20 of them.
pub fn cases(section: &str) -> &'static [Value] {
    let cases = golden()[section].as_array().expect("section exists");
    assert!(cases.len() >= 20, "{section} has {} cases", cases.len());
    cases
}

/// A number, with "nan" / "inf" / "-inf" strings.
pub fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        _ => v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")),
    }
}

/// Whether scikit-learn refused the call.
pub fn is_error(v: &Value) -> bool {
    v.get("error").is_some()
}

/// Whether scikit-learn gave NaN or refused: the cases where we return an error.
pub fn is_undefined(v: &Value) -> bool {
    is_error(v) || num(v).is_nan()
}

pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(num).collect()
}

pub fn codes(v: &Value) -> Vec<usize> {
    v.as_array().expect("array").iter().map(|x| x.as_u64().expect("class code") as usize).collect()
}

pub fn close(ours: f64, expected: f64) -> bool {
    if expected.is_nan() || ours.is_nan() {
        return expected.is_nan() && ours.is_nan();
    }
    if expected.is_infinite() {
        return ours == expected;
    }
    (ours - expected).abs() <= 1e-9 * expected.abs().max(1.0)
}

#[track_caller]
pub fn assert_close(ours: f64, expected: &Value, what: &str) {
    let e = num(expected);
    assert!(close(ours, e), "{what}: ours {ours}, scikit-learn {e}");
}

#[track_caller]
pub fn assert_all_close(ours: &[f64], expected: &Value, what: &str) {
    let e = floats(expected);
    assert_eq!(ours.len(), e.len(), "{what}: length, ours {ours:?}, scikit-learn {e:?}");
    for (i, (&a, &b)) in ours.iter().zip(&e).enumerate() {
        assert!(close(a, b), "{what}[{i}]: ours {a}, scikit-learn {b}\nours {ours:?}\nscikit-learn {e:?}");
    }
}

#[test]
fn fixture_records_its_versions() {
    assert_eq!(golden()["sklearn"], "1.9.1");
    assert!(golden()["numpy"].is_string());
}
