//! Arbitrary text as a model file: `FraudModel::from_json` must refuse it with an error or load
//! a model that validates, never panic or attempt an absurd allocation. The text is tried as
//! given and, when it is a JSON object with a `content`, re-signed with the right checksum, so
//! that the fuzzer reaches the checks behind the SHA-256.
#![no_main]

use fraudnet::model_file::FraudModel;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    load(text);
    if let Ok(serde_json::Value::Object(mut envelope)) = serde_json::from_str(text)
        && let Some(content) = envelope.get("content")
    {
        let bytes = serde_json::to_vec(content).expect("a JSON value serialises");
        let hex: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        envelope.insert("sha256".into(), hex.into());
        load(&serde_json::Value::Object(envelope).to_string());
    }
});

fn load(text: &str) {
    if let Ok(model) = FraudModel::from_json(text, "fuzz.json") {
        model.validate().expect("a loaded model validates");
        let again = model.to_json().expect("a loaded model saves");
        assert_eq!(
            FraudModel::from_json(&again, "again.json").ok(),
            Some(model)
        );
    }
}
