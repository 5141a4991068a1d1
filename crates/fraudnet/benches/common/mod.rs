//! What the fraud benches share: generated rows and a small trained model.

use fraudnet::data::{Dataset, RecordReader, Schema, generate};
use fraudnet::fit::{FitConfig, fit};
use fraudnet::model_file::FraudModel;
use fraudnet::train::TrainConfig;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

/// `rows` generated PaySim rows, in memory.
pub fn generated(rows: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut csv = Vec::new();
    generate(rows as u64, 0.02, &mut rng, &mut csv).expect("generating in memory");
    let reader = RecordReader::from_reader(csv.as_slice(), "generated.csv", Schema::PaySim)
        .expect("the generator's header");
    Dataset::from_records(reader).expect("the generator's rows")
}

/// A small model to score with: one epoch on 20 000 rows.
pub fn small_model() -> FraudModel {
    let data = generated(20_000, 12);
    let config = FitConfig {
        train: TrainConfig {
            hidden: vec![32, 16],
            epochs: 1,
            check_every: 0,
            seed: 2,
            ..TrainConfig::default()
        },
        ..FitConfig::default()
    };
    fit(&data, &config, "bench", |_| {}).expect("fitting").model
}
