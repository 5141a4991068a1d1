//! Integration tests of the checker on closed-form problems: correct gradients pass, every kind of
//! wrong gradient is caught and pinned on the right tensor and element, bad inputs and non-finite
//! values are reported with their location, reports round-trip through JSON, and the numeric
//! gradient does not depend on the thread count.

use std::sync::atomic::{AtomicUsize, Ordering};

use approx::assert_relative_eq;
use gradproof::difference::{norm2, relative_difference};
use gradproof::noise::NoiseStatus;
use gradproof::settings::{NOTEBOOK_EPSILON, NOTEBOOK_THRESHOLD};
use gradproof::{
    Checker, Error, FnProblem, Layout, Method, Mode, Problem, Report, StepRule, TensorSpec,
    Tensors, Verdict,
};

/// A checker with the notebook's fixed step ε = 1e-7 (the library's default is the scaled rule):
/// these tests pin the notebook's numbers.
fn notebook() -> Checker {
    Checker::new().epsilon(NOTEBOOK_EPSILON)
}

// ---------------------------------------------------------------------------------------------
// Problems
// ---------------------------------------------------------------------------------------------

/// How a test spoils the analytic gradient.
#[derive(Clone, Debug)]
enum Mutation {
    /// Leave it alone.
    None,
    /// Multiply one tensor's gradient by a factor.
    Scale(&'static str, f64),
    /// Negate one tensor's gradient.
    Flip(&'static str),
    /// Zero one tensor's gradient.
    Zero(&'static str),
    /// Multiply one element by `1 + relative`.
    Element(&'static str, Vec<usize>, f64),
}

impl Mutation {
    fn apply(&self, g: &mut Tensors) {
        match self {
            Mutation::None => {}
            Mutation::Scale(name, factor) => g.get_mut(name).unwrap().mapv_inplace(|v| v * factor),
            Mutation::Flip(name) => g.get_mut(name).unwrap().mapv_inplace(|v| -v),
            Mutation::Zero(name) => g.get_mut(name).unwrap().fill(0.0),
            Mutation::Element(name, index, relative) => {
                let flat = g.layout().flat_index(name, index).unwrap();
                g.values_mut()[flat] *= 1.0 + relative;
            }
        }
    }

    /// The tensor it spoils, if any.
    fn target(&self) -> Option<&'static str> {
        match self {
            Mutation::None => None,
            Mutation::Scale(n, _) | Mutation::Flip(n) | Mutation::Zero(n) => Some(n),
            Mutation::Element(n, _, _) => Some(n),
        }
    }
}

/// All the ways of spoiling tensor `name`, with `index` the element to nudge.
fn mutations_of(name: &'static str, index: &[usize]) -> Vec<Mutation> {
    vec![
        Mutation::Scale(name, 1.01),
        Mutation::Scale(name, 0.99),
        Mutation::Flip(name),
        Mutation::Zero(name),
        Mutation::Element(name, index.to_vec(), 1e-4),
        Mutation::Element(name, index.to_vec(), -1e-4),
    ]
}

/// `J(w) = ½‖w‖²` over `W1[3, 2]` and `b1[3, 1]`; `∇J = w`, spoiled by `mutation`.
fn half_square(mutation: Mutation) -> impl Problem {
    let layout =
        Layout::new([TensorSpec::new("W1", [3, 2]), TensorSpec::new("b1", [3, 1])]).unwrap();
    let l = layout.clone();
    FnProblem::new(
        layout,
        |w: &[f64]| Ok(0.5 * w.iter().map(|x| x * x).sum::<f64>()),
        move |w: &[f64]| {
            let mut g = Tensors::new(l.clone(), w.to_vec())?;
            mutation.apply(&mut g);
            Ok(g)
        },
    )
}

const HALF_SQUARE_THETA: [f64; 9] = [0.5, -1.25, 2.0, 0.75, -0.3, 1.1, 0.9, -0.6, 1.7];

/// `J(W, b) = ½‖W x + b − y‖²` with `W[2, 3]`, `b[2]`: `∇_W J = r xᵀ`, `∇_b J = r`, `r = Wx + b − y`.
fn least_squares(mutation: Mutation) -> impl Problem {
    const X: [f64; 3] = [0.7, -1.3, 0.4];
    const Y: [f64; 2] = [0.25, -0.8];
    fn residual(t: &[f64]) -> [f64; 2] {
        let mut r = [0.0; 2];
        for (i, ri) in r.iter_mut().enumerate() {
            *ri = (0..3).map(|j| t[3 * i + j] * X[j]).sum::<f64>() + t[6 + i] - Y[i];
        }
        r
    }
    let layout = Layout::new([TensorSpec::new("W", [2, 3]), TensorSpec::new("b", [2])]).unwrap();
    let l = layout.clone();
    FnProblem::new(
        layout,
        |t: &[f64]| Ok(0.5 * residual(t).iter().map(|r| r * r).sum::<f64>()),
        move |t: &[f64]| {
            let r = residual(t);
            let mut values = Vec::with_capacity(8);
            for ri in r {
                values.extend(X.iter().map(|x| ri * x));
            }
            values.extend(r);
            let mut g = Tensors::new(l.clone(), values)?;
            mutation.apply(&mut g);
            Ok(g)
        },
    )
}

const LEAST_SQUARES_THETA: [f64; 8] = [0.3, -0.2, 1.1, -0.9, 0.5, 0.8, 0.1, -0.4];

/// `J(a, b) = a²·b` over two scalars: `∂J/∂a = 2ab`, `∂J/∂b = a²`.
fn a_squared_b(mutation: Mutation) -> impl Problem {
    let layout = Layout::new([TensorSpec::new("a", []), TensorSpec::new("b", [])]).unwrap();
    let l = layout.clone();
    FnProblem::new(
        layout,
        |t: &[f64]| Ok(t[0] * t[0] * t[1]),
        move |t: &[f64]| {
            let mut g = Tensors::new(l.clone(), vec![2.0 * t[0] * t[1], t[0] * t[0]])?;
            mutation.apply(&mut g);
            Ok(g)
        },
    )
}

/// The notebook's 1-D case `J(θ) = θx` with `x = 2`, and a gradient of `dtheta`.
fn theta_x(dtheta: f64) -> impl Problem {
    let layout = Layout::new([TensorSpec::new("theta", [])]).unwrap();
    let l = layout.clone();
    FnProblem::new(
        layout,
        |t: &[f64]| Ok(t[0] * 2.0),
        move |_t: &[f64]| Tensors::new(l.clone(), vec![dtheta]),
    )
}

/// Asserts that the correct gradient passes every check, with tiny differences.
fn assert_passes(report: &Report) {
    assert!(report.passed(), "{report}");
    assert!(report.failing().is_empty(), "{report}");
    assert!(report.difference < 1e-6, "{report}");
    for t in &report.tensors {
        assert!(t.passed, "{report}");
        assert!(t.difference <= t.threshold, "{report}");
        assert!(t.difference < 1e-6, "{report}");
    }
}

/// Asserts the report blames exactly the tensor `mutation` spoils, and for a single-element
/// mutation, that element.
fn assert_caught(report: &Report, mutation: &Mutation) {
    let target = mutation.target().expect("a real mutation");
    let gradient = format!("d{target}");
    assert!(!report.passed(), "{mutation:?} not caught:\n{report}");
    assert_eq!(
        report.failing(),
        [gradient.as_str()],
        "{mutation:?}:\n{report}"
    );
    assert!(!report.notebook_passed(), "{mutation:?}:\n{report}");
    for t in &report.tensors {
        assert_eq!(t.passed, t.name != target, "{mutation:?}:\n{report}");
        if t.name == target {
            assert!(t.difference > t.threshold, "{mutation:?}:\n{report}");
        }
    }
    if let Mutation::Element(_, index, relative) = mutation {
        let row = report.tensors.iter().find(|t| t.name == target).unwrap();
        let worst = row.worst().expect("a non-empty tensor has a worst element");
        assert_eq!(&worst.index, index, "{mutation:?}:\n{report}");
        // The worst element's analytic value is the spoiled one.
        assert_relative_eq!(
            worst.analytic,
            worst.numeric * (1.0 + relative),
            max_relative = 1e-6
        );
        assert_eq!(
            row.max_abs_error,
            Some((worst.analytic - worst.numeric).abs())
        );
    }
    assert!(report.verdict().contains("WRONG"), "{}", report.verdict());
    assert!(report.verdict().contains(&gradient), "{}", report.verdict());
}

// ---------------------------------------------------------------------------------------------
// Closed-form problems
// ---------------------------------------------------------------------------------------------

#[test]
fn half_square_correct_gradient_passes() {
    let report = notebook()
        .check(&half_square(Mutation::None), &HALF_SQUARE_THETA)
        .unwrap();
    assert_passes(&report);
    assert_eq!(report.reference.name(), "central");
    assert_eq!(report.parameters, 9);
    assert_eq!(report.epsilon, NOTEBOOK_EPSILON);
    assert_eq!(report.notebook_threshold, NOTEBOOK_THRESHOLD);
    let expected_cost = 0.5 * HALF_SQUARE_THETA.iter().map(|x| x * x).sum::<f64>();
    assert_eq!(report.cost, expected_cost);
    let names: Vec<(&str, &str, &[usize])> = report
        .tensors
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.gradient_name.as_str(),
                t.shape.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [("W1", "dW1", &[3, 2][..]), ("b1", "db1", &[3, 1][..])]
    );
    assert!(report.noise > 0.0 && report.noise < 1e-12, "{report}");
    assert!(report.notebook_passed(), "{report}");
}

#[test]
fn half_square_wrong_gradients_are_caught() {
    let mut mutations = mutations_of("W1", &[1, 0]);
    mutations.extend(mutations_of("b1", &[2, 0]));
    mutations.push(Mutation::Element("W1", vec![2, 1], 1e-4));
    mutations.push(Mutation::Element("b1", vec![0, 0], 1e-4));
    for mutation in mutations {
        let report = notebook()
            .check(&half_square(mutation.clone()), &HALF_SQUARE_THETA)
            .unwrap();
        assert_caught(&report, &mutation);
    }
}

#[test]
fn least_squares_correct_and_wrong_gradients() {
    assert_passes(
        &notebook()
            .check(&least_squares(Mutation::None), &LEAST_SQUARES_THETA)
            .unwrap(),
    );
    let mut mutations = mutations_of("W", &[1, 2]);
    mutations.extend(mutations_of("b", &[0]));
    mutations.push(Mutation::Element("W", vec![0, 1], 1e-4));
    for mutation in mutations {
        let report = notebook()
            .check(&least_squares(mutation.clone()), &LEAST_SQUARES_THETA)
            .unwrap();
        assert_caught(&report, &mutation);
    }
}

#[test]
fn a_squared_b_correct_and_wrong_gradients() {
    let theta = [1.5, -0.5];
    let report = notebook()
        .check(&a_squared_b(Mutation::None), &theta)
        .unwrap();
    assert_passes(&report);
    assert_eq!(report.cost, 1.5 * 1.5 * -0.5);
    let worst_a = report.tensors[0].worst().unwrap();
    assert_eq!(worst_a.index, Vec::<usize>::new());
    assert_eq!(worst_a.analytic, -1.5);
    assert_relative_eq!(worst_a.numeric, -1.5, max_relative = 1e-7);

    for name in ["a", "b"] {
        for mutation in mutations_of(name, &[]) {
            let report = notebook()
                .check(&a_squared_b(mutation.clone()), &theta)
                .unwrap();
            assert_caught(&report, &mutation);
        }
    }
}

#[test]
fn theta_x_one_dimensional() {
    let report = notebook().check(&theta_x(2.0), &[4.0]).unwrap();
    assert_passes(&report);
    assert_eq!(report.cost, 8.0);
    assert_eq!(report.tensors[0].gradient_name, "dtheta");

    for wrong in [2.02, 1.98, -2.0, 0.0, 2.0 * (1.0 + 1e-4)] {
        let report = notebook().check(&theta_x(wrong), &[4.0]).unwrap();
        assert!(!report.passed(), "dtheta = {wrong}:\n{report}");
        assert_eq!(report.failing(), ["dtheta"]);
    }
}

#[test]
fn check_gradient_takes_an_external_gradient() {
    let problem = a_squared_b(Mutation::None);
    let theta = [1.5, -0.5];
    let good = Tensors::new(problem.layout().clone(), vec![-1.5, 2.25]).unwrap();
    assert_passes(&notebook().check_gradient(&problem, &theta, &good).unwrap());
    let bad = Tensors::new(problem.layout().clone(), vec![-1.5, 2.5]).unwrap();
    let report = notebook().check_gradient(&problem, &theta, &bad).unwrap();
    assert_eq!(report.failing(), ["db"]);
}

#[test]
fn evaluations_counts_every_cost_call() {
    let calls = AtomicUsize::new(0);
    let inner = half_square(Mutation::None);
    let problem = FnProblem::new(
        inner.layout().clone(),
        |t: &[f64]| {
            calls.fetch_add(1, Ordering::Relaxed);
            inner.cost(t)
        },
        |t: &[f64]| inner.gradient(t),
    );
    let report = notebook().check(&problem, &HALF_SQUARE_THETA).unwrap();
    assert_eq!(report.evaluations, calls.load(Ordering::Relaxed));
    assert!(report.evaluations > 1 + 2 * 9, "{}", report.evaluations);
}

/// Large parameters push the roundoff of the difference quotient above the notebook's 1e-7: the
/// seed verdict fails, the noise-aware verdict knows it is roundoff and passes, and a real error
/// is still caught.
#[test]
fn roundoff_above_the_notebook_threshold_is_not_a_wrong_gradient() {
    let theta: Vec<f64> = HALF_SQUARE_THETA.iter().map(|x| x * 3e3).collect();
    let report = notebook()
        .check(&half_square(Mutation::None), &theta)
        .unwrap();
    assert!(!report.notebook_passed(), "{report}");
    assert!(report.passed(), "{report}");
    assert!(report.difference <= report.noise_threshold, "{report}");
    assert!(
        report.verdict().contains("roundoff"),
        "{}",
        report.verdict()
    );

    let mutation = Mutation::Scale("b1", 1.01);
    let report = notebook()
        .check(&half_square(mutation.clone()), &theta)
        .unwrap();
    assert_caught(&report, &mutation);
}

#[test]
fn an_empty_tensor_passes_and_has_no_worst_element() {
    let layout = Layout::new([TensorSpec::new("w", [2]), TensorSpec::new("e", [0, 3])]).unwrap();
    let l = layout.clone();
    let problem = FnProblem::new(
        layout,
        |t: &[f64]| Ok(t[0] * t[1]),
        move |t: &[f64]| Tensors::new(l.clone(), vec![t[1], t[0]]),
    );
    let report = notebook().check(&problem, &[0.5, 2.0]).unwrap();
    assert_passes(&report);
    assert_eq!(report.tensors[1].gradient_name, "de");
    assert_eq!(report.tensors[1].worst(), None);
    assert_eq!(report.tensors[1].max_abs_error, None);
}

// ---------------------------------------------------------------------------------------------
// relative_difference
// ---------------------------------------------------------------------------------------------

#[test]
fn relative_difference_values() {
    // 0/0 is defined as 0.
    assert_eq!(relative_difference(&[], &[]), 0.0);
    assert_eq!(relative_difference(&[0.0, 0.0, 0.0], &[0.0, 0.0, 0.0]), 0.0);
    // Identical gradients.
    assert_eq!(
        relative_difference(&[1.0, -2.0, 3.5], &[1.0, -2.0, 3.5]),
        0.0
    );
    // Opposite gradients: ‖2g‖ / 2‖g‖.
    assert_eq!(relative_difference(&[1.0], &[-1.0]), 1.0);
    assert_relative_eq!(relative_difference(&[3.0, -4.0], &[-3.0, 4.0]), 1.0);
    // One side zero.
    assert_eq!(relative_difference(&[0.0, 0.0], &[3.0, 4.0]), 1.0);
    // By hand: g = (1, 2), ĝ = (1, 3): ‖(0, −1)‖ / (√5 + √10).
    let expected = 1.0 / (5f64.sqrt() + 10f64.sqrt());
    assert_relative_eq!(
        relative_difference(&[1.0, 2.0], &[1.0, 3.0]),
        expected,
        max_relative = 1e-15
    );
    // g = (3, 4), ĝ = (3, 4.5): 0.5 / (5 + √29.25).
    assert_relative_eq!(
        relative_difference(&[3.0, 4.0], &[3.0, 4.5]),
        0.5 / (5.0 + 29.25f64.sqrt()),
        max_relative = 1e-15
    );
    // Scale invariant, and neither overflows nor underflows.
    for scale in [1e-300, 1e-150, 1e150, 1e300] {
        assert_relative_eq!(
            relative_difference(&[scale, 2.0 * scale], &[scale, 3.0 * scale]),
            expected,
            max_relative = 1e-14
        );
    }
    assert_eq!(norm2(&[3.0, 4.0]), 5.0);
    assert_eq!(norm2(&[]), 0.0);
    assert_relative_eq!(norm2(&[3e-300, 4e-300]), 5e-300, max_relative = 1e-15);
}

#[test]
#[should_panic(expected = "different lengths")]
fn relative_difference_of_different_lengths_panics() {
    relative_difference(&[1.0, 2.0], &[1.0]);
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_settings_are_rejected() {
    let bad = [
        0.0,
        -0.0,
        -1e-7,
        -1.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for value in bad {
        for (setting, result) in [
            ("epsilon", Checker::new().epsilon(value)),
            ("threshold", Checker::new().threshold(value)),
        ] {
            // The builder takes any value; the check refuses it before evaluating anything.
            let err = result
                .check(&theta_x(2.0), &[4.0])
                .expect_err(&format!("{setting} = {value} accepted"));
            assert!(
                matches!(&err, Error::InvalidSetting { name, .. } if *name == setting),
                "{err:?}"
            );
            let message = err.to_string();
            assert!(message.contains(setting), "{message}");
            assert!(message.contains("finite and > 0"), "{message}");
            assert!(message.contains(&value.to_string()), "{message}");
        }
    }

    let checker = Checker::new().epsilon(1e-5).threshold(1e-3);
    assert_eq!(checker.step(), 1e-5);
    assert_eq!(checker.notebook_threshold(), 1e-3);
    let report = checker.check(&theta_x(2.0), &[4.0]).unwrap();
    assert_eq!(report.epsilon, 1e-5);
    assert_eq!(report.notebook_threshold, 1e-3);

    assert_eq!(Checker::default(), Checker::new());
    // The default step rule is the CLI's: scaled, c = 1 (ε_mach^(1/3) at |θᵢ| ≤ 1).
    assert_eq!(
        Checker::new().step(),
        StepRule::Scaled(1.0).step(gradproof::Method::Central, 0.0)
    );
    assert_eq!(Checker::new().epsilon(NOTEBOOK_EPSILON).step(), 1e-7);
    assert_eq!(Checker::new().notebook_threshold(), NOTEBOOK_THRESHOLD);
}

// ---------------------------------------------------------------------------------------------
// Non-finite values and bad inputs
// ---------------------------------------------------------------------------------------------

/// Layout `W1[2, 3], b1[2]` and a point in it.
fn small_layout() -> Layout {
    Layout::new([TensorSpec::new("W1", [2, 3]), TensorSpec::new("b1", [2])]).unwrap()
}

const SMALL_THETA: [f64; 8] = [0.4, -0.7, 1.2, 0.3, -1.5, 0.9, 0.2, -0.6];

/// `J = ½‖θ‖²` over [`small_layout`], except where `cost_override` says otherwise.
fn small_problem(
    cost_override: impl Fn(&[f64]) -> Option<f64> + Sync,
    gradient_override: impl Fn(&mut Tensors) + Sync,
) -> impl Problem {
    let l = small_layout();
    FnProblem::new(
        small_layout(),
        move |t: &[f64]| {
            Ok(cost_override(t).unwrap_or_else(|| 0.5 * t.iter().map(|x| x * x).sum::<f64>()))
        },
        move |t: &[f64]| {
            let mut g = Tensors::new(l.clone(), t.to_vec())?;
            gradient_override(&mut g);
            Ok(g)
        },
    )
}

/// The check's error message, asserting it is `Error::NonFinite`.
fn non_finite_message(result: Result<Report, Error>) -> String {
    let err = result.expect_err("a non-finite value must be an error");
    assert!(matches!(err, Error::NonFinite { .. }), "{err:?}");
    err.to_string()
}

fn assert_contains(message: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            message.contains(needle),
            "{message:?} does not contain {needle:?}"
        );
    }
}

#[test]
fn nan_cost_when_one_coordinate_is_perturbed_upward() {
    // W1[0, 1] is flat index 1.
    let problem = small_problem(
        |t| (t[1] > SMALL_THETA[1] + NOTEBOOK_EPSILON / 2.0).then_some(f64::NAN),
        |_| {},
    );
    let message = non_finite_message(notebook().check(&problem, &SMALL_THETA));
    assert_contains(&message, &["cost", "NaN", "W1[0, 1] + ε", "1e-7"]);
    assert!(!message.contains('−'), "{message}");
}

#[test]
fn infinite_cost_when_one_coordinate_is_perturbed_downward() {
    // b1[1] is flat index 7.
    let problem = small_problem(
        |t| (t[7] < SMALL_THETA[7] - NOTEBOOK_EPSILON / 2.0).then_some(f64::NEG_INFINITY),
        |_| {},
    );
    let message = non_finite_message(notebook().check(&problem, &SMALL_THETA));
    assert_contains(&message, &["cost", "-inf", "b1[1] − ε"]);
}

#[test]
fn the_first_failing_coordinate_is_reported_whatever_the_thread_count() {
    // NaN when W1[1, 2] (flat 5) or b1[0] (flat 6) or W1[0, 0] (flat 0) moves down.
    let problem = small_problem(
        |t| {
            [0, 5, 6]
                .iter()
                .any(|&i| t[i] < SMALL_THETA[i] - NOTEBOOK_EPSILON / 2.0)
                .then_some(f64::NAN)
        },
        |_| {},
    );
    for threads in [1, 2, 3, 8] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let message = non_finite_message(pool.install(|| notebook().check(&problem, &SMALL_THETA)));
        assert_contains(&message, &["W1[0, 0] − ε", "NaN"]);
        let err = pool
            .install(|| notebook().numeric_gradient(&problem, &SMALL_THETA))
            .unwrap_err();
        assert_eq!(err.to_string(), message, "{threads} threads");
    }
}

#[test]
fn nan_cost_at_the_unperturbed_point() {
    let problem = small_problem(|t| (t == SMALL_THETA).then_some(f64::NAN), |_| {});
    let message = non_finite_message(notebook().check(&problem, &SMALL_THETA));
    assert_contains(&message, &["cost is NaN", "unperturbed"]);
}

#[test]
fn nan_cost_while_measuring_the_noise() {
    // Only the noise measurement moves every coordinate at once (by far less than ε).
    let problem = small_problem(
        |t| {
            let moved = t.iter().zip(&SMALL_THETA).all(|(a, b)| a != b);
            let near = t
                .iter()
                .zip(&SMALL_THETA)
                .all(|(a, b)| (a - b).abs() < NOTEBOOK_EPSILON / 10.0);
            (moved && near).then_some(f64::NAN)
        },
        |_| {},
    );
    // The numeric gradient alone is fine...
    assert!(notebook().numeric_gradient(&problem, &SMALL_THETA).is_ok());
    // ...the check is not, and says where.
    let message = non_finite_message(notebook().check(&problem, &SMALL_THETA));
    assert_contains(&message, &["cost is NaN", "noise"]);
}

#[test]
fn non_finite_gradient_names_the_element() {
    type Case = (usize, f64, &'static str);
    let cases: [Case; 4] = [
        (3, f64::INFINITY, "gradient W1[1, 0] is inf"),
        (6, f64::NEG_INFINITY, "gradient b1[0] is -inf"),
        (2, f64::NAN, "gradient W1[0, 2] is NaN"),
        (7, f64::NAN, "gradient b1[1] is NaN"),
    ];
    for (flat, value, expected) in cases {
        let problem = small_problem(|_| None, move |g| g.values_mut()[flat] = value);
        let message = non_finite_message(notebook().check(&problem, &SMALL_THETA));
        assert_contains(&message, &[expected]);
    }
}

#[test]
fn non_finite_theta_names_the_parameter() {
    // A gradient that does not depend on θ, so only θ itself is non-finite.
    let problem = small_problem(|_| None, |g| g.values_mut().fill(0.0));
    for (flat, value, expected) in NON_FINITE_THETA {
        let mut theta = SMALL_THETA;
        theta[flat] = value;
        let message = non_finite_message(notebook().check(&problem, &theta));
        assert_contains(&message, &[expected, "in the parameters"]);
        let good = Tensors::zeros(small_layout());
        let message = non_finite_message(notebook().check_gradient(&problem, &theta, &good));
        assert_contains(&message, &[expected, "in the parameters"]);
    }
}

/// Non-finite entries of θ and the message that must name them.
const NON_FINITE_THETA: [(usize, f64, &str); 3] = [
    (4, f64::NAN, "parameter W1[1, 1] is NaN"),
    (7, f64::INFINITY, "parameter b1[1] is inf"),
    (0, f64::NEG_INFINITY, "parameter W1[0, 0] is -inf"),
];

/// The usual case: the model's gradient at a non-finite θ is itself non-finite (here ∇J = θ).
/// The cause is θ, so θ is what the error must name, not the gradient it poisoned.
#[test]
fn non_finite_theta_is_blamed_before_the_gradient_it_poisons() {
    let problem = small_problem(|_| None, |_| {});
    for (flat, value, expected) in NON_FINITE_THETA {
        let mut theta = SMALL_THETA;
        theta[flat] = value;
        let message = non_finite_message(notebook().check(&problem, &theta));
        assert_contains(&message, &[expected]);
    }
}

#[test]
fn a_model_error_is_passed_through() {
    let layout = small_layout();
    let problem = FnProblem::new(
        layout.clone(),
        |_t: &[f64]| Err(Error::model("weights not loaded")),
        move |_t: &[f64]| Ok(Tensors::zeros(layout.clone())),
    );
    let err = notebook().check(&problem, &SMALL_THETA).unwrap_err();
    assert!(matches!(err, Error::Model(_)), "{err:?}");
    assert_eq!(err.to_string(), "the model failed: weights not loaded");
}

#[test]
fn gradient_layout_mismatch_names_the_tensor_and_both_shapes() {
    let wrong =
        Layout::new([TensorSpec::new("W1", [2, 3]), TensorSpec::new("b1", [2, 1])]).unwrap();
    let problem = FnProblem::new(
        small_layout(),
        |t: &[f64]| Ok(0.5 * t.iter().map(|x| x * x).sum::<f64>()),
        move |t: &[f64]| Tensors::new(wrong.clone(), t.to_vec()),
    );
    let err = notebook().check(&problem, &SMALL_THETA).unwrap_err();
    assert!(matches!(err, Error::LayoutMismatch { .. }), "{err:?}");
    assert_contains(&err.to_string(), &["'b1'", "[2, 1]", "[2]"]);

    let renamed = Layout::new([TensorSpec::new("W1", [2, 3]), TensorSpec::new("c1", [2])]).unwrap();
    let problem = FnProblem::new(
        small_layout(),
        |t: &[f64]| Ok(0.5 * t.iter().map(|x| x * x).sum::<f64>()),
        move |t: &[f64]| Tensors::new(renamed.clone(), t.to_vec()),
    );
    let err = notebook().check(&problem, &SMALL_THETA).unwrap_err();
    assert!(matches!(err, Error::LayoutMismatch { .. }), "{err:?}");
    assert_contains(&err.to_string(), &["'c1'", "'b1'"]);
}

#[test]
fn theta_of_the_wrong_length() {
    let problem = small_problem(|_| None, |_| {});
    for len in [0, 5, 9] {
        let theta = vec![0.5; len];
        let expected = format!("parameters θ has {len} values but the layout holds 8");
        for err in [
            notebook().check(&problem, &theta).unwrap_err(),
            notebook()
                .check_gradient(&problem, &theta, &Tensors::zeros(small_layout()))
                .unwrap_err(),
            notebook().numeric_gradient(&problem, &theta).unwrap_err(),
        ] {
            assert!(
                matches!(err, Error::LengthMismatch { expected: 8, found, .. } if found == len),
                "{err:?}"
            );
            assert_contains(&err.to_string(), &[&expected, "W1[2, 3], b1[2]"]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Report output
// ---------------------------------------------------------------------------------------------

/// How many representable doubles lie between `a` and `b` (same sign assumed).
fn ulps_apart(a: f64, b: f64) -> u64 {
    assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{a} vs {b}");
    a.to_bits().abs_diff(b.to_bits())
}

/// Asserts two JSON values are equal, except that floats may differ by one ulp: serde_json
/// (without its `float_roundtrip` feature, which this workspace does not enable) parses some
/// shortest-form decimals to a neighbour of the written double.
fn assert_json_close(back: &serde_json::Value, original: &serde_json::Value, path: &str) {
    use serde_json::Value;
    match (back, original) {
        (Value::Number(b), Value::Number(o)) if o.is_f64() => {
            let (b, o) = (b.as_f64().unwrap(), o.as_f64().unwrap());
            assert!(ulps_apart(b, o) <= 1, "{path}: {b:e} vs {o:e}");
        }
        (Value::Array(b), Value::Array(o)) => {
            assert_eq!(b.len(), o.len(), "{path}");
            for (k, (b, o)) in b.iter().zip(o).enumerate() {
                assert_json_close(b, o, &format!("{path}[{k}]"));
            }
        }
        (Value::Object(b), Value::Object(o)) => {
            assert_eq!(
                b.keys().collect::<Vec<_>>(),
                o.keys().collect::<Vec<_>>(),
                "{path}"
            );
            for (key, o) in o {
                assert_json_close(&b[key], o, &format!("{path}.{key}"));
            }
        }
        (b, o) => assert_eq!(b, o, "{path}"),
    }
}

#[test]
fn report_round_trips_through_json() {
    for mutation in [
        Mutation::None,
        Mutation::Flip("W"),
        Mutation::Element("b", vec![1], 1e-4),
    ] {
        let report = notebook()
            .check(&least_squares(mutation), &LEAST_SQUARES_THETA)
            .unwrap();
        // Through a JSON value (no decimal text): exactly equal.
        let value = serde_json::to_value(&report).unwrap();
        let back: Report = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(back, report);
        // Through JSON text: equal up to serde_json's float parsing.
        let json = serde_json::to_string(&report).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_json_close(&serde_json::to_value(&back).unwrap(), &value, "report");
        assert_eq!(back.passed(), report.passed());
        assert_eq!(back.failing(), report.failing());
        assert_eq!(
            back.tensors[0].worst().unwrap().index,
            report.tensors[0].worst().unwrap().index
        );

        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["reference"], "central");
        assert_eq!(value["parameters"], 8);
        assert_eq!(value["tensors"][0]["gradient_name"], "dW");
        assert_eq!(value["tensors"][1]["gradient_name"], "db");
        assert_eq!(value["tensors"][0]["shape"], serde_json::json!([2, 3]));
        assert!(
            value["noise_status"].is_string() || value["noise_status"].is_object(),
            "{json}"
        );
    }
    // The noise status round-trips in every form.
    for status in [
        NoiseStatus::Measured { level: 3 },
        NoiseStatus::Constant,
        NoiseStatus::Unsettled,
    ] {
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(
            serde_json::from_str::<NoiseStatus>(&json).unwrap(),
            status,
            "{json}"
        );
    }
}

#[test]
fn report_display_names_every_gradient_and_marks_wrong_ones() {
    let report = notebook()
        .check(
            &half_square(Mutation::Scale("b1", 1.01)),
            &HALF_SQUARE_THETA,
        )
        .unwrap();
    let text = report.to_string();
    let row = |gradient: &str| {
        text.lines()
            .find(|line| line.trim_start().starts_with(&format!("{gradient} ")))
            .unwrap_or_else(|| panic!("no row for {gradient} in\n{text}"))
            .to_string()
    };
    let (w1, b1) = (row("dW1"), row("db1"));
    assert!(b1.contains("WRONG"), "{text}");
    assert!(b1.contains("[3, 1]"), "{text}");
    assert!(!w1.contains("WRONG"), "{text}");
    assert!(w1.contains("ok"), "{text}");
    assert!(w1.contains("[3, 2]"), "{text}");
    assert!(text.contains("the gradient is WRONG in db1"), "{text}");
    assert!(text.contains("9 parameters"), "{text}");
    assert!(text.ends_with(&report.verdict()), "{text}");

    let correct = notebook()
        .check(&half_square(Mutation::None), &HALF_SQUARE_THETA)
        .unwrap()
        .to_string();
    assert!(
        correct.contains("dW1") && correct.contains("db1"),
        "{correct}"
    );
    assert!(!correct.contains("WRONG"), "{correct}");
    assert!(correct.contains("the gradient is correct"), "{correct}");
}

// ---------------------------------------------------------------------------------------------
// Thread-count independence
// ---------------------------------------------------------------------------------------------

/// A cost over a few hundred parameters whose value is sensitive to the last bit of every input.
fn wiggly() -> impl Problem {
    let layout = Layout::new([
        TensorSpec::new("W1", [16, 12]),
        TensorSpec::new("b1", [16, 1]),
        TensorSpec::new("W2", [3, 16]),
    ])
    .unwrap();
    let l = layout.clone();
    FnProblem::new(
        layout,
        |t: &[f64]| {
            Ok(t.iter()
                .enumerate()
                .map(|(i, x)| (x * (1.0 + i as f64 / 7.0)).sin() * x.exp() / 3.0)
                .sum::<f64>())
        },
        move |t: &[f64]| {
            let g = t
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let c = 1.0 + i as f64 / 7.0;
                    ((x * c).cos() * c + (x * c).sin()) * x.exp() / 3.0
                })
                .collect();
            Tensors::new(l.clone(), g)
        },
    )
}

#[test]
fn numeric_gradient_does_not_depend_on_the_thread_count() {
    let problem = wiggly();
    let n = problem.layout().len();
    let theta: Vec<f64> = (0..n)
        .map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0)
        .collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            assert_eq!(rayon::current_num_threads(), threads);
            let numeric = notebook().numeric_gradient(&problem, &theta).unwrap();
            let report = notebook().check(&problem, &theta).unwrap();
            (numeric, report)
        })
    };
    let (one, report_one) = run(1);
    let (two, report_two) = run(2);
    let (four, _) = run(4);
    assert_eq!(one.len(), n);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
    assert_eq!(bits(&one), bits(&two));
    assert_eq!(bits(&one), bits(&four));
    // The numeric gradient is a real one (the analytic gradient agrees), not a constant.
    assert_passes(&report_one);
    // Whole reports agree too, apart from the wall time.
    let (mut a, mut b) = (report_one, report_two);
    a.seconds = 0.0;
    b.seconds = 0.0;
    assert_eq!(a, b);
}

#[test]
fn an_element_is_unresolved_only_when_its_bound_reaches_its_tensors_scale() {
    // J = 1 + 1e-12·t₀ + t₁² + 1e-12·u: the slopes 1e-12 are far below what a difference
    // quotient of a cost of size 1 resolves at ε = 1e-7 (its roundoff is ~1e-9). Beside t₁'s
    // slope 1.4 that bound is small: t₀ agrees (an exact zero of a dead unit is the same case);
    // u has nothing larger beside it, so it stays unresolved and the check cannot decide.
    let layout = Layout::new([TensorSpec::new("t", [2]), TensorSpec::new("u", [1])]).unwrap();
    let l = layout.clone();
    let problem = FnProblem::new(
        layout,
        |t| Ok(1.0 + 1e-12 * t[0] + t[1] * t[1] + 1e-12 * t[2]),
        move |t| Tensors::new(l.clone(), vec![1e-12, 2.0 * t[1], 1e-12]),
    );
    let report = notebook().check(&problem, &[0.3, 0.7, 0.2]).unwrap();
    assert_eq!(report.verdict, gradproof::Verdict::Inconclusive, "{report}");
    let counts = |k: usize| {
        let row = &report.tensors[k];
        (row.checked, row.agree, row.unresolved, row.disagree)
    };
    assert_eq!(counts(0), (2, 2, 0, 0), "{report}");
    assert_eq!(counts(1), (1, 0, 1, 0), "{report}");
    assert!(report.to_string().contains("1 unresolved"), "{report}");
    assert!(
        report.reason.as_deref().is_some_and(|r| r.contains("du")),
        "{report}"
    );
}

/// J(a, b) = 3·max(a, 0) + b², a cost with a kink at a = 0 and no signature: the generic
/// one-sided-slope test must find it.
fn relu_like(analytic_slope_at_zero: f64) -> impl Problem {
    let layout = Layout::new([TensorSpec::new("a", []), TensorSpec::new("b", [])]).unwrap();
    let l = layout.clone();
    FnProblem::new(
        layout,
        |t| Ok(3.0 * t[0].max(0.0) + t[1] * t[1]),
        move |t| {
            let slope = if t[0] > 0.0 {
                3.0
            } else if t[0] < 0.0 {
                0.0
            } else {
                analytic_slope_at_zero
            };
            Tensors::new(l.clone(), vec![slope, 2.0 * t[1]])
        },
    )
}

#[test]
fn a_kink_without_a_signature_is_found_by_the_one_sided_slopes() {
    for step in [StepRule::Fixed(1e-7), StepRule::Scaled(1.0)] {
        let checker = notebook().step_rule(step);
        // Exactly on the kink: no step avoids it; checked against the interval [0, 3] of its
        // one-sided derivatives, so either side (or anything between) passes, and a slope
        // outside it fails. (The midpoint agrees with the central difference at once, so it
        // is never tested for a kink.)
        let report = checker.check(&relu_like(1.5), &[0.0, 0.5]).unwrap();
        assert!(report.passed(), "{step:?}\n{report}");
        for slope in [0.0, 3.0] {
            let report = checker.check(&relu_like(slope), &[0.0, 0.5]).unwrap();
            assert!(report.passed(), "{step:?}\n{report}");
            assert_eq!(report.tensors[0].kink, 1, "{step:?}\n{report}");
        }
        let report = checker.check(&relu_like(4.0), &[0.0, 0.5]).unwrap();
        assert_eq!(report.failing(), ["da"], "{step:?}\n{report}");
        assert_eq!(report.tensors[0].kink_outside, 1, "{step:?}\n{report}");
        // Just off the kink: a smaller step resolves it, and a wrong slope is caught there.
        let report = checker.check(&relu_like(0.0), &[1e-8, 0.5]).unwrap();
        assert_eq!(report.tensors[0].kink, 0, "{step:?}\n{report}");
        assert!(report.passed(), "{step:?}\n{report}");
    }
    // Smooth costs never look kinked.
    let report = notebook().check(&relu_like(0.0), &[0.7, 0.5]).unwrap();
    assert_eq!(report.tensors.iter().map(|t| t.kink).sum::<usize>(), 0);
}

/// `10a² + 0.1·max(a, 0)`: a small kink under a strong curvature, the hand-written slope at
/// `a = 0` given.
fn kink_under_curvature(slope_at_zero: f64) -> impl Problem {
    let layout = Layout::new([TensorSpec::new("a", [])]).unwrap();
    let l = layout.clone();
    FnProblem::new(
        layout,
        |t| Ok(10.0 * t[0] * t[0] + 0.1 * t[0].max(0.0)),
        move |t| {
            let slope = match t[0] {
                a if a > 0.0 => 0.1,
                a if a < 0.0 => 0.0,
                _ => slope_at_zero,
            };
            Tensors::new(l.clone(), vec![20.0 * t[0] + slope])
        },
    )
}

#[test]
fn a_kink_hidden_by_the_curvature_is_found_at_a_third_offset() {
    // At a step of 0.03 the gap between the one-sided slopes grows mostly with the curvature
    // (20·h against a jump of 0.1), so the two nearest offsets cannot tell the kink from the
    // smooth part's next term; the gap at the next offset can. Both conventions (and the
    // midpoint) then pass against the one-sided derivatives, and a slope beyond them fails.
    for method in [Method::Central, Method::Central4, Method::Richardson] {
        let checker = Checker::new()
            .method(method)
            .step_rule(StepRule::Fixed(0.03));
        for slope in [0.0, 0.05, 0.1] {
            let report = checker.check(&kink_under_curvature(slope), &[0.0]).unwrap();
            assert!(report.passed(), "{method} {slope}\n{report}");
            // The midpoint agrees with the symmetric difference at once: no kink test.
            let kinks = usize::from(slope != 0.05);
            assert_eq!(report.tensors[0].kink, kinks, "{method} {slope}\n{report}");
        }
        let report = checker.check(&kink_under_curvature(0.3), &[0.0]).unwrap();
        assert_eq!(report.failing(), ["da"], "{method}\n{report}");
    }
}

/// `1 + 3·max(a, 0) + jump·max(−(a + 0.012567), 0)` computed in `f32`: a kink at `a = 0` and a
/// second one just behind it, the hand-written slope at `a = 0` given.
fn kink_behind_a_kink(jump: f64, slope_at_zero: f64) -> impl Problem {
    const BEHIND: f64 = 0.012567;
    let layout = Layout::new([TensorSpec::new("a", [])]).unwrap();
    let l = layout.clone();
    FnProblem::new(
        layout,
        move |t: &[f64]| {
            let a = t[0] as f32;
            let behind = (-(a + BEHIND as f32)).max(0.0);
            Ok(f64::from(1.0 + 3.0 * a.max(0.0) + jump as f32 * behind))
        },
        move |t| {
            let slope = match t[0] {
                a if a > 0.0 => 3.0,
                a if a < -BEHIND => -jump,
                a if a < 0.0 => 0.0,
                _ => slope_at_zero,
            };
            Tensors::new(l.clone(), vec![slope])
        },
    )
}

#[test]
fn a_one_sided_stencil_that_reaches_another_kink_is_discredited_by_a_smaller_step() {
    // Richardson's one-sided stencil on the left of θ = 0 reaches 6h = 0.06 and its truncation
    // estimate (the stencil again at 2h) 0.12: both straddle the kink at −0.012567, where
    // their values agree by chance (to 0.2 % of the jump) but are 0.54 of the jump off the
    // left derivative 0. The next step (h/16) reaches neither kink and disagrees beyond both
    // bounds, so it is the one taken, although the f32 noise makes its bound the larger. Both
    // conventions pass and values just outside [0, 3] fail, whichever way the error went.
    let checker = Checker::new()
        .method(Method::Richardson)
        .step_rule(StepRule::Fixed(0.01))
        .precision(gradproof::Precision::F32);
    for jump in [1.0, -1.0] {
        for slope in [0.0, 1.5, 3.0] {
            let report = checker
                .check(&kink_behind_a_kink(jump, slope), &[0.0])
                .unwrap();
            assert!(report.passed(), "{jump} {slope}\n{report}");
            // The midpoint agrees with the symmetric difference at once: no kink test.
            let kinks = usize::from(slope != 1.5);
            assert_eq!(report.tensors[0].kink, kinks, "{jump} {slope}\n{report}");
        }
        for slope in [-0.3, 3.3] {
            let report = checker
                .check(&kink_behind_a_kink(jump, slope), &[0.0])
                .unwrap();
            assert_eq!(report.failing(), ["da"], "{jump} {slope}\n{report}");
        }
    }
}

/// `3·max(a, 0) + b²` with the signature `a ≥ 0` (θ on the kink shares the right piece's), the
/// hand-written slope at `a = 0` given, and
/// what it says of θ sitting on its kink (`on_kink`).
struct SignedRelu {
    layout: Layout,
    slope_at_zero: f64,
    on_kink: Option<bool>,
}

impl SignedRelu {
    fn new(slope_at_zero: f64, on_kink: Option<bool>) -> SignedRelu {
        let layout = Layout::new([TensorSpec::new("a", []), TensorSpec::new("b", [])]).unwrap();
        SignedRelu {
            layout,
            slope_at_zero,
            on_kink,
        }
    }
}

impl Problem for SignedRelu {
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn cost(&self, t: &[f64]) -> gradproof::Result<f64> {
        Ok(3.0 * t[0].max(0.0) + t[1] * t[1])
    }

    fn gradient(&self, t: &[f64]) -> gradproof::Result<Tensors> {
        let slope = match t[0] {
            a if a > 0.0 => 3.0,
            a if a < 0.0 => 0.0,
            _ => self.slope_at_zero,
        };
        Tensors::new(self.layout.clone(), vec![slope, 2.0 * t[1]])
    }

    fn cost_with_signature(&self, t: &[f64]) -> gradproof::Result<(f64, Option<u64>)> {
        Ok((self.cost(t)?, Some(u64::from(t[0] >= 0.0))))
    }

    fn on_kink(&self, _theta: &[f64]) -> Option<bool> {
        self.on_kink
    }
}

#[test]
fn forward_differences_look_behind_theta_where_it_may_sit_on_a_kink() {
    // θ = (0, 0.5) sits on the kink of max(a, 0) with the right piece's signature: θ and θ + h
    // lie on one piece, and the forward difference 3 (the right derivative) agrees at once
    // with the slope 3. Looking at θ − h too, the check sees the kink, judges `da` by the interval
    // [0, 3] and states the floor the interval allows; a slope outside it fails.
    let checker = Checker::new().method(Method::Forward);
    for on_kink in [None, Some(true)] {
        let report = checker
            .check(&SignedRelu::new(3.0, on_kink), &[0.0, 0.5])
            .unwrap();
        assert!(report.passed(), "{on_kink:?}\n{report}");
        assert_eq!(report.tensors[0].kink, 1, "{on_kink:?}\n{report}");
        let report = checker
            .check(&SignedRelu::new(4.0, on_kink), &[0.0, 0.5])
            .unwrap();
        assert_eq!(report.failing(), ["da"], "{on_kink:?}\n{report}");
    }
    // A problem that says θ is on no kink spares the look behind: one evaluation per
    // coordinate fewer, and the agreeing difference is taken as it is.
    let behind = checker
        .check(&SignedRelu::new(3.0, None), &[0.0, 0.5])
        .unwrap();
    let spared = checker
        .check(&SignedRelu::new(3.0, Some(false)), &[0.0, 0.5])
        .unwrap();
    assert_eq!(spared.tensors[0].kink, 0, "{spared}");
    assert!(
        spared.evaluations < behind.evaluations,
        "{spared}\n{behind}"
    );
}

/// `½‖θ‖²` whose cost takes ≈ 50 µs (busy, not asleep), so that a check computes the gradient
/// beside the noise probe instead of before it; `bad_gradient` and `bad_cost` spoil one or both.
fn slow_problem(bad_gradient: bool, bad_cost: bool) -> impl Problem {
    let l = small_layout();
    FnProblem::new(
        small_layout(),
        move |t: &[f64]| {
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_micros(50) {
                std::hint::spin_loop();
            }
            if bad_cost {
                return Err(Error::model("cost unavailable"));
            }
            Ok(0.5 * t.iter().map(|x| x * x).sum::<f64>())
        },
        move |t: &[f64]| {
            if bad_gradient {
                return Err(Error::model("gradient unavailable"));
            }
            Tensors::new(l.clone(), t.to_vec())
        },
    )
}

#[test]
fn a_gradient_computed_beside_the_noise_probe_gives_the_same_report() {
    let problem = slow_problem(false, false);
    let external = Tensors::new(small_layout(), SMALL_THETA.to_vec()).unwrap();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (mut side_by_side, mut one_after_the_other) = pool.install(|| {
            (
                notebook().check(&problem, &SMALL_THETA).unwrap(),
                notebook()
                    .check_gradient(&problem, &SMALL_THETA, &external)
                    .unwrap(),
            )
        });
        assert_passes(&side_by_side);
        side_by_side.seconds = 0.0;
        one_after_the_other.seconds = 0.0;
        assert_eq!(side_by_side, one_after_the_other, "{threads} threads");
    }
    // The gradient's error comes first, as when the gradient is computed before anything else.
    for (bad_gradient, bad_cost, expected) in [
        (true, true, "gradient unavailable"),
        (true, false, "gradient unavailable"),
        (false, true, "cost unavailable"),
    ] {
        let err = notebook()
            .check(&slow_problem(bad_gradient, bad_cost), &SMALL_THETA)
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
}

/// Five fixed examples `(xᵢ, yᵢ)` of a linear classifier.
const LOGISTIC_X: [[f64; 3]; 5] = [
    [0.5, -1.2, 0.3],
    [1.1, 0.4, -0.7],
    [-0.3, 0.9, 1.4],
    [0.8, 0.8, -0.2],
    [-1.5, 0.1, 0.6],
];
const LOGISTIC_Y: [f64; 5] = [1.0, -1.0, 1.0, 1.0, -1.0];

/// `−yₙ·(w·xₙ)`.
fn logistic_margin(w: &[f64], n: usize) -> f64 {
    -LOGISTIC_Y[n] * LOGISTIC_X[n].iter().zip(w).map(|(x, w)| x * w).sum::<f64>()
}

/// The mean logistic loss `softplus(−yₙ·(w·xₙ))`: smooth, and at a step of 1e3 saturated,
/// linear on each side of θ, so that a difference quotient hardly changes with the step.
/// `softplus(m) = max(m, 0) + ln(1 + e^−|m|)`: finite at any margin.
fn logistic_cost(w: &[f64]) -> f64 {
    let softplus = |m: f64| m.max(0.0) + (-m.abs()).exp().ln_1p();
    (0..5).map(|n| softplus(logistic_margin(w, n))).sum::<f64>() / 5.0
}

/// Its gradient, with `off` added to element 2.
fn logistic_gradient(w: &[f64], off: f64) -> Vec<f64> {
    let mut g = vec![0.0; 3];
    for n in 0..5 {
        let s = 1.0 / (1.0 + (-logistic_margin(w, n)).exp());
        for (g, x) in g.iter_mut().zip(LOGISTIC_X[n]) {
            *g -= s * LOGISTIC_Y[n] * x / 5.0;
        }
    }
    g[2] += off;
    g
}

#[test]
fn a_step_far_above_the_natural_one_never_fails_a_correct_gradient() {
    // At a fixed step of 1e3 (or 1e10, or a scaled rule 1e5 times the natural step) the
    // logistic loss is linear on each side of θ: the difference quotient is the mean of the two
    // asymptotic slopes, far from the derivative, and repeating the stencil at twice the step
    // gives nearly the same value, so its truncation estimate is small. Every disagreement is
    // confirmed at the method's natural step, where the correct gradient agrees: inconclusive,
    // with the advice to use a smaller step, never "wrong". A wrong element is wrong at both.
    let theta = [0.4, -0.3, 0.8];
    let steps = [
        StepRule::Fixed(1e3),
        StepRule::Fixed(1e10),
        StepRule::Scaled(1e5),
    ];
    for step in steps {
        for method in Method::ALL {
            for mode in [Mode::Exhaustive, Mode::Directional { top: 3 }] {
                let checker = Checker::new().method(method).step_rule(step).mode(mode);
                let correct = |w: &[f64]| logistic_gradient(w, 0.0);
                let report = checker.check_fn(logistic_cost, correct, &theta).unwrap();
                assert_ne!(
                    report.verdict,
                    Verdict::Fail,
                    "{step:?} {method} {mode:?}\n{report}"
                );
                if report.verdict == Verdict::Inconclusive {
                    assert!(
                        report
                            .reason
                            .as_deref()
                            .unwrap_or_default()
                            .contains("too large"),
                        "{step:?} {method} {mode:?}\n{report}"
                    );
                }
                let wrong = |w: &[f64]| logistic_gradient(w, 0.3);
                let report = checker.check_fn(logistic_cost, wrong, &theta).unwrap();
                assert_eq!(
                    report.verdict,
                    Verdict::Fail,
                    "{step:?} {method} {mode:?}\n{report}"
                );
                // A smaller error inside the asymptotic slopes is never passed.
                let slightly_wrong = |w: &[f64]| logistic_gradient(w, 0.05);
                let report = checker
                    .check_fn(logistic_cost, slightly_wrong, &theta)
                    .unwrap();
                assert_ne!(
                    report.verdict,
                    Verdict::Pass,
                    "{step:?} {method} {mode:?}\n{report}"
                );
            }
        }
    }
}
