//! `gradproof check --exec CMD`: a model written in any language, run as N processes speaking
//! gradproof-protocol 1 (docs/protocol.md), checked as a [`gradproof::Problem`]. The engine
//! calls the cost from several threads at once; a pool lends each call an idle process. The
//! first failure of any process (crash, hang, garbage, wrong size, an error it reports) stops
//! them all and is the error the check reports. Knows nothing of the built-in MLP or of the
//! command line's flags; the engine knows nothing of processes.

mod protocol;
mod worker;

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use gradproof::{Layout, Precision, Problem, Tensors};

use protocol::Handshake;
use worker::{Killer, Worker};

/// The model processes behind a check, and what their handshake declared.
pub struct ExecProblem {
    handshake: Handshake,
    theta: Vec<f64>,
    pool: Mutex<Pool>,
    /// Signalled when a worker comes back to the pool, or on a failure.
    returned: Condvar,
    /// Every worker's killer, to stop the busy ones too on a failure.
    killers: Vec<Killer>,
}

/// The idle workers, longest idle first (each gets its turn: the load is spread, and a worker
/// that misbehaves is soon asked), and the first failure.
struct Pool {
    idle: VecDeque<Worker>,
    failure: Option<String>,
}

impl ExecProblem {
    /// Starts `workers` copies of `command` (split like a POSIX shell would, no shell run) and
    /// reads their handshakes, which must agree; every answer must come within `timeout`.
    pub fn start(command: &str, workers: usize, timeout: Duration) -> Result<Self, String> {
        let argv = shlex::split(command)
            .ok_or_else(|| format!("'{command}': unbalanced quotes or a trailing backslash"))?;
        if argv.is_empty() {
            return Err("the command is empty: expected a program and its arguments".into());
        }
        let mut started = Vec::with_capacity(workers);
        let handshakes = start_all(&argv, workers, timeout, &mut started);
        let (handshake, theta) = match handshakes {
            Ok(first) => first,
            Err(error) => {
                // Killed at once rather than each given its grace: one may be hanging.
                started.iter_mut().for_each(Worker::kill);
                return Err(error);
            }
        };
        let killers = started.iter().map(Worker::killer).collect();
        Ok(ExecProblem {
            handshake,
            theta,
            pool: Mutex::new(Pool {
                idle: started.into(),
                failure: None,
            }),
            returned: Condvar::new(),
            killers,
        })
    }

    /// θ as the model declared it.
    pub fn theta(&self) -> &[f64] {
        &self.theta
    }

    /// The precision of the model's floats.
    pub fn precision(&self) -> Precision {
        self.handshake.dtype.precision()
    }

    /// The first failure of a worker, if any: the cause of whatever error the check returned.
    pub fn failure(&self) -> Option<String> {
        self.lock().failure.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks an idle worker (waiting for one) request `tag` at `theta`.
    fn ask(
        &self,
        tag: u8,
        theta: &[f64],
        expected: usize,
    ) -> gradproof::Result<(Vec<f64>, Option<u64>)> {
        let mut worker = {
            let mut pool = self.lock();
            loop {
                if let Some(failure) = &pool.failure {
                    return Err(gradproof::Error::model(format!("stopped: {failure}")));
                }
                if let Some(worker) = pool.idle.pop_front() {
                    break worker;
                }
                pool = self
                    .returned
                    .wait(pool)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let answer = worker.ask(tag, self.handshake.dtype, theta, expected);
        let mut pool = self.lock();
        if let Err(failure) = &answer {
            worker.kill();
            if pool.failure.is_none() {
                pool.failure = Some(failure.clone());
                self.stop_all();
            }
        }
        // Back in the pool even when dead: the pool is where workers are reaped, on drop.
        pool.idle.push_back(worker);
        drop(pool);
        self.returned.notify_all();
        answer.map_err(gradproof::Error::model)
    }

    /// Kills every worker, the busy ones included, whose reads then fail at once.
    fn stop_all(&self) {
        self.killers.iter().for_each(Killer::kill);
    }
}

/// Starts `workers` copies of `argv` into `started`, all before any handshake is read (their
/// start-up, an interpreter and its imports, overlaps), and returns the first one's handshake
/// and θ, which every other must repeat exactly.
fn start_all(
    argv: &[String],
    workers: usize,
    timeout: Duration,
    started: &mut Vec<Worker>,
) -> Result<(Handshake, Vec<f64>), String> {
    for index in 0..workers {
        started.push(Worker::spawn(index, argv, timeout)?);
    }
    let first = started[0].handshake()?;
    for worker in &mut started[1..] {
        let (handshake, theta) = worker.handshake()?;
        let same_theta = theta
            .iter()
            .zip(&first.1)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        if handshake != first.0 || !same_theta {
            return Err(format!(
                "worker {} (pid {}) declared other tensors, dtype or θ than worker 0: every \
                 copy of the model must start from the same parameters",
                worker.index(),
                worker.pid()
            ));
        }
    }
    Ok(first)
}

impl Drop for ExecProblem {
    /// Closes every model's input first, so that they exit together, then reaps them.
    fn drop(&mut self) {
        let mut pool = self.lock();
        pool.idle.iter_mut().for_each(Worker::close_input);
        pool.idle.clear();
    }
}

impl Problem for ExecProblem {
    fn layout(&self) -> &Layout {
        &self.handshake.layout
    }

    fn cost(&self, theta: &[f64]) -> gradproof::Result<f64> {
        Ok(self.ask(protocol::COST, theta, 1)?.0[0])
    }

    fn gradient(&self, theta: &[f64]) -> gradproof::Result<Tensors> {
        let (values, _) = self.ask(protocol::GRADIENT, theta, theta.len())?;
        Tensors::new(self.handshake.layout.clone(), values)
    }

    fn cost_with_signature(&self, theta: &[f64]) -> gradproof::Result<(f64, Option<u64>)> {
        if !self.handshake.signatures {
            return Ok((self.cost(theta)?, None));
        }
        let (values, signature) = self.ask(protocol::SIGNATURE, theta, 1)?;
        Ok((values[0], signature))
    }
}
