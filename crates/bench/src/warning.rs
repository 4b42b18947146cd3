//! Warnings and notes carried in results, as data.
//!
//! Each is an enum variant with the numbers it is about: JSON gets a stable
//! `code` (kebab-case) and the fields, the human output the sentence from
//! `Display`, and tests match on the variant instead of on English words.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::workload::BootProfile;

/// A reason not to trust a workload's numbers ([`crate::result::WorkloadSummary::warnings`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Warning {
    /// Run 1 was far from the others (isotune-stats `first_run_outlier`).
    FirstRunOutlier {
        /// IOPS of run 1.
        run1_iops: f64,
        /// Median IOPS of the other runs.
        others_median_iops: f64,
    },
    /// The runs vary too much to trust (isotune-stats `spread_too_high`).
    SpreadTooHigh {
        /// Coefficient of variation of the runs' IOPS; `None` when unbounded
        /// (a mean of zero).
        cv: Option<f64>,
    },
    /// The page-cache drop before a cold run did not take.
    CacheDropFailed {
        /// 1-based run number.
        run: usize,
        /// Bytes of the run still resident after the drop.
        resident_bytes: u64,
        /// Bytes the run reads.
        run_bytes: u64,
    },
    /// The runtime limit stopped runs before the end of the workload.
    StoppedEarly,
    /// An explicit `--iodepth` overrode the queue depth of a boot profile
    /// that reads one request at a time.
    ProfileDepthOverridden {
        /// The profile.
        profile: BootProfile,
        /// The depth the imitated reader uses.
        profile_queue_depth: u32,
        /// The depth the workload ran at.
        queue_depth: u32,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::FirstRunOutlier {
                run1_iops,
                others_median_iops,
            } => {
                let pace = if run1_iops < others_median_iops {
                    "slower"
                } else {
                    "faster"
                };
                write!(
                    f,
                    "run 1 was far {pace} than the others ({run1_iops:.0} IOPS against a \
                     median of {others_median_iops:.0}): it met a different cache or device \
                     state than the later runs; add warm-up runs or check the cache mode"
                )
            }
            Warning::SpreadTooHigh { cv } => {
                let cv = cv.map_or_else(
                    || "unbounded".to_owned(),
                    |cv| format!("{:.0}%", cv * 100.0),
                );
                write!(
                    f,
                    "the runs vary too much to trust (coefficient of variation {cv}): something \
                     else is using the storage or the CPU; run more times or on an idle host"
                )
            }
            Warning::CacheDropFailed {
                run,
                resident_bytes,
                run_bytes,
            } => write!(
                f,
                "the page-cache drop did not take before run {run}: {resident_bytes} of the \
                 {run_bytes} bytes it reads were still cached, so this cold run was partly warm"
            ),
            Warning::StoppedEarly => f.write_str(
                "the runtime limit stopped some runs before the end of the workload: their IOPS \
                 cover only the part they read",
            ),
            Warning::ProfileDepthOverridden {
                profile,
                profile_queue_depth,
                queue_depth,
            } => write!(
                f,
                "ran at queue depth {queue_depth} as --iodepth says, but the {profile} profile \
                 imitates a reader that keeps {profile_queue_depth} request in flight"
            ),
        }
    }
}

/// A note about the whole run ([`crate::result::BenchReport::notices`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Notice {
    /// `--engine auto` found io_uring unusable and used psync.
    UringFallback {
        /// Why io_uring could not be used (the probe's error).
        reason: String,
    },
    /// The boot workload was left out: the image has nothing to replay.
    BootWorkloadSkipped {
        /// Why (the image's error).
        reason: String,
    },
    /// With a runtime limit, a random workload's `--size` asked for more
    /// requests than one workload may plan; the plan was cut to the limit
    /// and the deadline ends the runs (a time-based run).
    SizeCappedForRuntime {
        /// The workload.
        workload: String,
        /// Bytes `--size` asked for.
        requested_bytes: u64,
        /// Bytes planned ([`crate::workload::MAX_REQUESTS`] requests).
        planned_bytes: u64,
    },
    /// A workload failed (a network source broke off); the report holds the
    /// workloads that finished before it, and the later ones did not run.
    WorkloadFailed {
        /// The workload.
        workload: String,
        /// The error.
        reason: String,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::UringFallback { reason } => {
                write!(f, "io_uring unavailable ({reason}); using psync")
            }
            Notice::BootWorkloadSkipped { reason } => {
                write!(f, "boot workload skipped: {reason}")
            }
            Notice::SizeCappedForRuntime {
                workload,
                requested_bytes,
                planned_bytes,
            } => write!(
                f,
                "{workload}: --size {requested_bytes} bytes is more than one workload may plan; \
                 planned {planned_bytes} bytes, and --runtime ends each run"
            ),
            Notice::WorkloadFailed { workload, reason } => write!(
                f,
                "the {workload} workload failed ({reason}); only the workloads before it are reported"
            ),
        }
    }
}

/// Why a baseline comparison may not be like for like, or cannot judge
/// ([`crate::compare::WorkloadComparison::notes`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ComparisonNote {
    /// A setting differs between the two runs.
    SetupDiffers {
        /// Which setting (`the workload`, `engine`, `queue depth`,
        /// `O_DIRECT`, `cache`, `bytes per run`).
        setting: String,
        /// Its value in the baseline.
        baseline: String,
        /// Its value now.
        current: String,
    },
    /// Too few runs on one side for a significance test.
    TooFewRuns {
        /// Runs in the baseline.
        baseline_runs: usize,
        /// Runs now.
        current_runs: usize,
    },
}

impl fmt::Display for ComparisonNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComparisonNote::SetupDiffers {
                setting,
                baseline,
                current,
            } => write!(f, "{setting}: {baseline} then, {current} now"),
            ComparisonNote::TooFewRuns {
                baseline_runs,
                current_runs,
            } => write!(
                f,
                "too few runs for a significance test ({baseline_runs} in the baseline, \
                 {current_runs} now; 2 each needed)"
            ),
        }
    }
}

/// A caveat of an fio export ([`crate::fio::FioExport::notes`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FioNote {
    /// fio cannot replay an iolog because the target path has whitespace.
    WhitespaceInPath {
        /// The iolog file name.
        iolog: String,
    },
}

impl fmt::Display for FioNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FioNote::WhitespaceInPath { iolog } => write!(
                f,
                "fio cannot replay {iolog}: iolog lines are whitespace-separated and the target \
                 path contains whitespace; link the target to a simpler path"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_carries_a_stable_code_and_the_numbers() {
        let w = Warning::CacheDropFailed {
            run: 2,
            resident_bytes: 10,
            run_bytes: 20,
        };
        let v = serde_json::to_value(&w).unwrap();
        assert_eq!(v["code"], "cache-drop-failed");
        assert_eq!(v["run"], 2);
        assert!(w.to_string().contains("before run 2"), "{w}");
        let back: Warning = serde_json::from_value(v).unwrap();
        assert_eq!(back, w);
        let v = serde_json::to_value(Warning::StoppedEarly).unwrap();
        assert_eq!(v["code"], "stopped-early");
        let v = serde_json::to_value(Warning::ProfileDepthOverridden {
            profile: BootProfile::BiosIde,
            profile_queue_depth: 1,
            queue_depth: 32,
        })
        .unwrap();
        assert_eq!(v["code"], "profile-depth-overridden");
        assert_eq!(v["profile"], "bios-ide");
        let n = Notice::UringFallback {
            reason: "EPERM".into(),
        };
        assert_eq!(serde_json::to_value(&n).unwrap()["code"], "uring-fallback");
        assert_eq!(n.to_string(), "io_uring unavailable (EPERM); using psync");
        let c = ComparisonNote::TooFewRuns {
            baseline_runs: 1,
            current_runs: 3,
        };
        assert_eq!(serde_json::to_value(&c).unwrap()["code"], "too-few-runs");
        let f = FioNote::WhitespaceInPath {
            iolog: "boot.iolog".into(),
        };
        assert_eq!(
            serde_json::to_value(&f).unwrap()["code"],
            "whitespace-in-path"
        );
    }

    #[test]
    fn first_run_outlier_says_which_way() {
        let slow = Warning::FirstRunOutlier {
            run1_iops: 10.0,
            others_median_iops: 100.0,
        };
        assert!(slow.to_string().contains("far slower"));
        let fast = Warning::FirstRunOutlier {
            run1_iops: 1000.0,
            others_median_iops: 100.0,
        };
        assert!(fast.to_string().contains("far faster"));
    }
}
