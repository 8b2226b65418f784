//! Server time of every dashboard endpoint over 1 000 run folders and a 5 000-trial
//! study (`cargo xtask bench dashboard`, or `cargo bench -p anneal-dashboard --bench
//! dashboard -- [--runs 1000] [--trials 5000] [--repeats 20]`).
//!
//! The runs are copies of the test fixtures (a classification run with its
//! 40-epoch history, an RL run, a never-seen kind, a diverged and a stopped run),
//! renamed and with their metrics changed; the study has three parameters (a float,
//! a log float, a categorical) and 10 intermediate values per trial, a third of the
//! trials pruned. Each endpoint is asked `repeats` times; the figure is the
//! `Server-Timing` the server reports (request in to response out, JSON encoding
//! included), beside the client's wall time over loopback. The first answer of
//! `/api/runs` (nothing cached yet) is reported apart. The last line is JSON.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Instant;

use anneal_dashboard::{Dashboard, DashboardConfig};
use anneal_hpo::sqlite::SqliteStorage;
use anneal_hpo::storage::Storage;
use anneal_hpo::{Direction, Distribution, TrialState};

fn flag(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// `n` run folders: the fixtures round-robin, each with its own name and metrics.
fn write_runs(root: &Path, n: usize) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs");
    let kinds = ["penguins", "rl/cartpole-ppo", "novel-translation", "diverged", "stopped"];
    for i in 0..n {
        let kind = kinds[i % kinds.len()];
        let dir = root.join(format!("{}-{i:04}", kind.replace('/', "-")));
        copy_dir(&fixtures.join(kind), &dir);
        // Different numbers in every run, so no two rows are alike.
        for name in ["metrics.json", "summary.json"] {
            let path = dir.join(name);
            if let Ok(text) = std::fs::read_to_string(&path) {
                std::fs::write(&path, text.replacen("0.98", &format!("0.9{:02}", i % 100), 1)).unwrap();
            }
        }
    }
}

/// A study of `trials` trials straight through the storage API, as workers write it.
fn write_study(path: &Path, trials: usize) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let storage = SqliteStorage::open(path).unwrap();
    let id = storage.create_study("bench-study", Direction::Minimize, None).unwrap();
    let x = Distribution::float(-2.0, 2.0);
    let lr = Distribution::log_float(1e-4, 1e-1);
    let opt = Distribution::categorical(["sgd", "adam", "rmsprop"]);
    let mut rng = anneal_core::SeededRng::new(7);
    for n in 0..trials {
        let t = storage.create_trial(id, 1_000 + n as u64).unwrap();
        let (xv, lv, ov) =
            (rng.next_f64() * 4.0 - 2.0, 10f64.powf(rng.next_f64() * 3.0 - 4.0), (rng.next_u64() % 3) as f64);
        storage.set_param(t.id, "x", &x, xv).unwrap();
        storage.set_param(t.id, "lr", &lr, lv).unwrap();
        storage.set_param(t.id, "optimizer", &opt, ov).unwrap();
        let target = xv * xv + (lv.log10() + 2.0).powi(2) * 0.1 + ov * 0.2;
        let pruned = n % 3 == 2;
        let steps = if pruned { 4 } else { 10 };
        let mut value = 0.0;
        for s in 0..steps {
            value = target + 2.0 / (s as f64 + 1.0);
            storage.report(t.id, s, value, 2_000 + n as u64).unwrap();
        }
        let state = if pruned { TrialState::Pruned } else { TrialState::Complete };
        storage.finish_trial(t.id, state, Some(value), 3_000 + n as u64).unwrap();
    }
}

/// One GET: (server ms from `Server-Timing`, client ms, body bytes).
fn get(addr: SocketAddr, path: &str) -> (f64, f64, usize) {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let client = start.elapsed().as_secs_f64() * 1e3;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "GET {path}: {head}");
    let server = head
        .lines()
        .find_map(|l| l.strip_prefix("server-timing: app;dur="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    (server, client, raw.len() - split - 4)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn main() {
    let n_runs = flag("--runs", 1000);
    let n_trials = flag("--trials", 5000);
    let repeats = flag("--repeats", 20);
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let start = Instant::now();
    write_runs(&runs, n_runs);
    eprintln!("wrote {n_runs} run folders in {:.1} s", start.elapsed().as_secs_f64());
    let start = Instant::now();
    write_study(&runs.join("tune/study.db"), n_trials);
    eprintln!("wrote a {n_trials}-trial study in {:.1} s", start.elapsed().as_secs_f64());

    let mut config = DashboardConfig::new(&runs);
    config.addr = "127.0.0.1:0".parse().unwrap();
    let dashboard = Dashboard::start(config).unwrap();
    let addr = dashboard.addr();
    let (cold, cold_client, _) = get(addr, "/api/runs");
    let endpoints = [
        ("page", "/".to_string()),
        ("script", "/app.js".to_string()),
        ("runs table", "/api/runs".to_string()),
        ("run", "/api/run?id=penguins-0000".to_string()),
        ("run curves", "/api/curves?id=penguins-0000&from=0".to_string()),
        ("run curves, live poll", "/api/curves?id=penguins-0000&from=40".to_string()),
        ("figure", "/api/file?id=penguins-0000&name=curves.svg".to_string()),
        ("studies", "/api/studies".to_string()),
        ("study", "/api/study?source=runs%2Ftune%2Fstudy.db&name=bench-study".to_string()),
    ];
    println!("| endpoint | median server ms | max server ms | median client ms | KiB |");
    println!("|---|---|---|---|---|");
    let mut rows = Vec::new();
    let mut worst: f64 = cold;
    for (name, path) in &endpoints {
        let mut server = Vec::new();
        let mut client = Vec::new();
        let mut bytes = 0;
        for _ in 0..repeats {
            let (s, c, b) = get(addr, path);
            server.push(s);
            client.push(c);
            bytes = b;
        }
        let max = server.iter().copied().fold(0.0, f64::max);
        worst = worst.max(max);
        let (ms, mc) = (median(server), median(client));
        println!("| {name} (`{path}`) | {ms:.1} | {max:.1} | {mc:.1} | {:.0} |", bytes as f64 / 1024.0);
        rows.push(serde_json::json!({ "endpoint": name, "path": path, "median_server_ms": ms, "max_server_ms": max, "median_client_ms": mc, "bytes": bytes }));
    }
    println!("| runs table, first answer (nothing cached) | {cold:.1} | {cold:.1} | {cold_client:.1} | |");
    dashboard.stop();
    println!(
        "{}",
        serde_json::json!({ "runs": n_runs, "trials": n_trials, "repeats": repeats, "cold_runs_ms": cold, "worst_server_ms": worst, "endpoints": rows })
    );
}
