//! Confidence interval for the ratio of two independent means, `μ_b / μ_a`,
//! by Fieller's theorem, with the delta method as the fallback when Fieller's
//! confidence set is unbounded.
//!
//! Fieller's set is every ρ that a t-test of `ȳ_b − ρ·ȳ_a = 0` does not reject:
//! `(ȳ_b − ρ·ȳ_a)² ≤ t²·(v_b + ρ²·v_a)`, with `v = s²/n` the squared standard
//! error of each mean. That is a quadratic inequality `A·ρ² + B·ρ + C ≤ 0` with
//! `A = ȳ_a² − t²·v_a`. When `A > 0` — the baseline mean is itself
//! significantly different from zero — the set is the bounded interval between
//! the two roots. It is exact for normal data (unlike the delta method, it is
//! not symmetric around the estimate: a time that may have halved or doubled
//! gets the skewed interval it deserves), and it is invariant under swapping
//! the samples: the interval for `μ_a / μ_b` is exactly `(1/hi, 1/lo)`.
//!
//! When `A ≤ 0` the set is the whole line or two half-lines; then we report the
//! first-order (delta method) interval `ρ̂ ± t · √(v_b + ρ̂²·v_a) / |ȳ_a|`, which
//! is finite but approximate. This happens only with very few or very noisy
//! baseline samples (e.g. 2 runs with a CV above ~11%).
//!
//! References: E. C. Fieller (1954), "Some problems in interval estimation",
//! JRSS B 16(2):175–185; V. H. Franz (2007), "Ratios: A short guide to
//! confidence limits and proper use", arXiv:0710.2024.

use serde::{Deserialize, Serialize};

/// How [`Comparison::ratio_ci95`](crate::Comparison::ratio_ci95) was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RatioCiMethod {
    /// Fieller's theorem: exact for normal data, possibly asymmetric.
    Fieller,
    /// Delta method (first-order Taylor expansion), used because Fieller's
    /// confidence set was unbounded; approximate and symmetric.
    DeltaMethod,
    /// Both samples have zero variance: the interval is the point estimate.
    Exact,
}

/// A sample mean and its standard error, as the ratio needs them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MeanEstimate {
    /// Sample mean.
    pub(crate) mean: f64,
    /// Standard error of the mean, `s / √n` (kept unsquared so that no
    /// intermediate overflows before the rescaling below).
    pub(crate) se: f64,
}

impl MeanEstimate {
    fn scaled(self, k: f64) -> Self {
        Self {
            mean: self.mean / k,
            se: self.se / k,
        }
    }

    fn var(self) -> f64 {
        self.se * self.se
    }
}

/// Confidence interval for `b.mean / a.mean` with critical value `t_crit`.
///
/// `None` when the baseline mean is zero (no ratio exists) or the arithmetic
/// leaves the f64 range. Returns the interval and the method used.
pub(crate) fn ratio_interval(
    a: MeanEstimate,
    b: MeanEstimate,
    t_crit: f64,
) -> Option<((f64, f64), RatioCiMethod)> {
    if a.mean == 0.0 || !t_crit.is_finite() {
        return None;
    }
    let ratio = b.mean / a.mean;
    // Rescale each sample so its mean (or its spread, if larger) is about 1:
    // the ratio's interval scales by kb/ka, and the squares below can then
    // neither overflow nor underflow for any finite input.
    let ka = a.mean.abs();
    let kb = b.mean.abs().max(b.se);
    if kb == 0.0 {
        // b is constant zero: the ratio is exactly 0 whatever a's spread.
        return Some(((0.0, 0.0), RatioCiMethod::Fieller));
    }
    let (a1, b1) = (a.scaled(ka), b.scaled(kb));
    let scale = kb / ka;

    let q = t_crit * t_crit;
    let (va, vb) = (a1.var(), b1.var());
    let leading = a1.mean * a1.mean - q * va;
    let interval = if leading > 0.0 {
        let discriminant = q * (a1.mean * a1.mean * vb + b1.mean * b1.mean * va - q * va * vb);
        let root = discriminant.max(0.0).sqrt();
        let centre = a1.mean * b1.mean;
        let lo = (centre - root) / leading * scale;
        let hi = (centre + root) / leading * scale;
        ((lo, hi), RatioCiMethod::Fieller)
    } else {
        let r1 = b1.mean / a1.mean;
        let se = (vb + r1 * r1 * va).sqrt() / a1.mean.abs() * scale;
        let half = t_crit * se;
        ((ratio - half, ratio + half), RatioCiMethod::DeltaMethod)
    };
    let ((lo, hi), _) = interval;
    (lo.is_finite() && hi.is_finite()).then_some(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(mean: f64, se: f64) -> MeanEstimate {
        MeanEstimate { mean, se }
    }

    /// Fieller's equality `(ȳb − ρȳa)² = t²(vb + ρ²va)` at ρ, as a residual
    /// relative to its terms.
    fn fieller_residual(a: MeanEstimate, b: MeanEstimate, t: f64, rho: f64) -> f64 {
        let lhs = (b.mean - rho * a.mean).powi(2);
        let rhs = t * t * (b.var() + rho * rho * a.var());
        (lhs - rhs) / (lhs + rhs)
    }

    #[test]
    fn endpoints_solve_fieller_equation() {
        let (a, b, t) = (est(10.0, 0.7), est(15.0, 1.1), 2.3);
        let ((lo, hi), method) = ratio_interval(a, b, t).unwrap();
        assert_eq!(method, RatioCiMethod::Fieller);
        assert!(lo < 1.5 && 1.5 < hi);
        assert!(fieller_residual(a, b, t, lo).abs() < 1e-12);
        assert!(fieller_residual(a, b, t, hi).abs() < 1e-12);
        // Skewed: further above the estimate than below it.
        assert!(hi - 1.5 > 1.5 - lo);
    }

    #[test]
    fn constant_baseline_reduces_to_scaled_t_interval() {
        let (a, b, t) = (est(4.0, 0.0), est(6.0, 0.5), 2.0);
        let ((lo, hi), _) = ratio_interval(a, b, t).unwrap();
        assert!((lo - (1.5 - 2.0 * 0.5 / 4.0)).abs() < 1e-12);
        assert!((hi - (1.5 + 2.0 * 0.5 / 4.0)).abs() < 1e-12);
    }

    #[test]
    fn swapping_inverts_the_interval() {
        let (a, b, t) = (est(120.0, 3.0), est(80.0, 2.0), 2.1);
        let ((lo, hi), _) = ratio_interval(a, b, t).unwrap();
        let ((lo2, hi2), _) = ratio_interval(b, a, t).unwrap();
        assert!((lo2 - 1.0 / hi).abs() < 1e-12);
        assert!((hi2 - 1.0 / lo).abs() < 1e-12);
    }

    #[test]
    fn unbounded_fieller_falls_back_to_delta() {
        // t²·va = 4·30 > ȳa² = 100: the baseline mean is not clearly nonzero.
        let (a, b, t) = (est(10.0, 30.0f64.sqrt()), est(12.0, 1.0), 2.0);
        let ((lo, hi), method) = ratio_interval(a, b, t).unwrap();
        assert_eq!(method, RatioCiMethod::DeltaMethod);
        let se = (1.0f64 + 1.44 * 30.0).sqrt() / 10.0;
        assert!((lo - (1.2 - 2.0 * se)).abs() < 1e-12);
        assert!((hi - (1.2 + 2.0 * se)).abs() < 1e-12);
    }

    #[test]
    fn extreme_magnitudes_do_not_overflow() {
        let (a, b, t) = (est(1e300, 1e299), est(2e300, 2e299), 2.0);
        let ((lo, hi), method) = ratio_interval(a, b, t).unwrap();
        assert_eq!(method, RatioCiMethod::Fieller);
        assert!(lo < 2.0 && 2.0 < hi && hi < 3.0);
        let (a, b) = (est(1e-300, 1e-302), est(3e-300, 1e-302));
        let ((lo, hi), _) = ratio_interval(a, b, t).unwrap();
        assert!(lo < 3.0 && 3.0 < hi && hi < 3.1);
    }

    #[test]
    fn degenerate_inputs() {
        assert!(ratio_interval(est(0.0, 1.0), est(1.0, 1.0), 2.0).is_none());
        assert!(ratio_interval(est(1.0, 1.0), est(1.0, 1.0), f64::NAN).is_none());
        let zero_b = ratio_interval(est(5.0, 1.0), est(0.0, 0.0), 2.0).unwrap();
        assert_eq!(zero_b.0, (0.0, 0.0));
    }
}
