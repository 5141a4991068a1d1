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
/// checker is told (`Precision::F32` declared, or nothing: the noise probe must recognise it).
const PRECISIONS: [(&str, Precision, Option<Precision>); 3] = [
    ("f64", Precision::F64, None),
    ("f32", Precision::F32, Some(Precision::F32)),
    ("f32 undeclared", Precision::F32, None),
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
                    let check = Check {
                        seen: seen(&checker, mode, &problem),
                        kinks: instance.truth.kink_mask(),
                        label: format!("{family} {key}"),
                        instance: &instance,
                        problem: &problem,
                        checker,
                        mode,
                        key,
                    };
                    check.judge(counts.entry(setting).or_default());
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
    // A checked coordinate has an error bound, or sits on a kink (one no step resolves has
    // none).
    let seen: Vec<bool> = oracle
        .bounds()
        .iter()
        .zip(oracle.kinks())
        .map(|(&b, &kink)| b > 0.0 || kink)
        .collect();
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

/// `verdict [failing] detail` of a report, for the violation lines.
fn said(report: &Report) -> String {
    let detail = match report.verdict {
        Verdict::Fail => report.failure_lines().join(" / "),
        Verdict::Inconclusive => report.reason.clone().unwrap_or_default(),
        Verdict::Pass => String::new(),
    };
    format!("{} {:?} {detail}", report.verdict, report.failing())
}

/// The per-tensor thresholds and detection floors the canonical correct gradient's check states.
struct Stated {
    thresholds: Vec<f64>,
    floors: Vec<f64>,
    /// The floors at kink elements (`None`: the check judged none of the tensor's elements by
    /// interval, so its kinks count with the rest against `floors`).
    kink_floors: Vec<Option<f64>>,
}

impl Stated {
    /// Whether tensor `k`'s error is above what the check states it catches: away from kinks
    /// above the floor, or at the kink elements above the floor there.
    fn above(&self, k: usize, sized: &Sized) -> bool {
        sized.differs[k]
            && match self.kink_floors[k] {
                Some(at_kinks) => sized.smooth[k] > self.floors[k] || sized.at_kinks[k] > at_kinks,
                None => sized.sizes[k] > self.floors[k],
            }
    }

    /// How far above its floors tensor `k`'s error is (the larger ratio).
    fn margin(&self, k: usize, sized: &Sized) -> f64 {
        match self.kink_floors[k] {
            Some(at_kinks) => (sized.smooth[k] / self.floors[k]).max(sized.at_kinks[k] / at_kinks),
            None => sized.sizes[k] / self.floors[k],
        }
    }
}

/// One instance in one setting.
struct Check<'a, M> {
    instance: &'a Instance<M>,
    problem: &'a ZooProblem<'a, M>,
    checker: Checker,
    mode: Mode,
    /// `seed …, cost …, reference, mode` (no family).
    key: String,
    /// The family and the key.
    label: String,
    /// The coordinates the check looks at.
    seen: Vec<bool>,
    /// The kink coordinates at θ.
    kinks: Vec<bool>,
}

/// What the truth says of a wrong gradient, per tensor.
struct Sized {
    /// Relative error against the truth, on the coordinates seen.
    sizes: Vec<f64>,
    /// The part of it away from kinks, and at kinks (each relative to the whole truth seen).
    smooth: Vec<f64>,
    at_kinks: Vec<f64>,
    /// Whether the tensor differs from the truth at all.
    differs: Vec<bool>,
}

impl<M: Model> Check<'_, M> {
    fn report(&self, c: &Candidate) -> Report {
        let layout = self.instance.model.layout();
        let gradient = Tensors::new(layout.clone(), c.values.clone()).expect("the layout's size");
        self.checker
            .check_gradient(self.problem, self.instance.model.theta(), &gradient)
            .unwrap_or_else(|e| panic!("{}: {}: {e}", self.label, c.name))
    }

    /// Every gradient of the instance checked once, tallied into `counts`.
    fn judge(&self, counts: &mut Counts) {
        let mut stated = None;
        for (n, c) in self
            .instance
            .candidates
            .iter()
            .filter(|c| c.correct)
            .enumerate()
        {
            let report = self.judge_correct(c, counts);
            if n == 0 && report.verdict == Verdict::Pass {
                stated = Some(Stated {
                    thresholds: report.tensors.iter().map(|t| t.threshold).collect(),
                    floors: report.tensors.iter().map(|t| t.detection_floor()).collect(),
                    kink_floors: report.tensors.iter().map(|t| t.kink_floor).collect(),
                });
            }
        }
        for bug in self.instance.candidates.iter().filter(|c| !c.correct) {
            self.judge_bug(bug, stated.as_ref(), counts);
        }
    }

    /// A correct gradient: pass or inconclusive, never fail.
    fn judge_correct(&self, c: &Candidate, counts: &mut Counts) -> Report {
        let report = self.report(c);
        if !self.checker.checked_against().is_exact() {
            // Declared or not, the precision the cost is computed in is the one the report states.
            assert_eq!(report.precision, self.problem.precision, "{}", self.label);
        }
        counts.correct_runs += 1;
        match report.verdict {
            Verdict::Pass => counts.pass += 1,
            Verdict::Inconclusive => {
                counts.inconclusive += 1;
                let line = format!("{}: {} inconclusive: {}", self.label, c.name, said(&report));
                counts.notes.push(line);
            }
            Verdict::Fail => {
                counts.false_alarms += 1;
                let failing: Vec<bool> = report.tensors.iter().map(|t| !t.passed).collect();
                let cause = if self.worst_at_kinks(&report, &failing) {
                    Cause::KinkAtTheta
                } else if skipped_kinks(&report, &failing) {
                    Cause::KinkSkipped
                } else {
                    Cause::Other
                };
                counts.violations.push(Violation {
                    line: format!("FALSE ALARM {}: {}: {}", self.label, c.name, said(&report)),
                    key: format!("{}: {}", self.key, c.name),
                    cause,
                });
            }
        }
        report
    }

    /// A wrong gradient: above the stated floor, it must fail naming exactly tensors that
    /// differ, all those above their floor among them.
    fn judge_bug(&self, bug: &Candidate, stated: Option<&Stated>, counts: &mut Counts) {
        let layout = self.instance.model.layout();
        counts.bugs += 1;
        let sizes = self.instance.truth.errors(layout, &bug.values, &self.seen);
        let differs: Vec<bool> = sizes.iter().map(|&s| s > DIFFERS).collect();
        if !differs.contains(&true) {
            counts.not_in_sample += 1;
            return;
        }
        let part = |at_kink: bool| -> Vec<bool> {
            (0..self.seen.len())
                .map(|i| self.seen[i] && self.kinks[i] == at_kink)
                .collect()
        };
        let truth = &self.instance.truth;
        let sized = Sized {
            sizes,
            differs,
            smooth: truth.errors_within(layout, &bug.values, &self.seen, &part(false)),
            at_kinks: truth.errors_within(layout, &bug.values, &self.seen, &part(true)),
        };
        let report = self.report(bug);
        if std::env::var("ZOO_SHOW").is_ok_and(|v| self.label.contains(&v)) {
            let correct = self.instance.candidates.iter().find(|c| c.correct);
            let correct = correct.expect("every instance has its correct gradient");
            eprintln!(
                "{}, the correct gradient:\n{}\n{}, bug {}:\n{report}",
                self.label,
                self.report(correct),
                self.label,
                bug.name
            );
        }
        let Some(stated) = stated else {
            counts.no_floor.0 += 1;
            if report.passed() {
                counts.no_floor.1 += 1;
                counts.notes.push(format!(
                    "{}: {} passed where the correct gradient's check stated no floor; truth: {}",
                    self.label,
                    bug.name,
                    self.describe(&sized, None)
                ));
            }
            return;
        };
        let tensors = 0..layout.tensors().len();
        let failing: Vec<bool> = report.tensors.iter().map(|t| !t.passed).collect();
        let above: Vec<bool> = tensors.clone().map(|k| stated.above(k, &sized)).collect();
        let names_good = tensors.clone().any(|k| failing[k] && !sized.differs[k]);
        let leaves_out = tensors.clone().any(|k| above[k] && !failing[k]);
        let what = if !above.contains(&true) {
            match report.verdict {
                Verdict::Fail => counts.below_floor.0 += 1,
                Verdict::Pass => counts.below_floor.1 += 1,
                Verdict::Inconclusive => counts.below_floor.2 += 1,
            }
            (report.verdict == Verdict::Fail && names_good).then_some("MISATTRIBUTED")
        } else {
            counts.above_floor += 1;
            if report.verdict != Verdict::Fail {
                Some("MISSED")
            } else if names_good || leaves_out {
                Some("MISATTRIBUTED")
            } else {
                counts.caught += 1;
                None
            }
        };
        let Some(what) = what else { return };
        if what == "MISSED" {
            counts.missed += 1;
        } else {
            counts.misattributed += 1;
        }
        let margin = tensors
            .filter(|&k| above[k])
            .map(|k| stated.margin(k, &sized))
            .fold(0.0, f64::max);
        counts.violations.push(Violation {
            line: format!(
                "{what} {}: {}: truth {} ({margin:.2}× the floor); checker: {}",
                self.label,
                bug.name,
                self.describe(&sized, Some(stated)),
                said(&report)
            ),
            key: format!("{}: {}", self.key, bug.name),
            cause: self.cause(bug, (&report, &failing), (&sized, &above), (stated, margin)),
        });
    }

    /// Why a bug was missed or misattributed, as far as the truth can tell.
    fn cause(
        &self,
        bug: &Candidate,
        (report, failing): (&Report, &[bool]),
        (sized, above): (&Sized, &[bool]),
        (stated, margin): (&Stated, f64),
    ) -> Cause {
        let tensors = 0..above.len();
        let named_good: Vec<bool> = tensors
            .clone()
            .map(|k| failing[k] && !sized.differs[k])
            .collect();
        if named_good.contains(&true) {
            return if self.worst_at_kinks(report, &named_good) {
                Cause::KinkAtTheta
            } else if skipped_kinks(report, &named_good) {
                Cause::KinkSkipped
            } else {
                Cause::Other
            };
        }
        // Above the floor only through its error at kinks?
        let smooth_sizes = &sized.smooth;
        let left_out: Vec<bool> = tensors.map(|k| above[k] && !failing[k]).collect();
        let missed = report.verdict != Verdict::Fail;
        if (0..above.len()).all(|k| smooth_sizes[k] <= stated.floors[k]) {
            Cause::KinkAtTheta
        } else if skipped_kinks(report, &left_out) {
            Cause::KinkSkipped
        } else if missed && self.nearly_orthogonal(bug, above, &stated.thresholds) {
            Cause::Projection
        } else if missed && margin <= NEAR_FLOOR {
            Cause::NearFloor
        } else {
            Cause::Other
        }
    }

    /// `dW 3.2e-1 (floor 1.1e-8), …` for the tensors that differ.
    fn describe(&self, sized: &Sized, stated: Option<&Stated>) -> String {
        let names = self.instance.model.layout().names();
        (0..names.len())
            .filter(|&k| sized.differs[k])
            .map(|k| match stated.map(|s| (s.floors[k], s.kink_floors[k])) {
                Some((floor, None)) => {
                    format!("d{} {:.1e} (floor {floor:.1e})", names[k], sized.sizes[k])
                }
                Some((floor, Some(at_kinks))) => format!(
                    "d{} {:.1e} away from kinks (floor {floor:.1e}), {:.1e} at kinks (floor \
                     {at_kinks:.1e})",
                    names[k], sized.smooth[k], sized.at_kinks[k]
                ),
                None => format!("d{} {:.1e}", names[k], sized.sizes[k]),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// True if each of the `concerned` tensors of `report` has a kink coordinate as its worst
    /// element (or, with none named, has a kink coordinate at all): a verdict about kinks.
    fn worst_at_kinks(&self, report: &Report, concerned: &[bool]) -> bool {
        let layout = self.instance.model.layout();
        report
            .tensors
            .iter()
            .enumerate()
            .filter(|&(k, _)| concerned[k])
            .all(|(k, t)| match t.worst() {
                Some(w) => self.kinks[layout.flat_index(&t.name, &w.index).expect("in the layout")],
                None => layout.range(k).any(|i| self.kinks[i]),
            })
    }

    /// For a directional check: true if along the check's random direction (the same seed) the
    /// `bug`'s exact directional error is within the thresholds in each tensor `above` its floor.
    fn nearly_orthogonal(&self, bug: &Candidate, above: &[bool], thresholds: &[f64]) -> bool {
        if !matches!(self.mode, Mode::Directional { .. }) {
            return false;
        }
        let exact = Checker::new()
            .dual()
            .mode(self.mode)
            .seed(self.instance.seed)
            .check_gradient(
                self.problem,
                self.instance.model.theta(),
                &Tensors::new(self.instance.model.layout().clone(), bug.values.clone())
                    .expect("the layout's size"),
            )
            .expect("a dual directional check");
        (0..above.len()).all(|k| !above[k] || exact.tensors[k].difference <= thresholds[k])
    }
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
