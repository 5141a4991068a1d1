//! Jacobian checks for vector-valued functions `y = f(x)` over named tensors, such as one layer of
//! a network: the hand-written *vector–Jacobian product* `vjp(x, u) = uᵀ·J(x)` (what a layer's
//! backward pass computes) is compared with finite differences of `f`. The analytic Jacobian is
//! read row by row (`vjp` with `u = eⱼ` for every output `j`), the numeric one column by column
//! (the [`Method`]'s stencil of `f` along `eᵢ` for every input `i`, in parallel), and each
//! (output tensor, input tensor) block is judged on its own, so a failure is attributed to the
//! pair: "∂Z/∂b is wrong". Knows nothing of neural networks.

use std::fmt;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::difference::{norm2_of, quotient};
use crate::error::{Error, IndexDisplay, Result};
use crate::layout::{Layout, Tensors};
use crate::method::Method;
use crate::settings::{NOISE_SAFETY_FACTOR, TOP_K};
use crate::step_rule::StepRule;

/// A vector-valued function of named tensors with a hand-written vector–Jacobian product.
///
/// Implementations must be pure and `Sync` (the checker evaluates from several threads).
pub trait VectorProblem: Sync {
    /// The input tensors `x`.
    fn inputs(&self) -> &Layout;

    /// The output tensors `y = f(x)`.
    fn outputs(&self) -> &Layout;

    /// `f(x)`, laid out as [`VectorProblem::outputs`].
    fn value(&self, x: &[f64]) -> Result<Tensors>;

    /// The vector–Jacobian product `uᵀ·J(x)` for a cotangent `u` laid out like the outputs: the
    /// gradient of `u·f(x)` with respect to every input, laid out like the inputs.
    fn vjp(&self, x: &[f64], cotangent: &Tensors) -> Result<Tensors>;
}

/// How far above the rounding of one output value, in ulps of its tensor's largest value, the
/// roundoff allowance of a difference quotient goes (before [`NOISE_SAFETY_FACTOR`]).
pub const JACOBIAN_ROUNDING_ULPS: f64 = 4.0;

/// Checks a [`VectorProblem`]'s vector–Jacobian product against finite differences.
///
/// Element `(j, i)` of the Jacobian agrees when `|Jᵃⱼᵢ − Jⁿⱼᵢ| ≤ NOISE_SAFETY_FACTOR · bⱼᵢ`, with
/// `bⱼᵢ` the roundoff of the difference quotient (`gain · JACOBIAN_ROUNDING_ULPS · ε_mach ·
/// (|yⱼ| + ‖y_t‖_∞) / h`) plus its truncation, estimated by repeating the difference at `2h`
/// (`|D(2h) − D(h)| / (2ᵖ − 1)`). A block passes when all its elements agree.
///
/// ```
/// use gradproof::{Layout, Result, TensorSpec, Tensors};
/// use gradproof::jacobian::{JacobianChecker, VectorProblem};
///
/// /// y = x², element-wise, with a correct VJP (uᵢ·2xᵢ).
/// struct Square(Layout, Layout);
/// impl VectorProblem for Square {
///     fn inputs(&self) -> &Layout { &self.0 }
///     fn outputs(&self) -> &Layout { &self.1 }
///     fn value(&self, x: &[f64]) -> Result<Tensors> {
///         Tensors::new(self.1.clone(), x.iter().map(|v| v * v).collect())
///     }
///     fn vjp(&self, x: &[f64], u: &Tensors) -> Result<Tensors> {
///         let g = x.iter().zip(u.values()).map(|(x, u)| 2.0 * x * u).collect();
///         Tensors::new(self.0.clone(), g)
///     }
/// }
/// let problem = Square(
///     Layout::new([TensorSpec::new("x", [3])])?,
///     Layout::new([TensorSpec::new("y", [3])])?,
/// );
/// let report = JacobianChecker::new().check(&problem, &[1.0, -2.0, 0.5])?;
/// assert!(report.passed(), "{report}");
/// assert_eq!(report.blocks[0].agree, 9);
/// # Ok::<(), gradproof::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JacobianChecker {
    method: Method,
    step: StepRule,
}

impl Default for JacobianChecker {
    fn default() -> Self {
        JacobianChecker::new()
    }
}

impl JacobianChecker {
    /// Central differences with the scaled step (`max(1, |xᵢ|) · ε_mach^(1/3)`).
    pub fn new() -> Self {
        JacobianChecker {
            method: Method::Central,
            step: StepRule::Scaled(1.0),
        }
    }

    /// Sets the finite-difference method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Sets the step rule (fixed or scaled; the adaptive rule is refused).
    pub fn step_rule(mut self, step: StepRule) -> Result<Self> {
        if step == StepRule::Adaptive {
            return Err(Error::Unsupported {
                what: "the adaptive step for a Jacobian check",
                reason: "use a fixed step or the scaled rule",
            });
        }
        self.step = step.validated()?;
        Ok(self)
    }

    /// Checks `problem`'s VJP at `x` element by element: `outputs` VJPs and `inputs · stencil`
    /// evaluations of `f` (twice, for the truncation estimate).
    pub fn check<P: VectorProblem + ?Sized>(
        &self,
        problem: &P,
        x: &[f64],
    ) -> Result<JacobianReport> {
        let start = Instant::now();
        let (inputs, outputs) = (problem.inputs(), problem.outputs());
        Tensors::new(inputs.clone(), x.to_vec())?.expect_finite("input")?;
        let y0 = value(problem, x, || "at the given inputs".to_string())?;
        let (n_in, n_out) = (inputs.len(), outputs.len());
        // The largest |y| of each output's tensor: the scale of its rounding.
        let mut out_scale = vec![0.0; n_out];
        for k in 0..outputs.tensors().len() {
            let range = outputs.range(k);
            let scale = y0[range.clone()]
                .iter()
                .fold(0.0_f64, |m, v| m.max(v.abs()));
            out_scale[range].fill(scale);
        }

        // Analytic rows: uᵀJ with u = eⱼ.
        let rows: Vec<Result<Vec<f64>>> = (0..n_out)
            .into_par_iter()
            .map(|j| {
                let mut u = Tensors::zeros(outputs.clone());
                u.values_mut()[j] = 1.0;
                let row = problem.vjp(x, &u)?;
                inputs.expect_same(row.layout())?;
                row.expect_finite("vector-Jacobian product")?;
                Ok(row.into_values())
            })
            .collect();
        let mut analytic = vec![0.0; n_out * n_in];
        for (j, row) in rows.into_iter().enumerate() {
            analytic[j * n_in..(j + 1) * n_in].copy_from_slice(&row?);
        }

        // Numeric columns: the stencil of f along eᵢ at h and 2h.
        let stencil = self.method.stencil();
        let p = f64::from(self.method.order());
        let gain = self.method.noise_gain();
        let columns: Vec<Result<Column>> = (0..n_in)
            .into_par_iter()
            .map(|i| {
                let xi = x[i];
                let h = match self.step {
                    StepRule::Fixed(h) => h,
                    _ => (xi + self.step.step(self.method, xi)) - xi,
                };
                let mut point = x.to_vec();
                let mut evaluations = 0;
                let mut difference = |scale: f64| -> Result<Vec<f64>> {
                    let mut sum = vec![0.0; n_out];
                    for &(offset, weight) in stencil {
                        let values = if offset == 0.0 {
                            y0.clone()
                        } else {
                            point[i] = xi + offset * scale * h;
                            let v = value(problem, &point, || {
                                let at =
                                    inputs.locate(i).map(|l| l.to_string()).unwrap_or_default();
                                format!("at {at} {:+}·h (h = {h:e})", offset * scale)
                            });
                            point[i] = xi;
                            evaluations += 1;
                            v?
                        };
                        for (s, v) in sum.iter_mut().zip(values) {
                            *s += weight * v;
                        }
                    }
                    Ok(sum.into_iter().map(|s| s / (scale * h)).collect())
                };
                let near = difference(1.0)?;
                let far = difference(2.0)?;
                let bound = (0..n_out)
                    .map(|j| {
                        let roundoff = gain
                            * JACOBIAN_ROUNDING_ULPS
                            * f64::EPSILON
                            * (y0[j].abs() + out_scale[j])
                            / h
                            + near[j].abs() * f64::EPSILON * (xi.abs() + h) / h;
                        roundoff + (far[j] - near[j]).abs() / (2f64.powf(p) - 1.0)
                    })
                    .collect();
                Ok((near, bound, evaluations))
            })
            .collect();
        let (mut numeric, mut bound) = (vec![0.0; n_out * n_in], vec![0.0; n_out * n_in]);
        let mut evaluations = 1;
        for (i, column) in columns.into_iter().enumerate() {
            let (near, b, count) = column?;
            evaluations += count;
            for j in 0..n_out {
                numeric[j * n_in + i] = near[j];
                bound[j * n_in + i] = b[j];
            }
        }

        let mut blocks = Vec::new();
        for (ko, out_spec) in outputs.tensors().iter().enumerate() {
            for (ki, in_spec) in inputs.tensors().iter().enumerate() {
                let cells: Vec<(usize, usize)> = outputs
                    .range(ko)
                    .flat_map(|j| inputs.range(ki).map(move |i| (j, i)))
                    .collect();
                let at = |&(j, i): &(usize, usize)| j * n_in + i;
                let error = |c: &(usize, usize)| (analytic[at(c)] - numeric[at(c)]).abs();
                let allowed = |c: &(usize, usize)| NOISE_SAFETY_FACTOR * bound[at(c)];
                let disagree = cells.iter().filter(|c| error(c) > allowed(c)).count();
                let a_norm = norm2_of(cells.iter().map(|c| analytic[at(c)]));
                let n_norm = norm2_of(cells.iter().map(|c| numeric[at(c)]));
                let difference = quotient(
                    norm2_of(cells.iter().map(|c| analytic[at(c)] - numeric[at(c)])),
                    a_norm + n_norm,
                );
                let threshold = quotient(
                    NOISE_SAFETY_FACTOR * norm2_of(cells.iter().map(|c| bound[at(c)])),
                    a_norm + n_norm,
                );
                let mut order = cells.clone();
                order.sort_by(|a, b| error(b).total_cmp(&error(a)));
                let top = order
                    .iter()
                    .take(TOP_K)
                    .map(|c| JacobianWorst {
                        output_index: outputs.locate(c.0).expect("inside").index,
                        input_index: inputs.locate(c.1).expect("inside").index,
                        analytic: analytic[at(c)],
                        numeric: numeric[at(c)],
                        bound: allowed(c),
                    })
                    .collect();
                blocks.push(BlockReport {
                    output: out_spec.name.clone(),
                    input: in_spec.name.clone(),
                    checked: cells.len(),
                    agree: cells.len() - disagree,
                    disagree,
                    difference,
                    threshold,
                    max_abs_error: order.first().map_or(0.0, error),
                    passed: disagree == 0 && difference <= threshold,
                    top,
                });
            }
        }
        Ok(JacobianReport {
            method: self.method,
            step: self.step,
            inputs: n_in,
            outputs: n_out,
            blocks,
            evaluations,
            vjps: n_out,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}

/// One numeric column of the Jacobian: the derivative of every output along `eᵢ`, the error
/// bound of each, and the evaluations of `f` spent.
type Column = (Vec<f64>, Vec<f64>, usize);

/// `f(x)`, checked against the output layout and for finiteness.
fn value<P: VectorProblem + ?Sized>(
    problem: &P,
    x: &[f64],
    location: impl FnOnce() -> String,
) -> Result<Vec<f64>> {
    let y = problem.value(x)?;
    problem.outputs().expect_same(y.layout())?;
    if let Some(j) = y.values().iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: format!("output {}", problem.outputs().locate(j)?),
            value: y.values()[j],
            location: location(),
        });
    }
    Ok(y.into_values())
}

/// The outcome of a Jacobian check: one block per (output tensor, input tensor) pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JacobianReport {
    /// The finite-difference method.
    pub method: Method,
    /// The step rule.
    pub step: StepRule,
    /// Number of input values.
    pub inputs: usize,
    /// Number of output values.
    pub outputs: usize,
    /// One block per (output tensor, input tensor), outputs outer, both in layout order.
    pub blocks: Vec<BlockReport>,
    /// Evaluations of `f`.
    pub evaluations: usize,
    /// Vector–Jacobian products computed (one per output value).
    pub vjps: usize,
    /// Wall time, in seconds.
    pub seconds: f64,
}

/// One (output tensor, input tensor) block of a [`JacobianReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockReport {
    /// The output tensor's name.
    pub output: String,
    /// The input tensor's name.
    pub input: String,
    /// Elements of the block checked.
    pub checked: usize,
    /// Elements within their error bound.
    pub agree: usize,
    /// Elements beyond their error bound.
    pub disagree: usize,
    /// `‖Jᵃ − Jⁿ‖ / (‖Jᵃ‖ + ‖Jⁿ‖)` over the block.
    pub difference: f64,
    /// The relative difference that roundoff and truncation alone can produce over the block.
    pub threshold: f64,
    /// The largest `|Jᵃ − Jⁿ|` in the block.
    pub max_abs_error: f64,
    /// True if every element agrees.
    pub passed: bool,
    /// The largest errors, worst first (at most [`TOP_K`]).
    pub top: Vec<JacobianWorst>,
}

/// One element of a Jacobian block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JacobianWorst {
    /// Index inside the output tensor.
    pub output_index: Vec<usize>,
    /// Index inside the input tensor.
    pub input_index: Vec<usize>,
    /// From the hand-written VJP.
    pub analytic: f64,
    /// From finite differences.
    pub numeric: f64,
    /// The error allowed for this element.
    pub bound: f64,
}

impl JacobianReport {
    /// True if every block passed.
    pub fn passed(&self) -> bool {
        self.blocks.iter().all(|b| b.passed)
    }

    /// The failing blocks as `∂Z/∂b`, in report order.
    pub fn failing(&self) -> Vec<String> {
        self.blocks
            .iter()
            .filter(|b| !b.passed)
            .map(|b| format!("∂{}/∂{}", b.output, b.input))
            .collect()
    }
}

impl fmt::Display for JacobianReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Jacobian check, {} differences, step {}: {} outputs × {} inputs, {} evaluations, {} VJPs, {:.3} ms",
            self.method,
            self.step,
            self.outputs,
            self.inputs,
            self.evaluations,
            self.vjps,
            self.seconds * 1e3
        )?;
        for b in &self.blocks {
            let worst = b.top.first().map_or(String::new(), |w| {
                format!(
                    "  worst {}{} / {}{}: {:.9} vs {:.9}",
                    b.output,
                    IndexDisplay(&w.output_index),
                    b.input,
                    IndexDisplay(&w.input_index),
                    w.analytic,
                    w.numeric
                )
            });
            writeln!(
                f,
                "  ∂{}/∂{}: {}/{} agree, difference {:.3e} (threshold {:.2e}) {}{}",
                b.output,
                b.input,
                b.agree,
                b.checked,
                b.difference,
                b.threshold,
                if b.passed { "ok" } else { "WRONG" },
                worst
            )?;
        }
        if self.passed() {
            write!(f, "the vector-Jacobian product is correct")
        } else {
            write!(
                f,
                "the vector-Jacobian product is WRONG in {}",
                self.failing().join(", ")
            )
        }
    }
}
