//! Arbitrary text as the command line's specs: `--layers`, `--hidden` and `--bug` (one spec per
//! line). Parsing must never panic; parsed layer sizes must build a network; parsed bugs must
//! apply to a small network's gradient (or be refused with an error), never panic.
#![no_main]

use fraudnet::{Bug, Mlp, MlpProblem};
use gradproof::{Problem, Tensors};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(sizes) = fraudnet::model::parse_layers(text) {
        Mlp::new(&sizes).expect("parsed --layers build a network");
    }
    if let Ok(hidden) = fraudnet::model::parse_hidden(text) {
        let mut sizes = vec![7];
        sizes.extend(&hidden);
        sizes.push(1);
        // Wide enough to be refused is fine; a panic is not.
        let _ = Mlp::new(&sizes);
    }
    let Ok(bugs) = Bug::parse_all(text.lines()) else {
        return;
    };
    let (problem, theta) = MlpProblem::random(&[3, 4, 2, 1], 3, 1).expect("a small network");
    let mut gradient: Tensors = problem.gradient(theta.values()).expect("its gradient");
    for bug in &bugs {
        let _ = bug.apply(&mut gradient);
        let _ = bug.to_string().parse::<Bug>();
    }
    let problem = problem.with_dropout(0.5, 1).expect("a dropout mask");
    if let Ok(buggy) = problem.with_bugs(bugs) {
        let _ = buggy.gradient(theta.values());
    }
});
