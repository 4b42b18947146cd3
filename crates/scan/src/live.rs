//! The live VM sources: libvirt over its API ([`VmSource::Libvirt`]) and
//! Proxmox's configs ([`VmSource::Proxmox`]). Each domain becomes the
//! definition in effect (the live XML of a running domain, else the
//! persistent one) plus [`LibvirtFacts`]: state, cdrom media, read counters
//! and the cdrom changes that wait for the next boot.
//!
//! [`VmSource::Libvirt`]: crate::VmSource::Libvirt
//! [`VmSource::Proxmox`]: crate::VmSource::Proxmox

use std::path::Path;

use isotune_libvirt::{CdromFacts, DomainState, LibvirtWarning, PendingCdromChange, ScanOptions};
use isotune_vmconfig::proxmox::ProxmoxWarning;
use isotune_vmconfig::VmDefinition;
use serde::Serialize;

use crate::report::{Note, Warning};
use crate::Error;

/// What one libvirt connection showed, for the report (the definitions
/// themselves are in `facts.vms`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LibvirtFacts {
    /// The URI read.
    pub uri: String,
    /// Every domain, running and defined-but-off, in libvirt's order.
    pub domains: Vec<DomainFacts>,
}

/// One domain's live facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainFacts {
    /// Its name.
    pub name: String,
    /// Its UUID.
    pub uuid: Option<String>,
    /// Its state.
    pub state: DomainState,
    /// Defined (persistent), not only created.
    pub persistent: bool,
    /// Its cdroms now: target, media (an empty tray is `{"kind":"empty"}`),
    /// read counters (`rd_req`, `rd_bytes`, `rd_total_times_ns`) when running.
    pub cdroms: Vec<CdromFacts>,
    /// Cdroms whose media differ between the live and the persistent XML
    /// (a `virsh edit` that waits for the next boot).
    pub pending_cdrom_changes: Vec<PendingCdromChange>,
}

/// A libvirt read: the definitions in effect, the facts, the warnings.
pub(crate) struct LibvirtRead {
    pub vms: Vec<VmDefinition>,
    pub facts: LibvirtFacts,
    /// The raw domains, to match running QEMU processes against.
    pub domains: Vec<isotune_libvirt::Domain>,
}

/// Reads every domain of `uri` (read-only, a deadline per call).
pub(crate) fn libvirt(uri: &str, warnings: &mut Vec<Warning>) -> LibvirtRead {
    let s = isotune_libvirt::scan(uri, &ScanOptions::default());
    warnings.extend(s.warnings.into_iter().map(Warning::Libvirt));
    let vms = s
        .domains
        .iter()
        .filter_map(|d| d.current().cloned())
        .collect();
    let facts = LibvirtFacts {
        uri: s.uri,
        domains: s
            .domains
            .iter()
            .map(|d| DomainFacts {
                name: d.name.clone(),
                uuid: d.uuid.clone(),
                state: d.state,
                persistent: d.persistent,
                cdroms: d.cdroms.clone(),
                pending_cdrom_changes: d.pending_cdrom_changes.clone(),
            })
            .collect(),
    };
    LibvirtRead {
        vms,
        facts,
        domains: s.domains,
    }
}

/// Whether the libvirt read of `facts` failed as a whole (unreachable,
/// refused, or a call timed out before any domain was read): with nothing
/// else to analyse that is exit 2.
pub(crate) fn libvirt_failed(facts: &LibvirtFacts, warnings: &[Warning]) -> Option<LibvirtWarning> {
    if !facts.domains.is_empty() {
        return None;
    }
    warnings.iter().find_map(|w| match w {
        Warning::Libvirt(
            e @ (LibvirtWarning::Unreachable { uri, .. }
            | LibvirtWarning::PermissionDenied { uri, .. }),
        ) if *uri == facts.uri => Some(e.clone()),
        Warning::Libvirt(e @ LibvirtWarning::Timeout { .. }) => Some(e.clone()),
        _ => None,
    })
}

/// The notes a libvirt read gives: one per pending cdrom change.
pub(crate) fn notes(facts: &LibvirtFacts) -> Vec<Note> {
    facts
        .domains
        .iter()
        .flat_map(|d| {
            d.pending_cdrom_changes
                .iter()
                .map(|c| Note::PendingCdromChange {
                    domain: d.name.clone(),
                    target: c.target.clone(),
                    live: c.live.clone(),
                    next_boot: c.next_boot.clone(),
                })
        })
        .collect()
}

/// Reads a Proxmox config tree (`/etc/pve` or a copy).
pub(crate) fn proxmox(dir: &Path, warnings: &mut Vec<Warning>) -> Result<Vec<VmDefinition>, Error> {
    let read = isotune_vmconfig::proxmox::load_dir(dir).map_err(|source| Error::Proxmox {
        path: dir.to_owned(),
        source,
    })?;
    warnings.extend(read.warnings.into_iter().map(Warning::Proxmox));
    Ok(read.vms)
}

/// For the JSON of a Proxmox warning: its stable code.
pub(crate) fn proxmox_code(w: &ProxmoxWarning) -> &'static str {
    match w {
        ProxmoxWarning::StorageCfgMissing { .. } => "proxmox-storage-cfg-missing",
        ProxmoxWarning::Unreadable { .. } => "proxmox-unreadable",
        ProxmoxWarning::NotAVmid { .. } => "proxmox-not-a-vmid",
    }
}

/// For the JSON of a libvirt warning: its stable code.
pub(crate) fn libvirt_code(w: &LibvirtWarning) -> &'static str {
    match w {
        LibvirtWarning::Unreachable { .. } => "libvirt-unreachable",
        LibvirtWarning::PermissionDenied { .. } => "libvirt-permission-denied",
        LibvirtWarning::Timeout { .. } => "libvirt-timeout",
        LibvirtWarning::DomainVanished { .. } => "libvirt-domain-vanished",
        LibvirtWarning::CallFailed { .. } => "libvirt-call-failed",
        LibvirtWarning::XmlUnparsable { .. } => "libvirt-xml-unparsable",
    }
}
