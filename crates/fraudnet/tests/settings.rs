//! Every setting a user can pick gives a verdict to trust: the corrected backward pass never
//! fails, the one with the notebook's two bugs never passes, and a failing check names only the
//! tensors the bugs touch (`dW2`, `db1`). Every reference (four methods and dual numbers) × mode
//! × step rule (from the notebook's 1e-7 to a saturating 1e3) × declared precision × number of
//! points, on `gradproof check`'s built-in network (4-5-3-1 on 3 random examples: 630 settings)
//! and on the notebook's test case (540: its cost, written as the notebook's, is not finite at a
//! step of 1e3, where the check would stop with an error naming the point), each checked twice. Inconclusive is allowed
//! anywhere (a step or a precision that cannot decide says so); a verdict that is wrong is not.

use fraudnet::notebook::gradient_check_n_test_case;
use fraudnet::{Bug, MlpProblem};
use gradproof::{Checker, Method, Mode, Precision, Reference, StepRule, Verdict};

#[test]
fn no_setting_fails_the_correct_gradient_or_passes_the_buggy_one_built_in() {
    let (correct, theta) = MlpProblem::random(&[4, 5, 3, 1], 3, 1).unwrap();
    // Its cost is written stably: finite wherever a step takes it.
    assert_eq!(sweep(&correct, theta.values(), &STEPS), (630, 0));
}

#[test]
fn no_setting_fails_the_correct_gradient_or_passes_the_buggy_one_notebook() {
    let case = gradient_check_n_test_case();
    let correct = MlpProblem::new(case.mlp, case.x, case.y).unwrap();
    let theta = case.parameters.values();
    // `log(1 − a)` is infinite once a step saturates the output. The adaptive rule's steps for
    // a declared f32 (central4) or bf16 (Richardson) cost reach that far (up to 100 times the
    // pilot, 4.1 at W2[1, 0] for central4 and f32: its stencil's repeat reaches 16); such a
    // line is differenced from the pilot step instead (8 checks stopped with an error before).
    assert_eq!(sweep(&correct, theta, &STEPS[..6]), (540, 0));
}

/// From the default rules to fixed steps far below and above the natural one.
const STEPS: [StepRule; 7] = [
    StepRule::Scaled(1.0),
    StepRule::Adaptive,
    StepRule::Fixed(1e-7),
    StepRule::Fixed(1e-5),
    StepRule::Fixed(1e-3),
    StepRule::Fixed(1e-2),
    StepRule::Fixed(1e3),
];

/// Checks `correct` and it with the notebook's bugs at `theta` in every setting with `steps`;
/// returns the number of settings and of checks stopped by [`gradproof::Error::NonFinite`] (a
/// cost that is not finite at a point the step rule reached: an error naming the point, never a
/// verdict).
fn sweep(correct: &MlpProblem, theta: &[f64], steps: &[StepRule]) -> (usize, usize) {
    let buggy = correct.clone().with_bugs(Bug::notebook()).unwrap();
    let references = Method::ALL
        .map(Reference::Differences)
        .into_iter()
        .chain([Reference::Dual]);
    let modes = [
        Mode::Exhaustive,
        Mode::Sampled { per_tensor: 3 },
        Mode::Directional { top: 3 },
    ];
    let (mut settings, mut inconclusive, mut not_finite) = (0, [0, 0], 0);
    for reference in references {
        for mode in modes {
            for &step in steps {
                for precision in [None, Some(Precision::F32), Some(Precision::Bf16)] {
                    for points in [1, 3] {
                        let mut checker = Checker::new()
                            .reference(reference)
                            .mode(mode)
                            .step_rule(step)
                            .points(points);
                        if let Some(p) = precision {
                            checker = checker.precision(p);
                        }
                        let setting = format!("{reference} {mode:?} {step} {precision:?} {points}");
                        settings += 1;
                        // A cost not finite where the step took it stops a check with an
                        // error naming the point: counted, never a verdict.
                        let checked = |problem: &MlpProblem| match checker.check(problem, theta) {
                            Err(gradproof::Error::NonFinite { .. }) => None,
                            report => Some(report.unwrap()),
                        };
                        let Some(report) = checked(correct) else {
                            not_finite += 1;
                            continue;
                        };
                        assert_ne!(report.verdict, Verdict::Fail, "{setting}\n{report}");
                        inconclusive[0] += usize::from(report.verdict == Verdict::Inconclusive);
                        let Some(report) = checked(&buggy) else {
                            not_finite += 1;
                            continue;
                        };
                        assert_ne!(report.verdict, Verdict::Pass, "{setting}\n{report}");
                        inconclusive[1] += usize::from(report.verdict == Verdict::Inconclusive);
                        for name in report.failing() {
                            assert!(["dW2", "db1"].contains(&name), "{setting}\n{report}");
                        }
                    }
                }
            }
        }
    }
    println!(
        "{settings} settings: the correct gradient inconclusive in {}, the buggy one in {}; \
         {not_finite} checks stopped by a cost that is not finite where the step took them",
        inconclusive[0], inconclusive[1]
    );
    (settings, not_finite)
}
