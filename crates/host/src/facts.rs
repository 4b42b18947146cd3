//! The facts the host readers produce and the doctor's rules consume.
//! Plain serde data: rules are tested on literal values of these types.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Everything about the host that does not depend on one file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFacts {
    /// Memory (`/proc/meminfo`).
    pub memory: Option<MemoryFacts>,
    /// The accelerator.
    pub accel: AccelFacts,
    /// Network sysctls and `vm.dirty_*`, reported with what they do (and do
    /// not do) for ISO reads.
    pub sysctls: Vec<Sysctl>,
    /// Running QEMU processes.
    pub qemu_processes: Vec<QemuProcess>,
    /// Running `qemu-nbd` servers (how many clients each serves, whether
    /// it outlives its first one, is in their command line).
    #[serde(default)]
    pub nbd_servers: Vec<NbdServerProcess>,
    /// Entries that could not be read, one line each (`/proc/meminfo: permission denied`).
    pub warnings: Vec<String>,
}

/// `/proc/meminfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryFacts {
    /// MemTotal, bytes.
    pub total_bytes: u64,
    /// MemAvailable, bytes.
    pub available_bytes: u64,
}

/// What hardware virtualisation the host offers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccelFacts {
    /// `/dev/kvm` exists.
    pub kvm_device: bool,
    /// `/dev/kvm` can be opened read-write by this user (only checked on
    /// the live root; `None` when not checked).
    pub kvm_accessible: Option<bool>,
    /// The CPU has `vmx` (Intel VT-x).
    pub vmx: bool,
    /// The CPU has `svm` (AMD-V).
    pub svm: bool,
    /// The CPU has the `hypervisor` flag: this host is itself a VM.
    pub hypervisor: bool,
    /// Loaded KVM modules (`kvm`, `kvm_intel`, `kvm_amd`, `kvm_pvm`) from
    /// `/proc/modules` or `/sys/module`.
    pub kvm_modules: Vec<String>,
    /// `kvm_intel`/`kvm_amd` parameter `nested` (Y/1 -> true), when present.
    pub nested: Option<bool>,
    /// A paravirtual nested KVM (`kvm_pvm`) provides /dev/kvm: firmware
    /// real-mode code is emulated and very slow.
    pub pvm: bool,
}

/// One sysctl value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sysctl {
    /// Dotted name (`net.core.somaxconn`).
    pub name: String,
    /// The value as read, trimmed.
    pub value: String,
}

/// A running QEMU process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QemuProcess {
    /// Process id.
    pub pid: u32,
    /// `/proc/PID/cmdline`, split at NUL.
    pub argv: Vec<String>,
    /// Its working directory (relative paths in `argv` are relative to it).
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// Files it has open (`/proc/PID/fd`) that can be a medium: regular
    /// files and block devices, not sockets, pipes or /dev nodes like
    /// /dev/kvm. The scan matches ISOs against these and the parsed drives.
    #[serde(default)]
    pub open_files: Vec<PathBuf>,
}

/// A running `qemu-nbd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NbdServerProcess {
    /// Process id.
    pub pid: u32,
    /// `/proc/PID/cmdline`, split at NUL.
    pub argv: Vec<String>,
}

/// Everything about one file (an ISO) and what it sits on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileFacts {
    /// The file as asked about.
    pub path: PathBuf,
    /// Its size, bytes.
    pub size_bytes: u64,
    /// `major:minor` of the device holding it (statx `stx_dev_*`).
    pub device: Option<DevNum>,
    /// The mount holding it.
    pub mount: Option<MountFacts>,
    /// The block devices under it, top (the filesystem's device) first.
    pub storage: Vec<BlockLayer>,
    /// Bytes of it resident in the page cache now, when measured (the
    /// caller fills this: it needs the live file, not the sysroot).
    pub resident_bytes: Option<u64>,
    /// Entries that could not be read.
    pub warnings: Vec<String>,
    /// The path is a block device (`/dev/sr0`, `/dev/loop0`): `size_bytes`
    /// is the device's, `device` is the device itself, and `storage`
    /// starts at it (a loop device's layer names its backing file).
    #[serde(default)]
    pub block_device: bool,
}

/// A device number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevNum {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountFacts {
    /// Mount point.
    pub mount_point: PathBuf,
    /// Filesystem type (`ext4`, `nfs4`, `fuse.sshfs`, ...).
    pub fstype: String,
    /// The mount source (`/dev/mapper/vg-root`, `server:/export`).
    pub source: String,
    /// Per-mount options (`rw,noatime`).
    pub mount_options: Vec<String>,
    /// Superblock options (`rw,vers=4.2,rsize=1048576,...`).
    pub super_options: Vec<String>,
    /// When the filesystem is a network one.
    pub network: Option<NetworkFs>,
}

/// A network filesystem and the options that matter for reading an ISO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkFs {
    /// Which kind.
    pub kind: NetworkFsKind,
    /// The server (host name or address), when it can be told.
    pub server: Option<String>,
    /// NFS `vers=`.
    pub vers: Option<String>,
    /// `rsize=` bytes (NFS, CIFS).
    pub rsize_bytes: Option<u64>,
    /// NFS `nconnect=`.
    pub nconnect: Option<u32>,
    /// NFS `actimeo=` (or `acregmin`), seconds.
    pub actimeo_seconds: Option<u64>,
    /// `wsize=` bytes (NFS).
    #[serde(default)]
    pub wsize_bytes: Option<u64>,
    /// NFS `noac`: no attribute caching.
    #[serde(default)]
    pub noac: bool,
    /// CIFS `cache=` (`strict`, `loose`, `none`).
    pub cache: Option<String>,
}

/// Kinds of [`NetworkFs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkFsKind {
    /// NFS (`nfs`, `nfs4`).
    Nfs,
    /// SMB (`cifs`, `smb3`).
    Cifs,
    /// A FUSE filesystem; the subtype (`sshfs`, `s3fs`), when given.
    Fuse(Option<String>),
    /// Other network filesystems (ceph, glusterfs, 9p, virtiofs).
    Other(String),
}

/// What a block layer is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LayerKind {
    /// A whole disk.
    Disk,
    /// A partition of the next layer.
    Partition,
    /// device-mapper; `target` is `lvm`, `crypt`, `multipath` or the uuid
    /// prefix as read.
    DeviceMapper {
        /// `dm/name`.
        name: String,
        /// From `dm/uuid` (`LVM-...` -> `lvm`, `CRYPT-...` -> `crypt`).
        target: String,
    },
    /// md RAID.
    Md {
        /// `md/level` (`raid1`).
        level: Option<String>,
    },
    /// A loop device.
    Loop {
        /// `loop/backing_file`, as read (ending in ` (deleted)` when the
        /// file has been removed). The layers under the file system holding
        /// it follow the loop layer in the chain.
        backing_file: Option<PathBuf>,
        /// `loop/dio` (direct I/O to the backing file).
        direct_io: Option<bool>,
    },
}

/// The class of a device, as far as reads are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceClass {
    /// NVMe SSD.
    Nvme,
    /// SATA/SAS SSD (non-rotational, not NVMe).
    Ssd,
    /// Spinning disk.
    Hdd,
    /// A virtual disk (virtio-blk, xen, a cloud volume): the host is a VM.
    Virtual,
    /// A network block device (nbd, rbd, iSCSI).
    Network,
    /// A stacked layer (dm, md, loop, partition): see the layers under it.
    Stacked,
    /// Could not be told.
    Unknown,
}

/// One block device in the chain, with its queue settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockLayer {
    /// Kernel name (`nvme0n1p2`, `dm-0`, `sda`, `loop3`).
    pub name: String,
    /// Device number.
    pub dev: DevNum,
    /// What it is.
    pub kind: LayerKind,
    /// Its class.
    pub class: DeviceClass,
    /// Names of the layers directly below (`slaves/`, a partition's disk,
    /// the top layer under a loop device's backing file).
    pub below: Vec<String>,
    /// `queue/rotational`.
    pub rotational: Option<bool>,
    /// The active `queue/scheduler` (the bracketed one).
    pub scheduler: Option<String>,
    /// `queue/nr_requests`.
    pub nr_requests: Option<u32>,
    /// `queue/read_ahead_kb` (KiB, as the kernel names it).
    pub read_ahead_kb: Option<u32>,
    /// `queue/max_sectors_kb`.
    pub max_sectors_kb: Option<u32>,
    /// `queue/logical_block_size`, bytes.
    pub logical_block_bytes: Option<u32>,
    /// `queue/physical_block_size`, bytes.
    pub physical_block_bytes: Option<u32>,
    /// `device/model` (trimmed).
    pub model: Option<String>,
}
