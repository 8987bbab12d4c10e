use super::*;

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

#[test]
fn fleiss_kappa_matches_fleiss_1971_worked_example() {
    // The 10 subjects x 5 categories x 14 raters table of Fleiss' kappa's
    // textbook example: P-bar = 0.378022, P_e = 0.212755.
    let table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ];
    let counts: Vec<Vec<usize>> = table.iter().map(|r| r.to_vec()).collect();
    let (p_bar, p_e) = (0.378_021_978_021_978, 0.212_755_102_040_816_3);
    assert!((fleiss_kappa(&counts).unwrap() - (p_bar - p_e) / (1.0 - p_e)).abs() < 1e-12);
    assert!((fleiss_kappa(&counts).unwrap() - 0.20993).abs() < 1e-5);
}

#[test]
fn fleiss_kappa_by_hand_for_two_categories() {
    // 3 readers, 4 cases: agreement 1, 1, 1/3, 1/3 (mean 2/3); half the
    // ratings in each category, so chance is 1/2: kappa = (2/3 - 1/2) / (1/2).
    let counts = vec![vec![3, 0], vec![0, 3], vec![2, 1], vec![1, 2]];
    close(fleiss_kappa(&counts).unwrap(), 1.0 / 3.0);
    // Perfect agreement on both categories; a lone rating is left out.
    close(
        fleiss_kappa(&[vec![2, 0], vec![0, 2], vec![1, 0]]).unwrap(),
        1.0,
    );
    // Every rating the same: chance agreement is 1, kappa undefined.
    assert_eq!(fleiss_kappa(&[vec![2, 0], vec![2, 0]]), None);
    assert_eq!(fleiss_kappa(&[vec![1, 1]]), None);
}

fn row(
    reader: &str,
    level: Level,
    case: u32,
    truth: Truth,
    answer: Truth,
    confidence: u8,
) -> AnswerRow {
    AnswerRow {
        reader: reader.into(),
        level,
        case,
        class: "normal".into(),
        truth,
        answer,
        confidence,
        note: format!("{reader} on {case}"),
        time: "2026-01-01T00:00:00.000Z".into(),
    }
}

fn case(id: u32, truth: Truth) -> Case {
    let mut png = Vec::new();
    image::GrayImage::from_pixel(2, 2, image::Luma([id as u8]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    Case::new(id, format!("quiz/{id:03}.png"), "normal".into(), truth, png).unwrap()
}

#[test]
fn summary_matches_hand_computed_scores() {
    use Truth::{Real as R, Synthetic as S};
    // Cases 1, 2 synthetic; 3, 4 real.
    let cases = [case(1, S), case(2, S), case(3, R), case(4, R)];
    let answers = vec![
        // Ann: right on 1, 2 (ratings 5, 3) and 3 (rating 3), wrong on 4 (4).
        row("ann", Level::Resident, 1, S, S, 5),
        row("ann", Level::Resident, 2, S, S, 3),
        row("ann", Level::Resident, 3, R, R, 3),
        row("ann", Level::Resident, 4, R, S, 4),
        // Bob: wrong on 1 (2), right on 2 (4), 3 (1), 4 (2).
        row("bob", Level::Student, 1, S, R, 2),
        row("bob", Level::Student, 2, S, S, 4),
        row("bob", Level::Student, 3, R, R, 1),
        row("bob", Level::Student, 4, R, R, 2),
    ];
    let readers = vec![
        ("ann".to_string(), Level::Resident),
        ("bob".to_string(), Level::Student),
        ("cy".to_string(), Level::Other),
    ];
    let s = summarize(&cases, &readers, &answers);
    assert_eq!(s.readers.len(), 2, "a reader without answers is not scored");
    let ann = &s.readers[0].scores;
    assert_eq!((ann.answered, ann.correct), (4, 3));
    assert_eq!(ann.accuracy, Some(0.75));
    // 3 of 4: P(X <= 1) = 5/16, doubled.
    close(ann.p_value, 10.0 / 16.0);
    assert_eq!((ann.sensitivity, ann.specificity), (Some(1.0), Some(0.5)));
    // Synthetic rated 5, 3; real 3, 4: pairs (5,3) 1, (5,4) 1, (3,3) 1/2, (3,4) 0.
    close(ann.auc.unwrap(), 2.5 / 4.0);
    let bob = &s.readers[1].scores;
    // Synthetic 2, 4; real 1, 2: (2,1) 1, (2,2) 1/2, (4,1) 1, (4,2) 1.
    close(bob.auc.unwrap(), 3.5 / 4.0);
    assert_eq!((bob.sensitivity, bob.specificity), (Some(0.5), Some(1.0)));

    let all = &s.overall;
    assert_eq!(
        (all.readers, all.scores.answered, all.scores.correct),
        (2, 8, 6)
    );
    // 6 of 8: 2 (1 + 8 + 28) / 256.
    close(all.scores.p_value, 74.0 / 256.0);
    // Pooled: synthetic 5, 3, 2, 4; real 3, 4, 1, 2. Each synthetic rating
    // against the four real ones: 5: 4; 3: 2.5; 2: 1.5; 4: 3.5. Sum 11.5 of 16.
    close(all.scores.auc.unwrap(), 11.5 / 16.0);
    // Per case (real, synthetic) calls: 1: (1, 1), 2: (0, 2), 3: (2, 0),
    // 4: (1, 1). Agreement 0, 1, 1, 0: mean 1/2; half the calls synthetic.
    close(all.fleiss_kappa.unwrap(), 0.0);

    assert_eq!(
        s.groups.iter().map(|g| g.level).collect::<Vec<_>>(),
        [Level::Student, Level::Resident]
    );
    assert_eq!(s.groups[1].scores, *ann);
    assert_eq!(
        s.groups[1].fleiss_kappa, None,
        "one reader has no agreement"
    );
    // Cases 1 and 4 were each misjudged once of twice; by id.
    assert_eq!(
        s.misjudged
            .iter()
            .map(|c| (c.case, c.wrong))
            .collect::<Vec<_>>(),
        [(1, 1), (4, 1)]
    );
    assert_eq!(s.misjudged[0].notes, ["bob on 1"]);
}
