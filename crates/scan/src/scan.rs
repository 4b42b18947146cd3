//! [`scan`]: the facts the doctor judges, gathered from every source a
//! [`ScanRequest`] names. Used by `doctor` directly and by `check` for one
//! image; stateless, so a long-running caller can scan again at will.

use std::path::PathBuf;

use isotune_doctor::Facts;
use isotune_host::SysRoot;
use serde::Serialize;

use crate::live::{self, LibvirtFacts};
use crate::report::{Note, Warning};
use crate::request::{ScanRequest, VmSource};
use crate::{iso, vms, Error};

/// What a scan gathered.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scan {
    /// The facts, ready for the rules.
    pub facts: Facts,
    /// Inputs that could not be used, one each.
    pub warnings: Vec<Warning>,
    /// Each libvirt connection read: its domains and their live facts.
    pub libvirt: Vec<LibvirtFacts>,
    /// Notes (cdrom changes waiting for a domain's next boot).
    pub notes: Vec<Note>,
}

/// Gathers the host, each ISO (those asked for and, with `vm_isos`, the
/// local ones the VMs use), and the VM definitions of every source.
///
/// An input that cannot be used becomes a warning when anything else could
/// be examined; when nothing could, the first such problem is the error.
pub fn scan(req: &ScanRequest) -> Result<Scan, Error> {
    let root = match &req.sysroot {
        Some(dir) if !dir.is_dir() => return Err(Error::SysrootNotDir { path: dir.clone() }),
        Some(dir) => SysRoot::at(dir),
        None => SysRoot::live(),
    };
    let mut warnings = Vec::new();
    let mut failed: Vec<Error> = Vec::new();
    let host = isotune_host::host_facts(&root);

    let mut vms = Vec::new();
    // libvirt first: the running QEMU processes that belong to its domains
    // are then reported once, as the domain.
    let mut libvirt: Vec<LibvirtFacts> = Vec::new();
    let mut domains = Vec::new();
    let mut libvirt_error = None;
    for source in &req.sources {
        if let VmSource::Libvirt { uri, explicit } = source {
            let read = live::libvirt(uri, &mut warnings);
            if *explicit && libvirt_error.is_none() {
                libvirt_error = live::libvirt_failed(&read.facts, &warnings);
            }
            vms.extend(read.vms);
            domains.extend(read.domains);
            libvirt.push(read.facts);
        }
    }
    for source in &req.sources {
        match source {
            VmSource::LibvirtXml(path) => match vms::load_xml(path, &mut warnings) {
                Ok(v) => vms.extend(v),
                Err(e) => failed.push(e),
            },
            VmSource::QemuCmdline(_) | VmSource::Libvirt { .. } => {}
            VmSource::Running => vms.extend(
                vms::running_vms(&host)
                    .into_iter()
                    .filter(|vm| !vms::libvirt_managed(vm, &host, &domains)),
            ),
            VmSource::Proxmox(dir) => match live::proxmox(dir, &mut warnings) {
                Ok(v) => vms.extend(v),
                Err(e) => failed.push(e),
            },
        }
    }
    let cmdlines = req.sources.iter().filter_map(|s| match s {
        VmSource::QemuCmdline(line) => Some(line),
        _ => None,
    });
    for (i, line) in cmdlines.enumerate() {
        match vms::cmdline_vm(i + 1, line) {
            Ok(v) => vms.push(v),
            Err(e) => failed.push(e),
        }
    }
    let mut unrelated = 0usize;
    if req.only_using_isos {
        let mut kept = Vec::new();
        for vm in vms {
            let from_xml = matches!(vm.origin, isotune_vmconfig::Origin::LibvirtXml { .. });
            let held = vms::holds_open(&vm, &host, &req.isos);
            let mut bare = vm.clone();
            match vms::only_drives_using(vm, &req.isos) {
                Some(vm) => kept.push(vm),
                // It has the ISO open through a drive the parser did not
                // resolve: its VM-wide facts still apply.
                None if held => {
                    bare.drives.clear();
                    kept.push(bare);
                }
                // Running processes using other images are not news.
                None => unrelated += usize::from(from_xml),
            }
        }
        vms = kept;
        // `check`: only the domains that have the image.
        for l in &mut libvirt {
            l.domains.retain(|d| {
                vms.iter().any(|vm| {
                    matches!(&vm.origin, isotune_vmconfig::Origin::Libvirt { uri, domain, .. }
                        if *uri == l.uri && *domain == d.name)
                })
            });
        }
    }

    let mut isos: Vec<PathBuf> = req.isos.clone();
    if req.vm_isos {
        for p in vms::local_isos(&vms) {
            if !isos.iter().any(|q| vms::same_file(q, &p)) {
                isos.push(p);
            }
        }
    }
    let mut files = Vec::new();
    let mut images = Vec::new();
    for (n, path) in isos.iter().enumerate() {
        let asked = n < req.isos.len();
        let facts = if root.is_live() {
            iso::live(path, &mut warnings).map(|(f, image)| {
                images.extend(image);
                f
            })
        } else {
            iso::captured(&root, path)
        };
        match facts {
            Ok(f) => files.push(f),
            Err(e) if asked => failed.push(e),
            // An ISO a VM names but that is not here is the VM's problem
            // (the rules see the definition), not a failed input.
            Err(e) => warnings.push(Warning::not_examined(&e)),
        }
    }
    if files.is_empty() && vms.is_empty() && failed.is_empty() {
        if let Some(warning) = libvirt_error {
            return Err(Error::Libvirt { warning });
        }
    }
    if !failed.is_empty() {
        if files.is_empty() && vms.is_empty() {
            return Err(failed.remove(0));
        }
        warnings.extend(failed.iter().map(|e| Warning::not_examined(e)));
    }
    if unrelated > 0 {
        if let Some(iso) = req.isos.first() {
            warnings.push(Warning::Unrelated {
                count: unrelated,
                iso: iso.clone(),
            });
        }
    }
    let notes = libvirt.iter().flat_map(live::notes).collect();
    let mut facts = Facts {
        host: Some(host),
        files,
        images,
        vms,
        bench: Vec::new(),
        probes: Vec::new(),
    };
    if req.probe {
        facts.probes = crate::probe::probe_all(&facts, crate::probe::ProbeLimits::default());
    }
    // Credentials in URLs were needed for the probe only; no report shows them.
    vms::redact_credentials(&mut facts.vms);
    Ok(Scan {
        libvirt,
        notes,
        facts,
        warnings,
    })
}
