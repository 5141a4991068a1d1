//! One set of rules for the numeric flags of every subcommand: each flag's parser says what it
//! expects (clap names the flag in the message: `invalid value 'nan' for '--lr <LR>': expected a
//! finite number > 0`), and every size, count and thread number has an upper bound here,
//! checked before any work. Knows nothing of what the numbers are used for.

/// The most worker threads (`check --threads`, and `RAYON_NUM_THREADS`, capped to this).
pub const MAX_THREADS: u64 = 256;
/// The most model processes `check --exec` runs (`--workers`).
pub const MAX_WORKERS: u64 = 64;
/// The most rows `generate` writes (about 110 GB of CSV).
pub const MAX_GENERATE_ROWS: u64 = 1_000_000_000;
/// The most epochs of `train` (and so of `--patience` and `--check-every`).
pub const MAX_EPOCHS: u64 = 100_000;
/// The largest mini-batch (also at most the training rows, checked once they are read).
pub const MAX_BATCH: u64 = fraudnet::data::MAX_ROWS as u64;
/// The most examples in one gradient check (`check --examples`, `train --check-examples`).
pub const MAX_CHECK_EXAMPLES: u64 = 100_000;
/// The most points `check --points` takes (each is a whole check).
pub const MAX_POINTS: u64 = 10_000;

/// A count in `MIN..=MAX`.
pub fn count<const MIN: u64, const MAX: u64>(text: &str) -> Result<usize, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if (MIN..=MAX).contains(&n) => usize::try_from(n).map_err(|e| e.to_string()),
        _ => Err(format!("expected a whole number from {MIN} to {MAX}")),
    }
}

/// A row count in `1..=MAX_GENERATE_ROWS`.
pub fn rows(text: &str) -> Result<u64, String> {
    count::<1, MAX_GENERATE_ROWS>(text).map(|n| n as u64)
}

fn number(text: &str, ok: impl Fn(f64) -> bool, expected: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && ok(v) => Ok(v),
        _ => Err(format!("expected {expected}")),
    }
}

/// A finite number > 0 (learning rate, thresholds).
pub fn positive(text: &str) -> Result<f64, String> {
    number(text, |v| v > 0.0, "a finite number > 0")
}

/// A finite number ≥ 0 (L2 strength, tolerances).
pub fn non_negative(text: &str) -> Result<f64, String> {
    number(text, |v| v >= 0.0, "a finite number ≥ 0")
}

/// The longest wait `check --exec --timeout` takes, in seconds (about 11 days).
pub const MAX_TIMEOUT: f64 = 1e6;

/// A timeout in seconds, in (0, [`MAX_TIMEOUT`]].
pub fn seconds(text: &str) -> Result<f64, String> {
    number(
        text,
        |v| v > 0.0 && v <= MAX_TIMEOUT,
        "a number of seconds > 0 and at most 1e6",
    )
}

/// A rate in [0, 1) (dropout, momentum).
pub fn rate(text: &str) -> Result<f64, String> {
    number(text, |v| (0.0..1.0).contains(&v), "a number in [0, 1)")
}

/// A fraction in (0, 1] (a recall to reach).
pub fn fraction(text: &str) -> Result<f64, String> {
    number(text, |v| v > 0.0 && v <= 1.0, "a number in (0, 1]")
}

/// A fraud rate in (0, 0.5).
pub fn fraud_rate(text: &str) -> Result<f64, String> {
    number(text, |v| v > 0.0 && v < 0.5, "a number in (0, 0.5)")
}

/// Builds the global worker pool with `requested` threads, or with `RAYON_NUM_THREADS` capped
/// at [`MAX_THREADS`] (an absurd value would spend its time starting threads).
pub fn start_threads(requested: Option<usize>) -> anyhow::Result<()> {
    let from_env = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&n| n > 0)
        .map(|n| n.min(MAX_THREADS) as usize);
    if let Some(threads) = requested.or(from_env) {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .map_err(|e| anyhow::anyhow!("could not start {threads} worker threads: {e}"))?;
    }
    Ok(())
}

/// Refuses a fixed finite-difference step `h` (given as `flag`) that some parameters cannot
/// represent: where `θ + h` or `θ − h` rounds to `θ`, the difference is not over the step it is
/// divided by (exactly 0 when both do), so the check of that coordinate means nothing.
pub fn step_representable(flag: &str, h: f64, theta: &[f64]) -> anyhow::Result<()> {
    let lost = theta.iter().filter(|&&t| t + h == t || t - h == t).count();
    if lost > 0 {
        let largest = theta.iter().fold(0.0_f64, |m, t| m.max(t.abs()));
        anyhow::bail!(
            "{flag} {h:e}: too small for the parameters' precision: θ ± h rounds to θ for {lost} \
             of {} parameters, whose check would be empty; use a step above {:.1e}",
            theta.len(),
            largest * f64::EPSILON
        );
    }
    Ok(())
}

/// `--data-format`, `--out-format`: `csv` or `parquet`.
pub fn file_format(text: &str) -> Result<fraudnet::data::FileFormat, String> {
    text.parse().map_err(|e: fraudnet::Error| {
        let message = e.to_string();
        message
            .strip_prefix("invalid setting: ")
            .unwrap_or(&message)
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_say_what_they_expect() {
        assert_eq!(count::<1, 10>("10"), Ok(10));
        assert_eq!(
            count::<1, 10>("0"),
            Err("expected a whole number from 1 to 10".into())
        );
        assert!(count::<1, 10>("18446744073709551616").is_err());
        assert_eq!(positive("1e-3"), Ok(1e-3));
        for bad in ["nan", "inf", "-1", "0", "x"] {
            assert_eq!(positive(bad), Err("expected a finite number > 0".into()));
        }
        assert!(rate("1").is_err() && rate("0").is_ok());
        assert!(fraction("0").is_err() && fraction("1").is_ok());
        assert!(step_representable("--step", 1e-16, &[1.0, 1e-3]).is_err());
        assert!(step_representable("--step", 1e-7, &[1.0, 1e-3]).is_ok());
    }
}
