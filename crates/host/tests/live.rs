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
    assert_eq!(q.open_isos, std::slice::from_ref(&iso));
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
