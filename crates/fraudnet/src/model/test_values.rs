//! Deterministic values for the kernels' tests: spread without a random generator, so that a
//! failing case names the same inputs on every run.

/// A value in `[−0.5, 0.5)` from a multiplicative hash of `s`.
pub(crate) fn unit(s: usize) -> f64 {
    ((s * 2_654_435_761) % 1_000_003) as f64 / 1_000_003.0 - 0.5
}

/// [`unit`] times a power of ten from `10^−(decades / 2)` up, chosen by `s`: values of very
/// different magnitudes, so that another order of summation changes the last bits.
pub(crate) fn mixed(s: usize, decades: usize) -> f64 {
    unit(s) * 10f64.powi((s % decades) as i32 - (decades / 2) as i32)
}
