//! Drive options that QEMU refuses or ignores: `aio=native` without
//! O_DIRECT, iothreads on buses that cannot use them, references to things
//! that are not defined.

use isotune_vmconfig::{Aio, Bus, ConfigIssue, IssueKind, Media, VmDefinition};

use crate::describe::{
    drive_name, drive_subject, is_iso_source, issue_subject, vm_label, where_to_edit, Style,
};
use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};
use crate::fix::{ArgvEdit, Attr, DomainEdit, FixEdit};
use crate::rules::myth::removal;
use crate::rules::vm::{domain_edit, drive_ref};
use crate::rules::Rule;

/// `drive.aio-native-needs-direct`.
pub(crate) const AIO_NATIVE_NEEDS_DIRECT: Rule = Rule {
    id: "drive.aio-native-needs-direct",
    layer: Layer::VmConfig,
    severity: Severity::Error,
    title: "aio=native without O_DIRECT",
    why: "Linux native AIO only works asynchronously on files opened with O_DIRECT. QEMU \
          refuses to start: \"aio=native was specified, but it requires cache.direct=on, \
          which was not specified.\" For a read-only ISO, keep the page cache (repeated \
          boots read from memory, and cache=none turns every small IDE read into an \
          O_DIRECT read) and use aio=io_uring or threads; for a disk, cache=none with \
          aio=native is the usual pairing.",
    reference: "https://www.qemu.org/docs/master/system/invocation.html (-drive aio=, cache=); \
                https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms (<driver io= cache=>)",
    check: aio_native_needs_direct,
};

fn aio_native_needs_direct(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for vm in &facts.vms {
        for (i, d) in vm.drives.iter().enumerate() {
            if d.aio != Some(Aio::Native) || d.is_direct() {
                continue;
            }
            let iso = d.media == Media::Cdrom || is_iso_source(&d.source);
            let name = drive_name(i, d);
            let (set, remove) = if iso {
                (vec![Attr::new("aio", "io_uring")], vec![])
            } else {
                (
                    vec![Attr::new("cache", "none")],
                    vec!["cache.direct".to_string()],
                )
            };
            let edit = match Style::of(vm) {
                Style::Libvirt => {
                    let set = if iso {
                        vec![Attr::new("io", "io_uring")]
                    } else {
                        vec![Attr::new("cache", "none")]
                    };
                    domain_edit(vm, i, d, |target| DomainEdit::SetDriver {
                        target,
                        set,
                        remove: vec![],
                    })
                }
                Style::Qemu => Some(FixEdit::Argv {
                    edits: vec![ArgvEdit::DriveOptions {
                        drive: drive_ref(i, d),
                        set,
                        remove,
                    }],
                }),
                // The drive line's other options are not in the model: a
                // `qm set` would drop them. The text fix names the file.
                Style::Proxmox => None,
            };
            let note = if iso {
                "(or aio=threads / io='threads'; keep the page cache for a read-only ISO)"
            } else {
                "(or keep the cache and use aio=io_uring / io='io_uring')"
            };
            let title =
                format!("drive {name} asks for aio=native without O_DIRECT: QEMU will not start");
            let subject = drive_subject(vm, i, d);
            let evidence = vec![
                "aio: native".to_string(),
                format!(
                    "cache: {}",
                    d.cache
                        .as_ref()
                        .map_or("not set (writeback)".to_string(), |c| format!("{c:?}")
                            .to_lowercase())
                ),
                format!(
                    "cache.direct: {}",
                    d.cache_direct.map_or("not set".to_string(), |b| if b {
                        "on".into()
                    } else {
                        "off".into()
                    })
                ),
            ];
            out.push(match edit {
                Some(edit) => AIO_NATIVE_NEEDS_DIRECT.finding_edit(
                    Severity::Error,
                    title,
                    subject,
                    evidence,
                    edit,
                    note,
                ),
                None => AIO_NATIVE_NEEDS_DIRECT.finding(
                    Severity::Error,
                    title,
                    subject,
                    evidence,
                    format!(
                        "Use aio=io_uring, or add cache=none ({})",
                        where_to_edit(vm)
                    ),
                ),
            });
        }
    }
    out
}

/// `drive.iothread-ignored`.
pub(crate) const IOTHREAD_IGNORED: Rule = Rule {
    id: "drive.iothread-ignored",
    layer: Layer::VmConfig,
    severity: Severity::Error,
    title: "An iothread given to a device that cannot use it",
    why: "Only virtio-blk and virtio-scsi run their I/O in an iothread. IDE, AHCI/SATA \
          and other controllers (lsilogic, USB) always run in QEMU's main loop, so an \
          iothread given to them does nothing: libvirt rejects it, and QEMU has no such \
          property there and refuses to start (\"Property 'ide-cd.iothread' not found\"). \
          The drive is no faster than without it; for a cdrom, virtio-scsi with the \
          iothread on the controller is what runs its I/O outside the main loop.",
    reference: "https://www.qemu.org/docs/master/system/invocation.html (-object iothread, \
                virtio-blk-pci/virtio-scsi-pci iothread=); \
                https://libvirt.org/formatdomain.html#iothreads-allocation",
    check: iothread_ignored,
};

fn iothread_ignored(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for vm in &facts.vms {
        for (i, d) in vm.drives.iter().enumerate() {
            let Some(io) = &d.iothread else { continue };
            if matches!(d.bus, Bus::Virtio | Bus::Scsi) {
                continue;
            }
            let bus = bus_name(&d.bus);
            let name = drive_name(i, d);
            let cd = d.media == Media::Cdrom;
            let mut evidence = vec![format!("bus: {bus}"), format!("iothread: {io}")];
            if let Some(dev) = &d.device {
                evidence.push(format!("device: {dev}"));
            }
            let (severity, title, fix) = match Style::of(vm) {
                // On a command line the iothread is a `-device` property
                // QEMU does not have there: it will not start.
                Style::Qemu => {
                    let dev = d.device.as_deref().unwrap_or("ide-cd");
                    let id = d.id.as_deref().unwrap_or("DRIVE");
                    let fix = if cd {
                        format!(
                            "Or move the cdrom to virtio-scsi with the iothread on the controller: \
                             `-device virtio-scsi-pci,id=scsi0,iothread={io} \
                             -device scsi-cd,drive={id},bus=scsi0.0`"
                        )
                    } else {
                        format!(
                            "Or move the {dev} disk to virtio-blk, which takes the iothread itself: \
                             `-device virtio-blk-pci,drive={id},iothread={io}`"
                        )
                    };
                    (
                        Severity::Error,
                        format!(
                            "iothread={io} on {bus} drive {name}: QEMU has no such property \
                             there and will not start"
                        ),
                        fix,
                    )
                }
                Style::Proxmox => (
                    Severity::Warn,
                    format!("iothread on {bus} drive {name} does nothing"),
                    "Proxmox gives an iothread only to virtio drives and to scsi drives with \
                     `scsihw: virtio-scsi-single`: move the drive there, with iothread=1"
                        .to_string(),
                ),
                Style::Libvirt => {
                    let fix = if cd {
                        format!(
                            "Or move the cdrom to virtio-scsi with the iothread on \
                             the controller: <controller type='scsi' model='virtio-scsi'>\
                             <driver iothread='{io}'/></controller> and <target dev='sda' bus='scsi'/>"
                        )
                    } else {
                        format!(
                            "Or move the disk to <target dev='vda' bus='virtio'/>, \
                             where <driver iothread='{io}'/> applies"
                        )
                    };
                    (
                        Severity::Warn,
                        format!("iothread {io} on {bus} drive {name} does nothing"),
                        fix,
                    )
                }
            };
            let edit = match Style::of(vm) {
                Style::Libvirt => domain_edit(vm, i, d, |target| DomainEdit::SetDriver {
                    target,
                    set: vec![],
                    remove: vec!["iothread".into()],
                }),
                Style::Proxmox => None,
                Style::Qemu => Some(FixEdit::Argv {
                    edits: vec![ArgvEdit::RemoveDeviceProperty {
                        drive: drive_ref(i, d),
                        key: "iothread".into(),
                    }],
                }),
            };
            let subject = drive_subject(vm, i, d);
            out.push(match edit {
                Some(edit) => {
                    IOTHREAD_IGNORED.finding_edit(severity, title, subject, evidence, edit, &fix)
                }
                None => IOTHREAD_IGNORED.finding(
                    severity,
                    title,
                    subject,
                    evidence,
                    format!("Remove iothread={io} from drive {name}. {fix}"),
                ),
            });
        }
        for c in &vm.controllers {
            let Some(io) = &c.iothread else { continue };
            if c.kind.starts_with("virtio") {
                continue;
            }
            let cid = c.id.clone().unwrap_or_else(|| c.kind.clone());
            out.push(IOTHREAD_IGNORED.finding(
                Severity::Warn,
                format!("iothread {io} on {} controller {cid} does nothing", c.kind),
                format!("{} controller {cid}", vm_label(vm)),
                vec![format!("controller: {}", c.kind), format!("iothread: {io}")],
                format!(
                    "Drop the iothread from {cid}, or attach the drives to a virtio-scsi controller \
                     with it: `-device virtio-scsi-pci,id=scsi0,iothread={io}` / libvirt <controller \
                     type='scsi' model='virtio-scsi'><driver iothread='{io}'/></controller>"
                ),
            ));
        }
    }
    out
}

/// `ide`, `sata`, `usb`, or the name of another bus.
fn bus_name(bus: &Bus) -> String {
    match bus {
        Bus::Other(name) if name.is_empty() => "unknown".to_string(),
        Bus::Other(name) => name.clone(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The iothreads given to front ends that cannot use them (IDE, AHCI, USB,
/// floppy), which `drive.iothread-ignored` reports for this VM.
pub(crate) fn ignored_iothreads(vm: &VmDefinition) -> std::collections::HashSet<&str> {
    vm.drives
        .iter()
        .filter(|d| !matches!(d.bus, Bus::Virtio | Bus::Scsi))
        .filter_map(|d| d.iothread.as_deref())
        .collect()
}

/// Whether `issue` is an `iothread=` property QEMU refuses on a front end
/// that `drive.iothread-ignored` already reports for this VM (`ignored` is
/// [`ignored_iothreads`]): `config.unknown-option` leaves it out so the
/// problem is reported once, with the useful fix.
pub(crate) fn reported_as_iothread_ignored(
    ignored: &std::collections::HashSet<&str>,
    issue: &ConfigIssue,
) -> bool {
    issue.kind == IssueKind::Unknown
        && issue
            .option
            .strip_prefix("iothread=")
            .is_some_and(|v| ignored.contains(v))
}

/// `drive.dangling-reference`.
pub(crate) const DANGLING_REFERENCE: Rule = Rule {
    id: "drive.dangling-reference",
    layer: Layer::VmConfig,
    severity: Severity::Warn,
    title: "A reference to something that is not defined",
    why: "The definition names a drive, controller or iothread that does not exist (or \
          defines a drive no device uses). QEMU refuses to start on a missing reference; \
          a drive nothing uses is never seen by the guest, so the ISO the VM was meant to \
          boot is not there.",
    reference:
        "https://www.qemu.org/docs/master/system/invocation.html (-drive if=none, -device drive=, \
                -object iothread)",
    check: dangling_reference,
};

fn dangling_reference(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for vm in &facts.vms {
        for issue in vm.issues.iter().filter(|i| i.kind == IssueKind::Dangling) {
            let title = format!("{} refers to something not defined", issue.option);
            let subject = issue_subject(vm, issue);
            let evidence = vec![format!("{}: {}", issue.option, issue.message)];
            let note = format!("Or define what {} refers to.", issue.option);
            // Removing an iothread or bus reference leaves a device QEMU and
            // libvirt accept (the default bus, the main loop); removing a
            // drive reference may not (virtio-blk needs one), so that one
            // stays a text fix.
            let removable = ["iothread=", "bus="]
                .iter()
                .any(|p| issue.option.starts_with(p));
            let edit = removable.then(|| removal(vm, issue)).flatten();
            out.push(match edit {
                Some(edit) => DANGLING_REFERENCE.finding_edit(
                    Severity::Warn,
                    title,
                    subject,
                    evidence,
                    edit,
                    &note,
                ),
                None => DANGLING_REFERENCE.finding(
                    Severity::Warn,
                    title,
                    subject,
                    evidence,
                    format!(
                        "Define what {} refers to, or remove it ({}).",
                        issue.option,
                        where_to_edit(vm)
                    ),
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{example, healthy, qemu_vm};
    use isotune_vmconfig::{CacheMode, Controller};

    #[test]
    fn aio_native_without_direct_is_an_error() {
        let f = aio_native_needs_direct(&example("drive.aio-native-needs-direct").unwrap());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
        assert!(
            f[0].fix.contains("target vda: <driver cache='none'/>"),
            "{}",
            f[0].fix
        );
        assert!(aio_native_needs_direct(&healthy()).is_empty());
    }

    #[test]
    fn cache_direct_alone_satisfies_aio_native() {
        let mut facts = example("drive.aio-native-needs-direct").unwrap();
        facts.vms[0].drives[1].cache = Some(CacheMode::Writeback);
        facts.vms[0].drives[1].cache_direct = Some(true);
        assert!(aio_native_needs_direct(&facts).is_empty());
    }

    #[test]
    fn iso_with_aio_native_is_told_to_keep_the_page_cache() {
        let mut facts = healthy();
        facts.vms = vec![qemu_vm()];
        facts.vms[0].drives[0].aio = Some(Aio::Native);
        let f = aio_native_needs_direct(&facts);
        assert!(f[0].fix.contains("aio=io_uring"), "{}", f[0].fix);
    }

    #[test]
    fn iothread_on_sata_drive_and_ahci_controller() {
        let f = iothread_ignored(&example("drive.iothread-ignored").unwrap());
        assert_eq!(f.len(), 1);
        let mut facts = healthy();
        facts.vms[0].controllers.push(Controller {
            id: Some("sata0".into()),
            kind: "ahci".into(),
            iothread: Some("1".into()),
        });
        let f = iothread_ignored(&facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "VM \"web1\" controller sata0");
        assert!(iothread_ignored(&healthy()).is_empty());
    }

    fn parse_argv(argv: &str) -> VmDefinition {
        let argv: Vec<String> = argv.split_whitespace().map(str::to_string).collect();
        isotune_vmconfig::parse_argv(&argv, isotune_vmconfig::Origin::QemuCmdline)
    }

    fn parse_xml(xml: &str) -> VmDefinition {
        let origin = isotune_vmconfig::Origin::LibvirtXml {
            path: "/etc/libvirt/qemu/t.xml".into(),
        };
        isotune_vmconfig::parse_domain_xml(xml, origin).unwrap()
    }

    fn only(vm: VmDefinition) -> Facts {
        Facts {
            vms: vec![vm],
            ..Facts::default()
        }
    }

    #[test]
    fn iothread_on_libvirt_ide_or_sata_cdrom_fires_with_the_libvirt_fix() {
        for bus in ["ide", "sata"] {
            let xml = format!(
                "<domain type='kvm'><name>w</name><iothreads>1</iothreads><devices>
                 <disk type='file' device='cdrom'>
                   <driver name='qemu' type='raw' iothread='1'/>
                   <source file='/isos/a.iso'/><target dev='hdc' bus='{bus}'/><readonly/>
                 </disk></devices></domain>"
            );
            let facts = only(parse_xml(&xml));
            let f = iothread_ignored(&facts);
            assert_eq!(f.len(), 1, "{bus}: {f:?}");
            assert_eq!(f[0].severity, Severity::Warn);
            assert_eq!(
                f[0].title,
                format!("iothread 1 on {bus} drive hdc does nothing")
            );
            assert!(f[0].fix.starts_with("`virsh edit w`"), "{}", f[0].fix);
            assert!(
                f[0].fix
                    .contains("target hdc: remove iothread from <driver>"),
                "{}",
                f[0].fix
            );
            assert!(f[0].fix.contains("model='virtio-scsi'"), "{}", f[0].fix);
        }
    }

    /// Regression (hostile-input issue): each `iothread=` issue looked
    /// through every drive; 20,000 of them must stay linear.
    #[test]
    fn many_iothread_cdroms_on_argv_are_linear() {
        let n = 20_000;
        let mut argv = String::from("qemu-system-x86_64 -object iothread,id=io0");
        for k in 0..n {
            argv += &format!(
                " -drive if=none,id=c{k},file=/x{k}.iso,media=cdrom,format=raw \
                 -device ide-cd,drive=c{k},iothread=io0"
            );
        }
        let facts = only(parse_argv(&argv));
        let all = crate::diagnose(&facts);
        assert_eq!(
            all.iter().filter(|f| f.id == IOTHREAD_IGNORED.id).count(),
            n
        );
        assert!(all.iter().all(|f| f.id != "config.unknown-option"));
    }

    #[test]
    fn iothread_on_ide_cd_argv_is_one_error_not_an_unknown_option() {
        for argv in [
            "qemu-system-x86_64 -enable-kvm -object iothread,id=io0 \
             -drive if=none,id=cd,file=/x.iso,media=cdrom,format=raw \
             -device ide-cd,drive=cd,iothread=io0",
            "qemu-system-x86_64 -enable-kvm -M q35 -object iothread,id=io0 -device ahci,id=ahci0 \
             -drive if=none,id=cd,file=/x.iso,media=cdrom,format=raw \
             -device ide-cd,drive=cd,bus=ahci0.0,iothread=io0",
        ] {
            let facts = only(parse_argv(argv));
            let f = iothread_ignored(&facts);
            assert_eq!(f.len(), 1, "{f:?}");
            assert_eq!(f[0].severity, Severity::Error);
            assert!(f[0].title.contains("will not start"), "{}", f[0].title);
            assert!(
                f[0].fix
                    .starts_with("Remove iothread= from the -device that uses drive cd"),
                "{}",
                f[0].fix
            );
            assert!(
                f[0].fix
                    .contains("move the cdrom to virtio-scsi with the iothread on the controller"),
                "{}",
                f[0].fix
            );
            assert!(f[0].fix.contains("iothread=io0"), "{}", f[0].fix);
            // Reported once: the parser's Unknown issue is not a second finding.
            let all = crate::rules::diagnose(&facts);
            let ids: Vec<&str> = all.iter().map(|f| f.id).collect();
            assert_eq!(
                ids.iter()
                    .filter(|id| **id == "drive.iothread-ignored")
                    .count(),
                1,
                "{ids:?}"
            );
            assert!(!ids.contains(&"config.unknown-option"), "{ids:?}");
        }
    }

    #[test]
    fn unrelated_unknown_iothread_is_still_an_unknown_option() {
        // `iothread=` on a scsi-cd: not kept on the drive (the controller's
        // iothread applies), so the generic finding stays.
        let facts = only(parse_argv(
            "qemu-system-x86_64 -enable-kvm -object iothread,id=io0 -device virtio-scsi-pci,id=s0 \
             -drive if=none,id=cd,file=/x.iso,media=cdrom,format=raw \
             -device scsi-cd,drive=cd,bus=s0.0,iothread=io0",
        ));
        assert!(iothread_ignored(&facts).is_empty());
        let ids: Vec<&str> = crate::rules::diagnose(&facts)
            .iter()
            .map(|f| f.id)
            .collect();
        assert!(ids.contains(&"config.unknown-option"), "{ids:?}");
    }

    #[test]
    fn dangling_issue_is_reported() {
        let f = dangling_reference(&example("drive.dangling-reference").unwrap());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "VM \"web1\" argv");
        assert!(dangling_reference(&healthy()).is_empty());
    }
}
