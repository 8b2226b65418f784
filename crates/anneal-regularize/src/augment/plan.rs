//! Per-sample parameters: what each step does to one image, drawn from the
//! sample's own generator. Tensor-free, so the drawing is tested on its own.

use anneal_core::{SeededRng, Stream};

use super::config::{AugmentConfig, Step};

/// A 2-D affine map in pixel coordinates centred on the image (x to the right,
/// y down): `x' = m[0]·x + m[1]·y + m[2]`, `y' = m[3]·x + m[4]·y + m[5]`.
pub type Affine = [f64; 6];

/// The identity map.
pub const IDENTITY: Affine = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];

/// `a` after `b`: the map that applies `b`, then `a`.
pub fn compose(a: &Affine, b: &Affine) -> Affine {
    [
        a[0] * b[0] + a[1] * b[3],
        a[0] * b[1] + a[1] * b[4],
        a[0] * b[2] + a[1] * b[5] + a[2],
        a[3] * b[0] + a[4] * b[3],
        a[3] * b[1] + a[4] * b[4],
        a[3] * b[2] + a[4] * b[5] + a[5],
    ]
}

/// The inverse map (`None` when singular).
pub fn invert(m: &Affine) -> Option<Affine> {
    let det = m[0] * m[4] - m[1] * m[3];
    if det.abs() < 1e-12 || !det.is_finite() {
        return None;
    }
    let (a, b, d, e) = (m[4] / det, -m[1] / det, -m[3] / det, m[0] / det);
    Some([a, b, -(a * m[2] + b * m[5]), d, e, -(d * m[2] + e * m[5])])
}

/// A box of whole pixels: columns `x..x + width`, rows `y..y + height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelBox {
    /// First column.
    pub x: usize,
    /// First row.
    pub y: usize,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

/// What one step does to one image.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Mirror left to right.
    HorizontalFlip,
    /// Mirror top to bottom.
    VerticalFlip,
    /// `k` quarter turns counter-clockwise (1, 2 or 3).
    Quarter(u8),
    /// Move pixels by this forward map (output position of an input position).
    Affine(Affine),
    /// Multiply by this factor.
    Brightness(f64),
    /// Scale distances from the mean grey level by this factor.
    Contrast(f64),
    /// Raise to this power.
    Gamma(f64),
    /// Add Gaussian noise of this standard deviation, from this seed.
    Noise {
        /// Standard deviation.
        std: f64,
        /// Seed of the noise's generator.
        seed: u64,
    },
    /// Gaussian blur.
    Blur {
        /// Standard deviation, in pixels.
        sigma: f64,
        /// The window's side (odd).
        kernel: usize,
    },
    /// Set this box to the value.
    Erase(PixelBox, f64),
    /// Mix with the next image of the batch: `weight · own + (1 − weight) · next`.
    Mixup(f64),
    /// Paste this box of the next image of the batch; `weight` is the share of
    /// the image's own pixels left.
    Cutmix(PixelBox, f64),
}

/// The transforms of the pipeline in order, groups flattened: the steps that do
/// something to an image.
pub fn leaves(config: &AugmentConfig) -> Vec<Step> {
    fn push(steps: &[Step], out: &mut Vec<Step>) {
        for s in steps {
            match s {
                Step::OneOf { of, .. } | Step::SomeOf { of, .. } => push(of, out),
                leaf => out.push(leaf.clone()),
            }
        }
    }
    let mut out = Vec::new();
    push(&config.steps, &mut out);
    out
}

fn count_leaves(step: &Step) -> usize {
    match step {
        Step::OneOf { of, .. } | Step::SomeOf { of, .. } => of.iter().map(count_leaves).sum(),
        _ => 1,
    }
}

/// The generator of one sample in one epoch: independent of the batch it sits
/// in and of every other sample, so a resumed run or another batch size sees the
/// same augmentation of the same row.
pub fn sample_rng(seed: u64, epoch: usize, row: usize) -> SeededRng {
    let base = SeededRng::stream(seed, Stream::Named("augment", epoch as u64)).next_u64();
    SeededRng::derive(base, row as u64)
}

/// What every leaf does to one `height × width` image (`None`: the leaf is not
/// applied), drawn from `rng`.
pub fn draw(config: &AugmentConfig, rng: &mut SeededRng, height: usize, width: usize) -> Vec<Option<Op>> {
    draw_with(config, rng, &mut |leaf, rng| leaf_op(leaf, rng, height, width))
}

/// Walks the pipeline as [`draw`] does, deciding which leaves apply (their own
/// probabilities and the groups'), and asks `leaf` what each applied leaf does:
/// one entry per leaf, in order, `None` where the leaf is not applied. The draws
/// of the decisions and of `leaf` interleave on `rng`, so the result replays
/// from the same generator.
pub fn draw_with<T>(
    config: &AugmentConfig,
    rng: &mut SeededRng,
    leaf: &mut dyn FnMut(&Step, &mut SeededRng) -> Option<T>,
) -> Vec<Option<T>> {
    let mut out = Vec::new();
    for step in &config.steps {
        walk(step, rng, false, leaf, &mut out);
    }
    out
}

pub(crate) fn uniform(rng: &mut SeededRng, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.next_f64()
}

fn walk<T>(
    step: &Step,
    rng: &mut SeededRng,
    forced: bool,
    leaf: &mut dyn FnMut(&Step, &mut SeededRng) -> Option<T>,
    out: &mut Vec<Option<T>>,
) {
    let active = rng.next_f64() < step.p() || forced;
    match step {
        Step::OneOf { of, .. } => {
            let chosen = active.then(|| rng.weighted(&of.iter().map(Step::p).collect::<Vec<_>>()));
            for (i, s) in of.iter().enumerate() {
                if chosen == Some(i) {
                    walk(s, rng, true, leaf, out);
                } else {
                    out.extend(std::iter::repeat_with(|| None).take(count_leaves(s)));
                }
            }
        }
        Step::SomeOf { of, n, .. } => {
            let mut chosen = vec![false; of.len()];
            if active {
                let mut order: Vec<usize> = (0..of.len()).collect();
                rng.shuffle(&mut order);
                for &i in order.iter().take(*n) {
                    chosen[i] = true;
                }
            }
            for (s, &c) in of.iter().zip(&chosen) {
                if c {
                    walk(s, rng, true, leaf, out);
                } else {
                    out.extend(std::iter::repeat_with(|| None).take(count_leaves(s)));
                }
            }
        }
        one => out.push(if active { leaf(one, rng) } else { None }),
    }
}

/// A rotation by `degrees` counter-clockwise as seen on the screen (y points down).
fn rotation(degrees: f64) -> Affine {
    let (s, c) = degrees.to_radians().sin_cos();
    [c, s, 0.0, -s, c, 0.0]
}

fn leaf_op(step: &Step, rng: &mut SeededRng, height: usize, width: usize) -> Option<Op> {
    let (h, w) = (height as f64, width as f64);
    let op = match step {
        Step::HorizontalFlip { .. } => Op::HorizontalFlip,
        Step::VerticalFlip { .. } => Op::VerticalFlip,
        Step::Rotate90 { .. } => Op::Quarter(1 + rng.below(3) as u8),
        Step::Rotate { degrees, .. } => Op::Affine(rotation(uniform(rng, -degrees, *degrees))),
        Step::Affine { degrees, translate, scale, shear, .. } => {
            let angle = uniform(rng, -degrees, *degrees);
            let tx = uniform(rng, -translate * w, translate * w);
            let ty = uniform(rng, -translate * h, translate * h);
            let zoom = uniform(rng, scale[0], scale[1]);
            let sh = uniform(rng, -shear, *shear).to_radians().tan();
            // Scale, then shear along x, then rotate, then shift (torchvision's order).
            let sheared: Affine = [zoom, sh * zoom, 0.0, 0.0, zoom, 0.0];
            let mut m = compose(&rotation(angle), &sheared);
            m[2] += tx;
            m[5] += ty;
            Op::Affine(m)
        }
        Step::Translate { pixels, .. } => {
            let (tx, ty) = (uniform(rng, -pixels, *pixels), uniform(rng, -pixels, *pixels));
            Op::Affine([1.0, 0.0, tx, 0.0, 1.0, ty])
        }
        Step::PadCrop { padding, .. } => {
            let span = 2 * *padding as u64 + 1;
            let dx = rng.below(span) as f64 - *padding as f64;
            let dy = rng.below(span) as f64 - *padding as f64;
            Op::Affine([1.0, 0.0, dx, 0.0, 1.0, dy])
        }
        Step::ResizedCrop { scale, ratio, .. } => {
            let b = crop_box(rng, height, width, *scale, *ratio);
            // The box stretched onto the whole image: input x (centred) ↦ output x.
            let (sx, sy) = (w / b.width as f64, h / b.height as f64);
            let (x0, y0) = (b.x as f64, b.y as f64);
            Op::Affine([sx, 0.0, sx * (w / 2.0 - x0) - w / 2.0, 0.0, sy, sy * (h / 2.0 - y0) - h / 2.0])
        }
        Step::Brightness { factor, .. } => Op::Brightness(uniform(rng, 1.0 - factor, 1.0 + factor)),
        Step::Contrast { factor, .. } => Op::Contrast(uniform(rng, 1.0 - factor, 1.0 + factor)),
        Step::Gamma { range, .. } => Op::Gamma(uniform(rng, range[0], range[1])),
        Step::Noise { std, .. } => Op::Noise { std: *std, seed: rng.next_u64() },
        Step::Blur { sigma, kernel, .. } => Op::Blur { sigma: uniform(rng, sigma[0], sigma[1]), kernel: *kernel },
        Step::Mixup { alpha, .. } => Op::Mixup(rng.beta(*alpha, *alpha)),
        Step::Cutmix { alpha, .. } => {
            let lambda = rng.beta(*alpha, *alpha);
            // torchvision's box: centred at a uniform point, sides √(1 − λ) of the
            // image's, clipped at the border; the weight is the share left uncovered.
            let (cx, cy) = (rng.below(width as u64) as f64, rng.below(height as u64) as f64);
            let r = 0.5 * (1.0 - lambda).sqrt();
            let x0 = (cx - r * w).round().clamp(0.0, w) as usize;
            let x1 = (cx + r * w).round().clamp(0.0, w) as usize;
            let y0 = (cy - r * h).round().clamp(0.0, h) as usize;
            let y1 = (cy + r * h).round().clamp(0.0, h) as usize;
            let b = PixelBox { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
            Op::Cutmix(b, 1.0 - (b.width * b.height) as f64 / (w * h))
        }
        // No box fitted in ten tries: nothing is erased (torchvision's rule).
        Step::Erase { scale, ratio, value, .. } => {
            return erase_box(rng, height, width, *scale, *ratio).map(|b| Op::Erase(b, *value));
        }
        // Groups are walked, not drawn; audio and text steps do nothing to an
        // image (a validated pipeline for images holds none).
        _ => return None,
    };
    Some(op)
}

fn log_uniform(rng: &mut SeededRng, range: [f64; 2]) -> f64 {
    uniform(rng, range[0].ln(), range[1].ln()).exp()
}

/// torchvision's `RandomResizedCrop.get_params`: ten tries at a box of a random
/// share of the area and aspect ratio that fits, else the centred box of the
/// largest size whose ratio is in range. Always inside the image and non-empty.
pub fn crop_box(rng: &mut SeededRng, height: usize, width: usize, scale: [f64; 2], ratio: [f64; 2]) -> PixelBox {
    let area = (height * width) as f64;
    for _ in 0..10 {
        let target = area * uniform(rng, scale[0], scale[1]);
        let aspect = log_uniform(rng, ratio);
        let w = (target * aspect).sqrt().round() as usize;
        let h = (target / aspect).sqrt().round() as usize;
        if w > 0 && h > 0 && w <= width && h <= height {
            let y = rng.below((height - h + 1) as u64) as usize;
            let x = rng.below((width - w + 1) as u64) as usize;
            return PixelBox { x, y, width: w, height: h };
        }
    }
    let in_ratio = width as f64 / height as f64;
    let (w, h) = if in_ratio < ratio[0] {
        (width, ((width as f64 / ratio[0]).round() as usize).clamp(1, height))
    } else if in_ratio > ratio[1] {
        (((height as f64 * ratio[1]).round() as usize).clamp(1, width), height)
    } else {
        (width, height)
    };
    PixelBox { x: (width - w) / 2, y: (height - h) / 2, width: w, height: h }
}

/// torchvision's `RandomErasing.get_params`: ten tries at a box strictly
/// smaller than the image, else none.
pub fn erase_box(
    rng: &mut SeededRng,
    height: usize,
    width: usize,
    scale: [f64; 2],
    ratio: [f64; 2],
) -> Option<PixelBox> {
    let area = (height * width) as f64;
    for _ in 0..10 {
        let target = area * uniform(rng, scale[0], scale[1]);
        let aspect = log_uniform(rng, ratio);
        let h = (target * aspect).sqrt().round() as usize;
        let w = (target / aspect).sqrt().round() as usize;
        if h > 0 && w > 0 && h < height && w < width {
            let y = rng.below((height - h + 1) as u64) as usize;
            let x = rng.below((width - w + 1) as u64) as usize;
            return Some(PixelBox { x, y, width: w, height: h });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn apply(m: &Affine, p: (f64, f64)) -> (f64, f64) {
        (m[0] * p.0 + m[1] * p.1 + m[2], m[3] * p.0 + m[4] * p.1 + m[5])
    }

    #[test]
    fn a_quarter_rotation_sends_right_to_up() {
        let (x, y) = apply(&rotation(90.0), (1.0, 0.0));
        assert!(x.abs() < 1e-12 && (y + 1.0).abs() < 1e-12, "({x}, {y})");
    }

    #[test]
    fn inverse_undoes_the_map() {
        let m = compose(&rotation(33.0), &[1.3, 0.2, 4.0, 0.0, 0.9, -2.0]);
        let inv = invert(&m).unwrap();
        let p = apply(&inv, apply(&m, (3.0, -7.0)));
        assert!((p.0 - 3.0).abs() < 1e-12 && (p.1 + 7.0).abs() < 1e-12);
        assert!(invert(&[0.0; 6]).is_none());
    }

    #[test]
    fn the_resized_crop_map_sends_the_box_onto_the_image() {
        let config: AugmentConfig =
            toml::from_str("steps = [{ transform = \"resized_crop\", scale = [0.3, 0.6] }]").unwrap();
        let Some(Op::Affine(m)) = draw(&config, &mut SeededRng::new(3), 20, 30).remove(0) else { panic!("no map") };
        // The same draws: the step's probability, then the box.
        let mut rng = SeededRng::new(3);
        rng.next_f64();
        let b = crop_box(&mut rng, 20, 30, [0.3, 0.6], [0.75, 4.0 / 3.0]);
        assert!(b.width < 30 || b.height < 20, "{b:?}");
        // The box's corners (pixel edges, centred coordinates) go to the image's corners.
        let (x0, y0) = (b.x as f64 - 15.0, b.y as f64 - 10.0);
        let (x1, y1) = (x0 + b.width as f64, y0 + b.height as f64);
        let tl = apply(&m, (x0, y0));
        let br = apply(&m, (x1, y1));
        assert!((tl.0 + 15.0).abs() < 1e-9 && (tl.1 + 10.0).abs() < 1e-9, "{tl:?} for {b:?}");
        assert!((br.0 - 15.0).abs() < 1e-9 && (br.1 - 10.0).abs() < 1e-9, "{br:?} for {b:?}");
    }

    #[test]
    fn one_of_applies_exactly_one_and_some_of_exactly_n() {
        let config: AugmentConfig = toml::from_str(
            r#"steps = [
                { transform = "one_of", of = [{ transform = "brightness", factor = 0.1 }, { transform = "contrast", factor = 0.1 }] },
                { transform = "some_of", n = 2, of = [
                    { transform = "noise", std = 0.1 }, { transform = "gamma", range = [0.8, 1.2] }, { transform = "blur", sigma = [0.5, 1.0], kernel = 3 },
                ] },
            ]"#,
        )
        .unwrap();
        for row in 0..200 {
            let ops = draw(&config, &mut sample_rng(7, 1, row), 8, 8);
            assert_eq!(ops.len(), 5);
            assert_eq!(ops[..2].iter().filter(|o| o.is_some()).count(), 1);
            assert_eq!(ops[2..].iter().filter(|o| o.is_some()).count(), 2);
        }
    }

    #[test]
    fn draws_replay_and_differ_by_row_and_epoch() {
        let config: AugmentConfig = toml::from_str("steps = [{ transform = \"rotate\", degrees = 30 }]").unwrap();
        let a = draw(&config, &mut sample_rng(1, 2, 3), 8, 8);
        assert_eq!(a, draw(&config, &mut sample_rng(1, 2, 3), 8, 8));
        assert_ne!(a, draw(&config, &mut sample_rng(1, 2, 4), 8, 8));
        assert_ne!(a, draw(&config, &mut sample_rng(1, 3, 3), 8, 8));
        assert_ne!(a, draw(&config, &mut sample_rng(2, 2, 3), 8, 8));
    }

    proptest! {
        #[test]
        fn crop_boxes_lie_inside_the_image(seed in any::<u64>(), h in 1usize..64, w in 1usize..64,
                                            lo in 0.01f64..1.0, span in 0.0f64..1.0, r0 in 0.1f64..2.0, rspan in 0.0f64..5.0) {
            let scale = [lo, (lo + span).min(1.0)];
            let ratio = [r0, r0 + rspan];
            let b = crop_box(&mut SeededRng::new(seed), h, w, scale, ratio);
            prop_assert!(b.width >= 1 && b.height >= 1);
            prop_assert!(b.x + b.width <= w && b.y + b.height <= h, "{:?} in {}x{}", b, h, w);
            if let Some(b) = erase_box(&mut SeededRng::new(seed), h, w, scale, ratio) {
                prop_assert!(b.width >= 1 && b.height >= 1 && b.width < w && b.height < h);
                prop_assert!(b.x + b.width <= w && b.y + b.height <= h);
            }
        }

        #[test]
        fn pad_crop_shifts_by_whole_pixels_within_the_padding(seed in any::<u64>(), padding in 0usize..6) {
            let config = AugmentConfig { steps: vec![Step::PadCrop { padding, p: 1.0 }], ..AugmentConfig::default() };
            let Some(Op::Affine(m)) = draw(&config, &mut SeededRng::new(seed), 10, 10).remove(0) else { panic!() };
            prop_assert_eq!(m[2].fract(), 0.0);
            prop_assert!(m[2].abs() <= padding as f64 && m[5].abs() <= padding as f64);
        }
    }
}
