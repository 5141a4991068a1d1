//! Sharded checks: the partials of `N` shards merge into the very report of the unsharded check
//! (compared as JSON, timings aside) on random models — smooth, with kinks, with wrong gradients
//! — in every mode (exhaustive, sampled, directional) and with both references (finite
//! differences, exact dual passes), with and without a tolerance, at one point and several; and
//! shards that do not make one check (missing, twice, another model, count or mode) are refused
//! by name.

use gradproof::num_dual::DualNum;
use gradproof::{
    Checker, DualCost, DualProblem, Error, Layout, Mode, Partial, Problem, Shard, TensorSpec,
    Tensors,
};
use proptest::prelude::*;

/// `J = Σ wᵢ·f(θᵢ)` with `f` smooth (`sin`) or kinked (`|x|`, a tie at 0 recorded for the dual
/// passes).
struct Sum {
    kinked: bool,
}

fn weight(i: usize) -> f64 {
    0.5 + (i % 7) as f64 * 0.25
}

impl DualCost for Sum {
    fn cost<D: DualNum<f64> + Copy>(&self, theta: &[D]) -> D {
        theta.iter().enumerate().fold(D::from(0.0), |sum, (i, &x)| {
            let f = if self.kinked {
                gradproof::kink::abs(x)
            } else {
                x.sin()
            };
            sum + f * weight(i)
        })
    }
}

/// A random model of `tensors` tensors (a `rows × 2` matrix, then vectors of `biases`), with a
/// gradient that is right or scaled wrong on the last tensor.
fn model(theta_len: (usize, usize), kinked: bool, wrong: bool) -> impl Problem {
    model_of(theta_len, 2, kinked, wrong)
}

fn model_of(theta_len: (usize, usize), vectors: usize, kinked: bool, wrong: bool) -> impl Problem {
    let mut specs = vec![TensorSpec::new("W", [theta_len.0, 2])];
    specs.extend((0..vectors - 1).map(|k| TensorSpec::new(format!("b{k}"), [theta_len.1])));
    let layout = Layout::new(specs).unwrap();
    let gradient_layout = layout.clone();
    let split = layout.len() - theta_len.1;
    DualProblem::new(layout, Sum { kinked }, move |t: &[f64]| {
        let g = t
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let d = weight(i) * if kinked { x.signum() } else { x.cos() };
                if wrong && i >= split { 1.5 * d } else { d }
            })
            .collect();
        Tensors::new(gradient_layout.clone(), g)
    })
}

/// The report as JSON with its timing zeroed: what must be equal to the byte.
fn json(mut report: gradproof::Report) -> String {
    report.seconds = 0.0;
    serde_json::to_string(&report).unwrap()
}

/// Every shard of `n`, each through a JSON round trip as it would travel between machines.
fn shards<P: Problem>(checker: &Checker, problem: &P, theta: &[f64], n: usize) -> Vec<Partial> {
    (0..n)
        .map(|k| {
            let part = checker
                .check_shard(problem, theta, Shard::new(k, n).unwrap())
                .unwrap();
            serde_json::from_str(&serde_json::to_string(&part).unwrap()).unwrap()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn merged_shards_are_the_unsharded_report(
        rows in 1usize..6,
        biases in 1usize..5,
        tensors in 2usize..6,
        kinked in any::<bool>(),
        wrong in any::<bool>(),
        mode in 0usize..3,
        dual in any::<bool>(),
        tolerance in any::<bool>(),
        points in 1usize..3,
        seed in 0u64..1000,
        values in proptest::collection::vec(-2.0f64..2.0, 30),
    ) {
        let problem = model_of((rows, biases), tensors, kinked, wrong);
        let len = rows * 2 + biases * (tensors - 1);
        let mut theta: Vec<f64> = values.iter().cycle().take(len).copied().collect();
        if kinked {
            theta[0] = 0.0; // exactly on a kink
        }
        let mut checker = Checker::new().seed(seed).points(points);
        checker = match mode {
            0 => checker,
            1 => checker.mode(Mode::Sampled { per_tensor: 3 }),
            _ => checker.mode(Mode::Directional { top: 2 }),
        };
        if dual {
            checker = checker.dual();
        }
        if tolerance && mode < 2 {
            checker = checker.tolerance(1e-6, 1e-8);
        }
        let whole = json(checker.check(&problem, &theta).unwrap());
        for n in [1, 2, 3, 7] {
            let mut parts = shards(&checker, &problem, &theta, n);
            parts.reverse(); // any order
            prop_assert_eq!(&json(checker.merge(&parts).unwrap()), &whole, "N = {}", n);
        }
    }
}

fn fixture() -> (impl Problem, Vec<f64>, Checker) {
    let theta = vec![0.3, -1.2, 0.7, 2.0, -0.4, 1.1, 0.9];
    (model((2, 3), false, true), theta, Checker::new().seed(4))
}

fn refusal(result: gradproof::Result<gradproof::Report>) -> String {
    match result {
        Err(e @ Error::Shards { .. }) => e.to_string(),
        other => panic!("expected the shards refused, got {other:?}"),
    }
}

#[test]
fn a_missing_or_repeated_shard_is_named() {
    let (problem, theta, checker) = fixture();
    let parts = shards(&checker, &problem, &theta, 3);
    let missing = refusal(checker.merge(&[parts[0].clone(), parts[2].clone()]));
    assert!(missing.contains("shard 1/3 is missing"), "{missing}");
    let twice = refusal(checker.merge(&[parts[0].clone(), parts[1].clone(), parts[1].clone()]));
    assert!(twice.contains("shard 1/3 is given twice"), "{twice}");
    let other_n = shards(&checker, &problem, &theta, 2);
    let mixed = refusal(checker.merge(&[parts[0].clone(), other_n[1].clone(), parts[2].clone()]));
    assert!(mixed.contains("split the check differently"), "{mixed}");
}

#[test]
fn shards_of_another_model_or_setting_are_refused() {
    let (problem, theta, checker) = fixture();
    let parts = shards(&checker, &problem, &theta, 2);
    let right = model((2, 3), false, false);
    let other = shards(&checker, &right, &theta, 2);
    let message = refusal(checker.merge(&[parts[0].clone(), other[1].clone()]));
    assert!(message.contains("another gradient"), "{message}");
    let moved: Vec<f64> = theta.iter().map(|t| t + 1e-3).collect();
    let elsewhere = shards(&checker, &problem, &moved, 2);
    let message = refusal(checker.merge(&[parts[0].clone(), elsewhere[1].clone()]));
    assert!(message.contains("another parameters θ"), "{message}");
    // Sampled shards merged as exhaustive: not the coordinates these settings check.
    let sampled = checker.clone().mode(Mode::Sampled { per_tensor: 2 });
    let message = refusal(checker.merge(&shards(&sampled, &problem, &theta, 2)));
    assert!(message.contains("no shard has coordinate"), "{message}");
}

#[test]
fn shards_of_another_mode_or_reference_are_refused() {
    let (problem, theta, checker) = fixture();
    let directional = checker.clone().mode(Mode::Directional { top: 1 });
    let parts = shards(&checker, &problem, &theta, 2);
    assert!(refusal(directional.merge(&parts)).contains("not directions"));
    let parts = shards(&directional, &problem, &theta, 2);
    assert!(refusal(checker.merge(&parts)).contains("no shard has coordinate 0"));
    let parts = shards(&checker.clone().dual(), &problem, &theta, 2);
    assert!(refusal(checker.merge(&parts)).contains("exact dual passes"));
}

#[test]
fn shards_parse_as_k_of_n() {
    assert_eq!("2/7".parse::<Shard>().unwrap(), Shard::new(2, 7).unwrap());
    for bad in ["7/7", "1", "a/3", "1/0", "-1/3", ""] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
    let read: Result<Shard, _> = serde_json::from_str(r#"{"index": 3, "count": 2}"#);
    assert!(read.is_err());
}
