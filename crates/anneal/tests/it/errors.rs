//! Bad input gets a clear error naming the problem, and never a panic.

use super::{anneal, root, stderr, write};

/// A valid penguins config with `data_path` and one `(old, new)` text substitution.
fn config(dir: &std::path::Path, data_path: &str, replace: Option<(&str, &str)>) -> String {
    let mut text = std::fs::read_to_string(root().join("examples/configs/penguins.toml"))
        .unwrap()
        .replace("../../data/penguins.csv.gz", data_path)
        .replace("epochs = 200", "epochs = 2");
    if let Some((from, to)) = replace {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    write(dir, "config.toml", &text)
}

/// Runs `anneal train` and returns its standard error, asserting a clean failure.
fn fails(args: &[&str]) -> String {
    let o = anneal(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "expected a clean failure, got {:?}: {err}", o.status);
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn train_fails(config: &str, out: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec!["train", "--config", config, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    fails(&args)
}

fn penguins() -> String {
    root().join("data/penguins.csv.gz").to_str().unwrap().to_string()
}

#[test]
fn missing_data_file() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(tmp.path(), "no/such/file.csv", None);
    let err = train_fails(&c, &tmp.path().join("out"), &[]);
    assert!(err.contains("cannot read") && err.contains("no/such/file.csv"), "{err}");
}

#[test]
fn target_column_that_does_not_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(tmp.path(), &penguins(), Some(("target = \"species\"", "target = \"specie\"")));
    let err = train_fails(&c, &tmp.path().join("out"), &[]);
    assert!(err.contains("target column `specie` does not exist") && err.contains("species"), "{err}");
}

#[test]
fn config_with_an_unknown_key() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(tmp.path(), &penguins(), Some(("learning_rate = 0.01", "learning_rat = 0.01")));
    let err = train_fails(&c, &tmp.path().join("out"), &[]);
    assert!(err.contains("unknown field `learning_rat`"), "{err}");
    assert!(err.contains("config.toml"), "{err}");
}

#[test]
fn negative_learning_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(tmp.path(), &penguins(), Some(("learning_rate = 0.01", "learning_rate = -0.01")));
    let err = train_fails(&c, &tmp.path().join("out"), &[]);
    assert!(err.contains("learning rate must be a positive finite number, got -0.01"), "{err}");
}

#[test]
fn device_not_compiled_in() {
    let tmp = tempfile::tempdir().unwrap();
    let c = config(tmp.path(), &penguins(), None);
    let err = train_fails(&c, &tmp.path().join("out"), &["--device", "cuda"]);
    assert!(err.contains("device `cuda` is not compiled into this build: rebuild with `--features cuda`"), "{err}");
    if !cfg!(feature = "wgpu") {
        let err = train_fails(&c, &tmp.path().join("out2"), &["--device", "wgpu"]);
        assert!(err.contains("device `wgpu` is not compiled into this build"), "{err}");
    }
    let err = train_fails(&c, &tmp.path().join("out3"), &["--device", "tpu"]);
    assert!(err.contains("unknown device `tpu`"), "{err}");
}

#[test]
fn non_numeric_value_in_a_numeric_column_names_row_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n\
               Adelie,Torgersen,39.1,18.7,181.0,3750.0,male,2007\n\
               Adelie,Torgersen,39.5,17.4,186.0,3800.0,female,2007\n\
               Gentoo,Biscoe,46.1,13.2,211.0,4500.0,female,2007\n\
               Gentoo,Biscoe,forty,14.1,210.0,4450.0,female,2007\n\
               Chinstrap,Dream,46.5,17.9,192.0,3500.0,female,2007\n";
    let data = write(tmp.path(), "bad.csv", csv);
    let c = config(tmp.path(), &data, None);
    let err = train_fails(&c, &tmp.path().join("out"), &[]);
    assert!(
        err.contains("line 5") && err.contains("column `bill_length_mm`") && err.contains("`forty` is not a number"),
        "{err}"
    );
}

#[test]
fn empty_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = write(tmp.path(), "empty.csv", "");
    let c = config(tmp.path(), &empty, None);
    let err = train_fails(&c, &tmp.path().join("out"), &[]);
    assert!(err.contains("empty.csv is empty: no header line"), "{err}");
    let header_only = write(tmp.path(), "header.csv", "species,island\n");
    let c = config(tmp.path(), &header_only, None);
    let err = train_fails(&c, &tmp.path().join("out2"), &[]);
    assert!(err.contains("header.csv is empty: no data rows"), "{err}");
}

#[test]
fn ragged_row_names_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write(tmp.path(), "ragged.csv", "species,island\nAdelie,Dream\nGentoo\n");
    let c = config(tmp.path(), &data, None);
    let err = train_fails(&c, &tmp.path().join("out"), &[]);
    assert!(err.contains("line 3") && err.contains("row has 1 fields, expected 2"), "{err}");
}

#[test]
fn predict_from_a_folder_that_is_not_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let err = fails(&["predict", "--run", tmp.path().to_str().unwrap(), "--input", &penguins()]);
    assert!(err.contains("is not an anneal run folder: preprocessing.json is missing"), "{err}");
}

#[test]
fn unparseable_date_names_column_and_row() {
    let tmp = tempfile::tempdir().unwrap();
    let data = write(
        tmp.path(),
        "dates.csv",
        "species,when,x\na,2007-11-11,1\nb,2007-11-12,2\na,11/13/07,3\nb,2007-11-14,4\na,2007-11-15,5\nb,2007-11-16,6\n",
    );
    let text = "seed = 1\n[data]\npath = \"dates.csv\"\ntarget = \"species\"\n[split]\ntrain = 0.5\nvalid = 0.0\ntest = 0.5\n\
                [preprocess]\ndate_columns = [\"when\"]\n[model]\nhidden = [4]\n[optimizer]\nname = \"adam\"\nlearning_rate = 0.01\n\
                [training]\nepochs = 1\nbatch_size = 2\n";
    let _ = data;
    let c = write(tmp.path(), "c.toml", text);
    let err = train_fails(&c, &tmp.path().join("out"), &[]);
    assert!(err.contains("column `when`") && err.contains("`11/13/07` is not an ISO date"), "{err}");
}
