//! End-to-end tests of `isotune boot` with real qemu-system-x86_64 under
//! TCG: the built-in firmware workload on every bus, the outputs, the
//! realistic workloads, boot menus, and the promise that nothing survives a
//! run (no QEMU process, socket, temporary file or ISO copy) after a normal
//! end, a timeout or a bad input. Signals are in `boot_signals.rs`.

use isotune_testutil as common;

use std::path::Path;
use std::time::{Duration, Instant};

use predicates::prelude::*;
use serde_json::Value;

mod support;
use support::*;

#[test]
fn builtin_workload_on_every_bus_counts_bytes_per_request() {
    if qemu().is_none() {
        return;
    }
    let tmp = tmpdir();
    let out_dir = tempfile::tempdir().unwrap();
    let chart = out_dir.path().join("boot.svg");
    let md = out_dir.path().join("boot.md");
    let v = ok_json(
        boot_cmd(tmp.path())
            .args(["--json", "--payload-mib", "2", "--runs", "2"])
            .arg("--chart")
            .arg(&chart)
            .arg("--markdown")
            .arg(&md),
    );
    assert_eq!(v["schema_version"], 2);
    assert_eq!(v["accel_used"], "tcg");
    assert_eq!(v["baseline"], "ide");
    for name in ["ide", "ahci", "virtio-scsi"] {
        let c = config(&v, name);
        let runs = c["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2, "{name}: {c:#}");
        for r in runs {
            // The program reads the whole 2 MiB payload: blockstats see it.
            assert!(r["rd_bytes"].as_u64().unwrap() >= 2 << 20, "{r:#}");
            assert!(r["seconds"].as_f64().unwrap() > 0.0);
            assert_eq!(r["end"], "marker");
            assert!(r["phases"]["start"].as_f64().unwrap() < r["seconds"].as_f64().unwrap());
        }
        assert!(c["summary"]["median_seconds"].as_f64().is_some());
    }
    // SeaBIOS: one 2048-byte sector per ATAPI request on IDE, larger
    // requests on AHCI and virtio-scsi.
    let bpr = |name: &str| {
        config(&v, name)["summary"]["median_bytes_per_request"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(bpr("ide"), 2048.0);
    assert!(bpr("virtio-scsi") > 8192.0, "{}", bpr("virtio-scsi"));
    assert!(bpr("ahci") > 8192.0, "{}", bpr("ahci"));
    // Which bus is faster is measured in scripts/bench/boot.sh, not
    // asserted here; every configuration is ranked.
    for name in ["ide", "ahci", "virtio-scsi"] {
        assert!(config(&v, name)["summary"]["rank"].as_u64().is_some());
    }
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("virtio-scsi"),
        "{svg}"
    );
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("| # | configuration |"), "{text}");
    assert_nothing_left(tmp.path());
}

#[test]
fn human_table_and_skipped_combinations() {
    if qemu().is_none() {
        return;
    }
    let tmp = tmpdir();
    boot_cmd(tmp.path())
        .args([
            "--payload-mib",
            "1",
            "--runs",
            "1",
            "--bus",
            "ide",
            "--machine",
            "pc,q35",
            "--cache",
            "none,writeback",
            "--aio",
            "native",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("ide/pc/cache=none"))
        .stdout(predicate::str::contains("skipped ide/q35"))
        .stdout(predicate::str::contains("IDE needs machine pc"))
        .stdout(predicate::str::contains("aio=native needs cache=none"));
    // --baseline takes a configuration's name or its unique prefix.
    let out = boot_cmd(tmp.path())
        .args(["--json", "--payload-mib", "1", "--runs", "1"])
        .args(["--bus", "ide,virtio-scsi", "--baseline", "virtio"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["baseline"], "virtio-scsi");
    assert!(config(&v, "virtio-scsi")["summary"]["vs_baseline"].is_null());
    // When nothing is left to run, it says why.
    boot_cmd(tmp.path())
        .args(["--cache", "writeback", "--aio", "native"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing to run"));
    assert_nothing_left(tmp.path());
}

#[test]
fn storage_copies_are_booted_and_removed() {
    if qemu().is_none() {
        return;
    }
    let tmp = tmpdir();
    let a = tempfile::tempdir_in("/var/tmp").unwrap();
    let b = tempfile::tempdir_in("/dev/shm").unwrap();
    let out = boot_cmd(tmp.path())
        .args([
            "--json",
            "--payload-mib",
            "1",
            "--runs",
            "1",
            "--bus",
            "virtio-scsi",
        ])
        .arg("--storage")
        .arg(a.path())
        .arg("--storage")
        .arg(b.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let isos: Vec<&str> = v["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["iso"].as_str().unwrap())
        .collect();
    assert_eq!(isos.len(), 2);
    assert!(isos[0].starts_with(a.path().to_str().unwrap()), "{isos:?}");
    assert!(isos[1].starts_with(b.path().to_str().unwrap()), "{isos:?}");
    assert!(entries(a.path()).is_empty() && entries(b.path()).is_empty());
    assert_nothing_left(tmp.path());
}

#[test]
fn a_timeout_or_a_missing_marker_is_a_failed_run_and_leaves_nothing() {
    if qemu().is_none() {
        return;
    }
    let tmp = tmpdir();
    let run = |extra: &[&str]| -> Value {
        let start = Instant::now();
        let out = boot_cmd(tmp.path())
            .args(["--json", "--runs", "1", "--bus", "ide"])
            .args(extra)
            .output()
            .unwrap();
        assert!(start.elapsed() < Duration::from_secs(60));
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // 512 MiB through 2 KiB IDE requests takes minutes: the 2 s limit hits.
    let v = run(&["--payload-mib", "512", "--timeout", "2"]);
    let failures = config(&v, "ide")["failures"].to_string();
    assert!(
        failures.contains("2 s") || failures.contains("2.0"),
        "{failures}"
    );
    assert_eq!(config(&v, "ide")["failures"][0]["code"], "timeout");
    assert!(config(&v, "ide")["runs"].as_array().unwrap().is_empty());
    // The guest powers off without ever printing the final marker.
    let v = run(&["--payload-mib", "1", "--until", "this line never comes"]);
    let failures = config(&v, "ide")["failures"].to_string();
    assert!(
        failures.contains("without printing a line matching"),
        "{failures}"
    );
    assert_eq!(config(&v, "ide")["failures"][0]["code"], "no-until-line");
    assert_nothing_left(tmp.path());
}

#[test]
fn bad_input_is_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.iso");
    std::fs::write(&text, "not an image").unwrap();
    type Case = (Vec<String>, Vec<(&'static str, &'static str)>);
    let cases: Vec<Case> = vec![
        (vec![text.display().to_string()], vec![]),
        (vec!["/nonexistent/x.iso".into()], vec![]),
        (vec!["--until".into(), "(".into()], vec![]),
        (
            vec![],
            vec![("ISOTUNE_QEMU", "/nonexistent/qemu-system-x86_64")],
        ),
        (vec!["--storage".into(), "/nonexistent".into()], vec![]),
        (vec!["--baseline".into(), "floppy".into()], vec![]),
    ];
    for (args, env) in cases {
        if qemu().is_none() && env.is_empty() {
            continue;
        }
        let mut cmd = boot_cmd(dir.path());
        cmd.args(["--runs", "1"]).args(&args);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("isotune: error:"), "{err}");
    }
}

/// The two realistic workloads of issue 5 through `isotune boot`: GRUB
/// (BIOS and UEFI, so OVMF from the matrix) and Linux (ata_piix on IDE,
/// virtio_scsi), with their phase markers.
#[test]
fn grub_and_linux_workloads_boot_to_their_markers() {
    if qemu().is_none() {
        return;
    }
    let tmp = tmpdir();
    let work = tempfile::tempdir_in("/var/tmp").unwrap();
    let (grub_dir, linux_dir) = (work.path().join("grub"), work.path().join("linux"));
    std::fs::create_dir_all(&grub_dir).unwrap();
    std::fs::create_dir_all(&linux_dir).unwrap();
    let Some(grub) = common::boot::grub_iso(&grub_dir, 4 << 20) else {
        return;
    };
    let Some(linux) = common::boot::linux_iso(&linux_dir, 4 << 20) else {
        return;
    };
    let boot = |iso: &Path, extra: &[&str]| -> Value {
        ok_json(
            boot_cmd(tmp.path())
                .args(["--json", "--runs", "1", "--timeout", "120"])
                .arg(iso)
                .args(extra),
        )
    };
    let v = boot(
        &grub,
        &[
            "--bus",
            "virtio-scsi",
            "--firmware",
            "bios,uefi",
            "--marker",
            "grub=^isotune: grub-start",
            "--until",
            "^isotune: grub-done",
        ],
    );
    for name in ["virtio-scsi/bios", "virtio-scsi/uefi"] {
        let run = &config(&v, name)["runs"][0];
        assert_eq!(run["end"], "marker", "{name}: {run:#}");
        assert!(run["phases"]["grub"].as_f64().is_some(), "{name}: {run:#}");
        assert!(
            run["rd_bytes"].as_u64().unwrap() > 4 << 20,
            "{name}: {run:#}"
        );
    }
    let v = boot(
        &linux,
        &[
            "--bus",
            "ide,virtio-scsi",
            "--machine",
            "pc",
            "--marker",
            "linux=^isotune: linux-start",
            "--marker",
            "mounted=^isotune: mounted",
            "--until",
            "^isotune: linux-done",
        ],
    );
    // The firmware phase (GRUB loading the kernel and initramfs, up to the
    // `linux` marker) reads 2048 bytes per request on IDE, more on
    // virtio-scsi; the phases are told apart by the counters at each marker.
    let firmware_phase = |name: &str| {
        let phases = config(&v, name)["summary"]["phase_reads"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(phases[0]["until"], "linux", "{phases:#?}");
        assert_eq!(phases.last().unwrap()["until"], "end", "{phases:#?}");
        phases[0]["median_bytes_per_request"].as_f64().unwrap()
    };
    // (A few odd-sized reads, e.g. of the boot image, shift the mean by a
    // fraction of a byte.)
    assert!((firmware_phase("ide") - 2048.0).abs() < 8.0);
    assert!(firmware_phase("virtio-scsi") > 8192.0);
    for name in ["ide", "virtio-scsi"] {
        let run = &config(&v, name)["runs"][0];
        let phases = &run["phases"];
        assert!(
            phases["linux"].as_f64().unwrap() <= phases["mounted"].as_f64().unwrap(),
            "{name}: {run:#}"
        );
        assert!(
            run["rd_bytes"].as_u64().unwrap() > 4 << 20,
            "{name}: {run:#}"
        );
    }
    assert_nothing_left(tmp.path());
}

/// A GRUB menu with `timeout=-1` waits for ever. With `--menu auto` the
/// runner recognises the menu and presses Enter; with `--menu off --keys
/// ret@REGEX` the key comes on the menu's own line. Either way the entry
/// boots to its final marker, the press is recorded and the wait at the
/// menu is its own number, not part of the boot time. With `--menu off`
/// and no key the run never gets past the menu.
#[test]
fn grub_menu_waiting_for_ever_is_booted_by_a_key() {
    if qemu().is_none() {
        return;
    }
    let tmp = tmpdir();
    let work = tempfile::tempdir_in("/var/tmp").unwrap();
    let Some(iso) = common::boot::grub_menu_iso(work.path(), 1 << 20) else {
        return;
    };
    let boot = |extra: &[&str]| {
        let timeout = if extra.contains(&"--keys") || !extra.contains(&"off") {
            "60"
        } else {
            "8"
        };
        boot_cmd(tmp.path())
            .args([
                "--json",
                "--runs",
                "1",
                "--timeout",
                timeout,
                "--bus",
                "ahci",
            ])
            .arg(&iso)
            .args(["--marker", "chosen=^isotune: menu-entry-chosen"])
            .args(extra)
            .output()
            .unwrap()
    };
    for (how, extra) in [
        ("auto", vec!["--until", "^isotune: grub-done"]),
        (
            "keys",
            vec![
                "--menu",
                "off",
                "--keys",
                "ret@Use the .* keys to select",
                "--until",
                "^isotune: grub-done",
            ],
        ),
    ] {
        let out = boot(&extra);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{how}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let run = &v["configs"][0]["runs"][0];
        assert_eq!(run["end"], "marker", "{how}: {run:#}");
        let pressed = run["keys_pressed"].as_array().unwrap();
        assert_eq!(pressed.len(), 1, "{how}: {run:#}");
        assert_eq!(pressed[0]["keys"], "ret");
        assert_eq!(
            pressed[0]["cause"],
            if how == "auto" { "menu" } else { "line" }
        );
        let wait = run["menu_wait_seconds"].as_f64().unwrap();
        assert!(wait >= 0.0);
        assert_eq!(wait, pressed[0]["waited_seconds"].as_f64().unwrap());
        // The press came at the menu, before the entry ran; the boot time
        // leaves the wait out.
        let at = pressed[0]["at_seconds"].as_f64().unwrap();
        let chosen = run["phases"]["chosen"].as_f64().unwrap();
        assert!(at - wait <= chosen, "{how}: {run:#}");
        assert!(run["rd_bytes"].as_u64().unwrap() > 1 << 20, "{how}");
        assert!(
            v["configs"][0]["summary"]["median_menu_wait_seconds"]
                .as_f64()
                .is_some(),
            "{how}"
        );
    }

    // A timed press: the menu sits idle until then, and that idle time is
    // the menu wait.
    let out = boot(&[
        "--menu",
        "off",
        "--keys",
        "ret@4",
        "--until",
        "^isotune: grub-done",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &v["configs"][0]["runs"][0];
    let wait = run["menu_wait_seconds"].as_f64().unwrap();
    let at = run["keys_pressed"][0]["at_seconds"].as_f64().unwrap();
    assert!(at >= 4.0, "{run:#}");
    assert!(wait > 0.0 && wait < at, "{run:#}");
    assert!(
        run["seconds"].as_f64().unwrap() < at + 60.0 - wait,
        "{run:#}"
    );

    // No key: the guest stays in its menu and the run is a failure (the
    // until line never comes), not a boot.
    let out = boot(&["--menu", "off", "--until", "^isotune: grub-done"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["configs"][0]["runs"].as_array().unwrap().is_empty());
    assert_nothing_left(tmp.path());
}
