//! Line charts as PNG: training curves, GAN losses, ROC curves
//! ([`roc`]), and the confusion-matrix picture ([`confusion_matrix`]).
//! Ticks print integers as integers ([`format_tick`]) and each legend sits
//! in the corner its lines leave emptiest. Text is set in an embedded
//! DejaVu Sans, so plotting needs no system fonts.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::atomic::write_atomic;
use crate::metrics::ConfusionMatrix;
use crate::scores::ClassRoc;
use crate::{Result, TrainError};

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const PANEL_SIZE: (u32, u32) = (560, 420);
/// Matplotlib's `tab10`: ten lines before a colour repeats (the
/// augmentation study draws two arms of up to five seeds in one panel).
const COLORS: [RGBColor; 10] = [
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

/// One named line of `(x, y)` points.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series from a name and points; non-finite points are dropped.
    pub fn new(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points: points
                .into_iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect(),
        }
    }
}

/// One chart: a title, axis labels and its lines.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Fixed y range, or `None` to fit the data.
    pub y_range: Option<(f64, f64)>,
}

impl Panel {
    /// A panel fitted to its data.
    pub fn new(title: &str, x_label: &str, y_label: &str, series: Vec<Series>) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series,
            y_range: None,
        }
    }
}

/// Makes the embedded font plotters' `sans-serif`.
fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The font is compiled in; registering it cannot fail for valid bytes.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Encodes an RGB buffer as PNG and writes it to `path` atomically.
fn write_png(path: &Path, (w, h): (u32, u32), pixels: Vec<u8>) -> Result<()> {
    let fail = |e: String| TrainError::file(path, format!("cannot write image: {e}"));
    let img = image::RgbImage::from_raw(w, h, pixels).ok_or_else(|| fail("buffer size".into()))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| fail(e.to_string()))?;
    Ok(write_atomic(path, &png)?)
}

/// Draws `panels` side by side into a PNG at `path` (written atomically).
pub fn draw(path: &Path, panels: &[Panel]) -> Result<()> {
    register_font();
    let (w, h) = (PANEL_SIZE.0 * panels.len().max(1) as u32, PANEL_SIZE.1);
    let mut pixels = vec![0u8; (w * h * 3) as usize];
    let fail = |e: String| TrainError::file(path, format!("cannot draw plot: {e}"));
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (panel, area) in panels.iter().zip(areas) {
            draw_panel(&area, panel).map_err(|e| fail(e.to_string()))?;
        }
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    write_png(path, (w, h), pixels)
}

/// One image of a [`captioned_grid`].
#[derive(Debug, Clone)]
pub struct Tile {
    /// Channel-first 8-bit pixels (1 or 3 channels).
    pub pixels: Vec<u8>,
    /// Text under the image.
    pub caption: String,
    /// Green caption when `Some(true)` (a right answer), red when
    /// `Some(false)`, black when not known.
    pub verdict: Option<bool>,
}

/// Draws `tiles` of `shape` in rows of `columns`, each image enlarged to
/// `size` pixels wide (nearest neighbour) with its caption below, into a
/// PNG at `path` (written atomically).
pub fn captioned_grid(
    path: &Path,
    tiles: &[Tile],
    [channels, height, width]: [usize; 3],
    columns: usize,
    size: u32,
) -> Result<()> {
    register_font();
    let fail = |e: String| TrainError::file(path, format!("cannot draw grid: {e}"));
    if tiles.is_empty() || !(channels == 1 || channels == 3) || width == 0 || height == 0 {
        return Err(fail(format!(
            "need at least one image of 1 or 3 channels, got {} of {channels}x{height}x{width}",
            tiles.len()
        )));
    }
    let columns = columns.clamp(1, tiles.len()) as u32;
    let rows = tiles.len().div_ceil(columns as usize) as u32;
    let (tile_w, tile_h) = (size, size * height as u32 / width as u32);
    let (gap, text) = (8u32, 24u32);
    let (cell_w, cell_h) = (tile_w + gap, tile_h + text + gap);
    let (w, h) = (columns * cell_w + gap, rows * cell_h + gap);
    let mut pixels = vec![255u8; (w * h * 3) as usize];
    for (k, tile) in tiles.iter().enumerate() {
        let (x0, y0) = (
            gap + (k as u32 % columns) * cell_w,
            gap + (k as u32 / columns) * cell_h,
        );
        for y in 0..tile_h {
            for x in 0..tile_w {
                let (sy, sx) = (
                    (y * height as u32 / tile_h) as usize,
                    (x * width as u32 / tile_w) as usize,
                );
                let at = ((y0 + y) * w + x0 + x) as usize * 3;
                for c in 0..3 {
                    let plane = if channels == 1 { 0 } else { c };
                    pixels[at + c] = tile.pixels[(plane * height + sy) * width + sx];
                }
            }
        }
    }
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        for (k, tile) in tiles.iter().enumerate() {
            let (x0, y0) = (
                gap + (k as u32 % columns) * cell_w,
                gap + (k as u32 / columns) * cell_h,
            );
            let color = match tile.verdict {
                Some(true) => RGBColor(0, 128, 0),
                Some(false) => RGBColor(200, 0, 0),
                None => BLACK,
            };
            let style = ("sans-serif", 14).into_font().color(&color);
            root.draw(&Text::new(
                tile.caption.clone(),
                (x0 as i32, (y0 + tile_h + 4) as i32),
                style,
            ))
            .map_err(|e| fail(e.to_string()))?;
        }
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    write_png(path, (w, h), pixels)
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn draw_panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    panel: &Panel,
) -> DrawResult {
    let all = panel.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if let Some(range) = panel.y_range {
        (y0, y1) = range;
    }
    let pad = |a: f64, b: f64| {
        if (b - a).abs() < 1e-12 {
            (a - 0.5, b + 0.5)
        } else {
            (a, b)
        }
    };
    let (x0, x1) = pad(x0, x1);
    let (y0, y1) = pad(y0, y1);
    let y_margin = if panel.y_range.is_some() {
        0.0
    } else {
        (y1 - y0) * 0.05
    };
    let (x_range, y_range) = ((x0, x1), (y0 - y_margin, y1 + y_margin));
    let labelled = panel.series.len() > 1 || panel.series.iter().any(|s| !s.name.is_empty());
    let (width, height) = area.dim_in_pixel();
    let legend = labelled.then(|| legend_place(panel, x_range, y_range, (width, height)));
    let (chart_area, legend_area) = match legend {
        Some(Legend::Outside { width: w }) => {
            let (chart, side) = area.split_horizontally(width.saturating_sub(w));
            (chart, Some(side))
        }
        _ => (area.clone(), None),
    };
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(&panel.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, (y0 - y_margin)..(y1 + y_margin))?;
    chart
        .configure_mesh()
        .x_desc(&panel.x_label)
        .y_desc(&panel.y_label)
        .label_style(("sans-serif", 13))
        .x_label_formatter(&|v| format_tick(*v))
        .y_label_formatter(&|v| format_tick(*v))
        .draw()?;
    for (i, s) in panel.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(&s.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    match (legend, legend_area) {
        (Some(Legend::Corner(corner)), _) => {
            let position = match corner {
                Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
                Corner::UpperRight => SeriesLabelPosition::UpperRight,
                Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
                Corner::LowerRight => SeriesLabelPosition::LowerRight,
            };
            chart
                .configure_series_labels()
                .position(position)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()?;
        }
        (Some(Legend::Outside { .. }), Some(side)) => {
            for (i, s) in panel.series.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                let y = 48 + i as i32 * LEGEND_ROW as i32;
                side.draw(&PathElement::new(
                    vec![(4, y), (22, y)],
                    color.stroke_width(2),
                ))?;
                let font = ("sans-serif", 13).into_font().color(&BLACK);
                side.draw(&Text::new(s.name.clone(), (28, y - 7), font))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Height of one legend entry, in pixels.
const LEGEND_ROW: u32 = 18;

/// Where a panel's legend goes: in a corner its lines leave empty, or,
/// when every corner would cover a line, in a strip of `width` pixels
/// right of the plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Legend {
    Corner(Corner),
    Outside { width: u32 },
}

/// Places the legend of `panel`, drawn in an area of `size` pixels over
/// the given data ranges: its box is sized from the entries (rows of
/// [`LEGEND_ROW`], about 7 pixels a character).
fn legend_place(
    panel: &Panel,
    x_range: (f64, f64),
    y_range: (f64, f64),
    (width, height): (u32, u32),
) -> Legend {
    let longest = panel
        .series
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0);
    let (box_w, box_h) = (
        longest as u32 * 7 + 44,
        panel.series.len() as u32 * LEGEND_ROW + 16,
    );
    // The plot inside the area: less the caption, tick labels and margins.
    let (plot_w, plot_h) = (
        width.saturating_sub(80).max(1),
        height.saturating_sub(100).max(1),
    );
    let fraction = (
        f64::from(box_w) / f64::from(plot_w),
        f64::from(box_h) / f64::from(plot_h),
    );
    match emptiest_corner(panel, x_range, y_range, fraction) {
        (corner, 0) => Legend::Corner(corner),
        _ => Legend::Outside {
            width: box_w.min(width / 2),
        },
    }
}

/// A tick label: integers without a decimal point ("20", not "20.0"),
/// other values with at most four decimals and no trailing zeros.
pub fn format_tick(v: f64) -> String {
    if v.is_finite() && (v - v.round()).abs() < 1e-9 * v.abs().max(1.0) {
        // `+ 0.0` turns a negative zero into zero.
        return format!("{:.0}", v.round() + 0.0);
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "-0" => "0".to_string(),
        s => s.to_string(),
    }
}

/// A corner of a chart, for its legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Corner {
    UpperLeft,
    UpperRight,
    LowerLeft,
    LowerRight,
}

/// The corner whose box (`(width, height)` as fractions of the plot) the
/// panel's lines cross least, sampled along each segment, and how many
/// samples fall in it; the upper right on ties.
fn emptiest_corner(
    panel: &Panel,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    (box_w, box_h): (f64, f64),
) -> (Corner, usize) {
    const SAMPLES: usize = 64;
    let corners = [
        Corner::UpperRight,
        Corner::UpperLeft,
        Corner::LowerRight,
        Corner::LowerLeft,
    ];
    let mut hits = [0usize; 4];
    let (w, h) = (
        (x1 - x0).max(f64::MIN_POSITIVE),
        (y1 - y0).max(f64::MIN_POSITIVE),
    );
    for s in &panel.series {
        let lone = (s.points.len() == 1).then(|| (s.points[0], s.points[0]));
        let segments = s.points.windows(2).map(|w| (w[0], w[1])).chain(lone);
        for (a, b) in segments {
            for k in 0..=SAMPLES {
                let t = k as f64 / SAMPLES as f64;
                let (u, v) = (
                    (a.0 + t * (b.0 - a.0) - x0) / w,
                    (a.1 + t * (b.1 - a.1) - y0) / h,
                );
                let (left, right) = (u <= box_w, u >= 1.0 - box_w);
                let (low, high) = (v <= box_h, v >= 1.0 - box_h);
                for (i, hit) in [high && right, high && left, low && right, low && left]
                    .into_iter()
                    .enumerate()
                {
                    hits[i] += usize::from(hit);
                }
            }
        }
    }
    let best = (0..4).min_by_key(|&i| hits[i]).unwrap_or(0);
    (corners[best], hits[best])
}

/// Draws ROC curves (one per class, each labelled with its AUC and 95%
/// DeLong interval) and the chance diagonal into a PNG at `path`.
pub fn roc(path: &Path, title: &str, rocs: &[ClassRoc]) -> Result<()> {
    let mut series: Vec<Series> = rocs
        .iter()
        .map(|r| {
            Series::new(
                format!(
                    "{} (AUC {:.3}, {:.3}-{:.3})",
                    r.class, r.auc.auc, r.auc.low, r.auc.high
                ),
                r.curve
                    .iter()
                    .map(|p| (p.false_positive_rate, p.true_positive_rate)),
            )
        })
        .collect();
    series.push(Series::new("chance", [(0.0, 0.0), (1.0, 1.0)]));
    let mut panel = Panel::new(title, "false positive rate", "true positive rate", series);
    panel.y_range = Some((0.0, 1.0));
    draw(path, &[panel])
}

/// Draws a confusion matrix as a grid of counts (rows: true class,
/// columns: predicted), each cell shaded by its share of its row, with the
/// class names along both axes, into a PNG at `path`.
pub fn confusion_matrix(
    path: &Path,
    confusion: &ConfusionMatrix,
    classes: &[String],
) -> Result<()> {
    register_font();
    let fail = |e: String| TrainError::file(path, format!("cannot draw confusion matrix: {e}"));
    let k = confusion.matrix.len();
    if k == 0 || classes.len() != k || confusion.matrix.iter().any(|r| r.len() != k) {
        return Err(fail(format!(
            "{} class names for a {k}x{k} matrix",
            classes.len()
        )));
    }
    let longest = classes.iter().map(|c| c.chars().count()).max().unwrap_or(1) as u32;
    let cell = 56u32;
    let label = (longest * 8 + 16).clamp(40, 200);
    let (left, top) = (label + 28, 40u32);
    let (w, h) = (
        left + k as u32 * cell + 16,
        top + k as u32 * cell + label + 28,
    );
    let mut pixels = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        let draw = |r: &DrawingArea<BitMapBackend, _>| -> DrawResult {
            let text = |size: u32, color: RGBColor| {
                ("sans-serif", size)
                    .into_font()
                    .color(&color)
                    .into_text_style(r)
            };
            r.draw(&Text::new(
                "Confusion matrix",
                (left as i32, 10),
                text(18, BLACK),
            ))?;
            for (t, row) in confusion.matrix.iter().enumerate() {
                let total: u64 = row.iter().sum();
                for (p, &count) in row.iter().enumerate() {
                    let share = if total == 0 {
                        0.0
                    } else {
                        count as f64 / total as f64
                    };
                    let shade = |c: u8| (255.0 - share * (255.0 - f64::from(c))) as u8;
                    let fill = RGBColor(shade(31), shade(119), shade(180));
                    let (x, y) = (
                        (left + p as u32 * cell) as i32,
                        (top + t as u32 * cell) as i32,
                    );
                    r.draw(&Rectangle::new(
                        [(x, y), (x + cell as i32, y + cell as i32)],
                        fill.filled(),
                    ))?;
                    r.draw(&Rectangle::new(
                        [(x, y), (x + cell as i32, y + cell as i32)],
                        BLACK.mix(0.3),
                    ))?;
                    let ink = if share > 0.5 { WHITE } else { BLACK };
                    let s = count.to_string();
                    let tx = x + cell as i32 / 2 - 4 * s.len() as i32;
                    r.draw(&Text::new(s, (tx, y + cell as i32 / 2 - 8), text(15, ink)))?;
                }
                let y = (top + t as u32 * cell + cell / 2 - 7) as i32;
                r.draw(&Text::new(classes[t].clone(), (28, y), text(13, BLACK)))?;
            }
            let below = (top + k as u32 * cell) as i32;
            for (p, name) in classes.iter().enumerate() {
                let x = (left + p as u32 * cell + cell / 2 - 7) as i32;
                let style = ("sans-serif", 13)
                    .into_font()
                    .transform(FontTransform::Rotate90)
                    .color(&BLACK);
                r.draw(&Text::new(name.clone(), (x + 14, below + 6), style))?;
            }
            let axis = text(14, BLACK);
            r.draw(&Text::new(
                "predicted class",
                (left as i32, h as i32 - 22),
                axis.clone(),
            ))?;
            let rotated = ("sans-serif", 14)
                .into_font()
                .transform(FontTransform::Rotate270)
                .color(&BLACK);
            r.draw(&Text::new(
                "true class",
                (6, (top + k as u32 * cell / 2 + 30) as i32),
                rotated,
            ))?;
            r.present()?;
            Ok(())
        };
        draw(&root).map_err(|e| fail(e.to_string()))?;
    }
    write_png(path, (w, h), pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_print_integers_without_decimals() {
        assert_eq!(format_tick(20.0), "20");
        assert_eq!(format_tick(0.0), "0");
        assert_eq!(format_tick(-0.0), "0");
        assert_eq!(format_tick(-3.0), "-3");
        assert_eq!(format_tick(10_000.0), "10000");
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(0.1 + 0.2), "0.3");
        assert_eq!(format_tick(2.5), "2.5");
        assert_eq!(format_tick(-0.00001), "0");
    }

    #[test]
    fn legends_go_to_the_corner_the_lines_leave_empty() {
        // A loss falling from the upper left: the upper right is free.
        let falling = Panel::new(
            "loss",
            "epoch",
            "loss",
            vec![Series::new("train", [(0.0, 1.0), (0.2, 0.2), (1.0, 0.0)])],
        );
        let unit = ((0.0, 1.0), (0.0, 1.0));
        let small = (0.4, 0.35);
        assert_eq!(
            emptiest_corner(&falling, unit.0, unit.1, small),
            (Corner::UpperRight, 0)
        );
        // An accuracy rising to the top: the lower right is free.
        let rising = Panel::new(
            "accuracy",
            "epoch",
            "accuracy",
            vec![Series::new("train", [(0.0, 0.0), (0.1, 0.9), (1.0, 1.0)])],
        );
        assert_eq!(
            emptiest_corner(&rising, unit.0, unit.1, small),
            (Corner::LowerRight, 0)
        );
        // Eleven ROC entries: no corner is free of the diagonal, so the
        // legend goes outside the plot.
        let mut series: Vec<Series> = (0..10)
            .map(|i| {
                let curve = [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)];
                Series::new(format!("class {i} (AUC 0.999)"), curve)
            })
            .collect();
        series.push(Series::new("chance", [(0.0, 0.0), (1.0, 1.0)]));
        let roc = Panel::new("ROC", "fpr", "tpr", series);
        let place = legend_place(&roc, unit.0, unit.1, PANEL_SIZE);
        assert!(matches!(place, Legend::Outside { .. }), "{place:?}");
        assert_eq!(
            legend_place(&rising, unit.0, unit.1, PANEL_SIZE),
            Legend::Corner(Corner::LowerRight)
        );
    }

    #[test]
    fn confusion_matrix_draws_cells_shaded_by_row_share() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        let m = ConfusionMatrix {
            matrix: vec![vec![9, 1], vec![0, 10]],
        };
        let names = vec!["normal".to_string(), "pneumonia".to_string()];
        confusion_matrix(&path, &m, &names).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        let blue = img.pixels().filter(|p| p.0[2] > p.0[0] + 60).count();
        assert!(blue > 2000, "{blue} shaded pixels");
        assert!(confusion_matrix(&path, &m, &names[..1]).is_err());
    }

    #[test]
    fn writes_a_png_with_ink_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.png");
        let panels = [
            Panel::new(
                "loss",
                "step",
                "loss",
                vec![Series::new("train", [(0.0, 2.0), (1.0, 1.0)])],
            ),
            Panel::new("empty", "x", "y", vec![]),
        ];
        draw(&path, &panels).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (2 * PANEL_SIZE.0, PANEL_SIZE.1));
        let non_white = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
        assert!(non_white > 1000, "{non_white} non-white pixels");
    }

    #[test]
    fn captioned_grid_places_images_and_colours_captions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        let tile = |v: u8, verdict| Tile {
            pixels: vec![v; 3 * 4 * 4],
            caption: "cat 0.91".into(),
            verdict,
        };
        let tiles = [tile(0, Some(true)), tile(100, Some(false)), tile(200, None)];
        captioned_grid(&path, &tiles, [3, 4, 4], 2, 32).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        // 2 columns and 2 rows of 32 px images, 24 px captions, 8 px gaps.
        assert_eq!(img.dimensions(), (2 * 40 + 8, 2 * 64 + 8));
        assert_eq!(img.get_pixel(8 + 16, 8 + 16).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(48 + 16, 8 + 16).0, [100, 100, 100]);
        assert_eq!(img.get_pixel(8 + 16, 72 + 16).0, [200, 200, 200]);
        let caption = |x0: u32, y0: u32| {
            (x0..x0 + 32)
                .flat_map(|x| (y0..y0 + 20).map(move |y| (x, y)))
                .map(|(x, y)| img.get_pixel(x, y).0.map(i32::from))
                .filter(|p| *p != [255, 255, 255])
                .collect::<Vec<_>>()
        };
        assert!(
            caption(8, 44).iter().any(|p| p[1] > p[0] + 60),
            "a green caption"
        );
        assert!(
            caption(48, 44).iter().any(|p| p[0] > p[1] + 60),
            "a red caption"
        );
        assert!(captioned_grid(&path, &[], [3, 4, 4], 2, 32).is_err());
    }
}
