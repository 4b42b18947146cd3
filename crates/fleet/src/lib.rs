//! The fleet view: the JSON reports of many hosts (`isotune doctor`,
//! `check`, `tune verify` and `bench` with `--json`, as the Ansible role
//! fetches them to `reports/HOST/`, or any tree of `HOST/*.json`) folded
//! into one [`FleetReport`]: findings by id across the fleet, the worst
//! hosts, the hosts whose reports are missing, stale or from an older
//! schema, drift, and warnings naming every file that could not be used.
//!
//! ```text
//! walk (hosts and their files) -> workers: read (capped) -> parse -> fold
//!                                  into a per-thread Tally -> sum -> report
//! ```
//!
//! Reports are streamed: each file is parsed into the few fields the view
//! needs and folded into counters before the next is read, so memory grows
//! with the number of hosts (one small row each), not with the size of the
//! reports. Hosts are spread over a few threads, one host per thread at a
//! time. A file larger than [`Request::limit_bytes`] is not read.
//!
//! The library is quiet; the `isotune` binary renders the report.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod fold;
mod parse;
mod report;
mod walk;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use error::Error;
pub use report::*;

use crate::fold::{Limits, Tally};

/// The largest report read by default: 64 MiB. The largest `check --json`
/// written by the test suite is a few hundred KiB; a host with thousands of
/// VMs stays well under this, and a runaway or garbage file is not read.
pub const DEFAULT_LIMIT_BYTES: u64 = 64 << 20;

/// What to read and how to judge it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Directories holding `HOST/*.json` (or one host's `*.json`).
    pub dirs: Vec<PathBuf>,
    /// Reports older than this are stale, seconds.
    pub max_age_seconds: u64,
    /// The time ages are measured from.
    pub now: SystemTime,
    /// Files larger than this are not read (a warning names them).
    pub limit_bytes: u64,
    /// Worker threads (0: one per core, at most 8).
    pub threads: usize,
}

impl Request {
    /// Reads `dirs` now, with the default limit and threads.
    pub fn new(dirs: Vec<PathBuf>, max_age_seconds: u64) -> Request {
        Request {
            dirs,
            max_age_seconds,
            now: SystemTime::now(),
            limit_bytes: DEFAULT_LIMIT_BYTES,
            threads: 0,
        }
    }
}

/// Reads every report under `req.dirs` and sums them up. Fails only when a
/// directory given cannot be read; whether anything could be read at all is
/// [`Summary::hosts_reporting`].
pub fn report(req: &Request) -> Result<FleetReport, Error> {
    let mut warnings = Vec::new();
    let hosts = walk::walk(&req.dirs, &mut warnings)?;
    let limits = Limits {
        limit_bytes: req.limit_bytes,
        max_age_seconds: req.max_age_seconds,
        now_unix_seconds: req
            .now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let threads = match req.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        n => n,
    }
    .clamp(1, hosts.len().max(1));
    let next = AtomicUsize::new(0);
    let work = || {
        let mut tally = Tally::default();
        let mut buf = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(host) = hosts.get(i) else { break };
            tally.host(host, &limits, &mut buf);
        }
        tally
    };
    let mut tally = if threads == 1 {
        work()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
            let mut total = Tally::default();
            for h in handles {
                total.merge(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            }
            total
        })
    };
    warnings.append(&mut tally.warnings);
    Ok(finish(req, tally, warnings))
}

/// Sorts everything (threads finish in any order) and picks the worst hosts.
fn finish(req: &Request, mut t: Tally, mut warnings: Vec<Warning>) -> FleetReport {
    let findings = t.findings();
    t.rows.sort_by(|a, b| a.host.cmp(&b.host));
    t.missing.sort_by(|a, b| a.host.cmp(&b.host));
    t.stale
        .sort_by(|a, b| (&a.host, &a.path).cmp(&(&b.host, &b.path)));
    t.older_schema
        .sort_by(|a, b| (&a.host, &a.path).cmp(&(&b.host, &b.path)));
    t.drift
        .sort_by(|a, b| (&a.host, &a.path, &a.target).cmp(&(&b.host, &b.path, &b.target)));
    warnings.sort_by(|a, b| (a.path(), a.code()).cmp(&(b.path(), b.code())));
    let mut worst: Vec<HostRow> = t
        .rows
        .iter()
        .filter(|r| r.errors + r.warnings + r.drift > 0)
        .cloned()
        .collect();
    // Drift counts with errors: a fix that did not hold is as urgent.
    worst.sort_by(|a, b| {
        (b.errors + b.drift, b.warnings, b.infos)
            .cmp(&(a.errors + a.drift, a.warnings, a.infos))
            .then(a.host.cmp(&b.host))
    });
    worst.truncate(WORST_HOSTS);
    let fail = findings
        .iter()
        .any(|f| f.severity == isotune_doctor::Severity::Error)
        || !t.drift.is_empty();
    FleetReport {
        schema_version: SCHEMA_VERSION,
        verdict: if fail { Verdict::Fail } else { Verdict::Pass },
        max_age_seconds: req.max_age_seconds,
        inputs: req.dirs.clone(),
        summary: t.summary,
        findings,
        worst_hosts: worst,
        hosts: t.rows,
        missing: t.missing,
        stale: t.stale,
        older_schema: t.older_schema,
        drift: t.drift,
        warnings,
    }
}

#[cfg(test)]
mod tests;
