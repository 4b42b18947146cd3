//! What the rules look at.

use std::path::PathBuf;

use isotune_host::{FileFacts, HostFacts};
use isotune_vmconfig::VmDefinition;
use serde::{Deserialize, Serialize};

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
}

/// What verify and inspect found about one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
