//! The plain rows of a CSV chunk read byte by byte at speed, for the chunk reader's fast path: a
//! line split at its commas 32 bytes at a time (8 without AVX2), and a field of digits with an
//! optional fraction turned into the `f64` that `str::parse` gives. Anything else is refused
//! (`None`), for the exact reader to read or report. Knows nothing of schemas or files.

use super::fields::Check;

/// The length of the line at the start of `rest` (up to its `\n`, or all of `rest`) when it is at
/// most `limit` bytes, with the place of each of its comma-separated fields in `fields`; `None`
/// for a longer line. Thirty-two bytes at a time with AVX2, else eight: a field is a few bytes
/// long, so a loop over bytes would mispredict its branch at almost every comma.
pub(super) fn split_line(
    rest: &[u8],
    limit: usize,
    fields: &mut Vec<(usize, usize)>,
) -> Option<usize> {
    fields.clear();
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the only feature `split_line_avx2` is compiled for.
            return unsafe { split_line_avx2(rest, limit, fields) };
        }
    }
    split_line_from(rest, limit, fields, Marks::default())
}

/// Where [`split_line`] is: the bytes scanned so far (a multiple of eight) and where the
/// current field starts.
#[derive(Default)]
struct Marks {
    base: usize,
    start: usize,
}

impl Marks {
    /// Records the separator at `at` (a comma or the line break) in `fields`; the line's end
    /// when it is the line break.
    #[inline(always)]
    fn mark(&mut self, rest: &[u8], at: usize, fields: &mut Vec<(usize, usize)>) -> Option<usize> {
        fields.push((self.start, at));
        self.start = at + 1;
        (rest[at] == b'\n').then_some(at)
    }
}

/// [`split_line`] from `marks` on, eight bytes at a time.
#[inline(always)]
fn split_line_from(
    rest: &[u8],
    limit: usize,
    fields: &mut Vec<(usize, usize)>,
    mut marks: Marks,
) -> Option<usize> {
    let mut words = rest[marks.base..].chunks_exact(8);
    for word in &mut words {
        if marks.base > limit {
            return None;
        }
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let mut found = bytes_equal_to(word, b',') | bytes_equal_to(word, b'\n');
        while found != 0 {
            let at = marks.base + found.trailing_zeros() as usize / 8;
            if let Some(end) = marks.mark(rest, at, fields) {
                return (end <= limit).then_some(end);
            }
            found &= found - 1;
        }
        marks.base += 8;
    }
    for (at, &byte) in (marks.base..).zip(words.remainder()) {
        if (byte == b',' || byte == b'\n')
            && let Some(end) = marks.mark(rest, at, fields)
        {
            return (end <= limit).then_some(end);
        }
    }
    fields.push((marks.start, rest.len()));
    (rest.len() <= limit).then_some(rest.len())
}

/// [`split_line`] thirty-two bytes at a time (a PaySim line is about eighty), then eight.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn split_line_avx2(
    rest: &[u8],
    limit: usize,
    fields: &mut Vec<(usize, usize)>,
) -> Option<usize> {
    use std::arch::x86_64::*;
    let (comma, line_break) = (_mm256_set1_epi8(b',' as i8), _mm256_set1_epi8(b'\n' as i8));
    let mut marks = Marks::default();
    while marks.base + 32 <= rest.len() {
        if marks.base > limit {
            return None;
        }
        // SAFETY: 32 bytes from `base` are in `rest` (the loop's condition).
        let block = unsafe { _mm256_loadu_si256(rest.as_ptr().add(marks.base).cast()) };
        let separators = _mm256_or_si256(
            _mm256_cmpeq_epi8(block, comma),
            _mm256_cmpeq_epi8(block, line_break),
        );
        let mut found = _mm256_movemask_epi8(separators) as u32;
        while found != 0 {
            let at = marks.base + found.trailing_zeros() as usize;
            if let Some(end) = marks.mark(rest, at, fields) {
                return (end <= limit).then_some(end);
            }
            found &= found - 1;
        }
        marks.base += 32;
    }
    split_line_from(rest, limit, fields, marks)
}

/// The high bit of each byte of `word` that equals `byte` (and no other bit): exact, unlike the
/// shorter `(x − 0x01…) & !x` test, whose borrow can mark a byte above a match.
fn bytes_equal_to(word: u64, byte: u8) -> u64 {
    const LOW_SEVEN: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ (u64::from(byte) * 0x0101_0101_0101_0101);
    !(((x & LOW_SEVEN) + LOW_SEVEN) | x | LOW_SEVEN)
}

/// Powers of ten exactly representable as `f64`.
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The value of `text` when it is digits with an optional fraction (`-` before them where
/// `check` allows a negative number), at most 19 digits whose integer is at most 2⁵³, with at
/// most 22 after the point: the decimal is then `m / 10^k` with both exact, and one division
/// rounds it correctly, to the very `f64` that `str::parse` gives (it takes the same path for
/// such numbers). `None` for anything else, which the exact reader parses or refuses.
pub(super) fn plain_number(text: &[u8], check: Check) -> Option<f64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) if matches!(check, Check::Finite) => (true, rest),
        _ => (false, text),
    };
    // The integer's digits, then the fraction's: two loops that each end at their first
    // other byte, rather than one that asks of every byte whether a point came before it.
    let mut mantissa = 0u64;
    let mut at = 0;
    let mut next_digits = |at: &mut usize| {
        while let Some(digit) = digits.get(*at).map(|byte| byte.wrapping_sub(b'0')) {
            if digit > 9 {
                break;
            }
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
            *at += 1;
        }
    };
    next_digits(&mut at);
    let whole = at;
    if whole > 0 && digits.get(at) == Some(&b'.') {
        at += 1;
        next_digits(&mut at);
    }
    let after_point = at.saturating_sub(whole + 1);
    let count = whole + after_point;
    if at != digits.len()
        || count == 0
        || count > 19
        || mantissa > 1 << 53
        || after_point >= POWERS_OF_TEN.len()
    {
        return None;
    }
    let value = mantissa as f64 / POWERS_OF_TEN[after_point];
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_numbers_are_the_parsed_floats_to_the_bit() {
        let texts = [
            "0",
            "7",
            "0.1",
            "0.2",
            "0.30",
            "11665.80",
            "1953737.40",
            "5.",
            "0007.5000",
            "9007199254740992",
            "9007199254740993",
            "123456789.123456789",
            "0.0000000000000000000001",
            "0.00000000000000000000001",
            "99999999999999999999",
            "-0",
            "-12.5",
            "4503599627370497.5",
        ];
        for text in texts {
            let parsed: f64 = text.parse().unwrap();
            if let Some(value) = plain_number(text.as_bytes(), Check::Finite) {
                assert_eq!(value.to_bits(), parsed.to_bits(), "{text}");
            }
        }
        assert_eq!(plain_number(b"11665.80", Check::Finite), Some(11665.8));
        assert_eq!(plain_number(b"-1", Check::NonNegative), None);
        for refused in [
            "", ".5", "1e5", " 1", "1 ", "+1", "1.2.3", "-", "inf", "NaN", "1_0",
        ] {
            assert_eq!(
                plain_number(refused.as_bytes(), Check::Finite),
                None,
                "{refused}"
            );
        }
    }

    #[test]
    fn plain_numbers_agree_with_parse_on_random_decimals() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(15);
        for _ in 0..200_000 {
            let digits = rng.random_range(1..17);
            let whole: u64 = rng.random_range(0..10u64.pow(digits));
            let places = rng.random_range(0..12);
            let fraction: u64 = rng.random_range(0..10u64.pow(places));
            let text = if places == 0 {
                whole.to_string()
            } else {
                format!("{whole}.{fraction:0places$}", places = places as usize)
            };
            let parsed: f64 = text.parse().unwrap();
            if let Some(value) = plain_number(text.as_bytes(), Check::NonNegative) {
                assert_eq!(value.to_bits(), parsed.to_bits(), "{text}");
            }
        }
    }

    /// `split_line` (with AVX2 where the CPU has it) and its eight-bytes-at-a-time path against
    /// the plain definition (the first line, its commas, its length against the limit) on
    /// random lines of commas, newlines and other bytes, whose bytes fall on every place of a
    /// 32-byte block and of an 8-byte word.
    #[test]
    fn lines_split_as_byte_by_byte() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(16);
        let mut fields = Vec::new();
        for _ in 0..100_000 {
            let len = rng.random_range(0..120);
            let rest: Vec<u8> = (0..len)
                .map(|_| match rng.random_range(0..10) {
                    0..=2 => b',',
                    3 => b'\n',
                    // Bytes one bit away from a comma or a newline, and a high one.
                    4 => b',' ^ 1,
                    5 => b'\n' | 0x80,
                    _ => rng.random_range(b'0'..=b'9'),
                })
                .collect();
            let limit = rng.random_range(0..130);
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let mut expected = Vec::new();
            let mut start = 0;
            for (i, &byte) in rest[..end].iter().enumerate() {
                if byte == b',' {
                    expected.push((start, i));
                    start = i + 1;
                }
            }
            expected.push((start, end));
            let found = split_line(&rest, limit, &mut fields);
            assert_eq!(
                found,
                (end <= limit).then_some(end),
                "{rest:?} limit {limit}"
            );
            if found.is_some() {
                assert_eq!(fields, expected, "{rest:?}");
            }
            fields.clear();
            let portable = split_line_from(&rest, limit, &mut fields, Marks::default());
            assert_eq!(portable, found, "{rest:?} limit {limit}");
            if found.is_some() {
                assert_eq!(fields, expected, "{rest:?}");
            }
        }
    }

    /// `plain_number` against the byte-by-byte reading it replaced (digits, at most one point
    /// after a digit, a sign where allowed) on random short texts of digits, points, signs and
    /// other bytes.
    #[test]
    fn plain_numbers_accept_what_a_byte_by_byte_reading_accepts() {
        use rand::{RngExt, SeedableRng};
        fn byte_by_byte(text: &[u8], check: Check) -> Option<f64> {
            let (negative, digits) = match text.split_first() {
                Some((b'-', rest)) if matches!(check, Check::Finite) => (true, rest),
                _ => (false, text),
            };
            let (mut mantissa, mut count, mut after_point) = (0u64, 0usize, None::<usize>);
            for &byte in digits {
                match byte {
                    b'0'..=b'9' => {
                        mantissa = mantissa.wrapping_mul(10) + u64::from(byte - b'0');
                        count += 1;
                        if let Some(after) = &mut after_point {
                            *after += 1;
                        }
                    }
                    b'.' if after_point.is_none() && count > 0 => after_point = Some(0),
                    _ => return None,
                }
            }
            let after_point = after_point.unwrap_or(0);
            if count == 0 || count > 19 || mantissa > 1 << 53 || after_point > 22 {
                return None;
            }
            let value = mantissa as f64 / 10f64.powi(after_point as i32);
            Some(if negative { -value } else { value })
        }
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(17);
        let alphabet = b"01234567890123456789..--e +";
        for _ in 0..300_000 {
            let len = rng.random_range(0..12);
            let text: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            for check in [Check::Finite, Check::NonNegative] {
                assert_eq!(
                    plain_number(&text, check).map(f64::to_bits),
                    byte_by_byte(&text, check).map(f64::to_bits),
                    "{:?}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
    }
}
