//! One derivative along a line `t ↦ J(θ + t·d)` as an oracle gives it (a finite difference, an
//! exact dual-number derivative, or the two one-sided derivatives at a kink), with its error
//! bound, and the rule every check judges an analytic value by: within the bound of the
//! derivative, or of the interval between the one-sided derivatives at a kink. Knows nothing of
//! how the derivative was computed, nor of tensors or reports.

use crate::settings::NOISE_SAFETY_FACTOR;

/// One derivative along a line from an oracle (a finite difference, or an exact dual-number
/// derivative), with its error bound and what the line met at `θ`: a smooth piece, a kink
/// straddled by one-sided derivatives, or a kink no step could resolve.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Derivative {
    /// The derivative along the line (at a kink, the midpoint of the one-sided derivatives).
    pub(crate) value: f64,
    /// Its estimated error (roundoff + truncation, or the dual pass's rounding), before the
    /// safety factor; at a kink, the larger of the two one-sided derivatives' bounds.
    pub(crate) bound: f64,
    /// Whether the line crossed a kink even at the smallest step tried, and what was made of it.
    pub(crate) kink: Kink,
    /// Cost evaluations (or dual passes) spent.
    pub(crate) evaluations: usize,
}

/// What a line met at `θ`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kink {
    /// A smooth piece: `value` is the derivative.
    None,
    /// A kink, straddled by the one-sided derivatives from points that stay on one piece each:
    /// any value between them (widened by the bound) is a valid subgradient.
    Interval {
        /// The derivative from the left (`t → 0⁻`).
        left: f64,
        /// The derivative from the right (`t → 0⁺`).
        right: f64,
    },
    /// A kink closer than any step resolves: no evidence either way.
    Unresolved,
}

impl Derivative {
    /// A smooth derivative.
    pub(crate) fn smooth(value: f64, bound: f64, evaluations: usize) -> Derivative {
        Derivative {
            value,
            bound,
            kink: Kink::None,
            evaluations,
        }
    }

    /// The oracle's value closest to `analytic`: the derivative, or at a kink the nearest point
    /// of the interval between the one-sided derivatives.
    pub(crate) fn nearest(&self, analytic: f64) -> f64 {
        match self.kink {
            Kink::Interval { left, right } => analytic.clamp(left.min(right), left.max(right)),
            Kink::None | Kink::Unresolved => self.value,
        }
    }

    /// `|analytic − nearest|`: the distance to the derivative, or to the kink's interval.
    pub(crate) fn error(&self, analytic: f64) -> f64 {
        (analytic - self.nearest(analytic)).abs()
    }

    /// True when `analytic` is within the safety factor times the bound (of the derivative, or
    /// of the kink's interval), and the line was resolved.
    pub(crate) fn agrees(&self, analytic: f64) -> bool {
        self.kink != Kink::Unresolved && self.error(analytic) <= NOISE_SAFETY_FACTOR * self.bound
    }

    /// True at a kink no step could resolve.
    pub(crate) fn unresolved(&self) -> bool {
        self.kink == Kink::Unresolved
    }

    /// The one-sided derivatives `[left, right]` at a resolved kink.
    pub(crate) fn interval(&self) -> Option<[f64; 2]> {
        match self.kink {
            Kink::Interval { left, right } => Some([left, right]),
            Kink::None | Kink::Unresolved => None,
        }
    }
}
