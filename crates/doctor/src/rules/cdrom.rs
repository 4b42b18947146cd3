//! `cdrom.ide-bus`: a cdrom on the IDE bus, and its fix (virtio-scsi, with
//! targets and ids picked across all the findings of one VM, the domain's
//! boot scheme kept, and one controller added).

use isotune_vmconfig::{Bus, Drive, Firmware, Media, Source, VmDefinition};

use crate::describe::{drive_name, drive_subject, virsh_edit, where_to_edit, Style};
use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};
use crate::fix::{ArgvEdit, DomainEdit, DriveRef, FixEdit, QmEdit};
use crate::rules::vm::{libvirt_disk_open, libvirt_source, qemu_file_opts};
use crate::rules::Rule;

/// `cdrom.ide-bus`.
pub(crate) const CDROM_IDE_BUS: Rule = Rule {
    id: "cdrom.ide-bus",
    layer: Layer::VmConfig,
    severity: Severity::Warn,
    title: "A cdrom on the IDE bus",
    why: "SeaBIOS reads an IDE cdrom one 2048-byte sector per ATAPI command; AHCI (SATA) \
          and virtio-scsi reach 16-32 KiB per request. Measured under TCG \
          (scripts/bench/boot.sh, docs/BENCHMARKS.md \"Issue 5: boot\"): GRUB loading a \
          kernel and a 64 MiB initrd was 3.1x faster on AHCI and 1.9x faster on \
          virtio-scsi than on IDE (18.0 s), SeaBIOS reading 64 MiB through int13 9.6x and \
          6.0x. Once Linux runs, both buses read 128 KiB per request through the page \
          cache and the bus matters far less (virtio-scsi 1.26x). The guest needs a \
          virtio-scsi driver (Linux has one; Windows installers need the virtio-win \
          drivers); without one, SATA/AHCI is the driverless improvement (built into q35).",
    reference: "https://www.qemu.org/docs/master/system/invocation.html (-device, -drive); \
                https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms; \
                https://libvirt.org/formatdomain.html#controllers; \
                docs/evidence.md (the measurements quoted)",
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
            if let (Style::Proxmox, false) = (Style::of(vm), vm.boot_devices.is_empty()) {
                evidence.push(format!("boot: order={}", vm.boot_devices.join(";")));
            } else if !vm.boot_devices.is_empty() {
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
pub(crate) struct Taken<'a> {
    /// Ids of the VM's drives.
    used: std::collections::HashSet<&'a str>,
    /// Targets and ids handed out by earlier fixes.
    given: std::collections::HashSet<String>,
    /// Where the next search starts.
    next_sd: usize,
    next_cd: usize,
}

impl<'a> Taken<'a> {
    pub(crate) fn new(vm: &'a VmDefinition) -> Taken<'a> {
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
    pub(crate) fn cd(&mut self, i: usize) -> String {
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
    if let isotune_vmconfig::Origin::Proxmox { vmid, .. } = vm.origin {
        return proxmox_ide_fix(vm, vmid, d, taken);
    }
    match Style::of(vm) {
        // Handled above, from the origin's VM id.
        Style::Proxmox => None,
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

/// `qm set VMID --scsihw virtio-scsi-single --scsiN PATH,media=cdrom --delete ide2`:
/// Proxmox puts every `scsiN` on the VM's one SCSI controller type.
fn proxmox_ide_fix(
    vm: &VmDefinition,
    vmid: u32,
    d: &Drive,
    taken: &mut Taken<'_>,
) -> Option<(FixEdit, String)> {
    let old = d.id.clone()?;
    let path = d.local_path()?.display().to_string();
    // The first scsiN no drive of the VM (nor an earlier fix) uses.
    let key = (0..31)
        .map(|n| format!("scsi{n}"))
        .find(|k| !taken.used.contains(k.as_str()) && taken.given.insert(k.clone()))?;
    let mut edits = Vec::new();
    let has_virtio_scsi = vm
        .controllers
        .iter()
        .any(|c| c.kind.starts_with("virtio-scsi"));
    if !has_virtio_scsi {
        edits.push(QmEdit::Set {
            key: "scsihw".into(),
            value: "virtio-scsi-single".into(),
        });
    }
    edits.push(QmEdit::Set {
        key: key.clone(),
        value: format!("{path},media=cdrom"),
    });
    // The boot order names drives by key: the cdrom's new key takes the
    // old one's place (net devices and the rest kept as written).
    if vm.boot_devices.contains(&old) {
        let order: Vec<&str> = vm
            .boot_devices
            .iter()
            .map(|k| if *k == old { key.as_str() } else { k.as_str() })
            .collect();
        edits.push(QmEdit::Set {
            key: "boot".into(),
            value: format!("order={}", order.join(";")),
        });
    } else if d.boot_order.is_some() {
        // The legacy `boot: dc` letters: the same drives as an order list.
        let mut drives: Vec<(u32, &str)> = vm
            .drives
            .iter()
            .filter_map(|x| Some((x.boot_order?, x.id.as_deref()?)))
            .map(|(n, k)| (n, if k == old { key.as_str() } else { k }))
            .collect();
        drives.sort();
        let order: Vec<&str> = drives.into_iter().map(|(_, k)| k).collect();
        edits.push(QmEdit::Set {
            key: "boot".into(),
            value: format!("order={}", order.join(";")),
        });
    }
    edits.push(QmEdit::Delete { key: old });
    let sata = (0..6)
        .map(|n| format!("sata{n}"))
        .find(|k| !taken.used.contains(k.as_str()))
        .unwrap_or_else(|| "sata0".into());
    Some((
        FixEdit::Qm { vmid, edits },
        format!(
            "If the guest has no virtio-scsi driver (Windows without virtio-win), use \
             `--{sata} {path},media=cdrom` instead of --{key} (AHCI, no driver needed). \
             The change applies at the VM's next start."
        ),
    ))
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

    fn proxmox(conf: &str) -> Facts {
        let storage = isotune_vmconfig::proxmox::StorageConfig::parse(
            "dir: local\n\tpath /var/lib/vz\n\tcontent iso\n",
        );
        Facts {
            vms: vec![isotune_vmconfig::proxmox::parse_vm_config(
                conf,
                100,
                std::path::Path::new("/etc/pve/qemu-server/100.conf"),
                &storage,
            )],
            ..Facts::default()
        }
    }

    #[test]
    fn proxmox_ide_cdrom_fix_is_qm_set_with_the_boot_order_rewritten() {
        // Default scsihw (lsi) and a disk already on scsi0.
        let f = cdrom_ide_bus(&proxmox(
            "boot: order=ide2;scsi0;net0\nide2: local:iso/d.iso,media=cdrom\n\
             scsi0: local:100/vm-100-disk-0.raw\n",
        ));
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].edit,
            Some(FixEdit::Qm {
                vmid: 100,
                edits: vec![
                    QmEdit::Set {
                        key: "scsihw".into(),
                        value: "virtio-scsi-single".into()
                    },
                    QmEdit::Set {
                        key: "scsi1".into(),
                        value: "/var/lib/vz/template/iso/d.iso,media=cdrom".into()
                    },
                    QmEdit::Set {
                        key: "boot".into(),
                        value: "order=scsi1;scsi0;net0".into()
                    },
                    QmEdit::Delete { key: "ide2".into() },
                ]
            })
        );
        assert!(f[0]
            .fix
            .starts_with("`qm set 100 --scsihw virtio-scsi-single --scsi1 "));
        assert!(f[0]
            .fix
            .contains("`--sata0 /var/lib/vz/template/iso/d.iso,media=cdrom`"));

        // virtio-scsi already, `cdrom:` (ide2), the legacy `boot: dc`.
        let f = cdrom_ide_bus(&proxmox(
            "scsihw: virtio-scsi-pci\nboot: dc\nbootdisk: scsi0\ncdrom: local:iso/d.iso\n\
             scsi0: local:100/vm-100-disk-0.raw\n",
        ));
        let Some(FixEdit::Qm { edits, .. }) = &f[0].edit else {
            panic!("{:?}", f[0].edit)
        };
        assert_eq!(
            edits[1..],
            [
                QmEdit::Set {
                    key: "boot".into(),
                    value: "order=scsi1;scsi0".into()
                },
                QmEdit::Delete { key: "ide2".into() },
            ]
        );
        assert!(!f[0].fix.contains("scsihw"), "{}", f[0].fix);
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
}
