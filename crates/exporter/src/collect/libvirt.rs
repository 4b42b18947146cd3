//! The libvirt collector: per cdrom of every running domain, read counters
//! (one non-waiting `virConnectGetAllDomainStats` call), media and bus (the
//! live domain XML).
//!
//! Each run opens a fresh read-only connection (`isotune_libvirt::scan`,
//! running domains and their live XML only),
//! so a libvirtd that was restarted is simply reached again by the next
//! scrape: there is no connection to go stale. Every libvirt call has a
//! deadline (the crate's worker thread); a call that misses it ends the
//! run with what was read so far and an error, and until that call
//! returns (libvirtd answers at last) later runs do not connect again, so
//! a hung libvirtd holds one thread, not one per scrape.

use std::time::Duration;

use isotune_libvirt::{scan, ScanOptions};
use isotune_vmconfig::{Media, Source as Medium};

use super::qmp::bus_name;
use super::{CollectError, Collected};
use crate::model::{CdromSample, Source};

pub(super) fn collect(uri: &str, call_timeout: Duration) -> Collected {
    // A call of an earlier run still waits for a hung libvirtd: connecting
    // again would only leave one more thread waiting with it.
    let stuck = isotune_libvirt::stuck_calls();
    if stuck > 0 {
        return Collected {
            errors: vec![CollectError::Libvirt(format!(
                "libvirt at {uri}: {stuck} earlier call(s) still wait for an answer; \
                 not connecting again until they return"
            ))],
            ..Collected::default()
        };
    }
    let read = scan(
        uri,
        &ScanOptions {
            call_timeout,
            running_only: true,
        },
    );
    let mut out = Collected {
        errors: read
            .warnings
            .iter()
            .map(|w| CollectError::Libvirt(w.to_string()))
            .collect(),
        ..Collected::default()
    };
    for d in read.domains.iter().filter(|d| d.state.is_active()) {
        let Some(live) = &d.live else { continue };
        for c in &d.cdroms {
            let drive = live
                .drives
                .iter()
                .find(|x| x.media == Media::Cdrom && x.id.as_deref() == Some(c.target.as_str()));
            let iso = match &c.media {
                Medium::File { path } | Medium::Block { path } => Some(path.clone()),
                Medium::Http { url, .. } | Medium::Nbd { url } | Medium::Network { url, .. } => {
                    Some(url.into())
                }
                _ => None,
            };
            let iso_size_bytes = iso
                .as_deref()
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len());
            if let Some(e) = &c.stats_error {
                out.errors.push(CollectError::Libvirt(format!(
                    "domain {} cdrom {}: no block stats: {e}",
                    d.name, c.target
                )));
            }
            let stats = c.stats.unwrap_or(isotune_libvirt::BlockReadStats {
                rd_req: None,
                rd_bytes: None,
                rd_total_times_ns: None,
            });
            out.samples.cdroms.push(CdromSample {
                source: Source::Libvirt,
                domain: d.name.clone(),
                drive: c.target.clone(),
                bus: bus_name(drive.map(|x| &x.bus), &c.target),
                iso,
                iso_size_bytes,
                tray_open: c.tray_open,
                read_requests: stats.rd_req.unwrap_or(0),
                read_bytes: stats.rd_bytes.unwrap_or(0),
                read_time_ns: stats.rd_total_times_ns.unwrap_or(0),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libvirt's built-in test driver (in-process, no daemon): one running
    /// domain without a cdrom, so nothing to report and nothing wrong.
    #[test]
    fn the_test_driver_reads_without_errors() {
        let c = collect("test:///default", Duration::from_secs(5));
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert!(c.samples.cdroms.is_empty(), "{:?}", c.samples.cdroms);
    }

    /// A libvirtd that is not there: one error naming the URI, no samples.
    #[test]
    fn an_absent_libvirtd_is_one_error() {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!(
            "qemu+unix:///system?socket={}",
            dir.path().join("no-such.sock").display()
        );
        let c = collect(&uri, Duration::from_secs(5));
        assert!(c.samples.cdroms.is_empty());
        assert_eq!(c.errors.len(), 1, "{:?}", c.errors);
        let msg = c.errors[0].to_string();
        assert!(msg.contains("unreachable") && msg.contains(&uri), "{msg}");
    }
}
