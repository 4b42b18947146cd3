//! Every fix the doctor emits for a VM definition, applied and run.
//!
//! - libvirt: domains written by `virt-install --print-xml` (test driver, no
//!   daemon); each finding's [`FixEdit`] is applied to the XML, the result is
//!   defined with `virsh -c test:///default define` (libvirt's own parser and
//!   validator), parsed again and diagnosed: the finding must be gone.
//! - QEMU: command lines with `-cdrom`, `-drive if=ide` and two cdroms; each
//!   fixed argv is started paused under TCG (`-S`), must still run, and quits
//!   through QMP; the fixed argv is diagnosed again.
//!
//! A fix that libvirt or QEMU refuses, or that leaves its finding in place,
//! fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use isotune_doctor::fix::{apply_to_argv, apply_to_domain, FixEdit};
use isotune_doctor::{diagnose, Facts, Finding};
use isotune_testutil::boot::Qemu;
use isotune_testutil::http::Httpd;
use isotune_vmconfig::{parse_argv, parse_domain_xml, Origin};

/// Two small real ISO images (`a.iso`, `b.iso`) in a fresh directory under
/// the target dir (O_DIRECT needs a real filesystem, not tmpfs).
fn isos() -> Option<(tempfile::TempDir, PathBuf, PathBuf)> {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let tree = dir.path().join("tree");
    isotune_testutil::put(&tree, "README.TXT", b"isotune fix test\n");
    let a = dir.path().join("a.iso");
    let b = dir.path().join("b.iso");
    isotune_testutil::mkisofs(&tree, &a, &["-V", "A"])?;
    isotune_testutil::mkisofs(&tree, &b, &["-V", "B"])?;
    Some((dir, a, b))
}

fn vm_findings(facts: &Facts) -> Vec<Finding> {
    diagnose(facts)
        .into_iter()
        .filter(|f| f.edit.is_some())
        .collect()
}

fn count(findings: &[Finding], id: &str) -> usize {
    findings.iter().filter(|f| f.id == id).count()
}

// ---- libvirt ----------------------------------------------------------

/// virt-install's first document (the install-time domain) for `extra`,
/// where `A` and `B` stand for the two ISOs.
fn virt_install(a: &Path, b: &Path, extra: &[&str]) -> Option<String> {
    let vi = isotune_testutil::tool("virt-install")?;
    let out = isotune_testutil::run(
        Command::new(vi)
            .args(["--connect", "test:///default", "--print-xml"])
            .args(["--name", "fx", "--memory", "1024", "--vcpus", "1"])
            .args(["--osinfo", "detect=on,require=off"])
            .args(extra.iter().map(|x| {
                x.replace("A.iso", &a.display().to_string())
                    .replace("B.iso", &b.display().to_string())
            })),
    );
    let end = out
        .find("</domain>")
        .expect("virt-install printed a domain")
        + "</domain>".len();
    Some(out[..end].to_string())
}

fn diagnose_xml(xml: &str) -> Vec<Finding> {
    let vm = parse_domain_xml(
        xml,
        Origin::LibvirtXml {
            path: "fx.xml".into(),
        },
    )
    .expect("the domain parses");
    vm_findings(&Facts {
        vms: vec![vm],
        ..Facts::default()
    })
}

/// `virsh -c test:///default define` of `xml`: libvirt's verdict.
fn define(dir: &Path, xml: &str) -> Result<(), String> {
    let virsh = isotune_testutil::tool("virsh").expect("checked by the caller");
    let file = dir.join("fixed.xml");
    std::fs::write(&file, xml).unwrap();
    let out = Command::new(virsh)
        .args(["-c", "test:///default", "define"])
        .arg(&file)
        .output()
        .expect("cannot run virsh");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn domain_edits(f: &Finding) -> &[isotune_doctor::fix::DomainEdit] {
    match &f.edit {
        Some(FixEdit::Domain { edits, .. }) => edits,
        other => panic!("{}: not a domain fix: {other:?}", f.id),
    }
}

/// Applies each finding's fix alone, then every fix of `together` at once;
/// each result must define and lose its finding(s). Returns the ids seen.
fn check_domain(dir: &Path, xml: &str, expect: &[&str], together: &str) -> Vec<&'static str> {
    define(dir, xml).unwrap_or_else(|e| panic!("the original does not define: {e}\n{xml}"));
    let before = diagnose_xml(xml);
    for id in expect {
        assert!(
            count(&before, id) > 0,
            "{id} did not fire:\n{xml}\n{before:#?}"
        );
    }
    for f in &before {
        let fixed = apply_to_domain(xml, domain_edits(f))
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", f.id, f.fix));
        define(dir, &fixed).unwrap_or_else(|e| {
            panic!(
                "libvirt refuses the fix of {}: {e}\nfix: {}\n{fixed}",
                f.id, f.fix
            )
        });
        let after = diagnose_xml(&fixed);
        assert!(
            count(&after, f.id) < count(&before, f.id),
            "{} still fires after its fix:\n{}\n{fixed}",
            f.id,
            f.fix
        );
    }
    let mut all = xml.to_string();
    for f in before.iter().filter(|f| f.id == together) {
        all = apply_to_domain(&all, domain_edits(f)).unwrap();
    }
    define(dir, &all)
        .unwrap_or_else(|e| panic!("libvirt refuses every {together} fix at once: {e}\n{all}"));
    assert_eq!(count(&diagnose_xml(&all), together), 0, "{all}");
    before.iter().map(|f| f.id).collect()
}

#[test]
fn libvirt_fixes_define_and_clear_their_findings() {
    let Some((dir, a, b)) = isos() else { return };
    if isotune_testutil::tool("virsh").is_none() {
        return;
    }
    let cases: &[(&[&str], &[&str], &str)] = &[
        // virt-install --cdrom: IDE cdrom and <os><boot dev='cdrom'/>.
        (
            &["--disk", "none", "--cdrom", "A.iso"],
            &["cdrom.ide-bus"],
            "cdrom.ide-bus",
        ),
        // Per-device boot order.
        (
            &[
                "--import",
                "--disk",
                "path=A.iso,device=cdrom,bus=ide,boot.order=1",
                "--disk",
                "none",
            ],
            &["cdrom.ide-bus"],
            "cdrom.ide-bus",
        ),
        // Two IDE cdroms: two targets, one controller.
        (
            &[
                "--import",
                "--disk",
                "path=A.iso,device=cdrom,bus=ide",
                "--disk",
                "path=B.iso,device=cdrom,bus=ide",
                "--boot",
                "cdrom",
            ],
            &["cdrom.ide-bus"],
            "cdrom.ide-bus",
        ),
        // An ISO declared qcow2, on SATA.
        (
            &[
                "--import",
                "--disk",
                "path=A.iso,device=cdrom,bus=sata",
                "--xml",
                "xpath.create=./devices/disk/driver",
                "--xml",
                "./devices/disk/driver/@type=qcow2",
                "--boot",
                "cdrom",
            ],
            &["drive.format-not-raw"],
            "drive.format-not-raw",
        ),
        // io=native without cache=none, and an iothread on IDE and SATA.
        (
            &[
                "--import",
                "--iothreads",
                "1",
                "--disk",
                "path=A.iso,device=cdrom,bus=sata,driver.io=native,driver.iothread=1",
                "--disk",
                "path=B.iso,device=cdrom,bus=ide,driver.iothread=1",
                "--boot",
                "cdrom",
            ],
            &[
                "drive.aio-native-needs-direct",
                "drive.iothread-ignored",
                "cdrom.ide-bus",
            ],
            "drive.iothread-ignored",
        ),
        // A TCG domain (type='qemu'), and folklore in the <disk>.
        (
            &[
                "--import",
                "--xml",
                "./@type=qemu",
                "--disk",
                "path=A.iso,device=cdrom,bus=scsi",
                "--xml",
                "xpath.create=./devices/disk/driver",
                "--xml",
                "./devices/disk/driver/@dmqueue_size=1024",
                "--xml",
                "xpath.create=./devices/disk/enable-dma",
                "--boot",
                "cdrom",
            ],
            &["accel.no-kvm", "myth.nonexistent-option"],
            "myth.nonexistent-option",
        ),
        // An ISO attached as a writable virtio disk.
        (
            &[
                "--import",
                "--disk",
                "path=A.iso,device=disk,bus=virtio,format=raw",
            ],
            &["drive.not-readonly"],
            "drive.not-readonly",
        ),
        // An iothread the domain does not define.
        (
            &[
                "--import",
                "--disk",
                "path=A.iso,device=disk,bus=virtio,driver.iothread=5,readonly=on,format=raw",
            ],
            &["drive.dangling-reference"],
            "drive.dangling-reference",
        ),
        // A writable SATA disk cannot be read-only: it becomes a cdrom.
        (
            &[
                "--import",
                "--disk",
                "path=A.iso,device=disk,bus=sata,format=raw",
            ],
            &["drive.not-readonly"],
            "drive.not-readonly",
        ),
    ];
    for (args, expect, together) in cases {
        let Some(xml) = virt_install(&a, &b, args) else {
            return;
        };
        check_domain(dir.path(), &xml, expect, together);
    }
}

#[test]
fn two_ide_cdroms_get_distinct_targets_and_one_controller() {
    let Some((dir, a, b)) = isos() else { return };
    let Some(xml) = virt_install(
        &a,
        &b,
        &[
            "--import",
            "--disk",
            "path=A.iso,device=cdrom,bus=ide",
            "--disk",
            "path=B.iso,device=cdrom,bus=ide",
            "--boot",
            "cdrom",
        ],
    ) else {
        return;
    };
    if isotune_testutil::tool("virsh").is_none() {
        return;
    }
    let found = diagnose_xml(&xml);
    let ide: Vec<&Finding> = found.iter().filter(|f| f.id == "cdrom.ide-bus").collect();
    assert_eq!(ide.len(), 2);
    assert!(ide[0].fix.contains("dev='sda'") && ide[1].fix.contains("dev='sdb'"));
    // <os><boot dev='cdrom'/>: no per-device boot order in the fix.
    assert!(
        ide.iter().all(|f| !f.fix.contains("<boot order")),
        "{}",
        ide[0].fix
    );
    let mut all = xml.clone();
    for f in &ide {
        all = apply_to_domain(&all, domain_edits(f)).unwrap();
    }
    assert_eq!(all.matches("model='virtio-scsi'").count(), 1, "{all}");
    define(dir.path(), &all).unwrap();
}

// ---- QEMU -------------------------------------------------------------

fn argv(line: &str, a: &Path, b: &Path) -> Vec<String> {
    std::iter::once("qemu-system-x86_64".to_string())
        .chain(line.split_whitespace().map(|x| {
            x.replace("A.iso", &a.display().to_string())
                .replace("B.iso", &b.display().to_string())
        }))
        .collect()
}

/// Starts QEMU paused with `argv[1..]`; `Err` with its stderr when it exits.
fn start_paused(dir: &Path, argv: &[String]) -> Result<(), String> {
    let mut args = vec!["-S"];
    args.extend(argv[1..].iter().map(String::as_str));
    let mut qemu = Qemu::spawn(dir, &args).expect("checked by the caller");
    std::thread::sleep(Duration::from_millis(300));
    if let Some((status, stderr)) = qemu.exited() {
        return Err(format!("{status}: {stderr}"));
    }
    qmp_quit(&dir.join("qmp.sock"));
    let status = qemu.wait_exit(Duration::from_secs(10)).expect("QEMU quits");
    assert!(status.success(), "{status}");
    Ok(())
}

/// Sends `quit` on QEMU's QMP socket (each command in one write: QEMU may
/// close the socket as soon as it has read `quit`).
fn qmp_quit(socket: &Path) {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::os::unix::net::UnixStream::connect(socket).expect("cannot connect to QMP");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut line = String::new();
    reader.read_line(&mut line).expect("QMP greeting");
    writer
        .write_all(b"{\"execute\":\"qmp_capabilities\"}\n")
        .unwrap();
    line.clear();
    reader.read_line(&mut line).expect("QMP capabilities");
    assert!(line.contains("\"return\""), "{line}");
    writer.write_all(b"{\"execute\":\"quit\"}\n").unwrap();
    // The reply, or the end of the stream when QEMU closed it first.
    line.clear();
    let _ = reader.read_line(&mut line);
}

fn diagnose_argv(argv: &[String]) -> Vec<Finding> {
    vm_findings(&Facts {
        vms: vec![parse_argv(argv, Origin::QemuCmdline)],
        ..Facts::default()
    })
}

#[test]
fn qemu_argv_fixes_start_and_clear_their_findings() {
    let Some((dir, a, b)) = isos() else { return };
    if isotune_testutil::tool("qemu-system-x86_64").is_none() {
        return;
    }
    let cases: &[(&str, &[&str])] = &[
        (
            "-M pc -cdrom A.iso",
            &["cdrom.ide-bus", "drive.format-not-raw"],
        ),
        (
            "-M pc -drive file=A.iso,if=ide,media=cdrom,format=raw",
            &["cdrom.ide-bus"],
        ),
        (
            "-M pc -drive file=A.iso,if=ide,media=cdrom,format=raw -cdrom B.iso",
            &["cdrom.ide-bus"],
        ),
        (
            "-M q35 -drive file=A.iso,if=none,id=c,media=cdrom,format=raw,aio=native \
             -device virtio-scsi-pci,id=scsi0 -device scsi-cd,drive=c,bus=scsi0.0",
            &["drive.aio-native-needs-direct"],
        ),
        (
            "-M pc -object iothread,id=io0 -drive if=none,id=cd,file=A.iso,media=cdrom,format=raw \
             -device ide-cd,drive=cd,iothread=io0",
            &["drive.iothread-ignored", "cdrom.ide-bus"],
        ),
        (
            "-M q35 -drive file=A.iso,if=virtio,format=raw",
            &["drive.not-readonly"],
        ),
        (
            "-M pc -drive file=A.iso,if=ide,format=raw",
            &["drive.not-readonly"],
        ),
        // References to an iothread and a bus nobody defines.
        (
            "-M q35 -drive file=A.iso,if=none,id=c,media=cdrom,format=raw \
             -device virtio-scsi-pci,id=scsi0,iothread=io9 -device scsi-cd,drive=c,bus=scsi1.0",
            &["drive.dangling-reference"],
        ),
        // Folklore, and TCG listed before KVM (not `-machine accel=tcg:kvm`:
        // the test's QEMU gets `-accel tcg`, which QEMU refuses next to it).
        (
            "-M q35 -accel tcg -accel kvm -enable-dma -drive file=A.iso,if=none,id=c,media=cdrom,\
             format=raw,dmqueue_size=1024 -device virtio-scsi-pci,id=scsi0 \
             -device scsi-cd,drive=c,bus=scsi0.0",
            &["accel.no-kvm", "myth.nonexistent-option"],
        ),
        (
            "-M q35 -drive file=B.iso,if=none,id=c,media=cdrom,format=qcow2 \
             -device virtio-scsi-pci,id=scsi0 -device scsi-cd,drive=c,bus=scsi0.0",
            &["drive.format-not-raw"],
        ),
    ];
    for (line, expect) in cases {
        check_argv(dir.path(), line, &argv(line, &a, &b), expect);
    }
}

/// Applies each fix of `original` (a command line written as `line`) and
/// starts QEMU with the result; then every IDE cdrom fix at once.
fn check_argv(dir: &Path, line: &str, original: &[String], expect: &[&str]) {
    {
        let original = original.to_vec();
        let before = diagnose_argv(&original);
        for id in expect {
            assert!(
                count(&before, id) > 0,
                "{id} did not fire on {line}: {before:#?}"
            );
        }
        let edits_of = |f: &Finding| match &f.edit {
            Some(FixEdit::Argv { edits }) => edits.clone(),
            other => panic!("{}: not an argv fix: {other:?}", f.id),
        };
        for (k, f) in before.iter().enumerate() {
            let fixed = apply_to_argv(&original, &edits_of(f))
                .unwrap_or_else(|e| panic!("{} on {line}: {e}", f.id));
            assert!(
                count(&diagnose_argv(&fixed), f.id) < count(&before, f.id),
                "{} still fires after its fix on {line}:\n{}\n{fixed:?}",
                f.id,
                f.fix
            );
            if start_paused(dir, &fixed).is_ok() {
                continue;
            }
            // QEMU may refuse because of another finding (aio=native, an
            // ISO declared qcow2): with every other fix applied first, this
            // fix must leave a command line QEMU starts.
            let mut base = original.clone();
            for (j, g) in before.iter().enumerate() {
                if j != k {
                    base = apply_to_argv(&base, &edits_of(g))
                        .unwrap_or_else(|e| panic!("{} on {line}: {e}", g.id));
                }
            }
            let fixed = apply_to_argv(&base, &edits_of(f))
                .unwrap_or_else(|e| panic!("{} on {line}: {e}", f.id));
            start_paused(dir, &fixed).unwrap_or_else(|e| {
                panic!(
                    "QEMU refuses the fix of {} for {line}: {e}\nfix: {}\n{fixed:?}",
                    f.id, f.fix
                )
            });
            assert_eq!(count(&diagnose_argv(&fixed), f.id), 0, "{fixed:?}");
        }
        // Every IDE cdrom fix of the command line at once.
        if count(&before, "cdrom.ide-bus") == 0 {
            return;
        }
        let mut all = original.clone();
        for f in before.iter().filter(|f| f.id == "cdrom.ide-bus") {
            let Some(FixEdit::Argv { edits }) = &f.edit else {
                unreachable!()
            };
            all = apply_to_argv(&all, edits).unwrap();
        }
        start_paused(dir, &all).unwrap_or_else(|e| panic!("{line}: {e}\n{all:?}"));
        assert_eq!(count(&diagnose_argv(&all), "cdrom.ide-bus"), 0, "{all:?}");
    }
}

// ---- HTTP ISOs --------------------------------------------------------

/// The two ISOs served by busybox httpd, when QEMU and virsh are here too.
fn http_isos() -> Option<(tempfile::TempDir, PathBuf, PathBuf, Httpd)> {
    let (dir, a, b) = isos()?;
    isotune_testutil::tool("qemu-system-x86_64")?;
    isotune_testutil::tool("virsh")?;
    let httpd = Httpd::start(dir.path())?;
    Some((dir, a, b, httpd))
}

#[test]
fn http_iso_readahead_fixes_work() {
    let Some((dir, a, b, httpd)) = http_isos() else {
        return;
    };
    let port = httpd.port;
    // libvirt: a network cdrom as virt-install writes it.
    let host = format!(
        "type=network,source.protocol=http,source.name=/a.iso,source.host0.name=127.0.0.1,\
         source.host0.port={port},device=cdrom,bus=scsi"
    );
    let Some(xml) = virt_install(&a, &b, &["--import", "--disk", &host, "--boot", "cdrom"]) else {
        return;
    };
    check_domain(
        dir.path(),
        &xml,
        &["net.curl-readahead"],
        "net.curl-readahead",
    );
    // QEMU: the URL as a -drive file and as -cdrom.
    let url = format!("http://127.0.0.1:{port}/a.iso");
    for line in [
        format!(
            "-M pc -drive file={url},if=none,id=c,media=cdrom,format=raw \
             -device virtio-scsi-pci,id=scsi0 -device scsi-cd,drive=c,bus=scsi0.0"
        ),
        format!("-M pc -cdrom {url}"),
    ] {
        let original = argv(&line, &a, &b);
        check_argv(dir.path(), &line, &original, &["net.curl-readahead"]);
    }
    drop(httpd);
}

#[test]
fn curl_timeout_and_sslverify_fixes_work() {
    let Some((dir, a, b, httpd)) = http_isos() else {
        return;
    };
    let port = httpd.port;
    // libvirt: a 2 s timeout, and an HTTPS source without verification
    // (`virsh define` on the test driver opens nothing). virt-install has
    // no option for either: the element goes into its network <source>.
    let with = |protocol: &str, inner: &str| -> Option<String> {
        let disk = format!(
            "type=network,source.protocol={protocol},source.name=/a.iso,source.host0.name=127.0.0.1,\
             source.host0.port={port},device=cdrom,bus=scsi"
        );
        let xml = virt_install(&a, &b, &["--import", "--disk", &disk, "--boot", "cdrom"])?;
        assert_eq!(xml.matches("</source>").count(), 1, "{xml}");
        Some(xml.replace("</source>", &format!("{inner}</source>")))
    };
    let Some(xml) = with("http", "<timeout seconds='2'/>") else {
        return;
    };
    check_domain(dir.path(), &xml, &["net.curl-timeout"], "net.curl-timeout");
    let xml = with("https", "<ssl verify='no'/>").unwrap();
    check_domain(
        dir.path(),
        &xml,
        &["net.curl-sslverify-off"],
        "net.curl-sslverify-off",
    );
    // QEMU: the timeout fix on a real HTTP drive (QEMU opens it at start).
    let line = format!(
        "-M pc -drive file.driver=http,file.url=http://127.0.0.1:{port}/a.iso,file.timeout=2,\
         file.readahead=1M,if=none,id=c,media=cdrom,format=raw \
         -device virtio-scsi-pci,id=scsi0 -device scsi-cd,drive=c,bus=scsi0.0"
    );
    let original = argv(&line, &a, &b);
    check_argv(dir.path(), &line, &original, &["net.curl-timeout"]);
    drop(httpd);
}
