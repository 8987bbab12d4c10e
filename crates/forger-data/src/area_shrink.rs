//! Area averaging for 8-bit images that shrink in both directions
//! (OpenCV's `INTER_AREA`): each output pixel is the mean of the source
//! area it covers, the source pixels cut by its edges weighted by the
//! fraction that lies inside. The weights are exact for any ratio, so an
//! image shrunk in two steps (libjpeg's reduced-scale decoding, then this)
//! lands on the same grid as one shrunk in one step.

/// One output position along an axis: its first source position and the
/// weight of each source position from there (summing to 1).
struct Taps {
    start: usize,
    weights: Vec<f32>,
}

/// The taps of `out` output positions over `len` source positions; `None`
/// unless `0 < out <= len`.
fn taps(len: u32, out: u32) -> Option<Vec<Taps>> {
    if out == 0 || out > len {
        return None;
    }
    let ratio = f64::from(len) / f64::from(out);
    let taps = (0..out)
        .map(|o| {
            let lo = f64::from(o) * ratio;
            let hi = if o + 1 == out {
                f64::from(len)
            } else {
                lo + ratio
            };
            let start = lo.floor() as usize;
            let end = (hi.ceil() as usize).min(len as usize);
            let weights = (start..end)
                .map(|i| {
                    let inside = hi.min(i as f64 + 1.0) - lo.max(i as f64);
                    (inside / ratio) as f32
                })
                .collect();
            Taps { start, weights }
        })
        .collect();
    Some(taps)
}

/// `pixels` (`width x height`, `channels` interleaved 8-bit channels)
/// averaged down to `new_width x new_height`; `None` for an empty image,
/// where either dimension grows, or for other than 1 (grey) or 3 (RGB)
/// channels.
pub(crate) fn area_shrink(
    pixels: &[u8],
    channels: usize,
    (width, height): (u32, u32),
    (new_width, new_height): (u32, u32),
) -> Option<Vec<u8>> {
    let cols = taps(width, new_width)?;
    let rows = taps(height, new_height)?;
    match channels {
        1 => Some(shrink::<1>(pixels, width as usize, &cols, &rows)),
        3 => Some(shrink::<3>(pixels, width as usize, &cols, &rows)),
        _ => None,
    }
}

/// [`area_shrink`] for `C` channels: per output row, the weighted sum of
/// its source rows (one contiguous, vectorisable pass per source row), then
/// each output pixel's weighted run of that sum.
fn shrink<const C: usize>(pixels: &[u8], width: usize, cols: &[Taps], rows: &[Taps]) -> Vec<u8> {
    let stride = width * C;
    let mut out = vec![0u8; rows.len() * cols.len() * C];
    let mut line = vec![0f32; stride];
    for (row, dst) in rows.iter().zip(out.chunks_exact_mut(cols.len() * C)) {
        line.fill(0.0);
        let source = pixels[row.start * stride..].chunks_exact(stride);
        for (&w, src) in row.weights.iter().zip(source) {
            for (s, &v) in line.iter_mut().zip(src) {
                *s += w * f32::from(v);
            }
        }
        for (col, px) in cols.iter().zip(dst.chunks_exact_mut(C)) {
            let mut sum = [0f32; C];
            let run = line[col.start * C..].chunks_exact(C);
            for (&w, src) in col.weights.iter().zip(run) {
                for (s, &v) in sum.iter_mut().zip(src) {
                    *s += w * v;
                }
            }
            for (p, v) in px.iter_mut().zip(sum) {
                *p = (v + 0.5).clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use image::{imageops, RgbImage};
    use rand::{Rng, SeedableRng};

    use super::*;

    /// The exact area average of one output pixel, in f64: the integral of
    /// the source (a constant over each unit pixel square) over the output
    /// pixel's rectangle, divided by its area.
    fn reference(pixels: &[u8], channels: usize, size: (u32, u32), new: (u32, u32)) -> Vec<f64> {
        let (rx, ry) = (
            f64::from(size.0) / f64::from(new.0),
            f64::from(size.1) / f64::from(new.1),
        );
        let overlap =
            |a: f64, b: f64, i: u32| (b.min(f64::from(i) + 1.0) - a.max(f64::from(i))).max(0.0);
        let mut out = Vec::new();
        for oy in 0..new.1 {
            for ox in 0..new.0 {
                let (x0, y0) = (f64::from(ox) * rx, f64::from(oy) * ry);
                for c in 0..channels {
                    let mut sum = 0.0;
                    for y in 0..size.1 {
                        for x in 0..size.0 {
                            let v = pixels[(y * size.0 + x) as usize * channels + c];
                            sum += f64::from(v) * overlap(x0, x0 + rx, x) * overlap(y0, y0 + ry, y);
                        }
                    }
                    out.push(sum / (rx * ry));
                }
            }
        }
        out
    }

    /// Every output pixel is the exact area average, rounded (f32 sums
    /// may round a value near .5 either way).
    #[test]
    fn equals_the_exact_area_average() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        for case in 0..200 {
            let (w, h) = (rng.gen_range(1..=41), rng.gen_range(1..=37));
            let (nw, nh) = (rng.gen_range(1..=w), rng.gen_range(1..=h));
            let channels = if case % 2 == 0 { 3 } else { 1 };
            let pixels: Vec<u8> = (0..w * h * channels as u32).map(|_| rng.gen()).collect();
            let got = area_shrink(&pixels, channels, (w, h), (nw, nh)).unwrap();
            let want = reference(&pixels, channels, (w, h), (nw, nh));
            assert_eq!(got.len(), want.len());
            for (i, (&g, &r)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(g) - r).abs() <= 0.5 + 1e-3,
                    "case {case}: {w}x{h} -> {nw}x{nh}, value {i}: {g} vs {r:.3}"
                );
            }
        }
    }

    /// At whole-number ratios the blocks are whole pixels: the same pixels
    /// as the `image` crate's `thumbnail`, and a flat image stays flat.
    #[test]
    fn whole_ratios_equal_thumbnail_and_flat_stays_flat() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(4);
        for (w, h, k) in [(64, 48, 2), (90, 30, 3), (64, 64, 8), (7, 5, 1)] {
            let rgb = RgbImage::from_fn(w, h, |_, _| image::Rgb(rng.gen()));
            let want = imageops::thumbnail(&rgb, w / k, h / k).into_raw();
            assert_eq!(
                area_shrink(rgb.as_raw(), 3, (w, h), (w / k, h / k)).unwrap(),
                want,
                "{w}x{h} / {k}"
            );
        }
        let flat = vec![201u8; 97 * 83];
        let out = area_shrink(&flat, 1, (97, 83), (64, 29)).unwrap();
        assert!(out.iter().all(|&v| v == 201));
    }

    #[test]
    fn declines_to_grow_or_to_shrink_nothing() {
        assert!(area_shrink(&[0; 12], 3, (2, 2), (5, 1)).is_none());
        assert!(area_shrink(&[0; 12], 3, (2, 2), (1, 5)).is_none());
        assert!(area_shrink(&[], 3, (0, 2), (1, 1)).is_none());
        assert!(area_shrink(&[0; 12], 3, (2, 2), (0, 1)).is_none());
        assert!(area_shrink(&[0; 16], 4, (2, 2), (1, 1)).is_none());
    }
}
