//! The MLP's generic engine: the forward pass and cost at any scalar type
//! (`T:` [`Real`], i.e. `num_dual::DualNum<f64>`), built from the same formulas as the fast
//! `f64` paths (`super::formulas`, [`Activation::apply`](super::Activation::apply)) but with its
//! own plain loops. At `f64` it is the cost (equal to [`Mlp::cost`] up to the order of
//! summation), and at [`Dual64`] seeded with a direction `v` it returns `J(θ)` and the exact
//! directional derivative `∇J(θ)·v` from one forward pass, the oracle of
//! [`gradproof::Reference::Dual`]. Independent of the hand-written backward pass, which it checks.
//!
//! Kinks: a ReLU (or leaky ReLU) at exactly `z = 0` takes its branch on `z > 0`, as the forward
//! pass and the hand-written backward pass do, so its derivative there is the left one (0 for
//! ReLU, the leak slope for leaky ReLU), the one the backward pass uses.

use gradproof::num_dual::Dual64;
use ndarray::ArrayView2;

use super::activation::DropoutMask;
use super::formulas::{Real, mean_cost, squared_weights, weighted_loss_sum};
use super::mlp::Mlp;
use crate::error::{Error, Result};

/// `Z = W·A + b` for row-major `W` (`rows × cols`), `A` (`cols × m`) and `b` (`rows`), into `z`
/// (`rows × m`), accumulating over `k` in order.
fn affine<T, A>(w: &[T], b: &[T], input: &[A], z: &mut Vec<T>, rows: usize, cols: usize, m: usize)
where
    T: Real + std::ops::Mul<A, Output = T>,
    A: Copy,
{
    z.clear();
    z.resize(rows * m, T::from(0.0));
    for (i, row) in z.chunks_exact_mut(m).enumerate() {
        for (k, &weight) in w[i * cols..(i + 1) * cols].iter().enumerate() {
            for (out, &a) in row.iter_mut().zip(&input[k * m..(k + 1) * m]) {
                *out += weight * a;
            }
        }
        for out in row.iter_mut() {
            *out += b[i];
        }
    }
}

impl Mlp {
    /// The cost [`Mlp::cost_masked`] evaluated at any scalar type: `J(θ)` at `f64` (the same
    /// formula, summed in a simpler order: equal to about 1e-15 relative), `J(θ) + (∇J·v)·ε` at
    /// [`Dual64`] with `θᵢ = Dual64::new(θᵢ, vᵢ)`.
    ///
    /// ```
    /// use fraudnet::MlpProblem;
    /// let (problem, theta) = MlpProblem::random(&[4, 5, 3, 1], 6, 2)?;
    /// let (mlp, x, y) = (problem.mlp(), problem.x().view(), problem.y().view());
    /// let generic = mlp.cost_generic(theta.values(), x, y, None)?;
    /// let fused = mlp.cost(theta.values(), x, y)?;
    /// assert!((generic - fused).abs() <= 1e-15 * fused.abs());
    /// # Ok::<(), fraudnet::Error>(())
    /// ```
    pub fn cost_generic<T>(
        &self,
        theta: &[T],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        mask: Option<&DropoutMask>,
    ) -> Result<T>
    where
        T: Real,
    {
        self.layout().expect_len("parameters θ", theta.len())?;
        Self::expect_labels(x, y)?;
        // The shapes of X and the mask do not depend on θ's type: check them on a stand-in.
        self.expect_data(&vec![0.0; theta.len()], x)?;
        self.expect_mask(mask, x.ncols())?;
        let (sizes, depth, m) = (self.sizes(), self.depth(), x.ncols());
        let input: Vec<f64> = match x.as_slice() {
            Some(x) => x.to_vec(),
            None => x.iter().copied().collect(),
        };
        let (mut z, mut a): (Vec<T>, Vec<T>) = (Vec::new(), Vec::new());
        for l in 1..=depth {
            let (w, b) = self.layer_slices(theta, l);
            if l == 1 {
                affine(w, b, &input, &mut z, sizes[1], sizes[0], m);
            } else {
                affine(w, b, &a, &mut z, sizes[l], sizes[l - 1], m);
            }
            if l < depth {
                a.clear();
                a.extend(z.iter().map(|&v| self.activation().apply(v)));
                if let Some(mask) = mask {
                    let factors = &mask.layers()[l - 1];
                    for (v, &k) in a.iter_mut().zip(factors.iter()) {
                        *v *= k;
                    }
                }
            }
        }
        let sum = weighted_loss_sum(
            self.cost_form(),
            self.positive_weight(),
            z.iter().copied(),
            y.iter().copied(),
        );
        let squares = || squared_weights((1..=depth).map(|l| self.layer_slices(theta, l).0));
        Ok(mean_cost(sum, m, self.l2(), squares))
    }

    /// `J(θ)` and the exact directional derivative `∇J(θ)·v` from one forward pass in dual
    /// numbers. `direction` is laid out like `θ` and must be finite.
    ///
    /// ```
    /// use fraudnet::MlpProblem;
    /// let (problem, theta) = MlpProblem::random(&[3, 4, 1], 5, 1)?;
    /// let (mlp, x, y) = (problem.mlp(), problem.x().view(), problem.y().view());
    /// let gradient = mlp.gradient(theta.values(), x, y)?;
    /// let v: Vec<f64> = (0..theta.values().len()).map(|i| (i as f64).sin()).collect();
    /// let (cost, derivative) = mlp.cost_and_derivative(theta.values(), &v, x, y, None)?;
    /// let expected: f64 = gradient.values().iter().zip(&v).map(|(g, v)| g * v).sum();
    /// assert!((derivative - expected).abs() < 1e-14);
    /// assert!((cost - mlp.cost(theta.values(), x, y)?).abs() < 1e-15);
    /// # Ok::<(), fraudnet::Error>(())
    /// ```
    pub fn cost_and_derivative(
        &self,
        theta: &[f64],
        direction: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        mask: Option<&DropoutMask>,
    ) -> Result<(f64, f64)> {
        self.layout().expect_len("direction v", direction.len())?;
        if let Some(i) = direction.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidSetting(format!(
                "the direction must be finite, got {} at {}",
                direction[i],
                self.layout().locate(i)?
            )));
        }
        let seeded: Vec<Dual64> = theta
            .iter()
            .zip(direction)
            .map(|(&t, &v)| Dual64::new(t, v))
            .collect();
        let j = self.cost_generic(&seeded, x, y, mask)?;
        Ok((j.re, j.eps))
    }
}
