//! Drive options that QEMU refuses or ignores: `aio=native` without
//! O_DIRECT, iothreads on buses that cannot use them, references to things
//! that are not defined.

use isotune_vmconfig::{Aio, Bus, IssueKind, Media};

use crate::describe::{
    drive_name, drive_subject, is_iso_source, issue_subject, virsh_edit, vm_label, where_to_edit,
    Style,
};
use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};
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
            let fix = match (Style::of(vm), iso) {
                (Style::Libvirt, true) => format!(
                    "`{}`, and in the <disk> with target {name}: <driver name='qemu' type='raw' io='io_uring'/> \
                     (or io='threads'; keep the page cache for a read-only ISO)",
                    virsh_edit(vm)
                ),
                (Style::Libvirt, false) => format!(
                    "`{}`, and in the <disk> with target {name}: <driver name='qemu' cache='none' io='native' .../>",
                    virsh_edit(vm)
                ),
                (Style::Qemu, true) => format!(
                    "On drive {name}: replace aio=native by aio=io_uring (or aio=threads), keeping the page cache"
                ),
                (Style::Qemu, false) => format!(
                    "On drive {name}: add cache=none (or cache.direct=on) next to aio=native, \
                     or use aio=io_uring / aio=threads"
                ),
            };
            out.push(AIO_NATIVE_NEEDS_DIRECT.finding(
                Severity::Error,
                format!("drive {name} asks for aio=native without O_DIRECT: QEMU will not start"),
                drive_subject(vm, i, d),
                vec![
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
                ],
                fix,
            ));
        }
    }
    out
}

/// `drive.iothread-ignored`.
pub(crate) const IOTHREAD_IGNORED: Rule = Rule {
    id: "drive.iothread-ignored",
    layer: Layer::VmConfig,
    severity: Severity::Warn,
    title: "An iothread given to a device that cannot use it",
    why: "Only virtio-blk and virtio-scsi run their I/O in an iothread. IDE, AHCI/SATA \
          and other controllers (lsilogic, USB) always run in QEMU's main loop, so an \
          iothread given to them does nothing (libvirt rejects it, QEMU has no such \
          property there); the drive is no faster than without it.",
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
            let bus = format!("{:?}", d.bus).to_lowercase();
            out.push(IOTHREAD_IGNORED.finding(
                Severity::Warn,
                format!("iothread {io} on {bus} drive {} does nothing", drive_name(i, d)),
                drive_subject(vm, i, d),
                vec![format!("bus: {bus}"), format!("iothread: {io}")],
                format!(
                    "Move drive {} to virtio-scsi (cdrom) or virtio-blk (disk) and give the iothread \
                     to that device: `-device virtio-scsi-pci,id=scsi0,iothread={io}` / libvirt \
                     <controller type='scsi' model='virtio-scsi'><driver iothread='{io}'/></controller>; \
                     or drop the iothread.",
                    drive_name(i, d)
                ),
            ));
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
            out.push(DANGLING_REFERENCE.finding(
                Severity::Warn,
                format!("{} refers to something not defined", issue.option),
                issue_subject(vm, issue),
                vec![format!("{}: {}", issue.option, issue.message)],
                format!(
                    "Define what {} refers to, or remove it ({}).",
                    issue.option,
                    where_to_edit(vm)
                ),
            ));
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
            f[0].fix.contains("cache='none' io='native'"),
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

    #[test]
    fn dangling_issue_is_reported() {
        let f = dangling_reference(&example("drive.dangling-reference").unwrap());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "VM \"web1\" argv");
        assert!(dangling_reference(&healthy()).is_empty());
    }
}
