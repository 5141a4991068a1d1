//! Arbitrary bytes as a PaySim CSV file: the reader must never panic, must end, and every row
//! it accepts must give finite features.
#![no_main]

use fraudnet::data::{RecordReader, Schema};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| read_all(data, Schema::PaySim));

fn read_all(data: &[u8], schema: Schema) {
    let Ok(mut reader) = RecordReader::from_reader(data, "fuzz.csv", schema) else {
        return;
    };
    let mut features = vec![0.0; schema.n_features()];
    // Every call consumes at least one record (or ends), so this bound is never the limit.
    for _ in 0..=data.len() + 1 {
        match reader.read_into(&mut features) {
            Ok(Some(info)) => {
                assert!(
                    features.iter().all(|v| v.is_finite()),
                    "row {} gave non-finite features {features:?}",
                    info.row
                );
                assert!(info.label.is_none_or(|l| l == 0.0 || l == 1.0));
            }
            Ok(None) => return,
            Err(_) => {}
        }
    }
    panic!("the reader did not reach the end of {} bytes", data.len());
}
