//! `isotune doctor`: gathers facts (the host under a `SysRoot`, each ISO's
//! storage chain and filesystem, VM definitions from libvirt XML, QEMU
//! command lines and running QEMU processes), runs the rules of
//! `isotune-doctor` over them and renders the findings.
//!
//! Input that cannot be used (a missing ISO, a malformed XML file, an
//! unterminated quote in a command line, one bad file in a directory of
//! domain XML) becomes a warning when other input could be analysed; only
//! when nothing could is it an error: exit 2, one line naming the file.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use isotune_doctor::{Facts, Finding, ImageFacts, Severity};
use isotune_host::{FileFacts, HostFacts, SysRoot};
use isotune_vmconfig::{Origin, VmDefinition};
use serde::Serialize;

use super::Context;
use crate::args::DoctorArgs;
use crate::{output, render, Outcome};

/// Version of the JSON schema of [`DoctorReport`].
pub const SCHEMA_VERSION: u32 = 1;

/// The whole `doctor` result.
#[derive(Debug, Serialize)]
pub struct DoctorReport {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// `fail` when a finding has severity error.
    pub verdict: super::check::CheckVerdict,
    /// Most severe first.
    pub findings: Vec<Finding>,
    /// Everything the rules saw.
    pub facts: Facts,
    /// Notes on the sysctls read (what they do and do not do for ISO reads).
    pub sysctl_notes: Vec<SysctlNote>,
    /// Input that could not be used, one line each.
    pub warnings: Vec<String>,
}

/// A sysctl with what it means for ISO reads.
#[derive(Debug, Serialize)]
pub struct SysctlNote {
    /// Dotted name.
    pub name: String,
    /// Value as read.
    pub value: String,
    /// What it does for ISO reads.
    pub note: String,
}

/// Runs `isotune doctor`.
pub fn run(ctx: &Context, args: &DoctorArgs) -> Result<Outcome> {
    let report = gather(args)?;
    if let Some(md) = &args.markdown {
        let inputs: Vec<&Path> = args.iso.iter().map(PathBuf::as_path).collect();
        let mut f = output::open_beside(md, &inputs)?;
        render::doctor::markdown(&mut f, &report)?;
    }
    let mut out = output::open(None)?;
    if args.json {
        output::json(&mut out, &report)?;
    } else {
        render::doctor::human(&mut out, &report, ctx.color)?;
    }
    Ok(match report.verdict {
        super::check::CheckVerdict::Pass => Outcome::Pass,
        super::check::CheckVerdict::Fail => Outcome::Fail,
    })
}

/// Gathers the facts `args` asks for and runs the rules.
pub fn gather(args: &DoctorArgs) -> Result<DoctorReport> {
    let root = match &args.sysroot {
        Some(dir) => {
            if !dir.is_dir() {
                bail!(
                    "{}: not a directory (--sysroot wants a captured tree)",
                    dir.display()
                );
            }
            SysRoot::at(dir)
        }
        None => SysRoot::live(),
    };
    let mut warnings = Vec::new();
    // An input that cannot be used at all is kept as an error here: it
    // becomes a warning when other input could be analysed, and the
    // command's one-line error (exit 2) when nothing could.
    let mut failed: Vec<anyhow::Error> = Vec::new();
    let host = isotune_host::host_facts(&root);
    let mut files = Vec::new();
    let mut images = Vec::new();
    for iso in &args.iso {
        let facts = if root.is_live() {
            iso_facts(iso).map(|(f, image)| {
                images.extend(image);
                f
            })
        } else {
            captured_file_facts(&root, iso)
        };
        match facts {
            Ok(f) => files.push(f),
            Err(e) => failed.push(e),
        }
    }
    let mut vms = Vec::new();
    for x in &args.xml {
        match load_xml(x, &mut warnings) {
            Ok(v) => vms.extend(v),
            Err(e) => failed.push(e),
        }
    }
    for (i, line) in args.qemu_cmdline.iter().enumerate() {
        match cmdline_vm(line).with_context(|| format!("--qemu-cmdline #{}", i + 1)) {
            Ok(v) => vms.push(v),
            Err(e) => failed.push(e),
        }
    }
    if args.running {
        vms.extend(running_vms(&host));
    }
    if !failed.is_empty() {
        if files.is_empty() && vms.is_empty() {
            return Err(failed.remove(0));
        }
        warnings.extend(failed.iter().map(|e| format!("not examined: {e:#}")));
    }
    Ok(diagnose(host, files, images, vms, warnings))
}

/// Runs the rules over gathered facts and builds the report.
pub fn diagnose(
    host: HostFacts,
    files: Vec<FileFacts>,
    images: Vec<ImageFacts>,
    vms: Vec<VmDefinition>,
    mut warnings: Vec<String>,
) -> DoctorReport {
    warnings.extend(host.warnings.iter().cloned());
    for f in &files {
        warnings.extend(
            f.warnings
                .iter()
                .map(|w| format!("{}: {w}", f.path.display())),
        );
    }
    let sysctl_notes = host
        .sysctls
        .iter()
        .filter_map(|s| {
            isotune_doctor::sysctl_note(&s.name).map(|note| SysctlNote {
                name: s.name.clone(),
                value: s.value.clone(),
                note: note.to_owned(),
            })
        })
        .collect();
    let facts = Facts {
        host: Some(host),
        files,
        images,
        vms,
    };
    let findings = isotune_doctor::diagnose(&facts);
    let verdict = if findings.iter().any(|f| f.severity == Severity::Error) {
        super::check::CheckVerdict::Fail
    } else {
        super::check::CheckVerdict::Pass
    };
    DoctorReport {
        schema_version: SCHEMA_VERSION,
        verdict,
        findings,
        facts,
        sysctl_notes,
        warnings,
    }
}

/// The storage chain, filesystem and page-cache residency of one ISO, plus
/// what its volume descriptor says about truncation (cheap: one sector).
pub fn iso_facts(iso: &Path) -> Result<(FileFacts, Option<ImageFacts>)> {
    let mut facts = isotune_host::file_facts(&SysRoot::live(), iso)
        .with_context(|| format!("cannot examine {}", iso.display()))?;
    match isotune_bench::target::Target::open(iso, Default::default())
        .map_err(anyhow::Error::from)
        .and_then(|t| Ok(isotune_bench::cache::resident_bytes(&t)?))
    {
        Ok((bytes, _)) => facts.resident_bytes = Some(bytes),
        Err(e) => facts
            .warnings
            .push(format!("page-cache residency not measured: {e:#}")),
    }
    // Not an ISO9660 image (or unreadable): the host rules still apply;
    // `isotune check` and `inspect` say what is wrong with the image.
    let image = super::inspect::open(iso).ok().map(|img| ImageFacts {
        path: iso.to_owned(),
        file_bytes: img.file_size(),
        volume_bytes: Some(img.primary().volume_bytes()),
        implanted_md5: None,
    });
    Ok((facts, image))
}

/// File facts from a capture made by `scripts/capture-host OUTDIR PATH...`:
/// its `isotune-capture.tsv` gives each captured path's device number and
/// size, and the tree under OUTDIR gives the mount and storage chain.
fn captured_file_facts(root: &SysRoot, iso: &Path) -> Result<FileFacts> {
    let tsv = root.path("/isotune-capture.tsv");
    let text = std::fs::read_to_string(&tsv).with_context(|| {
        format!(
            "cannot read {} (made by scripts/capture-host)",
            tsv.display()
        )
    })?;
    for (n, line) in text.lines().enumerate() {
        let mut cols = line.split('\t');
        let (Some(path), Some(dev), Some(size)) = (cols.next(), cols.next(), cols.next()) else {
            bail!(
                "{}: line {}: expected PATH, MAJ:MIN and SIZE",
                tsv.display(),
                n + 1
            );
        };
        if Path::new(path) != iso {
            continue;
        }
        let parsed = dev.split_once(':').and_then(|(a, b)| {
            Some(isotune_host::DevNum {
                major: a.parse().ok()?,
                minor: b.parse().ok()?,
            })
        });
        let (Some(dev), Ok(size)) = (parsed, size.trim().parse::<u64>()) else {
            bail!(
                "{}: line {}: bad device number or size",
                tsv.display(),
                n + 1
            );
        };
        return Ok(isotune_host::file_facts_at(root, iso, size, dev));
    }
    bail!("{}: not in the capture {}", iso.display(), tsv.display())
}

/// The definitions in `--xml PATH` (a file, a directory, or `-`).
pub fn load_xml(path: &Path, warnings: &mut Vec<String>) -> Result<Vec<VmDefinition>> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read domain XML from standard input")?;
        let vm = isotune_vmconfig::parse_domain_xml(
            &text,
            Origin::LibvirtXml {
                path: path.to_owned(),
            },
        )
        .context("standard input")?;
        return Ok(vec![vm]);
    }
    // The library's errors name the file.
    let results = isotune_vmconfig::load_xml(path)?;
    let single = !path.is_dir();
    let mut vms = Vec::new();
    for (_file, r) in results {
        match r {
            Ok(vm) => vms.push(vm),
            Err(e) if single => return Err(e.into()),
            Err(e) => warnings.push(format!("{:#}", anyhow::Error::from(e))),
        }
    }
    if vms.is_empty() && !path.is_dir() {
        bail!("{}: no domain definition", path.display());
    }
    Ok(vms)
}

/// A `--qemu-cmdline` string as a definition. The binary name may be left
/// out (`-cdrom x.iso -m 2G`).
pub fn cmdline_vm(line: &str) -> Result<VmDefinition> {
    let mut argv = isotune_vmconfig::split_cmdline(line)?;
    if argv.is_empty() {
        bail!("empty command line");
    }
    if argv[0].starts_with('-') {
        argv.insert(0, "qemu-system-x86_64".to_owned());
    }
    Ok(isotune_vmconfig::parse_argv(&argv, Origin::QemuCmdline))
}

/// Definitions of the QEMU processes running on the host.
pub fn running_vms(host: &HostFacts) -> Vec<VmDefinition> {
    host.qemu_processes
        .iter()
        .map(|p| isotune_vmconfig::parse_argv(&p.argv, Origin::Process { pid: p.pid }))
        .collect()
}

/// Whether `vm` has `iso` as a drive's medium.
pub fn uses_iso(vm: &VmDefinition, iso: &Path) -> bool {
    let want = std::fs::canonicalize(iso).unwrap_or_else(|_| iso.to_owned());
    vm.drives.iter().any(|d| {
        d.local_path()
            .is_some_and(|p| p == iso || std::fs::canonicalize(p).is_ok_and(|c| c == want))
    })
}
