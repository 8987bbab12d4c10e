//! The study's statistics: accuracy against guessing (exact binomial
//! test), sensitivity and specificity for "synthetic", ROC AUC from the
//! 5-point ratings (ties count half), per reader, per experience group and
//! pooled; Fleiss' kappa across readers; and the most misjudged cases.

use std::collections::BTreeMap;

use forger_teach::Truth;
use forger_train::metrics::{binomial_test_half, roc_auc};
use serde::Serialize;

use crate::cases::Case;
use crate::store::{AnswerRow, Level};

/// Cases listed as most often misjudged, at most.
pub const MISJUDGED_SHOWN: usize = 10;

/// The scores of a set of answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// Answers counted.
    pub answered: usize,
    /// Right answers.
    pub correct: usize,
    /// `correct / answered`; `None` without answers.
    pub accuracy: Option<f64>,
    /// Exact two-sided binomial p-value of `correct` against 50%.
    pub p_value: f64,
    /// Synthetic cases called synthetic / synthetic cases answered.
    pub sensitivity: Option<f64>,
    /// Real cases called real / real cases answered.
    pub specificity: Option<f64>,
    /// ROC AUC of the confidence ratings (5 = definitely synthetic) for
    /// telling synthetic from real, ties counted half; `None` unless both
    /// real and synthetic cases were answered.
    pub auc: Option<f64>,
}

/// One reader's scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReaderScores {
    pub reader: String,
    pub level: Level,
    #[serde(flatten)]
    pub scores: Scores,
}

/// An experience group's pooled scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupScores {
    pub level: Level,
    /// Readers in the group with at least one answer.
    pub readers: usize,
    #[serde(flatten)]
    pub scores: Scores,
    /// Fleiss' kappa among the group's readers.
    pub fleiss_kappa: Option<f64>,
}

/// All answers pooled, and the agreement between readers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overall {
    /// Readers with at least one answer.
    pub readers: usize,
    /// Pooled scores; `auc` is the pooled ROC AUC.
    #[serde(flatten)]
    pub scores: Scores,
    /// Fleiss' kappa of the real/synthetic answers across readers.
    pub fleiss_kappa: Option<f64>,
}

/// How often a case was misjudged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseScores {
    pub case: u32,
    /// The image's path in the site.
    pub image: String,
    pub class: String,
    pub truth: Truth,
    pub answered: usize,
    pub wrong: usize,
    /// The notes readers left when they got it wrong.
    pub notes: Vec<String>,
}

/// The study's results (`summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Cases in the study.
    pub cases: usize,
    pub overall: Overall,
    /// Per reader, in sign-in order.
    pub readers: Vec<ReaderScores>,
    /// Per experience level that has answers.
    pub groups: Vec<GroupScores>,
    /// The cases most often misjudged (by share wrong, then count), at most
    /// [`MISJUDGED_SHOWN`], only those misjudged at least once.
    pub misjudged: Vec<CaseScores>,
}

impl Scores {
    /// The scores of `answers`.
    pub fn of<'a>(answers: impl IntoIterator<Item = &'a AnswerRow>) -> Self {
        let answers: Vec<&AnswerRow> = answers.into_iter().collect();
        let share = |hit: usize, of: usize| (of > 0).then(|| hit as f64 / of as f64);
        let count = |truth: Truth, right: bool| {
            answers
                .iter()
                .filter(|a| a.truth == truth && (!right || a.answer == truth))
                .count()
        };
        let correct = answers.iter().filter(|a| a.answer == a.truth).count();
        let labels: Vec<u32> = answers
            .iter()
            .map(|a| u32::from(a.truth == Truth::Synthetic))
            .collect();
        let ratings: Vec<f64> = answers.iter().map(|a| f64::from(a.confidence)).collect();
        Self {
            answered: answers.len(),
            correct,
            accuracy: share(correct, answers.len()),
            p_value: binomial_test_half(correct, answers.len()),
            sensitivity: share(
                count(Truth::Synthetic, true),
                count(Truth::Synthetic, false),
            ),
            specificity: share(count(Truth::Real, true), count(Truth::Real, false)),
            auc: roc_auc(&labels, &ratings).ok(),
        }
    }
}

/// Fleiss' kappa for `counts[subject][category]`, the raters who put each
/// subject in each category. Subjects with fewer than two ratings are left
/// out; with as many ratings for every subject this is Fleiss (1971)
/// exactly, otherwise each subject's agreement is over its own raters.
/// `None` without two such subjects or when chance agreement is 1 (every
/// rating the same category).
pub fn fleiss_kappa(counts: &[Vec<usize>]) -> Option<f64> {
    let rated: Vec<&Vec<usize>> = counts
        .iter()
        .filter(|c| c.iter().sum::<usize>() >= 2)
        .collect();
    if rated.len() < 2 {
        return None;
    }
    let categories = rated.iter().map(|c| c.len()).max().unwrap_or(0);
    let total: usize = rated.iter().map(|c| c.iter().sum::<usize>()).sum();
    let agreement: f64 = rated
        .iter()
        .map(|c| {
            let n = c.iter().sum::<usize>() as f64;
            let pairs: f64 = c.iter().map(|&k| (k * k) as f64).sum::<f64>() - n;
            pairs / (n * (n - 1.0))
        })
        .sum::<f64>()
        / rated.len() as f64;
    let chance: f64 = (0..categories)
        .map(|j| {
            let p = rated
                .iter()
                .map(|c| c.get(j).copied().unwrap_or(0))
                .sum::<usize>() as f64
                / total as f64;
            p * p
        })
        .sum();
    (chance < 1.0).then(|| (agreement - chance) / (1.0 - chance))
}

/// Fleiss' kappa of the real/synthetic answers in `answers`, cases as subjects.
fn answers_kappa<'a>(answers: impl IntoIterator<Item = &'a AnswerRow>) -> Option<f64> {
    let mut by_case: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for a in answers {
        by_case.entry(a.case).or_insert_with(|| vec![0, 0])
            [usize::from(a.answer == Truth::Synthetic)] += 1;
    }
    fleiss_kappa(&by_case.into_values().collect::<Vec<_>>())
}

/// The study's results from its cases, readers (in sign-in order) and answers.
pub fn summarize(cases: &[Case], readers: &[(String, Level)], answers: &[AnswerRow]) -> Summary {
    let answering: Vec<&(String, Level)> = readers
        .iter()
        .filter(|(name, _)| answers.iter().any(|a| &a.reader == name))
        .collect();
    let reader_scores = answering
        .iter()
        .map(|(name, level)| ReaderScores {
            reader: name.clone(),
            level: *level,
            scores: Scores::of(answers.iter().filter(|a| &a.reader == name)),
        })
        .collect();
    let groups = Level::ALL
        .into_iter()
        .filter_map(|level| {
            let of_level = || answers.iter().filter(move |a| a.level == level);
            let readers = answering.iter().filter(|(_, l)| *l == level).count();
            (readers > 0).then(|| GroupScores {
                level,
                readers,
                scores: Scores::of(of_level()),
                fleiss_kappa: answers_kappa(of_level()),
            })
        })
        .collect();
    let mut misjudged: Vec<CaseScores> = cases
        .iter()
        .map(|c| {
            let of_case: Vec<&AnswerRow> = answers.iter().filter(|a| a.case == c.id).collect();
            let wrong: Vec<&&AnswerRow> = of_case.iter().filter(|a| a.answer != a.truth).collect();
            CaseScores {
                case: c.id,
                image: c.image.clone(),
                class: c.class.clone(),
                truth: c.truth,
                answered: of_case.len(),
                wrong: wrong.len(),
                notes: wrong
                    .iter()
                    .filter(|a| !a.note.is_empty())
                    .map(|a| a.note.clone())
                    .collect(),
            }
        })
        .filter(|c| c.wrong > 0)
        .collect();
    // Share wrong (compared exactly, as wrong_a * answered_b), then count, then id.
    misjudged.sort_by(|a, b| {
        (b.wrong * a.answered)
            .cmp(&(a.wrong * b.answered))
            .then(b.wrong.cmp(&a.wrong))
            .then(a.case.cmp(&b.case))
    });
    misjudged.truncate(MISJUDGED_SHOWN);
    Summary {
        cases: cases.len(),
        overall: Overall {
            readers: answering.len(),
            scores: Scores::of(answers),
            fleiss_kappa: answers_kappa(answers),
        },
        readers: reader_scores,
        groups,
        misjudged,
    }
}

#[cfg(test)]
mod tests;
