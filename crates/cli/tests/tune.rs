//! End-to-end tests of `isotune tune` on real parts: an ISO on an ext4
//! filesystem on a real loop device (losetup, mount; root), its
//! `read_ahead_kb` changed through sysfs and persisted by a udev rule file
//! under `--root`, `apply` killed with SIGKILL at every step boundary, drift
//! made by a sysfs write, read-only sysfs (a read-only bind mount in a
//! private mount namespace), two applies at once, corrupt and newer journal
//! files, and `tune warm` on a real ISO.
//!
//! Every loop device is detached and every mount unmounted when its
//! [`LoopFs`] is dropped, also when a test fails.

use isotune_testutil as common;
use isotune_testutil::loopfs::LoopFs;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use assert_cmd::Command as Bin;
use serde_json::Value;

fn isotune() -> Bin {
    Bin::cargo_bin("isotune").unwrap()
}

/// `(stdout as JSON, exit code, stderr)`.
fn json(cmd: &mut Bin) -> (Value, i32, String) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (v, out.status.code().unwrap_or(-1), stderr)
}

/// `isotune tune` with a [`LoopFs`]'s --state-dir and --root.
trait TuneCmd {
    /// `isotune tune SUB --json` with this fixture's --state-dir and --root.
    fn tune(&self, sub: &str) -> Bin;
    /// `tune apply --yes --iso` the fixture's ISO.
    fn apply(&self) -> Bin;
}

impl TuneCmd for LoopFs {
    fn tune(&self, sub: &str) -> Bin {
        let mut c = isotune();
        c.args(["tune", sub, "--json", "--state-dir"])
            .arg(self.state())
            .arg("--root")
            .arg(self.root());
        c
    }
    fn apply(&self) -> Bin {
        let mut c = self.tune("apply");
        c.arg("--yes").arg("--iso").arg(self.iso());
        c
    }
}

#[test]
fn readahead_on_a_real_loop_device_apply_verify_drift_rollback() {
    let Some(fs) = LoopFs::new() else { return };
    let (plan, code, err) = json(fs.tune("plan").arg("--iso").arg(fs.iso()));
    assert_eq!(code, 0, "{err}");
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{plan:#}");
    assert_eq!(changes[0]["finding"], "storage.low-readahead");
    assert_eq!(changes[0]["target"]["path"], fs.sysfs().to_str().unwrap());
    assert_eq!(changes[0]["current"], "16");
    assert_eq!(changes[0]["effect"], "now");
    assert_eq!(changes[0]["persists"], false);
    assert_eq!(changes[1]["persists"], true);
    assert_eq!(fs.readahead(), "16", "plan changes nothing");

    let (_, code, err) = json(&mut fs.apply());
    assert_eq!(code, 0, "{err}");
    assert_eq!(fs.readahead(), "4096");
    let rule = std::fs::read_to_string(fs.rule_file()).unwrap();
    // Named by the backing file, not by loopN.
    let want = format!(
        "ATTR{{loop/backing_file}}==\"{}\", ATTR{{queue/read_ahead_kb}}=\"4096\"",
        fs.backing_file().display()
    );
    assert!(rule.contains(&want), "{rule}");
    assert!(!rule.contains(&fs.dev));
    udevadm_check(&fs);

    let (v, code, _) = json(&mut fs.tune("verify"));
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["schema_version"], 1);
    // Behind isotune's back, with a udev rule that says the same.
    fs.set_readahead("64");
    common::put(
        &fs.root(),
        "lib/udev/rules.d/70-other.rules",
        b"SUBSYSTEM==\"block\", ATTR{queue/read_ahead_kb}=\"64\"\n",
    );
    let (v, code, _) = json(&mut fs.tune("verify"));
    assert_eq!(code, 1, "{v:#}");
    let item = &v["items"][0];
    assert_eq!(item["state"]["code"], "drift");
    assert_eq!(item["expected"], "4096");
    assert_eq!(item["actual"], "64");
    assert_eq!(
        item["also_set_by"][0]["path"],
        "/lib/udev/rules.d/70-other.rules"
    );
    let human = isotune()
        .args(["tune", "verify", "--state-dir"])
        .arg(fs.state())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("DRIFT") && text.contains("70-other.rules:1"),
        "{text}"
    );

    let (r, code, _) = json(&mut fs.tune("rollback"));
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["restored"].as_array().unwrap().len(), 2);
    assert_eq!(fs.readahead(), "16");
    assert!(!fs.rule_file().exists());
    let (r, code, _) = json(&mut fs.tune("rollback"));
    assert_eq!(code, 0);
    assert!(
        r["restored"].as_array().unwrap().is_empty(),
        "second rollback changes nothing"
    );
    let (s, _, _) = json(&mut fs.tune("status"));
    assert!(s["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["entry"]["state"] == "rolled-back"));
}

/// `udevadm test` parses the rule directories of the live host only, so the
/// rule is checked by copying it to /run/udev/rules.d for the check.
fn udevadm_check(fs: &LoopFs) {
    let Some(udevadm) = which("udevadm") else {
        return common::skip("udevadm is not installed: the rule's syntax is not checked by udev");
    };
    let run_rules = Path::new("/run/udev/rules.d");
    std::fs::create_dir_all(run_rules).unwrap();
    let name = format!(
        "60-isotune-test-{}.rules",
        Path::new(&fs.dev).file_name().unwrap().to_string_lossy()
    );
    let copy = run_rules.join(&name);
    std::fs::copy(fs.rule_file(), &copy).unwrap();
    // `udevadm test` applies the rule's ATTR write for real: start below
    // the value so the write is seen.
    fs.set_readahead("16");
    let out = Command::new(udevadm)
        .args(["test", "--action=change"])
        .arg(Path::new("/sys/class/block").join(Path::new(&fs.dev).file_name().unwrap()))
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&copy);
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    // The rule matched this loop device by its backing file (line 2; line 1
    // is the header comment) and wrote the readahead.
    assert!(
        text.contains(&format!("{name}:2 ATTR"))
            && text.contains("queue/read_ahead_kb' writing '4096'"),
        "udevadm test did not apply the rule:\n{text}"
    );
    assert_eq!(fs.readahead(), "4096");
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Steps of an apply with two changes: the transaction, then three per change.
const STEPS: u32 = 7;

/// Starts `apply` paused after `step` and returns it once the pause is reached.
fn paused_apply(fs: &LoopFs, step: u32) -> std::process::Child {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("isotune"));
    cmd.args(["tune", "apply", "--yes", "--state-dir"])
        .arg(fs.state())
        .arg("--root")
        .arg(fs.root())
        .arg("--iso")
        .arg(fs.iso())
        .env("ISOTUNE_TUNE_PAUSE_AFTER_STEP", step.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.contains(&format!("paused after apply step {step}")),
        "{line}"
    );
    child
}

#[test]
fn sigkill_at_every_step_then_verify_tells_the_truth_and_rollback_restores() {
    let Some(fs) = LoopFs::new() else { return };
    for step in 1..=STEPS {
        let mut child = paused_apply(&fs, step);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        // verify reports what is really there.
        let (v, code, err) = json(&mut fs.tune("verify"));
        let items = v["items"].as_array().unwrap();
        for item in items {
            let path = item["change"]["target"]["path"].as_str().unwrap();
            let real = if path.starts_with("/sys/") {
                Some(fs.readahead())
            } else {
                std::fs::read_to_string(fs.rule_file()).ok()
            };
            assert_eq!(
                item["actual"].as_str(),
                real.as_deref(),
                "step {step}: {v:#}"
            );
        }
        let interrupted = items.iter().any(|i| i["state"]["code"] == "interrupted");
        assert_eq!(code, i32::from(interrupted), "step {step}: {v:#}\n{err}");
        // Every journalled change is in place unless interrupted.
        assert!(items
            .iter()
            .all(|i| i["state"]["code"] == "ok" || i["state"]["code"] == "interrupted"));

        let (r, code, err) = json(&mut fs.tune("rollback"));
        assert_eq!(code, 0, "step {step}: {err}");
        assert_eq!(fs.readahead(), "16", "step {step}: {r:#}");
        assert!(!fs.rule_file().exists(), "step {step}");
        let (v, code, _) = json(&mut fs.tune("verify"));
        assert_eq!(code, 0, "step {step}: {v:#}");
        assert!(v["items"].as_array().unwrap().is_empty());
    }
}

#[test]
fn second_apply_while_the_first_runs_fails_with_a_clear_message() {
    let Some(fs) = LoopFs::new() else { return };
    let mut first = paused_apply(&fs, 1);
    let out = fs.apply().output().unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("another isotune tune apply or rollback is running"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&fs.state().join("lock").display().to_string()));
    // The kernel released the killed run's lock.
    let (_, code, err) = json(&mut fs.tune("rollback"));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn read_only_sysfs_is_one_line_exit_2_and_nothing_changes() {
    let Some(fs) = LoopFs::new() else { return };
    let Some(unshare) = common::tool("unshare") else {
        return;
    };
    let bin = assert_cmd::cargo::cargo_bin("isotune");
    let script = format!(
        "mount --bind /sys /sys && mount -o remount,bind,ro /sys && exec '{}' tune apply --yes --state-dir '{}' --root '{}' --iso '{}'",
        bin.display(),
        fs.state().display(),
        fs.root().display(),
        fs.iso().display()
    );
    let out = Command::new(unshare)
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(fs.sysfs().to_str().unwrap()) && err.contains("Read-only"),
        "{err}"
    );
    assert_eq!(fs.readahead(), "16");
    assert!(!fs.rule_file().exists());
    // The write that failed is closed as failed (with the error), the
    // ones before it are rolled back.
    let (s, _, _) = json(&mut fs.tune("status"));
    let items = s["items"].as_array().unwrap();
    let (last, before) = items.split_last().unwrap();
    assert_eq!(last["entry"]["state"], "failed", "{s:#}");
    assert!(last["entry"]["error"]
        .as_str()
        .unwrap()
        .contains("Read-only"));
    assert!(before.iter().all(|i| i["entry"]["state"] == "rolled-back"));
}

#[test]
fn corrupt_and_newer_journals_are_named_and_do_not_block_rollback() {
    let Some(fs) = LoopFs::new() else { return };
    let (a, code, err) = json(&mut fs.apply());
    assert_eq!(code, 0, "{err}");
    let good = std::fs::read_to_string(a["journal_path"].as_str().unwrap()).unwrap();
    let journal = fs.state().join("journal");
    let half = journal.join("0000000001-000000000.json");
    std::fs::write(&half, &good[..good.len() / 2]).unwrap();
    let newer = journal.join("9999999999-000000000.json");
    std::fs::write(
        &newer,
        good.replacen("\"schema_version\": 1", "\"schema_version\": 7", 1),
    )
    .unwrap();

    let (s, code, _) = json(&mut fs.tune("status"));
    assert_eq!(code, 1);
    let issues = s["journal_issues"].as_array().unwrap();
    assert_eq!(issues.len(), 2, "{s:#}");
    assert_eq!(issues[0]["path"], half.to_str().unwrap());
    assert_eq!(issues[0]["problem"]["code"], "corrupt");
    assert_eq!(issues[1]["problem"]["code"], "newer-schema");

    let (r, code, _) = json(fs.tune("rollback").arg("--all"));
    assert_eq!(code, 1, "unusable files make the rollback incomplete");
    assert_eq!(r["restored"].as_array().unwrap().len(), 2);
    assert_eq!(fs.readahead(), "16");
    let out = isotune()
        .args(["tune", "rollback", "--state-dir"])
        .arg(fs.state())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(half.to_str().unwrap()) && text.contains("corrupt"),
        "{text}"
    );
    assert!(text.contains("schema 7 is newer"), "{text}");
    // Asking for the corrupt one by id names it: exit 2, one line.
    let out = isotune()
        .args(["tune", "rollback", "0000000001-000000000", "--state-dir"])
        .arg(fs.state())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(half.to_str().unwrap()));
}

#[test]
fn warm_reads_the_iso_into_the_page_cache() {
    let dir = tempfile::Builder::new()
        .prefix("isotune-tune-warm.")
        .tempdir_in("/var/tmp")
        .unwrap();
    let content = dir.path().join("content");
    common::put(&content, "boot/boot.img", &common::Rng::new(3).bytes(16384));
    common::put(&content, "big.bin", &common::Rng::new(4).bytes(2_000_000));
    let iso = dir.path().join("w.iso");
    if common::mkisofs(
        &content,
        &iso,
        &["-R", "-b", "boot/boot.img", "-no-emul-boot"],
    )
    .is_none()
    {
        return;
    }
    let f = std::fs::File::open(&iso).unwrap();
    let size = f.metadata().unwrap().len();
    let dropped = isotune_host::pagecache::drop_pages(&f, size).unwrap();
    if !dropped.is_cold() {
        return common::skip("/var/tmp cannot drop pages here");
    }
    let (w, code, err) = json(isotune().args(["tune", "warm", "--json"]).arg(&iso));
    assert_eq!(code, 0, "{err}");
    assert_eq!(w["resident_before_bytes"], 0);
    assert_eq!(w["resident_after_bytes"], size);
    assert_eq!(w["boot_bytes"], 16384, "{w:#}");
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.iso");
    common::run(Command::new("mkfifo").arg(&fifo));
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["warm".into(), fifo.display().to_string()], "pipe.iso"),
        (
            vec![
                "plan".into(),
                "--root".into(),
                dir.path().join("nope").display().to_string(),
            ],
            "not a directory (--root)",
        ),
        (
            vec!["rollback".into(), "123-456".into()],
            "no transaction 123-456",
        ),
        (
            vec![
                "apply".into(),
                "--yes".into(),
                "--only".into(),
                "nope".into(),
            ],
            "--only nope: no such change in the plan",
        ),
    ];
    for (args, want) in cases {
        let out = isotune()
            .arg("tune")
            .args(&args)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .timeout(std::time::Duration::from_secs(30))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
