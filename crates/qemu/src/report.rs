//! The result of `isotune boot`: every configuration with its settings, its
//! runs (seconds, phase times, what the guest read from the ISO) and a
//! summary ranked against the baseline. Serde data with a schema version;
//! the binary renders it as a table, Markdown, JSON or an SVG chart.

use std::collections::BTreeMap;
use std::path::PathBuf;

use isotune_stats::median;
use serde::{Deserialize, Serialize};

use crate::advice::SourceAdvice;
use crate::keys::{KeyPressed, MenuMode};
use crate::matrix::{BootConfig, SkippedConfig};
use crate::outcome::{BootNote, RunFailure};
use crate::rank::{rank, VsBaseline};
use crate::run::ReadCounters;
use isotune_host::pagecache::CacheDrop;

/// Version of the JSON schema of [`BootReport`].
pub const SCHEMA_VERSION: u32 = 2;

/// The whole result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootReport {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The image booted (the original; copies for `--storage` are in each
    /// configuration's `iso`).
    pub iso: PathBuf,
    /// The built-in workload, when no ISO was given.
    pub builtin: Option<String>,
    /// The QEMU used.
    pub qemu: QemuInfo,
    /// The accelerator asked for (`kvm`, `tcg`, `auto`).
    pub accel_requested: String,
    /// The accelerator the runs really got (from `query-kvm`), when the
    /// runs agree; `mixed` otherwise.
    pub accel_used: Option<String>,
    /// /dev/kvm is a paravirtual nested KVM (kvm_pvm): firmware code is
    /// emulated and slow, so timings do not describe a real host.
    pub kvm_pvm: bool,
    /// The host page cache was kept warm (default: dropped before each run).
    pub warm: bool,
    /// Measured runs per configuration.
    pub runs_per_config: usize,
    /// The end-of-boot marker (regex), when any.
    pub until: Option<String>,
    /// A run ends after this long without reads from the ISO, when set.
    #[serde(default)]
    pub settle_seconds: Option<f64>,
    /// A run still going after this long fails.
    #[serde(default)]
    pub timeout_seconds: f64,
    /// Key presses asked for (`--keys`), as given.
    #[serde(default)]
    pub keys: Vec<String>,
    /// `--menu`: `off` or `auto`.
    #[serde(default)]
    pub menu: MenuMode,
    /// Phase marker names, in the order given.
    pub markers: Vec<String>,
    /// The name of the configuration the others are compared with.
    pub baseline: String,
    /// Every configuration that ran, in matrix order.
    pub configs: Vec<ConfigResult>,
    /// Combinations that did not run, with the reason.
    pub skipped: Vec<SkippedConfig>,
    /// Notes for the reader (accelerator fallbacks, failed runs).
    pub notes: Vec<BootNote>,
    /// Which network source to choose at each latency, when two or more
    /// network configurations booted at it.
    #[serde(default)]
    pub source_advice: Vec<SourceAdvice>,
}

/// The QEMU binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QemuInfo {
    /// Its path.
    pub binary: PathBuf,
    /// Its version string (`10.0.2`).
    pub version: String,
}

/// One configuration's runs and summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigResult {
    /// The settings.
    pub config: BootConfig,
    /// The image this configuration booted (a copy under `--storage`).
    pub iso: PathBuf,
    /// The QEMU arguments of the VM part (machine, firmware, drive, device).
    pub argv: Vec<String>,
    /// Successful runs, in the order they were made.
    pub runs: Vec<RunRecord>,
    /// Runs that failed, one line each.
    pub failures: Vec<RunFailure>,
    /// Medians and the comparison with the baseline.
    pub summary: ConfigSummary,
}

/// One boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run number (0-based) within its configuration.
    pub run: usize,
    /// Seconds from `cont` to the end of the boot (the final marker, the
    /// guest stopping, or the start of the settled period).
    pub seconds: f64,
    /// Seconds the guest waited at a boot menu before keys were pressed;
    /// not part of `seconds`.
    #[serde(default)]
    pub menu_wait_seconds: f64,
    /// The key presses made (`--keys`, `--menu auto`).
    #[serde(default)]
    pub keys_pressed: Vec<KeyPressed>,
    /// How the run ended: `marker`, `shutdown` or `settled`.
    pub end: String,
    /// Seconds from `cont` to each phase marker that was seen.
    pub phases: BTreeMap<String, f64>,
    /// The ISO's read counters when each phase marker was seen.
    #[serde(default)]
    pub phase_reads: BTreeMap<String, ReadCounters>,
    /// Bytes the guest read from the ISO (`query-blockstats` rd_bytes).
    pub rd_bytes: u64,
    /// Read requests (`rd_operations`).
    pub rd_operations: u64,
    /// Time QEMU's block layer spent in those reads, ns (`rd_total_time_ns`).
    pub rd_total_time_ns: u64,
    /// QEMU's CPU time (user + system), seconds.
    pub qemu_cpu_seconds: f64,
    /// The accelerator this run got.
    pub accel: String,
    /// The page-cache drop before this cold run, measured before and after
    /// (absent for warm runs): `resident_after_bytes` 0 means the run was
    /// verified cold.
    #[serde(default)]
    pub cache: Option<CacheDrop>,
    /// What isotune's HTTP server answered during this run (`--source
    /// http` only): the Range requests QEMU's curl driver sent, which its
    /// `readahead` decides, unlike the guest's `rd_operations`.
    #[serde(default)]
    pub server: Option<ServerCounts>,
}

/// Requests a server isotune started answered during one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerCounts {
    /// GET requests answered with a body.
    pub requests: u64,
    /// HEAD requests (QEMU's curl driver sends one to learn the size).
    pub heads: u64,
    /// Body bytes sent.
    pub bytes: u64,
    /// Connections accepted.
    pub connections: u64,
}

impl RunRecord {
    /// Mean bytes per read request.
    pub fn bytes_per_request(&self) -> Option<f64> {
        (self.rd_operations > 0).then(|| self.rd_bytes as f64 / self.rd_operations as f64)
    }
}

/// What the guest read in one phase (medians over the runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseReads {
    /// The marker that ends the phase, or `end`.
    pub until: String,
    /// Median bytes read in the phase.
    pub median_rd_bytes: f64,
    /// Median read requests in the phase.
    pub median_rd_operations: f64,
    /// Median bytes per request in the phase (runs with no request left out).
    pub median_bytes_per_request: Option<f64>,
}

/// One run's reads split at its markers, in the order they were seen.
fn run_phases(r: &RunRecord) -> Vec<(String, u64, u64)> {
    let mut seen: Vec<(&String, f64)> = r
        .phases
        .iter()
        .filter(|(m, _)| r.phase_reads.contains_key(*m))
        .map(|(m, t)| (m, *t))
        .collect();
    seen.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut out = Vec::new();
    let (mut bytes, mut ops) = (0u64, 0u64);
    for (m, _) in seen {
        let c = r.phase_reads[m];
        out.push((
            m.clone(),
            c.rd_bytes.saturating_sub(bytes),
            c.rd_operations.saturating_sub(ops),
        ));
        (bytes, ops) = (c.rd_bytes.max(bytes), c.rd_operations.max(ops));
    }
    out.push((
        "end".to_owned(),
        r.rd_bytes.saturating_sub(bytes),
        r.rd_operations.saturating_sub(ops),
    ));
    out
}

fn phase_reads(runs: &[RunRecord]) -> Vec<PhaseReads> {
    let mut order: Vec<String> = Vec::new();
    let mut by: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for r in runs {
        for (name, b, o) in run_phases(r) {
            if !order.contains(&name) {
                order.push(name.clone());
            }
            by.entry(name).or_default().push((b, o));
        }
    }
    // `end` last whatever the order the runs met the markers in.
    order.retain(|n| n != "end");
    order.push("end".to_owned());
    order
        .into_iter()
        .filter_map(|until| {
            let v = by.get(&until)?;
            Some(PhaseReads {
                median_rd_bytes: med(v.iter().map(|x| x.0 as f64))?,
                median_rd_operations: med(v.iter().map(|x| x.1 as f64))?,
                median_bytes_per_request: med(v
                    .iter()
                    .filter(|x| x.1 > 0)
                    .map(|x| x.0 as f64 / x.1 as f64)),
                until,
            })
        })
        .collect()
}

/// A configuration's medians.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigSummary {
    /// 1 = fastest median; `None` when no run succeeded.
    pub rank: Option<usize>,
    /// Median seconds to the end of the boot.
    pub median_seconds: Option<f64>,
    /// Median absolute deviation, seconds.
    pub mad_seconds: Option<f64>,
    /// Fastest run, seconds.
    pub min_seconds: Option<f64>,
    /// Slowest run, seconds.
    pub max_seconds: Option<f64>,
    /// Median of each phase marker's time, seconds.
    pub phase_median_seconds: BTreeMap<String, f64>,
    /// Median bytes read from the ISO.
    pub median_rd_bytes: Option<f64>,
    /// Median read requests.
    pub median_rd_operations: Option<f64>,
    /// Median bytes per request.
    pub median_bytes_per_request: Option<f64>,
    /// Median share of the wall time QEMU's block layer spent in reads
    /// (`rd_total_time_ns` / wall time): near 1 means storage-bound, near
    /// 0 means the time went to emulation and the guest.
    pub median_backend_share: Option<f64>,
    /// Median QEMU CPU seconds.
    pub median_qemu_cpu_seconds: Option<f64>,
    /// Median seconds waited at a boot menu (not in the boot time).
    #[serde(default)]
    pub median_menu_wait_seconds: Option<f64>,
    /// What was read in each phase, in boot order: up to each marker, then
    /// from the last marker to the end (`end`).
    pub phase_reads: Vec<PhaseReads>,
    /// Against the baseline (absent for the baseline itself, and when
    /// either has fewer than [`crate::rank::MIN_RUNS_TO_COMPARE`] runs).
    pub vs_baseline: Option<VsBaseline>,
}

fn med(v: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = v.collect();
    median(&v)
}

/// Fills every configuration's summary from its runs, ranking against
/// configuration `baseline`.
pub fn summarize(configs: &mut [ConfigResult], baseline: usize) {
    let samples: Vec<Vec<f64>> = configs
        .iter()
        .map(|c| c.runs.iter().map(|r| r.seconds).collect())
        .collect();
    for r in rank(&samples, baseline) {
        let c = &mut configs[r.index];
        let mut phases: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for run in &c.runs {
            for (k, v) in &run.phases {
                phases.entry(k.clone()).or_default().push(*v);
            }
        }
        c.summary = ConfigSummary {
            rank: r.rank,
            median_seconds: r.median_seconds,
            mad_seconds: r.mad_seconds,
            min_seconds: r.min_seconds,
            max_seconds: r.max_seconds,
            phase_median_seconds: phases
                .into_iter()
                .filter_map(|(k, v)| median(&v).map(|m| (k, m)))
                .collect(),
            median_rd_bytes: med(c.runs.iter().map(|r| r.rd_bytes as f64)),
            median_rd_operations: med(c.runs.iter().map(|r| r.rd_operations as f64)),
            median_bytes_per_request: med(c.runs.iter().filter_map(RunRecord::bytes_per_request)),
            median_backend_share: med(c
                .runs
                .iter()
                .filter(|r| r.seconds > 0.0)
                .map(|r| r.rd_total_time_ns as f64 / 1e9 / r.seconds)),
            median_qemu_cpu_seconds: med(c.runs.iter().map(|r| r.qemu_cpu_seconds)),
            median_menu_wait_seconds: med(c.runs.iter().map(|r| r.menu_wait_seconds)),
            phase_reads: if c.runs.is_empty() {
                Vec::new()
            } else {
                phase_reads(&c.runs)
            },
            vs_baseline: r.vs_baseline,
        };
    }
}

impl ConfigSummary {
    /// A summary with nothing measured yet.
    pub fn empty() -> Self {
        ConfigSummary {
            rank: None,
            median_seconds: None,
            mad_seconds: None,
            min_seconds: None,
            max_seconds: None,
            phase_median_seconds: BTreeMap::new(),
            median_rd_bytes: None,
            median_rd_operations: None,
            median_bytes_per_request: None,
            median_backend_share: None,
            median_qemu_cpu_seconds: None,
            median_menu_wait_seconds: None,
            phase_reads: Vec::new(),
            vs_baseline: None,
        }
    }
}

impl BootReport {
    /// Configurations in rank order (fastest first; failed ones last).
    pub fn ranked(&self) -> Vec<&ConfigResult> {
        let mut v: Vec<&ConfigResult> = self.configs.iter().collect();
        v.sort_by_key(|c| c.summary.rank.unwrap_or(usize::MAX));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{expand, MatrixSpec, WorkloadCaps};

    fn run(seconds: f64, rd_bytes: u64, ops: u64) -> RunRecord {
        RunRecord {
            run: 0,
            seconds,
            menu_wait_seconds: 0.0,
            keys_pressed: Vec::new(),
            end: "marker".to_owned(),
            phases: BTreeMap::from([("start".to_owned(), seconds / 10.0)]),
            phase_reads: BTreeMap::from([(
                "start".to_owned(),
                ReadCounters {
                    rd_bytes: 4096,
                    rd_operations: 2,
                },
            )]),
            rd_bytes,
            rd_operations: ops,
            rd_total_time_ns: (seconds * 1e8) as u64,
            qemu_cpu_seconds: seconds,
            accel: "tcg".to_owned(),
            cache: None,
            server: None,
        }
    }

    #[test]
    fn summaries_rank_and_take_medians() {
        let m = expand(
            &MatrixSpec::default(),
            WorkloadCaps {
                bios: true,
                uefi: false,
            },
        );
        let mut configs: Vec<ConfigResult> = m
            .configs
            .iter()
            .map(|c| ConfigResult {
                config: c.clone(),
                iso: "/x.iso".into(),
                argv: Vec::new(),
                runs: Vec::new(),
                failures: Vec::new(),
                summary: ConfigSummary::empty(),
            })
            .collect();
        configs[0].runs = vec![
            run(4.0, 1 << 20, 512),
            run(4.2, 1 << 20, 512),
            run(4.1, 1 << 20, 512),
        ];
        configs[2].runs = vec![
            run(1.0, 1 << 20, 64),
            run(1.1, 1 << 20, 64),
            run(1.05, 1 << 20, 64),
        ];
        summarize(&mut configs, 0);
        assert_eq!(configs[2].summary.rank, Some(1));
        assert_eq!(configs[0].summary.rank, Some(2));
        assert_eq!(configs[1].summary.rank, None);
        assert_eq!(configs[0].summary.median_bytes_per_request, Some(2048.0));
        assert_eq!(configs[2].summary.median_seconds, Some(1.05));
        assert!((configs[2].summary.phase_median_seconds["start"] - 0.105).abs() < 1e-9);
        assert!((configs[0].summary.median_backend_share.unwrap() - 0.1).abs() < 1e-6);
        assert!(configs[2].summary.vs_baseline.unwrap().speedup > 3.5);
        let phases = &configs[0].summary.phase_reads;
        assert_eq!(phases.len(), 2);
        assert_eq!(phases[0].until, "start");
        assert_eq!(phases[0].median_bytes_per_request, Some(2048.0));
        assert_eq!(phases[1].until, "end");
        assert_eq!(phases[1].median_rd_bytes, ((1 << 20) - 4096) as f64);
        assert_eq!(phases[1].median_rd_operations, 510.0);
    }
}
