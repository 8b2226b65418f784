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
    let unsupported = |what: &str| HpoError::Storage { url: redact_url(url), message: what.to_string() };
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

/// A storage URL fit for a message or a log line: the password of
/// `scheme://user:password@host/...` and any `password=...` parameter
/// (`?password=...`, `&password=...`, key-value `password=... host=...`) are
/// replaced by `***`.
///
/// ```
/// use anneal_hpo::open::redact_url;
///
/// assert_eq!(redact_url("postgres://me:s3cret@db:5432/hpo"), "postgres://me:***@db:5432/hpo");
/// assert_eq!(redact_url("postgres://db/hpo?user=me&password=s3cret"), "postgres://db/hpo?user=me&password=***");
/// assert_eq!(redact_url("sqlite://runs/study.db"), "sqlite://runs/study.db");
/// ```
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    // From the last span back, so the earlier ranges stay valid.
    for span in password_spans(url).into_iter().rev() {
        out.replace_range(span, "***");
    }
    out
}

/// `message` with the password of `url` (if it has one, and it is not trivially
/// short) replaced by `***`: a driver's error text may quote its connection string.
pub fn redact_message(message: &str, url: &str) -> String {
    let mut out = message.to_string();
    for span in password_spans(url).into_iter().filter(|span| span.len() >= 2) {
        out = out.replace(&url[span], "***");
    }
    out
}

/// The byte ranges of `url` that hold a password, in order: the password of
/// `scheme://user:password@host/...` (the user information ends at the last
/// `@` before any query string), then each `password=<value>` parameter's value
/// (up to the next `&`, space or end; `?password=`, `&password=`, key-value
/// `password=... host=...`).
fn password_spans(url: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut from = 0;
    if let Some(scheme) = url.find("://") {
        let rest = scheme + 3;
        let head_end = url[rest..].find('?').map_or(url.len(), |q| rest + q);
        if let Some(at) = url[rest..head_end].rfind('@').map(|a| rest + a) {
            if let Some(colon) = url[rest..at].find(':').map(|c| rest + c) {
                spans.push(colon + 1..at);
            }
            from = at;
        }
    }
    let lower = url.to_ascii_lowercase();
    while let Some(i) = lower[from..].find("password=").map(|i| i + from) {
        let start = i + "password=".len();
        let end = url[start..].find(['&', ' ']).map_or(url.len(), |e| start + e);
        spans.push(start..end);
        from = end;
    }
    spans
}
