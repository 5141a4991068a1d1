//! The MLP's forward pass: the cached one that the backward pass and training need
//! ([`Mlp::forward_masked`], one dense layer at a time), and the fused one that computes the cost,
//! its kink signature and the predictions without keeping a cache ([`Mlp::run_layers`]). Both use
//! the same formulas ([`super::super::formulas`], [`Activation::apply`]) in the same order, so
//! their values agree to the last bit. Knows nothing of the backward pass or of bugs.

use std::cell::RefCell;
use std::hash::Hasher;

use ndarray::{Array2, ArrayView2};

use super::{CostForm, Mlp};
use crate::error::Result;
use crate::model::activation::{Activation, DropoutMask};
use crate::model::formulas::{KinkHasher, sigmoid, weighted_loss_sum, write_kink_pattern};
use crate::model::linalg::{add_bias_relu, matmul, matmul_into, narrow_affine};

/// What the forward pass keeps for the backward pass: every layer's pre-activation `Z` and
/// activation `A` (layer 1 first; after the dropout mask, if any).
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    /// `Z1, Z2, …, ZL`.
    pub pre_activations: Vec<Array2<f64>>,
    /// `A1, A2, …, AL` (`AL` is the sigmoid output).
    pub activations: Vec<Array2<f64>>,
}

impl Forward {
    /// A hash of which hidden units are on the positive side of their kink (`Z > 0`) for which
    /// example: the signature of [`Mlp::cost_with_signature`] for the ReLU family.
    pub fn relu_signature(&self) -> u64 {
        let hidden = &self.pre_activations[..self.pre_activations.len() - 1];
        let mut hasher = KinkHasher::new();
        for z in hidden {
            let z = z.as_standard_layout();
            write_kink_pattern(&mut hasher, z.as_slice().expect("standard layout"));
        }
        hasher.finish()
    }
}

impl Mlp {
    /// The forward pass: `Zl = Wl·A(l−1) + bl`, the activation on hidden layers, sigmoid on the
    /// output.
    pub fn forward(&self, theta: &[f64], x: ArrayView2<'_, f64>) -> Result<Forward> {
        self.forward_masked(theta, x, None)
    }

    /// [`Mlp::forward`] with each hidden layer's activations multiplied by a dropout mask.
    pub fn forward_masked(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        mask: Option<&DropoutMask>,
    ) -> Result<Forward> {
        self.expect_data(theta, x)?;
        self.expect_mask(mask, x.ncols())?;
        let depth = self.depth();
        let mut pre_activations = Vec::with_capacity(depth);
        let mut activations: Vec<Array2<f64>> = Vec::with_capacity(depth);
        for l in 1..=depth {
            let (w, b) = self.layer(theta, l);
            let input = if l == 1 { x } else { activations[l - 2].view() };
            let z = dense_forward(w, b, input);
            let a = if l == depth {
                z.mapv(sigmoid)
            } else {
                let mut a = z.mapv(|v| self.hidden.apply(v));
                if let Some(mask) = mask {
                    a *= &mask.layers()[l - 1];
                }
                a
            };
            pre_activations.push(z);
            activations.push(a);
        }
        Ok(Forward {
            pre_activations,
            activations,
        })
    }

    /// The logistic cost `−(1/m) Σ wᵢ·[y·log(a) + (1 − y)·log(1 − a)] + (λ/2m) Σ ‖Wl‖²`, summed
    /// in example order, in the network's [`CostForm`] (`wᵢ = 1` and `λ = 0` unless set).
    pub fn cost(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
    ) -> Result<f64> {
        self.cost_masked(theta, x, y, None)
    }

    /// [`Mlp::cost`] with each hidden layer's activations multiplied by a dropout mask.
    pub fn cost_masked(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        mask: Option<&DropoutMask>,
    ) -> Result<f64> {
        Self::expect_labels(x, y)?;
        self.expect_data(theta, x)?;
        self.expect_mask(mask, x.ncols())?;
        Ok(self.evaluate(theta, x, y, mask, None))
    }

    /// The cost and a signature of the piece of the cost `θ` lies on: a hash of which hidden
    /// units are on which side of their kink for which example. Two parameter vectors with the
    /// same signature lie on the same smooth piece (up to hash collisions); a different signature
    /// means a kink between. Smooth activations have one piece: their signature is constant.
    pub fn cost_with_signature(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
    ) -> Result<(f64, u64)> {
        self.cost_with_signature_masked(theta, x, y, None)
    }

    /// [`Mlp::cost_with_signature`] with a dropout mask.
    pub fn cost_with_signature_masked(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        mask: Option<&DropoutMask>,
    ) -> Result<(f64, u64)> {
        Self::expect_labels(x, y)?;
        self.expect_data(theta, x)?;
        self.expect_mask(mask, x.ncols())?;
        self.cost_of_checked_data(theta, x, y, mask, true)
    }

    /// The cost and, with `signed`, the signature of [`Mlp::cost_with_signature_masked`] for
    /// data whose shapes were checked once already (by [`crate::MlpProblem`] when it was made):
    /// only `θ`'s length is checked on each call.
    pub(crate) fn cost_of_checked_data(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        mask: Option<&DropoutMask>,
        signed: bool,
    ) -> Result<(f64, u64)> {
        self.layout.expect_len("parameters θ", theta.len())?;
        let mut hasher = KinkHasher::new();
        // A smooth activation has no kinks: its signature is the hash of nothing.
        let kinked = (signed && self.hidden.is_kinked()).then_some(&mut hasher);
        let cost = self.evaluate(theta, x, y, mask, kinked);
        Ok((cost, hasher.finish()))
    }

    /// The cost of a forward pass already made ([`Mlp::forward_masked`] on `x` with labels `y`),
    /// without running it again: what training reports as the batch loss. The same value as
    /// [`Mlp::cost_masked`] in [`CostForm::Logits`].
    pub fn cost_from_forward(
        &self,
        theta: &[f64],
        forward: &Forward,
        y: ArrayView2<'_, f64>,
    ) -> f64 {
        let z = forward
            .pre_activations
            .last()
            .expect("a network has at least one layer");
        let sum = weighted_loss_sum(
            CostForm::Logits,
            self.positive_weight,
            z.iter().copied(),
            y.iter().copied(),
        );
        self.mean_cost(sum, z.ncols(), theta)
    }

    /// The forward pass and the cost without keeping a [`Forward`]: see [`Mlp::run_layers`].
    /// Every value is computed by the same operations, in the same order, as
    /// [`Mlp::forward_masked`] then the cost from its cache, so the result is the same to the
    /// last bit. The shapes must have been checked.
    fn evaluate(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        mask: Option<&DropoutMask>,
        hasher: Option<&mut KinkHasher>,
    ) -> f64 {
        let mut sum = 0.0;
        self.run_layers(theta, x, mask, hasher, |logits| {
            sum = weighted_loss_sum(
                self.cost_form,
                self.positive_weight,
                logits.iter().copied(),
                y.iter().copied(),
            );
        });
        self.mean_cost(sum, x.ncols(), theta)
    }

    /// The forward pass through every layer, handing the output layer's logits `z` (one per
    /// example) to `output`, without keeping a [`Forward`]: each layer's activations overwrite a
    /// thread-local buffer and bias, activation (and mask) are applied in one pass. With a
    /// `hasher`, the hidden layers' kink pattern is written to it exactly as
    /// [`Forward::relu_signature`] does.
    pub(super) fn run_layers(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        mask: Option<&DropoutMask>,
        mut hasher: Option<&mut KinkHasher>,
        output: impl FnOnce(&[f64]),
    ) {
        thread_local! {
            // A row-major copy of X when it is not row-major, and two activation buffers.
            static SCRATCH: RefCell<[Vec<f64>; 3]> =
                const { RefCell::new([Vec::new(), Vec::new(), Vec::new()]) };
        }
        let depth = self.depth();
        let m = x.ncols();
        if mask.is_none()
            && (1..=NARROW_EXAMPLES).contains(&m)
            && self
                .sizes
                .iter()
                .all(|&units| units.saturating_mul(m) <= TINY_LAYER)
            && let Some(input) = x.as_slice()
        {
            return self.run_tiny_layers(theta, input, m, hasher, output);
        }
        SCRATCH.with(|cell| {
            // A rayon worker waiting inside `matmul_into` may run another chunk's forward pass
            // on this thread: that one finds the buffers borrowed and uses fresh ones.
            let mut borrowed = cell.try_borrow_mut();
            let mut fresh: [Vec<f64>; 3] = Default::default();
            let [input_copy, ping, pong] = match borrowed.as_deref_mut() {
                Ok(scratch) => scratch,
                Err(_) => &mut fresh,
            };
            let mut input: &[f64] = match x.as_slice() {
                Some(x) => x,
                None => {
                    // A transposed or strided X: a row-major copy of it (same values).
                    input_copy.clear();
                    input_copy.extend(x.iter());
                    input_copy
                }
            };
            for l in 1..depth {
                let (w, b) = self.layer_slices(theta, l);
                let (rows, cols) = (self.sizes[l], self.sizes[l - 1]);
                ping.resize(rows * m, 0.0);
                matmul_into(w, input, ping, rows, cols, m);
                if self.hidden == Activation::Relu {
                    add_bias_relu(ping, b, m, hasher.as_deref_mut());
                } else {
                    add_bias_activate(ping, b, m, self.hidden, hasher.as_deref_mut());
                }
                if let Some(mask) = mask {
                    let factors = mask.layers()[l - 1]
                        .as_slice()
                        .expect("masks are made in standard layout");
                    for (a, &k) in ping.iter_mut().zip(factors) {
                        *a *= k;
                    }
                }
                std::mem::swap(ping, pong);
                input = pong;
            }
            let (w, b) = self.layer_slices(theta, depth);
            ping.resize(m, 0.0);
            matmul_into(w, input, ping, 1, self.sizes[depth - 1], m);
            let b = b[0];
            for z in ping.iter_mut() {
                *z += b;
            }
            output(ping);
        })
    }
}

/// Values of a layer (units × examples) up to which [`Mlp::run_layers`] runs on the stack: a
/// network as small as the notebook's (4-5-3-1 on 3 examples), whose passes are a few hundred
/// operations, where choosing kernels and borrowing thread-local buffers cost as much again.
const TINY_LAYER: usize = 64;

/// Examples up to which [`Mlp::run_layers`] runs on the stack (each layer's sums for them side by
/// side in registers); more go through the matrix kernels.
const NARROW_EXAMPLES: usize = 4;

impl Mlp {
    /// [`Mlp::run_layers`] without a mask for a network whose every layer has at most
    /// [`TINY_LAYER`] values, on `m` ≤ [`NARROW_EXAMPLES`] examples (`x` row-major): the same
    /// products and bias ([`narrow_affine`], inlined), kink pattern and activation, in two
    /// stack buffers instead of thread-local ones.
    fn run_tiny_layers(
        &self,
        theta: &[f64],
        x: &[f64],
        m: usize,
        mut hasher: Option<&mut KinkHasher>,
        output: impl FnOnce(&[f64]),
    ) {
        let mut buffers = [0.0f64; 2 * TINY_LAYER];
        let (mut front, mut back) = buffers.split_at_mut(TINY_LAYER);
        let depth = self.depth();
        for l in 1..=depth {
            let (w, b) = self.layer_slices(theta, l);
            let (units, inputs) = (self.sizes[l], self.sizes[l - 1]);
            let input: &[f64] = if l == 1 { x } else { &back[..inputs * m] };
            let z = &mut front[..units * m];
            // Each row's sums side by side in registers, inlined here.
            let dims = (units, inputs);
            match m {
                1 => narrow_affine::<1>(w, input, b, z, dims),
                2 => narrow_affine::<2>(w, input, b, z, dims),
                3 => narrow_affine::<3>(w, input, b, z, dims),
                _ => narrow_affine::<4>(w, input, b, z, dims),
            }
            if l == depth {
                break;
            }
            if let Some(hasher) = hasher.as_deref_mut() {
                write_kink_pattern(hasher, z);
            }
            z.iter_mut().for_each(|v| *v = self.hidden.apply(*v));
            std::mem::swap(&mut front, &mut back);
        }
        output(&front[..m]);
    }
}

/// A hidden layer's `Z = C + b` and `A = act(Z)` in place in row-major `c` (`b` broadcast along
/// each row of `m` columns), for activations other than ReLU (which has its own vectorised
/// [`add_bias_relu`]); with a `hasher`, the kink pattern `Z > 0` as [`add_bias_relu`] writes it.
fn add_bias_activate(
    c: &mut [f64],
    b: &[f64],
    m: usize,
    activation: Activation,
    hasher: Option<&mut KinkHasher>,
) {
    for (row, &b) in c.chunks_exact_mut(m.max(1)).zip(b) {
        for v in row {
            *v += b;
        }
    }
    if let Some(hasher) = hasher {
        write_kink_pattern(hasher, c);
    }
    for v in c.iter_mut() {
        *v = activation.apply(*v);
    }
}

/// One dense layer's pre-activations `Z = W·A + b` (`b` broadcast along the examples): the
/// product of the MLP's cached forward pass and of [`crate::DenseLayer`].
pub(crate) fn dense_forward(
    w: ArrayView2<'_, f64>,
    b: ArrayView2<'_, f64>,
    input: ArrayView2<'_, f64>,
) -> Array2<f64> {
    matmul(w, input) + b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MlpProblem;
    use crate::numpy_rng::NumpyRng;

    /// The cost from a [`Forward`] cache's logits, in the network's form: the reference that
    /// [`Mlp::cost`]'s fused pass must match bit for bit.
    fn cost_from_forward(
        mlp: &Mlp,
        theta: &[f64],
        forward: &Forward,
        y: ArrayView2<'_, f64>,
    ) -> f64 {
        let z = forward.pre_activations.last().unwrap();
        let sum = weighted_loss_sum(
            mlp.cost_form(),
            mlp.positive_weight(),
            z.iter().copied(),
            y.iter().copied(),
        );
        mlp.mean_cost(sum, z.ncols(), theta)
    }

    #[test]
    fn the_fused_cost_and_signature_match_the_forward_pass_bit_for_bit() {
        // Small networks and few examples take the stack path (every layer at most
        // `TINY_LAYER` values: 16 units × 4 examples is its edge), the rest the general one.
        let sizes: [&[usize]; 6] = [
            &[3, 1],
            &[4, 5, 3, 1],
            &[7, 13, 1],
            &[5, 9, 17, 3, 1],
            &[2, 65, 1],
            &[4, 16, 1],
        ];
        for (s, sizes) in sizes.into_iter().enumerate() {
            for m in [1, 2, 3, 4, 5, 8, 17, 64, 65] {
                let (problem, theta) = MlpProblem::random(sizes, m, s as u32).unwrap();
                // Saturated outputs and exact kinks (all-zero parameters) as well.
                for scale in [1.0, 30.0, 0.0] {
                    let theta: Vec<f64> = theta.values().iter().map(|v| v * scale).collect();
                    let (x, y) = (problem.x().view(), problem.y().view());
                    // X also as a transposed copy: not row-major in memory.
                    let xt = problem.x().t().to_owned();
                    for form in [CostForm::Logits, CostForm::Notebook] {
                        let mlp = problem.mlp().clone().with_cost_form(form);
                        let forward = mlp.forward(&theta, x).unwrap();
                        let expected = cost_from_forward(&mlp, &theta, &forward, y).to_bits();
                        let (cost, signature) = mlp.cost_with_signature(&theta, x, y).unwrap();
                        assert_eq!(cost.to_bits(), expected, "{sizes:?}, m = {m}, {form:?}");
                        assert_eq!(signature, forward.relu_signature());
                        assert_eq!(mlp.cost(&theta, x, y).unwrap().to_bits(), expected);
                        assert_eq!(mlp.cost(&theta, xt.t(), y).unwrap().to_bits(), expected);
                    }
                    // Every activation, with class weight, L2 and a dropout mask.
                    for (a, activation) in Activation::ALL.into_iter().enumerate() {
                        let mlp = problem
                            .mlp()
                            .clone()
                            .with_activation(activation)
                            .with_positive_weight(1.0 + a as f64 * 3.5)
                            .unwrap()
                            .with_l2(0.1 * a as f64)
                            .unwrap();
                        let mut rng = NumpyRng::new(a as u32);
                        let mask = DropoutMask::sample(&mlp, m, 0.3, &mut rng).unwrap();
                        for mask in [None, Some(&mask)] {
                            let forward = mlp.forward_masked(&theta, x, mask).unwrap();
                            let expected = cost_from_forward(&mlp, &theta, &forward, y).to_bits();
                            let (cost, signature) =
                                mlp.cost_with_signature_masked(&theta, x, y, mask).unwrap();
                            assert_eq!(cost.to_bits(), expected, "{sizes:?}, {activation}");
                            if activation.is_kinked() {
                                assert_eq!(signature, forward.relu_signature());
                            } else {
                                assert_eq!(signature, KinkHasher::new().finish());
                            }
                            let p = mlp.predict(&theta, xt.t()).unwrap();
                            if mask.is_none() {
                                let last = forward.activations.last().unwrap();
                                assert_eq!(p.as_slice(), last.as_slice().unwrap());
                            }
                        }
                    }
                }
            }
        }
    }
}
