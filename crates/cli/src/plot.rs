//! PNG line charts for the command line: a title, two axis labels, linear or logarithmic axes, and
//! several named series with distinct colours and a legend. Rendering is pure Rust (plotters'
//! bitmap backend and `ab_glyph`) with a bundled DejaVu Sans font, so no system font library is
//! needed. Charts are drawn in memory and handed back as PNG bytes: where and how they are
//! written is the output module's business. It knows nothing of gradients or metrics, nor of
//! files: callers hand it numbers.

use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use image::ImageEncoder;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::FontStyle;

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`).
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Image size in pixels.
const SIZE: (u32, u32) = (1000, 640);

/// Series colours, in order (the Tableau 10 palette); a chart with more series cycles.
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One named line of a chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The legend's text.
    pub name: String,
    /// `(x, y)` points, joined in order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series called `name` through `points`.
    pub fn new(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points: points.into_iter().collect(),
        }
    }
}

/// A line chart: what [`line_chart`] draws.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    /// The caption above the plot.
    pub title: String,
    /// The horizontal axis's label.
    pub x_label: String,
    /// The vertical axis's label.
    pub y_label: String,
    /// A logarithmic horizontal axis (points with `x ≤ 0` are skipped).
    pub log_x: bool,
    /// A logarithmic vertical axis (points with `y ≤ 0` are skipped).
    pub log_y: bool,
    /// The lines, drawn in order with colours from a fixed palette.
    pub series: Vec<Series>,
    /// Where the legend goes (pick the corner the lines leave empty).
    pub legend: Corner,
}

/// A corner of the plot area.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Corner {
    /// Top right (the default).
    #[default]
    UpperRight,
    /// Bottom right.
    LowerRight,
    /// Bottom left.
    LowerLeft,
}

/// Draws `chart` and returns it as the bytes of a PNG file.
///
/// Points that are not finite, or not positive on a logarithmic axis, are skipped. Fails, with a
/// message naming the series, when the chart has no series or a series has no point left to
/// draw.
pub fn line_chart(chart: &Chart) -> Result<Vec<u8>> {
    let series = drawable(chart)?;
    register_font()?;
    let (width, height) = SIZE;
    let mut pixels = vec![0_u8; 3 * width as usize * height as usize];
    render(&mut pixels, chart, &series)?;
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&pixels, width, height, image::ColorType::Rgb8)
        .with_context(|| format!("cannot encode the chart '{}' as PNG", chart.title))?;
    Ok(png)
}

/// A series' name and the points of it that can be drawn.
type Drawable<'a> = (&'a str, Vec<(f64, f64)>);

/// The series with their drawable points, or an error naming an empty one.
fn drawable(chart: &Chart) -> Result<Vec<Drawable<'_>>> {
    if chart.series.is_empty() {
        bail!("chart '{}' has no series to draw", chart.title);
    }
    let keep = |v: f64, log: bool| v.is_finite() && (!log || v > 0.0);
    chart
        .series
        .iter()
        .map(|s| {
            let points: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|&(x, y)| keep(x, chart.log_x) && keep(y, chart.log_y))
                .collect();
            if points.is_empty() {
                let what = if chart.log_x || chart.log_y {
                    "finite point (positive on a logarithmic axis)"
                } else {
                    "finite point"
                };
                bail!(
                    "series '{}' of chart '{}' has no {what} to draw ({} points given)",
                    s.name,
                    chart.title,
                    s.points.len()
                );
            }
            Ok((s.name.as_str(), points))
        })
        .collect()
}

/// Registers the bundled font as plotters' `sans-serif`, once per process.
fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        bail!("the bundled chart font could not be loaded")
    }
}

/// `lo..hi` over the points' coordinate `axis`, padded so lines do not touch the frame and
/// widened when every value is the same.
fn range(series: &[Drawable<'_>], axis: fn(&(f64, f64)) -> f64, log: bool) -> (f64, f64) {
    let values = series.iter().flat_map(|(_, p)| p.iter().map(axis));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if log {
        let (lo, hi) = if lo == hi {
            (lo / 10.0, hi * 10.0)
        } else {
            (lo, hi)
        };
        let pad = (hi / lo).powf(0.03);
        (lo / pad, hi * pad)
    } else {
        let (lo, hi) = if lo == hi {
            let d = if lo == 0.0 { 1.0 } else { lo.abs() / 2.0 };
            (lo - d, hi + d)
        } else {
            (lo, hi)
        };
        let pad = 0.03 * (hi - lo);
        (lo - pad, hi + pad)
    }
}

/// Tick labels: powers of ten as `1e-8` on a logarithmic axis, short decimals otherwise.
fn tick(value: f64, log: bool) -> String {
    if value == 0.0 {
        "0".to_string()
    } else if log || !(1e-3..1e5).contains(&value.abs()) {
        let text = format!("{value:.0e}").replace("e0", "");
        if (value - text.parse::<f64>().unwrap_or(value)).abs() <= 1e-9 * value.abs() {
            text
        } else {
            format!("{value:.1e}")
        }
    } else {
        let text = format!("{value:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Renders into `pixels` (RGB), picking the coordinate types for the axes.
fn render(pixels: &mut [u8], chart: &Chart, series: &[Drawable<'_>]) -> Result<()> {
    let (x0, x1) = range(series, |p| p.0, chart.log_x);
    let (y0, y1) = range(series, |p| p.1, chart.log_y);
    match (chart.log_x, chart.log_y) {
        (false, false) => draw(pixels, chart, series, x0..x1, y0..y1),
        (true, false) => draw(pixels, chart, series, (x0..x1).log_scale(), y0..y1),
        (false, true) => draw(pixels, chart, series, x0..x1, (y0..y1).log_scale()),
        (true, true) => draw(
            pixels,
            chart,
            series,
            (x0..x1).log_scale(),
            (y0..y1).log_scale(),
        ),
    }
}

/// Draws the chart on coordinates `x` by `y`.
fn draw<X, Y>(pixels: &mut [u8], chart: &Chart, series: &[Drawable<'_>], x: X, y: Y) -> Result<()>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let root = BitMapBackend::with_buffer(pixels, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut plot = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 28))
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(x, y)?;
    let (log_x, log_y) = (chart.log_x, chart.log_y);
    plot.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .x_label_formatter(&|v| tick(*v, log_x))
        .y_label_formatter(&|v| tick(*v, log_y))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 20))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (k, (name, points)) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        plot.draw_series(LineSeries::new(
            points.iter().copied(),
            colour.stroke_width(2),
        ))?
        .label(*name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3)));
    }
    plot.configure_series_labels()
        .position(match chart.legend {
            Corner::UpperRight => SeriesLabelPosition::UpperRight,
            Corner::LowerRight => SeriesLabelPosition::LowerRight,
            Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
        })
        .label_font(("sans-serif", 18))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()
        .with_context(|| format!("cannot draw the chart '{}'", chart.title))?;
    Ok(())
}

/// The file names of [`training_plots`]' pictures, in order.
pub const TRAINING_PLOTS: [&str; 3] = ["loss.png", "pr_auc.png", "pr_curve.png"];

/// The pictures of a training run, as PNG bytes named by [`TRAINING_PLOTS`]: `loss.png` (train
/// and validation loss per epoch), `pr_auc.png` (validation PR-AUC per epoch) and `pr_curve.png`
/// (the test split's precision–recall curve).
pub fn training_plots(
    history: &[fraudnet::train::EpochSummary],
    test_curve: &[fraudnet::metrics::PrPoint],
) -> Result<Vec<Vec<u8>>> {
    let per_epoch = |f: fn(&fraudnet::train::EpochSummary) -> f64| -> Vec<(f64, f64)> {
        history.iter().map(|e| (e.epoch as f64, f(e))).collect()
    };
    let loss = line_chart(&Chart {
        title: "Logistic loss per epoch".into(),
        x_label: "epoch".into(),
        y_label: "loss".into(),
        log_x: false,
        log_y: false,
        series: vec![
            Series::new("train (batch mean)", per_epoch(|e| e.train_loss)),
            Series::new("validation", per_epoch(|e| e.validation_loss)),
        ],
        legend: Corner::UpperRight,
    })?;
    let pr_auc = line_chart(&Chart {
        title: "Validation PR-AUC per epoch".into(),
        x_label: "epoch".into(),
        y_label: "average precision".into(),
        log_x: false,
        log_y: false,
        series: vec![Series::new(
            "validation",
            per_epoch(|e| e.validation_pr_auc),
        )],
        legend: Corner::LowerRight,
    })?;
    let pr_curve = line_chart(&Chart {
        title: "Precision-recall curve (test split)".into(),
        x_label: "recall".into(),
        y_label: "precision".into(),
        log_x: false,
        log_y: false,
        series: vec![Series::new(
            "MLP",
            test_curve.iter().map(|p| (p.recall, p.precision)),
        )],
        legend: Corner::LowerLeft,
    })?;
    Ok(vec![loss, pr_auc, pr_curve])
}

/// The error-versus-step curve of a step sweep (log-log): truncation on the right, roundoff on
/// the left, the best step at the bottom of the V.
pub fn sweep_plot(sweep: &gradproof::sweep::Sweep) -> Result<Vec<u8>> {
    line_chart(&Chart {
        title: format!(
            "{} difference error vs step (best h = {:.1e})",
            sweep.method, sweep.best.h
        ),
        x_label: "step h".into(),
        y_label: "|numeric - analytic| (directional)".into(),
        log_x: true,
        log_y: true,
        series: vec![Series::new(
            "error",
            sweep.points.iter().map(|p| (p.h, p.abs_error)),
        )],
        legend: Corner::LowerLeft,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a PNG's width and height from its IHDR chunk, after checking the signature.
    fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        assert_eq!(&bytes[12..16], b"IHDR");
        let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
        (be(16), be(20))
    }

    /// Writes a chart into `$GRADPROOF_KEEP_CHARTS`, if set, to look at it.
    fn keep(name: &str, png: &[u8]) {
        if let Some(dir) = std::env::var_os("GRADPROOF_KEEP_CHARTS") {
            std::fs::write(std::path::Path::new(&dir).join(name), png).unwrap();
        }
    }

    #[test]
    fn two_series_on_linear_axes() {
        let xs: Vec<f64> = (0..=50).map(|i| f64::from(i) / 50.0).collect();
        let chart = Chart {
            title: "ROC curve".into(),
            x_label: "false-positive rate".into(),
            y_label: "true-positive rate".into(),
            series: vec![
                Series::new("model (AUC 0.87)", xs.iter().map(|&x| (x, x.powf(0.3)))),
                // The NaN point is skipped, not drawn.
                Series::new(
                    "chance",
                    [(0.0, 0.0), (0.5, f64::NAN), (1.0, 1.0)].into_iter(),
                ),
            ],
            legend: Corner::LowerRight,
            ..Chart::default()
        };
        let bytes = line_chart(&chart).unwrap();
        assert_eq!(png_size(&bytes), SIZE);
        assert!(bytes.len() > 10_000, "{} bytes", bytes.len());
        keep("roc.png", &bytes);
        // Drawing again gives the same bytes.
        assert_eq!(line_chart(&chart).unwrap(), bytes);
    }

    #[test]
    fn a_log_log_chart_of_a_step_sweep() {
        // The "V" of a central difference: truncation h²/6 against roundoff ε/h.
        let steps = gradproof::sweep::default_steps();
        let v = |h: f64| h * h / 6.0 + f64::EPSILON / h;
        let chart = Chart {
            title: "Central difference: error against step".into(),
            x_label: "step h".into(),
            y_label: "absolute error".into(),
            log_x: true,
            log_y: true,
            series: vec![
                Series::new("central", steps.iter().map(|&h| (h, v(h)))),
                Series::new(
                    "forward",
                    steps.iter().map(|&h| (h, h / 2.0 + f64::EPSILON / h)),
                ),
                // Zero errors cannot be drawn on a log axis and are skipped.
                Series::new(
                    "zero at one step",
                    [(1e-8, 0.0), (1e-4, 1e-9), (1e-1, 1e-3)],
                ),
            ],
            ..Chart::default()
        };
        let bytes = line_chart(&chart).unwrap();
        assert_eq!(png_size(&bytes), SIZE);
        assert!(bytes.len() > 10_000, "{} bytes", bytes.len());
        keep("sweep.png", &bytes);
    }

    #[test]
    fn empty_or_undrawable_series_are_errors_that_name_them() {
        let mut chart = Chart {
            title: "t".into(),
            ..Chart::default()
        };
        let err = line_chart(&chart).unwrap_err().to_string();
        assert!(err.contains("no series"), "{err}");
        chart.series = vec![
            Series::new("fine", [(1.0, 1.0), (2.0, 3.0)]),
            Series::new("empty", []),
        ];
        let err = line_chart(&chart).unwrap_err().to_string();
        assert!(
            err.contains("series 'empty'") && err.contains("0 points"),
            "{err}"
        );
        chart.series[1] = Series::new("negative", [(1.0, -1.0), (2.0, f64::INFINITY)]);
        chart.log_y = true;
        let err = line_chart(&chart).unwrap_err().to_string();
        assert!(
            err.contains("series 'negative'") && err.contains("positive"),
            "{err}"
        );
    }

    #[test]
    fn ticks_read_well() {
        assert_eq!(tick(1e-8, true), "1e-8");
        assert_eq!(tick(0.001, true), "1e-3");
        assert_eq!(tick(1.0, true), "1");
        assert_eq!(tick(100.0, true), "1e2");
        assert_eq!(tick(3e-5, true), "3e-5");
        assert_eq!(tick(0.25, false), "0.25");
        assert_eq!(tick(0.0, false), "0");
        assert_eq!(tick(2.0, false), "2");
        assert_eq!(tick(1.0e-9, false), "1e-9");
    }
}
