//! Which cases go where: a seeded, class-balanced draw of the quiz, then the
//! library from what the quiz left, so that no quiz image is in the library.

use std::collections::VecDeque;

use forger_data::rng::derive;
use rand::seq::SliceRandom;

use crate::cases::Origin;
use crate::{Result, TeachError};

/// One case: its origin, class index and item (the index of a synthetic file
/// within its class, or of a real image within the data set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pick {
    pub origin: Origin,
    pub class: usize,
    pub item: usize,
}

/// How many cases each part of the site asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    pub quiz_synthetic: usize,
    pub quiz_real: usize,
    pub library_synthetic_per_class: usize,
    pub library_real_per_class: usize,
}

/// The chosen cases: the quiz in the order it is asked, and the library's
/// synthetic and real cases, grouped by class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selection {
    pub quiz: Vec<Pick>,
    pub library_synthetic: Vec<Pick>,
    pub library_real: Vec<Pick>,
}

/// Draws the quiz and the library from the items of each class. The same
/// seed and inputs always give the same selection.
pub(crate) fn select(
    synthetic: &[Vec<usize>],
    real: &[Vec<usize>],
    counts: Counts,
    seed: u64,
) -> Result<Selection> {
    let mut synthetic = shuffled_pools(synthetic, seed, "teach-synthetic");
    let mut real = shuffled_pools(real, seed, "teach-real");
    let mut quiz = take_balanced(&mut synthetic, Origin::Synthetic, counts.quiz_synthetic)?;
    quiz.extend(take_balanced(&mut real, Origin::Real, counts.quiz_real)?);
    quiz.shuffle(&mut derive(seed, "teach-quiz-order", 0));
    Ok(Selection {
        quiz,
        library_synthetic: take_per_class(
            &mut synthetic,
            Origin::Synthetic,
            counts.library_synthetic_per_class,
        ),
        library_real: take_per_class(&mut real, Origin::Real, counts.library_real_per_class),
    })
}

fn shuffled_pools(items: &[Vec<usize>], seed: u64, stream: &str) -> Vec<VecDeque<usize>> {
    items
        .iter()
        .enumerate()
        .map(|(class, items)| {
            let mut items = items.clone();
            items.shuffle(&mut derive(seed, stream, class as u64));
            items.into()
        })
        .collect()
}

/// Takes `n` items, one class after another in turn, so that the classes are
/// as balanced as the pools allow.
fn take_balanced(pools: &mut [VecDeque<usize>], origin: Origin, n: usize) -> Result<Vec<Pick>> {
    let available: usize = pools.iter().map(VecDeque::len).sum();
    if available < n {
        return Err(TeachError::TooFewCases {
            what: format!("{} images for the reader test", origin.word()),
            needed: n,
            available,
        });
    }
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        for (class, pool) in pools.iter_mut().enumerate() {
            if out.len() == n {
                break;
            }
            if let Some(item) = pool.pop_front() {
                out.push(Pick {
                    origin,
                    class,
                    item,
                });
            }
        }
    }
    Ok(out)
}

/// Takes up to `n` items of each class, class by class.
fn take_per_class(pools: &mut [VecDeque<usize>], origin: Origin, n: usize) -> Vec<Pick> {
    pools
        .iter_mut()
        .enumerate()
        .flat_map(|(class, pool)| {
            let k = n.min(pool.len());
            pool.drain(..k).map(move |item| Pick {
                origin,
                class,
                item,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(quiz_synthetic: usize, quiz_real: usize, lib: usize) -> Counts {
        Counts {
            quiz_synthetic,
            quiz_real,
            library_synthetic_per_class: lib,
            library_real_per_class: lib,
        }
    }

    fn pools(sizes: &[usize]) -> Vec<Vec<usize>> {
        let mut next = 0;
        sizes
            .iter()
            .map(|&n| {
                next += n;
                (next - n..next).collect()
            })
            .collect()
    }

    #[test]
    fn quiz_is_balanced_seeded_and_disjoint_from_the_library() {
        let syn = pools(&[10, 10]);
        let real = pools(&[6, 6]);
        let a = select(&syn, &real, counts(6, 4, 3), 7).unwrap();
        assert_eq!(a, select(&syn, &real, counts(6, 4, 3), 7).unwrap());
        assert_ne!(
            a.quiz,
            select(&syn, &real, counts(6, 4, 3), 8).unwrap().quiz
        );

        let count = |origin, class| {
            a.quiz
                .iter()
                .filter(|p| p.origin == origin && p.class == class)
                .count()
        };
        assert_eq!(
            [count(Origin::Synthetic, 0), count(Origin::Synthetic, 1)],
            [3, 3]
        );
        assert_eq!([count(Origin::Real, 0), count(Origin::Real, 1)], [2, 2]);
        // Shuffled: not all synthetic questions first.
        assert!(
            a.quiz[..6].iter().any(|p| p.origin == Origin::Real),
            "{:?}",
            a.quiz
        );

        assert_eq!(a.library_synthetic.len(), 6);
        assert_eq!(a.library_real.len(), 6);
        for lib in a.library_synthetic.iter().chain(&a.library_real) {
            assert!(
                !a.quiz.contains(lib),
                "{lib:?} is in the quiz and the library"
            );
        }
    }

    #[test]
    fn short_classes_give_what_they_have() {
        let a = select(&pools(&[1, 5]), &pools(&[2, 2]), counts(4, 2, 10), 0).unwrap();
        let syn_classes: Vec<usize> = a
            .quiz
            .iter()
            .filter(|p| p.origin == Origin::Synthetic)
            .map(|p| p.class)
            .collect();
        assert_eq!(syn_classes.iter().filter(|&&c| c == 0).count(), 1);
        assert_eq!(a.library_synthetic.len(), 2);
        assert_eq!(a.library_real.len(), 2);
    }

    #[test]
    fn too_few_cases_for_the_quiz_is_an_error() {
        let err = select(&pools(&[2, 2]), &pools(&[1, 1]), counts(2, 3, 0), 0).unwrap_err();
        assert!(
            matches!(
                err,
                TeachError::TooFewCases {
                    needed: 3,
                    available: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("real images"), "{err}");
    }
}
