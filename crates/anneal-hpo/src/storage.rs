//! Trial storage: the [`Storage`] trait every backend implements, and [`InMemoryStorage`].
//!
//! The trait is shaped for a database: each method is one short transaction on one study
//! or trial (`create_trial` hands out the next trial number atomically, `finish_trial`
//! checks and changes the state in one step), it is object safe, and every value is plain
//! data (ids, `f64`, [`Distribution`] as serde) so an SQLite or PostgreSQL backend can store
//! it in a few tables: studies, trials, params, intermediate values.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{HpoError, Result};
use crate::space::{Distribution, ParamValue, SearchSpace};

/// Milliseconds since the Unix epoch: the storage's clock (heartbeats, start and end times).
pub type Millis = u64;

/// The current time in [`Millis`].
pub fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Whether the objective is minimised or maximised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Smaller is better.
    #[default]
    Minimize,
    /// Larger is better.
    Maximize,
}

impl Direction {
    /// Lower-case name, as used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Minimize => "minimize",
            Direction::Maximize => "maximize",
        }
    }

    /// The direction [`Direction::as_str`] wrote (a database backend's column).
    pub(crate) fn from_stored(s: &str) -> Self {
        if s == "maximize" { Direction::Maximize } else { Direction::Minimize }
    }

    /// True if `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::Minimize => a < b,
            Direction::Maximize => a > b,
        }
    }

    /// `value` with the sign that makes smaller better.
    pub fn to_loss(self, value: f64) -> f64 {
        match self {
            Direction::Minimize => value,
            Direction::Maximize => -value,
        }
    }
}

/// Where a trial is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    /// Its objective is being evaluated.
    Running,
    /// Finished with a value.
    Complete,
    /// Stopped early by a pruner (or a successive-halving rung).
    Pruned,
    /// The objective returned an error, panicked, returned a non-finite value, or the
    /// worker stopped sending heartbeats.
    Failed,
}

impl TrialState {
    /// Lower-case name, as used in messages and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            TrialState::Running => "running",
            TrialState::Complete => "complete",
            TrialState::Pruned => "pruned",
            TrialState::Failed => "failed",
        }
    }

    /// The state [`TrialState::as_str`] wrote (a database backend's column).
    pub(crate) fn from_stored(s: &str) -> Self {
        match s {
            "complete" => TrialState::Complete,
            "pruned" => TrialState::Pruned,
            "failed" => TrialState::Failed,
            _ => TrialState::Running,
        }
    }

    /// True for every state but `Running`.
    pub fn is_finished(self) -> bool {
        self != TrialState::Running
    }
}

/// Identifies a study in its storage.
pub type StudyId = u64;
/// Identifies a trial in its storage (unique across studies).
pub type TrialId = u64;

/// A snapshot of one trial as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrozenTrial {
    /// Storage-wide id.
    pub id: TrialId,
    /// 0-based number within its study, in creation order.
    pub number: u64,
    /// Its state.
    pub state: TrialState,
    /// Parameter values in internal form (see [`crate::space`]).
    pub params: BTreeMap<String, f64>,
    /// The distribution each parameter was drawn from.
    pub distributions: BTreeMap<String, Distribution>,
    /// The final objective value (complete trials; a pruned trial keeps its last
    /// intermediate value).
    pub value: Option<f64>,
    /// Intermediate values by step.
    pub intermediate: BTreeMap<u64, f64>,
    /// When it was created.
    pub started_ms: Millis,
    /// When it finished.
    pub finished_ms: Option<Millis>,
    /// The last sign of life of its worker.
    pub heartbeat_ms: Millis,
}

impl FrozenTrial {
    /// A new `Running` trial with no parameters, started (and last heard from) at `now`.
    pub fn running(id: TrialId, number: u64, now: Millis) -> Self {
        Self {
            id,
            number,
            state: TrialState::Running,
            params: BTreeMap::new(),
            distributions: BTreeMap::new(),
            value: None,
            intermediate: BTreeMap::new(),
            started_ms: now,
            finished_ms: None,
            heartbeat_ms: now,
        }
    }

    /// The user-facing value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<ParamValue> {
        Some(self.distributions.get(name)?.to_external(*self.params.get(name)?))
    }

    /// All parameters, user-facing.
    pub fn param_values(&self) -> BTreeMap<String, ParamValue> {
        self.params.keys().filter_map(|k| Some((k.clone(), self.param(k)?))).collect()
    }

    /// The last reported `(step, value)`.
    pub fn last_intermediate(&self) -> Option<(u64, f64)> {
        self.intermediate.iter().next_back().map(|(&s, &v)| (s, v))
    }
}

/// One study as [`Storage::studies`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudySummary {
    /// Storage-wide id.
    pub id: StudyId,
    /// Its name.
    pub name: String,
    /// Whether its objective is minimised or maximised.
    pub direction: Direction,
    /// How many of its trials are in each state (states with none are absent).
    pub counts: BTreeMap<TrialState, u64>,
}

/// Where studies and trials live. Implementations must be safe to share between threads
/// (and, for a database, between processes): every method is atomic on its own.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Creates the study `name`, or returns its id if it already exists with the same
    /// direction and search space ([`HpoError::StudyConflict`] otherwise).
    fn create_study(&self, name: &str, direction: Direction, space: Option<&SearchSpace>) -> Result<StudyId>;

    /// The id of an existing study.
    fn study_id(&self, name: &str) -> Result<StudyId>;

    /// Every study, in creation order, with its trial counts: what a dashboard lists.
    fn studies(&self) -> Result<Vec<StudySummary>>;

    /// A new `Running` trial with the study's next number, its heartbeat set to `now`.
    fn create_trial(&self, study: StudyId, now: Millis) -> Result<FrozenTrial>;

    /// As [`create_trial`](Self::create_trial), but only while the study has fewer than
    /// `limit` trials that are running, complete or pruned: `None` once it has them. The
    /// check and the creation are one step, so workers sharing a budget of trials never
    /// overshoot it (failed trials free their slot).
    fn create_trial_within(&self, study: StudyId, limit: u64, now: Millis) -> Result<Option<FrozenTrial>>;

    /// Records a parameter of a running trial.
    fn set_param(&self, trial: TrialId, name: &str, distribution: &Distribution, internal: f64) -> Result<()>;

    /// Records an intermediate value of a running trial and refreshes its heartbeat.
    fn report(&self, trial: TrialId, step: u64, value: f64, now: Millis) -> Result<()>;

    /// Refreshes the heartbeat of a running trial.
    fn heartbeat(&self, trial: TrialId, now: Millis) -> Result<()>;

    /// Moves a running trial to a finished `state` with its `value`, in one step; a trial
    /// that is not running any more is left alone and [`HpoError::TrialNotRunning`] returned.
    fn finish_trial(&self, trial: TrialId, state: TrialState, value: Option<f64>, now: Millis) -> Result<FrozenTrial>;

    /// One trial.
    fn trial(&self, trial: TrialId) -> Result<FrozenTrial>;

    /// The study's trials in number order, all of them or those in `states`. Shared
    /// snapshots: samplers read the whole history for every trial, so copying it must be cheap.
    fn trials(&self, study: StudyId, states: Option<&[TrialState]>) -> Result<Vec<Arc<FrozenTrial>>>;

    /// Marks `Failed` every running trial whose last heartbeat is older than `now - timeout`
    /// (its worker died), and returns them.
    fn fail_stale_trials(&self, study: StudyId, timeout_ms: Millis, now: Millis) -> Result<Vec<FrozenTrial>>;
}

#[derive(Debug)]
struct StudyRecord {
    name: String,
    direction: Direction,
    space: Option<SearchSpace>,
    trials: Vec<TrialId>,
}

#[derive(Debug, Default)]
struct Inner {
    studies: Vec<StudyRecord>,
    trials: Vec<(StudyId, Arc<FrozenTrial>)>,
}

/// Storage in process memory, behind one mutex: for single-process studies and tests.
#[derive(Debug, Default)]
pub struct InMemoryStorage {
    inner: Mutex<Inner>,
}

impl InMemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written record (every write
        // is a single assignment), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn running(t: &mut FrozenTrial) -> Result<&mut FrozenTrial> {
    if t.state != TrialState::Running {
        return Err(HpoError::TrialNotRunning { number: t.number, state: t.state.as_str() });
    }
    Ok(t)
}

impl Inner {
    fn trial_mut(&mut self, id: TrialId) -> Result<&mut FrozenTrial> {
        // Copy-on-write: a snapshot handed out earlier keeps its old contents.
        self.trials.get_mut(id as usize).map(|(_, t)| Arc::make_mut(t)).ok_or(HpoError::UnknownTrial { id })
    }

    fn study(&self, id: StudyId) -> Result<&StudyRecord> {
        self.studies.get(id as usize).ok_or_else(|| HpoError::UnknownStudy { study: id.to_string() })
    }
}

impl Storage for InMemoryStorage {
    fn create_study(&self, name: &str, direction: Direction, space: Option<&SearchSpace>) -> Result<StudyId> {
        let mut inner = self.lock();
        if let Some(i) = inner.studies.iter().position(|s| s.name == name) {
            let s = &inner.studies[i];
            if s.space.as_ref() != space {
                return Err(HpoError::StudyConflict { study: name.into(), what: "search space" });
            }
            if s.direction != direction {
                return Err(HpoError::StudyConflict { study: name.into(), what: "direction" });
            }
            return Ok(i as StudyId);
        }
        inner.studies.push(StudyRecord { name: name.into(), direction, space: space.cloned(), trials: Vec::new() });
        Ok((inner.studies.len() - 1) as StudyId)
    }

    fn study_id(&self, name: &str) -> Result<StudyId> {
        let inner = self.lock();
        inner
            .studies
            .iter()
            .position(|s| s.name == name)
            .map(|i| i as StudyId)
            .ok_or_else(|| HpoError::UnknownStudy { study: name.into() })
    }

    fn studies(&self) -> Result<Vec<StudySummary>> {
        let inner = self.lock();
        Ok(inner
            .studies
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut counts = BTreeMap::new();
                for &t in &s.trials {
                    *counts.entry(inner.trials[t as usize].1.state).or_insert(0) += 1;
                }
                StudySummary { id: i as StudyId, name: s.name.clone(), direction: s.direction, counts }
            })
            .collect())
    }

    fn create_trial(&self, study: StudyId, now: Millis) -> Result<FrozenTrial> {
        self.create_trial_within(study, u64::MAX, now)?
            .ok_or_else(|| HpoError::UnknownStudy { study: study.to_string() })
    }

    fn create_trial_within(&self, study: StudyId, limit: u64, now: Millis) -> Result<Option<FrozenTrial>> {
        let mut inner = self.lock();
        let s = inner.study(study)?;
        let active = s.trials.iter().filter(|&&id| inner.trials[id as usize].1.state != TrialState::Failed).count();
        if active as u64 >= limit {
            return Ok(None);
        }
        let number = s.trials.len() as u64;
        let id = inner.trials.len() as TrialId;
        let t = FrozenTrial::running(id, number, now);
        inner.trials.push((study, Arc::new(t.clone())));
        inner.studies[study as usize].trials.push(id);
        Ok(Some(t))
    }

    fn set_param(&self, trial: TrialId, name: &str, distribution: &Distribution, internal: f64) -> Result<()> {
        if !distribution.contains(internal) {
            return Err(HpoError::ValueOutOfRange { param: name.into(), value: internal.to_string() });
        }
        let mut inner = self.lock();
        let t = running(inner.trial_mut(trial)?)?;
        if let Some(d) = t.distributions.get(name)
            && d != distribution
        {
            return Err(HpoError::ParamRedefined { number: t.number, param: name.into() });
        }
        t.params.insert(name.into(), internal);
        t.distributions.insert(name.into(), distribution.clone());
        Ok(())
    }

    fn report(&self, trial: TrialId, step: u64, value: f64, now: Millis) -> Result<()> {
        let mut inner = self.lock();
        let t = running(inner.trial_mut(trial)?)?;
        t.intermediate.insert(step, value);
        t.heartbeat_ms = t.heartbeat_ms.max(now);
        Ok(())
    }

    fn heartbeat(&self, trial: TrialId, now: Millis) -> Result<()> {
        let mut inner = self.lock();
        let t = running(inner.trial_mut(trial)?)?;
        t.heartbeat_ms = t.heartbeat_ms.max(now);
        Ok(())
    }

    fn finish_trial(&self, trial: TrialId, state: TrialState, value: Option<f64>, now: Millis) -> Result<FrozenTrial> {
        let mut inner = self.lock();
        let t = running(inner.trial_mut(trial)?)?;
        t.state = state;
        t.value = value;
        t.finished_ms = Some(now);
        Ok(t.clone())
    }

    fn trial(&self, trial: TrialId) -> Result<FrozenTrial> {
        let inner = self.lock();
        inner.trials.get(trial as usize).map(|(_, t)| (**t).clone()).ok_or(HpoError::UnknownTrial { id: trial })
    }

    fn trials(&self, study: StudyId, states: Option<&[TrialState]>) -> Result<Vec<Arc<FrozenTrial>>> {
        let inner = self.lock();
        let s = inner.study(study)?;
        Ok(s.trials
            .iter()
            .map(|&id| &inner.trials[id as usize].1)
            .filter(|t| states.is_none_or(|st| st.contains(&t.state)))
            .cloned()
            .collect())
    }

    fn fail_stale_trials(&self, study: StudyId, timeout_ms: Millis, now: Millis) -> Result<Vec<FrozenTrial>> {
        let mut inner = self.lock();
        let ids = inner.study(study)?.trials.clone();
        let mut failed = Vec::new();
        for id in ids {
            let shared = &mut inner.trials[id as usize].1;
            if shared.state == TrialState::Running && shared.heartbeat_ms.saturating_add(timeout_ms) < now {
                let t = Arc::make_mut(shared);
                t.state = TrialState::Failed;
                t.finished_ms = Some(now);
                failed.push(t.clone());
            }
        }
        Ok(failed)
    }
}
