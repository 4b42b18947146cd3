//! Before/after comparison of two [`BenchReport`]s (`--baseline OLD.json`).
//!
//! Workloads are matched by name; for each pair the per-run IOPS are compared
//! with Welch's t-test (`isotune-stats`), higher being better, so a verdict of
//! "slower" means the difference is larger than the run-to-run noise, not just
//! that the mean went down. Workloads present in only one report are listed
//! as unmatched. A pair whose setup differs (engine, queue depth, O_DIRECT,
//! cache mode or the workload itself) is still compared, with a note, because
//! that is often the point of the comparison.

use serde::{Deserialize, Serialize};

use crate::result::{BenchReport, WorkloadResult};
use crate::runner::CacheMode;
use crate::warning::ComparisonNote;
use crate::EngineKind;

pub use isotune_stats::{Sense, Verdict};

/// Whether a workload was found in both reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchStatus {
    /// In both: compared.
    Matched,
    /// Only in the baseline.
    BaselineOnly,
    /// Only in the current report.
    CurrentOnly,
}

/// The comparison of one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadComparison {
    /// Workload name.
    pub name: String,
    /// Found in both reports or in one.
    pub status: MatchStatus,
    /// Mean IOPS in the baseline.
    pub baseline_iops_mean: Option<f64>,
    /// Mean IOPS now.
    pub current_iops_mean: Option<f64>,
    /// Current mean IOPS over baseline mean IOPS (above 1 is faster).
    pub ratio: Option<f64>,
    /// 95% confidence interval of `ratio`, when the runs allow one.
    pub ratio_ci95: Option<(f64, f64)>,
    /// Faster, slower or no significant change (needs 2+ runs on each side).
    pub verdict: Option<Verdict>,
    /// Change of the mean IOPS in percent (negative is slower).
    pub change_pct: Option<f64>,
    /// Why the comparison may not be like for like, or cannot judge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<ComparisonNote>,
    /// The full Welch test on the per-run IOPS (t, degrees of freedom,
    /// p-value, intervals), for matched workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welch: Option<isotune_stats::Comparison>,
}

/// Compares every workload of `current` with the one of the same name in
/// `baseline`; unmatched workloads come last (baseline-only, then
/// current-only).
pub fn compare_reports(baseline: &BenchReport, current: &BenchReport) -> Vec<WorkloadComparison> {
    let mut out: Vec<WorkloadComparison> = current
        .workloads
        .iter()
        .filter_map(|cur| {
            baseline
                .workload(&cur.name)
                .map(|base| compare_workloads(base, cur))
        })
        .collect();
    for base in &baseline.workloads {
        if current.workload(&base.name).is_none() {
            out.push(unmatched(base, MatchStatus::BaselineOnly));
        }
    }
    for cur in &current.workloads {
        if baseline.workload(&cur.name).is_none() {
            out.push(unmatched(cur, MatchStatus::CurrentOnly));
        }
    }
    out
}

/// Whether any workload got significantly slower by more than `pct` percent
/// of its baseline IOPS (e.g. `10.0`): [`isotune_stats::regression_beyond`]
/// on each matched workload. Changes within the noise never count, nor do
/// workloads without enough runs for a test.
pub fn has_regression_beyond(comparisons: &[WorkloadComparison], pct: f64) -> bool {
    comparisons.iter().any(|c| {
        c.welch.as_ref().is_some_and(|w| {
            !w.insufficient_samples
                && isotune_stats::regression_beyond(pct, w, Sense::HigherIsBetter)
        })
    })
}

fn compare_workloads(base: &WorkloadResult, cur: &WorkloadResult) -> WorkloadComparison {
    let a: Vec<f64> = base.runs.iter().map(|r| r.iops).collect();
    let b: Vec<f64> = cur.runs.iter().map(|r| r.iops).collect();
    let mut notes = setup_differences(base, cur);
    let welch = isotune_stats::compare(&a, &b, Sense::HigherIsBetter);
    let judged = welch.filter(|w| !w.insufficient_samples);
    if judged.is_none() {
        notes.push(ComparisonNote::TooFewRuns {
            baseline_runs: a.len(),
            current_runs: b.len(),
        });
    }
    let base_mean = welch.map_or(base.summary.iops_mean, |w| w.mean_a);
    let cur_mean = welch.map_or(cur.summary.iops_mean, |w| w.mean_b);
    let ratio = welch
        .and_then(|w| w.ratio)
        .or_else(|| (base_mean > 0.0).then(|| cur_mean / base_mean));
    WorkloadComparison {
        name: cur.name.clone(),
        status: MatchStatus::Matched,
        baseline_iops_mean: Some(base_mean),
        current_iops_mean: Some(cur_mean),
        ratio,
        ratio_ci95: judged.and_then(|w| w.ratio_ci95),
        verdict: judged.map(|w| w.verdict),
        change_pct: ratio.map(|r| (r - 1.0) * 100.0),
        notes,
        welch,
    }
}

fn unmatched(w: &WorkloadResult, status: MatchStatus) -> WorkloadComparison {
    let mean = Some(w.summary.iops_mean);
    let (baseline_iops_mean, current_iops_mean) = match status {
        MatchStatus::BaselineOnly => (mean, None),
        _ => (None, mean),
    };
    WorkloadComparison {
        name: w.name.clone(),
        status,
        baseline_iops_mean,
        current_iops_mean,
        ratio: None,
        ratio_ci95: None,
        verdict: None,
        change_pct: None,
        notes: Vec::new(),
        welch: None,
    }
}

fn setup_differences(base: &WorkloadResult, cur: &WorkloadResult) -> Vec<ComparisonNote> {
    let engine = |e: EngineKind| match e {
        EngineKind::Psync => "psync",
        EngineKind::IoUring => "io_uring",
        EngineKind::Http => "http",
        EngineKind::Nbd => "nbd",
    };
    let cache = |c: CacheMode| match c {
        CacheMode::Cold => "cold",
        CacheMode::Warm => "warm",
        CacheMode::Server => "server",
    };
    let spec = |w: &WorkloadResult| format!("{:?}", w.spec);
    let pairs = [
        ("the workload", spec(base), spec(cur)),
        (
            "engine",
            engine(base.engine).to_owned(),
            engine(cur.engine).to_owned(),
        ),
        (
            "queue depth",
            base.queue_depth.to_string(),
            cur.queue_depth.to_string(),
        ),
        ("O_DIRECT", base.direct.to_string(), cur.direct.to_string()),
        (
            "cache",
            cache(base.cache_mode).to_owned(),
            cache(cur.cache_mode).to_owned(),
        ),
        (
            "bytes per run",
            base.request_bytes.to_string(),
            cur.request_bytes.to_string(),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, then, now)| then != now)
        .map(|(what, then, now)| ComparisonNote::SetupDiffers {
            setting: what.to_owned(),
            baseline: then,
            current: now,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::tests::run;
    use crate::result::{BenchReport, Latency, TargetInfo, WorkloadSummary};
    use crate::runner::CacheMode;
    use crate::target::Alignment;
    use crate::workload::WorkloadSpec;
    use crate::EngineKind;

    fn workload(name: &str, run_ms: &[u64]) -> WorkloadResult {
        let runs: Vec<_> = run_ms
            .iter()
            .enumerate()
            .map(|(i, &ms)| run(i + 1, 10_000, ms))
            .collect();
        WorkloadResult {
            name: name.to_owned(),
            spec: WorkloadSpec::rand(4096, 1),
            engine: EngineKind::Psync,
            queue_depth: 1,
            direct: false,
            cache_mode: CacheMode::Cold,
            request_count: 10_000,
            request_bytes: 10_000 * 4096,
            warmup_runs: Vec::new(),
            summary: WorkloadSummary::from_runs(&runs, Latency::default()),
            runs,
        }
    }

    fn report(workloads: Vec<WorkloadResult>) -> BenchReport {
        let target = TargetInfo {
            path: "/var/tmp/x.iso".to_owned(),
            size_bytes: 1 << 30,
            kind: crate::target::TargetKind::File,
            direct: false,
            alignment: Alignment::NONE,
        };
        BenchReport::new(target, Vec::new(), workloads)
    }

    const STEADY: [u64; 5] = [1000, 1012, 995, 1004, 990];
    const HALF_SPEED: [u64; 5] = [2010, 1990, 2003, 2020, 1985];

    #[test]
    fn same_runs_show_no_significant_change() {
        let a = report(vec![workload("rand-4k", &STEADY)]);
        let b = report(vec![workload("rand-4k", &STEADY)]);
        let c = compare_reports(&a, &b);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].status, MatchStatus::Matched);
        assert_eq!(c[0].verdict, Some(Verdict::NoSignificantChange));
        assert!((c[0].ratio.unwrap() - 1.0).abs() < 1e-9);
        assert!(c[0].notes.is_empty(), "{:?}", c[0].notes);
        assert!(!has_regression_beyond(&c, 10.0));
        assert!(!has_regression_beyond(&c, 0.0));
    }

    #[test]
    fn a_real_two_fold_slowdown_is_a_regression() {
        let a = report(vec![workload("rand-4k", &STEADY)]);
        let b = report(vec![workload("rand-4k", &HALF_SPEED)]);
        let c = compare_reports(&a, &b);
        assert_eq!(c[0].verdict, Some(Verdict::Slower));
        let change = c[0].change_pct.unwrap();
        assert!((change + 50.0).abs() < 2.0, "{change}");
        let ratio = c[0].ratio.unwrap();
        assert!((ratio - 0.5).abs() < 0.02, "{ratio}");
        if let Some((lo, hi)) = c[0].ratio_ci95 {
            assert!(lo <= ratio && ratio <= hi && hi < 1.0, "{lo} {hi}");
        }
        assert!(has_regression_beyond(&c, 10.0));
        assert!(!has_regression_beyond(&c, 60.0));
        // The other way round it is faster, never a regression.
        let c = compare_reports(&b, &a);
        assert_eq!(c[0].verdict, Some(Verdict::Faster));
        assert!(!has_regression_beyond(&c, 10.0));
    }

    #[test]
    fn noise_is_not_a_regression() {
        let a = report(vec![workload("seq-1m", &[1000, 1500, 700, 1300, 900])]);
        let b = report(vec![workload("seq-1m", &[1200, 800, 1600, 1000, 1400])]);
        let c = compare_reports(&a, &b);
        assert_eq!(c[0].verdict, Some(Verdict::NoSignificantChange));
        assert!(!has_regression_beyond(&c, 5.0));
    }

    #[test]
    fn unmatched_and_different_setups_are_listed() {
        let a = report(vec![
            workload("seq-1m", &STEADY),
            workload("boot-bios-ide", &STEADY),
        ]);
        let mut changed = workload("seq-1m", &STEADY);
        changed.engine = EngineKind::IoUring;
        let b = report(vec![changed, workload("rand-2k", &STEADY)]);
        let c = compare_reports(&a, &b);
        let names: Vec<_> = c.iter().map(|c| (c.name.as_str(), c.status)).collect();
        assert_eq!(
            names,
            vec![
                ("seq-1m", MatchStatus::Matched),
                ("boot-bios-ide", MatchStatus::BaselineOnly),
                ("rand-2k", MatchStatus::CurrentOnly),
            ]
        );
        assert!(
            c[0].notes.iter().any(|n| matches!(
                n,
                ComparisonNote::SetupDiffers { setting, baseline, current }
                    if setting == "engine" && baseline == "psync" && current == "io_uring"
            )),
            "{:?}",
            c[0].notes
        );
        assert!(c[1].verdict.is_none() && c[1].current_iops_mean.is_none());
        assert!(c[2].baseline_iops_mean.is_none() && c[2].current_iops_mean.is_some());
    }

    #[test]
    fn single_runs_cannot_be_judged() {
        let a = report(vec![workload("seq-1m", &[1000])]);
        let b = report(vec![workload("seq-1m", &[3000])]);
        let c = compare_reports(&a, &b);
        assert_eq!(c[0].verdict, None);
        assert!(c[0].notes.contains(&ComparisonNote::TooFewRuns {
            baseline_runs: 1,
            current_runs: 1
        }));
        assert!(!has_regression_beyond(&c, 10.0));
    }

    #[test]
    fn a_report_round_trips_through_json() {
        let mut r = report(vec![workload("seq-1m", &STEADY)]);
        r.comparison = Some(compare_reports(&r, &r));
        let json = serde_json::to_string_pretty(&r).unwrap();
        assert!(json.contains("\"schema_version\": 2"));
        let back: BenchReport = serde_json::from_str(&json).unwrap();
        // serde_json may move a float by one ulp (no `float_roundtrip`), so
        // compare what must survive exactly.
        assert_eq!(back.workloads[0].runs, r.workloads[0].runs);
        assert_eq!(
            back.comparison.as_ref().unwrap()[0].verdict,
            Some(Verdict::NoSignificantChange)
        );
    }
}
