//! The payment-data module: parsing both schemas to hand-computed features, the exact
//! `file:line:column` of every error kind, the generator's determinism, fraud rate and
//! difficulty, and the stratified split's properties.

use std::f64::consts::TAU;

use fraudnet::data::{
    Dataset, PAYSIM_HEADER, RecordReader, Schema, Standardizer, generate, stratified_split,
};
use ndarray::{Array1, Array2};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

const PAYSIM: &str = "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,\
                      oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud";

fn reader(text: &str, schema: Schema) -> RecordReader<&[u8]> {
    RecordReader::from_reader(text.as_bytes(), "x.csv", schema).expect("header is fine")
}

fn assert_close(found: &[f64], expected: &[f64]) {
    assert_eq!(found.len(), expected.len());
    for (i, (a, b)) in found.iter().zip(expected).enumerate() {
        assert!(
            (a - b).abs() < 1e-12,
            "feature {i}: found {a}, expected {b}"
        );
    }
}

fn hour(h: f64) -> [f64; 2] {
    [(TAU * h / 24.0).sin(), (TAU * h / 24.0).cos()]
}

#[test]
fn paysim_rows_give_hand_computed_features() {
    let text = format!(
        "{PAYSIM}\n\
         5,TRANSFER,1000,C1,5000,4000,C2,200,1200,1,0\n\
         30,CASH_OUT,250,C3,100,0,C4,0,0,0,0\n"
    );
    let records: Vec<_> = reader(&text, Schema::PaySim)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records.len(), 2);
    let ln = |x: f64| x.ln();
    let [s5, c5] = hour(5.0);
    // TRANSFER of 1000 from 5000 to 4000, destination 200 -> 1200: no balance errors.
    let first = [
        0.0,
        0.0,
        0.0,
        0.0,
        1.0,
        ln(1001.0),
        ln(1001.0),
        ln(1001.0),
        0.0,
        0.0,
        0.0,
        s5,
        c5,
    ];
    assert_close(&records[0].features, &first);
    assert_eq!(
        (records[0].row, records[0].line, records[0].label),
        (1, 2, Some(1.0))
    );
    // CASH_OUT of 250 from 100 to 0 (overdrawn), destination recorded 0 -> 0; step 30 = 06:00.
    let [s6, c6] = hour(6.0);
    let second = [
        0.0,
        1.0,
        0.0,
        0.0,
        0.0,
        ln(251.0),
        ln(101.0),
        0.0,
        ln(151.0),
        ln(251.0),
        1.0,
        s6,
        c6,
    ];
    assert_close(&records[1].features, &second);
    assert_eq!(
        (records[1].row, records[1].line, records[1].label),
        (2, 3, Some(0.0))
    );
}

#[test]
fn paysim_columns_by_name_label_optional() {
    // Reordered, an extra column, no label: features as before, labels None.
    let text = "extra,newbalanceDest,oldbalanceDest,amount,type,step,newbalanceOrig,oldbalanceOrg\n\
                zz,1200,200,1000,transfer,5,4000,5000\n";
    let mut r = reader(text, Schema::PaySim);
    assert!(!r.has_labels());
    let mut features = vec![0.0; 13];
    let info = r.read_into(&mut features).unwrap().unwrap();
    assert_eq!((info.row, info.line, info.label), (1, 2, None));
    assert_eq!(features[4], 1.0);
    assert!((features[5] - 1001f64.ln()).abs() < 1e-12);
    assert!(r.read_into(&mut features).unwrap().is_none());
    // A wrong-sized buffer is an error, not a panic.
    assert!(r.read_into(&mut [0.0; 3]).is_err());
}

fn card_header() -> String {
    let v: Vec<String> = (1..=28).map(|k| format!("V{k}")).collect();
    format!("\"Time\",{},\"Amount\",\"Class\"", v.join(","))
}

#[test]
fn card_rows_give_hand_computed_features() {
    let v: Vec<f64> = (1..=28).map(|k| f64::from(k) * 0.25 - 3.0).collect();
    let fields: Vec<String> = v.iter().map(f64::to_string).collect();
    // 99000 s = 1 day and 3.5 hours; quoted class like the Kaggle file.
    let text = format!(
        "{}\n99000,{},99,\"1\"\n0,{},0,\"0\"\n",
        card_header(),
        fields.join(","),
        fields.join(",")
    );
    let records: Vec<_> = reader(&text, Schema::Card)
        .collect::<Result<_, _>>()
        .unwrap();
    let mut expected = v.clone();
    expected.push(100f64.ln());
    expected.extend(hour(3.5));
    assert_close(&records[0].features, &expected);
    assert_eq!(records[0].label, Some(1.0));
    expected.truncate(28);
    expected.extend([0.0, 0.0, 1.0]);
    assert_close(&records[1].features, &expected);
    assert_eq!(records[1].label, Some(0.0));
}

fn first_error(text: &str, schema: Schema) -> String {
    let r = RecordReader::from_reader(text.as_bytes(), "x.csv", schema);
    match r {
        Err(e) => e.to_string(),
        Ok(r) => r
            .into_iter()
            .find_map(Result::err)
            .expect("an error")
            .to_string(),
    }
}

#[test]
fn paysim_errors_name_file_line_column() {
    let good = "1,PAYMENT,5,C1,10,5,M1,0,0,0,0";
    let cases = [
        (
            "1,PAYMENT,12x,C1,10,5,M1,0,0,0,0",
            "x.csv:3:3: `amount` is not a number: \"12x\"",
        ),
        (
            "1,PAYMENT,,C1,10,5,M1,0,0,0,0",
            "x.csv:3:3: `amount` is empty",
        ),
        (
            "1,PAYMENT,-5,C1,10,5,M1,0,0,0,0",
            "x.csv:3:3: `amount` must not be negative, found \"-5\"",
        ),
        (
            "1,PAYMENT,NaN,C1,10,5,M1,0,0,0,0",
            "x.csv:3:3: `amount` must be finite, found \"NaN\"",
        ),
        (
            "1,PAYMENT,5,C1,inf,5,M1,0,0,0,0",
            "x.csv:3:5: `oldbalanceOrg` must be finite, found \"inf\"",
        ),
        (
            "-1,PAYMENT,5,C1,10,5,M1,0,0,0,0",
            "x.csv:3:1: `step` must not be negative, found \"-1\"",
        ),
        (
            "1,WIRE,5,C1,10,5,M1,0,0,0,0",
            "x.csv:3:2: `type` is \"WIRE\", expected one of CASH_IN, CASH_OUT, DEBIT, PAYMENT, TRANSFER",
        ),
        (
            "1,PAYMENT,5,C1,10,5,M1,0,x,0,0",
            "x.csv:3:9: `newbalanceDest` is not a number: \"x\"",
        ),
        (
            "1,PAYMENT,5,C1,10,5,M1,0,0,2,0",
            "x.csv:3:10: `isFraud` must be 0 or 1, found \"2\"",
        ),
        (
            "1,PAYMENT,5",
            "x.csv:3:4: missing field: the row has 3 fields, the header has 11",
        ),
        (
            "1,PAYMENT,5,C1,10,5,M1,0,0,0,0,7",
            "x.csv:3:12: extra field: the row has 12 fields, the header has 11",
        ),
    ];
    for (row, message) in cases {
        let text = format!("{PAYSIM}\n{good}\n{row}\n");
        assert_eq!(first_error(&text, Schema::PaySim), message, "row {row}");
    }
}

#[test]
fn header_errors_are_on_line_one() {
    let text = "step,type,nameOrig,oldbalanceOrg,newbalanceOrig,oldbalanceDest,newbalanceDest\n";
    assert_eq!(
        first_error(text, Schema::PaySim),
        "x.csv:1: missing column `amount` (schema paysim)"
    );
    assert_eq!(
        first_error("", Schema::Card),
        "x.csv:1: no header: the file is empty"
    );
    let dup = format!("{PAYSIM},amount\n");
    assert_eq!(
        first_error(&dup, Schema::PaySim),
        "x.csv:1:12: duplicate column `amount`"
    );
}

#[test]
fn quoted_fields_keep_physical_line_numbers() {
    // Line 2 holds a quoted name with a comma and a newline, so the row spans lines 2-3; the
    // bad amount is on physical line 4 (data row 2).
    let text = format!(
        "{PAYSIM}\n\
         1,PAYMENT,5,\"C1, the\nsecond line\",10,5,M1,0,0,0,0\n\
         1,PAYMENT,abc,C1,10,5,M1,0,0,0,0\n"
    );
    let mut r = reader(&text, Schema::PaySim);
    let mut features = vec![0.0; 13];
    let info = r.read_into(&mut features).unwrap().unwrap();
    assert_eq!((info.row, info.line), (1, 2));
    assert_eq!(
        r.read_into(&mut features).unwrap_err().to_string(),
        "x.csv:4:3: `amount` is not a number: \"abc\""
    );
    // After a bad row, reading goes on.
    assert!(r.read_into(&mut features).unwrap().is_none());
}

#[test]
fn card_errors_name_the_column() {
    let mut fields = vec!["1"; 31];
    fields[5] = "x";
    let text = format!("{}\n{},\"0\"\n", card_header(), fields[..30].join(","));
    assert_eq!(
        first_error(&text, Schema::Card),
        "x.csv:2:6: `V5` is not a number: \"x\""
    );
    let text = format!("{}\n{},\"yes\"\n", card_header(), ["1"; 30].join(","));
    assert_eq!(
        first_error(&text, Schema::Card),
        "x.csv:2:31: `Class` is not a number: \"yes\""
    );
}

#[test]
fn dataset_needs_labels() {
    let text = "step,type,amount,oldbalanceOrg,newbalanceOrig,oldbalanceDest,newbalanceDest\n\
                1,PAYMENT,5,10,5,0,0\n";
    let err = Dataset::from_records(reader(text, Schema::PaySim)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "x.csv:1: no label column `isFraud`: a data set needs labels"
    );
    let text = format!("{PAYSIM}\n1,PAYMENT,5,C1,10,5,M1,0,0,0,0\n1,PAYMENT,5,C1,10,5,M1,0,0,,0\n");
    let err = Dataset::from_records(reader(&text, Schema::PaySim)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "x.csv:3:10: `isFraud` is empty: every row needs a label"
    );
}

#[test]
fn load_reports_missing_file() {
    let err = Dataset::load("/nonexistent/dir/x.csv", Schema::PaySim).unwrap_err();
    assert!(
        err.to_string().starts_with("/nonexistent/dir/x.csv: "),
        "{err}"
    );
}

fn generated(rows: u64, rate: f64, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    generate(rows, rate, &mut rng, &mut out).unwrap();
    out
}

#[test]
fn generator_is_deterministic() {
    let a = generated(3_000, 0.05, 7);
    assert_eq!(a, generated(3_000, 0.05, 7));
    assert_ne!(a, generated(3_000, 0.05, 8));
    let header = a.split(|&b| b == b'\n').next().unwrap();
    assert_eq!(header, PAYSIM_HEADER.join(",").as_bytes());
}

/// Average precision of `scores` for 0/1 `labels`: ties share the precision at their end.
fn average_precision(scores: &[f64], labels: &[f64]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let positives = labels.iter().filter(|&&y| y == 1.0).count() as f64;
    let (mut tp, mut seen, mut ap) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        let mut tp_group = 0.0;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            tp_group += labels[order[j]];
            j += 1;
        }
        tp += tp_group;
        seen += (j - i) as f64;
        ap += tp_group / positives * (tp / seen);
        i = j;
    }
    ap
}

#[test]
fn average_precision_helper() {
    assert_eq!(
        average_precision(&[0.9, 0.8, 0.1], &[1.0, 0.0, 1.0]),
        0.5 * (1.0 + 2.0 / 3.0)
    );
    assert_eq!(average_precision(&[1.0, 1.0], &[1.0, 0.0]), 0.5);
}

/// Fits logistic regression by plain full-batch gradient descent on examples in columns.
fn logistic_fit(x: &Array2<f64>, y: &[f64], steps: usize, rate: f64) -> (Array1<f64>, f64) {
    let m = x.ncols() as f64;
    let y = Array1::from(y.to_vec());
    let (mut w, mut b) = (Array1::<f64>::zeros(x.nrows()), 0.0);
    for _ in 0..steps {
        let err = logistic_scores(x, &w, b) - &y;
        w = w - x.dot(&err) * (rate / m);
        b -= err.sum() * rate / m;
    }
    (w, b)
}

fn logistic_scores(x: &Array2<f64>, w: &Array1<f64>, b: f64) -> Array1<f64> {
    (w.dot(x) + b).mapv(|z| 1.0 / (1.0 + (-z).exp()))
}

#[test]
fn generated_data_reads_back_with_the_requested_rate_and_is_not_trivial() {
    let rate = 0.02;
    let mut bytes = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let summary = generate(20_000, rate, &mut rng, &mut bytes).unwrap();
    assert_eq!(summary.rows, 20_000);
    assert_eq!(summary.fraud_rows, 400);

    // isFlaggedFraud: transfers above 200 000 and nothing else.
    let mut csv = csv::Reader::from_reader(bytes.as_slice());
    for record in csv.records() {
        let record = record.unwrap();
        let amount: f64 = record[2].parse().unwrap();
        let flagged = &record[1] == "TRANSFER" && amount > 200_000.0;
        assert_eq!(&record[10], if flagged { "1" } else { "0" });
    }

    let reader = RecordReader::from_reader(bytes.as_slice(), "gen.csv", Schema::PaySim).unwrap();
    let data = Dataset::from_records(reader).unwrap();
    assert_eq!(data.len(), 20_000);
    assert_eq!(data.positives(), 400);
    assert!((data.fraud_rate() - rate).abs() < 1e-3);
    assert_eq!(data.rows.first(), Some(&1));
    assert_eq!(data.rows.last(), Some(&20_000));

    // No single feature, in either direction, ranks fraud perfectly.
    for (f, name) in Schema::PaySim.feature_names().iter().enumerate() {
        let up = data.features.row(f).to_vec();
        let down: Vec<f64> = up.iter().map(|x| -x).collect();
        let best = average_precision(&up, &data.labels).max(average_precision(&down, &data.labels));
        assert!(
            best < 0.9,
            "feature {name} alone has average precision {best}"
        );
    }

    // Logistic regression on standardised features learns something but not everything.
    let split = stratified_split(&data.labels, 0.7, 0.0, 5).unwrap();
    let mut train = data.select(&split.train).unwrap();
    let mut test = data.select(&split.test).unwrap();
    let scaler = Standardizer::fit(train.features.view()).unwrap();
    scaler
        .transform_in_place(train.features.view_mut())
        .unwrap();
    scaler.transform_in_place(test.features.view_mut()).unwrap();
    let (w, b) = logistic_fit(&train.features, &train.labels, 400, 1.0);
    let ap_train = average_precision(
        logistic_scores(&train.features, &w, b).as_slice().unwrap(),
        &train.labels,
    );
    let ap_test = average_precision(
        logistic_scores(&test.features, &w, b).as_slice().unwrap(),
        &test.labels,
    );
    eprintln!("logistic regression average precision: train {ap_train:.4}, test {ap_test:.4}");
    assert!(ap_test > 3.0 * rate, "not learnable: test AP {ap_test}");
    assert!(ap_train < 0.999, "trivially separable: train AP {ap_train}");
    assert!(ap_test < 0.999, "trivially separable: test AP {ap_test}");
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn split_is_a_stratified_partition(
        labels in prop::collection::vec(prop::bool::weighted(0.1), 0..400),
        train in 0.3f64..0.9,
        val_share in 0.0f64..1.0,
        seed in any::<u64>(),
    ) {
        let labels: Vec<f64> = labels.into_iter().map(f64::from).collect();
        let val = (1.0 - train) * val_share;
        let positives = labels.iter().filter(|&&y| y == 1.0).count();
        let parts_wanted = 1 + usize::from(val > 1e-12) + usize::from(1.0 - train - val > 1e-12);
        let split = match stratified_split(&labels, train, val, seed) {
            Ok(split) => split,
            Err(_) => {
                prop_assert!(positives > 0 && positives < parts_wanted);
                return Ok(());
            }
        };
        prop_assert_eq!(&split, &stratified_split(&labels, train, val, seed).unwrap());
        let mut all: Vec<usize> = [&split.train, &split.validation, &split.test]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        all.sort_unstable();
        prop_assert_eq!(all, (0..labels.len()).collect::<Vec<_>>());
        let negatives = labels.len() - positives;
        let fracs = [train, val, (1.0 - train - val).max(0.0)];
        for (part, frac) in [&split.train, &split.validation, &split.test].into_iter().zip(fracs) {
            let pos = part.iter().filter(|&&i| labels[i] == 1.0).count();
            let neg = part.len() - pos;
            prop_assert!((neg as f64 - frac * negatives as f64).abs() < 1.0 + 1e-9);
            prop_assert!((pos as f64 - frac * positives as f64).abs() < 2.0);
            if positives > 0 && frac > 1e-12 {
                prop_assert!(pos >= 1);
            }
        }
    }
}

#[test]
fn generated_file_on_disk_loads_by_path() {
    let path = std::env::temp_dir().join(format!("fraudnet-data-{}.csv", std::process::id()));
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let summary = fraudnet::data::generate_to_path(&path, 2_000, 0.1, &mut rng).unwrap();
    let data = Dataset::load(&path, Schema::PaySim);
    let mut streamed = RecordReader::open(&path, Schema::PaySim).unwrap();
    let first = streamed.next().unwrap().unwrap();
    std::fs::remove_file(&path).unwrap();
    let data = data.unwrap();
    assert_eq!((summary.rows, summary.fraud_rows), (2_000, 200));
    assert_eq!((data.len(), data.positives()), (2_000, 200));
    assert_eq!(first.features, data.features.column(0).to_vec());
    assert_eq!((first.row, first.line), (1, 2));
}
