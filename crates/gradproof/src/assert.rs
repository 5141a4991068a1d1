//! Gradient checks as one-line assertions in `cargo test`: a failure message names the tensor
//! and the element, with both values and the tolerance, e.g.
//! `dW2[1, 3]: analytic 0.53, numeric 0.27 (bound 3e-10)`.

use crate::problem::Problem;
use crate::report::Report;
use crate::settings::Checker;
use crate::verdict::Verdict;

/// Panics unless `problem`'s hand-written gradient agrees with finite differences at `theta`
/// (default [`Checker`]): on a wrong gradient, naming the element, and on an inconclusive check
/// (evidence that cannot decide), with the reason and what to change. Returns the report for further assertions.
///
/// ```
/// use gradproof::{FnProblem, Layout, TensorSpec, Tensors, assert_gradient};
/// let layout = Layout::new([TensorSpec::new("w", [3])])?;
/// let l = layout.clone();
/// // J(w) = Σ sin(wᵢ), ∇J = cos(w)
/// let problem = FnProblem::new(
///     layout,
///     |w| Ok(w.iter().map(|x| x.sin()).sum()),
///     move |w| Tensors::new(l.clone(), w.iter().map(|x| x.cos()).collect()),
/// );
/// assert_gradient(&problem, &[0.1, 1.0, -2.0]);
/// # Ok::<(), gradproof::Error>(())
/// ```
///
/// A wrong gradient panics with the element named:
///
/// ```should_panic
/// # use gradproof::{FnProblem, Layout, TensorSpec, Tensors, assert_gradient};
/// # let layout = Layout::new([TensorSpec::new("w", [3])]).unwrap();
/// # let l = layout.clone();
/// let problem = FnProblem::new(
///     layout,
///     |w| Ok(w.iter().map(|x| x.sin()).sum()),
///     move |w| Tensors::new(l.clone(), w.iter().map(|x| -x.cos()).collect()), // wrong sign
/// );
/// assert_gradient(&problem, &[0.1, 1.0, -2.0]); // panics: "dw[0]: analytic -0.995…, numeric 0.995…"
/// ```
#[track_caller]
pub fn assert_gradient<P: Problem + ?Sized>(problem: &P, theta: &[f64]) -> Report {
    assert_gradient_with(&Checker::new(), problem, theta)
}

/// [`assert_gradient`] with a checker of your own settings.
#[track_caller]
pub fn assert_gradient_with<P: Problem + ?Sized>(
    checker: &Checker,
    problem: &P,
    theta: &[f64],
) -> Report {
    let report = match checker.check(problem, theta) {
        Ok(report) => report,
        Err(error) => panic!("gradient check could not run: {error}"),
    };
    match report.verdict {
        Verdict::Pass => {}
        Verdict::Fail => panic!(
            "gradient check failed:\n  {}\n\n{report}",
            report.failure_lines().join("\n  ")
        ),
        Verdict::Inconclusive => panic!(
            "gradient check inconclusive: {}\n\n{report}",
            report
                .reason
                .as_deref()
                .unwrap_or("the evidence cannot decide")
        ),
    }
    report
}
