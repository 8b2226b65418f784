//! Image runs through the real CLI: a folder of class folders of PNG and JPEG
//! files (the torchvision `ImageFolder` layout) and a pixel CSV, trained with a
//! CNN; predict, eval and export on the result; and what bad image data gets.

use std::path::Path;

use super::{anneal, root, stderr, write};

/// Writes the first `per_class` 8x8 digits of classes 0, 1 and 2 of
/// `sklearn_digits` as PNG files (every fifth as JPEG) under `dir/<class>/`, scaled
/// to 0..255 and resized to 12x12 so that the run has to resize them back.
fn digit_folder(dir: &Path, per_class: usize) {
    let text = {
        let mut t = String::new();
        let f = std::fs::File::open(root().join("data/sklearn_digits.csv.gz")).unwrap();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(f), &mut t).unwrap();
        t
    };
    let mut counts = [0usize; 3];
    for line in text.lines().skip(1) {
        let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        let class = v[64] as usize;
        if class > 2 || counts[class] == per_class {
            continue;
        }
        let pixels: Vec<u8> = v[..64].iter().map(|p| (p * 255.0 / 16.0).round() as u8).collect();
        let img = image::GrayImage::from_raw(8, 8, pixels).unwrap();
        let img = image::imageops::resize(&img, 12, 12, image::imageops::FilterType::Triangle);
        let class_dir = dir.join(class.to_string());
        std::fs::create_dir_all(&class_dir).unwrap();
        let ext = if counts[class] % 5 == 4 { "jpg" } else { "png" };
        img.save(class_dir.join(format!("{:03}.{ext}", counts[class]))).unwrap();
        counts[class] += 1;
    }
}

fn config(dir: &Path, data: &Path, image: &str, epochs: usize) -> String {
    let text = format!(
        r#"
seed = 2
[data]
path = "{}"
target = "digit"
kind = "image"
[data.image]
{image}
[split]
train = 0.6
valid = 0.2
test = 0.2
[model]
kind = "cnn"
blocks = [{{ channels = 8, padding = 1, batch_norm = true, pool = "max" }}]
hidden = [16]
[optimizer]
name = "adam"
learning_rate = 0.01
[training]
epochs = {epochs}
batch_size = 16
"#,
        data.display()
    );
    write(dir, "images.toml", &text)
}

#[test]
fn an_image_folder_trains_a_cnn_and_the_run_predicts_evaluates_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("digits");
    digit_folder(&images, 40);
    let cfg = config(dir.path(), &images, "height = 8\nwidth = 8", 6);
    let run = dir.path().join("run");
    let o = anneal(&["train", "--config", &cfg, "--out", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    let accuracy = metrics["test"]["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.8, "three digit classes should be easy: test accuracy {accuracy}");
    assert_eq!(metrics["classes"], serde_json::json!(["0", "1", "2"]));
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("1 channel(s) of 8x8 pixels"), "{report}");
    assert!(report.contains("CNN 1x8x8 → conv3x3 8 bn maxpool2"), "{report}");
    // The split names data rows; the misclassified grid (if any) names files.
    if run.join("misclassified.png").exists() {
        assert!(report.contains("Misclassified images"));
    }

    // Predict a folder of images without classes: one line per file.
    let new = dir.path().join("new");
    std::fs::create_dir_all(&new).unwrap();
    for f in ["0/000.png", "1/000.png", "2/004.jpg"] {
        std::fs::copy(images.join(f), new.join(f.replace('/', "_"))).unwrap();
    }
    let o = anneal(&["predict", "--run", run.to_str().unwrap(), "--input", new.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("file,predicted,p_0,p_1,p_2"), "{csv}");
    assert!(lines[1].contains("0_000.png"), "{csv}");

    // Evaluate on the folder (with its classes): accuracy and the figures.
    let eval_out = dir.path().join("eval");
    let o = anneal(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--data",
        images.to_str().unwrap(),
        "--out",
        eval_out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(eval_out.join("confusion.png").exists());

    // Export: safetensors with PyTorch's names that load back into the same network.
    let exported = dir.path().join("digits.safetensors");
    let o = anneal(&["export", "--run", run.to_str().unwrap(), "--output", exported.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let model: anneal::models::ModelConfig =
        serde_json::from_str(&std::fs::read_to_string(run.join("model.json")).unwrap()).unwrap();
    let init = anneal::models::InitFrom { path: exported, remap: vec![], partial: false };
    let (_, report) = init.apply(model.init(99, &burn::prelude::Device::flex()).unwrap()).unwrap();
    assert!(report.applied.iter().any(|k| k == "blocks.0.norm.gamma"), "{report:?}");

    // A second run initialised from the export starts where the first ended: with
    // a negligible learning rate it scores about what the first run scored (batch
    // norm's running statistics still move), where a fresh network scores ~1/3.
    let frozen = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("learning_rate = 0.01", "learning_rate = 1e-9")
        .replace("epochs = 6", "epochs = 1")
        .replace("hidden = [16]", "hidden = [16]\ninit_from = \"digits.safetensors\"");
    let cfg2 = write(dir.path(), "from_export.toml", &frozen);
    let run2 = dir.path().join("run2");
    let o = anneal(&["train", "--config", &cfg2, "--out", run2.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run2.join("metrics.json")).unwrap()).unwrap();
    let again = m2["test"]["accuracy"].as_f64().unwrap();
    assert!((again - accuracy).abs() <= 0.05, "initialised from the export: {again}, trained: {accuracy}");
    assert!(std::fs::read_to_string(run2.join("report.md")).unwrap().contains("initial weights"));
}

#[test]
fn a_pixel_csv_trains_a_cnn_and_bad_image_data_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = root().join("data/sklearn_digits.csv.gz");
    let cfg = {
        let text = std::fs::read_to_string(config(dir.path(), &data, "height = 8\nwidth = 8\nscale = 16", 2)).unwrap();
        write(dir.path(), "csv.toml", &text.replace("target = \"digit\"", "target = \"target\""))
    };
    let run = dir.path().join("run");
    let o = anneal(&["train", "--config", &cfg, "--out", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    let fails = |text: &str, name: &str| -> String {
        let c = write(dir.path(), name, text);
        let o =
            anneal(&["train", "--config", &c, "--out", dir.path().join(name).with_extension("run").to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        stderr(&o)
    };
    let base = std::fs::read_to_string(&cfg).unwrap();
    // A shape that does not match the pixel columns.
    let e = fails(&base.replace("height = 8", "height = 9"), "shape.toml");
    assert!(e.contains("64 pixel columns") && e.contains("9x8"), "{e}");
    // A CNN on tabular data.
    let e = fails(
        &base.replace("kind = \"image\"\n", "").replace("[data.image]\nheight = 8\nwidth = 8\nscale = 16\n", ""),
        "table.toml",
    );
    assert!(e.contains("kind = \"image\""), "{e}");
    // Blocks too large for the image.
    let e = fails(&base.replace("blocks = [", "blocks = [{ channels = 4, pool = \"max\", pool_size = 4 }, { channels = 4, pool = \"max\", pool_size = 4 }, "), "small.toml");
    assert!(e.contains("conv block 2") && e.contains("too small"), "{e}");

    // A folder with a file that is not an image, and images of two sizes.
    let images = dir.path().join("bad");
    digit_folder(&images, 4);
    std::fs::write(images.join("1/notes.txt"), "hello").unwrap();
    let folder_cfg = config(dir.path(), &images, "height = 8\nwidth = 8", 1);
    let e = fails(&std::fs::read_to_string(&folder_cfg).unwrap(), "notimage.toml");
    assert!(e.contains("notes.txt") && e.contains("not an image"), "{e}");
    std::fs::remove_file(images.join("1/notes.txt")).unwrap();
    std::fs::write(images.join("1/broken.png"), "not a png").unwrap();
    let e = fails(&std::fs::read_to_string(&folder_cfg).unwrap(), "broken.toml");
    assert!(e.contains("broken.png"), "{e}");
    std::fs::remove_file(images.join("1/broken.png")).unwrap();
    image::GrayImage::new(5, 7).save(images.join("2/odd.png")).unwrap();
    let e = fails(&std::fs::read_to_string(config(dir.path(), &images, "", 1)).unwrap(), "sizes.toml");
    assert!(e.contains("odd.png") && e.contains("7x5") && e.contains("height and width"), "{e}");
}
