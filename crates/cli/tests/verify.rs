//! Regression tests of `isotune verify` through the binary: exit codes on
//! files that are no image, inputs that must not block or be read whole,
//! and `--implant` writes that are all-or-nothing under signals.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command as Bin;
use serde_json::Value;

fn isotune() -> Bin {
    Bin::cargo_bin("isotune").unwrap()
}

/// `isotune verify x.iso && virt-install ...` must stop on a failed
/// download: an empty file, a 20 KB fragment and random bytes are failed
/// truncation checks (exit 1), and the report says which.
#[test]
fn regression_verify_fails_on_files_that_are_no_image() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = isotune_testutil::Rng::new(42);
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("empty.iso", Vec::new(), "too-short"),
        ("fragment.iso", rng.bytes(20_000), "too-short"),
        ("random.iso", rng.bytes(300_000), "not-iso"),
    ];
    for (name, bytes, code) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, &bytes).unwrap();
        for extra in [&[][..], &["--implanted"], &["--md5", "--sha256"]] {
            let out = isotune()
                .arg("verify")
                .args(extra)
                .args(["--json", "--quiet"])
                .arg(&p)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{name} {extra:?}: {err}");
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["schema_version"], 2);
            assert_eq!(v["verdict"], "fail", "{name} {extra:?}");
            assert_eq!(v["failed_checks"][0]["code"], code, "{name} {extra:?}");
            assert_eq!(v["truncation"]["status"], code, "{name} {extra:?}");
        }
        // The human report says FAIL too.
        let out = isotune().arg("verify").arg(&p).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL"));
    }
    // A file that cannot be read at all is exit 2.
    let out = isotune()
        .arg("verify")
        .arg(dir.path().join("missing.iso"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_fifo_is_refused_without_blocking_and_a_huge_sums_file_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.iso");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    for args in [
        &["verify"][..],
        &["verify", "--implant", "--dry-run", "--in-place"],
    ] {
        let out = isotune()
            .args(args)
            .arg(&fifo)
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("pipe.iso") && err.contains("FIFO"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    // A FIFO given as the checksum file: refused too.
    let img = dir.path().join("a.iso");
    std::fs::write(&img, b"x").unwrap();
    let out = isotune()
        .args(["verify", "--sums"])
        .arg(&fifo)
        .arg(&img)
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FIFO"));
    // A sparse 65 MiB "checksum file": refused by its size, not read.
    let sums = dir.path().join("SHA256SUMS");
    let f = std::fs::File::create(&sums).unwrap();
    f.set_len((64 << 20) + 1).unwrap();
    let out = isotune()
        .args(["verify", "--sums"])
        .arg(&sums)
        .arg(&img)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("SHA256SUMS") && err.contains("larger than 67108864 bytes"),
        "{err}"
    );
}

/// An image of about 200 MB in /var/tmp (a disk, not tmpfs), so a copy is
/// still running when a signal lands. `None` when xorriso is missing.
fn big_image(dir: &Path) -> Option<PathBuf> {
    let tree = dir.join("tree");
    let mut rng = isotune_testutil::Rng::new(7);
    let chunk = rng.bytes(1 << 20);
    std::fs::create_dir_all(&tree).unwrap();
    let mut payload = Vec::with_capacity(200 << 20);
    for _ in 0..200 {
        payload.extend_from_slice(&chunk);
    }
    std::fs::write(tree.join("payload.bin"), payload).unwrap();
    let iso = dir.join("big.iso");
    isotune_testutil::mkisofs(&tree, &iso, &["-R"])?;
    std::fs::remove_dir_all(&tree).unwrap();
    Some(iso)
}

/// Temporary files the implant leaves beside `out`.
fn partials(out: &Path) -> Vec<PathBuf> {
    let prefix = format!(
        ".{}.isotune-partial.",
        out.file_name().unwrap().to_string_lossy()
    );
    std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// Starts `isotune verify --implant ARGS`, waits until it is writing (a
/// temporary copy exists, or for `--in-place` a fixed delay), sends
/// `signal` and waits for it to end.
fn interrupt(args: &[&Path], in_place: bool, out: Option<&Path>, signal: rustix::process::Signal) {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("isotune"));
    cmd.args(["verify", "--implant", "--quiet"]);
    if in_place {
        cmd.arg("--in-place");
    } else {
        cmd.arg("--output").arg(out.unwrap());
    }
    let mut child = cmd
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    match out {
        Some(out) => {
            // Until the copy has some bytes in it.
            while partials(out)
                .iter()
                .all(|p| std::fs::metadata(p).map_or(0, |m| m.len()) < (8 << 20))
            {
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "the copy never started"
                );
                if child.try_wait().unwrap().is_some() {
                    panic!("the implant finished before the signal: use a bigger image");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        None => std::thread::sleep(Duration::from_millis(150)),
    }
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
    child.wait().unwrap();
}

#[test]
fn regression_implant_to_copy_is_all_or_nothing_under_signals() {
    use rustix::process::Signal;
    let dir = tempfile::Builder::new()
        .prefix("isotune-verify-test.")
        .tempdir_in("/var/tmp")
        .unwrap();
    let Some(iso) = big_image(dir.path()) else {
        return;
    };
    let before = std::fs::read(&iso).unwrap();
    let out = dir.path().join("out.iso");
    for signal in [Signal::INT, Signal::TERM] {
        interrupt(&[&iso], false, Some(&out), signal);
        assert!(!out.exists(), "{signal:?} left a partial {}", out.display());
        assert_eq!(partials(&out), Vec::<PathBuf>::new(), "{signal:?}");
    }
    // SIGKILL cannot be caught: the partial copy stays under its temporary
    // name (never as OUT), and the next run removes it and says so.
    interrupt(&[&iso], false, Some(&out), Signal::KILL);
    assert!(!out.exists());
    let left = partials(&out);
    assert_eq!(left.len(), 1, "{left:?}");
    let run = isotune()
        .args(["verify", "--implant", "--quiet", "--output"])
        .arg(&out)
        .arg(&iso)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        text.contains("partial copy left by an interrupted run")
            && text.contains(&*left[0].file_name().unwrap().to_string_lossy()),
        "{text}"
    );
    assert!(partials(&out).is_empty());
    // The copy is whole and carries a record that passes.
    isotune()
        .args(["verify", "--implanted", "--quiet"])
        .arg(&out)
        .assert()
        .code(0);
    // The source was never touched.
    assert!(std::fs::read(&iso).unwrap() == before);
}

#[test]
fn regression_implant_in_place_survives_sigkill() {
    let dir = tempfile::Builder::new()
        .prefix("isotune-verify-test.")
        .tempdir_in("/var/tmp")
        .unwrap();
    let Some(iso) = big_image(dir.path()) else {
        return;
    };
    let before = std::fs::read(&iso).unwrap();
    for _ in 0..4 {
        interrupt(&[&iso], true, None, rustix::process::Signal::KILL);
        // The record is written only after the whole image is hashed, in
        // one 512-byte write: a kill before it leaves the image as it was.
        let now = std::fs::read(&iso).unwrap();
        if now != before {
            // The implant won the race: then the record must be whole.
            isotune()
                .args(["verify", "--implanted", "--quiet"])
                .arg(&iso)
                .assert()
                .code(0);
            return;
        }
    }
}
