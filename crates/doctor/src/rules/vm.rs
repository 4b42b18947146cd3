//! The VM definition's drives: the image format of an ISO and whether an
//! ISO attached as a disk is read-only; the libvirt and QEMU spellings of a
//! drive's source and the edit helpers the drive rules share.

use isotune_vmconfig::{Bus, Drive, Media, Source, VmDefinition};

use crate::describe::{
    drive_name, drive_subject, is_iso_source, source_label, virsh_edit, where_to_edit, Style,
};
use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};
use crate::fix::{ArgvEdit, Attr, DomainEdit, DriveRef, FixEdit};
use crate::rules::cdrom::Taken;
use crate::rules::net::libvirt_network_source;
use crate::rules::Rule;

/// A libvirt fix made of one edit of the disk `d` (by its target dev).
pub(crate) fn domain_edit(
    vm: &VmDefinition,
    _i: usize,
    d: &Drive,
    edit: impl FnOnce(String) -> DomainEdit,
) -> Option<FixEdit> {
    Some(FixEdit::Domain {
        open: virsh_edit(vm),
        edits: vec![edit(d.id.clone()?)],
    })
}

/// How argv edits find drive `d` (the `i`th).
pub(crate) fn drive_ref(i: usize, d: &Drive) -> DriveRef {
    DriveRef {
        id: drive_name(i, d),
        source: d.source.clone(),
    }
}

/// `<disk type='file' device='cdrom'>` for the source's kind.
pub(crate) fn libvirt_disk_open(source: &Source, device: &str) -> String {
    let ty = match source {
        Source::Block { .. } => "block",
        Source::File { .. } | Source::Empty => "file",
        _ => "network",
    };
    format!("<disk type='{ty}' device='{device}'>")
}

/// The libvirt `<source>` element for a drive source.
pub(crate) fn libvirt_source(source: &Source) -> String {
    match source {
        Source::File { path } => format!(
            "<source file='{}'/>",
            xml_escape(&path.display().to_string())
        ),
        Source::Block { path } => format!(
            "<source dev='{}'/>",
            xml_escape(&path.display().to_string())
        ),
        Source::Http { url, .. } | Source::Nbd { url } | Source::Network { url, .. } => {
            libvirt_network_source(url, "")
                .unwrap_or_else(|| format!("<!-- keep the current <source> for {url} -->"))
        }
        Source::Empty => String::new(),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('\'', "&apos;")
        .replace('<', "&lt;")
}

/// The `-drive` options naming the source (`file=/isos/x.iso`, commas doubled).
pub(crate) fn qemu_file_opts(source: &Source) -> String {
    match source {
        Source::File { path } | Source::Block { path } => {
            format!("file={}", path.display().to_string().replace(',', ",,"))
        }
        Source::Http {
            url,
            readahead_bytes,
            ..
        } => {
            let scheme = url.split("://").next().unwrap_or("http");
            let ra = readahead_bytes.map_or(String::new(), |b| format!(",file.readahead={b}"));
            format!(
                "file.driver={scheme},file.url={}{ra}",
                url.replace(',', ",,")
            )
        }
        Source::Nbd { url } | Source::Network { url, .. } => {
            format!("file={}", url.replace(',', ",,"))
        }
        Source::Empty => String::new(),
    }
}

/// `drive.format-not-raw`.
pub(crate) const FORMAT_NOT_RAW: Rule = Rule {
    id: "drive.format-not-raw",
    layer: Layer::VmConfig,
    severity: Severity::Warn,
    title: "An ISO attached with a format other than raw, or a probed one",
    why: "An ISO is already a raw image. Declaring it qcow2 (or another format) either \
          fails or, for a real qcow2 file, adds a cluster lookup layer to every read. \
          With no format QEMU probes the image, prints a warning, and restricts writes to \
          sector 0; `format=raw` says what it is. The one legitimate qcow2 here is a local \
          overlay with copy-on-read over a remote (HTTP) ISO, which caches what a boot \
          reads; isotune cannot see backing files, so a qcow2 file not named .iso is only \
          reported as information.",
    reference: "https://www.qemu.org/docs/master/system/qemu-block-drivers.html (raw, qcow2); \
                https://www.qemu.org/docs/master/system/invocation.html (-drive format=); \
                https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms (<driver type=>)",
    check: format_not_raw,
};

fn format_not_raw(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for vm in &facts.vms {
        let style = Style::of(vm);
        for (i, d) in vm.drives.iter().enumerate() {
            if d.source == Source::Empty || !(d.media == Media::Cdrom || is_iso_source(&d.source)) {
                continue;
            }
            let (severity, title, seen) = match d.format.as_deref() {
                Some(f) if f.eq_ignore_ascii_case("raw") => continue,
                // libvirt (>= 4.5) passes format=raw itself when <driver type> is absent.
                // libvirt (>= 4.5) and Proxmox pass format=raw for an ISO themselves.
                None if style != Style::Qemu => continue,
                None => (
                    Severity::Info,
                    format!("drive {} has no format: QEMU probes it", drive_name(i, d)),
                    "format: not set (probed)".to_string(),
                ),
                Some(f) => {
                    let overlay = f.eq_ignore_ascii_case("qcow2") && !is_iso_source(&d.source);
                    let severity = if overlay {
                        Severity::Info
                    } else {
                        Severity::Warn
                    };
                    let extra = if overlay {
                        " (fine if it is a copy-on-read overlay over a remote ISO)"
                    } else {
                        ""
                    };
                    (
                        severity,
                        format!(
                            "{} is attached as {f}, not raw{extra}",
                            source_label(&d.source)
                        ),
                        format!("format: {f}"),
                    )
                }
            };
            let edit = match style {
                Style::Libvirt => domain_edit(vm, i, d, |target| DomainEdit::SetDriver {
                    target,
                    set: vec![Attr::new("name", "qemu"), Attr::new("type", "raw")],
                    remove: vec![],
                }),
                // The volume id is not in the model: changed by hand.
                Style::Proxmox => None,
                Style::Qemu => Some(FixEdit::Argv {
                    edits: vec![ArgvEdit::DriveOptions {
                        drive: drive_ref(i, d),
                        set: vec![Attr::new("format", "raw")],
                        remove: vec![],
                    }],
                }),
            };
            let evidence = vec![seen, format!("media: {:?}", d.media).to_lowercase()];
            let subject = drive_subject(vm, i, d);
            out.push(match edit {
                Some(edit) => {
                    FORMAT_NOT_RAW.finding_edit(severity, title, subject, evidence, edit, "")
                }
                None => FORMAT_NOT_RAW.finding(
                    severity,
                    title,
                    subject,
                    evidence,
                    format!("Declare the format raw ({})", where_to_edit(vm)),
                ),
            });
        }
    }
    out
}

/// `drive.not-readonly`.
pub(crate) const NOT_READONLY: Rule = Rule {
    id: "drive.not-readonly",
    layer: Layer::VmConfig,
    severity: Severity::Warn,
    title: "An ISO attached as a writable disk",
    why: "A cdrom is read-only by device, but an ISO attached as a disk is writable unless \
          it is marked read-only: the guest can modify the image, and QEMU takes a write \
          lock on it, so a second VM cannot attach the same ISO at the same time. Note that \
          IDE/SATA disks (ide-hd) cannot be read-only at all: attach the ISO as a cdrom there.",
    reference:
        "https://www.qemu.org/docs/master/system/invocation.html (-drive readonly=on); \
                https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms (<readonly/>)",
    check: not_readonly,
};

fn not_readonly(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for vm in &facts.vms {
        for (i, d) in vm.drives.iter().enumerate() {
            if d.media != Media::Disk || d.readonly == Some(true) {
                continue;
            }
            let Source::File { path } = &d.source else {
                continue;
            };
            if !crate::describe::path_is_iso(path) {
                continue;
            }
            let ide = matches!(d.bus, Bus::Ide | Bus::Sata);
            let edit = match (Style::of(vm), ide) {
                (Style::Proxmox, _) => None,
                (Style::Libvirt, false) => {
                    domain_edit(vm, i, d, |target| DomainEdit::AddDiskChild {
                        target,
                        name: "readonly".into(),
                    })
                }
                (Style::Qemu, false) => Some(FixEdit::Argv {
                    edits: vec![ArgvEdit::DriveOptions {
                        drive: drive_ref(i, d),
                        set: vec![Attr::new("readonly", "on")],
                        remove: vec![],
                    }],
                }),
                // IDE/SATA disks (ide-hd) cannot be read-only: attach the
                // ISO as a cdrom on the same bus.
                (Style::Libvirt, true) => {
                    let bus = if d.bus == Bus::Ide { "ide" } else { "sata" };
                    domain_edit(vm, i, d, |target| {
                        let boot = match d.boot_order {
                            Some(n) if vm.boot_devices.is_empty() => {
                                format!("  <boot order='{n}'/>\n")
                            }
                            _ => String::new(),
                        };
                        DomainEdit::ReplaceDisk {
                            xml: format!(
                                "{}\n  <driver name='qemu' type='raw'/>\n  {}\n  \
                                 <target dev='{target}' bus='{bus}'/>\n  <readonly/>\n{boot}</disk>",
                                libvirt_disk_open(&d.source, "cdrom"),
                                libvirt_source(&d.source),
                            ),
                            target,
                        }
                    })
                }
                (Style::Qemu, true) => {
                    let id = Taken::new(vm).cd(i);
                    let boot = d
                        .boot_order
                        .map_or(String::new(), |n| format!(",bootindex={n}"));
                    Some(FixEdit::Argv {
                        edits: vec![ArgvEdit::ReplaceDrive {
                            drive: drive_ref(i, d),
                            args: vec![
                                "-drive".into(),
                                format!(
                                    "if=none,id={id},media=cdrom,format=raw,readonly=on,{}",
                                    qemu_file_opts(&d.source)
                                ),
                                "-device".into(),
                                format!("ide-cd,drive={id}{boot}"),
                            ],
                        }],
                    })
                }
            };
            let fix = format!("Attach it read-only ({})", where_to_edit(vm));
            let title = format!("{} is a writable disk", path.display());
            let subject = drive_subject(vm, i, d);
            let evidence = vec![
                "media: disk".to_string(),
                format!(
                    "readonly: {}",
                    d.readonly
                        .map_or("not set", |r| if r { "on" } else { "off" })
                ),
                format!("bus: {:?}", d.bus).to_lowercase(),
            ];
            out.push(match edit {
                Some(edit) => {
                    NOT_READONLY.finding_edit(Severity::Warn, title, subject, evidence, edit, "")
                }
                None => NOT_READONLY.finding(Severity::Warn, title, subject, evidence, fix),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{example, healthy, qemu_vm};

    #[test]
    fn qcow2_iso_warns_and_overlay_is_info() {
        let f = format_not_raw(&example("drive.format-not-raw").unwrap());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warn);
        let mut overlay = example("drive.format-not-raw").unwrap();
        overlay.vms[0].drives[0].source = Source::File {
            path: "/var/tmp/x-cor.qcow2".into(),
        };
        let f = format_not_raw(&overlay);
        assert_eq!(f[0].severity, Severity::Info);
        // A qcow2 system disk is not an ISO.
        assert!(format_not_raw(&healthy()).is_empty());
    }

    #[test]
    fn probed_format_is_info_on_qemu_and_silent_on_libvirt() {
        let mut facts = healthy();
        facts.vms[0].drives[0].format = None;
        assert!(format_not_raw(&facts).is_empty());
        facts.vms = vec![qemu_vm()];
        facts.vms[0].drives[0].format = None;
        let f = format_not_raw(&facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(
            f[0].fix.contains("On drive sda: set format=raw"),
            "{}",
            f[0].fix
        );
    }

    #[test]
    fn writable_iso_disk_is_reported_with_the_right_fix() {
        let f = not_readonly(&example("drive.not-readonly").unwrap());
        assert_eq!(f.len(), 1);
        assert!(f[0].fix.contains("<readonly/>"));
        let mut ide = example("drive.not-readonly").unwrap();
        ide.vms[0].drives[0].bus = Bus::Ide;
        assert!(not_readonly(&ide)[0].fix.contains("device='cdrom'"));
        assert!(not_readonly(&healthy()).is_empty());
    }

    #[test]
    fn sources_render_for_libvirt_and_qemu() {
        let http = Source::Http {
            url: "https://m.example/isos/x.iso".into(),
            readahead_bytes: Some(1 << 20),
            timeout_seconds: None,
            sslverify: None,
        };
        assert_eq!(
            libvirt_source(&http),
            "<source protocol='https' name='/isos/x.iso'><host name='m.example'/></source>"
        );
        assert_eq!(
            qemu_file_opts(&http),
            "file.driver=https,file.url=https://m.example/isos/x.iso,file.readahead=1048576"
        );
        let comma = Source::File {
            path: "/a,b.iso".into(),
        };
        assert_eq!(qemu_file_opts(&comma), "file=/a,,b.iso");
    }
}
