//! Line charts as PNG and SVG (plotters, pure Rust): training curves, the LR
//! range test and gradient-norm profiles — several panels side by side. The
//! figures of [`plot`](crate::plot) and these charts are the workspace's one plot
//! module, with its one bundled font (DejaVu Sans, `assets/`).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::EvalError;

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// `(x, y)` points, in order; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// Line colour as RGB.
    pub color: (u8, u8, u8),
    /// Draw a marker on every point.
    pub markers: bool,
    /// Join the points with a line (false: markers only, for points that are
    /// not a sequence, such as independent trials).
    pub joined: bool,
}

impl Series {
    /// A line without markers.
    pub fn line(label: impl Into<String>, points: Vec<(f64, f64)>, color: (u8, u8, u8)) -> Self {
        Self { label: label.into(), points, color, markers: false, joined: true }
    }

    /// Markers only, not joined.
    pub fn points(label: impl Into<String>, points: Vec<(f64, f64)>, color: (u8, u8, u8)) -> Self {
        Self { label: label.into(), points, color, markers: true, joined: false }
    }
}

/// Colours that stay apart for colour-blind readers (Okabe & Ito 2008).
pub const PALETTE: [(u8, u8, u8); 6] =
    [(0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (230, 159, 0), (86, 180, 233)];

/// A chart: axes, lines and an optional vertical marker.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chart {
    /// Title above the chart.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Logarithmic x axis (non-positive x are skipped).
    pub log_x: bool,
    /// Logarithmic y axis (non-positive y are skipped).
    pub log_y: bool,
    /// The lines.
    pub series: Vec<Series>,
    /// A vertical line at `x` with a label.
    pub marker: Option<(f64, String)>,
    /// A fixed y range instead of one fitted to the points (points outside are clipped).
    pub y_range: Option<(f64, f64)>,
    /// Put the legend in the lower right corner instead of the upper right
    /// (for curves that rise, such as accuracy).
    pub legend_bottom: bool,
}

/// Draws `charts` side by side and writes `<stem>.png` and `<stem>.svg`;
/// returns both paths.
pub fn save_charts(charts: &[Chart], stem: &Path) -> Result<[PathBuf; 2], EvalError> {
    crate::plot::register();
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let size = (640 * charts.len().max(1) as u32, 440);
    let fail =
        |path: &Path, e: &dyn std::fmt::Display| EvalError::Plot { path: path.to_path_buf(), message: e.to_string() };
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw(&root, charts).map_err(|e| fail(&png, &e))?;
        root.present().map_err(|e| fail(&png, &e))?;
    }
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw(&root, charts).map_err(|e| fail(&svg, &e))?;
        root.present().map_err(|e| fail(&svg, &e))?;
    }
    Ok([png, svg])
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, charts: &[Chart]) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, charts.len().max(1)));
    for (area, chart) in panels.iter().zip(charts) {
        draw_one(area, chart)?;
    }
    Ok(())
}

/// The range of `values` padded a little, on a log or linear scale.
fn range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return if log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        let (a, b) = (lo.log10(), hi.log10());
        let pad = ((b - a) * 0.05).max(0.05);
        (10f64.powf(a - pad), 10f64.powf(b + pad))
    } else {
        let pad = ((hi - lo) * 0.05).max(hi.abs().max(1e-12) * 0.01);
        (lo - pad, hi + pad)
    }
}

/// An axis label: plain decimals from 0.001 to 10 000 (trailing zeros dropped),
/// `1e-5`-style below and above.
fn tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if (1e-3..1e4).contains(&a) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.1e}").replace(".0e", "e")
    }
}

fn draw_one<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart) -> DrawResult<DB> {
    let keep = |(x, y): &(f64, f64)| {
        x.is_finite() && y.is_finite() && (!chart.log_x || *x > 0.0) && (!chart.log_y || *y > 0.0)
    };
    let points = || chart.series.iter().flat_map(|s| s.points.iter().copied().filter(keep));
    let (x0, x1) = range(points().map(|p| p.0), chart.log_x);
    let (y0, y1) = chart.y_range.unwrap_or_else(|| range(points().map(|p| p.1), chart.log_y));
    let mut builder = ChartBuilder::on(area);
    builder.caption(&chart.title, ("sans-serif", 22)).margin(12).x_label_area_size(44).y_label_area_size(70);
    // Four axis kinds, one body: a macro keeps the drawing code in one place.
    macro_rules! body {
        ($ctx:expr) => {{
            let mut ctx = $ctx;
            ctx.configure_mesh()
                .x_label_formatter(&|v| tick(*v))
                .y_label_formatter(&|v| tick(*v))
                .x_desc(chart.x_label.as_str())
                .y_desc(chart.y_label.as_str())
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 16))
                .light_line_style(RGBColor(235, 235, 235))
                .draw()?;
            for s in &chart.series {
                let color = RGBColor(s.color.0, s.color.1, s.color.2);
                let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(keep).collect();
                if s.joined {
                    ctx.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
                        .label(s.label.as_str())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
                } else {
                    ctx.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?
                        .label(s.label.as_str())
                        .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
                    continue;
                }
                if s.markers {
                    ctx.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
                }
            }
            if let Some((x, label)) = &chart.marker {
                let grey = RGBColor(90, 90, 90);
                ctx.draw_series(LineSeries::new(vec![(*x, y0), (*x, y1)], grey.stroke_width(1)))?
                    .label(label.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(1)));
            }
            ctx.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .label_font(("sans-serif", 14))
                .position(if chart.legend_bottom {
                    SeriesLabelPosition::LowerRight
                } else {
                    SeriesLabelPosition::UpperRight
                })
                .draw()?;
        }};
    }
    match (chart.log_x, chart.log_y) {
        (false, false) => body!(builder.build_cartesian_2d(x0..x1, y0..y1)?),
        (true, false) => body!(builder.build_cartesian_2d((x0..x1).log_scale(), y0..y1)?),
        (false, true) => body!(builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale())?),
        (true, true) => body!(builder.build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short() {
        let t: Vec<String> = [0.0, 1.0, 2.5, 0.001, 0.1234, 1e-5, 9.999999e-6, 20000.0, -0.5].map(tick).into();
        assert_eq!(t, ["0", "1", "2.5", "0.001", "0.123", "1e-5", "1e-5", "2e4", "-0.5"]);
    }

    #[test]
    fn writes_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let chart = Chart {
            title: "loss".into(),
            x_label: "epoch".into(),
            y_label: "cross-entropy".into(),
            series: vec![Series::line("train", vec![(1.0, 1.0), (2.0, 0.5), (3.0, f64::NAN)], PALETTE[0])],
            marker: Some((2.0, "best".into())),
            ..Default::default()
        };
        let log = Chart { log_x: true, log_y: true, ..chart.clone() };
        let [png, svg] = save_charts(&[chart, log], &dir.path().join("c")).unwrap();
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
        let svg = std::fs::read_to_string(svg).unwrap();
        assert!(svg.contains("<svg") && svg.contains("cross-entropy"));
    }
}
