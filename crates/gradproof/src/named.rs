//! The named form of a first check: the user hands named ndarray tensors, and the cost and
//! gradient closures see θ through [`Params`] (`p.view2("W")?` is an `ArrayView2`) and fill the
//! gradient through [`Gradient`] (`g.set("W", &dw)?`), so nobody computes flat offsets or clones
//! a layout. Wrong names, ranks or shapes are [`Error`]s naming the tensor. Knows nothing of how
//! a check runs: it builds a [`Problem`] and hands it to [`Checker::check`].

use ndarray::{
    ArrayBase, ArrayView, ArrayView1, ArrayView2, ArrayViewD, Data, Dimension, Ix1, Ix2,
};

use crate::error::{Error, Result};
use crate::layout::{Layout, TensorSpec, Tensors};
use crate::problem::Problem;
use crate::report::Report;
use crate::settings::Checker;

/// A named, read-only view of the parameters θ, handed to the closures of
/// [`check_named`](crate::check_named).
#[derive(Clone, Copy, Debug)]
pub struct Params<'a> {
    layout: &'a Layout,
    values: &'a [f64],
}

impl<'a> Params<'a> {
    /// Tensor `name`, whatever its rank.
    pub fn view(&self, name: &str) -> Result<ArrayViewD<'a, f64>> {
        let k = self.layout.tensor_index(name)?;
        Ok(self.layout.view(self.values, k))
    }

    /// Tensor `name` as a vector; an error if it is not of rank 1.
    pub fn view1(&self, name: &str) -> Result<ArrayView1<'a, f64>> {
        with_rank::<Ix1>(name, self.view(name)?, "a vector (rank 1) was asked for")
    }

    /// Tensor `name` as a matrix; an error if it is not of rank 2.
    pub fn view2(&self, name: &str) -> Result<ArrayView2<'a, f64>> {
        with_rank::<Ix2>(name, self.view(name)?, "a matrix (rank 2) was asked for")
    }

    /// The flat parameter buffer, laid out as the tensors were given.
    pub fn values(&self) -> &'a [f64] {
        self.values
    }
}

/// `view` as a view of rank `D`, or [`Error::ShapeMismatch`].
fn with_rank<'a, D: Dimension>(
    name: &str,
    view: ArrayViewD<'a, f64>,
    expected: &str,
) -> Result<ArrayView<'a, f64, D>> {
    let shape = view.shape().to_vec();
    view.into_dimensionality::<D>()
        .map_err(|_| Error::ShapeMismatch {
            name: name.to_string(),
            shape,
            expected: expected.to_string(),
        })
}

/// The gradient being filled by the gradient closure of [`check_named`](crate::check_named):
/// every tensor starts at zero; [`Gradient::set`] writes one, by name.
#[derive(Clone, Debug)]
pub struct Gradient {
    tensors: Tensors,
}

impl Gradient {
    /// Sets `∂J/∂name` to `value`, which must have the tensor's shape.
    pub fn set<S, D>(&mut self, name: &str, value: &ArrayBase<S, D>) -> Result<()>
    where
        S: Data<Elem = f64>,
        D: Dimension,
    {
        let mut target = self.tensors.get_mut(name)?;
        if target.shape() != value.shape() {
            return Err(Error::ShapeMismatch {
                name: format!("d{name}"),
                shape: target.shape().to_vec(),
                expected: format!("the gradient closure set it with shape {:?}", value.shape()),
            });
        }
        target.assign(value);
        Ok(())
    }
}

/// A [`Problem`] over named tensors, made of two closures over [`Params`].
struct NamedProblem<C, G> {
    layout: Layout,
    cost: C,
    gradient: G,
}

impl<C, G> Problem for NamedProblem<C, G>
where
    C: Fn(&Params<'_>) -> Result<f64> + Sync,
    G: Fn(&Params<'_>, &mut Gradient) -> Result<()> + Sync,
{
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn cost(&self, theta: &[f64]) -> Result<f64> {
        (self.cost)(&self.params(theta))
    }

    fn gradient(&self, theta: &[f64]) -> Result<Tensors> {
        let mut gradient = Gradient {
            tensors: Tensors::zeros(self.layout.clone()),
        };
        (self.gradient)(&self.params(theta), &mut gradient)?;
        Ok(gradient.tensors)
    }
}

impl<C, G> NamedProblem<C, G> {
    fn params<'a>(&'a self, theta: &'a [f64]) -> Params<'a> {
        Params {
            layout: &self.layout,
            values: theta,
        }
    }
}

/// Checks a model of named tensors with the default [`Checker`]: `tensors` are the parameters
/// (name and value, in order), `cost` computes `J` from a [`Params`] view of them, `gradient`
/// fills a [`Gradient`] with the hand-written `∂J/∂name` of every tensor. Tensors are flattened
/// row-major in the order given; the report names each (`W`, gradient `dW`).
///
/// ```
/// fn main() -> gradproof::Result<()> {
///     // J(W, b) = ½‖W‖² + Σ sin(bᵢ), so ∂J/∂W = W and ∂J/∂b = cos(b).
///     let w = gradproof::ndarray::array![[0.5, -1.0], [2.0, 0.25]];
///     let b = gradproof::ndarray::array![0.1, -0.3];
///     let report = gradproof::check_named(
///         [("W", w.view().into_dyn()), ("b", b.view().into_dyn())],
///         |p| Ok(0.5 * p.view2("W")?.pow2().sum() + p.view1("b")?.sin().sum()),
///         |p, g| { g.set("W", &p.view2("W")?)?; g.set("b", &p.view1("b")?.cos()) },
///     )?;
///     assert!(report.passed(), "{report}");
///     Ok(())
/// }
/// ```
///
/// A name the closures ask for that was not given, or a rank or shape that does not fit, is an
/// [`Error`], not a panic:
///
/// ```
/// use gradproof::ndarray::array;
/// let w = array![[1.0, 2.0]];
/// let err = gradproof::check_named(
///     [("W", w.view().into_dyn())],
///     |p| Ok(p.view1("W")?.sum()),
///     |_, _| Ok(()),
/// )
/// .unwrap_err();
/// assert!(err.to_string().contains("tensor 'W' has shape [1, 2]"), "{err}");
/// ```
pub fn check_named<'t, T, C, G>(tensors: T, cost: C, gradient: G) -> Result<Report>
where
    T: IntoIterator<Item = (&'t str, ArrayViewD<'t, f64>)>,
    C: Fn(&Params<'_>) -> Result<f64> + Sync,
    G: Fn(&Params<'_>, &mut Gradient) -> Result<()> + Sync,
{
    Checker::new().check_named(tensors, cost, gradient)
}

impl Checker {
    /// [`check_named`] with this checker's settings.
    pub fn check_named<'t, T, C, G>(&self, tensors: T, cost: C, gradient: G) -> Result<Report>
    where
        T: IntoIterator<Item = (&'t str, ArrayViewD<'t, f64>)>,
        C: Fn(&Params<'_>) -> Result<f64> + Sync,
        G: Fn(&Params<'_>, &mut Gradient) -> Result<()> + Sync,
    {
        let (mut specs, mut theta) = (Vec::new(), Vec::new());
        for (name, tensor) in tensors {
            specs.push(TensorSpec::new(name, tensor.shape()));
            theta.extend(tensor.iter().copied());
        }
        let problem = NamedProblem {
            layout: Layout::new(specs)?,
            cost,
            gradient,
        };
        self.check(&problem, &theta)
    }
}
