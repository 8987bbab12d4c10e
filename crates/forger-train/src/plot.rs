//! Line charts as PNG: training curves, GAN losses, ROC curves. Text is set
//! in an embedded DejaVu Sans, so plotting needs no system fonts.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::atomic::write_atomic;
use crate::{Result, TrainError};

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const PANEL_SIZE: (u32, u32) = (560, 420);
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
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

/// Draws `panels` side by side into a PNG at `path` (written atomically).
pub fn draw(path: &Path, panels: &[Panel]) -> Result<()> {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The font is compiled in; registering it cannot fail for valid bytes.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
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
    let img = image::RgbImage::from_raw(w, h, pixels).ok_or_else(|| fail("buffer size".into()))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| fail(e.to_string()))?;
    Ok(write_atomic(path, &png)?)
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
}
