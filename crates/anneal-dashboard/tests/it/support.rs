//! What the tests share: fixture runs and a fixture study in a temporary folder,
//! a dashboard serving them, a tiny HTTP client and a WebDriver session.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anneal_dashboard::{Dashboard, DashboardConfig};
use anneal_hpo::prelude::*;
use anneal_hpo::sqlite::SqliteStorage;
use serde_json::{Value, json};

/// The committed fixture runs.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A fixture study in `runs/tune/study.db`: 40 trials of a known function of a
/// float, a log-float and a categorical parameter, reporting 8 intermediate values
/// each, pruned by the median rule, then one trial left running.
pub fn write_study(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let storage = std::sync::Arc::new(SqliteStorage::open(path).unwrap());
    let study = Study::builder("fixture-study")
        .storage(storage.clone())
        .sampler(RandomSampler::new(3))
        .pruner(MedianPruner::new(5, 2))
        .build()
        .unwrap();
    study
        .optimize(40, |trial| {
            let x = trial.suggest_float("x", -2.0, 2.0)?;
            let lr = trial.suggest_float_log("lr", 1e-4, 1e-1)?;
            let opt = trial.suggest("optimizer", &Distribution::categorical(["sgd", "adam"]))?;
            let bias = if opt == ParamValue::Categorical(anneal_hpo::Choice::Str("adam".into())) { 0.0 } else { 0.5 };
            let target = x * x + (lr.log10() + 2.0).powi(2) * 0.1 + bias;
            let mut value = 0.0;
            for step in 0..8 {
                value = target + 2.0 / (step as f64 + 1.0);
                trial.report(step, value)?;
                if trial.should_prune()? {
                    return Err(ObjectiveError::Pruned);
                }
            }
            Ok(value)
        })
        .unwrap();
    let running = storage.create_trial(study.id(), anneal_hpo::storage::now_ms()).unwrap();
    storage.set_param(running.id, "x", &Distribution::float(-2.0, 2.0), 0.25).unwrap();
    storage.report(running.id, 0, 3.1, anneal_hpo::storage::now_ms()).unwrap();
}

/// Fixture runs and study copied to a temporary folder, and a dashboard on them.
pub struct Served {
    pub dir: tempfile::TempDir,
    pub dashboard: Dashboard,
}

impl Served {
    /// The runs folder.
    pub fn runs(&self) -> PathBuf {
        self.dir.path().join("runs")
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://{}", self.dashboard.addr())
    }

    /// GET `path` from the dashboard.
    pub fn get(&self, path: &str) -> Response {
        http(self.dashboard.addr(), "GET", path, None)
    }

    /// GET `path` as JSON (must answer 200).
    pub fn json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        serde_json::from_slice(&r.body).unwrap()
    }
}

/// Copies the fixtures (and `extra` storages) and starts a dashboard on port 0.
pub fn serve(storages: &[String]) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    copy_dir(&fixtures(), &runs);
    write_study(&runs.join("tune/study.db"));
    let mut config = DashboardConfig::new(&runs);
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.storages = storages.to_vec();
    let dashboard = Dashboard::start(config).unwrap();
    Served { dir, dashboard }
}

/// An HTTP response.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request with `Connection: close`; `target` is sent as given (so
/// tests can send raw, encoded and double-encoded paths).
pub fn http(addr: SocketAddr, method: &str, target: &str, body: Option<&Value>) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    // Read the header block, then the body by its length (ChromeDriver keeps the
    // connection open whatever the request says), by chunks, or to the end.
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let split = loop {
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the connection closed before the headers ended");
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    let find = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let mut body = raw[split + 4..].to_vec();
    if let Some(length) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < length {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the connection closed mid-body");
            body.extend_from_slice(&buf[..n]);
        }
        body.truncate(length);
    } else if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        while !body.ends_with(b"0\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the connection closed mid-body");
            body.extend_from_slice(&buf[..n]);
        }
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16).unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[end + 4 + size..];
        }
        body = out;
    } else {
        stream.read_to_end(&mut body).unwrap();
    }
    Response { status, headers, body }
}

/// A browser driven through ChromeDriver, or `None` where Chromium or ChromeDriver
/// is missing (under `CI` that is a failure: `cargo xtask ci` installs both).
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

impl Browser {
    pub fn start() -> Option<Self> {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists());
        let driver = ["/usr/bin/chromedriver"].into_iter().find(|p| Path::new(p).exists());
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            if std::env::var_os("CI").is_some() {
                panic!("CI must run the browser tests: install chromium and chromium-driver (cargo xtask ci does)");
            }
            eprintln!("skipped: Chromium or ChromeDriver is not installed (apt-get install chromium chromium-driver)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let start = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap().keep();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-quic", "--hide-scrollbars", "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let mut browser = Browser { driver, addr, session: String::new() };
        let created = browser.call("POST", "/session", Some(&capabilities));
        browser.session = created["sessionId"].as_str().expect("a WebDriver session").to_string();
        Some(browser)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let r = http(self.addr, method, path, body);
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        assert_eq!(r.status, 200, "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    /// Opens `url` and waits for the page to have drawn something in `main`.
    pub fn open(&self, url: &str) {
        self.call("POST", &format!("/session/{}/url", self.session), Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            &format!("/session/{}/execute/sync", self.session),
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// Waits up to 15 s for `expression` to be truthy; its last value either way.
    pub fn wait_for(&self, expression: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.eval(&format!("try {{ return ({expression}); }} catch (e) {{ return null; }}"));
            let truthy = !matches!(v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy || start.elapsed() > Duration::from_secs(15) {
                assert!(
                    truthy,
                    "timed out waiting for {expression} (page: {})",
                    self.eval("return document.body.innerText.slice(0, 2000)")
                );
                return v;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The WebDriver id of the first element `selector` matches.
    fn find(&self, selector: &str) -> String {
        let found = self.call(
            "POST",
            &format!("/session/{}/element", self.session),
            Some(&json!({ "using": "css selector", "value": selector })),
        );
        found.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).expect("an element").to_string()
    }

    /// A real click on the first element `selector` matches (WebDriver element click).
    pub fn click(&self, selector: &str) {
        let id = self.find(selector);
        self.call("POST", &format!("/session/{}/element/{id}/click", self.session), Some(&json!({})));
    }

    /// Types `text` into the element `selector`.
    pub fn type_into(&self, selector: &str, text: &str) {
        let id = self.find(selector);
        self.call("POST", &format!("/session/{}/element/{id}/value", self.session), Some(&json!({ "text": text })));
    }

    /// Saves a screenshot of the page as `<name>.png` in `$ANNEAL_SCREENSHOTS` (the
    /// docs' figures are made so) or in the tests' temporary target folder.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        // The whole page: the window is made as tall as the document first.
        let height =
            self.eval("return document.documentElement.scrollHeight").as_u64().unwrap_or(1000).clamp(600, 4000);
        let rect = json!({ "width": 1400, "height": height + 20 });
        self.call("POST", &format!("/session/{}/window/rect", self.session), Some(&rect));
        let data = self.call("GET", &format!("/session/{}/screenshot", self.session), None);
        self.call(
            "POST",
            &format!("/session/{}/window/rect", self.session),
            Some(&json!({ "width": 1400, "height": 1000 })),
        );
        let png = decode_base64(data.as_str().expect("base64 PNG"));
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let dir = std::env::var_os("ANNEAL_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(self.addr, "DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &d)| acc | (u32::from(d) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}
