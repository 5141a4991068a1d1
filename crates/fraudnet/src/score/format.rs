//! One line of a scores CSV file, `row,probability,flag`, written with `itoa` and `ryu` into a
//! byte buffer, in exactly the bytes of Rust's `{}` formatting (which the scores files have
//! always had): shortest round-trip digits, never an exponent, no `.0` on whole numbers. Knows
//! nothing of models or files.

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

/// Appends `value` as `{}` formats it. ryu finds the same shortest round-trip digits; only its
/// layout differs (`1e-7` for `0.0000001`, `1.0` for `1`), and is rewritten here.
fn write_display_f64(out: &mut Vec<u8>, value: f64) {
    if !value.is_finite() {
        out.extend_from_slice(value.to_string().as_bytes());
        return;
    }
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(value).as_bytes();
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if negative {
        out.push(b'-');
    }
    let Some(e) = text.iter().position(|&b| b == b'e') else {
        // Plain layout: only a whole number's `.0` differs.
        out.extend_from_slice(text.strip_suffix(b".0").unwrap_or(text));
        return;
    };
    let exponent: i32 = std::str::from_utf8(&text[e + 1..])
        .ok()
        .and_then(|t| t.parse().ok())
        .expect("ryu writes a decimal exponent");
    let digits: Vec<u8> = text[..e].iter().copied().filter(|&b| b != b'.').collect();
    // The value is 0.d₁d₂… × 10^(exponent + 1): `point` digits before the decimal point.
    let point = exponent + 1;
    if point <= 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + point.unsigned_abs() as usize, b'0');
        out.extend_from_slice(&digits);
    } else if point as usize >= digits.len() {
        out.extend_from_slice(&digits);
        out.resize(out.len() + point as usize - digits.len(), b'0');
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        out.extend_from_slice(whole);
        out.push(b'.');
        out.extend_from_slice(fraction);
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
            for value in [probability, 1.0 - probability, any] {
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
