//! The classification metrics against hand-computed small cases (with ties), against
//! scikit-learn 1.9.1's numbers for the same inputs (pasted here once: the tests need no Python),
//! against brute-force definitions on random inputs, and on perfect, inverted and random
//! classifiers, including a million-row data set with a closed-form AUC.

use fraudnet::NumpyRng;
use fraudnet::metrics::{
    Confusion, Metrics, average_precision, pr_curve, roc_auc, roc_curve, threshold_for_recall,
    threshold_max_f1,
};
use proptest::prelude::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

// ---------------------------------------------------------------------------------------------
// Case A: ten rows with two groups of tied scores.
// ---------------------------------------------------------------------------------------------

const A_SCORES: [f64; 10] = [0.9, 0.8, 0.8, 0.7, 0.5, 0.5, 0.5, 0.3, 0.2, 0.1];
const A_LABELS: [f64; 10] = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0];

/// scikit-learn 1.9.1: `average_precision_score(y, s)`.
const A_SKLEARN_AP: f64 = 0.7087301587301587;
/// scikit-learn 1.9.1: `roc_auc_score(y, s)`.
const A_SKLEARN_AUC: f64 = 0.7;

#[test]
fn case_a_areas_by_hand_and_by_sklearn() {
    // Distinct thresholds 0.9, 0.8, 0.7, 0.5, 0.3, 0.2, 0.1 flag (tp, fp) = (1,0), (2,1), (3,1),
    // (4,3), (4,4), (5,4), (5,5) of P = 5, N = 5. Recall rises by ⅕ at 0.9, 0.8, 0.7, 0.5, 0.2.
    let by_hand = (1.0 + 2.0 / 3.0 + 3.0 / 4.0 + 4.0 / 7.0 + 5.0 / 9.0) / 5.0;
    let ap = average_precision(&A_SCORES, &A_LABELS).unwrap().unwrap();
    assert!(close(ap, by_hand), "{ap} vs {by_hand}");
    assert!(close(ap, A_SKLEARN_AP), "{ap}");
    // Mann–Whitney: each fraud row against the 5 legitimate ones, ties ½.
    // 0.9 → 5; 0.8 → 4 + ½ (tie with the legit 0.8); 0.7 → 4; 0.5 → 2 + 2·½; 0.2 → 1.
    let wins = 5.0 + 4.5 + 4.0 + 3.0 + 1.0;
    let auc = roc_auc(&A_SCORES, &A_LABELS).unwrap().unwrap();
    assert_eq!(auc, wins / 25.0);
    assert!(close(auc, A_SKLEARN_AUC));
}

#[test]
fn case_a_curves_match_sklearn_point_for_point() {
    // sklearn's precision_recall_curve, reversed, without its (recall 0, precision 1) end point.
    let sklearn_pr = [
        (0.9, 1.0, 0.2),
        (0.8, 0.6666666666666666, 0.4),
        (0.7, 0.75, 0.6),
        (0.5, 0.5714285714285714, 0.8),
        (0.3, 0.5, 0.8),
        (0.2, 0.5555555555555556, 1.0),
        (0.1, 0.5, 1.0),
    ];
    let pr = pr_curve(&A_SCORES, &A_LABELS).unwrap();
    assert_eq!(pr.len(), sklearn_pr.len());
    for (p, &(t, precision, recall)) in pr.iter().zip(&sklearn_pr) {
        assert_eq!(p.threshold, t);
        assert!(close(p.precision, precision), "{p:?}");
        assert!(close(p.recall, recall), "{p:?}");
    }
    // sklearn's roc_curve(drop_intermediate=False), without its (inf, 0, 0) first point.
    let sklearn_roc = [
        (0.9, 0.0, 0.2),
        (0.8, 0.2, 0.4),
        (0.7, 0.2, 0.6),
        (0.5, 0.6, 0.8),
        (0.3, 0.8, 0.8),
        (0.2, 0.8, 1.0),
        (0.1, 1.0, 1.0),
    ];
    let roc = roc_curve(&A_SCORES, &A_LABELS).unwrap();
    assert_eq!(roc.len(), sklearn_roc.len());
    for (p, &(t, fpr, tpr)) in roc.iter().zip(&sklearn_roc) {
        assert_eq!(p.threshold, t);
        assert!(close(p.fpr, fpr) && close(p.tpr, tpr), "{p:?}");
    }
}

#[test]
fn case_a_confusion_and_rates_at_one_half() {
    // sklearn: confusion_matrix(y, s >= 0.5).ravel() = [tn 2, fp 3, fn 1, tp 4];
    // precision 0.5714285714285714, recall 0.8, f1 0.6666666666666666.
    let c = Confusion::at(&A_SCORES, &A_LABELS, 0.5).unwrap();
    assert_eq!(
        c,
        Confusion {
            tp: 4,
            fp: 3,
            tn: 2,
            fn_: 1
        }
    );
    assert_eq!(c.precision(), 4.0 / 7.0);
    assert_eq!(c.recall(), 0.8);
    assert!(close(c.f1(), 0.6666666666666666));
    assert_eq!(c.false_positive_rate(), 0.6);
    assert_eq!(c.accuracy(), 0.6);
    assert_eq!(c.to_string(), "tp 4 | fp 3 | tn 2 | fn 1");
    let m = Metrics::compute(&A_SCORES, &A_LABELS, 0.5).unwrap();
    assert_eq!(m.confusion, c);
    assert_eq!((m.rows, m.positives), (10, 5));
    assert_eq!((m.precision, m.recall, m.f1), (c.precision(), 0.8, c.f1()));
    assert!(close(m.pr_auc.unwrap(), A_SKLEARN_AP));
    assert!(close(m.roc_auc.unwrap(), A_SKLEARN_AUC));
    // Between scores: 0.55 flags what 0.7 flags.
    let between = Metrics::compute(&A_SCORES, &A_LABELS, 0.55).unwrap();
    assert_eq!(
        between.confusion,
        Confusion::at(&A_SCORES, &A_LABELS, 0.7).unwrap()
    );
}

#[test]
fn case_a_thresholds() {
    // F1 = 2tp / (2tp + fp + fn) per threshold: 0.9 → 2/6, 0.8 → 4/8, 0.7 → 6/9, 0.5 → 8/12,
    // 0.3 → 8/13, 0.2 → 10/14, 0.1 → 10/15. The best is 0.2.
    assert_eq!(threshold_max_f1(&A_SCORES, &A_LABELS).unwrap(), Some(0.2));
    // Recall by threshold: 0.2, 0.4, 0.6, 0.8, 0.8, 1.0, 1.0.
    for (target, expected) in [
        (0.01, 0.9),
        (0.2, 0.9),
        (0.5, 0.7),
        (0.6, 0.7),
        (0.8, 0.5),
        (0.81, 0.2),
        (1.0, 0.2),
    ] {
        assert_eq!(
            threshold_for_recall(&A_SCORES, &A_LABELS, target).unwrap(),
            Some(expected),
            "target {target}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Case B: a thousand rows from numpy's legacy generator, scores on a grid of 20 (many ties).
// ---------------------------------------------------------------------------------------------

/// `np.random.seed(7); s = np.floor(random_sample(1000) * 20) / 20;
/// y = (random_sample(1000) < 0.05 + 0.3 * s).astype(float)`.
fn case_b() -> (Vec<f64>, Vec<f64>) {
    let mut rng = NumpyRng::new(7);
    let scores: Vec<f64> = (0..1000)
        .map(|_| (rng.random_sample() * 20.0).floor() / 20.0)
        .collect();
    let labels = scores
        .iter()
        .map(|s| f64::from(u8::from(rng.random_sample() < 0.05 + 0.3 * s)))
        .collect();
    (scores, labels)
}

#[test]
fn case_b_matches_sklearn() {
    let (scores, labels) = case_b();
    assert_eq!(scores[..5], [0.05, 0.75, 0.4, 0.7, 0.95]);
    assert_eq!(labels[..5], [0.0, 0.0, 0.0, 0.0, 1.0]);
    let m = Metrics::compute(&scores, &labels, 0.5).unwrap();
    assert_eq!(m.positives, 205);
    // sklearn 1.9.1: average_precision_score, roc_auc_score.
    assert!(close(m.pr_auc.unwrap(), 0.2844070343670633), "{m}");
    assert!(close(m.roc_auc.unwrap(), 0.6559717748120878), "{m}");
    // confusion_matrix(y, s >= 0.5).ravel() = [444, 351, 68, 137]; precision_score,
    // recall_score, f1_score.
    assert_eq!(
        m.confusion,
        Confusion {
            tp: 137,
            fp: 351,
            tn: 444,
            fn_: 68
        }
    );
    assert!(close(m.precision, 0.2807377049180328));
    assert!(close(m.recall, 0.6682926829268293));
    assert!(close(m.f1, 0.3953823953823954));
    // precision_recall_curve has 20 thresholds; its F1 is highest (0.40046838407494145) at 0.35.
    assert_eq!(pr_curve(&scores, &labels).unwrap().len(), 20);
    let best = threshold_max_f1(&scores, &labels).unwrap().unwrap();
    assert_eq!(best, 0.35);
    let f1 = Confusion::at(&scores, &labels, best).unwrap().f1();
    assert!(close(f1, 0.40046838407494145));
}

// ---------------------------------------------------------------------------------------------
// Perfect, inverted, constant and random classifiers; degenerate label sets.
// ---------------------------------------------------------------------------------------------

#[test]
fn perfect_inverted_and_constant_classifiers() {
    let labels = [0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
    let perfect = [0.1, 0.9, 0.2, 0.8, 0.7, 0.3];
    assert_eq!(average_precision(&perfect, &labels).unwrap(), Some(1.0));
    assert_eq!(roc_auc(&perfect, &labels).unwrap(), Some(1.0));
    let t = threshold_max_f1(&perfect, &labels).unwrap().unwrap();
    assert_eq!(t, 0.7);
    assert_eq!(Confusion::at(&perfect, &labels, t).unwrap().f1(), 1.0);

    let inverted: Vec<f64> = perfect.iter().map(|s| 1.0 - s).collect();
    assert_eq!(roc_auc(&inverted, &labels).unwrap(), Some(0.0));
    // Fraud ranked last: precision 1/4, 2/5, 3/6 as recall reaches ⅓, ⅔, 1.
    let ap = average_precision(&inverted, &labels).unwrap().unwrap();
    assert!(close(ap, (0.25 + 0.4 + 0.5) / 3.0), "{ap}");

    // One tie for everything: AUC ½, AP = prevalence, one curve point.
    let constant = [0.5; 6];
    assert_eq!(roc_auc(&constant, &labels).unwrap(), Some(0.5));
    assert_eq!(average_precision(&constant, &labels).unwrap(), Some(0.5));
    assert_eq!(roc_curve(&constant, &labels).unwrap().len(), 1);
    // −0 and +0 are one score.
    assert_eq!(pr_curve(&[0.0, -0.0], &[1.0, 0.0]).unwrap().len(), 1);
}

#[test]
fn one_class_only() {
    let scores = [0.2, 0.6, 0.4];
    let none = Metrics::compute(&scores, &[0.0; 3], 0.5).unwrap();
    assert_eq!((none.pr_auc, none.roc_auc), (None, None));
    assert_eq!((none.precision, none.recall, none.f1), (0.0, 0.0, 0.0));
    assert_eq!(threshold_max_f1(&scores, &[0.0; 3]).unwrap(), None);
    assert_eq!(threshold_for_recall(&scores, &[0.0; 3], 0.5).unwrap(), None);
    let all = Metrics::compute(&scores, &[1.0; 3], 0.5).unwrap();
    assert_eq!((all.pr_auc, all.roc_auc), (Some(1.0), None));
    assert_eq!(all.confusion.false_positive_rate(), 0.0);
    assert!(
        none.to_string().contains("PR AUC n/a, ROC AUC n/a"),
        "{none}"
    );
}

#[test]
fn a_million_rows_with_a_closed_form_auc() {
    // Legitimate scores ~ U(0, 1), fraud ~ U(½, 3/2) (then squashed into (0, 1) monotonically):
    // P(fraud > legit) = 1 − (½)²/2 = 7/8. About 10% fraud.
    let mut rng = NumpyRng::new(2024);
    let n = 1_000_000;
    let mut scores = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let fraud = rng.random_sample() < 0.1;
        let raw = rng.random_sample() + if fraud { 0.5 } else { 0.0 };
        scores.push(raw / (1.0 + raw));
        labels.push(if fraud { 1.0 } else { 0.0 });
    }
    let start = std::time::Instant::now();
    let m = Metrics::compute(&scores, &labels, 0.5).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(m.rows, 1_000_000);
    let auc = m.roc_auc.unwrap();
    assert!((auc - 0.875).abs() < 0.003, "{auc}");
    // Flagged: raw ≥ 1, i.e. fraud with u ≥ ½ (half of them), no legitimate row.
    assert!((m.recall - 0.5).abs() < 0.01, "{m}");
    assert_eq!(m.precision, 1.0);
    assert!(seconds < 5.0, "one sort of 10⁶ rows took {seconds} s");
}

#[test]
fn random_scores_give_chance_level() {
    let mut rng = NumpyRng::new(3);
    let n = 200_000;
    let scores: Vec<f64> = (0..n).map(|_| rng.random_sample()).collect();
    let labels: Vec<f64> = (0..n)
        .map(|_| f64::from(u8::from(rng.random_sample() < 0.2)))
        .collect();
    let m = Metrics::compute(&scores, &labels, 0.5).unwrap();
    let prevalence = m.positives as f64 / n as f64;
    assert!((m.roc_auc.unwrap() - 0.5).abs() < 0.01, "{m}");
    assert!((m.pr_auc.unwrap() - prevalence).abs() < 0.01, "{m}");
    assert!((m.recall - 0.5).abs() < 0.01, "{m}");
}

// ---------------------------------------------------------------------------------------------
// Bad input is an error naming the row, never a panic.
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_input_is_refused_with_the_row() {
    let err = |r: fraudnet::Result<Metrics>| r.unwrap_err().to_string();
    let e = err(Metrics::compute(&[0.1, 0.2], &[1.0], 0.5));
    assert!(e.contains("scores has 2 rows but labels has 1"), "{e}");
    let e = err(Metrics::compute(&[], &[], 0.5));
    assert!(e.contains("no rows"), "{e}");
    let e = err(Metrics::compute(&[0.1, 0.2], &[1.0, 0.5], 0.5));
    assert!(e.contains("label of row 1 is 0.5"), "{e}");
    let e = err(Metrics::compute(&[0.1, f64::NAN], &[1.0, 0.0], 0.5));
    assert!(e.contains("score of row 1 is NaN"), "{e}");
    let e = err(Metrics::compute(&[0.1, f64::INFINITY], &[1.0, 0.0], 0.5));
    assert!(e.contains("score of row 1 is inf"), "{e}");
    let e = err(Metrics::compute(&[0.1], &[1.0], f64::NAN));
    assert!(e.contains("threshold"), "{e}");
    for target in [0.0, -0.1, 1.5, f64::NAN] {
        let e = threshold_for_recall(&[0.1], &[1.0], target).unwrap_err();
        assert!(e.to_string().contains("(0, 1]"), "{e}");
    }
    assert!(roc_auc(&[0.1], &[2.0]).is_err());
    assert!(pr_curve(&[0.1], &[]).is_err());
}

#[test]
fn metrics_serialise_to_json() {
    let m = Metrics::compute(&A_SCORES, &A_LABELS, 0.5).unwrap();
    let json = serde_json::to_value(m).unwrap();
    assert_eq!(json["rows"], 10);
    assert_eq!(json["roc_auc"], 0.7);
    assert_eq!(json["confusion"]["fn"], 1);
    assert!(json["confusion"].get("fn_").is_none());
    let back: Metrics = serde_json::from_value(json).unwrap();
    assert_eq!(back, m);
    let none = Metrics::compute(&[0.3], &[0.0], 0.5).unwrap();
    assert!(serde_json::to_value(none).unwrap()["pr_auc"].is_null());
}

// ---------------------------------------------------------------------------------------------
// Properties: brute-force definitions, ranges, invariance under monotone transforms.
// ---------------------------------------------------------------------------------------------

/// Mann–Whitney over every (fraud, legitimate) pair, ties ½.
fn brute_auc(scores: &[f64], labels: &[f64]) -> Option<f64> {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (s, _) in scores.iter().zip(labels).filter(|(_, y)| **y == 1.0) {
        for (t, _) in scores.iter().zip(labels).filter(|(_, y)| **y == 0.0) {
            pairs += 1.0;
            wins += if s > t {
                1.0
            } else if s == t {
                0.5
            } else {
                0.0
            };
        }
    }
    (pairs > 0.0).then(|| wins / pairs)
}

/// `Σ (Rₙ − Rₙ₋₁) Pₙ` with each threshold's counts found by scanning every row.
fn brute_ap(scores: &[f64], labels: &[f64]) -> Option<f64> {
    let positives = labels.iter().filter(|y| **y == 1.0).count() as f64;
    if positives == 0.0 {
        return None;
    }
    let mut thresholds = scores.to_vec();
    thresholds.sort_by(|a, b| b.total_cmp(a));
    thresholds.dedup();
    let mut previous_recall = 0.0;
    let mut sum = 0.0;
    for t in thresholds {
        let c = Confusion::at(scores, labels, t).unwrap();
        let recall = c.tp as f64 / positives;
        sum += (recall - previous_recall) * c.tp as f64 / (c.tp + c.fp) as f64;
        previous_recall = recall;
    }
    Some(sum)
}

/// Rows with scores on a grid of 21 values (so ties are common) and random labels.
fn rows() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    prop::collection::vec((0u8..=20, any::<bool>()), 1..60).prop_map(|rows| {
        rows.into_iter()
            .map(|(k, y)| (f64::from(k) / 20.0, f64::from(u8::from(y))))
            .unzip()
    })
}

proptest! {
    #[test]
    fn areas_match_their_definitions_and_lie_in_the_unit_interval((scores, labels) in rows()) {
        let ap = average_precision(&scores, &labels).unwrap();
        let auc = roc_auc(&scores, &labels).unwrap();
        prop_assert_eq!(ap.is_some(), brute_ap(&scores, &labels).is_some());
        if let (Some(ap), Some(expected)) = (ap, brute_ap(&scores, &labels)) {
            prop_assert!((0.0..=1.0 + 1e-12).contains(&ap));
            prop_assert!((ap - expected).abs() < 1e-12, "{} vs {}", ap, expected);
        }
        prop_assert_eq!(auc.is_some(), brute_auc(&scores, &labels).is_some());
        if let (Some(auc), Some(expected)) = (auc, brute_auc(&scores, &labels)) {
            prop_assert!((0.0..=1.0).contains(&auc));
            prop_assert!((auc - expected).abs() < 1e-12, "{} vs {}", auc, expected);
        }
    }

    #[test]
    fn areas_and_chosen_rows_do_not_change_under_a_monotone_transform(
        (scores, labels) in rows(),
        target in 0.01f64..=1.0,
    ) {
        let squash = |s: f64| 1.0 / (1.0 + (-8.0 * (s - 0.3)).exp());
        let transformed: Vec<f64> = scores.iter().map(|&s| squash(s)).collect();
        prop_assert_eq!(
            average_precision(&scores, &labels).unwrap(),
            average_precision(&transformed, &labels).unwrap()
        );
        prop_assert_eq!(
            roc_auc(&scores, &labels).unwrap(),
            roc_auc(&transformed, &labels).unwrap()
        );
        let best = threshold_max_f1(&scores, &labels).unwrap();
        let best_t = threshold_max_f1(&transformed, &labels).unwrap();
        prop_assert_eq!(best.map(squash), best_t);
        let for_recall = threshold_for_recall(&scores, &labels, target).unwrap();
        let for_recall_t = threshold_for_recall(&transformed, &labels, target).unwrap();
        prop_assert_eq!(for_recall.map(squash), for_recall_t);
        if let Some(t) = for_recall {
            // The highest threshold that reaches the target: the next one up does not.
            prop_assert!(Confusion::at(&scores, &labels, t).unwrap().recall() >= target);
            let higher = scores.iter().copied().filter(|&s| s > t).fold(f64::INFINITY, f64::min);
            if higher.is_finite() {
                let c = Confusion::at(&scores, &labels, higher).unwrap();
                prop_assert!(c.recall() < target);
            }
        }
    }

    #[test]
    fn the_summary_agrees_with_the_single_metrics(
        (scores, labels) in rows(),
        threshold in -0.1f64..1.1,
    ) {
        let m = Metrics::compute(&scores, &labels, threshold).unwrap();
        let c = Confusion::at(&scores, &labels, threshold).unwrap();
        prop_assert_eq!(m.confusion, c);
        prop_assert_eq!(m.rows, scores.len() as u64);
        prop_assert_eq!(m.f1, c.f1());
        prop_assert_eq!(m.pr_auc, average_precision(&scores, &labels).unwrap());
        prop_assert_eq!(m.roc_auc, roc_auc(&scores, &labels).unwrap());
    }
}
