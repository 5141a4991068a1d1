//! The exact (dual-number) oracle on the MLP: the generic cost equals the fused one at `f64`; on
//! 200 random networks (depth 1–4, widths 1–32, 1–64 examples, every activation, some with
//! pre-activations exactly on kinks, some with saturated sigmoids, some with L2, class weights and
//! dropout) the exact partial derivatives agree with the hand-written gradient to ≤ 1e-12
//! relative per tensor with no kink anywhere; and every bug of the meta-test catalogue is caught
//! and named by the dual *directional* check, with about one forward pass per tensor plus the
//! localisation. Run with `--nocapture` for the counts.

mod common;

use std::collections::BTreeMap;

use fraudnet::{Activation, Bug, Mlp, MlpProblem, NumpyRng};
use gradproof::oracle::Oracle;
use gradproof::{Checker, Mode, Problem, Tensors};

const CASES: u32 = 200;

/// A random case: the problem, its parameters and the kind of case.
fn case(seed: u32) -> (MlpProblem, Tensors, &'static str) {
    let mut rng = NumpyRng::new(seed ^ 0xD0A1);
    let mut pick =
        |lo: usize, hi: usize| lo + (rng.random_sample() * (hi - lo + 1) as f64) as usize;
    let depth = pick(1, 4);
    let mut sizes: Vec<usize> = (0..depth).map(|_| pick(1, 32)).collect();
    sizes.push(1);
    let examples = pick(1, 64);
    let activation = Activation::ALL[pick(0, 3)];
    let extras = pick(0, 1) == 1;
    let flavour = pick(0, 2);
    let (random, mut theta) =
        MlpProblem::random(&sizes, examples, seed.wrapping_mul(104_729)).unwrap();
    let mut mlp = random.mlp().clone().with_activation(activation);
    if extras {
        mlp = mlp.with_l2(0.3).unwrap().with_positive_weight(5.0).unwrap();
    }
    let mut problem = MlpProblem::new(mlp.clone(), random.x().clone(), random.y().clone()).unwrap();
    if extras && depth > 1 {
        problem = problem.with_dropout(0.25, seed).unwrap();
    }
    let kind = match flavour {
        1 => {
            // Pre-activations exactly on the kink, and a few weights and biases zeroed outright.
            common::put_on_kinks(&problem, &mut theta, &mut pick);
            if depth > 1 {
                for name in ["W1", "b1"] {
                    let mut t = theta.get_mut(name).unwrap();
                    t.index_axis_mut(ndarray::Axis(0), 0).fill(0.0);
                }
            }
            "kinks"
        }
        2 => {
            common::saturate_output(&problem, &mut theta);
            "saturated"
        }
        _ => "plain",
    };
    (problem, theta, kind)
}

fn dual() -> Checker {
    Checker::new().dual()
}

#[test]
fn the_generic_cost_at_f64_is_the_fused_cost() {
    let mut worst: f64 = 0.0;
    for seed in 0..CASES {
        let (problem, theta, _) = case(seed);
        let (mlp, x, y) = (problem.mlp(), problem.x().view(), problem.y().view());
        let fused = mlp
            .cost_masked(theta.values(), x, y, problem.mask())
            .unwrap();
        let generic = mlp
            .cost_generic(theta.values(), x, y, problem.mask())
            .unwrap();
        let relative = (generic - fused).abs() / fused.abs();
        worst = worst.max(relative);
        assert!(
            relative <= 4e-15,
            "case {seed}: {generic} vs {fused} ({relative:e})"
        );
    }
    eprintln!("[generic] largest relative difference from the fused cost: {worst:.2e}");
}

#[test]
fn the_exact_oracle_agrees_with_the_hand_written_gradient_everywhere() {
    let mut kinds = BTreeMap::<&str, usize>::new();
    let (mut worst_difference, mut worst_ratio): (f64, f64) = (0.0, 0.0);
    let (mut central_kinks, mut unresolved, mut coordinates) = (0, 0, 0);
    for seed in 0..CASES {
        let (problem, theta, kind) = case(seed);
        *kinds.entry(kind).or_default() += 1;
        let oracle = dual().oracle(&problem, theta.values()).unwrap();
        let gradient = problem.gradient(theta.values()).unwrap();
        let report = oracle.judge(&gradient).unwrap();
        assert!(report.passed(), "case {seed} ({kind}):\n{report}");
        assert_eq!(report.evaluations, 1 + theta.values().len());
        for t in &report.tensors {
            assert_eq!(t.kink, 0, "case {seed}");
            // Coordinates smaller than the rounding allowance itself (128 ulps of the largest
            // partial derivative) agree but cannot be told from 0: counted apart.
            assert_eq!(t.disagree, 0, "case {seed}: {}", t.gradient_name);
            assert_eq!(
                t.agree + t.unresolved,
                t.checked,
                "case {seed}: {}",
                t.gradient_name
            );
            unresolved += t.unresolved;
            coordinates += t.checked;
            assert!(
                t.difference <= 1e-12,
                "case {seed} ({kind}) {}: {:e}",
                t.gradient_name,
                t.difference
            );
            worst_difference = worst_difference.max(t.difference);
        }
        for ((g, d), b) in gradient
            .values()
            .iter()
            .zip(oracle.numeric())
            .zip(oracle.bounds())
        {
            if *b > 0.0 {
                worst_ratio = worst_ratio.max((g - d).abs() / b);
            } else {
                assert_eq!(g, d, "case {seed}: a zero bound needs an exact zero");
            }
        }
        if kind == "kinks" && seed < 40 {
            // Where central differences meet the kinks the dual oracle walks through.
            let central = Checker::new().oracle(&problem, theta.values()).unwrap();
            central_kinks += central.kinks().iter().filter(|&&k| k).count();
        }
    }
    eprintln!(
        "[dual] cases {kinds:?}: largest per-tensor relative difference {worst_difference:.2e}; \
         largest |g − d| / bound {worst_ratio:.3} (agreement allows {}); coordinates central \
         differences classify as kinks in the first kinked cases: {central_kinks}, dual: 0; \
         coordinates below the rounding allowance (unresolved): {unresolved} of {coordinates}",
        gradproof::settings::NOISE_SAFETY_FACTOR
    );
    assert!(
        worst_ratio < 1.0,
        "the rounding allowance is too tight: {worst_ratio}"
    );
}

/// A ReLU at exactly z = 0 takes the left derivative (0), as the backward pass does.
#[test]
fn relu_at_exactly_zero_takes_the_left_derivative() {
    let mlp = Mlp::new(&[2, 3, 1]).unwrap();
    let x = ndarray::array![[1.0, -2.0], [0.5, 3.0]];
    let y = ndarray::array![[1.0, 0.0]];
    let problem = MlpProblem::new(mlp, x, y).unwrap();
    // W1 = 0, b1 = 0: every hidden pre-activation is exactly 0.
    let theta = [0.0; 6]
        .into_iter()
        .chain([0.0; 3])
        .chain([0.7, -0.4, 1.1, 0.2])
        .collect::<Vec<_>>();
    let exact = dual().numeric_gradient(&problem, &theta).unwrap();
    let gradient = problem.gradient(&theta).unwrap();
    assert_eq!(
        &exact[..9],
        &[0.0; 9],
        "left derivative of max(z, 0) at 0 is 0"
    );
    for (d, g) in exact.iter().zip(gradient.values()) {
        assert!((d - g).abs() <= 4.0 * f64::EPSILON * g.abs(), "{d} vs {g}");
    }
    let report = dual().check(&problem, &theta).unwrap();
    assert!(
        report.passed() && report.tensors.iter().all(|t| t.kink == 0),
        "{report}"
    );
    // Central differences cannot decide there.
    let central = Checker::new().check(&problem, &theta).unwrap();
    assert!(central.tensors[0].kink > 0, "{central}");
}

#[derive(Default, Debug)]
struct Tally {
    caught: usize,
    misattributed: usize,
    missed: usize,
    skipped: usize,
    /// Forward passes (dual) of the checks that caught a bug, summed.
    passes: usize,
}

/// A bug is one to catch when it moves some coordinate by more than 100 rounding bounds.
fn resolvable(oracle: &Oracle, correct: &[f64], buggy: &[f64]) -> bool {
    buggy
        .iter()
        .zip(correct)
        .zip(oracle.bounds())
        .any(|((b, g), bound)| (b - g).abs() > 100.0 * bound)
}

#[test]
fn the_dual_directional_check_catches_and_names_every_bug_of_the_catalogue() {
    let mut tallies = BTreeMap::<&'static str, Tally>::new();
    let (mut localised, mut single) = (0, 0);
    let (mut correct_passes, mut tensors, mut parameters) = (0, 0, 0);
    for seed in 0..CASES {
        let (problem, theta, kind) = case(seed);
        let checker = dual()
            .mode(Mode::Directional { top: 1 })
            .seed(u64::from(seed));
        let oracle = dual().oracle(&problem, theta.values()).unwrap();
        let correct = problem.gradient(theta.values()).unwrap();
        let report = checker.check(&problem, theta.values()).unwrap();
        assert!(
            report.passed(),
            "case {seed} ({kind}): false alarm\n{report}"
        );
        assert!(report.tensors.iter().all(|t| t.kink == 0));
        let layout = correct.layout().clone();
        // J(θ), the whole direction, and each tensor's probe, confirmed along a second
        // direction when the tensor has more than 3 elements; one of 2 or 3 is examined
        // element by element.
        let probes: usize = (0..layout.tensors().len())
            .map(|k| match layout.range(k).len() {
                n @ 1..=3 => n,
                _ => 2,
            })
            .sum();
        assert_eq!(report.evaluations, 2 + probes);
        correct_passes += report.evaluations - 1;
        tensors += layout.tensors().len();
        parameters += layout.len();

        let m = problem.x().ncols() as f64;
        let depth = problem.mlp().depth();
        let mut rng = NumpyRng::new(seed ^ 0xB06);
        let mut bugs: Vec<(&'static str, Bug, Vec<String>)> = Vec::new();
        for (k, spec) in layout.tensors().iter().enumerate() {
            let name = spec.name.clone();
            let own = vec![format!("d{name}")];
            let factor = [1.001, 1.01, 1.5, 2.0, 4.0][(rng.random_sample() * 5.0) as usize];
            bugs.push(("scale", Bug::scale(name.clone(), factor), own.clone()));
            bugs.push((
                "sign",
                Bug::Sign {
                    tensor: name.clone(),
                },
                own.clone(),
            ));
            bugs.push((
                "zero",
                Bug::Zero {
                    tensor: name.clone(),
                },
                own.clone(),
            ));
            bugs.push((
                "swap",
                Bug::Swap {
                    tensor: name.clone(),
                },
                own.clone(),
            ));
            if m > 1.0 {
                bugs.push(("missing 1/m", Bug::scale(name.clone(), m), own.clone()));
            }
            let range = layout.range(k);
            let g = correct.values();
            if let Some(i) = range.max_by(|&i, &j| g[i].abs().total_cmp(&g[j].abs())) {
                let index = layout.locate(i).unwrap().index;
                let delta = 1e-4 * g[i].abs();
                let bug = Bug::Add {
                    tensor: name.clone(),
                    index,
                    delta,
                };
                bugs.push(("one element 1e-4 relative", bug, own.clone()));
            }
        }
        if problem.mlp().activation() != Activation::Sigmoid {
            for layer in 1..depth {
                let below: Vec<String> = (1..=layer)
                    .flat_map(|l| [format!("dW{l}"), format!("db{l}")])
                    .collect();
                bugs.push((
                    "sigmoid derivative for ReLU",
                    Bug::SigmoidDerivative { layer },
                    below,
                ));
            }
        }
        if m > 1.0 {
            for layer in 1..=depth {
                let own = vec![format!("db{layer}")];
                bugs.push(("bias not summed", Bug::BiasNotSummed { layer }, own));
            }
        }
        for (name, bug, expected) in bugs {
            let tally = tallies.entry(name).or_default();
            let buggy_problem = problem.clone().with_bugs(vec![bug.clone()]).unwrap();
            let buggy = buggy_problem.gradient(theta.values()).unwrap();
            if !resolvable(&oracle, correct.values(), buggy.values()) {
                tally.skipped += 1;
                continue;
            }
            let report = checker.check(&buggy_problem, theta.values()).unwrap();
            let failing = report.failing();
            let named = match bug {
                // Everything below the wrong derivative is wrong too; it must be among those,
                // and include its own layer's gradients.
                Bug::SigmoidDerivative { layer } => {
                    !failing.is_empty()
                        && failing.iter().all(|f| expected.iter().any(|e| e == f))
                        && failing.iter().any(|f| f.ends_with(&layer.to_string()))
                }
                _ => failing == expected,
            };
            if named {
                tally.caught += 1;
                tally.passes += report.evaluations - 1;
            } else if failing.is_empty() {
                tally.missed += 1;
                eprintln!("missed: case {seed} ({kind}) {bug}");
            } else {
                tally.misattributed += 1;
                eprintln!("misattributed: case {seed} ({kind}) {bug}: {failing:?}");
            }
            if let Bug::Add { tensor, index, .. } = &bug {
                single += 1;
                let k = layout.tensor_index(tensor).unwrap();
                if report.tensors[k].worst().map(|w| &w.index) == Some(index) {
                    localised += 1;
                }
            }
        }
    }
    eprintln!(
        "[dual directional] correct gradients: {CASES} cases, {parameters} parameters, {tensors} \
         tensors, {correct_passes} dual passes (1 for the whole model, 1 per tensor and 1 more to \
         confirm each tensor of more than 3 elements along a second direction, 1 per element \
         of a tensor of 2 or 3)"
    );
    for (name, t) in &tallies {
        eprintln!(
            "[dual directional] bug {name:>26}: caught and named {}, misattributed {}, missed {}, \
             not a bug beyond rounding {}; dual passes per caught bug {:.1}",
            t.caught,
            t.misattributed,
            t.missed,
            t.skipped,
            t.passes as f64 / t.caught.max(1) as f64
        );
    }
    eprintln!(
        "[dual directional] single-element bugs localised to the element: {localised} of {single}"
    );
    for (name, t) in &tallies {
        assert_eq!(t.missed + t.misattributed, 0, "bug {name}: {t:?}");
        assert!(t.caught > 50, "bug {name}: {t:?}");
    }
    assert_eq!(localised, single);
}

#[test]
fn a_forgotten_dropout_mask_is_caught_through_the_frozen_mask() {
    let (problem, theta) = MlpProblem::random(&[5, 7, 6, 1], 12, 4).unwrap();
    let problem = problem.with_dropout(0.4, 9).unwrap();
    assert!(dual().check(&problem, theta.values()).unwrap().passed());
    let buggy = problem
        .with_bugs(vec![Bug::DropoutUnmasked { layer: 2 }])
        .unwrap();
    for mode in [Mode::Exhaustive, Mode::Directional { top: 2 }] {
        let report = dual().mode(mode).check(&buggy, theta.values()).unwrap();
        assert!(report.failing().contains(&"dW2"), "{report}");
        assert!(!report.failing().contains(&"dW3"), "{report}");
    }
}

/// The Jacobian check of one dense layer names the (output, input) pairs a VJP bug spoils.
#[test]
fn a_layer_vjp_bug_is_caught_and_attributed_to_its_output_input_pairs() {
    use fraudnet::{DenseLayer, LayerBug};
    use gradproof::jacobian::JacobianChecker;
    for (activation, sizes) in [
        (Activation::Tanh, (3, 4, 5)),
        (Activation::Sigmoid, (6, 2, 3)),
        (Activation::Tanh, (1, 1, 1)),
    ] {
        let (n_in, n_out, m) = sizes;
        let layer = DenseLayer::new(n_in, n_out, m, activation).unwrap();
        let x = layer.random_inputs(11);
        let report = JacobianChecker::new().check(&layer, x.values()).unwrap();
        assert!(report.passed(), "{report}");
        assert_eq!(report.blocks.len(), 6);
        assert_eq!(report.vjps, 2 * n_out * m);
        for b in &report.blocks {
            assert!(b.difference < 1e-8, "{report}");
        }
        let cases = [
            (LayerBug::BiasNotSummed, vec!["∂Z/∂b", "∂A/∂b"]),
            (
                LayerBug::InputGradientTransposedWrongly,
                vec!["∂Z/∂X", "∂A/∂X"],
            ),
        ];
        for (bug, expected) in cases {
            let report = JacobianChecker::new()
                .check(&layer.clone().with_bug(bug), x.values())
                .unwrap();
            if m == 1 && bug == LayerBug::BiasNotSummed || n_in == 1 && n_out == 1 {
                // One example: the first is the sum. One by one: Wᵀ is W. No bug to catch.
                assert!(report.passed(), "{bug:?}: {report}");
                continue;
            }
            assert_eq!(report.failing(), expected, "{bug:?}: {report}");
        }
    }
    // The element named is a wrong one: db[i] of example j ≠ 0 for the unsummed bias.
    let layer = DenseLayer::new(3, 4, 5, Activation::Tanh).unwrap();
    let x = layer.random_inputs(3);
    let report = JacobianChecker::new()
        .check(&layer.with_bug(LayerBug::BiasNotSummed), x.values())
        .unwrap();
    let block = report
        .blocks
        .iter()
        .find(|b| b.output == "Z" && b.input == "b")
        .unwrap();
    let worst = &block.top[0];
    assert_eq!(worst.input_index[0], worst.output_index[0], "{report}");
    assert_ne!(worst.output_index[1], 0);
    assert_eq!((worst.analytic, worst.numeric.round()), (0.0, 1.0));
    assert_eq!(block.disagree, 4 * 4);
}
