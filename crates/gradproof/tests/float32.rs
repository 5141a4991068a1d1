//! Models that are not an MLP, with their cost computed in `f32` and returned as `f64` (as GPU
//! kernels and mixed precision compute it): softmax cross-entropy, layer norm, and L1-regularised
//! logistic regression away from 0. The correct gradient must never be called wrong in any
//! finite-difference setting; realistic bugs above the stated detection floor must be caught and
//! named. Bugs are sized by an independent oracle — the closed-form gradient of the `f64`
//! version of each model — never by the checker itself. The counts are published in
//! docs/validation.md (`cargo test -p gradproof --test float32 -- --nocapture` prints them).

use gradproof::{Checker, FnProblem, Layout, Method, Precision, StepRule, TensorSpec, Tensors};

/// A tiny deterministic generator (64-bit LCG, top bits), so the cases are the same everywhere.
struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        // Irwin–Hall: close enough to a normal for test data.
        (0..12).map(|_| self.unit()).sum::<f64>() - 6.0
    }
}

/// A cost over the flat parameters.
type Cost = Box<dyn Fn(&[f64]) -> f64 + Sync>;
/// A gradient over the flat parameters.
type Gradient = Box<dyn Fn(&[f64]) -> Vec<f64> + Sync>;
/// A bug: the buggy gradient from θ and the correct gradient.
type Corrupt = Box<dyn Fn(&[f64], &[f64]) -> Vec<f64>>;

/// One model: its layout, `f32` cost, closed-form `f64` gradient, bugs, and a θ.
struct Model {
    name: &'static str,
    layout: Layout,
    cost: Cost,
    gradient: Gradient,
    /// (bug name, the tensor it corrupts, the buggy gradient from the correct one).
    bugs: Vec<(&'static str, &'static str, Corrupt)>,
    theta: Vec<f64>,
}

const M: usize = 6;
const C: usize = 3;

/// Softmax cross-entropy, W (C×C so that a transposed dW has its shape), b (C):
/// `J = (1/m) Σ −log softmax(W xₙ + b)_{yₙ}`.
fn softmax(seed: u64) -> Model {
    let mut rng = Lcg(seed);
    let x: Vec<f64> = (0..M * C).map(|_| rng.normal()).collect();
    let y: Vec<usize> = (0..M).map(|n| (n * 7 + seed as usize) % C).collect();
    let theta: Vec<f64> = (0..C * C + C).map(|_| 0.5 * rng.normal()).collect();
    let (x32, y32) = (x.clone(), y.clone());
    let cost = move |t: &[f64]| {
        let t: Vec<f32> = t.iter().map(|&v| v as f32).collect();
        let mut total = 0f32;
        for n in 0..M {
            let z: Vec<f32> = (0..C)
                .map(|c| {
                    t[C * C + c]
                        + (0..C)
                            .map(|d| t[c * C + d] * x32[n * C + d] as f32)
                            .sum::<f32>()
                })
                .collect();
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let log_sum = z.iter().map(|v| (v - max).exp()).sum::<f32>().ln() + max;
            total += log_sum - z[y32[n]];
        }
        f64::from(total / M as f32)
    };
    let gradient = move |t: &[f64]| {
        let mut g = vec![0.0; C * C + C];
        for n in 0..M {
            let z: Vec<f64> = (0..C)
                .map(|c| t[C * C + c] + (0..C).map(|d| t[c * C + d] * x[n * C + d]).sum::<f64>())
                .collect();
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
            for c in 0..C {
                let delta = (z[c] - max).exp() / sum - if c == y[n] { 1.0 } else { 0.0 };
                for d in 0..C {
                    g[c * C + d] += delta * x[n * C + d] / M as f64;
                }
                g[C * C + c] += delta / M as f64;
            }
        }
        g
    };
    let layout = Layout::new([TensorSpec::new("W", [C, C]), TensorSpec::new("b", [C])]).unwrap();
    Model {
        name: "softmax cross-entropy",
        layout,
        cost: Box::new(cost),
        gradient: Box::new(gradient),
        bugs: vec![
            (
                "transposed W",
                "dW",
                Box::new(|_, g| {
                    let mut out = g.to_vec();
                    for c in 0..C {
                        for d in 0..C {
                            out[c * C + d] = g[d * C + c];
                        }
                    }
                    out
                }),
            ),
            (
                "missing 1/m in db",
                "db",
                Box::new(|_, g| {
                    let mut out = g.to_vec();
                    out[C * C..].iter_mut().for_each(|v| *v *= M as f64);
                    out
                }),
            ),
            (
                "wrong sign of the one-hot term in dW",
                "dW",
                Box::new(|_, g| {
                    // g = p·x − onehot·x; the bug adds 2·onehot·x for the first example.
                    let mut out = g.to_vec();
                    out[0] += 2.0 / M as f64;
                    out
                }),
            ),
        ],
        theta,
    }
}

const D: usize = 4;

/// Layer norm over rows of x (M×D), with gain γ (D) and shift β (D), squared error against
/// targets: `J = (1/2m) Σ (γ·x̂ + β − T)²`, x̂ the normalised row (ε = 1e-5).
fn layer_norm(seed: u64) -> Model {
    let mut rng = Lcg(seed ^ 0x5eed);
    let target: Vec<f64> = (0..M * D).map(|_| rng.normal()).collect();
    let theta: Vec<f64> = (0..M * D + 2 * D).map(|_| rng.normal()).collect();
    let (t32, target_for_bug) = (target.clone(), target.clone());
    let cost = move |t: &[f64]| {
        let t: Vec<f32> = t.iter().map(|&v| v as f32).collect();
        let (gain, shift) = (&t[M * D..M * D + D], &t[M * D + D..]);
        let mut total = 0f32;
        for n in 0..M {
            let row = &t[n * D..(n + 1) * D];
            let mean = row.iter().sum::<f32>() / D as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / D as f32;
            let inv = 1.0 / (var + 1e-5).sqrt();
            for j in 0..D {
                let e = gain[j] * (row[j] - mean) * inv + shift[j] - t32[n * D + j] as f32;
                total += e * e;
            }
        }
        f64::from(total / (2 * M) as f32)
    };
    let gradient = move |t: &[f64]| layer_norm_gradient(t, &target, true);
    let layout = Layout::new([
        TensorSpec::new("x", [M, D]),
        TensorSpec::new("gamma", [D]),
        TensorSpec::new("beta", [D]),
    ])
    .unwrap();
    Model {
        name: "layer norm",
        layout,
        cost: Box::new(cost),
        gradient: Box::new(gradient),
        bugs: vec![
            (
                "missing mean term in dx",
                "dx",
                Box::new({
                    let target = target_for_bug;
                    move |t, _| layer_norm_gradient(t, &target, false)
                }),
            ),
            (
                "missing 1/m in dgamma",
                "dgamma",
                Box::new(|_, g| {
                    let mut out = g.to_vec();
                    out[M * D..M * D + D]
                        .iter_mut()
                        .for_each(|v| *v *= M as f64);
                    out
                }),
            ),
            (
                "wrong sign of dbeta",
                "dbeta",
                Box::new(|_, g| {
                    let mut out = g.to_vec();
                    out[M * D + D..].iter_mut().for_each(|v| *v = -*v);
                    out
                }),
            ),
        ],
        theta,
    }
}

/// The closed-form layer-norm gradient in f64; `with_mean` false drops the `−mean(dx̂)` term.
fn layer_norm_gradient(t: &[f64], target: &[f64], with_mean: bool) -> Vec<f64> {
    let (gain, shift) = (&t[M * D..M * D + D], &t[M * D + D..]);
    let mut g = vec![0.0; t.len()];
    for n in 0..M {
        let row = &t[n * D..(n + 1) * D];
        let mean = row.iter().sum::<f64>() / D as f64;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / D as f64;
        let inv = 1.0 / (var + 1e-5).sqrt();
        let xhat: Vec<f64> = row.iter().map(|v| (v - mean) * inv).collect();
        let err: Vec<f64> = (0..D)
            .map(|j| (gain[j] * xhat[j] + shift[j] - target[n * D + j]) / M as f64)
            .collect();
        let dxhat: Vec<f64> = (0..D).map(|j| err[j] * gain[j]).collect();
        let mean_d = dxhat.iter().sum::<f64>() / D as f64;
        let mean_dx = dxhat.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / D as f64;
        for j in 0..D {
            let centred = if with_mean {
                dxhat[j] - mean_d
            } else {
                dxhat[j]
            };
            g[n * D + j] = inv * (centred - xhat[j] * mean_dx);
            g[M * D + j] += err[j] * xhat[j];
            g[M * D + D + j] += err[j];
        }
    }
    g
}

const LAMBDA: f64 = 0.05;

/// L1-regularised logistic regression, w (D) kept at least 0.2 away from 0, bias b:
/// `J = (1/m) Σ log(1 + e^(−yₙ(w·xₙ + b))) + λ‖w‖₁`.
fn l1_logistic(seed: u64) -> Model {
    let mut rng = Lcg(seed ^ 0x11);
    let x: Vec<f64> = (0..M * D).map(|_| rng.normal()).collect();
    let y: Vec<f64> = (0..M)
        .map(|n| {
            if (n + seed as usize).is_multiple_of(2) {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    let mut theta: Vec<f64> = (0..=D).map(|_| rng.normal()).collect();
    theta[..D]
        .iter_mut()
        .for_each(|w| *w = w.signum() * (w.abs() + 0.2));
    let (x32, y32) = (x.clone(), y.clone());
    let cost = move |t: &[f64]| {
        let t: Vec<f32> = t.iter().map(|&v| v as f32).collect();
        let mut total = 0f32;
        for n in 0..M {
            let z = t[D] + (0..D).map(|d| t[d] * x32[n * D + d] as f32).sum::<f32>();
            let margin = -(y32[n] as f32) * z;
            // log(1 + e^m), stably.
            total += margin.max(0.0) + (-margin.abs()).exp().ln_1p();
        }
        let l1: f32 = t[..D].iter().map(|w| w.abs()).sum();
        f64::from(total / M as f32 + LAMBDA as f32 * l1)
    };
    let (x2, y2) = (x.clone(), y.clone());
    let gradient = move |t: &[f64]| l1_gradient(t, &x, &y, 1.0);
    let layout = Layout::new([TensorSpec::new("w", [D]), TensorSpec::new("b", [])]).unwrap();
    Model {
        name: "L1 logistic regression",
        layout,
        cost: Box::new(cost),
        gradient: Box::new(gradient),
        bugs: vec![
            (
                "missing 1/m in dw",
                "dw",
                Box::new(|t, g| {
                    // The data term times m, the L1 term as it was.
                    let mut out = g.to_vec();
                    for d in 0..D {
                        let l1 = LAMBDA * t[d].signum();
                        out[d] = M as f64 * (g[d] - l1) + l1;
                    }
                    out
                }),
            ),
            (
                "wrong sign of the L1 term",
                "dw",
                Box::new(move |t, _| l1_gradient(t, &x2, &y2, -1.0)),
            ),
        ],
        theta,
    }
}

/// The closed-form gradient of the f64 L1 logistic cost, the L1 term's sign times `l1_sign`.
fn l1_gradient(t: &[f64], x: &[f64], y: &[f64], l1_sign: f64) -> Vec<f64> {
    let mut g = vec![0.0; D + 1];
    for n in 0..M {
        let z = t[D] + (0..D).map(|d| t[d] * x[n * D + d]).sum::<f64>();
        let margin = -y[n] * z;
        let s = 1.0 / (1.0 + (-margin).exp());
        for d in 0..D {
            g[d] += -y[n] * s * x[n * D + d] / M as f64;
        }
        g[D] += -y[n] * s / M as f64;
    }
    for d in 0..D {
        g[d] += l1_sign * LAMBDA * t[d].signum();
    }
    g
}

/// The finite-difference settings the issue names.
fn settings() -> Vec<(&'static str, Checker)> {
    vec![
        ("default", Checker::new()),
        ("scaled=4", Checker::new().step_rule(StepRule::Scaled(4.0))),
        ("auto", Checker::new().step_rule(StepRule::Adaptive)),
        ("forward", Checker::new().method(Method::Forward)),
        ("central4", Checker::new().method(Method::Central4)),
        ("richardson", Checker::new().method(Method::Richardson)),
    ]
}

fn relative_error(bug: &[f64], good: &[f64], range: std::ops::Range<usize>) -> f64 {
    let diff: f64 = range
        .clone()
        .map(|i| (bug[i] - good[i]).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = range.map(|i| good[i].powi(2)).sum::<f64>().sqrt();
    diff / norm
}

#[derive(Default, Debug)]
struct Counts {
    correct_pass: usize,
    correct_inconclusive: usize,
    false_alarms: Vec<String>,
    bugs_caught: usize,
    bugs_missed: Vec<String>,
    bugs_misattributed: Vec<String>,
    /// Bugs below the stated floor, by kind.
    bugs_below_floor: std::collections::BTreeMap<String, usize>,
    bugs_skipped_inconclusive: usize,
    /// The smallest and largest detection floor stated by a passing correct check.
    floors: (f64, f64),
    /// Correct-gradient checks that came out inconclusive, by setting.
    inconclusive_by_setting: std::collections::BTreeMap<&'static str, usize>,
}

#[test]
fn float32_costs_give_verdicts_that_hold() {
    let mut counts = Counts {
        floors: (f64::INFINITY, 0.0),
        ..Counts::default()
    };
    let builders: [fn(u64) -> Model; 3] = [softmax, layer_norm, l1_logistic];
    for build in builders {
        for seed in 1..=4 {
            let model = build(seed);
            let problem_with = |gradient: Vec<f64>| {
                let layout = model.layout.clone();
                let cost = &model.cost;
                FnProblem::new(
                    model.layout.clone(),
                    move |t| Ok(cost(t)),
                    move |_| Tensors::new(layout.clone(), gradient.clone()),
                )
            };
            let good = (model.gradient)(&model.theta);
            for declared in [None, Some(Precision::F32)] {
                for (setting, checker) in settings() {
                    let checker = match declared {
                        Some(p) => checker.precision(p),
                        None => checker,
                    };
                    let case = format!("{} seed {seed} {setting} {declared:?}", model.name);
                    let report = checker
                        .check(&problem_with(good.clone()), &model.theta)
                        .unwrap();
                    assert_eq!(report.precision, Precision::F32, "{case}\n{report}");
                    match report.verdict {
                        gradproof::Verdict::Pass => {
                            counts.correct_pass += 1;
                            let (lo, hi) = counts.floors;
                            let floor = report.detection_floor;
                            counts.floors = (lo.min(floor), hi.max(floor));
                        }
                        gradproof::Verdict::Inconclusive => {
                            counts.correct_inconclusive += 1;
                            *counts.inconclusive_by_setting.entry(setting).or_default() += 1;
                        }
                        gradproof::Verdict::Fail => {
                            counts.false_alarms.push(format!("{case}\n{report}"))
                        }
                    }
                    // Besides the model's own bugs, a small one in every tensor: its first element
                    // off by 1e-3 of the tensor's norm (a relative error of 1e-3, near f32's floor).
                    let small: Vec<(String, String, Vec<f64>)> = model
                        .layout
                        .tensors()
                        .iter()
                        .enumerate()
                        .map(|(k, spec)| {
                            let range = model.layout.range(k);
                            let norm = good[range.clone()]
                                .iter()
                                .map(|v| v * v)
                                .sum::<f64>()
                                .sqrt();
                            let mut bad = good.clone();
                            bad[range.start] += 1e-3 * norm;
                            (
                                format!("{}[0] + 1e-3·‖g‖", spec.name),
                                format!("d{}", spec.name),
                                bad,
                            )
                        })
                        .collect();
                    let own = model.bugs.iter().map(|(bug, tensor, corrupt)| {
                        (
                            bug.to_string(),
                            tensor.to_string(),
                            corrupt(&model.theta, &good),
                        )
                    });
                    for (bug, tensor, bad) in own.chain(small) {
                        let tensor = tensor.as_str();
                        let k = model
                            .layout
                            .tensors()
                            .iter()
                            .position(|t| format!("d{}", t.name) == tensor)
                            .unwrap();
                        let size = relative_error(&bad, &good, model.layout.range(k));
                        let buggy = checker.check(&problem_with(bad), &model.theta).unwrap();
                        let floor = report.tensors[k].detection_floor();
                        if report.verdict != gradproof::Verdict::Pass {
                            // No floor is stated: the bug may not be caught, but must not pass.
                            assert!(!buggy.passed(), "{case} {bug}\n{buggy}");
                            counts.bugs_skipped_inconclusive += 1;
                            continue;
                        }
                        if size <= floor {
                            let kind = if bug.contains("1e-3") {
                                "one element 1e-3"
                            } else {
                                &bug
                            };
                            *counts.bugs_below_floor.entry(kind.to_string()).or_default() += 1;
                            continue;
                        }
                        if buggy.verdict != gradproof::Verdict::Fail {
                            counts.bugs_missed.push(format!(
                                "{case} {bug} (size {size:.1e}, floor {floor:.1e})\n{buggy}"
                            ));
                        } else if buggy.failing() != [tensor] {
                            counts.bugs_misattributed.push(format!(
                                "{case} {bug}: {:?} instead of {tensor}",
                                buggy.failing()
                            ));
                        } else {
                            counts.bugs_caught += 1;
                        }
                    }
                }
            }
        }
    }
    println!("{counts:#?}");
    assert!(counts.false_alarms.is_empty(), "{:#?}", counts.false_alarms);
    assert!(counts.bugs_missed.is_empty(), "{:#?}", counts.bugs_missed);
    assert!(
        counts.bugs_misattributed.is_empty(),
        "{:#?}",
        counts.bugs_misattributed
    );
    assert!(
        counts.correct_pass > counts.correct_inconclusive,
        "{counts:#?}"
    );
    assert!(counts.bugs_caught > 0, "{counts:#?}");
}

#[test]
fn steps_far_below_the_precision_never_pass() {
    // J(θ) = Σ θᵢ³ in f64, and a gradient wrong by a factor 2: at steps from 1e-13 down to
    // 1e-320 (θ + h = θ) neither the correct nor the wrong gradient may pass.
    let theta = [0.5, -1.0, 2.0];
    let cost = |t: &[f64]| t.iter().map(|x| x.powi(3)).sum::<f64>();
    for factor in [1.0, 2.0] {
        let grad = move |t: &[f64]| t.iter().map(|x| factor * 3.0 * x * x).collect::<Vec<f64>>();
        for step in [1e-13, 1e-14, 1e-15, 4e-16, 1e-16, 1e-20, 1e-320] {
            let report = Checker::new()
                .epsilon(step)
                .check_fn(cost, grad, &theta)
                .unwrap();
            assert!(!report.passed(), "step {step:e}, factor {factor}\n{report}");
            if factor == 1.0 {
                assert_eq!(report.verdict, gradproof::Verdict::Inconclusive, "{report}");
                assert!(
                    report.reason.as_ref().unwrap().contains("too small"),
                    "{report}"
                );
            }
        }
    }
}

#[test]
fn a_constant_cost_is_inconclusive_not_a_pass() {
    // J ignores θ: the zero gradient "agrees", but nothing was compared.
    let report =
        gradproof::check_fn(|_: &[f64]| 8.0, |t: &[f64]| vec![0.0; t.len()], &[4.0, 1.0]).unwrap();
    assert_eq!(report.verdict, gradproof::Verdict::Inconclusive, "{report}");
    assert!(
        report.reason.as_ref().unwrap().contains("did not change"),
        "{report}"
    );
    assert!(report.to_string().contains("INCONCLUSIVE"), "{report}");
}

#[test]
#[should_panic(expected = "gradient check inconclusive")]
fn assert_gradient_fails_on_an_inconclusive_check() {
    let layout = Layout::new([TensorSpec::new("w", [2])]).unwrap();
    let l = layout.clone();
    let problem = FnProblem::new(
        layout,
        |w| Ok(w.iter().map(|x| x.powi(3)).sum()),
        move |w| Tensors::new(l.clone(), w.iter().map(|x| 3.0 * x * x).collect()),
    );
    gradproof::assert_gradient_with(&Checker::new().epsilon(1e-15), &problem, &[0.5, -1.0]);
}

/// With parameters that are `f32` values and a cost declared `f32`, every point a coordinate
/// check evaluates is an `f32` value too: the perturbation is exact in the parameters' own
/// precision (the Python package relies on it for float32 arrays), in every method.
#[test]
fn perturbed_points_are_exact_in_f32_when_the_parameters_are() {
    use std::sync::Mutex;
    let theta: Vec<f64> = [0.3f32, -1.7, 2.5e-3, 1.0, -0.0, 7.25e2, 3.0, -0.75]
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    let moved = Mutex::new(Vec::new());
    let cost = |t: &[f64]| {
        // A coordinate stencil point differs from θ in one coordinate (the noise probe moves
        // them all).
        let changed: Vec<(usize, f64)> = (0..t.len())
            .filter(|&i| t[i] != theta[i])
            .map(|i| (i, t[i]))
            .collect();
        if let [point] = changed[..] {
            moved.lock().unwrap().push(point);
        }
        t.iter().map(|&x| (x as f32).powi(3)).sum::<f32>() as f64
    };
    let grad = |t: &[f64]| t.iter().map(|x| 3.0 * x * x).collect::<Vec<f64>>();
    for method in Method::ALL {
        moved.lock().unwrap().clear();
        let report = Checker::new()
            .method(method)
            .precision(Precision::F32)
            .check_fn(cost, grad, &theta)
            .unwrap();
        assert_ne!(
            report.verdict,
            gradproof::Verdict::Fail,
            "{method}: {report}"
        );
        let moved = moved.lock().unwrap();
        assert!(moved.len() >= theta.len(), "{method}: {}", moved.len());
        // The stencil's own points (the nearest to θᵢ on each side) are exact; the truncation
        // estimate's farther points are too unless they reach a coarser binade of f32 than
        // θᵢ's. (A θᵢ far smaller than the step, here 2.5e-3 against steps of 5e-3 to 2e-2,
        // has significand bits below the spacing the points reach: no symmetric step is exact
        // there, and the error bound counts the rounding instead.)
        let exact = |x: f64| f64::from(x as f32) == x;
        for (i, &t) in theta
            .iter()
            .enumerate()
            .filter(|(_, t)| t.abs() >= 0.25 || **t == 0.0)
        {
            let nearest = |above: bool| {
                moved
                    .iter()
                    .filter(|&&(j, x)| j == i && (x > t) == above)
                    .map(|&(_, x)| x)
                    .min_by(|a, b| (a - t).abs().total_cmp(&(b - t).abs()))
            };
            for x in [nearest(true), nearest(false)].into_iter().flatten() {
                assert!(
                    exact(x),
                    "{method}: θ{i} = {t} moved to {x}, not an f32 value"
                );
            }
        }
        let inexact = moved.iter().filter(|(_, x)| !exact(*x)).count();
        assert!(
            4 * inexact <= moved.len(),
            "{method}: {inexact} of {} inexact",
            moved.len()
        );
    }
}
