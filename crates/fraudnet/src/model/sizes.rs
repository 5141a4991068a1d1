//! Layer sizes as a user writes them (`--layers 4,5,3,1`, `--hidden 32,16`) and the bounds an
//! architecture must stay within, checked with overflow-proof arithmetic before anything is
//! allocated: a model file or a command line asking for a 10⁹ × 10⁹ layer is refused with a
//! sentence, not an allocation failure. Knows nothing of data or files.

use crate::error::{Error, Result};

/// The widest layer accepted. A mini-batch of 256 examples through a layer this wide already
/// holds 200 MB of activations per array.
pub const MAX_WIDTH: usize = 100_000;

/// The most parameters an MLP may have: 800 MB of `f64`, before the gradient and the optimiser's
/// moments (three more copies) are counted.
pub const MAX_PARAMETERS: usize = 100_000_000;

/// The number of parameters (`Σ n_l·n_{l−1} + n_l`) of an MLP with these sizes, or `None` when it
/// does not fit in a `usize`.
///
/// ```
/// assert_eq!(fraudnet::model::parameter_count(&[4, 5, 3, 1]), Some(47));
/// assert_eq!(fraudnet::model::parameter_count(&[usize::MAX, 2, 1]), None);
/// ```
pub fn parameter_count(sizes: &[usize]) -> Option<usize> {
    sizes.windows(2).try_fold(0usize, |total, w| {
        w[1].checked_mul(w[0])?
            .checked_add(w[1])?
            .checked_add(total)
    })
}

/// Checks that `sizes` is a buildable architecture: an input and at least one layer, every width
/// in `1..=MAX_WIDTH`, at most [`MAX_PARAMETERS`] parameters, output width 1.
pub(crate) fn check_sizes(sizes: &[usize]) -> Result<()> {
    let invalid = |reason: String| Error::InvalidArchitecture {
        sizes: sizes.to_vec(),
        reason,
    };
    if sizes.len() < 2 {
        return Err(invalid("need an input size and at least one layer".into()));
    }
    if sizes.contains(&0) {
        return Err(invalid("every width must be at least 1".into()));
    }
    if let Some(&wide) = sizes.iter().find(|&&w| w > MAX_WIDTH) {
        return Err(invalid(format!(
            "a width of {wide} is more than the {MAX_WIDTH} this build accepts"
        )));
    }
    match parameter_count(sizes) {
        Some(n) if n <= MAX_PARAMETERS => {}
        Some(n) => {
            return Err(invalid(format!(
                "{n} parameters is more than the {MAX_PARAMETERS} this build accepts"
            )));
        }
        None => {
            return Err(invalid(format!(
                "the parameter count overflows (the limit is {MAX_PARAMETERS})"
            )));
        }
    }
    if sizes[sizes.len() - 1] != 1 {
        return Err(invalid(
            "the output layer (sigmoid, logistic cost) must have width 1".into(),
        ));
    }
    Ok(())
}

/// Parses a comma-separated list of widths, each a positive integer.
fn parse_widths(text: &str, example: &str) -> std::result::Result<Vec<usize>, String> {
    text.split(',')
        .map(|w| {
            let w = w.trim();
            match w.parse::<usize>() {
                Ok(0) => Err("every width must be at least 1".to_string()),
                Ok(n) if n > MAX_WIDTH => Err(format!(
                    "a width of {n} is more than the {MAX_WIDTH} this build accepts"
                )),
                Ok(n) => Ok(n),
                Err(_) => Err(format!(
                    "'{w}' is not a width (expected positive integers like {example})"
                )),
            }
        })
        .collect()
}

/// Parses `--layers`: all the sizes, input first and output 1 last, as in `4,5,3,1`; the
/// architecture is checked whole (widths, parameter count, output width).
///
/// ```
/// assert_eq!(fraudnet::model::parse_layers("4, 5,3,1"), Ok(vec![4, 5, 3, 1]));
/// assert!(fraudnet::model::parse_layers("4,0,1").unwrap_err().contains("at least 1"));
/// ```
pub fn parse_layers(text: &str) -> std::result::Result<Vec<usize>, String> {
    let sizes = parse_widths(text, "4,5,3,1")?;
    if sizes.len() < 2 {
        return Err("need an input size and at least one layer, like 4,5,3,1".to_string());
    }
    check_sizes(&sizes).map_err(|e| match e {
        Error::InvalidArchitecture { reason, .. } => reason,
        other => other.to_string(),
    })?;
    Ok(sizes)
}

/// Parses `--hidden`: the hidden widths only, as in `32,16`; empty (or blank) for none, which
/// makes the network a logistic regression.
///
/// ```
/// assert_eq!(fraudnet::model::parse_hidden("32,16"), Ok(vec![32, 16]));
/// assert_eq!(fraudnet::model::parse_hidden(""), Ok(vec![]));
/// ```
pub fn parse_hidden(text: &str) -> std::result::Result<Vec<usize>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let hidden = parse_widths(text, "32,16, or \"\"")?;
    // With the narrowest input and output, so that no data is needed to refuse absurd sizes.
    let mut sizes = Vec::with_capacity(hidden.len() + 2);
    sizes.push(1);
    sizes.extend(&hidden);
    sizes.push(1);
    match parameter_count(&sizes) {
        Some(n) if n <= MAX_PARAMETERS => Ok(hidden),
        _ => Err(format!(
            "these widths make more than the {MAX_PARAMETERS} parameters this build accepts"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_sizes_are_refused_before_any_allocation() {
        let huge = [7, 1_000_000_000, 1_000_000_000, 1];
        let error = check_sizes(&huge).unwrap_err().to_string();
        assert!(error.contains("more than the 100000"), "{error}");
        let overflow = [usize::MAX, usize::MAX, 1];
        assert_eq!(parameter_count(&overflow), None);
        // Every width within bounds, the product not: 10⁵ · 10⁵ = 10¹⁰ parameters.
        let error = check_sizes(&[100_000, 100_000, 1]).unwrap_err().to_string();
        assert!(
            error.contains("10000200001 parameters is more than"),
            "{error}"
        );
        assert!(check_sizes(&[7, 32, 16, 1]).is_ok());
    }

    #[test]
    fn layer_texts_parse_or_say_what_is_wrong() {
        let cases: [(&str, Result<Vec<usize>, &str>); 8] = [
            ("4,5,3,1", Ok(vec![4, 5, 3, 1])),
            (" 2 , 1 ", Ok(vec![2, 1])),
            ("4", Err("need an input size")),
            ("4,0,1", Err("at least 1")),
            ("4,x,1", Err("'x' is not a width")),
            ("4,-3,1", Err("'-3' is not a width")),
            ("4,1000000000,1", Err("more than the 100000")),
            ("4,5,2", Err("must have width 1")),
        ];
        for (text, expected) in cases {
            match (parse_layers(text), expected) {
                (Ok(sizes), Ok(want)) => assert_eq!(sizes, want, "{text}"),
                (Err(e), Err(want)) => assert!(e.contains(want), "{text}: {e}"),
                (got, want) => panic!("{text}: got {got:?}, expected {want:?}"),
            }
        }
        assert_eq!(parse_hidden(" "), Ok(vec![]));
        assert!(
            parse_hidden("50000,50000")
                .unwrap_err()
                .contains("parameters")
        );
        assert!(
            parse_hidden("3,,2")
                .unwrap_err()
                .contains("'' is not a width")
        );
    }
}
