//! libvirt domain changes: the doctor's [`DomainEdit`]s for a domain read
//! through libvirtd become changes of its persistent XML, defined back
//! with `virDomainDefineXML` (never by writing /etc/libvirt files).
//!
//! A cdrom moved off IDE goes to virtio-scsi only when the domain's
//! libosinfo metadata (`<libosinfo:os id=...>`) names a Linux guest, which
//! has the driver; else to SATA, which every guest can read (`--bus`
//! overrides). Changes of one domain are planned one after the other on the
//! XML as the previous ones leave it; `apply` applies each change's edits
//! to the persistent XML as it is then.

use isotune_doctor::fix::{apply_to_domain, DomainEdit, FixError};
use roxmltree::{Document, Node};

use crate::model::{Bus, BusChoice};

/// The libosinfo namespace libvirt tools write into `<metadata>`.
const LIBOSINFO_NS: &str = "http://libosinfo.org/xmlns/libvirt/domain/1.0";

/// Hosts of libosinfo OS ids that are Linux distributions.
const LINUX_OS_HOSTS: &[&str] = &[
    "almalinux.org",
    "alpinelinux.org",
    "altlinux.org",
    "archlinux.org",
    "centos.org",
    "clearlinux.org",
    "debian.org",
    "fedoraproject.org",
    "gentoo.org",
    "linuxmint.com",
    "mageia.org",
    "mandriva.com",
    "nixos.org",
    "opensuse.org",
    "oracle.com",
    "redhat.com",
    "rockylinux.org",
    "slackware.com",
    "suse.com",
    "ubuntu.com",
    "voidlinux.org",
];

/// The libosinfo OS id of a domain XML, when it has one.
pub(crate) fn libosinfo_id(xml: &str) -> Option<String> {
    let doc = Document::parse(xml).ok()?;
    doc.descendants()
        .find(|n| n.has_tag_name((LIBOSINFO_NS, "os")))
        .and_then(|n| n.attribute("id"))
        .map(str::to_owned)
}

/// Whether a libosinfo id names a Linux distribution
/// (`http://debian.org/debian/12`, `http://libosinfo.org/linux/2022`).
pub(crate) fn is_linux(id: &str) -> bool {
    let rest = id
        .strip_prefix("http://")
        .or_else(|| id.strip_prefix("https://"))
        .unwrap_or(id);
    let host = rest.split('/').next().unwrap_or("");
    let host = host.strip_prefix("www.").unwrap_or(host);
    LINUX_OS_HOSTS.contains(&host) || rest.starts_with("libosinfo.org/linux")
}

/// The bus for a cdrom of the domain `xml`: `forced` (`--bus`), else
/// virtio-scsi for a Linux guest, else SATA; and why.
pub(crate) fn choose_bus(xml: &str, forced: Option<Bus>) -> BusChoice {
    if let Some(bus) = forced {
        return BusChoice {
            bus,
            why: format!("--bus {bus}"),
        };
    }
    match libosinfo_id(xml) {
        Some(id) if is_linux(&id) => BusChoice {
            bus: Bus::VirtioScsi,
            why: format!("libosinfo id {id} is a Linux guest, which has the virtio-scsi driver"),
        },
        Some(id) => BusChoice {
            bus: Bus::Sata,
            why: format!(
                "libosinfo id {id} is not a Linux guest known to have virtio-scsi; SATA needs no driver (--bus virtio-scsi to override)"
            ),
        },
        None => BusChoice {
            bus: Bus::Sata,
            why: "no libosinfo metadata says the guest is Linux; SATA needs no driver (--bus virtio-scsi to override)".to_owned(),
        },
    }
}

/// Whether `edits` move a disk to virtio-scsi (the doctor's IDE fix).
pub(crate) fn moves_to_scsi(edits: &[DomainEdit]) -> bool {
    edits
        .iter()
        .any(|e| matches!(e, DomainEdit::ReplaceDisk { xml, .. } if xml.contains("bus='scsi'")))
}

/// The doctor's virtio-scsi edits turned into SATA ones: no controller
/// (libvirt adds the AHCI one), `bus='sata'`, no SCSI drive address.
pub(crate) fn to_sata(edits: &[DomainEdit]) -> Vec<DomainEdit> {
    edits
        .iter()
        .filter(|e| !matches!(e, DomainEdit::EnsureScsiController { .. }))
        .map(|e| match e {
            DomainEdit::ReplaceDisk { target, xml } => DomainEdit::ReplaceDisk {
                target: target.clone(),
                xml: xml
                    .replace("bus='scsi'", "bus='sata'")
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("<address type='drive'"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            },
            other => other.clone(),
        })
        .collect()
}

/// The doctor's replacement `<disk>` indented like the disk it replaces
/// in `xml`, so the diff (and the XML defined) reads like the rest.
pub(crate) fn reindent(xml: &str, edits: &[DomainEdit]) -> Vec<DomainEdit> {
    edits
        .iter()
        .map(|e| match e {
            DomainEdit::ReplaceDisk { target, xml: disk } => {
                let indent = disk_indent(xml, target).unwrap_or_default();
                let mut lines = disk.lines();
                let mut out = lines.next().unwrap_or("").to_owned();
                for l in lines {
                    out += &format!("\n{indent}{l}");
                }
                DomainEdit::ReplaceDisk {
                    target: target.clone(),
                    xml: out,
                }
            }
            other => other.clone(),
        })
        .collect()
}

/// The whitespace before the `<disk>` whose target is `target`, when the
/// element starts a line.
fn disk_indent(xml: &str, target: &str) -> Option<String> {
    let doc = Document::parse(xml).ok()?;
    let disk = doc.descendants().find(|d| {
        d.has_tag_name("disk")
            && child(*d, "target").and_then(|t| t.attribute("dev")) == Some(target)
    })?;
    let start = disk.range().start;
    let line = xml[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent = &xml[line..start];
    indent
        .chars()
        .all(char::is_whitespace)
        .then(|| indent.to_owned())
}

/// The element a change is about: the disk's target dev after the edits,
/// or `domain`.
pub(crate) fn element_of(edits: &[DomainEdit]) -> Option<String> {
    edits.iter().rev().find_map(|e| match e {
        DomainEdit::ReplaceDisk { xml, target } => Some(
            Document::parse(xml)
                .ok()
                .and_then(|d| {
                    d.descendants()
                        .find(|n| n.has_tag_name("target"))
                        .and_then(|n| n.attribute("dev").map(str::to_owned))
                })
                .unwrap_or_else(|| target.clone()),
        ),
        DomainEdit::SetDriver { target, .. }
        | DomainEdit::SetSourceChild { target, .. }
        | DomainEdit::RemoveDiskChild { target, .. }
        | DomainEdit::AddDiskChild { target, .. } => Some(target.clone()),
        DomainEdit::DomainType { .. } => Some("domain".to_owned()),
        DomainEdit::EnsureScsiController { .. } => None,
    })
}

/// The disk target an edit list starts from (for the current value).
pub(crate) fn source_element(edits: &[DomainEdit]) -> Option<String> {
    edits.iter().find_map(|e| match e {
        DomainEdit::ReplaceDisk { target, .. }
        | DomainEdit::SetDriver { target, .. }
        | DomainEdit::SetSourceChild { target, .. }
        | DomainEdit::RemoveDiskChild { target, .. }
        | DomainEdit::AddDiskChild { target, .. } => Some(target.clone()),
        DomainEdit::DomainType { .. } => Some("domain".to_owned()),
        DomainEdit::EnsureScsiController { .. } => None,
    })
}

/// Applies `edits` to `xml`.
pub(crate) fn edit(xml: &str, edits: &[DomainEdit]) -> Result<String, FixError> {
    apply_to_domain(xml, edits)
}

/// A one-line summary of `element` in the domain `xml`: what verify
/// compares. `None`: no such disk. Attributes are sorted, and the disk's
/// `<address>` and source file are left out (libvirt adds the first; the
/// second is the media, not the configuration).
pub(crate) fn summary(xml: &str, element: &str) -> Option<String> {
    let doc = Document::parse(xml).ok()?;
    let root = doc.root_element();
    if element == "domain" {
        return root.attribute("type").map(|t| format!("type={t}"));
    }
    let devices = child(root, "devices")?;
    let disk = devices.children().find(|d| {
        d.has_tag_name("disk")
            && child(*d, "target").and_then(|t| t.attribute("dev")) == Some(element)
    })?;
    let mut parts = Vec::new();
    let target = child(disk, "target")?;
    parts.push(format!(
        "{element}: bus={}",
        target.attribute("bus").unwrap_or("(default)")
    ));
    if let Some(driver) = child(disk, "driver") {
        parts.push(format!("driver{}", attrs(driver)));
    }
    if child(disk, "readonly").is_some() {
        parts.push("readonly".to_owned());
    }
    if let Some(source) = child(disk, "source") {
        for c in source.children().filter(Node::is_element) {
            parts.push(format!("source <{}{}>", c.tag_name().name(), attrs(c)));
        }
    }
    if let Some(boot) = child(disk, "boot") {
        parts.push(format!("boot{}", attrs(boot)));
    }
    Some(parts.join(", "))
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(name))
}

fn attrs(n: Node<'_, '_>) -> String {
    let mut a: Vec<String> = n
        .attributes()
        .map(|a| format!(" {}='{}'", a.name(), a.value()))
        .collect();
    a.sort();
    a.concat()
}

/// A unified diff of two texts (3 lines of context), `---`/`+++` named
/// `name`.
pub(crate) fn unified_diff(old: &str, new: &str, name: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Longest common subsequence table (domain XML is a few hundred lines).
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // The edit script: (' ' | '-' | '+', old index, new index, line).
    let mut ops: Vec<(char, usize, usize, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', i, j, a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removals before additions, as diff -u prints them.
            ops.push(('-', i, j, a[i]));
            i += 1;
        } else {
            ops.push(('+', i, j, b[j]));
            j += 1;
        }
    }
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    if changed.is_empty() {
        return String::new();
    }
    let mut out = format!("--- {name} (now)\n+++ {name} (after apply)\n");
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = (changed[k] + CONTEXT + 1).min(ops.len());
        while k + 1 < changed.len() && changed[k + 1] <= end + CONTEXT {
            k += 1;
            end = (changed[k] + CONTEXT + 1).min(ops.len());
        }
        let hunk = &ops[start..end];
        let old_len = hunk.iter().filter(|o| o.0 != '+').count();
        let new_len = hunk.iter().filter(|o| o.0 != '-').count();
        let old_start = hunk[0].1 + usize::from(old_len > 0);
        let new_start = hunk[0].2 + usize::from(new_len > 0);
        out += &format!("@@ -{old_start},{old_len} +{new_start},{new_len} @@\n");
        for (op, _, _, line) in hunk {
            out += &format!("{op}{line}\n");
        }
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = "<domain type='qemu' xmlns:x='urn:x'>
  <name>w</name>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo=\"http://libosinfo.org/xmlns/libvirt/domain/1.0\">
      <libosinfo:os id=\"http://debian.org/debian/12\"/>
    </libosinfo:libosinfo>
  </metadata>
  <devices>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='qcow2'/>
      <source file='/isos/a.iso'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
      <address type='drive' controller='0' bus='1' target='0' unit='0'/>
    </disk>
  </devices>
</domain>";

    #[test]
    fn linux_guests_get_virtio_scsi_others_sata() {
        assert_eq!(
            libosinfo_id(XML).as_deref(),
            Some("http://debian.org/debian/12")
        );
        assert_eq!(choose_bus(XML, None).bus, Bus::VirtioScsi);
        let win = XML.replace("http://debian.org/debian/12", "http://microsoft.com/win/10");
        let c = choose_bus(&win, None);
        assert_eq!(c.bus, Bus::Sata);
        assert!(c.why.contains("microsoft.com"), "{}", c.why);
        assert_eq!(choose_bus("<domain/>", None).bus, Bus::Sata);
        assert_eq!(choose_bus(XML, Some(Bus::Sata)).why, "--bus sata");
        assert!(is_linux("http://libosinfo.org/linux/2022"));
        assert!(!is_linux("http://freebsd.org/freebsd/14.0"));
    }

    #[test]
    fn sata_edits_drop_the_controller_and_the_scsi_address() {
        let edits = vec![
            DomainEdit::EnsureScsiController {
                model: "virtio-scsi".into(),
                xml: "<controller type='scsi' index='1' model='virtio-scsi'/>".into(),
            },
            DomainEdit::ReplaceDisk {
                target: "hdc".into(),
                xml: "<disk type='file' device='cdrom'>\n  <target dev='sdb' bus='scsi'/>\n  <address type='drive' controller='1' bus='0' target='0' unit='1'/>\n</disk>".into(),
            },
        ];
        assert!(moves_to_scsi(&edits));
        let sata = to_sata(&edits);
        assert_eq!(sata.len(), 1);
        let out = edit(XML, &sata).unwrap();
        assert!(out.contains("<target dev='sdb' bus='sata'/>"), "{out}");
        assert!(!out.contains("controller='1'"), "{out}");
        assert_eq!(element_of(&sata).as_deref(), Some("sdb"));
        assert_eq!(source_element(&sata).as_deref(), Some("hdc"));
        assert_eq!(summary(&out, "sdb").as_deref(), Some("sdb: bus=sata"));
        let out = edit(XML, &reindent(XML, &sata)).unwrap();
        assert!(
            out.contains("    <disk type='file' device='cdrom'>\n      <target dev='sdb' bus='sata'/>\n    </disk>\n  </devices>"),
            "{out}"
        );
    }

    #[test]
    fn summary_and_diff() {
        assert_eq!(
            summary(XML, "hdc").as_deref(),
            Some("hdc: bus=ide, driver name='qemu' type='qcow2', readonly")
        );
        assert_eq!(summary(XML, "sdz"), None);
        assert_eq!(summary(XML, "domain").as_deref(), Some("type=qemu"));
        let new = XML.replace("type='qcow2'", "type='raw'");
        let d = unified_diff(XML, &new, "w.xml");
        assert!(d.contains("@@ -7,7 +7,7 @@\n   </metadata>\n"), "{d}");
        assert!(d.contains("-      <driver name='qemu' type='qcow2'/>\n+      <driver name='qemu' type='raw'/>\n"), "{d}");
        assert_eq!(d.lines().filter(|l| l.starts_with(' ')).count(), 6, "{d}");
        assert_eq!(unified_diff(XML, XML, "w.xml"), "");
    }
}
