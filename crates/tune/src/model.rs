//! The plan: changes isotune can make itself, and the findings that need a
//! person.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where host changes go. Tests point both at temporary directories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roots {
    /// Prefix of files isotune writes and scans (`/etc/udev/rules.d`,
    /// `/lib/udev/rules.d`, `/etc/sysctl.d`, `/etc/tuned`): `--root`.
    pub files: PathBuf,
    /// Prefix of sysfs (`/` on a live host).
    pub sysfs: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            files: PathBuf::from("/"),
            sysfs: PathBuf::from("/"),
        }
    }
}

impl Roots {
    /// The host path of `target` under these roots.
    pub fn host_path(&self, target: &Target) -> PathBuf {
        match target {
            Target::Sysfs { path } => under(&self.sysfs, path),
            Target::File { path } => under(&self.files, path),
            // Not a file: a key that names the element, for comparisons.
            Target::Domain {
                uri,
                domain,
                element,
            } => PathBuf::from(format!("libvirt:{uri}/{domain}/{element}")),
        }
    }

    /// `abs` under the files root.
    pub fn file(&self, abs: impl AsRef<Path>) -> PathBuf {
        under(&self.files, abs.as_ref())
    }
}

fn under(root: &Path, abs: &Path) -> PathBuf {
    root.join(abs.strip_prefix("/").unwrap_or(abs))
}

/// What a change writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    /// A sysfs attribute (`/sys/block/loop0/queue/read_ahead_kb`): the value
    /// is the attribute's text, trimmed.
    Sysfs {
        /// Absolute path as on the live host.
        path: PathBuf,
    },
    /// A whole file (a udev rule); absent is a value too.
    File {
        /// Absolute path as on the live host.
        path: PathBuf,
    },
    /// An element of a libvirt domain's persistent XML, changed by
    /// defining the edited XML through libvirtd (`virDomainDefineXML`).
    /// Its value (`current`, `new`, verify's `actual`) is a one-line
    /// summary of the element (`sda: bus=sata, driver name='qemu'
    /// type='raw', readonly`); the journal's old value is the whole
    /// persistent XML, which rollback defines back.
    Domain {
        /// The connection URI (`qemu:///system`).
        uri: String,
        /// The domain's name.
        domain: String,
        /// The element: a disk's target dev after the change (`sda`), or
        /// `domain` for the `<domain type>`.
        element: String,
    },
}

impl Target {
    /// What the change is written to, for people:
    /// `/sys/block/loop0/queue/read_ahead_kb`, `domain web1 disk sda`.
    pub fn label(&self) -> String {
        match self {
            Target::Sysfs { path } | Target::File { path } => path.display().to_string(),
            Target::Domain {
                domain, element, ..
            } if element == "domain" => format!("domain {domain}"),
            Target::Domain {
                domain, element, ..
            } => format!("domain {domain} disk {element}"),
        }
    }
}

/// When a change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// As soon as it is written.
    Now,
    /// At the next boot or the next udev `change` event of the device.
    NextBoot,
    /// At the libvirt domain's next start (it is running now; isotune
    /// never restarts it).
    NextStart,
}

/// One change isotune can make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Stable id within the plan (`readahead:loop0`, `readahead-rule:loop0`).
    pub id: String,
    /// The finding it fixes (`storage.low-readahead`).
    pub finding: String,
    /// What the finding was about (`/dev/loop0`).
    pub subject: String,
    /// What it writes.
    pub target: Target,
    /// The value now (`None`: a file that does not exist).
    pub current: Option<String>,
    /// The value it writes.
    pub new: String,
    /// When it takes effect.
    pub effect: Effect,
    /// Whether it survives a reboot.
    pub persists: bool,
    /// Something the user should know about this change.
    pub note: Option<ChangeNote>,
    /// For a libvirt domain change: the edits and the XML diff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainChange>,
}

/// How a libvirt domain change edits the persistent XML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainChange {
    /// The doctor's edits (bus changed as chosen), applied by `apply` to
    /// the persistent XML as it is then.
    pub edits: Vec<isotune_doctor::fix::DomainEdit>,
    /// Unified diff of the persistent XML, as planned.
    pub diff: String,
    /// Whether the domain was running when planned.
    pub running: bool,
    /// For a cdrom moved off IDE: the bus chosen and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<BusChoice>,
}

/// The bus a cdrom moves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bus {
    /// AHCI: every guest has a driver.
    Sata,
    /// virtio-scsi: faster, needs the guest's virtio driver.
    VirtioScsi,
}

impl std::fmt::Display for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bus::Sata => "sata",
            Bus::VirtioScsi => "virtio-scsi",
        })
    }
}

/// The bus chosen for a cdrom and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusChoice {
    /// The bus.
    pub bus: Bus,
    /// Why (`--bus`, the libosinfo id, no libosinfo metadata).
    pub why: String,
}

/// A note on a change: a stable `code` in JSON, a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ChangeNote {
    /// The device has no attribute a udev rule could name it by across
    /// reboots, so the value is set now only.
    NotPersisted {
        /// Kernel name of the device.
        device: String,
    },
}

impl std::fmt::Display for ChangeNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangeNote::NotPersisted { device } => write!(
                f,
                "{device} has no WWN, serial or uuid for a udev rule to name it by: set now only, not persisted"
            ),
        }
    }
}

/// A finding isotune cannot fix itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manual {
    /// The finding's id.
    pub finding: String,
    /// What it is about.
    pub subject: String,
    /// Its one-line title.
    pub title: String,
    /// The doctor's fix.
    pub fix: String,
}

/// Version of the JSON schema of [`Plan`].
pub const PLAN_SCHEMA_VERSION: u32 = 1;

/// The changes isotune can make and the findings that need a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Changes in the order `apply` makes them.
    pub changes: Vec<Change>,
    /// Findings listed for a person, with the doctor's fix.
    pub manual: Vec<Manual>,
    /// Where the changes are written.
    pub roots: Roots,
}

impl Plan {
    /// Keeps the changes whose id or finding id is in `only` (all when empty).
    pub fn select(mut self, only: &[String]) -> Plan {
        if !only.is_empty() {
            self.changes
                .retain(|c| only.iter().any(|o| *o == c.id || *o == c.finding));
        }
        self
    }
}
