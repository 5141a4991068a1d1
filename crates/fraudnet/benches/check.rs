//! How long a gradient check takes with gradproof, against the notebook's `gradient_check_n`
//! written as a plain sequential loop, measured in the same run:
//!
//! * `seed-sized`: the notebook's test case (`4 → 5 → 3 → 1`, 3 examples);
//! * `20-64-32-1 x 256`: a random `20 → 64 → 32 → 1` network on 256 examples;
//! * `threads`: gradproof on that network in a rayon pool of 1 thread, then of 2, and this
//!   machine's ceiling for the same work (two independent 1-thread checks at once: a
//!   speed-up of `2 × (1 thread) / (two at once)` is the most two threads can give here);
//! * `arithmetic limit`: what the exhaustive check of `30 → 256 → 128 → 1` on 1024 examples
//!   must do at least (printed: multiply-adds and logistic terms per coordinate, from the layer
//!   sizes and the examples each unit is active on), this machine's peak for the same kernels
//!   (multiply-adds in registers without fused multiply-add; the logistic term with libm's
//!   `exp` and `ln_1p`), and one incremental cost of a `W1` and of a `W2` coordinate.
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
use fraudnet::model::{Incremental, softplus_tails};
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

/// Per tensor of the problem at `theta`: (name, coordinates, multiply-adds and logistic terms
/// that one incremental cost of one of its coordinates needs at least, averaged over the
/// tensor). A coordinate of layer `l`'s unit `i` moves row `i` of `Zl` (`m` multiply-adds);
/// for a hidden unit, only the examples it is active on change (ReLU): each goes through layer
/// `l + 1` as a rank-1 update and then through the layers below, and needs its logistic term
/// again; an output coordinate changes every example's.
fn accounting(problem: &MlpProblem, theta: &[f64]) -> Vec<(String, usize, f64, f64)> {
    let mlp = problem.mlp();
    let (sizes, depth, m) = (mlp.sizes(), mlp.depth(), problem.x().ncols());
    let forward = mlp
        .forward(theta, problem.x().view())
        .expect("valid shapes");
    let mut rows = Vec::new();
    for l in 1..=depth {
        // Per changed example: the rank-1 update of layer l + 1, then full products below it.
        let below: usize = if l == depth {
            0
        } else {
            sizes[l + 1]
                + (l + 2..=depth)
                    .map(|k| sizes[k - 1] * sizes[k])
                    .sum::<usize>()
        };
        // Examples each unit of layer l is active on (all of them for the output).
        let active: Vec<f64> = forward.pre_activations[l - 1]
            .rows()
            .into_iter()
            .map(|z| {
                if l == depth {
                    m as f64
                } else {
                    z.iter().filter(|&&z| z > 0.0).count() as f64
                }
            })
            .collect();
        let mean_active = active.iter().sum::<f64>() / active.len() as f64;
        let multiply_adds = m as f64 + mean_active * below as f64;
        for (name, count) in [
            (format!("W{l}"), sizes[l] * sizes[l - 1]),
            (format!("b{l}"), sizes[l]),
        ] {
            rows.push((name, count, multiply_adds, mean_active));
        }
    }
    rows
}

/// `Σ_r w[r]·x[r][q]` for 16 columns `q` side by side: the incremental check's multiply-adds at
/// their best (operands in the nearest cache, 16 independent sums, separate multiply and add).
fn multiply_adds(w: &[f64], x: &[f64]) -> [f64; 16] {
    let mut sums = [0.0f64; 16];
    for (&w, x) in w.iter().zip(x.chunks_exact(16)) {
        for (sum, &x) in sums.iter_mut().zip(x) {
            *sum += w * x;
        }
    }
    sums
}

/// The logistic term of each logit as the check computes it, `max(z, 0) − z·y +
/// ln_1p(e^(−|z|))`, summed.
fn logistic_terms(z: &[f64], y: &[f64]) -> f64 {
    z.iter()
        .zip(y)
        .map(|(&z, &y)| z.max(0.0) - z * y + (-z.abs()).exp().ln_1p())
        .sum()
}

/// [`logistic_terms`] with each `ln_1p(e^(−|z|))` given.
fn logistic_terms_from_tails(z: &[f64], y: &[f64], tails: &[f64]) -> f64 {
    z.iter()
        .zip(y)
        .zip(tails)
        .map(|((&z, &y), &tail)| z.max(0.0) - z * y + tail)
        .sum()
}

fn arithmetic_limit(c: &mut Criterion) {
    let (problem, theta) = MlpProblem::random(&[30, 256, 128, 1], 1024, 3).expect("valid sizes");
    let theta = theta.into_values();
    let mut total = (0.0, 0.0);
    for (name, count, multiply_adds, terms) in accounting(&problem, &theta) {
        eprintln!(
            "{name}: {count} coordinates, at least {multiply_adds:.0} multiply-adds and \
             {terms:.0} logistic terms per cost"
        );
        total.0 += 2.0 * count as f64 * multiply_adds;
        total.1 += 2.0 * count as f64 * terms;
    }
    eprintln!(
        "two costs per coordinate: {:.3e} multiply-adds, {:.3e} logistic terms",
        total.0, total.1
    );
    let mut group = c.benchmark_group("arithmetic limit (30-256-128-1 x 1024)");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    // 128 × 16 multiply-adds: 16 KiB of operands, in the nearest cache.
    let w: Vec<f64> = (0..128).map(|r| 1.0 + r as f64 * 1e-3).collect();
    let x: Vec<f64> = (0..128 * 16).map(|k| (k % 7) as f64 * 0.25 - 0.5).collect();
    group.bench_function("2048 multiply-adds (peak)", |b| {
        b.iter(|| multiply_adds(black_box(&w), black_box(&x)))
    });
    let z: Vec<f64> = (0..1024).map(|k| (k as f64 - 512.0) * 0.01).collect();
    let y: Vec<f64> = (0..1024).map(|k| (k % 2) as f64).collect();
    group.bench_function("1024 logistic terms (libm exp, ln_1p)", |b| {
        b.iter(|| logistic_terms(black_box(&z), black_box(&y)))
    });
    let mut tails = Vec::with_capacity(1024);
    group.bench_function(
        "1024 logistic terms (exp, ln_1p four at a time, libm's bits)",
        |b| {
            b.iter(|| {
                tails.clear();
                softplus_tails(black_box(&z), &mut tails);
                logistic_terms_from_tails(black_box(&z), black_box(&y), &tails)
            })
        },
    );
    let (mlp, x, y) = (problem.mlp(), problem.x().view(), problem.y().view());
    let cache = Incremental::new(mlp, &theta, x, y, None).expect("valid shapes");
    // W1[59, 3] and W2[65, 41] (the worst-ratio coordinates of the check's report).
    for (name, k) in [
        ("W1[59, 3]", 59 * 30 + 3),
        ("W2[65, 41]", 256 * 31 + 65 * 256 + 41),
    ] {
        group.bench_function(format!("incremental cost of {name}"), |b| {
            b.iter(|| cache.cost(black_box(k), theta[k] + 1e-7))
        });
        // A central difference's two points, and two neighbours' (one unit) in one pass.
        let pair = |k: usize| [theta[k] + 1e-7, theta[k] - 1e-7];
        group.bench_function(format!("incremental pair of {name}"), |b| {
            b.iter(|| cache.cost_pair(black_box(k), pair(k)))
        });
        group.bench_function(
            format!("incremental pairs of {name} and its neighbour"),
            |b| b.iter(|| cache.cost_two_pairs((black_box(k), pair(k)), (k + 1, pair(k + 1)))),
        );
    }
    group.bench_function("full cost", |b| {
        b.iter(|| mlp.cost(black_box(&theta), x, y))
    });
    group.finish();
}

criterion_group!(
    benches,
    seed_sized,
    medium,
    large,
    threads,
    arithmetic_limit
);
criterion_main!(benches);
