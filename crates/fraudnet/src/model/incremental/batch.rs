//! Several moves at once: the two points of a central difference (`θₖ ± h`) and two
//! parameters' pairs, sharing the cached rows they read, the fused kernel's tiles and the
//! summation pass. Each result is the single cost's, bit for bit. Part of [`Incremental`].

use super::{Incremental, SCRATCH, Scratch, Target};

impl Incremental<'_> {
    /// [`Incremental::cost`] at two values of parameter `k` (the two points of a central
    /// difference), each result the same bits as `cost` gives, in less time: the two moves
    /// share the cached rows they read, the fused kernel's tiles and the summation pass.
    ///
    /// ```
    /// use fraudnet::model::Incremental;
    /// use fraudnet::MlpProblem;
    /// let (problem, theta) = MlpProblem::random(&[6, 9, 4, 1], 20, 3)?;
    /// let (mlp, x, y) = (problem.mlp(), problem.x().view(), problem.y().view());
    /// let cache = Incremental::new(mlp, theta.values(), x, y, None)?;
    /// let k = 17; // W1[2, 5]
    /// let values = [theta.values()[k] + 1e-3, theta.values()[k] - 1e-3];
    /// let [plus, minus] = cache.cost_pair(k, values);
    /// assert_eq!(plus, cache.cost(k, values[0]));
    /// assert_eq!(minus, cache.cost(k, values[1]));
    /// # Ok::<(), fraudnet::Error>(())
    /// ```
    ///
    /// # Panics
    /// If `k` is not a parameter index.
    pub fn cost_pair(&self, k: usize, values: [f64; 2]) -> [(f64, u64); 2] {
        SCRATCH.with_borrow_mut(|[scratch, _]| {
            #[cfg(target_arch = "x86_64")]
            {
                let target = self.target(k);
                if self.last_hidden_applies(target.layer) {
                    let [first, second] = scratch;
                    // SAFETY: the CPU has AVX-512F and the target is in the last hidden layer
                    // (`last_hidden_applies`).
                    let moves = values.map(|value| (&target, value));
                    return unsafe { self.last_hidden_costs(moves, [first, second]) };
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F, the only feature `pair_avx512` is compiled
                    // for.
                    return unsafe { self.pair_avx512(k, values, scratch) };
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, the only feature `pair_avx2` is compiled for.
                    return unsafe { self.pair_avx2(k, values, scratch) };
                }
            }
            self.pair_body(k, values, scratch)
        })
    }

    /// [`Incremental::cost_pair`] for two parameters, `first` and `second`, each with its two
    /// values: where both are weights or biases of one unit of the last two hidden layers (ReLU,
    /// no dropout) and the CPU has AVX-512F, the four moves share their cached rows (and, above
    /// the last hidden layer, the fused kernel's tiles); otherwise two pairs. Each result is
    /// the same bits as `cost` gives.
    ///
    /// ```
    /// use fraudnet::model::Incremental;
    /// use fraudnet::MlpProblem;
    /// let (problem, theta) = MlpProblem::random(&[6, 9, 4, 1], 20, 3)?;
    /// let (mlp, x, y) = (problem.mlp(), problem.x().view(), problem.y().view());
    /// let cache = Incremental::new(mlp, theta.values(), x, y, None)?;
    /// let (a, b) = (12, 13); // W1[2, 0] and W1[2, 1]: one unit
    /// let t = theta.values();
    /// let values = [[t[a] + 1e-3, t[a] - 1e-3], [t[b] + 1e-3, t[b] - 1e-3]];
    /// let [first, second] = cache.cost_two_pairs((a, values[0]), (b, values[1]));
    /// assert_eq!(first, cache.cost_pair(a, values[0]));
    /// assert_eq!(second, cache.cost_pair(b, values[1]));
    /// # Ok::<(), fraudnet::Error>(())
    /// ```
    ///
    /// # Panics
    /// If a parameter index is out of range.
    pub fn cost_two_pairs(
        &self,
        first: (usize, [f64; 2]),
        second: (usize, [f64; 2]),
    ) -> [[(f64, u64); 2]; 2] {
        #[cfg(target_arch = "x86_64")]
        {
            let (a, b) = (self.target(first.0), self.target(second.0));
            let one_unit = (a.layer, a.unit) == (b.layer, b.unit);
            if one_unit && std::is_x86_feature_detected!("avx512f") {
                let moves = [
                    (&a, first.1[0]),
                    (&a, first.1[1]),
                    (&b, second.1[0]),
                    (&b, second.1[1]),
                ];
                let four = SCRATCH.with_borrow_mut(|[[s0, s1], [s2, s3]]| {
                    if self.last_hidden_applies(a.layer) {
                        // SAFETY: the CPU has AVX-512F and the targets are of one unit of the
                        // last hidden layer (`last_hidden_applies`).
                        Some(unsafe { self.last_hidden_costs(moves, [s0, s1, s2, s3]) })
                    } else if self.fused_below(a.layer, a.unit).is_some() {
                        // SAFETY: the CPU has AVX-512F, and the fused kernel carries the
                        // targets' unit.
                        Some(unsafe { self.fused_costs_avx512(moves, [s0, s1, s2, s3]) })
                    } else {
                        None
                    }
                });
                if let Some([p, q, r, t]) = four {
                    return [[p, q], [r, t]];
                }
            }
        }
        [
            self.cost_pair(first.0, first.1),
            self.cost_pair(second.0, second.1),
        ]
    }

    /// [`Incremental::cost`] at each of `moves`, targets of one unit whose layer the fused
    /// kernel carries (one work buffer per move), with 512-bit vectors: the fused kernel runs
    /// once for all the moves where they changed the same examples (else once for each).
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    ///
    /// # Panics
    /// If the targets are not of one unit, or the fused kernel does not carry their layer.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn fused_costs_avx512<const N: usize>(
        &self,
        moves: [(&Target, f64); N],
        mut s: [&mut Scratch; N],
    ) -> [(f64, u64); N] {
        let (layer, unit) = (moves[0].0.layer, moves[0].0.unit);
        assert!(
            moves
                .iter()
                .all(|(t, _)| (t.layer, t.unit) == (layer, unit)),
            "one unit"
        );
        let fused = self
            .fused_below(layer, unit)
            .expect("the fused kernel's layer");
        let mut counts = [0; N];
        for ((s, count), &(target, value)) in s.iter_mut().zip(&mut counts).zip(&moves) {
            self.move_row(target, value, s);
            *count = self.activation_changes(layer, unit, s);
        }
        let first = &s[0].changed[..counts[0]];
        let same = s.iter().zip(&counts).all(|(moved, &count)| {
            count == counts[0]
                && moved.changed[..count]
                    .iter()
                    .zip(first)
                    .all(|(a, b)| a.0 == b.0)
        });
        if same {
            let (changed, flips): (Vec<_>, Vec<_>) = s
                .iter_mut()
                .map(|s| {
                    let Scratch { changed, flips, .. } = &mut **s;
                    (&mut changed[..counts[0]], flips)
                })
                .unzip();
            let (Ok(changed), Ok(flips)) = (changed.try_into(), flips.try_into()) else {
                unreachable!("one of each per move");
            };
            // SAFETY: the CPU has AVX-512F (this function's own feature).
            unsafe { fused.wide_logits::<N>(changed, flips) };
        } else {
            for (s, &count) in s.iter_mut().zip(&counts) {
                let Scratch { changed, flips, .. } = &mut **s;
                fused.logits(&mut changed[..count], flips);
            }
        }
        for (s, &count) in s.iter_mut().zip(&counts) {
            self.substitute_terms(count, s);
        }
        // The moves' sums, each in example order, side by side (independent chains).
        let mut sums = [0.0f64; N];
        for c in 0..self.terms.len() {
            for (sum, s) in sums.iter_mut().zip(&s) {
                *sum += s.terms[c];
            }
        }
        for (s, &count) in s.iter_mut().zip(&counts) {
            self.restore_terms(count, s);
        }
        std::array::from_fn(|i| self.finish(moves[i].0, moves[i].1, sums[i], &*s[i]))
    }

    /// [`Incremental::cost_pair`] compiled for 256-bit vectors (the same bits).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn pair_avx2(
        &self,
        k: usize,
        values: [f64; 2],
        scratch: &mut [Scratch; 2],
    ) -> [(f64, u64); 2] {
        self.pair_body(k, values, scratch)
    }

    /// [`Incremental::cost_pair`] compiled for 512-bit vectors (the same bits).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn pair_avx512(
        &self,
        k: usize,
        values: [f64; 2],
        scratch: &mut [Scratch; 2],
    ) -> [(f64, u64); 2] {
        self.pair_body(k, values, scratch)
    }

    /// The body of [`Incremental::cost_pair`]: both moves step by step, the fused kernel run
    /// once for both where their changed examples are the same, and the two sums carried in
    /// one pass (two independent chains of adds instead of one after the other).
    #[inline(always)]
    pub(super) fn pair_body(
        &self,
        k: usize,
        values: [f64; 2],
        s: &mut [Scratch; 2],
    ) -> [(f64, u64); 2] {
        let target = self.target(k);
        let [first, second] = s;
        self.move_row(&target, values[0], first);
        self.move_row(&target, values[1], second);
        let counts = match self.fused_below(target.layer, target.unit) {
            Some(fused) => {
                let counts = [
                    self.activation_changes(target.layer, target.unit, first),
                    self.activation_changes(target.layer, target.unit, second),
                ];
                let [a, b] = [
                    &mut first.changed[..counts[0]],
                    &mut second.changed[..counts[1]],
                ];
                if counts[0] == counts[1] && a.iter().zip(&*b).all(|(a, b)| a.0 == b.0) {
                    fused.logits_pair([a, b], [&mut first.flips, &mut second.flips]);
                } else {
                    fused.logits(a, &mut first.flips);
                    fused.logits(b, &mut second.flips);
                }
                counts
            }
            _ => [self.logits(&target, first), self.logits(&target, second)],
        };
        self.substitute_terms(counts[0], first);
        self.substitute_terms(counts[1], second);
        let sums = first
            .terms
            .iter()
            .zip(&second.terms)
            .fold([0.0, 0.0], |[a, b], (&x, &y)| [a + x, b + y]);
        self.restore_terms(counts[0], first);
        self.restore_terms(counts[1], second);
        [
            self.finish(&target, values[0], sums[0], first),
            self.finish(&target, values[1], sums[1], second),
        ]
    }
}
