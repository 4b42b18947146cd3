//! Helpers shared by the `isotune boot` test files: the command with a
//! private TMPDIR, and the checks that nothing is left behind.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use isotune_testutil::exporter::Killed;

use assert_cmd::Command as Bin;
use isotune_testutil as common;
use serde_json::Value;

pub fn isotune() -> Bin {
    Bin::cargo_bin("isotune").unwrap()
}

/// `isotune boot --accel tcg` with a private TMPDIR (see [`tmpdir`]).
pub fn boot_cmd(tmp: &Path) -> Bin {
    let mut cmd = isotune();
    cmd.env("TMPDIR", tmp).args(["boot", "--accel", "tcg"]);
    cmd
}

pub fn qemu() -> Option<PathBuf> {
    common::tool("qemu-system-x86_64")
}

/// A private TMPDIR, so leftovers can be checked.
pub fn tmpdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("isotune-boot-test.")
        .tempdir_in("/var/tmp")
        .unwrap()
}

pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// QEMU processes whose command line mentions `needle`.
pub fn qemu_processes_mentioning(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.contains("qemu-system") && cmd.contains(needle) {
            out.push(pid);
        }
    }
    out
}

pub fn assert_nothing_left(tmp: &Path) {
    let name = tmp.to_string_lossy().into_owned();
    assert!(
        qemu_processes_mentioning(&name).is_empty(),
        "QEMU left running"
    );
    assert!(
        entries(tmp).is_empty(),
        "left in TMPDIR: {:?}",
        entries(tmp)
    );
}

pub fn config<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["config"]["name"] == name)
        .unwrap_or_else(|| panic!("no configuration {name}: {v:#}"))
}

/// `isotune bench ARGS --json --quiet TARGET` (a path or a URL), which must
/// succeed; its JSON report.
pub fn bench_json(args: &[&str], target: impl AsRef<std::ffi::OsStr>) -> Value {
    let target = target.as_ref();
    let out = isotune()
        .arg("bench")
        .args(args)
        .args(["--json", "--quiet"])
        .arg(target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bench {} failed: {}",
        target.to_string_lossy(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `cmd`, which must exit 0, and parses its stdout as JSON.
pub fn ok_json(cmd: &mut Bin) -> Value {
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `cmd` started with no stdio, killed and reaped when dropped.
pub fn spawn(cmd: &mut Command) -> Killed {
    Killed(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

pub fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A paused QEMU (TCG, no display) that opens `url` as a read-only drive
/// with id `cd0`.
pub fn paused_vm(qemu: &Path, url: &str) -> Killed {
    spawn(Command::new(qemu).args([
        "-accel",
        "tcg",
        "-S",
        "-display",
        "none",
        "-nodefaults",
        "-drive",
        &format!("file={url},format=raw,if=none,id=cd0,readonly=on"),
    ]))
}
