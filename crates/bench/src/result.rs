//! Results: plain serde data, written as JSON by the CLI and read back as a
//! `--baseline`.
//!
//! A [`BenchReport`] holds one [`WorkloadResult`] per workload; each has its
//! measured [`RunResult`]s (warm-up runs are kept apart) and a
//! [`WorkloadSummary`] computed with `isotune-stats`: IOPS statistics over the
//! runs, latency percentiles of all measured completions, the runs that are
//! outliers and plain-language warnings about numbers not to trust.
//! Renderers only ever see these structs.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::compare::WorkloadComparison;
use crate::runner::CacheMode;
use crate::target::{Alignment, Target, TargetKind};
use crate::warning::{Notice, Warning};
use crate::workload::WorkloadSpec;
use crate::EngineKind;

/// Version of the JSON layout of [`BenchReport`]; bumped when a field changes
/// meaning or disappears (adding a field does not bump it). 2: warnings,
/// notices and comparison notes are objects with a `code`, not sentences.
pub const SCHEMA_VERSION: u32 = 2;

/// A cold run whose page-cache drop left more than this fraction of the bytes
/// the run reads still resident is flagged: above it the run is measurably
/// partly warm (page-cache hits are 10-100x faster than a disk read, so 10%
/// resident can already account for a large share of the time saved).
pub const COLD_RESIDENT_FRACTION: f64 = 0.10;

/// Latency statistics in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Smallest.
    pub min: u64,
}

impl Latency {
    /// The statistics of a histogram of nanosecond latencies (all zero when
    /// it is empty). Percentiles carry the histogram's 3 significant digits.
    pub fn from_histogram(hist: &Histogram<u64>) -> Latency {
        if hist.is_empty() {
            return Latency::default();
        }
        Latency {
            mean: hist.mean(),
            p50: hist.value_at_quantile(0.50),
            p90: hist.value_at_quantile(0.90),
            p99: hist.value_at_quantile(0.99),
            p999: hist.value_at_quantile(0.999),
            max: hist.max(),
            min: hist.min(),
        }
    }
}

/// The page cache around a cold run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheState {
    /// Bytes of the target in the page cache before the drop.
    pub resident_before_bytes: u64,
    /// Bytes still in the page cache after the drop, just before the run.
    pub resident_after_bytes: u64,
    /// Whether the drop took: at most [`COLD_RESIDENT_FRACTION`] of the bytes
    /// the run reads stayed resident.
    pub dropped: bool,
}

/// One run of a workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// 1-based number of the run among the measured runs (or among the
    /// warm-up runs when `warmup`).
    pub run: usize,
    /// A warm-up run, not part of the statistics.
    pub warmup: bool,
    /// Bytes read.
    pub bytes: u64,
    /// Requests completed.
    pub requests: u64,
    /// Wall time from the first submission to the last completion.
    pub elapsed_ns: u64,
    /// Requests per second.
    pub iops: f64,
    /// Bytes per second.
    pub bandwidth_bytes_per_s: f64,
    /// Completion latency (submission to completion) of this run's requests.
    pub latency_ns: Latency,
    /// User CPU time of the whole process during the run.
    pub cpu_user_ns: u64,
    /// System CPU time of the whole process during the run.
    pub cpu_sys_ns: u64,
    /// (user + system) CPU time per request; compare with fio's
    /// `usr_cpu`/`sys_cpu` (percent of the job's runtime).
    pub cpu_ns_per_request: f64,
    /// The runtime limit stopped the run before the end of the request list.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped_early: bool,
    /// The page cache around the run (cold runs only).
    pub cache: Option<CacheState>,
}

/// What a run measured, before the derived figures are computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunMeasurement {
    /// Bytes read.
    pub bytes: u64,
    /// Requests completed.
    pub requests: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// User CPU time of the process.
    pub cpu_user_ns: u64,
    /// System CPU time of the process.
    pub cpu_sys_ns: u64,
    /// The runtime limit cut the run short.
    pub stopped_early: bool,
}

impl RunResult {
    /// A run result with its rates computed from `m`.
    pub fn new(
        run: usize,
        warmup: bool,
        m: RunMeasurement,
        latency_ns: Latency,
        cache: Option<CacheState>,
    ) -> RunResult {
        let secs = m.elapsed.as_secs_f64();
        let per_s = |x: u64| if secs > 0.0 { x as f64 / secs } else { 0.0 };
        let cpu = m.cpu_user_ns.saturating_add(m.cpu_sys_ns);
        RunResult {
            run,
            warmup,
            bytes: m.bytes,
            requests: m.requests,
            elapsed_ns: u64::try_from(m.elapsed.as_nanos()).unwrap_or(u64::MAX),
            iops: per_s(m.requests),
            bandwidth_bytes_per_s: per_s(m.bytes),
            latency_ns,
            cpu_user_ns: m.cpu_user_ns,
            cpu_sys_ns: m.cpu_sys_ns,
            cpu_ns_per_request: if m.requests > 0 {
                cpu as f64 / m.requests as f64
            } else {
                0.0
            },
            stopped_early: m.stopped_early,
            cache,
        }
    }
}

/// All runs of one workload and their summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadResult {
    /// Name used to match workloads against a baseline (`seq-1m`, ...).
    pub name: String,
    /// What was read.
    pub spec: WorkloadSpec,
    /// The engine that ran it.
    pub engine: EngineKind,
    /// Requests in flight at most.
    pub queue_depth: u32,
    /// Whether the target was read with O_DIRECT.
    pub direct: bool,
    /// Cold or warm page cache.
    pub cache_mode: CacheMode,
    /// Requests in one full pass of the workload (after the size limit).
    pub request_count: u64,
    /// Bytes in one full pass of the workload (after the size limit).
    pub request_bytes: u64,
    /// Warm-up runs (not in the statistics).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warmup_runs: Vec<RunResult>,
    /// The measured runs.
    pub runs: Vec<RunResult>,
    /// Statistics over the measured runs.
    pub summary: WorkloadSummary,
}

/// Statistics over the measured runs of a workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSummary {
    /// Mean IOPS over the runs.
    pub iops_mean: f64,
    /// Sample standard deviation of the runs' IOPS (0 with one run).
    pub iops_stddev: f64,
    /// Lowest IOPS of a run.
    pub iops_min: f64,
    /// Highest IOPS of a run.
    pub iops_max: f64,
    /// Median IOPS.
    pub iops_median: f64,
    /// Mean bandwidth over the runs.
    pub bandwidth_bytes_per_s_mean: f64,
    /// Sample standard deviation of the runs' bandwidth.
    pub bandwidth_bytes_per_s_stddev: f64,
    /// Mean CPU time per request over the runs.
    pub cpu_ns_per_request_mean: f64,
    /// Latency over every completion of every measured run.
    pub latency_ns: Latency,
    /// 1-based numbers of the runs whose IOPS are outliers (modified Z-score).
    pub outlier_runs: Vec<usize>,
    /// Reasons not to trust the numbers (a stable `code` in JSON).
    pub warnings: Vec<Warning>,
}

impl WorkloadSummary {
    /// Summarises measured `runs`; `latency_ns` comes from the merged
    /// histogram of their completions.
    pub fn from_runs(runs: &[RunResult], latency_ns: Latency) -> WorkloadSummary {
        let iops: Vec<f64> = runs.iter().map(|r| r.iops).collect();
        let bw: Vec<f64> = runs.iter().map(|r| r.bandwidth_bytes_per_s).collect();
        let cpu: Vec<f64> = runs.iter().map(|r| r.cpu_ns_per_request).collect();
        let s = isotune_stats::summary(&iops);
        let b = isotune_stats::summary(&bw);
        let mut warnings = Vec::new();

        if isotune_stats::first_run_outlier(&iops) {
            warnings.push(Warning::FirstRunOutlier {
                run1_iops: iops[0],
                others_median_iops: isotune_stats::median(&iops[1..]).unwrap_or(0.0),
            });
        }
        if let Some(s) = s.as_ref().filter(|s| isotune_stats::spread_too_high(s)) {
            warnings.push(Warning::SpreadTooHigh { cv: s.cv });
        }
        for r in runs {
            if let Some(c) = r.cache.filter(|c| !c.dropped) {
                warnings.push(Warning::CacheDropFailed {
                    run: r.run,
                    resident_bytes: c.resident_after_bytes.min(r.bytes),
                    run_bytes: r.bytes,
                });
            }
        }
        if runs.iter().any(|r| r.stopped_early) {
            warnings.push(Warning::StoppedEarly);
        }

        WorkloadSummary {
            iops_mean: s.as_ref().map_or(0.0, |s| s.mean),
            iops_stddev: s.as_ref().map_or(0.0, |s| s.stddev),
            iops_min: s.as_ref().map_or(0.0, |s| s.min),
            iops_max: s.as_ref().map_or(0.0, |s| s.max),
            iops_median: s.as_ref().map_or(0.0, |s| s.median),
            bandwidth_bytes_per_s_mean: b.as_ref().map_or(0.0, |s| s.mean),
            bandwidth_bytes_per_s_stddev: b.as_ref().map_or(0.0, |s| s.stddev),
            cpu_ns_per_request_mean: isotune_stats::summary(&cpu).map_or(0.0, |s| s.mean),
            latency_ns,
            outlier_runs: isotune_stats::outlier_indices(&iops)
                .into_iter()
                .map(|i| i + 1)
                .collect(),
            warnings,
        }
    }
}

/// The target a report was measured on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// Path as given.
    pub path: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Regular file or block device.
    pub kind: TargetKind,
    /// Opened with O_DIRECT.
    pub direct: bool,
    /// O_DIRECT memory and offset alignment.
    pub alignment: Alignment,
}

impl TargetInfo {
    /// The facts of an open target.
    pub fn of(target: &Target) -> TargetInfo {
        TargetInfo {
            path: target.path().display().to_string(),
            size_bytes: target.size_bytes(),
            kind: target.kind(),
            direct: target.direct(),
            alignment: target.alignment(),
        }
    }
}

/// Everything `isotune bench` measured, as written with `--json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// What was measured.
    pub target: TargetInfo,
    /// Notes about the whole run: the engine asked for was not used, a
    /// workload was left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Notice>,
    /// One entry per workload, in the order they ran.
    pub workloads: Vec<WorkloadResult>,
    /// The comparison with `--baseline`, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Vec<WorkloadComparison>>,
    /// A network source: the probe and the boot predictions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<crate::predict::NetworkReport>,
}

impl BenchReport {
    /// A report with the current schema version and no comparison.
    pub fn new(
        target: TargetInfo,
        notices: Vec<Notice>,
        workloads: Vec<WorkloadResult>,
    ) -> BenchReport {
        BenchReport {
            schema_version: SCHEMA_VERSION,
            target,
            notices,
            workloads,
            comparison: None,
            network: None,
        }
    }

    /// The workload called `name`.
    pub fn workload(&self, name: &str) -> Option<&WorkloadResult> {
        self.workloads.iter().find(|w| w.name == name)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A measured run of `requests` requests of 4 KiB taking `ms` milliseconds.
    pub(crate) fn run(n: usize, requests: u64, ms: u64) -> RunResult {
        let m = RunMeasurement {
            bytes: requests * 4096,
            requests,
            elapsed: Duration::from_millis(ms),
            cpu_user_ns: 1_000_000,
            cpu_sys_ns: 3_000_000,
            stopped_early: false,
        };
        RunResult::new(n, false, m, Latency::default(), None)
    }

    #[test]
    fn run_rates_are_derived() {
        let r = run(1, 1000, 500);
        assert_eq!(r.iops, 2000.0);
        assert_eq!(r.bandwidth_bytes_per_s, 2000.0 * 4096.0);
        assert_eq!(r.elapsed_ns, 500_000_000);
        assert_eq!(r.cpu_ns_per_request, 4000.0);
        let zero = RunResult::new(
            1,
            false,
            RunMeasurement::default(),
            Latency::default(),
            None,
        );
        assert_eq!((zero.iops, zero.cpu_ns_per_request), (0.0, 0.0));
    }

    #[test]
    fn latency_from_histogram() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let l = Latency::from_histogram(&h);
        assert!((l.mean - 500_500.0).abs() < 1000.0, "{l:?}");
        assert!(l.p50.abs_diff(500_000) <= 500, "{l:?}");
        assert!(l.p99.abs_diff(990_000) <= 1000, "{l:?}");
        assert_eq!(l.min, 1000);
        assert!(l.max.abs_diff(1_000_000) <= 1000);
        assert_eq!(
            Latency::from_histogram(&Histogram::new(3).unwrap()),
            Latency::default()
        );
    }

    #[test]
    fn steady_runs_give_no_warnings() {
        let runs: Vec<_> = [1000, 1010, 990, 1005, 995]
            .iter()
            .enumerate()
            .map(|(i, &ms)| run(i + 1, 10_000, ms))
            .collect();
        let s = WorkloadSummary::from_runs(&runs, Latency::default());
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert!(s.outlier_runs.is_empty());
        assert!((s.iops_mean - 10_000.0).abs() < 50.0);
        assert!(s.iops_min < s.iops_median && s.iops_median < s.iops_max);
        assert!(s.iops_stddev > 0.0);
    }

    #[test]
    fn a_first_run_twice_as_slow_is_flagged() {
        let runs: Vec<_> = [2000, 1000, 1010, 990, 1005]
            .iter()
            .enumerate()
            .map(|(i, &ms)| run(i + 1, 10_000, ms))
            .collect();
        let s = WorkloadSummary::from_runs(&runs, Latency::default());
        assert!(
            s.warnings.iter().any(|w| matches!(
                w,
                Warning::FirstRunOutlier { run1_iops, others_median_iops }
                    if run1_iops < others_median_iops
            )),
            "{:?}",
            s.warnings
        );
        assert_eq!(s.outlier_runs, vec![1]);
    }

    #[test]
    fn wild_spread_and_failed_drops_are_flagged() {
        let mut runs: Vec<_> = [1000, 400, 1900, 700, 1300]
            .iter()
            .enumerate()
            .map(|(i, &ms)| run(i + 1, 10_000, ms))
            .collect();
        runs[2].cache = Some(CacheState {
            resident_before_bytes: 1 << 30,
            resident_after_bytes: 1 << 30,
            dropped: false,
        });
        let s = WorkloadSummary::from_runs(&runs, Latency::default());
        assert!(
            s.warnings
                .iter()
                .any(|w| matches!(w, Warning::SpreadTooHigh { cv: Some(cv) } if *cv > 0.3)),
            "{:?}",
            s.warnings
        );
        assert!(
            s.warnings.iter().any(|w| matches!(
                w,
                Warning::CacheDropFailed { run: 3, resident_bytes, run_bytes }
                    if resident_bytes == run_bytes
            )),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn a_single_run_summarises() {
        let s = WorkloadSummary::from_runs(&[run(1, 100, 100)], Latency::default());
        assert_eq!(s.iops_mean, 1000.0);
        assert_eq!(s.iops_stddev, 0.0);
        assert!(s.warnings.is_empty());
    }
}
