//! A check for DiffAugment's cutout leaking into generated images: users
//! report generators that learn to paint the zeroed square. A leaked square
//! is an axis-aligned block of the cutout value (zero in `[-1, 1]`, 8-bit
//! 128: mid-grey) in every channel, which natural images rarely hold over
//! a large area. [`largest_fill_square`] measures it, [`cutout_leaks`]
//! flags the images of a set (to keep them out of a teaching set).

use forger_data::{Dataset, PixelScale};

use crate::{Result, TrainError};

/// Pixels within this many 8-bit levels of the fill count as filled.
pub const CUTOUT_TOLERANCE: u8 = 3;

/// The cutout value, 8-bit: the zero of `[-1, 1]`.
pub fn cutout_fill() -> u8 {
    PixelScale::Symmetric.invert(0.0)
}

/// Side of the largest axis-aligned square of `image` (`[c, h, w]`, 8-bit,
/// channel-major) whose pixels are all within `tolerance` of `fill` in
/// every channel. An image of another length than `shape` says is an error.
pub fn largest_fill_square(
    image: &[u8],
    shape: [usize; 3],
    fill: u8,
    tolerance: u8,
) -> Result<usize> {
    let [c, h, w] = shape;
    if image.len() != c * h * w {
        return Err(TrainError::Invalid(format!(
            "a {c}x{h}x{w} image has {} pixels, not {}",
            c * h * w,
            image.len()
        )));
    }
    let filled = |y: usize, x: usize| {
        (0..c).all(|ch| image[ch * h * w + y * w + x].abs_diff(fill) <= tolerance)
    };
    // side[x]: the largest filled square with its bottom-right corner at
    // (y, x), row by row.
    let (mut above, mut side) = (vec![0usize; w], vec![0usize; w]);
    let mut best = 0;
    for y in 0..h {
        for x in 0..w {
            side[x] = if !filled(y, x) {
                0
            } else if x == 0 || y == 0 {
                1
            } else {
                1 + above[x].min(above[x - 1]).min(side[x - 1])
            };
            best = best.max(side[x]);
        }
        std::mem::swap(&mut above, &mut side);
    }
    Ok(best)
}

/// Indices of the images of `data` holding a square of the cutout fill
/// ([`cutout_fill`], within [`CUTOUT_TOLERANCE`]) of side at least
/// `min_fraction` of the image side (e.g. 0.25: half of DiffAugment's
/// cutout square).
pub fn cutout_leaks(data: &Dataset, min_fraction: f64) -> Result<Vec<usize>> {
    let shape = data.image_shape();
    let min_side = ((shape[1].min(shape[2]) as f64 * min_fraction).ceil() as usize).max(1);
    let mut flagged = Vec::new();
    for i in 0..data.len() {
        let side = largest_fill_square(data.image(i), shape, cutout_fill(), CUTOUT_TOLERANCE)?;
        if side >= min_side {
            flagged.push(i);
        }
    }
    Ok(flagged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// A textured `[c, side, side]` image with a `k x k` square of the
    /// fill pasted at `(top, left)` (none for `k = 0`).
    fn image(c: usize, side: usize, k: usize, (top, left): (usize, usize), seed: u64) -> Vec<u8> {
        let mut rng = forger_data::rng::derive(seed, "leak", 0);
        let mut v: Vec<u8> = (0..c * side * side).map(|_| rng.gen()).collect();
        for ch in 0..c {
            for y in top..top + k {
                for x in left..left + k {
                    v[ch * side * side + y * side + x] = cutout_fill() + (x % 2) as u8;
                }
            }
        }
        v
    }

    #[test]
    fn finds_the_pasted_square_and_nothing_in_texture() {
        for c in [1, 3] {
            let plain = image(c, 32, 0, (0, 0), 1);
            assert!(largest_fill_square(&plain, [c, 32, 32], cutout_fill(), 3).unwrap() <= 2);
            let pasted = image(c, 32, 12, (5, 17), 2);
            assert_eq!(
                largest_fill_square(&pasted, [c, 32, 32], cutout_fill(), 3).unwrap(),
                12
            );
            // A square at the border (clipped cutout) counts too.
            let corner = image(c, 32, 9, (23, 23), 3);
            assert_eq!(
                largest_fill_square(&corner, [c, 32, 32], cutout_fill(), 3).unwrap(),
                9
            );
        }
        // A flat image of another grey is no cutout.
        assert_eq!(
            largest_fill_square(&[40; 64], [1, 8, 8], cutout_fill(), 3).unwrap(),
            0
        );
        let err = largest_fill_square(&[128; 60], [1, 8, 8], cutout_fill(), 3).unwrap_err();
        assert!(err.to_string().contains("not 60"), "{err}");
    }

    #[test]
    fn flags_the_leaking_images_of_a_set() {
        let mut pixels = Vec::new();
        for (i, k) in [0, 10, 0, 4, 16].into_iter().enumerate() {
            pixels.extend(image(1, 32, k, (3, 3), i as u64));
        }
        let data = Dataset::new(pixels, vec![0; 5], [1, 32, 32], vec!["a".into()]).unwrap();
        assert_eq!(cutout_leaks(&data, 0.25).unwrap(), vec![1, 4]);
    }
}
