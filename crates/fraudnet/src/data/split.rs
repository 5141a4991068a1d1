//! Stratified train/validation/test split: each class is shuffled with a seeded generator and
//! cut in the given fractions, so every part keeps the data's fraud rate. Knows only labels.

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Example indices of the three parts of a split, each in increasing order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Indices of the training examples.
    pub train: Vec<usize>,
    /// Indices of the validation examples.
    pub validation: Vec<usize>,
    /// Indices of the test examples.
    pub test: Vec<usize>,
}

/// Splits example indices `0..labels.len()` into train, validation and test parts of fractions
/// `train_frac`, `val_frac` and `1 − train_frac − val_frac`, class by class.
///
/// Each class is shuffled with a ChaCha8 generator seeded by `seed` and its count in each part
/// rounded, so every part keeps the overall fraud rate to within one row, and each index is in
/// exactly one part. The same labels and seed always give the same split. When positives
/// exist, every part of non-zero fraction gets at least one.
///
/// ```
/// use fraudnet::data::stratified_split;
/// let labels = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
/// let split = stratified_split(&labels, 0.4, 0.3, 7)?;
/// let positives = |part: &[usize]| part.iter().filter(|&&i| labels[i] == 1.0).count();
/// assert_eq!(split.train.len() + split.validation.len() + split.test.len(), 10);
/// assert_eq!(
///     [positives(&split.train), positives(&split.validation), positives(&split.test)],
///     [1, 1, 1]
/// );
/// assert_eq!(split, stratified_split(&labels, 0.4, 0.3, 7)?);
/// # Ok::<(), fraudnet::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidSetting`] when `train_frac` is not in (0, 1], `val_frac` not in [0, 1), their
/// sum exceeds 1, a label is not 0 or 1, or there are too few positives to give one to each part.
pub fn stratified_split(
    labels: &[f64],
    train_frac: f64,
    val_frac: f64,
    seed: u64,
) -> Result<Split> {
    if !(train_frac > 0.0 && train_frac <= 1.0) {
        return Err(Error::InvalidSetting(format!(
            "train fraction {train_frac} must be in (0, 1]"
        )));
    }
    if !(0.0..1.0).contains(&val_frac) {
        return Err(Error::InvalidSetting(format!(
            "validation fraction {val_frac} must be in [0, 1)"
        )));
    }
    let test_frac = 1.0 - train_frac - val_frac;
    if test_frac < -1e-9 {
        return Err(Error::InvalidSetting(format!(
            "train fraction {train_frac} + validation fraction {val_frac} must not exceed 1"
        )));
    }
    let fracs = [train_frac, val_frac, test_frac.max(0.0)];
    let mut classes: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    for (i, &y) in labels.iter().enumerate() {
        if y == 0.0 {
            classes[0].push(i);
        } else if y == 1.0 {
            classes[1].push(i);
        } else {
            return Err(Error::InvalidSetting(format!(
                "label {i} is {y}: labels must be 0 or 1"
            )));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut parts: [Vec<usize>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for (class, mut members) in classes.into_iter().enumerate() {
        members.shuffle(&mut rng);
        let counts = part_sizes(members.len(), fracs, class == 1)?;
        let mut rest = &members[..];
        for (part, count) in parts.iter_mut().zip(counts) {
            let (taken, left) = rest.split_at(count);
            part.extend_from_slice(taken);
            rest = left;
        }
    }
    for part in &mut parts {
        part.sort_unstable();
    }
    let [train, validation, test] = parts;
    Ok(Split {
        train,
        validation,
        test,
    })
}

/// How many of `n` members go to each part: cumulative rounding, so the counts add up to `n`
/// and each is within one of `n · frac`. With `need_one`, parts of non-zero fraction get at
/// least one member, taken from the largest part.
fn part_sizes(n: usize, fracs: [f64; 3], need_one: bool) -> Result<[usize; 3]> {
    let mut counts = [0usize; 3];
    let mut cum = 0.0;
    let mut given = 0usize;
    for (k, frac) in fracs.iter().enumerate() {
        cum += frac;
        let upto = if k == 2 {
            n
        } else {
            ((cum * n as f64).round() as usize).min(n)
        };
        counts[k] = upto.saturating_sub(given);
        given += counts[k];
    }
    if need_one && n > 0 {
        let wanted = fracs.iter().filter(|&&f| f > 1e-12).count();
        if n < wanted {
            return Err(Error::InvalidSetting(format!(
                "only {n} positive examples: too few to put one in each of the {wanted} parts"
            )));
        }
        for k in 0..3 {
            if fracs[k] > 1e-12 && counts[k] == 0 {
                let largest = (0..3).max_by_key(|&j| counts[j]).unwrap_or(0);
                counts[largest] -= 1;
                counts[k] += 1;
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_add_up_and_round() {
        assert_eq!(part_sizes(10, [0.7, 0.15, 0.15], false).unwrap(), [7, 2, 1]);
        assert_eq!(part_sizes(3, [0.8, 0.1, 0.1], true).unwrap(), [1, 1, 1]);
        assert!(part_sizes(2, [0.8, 0.1, 0.1], true).is_err());
        assert_eq!(part_sizes(2, [1.0, 0.0, 0.0], true).unwrap(), [2, 0, 0]);
        assert_eq!(part_sizes(0, [0.5, 0.25, 0.25], true).unwrap(), [0, 0, 0]);
    }

    #[test]
    fn bad_settings_are_errors() {
        let y = [0.0, 1.0];
        for (t, v) in [
            (0.0, 0.1),
            (1.1, 0.0),
            (0.6, 0.5),
            (f64::NAN, 0.1),
            (0.5, -0.1),
        ] {
            assert!(stratified_split(&y, t, v, 0).is_err(), "{t} {v}");
        }
        let err = stratified_split(&[0.0, 0.5], 0.5, 0.0, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid setting: label 1 is 0.5: labels must be 0 or 1"
        );
    }
}
