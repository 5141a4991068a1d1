//! Synthetic PaySim-like payment data: a population of customers, cash agents, merchants and
//! mule accounts transacting over 30 days of hourly steps, with account-takeover fraud and the
//! recording noise of the real simulator, so that fraud is learnable but not trivially
//! separable. Writes CSV in the [`Schema::PaySim`](super::Schema::PaySim) layout; all randomness
//! comes from the caller's generator, so a seed fixes every byte. Knows nothing of reading or
//! of models.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::schema::PAYSIM_HEADER;
use crate::{Error, Result};

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateSummary {
    /// Data rows written (the header not counted).
    pub rows: u64,
    /// Rows labelled `isFraud = 1` (two per fraud: the transfer and the cash-out).
    pub fraud_rows: u64,
    /// Customer accounts in the population (including cash agents and mules).
    pub customers: usize,
    /// Merchant accounts.
    pub merchants: usize,
    /// Hourly steps the rows are spread over.
    pub steps: u32,
}

impl GenerateSummary {
    /// The fraction of rows that are fraud.
    pub fn fraud_rate(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.fraud_rows as f64 / self.rows as f64
        }
    }
}

/// Hourly steps: 30 days.
const STEPS: u32 = 30 * 24;
/// Transfers above this are flagged by the simulated bank's rule (`isFlaggedFraud`).
const FLAG_THRESHOLD: f64 = 200_000.0;
/// The simulated system moves at most this much in one transaction.
const MAX_AMOUNT: f64 = 10_000_000.0;

/// Transaction types as written, and their index in the tables below.
const CASH_IN: usize = 0;
const CASH_OUT: usize = 1;
const DEBIT: usize = 2;
const PAYMENT: usize = 3;
const TRANSFER: usize = 4;
const TYPE_NAMES: [&str; 5] = ["CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER"];
/// Cumulative mix of legitimate types (CASH_OUT 35 %, PAYMENT 34 %, CASH_IN 22 %, TRANSFER 8 %,
/// DEBIT 1 %), as (upper bound, type).
const MIX: [(f64, usize); 5] = [
    (0.35, CASH_OUT),
    (0.69, PAYMENT),
    (0.91, CASH_IN),
    (0.99, TRANSFER),
    (1.0, DEBIT),
];
/// Log-normal amount per type: (median, σ of the log).
const AMOUNT: [(f64, f64); 5] = [
    (120_000.0, 0.9),
    (130_000.0, 1.0),
    (3_500.0, 1.0),
    (8_000.0, 1.1),
    (350_000.0, 1.2),
];

/// Writes `rows` PaySim rows, with header, to `writer`; a fraction close to `fraud_rate` of
/// them is fraud.
///
/// The population: customers (`C…`) with log-normal balances (a quarter empty), cash agents
/// (customers with large balances, the counterparts of CASH_IN and CASH_OUT), merchants
/// (`M…`, whose balances are recorded as 0 like PaySim's) and mule accounts. Steps run through
/// 30 days of hours, busier in the afternoon. Legitimate transactions follow PaySim's type mix
/// with log-normal amounts and consistent balance updates.
///
/// Fraud is account takeover: a TRANSFER of (usually all of) a victim's balance to a mule,
/// then a CASH_OUT of the same amount by the mule, both labelled 1. It happens at every hour
/// but more at night. Noise keeps the task honest: some legitimate transfers and cash-outs
/// empty the account too, a quarter of frauds take only part of the balance, balances are
/// sometimes recorded as 0 (more often for frauds' destinations, as in PaySim), and amounts
/// overlap. `isFlaggedFraud` is 1 for transfers over 200 000.
///
/// The same generator state gives the same bytes.
///
/// ```
/// use rand::SeedableRng;
/// let mut out = Vec::new();
/// let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(3);
/// let summary = fraudnet::data::generate(1_000, 0.02, &mut rng, &mut out)?;
/// assert_eq!((summary.rows, summary.fraud_rows), (1_000, 20));
/// assert!(out.starts_with(b"step,type,amount,nameOrig,"));
/// # Ok::<(), fraudnet::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidSetting`] when `rows` is 0 or `fraud_rate` is not in (0, 0.5);
/// [`Error::Io`] (path `<output>`) when writing fails.
pub fn generate(
    rows: u64,
    fraud_rate: f64,
    rng: &mut impl Rng,
    writer: impl io::Write,
) -> Result<GenerateSummary> {
    generate_named(rows, fraud_rate, rng, writer, "<output>")
}

/// [`generate`] into a new file at `path`, replacing it atomically (a temporary file renamed
/// into place once complete).
///
/// # Errors
/// As [`generate`], with the path in [`Error::Io`].
pub fn generate_to_path(
    path: impl AsRef<Path>,
    rows: u64,
    fraud_rate: f64,
    rng: &mut impl Rng,
) -> Result<GenerateSummary> {
    let path = path.as_ref();
    let name = path.display().to_string();
    validate(rows, fraud_rate)?;
    // Into a temporary file renamed into place at the end: an interrupted run leaves any
    // previous file whole and no partial one.
    crate::model_file::write_atomically_with(
        path,
        |out| generate_named(rows, fraud_rate, rng, out, &name),
        || Ok(()),
    )
}

fn validate(rows: u64, fraud_rate: f64) -> Result<()> {
    if rows == 0 {
        return Err(Error::InvalidSetting("rows must be at least 1".into()));
    }
    if !(fraud_rate > 0.0 && fraud_rate < 0.5) {
        return Err(Error::InvalidSetting(format!(
            "fraud rate {fraud_rate} must be in (0, 0.5)"
        )));
    }
    Ok(())
}

fn generate_named(
    rows: u64,
    fraud_rate: f64,
    rng: &mut impl Rng,
    writer: impl io::Write,
    name: &str,
) -> Result<GenerateSummary> {
    validate(rows, fraud_rate)?;
    let mut out = Out {
        csv: csv::WriterBuilder::new()
            .buffer_capacity(1 << 16)
            .from_writer(writer),
        buf: String::with_capacity(32),
    };
    let io_error = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(source) => Error::Io {
            path: name.to_string(),
            source,
        },
        other => Error::Io {
            path: name.to_string(),
            source: io::Error::other(format!("{other:?}")),
        },
    };
    let summary = World::new(rows, rng)
        .run(rows, fraud_rate, rng, &mut out)
        .map_err(io_error)?;
    out.csv.flush().map_err(|source| Error::Io {
        path: name.to_string(),
        source,
    })?;
    Ok(summary)
}

/// The CSV writer with a reusable text buffer for numbers and names.
struct Out<W: io::Write> {
    csv: csv::Writer<W>,
    buf: String,
}

impl<W: io::Write> Out<W> {
    fn text(&mut self, s: &str) -> csv::Result<()> {
        self.csv.write_field(s)
    }

    fn money(&mut self, x: f64) -> csv::Result<()> {
        self.buf.clear();
        // Writing to a String cannot fail.
        let _ = write!(self.buf, "{x:.2}");
        self.csv.write_field(&self.buf)
    }

    fn int(&mut self, x: u64) -> csv::Result<()> {
        self.buf.clear();
        let _ = write!(self.buf, "{x}");
        self.csv.write_field(&self.buf)
    }

    fn account(&mut self, prefix: char, id: u64) -> csv::Result<()> {
        self.buf.clear();
        let _ = write!(self.buf, "{prefix}{id}");
        self.csv.write_field(&self.buf)
    }

    fn end(&mut self) -> csv::Result<()> {
        self.csv.write_record(None::<&[u8]>)
    }
}

/// One row to write.
struct Txn {
    step: u32,
    kind: usize,
    amount: f64,
    orig: (char, u64),
    old_orig: f64,
    new_orig: f64,
    dest: (char, u64),
    old_dest: f64,
    new_dest: f64,
    fraud: bool,
}

impl Txn {
    fn write<W: io::Write>(&self, out: &mut Out<W>) -> csv::Result<()> {
        out.int(u64::from(self.step))?;
        out.text(TYPE_NAMES[self.kind])?;
        out.money(self.amount)?;
        out.account(self.orig.0, self.orig.1)?;
        out.money(self.old_orig)?;
        out.money(self.new_orig)?;
        out.account(self.dest.0, self.dest.1)?;
        out.money(self.old_dest)?;
        out.money(self.new_dest)?;
        out.text(if self.fraud { "1" } else { "0" })?;
        let flagged = self.kind == TRANSFER && self.amount > FLAG_THRESHOLD;
        out.text(if flagged { "1" } else { "0" })?;
        out.end()
    }
}

/// The accounts and their balances.
struct World {
    /// Balances of all customer accounts: agents first, then mules, then ordinary customers.
    balance: Vec<f64>,
    agents: usize,
    mules: usize,
    merchants: usize,
}

/// Rounds to cents.
fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn log_normal(rng: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    let z: f64 = rng.sample(StandardNormal);
    median * (sigma * z).exp()
}

/// A bump around `centre` o'clock on the 24-hour circle.
fn bump(hour: f64, centre: f64, width: f64) -> f64 {
    let d = (hour - centre).rem_euclid(24.0);
    let d = d.min(24.0 - d);
    (-0.5 * (d / width).powi(2)).exp()
}

/// Splits `total` over the steps in proportion to `weight(hour)`, by cumulative rounding.
fn spread(total: u64, weight: impl Fn(f64) -> f64) -> Vec<u64> {
    let w: Vec<f64> = (0..STEPS).map(|s| weight(f64::from(s % 24))).collect();
    let sum: f64 = w.iter().sum();
    let mut cum = 0.0;
    let mut given = 0u64;
    w.iter()
        .map(|x| {
            cum += x;
            let upto = ((cum / sum) * total as f64).round() as u64;
            let upto = upto.min(total);
            let n = upto.saturating_sub(given);
            given += n;
            n
        })
        .collect()
}

impl World {
    fn new(rows: u64, rng: &mut impl Rng) -> Self {
        let customers = (rows / 10).clamp(300, 5_000_000) as usize;
        let agents = (customers / 200).max(10);
        let mules = (customers / 100).max(10);
        let merchants = (rows / 40).clamp(50, 1_000_000) as usize;
        let balance = (0..customers)
            .map(|i| {
                if i < agents {
                    cents(log_normal(rng, 2_000_000.0, 0.8))
                } else if i < agents + mules {
                    if rng.random::<f64>() < 0.8 {
                        0.0
                    } else {
                        cents(log_normal(rng, 5_000.0, 1.0))
                    }
                } else if rng.random::<f64>() < 0.25 {
                    0.0
                } else {
                    cents(log_normal(rng, 30_000.0, 1.6))
                }
            })
            .collect();
        World {
            balance,
            agents,
            mules,
            merchants,
        }
    }

    fn customer_id(i: usize) -> (char, u64) {
        ('C', 1_000_000_000 + 13 * i as u64)
    }

    fn merchant_id(i: usize) -> (char, u64) {
        ('M', 1_000_000_000 + 17 * i as u64)
    }

    fn agent(&self, rng: &mut impl Rng) -> usize {
        rng.random_range(0..self.agents)
    }

    fn mule(&self, rng: &mut impl Rng) -> usize {
        self.agents + rng.random_range(0..self.mules)
    }

    fn ordinary(&self, rng: &mut impl Rng) -> usize {
        rng.random_range(self.agents + self.mules..self.balance.len())
    }

    fn run<W: io::Write>(
        mut self,
        rows: u64,
        fraud_rate: f64,
        rng: &mut impl Rng,
        out: &mut Out<W>,
    ) -> csv::Result<GenerateSummary> {
        out.csv.write_record(PAYSIM_HEADER)?;
        let pairs = ((rows as f64 * fraud_rate) / 2.0).round() as u64;
        let legit = rows - 2 * pairs;
        let legit_per_step = spread(legit, |h| 0.15 + bump(h, 14.0, 4.0));
        let fraud_per_step = spread(pairs, |h| 0.5 + bump(h, 2.0, 3.0));
        let mut written = 0u64;
        for step in 0..STEPS {
            let (mut l, mut f) = (legit_per_step[step as usize], fraud_per_step[step as usize]);
            while l + f > 0 {
                let pick_fraud = rng.random_range(0..l + f) < f;
                if pick_fraud {
                    let (transfer, cash_out) = self.fraud(step, rng);
                    transfer.write(out)?;
                    cash_out.write(out)?;
                    f -= 1;
                    written += 2;
                } else {
                    self.legit(step, rng).write(out)?;
                    l -= 1;
                    written += 1;
                }
            }
        }
        Ok(GenerateSummary {
            rows: written,
            fraud_rows: 2 * pairs,
            customers: self.balance.len(),
            merchants: self.merchants,
            steps: STEPS,
        })
    }

    fn legit(&mut self, step: u32, rng: &mut impl Rng) -> Txn {
        let u: f64 = rng.random();
        let kind = MIX.iter().find(|(p, _)| u < *p).map_or(PAYMENT, |m| m.1);
        let (median, sigma) = AMOUNT[kind];
        let mut amount = cents(log_normal(rng, median, sigma).clamp(1.0, MAX_AMOUNT));
        let o = self.ordinary(rng);
        let old_orig = self.balance[o];
        let mut new_orig;
        let (dest, mut old_dest, mut new_dest);
        match kind {
            CASH_IN => {
                new_orig = old_orig + amount;
                let a = self.agent(rng);
                dest = Self::customer_id(a);
                old_dest = self.balance[a];
                new_dest = (old_dest - amount).max(0.0);
                self.balance[a] = new_dest;
            }
            PAYMENT | DEBIT => {
                new_orig = (old_orig - amount).max(0.0);
                dest = Self::merchant_id(rng.random_range(0..self.merchants));
                old_dest = 0.0;
                new_dest = 0.0;
            }
            _ => {
                // CASH_OUT or TRANSFER: sometimes the whole balance on purpose; an amount above
                // the balance is sometimes cut to it and otherwise recorded as an overdraft to 0.
                let drain = if kind == TRANSFER { 0.15 } else { 0.05 };
                if old_orig > 0.0
                    && (rng.random::<f64>() < drain
                        || (amount > old_orig && rng.random::<f64>() < 0.4))
                {
                    amount = old_orig;
                }
                new_orig = (old_orig - amount).max(0.0);
                let d = if kind == CASH_OUT {
                    self.agent(rng)
                } else {
                    self.ordinary(rng)
                };
                dest = Self::customer_id(d);
                old_dest = self.balance[d];
                new_dest = old_dest + amount;
                self.balance[d] = new_dest;
                if rng.random::<f64>() < 0.12 {
                    (old_dest, new_dest) = (0.0, 0.0);
                }
            }
        }
        self.balance[o] = new_orig;
        let mut old_orig = old_orig;
        if rng.random::<f64>() < 0.04 {
            (old_orig, new_orig) = (0.0, 0.0);
        }
        Txn {
            step,
            kind,
            amount,
            orig: Self::customer_id(o),
            old_orig,
            new_orig,
            dest,
            old_dest,
            new_dest,
            fraud: false,
        }
    }

    fn fraud(&mut self, step: u32, rng: &mut impl Rng) -> (Txn, Txn) {
        // The fraudster looks at two accounts and takes over the richer one.
        let (a, b) = (self.ordinary(rng), self.ordinary(rng));
        let v = if self.balance[a] >= self.balance[b] {
            a
        } else {
            b
        };
        let old_victim = self.balance[v];
        let amount = if old_victim > 0.0 {
            let share = if rng.random::<f64>() < 0.75 {
                1.0
            } else {
                rng.random_range(0.3..0.95)
            };
            cents((old_victim * share).min(MAX_AMOUNT))
        } else {
            cents(log_normal(rng, 150_000.0, 1.0))
        };
        let new_victim = (old_victim - amount).max(0.0);
        self.balance[v] = new_victim;
        let m = self.mule(rng);
        let old_mule = self.balance[m];
        let (mut old_dest, mut new_dest) = (old_mule, old_mule + amount);
        if rng.random::<f64>() < 0.5 {
            (old_dest, new_dest) = (0.0, 0.0);
        }
        let transfer = Txn {
            step,
            kind: TRANSFER,
            amount,
            orig: Self::customer_id(v),
            old_orig: old_victim,
            new_orig: new_victim,
            dest: Self::customer_id(m),
            old_dest,
            new_dest,
            fraud: true,
        };
        let (mut old_orig, mut new_orig) = (old_mule + amount, old_mule);
        if rng.random::<f64>() < 0.5 {
            (old_orig, new_orig) = (0.0, 0.0);
        }
        let agent = self.agent(rng);
        let (mut old_dest, mut new_dest) = (self.balance[agent], self.balance[agent] + amount);
        self.balance[agent] = new_dest;
        if rng.random::<f64>() < 0.3 {
            (old_dest, new_dest) = (0.0, 0.0);
        }
        let cash_out = Txn {
            step,
            kind: CASH_OUT,
            amount,
            orig: Self::customer_id(m),
            old_orig,
            new_orig,
            dest: Self::customer_id(agent),
            old_dest,
            new_dest,
            fraud: true,
        };
        (transfer, cash_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_adds_up() {
        let counts = spread(1_000, |h| 1.0 + h);
        assert_eq!(counts.len(), STEPS as usize);
        assert_eq!(counts.iter().sum::<u64>(), 1_000);
        assert_eq!(spread(0, |_| 1.0).iter().sum::<u64>(), 0);
    }

    #[test]
    fn bump_is_circular() {
        assert_eq!(bump(2.0, 2.0, 3.0), 1.0);
        assert!((bump(23.0, 1.0, 3.0) - bump(3.0, 1.0, 3.0)).abs() < 1e-15);
    }

    #[test]
    fn rejects_bad_settings() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(0);
        for (rows, rate) in [(0, 0.1), (10, 0.0), (10, 0.5), (10, f64::NAN)] {
            assert!(generate(rows, rate, &mut rng, io::sink()).is_err());
        }
    }
}
