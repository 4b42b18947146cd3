//! Outlier detection with the modified Z-score of Iglewicz & Hoaglin.
//!
//! The modified Z-score of a sample is `M_i = 0.6745 · (x_i − median) / MAD`,
//! where MAD is the raw median absolute deviation. Median and MAD are robust:
//! unlike the mean and standard deviation they are not dragged towards the
//! outliers they are meant to find, so one cold-cache run among ten cannot
//! hide itself by inflating the scale.
//!
//! References:
//! - Boris Iglewicz and David Hoaglin (1993), "Volume 16: How to Detect and
//!   Handle Outliers", The ASQC Basic References in Quality Control:
//!   Statistical Techniques, Edward F. Mykytka, Ph.D., Editor.
//! - hyperfine `src/outlier_detection.rs`, which uses the same score (with a
//!   looser threshold, because it only warns).

use crate::summary::{all_finite, median};

/// A sample whose modified Z-score exceeds this in absolute value is an
/// outlier. Iglewicz & Hoaglin (1993) recommend 3.5: for normal data a
/// modified Z-score is approximately standard normal, so |M| > 3.5 flags about
/// 5 in 10,000 genuine samples while still catching a cold-cache run that is a
/// few MADs away from the warm ones.
pub const MODIFIED_Z_THRESHOLD: f64 = 3.5;

/// `Φ⁻¹(3/4)`: makes `(x − median) / MAD` comparable to a standard normal
/// score, because for normal data `E[MAD] = 0.6745 σ` (Iglewicz & Hoaglin 1993).
const MAD_Z_FACTOR: f64 = 0.6745;

/// `√(π/2)`: for normal data the mean absolute deviation is `σ · √(2/π)`, so
/// `1.253314 · MeanAD` estimates σ. Used when the MAD is zero, following IBM's
/// documentation of the modified Z-score ("Anomaly detection: modified
/// z-score", IBM Cognos Analytics / SPSS Modeler), which divides by
/// `1.253314 · MeanAD` whenever `MAD = 0`.
const MEAN_AD_TO_STDDEV: f64 = 1.253314;

/// The robust centre and scale that modified Z-scores are measured against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RobustScale {
    median: f64,
    /// Divides `x − median`; zero when every reference sample is identical.
    divisor: f64,
}

impl RobustScale {
    /// Centre and scale of `reference`; `None` on empty or non-finite input.
    ///
    /// MAD = 0 happens whenever more than half the samples are equal (a timer
    /// with coarse resolution, a cached read that always takes the same time).
    /// The MAD-based score would then be infinite for every other sample, so we
    /// fall back to the mean absolute deviation, which is zero only when all
    /// samples are equal.
    pub(crate) fn of(reference: &[f64]) -> Option<Self> {
        if !all_finite(reference) {
            return None;
        }
        let median = median(reference)?;
        let deviations: Vec<f64> = reference.iter().map(|x| (x - median).abs()).collect();
        let mad = crate::summary::median(&deviations)?;
        let divisor = if mad > 0.0 {
            mad / MAD_Z_FACTOR
        } else {
            let mean_ad = deviations.iter().sum::<f64>() / deviations.len() as f64;
            MEAN_AD_TO_STDDEV * mean_ad
        };
        Some(Self { median, divisor })
    }

    /// Signed modified Z-score of `x`. When the reference has no spread at all,
    /// `x` equal to the median scores `0.0` and anything else `±∞`.
    pub(crate) fn score(&self, x: f64) -> f64 {
        let deviation = x - self.median;
        if deviation == 0.0 {
            0.0
        } else if self.divisor > 0.0 {
            deviation / self.divisor
        } else {
            f64::INFINITY.copysign(deviation)
        }
    }

    /// The reference median.
    pub(crate) fn median(&self) -> f64 {
        self.median
    }
}

/// Signed modified Z-scores of every sample against the sample's own median
/// and MAD (mean absolute deviation when the MAD is zero, see the module docs).
///
/// Returns `None` on empty or non-finite input. All scores are `0.0` when every
/// sample is equal; scores are always finite.
pub fn modified_z_scores(samples: &[f64]) -> Option<Vec<f64>> {
    let scale = RobustScale::of(samples)?;
    Some(samples.iter().map(|&x| scale.score(x)).collect())
}

/// Indices (ascending) of the samples whose modified Z-score exceeds
/// [`MODIFIED_Z_THRESHOLD`] in absolute value.
///
/// Empty on empty or non-finite input. With one or two samples nothing can be
/// an outlier: two samples are symmetric about their median and score ±0.6745.
pub fn outlier_indices(samples: &[f64]) -> Vec<usize> {
    outlier_indices_with_threshold(samples, MODIFIED_Z_THRESHOLD)
}

/// [`outlier_indices`] with a caller-chosen threshold (a NaN threshold flags
/// nothing).
pub fn outlier_indices_with_threshold(samples: &[f64], threshold: f64) -> Vec<usize> {
    let Some(scores) = modified_z_scores(samples) else {
        return Vec::new();
    };
    scores
        .iter()
        .enumerate()
        .filter(|(_, z)| z.abs() > threshold)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_the_far_sample() {
        let x = [10.0, 10.2, 9.9, 10.1, 10.0, 9.8, 30.0];
        assert_eq!(outlier_indices(&x), vec![6]);
        let z = modified_z_scores(&x).unwrap();
        // median 10.0, |dev| = 0 .2 .1 .1 0 .2 20 -> MAD 0.1.
        assert!((z[6] - 0.6745 * 20.0 / 0.1).abs() < 1e-9);
        assert!(z[5] < 0.0 && z[6] > 0.0);
    }

    #[test]
    fn flags_low_outliers_too() {
        let x = [100.0, 101.0, 99.0, 100.5, 99.5, 1.0];
        assert_eq!(outlier_indices(&x), vec![5]);
    }

    #[test]
    fn no_outliers_in_well_behaved_data() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        assert!(outlier_indices(&x).is_empty());
    }

    #[test]
    fn mad_zero_falls_back_to_mean_absolute_deviation() {
        // Median 1, MAD 0; MeanAD = 4 / 6, so the last sample scores
        // 4 / (1.253314 · 4/6) = 4.787 > 3.5.
        let x = [1.0, 1.0, 1.0, 1.0, 1.0, 5.0];
        let z = modified_z_scores(&x).unwrap();
        assert!(z.iter().all(|z| z.is_finite()));
        assert!((z[5] - 6.0 / 1.253314).abs() < 1e-9);
        assert_eq!(outlier_indices(&x), vec![5]);
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(modified_z_scores(&[]), None);
        assert_eq!(modified_z_scores(&[1.0, f64::NAN]), None);
        assert!(outlier_indices(&[f64::NAN, 1.0, 2.0]).is_empty());
        assert!(outlier_indices(&[]).is_empty());
        assert_eq!(modified_z_scores(&[4.0]), Some(vec![0.0]));
        assert_eq!(modified_z_scores(&[4.0; 5]), Some(vec![0.0; 5]));
        assert!(outlier_indices(&[1.0, 1e9]).is_empty());
        assert!(outlier_indices_with_threshold(&[1.0, 1.0, 1.0, 9.0], f64::NAN).is_empty());
    }

    #[test]
    fn scores_are_shift_and_scale_invariant() {
        let x = [3.0, 4.0, 4.5, 5.0, 12.0];
        let z = modified_z_scores(&x).unwrap();
        let y: Vec<f64> = x.iter().map(|v| 7.0 * v - 100.0).collect();
        let w = modified_z_scores(&y).unwrap();
        for (a, b) in z.iter().zip(&w) {
            assert!((a - b).abs() < 1e-9);
        }
    }

    #[test]
    fn robust_scale_against_constant_reference() {
        let scale = RobustScale::of(&[2.0, 2.0, 2.0]).unwrap();
        assert_eq!(scale.median(), 2.0);
        assert_eq!(scale.score(2.0), 0.0);
        assert_eq!(scale.score(2.5), f64::INFINITY);
        assert_eq!(scale.score(1.5), f64::NEG_INFINITY);
    }
}
