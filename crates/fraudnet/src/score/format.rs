//! One line of a scores CSV file, `row,probability,flag`, written into a byte buffer (the row
//! with `itoa`, the probability with Rust's `{}`, whose bytes the scores files have always
//! had). Knows nothing of models or files.

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

/// Appends `value` as `{}` formats it. Not ryu: its shortest digits differ from Display's on
/// some values (`806203604936496.2` for Display's `…496.3`; the test below found it), and the
/// files' bytes must not change.
fn write_display_f64(out: &mut Vec<u8>, value: f64) {
    use std::io::Write;
    write!(out, "{value}").expect("writing to a Vec cannot fail");
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
