//! `cargo xtask release <version> [--publish] [--skip-ci] [--skip-binary]
//! [--binary-profile <profile>] [--skip-docs]`:
//! cut a release from a clean tree.
//!
//! 1. refuses a working tree with uncommitted changes;
//! 2. runs `cargo xtask ci` (unless `--skip-ci`);
//! 3. sets every crate's version (the workspace's) and their dependencies on each
//!    other to `<version>`;
//! 4. writes the `CHANGELOG.md` section from the commits since the last `v*` tag,
//!    grouped by the crates each commit touched;
//! 5. commits that as `Release <version>`;
//! 6. packages every crate and builds the downstream projects from the packages
//!    ([`crate::packaging`]); publishes them in dependency order with `--publish`
//!    (otherwise this is the dry run);
//! 7. builds the release binary (the `anneal` program with the wgpu backend and
//!    PostgreSQL storage; `--binary-profile` picks another Cargo profile than
//!    `release`) as `target/release-artifacts/anneal-<version>-<host triple>` with
//!    its SHA-256 in `<name>.sha256` (unless `--skip-binary`);
//! 8. builds the docs book (links checked) and `cargo doc` of every crate with every
//!    feature, warnings as errors (unless `--skip-docs`);
//! 9. tags the commit `v<version>`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, stage};

const USAGE: &str = "usage: cargo xtask release <version> [--publish] [--skip-ci] [--skip-binary] [--binary-profile <profile>] [--skip-docs]";

/// The features of the released `anneal` program: every backend and storage that
/// needs nothing installed to run (MPI needs its library on the machine).
const BINARY_FEATURES: &str = "anneal/wgpu,anneal/postgres";

/// Where Cargo puts a profile's build: `dev` builds in `debug`, every other
/// profile in a folder of its name.
fn profile_dir(profile: &str) -> &str {
    if profile == "dev" { "debug" } else { profile }
}

fn git(root: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git").current_dir(root).args(args).output().context("running git")?;
    if !output.status.success() {
        bail!("git {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Whether `v` is `MAJOR.MINOR.PATCH` (digits only).
fn is_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The workspace's version (`[workspace.package] version`).
pub fn workspace_version(root: &Path) -> Result<String> {
    let text = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let package = text.split("[workspace.package]").nth(1).context("Cargo.toml has no [workspace.package]")?;
    package
        .lines()
        .find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"'))
        .map(str::to_string)
        .context("[workspace.package] has no version")
}

/// `Cargo.toml` with the workspace version and the internal dependencies' versions
/// set from `old` to `new` (other lines untouched).
fn bump(text: &str, old: &str, new: &str) -> String {
    let mut in_package = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with('[') {
            in_package = line.trim() == "[workspace.package]";
        }
        let from = format!("version = \"{old}\"");
        let to = format!("version = \"{new}\"");
        let bumped = if (in_package && line.starts_with("version = ")) || line.starts_with("anneal") {
            line.replace(&from, &to)
        } else {
            line.to_string()
        };
        out.push_str(&bumped);
        out.push('\n');
    }
    out
}

/// The changelog section of `version`: the commits since the last `v*` tag
/// (every commit if there is none), under the crates they touched, newest first.
fn changelog_section(root: &Path, version: &str, date: &str) -> Result<String> {
    let last_tag = git(root, &["describe", "--tags", "--abbrev=0", "--match", "v*"]).ok().map(|t| t.trim().to_string());
    let range = last_tag.as_ref().map(|t| format!("{t}..HEAD"));
    let mut args = vec!["log", "--no-merges", "--format=%x1e%h%x1f%s", "--name-only"];
    if let Some(r) = &range {
        args.push(r);
    }
    let log = git(root, &args)?;
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for record in log.split('\u{1e}').filter(|r| !r.trim().is_empty()) {
        let mut lines = record.lines();
        let Some((hash, subject)) = lines.next().and_then(|l| l.split_once('\u{1f}')) else { continue };
        let mut crates: Vec<String> = lines
            .filter(|l| !l.is_empty())
            .map(|path| match path.strip_prefix("crates/").and_then(|p| p.split('/').next()) {
                Some(name) => name.to_string(),
                None => "workspace (docs, CI, xtask, examples)".to_string(),
            })
            .collect();
        crates.sort();
        crates.dedup();
        if crates.is_empty() {
            crates.push("workspace (docs, CI, xtask, examples)".into());
        }
        for c in crates {
            groups.entry(c).or_default().push(format!("- {subject} ({hash})"));
        }
    }
    let mut s = format!("## {version} ({date})\n\n");
    match &last_tag {
        Some(t) => {
            let _ = writeln!(s, "Changes since {t}, by crate.\n");
        }
        None => s.push_str("Every change so far, by crate.\n\n"),
    }
    for (name, entries) in groups {
        let _ = writeln!(s, "### {name}\n");
        for e in entries {
            let _ = writeln!(s, "{e}");
        }
        s.push('\n');
    }
    Ok(s)
}

/// Prepends `section` to `CHANGELOG.md` (creating it).
fn write_changelog(root: &Path, section: &str) -> Result<()> {
    let path = root.join("CHANGELOG.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let body = old.strip_prefix("# Changelog\n\n").unwrap_or(&old);
    std::fs::write(&path, format!("# Changelog\n\n{section}{body}"))?;
    Ok(())
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String> {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())).arg("-vV").output()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV printed no host")
}

/// `cargo xtask release ...` (see the module docs).
pub fn release(args: &[String], root: &Path) -> Result<()> {
    let version = args.get(1).filter(|v| !v.starts_with("--")).context(USAGE)?;
    if !is_version(version) {
        bail!("{version:?} is not a version: expected MAJOR.MINOR.PATCH, e.g. 0.2.0");
    }
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let binary_profile = match args.iter().position(|a| a == "--binary-profile") {
        Some(i) => args.get(i + 1).filter(|p| !p.starts_with("--")).context(USAGE)?.as_str(),
        None => "release",
    };
    let known = ["--publish", "--skip-ci", "--skip-binary", "--binary-profile", "--skip-docs"];
    if let Some(unknown) = args[2..].iter().find(|a| a.starts_with("--") && !known.contains(&a.as_str())) {
        bail!("unknown option {unknown}\n{USAGE}");
    }
    let dirty = git(root, &["status", "--porcelain"])?;
    if !dirty.trim().is_empty() {
        bail!("the working tree has uncommitted changes; commit or stash them first:\n{dirty}");
    }
    let tag = format!("v{version}");
    if !git(root, &["tag", "--list", &tag])?.trim().is_empty() {
        bail!("the tag {tag} exists already");
    }
    if has("--skip-ci") {
        eprintln!("xtask release: --skip-ci: the checks are not run");
    } else {
        crate::ci()?;
    }

    let old = workspace_version(root)?;
    let manifest = root.join("Cargo.toml");
    std::fs::write(&manifest, bump(&std::fs::read_to_string(&manifest)?, &old, version))?;
    let mut lock = cargo(&["update", "--workspace", "--offline"]);
    lock.current_dir(root);
    stage("update Cargo.lock", lock)?;
    let date = git(root, &["log", "-1", "--format=%cs"])?.trim().to_string();
    write_changelog(root, &changelog_section(root, version, &date)?)?;
    git(root, &["add", "-A"])?;
    git(root, &["commit", "-q", "-m", &format!("Release {version}: versions {old} -> {version}, CHANGELOG.md")])?;

    let unpacked = crate::packaging::package_all(root)?;
    crate::packaging::downstream(root, &unpacked)?;
    if has("--publish") {
        stage("cargo publish --workspace", cargo(&["publish", "--workspace", "--exclude", "xtask"]))?;
    } else {
        eprintln!("xtask release: dry run: the packages are in target/package (--publish publishes them)");
    }

    if !has("--skip-binary") {
        let mut build = cargo(&[
            "build",
            "--profile",
            binary_profile,
            "-p",
            "anneal",
            "--bin",
            "anneal",
            "--features",
            BINARY_FEATURES,
        ]);
        build.current_dir(root);
        stage(&format!("build the anneal program ({binary_profile} profile)"), build)?;
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
        let dir = target.join("release-artifacts");
        std::fs::create_dir_all(&dir)?;
        let name = format!("anneal-{version}-{}", host_triple()?);
        let built = target.join(profile_dir(binary_profile)).join("anneal");
        std::fs::copy(&built, dir.join(&name)).with_context(|| format!("copying {}", built.display()))?;
        let sum = Command::new("sha256sum").current_dir(&dir).arg(&name).output().context("sha256sum")?;
        if !sum.status.success() {
            bail!("sha256sum failed");
        }
        std::fs::write(dir.join(format!("{name}.sha256")), &sum.stdout)?;
        eprintln!("xtask release: {}", dir.join(&name).display());
    }
    if !has("--skip-docs") {
        crate::book::book()?;
        let mut doc = cargo(&["doc", "--workspace", "--no-deps", "--features", crate::CI_FEATURES]);
        doc.current_dir(root).env("RUSTDOCFLAGS", "-D warnings");
        stage("cargo doc", doc)?;
    }
    git(root, &["tag", "-a", &tag, "-m", &format!("Anneal {version}")])?;
    eprintln!("xtask release: tagged {tag}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_three_numbers() {
        assert!(is_version("0.2.0") && is_version("10.0.12"));
        for bad in ["0.2", "v0.2.0", "0.2.0-rc1", "a.b.c", "", "1..2"] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn bump_touches_the_workspace_and_internal_versions_only() {
        let text = "[workspace.package]\nversion = \"0.1.0\"\n\n[workspace.dependencies]\nanneal-core = { path = \"crates/anneal-core\", version = \"0.1.0\" }\nfoo = { version = \"0.1.0\" }\n";
        let bumped = bump(text, "0.1.0", "0.2.0");
        assert!(bumped.contains("[workspace.package]\nversion = \"0.2.0\""));
        assert!(bumped.contains("anneal-core = { path = \"crates/anneal-core\", version = \"0.2.0\" }"));
        assert!(bumped.contains("foo = { version = \"0.1.0\" }"));
    }
}
