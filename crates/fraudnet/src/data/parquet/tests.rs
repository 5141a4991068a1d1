//! The Parquet reader against the CSV reader (same features, labels and rows, both schemas), the
//! reading by row groups against the whole file's, and both against bad files: a wrong column
//! type, a missing column, bad values named with their row group, column and row, truncated and
//! corrupt files.

use std::fs::File;
use std::io::{Seek, Write};
use std::sync::Arc;

use arrow_array::types::Int8Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray,
};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use rand::SeedableRng;

use super::*;

use crate::data::{Dataset, History, RecordReader, RowSource, Schema, generate};

/// A Parquet file of `columns`, `group_rows` rows per row group.
fn parquet_file(columns: Vec<(&str, ArrayRef)>, group_rows: usize) -> File {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .build();
    let mut writer = ArrowWriter::try_new(
        tempfile::tempfile().unwrap(),
        batch.schema(),
        Some(properties),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.into_inner().unwrap()
}

fn floats(values: &[f64]) -> ArrayRef {
    Arc::new(Float64Array::from(values.to_vec()))
}

/// Five PaySim rows with `amount` (and optionally another column) replaced.
fn paysim(
    amount: ArrayRef,
    replace: Option<(&'static str, ArrayRef)>,
) -> Vec<(&'static str, ArrayRef)> {
    let kinds = ["PAYMENT", "TRANSFER", "CASH_OUT", "CASH_IN", "DEBIT"];
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("step", Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5]))),
        ("type", Arc::new(StringArray::from(kinds.to_vec()))),
        ("amount", amount),
        ("oldbalanceOrg", floats(&[100.0, 50.0, 0.0, 10.0, 7.0])),
        ("newbalanceOrig", floats(&[90.0, 0.0, 0.0, 20.0, 5.0])),
        ("oldbalanceDest", floats(&[0.0; 5])),
        ("newbalanceDest", floats(&[0.0, 50.0, 0.0, 0.0, 2.0])),
        ("isFraud", Arc::new(Int64Array::from(vec![0, 1, 0, 0, 0]))),
    ];
    if let Some((name, array)) = replace {
        match columns.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = array,
            None => columns.push((name, array)),
        }
    }
    columns
}

fn amounts() -> ArrayRef {
    floats(&[10.0, 50.0, 1.5, 10.0, 2.0])
}

fn read_all(file: File, schema: Schema) -> crate::Result<Dataset> {
    Dataset::from_records(ParquetReader::new(file, "t.parquet", schema)?)
}

/// The rows of `file` read row group by row group, in order; the first error.
fn read_groups(file: File, schema: Schema) -> crate::Result<Vec<String>> {
    let mut groups = ParquetGroups::new(file, "t.parquet", schema)?;
    let mut features = vec![0.0; schema.n_features()];
    let mut rows = Vec::new();
    while let Some(group) = groups.next_group() {
        let mut reader = group.reader()?;
        while let Some(info) = reader.read_into(&mut features)? {
            rows.push(format!("{info:?} {features:?}"));
        }
    }
    Ok(rows)
}

/// The error of reading `file` whole; read by row groups, a bad value is the same error.
fn error(file: File, schema: Schema) -> String {
    let copy = file.try_clone().unwrap();
    let message = read_all(file, schema).unwrap_err().to_string();
    // (A row without a label is the data set's error, not the reader's.)
    if let Err(in_groups) = read_groups(copy, schema) {
        assert_eq!(in_groups.to_string(), message, "read by row groups");
    }
    message
}

#[test]
fn row_groups_read_as_the_whole_file() {
    let mut rng = rand_chacha(4);
    let (_, file) = generate_parquet(
        150_000,
        0.05,
        &mut rng,
        tempfile::tempfile().unwrap(),
        "t.parquet",
    )
    .unwrap();
    let groups = ParquetGroups::new(file.try_clone().unwrap(), "t.parquet", Schema::PaySim);
    let mut reader =
        ParquetReader::new(file.try_clone().unwrap(), "t.parquet", Schema::PaySim).unwrap();
    let mut features = vec![0.0; Schema::PaySim.n_features()];
    let mut whole = Vec::new();
    while let Some(info) = reader.read_into(&mut features).unwrap() {
        whole.push(format!("{info:?} {features:?}"));
    }
    assert_eq!(whole.len(), 150_000);
    let mut count = 0;
    let mut groups = groups.unwrap();
    while groups.next_group().is_some() {
        count += 1;
    }
    assert_eq!(count, 3, "64k rows a group");
    assert_eq!(read_groups(file, Schema::PaySim).unwrap(), whole);
}

#[test]
fn generated_parquet_reads_as_the_generated_csv() {
    let mut csv = Vec::new();
    let mut rng = rand_chacha(5);
    let csv_summary = generate(3_000, 0.05, &mut rng, &mut csv).unwrap();
    let mut rng = rand_chacha(5);
    let (summary, file) = generate_parquet(
        3_000,
        0.05,
        &mut rng,
        tempfile::tempfile().unwrap(),
        "g.parquet",
    )
    .unwrap();
    assert_eq!(summary, csv_summary);
    let from_csv = Dataset::from_records(
        RecordReader::from_reader(csv.as_slice(), "g.csv", Schema::PaySim).unwrap(),
    )
    .unwrap();
    let from_parquet = read_all(file, Schema::PaySim).unwrap();
    assert_eq!(from_parquet.len(), 3_000);
    assert_eq!(from_parquet, from_csv);
}

fn rand_chacha(seed: u64) -> rand::rngs::ChaCha8Rng {
    rand::rngs::ChaCha8Rng::seed_from_u64(seed)
}

#[test]
fn card_rows_read_as_the_same_csv() {
    let names = Schema::Card.required_columns();
    let value = |row: usize, col: usize| ((row * 31 + col * 7) % 97) as f64 / 8.0 - 3.0;
    let mut columns: Vec<(&str, ArrayRef)> = Vec::new();
    let mut text = names.join(",") + ",Class\n";
    for (col, name) in names.iter().enumerate() {
        let values: Vec<f64> = (0..40).map(|row| value(row, col).abs()).collect();
        columns.push((name, floats(&values)));
    }
    columns.push((
        "Class",
        Arc::new(Int32Array::from((0..40).map(|r| r % 2).collect::<Vec<_>>())),
    ));
    for row in 0..40 {
        let fields: Vec<String> = (0..names.len())
            .map(|c| value(row, c).abs().to_string())
            .collect();
        text += &format!("{},{}\n", fields.join(","), row % 2);
    }
    let from_csv = Dataset::from_records(
        RecordReader::from_reader(text.as_bytes(), "c.csv", Schema::Card).unwrap(),
    )
    .unwrap();
    assert_eq!(
        read_all(parquet_file(columns, 16), Schema::Card).unwrap(),
        from_csv
    );
}

#[test]
fn other_numeric_and_text_types_are_converted_and_extra_columns_ignored() {
    let amount: ArrayRef = Arc::new(Float32Array::from(vec![10.0, 50.0, 1.5, 10.0, 2.0]));
    let kinds: DictionaryArray<Int8Type> =
        vec!["PAYMENT", "TRANSFER", "CASH_OUT", "CASH_IN", "DEBIT"]
            .into_iter()
            .collect();
    let mut columns = paysim(amount, Some(("type", Arc::new(kinds))));
    // Never decoded: a column the model does not need, of a type it could not use.
    columns.push((
        "nameOrig",
        Arc::new(arrow_array::BinaryArray::from_vec(vec![b"x"; 5])),
    ));
    let converted = read_all(parquet_file(columns.clone(), 2), Schema::PaySim).unwrap();
    // History features read the account columns: there, they must be text.
    let with_history = |file| {
        ParquetReader::with_history(file, "t.parquet", Schema::PaySim, History::new())
            .err()
            .map(|e| e.to_string())
    };
    let binary = with_history(parquet_file(columns, 2)).expect("refused");
    assert!(
        binary.contains("`nameOrig`") && binary.contains("expected text"),
        "{binary}"
    );
    let missing = with_history(parquet_file(paysim(amounts(), None), 5)).expect("refused");
    assert!(missing.contains("missing column `nameOrig`"), "{missing}");
    let plain = read_all(parquet_file(paysim(amounts(), None), 5), Schema::PaySim).unwrap();
    assert_eq!(converted, plain);
    assert_eq!(plain.labels, [0.0, 1.0, 0.0, 0.0, 0.0]);
}

#[test]
fn a_wrong_column_type_is_named() {
    let text: ArrayRef = Arc::new(StringArray::from(vec!["1"; 5]));
    let message = error(parquet_file(paysim(text, None), 5), Schema::PaySim);
    assert!(
        message.starts_with("t.parquet: column `amount`: has type Utf8"),
        "{message}"
    );
    assert!(message.contains("expected numbers"), "{message}");
    let numbers: ArrayRef = Arc::new(Int64Array::from(vec![1; 5]));
    let message = error(
        parquet_file(paysim(amounts(), Some(("type", numbers))), 5),
        Schema::PaySim,
    );
    assert!(
        message.contains("column `type`: has type Int64"),
        "{message}"
    );
}

#[test]
fn a_missing_column_is_named() {
    let mut columns = paysim(amounts(), None);
    columns.retain(|(name, _)| *name != "newbalanceDest");
    let message = error(parquet_file(columns, 5), Schema::PaySim);
    assert_eq!(
        message,
        "t.parquet: missing column `newbalanceDest` (schema paysim)"
    );
    let message = error(parquet_file(paysim(amounts(), None), 5), Schema::Card);
    assert!(message.contains("missing column `Time`"), "{message}");
}

#[test]
fn bad_values_are_named_with_row_group_column_and_row() {
    // Two rows per group: row 4 is in group 1 (numbered from 0 as Parquet tools do).
    let mut amount = vec![Some(1.0); 5];
    amount[3] = None;
    let message = error(
        parquet_file(paysim(Arc::new(Float64Array::from(amount)), None), 2),
        Schema::PaySim,
    );
    assert_eq!(
        message,
        "t.parquet: row group 1, column `amount`, row 4: is empty (null)"
    );
    let negative = floats(&[1.0, 1.0, 1.0, 1.0, -2.0]);
    let message = error(parquet_file(paysim(negative, None), 2), Schema::PaySim);
    assert_eq!(
        message,
        "t.parquet: row group 2, column `amount`, row 5: must not be negative, found -2"
    );
    let infinite = floats(&[1.0, f64::INFINITY, 1.0, 1.0, 1.0]);
    let message = error(parquet_file(paysim(infinite, None), 2), Schema::PaySim);
    assert!(
        message.ends_with("row group 0, column `amount`, row 2: must be finite, found inf"),
        "{message}"
    );
    let kinds: ArrayRef = Arc::new(StringArray::from(vec![
        "PAYMENT", "PAYMENT", "REFUND", "DEBIT", "DEBIT",
    ]));
    let message = error(
        parquet_file(paysim(amounts(), Some(("type", kinds))), 2),
        Schema::PaySim,
    );
    assert!(
        message.contains("row group 1, column `type`, row 3: is \"REFUND\", expected one of"),
        "{message}"
    );
    let labels: ArrayRef = Arc::new(Int64Array::from(vec![0, 0, 0, 2, 0]));
    let message = error(
        parquet_file(paysim(amounts(), Some(("isFraud", labels))), 2),
        Schema::PaySim,
    );
    assert!(
        message.ends_with("row group 1, column `isFraud`, row 4: must be 0 or 1, found 2"),
        "{message}"
    );
    let labels: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(0),
        Some(0),
        None,
        Some(1),
        Some(0),
    ]));
    let message = error(
        parquet_file(paysim(amounts(), Some(("isFraud", labels))), 2),
        Schema::PaySim,
    );
    assert!(
        message.ends_with(
            "row group 1, column `isFraud`, row 3: `isFraud` is empty: every row needs a label"
        ),
        "{message}"
    );
}

#[test]
fn unlabelled_files_have_no_labels() {
    let mut columns = paysim(amounts(), None);
    columns.retain(|(name, _)| *name != "isFraud");
    let mut reader = ParquetReader::new(
        parquet_file(columns.clone(), 5),
        "t.parquet",
        Schema::PaySim,
    )
    .unwrap();
    assert!(!reader.has_labels());
    let mut features = vec![0.0; 13];
    assert_eq!(
        reader.read_into(&mut features).unwrap().unwrap().label,
        None
    );
    let message = error(parquet_file(columns, 5), Schema::PaySim);
    assert_eq!(
        message,
        "t.parquet: no label column `isFraud`: a data set needs labels"
    );
}

/// The bytes of a generated Parquet file.
fn generated_bytes() -> Vec<u8> {
    let mut rng = rand_chacha(2);
    let (_, bytes) = generate_parquet(500, 0.1, &mut rng, Vec::new(), "g.parquet").unwrap();
    bytes
}

fn file_of(bytes: &[u8]) -> File {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(bytes).unwrap();
    file.rewind().unwrap();
    file
}

#[test]
fn truncated_random_and_footer_damaged_files_are_refused() {
    let bytes = generated_bytes();
    let cases = [
        ("empty", Vec::new()),
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("last byte cut", bytes[..bytes.len() - 1].to_vec()),
        (
            "random",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ),
        ("csv", b"step,type\n1,PAYMENT\n".to_vec()),
    ];
    for (what, damaged) in cases {
        let message = error(file_of(&damaged), Schema::PaySim);
        assert!(
            message.starts_with("t.parquet: not a readable Parquet file"),
            "{what}: {message}"
        );
        assert_eq!(message.lines().count(), 1, "{what}: {message}");
    }
}

#[test]
fn every_flipped_byte_is_an_error_or_a_read_never_a_panic() {
    let bytes = generated_bytes();
    // Every byte of the footer (metadata and its length) and a sample of the pages.
    let footer = bytes.len().saturating_sub(3_000);
    let places = (0..footer).step_by(97).chain(footer..bytes.len());
    for at in places {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x5a;
        // Either outcome is fine: the point is that reading returns.
        let _ = read_all(file_of(&damaged), Schema::PaySim);
        let _ = read_groups(file_of(&damaged), Schema::PaySim);
    }
}

#[test]
fn scores_written_hold_the_rows_probabilities_and_flags() {
    let mut writer = ScoresWriter::new(Vec::new(), "s.parquet").unwrap();
    for row in 1..=70_000u64 {
        writer
            .push(row, row as f64 / 1e5, row.is_multiple_of(3))
            .unwrap();
    }
    let bytes = writer.finish().unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file_of(&bytes))
            .unwrap();
    assert_eq!(reader.metadata().num_row_groups(), 2);
    // Distinct values are not hashed into a dictionary; the counting row numbers are deltas.
    let group = reader.metadata().row_group(0);
    let encodings = |k: usize| group.column(k).encodings().collect::<Vec<_>>();
    assert!(group.column(0).dictionary_page_offset().is_none());
    assert!(group.column(1).dictionary_page_offset().is_none());
    assert!(encodings(0).contains(&parquet::basic::Encoding::DELTA_BINARY_PACKED));
    assert!(encodings(1).contains(&parquet::basic::Encoding::PLAIN));
    assert!(group.column(0).compressed_size() < 1_000);
    let mut seen = 0u64;
    for batch in reader.build().unwrap() {
        let batch = batch.unwrap();
        use arrow_array::cast::AsArray;
        let rows = batch
            .column(0)
            .as_primitive::<arrow_array::types::UInt64Type>();
        let p = batch
            .column(1)
            .as_primitive::<arrow_array::types::Float64Type>();
        let flag = batch.column(2).as_primitive::<Int8Type>();
        for i in 0..batch.num_rows() {
            seen += 1;
            assert_eq!(rows.value(i), seen);
            assert_eq!(p.value(i), seen as f64 / 1e5);
            assert_eq!(flag.value(i), i8::from(seen.is_multiple_of(3)));
        }
    }
    assert_eq!(seen, 70_000);
}
