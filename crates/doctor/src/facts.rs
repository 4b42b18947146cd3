//! What the rules look at. The scan (`isotune-scan`) gathers these; rules
//! only read them, so every rule is tested on literal facts.

use std::path::PathBuf;

use isotune_host::{FileFacts, HostFacts};
use isotune_vmconfig::VmDefinition;
use serde::{Deserialize, Serialize};

use crate::finding::Severity;

/// Everything the doctor was given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// The host, when it was examined.
    pub host: Option<HostFacts>,
    /// Each ISO file and what it sits on.
    pub files: Vec<FileFacts>,
    /// Each ISO's integrity, when it was verified.
    pub images: Vec<ImageFacts>,
    /// VM definitions (XML files, command lines, running processes).
    pub vms: Vec<VmDefinition>,
    /// Short read measurements of an image on this host's storage.
    #[serde(default)]
    pub bench: Vec<BenchFacts>,
}

/// What verify and inspect found about one image. The fields after
/// `implanted_md5` are filled by `isotune check` (a full integrity pass and
/// an inspection); `doctor --iso` only reads the volume descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageFacts {
    /// The image.
    pub path: PathBuf,
    /// Its size, bytes.
    pub file_bytes: u64,
    /// The size its primary volume descriptor declares, bytes (`None`: no
    /// readable descriptor).
    pub volume_bytes: Option<u64>,
    /// The implanted MD5 (implantisomd5), when the image carries one.
    pub implanted_md5: Option<ImplantedMd5>,
    /// What reading the volume descriptor gave.
    #[serde(default)]
    pub volume: VolumeRead,
    /// Whether a full integrity pass ran (digests computed, the implanted
    /// MD5 checked when present).
    #[serde(default)]
    pub integrity_checked: bool,
    /// The digests computed and what they were compared with.
    #[serde(default)]
    pub digests: Vec<DigestCheck>,
    /// The ISO reader's anomalies.
    #[serde(default)]
    pub anomalies: Vec<ImageAnomaly>,
    /// What a boot reads, when the image was inspected.
    #[serde(default)]
    pub boot: Option<BootFacts>,
}

/// What reading the primary volume descriptor gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeRead {
    /// Not read.
    #[default]
    NotChecked,
    /// Read; `volume_bytes` holds the declared size.
    Read,
    /// The file ends before the descriptor at byte 32768 is complete.
    TooShort,
    /// The bytes where the descriptor belongs are not `CD001`.
    NotIso9660,
    /// The declared size cannot even hold the descriptors.
    InvalidSize,
}

/// One digest computed over the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestCheck {
    /// `sha256`, `md5`, ...
    pub algorithm: String,
    /// The digest computed, hex.
    pub computed_hex: String,
    /// Expected values, hex, that matched.
    pub matched: Vec<String>,
    /// Expected values, hex, that did not match.
    pub mismatched_hex: Vec<String>,
}

/// An anomaly the ISO reader reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageAnomaly {
    /// The reader's id (`tree.extent-past-end`).
    pub id: String,
    /// The reader's severity.
    pub severity: Severity,
    /// The reader's sentence.
    pub message: String,
}

/// What the default (unattended) boot reads from the image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootFacts {
    /// The image has an El Torito boot catalog.
    pub el_torito: bool,
    /// The boot files of the default entry, in load order.
    pub files: Vec<BootFileFact>,
}

/// One file the default boot reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootFileFact {
    /// Its path in the image.
    pub path: String,
    /// Its size, bytes.
    pub size_bytes: u64,
    /// Where its last extent ends in the image, bytes.
    pub end_bytes: u64,
}

/// Which access pattern a bench measurement replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BenchPattern {
    /// A sequential read in large requests.
    Sequential,
    /// The boot trace in the 2 KiB requests of a BIOS on an IDE cdrom.
    BootTrace,
}

/// The fastest run of one short bench workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchFacts {
    /// The image read.
    pub path: PathBuf,
    /// What was replayed.
    pub pattern: BenchPattern,
    /// Bytes read.
    pub bytes: u64,
    /// Requests made.
    pub requests: u64,
    /// Time taken, nanoseconds.
    pub elapsed_ns: u64,
    /// The run hit its time limit before reading everything.
    pub stopped_early: bool,
    /// The image stayed in memory (tmpfs, or the page cache could not be
    /// dropped): the reads did not reach the storage, so nothing was cold.
    pub in_memory: bool,
}

/// The implanted MD5 check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImplantedMd5 {
    /// Whether the data matches.
    pub matches: bool,
    /// The recorded digest.
    pub expected: String,
    /// The digest computed.
    pub actual: String,
    /// The first fragment that differs, when the record has fragments.
    pub failed_fragment: Option<u32>,
}
