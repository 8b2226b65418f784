//! [`PostgresStorage`]: a PostgreSQL database shared by workers on many machines
//! (cargo feature `postgres`).
//!
//! Every operation is one transaction. A new trial's number is assigned while the
//! study's row is locked (`SELECT ... FOR UPDATE`), and `UNIQUE (study, number)`
//! backs that up; a study is created with `INSERT ... ON CONFLICT DO NOTHING`, so
//! workers starting together agree on one study.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use postgres::{Client, NoTls, Transaction};

use crate::error::{HpoError, Result};
use crate::space::{Distribution, SearchSpace};
use crate::storage::{Direction, FrozenTrial, Millis, Storage, StudyId, StudySummary, TrialId, TrialState};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS anneal_studies (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    direction TEXT NOT NULL,
    space TEXT
);
CREATE TABLE IF NOT EXISTS anneal_trials (
    id BIGSERIAL PRIMARY KEY,
    study BIGINT NOT NULL REFERENCES anneal_studies(id),
    number BIGINT NOT NULL,
    state TEXT NOT NULL,
    value DOUBLE PRECISION,
    started_ms BIGINT NOT NULL,
    finished_ms BIGINT,
    heartbeat_ms BIGINT NOT NULL,
    UNIQUE (study, number)
);
CREATE TABLE IF NOT EXISTS anneal_params (
    trial BIGINT NOT NULL REFERENCES anneal_trials(id),
    name TEXT NOT NULL,
    distribution TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (trial, name)
);
CREATE TABLE IF NOT EXISTS anneal_intermediate (
    trial BIGINT NOT NULL REFERENCES anneal_trials(id),
    step BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (trial, step)
);
";

/// Trials in a PostgreSQL database (tables prefixed `anneal_`).
pub struct PostgresStorage {
    /// The URL with any password removed, for messages.
    url: String,
    client: Mutex<Client>,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").field("url", &self.url).finish_non_exhaustive()
    }
}

use crate::open::{redact_message, redact_url as redact};

impl PostgresStorage {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and creates
    /// the tables if they are missing.
    pub fn connect(url: &str) -> Result<Self> {
        let redacted = redact(url);
        let mut client = Client::connect(url, NoTls)
            .map_err(|e| HpoError::Storage { url: redacted.clone(), message: redact_message(&e.to_string(), url) })?;
        // Concurrent CREATE TABLE IF NOT EXISTS can race on the catalog; one advisory
        // lock around the schema makes workers starting together safe.
        let mut tx =
            client.transaction().map_err(|e| HpoError::Storage { url: redacted.clone(), message: e.to_string() })?;
        tx.execute("SELECT pg_advisory_xact_lock(7246195)", &[])
            .and_then(|_| tx.batch_execute(SCHEMA))
            .map_err(|e| HpoError::Storage { url: redacted.clone(), message: e.to_string() })?;
        tx.commit().map_err(|e| HpoError::Storage { url: redacted.clone(), message: e.to_string() })?;
        Ok(Self { url: redacted, client: Mutex::new(client) })
    }

    fn lock(&self) -> MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn err(&self, e: impl std::fmt::Display) -> HpoError {
        HpoError::Storage { url: self.url.clone(), message: e.to_string() }
    }

    /// Runs `f` in one transaction, committed if it returns `Ok`.
    fn tx<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut client = self.lock();
        let mut tx = client.transaction().map_err(|e| self.err(e))?;
        let value = f(&mut tx)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(value)
    }

    fn load_trials(
        &self,
        tx: &mut Transaction<'_>,
        filter: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<FrozenTrial>> {
        let rows = tx
            .query(
                &format!(
                    "SELECT id, number, state, value, started_ms, finished_ms, heartbeat_ms FROM anneal_trials WHERE {filter} ORDER BY number"
                ),
                args,
            )
            .map_err(|e| self.err(e))?;
        let mut trials: Vec<FrozenTrial> = rows
            .iter()
            .map(|r| FrozenTrial {
                id: r.get::<_, i64>(0) as TrialId,
                number: r.get::<_, i64>(1) as u64,
                state: TrialState::from_stored(r.get(2)),
                params: BTreeMap::new(),
                distributions: BTreeMap::new(),
                value: r.get(3),
                intermediate: BTreeMap::new(),
                started_ms: r.get::<_, i64>(4) as Millis,
                finished_ms: r.get::<_, Option<i64>>(5).map(|v| v as Millis),
                heartbeat_ms: r.get::<_, i64>(6) as Millis,
            })
            .collect();
        if trials.is_empty() {
            return Ok(trials);
        }
        let index: BTreeMap<TrialId, usize> = trials.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
        let ids: Vec<i64> = trials.iter().map(|t| t.id as i64).collect();
        for r in tx
            .query("SELECT trial, name, distribution, value FROM anneal_params WHERE trial = ANY($1)", &[&ids])
            .map_err(|e| self.err(e))?
        {
            let distribution: Distribution =
                serde_json::from_str(r.get(2)).map_err(|e| self.err(format!("stored JSON is invalid: {e}")))?;
            let t = &mut trials[index[&(r.get::<_, i64>(0) as TrialId)]];
            let name: String = r.get(1);
            t.params.insert(name.clone(), r.get(3));
            t.distributions.insert(name, distribution);
        }
        for r in tx
            .query("SELECT trial, step, value FROM anneal_intermediate WHERE trial = ANY($1)", &[&ids])
            .map_err(|e| self.err(e))?
        {
            trials[index[&(r.get::<_, i64>(0) as TrialId)]].intermediate.insert(r.get::<_, i64>(1) as u64, r.get(2));
        }
        Ok(trials)
    }

    /// The number of a running trial (locking its row), or the error for one that is not.
    fn running_number(&self, tx: &mut Transaction<'_>, trial: TrialId) -> Result<u64> {
        let row = tx
            .query_opt("SELECT number, state FROM anneal_trials WHERE id = $1 FOR UPDATE", &[&(trial as i64)])
            .map_err(|e| self.err(e))?;
        match row {
            None => Err(HpoError::UnknownTrial { id: trial }),
            Some(r) => {
                let (number, state): (i64, String) = (r.get(0), r.get(1));
                if state != "running" {
                    return Err(HpoError::TrialNotRunning {
                        number: number as u64,
                        state: TrialState::from_stored(&state).as_str(),
                    });
                }
                Ok(number as u64)
            }
        }
    }
}

impl Storage for PostgresStorage {
    fn create_study(&self, name: &str, direction: Direction, space: Option<&SearchSpace>) -> Result<StudyId> {
        let space_json = space.map(serde_json::to_string).transpose().map_err(|e| self.err(e))?;
        self.tx(|tx| {
            tx.execute(
                "INSERT INTO anneal_studies (name, direction, space) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                &[&name, &direction.as_str(), &space_json],
            )
            .map_err(|e| self.err(e))?;
            let r = tx
                .query_one("SELECT id, direction, space FROM anneal_studies WHERE name = $1", &[&name])
                .map_err(|e| self.err(e))?;
            let stored: Option<SearchSpace> = r
                .get::<_, Option<String>>(2)
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(|e| self.err(format!("stored JSON is invalid: {e}")))?;
            if stored.as_ref() != space {
                return Err(HpoError::StudyConflict { study: name.into(), what: "search space" });
            }
            if r.get::<_, String>(1) != direction.as_str() {
                return Err(HpoError::StudyConflict { study: name.into(), what: "direction" });
            }
            Ok(r.get::<_, i64>(0) as StudyId)
        })
    }

    fn study_id(&self, name: &str) -> Result<StudyId> {
        self.tx(|tx| {
            tx.query_opt("SELECT id FROM anneal_studies WHERE name = $1", &[&name])
                .map_err(|e| self.err(e))?
                .map(|r| r.get::<_, i64>(0) as StudyId)
                .ok_or_else(|| HpoError::UnknownStudy { study: name.into() })
        })
    }

    fn studies(&self) -> Result<Vec<StudySummary>> {
        self.tx(|tx| {
            let rows = tx
                .query(
                    "SELECT s.id, s.name, s.direction, t.state, COUNT(t.id) FROM anneal_studies s \
                     LEFT JOIN anneal_trials t ON t.study = s.id GROUP BY s.id, t.state ORDER BY s.id",
                    &[],
                )
                .map_err(|e| self.err(e))?;
            let mut studies: Vec<StudySummary> = Vec::new();
            for r in rows {
                let id = r.get::<_, i64>(0) as StudyId;
                if studies.last().is_none_or(|s| s.id != id) {
                    studies.push(StudySummary {
                        id,
                        name: r.get(1),
                        direction: Direction::from_stored(&r.get::<_, String>(2)),
                        counts: BTreeMap::new(),
                    });
                }
                if let (Some(state), Some(s)) = (r.get::<_, Option<String>>(3), studies.last_mut()) {
                    s.counts.insert(TrialState::from_stored(&state), r.get::<_, i64>(4) as u64);
                }
            }
            Ok(studies)
        })
    }

    fn create_trial(&self, study: StudyId, now: Millis) -> Result<FrozenTrial> {
        self.create_trial_within(study, u64::MAX, now)?.ok_or(HpoError::UnknownStudy { study: study.to_string() })
    }

    fn create_trial_within(&self, study: StudyId, limit: u64, now: Millis) -> Result<Option<FrozenTrial>> {
        self.tx(|tx| {
            // Locking the study row serialises number assignment across workers.
            tx.query_opt("SELECT id FROM anneal_studies WHERE id = $1 FOR UPDATE", &[&(study as i64)])
                .map_err(|e| self.err(e))?
                .ok_or_else(|| HpoError::UnknownStudy { study: study.to_string() })?;
            let active: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM anneal_trials WHERE study = $1 AND state <> 'failed'",
                    &[&(study as i64)],
                )
                .map_err(|e| self.err(e))?
                .get(0);
            if u64::try_from(active).unwrap_or(0) >= limit {
                return Ok(None);
            }
            let r = tx
                .query_one(
                    "INSERT INTO anneal_trials (study, number, state, started_ms, heartbeat_ms)
                     SELECT $1, COALESCE(MAX(number) + 1, 0), 'running', $2, $2 FROM anneal_trials WHERE study = $1
                     RETURNING id, number",
                    &[&(study as i64), &(now as i64)],
                )
                .map_err(|e| self.err(e))?;
            Ok(Some(FrozenTrial::running(r.get::<_, i64>(0) as TrialId, r.get::<_, i64>(1) as u64, now)))
        })
    }

    fn set_param(&self, trial: TrialId, name: &str, distribution: &Distribution, internal: f64) -> Result<()> {
        if !distribution.contains(internal) {
            return Err(HpoError::ValueOutOfRange { param: name.into(), value: internal.to_string() });
        }
        let json = serde_json::to_string(distribution).map_err(|e| self.err(e))?;
        self.tx(|tx| {
            let number = self.running_number(tx, trial)?;
            if let Some(r) = tx
                .query_opt(
                    "SELECT distribution FROM anneal_params WHERE trial = $1 AND name = $2",
                    &[&(trial as i64), &name],
                )
                .map_err(|e| self.err(e))?
            {
                let stored: Distribution =
                    serde_json::from_str(r.get(0)).map_err(|e| self.err(format!("stored JSON is invalid: {e}")))?;
                if &stored != distribution {
                    return Err(HpoError::ParamRedefined { number, param: name.into() });
                }
            }
            tx.execute(
                "INSERT INTO anneal_params (trial, name, distribution, value) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (trial, name) DO UPDATE SET value = EXCLUDED.value",
                &[&(trial as i64), &name, &json, &internal],
            )
            .map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    fn report(&self, trial: TrialId, step: u64, value: f64, now: Millis) -> Result<()> {
        self.tx(|tx| {
            self.running_number(tx, trial)?;
            tx.execute(
                "INSERT INTO anneal_intermediate (trial, step, value) VALUES ($1, $2, $3)
                 ON CONFLICT (trial, step) DO UPDATE SET value = EXCLUDED.value",
                &[&(trial as i64), &(step as i64), &value],
            )
            .map_err(|e| self.err(e))?;
            tx.execute(
                "UPDATE anneal_trials SET heartbeat_ms = GREATEST(heartbeat_ms, $2) WHERE id = $1",
                &[&(trial as i64), &(now as i64)],
            )
            .map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    fn heartbeat(&self, trial: TrialId, now: Millis) -> Result<()> {
        self.tx(|tx| {
            self.running_number(tx, trial)?;
            tx.execute(
                "UPDATE anneal_trials SET heartbeat_ms = GREATEST(heartbeat_ms, $2) WHERE id = $1",
                &[&(trial as i64), &(now as i64)],
            )
            .map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    fn finish_trial(&self, trial: TrialId, state: TrialState, value: Option<f64>, now: Millis) -> Result<FrozenTrial> {
        self.tx(|tx| {
            self.running_number(tx, trial)?;
            tx.execute(
                "UPDATE anneal_trials SET state = $2, value = $3, finished_ms = $4 WHERE id = $1",
                &[&(trial as i64), &state.as_str(), &value, &(now as i64)],
            )
            .map_err(|e| self.err(e))?;
            self.load_trials(tx, "id = $1", &[&(trial as i64)])?.pop().ok_or(HpoError::UnknownTrial { id: trial })
        })
    }

    fn trial(&self, trial: TrialId) -> Result<FrozenTrial> {
        self.tx(|tx| {
            self.load_trials(tx, "id = $1", &[&(trial as i64)])?.pop().ok_or(HpoError::UnknownTrial { id: trial })
        })
    }

    fn trials(&self, study: StudyId, states: Option<&[TrialState]>) -> Result<Vec<Arc<FrozenTrial>>> {
        let trials = self.tx(|tx| {
            tx.query_opt("SELECT id FROM anneal_studies WHERE id = $1", &[&(study as i64)])
                .map_err(|e| self.err(e))?
                .ok_or_else(|| HpoError::UnknownStudy { study: study.to_string() })?;
            match states {
                None => self.load_trials(tx, "study = $1", &[&(study as i64)]),
                Some(states) => {
                    let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
                    self.load_trials(tx, "study = $1 AND state = ANY($2)", &[&(study as i64), &names])
                }
            }
        })?;
        Ok(trials.into_iter().map(Arc::new).collect())
    }

    fn fail_stale_trials(&self, study: StudyId, timeout_ms: Millis, now: Millis) -> Result<Vec<FrozenTrial>> {
        let cutoff = now.saturating_sub(timeout_ms) as i64;
        self.tx(|tx| {
            let rows = tx
                .query(
                    "UPDATE anneal_trials SET state = 'failed', finished_ms = $3
                     WHERE study = $1 AND state = 'running' AND heartbeat_ms < $2 RETURNING id",
                    &[&(study as i64), &cutoff, &(now as i64)],
                )
                .map_err(|e| self.err(e))?;
            let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            self.load_trials(tx, "id = ANY($1)", &[&ids])
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(super::redact("postgres://me:s3cret@db:5432/hpo"), "postgres://me:***@db:5432/hpo");
        assert_eq!(super::redact("postgres://me:p@ss/w@db/hpo"), "postgres://me:***@db/hpo");
        assert_eq!(
            super::redact("postgresql://db/hpo?sslmode=off&password=s3cret&user=me"),
            "postgresql://db/hpo?sslmode=off&password=***&user=me"
        );
        assert_eq!(
            super::redact_message("connect to me:s3cret failed", "postgres://me:s3cret@db/x"),
            "connect to me:*** failed"
        );
        assert_eq!(super::redact("postgres://db/hpo"), "postgres://db/hpo");
    }
}
