//! The `image` crate's `thumbnail` (area averaging) for 8-bit images that
//! shrink in both directions, with the same block boundaries and rounding,
//! so the same pixels, without its per-pixel generic accessors. `thumbnail`
//! copies every source pixel through `channels4()`; on the cats-vs-dogs
//! JPEGs that copy was about half the time of the decoding pipeline (W4).

/// The `[start, end)` source range of each of `out` output positions along
/// an axis of `len` source positions, computed as `thumbnail` does; `None`
/// when some range is empty.
fn blocks(len: u32, out: u32) -> Option<Vec<(usize, usize)>> {
    let ratio = len as f32 / out as f32;
    (0..out)
        .map(|o| {
            let lo_f = o as f32 * ratio;
            let hi_f = lo_f + ratio;
            let lo = (lo_f.ceil() as u32).clamp(0, len - 1);
            let hi = (hi_f.ceil() as u32).clamp(lo, len);
            (lo < hi).then_some((lo as usize, hi as usize))
        })
        .collect()
}

/// `pixels` (`width x height`, `channels` interleaved 8-bit channels)
/// averaged down to `new_width x new_height`; `None` for an empty image or
/// where some output pixel covers no input pixel (the image grows enough
/// that `thumbnail` interpolates).
pub(crate) fn area_shrink(
    pixels: &[u8],
    channels: usize,
    (width, height): (u32, u32),
    (new_width, new_height): (u32, u32),
) -> Option<Vec<u8>> {
    if width == 0 || height == 0 || new_width == 0 || new_height == 0 {
        return None;
    }
    let cols = blocks(width, new_width)?;
    let rows = blocks(height, new_height)?;
    let stride = width as usize * channels;
    let mut out = Vec::with_capacity(cols.len() * rows.len() * channels);
    // Per output row: the column sums of its block of input rows (one
    // contiguous, vectorisable pass per input row), then each output
    // pixel's run of those sums.
    let mut column_sums = vec![0u32; stride];
    for &(top, bottom) in &rows {
        column_sums.fill(0);
        for row in pixels[top * stride..bottom * stride].chunks_exact(stride) {
            for (sum, &v) in column_sums.iter_mut().zip(row) {
                *sum += u32::from(v);
            }
        }
        for &(left, right) in &cols {
            let n = ((right - left) * (bottom - top)) as u32;
            let run = &column_sums[left * channels..right * channels];
            for c in 0..channels {
                let sum: u32 = run[c..].iter().step_by(channels).sum();
                out.push(((sum + n / 2) / n).min(255) as u8);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use image::{imageops, GrayImage, RgbImage};
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Wherever `area_shrink` answers, it answers as `thumbnail`; it always
    /// answers when both dimensions shrink.
    #[test]
    fn equals_thumbnail() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
        for case in 0..300 {
            let (w, h) = (rng.gen_range(1..=97), rng.gen_range(1..=83));
            let grows = case % 3 == 0;
            let (nw, nh) = if grows {
                (rng.gen_range(1..=2 * w), rng.gen_range(1..=2 * h))
            } else {
                (rng.gen_range(1..=w), rng.gen_range(1..=h))
            };
            let rgb = RgbImage::from_fn(w, h, |_, _| image::Rgb(rng.gen()));
            let grey = GrayImage::from_fn(w, h, |_, _| image::Luma([rng.gen()]));
            let want = imageops::thumbnail(&rgb, nw, nh).into_raw();
            let want_grey = imageops::thumbnail(&grey, nw, nh).into_raw();
            let got = area_shrink(rgb.as_raw(), 3, (w, h), (nw, nh));
            let got_grey = area_shrink(grey.as_raw(), 1, (w, h), (nw, nh));
            let what = format!("case {case}: {w}x{h} -> {nw}x{nh}");
            assert_eq!(got.is_some(), got_grey.is_some(), "{what}");
            assert!(grows || got.is_some(), "{what}: shrinking, no answer");
            if let (Some(got), Some(got_grey)) = (got, got_grey) {
                assert_eq!(got, want, "{what}");
                assert_eq!(got_grey, want_grey, "{what}, grey");
            }
        }
    }

    #[test]
    fn declines_where_an_output_pixel_covers_no_input_pixel() {
        // 2 -> 5 columns: the second output column starts and ends inside
        // input column 0.
        assert!(area_shrink(&[0; 12], 3, (2, 2), (5, 1)).is_none());
        assert!(area_shrink(&[0; 12], 3, (2, 2), (1, 5)).is_none());
        assert!(area_shrink(&[], 3, (0, 2), (1, 1)).is_none());
    }
}
