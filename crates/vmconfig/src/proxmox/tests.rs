//! Configs written the way `qm` writes them (the format of the pve-docs
//! qm.conf page), including odd ones.

use super::*;
use crate::model::{Bus, Source};

const STORAGE: &str = "\
dir: local
\tpath /var/lib/vz
\tcontent iso,vztmpl,backup

nfs: isos
\tpath /mnt/pve/isos
\tserver 192.0.2.10
\texport /export/isos
\tcontent iso
";

const VM_100: &str = "\
#Debian%20installer%20test
#second description line: with a colon
agent: 1
boot: order=scsi0;ide2;net0
cores: 2
ide2: isos:iso/debian-12.5.0-amd64-netinst.iso,media=cdrom,size=629M
machine: q35
memory: 2048
meta: creation-qemu=8.1.5,ctime=1712345678
name: deb-install
net0: virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1
numa: 0
ostype: l26
sata1: /srv/iso/tools.iso,media=cdrom
scsi0: local:100/vm-100-disk-0.qcow2,iothread=1,size=32G
scsihw: virtio-scsi-single
smbios1: uuid=2fe7ed89-bafa-4c28-b209-38288aeb803d
sockets: 1
virtio1: /dev/sr0,media=cdrom
vmgenid: 94309b84-54d9-404c-a15a-5a5b4459fc3a

[before-upgrade]
ide2: none,media=cdrom
scsi5: local:iso/old.iso,media=cdrom
snaptime: 1712345999
";

fn vm(text: &str) -> VmDefinition {
    parse_vm_config(
        text,
        100,
        Path::new("/etc/pve/qemu-server/100.conf"),
        &StorageConfig::parse(STORAGE),
    )
}

#[test]
fn a_typical_installer_vm() {
    let d = vm(VM_100);
    assert!(d.issues.is_empty(), "{:?}", d.issues);
    assert_eq!(d.name.as_deref(), Some("deb-install"));
    assert_eq!(
        d.origin,
        Origin::Proxmox {
            vmid: 100,
            path: "/etc/pve/qemu-server/100.conf".into()
        }
    );
    assert_eq!(d.machine.as_deref(), Some("q35"));
    assert_eq!(d.accel, vec![Accel::Kvm]);
    assert_eq!(d.memory_bytes, Some(2048 << 20));
    // The snapshot section's scsi5 is not there.
    let ids: Vec<_> = d.drives.iter().map(|x| x.id.as_deref().unwrap()).collect();
    assert_eq!(ids, ["ide2", "sata1", "scsi0", "virtio1"]);
    let ide2 = &d.drives[0];
    assert_eq!((ide2.media, &ide2.bus), (Media::Cdrom, &Bus::Ide));
    assert_eq!(
        ide2.local_path(),
        Some("/mnt/pve/isos/template/iso/debian-12.5.0-amd64-netinst.iso".as_ref())
    );
    assert_eq!(ide2.boot_order, Some(2));
    assert_eq!(d.drives[1].bus, Bus::Sata);
    assert_eq!(d.drives[1].controller.as_deref(), Some("ahci0"));
    let scsi0 = &d.drives[2];
    assert_eq!(scsi0.boot_order, Some(1));
    assert_eq!(scsi0.controller.as_deref(), Some("virtioscsi0"));
    let c = d
        .controllers
        .iter()
        .find(|c| c.id.as_deref() == Some("virtioscsi0"))
        .unwrap();
    assert_eq!(c.kind, "virtio-scsi");
    assert_eq!(c.iothread.as_deref(), Some("iothread-virtioscsi0"));
    assert_eq!(d.iothreads, ["iothread-virtioscsi0"]);
    assert!(matches!(d.drives[3].source, Source::Block { .. }));
    assert_eq!(d.drives[3].bus, Bus::Virtio);
}

#[test]
fn cdrom_alias_bios_kvm_and_legacy_boot() {
    let d = vm("cdrom: local:iso/alpine.iso\nbios: ovmf\nkvm: 0\nboot: dc\nbootdisk: virtio0\nvirtio0: local:100/vm-100-disk-0.raw\nscsihw: lsi\n");
    assert!(d.issues.is_empty(), "{:?}", d.issues);
    assert_eq!(d.drives[0].id.as_deref(), Some("ide2"));
    assert_eq!(d.drives[0].media, Media::Cdrom);
    assert_eq!(d.drives[0].device.as_deref(), Some("ide-cd"));
    assert_eq!(d.firmware, Firmware::Uefi { code: None });
    assert_eq!(d.accel, vec![Accel::Tcg]);
    assert_eq!(d.drives[0].boot_order, Some(1));
    assert_eq!(d.drives[1].boot_order, Some(2));
    // No SCSI drive: no SCSI controller.
    assert!(d.controllers.is_empty());
}

#[test]
fn args_are_parsed_as_qemu_options() {
    let d = vm(
        "args: -enable-dma -uuid f160a786-2bc4-4dfd-a031-b979a9aad519\nide2: none,media=cdrom\n",
    );
    assert_eq!(d.drives[0].source, Source::Empty);
    let opts: Vec<_> = d.issues.iter().map(|i| i.option.as_str()).collect();
    assert_eq!(opts, ["-enable-dma"], "{:?}", d.issues);
    assert!(d.issues[0].context.starts_with("args:"));
}

#[test]
fn garbage_unknown_keys_and_missing_storage_are_issues() {
    let text = "\
this line has no colon
ide4: local:iso/x.iso,media=cdrom
frobnicate: 3
ide2: nowhere:iso/x.iso,media=cdrom,turbo=1
bios: coreboot
kvm: maybe
memory: lots
boot: order=scsi0;ide2
machine: type=q35,viommu=intel
\u{0}\u{1}:\u{2}
";
    let d = vm(text);
    let got: Vec<_> = d
        .issues
        .iter()
        .map(|i| (i.kind, i.option.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (IssueKind::Invalid, "this line has no colon"),
            (IssueKind::Unknown, "ide4: local:iso/x.iso,media=cdrom"),
            (IssueKind::Unknown, "frobnicate: 3"),
            (IssueKind::Dangling, "nowhere:iso/x.iso"),
            (IssueKind::Unknown, "turbo=1"),
            (IssueKind::Invalid, "bios: coreboot"),
            (IssueKind::Invalid, "kvm: maybe"),
            (IssueKind::Invalid, "memory: lots"),
            (IssueKind::Unknown, "\u{0}\u{1}: \u{2}"),
            (IssueKind::Dangling, "scsi0"),
        ]
    );
    assert_eq!(d.machine.as_deref(), Some("q35"));
    // The unresolvable cdrom is still there, named by its volume id.
    assert_eq!(d.drives.len(), 1);
    assert!(
        matches!(&d.drives[0].source, Source::Network { url, .. } if url == "nowhere:iso/x.iso")
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = isotune_testutil::Rng::new(9);
    let st = StorageConfig::parse(STORAGE);
    for _ in 0..300 {
        let len = rng.below(400) as usize;
        // Mostly config-like bytes so the parser gets past the first checks.
        let alphabet = b"ide2scsi0:,=;/ \n#[]media=cdromlocal:iso/x.isoorder=0";
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_vm_config(&text, 1, Path::new("x.conf"), &st);
        let _ = StorageConfig::parse(&text);
    }
}

#[test]
fn load_dir_reads_a_pve_tree_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("qemu-server")).unwrap();
    std::fs::write(root.join("storage.cfg"), STORAGE).unwrap();
    std::fs::write(root.join("qemu-server/100.conf"), VM_100).unwrap();
    std::fs::write(root.join("qemu-server/7.conf"), "cdrom: none\n").unwrap();
    std::fs::write(root.join("qemu-server/notes.conf"), "x").unwrap();
    std::fs::create_dir(root.join("qemu-server/200.conf")).unwrap();
    let got = load_dir(root).unwrap();
    let ids: Vec<_> = got
        .vms
        .iter()
        .map(|v| match v.origin {
            Origin::Proxmox { vmid, .. } => vmid,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(ids, [7, 100]);
    assert_eq!(got.warnings.len(), 2, "{:?}", got.warnings);
    assert!(got
        .warnings
        .iter()
        .any(|w| matches!(w, ProxmoxWarning::NotAVmid { .. })));
    let unreadable = got
        .warnings
        .iter()
        .find(|w| matches!(w, ProxmoxWarning::Unreadable { .. }))
        .unwrap();
    assert!(unreadable.to_string().contains("200.conf"), "{unreadable}");

    // A directory of configs with no storage.cfg anywhere near.
    let flat = tempfile::tempdir().unwrap();
    let sub = flat.path().join("confs");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("5.conf"), "ide2: local:iso/a.iso,media=cdrom\n").unwrap();
    let got = load_dir(&sub).unwrap();
    assert!(matches!(
        got.warnings[..],
        [ProxmoxWarning::StorageCfgMissing { .. }]
    ));
    assert_eq!(
        got.vms[0].drives[0].local_path(),
        Some("/var/lib/vz/template/iso/a.iso".as_ref())
    );
    assert!(load_dir(&flat.path().join("missing")).is_err());
}
