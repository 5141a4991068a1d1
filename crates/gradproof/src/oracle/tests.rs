//! The judgement against its definitions, written out element by element: on random oracles
//! (smooth coordinates, kinks straddled by intervals, unresolved kinks, coordinates not checked,
//! zero bounds, an empty tensor), with and without a tolerance, every count, figure and worst
//! element of every tensor is the one the definitions on [`Oracle::judge`] give, to the bit.

use std::time::Instant;

use super::*;
use crate::derivative::Kink;
use crate::difference::{norm2, relative_difference};
use crate::layout::TensorSpec;
use crate::noise::NoiseStatus;
use crate::precision::Precision;
use crate::report::error_ratio;
use crate::rng::SplitMix64;

/// One tensor's figures as the definitions give them.
#[derive(Debug, PartialEq)]
struct Expected {
    checked: usize,
    agree: usize,
    disagree: usize,
    unresolved: usize,
    kink: usize,
    kink_outside: usize,
    kink_floor: Option<u64>,
    difference: u64,
    threshold: u64,
    max_abs_error: Option<u64>,
    passed: bool,
    top: Vec<usize>,
}

/// The definitions, one element at a time, over the flat indices `range` of a tensor.
fn expected(
    range: Range<usize>,
    derivatives: &[Option<Derivative>],
    g: &[f64],
    tolerance: Option<(f64, f64)>,
) -> Expected {
    let checked: Vec<usize> = range.filter(|&i| derivatives[i].is_some()).collect();
    let d = |i: usize| derivatives[i].expect("checked");
    let smooth: Vec<usize> = checked
        .iter()
        .copied()
        .filter(|&i| d(i).kink == Kink::None)
        .collect();
    let compared: Vec<usize> = checked
        .iter()
        .copied()
        .filter(|&i| d(i).kink != Kink::Unresolved)
        .collect();
    let straddled: Vec<usize> = checked
        .iter()
        .copied()
        .filter(|&i| d(i).interval().is_some())
        .collect();
    let nearest = |i: usize| d(i).nearest(g[i]);
    let error = |i: usize| (g[i] - nearest(i)).abs();
    let allowed = |i: usize| match tolerance {
        Some((rtol, atol)) => atol + rtol * nearest(i).abs(),
        None => NOISE_SAFETY_FACTOR * d(i).bound,
    };
    let wrong = |i: &&usize| error(**i) > allowed(**i);
    let disagree = compared.iter().filter(wrong).count();
    let kink_outside = straddled.iter().filter(wrong).count();
    let mut scale = 0.0_f64;
    for &i in &compared {
        let sides = d(i).interval().map_or(0.0, |[l, r]| l.abs().max(r.abs()));
        scale = scale.max(g[i].abs().max(d(i).value.abs()).max(sides));
    }
    let unresolved = checked
        .iter()
        .filter(|&&i| {
            d(i).unresolved() || (error(i) <= allowed(i) && scale > 0.0 && allowed(i) >= scale)
        })
        .count();
    let analytic: Vec<f64> = smooth.iter().map(|&i| g[i]).collect();
    let numeric: Vec<f64> = smooth.iter().map(|&i| d(i).value).collect();
    let bounds: Vec<f64> = smooth.iter().map(|&i| d(i).bound).collect();
    let difference = relative_difference(&analytic, &numeric);
    let threshold = if smooth.is_empty() {
        NO_RELATIVE_EVIDENCE
    } else {
        quotient(
            NOISE_SAFETY_FACTOR * norm2(&bounds),
            norm2(&analytic) + norm2(&numeric),
        )
    };
    let max_abs_error = compared.iter().map(|&i| error(i)).reduce(f64::max);
    let mut top = compared.clone();
    // Worst first: by error over allowance, then by error; ties keep the index order.
    top.sort_by(|&a, &b| {
        let key = |i: usize| (error_ratio(error(i), allowed(i)), error(i));
        let ((ra, ea), (rb, eb)) = (key(a), key(b));
        rb.total_cmp(&ra).then(eb.total_cmp(&ea))
    });
    top.truncate(TOP_K);
    let allowances: Vec<f64> = straddled.iter().map(|&i| allowed(i)).collect();
    let compared_numeric: Vec<f64> = compared.iter().map(|&i| d(i).value).collect();
    let kink_floor = (!straddled.is_empty())
        .then(|| (1.0 + 1.0 / NOISE_SAFETY_FACTOR) * norm2(&allowances) / norm2(&compared_numeric));
    Expected {
        checked: checked.len(),
        agree: checked.len() - disagree - unresolved,
        disagree,
        unresolved,
        kink: straddled.len(),
        kink_outside,
        kink_floor: kink_floor.map(f64::to_bits),
        difference: difference.to_bits(),
        threshold: threshold.to_bits(),
        max_abs_error: max_abs_error.map(f64::to_bits),
        passed: disagree == 0 && (tolerance.is_some() || difference <= threshold),
        top,
    }
}

/// A random derivative: mostly smooth, some straddled kinks, a few unresolved; bounds
/// sometimes zero; values spread over several decades.
fn random_derivative(rng: &mut SplitMix64) -> Derivative {
    let value = rng.sign() * 10f64.powf(4.0 * rng.unit() - 2.0);
    let bound = if rng.below(8) == 0 {
        0.0
    } else {
        value.abs() * 10f64.powf(-6.0 * rng.unit())
    };
    let kink = match rng.below(10) {
        0..=5 => Kink::None,
        6..=8 => {
            let (left, right) = (value - rng.unit(), value + rng.unit());
            return Derivative {
                value: 0.5 * (left + right),
                bound,
                kink: Kink::Interval { left, right },
                evaluations: 4,
            };
        }
        _ => Kink::Unresolved,
    };
    Derivative {
        value,
        bound,
        kink,
        evaluations: 2,
    }
}

#[test]
fn the_judgement_is_its_definitions_element_by_element() {
    let mut rng = SplitMix64::new(7, 0);
    let (mut tensors_seen, mut with_kinks, mut failing) = (0, 0, 0);
    for case in 0..300 {
        // Three tensors, one of them sometimes empty.
        let sizes = [
            1 + rng.below(12),
            rng.below(4) * rng.below(6),
            1 + rng.below(30),
        ];
        let layout = Layout::new(
            sizes
                .iter()
                .enumerate()
                .map(|(k, &n)| TensorSpec::new(format!("t{k}"), [n])),
        )
        .unwrap();
        let n = layout.len();
        // Every coordinate, or a sample of them.
        let coordinates: Vec<usize> = if case % 3 == 0 {
            rng.sample(n, n / 2 + 1)
        } else {
            (0..n).collect()
        };
        let mut by_index: Vec<Option<Derivative>> = vec![None; n];
        let derivatives: Vec<Derivative> = coordinates
            .iter()
            .map(|&i| {
                let d = random_derivative(&mut rng);
                by_index[i] = Some(d);
                d
            })
            .collect();
        // The analytic gradient: near the numeric one, sometimes far.
        let g: Vec<f64> = (0..n)
            .map(|i| {
                let reference = by_index[i].map_or(rng.unit(), |d| d.value);
                let off = match rng.below(4) {
                    0 => 0.0,
                    1 => by_index[i].map_or(0.0, |d| d.bound) * rng.unit(),
                    2 => reference.abs() * 1e-3 * rng.sign(),
                    _ => reference.abs() * 10f64.powf(-12.0 * rng.unit()) * rng.sign(),
                };
                reference + off
            })
            .collect();
        let tolerance = (case % 4 == 1).then(|| (10f64.powf(-6.0 * rng.unit()), 1e-9));
        let checker = match tolerance {
            Some((rtol, atol)) => Checker::new().tolerance(rtol, atol),
            None => Checker::new(),
        };
        let noise = NoiseEstimate {
            sigma: 1e-16,
            status: NoiseStatus::Unsettled,
            evaluations: 48,
            precision: Precision::F64,
            spacing: 1e-9,
        };
        let oracle = Oracle::new(
            &checker,
            &layout,
            0.5,
            noise,
            &coordinates,
            &derivatives,
            Instant::now(),
        );
        let report = oracle
            .judge(&Tensors::new(layout.clone(), g.clone()).unwrap())
            .unwrap();
        for (k, tensor) in report.tensors.iter().enumerate() {
            let want = expected(layout.range(k), &by_index, &g, tolerance);
            let offset = layout.range(k).start;
            let got = Expected {
                checked: tensor.checked,
                agree: tensor.agree,
                disagree: tensor.disagree,
                unresolved: tensor.unresolved,
                kink: tensor.kink,
                kink_outside: tensor.kink_outside,
                kink_floor: tensor.kink_floor.map(f64::to_bits),
                difference: tensor.difference.to_bits(),
                threshold: tensor.threshold.to_bits(),
                max_abs_error: tensor.max_abs_error.map(f64::to_bits),
                passed: tensor.passed,
                top: tensor.top.iter().map(|w| offset + w.index[0]).collect(),
            };
            assert_eq!(got, want, "case {case}, tensor {k}");
            tensors_seen += 1;
            with_kinks += usize::from(want.kink > 0);
            failing += usize::from(!want.passed);
        }
        let all = expected(0..n, &by_index, &g, tolerance);
        assert_eq!(report.difference.to_bits(), all.difference, "case {case}");
        assert_eq!(
            report.noise_threshold.to_bits(),
            all.threshold,
            "case {case}"
        );
    }
    // The cases reach every branch: kinks, failures and passes.
    eprintln!("{tensors_seen} tensors judged: {with_kinks} with kinks, {failing} failing");
    assert_eq!(tensors_seen, 900);
    assert!(
        with_kinks > 100 && failing > 100 && failing < 800,
        "{with_kinks} {failing}"
    );
}
