//! Feature engineering: turns the parsed, validated values of one row into the feature vector
//! documented on [`Schema`](super::Schema). Pure arithmetic; knows nothing of files or text.

use std::f64::consts::TAU;
use std::sync::LazyLock;

/// The signed logarithm `sign(x)·ln(1+|x|)`: compresses money amounts over many orders of
/// magnitude while keeping the sign and mapping 0 to 0.
///
/// ```
/// use fraudnet::data::signed_log;
/// assert_eq!(signed_log(0.0), 0.0);
/// assert!((signed_log(std::f64::consts::E - 1.0) - 1.0).abs() < 1e-15);
/// assert_eq!(signed_log(-3.0), -signed_log(3.0));
/// ```
pub fn signed_log(x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        x.signum() * x.abs().ln_1p()
    }
}

/// `signed_log(Σ sᵢ·vᵢ)` for up to four finite terms `(sᵢ, vᵢ)` with `sᵢ = ±1`, finite even when
/// the sum overflows a float (balances near `f64::MAX` of opposite signs): then a quarter of each
/// term is summed and `ln 4` added back (at that size `ln(1 + |x|)` is `ln |x|`). Where the sum
/// is finite this is exactly `signed_log` of the left-to-right sum.
fn signed_log_of_sum(terms: &[(f64, f64)]) -> f64 {
    let sum = terms.iter().fold(0.0, |acc, (s, v)| acc + s * v);
    if sum.is_finite() {
        return signed_log(sum);
    }
    let quarter = terms.iter().fold(0.0, |acc, (s, v)| acc + s * (v / 4.0));
    if quarter == 0.0 {
        0.0
    } else {
        quarter.signum() * (quarter.abs().ln() + 4f64.ln())
    }
}

/// The validated values of one PaySim row that the features are made from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PaySimValues {
    pub step: f64,
    /// Index into [`PAYSIM_TYPES`](super::schema::PAYSIM_TYPES).
    pub kind: usize,
    pub amount: f64,
    pub old_orig: f64,
    pub new_orig: f64,
    pub old_dest: f64,
    pub new_dest: f64,
}

/// Writes the 13 PaySim features into `out` (whose length the caller has checked).
pub(crate) fn paysim_features(v: &PaySimValues, out: &mut [f64]) {
    out[..5].fill(0.0);
    out[v.kind] = 1.0;
    out[5] = signed_log(v.amount);
    out[6] = signed_log_of_sum(&[(1.0, v.old_orig), (-1.0, v.new_orig)]);
    out[7] = signed_log_of_sum(&[(1.0, v.new_dest), (-1.0, v.old_dest)]);
    out[8] = signed_log_of_sum(&[(1.0, v.new_orig), (1.0, v.amount), (-1.0, v.old_orig)]);
    out[9] = signed_log_of_sum(&[(1.0, v.old_dest), (1.0, v.amount), (-1.0, v.new_dest)]);
    out[10] = if v.old_orig > 0.0 && v.new_orig == 0.0 {
        1.0
    } else {
        0.0
    };
    (out[11], out[12]) = hour_of_day(v.step);
}

/// `(sin, cos)` of the hour of the day's angle, `TAU·(step mod 24)/24`. PaySim's steps are whole
/// hours: theirs are looked up in a table computed by the same expression (the same bits; `sin`
/// and `cos` were a tenth of scoring's time), any other step is computed.
fn hour_of_day(step: f64) -> (f64, f64) {
    static WHOLE_HOURS: LazyLock<[(f64, f64); 24]> = LazyLock::new(|| {
        std::array::from_fn(|hour| {
            let angle = TAU * hour as f64 / 24.0;
            (angle.sin(), angle.cos())
        })
    });
    // A whole step below 2⁵³ (every PaySim step; not −0, whose sine is −0): the same remainder
    // as `rem_euclid`, by integers (the library's `fmod` was 1 % of scoring).
    if step.fract() == 0.0 && step.is_sign_positive() && step < 9_007_199_254_740_992.0 {
        return WHOLE_HOURS[(step as u64 % 24) as usize];
    }
    let hour = step.rem_euclid(24.0);
    // `rem_euclid` may round a tiny negative step up to 24 itself, and gives −0 for a
    // negative multiple of 24 (whose sine is −0).
    if hour.fract() == 0.0 && hour < 24.0 && hour.is_sign_positive() {
        return WHOLE_HOURS[hour as usize];
    }
    let angle = TAU * hour / 24.0;
    (angle.sin(), angle.cos())
}

/// Writes the 31 card features into `out`: `v` (V1..V28) must already be in `out[..28]`.
pub(crate) fn card_features(time: f64, amount: f64, out: &mut [f64]) {
    out[28] = signed_log(amount);
    let angle = TAU * time.rem_euclid(86_400.0) / 86_400.0;
    out[29] = angle.sin();
    out[30] = angle.cos();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_log_values() {
        assert_eq!(signed_log(1.0), 2f64.ln());
        assert_eq!(signed_log(-1.0), -(2f64.ln()));
        assert_eq!(signed_log(999.0), 1000f64.ln());
    }

    #[test]
    fn balances_whose_difference_overflows_give_finite_features() {
        let max = f64::MAX;
        let v = PaySimValues {
            step: 1.0,
            kind: 0,
            amount: max,
            old_orig: -max,
            new_orig: max,
            old_dest: max,
            new_dest: -max,
        };
        let mut out = [f64::NAN; 13];
        paysim_features(&v, &mut out);
        assert!(out.iter().all(|x| x.is_finite()), "{out:?}");
        // ln(2·MAX) = ln(MAX) + ln 2, with the sign of the difference.
        let ln_2max = max.ln() + 2f64.ln();
        assert!((out[6] + ln_2max).abs() < 1e-12, "{}", out[6]);
        assert!((out[7] + ln_2max).abs() < 1e-12, "{}", out[7]);
        assert!(
            (out[9] - (0.75 * max).ln() - 4f64.ln()).abs() < 1e-12,
            "{}",
            out[9]
        );
        // A finite sum is exactly the plain signed log.
        assert_eq!(
            signed_log_of_sum(&[(1.0, 3.0), (1.0, 0.1), (-1.0, 7.0)]),
            signed_log(3.0 + 0.1 - 7.0)
        );
    }

    #[test]
    fn the_hour_of_day_is_the_same_bits_looked_up_or_computed() {
        let computed = |step: f64| {
            let angle = TAU * step.rem_euclid(24.0) / 24.0;
            (angle.sin().to_bits(), angle.cos().to_bits())
        };
        let steps = (-50..800)
            .map(f64::from)
            .chain([0.5, 23.999, -1e-20, 1e-300, 743.25, -0.0, 4.5e15 + 7.0])
            .chain([
                9_007_199_254_740_991.0,
                9_007_199_254_740_992.0,
                1e17,
                f64::MAX,
            ]);
        for step in steps {
            let (sin, cos) = hour_of_day(step);
            assert_eq!(
                (sin.to_bits(), cos.to_bits()),
                computed(step),
                "step {step}"
            );
        }
    }

    #[test]
    fn paysim_vector() {
        let v = PaySimValues {
            step: 30.0,
            kind: 4,
            amount: 100.0,
            old_orig: 100.0,
            new_orig: 0.0,
            old_dest: 0.0,
            new_dest: 0.0,
        };
        let mut out = [f64::NAN; 13];
        paysim_features(&v, &mut out);
        let ln101 = 101f64.ln();
        let expected = [
            0.0, 0.0, 0.0, 0.0, 1.0, ln101, ln101, 0.0, 0.0, ln101, 1.0, 1.0, 0.0,
        ];
        for (i, (a, b)) in out.iter().zip(expected).enumerate() {
            assert!((a - b).abs() < 1e-12, "feature {i}: {a} vs {b}");
        }
    }
}
