//! Real QEMU command lines read back from /proc of paused qemu processes:
//! what `to_argv` emits must be accepted by qemu-system-x86_64 and parse
//! back to the same definition; hand-written realistic command lines must
//! be accepted and parse to the expected drives.

use std::path::{Path, PathBuf};
use std::time::Duration;

use isotune_testutil::boot::Qemu;
use isotune_vmconfig::*;

/// Starts qemu paused with `args` (in `dir`, which holds its serial log and
/// QMP socket), checks it is alive after 300 ms, and returns what
/// /proc/PID/cmdline says, parsed.
fn paused(dir: &Path, args: &[String]) -> VmDefinition {
    let mut argv = vec!["-S"];
    argv.extend(args.iter().map(String::as_str));
    let mut qemu = Qemu::spawn(dir, &argv).expect("setup found qemu");
    std::thread::sleep(Duration::from_millis(300));
    if let Some((status, stderr)) = qemu.exited() {
        panic!("qemu exited with {status} for {args:?}:\n{stderr}");
    }
    parse_argv(&qemu.cmdline(), Origin::Process { pid: qemu.pid() })
}

fn setup() -> Option<(tempfile::TempDir, PathBuf)> {
    isotune_testutil::tool("qemu-system-x86_64")?;
    // Under the target dir, not /tmp: O_DIRECT needs a real filesystem.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let iso = dir.path().join("small.iso");
    std::fs::write(&iso, vec![0u8; 64 << 10]).unwrap();
    Some((dir, iso))
}

fn cdrom(iso: &Path, bus: Bus, device: &str) -> Drive {
    Drive {
        id: Some("cd0".into()),
        device: Some(device.into()),
        format: Some("raw".into()),
        readonly: Some(true),
        boot_order: Some(1),
        ..Drive::new(
            Media::Cdrom,
            bus,
            Source::File {
                path: iso.to_path_buf(),
            },
        )
    }
}

fn def(machine: &str, drives: Vec<Drive>) -> VmDefinition {
    VmDefinition {
        name: Some("isotune-test".into()),
        machine: Some(machine.into()),
        drives,
        memory_bytes: Some(256 << 20),
        ..VmDefinition::new(Origin::Isotune)
    }
}

#[test]
fn emitted_argv_is_accepted_and_reads_back() {
    let Some((dir, iso)) = setup() else {
        return;
    };
    let mut defs = Vec::new();

    let mut ide = cdrom(&iso, Bus::Ide, "ide-cd");
    ide.cache = Some(CacheMode::None);
    ide.aio = Some(Aio::Native);
    defs.push(def("pc", vec![ide]));

    let mut sata = cdrom(&iso, Bus::Sata, "ide-cd");
    sata.aio = Some(Aio::IoUring);
    sata.cache_direct = Some(true);
    defs.push(def("q35", vec![sata.clone()]));

    sata.controller = Some("ahci0".into());
    sata.cache = Some(CacheMode::Writeback);
    sata.aio = Some(Aio::Threads);
    let mut d = def("pc", vec![sata]);
    d.controllers.push(Controller {
        id: Some("ahci0".into()),
        kind: "ahci".into(),
        iothread: None,
    });
    defs.push(d);

    let mut scsi = cdrom(&iso, Bus::Scsi, "scsi-cd");
    scsi.controller = Some("scsi0".into());
    scsi.iothread = Some("io0".into());
    scsi.cache = Some(CacheMode::Directsync);
    scsi.aio = Some(Aio::Native);
    let mut disk = cdrom(&iso, Bus::Virtio, "virtio-blk-pci");
    disk.id = Some("vda".into());
    disk.media = Media::Disk;
    disk.iothread = Some("io1".into());
    disk.boot_order = Some(2);
    let mut d = def("q35", vec![scsi, disk]);
    d.iothreads = vec!["io0".into(), "io1".into()];
    d.controllers.push(Controller {
        id: Some("scsi0".into()),
        kind: "virtio-scsi".into(),
        iothread: Some("io0".into()),
    });
    let ovmf = Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd");
    if ovmf.exists() {
        d.firmware = Firmware::Uefi {
            code: Some(ovmf.into()),
        };
    }
    defs.push(d);

    for want in defs {
        let mut got = paused(dir.path(), &to_argv(&want));
        assert!(matches!(got.origin, Origin::Process { .. }));
        got.origin = want.origin.clone();
        let mut want = want;
        want.accel = vec![Accel::Tcg];
        assert_eq!(got, want);
    }
}

#[test]
fn hand_written_command_lines() {
    let Some((dir, iso)) = setup() else {
        return;
    };
    let iso = iso.display().to_string();
    let args = |s: String| split_cmdline(&s).unwrap();

    let d = paused(dir.path(), &args(format!("-m 256 -cdrom {iso} -boot d")));
    assert_eq!(
        (d.drives[0].bus.clone(), d.drives[0].boot_order),
        (Bus::Ide, Some(1))
    );
    assert!(d.issues.is_empty(), "{:?}", d.issues);

    let d = paused(
        dir.path(),
        &args(format!(
            "-machine pc -drive file={iso},media=cdrom,if=ide,cache=none,aio=native,format=raw"
        )),
    );
    assert_eq!(d.drives[0].bus, Bus::Ide);
    assert_eq!(d.drives[0].id.as_deref(), Some("ide0-cd0"));
    assert!(d.drives[0].is_direct());
    assert!(d.issues.is_empty(), "{:?}", d.issues);

    let d = paused(
        dir.path(),
        &args(format!(
            r#"-machine q35 -object iothread,id=iothread1
            -device '{{"driver":"virtio-scsi-pci","id":"scsi0","iothread":"iothread1"}}'
            -blockdev '{{"driver":"file","filename":"{iso}","node-name":"libvirt-1-storage","read-only":true,"cache":{{"direct":true,"no-flush":false}},"aio":"io_uring"}}'
            -blockdev '{{"node-name":"libvirt-1-format","read-only":true,"driver":"raw","file":"libvirt-1-storage"}}'
            -device '{{"driver":"scsi-cd","bus":"scsi0.0","channel":0,"scsi-id":0,"lun":0,"drive":"libvirt-1-format","id":"scsi0-0-0-0","bootindex":1}}'"#
        )),
    );
    assert!(d.issues.is_empty(), "{:?}", d.issues);
    let cd = &d.drives[0];
    assert_eq!(
        (cd.bus.clone(), cd.media, cd.iothread.as_deref()),
        (Bus::Scsi, Media::Cdrom, Some("iothread1"))
    );
    assert_eq!(
        (cd.cache_direct, cd.aio.clone()),
        (Some(true), Some(Aio::IoUring))
    );
    assert_eq!(cd.local_path(), Some(Path::new(&iso)));

    let copy = dir.path().join("second.iso");
    std::fs::copy(&iso, &copy).unwrap();
    let d = paused(
        dir.path(),
        &args(format!(
            "-M q35 -device ahci,id=ahci0 -drive if=none,id=cd1,file={iso},format=raw,readonly=on \
             -device ide-cd,drive=cd1,bus=ahci0.0 -drive file={},media=cdrom,readonly=on",
            copy.display()
        )),
    );
    assert!(d.issues.is_empty(), "{:?}", d.issues);
    assert_eq!(d.drives[0].controller.as_deref(), Some("ahci0"));
    assert!(d.drives.iter().all(|x| x.bus == Bus::Sata));
}
