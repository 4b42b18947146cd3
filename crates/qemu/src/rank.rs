//! Ranking boot configurations by measured time, with honest statistics:
//! medians and their spread, the speed-up against a baseline configuration
//! with a 95% confidence interval (Welch's test, Fieller's interval for the
//! ratio of means, from `isotune-stats`), and "no significant difference"
//! when the intervals say so. Pure: samples in, serde data out.

use isotune_stats::{compare, summary, Sense, Verdict};
use serde::{Deserialize, Serialize};

/// Fewer successful runs than this on either side and there is no
/// comparison: with two runs a side Welch's test has 2 degrees of freedom
/// at best, its 95% interval is wider than any boot difference worth
/// reporting, and a "4.66x, no significant difference" line says nothing
/// useful. The reader is told to use more runs instead.
pub const MIN_RUNS_TO_COMPARE: usize = 3;

/// One configuration's runs, summarised and compared with the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    /// Index of the configuration in the input.
    pub index: usize,
    /// 1 = fastest median. Configurations with no successful run come last
    /// and have no rank.
    pub rank: Option<usize>,
    /// Successful runs.
    pub runs: usize,
    /// Median seconds to the end of the boot.
    pub median_seconds: Option<f64>,
    /// Fastest run, seconds.
    pub min_seconds: Option<f64>,
    /// Slowest run, seconds.
    pub max_seconds: Option<f64>,
    /// Median absolute deviation, seconds (the "±" shown next to the median).
    pub mad_seconds: Option<f64>,
    /// Compared with the baseline (absent for the baseline itself, and
    /// when either side has fewer than [`MIN_RUNS_TO_COMPARE`] runs).
    pub vs_baseline: Option<VsBaseline>,
}

/// A configuration against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VsBaseline {
    /// Baseline mean time / this mean time: 2.0 = twice as fast.
    pub speedup: f64,
    /// 95% interval of the speed-up; `None` with fewer than two runs a side.
    pub speedup_ci95: Option<(f64, f64)>,
    /// Faster, slower, or no significant change at the 95% level.
    pub verdict: Verdict,
    /// Welch's two-sided p-value.
    pub p_value: Option<f64>,
}

/// Ranks configurations. `samples[i]` holds the seconds of configuration
/// `i`'s successful runs; `baseline` indexes the configuration the others
/// are compared with. The result is sorted fastest first.
pub fn rank(samples: &[Vec<f64>], baseline: usize) -> Vec<Ranked> {
    let base = samples.get(baseline).map(Vec::as_slice).unwrap_or(&[]);
    let mut out: Vec<Ranked> = samples
        .iter()
        .enumerate()
        .map(|(index, s)| {
            let sum = summary(s);
            let enough = base.len() >= MIN_RUNS_TO_COMPARE && s.len() >= MIN_RUNS_TO_COMPARE;
            let vs_baseline = (index != baseline && enough)
                .then(|| compare(base, s, Sense::LowerIsBetter))
                .flatten()
                .and_then(|c| {
                    // Speed-up is the inverse of the time ratio: invert the
                    // interval's ends too (both positive for times).
                    let ratio = c.ratio.filter(|r| *r > 0.0)?;
                    Some(VsBaseline {
                        speedup: 1.0 / ratio,
                        speedup_ci95: c
                            .ratio_ci95
                            .filter(|(lo, hi)| *lo > 0.0 && hi.is_finite())
                            .map(|(lo, hi)| (1.0 / hi, 1.0 / lo)),
                        verdict: c.verdict,
                        p_value: c.p_value,
                    })
                });
            Ranked {
                index,
                rank: None,
                runs: s.len(),
                median_seconds: sum.map(|m| m.median),
                min_seconds: sum.map(|m| m.min),
                max_seconds: sum.map(|m| m.max),
                mad_seconds: sum.map(|m| m.mad),
                vs_baseline,
            }
        })
        .collect();
    out.sort_by(|a, b| match (a.median_seconds, b.median_seconds) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.index.cmp(&b.index),
    });
    for (i, r) in out.iter_mut().enumerate() {
        if r.median_seconds.is_some() {
            r.rank = Some(i + 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_median_and_compares_with_the_baseline() {
        let ide = vec![2.31, 2.28, 2.35, 2.30, 2.29];
        let scsi = vec![1.02, 0.99, 1.05, 1.01, 1.00];
        let ahci = vec![2.30, 2.33, 2.27, 2.31, 2.29];
        let r = rank(&[ide, scsi, ahci, vec![]], 0);
        assert_eq!(r[0].index, 1);
        assert_eq!(r[0].rank, Some(1));
        let vs = r[0].vs_baseline.unwrap();
        assert_eq!(vs.verdict, Verdict::Faster);
        assert!(vs.speedup > 2.2 && vs.speedup < 2.35, "{vs:?}");
        let (lo, hi) = vs.speedup_ci95.unwrap();
        assert!(lo < vs.speedup && vs.speedup < hi);
        let ahci = r.iter().find(|x| x.index == 2).unwrap();
        assert_eq!(
            ahci.vs_baseline.unwrap().verdict,
            Verdict::NoSignificantChange
        );
        let base = r.iter().find(|x| x.index == 0).unwrap();
        assert!(base.vs_baseline.is_none());
        let failed = r.last().unwrap();
        assert_eq!((failed.index, failed.rank, failed.runs), (3, None, 0));
    }

    #[test]
    fn too_few_runs_are_not_compared() {
        for (base, other) in [(1, 1), (2, 2), (2, 5), (5, 2)] {
            let r = rank(&[vec![2.0; base], vec![1.0; other]], 0);
            assert!(r.iter().all(|x| x.vs_baseline.is_none()), "{base} {other}");
            assert_eq!(r[0].rank, Some(1));
        }
        let r = rank(&[vec![2.0, 2.1, 1.9], vec![1.0, 1.1, 0.9]], 0);
        let vs = r[0].vs_baseline.unwrap();
        assert!((vs.speedup - 2.0).abs() < 1e-9);
        assert!(vs.speedup_ci95.is_some());
    }

    #[test]
    fn empty_input_is_empty() {
        assert!(rank(&[], 0).is_empty());
        let r = rank(&[vec![], vec![1.0]], 0);
        assert!(r.iter().all(|x| x.vs_baseline.is_none()));
    }
}
