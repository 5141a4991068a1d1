//! Parquet writers: the synthetic PaySim rows (the generator's CSV text turned into typed
//! columns, so both formats hold the very same numbers) and scores. Both write a row group every
//! [`GROUP_ROWS`] rows, so memory stays bounded whatever the number of rows. Knows nothing of
//! how rows are generated or scored.

use std::io::{self, Write};
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int8Builder, Int64Builder, StringBuilder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use rand::Rng;

use super::super::generate::{GenerateSummary, LineCounting, generate};
use super::super::schema::PAYSIM_HEADER;
use crate::{Error, Result};

/// Rows per row group and per batch handed to the writer: about 3 MB of PaySim columns held
/// before they are encoded and written.
const GROUP_ROWS: usize = 64 * 1024;

/// Snappy: fast to decode, what pandas, Spark and DuckDB write by default.
fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(GROUP_ROWS))
        .build()
}

/// [`properties`] without a dictionary for the row numbers and the probabilities: their values
/// are (nearly) all distinct, so a dictionary only costs the hashing of every value before the
/// writer falls back to plain encoding. The row numbers count up by one: delta-encoded they take
/// almost no room.
fn scores_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(GROUP_ROWS))
        .set_column_dictionary_enabled(ColumnPath::from("row"), false)
        .set_column_encoding(ColumnPath::from("row"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from("probability"), false)
        .build()
}

fn write_error(output: &str, e: ParquetError) -> Error {
    let source = match e {
        ParquetError::External(inner) => match inner.downcast::<io::Error>() {
            Ok(io) => *io,
            Err(other) => io::Error::other(other),
        },
        other => io::Error::other(other),
    };
    Error::Io {
        path: output.to_string(),
        source,
    }
}

/// Writes `rows` synthetic PaySim rows as Parquet to `writer` (named `output` in errors): the
/// rows [`generate`] writes as CSV for the same generator state, with `step` and the labels as
/// integers, the names and `type` as text and the money columns as the `f64` the CSV text
/// parses to. Returns `writer` once the file's footer is written.
///
/// # Errors
/// As [`generate`].
pub fn generate_parquet<W: Write + Send>(
    rows: u64,
    fraud_rate: f64,
    rng: &mut impl Rng,
    writer: W,
    output: &str,
) -> Result<(GenerateSummary, W)> {
    generate_parquet_counting(rows, fraud_rate, rng, writer, output, |_| {})
}

/// [`generate_parquet`], telling `lines(n)` each time `n` more lines of the generator's CSV text
/// (its header, then one per row: `rows + 1` in all) have been turned into columns, so that a
/// caller can show its progress.
///
/// ```
/// use fraudnet::data::generate_parquet_counting;
/// let mut rng = <rand::rngs::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
/// let mut lines = 0;
/// generate_parquet_counting(100, 0.05, &mut rng, Vec::new(), "mem.parquet", |n| lines += n)?;
/// assert_eq!(lines, 101);
/// # Ok::<(), fraudnet::Error>(())
/// ```
///
/// # Errors
/// As [`generate`].
pub fn generate_parquet_counting<W: Write + Send>(
    rows: u64,
    fraud_rate: f64,
    rng: &mut impl Rng,
    writer: W,
    output: &str,
    lines: impl FnMut(u64),
) -> Result<(GenerateSummary, W)> {
    let mut payments = PaymentsWriter::new(writer, output)?;
    let mut counted = LineCounting::new(&mut payments, lines);
    let summary = generate(rows, fraud_rate, rng, &mut counted).map_err(|e| match e {
        Error::Io { source, .. } => Error::Io {
            path: output.to_string(),
            source,
        },
        other => other,
    })?;
    Ok((summary, payments.finish()?))
}

/// Turns the generator's CSV text into Parquet row groups as it is written.
struct PaymentsWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
    output: String,
    /// Bytes of a line not yet complete.
    pending: Vec<u8>,
    header_seen: bool,
    step: Int64Builder,
    texts: [StringBuilder; 3],
    money: [Float64Builder; 5],
    flags: [Int8Builder; 2],
    rows: usize,
}

impl<W: Write + Send> PaymentsWriter<W> {
    fn new(writer: W, output: &str) -> Result<Self> {
        let field = |name: &str| {
            let kind = match name {
                "step" => DataType::Int64,
                "type" | "nameOrig" | "nameDest" => DataType::Utf8,
                "isFraud" | "isFlaggedFraud" => DataType::Int8,
                _ => DataType::Float64,
            };
            Field::new(name, kind, false)
        };
        let schema = Arc::new(ArrowSchema::new(
            PAYSIM_HEADER.iter().map(|n| field(n)).collect::<Vec<_>>(),
        ));
        let writer = ArrowWriter::try_new(writer, Arc::clone(&schema), Some(properties()))
            .map_err(|e| write_error(output, e))?;
        Ok(PaymentsWriter {
            writer,
            schema,
            output: output.to_string(),
            pending: Vec::new(),
            header_seen: false,
            step: Int64Builder::new(),
            texts: Default::default(),
            money: Default::default(),
            flags: Default::default(),
            rows: 0,
        })
    }

    /// Appends one CSV line (without its line break) to the columns.
    fn line(&mut self, line: &[u8]) -> io::Result<()> {
        let text = std::str::from_utf8(line).map_err(io::Error::other)?;
        if !std::mem::replace(&mut self.header_seen, true) {
            return Ok(());
        }
        let fields: Vec<&str> = text.split(',').collect();
        let bad = || io::Error::other(format!("unexpected generated row {text:?}"));
        let [
            step,
            kind,
            amount,
            orig,
            old_orig,
            new_orig,
            dest,
            old_dest,
            new_dest,
            fraud,
            flagged,
        ] = fields[..]
        else {
            return Err(bad());
        };
        self.step.append_value(step.parse().map_err(|_| bad())?);
        for (builder, value) in self.texts.iter_mut().zip([kind, orig, dest]) {
            builder.append_value(value);
        }
        let money = [amount, old_orig, new_orig, old_dest, new_dest];
        for (builder, value) in self.money.iter_mut().zip(money) {
            builder.append_value(value.parse().map_err(|_| bad())?);
        }
        for (builder, value) in self.flags.iter_mut().zip([fraud, flagged]) {
            builder.append_value(value.parse().map_err(|_| bad())?);
        }
        self.rows += 1;
        if self.rows == GROUP_ROWS {
            self.flush_rows().map_err(io::Error::other)?;
        }
        Ok(())
    }

    /// Hands the rows gathered so far to the Parquet writer.
    fn flush_rows(&mut self) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let [kind, orig, dest] = &mut self.texts;
        let [amount, old_orig, new_orig, old_dest, new_dest] = &mut self.money;
        let [fraud, flagged] = &mut self.flags;
        // In the header's order.
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.step.finish()),
            Arc::new(kind.finish()),
            Arc::new(amount.finish()),
            Arc::new(orig.finish()),
            Arc::new(old_orig.finish()),
            Arc::new(new_orig.finish()),
            Arc::new(dest.finish()),
            Arc::new(old_dest.finish()),
            Arc::new(new_dest.finish()),
            Arc::new(fraud.finish()),
            Arc::new(flagged.finish()),
        ];
        self.rows = 0;
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| write_error(&self.output, e.into()))?;
        self.writer
            .write(&batch)
            .map_err(|e| write_error(&self.output, e))
    }

    fn finish(mut self) -> Result<W> {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.line(&line).map_err(|source| Error::Io {
                path: self.output.clone(),
                source,
            })?;
        }
        self.flush_rows()?;
        self.writer
            .into_inner()
            .map_err(|e| write_error(&self.output, e))
    }
}

impl<W: Write + Send> Write for PaymentsWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(&mut self.pending);
            line.extend_from_slice(&rest[..end]);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.line(&line)?;
            rest = &rest[end + 1..];
        }
        self.pending.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes scores as Parquet: `row` (unsigned 64-bit), `probability` (double), `flag` (8-bit, 0
/// or 1), the columns of the CSV scores.
pub struct ScoresWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
    output: String,
    row: UInt64Builder,
    probability: Float64Builder,
    flag: Int8Builder,
    rows: usize,
}

impl<W: Write + Send> ScoresWriter<W> {
    /// A writer into `writer`, named `output` in errors.
    ///
    /// # Errors
    /// [`Error::Io`] when the file's opening bytes cannot be written.
    pub fn new(writer: W, output: &str) -> Result<Self> {
        let schema = Arc::new(ArrowSchema::new(vec![
            Field::new("row", DataType::UInt64, false),
            Field::new("probability", DataType::Float64, false),
            Field::new("flag", DataType::Int8, false),
        ]));
        let writer = ArrowWriter::try_new(writer, Arc::clone(&schema), Some(scores_properties()))
            .map_err(|e| write_error(output, e))?;
        Ok(ScoresWriter {
            writer,
            schema,
            output: output.to_string(),
            row: UInt64Builder::with_capacity(GROUP_ROWS),
            probability: Float64Builder::with_capacity(GROUP_ROWS),
            flag: Int8Builder::with_capacity(GROUP_ROWS),
            rows: 0,
        })
    }

    /// Adds one row's score.
    ///
    /// # Errors
    /// [`Error::Io`] when a full row group cannot be written.
    pub fn push(&mut self, row: u64, probability: f64, flag: bool) -> Result<()> {
        self.row.append_value(row);
        self.probability.append_value(probability);
        self.flag.append_value(i8::from(flag));
        self.rows += 1;
        if self.rows == GROUP_ROWS {
            self.flush_rows()?;
        }
        Ok(())
    }

    fn flush_rows(&mut self) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.row.finish()),
            Arc::new(self.probability.finish()),
            Arc::new(self.flag.finish()),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| write_error(&self.output, e.into()))?;
        self.writer
            .write(&batch)
            .map_err(|e| write_error(&self.output, e))
    }

    /// Writes the last row group and the footer; returns the underlying writer.
    ///
    /// # Errors
    /// [`Error::Io`] when writing fails.
    pub fn finish(mut self) -> Result<W> {
        self.flush_rows()?;
        self.writer
            .into_inner()
            .map_err(|e| write_error(&self.output, e))
    }
}
