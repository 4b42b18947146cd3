//! `isotune check`: the main job. Verifies the image (truncation, implanted
//! MD5, digests against any checksum given), inspects what a boot reads,
//! runs the doctor for this ISO (the host, the storage and filesystem under
//! the file, and every VM definition or running QEMU that uses it) and a
//! short cold-cache bench, then turns it all into one prioritised list of
//! findings with a verdict.
//!
//! With no ISO it writes the sample image of `isotune_iso::sample` to a
//! temporary directory, implants an MD5 into it, and checks that — so the
//! command works on a fresh machine right after `cargo build`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use isotune_iso::report::InspectReport;
use isotune_iso::sample::{self, SampleSizes};
use isotune_iso::Severity;
use isotune_verify::{
    Algorithm, CheckStatus, ImplantedStatus, TruncationResult, VerifyOptions, VerifyReport,
};
use serde::Serialize;

use super::Context;
use crate::args::CheckArgs;
use crate::{output, render, Outcome};

/// Version of the JSON schema of [`CheckReport`].
pub const SCHEMA_VERSION: u32 = 1;

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
    pub verdict: CheckVerdict,
    /// What to look at, most severe first.
    pub findings: Vec<Finding>,
    /// The integrity pass.
    pub verify: VerifyReport,
    /// The structure, without the file listing.
    pub inspect: InspectReport,
    /// What the doctor saw (host, the file's storage chain, the VMs using it).
    pub doctor: super::doctor::DoctorReport,
    /// The short bench, unless `--no-bench` (or it could not run: see
    /// `bench_skipped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench: Option<isotune_bench::result::BenchReport>,
    /// Why there is no bench.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench_skipped: Option<String>,
}

/// Overall result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckVerdict {
    /// No finding of severity error.
    Pass,
    /// At least one finding of severity error.
    Fail,
}

/// One thing the check found, with the evidence and what to do.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable identifier (e.g. `image.truncated`).
    pub id: String,
    /// How much it matters.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// What was seen, with numbers and units.
    pub evidence: String,
    /// What to do about it, when something can be done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The layer, for findings from the doctor's rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<isotune_doctor::Layer>,
    /// What it applies to, for findings from the doctor's rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Why it matters, for findings from the doctor's rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// Where it is documented, for findings from the doctor's rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl From<&isotune_doctor::Finding> for Finding {
    fn from(f: &isotune_doctor::Finding) -> Self {
        Finding {
            id: f.id.to_owned(),
            severity: f.severity,
            title: f.title.clone(),
            evidence: f.evidence.join("; "),
            fix: Some(f.fix.clone()),
            layer: Some(f.layer),
            subject: Some(f.subject.clone()),
            why: Some(f.why.clone()),
            reference: Some(f.reference.clone()),
        }
    }
}

/// Runs `isotune check`.
pub fn run(ctx: &Context, args: &CheckArgs) -> Result<Outcome> {
    // Keep the temporary directory alive until the report is written.
    let (iso, sample, _tmp) = match &args.iso {
        Some(p) => (p.clone(), false, None),
        None => {
            let (path, dir) = write_sample()?;
            (path, true, Some(dir))
        }
    };
    let report = gather(ctx, &iso, sample, args)?;
    if let Some(md) = &args.markdown {
        let mut f = output::open_beside(md, &[&iso])?;
        render::check::markdown(&mut f, &report)?;
    }
    let mut out = output::open(None)?;
    if args.json {
        output::json(&mut out, &report)?;
    } else {
        render::check::human(&mut out, &report, ctx.color)?;
    }
    Ok(match report.verdict {
        CheckVerdict::Pass => Outcome::Pass,
        CheckVerdict::Fail => Outcome::Fail,
    })
}

fn write_sample() -> Result<(PathBuf, tempfile::TempDir)> {
    let dir = tempfile::Builder::new()
        .prefix("isotune-check.")
        .tempdir()
        .context("cannot create a temporary directory for the sample image")?;
    let path = dir.path().join("isotune-sample.iso");
    sample::write_sample(&path, SampleSizes::default())
        .with_context(|| format!("cannot write the sample image {}", path.display()))?;
    // We made this file, so writing into it is fine: it gives the implanted
    // check something real to verify.
    isotune_verify::implant_in_place(&path, false, &isotune_verify::NoProgress)
        .with_context(|| format!("cannot implant an MD5 into {}", path.display()))?;
    Ok((path, dir))
}

/// Runs the inspect and verify passes and derives the findings.
pub fn gather(ctx: &Context, iso: &Path, sample: bool, args: &CheckArgs) -> Result<CheckReport> {
    // Walk the whole tree (directory loops, overlapping or out-of-file
    // extents are findings) but keep the listing out of the report.
    let image = super::inspect::open(iso)?;
    let mut inspect = isotune_iso::report::inspect(
        &image,
        isotune_iso::report::InspectOptions {
            files: Some(image.best_namespace()),
        },
    )
    .with_context(|| format!("cannot read {}", iso.display()))?;
    inspect.files = None;
    let options = VerifyOptions {
        algorithms: vec![Algorithm::Sha256],
        expected: super::verify::expected(&args.expect)?,
        sums_files: args.sums.clone(),
        implanted: inspect.implanted_md5.is_some(),
        ..VerifyOptions::default()
    };
    let verify = super::verify::verify_with_bar(ctx, iso, &options, "check")?;
    let mut findings = findings(&verify, &inspect);
    let doctor = doctor(iso, &verify, args)?;
    // The image rules of the doctor see the same facts verify reported
    // above, with less detail: keep verify's. Every other finding stays,
    // one per VM, drive or device.
    for f in &doctor.findings {
        let duplicate =
            f.layer == isotune_doctor::Layer::Image && findings.iter().any(|g| g.id == f.id);
        if !duplicate {
            findings.push(f.into());
        }
    }
    let (bench, bench_skipped) = if args.no_bench {
        (None, Some("--no-bench".to_owned()))
    } else {
        match super::bench::quick(ctx, iso) {
            Ok(b) => (Some(b), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        }
    };
    if let Some(b) = &bench {
        findings.extend(bench_findings(b));
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let verdict = if findings.iter().any(|f| f.severity == Severity::Error) {
        CheckVerdict::Fail
    } else {
        CheckVerdict::Pass
    };
    Ok(CheckReport {
        schema_version: SCHEMA_VERSION,
        iso: iso.to_owned(),
        sample,
        verdict,
        findings,
        verify,
        inspect,
        doctor,
        bench,
        bench_skipped,
    })
}

/// The doctor for this ISO: the host, the file's storage chain, and the VM
/// definitions (from `--xml` and running QEMU processes) that use it.
fn doctor(
    iso: &Path,
    verify: &VerifyReport,
    args: &CheckArgs,
) -> Result<super::doctor::DoctorReport> {
    use super::doctor as d;
    let host = isotune_host::host_facts(&isotune_host::SysRoot::live());
    let (file, image) = d::iso_facts(iso)?;
    let image = image.map(|mut i| {
        i.implanted_md5 = verify.implanted.as_ref().and_then(|imp| {
            Some(isotune_doctor::ImplantedMd5 {
                matches: imp.status == ImplantedStatus::Pass,
                expected: imp.expected_md5.clone()?,
                actual: imp.actual_md5.clone()?,
                failed_fragment: imp.failed_fragment.and_then(|f| u32::try_from(f).ok()),
            })
        });
        i
    });
    let mut warnings = Vec::new();
    let mut vms = Vec::new();
    let mut unrelated = 0usize;
    for x in &args.xml {
        // The ISO is being analysed whatever happens to the XML: a bad
        // file is a warning, not the end of the check.
        let loaded = match d::load_xml(x, &mut warnings) {
            Ok(v) => v,
            Err(e) => {
                warnings.push(format!("not examined: {e:#}"));
                Vec::new()
            }
        };
        for vm in loaded {
            if d::uses_iso(&vm, iso) {
                vms.push(vm);
            } else {
                unrelated += 1;
            }
        }
    }
    if unrelated > 0 {
        warnings.push(format!(
            "{unrelated} VM definition{} given with --xml do{} not use {} (use `isotune doctor --xml` to examine {})",
            if unrelated == 1 { "" } else { "s" },
            if unrelated == 1 { "es" } else { "" },
            iso.display(),
            if unrelated == 1 { "it" } else { "them" }
        ));
    }
    vms.extend(
        d::running_vms(&host)
            .into_iter()
            .filter(|vm| d::uses_iso(vm, iso)),
    );
    Ok(d::diagnose(
        host,
        vec![file],
        image.into_iter().collect(),
        vms,
        warnings,
    ))
}

/// What the short bench says, as findings.
fn bench_findings(b: &isotune_bench::result::BenchReport) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in &b.workloads {
        let Some(run) = w.runs.iter().min_by_key(|r| r.elapsed_ns) else {
            continue;
        };
        if run.requests == 0 || run.elapsed_ns == 0 {
            continue;
        }
        let mbps = run.bandwidth_bytes_per_s / 1e6;
        let per_req_us = run.elapsed_ns as f64 / run.requests as f64 / 1e3;
        let boot = matches!(w.spec, isotune_bench::workload::WorkloadSpec::Boot { .. });
        let (id, title) = if boot {
            (
                "bench.boot-trace",
                "the boot trace from a cold cache, in 2 KiB requests",
            )
        } else {
            ("bench.cold-read", "a sequential read from a cold cache")
        };
        let evidence = format!(
            "{} read in {:.3} s in {} requests of {}: {mbps:.1} MB/s, {per_req_us:.1} µs per request{}",
            crate::render::bytes(run.bytes),
            run.elapsed_ns as f64 / 1e9,
            run.requests,
            crate::render::bytes(run.bytes / run.requests),
            if run.stopped_early {
                " (stopped after 2.5 s)"
            } else {
                ""
            }
        );
        let fix = if boot && per_req_us > 500.0 {
            Some("the host storage is slow at small reads: copy the ISO to an SSD or tmpfs, or raise read-ahead (see the storage findings)")
        } else {
            None
        };
        out.push(finding(
            id,
            if fix.is_some() {
                Severity::Warn
            } else {
                Severity::Info
            },
            title,
            evidence,
            fix,
        ));
    }
    out
}

fn finding(
    id: &str,
    severity: Severity,
    title: &str,
    evidence: String,
    fix: Option<&str>,
) -> Finding {
    Finding {
        id: id.to_owned(),
        severity,
        title: title.to_owned(),
        evidence,
        fix: fix.map(str::to_owned),
        layer: None,
        subject: None,
        why: None,
        reference: None,
    }
}

/// Turns the two passes into findings. Pure: tested on literal reports.
pub fn findings(verify: &VerifyReport, inspect: &InspectReport) -> Vec<Finding> {
    let mut out = Vec::new();
    if let TruncationResult::Truncated {
        volume_bytes,
        file_bytes,
        missing_bytes,
    } = verify.truncation
    {
        out.push(finding(
            "image.truncated",
            Severity::Error,
            "the image is truncated",
            format!(
                "the volume descriptor declares {volume_bytes} bytes but the file has {file_bytes}: \
                 {missing_bytes} bytes are missing at the end"
            ),
            Some("download or copy the image again, then check it against the publisher's checksum file: isotune verify --sums SHA256SUMS IMAGE"),
        ));
    }
    match verify.truncation {
        TruncationResult::TooShort { file_bytes } => out.push(finding(
            "image.truncated",
            Severity::Error,
            "the file is too short to hold an ISO9660 volume",
            format!("it ends at {file_bytes} bytes, before the volume descriptor at byte 32768"),
            Some("download or copy the image again"),
        )),
        TruncationResult::InvalidVolumeSize { volume_bytes, .. } => out.push(finding(
            "image.invalid-volume-size",
            Severity::Error,
            "the volume descriptor declares an impossible volume size",
            format!("{volume_bytes} bytes, smaller than the descriptors themselves"),
            Some("the image is corrupt: download or copy it again"),
        )),
        _ => {}
    }
    if let Some(imp) = &verify.implanted {
        if imp.status == ImplantedStatus::Fail {
            let at = imp
                .failed_fragment
                .map(|f| format!(" (fragment {f} is the first that differs)"))
                .unwrap_or_default();
            out.push(finding(
                "image.md5-mismatch",
                Severity::Error,
                "the implanted MD5 does not match the data",
                format!(
                    "implanted {}, computed {}{at}",
                    imp.expected_md5.as_deref().unwrap_or("?"),
                    imp.actual_md5.as_deref().unwrap_or("?")
                ),
                Some("the image is corrupt: download or copy it again"),
            ));
        }
    }
    for d in &verify.digests {
        if d.status == CheckStatus::Fail {
            let want: Vec<&str> = d
                .expected
                .iter()
                .filter(|e| !e.matches)
                .map(|e| e.hex.as_str())
                .collect();
            out.push(finding(
                "image.digest-mismatch",
                Severity::Error,
                &format!(
                    "the {} digest does not match the expected value",
                    d.algorithm
                ),
                format!("computed {}, expected {}", d.hex, want.join(" or ")),
                Some("the image is corrupt or not the one the checksum names: download it again"),
            ));
        }
    }
    let confirmed = verify.digests.iter().any(|d| d.status == CheckStatus::Pass)
        || verify
            .implanted
            .as_ref()
            .is_some_and(|i| i.status == ImplantedStatus::Pass);
    if !confirmed && verify.verdict != isotune_verify::Verdict::Fail {
        out.push(finding(
            "image.unverified",
            Severity::Info,
            "nothing confirms the image's content",
            "it has no implanted MD5 and no checksum was given".to_owned(),
            Some("pass the publisher's checksum file: isotune check IMAGE --sums SHA256SUMS"),
        ));
    }
    // The reader's own anomalies. On a truncated image every file past the
    // cut is a symptom of the one cause: fold them into the truncation
    // finding instead of listing each.
    let truncated = out.iter().any(|f| f.id == "image.truncated");
    const SYMPTOMS: [&str; 4] = [
        "image.truncated",
        "tree.extent-past-end",
        "boot.file-past-end",
        "boot.unreadable-file",
    ];
    let mut folded = 0usize;
    for a in &inspect.anomalies {
        if truncated && SYMPTOMS.contains(&a.id.as_str()) {
            folded += usize::from(a.id != "image.truncated");
            continue;
        }
        out.push(finding(
            &a.id,
            a.severity,
            &a.message,
            a.message.clone(),
            None,
        ));
    }
    if truncated {
        let lost: Vec<&str> = isotune_iso::bootfiles::default_boot_files(&inspect.boot_files)
            .into_iter()
            .filter(|f| f.extents.iter().any(|e| e.end() > inspect.file_size))
            .map(|f| f.path.as_str())
            .collect();
        if let Some(t) = out.iter_mut().find(|f| f.id == "image.truncated") {
            if !lost.is_empty() {
                t.evidence
                    .push_str(&format!("; the boot cannot load {}", lost.join(", ")));
            }
            if folded > 0 {
                t.evidence.push_str(&format!(
                    " ({folded} more anomal{} about data past the end: `isotune inspect --files` lists them)",
                    if folded == 1 { "y" } else { "ies" }
                ));
            }
        }
    }
    if !inspect.el_torito.present {
        out.push(finding(
            "boot.not-bootable",
            Severity::Warn,
            "the image has no El Torito boot catalog",
            "a VM cannot boot from it as a CD; it can still be attached as data".to_owned(),
            None,
        ));
    }
    let default = isotune_iso::bootfiles::default_boot_files(&inspect.boot_files);
    let boot_bytes: u64 = default.iter().map(|f| f.size).sum();
    if boot_bytes > 0 && !truncated {
        // The measured request sizes (DESIGN.md "Facts"): SeaBIOS on an IDE
        // cdrom reads one 2048-byte sector per request, AHCI and virtio-scsi
        // about 16 KiB.
        out.push(finding(
            "boot.read-volume",
            Severity::Info,
            "what the default boot reads from this image",
            format!(
                "{} file{}, {} bytes: about {} requests of 2 KiB through a BIOS on an IDE cdrom, \
                 about {} of 16 KiB on virtio-scsi or AHCI",
                default.len(),
                if default.len() == 1 { "" } else { "s" },
                boot_bytes,
                boot_bytes.div_ceil(2048),
                boot_bytes.div_ceil(16 * 1024)
            ),
            Some("attach the cdrom to virtio-scsi (scsi-cd) or AHCI instead of IDE; `isotune boot` measures the difference on this host"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reports() -> (VerifyReport, InspectReport) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.iso");
        sample::write_sample(
            &path,
            SampleSizes {
                kernel_bytes: 10_000,
                initrd_bytes: 20_000,
            },
        )
        .unwrap();
        let inspect = super::super::inspect::gather(&path, None).unwrap();
        let verify = isotune_verify::verify(
            &path,
            &VerifyOptions {
                algorithms: vec![Algorithm::Sha256],
                ..VerifyOptions::default()
            },
            &isotune_verify::NoProgress,
        )
        .unwrap();
        (verify, inspect)
    }

    #[test]
    fn truncation_is_an_error_finding_once() {
        let (mut verify, mut inspect) = reports();
        verify.truncation = TruncationResult::Truncated {
            volume_bytes: 100,
            file_bytes: 40,
            missing_bytes: 60,
        };
        inspect.anomalies.push(isotune_iso::Anomaly::new(
            "image.truncated",
            Severity::Error,
            "cut",
        ));
        let f = findings(&verify, &inspect);
        assert_eq!(f.iter().filter(|f| f.id == "image.truncated").count(), 1);
        assert!(f.iter().any(|f| f.severity == Severity::Error));
    }

    #[test]
    fn sample_without_checksums_is_unverified_but_passes() {
        let (verify, inspect) = reports();
        let f = findings(&verify, &inspect);
        assert!(f.iter().any(|f| f.id == "image.unverified"));
        assert!(f.iter().any(|f| f.id == "boot.read-volume"));
        assert!(f.iter().all(|f| f.severity != Severity::Error), "{f:?}");
    }
}
