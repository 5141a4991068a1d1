//! Honest per-tensor summaries in every mode: the counts a report gives are the ones measured
//! (elements examined singly, found wrong, directional probes), never a count covered only by
//! a group's probe; the worst element is the one furthest outside its bound, not the one with
//! the largest absolute error.

use std::collections::BTreeSet;

use gradproof::num_dual::DualNum;
use gradproof::{
    Checker, DualCost, DualProblem, FnProblem, Layout, Mode, Problem, Report, Result, TensorReport,
    TensorSpec, Tensors,
};

/// Elements of `w`, the tensor the bugs go into.
const N: usize = 48;

/// `J(w, c, s) = Σ (sin wᵢ + ½wᵢ²) + Σ cⱼ² + s²`, written once over the scalar type so that both
/// finite differences and the exact dual oracle apply. No gradient element is 0 at [`theta`].
struct Smooth;

impl DualCost for Smooth {
    fn cost<T: DualNum<f64> + Copy>(&self, theta: &[T]) -> T {
        let mut sum = T::from(0.0);
        for &w in &theta[..N] {
            sum += w.sin() + w * w * 0.5;
        }
        for &c in &theta[N..] {
            sum += c * c;
        }
        sum
    }
}

/// Which elements of `dw` the hand-written gradient gets wrong.
#[derive(Clone, Debug)]
enum Bug {
    None,
    /// These flat indices of `w` are off by 1e-3 relative.
    Few(Vec<usize>),
    /// Every element is doubled.
    All,
}

fn problem(bug: Bug) -> impl Problem {
    let layout = Layout::new([
        TensorSpec::new("w", [N]),
        TensorSpec::new("c", [3]),
        TensorSpec::new("s", []),
    ])
    .unwrap();
    let gradient_layout = layout.clone();
    let gradient = move |theta: &[f64]| -> Result<Tensors> {
        let mut g: Vec<f64> = theta[..N].iter().map(|w| w.cos() + w).collect();
        match &bug {
            Bug::None => {}
            Bug::Few(indices) => indices.iter().for_each(|&i| g[i] *= 1.0 + 1e-3),
            Bug::All => g.iter_mut().for_each(|x| *x *= 2.0),
        }
        g.extend(theta[N..].iter().map(|c| 2.0 * c));
        Tensors::new(gradient_layout.clone(), g)
    };
    DualProblem::new(layout, Smooth, gradient)
}

fn theta() -> Vec<f64> {
    let mut theta: Vec<f64> = (0..N).map(|i| 0.1 * i as f64 - 2.3).collect();
    theta.extend([0.4, -1.2, 0.9, 1.5]);
    theta
}

/// The finite-difference and the exact checker in `mode`.
fn checkers(mode: Mode) -> [(&'static str, Checker); 2] {
    let checker = Checker::new().mode(mode).seed(3);
    [("central", checker.clone()), ("dual", checker.dual())]
}

/// `(checked, examined, probes, agree, disagree)` of a row.
fn counts(row: &TensorReport) -> (usize, usize, usize, usize, usize) {
    (
        row.checked,
        row.examined,
        row.probes,
        row.agree,
        row.disagree,
    )
}

/// What every row of every report must satisfy, whatever the mode.
fn assert_consistent(report: &Report) {
    for row in &report.tensors {
        // Elements at kinks are judged by interval, among those that agree or disagree.
        assert_eq!(
            row.examined,
            row.agree + row.disagree + row.unresolved,
            "{}\n{report}",
            row.gradient_name
        );
        assert!(row.kink <= row.agree + row.disagree, "{report}");
        assert!(row.kink_outside <= row.kink.min(row.disagree), "{report}");
        assert!(row.examined <= row.checked, "{report}");
        let summary = row.summary(report.mode);
        assert!(report.to_string().contains(&summary), "{summary}\n{report}");
        // The worst element is examined singly, and is wrong exactly when the tensor has one.
        match row.worst() {
            Some(worst) => assert_eq!(worst.ratio > 1.0, row.disagree > 0, "{report}"),
            None => assert_eq!(row.max_abs_error, None, "{report}"),
        }
    }
    for line in report.failure_lines() {
        assert!(
            report
                .tensors
                .iter()
                .any(|t| line.contains(&t.summary(report.mode))),
            "{line}"
        );
    }
}

const FEW: [usize; 3] = [5, 17, 40];

#[test]
fn exhaustive_counts_every_element_it_differenced() {
    for (name, checker) in checkers(Mode::Exhaustive) {
        for (bug, wrong) in [(Bug::None, 0), (Bug::Few(FEW.to_vec()), 3), (Bug::All, N)] {
            let report = checker.check(&problem(bug.clone()), &theta()).unwrap();
            assert_consistent(&report);
            let [w, c, s] = &report.tensors[..] else {
                panic!("three tensors")
            };
            assert_eq!(
                counts(w),
                (N, N, 0, N - wrong, wrong),
                "{name} {bug:?}\n{report}"
            );
            assert_eq!(counts(c), (3, 3, 0, 3, 0), "{name} {bug:?}\n{report}");
            assert_eq!(counts(s), (1, 1, 0, 1, 0), "{name} {bug:?}\n{report}");
            assert_eq!(
                w.summary(report.mode),
                format!("{N} examined, {wrong} wrong")
            );
            if let Bug::Few(indices) = &bug {
                let named: BTreeSet<usize> = w.top.iter().map(|e| e.index[0]).take(3).collect();
                assert_eq!(named, indices.iter().copied().collect(), "{name}\n{report}");
            }
        }
    }
}

#[test]
fn sampled_counts_only_the_sample() {
    let spoiled: Vec<usize> = (0..N).step_by(4).collect();
    for (name, checker) in checkers(Mode::Sampled { per_tensor: 8 }) {
        // The sample the check draws: the coordinates the oracle of the same checker evaluates
        // (every gradient element is nonzero, so exactly those have a numeric value).
        let oracle = checker.oracle(&problem(Bug::None), &theta()).unwrap();
        let sample: Vec<usize> = (0..N).filter(|&i| oracle.numeric()[i] != 0.0).collect();
        assert_eq!(sample.len(), 8, "{name}");
        let hit = sample.iter().filter(|i| spoiled.contains(i)).count();
        assert!(
            0 < hit && hit < 8,
            "{name}: a sample of {sample:?} tells nothing"
        );
        for (bug, wrong) in [
            (Bug::None, 0),
            (Bug::Few(spoiled.clone()), hit),
            (Bug::All, 8),
        ] {
            let report = checker.check(&problem(bug.clone()), &theta()).unwrap();
            assert_consistent(&report);
            let w = &report.tensors[0];
            assert_eq!(
                counts(w),
                (8, 8, 0, 8 - wrong, wrong),
                "{name} {bug:?}\n{report}"
            );
            assert_eq!(counts(&report.tensors[1]), (3, 3, 0, 3, 0), "{name}");
            assert_eq!(
                w.summary(report.mode),
                format!("8 of {N} sampled, {wrong} wrong")
            );
            assert!(w.top.iter().all(|e| sample.contains(&e.index[0])), "{name}");
            // A passing sample vouches for its elements only, and the sentence says so.
            if report.passed() {
                let total = report.parameters;
                let sentence = report.verdict();
                assert!(
                    sentence.starts_with(&format!(
                        "the gradient is correct on the 12 sampled elements of {total}"
                    )) && sentence.ends_with(&format!(
                        "; the other {} were not checked (exhaustive mode checks every element)",
                        total - 12
                    )),
                    "{name}: {sentence}"
                );
            }
        }
    }
}

#[test]
fn directional_counts_only_elements_a_probe_saw_alone() {
    for (name, checker) in checkers(Mode::Directional { top: 3 }) {
        // No bug: a tensor's probe, confirmed along a second direction, vouches for its sum; no
        // element was examined singly but the scalar's, whose probe is its own, and those of
        // the 3-element tensor, examined element by element (no blind spot left to a swap).
        let report = checker.check(&problem(Bug::None), &theta()).unwrap();
        assert_consistent(&report);
        let [w, c, s] = &report.tensors[..] else {
            panic!("three tensors")
        };
        assert_eq!(counts(w), (N, 0, 2, 0, 0), "{name}\n{report}");
        assert_eq!(counts(c), (3, 3, 3, 3, 0), "{name}\n{report}");
        assert_eq!(c.summary(report.mode), "3 probes: 3 agree singly");
        assert_eq!(counts(s), (1, 1, 1, 1, 0), "{name}\n{report}");
        assert_eq!((w.worst(), w.max_abs_error), (None, None), "{name}");
        assert_eq!(
            w.summary(report.mode),
            format!("2 probes: {N} not examined singly")
        );
        assert_eq!(s.summary(report.mode), "1 probe: 1 agree singly");

        // Three wrong: bisection finds all three, and has seen singly at most the two elements
        // beside each at the end of its path (a group of 3 splits into 1 + 2, then 1 + 1).
        let report = checker
            .check(&problem(Bug::Few(FEW.to_vec())), &theta())
            .unwrap();
        assert_consistent(&report);
        let w = &report.tensors[0];
        assert_eq!(w.disagree, 3, "{name}\n{report}");
        let named: BTreeSet<usize> = w.top.iter().map(|e| e.index[0]).collect();
        assert_eq!(named, FEW.into_iter().collect(), "{name}\n{report}");
        assert!(
            w.examined <= 9 && w.agree == w.examined - 3,
            "{name}\n{report}"
        );
        assert!(w.probes > 1, "{name}\n{report}");
        assert!(
            w.summary(report.mode).contains(&format!(
                "3 wrong found by bisection; {} agree singly; {} not examined singly",
                w.agree,
                N - w.examined
            )),
            "{name}\n{report}"
        );

        // All wrong: every element examined singly is wrong, and the rest are said to be
        // unexamined, not agreeing.
        let report = checker.check(&problem(Bug::All), &theta()).unwrap();
        assert_consistent(&report);
        let w = &report.tensors[0];
        assert_eq!(w.agree, 0, "{name}\n{report}");
        assert_eq!(w.disagree, w.examined, "{name}\n{report}");
        assert!((3..N / 2).contains(&w.disagree), "{name}\n{report}");
        assert_eq!(
            w.summary(report.mode),
            format!(
                "{} probes: {} wrong found by bisection; {} not examined singly",
                w.probes,
                w.disagree,
                N - w.disagree
            ),
            "{name}\n{report}"
        );
        let line = &report.failure_lines()[0];
        assert!(line.contains("wrong found by bisection"), "{line}");
        assert!(!line.contains("agree"), "{line}");
        if name == "dual" {
            // J once, the whole model, then one pass per probe: the probes are all counted.
            let probes: usize = report.tensors.iter().map(|t| t.probes).sum();
            assert_eq!(report.evaluations, 2 + probes, "{report}");
        }
    }
}

/// `J = 500·θ₀² + ½·θ₁²` at (1, 1), gradient (1000, 1), with a hand-written gradient off by 0.5
/// on θ₀ and by 0.01 on θ₁: with a relative tolerance of 1e-3, the first is within its bound
/// (1.0) and the second is not (1e-3).
fn unequal_bounds() -> impl Problem {
    let layout = Layout::new([TensorSpec::new("t", [2])]).unwrap();
    let l = layout.clone();
    FnProblem::new(
        layout,
        |t: &[f64]| Ok(500.0 * t[0] * t[0] + 0.5 * t[1] * t[1]),
        move |t: &[f64]| Tensors::new(l.clone(), vec![1000.0 * t[0] + 0.5, t[1] + 0.01]),
    )
}

#[test]
fn the_worst_element_is_the_one_furthest_outside_its_bound() {
    for mode in [Mode::Exhaustive, Mode::Sampled { per_tensor: 2 }] {
        let report = Checker::new()
            .mode(mode)
            .tolerance(1e-3, 0.0)
            .check(&unequal_bounds(), &[1.0, 1.0])
            .unwrap();
        assert_consistent(&report);
        let row = &report.tensors[0];
        assert_eq!((row.agree, row.disagree), (1, 1), "{report}");
        let worst = row.worst().unwrap();
        assert_eq!(worst.index, [1], "{report}");
        assert!((worst.ratio - 10.0).abs() < 1e-4, "{report}");
        assert!(worst.error() < 0.02, "{report}");
        // The largest absolute error is still reported as such, and is the other element's.
        let largest = row.max_abs_error.unwrap();
        assert!((largest - 0.5).abs() < 1e-4, "{report}");
        assert_eq!(row.top[1].index, [0]);
        assert!(row.top[1].ratio < 1.0, "{report}");
        let line = &report.failure_lines()[0];
        assert!(line.starts_with("dt[1]: "), "{line}");
        assert!(line.contains("error 1.00e1× the bound"), "{line}");
        assert!(
            report.to_string().contains("error/bound 1.00e1"),
            "{report}"
        );
    }
}
