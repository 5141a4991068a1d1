//! The exact oracle ([`Reference::Dual`]) and the Jacobian checker on closed-form problems: verdicts,
//! counts, localisation, and the errors for what they cannot do.

use gradproof::jacobian::{JacobianChecker, VectorProblem};
use gradproof::noise::NoiseStatus;
use gradproof::num_dual::DualNum;
use gradproof::{
    Checker, DualCost, DualProblem, Error, FnProblem, Layout, Method, Mode, Problem, Reference,
    Result, StepRule, TensorSpec, Tensors,
};

/// `J(a, w) = a·Σ sin(wᵢ) + a³` written once over the scalar type: the dual pass gives `∇J·v`.
struct SinesCost;

impl DualCost for SinesCost {
    fn cost<T: DualNum<f64> + Copy>(&self, theta: &[T]) -> T {
        let a = theta[0];
        let mut sum = T::from(0.0);
        for &w in &theta[1..] {
            sum += w.sin();
        }
        a * sum + a * a * a
    }
}

/// The problem over `a` and `w[n]`, with an optional wrong element of the gradient (flat index,
/// added value).
fn sines(
    n: usize,
    wrong: Option<(usize, f64)>,
) -> DualProblem<SinesCost, impl Fn(&[f64]) -> Result<Tensors> + Sync> {
    let layout = Layout::new([TensorSpec::new("a", []), TensorSpec::new("w", [n])]).unwrap();
    let gradient_layout = layout.clone();
    let gradient = move |theta: &[f64]| {
        let a = theta[0];
        let mut g = vec![theta[1..].iter().map(|w| w.sin()).sum::<f64>() + 3.0 * a * a];
        g.extend(theta[1..].iter().map(|w| a * w.cos()));
        if let Some((i, delta)) = wrong {
            g[i] += delta;
        }
        Tensors::new(gradient_layout.clone(), g)
    };
    DualProblem::new(layout, SinesCost, gradient)
}

fn theta(n: usize) -> Vec<f64> {
    std::iter::once(1.3)
        .chain((0..n).map(|i| 0.1 * i as f64 - 2.0))
        .collect()
}

#[test]
fn exhaustive_dual_agrees_to_rounding_with_one_pass_per_coordinate() {
    let problem = sines(40, None);
    let report = Checker::new().dual().check(&problem, &theta(40)).unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.reference, Reference::Dual);
    assert_eq!((report.epsilon, report.noise), (0.0, 0.0));
    assert_eq!(report.noise_status, NoiseStatus::NotNeeded);
    assert_eq!(report.evaluations, 1 + 41);
    for t in &report.tensors {
        assert_eq!((t.agree, t.kink, t.disagree), (t.checked, 0, 0));
        assert!(t.difference < 1e-15, "{report}");
    }
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["reference"], "dual");
    assert_eq!(json["noise_status"], "not_needed");
    // The exact gradient itself.
    let exact = Checker::new()
        .dual()
        .numeric_gradient(&problem, &theta(40))
        .unwrap();
    let analytic = problem.gradient(&theta(40)).unwrap();
    for (d, g) in exact.iter().zip(analytic.values()) {
        assert!(
            (d - g).abs() <= 4.0 * f64::EPSILON * g.abs().max(1.0),
            "{d} vs {g}"
        );
    }
}

#[test]
fn a_wrong_element_is_named_exhaustively_sampled_and_directionally() {
    let problem = sines(64, Some((1 + 37, 1e-9)));
    let exhaustive = Checker::new().dual().check(&problem, &theta(64)).unwrap();
    assert_eq!(exhaustive.failing(), ["dw"]);
    assert_eq!(exhaustive.tensors[1].disagree, 1);
    assert_eq!(exhaustive.tensors[1].worst().unwrap().index, [37]);
    let sampled = Checker::new()
        .dual()
        .mode(Mode::Sampled { per_tensor: 8 })
        .check(&problem, &theta(64))
        .unwrap();
    assert_eq!(sampled.tensors[1].checked, 8);
    assert_eq!(sampled.evaluations, 1 + 1 + 8);
    let directional = Checker::new()
        .dual()
        .mode(Mode::Directional { top: 1 })
        .seed(5)
        .check(&problem, &theta(64))
        .unwrap();
    assert_eq!(directional.failing(), ["dw"], "{directional}");
    let worst = directional.tensors[1].worst().unwrap();
    assert_eq!(worst.index, [37]);
    assert!((worst.numeric - (1.3 * (0.1 * 37.0 - 2.0f64).cos())).abs() < 1e-14);
    // J once, the whole model, 2 tensors, then 2 probes per halving of 64 elements.
    assert_eq!(directional.evaluations, 1 + 1 + 2 + 2 * 6);
    // A tolerance replaces the rounding allowance.
    let loose = Checker::new().dual().tolerance(0.0, 1e-8);
    assert!(loose.check(&problem, &theta(64)).unwrap().passed());
}

#[test]
fn without_a_dual_path_dual_is_refused_clearly() {
    let layout = Layout::new([TensorSpec::new("w", [2])]).unwrap();
    let l = layout.clone();
    let problem = FnProblem::new(
        layout,
        |w| Ok(w[0] * w[1]),
        move |w| Tensors::new(l.clone(), vec![w[1], w[0]]),
    );
    for mode in [Mode::Exhaustive, Mode::Directional { top: 1 }] {
        let checker = Checker::new().dual().mode(mode);
        let err = checker.check(&problem, &[1.0, 2.0]).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("does not provide exact directional derivatives"),
            "{err}"
        );
    }
    // Other methods are unaffected.
    assert!(
        Checker::new()
            .check(&problem, &[1.0, 2.0])
            .unwrap()
            .passed()
    );
}

#[test]
fn a_non_finite_exact_derivative_is_an_error_naming_the_coordinate() {
    struct Bad(Layout);
    impl Problem for Bad {
        fn layout(&self) -> &Layout {
            &self.0
        }
        fn cost(&self, t: &[f64]) -> Result<f64> {
            Ok(t[0])
        }
        fn gradient(&self, _: &[f64]) -> Result<Tensors> {
            Tensors::new(self.0.clone(), vec![1.0, 0.0])
        }
        fn directional_derivative(&self, _: &[f64], v: &[f64]) -> Option<Result<f64>> {
            Some(Ok(if v[1] != 0.0 { f64::NAN } else { v[0] }))
        }
    }
    let problem = Bad(Layout::new([TensorSpec::new("w", [2])]).unwrap());
    let err = Checker::new()
        .dual()
        .check(&problem, &[0.0, 0.0])
        .unwrap_err();
    assert!(err.to_string().contains("w[1]"), "{err}");
}

/// y = (x₀·x₁, sin x₂) with a hand-written VJP, optionally wrong in ∂y₁/∂x₂.
struct Pair {
    inputs: Layout,
    outputs: Layout,
    wrong: bool,
}

impl VectorProblem for Pair {
    fn inputs(&self) -> &Layout {
        &self.inputs
    }
    fn outputs(&self) -> &Layout {
        &self.outputs
    }
    fn value(&self, x: &[f64]) -> Result<Tensors> {
        Tensors::new(self.outputs.clone(), vec![x[0] * x[1], x[2].sin()])
    }
    fn vjp(&self, x: &[f64], u: &Tensors) -> Result<Tensors> {
        let (p, s) = (u.values()[0], u.values()[1]);
        let d2 = if self.wrong { -x[2].cos() } else { x[2].cos() };
        Tensors::new(self.inputs.clone(), vec![p * x[1], p * x[0], s * d2])
    }
}

fn pair(wrong: bool) -> Pair {
    Pair {
        inputs: Layout::new([TensorSpec::new("a", [2]), TensorSpec::new("c", [])]).unwrap(),
        outputs: Layout::new([TensorSpec::new("p", []), TensorSpec::new("s", [])]).unwrap(),
        wrong,
    }
}

#[test]
fn the_jacobian_checker_names_the_wrong_output_input_pair() {
    let x = [0.7, -1.2, 0.4];
    for method in Method::ALL {
        let checker = JacobianChecker::new().method(method);
        let report = checker.check(&pair(false), &x).unwrap();
        assert!(report.passed(), "{method}: {report}");
        assert_eq!(report.blocks.len(), 4);
        let report = checker.check(&pair(true), &x).unwrap();
        assert_eq!(report.failing(), ["∂s/∂c"], "{method}: {report}");
        let block = &report.blocks[3];
        let worst = &block.top[0];
        assert!((worst.analytic + 0.4f64.cos()).abs() < 1e-15);
        assert!(
            (worst.numeric - 0.4f64.cos()).abs() < 1e-6,
            "{method}: {report}"
        );
        assert!(report.to_string().contains("WRONG in ∂s/∂c"));
    }
    let fixed = JacobianChecker::new()
        .step_rule(StepRule::Fixed(1e-6))
        .unwrap();
    assert!(fixed.check(&pair(false), &x).unwrap().passed());
}

#[test]
fn the_jacobian_checker_refuses_what_it_cannot_do() {
    assert!(
        JacobianChecker::new()
            .step_rule(StepRule::Adaptive)
            .is_err()
    );
    assert!(
        JacobianChecker::new()
            .step_rule(StepRule::Fixed(0.0))
            .is_err()
    );
    let err = JacobianChecker::new()
        .check(&pair(false), &[1.0, 2.0])
        .unwrap_err();
    assert!(matches!(err, Error::LengthMismatch { .. }), "{err}");
    let err = JacobianChecker::new()
        .check(&pair(false), &[1.0, f64::NAN, 0.0])
        .unwrap_err();
    assert!(err.to_string().contains("a[1]"), "{err}");
}
