//! Writes the engineered features of a labelled PaySim CSV file, one row per payment with its
//! label last, so that another learner (scripts/gbt_baseline.py) is given exactly the features
//! the fraud MLP reads.
//!
//! `cargo run --release -p fraudnet --example features -- IN.csv OUT.csv [row|history]`
//! (default: history).

use std::io::Write;

use fraudnet::data::{FeatureSet, FileFormat, Schema, open_rows_with};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, rest @ ..] = args.as_slice() else {
        return Err("usage: features IN.csv OUT.csv [row|history]".into());
    };
    let set: FeatureSet = rest
        .first()
        .map_or(Ok(FeatureSet::History), |s| s.parse())?;
    let file = std::fs::File::open(input)?;
    let mut rows = open_rows_with(file, input, Schema::PaySim, FileFormat::Csv, set, None)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(output)?);
    writeln!(
        out,
        "{},isFraud",
        set.feature_names(Schema::PaySim).join(",")
    )?;
    let mut features = vec![0.0; rows.n_features()];
    while let Some(info) = rows.read_into(&mut features)? {
        for x in &features {
            write!(out, "{x},")?;
        }
        writeln!(out, "{}", info.label.unwrap_or(f64::NAN))?;
    }
    out.flush()?;
    Ok(())
}
