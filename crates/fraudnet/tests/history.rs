//! Account-history features: computed only from earlier rows (no leakage from the future or the
//! labels), the same whole or in chunks on any number of threads, carried across files by a
//! saved state, with bounded memory; and a history model trains (gradient checks passing),
//! records its feature set, and refuses what would compute its features differently.

use fraudnet::data::{
    CsvChunks, Dataset, FeatureSet, HISTORY_FEATURES, History, RecordReader, SWEEP_STEPS, Schema,
    WINDOW_STEPS, generate,
};
use fraudnet::fit::{FitConfig, fit};
use fraudnet::model_file::FraudModel;
use fraudnet::score::{Rows, score_records, score_to_csv};
use fraudnet::train::TrainConfig;
use rand::SeedableRng;
use rand::seq::SliceRandom;

const N: usize = 19;

fn generated(rows: u64, seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
    let mut text = Vec::new();
    generate(rows, 0.05, &mut rng, &mut text).unwrap();
    text
}

/// The header line and the data lines of a CSV text.
fn lines(text: &[u8]) -> (String, Vec<String>) {
    let text = std::str::from_utf8(text).unwrap();
    let mut lines = text.lines().map(str::to_string);
    let header = lines.next().unwrap();
    (header, lines.collect())
}

fn joined(header: &str, rows: &[String]) -> Vec<u8> {
    let mut out = format!("{header}\n");
    for row in rows {
        out.push_str(row);
        out.push('\n');
    }
    out.into_bytes()
}

/// The feature vectors of every row, read whole with history from a cold start.
fn features(text: &[u8]) -> Vec<Vec<f64>> {
    RecordReader::from_reader(text, "h.csv", Schema::PaySim)
        .unwrap()
        .with_history(History::new())
        .unwrap()
        .map(|r| r.unwrap().features)
        .collect()
}

fn history_model(text: &[u8], check_every: usize) -> FraudModel {
    let reader = RecordReader::from_reader(text, "h.csv", Schema::PaySim)
        .unwrap()
        .with_history(History::new())
        .unwrap();
    let data = Dataset::from_records(reader).unwrap();
    assert_eq!(data.feature_set, FeatureSet::History);
    assert_eq!(data.n_features(), N);
    let config = FitConfig {
        train: TrainConfig {
            hidden: vec![8],
            epochs: 2,
            check_every,
            ..TrainConfig::default()
        },
        ..FitConfig::default()
    };
    let fitted = fit(&data, &config, "test", |_| {}).unwrap();
    assert!(
        fitted.trained.checks.iter().all(|c| c.passed),
        "{:?}",
        fitted.trained.checks
    );
    if check_every > 0 {
        assert!(!fitted.trained.checks.is_empty());
    }
    fitted.model
}

#[test]
fn the_past_does_not_see_the_future_nor_the_labels() {
    let text = generated(4_000, 5);
    let (header, rows) = lines(&text);
    let before = features(&text);
    assert_eq!(before.len(), rows.len());
    assert_eq!(before[0].len(), N);
    let k = 1_700;
    let mut shuffled = rows.clone();
    shuffled[k..].shuffle(&mut rand::rngs::ChaCha8Rng::seed_from_u64(9));
    shuffled[k + 10] = shuffled[k + 10].replace("PAYMENT", "TRANSFER");
    let after = features(&joined(&header, &shuffled));
    assert_eq!(before[..k], after[..k]);
    assert_ne!(before[k..], after[k..], "the shuffle changed later rows");
    // Flipping every label (isFraud, isFlaggedFraud) changes no feature.
    let flipped: Vec<String> = rows
        .iter()
        .map(|row| {
            let mut fields: Vec<&str> = row.split(',').collect();
            let n = fields.len();
            for f in &mut fields[n - 2..] {
                *f = if *f == "1" { "0" } else { "1" };
            }
            fields.join(",")
        })
        .collect();
    assert_eq!(features(&joined(&header, &flipped)), before);
}

#[test]
fn the_takeover_pattern_shows_in_history() {
    let text = generated(20_000, 6);
    let reader = RecordReader::from_reader(&text[..], "h.csv", Schema::PaySim)
        .unwrap()
        .with_history(History::new())
        .unwrap();
    let data = Dataset::from_records(reader).unwrap();
    let same = HISTORY_FEATURES
        .iter()
        .position(|n| *n == "orig_got_same_transfer")
        .unwrap()
        + Schema::PaySim.n_features();
    let rate = |label: f64| {
        let picked: Vec<f64> = (0..data.len())
            .filter(|&i| data.labels[i] == label)
            .map(|i| data.features[[same, i]])
            .collect();
        picked.iter().sum::<f64>() / picked.len() as f64
    };
    // Every fraud's cash-out follows its transfer of the same amount to the mule.
    assert!(rate(1.0) > 0.45, "fraud rate of the feature {}", rate(1.0));
    assert!(rate(0.0) < 0.01, "legit rate of the feature {}", rate(0.0));
}

#[test]
fn chunks_on_any_thread_count_give_the_bytes_of_one_reading() {
    let text = generated(12_000, 7);
    let model = history_model(&text, 1);
    let whole = {
        let reader = RecordReader::from_reader(&text[..], "h.csv", Schema::PaySim)
            .unwrap()
            .with_history(History::new())
            .unwrap();
        let mut out = Vec::new();
        score_records(&model, reader, &mut out, "o.csv").unwrap();
        out
    };
    let in_chunks = |bytes: usize| {
        let chunks = CsvChunks::new(&text[..], "h.csv", Schema::PaySim)
            .unwrap()
            .with_chunk_bytes(bytes);
        let mut rows = Rows::Chunks(chunks).for_model(&model, None).unwrap();
        let mut out = Vec::new();
        score_to_csv(&model, &mut rows, &mut out, "o.csv").unwrap();
        (out, rows.into_history().unwrap().to_json().unwrap())
    };
    let (first, state) = in_chunks(5_000);
    assert_eq!(first, whole);
    for threads in [1, 2, 4] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for bytes in [777, 100_000] {
            let (out, s) = pool.install(|| in_chunks(bytes));
            assert_eq!(out, whole, "{threads} threads, chunks of {bytes}");
            assert_eq!(s, state);
        }
    }
}

#[test]
fn two_halves_with_saved_state_score_as_the_whole() {
    let text = generated(8_000, 8);
    let model = history_model(&text, 0);
    let (header, rows) = lines(&text);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let score = |text: Vec<u8>, state_in: Option<History>| {
        let chunks = CsvChunks::new(&text[..], "h.csv", Schema::PaySim)
            .unwrap()
            .with_chunk_bytes(10_000);
        let mut rows = Rows::Chunks(chunks).for_model(&model, state_in).unwrap();
        let mut out = Vec::new();
        score_to_csv(&model, &mut rows, &mut out, "o.csv").unwrap();
        let probabilities: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split_once(',').unwrap().1.to_string())
            .collect();
        (probabilities, rows.into_history().unwrap())
    };
    let (whole, _) = score(text.clone(), None);
    let half = rows.len() / 2;
    assert!(
        History::load(&state).unwrap().is_none(),
        "no file: a cold start"
    );
    let (mut scores, after_first) = score(joined(&header, &rows[..half]), None);
    after_first.save(&state).unwrap();
    let loaded = History::load(&state).unwrap().unwrap();
    assert_eq!(loaded, after_first);
    let (second, _) = score(joined(&header, &rows[half..]), Some(loaded));
    scores.extend(second);
    assert_eq!(scores, whole);
    // Without the state, the second half starts cold: other scores.
    let (cold, _) = score(joined(&header, &rows[half..]), None);
    assert_ne!(cold, whole[half..]);
}

#[test]
fn memory_grows_with_active_accounts_not_rows() {
    // 200 new accounts paying each step for 3 000 steps: 600 000 rows, 1.2 million accounts.
    let per_step = 200u64;
    let mut text = String::from(
        "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest\n",
    );
    let mut history = History::new();
    let mut most = 0;
    for step in 0..3_000u64 {
        text.clear();
        text.push_str("step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest\n");
        for i in 0..per_step {
            text.push_str(&format!(
                "{step},TRANSFER,5,C{step}_{i},5,0,D{step}_{i},0,5\n"
            ));
        }
        let reader = RecordReader::from_reader(text.as_bytes(), "m.csv", Schema::PaySim)
            .unwrap()
            .with_history(history)
            .unwrap();
        let mut reader = reader;
        let mut features = vec![0.0; N];
        while reader.read_into(&mut features).unwrap().is_some() {}
        history = reader.into_history().unwrap();
        most = most.max(history.accounts());
    }
    let bound = (2 * per_step * (WINDOW_STEPS + SWEEP_STEPS + 1)) as usize;
    assert!(most <= bound, "{most} accounts held, bound {bound}");
    assert!(
        most >= (2 * per_step * WINDOW_STEPS) as usize,
        "{most}: the window is kept"
    );
}

#[test]
fn the_model_file_records_the_feature_set_and_refuses_other_data() {
    let text = generated(3_000, 10);
    let model = history_model(&text, 0);
    let json = model.to_json().unwrap();
    assert!(json.contains("\"feature_set\": \"history\""), "{json}");
    assert!(json.contains("\"history_version\": 1"));
    let back = FraudModel::from_json(&json, "m.json").unwrap();
    assert_eq!(back, model);

    // Per-row rows (no history) are refused by a history model.
    let per_row = RecordReader::from_reader(&text[..], "h.csv", Schema::PaySim).unwrap();
    let err = score_records(&model, per_row, Vec::new(), "o.csv").unwrap_err();
    assert!(
        err.to_string()
            .contains("the model reads history features but the rows give row features"),
        "{err}"
    );
    // Batches without state are refused, naming why.
    let batch =
        arrow_array::RecordBatch::new_empty(std::sync::Arc::new(arrow_schema::Schema::empty()));
    let err = fraudnet::score_arrow::score_batches(&model, &batch.schema(), &[batch], "py")
        .unwrap_err()
        .to_string();
    assert!(err.contains("account-history features"), "{err}");
    // A file of another version of the definitions is refused.
    let mut envelope: serde_json::Value = serde_json::from_str(&json).unwrap();
    envelope["content"]["history_version"] = 99.into();
    let sha = sha_of(&envelope["content"]);
    envelope["sha256"] = sha.into();
    let err = FraudModel::from_json(&envelope.to_string(), "m.json").unwrap_err();
    assert!(err.to_string().contains("version 99"), "{err}");

    // A per-row model's file has no feature set: it reads as files written before history.
    let per_row = FraudModel {
        feature_set: FeatureSet::Row,
        ..fit_per_row(&text)
    };
    let json = per_row.to_json().unwrap();
    assert!(!json.contains("feature_set") && !json.contains("history_version"));
    assert_eq!(
        FraudModel::from_json(&json, "m.json").unwrap().feature_set,
        FeatureSet::Row
    );
}

#[test]
fn card_data_and_missing_accounts_are_refused_for_history() {
    let err = FeatureSet::History
        .check(Schema::Card)
        .unwrap_err()
        .to_string();
    assert!(err.contains("card schema has none"), "{err}");
    let text = "step,type,amount,oldbalanceOrg,newbalanceOrig,oldbalanceDest,newbalanceDest\n";
    let err = RecordReader::from_reader(text.as_bytes(), "n.csv", Schema::PaySim)
        .unwrap()
        .with_history(History::new())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "n.csv:1: missing column `nameOrig` or `nameDest`: history features need both"
    );
}

fn fit_per_row(text: &[u8]) -> FraudModel {
    let reader = RecordReader::from_reader(text, "h.csv", Schema::PaySim).unwrap();
    let data = Dataset::from_records(reader).unwrap();
    let config = FitConfig {
        train: TrainConfig {
            hidden: vec![4],
            epochs: 1,
            check_every: 0,
            ..TrainConfig::default()
        },
        ..FitConfig::default()
    };
    fit(&data, &config, "test", |_| {}).unwrap().model
}

/// The checksum a model file holds for `content` (hex SHA-256 of its compact JSON).
fn sha_of(content: &serde_json::Value) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(serde_json::to_string(content).unwrap().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The same rows in Parquet give the same history features and the same state as in CSV.
#[test]
fn parquet_rows_get_the_features_and_state_of_csv_rows() {
    use fraudnet::data::{ParquetReader, RowSource, generate_parquet};
    let text = generated(3_000, 8);
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(8);
    let file = tempfile::tempfile().unwrap();
    let (_, file) = generate_parquet(3_000, 0.05, &mut rng, file, "h.parquet").unwrap();
    let mut csv = RecordReader::from_reader(&text[..], "h.csv", Schema::PaySim)
        .unwrap()
        .with_history(History::new())
        .unwrap();
    let mut parquet =
        ParquetReader::with_history(file, "h.parquet", Schema::PaySim, History::new()).unwrap();
    assert_eq!(parquet.n_features(), N);
    let (mut a, mut b) = (vec![0.0; N], vec![0.0; N]);
    let mut rows = 0;
    while let Some(info) = RowSource::read_into(&mut csv, &mut a).unwrap() {
        let other = parquet.read_into(&mut b).unwrap().expect("as many rows");
        assert_eq!((info.row, &a), (other.row, &b));
        rows += 1;
    }
    assert_eq!(rows, 3_000);
    assert!(parquet.read_into(&mut b).unwrap().is_none());
    let (csv, parquet) = (csv.into_history().unwrap(), parquet.into_history().unwrap());
    assert_eq!(csv.to_json().unwrap(), parquet.to_json().unwrap());
}
