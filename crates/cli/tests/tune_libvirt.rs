//! `isotune tune` changing libvirt domains through a real libvirtd
//! (`qemu:///system`, the shared harness) with TCG domains: IDE -> SATA
//! (no libosinfo metadata), IDE -> virtio-scsi (a Linux guest per its
//! libosinfo id, running: defined for the next start, then started and
//! reading the ISO on the new bus), qcow2 -> raw; drift from a later
//! define, rollback to libvirt's own form of the original XML, a domain
//! without a cdrom, an unknown domain, libvirt refusing the XML, and
//! SIGKILL during apply. Issue 10.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command as Bin;
use isotune_testutil::libvirtd::{cdrom_disk as cdrom, virsh, URI};
use isotune_testutil::run;
use serde_json::Value;

mod tune_support;

use tune_support::{changes, inactive, json, text, Setup, DEBIAN};

#[test]
fn ide_to_sata_plan_apply_verify_drift_rollback_issue_10() {
    let Some(s) = Setup::new() else { return };
    let d = s.define("sata", "pc", &cdrom(&s.iso, "raw", "hdc", "ide"), "");
    let original = inactive(&d.name);

    let (plan, code, err) = json(&mut s.tune("plan", &d.name, &["--json"]));
    assert_eq!(code, 0, "{err}");
    let c = changes(&plan, "cdrom.ide-bus");
    assert_eq!(c.len(), 1, "{plan:#}");
    let c = c[0];
    assert_eq!(c["target"]["kind"], "domain");
    assert_eq!(c["target"]["domain"], d.name.as_str());
    assert_eq!(c["effect"], "now", "a shut-off domain");
    assert!(c["persists"].as_bool().unwrap());
    assert!(c["current"].as_str().unwrap().starts_with("hdc: bus=ide"));
    let new = c["new"].as_str().unwrap();
    assert!(new.contains("bus=sata"), "{c:#}");
    assert_eq!(c["domain"]["bus"]["bus"], "sata");
    assert!(c["domain"]["bus"]["why"]
        .as_str()
        .unwrap()
        .contains("no libosinfo"));
    let diff = c["domain"]["diff"].as_str().unwrap();
    assert!(
        diff.contains("-      <target dev='hdc' bus='ide'/>"),
        "{diff}"
    );
    assert!(diff.contains("bus='sata'"), "{diff}");
    // The human plan says which bus and why, and shows the diff.
    let (human, code, _) = text(&mut s.tune("plan", &d.name, &[]));
    assert_eq!(code, 0);
    assert!(human.contains("sata because no libosinfo"), "{human}");
    assert!(human.contains("+++ "), "{human}");
    // plan changed nothing.
    assert_eq!(inactive(&d.name), original);

    let (applied, code, err) = json(&mut s.tune("apply", &d.name, &["--yes", "--json"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(applied["entries"][0]["state"], "applied");
    let now = inactive(&d.name);
    assert!(
        now.contains("bus='sata'") && !now.contains("bus='ide'"),
        "{now}"
    );
    assert!(now.contains("<readonly/>"), "{now}");

    let (v, code, _) = json(&mut s.journal_cmd("verify"));
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["items"][0]["state"]["code"], "ok");

    // Drift: a later define puts the cdrom back on IDE.
    let file = s.dir.path().join("drift.xml");
    std::fs::write(&file, &original).unwrap();
    virsh(&["define", file.to_str().unwrap()]).expect("virsh define");
    let (out, code, _) = text(&mut s.tune("verify", "", &[]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("DRIFT"), "{out}");
    assert!(out.contains(&format!("domain {} disk", d.name)), "{out}");
    assert!(out.contains("later `virsh edit` or define"), "{out}");

    // Rollback: libvirt's own form of the original, byte for byte.
    let (r, code, err) = json(&mut s.journal_cmd("rollback"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["restored"][0]["action"], "restored");
    assert_eq!(inactive(&d.name), original);
    let (out, code, _) = text(&mut s.tune("rollback", "", &[]));
    assert_eq!(code, 0);
    assert!(out.contains("Nothing to roll back"), "{out}");
    assert_eq!(inactive(&d.name), original);
}

#[test]
fn running_linux_guest_ide_to_virtio_scsi_next_start_reads_the_new_bus_issue_10() {
    let Some(s) = Setup::new() else { return };
    let d = s.define("scsi", "pc", &cdrom(&s.iso, "raw", "hdc", "ide"), DEBIAN);
    d.start();
    let original = inactive(&d.name);

    let (plan, code, err) = json(&mut s.tune("plan", &d.name, &["--json"]));
    assert_eq!(code, 0, "{err}");
    let c = changes(&plan, "cdrom.ide-bus");
    assert_eq!(c.len(), 1, "{plan:#}");
    assert_eq!(c[0]["effect"], "next-start");
    assert_eq!(c[0]["domain"]["bus"]["bus"], "virtio-scsi");
    assert!(c[0]["domain"]["bus"]["why"]
        .as_str()
        .unwrap()
        .contains("debian.org"));
    let target = c[0]["target"]["element"].as_str().unwrap().to_owned();

    let (out, code, err) = text(&mut s.tune("apply", &d.name, &["--yes"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("next start of the running domain"), "{out}");
    let now = inactive(&d.name);
    assert!(now.contains("model='virtio-scsi'"), "{now}");
    assert!(
        now.contains(&format!("<target dev='{target}' bus='scsi'/>")),
        "{now}"
    );
    // Not restarted: the live definition still has the IDE cdrom.
    let live = virsh(&["dumpxml", &d.name]).unwrap();
    assert!(live.contains("bus='ide'"), "{live}");

    // The next start boots from the cdrom on virtio-scsi.
    virsh(&["destroy", &d.name]).unwrap();
    d.start();
    let deadline = Instant::now() + Duration::from_secs(60);
    let rd_req = loop {
        let stats = virsh(&["domblkstat", &d.name, &target]).unwrap_or_default();
        let n = stats
            .lines()
            .find_map(|l| {
                l.split_whitespace()
                    .collect::<Vec<_>>()
                    .get(1..3)
                    .and_then(|kv| (kv[0] == "rd_req").then(|| kv[1].parse::<u64>().unwrap_or(0)))
            })
            .unwrap_or(0);
        if n > 0 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(rd_req > 0, "no reads on {target}");

    let (_, code, err) = json(&mut s.journal_cmd("rollback"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(inactive(&d.name), original);
}

#[test]
fn qcow2_to_raw_and_readonly_no_cdrom_and_unknown_domain_issue_10() {
    let Some(s) = Setup::new() else { return };
    // One ISO attached as a SATA disk, two findings: declared qcow2, and
    // writable. (io='native' without cache='none' cannot be tested here:
    // libvirt 9 refuses to define such a domain at all.)
    let devices = cdrom(&s.iso, "qcow2", "sda", "sata")
        .replace("device='cdrom'", "device='disk'")
        .replace("<readonly/>", "");
    let d = s.define("raw", "q35", &devices, "");
    let original = inactive(&d.name);
    let (plan, code, err) = json(&mut s.tune("plan", &d.name, &["--json"]));
    assert_eq!(code, 0, "{err}");
    let raw = changes(&plan, "drive.format-not-raw");
    assert_eq!(raw.len(), 1, "{plan:#}");
    assert!(raw[0]["current"].as_str().unwrap().contains("type='qcow2'"));
    assert!(raw[0]["new"].as_str().unwrap().contains("type='raw'"));
    let ro = changes(&plan, "drive.not-readonly");
    assert_eq!(ro.len(), 1, "{plan:#}");
    // Planned on the XML the first change leaves: raw and readonly.
    let new = ro[0]["new"].as_str().unwrap();
    assert!(
        new.contains("readonly") && new.contains("type='raw'"),
        "{new}"
    );

    // Two transactions on one domain: the format first, then the rest.
    let (_, code, err) = json(&mut s.tune(
        "apply",
        &d.name,
        &["--yes", "--json", "--only", "drive.format-not-raw"],
    ));
    assert_eq!(code, 0, "{err}");
    let after_first = inactive(&d.name);
    assert!(after_first.contains("type='raw'") && !after_first.contains("<readonly/>"));
    let (plan, _, _) = json(&mut s.tune("plan", &d.name, &["--json"]));
    assert!(
        changes(&plan, "drive.format-not-raw").is_empty(),
        "{plan:#}"
    );
    let (_, code, err) = json(&mut s.tune("apply", &d.name, &["--yes", "--json"]));
    assert_eq!(code, 0, "{err}");
    assert!(inactive(&d.name).contains("<readonly/>"));
    let (v, code, _) = json(&mut s.journal_cmd("verify"));
    assert_eq!(code, 0, "{v:#}");
    // One row per disk: the newest change of sda.
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v:#}");
    assert_eq!(v["items"][0]["change"]["finding"], "drive.not-readonly");
    let (r, code, err) = json(&mut s.journal_cmd("rollback"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["restored"].as_array().unwrap().len(), 1, "--last: {r:#}");
    assert_eq!(inactive(&d.name), after_first);
    let (_, code, err) = json(&mut s.tune("rollback", "", &["--json", "--all"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(inactive(&d.name), original);

    // A domain without a cdrom: nothing to do.
    let none = s.define("nocd", "pc", "", "");
    let (out, code, err) = text(&mut s.tune("plan", &none.name, &[]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("No change for isotune to make."), "{out}");
    let (out, code, err) = text(&mut s.tune("apply", &none.name, &["--yes"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("No change for isotune to make."), "{out}");

    // An unknown domain: one line, exit 2.
    let ghost = format!("{}ghost", s.prefix);
    let (_, code, err) = text(&mut s.tune("plan", &ghost, &[]));
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("--domain {ghost}: no such domain")),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// `apply` of `domain` stopped after `step` (the pause hook stops the
/// process: SIGKILL is a crash there, SIGCONT lets it go on).
fn paused_apply(s: &Setup, domain: &str, step: u32) -> std::process::Child {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("isotune"));
    cmd.args(["tune", "apply", "--yes", "--state-dir"])
        .arg(s.dir.path().join("state"))
        .arg("--root")
        .arg(s.dir.path().join("root"))
        .args(["--connect", URI, "--domain", domain])
        .env("ISOTUNE_TUNE_PAUSE_AFTER_STEP", step.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(
        line.contains(&format!("paused after apply step {step}")),
        "{line}"
    );
    // The rest of stderr, for a run that goes on.
    child.stderr = None;
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut rest);
        rest
    });
    child
}

#[test]
fn libvirt_refusing_the_xml_changes_nothing_issue_10() {
    let Some(s) = Setup::new() else { return };
    let d = s.define("refuse", "pc", &cdrom(&s.iso, "raw", "hdc", "ide"), "");
    // Between the plan and the define (apply stopped after step 1),
    // someone adds a disk on the target the cdrom is moving to: libvirt
    // refuses the edited XML (a duplicate target).
    let child = paused_apply(&s, &d.name, 1);
    let (plan, _, _) = json(&mut s.tune("plan", &d.name, &["--json"]));
    let target = changes(&plan, "cdrom.ide-bus")[0]["target"]["element"]
        .as_str()
        .unwrap()
        .to_owned();
    let with_disk = inactive(&d.name).replace(
        "</devices>",
        &format!(
            "<disk type='file' device='cdrom'><source file='{}'/>\
             <target dev='{target}' bus='sata'/><readonly/></disk></devices>",
            s.iso.display()
        ),
    );
    let file = s.dir.path().join("with-disk.xml");
    std::fs::write(&file, with_disk).unwrap();
    virsh(&["define", file.to_str().unwrap()]).expect("virsh define");
    let before = inactive(&d.name);
    run(Command::new("kill").args(["-CONT", &child.id().to_string()]));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(inactive(&d.name), before, "nothing changed");
    let (st, _, _) = json(&mut s.journal_cmd("status"));
    let e = &st["items"][0]["entry"];
    assert_eq!(e["state"], "failed", "{st:#}");
    let error = e["error"].as_str().unwrap();
    assert!(error.contains("virDomainDefineXML failed"), "{error}");
    assert!(
        error.contains(&target),
        "libvirt's message names it: {error}"
    );
    let (out, code, _) = text(&mut s.tune("rollback", "", &[]));
    assert_eq!(code, 0);
    assert!(out.contains("Nothing to roll back"), "{out}");
    assert_eq!(inactive(&d.name), before);
    let (out, code, _) = text(&mut s.tune("status", "", &[]));
    assert_eq!(code, 0);
    assert!(out.contains("failed"), "{out}");
}

/// The steps of one domain change: transaction written, old XML
/// journalled, XML defined, entry marked applied.
const STEPS: u32 = 4;

#[test]
fn sigkill_during_apply_then_rollback_restores_issue_10() {
    let Some(s) = Setup::new() else { return };
    let d = s.define("kill", "pc", &cdrom(&s.iso, "raw", "hdc", "ide"), "");
    let original = inactive(&d.name);
    for step in 1..=STEPS {
        let mut child = paused_apply(&s, &d.name, step);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let changed = inactive(&d.name) != original;
        assert_eq!(changed, step >= 3, "step {step}");
        let (v, code, _) = json(&mut s.journal_cmd("verify"));
        let items = v["items"].as_array().unwrap();
        if step >= 2 {
            let state = &items[0]["state"]["code"];
            assert_eq!(
                *state,
                if step == 4 { "ok" } else { "interrupted" },
                "step {step}: {v:#}"
            );
            assert_eq!(code, i32::from(step != 4), "step {step}: {v:#}");
        }
        let (r, code, err) = json(&mut s.journal_cmd("rollback"));
        assert_eq!(code, 0, "step {step}: {err}");
        assert_eq!(inactive(&d.name), original, "step {step}: {r:#}");
    }
}

/// QEMU command lines and Proxmox VMs: isotune does not edit files it
/// does not own, so their findings are manual, with the doctor's
/// corrected arguments and `qm set` command; nothing is applied.
#[test]
fn qemu_cmdline_and_proxmox_findings_are_manual_issue_10() {
    let dir = tempfile::tempdir().unwrap();
    let pve = dir.path().join("pve");
    let local = dir.path().join("vz");
    std::fs::create_dir_all(pve.join("qemu-server")).unwrap();
    std::fs::create_dir_all(local.join("template/iso")).unwrap();
    std::fs::write(local.join("template/iso/x.iso"), vec![0u8; 64 << 10]).unwrap();
    std::fs::write(
        pve.join("storage.cfg"),
        format!("dir: local\n\tpath {}\n\tcontent iso\n", local.display()),
    )
    .unwrap();
    std::fs::write(
        pve.join("qemu-server/100.conf"),
        "name: inst\nostype: l26\nide2: local:iso/x.iso,media=cdrom\n",
    )
    .unwrap();
    let iso = local.join("template/iso/x.iso");
    let state = dir.path().join("state");
    let mut plan = Bin::cargo_bin("isotune").unwrap();
    plan.args(["tune", "plan", "--json", "--state-dir"])
        .arg(&state)
        .arg("--root")
        .arg(dir.path())
        .arg("--proxmox")
        .arg(&pve)
        .arg("--qemu-cmdline")
        .arg(format!(
            "qemu-system-x86_64 -m 512 -cdrom {}",
            iso.display()
        ));
    let (p, code, err) = json(&mut plan);
    assert_eq!(code, 0, "{err}");
    assert!(p["changes"].as_array().unwrap().is_empty(), "{p:#}");
    let manual = p["manual"].as_array().unwrap();
    let ide: Vec<&Value> = manual
        .iter()
        .filter(|m| m["finding"] == "cdrom.ide-bus")
        .collect();
    assert!(
        ide.iter()
            .any(|m| m["fix"].as_str().unwrap().contains("qm set 100")),
        "{p:#}"
    );
    assert!(
        ide.iter().any(|m| m["fix"]
            .as_str()
            .unwrap()
            .contains("-device virtio-scsi-pci,id=scsi0")),
        "{p:#}"
    );
}
