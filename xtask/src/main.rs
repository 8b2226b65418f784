//! `cargo xtask`: the workspace's one entry point for CI, checks and benchmarks.
//!
//! - `cargo xtask ci`: exactly what `.ci/run` runs — rustfmt check, clippy with
//!   `-D warnings`, then every test (unit, integration, end-to-end, doc tests), all
//!   with the `wgpu` backend and PostgreSQL storage compiled in; installs Mesa's
//!   software Vulkan driver, Open MPI and Chromium with ChromeDriver (the dashboard's
//!   browser tests) and starts a PostgreSQL server on loopback first (as root, from
//!   Debian's packages) when they are missing.
//! - `cargo xtask check`: rustfmt, clippy and rustdoc with warnings as errors.
//! - `cargo xtask package`: every crate packaged (`cargo package --workspace`) and
//!   two projects outside the workspace built from the packages alone, one on
//!   `anneal-data`, one on `anneal-hpo`, checked to compile no burn (CI runs it).
//! - `cargo xtask release <version> [--publish] [--skip-ci] [--skip-binary]
//!   [--binary-profile <profile>] [--skip-docs]`: checks, version bump, changelog,
//!   packages (published with `--publish`), release binary with its SHA-256, docs,
//!   tag (see `release.rs`).
//! - `cargo xtask book`: the docs book built with mdBook (installed from crates.io
//!   when missing), after checking its summary links every chapter, and every link
//!   and image of its chapters checked against the built pages (CI runs it).
//! - `cargo xtask bench data [--reference PYTHON] [--repeats 3]`: the preprocessing
//!   pipeline (impute, scale, one-hot, PCA) on 200 000 rows against scikit-learn.
//! - `cargo xtask bench eval [--reference PYTHON] [--repeats 5] [--n 10000000]`:
//!   accuracy, macro-F1 and binary ROC-AUC over 10^7 predictions against
//!   scikit-learn (`crates/anneal-evaluate/benches/metrics.py`).
//! - `cargo xtask bench hpo [--reference PYTHON] [--trials 100] [--seeds 10]`: the
//!   TPE, GP, random and Sobol samplers on Branin and Hartmann6 (median regret, overhead
//!   per trial) side by side with Optuna's `shared/bench/hpo.py`.
//! - `cargo xtask bench train [--reference PYTHON] [--epochs 2] [--repeats 3]`:
//!   training throughput on each CPU backend at 1 and 2 threads, side by side with
//!   PyTorch's `examples/reference/mlp_train.py` when a Python with torch is given.
//! - `cargo xtask bench distributed [--reference PYTHON] [--epochs 1] [--repeats 3]`:
//!   data-parallel replicas on threads and MPI ranks (weak and strong scaling against
//!   one replica, MLP 784-256-128-10, and the MNIST CNN), two solo replicas at once (the
//!   ceiling), the 2-core limit from a GEMM measured in the same run, the all-reduce
//!   alone against message size, and PyTorch on 1 and 2 threads at batch 256.
//! - `cargo xtask bench augment [--reference PYTHON] [--repeats 3]`: augmentation
//!   throughput per transform on one thread against torchvision v2 and albumentations,
//!   and of the audio transforms against audiomentations
//!   (`examples/reference/augment_bench.py`).
//! - `cargo xtask bench distill`: predict throughput (rows/s) and parameters of the
//!   distillation example's teacher CNN and student MLP (`examples/distill_effect`).
//! - `cargo xtask bench audio [--reference PYTHON] [--repeats 3]`: the audio front end
//!   (decode + log-mel of the 1 600 bundled clips, one thread) against librosa's
//!   (`examples/reference/audio_frontend.py`).
//! - `cargo xtask bench cnn | transformer [--reference PYTHON] [--repeats 5] [--threads 1,2]`:
//!   the MNIST CNN and the food-review transformer trained by the release program beside
//!   PyTorch (`examples/reference/cnn_train.py`, `transformer_train.py`): samples/s (and
//!   padded tokens/s), peak memory, paired test accuracy.
//! - `cargo xtask bench dashboard [--runs 1000] [--trials 5000] [--repeats 20]`: server
//!   time of every `anneal dashboard` endpoint over 1 000 run folders and a 5 000-trial study.
//! - `cargo xtask bench inspect --reference PYTHON [--repeats 3]`: `anneal data inspect`
//!   (release build) against pandas (read_csv, describe, isna, nunique, duplicated) on a
//!   generated 1 M x 23 file and a 337k-row flights-like file
//!   (`crates/anneal-data/benches/inspect_pandas.py`, which also writes the files; the
//!   Python needs numpy and pandas). Time and whole-process peak memory, and the ratios.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

mod book;
mod packaging;
mod release;

/// The cargo features every CI build uses, so one build serves clippy and tests alike
/// (MPI through `ensure_mpi`).
const CI_FEATURES: &str = "anneal/wgpu,anneal/postgres,anneal/mpi";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // XTASK_ROOT: another copy of the workspace (the release test's scratch clone).
    let root = match std::env::var_os("XTASK_ROOT") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask lives in the workspace")?.to_path_buf(),
    };
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("check") => check(),
        Some("package") => {
            let unpacked = packaging::package_all(&root)?;
            packaging::downstream(&root, &unpacked)
        }
        Some("book") => book::book(),
        Some("release") => release::release(&args, &root),
        Some("bench") => bench(&args[1..], &root),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | check | package | book | release <version> | bench (train | data | eval | hpo | inspect | cnn | transformer | distributed | rl | dashboard | augment | audio | distill) [--reference PYTHON] [--repeats N]>"
            );
            std::process::exit(2)
        }
    }
}

fn ci() -> Result<()> {
    let start = Instant::now();
    ensure_software_vulkan()?;
    ensure_mpi()?;
    ensure_chromium()?;
    let postgres = ensure_postgres()?;
    fmt()?;
    clippy()?;
    let mut test = cargo(&["test", "--workspace", "--no-fail-fast", "--features", CI_FEATURES]);
    if let Some(url) = postgres {
        test.env("ANNEAL_TEST_POSTGRES_URL", url);
    }
    // Mesa's Vulkan loader complains on every start when this is unset (CI shells).
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        let dir = std::env::temp_dir().join("anneal-xdg-runtime");
        std::fs::create_dir_all(&dir)?;
        let mut permissions = std::fs::metadata(&dir)?.permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o700);
        std::fs::set_permissions(&dir, permissions)?;
        test.env("XDG_RUNTIME_DIR", dir);
    }
    stage("tests (unit, integration, end-to-end, doc)", test)?;
    let root = std::env::current_dir()?;
    let unpacked = packaging::package_all(&root)?;
    packaging::downstream(&root, &unpacked)?;
    book::book()?;
    eprintln!("xtask ci: all stages passed in {:.1} min", start.elapsed().as_secs_f64() / 60.0);
    Ok(())
}

fn check() -> Result<()> {
    ensure_mpi()?;
    fmt()?;
    clippy()?;
    let mut doc = cargo(&["doc", "--workspace", "--no-deps", "--features", CI_FEATURES]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    stage("rustdoc", doc)
}

fn fmt() -> Result<()> {
    stage("rustfmt", cargo(&["fmt", "--all", "--check"]))
}

fn clippy() -> Result<()> {
    stage(
        "clippy",
        cargo(&["clippy", "--workspace", "--all-targets", "--features", CI_FEATURES, "--", "-D", "warnings"]),
    )
}

fn cargo(args: &[&str]) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.args(args);
    c
}

fn stage(name: &str, mut command: Command) -> Result<()> {
    let start = Instant::now();
    eprintln!("xtask: {name} ...");
    let status = command.status().with_context(|| format!("starting {name}"))?;
    eprintln!("xtask: {name} took {:.1} s", start.elapsed().as_secs_f64());
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

/// The wgpu parity test needs a Vulkan driver; without a GPU that is Mesa's lavapipe.
fn ensure_software_vulkan() -> Result<()> {
    let icd = Path::new("/usr/share/vulkan/icd.d");
    let has_lavapipe = std::fs::read_dir(icd)
        .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("lvp_icd")))
        .unwrap_or(false);
    if has_lavapipe {
        return Ok(());
    }
    apt_install(
        &["mesa-vulkan-drivers"],
        "the wgpu tests need a Vulkan driver: install Mesa's software one with `sudo apt-get install -y mesa-vulkan-drivers`",
    )
}

/// Installs Debian `packages` (after `apt-get update`) when running as root;
/// otherwise fails with `advice`.
fn apt_install(packages: &[&str], advice: &str) -> Result<()> {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    if !root {
        bail!("{advice}");
    }
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    stage("apt-get update", update)?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    stage(&format!("install {}", packages.join(" ")), install)
}

/// Debian's Chromium and ChromeDriver for the dashboard's browser tests (and a font,
/// so its screenshots have text): installed when missing and running as root.
fn ensure_chromium() -> Result<()> {
    if Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists() {
        return Ok(());
    }
    apt_install(
        &["chromium", "chromium-driver", "fonts-dejavu-core"],
        "the dashboard's browser tests need Chromium: `sudo apt-get install -y chromium chromium-driver`",
    )
}

/// Open MPI (`mpicc`, `mpirun`) and libclang, which the `mpi` feature's bindings
/// are generated with: installed from Debian when missing and running as root.
fn ensure_mpi() -> Result<()> {
    let on_path = |tool: &str| {
        Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
    };
    let libclang = ["/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"].iter().any(|dir| {
        std::fs::read_dir(dir).is_ok_and(|d| {
            d.flatten().any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with("libclang") || (name.starts_with("llvm-") && e.path().join("lib/libclang.so").exists())
            })
        })
    });
    if on_path("mpicc") && on_path("mpirun") && libclang {
        return Ok(());
    }
    apt_install(
        &["openmpi-bin", "libopenmpi-dev", "libclang-dev"],
        "the MPI tests need Open MPI and libclang: `sudo apt-get install -y openmpi-bin libopenmpi-dev libclang-dev`",
    )
}

/// A PostgreSQL server on loopback for the storage tests of `anneal-hpo`: the URL in
/// `ANNEAL_TEST_POSTGRES_URL` when set; otherwise, as root, Debian's `postgresql`
/// package is installed if missing, its cluster started, and a role and database
/// `anneal` / `anneal_test` created. Not root and no URL: `None` (the PostgreSQL
/// tests then skip locally and fail under `CI`).
fn ensure_postgres() -> Result<Option<String>> {
    if let Ok(url) = std::env::var("ANNEAL_TEST_POSTGRES_URL") {
        return Ok(Some(url));
    }
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    if !root {
        eprintln!("xtask: not root and ANNEAL_TEST_POSTGRES_URL unset: the PostgreSQL storage tests will skip");
        return Ok(None);
    }
    if !Path::new("/usr/lib/postgresql").is_dir() {
        let mut update = Command::new("apt-get");
        update.args(["update", "-qq"]);
        stage("apt-get update", update)?;
        let mut install = Command::new("apt-get");
        install
            .args(["install", "-y", "-qq", "--no-install-recommends", "postgresql"])
            .env("DEBIAN_FRONTEND", "noninteractive");
        stage("install postgresql", install)?;
    }
    let script = r#"set -e
v=$(ls /usr/lib/postgresql | sort -V | tail -1)
[ -d /etc/postgresql/$v/main ] || pg_createcluster $v main >/dev/null
pg_ctlcluster $v main status >/dev/null 2>&1 || pg_ctlcluster $v main start
for i in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='anneal'\" | grep -q 1 || psql -qc \"CREATE ROLE anneal LOGIN PASSWORD 'anneal'\""
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='anneal_test'\" | grep -q 1 || createdb -O anneal anneal_test"
"#;
    let mut start = Command::new("sh");
    start.args(["-c", script]);
    stage("start PostgreSQL on 127.0.0.1", start)?;
    Ok(Some("postgres://anneal:anneal@127.0.0.1:5432/anneal_test".into()))
}

fn bench(args: &[String], root: &Path) -> Result<()> {
    ensure_mpi()?;
    match args.first().map(String::as_str) {
        Some("train") => bench_train(args, root),
        Some("data") => bench_data(args, root),
        Some("eval") => bench_eval(args, root),
        Some("hpo") => bench_hpo(args, root),
        Some("inspect") => bench_inspect(args, root),
        Some("cnn") => bench_cnn(args, root),
        Some("transformer") => bench_transformer(args, root),
        Some("distributed") => bench_distributed(args, root),
        Some("pipeline") => bench_pipeline(args, root),
        Some("rl") => bench_rl(args, root),
        Some("dashboard") => bench_dashboard(args, root),
        Some("augment") => bench_augment(args, root),
        Some("audio") => bench_audio(args, root),
        Some("distill") => bench_distill(root),
        other => {
            bail!(
                "unknown benchmark {other:?}: available: train, data, eval, hpo, inspect, cnn, transformer, distributed, pipeline, rl, dashboard, augment, audio, distill"
            )
        }
    }
}

/// The JSON line a benchmark or its reference script printed last (`what` names
/// it in the error of a failed run, which shows its stderr), parsed and saved
/// as `target/bench/<file>`.
/// Every JSON line a benchmark printed, after checking that it succeeded (`what`
/// names it in the error).
fn bench_json_lines(output: &std::process::Output, what: &str) -> Result<Vec<serde_json::Value>> {
    if !output.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?)
}

fn bench_json(root: &Path, output: &std::process::Output, what: &str, file: &str) -> Result<serde_json::Value> {
    if !output.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rfind(|l| l.starts_with('{')).unwrap_or_default();
    let value = serde_json::from_str(line)?;
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    std::fs::write(out_dir.join(file), line)?;
    Ok(value)
}

/// `cargo xtask bench augment [--reference PYTHON] [--repeats 3]`: augmentation
/// throughput on one thread, each transform of `examples/reference/augment_bench.py`
/// on the same 5 000 MNIST digits with per-image random parameters
/// (`crates/anneal-regularize/benches/augment.rs`, batches of 256), side by side with
/// that script's torchvision v2 and albumentations per-image figures, and its audio
/// transforms on the 1 600 spoken-digit clips (`benches/audio_augment.rs`) beside
/// audiomentations'; the goal is at least the faster library's rate for every
/// transform.
fn bench_augment(args: &[String], root: &Path) -> Result<()> {
    let repeats = flag_value(args, "--repeats").unwrap_or_else(|| "3".into());
    let mnist = root.join("data/mnist_5k.csv.gz");
    let mnist = mnist.to_str().unwrap_or_default();
    let bench = ["bench", "-q", "-p", "anneal-regularize", "--features", "tensors", "--bench", "augment"];
    stage("build the benchmark", cargo(&[&bench[..], &["--no-run"][..]].concat()))?;
    let output =
        cargo(&bench).args(["--", "--mnist", mnist, "--repeats", &repeats]).env("RAYON_NUM_THREADS", "1").output()?;
    let ours = bench_json(root, &output, "benchmark", "augment.json")?;
    let clips = root.join("data/spoken_digits");
    let clips = clips.to_str().unwrap_or_default();
    let audio_bench = ["bench", "-q", "-p", "anneal-regularize", "--bench", "audio_augment"];
    stage("build the audio benchmark", cargo(&[&audio_bench[..], &["--no-run"][..]].concat()))?;
    let output = cargo(&audio_bench).args(["--", "--clips", clips, "--repeats", &repeats]).output()?;
    let ours_audio = bench_json(root, &output, "audio benchmark", "audio_augment.json")?;
    let mut reference = serde_json::Value::Null;
    if let Some(python) = flag_value(args, "--reference") {
        let script = root.join("examples/reference/augment_bench.py");
        eprintln!("xtask: torchvision and albumentations ({})", script.display());
        let output = Command::new(python)
            .arg(&script)
            .args(["--threads", "1", "--repeats", &repeats, "--audio-repeats", &repeats, "--mnist", mnist])
            .args(["--audio", clips])
            .env("OMP_NUM_THREADS", "1")
            .env("OMP_WAIT_POLICY", "PASSIVE")
            .output()?;
        reference = bench_json(root, &output, "reference", "augment_reference.json")?;
    }
    println!("| transform | Anneal (images/s) | torchvision v2 | albumentations | Anneal / the faster |");
    println!("|---|---|---|---|---|");
    for op in ["hflip", "rotate15", "rrc", "jitter", "noise", "erase"] {
        let a = ours["ops"][op]["images_per_s"].as_f64().unwrap_or(f64::NAN);
        let tv = reference["torchvision_v2"][op]["per_image_images_per_s"].as_f64();
        let al = reference["albumentations_ops"][op]["per_image_images_per_s"].as_f64();
        let best = tv.into_iter().chain(al).fold(f64::NAN, f64::max);
        let cell = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.0}"));
        let ratio = if best.is_nan() { "–".to_string() } else { format!("{:.2}", a / best) };
        println!("| {op} | {a:.0} | {} | {} | {ratio} |", cell(tv), cell(al));
    }
    println!(
        "
one thread; per-image random parameters on both sides (Anneal in batches of 256); median of {repeats} passes"
    );
    println!(
        "\n| transform (audio) | Anneal (clips/s) | audiomentations (the faster method) | Anneal / audiomentations |"
    );
    println!("|---|---|---|---|");
    let am = &reference["audiomentations_ops"];
    for (op, theirs) in [
        ("AddGaussianSNR", &["AddGaussianSNR_10_30dB"][..]),
        ("TimeStretch", &["TimeStretch_0.8_1.25_signalsmith", "TimeStretch_0.8_1.25_librosa"][..]),
        ("PitchShift", &["PitchShift_pm2_signalsmith", "PitchShift_pm2_librosa"][..]),
        ("Shift", &["Shift_default"][..]),
    ] {
        let a = ours_audio["ops"][op]["clips_per_s"].as_f64().unwrap_or(f64::NAN);
        let best = theirs.iter().filter_map(|k| am[k]["clips_per_s"].as_f64()).fold(f64::NAN, f64::max);
        let (cell, ratio) = if best.is_nan() {
            ("–".into(), "–".into())
        } else {
            (format!("{best:.0}"), format!("{:.2}", a / best))
        };
        println!("| {op} | {a:.0} | {cell} | {ratio} |");
    }
    println!("\nthe 1 600 spoken-digit clips, one clip per call on one thread; median of {repeats} passes");
    Ok(())
}

/// `cargo xtask bench audio [--reference PYTHON] [--repeats 3]`: clips/s of the
/// audio front end on one thread (`crates/anneal-data/benches/audio.rs`: the 1 600
/// bundled clips decoded, padded to a second, 40-band log-mel spectrograms), side
/// by side with librosa doing the same (`examples/reference/audio_frontend.py`).
fn bench_audio(args: &[String], root: &Path) -> Result<()> {
    let repeats = flag_value(args, "--repeats").unwrap_or_else(|| "3".into());
    let bench = ["bench", "-q", "-p", "anneal-data", "--bench", "audio"];
    stage("build the benchmark", cargo(&[&bench[..], &["--no-run"][..]].concat()))?;
    let output = cargo(&bench).args(["--", "--repeats", &repeats]).env("RAYON_NUM_THREADS", "1").output()?;
    let ours = bench_json(root, &output, "benchmark", "audio.json")?;
    let anneal = ours["clips_per_s"].as_f64().unwrap_or(f64::NAN);
    println!("Anneal: {anneal:.0} clips/s (decode + log-mel, one thread, median of {repeats} passes)");
    if let Some(python) = flag_value(args, "--reference") {
        let script = root.join("examples/reference/audio_frontend.py");
        let output = Command::new(python)
            .arg(&script)
            .args(["--repeats", &repeats])
            .env("OMP_NUM_THREADS", "1")
            .env("OPENBLAS_NUM_THREADS", "1")
            .env("NUMBA_NUM_THREADS", "1")
            .output()?;
        let reference = bench_json(root, &output, "reference", "audio_reference.json")?;
        let librosa = reference["clips_per_s"].as_f64().unwrap_or(f64::NAN);
        println!(
            "librosa {}: {librosa:.0} clips/s\nAnneal / librosa: {:.2}",
            reference["librosa"].as_str().unwrap_or("?"),
            anneal / librosa
        );
    }
    Ok(())
}

/// `cargo xtask bench dashboard [--runs 1000] [--trials 5000] [--repeats 20]`: the
/// server time of every dashboard endpoint over that many run folders and a study of
/// that many trials (`crates/anneal-dashboard/benches/dashboard.rs`); the goal is
/// under 300 ms for each.
fn bench_dashboard(args: &[String], root: &Path) -> Result<()> {
    let flag = |name: &str, default: &str| flag_value(args, name).unwrap_or_else(|| default.into());
    let (runs, trials, repeats) = (flag("--runs", "1000"), flag("--trials", "5000"), flag("--repeats", "20"));
    stage("build the benchmark", cargo(&["bench", "-p", "anneal-dashboard", "--bench", "dashboard", "--no-run"]))?;
    let output = cargo(&["bench", "-q", "-p", "anneal-dashboard", "--bench", "dashboard", "--"])
        .args(["--runs", &runs, "--trials", &trials, "--repeats", &repeats])
        .output()?;
    if !output.status.success() {
        bail!("benchmark failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines().filter(|l| l.starts_with('|')) {
        println!("{line}");
    }
    let line = stdout.lines().rfind(|l| l.starts_with('{')).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line)?;
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    std::fs::write(out_dir.join("dashboard.json"), line)?;
    let worst = v["worst_server_ms"].as_f64().unwrap_or(f64::NAN);
    println!(
        "\nslowest answer: {worst:.1} ms server time ({runs} runs, a {trials}-trial study; goal: every one under 300 ms)"
    );
    Ok(())
}

/// `cargo xtask bench data [--reference PYTHON] [--repeats 3]`: the preprocessing
/// pipeline on 200 000 rows, side by side with scikit-learn's `preprocess.py`.
fn bench_data(args: &[String], root: &Path) -> Result<()> {
    let flag = |name: &str| flag_value(args, name);
    let repeats = flag("--repeats").unwrap_or_else(|| "3".into());
    let output =
        cargo(&["bench", "-q", "-p", "anneal-data", "--bench", "preprocess", "--", "--repeats", &repeats]).output()?;
    if !output.status.success() {
        bail!("benchmark failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let line =
        String::from_utf8_lossy(&output.stdout).lines().rfind(|l| l.starts_with('{')).unwrap_or_default().to_string();
    eprintln!("{line}");
    let ours: serde_json::Value = serde_json::from_str(&line)?;
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    std::fs::write(out_dir.join("preprocess.json"), &line)?;
    let mut reference = serde_json::Value::Null;
    if let Some(python) = flag("--reference") {
        let script = root.join("../shared/bench/preprocess.py");
        eprintln!("xtask: scikit-learn reference ({})", script.display());
        let output =
            Command::new(python).args([script.to_str().unwrap_or_default(), "--repeats", &repeats]).output()?;
        if !output.status.success() {
            bail!("reference failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let line = String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_string();
        std::fs::write(out_dir.join("preprocess_sklearn.json"), &line)?;
        reference = serde_json::from_str(&line)?;
    }
    println!("| step | anneal (s) | scikit-learn (s) | anneal / scikit-learn |");
    println!("|---|---|---|---|");
    for key in ["pipeline_fit_transform", "pipeline_transform", "kfold5_shuffle", "kfold5_noshuffle"] {
        let a = ours["seconds_median"][key].as_f64().unwrap_or(f64::NAN);
        let s = reference["seconds_median"][key].as_f64();
        println!(
            "| {key} | {a:.3} | {} | {} |",
            s.map_or("–".into(), |s| format!("{s:.3}")),
            s.map_or("–".into(), |s| format!("{:.2}", a / s))
        );
    }
    println!("\npeak resident memory (anneal, whole process): {} MB", ours["peak_rss_mb"]);
    Ok(())
}

/// `cargo xtask bench eval [--reference PYTHON] [--repeats 5] [--n 10000000]`:
/// accuracy, macro-F1 and binary ROC-AUC over the same seeded predictions in
/// anneal-evaluate and scikit-learn, with the speed-up and whether the values agree.
fn bench_eval(args: &[String], root: &Path) -> Result<()> {
    let flag = |name: &str| flag_value(args, name);
    let repeats = flag("--repeats").unwrap_or_else(|| "5".into());
    let n = flag("--n").unwrap_or_else(|| "10000000".into());
    stage("build the benchmark", cargo(&["bench", "-p", "anneal-evaluate", "--bench", "metrics", "--no-run"]))?;
    let output = cargo(&["bench", "-q", "-p", "anneal-evaluate", "--bench", "metrics", "--"])
        .args(["--repeats", &repeats, "--n", &n])
        .output()?;
    if !output.status.success() {
        bail!("benchmark failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let line =
        String::from_utf8_lossy(&output.stdout).lines().rfind(|l| l.starts_with('{')).unwrap_or_default().to_string();
    eprintln!("{line}");
    let ours: serde_json::Value = serde_json::from_str(&line)?;
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    std::fs::write(out_dir.join("eval.json"), &line)?;
    let mut reference = serde_json::Value::Null;
    if let Some(python) = flag("--reference") {
        let script = root.join("crates/anneal-evaluate/benches/metrics.py");
        eprintln!("xtask: scikit-learn reference ({})", script.display());
        let output = Command::new(python)
            .args([script.to_str().unwrap_or_default(), "--repeats", &repeats, "--n", &n])
            .env("OMP_NUM_THREADS", "1")
            .env("OPENBLAS_NUM_THREADS", "1")
            .output()?;
        if !output.status.success() {
            bail!("reference failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let line = String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_string();
        eprintln!("{line}");
        std::fs::write(out_dir.join("eval_sklearn.json"), &line)?;
        reference = serde_json::from_str(&line)?;
    }
    println!("| metric | anneal (s) | scikit-learn (s) | speed-up (scikit-learn / anneal) | same value |");
    println!("|---|---|---|---|---|");
    for key in ["accuracy", "macro_f1", "roc_auc"] {
        let a = ours["seconds_median"][key].as_f64().unwrap_or(f64::NAN);
        let s = reference["seconds_median"][key].as_f64();
        let same = match (ours["values"][key].as_f64(), reference["values"][key].as_f64()) {
            (Some(x), Some(y)) => {
                if (x - y).abs() <= 1e-9 {
                    "yes"
                } else {
                    "NO"
                }
            }
            _ => "–",
        };
        println!(
            "| {key} | {a:.4} | {} | {} | {same} |",
            s.map_or("–".into(), |s| format!("{s:.4}")),
            s.map_or("–".into(), |s| format!("{:.1}x", s / a))
        );
    }
    println!("\n{n} predictions, median of {repeats} runs each, one thread on both sides");
    Ok(())
}

/// `cargo xtask bench inspect --reference PYTHON [--repeats 3]`: `anneal data inspect`
/// against pandas on the same two generated files, each run in a fresh process.
fn bench_inspect(args: &[String], root: &Path) -> Result<()> {
    let flag = |name: &str| flag_value(args, name);
    let repeats = flag("--repeats").unwrap_or_else(|| "3".into());
    let Some(python) = flag("--reference") else {
        bail!("bench inspect needs --reference PYTHON (a Python with numpy and pandas): it generates the files")
    };
    stage("build the release binary", cargo(&["build", "--release", "-p", "anneal"]))?;
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let script = root.join("crates/anneal-data/benches/inspect_pandas.py");
    let anneal = root.join("target/release/anneal");
    let output = Command::new(python)
        .args([script.to_str().unwrap_or_default(), "--anneal", anneal.to_str().unwrap_or_default()])
        .args(["--dir", out_dir.join("inspect").to_str().unwrap_or_default(), "--repeats", &repeats])
        .output()?;
    if !output.status.success() {
        bail!("benchmark failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let line = String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_string();
    std::fs::write(out_dir.join("inspect.json"), &line)?;
    let result: serde_json::Value = serde_json::from_str(&line)?;
    println!("| file | pandas (s) | anneal (s) | time ratio | pandas peak (MB) | anneal peak (MB) | memory ratio |");
    println!("|---|---|---|---|---|---|---|");
    for name in ["wide", "flights"] {
        let f = &result["files"][name];
        let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
        println!(
            "| {name} ({} MB) | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} | {:.2} |",
            num(&f["bytes"]) as u64 / 1_000_000,
            num(&f["pandas"]["seconds"]),
            num(&f["anneal"]["seconds"]),
            num(&f["time_ratio"]),
            num(&f["pandas"]["peak_rss_mb"]),
            num(&f["anneal"]["peak_rss_mb"]),
            num(&f["memory_ratio"]),
        );
    }
    println!(
        "\nmedian of {repeats} runs; pandas {}; target: both ratios at most 0.5",
        result["files"]["wide"]["pandas"]["version"]
    );
    Ok(())
}

/// The value after `--name` in `args`, if any.
/// The median of `v` (the mean of the two middle values for an even count, as
/// Python's `statistics.median` in the reference scripts); NaN for none.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `dir`, emptied of an earlier sitting's files (created when missing).
fn fresh_dir(dir: PathBuf) -> Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn flag_value(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn bench_train(args: &[String], root: &Path) -> Result<()> {
    let flag = |name: &str| flag_value(args, name);
    let reference: Option<PathBuf> = flag("--reference").map(PathBuf::from);
    // The reference script's defaults: 2 epochs, median of 3 runs.
    let epochs = flag("--epochs").unwrap_or_else(|| "2".into());
    let repeats = flag("--repeats").unwrap_or_else(|| "3".into());
    // With the workspace's one feature set (CI's), so the release build is shared
    // with the other benchmarks instead of building burn a second way.
    let bench = ["bench", "-q", "-p", "anneal", "-p", "anneal-train", "--bench", "train", "--features", CI_FEATURES];
    let mut build = cargo(&bench);
    build.arg("--no-run");
    stage("build the benchmark", build)?;
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let mut lines = Vec::new();
    for threads in ["1", "2"] {
        let output = cargo(&bench)
            .args(["--", "--backends", "flex,ndarray"])
            .args(["--epochs", &epochs, "--repeats", &repeats])
            .env("RAYON_NUM_THREADS", threads)
            .env("MATMUL_NUM_THREADS", threads)
            .output()?;
        for line in bench_json_lines(&output, "benchmark")? {
            eprintln!("{line}");
            lines.push(line);
        }
    }
    let mut torch: Vec<serde_json::Value> = Vec::new();
    if let Some(python) = reference {
        let script = root.join("examples/reference/mlp_train.py");
        eprintln!("xtask: PyTorch reference ({})", script.display());
        let output = Command::new(python)
            .args([
                script.to_str().unwrap_or_default(),
                "--threads",
                "1,2",
                "--epochs",
                &epochs,
                "--repeats",
                &repeats,
                "--skip-digits",
            ])
            .env("OMP_WAIT_POLICY", "PASSIVE")
            .output()?;
        if !output.status.success() {
            bail!("reference failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let line = String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_string();
        let v: serde_json::Value = serde_json::from_str(&line)?;
        torch = v["synthetic"].as_array().cloned().unwrap_or_default();
        std::fs::write(out_dir.join("train_pytorch.json"), line)?;
    }
    std::fs::write(out_dir.join("train.json"), lines.iter().map(|l| l.to_string() + "\n").collect::<String>())?;

    println!(
        "| backend | threads | batch | anneal step (samples/s) | anneal loop (samples/s) | loop / step (paired) | PyTorch (samples/s) | step / PyTorch |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for l in lines.iter().filter(|l| l["mode"] == "step") {
        let line = |mode: &str| {
            lines.iter().find(|o| {
                o["mode"] == mode
                    && o["backend"] == l["backend"]
                    && o["threads"] == l["threads"]
                    && o["batch"] == l["batch"]
            })
        };
        let find = |mode: &str| line(mode).and_then(|o| o["samples_per_s_median"].as_f64());
        // Step and loop runs alternate, so run i of each saw the same load: the median
        // of the per-pair ratios is steadier than the ratio of the medians.
        let runs = |mode: &str| -> Vec<f64> {
            line(mode)
                .and_then(|o| o["runs"].as_array())
                .map(|r| r.iter().filter_map(|v| v.as_f64()).collect())
                .unwrap_or_default()
        };
        let mut pairs: Vec<f64> = runs("step").iter().zip(runs("loop")).map(|(s, l)| l / s).collect();
        pairs.sort_by(f64::total_cmp);
        let paired = pairs.get(pairs.len() / 2).copied().unwrap_or(f64::NAN);
        let threads: u64 = l["threads"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
        let t = torch
            .iter()
            .find(|t| t["threads"].as_u64() == Some(threads) && t["batch"] == l["batch"])
            .and_then(|t| t["samples_per_s_median"].as_f64());
        let step = find("step").unwrap_or(f64::NAN);
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.2} | {} | {} |",
            l["backend"].as_str().unwrap_or("?"),
            threads,
            l["batch"],
            step,
            find("loop").unwrap_or(f64::NAN),
            paired,
            t.map_or("–".into(), |t| format!("{t:.0}")),
            t.map_or("–".into(), |t| format!("{:.2}", step / t)),
        );
    }
    Ok(())
}

/// `cargo xtask bench distributed [--reference PYTHON] [--epochs 1] [--repeats 3]`:
/// `crates/anneal-distributed/benches/replicas.rs` (built with the CI feature set):
/// training on threads, then as MPI ranks, then the all-reduce alone
/// (`target/bench/allreduce.json`); then PyTorch's `examples/reference/mlp_train.py`
/// at batch 256 on 1 and 2 threads.
/// `cargo xtask bench pipeline [--repeats 3]`: the measurements of the scaling
/// chapter (`crates/anneal-distributed/benches/pipeline.rs`): the GPipe bubble for
/// 1, 2, 4 and 8 micro-batches on 2 stages (threads, then 2 MPI ranks) beside the
/// plain loop on one thread; the three models' single-thread rates; all-reduce and
/// point-to-point times against message size on 2 threads, 2 MPI ranks (shared
/// memory), 4 ranks (oversubscribed) and, as root, 2 ranks in two network
/// namespaces joined by a veth pair (set up here and removed after). Everything
/// goes to `target/bench/pipeline.json`; `cargo run --release -p anneal --example
/// scaling` fits α + β·n to it, models larger clusters and draws the chapter's plots.
fn bench_pipeline(args: &[String], root: &Path) -> Result<()> {
    let repeats = flag_value(args, "--repeats").unwrap_or_else(|| "3".into());
    let exe = build_distributed_bench(root, "pipeline")?;
    let run = |mut c: Command, what: &str| -> Result<Vec<serde_json::Value>> {
        eprintln!("xtask: {what} ...");
        bench_json_lines(&c.env("MIMALLOC_PURGE_DELAY", "-1").env("RAYON_NUM_THREADS", "1").output()?, what)
    };
    let mpirun = |ranks: &str, extra: &[&str]| {
        let mut c = Command::new("mpirun");
        c.args([
            "--allow-run-as-root",
            "--oversubscribe",
            "-np",
            ranks,
            "-x",
            "RAYON_NUM_THREADS",
            "-x",
            "MIMALLOC_PURGE_DELAY",
        ]);
        c.arg(&exe).args(extra);
        c
    };
    let mut threads = Command::new(&exe);
    threads.args(["--repeats", &repeats]);
    let mut lines = run(threads, "the bubble on threads, and the models")?;
    lines.extend(run(mpirun("2", &["--mpi", "--repeats", &repeats]), "the bubble on 2 MPI ranks")?);
    let mut comm = Command::new(&exe);
    comm.arg("--comm");
    lines.extend(run(comm, "messages between 2 threads")?);
    lines.extend(run(mpirun("2", &["--comm", "--mpi", "--label", "shm"]), "messages between 2 MPI ranks")?);
    lines.extend(run(mpirun("4", &["--comm", "--mpi", "--label", "shm"]), "messages between 4 MPI ranks")?);
    let root_user = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    if root_user {
        lines.extend(veth_comm(&exe, &run)?);
    } else {
        eprintln!("xtask: not root: no network namespaces, so no veth measurement");
    }
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let path = out_dir.join("pipeline.json");
    std::fs::write(&path, lines.iter().map(|l| l.to_string() + "\n").collect::<String>())?;
    // The bubble, median over rounds.
    println!(
        "| transport | micro-batches M | theory (S − 1)/(M + S − 1) | stage 0 waited | stage 1 waited | samples/s |"
    );
    println!("|---|---|---|---|---|---|");
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    for transport in ["threads", "mpi"] {
        for m in [1u64, 2, 4, 8] {
            let rows: Vec<&serde_json::Value> = lines
                .iter()
                .filter(|l| {
                    l["kind"] == "bubble" && l["transport"] == transport && l["micro_batches"].as_u64() == Some(m)
                })
                .collect();
            let stage = |s: u64| {
                median(
                    rows.iter()
                        .flat_map(|l| l["per_stage"].as_array().cloned().unwrap_or_default())
                        .filter(|p| p["stage"].as_u64() == Some(s))
                        .filter_map(|p| p["bubble"].as_f64())
                        .collect(),
                )
            };
            println!(
                "| {transport} | {m} | {:.3} | {:.3} | {:.3} | {:.0} |",
                rows.first().and_then(|l| l["theory"].as_f64()).unwrap_or(f64::NAN),
                stage(0),
                stage(1),
                median(rows.iter().filter_map(|l| l["samples_per_s"].as_f64()).collect())
            );
        }
    }
    let plain =
        median(lines.iter().filter(|l| l["kind"] == "plain").filter_map(|l| l["samples_per_s"].as_f64()).collect());
    println!("plain loop, one thread: {plain:.0} samples/s");
    println!(
        "written: {} (plots and the scaling model: cargo run --release -p anneal --example scaling)",
        path.display()
    );
    Ok(())
}

/// The message benchmark on 2 MPI ranks in two network namespaces joined by a
/// veth pair: Open MPI's remote-shell agent starts rank 1's daemon in the
/// second namespace, and the ranks talk TCP over the pair. Ranks that spin
/// while waiting would starve the softirq that moves veth packets on a small
/// machine, so they yield (`mpi_yield_when_idle`).
fn veth_comm(
    exe: &Path,
    run: &dyn Fn(Command, &str) -> Result<Vec<serde_json::Value>>,
) -> Result<Vec<serde_json::Value>> {
    let ns = ["anneal-bench-0", "anneal-bench-1"];
    let ip = |args: &[&str]| -> Result<()> {
        let o = Command::new("ip").args(args).output()?;
        if !o.status.success() {
            bail!("ip {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        }
        Ok(())
    };
    let teardown = || {
        for n in ns {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    };
    teardown();
    let setup = || -> Result<()> {
        ip(&["netns", "add", ns[0]])?;
        ip(&["netns", "add", ns[1]])?;
        ip(&["link", "add", "anneal-b0", "netns", ns[0], "type", "veth", "peer", "name", "anneal-b1", "netns", ns[1]])?;
        for (i, n) in ns.iter().enumerate() {
            ip(&["-n", n, "addr", "add", &format!("10.232.0.{}/24", i + 1), "dev", &format!("anneal-b{i}")])?;
            ip(&["-n", n, "link", "set", &format!("anneal-b{i}"), "up"])?;
            ip(&["-n", n, "link", "set", "lo", "up"])?;
        }
        Ok(())
    };
    let result = setup().and_then(|()| {
        let dir = std::env::temp_dir().join(format!("anneal-veth-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let agent = dir.join("agent.sh");
        std::fs::write(&agent, format!("#!/bin/sh\nshift\nexec ip netns exec {} sh -c \"$*\"\n", ns[1]))?;
        Command::new("chmod").arg("+x").arg(&agent).status()?;
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            ns[0],
            "mpirun",
            "--allow-run-as-root",
            "--host",
            "localhost:1,10.232.0.2:1",
            "-np",
            "2",
        ])
        .args(["--mca", "plm_rsh_agent"])
        .arg(&agent)
        .args(["--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", "10.232.0.0/24"])
        .args(["--mca", "oob_tcp_if_include", "10.232.0.0/24", "--mca", "mpi_yield_when_idle", "1"])
        .args(["-x", "RAYON_NUM_THREADS", "-x", "MIMALLOC_PURGE_DELAY"])
        .arg(exe)
        .args(["--comm", "--mpi", "--label", "veth"]);
        let lines = run(c, "messages between 2 MPI ranks in two network namespaces (veth)");
        let _ = std::fs::remove_dir_all(&dir);
        lines
    });
    teardown();
    result
}

/// `cargo bench` of anneal-distributed's benchmark `name` with `extra`
/// arguments, with the CI features and the `anneal` program's allocator
/// setting (which it gives itself in its main.rs).
fn distributed_bench(name: &str, extra: &[&str]) -> Command {
    let mut c =
        cargo(&["bench", "-p", "anneal", "-p", "anneal-distributed", "--bench", name, "--features", CI_FEATURES]);
    c.args(extra);
    c.env("MIMALLOC_PURGE_DELAY", "-1");
    c
}

/// Builds anneal-distributed's benchmark `name` and returns the executable
/// cargo built (which `mpirun` can then start).
fn build_distributed_bench(root: &Path, name: &str) -> Result<PathBuf> {
    eprintln!("xtask: build the benchmark ...");
    let built = distributed_bench(name, &["--no-run"]).output()?;
    if !built.status.success() {
        bail!("the benchmark does not build: {}", String::from_utf8_lossy(&built.stderr));
    }
    let prefix = format!("Executable benches/{name}.rs (");
    String::from_utf8_lossy(&built.stderr)
        .lines()
        .find_map(|l| l.trim().strip_prefix(prefix.as_str()).and_then(|r| r.strip_suffix(')')))
        .map(|p| root.join(p))
        .context("the benchmark executable")
}

fn bench_distributed(args: &[String], root: &Path) -> Result<()> {
    let flag = |name: &str| flag_value(args, name);
    let epochs = flag("--epochs").unwrap_or_else(|| "1".into());
    let repeats = flag("--repeats").unwrap_or_else(|| "3".into());
    let bench = |extra: &[&str]| distributed_bench("replicas", extra);
    // Built once; cargo names the executable it built, which mpirun runs below.
    let exe = build_distributed_bench(root, "replicas")?;
    let mut lines =
        bench_json_lines(&bench(&["--", "--epochs", &epochs, "--repeats", &repeats]).output()?, "benchmark")?;
    // The MNIST CNN (examples/configs/mnist_cnn.toml) on 4 000 rows: one replica at
    // batch 64, two at 32 (the same training, global batch 64), two at 64, and one
    // replica on two threads.
    let output = bench(&["--", "--model", "cnn", "--n", "4000", "--epochs", &epochs, "--repeats", &repeats])
        .args(["--configs", "1x1x64,2x1x32,2x1x64,1x2x64"])
        .output()?;
    let cnn_lines: Vec<serde_json::Value> =
        bench_json_lines(&output, "CNN benchmark")?.into_iter().filter(|l| l.get("replicas").is_some()).collect();
    // The benchmark as `ranks` MPI ranks (separate processes, one compute thread each).
    let mpirun = |ranks: &str, args: &[&str]| -> Result<std::process::Output> {
        Ok(Command::new("mpirun")
            .args(["--allow-run-as-root", "--oversubscribe", "-np", ranks])
            .arg(&exe)
            .args(args)
            .env("RAYON_NUM_THREADS", "1")
            .env("MIMALLOC_PURGE_DELAY", "-1")
            .output()?)
    };
    // The same replicas as MPI ranks, 1 and 2 of them.
    let mut mpi_lines = Vec::new();
    for ranks in ["1", "2"] {
        let output = mpirun(ranks, &["--mpi", "--epochs", &epochs, "--repeats", &repeats])?;
        mpi_lines.extend(bench_json_lines(&output, "MPI benchmark")?);
    }
    lines.extend(mpi_lines.iter().cloned());
    // The all-reduce alone against message size: 2 thread replicas (the
    // replicas' way and the staged default), 2 MPI ranks.
    let mut allreduce = bench_json_lines(
        &Command::new(&exe).arg("--allreduce").env("MIMALLOC_PURGE_DELAY", "-1").output()?,
        "thread all-reduce benchmark",
    )?;
    allreduce.extend(bench_json_lines(&mpirun("2", &["--allreduce", "--mpi"])?, "MPI all-reduce benchmark")?);
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    std::fs::write(out_dir.join("distributed.json"), lines.iter().map(|l| l.to_string() + "\n").collect::<String>())?;
    let mut torch: Vec<serde_json::Value> = Vec::new();
    if let Some(python) = flag("--reference") {
        let script = root.join("examples/reference/mlp_train.py");
        eprintln!("xtask: PyTorch reference ({})", script.display());
        let output = Command::new(python)
            .args([script.to_str().unwrap_or_default(), "--threads", "1,2", "--batch-sizes", "256"])
            .args(["--epochs", &epochs, "--repeats", &repeats, "--skip-digits"])
            .env("OMP_WAIT_POLICY", "PASSIVE")
            .output()?;
        if !output.status.success() {
            bail!("reference failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let line = String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_string();
        let v: serde_json::Value = serde_json::from_str(&line)?;
        torch = v["synthetic"].as_array().cloned().unwrap_or_default();
        std::fs::write(out_dir.join("distributed_pytorch.json"), line)?;
    }
    let limit = lines.iter().find_map(|l| l["two_core_limit_samples_per_s"].as_f64()).unwrap_or(f64::NAN);
    let gflops = lines.iter().find_map(|l| l["gemm_gflops_1_thread"].as_f64()).unwrap_or(f64::NAN);
    let runs: Vec<&serde_json::Value> = lines.iter().filter(|l| l.get("replicas").is_some()).collect();
    let mpi_at = |ranks: u64| {
        mpi_lines
            .iter()
            .find(|l| l["mpi_ranks"].as_u64() == Some(ranks))
            .and_then(|l| l["samples_per_s_median"].as_f64())
    };
    let single =
        runs.iter().copied().find(|l| l["replicas"] == 1 && l["threads_per_replica"] == 1 && l["solo"] != true);
    let base = single.and_then(|l| l["samples_per_s_median"].as_f64()).unwrap_or(f64::NAN);
    let series = |l: &serde_json::Value| -> Vec<f64> {
        l["runs"].as_array().map(|r| r.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default()
    };
    // The configurations run interleaved, so run i of each saw the same load: the
    // median of the per-run ratios is steadier than the ratio of the medians.
    let paired = |l: &serde_json::Value| -> f64 {
        let base_runs = single.map(&series).unwrap_or_default();
        let mut ratios: Vec<f64> = series(l).iter().zip(&base_runs).map(|(v, b)| v / b).collect();
        ratios.sort_by(f64::total_cmp);
        ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let torch_at = |threads: u64| {
        torch
            .iter()
            .find(|t| t["threads"].as_u64() == Some(threads) && t["batch"].as_u64() == Some(256))
            .and_then(|t| t["samples_per_s_median"].as_f64())
    };
    println!("2-core limit: {limit:.0} samples/s (single-thread GEMM {gflops:.1} GFLOP/s × 2 ÷ 1.40 MFLOP per sample)");
    println!(
        "| replicas × threads | local batch | global batch | samples/s | vs 1 replica (paired) | of the 2-core limit | gradient sync s/epoch (all-reduce) | PyTorch, same cores |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for l in runs {
        let v = l["samples_per_s_median"].as_f64().unwrap_or(f64::NAN);
        let cores = l["replicas"].as_u64().unwrap_or(0) * l["threads_per_replica"].as_u64().unwrap_or(0);
        let solo = l["solo"] == true;
        println!(
            "| {} × {}{} | {} | {} | {v:.0} | {:.2}× ({:.2}×) | {:.0} % | {:.3} ({:.3}) | {} |",
            l["replicas"],
            l["threads_per_replica"],
            if solo { ", solo (no exchange)" } else { "" },
            l["local_batch"],
            if solo { "–".to_string() } else { l["global_batch"].to_string() },
            v / base,
            paired(l),
            100.0 * v / limit,
            l["sync_seconds_median"].as_f64().unwrap_or(f64::NAN) / epochs.parse::<f64>().unwrap_or(1.0),
            l["allreduce_seconds_median"].as_f64().unwrap_or(f64::NAN) / epochs.parse::<f64>().unwrap_or(1.0),
            torch_at(cores).map_or("–".into(), |t| format!("{t:.0} ({:.2}×)", v / t)),
        );
    }
    println!("\nMNIST CNN (4 000 rows, Adam; compare PyTorch with `cargo xtask bench cnn --reference`):");
    println!("| replicas × threads | local batch | global batch | samples/s |");
    println!("|---|---|---|---|");
    for l in &cnn_lines {
        println!(
            "| {} × {} | {} | {} | {:.0} |",
            l["replicas"],
            l["threads_per_replica"],
            l["local_batch"],
            l["global_batch"],
            l["samples_per_s_median"].as_f64().unwrap_or(f64::NAN)
        );
    }
    std::fs::write(
        out_dir.join("distributed_cnn.json"),
        cnn_lines.iter().map(|l| l.to_string() + "\n").collect::<String>(),
    )?;
    if let (Some(one), Some(two)) = (mpi_at(1), mpi_at(2)) {
        println!(
            "\nMPI ranks (one process each, batch 256 per rank): 1 rank {one:.0} samples/s, 2 ranks {two:.0} samples/s: {:.2}×",
            two / one
        );
    }
    std::fs::write(out_dir.join("allreduce.json"), allreduce.iter().map(|l| l.to_string() + "\n").collect::<String>())?;
    println!("\nThe weighted-mean all-reduce alone, 2 replicas (median µs per operation):");
    let transports = ["threads", "threads-staged", "mpi"];
    println!("| values | {} |", transports.join(" | "));
    println!("|---|---|---|---|");
    let mut sizes: Vec<u64> = allreduce.iter().filter_map(|l| l["values"].as_u64()).collect();
    sizes.sort_unstable();
    sizes.dedup();
    for n in sizes {
        let cell = |t: &str| {
            allreduce
                .iter()
                .find(|l| l["values"].as_u64() == Some(n) && l["transport"] == t)
                .and_then(|l| l["seconds_median"].as_f64())
                .map_or("–".into(), |s| format!("{:.1}", s * 1e6))
        };
        println!("| {n} | {} |", transports.map(cell).join(" | "));
    }
    Ok(())
}

/// A model trained by the real `anneal` program beside its PyTorch reference script.
struct ModelBench {
    /// The bench's name (`target/bench/<name>`).
    name: &'static str,
    /// The run config, relative to the repository root.
    config: &'static str,
    /// The data file the config's relative path names, relative to the root.
    data: &'static str,
    /// How the config spells the data path.
    data_in_config: &'static str,
    /// The reference script in `examples/reference`.
    script: &'static str,
    /// Whether the script takes `--data` and the run's `--split-json` (else its data is fixed).
    same_split: bool,
    /// Extra arguments of the script.
    script_args: &'static [&'static str],
    /// Padded tokens per sample, for a text model (tokens/s are then reported too).
    tokens: Option<f64>,
}

/// `cargo xtask bench cnn [--reference PYTHON] [--repeats 5] [--threads 1,2]`: the
/// MNIST CNN of `examples/configs/mnist_cnn.toml` trained by the real `anneal` program
/// (release) with seeds 0..repeats at each thread count, side by side with PyTorch's
/// `examples/reference/cnn_train.py` on the same split (the run's `split.json`) and seeds.
/// Prints training samples/s (4000 × epochs over the epochs' time; the median over
/// seeds), peak memory, and test accuracy per seed with the paired difference.
fn bench_cnn(args: &[String], root: &Path) -> Result<()> {
    bench_model(
        args,
        root,
        &ModelBench {
            name: "cnn",
            config: "examples/configs/mnist_cnn.toml",
            data: "data/mnist_5k.csv.gz",
            data_in_config: "../../data/mnist_5k.csv.gz",
            script: "cnn_train.py",
            same_split: true,
            script_args: &[],
            tokens: None,
        },
    )
}

/// `cargo xtask bench transformer [--reference PYTHON] [--repeats 5] [--threads 1,2]`:
/// the food-review transformer of `examples/configs/fine_foods_transformer.toml` as
/// `bench cnn` trains the CNN, beside `examples/reference/transformer_train.py` (pre-LN,
/// no warm-up: the config's settings) on the same 4000 / 1000 reviews and seeds.
/// Prints samples/s and padded tokens/s (128 per review), peak memory and paired test accuracy.
fn bench_transformer(args: &[String], root: &Path) -> Result<()> {
    bench_model(
        args,
        root,
        &ModelBench {
            name: "transformer",
            config: "examples/configs/fine_foods_transformer.toml",
            data: "data/fine_foods.csv.gz",
            data_in_config: "../../data/fine_foods.csv.gz",
            script: "transformer_train.py",
            same_split: false,
            script_args: &["--norm-first", "1", "--warmup-steps", "0"],
            tokens: Some(128.0),
        },
    )
}

fn bench_model(args: &[String], root: &Path, bench: &ModelBench) -> Result<()> {
    let flag = |name: &str| flag_value(args, name);
    let repeats: usize = flag("--repeats").unwrap_or_else(|| "5".into()).parse()?;
    let threads_list = flag("--threads").unwrap_or_else(|| "1,2".into());
    let reference = flag("--reference").map(PathBuf::from);
    // The CI feature set, so that this build shares its artifacts with every other one.
    stage("build anneal (release)", cargo(&["build", "--release", "-p", "anneal", "--features", CI_FEATURES]))?;
    let out_dir = fresh_dir(root.join("target/bench").join(bench.name))?;
    let config_text = std::fs::read_to_string(root.join(bench.config))?;
    let data = root.join(bench.data);
    let mut rows = Vec::new();
    let mut accuracy: Vec<(usize, f64, Option<f64>)> = Vec::new();
    for threads in threads_list.split(',') {
        let mut anneal_speed = Vec::new();
        let mut anneal_mem = Vec::new();
        let mut split_json = None;
        for seed in 0..repeats {
            let config = out_dir.join(format!("{}_seed{seed}.toml", bench.name));
            let text = config_text
                .replace("seed = 0\n", &format!("seed = {seed}\n"))
                .replace(bench.data_in_config, data.to_str().unwrap_or_default());
            std::fs::write(&config, text)?;
            let run = out_dir.join(format!("anneal-t{threads}-seed{seed}"));
            let status = Command::new(root.join("target/release/anneal"))
                .args(["train", "--config", config.to_str().unwrap_or_default(), "--out"])
                .arg(&run)
                .arg("--log")
                .env("RAYON_NUM_THREADS", threads)
                .env("MATMUL_NUM_THREADS", threads)
                .env_remove("BURN_DEVICE")
                .stdout(std::process::Stdio::null())
                .status()?;
            if !status.success() {
                bail!("anneal train failed ({status})");
            }
            let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json"))?)?;
            let seconds: f64 =
                m["history"].as_array().map_or(0.0, |h| h.iter().filter_map(|e| e["seconds"].as_f64()).sum());
            let samples =
                m["split"]["train"].as_f64().unwrap_or(0.0) * m["history"].as_array().map_or(0, Vec::len) as f64;
            anneal_speed.push(samples / seconds);
            anneal_mem.push(m["energy"]["peak_memory_mb"].as_f64().unwrap_or(f64::NAN));
            let acc = m["test"]["accuracy"].as_f64().unwrap_or(f64::NAN);
            eprintln!(
                "xtask: anneal threads={threads} seed={seed}: {:.0} samples/s, test accuracy {acc:.4}",
                samples / seconds
            );
            if threads == threads_list.split(',').next().unwrap_or("1") {
                accuracy.push((seed, acc, None));
            }
            split_json.get_or_insert(run.join("split.json"));
        }
        let mut torch_speed = f64::NAN;
        let mut torch_mem = f64::NAN;
        if let Some(python) = &reference {
            let script = root.join("examples/reference").join(bench.script);
            let out = out_dir.join(format!("pytorch-t{threads}.json"));
            let mut command = Command::new("/usr/bin/time");
            command
                .args(["-f", "%M"])
                .arg(python)
                .arg(&script)
                .args(["--threads", threads, "--repeats", &repeats.to_string()])
                .args(bench.script_args);
            if bench.same_split {
                command.arg("--data").arg(&data).arg("--split-json").arg(split_json.as_ref().context("no anneal run")?);
            }
            let output = command.arg("--out").arg(&out).env("OMP_WAIT_POLICY", "PASSIVE").output()?;
            if !output.status.success() {
                bail!("reference failed: {}", String::from_utf8_lossy(&output.stderr));
            }
            let stderr = String::from_utf8_lossy(&output.stderr);
            torch_mem =
                stderr.lines().last().and_then(|l| l.trim().parse::<f64>().ok()).map_or(f64::NAN, |kb| kb / 1024.0);
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
            torch_speed = v["samples_per_s_median"].as_f64().unwrap_or(f64::NAN);
            if threads == threads_list.split(',').next().unwrap_or("1") {
                for (r, run) in v["runs"].as_array().cloned().unwrap_or_default().iter().enumerate() {
                    if let Some(a) = accuracy.get_mut(r) {
                        a.2 = run["test_acc"].as_f64();
                    }
                }
            }
        }
        rows.push((threads.to_string(), median(anneal_speed), median(anneal_mem), torch_speed, torch_mem));
    }
    let tokens = |samples: f64| bench.tokens.map_or(String::new(), |t| format!(" | {:.0}", samples * t));
    let token_header =
        if bench.tokens.is_some() { " | Anneal (padded tokens/s) | PyTorch (padded tokens/s)" } else { "" };
    println!(
        "| threads | Anneal (samples/s) | Anneal peak memory (MB) | PyTorch (samples/s) | PyTorch peak memory (MB) | Anneal / PyTorch{token_header} |"
    );
    println!("|---|---|---|---|---|---|{}", if bench.tokens.is_some() { "---|---|" } else { "" });
    for (t, a, am, p, pm) in &rows {
        println!("| {t} | {a:.0} | {am:.0} | {p:.0} | {pm:.0} | {:.2}{}{} |", a / p, tokens(*a), tokens(*p));
    }
    println!("\n| seed | Anneal test accuracy | PyTorch test accuracy | difference |\n|---|---|---|---|");
    let mut diffs = Vec::new();
    for (seed, a, p) in &accuracy {
        let d = p.map(|p| a - p);
        diffs.extend(d);
        println!(
            "| {seed} | {a:.4} | {} | {} |",
            p.map_or("–".into(), |p| format!("{p:.4}")),
            d.map_or("–".into(), |d| format!("{d:+.4}"))
        );
    }
    if diffs.len() > 1 {
        let n = diffs.len() as f64;
        let mean = diffs.iter().sum::<f64>() / n;
        let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let se = sd / n.sqrt();
        let mean_a = accuracy.iter().map(|a| a.1).sum::<f64>() / accuracy.len() as f64;
        let mean_p = accuracy.iter().filter_map(|a| a.2).sum::<f64>() / n;
        println!(
            "\nmean test accuracy: Anneal {mean_a:.4}, PyTorch {mean_p:.4}; paired difference {mean:+.4} ± {se:.4} (standard \
             error, {} seeds): {}",
            diffs.len(),
            if mean >= -2.0 * se {
                "within 2 standard errors or better"
            } else {
                "BELOW by more than 2 standard errors"
            }
        );
    }
    Ok(())
}

/// `cargo xtask bench rl [--reference PYTHON] [--repeats 3] [--algos ppo,dqn,dqn_zoo]`: PPO
/// and DQN on CartPole-v1 (`examples/rl/cartpole_<algo>.toml`: the rl-baselines3-zoo
/// hyperparameters; `dqn` adds a decaying learning rate), seeds 0..repeats, on one thread, side by side
/// with Stable-Baselines3 (`examples/reference/rl_cartpole.py`, the same seeds, in the same
/// sitting). Prints environment steps until the mean return of the last 20 training
/// episodes first reached 475, steps per second and the greedy policy's evaluation.
/// Predict throughput of the distillation example's teacher (the MNIST CNN)
/// and student (a small MLP): `examples/distill_effect --throughput`, rows per
/// second in batches of 1 000 images, passes of at least 0.5 s, median of 5.
fn bench_distill(root: &Path) -> Result<()> {
    stage(
        "build the distillation example (release)",
        cargo(&["build", "--release", "-p", "anneal", "--features", CI_FEATURES, "--example", "distill_effect"]),
    )?;
    let output = Command::new(root.join("target/release/examples/distill_effect")).arg("--throughput").output()?;
    if !output.status.success() {
        bail!("distill_effect failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let line =
        String::from_utf8_lossy(&output.stdout).lines().rfind(|l| l.starts_with('{')).unwrap_or_default().to_string();
    let v: serde_json::Value = serde_json::from_str(&line)?;
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    std::fs::write(out_dir.join("distill.json"), &line)?;
    println!("| model | parameters | predict rows/s |");
    println!("|---|---|---|");
    for who in ["teacher", "student"] {
        println!(
            "| {who} | {} | {:.0} |",
            v[format!("{who}_params")].as_u64().unwrap_or(0),
            v[format!("{who}_rows_per_s")].as_f64().unwrap_or(f64::NAN)
        );
    }
    println!("\nthe student predicts {:.1}x faster", v["speed_up"].as_f64().unwrap_or(f64::NAN));
    Ok(())
}

fn bench_rl(args: &[String], root: &Path) -> Result<()> {
    let flag = |name: &str| flag_value(args, name);
    let repeats: usize = flag("--repeats").unwrap_or_else(|| "3".into()).parse()?;
    let algos = flag("--algos").unwrap_or_else(|| "ppo,dqn,dqn_zoo".into());
    let reference = flag("--reference").map(PathBuf::from);
    stage("build anneal (release)", cargo(&["build", "--release", "-p", "anneal", "--features", CI_FEATURES]))?;
    let out_dir = fresh_dir(root.join("target/bench/rl"))?;
    let show = |v: &[Option<f64>]| {
        v.iter().map(|s| s.map_or("not solved".to_string(), |s| format!("{s:.0}"))).collect::<Vec<_>>().join(", ")
    };
    let mut table = Vec::new();
    let mut referenced = std::collections::HashSet::new();
    for algo in algos.split(',') {
        let base = std::fs::read_to_string(root.join(format!("examples/rl/cartpole_{algo}.toml")))?;
        let (mut steps, mut speed, mut evals) = (Vec::new(), Vec::new(), Vec::new());
        for seed in 0..repeats {
            let config = out_dir.join(format!("{algo}_seed{seed}.toml"));
            std::fs::write(&config, base.replace("seed = 0\n", &format!("seed = {seed}\n")))?;
            let run = out_dir.join(format!("anneal-{algo}-seed{seed}"));
            let status = Command::new(root.join("target/release/anneal"))
                .args(["rl", "--config", config.to_str().unwrap_or_default(), "--out"])
                .arg(&run)
                .env("RAYON_NUM_THREADS", "1")
                .env("MATMUL_NUM_THREADS", "1")
                .env_remove("BURN_DEVICE")
                .stdout(std::process::Stdio::null())
                .status()?;
            if !status.success() {
                bail!("anneal rl failed ({status})");
            }
            let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("summary.json"))?)?;
            let k = s["steps_to_target"].as_f64();
            eprintln!(
                "xtask: anneal {algo} seed={seed}: steps to 475: {k:?}, {:.0} steps/s, greedy eval {:.1}",
                s["env_steps_per_second"].as_f64().unwrap_or(f64::NAN),
                s["eval_mean_return"].as_f64().unwrap_or(f64::NAN)
            );
            steps.push(k);
            speed.push(s["env_steps_per_second"].as_f64().unwrap_or(f64::NAN));
            evals.push(s["eval_mean_return"].as_f64().unwrap_or(f64::NAN));
        }
        let solved: Vec<f64> = steps.iter().flatten().copied().collect();
        table.push(format!(
            "| {} | Anneal | {}/{repeats} | {} | {:.0} | {:.0} | {:.1} |",
            match algo {
                "dqn" => "DQN (rate decaying to 0)".to_string(),
                "dqn_zoo" => "DQN (zoo, constant rate)".to_string(),
                other => other.to_uppercase(),
            },
            solved.len(),
            show(&steps),
            median(solved),
            median(speed),
            median(evals)
        ));
        // Stable-Baselines3 once per algorithm (`dqn_zoo` is DQN's other config).
        let base_algo = algo.split('_').next().unwrap_or(algo);
        if let Some(python) = reference.as_ref().filter(|_| referenced.insert(base_algo.to_string())) {
            let algo = base_algo;
            let out = out_dir.join(format!("sb3-{algo}.json"));
            let status = Command::new(python)
                .arg(root.join("examples/reference/rl_cartpole.py"))
                .args(["--algos", algo, "--repeats", &repeats.to_string(), "--threads", "1", "--out"])
                .arg(&out)
                .env("OMP_WAIT_POLICY", "PASSIVE")
                .env("OMP_NUM_THREADS", "1")
                .stdout(std::process::Stdio::null())
                .status()?;
            if !status.success() {
                bail!("the Stable-Baselines3 reference failed ({status})");
            }
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
            let a = &v["algos"][algo];
            let per_seed: Vec<Option<f64>> =
                a["steps_to_target_per_seed"].as_array().map_or(Vec::new(), |s| s.iter().map(|x| x.as_f64()).collect());
            let evals: Vec<f64> = a["runs"]
                .as_array()
                .map_or(Vec::new(), |r| r.iter().filter_map(|x| x["final_deterministic_eval_mean"].as_f64()).collect());
            table.push(format!(
                "| {} | Stable-Baselines3 {} | {}/{repeats} | {} | {:.0} | {:.0} | {:.1} |",
                algo.to_uppercase(),
                v["sb3"].as_str().unwrap_or("?"),
                a["n_reached"].as_u64().unwrap_or(0),
                show(&per_seed),
                a["steps_to_target_median_of_reached"].as_f64().unwrap_or(f64::NAN),
                a["env_steps_per_s_median"].as_f64().unwrap_or(f64::NAN),
                median(evals)
            ));
        }
    }
    println!(
        "| agent | implementation | solved | steps to mean 475 per seed | median steps (solved) | env steps/s (median) | greedy eval return (median) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in table {
        println!("{row}");
    }
    Ok(())
}

/// `cargo xtask bench hpo [--reference PYTHON] [--trials 100] [--seeds 10]`: our samplers
/// on Branin and Hartmann6, side by side with Optuna's `shared/bench/hpo.py` (run with the
/// given Python): median simple regret at 25/50/100 trials and overhead per trial.
fn bench_hpo(args: &[String], root: &Path) -> Result<()> {
    let flag = |name: &str| flag_value(args, name);
    let trials = flag("--trials").unwrap_or_else(|| "100".into());
    let seeds = flag("--seeds").unwrap_or_else(|| "10".into());
    stage("build the benchmark", cargo(&["bench", "-p", "anneal-hpo", "--bench", "hpo", "--no-run"]))?;
    let output = cargo(&["bench", "-q", "-p", "anneal-hpo", "--bench", "hpo", "--"])
        .args(["--samplers", "tpe,gp,random,sobol", "--trials", &trials, "--seeds", &seeds])
        .output()?;
    if !output.status.success() {
        bail!("benchmark failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    let line =
        String::from_utf8_lossy(&output.stdout).lines().rfind(|l| l.starts_with('{')).unwrap_or_default().to_string();
    let ours: serde_json::Value = serde_json::from_str(&line)?;
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    std::fs::write(out_dir.join("hpo.json"), &line)?;
    let mut reference = serde_json::Value::Null;
    if let Some(python) = flag("--reference") {
        let script = root.join("../shared/bench/hpo.py");
        eprintln!("xtask: Optuna reference ({})", script.display());
        let output = Command::new(python)
            .args([script.to_str().unwrap_or_default(), "--samplers", "tpe,gp,random", "--trials", &trials])
            .args(["--seeds", &seeds])
            .output()?;
        if !output.status.success() {
            bail!("reference failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let line = String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_string();
        std::fs::write(out_dir.join("hpo_optuna.json"), &line)?;
        reference = serde_json::from_str(&line)?;
    }
    let mut checkpoints: Vec<u64> = ours["results"]["tpe/branin"]["median_regret"]
        .as_object()
        .map(|m| m.keys().filter_map(|k| k.parse().ok()).collect())
        .unwrap_or_default();
    checkpoints.sort_unstable();
    let cps: Vec<String> = checkpoints.iter().map(u64::to_string).collect();
    let regret_cols: Vec<String> = cps.iter().map(|c| format!("regret@{c} anneal / Optuna")).collect();
    println!(
        "| function | sampler | {} | overhead ms/trial anneal / Optuna | overhead ratio |",
        regret_cols.join(" | ")
    );
    println!("|---|---|{}---|---|", "---|".repeat(cps.len()));
    let ms = |v: &serde_json::Value| v["overhead_s_per_trial_mean"].as_f64().map(|s| s * 1e3);
    for func in ["branin", "hartmann6"] {
        for sampler in ["tpe", "gp", "random", "sobol"] {
            let key = format!("{sampler}/{func}");
            let (a, o) = (&ours["results"][&key], &reference["results"][&key]);
            if a.is_null() {
                continue;
            }
            let regrets: Vec<String> = cps
                .iter()
                .map(|c| {
                    let fmt = |v: &serde_json::Value| {
                        v["median_regret"][c].as_f64().map_or("–".into(), |x| format!("{x:.3e}"))
                    };
                    format!("{} / {}", fmt(a), fmt(o))
                })
                .collect();
            let (am, om) = (ms(a), ms(o));
            println!(
                "| {func} | {sampler} | {} | {} / {} | {} |",
                regrets.join(" | "),
                am.map_or("–".into(), |v| format!("{v:.3}")),
                om.map_or("–".into(), |v| format!("{v:.3}")),
                am.zip(om).map_or("–".into(), |(a, o)| format!("1/{:.0}", o / a)),
            );
        }
    }
    Ok(())
}
