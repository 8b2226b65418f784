//! The pipeline applied to a batch of images on any burn device.

use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, GridSampleOptions, GridSamplePaddingMode, InterpolateMode};

use anneal_core::SeededRng;

use super::config::{AugmentConfig, Step};
use super::plan::{self, Affine, IDENTITY, Op, compose, invert};
use crate::error::RegularizeError;

/// The augmentation pipeline of a run, ready to apply to training batches.
///
/// Every sample draws its parameters from its own generator, keyed by the run's
/// seed, the epoch and the sample's row, so an epoch's augmented batch is the
/// same whatever else ran before it (a resumed run sees what an uninterrupted
/// one saw) and whatever batch the row lands in.
///
/// ```
/// use anneal_regularize::augment::{AugmentConfig, ImageAugmenter};
/// use burn::prelude::*;
///
/// let config: AugmentConfig = toml::from_str(r#"steps = [{ transform = "horizontal_flip", p = 1.0 }]"#)?;
/// let augment = ImageAugmenter::new(config, 42)?;
/// let device = Device::default();
/// let image = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 0.5, 1.0], [1, 1, 1, 3]), &device);
/// let flipped = augment.apply(image, &[0], 1)?;
/// assert_eq!(flipped.into_data().try_to_vec::<f32>().unwrap(), vec![1.0, 0.5, 0.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ImageAugmenter {
    config: AugmentConfig,
    leaves: Vec<Step>,
    seed: u64,
}

impl ImageAugmenter {
    /// The pipeline of `config` (checked), drawing from `seed`.
    pub fn new(config: AugmentConfig, seed: u64) -> Result<Self, RegularizeError> {
        config.validate()?;
        let leaves = plan::leaves(&config);
        Ok(Self { config, leaves, seed })
    }

    /// Whether the pipeline has no step (so [`apply`](Self::apply) returns its input).
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The pipeline's configuration.
    pub fn config(&self) -> &AugmentConfig {
        &self.config
    }

    /// Whether some step needs square images (`rotate90`).
    pub fn needs_square(&self) -> bool {
        self.config.needs_square()
    }

    /// What each step does to each of `rows` in `epoch`, for `height × width`
    /// images: one entry per row, one `Option<Op>` per transform in order
    /// (groups flattened).
    pub fn plan(&self, rows: &[usize], epoch: usize, height: usize, width: usize) -> Vec<Vec<Option<Op>>> {
        rows.iter()
            .map(|&row| plan::draw(&self.config, &mut plan::sample_rng(self.seed, epoch, row), height, width))
            .collect()
    }

    /// The augmented batch: `images` is `[batch, channels, height, width]` with
    /// values in `[0, 1]`, `rows` the dataset rows of its samples (which key
    /// their generators) and `epoch` the training epoch.
    pub fn apply(&self, images: Tensor<4>, rows: &[usize], epoch: usize) -> Result<Tensor<4>, RegularizeError> {
        let [n, c, h, w] = images.dims();
        if rows.len() != n {
            return Err(RegularizeError::AugmentBatch { rows: rows.len(), images: n });
        }
        if self.config.needs_square() && h != w {
            return Err(RegularizeError::AugmentShape {
                step: "rotate90".into(),
                height: h,
                width: w,
                expected: "square images".into(),
            });
        }
        if self.is_empty() || n == 0 {
            return Ok(images);
        }
        let plans = self.plan(rows, epoch, h, w);
        let mut x = images;
        let mut pending: Vec<Option<Affine>> = vec![None; n];
        for (k, leaf) in self.leaves.iter().enumerate() {
            if leaf.is_affine() {
                for (p, plan) in pending.iter_mut().zip(&plans) {
                    if let Some(Op::Affine(m)) = &plan[k] {
                        *p = Some(compose(m, &p.unwrap_or(IDENTITY)));
                    }
                }
                continue;
            }
            x = flush(x, &mut pending);
            let ops: Vec<Option<&Op>> = plans.iter().map(|p| p[k].as_ref()).collect();
            if ops.iter().all(Option::is_none) {
                continue;
            }
            x = apply_op(x, &ops, [n, c, h, w]);
        }
        Ok(flush(x, &mut pending))
    }
}

fn mask(device: &Device, values: Vec<f32>) -> Tensor<4> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n, 1, 1, 1]), device)
}

/// `x` where `m` is 0, `y` where it is 1 (exactly: `x·1 + y·0` is `x`).
fn blend(x: Tensor<4>, y: Tensor<4>, m: Tensor<4>) -> Tensor<4> {
    x * (m.ones_like() - m.clone()) + y * m
}

/// A per-sample factor (`[n, 1, 1, 1]`), 1 where the sample is not touched, and
/// the mask of the touched ones.
fn factors(device: &Device, ops: &[Option<&Op>], pick: impl Fn(&Op) -> Option<f64>) -> (Tensor<4>, Tensor<4>) {
    let values: Vec<Option<f64>> = ops.iter().map(|o| o.and_then(&pick)).collect();
    let f = values.iter().map(|v| v.unwrap_or(1.0) as f32).collect();
    let m = values.iter().map(|v| if v.is_some() { 1.0 } else { 0.0 }).collect();
    (mask(device, f), mask(device, m))
}

fn apply_op(x: Tensor<4>, ops: &[Option<&Op>], [n, c, h, w]: [usize; 4]) -> Tensor<4> {
    let device = x.device();
    let first = ops.iter().flatten().next().expect("an op is applied");
    let is = |want: fn(&Op) -> bool| -> Tensor<4> {
        mask(&device, ops.iter().map(|o| if o.is_some_and(want) { 1.0 } else { 0.0 }).collect())
    };
    match first {
        Op::HorizontalFlip => {
            let y = x.clone().flip([3]);
            blend(x, y, is(|o| matches!(o, Op::HorizontalFlip)))
        }
        Op::VerticalFlip => {
            let y = x.clone().flip([2]);
            blend(x, y, is(|o| matches!(o, Op::VerticalFlip)))
        }
        Op::Quarter(_) => {
            let turned = |k: u8| -> Tensor<4> { is_quarter(&device, ops, k) };
            let r1 = x.clone().swap_dims(2, 3).flip([2]);
            let r2 = x.clone().flip([2, 3]);
            let r3 = x.clone().swap_dims(2, 3).flip([3]);
            let keep = mask(&device, ops.iter().map(|o| if o.is_some() { 0.0 } else { 1.0 }).collect());
            x * keep + r1 * turned(1) + r2 * turned(2) + r3 * turned(3)
        }
        Op::Brightness(_) => {
            let (f, m) = factors(&device, ops, |o| if let Op::Brightness(f) = o { Some(*f) } else { None });
            let y = (x.clone() * f).clamp(0.0, 1.0);
            blend(x, y, m)
        }
        Op::Contrast(_) => {
            let (f, m) = factors(&device, ops, |o| if let Op::Contrast(f) = o { Some(*f) } else { None });
            let grey = if c == 3 {
                let weights =
                    Tensor::<4>::from_data(TensorData::new(vec![0.299f32, 0.587, 0.114], [1, 3, 1, 1]), &device);
                (x.clone() * weights).sum_dim(1)
            } else {
                x.clone().mean_dim(1)
            };
            let mean = grey.reshape([n, h * w]).mean_dim(1).reshape([n, 1, 1, 1]);
            let y = ((x.clone() - mean.clone()) * f + mean).clamp(0.0, 1.0);
            blend(x, y, m)
        }
        Op::Gamma(_) => {
            let (g, m) = factors(&device, ops, |o| if let Op::Gamma(g) = o { Some(*g) } else { None });
            let y = x.clone().clamp(0.0, 1.0).powf(g.expand([n, c, h, w]));
            blend(x, y, m)
        }
        Op::Noise { .. } => {
            let size = c * h * w;
            let mut noise = vec![0.0f32; n * size];
            for (chunk, op) in noise.chunks_mut(size).zip(ops) {
                if let Some(Op::Noise { std, seed }) = op {
                    let mut rng = SeededRng::new(*seed);
                    for v in chunk {
                        *v = (rng.normal() * std) as f32;
                    }
                }
            }
            let noise = Tensor::<4>::from_data(TensorData::new(noise, [n, c, h, w]), &device);
            let y = (x.clone() + noise).clamp(0.0, 1.0);
            blend(x, y, is(|o| matches!(o, Op::Noise { .. })))
        }
        Op::Blur { .. } => blur(x, ops, [n, c, h, w]),
        Op::Erase(..) => {
            let mut m = vec![0.0f32; n * h * w];
            let mut fill = vec![0.0f32; n];
            for (i, op) in ops.iter().enumerate() {
                if let Some(Op::Erase(b, value)) = op {
                    fill[i] = *value as f32;
                    for row in b.y..b.y + b.height {
                        m[i * h * w + row * w + b.x..i * h * w + row * w + b.x + b.width].fill(1.0);
                    }
                }
            }
            let m = Tensor::<4>::from_data(TensorData::new(m, [n, 1, h, w]), &device);
            let fill = mask(&device, fill);
            x * (m.ones_like() - m.clone()) + m * fill
        }
        Op::Affine(_) => unreachable!("affine steps are composed and applied by flush"),
    }
}

fn is_quarter(device: &Device, ops: &[Option<&Op>], k: u8) -> Tensor<4> {
    mask(device, ops.iter().map(|o| if matches!(o, Some(Op::Quarter(q)) if *q == k) { 1.0 } else { 0.0 }).collect())
}

/// Separable Gaussian blur, each sample with its own σ; at the border the kernel
/// is renormalised over the pixels inside the image (a blur of ones divides).
fn blur(x: Tensor<4>, ops: &[Option<&Op>], [n, c, h, w]: [usize; 4]) -> Tensor<4> {
    let device = x.device();
    // Every blur of one step has the step's window.
    let k = ops.iter().flatten().find_map(|o| if let Op::Blur { kernel, .. } = o { Some(*kernel) } else { None });
    let k = k.expect("a blur is applied");
    let radius = k / 2;
    let mut taps = vec![0.0f32; n * c * k];
    for (i, op) in ops.iter().enumerate() {
        let row: Vec<f32> = match op {
            Some(Op::Blur { sigma, .. }) => {
                let raw: Vec<f64> =
                    (0..k).map(|t| (-((t as f64 - radius as f64).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
                let total: f64 = raw.iter().sum();
                raw.iter().map(|v| (v / total) as f32).collect()
            }
            _ => (0..k).map(|t| if t == radius { 1.0 } else { 0.0 }).collect(),
        };
        for ch in 0..c {
            taps[(i * c + ch) * k..(i * c + ch + 1) * k].copy_from_slice(&row);
        }
    }
    let groups = n * c;
    let horizontal = Tensor::<4>::from_data(TensorData::new(taps.clone(), [groups, 1, 1, k]), &device);
    let vertical = Tensor::<4>::from_data(TensorData::new(taps, [groups, 1, k, 1]), &device);
    let pass = |t: Tensor<4>| -> Tensor<4> {
        let t = conv2d(t, horizontal.clone(), None, ConvOptions::new([1, 1], [0, radius], [1, 1], groups));
        conv2d(t, vertical.clone(), None, ConvOptions::new([1, 1], [radius, 0], [1, 1], groups))
    };
    let flat = x.clone().reshape([1, groups, h, w]);
    let blurred = pass(flat.clone()) / pass(flat.ones_like());
    let y = blurred.reshape([n, c, h, w]);
    let m = mask(&device, ops.iter().map(|o| if matches!(o, Some(Op::Blur { .. })) { 1.0 } else { 0.0 }).collect());
    blend(x, y, m)
}

/// Applies the composed geometric maps of the samples that have one: one
/// bilinear `grid_sample` for the batch, zeros outside the input.
fn flush(x: Tensor<4>, pending: &mut [Option<Affine>]) -> Tensor<4> {
    if pending.iter().all(Option::is_none) {
        return x;
    }
    let [n, _, h, w] = x.dims();
    let device = x.device();
    let (hw, hh) = (w as f64 / 2.0, h as f64 / 2.0);
    let mut grid = vec![0.0f32; n * h * w * 2];
    let mut m = vec![0.0f32; n];
    for (i, p) in pending.iter_mut().enumerate() {
        let inverse = p.take().and_then(|f| invert(&f));
        if inverse.is_some() {
            m[i] = 1.0;
        }
        let inv = inverse.unwrap_or(IDENTITY);
        for yo in 0..h {
            let yc = yo as f64 + 0.5 - hh;
            for xo in 0..w {
                let xc = xo as f64 + 0.5 - hw;
                let xi = inv[0] * xc + inv[1] * yc + inv[2];
                let yi = inv[3] * xc + inv[4] * yc + inv[5];
                let at = ((i * h + yo) * w + xo) * 2;
                grid[at] = (xi / hw) as f32;
                grid[at + 1] = (yi / hh) as f32;
            }
        }
    }
    let grid = Tensor::<4>::from_data(TensorData::new(grid, [n, h, w, 2]), &device);
    let options = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(GridSamplePaddingMode::Zeros)
        .with_align_corners(false);
    let y = x.clone().grid_sample_2d(grid, options);
    blend(x, y, mask(&device, m))
}
