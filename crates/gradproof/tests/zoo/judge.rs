//! The meta-test's loop: for each random instance of a family, its truth (from `truth`) and its
//! gradients (the family's own, plus one element off by 1e-8 … 1e-2 of its tensor's norm),
//! checked in every setting — the cost in `f64` and in `f32`, every reference (forward, central,
//! central4, richardson, dual) and every mode (exhaustive, sampled, directional) — and each
//! verdict set against the truth: a correct gradient must not fail; a bug whose error (measured
//! against the truth, on the coordinates the check looked at) is above the detection floor the
//! correct gradient's check states must fail, naming exactly tensors that differ. Bugs are
//! never selected by what the checker says. Knows nothing of any particular model.

use std::collections::BTreeMap;

use gradproof::{Checker, Method, Mode, Precision, Reference, Report, Tensors, Verdict};

use super::model::{Candidate, Model, Rng, ZooProblem};
use super::tally::{Cause, Counts, NEAR_FLOOR, Setting, Violation};
use super::truth::{DIFFERS, Truth};

/// The instances (seeds) of every family.
pub const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];

/// The cost's precisions: the name in the tables, the precision it is computed in, and what the
/// checker is told.
const PRECISIONS: [(&str, Precision, Option<Precision>); 2] = [
    ("f64", Precision::F64, None),
    ("f32", Precision::F32, Some(Precision::F32)),
];

/// Every reference the CLI offers.
const REFERENCES: [Reference; 5] = [
    Reference::Differences(Method::Forward),
    Reference::Differences(Method::Central),
    Reference::Differences(Method::Central4),
    Reference::Differences(Method::Richardson),
    Reference::Dual,
];

/// Every mode the CLI offers; the sample (4 per tensor) is smaller than most tensors.
const MODES: [(&str, Mode); 3] = [
    ("exhaustive", Mode::Exhaustive),
    ("sampled=4", Mode::Sampled { per_tensor: 4 }),
    ("directional", Mode::Directional { top: 3 }),
];

/// The sizes, relative to the tensor's norm, of the one-element bugs added to every instance.
const ONE_ELEMENT_SIZES: [f64; 4] = [1e-8, 1e-6, 1e-4, 1e-2];

/// One instance with its truth and every gradient to check.
struct Instance<M> {
    seed: u64,
    model: M,
    truth: Truth,
    candidates: Vec<Candidate>,
}

impl<M: Model> Instance<M> {
    /// The instance of `seed`, after asserting that its correct gradients match the truth.
    fn new(seed: u64) -> Instance<M> {
        let model = M::random(seed);
        let truth = Truth::of(&model);
        let mut candidates = model.gradients(model.theta());
        let layout = model.layout();
        let everything = vec![true; layout.len()];
        for c in candidates.iter().filter(|c| c.correct) {
            let errors = truth.errors(layout, &c.values, &everything);
            assert!(
                errors.iter().all(|&e| e <= 1e-12),
                "{} seed {seed}: the hand-written {:?} is not the exact gradient: relative \
                 errors {errors:?} per tensor",
                M::FAMILY,
                c.name
            );
        }
        assert_eq!(
            truth.kinks().is_empty(),
            !M::KINKS_AT_THETA,
            "{} seed {seed}: kinks at θ: {:?}",
            M::FAMILY,
            truth.kinks()
        );
        let canonical = candidates[0].values.clone();
        let mut rng = Rng::new(seed, 0x0e1e);
        let tensors = layout.tensors().len();
        for (j, size) in ONE_ELEMENT_SIZES.into_iter().enumerate() {
            let k = (j + seed as usize) % tensors;
            let range = layout.range(k);
            let norm = canonical[range.clone()]
                .iter()
                .fold(0.0_f64, |n, v| n.hypot(*v));
            let i = range.start + rng.below(range.len());
            let mut values = canonical.clone();
            values[i] += size * if norm > 0.0 { norm } else { 1.0 };
            let at = layout.locate(i).expect("inside the layout");
            let name = format!("d{}{:?} + {size:e}·‖g‖", at.name, at.index);
            candidates.push(Candidate::bug(&name, values));
        }
        Instance {
            seed,
            model,
            truth,
            candidates,
        }
    }
}

/// Runs the whole meta-test for the family `M`, with kink signatures reported or not, and
/// returns its counts per setting.
pub fn run<M: Model>(signature: bool) -> BTreeMap<Setting, Counts> {
    let family = if signature {
        format!("{} (signed)", M::FAMILY)
    } else {
        M::FAMILY.to_string()
    };
    let mut counts: BTreeMap<Setting, Counts> = BTreeMap::new();
    for seed in SEEDS {
        let instance = Instance::<M>::new(seed);
        for (precision_name, precision, declared) in PRECISIONS {
            let problem = ZooProblem {
                model: &instance.model,
                precision,
                signature,
            };
            for reference in REFERENCES {
                for (mode_name, mode) in MODES {
                    let mut checker = Checker::new().reference(reference).mode(mode).seed(seed);
                    if let Some(p) = declared {
                        checker = checker.precision(p);
                    }
                    let setting = (family.clone(), precision_name, reference.name(), mode_name);
                    let key = format!(
                        "seed {seed}, cost {precision_name}, {}, {mode_name}",
                        reference.name()
                    );
                    let tally = counts.entry(setting).or_default();
                    judge(
                        &instance,
                        &problem,
                        (&checker, mode),
                        (&family, &key),
                        tally,
                    );
                }
            }
        }
    }
    counts
}

/// Which coordinates the check looks at: all of them, or for a sampled check its sample (the
/// coordinates the checker's own oracle gives an error bound, with the same seed).
fn seen<M: Model>(checker: &Checker, mode: Mode, problem: &ZooProblem<'_, M>) -> Vec<bool> {
    let theta = problem.model.theta();
    let layout = problem.model.layout();
    let Mode::Sampled { per_tensor } = mode else {
        return vec![true; theta.len()];
    };
    let oracle = checker.oracle(problem, theta).expect("the oracle");
    let seen: Vec<bool> = oracle.bounds().iter().map(|&b| b > 0.0).collect();
    for k in 0..layout.tensors().len() {
        let range = layout.range(k);
        let count = range.clone().filter(|&i| seen[i]).count();
        assert_eq!(
            count,
            per_tensor.min(range.len()),
            "the sample of tensor {k}"
        );
    }
    seen
}

/// `name: verdict [failing] first line` of a report, for the violation lines.
fn said(report: &Report) -> String {
    let detail = match report.verdict {
        Verdict::Fail => report.failure_lines().join(" / "),
        Verdict::Inconclusive => report.reason.clone().unwrap_or_default(),
        Verdict::Pass => String::new(),
    };
    format!("{} {:?} {detail}", report.verdict, report.failing())
}

/// True if each of the `concerned` tensors of `report` has a kink coordinate as its worst
/// element (or, with none named, has a kink coordinate at all): a verdict about kinks.
fn worst_at_kinks<M: Model>(report: &Report, instance: &Instance<M>, concerned: &[bool]) -> bool {
    let layout = instance.model.layout();
    let kinks = instance.truth.kink_mask();
    report
        .tensors
        .iter()
        .enumerate()
        .filter(|&(k, _)| concerned[k])
        .all(|(k, t)| match t.worst() {
            Some(w) => {
                kinks[layout
                    .flat_index(&t.name, &w.index)
                    .expect("inside the layout")]
            }
            None => layout.range(k).any(|i| kinks[i]),
        })
}

/// For a directional check: true if along the check's random direction (the same seed) the
/// `bug`'s exact directional error is within the `thresholds` in each tensor `above` its floor.
fn nearly_orthogonal<M: Model>(
    instance: &Instance<M>,
    problem: &ZooProblem<'_, M>,
    (mode, bug): (Mode, &Candidate),
    above: &[bool],
    thresholds: &[f64],
) -> bool {
    if !matches!(mode, Mode::Directional { .. }) {
        return false;
    }
    let layout = instance.model.layout();
    let gradient = Tensors::new(layout.clone(), bug.values.clone()).expect("the layout's size");
    let exact = Checker::new()
        .dual()
        .mode(mode)
        .seed(instance.seed)
        .check_gradient(problem, instance.model.theta(), &gradient)
        .expect("a dual directional check");
    (0..above.len()).all(|k| !above[k] || exact.tensors[k].difference <= thresholds[k])
}

/// True if the engine left elements of one of the `concerned` tensors out as kinks its step
/// crossed.
fn skipped_kinks(report: &Report, concerned: &[bool]) -> bool {
    report
        .tensors
        .iter()
        .zip(concerned)
        .any(|(t, &c)| c && t.kink > 0)
}

/// Every gradient of `instance` checked once in this setting, tallied into `counts`.
fn judge<M: Model>(
    instance: &Instance<M>,
    problem: &ZooProblem<'_, M>,
    (checker, mode): (&Checker, Mode),
    (family, key): (&str, &str),
    counts: &mut Counts,
) {
    let label = format!("{family} {key}");
    let theta = instance.model.theta();
    let layout = instance.model.layout();
    let names: Vec<&str> = layout.names();
    let seen = seen(checker, mode, problem);
    let kinks = instance.truth.kink_mask();
    let check = |c: &Candidate| {
        let gradient = Tensors::new(layout.clone(), c.values.clone()).expect("the layout's size");
        checker
            .check_gradient(problem, theta, &gradient)
            .unwrap_or_else(|e| panic!("{label}: {}: {e}", c.name))
    };
    // The canonical correct gradient's per-tensor thresholds and detection floors.
    let mut stated: Option<(Vec<f64>, Vec<f64>)> = None;
    for (n, c) in instance.candidates.iter().filter(|c| c.correct).enumerate() {
        let report = check(c);
        counts.correct_runs += 1;
        match report.verdict {
            Verdict::Pass => counts.pass += 1,
            Verdict::Inconclusive => {
                counts.inconclusive += 1;
                counts.notes.push(format!(
                    "{label}: {} inconclusive: {}",
                    c.name,
                    said(&report)
                ));
            }
            Verdict::Fail => {
                counts.false_alarms += 1;
                let failing: Vec<bool> = report.tensors.iter().map(|t| !t.passed).collect();
                let cause = if worst_at_kinks(&report, instance, &failing) {
                    Cause::KinkAtTheta
                } else if skipped_kinks(&report, &failing) {
                    Cause::KinkSkipped
                } else {
                    Cause::Other
                };
                counts.violations.push(Violation {
                    line: format!("FALSE ALARM {label}: {}: {}", c.name, said(&report)),
                    key: format!("{key}: {}", c.name),
                    cause,
                });
            }
        }
        if n == 0 && report.verdict == Verdict::Pass {
            let thresholds = report.tensors.iter().map(|t| t.threshold).collect();
            let floors = report.tensors.iter().map(|t| t.detection_floor()).collect();
            stated = Some((thresholds, floors));
        }
    }
    for bug in instance.candidates.iter().filter(|c| !c.correct) {
        counts.bugs += 1;
        let sizes = instance.truth.errors(layout, &bug.values, &seen);
        let differs: Vec<bool> = sizes.iter().map(|&s| s > DIFFERS).collect();
        if !differs.contains(&true) {
            counts.not_in_sample += 1;
            continue;
        }
        let report = check(bug);
        let failing: Vec<bool> = report.tensors.iter().map(|t| !t.passed).collect();
        let names_a_good_tensor = (0..names.len()).any(|k| failing[k] && !differs[k]);
        let sized = |floors: &[f64]| {
            (0..names.len())
                .filter(|&k| differs[k])
                .map(|k| format!("d{} {:.1e} (floor {:.1e})", names[k], sizes[k], floors[k]))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some((thresholds, floors)) = &stated else {
            counts.no_floor.0 += 1;
            if report.passed() {
                counts.no_floor.1 += 1;
                counts.notes.push(format!(
                    "{label}: {} passed where the correct gradient's check stated no floor; \
                     truth: {}",
                    bug.name,
                    sized(&vec![f64::NAN; names.len()])
                ));
            }
            continue;
        };
        let above: Vec<bool> = (0..names.len())
            .map(|k| differs[k] && sizes[k] > floors[k])
            .collect();
        // Above the floor only through its error at kinks?
        let smooth: Vec<bool> = (0..seen.len()).map(|i| seen[i] && !kinks[i]).collect();
        let smooth_sizes = instance.truth.errors(layout, &bug.values, &smooth);
        let only_at_kinks = (0..names.len()).all(|k| smooth_sizes[k] <= floors[k]);
        let named_good: Vec<bool> = (0..names.len())
            .map(|k| failing[k] && !differs[k])
            .collect();
        let left_out: Vec<bool> = (0..names.len()).map(|k| above[k] && !failing[k]).collect();
        let margin = (0..names.len())
            .filter(|&k| above[k])
            .map(|k| sizes[k] / floors[k])
            .fold(0.0, f64::max);
        let cause = if names_a_good_tensor {
            if worst_at_kinks(&report, instance, &named_good) {
                Cause::KinkAtTheta
            } else if skipped_kinks(&report, &named_good) {
                Cause::KinkSkipped
            } else {
                Cause::Other
            }
        } else if only_at_kinks {
            Cause::KinkAtTheta
        } else if skipped_kinks(&report, &left_out) {
            Cause::KinkSkipped
        } else if report.verdict != Verdict::Fail
            && nearly_orthogonal(instance, problem, (mode, bug), &above, thresholds)
        {
            Cause::Projection
        } else if report.verdict != Verdict::Fail && margin <= NEAR_FLOOR {
            Cause::NearFloor
        } else {
            Cause::Other
        };
        let violation = |what: &str| Violation {
            line: format!(
                "{what} {label}: {}: truth {} ({margin:.2}× the floor); checker: {}",
                bug.name,
                sized(floors),
                said(&report)
            ),
            key: format!("{key}: {}", bug.name),
            cause,
        };
        if !above.contains(&true) {
            match report.verdict {
                Verdict::Fail => counts.below_floor.0 += 1,
                Verdict::Pass => counts.below_floor.1 += 1,
                Verdict::Inconclusive => counts.below_floor.2 += 1,
            }
            if report.verdict == Verdict::Fail && names_a_good_tensor {
                counts.misattributed += 1;
                counts.violations.push(violation("MISATTRIBUTED"));
            }
            continue;
        }
        counts.above_floor += 1;
        if report.verdict != Verdict::Fail {
            counts.missed += 1;
            counts.violations.push(violation("MISSED"));
        } else if names_a_good_tensor || left_out.contains(&true) {
            counts.misattributed += 1;
            counts.violations.push(violation("MISATTRIBUTED"));
        } else {
            counts.caught += 1;
        }
    }
}
