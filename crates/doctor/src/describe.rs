//! How findings name their subjects and spell numbers: shared by every rule
//! so that `VM "web1" drive hdc (/isos/x.iso)` and `4.0 GiB (4294967296
//! bytes)` read the same everywhere.

use std::path::Path;

use isotune_vmconfig::{ConfigIssue, Drive, Origin, Source, VmDefinition};

/// How a VM's fix is spelled: libvirt XML, QEMU arguments or `qm set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// A libvirt domain: `virsh edit` + XML.
    Libvirt,
    /// A QEMU command line (given, running, or isotune's own).
    Qemu,
    /// A Proxmox VE VM: `qm set VMID ...` where a rule has that form,
    /// otherwise a manual change of its config file (never QEMU argv).
    Proxmox,
}

impl Style {
    /// The style matching where the definition came from.
    pub(crate) fn of(vm: &VmDefinition) -> Style {
        match vm.origin {
            Origin::LibvirtXml { .. } | Origin::Libvirt { .. } => Style::Libvirt,
            Origin::Proxmox { .. } => Style::Proxmox,
            _ => Style::Qemu,
        }
    }
}

/// The VM id of a Proxmox VM.
pub(crate) fn proxmox_vmid(vm: &VmDefinition) -> Option<u32> {
    match vm.origin {
        Origin::Proxmox { vmid, .. } => Some(vmid),
        _ => None,
    }
}

/// `VM "web1"`, or where an unnamed VM came from.
pub(crate) fn vm_label(vm: &VmDefinition) -> String {
    vm_label_of(vm.name.as_deref(), &vm.origin)
}

/// The label findings about a VM start their subject with (`VM "web1"`),
/// from its name and origin: what `isotune fleet` matches a finding's
/// subject against to count the VMs it affects.
pub fn vm_label_of(name: Option<&str>, origin: &Origin) -> String {
    if let Some(name) = name {
        return format!("VM \"{name}\"");
    }
    match origin {
        Origin::LibvirtXml { path } => format!("VM in {}", path.display()),
        Origin::QemuCmdline => "VM on the QEMU command line".to_string(),
        Origin::Process { pid } => format!("QEMU process {pid}"),
        Origin::Isotune => "isotune's VM".to_string(),
        Origin::Libvirt { domain, .. } => format!("VM \"{domain}\""),
        Origin::Proxmox { vmid, .. } => format!("Proxmox VM {vmid}"),
    }
}

/// `VM "web1" -drive #2`: the VM and where in its definition an issue is.
pub(crate) fn issue_subject(vm: &VmDefinition, issue: &ConfigIssue) -> String {
    format!("{} {}", vm_label(vm), issue.context)
}

/// The drive's id, or its position (`#2`) when it has none.
pub(crate) fn drive_name(index: usize, drive: &Drive) -> String {
    drive
        .id
        .clone()
        .unwrap_or_else(|| format!("#{}", index + 1))
}

/// The drive's data source, as a path or URL.
pub(crate) fn source_label(source: &Source) -> String {
    match source {
        Source::Empty => "no medium".to_string(),
        Source::File { path } | Source::Block { path } => path.display().to_string(),
        Source::Http { url, .. } | Source::Nbd { url } | Source::Network { url, .. } => {
            crate::facts::redact_url(url)
        }
    }
}

/// `VM "web1" drive hdc (/isos/x.iso)`.
pub(crate) fn drive_subject(vm: &VmDefinition, index: usize, drive: &Drive) -> String {
    format!(
        "{} drive {} ({})",
        vm_label(vm),
        drive_name(index, drive),
        source_label(&drive.source)
    )
}

/// The command that opens the definition for editing, for libvirt fixes.
pub(crate) fn virsh_edit(vm: &VmDefinition) -> String {
    match (&vm.name, &vm.origin) {
        (Some(name), _) => format!("virsh edit {name}"),
        (None, Origin::LibvirtXml { path }) => format!("edit {}", path.display()),
        _ => "virsh edit DOMAIN".to_string(),
    }
}

/// Where the user changes the definition: `` `virsh edit web1` ``, the command line...
pub(crate) fn where_to_edit(vm: &VmDefinition) -> String {
    match &vm.origin {
        Origin::LibvirtXml { .. } => format!("`{}`", virsh_edit(vm)),
        Origin::QemuCmdline => "in the QEMU command line".to_string(),
        Origin::Process { pid } => format!("in whatever starts QEMU process {pid}"),
        Origin::Isotune => "in the boot matrix".to_string(),
        Origin::Libvirt { .. } => format!("`{}`", virsh_edit(vm)),
        Origin::Proxmox { path, .. } => format!("in {}", path.display()),
    }
}

/// Whether a path or URL names an ISO image (`.iso`, any case).
pub(crate) fn looks_like_iso(name: &str) -> bool {
    let name = name.split(['?', '#']).next().unwrap_or(name);
    // Bytes, not a str slice: the cut may fall inside a multi-byte character.
    name.len() >= 4 && name.as_bytes()[name.len() - 4..].eq_ignore_ascii_case(b".iso")
}

/// Whether a drive's source is an ISO image by name.
pub(crate) fn is_iso_source(source: &Source) -> bool {
    match source {
        Source::File { path } | Source::Block { path } => path_is_iso(path),
        Source::Http { url, .. } | Source::Nbd { url } | Source::Network { url, .. } => {
            looks_like_iso(url)
        }
        Source::Empty => false,
    }
}

/// Whether a local path names an ISO image.
pub(crate) fn path_is_iso(path: &Path) -> bool {
    path.to_str().is_some_and(looks_like_iso)
}

/// `4.0 GiB (4294967296 bytes)`; small values only in bytes.
pub(crate) fn bytes(n: u64) -> String {
    let short = short_bytes(n);
    if n < 1024 {
        short
    } else {
        format!("{short} ({n} bytes)")
    }
}

/// `4.0 GiB`, for titles; small values in bytes.
pub(crate) fn short_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// An optional value, or `not set` / the default named.
pub(crate) fn or_unset<T: std::fmt::Display>(value: Option<T>, unset: &str) -> String {
    value.map_or_else(|| unset.to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use isotune_vmconfig::{Bus, Media};
    use std::path::PathBuf;

    fn vm(name: Option<&str>, origin: Origin) -> VmDefinition {
        VmDefinition {
            name: name.map(str::to_string),
            ..VmDefinition::new(origin)
        }
    }

    #[test]
    fn subjects_name_the_vm_drive_and_source() {
        let iso = Source::File {
            path: PathBuf::from("/isos/x.iso"),
        };
        let d = Drive {
            id: Some("hdc".into()),
            ..Drive::new(Media::Cdrom, Bus::Ide, iso)
        };
        let v = vm(Some("web1"), Origin::QemuCmdline);
        assert_eq!(
            drive_subject(&v, 0, &d),
            "VM \"web1\" drive hdc (/isos/x.iso)"
        );
        let anon = vm(None, Origin::Process { pid: 42 });
        let d2 = Drive { id: None, ..d };
        assert_eq!(
            drive_subject(&anon, 1, &d2),
            "QEMU process 42 drive #2 (/isos/x.iso)"
        );
        assert_eq!(virsh_edit(&v), "virsh edit web1");
    }

    #[test]
    fn iso_names_and_bytes() {
        assert!(looks_like_iso("http://h/x.ISO?x=1"));
        assert!(!looks_like_iso("/v/disk.qcow2"));
        assert!(!looks_like_iso("iso"));
        // Regression: slicing the last four bytes of a str panicked here.
        assert!(!looks_like_iso("/isos/caf\u{e9}\u{20ac}"));
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(4 << 30), "4.0 GiB (4294967296 bytes)");
        assert_eq!(bytes(1536), "1.5 KiB (1536 bytes)");
    }
}
