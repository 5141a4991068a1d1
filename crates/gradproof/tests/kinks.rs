//! Kinks checked, not skipped: at a coordinate whose line crosses a kink of the cost, the
//! hand-written value must lie in the interval between the one-sided derivatives. Three models
//! with parameters exactly on kinks — L1-regularised logistic regression with weights at 0, a
//! ReLU layer with pre-activations at 0, a max-pool with ties — each with two valid subgradient
//! conventions (which must pass) and one value outside the interval (which must fail, naming the
//! tensor and only the kink elements), in every method × mode, by finite differences and by
//! dual numbers, in `f64` and with the cost rounded to `f32` (declared, and recognised), with and
//! without kink signatures.

use std::hash::{DefaultHasher, Hash, Hasher};

use gradproof::num_dual::DualNum;
use gradproof::{
    Checker, DualCost, Layout, Method, Mode, Precision, Problem, Reference, Report, Result,
    TensorSpec, Tensors, Verdict, kink,
};

/// Deterministic test data of size ~1: `2·sin(12.9898·(i + 78.233·seed))`, the same everywhere.
fn data(seed: u64, i: usize) -> f64 {
    2.0 * ((i as f64 + 78.233 * seed as f64) * 12.9898).sin()
}

/// A model with parameters exactly on kinks: its cost written once over the scalar type (with
/// the helpers of `gradproof::kink`), its hand-written gradient given the value it takes at a
/// kink, and which elements lie on one.
trait Case: DualCost + Sync {
    fn layout(&self) -> Layout;
    fn theta(&self) -> Vec<f64>;
    /// The gradient, with `at_kink` the convention at the kinks (e.g. relu'(0)).
    fn gradient(&self, theta: &[f64], at_kink: f64) -> Vec<f64>;
    /// The pieces `θ` lies on (which side of each kink).
    fn pieces(&self, theta: &[f64]) -> Vec<bool>;
    /// The tensor with the kinks, and the flat indices of its kink elements.
    fn kinks(&self) -> (&'static str, Vec<usize>);
    /// Two valid conventions at the kinks, and one outside the interval.
    fn conventions(&self) -> ([f64; 2], f64);
}

/// How the finite differences see the cost.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Precision32 {
    F64,
    /// Parameters and result rounded to `f32` (a cost that stores both in float32), declared.
    F32Declared,
    /// The same, left for the noise probe to recognise.
    F32Recognised,
}

struct Checked<'a, C> {
    case: &'a C,
    layout: Layout,
    at_kink: f64,
    f32: bool,
    signed: bool,
}

impl<C: Case> Checked<'_, C> {
    fn point(&self, theta: &[f64]) -> Vec<f64> {
        if self.f32 {
            theta.iter().map(|&t| f64::from(t as f32)).collect()
        } else {
            theta.to_vec()
        }
    }
}

impl<C: Case> Problem for Checked<'_, C> {
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn cost(&self, theta: &[f64]) -> Result<f64> {
        let value = self.case.cost(&self.point(theta));
        Ok(if self.f32 {
            f64::from(value as f32)
        } else {
            value
        })
    }

    fn cost_with_signature(&self, theta: &[f64]) -> Result<(f64, Option<u64>)> {
        let signature = self.signed.then(|| {
            let mut hasher = DefaultHasher::new();
            self.case.pieces(&self.point(theta)).hash(&mut hasher);
            hasher.finish()
        });
        Ok((self.cost(theta)?, signature))
    }

    fn gradient(&self, theta: &[f64]) -> Result<Tensors> {
        Tensors::new(self.layout.clone(), self.case.gradient(theta, self.at_kink))
    }

    fn directional_derivative(&self, theta: &[f64], direction: &[f64]) -> Option<Result<f64>> {
        Some(Ok(DualCost::directional_derivative(
            self.case, theta, direction,
        )))
    }
}

const LAMBDA: f64 = 0.1;
const FEATURES: usize = 6;
const EXAMPLES: usize = 8;

/// `J(w, b) = (1/m) Σ [log(1 + e^z) − y·z] + λ·Σ|wⱼ|`, `z = w·x + b`, with `w₁ = w₄ = 0`.
struct L1Logistic {
    x: Vec<f64>,
    y: Vec<f64>,
}

impl L1Logistic {
    fn new() -> Self {
        let x = (0..EXAMPLES * FEATURES).map(|i| data(7, i)).collect();
        let y = (0..EXAMPLES).map(|n| (n % 3 == 0) as u8 as f64).collect();
        L1Logistic { x, y }
    }
}

impl DualCost for L1Logistic {
    fn cost<D: DualNum<f64> + Copy>(&self, t: &[D]) -> D {
        let (w, b) = (&t[..FEATURES], t[FEATURES]);
        let mut total = D::from(0.0);
        for n in 0..EXAMPLES {
            let z = (0..FEATURES).fold(b, |z, j| z + w[j] * self.x[n * FEATURES + j]);
            total += (z.exp() + 1.0).ln() - z * self.y[n];
        }
        let penalty = w.iter().fold(D::from(0.0), |s, &v| s + kink::abs(v));
        total / EXAMPLES as f64 + penalty * LAMBDA
    }
}

impl Case for L1Logistic {
    fn layout(&self) -> Layout {
        Layout::new([TensorSpec::new("w", [FEATURES]), TensorSpec::new("b", [])]).unwrap()
    }
    fn theta(&self) -> Vec<f64> {
        vec![0.4, 0.0, -0.7, 0.25, 0.0, 1.1, -0.2]
    }
    fn gradient(&self, t: &[f64], sign_at_zero: f64) -> Vec<f64> {
        let (w, b) = (&t[..FEATURES], t[FEATURES]);
        let mut g = vec![0.0; FEATURES + 1];
        for n in 0..EXAMPLES {
            let x = &self.x[n * FEATURES..(n + 1) * FEATURES];
            let z = b + w.iter().zip(x).map(|(w, x)| w * x).sum::<f64>();
            let residual = 1.0 / (1.0 + (-z).exp()) - self.y[n];
            for j in 0..FEATURES {
                g[j] += residual * x[j] / EXAMPLES as f64;
            }
            g[FEATURES] += residual / EXAMPLES as f64;
        }
        for j in 0..FEATURES {
            let sign = if w[j] == 0.0 {
                sign_at_zero
            } else {
                w[j].signum()
            };
            g[j] += LAMBDA * sign;
        }
        g
    }
    fn pieces(&self, t: &[f64]) -> Vec<bool> {
        t[..FEATURES].iter().map(|&w| w > 0.0).collect()
    }
    fn kinks(&self) -> (&'static str, Vec<usize>) {
        ("dw", vec![1, 4])
    }
    fn conventions(&self) -> ([f64; 2], f64) {
        // sign(0) = 0 and sign(0) = +1 are subgradients of |w| at 0; 3λ is not.
        ([0.0, 1.0], 3.0)
    }
}

const INPUTS: usize = 3;
const HIDDEN: usize = 4;
const ROWS: usize = 6;

/// `J(W, c, v) = (1/2m) Σ (v·relu(W xₙ + c) − tₙ)²` with `x₀ = 0` and `c₀ = c₂ = 0`: the
/// pre-activations of units 0 and 2 for example 0 are exactly 0 (kinks along `c₀`, `c₂`).
struct ReluLayer {
    x: Vec<f64>,
    target: Vec<f64>,
}

impl ReluLayer {
    fn new() -> Self {
        let mut x: Vec<f64> = (0..ROWS * INPUTS).map(|i| data(11, i)).collect();
        x[..INPUTS].fill(0.0);
        let target = (0..ROWS).map(|n| 1.5 - 0.5 * n as f64).collect();
        ReluLayer { x, target }
    }

    /// Pre-activations, row-major (example, unit), at `f64`.
    fn z(&self, t: &[f64]) -> Vec<f64> {
        let (w, c) = (
            &t[..HIDDEN * INPUTS],
            &t[HIDDEN * INPUTS..HIDDEN * INPUTS + HIDDEN],
        );
        (0..ROWS * HIDDEN)
            .map(|k| {
                let (n, j) = (k / HIDDEN, k % HIDDEN);
                (0..INPUTS).fold(0.0, |s, i| s + w[j * INPUTS + i] * self.x[n * INPUTS + i]) + c[j]
            })
            .collect()
    }
}

impl DualCost for ReluLayer {
    fn cost<D: DualNum<f64> + Copy>(&self, t: &[D]) -> D {
        let (w, c) = (
            &t[..HIDDEN * INPUTS],
            &t[HIDDEN * INPUTS..HIDDEN * INPUTS + HIDDEN],
        );
        let v = &t[HIDDEN * INPUTS + HIDDEN..];
        let mut total = D::from(0.0);
        for n in 0..ROWS {
            let mut out = D::from(0.0);
            for j in 0..HIDDEN {
                let z = (0..INPUTS).fold(D::from(0.0), |s, i| {
                    s + w[j * INPUTS + i] * self.x[n * INPUTS + i]
                }) + c[j];
                out += v[j] * kink::relu(z);
            }
            let e = out - self.target[n];
            total += e * e;
        }
        total / (2 * ROWS) as f64
    }
}

impl Case for ReluLayer {
    fn layout(&self) -> Layout {
        Layout::new([
            TensorSpec::new("W", [HIDDEN, INPUTS]),
            TensorSpec::new("c", [HIDDEN]),
            TensorSpec::new("v", [HIDDEN]),
        ])
        .unwrap()
    }
    fn theta(&self) -> Vec<f64> {
        let mut t: Vec<f64> = (0..HIDDEN * INPUTS + 2 * HIDDEN)
            .map(|i| 0.4 * data(5, i))
            .collect();
        let c = HIDDEN * INPUTS;
        t[c] = 0.0;
        t[c + 2] = 0.0;
        t[c + 1] = 0.6;
        t[c + 3] = 0.9;
        // Output weights of size ~1, so that the kinks' jumps are large.
        t[c + HIDDEN..].copy_from_slice(&[1.2, -0.9, 0.8, 1.1]);
        t
    }
    fn gradient(&self, t: &[f64], relu_at_zero: f64) -> Vec<f64> {
        let v = &t[HIDDEN * INPUTS + HIDDEN..];
        let z = self.z(t);
        let mut g = vec![0.0; t.len()];
        for n in 0..ROWS {
            let zn = &z[n * HIDDEN..(n + 1) * HIDDEN];
            let out: f64 = (0..HIDDEN).map(|j| v[j] * zn[j].max(0.0)).sum();
            let e = (out - self.target[n]) / ROWS as f64;
            for j in 0..HIDDEN {
                let slope = match zn[j] {
                    z if z > 0.0 => 1.0,
                    z if z < 0.0 => 0.0,
                    _ => relu_at_zero,
                };
                let delta = e * v[j] * slope;
                for i in 0..INPUTS {
                    g[j * INPUTS + i] += delta * self.x[n * INPUTS + i];
                }
                g[HIDDEN * INPUTS + j] += delta;
                g[HIDDEN * INPUTS + HIDDEN + j] += e * zn[j].max(0.0);
            }
        }
        g
    }
    fn pieces(&self, t: &[f64]) -> Vec<bool> {
        self.z(t).iter().map(|&z| z > 0.0).collect()
    }
    fn kinks(&self) -> (&'static str, Vec<usize>) {
        ("dc", vec![0, 2])
    }
    fn conventions(&self) -> ([f64; 2], f64) {
        ([0.0, 1.0], 2.0)
    }
}

const POOLS: usize = 4;
const MU: f64 = 0.05;

/// `J(x) = ½ Σₚ (max(x₂ₚ, x₂ₚ₊₁) − tₚ)² + ½μ‖x‖²`, a max-pool of width 2 with ties in pools 0
/// and 2 (the small L2 term keeps every element's gradient away from 0).
struct MaxPool {
    target: [f64; POOLS],
}

impl DualCost for MaxPool {
    fn cost<D: DualNum<f64> + Copy>(&self, x: &[D]) -> D {
        let l2 = x.iter().fold(D::from(0.0), |s, &v| s + v * v) * (0.5 * MU);
        (0..POOLS).fold(l2, |s, p| {
            let e = kink::max(x[2 * p], x[2 * p + 1]) - self.target[p];
            s + e * e * 0.5
        })
    }
}

impl Case for MaxPool {
    fn layout(&self) -> Layout {
        Layout::new([TensorSpec::new("x", [POOLS, 2])]).unwrap()
    }
    fn theta(&self) -> Vec<f64> {
        vec![0.5, 0.5, -1.0, 0.3, -0.3, -0.3, 0.9, 1.4]
    }
    /// The residual of a tied pool routed `share` to its first element, `1 − share` to the
    /// second (any share in [0, 1] is a subgradient).
    fn gradient(&self, x: &[f64], share: f64) -> Vec<f64> {
        let mut g: Vec<f64> = x.iter().map(|v| MU * v).collect();
        for p in 0..POOLS {
            let (a, b) = (x[2 * p], x[2 * p + 1]);
            let residual = a.max(b) - self.target[p];
            if a == b {
                g[2 * p] += share * residual;
                g[2 * p + 1] += (1.0 - share) * residual;
            } else {
                g[2 * p + usize::from(b > a)] += residual;
            }
        }
        g
    }
    fn pieces(&self, x: &[f64]) -> Vec<bool> {
        (0..POOLS).map(|p| x[2 * p] >= x[2 * p + 1]).collect()
    }
    fn kinks(&self) -> (&'static str, Vec<usize>) {
        ("dx", vec![0, 1, 4, 5])
    }
    fn conventions(&self) -> ([f64; 2], f64) {
        // All to the first element, or split evenly; routing twice the residual is not.
        ([1.0, 0.5], 2.0)
    }
}

/// One setting: its label, the checker, its mode, whether the cost is rounded to `f32` and
/// whether it reports kink signatures.
type Setting = (String, Checker, Mode, bool, bool);

/// Every reference (method, or dual) × mode × precision × signature.
fn settings() -> Vec<Setting> {
    let mut out = Vec::new();
    let references = Method::ALL
        .into_iter()
        .map(Reference::Differences)
        .chain([Reference::Dual]);
    for reference in references {
        for mode in [
            Mode::Exhaustive,
            Mode::Sampled { per_tensor: 4 },
            Mode::Directional { top: 3 },
        ] {
            for precision in [
                Precision32::F64,
                Precision32::F32Declared,
                Precision32::F32Recognised,
            ] {
                for signed in [true, false] {
                    let mut checker = Checker::new().reference(reference).mode(mode).seed(4);
                    if precision == Precision32::F32Declared {
                        checker = checker.precision(Precision::F32);
                    }
                    let label = format!("{reference} {mode} {precision:?} signed={signed}");
                    out.push((label, checker, mode, precision != Precision32::F64, signed));
                }
            }
        }
    }
    out
}

/// Counts over every setting, for the message and docs/validation.md.
#[derive(Debug, Default)]
struct Tally {
    checks: usize,
    /// Valid conventions found inconclusive (detection floor above 1e-2).
    inconclusive: usize,
    /// Checks of the value outside the interval: failed naming the tensor and only kink
    /// elements, and passed because the sample drew no kink element.
    caught: usize,
    unsampled: usize,
    /// Kink elements checked by interval, and those found outside.
    kinks: usize,
    outside: usize,
}

fn run<C: Case>(case: &C, tally: &mut Tally) {
    let (tensor, positions) = case.kinks();
    let (valid, wrong) = case.conventions();
    let theta = case.theta();
    let layout = case.layout();
    let kink_range = {
        let k = layout
            .tensors()
            .iter()
            .position(|t| format!("d{}", t.name) == tensor)
            .unwrap();
        layout.range(k)
    };
    for (label, checker, mode, f32, signed) in settings() {
        let problem = |at_kink| Checked {
            case,
            layout: layout.clone(),
            at_kink,
            f32,
            signed,
        };
        let exhaustive = mode == Mode::Exhaustive;
        // Without signatures, a difference that already agrees with the analytic value (a
        // forward difference equal to the right derivative, a central one equal to the
        // midpoint) is taken as it is, without a kink test: it lies in the interval anyway,
        // but is not counted as a kink. With signatures every kink at θ is seen (a forward
        // difference looks at θ − h's piece too).
        let counted = label.starts_with("dual") || signed;
        for convention in valid {
            let report = checker.check(&problem(convention), &theta).unwrap();
            tally.checks += 1;
            if f32 && !label.starts_with("dual") {
                assert_eq!(report.precision, Precision::F32, "{label}\n{report}");
            }
            // Never a false alarm; inconclusive only where the cost's precision leaves the
            // differences a detection floor above 1e-2 (forward differences of an f32 cost).
            let floor = report
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("cannot catch a gradient error below"));
            match report.verdict {
                Verdict::Pass => {}
                Verdict::Inconclusive if floor => tally.inconclusive += 1,
                _ => panic!("{label} at {convention}\n{report}"),
            }
            let kinks = (exhaustive && counted).then_some(positions.len());
            assert_kink_counts(&label, &report, tensor, kinks, 0);
            tally.kinks += report.tensors.iter().map(|t| t.kink).sum::<usize>();
        }
        let report = checker.check(&problem(wrong), &theta).unwrap();
        tally.checks += 1;
        let directional = matches!(mode, Mode::Directional { .. });
        let sampled_some = !directional
            && (exhaustive || {
                // A sample finds the error only if it drew a kink element.
                let oracle = checker.oracle(&problem(wrong), &theta).unwrap();
                positions
                    .iter()
                    .any(|&p| oracle.intervals()[kink_range.start + p].is_some())
            });
        if directional || sampled_some {
            assert_eq!(
                report.verdict,
                Verdict::Fail,
                "{label} at {wrong}\n{report}"
            );
            assert_eq!(report.failing(), [tensor], "{label}\n{report}");
            let row = report
                .tensors
                .iter()
                .find(|t| t.gradient_name == tensor)
                .unwrap();
            // Only the kink elements are wrong, and they are named as such.
            assert!(
                row.disagree >= 1 && row.kink_outside == row.disagree,
                "{label}\n{report}"
            );
            let worst = row.worst().unwrap();
            // Row-major over the tensor's shape (only the max-pool's is 2-D, [4, 2]).
            let flat = worst.index.iter().fold(0, |f, &i| f * 2 + i);
            assert!(
                positions.contains(&flat),
                "{label}: {:?}\n{report}",
                worst.index
            );
            assert!(
                worst.interval.is_some() && worst.ratio > 1.0,
                "{label}\n{report}"
            );
            assert!(!report.verdict().contains("roundoff"), "{label}\n{report}");
            assert!(report.to_string().contains("outside"), "{label}\n{report}");
            if exhaustive {
                assert_kink_counts(
                    &label,
                    &report,
                    tensor,
                    Some(positions.len()),
                    positions.len(),
                );
            }
            tally.outside += row.kink_outside;
            tally.caught += 1;
        } else {
            tally.unsampled += 1;
            assert_eq!(report.verdict, Verdict::Pass, "{label}\n{report}");
        }
    }
}

/// In exhaustive mode: exactly `kinks` elements of `tensor` checked by interval (none
/// elsewhere), `outside` of them outside it, none unresolved.
fn assert_kink_counts(
    label: &str,
    report: &Report,
    tensor: &str,
    kinks: Option<usize>,
    outside: usize,
) {
    for row in &report.tensors {
        assert_eq!(row.unresolved, 0, "{label}\n{report}");
        assert_eq!(
            row.examined,
            row.agree + row.disagree + row.unresolved,
            "{report}"
        );
        let Some(kinks) = kinks else { continue };
        let expected = if row.gradient_name == tensor {
            (kinks, outside)
        } else {
            (0, 0)
        };
        assert_eq!(
            (row.kink, row.kink_outside),
            expected,
            "{}\n{report}",
            row.gradient_name
        );
    }
}

#[test]
fn l1_at_exact_zeros() {
    let mut tally = Tally::default();
    run(&L1Logistic::new(), &mut tally);
    eprintln!("L1 logistic regression: {tally:?}");
    assert_eq!(tally.checks, 5 * 3 * 3 * 2 * 3);
}

#[test]
fn relu_pre_activations_at_zero() {
    let mut tally = Tally::default();
    run(&ReluLayer::new(), &mut tally);
    eprintln!("ReLU layer: {tally:?}");
    assert_eq!(tally.checks, 5 * 3 * 3 * 2 * 3);
}

#[test]
fn max_pool_with_ties() {
    let mut tally = Tally::default();
    run(
        &MaxPool {
            target: [0.1, 0.2, 0.4, -0.5],
        },
        &mut tally,
    );
    eprintln!("max-pool: {tally:?}");
    assert_eq!(tally.checks, 5 * 3 * 3 * 2 * 3);
}

/// Reports at kinks (intervals, the dual oracle's fallback, the directional bisection) are the
/// same bytes whatever the thread count, apart from the wall time.
#[test]
fn reports_at_kinks_do_not_depend_on_the_thread_count() {
    let case = L1Logistic::new();
    let problem = Checked {
        case: &case,
        layout: case.layout(),
        at_kink: 3.0,
        f32: false,
        signed: false,
    };
    for checker in [
        Checker::new(),
        Checker::new().dual(),
        Checker::new().mode(Mode::Directional { top: 3 }),
        Checker::new().dual().mode(Mode::Directional { top: 3 }),
    ] {
        let reports: Vec<String> = [1, 4]
            .into_iter()
            .map(|threads| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut report = pool.install(|| checker.check(&problem, &case.theta()).unwrap());
                report.seconds = 0.0;
                serde_json::to_string(&report).unwrap()
            })
            .collect();
        assert_eq!(reports[0], reports[1]);
        assert!(reports[0].contains("\"kink_outside\":2"), "{}", reports[0]);
    }
}
