use rand::Rng;

use super::*;

/// The vendored PneumoniaMNIST's splits.
fn pneumonia() -> forger_data::Splits {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/pneumoniamnist.npz");
    forger_data::load(&path, &forger_data::LoadConfig::default())
        .unwrap()
        .splits
}

fn first(data: &Dataset, n: usize) -> Dataset {
    data.subset(&(0..n.min(data.len())).collect::<Vec<_>>())
        .unwrap()
}

/// `data` with each pixel moved by up to +-`amount`, seeded.
fn noisy(data: &Dataset, amount: i32) -> Dataset {
    let mut g = forger_data::rng::derive(7, "noise", 0);
    let pixels: Vec<u8> = (0..data.len())
        .flat_map(|i| data.image(i).to_vec())
        .map(|p| (i32::from(p) + g.gen_range(-amount..=amount)).clamp(0, 255) as u8)
        .collect();
    Dataset::new(
        pixels,
        data.labels().to_vec(),
        data.image_shape(),
        data.classes().to_vec(),
    )
    .unwrap()
}

#[test]
fn copies_with_light_noise_are_flagged_and_fresh_real_images_at_the_base_rate() {
    let splits = pneumonia();
    let train = first(&splits.train, 1500);
    let copies = noisy(&first(&train, 400), 6);
    let inputs = AuditInputs {
        synthetic: &copies,
        train: &train,
        held_out: &splits.test,
        features: None,
        membership: None,
    };
    let copied = audit(&inputs).unwrap();
    assert!(copied.flagged.share > 0.95, "{:?}", copied.flagged);
    // Each copy's nearest training image is the one it was made from.
    let right = copied
        .pixels
        .synthetic
        .iter()
        .enumerate()
        .filter(|(i, n)| n.index == *i)
        .count();
    assert!(right as f64 / 400.0 > 0.95, "{right} of 400");
    // Validation images: real, never trained on, judged against the test
    // split's threshold: flagged at about the 1% base rate.
    let fresh = audit(&AuditInputs {
        synthetic: &splits.val,
        ..inputs
    })
    .unwrap();
    assert!(fresh.flagged.share < 0.04, "{:?}", fresh.flagged);
    assert!(fresh.flagged.low <= 0.01 + 0.02, "{:?}", fresh.flagged);
    assert!(
        (fresh.pixels.synthetic_median - fresh.pixels.held_out_median).abs() < 0.02,
        "{:?}",
        fresh.pixels
    );
    assert!(
        fresh.held_out_flagged.share < 0.015,
        "{:?}",
        fresh.held_out_flagged
    );

    // The images left out are exactly the flagged ones.
    let flags = copied.flags();
    let kept = copied.without_flagged(&copies).unwrap();
    assert_eq!(kept.len(), flags.iter().filter(|&&f| !f).count());
    let expected: Vec<usize> = (0..copies.len()).filter(|&i| !flags[i]).collect();
    assert_eq!(kept, copies.subset(&expected).unwrap());
}

#[test]
fn membership_auc_tells_a_memorising_discriminator_from_a_blind_one() {
    let data = first(&pneumonia().test, 50);
    let auc = |members: &[f64], others: &[f64]| {
        audit(&AuditInputs {
            synthetic: &data,
            train: &data,
            held_out: &data,
            features: None,
            membership: Some((members, others)),
        })
        .unwrap()
        .membership_auc
        .unwrap()
    };
    let mut g = forger_data::rng::derive(3, "scores", 0);
    let mut draw =
        |shift: f64| -> Vec<f64> { (0..300).map(|_| g.gen_range(0.0..1.0) + shift).collect() };
    // A discriminator that memorised: its members score a full unit higher.
    let (members, others) = (draw(1.0), draw(0.0));
    let memorised = auc(&members, &others);
    assert!(memorised.auc > 0.99, "{memorised:?}");
    let (members, others) = (draw(0.0), draw(0.0));
    let blind = auc(&members, &others);
    assert!((blind.auc - 0.5).abs() < 0.07, "{blind:?}");
    assert!(blind.low < 0.5 && 0.5 < blind.high, "{blind:?}");
}

#[test]
fn percentiles_interpolate_as_r_type_7() {
    let v = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(percentile(&v, 50.0), 2.5);
    assert_eq!(percentile(&v, 0.0), 1.0);
    assert_eq!(percentile(&v, 100.0), 4.0);
    assert!((percentile(&v, 1.0) - 1.03).abs() < 1e-12); // quantile(1:4, 0.01) = 1.03
    assert!(percentile(&[], 5.0).is_nan());
}
