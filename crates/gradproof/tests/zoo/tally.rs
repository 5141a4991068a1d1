//! The counts of the zoo's meta-test: per family and setting, what the checker said about the
//! correct gradients and about the bugs, set against the independent truth; the markdown table
//! they print as, and the list of settings where the engine is known to fall short today.
//! Knows nothing of models or of how a check runs.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Where a count was taken: family, cost precision, reference (method or dual), mode.
pub type Setting = (String, &'static str, &'static str, &'static str);

/// What happened in one setting.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Checks of a correct gradient.
    pub correct_runs: usize,
    /// ... that passed.
    pub pass: usize,
    /// ... that were inconclusive (allowed, counted).
    pub inconclusive: usize,
    /// ... that failed: false alarms.
    pub false_alarms: usize,
    /// Checks of a wrong gradient.
    pub bugs: usize,
    /// ... whose error exceeds the stated detection floor of some tensor.
    pub above_floor: usize,
    /// ... of those, failed naming exactly tensors that differ, all those above their floor.
    pub caught: usize,
    /// ... of those, not failed.
    pub missed: usize,
    /// ... failed, but naming a tensor that does not differ or leaving out one above its floor
    /// (below-floor bugs count here too when they name a tensor that does not differ).
    pub misattributed: usize,
    /// ... whose error is below the floor of every tensor: (fail, pass, inconclusive).
    pub below_floor: (usize, usize, usize),
    /// ... that differ from the truth nowhere among the coordinates the check looked at (a
    /// sampled check's sample missed them).
    pub not_in_sample: usize,
    /// ... checked where the correct gradient's check stated no floor (it was not a pass), and
    /// of those how many passed anyway.
    pub no_floor: (usize, usize),
    /// Every false alarm, miss and misattribution.
    pub violations: Vec<Violation>,
    /// One line per inconclusive correct check, and per bug that passed with no floor stated.
    pub notes: Vec<String>,
}

impl Counts {
    /// Adds `other`'s counts (and lines) to these.
    pub fn add(&mut self, other: &Counts) {
        self.correct_runs += other.correct_runs;
        self.pass += other.pass;
        self.inconclusive += other.inconclusive;
        self.false_alarms += other.false_alarms;
        self.bugs += other.bugs;
        self.above_floor += other.above_floor;
        self.caught += other.caught;
        self.missed += other.missed;
        self.misattributed += other.misattributed;
        self.below_floor.0 += other.below_floor.0;
        self.below_floor.1 += other.below_floor.1;
        self.below_floor.2 += other.below_floor.2;
        self.not_in_sample += other.not_in_sample;
        self.no_floor.0 += other.no_floor.0;
        self.no_floor.1 += other.no_floor.1;
        self.violations.extend(other.violations.iter().cloned());
        self.notes.extend(other.notes.iter().cloned());
    }
}

/// Why a check fell short, as far as the truth can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// About kink coordinates at θ only: a false alarm whose failing tensors' worst elements are
    /// kinks, a bug above the floor only through its error at kinks.
    KinkAtTheta,
    /// The engine classified elements of the tensors concerned as kinks its step crossed, and
    /// left them out of the verdict.
    KinkSkipped,
    /// The cost reports no kink signature, and the same check of the same gradient with one does
    /// not fall short this way: the step crossed a kink the engine could not see.
    KinkUnseen,
    /// A bug missed by a directional check although its error is above the stated floor, because
    /// along the check's one random direction it nearly cancels: its exact directional error
    /// (a dual directional probe with the same seed) is within the tensor's threshold.
    Projection,
    /// A missed bug whose error is above the stated floor by less than [`NEAR_FLOOR`]×.
    NearFloor,
    /// None of the above: a finding.
    Other,
}

/// How far above the stated floor a missed bug counts as [`Cause::NearFloor`].
pub const NEAR_FLOOR: f64 = 4.0;

impl Cause {
    /// True for the causes that are about kinks.
    pub fn is_kink(self) -> bool {
        matches!(
            self,
            Cause::KinkAtTheta | Cause::KinkSkipped | Cause::KinkUnseen
        )
    }
}

/// A false alarm, a miss or a misattribution, in words.
#[derive(Clone, Debug)]
pub struct Violation {
    /// `FALSE ALARM …`, `MISSED …` or `MISATTRIBUTED …`, with what the truth and the checker
    /// said.
    pub line: String,
    /// The instance, setting and gradient, without the family: the same check with and without
    /// kink signatures has the same key.
    pub key: String,
    /// Why, as far as the truth can tell.
    pub cause: Cause,
}

/// Settings where the engine is known to fall short today, for some causes.
pub struct Known {
    /// `(family, cost precision, reference, mode)`, `*` matching any.
    pub setting: (&'static str, &'static str, &'static str, &'static str),
    /// The causes known there.
    pub causes: &'static [Cause],
    /// Why, and what is to fix it.
    pub why: &'static str,
}

impl Known {
    /// Whether this entry covers `violation` in `setting`.
    pub fn covers(&self, setting: &Setting, violation: &Violation) -> bool {
        let field = |p: &str, s: &str| p == "*" || p == s;
        let (family, precision, reference, mode) = self.setting;
        field(family, &setting.0)
            && field(precision, setting.1)
            && field(reference, setting.2)
            && field(mode, setting.3)
            && self.causes.contains(&violation.cause)
    }
}

/// The markdown header of [`row`].
pub const HEADER: &str = "| family | cost | reference | mode | correct runs | pass | inconclusive \
    | false alarms | bugs | above floor | caught | missed | misattributed | below floor: \
    fail/pass/inconclusive | not in sample | no floor stated (passed) |\n\
    |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

/// One markdown row of counts.
pub fn row(setting: &Setting, c: &Counts) -> String {
    let (family, precision, reference, mode) = setting;
    format!(
        "| {family} | {precision} | {reference} | {mode} | {} | {} | {} | {} | {} | {} | {} | {} \
         | {} | {}/{}/{} | {} | {} ({}) |",
        c.correct_runs,
        c.pass,
        c.inconclusive,
        c.false_alarms,
        c.bugs,
        c.above_floor,
        c.caught,
        c.missed,
        c.misattributed,
        c.below_floor.0,
        c.below_floor.1,
        c.below_floor.2,
        c.not_in_sample,
        c.no_floor.0,
        c.no_floor.1
    )
}

/// The table of `counts`, one row per setting, then the total over all settings.
pub fn table(counts: &BTreeMap<Setting, Counts>) -> String {
    let mut out = format!("{HEADER}\n");
    let mut total = Counts::default();
    for (setting, c) in counts {
        writeln!(out, "{}", row(setting, c)).unwrap();
        total.add(c);
    }
    let all = ("**all**".to_string(), "", "", "");
    writeln!(out, "{}", row(&all, &total)).unwrap();
    out
}

/// The table of `counts` summed over references and modes: one row per family and precision.
pub fn summary(counts: &BTreeMap<Setting, Counts>) -> String {
    let mut rows: BTreeMap<(String, &'static str), Counts> = BTreeMap::new();
    for ((family, precision, _, _), c) in counts {
        rows.entry((family.clone(), precision)).or_default().add(c);
    }
    let summed: BTreeMap<Setting, Counts> = rows
        .into_iter()
        .map(|((family, precision), c)| ((family, precision, "all 5", "all 3"), c))
        .collect();
    table(&summed)
}
