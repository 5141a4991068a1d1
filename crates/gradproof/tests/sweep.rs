//! Integration tests of the step sweep on closed-form costs: the truncation side falls like
//! `hᵖ` with the method's order (and with the exact constant where it is known), the roundoff
//! side rises like `1/h`, the best step lands near `ε_mach^(1/(p+1))`, and bad inputs or
//! non-finite costs are errors that say what and where.

use gradproof::difference::norm2;
use gradproof::sweep::{Sweep, default_steps, log_steps, step_sweep};
use gradproof::{Error, FnProblem, Layout, Method, Problem, TensorSpec, Tensors};

/// `J(θ) = θ³` on one scalar.
fn cube() -> impl Problem {
    let layout = Layout::new([TensorSpec::new("theta", [])]).unwrap();
    let l = layout.clone();
    FnProblem::new(
        layout,
        |t| Ok(t[0].powi(3)),
        move |t| Tensors::new(l.clone(), vec![3.0 * t[0] * t[0]]),
    )
}

/// `J(θ) = exp(c·θ)` over two tensors: along `v`, `f(t) = J(θ)·exp(t·c·v)`, so every derivative
/// of `f` is known in closed form.
const C: [f64; 5] = [0.3, -0.2, 0.5, 0.1, 0.4];

fn exp_linear() -> impl Problem {
    let layout = Layout::new([TensorSpec::new("a", [3]), TensorSpec::new("b", [2, 1])]).unwrap();
    let l = layout.clone();
    let dot = |t: &[f64]| t.iter().zip(C).map(|(x, c)| x * c).sum::<f64>();
    FnProblem::new(
        layout,
        move |t| Ok(dot(t).exp()),
        move |t| Tensors::new(l.clone(), C.iter().map(|c| c * dot(t).exp()).collect()),
    )
}

const THETA5: [f64; 5] = [0.4, -1.0, 0.7, 2.0, -0.3];

fn sweep(problem: &impl Problem, theta: &[f64], method: Method) -> Sweep {
    step_sweep(problem, theta, method, &default_steps(), 42).unwrap()
}

#[test]
fn central_error_on_a_cubic_is_exactly_h_squared() {
    // (θ+h)³ − (θ−h)³ = 6θ²h + 2h³, so the central quotient is 3θ² + h²: error h² (v = ±1).
    let s = sweep(&cube(), &[1.0], Method::Central);
    assert_eq!(s.direction.len(), 1);
    assert!((s.direction[0].abs() - 1.0).abs() < 1e-15);
    for p in s.points.iter().filter(|p| p.h >= 1e-3) {
        assert!(
            (p.abs_error / (p.h * p.h) - 1.0).abs() < 1e-6,
            "h = {:e}: error {:e}",
            p.h,
            p.abs_error
        );
    }
    let slope = s.slope(1e-2, 1e-1).unwrap();
    assert!((slope - 2.0).abs() < 1e-6, "{slope}");
}

#[test]
fn forward_error_on_a_cubic_is_3h_plus_h_squared() {
    // ((θ+h)³ − θ³)/h − 3θ² = 3θh + h² at θ = 1, with the sign of v on the 3h term.
    let s = sweep(&cube(), &[1.0], Method::Forward);
    for p in s.points.iter().filter(|p| p.h >= 1e-4) {
        let expected = 3.0 * p.h + s.direction[0] * p.h * p.h;
        assert!(
            (p.abs_error / expected - 1.0).abs() < 1e-6,
            "h = {:e}: {:e} vs {expected:e}",
            p.h,
            p.abs_error
        );
    }
    let slope = s.slope(1e-4, 1e-3).unwrap();
    assert!((slope - 1.0).abs() < 0.01, "{slope}");
}

#[test]
fn central_truncation_matches_its_leading_term_in_several_dimensions() {
    // f(t) = J·e^{kt}, k = c·v: central error ≈ h²/6 · f'''(0) = h²/6 · k³ · J.
    let problem = exp_linear();
    let s = sweep(&problem, &THETA5, Method::Central);
    assert!((norm2(&s.direction) - 1.0).abs() < 1e-15);
    let k: f64 = s.direction.iter().zip(C).map(|(v, c)| v * c).sum();
    let j = problem.cost(&THETA5).unwrap();
    assert!((s.analytic - k * j).abs() < 1e-15 * j);
    for p in s.points.iter().filter(|p| p.h >= 1e-3) {
        let leading = p.h * p.h / 6.0 * k.abs().powi(3) * j;
        assert!(
            (p.abs_error / leading - 1.0).abs() < 0.01,
            "h = {:e}: {:e} vs {leading:e}",
            p.h,
            p.abs_error
        );
    }
    let slope = s.slope(1e-2, 1e-1).unwrap();
    assert!((slope - 2.0).abs() < 0.01, "{slope}");
}

#[test]
fn the_error_draws_a_v_with_its_bottom_near_the_natural_step() {
    for (method, lo, hi) in [
        (Method::Forward, 1e-10, 1e-6),
        (Method::Central, 1e-7, 1e-4),
        (Method::Central4, 1e-5, 1e-2),
    ] {
        let s = sweep(&exp_linear(), &THETA5, method);
        let roundoff = s.slope(1e-14, 1e-11).unwrap();
        assert!(
            (roundoff + 1.0).abs() < 0.4,
            "{method}: roundoff slope {roundoff}\n{s}"
        );
        let truncation = s.slope(3e-2, 1e-1).unwrap();
        let order = f64::from(method.order());
        assert!(
            (truncation - order).abs() < 0.15 * order,
            "{method}: truncation slope {truncation}\n{s}"
        );
        assert!(
            s.best.h >= lo && s.best.h <= hi,
            "{method}: best step {:e} outside [{lo:e}, {hi:e}] (natural {:e})\n{s}",
            s.best.h,
            method.natural_step()
        );
        // The bottom of the V is orders of magnitude below both arms.
        let first = s.points.first().unwrap().abs_error;
        let last = s.points.last().unwrap().abs_error;
        assert!(s.best.abs_error < 1e-3 * first.min(last), "{method}\n{s}");
    }
}

#[test]
fn points_follow_the_steps_and_relative_errors_are_bounded() {
    let steps = log_steps(1e-8, 1e-2, 7).unwrap();
    let s = step_sweep(&exp_linear(), &THETA5, Method::Richardson, &steps, 1).unwrap();
    assert_eq!(s.points.iter().map(|p| p.h).collect::<Vec<_>>(), steps);
    for p in &s.points {
        assert!((0.0..=1.0).contains(&p.rel_error));
        let expected = p.abs_error / (p.numeric.abs() + s.analytic.abs());
        assert_eq!(p.rel_error, expected);
    }
    assert!(s.points.contains(&s.best));
    assert!(s.points.iter().all(|p| p.abs_error >= s.best.abs_error));
}

#[test]
fn the_direction_depends_on_the_seed_only() {
    let problem = exp_linear();
    let a = step_sweep(&problem, &THETA5, Method::Central, &[1e-3], 9).unwrap();
    let b = step_sweep(&problem, &THETA5, Method::Central, &[1e-3], 9).unwrap();
    let c = step_sweep(&problem, &THETA5, Method::Central, &[1e-3], 10).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.direction, c.direction);
}

#[test]
fn sweeps_round_trip_through_json() {
    let s = step_sweep(&cube(), &[2.0], Method::Central4, &[1e-3, 1e-2], 3).unwrap();
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("\"method\":\"central4\""), "{json}");
    assert!(json.contains("\"abs_error\""), "{json}");
    let back: Sweep = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
}

#[test]
fn bad_steps_and_parameters_are_refused() {
    let problem = cube();
    for steps in [vec![], vec![0.0], vec![1e-3, -1e-3], vec![f64::NAN]] {
        let err = step_sweep(&problem, &[1.0], Method::Central, &steps, 0).unwrap_err();
        assert!(
            matches!(err, Error::InvalidSetting { .. }),
            "{steps:?}: {err}"
        );
    }
    let err = step_sweep(&problem, &[1.0, 2.0], Method::Central, &[1e-3], 0).unwrap_err();
    assert!(err.to_string().contains("2 values"), "{err}");
    let err = step_sweep(&problem, &[f64::NAN], Method::Central, &[1e-3], 0).unwrap_err();
    assert!(err.to_string().contains("parameter theta"), "{err}");
    for (from, to, n) in [
        (0.0, 1.0, 5),
        (1e-3, 1e-3, 5),
        (1e-3, 1.0, 1),
        (1e-3, f64::INFINITY, 5),
    ] {
        assert!(log_steps(from, to, n).is_err(), "{from} {to} {n}");
    }
}

#[test]
fn a_non_finite_cost_is_named_with_its_step() {
    // J is NaN beyond θ = 1.05: the sweep at θ = 1 reaches it only with the largest steps.
    let layout = Layout::new([TensorSpec::new("theta", [])]).unwrap();
    let l = layout.clone();
    let problem = FnProblem::new(
        layout,
        |t| Ok(if t[0].abs() > 1.05 { f64::NAN } else { t[0] }),
        move |_| Tensors::new(l.clone(), vec![1.0]),
    );
    let s = step_sweep(&problem, &[1.0], Method::Central, &[1e-3, 1e-2], 0).unwrap();
    assert!(s.best.abs_error < 1e-12);
    let err = step_sweep(&problem, &[1.0], Method::Central, &[1e-2, 1e-1], 0).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::NonFinite { .. }), "{text}");
    assert!(text.starts_with("cost is NaN at θ"), "{text}");
    assert!(text.contains("h = 1e-1"), "{text}");
}

#[test]
fn a_non_finite_gradient_is_refused() {
    let layout = Layout::new([TensorSpec::new("w", [2])]).unwrap();
    let l = layout.clone();
    let problem = FnProblem::new(
        layout,
        |t| Ok(t[0] + t[1]),
        move |_| Tensors::new(l.clone(), vec![1.0, f64::INFINITY]),
    );
    let err = step_sweep(&problem, &[0.0, 0.0], Method::Central, &[1e-3], 0).unwrap_err();
    assert!(err.to_string().contains("gradient w[1]"), "{err}");
}
