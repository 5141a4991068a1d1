//! The simulated world: accounts and their balances, the hourly rhythm of legitimate payments
//! and of account takeovers, and the transactions they make (see [`super::generate`]).

use std::io;

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

use super::GenerateSummary;
use super::row::{CASH_IN, CASH_OUT, DEBIT, Out, PAYMENT, TRANSFER, Txn};

/// Hourly steps: 30 days.
const STEPS: u32 = 30 * 24;
/// The simulated system moves at most this much in one transaction.
const MAX_AMOUNT: f64 = 10_000_000.0;
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

/// The accounts and their balances.
pub(super) struct World {
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

/// A transaction's `(old, new)` balances, or `(0, 0)` with probability `p`: PaySim leaves a
/// share of the balances unrecorded.
fn unrecorded(rng: &mut impl Rng, p: f64, balances: (f64, f64)) -> (f64, f64) {
    if rng.random::<f64>() < p {
        (0.0, 0.0)
    } else {
        balances
    }
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
    /// The population for a file of `rows` rows.
    pub(super) fn new(rows: u64, rng: &mut impl Rng) -> Self {
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

    /// Writes the header and `rows` rows, about `fraud_rate` of them fraud.
    pub(super) fn run<W: io::Write>(
        mut self,
        rows: u64,
        fraud_rate: f64,
        rng: &mut impl Rng,
        out: &mut Out<W>,
    ) -> csv::Result<GenerateSummary> {
        out.header()?;
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
        let new_orig;
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
                (old_dest, new_dest) = unrecorded(rng, 0.12, (old_dest, new_dest));
            }
        }
        self.balance[o] = new_orig;
        let (old_orig, new_orig) = unrecorded(rng, 0.04, (old_orig, new_orig));
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
        let (old_dest, new_dest) = unrecorded(rng, 0.5, (old_mule, old_mule + amount));
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
        let (old_orig, new_orig) = unrecorded(rng, 0.5, (old_mule + amount, old_mule));
        let agent = self.agent(rng);
        let (old_dest, new_dest) = (self.balance[agent], self.balance[agent] + amount);
        self.balance[agent] = new_dest;
        let (old_dest, new_dest) = unrecorded(rng, 0.3, (old_dest, new_dest));
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
}
