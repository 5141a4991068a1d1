//! How long a gradient check takes with gradproof, against the notebook's `gradient_check_n`
//! written as a plain sequential loop, measured in the same run:
//!
//! * `seed-sized`: the notebook's test case (`4 → 5 → 3 → 1`, 3 examples);
//! * `20-64-32-1 x 256`: a random `20 → 64 → 32 → 1` network on 256 examples;
//! * `threads`: gradproof on that network in a rayon pool of 1 thread, then of 2, and this
//!   machine's ceiling for the same work (two independent 1-thread checks at once: a
//!   speed-up of `2 × (1 thread) / (two at once)` is the most two threads can give here).
//!
//! gradproof does more than the loop (the noise measurement, smaller steps at ReLU kinks, the
//! per-tensor verdicts) and runs on rayon's global pool; the plain loop does one `J(θ+εeᵢ)` and
//! one `J(θ−εeᵢ)` per coordinate on one thread.
//!
//! ```sh
//! cargo bench -p fraudnet --bench check
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fraudnet::{MlpProblem, notebook};
use gradproof::Checker;

/// The notebook's `gradient_check_n`, written straightforwardly: for each coordinate, copy θ, move
/// it by ±ε, evaluate the cost; then the relative difference `‖g − ĝ‖ / (‖g‖ + ‖ĝ‖)`.
fn plain_gradient_check(problem: &MlpProblem, theta: &[f64], epsilon: f64) -> f64 {
    let (mlp, x, y) = (problem.mlp(), problem.x().view(), problem.y().view());
    let grad = mlp.gradient(theta, x, y).expect("valid shapes");
    let grad = grad.values();
    let mut gradapprox = vec![0.0; theta.len()];
    for i in 0..theta.len() {
        let mut thetaplus = theta.to_vec();
        thetaplus[i] += epsilon;
        let j_plus = mlp.cost(&thetaplus, x, y).expect("valid shapes");
        let mut thetaminus = theta.to_vec();
        thetaminus[i] -= epsilon;
        let j_minus = mlp.cost(&thetaminus, x, y).expect("valid shapes");
        gradapprox[i] = (j_plus - j_minus) / (2.0 * epsilon);
    }
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|v| v * v).sum::<f64>().sqrt();
    let numerator = norm(&mut grad.iter().zip(&gradapprox).map(|(g, a)| g - a));
    let denominator = norm(&mut grad.iter().copied()) + norm(&mut gradapprox.iter().copied());
    numerator / denominator
}

/// gradproof's check with the notebook's settings (ε = 1e-7), on the current rayon pool.
fn gradproof_check(problem: &MlpProblem, theta: &[f64]) -> f64 {
    gradproof_check_with(problem, theta, true)
}

/// The same, with the MLP's incremental fast path or with full recomputation of every cost.
fn gradproof_check_with(problem: &MlpProblem, theta: &[f64], incremental: bool) -> f64 {
    Checker::new()
        .epsilon(1e-7)
        .incremental(incremental)
        .check(problem, theta)
        .expect("a valid problem")
        .difference
}

/// Both sides, once, before timing: they must agree on the relative difference.
fn sanity(name: &str, problem: &MlpProblem, theta: &[f64]) {
    let report = Checker::new()
        .epsilon(1e-7)
        .check(problem, theta)
        .expect("a valid problem");
    let plain = plain_gradient_check(problem, theta, 1e-7);
    eprintln!(
        "{name}: {} parameters; gradproof: difference {:.3e}, {} cost evaluations; plain loop: \
         difference {plain:.3e}, {} cost evaluations",
        theta.len(),
        report.difference,
        report.evaluations,
        2 * theta.len(),
    );
    assert!(plain.is_finite() && report.difference.is_finite());
}

fn seed_sized(c: &mut Criterion) {
    let case = notebook::gradient_check_n_test_case();
    let problem = MlpProblem::new(case.mlp, case.x, case.y).expect("the notebook's case");
    let theta = case.parameters.values();
    sanity("seed-sized", &problem, theta);
    let mut group = c.benchmark_group("seed-sized (4-5-3-1 x 3)");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("gradproof", |b| {
        b.iter(|| gradproof_check(&problem, black_box(theta)))
    });
    group.bench_function("plain loop", |b| {
        b.iter(|| plain_gradient_check(&problem, black_box(theta), 1e-7))
    });
    group.finish();
}

/// The `20 → 64 → 32 → 1` network on 256 examples.
fn medium_problem() -> (MlpProblem, Vec<f64>) {
    let (problem, theta) = MlpProblem::random(&[20, 64, 32, 1], 256, 3).expect("valid sizes");
    (problem, theta.into_values())
}

fn medium(c: &mut Criterion) {
    let (problem, theta) = medium_problem();
    sanity("20-64-32-1 x 256", &problem, &theta);
    let mut group = c.benchmark_group("20-64-32-1 x 256");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("gradproof", |b| {
        b.iter(|| gradproof_check(&problem, black_box(&theta)))
    });
    group.bench_function("gradproof, full recomputation", |b| {
        b.iter(|| gradproof_check_with(&problem, black_box(&theta), false))
    });
    group.bench_function("plain loop", |b| {
        b.iter(|| plain_gradient_check(&problem, black_box(&theta), 1e-7))
    });
    group.finish();
}

/// The 41k-parameter `30 → 256 → 128 → 1` network on 1024 examples: the incremental check only
/// (full recomputation takes minutes: see the README's timed command).
fn large(c: &mut Criterion) {
    let (problem, theta) = MlpProblem::random(&[30, 256, 128, 1], 1024, 3).expect("valid sizes");
    let theta = theta.into_values();
    let mut group = c.benchmark_group("30-256-128-1 x 1024");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    group.bench_function("gradproof, incremental", |b| {
        b.iter(|| gradproof_check(&problem, black_box(&theta)))
    });
    group.finish();
}

fn threads(c: &mut Criterion) {
    let (problem, theta) = medium_problem();
    let mut group = c.benchmark_group("threads (20-64-32-1 x 256)");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    // This machine's own ceiling for the same work: two independent checks at once, each on
    // a pool of 1 thread (nothing shared, nothing to split). Twice the 1-thread time divided by
    // this one is the best speed-up two threads can give here.
    let solo: Vec<_> = (0..2)
        .map(|_| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .expect("a thread pool")
        })
        .collect();
    for incremental in [true, false] {
        let how = if incremental { "incremental" } else { "full" };
        group.bench_function(
            format!("two independent {how} checks at once, 1 thread each (ceiling)"),
            |b| {
                b.iter(|| {
                    std::thread::scope(|scope| {
                        for pool in &solo {
                            let (problem, theta) = (&problem, &theta);
                            scope.spawn(move || {
                                pool.install(|| {
                                    gradproof_check_with(problem, black_box(theta), incremental)
                                })
                            });
                        }
                    })
                })
            },
        );
    }
    for n in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("a thread pool");
        let threads = format!("{n} thread{}", if n == 1 { "" } else { "s" });
        for incremental in [true, false] {
            let how = if incremental { "incremental" } else { "full" };
            group.bench_function(format!("gradproof {how}, {threads}"), |b| {
                b.iter(|| {
                    pool.install(|| gradproof_check_with(&problem, black_box(&theta), incremental))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, seed_sized, medium, large, threads);
criterion_main!(benches);
