//! Collectors: each reads one source of host state into [`Samples`].
//!
//! [`Collector`] is an enum rather than a trait object so that the set of
//! sources is visible in one place.

mod libvirt;
mod proc;
mod qmp;
mod qmp_socket;

use std::path::PathBuf;
use std::time::Duration;

use isotune_host::SysRoot;

use crate::model::Samples;

pub use proc::{cpu_seconds, resident_bytes, vcpus};
pub use qmp_socket::qmp_socket_from_argv;

/// A source of samples.
#[derive(Debug, Clone)]
pub enum Collector {
    /// QEMU processes in `/proc`: CPU, vCPUs, memory, the ISOs they hold
    /// open and their page-cache residency.
    Proc {
        /// Where `/proc` is.
        root: SysRoot,
    },
    /// Cdrom counters from QEMU monitors: the sockets given, plus every
    /// `-qmp unix:` socket named on a running QEMU's command line.
    Qmp {
        /// Where `/proc` is (to find sockets and buses on command lines).
        root: SysRoot,
        /// Sockets given explicitly (`--qmp PATH`).
        sockets: Vec<PathBuf>,
        /// Timeout of one QMP read or write.
        io_timeout: Duration,
    },
    /// Cdroms of the running domains of one libvirt connection (read-only,
    /// opened afresh on each run).
    Libvirt {
        /// The URI (`qemu:///system`).
        uri: String,
        /// Deadline of each libvirt call.
        call_timeout: Duration,
    },
}

impl Collector {
    /// The `collector` label value.
    pub fn name(&self) -> &'static str {
        match self {
            Collector::Proc { .. } => "proc",
            Collector::Qmp { .. } => "qmp",
            Collector::Libvirt { .. } => "libvirt",
        }
    }

    /// Reads the source once. Problems with single items (a VM that exited,
    /// a socket that refuses) leave that item out and are reported in
    /// [`Collected::errors`]; the rest is still returned.
    pub fn collect(&self) -> Collected {
        match self {
            Collector::Proc { root } => proc::collect(root),
            Collector::Qmp {
                root,
                sockets,
                io_timeout,
            } => qmp::collect(root, sockets, *io_timeout),
            Collector::Libvirt { uri, call_timeout } => libvirt::collect(uri, *call_timeout),
        }
    }
}

/// What one run of a collector found.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    /// The samples.
    pub samples: Samples,
    /// Problems met on the way (counted in `isotune_collector_errors_total`).
    pub errors: Vec<CollectError>,
}

/// A problem one collector met with one item.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// A QMP socket could not be used.
    #[error("QMP socket {path}: {reason}")]
    Qmp {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// libvirt could not be read (unreachable, refused, a call past its
    /// deadline, a domain that vanished).
    #[error("{0}")]
    Libvirt(String),
    /// The doctor's scan failed.
    #[error("doctor scan: {0}")]
    Doctor(String),
    /// A `/proc` entry could not be read.
    #[error("{0}")]
    Proc(String),
    /// The collector was still running when the scrape's deadline passed.
    #[error("still running after the deadline of {seconds} s; serving its last values")]
    Deadline {
        /// The deadline, seconds.
        seconds: f64,
    },
}
