//! The data model shared by the parsers, the doctor and the QEMU launcher.
//!
//! Every field that a definition may leave out is an `Option`: `None` means
//! "not said", so QEMU's or libvirt's default applies, which is different
//! from an explicit value (a rule such as `drive.format-not-raw` must tell an
//! explicit `format=raw` from a probed format).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where a definition came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Origin {
    /// A libvirt domain XML file.
    LibvirtXml {
        /// The file, or `-` for standard input.
        path: PathBuf,
    },
    /// A QEMU command line given as a string.
    QemuCmdline,
    /// A running QEMU process (`/proc/PID/cmdline`).
    Process {
        /// Its process id.
        pid: u32,
    },
    /// Built by isotune itself (the boot matrix).
    Isotune,
    /// A domain read from libvirtd through the libvirt API.
    Libvirt {
        /// The connection URI (`qemu:///system`).
        uri: String,
        /// The domain name.
        domain: String,
        /// Which of the domain's XML documents this is.
        config: LibvirtConfig,
    },
    /// A Proxmox VE VM config (`/etc/pve/qemu-server/VMID.conf`).
    Proxmox {
        /// The VM id.
        vmid: u32,
        /// The config file.
        path: PathBuf,
    },
}

/// Which XML document of a libvirt domain a definition was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LibvirtConfig {
    /// The live XML of a running domain (what QEMU runs now).
    Live,
    /// The persistent (inactive) XML: what the domain boots with next.
    Inactive,
}

/// One VM's storage-relevant setup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmDefinition {
    /// The domain name (`<name>`, `-name`), when given.
    pub name: Option<String>,
    /// Where it came from.
    pub origin: Origin,
    /// libvirt `<domain type=...>` (`kvm`, `qemu`), when from XML.
    pub domain_type: Option<String>,
    /// The accelerators asked for, in order of preference (`-accel`,
    /// `-machine accel=kvm:tcg`, `-enable-kvm`, libvirt's domain type).
    /// Empty: QEMU's default (TCG).
    pub accel: Vec<Accel>,
    /// Machine type as written (`pc`, `q35`, `pc-q35-8.2`, `pc-i440fx-7.2`).
    pub machine: Option<String>,
    /// Firmware.
    pub firmware: Firmware,
    /// `-kernel` / `<kernel>`: direct kernel boot (no firmware reads of the ISO).
    pub kernel: Option<PathBuf>,
    /// `-initrd` / `<initrd>`.
    pub initrd: Option<PathBuf>,
    /// libvirt `<os><boot dev=...>` in order (`cdrom`, `hd`). libvirt refuses
    /// per-device `<boot order>` next to them, so a fix must keep whichever
    /// boot scheme the domain uses. For a Proxmox VM, the entries of its
    /// `boot: order=` as written (drive keys and net devices), so a fix that
    /// renames a drive can rewrite the order. Empty for command lines.
    #[serde(default)]
    pub boot_devices: Vec<String>,
    /// Every drive (cdroms and disks).
    pub drives: Vec<Drive>,
    /// Storage controllers (virtio-scsi, AHCI, IDE).
    pub controllers: Vec<Controller>,
    /// Ids of the iothread objects defined (`-object iothread,id=...`,
    /// `<iothreads>N</iothreads>` gives "1".."N").
    pub iothreads: Vec<String>,
    /// Memory given to the guest, bytes.
    pub memory_bytes: Option<u64>,
    /// Options that are unknown, invalid, or could not be tied to a device.
    pub issues: Vec<ConfigIssue>,
}

impl VmDefinition {
    /// A definition from `origin` with nothing in it yet: no name, no
    /// drives, default firmware, QEMU's default accelerator. Parsers fill it
    /// in; tests and the boot matrix use it with `..VmDefinition::new(..)`.
    pub fn new(origin: Origin) -> VmDefinition {
        VmDefinition {
            name: None,
            origin,
            domain_type: None,
            accel: Vec::new(),
            machine: None,
            firmware: Firmware::Default,
            kernel: None,
            initrd: None,
            boot_devices: Vec::new(),
            drives: Vec::new(),
            controllers: Vec::new(),
            iothreads: Vec::new(),
            memory_bytes: None,
            issues: Vec::new(),
        }
    }

    /// The issues as `(kind, option, context)`, for tests to compare.
    #[cfg(test)]
    pub(crate) fn issue_summary(&self) -> Vec<(IssueKind, &str, &str)> {
        self.issues
            .iter()
            .map(|i| (i.kind, i.option.as_str(), i.context.as_str()))
            .collect()
    }
}

/// An accelerator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Accel {
    /// KVM.
    Kvm,
    /// TCG: QEMU's own emulation (slow for everything, including firmware).
    Tcg,
    /// Anything else (hvf, whpx, xen, ...), as written.
    Other(String),
}

/// Firmware.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Firmware {
    /// Not said: SeaBIOS on x86.
    Default,
    /// SeaBIOS or another BIOS image (`-bios FILE`).
    Bios {
        /// The image, when given.
        path: Option<PathBuf>,
    },
    /// UEFI (OVMF): `-pflash`, `-drive if=pflash`, `<os firmware="efi">`,
    /// `<loader type="pflash">`.
    Uefi {
        /// The code image, when known.
        code: Option<PathBuf>,
    },
}

/// What a drive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Media {
    /// A CD/DVD drive.
    Cdrom,
    /// A disk.
    Disk,
    /// A floppy, pflash or anything else.
    Other,
}

/// The bus a drive hangs on, as the guest sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bus {
    /// IDE (PIIX on `pc`): `ide-cd` on an IDE bus, libvirt `bus="ide"`.
    Ide,
    /// SATA on AHCI (q35's built-in ICH9 or `-device ahci`): libvirt `bus="sata"`.
    Sata,
    /// SCSI; `controller_model` says which HBA (virtio-scsi or another).
    Scsi,
    /// virtio-blk.
    Virtio,
    /// USB storage.
    Usb,
    /// Not attached to a guest device (a `-blockdev` or `-drive if=none`
    /// nothing uses).
    None,
    /// Anything else, as written.
    Other(String),
}

/// Host cache mode (QEMU `cache=` / libvirt `<driver cache=...>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheMode {
    /// `writeback` (QEMU's default).
    Writeback,
    /// `none`: O_DIRECT on the host.
    None,
    /// `writethrough`.
    Writethrough,
    /// `directsync`: O_DIRECT.
    Directsync,
    /// `unsafe`.
    Unsafe,
    /// Anything else, as written.
    Other(String),
}

impl CacheMode {
    /// Whether the mode opens the image with O_DIRECT (`cache.direct=on`).
    pub fn is_direct(&self) -> bool {
        matches!(self, CacheMode::None | CacheMode::Directsync)
    }

    /// The mode as QEMU and libvirt write it (`writeback`, `none`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            CacheMode::Writeback => "writeback",
            CacheMode::None => "none",
            CacheMode::Writethrough => "writethrough",
            CacheMode::Directsync => "directsync",
            CacheMode::Unsafe => "unsafe",
            CacheMode::Other(s) => s,
        }
    }

    /// A mode QEMU and libvirt both spell this way; `None` for anything else
    /// (including libvirt's `default`, which callers treat as unset).
    pub(crate) fn from_name(v: &str) -> Option<CacheMode> {
        Some(match v {
            "writeback" => CacheMode::Writeback,
            "none" => CacheMode::None,
            "writethrough" => CacheMode::Writethrough,
            "directsync" => CacheMode::Directsync,
            "unsafe" => CacheMode::Unsafe,
            _ => return None,
        })
    }
}

/// Host AIO backend (`aio=` / `<driver io=...>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aio {
    /// `threads` (QEMU's default).
    Threads,
    /// `native`: Linux AIO, needs O_DIRECT.
    Native,
    /// `io_uring`.
    #[serde(rename = "io_uring")]
    IoUring,
    /// Anything else, as written.
    Other(String),
}

impl Aio {
    /// The backend as QEMU (`aio=`) and libvirt (`io=`) write it.
    pub fn as_str(&self) -> &str {
        match self {
            Aio::Threads => "threads",
            Aio::Native => "native",
            Aio::IoUring => "io_uring",
            Aio::Other(s) => s,
        }
    }

    /// A backend QEMU and libvirt both spell this way; `None` otherwise.
    pub(crate) fn from_name(v: &str) -> Option<Aio> {
        Some(match v {
            "threads" => Aio::Threads,
            "native" => Aio::Native,
            "io_uring" => Aio::IoUring,
            _ => return None,
        })
    }
}

/// Where a drive's data comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    /// No medium (an empty cdrom tray).
    Empty,
    /// A local file.
    File {
        /// Its path.
        path: PathBuf,
    },
    /// A host block device.
    Block {
        /// Its path.
        path: PathBuf,
    },
    /// HTTP/HTTPS/FTP through QEMU's curl driver.
    Http {
        /// The URL.
        url: String,
        /// `readahead=` in bytes, when set (curl's default is 256 KiB).
        readahead_bytes: Option<u64>,
        /// `timeout=` seconds, when set.
        timeout_seconds: Option<u64>,
        /// `sslverify=`, when set.
        sslverify: Option<bool>,
    },
    /// NBD.
    Nbd {
        /// `nbd://host:port/export`, `nbd+unix:///export?socket=...`, or the
        /// libvirt host/socket rendered the same way.
        url: String,
    },
    /// Another protocol (iscsi, rbd, gluster, ...).
    Network {
        /// The protocol name.
        protocol: String,
        /// What was given, rendered as a URL when possible.
        url: String,
    },
}

/// One drive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drive {
    /// Drive / node / device id, or the libvirt target dev (`sda`, `hdc`).
    pub id: Option<String>,
    /// Cdrom, disk, other.
    pub media: Media,
    /// The guest bus.
    pub bus: Bus,
    /// The QEMU device model (`ide-cd`, `scsi-cd`, `virtio-blk-pci`), when known.
    pub device: Option<String>,
    /// Id of the controller it hangs on, when known.
    pub controller: Option<String>,
    /// The data source.
    pub source: Source,
    /// Image format as written (`raw`, `qcow2`); `None` means QEMU probes it.
    pub format: Option<String>,
    /// Cache mode, when set.
    pub cache: Option<CacheMode>,
    /// `cache.direct=` when set on its own (overrides `cache`).
    pub cache_direct: Option<bool>,
    /// AIO backend, when set.
    pub aio: Option<Aio>,
    /// Read-only: `Some(true)` when set (`readonly=on`, `<readonly/>`,
    /// `media=cdrom`); `None` when not said.
    pub readonly: Option<bool>,
    /// The iothread given to this drive's device, when any.
    pub iothread: Option<String>,
    /// Boot order (`bootindex=`, `<boot order=...>`).
    pub boot_order: Option<u32>,
    /// Whether the tray is open: libvirt's `<target tray='open'/>` (its live
    /// XML writes the attribute only while the tray is open); `None` when
    /// not said.
    #[serde(default)]
    pub tray_open: Option<bool>,
}

impl Drive {
    /// A drive with only its media, bus and source known: no id, device,
    /// controller, format, cache, aio, read-only flag, iothread or boot
    /// order. Parsers fill in the rest (`..Drive::new(..)`).
    pub fn new(media: Media, bus: Bus, source: Source) -> Drive {
        Drive {
            id: None,
            media,
            bus,
            device: None,
            controller: None,
            source,
            format: None,
            cache: None,
            cache_direct: None,
            aio: None,
            readonly: None,
            iothread: None,
            boot_order: None,
            tray_open: None,
        }
    }

    /// Whether reads go through O_DIRECT on the host.
    pub fn is_direct(&self) -> bool {
        self.cache_direct
            .unwrap_or_else(|| self.cache.as_ref().is_some_and(CacheMode::is_direct))
    }

    /// The local file behind the drive, when it is one.
    pub fn local_path(&self) -> Option<&std::path::Path> {
        match &self.source {
            Source::File { path } | Source::Block { path } => Some(path),
            _ => None,
        }
    }
}

/// A storage controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Controller {
    /// Its id (`-device ...,id=`, libvirt `alias` or `type+index` like `scsi0`).
    pub id: Option<String>,
    /// What it is: `virtio-scsi`, `ahci`, `ide`, `lsilogic`, ... (libvirt
    /// type/model or QEMU device name without `-pci`).
    pub kind: String,
    /// The iothread it runs in, when any.
    pub iothread: Option<String>,
}

/// Something a parser could not fully use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigIssue {
    /// What kind of problem.
    pub kind: IssueKind,
    /// The option or element as written (`-enable-dma`, `dmqueue_size=1024`).
    pub option: String,
    /// Where: `-drive #2`, `<disk> #1`, ...
    pub context: String,
    /// One sentence.
    pub message: String,
}

impl ConfigIssue {
    /// An issue about `option` (as written) found at `context`.
    pub(crate) fn new(
        kind: IssueKind,
        option: impl Into<String>,
        context: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigIssue {
        ConfigIssue {
            kind,
            option: option.into(),
            context: context.into(),
            message: message.into(),
        }
    }
}

/// Kinds of [`ConfigIssue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssueKind {
    /// The option does not exist (in the QEMU this parser knows).
    Unknown,
    /// It exists but its value is not valid.
    Invalid,
    /// It refers to something that is not defined (a drive id no device
    /// uses, an iothread that does not exist).
    Dangling,
}
