//! `isotune doctor` and `isotune check` against a real libvirtd
//! (`qemu:///system`, started by the shared harness when none runs) with
//! real TCG domains: IDE, SATA (a qcow2-declared ISO) and virtio-scsi
//! cdroms booting a tiny ISO, a shut-off domain with foreign metadata, and a
//! cdrom change waiting for the next boot. The printed fix is applied
//! through libvirt and the finding must be gone. Bad input: a libvirt
//! socket that does not exist. Issue 9.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::Command as Bin;
use isotune_doctor::fix::{apply_to_domain, FixEdit};
use isotune_testutil::libvirtd::{
    cdrom_disk as cdrom, domains_with_prefix, hlt_iso, log_files_with_prefix,
    qemu_processes_with_prefix, tcg_domain_xml as domain_xml, unique_prefix, virsh, Libvirtd,
    TestDomain, URI,
};
use isotune_testutil::{run, tool};
use serde_json::Value;

fn isotune() -> Bin {
    Bin::cargo_bin("isotune").unwrap()
}

/// A bootable ISO that idles the guest after SeaBIOS read it.
fn boot_iso(dir: &Path, name: &str, seed: u64) -> Option<PathBuf> {
    hlt_iso(dir, name, seed, 128 << 10)
}

/// Runs `cmd`; its JSON stdout, exit code and stderr.
fn json(cmd: &mut Bin) -> (Value, i32, String) {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {err}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (v, out.status.code().unwrap_or(-1), err)
}

fn domain<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["libvirt"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["domains"].as_array().unwrap())
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("domain {name} not in the report: {:#}", report["libvirt"]))
}

/// The findings of `id` whose subject names domain `name`.
fn findings<'a>(report: &'a Value, id: &str, name: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["id"] == id
                && f["subject"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("\"{name}\""))
        })
        .collect()
}

fn doctor_json() -> (Value, i32, String) {
    json(isotune().args(["doctor", "--json", "--running", "--connect", URI]))
}

#[test]
fn domains_findings_counters_and_an_applied_virsh_fix_issue_9() {
    let Some(_daemon) = Libvirtd::acquire() else {
        return;
    };
    let Some(qemu_img) = tool("qemu-img") else {
        return;
    };
    // A real filesystem, not tmpfs: the scan examines the storage under it.
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let Some(iso) = boot_iso(dir.path(), "boot", 1) else {
        return;
    };
    let other = boot_iso(dir.path(), "other", 2).unwrap();
    let qcow = dir.path().join("boot.qcow2");
    run(Command::new(qemu_img)
        .args(["convert", "-O", "qcow2"])
        .arg(&iso)
        .arg(&qcow));
    let p = unique_prefix();
    let (ide, sata, scsi, off) = (
        format!("{p}ide"),
        format!("{p}sata"),
        format!("{p}scsi"),
        format!("{p}off"),
    );
    let virtio_scsi = "<controller type='scsi' index='0' model='virtio-scsi'/>";
    let empty_tray = "<disk type='file' device='cdrom'><target dev='sdb' bus='sata'/>\
                      <readonly/></disk>";
    // libvirt keeps elements of a foreign namespace in <metadata>: unknown
    // elements in the XML it returns.
    let metadata = "<metadata><x:note xmlns:x='https://example.invalid/isotune-test'>\
                    <x:unknown-element depth='1'><x:deeper/></x:unknown-element></x:note></metadata>";
    let doms = [
        TestDomain::define(
            &ide,
            &domain_xml(&ide, "pc", &cdrom(&iso, "raw", "hda", "ide"), ""),
            dir.path(),
        ),
        TestDomain::define(
            &sata,
            &domain_xml(
                &sata,
                "q35",
                &format!("{}{empty_tray}", cdrom(&qcow, "qcow2", "sda", "sata")),
                "",
            ),
            dir.path(),
        ),
        TestDomain::define(
            &scsi,
            &domain_xml(
                &scsi,
                "q35",
                &format!("{virtio_scsi}{}", cdrom(&iso, "raw", "sda", "scsi")),
                "",
            ),
            dir.path(),
        ),
        TestDomain::define(
            &off,
            &domain_xml(&off, "pc", &cdrom(&iso, "raw", "hdc", "ide"), metadata),
            dir.path(),
        ),
    ];
    for d in &doms[..3] {
        d.start();
    }
    // Next boot only: the persistent XML now differs from the live one.
    virsh(&[
        "change-media",
        &ide,
        "hda",
        other.to_str().unwrap(),
        "--config",
    ])
    .expect("virsh change-media --config");

    // Until SeaBIOS has read the IDE cdrom (one 2 KiB sector per request).
    let deadline = Instant::now() + Duration::from_secs(60);
    let (report, code, err) = loop {
        let r = doctor_json();
        let read = domain(&r.0, &ide)["cdroms"][0]["stats"]["rd_bytes"]
            .as_u64()
            .unwrap_or(0);
        if read > 0 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    let warnings = report["warnings"].as_array().unwrap();
    assert!(
        !warnings
            .iter()
            .any(|w| w["code"].as_str().unwrap().starts_with("libvirt")),
        "{warnings:?}"
    );

    // Every domain, running or not, with its state and cdroms.
    for (name, state, target) in [
        (&ide, "running", "hda"),
        (&sata, "running", "sda"),
        (&scsi, "running", "sda"),
        (&off, "shutoff", "hdc"),
    ] {
        let d = domain(&report, name);
        assert_eq!(d["state"], state, "{name}: {d:#}");
        assert_eq!(d["cdroms"][0]["target"], target, "{name}: {d:#}");
    }
    // An empty tray is media `empty`, not a missing drive.
    let trays = &domain(&report, &sata)["cdroms"];
    assert_eq!(trays[1]["target"], "sdb", "{trays:#}");
    assert_eq!(trays[1]["media"]["kind"], "empty", "{trays:#}");
    // Read counters of a running domain whose guest read the cdrom.
    let st = &domain(&report, &ide)["cdroms"][0]["stats"];
    assert!(st["rd_bytes"].as_u64().unwrap() >= 2048, "{st}");
    assert!(st["rd_req"].as_u64().unwrap() > 0, "{st}");
    assert!(st["rd_total_times_ns"].is_u64(), "{st}");
    assert!(domain(&report, &off)["cdroms"][0]["stats"].is_null());
    // The pending change, in the domain's facts and as a note.
    let pending = &domain(&report, &ide)["pending_cdrom_changes"];
    assert_eq!(pending[0]["target"], "hda", "{pending}");
    assert_eq!(
        pending[0]["next_boot"]["path"],
        other.to_str().unwrap(),
        "{pending}"
    );
    let note = report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["domain"] == ide.as_str())
        .unwrap_or_else(|| panic!("no note for {ide}: {:#}", report["notes"]));
    assert_eq!(note["code"], "libvirt-pending-cdrom-change");
    assert!(note["message"].as_str().unwrap().contains("next boot"));

    // Each running domain once, as the domain: not again as its QEMU
    // process, and drives named by their target, not libvirt's node names.
    // (The host facts keep each QEMU process's raw argv, node names and all.)
    for part in [&report["facts"]["vms"], &report["findings"]] {
        let t = part.to_string();
        assert!(!t.contains("libvirt-1-format"), "{t}");
    }
    for name in [&ide, &sata, &scsi] {
        let vms: Vec<&Value> = report["facts"]["vms"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["name"] == name.as_str())
            .collect();
        assert_eq!(vms.len(), 1, "{name}: {vms:#?}");
        assert_eq!(
            vms[0]["origin"]["kind"], "libvirt",
            "{:#}",
            vms[0]["origin"]
        );
    }

    // Findings: IDE cdroms (running and shut off), the qcow2-declared ISO;
    // libvirt fixes are `virsh edit` steps, never QEMU arguments.
    for (name, drive) in [(&ide, "hda"), (&off, "hdc")] {
        let f = findings(&report, "cdrom.ide-bus", name);
        assert_eq!(f.len(), 1, "{name}: {:#}", report["findings"]);
        assert!(f[0]["subject"]
            .as_str()
            .unwrap()
            .contains(&format!("drive {drive}")));
        let fix = f[0]["fix"].as_str().unwrap();
        assert!(fix.contains(&format!("virsh edit {name}")), "{fix}");
        assert!(!fix.contains("-device") && !fix.contains("-drive"), "{fix}");
        assert_eq!(f[0]["edit"]["kind"], "domain");
    }
    assert!(findings(&report, "cdrom.ide-bus", &scsi).is_empty());
    assert!(findings(&report, "cdrom.ide-bus", &sata).is_empty());
    let q = findings(&report, "drive.format-not-raw", &sata);
    assert_eq!(q.len(), 1, "{:#}", report["findings"]);
    assert!(
        q[0]["fix"].as_str().unwrap().contains("virsh edit"),
        "{}",
        q[0]["fix"]
    );

    // The human report lists the domains.
    let out = isotune()
        .args(["doctor", "--connect", URI])
        .output()
        .unwrap();
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(
        human.contains(&format!("domain    {ide} (running, {URI}): cdrom hda ")),
        "{human}"
    );
    assert!(human.contains(&format!("{off} (shutoff")), "{human}");
    assert!(human.contains("cdrom hda has"), "{human}");

    // check ISO: every domain with this ISO in a cdrom, running or not.
    let (c, code, err) = json(
        isotune()
            .args(["check", "--json", "--no-bench", "--connect", URI])
            .arg(&iso),
    );
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    for name in [&ide, &scsi, &off] {
        domain(&c["doctor"], name);
    }
    let listed: Vec<&str> = c["doctor"]["libvirt"][0]["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(!listed.contains(&sata.as_str()), "{listed:?}");
    assert_eq!(
        findings(&c, "cdrom.ide-bus", &off).len(),
        1,
        "{:#}",
        c["findings"]
    );
    assert_eq!(
        findings(&c, "cdrom.ide-bus", &ide).len(),
        1,
        "{:#}",
        c["findings"]
    );

    // Apply the printed fix of the shut-off domain through libvirt.
    let f = findings(&report, "cdrom.ide-bus", &off)[0];
    let edit: FixEdit = serde_json::from_value(f["edit"].clone()).unwrap();
    let FixEdit::Domain { edits, .. } = edit else {
        panic!("{edit:?}")
    };
    let xml = virsh(&["dumpxml", "--inactive", &off]).unwrap();
    let fixed = apply_to_domain(&xml, &edits).unwrap();
    let file = dir.path().join("fixed.xml");
    std::fs::write(&file, &fixed).unwrap();
    virsh(&["define", file.to_str().unwrap()])
        .unwrap_or_else(|| panic!("libvirt refused:\n{fixed}"));
    let (again, _, _) = doctor_json();
    assert!(
        findings(&again, "cdrom.ide-bus", &off).is_empty(),
        "{:#}",
        again["findings"]
    );
    assert_eq!(domain(&again, &off)["cdroms"][0]["target"], "sda");
    assert_eq!(findings(&again, "cdrom.ide-bus", &ide).len(), 1);

    drop(doms);
    assert!(domains_with_prefix(&p).is_empty());
    assert!(qemu_processes_with_prefix(&p).is_empty());
    assert!(log_files_with_prefix(&p).is_empty());
}

/// A libvirt that cannot be reached: a warning, the rest of the report
/// still produced; exit 2 only when `--connect` was all there was.
#[test]
fn unreachable_libvirt_is_a_warning_unless_nothing_else_was_asked_issue_9() {
    let bad = "qemu:///system?socket=/nonexistent/isotune-test.sock";
    let out = isotune()
        .args(["doctor", "--connect", bad])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("unreachable") && err.contains(bad), "{err}");

    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let Some(iso) = boot_iso(dir.path(), "x", 3) else {
        return;
    };
    let (v, code, err) = json(
        isotune()
            .args(["doctor", "--json", "--connect", bad, "--iso"])
            .arg(&iso),
    );
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    assert_eq!(v["facts"]["files"].as_array().unwrap().len(), 1);
    let w = &v["warnings"].as_array().unwrap();
    assert!(
        w.iter().any(|w| w["code"] == "libvirt-unreachable"
            && w["message"].as_str().unwrap().contains("nonexistent")),
        "{w:?}"
    );
    // check: the same warning, the image still checked.
    let (c, code, err) = json(
        isotune()
            .args(["check", "--json", "--no-bench", "--connect", bad])
            .arg(&iso),
    );
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    assert!(c["doctor"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["code"] == "libvirt-unreachable"));

    // No libvirt at all (no --connect, no LIBVIRT_DEFAULT_URI, no socket
    // under /run): one info line, not an error. Whether a libvirtd runs here
    // (another test may have started one) must not matter: the binary runs
    // in a private mount namespace whose /run/libvirt is an empty tmpfs.
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        != 0
    {
        isotune_testutil::skip("an empty /run/libvirt in a mount namespace needs root");
        return;
    }
    let Some(unshare) = tool("unshare") else {
        return;
    };
    std::fs::create_dir_all("/run/libvirt").unwrap();
    let script = format!(
        "mount -t tmpfs none /run/libvirt && exec '{}' doctor --iso '{}'",
        assert_cmd::cargo::cargo_bin("isotune").display(),
        iso.display()
    );
    let out = Command::new(unshare)
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env_remove("LIBVIRT_DEFAULT_URI")
        .env_remove("ISOTUNE_NO_LIBVIRT")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{err}"
    );
    assert!(err.contains("info: libvirt: not read"), "{err}");
}

/// A hung libvirtd (a socket that accepts and never answers): the call
/// that got no answer is named after the 5 s deadline, the report still
/// stands; with nothing else asked, exit 2 naming the call.
#[test]
fn hung_libvirtd_times_out_naming_the_call_issue_9() {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let sock = dir.path().join("hung.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // Accept and hold every connection, never answer.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    let uri = format!("qemu:///system?socket={}", sock.display());
    let Some(iso) = boot_iso(dir.path(), "x", 4) else {
        return;
    };
    let start = Instant::now();
    let (v, code, err) = json(
        isotune()
            .args(["doctor", "--json", "--connect", &uri, "--iso"])
            .arg(&iso)
            .timeout(Duration::from_secs(60)),
    );
    let took = start.elapsed();
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(v["facts"]["files"].as_array().unwrap().len(), 1);
    let w = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "libvirt-timeout")
        .unwrap_or_else(|| panic!("{:#}", v["warnings"]));
    let msg = w["message"].as_str().unwrap();
    assert!(
        msg.contains("virConnectOpenReadOnly") && msg.contains("5 s"),
        "{msg}"
    );

    let out = isotune()
        .args(["doctor", "--connect", &uri])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("virConnectOpenReadOnly"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// A libvirt socket this user may not open: `libvirt-permission-denied`,
/// a warning when there is something else to analyse, exit 2 (one line)
/// when there is not. Run as `nobody` against a socket in a 0700 directory.
#[test]
fn permission_denied_is_a_warning_unless_nothing_else_was_asked_issue_9() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        isotune_testutil::skip("running the binary as nobody needs root");
        return;
    }
    let Some(runuser) = tool("runuser") else {
        return;
    };
    // What nobody may read and run: a 0755 directory with the binary and an ISO.
    let open = tempfile::tempdir_in("/var/tmp").unwrap();
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = open.path().join("isotune");
    std::fs::copy(assert_cmd::cargo::cargo_bin("isotune"), &bin).unwrap();
    let Some(iso) = boot_iso(open.path(), "pd", 5) else {
        return;
    };
    std::fs::set_permissions(&iso, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A listening socket nobody cannot reach.
    let closed = tempfile::tempdir_in("/var/tmp").unwrap();
    let sock = closed.path().join("libvirt-sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let uri = format!("qemu:///system?socket={}", sock.display());

    let as_nobody = |args: &[&std::ffi::OsStr]| {
        Command::new(&runuser)
            .args(["-u", "nobody", "--"])
            .arg(&bin)
            .args(args)
            .env("ISOTUNE_NO_LIBVIRT", "1")
            .current_dir(open.path())
            .output()
            .unwrap()
    };
    let out = as_nobody(&["doctor".as_ref(), "--connect".as_ref(), uri.as_ref()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("refused access") && err.contains("Permission denied"),
        "{err}"
    );

    let out = as_nobody(&[
        "doctor".as_ref(),
        "--json".as_ref(),
        "--connect".as_ref(),
        uri.as_ref(),
        "--iso".as_ref(),
        iso.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["facts"]["files"].as_array().unwrap().len(), 1);
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "libvirt-permission-denied"),
        "{}",
        v["warnings"]
    );
}

/// libvirtd going away in the middle of a scan (here: a proxy in front of
/// the real daemon's read-only socket that cuts the connection after the
/// first few KiB of replies, mid-way through reading the domains): the
/// report is still produced with the domains read so far, and a libvirt
/// warning says what failed; no hang, no exit 2 when an ISO was given.
#[test]
fn libvirtd_gone_mid_scan_is_a_warning_issue_9() {
    use std::io::{Read as _, Write as _};
    use std::os::unix::net::{UnixListener, UnixStream};
    let Some(_daemon) = Libvirtd::acquire() else {
        return;
    };
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let Some(iso) = boot_iso(dir.path(), "cut", 6) else {
        return;
    };
    let p = unique_prefix();
    let _domains: Vec<TestDomain> = (0..4)
        .map(|i| {
            let name = format!("{p}cut{i}");
            let xml = domain_xml(&name, "pc", &cdrom(&iso, "raw", "hdc", "ide"), "");
            TestDomain::define(&name, &xml, dir.path())
        })
        .collect();

    let sock = dir.path().join("proxy.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = UnixStream::connect("/run/libvirt/libvirt-sock-ro") else {
                return;
            };
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = c_in.read(&mut buf) {
                    if s_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            // Replies pass until 6 KiB went by, then both ends close.
            let (mut s_in, mut c_out) = (server, client);
            let mut passed = 0;
            let mut buf = [0u8; 512];
            while let Ok(n @ 1..) = s_in.read(&mut buf) {
                if c_out.write_all(&buf[..n]).is_err() {
                    break;
                }
                passed += n;
                if passed > 6 << 10 {
                    break;
                }
            }
            let _ = c_out.shutdown(std::net::Shutdown::Both);
            let _ = s_in.shutdown(std::net::Shutdown::Both);
        }
    });
    let uri = format!("qemu:///system?socket={}", sock.display());
    let start = Instant::now();
    let (v, code, err) = json(
        isotune()
            .args(["doctor", "--json", "--connect", &uri, "--iso"])
            .arg(&iso)
            .timeout(Duration::from_secs(60)),
    );
    assert!(code == 0 || code == 1, "exit {code}: {err}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(v["facts"]["files"].as_array().unwrap().len(), 1);
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"].as_str().unwrap().starts_with("libvirt-")),
        "{:#}",
        v["warnings"]
    );
    // Cut after the connection was made: the domains read before it are
    // reported.
    let read = v["libvirt"][0]["domains"].as_array().map_or(0, |d| {
        d.iter()
            .filter(|d| d["name"].as_str().unwrap().starts_with(&p))
            .count()
    });
    assert!(read >= 1, "{}", v["libvirt"]);
}
