//! The notebook's relative difference `‖g − ĝ‖₂ / (‖g‖₂ + ‖ĝ‖₂)` and the Euclidean norm under
//! it, computed without overflow or underflow. Pure arithmetic on slices.

/// Euclidean norm, scaled so that huge or tiny values neither overflow nor underflow.
///
/// ```
/// assert_eq!(gradproof::difference::norm2(&[3.0, 4.0]), 5.0);
/// assert_eq!(gradproof::difference::norm2(&[3e300, 4e300]), 5e300);
/// ```
pub fn norm2(values: &[f64]) -> f64 {
    norm2_of(values.iter().copied())
}

/// Euclidean norm of the values an iterator yields (scaled like [`norm2`]).
pub(crate) fn norm2_of(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let scale = values.clone().fold(0.0_f64, |m, v| m.max(v.abs()));
    if scale == 0.0 || !scale.is_finite() {
        return scale;
    }
    let sum: f64 = values.map(|v| (v / scale) * (v / scale)).sum();
    scale * sum.sqrt()
}

/// The notebook's relative difference between an analytic gradient `g` and a numeric one `ĝ`:
/// `‖g − ĝ‖₂ / (‖g‖₂ + ‖ĝ‖₂)`, in `[0, 1]`.
///
/// When both are zero the quotient is 0/0; we define it as 0 (they agree exactly).
///
/// ```
/// use gradproof::difference::relative_difference;
/// assert_eq!(relative_difference(&[2.0], &[2.0]), 0.0);
/// assert_eq!(relative_difference(&[0.0, 0.0], &[0.0, 0.0]), 0.0);
/// assert_eq!(relative_difference(&[1.0], &[-1.0]), 1.0);
/// ```
///
/// Panics if the slices differ in length.
pub fn relative_difference(analytic: &[f64], numeric: &[f64]) -> f64 {
    assert_eq!(
        analytic.len(),
        numeric.len(),
        "gradients of different lengths"
    );
    let error = norm2_of(analytic.iter().zip(numeric).map(|(a, n)| a - n));
    quotient(error, norm2(analytic) + norm2(numeric))
}

/// `numerator / denominator`, with 0/0 defined as 0.
pub(crate) fn quotient(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        0.0
    } else {
        numerator / denominator
    }
}
