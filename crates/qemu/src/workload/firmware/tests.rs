//! Tests of the firmware workload: the committed boot program matches its
//! source, the image is patched right, and it boots for real under QEMU
//! (TCG) on IDE, AHCI and virtio-scsi.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use isotune_testutil::boot::{cdrom_args, CdBus, Qemu};
use isotune_testutil::tool;

use super::*;

#[test]
fn committed_boot_program_matches_its_source() {
    let Some(nasm) = tool("nasm") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("isoread.bin");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("boot/isoread.asm");
    isotune_testutil::run(
        Command::new(nasm)
            .args(["-f", "bin", "-o"])
            .arg(&out)
            .arg(src),
    );
    let fresh = std::fs::read(&out).unwrap();
    assert!(
        fresh == BOOT_PROGRAM,
        "boot/isoread.bin is stale: run scripts/build-bootprog"
    );
}

#[test]
fn boot_program_fits_what_the_bios_loads() {
    assert_eq!(BOOT_PROGRAM.len(), 2048);
    // A far jump to 0000:7C08+ first (SeaBIOS enters at 07C0:0000), the
    // parameter block at offset 8.
    assert_eq!(BOOT_PROGRAM[0], 0xEA);
    assert_eq!(&BOOT_PROGRAM[8..16], PARAM_MAGIC);
}

#[test]
fn patch_params_writes_lba_and_count() {
    let patched = patch_params(BOOT_PROGRAM, 0x0102_0304, 0x0A0B_0C0D).unwrap();
    assert_eq!(&patched[16..20], &[4, 3, 2, 1]);
    assert_eq!(&patched[20..24], &[0x0D, 0x0C, 0x0B, 0x0A]);
    assert_eq!(patched[..16], BOOT_PROGRAM[..16]);
    assert_eq!(patched[24..], BOOT_PROGRAM[24..]);
    assert!(matches!(
        patch_params(&[0u8; 64], 1, 1),
        Err(Error::NoParamBlock)
    ));
}

#[test]
fn written_image_carries_the_payload_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fw.iso");
    let payload = 3 * 2048 + 5;
    let iso = write_firmware_iso(&path, payload).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, iso.image_bytes);
    assert_eq!(iso.read_bytes, 4 * 2048);
    let boot = &bytes[(iso.boot_lba * SECTOR_SIZE) as usize..][..2048];
    assert_eq!(&boot[8..16], PARAM_MAGIC);
    let lba = u32::from_le_bytes(boot[16..20].try_into().unwrap());
    let count = u32::from_le_bytes(boot[20..24].try_into().unwrap());
    assert_eq!(u64::from(lba), iso.payload_lba);
    assert_eq!(count, 4);
    // The image reads back with the boot entry and payload where we said.
    let image = isotune_iso::IsoImage::open(bytes).unwrap();
    let report =
        isotune_iso::report::inspect(&image, isotune_iso::report::InspectOptions::default())
            .unwrap();
    assert_eq!(report.el_torito.entries.len(), 1);
    assert_eq!(iso.start_marker, START_MARKER);
    assert_eq!(iso.done_marker, DONE_MARKER);
}

/// What one boot showed.
struct Boot {
    start: Duration,
    done: Duration,
    rd_bytes: u64,
    rd_operations: u64,
}

/// Boots `iso` on `machine` + `bus` with `-action shutdown=pause`, waits
/// for the done marker and the pause, and reads the block statistics.
fn boot(dir: &Path, iso: &Path, machine: &str, bus: CdBus) -> Option<Boot> {
    let mut args = vec!["-machine".to_owned(), machine.to_owned()];
    args.extend(["-m", "64M", "-action", "shutdown=pause"].map(String::from));
    args.extend(cdrom_args(bus, iso));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut qemu = Qemu::spawn(dir, &argv)?;
    let timeout = Duration::from_secs(120);
    let start = qemu.wait_line("isotune: start", timeout);
    let done = qemu.wait_line("isotune: done", timeout);
    let (Some(start), Some(done)) = (start, done) else {
        panic!("{machine} {bus:?}: no markers; serial:\n{}", qemu.serial());
    };
    // The ACPI power-off pauses the VM (it must not exit or run on).
    let mut status = String::new();
    for _ in 0..200 {
        status = qemu.qmp(r#"{"execute":"query-status"}"#);
        if status.contains("\"shutdown\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        status.contains("\"shutdown\""),
        "{machine} {bus:?}: {status}"
    );
    let stats: serde_json::Value =
        serde_json::from_str(&qemu.qmp(r#"{"execute":"query-blockstats"}"#)).unwrap();
    let sum = |key: &str| {
        stats["return"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["stats"][key].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    Some(Boot {
        start,
        done,
        rd_bytes: sum("rd_bytes"),
        rd_operations: sum("rd_operations"),
    })
}

fn boots_and_pauses(machine: &str, bus: CdBus) {
    let dir = tempfile::tempdir().unwrap();
    let iso = write_firmware_iso(&dir.path().join("fw.iso"), 2 << 20).unwrap();
    let Some(b) = boot(dir.path(), &iso.path, machine, bus) else {
        return;
    };
    assert!(b.done >= b.start);
    assert!(
        b.rd_bytes >= iso.read_bytes,
        "{machine} {bus:?}: guest read {} bytes, payload {}",
        b.rd_bytes,
        iso.read_bytes
    );
}

#[test]
fn workload_boots_on_pc_ide() {
    boots_and_pauses("pc", CdBus::Builtin);
}

#[test]
fn workload_boots_on_pc_ahci() {
    boots_and_pauses("pc", CdBus::Ahci);
}

#[test]
fn workload_boots_on_q35_builtin_ahci() {
    boots_and_pauses("q35", CdBus::Builtin);
}

#[test]
fn workload_boots_on_q35_virtio_scsi() {
    boots_and_pauses("q35", CdBus::VirtioScsi);
}

#[test]
fn workload_boots_on_pc_virtio_scsi() {
    boots_and_pauses("pc", CdBus::VirtioScsi);
}

#[test]
fn workload_falls_back_to_isa_debug_exit_without_acpi() {
    let dir = tempfile::tempdir().unwrap();
    let iso = write_firmware_iso(&dir.path().join("fw.iso"), 64 << 10).unwrap();
    let iso_arg = iso.path.display().to_string();
    let args = [
        "-machine",
        "pc,acpi=off",
        "-m",
        "64M",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
        "-cdrom",
        &iso_arg,
    ];
    let Some(mut qemu) = Qemu::spawn(dir.path(), &args) else {
        return;
    };
    let status = qemu.wait_exit(Duration::from_secs(120));
    let serial = qemu.serial();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(DEBUG_EXIT_DONE_STATUS),
        "serial:\n{serial}"
    );
    assert!(serial.contains("isotune: done"), "{serial}");
}

/// Times a 16 MiB payload on each bus (run with `--ignored --nocapture`;
/// a measurement, not a check).
#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn workload_times_per_bus() {
    let dir = tempfile::tempdir().unwrap();
    let iso = write_firmware_iso(&dir.path().join("fw.iso"), 16 << 20).unwrap();
    for (machine, bus) in [
        ("pc", CdBus::Builtin),
        ("pc", CdBus::Ahci),
        ("q35", CdBus::Builtin),
        ("pc", CdBus::VirtioScsi),
        ("q35", CdBus::VirtioScsi),
    ] {
        let Some(b) = boot(dir.path(), &iso.path, machine, bus) else {
            return;
        };
        eprintln!(
            "{machine:>4} {bus:<12?} start {:>6.2} s  start->done {:>6.2} s  \
             {} bytes in {} reads ({} B/read)",
            b.start.as_secs_f64(),
            (b.done - b.start).as_secs_f64(),
            b.rd_bytes,
            b.rd_operations,
            b.rd_bytes / b.rd_operations.max(1)
        );
    }
}
