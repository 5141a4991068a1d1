//! Numerical robustness: saturated sigmoids (|z| ≥ 800) give finite costs and gradients with the
//! right limits, for every hidden activation; training on data with huge (1e300) or all-zero
//! features either finishes with finite numbers or says which feature is at fault; the checker
//! names the coordinate whose perturbation made the model's cost NaN.

use fraudnet::data::{Dataset, RecordReader, Schema};
use fraudnet::fit::{FitConfig, fit};
use fraudnet::train::TrainConfig;
use fraudnet::{Activation, CostForm, Mlp, MlpProblem};
use gradproof::Checker;
use ndarray::array;

#[test]
fn saturated_output_sigmoids_give_finite_costs_and_gradients() {
    // One input, no hidden layer: z = w·x + b, with |z| from 800 to 1e6.
    let mlp = Mlp::new(&[1, 1]).unwrap();
    for z in [800.0, 1000.0, 1e6] {
        // Right answers cost (almost) nothing, wrong ones cost |z| per example.
        let x = array![[z, -z]];
        for (y, expected_cost, expected_dw) in [
            (array![[1.0, 0.0]], 0.0, 0.0),
            (array![[0.0, 1.0]], z, z), // dJ/dw = mean((a − y)·x) = (z + z)/2
        ] {
            let theta = [1.0, 0.0];
            let cost = mlp.cost(&theta, x.view(), y.view()).unwrap();
            assert!(cost.is_finite(), "z = {z}: cost {cost}");
            assert!((cost - expected_cost).abs() <= 1e-12 * z, "z = {z}: {cost}");
            let g = mlp.gradient(&theta, x.view(), y.view()).unwrap();
            assert!(g.values().iter().all(|v| v.is_finite()), "{:?}", g.values());
            assert!(
                (g.values()[0] - expected_dw).abs() <= 1e-12 * z,
                "{:?}",
                g.values()
            );
            // dJ/db = mean(a − y): (0 + 0)/2 right, (1 − 1)/2 = 0 wrong (the two cancel).
            assert_eq!(g.values()[1], 0.0);
        }
    }
}

#[test]
fn saturated_hidden_layers_give_finite_costs_and_gradients_for_every_activation() {
    for activation in [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Tanh,
        Activation::Sigmoid,
    ] {
        let (random, theta) = MlpProblem::random(&[3, 4, 2, 1], 5, 2).unwrap();
        let mlp = random.mlp().clone().with_activation(activation);
        // Weights of 400 on inputs of ±3: pre-activations in the thousands everywhere.
        let theta: Vec<f64> = theta.values().iter().map(|v| v.signum() * 400.0).collect();
        let x = random.x().mapv(|v| 3.0 * v.signum());
        {
            let cost = mlp.cost(&theta, x.view(), random.y().view()).unwrap();
            assert!(cost.is_finite() && cost >= 0.0, "{activation}: cost {cost}");
            let g = mlp.gradient(&theta, x.view(), random.y().view()).unwrap();
            assert!(
                g.values().iter().all(|v| v.is_finite()),
                "{activation}: {:?}",
                g.values()
            );
        }
    }
}

/// A PaySim file with `rows` rows where `edit(row, fields)` may change the fields.
fn paysim_file(rows: usize, edit: impl Fn(usize, &mut Vec<String>)) -> String {
    let mut out = String::from(
        "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud,isFlaggedFraud\n",
    );
    for r in 0..rows {
        let fraud = r % 10 == 0;
        let amount = 10.0 + (r * 7919 % 1000) as f64;
        let old = if fraud {
            amount
        } else {
            5000.0 + (r % 13) as f64
        };
        let new = if fraud { 0.0 } else { old - amount };
        let mut fields: Vec<String> = vec![
            (r % 48).to_string(),
            if fraud { "TRANSFER" } else { "PAYMENT" }.to_string(),
            amount.to_string(),
            format!("C{r}"),
            old.to_string(),
            new.to_string(),
            format!("M{r}"),
            "0".to_string(),
            "0".to_string(),
            u8::from(fraud).to_string(),
            "0".to_string(),
        ];
        edit(r, &mut fields);
        out += &(fields.join(",") + "\n");
    }
    out
}

fn train_on(text: &str) -> fraudnet::Result<fraudnet::fit::Fitted> {
    let data = Dataset::from_records(RecordReader::from_reader(
        text.as_bytes(),
        "mem.csv",
        Schema::PaySim,
    )?)?;
    let config = FitConfig {
        train: TrainConfig {
            hidden: vec![4],
            epochs: 2,
            check_every: 1,
            check_examples: 16,
            ..TrainConfig::default()
        },
        ..FitConfig::default()
    };
    fit(&data, &config, "mem.csv", |_| {})
}

fn assert_finite(fitted: &fraudnet::fit::Fitted, what: &str) {
    assert!(
        fitted.model.theta.values().iter().all(|v| v.is_finite()),
        "{what}: non-finite weights"
    );
    for e in &fitted.trained.history {
        assert!(
            e.train_loss.is_finite() && e.validation_loss.is_finite(),
            "{what}: {e:?}"
        );
    }
    assert!(fitted.model.threshold.is_finite(), "{what}");
}

#[test]
fn huge_and_all_zero_features_train_to_finite_numbers() {
    // Balances of 1e300 on every tenth row, and of ±1.7e308 whose differences overflow.
    let huge = paysim_file(600, |r, f| {
        if r % 10 == 3 {
            f[4] = "1e300".into();
            f[7] = "-1e300".into();
        }
        if r % 10 == 7 {
            f[4] = "1.7e308".into();
            f[5] = "-1.7e308".into();
        }
    });
    assert_finite(&train_on(&huge).unwrap(), "huge balances");
    // Every balance zero: several features are constant (zero) columns.
    let zeros = paysim_file(600, |_, f| {
        for k in [4, 5, 7, 8] {
            f[k] = "0".into();
        }
    });
    assert_finite(&train_on(&zeros).unwrap(), "all-zero balances");
}

#[test]
fn the_checker_names_the_coordinate_whose_perturbation_made_the_mlp_cost_infinite() {
    // The notebook's cost form computes log(1 − a): once z passes ~36.7 the sigmoid rounds to 1
    // and a wrong answer costs −log(0) = inf. Find that edge, and stand just below it in W1.
    let mlp = Mlp::new(&[1, 1])
        .unwrap()
        .with_cost_form(CostForm::Notebook);
    let (x, y) = (array![[1.0]], array![[0.0]]);
    let finite = |w: f64| mlp.cost(&[w, 0.0], x.view(), y.view()).unwrap().is_finite();
    let (mut lo, mut hi) = (30.0, 40.0);
    assert!(finite(lo) && !finite(hi));
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if finite(mid) { lo = mid } else { hi = mid }
    }
    let problem = MlpProblem::new(mlp, x, y).unwrap();
    // With a step of 1e-4, W1 + h crosses the edge (so would b1 + h, later in the layout); no
    // step down does. The first coordinate that fails is named, whatever the thread count.
    let checker = Checker::new().step_rule("1e-4".parse().unwrap());
    let error = checker.check(&problem, &[lo - 1e-5, 0.0]).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("cost is inf"), "{message}");
    assert!(message.contains("W1[0, 0] + ε"), "{message}");
}
