//! One model process: started with piped stdin and stdout (its stderr goes to the user's), a
//! writer thread feeding its stdin and a reader thread draining its stdout, so that every wait
//! for the model — a blocked write to a model that stopped reading included — ends at the
//! timeout. Asks one request at a time and turns what comes back into values or into a one-line
//! error naming the worker, the request and the bytes received. Knows the protocol's bytes
//! (through `protocol`) but nothing of pools or of the checking engine.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::protocol::{self, Dtype, Handshake};

/// The least time a model is given to start and write its handshake, whatever the timeout of
/// an answer: an interpreter's start-up (imports, loading weights) on a busy machine is not an
/// answer.
pub const STARTUP: Duration = Duration::from_secs(60);

/// How long a model may take to exit once its stdin is closed, before it is killed.
const GRACE: Duration = Duration::from_secs(2);

/// How long to wait for the exit status of a model that closed its output, for the error.
const EXIT_WAIT: Duration = Duration::from_millis(500);

/// A running model process speaking gradproof-protocol 1.
pub struct Worker {
    index: usize,
    pid: u32,
    /// Shared with the [`Killer`]s handed out, so that another thread can kill the process
    /// while this one waits for it.
    child: Arc<Mutex<Child>>,
    /// Requests to the writer thread; dropped to close the model's stdin.
    to_model: Option<Sender<Vec<u8>>>,
    /// What the reader thread read; disconnected at the end of the model's output.
    from_model: Receiver<Vec<u8>>,
    /// Received bytes not consumed yet (from `consumed` on).
    received: Vec<u8>,
    consumed: usize,
    /// Requests sent so far.
    requests: u64,
    /// How long an answer may take.
    timeout: Duration,
    /// How long the current wait may take (the timeout, or the start-up's allowance).
    allowed: Duration,
}

/// Why fewer bytes than asked for came back.
enum Short {
    /// The model closed its output.
    Closed,
    /// The timeout passed.
    Late,
}

impl Worker {
    /// Starts `argv` as worker `index`; each answer must come within `timeout`.
    pub fn spawn(index: usize, argv: &[String], timeout: Duration) -> Result<Self, String> {
        let (program, arguments) = argv.split_first().ok_or("the command is empty")?;
        let mut child = Command::new(program)
            .args(arguments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start '{program}': {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let pid = child.id();
        let (to_model, requests) = channel();
        let (answers, from_model) = channel();
        // Detached: each ends when its pipe closes, at the latest when the process is killed.
        thread::spawn(move || write_requests(stdin, &requests));
        thread::spawn(move || read_answers(stdout, &answers));
        Ok(Worker {
            index,
            pid,
            child: Arc::new(Mutex::new(child)),
            to_model: Some(to_model),
            from_model,
            received: Vec::new(),
            consumed: 0,
            requests: 0,
            timeout,
            allowed: timeout,
        })
    }

    /// The worker's position among its siblings.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Closes the model's stdin: the protocol's shutdown.
    pub fn close_input(&mut self) {
        self.to_model = None;
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A handle that kills this worker's process from any thread.
    pub fn killer(&self) -> Killer {
        Killer(Arc::clone(&self.child))
    }

    fn child(&self) -> MutexGuard<'_, Child> {
        lock(&self.child)
    }

    /// Reads the handshake line and θ, waiting for them [`STARTUP`] or the timeout, whichever
    /// is longer.
    pub fn handshake(&mut self) -> Result<(Handshake, Vec<f64>), String> {
        self.allowed = self.timeout.max(STARTUP);
        let deadline = Instant::now() + self.allowed;
        let line = self
            .line(deadline)
            .map_err(|e| self.blame("handshake", &e))?;
        let handshake = Handshake::parse(&line).map_err(|e| {
            self.blame("handshake", &format!("{e}; got {}", protocol::shown(&line)))
        })?;
        let theta = self
            .frame(handshake.dtype, handshake.layout.len(), deadline)
            .map_err(|e| self.blame("handshake: θ", &e))?;
        Ok((handshake, theta))
    }

    /// Sends request `tag` at `theta` and reads the answer: `expected` floats, and a signature
    /// for a [`protocol::SIGNATURE`] request.
    pub fn ask(
        &mut self,
        tag: u8,
        dtype: Dtype,
        theta: &[f64],
        expected: usize,
    ) -> Result<(Vec<f64>, Option<u64>), String> {
        self.requests += 1;
        let what = format!("{} request {}", protocol::request_name(tag), self.requests);
        self.allowed = self.timeout;
        let deadline = Instant::now() + self.allowed;
        let sent = self
            .to_model
            .as_ref()
            .is_some_and(|to| to.send(protocol::request(tag, dtype, theta)).is_ok());
        if !sent {
            return Err(self.blame(&what, "the model's input is closed"));
        }
        let answer = self.answer(tag, dtype, expected, deadline);
        answer.map_err(|e| self.blame(&what, &e))
    }

    /// Kills the process (it is reaped when the worker is dropped).
    pub fn kill(&mut self) {
        self.killer().kill();
    }

    fn answer(
        &mut self,
        tag: u8,
        dtype: Dtype,
        expected: usize,
        deadline: Instant,
    ) -> Result<(Vec<f64>, Option<u64>), String> {
        let kind = self.take(1, "an answer tag", deadline)?[0];
        match kind {
            protocol::RESULT => {
                let values = self.frame(dtype, expected, deadline)?;
                let signature = if tag == protocol::SIGNATURE {
                    let word = self.take(protocol::WORD, "a signature", deadline)?;
                    Some(u64::from_le_bytes(word.try_into().expect("8 bytes")))
                } else {
                    None
                };
                Ok((values, signature))
            }
            protocol::ERROR => {
                let length = self.take(4, "an error message's length", deadline)?;
                let length = u32::from_le_bytes(length.try_into().expect("4 bytes")) as usize;
                if length > protocol::MAX_MESSAGE {
                    return Err(format!(
                        "an error message of {length} bytes announced, at most {} expected",
                        protocol::MAX_MESSAGE
                    ));
                }
                let message = self.take(length, "an error message", deadline)?;
                Err(format!(
                    "the model reported an error: {}",
                    String::from_utf8_lossy(&message)
                ))
            }
            _ => {
                // Whatever else arrived is what the user needs to see (a stray print, a
                // traceback on the wrong stream).
                self.drain(deadline.min(Instant::now() + Duration::from_millis(100)));
                let mut bytes = vec![kind];
                bytes.extend_from_slice(&self.received[self.consumed..]);
                Err(format!(
                    "expected an answer tag 'R' or 'E', got {}",
                    protocol::shown(&bytes)
                ))
            }
        }
    }

    /// A float frame that must hold `expected` floats.
    fn frame(
        &mut self,
        dtype: Dtype,
        expected: usize,
        deadline: Instant,
    ) -> Result<Vec<f64>, String> {
        let count = self.take(protocol::WORD, "a frame's count", deadline)?;
        let count = u64::from_le_bytes(count.try_into().expect("8 bytes"));
        if count != expected as u64 {
            return Err(format!(
                "answered a frame of {count} values, expected {expected}"
            ));
        }
        let bytes = self.take(expected * dtype.width(), "a frame's values", deadline)?;
        Ok(dtype.decode(&bytes))
    }

    /// The handshake line, without its `\n`.
    fn line(&mut self, deadline: Instant) -> Result<Vec<u8>, String> {
        loop {
            let pending = &self.received[self.consumed..];
            if let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line = pending[..end].to_vec();
                self.consumed += end + 1;
                return Ok(line);
            }
            if pending.len() > protocol::MAX_HANDSHAKE {
                return Err(format!(
                    "no end of line in the first {} bytes; got {}",
                    protocol::MAX_HANDSHAKE,
                    protocol::shown(pending)
                ));
            }
            if let Err(short) = self.receive(deadline) {
                let pending = self.received[self.consumed..].to_vec();
                return Err(self.shortfall(&short, "a handshake line", &pending));
            }
        }
    }

    /// The next `n` received bytes (`what` they should be), waiting for them until `deadline`.
    fn take(&mut self, n: usize, what: &str, deadline: Instant) -> Result<Vec<u8>, String> {
        while self.received.len() - self.consumed < n {
            if let Err(short) = self.receive(deadline) {
                let pending = self.received[self.consumed..].to_vec();
                let plural = if n == 1 { "" } else { "s" };
                let wanted = format!("{what} ({n} byte{plural})");
                return Err(self.shortfall(&short, &wanted, &pending));
            }
        }
        let bytes = self.received[self.consumed..self.consumed + n].to_vec();
        self.consumed += n;
        if self.consumed == self.received.len() {
            self.received.clear();
            self.consumed = 0;
        }
        Ok(bytes)
    }

    /// Waits for one more chunk of output.
    fn receive(&mut self, deadline: Instant) -> Result<(), Short> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.from_model.recv_timeout(left) {
            Ok(chunk) => {
                self.received.extend_from_slice(&chunk);
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Err(Short::Late),
            Err(RecvTimeoutError::Disconnected) => Err(Short::Closed),
        }
    }

    /// Receives whatever arrives until `deadline`.
    fn drain(&mut self, deadline: Instant) {
        while self.received.len() - self.consumed < 4096 && self.receive(deadline).is_ok() {}
    }

    /// Why `wanted` did not come, with what came instead.
    fn shortfall(&mut self, short: &Short, wanted: &str, got: &[u8]) -> String {
        let got = if got.is_empty() {
            "nothing".to_string()
        } else {
            format!("{} bytes {}", got.len(), protocol::shown(got))
        };
        match short {
            Short::Late => format!(
                "no answer within {} s: expected {wanted}, got {got}",
                self.allowed.as_secs_f64()
            ),
            Short::Closed => format!(
                "the model closed its output ({}): expected {wanted}, got {got}",
                self.exit_status()
            ),
        }
    }

    /// The exit status of a process that closed its output, if it exits soon.
    fn exit_status(&mut self) -> String {
        let deadline = Instant::now() + EXIT_WAIT;
        loop {
            match self.child().try_wait() {
                Ok(Some(status)) => return format!("it exited with {status}"),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                _ => return "it is still running".to_string(),
            }
        }
    }

    /// `problem`, prefixed with the worker and what it was asked.
    fn blame(&self, what: &str, problem: &str) -> String {
        format!(
            "worker {} (pid {}): {what}: {problem}",
            self.index,
            self.pid()
        )
    }
}

impl Drop for Worker {
    /// Closes the model's stdin (its signal to exit), gives it [`GRACE`] to do so, then kills
    /// it; reaps it either way: no zombie, no orphan left running.
    fn drop(&mut self) {
        self.close_input();
        let deadline = Instant::now() + GRACE;
        let mut child = self.child();
        while let Ok(None) = child.try_wait() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Kills a worker's process from another thread than the one using the worker. Safe at any
/// time: the standard library sends no signal to a process it has already reaped, whose pid
/// may belong to another process by then.
#[derive(Clone)]
pub struct Killer(Arc<Mutex<Child>>);

impl Killer {
    /// Kills the process (SIGKILL) if it has not been reaped yet.
    pub fn kill(&self) {
        let _ = lock(&self.0).kill();
    }
}

fn lock(child: &Mutex<Child>) -> MutexGuard<'_, Child> {
    child.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The writer thread: each request in one write, flushed; ends when the worker closes the
/// channel or the model stops reading for good.
fn write_requests(mut stdin: ChildStdin, requests: &Receiver<Vec<u8>>) {
    for request in requests {
        if stdin
            .write_all(&request)
            .and_then(|()| stdin.flush())
            .is_err()
        {
            return;
        }
    }
}

/// The reader thread: forwards the model's output in chunks until it ends.
fn read_answers(mut stdout: ChildStdout, answers: &Sender<Vec<u8>>) {
    let mut buffer = vec![0; 1 << 16];
    loop {
        match stdout.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => {
                if answers.send(buffer[..n].to_vec()).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
