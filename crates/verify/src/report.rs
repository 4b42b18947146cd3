//! The results of a verification, as serde data. Renderers (human, JSON)
//! only ever see these structs; nothing here formats for a terminal.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use isotune_iso::md5record::ImplantedMd5;

use crate::algorithm::Algorithm;

/// Version of the JSON schema of [`VerifyReport`] and [`crate::ImplantReport`].
/// 2: a file too short for the volume descriptor or without `CD001` fails
/// the verdict, and [`VerifyReport::failed_checks`] lists what failed.
pub const SCHEMA_VERSION: u32 = 2;

/// Everything one `verify` pass found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The image.
    pub path: PathBuf,
    /// Size of the file (or block device) in bytes.
    pub file_bytes: u64,
    /// One entry per digest computed, in [`Algorithm`] order.
    pub digests: Vec<DigestResult>,
    /// The implanted-MD5 check, when it was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implanted: Option<ImplantedResult>,
    /// Volume size against file size.
    pub truncation: TruncationResult,
    /// The checksum files consulted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sums_files: Vec<SumsFileUse>,
    /// Bytes read in the pass.
    pub bytes_read: u64,
    /// Wall time of the pass in nanoseconds.
    pub elapsed_ns: u64,
    /// `bytes_read` per second of `elapsed_ns` (0 when nothing was read).
    pub throughput_bytes_per_second: u64,
    /// The overall result.
    pub verdict: Verdict,
    /// Every check that failed, in the order digests, implanted MD5,
    /// truncation (empty unless the verdict is [`Verdict::Fail`]).
    #[serde(default)]
    pub failed_checks: Vec<FailedCheck>,
}

/// One failed check, with a stable `code` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FailedCheck {
    /// A digest differs from an expected value.
    DigestMismatch {
        /// The algorithm.
        algorithm: Algorithm,
    },
    /// The implanted MD5 (or a fragment checkpoint) differs.
    ImplantedMd5Mismatch,
    /// The file ends before the volume does.
    Truncated {
        /// Bytes missing at the end.
        missing_bytes: u64,
    },
    /// The file ends before its primary volume descriptor.
    TooShort {
        /// File size in bytes.
        file_bytes: u64,
    },
    /// The file has no ISO9660 signature (`CD001`) at byte 32769.
    NotIso,
}

impl std::fmt::Display for FailedCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailedCheck::DigestMismatch { algorithm } => {
                write!(f, "the {algorithm} digest does not match")
            }
            FailedCheck::ImplantedMd5Mismatch => f.write_str("the implanted MD5 does not match"),
            FailedCheck::Truncated { missing_bytes } => write!(
                f,
                "the image is truncated: {missing_bytes} bytes of its volume are missing"
            ),
            FailedCheck::TooShort { file_bytes } => write!(
                f,
                "the file ends at {file_bytes} bytes, before the primary volume descriptor \
                 (32768..34816): truncated, or not an ISO image"
            ),
            FailedCheck::NotIso => {
                f.write_str("not an ISO9660 image (no CD001 signature at byte 32769)")
            }
        }
    }
}

/// Overall result of a verification.
///
/// Only a comparison with a known value confirms content: a digest equal to
/// an expected value, or an implanted MD5 that passes. A complete volume
/// (the truncation check) says nothing about the bytes, so it never makes a
/// verdict `Pass` on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Nothing failed, and at least one digest matched an expected value or
    /// the implanted MD5 passed.
    Pass,
    /// A digest did not match, the implanted MD5 failed, or the truncation
    /// check failed ([`TruncationResult::failed`]: the volume is cut short,
    /// the file ends before the volume descriptor, or it has no `CD001`).
    Fail,
    /// Nothing failed, but nothing confirmed the content either: no expected
    /// value to compare with, or the implanted check was asked for and the
    /// image has no usable record ([`ImplantedStatus::NotImplanted`],
    /// [`ImplantedStatus::Incomplete`]; then even a matching digest leaves
    /// the verdict here, because a check that was asked for could not run).
    Unverified,
}

/// Whether a computed value matched what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    /// Every expected value matched.
    Pass,
    /// At least one expected value differs.
    Fail,
    /// Computed, but there was nothing to compare it with.
    NotCompared,
}

/// One digest of the whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestResult {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The digest, lower-case hex.
    pub hex: String,
    /// Every expected value given for this algorithm.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected: Vec<ExpectedResult>,
    /// Pass when all of `expected` match.
    pub status: CheckStatus,
}

/// One expected value and whether it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedResult {
    /// Expected digest, lower-case hex.
    pub hex: String,
    /// Where it came from.
    pub source: ExpectedSource,
    /// Whether the computed digest equals it.
    pub matches: bool,
}

/// Where an expected digest came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ExpectedSource {
    /// Given on the command line (`--expect`, `--sha256 HEX`).
    Argument,
    /// A line of a checksum file.
    SumsFile {
        /// The checksum file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The name the line gives (it matched the image by basename).
        name: String,
    },
}

/// How a checksum file was used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SumsFileUse {
    /// The checksum file.
    pub path: PathBuf,
    /// Entries naming this image.
    pub matched_entries: usize,
    /// Entries in the file in all.
    pub entries: usize,
    /// Lines that did not parse.
    pub malformed_lines: usize,
    /// Lines for algorithms not computed here.
    pub unsupported_lines: usize,
}

/// Result of the implanted-MD5 check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImplantedStatus {
    /// The MD5 and every fragment checkpoint match (checkisomd5: PASS).
    Pass,
    /// A fragment or the final MD5 differs (checkisomd5: FAIL).
    Fail,
    /// The application area holds no record (checkisomd5: NA).
    NotImplanted,
    /// The application area holds part of a record (`ISO MD5SUM` or
    /// `SKIPSECTORS` appears) but not one checkisomd5 accepts: a required
    /// field is missing or unreadable. checkisomd5 treats it as no record
    /// (NA, "no checksum information available"), so nothing is hashed;
    /// [`ImplantedResult::missing_fields`] names what is absent.
    Incomplete,
}

/// The implanted-MD5 check in detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImplantedResult {
    /// Pass, fail, not implanted or incomplete.
    pub status: ImplantedStatus,
    /// For [`ImplantedStatus::Incomplete`]: the fields checkisomd5 requires
    /// (`ISO MD5SUM`, `SKIPSECTORS`) that do not appear in the application
    /// area. Empty when they all appear but one is unreadable (a value that
    /// is not a number, or too close to the end of the area).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_fields: Vec<String>,
    /// The record as read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<ImplantedMd5>,
    /// The MD5 the record expects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_md5: Option<String>,
    /// The MD5 computed the checkisomd5 way (over the whole hashed range,
    /// even after a fragment failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_md5: Option<String>,
    /// The first fragment (1-based, as isomd5sum counts) whose checkpoint
    /// failed; checkisomd5 stops there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_fragment: Option<u64>,
    /// Bytes the record covers (volume size minus SKIPSECTORS).
    pub covered_bytes: u64,
    /// Bytes actually hashed (fewer when the file ends sooner).
    pub hashed_bytes: u64,
}

/// Volume size (from the PVD) against the size of the file.
///
/// Volume sizes are the little-endian volume space size × 2048 (isotune
/// always uses 2048-byte sectors; the logical block size field is not
/// trusted). [`TruncationResult::Truncated`], [`TruncationResult::TooShort`]
/// and [`TruncationResult::NotIso`] fail a verification
/// ([`TruncationResult::failed`]): `isotune verify x.iso && virt-install`
/// must stop on an empty file, a fragment of a download or an error page
/// saved under the image's name. `InvalidVolumeSize` and `NotChecked` say
/// the check could not be made.
/// When the options require an ISO image (the implanted check, or
/// `TruncationCheck::Require`), a file that is too short or not an ISO is an
/// error ([`crate::ErrorKind::Truncated`], [`crate::ErrorKind::NotIso`])
/// rather than one of these results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum TruncationResult {
    /// The file holds the whole volume (it may be longer: hybrid images
    /// are often padded).
    Complete {
        /// Volume space size × 2048, in bytes.
        volume_bytes: u64,
        /// File size in bytes.
        file_bytes: u64,
    },
    /// The file ends before the volume does: an incomplete download or copy.
    Truncated {
        /// Volume space size × 2048, in bytes.
        volume_bytes: u64,
        /// File size in bytes.
        file_bytes: u64,
        /// Bytes missing at the end.
        missing_bytes: u64,
    },
    /// The file ends (at `file_bytes`) before the primary volume descriptor
    /// at byte 32768 is complete, so the volume size is unknown: an image
    /// cut very short, or a small file that is not an image at all. Either
    /// way not a usable image: a failure.
    TooShort {
        /// File size in bytes.
        file_bytes: u64,
    },
    /// The descriptor declares a volume of fewer than 17 sectors, which
    /// cannot even hold the descriptor itself (at sector 16): the size is
    /// corrupt and nothing can be compared.
    InvalidVolumeSize {
        /// Volume space size × 2048, in bytes.
        volume_bytes: u64,
        /// File size in bytes.
        file_bytes: u64,
    },
    /// The bytes at 32769 exist and are not the ISO9660 signature `CD001`,
    /// so there is no volume size to compare: not an ISO image, a failure.
    NotIso,
    /// The check was turned off.
    NotChecked,
}

impl TruncationResult {
    /// Whether this result fails the verification: the volume is cut
    /// short, the file ends before its volume descriptor, or the file is
    /// not an ISO9660 image.
    pub fn failed(&self) -> bool {
        matches!(
            self,
            TruncationResult::Truncated { .. }
                | TruncationResult::TooShort { .. }
                | TruncationResult::NotIso
        )
    }
}

/// What an implant did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImplantReport {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The image the record was computed for.
    pub source: PathBuf,
    /// The file written: the source itself (in place), the copy, or `None`
    /// in a dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<PathBuf>,
    /// The record implanted.
    pub record: ImplantedMd5,
    /// The record that was in the application area before, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<ImplantedMd5>,
    /// Whether the application area held something (a record or other
    /// data) that `force` overwrote.
    pub overwrote_used_area: bool,
    /// Bytes hashed.
    pub hashed_bytes: u64,
    /// Wall time of the whole operation (hash, and copy if any) in nanoseconds.
    pub elapsed_ns: u64,
    /// Partial copies of `written` left by earlier runs that were killed
    /// (SIGKILL, power loss), removed before this copy was made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale_temps_removed: Vec<PathBuf>,
}

/// Bytes per second, from a byte count and nanoseconds.
pub(crate) fn throughput(bytes: u64, elapsed_ns: u64) -> u64 {
    if elapsed_ns == 0 {
        return 0;
    }
    let t = u128::from(bytes) * 1_000_000_000 / u128::from(elapsed_ns);
    u64::try_from(t).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_shapes_are_stable() {
        let t = TruncationResult::Truncated {
            volume_bytes: 10,
            file_bytes: 4,
            missing_bytes: 6,
        };
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["status"], "truncated");
        assert_eq!(v["missing_bytes"], 6);
        let s = ExpectedSource::SumsFile {
            path: "/s".into(),
            line: 3,
            name: "x.iso".into(),
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["kind"], "sums-file");
        assert_eq!(
            serde_json::to_string(&ImplantedStatus::NotImplanted).unwrap(),
            "\"not-implanted\""
        );
        assert_eq!(serde_json::to_string(&Verdict::Pass).unwrap(), "\"pass\"");
        assert_eq!(
            serde_json::to_string(&ImplantedStatus::Incomplete).unwrap(),
            "\"incomplete\""
        );
        let v = serde_json::to_value(TruncationResult::TooShort { file_bytes: 20_000 }).unwrap();
        assert_eq!(v["status"], "too-short");
        assert_eq!(v["file_bytes"], 20_000);
        let v = serde_json::to_value(TruncationResult::InvalidVolumeSize {
            volume_bytes: 0,
            file_bytes: 9,
        })
        .unwrap();
        assert_eq!(v["status"], "invalid-volume-size");
    }

    #[test]
    fn throughput_in_bytes_per_second() {
        assert_eq!(throughput(1000, 1_000_000_000), 1000);
        assert_eq!(throughput(1 << 30, 500_000_000), 2 << 30);
        assert_eq!(throughput(5, 0), 0);
    }
}
