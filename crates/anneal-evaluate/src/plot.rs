//! Figures a person looks at: a confusion-matrix heat map, ROC and
//! precision-recall curves (binary, or one-vs-rest per class), learning curves
//! with ± one standard deviation bands, and residuals against predictions, each
//! written as PNG or SVG.
//!
//! Drawing is plotters, pure Rust: text goes through `ab_glyph` with the bundled
//! DejaVu Sans (`assets/DejaVuSans.ttf`, Bitstream Vera licence, see
//! `assets/DejaVuSans.LICENSE`), so no system font library is needed.
//!
//! ```no_run
//! use anneal_evaluate::confusion_matrix;
//! use anneal_evaluate::plot::Figure;
//!
//! let cm = confusion_matrix(&[0, 1, 1, 2], &[0, 1, 2, 2], 3)?;
//! Figure::confusion(&cm, &["ant", "bee", "cat"])?.save("confusion.png")?;
//! # Ok::<(), anneal_evaluate::EvalError>(())
//! ```

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, FontTransform, register_font};

use crate::curve::{Axis, CurvePoint, LearningCurve};
use crate::cv::Summary;
use crate::diagnose::Diagnosis;
use crate::ranking::{PrCurve, RocCurve, average_precision, precision_recall_curve, roc_auc, roc_curve};
use crate::{ConfusionMatrix, EvalError, check};

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// matplotlib's `tab10`, the colours series take in order.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// matplotlib's `Blues` colour map at nine stops.
const BLUES: [(u8, u8, u8); 9] = [
    (247, 251, 255),
    (222, 235, 247),
    (198, 219, 239),
    (158, 202, 225),
    (107, 174, 214),
    (66, 146, 198),
    (33, 113, 181),
    (8, 81, 156),
    (8, 48, 107),
];

fn blues(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0) * (BLUES.len() - 1) as f64;
    let i = (t.floor() as usize).min(BLUES.len() - 2);
    let f = t - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (BLUES[i], BLUES[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

pub(crate) fn register() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        // The bundled file is a valid TrueType font; a failure would leave text
        // undrawn and surface as a drawing error, never a panic.
        let _ = register_font(FAMILY, FontStyle::Normal, FONT);
        let _ = register_font(FAMILY, FontStyle::Bold, FONT);
    });
}

/// One named curve of a ROC or precision-recall figure: points `(x, y)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// The points in drawing order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A ROC curve as `(fpr, tpr)` points, labelled `"{name} (AUC {auc:.3})"`.
    pub fn roc(name: &str, curve: &RocCurve, auc: f64) -> Self {
        Self {
            label: format!("{name} (AUC {auc:.3})"),
            points: curve.fpr.iter().copied().zip(curve.tpr.iter().copied()).collect(),
        }
    }

    /// A precision-recall curve as `(recall, precision)` steps (precision held
    /// until the next recall, as average precision integrates it), labelled
    /// `"{name} (AP {ap:.3})"`.
    pub fn pr(name: &str, curve: &PrCurve, ap: f64) -> Self {
        // scikit-learn's order (increasing threshold) runs from recall 1 down to 0;
        // each recall interval carries the precision of its higher-recall end, as
        // matplotlib's "steps-post" draws it in scikit-learn's display.
        let pts: Vec<(f64, f64)> = curve.recall.iter().copied().zip(curve.precision.iter().copied()).collect();
        let mut points = Vec::with_capacity(2 * pts.len());
        for (i, &(r, p)) in pts.iter().enumerate() {
            points.push((r, p));
            if let Some(&(next_r, _)) = pts.get(i + 1) {
                points.push((next_r, p));
            }
        }
        Self { label: format!("{name} (AP {ap:.3})"), points }
    }
}

/// What a figure shows.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    ImageGrid { tiles: Vec<ImageTile>, columns: usize },
    Confusion { counts: Vec<Vec<u64>>, names: Vec<String> },
    Roc(Vec<Series>),
    Pr { series: Vec<Series>, prevalence: Option<f64> },
    Learning { curve: LearningCurve, diagnosis: Option<Diagnosis> },
    Residuals { predicted: Vec<f64>, residuals: Vec<f64> },
    PredictedActual { actual: Vec<f64>, predicted: Vec<f64> },
    ResidualHistogram { residuals: Vec<f64> },
}

/// A figure ready to be written as PNG or SVG.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    kind: Kind,
    title: String,
    size: (u32, u32),
}

impl Figure {
    fn new(kind: Kind, title: &str) -> Self {
        Self { kind, title: title.to_string(), size: (900, 700) }
    }

    /// A heat map of `cm` (rows: true class, columns: predicted). Each cell is
    /// coloured by its share of the true class (row-normalised, so the diagonal
    /// reads as recall) and shows the count and that share. `names` gives one label
    /// per class.
    pub fn confusion<S: AsRef<str>>(cm: &ConfusionMatrix, names: &[S]) -> Result<Self, EvalError> {
        if names.len() != cm.n_classes() {
            return Err(EvalError::invalid(
                "names",
                format!("{} names for {} classes", names.len(), cm.n_classes()),
                "one name per class",
            ));
        }
        let names = names.iter().map(|n| n.as_ref().to_string()).collect();
        let k = cm.n_classes();
        let side = (160 + 70 * k as u32).clamp(700, 1400);
        let mut f = Self::new(Kind::Confusion { counts: cm.counts().to_vec(), names }, "Confusion matrix");
        f.size = (side + 150, side);
        Ok(f)
    }

    /// ROC curves, one per series, with the chance diagonal.
    pub fn roc(series: Vec<Series>) -> Self {
        Self::new(Kind::Roc(series), "ROC curve")
    }

    /// The ROC curve of a binary problem (`y_true` 0 / 1, higher score = class 1).
    pub fn roc_binary(y_true: &[usize], y_score: &[f64], name: &str) -> Result<Self, EvalError> {
        let curve = roc_curve(y_true, y_score, true)?;
        let auc = roc_auc(y_true, y_score)?;
        Ok(Self::roc(vec![Series::roc(name, &curve, auc)]))
    }

    /// One-vs-rest ROC curves, one per class that occurs in `y_true` (and not in
    /// every row), from row-major probabilities `y_proba` (`n × n_classes`).
    pub fn roc_one_vs_rest<S: AsRef<str>>(y_true: &[usize], y_proba: &[f64], names: &[S]) -> Result<Self, EvalError> {
        let series = one_vs_rest(y_true, y_proba, names, |t, s, name| {
            Ok(Series::roc(name, &roc_curve(t, s, true)?, roc_auc(t, s)?))
        })?;
        Ok(Self::roc(series).with_title("ROC curves (one vs rest)"))
    }

    /// Precision-recall curves, one per series; `prevalence` (the positive share)
    /// draws the no-skill line.
    pub fn pr(series: Vec<Series>, prevalence: Option<f64>) -> Self {
        Self::new(Kind::Pr { series, prevalence }, "Precision-recall curve")
    }

    /// The precision-recall curve of a binary problem.
    pub fn pr_binary(y_true: &[usize], y_score: &[f64], name: &str) -> Result<Self, EvalError> {
        let curve = precision_recall_curve(y_true, y_score, false)?;
        let ap = average_precision(y_true, y_score)?;
        let prevalence = y_true.iter().filter(|&&t| t == 1).count() as f64 / y_true.len() as f64;
        Ok(Self::pr(vec![Series::pr(name, &curve, ap)], Some(prevalence)))
    }

    /// One-vs-rest precision-recall curves, one per class present in `y_true`.
    pub fn pr_one_vs_rest<S: AsRef<str>>(y_true: &[usize], y_proba: &[f64], names: &[S]) -> Result<Self, EvalError> {
        let series = one_vs_rest(y_true, y_proba, names, |t, s, name| {
            Ok(Series::pr(name, &precision_recall_curve(t, s, false)?, average_precision(t, s)?))
        })?;
        Ok(Self::pr(series, None).with_title("Precision-recall curves (one vs rest)"))
    }

    /// A learning curve: training and validation means with ± one standard
    /// deviation bands; with a diagnosis, its verdict in the title and its numbers
    /// under the plot.
    pub fn learning_curve(curve: &LearningCurve, diagnosis: Option<&Diagnosis>) -> Result<Self, EvalError> {
        if curve.points.is_empty() {
            return Err(EvalError::Empty);
        }
        let title = match diagnosis {
            Some(d) => format!("Learning curve: {}", d.verdict),
            None => "Learning curve".to_string(),
        };
        Ok(Self::new(Kind::Learning { curve: curve.clone(), diagnosis: diagnosis.cloned() }, &title))
    }

    /// Residuals `y_true − y_pred` against the predictions, with the zero line.
    pub fn residuals(y_true: &[f64], y_pred: &[f64]) -> Result<Self, EvalError> {
        check::lengths(y_true.len(), y_pred.len())?;
        check::finite("y_true", y_true)?;
        check::finite("y_pred", y_pred)?;
        let residuals = y_true.iter().zip(y_pred).map(|(t, p)| t - p).collect();
        let title = format!("Residuals against predictions ({} samples)", y_true.len());
        Ok(Self::new(Kind::Residuals { predicted: y_pred.to_vec(), residuals }, &title))
    }

    /// Predicted against true values, one point per row, with the identity line
    /// `predicted = true` on which a perfect model's points lie.
    pub fn predicted_vs_actual(y_true: &[f64], y_pred: &[f64]) -> Result<Self, EvalError> {
        check::lengths(y_true.len(), y_pred.len())?;
        check::finite("y_true", y_true)?;
        check::finite("y_pred", y_pred)?;
        let title = format!("Predicted against true values ({} samples)", y_true.len());
        Ok(Self::new(Kind::PredictedActual { actual: y_true.to_vec(), predicted: y_pred.to_vec() }, &title))
    }

    /// A histogram of the residuals `y_true − y_pred` (Freedman–Diaconis bins,
    /// between 5 and 60), with the zero line.
    pub fn residual_histogram(y_true: &[f64], y_pred: &[f64]) -> Result<Self, EvalError> {
        check::lengths(y_true.len(), y_pred.len())?;
        check::finite("y_true", y_true)?;
        check::finite("y_pred", y_pred)?;
        let residuals = y_true.iter().zip(y_pred).map(|(t, p)| t - p).collect();
        let title = format!("Residuals (true − predicted, {} samples)", y_true.len());
        Ok(Self::new(Kind::ResidualHistogram { residuals }, &title))
    }

    /// A grid of images with a caption under each (misclassified test images
    /// with their true and predicted labels), `columns` to a row.
    ///
    /// ```
    /// use anneal_evaluate::plot::{Figure, ImageTile};
    ///
    /// let tile = ImageTile::new(vec![0.0, 1.0, 1.0, 0.0], [1, 2, 2], "true 3, predicted 5")?;
    /// let svg = Figure::image_grid(vec![tile], 6)?.to_svg()?;
    /// assert!(svg.contains("predicted 5"));
    /// # Ok::<(), anneal_evaluate::EvalError>(())
    /// ```
    pub fn image_grid(tiles: Vec<ImageTile>, columns: usize) -> Result<Self, EvalError> {
        if tiles.is_empty() {
            return Err(EvalError::Image("an image grid needs at least one image".into()));
        }
        let columns = columns.clamp(1, tiles.len());
        let rows = tiles.len().div_ceil(columns);
        let title = format!("{} image(s)", tiles.len());
        let (bw, bh) = grid_box(&tiles);
        let mut f = Self::new(Kind::ImageGrid { tiles, columns }, &title);
        f.size = ((columns as u32) * (bw + 20) + 20, (rows as u32) * (bh + 42) + 50);
        Ok(f)
    }

    /// Replaces the title.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Sets the size in pixels (at least 200 × 150).
    pub fn with_size(mut self, width: u32, height: u32) -> Self {
        self.size = (width.max(200), height.max(150));
        self
    }

    /// The title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// Writes the figure to `path`: PNG for `.png`, SVG for `.svg`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), EvalError> {
        register();
        let path = path.as_ref();
        let fail = |message: String| EvalError::Plot { path: path.to_path_buf(), message };
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("png") => {
                let root = BitMapBackend::new(path, self.size).into_drawing_area();
                self.draw(&root).map_err(fail)?;
                root.present().map_err(|e| fail(e.to_string()))
            }
            Some("svg") => {
                let root = SVGBackend::new(path, self.size).into_drawing_area();
                self.draw(&root).map_err(fail)?;
                root.present().map_err(|e| fail(e.to_string()))
            }
            _ => Err(fail("unknown image format: the file name must end in .png or .svg".into())),
        }
    }

    /// Writes `<dir>/<stem>.png` and `<dir>/<stem>.svg`; returns both paths.
    pub fn save_png_svg(&self, dir: impl AsRef<Path>, stem: &str) -> Result<[PathBuf; 2], EvalError> {
        let png = dir.as_ref().join(format!("{stem}.png"));
        let svg = dir.as_ref().join(format!("{stem}.svg"));
        self.save(&png)?;
        self.save(&svg)?;
        Ok([png, svg])
    }

    /// The figure as an SVG document.
    pub fn to_svg(&self) -> Result<String, EvalError> {
        register();
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, self.size).into_drawing_area();
            let fail = |message: String| EvalError::Plot { path: PathBuf::from("<svg string>"), message };
            self.draw(&root).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        Ok(out)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(s)?;
        match &self.kind {
            Kind::Confusion { counts, names } => draw_confusion(root, &self.title, counts, names),
            Kind::ImageGrid { tiles, columns } => draw_image_grid(root, &self.title, tiles, *columns),
            Kind::Roc(series) => draw_curves(
                root,
                &self.title,
                series,
                ("false positive rate", "true positive rate"),
                Some(((0.0, 0.0), (1.0, 1.0), "chance".to_string())),
                SeriesLabelPosition::LowerRight,
            ),
            Kind::Pr { series, prevalence } => draw_curves(
                root,
                &self.title,
                series,
                ("recall", "precision"),
                prevalence.map(|p| ((0.0, p), (1.0, p), format!("no skill ({p:.3})"))),
                SeriesLabelPosition::LowerLeft,
            ),
            Kind::Learning { curve, diagnosis } => draw_learning(root, &self.title, curve, diagnosis.as_ref()),
            Kind::Residuals { predicted, residuals } => draw_residuals(root, &self.title, predicted, residuals),
            Kind::PredictedActual { actual, predicted } => draw_predicted_actual(root, &self.title, actual, predicted),
            Kind::ResidualHistogram { residuals } => draw_histogram(root, &self.title, residuals),
        }
    }
}

/// One image of an image grid: pixel values in `[0, 1]`, channel-major, with a caption.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageTile {
    pixels: Vec<f32>,
    shape: [usize; 3],
    caption: String,
}

impl ImageTile {
    /// An image of `[channels, height, width]` (1 grey or 3 RGB channels) from
    /// channel-major `pixels` in `[0, 1]` (values outside are clipped).
    pub fn new(pixels: Vec<f32>, shape: [usize; 3], caption: impl Into<String>) -> Result<Self, EvalError> {
        let [c, h, w] = shape;
        if !(c == 1 || c == 3) || h == 0 || w == 0 || pixels.len() != c * h * w {
            return Err(EvalError::Image(format!(
                "{} pixel values for a {c}x{h}x{w} image (channels must be 1 or 3)",
                pixels.len()
            )));
        }
        Ok(Self { pixels, shape, caption: caption.into() })
    }

    fn color(&self, y: usize, x: usize) -> RGBColor {
        let [c, h, w] = self.shape;
        let at = |ch: usize| (self.pixels[ch * h * w + y * w + x].clamp(0.0, 1.0) * 255.0).round() as u8;
        if c == 1 {
            let v = at(0);
            RGBColor(v, v, v)
        } else {
            RGBColor(at(0), at(1), at(2))
        }
    }
}

/// Width and height of one image grid cell in pixels.
/// The box each image of a grid is drawn in: 130 × 130 pixels for square
/// images; wider for wide ones (spectrograms), up to 3 : 1.
fn grid_box(tiles: &[ImageTile]) -> (u32, u32) {
    let aspect = tiles.iter().map(|t| t.shape[2] as f64 / t.shape[1] as f64).fold(0.0, f64::max).clamp(1.0, 3.0);
    ((130.0 * aspect).round() as u32, 130)
}

fn draw_image_grid<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    tiles: &[ImageTile],
    columns: usize,
) -> Result<(), String> {
    root.draw(&Text::new(title.to_string(), (10, 10), font(18.0))).map_err(s)?;
    let (bw, bh) = grid_box(tiles);
    let (cw, ch) = (bw as i32 + 20, bh as i32 + 42);
    for (i, tile) in tiles.iter().enumerate() {
        let (col, row) = ((i % columns) as i32, (i / columns) as i32);
        let (x0, y0) = (10 + col * cw, 40 + row * ch);
        let [_, h, w] = tile.shape;
        // The largest scale that fits the tile's box, centred across.
        let side = (f64::from(bw) / w as f64).min(f64::from(bh) / h as f64);
        let (ox, oy) = (x0 + 10 + ((f64::from(bw) - side * w as f64) / 2.0) as i32, y0);
        for y in 0..h {
            for x in 0..w {
                let (a, b) = (
                    (ox + (x as f64 * side) as i32, oy + (y as f64 * side) as i32),
                    (ox + ((x + 1) as f64 * side) as i32, oy + ((y + 1) as f64 * side) as i32),
                );
                root.draw(&Rectangle::new([a, b], tile.color(y, x).filled())).map_err(s)?;
            }
        }
        let style = font(13.0).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(tile.caption.clone(), (x0 + 10 + bw as i32 / 2, y0 + bh as i32 + 6), style)).map_err(s)?;
    }
    Ok(())
}

fn s(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn font(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().into()
}

/// Curves for the classes present in `y_true` (and absent from some row), one-vs-rest.
fn one_vs_rest<S: AsRef<str>>(
    y_true: &[usize],
    y_proba: &[f64],
    names: &[S],
    mut make: impl FnMut(&[usize], &[f64], &str) -> Result<Series, EvalError>,
) -> Result<Vec<Series>, EvalError> {
    let k = names.len();
    check::lengths(y_true.len(), y_true.len().max(1))?;
    check::shape("y_proba", y_proba.len(), y_true.len(), k)?;
    check::labels("y_true", y_true, k)?;
    check::probabilities("y_proba", y_proba)?;
    let mut series = Vec::new();
    for (c, name) in names.iter().enumerate() {
        let t: Vec<usize> = y_true.iter().map(|&y| usize::from(y == c)).collect();
        let positives = t.iter().sum::<usize>();
        if positives == 0 || positives == t.len() {
            continue;
        }
        let score: Vec<f64> = y_proba.chunks_exact(k).map(|row| row[c]).collect();
        series.push(make(&t, &score, name.as_ref())?);
    }
    if series.is_empty() {
        return Err(EvalError::SingleClass { metric: "one-vs-rest curves", class: y_true[0] });
    }
    Ok(series)
}

fn draw_confusion<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    counts: &[Vec<u64>],
    names: &[String],
) -> Result<(), String> {
    let (w, h) = root.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let k = counts.len().max(1) as i32;
    let short = |n: &str| {
        if n.chars().count() > 14 { format!("{}…", n.chars().take(13).collect::<String>()) } else { n.to_string() }
    };
    // Layout: title on top, true-class labels left, predicted labels below, colour bar right.
    let (top, left, bottom, right) = (70, 170, 110, 150);
    let cell = ((w - left - right).min(h - top - bottom) / k).max(8);
    let (x0, y0) = (left, top);
    let grid = cell * k;
    root.draw(&Text::new(title.to_string(), (x0 + grid / 2, 30), font(26.0).pos(Pos::new(HPos::Center, VPos::Center))))
        .map_err(s)?;
    let value_size = (cell as f64 / 4.2).clamp(9.0, 22.0);
    let share_size = (value_size * 0.75).max(8.0);
    for (i, row) in counts.iter().enumerate() {
        let total: u64 = row.iter().sum();
        for (j, &c) in row.iter().enumerate() {
            let share = if total == 0 { 0.0 } else { c as f64 / total as f64 };
            let (cx, cy) = (x0 + j as i32 * cell, y0 + i as i32 * cell);
            root.draw(&Rectangle::new([(cx, cy), (cx + cell, cy + cell)], blues(share).filled())).map_err(s)?;
            root.draw(&Rectangle::new([(cx, cy), (cx + cell, cy + cell)], RGBColor(255, 255, 255).stroke_width(1)))
                .map_err(s)?;
            let ink = if share > 0.5 { WHITE } else { BLACK };
            let mid = (cx + cell / 2, cy + cell / 2);
            if cell >= 34 {
                root.draw(&Text::new(
                    c.to_string(),
                    (mid.0, mid.1 - (share_size * 0.7) as i32),
                    font(value_size).color(&ink).pos(Pos::new(HPos::Center, VPos::Center)),
                ))
                .map_err(s)?;
                root.draw(&Text::new(
                    format!("{:.1}%", 100.0 * share),
                    (mid.0, mid.1 + (value_size * 0.75) as i32),
                    font(share_size).color(&ink).pos(Pos::new(HPos::Center, VPos::Center)),
                ))
                .map_err(s)?;
            } else {
                root.draw(&Text::new(
                    c.to_string(),
                    mid,
                    font(value_size).color(&ink).pos(Pos::new(HPos::Center, VPos::Center)),
                ))
                .map_err(s)?;
            }
        }
    }
    let label_size = (cell as f64 / 3.5).clamp(11.0, 18.0);
    for (i, name) in names.iter().enumerate() {
        let c = i as i32 * cell + cell / 2;
        root.draw(&Text::new(
            short(name),
            (x0 - 10, y0 + c),
            font(label_size).pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(s)?;
        root.draw(&Text::new(
            short(name),
            (x0 + c, y0 + grid + 14),
            font(label_size).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(s)?;
    }
    root.draw(&Text::new(
        "predicted class",
        (x0 + grid / 2, y0 + grid + 62),
        font(20.0).pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .map_err(s)?;
    root.draw(&Text::new(
        "true class",
        (28, y0 + grid / 2),
        font(20.0).transform(FontTransform::Rotate270).pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .map_err(s)?;
    // Colour bar: share of the true class, 0 at the bottom.
    let (bx, bw) = (x0 + grid + 40, 24);
    let steps = 100;
    for t in 0..steps {
        let ya = y0 + grid - (grid * (t + 1)) / steps;
        let yb = y0 + grid - (grid * t) / steps;
        root.draw(&Rectangle::new([(bx, ya), (bx + bw, yb)], blues((t as f64 + 0.5) / steps as f64).filled()))
            .map_err(s)?;
    }
    root.draw(&Rectangle::new([(bx, y0), (bx + bw, y0 + grid)], BLACK.stroke_width(1))).map_err(s)?;
    for pct in [0, 25, 50, 75, 100] {
        let y = y0 + grid - grid * pct / 100;
        root.draw(&PathElement::new(vec![(bx + bw, y), (bx + bw + 5, y)], BLACK)).map_err(s)?;
        root.draw(&Text::new(format!("{pct}%"), (bx + bw + 8, y), font(16.0).pos(Pos::new(HPos::Left, VPos::Center))))
            .map_err(s)?;
    }
    root.draw(&Text::new(
        "share of true class",
        (bx + bw + 62, y0 + grid / 2),
        font(17.0).transform(FontTransform::Rotate90).pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .map_err(s)?;
    Ok(())
}

/// A dashed reference line from one point to another, with its legend text.
type Baseline = ((f64, f64), (f64, f64), String);

fn draw_curves<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[Series],
    (x_desc, y_desc): (&str, &str),
    baseline: Option<Baseline>,
    legend_at: SeriesLabelPosition,
) -> Result<(), String> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, font(26.0))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(75)
        .build_cartesian_2d(-0.01f64..1.01f64, -0.01f64..1.01f64)
        .map_err(s)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(11)
        .y_labels(11)
        .label_style(font(16.0))
        .axis_desc_style(font(19.0))
        .light_line_style(RGBColor(244, 244, 244))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()
        .map_err(s)?;
    if let Some((a, b, label)) = baseline {
        let grey = RGBColor(40, 40, 40);
        chart
            .draw_series(DashedLineSeries::new([a, b], 8, 6, grey.stroke_width(2)))
            .map_err(s)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], grey.stroke_width(2)));
    }
    for (i, series) in series.iter().enumerate() {
        let c = color(i);
        let points: Vec<(f64, f64)> =
            series.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        chart
            .draw_series(LineSeries::new(points, c.stroke_width(3)))
            .map_err(s)?
            .label(series.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(legend_at)
        .margin(12)
        .label_font(font(16.0))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(160, 160, 160))
        .draw()
        .map_err(s)?;
    Ok(())
}

/// A padded range holding every value (and `extra`).
fn range(values: impl Iterator<Item = f64>, extra: &[f64]) -> (f64, f64) {
    let (lo, hi) = values
        .chain(extra.iter().copied())
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.06 * (hi - lo) } else { 0.5 };
    (lo - pad, hi + pad)
}

/// A named side of a learning curve and how to read it from a point.
type CurvePart = (&'static str, fn(&CurvePoint) -> Summary);

fn draw_learning<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    curve: &LearningCurve,
    diagnosis: Option<&Diagnosis>,
) -> Result<(), String> {
    let (chart_area, note_area) = match diagnosis {
        Some(_) => {
            let (_, h) = root.dim_in_pixel();
            root.split_vertically(h as i32 - 100)
        }
        None => root.split_vertically(root.dim_in_pixel().1 as i32),
    };
    let p = &curve.points;
    let (y_lo, y_hi) = range(
        p.iter().flat_map(|q| {
            [
                q.train.mean - q.train.std,
                q.train.mean + q.train.std,
                q.valid.mean - q.valid.std,
                q.valid.mean + q.valid.std,
            ]
        }),
        &[],
    );
    // Scores such as accuracy stay within [0, 1] and losses above 0: bands do not
    // stretch the axis past them.
    let non_negative = p.iter().all(|q| q.train.mean >= 0.0 && q.valid.mean >= 0.0);
    let (y_lo, y_hi) = if curve.higher_is_better && y_lo > -0.1 && y_hi < 1.1 {
        (y_lo.max(0.0), y_hi.min(1.01))
    } else if !curve.higher_is_better && non_negative {
        (y_lo.max(-0.02 * y_hi), y_hi)
    } else {
        (y_lo, y_hi)
    };
    let (x_lo, x_hi) = range(p.iter().map(|q| q.x), &[0.0]);
    let x_lo = x_lo.max(0.0);
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(title, font(26.0))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
        .map_err(s)?;
    let x_desc = match curve.axis {
        Axis::Epochs => "epoch",
        Axis::TrainingRows => "training rows",
    };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(curve.metric.as_str())
        .label_style(font(16.0))
        .axis_desc_style(font(19.0))
        .light_line_style(RGBColor(244, 244, 244))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_label_formatter(&|v| if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") })
        .y_label_formatter(&|v| format!("{v:.2}"))
        .draw()
        .map_err(s)?;
    let many = p.len() > 40;
    let parts: [CurvePart; 2] = [("training", |q| q.train), ("validation", |q| q.valid)];
    // Bands first, so no band covers a line.
    for (i, (_, pick)) in parts.iter().enumerate() {
        if p.iter().any(|q| pick(q).std > 0.0) {
            let upper = p.iter().map(|q| (q.x, pick(q).mean + pick(q).std));
            let lower = p.iter().rev().map(|q| (q.x, pick(q).mean - pick(q).std));
            let band: Vec<(f64, f64)> = upper.chain(lower).collect();
            chart.draw_series(std::iter::once(Polygon::new(band, color(i).mix(0.18).filled()))).map_err(s)?;
        }
    }
    for (i, (name, pick)) in parts.iter().enumerate() {
        let c = color(i);
        let line: Vec<(f64, f64)> = p.iter().map(|q| (q.x, pick(q).mean)).collect();
        chart
            .draw_series(LineSeries::new(line.clone(), c.stroke_width(3)))
            .map_err(s)?
            .label(format!("{name} (mean ± 1 std)"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3)));
        if !many {
            chart.draw_series(line.into_iter().map(|pt| Circle::new(pt, 4, c.filled()))).map_err(s)?;
        }
    }
    chart
        .configure_series_labels()
        .position(if curve.higher_is_better {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        })
        .margin(12)
        .label_font(font(16.0))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(160, 160, 160))
        .draw()
        .map_err(s)?;
    if let Some(d) = diagnosis {
        let mut line1 =
            format!("validation error {:.3}, training error {:.3}, gap {:.3}", d.valid_error, d.train_error, d.gap);
        if let (Some(g), true) = (d.projected_gap, d.gap > d.config.max_gap) {
            line1 += &format!("; gap at 2× the data ≈ {g:.3}");
        }
        let line2 = format!(
            "thresholds: a gap above {} is large, a validation error above {} is high",
            d.config.max_gap, d.config.max_error
        );
        for (i, line) in [line1, line2, d.verdict.advice().to_string()].into_iter().enumerate() {
            note_area.draw(&Text::new(line, (30, 12 + 28 * i as i32), font(16.0))).map_err(s)?;
        }
    }
    Ok(())
}

/// Cartesian axes with a caption, grid and axis labels `(x, y)`: the frame of
/// the scatter and histogram figures.
fn axes<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    x: Range<f64>,
    y: Range<f64>,
    (x_desc, y_desc): (&str, &str),
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, font(26.0))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(x, y)
        .map_err(s)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(font(16.0))
        .axis_desc_style(font(19.0))
        .light_line_style(RGBColor(244, 244, 244))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(s)?;
    Ok(chart)
}

fn draw_residuals<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    predicted: &[f64],
    residuals: &[f64],
) -> Result<(), String> {
    let (x_lo, x_hi) = range(predicted.iter().copied(), &[]);
    let bound = residuals.iter().fold(0.0f64, |m, r| m.max(r.abs())).max(f64::MIN_POSITIVE) * 1.08;
    let mut chart = axes(root, title, x_lo..x_hi, -bound..bound, ("predicted value", "residual (true − predicted)"))?;
    let c = color(0);
    let radius = if predicted.len() > 2000 { 2 } else { 3 };
    chart
        .draw_series(predicted.iter().zip(residuals).map(|(&x, &y)| Circle::new((x, y), radius, c.mix(0.55).filled())))
        .map_err(s)?;
    chart.draw_series(LineSeries::new([(x_lo, 0.0), (x_hi, 0.0)], color(3).stroke_width(2))).map_err(s)?;
    Ok(())
}

fn draw_predicted_actual<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    actual: &[f64],
    predicted: &[f64],
) -> Result<(), String> {
    // One range for both axes, so the identity line is the diagonal.
    let (lo, hi) = range(actual.iter().chain(predicted).copied(), &[]);
    let mut chart = axes(root, title, lo..hi, lo..hi, ("true value", "predicted value"))?;
    let c = color(0);
    let radius = if actual.len() > 2000 { 2 } else { 3 };
    chart
        .draw_series(actual.iter().zip(predicted).map(|(&x, &y)| Circle::new((x, y), radius, c.mix(0.55).filled())))
        .map_err(s)?
        .label("rows")
        .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
    let identity = color(3);
    chart
        .draw_series(LineSeries::new([(lo, lo), (hi, hi)], identity.stroke_width(2)))
        .map_err(s)?
        .label("predicted = true")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], identity.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(font(17.0))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(160, 160, 160))
        .draw()
        .map_err(s)?;
    Ok(())
}

/// Freedman–Diaconis bin count for `values`, clamped to `5..=60`.
fn bins(values: &[f64]) -> usize {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    let (iqr, span) = (q(0.75) - q(0.25), v[v.len() - 1] - v[0]);
    if v.len() < 2 || iqr <= 0.0 || span <= 0.0 {
        return 5;
    }
    let width = 2.0 * iqr / (v.len() as f64).cbrt();
    ((span / width).ceil() as usize).clamp(5, 60)
}

fn draw_histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    values: &[f64],
) -> Result<(), String> {
    if values.is_empty() {
        return Err("no values to draw".into());
    }
    let n_bins = bins(values);
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, hi + 0.5) };
    let width = (hi - lo) / n_bins as f64;
    let mut counts = vec![0usize; n_bins];
    for &v in values {
        counts[(((v - lo) / width) as usize).min(n_bins - 1)] += 1;
    }
    let top = *counts.iter().max().unwrap_or(&1) as f64 * 1.08;
    let mut chart = axes(root, title, lo..hi, 0.0..top, ("residual (true − predicted)", "rows"))?;
    let c = color(0);
    chart
        .draw_series(counts.iter().enumerate().map(|(i, &n)| {
            // A sliver of space between bars, so neighbours of equal height read as two.
            let x0 = lo + i as f64 * width;
            Rectangle::new([(x0 + 0.03 * width, 0.0), (x0 + 0.97 * width, n as f64)], c.mix(0.7).filled())
        }))
        .map_err(s)?;
    if lo < 0.0 && hi > 0.0 {
        chart.draw_series(LineSeries::new([(0.0, 0.0), (0.0, top)], color(3).stroke_width(2))).map_err(s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_stay_in_range() {
        assert_eq!(bins(&[1.0, 1.0, 1.0]), 5);
        let many: Vec<f64> = (0..10_000).map(|i| (i as f64).sin()).collect();
        assert!((5..=60).contains(&bins(&many)));
    }

    #[test]
    fn blues_runs_light_to_dark() {
        assert_eq!(blues(0.0), RGBColor(247, 251, 255));
        assert_eq!(blues(1.0), RGBColor(8, 48, 107));
        assert_eq!(blues(0.5), RGBColor(107, 174, 214));
    }
}
