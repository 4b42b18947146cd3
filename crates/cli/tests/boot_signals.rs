//! `isotune boot` and signals: SIGINT and SIGTERM are caught and clean up;
//! SIGKILL cannot be, so QEMU dies with isotune (parent-death signal) and
//! the next run removes the files the killed one left.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::*;

#[test]
fn ctrl_c_stops_qemu_and_removes_everything() {
    let Some(_) = qemu() else {
        return;
    };
    // SIGINT (Ctrl-C) while QEMU runs, SIGTERM (systemd, timeout(1), a CI
    // cancel) likewise, and SIGINT while the built-in image is still being
    // written, before any QEMU.
    let cases = [
        (rustix::process::Signal::INT, true),
        (rustix::process::Signal::TERM, true),
        (rustix::process::Signal::INT, false),
    ];
    for (signal, wait_for_qemu) in cases {
        let tmp = tmpdir();
        let bin = assert_cmd::cargo::cargo_bin("isotune");
        let payload = if wait_for_qemu { "512" } else { "1024" };
        let mut child = Command::new(bin)
            .env("TMPDIR", tmp.path())
            .args(["boot", "--accel", "tcg", "--runs", "3", "--bus", "ide"])
            .args(["--payload-mib", payload])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let needle = tmp.path().to_string_lossy().into_owned();
        if wait_for_qemu {
            let deadline = Instant::now() + Duration::from_secs(30);
            while qemu_processes_mentioning(&needle).is_empty() {
                assert!(Instant::now() < deadline, "QEMU never started");
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(Duration::from_millis(500));
        } else {
            // Until the image file exists and is being written.
            let deadline = Instant::now() + Duration::from_secs(30);
            while entries(tmp.path()).is_empty() {
                assert!(Instant::now() < deadline, "no image written");
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
            signal,
        )
        .unwrap();
        let start = Instant::now();
        let status = child.wait().unwrap();
        assert!(start.elapsed() < Duration::from_secs(30));
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert_eq!(status.code(), Some(2), "{signal:?}: {err}");
        assert!(err.contains("interrupted"), "{signal:?}: {err}");
        assert_nothing_left(tmp.path());
    }
}

/// SIGKILL cannot be caught: at the start, while the built-in image is
/// written, and while QEMU runs (with a --storage copy). QEMU dies with
/// isotune (parent-death signal); what is left on disk carries the dead
/// process's id and the next run removes it.
#[test]
fn sigkill_leaves_no_qemu_and_the_next_run_removes_its_files() {
    if qemu().is_none() {
        return;
    }
    let bin = assert_cmd::cargo::cargo_bin("isotune");
    // (when to kill, payload MiB)
    for (when, payload) in [
        ("start", "64"),
        ("image", "1024"),
        ("qemu", "512"),
        ("between", "1"),
    ] {
        let tmp = tmpdir();
        let storage = tempfile::tempdir_in("/var/tmp").unwrap();
        let needle = tmp.path().to_string_lossy().into_owned();
        let mut child = Command::new(&bin)
            .env("TMPDIR", tmp.path())
            .args(["boot", "--accel", "tcg", "--runs", "3", "--bus", "ide"])
            .args(["--payload-mib", payload])
            .arg("--storage")
            .arg(storage.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        match when {
            "start" => std::thread::sleep(Duration::from_millis(20)),
            "image" => {
                while entries(tmp.path()).is_empty() {
                    assert!(Instant::now() < deadline, "no image written");
                    std::thread::sleep(Duration::from_millis(10));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            "qemu" => {
                while qemu_processes_mentioning(&needle).is_empty() {
                    assert!(Instant::now() < deadline, "QEMU never started");
                    std::thread::sleep(Duration::from_millis(20));
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            _ => {
                // As soon as the first run's QEMU is gone: between runs (or
                // at the very start of the next one).
                while qemu_processes_mentioning(&needle).is_empty() {
                    assert!(Instant::now() < deadline, "QEMU never started");
                    std::thread::sleep(Duration::from_millis(5));
                }
                while !qemu_processes_mentioning(&needle).is_empty() {
                    assert!(Instant::now() < deadline, "the first run never ended");
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while !qemu_processes_mentioning(&needle).is_empty() {
            assert!(Instant::now() < until, "{when}: QEMU survived SIGKILL");
            std::thread::sleep(Duration::from_millis(20));
        }
        if when == "qemu" {
            assert!(
                !entries(storage.path()).is_empty(),
                "the copy should be left by SIGKILL for the next run"
            );
        }
        // The next run (small and quick) removes what the killed one left.
        boot_cmd(tmp.path())
            .args(["--runs", "1", "--bus", "ide", "--payload-mib", "1"])
            .arg("--storage")
            .arg(storage.path())
            .assert()
            .code(0);
        assert_nothing_left(tmp.path());
        assert!(
            entries(storage.path()).is_empty(),
            "{when}: {:?}",
            entries(storage.path())
        );
    }
}
