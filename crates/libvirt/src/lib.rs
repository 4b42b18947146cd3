//! libvirt as a source of VM definitions and live facts for isotune.
//!
//! This is the only isotune crate that links libvirt (through libvirt's own
//! Rust bindings, the `virt` crate). The scan reads, never changes: its
//! connections are opened read-only. [`mod@define`] is the one read-write
//! part: `isotune tune` defines an edited persistent XML through it.
//!
//! - [`uri`]: which libvirt to talk to (`--connect`, `LIBVIRT_DEFAULT_URI`,
//!   `qemu:///system` when its socket exists, or none, and why).
//! - [`mod@scan`]: every domain, running and defined-but-off, as
//!   [`isotune_vmconfig::VmDefinition`]s (live and persistent XML) plus live
//!   facts (state, cdrom media, read counters), with [`LibvirtWarning`]s for
//!   whatever could not be read.
//! - [`matching`]: which domain a running QEMU process belongs to, so a scan
//!   of `/proc` reports it once, as the domain.
//!
//! # Never hanging
//! libvirt's client calls block until libvirtd answers, and a hung libvirtd
//! never answers; libvirt's own keepalive needs an event loop this crate
//! does not run. So every libvirt call runs on one worker thread
//! (module `worker`) and the caller waits for its answer with a deadline
//! ([`ScanOptions::call_timeout`], 5 s by default). When a call misses its
//! deadline the scan stops there, returns what it has with a
//! [`LibvirtWarning::Timeout`] naming the call, and leaves the worker
//! thread behind: it ends by itself if libvirtd ever answers, or with the
//! process.

#![warn(missing_docs)]
#![deny(unsafe_code)]

mod bulk;
pub mod define;
pub mod matching;
pub mod scan;
mod stats;
pub mod uri;
mod warning;
mod worker;

pub use define::{define_xml, inactive_xml, is_active, shutdown, start, DefineError};
pub use matching::{match_process, match_process_pid};
pub use scan::{
    scan, BlockReadStats, CdromFacts, Domain, DomainState, LibvirtScan, PendingCdromChange,
    ScanOptions,
};
pub use uri::{resolve_uri, resolve_uri_from_host, NoLibvirt, UriChoice};
pub use warning::LibvirtWarning;
pub use worker::stuck_calls;
