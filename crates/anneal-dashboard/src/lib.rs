//! `anneal dashboard`: one local, read-only web page for run folders and
//! hyperparameter studies — the runs table with overlaid curves, each run's live
//! training curves, test metrics, figures, config and energy estimate, and each
//! study's trials, optimisation history, parameter importances, parallel
//! coordinates, slice plots and pruned trials' curves.
//!
//! The server (axum on tokio) binds 127.0.0.1 unless told otherwise, answers GET
//! only, serves files from inside the runs folder only, and never sends a storage
//! URL's password to the browser. The page is one HTML file, one script and one
//! style sheet compiled into the binary; its charts are SVG drawn in the browser
//! from the JSON endpoints, so nothing is fetched from elsewhere.
//!
//! ```no_run
//! use anneal_dashboard::{Dashboard, DashboardConfig};
//!
//! let dashboard = Dashboard::start(DashboardConfig::new("runs"))?;
//! println!("open {}", dashboard.url());
//! dashboard.wait()?;
//! # Ok::<(), anneal_dashboard::DashboardError>(())
//! ```
//!
//! The JSON endpoints, for scripts:
//!
//! | endpoint | answers |
//! |---|---|
//! | `/api/runs` | every run's row: task, data, model, key settings, final and last metrics, status |
//! | `/api/run?id=<run>` | one run: its row, config, test metrics or summary, energy estimate, figures |
//! | `/api/curves?id=<run>&from=<line>` | the run's `metrics.jsonl` records from a line on, flattened |
//! | `/api/file?id=<run>&name=<file>` | a figure or text file of the run |
//! | `/api/studies` | every study of every storage with its trial counts |
//! | `/api/study?source=<key>&name=<study>` | one study: trials, history, importances, parameter axes |

mod error;
pub mod runs;
mod server;
pub mod studies;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

pub use error::{DashboardError, Result};

/// What to serve, and where.
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    /// The folder whose run folders (at any depth up to 4) are shown.
    pub runs: PathBuf,
    /// Study storage URLs (`sqlite://…`, `postgres://…`) beside the `study.db`
    /// files found under `runs`.
    pub storages: Vec<String>,
    /// The address to listen on (port 0: any free port).
    pub addr: SocketAddr,
}

impl DashboardConfig {
    /// `runs` on 127.0.0.1:8080, no extra storages.
    pub fn new(runs: impl Into<PathBuf>) -> Self {
        Self { runs: runs.into(), storages: Vec::new(), addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080) }
    }
}

/// A dashboard serving on a thread of its own until [`stop`](Dashboard::stop)ped
/// or dropped.
#[derive(Debug)]
pub struct Dashboard {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Dashboard {
    /// Opens the runs folder and storages, binds the address and starts serving.
    pub fn start(config: DashboardConfig) -> Result<Self> {
        let runs = runs::RunIndex::new(&config.runs)?;
        let studies = studies::Studies::open(runs.root(), &config.storages)?;
        let state = Arc::new(server::AppState { runs, studies });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_io()
            .enable_time()
            .thread_name("anneal-dashboard")
            .build()
            .map_err(|source| DashboardError::Bind { addr: config.addr, source })?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(config.addr))
            .map_err(|source| DashboardError::Bind { addr: config.addr, source })?;
        let addr = listener.local_addr().map_err(|source| DashboardError::Bind { addr: config.addr, source })?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = server::router(state);
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let shutdown = async move {
                    tokio::select! {
                        _ = stopped => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                };
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                    .map_err(|source| DashboardError::Bind { addr, source })
            })
        });
        Ok(Self { addr, stop: Some(stop), thread: Some(thread) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Blocks until the server ends (Ctrl-C).
    pub fn wait(mut self) -> Result<()> {
        match self.thread.take() {
            Some(t) => t.join().unwrap_or(Ok(())),
            None => Ok(()),
        }
    }

    /// Stops serving and waits for the server to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.shutdown();
    }
}
