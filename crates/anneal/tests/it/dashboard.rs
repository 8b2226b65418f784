//! `anneal dashboard` end to end: the real program serving a run folder that
//! `anneal train` just wrote, and its errors.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;

use crate::{anneal, anneal_command, root, stderr};

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[test]
fn the_dashboard_serves_a_run_that_train_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let out = runs.join("penguins");
    let o = anneal(&["train", "--config", "examples/configs/penguins.toml", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let status = anneal_core::status::RunStatus::read(&out).expect("train writes status.json");
    assert_eq!(status.state, anneal_core::status::RunState::Finished);

    let mut child = anneal_command(&root())
        .args(["dashboard", "--runs", runs.to_str().unwrap(), "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line
        .strip_prefix("dashboard: http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "binds loopback by default: {addr}");
    let (code, body) = get(&addr, "/api/runs");
    let (page, html) = get(&addr, "/");
    let (missing, _) = get(&addr, "/api/file?id=penguins&name=../../etc/passwd");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let run = &v["runs"][0];
    assert_eq!((run["id"].as_str(), run["status"].as_str()), (Some("penguins"), Some("finished")));
    assert!(run["metrics"]["accuracy"].as_f64().unwrap() > 0.9);
    assert_eq!(run["records"].as_u64(), Some(40));
    assert_eq!(page, 200);
    assert!(html.contains("<script src=\"/app.js\""));
    assert_eq!(missing, 404);
}

#[test]
fn a_missing_runs_folder_or_storage_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let o = anneal(&["dashboard", "--runs", tmp.path().join("nope").to_str().unwrap(), "--port", "0"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("does not exist or is not a folder"), "{}", stderr(&o));
    let o = anneal(&[
        "dashboard",
        "--runs",
        tmp.path().to_str().unwrap(),
        "--port",
        "0",
        "--storage",
        "sqlite://no/such.db",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("sqlite://no/such.db: no such database file"), "{}", stderr(&o));
    assert!(!root().join("no/such.db").exists());
}
