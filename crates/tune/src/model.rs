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

/// What a change writes. A libvirt domain change will be one more variant.
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
}

impl Target {
    /// The path as on the live host.
    pub fn path(&self) -> &Path {
        match self {
            Target::Sysfs { path } | Target::File { path } => path,
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
