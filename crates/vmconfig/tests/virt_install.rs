//! Real libvirt XML as virt-install writes it (`--print-xml` against
//! libvirt's `test:///default` driver, so no daemon is needed), parsed.
//!
//! `--print-xml` prints two documents for a cdrom install (the install-time
//! domain, then the final one without the media); `parse_domain_xml` takes
//! the first.

use std::process::Command;

use isotune_vmconfig::*;

/// Runs virt-install with `extra` (where `ISO` stands for a small file that
/// exists: virt-install checks local media) and parses what it prints.
fn virt_install(extra: &[&str]) -> Option<VmDefinition> {
    let vi = isotune_testutil::tool("virt-install")?;
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join("x.iso");
    std::fs::write(&iso, vec![0u8; 4096]).unwrap();
    let iso = iso.display().to_string();
    let xml = isotune_testutil::run(
        Command::new(vi)
            .args([
                "--connect",
                "test:///default",
                "--print-xml",
                "--name",
                "t1",
            ])
            .args([
                "--memory",
                "1024",
                "--vcpus",
                "1",
                "--osinfo",
                "detect=on,require=off",
            ])
            .args(extra.iter().map(|a| a.replace("ISO", &iso))),
    );
    let xml = xml.replace(&iso, "/isos/x.iso");
    Some(parse_domain_xml(&xml, Origin::LibvirtXml { path: "-".into() }).expect(&xml))
}

fn only_drive(d: &VmDefinition) -> &Drive {
    assert_eq!(d.drives.len(), 1, "{:?}", d.drives);
    &d.drives[0]
}

#[test]
fn cdrom_shorthand_is_a_readonly_ide_cdrom() {
    let Some(d) = virt_install(&["--disk", "none", "--cdrom", "ISO"]) else {
        return;
    };
    let cd = only_drive(&d);
    assert_eq!(
        (cd.bus.clone(), cd.media, cd.readonly),
        (Bus::Ide, Media::Cdrom, Some(true))
    );
    assert_eq!(cd.local_path(), Some(std::path::Path::new("/isos/x.iso")));
    assert_eq!(cd.boot_order, Some(1), "from <boot dev='cdrom'/>");
    assert_eq!(d.memory_bytes, Some(1 << 30));
    assert!(d.issues.is_empty(), "{:?}", d.issues);
}

#[test]
fn sata_on_q35_with_efi() {
    let Some(d) = virt_install(&[
        "--disk",
        "path=ISO,device=cdrom,bus=sata",
        "--boot",
        "firmware=efi",
        "--xml",
        "./os/type/@machine=q35",
    ]) else {
        return;
    };
    assert_eq!(d.machine.as_deref(), Some("q35"));
    assert_eq!(d.firmware, Firmware::Uefi { code: None });
    assert_eq!(only_drive(&d).bus, Bus::Sata);
}

#[test]
fn scsi_cdrom_on_virtio_scsi_with_iothread() {
    let Some(d) = virt_install(&[
        "--iothreads",
        "2",
        "--controller",
        "type=scsi,model=virtio-scsi,driver.iothread=2",
        "--disk",
        "path=ISO,device=cdrom,bus=scsi,driver.cache=none,driver.io=native,boot.order=1",
    ]) else {
        return;
    };
    assert_eq!(d.iothreads, ["1", "2"]);
    assert_eq!(
        d.controllers,
        [Controller {
            id: Some("scsi0".into()),
            kind: "virtio-scsi".into(),
            iothread: Some("2".into())
        }]
    );
    let cd = only_drive(&d);
    assert_eq!(
        (cd.bus.clone(), cd.readonly, cd.boot_order),
        (Bus::Scsi, Some(true), Some(1))
    );
    assert_eq!(cd.controller.as_deref(), Some("scsi0"));
    assert_eq!(cd.iothread.as_deref(), Some("2"));
    assert_eq!(
        (cd.cache.clone(), cd.aio.clone()),
        (Some(CacheMode::None), Some(Aio::Native))
    );
    assert!(cd.is_direct());
    assert!(d.issues.is_empty(), "{:?}", d.issues);
}

#[test]
fn http_cdrom_and_pflash_loader() {
    let Some(d) = virt_install(&[
        "--disk",
        "device=cdrom,source.protocol=http,source.name=/isos/x.iso,source.host.name=example.org,source.host.port=80,bus=scsi",
        "--boot",
        "loader=/usr/share/OVMF/OVMF_CODE.fd,loader.readonly=yes,loader.type=pflash",
    ]) else {
        return;
    };
    assert_eq!(
        d.firmware,
        Firmware::Uefi {
            code: Some("/usr/share/OVMF/OVMF_CODE.fd".into())
        }
    );
    let cd = only_drive(&d);
    assert_eq!(
        cd.source,
        Source::Http {
            url: "http://example.org:80/isos/x.iso".into(),
            readahead_bytes: None,
            timeout_seconds: None,
            sslverify: None
        }
    );
    assert_eq!((cd.bus.clone(), cd.readonly), (Bus::Scsi, Some(true)));
}
