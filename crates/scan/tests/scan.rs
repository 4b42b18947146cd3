//! The scan and the check through the library, without the binary: real
//! files, real FIFOs, real images (the sample writer, xorriso through
//! testutil), a real loop device when the host allows one.

use std::path::{Path, PathBuf};
use std::process::Command;

use isotune_scan::{check, scan, CheckRequest, ScanRequest, Silent, VmSource, Warning};

fn domain(name: &str, cdroms: &[&Path]) -> String {
    let disks: String = cdroms
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>\
                 <source file='{}'/><target dev='hd{}' bus='ide'/><readonly/></disk>",
                p.display(),
                (b'c' + i as u8) as char
            )
        })
        .collect();
    format!(
        "<domain type='kvm'><name>{name}</name><os><type arch='x86_64' machine='pc'>hvm</type></os>\
         <devices>{disks}<disk type='file' device='disk'><source file='/var/lib/x.qcow2'/>\
         <target dev='vda' bus='virtio'/></disk></devices></domain>"
    )
}

fn sample(dir: &Path) -> PathBuf {
    let p = dir.join("a.iso");
    isotune_iso::sample::write_sample(
        &p,
        isotune_iso::sample::SampleSizes {
            kernel_bytes: 10_000,
            initrd_bytes: 20_000,
        },
    )
    .unwrap();
    p
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Advice issue: `doctor --xml X` said "0 ISOs"; the ISOs the VMs use are
/// examined too (and a missing one is a warning, not a failure).
#[test]
fn xml_alone_examines_the_isos_the_vm_uses() {
    let dir = tempfile::tempdir().unwrap();
    let iso = sample(dir.path());
    let xml = dir.path().join("vm.xml");
    let gone = dir.path().join("gone.iso");
    std::fs::write(&xml, domain("vm", &[&iso, &gone])).unwrap();
    let s = scan(&ScanRequest {
        sources: vec![VmSource::LibvirtXml(xml)],
        vm_isos: true,
        ..ScanRequest::default()
    })
    .unwrap();
    assert_eq!(s.facts.files.len(), 1, "{:?}", s.facts.files);
    assert_eq!(s.facts.files[0].path, std::fs::canonicalize(&iso).unwrap());
    assert!(!s.facts.files[0].storage.is_empty() || s.facts.files[0].mount.is_some());
    assert_eq!(s.facts.images.len(), 1);
    assert!(s
        .warnings
        .iter()
        .any(|w| w.code() == "not-examined" && w.to_string().contains("gone.iso")));

    // Named both with --iso (another spelling) and by the VM: examined once.
    let alias = dir.path().join(".").join("a.iso");
    let s = scan(&ScanRequest {
        isos: vec![alias],
        sources: vec![VmSource::LibvirtXml(dir.path().join("vm.xml"))],
        vm_isos: true,
        ..ScanRequest::default()
    })
    .unwrap();
    assert_eq!(s.facts.files.len(), 1, "{:?}", s.facts.files);
}

/// Hostile-input issue: a FIFO given as --xml hung `doctor`; now it is an
/// error naming it, and a warning when it is one file of a directory.
#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.xml");
    mkfifo(&fifo);
    let err = scan(&ScanRequest {
        sources: vec![VmSource::LibvirtXml(fifo.clone())],
        ..ScanRequest::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("pipe.xml") && err.contains("FIFO"), "{err}");

    let good = dir.path().join("good.xml");
    std::fs::write(&good, domain("good", &[Path::new("/isos/x.iso")])).unwrap();
    let s = scan(&ScanRequest {
        sources: vec![VmSource::LibvirtXml(dir.path().to_owned())],
        ..ScanRequest::default()
    })
    .unwrap();
    assert_eq!(s.facts.vms.len(), 1);
    let w: Vec<String> = s.warnings.iter().map(Warning::to_string).collect();
    assert!(w.iter().any(|w| w.contains("pipe.xml")), "{w:?}");
}

/// Docs issue: `doctor --iso missing.iso` said "cannot examine missing.iso:
/// Cannot examine missing.iso: No such file or directory"; the scan's error
/// now names the file once.
#[test]
fn regression_docs_a_missing_iso_is_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.iso");
    let err = scan(&ScanRequest {
        isos: vec![missing.clone()],
        ..ScanRequest::default()
    })
    .unwrap_err();
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    let name = missing.display().to_string();
    assert_eq!(chain.matches(&name).count(), 1, "{chain}");
    assert_eq!(
        chain.to_lowercase().matches("cannot examine").count(),
        1,
        "{chain}"
    );
}

/// Hostile-input issue: a 1.5 GB XML file cost 1.5 GB; anything over the
/// 64 MiB text cap is refused before it is read (a sparse file here).
#[test]
fn an_oversize_xml_is_refused_by_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.xml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(isotune_input::caps::TEXT_FILE_BYTES + 1).unwrap();
    let err = scan(&ScanRequest {
        sources: vec![VmSource::LibvirtXml(big)],
        ..ScanRequest::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("big.xml") && err.contains("larger than"),
        "{err}"
    );
}

/// Hostile-input issue: the capture TSV is read with the same cap and kind
/// check (a FIFO in its place does not hang).
#[test]
fn a_fifo_capture_tsv_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("proc")).unwrap();
    mkfifo(&dir.path().join("isotune-capture.tsv"));
    let err = scan(&ScanRequest {
        sysroot: Some(dir.path().to_owned()),
        isos: vec![PathBuf::from("/isos/x.iso")],
        ..ScanRequest::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("isotune-capture.tsv"), "{err}");
}

/// Advice issue: `check ISO --xml DIR` reports only the drives that use
/// this ISO; VMs without one are counted in one warning.
#[test]
fn check_keeps_only_the_drives_on_its_iso() {
    let dir = tempfile::tempdir().unwrap();
    let iso = sample(dir.path());
    let xmls = dir.path().join("xml");
    std::fs::create_dir(&xmls).unwrap();
    let other = dir.path().join("other.iso");
    std::fs::write(xmls.join("mine.xml"), domain("mine", &[&other, &iso])).unwrap();
    std::fs::write(xmls.join("theirs.xml"), domain("theirs", &[&other])).unwrap();
    let r = check(
        &CheckRequest {
            iso: iso.clone(),
            xml: vec![xmls],
            ..CheckRequest::default()
        },
        &Silent,
    )
    .unwrap();
    let vms = &r.doctor.facts.vms;
    assert_eq!(vms.len(), 1);
    assert_eq!(vms[0].name.as_deref(), Some("mine"));
    assert_eq!(vms[0].drives.len(), 1, "only the drive on this ISO");
    assert_eq!(vms[0].drives[0].local_path(), Some(iso.as_path()));
    assert!(r.doctor.warnings.iter().any(|w| w.code() == "unrelated"));
    // One model: the findings are the doctor's, evidence lines and all.
    let ids: Vec<&str> = r.findings.iter().map(|f| f.id).collect();
    assert!(ids.contains(&"cdrom.ide-bus"), "{ids:?}");
    assert!(ids.contains(&"boot.read-volume"), "{ids:?}");
    assert!(ids.contains(&"image.unverified"), "{ids:?}");
    assert!(r.findings.iter().all(|f| !f.evidence.is_empty()));
    assert!(r.doctor.findings.is_empty(), "findings live at the top");
}

/// A truncated image: one truncation finding with the lost boot files, no
/// separate reader anomalies about data past the end.
#[test]
fn check_of_a_cut_image_has_one_truncation_finding() {
    let dir = tempfile::tempdir().unwrap();
    let iso = sample(dir.path());
    let bytes = std::fs::read(&iso).unwrap();
    let cut = dir.path().join("cut.iso");
    std::fs::write(&cut, &bytes[..bytes.len() - 8192]).unwrap();
    let r = check(
        &CheckRequest {
            iso: cut,
            ..CheckRequest::default()
        },
        &Silent,
    )
    .unwrap();
    assert_eq!(r.verdict, isotune_scan::Verdict::Fail);
    let t: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.id == "image.truncated")
        .collect();
    assert_eq!(t.len(), 1);
    assert!(
        t[0].evidence
            .iter()
            .any(|e| e.starts_with("missing:") && e.contains("(8192 bytes)"))
            && t[0]
                .evidence
                .iter()
                .any(|e| e.contains("the boot cannot load")),
        "{:?}",
        t[0].evidence
    );
    assert!(!r.findings.iter().any(|f| f.id == "boot.read-volume"));
}

/// Advice issue: a block-device ISO is a device (its size and storage
/// chain, a loop's backing file), not "0 bytes on devtmpfs".
#[test]
fn a_loop_device_iso_is_examined_as_a_device() {
    let Some(losetup) = isotune_testutil::tool("losetup") else {
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("isotune-scan-test.")
        .tempdir_in("/var/tmp")
        .unwrap();
    let iso = sample(dir.path());
    let out = Command::new(&losetup)
        .args(["--find", "--show", "--read-only"])
        .arg(&iso)
        .output()
        .unwrap();
    if !out.status.success() {
        isotune_testutil::skip(&format!(
            "losetup cannot attach a loop device here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
        return;
    }
    let dev = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    struct Detach(PathBuf, PathBuf);
    impl Drop for Detach {
        fn drop(&mut self) {
            let _ = Command::new(&self.0).arg("-d").arg(&self.1).status();
        }
    }
    let _detach = Detach(losetup, dev.clone());
    let s = scan(&ScanRequest {
        isos: vec![dev.clone()],
        ..ScanRequest::default()
    })
    .unwrap();
    let f = &s.facts.files[0];
    assert!(f.block_device, "{f:?}");
    assert_eq!(f.size_bytes, std::fs::metadata(&iso).unwrap().len());
    assert!(f.mount.is_none());
    let top = &f.storage[0];
    match &top.kind {
        isotune_host::LayerKind::Loop { backing_file, .. } => {
            assert_eq!(backing_file.as_deref(), Some(iso.as_path()))
        }
        other => panic!("top layer is {other:?}"),
    }
    assert_eq!(s.facts.images.len(), 1, "the device is read as an image");
}

const NO_SOCKET: &str = "qemu:///system?socket=/nonexistent/isotune-scan-test.sock";

/// Issue 9: libvirt asked for with `--connect` and unreachable, with nothing
/// else to analyse, is the error; otherwise (other input, or the default
/// libvirt) it is a warning with a stable code.
#[test]
fn unreachable_libvirt_is_an_error_only_when_explicit_and_alone() {
    let err = scan(&ScanRequest {
        sources: vec![VmSource::Libvirt {
            uri: NO_SOCKET.into(),
            explicit: true,
        }],
        ..ScanRequest::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("unreachable") && err.contains("/nonexistent/"),
        "{err}"
    );

    let s = scan(&ScanRequest {
        sources: vec![VmSource::Libvirt {
            uri: NO_SOCKET.into(),
            explicit: false,
        }],
        ..ScanRequest::default()
    })
    .unwrap();
    assert!(s.facts.vms.is_empty());
    assert_eq!(s.libvirt.len(), 1);
    assert!(s.libvirt[0].domains.is_empty());
    let codes: Vec<&str> = s.warnings.iter().map(Warning::code).collect();
    assert_eq!(codes, ["libvirt-unreachable"]);

    let dir = tempfile::tempdir().unwrap();
    let iso = sample(dir.path());
    let s = scan(&ScanRequest {
        isos: vec![iso],
        sources: vec![VmSource::Libvirt {
            uri: NO_SOCKET.into(),
            explicit: true,
        }],
        ..ScanRequest::default()
    })
    .unwrap();
    assert_eq!(s.facts.files.len(), 1);
    assert!(s
        .warnings
        .iter()
        .any(|w| w.code() == "libvirt-unreachable" && w.to_string().contains("/nonexistent/")));
}

/// Issue 9: a Proxmox tree is a source like the others; a directory that
/// cannot be listed is the error, naming it.
#[test]
fn proxmox_configs_are_a_source() {
    let dir = tempfile::tempdir().unwrap();
    let iso = sample(dir.path());
    let confs = dir.path().join("qemu-server");
    std::fs::create_dir(&confs).unwrap();
    std::fs::write(
        confs.join("100.conf"),
        format!("name: web\nide2: {},media=cdrom\n", iso.display()),
    )
    .unwrap();
    let s = scan(&ScanRequest {
        sources: vec![VmSource::Proxmox(dir.path().to_owned())],
        ..ScanRequest::default()
    })
    .unwrap();
    assert_eq!(s.facts.vms.len(), 1);
    assert!(matches!(
        s.facts.vms[0].origin,
        isotune_vmconfig::Origin::Proxmox { vmid: 100, .. }
    ));
    // No storage.cfg beside it: said once.
    assert!(s
        .warnings
        .iter()
        .any(|w| w.code() == "proxmox-storage-cfg-missing"));
    // The ISO the VM uses is examined like the others.
    assert_eq!(s.facts.files.len(), 0, "vm_isos was not asked for");
    let s = scan(&ScanRequest {
        sources: vec![VmSource::Proxmox(dir.path().to_owned())],
        vm_isos: true,
        ..ScanRequest::default()
    })
    .unwrap();
    assert_eq!(s.facts.files.len(), 1);

    let gone = dir.path().join("no-such-dir");
    let err = scan(&ScanRequest {
        sources: vec![VmSource::Proxmox(gone)],
        ..ScanRequest::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("no-such-dir"), "{err}");
}
