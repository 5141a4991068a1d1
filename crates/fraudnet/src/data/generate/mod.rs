//! Synthetic PaySim-like payment data: a population of customers, cash agents, merchants and
//! mule accounts transacting over 30 days of hourly steps, with account-takeover fraud and the
//! recording noise of the real simulator, so that fraud is learnable but not trivially
//! separable. Writes CSV in the [`Schema::PaySim`](super::Schema::PaySim) layout; all randomness
//! comes from the caller's generator, so a seed fixes every byte. The simulation lives in
//! `world`, the rows as written in `row`; here, the settings and the output. Knows nothing of
//! reading or of models.

mod row;
mod world;

use std::io;
use std::path::Path;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};
use row::Out;
use world::World;

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
    let mut out = Out::new(writer);
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
    out.flush().map_err(|source| Error::Io {
        path: name.to_string(),
        source,
    })?;
    Ok(summary)
}

/// A writer that tells `lines(n)` the `n` line breaks of each write it passes on to `inner`: the
/// generator's rows as they are written (one line each, after the header), for a caller's
/// progress.
///
/// ```
/// use fraudnet::data::{LineCounting, generate};
/// let mut rng = <rand::rngs::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
/// let mut lines = 0;
/// let mut out = LineCounting::new(Vec::new(), |n| lines += n);
/// generate(100, 0.05, &mut rng, &mut out)?;
/// assert!(!out.into_inner().is_empty());
/// assert_eq!(lines, 101);
/// # Ok::<(), fraudnet::Error>(())
/// ```
pub struct LineCounting<W, F> {
    inner: W,
    lines: F,
}

impl<W, F: FnMut(u64)> LineCounting<W, F> {
    /// Wraps `inner`.
    pub fn new(inner: W, lines: F) -> Self {
        LineCounting { inner, lines }
    }

    /// The writer wrapped.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: io::Write, F: FnMut(u64)> io::Write for LineCounting<W, F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
        if lines > 0 {
            (self.lines)(lines as u64);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_settings() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(0);
        for (rows, rate) in [(0, 0.1), (10, 0.0), (10, 0.5), (10, f64::NAN)] {
            assert!(generate(rows, rate, &mut rng, io::sink()).is_err());
        }
    }
}
