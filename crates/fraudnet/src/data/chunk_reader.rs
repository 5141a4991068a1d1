//! The reader of one chunk of a CSV file (see [`CsvChunks`](super::CsvChunks)), fast on the
//! plain rows that make up real files: a chunk without a quote, whose rows are one line each,
//! is split eight bytes at a time and its numbers converted without the CSV layer, the UTF-8
//! check or the trimming that a field in general needs. The first row the fast path is not sure
//! of (a space, an exponent, a sign, a bad value, a long line: anything but digits with an
//! optional fraction where numbers are, an exact `type` and a `0`/`1` label) hands the rest of
//! the chunk to the exact [`RecordReader`], started at that row, which reads it or reports its
//! error as a reading of the whole file would. The rows, features, labels and errors are
//! therefore those of the exact reader, only sooner. Knows nothing of models.

use std::sync::Arc;

use super::fields::{Check, RowInfo, schema_features};
use super::history::FeatureSet;
use super::reader::{CsvLayout, RecordReader};
use super::schema::{Schema, paysim_type};
use super::source::RowSource;
use crate::{Error, Result};

/// The longest line read by the fast path: no field of it can be over the field limit
/// ([`MAX_FIELD_BYTES`](super::MAX_FIELD_BYTES)), nor the line over the line limit.
const FAST_LINE_BYTES: usize = 4096;

/// A reader of a chunk's rows, numbered and placed as in the whole file; see the module docs.
#[derive(Debug)]
pub struct ChunkReader<'a> {
    layout: &'a Arc<CsvLayout>,
    bytes: &'a [u8],
    /// Where the chunk starts in the whole file (line breaks normalised).
    offset: u64,
    /// The next byte the fast path reads, which starts a line, and that line's number.
    at: usize,
    at_line: u64,
    /// Rows of the file up to the last one read.
    rows: u64,
    /// Where each field of the current row starts and ends, reused from row to row.
    fields: Vec<(usize, usize)>,
    /// The exact reader, once the fast path has handed the rest of the chunk to it (or when the
    /// chunk is not plain: quotes, history features).
    exact: Option<RecordReader<&'a [u8]>>,
}

impl<'a> ChunkReader<'a> {
    /// The reader of `bytes`, which start at `offset` and line `line` of the file after
    /// `rows_before` rows. `exact` (for a chunk that is not plain) is its exact reader.
    pub(super) fn new(
        layout: &'a Arc<CsvLayout>,
        bytes: &'a [u8],
        (offset, line): (u64, u64),
        rows_before: u64,
        exact: Option<RecordReader<&'a [u8]>>,
    ) -> Self {
        let exact = match exact {
            None if memchr::memchr(b'"', bytes).is_some() => Some(RecordReader::continuing(
                bytes,
                Arc::clone(layout),
                (offset, line),
                rows_before,
            )),
            exact => exact,
        };
        ChunkReader {
            layout,
            bytes,
            offset,
            at: 0,
            at_line: line,
            rows: rows_before,
            fields: Vec::with_capacity(layout.header_len),
            exact,
        }
    }

    /// Reads the next row into `features`, as [`RecordReader::read_into`].
    ///
    /// # Errors
    /// As [`RecordReader::read_into`], for the same rows.
    pub fn read_into(&mut self, features: &mut [f64]) -> Result<Option<RowInfo>> {
        if let Some(exact) = &mut self.exact {
            return exact.read_into(features);
        }
        let n = self.layout.features.n_features(self.layout.schema);
        if features.len() != n {
            // The exact reader's error, word for word.
            return self.hand_over().read_into(features);
        }
        let record_start = self.at;
        let record_line = self.at_line;
        // The CSV reader skips empty lines.
        while self.bytes.get(self.at) == Some(&b'\n') {
            self.at += 1;
            self.at_line += 1;
        }
        let rest = &self.bytes[self.at..];
        // Empty lines count towards the record's length limit: a long run of them is the exact
        // reader's to measure (it may be a chunk of its own, cut there by that limit).
        let end = FAST_LINE_BYTES
            .checked_sub(self.at - record_start)
            .and_then(|limit| split_line(rest, limit, &mut self.fields));
        if end.is_some() && rest.is_empty() {
            return Ok(None);
        }
        match end.and_then(|end| self.fast_row(rest, features).map(|label| (end, label))) {
            Some((end, label)) => {
                self.rows += 1;
                let info = RowInfo {
                    row: self.rows,
                    // The CSV reader places a record where its reading started: on the first
                    // of the empty lines it skipped.
                    line: record_line,
                    label,
                };
                self.at = (self.at + end + 1).min(self.bytes.len());
                self.at_line += 1;
                Ok(Some(info))
            }
            None => {
                (self.at, self.at_line) = (record_start, record_line);
                self.hand_over().read_into(features)
            }
        }
    }

    /// The exact reader of the rest of the chunk, from the fast path's place on.
    fn hand_over(&mut self) -> &mut RecordReader<&'a [u8]> {
        let place = (self.offset + self.at as u64, self.at_line);
        let reader = RecordReader::continuing(
            &self.bytes[self.at..],
            Arc::clone(self.layout),
            place,
            self.rows,
        );
        self.exact.insert(reader)
    }

    /// The features and label of the plain row at the start of `rest`, whose fields
    /// [`split_line`] found, or `None` when the exact reader must read it.
    fn fast_row(&self, rest: &[u8], features: &mut [f64]) -> Option<Option<f64>> {
        let layout = &**self.layout;
        if self.fields.len() != layout.header_len {
            return None;
        }
        let field = |i: usize| {
            let (start, end) = self.fields[i];
            &rest[start..end]
        };
        let cols = &layout.columns;
        schema_features(
            layout.schema,
            features,
            |k, check| plain_number(field(cols[k]), check).ok_or(()),
            || paysim_type(field(cols[1])).ok_or(()),
        )
        .ok()?;
        match layout.label.map(field) {
            None | Some(b"") => Some(None),
            Some(b"0") => Some(Some(0.0)),
            Some(b"1") => Some(Some(1.0)),
            Some(_) => None,
        }
    }
}

/// The length of the line at the start of `rest` (up to its `\n`, or all of `rest`) when it is at
/// most `limit` bytes, with the place of each of its comma-separated fields in `fields`; `None`
/// for a longer line. Thirty-two bytes at a time with AVX2, else eight: a field is a few bytes
/// long, so a loop over bytes would mispredict its branch at almost every comma.
fn split_line(rest: &[u8], limit: usize, fields: &mut Vec<(usize, usize)>) -> Option<usize> {
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
fn plain_number(text: &[u8], check: Check) -> Option<f64> {
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

impl RowSource for ChunkReader<'_> {
    fn schema(&self) -> Schema {
        self.layout.schema
    }

    fn file(&self) -> &str {
        &self.layout.file
    }

    fn has_labels(&self) -> bool {
        self.layout.label.is_some()
    }

    fn feature_set(&self) -> FeatureSet {
        self.layout.features
    }

    fn read_into(&mut self, features: &mut [f64]) -> Result<Option<RowInfo>> {
        ChunkReader::read_into(self, features)
    }

    fn row_error(&self, info: &RowInfo, message: String) -> Error {
        self.layout.row_error(info, message)
    }

    fn label_error(&self, info: &RowInfo, message: String) -> Error {
        self.layout.label_error(info, message)
    }

    fn columns_error(&self, message: String) -> Error {
        self.layout.columns_error(message)
    }
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
