//! CSV files cut into chunks: every row read, numbered, placed and refused exactly as in a
//! reading of the whole file, whatever the chunk size (quotes, empty lines, `\r\n`, limits); and
//! scoring in parallel (CSV chunks, Parquet row groups) writes the bytes of the one-thread path,
//! on any number of threads, with the first bad row in the file reported.

use fraudnet::data::{
    CsvChunks, PAYSIM_HEADER, ParquetGroups, ParquetReader, RecordReader, Schema, generate,
    generate_parquet,
};
use fraudnet::fit::{FitConfig, fit};
use fraudnet::score::{Rows, score_records, score_to_csv};
use fraudnet::train::TrainConfig;
use rand::{RngExt, SeedableRng};

/// Every row of `text` (a row's outcome: its number, line, features and label, or the error),
/// read whole.
fn whole(text: &[u8]) -> Vec<String> {
    let Ok(mut reader) = RecordReader::from_reader(text, "f.csv", Schema::PaySim) else {
        return vec!["header".into()];
    };
    let mut features = vec![0.0; Schema::PaySim.n_features()];
    let mut out = Vec::new();
    loop {
        match reader.read_into(&mut features) {
            Ok(Some(info)) => out.push(format!("{info:?} {features:?}")),
            Ok(None) => return out,
            Err(e) => {
                out.push(e.to_string());
                return out;
            }
        }
    }
}

/// As [`whole`], through chunks of about `bytes` bytes.
fn chunked(text: &[u8], bytes: usize) -> Vec<String> {
    let Ok(chunks) = CsvChunks::new(text, "f.csv", Schema::PaySim) else {
        return vec!["header".into()];
    };
    let mut chunks = chunks.with_chunk_bytes(bytes);
    let mut features = vec![0.0; Schema::PaySim.n_features()];
    let mut out = Vec::new();
    loop {
        let chunk = match chunks.next_chunk() {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return out,
            Err(e) => {
                out.push(e.to_string());
                return out;
            }
        };
        let mut reader = chunk.reader();
        loop {
            match reader.read_into(&mut features) {
                Ok(Some(info)) => out.push(format!("{info:?} {features:?}")),
                Ok(None) => break,
                Err(e) => {
                    out.push(e.to_string());
                    return out;
                }
            }
        }
    }
}

/// A PaySim file with random mishaps: quoted fields (some over several lines), empty lines,
/// `\r\n` and lone `\r`, a byte order mark, stray quotes, bad values.
fn messy(rng: &mut impl rand::Rng, rows: usize) -> Vec<u8> {
    let mut text = format!("{}\n", PAYSIM_HEADER.join(",")).into_bytes();
    for i in 0..rows {
        let mut row = format!("{},PAYMENT,{}.5,C1,100,90.5,M2,0,0,{},0", i % 7, i, i % 2);
        match rng.random_range(0..40) {
            0 => row = row.replacen("C1", "\"C,\n1\"", 1),
            1 => row = row.replacen("PAYMENT", "\"PAYMENT\"", 1),
            2 => row.push_str("\n\n"),
            3 => row = row.replacen("M2", "M\"2", 1),
            4 => row = format!("\u{feff}{row}"),
            5 => row = row.replacen("100", "1e400", 1),
            6 => row = row.replacen(",0,0,", ",0,", 1),
            _ => {}
        }
        text.extend_from_slice(row.as_bytes());
        text.extend_from_slice(match rng.random_range(0..5) {
            0 => b"\r\n",
            1 => b"\r",
            _ => b"\n",
        });
    }
    text
}

#[test]
fn chunks_read_every_row_as_the_whole_file_does() {
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(15);
    for case in 0..200 {
        let text = messy(&mut rng, 1 + case % 60);
        let expected = whole(&text);
        for bytes in [1, 7, 60, 300, 1 << 20] {
            assert_eq!(
                chunked(&text, bytes),
                expected,
                "case {case}, chunks of {bytes}"
            );
        }
    }
}

/// A quote-free PaySim file whose fields are, at random, what the fast reader of plain rows
/// takes, what only the exact reader takes (spaces, exponents, signs, many digits, other cases)
/// and what nobody takes.
fn plain(rng: &mut impl rand::Rng, rows: usize) -> Vec<u8> {
    const NUMBERS: [&str; 16] = [
        "0",
        "100",
        "90.5",
        "11665.80",
        "5.",
        "0007.250",
        "-0",
        "-3.5",
        " 12",
        "1e3",
        "+4",
        "123456789012345678901",
        "0.0000000000000000000000001",
        "9007199254740993",
        "x",
        "",
    ];
    const TYPES: [&str; 5] = ["PAYMENT", "transfer", "Cash_Out", " DEBIT", "GIFT"];
    const LABELS: [&str; 6] = ["0", "1", "", "0.0", " 1", "2"];
    let mut text = format!("{}\n", PAYSIM_HEADER.join(",")).into_bytes();
    for i in 0..rows {
        // Mostly good rows, so that the readings go on past the first odd field.
        let mut pick = |options: &[&'static str], usual: &'static str| {
            if rng.random_range(0..30) == 0 {
                options[rng.random_range(0..options.len())]
            } else {
                usual
            }
        };
        let row = [
            pick(&NUMBERS, "3"),
            pick(&TYPES, "CASH_OUT"),
            pick(&NUMBERS, "181.25"),
            "C1",
            pick(&NUMBERS, "181.25"),
            pick(&NUMBERS, "0"),
            "C2",
            pick(&NUMBERS, "21182"),
            pick(&NUMBERS, "0.00"),
            pick(&LABELS, ["0", "1"][i % 2]),
            "0",
        ];
        text.extend_from_slice(row.join(",").as_bytes());
        text.extend_from_slice(if rng.random_range(0..20) == 0 {
            b"\n\n"
        } else {
            b"\n"
        });
    }
    text
}

#[test]
fn plain_rows_are_read_as_the_whole_file_reads_them() {
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(16);
    for case in 0..300 {
        let text = plain(&mut rng, 1 + case % 80);
        let expected = whole(&text);
        for bytes in [1, 60, 500, 1 << 20] {
            assert_eq!(
                chunked(&text, bytes),
                expected,
                "case {case}, chunks of {bytes}"
            );
        }
    }
}

#[test]
fn chunks_stop_an_endless_record_where_the_whole_file_does() {
    let header = format!("{}\n", PAYSIM_HEADER.join(","));
    let row = "1,PAYMENT,9.5,C1,100,90.5,M2,0,0,0\n";
    for tail in [
        format!("1,PAYMENT,\"{}", "x\n".repeat(100_000)),
        "7".repeat(200_000),
        "\n".repeat(100_000) + row,
    ] {
        for prefix in [0, 1, 333] {
            let text = format!("{header}{}{tail}", row.repeat(prefix)).into_bytes();
            let expected = whole(&text);
            for bytes in [1, 4096, 1 << 20] {
                assert_eq!(
                    chunked(&text, bytes),
                    expected,
                    "{prefix} rows, chunks of {bytes}"
                );
            }
        }
    }
}

/// A per-row model trained an epoch on the PaySim CSV `text`.
fn small_model(text: &[u8]) -> fraudnet::model_file::FraudModel {
    let reader = RecordReader::from_reader(text, "g.csv", Schema::PaySim).unwrap();
    let data = fraudnet::data::Dataset::from_records(reader).unwrap();
    let config = FitConfig {
        train: TrainConfig {
            hidden: vec![8],
            epochs: 1,
            ..TrainConfig::default()
        },
        ..FitConfig::default()
    };
    fit(&data, &config, "test", |_| {}).unwrap().model
}

#[test]
fn parquet_row_groups_score_to_the_bytes_of_one_thread_on_any_pool() {
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(5);
    let mut text = Vec::new();
    generate(20_000, 0.05, &mut rng, &mut text).unwrap();
    let model = small_model(&text);
    let (_, file) = generate_parquet(
        200_000,
        0.05,
        &mut rng,
        tempfile::tempfile().unwrap(),
        "g.parquet",
    )
    .unwrap();
    let reader = ParquetReader::new(file.try_clone().unwrap(), "g.parquet", Schema::PaySim);
    let mut expected = Vec::new();
    score_records(&model, reader.unwrap(), &mut expected, "out.csv").unwrap();
    assert!(expected.len() > 200_000 * 10);
    let in_groups = || {
        let groups = ParquetGroups::new(file.try_clone().unwrap(), "g.parquet", Schema::PaySim);
        let mut rows = Rows::<std::io::Empty>::Groups(groups.unwrap());
        let mut out = Vec::new();
        score_to_csv(&model, &mut rows, &mut out, "out.csv").unwrap();
        out
    };
    // From outside any pool the groups are spread over the global pool; from inside one (a
    // caller's parallel work) they are scored in turn on its thread.
    assert!(in_groups() == expected, "the global pool: other bytes");
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        assert!(
            pool.install(in_groups) == expected,
            "{threads} threads: other bytes"
        );
    }
}

#[test]
fn parallel_scoring_writes_the_bytes_of_one_thread_and_reports_the_first_bad_row() {
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(3);
    let mut text = Vec::new();
    generate(30_000, 0.05, &mut rng, &mut text).unwrap();
    let model = small_model(&text);

    let one_thread = |text: &[u8]| {
        let reader = RecordReader::from_reader(text, "g.csv", Schema::PaySim).unwrap();
        let mut out = Vec::new();
        score_records(&model, reader, &mut out, "out.csv").map(|_| out)
    };
    let in_chunks = |text: &[u8], bytes: usize| {
        let chunks = CsvChunks::new(text, "g.csv", Schema::PaySim).unwrap();
        let mut out = Vec::new();
        let mut rows = Rows::Chunks(chunks.with_chunk_bytes(bytes));
        score_to_csv(&model, &mut rows, &mut out, "out.csv").map(|_| out)
    };
    let expected = one_thread(&text).unwrap();
    assert!(expected.len() > 30_000 * 10);
    for bytes in [1000, 100_000, 1 << 20] {
        assert_eq!(
            in_chunks(&text, bytes).unwrap(),
            expected,
            "chunks of {bytes}"
        );
        // On a pool of one thread the chunks are scored in turn on it: the same bytes again.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(pool.install(|| in_chunks(&text, bytes)).unwrap(), expected);
    }

    // Two bad rows, both far from the first chunk: the first in the file is the one reported.
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    lines[20_001] = b"5,PAYMENT,nope,C1,100,90.5,M2,0,0,0";
    lines[29_000] = b"5,PAYMENT";
    let bad = lines.join(&b'\n');
    let expected = one_thread(&bad).unwrap_err().to_string();
    assert!(expected.contains("g.csv:20002:"), "{expected}");
    for bytes in [1000, 100_000] {
        assert_eq!(in_chunks(&bad, bytes).unwrap_err().to_string(), expected);
    }
}

/// A stream that has sent its header and nothing more yet (a pipe, a FIFO): opening it reads no
/// further, so a run can start (stage its output) before the first rows arrive.
#[test]
fn the_header_is_read_without_waiting_for_rows() {
    struct HeaderThenNothing(Option<Vec<u8>>);
    impl std::io::Read for HeaderThenNothing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let header = self.0.take().expect("read past the header");
            buf[..header.len()].copy_from_slice(&header);
            Ok(header.len())
        }
    }
    let header = format!("{}\n", PAYSIM_HEADER.join(",")).into_bytes();
    let chunks = CsvChunks::new(HeaderThenNothing(Some(header)), "f.fifo", Schema::PaySim).unwrap();
    assert_eq!(chunks.file(), "f.fifo");
}

/// Empty lines before the header (which the reader skips) arriving on their own: the header is
/// still waited for, and read whole.
#[test]
fn empty_lines_before_the_header_do_not_end_its_reading() {
    struct Pieces(Vec<Vec<u8>>);
    impl std::io::Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let piece = self.0.remove(0);
            buf[..piece.len()].copy_from_slice(&piece);
            Ok(piece.len())
        }
    }
    let header = format!("{}\n", PAYSIM_HEADER.join(",")).into_bytes();
    let pieces = Pieces(vec![b"\n".to_vec(), header, Vec::new()]);
    let mut chunks = CsvChunks::new(pieces, "f.fifo", Schema::PaySim).unwrap();
    assert!(chunks.next_chunk().unwrap().is_none());
}
