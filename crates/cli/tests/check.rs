//! `isotune check` through the binary: grouping, "in memory", and the
//! sample image's cleanup on signals (real signals, a real child process).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt as _;
use assert_cmd::Command as Bin;
use predicates::prelude::*;

/// The binary, not reading this host's libvirt (whether libvirtd runs here
/// must not change these tests).
fn isotune() -> Bin {
    let mut cmd = Bin::cargo_bin("isotune").unwrap();
    cmd.env("ISOTUNE_NO_LIBVIRT", "1");
    cmd
}

fn samples(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("isotune-check."))
        })
        .collect()
}

/// Starts `isotune check` with no ISO under `TMPDIR=tmp` and waits until
/// its sample directory exists.
fn start_sample_check(tmp: &Path) -> std::process::Child {
    let child = Command::cargo_bin("isotune")
        .unwrap()
        .args(["check", "--no-bench", "--quiet"])
        .env("TMPDIR", tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while samples(tmp).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(20), "no sample dir");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Hostile-input issue: `check` with no ISO left its sample image in the
/// temp dir on Ctrl-C. SIGINT, SIGTERM and SIGHUP remove it; what SIGKILL
/// leaves is named with the dead PID and removed by the next run.
#[test]
fn regression_hostile_sample_is_removed_on_signals_and_after_sigkill() {
    for signal in ["INT", "TERM", "HUP"] {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = start_sample_check(tmp.path());
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let status = child.wait().unwrap();
        // Either the handler removed it, or the run had already finished
        // (and removed it the ordinary way).
        assert!(samples(tmp.path()).is_empty(), "SIG{signal}: {status:?}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut child = start_sample_check(tmp.path());
    child.kill().unwrap();
    child.wait().unwrap();
    let left = samples(tmp.path());
    assert_eq!(left.len(), 1, "SIGKILL leaves the directory");
    let name = left[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.contains(&format!(".{}.", child.id())), "{name}");
    isotune()
        .args(["check", "--no-bench", "--json"])
        .env("TMPDIR", tmp.path())
        .assert()
        .success();
    assert!(samples(tmp.path()).is_empty(), "the next run removes it");
}

/// Advice issue: an ISO on tmpfs was called "cold". The bench there is
/// "in memory", in the findings and in the human details.
#[test]
fn regression_advice_an_iso_on_tmpfs_is_in_memory_not_cold() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        return isotune_testutil::skip("no /dev/shm tmpfs");
    }
    let dir = tempfile::tempdir_in(shm).unwrap();
    let iso = dir.path().join("ram.iso");
    isotune_iso::sample::write_sample(
        &iso,
        isotune_iso::sample::SampleSizes {
            kernel_bytes: 100_000,
            initrd_bytes: 200_000,
        },
    )
    .unwrap();
    let out = isotune().arg("check").arg(&iso).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("in memory"), "{text}");
    // (The rule id `bench.cold-read` names what it measures elsewhere.)
    assert!(!text.contains("from a cold cache"), "{text}");
    assert!(text.contains("[bench.boot-trace]"), "{text}");
}

/// Advice issue: fifty VMs with the same finding printed fifty blocks. The
/// human output prints one group with the subjects; JSON keeps fifty.
#[test]
fn regression_advice_identical_findings_are_grouped() {
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join("x.iso");
    isotune_iso::sample::write_sample(&iso, Default::default()).unwrap();
    let xml = dir.path().join("xml");
    std::fs::create_dir(&xml).unwrap();
    for i in 0..50 {
        std::fs::write(
            xml.join(format!("vm{i:02}.xml")),
            format!(
                "<domain type='kvm'><name>vm{i:02}</name><devices><disk type='file' device='cdrom'>\
                 <source file='{}'/><target dev='hdc' bus='ide'/><readonly/></disk></devices></domain>",
                iso.display()
            ),
        )
        .unwrap();
    }
    let out = isotune()
        .args(["check", "--no-bench", "--xml"])
        .arg(&xml)
        .arg(&iso)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("[cdrom.ide-bus]").count(), 1, "{text}");
    assert!(text.contains("vm00") && text.contains("vm49"), "{text}");
    assert!(text.lines().count() < 200, "{} lines", text.lines().count());
    let out = isotune()
        .args(["check", "--no-bench", "--json", "--xml"])
        .arg(&xml)
        .arg(&iso)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "cdrom.ide-bus")
        .count();
    assert_eq!(n, 50);
    isotune()
        .args(["doctor", "--xml"])
        .arg(&xml)
        .assert()
        .stdout(predicate::str::contains("on 50 subjects"));
}

/// Hostile-input issue: a FIFO as the image or as `--xml` must not hang:
/// one line naming it, exit 2 (a FIFO among `--xml` inputs of a check is a
/// warning, the image being checked anyway).
#[test]
fn regression_hostile_fifo_inputs_do_not_hang() {
    let Some(mkfifo) = isotune_testutil::tool("mkfifo") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.iso");
    assert!(Command::new(&mkfifo).arg(&fifo).status().unwrap().success());
    let out = isotune()
        .args(["check", "--no-bench"])
        .arg(&fifo)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("pipe.iso") && err.contains("FIFO"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    let xml = dir.path().join("pipe.xml");
    assert!(Command::new(&mkfifo).arg(&xml).status().unwrap().success());
    let out = isotune()
        .args(["doctor", "--xml"])
        .arg(&xml)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("pipe.xml"), "{err}");

    let iso = dir.path().join("x.iso");
    isotune_iso::sample::write_sample(&iso, Default::default()).unwrap();
    isotune()
        .args(["check", "--no-bench", "--xml"])
        .arg(&xml)
        .arg(&iso)
        .timeout(Duration::from_secs(60))
        .assert()
        .success()
        .stdout(predicate::str::contains("pipe.xml"));
}

/// Docs issue: with no ISO, fixes said `isotune boot /tmp/isotune-check.PID.X/isotune-sample.iso`,
/// a file deleted when the check ends. They name the user's image instead.
#[test]
fn regression_docs_sample_fixes_do_not_name_the_deleted_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let out = isotune()
        .args(["check", "--json", "--quiet"])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sample"], true);
    let findings = v["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["fix"].as_str().unwrap().contains("YOUR.iso")),
        "{findings:#?}"
    );
    for f in findings {
        assert!(
            !f["fix"].as_str().unwrap().contains("isotune-check."),
            "{f:#}"
        );
    }
    assert!(samples(tmp.path()).is_empty());
}
