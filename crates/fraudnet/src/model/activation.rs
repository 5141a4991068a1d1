//! Hidden-layer activations and the dropout mask: the element-wise pieces of the MLP. Each
//! activation is written once, generically (so the `f64` passes and the dual-number oracle apply
//! the same one), with its derivative and its backward step beside it; the fused forward pass,
//! the cached one, the incremental costs and the backward pass all use them. Knows nothing of
//! layers' shapes beyond a mask's.

use std::fmt;
use std::str::FromStr;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::formulas::{Real, relu, sigmoid};
use crate::error::{Error, Result};
use crate::numpy_rng::NumpyRng;

/// The slope of [`Activation::LeakyRelu`] for negative inputs.
pub const LEAKY_SLOPE: f64 = 0.01;

/// A hidden layer's activation function.
///
/// ```
/// use fraudnet::Activation;
/// let a: Activation = "leaky_relu".parse()?;
/// assert_eq!(a.apply(-2.0), -0.02);
/// assert_eq!(a.derivative(-2.0), 0.01);
/// assert_eq!(a.to_string(), "leaky_relu");
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(z, 0)`: kinked at 0. The notebook's, and the default.
    #[default]
    Relu,
    /// `z` for `z > 0`, [`LEAKY_SLOPE`]`·z` otherwise: kinked at 0.
    LeakyRelu,
    /// `tanh(z)`: smooth.
    Tanh,
    /// `1 / (1 + e^(−z))`: smooth.
    Sigmoid,
}

impl Activation {
    /// Every activation, in the order of their names in messages.
    pub const ALL: [Activation; 4] = [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Tanh,
        Activation::Sigmoid,
    ];

    /// The activation of a pre-activation `z`, at `f64` or at a dual number (at a kink, the
    /// branch on `z > 0`, so a dual number takes the left derivative, as
    /// [`Activation::derivative`] does).
    #[inline(always)]
    pub fn apply<T: Real>(self, z: T) -> T {
        match self {
            Activation::Relu => relu(z),
            Activation::LeakyRelu => {
                if z.re() > 0.0 {
                    z
                } else {
                    z * LEAKY_SLOPE
                }
            }
            Activation::Tanh => z.tanh(),
            Activation::Sigmoid => sigmoid(z),
        }
    }

    /// The derivative at `z` (at a kink, the left one: 0 for ReLU, the slope for leaky ReLU).
    #[inline(always)]
    pub fn derivative(self, z: f64) -> f64 {
        match self {
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu => {
                if z > 0.0 {
                    1.0
                } else {
                    LEAKY_SLOPE
                }
            }
            Activation::Tanh => {
                let t = z.tanh();
                1.0 - t * t
            }
            Activation::Sigmoid => {
                let s = sigmoid(z);
                s * (1.0 - s)
            }
        }
    }

    /// Multiplies `upstream` (the gradient with respect to the activations) by the derivative
    /// at the pre-activations `z`, in place: the backward pass through this activation. For
    /// ReLU, zeroing rather than multiplying by 0 keeps the notebook's bits (and a NaN-free 0
    /// where an infinite upstream gradient meets an inactive unit).
    pub(crate) fn backpropagate(self, upstream: &mut Array2<f64>, z: &Array2<f64>) {
        if self == Activation::Relu {
            upstream.zip_mut_with(z, |d, &z| {
                if z <= 0.0 {
                    *d = 0.0;
                }
            });
        } else {
            upstream.zip_mut_with(z, |d, &z| *d *= self.derivative(z));
        }
    }

    /// Whether the function has kinks (points where it is not differentiable), at `z = 0`.
    pub fn is_kinked(self) -> bool {
        matches!(self, Activation::Relu | Activation::LeakyRelu)
    }

    /// The standard deviation of the initial weights of a layer with `fan_in` inputs and
    /// `fan_out` outputs: He (`√(2/fan_in)`) for the ReLU family, Xavier/Glorot
    /// (`√(2/(fan_in + fan_out))`) for tanh and sigmoid.
    pub fn init_scale(self, fan_in: usize, fan_out: usize) -> f64 {
        if self.is_kinked() {
            (2.0 / fan_in as f64).sqrt()
        } else {
            (2.0 / (fan_in + fan_out) as f64).sqrt()
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
        })
    }
}

impl FromStr for Activation {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Activation::ALL
            .into_iter()
            .find(|a| a.to_string() == s.trim().replace('-', "_"))
            .ok_or_else(|| {
                Error::InvalidSetting(format!(
                    "unknown activation '{s}' (expected relu, leaky_relu, tanh or sigmoid)"
                ))
            })
    }
}

/// An inverted-dropout mask for every hidden layer of a batch: each unit of each example is kept
/// with probability `1 − rate` and then scaled by `1 / (1 − rate)` (so the expected activation is
/// unchanged and nothing is rescaled at prediction time), or dropped (0).
///
/// The mask is drawn once and then *frozen*: the cost evaluations of a gradient check and the
/// backward pass all see the same mask, which is what makes a gradient check with dropout on
/// meaningful (a fresh mask per evaluation would make the cost a random function).
///
/// ```
/// use fraudnet::{DropoutMask, Mlp, NumpyRng};
/// let mlp = Mlp::new(&[4, 5, 3, 1])?;
/// let mask = DropoutMask::sample(&mlp, 10, 0.5, &mut NumpyRng::new(1))?;
/// assert_eq!(mask.layers().len(), 2); // hidden layers only
/// assert_eq!(mask.layers()[0].shape(), [5, 10]);
/// assert!(mask.layers()[1].iter().all(|&k| k == 0.0 || k == 2.0));
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DropoutMask {
    rate: f64,
    layers: Vec<Array2<f64>>,
}

impl DropoutMask {
    /// A mask for `examples` examples through `mlp`'s hidden layers, dropping each unit with
    /// probability `rate` (in `[0, 1)`), drawn from `rng`.
    pub fn sample(
        mlp: &super::Mlp,
        examples: usize,
        rate: f64,
        rng: &mut NumpyRng,
    ) -> Result<Self> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::InvalidSetting(format!(
                "dropout rate must be in [0, 1), got {rate}"
            )));
        }
        let keep = 1.0 - rate;
        let hidden = &mlp.sizes()[1..mlp.sizes().len() - 1];
        let layers = hidden
            .iter()
            .map(|&n| {
                Array2::from_shape_fn((n, examples), |_| {
                    if rng.random_sample() < keep {
                        1.0 / keep
                    } else {
                        0.0
                    }
                })
            })
            .collect();
        Ok(DropoutMask { rate, layers })
    }

    /// The probability of dropping a unit.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// One `(n_l, m)` array of factors (0 or `1/(1 − rate)`) per hidden layer, layer 1 first.
    pub fn layers(&self) -> &[Array2<f64>] {
        &self.layers
    }
}
