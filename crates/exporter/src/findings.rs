//! The doctor's findings as metrics (`isotune_finding`), computed off the
//! scrape path.
//!
//! A full doctor scan reads a lot (every running VM's definition, the
//! storage under each ISO, libvirt), so it runs on a background thread of
//! its own at most every `interval`; a scrape only copies its last result
//! and never waits for it. A scan that fails keeps the previous findings
//! and counts an error (`isotune_collector_errors_total{collector="doctor"}`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use isotune_scan::{ScanRequest, VmSource};

use crate::collect::CollectError;
use crate::model::FindingSample;
use crate::scrape::{CollectorStatus, ErrorSink};

/// What the doctor scan reads.
#[derive(Debug, Clone)]
pub struct DoctorConfig {
    /// The libvirt URI to read domains from, when libvirt is read.
    pub libvirt_uri: Option<String>,
    /// Time between two scans (the next starts this long after the last
    /// one ended).
    pub interval: Duration,
}

/// The last findings and how the scans fared; shared between the
/// background thread and the scrapes.
#[derive(Default)]
pub struct Findings {
    state: Mutex<State>,
    errors_total: AtomicU64,
    stop: AtomicBool,
}

#[derive(Default)]
struct State {
    findings: Vec<FindingSample>,
    /// Duration and success of the last scan; `None` before the first ends.
    last: Option<(Duration, bool)>,
}

impl std::fmt::Debug for Findings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Findings")
            .field("errors_total", &self.errors_total)
            .finish_non_exhaustive()
    }
}

impl Findings {
    /// No findings yet; [`Findings::spawn`] starts the scans.
    pub fn new() -> Arc<Findings> {
        Arc::new(Findings::default())
    }

    /// Starts the background thread: a scan now, then one every
    /// `config.interval`. The thread ends after [`Findings::stop`], when
    /// the last clone of `self` is dropped, or with the process.
    pub fn spawn(self: &Arc<Self>, config: DoctorConfig, on_error: Option<ErrorSink>) {
        let weak = Arc::downgrade(self);
        // If no thread can be made there are simply no findings (and the
        // status says so: never successful).
        let _ = std::thread::Builder::new()
            .name("doctor".into())
            .spawn(move || loop {
                let Some(me) = weak.upgrade() else { return };
                if me.stop.load(Ordering::Acquire) {
                    return;
                }
                me.refresh(&config, on_error.as_ref());
                drop(me);
                std::thread::sleep(config.interval);
            });
    }

    /// Asks the background thread to end after its current scan.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    fn refresh(&self, config: &DoctorConfig, on_error: Option<&ErrorSink>) {
        let start = Instant::now();
        let result = run_doctor(config);
        let ok = result.is_ok();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(f) => state.findings = f,
            Err(e) => {
                self.errors_total.fetch_add(1, Ordering::Relaxed);
                if let Some(sink) = on_error {
                    sink("doctor", &e);
                }
            }
        }
        state.last = Some((start.elapsed(), ok));
    }

    /// The findings of the last successful scan.
    pub fn current(&self) -> Vec<FindingSample> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .findings
            .clone()
    }

    /// The doctor's line among the collectors: the last scan's duration and
    /// success (a scan still running for the first time is not a success).
    pub fn status(&self) -> CollectorStatus {
        let last = self.state.lock().unwrap_or_else(|e| e.into_inner()).last;
        CollectorStatus {
            name: "doctor",
            duration_seconds: last.map_or(0.0, |(d, _)| d.as_secs_f64()),
            success: last.is_some_and(|(_, ok)| ok),
            stale: false,
            errors_total: self.errors_total.load(Ordering::Relaxed),
        }
    }
}

/// One doctor run over the running VMs, libvirt's domains and the host.
fn run_doctor(config: &DoctorConfig) -> Result<Vec<FindingSample>, CollectError> {
    let mut sources = vec![VmSource::Running];
    if let Some(uri) = &config.libvirt_uri {
        // As the libvirt collector: a hung libvirtd holds one thread, not
        // one per doctor run; the last findings stay meanwhile.
        let stuck = isotune_libvirt::stuck_calls();
        if stuck > 0 {
            return Err(CollectError::Doctor(format!(
                "libvirt at {uri}: {stuck} earlier call(s) still wait for an answer; \
                 keeping the last findings"
            )));
        }
        sources.push(VmSource::Libvirt {
            uri: uri.clone(),
            explicit: false,
        });
    }
    let req = ScanRequest {
        sources,
        vm_isos: true,
        ..ScanRequest::default()
    };
    let scan = isotune_scan::scan(&req).map_err(|e| CollectError::Doctor(e.to_string()))?;
    let report = isotune_scan::diagnose_scan(scan);
    let mut out: Vec<FindingSample> = report
        .findings
        .iter()
        .map(|f| {
            let (domain, drive) = subject_labels(&f.subject);
            FindingSample {
                id: f.id.to_string(),
                severity: severity(f.severity).to_string(),
                domain,
                drive,
            }
        })
        .collect();
    // One series per label set, even if two findings share their labels.
    out.sort_by(|a, b| (&a.id, &a.domain, &a.drive).cmp(&(&b.id, &b.domain, &b.drive)));
    out.dedup_by(|a, b| a.id == b.id && a.domain == b.domain && a.drive == b.drive);
    Ok(out)
}

fn severity(s: isotune_doctor::Severity) -> &'static str {
    match s {
        isotune_doctor::Severity::Info => "info",
        isotune_doctor::Severity::Warn => "warn",
        isotune_doctor::Severity::Error => "error",
    }
}

/// The `domain` and `drive` labels from a finding's subject, which the
/// doctor writes as `VM "NAME" drive TARGET (SOURCE)`, `VM "NAME" ...`, or
/// a path or device for host and image findings (then both are empty).
pub fn subject_labels(subject: &str) -> (String, String) {
    let Some(rest) = subject.strip_prefix("VM \"") else {
        return (String::new(), String::new());
    };
    let Some((name, tail)) = rest.split_once('"') else {
        return (String::new(), String::new());
    };
    let drive = tail
        .strip_prefix(" drive ")
        .and_then(|t| t.split(' ').next())
        .unwrap_or("");
    (name.to_string(), drive.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_give_domain_and_drive() {
        assert_eq!(
            subject_labels("VM \"web1\" drive hdc (/isos/x.iso)"),
            ("web1".into(), "hdc".into())
        );
        assert_eq!(
            subject_labels("VM \"web1\" controller sata0"),
            ("web1".into(), String::new())
        );
        assert_eq!(
            subject_labels("/isos/x.iso"),
            (String::new(), String::new())
        );
    }
}
