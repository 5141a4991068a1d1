//! What a line does at a kink of the cost: the step shrunk across it, and a kink that no step
//! avoids straddled by the one-sided derivatives from points that stay on one piece each (the
//! one-sided stencils of each method's order), into the interval a hand-written value is judged
//! against. Also what the exact oracle falls back to at a tie. Knows nothing of tensors, modes
//! or reports.

use crate::derivative::{Derivative, Kink};
use crate::error::{Error, Result};
use crate::line::{Difference, KINK_RETRIES, Line, Sample, shrink};
use crate::method::Method;
use crate::problem::Problem;
use crate::settings::{Checker, NOISE_SAFETY_FACTOR};
use crate::step_rule::StepRule;

/// A one-sided derivative: `(value, truncation, the piece its points lie on if only one)`.
type OneSided = (f64, f64, Option<Option<u64>>);

/// The one-sided stencil of the same order as the method, on `side` (+1: the points
/// `θ, θ+h, …, θ+p·h`; −1: `θ, θ−h, …, θ−p·h`), sorted by offset: what a kink is straddled
/// with, each side's points staying on one piece of the cost. The weights are the derivatives
/// at 0 of the Lagrange basis on the nodes `0, side·1, …, side·p`.
fn one_sided(method: Method, side: f64) -> Vec<(f64, f64)> {
    let nodes: Vec<f64> = (0..=method.order()).map(|k| side * f64::from(k)).collect();
    let mut stencil: Vec<(f64, f64)> = nodes
        .iter()
        .enumerate()
        .map(|(k, &x)| {
            let weight = if k == 0 {
                nodes[1..].iter().map(|&m| -1.0 / m).sum()
            } else {
                let others = || nodes.iter().enumerate().filter(move |&(j, _)| j != k);
                let numerator: f64 = others().skip(1).map(|(_, &m)| -m).product();
                let denominator: f64 = others().map(|(_, &m)| x - m).product();
                numerator / denominator
            };
            (x, weight)
        })
        .collect();
    stencil.sort_by(|a, b| a.0.total_cmp(&b.0));
    stencil
}

/// A kink no step resolves, after `evaluations`.
fn unresolved(evaluations: usize) -> Derivative {
    Derivative {
        value: 0.0,
        bound: 0.0,
        kink: Kink::Unresolved,
        evaluations,
    }
}

impl<P: Problem + ?Sized> Line<'_, P> {
    /// The one-sided derivative on `side` (−1: left, +1: right) by the method's one-sided
    /// stencil at step `h`, its truncation estimate, and the signature of the one piece the
    /// stencil's points off `θ` lie on (`None` if they do not; `Some(None)` without
    /// signatures). The estimate is the whole change from repeating the stencil at `2h`, not
    /// its Richardson share: without signatures another kink may lie within the stencil, and
    /// the change is what shows it.
    fn one_sided(&mut self, method: Method, h: f64, side: f64) -> Result<OneSided> {
        let stencil = one_sided(method, side);
        let mut samples: Vec<Sample> = Vec::new();
        let value = self.combine(&mut samples, &stencil, 1.0, h)?;
        let wide = self.combine(&mut samples, &stencil, 2.0, h)?;
        let truncation = (wide - value).abs();
        // θ itself may sit on either piece (it is the kink): only the points off it must agree.
        let mut pieces = samples.iter().filter(|(o, _, _)| *o != 0.0).map(|s| s.2);
        let first = pieces.next().flatten();
        let piece = pieces.all(|s| s == first).then_some(first);
        Ok((value, truncation, piece))
    }
}

impl Checker {
    /// The derivative along one line (a coordinate, or a direction): pick the step,
    /// difference, and shrink the step while a kink is crossed; a line that crosses one even at
    /// the smallest step is straddled by its one-sided derivatives ([`Kink::Interval`]). With
    /// the analytic value as a `hint`, a difference that agrees with it within its roundoff
    /// bound is taken as it is, without a truncation estimate, and one that disagrees at a
    /// step far above the method's natural one is [`confirmed`](Checker::confirmed). The error
    /// bound scales the rounding of `θ ± h` by `derivative_scale` (by default the derivative's
    /// own size).
    pub(crate) fn derivative<P: Problem + ?Sized>(
        &self,
        c: &mut Line<'_, P>,
        hint: Option<f64>,
        derivative_scale: Option<f64>,
    ) -> Result<Derivative> {
        let (first, round) = self.first_step(c)?;
        let found = match self.derivative_from(c, first, round, hint, derivative_scale) {
            // The adaptive rule trusts its error model up to 100 times the pilot step, which
            // can reach where the cost is not finite (a logarithm's domain): the line is then
            // differenced from the pilot step, where the rule started.
            Err(error @ Error::NonFinite { .. }) if self.step == StepRule::Adaptive => {
                let pilot_rule = self.natural_rule();
                let (pilot, round) = pilot_rule.first_step(c)?;
                if pilot >= first {
                    return Err(error);
                }
                pilot_rule.derivative_from(c, pilot, round, hint, derivative_scale)?
            }
            found => found?,
        };
        match hint {
            Some(analytic) => self.confirmed(c, found, analytic, derivative_scale),
            None => Ok(found),
        }
    }

    /// The fast-path request [`Checker::derivative`] makes first on a coordinate line (its first
    /// difference's points), when it is known before any evaluation: not for the adaptive step
    /// rule, which evaluates to choose the step.
    pub(crate) fn first_request<P: Problem + ?Sized>(
        &self,
        c: &mut Line<'_, P>,
    ) -> Option<(usize, Vec<f64>)> {
        if self.step == StepRule::Adaptive {
            return None;
        }
        let (first, _) = self.first_step(c).ok()?;
        c.fast_request(&[], self.method.stencil(), 1.0, first)
    }

    /// `found` at a step far above the method's natural step
    /// ([`StepRule::far_above_natural`]), corroborated there when it disagrees with `analytic`,
    /// straddles a kink or is unresolved: a cost nearly piecewise linear at the large step's
    /// scale (a logistic loss saturated by a step of 1e3 is linear on each side of θ) gives a
    /// difference quotient that hardly changes with the step, so repeating the stencil at twice
    /// the step shows no truncation, and looks kinked, so a smooth θ gets the wide interval of
    /// the asymptotic slopes. Where the natural step
    /// finds the value wrong and `found` does not (an interval that agrees, an unresolved
    /// line), the natural step's derivative is returned: wrong, as a check at the default step
    /// says. Where the natural step agrees and `found` does not, or the natural step cannot
    /// resolve the line, it is [`Kink::Unresolved`] at the step asked for: no evidence either
    /// way, and the advice is a smaller step. A smooth agreement is taken as it is, the same
    /// conclusion at both steps keeps `found`'s numbers.
    pub(crate) fn confirmed<P: Problem + ?Sized>(
        &self,
        c: &mut Line<'_, P>,
        found: Derivative,
        analytic: f64,
        derivative_scale: Option<f64>,
    ) -> Result<Derivative> {
        let agrees = found.agrees(analytic);
        if agrees && found.kink == Kink::None {
            return Ok(found);
        }
        if !self
            .step
            .far_above_natural(self.method, c.scale(), c.base.unit_roundoff)
        {
            return Ok(found);
        }
        let natural_rule = self.natural_rule();
        let (natural, round) = natural_rule.first_step(c)?;
        let again =
            natural_rule.derivative_from(c, natural, round, Some(analytic), derivative_scale)?;
        let evaluations = c.evaluations;
        let wrong = |d: &Derivative| !d.unresolved() && !d.agrees(analytic);
        let same = (again.unresolved(), again.agrees(analytic)) == (found.unresolved(), agrees);
        Ok(if same {
            // The same conclusion at both steps: the step asked for gives the numbers.
            Derivative {
                evaluations,
                ..found
            }
        } else if wrong(&again) {
            // Wrong at the natural step, where the large step's wide interval let it through
            // or its line was unresolved: the natural step's numbers stand (what a check at the
            // default step says).
            Derivative {
                evaluations,
                ..again
            }
        } else {
            Derivative {
                kink: Kink::Unresolved,
                evaluations,
                ..found
            }
        })
    }

    /// This checker with the scaled rule at `c = 1`: the method's natural step (the adaptive
    /// rule's pilot).
    fn natural_rule(&self) -> Checker {
        Checker {
            step: StepRule::Scaled(1.0),
            ..self.clone()
        }
    }

    /// [`Checker::derivative`] from the step `first` (`round`: kept exact on a coordinate).
    fn derivative_from<P: Problem + ?Sized>(
        &self,
        c: &mut Line<'_, P>,
        first: f64,
        round: bool,
        hint: Option<f64>,
        derivative_scale: Option<f64>,
    ) -> Result<Derivative> {
        let theta_i = c.scale();
        let noise = (c.base.sigma, c.base.unit_roundoff);
        let gain = self.method.noise_gain();
        let mut step = first;
        // The smallest jump of the slope seen so far: a smaller step that sees no kink must have
        // been able to see it (signatures always can; the generic test only above the noise).
        let mut jump = f64::INFINITY;
        let mut crossed_before = false;
        for _ in 0..=KINK_RETRIES {
            // Once a kink was crossed, a smaller step that agrees with the hint on one side
            // must still look at the other: no shortcut.
            let settled = |value: f64| {
                !crossed_before
                    && hint.is_some_and(|g| {
                        let bound =
                            Checker::error_bound(gain, step, 0.0, noise, theta_i, value.abs());
                        (g - value).abs() <= NOISE_SAFETY_FACTOR * bound
                    })
            };
            let Difference {
                value,
                truncation,
                crossed,
                unseen,
            } = c.difference(self.method, step, &settled)?;
            let Some(seen) = crossed else {
                // Too noisy at this step to see the kink seen at a larger one: straddle it.
                if c.slope_noise(step) >= 0.5 * jump {
                    break;
                }
                let scale = derivative_scale.unwrap_or(value.abs());
                // A kink too small to tell from the noise moves the difference by up to its
                // share of the jump: allowed as it is, not scaled by the safety factor like
                // the noise (a value outside the one-sided slopes by more is still wrong).
                let bound = Checker::error_bound(gain, step, truncation, noise, theta_i, scale)
                    + self.method.kink_share() * unseen / NOISE_SAFETY_FACTOR;
                return Ok(Derivative::smooth(value, bound, c.evaluations));
            };
            jump = jump.min(seen);
            crossed_before = true;
            step = shrink(step, theta_i, round);
        }
        self.one_sided_derivatives(c, first, round, derivative_scale)
    }

    /// The one-sided derivatives along a line that crosses a kink at `θ`: on each side the
    /// method's one-sided stencil of the same order, from the step `first` shrunk (by the same
    /// schedule as across kinks) while the bound shrinks, at the step of the smallest bound
    /// whose points off `θ` lie on one piece. A side whose points never do (another kink closer
    /// than the smallest step) leaves the kink unresolved.
    pub(crate) fn one_sided_derivatives<P: Problem + ?Sized>(
        &self,
        c: &mut Line<'_, P>,
        first: f64,
        round: bool,
        derivative_scale: Option<f64>,
    ) -> Result<Derivative> {
        let theta_i = c.scale();
        let noise = (c.base.sigma, c.base.unit_roundoff);
        let mut sides = [(0.0, 0.0, None); 2];
        for (slot, side) in sides.iter_mut().zip([-1.0, 1.0]) {
            let gain: f64 = one_sided(self.method, side)
                .iter()
                .map(|(_, w)| w.abs())
                .sum();
            let mut step = first;
            // The (value, bound) with the smallest bound among the steps whose points lie on
            // one piece; shrinking stops once the bound grows again (the noise taking over) on
            // a value that agrees with the best so far. A smaller step that disagrees with it
            // beyond both bounds discredits the larger: its stencil reached another kink (its
            // twice-as-wide repeat, reaching farther still, can agree with it by chance, so its
            // truncation estimate does not show it), and shrinking goes on.
            let mut best: Option<(f64, f64, Option<u64>)> = None;
            for _ in 0..=KINK_RETRIES {
                let (value, truncation, piece) = c.one_sided(self.method, step, side)?;
                if let Some(piece) = piece {
                    let scale = derivative_scale.unwrap_or(value.abs());
                    let bound = Checker::error_bound(gain, step, truncation, noise, theta_i, scale);
                    match best {
                        Some((previous, smallest, _))
                            if bound >= smallest
                                && (value - previous).abs() <= bound + smallest =>
                        {
                            break;
                        }
                        _ => best = Some((value, bound, piece)),
                    }
                }
                step = shrink(step, theta_i, round);
            }
            let Some(found) = best else {
                return Ok(unresolved(c.evaluations));
            };
            *slot = found;
        }
        // On one kink, θ lies on the piece of one side (signatures put the kink itself on one
        // of its pieces, as `z > 0` does). A θ on neither is where kinks of opposite
        // orientation meet (a ReLU unit whose pre-activations are all 0, along a weight whose
        // inputs differ in sign): conventions taken kink by kink (relu′(0) = 0) then add up to
        // values outside the one-sided derivatives, which no longer bound them.
        let [(_, _, left_piece), (_, _, right_piece)] = sides;
        if let (Some(at), Some(left), Some(right)) = (c.base.signature, left_piece, right_piece)
            && at != left
            && at != right
        {
            return Ok(unresolved(c.evaluations));
        }
        let sides = sides.map(|(value, bound, _)| (value, bound));
        let [(left, left_bound), (right, right_bound)] = sides;
        Ok(Derivative {
            value: 0.5 * (left + right),
            bound: left_bound.max(right_bound),
            kink: Kink::Interval { left, right },
            evaluations: c.evaluations,
        })
    }

    /// The one-sided derivatives along a line from the step rule's first step: what the exact
    /// oracle falls back to where a dual pass met a tie at a kink.
    pub(crate) fn straddle<P: Problem + ?Sized>(
        &self,
        c: &mut Line<'_, P>,
        derivative_scale: Option<f64>,
    ) -> Result<Derivative> {
        // The exact oracle takes no step of its own (`--step` is not used): the natural one.
        let natural_rule = self.natural_rule();
        let (first, round) = natural_rule.first_step(c)?;
        natural_rule.one_sided_derivatives(c, first, round, derivative_scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-sided stencils differentiate polynomials up to the method's order exactly, from
    /// one side only.
    #[test]
    fn one_sided_stencils_are_exact_on_polynomials_of_their_order() {
        for method in Method::ALL {
            for side in [-1.0, 1.0] {
                let stencil = one_sided(method, side);
                assert_eq!(stencil.len() as i32, method.order() + 1);
                assert!(stencil.iter().all(|&(o, _)| o * side >= 0.0));
                for degree in 0..=method.order() {
                    let (x, h) = (0.7, 0.01);
                    let got: f64 = stencil
                        .iter()
                        .map(|&(o, w)| w * (x + o * h).powi(degree))
                        .sum::<f64>()
                        / h;
                    let exact = f64::from(degree) * x.powi((degree - 1).max(0));
                    assert!(
                        (got - exact).abs() < 1e-6,
                        "{method} {side} {degree}: {got}"
                    );
                }
            }
        }
        assert_eq!(
            one_sided(Method::Central, 1.0),
            [(0.0, -1.5), (1.0, 2.0), (2.0, -0.5)]
        );
    }
}
