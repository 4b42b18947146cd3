//! `run_matrix` against a real QEMU under TCG, without the binary: a
//! matrix of the built-in firmware workload (bytes per request on IDE,
//! verified cold runs, --storage copies removed), and a guest whose boot
//! code is random bytes, which is "did not boot", not a time.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use isotune_qemu::matrix::{expand, BusChoice, MatrixSpec, WorkloadCaps};
use isotune_qemu::session::boot_load_bytes;
use isotune_qemu::tempfiles::COPY_PREFIX;
use isotune_qemu::workload::firmware::{write_firmware_iso, DONE_MARKER, START_MARKER};
use isotune_qemu::{run_matrix, AccelRequest, MatrixPlan, NoProgress, QemuBinary};
use regex::Regex;

fn plan(qemu: PathBuf, iso: &Path, buses: Vec<BusChoice>, storages: Vec<PathBuf>) -> MatrixPlan {
    let matrix = expand(
        &MatrixSpec {
            buses,
            storages,
            ..MatrixSpec::default()
        },
        WorkloadCaps {
            bios: true,
            uefi: false,
        },
    );
    MatrixPlan {
        qemu: QemuBinary::new(qemu),
        qemu_version: "test".to_owned(),
        iso: iso.to_owned(),
        builtin: None,
        matrix,
        ovmf: None,
        baseline: 0,
        runs: 1,
        warm: false,
        until: None,
        markers: Vec::new(),
        settle: Some(Duration::from_secs(1)),
        timeout: Duration::from_secs(60),
        memory_bytes: 64 << 20,
        accel: AccelRequest::Tcg,
        host_accel: Default::default(),
        boot_load: Default::default(),
        keys: Vec::new(),
        menu: Default::default(),
    }
}

#[test]
fn matrix_of_the_firmware_workload() {
    let Some(qemu) = isotune_testutil::tool("qemu-system-x86_64") else {
        return;
    };
    let data = tempfile::Builder::new()
        .prefix("isotune-session-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let iso = data.path().join("fw.iso");
    let w = write_firmware_iso(&iso, 1 << 20).unwrap();
    let storage = data.path().join("storage");
    std::fs::create_dir(&storage).unwrap();
    let mut p = plan(qemu, &iso, vec![BusChoice::Ide], vec![storage.clone()]);
    p.until = Some(Regex::new(DONE_MARKER).unwrap());
    p.markers = vec![("start".to_owned(), Regex::new(START_MARKER).unwrap())];
    let r = run_matrix(&p, &NoProgress, &AtomicBool::new(false)).unwrap();
    assert_eq!(r.schema_version, 2);
    assert_eq!(r.configs.len(), 1);
    let c = &r.configs[0];
    assert!(c.failures.is_empty(), "{:?}", c.failures);
    assert_eq!(c.runs.len(), 1);
    let run = &c.runs[0];
    assert_eq!(run.end, "marker");
    assert!(run.rd_bytes >= w.read_bytes);
    // SeaBIOS reads an IDE cdrom one 2048-byte sector per request.
    assert_eq!(
        c.summary.phase_reads[0].median_bytes_per_request,
        Some(2048.0)
    );
    // The copy was made in the storage directory, measured cold, and removed.
    assert!(c.iso.starts_with(&storage), "{:?}", c.iso);
    let drop = run.cache.expect("a cold run records its cache drop");
    assert!(drop.is_cold(), "{drop:?}");
    let left: Vec<_> = std::fs::read_dir(&storage).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A stale copy left by a killed run (a process id that no longer exists)
/// is removed by the next run.
#[test]
fn stale_copies_are_removed_by_the_next_run() {
    let Some(qemu) = isotune_testutil::tool("qemu-system-x86_64") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let iso = data.path().join("fw.iso");
    write_firmware_iso(&iso, 64 << 10).unwrap();
    let storage = data.path().join("storage");
    std::fs::create_dir(&storage).unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let stale = storage.join(format!("{COPY_PREFIX}.{pid}.abcdef.iso"));
    std::fs::write(&stale, b"partial").unwrap();
    let mut p = plan(qemu, &iso, vec![BusChoice::Ide], vec![storage.clone()]);
    p.until = Some(Regex::new(DONE_MARKER).unwrap());
    let r = run_matrix(&p, &NoProgress, &AtomicBool::new(false)).unwrap();
    assert_eq!(r.configs[0].runs.len(), 1, "{:?}", r.configs[0].failures);
    assert!(!stale.exists());
    assert_eq!(std::fs::read_dir(&storage).unwrap().count(), 0);
}

/// An El Torito image whose boot code is random bytes: the firmware loads
/// it and the guest never reads further. Without --until it must not be
/// ranked as a (very fast) successful boot.
#[test]
fn random_boot_code_did_not_boot() {
    let Some(qemu) = isotune_testutil::tool("qemu-system-x86_64") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let tree = data.path().join("tree");
    let mut rng = isotune_testutil::Rng::new(0x15_07_0e);
    isotune_testutil::put(&tree, "boot/boot.bin", &rng.bytes(2048));
    isotune_testutil::put(&tree, "data/filler.bin", &rng.bytes(1 << 20));
    let iso = data.path().join("random.iso");
    if isotune_testutil::mkisofs(
        &tree,
        &iso,
        &[
            "-b",
            "boot/boot.bin",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
        ],
    )
    .is_none()
    {
        return;
    }
    let image = isotune_iso::image::IsoImage::open(std::fs::File::open(&iso).unwrap()).unwrap();
    let catalog = isotune_iso::bootfiles::boot_catalog(&image)
        .unwrap()
        .unwrap();
    let mut p = plan(qemu, &iso, vec![BusChoice::Ide], Vec::new());
    p.boot_load = boot_load_bytes(&catalog);
    assert_eq!(p.boot_load.bios_bytes, 2 * 2048 + 2048 + (16 << 10));
    p.timeout = Duration::from_secs(30);
    let r = run_matrix(&p, &NoProgress, &AtomicBool::new(false)).unwrap();
    let c = &r.configs[0];
    assert!(c.runs.is_empty(), "{:?}", c.runs);
    assert_eq!(c.failures.len(), 1);
    assert_eq!(
        c.failures[0].code,
        isotune_qemu::outcome::FailureCode::DidNotBoot
    );
    assert!(
        c.failures[0]
            .to_string()
            .starts_with("run 1: did not boot: the guest read "),
        "{:?}",
        c.failures
    );
    assert_eq!(c.summary.rank, None);
    assert_eq!(c.summary.median_seconds, None);
}

/// isolinux's `boot:` prompt (no newline after it) with a 5 s TIMEOUT:
/// `--menu auto` presses Enter at the prompt and the default entry powers
/// off; with menus left alone nothing is pressed.
#[test]
fn isolinux_prompt_gets_enter_with_menu_auto() {
    let Some(qemu) = isotune_testutil::tool("qemu-system-x86_64") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let Some(iso) = isotune_testutil::boot::isolinux_menu_iso(data.path()) else {
        return;
    };
    let mut p = plan(qemu, &iso, vec![BusChoice::Ide], Vec::new());
    p.settle = Some(Duration::from_secs(10));
    p.timeout = Duration::from_secs(30);
    p.menu = isotune_qemu::keys::MenuMode::Auto;
    let r = run_matrix(&p, &NoProgress, &AtomicBool::new(false)).unwrap();
    let c = &r.configs[0];
    assert!(c.failures.is_empty(), "{:?}", c.failures);
    let run = &c.runs[0];
    assert_eq!(run.end, "shutdown", "{run:?}");
    assert_eq!(run.keys_pressed.len(), 1, "{run:?}");
    assert_eq!(run.keys_pressed[0].cause, "menu");
    assert_eq!(run.keys_pressed[0].keys, "ret");

    p.menu = isotune_qemu::keys::MenuMode::Off;
    let r = run_matrix(&p, &NoProgress, &AtomicBool::new(false)).unwrap();
    let run = &r.configs[0].runs[0];
    assert!(run.keys_pressed.is_empty(), "{run:?}");
    assert_eq!(run.menu_wait_seconds, 0.0);
}
