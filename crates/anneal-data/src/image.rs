//! Image data: a folder of class folders of PNG / JPEG files (torchvision's
//! `ImageFolder` convention) or a CSV of pixel columns, read into the same
//! [`Table`] as every other dataset (one image per row, its pixels as numeric
//! columns in channel-major order), and [`ImageNormalizer`], the per-channel
//! normalisation fitted on the training images.
//!
//! ```
//! use anneal_data::image::{ImageNormalizer, ImageOptions};
//! use anneal_data::{Column, Table};
//!
//! // Two 1×2 grey images as pixel columns.
//! let table = Table::from_columns(vec![
//!     ("p0".into(), Column::Numeric(vec![Some(0.0), Some(255.0)])),
//!     ("p1".into(), Column::Numeric(vec![Some(255.0), Some(255.0)])),
//! ])?;
//! let options = ImageOptions { height: Some(1), width: Some(2), channels: Some(1), ..ImageOptions::default() };
//! let pixels = ["p0".to_string(), "p1".to_string()];
//! let shape = options.csv_shape(&pixels)?;
//! let (normalizer, m) = ImageNormalizer::fit_transform(&options, shape, &table, &pixels)?;
//! // Scaled to [0, 1], then standardised with the mean (0.75) and std of all training pixels.
//! assert!((normalizer.mean()[0] - 0.75).abs() < 1e-12);
//! assert_eq!(m.n_cols, 2);
//! # Ok::<(), anneal_data::DataError>(())
//! ```

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::preprocess::Matrix;
use crate::table::{Column, ColumnKind, Table};

/// The file extensions read as images (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// The order of a pixel CSV's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelLayout {
    /// Row by row, the channels of each pixel together (`[height, width, channels]`,
    /// as images are stored and as `numpy` holds them).
    #[default]
    Hwc,
    /// Channel by channel (`[channels, height, width]`, as PyTorch holds them).
    Chw,
}

/// How images are normalised before the model sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// Divide by `scale`, then subtract each channel's mean and divide by its
    /// standard deviation over the training images (torchvision's `Normalize`
    /// with the data's own statistics).
    #[default]
    Channel,
    /// Divide by `scale` only.
    Scale,
}

fn default_scale() -> f64 {
    255.0
}

/// The `[data.image]` table: the images' shape and how they are normalised.
///
/// For a pixel CSV, `height`, `width` and `channels` describe each row; for a
/// folder, they are the size every image is resized to (default: the first
/// image's size, and every image must match it) and the colour channels (1 grey,
/// 3 RGB; default 3 if any image has colour, else 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageOptions {
    /// Image height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<usize>,
    /// Image width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
    /// Colour channels: 1 (grey) or 3 (RGB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<usize>,
    /// The value of a full-intensity pixel (255 for 8-bit images; 16 for `sklearn_digits`).
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// The column order of a pixel CSV (`hwc`, the default, or `chw`).
    #[serde(default)]
    pub layout: PixelLayout,
    /// `channel` (default) or `scale`.
    #[serde(default)]
    pub normalize: Normalization,
}

impl Default for ImageOptions {
    fn default() -> Self {
        Self {
            height: None,
            width: None,
            channels: None,
            scale: default_scale(),
            layout: PixelLayout::Hwc,
            normalize: Normalization::Channel,
        }
    }
}

impl ImageOptions {
    /// Checks the settings that do not depend on the data.
    pub fn validate(&self) -> Result<()> {
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(DataError::InvalidParameter(format!(
                "[data.image] scale = {}: the value of a full-intensity pixel must be a positive number",
                self.scale
            )));
        }
        if let Some(c) = self.channels
            && c != 1
            && c != 3
        {
            return Err(DataError::InvalidParameter(format!(
                "[data.image] channels = {c}: images have 1 (grey) or 3 (RGB) channels"
            )));
        }
        for (key, v) in [("height", self.height), ("width", self.width)] {
            if v == Some(0) {
                return Err(DataError::InvalidParameter(format!("[data.image] {key} = 0: an image needs pixels")));
            }
        }
        Ok(())
    }

    /// The `[channels, height, width]` of a pixel CSV whose pixel columns are
    /// `pixels`: every size must be given, and their product must be the
    /// number of columns.
    pub fn csv_shape(&self, pixels: &[String]) -> Result<[usize; 3]> {
        self.validate()?;
        let (Some(h), Some(w)) = (self.height, self.width) else {
            return Err(DataError::InvalidParameter(format!(
                "a pixel CSV needs [data.image] height and width (its {} pixel columns could be many shapes)",
                pixels.len()
            )));
        };
        let c = self.channels.unwrap_or(1);
        if c * h * w != pixels.len() {
            return Err(DataError::Shape(format!(
                "[data.image] says {c} channel(s) of {h}x{w} = {} values per image, but there are {} pixel \
                 columns (the feature columns: list them in [data] features, or exclude the others)",
                c * h * w,
                pixels.len()
            )));
        }
        Ok([c, h, w])
    }
}

/// A folder of images (or of audio clips, as log-mel spectrograms: see
/// [`crate::audio`]) read into a table.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    /// One row per image: the class column (when the folder has class folders)
    /// then one numeric column per pixel value (`pixel0`, ...), channel-major, 0 to 255.
    pub table: Table,
    /// Each row's file.
    pub files: Vec<PathBuf>,
    /// The pixel columns' names.
    pub pixels: Vec<String>,
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
}

/// The names of the pixel columns of `[channels, height, width]` images.
pub fn pixel_names(shape: [usize; 3]) -> Vec<String> {
    (0..shape.iter().product::<usize>()).map(|i| format!("pixel{i}")).collect()
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| DataError::Io { path: dir.to_path_buf(), source };
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.path())).collect::<std::io::Result<_>>().map_err(io)?;
    entries.retain(|p| !is_hidden(p));
    entries.sort();
    Ok(entries)
}

fn class_files(dir: &Path, extensions: &[&str], what: &str) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in sorted_entries(dir)? {
        if p.is_dir() {
            return Err(DataError::InvalidParameter(format!(
                "{}: folder inside a class folder; an {what} folder holds one folder per class, each holding files",
                p.display()
            )));
        }
        if !has_extension(&p, extensions) {
            return Err(DataError::InvalidParameter(format!(
                "{}: not an {what} file (read: {}); move it out of the {what} folder",
                p.display(),
                extensions.join(", ")
            )));
        }
        files.push(p);
    }
    Ok(files)
}

/// The files of a folder of class folders (each file's class beside it, and
/// `true`), or of a flat folder of files (no classes, `false`), in sorted
/// order. Hidden entries are skipped; so are, beside class folders, files
/// without one of `extensions` (a `speakers.csv` or a README), while such a
/// file inside a class folder or in a flat folder is an error naming it.
pub(crate) fn class_folder_files(
    dir: &Path,
    extensions: &[&str],
    what: &str,
) -> Result<(Vec<PathBuf>, Vec<Option<String>>, bool)> {
    let entries = sorted_entries(dir)?;
    let has_classes = entries.iter().any(|p| p.is_dir());
    let mut files = Vec::new();
    let mut labels = Vec::new();
    if has_classes {
        if let Some(stray) = entries.iter().find(|p| !p.is_dir() && has_extension(p, extensions)) {
            return Err(DataError::InvalidParameter(format!(
                "{}: an {what} file beside class folders belongs to no class; move it into its class folder",
                stray.display()
            )));
        }
        for class_dir in entries.iter().filter(|p| p.is_dir()) {
            let class = class_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            for f in class_files(class_dir, extensions, what)? {
                files.push(f);
                labels.push(Some(class.clone()));
            }
        }
    } else {
        files = class_files(dir, extensions, what)?;
    }
    if files.is_empty() {
        let message = format!("no {} file in it or in its class folders", extensions.join(" / "));
        return Err(if what == "image" {
            DataError::Image { path: dir.to_path_buf(), message }
        } else {
            DataError::Audio { path: dir.to_path_buf(), message }
        });
    }
    Ok((files, labels, has_classes))
}

/// The table of a folder's rows: the class column (when `class_column` is
/// given) then one numeric column per value of `[channels, height, width]`,
/// named `names` (else `pixel0`, ...). Returns it with the value columns' names.
pub(crate) fn folder_table<T: Copy + Into<f64>>(
    class_column: Option<&str>,
    labels: Vec<Option<String>>,
    rows: &[Vec<T>],
    shape: [usize; 3],
    names: Option<&[String]>,
) -> Result<(Table, Vec<String>)> {
    let [channels, height, width] = shape;
    let per_row = channels * height * width;
    let pixels = match names {
        Some(names) if names.len() == per_row => names.to_vec(),
        Some(names) => {
            return Err(DataError::Shape(format!(
                "{per_row} values per row ({channels}x{height}x{width}), but the run reads {}",
                names.len()
            )));
        }
        None => pixel_names(shape),
    };
    let mut columns: Vec<(String, Column)> = Vec::with_capacity(per_row + 1);
    if let Some(name) = class_column {
        columns.push((name.to_string(), Column::Categorical(labels)));
    }
    for (j, name) in pixels.iter().enumerate() {
        columns.push((name.clone(), Column::Numeric(rows.iter().map(|r| Some(r[j].into())).collect())));
    }
    Ok((Table::from_columns(columns)?, pixels))
}

/// Reads the images under `dir`: either one folder per class (the folder's name
/// is the class, stored in the column `class_column`), or image files directly
/// (no class column: images to predict). Files are read in sorted order, hidden
/// files are skipped, and anything else that is not a PNG or JPEG is an error
/// naming it, as is an image that cannot be decoded or has another size when
/// no size is set.
///
/// The pixel columns are named `pixel0`, `pixel1`, ... unless `pixel_names`
/// gives the names (those a run was trained with).
pub fn read_image_folder(
    dir: &Path,
    class_column: Option<&str>,
    options: &ImageOptions,
    pixel_names: Option<&[String]>,
) -> Result<ImageFolder> {
    options.validate()?;
    let (files, labels, has_classes) = class_folder_files(dir, &IMAGE_EXTENSIONS, "image")?;
    let decoded: Vec<image::DynamicImage> = files
        .par_iter()
        .map(|f| {
            image::ImageReader::open(f)
                .and_then(|r| r.with_guessed_format())
                .map_err(|source| DataError::Io { path: f.clone(), source })?
                .decode()
                .map_err(|e| DataError::Image { path: f.clone(), message: e.to_string() })
        })
        .collect::<Result<_>>()?;
    let channels = options.channels.unwrap_or(if decoded.iter().any(|i| i.color().has_color()) { 3 } else { 1 });
    let (height, width) = match (options.height, options.width) {
        (Some(h), Some(w)) => (h, w),
        (None, None) => {
            let first = &decoded[0];
            let (h, w) = (first.height() as usize, first.width() as usize);
            if let Some(i) = decoded.iter().position(|d| (d.height() as usize, d.width() as usize) != (h, w)) {
                return Err(DataError::Image {
                    path: files[i].clone(),
                    message: format!(
                        "{}x{} pixels (height x width), but {} is {h}x{w}: set [data.image] height and width to \
                         resize every image",
                        decoded[i].height(),
                        decoded[i].width(),
                        files[0].display()
                    ),
                });
            }
            (h, w)
        }
        _ => {
            return Err(DataError::InvalidParameter(
                "[data.image] sets one of height and width: set both to resize images, or neither".into(),
            ));
        }
    };
    let shape = [channels, height, width];
    let rows: Vec<Vec<u8>> = decoded.into_par_iter().map(|img| chw_pixels(img, shape)).collect();
    let (table, pixels) = folder_table(class_column.filter(|_| has_classes), labels, &rows, shape, pixel_names)?;
    Ok(ImageFolder { table, files, pixels, shape })
}

/// An image's pixels, resized to `[channels, height, width]` when it has
/// another size, channel-major.
fn chw_pixels(img: image::DynamicImage, [c, h, w]: [usize; 3]) -> Vec<u8> {
    let img = if (img.height() as usize, img.width() as usize) == (h, w) {
        img
    } else {
        img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle)
    };
    let hwc: Vec<u8> = if c == 1 { img.into_luma8().into_raw() } else { img.into_rgb8().into_raw() };
    let mut chw = vec![0u8; c * h * w];
    for (i, v) in hwc.iter().enumerate() {
        let (pixel, channel) = (i / c, i % c);
        chw[channel * h * w + pixel] = *v;
    }
    chw
}

/// Per-channel normalisation fitted on the training images: what the model
/// sees is `(pixel / scale − mean[c]) / std[c]`, channel-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageNormalizer {
    shape: [usize; 3],
    scale: f64,
    layout: PixelLayout,
    pixels: Vec<String>,
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl ImageNormalizer {
    /// Fits the normaliser on the images of `table` (pixel columns `pixels`,
    /// `[channels, height, width]` = `shape`) and returns them normalised.
    /// A missing or non-finite pixel is an error naming its row and column.
    pub fn fit_transform(
        options: &ImageOptions,
        shape: [usize; 3],
        table: &Table,
        pixels: &[String],
    ) -> Result<(Self, Matrix)> {
        options.validate()?;
        let [c, h, w] = shape;
        if pixels.len() != c * h * w {
            return Err(DataError::Shape(format!(
                "{} pixel columns for images of {c}x{h}x{w} = {} values",
                pixels.len(),
                c * h * w
            )));
        }
        let mut normalizer = Self {
            shape,
            scale: options.scale,
            layout: options.layout,
            pixels: pixels.to_vec(),
            mean: vec![0.0; c],
            std: vec![1.0; c],
        };
        let raw = normalizer.scaled(table)?;
        if options.normalize == Normalization::Channel && !raw.is_empty() {
            let plane = h * w;
            for ch in 0..c {
                let (mut sum, mut sq, mut n) = (0.0f64, 0.0f64, 0usize);
                for image in raw.chunks_exact(c * plane) {
                    for &v in &image[ch * plane..(ch + 1) * plane] {
                        sum += f64::from(v);
                        n += 1;
                    }
                }
                let mean = sum / n as f64;
                for image in raw.chunks_exact(c * plane) {
                    for &v in &image[ch * plane..(ch + 1) * plane] {
                        sq += (f64::from(v) - mean).powi(2);
                    }
                }
                let std = (sq / n as f64).sqrt();
                normalizer.mean[ch] = mean;
                // A constant channel is centred only.
                normalizer.std[ch] = if std > 1e-12 { std } else { 1.0 };
            }
        }
        let values = normalizer.normalize(raw);
        let n_rows = table.n_rows();
        Ok((normalizer, Matrix { values, n_rows, n_cols: c * h * w }))
    }

    /// The fitted per-channel means (of pixel / scale).
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The fitted per-channel standard deviations.
    pub fn std(&self) -> &[f64] {
        &self.std
    }

    /// `[channels, height, width]`.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// The pixel columns read, in the table's order.
    pub fn pixels(&self) -> &[String] {
        &self.pixels
    }

    /// Normalises the images of `table` with the fitted statistics.
    pub fn transform(&self, table: &Table) -> Result<Matrix> {
        let raw = self.scaled(table)?;
        let [c, h, w] = self.shape;
        Ok(Matrix { values: self.normalize(raw), n_rows: table.n_rows(), n_cols: c * h * w })
    }

    /// The images of `table` as pixel / scale, channel-major, before
    /// normalisation (in `[0, 1]` for pixels from 0 to `scale`): what a person
    /// looks at.
    pub fn pixels01(&self, table: &Table) -> Result<Vec<f32>> {
        self.scaled(table)
    }

    /// Pixel values of `table` / scale, channel-major, checked.
    fn scaled(&self, table: &Table) -> Result<Vec<f32>> {
        let [c, h, w] = self.shape;
        let (n, per_image) = (table.n_rows(), c * h * w);
        let mut out = vec![0f32; n * per_image];
        for (j, name) in self.pixels.iter().enumerate() {
            if table.kind(name)? != ColumnKind::Numeric {
                return Err(DataError::ColumnType { column: name.clone(), expected: "numeric", actual: "categorical" });
            }
            // Column j of the file is value `to` of the channel-major image.
            let to = match self.layout {
                PixelLayout::Chw => j,
                PixelLayout::Hwc => (j % c) * h * w + j / c,
            };
            for (row, v) in table.numeric(name)?.into_iter().enumerate() {
                match v {
                    Some(v) if v.is_finite() => out[row * per_image + to] = (v / self.scale) as f32,
                    _ => {
                        return Err(DataError::MissingPixel { column: name.clone(), row, value: v });
                    }
                }
            }
        }
        Ok(out)
    }

    fn normalize(&self, mut values: Vec<f32>) -> Vec<f32> {
        let [c, h, w] = self.shape;
        let plane = h * w;
        if plane == 0 {
            return values;
        }
        for image in values.chunks_exact_mut(c * plane) {
            for (ch, channel) in image.chunks_exact_mut(plane).enumerate() {
                let (m, s) = (self.mean[ch] as f32, self.std[ch] as f32);
                for v in channel {
                    *v = (*v - m) / s;
                }
            }
        }
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwc_columns_become_channel_major_and_are_normalised_per_channel() {
        // One 1x2 RGB image in HWC order: pixel 0 = (10, 20, 30), pixel 1 = (40, 50, 60).
        let names: Vec<String> = (0..6).map(|i| format!("v{i}")).collect();
        let values = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0];
        let table = Table::from_columns(
            names.iter().zip(values).map(|(n, v)| (n.clone(), Column::Numeric(vec![Some(v), Some(v)]))).collect(),
        )
        .unwrap();
        let options = ImageOptions {
            height: Some(1),
            width: Some(2),
            channels: Some(3),
            scale: 1.0,
            normalize: Normalization::Scale,
            ..ImageOptions::default()
        };
        let shape = options.csv_shape(&names).unwrap();
        let (_, m) = ImageNormalizer::fit_transform(&options, shape, &table, &names).unwrap();
        assert_eq!(&m.values[..6], [10.0, 40.0, 20.0, 50.0, 30.0, 60.0]);
        let options = ImageOptions { normalize: Normalization::Channel, ..options };
        let (fitted, m) = ImageNormalizer::fit_transform(&options, shape, &table, &names).unwrap();
        assert_eq!(fitted.mean(), [25.0, 35.0, 45.0]);
        assert_eq!(&m.values[..2], [-1.0, 1.0]);
        assert_eq!(fitted.transform(&table).unwrap().values, m.values);
    }

    #[test]
    fn a_wrong_shape_or_a_missing_pixel_is_named() {
        let names: Vec<String> = (0..4).map(|i| format!("p{i}")).collect();
        let options = ImageOptions { height: Some(3), width: Some(3), ..ImageOptions::default() };
        assert!(options.csv_shape(&names).unwrap_err().to_string().contains("4 pixel columns"));
        let table = Table::from_columns(
            names
                .iter()
                .map(|n| (n.clone(), Column::Numeric(vec![Some(1.0), if n == "p2" { None } else { Some(1.0) }])))
                .collect(),
        )
        .unwrap();
        let options = ImageOptions { height: Some(2), width: Some(2), ..ImageOptions::default() };
        let e = ImageNormalizer::fit_transform(&options, [1, 2, 2], &table, &names).unwrap_err().to_string();
        assert!(e.contains("p2") && e.contains("row 1"), "{e}");
        // Pixel columns that do not fill the shape: an error, not an index out of range.
        let e = ImageNormalizer::fit_transform(&options, [1, 3, 3], &table, &names).unwrap_err().to_string();
        assert!(e.contains("4 pixel columns") && e.contains("1x3x3 = 9"), "{e}");
        assert!(ImageOptions { channels: Some(2), ..ImageOptions::default() }.validate().is_err());
    }
}
