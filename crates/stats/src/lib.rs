//! Pure statistics for isotune: what `isotune bench` (and later `isotune boot`)
//! needs to turn repeated runs into numbers a user can trust.
//!
//! - [`summary`](mod@summary): n, mean, standard deviation, min, max, median,
//!   MAD and coefficient of variation of one sample; [`percentile`] by linear
//!   interpolation (numpy's default).
//! - [`outliers`]: modified Z-scores from the MAD (Iglewicz & Hoaglin 1993).
//! - [`warnings`]: pure predicates behind bench warnings — a first run unlike
//!   the rest ([`first_run_outlier`]), a spread too wide ([`spread_too_high`]).
//! - [`compare`](mod@compare): Welch's t-test of a baseline against a
//!   candidate, with 95% intervals for the difference and (Fieller) for the
//!   ratio of means, and a verdict in the caller's [`Sense`].
//! - [`tdist`]: Student's t CDF, p-value and quantile, implemented here on the
//!   regularized incomplete beta function so the crate depends on serde only.
//!
//! Everything works on `&[f64]` and is dimensionless: callers name the unit in
//! their field names. No function panics on any input: empty slices, NaN or
//! infinite samples, a single sample and zero variance give `None`, an empty
//! result, or a documented degenerate value — never a NaN in a result struct,
//! so every result serialises to JSON and back unchanged.
//!
//! ```
//! use isotune_stats::{compare, regression_beyond, Sense, Verdict};
//!
//! let baseline_seconds = [2.31, 2.28, 2.35, 2.30, 2.29];
//! let candidate_seconds = [1.02, 0.99, 1.05, 1.01, 1.00];
//! let c = compare(&baseline_seconds, &candidate_seconds, Sense::LowerIsBetter).unwrap();
//! assert_eq!(c.verdict, Verdict::Faster);
//! let (lo, hi) = c.ratio_ci95.unwrap();
//! assert!(lo < 0.45 && hi > 0.43);
//! assert!(!regression_beyond(5.0, &c, Sense::LowerIsBetter));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compare;
pub mod outliers;
pub mod ratio;
pub mod summary;
pub mod tdist;
pub mod warnings;

#[cfg(test)]
mod property_tests;

pub use compare::{compare, regression_beyond, Comparison, Sense, Verdict, CONFIDENCE};
pub use outliers::{
    modified_z_scores, outlier_indices, outlier_indices_with_threshold, MODIFIED_Z_THRESHOLD,
};
pub use ratio::RatioCiMethod;
pub use summary::{mad, median, percentile, percentile_sorted, summary, Summary, MAD_TO_STDDEV};
pub use tdist::{regularized_incomplete_beta, t_cdf, t_quantile, t_two_sided_p};
pub use warnings::{
    first_run_outlier, spread_too_high, FIRST_RUN_MIN_OTHER_RUNS, FIRST_RUN_MIN_RELATIVE_DEVIATION,
    FIRST_RUN_RATIO, SPREAD_CV_LIMIT,
};
