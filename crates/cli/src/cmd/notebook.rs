//! `gradproof notebook`: the seed notebook, step by step, as text or as one JSON object.

use std::collections::BTreeMap;
use std::process::ExitCode;

use fraudnet::notebook::{self, NotebookRun};
use gradproof::Report;
use serde::Serialize;

use crate::Format;

/// Arguments of `gradproof notebook`.
#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Runs the notebook and prints it. Exit code 0: the notebook's story came out as it should
/// (the buggy pass caught, the fixed pass correct); 1 otherwise.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let run = notebook::run()?;
    match args.format {
        Format::Text => {
            use std::io::Write as _;
            write!(std::io::stdout().lock(), "{}", text(&run))?
        }
        Format::Json => outln!("{}", serde_json::to_string_pretty(&Json::from(&run))?)?,
    }
    let as_expected = run.one_d.correct && !run.n_dim.buggy.passed() && run.n_dim.fixed.passed();
    Ok(if as_expected {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Python 2's `str(float)`: 12 significant digits, as the notebook printed its differences.
fn twelve_digits(value: f64) -> String {
    let s = format!("{value:.11e}");
    let (mantissa, exponent) = s.split_once('e').expect("scientific notation");
    let exponent: i32 = exponent.parse().expect("an integer exponent");
    if (-5..12).contains(&exponent) {
        let decimals = (11 - exponent).max(0) as usize;
        let fixed = format!("{value:.decimals$}");
        let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
        trimmed.to_string()
    } else {
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        format!("{mantissa}e{exponent:+03}")
    }
}

fn text(run: &NotebookRun) -> String {
    let one = &run.one_d;
    let n = &run.n_dim;
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line("gradproof notebook: the seed's \"Gradient Checking\", step by step".into());
    line(String::new());
    line(format!(
        "1) One dimension: J(θ) = θx with x = {}, θ = {}",
        notebook::X,
        notebook::THETA
    ));
    line(format!("   J = {}", one.j));
    line(format!("   dtheta = {}", one.dtheta));
    line(format!(
        "   {} difference = {:?}",
        if one.correct {
            "The gradient is correct!"
        } else {
            "The gradient is wrong!"
        },
        one.difference
    ));
    line(indent(&one.report));
    line(String::new());
    line(format!(
        "2) N dimensions: LINEAR→RELU→LINEAR→RELU→LINEAR→SIGMOID, seed 1, {} parameters",
        n.fixed.parameters
    ));
    line(format!("   cost J = {:?}", n.cost));
    line(String::new());
    line("   The notebook's backward pass (dW2 × 2, db1 × 4):".into());
    line(format!(
        "   seed's check (ε = 1e-7, threshold 1e-7): {} difference = {}",
        seed_sentence(&n.buggy),
        twelve_digits(n.buggy.difference)
    ));
    line(indent(&n.buggy));
    line(String::new());
    line("   The corrected backward pass:".into());
    line(format!(
        "   seed's check (ε = 1e-7, threshold 1e-7): {} difference = {}",
        seed_sentence(&n.fixed),
        twelve_digits(n.fixed.difference)
    ));
    line(indent(&n.fixed));
    out
}

/// The notebook's own sentence for its verdict (threshold 1e-7).
fn seed_sentence(report: &Report) -> &'static str {
    if report.notebook_passed() {
        "Your backward propagation works perfectly fine!"
    } else {
        "There is a mistake in the backward propagation!"
    }
}

fn indent(report: &Report) -> String {
    report
        .to_string()
        .lines()
        .map(|l| format!("   {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The JSON shape of `gradproof notebook --format json`.
#[derive(Serialize)]
struct Json<'a> {
    one_d: OneDJson<'a>,
    n_dim: NDimJson<'a>,
}

#[derive(Serialize)]
struct OneDJson<'a> {
    #[serde(rename = "J")]
    j: f64,
    dtheta: f64,
    difference: f64,
    correct: bool,
    report: &'a Report,
}

#[derive(Serialize)]
struct NDimJson<'a> {
    cost: f64,
    epsilon: f64,
    notebook_threshold: f64,
    buggy: CheckJson<'a>,
    fixed: CheckJson<'a>,
}

#[derive(Serialize)]
struct CheckJson<'a> {
    /// The notebook's relative difference over all parameters.
    difference: f64,
    /// The noise-aware verdict: every tensor agrees, on evidence that can decide.
    passed: bool,
    /// The smallest relative gradient error the check can catch.
    detection_floor: f64,
    /// The notebook's verdict: difference < 1e-7.
    notebook_passed: bool,
    /// Gradient names whose tensor fails, in layout order.
    failing: Vec<&'a str>,
    /// Gradient name -> that tensor's relative difference.
    tensors: BTreeMap<&'a str, f64>,
    /// Gradient name -> the roundoff threshold that tensor was judged against.
    thresholds: BTreeMap<&'a str, f64>,
    /// One sentence on the verdict.
    verdict: String,
    /// The engine's full report.
    report: &'a Report,
}

impl<'a> From<&'a Report> for CheckJson<'a> {
    fn from(report: &'a Report) -> Self {
        CheckJson {
            difference: report.difference,
            passed: report.passed(),
            detection_floor: report.detection_floor,
            notebook_passed: report.notebook_passed(),
            failing: report.failing(),
            tensors: report
                .tensors
                .iter()
                .map(|t| (t.gradient_name.as_str(), t.difference))
                .collect(),
            thresholds: report
                .tensors
                .iter()
                .map(|t| (t.gradient_name.as_str(), t.threshold))
                .collect(),
            verdict: report.verdict(),
            report,
        }
    }
}

impl<'a> From<&'a NotebookRun> for Json<'a> {
    fn from(run: &'a NotebookRun) -> Self {
        Json {
            one_d: OneDJson {
                j: run.one_d.j,
                dtheta: run.one_d.dtheta,
                difference: run.one_d.difference,
                correct: run.one_d.correct,
                report: &run.one_d.report,
            },
            n_dim: NDimJson {
                cost: run.n_dim.cost,
                epsilon: run.n_dim.fixed.epsilon,
                notebook_threshold: run.n_dim.fixed.notebook_threshold,
                buggy: CheckJson::from(&run.n_dim.buggy),
                fixed: CheckJson::from(&run.n_dim.fixed),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::twelve_digits;

    #[test]
    fn prints_like_python_2() {
        assert_eq!(twelve_digits(0.285093156780699), "0.285093156781");
        assert_eq!(twelve_digits(1.189041787877932e-7), "1.18904178788e-07");
        assert_eq!(twelve_digits(2.0), "2");
    }
}
