//! The user's Python `cost` and `grad` as an engine [`Problem`]. The engine evaluates costs on
//! rayon threads with the GIL released; each call takes a lock (before the GIL, so that a thread
//! waiting for the lock never holds the GIL), re-acquires the GIL, refills the persistent numpy
//! arrays from θ and calls the user's function with them: no dict of new arrays per evaluation.
//! The first Python exception is kept and every later call fails at once, so that the caller can
//! re-raise that exception itself. Knows nothing of settings or reports.

use std::sync::{Mutex, MutexGuard, PoisonError};

use gradproof::{Error, Layout, Problem, Tensors};
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::Persistent;

/// What the user's functions are called with: a dict of the persistent arrays (insertion order
/// = layout order), or the one array of the single-array form.
pub(crate) enum Argument {
    /// `params` was a dict: `cost(dict)`.
    Dict(Py<PyDict>),
    /// `params` was one array: `cost(array)`.
    Single,
}

/// Everything only one thread at a time may touch: the Python objects and the first error.
struct Shared {
    cost: Py<PyAny>,
    grad: Py<PyAny>,
    /// One array per tensor in the caller's dtype, refilled from θ before each call.
    arrays: Vec<Persistent>,
    argument: Argument,
    /// The first exception a call raised; set once, re-raised by the caller of the check.
    error: Option<PyErr>,
}

/// A [`Problem`] whose cost and gradient are Python callables.
pub(crate) struct PyProblem {
    layout: Layout,
    shared: Mutex<Shared>,
}

/// The engine error standing for "the Python function raised": the exception itself is kept
/// in the problem and re-raised as it was.
fn raised() -> Error {
    Error::model("a Python function raised an exception")
}

impl PyProblem {
    /// A problem over `arrays` (copies refilled from θ before each call; shapes as `layout`),
    /// calling `cost(argument)` and `grad(argument)`. `grad` returns one float64 array per
    /// tensor, in layout order (the Python side normalises the user's dict to that).
    pub(crate) fn new(
        layout: Layout,
        cost: Py<PyAny>,
        grad: Py<PyAny>,
        arrays: Vec<Persistent>,
        argument: Argument,
    ) -> Self {
        PyProblem {
            layout,
            shared: Mutex::new(Shared {
                cost,
                grad,
                arrays,
                argument,
                error: None,
            }),
        }
    }

    /// Stops the check: every later call fails at once, and `error` is what the caller raises
    /// (unless a function raised first). Takes the lock: call it without the GIL.
    pub(crate) fn interrupt(&self, error: PyErr) {
        self.lock().error.get_or_insert(error);
    }

    /// The first exception raised by `cost` or `grad`, if any.
    pub(crate) fn take_error(&self) -> Option<PyErr> {
        self.lock().error.take()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while the lock was held leaves nothing half-written that a refill does not
        // overwrite, so a poisoned lock is still usable.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Refills the arrays from `theta` and calls `function` with the argument, under the lock
    /// and the GIL; keeps a raised exception and returns [`raised`] instead.
    fn call<T>(
        &self,
        theta: &[f64],
        pick: impl FnOnce(&Shared) -> &Py<PyAny>,
        convert: impl FnOnce(&Bound<'_, PyAny>) -> PyResult<T>,
    ) -> gradproof::Result<T> {
        let mut shared = self.lock();
        if shared.error.is_some() {
            return Err(raised());
        }
        Python::attach(|py| {
            let result = self.refill(py, &shared, theta).and_then(|argument| {
                let value = pick(&shared).bind(py).call1((argument,))?;
                convert(&value)
            });
            result.map_err(|error| {
                shared.error = Some(error);
                raised()
            })
        })
    }

    /// Copies θ into the persistent arrays (and puts them back in the dict, should the user's
    /// function have replaced or removed one); returns what the user's functions are called with.
    fn refill<'py>(
        &self,
        py: Python<'py>,
        shared: &Shared,
        theta: &[f64],
    ) -> PyResult<Bound<'py, PyAny>> {
        let tensors = self.layout.tensors();
        for (k, array) in shared.arrays.iter().enumerate() {
            array.refill(py, &tensors[k].name, &theta[self.layout.range(k)])?;
        }
        match &shared.argument {
            Argument::Dict(dict) => {
                let dict = dict.bind(py);
                for (spec, array) in tensors.iter().zip(&shared.arrays) {
                    dict.set_item(&spec.name, array.bind(py))?;
                }
                Ok(dict.clone().into_any())
            }
            Argument::Single => Ok(shared.arrays[0].bind(py)),
        }
    }
}

/// The cost as a float: a Python float, a numpy scalar or a one-element array.
fn cost_value(value: &Bound<'_, PyAny>) -> PyResult<f64> {
    value.extract::<f64>().map_err(|_| {
        let kind = value
            .get_type()
            .name()
            .map_or_else(|_| "?".to_string(), |n| n.to_string());
        PyTypeError::new_err(format!(
            "cost returned a {kind}, expected a float (a Python float, a numpy scalar or a \
             one-element array)"
        ))
    })
}

impl Problem for PyProblem {
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn cost(&self, theta: &[f64]) -> gradproof::Result<f64> {
        self.call(theta, |shared| &shared.cost, cost_value)
    }

    fn gradient(&self, theta: &[f64]) -> gradproof::Result<Tensors> {
        let values = self.call(
            theta,
            |shared| &shared.grad,
            |value| {
                let arrays: Vec<PyReadonlyArrayDyn<'_, f64>> = value.extract()?;
                let mut values = Vec::with_capacity(self.layout.len());
                for (spec, array) in self.layout.tensors().iter().zip(&arrays) {
                    if array.shape() != spec.shape.as_slice() {
                        return Err(PyValueError::new_err(format!(
                            "grad returned shape {:?} for 'd{}', expected {:?}",
                            array.shape(),
                            spec.name,
                            spec.shape
                        )));
                    }
                    values.extend(array.as_array().iter().copied());
                }
                Ok(values)
            },
        )?;
        Tensors::new(self.layout.clone(), values)
    }
}
