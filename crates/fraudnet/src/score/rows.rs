//! The rows a scoring or an evaluation reads: a CSV file cut into chunks, a Parquet file cut at
//! its row groups (both scored in parallel), or any other [`RowSource`] read in order (a
//! Parquet file with history features); chosen for a model's features. Knows nothing of how
//! the rows are scored.

use std::io;
use std::path::Path;

use crate::data::{
    CsvChunks, FeatureSet, FileFormat, History, ParquetGroups, RowSource, open_rows_with,
};
use crate::error::{Error, Result};
use crate::model_file::FraudModel;

/// The rows to score or evaluate: a CSV file in chunks or a Parquet file in row groups (scored
/// in parallel), or any other source (row by row).
pub enum Rows<'a, R: io::Read> {
    /// A CSV file cut into chunks.
    Chunks(CsvChunks<R>),
    /// A Parquet file cut at its row groups (per-row features).
    Groups(ParquetGroups),
    /// Rows read one at a time (a Parquet file with history features; any other source).
    Source(Box<dyn RowSource + 'a>),
}

impl Rows<'static, std::fs::File> {
    /// The rows of `input` for `model`, in the format of its extension, with history features
    /// from a cold start for a history model (see [`Rows::for_model`]); a Parquet file in row
    /// groups for a per-row model, read in order for a history model.
    ///
    /// # Errors
    /// Those of [`CsvChunks::new`], [`open_rows`](crate::data::open_rows) or [`Rows::for_model`].
    pub fn open(input: &Path, model: &FraudModel) -> Result<Self> {
        let name = input.display().to_string();
        let file = std::fs::File::open(input).map_err(|source| Error::Io {
            path: name.clone(),
            source,
        })?;
        match FileFormat::from_path(input) {
            FileFormat::Csv => Rows::Chunks(CsvChunks::new(file, name, model.schema)?),
            FileFormat::Parquet => Rows::parquet(file, &name, model, None)?,
        }
        .for_model(model, None)
    }
}

impl<R: io::Read> Rows<'static, R> {
    /// The rows of the Parquet file `file` (named `name` in errors) for `model`: cut at its row
    /// groups for a per-row model (scored in parallel); read in order, with history features
    /// computed from `state` (`None`: a cold start), for a history model.
    ///
    /// # Errors
    /// Those of [`ParquetGroups::new`] and [`open_rows_with`].
    pub fn parquet(
        file: std::fs::File,
        name: &str,
        model: &FraudModel,
        state: Option<History>,
    ) -> Result<Self> {
        if !model.feature_set.has_history() {
            return Ok(Rows::Groups(ParquetGroups::new(file, name, model.schema)?));
        }
        Ok(Rows::Source(open_rows_with(
            file,
            name,
            model.schema,
            FileFormat::Parquet,
            model.feature_set,
            state,
        )?))
    }
}

impl<R: io::Read> Rows<'_, R> {
    /// The file's name as used in error messages.
    pub fn file(&self) -> &str {
        match self {
            Rows::Chunks(chunks) => chunks.file(),
            Rows::Groups(groups) => groups.file(),
            Rows::Source(source) => source.file(),
        }
    }

    /// The features the rows are turned into.
    pub fn feature_set(&self) -> FeatureSet {
        match self {
            Rows::Chunks(chunks) => chunks.feature_set(),
            Rows::Groups(_) => FeatureSet::Row,
            Rows::Source(source) => source.feature_set(),
        }
    }

    /// The rows as `model` reads them: for a history model, CSV chunks with history features
    /// computed in file order from `state` (`None`: a cold start, every account new); other
    /// models, and sources that already compute history features (a
    /// [`ParquetReader::with_history`](crate::data::ParquetReader::with_history), given its
    /// state when it was opened), take the rows as they are.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for a history model and a source read without history
    /// features (open it with them); those of [`CsvChunks::with_history`].
    pub fn for_model(self, model: &FraudModel, state: Option<History>) -> Result<Self> {
        if !model.feature_set.has_history() || self.feature_set().has_history() {
            return Ok(self);
        }
        match self {
            Rows::Chunks(chunks) => Ok(Rows::Chunks(
                chunks.with_history(state.unwrap_or_default())?,
            )),
            rows => Err(Error::InvalidSetting(format!(
                "{}: the model reads account-history features, and these rows were opened \
                 without them (open them with the model's feature set)",
                rows.file()
            ))),
        }
    }

    /// The account history after the rows scored, for rows with history features.
    pub fn into_history(self) -> Option<History> {
        match self {
            Rows::Chunks(chunks) => chunks.into_history(),
            Rows::Groups(_) => None,
            Rows::Source(source) => source.into_history(),
        }
    }
}
