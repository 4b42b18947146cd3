//! `verify`: every requested check in one read pass over the image.
//!
//! Before reading, the checksum files and expected values are resolved (so
//! a bad sums file fails fast) and sector 16 is read for the truncation and
//! implanted-MD5 checks. Then one [`crate::pipeline`] pass feeds a
//! thread per digest plus, when asked, the checkisomd5-compatible check
//! (which then also carries the plain MD5: two interleaved MD5 streams on
//! one thread, see [`crate::isomd5`]).
//!
//! A file too short to hold the primary volume descriptor is never called
//! "not an ISO": it may be an image cut short. When the options need an ISO
//! it is an [`ErrorKind::Truncated`] error; otherwise the report says
//! [`TruncationResult::TooShort`] and the verdict does not count it either
//! way (a small file checked against its digest is not a failure).

use std::fs::File;
use std::path::Path;
use std::time::Instant;

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use isotune_iso::md5record::{self, PVD_OFFSET};
use isotune_iso::ReadAt;

use crate::algorithm::{to_hex, Algorithm, Expected};
use crate::error::{Error, ErrorKind, Result};
use crate::isomd5::IsoMd5Sink;
use crate::md5fast::Md5;
use crate::pipeline::{self, PassConfig, Progress, Sink};
use crate::report::{
    throughput, CheckStatus, DigestResult, ExpectedResult, ExpectedSource, ImplantedResult,
    ImplantedStatus, SumsFileUse, TruncationResult, VerifyReport, SCHEMA_VERSION,
};
use crate::rules::{failed_checks, partial_record, truncation, verdict};
use crate::sums::SumsFile;
use crate::volume::{read_head, Head, VolumeHead};

/// When to compare the volume size with the file size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TruncationCheck {
    /// Do not look.
    Off,
    /// Check ISO images; other files report [`TruncationResult::NotIso`],
    /// files too short to tell [`TruncationResult::TooShort`].
    #[default]
    IfIso,
    /// The file must be an ISO image: [`ErrorKind::NotIso`] otherwise, and
    /// [`ErrorKind::Truncated`] when it ends before its primary volume
    /// descriptor.
    Require,
}

/// What to check.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Digests to compute even without an expected value.
    pub algorithms: Vec<Algorithm>,
    /// Expected digests given directly (`--expect`, `--sha256 HEX`).
    pub expected: Vec<Expected>,
    /// Checksum files whose entries for this image are checked. Each must
    /// list the image ([`ErrorKind::SumsEntryMissing`] otherwise).
    pub sums_files: Vec<std::path::PathBuf>,
    /// Check the implanted MD5 as checkisomd5 does. Needs an ISO image, so
    /// it makes the same errors as [`TruncationCheck::Require`].
    pub implanted: bool,
    /// The truncation check.
    pub truncation: TruncationCheck,
    /// Size of one read in bytes.
    pub chunk_size: usize,
    /// Buffers in flight (memory is `chunk_size × buffers`).
    pub buffers: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            algorithms: Vec::new(),
            expected: Vec::new(),
            sums_files: Vec::new(),
            implanted: false,
            truncation: TruncationCheck::default(),
            chunk_size: pipeline::DEFAULT_CHUNK_SIZE,
            buffers: pipeline::DEFAULT_BUFFERS,
        }
    }
}

/// Opens an image for reading through `isotune_input::open_image` (a FIFO,
/// socket or character device is refused without blocking), with errors for
/// the cases users hit: missing, a directory, unreadable.
pub(crate) fn open_image(path: &Path) -> Result<File> {
    isotune_input::open_image(path)
        .map(|(file, _)| file)
        .map_err(|e| match e {
            isotune_input::InputError::Io { source, .. } => Error::io(path, "open", source),
            other => Error::input(other, "the image"),
        })
}

/// Verifies `path` in one read pass. A digest that does not match is a
/// failed check in the report, not an error; errors are for input that
/// cannot be processed (see [`ErrorKind`]).
pub fn verify(
    path: &Path,
    options: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    let (expected, sums_files) = collect_expected(path, options)?;
    let file = open_image(path)?;
    let file_bytes = ReadAt::size(&file).map_err(|e| Error::io(path, "read the size", e))?;

    // The implanted check reads the descriptor too, but a file without one
    // is a failed truncation check (exit 1), not an input error.
    let needs_iso = options.truncation == TruncationCheck::Require;
    let head = if needs_iso || options.implanted || options.truncation == TruncationCheck::IfIso {
        Some(
            read_head(&file, file_bytes)
                .map_err(|e| Error::io(path, "read the volume descriptor", e))?,
        )
    } else {
        None
    };
    if needs_iso {
        head_or_error(path, head.as_ref())?;
    }
    // Without a descriptor (cut short, or not an ISO) the check fails; with
    // the truncation check off only the implanted check reads the head.
    let truncation = match &head {
        None => TruncationResult::NotChecked,
        Some(Head::Iso(_)) if options.truncation == TruncationCheck::Off => {
            TruncationResult::NotChecked
        }
        Some(Head::TooShort { file_bytes }) => TruncationResult::TooShort {
            file_bytes: *file_bytes,
        },
        Some(Head::NotIso) => TruncationResult::NotIso,
        Some(Head::Iso(h)) => truncation(h, file_bytes),
    };
    let head = match head {
        Some(Head::Iso(h)) => Some(h),
        _ => None,
    };

    // The digests to compute: those asked for and those with an expectation.
    let mut algorithms: Vec<Algorithm> = options.algorithms.clone();
    algorithms.extend(expected.iter().map(|(e, _)| e.algorithm));
    algorithms.sort();
    algorithms.dedup();
    let mut hashers: Vec<Hasher> = algorithms.iter().map(|&a| Hasher::new(a)).collect();

    // The implanted check, if the record is there.
    let primary = head
        .as_ref()
        .filter(|h| options.implanted && h.is_primary());
    let record = primary.and_then(|h| md5record::parse(&h.app_use));
    let missing_fields = match (primary, &record) {
        (Some(h), None) => partial_record(&h.app_use),
        _ => None,
    };
    let covered = match (&record, &head) {
        (Some(r), Some(h)) => r.hashed_len(h.isomd5_volume_bytes),
        _ => 0,
    };
    let mut isomd5 = record.as_ref().map(|r| {
        IsoMd5Sink::check(
            covered,
            r.effective_fragment_count(),
            r.fragment_sums.as_deref(),
        )
    });

    // Digests cover the whole file; checkisomd5 reads only what it hashes.
    let read_len = if !hashers.is_empty() {
        file_bytes
    } else if isomd5.is_some() {
        covered.min(file_bytes)
    } else {
        0
    };
    // With the implanted check running, the plain MD5 rides along in its
    // thread (two interleaved MD5 streams for about the CPU time of one).
    let mut sinks: Vec<&mut dyn Sink> = Vec::with_capacity(hashers.len() + 1);
    for hasher in hashers.iter_mut() {
        match (hasher, isomd5.as_mut()) {
            (Hasher::Md5(md5), Some(isomd5)) => isomd5.pair_with(std::mem::take(md5)),
            (hasher, _) => sinks.push(hasher),
        }
    }
    if let Some(s) = isomd5.as_mut() {
        sinks.push(s);
    }
    let config = PassConfig {
        chunk_size: options.chunk_size,
        buffers: options.buffers,
    };
    let started = Instant::now();
    let bytes_read = if sinks.is_empty() {
        0
    } else {
        pipeline::run(&file, read_len, &mut sinks, config, progress)
            .map_err(|e| Error::io(path, "read the image", e))?
    };
    let elapsed_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    drop(sinks);
    if let Some(plain) = isomd5.as_mut().and_then(IsoMd5Sink::take_plain) {
        let md5 = hashers.iter_mut().find(|h| matches!(h, Hasher::Md5(_)));
        if let Some(Hasher::Md5(md5)) = md5 {
            *md5 = plain;
        }
    }

    let digests: Vec<DigestResult> = hashers
        .into_iter()
        .map(|h| {
            let algorithm = h.algorithm();
            let hex = h.finish();
            let expected: Vec<ExpectedResult> = expected
                .iter()
                .filter(|(e, _)| e.algorithm == algorithm)
                .map(|(e, source)| ExpectedResult {
                    hex: e.hex.clone(),
                    source: source.clone(),
                    matches: e.hex == hex,
                })
                .collect();
            let status = if expected.is_empty() {
                CheckStatus::NotCompared
            } else if expected.iter().all(|e| e.matches) {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            };
            DigestResult {
                algorithm,
                hex,
                expected,
                status,
            }
        })
        .collect();

    let implanted = options.implanted.then(|| match (record, isomd5) {
        (Some(record), Some(sink)) => {
            let out = sink.finish();
            let pass = out.failed_fragment.is_none() && out.md5 == record.md5;
            ImplantedResult {
                status: if pass {
                    ImplantedStatus::Pass
                } else {
                    ImplantedStatus::Fail
                },
                missing_fields: Vec::new(),
                expected_md5: Some(record.md5.clone()),
                actual_md5: Some(out.md5),
                failed_fragment: out.failed_fragment,
                covered_bytes: covered,
                hashed_bytes: out.hashed,
                record: Some(record),
            }
        }
        _ => ImplantedResult {
            status: if missing_fields.is_some() {
                ImplantedStatus::Incomplete
            } else {
                ImplantedStatus::NotImplanted
            },
            missing_fields: missing_fields.unwrap_or_default(),
            record: None,
            expected_md5: None,
            actual_md5: None,
            failed_fragment: None,
            covered_bytes: 0,
            hashed_bytes: 0,
        },
    });

    let verdict = verdict(&digests, implanted.as_ref(), &truncation);
    let failed_checks = failed_checks(&digests, implanted.as_ref(), &truncation);
    Ok(VerifyReport {
        schema_version: SCHEMA_VERSION,
        path: path.to_path_buf(),
        file_bytes,
        digests,
        implanted,
        truncation,
        sums_files,
        bytes_read,
        elapsed_ns,
        throughput_bytes_per_second: throughput(bytes_read, elapsed_ns),
        verdict,
        failed_checks,
    })
}

/// The descriptor of an image the operation needs to be an ISO, or the
/// error that says why there is none.
pub(crate) fn head_or_error<'h>(path: &Path, head: Option<&'h Head>) -> Result<&'h VolumeHead> {
    match head {
        Some(Head::Iso(h)) => Ok(h),
        Some(&Head::TooShort { file_bytes }) => {
            // Only a file that reaches past the signature is surely an image.
            let (position, verdict) = if file_bytes <= PVD_OFFSET {
                ("before", "truncated or not an ISO image")
            } else if file_bytes < PVD_OFFSET + 6 {
                ("inside", "truncated or not an ISO image")
            } else {
                ("inside", "the image is truncated")
            };
            Err(Error::new(
                ErrorKind::Truncated,
                Some(path),
                format!(
                    "the file ends at {file_bytes} bytes, {position} the primary volume \
                     descriptor at byte {PVD_OFFSET}: {verdict}"
                ),
            ))
        }
        Some(Head::NotIso) | None => Err(Error::new(
            ErrorKind::NotIso,
            Some(path),
            "not an ISO9660 image (no CD001 signature at byte 32769)",
        )),
    }
}

/// An expected value and where it came from.
type Expectation = (Expected, ExpectedSource);

/// Expected values from the options and the checksum files, with sources.
fn collect_expected(
    path: &Path,
    options: &VerifyOptions,
) -> Result<(Vec<Expectation>, Vec<SumsFileUse>)> {
    let mut expected: Vec<Expectation> = options
        .expected
        .iter()
        .map(|e| (e.clone(), ExpectedSource::Argument))
        .collect();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut uses = Vec::new();
    for sums_path in &options.sums_files {
        let sums = SumsFile::read(sums_path)?;
        let matched = sums.entries_for(&name);
        if matched.is_empty() {
            return Err(Error::new(
                ErrorKind::SumsEntryMissing,
                Some(sums_path),
                format!(
                    "no entry for `{name}` among {} checksum lines",
                    sums.entries.len()
                ),
            ));
        }
        for e in &matched {
            expected.push((
                Expected {
                    algorithm: e.algorithm,
                    hex: e.hex.clone(),
                },
                ExpectedSource::SumsFile {
                    path: sums_path.clone(),
                    line: e.line,
                    name: e.name.clone(),
                },
            ));
        }
        uses.push(SumsFileUse {
            path: sums_path.clone(),
            matched_entries: matched.len(),
            entries: sums.entries.len(),
            malformed_lines: sums.malformed_lines,
            unsupported_lines: sums.unsupported_lines,
        });
    }
    Ok((expected, uses))
}

/// One running digest.
enum Hasher {
    Md5(Md5),
    Sha1(Sha1),
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn new(a: Algorithm) -> Self {
        match a {
            Algorithm::Md5 => Hasher::Md5(Md5::new()),
            Algorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Md5(_) => Algorithm::Md5,
            Hasher::Sha1(_) => Algorithm::Sha1,
            Hasher::Sha256(_) => Algorithm::Sha256,
            Hasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    fn finish(self) -> String {
        match self {
            Hasher::Md5(h) => to_hex(&h.finalize()),
            Hasher::Sha1(h) => to_hex(&h.finalize()),
            Hasher::Sha256(h) => to_hex(&h.finalize()),
            Hasher::Sha512(h) => to_hex(&h.finalize()),
        }
    }
}

impl Sink for Hasher {
    fn update(&mut self, _offset: u64, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }
}

#[cfg(test)]
mod tests;
