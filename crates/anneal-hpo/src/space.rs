//! Search spaces: float (linear, log, stepped), int (stepped, log) and categorical
//! parameters, conditional parameters, and their TOML form.
//!
//! Every value has an *internal* form, an `f64`, as in Optuna: floats and ints are
//! themselves, a categorical value is its index in the choices. Storage and samplers
//! work on internal values only; [`Distribution::to_external`] turns them back into a
//! [`ParamValue`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{HpoError, Result};

/// One choice of a categorical parameter: a string, integer, float or boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Choice {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Bool(b) => write!(f, "{b}"),
            Choice::Int(i) => write!(f, "{i}"),
            Choice::Float(x) => write!(f, "{x}"),
            Choice::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<&str> for Choice {
    fn from(s: &str) -> Self {
        Choice::Str(s.to_string())
    }
}
impl From<String> for Choice {
    fn from(s: String) -> Self {
        Choice::Str(s)
    }
}
impl From<&String> for Choice {
    fn from(s: &String) -> Self {
        Choice::Str(s.clone())
    }
}
impl From<i64> for Choice {
    fn from(i: i64) -> Self {
        Choice::Int(i)
    }
}
impl From<i32> for Choice {
    fn from(i: i32) -> Self {
        Choice::Int(i as i64)
    }
}
impl From<usize> for Choice {
    fn from(i: usize) -> Self {
        Choice::Int(i as i64)
    }
}
impl From<f64> for Choice {
    fn from(x: f64) -> Self {
        Choice::Float(x)
    }
}
impl From<bool> for Choice {
    fn from(b: bool) -> Self {
        Choice::Bool(b)
    }
}

impl Choice {
    /// The string, if this choice is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Choice::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A parameter's value as the objective sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// Value of an integer parameter.
    Int(i64),
    /// Value of a float parameter.
    Float(f64),
    /// Value of a categorical parameter.
    Categorical(Choice),
}

impl ParamValue {
    /// The value as `f64` (ints converted; `None` for categoricals).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Float(x) => Some(*x),
            ParamValue::Int(i) => Some(*i as f64),
            ParamValue::Categorical(_) => None,
        }
    }

    /// The value of an integer parameter.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ParamValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The choice of a categorical parameter.
    pub fn as_choice(&self) -> Option<&Choice> {
        match self {
            ParamValue::Categorical(c) => Some(c),
            _ => None,
        }
    }

    /// The string choice of a categorical parameter.
    pub fn as_str(&self) -> Option<&str> {
        self.as_choice().and_then(Choice::as_str)
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Categorical(c) => write!(f, "{c}"),
        }
    }
}

/// The set of values one parameter can take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Distribution {
    /// A real number in `[low, high]`, uniform on a linear or log scale, optionally on a
    /// grid `low, low + step, …`.
    Float {
        /// Lower bound (inclusive).
        low: f64,
        /// Upper bound (inclusive).
        high: f64,
        /// Sample on a log scale (needs `low > 0`, no step).
        log: bool,
        /// Grid spacing, if the parameter is discrete.
        step: Option<f64>,
    },
    /// An integer in `[low, high]` on the grid `low, low + step, …`, or log-uniform.
    Int {
        /// Lower bound (inclusive).
        low: i64,
        /// Upper bound (inclusive).
        high: i64,
        /// Sample on a log scale (needs `low >= 1` and `step == 1`).
        log: bool,
        /// Grid spacing (1 for every integer).
        step: i64,
    },
    /// One of a list of choices.
    Categorical {
        /// The choices, in order; the internal value is the index.
        choices: Vec<Choice>,
    },
}

impl Distribution {
    /// A float, uniform on `[low, high]`.
    pub fn float(low: f64, high: f64) -> Self {
        Distribution::Float { low, high, log: false, step: None }
    }

    /// A float, log-uniform on `[low, high]` (`low > 0`).
    pub fn log_float(low: f64, high: f64) -> Self {
        Distribution::Float { low, high, log: true, step: None }
    }

    /// A float on the grid `low, low + step, …, ≤ high`.
    pub fn float_step(low: f64, high: f64, step: f64) -> Self {
        Distribution::Float { low, high, log: false, step: Some(step) }
    }

    /// Every integer in `[low, high]`.
    pub fn int(low: i64, high: i64) -> Self {
        Distribution::Int { low, high, log: false, step: 1 }
    }

    /// Integers in `[low, high]` on a log scale (`low >= 1`).
    pub fn log_int(low: i64, high: i64) -> Self {
        Distribution::Int { low, high, log: true, step: 1 }
    }

    /// Integers `low, low + step, …, ≤ high`.
    pub fn int_step(low: i64, high: i64, step: i64) -> Self {
        Distribution::Int { low, high, log: false, step }
    }

    /// One of `choices`.
    pub fn categorical<C: Into<Choice>>(choices: impl IntoIterator<Item = C>) -> Self {
        Distribution::Categorical { choices: choices.into_iter().map(Into::into).collect() }
    }

    /// Checks the bounds, step and choices; `name` goes into the error.
    pub fn validate(&self, name: &str) -> Result<()> {
        match *self {
            Distribution::Float { low, high, log, step } => {
                if !low.is_finite() || !high.is_finite() || low > high {
                    return Err(HpoError::InvalidRange { param: name.into(), low, high });
                }
                if log && low <= 0.0 {
                    return Err(HpoError::LogRangeNotPositive { param: name.into(), low });
                }
                if let Some(step) = step {
                    if log {
                        return Err(HpoError::InvalidStep {
                            param: name.into(),
                            step,
                            why: "a log scale takes no step",
                        });
                    }
                    if !(step > 0.0 && step.is_finite()) {
                        return Err(HpoError::InvalidStep { param: name.into(), step, why: "it must be positive" });
                    }
                }
            }
            Distribution::Int { low, high, log, step } => {
                if low > high {
                    return Err(HpoError::InvalidRange { param: name.into(), low: low as f64, high: high as f64 });
                }
                if log && low <= 0 {
                    return Err(HpoError::LogRangeNotPositive { param: name.into(), low: low as f64 });
                }
                if step <= 0 {
                    return Err(HpoError::InvalidStep {
                        param: name.into(),
                        step: step as f64,
                        why: "it must be positive",
                    });
                }
                if log && step != 1 {
                    return Err(HpoError::InvalidStep {
                        param: name.into(),
                        step: step as f64,
                        why: "a log scale needs step 1",
                    });
                }
            }
            Distribution::Categorical { ref choices } => {
                if choices.is_empty() {
                    return Err(HpoError::InvalidChoices { param: name.into(), why: "no choices".into() });
                }
                for (i, c) in choices.iter().enumerate() {
                    if choices[..i].contains(c) {
                        return Err(HpoError::InvalidChoices {
                            param: name.into(),
                            why: format!("choice {c} appears twice"),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The number of distinct values, or `None` for a continuous float.
    pub fn n_values(&self) -> Option<u128> {
        match *self {
            Distribution::Float { step: None, .. } => None,
            Distribution::Float { low, high, step: Some(step), .. } => {
                Some(((high - low) / step + 1e-9).floor() as u128 + 1)
            }
            Distribution::Int { low, high, step, .. } => Some(((high - low) / step) as u128 + 1),
            Distribution::Categorical { ref choices } => Some(choices.len() as u128),
        }
    }

    /// True if the distribution has exactly one value.
    pub fn is_single(&self) -> bool {
        match *self {
            Distribution::Float { low, high, step: None, .. } => low == high,
            _ => self.n_values() == Some(1),
        }
    }

    /// True for categorical parameters.
    pub fn is_categorical(&self) -> bool {
        matches!(self, Distribution::Categorical { .. })
    }

    /// True for log-scaled floats and ints.
    pub fn is_log(&self) -> bool {
        matches!(self, Distribution::Float { log: true, .. } | Distribution::Int { log: true, .. })
    }

    /// The grid spacing of a discrete numeric parameter (`None` for continuous floats and
    /// categoricals).
    pub fn step(&self) -> Option<f64> {
        match *self {
            Distribution::Float { step, .. } => step,
            Distribution::Int { step, .. } => Some(step as f64),
            Distribution::Categorical { .. } => None,
        }
    }

    /// `(low, high)` of a numeric parameter, with `high` snapped down onto the step grid.
    pub fn bounds(&self) -> Option<(f64, f64)> {
        match *self {
            Distribution::Float { low, high, step: None, .. } => Some((low, high)),
            Distribution::Float { low, step: Some(step), .. } => {
                Some((low, low + (self.n_values().unwrap_or(1) - 1) as f64 * step))
            }
            Distribution::Int { low, high, step, .. } => Some((low as f64, (low + (high - low) / step * step) as f64)),
            Distribution::Categorical { .. } => None,
        }
    }

    /// The user-facing value of an internal value.
    pub fn to_external(&self, internal: f64) -> ParamValue {
        match self {
            Distribution::Float { .. } => ParamValue::Float(internal),
            Distribution::Int { .. } => ParamValue::Int(internal.round() as i64),
            Distribution::Categorical { choices } => {
                let i = (internal.round().max(0.0) as usize).min(choices.len().saturating_sub(1));
                ParamValue::Categorical(choices[i].clone())
            }
        }
    }

    /// The internal value of a user-facing value, if the distribution contains it.
    pub fn to_internal(&self, value: &ParamValue) -> Option<f64> {
        let x = match (self, value) {
            (Distribution::Categorical { choices }, ParamValue::Categorical(c)) => {
                choices.iter().position(|x| x == c)? as f64
            }
            (Distribution::Float { .. }, v) => v.as_f64()?,
            (Distribution::Int { .. }, ParamValue::Int(i)) => *i as f64,
            _ => return None,
        };
        self.contains(x).then_some(x)
    }

    /// True if `internal` is a value of this distribution.
    pub fn contains(&self, internal: f64) -> bool {
        if !internal.is_finite() {
            return false;
        }
        match *self {
            Distribution::Categorical { ref choices } => {
                internal >= 0.0 && internal.fract() == 0.0 && (internal as usize) < choices.len()
            }
            _ => {
                let (low, high) = self.bounds().unwrap_or((0.0, 0.0));
                let tol = 1e-9 * (high - low).abs().max(1.0);
                if internal < low - tol || internal > high + tol {
                    return false;
                }
                match self.step() {
                    Some(step) => {
                        let k = (internal - low) / step;
                        (k - k.round()).abs() < 1e-6
                    }
                    None => true,
                }
            }
        }
    }

    /// Snaps an internal value onto the distribution (clamp, round to the step grid or to a
    /// choice index).
    pub fn snap(&self, internal: f64) -> f64 {
        match *self {
            Distribution::Categorical { ref choices } => internal.round().clamp(0.0, (choices.len() - 1) as f64),
            _ => {
                let (low, high) = self.bounds().unwrap_or((0.0, 0.0));
                let x = internal.clamp(low, high);
                match self.step() {
                    Some(step) => (low + ((x - low) / step).round() * step).clamp(low, high),
                    None => x,
                }
            }
        }
    }

    /// Maps `u` in `[0, 1]` onto the distribution, uniformly on its scale: what random,
    /// Sobol and grid sampling use. Discrete values each get an equal share of `[0, 1)`.
    pub fn from_unit(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        match *self {
            Distribution::Categorical { ref choices } => {
                ((u * choices.len() as f64) as usize).min(choices.len() - 1) as f64
            }
            Distribution::Float { low, high, log: true, .. } => {
                (low.ln() + u * (high.ln() - low.ln())).exp().clamp(low, high)
            }
            Distribution::Float { low, high, step: None, .. } => (low + u * (high - low)).clamp(low, high),
            Distribution::Int { low, high, log: true, .. } => {
                // Log-uniform over [low - 0.5, high + 0.5], then rounded (as Optuna does).
                let (a, b) = ((low as f64 - 0.5).ln(), (high as f64 + 0.5).ln());
                (a + u * (b - a)).exp().round().clamp(low as f64, high as f64)
            }
            _ => {
                let n = self.n_values().unwrap_or(1) as f64;
                let k = (u * n).floor().min(n - 1.0);
                let (low, _) = self.bounds().unwrap_or((0.0, 0.0));
                low + k * self.step().unwrap_or(1.0)
            }
        }
    }

    /// The inverse of [`from_unit`](Self::from_unit): where `internal` sits in `[0, 1]`
    /// (the middle of its cell for discrete values). The Gaussian-process sampler models the
    /// objective on this scale.
    pub fn to_unit(&self, internal: f64) -> f64 {
        match *self {
            Distribution::Categorical { ref choices } => (internal + 0.5) / choices.len() as f64,
            Distribution::Float { low, high, log: true, .. } => {
                if high > low {
                    (internal.ln() - low.ln()) / (high.ln() - low.ln())
                } else {
                    0.5
                }
            }
            Distribution::Float { low, high, step: None, .. } => {
                if high > low {
                    (internal - low) / (high - low)
                } else {
                    0.5
                }
            }
            Distribution::Int { low, high, log: true, .. } => {
                let (a, b) = ((low as f64 - 0.5).ln(), (high as f64 + 0.5).ln());
                (internal.ln() - a) / (b - a)
            }
            _ => {
                let n = self.n_values().unwrap_or(1) as f64;
                let (low, _) = self.bounds().unwrap_or((0.0, 0.0));
                ((internal - low) / self.step().unwrap_or(1.0) + 0.5) / n
            }
        }
    }

    /// `n` evenly spread values for a grid: all values of a discrete parameter, or `resolution`
    /// points (linear or log spaced, ends included) of a continuous float.
    pub fn grid_values(&self, resolution: Option<usize>) -> Option<Vec<f64>> {
        match *self {
            Distribution::Float { low, high, log, step: None } => {
                let n = resolution?.max(1);
                if n == 1 || low == high {
                    return Some(vec![if log { (low * high).sqrt() } else { 0.5 * (low + high) }]);
                }
                Some(
                    (0..n)
                        .map(|i| {
                            let t = i as f64 / (n - 1) as f64;
                            if i == 0 {
                                low
                            } else if i == n - 1 {
                                high
                            } else if log {
                                (low.ln() + t * (high.ln() - low.ln())).exp()
                            } else {
                                low + t * (high - low)
                            }
                        })
                        .collect(),
                )
            }
            _ => {
                let n = self.n_values()? as usize;
                match self {
                    Distribution::Categorical { .. } => Some((0..n).map(|i| i as f64).collect()),
                    _ => {
                        let (low, _) = self.bounds()?;
                        let step = self.step().unwrap_or(1.0);
                        Some((0..n).map(|i| low + i as f64 * step).collect())
                    }
                }
            }
        }
    }
}

/// "Active only when `parent` took one of `values`".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The categorical parameter this one depends on.
    pub parent: String,
    /// The parent's choices for which this parameter is active.
    pub values: Vec<Choice>,
}

/// One declared parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Its name.
    pub name: String,
    /// Its values.
    pub distribution: Distribution,
    /// When it is active (always, if `None`).
    pub condition: Option<Condition>,
}

/// A declared search space: parameters in order, parents before their conditional children.
///
/// Build it in Rust with [`with`](Self::with) / [`with_condition`](Self::with_condition),
/// or read it from TOML:
///
/// ```
/// use anneal_hpo::{Distribution, SearchSpace};
///
/// let toml = r#"
/// [[param]]
/// name = "lr"
/// type = "float"
/// low = 1e-5
/// high = 1e-1
/// log = true
///
/// [[param]]
/// name = "optimizer"
/// type = "categorical"
/// choices = ["sgd", "adam"]
///
/// [[param]]
/// name = "momentum"
/// type = "float"
/// low = 0.0
/// high = 0.99
/// condition = { parent = "optimizer", values = ["sgd"] }
/// "#;
/// let space = SearchSpace::from_toml_str(toml)?;
/// let same = SearchSpace::new()
///     .with("lr", Distribution::log_float(1e-5, 1e-1))
///     .with("optimizer", Distribution::categorical(["sgd", "adam"]))
///     .with_condition("momentum", Distribution::float(0.0, 0.99), "optimizer", ["sgd"]);
/// assert_eq!(space, same);
/// # Ok::<(), anneal_hpo::HpoError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "RawSpace", into = "RawSpace")]
pub struct SearchSpace {
    params: Vec<ParamSpec>,
}

impl SearchSpace {
    /// An empty space (invalid until a parameter is added).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an always-active parameter.
    pub fn with(mut self, name: impl Into<String>, distribution: Distribution) -> Self {
        self.params.push(ParamSpec { name: name.into(), distribution, condition: None });
        self
    }

    /// Adds a parameter that is active only when `parent` (a categorical declared before it)
    /// took one of `values`.
    pub fn with_condition<C: Into<Choice>>(
        mut self,
        name: impl Into<String>,
        distribution: Distribution,
        parent: impl Into<String>,
        values: impl IntoIterator<Item = C>,
    ) -> Self {
        let condition = Condition { parent: parent.into(), values: values.into_iter().map(Into::into).collect() };
        self.params.push(ParamSpec { name: name.into(), distribution, condition: Some(condition) });
        self
    }

    /// The parameters in declaration order.
    pub fn params(&self) -> &[ParamSpec] {
        &self.params
    }

    /// The parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// True if no parameter is declared.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Checks every parameter and condition; called before a study uses the space.
    pub fn validate(&self) -> Result<()> {
        if self.params.is_empty() {
            return Err(HpoError::EmptySpace);
        }
        for (i, p) in self.params.iter().enumerate() {
            if self.params[..i].iter().any(|q| q.name == p.name) {
                return Err(HpoError::DuplicateParam { param: p.name.clone() });
            }
            p.distribution.validate(&p.name)?;
            if let Some(c) = &p.condition {
                let bad =
                    |why: String| HpoError::InvalidCondition { param: p.name.clone(), parent: c.parent.clone(), why };
                let parent = self.params[..i]
                    .iter()
                    .find(|q| q.name == c.parent)
                    .ok_or_else(|| bad("the parent must be declared before the parameter".into()))?;
                let Distribution::Categorical { choices } = &parent.distribution else {
                    return Err(bad("the parent must be categorical".into()));
                };
                if c.values.is_empty() {
                    return Err(bad("no parent values listed".into()));
                }
                if let Some(v) = c.values.iter().find(|v| !choices.contains(v)) {
                    return Err(bad(format!("{v} is not a choice of the parent")));
                }
            }
        }
        Ok(())
    }

    /// True if `spec` is active given the parent values assigned so far (internal values).
    pub fn is_active(&self, spec: &ParamSpec, assigned: &BTreeMap<String, f64>) -> bool {
        let Some(c) = &spec.condition else { return true };
        let (Some(parent), Some(&v)) = (self.get(&c.parent), assigned.get(&c.parent)) else { return false };
        match parent.distribution.to_external(v) {
            ParamValue::Categorical(choice) => c.values.contains(&choice),
            _ => false,
        }
    }

    /// Parses and validates a TOML search space (an array of `[[param]]` tables).
    pub fn from_toml_str(text: &str) -> Result<Self> {
        Self::parse(text, "<string>")
    }

    /// Reads and validates a TOML search space from a file.
    pub fn from_toml_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| HpoError::Io { path: path.to_path_buf(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, source_name: &str) -> Result<Self> {
        toml::from_str::<SearchSpace>(text)
            .map_err(|e| HpoError::Toml { source_name: source_name.into(), message: e.to_string().trim_end().into() })
    }

    /// The space as TOML text (round-trips through [`from_toml_str`](Self::from_toml_str)).
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

/// A number in TOML: `1` and `1.0` are both allowed for float bounds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(x) => x,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Float,
    Int,
    Categorical,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    name: String,
    #[serde(rename = "type")]
    kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    low: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    high: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    step: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    choices: Option<Vec<Choice>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    condition: Option<Condition>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpace {
    #[serde(default)]
    param: Vec<RawParam>,
}

impl TryFrom<RawParam> for ParamSpec {
    type Error = HpoError;

    fn try_from(r: RawParam) -> Result<Self> {
        let field =
            |field: &'static str, why: &'static str| HpoError::InvalidField { param: r.name.clone(), field, why };
        let distribution = match r.kind {
            Kind::Categorical => {
                for (f, present) in [("low", r.low.is_some()), ("high", r.high.is_some()), ("step", r.step.is_some())] {
                    if present {
                        return Err(field(f, "is not allowed for a categorical parameter"));
                    }
                }
                if r.log.is_some() {
                    return Err(field("log", "is not allowed for a categorical parameter"));
                }
                Distribution::Categorical { choices: r.choices.clone().ok_or_else(|| field("choices", "is missing"))? }
            }
            Kind::Float | Kind::Int => {
                if r.choices.is_some() {
                    return Err(field("choices", "is only allowed for a categorical parameter"));
                }
                let low = r.low.ok_or_else(|| field("low", "is missing"))?;
                let high = r.high.ok_or_else(|| field("high", "is missing"))?;
                let log = r.log.unwrap_or(false);
                if r.kind == Kind::Float {
                    Distribution::Float {
                        low: low.as_f64(),
                        high: high.as_f64(),
                        log,
                        step: r.step.map(Number::as_f64),
                    }
                } else {
                    let int = |n: Number, f: &'static str| match n {
                        Number::Int(i) => Ok(i),
                        Number::Float(_) => Err(field(f, "must be an integer for an int parameter")),
                    };
                    let step = match r.step {
                        Some(s) => int(s, "step")?,
                        None => 1,
                    };
                    Distribution::Int { low: int(low, "low")?, high: int(high, "high")?, log, step }
                }
            }
        };
        Ok(ParamSpec { name: r.name, distribution, condition: r.condition })
    }
}

impl TryFrom<RawSpace> for SearchSpace {
    type Error = HpoError;

    fn try_from(raw: RawSpace) -> Result<Self> {
        let space = SearchSpace { params: raw.param.into_iter().map(ParamSpec::try_from).collect::<Result<_>>()? };
        space.validate()?;
        Ok(space)
    }
}

impl From<SearchSpace> for RawSpace {
    fn from(space: SearchSpace) -> Self {
        let param = space
            .params
            .into_iter()
            .map(|p| {
                let mut r = RawParam {
                    name: p.name,
                    kind: Kind::Float,
                    low: None,
                    high: None,
                    log: None,
                    step: None,
                    choices: None,
                    condition: p.condition,
                };
                match p.distribution {
                    Distribution::Float { low, high, log, step } => {
                        r.low = Some(Number::Float(low));
                        r.high = Some(Number::Float(high));
                        r.log = log.then_some(true);
                        r.step = step.map(Number::Float);
                    }
                    Distribution::Int { low, high, log, step } => {
                        r.kind = Kind::Int;
                        r.low = Some(Number::Int(low));
                        r.high = Some(Number::Int(high));
                        r.log = log.then_some(true);
                        r.step = (step != 1).then_some(Number::Int(step));
                    }
                    Distribution::Categorical { choices } => {
                        r.kind = Kind::Categorical;
                        r.choices = Some(choices);
                    }
                }
                r
            })
            .collect();
        RawSpace { param }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_mapping_round_trips_and_covers_discrete_values_evenly() {
        let d = Distribution::int_step(0, 10, 5);
        assert_eq!(d.n_values(), Some(3));
        let got: Vec<f64> = [0.0, 0.34, 0.67, 0.999].iter().map(|&u| d.from_unit(u)).collect();
        assert_eq!(got, vec![0.0, 5.0, 10.0, 10.0]);
        for x in [0.0, 5.0, 10.0] {
            assert_eq!(d.from_unit(d.to_unit(x)), x);
        }
        let f = Distribution::log_float(1e-4, 1.0);
        assert!((f.to_unit(1e-2) - 0.5).abs() < 1e-12);
        assert!((f.from_unit(0.5) - 1e-2).abs() < 1e-14);
        let fs = Distribution::float_step(0.0, 1.0, 0.3);
        assert_eq!(fs.bounds(), Some((0.0, 0.8999999999999999)));
        assert!(fs.contains(0.6) && !fs.contains(0.5));
    }

    #[test]
    fn grid_values_of_a_log_float() {
        let v = Distribution::log_float(1.0, 100.0).grid_values(Some(3)).unwrap();
        assert!((v[1] - 10.0).abs() < 1e-12 && v[2] == 100.0);
        assert!(Distribution::float(0.0, 1.0).grid_values(None).is_none());
    }
}
