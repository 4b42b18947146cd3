//! The readers over the captured trees in `tests/data/` (see
//! `scripts/capture-host`; `pvm` was captured from a development machine,
//! the others are written by hand in the same shape).

use std::path::{Path, PathBuf};

use isotune_host::{
    file_facts_at, host_facts, BlockLayer, DevNum, DeviceClass, FileFacts, HostFacts, LayerKind,
    NetworkFsKind, SysRoot,
};

fn tree(name: &str) -> SysRoot {
    SysRoot::at(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
}

fn dev(major: u32, minor: u32) -> DevNum {
    DevNum { major, minor }
}

fn file(name: &str, path: &str, d: DevNum) -> FileFacts {
    file_facts_at(&tree(name), Path::new(path), 1 << 30, d)
}

fn names(chain: &[BlockLayer]) -> Vec<&str> {
    chain.iter().map(|l| l.name.as_str()).collect()
}

fn sysctl<'a>(h: &'a HostFacts, name: &str) -> Option<&'a str> {
    h.sysctls
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.value.as_str())
}

#[test]
fn nvme_host() {
    let h = host_facts(&tree("nvme"));
    assert!(h.warnings.is_empty(), "{:?}", h.warnings);
    let m = h.memory.unwrap();
    assert_eq!(m.total_bytes, 32_617_536 * 1024);
    assert_eq!(m.available_bytes, 29_110_448 * 1024);
    let a = &h.accel;
    assert!(a.kvm_device && a.vmx && !a.svm && !a.hypervisor && !a.pvm);
    assert_eq!(a.kvm_accessible, None, "only checked on the live root");
    assert_eq!(a.kvm_modules, ["kvm", "kvm_intel"]);
    assert_eq!(a.nested, Some(true));
    assert_eq!(h.sysctls.len(), 10);
    assert_eq!(sysctl(&h, "net.ipv4.tcp_congestion_control"), Some("bbr"));
    assert_eq!(sysctl(&h, "vm.dirty_ratio"), Some("20"));
    // pid 1 is init, pid 2 a kernel thread; fd 0 is a pipe, fd 11 the VM.
    assert_eq!(h.qemu_processes.len(), 1);
    let q = &h.qemu_processes[0];
    assert_eq!(q.pid, 31337);
    assert_eq!(
        q.argv[..4],
        ["/usr/bin/qemu-system-x86_64", "-enable-kvm", "-m", "4096"]
    );
    assert_eq!(
        q.open_files,
        [PathBuf::from(
            "/home/alice/Downloads/debian-12.7.0-amd64-netinst.iso"
        )]
    );
}

#[test]
fn nvme_file() {
    let f = file("nvme", "/home/alice/Downloads/debian.iso", dev(259, 2));
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    assert_eq!(f.device, Some(dev(259, 2)));
    let m = f.mount.unwrap();
    assert_eq!(
        (m.mount_point.as_path(), m.fstype.as_str()),
        (Path::new("/"), "ext4")
    );
    assert_eq!(m.source, "/dev/nvme0n1p2");
    assert_eq!(m.network, None);
    assert_eq!(names(&f.storage), ["nvme0n1p2", "nvme0n1"]);
    let (part, disk) = (&f.storage[0], &f.storage[1]);
    assert_eq!(
        (&part.kind, part.class),
        (&LayerKind::Partition, DeviceClass::Stacked)
    );
    assert_eq!(part.below, ["nvme0n1"]);
    assert_eq!(
        (part.dev, part.read_ahead_kb, part.scheduler.as_deref()),
        (dev(259, 2), None, None)
    );
    assert_eq!(
        (&disk.kind, disk.class),
        (&LayerKind::Disk, DeviceClass::Nvme)
    );
    assert_eq!(disk.dev, dev(259, 0));
    assert_eq!(disk.rotational, Some(false));
    assert_eq!(disk.scheduler.as_deref(), Some("none"));
    assert_eq!(
        (disk.nr_requests, disk.read_ahead_kb, disk.max_sectors_kb),
        (Some(1023), Some(128), Some(1280))
    );
    assert_eq!(
        (disk.logical_block_bytes, disk.physical_block_bytes),
        (Some(512), Some(512))
    );
    assert_eq!(disk.model.as_deref(), Some("Samsung SSD 980 PRO 1TB"));
    assert!(disk.below.is_empty());
}

#[test]
fn nvme_bind_mount_with_an_escaped_space() {
    let f = file("nvme", "/srv/my isos/a.iso", dev(259, 2));
    let m = f.mount.unwrap();
    assert_eq!(m.mount_point, Path::new("/srv/my isos"));
    assert_eq!(m.mount_options, ["rw", "noatime"]);
    assert_eq!(names(&f.storage), ["nvme0n1p2", "nvme0n1"]);
}

#[test]
fn hdd_lvm() {
    let h = host_facts(&tree("hdd-lvm"));
    assert!(h.warnings.is_empty(), "{:?}", h.warnings);
    assert_eq!(h.memory.unwrap().total_bytes, 16_314_388 * 1024);
    assert!(h.accel.svm && !h.accel.vmx && h.accel.kvm_device);
    assert_eq!(h.accel.kvm_modules, ["kvm", "kvm_amd"]);
    assert_eq!(h.accel.nested, Some(true));
    assert!(h.qemu_processes.is_empty());

    let f = file(
        "hdd-lvm",
        "/srv/iso/ubuntu-24.04-live-server-amd64.iso",
        dev(253, 0),
    );
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    let m = f.mount.unwrap();
    assert_eq!(
        (m.mount_point.as_path(), m.source.as_str()),
        (Path::new("/srv/iso"), "/dev/mapper/vg-iso")
    );
    assert_eq!(names(&f.storage), ["dm-0", "sda3", "sda"]);
    let (dm, part, disk) = (&f.storage[0], &f.storage[1], &f.storage[2]);
    assert_eq!(
        dm.kind,
        LayerKind::DeviceMapper {
            name: "vg-iso".into(),
            target: "lvm".into()
        }
    );
    assert_eq!(
        (dm.class, dm.below.as_slice()),
        (DeviceClass::Stacked, &["sda3".to_string()][..])
    );
    assert_eq!(
        (dm.read_ahead_kb, dm.scheduler.as_deref(), dm.rotational),
        (Some(16), Some("none"), Some(true))
    );
    assert_eq!(
        (&part.kind, part.dev, part.below.as_slice()),
        (&LayerKind::Partition, dev(8, 3), &["sda".to_string()][..])
    );
    assert_eq!(
        (&disk.kind, disk.class, disk.dev),
        (&LayerKind::Disk, DeviceClass::Hdd, dev(8, 0))
    );
    assert_eq!(
        (disk.rotational, disk.read_ahead_kb),
        (Some(true), Some(128))
    );
    assert_eq!(disk.scheduler.as_deref(), Some("mq-deadline"));
    assert_eq!(disk.model.as_deref(), Some("ST4000DM004-2CV1"));
    assert_eq!(disk.physical_block_bytes, Some(4096));
}

#[test]
fn nfs() {
    let h = host_facts(&tree("nfs"));
    assert!(h.warnings.is_empty(), "{:?}", h.warnings);
    let a = &h.accel;
    assert!(!a.kvm_device && a.hypervisor && !a.vmx && !a.svm);
    assert!(a.kvm_modules.is_empty() && a.nested.is_none() && !a.pvm);
    // One QEMU (qemu-kvm); every file it holds open is listed once (the
    // ISO opened twice too); which is a cdrom is the parsed argv's business.
    assert_eq!(h.qemu_processes.len(), 1);
    assert_eq!(h.qemu_processes[0].pid, 4242);
    assert_eq!(
        h.qemu_processes[0].open_files,
        [
            PathBuf::from("/mnt/isos/Fedora-Workstation-Live-x86_64-40.ISO"),
            PathBuf::from("/var/lib/libvirt/images/fedora.qcow2")
        ]
    );

    let f = file(
        "nfs",
        "/mnt/isos/Fedora-Workstation-Live-x86_64-40.ISO",
        dev(0, 52),
    );
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    assert!(
        f.storage.is_empty(),
        "a network filesystem has no block chain"
    );
    let m = f.mount.unwrap();
    assert_eq!(
        (m.mount_point.as_path(), m.fstype.as_str()),
        (Path::new("/mnt/isos"), "nfs4")
    );
    assert_eq!(m.source, "fileserver:/export/isos");
    let n = m.network.unwrap();
    assert_eq!(n.kind, NetworkFsKind::Nfs);
    assert_eq!(n.server.as_deref(), Some("fileserver"));
    assert_eq!(n.vers.as_deref(), Some("4.2"));
    assert_eq!(
        (n.rsize_bytes, n.nconnect, n.actimeo_seconds),
        (Some(65536), None, Some(10))
    );
}

#[test]
fn nfs_tree_cifs_and_sshfs() {
    let f = file("nfs", "/mnt/nas/win11.iso", dev(0, 58));
    let n = f.mount.unwrap().network.unwrap();
    assert_eq!(
        (n.kind, n.server.as_deref()),
        (NetworkFsKind::Cifs, Some("nas.local"))
    );
    assert_eq!(
        (n.rsize_bytes, n.cache.as_deref()),
        (Some(4_194_304), Some("strict"))
    );
    let f = file("nfs", "/home/alice/remote/a.iso", dev(0, 63));
    let n = f.mount.unwrap().network.unwrap();
    assert_eq!(n.kind, NetworkFsKind::Fuse(Some("sshfs".into())));
    assert_eq!(n.server.as_deref(), Some("2001:db8::7"));
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
}

/// The ISO's file system is on /dev/loop0, whose backing file sits on an
/// HDD partition: the chain goes through the loop device down to the disk
/// (the capture lists the backing file as an extra PATH).
#[test]
fn loop_device_is_followed_down_to_the_disk() {
    let h = host_facts(&tree("loop"));
    assert!(h.warnings.is_empty(), "{:?}", h.warnings);
    assert!(h.accel.vmx && h.accel.hypervisor && h.accel.kvm_device);
    assert_eq!(h.accel.nested, Some(false));

    let f = file("loop", "/mnt/image/isos/alpine-virt-3.20.iso", dev(7, 0));
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    assert_eq!(f.mount.unwrap().mount_point, Path::new("/mnt/image"));
    assert_eq!(names(&f.storage), ["loop0", "sda1", "sda"]);
    let (l, part, disk) = (&f.storage[0], &f.storage[1], &f.storage[2]);
    assert_eq!(
        l.kind,
        LayerKind::Loop {
            backing_file: Some(PathBuf::from("/var/lib/images/disk.img")),
            direct_io: Some(false)
        }
    );
    assert_eq!(
        (l.class, l.scheduler.as_deref(), l.read_ahead_kb),
        (DeviceClass::Stacked, Some("none"), Some(128))
    );
    assert_eq!(l.rotational, Some(false), "the loop device's own flag");
    assert_eq!(l.below, ["sda1"]);
    assert_eq!(
        (&part.kind, part.dev, part.below.as_slice()),
        (&LayerKind::Partition, dev(8, 1), &["sda".to_string()][..])
    );
    assert_eq!(
        (&disk.kind, disk.class, disk.dev),
        (&LayerKind::Disk, DeviceClass::Hdd, dev(8, 0))
    );
    assert_eq!(disk.rotational, Some(true));
    assert_eq!(
        (disk.scheduler.as_deref(), disk.read_ahead_kb),
        (Some("mq-deadline"), Some(256))
    );
    assert_eq!(disk.model.as_deref(), Some("WDC WD40EFRX-68N"));
    assert!(disk.below.is_empty());
}

/// A capture without a line for the backing file (older captures, or the
/// backing file not given as a PATH): the chain stops at the loop device,
/// as before, without a warning.
#[test]
fn loop_device_without_its_backing_file_captured_stops_there() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(tree("loop").root(), dir.path());
    let tsv = dir.path().join("isotune-capture.tsv");
    let kept: String = std::fs::read_to_string(&tsv)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("/var/lib/images/"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&tsv, kept).unwrap();
    let f = file_facts_at(
        &SysRoot::at(dir.path()),
        Path::new("/mnt/image/isos/alpine-virt-3.20.iso"),
        1,
        dev(7, 0),
    );
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    assert_eq!(names(&f.storage), ["loop0"]);
    assert!(f.storage[0].below.is_empty());
    // A deleted backing file is a warning, and the chain stops too.
    let bf = dir
        .path()
        .join("sys/devices/virtual/block/loop0/loop/backing_file");
    std::fs::write(&bf, "/var/lib/images/disk.img (deleted)\n").unwrap();
    let tsv_line = "/var/lib/images/disk.img (deleted)\t8:1\t1\n";
    std::fs::write(&tsv, tsv_line).unwrap();
    let f = file_facts_at(
        &SysRoot::at(dir.path()),
        Path::new("/mnt/image/isos/alpine-virt-3.20.iso"),
        1,
        dev(7, 0),
    );
    assert_eq!(names(&f.storage), ["loop0"]);
    assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
    assert!(
        f.warnings[0].starts_with("/sys/devices/virtual/block/loop0/loop/backing_file: ")
            && f.warnings[0].contains("deleted"),
        "{:?}",
        f.warnings
    );
}

/// Copies a test tree, symlinks as links.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let t = e.file_type().unwrap();
        if t.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if t.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

#[test]
fn pvm_captured_from_a_development_machine() {
    let h = host_facts(&tree("pvm"));
    assert!(h.warnings.is_empty(), "{:?}", h.warnings);
    let a = &h.accel;
    assert!(a.kvm_device && a.hypervisor && a.pvm && !a.vmx && !a.svm);
    assert_eq!(a.kvm_modules, ["kvm", "kvm_pvm"]);
    assert_eq!(a.nested, None);
    assert_eq!(h.memory.unwrap().total_bytes, 24_684_092 * 1024);
    assert_eq!(h.sysctls.len(), 10);

    let f = file("pvm", "/var/tmp/debian.iso", dev(254, 0));
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    let m = f.mount.unwrap();
    assert_eq!(
        (
            m.mount_point.as_path(),
            m.fstype.as_str(),
            m.source.as_str()
        ),
        (Path::new("/"), "ext4", "/dev/vda")
    );
    assert_eq!(names(&f.storage), ["vda"]);
    let vda = &f.storage[0];
    assert_eq!(
        (&vda.kind, vda.class, vda.dev),
        (&LayerKind::Disk, DeviceClass::Virtual, dev(254, 0))
    );
    assert_eq!(vda.scheduler.as_deref(), Some("mq-deadline"));
    assert_eq!(
        (vda.rotational, vda.read_ahead_kb),
        (Some(true), Some(8192))
    );
    assert_eq!(vda.model, None, "virtio-blk has no model");
}

/// Every tree read with a device number it does not have: warnings, no panic.
#[test]
fn wrong_device_numbers_are_warnings() {
    for name in ["nvme", "hdd-lvm", "nfs", "loop", "pvm"] {
        let f = file(name, "/x.iso", dev(8, 99));
        assert!(f.storage.is_empty());
        assert_eq!(f.mount.unwrap().mount_point, Path::new("/"));
        assert_eq!(f.warnings, ["/sys/dev/block/8:99: not found"], "{name}");
    }
}

/// Hostile-input issue: every file under `--sysroot` was read without a
/// size or type check (`/dev/zero` reached 4.2 GB; a FIFO hung). Links in
/// a tree stay inside it (a link to /dev/zero finds nothing); a device node
/// like /dev/zero in the tree is cut at the 1 MiB cap and a FIFO refused
/// without blocking: warnings naming the entry, and the rest is still read.
#[test]
fn regression_hostile_sysroot_entries_are_warnings_not_hangs() {
    let Some(mkfifo) = isotune_testutil::tool("mkfifo") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    isotune_testutil::put(root, "proc/sys/vm/dirty_ratio", b"20\n");
    std::fs::create_dir_all(root.join("proc/sys/net/core")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", root.join("proc/cpuinfo")).unwrap();
    if !rustix::process::geteuid().is_root() {
        return isotune_testutil::skip("mknod of a /dev/zero node needs root");
    }
    let Some(mknod) = isotune_testutil::tool("mknod") else {
        return;
    };
    // /dev/zero's own numbers: 1:5.
    assert!(std::process::Command::new(mknod)
        .arg(root.join("proc/meminfo"))
        .args(["c", "1", "5"])
        .status()
        .unwrap()
        .success());
    let fifo = root.join("proc/sys/net/core/somaxconn");
    assert!(std::process::Command::new(mkfifo)
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let h = host_facts(&SysRoot::at(root));
    assert_eq!(sysctl(&h, "vm.dirty_ratio"), Some("20"));
    assert_eq!(sysctl(&h, "net.core.somaxconn"), None);
    assert!(h.memory.is_none());
    let w = h.warnings.join("\n");
    assert!(
        w.contains("/proc/meminfo") && w.contains("larger than 1048576 bytes"),
        "{w}"
    );
    assert!(w.contains("somaxconn") && w.contains("FIFO"), "{w}");
    assert!(w.contains("/proc/cpuinfo: not found"), "{w}");
}
