//! Plain data shared by the reader, the writer and every caller: extents,
//! file entries, namespaces and anomalies. All of it is serde data so the
//! binary can print it as JSON without a translation layer.

use serde::{Deserialize, Serialize};

/// The logical block (sector) size of every ISO9660 image isotune reads.
/// (ISO9660 allows other sizes in theory; no real image uses them, and an
/// image that declares one is reported as an anomaly.)
pub const SECTOR_SIZE: u64 = 2048;

/// A contiguous run of bytes on the image, starting at a sector boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Extent {
    /// First logical block (2048-byte sector) of the run.
    pub lba: u64,
    /// Length of the run in bytes (not rounded up to sectors).
    pub size: u64,
}

impl Extent {
    /// Byte offset of the first byte of the extent in the image.
    pub fn offset(&self) -> u64 {
        self.lba.saturating_mul(SECTOR_SIZE)
    }

    /// Byte offset one past the last byte of the extent.
    pub fn end(&self) -> u64 {
        self.offset().saturating_add(self.size)
    }

    /// Number of sectors the extent occupies (its size rounded up).
    pub fn sectors(&self) -> u64 {
        self.size.div_ceil(SECTOR_SIZE)
    }
}

/// Which directory tree a path was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Namespace {
    /// Plain ISO9660 names from the primary volume descriptor (`;1` stripped).
    Iso9660,
    /// Joliet (UCS-2) names from a supplementary volume descriptor.
    Joliet,
    /// Rock Ridge names and attributes on top of the primary tree.
    RockRidge,
}

/// What a directory entry is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A Rock Ridge symbolic link.
    Symlink,
    /// A Rock Ridge device node, FIFO or socket.
    Special,
}

/// One entry of a directory tree, with where its data lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Absolute path in the namespace it was read from, `/`-separated,
    /// without ISO9660 version suffixes (`;1`).
    pub path: String,
    /// What the entry is.
    pub kind: FileKind,
    /// Data size in bytes (for multi-extent files, the sum over all extents).
    pub size: u64,
    /// Where the data lives, in file order. Multi-extent files have several.
    pub extents: Vec<Extent>,
    /// The ISO9660 "existence" (hidden) flag was set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// The ISO9660 "associated file" flag was set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub associated: bool,
    /// POSIX mode bits from Rock Ridge `PX`, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// Symbolic link target from Rock Ridge `SL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlink_target: Option<String>,
    /// Path of this directory in the physical ISO9660 tree when Rock Ridge
    /// deep-directory relocation moved it (it is shown at its logical place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relocated_from: Option<String>,
}

/// Something odd about an image, reported rather than treated as fatal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    /// Stable, dotted identifier, e.g. `image.truncated`.
    pub id: String,
    /// Severity for a reader of the report.
    pub severity: Severity,
    /// One sentence saying what was seen, with numbers and units.
    pub message: String,
    /// On the one summary that closes a capped id: how many more anomalies
    /// of this id were seen and not listed (at most
    /// [`MAX_ANOMALIES_PER_ID`](crate::tree::MAX_ANOMALIES_PER_ID) are
    /// listed per id). 0 (and absent from JSON) on every other anomaly.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unlisted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Anomaly {
    /// Builds an anomaly.
    pub fn new(id: &str, severity: Severity, message: impl Into<String>) -> Self {
        Anomaly {
            id: id.to_owned(),
            severity,
            message: message.into(),
            unlisted: 0,
        }
    }
}

/// How much an anomaly matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Normal but worth knowing (e.g. an appended EFI partition).
    Info,
    /// Probably harmless, but not what a well-made image does.
    Warn,
    /// The image is damaged or will not boot or read correctly.
    Error,
}
