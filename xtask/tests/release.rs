//! `cargo xtask release` on a scratch clone of the repository, with `--skip-ci`
//! (the checks are what CI runs anyway), `--skip-binary` and `--skip-docs` (a
//! release build and `cargo doc` of the workspace would take CI most of an hour on
//! 2 cores; CI builds the book in its own stage). It checks the dirty-tree refusal,
//! the version bump, the changelog, the packages and the downstream builds from
//! them, the release commit and the tag.

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
    let skips = ["--skip-ci", "--skip-binary", "--skip-docs"];

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
}
