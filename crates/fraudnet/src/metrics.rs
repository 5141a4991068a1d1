//! Binary-classification metrics the way fraud teams read them: the area under the
//! precision–recall curve (average precision, as scikit-learn's `average_precision_score`),
//! the tie-aware ROC AUC, both curves, the confusion matrix at a threshold and the rates built on
//! it, and two ways of choosing a threshold (best F1, or the highest one that reaches a recall).
//! Inputs are `scores` (any finite numbers, higher meaning more suspicious: usually
//! probabilities) and `labels` (1 for fraud, 0 for legitimate), validated before use; everything
//! rests on one `O(n log n)` sort. This module knows nothing of the model that produced the
//! scores.
//!
//! Conventions: a row is *flagged* when `score ≥ threshold`. Equal scores are one threshold and
//! are flagged together, so ties never depend on row order. A ratio whose denominator is zero
//! (precision with nothing flagged, recall with no fraud, …) is 0. The curves and areas have one
//! point per distinct score, from the highest threshold down.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The confusion matrix at one threshold: counts of rows by truth and by flag.
///
/// ```
/// use fraudnet::metrics::Confusion;
/// let scores = [0.9, 0.8, 0.4, 0.3, 0.1];
/// let labels = [1.0, 0.0, 1.0, 0.0, 0.0];
/// let c = Confusion::at(&scores, &labels, 0.5)?;
/// assert_eq!((c.tp, c.fp, c.tn, c.fn_), (1, 1, 2, 1));
/// assert_eq!(c.precision(), 0.5);
/// assert_eq!(c.recall(), 0.5);
/// assert_eq!(c.accuracy(), 0.6);
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Fraud, flagged.
    pub tp: u64,
    /// Legitimate, flagged.
    pub fp: u64,
    /// Legitimate, not flagged.
    pub tn: u64,
    /// Fraud, not flagged (`fn` is a keyword; it is `"fn"` in JSON).
    #[serde(rename = "fn")]
    pub fn_: u64,
}

/// `a / b` for counts, with 0/0 defined as 0.
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Confusion {
    /// The confusion matrix of flagging `score ≥ threshold` (the threshold may be any number but
    /// NaN; `+∞` flags nothing). Validates the inputs like every function of this module.
    pub fn at(scores: &[f64], labels: &[f64], threshold: f64) -> Result<Self> {
        validate(scores, labels)?;
        check_threshold(threshold)?;
        let mut c = Confusion::default();
        for (&s, &y) in scores.iter().zip(labels) {
            match (s >= threshold, y == 1.0) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, false) => c.tn += 1,
                (false, true) => c.fn_ += 1,
            }
        }
        Ok(c)
    }

    /// Rows counted.
    pub fn rows(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }

    /// Fraud rows (`tp + fn`).
    pub fn positives(&self) -> u64 {
        self.tp + self.fn_
    }

    /// Of the flagged rows, the share that is fraud: `tp / (tp + fp)`, 0 when nothing is flagged.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// Of the fraud rows, the share flagged (true-positive rate): `tp / (tp + fn)`, 0 without
    /// fraud.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Harmonic mean of precision and recall, `2tp / (2tp + fp + fn)`; 0 when `tp = 0`.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    /// Of the legitimate rows, the share flagged: `fp / (fp + tn)`, 0 without legitimate rows.
    pub fn false_positive_rate(&self) -> f64 {
        ratio(self.fp, self.fp + self.tn)
    }

    /// Share of rows classified correctly: `(tp + tn) / rows`, 0 without rows.
    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.rows())
    }
}

impl fmt::Display for Confusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tp {} | fp {} | tn {} | fn {}",
            self.tp, self.fp, self.tn, self.fn_
        )
    }
}

/// One point of the precision–recall curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrPoint {
    /// Rows with `score ≥ threshold` are flagged; `threshold` is one of the scores.
    pub threshold: f64,
    /// Precision at the threshold.
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
}

/// One point of the ROC curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// Rows with `score ≥ threshold` are flagged; `threshold` is one of the scores.
    pub threshold: f64,
    /// False-positive rate at the threshold.
    pub fpr: f64,
    /// True-positive rate (recall) at the threshold.
    pub tpr: f64,
}

/// The scores sorted once: one entry per distinct score, highest first, with the rows flagged at
/// that threshold.
struct Ranking {
    /// `(threshold, tp, fp)`: cumulative counts of rows with `score ≥ threshold`.
    steps: Vec<(f64, u64, u64)>,
    positives: u64,
    negatives: u64,
}

impl Ranking {
    fn new(scores: &[f64], labels: &[f64]) -> Result<Self> {
        validate(scores, labels)?;
        // `+ 0.0` turns −0 into +0, which `total_cmp` would otherwise put apart.
        let mut rows: Vec<(f64, bool)> = scores
            .iter()
            .zip(labels)
            .map(|(&s, &y)| (s + 0.0, y == 1.0))
            .collect();
        rows.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let mut steps: Vec<(f64, u64, u64)> = Vec::new();
        let (mut tp, mut fp) = (0, 0);
        for (k, &(score, fraud)) in rows.iter().enumerate() {
            if fraud {
                tp += 1;
            } else {
                fp += 1;
            }
            if rows.get(k + 1).is_none_or(|next| next.0 != score) {
                steps.push((score, tp, fp));
            }
        }
        Ok(Ranking {
            steps,
            positives: tp,
            negatives: fp,
        })
    }

    /// The confusion matrix of flagging `score ≥ threshold`, in `O(log n)`.
    fn confusion(&self, threshold: f64) -> Confusion {
        let flagged = self.steps.partition_point(|&(s, _, _)| s >= threshold);
        let (tp, fp) = match flagged {
            0 => (0, 0),
            k => (self.steps[k - 1].1, self.steps[k - 1].2),
        };
        Confusion {
            tp,
            fp,
            tn: self.negatives - fp,
            fn_: self.positives - tp,
        }
    }

    fn average_precision(&self) -> Option<f64> {
        if self.positives == 0 {
            return None;
        }
        let mut previous_tp = 0;
        let mut sum = 0.0;
        for &(_, tp, fp) in &self.steps {
            sum += ratio(tp - previous_tp, self.positives) * ratio(tp, tp + fp);
            previous_tp = tp;
        }
        Some(sum)
    }

    fn roc_auc(&self) -> Option<f64> {
        if self.positives == 0 || self.negatives == 0 {
            return None;
        }
        // Trapezoids in counts, exactly: Σ Δfp · (tp + tp_prev), over 2·P·N. A trapezoid over a
        // group of tied scores counts each (fraud, legitimate) pair in it as ½.
        let (mut previous_tp, mut previous_fp) = (0u64, 0u64);
        let mut twice_area: u128 = 0;
        for &(_, tp, fp) in &self.steps {
            twice_area += u128::from(fp - previous_fp) * u128::from(tp + previous_tp);
            (previous_tp, previous_fp) = (tp, fp);
        }
        let pairs = 2 * u128::from(self.positives) * u128::from(self.negatives);
        Some(twice_area as f64 / pairs as f64)
    }

    /// The confusion matrix at each distinct score, highest first.
    fn confusions(&self) -> impl Iterator<Item = (f64, Confusion)> + '_ {
        self.steps.iter().map(|&(threshold, tp, fp)| {
            let c = Confusion {
                tp,
                fp,
                tn: self.negatives - fp,
                fn_: self.positives - tp,
            };
            (threshold, c)
        })
    }

    fn threshold_max_f1(&self) -> Option<f64> {
        let mut best: Option<(f64, f64)> = None;
        for (threshold, c) in self.confusions() {
            let f1 = c.f1();
            if f1 > 0.0 && best.is_none_or(|(_, b)| f1 > b) {
                best = Some((threshold, f1));
            }
        }
        best.map(|(threshold, _)| threshold)
    }
}

/// Average precision, the area under the precision–recall curve as scikit-learn's
/// `average_precision_score` computes it: `Σₙ (Rₙ − Rₙ₋₁) · Pₙ` over the distinct scores from the
/// highest down (`R₀ = 0`), a step function with no interpolation. `None` when there is no fraud
/// (recall is undefined); 1 when every row is fraud.
///
/// ```
/// use fraudnet::metrics::average_precision;
/// // Ranking: fraud, legit, fraud → (½ · 1) + (½ · ⅔) = 5/6.
/// let ap = average_precision(&[0.9, 0.5, 0.2], &[1.0, 0.0, 1.0])?;
/// assert!((ap.unwrap() - 5.0 / 6.0).abs() < 1e-15);
/// assert_eq!(average_precision(&[0.3], &[0.0])?, None);
/// # Ok::<(), fraudnet::Error>(())
/// ```
pub fn average_precision(scores: &[f64], labels: &[f64]) -> Result<Option<f64>> {
    Ok(Ranking::new(scores, labels)?.average_precision())
}

/// Area under the ROC curve: the probability that a random fraud row scores above a random
/// legitimate one, ties counting ½ (the Mann–Whitney statistic over `P·N`). `None` unless both
/// classes are present.
///
/// ```
/// use fraudnet::metrics::roc_auc;
/// // Pairs (fraud, legit): (0.8, 0.4) won, (0.4, 0.4) tied, so (1 + ½) / 2.
/// let auc = roc_auc(&[0.8, 0.4, 0.4], &[1.0, 1.0, 0.0])?;
/// assert_eq!(auc, Some(0.75));
/// assert_eq!(roc_auc(&[0.8, 0.4], &[1.0, 1.0])?, None);
/// # Ok::<(), fraudnet::Error>(())
/// ```
pub fn roc_auc(scores: &[f64], labels: &[f64]) -> Result<Option<f64>> {
    Ok(Ranking::new(scores, labels)?.roc_auc())
}

/// The precision–recall curve: one point per distinct score, from the highest threshold (lowest
/// recall) down to the lowest score (recall 1 when there is fraud). Unlike scikit-learn, no
/// artificial `(recall 0, precision 1)` end point is added.
///
/// ```
/// use fraudnet::metrics::pr_curve;
/// let curve = pr_curve(&[0.9, 0.5, 0.5, 0.2], &[1.0, 1.0, 0.0, 0.0])?;
/// let points: Vec<_> = curve.iter().map(|p| (p.threshold, p.precision, p.recall)).collect();
/// assert_eq!(points, [(0.9, 1.0, 0.5), (0.5, 2.0 / 3.0, 1.0), (0.2, 0.5, 1.0)]);
/// # Ok::<(), fraudnet::Error>(())
/// ```
pub fn pr_curve(scores: &[f64], labels: &[f64]) -> Result<Vec<PrPoint>> {
    let ranking = Ranking::new(scores, labels)?;
    Ok(ranking
        .confusions()
        .map(|(threshold, c)| PrPoint {
            threshold,
            precision: c.precision(),
            recall: c.recall(),
        })
        .collect())
}

/// The ROC curve: one point per distinct score, from the highest threshold down to the lowest
/// score (where both rates are 1). The curve implicitly starts at `(0, 0)`, where nothing is
/// flagged; that point is not listed.
///
/// ```
/// use fraudnet::metrics::roc_curve;
/// let curve = roc_curve(&[0.9, 0.5, 0.5, 0.2], &[1.0, 1.0, 0.0, 0.0])?;
/// let points: Vec<_> = curve.iter().map(|p| (p.fpr, p.tpr)).collect();
/// assert_eq!(points, [(0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]);
/// # Ok::<(), fraudnet::Error>(())
/// ```
pub fn roc_curve(scores: &[f64], labels: &[f64]) -> Result<Vec<RocPoint>> {
    let ranking = Ranking::new(scores, labels)?;
    Ok(ranking
        .confusions()
        .map(|(threshold, c)| RocPoint {
            threshold,
            fpr: c.false_positive_rate(),
            tpr: c.recall(),
        })
        .collect())
}

/// The threshold (one of the scores) with the highest F1; of equally good ones, the highest.
/// `None` when there is no fraud (F1 is 0 at every threshold).
///
/// ```
/// use fraudnet::metrics::threshold_max_f1;
/// // At 0.7: tp 2, fp 0, fn 1 → F1 = 0.8, better than at 0.9 (0.5) or at 0.3 (0.75).
/// let (scores, labels) = ([0.9, 0.7, 0.5, 0.4, 0.3], [1.0, 1.0, 0.0, 0.0, 1.0]);
/// let t = threshold_max_f1(&scores, &labels)?;
/// assert_eq!(t, Some(0.7));
/// # Ok::<(), fraudnet::Error>(())
/// ```
pub fn threshold_max_f1(scores: &[f64], labels: &[f64]) -> Result<Option<f64>> {
    Ok(Ranking::new(scores, labels)?.threshold_max_f1())
}

/// The highest threshold (one of the scores) whose recall is at least `target`, for a fraud team
/// that must catch a given share of fraud while flagging as little as possible. `target` must be
/// in `(0, 1]`. `None` when there is no fraud.
///
/// ```
/// use fraudnet::metrics::threshold_for_recall;
/// let (scores, labels) = ([0.9, 0.7, 0.5, 0.4, 0.3], [1.0, 1.0, 0.0, 0.0, 1.0]);
/// assert_eq!(threshold_for_recall(&scores, &labels, 0.5)?, Some(0.7));
/// assert_eq!(threshold_for_recall(&scores, &labels, 1.0)?, Some(0.3));
/// assert!(threshold_for_recall(&scores, &labels, 0.0).is_err());
/// # Ok::<(), fraudnet::Error>(())
/// ```
pub fn threshold_for_recall(scores: &[f64], labels: &[f64], target: f64) -> Result<Option<f64>> {
    if !(target > 0.0 && target <= 1.0) {
        return Err(Error::InvalidSetting(format!(
            "target recall must be in (0, 1], got {target}"
        )));
    }
    let ranking = Ranking::new(scores, labels)?;
    if ranking.positives == 0 {
        return Ok(None);
    }
    // Compare counts, not rounded ratios: recall ≥ target ⇔ tp ≥ target · P.
    let needed = target * ranking.positives as f64;
    Ok(ranking
        .steps
        .iter()
        .find(|&&(_, tp, _)| tp as f64 >= needed)
        .map(|&(threshold, _, _)| threshold))
}

/// A summary of a scored data set at one threshold: what a fraud team puts in a report.
///
/// ```
/// use fraudnet::metrics::Metrics;
/// let m = Metrics::compute(&[0.9, 0.8, 0.4, 0.3, 0.1], &[1.0, 0.0, 1.0, 0.0, 0.0], 0.5)?;
/// assert_eq!((m.rows, m.positives), (5, 2));
/// assert_eq!(m.roc_auc, Some(5.0 / 6.0));
/// assert_eq!((m.precision, m.recall, m.f1), (0.5, 0.5, 0.5));
/// println!("{m}");
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Rows scored.
    pub rows: u64,
    /// Fraud rows.
    pub positives: u64,
    /// Average precision (see [`average_precision`]); `None` without fraud.
    pub pr_auc: Option<f64>,
    /// ROC AUC (see [`roc_auc`]); `None` unless both classes are present.
    pub roc_auc: Option<f64>,
    /// The threshold of the rates below: rows with `score ≥ threshold` are flagged.
    pub threshold: f64,
    /// Precision at the threshold.
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
    /// F1 at the threshold.
    pub f1: f64,
    /// The confusion matrix at the threshold.
    pub confusion: Confusion,
}

impl Metrics {
    /// Computes every metric with one sort of the scores. `threshold` may be any number but NaN.
    pub fn compute(scores: &[f64], labels: &[f64], threshold: f64) -> Result<Self> {
        check_threshold(threshold)?;
        let ranking = Ranking::new(scores, labels)?;
        let confusion = ranking.confusion(threshold);
        Ok(Metrics {
            rows: confusion.rows(),
            positives: ranking.positives,
            pr_auc: ranking.average_precision(),
            roc_auc: ranking.roc_auc(),
            threshold,
            precision: confusion.precision(),
            recall: confusion.recall(),
            f1: confusion.f1(),
            confusion,
        })
    }
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let area = |a: Option<f64>| a.map_or_else(|| "n/a".to_string(), |a| format!("{a:.4}"));
        writeln!(f, "rows {}, fraud {}", self.rows, self.positives)?;
        writeln!(
            f,
            "PR AUC {}, ROC AUC {}",
            area(self.pr_auc),
            area(self.roc_auc)
        )?;
        writeln!(
            f,
            "at threshold {}: precision {:.4}, recall {:.4}, F1 {:.4}",
            self.threshold, self.precision, self.recall, self.f1
        )?;
        write!(f, "{}", self.confusion)
    }
}

/// Fails unless both slices have the same, non-zero length, every label is 0 or 1 and every
/// score is finite; the message names the first bad row and its value.
fn validate(scores: &[f64], labels: &[f64]) -> Result<()> {
    if scores.len() != labels.len() {
        return Err(Error::InvalidSetting(format!(
            "scores has {} rows but labels has {}",
            scores.len(),
            labels.len()
        )));
    }
    if scores.is_empty() {
        return Err(Error::InvalidSetting(
            "no rows to score: metrics need at least one".to_string(),
        ));
    }
    if let Some(i) = labels.iter().position(|&y| y != 0.0 && y != 1.0) {
        return Err(Error::InvalidSetting(format!(
            "label of row {i} is {}, labels must be 0 or 1",
            labels[i]
        )));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(Error::InvalidSetting(format!(
            "score of row {i} is {}, scores must be finite",
            scores[i]
        )));
    }
    Ok(())
}

/// Fails on a NaN threshold.
fn check_threshold(threshold: f64) -> Result<()> {
    if threshold.is_nan() {
        Err(Error::InvalidSetting(
            "threshold must be a number, got NaN".to_string(),
        ))
    } else {
        Ok(())
    }
}
