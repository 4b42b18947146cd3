//! What a scan is asked to look at, and how it reports progress.

use std::path::PathBuf;

/// Where VM definitions come from. The scan reads each the same way:
/// definitions in, warnings for the ones it cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VmSource {
    /// A libvirt domain XML file, a directory of them, or `-` (standard
    /// input, as `virsh dumpxml NAME | isotune doctor --xml -`).
    LibvirtXml(PathBuf),
    /// A QEMU command line, one string quoted as a shell would (the binary
    /// name may be left out).
    QemuCmdline(String),
    /// The QEMU processes running on the host (from `/proc` under the
    /// sysroot). A process that belongs to a domain of a [`VmSource::Libvirt`]
    /// read in the same scan is reported once, as that domain.
    Running,
    /// Every domain of a libvirt connection (read-only, a deadline per
    /// call): the live XML of running domains, the persistent XML of the
    /// others, and their live facts (state, cdrom media, read counters,
    /// cdrom changes waiting for the next boot).
    Libvirt {
        /// The URI (`qemu:///system`).
        uri: String,
        /// Asked for explicitly (`--connect`): when libvirt cannot be read
        /// and nothing else could be analysed, the scan fails instead of
        /// warning.
        explicit: bool,
    },
    /// A Proxmox VE config tree: `/etc/pve` (or a copy: `storage.cfg` plus
    /// `qemu-server/VMID.conf`), or a directory of `VMID.conf` files.
    Proxmox(PathBuf),
}

/// What [`scan`](crate::scan) gathers.
#[derive(Debug, Clone, Default)]
pub struct ScanRequest {
    /// Read host facts from a captured tree instead of this machine.
    pub sysroot: Option<PathBuf>,
    /// ISOs (files or block devices) to examine.
    pub isos: Vec<PathBuf>,
    /// Where VM definitions come from.
    pub sources: Vec<VmSource>,
    /// Also examine every local ISO the VM definitions use (the storage and
    /// filesystem under each), not only those in `isos`.
    pub vm_isos: bool,
    /// Keep only the VM definitions with a drive on one of `isos` (and
    /// only those drives' media as ISOs): `check`'s view of one image.
    pub only_using_isos: bool,
    /// Measure every network source (`doctor --probe`): drives' HTTP(S)
    /// and NBD URLs, the servers of network filesystems under the ISOs.
    /// Without it the scan never touches the network.
    pub probe: bool,
}

/// Progress callbacks for the long parts of a check (the integrity pass and
/// the bench). The binary draws bars from them; [`Silent`] ignores them.
pub trait Progress {
    /// The integrity pass's callback.
    fn verify(&self) -> &dyn isotune_verify::Progress;
    /// The bench runs' callback.
    fn bench(&self) -> &dyn isotune_bench::runner::Progress;
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn verify(&self) -> &dyn isotune_verify::Progress {
        &isotune_verify::NoProgress
    }
    fn bench(&self) -> &dyn isotune_bench::runner::Progress {
        &isotune_bench::runner::NoProgress
    }
}
