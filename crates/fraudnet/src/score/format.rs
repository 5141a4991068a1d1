//! One line of a scores CSV file, `row,probability,flag`, written into a byte buffer (the row
//! with `itoa`, the probability with the bytes of Rust's `{}`, which the scores files have
//! always had, at `ryu`'s speed where its digits are provably the same). Knows nothing of models
//! or files.

/// Appends `row,probability,flag\n` to `out`, as `writeln!(out, "{row},{p},{}", u8::from(flag))`
/// would.
///
/// ```
/// let mut line = Vec::new();
/// fraudnet::score::write_score_line(&mut line, 7, 3.2e-9, false);
/// assert_eq!(line, b"7,0.0000000032,0\n");
/// ```
pub fn write_score_line(out: &mut Vec<u8>, row: u64, probability: f64, flag: bool) {
    out.extend_from_slice(itoa::Buffer::new().format(row).as_bytes());
    out.push(b',');
    write_display_f64(out, probability);
    out.extend_from_slice(if flag { b",1\n" } else { b",0\n" });
}

/// 2²⁵: a value below 1 that is not a multiple of 2⁻²⁵ has no decimal tie (see
/// [`write_display_f64`]).
const TIE_FREE_SCALE: f64 = 33_554_432.0;

/// Appends `value` as `{}` formats it. Both `{}` and `ryu` write the shortest digits that read
/// back as `value`, the closest to it when several are as short; they differ only on an exact
/// tie between two such (`806203604936496.25`: `{}` rounds half up to `…496.3`, ryu half to
/// even, `…496.2`). A tie needs `value` to be an integer of at most 18 digits times a power of
/// ten. A value in (0, 1) that is not a multiple of 2⁻²⁵ is `m·2^e` with `m` odd and
/// `e ≤ −26`, whose exact decimal is an integer of at least 5²⁶ > 10¹⁸ times a power of ten: no
/// tie, so ryu's digits are `{}`'s, laid out as `{}` lays them (no exponent). Probabilities are
/// such values almost always; anything else takes `{}` itself.
fn write_display_f64(out: &mut Vec<u8>, value: f64) {
    if value > 0.0 && value < 1.0 && (value * TIE_FREE_SCALE).fract() != 0.0 {
        write_below_one(out, value);
    } else {
        use std::io::Write;
        write!(out, "{value}").expect("writing to a Vec cannot fail");
    }
}

/// Appends `value`, in (0, 1), with ryu's digits as `{}` lays them out: `0.` then the digits,
/// where ryu writes `1.5e-7` for `0.00000015`.
fn write_below_one(out: &mut Vec<u8>, value: f64) {
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(value).as_bytes();
    let Some(e) = text.iter().position(|&b| b == b'e') else {
        // `0.000123`: already `{}`'s layout.
        out.extend_from_slice(text);
        return;
    };
    // `d.ddde-N` (N ≥ 1): N − 1 zeros after the point, then the digits.
    let zeros = text[e + 2..]
        .iter()
        .fold(0, |n, &digit| n * 10 + usize::from(digit - b'0'))
        - 1;
    out.extend_from_slice(b"0.");
    out.resize(out.len() + zeros, b'0');
    out.push(text[0]);
    if e > 1 {
        out.extend_from_slice(&text[2..e]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn displayed(value: f64) -> String {
        let mut out = Vec::new();
        write_display_f64(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_bytes_of_display_on_edge_values() {
        for value in [
            0.0,
            -0.0,
            1.0,
            0.5,
            1e-5,
            1e-7,
            3.2e-9,
            0.1 + 0.2,
            f64::MIN_POSITIVE,
            5e-324,
            f64::EPSILON,
            1.0 - f64::EPSILON,
            123456.0,
            1e15,
            1e16,
            1.5e17,
            1.2345e22,
            f64::MAX,
            -2.5e-12,
            0.1,
            0.5,
            0.75,
            1e-5,
            1.5e-5,
            0.0001,
            0.00012345,
            1.0 - 1e-16,
            1.0 - f64::EPSILON / 2.0,
            2f64.powi(-26),
            3.0 * 2f64.powi(-60),
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(displayed(value), value.to_string(), "{value:e}");
        }
    }

    #[test]
    fn the_bytes_of_display_on_a_million_values() {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(15);
        for _ in 0..1_000_000 {
            // Probabilities of every magnitude (a sigmoid's outputs), and any bit pattern.
            let probability = rng.random::<f64>() * 10f64.powi(-rng.random_range(0..300));
            let any = f64::from_bits(rng.random::<u64>());
            // Near 1, and with few significant bits (multiples of 2⁻²⁵ take `{}` itself).
            let near_one = 1.0 - f64::EPSILON * f64::from(rng.random_range(1..1000u32));
            let coarse = f64::from(rng.random_range(1..1u32 << 30)) / f64::from(1u32 << 30);
            for value in [probability, 1.0 - probability, any, near_one, coarse] {
                assert_eq!(displayed(value), value.to_string(), "{value:e}");
            }
        }
    }

    #[test]
    fn a_line_is_the_formatted_line() {
        let mut line = Vec::new();
        write_score_line(&mut line, 1_000_000, 0.9999999, true);
        assert_eq!(line, b"1000000,0.9999999,1\n");
    }
}
