//! [`check`]: the main job's facts for one image. A full integrity pass
//! (isotune-verify), the inspection (isotune-iso), the scan of the host,
//! the storage under the image and the VM definitions that use it, and a
//! short read bench; every observation becomes a fact, and the doctor's
//! rules make every finding.

use std::path::{Path, PathBuf};

use isotune_doctor::{
    DigestCheck, Facts, Finding, ImageAnomaly, ImageFacts, ImplantedMd5, Severity, VolumeRead,
};
use isotune_iso::report::InspectReport;
use isotune_verify::{
    Algorithm, CheckStatus, Expected, ImplantedStatus, TruncationResult, VerifyOptions,
    VerifyReport,
};
use serde::Serialize;

use crate::report::{diagnose, DoctorReport, Verdict, SCHEMA_VERSION};
use crate::request::{Progress, ScanRequest, VmSource};
use crate::{bench, iso, scan, Error};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    /// The image (file or block device).
    pub iso: PathBuf,
    /// It is the sample isotune wrote itself.
    pub sample: bool,
    /// Checksum files to check it against.
    pub sums: Vec<PathBuf>,
    /// Expected digests, hex.
    pub expect: Vec<String>,
    /// libvirt domain XML files or directories; only the drives that use
    /// this image are kept. Running QEMU processes are always examined.
    pub xml: Vec<PathBuf>,
    /// More VM sources (libvirt over its API, Proxmox configs): every
    /// domain or VM that has this image in a drive is examined.
    pub sources: Vec<VmSource>,
    /// Run the short bench.
    pub bench: bool,
}

/// The whole `check` result.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The image checked.
    pub iso: PathBuf,
    /// The image is the sample isotune wrote itself (no ISO was given).
    pub sample: bool,
    /// `pass` (nothing of severity error) or `fail`.
    pub verdict: Verdict,
    /// Every finding, most severe first, one entry per subject (the same
    /// type as `doctor`'s; `doctor.findings` is left empty).
    pub findings: Vec<Finding>,
    /// The integrity pass.
    pub verify: VerifyReport,
    /// The structure, without the file listing (`None`: not an ISO9660
    /// image the reader can open; the findings say why).
    pub inspect: Option<InspectReport>,
    /// What the doctor saw (host, the file's storage chain, the VMs using
    /// it, the image, boot and bench facts).
    pub doctor: DoctorReport,
    /// The short bench, unless skipped (see `bench_skipped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench: Option<isotune_bench::result::BenchReport>,
    /// Why there is no bench.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench_skipped: Option<String>,
}

/// Checks one image. Fails (for exit 2) only when the image cannot be
/// opened or read at all, or a checksum input is unusable; a file that is
/// not a complete ISO9660 image is a finding.
pub fn check(req: &CheckRequest, progress: &dyn Progress) -> Result<CheckReport, Error> {
    let iso = &req.iso;
    let (file, _) = isotune_input::open_image(iso)?;
    // The scan first: its page-cache residency is the image's state before
    // the integrity pass reads all of it.
    let mut sources: Vec<VmSource> = req.xml.iter().cloned().map(VmSource::LibvirtXml).collect();
    sources.extend(req.sources.iter().cloned());
    sources.push(VmSource::Running);
    let scanned = scan(&ScanRequest {
        sysroot: None,
        isos: vec![iso.clone()],
        sources,
        vm_isos: false,
        only_using_isos: true,
        probe: false,
    })?;
    // Walk the whole tree (directory loops, overlapping or out-of-file
    // extents are anomalies) but keep the listing out of the report.
    let inspect = isotune_iso::IsoImage::open(file).ok().and_then(|image| {
        let mut r = isotune_iso::report::inspect(
            &image,
            isotune_iso::report::InspectOptions {
                files: Some(image.best_namespace()),
            },
        )
        .ok()?;
        r.files = None;
        Some(r)
    });
    let expected = req
        .expect
        .iter()
        .map(|hex| {
            Expected::parse(hex).map_err(|source| Error::Expected {
                hex: hex.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = VerifyOptions {
        algorithms: vec![Algorithm::Sha256],
        expected,
        sums_files: req.sums.clone(),
        implanted: inspect.as_ref().is_some_and(|i| i.implanted_md5.is_some()),
        ..VerifyOptions::default()
    };
    let verify = isotune_verify::verify(iso, &options, progress.verify()).map_err(|source| {
        Error::Verify {
            path: iso.clone(),
            source,
        }
    })?;

    let mut facts: Facts = scanned.facts;
    facts.images = vec![image_facts(iso, &verify, inspect.as_ref())];

    let (bench, bench_skipped) = if !req.bench {
        (None, Some("--no-bench".to_owned()))
    } else {
        match bench::quick_bench(iso, progress.bench()) {
            Ok(b) => (Some(b), None),
            Err(e) => (None, Some(e)),
        }
    };
    if let Some(b) = &bench {
        let in_memory = facts.files.first().is_some_and(iso::in_memory_fs);
        facts.bench = bench::bench_facts(iso, b, in_memory);
    }
    let mut doctor = diagnose(facts, scanned.warnings);
    doctor.libvirt = scanned.libvirt;
    doctor.notes = scanned.notes;
    let mut findings = std::mem::take(&mut doctor.findings);
    if req.sample {
        // The sample is deleted when the check ends: a fix naming its path
        // could not be run. It names the image the user will check.
        let path = iso.display().to_string();
        for f in &mut findings {
            f.fix = f.fix.replace(&path, "YOUR.iso");
        }
    }
    Ok(CheckReport {
        schema_version: SCHEMA_VERSION,
        iso: iso.clone(),
        sample: req.sample,
        verdict: Verdict::of(&findings),
        findings,
        verify,
        inspect,
        doctor,
        bench,
        bench_skipped,
    })
}

fn severity(s: isotune_iso::Severity) -> Severity {
    match s {
        isotune_iso::Severity::Info => Severity::Info,
        isotune_iso::Severity::Warn => Severity::Warn,
        isotune_iso::Severity::Error => Severity::Error,
    }
}

/// The image facts of the integrity pass and the inspection. Pure.
pub(crate) fn image_facts(
    path: &Path,
    verify: &VerifyReport,
    inspect: Option<&InspectReport>,
) -> ImageFacts {
    let from_inspect = (
        inspect.map(|i| i.volume_bytes),
        inspect.map(|i| i.file_size).unwrap_or(0),
        if inspect.is_some() {
            VolumeRead::Read
        } else {
            VolumeRead::NotChecked
        },
    );
    let (volume_bytes, file_bytes, volume) = match verify.truncation {
        TruncationResult::Complete {
            volume_bytes,
            file_bytes,
        }
        | TruncationResult::Truncated {
            volume_bytes,
            file_bytes,
            ..
        } => (Some(volume_bytes), file_bytes, VolumeRead::Read),
        TruncationResult::TooShort { file_bytes } => (None, file_bytes, VolumeRead::TooShort),
        TruncationResult::InvalidVolumeSize {
            volume_bytes,
            file_bytes,
        } => (Some(volume_bytes), file_bytes, VolumeRead::InvalidSize),
        TruncationResult::NotIso => (None, verify.bytes_read, VolumeRead::NotIso9660),
        TruncationResult::NotChecked => from_inspect,
    };
    let implanted_md5 = verify.implanted.as_ref().and_then(|imp| {
        Some(ImplantedMd5 {
            matches: imp.status == ImplantedStatus::Pass,
            expected: imp.expected_md5.clone()?,
            actual: imp.actual_md5.clone()?,
            failed_fragment: imp.failed_fragment.and_then(|f| u32::try_from(f).ok()),
        })
    });
    let digests = verify
        .digests
        .iter()
        .map(|d| DigestCheck {
            algorithm: d.algorithm.to_string(),
            computed_hex: d.hex.clone(),
            matched: d
                .expected
                .iter()
                .filter(|e| e.matches)
                .map(|e| e.hex.clone())
                .collect(),
            mismatched_hex: if d.status == CheckStatus::Fail {
                d.expected
                    .iter()
                    .filter(|e| !e.matches)
                    .map(|e| e.hex.clone())
                    .collect()
            } else {
                Vec::new()
            },
        })
        .collect();
    ImageFacts {
        path: path.to_owned(),
        file_bytes,
        volume_bytes,
        implanted_md5,
        volume,
        integrity_checked: true,
        digests,
        anomalies: inspect
            .map(|i| {
                i.anomalies
                    .iter()
                    .map(|a| ImageAnomaly {
                        id: a.id.clone(),
                        severity: severity(a.severity),
                        message: a.message.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        boot: inspect.map(iso::boot_facts),
    }
}
