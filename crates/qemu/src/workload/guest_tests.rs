//! Boots the package-built workloads of `isotune_testutil::boot` (GRUB
//! reading a payload, a Linux initramfs mounting the cdrom and reading it)
//! under QEMU (TCG), so the markers and power-off they rely on are known
//! to work on each bus and firmware the boot runner measures.

use std::path::{Path, PathBuf};
use std::time::Duration;

use isotune_testutil::boot::{
    cdrom_args, grub_iso, linux_iso, ovmf_args, CdBus, Qemu, GRUB_DONE, GRUB_START, LINUX_DONE,
    LINUX_MOUNTED, LINUX_START,
};

/// Firmware of a test boot.
#[derive(Debug, Clone, Copy)]
enum Firmware {
    SeaBios,
    Ovmf,
}

/// Times since QEMU started at which each marker appeared.
type Marks = Vec<(&'static str, Duration)>;

/// Boots `iso` and waits for `markers` in order, then for the VM to pause
/// after powering off; `None` when QEMU or OVMF is missing.
fn boot(
    dir: &Path,
    iso: &Path,
    machine: &str,
    bus: CdBus,
    firmware: Firmware,
    markers: &[&'static str],
) -> Option<Marks> {
    let mut args: Vec<String> = ["-machine", machine, "-m", "512M", "-action"]
        .map(String::from)
        .to_vec();
    args.push("shutdown=pause".into());
    if let Firmware::Ovmf = firmware {
        args.extend(ovmf_args(dir)?);
    }
    args.extend(cdrom_args(bus, iso));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut qemu = Qemu::spawn(dir, &argv)?;
    let mut marks = Vec::new();
    for m in markers {
        match qemu.wait_line(m, Duration::from_secs(120)) {
            Some(t) => marks.push((*m, t)),
            None => panic!(
                "{machine} {bus:?} {firmware:?}: no `{m}`; serial:\n{}",
                qemu.serial()
            ),
        }
    }
    let mut status = String::new();
    for _ in 0..1000 {
        status = qemu.qmp(r#"{"execute":"query-status"}"#);
        if status.contains("\"shutdown\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        status.contains("\"shutdown\""),
        "{machine} {bus:?} {firmware:?} did not power off: {status}\n{}",
        qemu.serial()
    );
    Some(marks)
}

const GRUB_MARKERS: [&str; 2] = [GRUB_START, GRUB_DONE];
const LINUX_MARKERS: [&str; 3] = [LINUX_START, LINUX_MOUNTED, LINUX_DONE];

/// Builds a workload ISO with `make` (a 2 MiB payload) and boots it; returns
/// quietly when a tool it needs is missing.
fn boots(
    make: fn(&Path, u64) -> Option<PathBuf>,
    machine: &str,
    bus: CdBus,
    firmware: Firmware,
    markers: &[&'static str],
) {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = make(dir.path(), 2 << 20) else {
        return;
    };
    boot(dir.path(), &iso, machine, bus, firmware, markers);
}

#[test]
fn workload_grub_boots_bios_ide() {
    boots(
        grub_iso,
        "pc",
        CdBus::Builtin,
        Firmware::SeaBios,
        &GRUB_MARKERS,
    );
}

#[test]
fn workload_grub_boots_bios_virtio_scsi() {
    boots(
        grub_iso,
        "pc",
        CdBus::VirtioScsi,
        Firmware::SeaBios,
        &GRUB_MARKERS,
    );
}

#[test]
fn workload_grub_boots_uefi_q35() {
    boots(
        grub_iso,
        "q35",
        CdBus::VirtioScsi,
        Firmware::Ovmf,
        &GRUB_MARKERS,
    );
}

#[test]
fn workload_linux_boots_ide() {
    boots(
        linux_iso,
        "pc",
        CdBus::Builtin,
        Firmware::SeaBios,
        &LINUX_MARKERS,
    );
}

#[test]
fn workload_linux_boots_virtio_scsi() {
    boots(
        linux_iso,
        "pc",
        CdBus::VirtioScsi,
        Firmware::SeaBios,
        &LINUX_MARKERS,
    );
}

/// Prints marker times for GRUB and Linux boots on each bus (run with
/// `--ignored --nocapture`; a measurement, not a check).
#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn workload_guest_times() {
    let dir = tempfile::tempdir().unwrap();
    let payload = 16 << 20;
    let Some(grub) = grub_iso(dir.path(), payload) else {
        return;
    };
    let Some(linux) = linux_iso(dir.path(), 64 << 20) else {
        return;
    };
    let runs = [
        (
            "grub 16 MiB",
            &grub,
            "pc",
            CdBus::Builtin,
            Firmware::SeaBios,
        ),
        ("grub 16 MiB", &grub, "pc", CdBus::Ahci, Firmware::SeaBios),
        (
            "grub 16 MiB",
            &grub,
            "pc",
            CdBus::VirtioScsi,
            Firmware::SeaBios,
        ),
        ("grub 16 MiB", &grub, "q35", CdBus::Builtin, Firmware::Ovmf),
        (
            "grub 16 MiB",
            &grub,
            "q35",
            CdBus::VirtioScsi,
            Firmware::Ovmf,
        ),
        (
            "linux 64 MiB",
            &linux,
            "pc",
            CdBus::Builtin,
            Firmware::SeaBios,
        ),
        (
            "linux 64 MiB",
            &linux,
            "pc",
            CdBus::VirtioScsi,
            Firmware::SeaBios,
        ),
        (
            "linux 64 MiB",
            &linux,
            "q35",
            CdBus::VirtioScsi,
            Firmware::SeaBios,
        ),
    ];
    for (what, iso, machine, bus, fw) in runs {
        let markers: &[&'static str] = if what.starts_with("grub") {
            &GRUB_MARKERS
        } else {
            &LINUX_MARKERS
        };
        let Some(marks) = boot(dir.path(), iso, machine, bus, fw, markers) else {
            return;
        };
        let line: Vec<String> = marks
            .iter()
            .map(|(m, t)| format!("{m} {:.2} s", t.as_secs_f64()))
            .collect();
        eprintln!("{what} {machine} {bus:?} {fw:?}: {}", line.join(", "));
    }
}
