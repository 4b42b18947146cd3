//! `net.nbd-single-client` and `net.nbd-not-persistent` against a real
//! `qemu-nbd` and real QEMU processes: two VMs on a default qemu-nbd (one
//! client at a time, exits after its first), the second client hanging, the
//! doctor's fix (the server's command line with `--shared` and
//! `--persistent`) started as printed, and the findings gone with a second
//! client served. Issue 12.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command as Bin;
use isotune_testutil::tool;
use serde_json::Value;
use support::{paused_vm as vm, spawn, wait_for};

fn doctor() -> Value {
    let out = Bin::cargo_bin("isotune")
        .unwrap()
        .env("ISOTUNE_NO_LIBVIRT", "1")
        .args(["doctor", "--json", "--running"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)))
}

/// This test's findings of `id` (other processes on the host may have
/// their own).
fn findings<'a>(report: &'a Value, id: &str, pid: u32) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["id"] == id
                && f["subject"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("pid {pid})"))
        })
        .collect()
}

/// Whether a client can open `url` within `secs` (`qemu-img info`).
fn opens_within(url: &str, secs: u32) -> bool {
    Command::new("timeout")
        .args([&secs.to_string(), "qemu-img", "info", "-f", "raw", url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn two_vms_on_a_default_qemu_nbd_issue_12() {
    let (Some(nbd), Some(qemu), Some(_)) = (
        tool("qemu-nbd"),
        tool("qemu-system-x86_64"),
        tool("qemu-img"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disc.iso");
    std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    let sock = dir.path().join("isos.sock");
    let url = format!("nbd+unix:///?socket={}", sock.display());

    let server = spawn(
        Command::new(&nbd)
            .args(["-r", "-f", "raw", "-k"])
            .arg(&sock)
            .arg(&image),
    );
    wait_for(&sock);
    let first = vm(&qemu, &url);
    // Once the first VM holds the one connection, another client waits.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !doctor().to_string().contains(&url) {
        assert!(Instant::now() < deadline, "the first VM is not seen");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert!(!opens_within(&url, 3), "a second client was served");
    let second = vm(&qemu, &url);
    std::thread::sleep(Duration::from_millis(500));

    let report = doctor();
    let pid = server.0.id();
    let single = findings(&report, "net.nbd-single-client", pid);
    assert_eq!(single.len(), 1, "{report:#}");
    let f = single[0];
    assert_eq!(f["severity"], "error");
    assert!(
        f["title"].as_str().unwrap().starts_with("2 VMs use"),
        "{f:#}"
    );
    assert!(f["evidence"].to_string().contains("not set (1)"), "{f:#}");
    assert_eq!(findings(&report, "net.nbd-not-persistent", pid).len(), 1);

    // The fix: the server's command line as printed, started by a shell.
    let fix = f["fix"].as_str().unwrap();
    let command = fix.rsplit('`').nth(1).expect("a command in backticks");
    assert!(command.contains("--shared=2 --persistent"), "{command}");
    drop((first, second, server));
    let _ = std::fs::remove_file(&sock);
    let server = spawn(Command::new("sh").args(["-c", &format!("exec {command}")]));
    wait_for(&sock);
    let first = vm(&qemu, &url);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !doctor().to_string().contains(&url) {
        assert!(Instant::now() < deadline, "the first VM is not seen");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(opens_within(&url, 10), "a second client still waits");
    let _second = vm(&qemu, &url);
    std::thread::sleep(Duration::from_millis(500));
    let report = doctor();
    let pid = server.0.id();
    assert!(
        findings(&report, "net.nbd-single-client", pid).is_empty(),
        "{report:#}"
    );
    assert!(
        findings(&report, "net.nbd-not-persistent", pid).is_empty(),
        "{report:#}"
    );
    drop(first);
}
