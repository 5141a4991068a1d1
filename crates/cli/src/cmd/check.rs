//! `gradproof check`: the exhaustive gradient check of the built-in MLP on random data, with
//! optional injected bugs, or of a model process speaking gradproof-protocol 1 (`--exec`, in
//! `crate::exec`). Exit code 0: every gradient agrees; 1: some gradient is wrong; 3:
//! inconclusive (nothing disagrees, but the evidence cannot decide: e.g. a step too small for the
//! cost's precision). With `--shard K/N`, one slice of the coordinates into a partial report
//! (`crate::partial`), which `gradproof merge` joins with the others.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use fraudnet::{Activation, Bug, MlpProblem};
use gradproof::{
    Checker, Mode, Precision, Problem, Reference, Report, Shard, StepRule, Tensors, Verdict,
};
use serde::Serialize;

use crate::Format;
use crate::exec::ExecProblem;
use crate::flags;
use crate::output::Files;
use crate::partial::{Model, PartialFile, Settings};
use crate::progress::Delayed;

/// Arguments of `gradproof check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check a model written in any language instead of the built-in MLP: run CMD (a program
    /// and its arguments, split as a POSIX shell would; no shell is run) as a process speaking
    /// gradproof-protocol 1 (docs/protocol.md); the tensors and θ are the ones its handshake
    /// declares.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["layers", "examples", "bugs", "activation", "l2", "dropout"])]
    pub exec: Option<String>,
    /// With --exec: run N copies of the model, 1 to 64, which answer the engine's threads in
    /// parallel (--threads defaults to N); the report is the same for any N.
    #[arg(long, value_name = "N", requires = "exec", value_parser = flags::count::<1, { flags::MAX_WORKERS }>)]
    pub workers: Option<usize>,
    /// With --exec: the seconds a model may take over one answer before the check stops with an
    /// error [default: 60] (its start-up and handshake may take 60 s, or this if longer).
    #[arg(long, value_name = "SECONDS", requires = "exec", value_parser = flags::seconds)]
    pub timeout: Option<f64>,
    /// Layer sizes, input first, output 1 last (ReLU hidden layers, sigmoid output, logistic
    /// cost).
    #[arg(long, default_value = "4,5,3,1", value_parser = parse_layers)]
    pub layers: Layers,
    /// Number of random examples, 1 to 100 000.
    #[arg(long, default_value_t = 3, value_parser = flags::count::<1, { flags::MAX_CHECK_EXAMPLES }>)]
    pub examples: usize,
    /// Seed of the random data and parameters (numpy's legacy generator) and of the sampled and
    /// directional modes' private generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    /// Which coordinates to check: exhaustive, sampled[=K per tensor], or directional[=K]
    /// (random-direction checks per tensor, then bisection to name K wrong elements each).
    #[arg(long, default_value = "exhaustive", value_parser = parse_mode)]
    pub mode: Mode,
    /// Finite-difference method: forward, central, central4 or richardson; or dual: no finite
    /// difference, the exact derivatives from forward passes in dual numbers (one per coordinate,
    /// or per probe in directional mode; --step is not used).
    #[arg(long, default_value = "central", value_parser = parse_method)]
    pub method: Reference,
    /// Step rule: `scaled` (c·max(1, |θᵢ|)·ε_mach^(1/(order+1)), truncation estimated),
    /// `scaled=C`, `auto` (adaptive: minimise truncation + roundoff per coordinate), or a fixed
    /// step such as 1e-7 (the notebook's), refused when θ ± step rounds to θ for a parameter.
    #[arg(long, default_value = "scaled", value_parser = parse_step, allow_hyphen_values = true)]
    pub step: StepRule,
    /// Check at N points: θ, then N − 1 random points near it (each coordinate moved by up to
    /// 10% of its scale, drawn from --seed), 1 to 10 000; the report is the first failing
    /// point's. Catches a gradient wrong only in some regime (a mask, a branch, a clamp).
    #[arg(long, default_value_t = 1, value_parser = flags::count::<1, { flags::MAX_POINTS }>)]
    pub points: usize,
    /// The precision the cost is computed in, when you know it: f64, f32, f16 or bf16 (steps and
    /// the noise floor are sized for it). Without it, recognised from the values of J.
    #[arg(long, value_parser = parse_precision)]
    pub precision: Option<Precision>,
    /// The seed-style threshold on the overall relative difference (reported next to the
    /// noise-aware verdict).
    #[arg(long, default_value_t = gradproof::settings::NOTEBOOK_THRESHOLD, allow_hyphen_values = true, value_parser = flags::positive)]
    pub threshold: f64,
    /// Relative tolerance, allclose-style: with --rtol and/or --atol, coordinate i agrees when
    /// |analytic − numeric| ≤ atol + rtol·|numeric| (instead of the estimated error bound).
    #[arg(long, allow_hyphen_values = true, value_parser = flags::non_negative)]
    pub rtol: Option<f64>,
    /// Absolute tolerance (see --rtol).
    #[arg(long, allow_hyphen_values = true, value_parser = flags::non_negative)]
    pub atol: Option<f64>,
    /// Recompute the whole cost for every perturbed parameter instead of using the model's
    /// incremental fast path (same verdicts; for comparisons).
    #[arg(long)]
    pub no_incremental: bool,
    /// Worker threads, 1 to 256 (results are identical for any count); RAYON_NUM_THREADS is
    /// capped at 256.
    #[arg(long, value_parser = flags::count::<1, { flags::MAX_THREADS }>)]
    pub threads: Option<usize>,
    /// Inject a bug into the hand-written gradient (repeatable): dW2:scale=2, dW1:sign,
    /// db3:zero, dW2[1,3]:add=1e-3, dW1:swap, or notebook (dW2 × 2 and db1 × 4).
    #[arg(long = "bug", value_name = "SPEC")]
    pub bugs: Vec<String>,
    /// Hidden activation of the MLP: relu, leaky_relu, tanh or sigmoid.
    #[arg(long, default_value = "relu", value_parser = parse_activation)]
    pub activation: Activation,
    /// L2 strength λ ≥ 0 in the cost.
    #[arg(long, default_value_t = 0.0, value_parser = flags::non_negative, allow_hyphen_values = true)]
    pub l2: f64,
    /// Dropout rate on hidden layers, in [0, 1), with one mask drawn from --seed and frozen for
    /// the check.
    #[arg(long, default_value_t = 0.0, value_parser = flags::rate, allow_hyphen_values = true)]
    pub dropout: f64,
    /// Also write the error-versus-step curve (a PNG, log-log: the V of truncation against
    /// roundoff) of the method along a random direction (written as `train --out` is).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Check only shard K of N (0 ≤ K < N): every N-th coordinate from the K-th (of the
    /// sample, in sampled mode; every N-th tensor in directional mode), written as a partial
    /// report to --out; `gradproof merge` joins the N partial reports into the report of the
    /// whole check (docs/sharding.md).
    #[arg(long, value_name = "K/N", requires = "out", conflicts_with = "plot", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// With --shard: the partial report's file (JSON; `-` for standard output), written whole
    /// or not at all.
    #[arg(short, long, value_name = "FILE", requires = "shard")]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// No progress bar (one is drawn on a terminal when the check runs for over 2 s).
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_activation(text: &str) -> Result<Activation, String> {
    text.parse().map_err(|e: fraudnet::Error| e.to_string())
}

/// Parsed `--layers`.
#[derive(Clone, Debug)]
pub struct Layers(pub Vec<usize>);

fn parse_mode(text: &str) -> Result<Mode, String> {
    text.parse().map_err(|e: gradproof::Error| e.to_string())
}

fn parse_method(text: &str) -> Result<Reference, String> {
    text.parse().map_err(|e: gradproof::Error| e.to_string())
}

fn parse_precision(text: &str) -> Result<Precision, String> {
    text.parse().map_err(|e: gradproof::Error| e.to_string())
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    text.parse().map_err(|e: gradproof::Error| e.to_string())
}

fn parse_step(text: &str) -> Result<StepRule, String> {
    text.parse().map_err(|e: gradproof::Error| e.to_string())
}

fn parse_layers(text: &str) -> Result<Layers, String> {
    fraudnet::model::parse_layers(text).map(Layers)
}

/// Runs the check and prints the report.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let method = match (&args.plot, args.method) {
        (Some(_), Reference::Dual) => anyhow::bail!(
            "--plot: method dual takes no step, so it has no error-versus-step curve to sweep; \
             use a finite-difference --method (forward, central, central4 or richardson)"
        ),
        (_, Reference::Differences(method)) => Some(method),
        (_, Reference::Dual) => None,
    };
    let mut files = Files::new();
    let plot = match &args.plot {
        Some(path) => Some(files.output("--plot", path)?),
        None => None,
    };
    let out = match &args.out {
        Some(path) => Some(files.output("--out", path)?),
        None => None,
    };
    let workers = args.workers.unwrap_or(1);
    crate::flags::start_threads(args.threads.or(args.exec.as_ref().map(|_| workers)))?;
    // The checker validates its settings when it runs; each flag alone first, so that an error
    // names the flag.
    let tolerance = match (args.rtol, args.atol) {
        (None, None) => None,
        (rtol, atol) => Some((rtol.unwrap_or(0.0), atol.unwrap_or(0.0))),
    };
    let mut flags = vec![
        ("--mode", Checker::new().mode(args.mode)),
        ("--step", Checker::new().step_rule(args.step)),
        ("--threshold", Checker::new().threshold(args.threshold)),
    ];
    if let Some((rtol, atol)) = tolerance {
        flags.push(("--rtol/--atol", Checker::new().tolerance(rtol, atol)));
    }
    for (flag, alone) in flags {
        alone.validate().context(flag)?;
    }
    let progress = Arc::new(Delayed::new(
        0,
        "checking {pos}/{len} coordinates [{bar:30}] {rate}, {eta} left",
        args.quiet,
    ));
    let bar = Arc::clone(&progress);
    let timeout = Duration::from_secs_f64(args.timeout.unwrap_or(DEFAULT_TIMEOUT));
    let exec = (args.exec.as_deref())
        .map(|command| ExecProblem::start(command, workers, timeout))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--exec: {e}"))?;
    let built_in: (MlpProblem, Tensors);
    let (problem, theta, precision): (&dyn Problem, &[f64], _) = match &exec {
        // An f32 model's steps and noise are f32's; an f64 one's precision is recognised from
        // its costs, as the built-in model's is.
        Some(model) => (model, model.theta(), Some(model.precision())),
        None => {
            built_in = built_in_model(args)?;
            (&built_in.0, built_in.1.values(), None)
        }
    };
    let settings = Settings {
        method: args.method,
        seed: args.seed,
        mode: args.mode,
        step: args.step,
        threshold: args.threshold,
        points: args.points,
        tolerance,
        precision: args
            .precision
            .or(precision.filter(|&p| p != Precision::F64)),
        incremental: !args.no_incremental,
        model: match exec {
            Some(_) => Model::Exec,
            None => Model::BuiltIn {
                layers: args.layers.0.clone(),
                examples: args.examples,
                activation: args.activation,
                l2: args.l2,
                dropout: args.dropout,
                bugs: args.bugs.clone(),
            },
        },
    };
    let checker =
        (settings.checker()).on_progress(move |done, total| bar.set(done as u64, total as u64));
    if let StepRule::Fixed(h) = args.step {
        flags::step_representable("--step", h, theta)?;
    }
    if let (Some(shard), Some(out)) = (args.shard, out) {
        let partial = checker.check_shard(problem, theta, shard);
        progress.finish();
        let partial = partial.map_err(|e| first_failure(exec.as_ref(), e).context("--shard"))?;
        let mine: usize = partial.points.iter().map(|p| p.coordinates.len()).sum();
        files.write(
            out,
            PartialFile::new(settings, partial).to_json()?.as_bytes(),
        )?;
        files.commit()?;
        eprintln!(
            "shard {shard}: {mine} coordinate derivative(s) written to {}",
            fraudnet::data::shown_path(args.out.as_deref().unwrap_or("-".as_ref()))
        );
        return Ok(ExitCode::SUCCESS);
    }
    let report = checker.check(problem, theta);
    progress.finish();
    let report = report.map_err(|e| first_failure(exec.as_ref(), e))?;
    outln!("{}", render(&report, args.format)?)?;
    if let (Some(path), Some(plot), Some(method)) = (&args.plot, plot, method) {
        let sweep = gradproof::sweep::step_sweep(
            problem,
            theta,
            method,
            &gradproof::sweep::default_steps(),
            u64::from(args.seed),
        )
        .map_err(|e| first_failure(exec.as_ref(), e))?;
        files.write(plot, &crate::plot::sweep_plot(&sweep)?)?;
        files.commit()?;
        eprintln!(
            "wrote {}: smallest error {:.2e} at step {:.1e}",
            fraudnet::data::shown_path(path),
            sweep.best.abs_error,
            sweep.best.h
        );
    }
    Ok(exit_code(report.verdict))
}

/// The exit code of a check with this verdict: 0 pass, 1 fail, 3 inconclusive.
pub fn exit_code(verdict: Verdict) -> ExitCode {
    match verdict {
        Verdict::Pass => ExitCode::SUCCESS,
        Verdict::Fail => ExitCode::from(1),
        Verdict::Inconclusive => ExitCode::from(INCONCLUSIVE),
    }
}

/// The report as `check` prints it (without the final newline): a table, or one JSON object.
pub fn render(report: &Report, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Text => report.to_string(),
        Format::Json => serde_json::to_string_pretty(&Json::from(report))?,
    })
}

/// The built-in MLP on random data, with the flags' activation, L2, dropout and bugs, and its θ.
fn built_in_model(args: &Args) -> anyhow::Result<(MlpProblem, Tensors)> {
    let bugs = Bug::parse_all(args.bugs.iter().map(String::as_str)).context("--bug")?;
    let (random, theta) =
        MlpProblem::random(&args.layers.0, args.examples, args.seed).context("--examples")?;
    let mlp = random
        .mlp()
        .clone()
        .with_activation(args.activation)
        .with_l2(args.l2)
        .context("--l2")?;
    let mut problem = MlpProblem::new(mlp, random.x().clone(), random.y().clone())?;
    if args.dropout > 0.0 {
        problem = problem
            .with_dropout(args.dropout, args.seed)
            .context("--dropout")?;
    }
    Ok((problem.with_bugs(bugs).context("--bug")?, theta))
}

/// The error of a check: a model process's first failure when there was one (it stopped the
/// other processes, whose errors would only say so), else the engine's.
fn first_failure(exec: Option<&ExecProblem>, error: gradproof::Error) -> anyhow::Error {
    match exec.and_then(ExecProblem::failure) {
        Some(failure) => anyhow::anyhow!("--exec: {failure}"),
        None => error.into(),
    }
}

/// `--timeout`'s default, in seconds.
const DEFAULT_TIMEOUT: f64 = 60.0;

/// The exit code of an inconclusive check (2 is a usage or input error).
pub const INCONCLUSIVE: u8 = 3;

/// The JSON shape of `gradproof check --format json`.
#[derive(Serialize)]
struct Json<'a> {
    verdict: Verdict,
    reason: Option<&'a str>,
    detection_floor: f64,
    failing: Vec<&'a str>,
    /// The point the report is about (0: θ) and how many were checked (`--points`).
    point: usize,
    points: usize,
    difference: f64,
    notebook_threshold: f64,
    notebook_verdict: &'static str,
    tensors: Vec<TensorJson<'a>>,
    evaluations: usize,
    seconds: f64,
    report: &'a Report,
}

#[derive(Serialize)]
struct TensorJson<'a> {
    gradient_name: &'a str,
    shape: &'a [usize],
    difference: f64,
    threshold: f64,
    verdict: &'static str,
    /// Elements whose own derivative was compared (see `TensorReport::examined`).
    examined: usize,
    /// Elements found wrong among them.
    wrong: usize,
    /// Directional derivatives spent on the tensor (0 outside directional mode).
    probes: usize,
    /// Elements on a kink, checked against the interval of their one-sided derivatives
    /// (among `examined`; see `TensorReport::kink`).
    kink: usize,
    /// Of those, the ones outside their interval (among `wrong`).
    kink_outside: usize,
    /// The detection floor at those elements (see `TensorReport::kink_floor`); null without.
    kink_floor: Option<f64>,
    /// The detection floor away from kinks (see `TensorReport::detection_floor`).
    detection_floor: f64,
    /// Elements the differences cannot decide (see `TensorReport::unresolved`).
    unresolved: usize,
    /// The counts in words, as the text table says them.
    summary: String,
    worst: Option<&'a gradproof::Worst>,
}

fn pass_fail(passed: bool) -> &'static str {
    if passed { "pass" } else { "fail" }
}

/// A tensor's verdict: "fail" when it disagrees; in which nothing disagrees, "pass" when the
/// whole check could decide, "undecided" on an inconclusive check.
fn tensor_verdict(passed: bool, verdict: Verdict) -> &'static str {
    match (passed, verdict) {
        (false, _) => "fail",
        (true, Verdict::Inconclusive) => "undecided",
        (true, _) => "pass",
    }
}

impl<'a> From<&'a Report> for Json<'a> {
    fn from(report: &'a Report) -> Self {
        Json {
            verdict: report.verdict,
            reason: report.reason.as_deref(),
            detection_floor: report.detection_floor,
            failing: report.failing(),
            point: report.point,
            points: report.points,
            difference: report.difference,
            notebook_threshold: report.notebook_threshold,
            notebook_verdict: pass_fail(report.notebook_passed()),
            tensors: report
                .tensors
                .iter()
                .map(|t| TensorJson {
                    gradient_name: &t.gradient_name,
                    shape: &t.shape,
                    difference: t.difference,
                    threshold: t.threshold,
                    verdict: tensor_verdict(t.passed, report.verdict),
                    examined: t.examined,
                    wrong: t.disagree,
                    probes: t.probes,
                    kink: t.kink,
                    kink_outside: t.kink_outside,
                    kink_floor: t.kink_floor,
                    detection_floor: t.detection_floor(),
                    unresolved: t.unresolved,
                    summary: t.summary(report.mode),
                    worst: t.worst(),
                })
                .collect(),
            evaluations: report.evaluations,
            seconds: report.seconds,
            report,
        }
    }
}
