//! A/B comparison of two independent samples: a baseline `a` and a candidate
//! `b` (e.g. `isotune bench --baseline old.json`, or two rows of a boot matrix).
//!
//! The difference of means is tested with Welch's t-test, which does not assume
//! equal variances (B. L. Welch 1947, "The generalization of 'Student's'
//! problem when several different population variances are involved",
//! Biometrika 34). Its degrees of freedom come from the Welch–Satterthwaite
//! equation `ν = (v_a + v_b)² / (v_a²/(n_a−1) + v_b²/(n_b−1))` with `v = s²/n`.
//!
//! The ratio `b/a` gets a Fieller interval (see [`crate::ratio`]) with the
//! *same* critical value `t(0.975, ν)`. That choice is deliberate: Fieller's
//! confidence set excludes 1 exactly when `(ȳ_b − ȳ_a)² > t²(v_a + v_b)`, i.e.
//! exactly when Welch's test rejects at 5%. So the verdict, the p-value, the
//! difference interval and the ratio interval never contradict each other
//! (except for the approximate delta-method interval, see
//! [`Comparison::verdict`]).

use serde::{Deserialize, Serialize};

use crate::ratio::{ratio_interval, MeanEstimate, RatioCiMethod};
use crate::summary::{summary, Summary};
use crate::tdist::{t_quantile, t_two_sided_p};

/// Confidence level of every interval in a [`Comparison`].
pub const CONFIDENCE: f64 = 0.95;

/// Which direction of change is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sense {
    /// Larger is better: IOPS, bandwidth (`"higher-is-better"`).
    HigherIsBetter,
    /// Smaller is better: elapsed time, latency (`"lower-is-better"`).
    LowerIsBetter,
}

/// Outcome of a comparison, from the candidate's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The candidate is significantly better (`"faster"`).
    Faster,
    /// The candidate is significantly worse (`"slower"`).
    Slower,
    /// No change at the 95% level, or too few samples to tell
    /// (`"no-significant-change"`).
    NoSignificantChange,
}

/// Welch comparison of a baseline sample `a` with a candidate sample `b`.
///
/// Fields that need at least two samples per side, or a nonzero baseline
/// mean, are `None` when they cannot be computed (JSON `null`), never NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The sense the verdict was judged in.
    pub sense: Sense,
    /// Number of baseline samples.
    pub n_a: usize,
    /// Number of candidate samples.
    pub n_b: usize,
    /// Baseline mean.
    pub mean_a: f64,
    /// Candidate mean.
    pub mean_b: f64,
    /// Difference of means, `mean_b − mean_a`.
    pub diff: f64,
    /// 95% confidence interval of `diff` (Welch).
    pub diff_ci95: Option<(f64, f64)>,
    /// Ratio of means, `mean_b / mean_a`; `None` when `mean_a` is zero. Only
    /// meaningful for quantities that are positive (times, rates).
    pub ratio: Option<f64>,
    /// 95% confidence interval of `ratio`.
    pub ratio_ci95: Option<(f64, f64)>,
    /// How `ratio_ci95` was computed.
    pub ratio_ci_method: Option<RatioCiMethod>,
    /// Welch's t statistic, `diff / √(s_a²/n_a + s_b²/n_b)`; `None` when both
    /// samples have zero variance.
    pub t: Option<f64>,
    /// Welch–Satterthwaite degrees of freedom; `None` when both samples have
    /// zero variance.
    pub df: Option<f64>,
    /// Two-sided p-value of Welch's test. With both variances zero it is
    /// `1.0` for equal means and `0.0` otherwise.
    pub p_value: Option<f64>,
    /// Whether the candidate is better, worse or not significantly different.
    ///
    /// Significant means Welch's test rejects at 5% — equivalently the exact
    /// Fieller confidence set of the ratio excludes 1.0 and `diff_ci95`
    /// excludes 0. When `ratio_ci_method` is
    /// [`DeltaMethod`](RatioCiMethod::DeltaMethod) the reported ratio interval is
    /// an approximation and may disagree with the verdict near the boundary;
    /// the verdict follows the exact test.
    pub verdict: Verdict,
    /// Fewer than two samples on a side: no spread, so no interval or test;
    /// the verdict is then always `NoSignificantChange`.
    pub insufficient_samples: bool,
}

/// Compare baseline `a` with candidate `b`.
///
/// Returns `None` when either side is empty or holds a non-finite value, or
/// when the means or their difference leave the f64 range. Otherwise:
/// - fewer than 2 samples on a side: means, `diff` and `ratio` only,
///   `insufficient_samples = true`, verdict `NoSignificantChange`;
/// - both sides constant (zero variance): equal means give no change
///   (p = 1), different means a significant change (p = 0), with the
///   intervals collapsed onto the point estimates;
/// - otherwise Welch's test and the Fieller/delta ratio interval.
pub fn compare(a: &[f64], b: &[f64], sense: Sense) -> Option<Comparison> {
    let sa = summary(a)?;
    let sb = summary(b)?;
    let diff = sb.mean - sa.mean;
    if !diff.is_finite() {
        return None;
    }
    let ratio = Some(sb.mean / sa.mean).filter(|r| sa.mean != 0.0 && r.is_finite());
    let mut c = Comparison {
        sense,
        n_a: sa.n,
        n_b: sb.n,
        mean_a: sa.mean,
        mean_b: sb.mean,
        diff,
        diff_ci95: None,
        ratio,
        ratio_ci95: None,
        ratio_ci_method: None,
        t: None,
        df: None,
        p_value: None,
        verdict: Verdict::NoSignificantChange,
        insufficient_samples: sa.n < 2 || sb.n < 2,
    };
    if c.insufficient_samples {
        return Some(c);
    }

    let significant = if sa.stddev == 0.0 && sb.stddev == 0.0 {
        c.diff_ci95 = Some((diff, diff));
        if let Some(r) = ratio {
            c.ratio_ci95 = Some((r, r));
            c.ratio_ci_method = Some(RatioCiMethod::Exact);
        }
        c.p_value = Some(if diff == 0.0 { 1.0 } else { 0.0 });
        diff != 0.0
    } else {
        let (a_est, b_est) = (standard_error(&sa), standard_error(&sb));
        // √(se_a² + se_b²) without overflow.
        let se = a_est.se.hypot(b_est.se);
        let df = welch_df(a_est.se, sa.n, b_est.se, sb.n);
        let t_crit = t_quantile(0.5 + CONFIDENCE / 2.0, df)?;
        let half = t_crit * se;
        let t = diff / se;
        c.t = Some(t).filter(|t| t.is_finite());
        c.df = Some(df);
        c.p_value = t_two_sided_p(t, df);
        c.diff_ci95 =
            Some((diff - half, diff + half)).filter(|(lo, hi)| lo.is_finite() && hi.is_finite());
        if let Some((interval, method)) = ratio_interval(a_est, b_est, t_crit) {
            c.ratio_ci95 = Some(interval);
            c.ratio_ci_method = Some(method);
        }
        diff.abs() > half
    };
    c.verdict = match (significant, better(diff, sense)) {
        (false, _) => Verdict::NoSignificantChange,
        (true, true) => Verdict::Faster,
        (true, false) => Verdict::Slower,
    };
    Some(c)
}

/// Is a change of `diff` (candidate minus baseline) an improvement?
fn better(diff: f64, sense: Sense) -> bool {
    match sense {
        Sense::HigherIsBetter => diff > 0.0,
        Sense::LowerIsBetter => diff < 0.0,
    }
}

fn standard_error(s: &Summary) -> MeanEstimate {
    MeanEstimate {
        mean: s.mean,
        se: s.stddev / (s.n as f64).sqrt(),
    }
}

/// Welch–Satterthwaite degrees of freedom from the standard errors of the two
/// means (`n ≥ 2` each, not both zero), written in terms of the shares
/// `w = v / (v_a + v_b)` so no square overflows or underflows:
/// `ν = 1 / (w_a²/(n_a−1) + w_b²/(n_b−1))`. It lies between
/// `min(n_a, n_b) − 1` and `n_a + n_b − 2`.
pub(crate) fn welch_df(se_a: f64, n_a: usize, se_b: f64, n_b: usize) -> f64 {
    let largest = se_a.max(se_b);
    let (ra, rb) = ((se_a / largest).powi(2), (se_b / largest).powi(2));
    let (wa, wb) = (ra / (ra + rb), rb / (ra + rb));
    1.0 / (wa * wa / (n_a as f64 - 1.0) + wb * wb / (n_b as f64 - 1.0))
}

/// True only when the candidate is a *significant* regression (its verdict is
/// not `NoSignificantChange` and the change is in the worse direction for
/// `sense`) **and** the point estimate of the change is worse than `pct`
/// percent of the baseline.
///
/// The change is measured in the compared quantity, relative to the baseline:
/// with [`Sense::LowerIsBetter`] (times) the ratio must exceed `1 + pct/100`
/// (`pct = 10`: more than 10% slower); with [`Sense::HigherIsBetter`] (IOPS,
/// bandwidth) it must fall below `1 − pct/100` (more than 10% fewer IOPS).
///
/// Why the point estimate and not a confidence bound: significance already
/// guards against noise, and `pct` states how large a regression must be to
/// matter; requiring the whole interval beyond `pct` would let a real 30%
/// regression pass a 10% gate whenever there are few runs. A caller who wants
/// that stricter rule can compare `ratio_ci95` itself.
///
/// `sense` is normally `c.sense`; significance does not depend on it, so
/// passing the other sense re-reads the same comparison the other way. When
/// the baseline mean is zero the relative change is unbounded and any
/// significant worsening counts. A NaN `pct` gives `false`.
pub fn regression_beyond(pct: f64, c: &Comparison, sense: Sense) -> bool {
    if pct.is_nan() || c.verdict == Verdict::NoSignificantChange || c.diff == 0.0 {
        return false;
    }
    if better(c.diff, sense) {
        return false;
    }
    let Some(ratio) = c.ratio else {
        return true;
    };
    let worse_by_pct = match sense {
        Sense::LowerIsBetter => (ratio - 1.0) * 100.0,
        Sense::HigherIsBetter => (1.0 - ratio) * 100.0,
    };
    worse_by_pct > pct
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(actual: f64, expected: f64, tol: f64) {
        assert!(
            (actual - expected).abs() <= tol * (1.0 + expected.abs()),
            "actual {actual}, expected {expected}"
        );
    }

    #[test]
    fn welch_matches_hand_computation() {
        // a: mean 3, s² = 2.5, v_a = 0.5.  b: mean 5, s² = 20/3, v_b = 5/3.
        // ν = (13/6)² / (0.5²/4 + (5/3)²/3) = (169/36) / (427/432) = 2028/427.
        // t = 2 / √(13/6).
        let c = compare(
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            &[2.0, 4.0, 6.0, 8.0],
            Sense::LowerIsBetter,
        )
        .unwrap();
        assert_close(c.df.unwrap(), 2028.0 / 427.0, 1e-12);
        assert_close(c.t.unwrap(), 2.0 / (13.0f64 / 6.0).sqrt(), 1e-12);
        assert_eq!((c.mean_a, c.mean_b, c.diff), (3.0, 5.0, 2.0));
        // |t| = 1.359 at ν ≈ 4.75: between the two-sided p of ν = 4 (0.2458)
        // and ν = 5 (0.2324) at that t.
        let p = c.p_value.unwrap();
        assert!(p > 0.23 && p < 0.25, "{p}");
        assert_eq!(c.verdict, Verdict::NoSignificantChange);
        let (lo, hi) = c.diff_ci95.unwrap();
        assert!(lo < 0.0 && hi > 0.0);
        assert_close(hi - 2.0, 2.0 - lo, 1e-12);
        let (rlo, rhi) = c.ratio_ci95.unwrap();
        assert!(rlo < 1.0 && rhi > 1.0);
        assert_eq!(c.ratio, Some(5.0 / 3.0));
    }

    #[test]
    fn welch_df_bounds_and_symmetry() {
        assert_close(welch_df(1.0, 10, 1.0, 10), 18.0, 1e-12);
        assert_close(welch_df(0.0, 10, 2.0, 7), 6.0, 1e-12);
        assert_close(
            welch_df(1e-200, 5, 3e-200, 9),
            welch_df(1.0, 5, 3.0, 9),
            1e-12,
        );
        assert_close(welch_df(2.0, 4, 5.0, 30), welch_df(5.0, 30, 2.0, 4), 1e-15);
    }

    #[test]
    fn clear_changes_get_a_verdict_in_the_right_sense() {
        let a = [10.0, 10.2, 9.9, 10.1, 10.0];
        let b = [12.0, 12.1, 11.9, 12.2, 11.8];
        let times = compare(&a, &b, Sense::LowerIsBetter).unwrap();
        assert_eq!(times.verdict, Verdict::Slower);
        let iops = compare(&a, &b, Sense::HigherIsBetter).unwrap();
        assert_eq!(iops.verdict, Verdict::Faster);
        let (lo, hi) = times.ratio_ci95.unwrap();
        assert!(lo > 1.0 && lo < 1.2 && hi > 1.2);
        assert_eq!(times.ratio_ci_method, Some(RatioCiMethod::Fieller));
        assert!(times.p_value.unwrap() < 1e-6);
    }

    #[test]
    fn insufficient_samples() {
        let c = compare(&[1.0], &[2.0, 2.1, 1.9], Sense::LowerIsBetter).unwrap();
        assert!(c.insufficient_samples);
        assert_eq!(c.verdict, Verdict::NoSignificantChange);
        assert_eq!(
            (c.diff_ci95, c.ratio_ci95, c.p_value, c.df, c.t),
            (None, None, None, None, None)
        );
        assert_eq!(c.ratio, Some(2.0));
        let c = compare(&[5.0, 6.0], &[100.0], Sense::HigherIsBetter).unwrap();
        assert!(c.insufficient_samples);
        assert_eq!(c.verdict, Verdict::NoSignificantChange);
    }

    #[test]
    fn unusable_inputs_give_none() {
        assert!(compare(&[], &[1.0, 2.0], Sense::LowerIsBetter).is_none());
        assert!(compare(&[1.0, 2.0], &[], Sense::LowerIsBetter).is_none());
        assert!(compare(&[1.0, f64::NAN], &[1.0, 2.0], Sense::LowerIsBetter).is_none());
        assert!(compare(&[1.0, 2.0], &[f64::INFINITY, 2.0], Sense::LowerIsBetter).is_none());
        assert!(compare(
            &[-f64::MAX, -f64::MAX],
            &[f64::MAX, f64::MAX],
            Sense::LowerIsBetter
        )
        .is_none());
    }

    #[test]
    fn constant_samples() {
        let same = compare(&[4.0; 5], &[4.0; 3], Sense::LowerIsBetter).unwrap();
        assert_eq!(same.verdict, Verdict::NoSignificantChange);
        assert_eq!(same.p_value, Some(1.0));
        assert_eq!(same.ratio_ci95, Some((1.0, 1.0)));
        assert_eq!(same.ratio_ci_method, Some(RatioCiMethod::Exact));
        assert_eq!((same.t, same.df), (None, None));

        let differ = compare(&[4.0; 5], &[5.0; 3], Sense::LowerIsBetter).unwrap();
        assert_eq!(differ.verdict, Verdict::Slower);
        assert_eq!(differ.p_value, Some(0.0));
        assert_eq!(differ.diff_ci95, Some((1.0, 1.0)));
        let differ = compare(&[4.0; 5], &[5.0; 3], Sense::HigherIsBetter).unwrap();
        assert_eq!(differ.verdict, Verdict::Faster);
    }

    #[test]
    fn one_constant_side_uses_the_other_sides_spread() {
        let c = compare(
            &[10.0; 4],
            &[11.0, 11.2, 10.8, 11.1, 10.9],
            Sense::LowerIsBetter,
        )
        .unwrap();
        assert_close(c.df.unwrap(), 4.0, 1e-12);
        assert_eq!(c.verdict, Verdict::Slower);
    }

    #[test]
    fn zero_baseline_mean_has_no_ratio() {
        let c = compare(
            &[-1.0, 1.0, -1.0, 1.0],
            &[5.0, 6.0, 5.0, 6.0],
            Sense::HigherIsBetter,
        )
        .unwrap();
        assert_eq!(
            (c.ratio, c.ratio_ci95, c.ratio_ci_method),
            (None, None, None)
        );
        assert_eq!(c.verdict, Verdict::Faster);
        assert!(regression_beyond(10.0, &c, Sense::LowerIsBetter));
    }

    #[test]
    fn noisy_small_baseline_uses_delta_method() {
        // Two baseline runs with a CV far above 11%: t(0.975, ν)² · v_a > ȳ_a².
        let c = compare(&[1.0, 3.0], &[2.0, 2.1, 1.9, 2.0], Sense::LowerIsBetter).unwrap();
        assert_eq!(c.ratio_ci_method, Some(RatioCiMethod::DeltaMethod));
        let (lo, hi) = c.ratio_ci95.unwrap();
        assert_close(hi - 1.0, 1.0 - lo, 1e-12);
        assert_eq!(c.verdict, Verdict::NoSignificantChange);
    }

    #[test]
    fn regression_gate() {
        let base_t = [100.0, 101.0, 99.0, 100.5, 99.5];
        let slower_t = [120.0, 121.0, 119.0, 120.5, 119.5];
        let c = compare(&base_t, &slower_t, Sense::LowerIsBetter).unwrap();
        assert!(regression_beyond(10.0, &c, Sense::LowerIsBetter));
        assert!(!regression_beyond(25.0, &c, Sense::LowerIsBetter));
        assert!(!regression_beyond(f64::NAN, &c, Sense::LowerIsBetter));
        // Read as IOPS the same numbers are an improvement.
        assert!(!regression_beyond(0.0, &c, Sense::HigherIsBetter));

        let base_iops = [1000.0, 1010.0, 990.0, 1005.0, 995.0];
        let fewer = [800.0, 810.0, 790.0, 805.0, 795.0];
        let c = compare(&base_iops, &fewer, Sense::HigherIsBetter).unwrap();
        assert_eq!(c.verdict, Verdict::Slower);
        assert!(regression_beyond(10.0, &c, Sense::HigherIsBetter));
        assert!(!regression_beyond(30.0, &c, Sense::HigherIsBetter));

        // Large but not significant: never a regression.
        let c = compare(&[1.0, 3.0], &[2.0, 6.0], Sense::LowerIsBetter).unwrap();
        assert_eq!(c.verdict, Verdict::NoSignificantChange);
        assert!(!regression_beyond(1.0, &c, Sense::LowerIsBetter));
    }

    #[test]
    fn serde_names_and_round_trip() {
        let c = compare(&[1.0, 2.0, 3.0], &[1.5, 2.5, 3.5], Sense::LowerIsBetter).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert!(
            json.contains("\"verdict\":\"no-significant-change\""),
            "{json}"
        );
        assert!(json.contains("\"sense\":\"lower-is-better\""));
        assert!(json.contains("\"ratio_ci_method\":\"fieller\""));
        let back: Comparison = serde_json::from_str(&json).unwrap();
        assert_eq!(
            (back.sense, back.verdict, back.ratio_ci_method),
            (c.sense, c.verdict, c.ratio_ci_method)
        );
        // serde_json's default float parser may be 1 ulp off (no `float_roundtrip`).
        let (lo, hi) = back.ratio_ci95.unwrap();
        let (lo0, hi0) = c.ratio_ci95.unwrap();
        assert_close(lo, lo0, 1e-15);
        assert_close(hi, hi0, 1e-15);
        assert_close(back.p_value.unwrap(), c.p_value.unwrap(), 1e-15);

        let one = compare(&[1.0], &[2.0], Sense::HigherIsBetter).unwrap();
        let json = serde_json::to_string(&one).unwrap();
        assert!(json.contains("\"p_value\":null"));
        assert_eq!(serde_json::from_str::<Comparison>(&json).unwrap(), one);
        assert_eq!(
            serde_json::to_string(&Verdict::Faster).unwrap(),
            "\"faster\""
        );
        assert_eq!(
            serde_json::to_string(&RatioCiMethod::DeltaMethod).unwrap(),
            "\"delta-method\""
        );
    }
}
