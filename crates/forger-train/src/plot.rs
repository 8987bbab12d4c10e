//! Line charts as PNG: training curves, GAN losses, ROC curves. Text is set
//! in an embedded DejaVu Sans, so plotting needs no system fonts.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::atomic::write_atomic;
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
    let mut chart = ChartBuilder::on(area)
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
    if panel.series.len() > 1 || panel.series.iter().any(|s| !s.name.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
