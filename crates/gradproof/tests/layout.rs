//! Integration tests of `Layout`, `Location` and `Tensors`: the flatten / unflatten round trip on
//! random tensors, the flat-index ⇄ location bijection, and every error message naming what a user
//! needs to fix.

use gradproof::layout::Location;
use gradproof::{Error, Layout, TensorSpec, Tensors};
use ndarray::{ArrayD, IxDyn, ShapeBuilder, array};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Round trip (proptest)
// ---------------------------------------------------------------------------------------------

/// One dimension: mostly 1..=5, sometimes 0.
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![9 => 1usize..=5, 1 => Just(0usize)]
}

/// A random tensor: a shape of rank 0..=3, values for it, and whether to hand it over in
/// column-major (Fortran) memory order, which must not change the logical row-major flattening.
fn tensor() -> impl Strategy<Value = (Vec<usize>, Vec<f64>, bool)> {
    prop::collection::vec(dim(), 0..=3).prop_flat_map(|shape| {
        let len: usize = shape.iter().product();
        (
            Just(shape),
            prop::collection::vec(-1e6f64..1e6, len),
            any::<bool>(),
        )
    })
}

/// The array of `shape` whose row-major elements are `values`, stored in C or Fortran order.
fn array_of(shape: &[usize], values: &[f64], fortran: bool) -> ArrayD<f64> {
    let c = ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).unwrap();
    if fortran {
        let mut f = ArrayD::zeros(IxDyn(shape).f());
        f.assign(&c);
        assert_eq!(f, c);
        f
    } else {
        c
    }
}

proptest! {
    #[test]
    fn flatten_unflatten_is_the_identity_and_locate_inverts_flat_index(
        tensors in prop::collection::vec(tensor(), 1..6),
    ) {
        let named: Vec<(String, ArrayD<f64>)> = tensors
            .iter()
            .enumerate()
            .map(|(k, (shape, values, fortran))| (format!("t{k}"), array_of(shape, values, *fortran)))
            .collect();
        let flat = Tensors::from_arrays(named.clone()).unwrap();
        let layout = flat.layout();

        // Layout mirrors the input.
        prop_assert_eq!(layout.tensors().len(), named.len());
        let total: usize = named.iter().map(|(_, a)| a.len()).sum();
        prop_assert_eq!(layout.len(), total);
        prop_assert_eq!(flat.values().len(), total);
        prop_assert_eq!(layout.is_empty(), total == 0);
        let mut start = 0;
        for (k, (name, array)) in named.iter().enumerate() {
            prop_assert_eq!(&layout.tensors()[k].name, name);
            prop_assert_eq!(&layout.tensors()[k].shape[..], array.shape());
            prop_assert_eq!(layout.range(k), start..start + array.len());
            prop_assert_eq!(layout.tensor_index(name).unwrap(), k);
            // Row-major flattening, whatever the memory order of the input.
            let row_major: Vec<f64> = array.iter().copied().collect();
            prop_assert_eq!(&flat.values()[layout.range(k)], &row_major[..]);
            prop_assert_eq!(flat.get(name).unwrap(), array.view());
            start += array.len();
        }

        // Unflatten gives back exactly the same names and arrays.
        let back = flat.to_arrays();
        prop_assert_eq!(&back, &named);
        for (_, array) in &back {
            prop_assert!(array.is_standard_layout());
        }

        // Every flat index round-trips through locate / flat_index and reads the original element.
        for i in 0..layout.len() {
            let loc = layout.locate(i).unwrap();
            prop_assert_eq!(layout.flat_index(&loc.name, &loc.index).unwrap(), i);
            let (name, array) = &named[loc.tensor];
            prop_assert_eq!(&loc.name, name);
            prop_assert!(layout.range(loc.tensor).contains(&i));
            prop_assert_eq!(flat.values()[i], array[IxDyn(&loc.index)]);
            prop_assert_eq!(flat.at(&loc.name, &loc.index).unwrap(), array[IxDyn(&loc.index)]);
        }
        // One past the end is out of range.
        let past_end = layout.locate(layout.len());
        prop_assert!(
            matches!(past_end, Err(Error::FlatIndexOutOfRange { index, len }) if index == total && len == total),
            "{:?}", past_end
        );

        // Rebuilding from the layout and the flat values gives equal tensors.
        let rebuilt = Tensors::new(layout.clone(), flat.values().to_vec()).unwrap();
        prop_assert_eq!(&rebuilt, &flat);
    }
}

#[test]
fn empty_tensors_between_others_are_skipped_by_locate() {
    let layout = Layout::new([
        TensorSpec::new("e0", [0]),
        TensorSpec::new("a", [2]),
        TensorSpec::new("e1", [3, 0]),
        TensorSpec::new("s", []),
        TensorSpec::new("e2", [0, 2]),
    ])
    .unwrap();
    assert_eq!(layout.len(), 3);
    let found: Vec<String> = (0..3)
        .map(|i| layout.locate(i).unwrap().to_string())
        .collect();
    assert_eq!(found, ["a[0]", "a[1]", "s"]);
    assert_eq!(layout.locate(2).unwrap().tensor, 3);
    assert_eq!(layout.range(2), 2..2);
}

#[test]
fn views_share_the_flat_buffer() {
    let layout = Layout::new([TensorSpec::new("W", [2, 3]), TensorSpec::new("b", [2, 1])]).unwrap();
    let mut t = Tensors::zeros(layout.clone());
    t.get_mut("b").unwrap()[[1, 0]] = 7.0;
    t.get_mut("W").unwrap()[[0, 2]] = -3.0;
    assert_eq!(t.values(), &[0.0, 0.0, -3.0, 0.0, 0.0, 0.0, 0.0, 7.0]);
    assert_eq!(t.at("b", &[1, 0]).unwrap(), 7.0);
    assert_eq!(
        layout.view(t.values(), 0),
        array![[0.0, 0.0, -3.0], [0.0, 0.0, 0.0]].into_dyn()
    );
    assert_eq!(t.into_values()[7], 7.0);
}

// ---------------------------------------------------------------------------------------------
// Location display
// ---------------------------------------------------------------------------------------------

#[test]
fn location_display() {
    let layout = Layout::new([
        TensorSpec::new("W1", [5, 4]),
        TensorSpec::new("b1", [5, 1]),
        TensorSpec::new("c", []),
        TensorSpec::new("v", [3]),
    ])
    .unwrap();
    assert_eq!(layout.locate(21).unwrap().to_string(), "b1[1, 0]");
    assert_eq!(layout.locate(7).unwrap().to_string(), "W1[1, 3]");
    assert_eq!(layout.locate(25).unwrap().to_string(), "c");
    assert_eq!(layout.locate(28).unwrap().to_string(), "v[2]");
    assert_eq!(
        layout.locate(21).unwrap(),
        Location {
            tensor: 1,
            name: "b1".to_string(),
            index: vec![1, 0],
        }
    );
    let scalar = Location {
        tensor: 0,
        name: "theta".to_string(),
        index: vec![],
    };
    assert_eq!(scalar.to_string(), "theta");
    assert_eq!(layout.to_string(), "W1[5, 4], b1[5, 1], c[], v[3]");
}

// ---------------------------------------------------------------------------------------------
// Error cases
// ---------------------------------------------------------------------------------------------

fn spec(name: &str, shape: &[usize]) -> TensorSpec {
    TensorSpec::new(name, shape)
}

fn layout(specs: &[(&str, &[usize])]) -> Layout {
    Layout::new(specs.iter().map(|(n, s)| spec(n, s))).unwrap()
}

/// The network-shaped layout most cases use: W1[5, 4], b1[5, 1], W2[3, 5], b2[3, 1].
fn net() -> Layout {
    layout(&[
        ("W1", &[5, 4]),
        ("b1", &[5, 1]),
        ("W2", &[3, 5]),
        ("b2", &[3, 1]),
    ])
}

/// Asserts `result` failed with a variant accepted by `is_variant` and a message containing every
/// one of `needles`.
fn assert_error<T: std::fmt::Debug>(
    case: &str,
    result: Result<T, Error>,
    is_variant: fn(&Error) -> bool,
    needles: &[&str],
) {
    let err = match result {
        Ok(v) => panic!("{case}: expected an error, got Ok({v:?})"),
        Err(e) => e,
    };
    assert!(is_variant(&err), "{case}: unexpected variant {err:?}");
    let message = err.to_string();
    for needle in needles {
        assert!(
            message.contains(needle),
            "{case}: message {message:?} does not contain {needle:?}"
        );
    }
}

#[test]
fn layout_construction_errors() {
    type Case = (
        &'static str,
        Vec<TensorSpec>,
        fn(&Error) -> bool,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "duplicate name",
            vec![spec("W1", &[2, 2]), spec("b1", &[2]), spec("W1", &[3])],
            |e| matches!(e, Error::DuplicateName { name } if name == "W1"),
            vec!["'W1'", "twice"],
        ),
        (
            "duplicate name, same shape",
            vec![spec("a", &[]), spec("a", &[])],
            |e| matches!(e, Error::DuplicateName { name } if name == "a"),
            vec!["'a'", "twice"],
        ),
        (
            "empty name first",
            vec![spec("", &[1])],
            |e| matches!(e, Error::EmptyName { position: 0 }),
            vec!["#0", "empty name"],
        ),
        (
            "empty name later",
            vec![spec("W1", &[1]), spec("b1", &[1]), spec("", &[2, 2])],
            |e| matches!(e, Error::EmptyName { position: 2 }),
            vec!["#2", "empty name"],
        ),
    ];
    for (case, specs, is_variant, needles) in cases {
        assert_error(case, Layout::new(specs), is_variant, &needles);
    }
    // from_arrays goes through the same checks.
    assert_error(
        "from_arrays duplicate",
        Tensors::from_arrays([
            ("x", array![1.0, 2.0].into_dyn()),
            ("x", array![3.0].into_dyn()),
        ]),
        |e| matches!(e, Error::DuplicateName { name } if name == "x"),
        &["'x'"],
    );
    assert_error(
        "from_arrays empty name",
        Tensors::from_arrays([("", array![1.0].into_dyn())]),
        |e| matches!(e, Error::EmptyName { position: 0 }),
        &["#0"],
    );
}

#[test]
fn lookup_errors() {
    let l = net();
    type Case = (
        &'static str,
        Result<usize, Error>,
        fn(&Error) -> bool,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "unknown tensor",
            l.tensor_index("W3"),
            |e| matches!(e, Error::UnknownTensor { name, .. } if name == "W3"),
            vec!["'W3'", "W1, b1, W2, b2"],
        ),
        (
            "unknown tensor via flat_index",
            l.flat_index("dW1", &[0, 0]),
            |e| matches!(e, Error::UnknownTensor { name, .. } if name == "dW1"),
            vec!["'dW1'", "W1, b1, W2, b2"],
        ),
        (
            "index too large",
            l.flat_index("b1", &[5, 0]),
            |e| matches!(e, Error::IndexOutOfRange { name, .. } if name == "b1"),
            vec!["'b1'", "[5, 0]", "[5, 1]"],
        ),
        (
            "index too large in the last axis",
            l.flat_index("W2", &[0, 5]),
            |e| matches!(e, Error::IndexOutOfRange { name, .. } if name == "W2"),
            vec!["'W2'", "[0, 5]", "[3, 5]"],
        ),
        (
            "rank too small",
            l.flat_index("W1", &[1]),
            |e| matches!(e, Error::IndexOutOfRange { name, .. } if name == "W1"),
            vec!["'W1'", "[1]", "[5, 4]"],
        ),
        (
            "rank too large",
            l.flat_index("b2", &[0, 0, 0]),
            |e| matches!(e, Error::IndexOutOfRange { name, .. } if name == "b2"),
            vec!["'b2'", "[0, 0, 0]", "[3, 1]"],
        ),
        (
            "flat index out of range",
            l.locate(43).map(|loc| loc.tensor),
            |e| matches!(e, Error::FlatIndexOutOfRange { index: 43, len: 43 }),
            vec!["flat index 43", "of 43 values"],
        ),
        (
            "flat index far out of range",
            l.locate(1000).map(|loc| loc.tensor),
            |e| {
                matches!(
                    e,
                    Error::FlatIndexOutOfRange {
                        index: 1000,
                        len: 43
                    }
                )
            },
            vec!["flat index 1000", "of 43 values"],
        ),
    ];
    for (case, result, is_variant, needles) in cases {
        assert_error(case, result, is_variant, &needles);
    }
    // The last valid flat index is fine.
    assert_eq!(l.locate(42).unwrap().to_string(), "b2[2, 0]");

    // A scalar takes the empty index and nothing else.
    let s = layout(&[("a", &[2]), ("s", &[])]);
    assert_eq!(s.flat_index("s", &[]).unwrap(), 2);
    assert_error(
        "index into a scalar",
        s.flat_index("s", &[0]),
        |e| matches!(e, Error::IndexOutOfRange { name, .. } if name == "s"),
        &["'s'", "[0]", "[]"],
    );

    // Tensors' lookups report the same errors.
    let t = Tensors::zeros(net());
    assert_error(
        "Tensors::get unknown",
        t.get("W9"),
        |e| matches!(e, Error::UnknownTensor { .. }),
        &["'W9'", "W1, b1, W2, b2"],
    );
    assert_error(
        "Tensors::at out of range",
        t.at("W1", &[0, 4]),
        |e| matches!(e, Error::IndexOutOfRange { .. }),
        &["'W1'", "[0, 4]", "[5, 4]"],
    );
}

#[test]
fn tensors_new_length_mismatch() {
    let l = layout(&[("W", &[2, 3]), ("b", &[2])]);
    for found in [0, 7, 9, 100] {
        assert_error(
            &format!("Tensors::new with {found} values"),
            Tensors::new(l.clone(), vec![0.0; found]),
            |e| matches!(e, Error::LengthMismatch { expected: 8, .. }),
            &[&format!("has {found} values"), "holds 8", "W[2, 3], b[2]"],
        );
    }
    assert_error(
        "expect_len",
        l.expect_len("parameters θ", 3),
        |e| matches!(e, Error::LengthMismatch { found: 3, expected: 8, what, .. } if what == "parameters θ"),
        &["parameters θ has 3 values", "holds 8"],
    );
    assert!(l.expect_len("x", 8).is_ok());
    assert!(Tensors::new(l, vec![0.0; 8]).is_ok());
}

#[test]
fn expect_same_errors() {
    let params = net();
    assert!(params.expect_same(&net()).is_ok());

    type Case = (&'static str, Layout, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (
            "different name at a position",
            layout(&[
                ("W1", &[5, 4]),
                ("c1", &[5, 1]),
                ("W2", &[3, 5]),
                ("b2", &[3, 1]),
            ]),
            vec!["#1", "'c1'", "'b1'", "[5, 1]"],
        ),
        (
            "swapped order",
            layout(&[
                ("b1", &[5, 1]),
                ("W1", &[5, 4]),
                ("W2", &[3, 5]),
                ("b2", &[3, 1]),
            ]),
            vec!["#0", "'b1'", "'W1'", "[5, 1]", "[5, 4]"],
        ),
        (
            "different shape",
            layout(&[
                ("W1", &[5, 4]),
                ("b1", &[5]),
                ("W2", &[3, 5]),
                ("b2", &[3, 1]),
            ]),
            vec!["'b1'", "[5, 1]", "[5]"],
        ),
        (
            "transposed shape",
            layout(&[
                ("W1", &[5, 4]),
                ("b1", &[5, 1]),
                ("W2", &[5, 3]),
                ("b2", &[3, 1]),
            ]),
            vec!["'W2'", "[5, 3]", "[3, 5]"],
        ),
        (
            "missing tensor",
            layout(&[("W1", &[5, 4]), ("b1", &[5, 1]), ("W2", &[3, 5])]),
            vec!["no tensor for 'b2'", "[3, 1]", "3 tensors", "have 4"],
        ),
        (
            "extra tensor",
            layout(&[
                ("W1", &[5, 4]),
                ("b1", &[5, 1]),
                ("W2", &[3, 5]),
                ("b2", &[3, 1]),
                ("W3", &[1, 3]),
            ]),
            vec!["extra tensor 'W3'", "[1, 3]", "5 tensors", "have 4"],
        ),
    ];
    for (case, gradient, needles) in cases {
        assert_error(
            case,
            params.expect_same(&gradient),
            |e| matches!(e, Error::LayoutMismatch { .. }),
            &needles,
        );
    }

    // "different shape" names the gradient's shape and the parameter's, in that order.
    let message = params
        .expect_same(&layout(&[
            ("W1", &[5, 4]),
            ("b1", &[5]),
            ("W2", &[3, 5]),
            ("b2", &[3, 1]),
        ]))
        .unwrap_err()
        .to_string();
    let (gradient_at, param_at) = (
        message.find("[5]").unwrap(),
        message.find("[5, 1]").unwrap(),
    );
    assert!(gradient_at < param_at, "{message}");
    assert!(
        message.contains("gradient of 'b1' has shape [5]"),
        "{message}"
    );
}

#[test]
fn expect_finite_names_the_element_and_value() {
    let l = layout(&[("W1", &[2, 3]), ("b1", &[2, 1]), ("s", &[])]);
    let mut t = Tensors::zeros(l.clone());
    assert!(t.expect_finite("gradient").is_ok());

    type Case = (&'static str, usize, f64, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        ("NaN in W1", 3, f64::NAN, vec!["gradient W1[1, 0]", "NaN"]),
        (
            "inf in b1",
            7,
            f64::INFINITY,
            vec!["gradient b1[1, 0]", "inf"],
        ),
        (
            "-inf in W1",
            2,
            f64::NEG_INFINITY,
            vec!["gradient W1[0, 2]", "-inf"],
        ),
        ("NaN in a scalar", 8, f64::NAN, vec!["gradient s is NaN"]),
    ];
    for (case, flat, value, needles) in cases {
        t.values_mut().fill(1.0);
        t.values_mut()[flat] = value;
        assert_error(
            case,
            t.expect_finite("gradient"),
            |e| matches!(e, Error::NonFinite { .. }),
            &needles,
        );
    }

    // The first non-finite element is the one named.
    t.values_mut().fill(0.0);
    t.values_mut()[4] = f64::INFINITY;
    t.values_mut()[1] = f64::NAN;
    let err = t.expect_finite("parameters").unwrap_err();
    assert!(
        matches!(&err, Error::NonFinite { what, value, .. } if what == "parameters W1[0, 1]" && value.is_nan()),
        "{err:?}"
    );
}

#[test]
fn a_layout_whose_size_overflows_is_refused_not_wrapped() {
    // Each shape's product, and then the running total, must fit in a usize.
    let huge = usize::MAX / 2 + 1;
    for specs in [
        vec![TensorSpec::new("W", [huge, 2])],
        vec![TensorSpec::new("a", [huge]), TensorSpec::new("b", [huge])],
    ] {
        let error = Layout::new(specs).unwrap_err();
        assert!(matches!(error, Error::TooLarge { .. }), "{error:?}");
        assert!(
            error.to_string().contains("larger than a usize can count"),
            "{error}"
        );
    }
    let fits = Layout::new([
        TensorSpec::new("a", [huge - 1]),
        TensorSpec::new("b", [huge]),
    ]);
    assert_eq!(fits.unwrap().len(), usize::MAX);
}
