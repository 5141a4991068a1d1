//! The seed notebook's exact cases: the 1-D function `J(θ) = θx` with its derivative and check,
//! the seeded test case of the 3-layer network `LINEAR → RELU → LINEAR → RELU → LINEAR → SIGMOID`,
//! its buggy backward pass (`dW2 × 2`, `db1 × 4`) and the corrected one, and a run of the whole
//! notebook that a front end can print. Knows nothing of command lines or output formats.

use gradproof::{Checker, FnProblem, Layout, Report, TensorSpec, Tensors};
use ndarray::{Array2, array};

use crate::check::MlpProblem;
use crate::error::Result;
use crate::model::{Bug, CostForm, Mlp};
use crate::numpy_rng::NumpyRng;

/// The notebook's 1-D input, `x = 2`.
pub const X: f64 = 2.0;
/// The notebook's 1-D parameter, `θ = 4`.
pub const THETA: f64 = 4.0;

/// `J(θ) = θx`, the notebook's `forward_propagation`.
pub fn forward_propagation(x: f64, theta: f64) -> f64 {
    theta * x
}

/// `dJ/dθ = x`, the notebook's `backward_propagation`.
pub fn backward_propagation(x: f64, _theta: f64) -> f64 {
    x
}

/// The notebook's `gradient_check(x, theta, epsilon)` on `J(θ) = θx`, as an engine report.
pub fn gradient_check(x: f64, theta: f64, epsilon: f64) -> Result<Report> {
    let layout = Layout::new([TensorSpec::new("theta", [])])?;
    let gradient_layout = layout.clone();
    let problem = FnProblem::new(
        layout,
        move |t: &[f64]| Ok(forward_propagation(x, t[0])),
        move |t: &[f64]| Tensors::new(gradient_layout.clone(), vec![backward_propagation(x, t[0])]),
    );
    Ok(Checker::new().epsilon(epsilon).check(&problem, &[theta])?)
}

/// The notebook's `gradient_check_n_test_case`: data and parameters drawn from numpy's legacy
/// RNG with seed 1.
#[derive(Clone, Debug)]
pub struct TestCase {
    /// The network `4 → 5 → 3 → 1`, its cost computed as the notebook does.
    pub mlp: Mlp,
    /// `X = randn(4, 3)`: 3 examples of 4 features, one per column.
    pub x: Array2<f64>,
    /// `Y = [1, 1, 0]`, as a `(1, 3)` row.
    pub y: Array2<f64>,
    /// `W1 = randn(5, 4)`, `b1 = randn(5, 1)`, `W2 = randn(3, 5)`, `b2 = randn(3, 1)`,
    /// `W3 = randn(1, 3)`, `b3 = randn(1, 1)`, drawn in that order.
    pub parameters: Tensors,
}

/// Builds the notebook's seeded test case.
pub fn gradient_check_n_test_case() -> TestCase {
    let mut rng = NumpyRng::new(1);
    let x = rng.randn_matrix(4, 3);
    let y = array![[1.0, 1.0, 0.0]];
    let mlp = Mlp::new(&[4, 5, 3, 1])
        .expect("a valid architecture")
        .with_cost_form(CostForm::Notebook);
    let values = mlp
        .layout()
        .tensors()
        .iter()
        .flat_map(|spec| {
            let (rows, cols) = (spec.shape[0], spec.shape[1]);
            rng.randn_matrix(rows, cols).into_raw_vec_and_offset().0
        })
        .collect();
    let parameters = Tensors::new(mlp.layout().clone(), values).expect("sizes match the layout");
    TestCase {
        mlp,
        x,
        y,
        parameters,
    }
}

/// The 1-D part of a notebook run.
#[derive(Clone, Debug)]
pub struct OneD {
    /// `J = forward_propagation(2, 4)`.
    pub j: f64,
    /// `dtheta = backward_propagation(2, 4)`.
    pub dtheta: f64,
    /// The notebook's difference for the 1-D check (ε = 1e-7).
    pub difference: f64,
    /// True if the difference is below the notebook's threshold 1e-7.
    pub correct: bool,
    /// The engine's full report.
    pub report: Report,
}

/// The N-dimensional part of a notebook run.
#[derive(Clone, Debug)]
pub struct NDim {
    /// `J` of the test case at its seeded parameters.
    pub cost: f64,
    /// The check of the notebook's buggy backward pass.
    pub buggy: Report,
    /// The check of the corrected backward pass.
    pub fixed: Report,
}

/// Everything the notebook computes, step by step.
#[derive(Clone, Debug)]
pub struct NotebookRun {
    /// Section 2: gradient checking in one dimension.
    pub one_d: OneD,
    /// Section 3: gradient checking of the 3-layer network.
    pub n_dim: NDim,
}

/// Runs the notebook: the 1-D check, then the N-dimensional check of the buggy and the fixed
/// backward passes, all with the notebook's ε = 1e-7 and threshold 1e-7.
pub fn run() -> Result<NotebookRun> {
    let report = gradient_check(X, THETA, gradproof::settings::NOTEBOOK_EPSILON)?;
    let one_d = OneD {
        j: forward_propagation(X, THETA),
        dtheta: backward_propagation(X, THETA),
        difference: report.difference,
        correct: report.notebook_passed(),
        report,
    };

    let case = gradient_check_n_test_case();
    let theta = case.parameters.values();
    let fixed_problem = MlpProblem::new(case.mlp.clone(), case.x.clone(), case.y.clone())?;
    let buggy_problem = fixed_problem.clone().with_bugs(Bug::notebook())?;
    let checker = Checker::new().epsilon(gradproof::settings::NOTEBOOK_EPSILON);
    let n_dim = NDim {
        cost: case.mlp.cost(theta, case.x.view(), case.y.view())?,
        buggy: checker.check(&buggy_problem, theta)?,
        fixed: checker.check(&fixed_problem, theta)?,
    };
    Ok(NotebookRun { one_d, n_dim })
}
