//! Writes a synthetic PaySim-like file and reports how long it took, then reads it back.
//!
//! `cargo run --release -p fraudnet --example generate -- [ROWS] [FRAUD_RATE] [SEED] [PATH]`
//! (defaults: 1000000 0.01 1 synthetic.csv).

use std::time::Instant;

use fraudnet::data::{RecordReader, Schema, generate_to_path};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rows: u64 = args.first().map_or(Ok(1_000_000), |s| s.parse())?;
    let rate: f64 = args.get(1).map_or(Ok(0.01), |s| s.parse())?;
    let seed: u64 = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let path = args.get(3).map_or("synthetic.csv", String::as_str);

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let start = Instant::now();
    let summary = generate_to_path(path, rows, rate, &mut rng)?;
    let written = start.elapsed();
    println!(
        "wrote {} rows ({} fraud, rate {:.4}) to {path} in {:.2?}",
        summary.rows,
        summary.fraud_rows,
        summary.fraud_rate(),
        written
    );

    let start = Instant::now();
    let mut reader = RecordReader::open(path, Schema::PaySim)?;
    let mut features = vec![0.0; reader.n_features()];
    let (mut n, mut fraud) = (0u64, 0u64);
    while let Some(info) = reader.read_into(&mut features)? {
        n += 1;
        fraud += u64::from(info.label == Some(1.0));
    }
    println!(
        "read back {n} rows ({fraud} fraud) in {:.2?}",
        start.elapsed()
    );
    Ok(())
}
