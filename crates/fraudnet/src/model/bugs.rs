//! Bugs injected into a hand-written gradient on purpose, so that a gradient check can be shown
//! to catch them and name the right tensor. The notebook's buggy backward pass is the correct one
//! with two of these (`dW2 × 2`, `db1 × 4`). Specs read like `dW2:scale=2`, `dW1:sign`,
//! `db3:zero`, `dW2[1,3]:add=1e-3`, `dW1:swap`, `notebook`, or — mistakes inside the backward
//! pass — `dW2:sigmoid-derivative` (hidden layer 2's ReLU differentiated as a sigmoid) and
//! `db2:unsummed` (the bias gradient taken from the first example instead of the sum) and
//! `dW1:dropout-unmasked` (hidden layer 1's dropout mask forgotten in the backward pass).

use std::fmt;
use std::str::FromStr;

use gradproof::Tensors;

use crate::error::{Error, Result};
use crate::model::BackwardFault;

/// A deliberate mistake applied to a computed gradient. Tensors are named by their parameter
/// (`W2`); specs may use either the parameter or the gradient name (`dW2`).
#[derive(Clone, Debug, PartialEq)]
pub enum Bug {
    /// Multiply the whole gradient tensor by `factor`.
    Scale {
        /// The parameter whose gradient is wrong.
        tensor: String,
        /// The wrong factor.
        factor: f64,
    },
    /// Flip the sign of the whole gradient tensor.
    Sign {
        /// The parameter whose gradient is wrong.
        tensor: String,
    },
    /// Set the whole gradient tensor to zero (a forgotten term).
    Zero {
        /// The parameter whose gradient is wrong.
        tensor: String,
    },
    /// Add `delta` to one element.
    Add {
        /// The parameter whose gradient is wrong.
        tensor: String,
        /// The element's multi-index.
        index: Vec<usize>,
        /// What is added.
        delta: f64,
    },
    /// Swap the largest and the smallest element of the tensor (an index mix-up).
    Swap {
        /// The parameter whose gradient is wrong.
        tensor: String,
    },
    /// Inside the backward pass: hidden layer `layer`'s ReLU differentiated as a sigmoid.
    SigmoidDerivative {
        /// The hidden layer (1-based).
        layer: usize,
    },
    /// Inside the backward pass: `db{layer}` from the first example instead of the sum.
    BiasNotSummed {
        /// The layer (1-based).
        layer: usize,
    },
    /// Inside the backward pass: hidden layer `layer`'s dropout mask not applied.
    DropoutUnmasked {
        /// The hidden layer (1-based).
        layer: usize,
    },
}

impl Bug {
    /// `Scale` of `tensor`'s gradient by `factor`.
    pub fn scale(tensor: impl Into<String>, factor: f64) -> Self {
        Bug::Scale {
            tensor: tensor.into(),
            factor,
        }
    }

    /// The notebook's two bugs: `dW2` multiplied by 2 and `db1` by 4.
    pub fn notebook() -> Vec<Bug> {
        vec![Bug::scale("W2", 2.0), Bug::scale("b1", 4.0)]
    }

    /// Parses a list of specs (each may be `notebook`, which stands for two bugs).
    ///
    /// ```
    /// use fraudnet::Bug;
    /// let bugs = Bug::parse_all(["dW2[1,3]:add=1e-3", "notebook"])?;
    /// assert_eq!(bugs.len(), 3);
    /// assert_eq!(bugs[0].to_string(), "dW2[1,3]:add=0.001");
    /// # Ok::<(), fraudnet::Error>(())
    /// ```
    pub fn parse_all<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<Vec<Bug>> {
        let mut bugs = Vec::new();
        for spec in specs {
            if spec.trim() == "notebook" {
                bugs.extend(Bug::notebook());
            } else {
                bugs.push(spec.parse()?);
            }
        }
        Ok(bugs)
    }

    /// The parameter whose gradient the bug changes (first, for a mistake inside the backward
    /// pass, which spoils the layers below too).
    pub fn tensor(&self) -> String {
        match self {
            Bug::Scale { tensor, .. }
            | Bug::Sign { tensor }
            | Bug::Zero { tensor }
            | Bug::Add { tensor, .. }
            | Bug::Swap { tensor } => tensor.clone(),
            Bug::SigmoidDerivative { layer } | Bug::DropoutUnmasked { layer } => {
                format!("W{layer}")
            }
            Bug::BiasNotSummed { layer } => format!("b{layer}"),
        }
    }

    /// The mistake inside the backward pass this bug stands for, if it is one.
    pub fn backward_fault(&self) -> Option<BackwardFault> {
        match *self {
            Bug::SigmoidDerivative { layer } => Some(BackwardFault::SigmoidDerivative { layer }),
            Bug::BiasNotSummed { layer } => Some(BackwardFault::BiasNotSummed { layer }),
            Bug::DropoutUnmasked { layer } => Some(BackwardFault::DropoutUnmasked { layer }),
            _ => None,
        }
    }

    /// Applies the bug to `gradient`; fails if the tensor or index does not exist.
    pub fn apply(&self, gradient: &mut Tensors) -> Result<()> {
        let invalid = |e: gradproof::Error| Error::InvalidBug(format!("{self}: {e}"));
        if self.backward_fault().is_some() {
            return Err(Error::InvalidBug(format!(
                "{self} happens inside the backward pass and cannot be applied to a computed gradient"
            )));
        }
        if let Bug::Add {
            tensor,
            index,
            delta,
        } = self
        {
            let flat = gradient
                .layout()
                .flat_index(tensor, index)
                .map_err(invalid)?;
            gradient.values_mut()[flat] += delta;
            return Ok(());
        }
        let mut view = gradient.get_mut(&self.tensor()).map_err(invalid)?;
        match self {
            Bug::Scale { factor, .. } => view.mapv_inplace(|g| g * factor),
            Bug::Sign { .. } => view.mapv_inplace(|g| -g),
            Bug::Zero { .. } => view.fill(0.0),
            Bug::Swap { .. } => {
                let values = view.as_slice_mut().expect("a layout view is contiguous");
                let by_value = |a: &(usize, &f64), b: &(usize, &f64)| a.1.total_cmp(b.1);
                let hi = values.iter().enumerate().max_by(by_value).map(|(i, _)| i);
                let lo = values.iter().enumerate().min_by(by_value).map(|(i, _)| i);
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    values.swap(hi, lo);
                }
            }
            Bug::Add { .. }
            | Bug::SigmoidDerivative { .. }
            | Bug::BiasNotSummed { .. }
            | Bug::DropoutUnmasked { .. } => {
                unreachable!("handled above")
            }
        }
        Ok(())
    }
}

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
    use gradproof::{Layout, TensorSpec};

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

#[cfg(test)]
mod structural_tests {
    use super::*;

    #[test]
    fn backward_pass_bugs_parse_round_trip_and_refuse_to_be_applied_afterwards() {
        let bug: Bug = "dW2:sigmoid-derivative".parse().unwrap();
        assert_eq!(bug, Bug::SigmoidDerivative { layer: 2 });
        assert_eq!(bug.to_string().parse::<Bug>().unwrap(), bug);
        let bug: Bug = "db3:unsummed".parse().unwrap();
        assert_eq!(
            bug.backward_fault(),
            Some(BackwardFault::BiasNotSummed { layer: 3 })
        );
        assert_eq!(bug.to_string(), "db3:unsummed");
        for bad in [
            "db2:sigmoid-derivative",
            "dW2:unsummed",
            "dW0:sigmoid-derivative",
            "db2:unsummed=1",
        ] {
            let err = bad.parse::<Bug>().unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        let layout = gradproof::Layout::new([gradproof::TensorSpec::new("b3", [1, 1])]).unwrap();
        let mut g = Tensors::zeros(layout);
        assert!(
            bug.apply(&mut g)
                .unwrap_err()
                .to_string()
                .contains("inside the backward pass")
        );
    }
}
