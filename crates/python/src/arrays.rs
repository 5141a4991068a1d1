//! The user's parameter arrays in their own dtype (float64 or float32): reading a caller's array
//! into θ, and the persistent copies the user's functions are called with, refilled from θ before
//! each call. A float32 copy holds θ rounded to float32, which is what the user's float32 code
//! computes with. Knows nothing of the user's functions, of locks or of the engine's settings.

use numpy::{AsSliceError, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// One tensor's persistent array, in the dtype of the caller's array.
pub(crate) enum Persistent {
    /// A float64 parameter.
    F64(Py<PyArrayDyn<f64>>),
    /// A float32 parameter: θ is rounded to float32 when it is copied in.
    F32(Py<PyArrayDyn<f32>>),
}

impl Persistent {
    /// A zeroed copy of the caller's `array` (float64 or float32, else `TypeError` naming
    /// `name`), with the array's values appended to `theta` (float32 widens exactly).
    pub(crate) fn read(
        name: &str,
        array: &Bound<'_, PyAny>,
        theta: &mut Vec<f64>,
    ) -> PyResult<(Self, Vec<usize>)> {
        let py = array.py();
        if let Ok(values) = array.extract::<PyReadonlyArrayDyn<'_, f64>>() {
            theta.extend(values.as_array().iter().copied());
            let copy = PyArrayDyn::<f64>::zeros(py, values.shape(), false);
            return Ok((Persistent::F64(copy.unbind()), values.shape().to_vec()));
        }
        if let Ok(values) = array.extract::<PyReadonlyArrayDyn<'_, f32>>() {
            theta.extend(values.as_array().iter().map(|&v| f64::from(v)));
            let copy = PyArrayDyn::<f32>::zeros(py, values.shape(), false);
            return Ok((Persistent::F32(copy.unbind()), values.shape().to_vec()));
        }
        Err(PyTypeError::new_err(format!(
            "parameter '{name}' is not a float64 or float32 numpy array"
        )))
    }

    /// Copies `values` (this tensor's slice of θ) into the array, rounding to float32 for a
    /// float32 tensor. `name` is for the error message.
    pub(crate) fn refill(&self, py: Python<'_>, name: &str, values: &[f64]) -> PyResult<()> {
        let failed = |e: AsSliceError| {
            PyValueError::new_err(format!(
                "gradproof could not refill parameter '{name}': {e}"
            ))
        };
        // SAFETY (both arms): the arrays are this problem's own, C-contiguous, made by `read` and
        // never borrowed from Rust elsewhere; the caller holds the problem's lock and the GIL, so
        // no other thread reads or writes them now. (numpy's borrow tracking, `try_readwrite`,
        // costs ~0.5 µs per array per evaluation and guards nothing more here.)
        match self {
            Persistent::F64(array) => {
                let target = unsafe { array.bind(py).as_slice_mut() }.map_err(failed)?;
                target.copy_from_slice(values);
            }
            Persistent::F32(array) => {
                let target = unsafe { array.bind(py).as_slice_mut() }.map_err(failed)?;
                for (slot, &value) in target.iter_mut().zip(values) {
                    *slot = value as f32; // round to nearest, as numpy's astype(float32)
                }
            }
        }
        Ok(())
    }

    /// The array as a Python object.
    pub(crate) fn bind<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        match self {
            Persistent::F64(array) => array.bind(py).clone().into_any(),
            Persistent::F32(array) => array.bind(py).clone().into_any(),
        }
    }
}
