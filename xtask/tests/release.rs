//! `cargo xtask release` on a scratch clone of the repository, end to end but
//! for the checks: `--skip-ci` (they are what CI runs anyway) and
//! `--binary-profile dev` (the program is built as in a release, with its
//! features, name and checksum, but in the dev profile: a release build takes CI
//! most of half an hour on 2 cores). It checks the dirty-tree refusal, the version
//! bump, the changelog, the packages and the downstream builds from them, the
//! release commit, the program and its SHA-256, the docs book and `cargo doc`, and
//! the tag.

use std::path::Path;
use std::process::{Command, Output};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").current_dir(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn xtask(root: &Path, target: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("XTASK_ROOT", root)
        .env("CARGO_TARGET_DIR", target)
        .env("GIT_AUTHOR_NAME", "Release Test")
        .env("GIT_AUTHOR_EMAIL", "release@example.invalid")
        .env("GIT_COMMITTER_NAME", "Release Test")
        .env("GIT_COMMITTER_EMAIL", "release@example.invalid")
        .output()
        .unwrap()
}

#[test]
fn a_release_dry_run_on_a_scratch_clone() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("anneal");
    git(tmp.path(), &["clone", "-q", workspace.to_str().unwrap(), scratch.to_str().unwrap()]);
    // The test suite's target folder, so the downstream builds reuse what it compiled.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_path_buf();
    let old = git(&scratch, &["log", "-1", "--format=%H"]);
    let version = {
        let text = std::fs::read_to_string(scratch.join("Cargo.toml")).unwrap();
        let v = text
            .split("[workspace.package]")
            .nth(1)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("version = \""))
            .unwrap();
        v.trim_end_matches('"').to_string()
    };
    let (major, rest) = version.split_once('.').unwrap();
    let (minor, patch) = rest.split_once('.').unwrap();
    let next = format!("{major}.{minor}.{}", patch.parse::<u64>().unwrap() + 1);
    let skips = ["--skip-ci", "--binary-profile", "dev"];

    // A dirty tree is refused, and nothing is changed.
    std::fs::write(scratch.join("stray.txt"), "not committed").unwrap();
    let out = xtask(&scratch, &target, &[&["release", next.as_str()][..], &skips].concat());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("uncommitted changes") && err.contains("stray.txt"), "{err}");
    std::fs::remove_file(scratch.join("stray.txt")).unwrap();
    // Not a version.
    let out = xtask(&scratch, &target, &[&["release", "1.2"][..], &skips].concat());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a version"));

    let out = xtask(&scratch, &target, &[&["release", next.as_str()][..], &skips].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // One new commit, tagged, with the versions and the changelog; the tree is clean.
    assert_eq!(git(&scratch, &["rev-parse", "HEAD~1"]), old);
    assert_eq!(git(&scratch, &["describe", "--tags", "--exact-match"]).trim(), format!("v{next}"));
    assert!(git(&scratch, &["status", "--porcelain"]).trim().is_empty());
    let manifest = std::fs::read_to_string(scratch.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!("[workspace.package]\nversion = \"{next}\"")));
    assert!(manifest.contains(&format!("anneal-core = {{ path = \"crates/anneal-core\", version = \"{next}\" }}")));
    assert!(!manifest.contains(&format!("version = \"{version}\" }}")), "an internal version was left behind");
    let lock = std::fs::read_to_string(scratch.join("Cargo.lock")).unwrap();
    assert!(lock.contains(&format!("name = \"anneal-data\"\nversion = \"{next}\"")));
    let changelog = std::fs::read_to_string(scratch.join("CHANGELOG.md")).unwrap();
    assert!(changelog.starts_with(&format!("# Changelog\n\n## {next} (")), "{changelog}");
    for section in ["### anneal-dashboard", "### anneal-hpo", "### workspace (docs, CI, xtask, examples)"] {
        assert!(changelog.contains(section), "{section} missing");
    }
    // Every crate packaged at the new version.
    for name in
        ["anneal-core", "anneal-data", "anneal-hpo", "anneal-models", "anneal-train", "anneal-dashboard", "anneal"]
    {
        assert!(target.join(format!("package/{name}-{next}.crate")).is_file(), "{name} was not packaged");
    }
    // The downstream projects were built from those packages.
    assert!(target.join("downstream/uses-anneal-data/Cargo.toml").is_file());
    // The program, named for the version and the host, with its checksum.
    let artifacts = target.join("release-artifacts");
    let program = std::fs::read_dir(&artifacts)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with(&format!("anneal-{next}-")) && !n.ends_with(".sha256"))
        .expect("no program in target/release-artifacts");
    let printed = Command::new(artifacts.join(&program)).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&printed.stdout).trim(), format!("anneal {next}"));
    let sum = std::fs::read_to_string(artifacts.join(format!("{program}.sha256"))).unwrap();
    let check = Command::new("sha256sum")
        .current_dir(&artifacts)
        .arg("--check")
        .arg(format!("{program}.sha256"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{sum}: {}", String::from_utf8_lossy(&check.stdout));
    // The docs: the book and the API docs of every crate.
    assert!(scratch.join("docs/book/index.html").is_file());
    for name in ["anneal", "anneal_core", "anneal_data", "anneal_hpo", "anneal_train", "anneal_dashboard"] {
        assert!(target.join(format!("doc/{name}/index.html")).is_file(), "no API docs for {name}");
    }
}
