//! Exhaustive checks of a random `20 → 64 → 32 → 1` network on 256 examples (3,457 parameters),
//! in the same run: the exact oracle (`Reference::Dual`: one forward pass in dual numbers per
//! coordinate) against central differences (the notebook's ε = 1e-7: two cost evaluations per
//! coordinate plus the noise measurement), both on rayon's global pool.
//!
//! ```sh
//! cargo bench -p fraudnet --bench dual
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fraudnet::MlpProblem;
use gradproof::Checker;

fn exhaustive(c: &mut Criterion) {
    let (problem, theta) = MlpProblem::random(&[20, 64, 32, 1], 256, 3).expect("valid sizes");
    for (name, checker) in [("dual", Checker::new().dual()), ("central", Checker::new())] {
        let report = checker
            .check(&problem, theta.values())
            .expect("a valid problem");
        eprintln!(
            "{name}: passed {}, {} evaluations, overall difference {:.2e}",
            report.passed(),
            report.evaluations,
            report.difference
        );
    }
    let mut group = c.benchmark_group("20-64-32-1 x 256, exhaustive");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(30));
    group.bench_function("dual", |b| {
        let checker = Checker::new().dual();
        b.iter(|| black_box(checker.check(&problem, theta.values()).expect("valid")))
    });
    group.bench_function("central", |b| {
        let checker = Checker::new();
        b.iter(|| black_box(checker.check(&problem, theta.values()).expect("valid")))
    });
    group.finish();
}

criterion_group!(benches, exhaustive);
criterion_main!(benches);
