//! [`open_storage`]: a storage from its URL, as `anneal tune --storage` takes it.

use std::sync::Arc;

use crate::error::{HpoError, Result};
use crate::storage::{InMemoryStorage, Storage};

/// Opens the storage `url` names:
///
/// - `memory` (or `memory://`): in this process only;
/// - `sqlite://study.db` (relative) or `sqlite:///abs/path/study.db`: one SQLite file,
///   shared safely by threads and processes on one machine (feature `sqlite`);
/// - `postgres://user:password@host:port/database` (or `postgresql://`): a PostgreSQL
///   database, for workers on many machines (feature `postgres`).
///
/// An unknown scheme, a file that cannot be opened or a server that cannot be reached
/// is [`HpoError::Storage`] naming the URL (passwords removed).
///
/// ```
/// let storage = anneal_hpo::open_storage("memory")?;
/// assert!(anneal_hpo::open_storage("mysql://db/hpo").is_err());
/// # let _ = storage;
/// # Ok::<(), anneal_hpo::HpoError>(())
/// ```
pub fn open_storage(url: &str) -> Result<Arc<dyn Storage>> {
    let unsupported = |what: &str| HpoError::Storage { url: url.to_string(), message: what.to_string() };
    if url == "memory" || url == "memory://" {
        return Ok(Arc::new(InMemoryStorage::new()));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        #[cfg(feature = "sqlite")]
        {
            if path.is_empty() {
                return Err(unsupported("no database file after sqlite://"));
            }
            return Ok(Arc::new(crate::sqlite::SqliteStorage::open(path)?));
        }
        #[cfg(not(feature = "sqlite"))]
        {
            let _ = path;
            return Err(unsupported("anneal-hpo was built without its `sqlite` feature"));
        }
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        return Ok(Arc::new(crate::postgres::PostgresStorage::connect(url)?));
        #[cfg(not(feature = "postgres"))]
        return Err(unsupported("anneal-hpo was built without its `postgres` feature (cargo feature anneal/postgres)"));
    }
    Err(unsupported("unknown storage; expected memory, sqlite://<file> or postgres://<user>@<host>/<database>"))
}
