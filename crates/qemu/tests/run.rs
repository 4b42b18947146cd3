//! The boot runner against a real QEMU under TCG: timeouts, failures,
//! cancellation and cleanup, and a measured boot of the firmware workload.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use isotune_qemu::{run_boot, AccelChoice, AccelUsed, EndReason, ErrorKind, QemuBinary, RunSpec};
use regex::Regex;

/// A spec for `args` under TCG whose temporary directory lives in `parent`.
fn spec(parent: &Path, args: &[&str]) -> Option<RunSpec> {
    let qemu = isotune_testutil::tool("qemu-system-x86_64")?;
    let mut s = RunSpec::new(
        QemuBinary::new(qemu),
        args.iter().map(|a| (*a).to_owned()).collect(),
    );
    s.accel = AccelChoice::Tcg;
    s.memory_mib = 64;
    s.temp_parent = Some(parent.to_owned());
    s.timeout = Duration::from_secs(30);
    Some(s)
}

/// Processes whose command line mentions `dir` (the QMP socket is in it).
fn processes_under(dir: &Path) -> Vec<u32> {
    let needle = dir.to_str().unwrap().as_bytes();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

/// Nothing of the run is left: no process, no temporary directory.
fn assert_no_leftovers(parent: &Path) {
    assert_eq!(processes_under(parent), Vec::<u32>::new(), "QEMU survived");
    let left: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn run_silent_guest_times_out_and_cleans_up() {
    let parent = tempfile::tempdir().unwrap();
    // SeaBIOS with no bootable device never writes to the serial port.
    let Some(mut s) = spec(parent.path(), &["-machine", "pc"]) else {
        return;
    };
    s.timeout = Duration::from_secs(3);
    let t = Instant::now();
    let e = run_boot(&s, &AtomicBool::new(false)).unwrap_err();
    let took = t.elapsed();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("within 3 s"), "{e}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert_no_leftovers(parent.path());
}

#[test]
fn run_missing_qemu() {
    let parent = tempfile::tempdir().unwrap();
    let mut s = RunSpec::new(
        QemuBinary::new("/nonexistent/qemu-system-x86_64"),
        Vec::new(),
    );
    s.temp_parent = Some(parent.path().to_owned());
    let e = run_boot(&s, &AtomicBool::new(false)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QemuMissing, "{e}");
    assert_no_leftovers(parent.path());
}

#[test]
fn run_bad_argument_quotes_qemu() {
    let parent = tempfile::tempdir().unwrap();
    let Some(s) = spec(parent.path(), &["-device", "nonexistent-dev"]) else {
        return;
    };
    let e = run_boot(&s, &AtomicBool::new(false)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QemuFailed, "{e}");
    assert!(e.to_string().contains("nonexistent-dev"), "{e}");
    assert_no_leftovers(parent.path());
}

#[test]
fn run_unknown_device_is_reported() {
    let parent = tempfile::tempdir().unwrap();
    let Some(mut s) = spec(parent.path(), &["-machine", "pc"]) else {
        return;
    };
    s.device = Some("cd9".to_owned());
    let e = run_boot(&s, &AtomicBool::new(false)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DeviceNotFound, "{e}");
    assert_no_leftovers(parent.path());
}

fn ide_cdrom(iso: &Path) -> Vec<String> {
    vec![
        "-machine".into(),
        "pc".into(),
        "-drive".into(),
        format!(
            "if=none,id=cd0,file={},format=raw,readonly=on,media=cdrom",
            iso.display()
        ),
        "-device".into(),
        "ide-cd,drive=cd0,bus=ide.1,bootindex=1".into(),
    ]
}

#[test]
fn run_unbootable_iso_settles() {
    let parent = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let iso = data.path().join("notes.iso");
    std::fs::write(&iso, "this is not an ISO image\n".repeat(4000)).unwrap();
    let Some(mut s) = spec(parent.path(), &[]) else {
        return;
    };
    s.vm_argv = ide_cdrom(&iso);
    s.device = Some("cd0".to_owned());
    s.iso = Some(iso);
    s.settle = Some(Duration::from_secs(1));
    s.timeout = Duration::from_secs(20);
    // SeaBIOS reads the first sectors, finds no El Torito record and
    // waits: the reads settle (a timeout is a failure of this test).
    let r = run_boot(&s, &AtomicBool::new(false)).unwrap();
    assert_eq!(r.end, EndReason::Settled, "{r:?}");
    assert!(r.rd_bytes > 0);
    assert_eq!(r.accel, AccelUsed::Tcg);
    assert!(r.qemu_cpu_seconds > 0.0);
    // A cold run records its page-cache drop.
    assert!(r.cache.is_some());
    assert_no_leftovers(parent.path());
}

#[test]
fn run_cancelled_from_another_thread() {
    let parent = tempfile::tempdir().unwrap();
    let Some(s) = spec(parent.path(), &["-machine", "pc"]) else {
        return;
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        flag.store(true, Ordering::Relaxed);
    });
    let t = Instant::now();
    let e = run_boot(&s, &cancel).unwrap_err();
    setter.join().unwrap();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_no_leftovers(parent.path());
}

#[test]
fn run_guard_kills_qemu_on_panic() {
    let Some(qemu) = isotune_testutil::tool("qemu-system-x86_64") else {
        return;
    };
    let pid = Arc::new(std::sync::Mutex::new(0u32));
    let seen = Arc::clone(&pid);
    let r = std::panic::catch_unwind(move || {
        let g = isotune_qemu::cleanup::ChildGuard::spawn(
            std::process::Command::new(qemu)
                .args(["-S", "-display", "none", "-nodefaults", "-accel", "tcg"])
                .stdin(std::process::Stdio::null()),
        )
        .unwrap();
        *seen.lock().unwrap() = g.id();
        panic!("a panic while QEMU runs");
    });
    assert!(r.is_err());
    let pid = *pid.lock().unwrap();
    assert!(pid > 0);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "QEMU {pid} survived"
    );
}

/// Boots the firmware workload with `vm_argv` and returns the result.
fn firmware_boot(vm_argv: Vec<String>, iso: &Path, until: bool) -> Option<isotune_qemu::RunResult> {
    let parent = tempfile::tempdir().unwrap();
    let mut s = spec(parent.path(), &[])?;
    s.vm_argv = vm_argv;
    s.device = Some("cd0".to_owned());
    s.iso = Some(iso.to_owned());
    let done = Regex::new(isotune_qemu::workload::firmware::DONE_MARKER).unwrap();
    s.markers = vec![
        (
            "start".to_owned(),
            Regex::new(isotune_qemu::workload::firmware::START_MARKER).unwrap(),
        ),
        ("done".to_owned(), done.clone()),
    ];
    s.until = until.then_some(done);
    s.timeout = Duration::from_secs(120);
    let t = Instant::now();
    let r = run_boot(&s, &AtomicBool::new(false)).unwrap();
    eprintln!(
        "{}: {:.2} s to done ({:?} wall), start at {:?} s, {} bytes in {} requests ({:?} B/request), \
         cpu {:.2} s, status {}",
        s.vm_argv.join(" "),
        r.seconds,
        t.elapsed(),
        r.marker_seconds.get("start"),
        r.rd_bytes,
        r.rd_operations,
        r.bytes_per_request,
        r.qemu_cpu_seconds,
        r.guest_status
    );
    assert_no_leftovers(parent.path());
    Some(r)
}

#[test]
fn run_firmware_workload_ide_vs_virtio_scsi() {
    use isotune_vmconfig::{
        Bus, CacheMode, Controller, Drive, Media, Origin, Source, VmDefinition,
    };

    if isotune_testutil::tool("qemu-system-x86_64").is_none() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let iso = data.path().join("fw.iso");
    let payload = 1u64 << 20;
    let w = isotune_qemu::workload::firmware::write_firmware_iso(&iso, payload).unwrap();

    let r = firmware_boot(ide_cdrom(&iso), &iso, true).unwrap();
    assert_eq!(r.end, EndReason::Marker);
    assert!(r.marker_seconds["start"] <= r.seconds);
    assert!(r.rd_bytes >= w.read_bytes, "{r:?}");
    let bpr = r.bytes_per_request.unwrap();
    assert!(
        (2048.0..2600.0).contains(&bpr),
        "IDE: {bpr} bytes per request"
    );
    assert!(r.serial.iter().any(|l| l.text.starts_with("isotune: done")));

    // virtio-scsi, built from the vmconfig model.
    let def = VmDefinition {
        machine: Some("pc".into()),
        drives: vec![Drive {
            id: Some("cd0".into()),
            media: Media::Cdrom,
            bus: Bus::Scsi,
            device: None,
            controller: Some("scsi0".into()),
            source: Source::File { path: iso.clone() },
            format: Some("raw".into()),
            cache: Some(CacheMode::Writeback),
            cache_direct: None,
            aio: None,
            readonly: Some(true),
            iothread: None,
            boot_order: Some(1),
            tray_open: None,
        }],
        controllers: vec![Controller {
            id: Some("scsi0".into()),
            kind: "virtio-scsi".into(),
            iothread: None,
        }],
        ..VmDefinition::new(Origin::Isotune)
    };
    let r = firmware_boot(isotune_qemu::launch::vm_argv(&def), &iso, true).unwrap();
    assert_eq!(r.end, EndReason::Marker);
    assert!(r.rd_bytes >= w.read_bytes, "{r:?}");
    let bpr = r.bytes_per_request.unwrap();
    assert!(bpr > 4096.0, "virtio-scsi: {bpr} bytes per request");

    // Without a final marker the run ends when the program powers off.
    let r = firmware_boot(ide_cdrom(&iso), &iso, false).unwrap();
    assert_eq!(r.end, EndReason::Shutdown);
    assert_eq!(r.guest_status, "shutdown");
    assert!(r.seconds >= r.marker_seconds["done"], "{r:?}");
    assert!(r.rd_bytes >= w.read_bytes);
}
