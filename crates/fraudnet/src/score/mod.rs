//! Scoring and evaluating payment files with a trained [`FraudModel`], streaming: rows are read,
//! standardised and scored a block at a time, so memory stays constant whatever the file's size.
//! A CSV file cut into chunks and a Parquet file cut at its row groups are scored on rayon's
//! pool and written back in file order (see `ordered` and [`Rows`]); any other [`RowSource`]
//! is read row by row on one thread. Either way the bytes
//! out and the first error reported are the same. Scores are written to a temporary file renamed
//! into place at the end: a failed run (a bad row, a full disk) leaves no partial output behind,
//! and an existing output is untouched.

mod format;
mod ordered;
mod rows;

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::data::{MAX_ROWS, RowSource, ScoresWriter};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::model_file::{FraudModel, write_atomically_with};
pub use format::write_score_line;
use ordered::{Part, Parts};
pub use rows::Rows;

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
    let mut rows = Rows::open(input, model)?;
    let name = output.display().to_string();
    let summary = write_atomically_with(
        output,
        |out| score_to_csv(model, &mut rows, out, &name),
        || Ok(()),
    )?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(ScoreSummary {
        seconds,
        rows_per_second: summary.rows as f64 / seconds.max(1e-9),
        ..summary
    })
}

/// Refuses rows turned into other features than `model` reads.
fn check_features<R: io::Read>(model: &FraudModel, rows: &Rows<'_, R>) -> Result<()> {
    let found = rows.feature_set();
    if found != model.feature_set {
        return Err(Error::InvalidSetting(format!(
            "{}: the model reads {} features but the rows give {found} features",
            rows.file(),
            model.feature_set
        )));
    }
    Ok(())
}

/// Scores every row of `reader` and writes `row,probability,flag` lines (with a header) to
/// `out`, named `output` in errors, on one thread. Writes as it reads: the caller stages `out` if
/// a failed run must leave nothing behind.
///
/// # Errors
/// Those of the reader; [`Error::Io`] when writing fails; [`Error::InvalidSetting`] when the
/// model gives a probability that is not finite (its weights or standardiser overflow).
pub fn score_records(
    model: &FraudModel,
    reader: impl RowSource,
    out: impl Write,
    output: &str,
) -> Result<ScoreSummary> {
    score_to_csv(
        model,
        &mut Rows::<io::Empty>::Source(Box::new(reader)),
        out,
        output,
    )
}

/// [`score_records`] of any [`Rows`]: CSV chunks are scored (and their lines written) on rayon's
/// pool, and written to `out` in file order; the bytes are those of [`score_records`]. `rows`
/// is left at its end ([`Rows::into_history`] then holds the state after the file).
///
/// # Errors
/// As [`score_records`]; of two bad rows, the first in the file is reported.
pub fn score_to_csv<R: io::Read>(
    model: &FraudModel,
    rows: &mut Rows<'_, R>,
    mut out: impl Write,
    output: &str,
) -> Result<ScoreSummary> {
    check_features(model, rows)?;
    let started = Instant::now();
    let io_error = |source| Error::Io {
        path: output.to_string(),
        source,
    };
    writeln!(out, "row,probability,flag").map_err(io_error)?;
    let (mut total, mut flagged) = (0, 0);
    let mut write = |text: &[u8], rows, chunk_flagged| {
        total += rows;
        flagged += chunk_flagged;
        out.write_all(text).map_err(io_error)
    };
    match rows {
        Rows::Chunks(chunks) => lines_in_file_order(model, chunks, &mut write)?,
        Rows::Groups(groups) => lines_in_file_order(model, groups, &mut write)?,
        Rows::Source(source) => {
            let mut line = Vec::with_capacity(64);
            total = for_each_block(model, source, false, 0, |rows, probabilities, _| {
                for (&row, &p) in rows.iter().zip(probabilities) {
                    let flag = p >= model.threshold;
                    flagged += u64::from(flag);
                    line.clear();
                    write_score_line(&mut line, row, p, flag);
                    out.write_all(&line).map_err(io_error)?;
                }
                Ok(())
            })?;
        }
    }
    out.flush().map_err(io_error)?;
    Ok(summary(total, flagged, started))
}

/// Scores the parts of `parts` on rayon's pool, each into its `row,probability,flag` lines, and
/// hands the lines, rows and rows flagged of each to `write`, in file order.
fn lines_in_file_order<P: Parts>(
    model: &FraudModel,
    parts: &mut P,
    write: &mut impl FnMut(&[u8], u64, u64) -> Result<()>,
) -> Result<()> {
    let shared = Arc::new(model.clone());
    let work = move |part: P::Part| {
        // About 30 bytes of text a row; a CSV chunk holds about 80 bytes a row.
        let mut text = Vec::new();
        let mut part_flagged = 0;
        let rows = score_part(&shared, &part, false, |rows, probabilities, _| {
            text.reserve(rows.len() * 32);
            for (&row, &p) in rows.iter().zip(probabilities) {
                let flag = p >= shared.threshold;
                part_flagged += u64::from(flag);
                write_score_line(&mut text, row, p, flag);
            }
            Ok(())
        })?;
        Ok((text, rows, part_flagged))
    };
    ordered::in_file_order(parts, work, |(text, rows, part_flagged)| {
        write(&text, rows, part_flagged)
    })
}

/// [`score_to_csv`] into a Parquet file of the same three columns (see [`ScoresWriter`]);
/// returns `out` once the file's footer is written.
///
/// # Errors
/// As [`score_records`].
pub fn score_to_parquet<R: io::Read, W: Write + Send>(
    model: &FraudModel,
    rows: &mut Rows<'_, R>,
    out: W,
    output: &str,
) -> Result<(ScoreSummary, W)> {
    let started = Instant::now();
    let mut writer = ScoresWriter::new(out, output)?;
    let mut flagged = 0;
    let total = each_scored(model, rows, false, |rows, probabilities, _| {
        for (&row, &p) in rows.iter().zip(probabilities) {
            let flag = p >= model.threshold;
            flagged += u64::from(flag);
            writer.push(row, p, flag)?;
        }
        Ok(())
    })?;
    let summary = summary(total, flagged, started);
    Ok((summary, writer.finish()?))
}

/// The row numbers, probabilities and labels of a run of rows, in file order.
type Scored = (Vec<u64>, Vec<f64>, Vec<f64>);

/// Scores every row of `rows` (CSV chunks in parallel) and hands each run of row numbers,
/// probabilities and labels to `sink`, in file order. Returns the number of rows.
fn each_scored<R: io::Read>(
    model: &FraudModel,
    rows: &mut Rows<'_, R>,
    need_labels: bool,
    sink: impl FnMut(&[u64], &[f64], &[f64]) -> Result<()>,
) -> Result<u64> {
    check_features(model, rows)?;
    match rows {
        Rows::Chunks(chunks) => scored_in_file_order(model, chunks, need_labels, sink),
        Rows::Groups(groups) => scored_in_file_order(model, groups, need_labels, sink),
        Rows::Source(source) => for_each_block(model, source, need_labels, 0, sink),
    }
}

/// [`each_scored`] of the parts of `parts`, scored on rayon's pool.
fn scored_in_file_order<P: Parts>(
    model: &FraudModel,
    parts: &mut P,
    need_labels: bool,
    mut sink: impl FnMut(&[u64], &[f64], &[f64]) -> Result<()>,
) -> Result<u64> {
    if need_labels && !parts.has_labels() {
        return Err(parts.columns_error(no_label_column(model)));
    }
    let shared = Arc::new(model.clone());
    let work = move |part: P::Part| {
        let mut scored: Scored = Default::default();
        score_part(
            &shared,
            &part,
            need_labels,
            |rows, probabilities, labels| {
                scored.0.extend_from_slice(rows);
                scored.1.extend_from_slice(probabilities);
                scored.2.extend_from_slice(labels);
                Ok(())
            },
        )?;
        Ok(scored)
    };
    let mut total = 0;
    ordered::in_file_order(parts, work, |(rows, probabilities, labels)| {
        total += rows.len() as u64;
        sink(&rows, &probabilities, &labels)
    })?;
    Ok(total)
}

/// Scores the rows of `part` in blocks placed as in a reading of the whole file, so that a bad
/// row and a probability that is not finite are reported in the same order.
fn score_part(
    model: &FraudModel,
    part: &impl Part,
    need_labels: bool,
    sink: impl FnMut(&[u64], &[f64], &[f64]) -> Result<()>,
) -> Result<u64> {
    for_each_block(
        model,
        &mut part.rows()?,
        need_labels,
        part.rows_before(),
        sink,
    )
}

/// What a scoring run of `rows` rows, `flagged` of them flagged, started at `started` did.
fn summary(rows: u64, flagged: u64, started: Instant) -> ScoreSummary {
    let seconds = started.elapsed().as_secs_f64();
    ScoreSummary {
        rows,
        flagged,
        seconds,
        rows_per_second: rows as f64 / seconds.max(1e-9),
    }
}

/// The model's metrics on a labelled file, at its own threshold. Keeps a score and a label per
/// row, not the rows: memory grows by about 50 bytes per row (the two vectors with their growth
/// slack, and the sort that the metrics need); scoring, which needs no metrics, stays constant.
pub fn evaluate_file(model: &FraudModel, input: &Path) -> Result<Metrics> {
    evaluate_rows(model, Rows::open(input, model)?)
}

/// [`evaluate_file`] on the rows of `reader`, at most [`MAX_ROWS`] of them, on one thread.
///
/// # Errors
/// As [`evaluate_file`].
pub fn evaluate_records(model: &FraudModel, reader: impl RowSource) -> Result<Metrics> {
    evaluate_rows(model, Rows::<io::Empty>::Source(Box::new(reader)))
}

/// [`evaluate_records`] of any [`Rows`] (CSV chunks scored in parallel; the same metrics).
///
/// # Errors
/// As [`evaluate_file`].
pub fn evaluate_rows<R: io::Read>(model: &FraudModel, mut rows: Rows<'_, R>) -> Result<Metrics> {
    let file = rows.file().to_string();
    let (mut scores, mut labels) = (Vec::new(), Vec::new());
    each_scored(model, &mut rows, true, |_, probabilities, block_labels| {
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

/// The error for a file without labels to evaluate.
fn no_label_column(model: &FraudModel) -> String {
    format!(
        "no '{}' column: evaluating needs labelled rows",
        model.schema.label_column()
    )
}

/// Reads `input` in blocks of [`BLOCK_ROWS`] (counted from the file's first row: `reader` starts
/// after `rows_before` rows), standardises and scores them, and hands each block's row numbers,
/// probabilities and labels (NaN where a row has none) to `sink`. Returns the number of rows.
/// With `need_labels`, a file or a row without a label is an error naming it.
pub(crate) fn for_each_block(
    model: &FraudModel,
    reader: &mut (impl RowSource + ?Sized),
    need_labels: bool,
    rows_before: u64,
    mut sink: impl FnMut(&[u64], &[f64], &[f64]) -> Result<()>,
) -> Result<u64> {
    let file = reader.file().to_string();
    if need_labels && !reader.has_labels() {
        return Err(reader.columns_error(no_label_column(model)));
    }
    let n = model.n_features();
    // Example-major blocks: row k's features at [k·n, (k+1)·n).
    let mut features = vec![0.0; n * BLOCK_ROWS];
    let mut rows = Vec::with_capacity(BLOCK_ROWS);
    let mut labels = Vec::with_capacity(BLOCK_ROWS);
    let mut probabilities = vec![0.0; BLOCK_ROWS];
    let mut total = 0;
    // The first block ends where the whole file's would.
    let mut block_rows = BLOCK_ROWS - (rows_before % BLOCK_ROWS as u64) as usize;
    loop {
        rows.clear();
        labels.clear();
        while rows.len() < block_rows {
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
        block_rows = BLOCK_ROWS;
    }
}
