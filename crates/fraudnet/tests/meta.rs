//! Meta-tests of the checker on the MLP: over thousands of random networks (depth 1–4, widths
//! 1–32, 1–64 examples, some with pre-activations placed exactly on ReLU kinks, some with
//! saturated sigmoids), the correct gradient is never reported wrong, and every bug of the
//! catalogue is caught and attributed to the right tensor. The same cases are judged by the
//! notebook's procedure (overall relative difference < 1e-7, or < 2e-7) for comparison; run with
//! `--nocapture` to see the counts.

mod common;

use fraudnet::{Bug, MlpProblem, NumpyRng};
use std::ops::Range;

use gradproof::difference::relative_difference;
use gradproof::oracle::Oracle;
use gradproof::{Checker, Layout, Mode, StepRule, Tensors, Verdict};

const CASES: u32 = 2000;

/// A random case: returns the problem and its parameters.
fn case(seed: u32) -> (MlpProblem, Tensors, &'static str) {
    let mut rng = NumpyRng::new(seed);
    let mut pick =
        |lo: usize, hi: usize| lo + (rng.random_sample() * (hi - lo + 1) as f64) as usize;
    let depth = pick(1, 4);
    let mut sizes: Vec<usize> = (0..depth).map(|_| pick(1, 32)).collect();
    sizes.push(1);
    let examples = pick(1, 64);
    let flavour = pick(0, 2);
    let (problem, mut theta) =
        MlpProblem::random(&sizes, examples, seed.wrapping_mul(7919)).unwrap();
    let kind = match flavour {
        1 => {
            common::put_on_kinks(&problem, &mut theta, &mut pick);
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

#[derive(Default, Debug)]
struct Tally {
    caught: usize,
    wrong_tensor: usize,
    missed: usize,
    skipped: usize,
    seed_1e7: usize,
    seed_2e7: usize,
}

impl Tally {
    /// Counts one resolvable bug: caught and `named` right, misattributed, or missed; and whether
    /// the notebook's procedure (its relative difference `seed_difference`) would flag it.
    fn record(&mut self, named: bool, failing: &[&str], seed_difference: f64, case: &str) {
        if named {
            self.caught += 1;
        } else if failing.is_empty() {
            self.missed += 1;
            eprintln!("missed: {case}");
        } else {
            self.wrong_tensor += 1;
            eprintln!("misattributed: {case}: {failing:?}");
        }
        self.seed_1e7 += usize::from(seed_difference >= 1e-7);
        self.seed_2e7 += usize::from(seed_difference >= 2e-7);
    }
}

#[test]
fn with_the_notebooks_fixed_step_correct_gradients_pass_and_every_bug_is_caught() {
    meta_test("central, fixed 1e-7", &Checker::new().epsilon(1e-7));
}

#[test]
fn with_scaled_steps_correct_gradients_pass_and_every_bug_is_caught() {
    let checker = Checker::new().step_rule(StepRule::Scaled(1.0));
    meta_test("central, scaled", &checker);
}

/// The bug catalogue for one tensor: scale by 1.001…4, sign, zero, swap, missing 1/m (when
/// m > 1), one element off by 1e-4 relative (the `target` element). `None` where the bug cannot
/// be made.
fn catalogue(
    tensor: &str,
    layout: &Layout,
    gradient: &[f64],
    target: Option<usize>,
    m: f64,
    rng: &mut NumpyRng,
) -> Vec<(&'static str, Option<Bug>)> {
    let tensor = tensor.to_string();
    let factor = [1.001, 1.01, 1.5, 2.0, 4.0][(rng.random_sample() * 5.0) as usize];
    vec![
        ("scale", Some(Bug::scale(tensor.clone(), factor))),
        (
            "sign",
            Some(Bug::Sign {
                tensor: tensor.clone(),
            }),
        ),
        (
            "zero",
            Some(Bug::Zero {
                tensor: tensor.clone(),
            }),
        ),
        (
            "swap",
            Some(Bug::Swap {
                tensor: tensor.clone(),
            }),
        ),
        (
            "missing 1/m",
            (m > 1.0).then(|| Bug::scale(tensor.clone(), m)),
        ),
        (
            "one element 1e-4 relative",
            target.map(|i| Bug::Add {
                tensor: tensor.clone(),
                index: layout.locate(i).unwrap().index,
                delta: 1e-4 * gradient[i].abs(),
            }),
        ),
    ]
}

/// A bug that changes nothing (all-zero gradient, equal elements) or changes the tensor by less
/// than any finite difference can resolve (100× the oracle's bound, away from kinks) is not a bug
/// to catch.
fn resolvable(oracle: &Oracle, correct: &[f64], buggy: &[f64], range: Range<usize>) -> bool {
    buggy
        .iter()
        .zip(correct)
        .zip(&oracle.bounds()[range.clone()])
        .zip(&oracle.kinks()[range])
        .any(|(((b, g), bound), kink)| !kink && (b - g).abs() > 100.0 * bound)
}

/// Every bug of the catalogue, for every tensor, that is resolvable: `(kind, tensor position,
/// bug, the gradient with the bug)`. The others are counted as skipped in `tallies`.
fn resolvable_bugs(
    oracle: &Oracle,
    correct: &Tensors,
    m: f64,
    rng: &mut NumpyRng,
    tallies: &mut std::collections::BTreeMap<&'static str, Tally>,
) -> Vec<(&'static str, usize, Bug, Tensors)> {
    let layout = correct.layout();
    let mut bugs = Vec::new();
    for (k, spec) in layout.tensors().iter().enumerate() {
        let range = layout.range(k);
        let g = &correct.values()[range.clone()];
        let target = target(oracle, correct.values(), range.clone());
        for (name, bug) in catalogue(&spec.name, layout, correct.values(), target, m, rng) {
            let Some(bug) = bug else {
                tallies.entry(name).or_default().skipped += 1;
                continue;
            };
            let mut buggy = correct.clone();
            bug.apply(&mut buggy).unwrap();
            if resolvable(oracle, g, &buggy.values()[range.clone()], range.clone()) {
                bugs.push((name, k, bug, buggy));
            } else {
                tallies.entry(name).or_default().skipped += 1;
            }
        }
    }
    bugs
}

/// The element a single-element bug hits: the largest |g| of the tensor away from kinks.
fn target(oracle: &Oracle, gradient: &[f64], range: Range<usize>) -> Option<usize> {
    range
        .filter(|&i| !oracle.kinks()[i])
        .max_by(|&i, &j| gradient[i].abs().total_cmp(&gradient[j].abs()))
}

#[test]
fn directional_mode_passes_correct_gradients_and_localises_every_bug() {
    // Kinked cases send the bisection down to single coordinates (as costly as an exhaustive
    // check, per bug): 80 cases keep this test near a minute.
    const DIRECTIONAL_CASES: u32 = 80;
    let exhaustive = Checker::new();
    let (mut false_alarms, mut inconclusive) = (Vec::new(), Vec::new());
    let mut tallies: std::collections::BTreeMap<&'static str, Tally> = Default::default();
    let (mut localised, mut single_element_bugs) = (0, 0);
    // Cost evaluations of the correct gradient's check, by kind of case: (directional, exhaustive).
    let mut evaluations = std::collections::BTreeMap::<&str, (usize, usize)>::new();
    for seed in 0..DIRECTIONAL_CASES {
        let (problem, theta, kind) = case(seed);
        let directional = Checker::new()
            .step_rule(StepRule::Scaled(1.0))
            .mode(Mode::Directional { top: 1 })
            .seed(u64::from(seed));
        let oracle = exhaustive.oracle(&problem, theta.values()).unwrap();
        let correct = gradproof::Problem::gradient(&problem, theta.values()).unwrap();
        let report = directional.check(&problem, theta.values()).unwrap();
        let counts = evaluations.entry(kind).or_default();
        counts.0 += report.evaluations;
        counts.1 += oracle.judge(&correct).unwrap().evaluations;
        match report.verdict {
            Verdict::Pass => {}
            Verdict::Fail => false_alarms.push(format!(
                "case {seed} ({kind}): {}",
                report.failure_lines().join("; ")
            )),
            // As in the exhaustive meta-test: not an alarm, counted and shown.
            Verdict::Inconclusive => inconclusive.push(format!(
                "case {seed} ({kind}): {}",
                report.reason.as_deref().unwrap_or_default()
            )),
        }
        let m = problem.x().ncols() as f64;
        let mut rng = NumpyRng::new(seed ^ 0xB06);
        for (name, k, bug, _) in resolvable_bugs(&oracle, &correct, m, &mut rng, &mut tallies) {
            let spec = &correct.layout().tensors()[k];
            let tally = tallies.entry(name).or_default();
            let buggy_problem = problem.clone().with_bugs(vec![bug.clone()]).unwrap();
            let report = directional.check(&buggy_problem, theta.values()).unwrap();
            let failing = report.failing();
            if failing == [format!("d{}", spec.name)] {
                tally.caught += 1;
            } else if failing.is_empty() {
                tally.missed += 1;
                eprintln!("directional missed: case {seed} ({kind}) {bug}");
            } else {
                tally.wrong_tensor += 1;
                eprintln!("directional misattributed: case {seed} ({kind}) {bug}: {failing:?}");
            }
            if let Bug::Add { index, .. } = &bug {
                single_element_bugs += 1;
                let named = report.tensors[k].worst().map(|w| &w.index);
                if named == Some(index) {
                    localised += 1;
                } else {
                    eprintln!("directional: case {seed} ({kind}) {bug} localised at {named:?}");
                }
            }
        }
    }
    eprintln!(
        "[directional] correct gradient: false alarms {} of {DIRECTIONAL_CASES}; cost evaluations (directional, exhaustive) by kind of case: {evaluations:?}",
        false_alarms.len()
    );
    eprintln!(
        "[directional] single-element bugs localised to the element: {localised} of {single_element_bugs}"
    );
    eprintln!(
        "[directional] correct gradient: inconclusive {} of {DIRECTIONAL_CASES}: {inconclusive:#?}",
        inconclusive.len()
    );
    for (name, t) in &tallies {
        eprintln!(
            "[directional] bug {name:>26}: caught and named {}, misattributed {}, missed {}, not a resolvable bug {}",
            t.caught, t.wrong_tensor, t.missed, t.skipped
        );
    }
    assert!(false_alarms.is_empty(), "{false_alarms:#?}");
    for (name, t) in &tallies {
        assert_eq!(t.missed + t.wrong_tensor, 0, "bug {name}: {t:?}");
    }
    assert_eq!(localised, single_element_bugs);
}

fn meta_test(label: &str, checker: &Checker) {
    let mut false_alarms = Vec::new();
    let mut seed_rejects_correct = (0, 0);
    let mut inconclusive = Vec::new();
    let mut tallies: std::collections::BTreeMap<&'static str, Tally> = Default::default();
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    let mut kink_coordinates = 0;
    for seed in 0..CASES {
        let (problem, theta, kind) = case(seed);
        *kinds.entry(kind).or_default() += 1;
        let oracle = checker.oracle(&problem, theta.values()).unwrap();
        kink_coordinates += oracle.kinks().iter().filter(|&&k| k).count();
        let correct = gradproof::Problem::gradient(&problem, theta.values()).unwrap();
        let report = oracle.judge(&correct).unwrap();
        match report.verdict {
            Verdict::Pass => {}
            Verdict::Fail => false_alarms.push(format!(
                "case {seed} ({kind}): {}",
                report.failure_lines().join("; ")
            )),
            // Not an alarm, but not a pass on no evidence either: counted and shown.
            Verdict::Inconclusive => inconclusive.push(format!(
                "case {seed} ({kind}): {}",
                report.reason.as_deref().unwrap_or_default()
            )),
        }
        let seed_difference = relative_difference(correct.values(), oracle.numeric());
        seed_rejects_correct.0 += usize::from(seed_difference >= 1e-7);
        seed_rejects_correct.1 += usize::from(seed_difference >= 2e-7);

        let m = problem.x().ncols() as f64;
        let mut rng = NumpyRng::new(seed ^ 0xB06);
        let layout = correct.layout().clone();
        for (name, k, bug, buggy) in resolvable_bugs(&oracle, &correct, m, &mut rng, &mut tallies) {
            let spec = &layout.tensors()[k];
            let tally = tallies.entry(name).or_default();
            let report = oracle.judge(&buggy).unwrap();
            let failing = report.failing();
            let named = failing == [format!("d{}", spec.name)];
            let seed_difference = relative_difference(buggy.values(), oracle.numeric());
            let case = format!("case {seed} ({kind}) {bug}");
            tally.record(named, &failing, seed_difference, &case);
        }

        // Mistakes inside the backward pass: a ReLU differentiated as a sigmoid spoils its
        // layer's gradients and every layer below; an unsummed bias gradient spoils only itself.
        let depth = problem.mlp().depth();
        let structural = (1..depth)
            .map(|layer| {
                (
                    "sigmoid derivative for ReLU",
                    Bug::SigmoidDerivative { layer },
                    layer,
                )
            })
            .chain(
                (1..=depth)
                    .filter(|_| m > 1.0)
                    .map(|layer| ("bias not summed", Bug::BiasNotSummed { layer }, layer)),
            );
        for (name, bug, layer) in structural {
            let tally = tallies.entry(name).or_default();
            let buggy_problem = problem.clone().with_bugs(vec![bug.clone()]).unwrap();
            let buggy = gradproof::Problem::gradient(&buggy_problem, theta.values()).unwrap();
            let all = 0..layout.len();
            if !resolvable(&oracle, correct.values(), buggy.values(), all) {
                tally.skipped += 1;
                continue;
            }
            let report = oracle.judge(&buggy).unwrap();
            let failing = report.failing();
            let own = [format!("dW{layer}"), format!("db{layer}")];
            let at_or_below = |g: &&str| g[2..].parse::<usize>().is_ok_and(|l| l <= layer);
            let named = match bug {
                Bug::BiasNotSummed { .. } => failing == [own[1].as_str()],
                _ => {
                    failing.iter().any(|g| own.iter().any(|o| o == g))
                        && failing.iter().all(at_or_below)
                }
            };
            let seed_difference = relative_difference(buggy.values(), oracle.numeric());
            let case = format!("case {seed} ({kind}) {bug}");
            tally.record(named, &failing, seed_difference, &case);
        }
    }
    eprintln!("[{label}] cases: {kinds:?}, coordinates classified as kinks: {kink_coordinates}");
    eprintln!(
        "[{label}] correct gradient: gradproof false alarms {} of {CASES}; seed procedure rejects {} (1e-7) / {} (2e-7)",
        false_alarms.len(),
        seed_rejects_correct.0,
        seed_rejects_correct.1
    );
    for (name, t) in &tallies {
        eprintln!(
            "[{label}] bug {name:>26}: caught and named {}, misattributed {}, missed {}, not a resolvable bug {}; seed procedure flags {} (1e-7) / {} (2e-7)",
            t.caught, t.wrong_tensor, t.missed, t.skipped, t.seed_1e7, t.seed_2e7
        );
    }
    eprintln!(
        "[{label}] correct gradient: inconclusive {} of {CASES}: {inconclusive:#?}",
        inconclusive.len()
    );
    assert!(false_alarms.is_empty(), "{false_alarms:#?}");
    for (name, t) in &tallies {
        assert_eq!(t.missed + t.wrong_tensor, 0, "bug {name}: {t:?}");
        assert!(t.caught > 500, "bug {name}: {t:?}");
    }
}
