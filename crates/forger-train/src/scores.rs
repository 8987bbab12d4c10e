//! What `forger eval` writes beyond its summary: each image's scores as
//! CSV ([`write_predictions`]) and the ROC curves with DeLong intervals
//! ([`class_rocs`]: one curve for two classes, one-vs-rest per class for
//! more), which [`crate::plot::roc`] draws.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::evaluate::{argmax, Evaluation};
use crate::metrics::{roc_auc_delong, roc_curve, AucInterval, RocPoint};
use crate::{Result, TrainError};

/// One class's ROC curve against all others, and its AUC with a 95% DeLong
/// interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassRoc {
    /// The positive class.
    pub class: String,
    /// AUC and its interval.
    pub auc: AucInterval,
    /// The curve, from (0, 0) to (1, 1).
    #[serde(skip)]
    pub curve: Vec<RocPoint>,
}

/// The ROC curves of `eval` over `classes`: for two classes one, with the
/// second class positive (scored as [`crate::positive_score`], as
/// [`Evaluation::auc`] is); for more, one per class against the rest, on
/// its probability. A class without images, or with every image, has no
/// curve and is left out.
pub fn class_rocs(eval: &Evaluation, classes: &[String]) -> Result<Vec<ClassRoc>> {
    check_classes(eval, classes)?;
    let one = |class: usize, labels: Vec<u32>, scores: Vec<f64>| -> Result<Option<ClassRoc>> {
        let positives = labels.iter().filter(|&&l| l == 1).count();
        if positives == 0 || positives == labels.len() {
            return Ok(None);
        }
        Ok(Some(ClassRoc {
            class: classes[class].clone(),
            auc: roc_auc_delong(&labels, &scores)?,
            curve: roc_curve(&labels, &scores)?,
        }))
    };
    if classes.len() == 2 {
        return Ok(one(1, eval.labels.clone(), eval.positive_scores.clone())?
            .into_iter()
            .collect());
    }
    let mut rocs = Vec::new();
    for class in 0..classes.len() {
        let labels = eval.labels.iter().map(|&l| u32::from(l as usize == class));
        let scores = eval.probabilities.iter().map(|p| f64::from(p[class]));
        rocs.extend(one(class, labels.collect(), scores.collect())?);
    }
    Ok(rocs)
}

/// Writes each image's scores as CSV to `path` (atomically): its index in
/// the evaluated data, true and predicted class names, and one probability
/// column per class, headed by the class's name.
pub fn write_predictions(path: &Path, eval: &Evaluation, classes: &[String]) -> Result<()> {
    check_classes(eval, classes)?;
    let mut out = String::from("index,true,predicted");
    for class in classes {
        out.push(',');
        out.push_str(&csv_field(class));
    }
    out.push('\n');
    for (i, (label, probs)) in eval.labels.iter().zip(&eval.probabilities).enumerate() {
        let predicted = argmax(probs) as usize;
        out.push_str(&format!(
            "{i},{},{}",
            csv_field(&classes[*label as usize]),
            csv_field(&classes[predicted])
        ));
        for p in probs {
            out.push_str(&format!(",{p:.6}"));
        }
        out.push('\n');
    }
    Ok(write_atomic(path, out.as_bytes())?)
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn check_classes(eval: &Evaluation, classes: &[String]) -> Result<()> {
    let width = eval.probabilities.first().map_or(classes.len(), Vec::len);
    if width != classes.len() || eval.labels.len() != eval.probabilities.len() {
        return Err(TrainError::Invalid(format!(
            "{} class names for scores of {width} classes ({} labels, {} score rows)",
            classes.len(),
            eval.labels.len(),
            eval.probabilities.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ConfusionMatrix;

    fn evaluation(labels: Vec<u32>, probabilities: Vec<Vec<f32>>) -> Evaluation {
        let predictions: Vec<u32> = probabilities.iter().map(|p| argmax(p)).collect();
        let classes = probabilities[0].len();
        let positive_scores = if classes == 2 {
            probabilities
                .iter()
                .map(|p| crate::positive_score(p))
                .collect()
        } else {
            Vec::new()
        };
        let confusion = ConfusionMatrix::new(&labels, &predictions, classes);
        Evaluation {
            loss: 0.0,
            accuracy: confusion.accuracy(),
            confusion,
            auc: None,
            positive_scores,
            labels,
            probabilities,
        }
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn predictions_csv_names_classes_and_quotes_them() {
        let eval = evaluation(vec![0, 1], vec![vec![0.75, 0.25], vec![0.5, 0.5]]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        write_predictions(&path, &eval, &names(&["normal", "a, b"])).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "index,true,predicted,normal,\"a, b\"\n\
             0,normal,normal,0.750000,0.250000\n\
             1,\"a, b\",normal,0.500000,0.500000\n"
        );
        assert!(write_predictions(&path, &eval, &names(&["x"])).is_err());
    }

    #[test]
    fn binary_gives_one_curve_and_more_classes_one_per_class() {
        let binary = evaluation(
            vec![0, 0, 1, 1],
            vec![
                vec![0.9, 0.1],
                vec![0.4, 0.6],
                vec![0.6, 0.4],
                vec![0.2, 0.8],
            ],
        );
        let rocs = class_rocs(&binary, &names(&["no", "yes"])).unwrap();
        assert_eq!(rocs.len(), 1);
        assert_eq!(rocs[0].class, "yes");
        assert_eq!(rocs[0].auc.auc, 0.75);
        assert!(rocs[0].auc.low < 0.75 && rocs[0].auc.high > 0.75);
        // Three classes, the third never occurs: two one-vs-rest curves.
        let three = evaluation(
            vec![0, 1, 0, 1],
            vec![
                vec![0.8, 0.1, 0.1],
                vec![0.1, 0.8, 0.1],
                vec![0.6, 0.3, 0.1],
                vec![0.5, 0.4, 0.1],
            ],
        );
        let rocs = class_rocs(&three, &names(&["a", "b", "c"])).unwrap();
        let classes: Vec<&str> = rocs.iter().map(|r| r.class.as_str()).collect();
        assert_eq!(classes, ["a", "b"]);
        assert_eq!(rocs[0].auc.auc, 1.0);
        assert_eq!(rocs[1].curve.first().unwrap().true_positive_rate, 0.0);
        assert_eq!(rocs[1].curve.last().unwrap().true_positive_rate, 1.0);
    }
}
