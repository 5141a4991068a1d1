//! Payment data: the PaySim and card schemas, streaming readers of CSV (with `file:line:column`
//! errors; whole, or cut into chunks at record boundaries to parse in parallel) and Parquet (row
//! group and column named) that turn each row into engineered features behind one [`RowSource`]
//! trait, Parquet writers of payments and scores, in-memory
//! data sets with a standardiser, a stratified split, and a synthetic PaySim-like generator.
//! Knows nothing of the model.
//!
//! ```
//! use fraudnet::data::{Dataset, RecordReader, Schema, Standardizer, generate, stratified_split};
//! use rand::SeedableRng;
//!
//! let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
//! let mut csv = Vec::new();
//! let summary = generate(2_000, 0.05, &mut rng, &mut csv)?;
//! assert_eq!(summary.rows, 2_000);
//!
//! let reader = RecordReader::from_reader(csv.as_slice(), "synthetic.csv", Schema::PaySim)?;
//! let data = Dataset::from_records(reader)?;
//! let split = stratified_split(&data.labels, 0.7, 0.15, 42)?;
//! let mut train = data.select(&split.train)?;
//! let scaler = Standardizer::fit(train.features.view())?;
//! scaler.transform_in_place(train.features.view_mut())?;
//! assert_eq!(train.features.nrows(), Schema::PaySim.n_features());
//! # Ok::<(), fraudnet::Error>(())
//! ```

mod bounded;
mod chunk_reader;
mod chunks;
pub(crate) mod columns;
mod dataset;
mod features;
mod fields;
mod generate;
mod history;
mod open;
mod parquet;
mod plain_line;
mod reader;
mod schema;
mod shown;
mod source;
mod split;

pub use chunk_reader::ChunkReader;
pub use chunks::{CHUNK_BYTES, CsvChunk, CsvChunks};
pub use dataset::{Dataset, MAX_ROWS, Standardizer};
pub use features::signed_log;
pub use generate::{GenerateSummary, LineCounting, generate, generate_to_path};
pub use history::{
    FeatureSet, HISTORY_FEATURES, HISTORY_VERSION, History, SAME_TRANSFER_STEPS, SWEEP_STEPS,
    WINDOW_STEPS,
};
pub use parquet::{
    ParquetGroup, ParquetGroups, ParquetReader, ScoresWriter, generate_parquet,
    generate_parquet_counting,
};
pub use reader::{
    MAX_FIELD_BYTES, MAX_HEADER_BYTES, MAX_LINE_BYTES, MAX_RECORD_BYTES, Record, RecordReader,
    RowInfo,
};
pub use schema::{PAYSIM_HEADER, PAYSIM_TYPES, Schema};
pub use shown::{SHOWN_CHARS, escape_controls, shown, shown_bytes, shown_path};
pub use source::{FileFormat, RowSource, open_rows, open_rows_with};
pub use split::{Split, stratified_split};
