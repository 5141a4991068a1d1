//! Scoring and evaluating payment files with a trained [`FraudModel`], streaming: rows are read,
//! standardised and scored a block at a time, so memory stays constant whatever the file's size.
//! Scores are written to a temporary file renamed into place at the end: a failed run (a bad row,
//! a full disk) leaves no partial output behind, and an existing output is untouched.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::data::{MAX_ROWS, RecordReader, RowSource, ScoresWriter};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::model_file::{FraudModel, write_atomically_with};

/// Rows scored together: large enough to amortise the per-call work, small enough to stay in
/// cache (13 features × 4096 rows ≈ 420 kB).
pub const BLOCK_ROWS: usize = 4096;

/// What a scoring run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreSummary {
    /// Rows scored.
    pub rows: u64,
    /// Rows flagged (probability ≥ the model's threshold).
    pub flagged: u64,
    /// Wall time, reading and writing included.
    pub seconds: f64,
    /// Rows per second.
    pub rows_per_second: f64,
}

/// Scores every row of `input` (in the model's schema) and writes `row,probability,flag` lines
/// (with a header) to `output`, atomically.
pub fn score_file(model: &FraudModel, input: &Path, output: &Path) -> Result<ScoreSummary> {
    let started = Instant::now();
    let reader = RecordReader::open(input, model.schema)?;
    let name = output.display().to_string();
    let summary = write_atomically_with(
        output,
        |out| score_records(model, reader, out, &name),
        || Ok(()),
    )?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(ScoreSummary {
        seconds,
        rows_per_second: summary.rows as f64 / seconds.max(1e-9),
        ..summary
    })
}

/// Scores every row of `reader` and writes `row,probability,flag` lines (with a header) to
/// `out`, named `output` in errors. Writes as it reads: the caller stages `out` if a failed run
/// must leave nothing behind.
///
/// # Errors
/// Those of the reader; [`Error::Io`] when writing fails; [`Error::InvalidSetting`] when the
/// model gives a probability that is not finite (its weights or standardiser overflow).
pub fn score_records(
    model: &FraudModel,
    reader: impl RowSource,
    mut out: impl Write,
    output: &str,
) -> Result<ScoreSummary> {
    let io_error = |source| Error::Io {
        path: output.to_string(),
        source,
    };
    writeln!(out, "row,probability,flag").map_err(io_error)?;
    let summary = score_rows(model, reader, |row, p, flag| {
        writeln!(out, "{row},{p},{}", u8::from(flag)).map_err(io_error)
    })?;
    out.flush().map_err(io_error)?;
    Ok(summary)
}

/// [`score_records`] into a Parquet file of the same three columns (see [`ScoresWriter`]);
/// returns `out` once the file's footer is written.
///
/// # Errors
/// As [`score_records`].
pub fn score_records_parquet<W: Write + Send>(
    model: &FraudModel,
    reader: impl RowSource,
    out: W,
    output: &str,
) -> Result<(ScoreSummary, W)> {
    let mut writer = ScoresWriter::new(out, output)?;
    let summary = score_rows(model, reader, |row, p, flag| writer.push(row, p, flag))?;
    Ok((summary, writer.finish()?))
}

/// Scores every row of `reader`, handing each row's number, probability and flag to `write`.
fn score_rows(
    model: &FraudModel,
    reader: impl RowSource,
    mut write: impl FnMut(u64, f64, bool) -> Result<()>,
) -> Result<ScoreSummary> {
    let started = Instant::now();
    let mut flagged = 0;
    let rows = for_each_block(model, reader, false, |rows, probabilities, _labels| {
        for (&row, &p) in rows.iter().zip(probabilities) {
            let flag = p >= model.threshold;
            flagged += u64::from(flag);
            write(row, p, flag)?;
        }
        Ok(())
    })?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(ScoreSummary {
        rows,
        flagged,
        seconds,
        rows_per_second: rows as f64 / seconds.max(1e-9),
    })
}

/// The model's metrics on a labelled file, at its own threshold. Keeps a score and a label per
/// row, not the rows: memory grows by about 50 bytes per row (the two vectors with their growth
/// slack, and the sort that the metrics need); scoring, which needs no metrics, stays constant.
pub fn evaluate_file(model: &FraudModel, input: &Path) -> Result<Metrics> {
    evaluate_records(model, RecordReader::open(input, model.schema)?)
}

/// [`evaluate_file`] on the rows of `reader`, at most [`MAX_ROWS`] of them.
///
/// # Errors
/// As [`evaluate_file`].
pub fn evaluate_records(model: &FraudModel, reader: impl RowSource) -> Result<Metrics> {
    let file = reader.file().to_string();
    let (mut scores, mut labels) = (Vec::new(), Vec::new());
    for_each_block(model, reader, true, |_, probabilities, block_labels| {
        if scores.len() + probabilities.len() > MAX_ROWS {
            return Err(Error::InvalidSetting(format!(
                "{file}: more than {MAX_ROWS} rows (the limit of an evaluation)"
            )));
        }
        scores.extend_from_slice(probabilities);
        labels.extend_from_slice(block_labels);
        Ok(())
    })?;
    if scores.is_empty() {
        return Err(Error::InvalidSetting(format!(
            "{file}: no rows to evaluate"
        )));
    }
    Metrics::compute(&scores, &labels, model.threshold)
}

/// Reads `input` in blocks of [`BLOCK_ROWS`], standardises and scores them, and hands each
/// block's row numbers, probabilities and labels (NaN where a row has none) to `sink`. Returns
/// the number of rows. With `need_labels`, a file or a row without a label is an error naming it.
fn for_each_block(
    model: &FraudModel,
    mut reader: impl RowSource,
    need_labels: bool,
    mut sink: impl FnMut(&[u64], &[f64], &[f64]) -> Result<()>,
) -> Result<u64> {
    let file = reader.file().to_string();
    if need_labels && !reader.has_labels() {
        return Err(reader.columns_error(format!(
            "no '{}' column: evaluating needs labelled rows",
            model.schema.label_column()
        )));
    }
    let n = model.schema.n_features();
    // Example-major blocks: row k's features at [k·n, (k+1)·n).
    let mut features = vec![0.0; n * BLOCK_ROWS];
    let mut rows = Vec::with_capacity(BLOCK_ROWS);
    let mut labels = Vec::with_capacity(BLOCK_ROWS);
    let mut probabilities = vec![0.0; BLOCK_ROWS];
    let mut total = 0;
    loop {
        rows.clear();
        labels.clear();
        while rows.len() < BLOCK_ROWS {
            let slot = &mut features[rows.len() * n..(rows.len() + 1) * n];
            let Some(info) = reader.read_into(slot)? else {
                break;
            };
            if need_labels && info.label.is_none() {
                return Err(reader.label_error(
                    &info,
                    format!("row {} has no label: evaluating needs one", info.row),
                ));
            }
            model.scaler.transform_row(slot)?;
            rows.push(info.row);
            labels.push(info.label.unwrap_or(f64::NAN));
        }
        let k = rows.len();
        if k == 0 {
            return Ok(total);
        }
        let block = ArrayView2::from_shape((k, n), &features[..k * n])
            .expect("the block holds k rows of n features");
        // The network reads one example per column.
        model
            .mlp
            .predict_into(model.theta.values(), block.t(), &mut probabilities[..k])?;
        if let Some(j) = probabilities[..k].iter().position(|p| !p.is_finite()) {
            return Err(Error::InvalidSetting(format!(
                "the model gives a probability of {} to row {} of {file}: its weights or \
                 standardiser overflow; it cannot score",
                probabilities[j], rows[j]
            )));
        }
        sink(&rows, &probabilities[..k], &labels)?;
        total += k as u64;
    }
}
