//! A model's fast path asked for the points of a difference together
//! ([`CoordinateCosts::costs`]) gives the very report that evaluating one point at a time
//! through [`Problem::cost_with_signature`] gives: the same derivatives, bounds, verdicts and
//! evaluation counts, in every method, mode and step rule, on a cost with kinks (so that
//! re-evaluations at smaller steps happen too), and the same first error when a point's cost
//! is not finite; and a fast path that answers fewer points than asked is asked again. The same
//! holds when two coordinates' first points are asked for in one call
//! ([`CoordinateCosts::costs_of_two`]).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use gradproof::problem::CoordinateCosts;
use gradproof::{
    Checker, Layout, Method, Mode, Problem, Report, Result, StepRule, TensorSpec, Tensors,
};

/// `Σ wᵢ·relu(aᵢ·θᵢ − bᵢ) + ½·Σ θᵢ²·cᵢ` over two tensors, some elements right on their kink,
/// with a hand-written gradient that is wrong in one element when `bug` (and a NaN cost past
/// `nan_above` along coordinate 0, when given).
struct Hinges {
    layout: Layout,
    bug: bool,
    nan_above: Option<f64>,
    /// Whether the model has a fast path (computing the very same costs), and whether it
    /// answers points asked for together in one call (`costs` overridden).
    fast: bool,
    batched: bool,
    /// Whether its `costs` answers only the first point (a fast path that stops short
    /// without an error: the engine asks for the rest one at a time).
    short: bool,
    batches: AtomicUsize,
    /// Whether it answers two coordinates' points in one call (`costs_of_two` overridden),
    /// and how often it was asked to.
    paired: bool,
    pairs: AtomicUsize,
}

const N: usize = 12;

fn coefficients(i: usize) -> (f64, f64, f64, f64) {
    let s = |k: f64| ((i as f64 + 1.0) * k).sin();
    (
        1.0 + s(2.1).abs(),
        s(3.7),
        0.5 + s(5.3).abs(),
        0.3 + s(1.9).abs(),
    )
}

fn theta() -> Vec<f64> {
    (0..N)
        .map(|i| {
            let (a, b, _, _) = coefficients(i);
            // Every third element exactly on its kink (aᵢ·θᵢ = bᵢ where b/a is exact enough).
            if i % 3 == 0 {
                b / a
            } else {
                0.7 * (i as f64).cos()
            }
        })
        .collect()
}

impl Hinges {
    fn new(bug: bool, nan_above: Option<f64>, fast: bool, batched: bool) -> Hinges {
        let layout = Layout::new([TensorSpec::new("W", [3, 2]), TensorSpec::new("b", [6])])
            .expect("valid layout");
        Hinges {
            layout,
            bug,
            nan_above,
            fast,
            batched,
            short: false,
            batches: AtomicUsize::new(0),
            paired: false,
            pairs: AtomicUsize::new(0),
        }
    }

    fn value(&self, theta: &[f64]) -> (f64, u64) {
        let mut sum = 0.0;
        let mut hasher = DefaultHasher::new();
        for (i, &t) in theta.iter().enumerate() {
            let (a, b, w, c) = coefficients(i);
            let z = a * t - b;
            (z > 0.0).hash(&mut hasher);
            sum += w * z.max(0.0) + 0.5 * t * t * c;
        }
        // Only on the line along coordinate 0 (the noise probe moves every coordinate).
        match self.nan_above {
            Some(limit) if theta[0] > limit && theta[1..] == self::theta()[1..] => {
                (f64::NAN, hasher.finish())
            }
            _ => (sum, hasher.finish()),
        }
    }
}

impl Problem for Hinges {
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn cost(&self, theta: &[f64]) -> Result<f64> {
        Ok(self.value(theta).0)
    }

    fn cost_with_signature(&self, theta: &[f64]) -> Result<(f64, Option<u64>)> {
        let (cost, signature) = self.value(theta);
        Ok((cost, Some(signature)))
    }

    fn gradient(&self, theta: &[f64]) -> Result<Tensors> {
        let mut gradient: Vec<f64> = theta
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let (a, b, w, c) = coefficients(i);
                let slope = if a * t - b > 0.0 { w * a } else { 0.0 };
                slope + t * c
            })
            .collect();
        if self.bug {
            gradient[7] += 1e-3;
        }
        Tensors::new(self.layout.clone(), gradient)
    }

    fn coordinate_costs(&self, theta: &[f64]) -> Option<Result<Box<dyn CoordinateCosts + '_>>> {
        if !self.fast {
            return None;
        }
        Some(Ok(Box::new(Fast {
            model: self,
            theta: theta.to_vec(),
        })))
    }
}

/// The fast path: the full cost with one coordinate moved (so every difference between the
/// two ways of asking is the engine's).
struct Fast<'a> {
    model: &'a Hinges,
    theta: Vec<f64>,
}

impl CoordinateCosts for Fast<'_> {
    fn cost(&self, coordinate: usize, value: f64) -> Result<(f64, Option<u64>)> {
        let mut moved = self.theta.clone();
        moved[coordinate] = value;
        self.model.cost_with_signature(&moved)
    }

    fn costs(
        &self,
        coordinate: usize,
        values: &[f64],
        out: &mut Vec<(f64, Option<u64>)>,
    ) -> Result<()> {
        if !self.model.batched {
            for &value in values {
                out.push(self.cost(coordinate, value)?);
            }
            return Ok(());
        }
        self.model.batches.fetch_add(1, Ordering::Relaxed);
        if self.model.short {
            out.push(self.cost(coordinate, values[0])?);
            return Ok(());
        }
        // Computed last point first, to show the order asked for is what counts.
        let mut results = values
            .iter()
            .rev()
            .map(|&value| self.cost(coordinate, value))
            .collect::<Result<Vec<_>>>()?;
        results.reverse();
        out.extend(results);
        Ok(())
    }

    fn costs_of_two(
        &self,
        requests: [(usize, &[f64]); 2],
        out: [&mut Vec<(f64, Option<u64>)>; 2],
    ) -> [Result<()>; 2] {
        let [(a, first), (b, second)] = requests;
        let [first_out, second_out] = out;
        if !self.model.paired {
            return [
                self.costs(a, first, first_out),
                self.costs(b, second, second_out),
            ];
        }
        self.model.pairs.fetch_add(1, Ordering::Relaxed);
        // The second coordinate first, to show that each answer goes to its own line.
        let second_result = self.costs(b, second, second_out);
        [self.costs(a, first, first_out), second_result]
    }

    fn base_signature(&self) -> Option<u64> {
        Some(self.model.value(&self.theta).1)
    }
}

fn without_time(mut report: Report) -> String {
    report.seconds = 0.0;
    format!("{report:?}")
}

#[test]
fn asking_for_points_together_changes_nothing_in_the_report() {
    let modes = [
        Mode::Exhaustive,
        Mode::Sampled { per_tensor: 3 },
        Mode::Directional { top: 2 },
    ];
    let rules = [
        StepRule::Scaled(1.0),
        StepRule::Fixed(1e-7),
        StepRule::Fixed(0.3),
        StepRule::Adaptive,
    ];
    let mut batches = 0;
    let mut pairs = 0;
    let mut runs = 0;
    for bug in [false, true] {
        for method in Method::ALL {
            for mode in modes {
                for rule in rules {
                    let checker = Checker::new().method(method).mode(mode).step_rule(rule);
                    let one_at_a_time = Hinges::new(bug, None, false, false);
                    let fast = Hinges::new(bug, None, true, false);
                    let together = Hinges::new(bug, None, true, true);
                    let a = checker.check(&one_at_a_time, &theta()).expect("checks");
                    let f = checker.check(&fast, &theta()).expect("checks");
                    let b = checker.check(&together, &theta()).expect("checks");
                    let short = Hinges {
                        short: true,
                        ..Hinges::new(bug, None, true, true)
                    };
                    let s = checker.check(&short, &theta()).expect("checks");
                    let paired = Hinges {
                        paired: true,
                        ..Hinges::new(bug, None, true, true)
                    };
                    let p = checker.check(&paired, &theta()).expect("checks");
                    let context = format!("{method:?} {mode:?} {rule:?} bug={bug}");
                    if !bug {
                        assert!(a.failing().is_empty(), "{context}: {a}");
                    } else if mode == Mode::Exhaustive && rule == StepRule::Scaled(1.0) {
                        assert_eq!(a.failing(), ["db"], "{context}: {a}");
                    }
                    let a = without_time(a);
                    assert_eq!(a, without_time(f), "{context} (fast path)");
                    assert_eq!(a, without_time(b), "{context} (points together)");
                    assert_eq!(a, without_time(s), "{context} (short answers)");
                    assert_eq!(a, without_time(p), "{context} (two coordinates together)");
                    batches += together.batches.load(Ordering::Relaxed);
                    pairs += paired.pairs.load(Ordering::Relaxed);
                    runs += 1;
                }
            }
        }
    }
    assert!(batches > 0, "no batch was asked for in {runs} checks");
    assert!(
        pairs > 0,
        "no two coordinates were asked for together in {runs} checks"
    );
}

#[test]
fn a_non_finite_point_asked_for_together_is_the_same_error() {
    let limit = theta()[0] + 1e-9;
    for method in Method::ALL {
        let checker = Checker::new().method(method);
        let a = checker.check(&Hinges::new(false, Some(limit), false, false), &theta());
        let together = Hinges::new(false, Some(limit), true, true);
        let b = checker.check(&together, &theta());
        let paired = Hinges {
            paired: true,
            ..Hinges::new(false, Some(limit), true, true)
        };
        let p = checker.check(&paired, &theta());
        let (a, b, p) = (
            a.expect_err("NaN"),
            b.expect_err("NaN"),
            p.expect_err("NaN"),
        );
        assert_eq!(a.to_string(), b.to_string(), "{method:?}");
        assert_eq!(
            a.to_string(),
            p.to_string(),
            "{method:?} (two coordinates together)"
        );
        assert!(a.to_string().contains("W[0, 0]"), "{a}");
    }
}
