//! Tests of [`Incremental`]: its costs against full recomputation, and its vector build
//! against its portable one.

use super::*;
use crate::MlpProblem;
use crate::model::activation::Activation;
use crate::numpy_rng::NumpyRng;

#[test]
fn the_vector_build_gives_the_portable_build_s_bits() {
    // 21 and 16 examples: blocks of eight with and without a remainder; a positive weight of
    // 1 and 3 (the example weight's two forms).
    let cases = [
        (&[5, 8, 7, 3, 1][..], 21, 1.0),
        (&[6, 9, 1], 21, 3.0),
        (&[4, 7, 1], 16, 1.0),
    ];
    for activation in Activation::ALL {
        for (sizes, examples, positive_weight) in cases {
            let (problem, theta) = MlpProblem::random(sizes, examples, 4).unwrap();
            let mlp = problem
                .mlp()
                .clone()
                .with_activation(activation)
                .with_positive_weight(positive_weight)
                .unwrap();
            let (x, y) = (problem.x().view(), problem.y().view());
            let cache = Incremental::new(&mlp, theta.values(), x, y, None).unwrap();
            let mut scratch = Scratch::default();
            for k in 0..theta.values().len() {
                for delta in [1e-7, -0.7, 3.0] {
                    let value = theta.values()[k] + delta;
                    let (fast, a) = cache.cost(k, value);
                    let (portable, b) = cache.cost_body(k, value, &mut scratch);
                    assert_eq!((fast.to_bits(), a), (portable.to_bits(), b), "k={k}");
                    // The pair as the engine asks for it (the last hidden layer's own path
                    // where it applies), against each value alone.
                    let values = [value, theta.values()[k] - delta];
                    let bits = |(cost, signature): (f64, u64)| (cost.to_bits(), signature);
                    let one = |v| bits(cache.cost_body(k, v, &mut Scratch::default()));
                    assert_eq!(
                        cache.cost_pair(k, values).map(bits),
                        values.map(one),
                        "k={k}"
                    );
                    // With another parameter's pair: the next one, one of the same unit (the
                    // shared path where it applies) and itself, against each value alone.
                    let n = theta.values().len();
                    let fan_in = sizes[cache.target(k).layer - 1];
                    for other in [(k + 1) % n, (k + fan_in) % n, k] {
                        let other_values = [theta.values()[other] + 0.5 * delta, value];
                        let alone =
                            |k: usize, v: f64| bits(cache.cost_body(k, v, &mut Scratch::default()));
                        let both = cache.cost_two_pairs((k, values), (other, other_values));
                        assert_eq!(
                            both.map(|pair| pair.map(bits)),
                            [
                                values.map(|v| alone(k, v)),
                                other_values.map(|v| alone(other, v))
                            ],
                            "k={k}, other={other}"
                        );
                    }
                    // Each vector build the CPU can run, not only the one `cost` picks.
                    #[cfg(target_arch = "x86_64")]
                    {
                        if std::is_x86_feature_detected!("avx2") {
                            // SAFETY: only on a CPU with AVX2.
                            let (v, c) = unsafe { cache.cost_avx2(k, value, &mut scratch) };
                            assert_eq!((v.to_bits(), c), (portable.to_bits(), b), "k={k}");
                            let mut pair = [Scratch::default(), Scratch::default()];
                            // SAFETY: as above.
                            let both = unsafe { cache.pair_avx2(k, values, &mut pair) };
                            assert_eq!(both.map(bits), values.map(one), "k={k}");
                        }
                        if std::is_x86_feature_detected!("avx512f") {
                            // SAFETY: only on a CPU with AVX-512F.
                            let (v, c) = unsafe { cache.cost_avx512(k, value, &mut scratch) };
                            assert_eq!((v.to_bits(), c), (portable.to_bits(), b), "k={k}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn every_perturbed_cost_matches_the_full_recomputation_within_a_few_ulps() {
    let shapes: [&[usize]; 5] = [
        &[3, 1],
        &[4, 5, 3, 1],
        &[6, 9, 1],
        &[5, 8, 7, 3, 1],
        &[2, 4, 4, 4, 1],
    ];
    for (s, sizes) in shapes.into_iter().enumerate() {
        for activation in Activation::ALL {
            for (scale, l2, dropout) in [
                (1.0, 0.0, 0.0),
                (1.0, 0.3, 0.4),
                (0.0, 0.0, 0.0),
                (30.0, 0.0, 0.0),
            ] {
                let (problem, theta) = MlpProblem::random(sizes, 13, s as u32).unwrap();
                let theta: Vec<f64> = theta.values().iter().map(|v| v * scale).collect();
                let mlp = problem
                    .mlp()
                    .clone()
                    .with_activation(activation)
                    .with_l2(l2)
                    .unwrap()
                    .with_positive_weight(3.0)
                    .unwrap();
                let (x, y) = (problem.x().view(), problem.y().view());
                let mask = (dropout > 0.0).then(|| {
                    DropoutMask::sample(&mlp, 13, dropout, &mut NumpyRng::new(2)).unwrap()
                });
                let cache = Incremental::new(&mlp, &theta, x, y, mask.as_ref()).unwrap();
                let (j0, _) = mlp
                    .cost_with_signature_masked(&theta, x, y, mask.as_ref())
                    .unwrap();
                for k in 0..theta.len() {
                    for delta in [1e-7, -1e-7, 0.3, -2.0] {
                        let mut moved = theta.clone();
                        moved[k] += delta;
                        let full = mlp.cost_masked(&moved, x, y, mask.as_ref()).unwrap();
                        let (fast, signature) = cache.cost(k, moved[k]);
                        let ulps = (fast - full).abs() / (f64::EPSILON * full.abs().max(j0.abs()));
                        assert!(
                            ulps <= 16.0,
                            "{sizes:?} {activation} k={k} δ={delta}: {fast} vs {full} ({ulps} ulps)"
                        );
                        // Same piece as θ ⇔ the base signature (for kinked activations).
                        if activation.is_kinked() {
                            let (_, a) = mlp
                                .cost_with_signature_masked(&theta, x, y, mask.as_ref())
                                .unwrap();
                            let (_, b) = mlp
                                .cost_with_signature_masked(&moved, x, y, mask.as_ref())
                                .unwrap();
                            assert_eq!(
                                a == b,
                                signature == cache.base_signature(),
                                "{sizes:?} k={k} δ={delta}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn a_pair_of_costs_is_two_single_costs_bit_for_bit() {
    let shapes: [&[usize]; 4] = [&[4, 5, 3, 1], &[6, 9, 1], &[5, 8, 7, 3, 1], &[3, 11, 6, 1]];
    for (s, sizes) in shapes.into_iter().enumerate() {
        for activation in Activation::ALL {
            for (examples, l2, dropout) in [(37, 0.0, 0.0), (13, 0.2, 0.0), (22, 0.0, 0.3)] {
                let (problem, theta) = MlpProblem::random(sizes, examples, s as u32).unwrap();
                let mlp = problem
                    .mlp()
                    .clone()
                    .with_activation(activation)
                    .with_l2(l2)
                    .unwrap();
                let (x, y) = (problem.x().view(), problem.y().view());
                let mask = (dropout > 0.0).then(|| {
                    DropoutMask::sample(&mlp, examples, dropout, &mut NumpyRng::new(5)).unwrap()
                });
                let cache = Incremental::new(&mlp, theta.values(), x, y, mask.as_ref()).unwrap();
                let mut scratch: [Scratch; 2] = Default::default();
                // Small moves (the same examples change on both sides: the shared kernel),
                // large and lopsided ones (units cross their kinks on one side only).
                for (plus, minus) in [(1e-7, -1e-7), (0.3, -2.0), (1.5, 1e-9), (0.0, -0.4)] {
                    for k in 0..theta.values().len() {
                        let values = [theta.values()[k] + plus, theta.values()[k] + minus];
                        let singles = values.map(|v| cache.cost(k, v));
                        let bits = |pair: [(f64, u64); 2]| pair.map(|(c, s)| (c.to_bits(), s));
                        let context = format!("{sizes:?} {activation} k={k} {values:?}");
                        assert_eq!(bits(cache.cost_pair(k, values)), bits(singles), "{context}");
                        let portable = cache.pair_body(k, values, &mut scratch);
                        assert_eq!(bits(portable), bits(singles), "{context} (portable)");
                    }
                }
            }
        }
    }
}
