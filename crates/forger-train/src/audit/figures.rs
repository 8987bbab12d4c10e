//! The audit's figures: the closeness distributions of synthetic and
//! held-out images to the training set, and the closest pairs side by side.

use std::path::Path;

use forger_data::Dataset;

use super::{Audit, Closeness};
use crate::plot::{self, captioned_grid, Panel, Series, Tile};
use crate::Result;

/// Bins of the histograms.
const BINS: usize = 40;

/// Writes `distances` (one panel per measure: the share of synthetic and
/// of held-out images at each closeness, the threshold marked) and
/// `gallery` (the `pairs` synthetic images closest to a training image by
/// pixel correlation, each beside that training image, with its score).
pub fn write_figures(
    audit: &Audit,
    synthetic: &Dataset,
    train: &Dataset,
    distances: &Path,
    gallery: &Path,
    pairs: usize,
) -> Result<()> {
    let panels: Vec<Panel> = std::iter::once(&audit.pixels)
        .chain(&audit.features)
        .map(histogram)
        .collect();
    plot::draw(distances, &panels)?;
    let mut order: Vec<usize> = (0..audit.pixels.synthetic.len()).collect();
    order.sort_by(|&a, &b| {
        audit.pixels.synthetic[b]
            .score
            .total_cmp(&audit.pixels.synthetic[a].score)
    });
    let flags = audit.flags();
    let mut tiles = Vec::new();
    for &i in order.iter().take(pairs) {
        let nearest = audit.pixels.synthetic[i];
        tiles.push(Tile {
            pixels: synthetic.image(i).to_vec(),
            caption: format!("r {:.3}", nearest.score),
            verdict: flags[i].then_some(false),
        });
        tiles.push(Tile {
            pixels: train.image(nearest.index).to_vec(),
            caption: format!("train {}", nearest.index),
            verdict: None,
        });
    }
    captioned_grid(gallery, &tiles, synthetic.image_shape(), 8, 96)
}

/// The two distributions of one measure as step lines of shares per bin,
/// with the threshold as a vertical line.
fn histogram(c: &Closeness) -> Panel {
    let scores = |n: &[super::Nearest]| n.iter().map(|n| n.score).collect::<Vec<f64>>();
    let (s, h) = (scores(&c.synthetic), scores(&c.held_out));
    let (lo, hi) = s
        .iter()
        .chain(&h)
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let width = ((hi - lo) / BINS as f64).max(f64::MIN_POSITIVE);
    let steps = |values: &[f64]| -> Vec<(f64, f64)> {
        let mut counts = vec![0usize; BINS];
        for &v in values {
            counts[(((v - lo) / width) as usize).min(BINS - 1)] += 1;
        }
        let total = values.len().max(1) as f64;
        counts
            .iter()
            .enumerate()
            .flat_map(|(b, &k)| {
                let x = lo + b as f64 * width;
                [(x, k as f64 / total), (x + width, k as f64 / total)]
            })
            .collect()
    };
    let top = steps(&s)
        .iter()
        .chain(&steps(&h))
        .map(|p| p.1)
        .fold(0.0, f64::max);
    let what = if c.kind == "correlation" {
        "pixel correlation with the nearest training image"
    } else {
        "feature distance to the nearest training image"
    };
    let mut panel = Panel::new(
        what,
        &c.kind,
        "share of images",
        vec![
            Series::new(format!("synthetic ({})", s.len()), steps(&s)),
            Series::new(format!("held-out real ({})", h.len()), steps(&h)),
            Series::new(
                "near-copy threshold",
                [(c.threshold, 0.0), (c.threshold, top)],
            ),
        ],
    );
    panel.y_range = Some((0.0, top * 1.05));
    panel
}
