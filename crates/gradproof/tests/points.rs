//! Checks at several points (`Checker::points`): a gradient wrong only in some regime is caught
//! away from θ and the report names the point; a correct gradient passes at every point; the
//! points are reproducible from the seed; a gradient handed over (known at θ only) refuses them.

use gradproof::{Checker, Error, FnProblem, Layout, Problem, TensorSpec, Tensors, Verdict};

/// J(w, b) = Σ clamp(wᵢ, −1, 1)² + Σ bⱼ³, with `dw` wrong where `wᵢ > 1` when `buggy`
/// (the clamp's saturation forgotten there: 2wᵢ instead of 0).
fn clamp_problem(buggy: bool) -> impl Problem {
    let layout = Layout::new([TensorSpec::new("w", [4]), TensorSpec::new("b", [2])]).unwrap();
    let l = layout.clone();
    FnProblem::new(
        layout,
        |t: &[f64]| {
            Ok(t[..4]
                .iter()
                .map(|w| w.clamp(-1.0, 1.0).powi(2))
                .sum::<f64>()
                + t[4..].iter().map(|b| b.powi(3)).sum::<f64>())
        },
        move |t: &[f64]| {
            let dw = t[..4].iter().map(|&w| {
                if w.abs() < 1.0 || (buggy && w > 1.0) {
                    2.0 * w
                } else {
                    0.0
                }
            });
            let db = t[4..].iter().map(|b| 3.0 * b * b);
            Tensors::new(l.clone(), dw.chain(db).collect())
        },
    )
}

/// Near the clamp's edge: correct at θ (every wᵢ inside), wrong once some wᵢ crosses 1.
const THETA: [f64; 6] = [0.97, -0.4, 0.2, 0.95, 0.5, -1.5];

#[test]
fn a_regime_dependent_bug_is_caught_away_from_theta_and_the_point_named() {
    let buggy = clamp_problem(true);
    let at_theta = Checker::new().check(&buggy, &THETA).unwrap();
    assert_eq!(at_theta.verdict, Verdict::Pass, "{at_theta}");
    assert_eq!((at_theta.point, at_theta.points), (0, 1));

    let report = Checker::new().points(8).check(&buggy, &THETA).unwrap();
    assert_eq!(report.verdict, Verdict::Fail, "{report}");
    assert_eq!(report.failing(), ["dw"]);
    assert!(report.point > 0 && report.point < 8, "{report}");
    assert_eq!(
        report.points,
        report.point + 1,
        "stops at the first failing point"
    );
    let sentence = report.verdict();
    assert!(
        sentence.contains(&format!("at point {} of {}", report.point, report.points)),
        "{sentence}"
    );
    assert!(report.to_string().contains("points checked"), "{report}");
    // Reproducible: the same seed finds the same point with the same numbers.
    let again = Checker::new().points(8).check(&buggy, &THETA).unwrap();
    assert_eq!(
        (again.point, again.difference),
        (report.point, report.difference)
    );
}

#[test]
fn a_correct_gradient_passes_at_every_point_and_pays_for_each() {
    let correct = clamp_problem(false);
    let one = Checker::new().check(&correct, &THETA).unwrap();
    let report = Checker::new().points(5).check(&correct, &THETA).unwrap();
    assert_eq!(report.verdict, Verdict::Pass, "{report}");
    assert_eq!((report.point, report.points), (0, 5));
    assert!(
        report.evaluations >= 4 * one.evaluations,
        "{} vs {}",
        report.evaluations,
        one.evaluations
    );
    assert!(
        report.verdict().contains("at all 5 points"),
        "{}",
        report.verdict()
    );
    // Over many seeds: never a false alarm.
    for seed in 0..20 {
        let r = Checker::new()
            .points(4)
            .seed(seed)
            .check(&correct, &THETA)
            .unwrap();
        assert_ne!(r.verdict, Verdict::Fail, "seed {seed}: {r}");
    }
}

#[test]
fn several_points_need_the_problems_own_gradient() {
    let problem = clamp_problem(false);
    let given = Tensors::zeros(
        Layout::new([TensorSpec::new("w", [4]), TensorSpec::new("b", [2])]).unwrap(),
    );
    let checker = Checker::new().points(2);
    for error in [
        checker
            .check_gradient(&problem, &THETA, &given)
            .unwrap_err(),
        checker.oracle(&problem, &THETA).unwrap_err(),
        Checker::new()
            .points(0)
            .check(&problem, &THETA)
            .unwrap_err(),
    ] {
        assert!(
            matches!(error, Error::InvalidSetting { name: "points", .. }),
            "{error}"
        );
    }
}

#[test]
#[should_panic(expected = "at point")]
fn assert_gradient_with_points_names_the_point() {
    gradproof::assert_gradient_with(&Checker::new().points(8), &clamp_problem(true), &THETA);
}
