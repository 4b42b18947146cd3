//! Property-style tests across modules, on deterministic pseudo-random samples:
//! invariances of [`compare`] under shifting, scaling and swapping, and the
//! calibration of its verdict (false-positive rate, interval coverage).
//!
//! The shared seeded test generator keeps every run identical, so these are
//! ordinary unit tests, not flaky statistical ones: the assertions on rates are
//! wide enough to hold for any reasonable generator and were checked for this
//! one.

use crate::{compare, Comparison, Sense, Verdict};

/// Normal samples over the shared test generator ([`isotune_testutil::Rng`]).
#[derive(Debug)]
struct Samples(isotune_testutil::Rng);

impl Samples {
    fn new(seed: u64) -> Self {
        Self(isotune_testutil::Rng::new(seed))
    }

    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in the open interval (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal by Box–Muller.
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    fn sample(&mut self, n: usize, mean: f64, stddev: f64) -> Vec<f64> {
        (0..n).map(|_| mean + stddev * self.normal()).collect()
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

fn pair_close(a: (f64, f64), b: (f64, f64), tol: f64) -> bool {
    close(a.0, b.0, tol) && close(a.1, b.1, tol)
}

fn times(seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = Samples::new(seed);
    (rng.sample(12, 100.0, 6.0), rng.sample(9, 108.0, 9.0))
}

#[test]
fn same_distribution_is_no_significant_change() {
    let mut rng = Samples::new(42);
    let a = rng.sample(20, 100.0, 5.0);
    let b = rng.sample(20, 100.0, 5.0);
    let c = compare(&a, &b, Sense::LowerIsBetter).unwrap();
    assert_eq!(c.verdict, Verdict::NoSignificantChange, "{c:?}");
    let (lo, hi) = c.ratio_ci95.unwrap();
    assert!(lo < 1.0 && 1.0 < hi);
}

#[test]
fn doubled_distribution_is_detected_in_both_senses() {
    let mut rng = Samples::new(7);
    let a = rng.sample(10, 100.0, 5.0);
    let b: Vec<f64> = rng.sample(10, 100.0, 5.0).iter().map(|x| 2.0 * x).collect();
    assert_eq!(
        compare(&a, &b, Sense::LowerIsBetter).unwrap().verdict,
        Verdict::Slower
    );
    assert_eq!(
        compare(&a, &b, Sense::HigherIsBetter).unwrap().verdict,
        Verdict::Faster
    );
    assert_eq!(
        compare(&b, &a, Sense::LowerIsBetter).unwrap().verdict,
        Verdict::Faster
    );
    let c = compare(&a, &b, Sense::LowerIsBetter).unwrap();
    let (lo, hi) = c.ratio_ci95.unwrap();
    assert!(
        lo < 2.0 * 1.05 && hi > 2.0 * 0.95 && lo > 1.8 && hi < 2.2,
        "{lo} {hi}"
    );
}

#[test]
fn false_positive_rate_is_near_five_percent() {
    let mut rng = Samples::new(2024);
    let trials = 400;
    let mut significant = 0;
    for _ in 0..trials {
        let a = rng.sample(8, 50.0, 4.0);
        let b = rng.sample(13, 50.0, 8.0);
        let c = compare(&a, &b, Sense::LowerIsBetter).unwrap();
        if c.verdict != Verdict::NoSignificantChange {
            significant += 1;
            assert!(c.p_value.unwrap() < 0.05);
        } else {
            assert!(c.p_value.unwrap() >= 0.05 - 1e-12);
        }
    }
    // Binomial(400, 0.05): mean 20, sd 4.4.
    assert!((8..=34).contains(&significant), "{significant} of {trials}");
}

#[test]
fn ratio_interval_covers_the_true_ratio() {
    let mut rng = Samples::new(99);
    let trials = 400;
    let mut covered = 0;
    for _ in 0..trials {
        let a = rng.sample(6, 100.0, 10.0);
        let b = rng.sample(6, 150.0, 20.0);
        let (lo, hi) = compare(&a, &b, Sense::LowerIsBetter)
            .unwrap()
            .ratio_ci95
            .unwrap();
        if lo <= 1.5 && 1.5 <= hi {
            covered += 1;
        }
    }
    assert!((360..=396).contains(&covered), "{covered} of {trials}");
}

#[test]
fn swapping_a_and_b_inverts_the_ratio() {
    for seed in 0..50 {
        let (a, b) = times(seed);
        let ab = compare(&a, &b, Sense::LowerIsBetter).unwrap();
        let ba = compare(&b, &a, Sense::LowerIsBetter).unwrap();
        assert!(close(ab.ratio.unwrap() * ba.ratio.unwrap(), 1.0, 1e-12));
        let (lo, hi) = ab.ratio_ci95.unwrap();
        assert!(
            pair_close(ba.ratio_ci95.unwrap(), (1.0 / hi, 1.0 / lo), 1e-10),
            "seed {seed}"
        );
        let (dlo, dhi) = ab.diff_ci95.unwrap();
        assert!(pair_close(ba.diff_ci95.unwrap(), (-dhi, -dlo), 1e-10));
        assert!(close(ab.p_value.unwrap(), ba.p_value.unwrap(), 1e-10));
        assert!(close(ab.df.unwrap(), ba.df.unwrap(), 1e-12));
        let flipped = match ab.verdict {
            Verdict::Faster => Verdict::Slower,
            Verdict::Slower => Verdict::Faster,
            Verdict::NoSignificantChange => Verdict::NoSignificantChange,
        };
        assert_eq!(ba.verdict, flipped);
    }
}

fn assert_same_test(x: &Comparison, y: &Comparison) {
    assert!(close(x.p_value.unwrap(), y.p_value.unwrap(), 1e-9));
    assert!(close(x.df.unwrap(), y.df.unwrap(), 1e-9));
    assert!(close(x.t.unwrap(), y.t.unwrap(), 1e-9));
    assert_eq!(x.verdict, y.verdict);
}

#[test]
fn scaling_both_samples_keeps_ratio_and_test() {
    for seed in 0..30 {
        let (a, b) = times(seed);
        let base = compare(&a, &b, Sense::LowerIsBetter).unwrap();
        for k in [1e-9, 1e3, 1e12] {
            let ak: Vec<f64> = a.iter().map(|x| x * k).collect();
            let bk: Vec<f64> = b.iter().map(|x| x * k).collect();
            let scaled = compare(&ak, &bk, Sense::LowerIsBetter).unwrap();
            assert_same_test(&base, &scaled);
            assert!(close(scaled.ratio.unwrap(), base.ratio.unwrap(), 1e-12));
            assert!(pair_close(
                scaled.ratio_ci95.unwrap(),
                base.ratio_ci95.unwrap(),
                1e-9
            ));
            let (lo, hi) = base.diff_ci95.unwrap();
            assert!(pair_close(
                scaled.diff_ci95.unwrap(),
                (lo * k, hi * k),
                1e-9
            ));
        }
    }
}

#[test]
fn shifting_both_samples_keeps_difference_and_test() {
    for seed in 0..30 {
        let (a, b) = times(seed);
        let base = compare(&a, &b, Sense::HigherIsBetter).unwrap();
        let shift = 1000.0;
        let a2: Vec<f64> = a.iter().map(|x| x + shift).collect();
        let b2: Vec<f64> = b.iter().map(|x| x + shift).collect();
        let shifted = compare(&a2, &b2, Sense::HigherIsBetter).unwrap();
        assert_same_test(&base, &shifted);
        assert!(close(shifted.diff, base.diff, 1e-9));
        assert!(pair_close(
            shifted.diff_ci95.unwrap(),
            base.diff_ci95.unwrap(),
            1e-9
        ));
    }
}

#[test]
fn ratio_interval_and_welch_test_agree() {
    // The Fieller interval excludes 1 exactly when the Welch test rejects.
    for seed in 0..200 {
        let mut rng = Samples::new(seed);
        let a = rng.sample(5, 20.0, 2.0);
        let b = rng.sample(7, 21.5, 3.0);
        let c = compare(&a, &b, Sense::LowerIsBetter).unwrap();
        let (lo, hi) = c.ratio_ci95.unwrap();
        let excludes_one = lo > 1.0 || hi < 1.0;
        let (dlo, dhi) = c.diff_ci95.unwrap();
        assert_eq!(excludes_one, dlo > 0.0 || dhi < 0.0, "seed {seed}");
        assert_eq!(
            excludes_one,
            c.verdict != Verdict::NoSignificantChange,
            "seed {seed}"
        );
    }
}

#[test]
fn arbitrary_inputs_never_panic() {
    let specials = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        f64::MIN_POSITIVE,
        5e-324,
        1e-300,
        1e300,
        f64::MAX,
        -f64::MAX,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut rng = Samples::new(5);
    for _ in 0..2000 {
        let len_a = (rng.next_u64() % 5) as usize;
        let len_b = (rng.next_u64() % 5) as usize;
        let mut pick = |n: usize| -> Vec<f64> {
            (0..n)
                .map(|_| specials[(rng.next_u64() % specials.len() as u64) as usize])
                .collect()
        };
        let (a, b) = (pick(len_a), pick(len_b));
        for sense in [Sense::LowerIsBetter, Sense::HigherIsBetter] {
            if let Some(c) = compare(&a, &b, sense) {
                let json = serde_json::to_string(&c).unwrap();
                // No NaN or infinity may reach JSON (it would become null).
                assert!(
                    serde_json::from_str::<Comparison>(&json).is_ok(),
                    "{a:?} {b:?}"
                );
                let _ = crate::regression_beyond(10.0, &c, sense);
            }
        }
        if let Some(s) = crate::summary(&a) {
            let json = serde_json::to_string(&s).unwrap();
            assert!(
                serde_json::from_str::<crate::Summary>(&json).is_ok(),
                "{a:?}"
            );
            let _ = crate::spread_too_high(&s);
        }
        let _ = crate::outlier_indices(&a);
        let _ = crate::first_run_outlier(&a);
        let _ = crate::percentile(&a, 50.0);
    }
}
