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
    host_geometry: bool,
}

impl ImageAugmenter {
    /// The pipeline of `config` (checked), drawing from `seed`.
    pub fn new(config: AugmentConfig, seed: u64) -> Result<Self, RegularizeError> {
        config.validate()?;
        let leaves = plan::leaves(&config);
        Ok(Self { config, leaves, seed, host_geometry: false })
    }

    /// Whether geometric steps are computed on the host (a bilinear warp in plain
    /// Rust, several times faster than a backend's `grid_sample` on a CPU, where the
    /// tensor's data is in memory anyway) instead of with `grid_sample` on the
    /// tensor's device (the default, and the choice for a GPU). Both give the same
    /// images up to rounding.
    pub fn with_host_geometry(mut self, on: bool) -> Self {
        self.host_geometry = on;
        self
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
    /// their generators) and `epoch` the training epoch. A pipeline with a mixing
    /// step (`mixup`, `cutmix`) needs the labels: use
    /// [`apply_labelled`](Self::apply_labelled).
    pub fn apply(&self, images: Tensor<4>, rows: &[usize], epoch: usize) -> Result<Tensor<4>, RegularizeError> {
        if self.config.has_mixing() {
            return Err(RegularizeError::AugmentLabels);
        }
        Ok(self.run(images, None, rows, epoch)?.0)
    }

    /// [`apply`](Self::apply) for a batch of labelled images (`labels`: one class
    /// code per image): with a mixing step, also the classes mixed in and each
    /// image's own share, for the loss ([`Mixing`]); `None` without one.
    pub fn apply_labelled(
        &self,
        images: Tensor<4>,
        labels: Tensor<1, Int>,
        rows: &[usize],
        epoch: usize,
    ) -> Result<(Tensor<4>, Option<Mixing>), RegularizeError> {
        let n = images.dims()[0];
        if labels.dims()[0] != n {
            return Err(RegularizeError::AugmentBatch { rows: labels.dims()[0], images: n });
        }
        self.run(images, Some(labels), rows, epoch)
    }

    fn run(
        &self,
        images: Tensor<4>,
        labels: Option<Tensor<1, Int>>,
        rows: &[usize],
        epoch: usize,
    ) -> Result<(Tensor<4>, Option<Mixing>), RegularizeError> {
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
            return Ok((images, None));
        }
        let plans = self.plan(rows, epoch, h, w);
        let mut x = images;
        let mut mixing = None;
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
            x = flush(x, &mut pending, self.host_geometry);
            let ops: Vec<Option<&Op>> = plans.iter().map(|p| p[k].as_ref()).collect();
            if matches!(leaf, Step::Mixup { .. } | Step::Cutmix { .. }) {
                let labels = labels.clone().ok_or(RegularizeError::AugmentLabels)?;
                let (mixed, mix) = mix(x, labels, &ops, [n, c, h, w]);
                x = mixed;
                mixing = Some(mix);
                continue;
            }
            if ops.iter().all(Option::is_none) {
                continue;
            }
            x = apply_op(x, &ops, [n, c, h, w]);
        }
        Ok((flush(x, &mut pending, self.host_geometry), mixing))
    }
}

/// What a mixing step did to a batch's classes: image `i` holds the share
/// `weight[i]` of its own image and the rest of an image of class `second[i]`.
#[derive(Debug, Clone)]
pub struct Mixing {
    /// The class of the image mixed into each one.
    pub second: Tensor<1, Int>,
    /// Each image's own share, in `[0, 1]` (1 where nothing was mixed in).
    pub weight: Tensor<1>,
}

/// The batch shifted by one: image `i` becomes image `i + 1` (the last the first),
/// torchvision's choice of partners for mixup and CutMix.
fn next_images(t: Tensor<4>) -> Tensor<4> {
    let n = t.dims()[0];
    if n < 2 {
        return t;
    }
    Tensor::cat(vec![t.clone().narrow(0, 1, n - 1), t.narrow(0, 0, 1)], 0)
}

/// The labels shifted as [`next_images`] shifts the images.
fn next_labels(t: Tensor<1, Int>) -> Tensor<1, Int> {
    let n = t.dims()[0];
    if n < 2 {
        return t;
    }
    Tensor::cat(vec![t.clone().narrow(0, 1, n - 1), t.narrow(0, 0, 1)], 0)
}

/// Mixup or CutMix of every image with the next one of the batch.
fn mix(x: Tensor<4>, labels: Tensor<1, Int>, ops: &[Option<&Op>], [n, _, h, w]: [usize; 4]) -> (Tensor<4>, Mixing) {
    let device = x.device();
    let mut weight = vec![1.0f32; n];
    let partner = next_images(x.clone());
    let mut cut = vec![0.0f32; n * h * w];
    let mut any_cut = false;
    let mut any_mix = false;
    for (i, op) in ops.iter().enumerate() {
        match op {
            Some(Op::Mixup(lambda)) => {
                weight[i] = *lambda as f32;
                any_mix = true;
            }
            Some(Op::Cutmix(b, lambda)) => {
                weight[i] = *lambda as f32;
                for row in b.y..b.y + b.height {
                    cut[i * h * w + row * w + b.x..i * h * w + row * w + b.x + b.width].fill(1.0);
                }
                any_cut = true;
            }
            _ => {}
        }
    }
    let mixed = if any_mix {
        let own = mask(&device, weight.clone());
        x * own.clone() + partner * (own.ones_like() - own)
    } else if any_cut {
        let m = Tensor::<4>::from_data(TensorData::new(cut, [n, 1, h, w]), &device);
        x * (m.ones_like() - m.clone()) + partner * m
    } else {
        x
    };
    let weight = Tensor::<1>::from_data(TensorData::new(weight, [n]), &device);
    (mixed, Mixing { second: next_labels(labels), weight })
}

fn mask(device: &Device, values: Vec<f32>) -> Tensor<4> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n, 1, 1, 1]), device)
}

/// `x` where `m` is 0, `y` where it is 1 (exactly: `x·1 + y·0` is `x`); no
/// arithmetic at all when every sample takes the same side.
fn blend(x: Tensor<4>, y: Tensor<4>, m: Vec<f32>) -> Tensor<4> {
    if m.iter().all(|&v| v == 1.0) {
        return y;
    }
    if m.iter().all(|&v| v == 0.0) {
        return x;
    }
    let m = mask(&x.device(), m);
    x * (m.ones_like() - m.clone()) + y * m
}

/// A per-sample factor (`[n, 1, 1, 1]`), 1 where the sample is not touched, and
/// the mask of the touched ones.
fn factors(device: &Device, ops: &[Option<&Op>], pick: impl Fn(&Op) -> Option<f64>) -> (Tensor<4>, Vec<f32>) {
    let values: Vec<Option<f64>> = ops.iter().map(|o| o.and_then(&pick)).collect();
    let f = values.iter().map(|v| v.unwrap_or(1.0) as f32).collect();
    let m = values.iter().map(|v| if v.is_some() { 1.0 } else { 0.0 }).collect();
    (mask(device, f), m)
}

fn apply_op(x: Tensor<4>, ops: &[Option<&Op>], [n, c, h, w]: [usize; 4]) -> Tensor<4> {
    let device = x.device();
    let first = ops.iter().flatten().next().expect("an op is applied");
    let is = |want: fn(&Op) -> bool| -> Vec<f32> {
        ops.iter().map(|o| if o.is_some_and(want) { 1.0 } else { 0.0 }).collect()
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
                    normals(&mut SeededRng::new(*seed), chunk, *std as f32);
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
        Op::Mixup(_) | Op::Cutmix(..) => unreachable!("mixing steps are applied by mix"),
    }
}

/// Fills `out` with normal draws of standard deviation `std`: Box-Muller in `f32`,
/// both values of each pair used, two 32-bit uniforms from each 64-bit draw.
fn normals(rng: &mut SeededRng, out: &mut [f32], std: f32) {
    for pair in out.chunks_mut(2) {
        let bits = rng.next_u64();
        // (0, 1] and [0, 1), 24 bits each.
        let u1 = ((bits >> 40) as f32 + 1.0) * (1.0 / 16_777_216.0);
        let u2 = ((bits & 0xFF_FFFF) as f32) * (1.0 / 16_777_216.0);
        let r = (-2.0 * u1.ln()).sqrt() * std;
        let (sin, cos) = (std::f32::consts::TAU * u2).sin_cos();
        pair[0] = r * cos;
        if let Some(second) = pair.get_mut(1) {
            *second = r * sin;
        }
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
    let m = ops.iter().map(|o| if matches!(o, Some(Op::Blur { .. })) { 1.0 } else { 0.0 }).collect();
    blend(x, y, m)
}

/// Applies the composed geometric maps of the samples that have one: one
/// bilinear `grid_sample` for the batch (or the same warp on the host), zeros
/// outside the input.
fn flush(x: Tensor<4>, pending: &mut [Option<Affine>], on_host: bool) -> Tensor<4> {
    if pending.iter().all(Option::is_none) {
        return x;
    }
    let [n, c, h, w] = x.dims();
    let device = x.device();
    let inverses: Vec<Option<Affine>> = pending.iter_mut().map(|p| p.take().and_then(|f| invert(&f))).collect();
    if on_host && let Ok(mut values) = x.clone().into_data().try_into_vec::<f32>() {
        for (i, inv) in inverses.iter().enumerate() {
            if let Some(inv) = inv {
                warp(&mut values[i * c * h * w..(i + 1) * c * h * w], [c, h, w], inv);
            }
        }
        return Tensor::from_data(TensorData::new(values, [n, c, h, w]), &device);
    }
    let (hw, hh) = (w as f64 / 2.0, h as f64 / 2.0);
    let mut grid = vec![0.0f32; n * h * w * 2];
    let mut m = vec![0.0f32; n];
    for (i, inverse) in inverses.iter().enumerate() {
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
    blend(x, y, m)
}

/// Warps one `[c, h, w]` image in place: output pixel centres are mapped by `inv`
/// (centred pixel coordinates) into the input and sampled bilinearly, with 0
/// outside, as `grid_sample` with zero padding and `align_corners = false` does.
fn warp(image: &mut [f32], [c, h, w]: [usize; 3], inv: &Affine) {
    let source = image.to_vec();
    let plane = h * w;
    let (hw, hh) = (w as f64 / 2.0, h as f64 / 2.0);
    let (wi, hi) = (w as i64, h as i64);
    // floor without a libm call (x86-64's baseline has no rounding instruction).
    let floor = |v: f64| -> i64 {
        let t = v as i64;
        if (t as f64) > v { t - 1 } else { t }
    };
    for yo in 0..h {
        let (xc, yc) = (0.5 - hw, yo as f64 + 0.5 - hh);
        // The input pixel (indices, pixel i's centre at i) of the row's first output
        // pixel; each step right adds the map's first column.
        let mut xi = inv[0] * xc + inv[1] * yc + inv[2] + hw - 0.5;
        let mut yi = inv[3] * xc + inv[4] * yc + inv[5] + hh - 0.5;
        for xo in 0..w {
            let (x0, y0) = (floor(xi), floor(yi));
            let (fx, fy) = ((xi - x0 as f64) as f32, (yi - y0 as f64) as f32);
            let corners = [
                (x0, y0, (1.0 - fx) * (1.0 - fy)),
                (x0 + 1, y0, fx * (1.0 - fy)),
                (x0, y0 + 1, (1.0 - fx) * fy),
                (x0 + 1, y0 + 1, fx * fy),
            ];
            for ch in 0..c {
                let src = &source[ch * plane..(ch + 1) * plane];
                let mut v = 0.0f32;
                for &(x, y, weight) in &corners {
                    if x >= 0 && y >= 0 && x < wi && y < hi {
                        v += weight * src[(y * wi + x) as usize];
                    }
                }
                image[ch * plane + yo * w + xo] = v;
            }
            xi += inv[0];
            yi += inv[3];
        }
    }
}
