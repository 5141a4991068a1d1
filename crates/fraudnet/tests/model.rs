//! The general MLP's hand-written gradient under every option the fraud model trains with —
//! each hidden activation, class weighting, L2 and dropout with a frozen mask — passes an
//! exhaustive and a directional check, and mistakes in those options' backward passes are caught
//! and named.

use fraudnet::{Activation, Bug, DropoutMask, Mlp, MlpProblem, NumpyRng};
use gradproof::{Checker, Mode, Problem};

/// A random problem of the given sizes with every option set as asked.
fn problem(
    sizes: &[usize],
    examples: usize,
    seed: u32,
    activation: Activation,
    positive_weight: f64,
    l2: f64,
    dropout: f64,
) -> (MlpProblem, Vec<f64>) {
    let (random, theta) = MlpProblem::random(sizes, examples, seed).unwrap();
    let mlp = random
        .mlp()
        .clone()
        .with_activation(activation)
        .with_positive_weight(positive_weight)
        .unwrap()
        .with_l2(l2)
        .unwrap();
    let mut problem = MlpProblem::new(mlp, random.x().clone(), random.y().clone()).unwrap();
    if dropout > 0.0 {
        problem = problem.with_dropout(dropout, seed + 1000).unwrap();
    }
    (problem, theta.values().to_vec())
}

const OPTIONS: [(f64, f64, f64); 5] = [
    // (positive weight, L2, dropout)
    (1.0, 0.0, 0.0),
    (12.0, 0.0, 0.0),
    (1.0, 0.7, 0.0),
    (1.0, 0.0, 0.4),
    (30.0, 0.2, 0.5),
];

#[test]
fn every_activation_with_every_option_passes_exhaustive_and_directional_checks() {
    let shapes: [&[usize]; 3] = [&[5, 7, 1], &[6, 9, 5, 1], &[4, 6, 6, 3, 1]];
    for (s, sizes) in shapes.into_iter().enumerate() {
        for activation in Activation::ALL {
            for (o, &(weight, l2, dropout)) in OPTIONS.iter().enumerate() {
                let seed = (s * 100 + o * 10) as u32 + activation as u32;
                let (problem, theta) = problem(sizes, 24, seed, activation, weight, l2, dropout);
                let report = Checker::new().check(&problem, &theta).unwrap();
                assert!(
                    report.passed(),
                    "{sizes:?} {activation} weight {weight} l2 {l2} dropout {dropout}:\n{report}"
                );
                let directional = Checker::new()
                    .mode(Mode::Directional { top: 3 })
                    .check(&problem, &theta)
                    .unwrap();
                assert!(
                    directional.passed(),
                    "{sizes:?} {activation}:\n{directional}"
                );
            }
        }
    }
}

#[test]
fn a_dropout_mask_forgotten_in_the_backward_pass_is_caught_and_named() {
    for activation in Activation::ALL {
        for layer in 1..=2 {
            let (problem, theta) = problem(&[6, 9, 7, 1], 32, 3, activation, 1.0, 0.0, 0.5);
            let buggy = problem
                .with_bugs(vec![Bug::DropoutUnmasked { layer }])
                .unwrap();
            let report = Checker::new().check(&buggy, &theta).unwrap();
            // Layer `layer`'s weights are the first wrong gradient; everything below is too.
            let failing = report.failing();
            assert!(
                failing.contains(&format!("dW{layer}").as_str()),
                "{activation} {failing:?}"
            );
            assert!(failing.contains(&"dW1"), "{activation} {failing:?}");
            assert!(!failing.contains(&"dW3"), "{activation} {failing:?}");
            let directional = Checker::new()
                .mode(Mode::Directional { top: 3 })
                .check(&buggy, &theta)
                .unwrap();
            assert!(!directional.passed(), "{activation} layer {layer}");
        }
    }
}

#[test]
fn the_dropout_bug_needs_a_dropout_problem_and_a_hidden_layer() {
    let (plain, _) = problem(&[4, 5, 3, 1], 8, 1, Activation::Relu, 1.0, 0.0, 0.0);
    let error = plain
        .with_bugs(vec!["dW1:dropout-unmasked".parse().unwrap()])
        .unwrap_err();
    assert!(error.to_string().contains("no dropout"), "{error}");
    let (dropout, _) = problem(&[4, 5, 3, 1], 8, 1, Activation::Relu, 1.0, 0.0, 0.5);
    let error = dropout
        .with_bugs(vec!["dW3:dropout-unmasked".parse().unwrap()])
        .unwrap_err();
    assert!(error.to_string().contains("not a hidden layer"), "{error}");
}

#[test]
fn weights_l2_and_dropout_change_the_cost_as_their_formulas_say() {
    let (base, theta) = problem(&[4, 5, 3, 1], 10, 7, Activation::Tanh, 1.0, 0.0, 0.0);
    let (x, y) = (base.x().view(), base.y().view());
    let mlp = base.mlp().clone();
    let j = mlp.cost(&theta, x, y).unwrap();
    // L2: J + λ/(2m)·Σ‖W‖².
    let squares: f64 = ["W1", "W2", "W3"]
        .iter()
        .map(|name| {
            let range = mlp.layout().range(mlp.layout().tensor_index(name).unwrap());
            theta[range].iter().map(|w| w * w).sum::<f64>()
        })
        .sum();
    let with_l2 = mlp
        .clone()
        .with_l2(0.3)
        .unwrap()
        .cost(&theta, x, y)
        .unwrap();
    approx::assert_relative_eq!(with_l2, j + 0.3 / 20.0 * squares, max_relative = 1e-14);
    // A positive weight w: (1/m)·Σ (1 + (w − 1)·y)·ℓ, so J(w) is affine in w.
    let weighted = |w: f64| {
        mlp.clone()
            .with_positive_weight(w)
            .unwrap()
            .cost(&theta, x, y)
            .unwrap()
    };
    approx::assert_relative_eq!(
        weighted(3.0) - weighted(2.0),
        weighted(2.0) - j,
        max_relative = 1e-12
    );
    assert!(weighted(2.0) > j);
    // A dropout mask of rate 0 is all ones: the cost does not change.
    let ones = DropoutMask::sample(&mlp, 10, 0.0, &mut NumpyRng::new(1)).unwrap();
    assert_eq!(mlp.cost_masked(&theta, x, y, Some(&ones)).unwrap(), j);
    let half = DropoutMask::sample(&mlp, 10, 0.5, &mut NumpyRng::new(1)).unwrap();
    assert_ne!(mlp.cost_masked(&theta, x, y, Some(&half)).unwrap(), j);
    // A mask for other data is refused with its shape.
    let wrong = DropoutMask::sample(&mlp, 9, 0.5, &mut NumpyRng::new(1)).unwrap();
    let error = mlp.cost_masked(&theta, x, y, Some(&wrong)).unwrap_err();
    assert!(error.to_string().contains("(5, 10)"), "{error}");
}

#[test]
fn settings_out_of_range_are_refused_with_the_range() {
    let mlp = Mlp::new(&[3, 1]).unwrap();
    for w in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let error = mlp.clone().with_positive_weight(w).unwrap_err().to_string();
        assert!(error.contains("positive finite"), "{error}");
    }
    for l2 in [-0.1, f64::NAN] {
        let error = mlp.clone().with_l2(l2).unwrap_err().to_string();
        assert!(error.contains("≥ 0"), "{error}");
    }
    for rate in [1.0, -0.1, f64::NAN] {
        let error = DropoutMask::sample(&mlp, 4, rate, &mut NumpyRng::new(1))
            .unwrap_err()
            .to_string();
        assert!(error.contains("[0, 1)"), "{error}");
    }
    let error = "swish".parse::<Activation>().unwrap_err().to_string();
    assert!(
        error.contains("relu, leaky_relu, tanh or sigmoid"),
        "{error}"
    );
}

#[test]
fn initialisation_is_seeded_and_scaled_by_fan_in() {
    let mlp = Mlp::new(&[400, 200, 1]).unwrap();
    let a = mlp.initialize(&mut NumpyRng::new(9));
    assert_eq!(a, mlp.initialize(&mut NumpyRng::new(9)));
    assert_ne!(a, mlp.initialize(&mut NumpyRng::new(10)));
    let std = |v: &[f64]| (v.iter().map(|w| w * w).sum::<f64>() / v.len() as f64).sqrt();
    let he = a.get("W1").unwrap();
    let he = he.as_slice().unwrap();
    approx::assert_relative_eq!(std(he), (2.0_f64 / 400.0).sqrt(), max_relative = 0.02);
    let tanh = mlp.clone().with_activation(Activation::Tanh);
    let xavier = tanh.initialize(&mut NumpyRng::new(9));
    let xavier = xavier.get("W1").unwrap();
    approx::assert_relative_eq!(
        std(xavier.as_slice().unwrap()),
        (2.0_f64 / 600.0).sqrt(),
        max_relative = 0.02
    );
    // The cost of a fresh network is finite and near log 2 on any data.
    let (random, _) = MlpProblem::random(&[400, 200, 1], 8, 1).unwrap();
    let j = random.cost(a.values()).unwrap();
    assert!(j.is_finite() && j > 0.1 && j < 3.0, "{j}");
}

#[test]
fn the_incremental_fast_path_gives_the_verdicts_of_full_recomputation() {
    let shapes: [&[usize]; 4] = [
        &[4, 5, 3, 1],
        &[7, 12, 1],
        &[6, 10, 8, 4, 1],
        &[3, 16, 16, 1],
    ];
    let mut cases = 0;
    for (s, sizes) in shapes.into_iter().enumerate() {
        for activation in Activation::ALL {
            for (scale, dropout) in [(1.0, 0.0), (0.0, 0.0), (25.0, 0.0), (1.0, 0.4)] {
                let seed = (s * 10) as u32 + activation as u32;
                let (random, theta) = MlpProblem::random(sizes, 20, seed).unwrap();
                // Scale 0: every pre-activation exactly on a kink; 25: saturated sigmoids.
                let theta: Vec<f64> = theta.values().iter().map(|v| v * scale).collect();
                let mlp = random.mlp().clone().with_activation(activation);
                let mut problem =
                    MlpProblem::new(mlp, random.x().clone(), random.y().clone()).unwrap();
                if dropout > 0.0 {
                    problem = problem.with_dropout(dropout, seed).unwrap();
                }
                for bugs in [
                    vec![],
                    Bug::notebook().into_iter().take(1).collect::<Vec<_>>(),
                ] {
                    let problem = problem.clone().with_bugs(bugs.clone()).unwrap();
                    let fast = Checker::new().check(&problem, &theta).unwrap();
                    let full = Checker::new()
                        .incremental(false)
                        .check(&problem, &theta)
                        .unwrap();
                    let what =
                        format!("{sizes:?} {activation} ×{scale} dropout {dropout} {bugs:?}");
                    assert_eq!(fast.passed(), full.passed(), "{what}\n{fast}\n{full}");
                    assert_eq!(fast.failing(), full.failing(), "{what}");
                    for (a, b) in fast.tensors.iter().zip(&full.tensors) {
                        assert_eq!(a.disagree, b.disagree, "{what} {}", a.name);
                        assert_eq!(a.kink, b.kink, "{what} {}", a.name);
                        assert_eq!(a.passed, b.passed, "{what} {}", a.name);
                    }
                    assert_eq!(fast.evaluations, full.evaluations, "{what}");
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 128);
}

#[test]
fn a_relu_net_says_when_theta_sits_on_a_kink() {
    let (problem, theta) = MlpProblem::random(&[4, 5, 1], 8, 3).expect("valid sizes");
    let mut theta = theta.into_values();
    assert_eq!(problem.on_kink(&theta), Some(false));
    // W1's first row and b1's first element at 0: the first hidden unit's pre-activations are 0
    // for every example, exactly on the ReLU's kink.
    let layout = problem.layout().clone();
    for name in ["W1", "b1"] {
        let k = layout
            .tensors()
            .iter()
            .position(|t| t.name == name)
            .unwrap();
        let columns = layout.tensors()[k].shape.get(1).copied().unwrap_or(1);
        for i in layout.range(k).take(columns) {
            theta[i] = 0.0;
        }
    }
    assert_eq!(problem.on_kink(&theta), Some(true));
    // A forward check there looks behind θ and passes the correct gradient.
    let report = Checker::new()
        .method(gradproof::Method::Forward)
        .check(&problem, &theta)
        .unwrap();
    assert!(report.passed(), "{report}");
}

#[test]
fn a_problem_checks_theta_on_every_cost_and_agrees_with_the_model() {
    // X, Y and the mask are checked once when the problem is made; θ on every call.
    let (problem, theta) = problem(&[5, 7, 3, 1], 9, 4, Activation::Relu, 1.0, 0.0, 0.2);
    let short = &theta[1..];
    for error in [
        problem.cost(short).unwrap_err(),
        problem.cost_with_signature(short).unwrap_err(),
    ] {
        assert!(error.to_string().contains("parameters θ"), "{error}");
    }
    let (mlp, x, y) = (problem.mlp(), problem.x().view(), problem.y().view());
    let mask = problem.mask();
    let expected = mlp.cost_with_signature_masked(&theta, x, y, mask).unwrap();
    let (cost, signature) = problem.cost_with_signature(&theta).unwrap();
    assert_eq!(
        (cost.to_bits(), signature),
        (expected.0.to_bits(), Some(expected.1))
    );
    assert_eq!(
        problem.cost(&theta).unwrap().to_bits(),
        expected.0.to_bits()
    );
}
