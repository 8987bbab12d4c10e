//! JPEG decoding at a reduced scale, for images that are shrunk anyway.
//!
//! A training image is decoded once per epoch only to be shrunk to 64x64:
//! decoding a 400x370 photo at full size and then averaging 6x6 blocks
//! costs several times what libjpeg's reduced inverse DCT does, which
//! decodes each 8x8 block straight to 4x4 (or 2x2, 1x1) pixels. This module
//! decodes at the smallest of 1/1, 1/2, 1/4 and 1/8 of full size that
//! stays at least as large as the target, so the area resize that follows
//! still only shrinks. It is available where libjpeg(-turbo)'s headers were
//! found at build time (see `build.rs`); elsewhere [`decode`] declines and
//! callers decode at full size.

use image::RgbImage;

/// Whether this build decodes JPEGs at a reduced scale (libjpeg was found
/// when it was compiled).
pub fn available() -> bool {
    cfg!(forger_libjpeg)
}

/// The largest decoded image this path allocates (the `image` crate's
/// default limit): a header that claims more is an error here, and the
/// caller's fallback decides.
const MAX_BYTES: usize = 512 << 20;

/// Whether `bytes` start like a JPEG file.
pub(crate) fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// Whether a JPEG holds an end-of-image marker after its first scan:
/// entropy-coded data cannot contain `FF D9` (a data byte `FF` is followed
/// by `00`), so a file cut short anywhere before its end has none.
pub(crate) fn has_end_of_image(bytes: &[u8]) -> bool {
    let Some(scan) = bytes.windows(2).position(|w| w == [0xFF, 0xDA]) else {
        return false;
    };
    bytes[scan..].windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Decodes the JPEG in `bytes` to RGB at the smallest power-of-two
/// reduction that keeps it at least `min_width x min_height` (full size when
/// it is smaller). `Ok(None)` when this path does not apply: libjpeg is
/// not available, or the image is CMYK. `Err` carries libjpeg's message,
/// for broken data, for any warning (corrupt or truncated data) and for a
/// header that claims more than `max_pixels` pixels.
#[cfg(forger_libjpeg)]
pub(crate) fn decode(
    bytes: &[u8],
    min_width: u32,
    min_height: u32,
    max_pixels: u64,
) -> Result<Option<RgbImage>, String> {
    use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

    type Alloc = unsafe extern "C" fn(*mut c_void, usize) -> *mut u8;
    extern "C" {
        fn forger_decode_scaled_jpeg(
            data: *const u8,
            len: usize,
            min_width: c_uint,
            min_height: c_uint,
            max_pixels: std::ffi::c_ulonglong,
            alloc: Alloc,
            ctx: *mut c_void,
            width: *mut c_uint,
            height: *mut c_uint,
            message: *mut c_char,
            message_len: usize,
        ) -> c_int;
    }

    /// Sizes the `Vec<u8>` behind `ctx` to `len` bytes and lends it to C;
    /// null past [`MAX_BYTES`], so that C reports an error.
    unsafe extern "C" fn alloc(ctx: *mut c_void, len: usize) -> *mut u8 {
        if len > MAX_BYTES {
            return std::ptr::null_mut();
        }
        // SAFETY: `ctx` is the `&mut Vec<u8>` passed below, alive for the call.
        let pixels = unsafe { &mut *ctx.cast::<Vec<u8>>() };
        pixels.resize(len, 0);
        pixels.as_mut_ptr()
    }

    let mut pixels: Vec<u8> = Vec::new();
    let (mut width, mut height) = (0, 0);
    let mut message = [0 as c_char; 200];
    // SAFETY: every pointer is valid for the call; C writes the pixels only
    // through `alloc`'s buffer (exactly `width * height * 3` bytes) and a
    // NUL-terminated message of at most `message.len()` bytes.
    let status = unsafe {
        forger_decode_scaled_jpeg(
            bytes.as_ptr(),
            bytes.len(),
            min_width,
            min_height,
            max_pixels,
            alloc,
            (&mut pixels as *mut Vec<u8>).cast(),
            &mut width,
            &mut height,
            message.as_mut_ptr(),
            message.len(),
        )
    };
    match status {
        0 => Ok(RgbImage::from_raw(width, height, pixels)),
        1 => Ok(None),
        _ => {
            // SAFETY: C wrote a NUL-terminated string into `message`.
            let text = unsafe { CStr::from_ptr(message.as_ptr()) };
            Err(text.to_string_lossy().into_owned())
        }
    }
}

/// Without libjpeg this path never applies.
#[cfg(not(forger_libjpeg))]
pub(crate) fn decode(_: &[u8], _: u32, _: u32, _: u64) -> Result<Option<RgbImage>, String> {
    Ok(None)
}

#[cfg(test)]
pub(crate) mod tests {
    use image::codecs::jpeg::JpegEncoder;
    use image::{GrayImage, RgbImage};

    use super::*;
    use crate::area_shrink::area_shrink;
    use crate::limits::DEFAULT_MAX_IMAGE_PIXELS as MAX;

    /// A photo-like image: smooth gradients, an edge and some texture.
    pub(crate) fn photo(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            let texture = ((x * 7 + y * 13) % 17) as u8;
            let edge = if x * 3 > width { 60 } else { 0 };
            image::Rgb([
                (x * 200 / width) as u8 + texture,
                (y * 180 / height) as u8 + edge,
                120u8.wrapping_add(texture * 2),
            ])
        })
    }

    fn jpeg(image: &RgbImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        JpegEncoder::new_with_quality(&mut bytes, 92)
            .encode_image(image)
            .unwrap();
        bytes
    }

    /// Runs the CI's promise: with `FORGER_REQUIRE_LIBJPEG` set (`.ci/run`
    /// sets it), the build must have found libjpeg, so that the tests below
    /// ran rather than passed vacuously.
    #[test]
    fn libjpeg_present_where_required() {
        if std::env::var_os("FORGER_REQUIRE_LIBJPEG").is_some() {
            assert!(available(), "built without libjpeg (see build.rs)");
        }
    }

    #[test]
    fn recognises_jpeg_files() {
        assert!(is_jpeg(&jpeg(&photo(8, 8))));
        assert!(!is_jpeg(b"\x89PNG\r\n"));
        assert!(!is_jpeg(&[0xFF, 0xD8]));
        let bytes = jpeg(&photo(40, 30));
        assert!(has_end_of_image(&bytes));
        assert!(!has_end_of_image(&bytes[..bytes.len() - 2]));
        assert!(!has_end_of_image(&bytes[..bytes.len() / 2]));
        // A header alone has no scan.
        let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        assert!(!has_end_of_image(&bytes[..sos]));
    }

    #[cfg(not(forger_libjpeg))]
    #[test]
    fn declines_without_libjpeg() {
        assert_eq!(decode(&jpeg(&photo(64, 64)), 8, 8, MAX), Ok(None));
    }

    /// The largest power-of-two reduction that keeps both sides at least
    /// the minimum, rounding partial pixels up as libjpeg does.
    #[cfg(forger_libjpeg)]
    #[test]
    fn picks_the_largest_reduction_that_keeps_the_size() {
        let bytes = jpeg(&photo(300, 260));
        for ((min_w, min_h), want) in [
            ((64, 64), (75, 65)),
            ((76, 64), (150, 130)),
            ((64, 66), (150, 130)),
            ((37, 32), (38, 33)),
            ((38, 33), (38, 33)),
            ((39, 33), (75, 65)),
            ((151, 10), (300, 260)),
            ((400, 400), (300, 260)),
        ] {
            let image = decode(&bytes, min_w, min_h, MAX).unwrap().unwrap();
            assert_eq!(image.dimensions(), want, "at least {min_w}x{min_h}");
        }
    }

    /// Decoding at 1/4 then shrinking lands close to decoding at full size
    /// then shrinking (the reduced inverse DCT is a slightly sharper filter
    /// than the area mean, so not bit-identical).
    #[cfg(forger_libjpeg)]
    #[test]
    fn reduced_decode_then_shrink_is_close_to_full_decode_then_shrink() {
        let source = photo(256, 224);
        let bytes = jpeg(&source);
        let reduced = decode(&bytes, 64, 56, MAX).unwrap().unwrap();
        assert_eq!(reduced.dimensions(), (64, 56));
        let full = image::load_from_memory(&bytes).unwrap().to_rgb8();
        let want = area_shrink(full.as_raw(), 3, (256, 224), (64, 56)).unwrap();
        let diffs: Vec<u8> = reduced
            .as_raw()
            .iter()
            .zip(&want)
            .map(|(a, b)| a.abs_diff(*b))
            .collect();
        let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
        assert!(mean < 3.0, "mean difference {mean:.2} levels");
        // A flat image stays flat: the same colour at every scale.
        let flat = RgbImage::from_pixel(120, 96, image::Rgb([40, 150, 220]));
        let small = decode(&jpeg(&flat), 15, 12, MAX).unwrap().unwrap();
        assert_eq!(small.dimensions(), (15, 12));
        for px in small.pixels() {
            for (got, want) in px.0.iter().zip([40u8, 150, 220]) {
                assert!(got.abs_diff(want) <= 2, "{:?}", px.0);
            }
        }
    }

    /// A grey JPEG comes back as RGB with three equal channels.
    #[cfg(forger_libjpeg)]
    #[test]
    fn grey_jpegs_decode_to_equal_channels() {
        let grey = GrayImage::from_fn(64, 48, |x, y| image::Luma([(x * 3 + y) as u8]));
        let mut bytes = Vec::new();
        JpegEncoder::new(&mut bytes).encode_image(&grey).unwrap();
        let rgb = decode(&bytes, 32, 24, MAX).unwrap().unwrap();
        assert_eq!(rgb.dimensions(), (32, 24));
        assert!(rgb.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]));
    }

    /// Broken data is an error carrying libjpeg's message, never a panic
    /// or a crash; so is a file cut short, or one with a run of 0xFF bytes
    /// written over its data (libjpeg's warnings are errors).
    #[cfg(forger_libjpeg)]
    #[test]
    fn broken_or_truncated_data_is_an_error_with_libjpeg_s_message() {
        let err = decode(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 2, 1, 2, 3], 8, 8, MAX).unwrap_err();
        assert!(!err.is_empty());
        let bytes = jpeg(&photo(200, 160));
        for cut in [10, 50, 90] {
            let err = decode(&bytes[..bytes.len() * cut / 100], 50, 40, MAX).unwrap_err();
            assert!(err.contains("Premature end"), "{cut}%: {err}");
        }
        let mut smeared = bytes.clone();
        let mid = bytes.len() / 2;
        smeared[mid..mid + 40].fill(0xFF);
        assert!(decode(&smeared, 50, 40, MAX).is_err());
        assert!(decode(&[], 8, 8, MAX).is_err());
    }

    /// A header that claims a 60000x60000 image is refused before any
    /// allocation, by the pixel limit, then by the allocation cap.
    #[cfg(forger_libjpeg)]
    #[test]
    fn oversized_images_are_refused_not_allocated() {
        let mut bytes = jpeg(&photo(16, 16));
        let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        bytes[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
        let err = decode(&bytes, 60000, 60000, MAX).unwrap_err();
        assert!(err.contains("claims 60000x60000 pixels"), "{err}");
        let err = decode(&bytes, 60000, 60000, u64::MAX).unwrap_err();
        assert!(err.contains("cannot allocate 60000x60000"), "{err}");
    }
}
