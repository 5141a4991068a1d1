//! A whole labelled file in memory, one example per column as the MLP takes it, and the
//! standardiser fitted on training examples. Knows nothing of how the model uses them.

use std::path::Path;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use serde::{Deserialize, Serialize};

use super::history::FeatureSet;
use super::reader::RecordReader;
use super::schema::Schema;
use super::source::RowSource;
use crate::{Error, Result};

/// A labelled data set: `features` has shape `(n_features, m)`, one example per column.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The schema the file was read with; it names the feature rows.
    pub schema: Schema,
    /// The features the rows were turned into (per-row, or with account history).
    pub feature_set: FeatureSet,
    /// Engineered features, shape `(n_features, m)`.
    pub features: Array2<f64>,
    /// Labels, 0 or 1, one per example.
    pub labels: Vec<f64>,
    /// The 1-based data row number of each example in its file.
    pub rows: Vec<u64>,
}

/// The most rows a data set held in memory may have (training, evaluating): about 1.1 GB of
/// PaySim features, 2.5 GB of card features.
pub const MAX_ROWS: usize = 10_000_000;

impl Dataset {
    /// Reads a whole labelled file.
    ///
    /// # Errors
    /// Those of [`RecordReader`], and [`Error::Data`] when the file has no label column (line
    /// 1) or a row has an empty label (its line and column).
    pub fn load(path: impl AsRef<Path>, schema: Schema) -> Result<Self> {
        Self::from_records(RecordReader::open(path, schema)?)
    }

    /// Reads every remaining row of `reader` (CSV or Parquet).
    ///
    /// ```
    /// use fraudnet::data::{Dataset, RecordReader, Schema};
    /// let text = "type,step,amount,oldbalanceOrg,newbalanceOrig,oldbalanceDest,newbalanceDest,isFraud\n\
    ///             CASH_IN,0,5,0,5,0,0,0\nTRANSFER,1,5,5,0,0,0,1\n";
    /// let reader = RecordReader::from_reader(text.as_bytes(), "mem.csv", Schema::PaySim)?;
    /// let data = Dataset::from_records(reader)?;
    /// assert_eq!(data.features.dim(), (13, 2));
    /// assert_eq!(data.labels, [0.0, 1.0]);
    /// assert_eq!(data.features[[4, 1]], 1.0); // type_TRANSFER of the second example
    /// # Ok::<(), fraudnet::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Dataset::load`].
    pub fn from_records(mut reader: impl RowSource) -> Result<Self> {
        let schema = reader.schema();
        let label_column = schema.label_column();
        if !reader.has_labels() {
            return Err(reader.columns_error(format!(
                "no label column `{label_column}`: a data set needs labels"
            )));
        }
        let feature_set = reader.feature_set();
        let n = reader.n_features();
        let mut values = Vec::new();
        let mut labels = Vec::new();
        let mut rows = Vec::new();
        let mut buffer = vec![0.0; n];
        while let Some(info) = reader.read_into(&mut buffer)? {
            if labels.len() >= MAX_ROWS {
                return Err(reader.row_error(
                    &info,
                    format!("more than {MAX_ROWS} rows (the limit of a data set held in memory)"),
                ));
            }
            let Some(label) = info.label else {
                return Err(reader.label_error(
                    &info,
                    format!("`{label_column}` is empty: every row needs a label"),
                ));
            };
            values.extend_from_slice(&buffer);
            labels.push(label);
            rows.push(info.row);
        }
        let m = labels.len();
        let by_row = Array2::from_shape_vec((m, n), values).map_err(|e| Error::ShapeMismatch {
            what: "features",
            found: vec![m, n],
            expected: e.to_string(),
        })?;
        Ok(Dataset {
            schema,
            feature_set,
            features: by_row.t().as_standard_layout().into_owned(),
            labels,
            rows,
        })
    }

    /// The number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The number of features per example.
    pub fn n_features(&self) -> usize {
        self.features.nrows()
    }

    /// The number of positive (fraud) examples.
    pub fn positives(&self) -> usize {
        self.labels.iter().filter(|&&y| y == 1.0).count()
    }

    /// The fraction of positive examples (0 for an empty set).
    pub fn fraud_rate(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.positives() as f64 / self.len() as f64
        }
    }

    /// The examples at `indices` (e.g. one part of a [`Split`](super::Split)), in that order.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] when an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Result<Dataset> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::InvalidSetting(format!(
                "example index {bad} out of range: the data set has {} examples",
                self.len()
            )));
        }
        Ok(Dataset {
            schema: self.schema,
            feature_set: self.feature_set,
            features: self.features.select(Axis(1), indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            rows: indices.iter().map(|&i| self.rows[i]).collect(),
        })
    }
}

/// Per-feature mean and standard deviation, fitted on training examples only and applied to
/// every part, so validation and test data are scaled as the model saw in training.
///
/// ```
/// use fraudnet::data::Standardizer;
/// use ndarray::array;
/// // two features, three examples (one per column)
/// let mut x = array![[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]];
/// let scaler = Standardizer::fit(x.view())?;
/// assert_eq!(scaler.mean(), [2.0, 5.0]);
/// assert_eq!(scaler.std()[1], 1.0); // constant feature: no division by zero
/// scaler.transform_in_place(x.view_mut())?;
/// assert_eq!(x.row(1).to_vec(), [0.0, 0.0, 0.0]);
/// assert!((x[[0, 2]] - 1.5f64.sqrt()).abs() < 1e-12);
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StandardizerFields")]
pub struct Standardizer {
    mean: Vec<f64>,
    std: Vec<f64>,
}

#[derive(Deserialize)]
struct StandardizerFields {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl TryFrom<StandardizerFields> for Standardizer {
    type Error = Error;

    fn try_from(fields: StandardizerFields) -> Result<Self> {
        Standardizer::new(fields.mean, fields.std)
    }
}

/// Standard deviations at or below this count as a constant feature and become 1.
const MIN_STD: f64 = 1e-12;

impl Standardizer {
    /// A standardiser from given means and standard deviations.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] when the lengths differ, a mean is not finite or a standard
    /// deviation is not finite and positive.
    pub fn new(mean: Vec<f64>, std: Vec<f64>) -> Result<Self> {
        if mean.len() != std.len() {
            return Err(Error::InvalidSetting(format!(
                "standardiser has {} means but {} standard deviations",
                mean.len(),
                std.len()
            )));
        }
        if let Some(i) = mean.iter().position(|m| !m.is_finite()) {
            return Err(Error::InvalidSetting(format!(
                "standardiser mean {i} is {}, must be finite",
                mean[i]
            )));
        }
        // Below MIN_STD, `fit` would have used 1: a smaller one only overflows the features.
        if let Some(i) = std.iter().position(|s| !(s.is_finite() && *s >= MIN_STD)) {
            return Err(Error::InvalidSetting(format!(
                "standardiser standard deviation {i} is {}, must be finite and ≥ {MIN_STD:e}",
                std[i]
            )));
        }
        Ok(Standardizer { mean, std })
    }

    /// Fits on `features` of shape `(n_features, m)`, one example per column (population
    /// standard deviation; a constant feature gets 1).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when there are no examples or no features;
    /// [`Error::InvalidSetting`] when a value is not finite.
    pub fn fit(features: ArrayView2<'_, f64>) -> Result<Self> {
        let (n, m) = features.dim();
        if n == 0 || m == 0 {
            return Err(Error::ShapeMismatch {
                what: "training features",
                found: vec![n, m],
                expected: "(n_features, m) with at least one feature and one example".into(),
            });
        }
        let mut mean = Vec::with_capacity(n);
        let mut std = Vec::with_capacity(n);
        for (i, row) in features.outer_iter().enumerate() {
            if let Some(j) = row.iter().position(|x| !x.is_finite()) {
                return Err(Error::InvalidSetting(format!(
                    "feature {i}, example {j}: {} is not finite",
                    row[j]
                )));
            }
            let mut mu = row.sum() / m as f64;
            if !mu.is_finite() {
                // The sum overflowed (values near f64::MAX): average the scaled-down values.
                mu = row.iter().map(|x| x / m as f64).sum();
            }
            let var = row.iter().map(|x| (x - mu) * (x - mu)).sum::<f64>() / m as f64;
            let sd = if var.is_finite() {
                var.sqrt()
            } else {
                // The squares overflowed (values beyond ~1e154): scale by the largest deviation.
                let scale = row.iter().fold(0.0f64, |a, x| a.max((x - mu).abs()));
                let sum: f64 = row.iter().map(|x| ((x - mu) / scale).powi(2)).sum();
                scale * (sum / m as f64).sqrt()
            };
            if !(mu.is_finite() && sd.is_finite()) {
                return Err(Error::InvalidSetting(format!(
                    "feature {i}: its values span more than a float can hold (mean {mu:e}, \
                     standard deviation {sd:e})"
                )));
            }
            mean.push(mu);
            std.push(if sd > MIN_STD { sd } else { 1.0 });
        }
        Ok(Standardizer { mean, std })
    }

    /// The fitted means, one per feature.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The fitted standard deviations, one per feature (1 for constant features).
    pub fn std(&self) -> &[f64] {
        &self.std
    }

    /// The number of features it was fitted on.
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    /// Scales `features` of shape `(n_features, m)` in place: `(x − mean) / std`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the number of feature rows differs from the fit.
    pub fn transform_in_place(&self, mut features: ArrayViewMut2<'_, f64>) -> Result<()> {
        if features.nrows() != self.n_features() {
            return Err(Error::ShapeMismatch {
                what: "features",
                found: features.shape().to_vec(),
                expected: format!("({}, m)", self.n_features()),
            });
        }
        for ((mut row, mu), sd) in features.outer_iter_mut().zip(&self.mean).zip(&self.std) {
            row.mapv_inplace(|x| (x - mu) / sd);
        }
        Ok(())
    }

    /// Scales one example's feature vector in place (for streaming scoring).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when its length differs from the fit.
    pub fn transform_row(&self, features: &mut [f64]) -> Result<()> {
        if features.len() != self.n_features() {
            return Err(Error::ShapeMismatch {
                what: "feature vector",
                found: vec![features.len()],
                expected: format!("{} features", self.n_features()),
            });
        }
        for ((x, mu), sd) in features.iter_mut().zip(&self.mean).zip(&self.std) {
            *x = (*x - mu) / sd;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn values_whose_sum_or_squares_overflow_still_standardise() {
        let s = Standardizer::fit(array![[1e300, -1e300], [f64::MAX, f64::MAX]].view()).unwrap();
        assert_eq!(s.mean(), &[0.0, f64::MAX][..]);
        assert_eq!(s.std(), &[1e300, 1.0][..]);
        let error = Standardizer::fit(array![[f64::MAX, f64::MAX, -f64::MAX]].view()).unwrap_err();
        assert!(
            error.to_string().contains("feature 0: its values span"),
            "{error}"
        );
    }

    #[test]
    fn standardizer_rejects_mismatches() {
        let s = Standardizer::fit(array![[1.0, 3.0]].view()).unwrap();
        assert_eq!((s.mean(), s.std()), (&[2.0][..], &[1.0][..]));
        let mut x = array![[1.0], [2.0]];
        assert!(s.transform_in_place(x.view_mut()).is_err());
        assert!(s.transform_row(&mut [1.0, 2.0]).is_err());
        let mut v = [4.0];
        s.transform_row(&mut v).unwrap();
        assert_eq!(v, [2.0]);
        assert!(Standardizer::new(vec![0.0], vec![0.0]).is_err());
        assert!(Standardizer::new(vec![0.0, 1.0], vec![1.0]).is_err());
        assert!(Standardizer::fit(Array2::zeros((2, 0)).view()).is_err());
        assert!(Standardizer::fit(array![[1.0, f64::NAN]].view()).is_err());
    }

    #[test]
    fn standardizer_serde_validates() {
        let s = Standardizer::new(vec![1.0, 2.0], vec![3.0, 4.0]).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"mean":[1.0,2.0],"std":[3.0,4.0]}"#);
        assert_eq!(serde_json::from_str::<Standardizer>(&json).unwrap(), s);
        assert!(serde_json::from_str::<Standardizer>(r#"{"mean":[1.0],"std":[0.0]}"#).is_err());
    }
}
