//! The study's plan: which real images each (budget, replicate) job trains
//! and selects on, its seeds, and which jobs a shard runs. Everything random
//! in a job is drawn from its replicate's seed, so a replicate re-draws the
//! budget subset, the validation subset, the GAN, its sample and the
//! classifiers; within a replicate the budgets are nested.

use std::fmt;
use std::str::FromStr;

use forger_data::{rng, Dataset, Splits};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::StudyConfig;
use crate::{Result, TrainError};

/// The fewest training images of a class a budget may have: below this a
/// conditional GAN has next to nothing to learn a class from, and the study
/// refuses before training anything.
pub const MIN_TRAIN_PER_CLASS: usize = 5;

/// One unit of the plan: a budget's GAN and its three classifiers, for one replicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Position in the plan (budgets in order, replicates within each).
    pub index: usize,
    pub real_fraction: f64,
    pub replicate: usize,
    /// The replicate's seed: budget draws, GAN, sample and classifiers.
    pub seed: u64,
    /// Real training images of the budget (indices into the training split).
    pub train_indices: Vec<usize>,
    /// Real validation images that select each arm's weights and threshold
    /// (indices into the validation split).
    pub val_indices: Vec<usize>,
}

impl Job {
    /// The job's folder name: `5pct-r0`.
    pub fn name(&self) -> String {
        format!("{}-r{}", budget_tag(self.real_fraction), self.replicate)
    }

    /// The budget's real training images and its selection images.
    pub fn data(&self, splits: &Splits) -> Result<(Dataset, Dataset)> {
        Ok((
            splits.train.subset(&self.train_indices)?,
            splits.val.subset(&self.val_indices)?,
        ))
    }
}

/// Every job of a study, in order.
pub fn plan(config: &StudyConfig, splits: &Splits) -> Result<Vec<Job>> {
    check(config, splits)?;
    let mut jobs = Vec::new();
    for &fraction in &config.budgets {
        for replicate in 0..config.replicates {
            let seed = config.seed + replicate as u64;
            jobs.push(Job {
                index: jobs.len(),
                real_fraction: fraction,
                replicate,
                seed,
                train_indices: budget_indices(&splits.train, fraction, 0, seed, "budget"),
                val_indices: budget_indices(
                    &splits.val,
                    fraction,
                    config.validation_floor,
                    seed,
                    "validation",
                ),
            });
        }
    }
    Ok(jobs)
}

/// A seeded, class-stratified share `fraction` of each class of `data`,
/// at least `floor` images of a class (all of them when it has fewer) and
/// at least one. The order within a class is fixed by `(seed, stream)`, so
/// smaller budgets are subsets of larger ones. Sorted.
pub fn budget_indices(
    data: &Dataset,
    fraction: f64,
    floor: usize,
    seed: u64,
    stream: &str,
) -> Vec<usize> {
    let mut picked = Vec::new();
    for class in 0..data.classes().len() as u32 {
        let mut members: Vec<usize> = (0..data.len())
            .filter(|&i| data.labels()[i] == class)
            .collect();
        members.shuffle(&mut rng::derive(seed, stream, u64::from(class)));
        let take = ((members.len() as f64 * fraction).round() as usize)
            .max(floor.max(1))
            .min(members.len());
        picked.extend_from_slice(&members[..take]);
    }
    picked.sort_unstable();
    picked
}

/// `100pct`, `25pct`, `12.5pct`: how budgets are named in files.
pub fn budget_tag(fraction: f64) -> String {
    let pct = fraction * 100.0;
    if (pct - pct.round()).abs() < 1e-9 {
        format!("{}pct", pct.round())
    } else {
        format!("{pct:.1}pct")
    }
}

/// A deterministic slice of the plan: shard `index` of `count` runs the
/// jobs whose plan position is `index` modulo `count` (0-based, as Slurm's
/// `SLURM_ARRAY_TASK_ID` with `--array=0-(N-1)` and Kubernetes'
/// `JOB_COMPLETION_INDEX` count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole plan.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether this shard runs `job`.
    pub fn runs(&self, job: &Job) -> bool {
        job.index % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `i/N` with `0 <= i < N`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("a shard is `i/N` with 0 <= i < N (e.g. `0/4`), not `{s}`");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

/// Labels for `n` synthetic images with the given class shares (largest
/// remainders, so the counts add up to `n`), grouped by class.
pub fn synthetic_labels(n: usize, shares: &[f64]) -> Vec<u32> {
    let total: f64 = shares.iter().sum();
    let exact: Vec<f64> = shares
        .iter()
        .map(|s| n as f64 * s / total.max(f64::MIN_POSITIVE))
        .collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    for &c in order.iter().cycle().take(n - counts.iter().sum::<usize>()) {
        counts[c] += 1;
    }
    counts
        .iter()
        .enumerate()
        .flat_map(|(c, &k)| std::iter::repeat_n(c as u32, k))
        .collect()
}

/// Everything that would make the study fail part-way, refused up front.
fn check(config: &StudyConfig, splits: &Splits) -> Result<()> {
    let invalid = |m: String| Err(TrainError::Invalid(m));
    let classes = splits.train.classes();
    if classes.len() != 2 {
        return invalid(format!(
            "the study compares ROC AUC and needs two classes; the data has {classes:?}"
        ));
    }
    if config.replicates == 0 || config.budgets.is_empty() {
        return invalid("a study needs at least one replicate and one budget".into());
    }
    if let Some(bad) = config.budgets.iter().find(|&&b| !(b > 0.0 && b <= 1.0)) {
        return invalid(format!(
            "real-data budgets are fractions in (0, 1], not {bad}"
        ));
    }
    if config.gan.gan.classes != Some(2) {
        return invalid("the study needs a conditional GAN of two classes".into());
    }
    for (name, split) in [("validation", &splits.val), ("test", &splits.test)] {
        let counts = split.class_counts();
        if let Some(c) = (0..2).find(|&c| counts[c] < 2) {
            return invalid(format!(
                "the study selects on the real validation split and scores the real test split, so each needs \
                 at least 2 images of each class; the {name} split has {} of `{}`",
                counts[c], classes[c]
            ));
        }
    }
    let counts = splits.train.class_counts();
    for &b in &config.budgets {
        for (c, &n) in counts.iter().enumerate() {
            let take = (n as f64 * b).round() as usize;
            if take < MIN_TRAIN_PER_CLASS {
                let smallest = MIN_TRAIN_PER_CLASS as f64 / n as f64;
                return invalid(format!(
                    "budget {b} leaves {take} training images of `{}` (of {n}); a budget needs at least \
                     {MIN_TRAIN_PER_CLASS} of each class, so on this data it must be at least {:.3}",
                    classes[c],
                    smallest.min(1.0)
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Dataset {
        let labels: Vec<u32> = (0..n).map(|i| u32::from(i % 4 == 0)).collect();
        Dataset::new(vec![0; n], labels, [1, 1, 1], Dataset::numbered_classes(2)).unwrap()
    }

    #[test]
    fn budgets_are_stratified_nested_seeded_and_floored() {
        let d = data(100);
        let quarter = budget_indices(&d, 0.25, 0, 7, "budget");
        let half = budget_indices(&d, 0.5, 0, 7, "budget");
        assert_eq!(quarter.len(), 25);
        assert_eq!(quarter.iter().filter(|&&i| i % 4 == 0).count(), 6); // round(25 * 0.25)
        assert!(quarter.iter().all(|i| half.contains(i)));
        assert_ne!(quarter, budget_indices(&d, 0.25, 0, 8, "budget"));
        assert_ne!(quarter, budget_indices(&d, 0.25, 0, 7, "validation"));
        assert_eq!(
            budget_indices(&d, 1.0, 0, 7, "b"),
            (0..100).collect::<Vec<_>>()
        );
        // A floor of 10 per class: 10 of class 1 (25 images) and 10 of class 0 (75).
        let floored = budget_indices(&d, 0.05, 10, 7, "validation");
        assert_eq!(floored.iter().filter(|&&i| i % 4 == 0).count(), 10);
        assert_eq!(floored.len(), 20);
        assert!(floored
            .iter()
            .all(|i| budget_indices(&d, 0.5, 10, 7, "validation").contains(i)));
        // A floor above a class's size takes the whole class.
        assert_eq!(
            budget_indices(&d, 0.05, 30, 7, "v")
                .iter()
                .filter(|&&i| i % 4 == 0)
                .count(),
            25
        );
    }

    #[test]
    fn shards_split_the_plan_exactly_once() {
        let jobs: Vec<Job> = (0..7)
            .map(|index| Job {
                index,
                real_fraction: 1.0,
                replicate: index,
                seed: 0,
                train_indices: vec![],
                val_indices: vec![],
            })
            .collect();
        let shards: Vec<Shard> = (0..3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for job in &jobs {
            assert_eq!(shards.iter().filter(|s| s.runs(job)).count(), 1);
        }
        assert!(jobs.iter().all(|j| Shard::ALL.runs(j)));
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains("i/N"), "{bad}: {err}");
        }
        assert_eq!(shards[2].to_string(), "2/3");
    }

    #[test]
    fn synthetic_labels_follow_the_shares_exactly() {
        let labels = synthetic_labels(10, &[1214.0, 3494.0]);
        assert_eq!(labels.len(), 10);
        assert_eq!(labels.iter().filter(|&&l| l == 1).count(), 7);
        assert_eq!(synthetic_labels(5, &[1.0, 1.0]).len(), 5);
        assert_eq!(budget_tag(0.05), "5pct");
        assert_eq!(budget_tag(0.125), "12.5pct");
    }
}
