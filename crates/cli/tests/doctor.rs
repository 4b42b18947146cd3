//! End-to-end tests of `isotune doctor` and of the doctor inside
//! `isotune check`: real libvirt XML from virt-install, real QEMU command
//! lines read back from paused qemu-system-x86_64 processes, captured host
//! trees, and bad input.

use isotune_testutil as common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

fn json(cmd: &mut Bin) -> (Value, i32) {
    let out = cmd.output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, out.status.code().unwrap_or(-1))
}

fn ids(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A small bootable-looking ISO on a real filesystem (O_DIRECT and page
/// cache residency need one; /var/tmp is not tmpfs here).
fn iso(dir: &Path) -> Option<PathBuf> {
    common::boot_iso(dir, "doctor test", 300_000)
}

fn var_tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("isotune-doctor-test.")
        .tempdir_in("/var/tmp")
        .unwrap()
}

#[test]
fn myths_in_a_command_line_are_errors_with_the_real_knob() {
    let (v, code) = json(isotune().args([
        "doctor",
        "--json",
        "--qemu-cmdline",
        "qemu-system-x86_64 -m 2G -enable-kvm -enable-dma -drive file=/isos/x.iso,media=cdrom,dmqueue_size=1024,format=raw",
    ]));
    assert_eq!(code, 1);
    assert_eq!(v["schema_version"], 3);
    assert_eq!(v["verdict"], "fail");
    let myths: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "myth.nonexistent-option")
        .collect();
    assert_eq!(myths.len(), 2, "{v:#}");
    for f in &myths {
        assert_eq!(f["severity"], "error");
        for field in ["layer", "title", "subject", "why", "fix", "reference"] {
            assert!(
                f[field].as_str().is_some_and(|s| !s.is_empty()),
                "{field}: {f:#}"
            );
        }
        assert!(!f["evidence"].as_array().unwrap().is_empty());
    }
    assert!(ids(&v).contains(&"cdrom.ide-bus".to_owned()));
    assert!(v["facts"]["vms"][0]["drives"][0]["bus"] == "ide");
    // The binary name may be left out.
    let (v, _) = json(isotune().args(["doctor", "--json", "--qemu-cmdline", "-cdrom /isos/x.iso"]));
    assert!(ids(&v).contains(&"cdrom.ide-bus".to_owned()), "{v:#}");
}

#[test]
fn human_report_groups_findings_and_shows_the_fix() {
    isotune()
        .args([
            "doctor",
            "--qemu-cmdline",
            "qemu-system-x86_64 -drive file=/isos/x.iso,media=cdrom,aio=native",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("drive.aio-native-needs-direct"))
        .stdout(predicate::str::contains("fix:"))
        .stdout(predicate::str::contains("reference:"))
        .stdout(predicate::str::contains("facts"));
}

#[test]
fn virt_install_xml_ide_sata_and_virtio_scsi() {
    let Some(virt_install) = common::tool("virt-install") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join("x.iso");
    std::fs::write(&iso, b"not really an iso").unwrap();
    let xml = |name: &str, extra: &[&str]| -> PathBuf {
        let out = common::run(
            Command::new(&virt_install)
                .args([
                    "--connect",
                    "test:///default",
                    "--print-xml",
                    "--name",
                    name,
                    "--memory",
                    "1024",
                    "--vcpus",
                    "1",
                    "--osinfo",
                    "detect=on,require=off",
                ])
                .args(extra),
        );
        let p = dir.path().join(format!("{name}.xml"));
        std::fs::write(&p, out).unwrap();
        p
    };
    let disk = |bus: &str| format!("path={},device=cdrom,bus={bus}", iso.display());
    let ide = xml("ide", &["--disk", &disk("ide")]);
    let sata = xml(
        "sata",
        &["--disk", &disk("sata"), "--xml", "./os/type/@machine=q35"],
    );
    let scsi = xml(
        "scsi",
        &[
            "--controller",
            "type=scsi,model=virtio-scsi",
            "--disk",
            &disk("scsi"),
        ],
    );
    let (v, _) = json(isotune().args(["doctor", "--json", "--xml"]).arg(&ide));
    assert!(ids(&v).contains(&"cdrom.ide-bus".to_owned()), "{v:#}");
    let fix = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "cdrom.ide-bus")
        .unwrap()["fix"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        fix.contains("virtio-scsi") && fix.contains("bus='scsi'"),
        "{fix}"
    );
    for clean in [&sata, &scsi] {
        let (v, _) = json(isotune().args(["doctor", "--json", "--xml"]).arg(clean));
        assert!(!ids(&v).contains(&"cdrom.ide-bus".to_owned()), "{v:#}");
        assert_eq!(v["facts"]["vms"].as_array().unwrap().len(), 1);
    }
    // A directory (like /etc/libvirt/qemu) with one malformed file: the
    // good ones are examined, the bad one is a warning.
    let etc = dir.path().join("qemu");
    std::fs::create_dir(&etc).unwrap();
    for (i, p) in [&ide, &sata, &scsi].iter().enumerate() {
        std::fs::copy(p, etc.join(format!("vm{i}.xml"))).unwrap();
    }
    std::fs::write(etc.join("broken.xml"), "<domain type='kvm'><name>x</name>").unwrap();
    let (v, _) = json(isotune().args(["doctor", "--json", "--xml"]).arg(&etc));
    assert_eq!(v["facts"]["vms"].as_array().unwrap().len(), 3);
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("broken.xml"), "{warnings}");
    // The same document on stdin (virsh dumpxml NAME | isotune doctor --xml -).
    let (v, _) = json(
        isotune()
            .args(["doctor", "--json", "--xml", "-"])
            .pipe_stdin(&ide)
            .unwrap(),
    );
    assert!(ids(&v).contains(&"cdrom.ide-bus".to_owned()));
}

#[test]
fn bad_input_is_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, "<domain><devices><disk></devices>").unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec!["--xml".into(), bad.display().to_string()],
        vec!["--xml".into(), "/nonexistent/dom.xml".into()],
        vec!["--iso".into(), "/nonexistent/x.iso".into()],
        vec![
            "--qemu-cmdline".into(),
            "qemu-system-x86_64 -cdrom 'unterminated".into(),
        ],
    ];
    for args in cases {
        let out = isotune().arg("doctor").args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("isotune: error:"), "{err}");
        assert!(
            args.iter().skip(1).any(|a| err.contains(a.as_str())) || err.contains("--qemu-cmdline"),
            "{args:?} not named in: {err}"
        );
    }
    // With something else to analyse, a bad input is a warning.
    let good = dir.path().join("good.xml");
    std::fs::write(
        &good,
        "<domain type='kvm'><name>good</name><devices><disk type='file' device='cdrom'>\
         <source file='/isos/x.iso'/><target dev='hdc' bus='ide'/></disk></devices></domain>",
    )
    .unwrap();
    let (v, code) = json(
        isotune()
            .args(["doctor", "--json", "--iso", "/nonexistent/x.iso", "--xml"])
            .arg(&bad)
            .arg("--xml")
            .arg(&good),
    );
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["facts"]["vms"][0]["name"], "good");
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("bad.xml") && warnings.contains("/nonexistent/x.iso"),
        "{warnings}"
    );
    // A truncated command line and unknown options are findings, not errors.
    let (v, code) = json(isotune().args([
        "doctor",
        "--json",
        "--qemu-cmdline",
        "qemu-system-x86_64 -frobnicate 3 -drive",
    ]));
    assert_ne!(code, 2);
    assert!(
        ids(&v).contains(&"config.unknown-option".to_owned()),
        "{v:#}"
    );
}

#[test]
fn captured_host_trees_are_read_with_sysroot() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/tests/data");
    let (v, _) = json(
        isotune()
            .args(["doctor", "--json", "--sysroot"])
            .arg(data.join("nfs")),
    );
    let accel = &v["facts"]["host"]["accel"];
    assert_eq!(accel["kvm_device"], false);
    assert_eq!(accel["hypervisor"], true);
    assert!(ids(&v).contains(&"accel.no-kvm".to_owned()), "{v:#}");
    let (v, _) = json(
        isotune()
            .args(["doctor", "--json", "--sysroot"])
            .arg(data.join("pvm")),
    );
    assert!(ids(&v).contains(&"accel.nested-pvm".to_owned()), "{v:#}");
    isotune()
        .args(["doctor", "--sysroot", "/nonexistent"])
        .assert()
        .code(2);
    // With the capture's file list, the storage and filesystem rules see
    // the captured host's chain: an HDD under LVM with a low readahead, an
    // NFS mount with a small rsize.
    let (v, _) = json(
        isotune()
            .args(["doctor", "--json", "--sysroot"])
            .arg(data.join("hdd-lvm"))
            .args(["--iso", "/srv/iso/ubuntu-24.04-live-server-amd64.iso"]),
    );
    let found = ids(&v);
    assert!(
        found.contains(&"storage.rotational".to_owned()),
        "{found:?}"
    );
    assert!(
        found.contains(&"storage.low-readahead".to_owned()),
        "{found:?}"
    );
    let chain: Vec<&str> = v["facts"]["files"][0]["storage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(chain, ["dm-0", "sda3", "sda"]);
    let (v, _) = json(
        isotune()
            .args(["doctor", "--json", "--sysroot"])
            .arg(data.join("nfs"))
            .args(["--iso", "/mnt/isos/Fedora-Workstation-Live-x86_64-40.ISO"]),
    );
    assert!(ids(&v).contains(&"fs.network".to_owned()), "{v:#}");
    assert_eq!(
        v["facts"]["files"][0]["mount"]["network"]["server"],
        "fileserver"
    );
    // A path the capture does not list is named in a one-line error.
    isotune()
        .args(["doctor", "--sysroot"])
        .arg(data.join("nfs"))
        .args(["--iso", "/elsewhere.iso"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/elsewhere.iso"));
}

/// Kills the process on drop, so a failed assertion leaves nothing behind.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn paused_qemu(qemu: &Path, args: &[&str], iso: &Path) -> Qemu {
    let child = Command::new(qemu)
        .args([
            "-S",
            "-display",
            "none",
            "-nodefaults",
            "-no-user-config",
            "-accel",
            "tcg",
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let q = Qemu(child);
    // Wait until it has the ISO open.
    let fd = PathBuf::from(format!("/proc/{}/fd", q.0.id()));
    let deadline = Instant::now() + Duration::from_secs(10);
    let want = std::fs::canonicalize(iso).unwrap();
    while Instant::now() < deadline {
        let open = std::fs::read_dir(&fd)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == want));
        if open {
            return q;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("qemu never opened {}", iso.display());
}

#[test]
fn running_qemu_processes_are_examined_and_check_ties_them_to_the_iso() {
    let Some(qemu) = common::tool("qemu-system-x86_64") else {
        return;
    };
    let dir = var_tmp();
    let Some(iso) = iso(dir.path()) else {
        return;
    };
    let cdrom = format!(
        "file={},media=cdrom,if=ide,aio=native,cache=none",
        iso.display()
    );
    let q = paused_qemu(&qemu, &["-machine", "pc", "-drive", &cdrom], &iso);
    let pid = q.0.id();
    let (v, _) = json(
        isotune()
            .args(["doctor", "--json", "--running", "--iso"])
            .arg(&iso),
    );
    let vm = v["facts"]["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|vm| vm["origin"]["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not found: {v:#}"))
        .clone();
    assert_eq!(vm["drives"][0]["aio"], "native");
    let on_this_vm = |v: &Value, id: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == id && f["subject"].as_str().unwrap().contains(&pid.to_string()))
    };
    assert!(on_this_vm(&v, "cdrom.ide-bus"), "{v:#}");
    let procs = v["facts"]["host"]["qemu_processes"].to_string();
    assert!(procs.contains("doctor test.iso"), "{procs}");
    assert_eq!(
        v["facts"]["files"][0]["size_bytes"],
        std::fs::metadata(&iso).unwrap().len()
    );
    assert!(!v["facts"]["files"][0]["storage"]
        .as_array()
        .unwrap()
        .is_empty());

    // check finds the running VM that uses this ISO by itself.
    let (c, _) = json(isotune().args(["check", "--json", "--no-bench"]).arg(&iso));
    let vms = c["doctor"]["facts"]["vms"].as_array().unwrap();
    assert!(vms.iter().any(|vm| vm["origin"]["pid"] == pid), "{c:#}");
    assert!(c["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == "cdrom.ide-bus"));
    drop(q);
}

#[test]
fn check_runs_the_doctor_and_a_short_bench() {
    let dir = var_tmp();
    let Some(iso) = iso(dir.path()) else {
        return;
    };
    let other = dir.path().join("other.xml");
    std::fs::write(
        &other,
        "<domain type='kvm'><name>other</name><devices><disk type='file' device='cdrom'>\
         <source file='/elsewhere.iso'/><target dev='hdc' bus='ide'/></disk></devices></domain>",
    )
    .unwrap();
    let mine = dir.path().join("mine.xml");
    std::fs::write(
        &mine,
        format!(
            "<domain type='kvm'><name>mine</name><devices><disk type='file' device='cdrom'>\
             <driver name='qemu' type='qcow2'/><source file='{}'/><target dev='hdc' bus='ide'/>\
             </disk></devices></domain>",
            iso.display()
        ),
    )
    .unwrap();
    let start = Instant::now();
    let (v, _) = json(
        isotune()
            .args(["check", "--json", "--xml"])
            .arg(&other)
            .arg("--xml")
            .arg(&mine)
            .arg(&iso),
    );
    assert!(start.elapsed() < Duration::from_secs(60));
    let vms = v["doctor"]["facts"]["vms"].as_array().unwrap();
    assert_eq!(vms.len(), 1, "only the VM using this ISO: {v:#}");
    assert_eq!(vms[0]["name"], "mine");
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"drive.format-not-raw"), "{ids:?}");
    assert!(ids.contains(&"cdrom.ide-bus"), "{ids:?}");
    assert!(ids.contains(&"bench.cold-read"), "{ids:?}");
    assert!(ids.contains(&"bench.boot-trace"), "{ids:?}");
    let workloads = v["bench"]["workloads"].as_array().unwrap();
    assert_eq!(workloads.len(), 2);
    let warnings = v["doctor"]["warnings"].to_string();
    assert!(warnings.contains("does not use"), "{warnings}");
}

/// Advice issue: the sysctl notes are shown with `--explain`, or for a
/// value that differs from the kernel's default.
#[test]
fn regression_advice_sysctl_notes_only_when_changed_or_explained() {
    let dir = tempfile::tempdir().unwrap();
    common::put(dir.path(), "proc/sys/vm/dirty_ratio", b"20\n");
    common::put(dir.path(), "proc/sys/net/core/somaxconn", b"128\n");
    let run = |explain: bool| {
        let mut cmd = isotune();
        cmd.args(["doctor", "--sysroot"]).arg(dir.path());
        if explain {
            cmd.arg("--explain");
        }
        String::from_utf8(cmd.output().unwrap().stdout).unwrap()
    };
    let plain = run(false);
    assert!(
        plain.contains("net.core.somaxconn = 128 (default 4096)"),
        "{plain}"
    );
    assert!(!plain.contains("vm.dirty_ratio"), "{plain}");
    assert!(plain.contains("1 at the kernel's default"), "{plain}");
    let explained = run(true);
    assert!(explained.contains("vm.dirty_ratio = 20"), "{explained}");
}

/// Advice issue: `doctor --xml X` said "0 ISOs": the local ISOs the VM
/// uses are examined (storage and filesystem under each).
#[test]
fn regression_advice_doctor_xml_examines_the_vms_isos() {
    let dir = var_tmp();
    let Some(iso) = iso(dir.path()) else {
        return;
    };
    let xml = dir.path().join("vm.xml");
    std::fs::write(
        &xml,
        format!(
            "<domain type='kvm'><name>vm</name><devices><disk type='file' device='cdrom'>\
             <source file='{}'/><target dev='sda' bus='sata'/><readonly/></disk></devices></domain>",
            iso.display()
        ),
    )
    .unwrap();
    let (v, _) = json(isotune().args(["doctor", "--json", "--xml"]).arg(&xml));
    let files = v["facts"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{v:#}");
    assert_eq!(
        files[0]["size_bytes"],
        std::fs::metadata(&iso).unwrap().len()
    );
    assert!(files[0]["mount"].is_object(), "{v:#}");
    isotune()
        .args(["doctor", "--xml"])
        .arg(&xml)
        .assert()
        .stdout(predicate::str::contains("(1 ISO, 1 VM definition)"));
}
