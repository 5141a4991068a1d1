//! The rows as written: the transaction types' names, the simulated bank's flag rule, and a CSV
//! writer of amounts (to the cent) and account names that reuses one text buffer.

use std::fmt::Write as _;
use std::io;

use super::super::schema::PAYSIM_HEADER;

/// Transfers above this are flagged by the simulated bank's rule (`isFlaggedFraud`).
const FLAG_THRESHOLD: f64 = 200_000.0;

/// Transaction types as written, and their index in the simulation's tables.
pub(super) const CASH_IN: usize = 0;
pub(super) const CASH_OUT: usize = 1;
pub(super) const DEBIT: usize = 2;
pub(super) const PAYMENT: usize = 3;
pub(super) const TRANSFER: usize = 4;
const TYPE_NAMES: [&str; 5] = ["CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER"];

/// The CSV writer with a reusable text buffer for numbers and names.
pub(super) struct Out<W: io::Write> {
    csv: csv::Writer<W>,
    buf: String,
}

impl<W: io::Write> Out<W> {
    /// A writer of rows to `writer`.
    pub(super) fn new(writer: W) -> Self {
        Out {
            csv: csv::WriterBuilder::new()
                .buffer_capacity(1 << 16)
                .from_writer(writer),
            buf: String::with_capacity(32),
        }
    }

    /// The PaySim header line.
    pub(super) fn header(&mut self) -> csv::Result<()> {
        self.csv.write_record(PAYSIM_HEADER)
    }

    /// Writes what is buffered.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        self.csv.flush()
    }

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
pub(super) struct Txn {
    pub(super) step: u32,
    pub(super) kind: usize,
    pub(super) amount: f64,
    pub(super) orig: (char, u64),
    pub(super) old_orig: f64,
    pub(super) new_orig: f64,
    pub(super) dest: (char, u64),
    pub(super) old_dest: f64,
    pub(super) new_dest: f64,
    pub(super) fraud: bool,
}

impl Txn {
    /// Writes the row.
    pub(super) fn write<W: io::Write>(&self, out: &mut Out<W>) -> csv::Result<()> {
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
