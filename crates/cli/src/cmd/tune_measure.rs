//! `tune apply --measure` and `tune verify --measure`: each changed
//! libvirt domain's ISO booted with the domain's configuration before and
//! after the change, through the same runner as `isotune boot` (cold page
//! cache, interleaved runs, Welch comparison), so a change comes with the
//! evidence that it helped on this host.
//!
//! Glue only: the journal gives the before XML, libvirtd the after XML,
//! `isotune_qemu::compare` turns each into a boot configuration and sums
//! the two-configuration report up.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Result};
use isotune_host::SysRoot;
use isotune_qemu::compare::{config_of, Comparison};
use isotune_qemu::keys::MenuMode;
use isotune_qemu::launch::find_qemu;
use isotune_qemu::matrix::Matrix;
use isotune_qemu::{run_matrix, ErrorKind, MatrixPlan};
use isotune_tune::{EntryState, JournalEntry, Target, Transaction};
use isotune_vmconfig::{parse_domain_xml, Drive, Media, Origin, VmDefinition};
use serde::Serialize;

use super::boot::{cancel_flag, compile, iso_caps, ovmf, Bar};
use super::Context;
use crate::args_tune::MeasureArgs;
use crate::progress;

/// A domain to measure: its definition before the first change isotune
/// made and as it is now.
pub(super) struct Subject {
    uri: String,
    domain: String,
    /// The newest transaction that changed it (for the rollback hint).
    transaction: String,
    /// The disk target the change left (`sda`), when the change names one.
    element: String,
    before_xml: String,
}

/// One domain's measurement, or why there is none.
#[derive(Debug, Serialize)]
pub struct DomainMeasurement {
    /// The connection URI.
    pub uri: String,
    /// The domain.
    pub domain: String,
    /// The transaction to roll back to undo the change.
    pub transaction: String,
    /// The ISO booted.
    pub iso: Option<PathBuf>,
    /// The result.
    #[serde(flatten)]
    pub result: MeasureResult,
}

/// A measurement or the reason there is none.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum MeasureResult {
    /// Booted before and after.
    Measured {
        /// The comparison.
        comparison: Box<Comparison>,
    },
    /// Not booted.
    NotMeasured {
        /// Why.
        reason: String,
    },
}

impl DomainMeasurement {
    /// Whether the change made the boot measurably slower.
    pub fn slower(&self) -> bool {
        matches!(&self.result, MeasureResult::Measured { comparison } if comparison.slower())
    }
}

/// The domains the entries of one transaction changed (`apply --measure`).
pub(super) fn subjects_of_apply(transaction: &str, entries: &[JournalEntry]) -> Vec<Subject> {
    let mut out: Vec<Subject> = Vec::new();
    for e in entries {
        push_subject(&mut out, transaction, e);
    }
    out
}

/// The domains with applied changes in the journal, each with the XML
/// from before the oldest of them (`verify --measure`).
pub(super) fn subjects_of_journal(transactions: &[Transaction]) -> Vec<Subject> {
    let mut txs: Vec<&Transaction> = transactions.iter().collect();
    txs.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out: Vec<Subject> = Vec::new();
    for tx in txs {
        for e in tx.entries.iter().filter(|e| e.state == EntryState::Applied) {
            push_subject(&mut out, &tx.id, e);
        }
    }
    out
}

fn push_subject(out: &mut Vec<Subject>, transaction: &str, e: &JournalEntry) {
    let Target::Domain {
        uri,
        domain,
        element,
    } = &e.change.target
    else {
        return;
    };
    let Some(old) = &e.old else { return };
    match out
        .iter_mut()
        .find(|s| &s.uri == uri && &s.domain == domain)
    {
        // The first entry holds the XML from before every change; later
        // ones only move the rollback hint forward.
        Some(s) => transaction.clone_into(&mut s.transaction),
        None => out.push(Subject {
            uri: uri.clone(),
            domain: domain.clone(),
            transaction: transaction.to_owned(),
            element: element.clone(),
            before_xml: old.clone(),
        }),
    }
}

/// Boots every subject before and after; an interrupt stops the boots and
/// is an error.
pub(super) fn measure(
    ctx: &Context,
    args: &MeasureArgs,
    subjects: &[Subject],
) -> Result<Vec<DomainMeasurement>> {
    let cancel = cancel_flag();
    let mut out = Vec::new();
    for s in subjects {
        let after_xml = match isotune_libvirt::inactive_xml(&s.uri, &s.domain) {
            Ok(x) => x,
            Err(e) => {
                out.push(not_measured(s, None, e.to_string()));
                continue;
            }
        };
        let (iso, result) = match measure_one(ctx, args, s, &after_xml, &cancel) {
            Ok((iso, comparison)) => (
                Some(iso),
                MeasureResult::Measured {
                    comparison: Box::new(comparison),
                },
            ),
            Err(Skip { iso, reason }) => (iso, MeasureResult::NotMeasured { reason }),
        };
        if cancel.load(Ordering::SeqCst) {
            bail!("interrupted: QEMU stopped, temporary files removed, nothing measured");
        }
        out.push(DomainMeasurement {
            uri: s.uri.clone(),
            domain: s.domain.clone(),
            transaction: s.transaction.clone(),
            iso,
            result,
        });
    }
    Ok(out)
}

fn not_measured(s: &Subject, iso: Option<PathBuf>, reason: String) -> DomainMeasurement {
    DomainMeasurement {
        uri: s.uri.clone(),
        domain: s.domain.clone(),
        transaction: s.transaction.clone(),
        iso,
        result: MeasureResult::NotMeasured { reason },
    }
}

/// Why a domain was not measured.
struct Skip {
    iso: Option<PathBuf>,
    reason: String,
}

fn skip(iso: Option<&Path>, reason: impl Into<String>) -> Skip {
    Skip {
        iso: iso.map(Path::to_owned),
        reason: reason.into(),
    }
}

fn measure_one(
    ctx: &Context,
    args: &MeasureArgs,
    s: &Subject,
    after_xml: &str,
    cancel: &AtomicBool,
) -> std::result::Result<(PathBuf, Comparison), Skip> {
    let parse = |xml: &str, when: &str| {
        parse_domain_xml(xml, Origin::Isotune)
            .map_err(|e| skip(None, format!("the domain XML {when} the change: {e}")))
    };
    let before = parse(&s.before_xml, "before")?;
    let after = parse(after_xml, "after")?;
    let after_drive = cdrom(&after, Some(&s.element), None)
        .ok_or_else(|| skip(None, "the domain has no cdrom with a medium now"))?;
    let iso = after_drive
        .local_path()
        .map(Path::to_owned)
        .ok_or_else(|| skip(None, "the cdrom's medium is not a local file"))?;
    let before_drive = cdrom(&before, None, Some(&iso))
        .ok_or_else(|| skip(Some(&iso), "the cdrom had another medium before the change"))?;
    let (caps, boot_load) = iso_caps(&iso).map_err(|e| skip(Some(&iso), format!("{e:#}")))?;
    let (before_cfg, _) = config_of(&before, before_drive, "before", caps).map_err(|why| {
        skip(
            Some(&iso),
            format!("the configuration before the change cannot boot: {why}"),
        )
    })?;
    let (after_cfg, _) = config_of(&after, after_drive, "after", caps).map_err(|why| {
        skip(
            Some(&iso),
            format!("the configuration after the change cannot boot: {why}"),
        )
    })?;
    let same = isotune_qemu::matrix::BootConfig {
        name: before_cfg.name.clone(),
        ..after_cfg.clone()
    } == before_cfg;
    if same {
        return Err(skip(
            Some(&iso),
            format!(
                "the change leaves what a boot depends on as it was ({} on {}, {}, cache={}, aio={}): nothing to measure",
                after_cfg.bus, after_cfg.machine, after_cfg.firmware, after_cfg.cache, after_cfg.aio
            ),
        ));
    }
    let plan = boot_plan(args, &iso, before_cfg, after_cfg, boot_load, &after)
        .map_err(|e| skip(Some(&iso), format!("{e:#}")))?;
    let bar = Bar(progress::count(
        0,
        &format!("measuring {}", s.domain),
        ctx.quiet,
    ));
    let report = run_matrix(&plan, &bar, cancel);
    bar.0.finish_and_clear();
    let report = match report {
        Ok(r) => r,
        Err(e) if e.kind() == ErrorKind::Cancelled => return Err(skip(Some(&iso), "interrupted")),
        Err(e) => return Err(skip(Some(&iso), format!("{e:#}"))),
    };
    let comparison = Comparison::from_report(&report)
        .ok_or_else(|| skip(Some(&iso), "the boot report has an unexpected shape"))?;
    Ok((iso, comparison))
}

/// The cdrom with a medium: the one with target `element`, else the one
/// with `iso` as its medium, else the first.
fn cdrom<'a>(vm: &'a VmDefinition, element: Option<&str>, iso: Option<&Path>) -> Option<&'a Drive> {
    let cdroms: Vec<&Drive> = vm
        .drives
        .iter()
        .filter(|d| d.media == Media::Cdrom || d.local_path().is_some_and(is_iso_name))
        .filter(|d| d.local_path().is_some())
        .collect();
    element
        .and_then(|t| cdroms.iter().find(|d| d.id.as_deref() == Some(t)))
        .or_else(|| iso.and_then(|p| cdroms.iter().find(|d| d.local_path() == Some(p))))
        .or_else(|| cdroms.first())
        .copied()
}

fn is_iso_name(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("iso"))
}

fn boot_plan(
    args: &MeasureArgs,
    iso: &Path,
    before: isotune_qemu::matrix::BootConfig,
    after: isotune_qemu::matrix::BootConfig,
    boot_load: isotune_qemu::session::BootLoad,
    vm: &VmDefinition,
) -> Result<MatrixPlan> {
    use isotune_qemu::matrix::FirmwareChoice;
    let qemu = find_qemu()?;
    let version = qemu.version()?;
    let ovmf = ovmf();
    if ovmf.is_none()
        && [&before, &after]
            .iter()
            .any(|c| c.firmware == FirmwareChoice::Uefi)
    {
        bail!(
            "the domain boots with UEFI and no OVMF firmware was found (Debian: apt install ovmf)"
        );
    }
    // isotune's own workload image ends its boot with a known line.
    let builtin = is_builtin_workload(iso);
    let until = match (&args.until, builtin) {
        (Some(re), _) => compile("--until", Some(re))?,
        (None, true) => compile(
            "--until",
            Some(isotune_qemu::workload::firmware::DONE_MARKER),
        )?,
        (None, false) => None,
    };
    let markers = if builtin && args.until.is_none() {
        vec![(
            "start".to_owned(),
            compile(
                "marker",
                Some(isotune_qemu::workload::firmware::START_MARKER),
            )?
            .expect("a pattern was given"),
        )]
    } else {
        Vec::new()
    };
    let settle = until.is_none().then_some(Duration::from_secs(5));
    Ok(MatrixPlan {
        qemu,
        qemu_version: version.version,
        iso: iso.to_owned(),
        builtin: None,
        matrix: Matrix {
            configs: vec![before, after],
            skipped: Vec::new(),
        },
        ovmf,
        baseline: 0,
        runs: args.runs as usize,
        warm: false,
        until,
        markers,
        settle,
        timeout: Duration::from_secs_f64(args.timeout),
        // The domain's memory, within what a boot measurement needs.
        memory_bytes: vm
            .memory_bytes
            .unwrap_or(512 << 20)
            .clamp(64 << 20, 4 << 30),
        accel: args.accel.into(),
        host_accel: isotune_host::host_facts(&SysRoot::live()).accel,
        boot_load,
        keys: Vec::new(),
        menu: MenuMode::Auto,
    })
}

/// Whether `iso` is the image `isotune boot` writes as its built-in
/// workload (by its volume id).
fn is_builtin_workload(iso: &Path) -> bool {
    super::inspect::open(iso)
        .map(|img| img.primary().volume_id.trim() == isotune_qemu::workload::firmware::VOLUME_ID)
        .unwrap_or(false)
}
