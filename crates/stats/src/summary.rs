//! Descriptive statistics of one sample: [`summary`], [`percentile`] and the
//! robust helpers ([`median`], [`mad`]) the outlier and warning modules build on.
//!
//! Every function here rejects input it cannot summarise honestly instead of
//! guessing: an empty slice or a non-finite value (NaN, ±∞) gives `None`. A
//! summary that silently dropped a NaN would report the wrong `n`, and a NaN in
//! a benchmark's samples is a bug upstream that should surface, not be averaged.

use serde::{Deserialize, Serialize};

/// Descriptive statistics of one sample.
///
/// Dimensionless: the caller's field names carry the unit (a `Summary` of
/// `elapsed_seconds` is in seconds, except for [`Summary::cv`] which is a ratio).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples (at least 1).
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (Bessel-corrected, divides by `n - 1`).
    /// `0.0` when `n == 1`, where no spread can be estimated.
    pub stddev: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Median ([`percentile`] 50, so the mean of the two middle values when `n` is even).
    pub median: f64,
    /// Raw median absolute deviation from the median, `median(|x_i - median|)`,
    /// **not** scaled to a standard deviation. Multiply by [`MAD_TO_STDDEV`] to
    /// estimate σ for normally distributed data.
    pub mad: f64,
    /// Coefficient of variation, `stddev / |mean|` (a ratio: 0.05 is 5%).
    /// `Some(0.0)` when all samples are equal; `None` when the mean is zero but
    /// the samples vary, where the ratio is unbounded.
    pub cv: Option<f64>,
}

/// Factor that turns the raw MAD into a consistent estimator of the standard
/// deviation for normally distributed data: `1 / Φ⁻¹(3/4) ≈ 1.4826`
/// (Rousseeuw & Croux 1993, "Alternatives to the median absolute deviation",
/// JASA 88(424)).
pub const MAD_TO_STDDEV: f64 = 1.4826;

/// Summarise `samples`.
///
/// Returns `None` when `samples` is empty, contains a non-finite value, or when
/// finite but huge values overflow the mean or variance.
///
/// The mean uses the corrected two-pass algorithm (Chan, Golub & LeVeque 1983)
/// so that adding a large constant to every sample leaves `stddev` unchanged to
/// rounding. When every sample is identical the mean is that value exactly and
/// `stddev` is exactly `0.0`, so callers can test for zero variance with `==`.
pub fn summary(samples: &[f64]) -> Option<Summary> {
    if !all_finite(samples) {
        return None;
    }
    let sorted = sorted_copy(samples);
    let n = sorted.len();
    let min = *sorted.first()?;
    let max = *sorted.last()?;
    let median = percentile_sorted(&sorted, 50.0)?;
    let mad = mad_around(samples, median)?;

    let (mean, stddev) = if min == max {
        (min, 0.0)
    } else {
        mean_and_stddev(samples)
    };
    if !mean.is_finite() || !stddev.is_finite() {
        return None;
    }
    let cv = if stddev == 0.0 {
        Some(0.0)
    } else if mean == 0.0 {
        None
    } else {
        Some(stddev / mean.abs())
    };
    Some(Summary {
        n,
        mean,
        stddev,
        min,
        max,
        median,
        mad,
        cv,
    })
}

/// Mean and Bessel-corrected standard deviation of a non-empty, finite slice.
///
/// Every intermediate is scaled so that no finite input overflows or
/// underflows needlessly: `x / n` instead of `Σx / n`, and deviations divided
/// by the largest one before squaring.
fn mean_and_stddev(samples: &[f64]) -> (f64, f64) {
    let n = samples.len() as f64;
    let rough: f64 = samples.iter().map(|x| x / n).sum();
    // Second pass: the residual sum corrects the rounding error of the first.
    let mean = rough + samples.iter().map(|x| (x - rough) / n).sum::<f64>();
    if samples.len() < 2 {
        return (mean, 0.0);
    }
    let largest = samples.iter().fold(0.0_f64, |m, x| m.max((x - mean).abs()));
    if largest == 0.0 {
        return (mean, 0.0);
    }
    let ss: f64 = samples.iter().map(|x| ((x - mean) / largest).powi(2)).sum();
    (mean, largest * (ss / (n - 1.0)).sqrt())
}

/// The `p`-th percentile of `samples` (`p` in `[0, 100]`), by linear
/// interpolation between the closest ranks.
///
/// This is method 7 of Hyndman & Fan (1996, "Sample quantiles in statistical
/// packages", The American Statistician 50(4)) — the default of numpy's
/// `percentile`, R's `quantile` and Excel's `PERCENTILE.INC`: with the samples
/// sorted as `x[0..n]`, `h = (n - 1) · p / 100` and the result is
/// `x[⌊h⌋] + (h - ⌊h⌋) · (x[⌊h⌋ + 1] - x[⌊h⌋])`. So `p = 0` is the minimum,
/// `p = 100` the maximum and `p = 50` the median.
///
/// `samples` need not be sorted (a sorted copy is made; use
/// [`percentile_sorted`] to take many percentiles of one sample). Returns
/// `None` when `samples` is empty or holds a non-finite value, or when `p` is
/// NaN or outside `[0, 100]`.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    if !all_finite(samples) {
        return None;
    }
    percentile_sorted(&sorted_copy(samples), p)
}

/// [`percentile`] of a slice already sorted in ascending order.
///
/// The slice is trusted to be sorted: an unsorted slice gives an unspecified
/// (but never panicking) result. Returns `None` when `sorted` is empty, when the
/// values at the interpolated ranks are not finite, or when `p` is NaN or
/// outside `[0, 100]`.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * p / 100.0;
    let lo_rank = h.floor();
    // `h` lies in [0, n - 1], so both ranks are in bounds; `get` keeps that
    // reasoning from ever becoming a panic.
    let lo_index = lo_rank as usize;
    let lo = *sorted.get(lo_index)?;
    let frac = h - lo_rank;
    let value = if frac == 0.0 {
        lo
    } else {
        let hi = *sorted.get(lo_index + 1)?;
        lo + frac * (hi - lo)
    };
    value.is_finite().then_some(value)
}

/// Median of `samples` (see [`percentile`]); `None` on empty or non-finite input.
pub fn median(samples: &[f64]) -> Option<f64> {
    percentile(samples, 50.0)
}

/// Raw (unscaled) median absolute deviation from the median; `None` on empty or
/// non-finite input. See [`Summary::mad`].
pub fn mad(samples: &[f64]) -> Option<f64> {
    mad_around(samples, median(samples)?)
}

/// Median of `|x - center|`.
fn mad_around(samples: &[f64], center: f64) -> Option<f64> {
    let deviations: Vec<f64> = samples.iter().map(|x| (x - center).abs()).collect();
    percentile(&deviations, 50.0)
}

/// True when the slice is non-empty and every value is finite.
pub(crate) fn all_finite(samples: &[f64]) -> bool {
    !samples.is_empty() && samples.iter().all(|x| x.is_finite())
}

fn sorted_copy(samples: &[f64]) -> Vec<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    #[test]
    fn summary_of_known_sample() {
        let s = summary(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(s.n, 8);
        assert_eq!(s.mean, 5.0);
        // Sum of squared deviations is 32, so the sample variance is 32 / 7.
        assert!(close(s.stddev, (32.0f64 / 7.0).sqrt(), 1e-12));
        assert_eq!((s.min, s.max), (2.0, 9.0));
        assert_eq!(s.median, 4.5);
        // |x - 4.5| = 2.5 .5 .5 .5 .5 .5 2.5 4.5 -> median 0.5
        assert_eq!(s.mad, 0.5);
        assert!(close(s.cv.unwrap(), s.stddev / 5.0, 1e-12));
    }

    #[test]
    fn summary_degenerate_inputs() {
        assert_eq!(summary(&[]), None);
        assert_eq!(summary(&[1.0, f64::NAN]), None);
        assert_eq!(summary(&[1.0, f64::INFINITY]), None);
        assert_eq!(summary(&[-f64::MAX, f64::MAX]), None, "spread overflows");
        let huge = summary(&[f64::MAX, f64::MAX / 2.0, 0.0]).unwrap();
        assert!(huge.mean.is_finite() && huge.stddev.is_finite());
        let tiny = summary(&[1e-300, 3e-300]).unwrap();
        assert!((tiny.stddev - 2f64.sqrt() * 1e-300).abs() < 1e-310);

        let one = summary(&[3.5]).unwrap();
        assert_eq!(
            (one.n, one.mean, one.stddev, one.median, one.mad),
            (1, 3.5, 0.0, 3.5, 0.0)
        );
        assert_eq!(one.cv, Some(0.0));
    }

    #[test]
    fn constant_samples_have_exactly_zero_spread() {
        let s = summary(&[0.1; 7]).unwrap();
        assert_eq!(s.mean, 0.1);
        assert_eq!(s.stddev, 0.0);
        assert_eq!(s.cv, Some(0.0));
        let zeros = summary(&[0.0; 3]).unwrap();
        assert_eq!(zeros.cv, Some(0.0));
    }

    #[test]
    fn cv_is_none_for_zero_mean_with_spread() {
        let s = summary(&[-1.0, 1.0]).unwrap();
        assert_eq!(s.mean, 0.0);
        assert_eq!(s.cv, None);
    }

    #[test]
    fn shift_and_scale_invariance() {
        let base = [10.0, 12.5, 9.75, 11.0, 10.25, 13.0];
        let s = summary(&base).unwrap();
        let shifted: Vec<f64> = base.iter().map(|x| x + 1e6).collect();
        let t = summary(&shifted).unwrap();
        assert!(close(t.mean, s.mean + 1e6, 1e-15));
        assert!(close(t.stddev, s.stddev, 1e-8));
        assert!(close(t.mad, s.mad, 1e-8));
        let scaled: Vec<f64> = base.iter().map(|x| x * 3.0).collect();
        let u = summary(&scaled).unwrap();
        assert!(close(u.stddev, 3.0 * s.stddev, 1e-12));
        assert!(close(u.median, 3.0 * s.median, 1e-12));
        assert!(close(u.cv.unwrap(), s.cv.unwrap(), 1e-12));
    }

    #[test]
    fn percentile_matches_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4], q) with the default method.
        let x = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&x, 0.0), Some(1.0));
        assert_eq!(percentile(&x, 25.0), Some(1.75));
        assert_eq!(percentile(&x, 50.0), Some(2.5));
        assert!(close(percentile(&x, 90.0).unwrap(), 3.7, 1e-12));
        assert_eq!(percentile(&x, 100.0), Some(4.0));
        // numpy.percentile([15, 20, 35, 40, 50], 40) == 29.0
        assert!(close(
            percentile(&[15.0, 20.0, 35.0, 40.0, 50.0], 40.0).unwrap(),
            29.0,
            1e-12
        ));
    }

    #[test]
    fn percentile_degenerate_inputs() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1.0], -0.1), None);
        assert_eq!(percentile(&[1.0], 100.1), None);
        assert_eq!(percentile(&[1.0], f64::NAN), None);
        assert_eq!(percentile(&[1.0, f64::NAN], 50.0), None);
        assert_eq!(percentile(&[7.0], 33.0), Some(7.0));
        assert_eq!(
            percentile_sorted(&[3.0, 1.0, 2.0], 50.0),
            Some(1.0),
            "trusted, not checked"
        );
    }

    #[test]
    fn median_and_mad_helpers() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(mad(&[1.0, 1.0, 2.0, 2.0, 4.0, 6.0, 9.0]), Some(1.0));
        assert_eq!(mad(&[]), None);
    }

    #[test]
    fn summary_serde_round_trip() {
        let s = summary(&[1.0, 2.0, 4.0]).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"stddev\""));
        assert_eq!(serde_json::from_str::<Summary>(&json).unwrap(), s);
        let zero_mean = summary(&[-1.0, 1.0]).unwrap();
        let json = serde_json::to_string(&zero_mean).unwrap();
        assert!(json.contains("\"cv\":null"));
        assert_eq!(serde_json::from_str::<Summary>(&json).unwrap(), zero_mean);
    }
}
