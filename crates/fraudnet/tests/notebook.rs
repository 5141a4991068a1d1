//! The seed notebook's printed numbers, reproduced.

use fraudnet::notebook::{self, gradient_check_n_test_case};
use fraudnet::{Bug, MlpProblem};
use gradproof::Checker;

/// Relative distance, for "to k significant digits" assertions.
fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn one_d_forward_backward_and_check() {
    assert_eq!(notebook::forward_propagation(2.0, 4.0), 8.0);
    assert_eq!(notebook::backward_propagation(2.0, 4.0), 2.0);
    let run = notebook::run().unwrap();
    assert_eq!(run.one_d.j, 8.0);
    assert_eq!(run.one_d.dtheta, 2.0);
    assert!(rel(run.one_d.difference, 2.919335883291695e-10) < 1e-6);
    assert!(run.one_d.correct);
    assert!(run.one_d.report.passed());
}

#[test]
fn the_test_case_draws_the_notebooks_numbers() {
    // np.random.seed(1); X = randn(4, 3); ... (values printed by numpy 2.4.6)
    let case = gradient_check_n_test_case();
    assert_eq!(case.x[[0, 0]], 1.6243453636632417);
    assert_eq!(case.x[[3, 2]], -2.060140709497654);
    assert_eq!(case.parameters.layout().len(), 47);
    let cost = case
        .mlp
        .cost(case.parameters.values(), case.x.view(), case.y.view())
        .unwrap();
    assert!(rel(cost, 2.407833389834357) < 1e-14, "{cost}");
    // The corrected analytic gradient, from numpy.
    let g = case
        .mlp
        .gradient(case.parameters.values(), case.x.view(), case.y.view())
        .unwrap();
    let expected = [
        ("W1", vec![0, 0], -0.37347778780965),
        ("b1", vec![0, 0], 0.6329078719756231),
        ("W2", vec![2, 0], 0.9158016518786495),
        ("b2", vec![2, 0], 0.1976334252390789),
        ("W3", vec![0, 2], 2.244042377990228),
        ("b3", vec![0, 0], 0.212257527082733),
    ];
    for (name, index, value) in expected {
        let got = g.at(name, &index).unwrap();
        assert!(
            rel(got, value) < 1e-13,
            "d{name}{index:?}: {got} vs {value}"
        );
    }
}

#[test]
fn the_buggy_backward_pass_gives_the_notebooks_difference() {
    let run = notebook::run().unwrap();
    let buggy = &run.n_dim.buggy;
    // The notebook prints 0.285093156781; 9 significant digits at least.
    assert!(
        rel(buggy.difference, 0.285093156781) < 5e-10,
        "{}",
        buggy.difference
    );
    assert!(!buggy.notebook_passed());
    assert!(!buggy.passed());
    assert_eq!(buggy.failing(), ["db1", "dW2"]);
}

#[test]
fn the_fixed_backward_pass_is_correct_though_above_the_notebook_threshold() {
    let run = notebook::run().unwrap();
    let fixed = &run.n_dim.fixed;
    assert!(
        rel(fixed.difference, 1.19e-7) < 0.01,
        "{}",
        fixed.difference
    );
    assert!(
        !fixed.notebook_passed(),
        "the seed's own procedure rejects it"
    );
    assert!(fixed.passed(), "{fixed}");
    assert!(fixed.failing().is_empty());
    // The report says why: roundoff, with the threshold it used.
    assert!(fixed.noise_threshold > fixed.difference);
    let verdict = fixed.verdict();
    assert!(
        verdict.contains("above the notebook's threshold"),
        "{verdict}"
    );
    assert!(verdict.contains("roundoff"), "{verdict}");
}

#[test]
fn every_single_scale_bug_is_caught_and_named() {
    let case = gradient_check_n_test_case();
    let problem = MlpProblem::new(case.mlp.clone(), case.x.clone(), case.y.clone()).unwrap();
    let theta = case.parameters.values();
    for spec in case.mlp.layout().tensors() {
        let grad = case
            .mlp
            .gradient(theta, case.x.view(), case.y.view())
            .unwrap();
        if grad.get(&spec.name).unwrap().iter().all(|&g| g == 0.0) {
            continue; // a scale of an all-zero gradient changes nothing
        }
        for factor in [1.001, 2.0, -1.0, 0.0] {
            let buggy = problem
                .clone()
                .with_bugs(vec![Bug::scale(spec.name.clone(), factor)])
                .unwrap();
            let report = Checker::new().epsilon(1e-7).check(&buggy, theta).unwrap();
            assert_eq!(
                report.failing(),
                [format!("d{}", spec.name)],
                "scale {factor} of d{}\n{report}",
                spec.name
            );
        }
    }
}

#[test]
fn a_bug_naming_an_unknown_tensor_is_refused() {
    let case = gradient_check_n_test_case();
    let problem = MlpProblem::new(case.mlp, case.x, case.y).unwrap();
    let err = problem
        .with_bugs(vec![Bug::scale("W9", 2.0)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("W9") && err.contains("W1, b1"), "{err}");
}
