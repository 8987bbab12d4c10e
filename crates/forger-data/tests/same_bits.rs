//! The loader yields the batches of the three batch makers it replaced.
//! The checksums were recorded from the previous implementation at commit
//! 6fb9cd9: `Batcher` and `Stream` (3 workers) without augmentation, and
//! `Pipeline` with the tutorial augmentation. The pipeline scaled augmented
//! pixels by `p * (1 / 255)`, as the loader still does
//! ([`PixelScale::apply_augmented`]); for the augmented batches the 8-bit
//! pixels (and the order, labels and indices) are checked against the
//! pipeline's checksum, and the `f32` checksum was recorded from the loader
//! (the end-to-end check is the default study's `results.json`, identical
//! before and after).

use candle_core::Device;
use forger_data::augment::AugmentConfig;
use forger_data::{rng, Batch, BatchConfig, Dataset, Loader, PixelScale, Result};
use rand::Rng;

fn data() -> Dataset {
    let mut rng = rng::derive(0, "data", 0);
    let n = 37;
    let pixels = (0..n * 3 * 8 * 8).map(|_| rng.gen()).collect();
    let labels = (0..n).map(|_| rng.gen_range(0..4)).collect();
    Dataset::new(pixels, labels, [3, 8, 8], Dataset::numbered_classes(4)).unwrap()
}

fn fnv(h: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *h ^= u64::from(b);
        *h = h.wrapping_mul(0x100_0000_01b3);
    }
}

/// Batches, and FNV-1a checksums of (indices, labels, `f32` bits) and of
/// (indices, labels, pixels as 8-bit levels).
fn sums(batches: impl Iterator<Item = Result<Batch>>) -> (usize, u64, u64) {
    let (mut h, mut h8, mut n) = (0xcbf2_9ce4_8422_2325u64, 0xcbf2_9ce4_8422_2325u64, 0);
    for b in batches {
        let b = b.unwrap();
        n += 1;
        for &i in &b.indices {
            fnv(&mut h, &(i as u64).to_le_bytes());
            fnv(&mut h8, &(i as u64).to_le_bytes());
        }
        for l in b.labels.to_vec1::<u32>().unwrap() {
            fnv(&mut h, &l.to_le_bytes());
            fnv(&mut h8, &l.to_le_bytes());
        }
        for v in b.images.flatten_all().unwrap().to_vec1::<f32>().unwrap() {
            fnv(&mut h, &v.to_bits().to_le_bytes());
            fnv(&mut h8, &[PixelScale::Unit.invert(v)]);
        }
    }
    (n, h, h8)
}

#[test]
fn unaugmented_batches_are_the_batchers_and_the_streams() {
    let d = data();
    let cases = [
        (
            BatchConfig::new(8).seed(11),
            [
                (5, 13835849624675005465, 2085128704171209192),
                (5, 14159249399851456273, 7716013911685795616),
            ],
        ),
        (
            BatchConfig::new(8).seed(11).drop_last(true),
            [
                (4, 3402763624383439914, 7643880818190476754),
                (4, 5460429173769851505, 4619443758235315792),
            ],
        ),
        (
            BatchConfig::sequential(8),
            [
                (5, 6642111893924356165, 18165077091672467248),
                (5, 6642111893924356165, 18165077091672467248),
            ],
        ),
        (
            BatchConfig::new(8).seed(11).scale(PixelScale::Symmetric),
            [
                (5, 13078260664271192665, 8686476007806523130),
                (5, 4288872510944037785, 16588310445654242866),
            ],
        ),
    ];
    for (config, expected) in cases {
        for workers in [0, 3] {
            let loader = Loader::new(&d, config.clone()).unwrap().workers(workers);
            for (epoch, want) in expected.into_iter().enumerate() {
                let got = sums(loader.epoch(epoch as u64, &Device::Cpu));
                assert_eq!(got, want, "{config:?}, {workers} workers, epoch {epoch}");
            }
        }
    }
}

#[test]
fn augmented_batches_are_the_pipelines() {
    let d = data();
    // (batches, f32 checksum of the loader, 8-bit checksum of the pipeline).
    let cases = [
        (
            false,
            [
                (5, 7179941896943552285, 2722252960740981045),
                (5, 1232562371191152755, 10376385345052762417),
            ],
        ),
        (
            true,
            [
                (4, 17600529552341720068, 12832583071405159019),
                (4, 1019263539878770267, 6108333776489137892),
            ],
        ),
    ];
    for (drop_last, expected) in cases {
        for workers in [0, 4] {
            let loader = Loader::new(&d, BatchConfig::new(8).seed(11).drop_last(drop_last))
                .unwrap()
                .augment(AugmentConfig::tutorial())
                .unwrap()
                .workers(workers);
            for (epoch, (n, h, h8)) in expected.into_iter().enumerate() {
                let got = sums(loader.epoch(epoch as u64, &Device::Cpu));
                assert_eq!(
                    (got.0, got.2),
                    (n, h8),
                    "drop_last {drop_last}, epoch {epoch}"
                );
                assert_eq!(got.1, h, "drop_last {drop_last}, epoch {epoch}");
            }
        }
    }
}
