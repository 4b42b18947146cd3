//! The runner: executes a workload's requests on an engine several times and
//! measures each run.
//!
//! For every run (warm-ups first, then the measured ones) it prepares the page
//! cache (cold: drop the target's pages and record how much stayed resident;
//! warm: read the target into the cache once before the first run), then
//! hands the requests to the engine and records every completion's latency in
//! an HDR histogram (nanoseconds, 3 significant digits, as fio's `clat`
//! percentiles), the bytes and requests done, the wall time and the CPU time
//! the process used. Progress goes through [`Progress`]; nothing prints.
//!
//! Limits: a size limit keeps a prefix of the request list; a runtime limit
//! stops submitting once it has passed (the engine is fed in chunks so the
//! check happens every few milliseconds) and the run reports what it did.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::cache;
use crate::result::{
    CacheState, Latency, RunMeasurement, RunResult, WorkloadResult, WorkloadSummary,
    COLD_RESIDENT_FRACTION,
};
use crate::target::Target;
use crate::workload::{total_bytes, WorkloadSpec};
use crate::{Engine, Error, ErrorKind, Request, Result};

/// Page-cache state the runs start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheMode {
    /// The target's pages are dropped before every run: what a VM sees the
    /// first time it reads the ISO.
    Cold,
    /// The target is read into the cache once before the first run: what a
    /// VM sees when the ISO was read recently (a re-install, a CI loop).
    Warm,
    /// The target is read over the network: the server's cache decides,
    /// and isotune can neither drop nor fill it.
    Server,
}

/// How a workload is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    /// Measured runs (at least 1).
    pub runs: usize,
    /// Warm-up runs before the measured ones, not in the statistics.
    pub warmup: usize,
    /// Cold or warm page cache.
    pub cache: CacheMode,
    /// Requests in flight at most (psync always runs one).
    pub queue_depth: u32,
    /// Read at most this many bytes per run (a prefix of the request list).
    pub size_limit_bytes: Option<u64>,
    /// Stop submitting once a run has lasted this long.
    pub runtime_limit: Option<Duration>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            runs: 5,
            warmup: 1,
            cache: CacheMode::Cold,
            queue_depth: 1,
            size_limit_bytes: None,
            runtime_limit: None,
        }
    }
}

/// Receives progress; the CLI draws bars with it. Calls come from the thread
/// that runs the workload.
pub trait Progress {
    /// Run `run` of `total_runs` (1-based, warm-ups included) of `workload`
    /// starts and will read `total_bytes` unless a runtime limit stops it.
    fn run_started(&self, workload: &str, run: usize, total_runs: usize, total_bytes: u64);
    /// `bytes_done` more bytes completed since the previous call.
    fn advance(&self, bytes_done: u64);
    /// The run started last has finished.
    fn run_finished(&self);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn run_started(&self, _: &str, _: usize, _: usize, _: u64) {}
    fn advance(&self, _: u64) {}
    fn run_finished(&self) {}
}

/// Bytes between two [`Progress::advance`] calls at most (and the number of
/// completions), so progress costs nothing measurable at 100k+ IOPS.
const PROGRESS_STEP_BYTES: u64 = 8 << 20;
const PROGRESS_STEP_REQUESTS: u64 = 4096;

/// Runs `requests` of workload `name` on `engine` as `config` says and
/// returns every run with the summary.
pub fn run_workload(
    target: &Target,
    engine: &mut dyn Engine,
    name: &str,
    spec: &WorkloadSpec,
    requests: &[Request],
    config: &RunConfig,
    progress: &dyn Progress,
) -> Result<WorkloadResult> {
    let requests = prepare_requests(name, requests, config)?;
    let planned_bytes = total_bytes(&requests);

    match config.cache {
        CacheMode::Warm => cache::warm(target)?,
        CacheMode::Cold => {}
        CacheMode::Server => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "the server cache mode is for network sources only",
            ))
        }
    }
    // The same readahead hints fio gives by default (fadvise_hint=1); the
    // boot trace gets none, like QEMU reading an image.
    cache::advise(
        target,
        match spec {
            WorkloadSpec::Seq { .. } => cache::AccessHint::Sequential,
            WorkloadSpec::Rand { .. } => cache::AccessHint::Random,
            WorkloadSpec::Boot { .. } => cache::AccessHint::Normal,
        },
    )?;

    let (warmup_runs, runs, summary) = run_loop(
        name,
        &requests,
        config,
        progress,
        || match config.cache {
            CacheMode::Cold => {
                let drop = cache::drop_pages(target)?;
                let allowed = planned_bytes as f64 * COLD_RESIDENT_FRACTION;
                Ok(Some(CacheState {
                    resident_before_bytes: drop.resident_before_bytes,
                    resident_after_bytes: drop.resident_after_bytes,
                    dropped: drop.resident_after_bytes as f64 <= allowed,
                }))
            }
            CacheMode::Warm | CacheMode::Server => Ok(None),
        },
        |requests, deadline, on_done| {
            engine.run_until(target, requests, config.queue_depth, deadline, on_done)
        },
    )?;
    Ok(WorkloadResult {
        name: name.to_owned(),
        spec: spec.clone(),
        engine: engine.kind(),
        queue_depth: config.queue_depth,
        direct: target.direct(),
        cache_mode: config.cache,
        request_count: requests.len() as u64,
        request_bytes: planned_bytes,
        warmup_runs,
        runs,
        summary,
    })
}

/// Checks a run configuration and applies its size limit to `requests`.
pub(crate) fn prepare_requests<'a>(
    name: &str,
    requests: &'a [Request],
    config: &RunConfig,
) -> Result<std::borrow::Cow<'a, [Request]>> {
    if config.runs == 0 {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "at least one measured run is needed",
        ));
    }
    if config.queue_depth == 0 {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "the queue depth must be at least 1",
        ));
    }
    if requests.is_empty() {
        return Err(Error::new(
            ErrorKind::Workload,
            format!("workload `{name}` has no requests"),
        ));
    }
    Ok(match config.size_limit_bytes {
        // Copy (up to 256 MiB of request list) only when something is cut.
        Some(limit) if total_bytes(requests) > limit => {
            let mut v = requests.to_vec();
            crate::workload::truncate_to_bytes(&mut v, limit);
            std::borrow::Cow::Owned(v)
        }
        _ => std::borrow::Cow::Borrowed(requests),
    })
}

/// Warm-up runs, measured runs and their summary.
pub(crate) type RunLoopResult = (Vec<RunResult>, Vec<RunResult>, WorkloadSummary);

/// The runs of one workload (warm-ups first) whatever reads the requests:
/// `prepare` sets up each run (the page cache of a file), `execute` reads
/// the requests until the deadline and returns how many completed.
pub(crate) fn run_loop(
    name: &str,
    requests: &[Request],
    config: &RunConfig,
    progress: &dyn Progress,
    mut prepare: impl FnMut() -> Result<Option<CacheState>>,
    mut execute: impl FnMut(
        &[Request],
        Option<Instant>,
        &mut dyn FnMut(crate::Completion<'_>),
    ) -> Result<usize>,
) -> Result<RunLoopResult> {
    let planned_bytes = total_bytes(requests);
    let total_runs = config.warmup + config.runs;
    let mut merged = new_histogram();
    let mut warmup_runs = Vec::with_capacity(config.warmup);
    let mut runs = Vec::with_capacity(config.runs);
    for i in 0..total_runs {
        let warmup = i < config.warmup;
        let cache_state = prepare()?;
        progress.run_started(name, i + 1, total_runs, planned_bytes);
        let (measurement, hist) =
            measure_run(&mut execute, requests, config.runtime_limit, progress);
        progress.run_finished();
        let measurement = measurement?;
        let latency = Latency::from_histogram(&hist);
        if warmup {
            let n = warmup_runs.len() + 1;
            warmup_runs.push(RunResult::new(n, true, measurement, latency, cache_state));
        } else {
            merged
                .add(&hist)
                .map_err(|e| Error::new(ErrorKind::Io, format!("merging latencies: {e}")))?;
            let n = runs.len() + 1;
            runs.push(RunResult::new(n, false, measurement, latency, cache_state));
        }
    }
    let summary = WorkloadSummary::from_runs(&runs, Latency::from_histogram(&merged));
    Ok((warmup_runs, runs, summary))
}

fn new_histogram() -> Histogram<u64> {
    // Auto-resizing from 1 ns: never fails to record, 3 significant digits.
    let mut h = Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits is valid"));
    h.auto(true);
    h
}

/// One pass over `requests`; the histogram is returned even on error so the
/// caller's progress bookkeeping stays simple.
fn measure_run(
    execute: &mut impl FnMut(
        &[Request],
        Option<Instant>,
        &mut dyn FnMut(crate::Completion<'_>),
    ) -> Result<usize>,
    requests: &[Request],
    runtime_limit: Option<Duration>,
    progress: &dyn Progress,
) -> (Result<RunMeasurement>, Histogram<u64>) {
    let mut hist = new_histogram();
    let mut bytes = 0u64;
    let mut done = 0u64;
    let mut pending_bytes = 0u64;
    let mut pending_requests = 0u64;
    let mut stopped_early = false;

    let cpu_before = cpu_times();
    let start = Instant::now();
    // One engine call for the whole list: with a runtime limit the engine
    // stops queuing at the deadline but keeps its queue full until then.
    let deadline = runtime_limit.map(|limit| start + limit);
    let result = execute(requests, deadline, &mut |c| {
        // `record` grows an auto-resizing histogram; `saturating_record`
        // would clamp to its current (initially tiny) range.
        if hist.record(c.latency_ns).is_err() {
            hist.saturating_record(c.latency_ns);
        }
        bytes += u64::from(c.bytes);
        done += 1;
        pending_bytes += u64::from(c.bytes);
        pending_requests += 1;
        if pending_bytes >= PROGRESS_STEP_BYTES || pending_requests >= PROGRESS_STEP_REQUESTS {
            progress.advance(pending_bytes);
            pending_bytes = 0;
            pending_requests = 0;
        }
    })
    .map(|completed| {
        stopped_early = completed < requests.len();
    });
    let elapsed = start.elapsed();
    let cpu_after = cpu_times();
    if pending_bytes > 0 {
        progress.advance(pending_bytes);
    }

    let measurement = result.map(|()| RunMeasurement {
        bytes,
        requests: done,
        elapsed,
        cpu_user_ns: cpu_after.0.saturating_sub(cpu_before.0),
        cpu_sys_ns: cpu_after.1.saturating_sub(cpu_before.1),
        stopped_early,
    });
    (measurement, hist)
}

/// User and system CPU time of the whole process so far, in nanoseconds.
///
/// `RUSAGE_SELF` rather than `RUSAGE_THREAD`: io_uring's kernel workers
/// (io-wq) are threads of the process and their time belongs to the run, as in
/// fio, whose jobs are processes. The catch: any other thread of the caller
/// (a progress-bar ticker) is counted too.
#[allow(unsafe_code)]
fn cpu_times() -> (u64, u64) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` points to writable memory the size of `struct rusage`;
    // getrusage only writes into it, and RUSAGE_SELF is always a valid `who`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return (0, 0);
    }
    // SAFETY: getrusage returned 0, so it filled the struct (and it was
    // zero-initialised anyway, which is a valid `rusage`).
    let usage = unsafe { usage.assume_init() };
    let ns = |tv: libc::timeval| {
        u64::try_from(tv.tv_sec).unwrap_or(0) * 1_000_000_000
            + u64::try_from(tv.tv_usec).unwrap_or(0) * 1000
    };
    (ns(usage.ru_utime), ns(usage.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_moves_forward() {
        let (u0, s0) = cpu_times();
        let mut x = 0u64;
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        std::hint::black_box(x);
        let (u1, s1) = cpu_times();
        assert!(u1 + s1 > u0 + s0, "({u0},{s0}) -> ({u1},{s1})");
    }

    #[test]
    fn the_histogram_grows_to_any_latency() {
        // Regression: `saturating_record` clamped every latency to 2 ns.
        let mut h = new_histogram();
        for v in [1u64, 150_000, 13_000_000, 5_000_000_000] {
            assert!(h.record(v).is_ok());
        }
        assert!(h.max().abs_diff(5_000_000_000) <= 5_000_000);
        let l = Latency::from_histogram(&h);
        assert!(l.p50.abs_diff(150_000) <= 150, "{l:?}");
    }

    #[test]
    fn defaults() {
        let c = RunConfig::default();
        assert_eq!(
            (c.runs, c.warmup, c.cache, c.queue_depth),
            (5, 1, CacheMode::Cold, 1)
        );
        assert_eq!(serde_json::to_string(&CacheMode::Warm).unwrap(), "\"warm\"");
    }
}
