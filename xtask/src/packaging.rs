//! `cargo xtask package`: every crate packaged as crates.io would receive it, then
//! two projects outside the workspace built from those packages alone: one that
//! depends on `anneal-data` only, one on `anneal-hpo` only. Neither may compile
//! burn: their dependency trees are checked for it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, stage};

/// The downstream projects: (name, the one Anneal crate it depends on, main.rs).
const DOWNSTREAM: [(&str, &str, &str); 2] = [
    (
        "uses-anneal-data",
        "anneal-data",
        r#"use anneal_data::prelude::*;

fn main() -> Result<(), DataError> {
    let csv = "len,island,species\n1.0,A,x\n2.0,B,y\n,A,x\n4.0,B,y\n5.0,A,x\n6.0,B,y\n";
    let table = Table::from_csv_reader(csv.as_bytes(), "inline.csv", &CsvOptions::default())?;
    let labels = LabelEncoder::fit(&table, "species")?;
    let y = labels.encode(&table)?;
    let split = stratified_holdout(&y, labels.classes(), SplitFractions { train: 2.0 / 3.0, valid: 0.0, test: 1.0 / 3.0 }, 7)?;
    let train = table.take(&split.train)?;
    let fitted = PreprocessConfig::default().fit(&train, &["len".into(), "island".into()])?;
    let x = fitted.transform(&train)?;
    println!("{} rows x {} columns", x.n_rows, x.n_cols);
    Ok(())
}
"#,
    ),
    (
        "uses-anneal-hpo",
        "anneal-hpo",
        r#"use anneal_hpo::prelude::*;

fn main() -> Result<(), HpoError> {
    let study = Study::builder("downstream").sampler(TpeSampler::new(1)).build()?;
    study.optimize(30, |trial| {
        let x = trial.suggest_float("x", -4.0, 4.0)?;
        Ok((x - 1.0) * (x - 1.0))
    })?;
    let best = study.best_trial()?.expect("a complete trial");
    println!("best x = {:?}, value {:.4}", best.param("x"), best.value.unwrap_or(f64::NAN));
    Ok(())
}
"#,
    ),
];

/// Packages every crate into `target/package` (without building each package
/// again: the downstream builds below compile what they use from the packages),
/// unpacks them into `target/package/unpacked`, and returns that folder.
pub fn package_all(root: &Path) -> Result<PathBuf> {
    let dir = target_dir(root).join("package");
    // Only this version's packages: the downstream builds patch in every one unpacked.
    if dir.is_dir() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "crate") {
                std::fs::remove_file(path)?;
            }
        }
    }
    let mut package = cargo(&["package", "--workspace", "--no-verify", "--allow-dirty", "--exclude", "xtask"]);
    package.current_dir(root);
    stage("cargo package --workspace", package)?;
    let unpacked = dir.join("unpacked");
    if unpacked.exists() {
        std::fs::remove_dir_all(&unpacked)?;
    }
    std::fs::create_dir_all(&unpacked)?;
    let mut crates = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "crate") {
            let status = Command::new("tar").arg("xzf").arg(&path).arg("-C").arg(&unpacked).status()?;
            if !status.success() {
                bail!("could not unpack {}", path.display());
            }
            crates += 1;
        }
    }
    eprintln!("xtask: {crates} crates packaged and unpacked into {}", unpacked.display());
    Ok(unpacked)
}

/// The target folder cargo uses here: `$CARGO_TARGET_DIR`, or `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// Builds and runs each downstream project against the unpacked packages (every
/// Anneal crate patched in from them, so nothing comes from the workspace), in the
/// workspace's target folder (or `$CARGO_TARGET_DIR`), and fails if burn is in its
/// dependency tree.
pub fn downstream(root: &Path, unpacked: &Path) -> Result<()> {
    let mut patches = String::from("[patch.crates-io]\n");
    let mut packages: Vec<(String, PathBuf)> = std::fs::read_dir(unpacked)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let (crate_name, _version) = name.rsplit_once('-')?;
            Some((crate_name.to_string(), p))
        })
        .collect();
    packages.sort();
    for (name, path) in &packages {
        patches.push_str(&format!("{name} = {{ path = {:?} }}\n", path.display().to_string()));
    }
    let version = crate::release::workspace_version(root)?;
    for (name, dependency, main) in DOWNSTREAM {
        let dependency = format!("{dependency} = \"={version}\"");
        let dir = target_dir(root).join("downstream").join(name);
        std::fs::create_dir_all(dir.join("src"))?;
        let manifest = format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             # Not a member of the Anneal workspace.\n[workspace]\n\n[dependencies]\n{dependency}\n\n\
             # The workspace's dev profile, so the shared target folder's builds are reused.\n\
             [profile.dev]\ndebug = \"line-tables-only\"\n\n[profile.dev.package.\"*\"]\ndebug = false\n\n{patches}"
        );
        std::fs::write(dir.join("Cargo.toml"), manifest)?;
        std::fs::write(dir.join("src/main.rs"), main)?;
        // The workspace's lock file pins the same dependency versions, so the build
        // reuses what the workspace build compiled into the shared target folder.
        std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))?;
        let manifest_path = dir.join("Cargo.toml");
        let manifest_arg = manifest_path.to_str().context("a UTF-8 path")?;
        let tree = cargo(&["tree", "--manifest-path", manifest_arg, "-e", "normal,build", "--prefix", "none"])
            .output()
            .context("cargo tree")?;
        if !tree.status.success() {
            bail!("cargo tree for {name} failed: {}", String::from_utf8_lossy(&tree.stderr));
        }
        let tree = String::from_utf8_lossy(&tree.stdout);
        if let Some(line) = tree.lines().find(|l| l.starts_with("burn")) {
            bail!("{name} would compile burn ({line}), which its Anneal crate does not need");
        }
        let local = tree.lines().filter(|l| l.starts_with("anneal")).collect::<Vec<_>>();
        if local.iter().any(|l| !l.contains(&unpacked.display().to_string())) {
            bail!("{name} resolved an Anneal crate from somewhere other than the packages: {local:?}");
        }
        let mut run = cargo(&["run", "-q", "--manifest-path", manifest_arg]);
        run.env("CARGO_TARGET_DIR", target_dir(root));
        stage(&format!("build and run {name} from the packaged crates"), run)?;
    }
    Ok(())
}
