//! Pure predicates behind the warnings `isotune bench` and `isotune boot` print
//! next to their numbers: a first run unlike the others, and a spread too wide
//! to trust. Each threshold sits next to its reasoning; the wording of the
//! warning belongs to the renderer, these only decide whether it applies.

use crate::outliers::{RobustScale, MODIFIED_Z_THRESHOLD};
use crate::summary::Summary;

/// A first run at least this many times slower *or* faster than the median of
/// the other runs is flagged whatever their spread.
///
/// Why a first run differs: it meets a different cache state than the runs
/// after it — a cold page cache (reads go to the device instead of RAM, a
/// 10×–1000× effect for an ISO on local storage), an idle drive's own cache,
/// readahead windows not yet grown, a CPU still ramping its clock, or pages
/// allocated for the first time. A factor of two is far outside run-to-run
/// noise of a usable benchmark (see [`SPREAD_CV_LIMIT`]) and well inside the
/// size of those effects, so it is flagged even when there are too few other
/// runs for a robust spread estimate. Only applied to positive values.
pub const FIRST_RUN_RATIO: f64 = 2.0;

/// The modified Z-score rule needs at least this many *other* runs: the
/// median absolute deviation of one or two values says nothing about spread
/// (two values always sit symmetrically about their median).
pub const FIRST_RUN_MIN_OTHER_RUNS: usize = 3;

/// The modified Z-score rule also needs the first run to be at least this far
/// (relative to the median of the others) from the rest. When runs are very
/// tight (reads served from the page cache vary by well under 1%), the
/// Z-score alone would flag a first run 2% off; that changes no conclusion:
/// ten runs at the [`SPREAD_CV_LIMIT`] give a 95% confidence interval of the
/// mean of about ±7%, so differences below 5% are not what this warning is for.
pub const FIRST_RUN_MIN_RELATIVE_DEVIATION: f64 = 0.05;

/// Largest coefficient of variation (`stddev / |mean|`) that is not flagged as
/// too noisy: 10%.
///
/// With CV = 10% and ten runs, the half-width of the 95% confidence interval
/// of the mean is `t(0.975, 9) · 0.10 / √10 ≈ 7.2%`, so a comparison can no
/// longer resolve changes of about 10% — the size of effect most storage
/// tuning produces (a cdrom bus change or `cache.direct` is usually larger, a
/// scheduler or readahead change often smaller). Beyond that the user should
/// remove the noise (other load, a cold cache in some runs, CPU frequency
/// scaling) or add runs rather than read the numbers.
pub const SPREAD_CV_LIMIT: f64 = 0.10;

/// True when the first sample is far slower or faster than the rest, which
/// usually means it ran with a different cache state (see [`FIRST_RUN_RATIO`]).
///
/// The first sample is judged against the others only, so it cannot shift the
/// reference it is compared with. It is flagged when either
/// - both it and the median of the others are positive and one is at least
///   [`FIRST_RUN_RATIO`] times the other, or
/// - there are at least [`FIRST_RUN_MIN_OTHER_RUNS`] other samples, its
///   modified Z-score against them (see [`crate::outliers`]) exceeds
///   [`MODIFIED_Z_THRESHOLD`] in absolute value, and it differs from their
///   median by more than [`FIRST_RUN_MIN_RELATIVE_DEVIATION`].
///
/// False for fewer than two samples or any non-finite sample. The direction is
/// not reported because the crate does not know whether higher is slower;
/// compare `samples[0]` with the median of the rest to word the warning.
pub fn first_run_outlier(samples: &[f64]) -> bool {
    let Some((&first, rest)) = samples.split_first() else {
        return false;
    };
    if !first.is_finite() {
        return false;
    }
    let Some(scale) = RobustScale::of(rest) else {
        return false;
    };
    let reference = scale.median();

    if first > 0.0 && reference > 0.0 {
        let ratio = first / reference;
        if ratio >= FIRST_RUN_RATIO || ratio <= 1.0 / FIRST_RUN_RATIO {
            return true;
        }
    }

    if rest.len() < FIRST_RUN_MIN_OTHER_RUNS {
        return false;
    }
    let deviation = (first - reference).abs();
    let relative = if reference == 0.0 {
        if deviation == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    } else {
        deviation / reference.abs()
    };
    scale.score(first).abs() > MODIFIED_Z_THRESHOLD && relative > FIRST_RUN_MIN_RELATIVE_DEVIATION
}

/// True when the coefficient of variation exceeds [`SPREAD_CV_LIMIT`], or is
/// unbounded (samples that vary around a mean of zero).
///
/// A single sample has no measurable spread and is never flagged; whether one
/// run is enough is a separate question (see
/// [`Comparison::insufficient_samples`](crate::Comparison::insufficient_samples)).
pub fn spread_too_high(summary: &Summary) -> bool {
    match summary.cv {
        Some(cv) => cv > SPREAD_CV_LIMIT,
        None => summary.stddev > 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::summary;

    #[test]
    fn cold_first_run_is_flagged() {
        assert!(first_run_outlier(&[5.0, 1.0, 1.02, 0.98, 1.01, 0.99]));
        // Faster first run (e.g. served from a cache that later runs evicted).
        assert!(first_run_outlier(&[0.3, 1.0, 1.02, 0.98, 1.01, 0.99]));
    }

    #[test]
    fn ratio_rule_works_with_few_runs() {
        assert!(first_run_outlier(&[10.0, 1.0]));
        assert!(first_run_outlier(&[0.4, 1.0, 1.1]));
        assert!(!first_run_outlier(&[1.5, 1.0]));
    }

    #[test]
    fn z_rule_needs_a_material_deviation() {
        // Very tight runs: the first run scores far above 3.5 but is only 2% off.
        let tight = [1.02, 1.0, 1.0001, 0.9999, 1.0002, 0.9998];
        assert!(!first_run_outlier(&tight));
        // 20% off with tight runs: flagged by the z rule, not the ratio rule.
        let off = [1.2, 1.0, 1.01, 0.99, 1.005, 0.995];
        assert!(first_run_outlier(&off));
        // 20% off but the other runs spread as widely: not an outlier.
        let noisy = [1.2, 1.0, 1.3, 0.8, 1.1, 0.9];
        assert!(!first_run_outlier(&noisy));
    }

    #[test]
    fn typical_first_run_is_not_flagged() {
        assert!(!first_run_outlier(&[1.01, 1.0, 1.02, 0.98, 1.01, 0.99]));
        assert!(!first_run_outlier(&[3.0; 6]));
    }

    #[test]
    fn constant_rest_with_different_first() {
        // MAD and MeanAD of the rest are both zero: the score is infinite, so
        // the relative-deviation floor decides.
        assert!(first_run_outlier(&[1.1, 1.0, 1.0, 1.0]));
        assert!(!first_run_outlier(&[1.01, 1.0, 1.0, 1.0]));
    }

    #[test]
    fn first_run_degenerate_inputs() {
        assert!(!first_run_outlier(&[]));
        assert!(!first_run_outlier(&[1.0]));
        assert!(!first_run_outlier(&[f64::NAN, 1.0, 1.0, 1.0]));
        assert!(!first_run_outlier(&[9.0, 1.0, f64::NAN, 1.0]));
        assert!(!first_run_outlier(&[0.0, 0.0, 0.0, 0.0]));
        assert!(first_run_outlier(&[1.0, 0.0, 0.0, 0.0]));
        // Signed data: no ratio rule, the z rule still applies.
        assert!(first_run_outlier(&[-5.0, 1.0, 1.01, 0.99, 1.0]));
    }

    #[test]
    fn spread_limit() {
        let calm = summary(&[100.0, 101.0, 99.0, 100.5, 99.5]).unwrap();
        assert!(!spread_too_high(&calm));
        let noisy = summary(&[100.0, 130.0, 70.0, 110.0, 90.0]).unwrap();
        assert!(spread_too_high(&noisy));
        assert!(!spread_too_high(&summary(&[42.0]).unwrap()));
        assert!(!spread_too_high(&summary(&[0.0, 0.0]).unwrap()));
        assert!(spread_too_high(&summary(&[-1.0, 1.0]).unwrap()));
    }
}
