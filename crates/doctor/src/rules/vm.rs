//! The VM definition's cdrom: the bus it hangs on, its image format, and
//! whether an ISO attached as a disk is read-only.

use isotune_vmconfig::{Bus, Drive, Firmware, Media, Source, VmDefinition};

use crate::describe::{
    drive_name, drive_subject, is_iso_source, source_label, virsh_edit, where_to_edit, Style,
};
use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};
use crate::fix::{ArgvEdit, Attr, DomainEdit, DriveRef, FixEdit};
use crate::rules::net::libvirt_network_source;
use crate::rules::Rule;

/// `cdrom.ide-bus`.
pub(crate) const CDROM_IDE_BUS: Rule = Rule {
    id: "cdrom.ide-bus",
    layer: Layer::VmConfig,
    severity: Severity::Warn,
    title: "A cdrom on the IDE bus",
    why: "SeaBIOS reads an IDE cdrom one 2048-byte sector per ATAPI command; AHCI (SATA) \
          and virtio-scsi reach ~16 KiB per request. Measured under TCG: GRUB loading a \
          16 MB kernel+initrd took 2.2-2.7 s on IDE vs 0.8-1.2 s on virtio-scsi, and GRUB \
          reading 64 MiB ~11-13 s on IDE vs ~4-5 s on AHCI. Once Linux runs it reads \
          ~128 KiB per request from IDE and ~930 KiB from virtio-scsi: 64 MiB took 0.95 s \
          vs 0.40 s. The guest needs a virtio-scsi driver (Linux has one; Windows \
          installers need the virtio-win drivers); without one, SATA/AHCI is the \
          driverless improvement (built into q35).",
    reference: "https://www.qemu.org/docs/master/system/invocation.html (-device, -drive); \
                https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms; \
                https://libvirt.org/formatdomain.html#controllers",
    check: cdrom_ide_bus,
};

fn cdrom_ide_bus(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for vm in &facts.vms {
        // Targets and ids the fixes of this VM's other cdroms already took.
        let mut taken = Taken::new(vm);
        for (i, d) in vm.drives.iter().enumerate() {
            if d.media != Media::Cdrom || d.bus != Bus::Ide || d.source == Source::Empty {
                continue;
            }
            let mut evidence = vec![
                format!(
                    "bus: IDE (device {})",
                    d.device.as_deref().unwrap_or("ide-cd")
                ),
                format!(
                    "machine: {}",
                    vm.machine.as_deref().unwrap_or("not set (pc)")
                ),
                format!("firmware: {}", firmware_name(&vm.firmware)),
            ];
            if let Some(k) = &vm.kernel {
                evidence.push(format!(
                    "direct kernel boot from {}: the firmware does not read the ISO, Linux still does",
                    k.display()
                ));
            }
            if !vm.boot_devices.is_empty() {
                evidence.push(format!(
                    "boot: <os><boot dev='{}'/> (kept: libvirt refuses per-device boot order next to it)",
                    vm.boot_devices.join("'/><boot dev='")
                ));
            }
            let title = format!(
                "cdrom {} is on the IDE bus: 2 KiB firmware reads, slow guest reads",
                drive_name(i, d)
            );
            let subject = drive_subject(vm, i, d);
            let finding = match ide_fix(vm, i, d, &mut taken) {
                Some((edit, note)) => CDROM_IDE_BUS.finding_edit(
                    Severity::Warn,
                    title,
                    subject,
                    evidence,
                    edit,
                    &note,
                ),
                None => CDROM_IDE_BUS.finding(
                    Severity::Warn,
                    title,
                    subject,
                    evidence,
                    format!(
                        "Attach the cdrom to a virtio-scsi controller ({})",
                        where_to_edit(vm)
                    ),
                ),
            };
            out.push(finding);
        }
    }
    out
}

fn firmware_name(fw: &Firmware) -> String {
    match fw {
        Firmware::Default => "default (SeaBIOS)".into(),
        Firmware::Bios { path } => match path {
            Some(p) => format!("BIOS {}", p.display()),
            None => "BIOS (SeaBIOS)".into(),
        },
        Firmware::Uefi { code } => match code {
            Some(p) => format!("UEFI {}", p.display()),
            None => "UEFI (OVMF)".into(),
        },
    }
}

fn is_q35(vm: &VmDefinition) -> bool {
    vm.machine.as_deref().is_some_and(|m| m.contains("q35"))
}

/// The id of an existing virtio-scsi controller, when the VM has one.
fn virtio_scsi(vm: &VmDefinition) -> Option<Option<&str>> {
    vm.controllers
        .iter()
        .find(|c| c.kind.starts_with("virtio-scsi"))
        .map(|c| c.id.as_deref())
}

/// What the fixes of one VM have used so far: targets and ids are picked
/// across all its findings, each in constant time (a VM with 32,000 cdroms
/// must not make the doctor quadratic).
struct Taken<'a> {
    /// Ids of the VM's drives.
    used: std::collections::HashSet<&'a str>,
    /// Targets and ids handed out by earlier fixes.
    given: std::collections::HashSet<String>,
    /// Where the next search starts.
    next_sd: usize,
    next_cd: usize,
}

impl<'a> Taken<'a> {
    fn new(vm: &'a VmDefinition) -> Taken<'a> {
        Taken {
            used: vm.drives.iter().filter_map(|d| d.id.as_deref()).collect(),
            given: Default::default(),
            next_sd: 0,
            next_cd: 0,
        }
    }

    /// The next free `sdX` target (`sda`..`sdz`, `sdaa`.., as libvirt names them).
    fn sd(&mut self) -> String {
        loop {
            let name = format!("sd{}", letters(self.next_sd));
            self.next_sd += 1;
            if !self.used.contains(name.as_str()) && self.given.insert(name.clone()) {
                return name;
            }
        }
    }

    /// A free drive id for the VM's drive `i`: `cd{i}` when free, so that
    /// fixes of different rules for different drives never pick the same id,
    /// else the next free `cdN`.
    fn cd(&mut self, i: usize) -> String {
        let preferred = format!("cd{i}");
        if !self.used.contains(preferred.as_str()) && self.given.insert(preferred.clone()) {
            return preferred;
        }
        loop {
            let name = format!("cd{}", self.next_cd);
            self.next_cd += 1;
            if !self.used.contains(name.as_str()) && self.given.insert(name.clone()) {
                return name;
            }
        }
    }
}

/// `a`..`z`, `aa`.. for 0, 1, ... (libvirt's disk target suffixes).
fn letters(mut n: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The index of a libvirt SCSI controller (`scsi1` -> 1).
fn scsi_index(id: Option<&str>) -> Option<u32> {
    id?.strip_prefix("scsi")?.parse().ok()
}

/// The structured fix moving IDE cdrom `d` to virtio-scsi, and a note on the
/// SATA alternative. `taken` collects the targets/ids this VM's fixes use.
fn ide_fix(
    vm: &VmDefinition,
    i: usize,
    d: &Drive,
    taken: &mut Taken<'_>,
) -> Option<(FixEdit, String)> {
    match Style::of(vm) {
        Style::Libvirt => {
            let old = d.id.clone()?;
            let target = taken.sd();
            let mut edits = Vec::new();
            let index = match virtio_scsi(vm) {
                Some(id) => scsi_index(id).unwrap_or(0),
                None => {
                    let index = vm
                        .controllers
                        .iter()
                        .filter_map(|c| scsi_index(c.id.as_deref()))
                        .max()
                        .map_or(0, |m| m + 1);
                    edits.push(DomainEdit::EnsureScsiController {
                        model: "virtio-scsi".into(),
                        xml: format!(
                            "<controller type='scsi' index='{index}' model='virtio-scsi'/>"
                        ),
                    });
                    index
                }
            };
            // libvirt puts sdX on controller 0 unless told otherwise.
            let address = if index == 0 {
                String::new()
            } else {
                let unit = taken.next_sd - 1;
                format!(
                    "  <address type='drive' controller='{index}' bus='0' target='0' unit='{unit}'/>\n"
                )
            };
            // Per-device boot order only when the domain already uses it:
            // libvirt refuses it next to <os><boot dev=.../>.
            let boot = match d.boot_order {
                Some(n) if vm.boot_devices.is_empty() => format!("  <boot order='{n}'/>\n"),
                _ => String::new(),
            };
            let xml = format!(
                "{disk}\n  <driver name='qemu' type='raw'/>\n  {source}\n  \
                 <target dev='{target}' bus='scsi'/>\n{address}  <readonly/>\n{boot}</disk>",
                disk = libvirt_disk_open(&d.source, "cdrom"),
                source = libvirt_source(&d.source),
            );
            edits.push(DomainEdit::ReplaceDisk { target: old, xml });
            let sata = if is_q35(vm) {
                format!("<target dev='{target}' bus='sata'/> (q35 has AHCI built in)")
            } else {
                format!(
                    "<target dev='{target}' bus='sata'/> (libvirt adds an AHCI controller; \
                     on pc machines consider q35)"
                )
            };
            let edit = FixEdit::Domain {
                open: virsh_edit(vm),
                edits,
            };
            Some((
                edit,
                format!("If the guest has no virtio-scsi driver (Windows without virtio-win), use {sata} instead."),
            ))
        }
        Style::Qemu => {
            let id = taken.cd(i);
            let mut edits = Vec::new();
            let ctl = match virtio_scsi(vm) {
                Some(Some(cid)) => cid.to_string(),
                _ => {
                    edits.push(ArgvEdit::EnsureController {
                        id: "scsi0".into(),
                        args: vec!["-device".into(), "virtio-scsi-pci,id=scsi0".into()],
                    });
                    "scsi0".into()
                }
            };
            let boot = d
                .boot_order
                .map_or(String::new(), |n| format!(",bootindex={n}"));
            edits.push(ArgvEdit::ReplaceDrive {
                drive: DriveRef {
                    id: drive_name(i, d),
                    source: d.source.clone(),
                },
                args: vec![
                    "-drive".into(),
                    format!(
                        "if=none,id={id},media=cdrom,format=raw,readonly=on,{}",
                        qemu_file_opts(&d.source)
                    ),
                    "-device".into(),
                    format!("scsi-cd,bus={ctl}.0,drive={id}{boot}"),
                ],
            });
            let sata = if is_q35(vm) {
                format!("`-device ide-cd,bus=ide.0,drive={id}{boot}` (q35's built-in AHCI)")
            } else {
                format!("`-device ahci,id=ahci0 -device ide-cd,bus=ahci0.0,drive={id}{boot}`")
            };
            Some((
                FixEdit::Argv { edits },
                format!(
                    "If the guest has no virtio-scsi driver (Windows without virtio-win), attach it \
                     with {sata} instead of the scsi-cd device."
                ),
            ))
        }
    }
}

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
                None if style == Style::Libvirt => continue,
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
    fn ide_cdrom_fix_uses_the_path_and_a_free_target() {
        let f = cdrom_ide_bus(&example("cdrom.ide-bus").unwrap());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "VM \"web1\" drive hdc (/isos/x.iso)");
        let fix = &f[0].fix;
        assert!(fix.contains("<source file='/isos/x.iso'/>"), "{fix}");
        // web1 already has a virtio-scsi controller: no second one.
        assert!(!fix.contains("<controller"), "{fix}");
        assert!(fix.contains("<target dev='sda' bus='scsi'/>"), "{fix}");
        assert!(fix.contains("<boot order='1'/>"), "{fix}");
        assert!(fix.contains("virsh edit web1"));
    }

    #[test]
    fn target_letters_follow_libvirt() {
        assert_eq!(letters(0), "a");
        assert_eq!(letters(25), "z");
        assert_eq!(letters(26), "aa");
        assert_eq!(letters(27), "ab");
        assert_eq!(letters(26 + 26 * 26), "aaa");
    }

    /// Regression (hostile-input issue): doctor time was quadratic in the
    /// number of cdrom disks (32,000 took 15 s). Each fix now picks its
    /// target in constant time; the targets stay distinct.
    #[test]
    fn many_ide_cdroms_are_linear_and_get_distinct_targets() {
        let n = 32_000;
        let mut xml = String::from(
            "<domain type='kvm'><name>many</name><os><boot dev='cdrom'/></os><devices>",
        );
        for k in 0..n {
            xml += &format!(
                "<disk type='file' device='cdrom'><source file='/isos/{k}.iso'/>\
                 <target dev='hd{}' bus='ide'/><readonly/></disk>",
                letters(k)
            );
        }
        xml += "</devices></domain>";
        let origin = isotune_vmconfig::Origin::LibvirtXml {
            path: "many.xml".into(),
        };
        let vm = isotune_vmconfig::parse_domain_xml(&xml, origin).unwrap();
        let facts = Facts {
            vms: vec![vm],
            ..Facts::default()
        };
        let found = cdrom_ide_bus(&facts);
        assert_eq!(found.len(), n);
        let targets: std::collections::HashSet<String> = found
            .iter()
            .map(|f| match &f.edit {
                Some(FixEdit::Domain { edits, .. }) => match edits.last() {
                    Some(DomainEdit::ReplaceDisk { xml, .. }) => xml.clone(),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(targets.len(), n);
    }

    #[test]
    fn ide_cdrom_fix_in_qemu_arguments() {
        let mut facts = example("cdrom.ide-bus").unwrap();
        let mut vm = qemu_vm();
        vm.drives = facts.vms[0].drives.clone();
        vm.controllers.clear();
        vm.machine = Some("q35".into());
        facts.vms = vec![vm];
        let f = cdrom_ide_bus(&facts);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].fix.contains(
                "Add `-device virtio-scsi-pci,id=scsi0` (unless a controller scsi0 is there \
                 already)\nReplace the arguments defining drive hdc (its -cdrom/-drive/-device) \
                 by: `-drive if=none,id=cd0,media=cdrom,format=raw,readonly=on,file=/isos/x.iso \
                 -device scsi-cd,bus=scsi0.0,drive=cd0,bootindex=1`"
            ),
            "{}",
            f[0].fix
        );
        assert!(f[0].fix.contains("bus=ide.0"));
    }

    #[test]
    fn ide_disk_or_empty_cdrom_is_not_a_cdrom_finding() {
        let mut facts = example("cdrom.ide-bus").unwrap();
        facts.vms[0].drives[0].source = Source::Empty;
        assert!(cdrom_ide_bus(&facts).is_empty());
        assert!(cdrom_ide_bus(&healthy()).is_empty());
    }

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
