//! isotune's one scan: gathers the facts the doctor's rules judge, for
//! every command that needs them (`doctor`, `check`, and later `tune`, the
//! exporter and `fleet`), so none of them grows its own copy.
//!
//! ```text
//!   ScanRequest ──► scan() ──► Scan { facts, warnings } ──► diagnose() ──► DoctorReport
//!     sysroot         host facts (/proc, /sys under a SysRoot)
//!     isos            file facts (storage chain, filesystem, page cache),
//!                     volume descriptor; block devices as devices
//!     sources         VmSource: libvirt XML files/dirs, QEMU command lines,
//!                     running QEMU processes, libvirt over its API (every
//!                     domain, with live facts), Proxmox VE configs
//!     probe           `doctor --probe`: every network source measured
//!                     (round trip, first MiB, redirects, Range support)
//!
//!   CheckRequest ──► check() ──► CheckReport: the scan for one image plus a
//!                     full integrity pass (isotune-verify), the inspection
//!                     (isotune-iso) and a short read bench (isotune-bench),
//!                     all turned into facts; the same rules make every finding.
//! ```
//!
//! Nothing here prints: progress goes through [`Progress`], results are
//! serde data, problems with one input among several are [`Warning`]s, and
//! an input that stops the scan is an [`Error`] naming the file. [`scan`]
//! keeps no state between calls, so an exporter can call it on every scrape.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bench;
mod check;
mod error;
mod iso;
mod live;
mod probe;
mod report;
mod request;
pub mod sample;
mod scan;
mod vms;

pub use bench::quick_bench;
pub use check::{check, CheckReport, CheckRequest};
pub use error::Error;
pub use iso::{boot_trace, boot_trace_of};
pub use isotune_libvirt::{resolve_uri_from_host, UriChoice};
pub use live::{DomainFacts, LibvirtFacts};
pub use probe::{probe_all, probe_url, ProbeLimits};
pub use report::{
    diagnose, diagnose_scan, DoctorReport, Note, SysctlNote, Verdict, Warning, SCHEMA_VERSION,
};
pub use request::{Progress, ScanRequest, Silent, VmSource};
pub use scan::{scan, Scan};
