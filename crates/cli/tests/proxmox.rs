//! `isotune doctor --proxmox DIR` and `isotune check ISO --proxmox DIR` on
//! Proxmox VE config trees written in the format of the pve-docs qm.conf
//! page (Proxmox cannot run here), odd ones included: comments and `#`
//! descriptions, a garbage line, unknown keys, a volume on a storage that
//! does not exist, snapshot sections, no storage.cfg. The printed `qm set`
//! fix is applied to the config and the finding must be gone. Issue 9.

use std::path::{Path, PathBuf};

use assert_cmd::Command as Bin;
use isotune_doctor::fix::{apply_to_qm_conf, FixEdit};
use serde_json::Value;

fn isotune() -> Bin {
    Bin::cargo_bin("isotune").unwrap()
}

fn json(cmd: &mut Bin) -> (Value, i32, String) {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {err}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (v, out.status.code().unwrap_or(-1), err)
}

fn findings<'a>(v: &'a Value, id: &str, subject: &str) -> Vec<&'a Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id && f["subject"].as_str().unwrap().contains(subject))
        .collect()
}

/// `/etc/pve` as a copy: storage.cfg and qemu-server/, with a real ISO on
/// the `local` dir storage.
fn pve_tree(root: &Path) -> Option<(PathBuf, PathBuf)> {
    let pve = root.join("pve");
    let local = root.join("var-lib-vz");
    let tree = root.join("tree");
    isotune_testutil::put(&tree, "isolinux/isolinux.bin", &[0xAB; 4096]);
    isotune_testutil::put(&tree, "install/vmlinuz", &[1; 100_000]);
    let iso = local.join("template/iso/debian-12.iso");
    std::fs::create_dir_all(iso.parent().unwrap()).unwrap();
    isotune_testutil::mkisofs(
        &tree,
        &iso,
        &["-R", "-b", "isolinux/isolinux.bin", "-no-emul-boot"],
    )?;
    std::fs::create_dir_all(pve.join("qemu-server")).unwrap();
    std::fs::write(
        pve.join("storage.cfg"),
        format!(
            "# storages\ndir: local\n\tpath {}\n\tcontent iso,vztmpl,backup\n\n\
             nfs: isos\n\tpath /mnt/pve/isos\n\tserver 192.0.2.10\n\texport /export/isos\n\
             \tcontent iso\n",
            local.display()
        ),
    )
    .unwrap();
    // An installer VM as `qm` writes it, plus the odd lines.
    std::fs::write(
        pve.join("qemu-server/100.conf"),
        "#Debian%20installer: a description, with a colon\n\
         boot: order=ide2;scsi0;net0\n\
         cores: 2\n\
         ide2: local:iso/debian-12.iso,media=cdrom,size=1M\n\
         machine: q35\n\
         memory: 2048\n\
         name: deb-install\n\
         net0: virtio=BC:24:11:00:00:01,bridge=vmbr0\n\
         ostype: l26\n\
         this line is garbage\n\
         frobnicate: 1\n\
         sata1: nowhere:iso/missing.iso,media=cdrom\n\
         scsi0: local:100/vm-100-disk-0.qcow2,iothread=1,size=32G\n\
         smbios1: uuid=2fe7ed89-bafa-4c28-b209-38288aeb803d\n\
         \n\
         [before-upgrade]\n\
         ide2: none,media=cdrom\n\
         ide0: local:iso/old.iso,media=cdrom\n\
         snaptime: 1712345999\n",
    )
    .unwrap();
    // A VM without KVM and with an invented QEMU option in `args:`.
    std::fs::write(
        pve.join("qemu-server/101.conf"),
        "name: tcg-box\nkvm: 0\nargs: -enable-dma\ncdrom: local:iso/debian-12.iso\n",
    )
    .unwrap();
    Some((pve, iso))
}

#[test]
fn proxmox_configs_findings_and_an_applied_qm_set_fix_issue_9() {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let Some((pve, iso)) = pve_tree(dir.path()) else {
        return;
    };
    let doctor = || {
        json(
            isotune()
                .args(["doctor", "--json", "--no-libvirt", "--proxmox"])
                .arg(&pve),
        )
    };
    let (v, code, err) = doctor();
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    let vms = v["facts"]["vms"].as_array().unwrap();
    assert_eq!(vms.len(), 2, "{vms:#?}");
    assert!(vms.iter().all(|vm| vm["origin"]["kind"] == "proxmox"));
    // The current config only: the snapshot's ide0 is not a drive.
    let vm100 = vms.iter().find(|vm| vm["origin"]["vmid"] == 100).unwrap();
    let ids: Vec<&str> = vm100["drives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ide2", "sata1", "scsi0"], "{vm100:#}");
    assert_eq!(vm100["drives"][0]["source"]["path"], iso.to_str().unwrap());

    // The IDE cdrom: the fix is `qm set`, never QEMU arguments.
    let f = findings(&v, "cdrom.ide-bus", "\"deb-install\" drive ide2");
    assert_eq!(f.len(), 1, "{:#}", v["findings"]);
    let fix = f[0]["fix"].as_str().unwrap();
    assert!(
        fix.starts_with("`qm set 100 --scsihw virtio-scsi-single --scsi1 "),
        "{fix}"
    );
    assert!(fix.contains("--delete ide2`"), "{fix}");
    // The boot order names the cdrom's new key in the old one's place.
    assert!(fix.contains(" --boot 'order=scsi1;scsi0;net0' "), "{fix}");
    assert!(
        !fix.contains("-device") && !fix.contains("-drive "),
        "{fix}"
    );
    // `cdrom:` is ide2 too.
    let f101 = findings(&v, "cdrom.ide-bus", "\"tcg-box\" drive ide2");
    assert_eq!(f101.len(), 1, "{:#}", v["findings"]);
    assert!(f101[0]["fix"].as_str().unwrap().contains("qm set 101 "));

    // The odd lines are findings naming the line, not failures.
    let all = v["findings"].to_string();
    assert!(all.contains("frobnicate"), "unknown key: {all}");
    assert!(all.contains("this line is garbage"), "garbage line: {all}");
    assert!(
        all.contains("nowhere:iso/missing.iso"),
        "missing storage: {all}"
    );
    // The invented option in `args:` is an error QEMU would refuse.
    let dma = findings(&v, "myth.nonexistent-option", "tcg-box");
    assert_eq!(dma.len(), 1, "{all}");
    assert_eq!(dma[0]["severity"], "error");
    // `kvm: 0`: the fix is `qm set 101 --kvm 1`.
    let tcg = findings(&v, "accel.no-kvm", "\"tcg-box\"");
    assert_eq!(tcg.len(), 1, "{all}");
    assert!(
        tcg[0]["fix"]
            .as_str()
            .unwrap()
            .starts_with("`qm set 101 --kvm 1`"),
        "{}",
        tcg[0]["fix"]
    );
    assert_eq!(tcg[0]["edit"]["kind"], "qm");
    // No Proxmox finding carries a QEMU-argv edit.
    for f in v["findings"].as_array().unwrap() {
        assert_ne!(f["edit"]["kind"], "argv", "{f:#}");
    }

    // check ISO: both VMs have it.
    let (c, code, err) = json(
        isotune()
            .args(["check", "--json", "--no-bench", "--no-libvirt", "--proxmox"])
            .arg(&pve)
            .arg(&iso),
    );
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    assert_eq!(
        findings(&c, "cdrom.ide-bus", "drive ide2").len(),
        2,
        "{:#}",
        c["findings"]
    );

    // Apply the `qm set` fix to 100.conf as qm would: the finding is gone,
    // the snapshot section and the description are untouched.
    let edit: FixEdit = serde_json::from_value(f[0]["edit"].clone()).unwrap();
    let FixEdit::Qm { vmid: 100, edits } = edit else {
        panic!("{edit:?}")
    };
    let conf = pve.join("qemu-server/100.conf");
    let before = std::fs::read_to_string(&conf).unwrap();
    let after = apply_to_qm_conf(&before, &edits);
    assert!(after.starts_with("#Debian%20installer"), "{after}");
    assert!(
        after.contains("[before-upgrade]\nide2: none,media=cdrom\n"),
        "{after}"
    );
    std::fs::write(&conf, &after).unwrap();
    let (again, _, _) = doctor();
    assert!(
        findings(&again, "cdrom.ide-bus", "deb-install").is_empty(),
        "{after}\n{:#}",
        again["findings"]
    );
    // Nothing dangles: the boot order no longer names ide2.
    assert!(
        findings(&again, "drive.dangling-reference", "\"deb-install\" boot:").is_empty(),
        "{after}\n{:#}",
        again["findings"]
    );
    assert!(
        after.contains("\nboot: order=scsi1;scsi0;net0\n"),
        "{after}"
    );
    let vm100 = again["facts"]["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|vm| vm["origin"]["vmid"] == 100)
        .unwrap();
    let cd = vm100["drives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "scsi1")
        .unwrap_or_else(|| panic!("{vm100:#}"));
    assert_eq!(cd["media"], "cdrom");
    assert_eq!(cd["source"]["path"], iso.to_str().unwrap());
    assert!(vm100["controllers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["kind"] == "virtio-scsi"));
}

/// A directory of VMID.conf files with no storage.cfg: a warning, volumes
/// on `local` still resolve; a directory that does not exist: exit 2 naming it.
#[test]
fn proxmox_without_storage_cfg_or_dir_issue_9() {
    let dir = tempfile::tempdir().unwrap();
    let confs = dir.path().join("confs");
    std::fs::create_dir(&confs).unwrap();
    std::fs::write(confs.join("200.conf"), "cdrom: local:iso/x.iso\n").unwrap();
    std::fs::write(confs.join("notes.conf"), "hello\n").unwrap();
    let (v, code, err) = json(
        isotune()
            .args(["doctor", "--json", "--no-libvirt", "--proxmox"])
            .arg(&confs),
    );
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    let codes: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"proxmox-storage-cfg-missing"), "{codes:?}");
    assert!(codes.contains(&"proxmox-not-a-vmid"), "{codes:?}");
    assert_eq!(
        v["facts"]["vms"][0]["drives"][0]["source"]["path"],
        "/var/lib/vz/template/iso/x.iso"
    );

    let missing = dir.path().join("no-such-dir");
    let out = isotune()
        .args(["doctor", "--no-libvirt", "--proxmox"])
        .arg(&missing)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no-such-dir"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
