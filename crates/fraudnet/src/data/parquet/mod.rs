//! Apache Parquet in and out: [`ParquetReader`] reads payment files of either schema into the
//! same feature vectors as the CSV reader, decoding only the columns the model needs, a batch
//! at a time, and [`ParquetGroups`] a row group at a time on any thread; [`generate_parquet`]
//! writes the synthetic PaySim rows, and [`ScoresWriter`] `row, probability, flag` scores.
//! Errors name the file, and where it matters the row group, the column and the row. Knows
//! nothing of models: scoring hands the writer its numbers.

mod groups;
mod read;
mod write;

pub use groups::{ParquetGroup, ParquetGroups};
pub use read::ParquetReader;
pub use write::{ScoresWriter, generate_parquet, generate_parquet_counting};

use crate::Error;

/// `row group g, column `name`[, row r]: `, the place of a fault in a Parquet file.
fn place(group: usize, column: &str, row: Option<u64>) -> String {
    match row {
        Some(row) => format!("row group {group}, column `{column}`, row {row}: "),
        None => format!("row group {group}, column `{column}`: "),
    }
}

/// An error about the Parquet file `file` as a whole.
fn whole_file(file: &str, message: String) -> Error {
    Error::Parquet {
        file: file.to_string(),
        place: String::new(),
        message,
    }
}

#[cfg(test)]
mod tests;
