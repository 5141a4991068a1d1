//! The zoo's independent oracle: the exact gradient of each model from `Dual64` passes of its
//! cost, never from the checker. At a smooth coordinate it is one number; at a kink it is the
//! interval between the one-sided derivatives, each from one dual pass with every tie broken
//! towards its side (`kinkops::one_sided`): the right derivative along `eᵢ`, the left one as
//! minus the right one along `−eᵢ`. Any value in the interval is a valid subgradient (along the
//! coordinate); a gradient's error is its distance to the truth, measured per tensor. Knows
//! nothing of the checker.

use gradproof::Layout;

use super::kinkops::one_sided;
use super::model::{Model, dual_derivative};

/// A tensor differs from the truth when its relative error exceeds this: far above the
/// rounding of a correct backward pass (≤ 1e-12, asserted), far below any bug of the catalogue
/// that changes the tensor.
pub const DIFFERS: f64 = 1e-10;

/// The exact gradient at a model's `θ`: `[lo, hi]` per coordinate, `lo == hi` off kinks.
pub struct Truth {
    lo: Vec<f64>,
    hi: Vec<f64>,
}

impl Truth {
    /// The one-sided derivatives of every coordinate at the model's `θ`.
    pub fn of<M: Model>(model: &M) -> Truth {
        let theta = model.theta();
        let mut direction = vec![0.0; theta.len()];
        let (mut lo, mut hi) = (Vec::new(), Vec::new());
        for i in 0..theta.len() {
            direction[i] = 1.0;
            let right = one_sided(|| dual_derivative(model, theta, &direction));
            direction[i] = -1.0;
            let left = -one_sided(|| dual_derivative(model, theta, &direction));
            direction[i] = 0.0;
            lo.push(left.min(right));
            hi.push(left.max(right));
        }
        Truth { lo, hi }
    }

    /// The coordinates whose one-sided derivatives differ (the cost has a kink there).
    pub fn kinks(&self) -> Vec<usize> {
        (0..self.lo.len())
            .filter(|&i| self.lo[i] < self.hi[i])
            .collect()
    }

    /// For each coordinate, whether it is a kink.
    pub fn kink_mask(&self) -> Vec<bool> {
        (0..self.lo.len())
            .map(|i| self.lo[i] < self.hi[i])
            .collect()
    }

    /// The nearest valid value to `g` at coordinate `i`.
    fn nearest(&self, i: usize, g: f64) -> f64 {
        g.clamp(self.lo[i], self.hi[i])
    }

    /// Per tensor, the relative error `‖g − t‖ / ‖t‖` of `gradient` over the coordinates
    /// `seen` (all, or a sample), `t` the nearest valid gradient (the exact one off kinks, the
    /// nearest point of the interval at kinks); 0 for a tensor with nothing seen or no error,
    /// infinite for an error beside a zero truth.
    pub fn errors(&self, layout: &Layout, gradient: &[f64], seen: &[bool]) -> Vec<f64> {
        self.errors_within(layout, gradient, seen, seen)
    }

    /// [`Truth::errors`] of the coordinates in `part` only, relative to the truth's norm over
    /// all those `seen`.
    pub fn errors_within(
        &self,
        layout: &Layout,
        gradient: &[f64],
        seen: &[bool],
        part: &[bool],
    ) -> Vec<f64> {
        (0..layout.tensors().len())
            .map(|k| {
                let (mut error, mut norm) = (0.0_f64, 0.0_f64);
                for i in layout.range(k).filter(|&i| seen[i]) {
                    let truth = self.nearest(i, gradient[i]);
                    if part[i] {
                        error = error.hypot(gradient[i] - truth);
                    }
                    norm = norm.hypot(truth);
                }
                match (error, norm) {
                    (0.0, _) => 0.0,
                    (_, 0.0) => f64::INFINITY,
                    _ => error / norm,
                }
            })
            .collect()
    }
}
