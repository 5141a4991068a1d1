//! Per-account history features of PaySim payments: a [`History`] state that is fed the rows of
//! a stream one after the other and gives each row features computed only from the rows strictly
//! before it in the stream. Owns the feature definitions, the state, its bound (accounts idle for
//! longer than [`WINDOW_STEPS`] are forgotten) and its saved form (a JSON file replaced
//! atomically); knows nothing of payment files, parsing or models.
//!
//! **The ordering rule.** Rows are taken in file order. A row sees every row before it in the
//! file (whatever their `step`), and no row after it — not even a row of the same step that comes
//! later. Time differences use `step` (an hour in PaySim) and count as 0 when a file's steps go
//! backwards. The label and `isFlaggedFraud` are never read.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::features::signed_log;
use super::schema::{PAYSIM_TYPES, Schema};
use crate::model_file::write_atomically;
use crate::{Error, Result};

/// The largest state file read, in bytes (about ten million accounts).
pub const MAX_STATE_BYTES: u64 = 2 << 30;

/// The names of the history features, in the order they follow the per-row features.
pub const HISTORY_FEATURES: [&str; 6] = [
    "orig_got_same_transfer",
    "log_orig_in_transfers",
    "log_dest_in_transfers",
    "log_orig_idle_steps",
    "orig_is_new",
    "log_amount_vs_orig_mean",
];

/// The version of the history features' definitions: a model file records it, and a model made
/// with another version is refused rather than fed features computed differently.
pub const HISTORY_VERSION: u32 = 1;

/// An account idle (neither paying nor paid) for more than this many steps (hours) is forgotten:
/// 30 days, the length of the generated data. Its next payment is then treated as its first.
pub const WINDOW_STEPS: u64 = 720;

/// Forgotten accounts are swept out whenever the stream's latest step has advanced this many
/// steps since the last sweep, so an idle account is held at most `WINDOW_STEPS + SWEEP_STEPS`
/// steps after its last payment.
pub const SWEEP_STEPS: u64 = 24;

/// How far back "the origin just received a TRANSFER of this amount" looks, in steps.
pub const SAME_TRANSFER_STEPS: u64 = 24;

/// Which features a model reads: the per-row features of its schema alone, or followed by the
/// [`HISTORY_FEATURES`] (PaySim only).
///
/// ```
/// use fraudnet::data::{FeatureSet, Schema};
/// assert_eq!(FeatureSet::History.n_features(Schema::PaySim), 19);
/// assert_eq!("history".parse::<FeatureSet>()?, FeatureSet::History);
/// assert!(FeatureSet::History.check(Schema::Card).is_err());
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureSet {
    /// Each row's own features ([`Schema::feature_names`]).
    #[default]
    Row,
    /// The row's own features, then its account history ([`HISTORY_FEATURES`]).
    History,
}

impl FeatureSet {
    /// Whether the set has history features.
    pub fn has_history(self) -> bool {
        self == FeatureSet::History
    }

    /// Refuses history features for a schema without account ids (card).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for history features with the card schema.
    pub fn check(self, schema: Schema) -> Result<()> {
        if self.has_history() && schema == Schema::Card {
            return Err(Error::InvalidSetting(
                "history features need account ids (nameOrig, nameDest): the card schema has \
                 none, so they are for paysim only"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The names of the features, in the order of the feature vector.
    pub fn feature_names(self, schema: Schema) -> Vec<&'static str> {
        let mut names = schema.feature_names().to_vec();
        if self.has_history() {
            names.extend(HISTORY_FEATURES);
        }
        names
    }

    /// The length of the feature vector.
    pub fn n_features(self, schema: Schema) -> usize {
        schema.n_features()
            + if self.has_history() {
                HISTORY_FEATURES.len()
            } else {
                0
            }
    }
}

impl fmt::Display for FeatureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeatureSet::Row => "row",
            FeatureSet::History => "history",
        })
    }
}

impl FromStr for FeatureSet {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "row" => Ok(FeatureSet::Row),
            "history" => Ok(FeatureSet::History),
            _ => Err(Error::InvalidSetting(format!(
                "unknown feature set {s:?}: expected \"row\" or \"history\""
            ))),
        }
    }
}

/// The fields of one payment that its history features are made from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Payment<'a> {
    pub step: f64,
    /// Whether the payment is a TRANSFER.
    pub transfer: bool,
    pub amount: f64,
    pub orig: &'a str,
    pub dest: &'a str,
}

impl<'a> Payment<'a> {
    /// A payment of type `kind` (an index into [`PAYSIM_TYPES`]) as the readers parse it.
    pub(crate) fn new(step: f64, kind: usize, amount: f64, orig: &'a str, dest: &'a str) -> Self {
        Payment {
            step,
            transfer: PAYSIM_TYPES[kind] == "TRANSFER",
            amount,
            orig,
            dest,
        }
    }
}

/// What is remembered of one account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Account {
    /// The latest step it paid or was paid at.
    last_active: u64,
    /// The latest step it paid at, if it has paid.
    last_paid: Option<u64>,
    /// Payments it made, and their total amount.
    paid: u64,
    paid_amount: f64,
    /// TRANSFERs it received.
    transfers_in: u64,
    /// The amount and step of the latest TRANSFER it received.
    last_transfer_in: Option<(f64, u64)>,
}

/// The account history of a stream of PaySim payments; see the module docs for the ordering
/// rule and the bound. Same rows in the same order, same features, same saved bytes.
///
/// ```
/// use fraudnet::data::History;
/// let history = History::new();
/// assert_eq!(history.accounts(), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    accounts: HashMap<String, Account>,
    /// The latest step seen.
    latest: u64,
    /// The step of the last sweep of idle accounts.
    swept: u64,
}

/// The saved form: the version, and the accounts sorted by name so that the bytes depend only
/// on the state.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    format: String,
    version: u32,
    window_steps: u64,
    latest: u64,
    swept: u64,
    accounts: Vec<(String, Account)>,
}

const SAVED_FORMAT: &str = "gradproof-fraud-history";

impl History {
    /// An empty history: every account is new.
    pub fn new() -> Self {
        Self::default()
    }

    /// The accounts remembered (the memory bound: active accounts, not rows).
    pub fn accounts(&self) -> usize {
        self.accounts.len()
    }

    /// Writes the history features of `payment` into `out` (length [`HISTORY_FEATURES`]) from
    /// the payments before it, then remembers it.
    pub(crate) fn observe(&mut self, payment: &Payment<'_>, out: &mut [f64]) {
        // A step is a whole, non-negative number of hours in PaySim; a fraction is cut.
        let step = payment.step as u64;
        let orig = self.accounts.get(payment.orig);
        let dest_transfers = self
            .accounts
            .get(payment.dest)
            .map_or(0, |d| d.transfers_in);
        let got_same = orig.and_then(|o| o.last_transfer_in).is_some_and(|(a, s)| {
            a == payment.amount && step.saturating_sub(s) <= SAME_TRANSFER_STEPS
        });
        out[0] = f64::from(u8::from(got_same));
        out[1] = (orig.map_or(0, |o| o.transfers_in) as f64).ln_1p();
        out[2] = (dest_transfers as f64).ln_1p();
        let idle = orig
            .and_then(|o| o.last_paid)
            .map_or(WINDOW_STEPS, |s| step.saturating_sub(s).min(WINDOW_STEPS));
        out[3] = (idle as f64).ln_1p();
        let paid = orig.map_or(0, |o| o.paid);
        out[4] = f64::from(u8::from(paid == 0));
        out[5] = match orig {
            Some(o) if o.paid > 0 => {
                signed_log(payment.amount) - signed_log(o.paid_amount / o.paid as f64)
            }
            _ => 0.0,
        };
        self.remember(payment, step);
    }

    fn remember(&mut self, payment: &Payment<'_>, step: u64) {
        let orig = self.account(payment.orig, step);
        orig.last_paid = Some(step);
        orig.paid += 1;
        orig.paid_amount += payment.amount;
        let dest = self.account(payment.dest, step);
        if payment.transfer {
            dest.transfers_in += 1;
            dest.last_transfer_in = Some((payment.amount, step));
        }
        self.latest = self.latest.max(step);
        if self.latest >= self.swept + SWEEP_STEPS {
            let oldest = self.latest.saturating_sub(WINDOW_STEPS);
            self.accounts.retain(|_, a| a.last_active >= oldest);
            self.swept = self.latest;
        }
    }

    fn account(&mut self, name: &str, step: u64) -> &mut Account {
        // Looked up before inserting: most payments come from accounts already known, and
        // `entry` would allocate the name each time.
        if !self.accounts.contains_key(name) {
            self.accounts.insert(name.to_string(), Account::default());
        }
        let account = self.accounts.get_mut(name).expect("inserted above");
        account.last_active = account.last_active.max(step);
        account
    }

    /// The state as JSON, accounts sorted by name: the same state gives the same bytes.
    pub fn to_json(&self) -> Result<String> {
        let mut accounts: Vec<(String, Account)> = self
            .accounts
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        accounts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let saved = Saved {
            format: SAVED_FORMAT.into(),
            version: HISTORY_VERSION,
            window_steps: WINDOW_STEPS,
            latest: self.latest,
            swept: self.swept,
            accounts,
        };
        serde_json::to_string(&saved).map_err(|e| Error::InvalidSetting(e.to_string()))
    }

    /// Saves the state to `path` atomically: a reader sees the old state or the new one, whole.
    ///
    /// # Errors
    /// [`Error::Io`] when writing fails (the old file is then untouched).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomically(path, self.to_json()?.as_bytes(), || Ok(()))
    }

    /// Reads a state saved by [`save`](Self::save); `Ok(None)` when `path` does not exist.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read; those of [`from_json`](Self::from_json).
    pub fn load(path: &Path) -> Result<Option<Self>> {
        let name = path.display().to_string();
        let io_error = |source| Error::Io {
            path: name.clone(),
            source,
        };
        let mut text = String::new();
        match std::fs::File::open(path) {
            Ok(file) => file
                .take(MAX_STATE_BYTES)
                .read_to_string(&mut text)
                .map_err(io_error)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(e)),
        };
        Self::from_json(&text, &name).map(Some)
    }

    /// Reads a state written by [`to_json`](Self::to_json); `path` names it in errors.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming `path` for text that is not a saved history of this
    /// version and window.
    pub fn from_json(text: &str, path: &str) -> Result<Self> {
        let refuse = |reason: String| {
            Error::InvalidSetting(format!("{path}: not a usable history state: {reason}"))
        };
        let saved: Saved = serde_json::from_str(text).map_err(|e| refuse(e.to_string()))?;
        if saved.format != SAVED_FORMAT {
            return Err(refuse(format!(
                "format is '{}', expected '{SAVED_FORMAT}'",
                saved.format
            )));
        }
        if saved.version != HISTORY_VERSION || saved.window_steps != WINDOW_STEPS {
            return Err(refuse(format!(
                "written for history version {} with a {}-step window; this build computes \
                 version {HISTORY_VERSION} with a {WINDOW_STEPS}-step window",
                saved.version, saved.window_steps
            )));
        }
        Ok(History {
            accounts: saved.accounts.into_iter().collect(),
            latest: saved.latest,
            swept: saved.swept,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pay<'a>(
        step: f64,
        transfer: bool,
        amount: f64,
        orig: &'a str,
        dest: &'a str,
    ) -> Payment<'a> {
        Payment {
            step,
            transfer,
            amount,
            orig,
            dest,
        }
    }

    fn features(history: &mut History, payment: Payment<'_>) -> [f64; 6] {
        let mut out = [f64::NAN; 6];
        history.observe(&payment, &mut out);
        out
    }

    #[test]
    fn takeover_pattern() {
        let mut h = History::new();
        let first = features(&mut h, pay(1.0, true, 500.0, "C1", "C9"));
        assert_eq!(
            first,
            [0.0, 0.0, 0.0, (WINDOW_STEPS as f64).ln_1p(), 1.0, 0.0]
        );
        // The mule cashes out the same amount: it just received it.
        let cash_out = features(&mut h, pay(1.0, false, 500.0, "C9", "C5"));
        assert_eq!(cash_out[0], 1.0);
        assert_eq!(cash_out[1], 2f64.ln());
        // A second transfer to the mule: the destination has one inbound transfer.
        let again = features(&mut h, pay(3.0, true, 100.0, "C1", "C9"));
        assert_eq!(again[2], 2f64.ln());
        assert_eq!(again[3], 2f64.ln_1p()); // idle 2 steps
        assert_eq!(again[4], 0.0);
        assert!((again[5] - (signed_log(100.0) - signed_log(500.0))).abs() < 1e-12);
        // Too late for "just received".
        let late = features(&mut h, pay(40.0, false, 100.0, "C9", "C5"));
        assert_eq!(late[0], 0.0);
    }

    #[test]
    fn idle_accounts_are_forgotten() {
        let mut h = History::new();
        let mut out = [0.0; 6];
        for i in 0..100 {
            h.observe(&pay(0.0, false, 1.0, &format!("C{i}"), "M1"), &mut out);
        }
        assert_eq!(h.accounts(), 101);
        h.observe(
            &pay((WINDOW_STEPS + SWEEP_STEPS) as f64, false, 1.0, "C1", "M1"),
            &mut out,
        );
        assert_eq!(h.accounts(), 2);
    }

    #[test]
    fn saved_state_round_trips_and_is_sorted() {
        let mut h = History::new();
        let mut out = [0.0; 6];
        h.observe(&pay(2.0, true, 7.0, "C2", "C1"), &mut out);
        h.observe(&pay(3.0, true, 7.0, "C1", "C3"), &mut out);
        let text = h.to_json().unwrap();
        let back = History::from_json(&text, "s.json").unwrap();
        assert_eq!(back, h);
        assert_eq!(back.to_json().unwrap(), text);
        assert!(text.find("\"C1\"").unwrap() < text.find("\"C2\"").unwrap());
        let err = History::from_json("{}", "s.json").unwrap_err().to_string();
        assert!(err.contains("s.json: not a usable history state"), "{err}");
    }
}
