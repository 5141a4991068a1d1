//! End-to-end runs of `gradproof notebook` and of the bare `gradproof`.

mod common;

use common::gradproof;

fn json(args: &[&str]) -> serde_json::Value {
    let out = gradproof(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn json_has_the_notebooks_numbers() {
    let v = json(&["notebook", "--format", "json"]);
    assert_eq!(v["one_d"]["J"], 8.0);
    assert_eq!(v["one_d"]["dtheta"], 2.0);
    let d1 = v["one_d"]["difference"].as_f64().unwrap();
    assert!((d1 - 2.919335883291695e-10).abs() / 2.919335883291695e-10 < 1e-6);
    let cost = v["n_dim"]["cost"].as_f64().unwrap();
    assert!((cost - 2.407833389834357).abs() < 1e-13);

    let buggy = &v["n_dim"]["buggy"];
    let d = buggy["difference"].as_f64().unwrap();
    assert!((d - 0.285093156781).abs() / 0.285093156781 < 5e-10, "{d}");
    let mut failing: Vec<&str> = buggy["failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    failing.sort();
    assert_eq!(failing, ["dW2", "db1"]);
    assert!(buggy["tensors"]["dW2"].as_f64().unwrap() > 0.3);
    assert!(buggy["tensors"]["db1"].as_f64().unwrap() > 0.5);
    assert!(buggy["tensors"]["dW1"].as_f64().unwrap() < 1e-6);

    let fixed = &v["n_dim"]["fixed"];
    let d = fixed["difference"].as_f64().unwrap();
    assert!(d > 1e-7 && d < 1.3e-7, "{d}");
    assert_eq!(fixed["failing"].as_array().unwrap().len(), 0);
    assert_eq!(fixed["tensors"].as_object().unwrap().len(), 6);
    assert_eq!(fixed["notebook_passed"], false);
    assert_eq!(fixed["passed"], true);
}

#[test]
fn bare_command_runs_the_notebook_as_text() {
    let out = gradproof(&[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("J = 8"));
    assert!(text.contains("dtheta = 2"));
    assert!(text.contains("difference = 0.285093156781"), "{text}");
    assert!(text.contains("WRONG"));
    assert!(text.contains("above the notebook's threshold"));
}

#[test]
fn usage_errors_exit_with_2() {
    let out = gradproof(&["notebook", "--format", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("yaml"), "{err}");
}
