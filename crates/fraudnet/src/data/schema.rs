//! The two payment-file layouts the crate reads — PaySim mobile money and card transactions —
//! their column names, and the names of the features engineered from them. Knows nothing of
//! how a file is opened or how a row is parsed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The PaySim transaction types, in the order of their one-hot features.
pub const PAYSIM_TYPES: [&str; 5] = ["CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER"];

/// The index in [`PAYSIM_TYPES`] of a `type` field's text, its ASCII case ignored; `None` if it
/// names none of them.
pub(crate) fn paysim_type(text: &[u8]) -> Option<usize> {
    PAYSIM_TYPES
        .iter()
        .position(|t| t.as_bytes().eq_ignore_ascii_case(text))
}

/// The full PaySim header, in the order the synthetic generator writes it.
pub const PAYSIM_HEADER: [&str; 11] = [
    "step",
    "type",
    "amount",
    "nameOrig",
    "oldbalanceOrg",
    "newbalanceOrig",
    "nameDest",
    "oldbalanceDest",
    "newbalanceDest",
    "isFraud",
    "isFlaggedFraud",
];

/// PaySim columns the features are computed from (`nameOrig`, `nameDest` and `isFlaggedFraud`
/// are not needed; the last would leak the label).
pub(crate) const PAYSIM_REQUIRED: [&str; 7] = [
    "step",
    "type",
    "amount",
    "oldbalanceOrg",
    "newbalanceOrig",
    "oldbalanceDest",
    "newbalanceDest",
];

/// Card columns the features are computed from: `Time`, `V1`..`V28`, `Amount`.
pub(crate) const CARD_REQUIRED: [&str; 30] = [
    "Time", "V1", "V2", "V3", "V4", "V5", "V6", "V7", "V8", "V9", "V10", "V11", "V12", "V13",
    "V14", "V15", "V16", "V17", "V18", "V19", "V20", "V21", "V22", "V23", "V24", "V25", "V26",
    "V27", "V28", "Amount",
];

const PAYSIM_FEATURES: [&str; 13] = [
    "type_CASH_IN",
    "type_CASH_OUT",
    "type_DEBIT",
    "type_PAYMENT",
    "type_TRANSFER",
    "log_amount",
    "log_orig_delta",
    "log_dest_delta",
    "log_orig_error",
    "log_dest_error",
    "orig_drained",
    "hour_sin",
    "hour_cos",
];

const CARD_FEATURES: [&str; 31] = [
    "V1",
    "V2",
    "V3",
    "V4",
    "V5",
    "V6",
    "V7",
    "V8",
    "V9",
    "V10",
    "V11",
    "V12",
    "V13",
    "V14",
    "V15",
    "V16",
    "V17",
    "V18",
    "V19",
    "V20",
    "V21",
    "V22",
    "V23",
    "V24",
    "V25",
    "V26",
    "V27",
    "V28",
    "log_amount",
    "hour_sin",
    "hour_cos",
];

/// The layout of a payment file.
///
/// Columns are found by header name: their order does not matter and extra columns are ignored.
/// The label column is optional, so unlabelled files can be scored.
///
/// ```
/// use fraudnet::data::Schema;
/// let schema: Schema = "paysim".parse()?;
/// assert_eq!(schema, Schema::PaySim);
/// assert_eq!(schema.to_string(), "paysim");
/// assert_eq!(schema.label_column(), "isFraud");
/// assert_eq!(Schema::Card.feature_names().len(), 31);
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schema {
    /// PaySim mobile money: `step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,`
    /// `oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud`; label `isFraud`.
    ///
    /// Features, in order (`slog(x) = sign(x)·ln(1+|x|)`):
    /// 1–5. one-hot of `type` (CASH_IN, CASH_OUT, DEBIT, PAYMENT, TRANSFER);
    /// 6. `log_amount` = slog(amount);
    /// 7. `log_orig_delta` = slog(oldbalanceOrg − newbalanceOrig);
    /// 8. `log_dest_delta` = slog(newbalanceDest − oldbalanceDest);
    /// 9. `log_orig_error` = slog(newbalanceOrig + amount − oldbalanceOrg);
    /// 10. `log_dest_error` = slog(oldbalanceDest + amount − newbalanceDest);
    /// 11. `orig_drained` = 1 when oldbalanceOrg > 0 and newbalanceOrig = 0, else 0;
    /// 12–13. `hour_sin`, `hour_cos` = sin, cos of 2π·(step mod 24)/24 (a step is an hour).
    ///
    /// `isFlaggedFraud` is never a feature: it is derived from the label's process and leaks it.
    PaySim,
    /// Card transactions (the Kaggle credit-card data): `Time,V1,...,V28,Amount,Class`; label
    /// `Class`.
    ///
    /// Features, in order: `V1`..`V28` as they are; `log_amount` = slog(Amount); `hour_sin`,
    /// `hour_cos` = sin, cos of 2π·(Time mod 86400)/86400 (Time is in seconds).
    Card,
}

impl Schema {
    /// Both schemas.
    pub const ALL: [Schema; 2] = [Schema::PaySim, Schema::Card];

    /// The names of the engineered features, in the order of the feature vector.
    pub fn feature_names(self) -> &'static [&'static str] {
        match self {
            Schema::PaySim => &PAYSIM_FEATURES,
            Schema::Card => &CARD_FEATURES,
        }
    }

    /// The number of engineered features.
    pub fn n_features(self) -> usize {
        self.feature_names().len()
    }

    /// The columns that must be present in the header.
    pub fn required_columns(self) -> &'static [&'static str] {
        match self {
            Schema::PaySim => &PAYSIM_REQUIRED,
            Schema::Card => &CARD_REQUIRED,
        }
    }

    /// The optional label column (`isFraud` or `Class`), holding 0 or 1.
    pub fn label_column(self) -> &'static str {
        match self {
            Schema::PaySim => "isFraud",
            Schema::Card => "Class",
        }
    }

    /// Guesses the schema from a header: the one whose required columns are all present.
    ///
    /// ```
    /// use fraudnet::data::Schema;
    /// let header = ["step", "type", "amount", "oldbalanceOrg", "newbalanceOrig",
    ///               "oldbalanceDest", "newbalanceDest"];
    /// assert_eq!(Schema::detect(&header), Some(Schema::PaySim));
    /// assert_eq!(Schema::detect(&["a", "b"]), None);
    /// ```
    pub fn detect<S: AsRef<str>>(header: &[S]) -> Option<Schema> {
        Schema::ALL.into_iter().find(|schema| {
            schema
                .required_columns()
                .iter()
                .all(|col| header.iter().any(|h| h.as_ref().trim() == *col))
        })
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Schema::PaySim => "paysim",
            Schema::Card => "card",
        })
    }
}

impl FromStr for Schema {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "paysim" => Ok(Schema::PaySim),
            "card" => Ok(Schema::Card),
            _ => Err(Error::InvalidSetting(format!(
                "unknown schema {s:?}: expected \"paysim\" or \"card\""
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_round_trip() {
        for schema in Schema::ALL {
            assert_eq!(schema.to_string().parse::<Schema>().unwrap(), schema);
        }
        assert_eq!("Card".parse::<Schema>().unwrap(), Schema::Card);
        let err = "csv".parse::<Schema>().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid setting: unknown schema \"csv\": expected \"paysim\" or \"card\""
        );
    }

    #[test]
    fn serde_is_lowercase() {
        assert_eq!(
            serde_json::to_string(&Schema::PaySim).unwrap(),
            "\"paysim\""
        );
        assert_eq!(
            serde_json::from_str::<Schema>("\"card\"").unwrap(),
            Schema::Card
        );
    }

    #[test]
    fn detect_both() {
        assert_eq!(Schema::detect(&PAYSIM_HEADER), Some(Schema::PaySim));
        let mut card: Vec<&str> = CARD_REQUIRED.to_vec();
        card.push("Class");
        card.reverse();
        assert_eq!(Schema::detect(&card), Some(Schema::Card));
        card.retain(|c| *c != "V17");
        assert_eq!(Schema::detect(&card), None);
    }

    #[test]
    fn feature_names_are_unique() {
        for schema in Schema::ALL {
            let names = schema.feature_names();
            let mut sorted = names.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len());
        }
        assert_eq!(Schema::PaySim.n_features(), 13);
    }
}
