//! Keras `ImageDataGenerator`-style augmentation of 8-bit, channel-first
//! images: a random affine warp (rotation, shift, shear, zoom), flips and a
//! brightness factor. The result is still 8-bit; the [`crate::Loader`] that
//! applies it scales the pixels to `f32` afterwards ([`crate::PixelScale`]).
//!
//! The random draws and the transform follow Keras' `random_transform` and
//! `apply_affine_transform`: the warp maps each output pixel back to the
//! input through `rotation * shift * shear * zoom` about the image centre and
//! samples it bilinearly (Keras' default order 1), as `imageproc`'s sampler
//! does. Flips come after the warp, brightness
//! last. As in Keras, `shear_range` is in degrees (so the tutorial's `0.2` is
//! a very small shear) and a zoom factor above 1 shows a larger area, so the
//! content shrinks. A positive rotation turns the picture clockwise as
//! displayed (rows run down).

use imageproc::geometric_transformations::Projection;
use rand::Rng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::{DataError, Result};

/// What a warp samples outside the input image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillMode {
    /// The nearest edge pixel (`aaaa|abcd|dddd`): Keras' default.
    #[default]
    Nearest,
    /// A constant grey level (`kkkk|abcd|kkkk`).
    Constant(u8),
    /// The image mirrored at its edges (`dcba|abcd|dcba`).
    Reflect,
}

/// Augmentation settings, named as Keras names them. [`AugmentConfig::none`]
/// (the default) changes nothing. Run folders written before the pixel
/// scale moved to the loader carry a `rescale` field; it is ignored on
/// reading (unknown fields are).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AugmentConfig {
    /// Rotation drawn uniformly in `+-rotation_range` degrees.
    pub rotation_range: f32,
    /// Horizontal shift drawn uniformly in `+-width_shift_range` of the width.
    pub width_shift_range: f32,
    /// Vertical shift drawn uniformly in `+-height_shift_range` of the height.
    pub height_shift_range: f32,
    /// `[lo, hi]`: zoom factors for rows and columns, drawn independently.
    /// Keras' `zoom_range = z` is `[1 - z, 1 + z]`.
    pub zoom_range: [f32; 2],
    /// Shear angle drawn uniformly in `+-shear_range` degrees.
    pub shear_range: f32,
    /// `[lo, hi]`: a brightness factor drawn uniformly, multiplying every
    /// pixel (clamped to 255); `None` leaves brightness alone.
    pub brightness_range: Option<[f32; 2]>,
    /// Mirror left-right with probability 1/2.
    pub horizontal_flip: bool,
    /// Mirror top-bottom with probability 1/2.
    pub vertical_flip: bool,
    /// What the warp samples outside the image.
    pub fill_mode: FillMode,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self::none()
    }
}

impl std::fmt::Display for AugmentConfig {
    /// The transforms that are on, e.g. "rotation 20°, shifts 0.1 and 0.1,
    /// zoom 0.8-1.2, horizontal flip"; "none" when none is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.rotation_range != 0.0 {
            parts.push(format!("rotation {}°", self.rotation_range));
        }
        if self.width_shift_range != 0.0 || self.height_shift_range != 0.0 {
            parts.push(format!(
                "shifts {} and {}",
                self.width_shift_range, self.height_shift_range
            ));
        }
        if self.zoom_range != [1.0, 1.0] {
            parts.push(format!(
                "zoom {}-{}",
                self.zoom_range[0], self.zoom_range[1]
            ));
        }
        if self.shear_range != 0.0 {
            parts.push(format!("shear {}", self.shear_range));
        }
        if let Some([lo, hi]) = self.brightness_range {
            parts.push(format!("brightness {lo}-{hi}"));
        }
        if self.horizontal_flip {
            parts.push("horizontal flip".into());
        }
        if self.vertical_flip {
            parts.push("vertical flip".into());
        }
        if parts.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&parts.join(", "))
    }
}

impl AugmentConfig {
    /// No augmentation: what validation and test images get.
    pub fn none() -> Self {
        Self {
            rotation_range: 0.0,
            width_shift_range: 0.0,
            height_shift_range: 0.0,
            zoom_range: [1.0, 1.0],
            shear_range: 0.0,
            brightness_range: None,
            horizontal_flip: false,
            vertical_flip: false,
            fill_mode: FillMode::Nearest,
        }
    }

    /// The cats-vs-dogs tutorial's training augmentation (W4 of the
    /// benchmark workloads): rotation 20, shifts 0.1, zoom 0.2, shear 0.2,
    /// brightness `[0.8, 1.2]`, horizontal flip, nearest fill.
    pub fn tutorial() -> Self {
        Self {
            rotation_range: 20.0,
            width_shift_range: 0.1,
            height_shift_range: 0.1,
            zoom_range: [0.8, 1.2],
            shear_range: 0.2,
            brightness_range: Some([0.8, 1.2]),
            horizontal_flip: true,
            ..Self::none()
        }
    }

    /// Checks that every range is finite and makes sense; the error names
    /// the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, value: String, expected: &str| {
            Err(DataError::Invalid(format!(
                "augmentation {field} = {value}: expected {expected}"
            )))
        };
        for (field, v) in [
            ("rotation_range", self.rotation_range),
            ("shear_range", self.shear_range),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(field, v.to_string(), "a finite number of degrees >= 0");
            }
        }
        for (field, v) in [
            ("width_shift_range", self.width_shift_range),
            ("height_shift_range", self.height_shift_range),
        ] {
            if !(0.0..1.0).contains(&v) {
                return bad(
                    field,
                    v.to_string(),
                    "a fraction of the image size in [0, 1)",
                );
            }
        }
        let [lo, hi] = self.zoom_range;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
            return bad(
                "zoom_range",
                format!("{:?}", self.zoom_range),
                "[lo, hi] with 0 < lo <= hi",
            );
        }
        if let Some([lo, hi]) = self.brightness_range {
            if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && lo <= hi) {
                return bad(
                    "brightness_range",
                    format!("[{lo}, {hi}]"),
                    "[lo, hi] with 0 <= lo <= hi",
                );
            }
        }
        Ok(())
    }

    /// Draws the transform for one image of `height x width`, in Keras'
    /// order: rotation, height shift, width shift, shear, zoom (rows, then
    /// columns), horizontal flip, vertical flip, brightness. Disabled
    /// options draw nothing.
    pub fn sample(&self, rng: &mut Pcg64, [height, width]: [usize; 2]) -> Transform {
        let mut sym = |range: f32| {
            if range > 0.0 {
                rng.gen_range(-range..=range)
            } else {
                0.0
            }
        };
        let rotation = sym(self.rotation_range);
        let shift_y = sym(self.height_shift_range) * height as f32;
        let shift_x = sym(self.width_shift_range) * width as f32;
        let shear = sym(self.shear_range);
        let [lo, hi] = self.zoom_range;
        let (zoom_y, zoom_x) = if lo == 1.0 && hi == 1.0 {
            (1.0, 1.0)
        } else {
            (rng.gen_range(lo..=hi), rng.gen_range(lo..=hi))
        };
        let horizontal_flip = self.horizontal_flip && rng.gen_bool(0.5);
        let vertical_flip = self.vertical_flip && rng.gen_bool(0.5);
        let brightness = self
            .brightness_range
            .map_or(1.0, |[lo, hi]| rng.gen_range(lo..=hi));
        Transform {
            rotation,
            shift: [shift_x, shift_y],
            shear,
            zoom: [zoom_x, zoom_y],
            horizontal_flip,
            vertical_flip,
            brightness,
            fill_mode: self.fill_mode,
        }
    }

    /// Draws a transform and applies it to one channel-first image.
    pub fn augment(&self, image: &[u8], shape: [usize; 3], rng: &mut Pcg64) -> Vec<u8> {
        self.sample(rng, [shape[1], shape[2]]).apply(image, shape)
    }
}

/// One drawn augmentation (see [`AugmentConfig::sample`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Transform {
    /// Degrees, clockwise as displayed.
    pub rotation: f32,
    /// `[x, y]` in pixels: where the content moves is the opposite sign, as in Keras.
    pub shift: [f32; 2],
    /// Degrees.
    pub shear: f32,
    /// `[x, y]` factors: above 1 shows a larger area.
    pub zoom: [f32; 2],
    /// Mirror left-right (after the warp).
    pub horizontal_flip: bool,
    /// Mirror top-bottom (after the warp).
    pub vertical_flip: bool,
    /// Multiplies every pixel (last).
    pub brightness: f32,
    /// What the warp samples outside the image.
    pub fill_mode: FillMode,
}

impl Transform {
    /// The transform that changes nothing.
    pub fn identity() -> Self {
        Self {
            rotation: 0.0,
            shift: [0.0, 0.0],
            shear: 0.0,
            zoom: [1.0, 1.0],
            horizontal_flip: false,
            vertical_flip: false,
            brightness: 1.0,
            fill_mode: FillMode::Nearest,
        }
    }

    fn warps(&self) -> bool {
        self.rotation != 0.0
            || self.shift != [0.0, 0.0]
            || self.shear != 0.0
            || self.zoom != [1.0, 1.0]
    }

    /// The map from output `(x, y)` to input `(x, y)`: Keras' `rotation *
    /// shift * shear * zoom`, written for `(x, y)` instead of `(row, col)`,
    /// about the centre of a `width x height` image.
    pub fn projection(&self, [height, width]: [usize; 2]) -> Projection {
        let rad = |deg: f32| deg.to_radians();
        let (sin_s, cos_s) = rad(self.shear).sin_cos();
        let shear = Projection::from_matrix([cos_s, 0.0, 0.0, -sin_s, 1.0, 0.0, 0.0, 0.0, 1.0])
            .unwrap_or_else(|| Projection::scale(1.0, 1.0));
        let (cx, cy) = ((width as f32 - 1.0) / 2.0, (height as f32 - 1.0) / 2.0);
        Projection::translate(cx, cy)
            * Projection::rotate(-rad(self.rotation))
            * Projection::translate(self.shift[0], self.shift[1])
            * shear
            * Projection::scale(self.zoom[0], self.zoom[1])
            * Projection::translate(-cx, -cy)
    }

    /// Applies the transform to a channel-first image of `[c, h, w]`.
    pub fn apply(&self, image: &[u8], [channels, height, width]: [usize; 3]) -> Vec<u8> {
        let plane = height * width;
        assert_eq!(
            image.len(),
            channels * plane,
            "image does not match its shape"
        );
        let mut out = match self.warps() {
            true => warp(
                image,
                [channels, height, width],
                self.projection([height, width]),
                self.fill_mode,
            ),
            false => image.to_vec(),
        };
        // The brightness scale as a table: the same rounding as per pixel,
        // 256 multiplications instead of one per sample.
        let brightness = (self.brightness != 1.0)
            .then(|| std::array::from_fn::<u8, 256, _>(|v| to_u8(v as f32 * self.brightness)));
        for dst in out.chunks_exact_mut(plane) {
            if self.horizontal_flip {
                dst.chunks_exact_mut(width).for_each(|row| row.reverse());
            }
            if self.vertical_flip {
                for y in 0..height / 2 {
                    let (top, bottom) = dst.split_at_mut((height - 1 - y) * width);
                    top[y * width..(y + 1) * width].swap_with_slice(&mut bottom[..width]);
                }
            }
            if let Some(table) = &brightness {
                for p in dst.iter_mut() {
                    *p = table[usize::from(*p)];
                }
            }
        }
        out
    }
}

/// Warps a channel-first `[c, h, w]` image: each output pixel's source
/// position comes from `projection`, folded into the image by the fill
/// mode, and is sampled bilinearly in `f32` (an 8-bit blend would truncate,
/// which darkens), rounded once. The sampler is imageproc's bilinear one,
/// written out so that the source position is computed once for all
/// channels and without imageproc's per-row tasks (a quarter of the folder
/// pipeline's time went to the warp); the tests check it against
/// imageproc, pixel for pixel. Past the last row and column the sampler
/// reads the edge pixel again.
fn warp(
    src: &[u8],
    [_, height, width]: [usize; 3],
    projection: Projection,
    fill: FillMode,
) -> Vec<u8> {
    let plane = height * width;
    let (w, h) = (width as f32, height as f32);
    let background = match fill {
        FillMode::Constant(k) => f32::from(k),
        _ => 0.0,
    };
    // Where each output pixel samples, worked out once for all channels.
    let mut taps = Vec::with_capacity(plane);
    for y in 0..height {
        for x in 0..width {
            let (sx, sy) = projection * (x as f32, y as f32);
            let (Some(sx), Some(sy)) = (fold(sx, w, fill), fold(sy, h, fill)) else {
                taps.push(None);
                continue;
            };
            // Folded coordinates are at least 0: truncation is the floor.
            let (x0, y0) = (sx as usize, sy as usize);
            let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
            taps.push(Some(Tap {
                at: y0 * width + x0,
                right: x1 - x0,
                down: (y1 - y0) * width,
                rw: sx - x0 as f32,
                bw: sy - y0 as f32,
            }));
        }
    }
    let mut out = vec![to_u8(background); src.len()];
    for (src, out) in src.chunks_exact(plane).zip(out.chunks_exact_mut(plane)) {
        for (out, tap) in out.iter_mut().zip(&taps) {
            let Some(tap) = tap else { continue };
            let at = |i: usize| f32::from(src[i]);
            let (top, bottom) = (tap.at, tap.at + tap.down);
            let t = (1.0 - tap.rw) * at(top) + tap.rw * at(top + tap.right);
            let b = (1.0 - tap.rw) * at(bottom) + tap.rw * at(bottom + tap.right);
            *out = to_u8((1.0 - tap.bw) * t + tap.bw * b);
        }
    }
    out
}

/// Where [`warp`] samples one output pixel: the source pixel at or above
/// and left of the sample position, the steps to its right and lower
/// neighbours (0 at the last column or row, which is read again), and the
/// weights of the right and lower neighbours.
struct Tap {
    at: usize,
    right: usize,
    down: usize,
    rw: f32,
    bw: f32,
}

/// `v.round().clamp(0.0, 255.0) as u8` without the calls to `roundf` that
/// a baseline x86-64 build makes (a tenth of the warp's time): after the
/// clamp, `v` is in `[0, 255]` (or NaN, which gives 0 both ways). From 0.5
/// on, `v + 0.5` is exact (0.5 is a whole number of `v`'s ulps) and
/// truncating it rounds half up; below 0.5 the answer is 0 (where `v +
/// 0.5` could round up to 1). No conversion back to `f32` and compare
/// waits on the truncation.
fn to_u8(v: f32) -> u8 {
    let v = v.clamp(0.0, 255.0);
    u8::from(v >= 0.5) * ((v + 0.5) as u8)
}

/// A sample coordinate moved into `[0, size - 1]` as the fill mode says, or
/// `None` where the constant fill applies. Coordinates within 1e-3 of the
/// image count as inside, so that exact quarter turns do not lose an edge to
/// rounding.
fn fold(v: f32, size: f32, fill: FillMode) -> Option<f32> {
    const SLACK: f32 = 1e-3;
    let last = size - 1.0;
    let v = match fill {
        FillMode::Constant(_) if !(-SLACK..=last + SLACK).contains(&v) => return None,
        FillMode::Reflect => {
            // Mirror about the outer pixel edges, -0.5 and size - 0.5.
            let m = (v + 0.5).rem_euclid(2.0 * size);
            (if m >= size { 2.0 * size - m } else { m }) - 0.5
        }
        _ => v,
    };
    Some(v.clamp(0.0, last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;

    const SHAPE: [usize; 3] = [2, 5, 6];

    fn image() -> Vec<u8> {
        (0..60).map(|i| (i * 4 + 3) as u8).collect()
    }

    /// The imageproc warp of one plane that [`warp`] writes out.
    fn imageproc_warp(
        src: &[u8],
        [height, width]: [usize; 2],
        p: Projection,
        fill: FillMode,
    ) -> Vec<u8> {
        use image::{ImageBuffer, Luma};
        use imageproc::geometric_transformations::{warp_into_with, Interpolation};
        let padded = ImageBuffer::from_fn(width as u32 + 1, height as u32 + 1, |x, y| {
            let (x, y) = ((x as usize).min(width - 1), (y as usize).min(height - 1));
            Luma([f32::from(src[y * width + x])])
        });
        let (w, h) = (width as f32, height as f32);
        let mapping = |x: f32, y: f32| {
            let (sx, sy) = p * (x, y);
            match (fold(sx, w, fill), fold(sy, h, fill)) {
                (Some(sx), Some(sy)) => (sx, sy),
                _ => (-1.0, -1.0),
            }
        };
        let background = Luma([match fill {
            FillMode::Constant(k) => f32::from(k),
            _ => 0.0,
        }]);
        let mut out = ImageBuffer::new(width as u32, height as u32);
        warp_into_with(
            &padded,
            mapping,
            Interpolation::Bilinear,
            background,
            &mut out,
        );
        out.into_raw()
            .into_iter()
            .map(|v: f32| v.round().clamp(0.0, 255.0) as u8)
            .collect()
    }

    #[test]
    fn warp_matches_imageproc_pixel_for_pixel() {
        let mut rng = rng::derive(3, "warp", 0);
        let config = AugmentConfig {
            rotation_range: 40.0,
            width_shift_range: 0.3,
            height_shift_range: 0.3,
            zoom_range: [0.6, 1.4],
            shear_range: 30.0,
            ..AugmentConfig::none()
        };
        for case in 0..60 {
            let shape = [1 + case % 3, rng.gen_range(1..=20), rng.gen_range(1..=20)];
            let img: Vec<u8> = (0..shape.iter().product()).map(|_| rng.gen()).collect();
            let fill = [FillMode::Nearest, FillMode::Reflect, FillMode::Constant(77)][case % 3];
            let t = Transform {
                fill_mode: fill,
                ..config.sample(&mut rng, [shape[1], shape[2]])
            };
            let p = t.projection([shape[1], shape[2]]);
            let want: Vec<u8> = img
                .chunks_exact(shape[1] * shape[2])
                .flat_map(|plane| imageproc_warp(plane, [shape[1], shape[2]], p, fill))
                .collect();
            assert_eq!(warp(&img, shape, p, fill), want, "{shape:?} {t:?}");
        }
    }

    #[test]
    fn to_u8_rounds_as_round_then_clamp() {
        let special = [
            f32::NAN,
            -0.5,
            -0.0,
            0.49999997,
            0.5,
            254.5,
            255.0,
            255.49,
            1e9,
        ];
        let grid = (0..600_000).map(|i| i as f32 / 2000.0 - 10.0);
        for v in special.into_iter().chain(grid) {
            assert_eq!(to_u8(v), v.round().clamp(0.0, 255.0) as u8, "{v}");
        }
    }

    #[test]
    fn zero_ranges_are_the_identity() {
        let img = image();
        let mut rng = rng::derive(1, "augment", 0);
        assert_eq!(AugmentConfig::none().augment(&img, SHAPE, &mut rng), img);
        // A warp with all-zero parameters goes through imageproc and still
        // changes nothing, edges included.
        let p = Transform::identity().projection([5, 6]);
        for fill in [FillMode::Nearest, FillMode::Reflect, FillMode::Constant(9)] {
            assert_eq!(warp(&img, SHAPE, p, fill), img);
        }
    }

    #[test]
    fn two_horizontal_flips_are_the_identity() {
        let img = image();
        let flip = Transform {
            horizontal_flip: true,
            ..Transform::identity()
        };
        let once = flip.apply(&img, SHAPE);
        assert_ne!(once, img);
        assert_eq!(&once[..6], &[23, 19, 15, 11, 7, 3]);
        assert_eq!(flip.apply(&once, SHAPE), img);
        let vflip = Transform {
            vertical_flip: true,
            ..Transform::identity()
        };
        assert_eq!(&vflip.apply(&img, SHAPE)[..6], &img[24..30]);
    }

    #[test]
    fn quarter_turn_moves_the_top_left_corner_to_the_top_right() {
        // A 5x5 grey image, black but for a bright top-left corner block.
        let mut img = vec![0u8; 25];
        img[0] = 200;
        img[1] = 100;
        let turn = Transform {
            rotation: 90.0,
            fill_mode: FillMode::Constant(0),
            ..Transform::identity()
        };
        let out = turn.apply(&img, [1, 5, 5]);
        // Clockwise: the top row becomes the right column, read downwards.
        let mut expected = vec![0u8; 25];
        expected[4] = 200;
        expected[9] = 100;
        assert_eq!(out, expected);
        let back = Transform {
            rotation: -90.0,
            ..turn.clone()
        };
        assert_eq!(back.apply(&out, [1, 5, 5]), img);
    }

    #[test]
    fn fill_modes_differ_where_the_warp_leaves_the_image() {
        // Shift by 2 columns: the input is read at x + 2.
        let row: Vec<u8> = vec![10, 20, 30, 40, 50];
        let shift = |fill| {
            Transform {
                shift: [2.0, 0.0],
                fill_mode: fill,
                ..Transform::identity()
            }
            .apply(&row, [1, 1, 5])
        };
        assert_eq!(shift(FillMode::Nearest), [30, 40, 50, 50, 50]);
        assert_eq!(shift(FillMode::Constant(7)), [30, 40, 50, 7, 7]);
        assert_eq!(shift(FillMode::Reflect), [30, 40, 50, 50, 40]);
    }

    #[test]
    fn random_augmentations_keep_shape_and_range_and_are_seeded() {
        let img = image();
        let config = AugmentConfig {
            vertical_flip: true,
            brightness_range: Some([0.3, 2.5]),
            ..AugmentConfig::tutorial()
        };
        config.validate().unwrap();
        let draw = |counter| config.augment(&img, SHAPE, &mut rng::derive(4, "augment", counter));
        assert_eq!(draw(0), draw(0));
        assert_ne!(draw(0), draw(1));
        assert!((0..50).all(|counter| draw(counter).len() == img.len()));
        let plain = AugmentConfig {
            brightness_range: None,
            ..config
        };
        // Without brightness, bilinear sampling cannot leave the input's range.
        let (lo, hi) = (*img.iter().min().unwrap(), *img.iter().max().unwrap());
        for counter in 0..50 {
            let out = plain.augment(&img, SHAPE, &mut rng::derive(4, "augment", counter));
            assert!(out.iter().all(|&p| (lo..=hi).contains(&p)), "{out:?}");
        }
    }

    #[test]
    fn configs_written_with_the_old_rescale_field_still_read() {
        let mut json = serde_json::to_value(AugmentConfig::tutorial()).unwrap();
        assert!(json.get("rescale").is_none());
        json["rescale"] = serde_json::json!(1.0 / 255.0);
        let read: AugmentConfig = serde_json::from_value(json).unwrap();
        assert_eq!(read, AugmentConfig::tutorial());
    }

    #[test]
    fn invalid_settings_name_the_field() {
        let bad = AugmentConfig {
            zoom_range: [1.2, 0.8],
            ..AugmentConfig::none()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("zoom_range"));
        let bad = AugmentConfig {
            width_shift_range: 1.5,
            ..AugmentConfig::none()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("width_shift_range"));
    }
}
