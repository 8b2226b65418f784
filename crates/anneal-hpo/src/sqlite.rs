//! [`SqliteStorage`]: one SQLite file shared by threads and processes on one
//! machine (cargo feature `sqlite`, on by default; SQLite is compiled in).
//!
//! Safe sharing rests on three things: the database runs in WAL mode (readers never
//! block the writer), every connection waits up to a busy timeout instead of failing
//! with "database is locked", and every write is one `BEGIN IMMEDIATE` transaction,
//! which takes the write lock up front so two writers never deadlock upgrading a
//! read lock. Trial numbers come from `MAX(number) + 1` inside that transaction and a
//! `UNIQUE (study, number)` constraint, so no two workers get the same number.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::{HpoError, Result};
use crate::space::{Distribution, SearchSpace};
use crate::storage::{Direction, FrozenTrial, Millis, Storage, StudyId, StudySummary, TrialId, TrialState};

/// How long a connection waits for another process's write before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    direction TEXT NOT NULL,
    space TEXT
);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    study INTEGER NOT NULL REFERENCES studies(id),
    number INTEGER NOT NULL,
    state TEXT NOT NULL,
    value REAL,
    started_ms INTEGER NOT NULL,
    finished_ms INTEGER,
    heartbeat_ms INTEGER NOT NULL,
    UNIQUE (study, number)
);
CREATE INDEX IF NOT EXISTS trials_by_state ON trials (study, state);
CREATE TABLE IF NOT EXISTS params (
    trial INTEGER NOT NULL REFERENCES trials(id),
    name TEXT NOT NULL,
    distribution TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (trial, name)
);
CREATE TABLE IF NOT EXISTS intermediate (
    trial INTEGER NOT NULL REFERENCES trials(id),
    step INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (trial, step)
);
";

/// Trials in one SQLite file.
#[derive(Debug)]
pub struct SqliteStorage {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let err = |e: rusqlite::Error| storage_error(&path, e);
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        // WAL lets readers and one writer work at once; NORMAL sync is durable across
        // process crashes (a power cut may lose the last transactions, never corrupt).
        // Switching a new file to WAL needs its exclusive lock, and SQLite answers "database
        // is locked" at once, without the busy handler, when processes opening it together
        // would otherwise deadlock: so the switch and the schema are retried here.
        retry_while_busy(|| conn.pragma_update(None, "journal_mode", "WAL")).map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
        retry_while_busy(|| {
            conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;")).inspect_err(|_| {
                let _ = conn.execute_batch("ROLLBACK");
            })
        })
        .map_err(err)?;
        Ok(Self { path, conn: Mutex::new(conn) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic inside a transaction rolls it back when the transaction drops, so
        // the connection is consistent even if the lock was poisoned.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction.
    fn try_write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx =
            conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| storage_error(&self.path, e))?;
        let value = f(&tx)?;
        tx.commit().map_err(|e| storage_error(&self.path, e))?;
        Ok(value)
    }

    fn read<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        // A deferred transaction: one consistent snapshot for multi-table reads.
        let tx = conn.transaction().map_err(|e| storage_error(&self.path, e))?;
        let value = f(&tx)?;
        tx.commit().map_err(|e| storage_error(&self.path, e))?;
        Ok(value)
    }
}

/// Runs `f` again while SQLite answers "busy" or "locked", backing off up to 100 ms
/// between tries, for at most [`BUSY_TIMEOUT`].
fn retry_while_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                    && start.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

fn storage_error(path: &Path, e: impl std::fmt::Display) -> HpoError {
    HpoError::Storage { url: format!("sqlite://{}", path.display()), message: e.to_string() }
}

fn json_error(path: &Path, e: serde_json::Error) -> HpoError {
    storage_error(path, format!("stored JSON is invalid: {e}"))
}

/// Trial row columns, in this order, for [`SqliteStorage::load_trials`].
const TRIAL_COLUMNS: &str = "id, number, state, value, started_ms, finished_ms, heartbeat_ms";

impl SqliteStorage {
    /// Loads trials selected by `filter` (a WHERE clause over `trials`) with their
    /// parameters and intermediate values.
    fn load_trials(
        &self,
        tx: &rusqlite::Transaction<'_>,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<FrozenTrial>> {
        let e = |e| storage_error(&self.path, e);
        let mut stmt =
            tx.prepare(&format!("SELECT {TRIAL_COLUMNS} FROM trials WHERE {filter} ORDER BY number")).map_err(e)?;
        let rows = stmt
            .query_map(args, |r| {
                Ok(FrozenTrial {
                    id: r.get::<_, i64>(0)? as TrialId,
                    number: r.get::<_, i64>(1)? as u64,
                    state: TrialState::from_stored(&r.get::<_, String>(2)?),
                    params: BTreeMap::new(),
                    distributions: BTreeMap::new(),
                    value: r.get(3)?,
                    intermediate: BTreeMap::new(),
                    started_ms: r.get::<_, i64>(4)? as Millis,
                    finished_ms: r.get::<_, Option<i64>>(5)?.map(|v| v as Millis),
                    heartbeat_ms: r.get::<_, i64>(6)? as Millis,
                })
            })
            .map_err(e)?;
        let mut trials: Vec<FrozenTrial> = rows.collect::<rusqlite::Result<_>>().map_err(e)?;
        if trials.is_empty() {
            return Ok(trials);
        }
        let index: BTreeMap<TrialId, usize> = trials.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
        let ids = trials.iter().map(|t| t.id.to_string()).collect::<Vec<_>>().join(",");
        let mut stmt = tx
            .prepare(&format!("SELECT trial, name, distribution, value FROM params WHERE trial IN ({ids})"))
            .map_err(e)?;
        let params = stmt
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as TrialId, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?))
            })
            .map_err(e)?;
        for p in params {
            let (trial, name, distribution, value): (TrialId, String, String, f64) = p.map_err(e)?;
            let distribution: Distribution =
                serde_json::from_str(&distribution).map_err(|e| json_error(&self.path, e))?;
            let t = &mut trials[index[&trial]];
            t.params.insert(name.clone(), value);
            t.distributions.insert(name, distribution);
        }
        let mut stmt =
            tx.prepare(&format!("SELECT trial, step, value FROM intermediate WHERE trial IN ({ids})")).map_err(e)?;
        let values = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)? as TrialId, r.get::<_, i64>(1)? as u64, r.get(2)?)))
            .map_err(e)?;
        for v in values {
            let (trial, step, value): (TrialId, u64, f64) = v.map_err(e)?;
            trials[index[&trial]].intermediate.insert(step, value);
        }
        Ok(trials)
    }

    fn running_number(&self, tx: &rusqlite::Transaction<'_>, trial: TrialId) -> Result<u64> {
        let row: Option<(i64, String)> = tx
            .query_row("SELECT number, state FROM trials WHERE id = ?1", [trial as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(|e| storage_error(&self.path, e))?;
        match row {
            None => Err(HpoError::UnknownTrial { id: trial }),
            Some((number, state)) if state != "running" => Err(HpoError::TrialNotRunning {
                number: number as u64,
                state: TrialState::from_stored(&state).as_str(),
            }),
            Some((number, _)) => Ok(number as u64),
        }
    }
}

impl Storage for SqliteStorage {
    fn create_study(&self, name: &str, direction: Direction, space: Option<&SearchSpace>) -> Result<StudyId> {
        let space_json = space.map(serde_json::to_string).transpose().map_err(|e| json_error(&self.path, e))?;
        self.try_write(|tx| {
            let e = |e| storage_error(&self.path, e);
            let existing: Option<(i64, String, Option<String>)> = tx
                .query_row("SELECT id, direction, space FROM studies WHERE name = ?1", [name], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
                .map_err(e)?;
            if let Some((id, stored_direction, stored_space)) = existing {
                let stored: Option<SearchSpace> = stored_space
                    .map(|s| serde_json::from_str(&s))
                    .transpose()
                    .map_err(|e| json_error(&self.path, e))?;
                if stored.as_ref() != space {
                    return Err(HpoError::StudyConflict { study: name.into(), what: "search space" });
                }
                if stored_direction != direction.as_str() {
                    return Err(HpoError::StudyConflict { study: name.into(), what: "direction" });
                }
                return Ok(id as StudyId);
            }
            tx.execute(
                "INSERT INTO studies (name, direction, space) VALUES (?1, ?2, ?3)",
                params![name, direction.as_str(), space_json],
            )
            .map_err(e)?;
            Ok(tx.last_insert_rowid() as StudyId)
        })
    }

    fn study_id(&self, name: &str) -> Result<StudyId> {
        self.read(|tx| {
            tx.query_row("SELECT id FROM studies WHERE name = ?1", [name], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(|e| storage_error(&self.path, e))?
                .map(|id| id as StudyId)
                .ok_or_else(|| HpoError::UnknownStudy { study: name.into() })
        })
    }

    fn studies(&self) -> Result<Vec<StudySummary>> {
        self.read(|tx| {
            let e = |e| storage_error(&self.path, e);
            let mut stmt = tx
                .prepare(
                    "SELECT s.id, s.name, s.direction, t.state, COUNT(t.id) FROM studies s \
                     LEFT JOIN trials t ON t.study = s.id GROUP BY s.id, t.state ORDER BY s.id",
                )
                .map_err(e)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })
                .map_err(e)?;
            let mut studies: Vec<StudySummary> = Vec::new();
            for row in rows {
                let (id, name, direction, state, count) = row.map_err(e)?;
                if studies.last().is_none_or(|s| s.id != id as StudyId) {
                    studies.push(StudySummary {
                        id: id as StudyId,
                        name,
                        direction: Direction::from_stored(&direction),
                        counts: BTreeMap::new(),
                    });
                }
                if let (Some(state), Some(s)) = (state, studies.last_mut()) {
                    s.counts.insert(TrialState::from_stored(&state), count as u64);
                }
            }
            Ok(studies)
        })
    }

    fn create_trial(&self, study: StudyId, now: Millis) -> Result<FrozenTrial> {
        self.create_trial_within(study, u64::MAX, now)?.ok_or(HpoError::UnknownStudy { study: study.to_string() })
    }

    fn create_trial_within(&self, study: StudyId, limit: u64, now: Millis) -> Result<Option<FrozenTrial>> {
        self.try_write(|tx| {
            let e = |e| storage_error(&self.path, e);
            let exists: Option<i64> =
                tx.query_row("SELECT id FROM studies WHERE id = ?1", [study as i64], |r| r.get(0)).optional().map_err(e)?;
            if exists.is_none() {
                return Err(HpoError::UnknownStudy { study: study.to_string() });
            }
            let number: i64 = tx
                .query_row("SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE study = ?1", [study as i64], |r| r.get(0))
                .map_err(e)?;            let active: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM trials WHERE study = ?1 AND state != 'failed'",
                    [study as i64],
                    |r| r.get(0),
                )
                .map_err(e)?;
            if active as u64 >= limit {
                return Ok(None);
            }

            tx.execute(
                "INSERT INTO trials (study, number, state, started_ms, heartbeat_ms) VALUES (?1, ?2, 'running', ?3, ?3)",
                params![study as i64, number, now as i64],
            )
            .map_err(e)?;
            Ok(Some(FrozenTrial::running(tx.last_insert_rowid() as TrialId, number as u64, now)))
        })
    }

    fn set_param(&self, trial: TrialId, name: &str, distribution: &Distribution, internal: f64) -> Result<()> {
        if !distribution.contains(internal) {
            return Err(HpoError::ValueOutOfRange { param: name.into(), value: internal.to_string() });
        }
        let json = serde_json::to_string(distribution).map_err(|e| json_error(&self.path, e))?;
        self.try_write(|tx| {
            let e = |e| storage_error(&self.path, e);
            let number = self.running_number(tx, trial)?;
            let stored: Option<String> = tx
                .query_row(
                    "SELECT distribution FROM params WHERE trial = ?1 AND name = ?2",
                    params![trial as i64, name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(e)?;
            if let Some(stored) = stored {
                let stored: Distribution = serde_json::from_str(&stored).map_err(|e| json_error(&self.path, e))?;
                if &stored != distribution {
                    return Err(HpoError::ParamRedefined { number, param: name.into() });
                }
            }
            tx.execute(
                "INSERT OR REPLACE INTO params (trial, name, distribution, value) VALUES (?1, ?2, ?3, ?4)",
                params![trial as i64, name, json, internal],
            )
            .map_err(e)?;
            Ok(())
        })
    }

    fn report(&self, trial: TrialId, step: u64, value: f64, now: Millis) -> Result<()> {
        self.try_write(|tx| {
            let e = |e| storage_error(&self.path, e);
            self.running_number(tx, trial)?;
            tx.execute(
                "INSERT OR REPLACE INTO intermediate (trial, step, value) VALUES (?1, ?2, ?3)",
                params![trial as i64, step as i64, value],
            )
            .map_err(e)?;
            tx.execute(
                "UPDATE trials SET heartbeat_ms = MAX(heartbeat_ms, ?2) WHERE id = ?1",
                params![trial as i64, now as i64],
            )
            .map_err(e)?;
            Ok(())
        })
    }

    fn heartbeat(&self, trial: TrialId, now: Millis) -> Result<()> {
        self.try_write(|tx| {
            self.running_number(tx, trial)?;
            tx.execute(
                "UPDATE trials SET heartbeat_ms = MAX(heartbeat_ms, ?2) WHERE id = ?1",
                params![trial as i64, now as i64],
            )
            .map_err(|e| storage_error(&self.path, e))?;
            Ok(())
        })
    }

    fn finish_trial(&self, trial: TrialId, state: TrialState, value: Option<f64>, now: Millis) -> Result<FrozenTrial> {
        self.try_write(|tx| {
            self.running_number(tx, trial)?;
            tx.execute(
                "UPDATE trials SET state = ?2, value = ?3, finished_ms = ?4 WHERE id = ?1",
                params![trial as i64, state.as_str(), value, now as i64],
            )
            .map_err(|e| storage_error(&self.path, e))?;
            let mut t = self.load_trials(tx, "id = ?1", &[&(trial as i64)])?;
            t.pop().ok_or(HpoError::UnknownTrial { id: trial })
        })
    }

    fn trial(&self, trial: TrialId) -> Result<FrozenTrial> {
        self.read(|tx| {
            let mut t = self.load_trials(tx, "id = ?1", &[&(trial as i64)])?;
            t.pop().ok_or(HpoError::UnknownTrial { id: trial })
        })
    }

    fn trials(&self, study: StudyId, states: Option<&[TrialState]>) -> Result<Vec<Arc<FrozenTrial>>> {
        let trials = self.read(|tx| {
            let exists: Option<i64> = tx
                .query_row("SELECT id FROM studies WHERE id = ?1", [study as i64], |r| r.get(0))
                .optional()
                .map_err(|e| storage_error(&self.path, e))?;
            if exists.is_none() {
                return Err(HpoError::UnknownStudy { study: study.to_string() });
            }
            match states {
                None => self.load_trials(tx, "study = ?1", &[&(study as i64)]),
                Some(states) => {
                    let list = states.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(",");
                    self.load_trials(tx, &format!("study = ?1 AND state IN ({list})"), &[&(study as i64)])
                }
            }
        })?;
        Ok(trials.into_iter().map(Arc::new).collect())
    }

    fn fail_stale_trials(&self, study: StudyId, timeout_ms: Millis, now: Millis) -> Result<Vec<FrozenTrial>> {
        let cutoff = now.saturating_sub(timeout_ms) as i64;
        self.try_write(|tx| {
            let stale = self.load_trials(
                tx,
                "study = ?1 AND state = 'running' AND heartbeat_ms < ?2",
                &[&(study as i64), &cutoff],
            )?;
            for t in &stale {
                tx.execute(
                    "UPDATE trials SET state = 'failed', finished_ms = ?2 WHERE id = ?1 AND state = 'running'",
                    params![t.id as i64, now as i64],
                )
                .map_err(|e| storage_error(&self.path, e))?;
            }
            Ok(stale
                .into_iter()
                .map(|mut t| {
                    t.state = TrialState::Failed;
                    t.finished_ms = Some(now);
                    t
                })
                .collect())
        })
    }
}
