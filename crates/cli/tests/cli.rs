//! End-to-end tests of the `isotune` binary against real images made by
//! real tools (xorriso, genisoimage, implantisomd5, coreutils).

use isotune_testutil as common;

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::Command as Bin;
use predicates::prelude::*;
use serde_json::Value;

/// The binary, not reading this host's libvirt (whether libvirtd runs here
/// must not change these tests).
fn isotune() -> Bin {
    let mut cmd = Bin::cargo_bin("isotune").unwrap();
    cmd.env("ISOTUNE_NO_LIBVIRT", "1");
    cmd
}

/// An installer-shaped image made by xorriso: Rock Ridge, Joliet, an
/// isolinux BIOS entry, an EFI entry and a kernel/initrd named by the
/// configs.
fn xorriso_image(dir: &Path) -> Option<PathBuf> {
    let tree = dir.join("tree");
    common::put(&tree, "isolinux/isolinux.bin", &vec![0xAB; 4096]);
    common::put(
        &tree,
        "isolinux/isolinux.cfg",
        b"DEFAULT linux\nLABEL linux\n  KERNEL /casper/vmlinuz\n  APPEND initrd=/casper/initrd quiet\n",
    );
    common::put(&tree, "casper/vmlinuz", &vec![1; 3_000_000]);
    common::put(&tree, "casper/initrd", &vec![2; 7_000_000]);
    common::put(&tree, "boot/grub/efi.img", &vec![0; 64 * 1024]);
    common::put(&tree, "A Long File Name For Joliet.txt", b"hello");
    let iso = dir.join("test.iso");
    common::mkisofs(
        &tree,
        &iso,
        &[
            "-R",
            "-J",
            "-V",
            "ISOTUNE_TEST",
            "-b",
            "isolinux/isolinux.bin",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-boot-info-table",
            "-eltorito-alt-boot",
            "-e",
            "boot/grub/efi.img",
            "-no-emul-boot",
        ],
    )?;
    Some(iso)
}

fn json(cmd: &mut Bin) -> Value {
    let out = cmd.output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn version_help_completions_and_man() {
    isotune()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("isotune "));
    for sub in [
        "check",
        "inspect",
        "verify",
        "bench",
        "doctor",
        "boot",
        "completions",
        "man",
    ] {
        isotune().args([sub, "--help"]).assert().success();
    }
    for shell in ["bash", "zsh", "fish"] {
        isotune()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains("isotune"));
    }
    isotune()
        .arg("man")
        .assert()
        .success()
        .stdout(predicate::str::contains(".TH isotune"));
    let dir = tempfile::tempdir().unwrap();
    isotune()
        .args(["man", "--output"])
        .arg(dir.path())
        .assert()
        .success();
    assert!(dir.path().join("isotune-verify.1").is_file());
    assert!(dir.path().join("isotune-doctor.1").is_file());
    assert!(dir.path().join("isotune-boot.1").is_file());
}

#[test]
fn usage_errors_exit_2() {
    isotune().assert().code(2);
    isotune().args(["inspect"]).assert().code(2);
    isotune()
        .args(["verify", "x.iso", "--implant"])
        .assert()
        .code(2);
    isotune()
        .args(["verify", "x.iso", "--expect", "abc"])
        .assert()
        .code(2);
}

#[test]
fn inspect_json_matches_isoinfo() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = xorriso_image(dir.path()) else {
        return;
    };
    let Some(isoinfo) = common::tool("isoinfo") else {
        return;
    };
    let v = json(isotune().args(["inspect", "--json"]).arg(&iso));
    let d = common::run(Command::new(isoinfo).arg("-d").arg("-i").arg(&iso));
    let field = |name: &str| {
        d.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| panic!("isoinfo has no {name}: {d}"))
    };
    assert_eq!(v["schema_version"], isotune_iso::report::SCHEMA_VERSION);
    assert_eq!(v["volume_id"], field("Volume id:"));
    assert_eq!(v["volume_space_size"].to_string(), field("Volume size is:"));
    assert_eq!(
        v["logical_block_size"].to_string(),
        field("Logical block size is:")
    );
    assert_eq!(v["file_size"], std::fs::metadata(&iso).unwrap().len());
    assert_eq!(v["joliet"], true);
    assert_eq!(v["rock_ridge"], true);
    assert_eq!(v["udf"], false);
    let entries = v["el_torito"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["platform"], "bios");
    assert_eq!(entries[0]["emulation"], "none");
    assert_eq!(entries[0]["sector_count"], 4);
    assert_eq!(entries[0]["path"], "/isolinux/isolinux.bin");
    assert_eq!(entries[1]["platform"], "efi");
    let boot: Vec<&str> = v["boot_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(boot[0], "/isolinux/isolinux.bin");
    let k = boot
        .iter()
        .position(|p| *p == "/casper/vmlinuz")
        .expect("kernel");
    let i = boot
        .iter()
        .position(|p| *p == "/casper/initrd")
        .expect("initrd");
    assert!(k < i, "kernel loads before initrd: {boot:?}");
    assert!(v["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["severity"] != "error"));

    // --files lists every file with extents, as isoinfo -R -l does.
    let v = json(isotune().args(["inspect", "--files", "--json"]).arg(&iso));
    let files = v["files"].as_array().unwrap();
    let kernel = files
        .iter()
        .find(|f| f["path"] == "/casper/vmlinuz")
        .unwrap();
    assert_eq!(kernel["size"], 3_000_000);
    let listing = common::run(
        Command::new(common::tool("isoinfo").unwrap())
            .args(["-R", "-l", "-i"])
            .arg(&iso),
    );
    let lba = kernel["extents"][0]["lba"].as_u64().unwrap();
    // isoinfo: `-rw-r--r-- 1 0 0 300000 Nov 26 2026 [    414 00]  vmlinuz `
    let isoinfo_lba = listing
        .lines()
        .find(|l| l.trim_end().ends_with(" vmlinuz"))
        .and_then(|l| l.split('[').nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no vmlinuz in isoinfo listing:\n{listing}"));
    assert_eq!(lba, isoinfo_lba);
}

#[test]
fn inspect_human_views() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = xorriso_image(dir.path()) else {
        return;
    };
    isotune()
        .args(["inspect"])
        .arg(&iso)
        .assert()
        .success()
        .stdout(predicate::str::contains("ISOTUNE_TEST"))
        .stdout(predicate::str::contains("/casper/vmlinuz"))
        .stdout(predicate::str::contains("El Torito boot catalog"));
    isotune()
        .args(["inspect", "--files", "--extents"])
        .arg(&iso)
        .assert()
        .success()
        .stdout(predicate::str::contains("/A Long File Name For Joliet.txt"));
    let out = dir.path().join("report.json");
    isotune()
        .args(["inspect", "--json", "--output"])
        .arg(&out)
        .arg(&iso)
        .assert()
        .success()
        .stdout("");
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v["volume_id"], "ISOTUNE_TEST");
}

#[test]
fn verify_digests_match_coreutils() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = xorriso_image(dir.path()) else {
        return;
    };
    let v = json(
        isotune()
            .args([
                "verify", "--md5", "--sha1", "--sha256", "--sha512", "--json", "--quiet",
            ])
            .arg(&iso),
    );
    for (tool, alg) in [
        ("md5sum", "md5"),
        ("sha1sum", "sha1"),
        ("sha256sum", "sha256"),
        ("sha512sum", "sha512"),
    ] {
        let Some(t) = common::tool(tool) else { return };
        let want = common::run(Command::new(t).arg(&iso));
        let want = want.split_whitespace().next().unwrap();
        let got = v["digests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["algorithm"] == alg)
            .unwrap_or_else(|| panic!("no {alg} in {v}"));
        assert_eq!(got["hex"], want, "{alg}");
    }
    assert_eq!(v["truncation"]["status"], "complete");
}

#[test]
fn verify_sums_file_pass_and_mismatch_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = xorriso_image(dir.path()) else {
        return;
    };
    let Some(sha) = common::tool("sha256sum") else {
        return;
    };
    let line = common::run(Command::new(sha).arg("test.iso").current_dir(dir.path()));
    let sums = dir.path().join("SHA256SUMS");
    std::fs::write(&sums, &line).unwrap();
    isotune()
        .args(["verify", "--sums"])
        .arg(&sums)
        .arg(&iso)
        .assert()
        .success()
        .stdout(predicate::str::contains("PASS"));
    let bad = line.replacen(&line[..1], if &line[..1] == "0" { "1" } else { "0" }, 1);
    std::fs::write(&sums, bad).unwrap();
    isotune()
        .args(["verify", "--sums"])
        .arg(&sums)
        .arg(&iso)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL"));
}

#[test]
fn implanted_md5_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = xorriso_image(dir.path()) else {
        return;
    };
    let Some(implant) = common::tool("implantisomd5") else {
        return;
    };
    let Some(check) = common::tool("checkisomd5") else {
        return;
    };

    // Ours verifies what implantisomd5 wrote.
    let theirs = dir.path().join("theirs.iso");
    std::fs::copy(&iso, &theirs).unwrap();
    common::run(Command::new(&implant).arg(&theirs));
    isotune()
        .args(["verify", "--implanted"])
        .arg(&theirs)
        .assert()
        .success()
        .stdout(predicate::str::contains("PASS"));

    // checkisomd5 verifies what we implanted, into a copy; the source is untouched.
    let before = std::fs::read(&iso).unwrap();
    let ours = dir.path().join("ours.iso");
    isotune()
        .args(["verify", "--implant", "--output"])
        .arg(&ours)
        .arg(&iso)
        .assert()
        .success();
    assert_eq!(
        std::fs::read(&iso).unwrap(),
        before,
        "the source was modified"
    );
    // checkisomd5 exits 1 for FAIL and for "no checksum": read its verdict
    // line (on stderr).
    let verdict = |path: &Path| {
        let out = Command::new(&check).arg(path).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = verdict(&ours);
    assert!(
        ok && text.contains("the result is: PASS"),
        "checkisomd5: {text}"
    );

    // One flipped byte in the data area fails in both.
    let mut bytes = std::fs::read(&ours).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xFF;
    std::fs::write(&ours, &bytes).unwrap();
    isotune()
        .args(["verify", "--implanted"])
        .arg(&ours)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL"));
    let (ok, text) = verdict(&ours);
    assert!(
        !ok && text.contains("the result is: FAIL"),
        "checkisomd5: {text}"
    );

    // A used area is not overwritten without --force.
    let again = dir.path().join("again.iso");
    isotune()
        .args(["verify", "--implant", "--output"])
        .arg(&again)
        .arg(&theirs)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("force"));
}

#[test]
fn bad_input_is_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.iso");
    let empty = dir.path().join("empty.iso");
    std::fs::write(&empty, b"").unwrap();
    let garbage = dir.path().join("garbage.iso");
    std::fs::write(&garbage, isotune_testutil::Rng::new(1).bytes(200_000)).unwrap();
    for (path, needle) in [
        (missing.as_path(), "missing.iso"),
        (dir.path(), "is a directory"),
        (empty.as_path(), "empty.iso"),
        (garbage.as_path(), "garbage.iso"),
    ] {
        // A file that can be read but is no image is a failed check for
        // verify and check (exit 1: tests/verify.rs and the regression test
        // below), not an input error; they refuse only what they cannot read.
        let readable = path == empty.as_path() || path == garbage.as_path();
        for sub in [
            &["inspect"][..],
            &["verify", "--implanted"][..],
            &["check"][..],
        ] {
            if sub[0] != "inspect" && readable {
                continue;
            }
            let out = isotune().args(sub).arg(path).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{sub:?} {path:?}: {err}");
            assert!(err.contains(needle), "{sub:?} {path:?}: {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
}

/// Advice issue: `check` exited 2 on an empty file, a 20 KB fragment and
/// random bytes; each is a failed truncation check, exit 1, one finding.
#[test]
fn regression_advice_fragments_fail_check_with_the_truncation_finding() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = isotune_testutil::Rng::new(7);
    let random = rng.bytes(200_000);
    let whole = dir.path().join("whole.iso");
    isotune_iso::sample::write_sample(&whole, Default::default()).unwrap();
    let fragment = std::fs::read(&whole).unwrap()[..20_000].to_vec();
    for (name, bytes) in [
        ("empty.iso", Vec::new()),
        ("fragment.iso", fragment),
        ("random.iso", random),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let out = isotune()
            .args(["check", "--json", "--no-bench"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let truncated: Vec<&Value> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"] == "image.truncated")
            .collect();
        assert_eq!(truncated.len(), 1, "{name}: {v:#}");
        assert!(truncated[0]["evidence"].is_array());
        isotune()
            .args(["check", "--no-bench"])
            .arg(&path)
            .assert()
            .code(1)
            .stdout(predicate::str::contains("[image.truncated]"));
    }
}

#[test]
fn truncated_image_fails_check_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = xorriso_image(dir.path()) else {
        return;
    };
    let bytes = std::fs::read(&iso).unwrap();
    let cut = dir.path().join("cut.iso");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    isotune()
        .args(["verify"])
        .arg(&cut)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("truncated"));
    let v = json(isotune().args(["check", "--json"]).arg(&cut));
    assert_eq!(v["verdict"], "fail");
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == "image.truncated"));
    isotune().args(["check"]).arg(&cut).assert().code(1);
    isotune()
        .args(["inspect", "--json"])
        .arg(&cut)
        .assert()
        .success()
        .stdout(predicate::str::contains("image.truncated"));
}

#[test]
fn check_without_iso_audits_a_sample() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("report.md");
    let v = json(isotune().args(["check", "--json", "--markdown"]).arg(&md));
    assert_eq!(v["sample"], true);
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["verify"]["implanted"]["status"], "pass");
    assert!(
        !Path::new(v["iso"].as_str().unwrap()).exists(),
        "sample left behind"
    );
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("**Verdict: PASS**"), "{text}");
    isotune()
        .arg("check")
        .assert()
        .success()
        .stdout(predicate::str::contains("sample image"));
}

#[test]
fn check_with_expect_mismatch_fails() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = xorriso_image(dir.path()) else {
        return;
    };
    let v = json(
        isotune()
            .args(["check", "--json", "--expect"])
            .arg("0".repeat(64))
            .arg(&iso),
    );
    assert_eq!(v["verdict"], "fail");
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == "image.digest-mismatch"));
}

/// Review of issue 2: `-o` or `--markdown` naming the image must not
/// truncate it.
#[test]
fn regression_2_reports_never_overwrite_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = xorriso_image(dir.path()) else {
        return;
    };
    let before = std::fs::read(&iso).unwrap();
    let link = dir.path().join("link.iso");
    std::os::unix::fs::symlink(&iso, &link).unwrap();
    for out in [&iso, &link] {
        isotune()
            .args(["inspect", "-o"])
            .arg(out)
            .arg(&iso)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("refusing"));
        isotune()
            .args(["check", "--markdown"])
            .arg(out)
            .arg(&iso)
            .assert()
            .code(2);
    }
    assert_eq!(std::fs::read(&iso).unwrap(), before);
}

/// Review of issue 2: `verify --implanted` on an image without a record is
/// unverified, and says why.
#[test]
fn regression_2_implanted_without_record_is_unverified() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = xorriso_image(dir.path()) else {
        return;
    };
    let v = json(
        isotune()
            .args(["verify", "--implanted", "--json"])
            .arg(&iso),
    );
    assert_eq!(v["verdict"], "unverified");
    assert_eq!(v["implanted"]["status"], "not-implanted");
    isotune()
        .args(["verify", "--implanted"])
        .arg(&iso)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("no usable record"));
}
