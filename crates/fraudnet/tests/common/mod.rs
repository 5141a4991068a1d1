//! Helpers shared by the random-network tests (`meta.rs`, `dual.rs`): the two ways a random case
//! is made hard, written once. Each test file draws its own random numbers and passes its own
//! `pick`, so every case is the same as before the helpers were shared.

use fraudnet::MlpProblem;
use gradproof::Tensors;
use ndarray::Ix2;

/// Puts pre-activations exactly on the kinks: for each hidden layer in turn, shifts the biases
/// so that every other unit's pre-activation is 0 for one example (`pick(0, m − 1)`).
pub fn put_on_kinks(
    problem: &MlpProblem,
    theta: &mut Tensors,
    pick: &mut impl FnMut(usize, usize) -> usize,
) {
    let (mlp, x, examples) = (problem.mlp(), problem.x().view(), problem.x().ncols());
    for l in 1..mlp.depth() {
        let forward = mlp
            .forward_masked(theta.values(), x, problem.mask())
            .unwrap();
        let z = &forward.pre_activations[l - 1];
        let mut b = theta
            .get_mut(&format!("b{l}"))
            .unwrap()
            .into_dimensionality::<Ix2>()
            .unwrap();
        for i in (0..z.nrows()).step_by(2) {
            let j = pick(0, examples - 1);
            b[[i, 0]] -= z[[i, j]];
        }
    }
}

/// Saturates the output sigmoid: scales the last layer so that max |z| = 40 at the output
/// (sigmoid' down to 4e-18; the cost is computed from the logits).
pub fn saturate_output(problem: &MlpProblem, theta: &mut Tensors) {
    let depth = problem.mlp().depth();
    let forward = problem
        .mlp()
        .forward_masked(theta.values(), problem.x().view(), problem.mask())
        .unwrap();
    let max_z = forward.pre_activations[depth - 1]
        .iter()
        .fold(0.0_f64, |m, z| m.max(z.abs()));
    let factor = 40.0 / max_z.max(1e-3);
    for name in [format!("W{depth}"), format!("b{depth}")] {
        theta.get_mut(&name).unwrap().mapv_inplace(|w| w * factor);
    }
}
