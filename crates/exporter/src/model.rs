//! The plain data a collector produces; [`crate::metrics`] encodes it.

use std::path::PathBuf;

use serde::Serialize;

/// Where a value came from (the `source` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `/proc` of the host.
    Proc,
    /// A QEMU monitor (QMP) socket.
    Qmp,
    /// libvirt (domain block stats and the live domain XML).
    Libvirt,
}

impl Source {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Proc => "proc",
            Source::Qmp => "qmp",
            Source::Libvirt => "libvirt",
        }
    }
}

/// One QEMU process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcSample {
    /// The VM's name (`-name`), or `pid-PID` when it has none.
    pub domain: String,
    /// Process id.
    pub pid: u32,
    /// User plus system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Virtual CPUs (`-smp`; 1 when not given).
    pub vcpus: u32,
    /// Resident memory, bytes.
    pub resident_bytes: u64,
}

/// One cdrom of one VM, as its QEMU monitor or libvirt reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CdromSample {
    /// Where it was read (`qmp` or `libvirt`).
    pub source: Source,
    /// The VM's name.
    pub domain: String,
    /// The drive (QEMU's device name or qdev id).
    pub drive: String,
    /// The guest bus (`ide`, `sata`, `scsi`, `virtio`, `usb`, `unknown`).
    pub bus: String,
    /// The image in the drive; `None` for an empty tray.
    pub iso: Option<PathBuf>,
    /// Size of that image, bytes (0 when unknown).
    pub iso_size_bytes: u64,
    /// Whether the tray is open; `None` when the source does not say
    /// (libvirt's block stats do not).
    pub tray_open: Option<bool>,
    /// Read requests completed.
    pub read_requests: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Total time spent reading, nanoseconds.
    pub read_time_ns: u64,
}

/// One ISO image that a QEMU process holds open.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IsoSample {
    /// Its path.
    pub iso: PathBuf,
    /// Its size, bytes.
    pub size_bytes: u64,
    /// Bytes of it in the page cache.
    pub page_cache_bytes: u64,
    /// How many QEMU processes hold it open.
    pub open_by: u32,
    /// The block device under its filesystem (`vda`, `dm-0`, `loop3`), when
    /// it has one (not on tmpfs, NFS, overlay without a device).
    pub device: Option<String>,
    /// That device's `queue/read_ahead_kb`.
    pub read_ahead_kb: Option<u32>,
}

/// One active finding of `isotune doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingSample {
    /// The rule's id (`cdrom.ide-bus`).
    pub id: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
    /// The VM it is about ("" for a host or image finding).
    pub domain: String,
    /// The drive it is about ("" when not about one drive).
    pub drive: String,
}

/// Everything one collector found in one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Samples {
    /// QEMU processes.
    pub procs: Vec<ProcSample>,
    /// Cdroms.
    pub cdroms: Vec<CdromSample>,
    /// Open ISO images.
    pub isos: Vec<IsoSample>,
}
