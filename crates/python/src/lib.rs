//! `gradproof._core`, the binding between the pure-Python package `gradproof` and the engine: it
//! turns the settings' text forms into a [`Checker`], the named float64 or float32 arrays into a
//! [`Layout`] and θ, runs the check with the GIL released, and hands the [`Report`](gradproof::Report) back
//! as JSON, its table and its failure lines. The user's exceptions come back as themselves,
//! engine errors as `ValueError`. Validating the user's dict (keys, dtypes, shapes) is the
//! Python side's job; what a report means is the engine's. The fraud model's class is in
//! `fraud.rs`.

mod arrays;
mod fraud;
mod problem;

use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gradproof::{Checker, Error, Layout, Mode, Precision, Reference, StepRule, TensorSpec};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::Persistent;
use crate::problem::{Argument, PyProblem};

/// The one-thread pool checks run on. The user's functions run one at a time anyway (each holds
/// the GIL); on several threads they would only pass the GIL back and forth, which costs more than
/// a small cost function (measured: 0.4 µs per evaluation on one thread, 11 µs on rayon's two).
/// The engine's results do not depend on the thread count. A process forked after a check
/// (multiprocessing, data-loader workers) has no copy of the thread, so it gets a pool of its own.
fn pool() -> PyResult<&'static rayon::ThreadPool> {
    static POOL: Mutex<Option<(u32, &'static rayon::ThreadPool)>> = Mutex::new(None);
    let mut current = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    let process = std::process::id();
    if let Some((owner, pool)) = *current
        && owner == process
    {
        return Ok(pool);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .thread_name(|_| "gradproof".to_string())
        .start_handler(|_| keep_python_thread_state())
        .build()
        .map_err(|e| PyValueError::new_err(format!("gradproof could not start its thread: {e}")))?;
    // One pool per process for the life of the process (a parent's pool in a forked child has
    // no thread behind it and is never used again).
    let pool: &'static rayon::ThreadPool = Box::leak(Box::new(pool));
    *current = Some((process, pool));
    Ok(pool)
}

/// Gives the pool's thread a Python thread state that lives as long as the thread, then releases
/// the GIL. Without it, every `Python::attach` on the thread would create and destroy a thread
/// state (`PyGILState_Ensure` on a thread Python does not know), several µs per evaluation.
fn keep_python_thread_state() {
    // SAFETY: the interpreter is initialised (this module was imported into it). Ensure makes
    // the thread state and takes the GIL; SaveThread releases the GIL and keeps the state, whose
    // pointer the thread never needs: later attaches find the state through the GILState API.
    unsafe {
        pyo3::ffi::PyGILState_Ensure();
        pyo3::ffi::PyEval_SaveThread();
    }
}

/// The latest `(done, total)` the engine reported, not yet handed to the user's progress
/// function: written on the engine's thread, read on the calling thread.
#[derive(Default)]
struct Latest(Mutex<Option<(usize, usize)>>);

impl Latest {
    fn set(&self, done: usize, total: usize) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((done, total));
    }

    fn take(&self) -> Option<(usize, usize)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// The user's progress function and what it has not been told yet.
struct Progress {
    callback: Py<PyAny>,
    latest: Arc<Latest>,
}

impl Progress {
    /// Calls `callback(done, total)` with the latest count, if there is a new one (on the calling
    /// thread, with the GIL: a notebook widget or a terminal bar is drawn where the user is).
    fn tell(&self, py: Python<'_>) -> PyResult<()> {
        match self.latest.take() {
            Some((done, total)) => self.callback.bind(py).call1((done, total)).map(drop),
            None => Ok(()),
        }
    }
}

/// Runs `check` on the pool while this (the calling) thread waits without the GIL and looks
/// for signals every 50 ms: Python runs signal handlers only on the main thread, so without this
/// Ctrl-C would not stop a long check. A handler's exception (KeyboardInterrupt) interrupts the
/// problem, whose next call fails, and is raised once the engine has returned. With `progress`,
/// the user's function is told the latest count at the same moments and once at the end; an
/// exception it raises stops the check the same way.
fn run_interruptibly<T: Send>(
    py: Python<'_>,
    problem: &PyProblem,
    progress: Option<&Progress>,
    check: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    let pool = pool()?;
    let (done, mut finished) = std::sync::mpsc::channel();
    let tell = |py: Python<'_>| progress.map_or(Ok(()), |progress| progress.tell(py));
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let _ = done.send(pool.install(check));
        });
        loop {
            // (The receiver is moved in and out: it may be sent to another thread, not shared.)
            let waited;
            (finished, waited) = py.detach(move || {
                let waited = finished.recv_timeout(Duration::from_millis(50));
                (finished, waited)
            });
            match waited {
                Ok(outcome) => {
                    // The last count (the engine's own final call). Should the function raise
                    // now, the check raises its exception, unless the check failed already
                    // (the first exception is the one raised).
                    if let Err(raised) = tell(py) {
                        py.detach(|| problem.interrupt(raised));
                    }
                    return Ok(outcome);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(stop) = py.check_signals().and_then(|()| tell(py)) {
                        py.detach(|| problem.interrupt(stop));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(PyValueError::new_err("gradproof's check thread stopped"));
                }
            }
        }
    })
}

/// An engine error as the `ValueError` a Python caller sees.
fn value_error(error: Error) -> PyErr {
    PyValueError::new_err(error.to_string())
}

/// The settings of `gradproof.check`, in their text forms.
struct Settings<'a> {
    mode: &'a str,
    method: &'a str,
    step: Option<&'a str>,
    seed: u64,
    precision: Option<&'a str>,
    points: usize,
}

/// The checker for the settings; an engine error (a bad mode, step, …) as a `ValueError`.
fn checker(settings: &Settings<'_>) -> PyResult<Checker> {
    let mode: Mode = settings.mode.parse().map_err(value_error)?;
    let reference: Reference = settings.method.parse().map_err(value_error)?;
    if reference.is_exact() {
        return Err(PyValueError::new_err(
            "method must be one of forward, central, central4 or richardson, got 'dual': exact \
             dual-number derivatives need a cost written over the engine's number type (a Rust \
             DualProblem), which a Python function is not",
        ));
    }
    let mut checker = Checker::new()
        .mode(mode)
        .reference(reference)
        .seed(settings.seed)
        .points(settings.points);
    if let Some(step) = settings.step {
        checker = checker.step_rule(step.parse::<StepRule>().map_err(value_error)?);
    }
    if let Some(precision) = settings.precision {
        checker = checker.precision(precision.parse::<Precision>().map_err(value_error)?);
    }
    Ok(checker)
}

/// Checks `grad` against finite differences of `cost` at the tensors `names`/`arrays`
/// (float64 or float32 numpy arrays, in order; each keeps its dtype in the arrays the functions
/// are called with). With `single`, the functions are called with the one array, else with a
/// dict of them; `grad` must return a list of float64 arrays in the same order. `precision`
/// declares the precision the cost is computed in (`None`: recognised from its values);
/// `points` is the number of points checked (θ, then seeded random points near it).
/// `progress`, when given, is called `progress(done, total)` with the coordinates differenced
/// so far, from the calling thread, about every 50 ms and at the end.
/// Returns the report as JSON, its table and its failure lines.
#[pyfunction]
#[pyo3(signature = (cost, grad, names, arrays, single, mode, method, step, seed, precision, points, progress=None))]
#[allow(clippy::too_many_arguments)] // one per setting of `gradproof.check`, all positional
fn check(
    py: Python<'_>,
    cost: Py<PyAny>,
    grad: Py<PyAny>,
    names: Vec<String>,
    arrays: Vec<Bound<'_, PyAny>>,
    single: bool,
    mode: &str,
    method: &str,
    step: Option<&str>,
    seed: u64,
    precision: Option<&str>,
    points: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<(String, String, Vec<String>)> {
    let mut checker = checker(&Settings {
        mode,
        method,
        step,
        seed,
        precision,
        points,
    })?;
    let progress = progress.map(|callback| Progress {
        callback,
        latest: Arc::default(),
    });
    if let Some(progress) = &progress {
        let latest = Arc::clone(&progress.latest);
        checker = checker.on_progress(move |done, total| latest.set(done, total));
    }
    if names.len() != arrays.len() {
        return Err(PyValueError::new_err(format!(
            "{} names for {} arrays",
            names.len(),
            arrays.len()
        )));
    }
    let mut theta = Vec::new();
    let mut persistent = Vec::with_capacity(arrays.len());
    let mut specs = Vec::with_capacity(arrays.len());
    for (name, array) in names.iter().zip(&arrays) {
        let (copy, shape) = Persistent::read(name, array, &mut theta)?;
        persistent.push(copy);
        specs.push(TensorSpec::new(name.as_str(), shape));
    }
    let layout = Layout::new(specs).map_err(value_error)?;
    let argument = if single {
        Argument::Single
    } else {
        Argument::Dict(PyDict::new(py).unbind())
    };
    let problem = PyProblem::new(layout, cost, grad, persistent, argument);
    let outcome = run_interruptibly(py, &problem, progress.as_ref(), || {
        checker.check(&problem, &theta)
    })?;
    if let Some(raised) = problem.take_error() {
        return Err(raised);
    }
    let report = outcome.map_err(value_error)?;
    let json = serde_json::to_string(&report)
        .map_err(|e| PyValueError::new_err(format!("the report could not be serialised: {e}")))?;
    Ok((json, report.to_string(), report.failure_lines()))
}

/// The extension module `gradproof._core`.
#[pymodule]
fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(check, module)?)?;
    module.add_class::<fraud::FraudModel>()?;
    Ok(())
}
