//! The first-check entry points: `check_fn` over flat slices and `check_named` over named ndarray
//! tensors give the same verdicts as a hand-built `Problem`, name the wrong tensor, and turn
//! wrong names, ranks, shapes and lengths into errors rather than panics.

use gradproof::ndarray::{Array1, Array2, Axis, array};
use gradproof::{Checker, Error, Method};

/// `J(W, b) = Σᵢ bᵢ·(Σⱼ Wᵢⱼ)²`: the two tensors interact.
fn cost(w: &Array2<f64>, b: &Array1<f64>) -> f64 {
    (w.sum_axis(Axis(1)).pow2() * b).sum()
}

#[test]
fn a_correct_named_gradient_passes_and_a_wrong_one_is_named() {
    let w = array![[0.5, -1.0, 0.3], [2.0, 0.25, -0.7]];
    let b = array![0.1, -0.3];
    for (factor, failing) in [(2.0, vec![]), (2.5, vec!["dW"])] {
        let report = gradproof::check_named(
            [("W", w.view().into_dyn()), ("b", b.view().into_dyn())],
            |p| Ok(cost(&p.view2("W")?.to_owned(), &p.view1("b")?.to_owned())),
            |p, g| {
                let (w, b) = (p.view2("W")?, p.view1("b")?);
                let rows = w.sum_axis(Axis(1));
                let dw_row = &rows * &b * factor;
                let dw = Array2::from_shape_fn(w.dim(), |(i, _)| dw_row[i]);
                g.set("W", &dw)?;
                g.set("b", &rows.pow2())
            },
        )
        .unwrap();
        assert_eq!(report.failing(), failing, "{report}");
        assert_eq!(report.tensors[0].shape, [2, 3]);
        assert_eq!(report.tensors[1].gradient_name, "db");
    }
}

#[test]
fn check_fn_takes_a_configured_checker() {
    let cost = |t: &[f64]| t[0].sin() * t[1];
    let grad = |t: &[f64]| vec![t[0].cos() * t[1], t[0].sin()];
    let report = Checker::new()
        .method(Method::Central4)
        .epsilon(1e-3)
        .check_fn(cost, grad, &[0.7, -1.2])
        .unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.epsilon, 1e-3);
    assert_eq!(report.tensors[0].gradient_name, "dtheta");
    let wrong = |t: &[f64]| vec![t[0].cos() * t[1], -t[0].sin()];
    let report = gradproof::check_fn(cost, wrong, &[0.7, -1.2]).unwrap();
    assert_eq!(report.failing(), ["dtheta"]);
}

#[test]
fn a_gradient_of_the_wrong_length_is_an_error() {
    let err = gradproof::check_fn(|t| t[0], |_| vec![1.0, 0.0], &[1.0]).unwrap_err();
    assert!(matches!(err, Error::LengthMismatch { .. }), "{err}");
}

#[test]
fn wrong_names_ranks_and_shapes_are_errors_naming_the_tensor() {
    let w = array![[1.0, 2.0], [3.0, 4.0]];
    let tensors = || [("W", w.view().into_dyn())];
    let sum = |p: &gradproof::Params<'_>| Ok(p.view2("W")?.sum());
    let err =
        gradproof::check_named(tensors(), |p| Ok(p.view2("V")?.sum()), |_, _| Ok(())).unwrap_err();
    assert!(err.to_string().contains("no tensor named 'V'"), "{err}");
    let err =
        gradproof::check_named(tensors(), |p| Ok(p.view1("W")?.sum()), |_, _| Ok(())).unwrap_err();
    assert!(
        err.to_string()
            .contains("tensor 'W' has shape [2, 2], but a vector (rank 1) was asked for"),
        "{err}"
    );
    let err =
        gradproof::check_named(tensors(), sum, |_, g| g.set("W", &array![1.0, 1.0])).unwrap_err();
    assert!(
        err.to_string().contains("tensor 'dW' has shape [2, 2]") && err.to_string().contains("[2]"),
        "{err}"
    );
    let ones = array![[1.0, 1.0], [1.0, 1.0]];
    let report = gradproof::check_named(tensors(), sum, |_, g| g.set("W", &ones)).unwrap();
    assert!(report.passed(), "{report}");
}

#[test]
fn settings_are_validated_when_the_check_runs() {
    let run = |checker: Checker| {
        checker
            .check_fn(|t| t[0] * t[0], |t| vec![2.0 * t[0]], &[1.0])
            .unwrap_err()
            .to_string()
    };
    use gradproof::Mode;
    assert!(run(Checker::new().mode(Mode::Sampled { per_tensor: 0 })).contains("mode count"));
    assert!(run(Checker::new().tolerance(-1.0, 0.0)).contains("rtol must be finite and >= 0"));
    assert!(run(Checker::new().tolerance(0.0, 0.0)).contains("rtol + atol"));
    assert!(
        run(Checker::new()
            .step_rule("scaled".parse().unwrap())
            .epsilon(0.0))
        .contains("epsilon must be finite and > 0")
    );
}
