//! `isotune tune apply --measure`, `tune verify --measure` and `tune apply
//! --restart` against a real libvirtd with TCG domains, and the io='native'
//! fix on a domain an older libvirt defined (libvirt 9 refuses to define
//! one, but loads it from its config directory). Issue 10.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use isotune_testutil::libvirtd::{
    acpi_shutdown_iso, cdrom_disk as cdrom, tcg_domain_xml as domain_xml, virsh, TestDomain,
};
use serde_json::Value;

mod tune_support;

use tune_support::{inactive, json, text, Setup};

/// `--measure` boots under TCG (this host's KVM may be paravirtual), three
/// runs a side.
const MEASURE: [&str; 6] = ["--measure", "--runs", "3", "--accel", "tcg", "--json"];

fn str_of<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_str()
        .unwrap_or_else(|| panic!("{path:?} missing in {v:#}"))
}

/// The built-in firmware workload (it reads its payload in 32 KiB INT 13h
/// requests and prints a done line), written by isotune's own writer.
fn workload_iso(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("workload.iso");
    isotune_qemu::workload::write_firmware_iso(&path, 8 << 20).unwrap();
    path
}

#[test]
fn measure_ide_to_sata_boots_before_and_after_issue_10() {
    let Some(s) = Setup::new() else { return };
    let iso = workload_iso(s.dir.path());
    let d = s.define("meas", "pc", &cdrom(&iso, "raw", "hdc", "ide"), "");

    let (out, code, err) =
        json(&mut s.tune("apply", &d.name, &[&["--yes"][..], &MEASURE].concat()));
    assert!(inactive(&d.name).contains("bus='sata'"), "{out:#}");
    let m = &out["measurements"][0];
    assert_eq!(m["status"], "measured", "{out:#}\n{err}");
    assert_eq!(m["domain"], d.name.as_str());
    assert_eq!(m["transaction"], out["transaction"]);
    assert_eq!(Path::new(str_of(m, &["iso"])), iso);
    let c = &m["comparison"];
    assert_eq!(str_of(c, &["before", "config", "bus"]), "ide");
    assert_eq!(str_of(c, &["after", "config", "bus"]), "ahci");
    // The domain's machine is kept: SATA on pc gets an AHCI controller.
    assert_eq!(str_of(c, &["before", "config", "machine"]), "pc");
    assert_eq!(str_of(c, &["after", "config", "machine"]), "pc");
    assert_eq!(c["before"]["runs"], 3, "{c:#}");
    assert_eq!(c["after"]["runs"], 3, "{c:#}");
    assert_eq!(c["accel_used"], "tcg");
    // What the guest's requests look like is deterministic: 2 KiB on IDE,
    // the program's 32 KiB on AHCI. The time is measured, not asserted;
    // the exit code follows the verdict.
    assert_eq!(c["before"]["median_bytes_per_request"], 2048.0, "{c:#}");
    assert!(
        c["after"]["median_bytes_per_request"].as_f64().unwrap() > 2048.0,
        "{c:#}"
    );
    assert!(c["speedup"].as_f64().unwrap() > 0.0, "{c:#}");
    let slower = c["verdict"] == "slower";
    assert_eq!(code, if slower { 1 } else { 0 }, "{c:#}\n{err}");

    // verify --measure: the journal's XML from before against now.
    let (v, code, err) = json(&mut s.tune("verify", "", &MEASURE));
    assert_eq!(v["items"][0]["state"]["code"], "ok", "{v:#}");
    let vm = &v["measurements"][0];
    assert_eq!(vm["status"], "measured", "{v:#}\n{err}");
    assert_eq!(
        str_of(vm, &["comparison", "before", "config", "bus"]),
        "ide"
    );
    assert_eq!(
        str_of(vm, &["comparison", "after", "config", "bus"]),
        "ahci"
    );
    let slower = vm["comparison"]["verdict"] == "slower";
    assert_eq!(code, if slower { 1 } else { 0 }, "{v:#}");

    // Human output names both sides and the speed-up with its interval.
    let out = s
        .tune(
            "verify",
            "",
            &["--measure", "--runs", "3", "--accel", "tcg"],
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("before: ide on pc"), "{text}");
    assert!(text.contains("after:  ahci on pc"), "{text}");
    assert!(
        text.contains("speed-up: ") && text.contains("95% CI"),
        "{text}"
    );

    // After rollback nothing is left to measure.
    let (_, code, err) = json(&mut s.journal_cmd("rollback"));
    assert_eq!(code, 0, "{err}");
    let (v, code, _) = json(&mut s.tune("verify", "", &MEASURE));
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["measurements"], serde_json::json!([]), "{v:#}");
}

#[test]
fn a_change_the_boot_does_not_see_is_not_measured_issue_10() {
    let Some(s) = Setup::new() else { return };
    // A SATA cdrom declared qcow2: the fix (raw) leaves bus, machine,
    // firmware, cache and aio alone, so there is nothing to boot.
    let d = s.define("fmt", "q35", &cdrom(&s.iso, "qcow2", "sda", "sata"), "");
    let (out, code, err) = json(&mut s.tune(
        "apply",
        &d.name,
        &[&["--yes", "--only", "drive.format-not-raw"][..], &MEASURE].concat(),
    ));
    assert_eq!(code, 0, "{out:#}\n{err}");
    let m = &out["measurements"][0];
    assert_eq!(m["status"], "not-measured", "{out:#}");
    assert!(
        str_of(m, &["reason"]).contains("nothing to measure"),
        "{m:#}"
    );
}

/// Puts `xml` where libvirtd keeps its persistent definitions and makes it
/// reload them (SIGHUP), as a domain defined by an older libvirt is loaded:
/// without the define-time validation.
fn load_as_legacy(name: &str, xml: &str) -> TestDomain {
    let guard = TestDomain {
        name: name.to_owned(),
    };
    let file = Path::new("/etc/libvirt/qemu").join(format!("{name}.xml"));
    std::fs::write(&file, xml).unwrap();
    let pid = String::from_utf8(
        Command::new("pgrep")
            // The running daemon: a zombie left by an earlier libvirtd
            // (state Z) would swallow the signal.
            .args(["-o", "-x", "-r", "R,S,D", "libvirtd"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    isotune_testutil::run(Command::new("kill").args(["-HUP", pid.trim()]));
    let deadline = Instant::now() + Duration::from_secs(20);
    while virsh(&["domstate", name]).is_none() {
        assert!(Instant::now() < deadline, "libvirtd did not load {name}");
        std::thread::sleep(Duration::from_millis(200));
    }
    guard
}

#[test]
fn io_native_and_iothread_from_an_older_libvirt_are_fixed_through_libvirtd_issue_10() {
    let Some(s) = Setup::new() else { return };
    let name = format!("{}native", s.prefix);
    let disk = cdrom(&s.iso, "raw", "sda", "sata").replace("type='raw'", "type='raw' io='native'")
        + &cdrom(&s.iso, "raw", "sdb", "sata").replace("type='raw'", "type='raw' iothread='1'");
    // libvirt 9 refuses this XML at define time...
    let file = s.dir.path().join("native.xml");
    let xml = domain_xml(&name, "q35", &disk, "<iothreads>1</iothreads>");
    std::fs::write(&file, &xml).unwrap();
    let refused = Command::new("virsh")
        .args(["-q", "-c", isotune_testutil::libvirtd::URI, "define"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("io='native'"));
    // ...but loads it from disk, as after an upgrade.
    let d = load_as_legacy(&name, &xml);
    assert!(inactive(&d.name).contains("io='native'"));
    assert!(inactive(&d.name).contains("iothread='1'"));

    let (plan, code, err) = json(&mut s.tune("plan", &d.name, &["--json"]));
    assert_eq!(code, 0, "{err}");
    let fix = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["finding"] == "drive.aio-native-needs-direct")
        .unwrap_or_else(|| panic!("no io=native change: {plan:#}"));
    assert!(str_of(fix, &["new"]).contains("io='io_uring'"), "{fix:#}");

    // libvirt validates the whole domain at each define: one of the two
    // fixes alone is refused (libvirt's message names the other element)
    // and nothing changes...
    let (_, code, err) = text(&mut s.tune(
        "apply",
        &d.name,
        &["--yes", "--only", "drive.aio-native-needs-direct"],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("IOThreads not available"), "{err}");
    assert!(inactive(&d.name).contains("io='native'"));
    // ...both together are defined in one go.
    let (out, code, err) =
        json(&mut s.tune("apply", &d.name, &[&["--yes"][..], &MEASURE].concat()));
    assert_eq!(code, 0, "{out:#}\n{err}");
    let after = inactive(&d.name);
    assert!(after.contains("io='io_uring'") && !after.contains("io='native'"));
    assert!(!after.contains("iothread='1'"), "{after}");
    // The old configuration could not boot at all: nothing to compare.
    let m = &out["measurements"][0];
    assert_eq!(m["status"], "not-measured", "{out:#}");
    assert!(
        str_of(m, &["reason"])
            .contains("before the change cannot boot: aio=native needs cache=none"),
        "{m:#}"
    );
    // The fixed domain starts (QEMU accepts the drives) and the findings
    // are gone.
    d.start();
    let (plan, _, _) = json(&mut s.tune("plan", &d.name, &["--json"]));
    assert!(
        !plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["finding"] == "drive.aio-native-needs-direct"
                || c["finding"] == "drive.iothread-ignored"),
        "{plan:#}"
    );
    let _ = virsh(&["destroy", &d.name]);
    let (v, code, _) = json(&mut s.journal_cmd("verify"));
    assert_eq!(code, 0, "{v:#}");
    // Rolling back would define what libvirt refuses: reported, nothing
    // changed, kept for a later rollback.
    let (r, code, _) = json(&mut s.tune("rollback", "", &["--json", "--all"]));
    assert_eq!(code, 1, "{r:#}");
    assert!(r.to_string().contains("io='native' needs"), "{r:#}");
    assert!(inactive(&d.name).contains("io='io_uring'"));
}

/// Waits until the guest runs the boot program (loaded at 0x7C00): a
/// power button pressed while SeaBIOS still runs is lost, as with any
/// guest that has not enabled ACPI yet.
fn wait_for_boot_program(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let regs =
            virsh(&["qemu-monitor-command", name, "--hmp", "info registers"]).unwrap_or_default();
        if regs.contains("EIP=00007c") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never ran its boot program: {regs}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn restart_applies_the_change_now_or_leaves_the_guest_running_issue_10() {
    let Some(s) = Setup::new() else { return };
    // A guest that powers off on the ACPI power button.
    let Some(acpi) = acpi_shutdown_iso(s.dir.path(), "acpi") else {
        return;
    };
    let polite = s.define("polite", "pc", &cdrom(&acpi, "raw", "hdc", "ide"), "");
    polite.start();
    wait_for_boot_program(&polite.name);
    let (out, code, err) = json(&mut s.tune(
        "apply",
        &polite.name,
        &["--yes", "--json", "--restart", "--restart-timeout", "60"],
    ));
    assert_eq!(code, 0, "{out:#}\n{err}");
    let r = &out["restarts"][0];
    assert_eq!(r["domain"], polite.name.as_str());
    assert_eq!(r["outcome"], "restarted", "{out:#}");
    assert_eq!(
        virsh(&["domstate", &polite.name]).unwrap().trim(),
        "running"
    );
    let live = virsh(&["dumpxml", &polite.name]).unwrap();
    assert!(live.contains("bus='sata'"), "the change is live: {live}");

    // A guest that ignores the button (cli; hlt): left running, the change
    // waits for its next start, exit 1.
    let stubborn = s.define("stubborn", "pc", &cdrom(&s.iso, "raw", "hdc", "ide"), "");
    stubborn.start();
    let (out, code, err) = json(&mut s.tune(
        "apply",
        &stubborn.name,
        &["--yes", "--json", "--restart", "--restart-timeout", "2"],
    ));
    assert_eq!(code, 1, "{out:#}\n{err}");
    assert_eq!(
        out["restarts"][0]["outcome"], "shutdown-timed-out",
        "{out:#}"
    );
    assert_eq!(
        virsh(&["domstate", &stubborn.name]).unwrap().trim(),
        "running"
    );
    assert!(virsh(&["dumpxml", &stubborn.name])
        .unwrap()
        .contains("bus='ide'"));
    assert!(inactive(&stubborn.name).contains("bus='sata'"));

    // Without --restart a running domain is never restarted.
    let (_, code, _) = json(&mut s.journal_cmd("rollback"));
    assert_eq!(code, 0);
    let started = virsh(&["domid", &stubborn.name]).unwrap();
    let (out, code, err) = json(&mut s.tune("apply", &stubborn.name, &["--yes", "--json"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.get("restarts").is_none(), "{out:#}");
    assert_eq!(virsh(&["domid", &stubborn.name]).unwrap(), started);
}
