//! Studies and trials: the ask/tell loop, define-by-run suggestions, intermediate reports,
//! and the drivers that run an objective for many trials (sequentially, on threads, or as
//! synchronous successive halving / Hyperband).

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{HpoError, Result};
use crate::pruner::{NopPruner, PruneContext, Pruner};
use crate::sampler::{RandomSampler, SampleContext, Sampler};
use crate::schedule::{self, Rung};
use crate::space::{Choice, Distribution, ParamValue, SearchSpace};
use crate::storage::{Direction, FrozenTrial, InMemoryStorage, Storage, StudyId, TrialId, TrialState, now_ms};

/// Why an objective did not return a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectiveError {
    /// The trial was pruned (return this when [`Trial::should_prune`] says so).
    #[error("trial pruned")]
    Pruned,
    /// The objective failed for this configuration; the study goes on.
    #[error("objective failed: {0}")]
    Failed(String),
    /// A search-space or storage error: the trial is marked failed and the study stops.
    #[error(transparent)]
    Hpo(#[from] HpoError),
}

impl ObjectiveError {
    /// A failure with `error`'s message.
    pub fn failed(error: impl std::fmt::Display) -> Self {
        ObjectiveError::Failed(error.to_string())
    }
}

#[derive(Debug)]
struct Shared {
    name: String,
    id: StudyId,
    direction: Direction,
    space: Option<SearchSpace>,
    storage: Arc<dyn Storage>,
    sampler: Box<dyn Sampler>,
    pruner: Box<dyn Pruner>,
    max_failures_in_a_row: usize,
}

/// Settings of a [`Study`]; [`build`](Self::build) validates them and creates (or loads)
/// the study in its storage.
#[derive(Debug)]
pub struct StudyBuilder {
    name: String,
    direction: Direction,
    space: Option<SearchSpace>,
    storage: Option<Arc<dyn Storage>>,
    sampler: Option<Box<dyn Sampler>>,
    pruner: Option<Box<dyn Pruner>>,
    max_failures_in_a_row: usize,
}

impl StudyBuilder {
    /// Minimise (the default) or maximise.
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// A declared search space (validated by `build`); without one the study is
    /// define-by-run.
    pub fn space(mut self, space: SearchSpace) -> Self {
        self.space = Some(space);
        self
    }

    /// The storage (default: a fresh [`InMemoryStorage`]).
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// The sampler (default: [`RandomSampler`] with seed 0).
    pub fn sampler(mut self, sampler: impl Sampler + 'static) -> Self {
        self.sampler = Some(Box::new(sampler));
        self
    }

    /// The pruner (default: [`NopPruner`]).
    pub fn pruner(mut self, pruner: impl Pruner + 'static) -> Self {
        self.pruner = Some(Box::new(pruner));
        self
    }

    /// How many trials in a row may fail in [`Study::optimize_until`] before it stops with
    /// [`HpoError::FailingObjective`] (default 10; at least 1). `optimize_until` hands a
    /// failed trial's slot out again, so an objective that always fails would otherwise run
    /// forever.
    pub fn max_failures_in_a_row(mut self, n: usize) -> Self {
        self.max_failures_in_a_row = n.max(1);
        self
    }

    /// Validates the space and creates the study, or loads it if the storage already has a
    /// study of this name with the same space and direction.
    pub fn build(self) -> Result<Study> {
        if let Some(space) = &self.space {
            space.validate()?;
        }
        let storage = self.storage.unwrap_or_else(|| Arc::new(InMemoryStorage::new()));
        let id = storage.create_study(&self.name, self.direction, self.space.as_ref())?;
        Ok(Study {
            shared: Arc::new(Shared {
                name: self.name,
                id,
                direction: self.direction,
                space: self.space,
                storage,
                sampler: self.sampler.unwrap_or_else(|| Box::new(RandomSampler::new(0))),
                pruner: self.pruner.unwrap_or_else(|| Box::new(NopPruner)),
                max_failures_in_a_row: self.max_failures_in_a_row,
            }),
        })
    }
}

/// An optimisation: a name in a storage, a direction, an optional declared space, a sampler
/// and a pruner.
///
/// ```
/// use anneal_hpo::prelude::*;
///
/// let study = Study::builder("quadratic").sampler(TpeSampler::new(1)).build()?;
/// let trials = study.optimize(30, |trial| {
///     let x = trial.suggest_float("x", -10.0, 10.0)?;
///     let layers = trial.suggest_int("layers", 1, 4)?;
///     Ok((x - 2.0).powi(2) + layers as f64)
/// })?;
/// assert_eq!(trials.len(), 30);
/// let best = study.best_trial()?.expect("a complete trial");
/// assert!(best.value.unwrap() < 3.0);
/// # Ok::<(), anneal_hpo::HpoError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Study {
    shared: Arc<Shared>,
}

impl Study {
    /// Settings for a study called `name`.
    pub fn builder(name: impl Into<String>) -> StudyBuilder {
        StudyBuilder {
            name: name.into(),
            direction: Direction::Minimize,
            space: None,
            storage: None,
            sampler: None,
            pruner: None,
            max_failures_in_a_row: 10,
        }
    }

    /// The study's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The study's id in its storage.
    pub fn id(&self) -> StudyId {
        self.shared.id
    }

    /// Minimise or maximise.
    pub fn direction(&self) -> Direction {
        self.shared.direction
    }

    /// The declared search space, if any.
    pub fn space(&self) -> Option<&SearchSpace> {
        self.shared.space.as_ref()
    }

    /// The storage.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.shared.storage
    }

    /// All trials, in number order.
    pub fn trials(&self) -> Result<Vec<Arc<FrozenTrial>>> {
        self.shared.storage.trials(self.shared.id, None)
    }

    /// The best complete trial, if there is one.
    pub fn best_trial(&self) -> Result<Option<Arc<FrozenTrial>>> {
        let d = self.shared.direction;
        Ok(self.shared.storage.trials(self.shared.id, Some(&[TrialState::Complete]))?.into_iter().fold(
            None,
            |best: Option<Arc<FrozenTrial>>, t| match (&best, t.value) {
                (Some(b), Some(v)) if !d.better(v, b.value.unwrap_or(f64::NAN)) => best,
                (_, Some(_)) => Some(t),
                _ => best,
            },
        ))
    }

    /// Fails the running trials whose worker has not sent a heartbeat (a report or
    /// [`Trial::heartbeat`]) for `timeout`, and returns them.
    pub fn fail_stale_trials(&self, timeout: Duration) -> Result<Vec<FrozenTrial>> {
        self.shared.storage.fail_stale_trials(self.shared.id, timeout.as_millis() as u64, now_ms())
    }

    /// Starts a trial: creates it in storage and samples the jointly sampled parameters.
    pub fn ask(&self) -> Result<Trial> {
        let sh = &self.shared;
        self.ask_with(|| sh.storage.create_trial(sh.id, now_ms()).map(Some))?
            .ok_or_else(|| HpoError::UnknownStudy { study: sh.name.clone() })
    }

    /// Starts a trial only while the study has fewer than `limit` trials running,
    /// complete or pruned (across every worker and process sharing its storage);
    /// `None` once it has them.
    pub fn ask_within(&self, limit: u64) -> Result<Option<Trial>> {
        let sh = &self.shared;
        self.ask_with(|| sh.storage.create_trial_within(sh.id, limit, now_ms()))
    }

    fn ask_with(&self, create: impl FnOnce() -> Result<Option<FrozenTrial>>) -> Result<Option<Trial>> {
        let sh = &self.shared;
        let history = sh.storage.trials(sh.id, None)?;
        let relative_space: Vec<(String, Distribution)> = match &sh.space {
            Some(space) => space
                .params()
                .iter()
                .filter(|p| p.condition.is_none() && !p.distribution.is_single())
                .map(|p| (p.name.clone(), p.distribution.clone()))
                .collect(),
            None => intersection_space(&history),
        };
        let Some(frozen) = create()? else { return Ok(None) };
        let ctx = SampleContext {
            trials: &history,
            direction: sh.direction,
            number: frozen.number,
            space: sh.space.as_ref(),
        };
        let relative = if relative_space.is_empty() && sh.space.is_none() {
            BTreeMap::new()
        } else {
            sh.sampler.sample_relative(&ctx, &relative_space)?
        };
        Ok(Some(Trial {
            shared: Arc::clone(sh),
            id: frozen.id,
            number: frozen.number,
            params: BTreeMap::new(),
            relative,
            relative_space,
            history,
            intermediate: BTreeMap::new(),
        }))
    }

    /// Finishes `trial` with `value`: complete, or failed if the value is not finite.
    pub fn tell(&self, trial: Trial, value: f64) -> Result<FrozenTrial> {
        self.finish(&trial, Ok(value))
    }

    /// Finishes `trial` as pruned (its value is its last intermediate value).
    pub fn tell_pruned(&self, trial: Trial) -> Result<FrozenTrial> {
        self.finish(&trial, Err(ObjectiveError::Pruned))
    }

    /// Finishes `trial` as failed.
    pub fn tell_failed(&self, trial: Trial) -> Result<FrozenTrial> {
        self.finish(&trial, Err(ObjectiveError::Failed(String::new())))
    }

    fn finish(&self, trial: &Trial, outcome: std::result::Result<f64, ObjectiveError>) -> Result<FrozenTrial> {
        let (state, value) = match outcome {
            Ok(v) if v.is_finite() => (TrialState::Complete, Some(v)),
            Ok(_) => (TrialState::Failed, None),
            Err(ObjectiveError::Pruned) => {
                (TrialState::Pruned, trial.intermediate.values().next_back().copied().filter(|v| v.is_finite()))
            }
            Err(_) => (TrialState::Failed, None),
        };
        self.shared.storage.finish_trial(trial.id, state, value, now_ms())
    }

    /// Runs `objective` for `n_trials` trials, one after another, and returns the finished
    /// trials. An objective error or panic fails that trial and the study goes on; an
    /// [`ObjectiveError::Hpo`] (a bad distribution, a storage error) stops it.
    pub fn optimize<F>(&self, n_trials: usize, objective: F) -> Result<Vec<FrozenTrial>>
    where
        F: Fn(&mut Trial) -> std::result::Result<f64, ObjectiveError> + Sync,
    {
        self.optimize_parallel(n_trials, 1, objective)
    }

    /// As [`optimize`](Self::optimize), with `n_threads` worker threads sharing the storage.
    /// Every trial that finished is in storage before this returns, whatever else failed.
    pub fn optimize_parallel<F>(&self, n_trials: usize, n_threads: usize, objective: F) -> Result<Vec<FrozenTrial>>
    where
        F: Fn(&mut Trial) -> std::result::Result<f64, ObjectiveError> + Sync,
    {
        let sampler = &self.shared.sampler;
        sampler.check_budget(self.shared.space.as_ref(), n_trials)?;
        let n_trials = match sampler.trial_limit(self.shared.space.as_ref()) {
            Some(limit) => n_trials.min(usize::try_from(limit).unwrap_or(usize::MAX)),
            None => n_trials,
        };
        let claimed = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let finished = Mutex::new(Vec::with_capacity(n_trials));
        let first_error: Mutex<Option<HpoError>> = Mutex::new(None);
        let worker = || {
            while !stop.load(Ordering::SeqCst) && claimed.fetch_add(1, Ordering::SeqCst) < n_trials {
                match self.run_one(&objective) {
                    Ok(t) => finished.lock().unwrap_or_else(|e| e.into_inner()).push(t),
                    Err(e) => {
                        stop.store(true, Ordering::SeqCst);
                        first_error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                    }
                }
            }
        };
        if n_threads <= 1 {
            worker();
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..n_threads).map(|_| scope.spawn(worker)).collect();
                for h in handles {
                    if let Err(panic) = h.join() {
                        first_error
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(HpoError::WorkerPanicked { message: panic_message(&panic) });
                    }
                }
            });
        }
        if let Some(e) = first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        let mut trials = finished.into_inner().unwrap_or_else(|e| e.into_inner());
        trials.sort_by_key(|t| t.number);
        Ok(trials)
    }

    /// Runs trials until the study holds `target` complete or pruned trials, counting
    /// those of earlier runs and of other workers or processes sharing its storage: run
    /// it again after a crash and it resumes where the study stands. `n_threads` workers
    /// run here. While a trial runs, a ticker refreshes its heartbeat every
    /// `heartbeat_timeout / 4`; running trials of workers silent for longer than
    /// `heartbeat_timeout` (a killed process) are failed, and their slots handed out
    /// again. A trial whose objective fails is recorded as failed and its slot handed out
    /// again too, but when [`max_failures_in_a_row`](StudyBuilder::max_failures_in_a_row)
    /// trials of this call fail one after another the call stops with
    /// [`HpoError::FailingObjective`]. Returns the trials finished by this call.
    pub fn optimize_until<F>(
        &self,
        target: usize,
        n_threads: usize,
        heartbeat_timeout: Duration,
        objective: F,
    ) -> Result<Vec<FrozenTrial>>
    where
        F: Fn(&mut Trial) -> std::result::Result<f64, ObjectiveError> + Sync,
    {
        let sampler = &self.shared.sampler;
        sampler.check_budget(self.shared.space.as_ref(), target)?;
        let target = match sampler.trial_limit(self.shared.space.as_ref()) {
            Some(limit) => target.min(usize::try_from(limit).unwrap_or(usize::MAX)),
            None => target,
        } as u64;
        let tick = (heartbeat_timeout / 4).max(Duration::from_millis(10));
        let stop = AtomicBool::new(false);
        let finished = Mutex::new(Vec::new());
        let first_error: Mutex<Option<HpoError>> = Mutex::new(None);
        let fail = |e: HpoError| {
            stop.store(true, Ordering::SeqCst);
            first_error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
        };
        // Objective failures since the last trial that completed or was pruned.
        let failures_in_a_row = Mutex::new(0usize);
        let worker = || {
            while !stop.load(Ordering::SeqCst) {
                if let Err(e) = self.fail_stale_trials(heartbeat_timeout) {
                    return fail(e);
                }
                let trial = match self.ask_within(target) {
                    Ok(t) => t,
                    Err(e) => return fail(e),
                };
                let Some(mut trial) = trial else {
                    // Every slot is taken: done once none is running any more (a
                    // running trial of a dead worker fails and frees its slot). Polled
                    // at most a second apart, so the last trial's end is noticed soon.
                    match self.shared.storage.trials(self.shared.id, Some(&[TrialState::Running])) {
                        Ok(running) if running.is_empty() => return,
                        Ok(_) => std::thread::sleep(tick.min(Duration::from_secs(1))),
                        Err(e) => return fail(e),
                    }
                    continue;
                };
                let (storage, id) = (Arc::clone(&self.shared.storage), trial.id);
                let done = AtomicBool::new(false);
                let outcome = std::thread::scope(|scope| {
                    let ticker = scope.spawn(|| {
                        while !done.load(Ordering::SeqCst) {
                            std::thread::park_timeout(tick);
                            if !done.load(Ordering::SeqCst) {
                                let _ = storage.heartbeat(id, now_ms());
                            }
                        }
                    });
                    let outcome = catch_unwind(AssertUnwindSafe(|| objective(&mut trial)))
                        .unwrap_or_else(|panic| Err(ObjectiveError::Failed(panic_message(&panic))));
                    done.store(true, Ordering::SeqCst);
                    ticker.thread().unpark();
                    outcome
                });
                let failure = match &outcome {
                    Err(ObjectiveError::Failed(message)) => Some(message.clone()),
                    _ => None,
                };
                let result = match outcome {
                    Err(ObjectiveError::Hpo(e)) => {
                        let _ = self.finish(&trial, Err(ObjectiveError::Failed(String::new())));
                        Err(e)
                    }
                    outcome => self.finish(&trial, outcome),
                };
                if result.is_ok() {
                    let mut count = failures_in_a_row.lock().unwrap_or_else(|e| e.into_inner());
                    match failure {
                        Some(last) => {
                            *count += 1;
                            if *count >= self.shared.max_failures_in_a_row {
                                return fail(HpoError::FailingObjective { count: *count, last });
                            }
                        }
                        None => *count = 0,
                    }
                }
                match result {
                    Ok(t) => finished.lock().unwrap_or_else(|e| e.into_inner()).push(t),
                    // Failed for staleness meanwhile (a very long pause): not ours to record.
                    Err(HpoError::TrialNotRunning { .. }) => {}
                    Err(e) => return fail(e),
                }
            }
        };
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n_threads.max(1)).map(|_| scope.spawn(worker)).collect();
            for h in handles {
                if let Err(panic) = h.join() {
                    fail(HpoError::WorkerPanicked { message: panic_message(&panic) });
                }
            }
        });
        if let Some(e) = first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        let mut trials = finished.into_inner().unwrap_or_else(|e| e.into_inner());
        trials.sort_by_key(|t| t.number);
        Ok(trials)
    }

    fn run_one<F>(&self, objective: &F) -> Result<FrozenTrial>
    where
        F: Fn(&mut Trial) -> std::result::Result<f64, ObjectiveError>,
    {
        let mut trial = self.ask()?;
        let outcome = catch_unwind(AssertUnwindSafe(|| objective(&mut trial)))
            .unwrap_or_else(|panic| Err(ObjectiveError::Failed(panic_message(&panic))));
        match outcome {
            Err(ObjectiveError::Hpo(e)) => {
                // Keep the record consistent, then stop the study with the real error.
                let _ = self.finish(&trial, Err(ObjectiveError::Failed(String::new())));
                Err(e)
            }
            outcome => self.finish(&trial, outcome),
        }
    }

    /// Synchronous successive halving (Jamieson & Talwalkar 2016): `n` configurations are
    /// sampled, each is evaluated with budget `min_budget`, the best `1/eta` go on with
    /// `eta` times the budget, and so on until one is left. `objective(trial, budget)` is
    /// called once per rung for each surviving trial (it may resume from a checkpoint kept
    /// under [`Trial::number`]); its value is reported at step `round(budget)`. Survivors of
    /// the last rung complete, the others are pruned.
    pub fn successive_halving<F>(&self, n: usize, min_budget: f64, eta: f64, objective: F) -> Result<Vec<FrozenTrial>>
    where
        F: Fn(&mut Trial, f64) -> std::result::Result<f64, ObjectiveError>,
    {
        let rungs = schedule::successive_halving(n, min_budget, eta, None)?;
        self.run_bracket(&rungs, &objective)
    }

    /// Hyperband (Li et al. 2018, Algorithm 1) with maximum budget `max_budget` (R) and
    /// `eta`: successive halving over each bracket of [`schedule::hyperband_brackets`], most
    /// aggressive first. Returns every trial it finished.
    pub fn hyperband<F>(&self, max_budget: f64, eta: f64, objective: F) -> Result<Vec<FrozenTrial>>
    where
        F: Fn(&mut Trial, f64) -> std::result::Result<f64, ObjectiveError>,
    {
        let mut all = Vec::new();
        for bracket in schedule::hyperband_brackets(max_budget, eta)? {
            all.extend(self.run_bracket(&bracket.rungs, &objective)?);
        }
        Ok(all)
    }

    fn run_bracket<F>(&self, rungs: &[Rung], objective: &F) -> Result<Vec<FrozenTrial>>
    where
        F: Fn(&mut Trial, f64) -> std::result::Result<f64, ObjectiveError>,
    {
        let mut finished = Vec::new();
        let mut alive: Vec<Trial> = Vec::new();
        for _ in 0..rungs[0].n_configs {
            alive.push(self.ask()?);
        }
        for (i, rung) in rungs.iter().enumerate() {
            let mut scored: Vec<(Trial, f64)> = Vec::new();
            for mut trial in alive.drain(..) {
                let outcome = catch_unwind(AssertUnwindSafe(|| objective(&mut trial, rung.budget)))
                    .unwrap_or_else(|panic| Err(ObjectiveError::Failed(panic_message(&panic))));
                match outcome {
                    Ok(v) if v.is_finite() => {
                        trial.report((rung.budget.round() as u64).max(1), v)?;
                        scored.push((trial, v));
                    }
                    Err(ObjectiveError::Hpo(e)) => {
                        let _ = self.finish(&trial, Err(ObjectiveError::Failed(String::new())));
                        return Err(e);
                    }
                    other => finished.push(self.finish(&trial, other)?),
                }
            }
            let d = self.shared.direction;
            scored.sort_by(|a, b| d.to_loss(a.1).total_cmp(&d.to_loss(b.1)));
            let keep = rungs.get(i + 1).map_or(scored.len(), |next| next.n_configs);
            for (k, (trial, v)) in scored.into_iter().enumerate() {
                if i + 1 == rungs.len() {
                    finished.push(self.finish(&trial, Ok(v))?);
                } else if k < keep {
                    alive.push(trial);
                } else {
                    finished.push(self.finish(&trial, Err(ObjectiveError::Pruned))?);
                }
            }
        }
        finished.sort_by_key(|t| t.number);
        Ok(finished)
    }
}

/// The distributions every finished (complete or pruned) trial shares, by name: the
/// jointly sampled parameters of a define-by-run study (Optuna's intersection search space).
fn intersection_space(history: &[Arc<FrozenTrial>]) -> Vec<(String, Distribution)> {
    let mut finished = history.iter().filter(|t| matches!(t.state, TrialState::Complete | TrialState::Pruned));
    let Some(first) = finished.next() else { return Vec::new() };
    let mut space = first.distributions.clone();
    for t in finished {
        space.retain(|k, d| t.distributions.get(k) == Some(d));
    }
    space.into_iter().filter(|(_, d)| !d.is_single()).collect()
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// A running trial: suggest parameters, report intermediate values, ask whether to stop.
#[derive(Debug)]
pub struct Trial {
    shared: Arc<Shared>,
    id: TrialId,
    number: u64,
    params: BTreeMap<String, (Distribution, f64)>,
    relative: BTreeMap<String, f64>,
    relative_space: Vec<(String, Distribution)>,
    history: Vec<Arc<FrozenTrial>>,
    intermediate: BTreeMap<u64, f64>,
}

impl Trial {
    /// The trial's number in its study (0-based, creation order).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The trial's id in storage.
    pub fn id(&self) -> TrialId {
        self.id
    }

    /// The parameters suggested so far.
    pub fn params(&self) -> BTreeMap<String, ParamValue> {
        self.params.iter().map(|(k, (d, v))| (k.clone(), d.to_external(*v))).collect()
    }

    /// A value for parameter `name` drawn from `distribution` (the same value again if the
    /// trial already suggested it).
    pub fn suggest(&mut self, name: &str, distribution: &Distribution) -> Result<ParamValue> {
        distribution.validate(name)?;
        if let Some((d, v)) = self.params.get(name) {
            if d != distribution {
                return Err(HpoError::ParamRedefined { number: self.number, param: name.into() });
            }
            return Ok(d.to_external(*v));
        }
        let from_relative = self.relative.get(name).copied().filter(|&v| distribution.contains(v)).filter(|_| {
            match &self.shared.space {
                Some(space) => space.get(name).is_some_and(|p| &p.distribution == distribution),
                None => self.relative_space.iter().any(|(n, d)| n == name && d == distribution),
            }
        });
        let internal = match from_relative {
            Some(v) => v,
            None => {
                let ctx = SampleContext {
                    trials: &self.history,
                    direction: self.shared.direction,
                    number: self.number,
                    space: self.shared.space.as_ref(),
                };
                distribution.snap(self.shared.sampler.sample_independent(&ctx, name, distribution)?)
            }
        };
        self.shared.storage.set_param(self.id, name, distribution, internal)?;
        self.params.insert(name.into(), (distribution.clone(), internal));
        Ok(distribution.to_external(internal))
    }

    /// A float in `[low, high]`.
    pub fn suggest_float(&mut self, name: &str, low: f64, high: f64) -> Result<f64> {
        self.suggest_f64(name, Distribution::float(low, high))
    }

    /// A float in `[low, high]`, log-uniform.
    pub fn suggest_float_log(&mut self, name: &str, low: f64, high: f64) -> Result<f64> {
        self.suggest_f64(name, Distribution::log_float(low, high))
    }

    /// A float on the grid `low, low + step, …`.
    pub fn suggest_float_step(&mut self, name: &str, low: f64, high: f64, step: f64) -> Result<f64> {
        self.suggest_f64(name, Distribution::float_step(low, high, step))
    }

    fn suggest_f64(&mut self, name: &str, d: Distribution) -> Result<f64> {
        Ok(self.suggest(name, &d)?.as_f64().unwrap_or(f64::NAN))
    }

    /// An integer in `[low, high]`.
    pub fn suggest_int(&mut self, name: &str, low: i64, high: i64) -> Result<i64> {
        self.suggest_i64(name, Distribution::int(low, high))
    }

    /// An integer in `[low, high]`, log-uniform.
    pub fn suggest_int_log(&mut self, name: &str, low: i64, high: i64) -> Result<i64> {
        self.suggest_i64(name, Distribution::log_int(low, high))
    }

    /// An integer on the grid `low, low + step, …`.
    pub fn suggest_int_step(&mut self, name: &str, low: i64, high: i64, step: i64) -> Result<i64> {
        self.suggest_i64(name, Distribution::int_step(low, high, step))
    }

    fn suggest_i64(&mut self, name: &str, d: Distribution) -> Result<i64> {
        Ok(self.suggest(name, &d)?.as_i64().unwrap_or_default())
    }

    /// One of `choices`.
    pub fn suggest_categorical<T: Clone + Into<Choice>>(&mut self, name: &str, choices: &[T]) -> Result<T> {
        let d = Distribution::categorical(choices.iter().cloned());
        let internal = match self.suggest(name, &d)? {
            ParamValue::Categorical(c) => d.to_internal(&ParamValue::Categorical(c)).unwrap_or(0.0),
            _ => 0.0,
        };
        Ok(choices[internal as usize].clone())
    }

    /// Suggests every parameter of the study's declared space that is active (conditional
    /// parameters only when their parent took one of their values).
    pub fn suggest_space(&mut self) -> Result<BTreeMap<String, ParamValue>> {
        let space = self.shared.space.clone().ok_or(HpoError::SpaceRequired { what: "Trial::suggest_space" })?;
        let mut out = BTreeMap::new();
        for p in space.params() {
            let assigned: BTreeMap<String, f64> = self.params.iter().map(|(k, (_, v))| (k.clone(), *v)).collect();
            if space.is_active(p, &assigned) {
                out.insert(p.name.clone(), self.suggest(&p.name, &p.distribution)?);
            }
        }
        Ok(out)
    }

    /// Records the objective's value after `step` (an epoch, a number of samples) and
    /// refreshes the heartbeat.
    pub fn report(&mut self, step: u64, value: f64) -> Result<()> {
        self.shared.storage.report(self.id, step, value, now_ms())?;
        self.intermediate.insert(step, value);
        Ok(())
    }

    /// Tells the storage this trial's worker is alive.
    pub fn heartbeat(&self) -> Result<()> {
        self.shared.storage.heartbeat(self.id, now_ms())
    }

    /// True if the study's pruner says this trial should stop now; the objective then
    /// returns `Err(ObjectiveError::Pruned)`.
    pub fn should_prune(&self) -> Result<bool> {
        let trials = self.shared.storage.trials(self.shared.id, None)?;
        let Some(me) = trials.iter().find(|t| t.id == self.id) else {
            return Err(HpoError::UnknownTrial { id: self.id });
        };
        Ok(self.shared.pruner.prune(&PruneContext { trial: me, trials: &trials, direction: self.shared.direction }))
    }
}
