//! The vanishing-gradient lesson, measured: a 10-layer sigmoid MLP and the same
//! network with ReLU, trained on digits with per-layer gradient norms logged,
//! and both profiles plotted (PNG and SVG).
//!
//! Run: `cargo run --release --example vanishing_gradients -- [--out DIR]`
//! (default `runs/vanishing_gradients`).

use anneal::RunConfig;
use anneal::models::{ActivationKind, ModelConfig};
use anneal::train::plot::{Chart, PALETTE, Series, save_charts};
use anneal::train::{Backend, Loss, Progress, Trainer, evaluate};

const CONFIG: &str = r#"
seed = 5
[data]
path = "data/sklearn_digits.csv.gz"
target = "target"
[split]
train = 0.6
valid = 0.2
test = 0.2
[model]
hidden = [32, 32, 32, 32, 32, 32, 32, 32, 32]
[optimizer]
name = "adam"
learning_rate = 0.001
[training]
epochs = 10
batch_size = 32
log_gradient_norms = true
"#;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map_or("runs/vanishing_gradients", String::as_str);
    let out = std::path::PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut config: RunConfig = toml::from_str(CONFIG)?;
    config.data.path = root.join(&config.data.path);
    let data = anneal::run::prepare(&config)?;
    let device = Backend::resolve(None)?.device()?;

    let mut series = Vec::new();
    println!("digits, 10 linear layers (9 hidden of 32), Adam lr 0.001, batch 32\n");
    for (i, activation) in [ActivationKind::Sigmoid, ActivationKind::Relu].into_iter().enumerate() {
        if let ModelConfig::Mlp(mlp) = &mut config.model.config {
            mlp.activation = activation;
        }
        let model = config
            .model_config(data.train.n_features(), data.loaded.target.n_outputs(), None)
            .init(config.seed, &device.clone().autodiff())?;
        let mut optimizer = config.optimizer.init()?;
        let fitted = Trainer::new(config.train_config(), device.clone()).with_progress(Progress::Silent).fit(
            model,
            &mut optimizer,
            &data.train,
            None,
        )?;
        let norms = fitted.history[0].gradient_norms.clone().unwrap_or_default();
        let accuracy = evaluate(&fitted.model, &data.test, &Loss::CrossEntropy, &device, 1024)?.scores()?.0;
        let name = format!("{activation:?}").to_lowercase();
        println!("{name}: test accuracy after {} epochs {accuracy:.4}", fitted.history.len());
        println!("  mean gradient norm per layer in epoch 1 (layer 1 = input side):");
        for (layer, n) in norms.iter().enumerate() {
            println!("    layer {:>2}: {n:.3e}", layer + 1);
        }
        let points = norms.iter().enumerate().map(|(l, n)| ((l + 1) as f64, *n)).collect();
        series.push(Series {
            markers: true,
            ..Series::line(format!("{name} (test accuracy {accuracy:.2})"), points, PALETTE[i])
        });
    }
    let chart = Chart {
        title: "Gradient norm per layer, first epoch".into(),
        x_label: "layer (1 = next to the input)".into(),
        y_label: "mean L2 norm of the layer's gradient".into(),
        log_y: true,
        legend_bottom: true,
        series,
        ..Default::default()
    };
    let [png, svg] = save_charts(&[chart], &out.join("vanishing_gradients"))?;
    println!("\nwrote {} and {}", png.display(), svg.display());
    Ok(())
}
