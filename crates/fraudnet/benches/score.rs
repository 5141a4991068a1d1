//! Scoring a file end to end against the plain parse of the same bytes, in one group:
//!
//! * `csv crate parse (baseline)`: the `csv` crate reads the CSV file (buffered, from disk) and
//!   converts its numeric fields (all but `type` and the account names) with `str::parse::<f64>`, on one thread, keeping nothing:
//!   what a data frame library's `read_csv` does at the least, the bar issue 15 sets scoring
//!   against (no features, no model, no output).
//! * `score_file csv`: [`fraudnet::score::score_file`] of the same file: chunks read and parsed
//!   on rayon's pool, features, standardising, the network, `row,probability,flag` lines written
//!   in file order to a staged file renamed into place.
//! * `score_file parquet`: the same rows from a Parquet file (snappy, row groups of 64k rows),
//!   its row groups decoded and scored on rayon's pool, the same bytes out.
//!
//! A per-row model (`13 → 32 → 16 → 1`, one epoch on 20 000 rows); 131 072 rows, so that the
//! Parquet file has two full row groups (both threads of a 2-core machine busy).
//!
//! ```sh
//! cargo bench -p fraudnet --bench score
//! ```

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

mod common;

use common::small_model;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fraudnet::data::{generate_parquet, generate_to_path};
use fraudnet::score::score_file;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

const ROWS: u64 = 131_072;

/// The baseline: the `csv` crate's parse of `path` with its numbers converted; the rows read.
fn csv_crate_parse(path: &Path) -> u64 {
    let mut reader = csv::Reader::from_path(path).expect("opening");
    let numeric: Vec<usize> = (reader.byte_headers().expect("a header").iter())
        .enumerate()
        .filter(|(_, name)| !matches!(*name, b"type" | b"nameOrig" | b"nameDest"))
        .map(|(i, _)| i)
        .collect();
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while reader.read_byte_record(&mut record).expect("a record") {
        let mut sum = 0.0;
        for &i in &numeric {
            let text = std::str::from_utf8(&record[i]).expect("UTF-8");
            sum += text.parse::<f64>().expect("a number");
        }
        black_box(sum);
        rows += 1;
    }
    rows
}

fn score(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let csv = dir.path().join("payments.csv");
    let parquet = dir.path().join("payments.parquet");
    let output = dir.path().join("scores.csv");
    generate_to_path(&csv, ROWS, 0.01, &mut ChaCha8Rng::seed_from_u64(13)).expect("the CSV file");
    let file = std::fs::File::create(&parquet).expect("the Parquet file");
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    generate_parquet(ROWS, 0.01, &mut rng, file, "payments.parquet").expect("the Parquet file");
    let model = small_model();
    let from_csv = score_file(&model, &csv, &output).expect("scoring");
    let csv_bytes = std::fs::read(&output).expect("the scores");
    let from_parquet = score_file(&model, &parquet, &output).expect("scoring");
    assert_eq!(std::fs::read(&output).expect("the scores"), csv_bytes);
    assert_eq!((from_csv.rows, from_parquet.rows), (ROWS, ROWS));
    assert_eq!(csv_crate_parse(&csv), ROWS);

    let mut group = c.benchmark_group("score 131k rows");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(ROWS));
    group.bench_function("csv crate parse (baseline)", |b| {
        b.iter(|| csv_crate_parse(black_box(&csv)))
    });
    group.bench_function("score_file csv", |b| {
        b.iter(|| score_file(&model, black_box(&csv), &output).expect("scoring"))
    });
    group.bench_function("score_file parquet", |b| {
        b.iter(|| score_file(&model, black_box(&parquet), &output).expect("scoring"))
    });
    group.finish();
}

criterion_group!(benches, score);
criterion_main!(benches);
