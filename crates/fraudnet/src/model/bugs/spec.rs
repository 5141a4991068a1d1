//! How a [`Bug`] is written: parsing a spec such as `dW2:scale=2` or `db2:unsummed`, and
//! printing it back the same way. Knows nothing of what a bug does to a gradient.

use std::fmt;
use std::str::FromStr;

use super::Bug;
use crate::error::{Error, Result};

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bug::Scale { tensor, factor } => write!(f, "d{tensor}:scale={factor}"),
            Bug::Sign { tensor } => write!(f, "d{tensor}:sign"),
            Bug::Zero { tensor } => write!(f, "d{tensor}:zero"),
            Bug::Swap { tensor } => write!(f, "d{tensor}:swap"),
            Bug::SigmoidDerivative { layer } => write!(f, "dW{layer}:sigmoid-derivative"),
            Bug::BiasNotSummed { layer } => write!(f, "db{layer}:unsummed"),
            Bug::DropoutUnmasked { layer } => write!(f, "dW{layer}:dropout-unmasked"),
            Bug::Add {
                tensor,
                index,
                delta,
            } => {
                let index: Vec<String> = index.iter().map(usize::to_string).collect();
                write!(f, "d{tensor}[{}]:add={delta}", index.join(","))
            }
        }
    }
}

impl FromStr for Bug {
    type Err = Error;

    /// Parses one spec: `TENSOR[:KIND]` with KIND `scale=F`, `sign`, `zero`, `swap`, or
    /// `TENSOR[i,j]:add=F`. TENSOR is `dW2` or `W2`.
    fn from_str(spec: &str) -> Result<Self> {
        let invalid = |why: &str| {
            Error::InvalidBug(format!(
                "'{spec}': {why} (expected e.g. dW2:scale=2, dW1:sign, db3:zero, dW2[1,3]:add=1e-3, dW1:swap, dW2:sigmoid-derivative, db2:unsummed, dW1:dropout-unmasked or notebook)"
            ))
        };
        let (target, kind) = spec
            .trim()
            .split_once(':')
            .ok_or_else(|| invalid("missing ':KIND'"))?;
        let (name, index) = match target.split_once('[') {
            None => (target, None),
            Some((name, rest)) => {
                let inner = rest
                    .strip_suffix(']')
                    .ok_or_else(|| invalid("an index must end with ']'"))?;
                let index = inner
                    .split(',')
                    .map(|i| i.trim().parse::<usize>())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|_| invalid("an index is a list of non-negative integers"))?;
                (name, Some(index))
            }
        };
        let tensor = name.strip_prefix('d').unwrap_or(name).trim().to_string();
        if tensor.is_empty() {
            return Err(invalid("no tensor name"));
        }
        let number = |text: &str| -> Result<f64> {
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| invalid("the value must be a finite number"))
        };
        let (kind, value) = match kind.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v)),
            None => (kind.trim(), None),
        };
        let bug = match (kind, value, index) {
            ("scale", Some(v), None) => Bug::Scale {
                tensor,
                factor: number(v)?,
            },
            ("sign", None, None) => Bug::Sign { tensor },
            ("zero", None, None) => Bug::Zero { tensor },
            ("swap", None, None) => Bug::Swap { tensor },
            ("sigmoid-derivative", None, None) => Bug::SigmoidDerivative {
                layer: layer_of(&tensor, 'W')
                    .ok_or_else(|| invalid("sigmoid-derivative names a weight, as in dW2"))?,
            },
            ("dropout-unmasked", None, None) => Bug::DropoutUnmasked {
                layer: layer_of(&tensor, 'W')
                    .ok_or_else(|| invalid("dropout-unmasked names a weight, as in dW1"))?,
            },
            ("unsummed", None, None) => Bug::BiasNotSummed {
                layer: layer_of(&tensor, 'b')
                    .ok_or_else(|| invalid("unsummed names a bias, as in db2"))?,
            },
            ("add", Some(v), Some(index)) => Bug::Add {
                tensor,
                index,
                delta: number(v)?,
            },
            ("scale" | "add", None, _) => return Err(invalid("missing '=VALUE'")),
            ("add", _, None) => {
                return Err(invalid("add needs an element, as in dW2[1,3]:add=1e-3"));
            }
            (_, _, Some(_)) => return Err(invalid("only add takes an element index")),
            (
                "sign" | "zero" | "swap" | "sigmoid-derivative" | "unsummed" | "dropout-unmasked",
                Some(_),
                _,
            ) => {
                return Err(invalid("this kind takes no value"));
            }
            _ => return Err(invalid("unknown kind")),
        };
        Ok(bug)
    }
}

/// The layer number of a tensor named `{prefix}{layer}` (`W2` → 2), if it is one.
fn layer_of(tensor: &str, prefix: char) -> Option<usize> {
    tensor
        .strip_prefix(prefix)?
        .parse::<usize>()
        .ok()
        .filter(|&l| l >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gradproof::{Layout, TensorSpec, Tensors};

    fn gradient() -> Tensors {
        let layout =
            Layout::new([TensorSpec::new("W1", [2, 2]), TensorSpec::new("b1", [2, 1])]).unwrap();
        Tensors::new(layout, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap()
    }

    #[test]
    fn every_kind_changes_only_its_tensor() {
        let cases = [
            ("dW1:scale=2", [2.0, 4.0, 6.0, 8.0, 5.0, 6.0]),
            ("W1:sign", [-1.0, -2.0, -3.0, -4.0, 5.0, 6.0]),
            ("db1:zero", [1.0, 2.0, 3.0, 4.0, 0.0, 0.0]),
            ("dW1[1,0]:add=0.5", [1.0, 2.0, 3.5, 4.0, 5.0, 6.0]),
            ("dW1:swap", [4.0, 2.0, 3.0, 1.0, 5.0, 6.0]),
        ];
        for (spec, expected) in cases {
            let bug: Bug = spec.parse().unwrap();
            let mut g = gradient();
            bug.apply(&mut g).unwrap();
            assert_eq!(g.values(), expected, "{spec}");
            // Display round-trips through FromStr.
            assert_eq!(bug.to_string().parse::<Bug>().unwrap(), bug);
        }
    }

    #[test]
    fn bad_specs_say_what_is_expected() {
        for spec in [
            "dW1",
            "dW1:scale",
            "dW1:scale=abc",
            "dW1:scale=nan",
            "dW1:sign=2",
            "dW1:add=1",
            "dW1[x]:add=1",
            "dW1[1:add=1",
            "dW1[0]:zero",
            "dW1:frobnicate",
            "d:zero",
        ] {
            let err = spec.parse::<Bug>().unwrap_err().to_string();
            assert!(
                err.contains(spec) && err.contains("expected"),
                "{spec}: {err}"
            );
        }
    }

    #[test]
    fn unknown_tensors_and_indices_are_refused_when_applied() {
        let mut g = gradient();
        let err = "dW9:zero"
            .parse::<Bug>()
            .unwrap()
            .apply(&mut g)
            .unwrap_err();
        assert!(err.to_string().contains("W9"), "{err}");
        let err = "dW1[2,0]:add=1"
            .parse::<Bug>()
            .unwrap()
            .apply(&mut g)
            .unwrap_err();
        assert!(err.to_string().contains("[2, 2]"), "{err}");
    }
}
