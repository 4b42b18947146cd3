//! Running the collectors for one scrape without ever hanging it.
//!
//! Each collector runs on its own thread. A scrape waits for it until the
//! deadline; a collector still running then (a QEMU monitor that does not
//! answer, a stuck `/proc` read) is not waited for: the scrape serves its
//! last good samples marked stale and counts an error. While a collector's
//! run is still in flight no second one is started, so a stuck source costs
//! one thread, not one per scrape.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::collect::{CollectError, Collector};
use crate::findings::Findings;
use crate::model::{FindingSample, Samples};

/// Told about every collector error as it happens (the collector's name
/// and the error); the binary logs them.
pub type ErrorSink = Arc<dyn Fn(&'static str, &CollectError) + Send + Sync>;

/// How scrapes run.
#[derive(Clone)]
pub struct ScraperConfig {
    /// The collectors.
    pub collectors: Vec<Collector>,
    /// How long one scrape waits for a collector.
    pub deadline: Duration,
    /// Where errors go besides the error counter.
    pub on_error: Option<ErrorSink>,
    /// The doctor's findings, refreshed in the background (see
    /// [`crate::findings`]); `None`: no `isotune_finding` metric.
    pub findings: Option<Arc<Findings>>,
}

impl std::fmt::Debug for ScraperConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScraperConfig")
            .field("collectors", &self.collectors)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// The state kept between scrapes.
pub struct Scraper {
    deadline: Duration,
    slots: Vec<Arc<Slot>>,
    on_error: Option<ErrorSink>,
    findings: Option<Arc<Findings>>,
}

impl std::fmt::Debug for Scraper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scraper")
            .field("deadline", &self.deadline)
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Slot {
    collector: Collector,
    in_flight: AtomicBool,
    errors_total: AtomicU64,
    last: Mutex<Option<Samples>>,
}

/// The result of one scrape.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// All samples (fresh or stale).
    pub samples: Samples,
    /// One entry per collector.
    pub collectors: Vec<CollectorStatus>,
    /// The doctor's findings of its last background run.
    pub findings: Vec<FindingSample>,
}

/// How one collector fared in a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorStatus {
    /// The collector's name.
    pub name: &'static str,
    /// Time the scrape spent on it, seconds.
    pub duration_seconds: f64,
    /// Whether it finished without errors before the deadline.
    pub success: bool,
    /// Whether its samples are the last good ones rather than fresh.
    pub stale: bool,
    /// Errors since the exporter started.
    pub errors_total: u64,
}

impl Scraper {
    /// A scraper for `config`.
    pub fn new(config: ScraperConfig) -> Scraper {
        Scraper {
            deadline: config.deadline,
            on_error: config.on_error,
            findings: config.findings,
            slots: config
                .collectors
                .into_iter()
                .map(|collector| {
                    Arc::new(Slot {
                        collector,
                        in_flight: AtomicBool::new(false),
                        errors_total: AtomicU64::new(0),
                        last: Mutex::new(None),
                    })
                })
                .collect(),
        }
    }

    /// Runs every collector (in parallel) and gathers what arrived by the
    /// deadline.
    pub fn scrape(&self) -> Scrape {
        let start = Instant::now();
        let (tx, rx) = mpsc::channel();
        let mut pending = 0usize;
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.in_flight.swap(true, Ordering::AcqRel) {
                continue; // Still stuck in an earlier scrape: served stale below.
            }
            pending += 1;
            let slot = Arc::clone(slot);
            let tx = tx.clone();
            let on_error = self.on_error.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("collect-{}", slot.collector.name()))
                .spawn(move || {
                    let collected = slot.collector.collect();
                    if let Some(sink) = &on_error {
                        for e in &collected.errors {
                            sink(slot.collector.name(), e);
                        }
                    }
                    if !collected.errors.is_empty() {
                        slot.errors_total
                            .fetch_add(collected.errors.len() as u64, Ordering::Relaxed);
                    }
                    let ok = collected.errors.is_empty();
                    *slot.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(collected.samples);
                    slot.in_flight.store(false, Ordering::Release);
                    let _ = tx.send((i, ok, start.elapsed()));
                });
            if spawned.is_err() {
                pending -= 1;
                self.slots[i].in_flight.store(false, Ordering::Release);
            }
        }
        drop(tx);
        let mut finished: Vec<Option<(bool, Duration)>> = vec![None; self.slots.len()];
        let until = start + self.deadline;
        while pending > 0 {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((i, ok, took)) => {
                    finished[i] = Some((ok, took));
                    pending -= 1;
                }
                Err(_) => break,
            }
        }
        let mut out = Scrape::default();
        for (slot, done) in self.slots.iter().zip(finished) {
            let stale = done.is_none();
            if stale {
                slot.errors_total.fetch_add(1, Ordering::Relaxed);
                if let Some(sink) = &self.on_error {
                    let e = CollectError::Deadline {
                        seconds: self.deadline.as_secs_f64(),
                    };
                    sink(slot.collector.name(), &e);
                }
            }
            if let Some(s) = slot.last.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                out.samples.procs.extend(s.procs.iter().cloned());
                out.samples.cdroms.extend(s.cdroms.iter().cloned());
                out.samples.isos.extend(s.isos.iter().cloned());
            }
            out.collectors.push(CollectorStatus {
                name: slot.collector.name(),
                duration_seconds: done.map_or(self.deadline, |(_, d)| d).as_secs_f64(),
                success: done.is_some_and(|(ok, _)| ok),
                stale,
                errors_total: slot.errors_total.load(Ordering::Relaxed),
            });
        }
        if let Some(f) = &self.findings {
            out.findings = f.current();
            out.collectors.push(f.status());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A QMP socket that accepts and never greets: the collector blocks in
    /// its read until its (long) I/O timeout, far past the deadline.
    #[test]
    fn a_stuck_collector_is_served_stale_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("silent.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let errors: Arc<Mutex<Vec<(&'static str, CollectError)>>> = Arc::default();
        let seen = Arc::clone(&errors);
        let empty_proc = dir.path().join("root");
        std::fs::create_dir_all(empty_proc.join("proc")).unwrap();
        let scraper = Scraper::new(ScraperConfig {
            collectors: vec![
                Collector::Proc {
                    root: isotune_host::SysRoot::at(&empty_proc),
                },
                Collector::Qmp {
                    root: isotune_host::SysRoot::at(&empty_proc),
                    sockets: vec![sock],
                    io_timeout: Duration::from_secs(30),
                },
            ],
            deadline: Duration::from_millis(300),
            on_error: Some(Arc::new(move |name: &'static str, e: &CollectError| {
                seen.lock().unwrap().push((name, e.clone()));
            })),
            findings: None,
        });
        for round in 1..=2u64 {
            let s = scraper.scrape();
            let qmp = s.collectors.iter().find(|c| c.name == "qmp").unwrap();
            assert!(qmp.stale && !qmp.success, "{qmp:?}");
            // One missed deadline per scrape; the stuck run is not restarted.
            assert_eq!(qmp.errors_total, round);
            let proc = s.collectors.iter().find(|c| c.name == "proc").unwrap();
            assert!(proc.success && !proc.stale, "{proc:?}");
        }
        let errors = errors.lock().unwrap();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors
            .iter()
            .all(|(n, e)| *n == "qmp" && matches!(e, CollectError::Deadline { .. })));
        drop(listener);
    }
}
