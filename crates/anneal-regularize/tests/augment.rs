//! The augmentation pipeline on burn tensors (the `tensors` feature): exact
//! flips and quarter turns, geometric maps against the analytic point mapping,
//! photometric transforms against their formulas, replay, and bad input.

use anneal_core::SeededRng;
use anneal_regularize::RegularizeError;
use anneal_regularize::augment::plan::{Affine, Op, invert};
use anneal_regularize::augment::{AugmentConfig, ImageAugmenter};
use burn::prelude::*;

fn config(toml: &str) -> AugmentConfig {
    toml::from_str(toml).unwrap()
}

fn augmenter(toml: &str, seed: u64) -> ImageAugmenter {
    ImageAugmenter::new(config(toml), seed).unwrap()
}

/// `n` images of `c × h × w` uniform random pixels.
fn random_images(n: usize, c: usize, h: usize, w: usize, seed: u64) -> Vec<f32> {
    let mut rng = SeededRng::new(seed);
    (0..n * c * h * w).map(|_| rng.next_f64() as f32).collect()
}

fn tensor(values: Vec<f32>, shape: [usize; 4]) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, shape), &Device::default())
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn flips_are_exact() {
    let (n, c, h, w) = (3, 2, 5, 7);
    let x = random_images(n, c, h, w, 1);
    let flipped = values(
        augmenter(r#"steps = [{ transform = "horizontal_flip", p = 1.0 }]"#, 0)
            .apply(tensor(x.clone(), [n, c, h, w]), &[0, 1, 2], 1)
            .unwrap(),
    );
    let upside = values(
        augmenter(r#"steps = [{ transform = "vertical_flip", p = 1.0 }]"#, 0)
            .apply(tensor(x.clone(), [n, c, h, w]), &[0, 1, 2], 1)
            .unwrap(),
    );
    for i in 0..n * c {
        for y in 0..h {
            for xx in 0..w {
                assert_eq!(flipped[(i * h + y) * w + xx], x[(i * h + y) * w + (w - 1 - xx)]);
                assert_eq!(upside[(i * h + y) * w + xx], x[(i * h + (h - 1 - y)) * w + xx]);
            }
        }
    }
}

#[test]
fn quarter_turns_are_exact_and_counter_clockwise() {
    let (n, s) = (12, 4);
    let x = random_images(n, 1, s, s, 2);
    let aug = augmenter(r#"steps = [{ transform = "rotate90" }]"#, 5);
    let rows: Vec<usize> = (0..n).collect();
    let out = values(aug.apply(tensor(x.clone(), [n, 1, s, s]), &rows, 1).unwrap());
    let plans = aug.plan(&rows, 1, s, s);
    let mut seen = [false; 3];
    for (i, plan) in plans.iter().enumerate() {
        let Some(Op::Quarter(k)) = plan[0] else { panic!("{plan:?}") };
        seen[k as usize - 1] = true;
        let at = |img: &[f32], y: usize, xx: usize| img[(i * s + y) * s + xx];
        for y in 0..s {
            for xx in 0..s {
                // Counter-clockwise by k quarter turns: the source of output (y, x).
                let (sy, sx) = match k {
                    1 => (xx, s - 1 - y),
                    2 => (s - 1 - y, s - 1 - xx),
                    _ => (s - 1 - xx, y),
                };
                assert_eq!(at(&out, y, xx), at(&x, sy, sx), "k = {k}");
            }
        }
    }
    assert_eq!(seen, [true; 3], "12 samples drew every turn");
    // Not square: a typed error.
    let err = aug.apply(tensor(vec![0.0; 6], [1, 1, 2, 3]), &[0], 1).unwrap_err();
    assert!(matches!(err, RegularizeError::AugmentShape { .. }), "{err}");
}

/// A linear ramp is reproduced exactly by bilinear interpolation, so the output
/// of a geometric map must equal the ramp at the analytically mapped point.
#[test]
fn geometric_maps_follow_the_analytic_point_mapping() {
    let (n, h, w) = (6, 24, 28);
    let ramp = |x: f64, y: f64| 0.1 + 0.01 * x + 0.02 * y;
    let mut x = Vec::with_capacity(n * h * w);
    for _ in 0..n {
        for y in 0..h {
            for xx in 0..w {
                x.push(ramp(xx as f64, y as f64) as f32);
            }
        }
    }
    for pipeline in [
        r#"steps = [{ transform = "rotate", degrees = 30 }]"#,
        r#"steps = [{ transform = "affine", degrees = 20, translate = 0.1, scale = [0.8, 1.2], shear = 15 }]"#,
        r#"steps = [{ transform = "resized_crop", scale = [0.5, 1.0] }]"#,
        r#"steps = [{ transform = "translate", pixels = 2.5 }, { transform = "rotate", degrees = 10 }, { transform = "pad_crop", padding = 3 }]"#,
    ] {
        for on_host in [false, true] {
            let aug = augmenter(pipeline, 9).with_host_geometry(on_host);
            let rows: Vec<usize> = (10..10 + n).collect();
            let out = values(aug.apply(tensor(x.clone(), [n, 1, h, w]), &rows, 3).unwrap());
            let mut checked = 0;
            for (i, plan) in aug.plan(&rows, 3, h, w).iter().enumerate() {
                // The forward map: the steps' maps composed in order.
                let mut forward: Affine = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
                for op in plan.iter().flatten() {
                    let Op::Affine(m) = op else { panic!("{op:?}") };
                    forward = anneal_regularize::augment::plan::compose(m, &forward);
                }
                let inv = invert(&forward).unwrap();
                for yo in 0..h {
                    for xo in 0..w {
                        let (xc, yc) = (xo as f64 + 0.5 - w as f64 / 2.0, yo as f64 + 0.5 - h as f64 / 2.0);
                        // Back to pixel indices of the input.
                        let xi = inv[0] * xc + inv[1] * yc + inv[2] + w as f64 / 2.0 - 0.5;
                        let yi = inv[3] * xc + inv[4] * yc + inv[5] + h as f64 / 2.0 - 0.5;
                        let got = out[(i * h + yo) * w + xo] as f64;
                        if xi >= 0.0 && xi <= (w - 1) as f64 && yi >= 0.0 && yi <= (h - 1) as f64 {
                            assert!(
                                (got - ramp(xi, yi)).abs() < 1e-4,
                                "{pipeline}: ({yo}, {xo}) {got} vs {}",
                                ramp(xi, yi)
                            );
                            checked += 1;
                        } else if xi < -1.0 || xi > w as f64 || yi < -1.0 || yi > h as f64 {
                            assert_eq!(got, 0.0, "{pipeline}: outside the input is 0");
                        }
                    }
                }
            }
            assert!(checked > n * h * w / 3, "{pipeline}: only {checked} pixels inside");
        }
    }
}

/// The host warp and the device's `grid_sample` give the same images.
#[test]
fn the_host_warp_equals_grid_sample() {
    let (n, c, h, w) = (8, 3, 9, 13);
    let x = random_images(n, c, h, w, 8);
    let pipeline = r#"steps = [
        { transform = "affine", degrees = 25, translate = 0.2, scale = [0.7, 1.3], shear = 10, p = 0.7 },
        { transform = "resized_crop", scale = [0.3, 1.0] },
    ]"#;
    let rows: Vec<usize> = (0..n).collect();
    let device = values(augmenter(pipeline, 4).apply(tensor(x.clone(), [n, c, h, w]), &rows, 2).unwrap());
    let host =
        values(augmenter(pipeline, 4).with_host_geometry(true).apply(tensor(x, [n, c, h, w]), &rows, 2).unwrap());
    for (a, b) in device.iter().zip(&host) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn photometric_transforms_follow_their_formulas() {
    let (n, c, h, w) = (4, 3, 6, 5);
    let x = random_images(n, c, h, w, 3);
    let rows = [0, 1, 2, 3];
    let check = |pipeline: &str, expect: &dyn Fn(&Op, &[f32]) -> Vec<f32>| {
        let aug = augmenter(pipeline, 11);
        let out = values(aug.apply(tensor(x.clone(), [n, c, h, w]), &rows, 1).unwrap());
        let size = c * h * w;
        for (i, plan) in aug.plan(&rows, 1, h, w).iter().enumerate() {
            let want = expect(plan[0].as_ref().unwrap(), &x[i * size..(i + 1) * size]);
            for (a, b) in out[i * size..(i + 1) * size].iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{pipeline}: {a} vs {b}");
            }
        }
    };
    check(r#"steps = [{ transform = "brightness", factor = 0.4 }]"#, &|op, img| {
        let Op::Brightness(f) = op else { panic!() };
        img.iter().map(|v| (v * *f as f32).clamp(0.0, 1.0)).collect()
    });
    check(r#"steps = [{ transform = "contrast", factor = 0.5 }]"#, &|op, img| {
        let Op::Contrast(f) = op else { panic!() };
        let plane = h * w;
        let grey: f32 =
            (0..plane).map(|j| 0.299 * img[j] + 0.587 * img[plane + j] + 0.114 * img[2 * plane + j]).sum::<f32>()
                / plane as f32;
        img.iter().map(|v| ((v - grey) * *f as f32 + grey).clamp(0.0, 1.0)).collect()
    });
    check(r#"steps = [{ transform = "gamma", range = [0.5, 2.0] }]"#, &|op, img| {
        let Op::Gamma(g) = op else { panic!() };
        img.iter().map(|v| v.powf(*g as f32)).collect()
    });
    check(r#"steps = [{ transform = "erase", p = 1.0, value = 0.25, scale = [0.1, 0.3] }]"#, &|op, img| {
        let Op::Erase(b, value) = op else { panic!() };
        let mut out = img.to_vec();
        for ch in 0..c {
            for y in b.y..b.y + b.height {
                for xx in b.x..b.x + b.width {
                    out[(ch * h + y) * w + xx] = *value as f32;
                }
            }
        }
        out
    });
}

#[test]
fn noise_has_the_asked_spread_and_blur_keeps_flat_images_flat() {
    let (h, w) = (64, 64);
    let grey = vec![0.5f32; h * w];
    let noisy = values(
        augmenter(r#"steps = [{ transform = "noise", std = 0.05 }]"#, 1)
            .apply(tensor(grey.clone(), [1, 1, h, w]), &[0], 1)
            .unwrap(),
    );
    let mean = noisy.iter().map(|v| *v as f64).sum::<f64>() / noisy.len() as f64;
    let sd = (noisy.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / noisy.len() as f64).sqrt();
    assert!((mean - 0.5).abs() < 0.005 && (sd - 0.05).abs() < 0.005, "mean {mean}, sd {sd}");

    let blur = augmenter(r#"steps = [{ transform = "blur", sigma = [1.0, 2.0], kernel = 7 }]"#, 1);
    let flat = values(blur.apply(tensor(grey, [1, 1, h, w]), &[0], 1).unwrap());
    assert!(flat.iter().all(|v| (v - 0.5).abs() < 1e-5), "the border is renormalised");
    // A single bright pixel spreads into a symmetric bump of the same total.
    let mut dot = vec![0.0f32; 15 * 15];
    dot[7 * 15 + 7] = 1.0;
    let bump = values(blur.apply(tensor(dot, [1, 1, 15, 15]), &[0], 1).unwrap());
    assert!((bump.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    assert!(bump[7 * 15 + 7] < 1.0 && (bump[7 * 15 + 6] - bump[7 * 15 + 8]).abs() < 1e-6);
}

#[test]
fn untouched_samples_are_bit_for_bit_the_input() {
    let (n, c, h, w) = (16, 1, 8, 8);
    let x = random_images(n, c, h, w, 4);
    let aug = augmenter(
        r#"steps = [
            { transform = "horizontal_flip", p = 0.3 },
            { transform = "rotate", degrees = 15, p = 0.3 },
            { transform = "one_of", p = 0.3, of = [{ transform = "brightness", factor = 0.2 }, { transform = "blur", sigma = [0.5, 1.0], kernel = 3 }] },
            { transform = "noise", std = 0.1, p = 0.3 },
        ]"#,
        2,
    );
    let rows: Vec<usize> = (0..n).collect();
    let out = values(aug.apply(tensor(x.clone(), [n, c, h, w]), &rows, 1).unwrap());
    let size = c * h * w;
    let mut untouched = 0;
    for (i, plan) in aug.plan(&rows, 1, h, w).iter().enumerate() {
        if plan.iter().all(Option::is_none) {
            assert_eq!(&out[i * size..(i + 1) * size], &x[i * size..(i + 1) * size]);
            untouched += 1;
        } else {
            assert_ne!(&out[i * size..(i + 1) * size], &x[i * size..(i + 1) * size]);
        }
    }
    assert!(untouched > 0 && untouched < n, "{untouched} of {n} untouched");
}

#[test]
fn the_same_seed_epoch_and_rows_replay_whatever_the_batch() {
    let (c, h, w) = (1, 10, 10);
    let x = random_images(4, c, h, w, 6);
    let pipeline = r#"steps = [
        { transform = "affine", degrees = 10, translate = 0.1 },
        { transform = "resized_crop", scale = [0.8, 1.0] },
        { transform = "noise", std = 0.05 },
        { transform = "erase" },
    ]"#;
    let aug = augmenter(pipeline, 21);
    let batch = values(aug.apply(tensor(x.clone(), [4, c, h, w]), &[7, 8, 9, 10], 2).unwrap());
    assert_eq!(batch, values(aug.apply(tensor(x.clone(), [4, c, h, w]), &[7, 8, 9, 10], 2).unwrap()));
    // Row 9 alone, in a batch of one, is augmented as it was in the batch of four.
    let size = c * h * w;
    let alone = values(aug.apply(tensor(x[2 * size..3 * size].to_vec(), [1, c, h, w]), &[9], 2).unwrap());
    for (a, b) in alone.iter().zip(&batch[2 * size..3 * size]) {
        assert!((a - b).abs() < 1e-6);
    }
    // Another epoch, another seed: other augmentations.
    assert_ne!(batch, values(aug.apply(tensor(x.clone(), [4, c, h, w]), &[7, 8, 9, 10], 3).unwrap()));
    let other = augmenter(pipeline, 22);
    assert_ne!(batch, values(other.apply(tensor(x, [4, c, h, w]), &[7, 8, 9, 10], 2).unwrap()));
}

#[test]
fn bad_settings_and_inputs_are_typed_errors() {
    let err =
        ImageAugmenter::new(config(r#"steps = [{ transform = "rotate", degrees = 10, p = 1.5 }]"#), 0).unwrap_err();
    assert_eq!(err.to_string(), "augment.steps[0].p = 1.5 is not valid: expected a probability in [0, 1]");
    let err = ImageAugmenter::new(
        config(r#"steps = [{ transform = "some_of", n = 3, of = [{ transform = "horizontal_flip" }] }]"#),
        0,
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("augment.steps[0].n = 3"), "{err}");
    let err = ImageAugmenter::new(
        config(r#"steps = [{ transform = "one_of", of = [{ transform = "blur", sigma = [1.0, 2.0], kernel = 4 }] }]"#),
        0,
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("augment.steps[0].of[0].kernel = 4"), "{err}");
    let unknown = toml::from_str::<AugmentConfig>(r#"steps = [{ transform = "rotate", degree = 10 }]"#).unwrap_err();
    assert!(unknown.to_string().contains("degree"), "{unknown}");
    let unknown = toml::from_str::<AugmentConfig>(r#"steps = [{ transform = "spin" }]"#).unwrap_err();
    assert!(unknown.to_string().contains("spin"), "{unknown}");

    let aug = augmenter(r#"steps = [{ transform = "horizontal_flip" }]"#, 0);
    let err = aug.apply(tensor(vec![0.0; 8], [2, 1, 2, 2]), &[0], 1).unwrap_err();
    assert_eq!(err, RegularizeError::AugmentBatch { rows: 1, images: 2 });
}

#[test]
fn mixup_and_cutmix_mix_each_image_with_the_next_and_report_the_shares() {
    let (n, c, h, w) = (5, 2, 6, 6);
    let x = random_images(n, c, h, w, 12);
    let size = c * h * w;
    let rows: Vec<usize> = (0..n).collect();
    let labels = || Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 3, 4], [n]), &Device::default());
    // Without labels the pipeline refuses.
    let mixup = augmenter(r#"steps = [{ transform = "mixup", alpha = 0.4, p = 0.8 }]"#, 3);
    let err = mixup.apply(tensor(x.clone(), [n, c, h, w]), &rows, 1).unwrap_err();
    assert_eq!(err, RegularizeError::AugmentLabels);

    let (out, mixing) = mixup.apply_labelled(tensor(x.clone(), [n, c, h, w]), labels(), &rows, 1).unwrap();
    let (out, mixing) = (values(out), mixing.unwrap());
    let second: Vec<i64> = mixing.second.into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
    let weight: Vec<f32> = mixing.weight.into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(second, [1, 2, 3, 4, 0]);
    for (i, plan) in mixup.plan(&rows, 1, h, w).iter().enumerate() {
        let lambda = match plan[0] {
            Some(Op::Mixup(l)) => l as f32,
            None => 1.0,
            ref other => panic!("{other:?}"),
        };
        assert!((weight[i] - lambda).abs() < 1e-6);
        let next = (i + 1) % n;
        for j in 0..size {
            let want = lambda * x[i * size + j] + (1.0 - lambda) * x[next * size + j];
            assert!((out[i * size + j] - want).abs() < 1e-5);
        }
    }

    let cutmix = augmenter(r#"steps = [{ transform = "cutmix" }]"#, 3);
    let (out, mixing) = cutmix.apply_labelled(tensor(x.clone(), [n, c, h, w]), labels(), &rows, 1).unwrap();
    let (out, weight) = (values(out), mixing.unwrap().weight.into_data().try_to_vec::<f32>().unwrap());
    for (i, plan) in cutmix.plan(&rows, 1, h, w).iter().enumerate() {
        let Some(Op::Cutmix(b, lambda)) = plan[0] else { panic!("{plan:?}") };
        assert!((weight[i] as f64 - lambda).abs() < 1e-6);
        assert!((lambda - (1.0 - (b.width * b.height) as f64 / (h * w) as f64)).abs() < 1e-12);
        let next = (i + 1) % n;
        for ch in 0..c {
            for y in 0..h {
                for xx in 0..w {
                    let j = (ch * h + y) * w + xx;
                    let inside = (b.x..b.x + b.width).contains(&xx) && (b.y..b.y + b.height).contains(&y);
                    let want = if inside { x[next * size + j] } else { x[i * size + j] };
                    assert_eq!(out[i * size + j], want);
                }
            }
        }
    }
    // Two mixing steps, or one inside a group, are refused.
    let two = config(r#"steps = [{ transform = "mixup" }, { transform = "cutmix" }]"#);
    assert!(ImageAugmenter::new(two, 0).unwrap_err().to_string().contains("at most one mixup or cutmix"));
    let nested = config(r#"steps = [{ transform = "one_of", of = [{ transform = "mixup" }] }]"#);
    assert!(ImageAugmenter::new(nested, 0).unwrap_err().to_string().contains("inside a group"));
}
