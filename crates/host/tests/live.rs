//! Tests on this machine: the live `/proc` and `/sys`, and a real paused
//! QEMU holding an ISO open.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use isotune_host::{file_facts, host_facts, DeviceClass, LayerKind, SysRoot};
use isotune_testutil::boot::Qemu;

#[test]
fn a_file_in_var_tmp_has_a_mount_and_a_chain_ending_in_a_disk() {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let p = dir.path().join("a.iso");
    std::fs::write(&p, vec![0u8; 8192]).unwrap();
    let f = file_facts(&SysRoot::live(), &p).unwrap();
    assert_eq!(f.size_bytes, 8192);
    let m = f.mount.as_ref().expect("a mount");
    assert!(!m.fstype.is_empty() && f.path.starts_with(&m.mount_point));
    // /var/tmp on tmpfs or a network filesystem has no block chain; that
    // is a fact, not a failure, but every development machine has a disk.
    if m.network.is_none() && m.fstype != "tmpfs" && m.fstype != "overlay" {
        let last = f
            .storage
            .last()
            .unwrap_or_else(|| panic!("no chain: {f:#?}"));
        assert_eq!(last.kind, LayerKind::Disk, "{f:#?}");
        assert!(!last.name.contains(':'), "{f:#?}");
        assert_eq!(f.storage[0].dev, f.device.unwrap());
        assert_ne!(last.class, DeviceClass::Stacked);
    }
}

#[test]
fn live_host_facts() {
    let h = host_facts(&SysRoot::live());
    let m = h.memory.expect("meminfo");
    assert!(m.total_bytes >= m.available_bytes && m.total_bytes > 0);
    if h.accel.kvm_device {
        assert!(h.accel.kvm_accessible.is_some());
    }
}

#[test]
fn a_paused_qemu_and_its_iso() {
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join("small test.iso");
    let tree = dir.path().join("tree");
    isotune_testutil::put(&tree, "hello.txt", b"hello\n");
    if isotune_testutil::mkisofs(&tree, &iso, &[]).is_none() {
        // Any file named .iso will do: QEMU opens it without reading it.
        std::fs::write(&iso, vec![0u8; 64 * 2048]).unwrap();
    }
    let iso = std::fs::canonicalize(&iso).unwrap();
    let iso_arg = iso.to_str().unwrap();
    let Some(mut qemu) = Qemu::spawn(dir.path(), &["-S", "-cdrom", iso_arg]) else {
        return;
    };
    let pid = qemu.pid();
    let fd_dir = PathBuf::from(format!("/proc/{pid}/fd"));
    let start = Instant::now();
    while !holds(&fd_dir, &iso) {
        if let Some((status, stderr)) = qemu.exited() {
            panic!("qemu exited with {status}:\n{stderr}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "qemu did not open {}",
            iso.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let h = host_facts(&SysRoot::live());
    let q = h
        .qemu_processes
        .iter()
        .find(|q| q.pid == pid)
        .unwrap_or_else(|| panic!("pid {pid} not found in {:#?}", h.qemu_processes));
    assert!(q.argv[0].ends_with("qemu-system-x86_64"));
    assert_eq!(
        q.argv.last().map(PathBuf::from).as_deref(),
        Some(iso.as_path())
    );
    assert!(q.argv.iter().any(|a| a == "-S"));
    assert!(q.open_files.contains(&iso), "{:?}", q.open_files);
    assert_eq!(q.cwd.as_deref(), std::env::current_dir().ok().as_deref());
}

fn holds(fd_dir: &Path, file: &Path) -> bool {
    std::fs::read_dir(fd_dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == file))
    })
}

/// `scripts/capture-host` copies what the readers need: the captured tree
/// gives the same facts as the live host.
#[test]
fn a_capture_reads_like_the_live_host() {
    let Some(bash) = isotune_testutil::tool("bash") else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/capture-host");
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let iso = dir.path().join("a.iso");
    std::fs::write(&iso, vec![0u8; 4096]).unwrap();
    let out = dir.path().join("capture");
    isotune_testutil::run(Command::new(bash).arg(&script).arg(&out).arg(&iso));
    let live = file_facts(&SysRoot::live(), &iso).unwrap();
    let (size, dev) = isotune_host::stat_file(&live.path).unwrap();
    let captured = isotune_host::file_facts_at(&SysRoot::at(&out), &live.path, size, dev);
    assert_eq!(captured.mount, live.mount);
    assert_eq!(captured.storage, live.storage);
    assert!(captured.warnings.is_empty(), "{:?}", captured.warnings);
    let tsv = std::fs::read_to_string(out.join("isotune-capture.tsv")).unwrap();
    let expected = format!(
        "{}\t{}:{}\t4096\n",
        live.path.display(),
        dev.major,
        dev.minor
    );
    assert_eq!(tsv, expected);
    let (h_live, h_cap) = (host_facts(&SysRoot::live()), host_facts(&SysRoot::at(&out)));
    assert_eq!(h_cap.accel.kvm_modules, h_live.accel.kvm_modules);
    assert_eq!(h_cap.accel.nested, h_live.accel.nested);
    assert_eq!(h_cap.accel.kvm_device, h_live.accel.kvm_device);
    assert_eq!(
        (h_cap.accel.vmx, h_cap.accel.svm, h_cap.accel.hypervisor),
        (h_live.accel.vmx, h_live.accel.svm, h_live.accel.hypervisor)
    );
    assert_eq!(h_cap.sysctls, h_live.sysctls);
    assert!(h_cap.warnings.is_empty(), "{:?}", h_cap.warnings);
}

/// Undoes what a test set up (mounts, loop devices), last first, even when
/// the test fails.
#[derive(Default)]
struct Undo(Vec<Command>);

impl Undo {
    fn push(&mut self, program: &str, args: &[&Path]) {
        let mut c = Command::new(program);
        c.args(args);
        self.0.push(c);
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        while let Some(mut c) = self.0.pop() {
            match c.output() {
                Ok(o) if o.status.success() => {}
                r => eprintln!("cleanup {c:?} failed: {r:?}"),
            }
        }
    }
}

/// Runs `program ARGS`; `None` (a skip, which fails under
/// `ISOTUNE_REQUIRE_TOOLS=1`) when it cannot be run or fails.
fn try_run(program: &str, args: &[&Path]) -> Option<String> {
    let out = Command::new(program).args(args).output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        r => {
            isotune_testutil::skip(&format!("{program} {args:?} failed here: {r:?}"));
            None
        }
    }
}

/// Makes an ext4 image of `mib` MiB at `image`, attaches it to a loop
/// device and mounts it on `mnt`; `None` when that is not possible here.
fn loop_mount(undo: &mut Undo, image: &Path, mib: u64, mnt: &Path) -> Option<PathBuf> {
    let f = std::fs::File::create(image).unwrap();
    f.set_len(mib << 20).unwrap();
    drop(f);
    let dev = PathBuf::from(try_run(
        "losetup",
        &[Path::new("--find"), Path::new("--show"), image],
    )?);
    undo.push("losetup", &[Path::new("-d"), &dev]);
    try_run("mkfs.ext4", &[Path::new("-q"), &dev])?;
    std::fs::create_dir_all(mnt).unwrap();
    try_run("mount", &[&dev, mnt])?;
    undo.push("umount", &[mnt]);
    Some(dev)
}

/// An ISO on a file system on a loop device: the chain goes through the
/// loop device to the chain under its backing file (also for a loop device
/// whose backing file is on another loop device); a deleted backing file
/// is a warning and the chain stops at the loop device.
#[test]
fn a_file_on_a_loop_device_has_the_chain_under_the_backing_file() {
    if !rustix::process::geteuid().is_root() {
        return isotune_testutil::skip("losetup and mount need root");
    }
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let mut undo = Undo::default();
    let (outer_img, outer_mnt) = (dir.path().join("outer.img"), dir.path().join("outer"));
    if loop_mount(&mut undo, &outer_img, 64, &outer_mnt).is_none() {
        return;
    }
    let iso = outer_mnt.join("a.iso");
    std::fs::write(&iso, vec![0u8; 8192]).unwrap();
    let f = file_facts(&SysRoot::live(), &iso).unwrap();
    let under = file_facts(&SysRoot::live(), &outer_img).unwrap();
    let outer_img = std::fs::canonicalize(&outer_img).unwrap();
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    let l = &f.storage[0];
    assert!(l.name.starts_with("loop"), "{f:#?}");
    assert_eq!(l.dev, f.device.unwrap());
    assert!(
        matches!(&l.kind, LayerKind::Loop { backing_file: Some(b), .. } if *b == outer_img),
        "{f:#?}"
    );
    assert_eq!(f.storage[1..], under.storage[..], "{f:#?}");
    if let Some(next) = under.storage.first() {
        assert_eq!(l.below, std::slice::from_ref(&next.name));
    }

    // A loop device whose backing file is on the first one.
    let (inner_img, inner_mnt) = (outer_mnt.join("inner.img"), dir.path().join("inner"));
    if loop_mount(&mut undo, &inner_img, 8, &inner_mnt).is_none() {
        return;
    }
    let iso2 = inner_mnt.join("b.iso");
    std::fs::write(&iso2, vec![0u8; 4096]).unwrap();
    let f2 = file_facts(&SysRoot::live(), &iso2).unwrap();
    assert!(f2.warnings.is_empty(), "{:?}", f2.warnings);
    assert_eq!(f2.storage.len(), f.storage.len() + 1, "{f2:#?}");
    assert_eq!(f2.storage[1..], f.storage[..], "{f2:#?}");
    assert_eq!(f2.storage[0].below, std::slice::from_ref(&l.name));

    // The inner image deleted while attached and mounted.
    std::fs::remove_file(&inner_img).unwrap();
    let f3 = file_facts(&SysRoot::live(), &iso2).unwrap();
    assert_eq!(f3.storage.len(), 1, "{f3:#?}");
    assert!(f3.storage[0].below.is_empty());
    assert_eq!(f3.warnings.len(), 1, "{:?}", f3.warnings);
    assert!(f3.warnings[0].contains("deleted"), "{:?}", f3.warnings);
    drop(undo);
}
