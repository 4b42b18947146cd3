//! `isotune doctor` on network sources, against testutil's rangeserver (a
//! real HTTP server in the test process, with per-answer delay, redirects
//! and a mode without Range support) and real QEMU:
//!
//! - without `--probe` nothing connects to the server;
//! - `--probe` measures a round trip of at least the server's delay, and
//!   judges the curl readahead by the boot trace over that link; the fix,
//!   applied to the domain XML, passes `virt-xml-validate` and the finding
//!   is gone on the next probe;
//! - a redirecting URL: the fix (the final URL) is started with QEMU, which
//!   opens it, and the finding is gone; the same URL in a running QEMU is
//!   found from its /proc cmdline (`--running --probe`);
//! - a server without Range support is an error QEMU agrees with; the same
//!   image on a Range server is not;
//! - credentials in a URL never reach the output, human or JSON;
//! - an NBD export (nbdkit's delay filter) is probed over its Unix socket;
//! - a dead server is a probe error, not a hang;
//! - `sslverify=off` on HTTPS: the fix makes QEMU refuse a self-signed
//!   server, and open it once that CA is in the store QEMU's curl reads;
//! - the exit code is 1 exactly when a finding is an error.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use isotune_doctor::fix::{apply_to_argv, apply_to_domain, FixEdit};
use isotune_testutil::exporter::Killed;
use isotune_testutil::rangeserver::{Config, Mode, RangeServer};
use serde_json::Value;

/// An El Torito image whose default boot reads 4.5 MB (isolinux, a kernel
/// and an initrd), and its bytes.
fn image(dir: &Path) -> Option<Vec<u8>> {
    let iso = dir.join("boot.iso");
    isotune_testutil::isolinux_image(dir, &iso)?;
    Some(std::fs::read(&iso).unwrap())
}

fn server(bytes: &[u8], mode: Mode, delay_ms: u64) -> RangeServer {
    RangeServer::start(
        bytes.to_vec(),
        Config {
            mode,
            delay: Duration::from_millis(delay_ms),
            tls: None,
        },
    )
}

/// `isotune doctor ARGS` (libvirt off): exit code, stdout.
fn doctor(args: &[&str]) -> (i32, String) {
    let out = support::isotune()
        .env("ISOTUNE_NO_LIBVIRT", "1")
        .arg("doctor")
        .arg("--no-libvirt")
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "doctor failed ({code}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, String::from_utf8(out.stdout).unwrap())
}

fn json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json"];
    all.extend(args);
    let (code, out) = doctor(&all);
    (code, serde_json::from_str(&out).unwrap())
}

fn findings<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

/// The exit code docs/doctor.md promises: 1 when a finding is an error.
fn assert_exit_matches(code: i32, report: &Value) {
    let error = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["severity"] == "error");
    assert_eq!(code, i32::from(error), "exit code vs findings");
}

/// A libvirt domain reading `url` (http) as a SCSI cdrom, `inner` inside its <source>.
fn domain(port: u16, inner: &str) -> String {
    format!(
        "<domain type='kvm'><name>net1</name><memory unit='MiB'>512</memory>\
         <os><type arch='x86_64' machine='q35'>hvm</type></os><devices>\
         <controller type='scsi' index='0' model='virtio-scsi'/>\
         <disk type='network' device='cdrom'><driver name='qemu' type='raw'/>\
         <source protocol='http' name='/image.iso'><host name='127.0.0.1' port='{port}'/>{inner}</source>\
         <target dev='sda' bus='scsi'/><readonly/></disk></devices></domain>"
    )
}

fn validate(path: &Path) {
    let (Some(v), Some(_)) = (
        isotune_testutil::tool("virt-xml-validate"),
        isotune_testutil::tool("xmllint"),
    ) else {
        return;
    };
    isotune_testutil::run(Command::new(v).arg(path).arg("domain"));
}

fn edit_of(f: &Value) -> FixEdit {
    serde_json::from_value(f["edit"].clone()).expect("the finding carries an edit")
}

#[test]
fn probe_measures_the_link_and_judges_readahead() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bytes) = image(dir.path()) else {
        return;
    };
    // 50 ms per answer: 256 KiB windows cost a round trip each.
    let srv = server(&bytes, Mode::Ranges, 50);
    let xml = dir.path().join("net1.xml");
    std::fs::write(&xml, domain(srv.port, "")).unwrap();
    validate(&xml);
    let x = xml.to_str().unwrap();

    // Without --probe: today's judgement, and no connection at all.
    let (_, plain) = json(&["--xml", x]);
    assert_eq!(
        srv.counters
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(plain["facts"]["probes"], serde_json::json!([]));
    let f = findings(&plain, "net.curl-readahead");
    assert_eq!(f.len(), 1);
    assert!(!f[0]["title"].as_str().unwrap().contains("predicted"));

    let (code, report) = json(&["--xml", x, "--probe"]);
    assert_exit_matches(code, &report);
    let probe = &report["facts"]["probes"][0];
    assert_eq!(probe["source"], srv.url(false));
    assert!(probe["error"].is_null(), "{probe}");
    // A lower bound only: the server waits 50 ms before each answer.
    assert!(probe["rtt_ns"].as_u64().unwrap() >= 50_000_000, "{probe}");
    assert!(probe["read_ns"].as_u64().unwrap() >= 50_000_000, "{probe}");
    assert_eq!(probe["read_bytes"], 1 << 20);
    assert!(probe["readahead"].as_array().unwrap().len() >= 5, "{probe}");
    let f = findings(&report, "net.curl-readahead");
    assert_eq!(f.len(), 1, "{report:#}");
    let title = f[0]["title"].as_str().unwrap();
    assert!(title.contains("is too small for this link"), "{title}");
    assert!(title.contains("predicted to take"), "{title}");

    // The fix, applied to the XML: valid, and the finding is gone.
    let Some(FixEdit::Domain { edits, .. }) = Some(edit_of(f[0])) else {
        panic!("not a domain fix")
    };
    let fixed = apply_to_domain(&std::fs::read_to_string(&xml).unwrap(), &edits).unwrap();
    let fixed_path = dir.path().join("fixed.xml");
    std::fs::write(&fixed_path, &fixed).unwrap();
    validate(&fixed_path);
    let (_, after) = json(&["--xml", fixed_path.to_str().unwrap(), "--probe"]);
    assert!(
        findings(&after, "net.curl-readahead").is_empty(),
        "{after:#}"
    );
}

/// QEMU paused on `argv`, checked to run for a moment; `Err` with its stderr.
fn qemu_opens(argv: &[String]) -> Result<(), String> {
    let qemu = support::qemu().expect("checked by the caller");
    qemu_opens_with(Command::new(qemu), argv)
}

/// [`qemu_opens`] with QEMU started by `cmd` (which ends with the binary).
fn qemu_opens_with(mut cmd: Command, argv: &[String]) -> Result<(), String> {
    let mut child = cmd
        .args(["-accel", "tcg", "-S", "-display", "none", "-nodefaults"])
        .args(&argv[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return Err(format!("{status}: {err}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    Ok(())
}

fn cmdline(url: &str) -> String {
    format!(
        "qemu-system-x86_64 -M q35 -drive file={url},if=none,id=cd,media=cdrom,format=raw,readonly=on \
         -device virtio-scsi-pci,id=scsi0 -device scsi-cd,drive=cd,bus=scsi0.0"
    )
}

#[test]
fn a_redirect_is_fixed_by_the_final_url_which_qemu_opens() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bytes) = image(dir.path()) else {
        return;
    };
    if support::qemu().is_none() {
        return;
    }
    let srv = server(&bytes, Mode::Redirect, 0);
    let line = cmdline(&srv.url(false));
    let (code, report) = json(&["--qemu-cmdline", &line, "--probe"]);
    assert_exit_matches(code, &report);
    let f = findings(&report, "net.http-redirect");
    assert_eq!(f.len(), 1, "{report:#}");
    let final_url = format!("http://127.0.0.1:{}/real/image.iso", srv.port);
    assert!(f[0]["evidence"][1].as_str().unwrap().contains(&final_url));
    let FixEdit::Argv { edits } = edit_of(f[0]) else {
        panic!("not an argv fix")
    };
    let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
    let fixed = apply_to_argv(&argv, &edits).unwrap();
    assert!(fixed.iter().any(|a| a.contains(&final_url)), "{fixed:?}");
    qemu_opens(&fixed).unwrap_or_else(|e| panic!("QEMU refuses the fixed drive: {e}"));
    let (_, after) = json(&["--qemu-cmdline", &fixed.join(" "), "--probe"]);
    assert!(
        findings(&after, "net.http-redirect").is_empty(),
        "{after:#}"
    );

    // libvirt: the fix is a <source> to put in place of the disk's one
    // (keeping its children). Done as printed: valid, and the redirect is gone.
    let xml = dir.path().join("net1.xml");
    let inner = "<readahead size='1048576'/>";
    std::fs::write(&xml, domain(srv.port, inner)).unwrap();
    validate(&xml);
    let (_, report) = json(&["--xml", xml.to_str().unwrap(), "--probe"]);
    let f = findings(&report, "net.http-redirect");
    assert_eq!(f.len(), 1, "{report:#}");
    let fix = f[0]["fix"].as_str().unwrap();
    let start = fix.find("<source ").expect("a <source> in the fix");
    let end = start + fix[start..].find("</source>").expect("a whole <source>") + "</source>".len();
    let printed = &fix[start..end];
    assert!(printed.contains("name='/real/image.iso'"), "{fix}");
    let with_children = printed.replace("</source>", &format!("{inner}</source>"));
    let original = std::fs::read_to_string(&xml).unwrap();
    let from = original.find("<source ").unwrap();
    let to = from + original[from..].find("</source>").unwrap() + "</source>".len();
    let fixed_xml = format!("{}{with_children}{}", &original[..from], &original[to..]);
    let fixed_path = dir.path().join("fixed.xml");
    std::fs::write(&fixed_path, &fixed_xml).unwrap();
    validate(&fixed_path);
    let (_, after) = json(&["--xml", fixed_path.to_str().unwrap(), "--probe"]);
    assert!(
        findings(&after, "net.http-redirect").is_empty(),
        "{after:#}"
    );
    assert_eq!(after["facts"]["probes"][0]["redirects"], 0, "{after:#}");
}

#[test]
fn a_server_without_ranges_is_an_error_qemu_agrees_with() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bytes) = image(dir.path()) else {
        return;
    };
    if support::qemu().is_none() {
        return;
    }
    let srv = server(&bytes, Mode::NoRanges, 0);
    let line = cmdline(&srv.url(false));
    let (code, report) = json(&["--qemu-cmdline", &line, "--probe"]);
    assert_eq!(code, 1);
    assert_exit_matches(code, &report);
    let f = findings(&report, "net.http-no-ranges");
    assert_eq!(f.len(), 1, "{report:#}");
    assert_eq!(f[0]["severity"], "error");
    assert!(findings(&report, "net.probe-failed").is_empty());
    let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
    let err = qemu_opens(&argv).expect_err("QEMU opened an image without Range support");
    assert!(err.contains("range"), "{err}");
    // The fix: the same image from a server with Range support.
    let good = server(&bytes, Mode::Ranges, 0);
    let line = cmdline(&good.url(false));
    let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
    qemu_opens(&argv).unwrap();
    let (_, after) = json(&["--qemu-cmdline", &line, "--probe"]);
    assert!(findings(&after, "net.http-no-ranges").is_empty());
}

#[test]
fn credentials_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bytes) = image(dir.path()) else {
        return;
    };
    let srv = server(&bytes, Mode::Redirect, 0);
    let url = format!("http://alice:s3cr3t-pw@127.0.0.1:{}/image.iso", srv.port);
    let line = cmdline(&url);
    for json_out in [false, true] {
        let mut args = vec!["--qemu-cmdline", line.as_str(), "--probe"];
        if json_out {
            args.push("--json");
        }
        let (_, out) = doctor(&args);
        assert!(!out.contains("s3cr3t"), "{out}");
        assert!(!out.contains("alice"), "{out}");
        assert!(out.contains("http://***@127.0.0.1"), "{out}");
    }
    let md = tempfile::tempdir().unwrap();
    let md_file = md.path().join("report.md");
    doctor(&[
        "--qemu-cmdline",
        &line,
        "--probe",
        "--markdown",
        md_file.to_str().unwrap(),
    ]);
    let md = std::fs::read_to_string(&md_file).unwrap();
    assert!(
        !md.contains("s3cr3t") && md.contains("## Network probes"),
        "{md}"
    );
    // The probe did reach the server (the credentials were used, not lost).
    assert!(srv.counters.gets.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

#[test]
fn a_dead_server_is_a_probe_error_not_a_hang() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let line = cmdline(&format!("http://127.0.0.1:{port}/image.iso"));
    let start = Instant::now();
    let (code, report) = json(&["--qemu-cmdline", &line, "--probe"]);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_exit_matches(code, &report);
    let f = findings(&report, "net.probe-failed");
    assert_eq!(f.len(), 1, "{report:#}");
    assert_eq!(f[0]["severity"], "warn");
    let seen = f[0]["evidence"][0].as_str().unwrap();
    assert!(
        seen.contains("failed") && seen.contains(&port.to_string()),
        "{seen}"
    );
    assert!(report["facts"]["probes"][0]["error"].is_string());
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[test]
fn sslverify_fix_verifies_and_a_trusted_private_ca_opens() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bytes) = image(dir.path()) else {
        return;
    };
    let (Some(qemu), Some(unshare)) = (support::qemu(), isotune_testutil::tool("unshare")) else {
        return;
    };
    if !is_root() {
        return isotune_testutil::skip(
            "needs root: the CA is trusted in a private mount namespace",
        );
    }
    let Some((cert, key)) = isotune_testutil::tls::self_signed(dir.path()) else {
        return;
    };
    let srv = RangeServer::start(
        bytes,
        Config {
            tls: Some((cert.clone(), key)),
            ..Config::default()
        },
    );
    let line = format!(
        "qemu-system-x86_64 -M q35 -drive file.driver=https,file.url={},file.sslverify=off,\
         if=none,id=cd,media=cdrom,format=raw,readonly=on \
         -device virtio-scsi-pci,id=scsi0 -device scsi-cd,drive=cd,bus=scsi0.0",
        srv.url(true)
    );
    let (_, report) = json(&["--qemu-cmdline", &line]);
    let f = findings(&report, "net.curl-sslverify-off");
    assert_eq!(f.len(), 1, "{report:#}");
    assert!(f[0]["fix"]
        .as_str()
        .unwrap()
        .contains("update-ca-certificates"));
    let FixEdit::Argv { edits } = edit_of(f[0]) else {
        panic!("not an argv fix")
    };
    let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
    let fixed = apply_to_argv(&argv, &edits).unwrap();
    assert!(
        fixed.iter().any(|a| a.contains("file.sslverify=on")),
        "{fixed:?}"
    );
    // Without verification QEMU takes the self-signed certificate...
    qemu_opens(&argv).unwrap();
    // ...with it, QEMU refuses a server it does not trust...
    let err = qemu_opens(&fixed).expect_err("QEMU trusted a self-signed certificate");
    assert!(err.contains("certificate"), "{err}");
    // ...and opens it once the CA is in the store QEMU's curl reads (the
    // store replaced by the test's CA in a private mount namespace, as
    // update-ca-certificates would add it).
    let mut cmd = Command::new(unshare);
    cmd.args(["-m", "sh", "-c"])
        .arg(format!(
            "mount --bind {} /etc/ssl/certs/ca-certificates.crt && exec \"$0\" \"$@\"",
            cert.display()
        ))
        .arg(qemu);
    qemu_opens_with(cmd, &fixed).unwrap_or_else(|e| panic!("QEMU refuses the trusted CA: {e}"));
    let (_, after) = json(&["--qemu-cmdline", &fixed.join(" ")]);
    assert!(
        findings(&after, "net.curl-sslverify-off").is_empty(),
        "{after:#}"
    );
}

#[test]
fn an_nbd_source_is_probed_with_nbdkit_and_its_delay() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bytes) = image(dir.path()) else {
        return;
    };
    let Some(nbdkit) = isotune_testutil::tool("nbdkit") else {
        return;
    };
    let iso = dir.path().join("boot.iso");
    assert_eq!(std::fs::read(&iso).unwrap(), bytes);
    let sock = dir.path().join("nbdkit.sock");
    let _server = Killed(
        Command::new(nbdkit)
            .args(["-f", "-r", "-U"])
            .arg(&sock)
            .args(["--filter=delay", "file"])
            .arg(&iso)
            .arg("rdelay=30ms")
            .spawn()
            .unwrap(),
    );
    support::wait_for(&sock);
    let url = format!("nbd+unix:///?socket={}", sock.display());
    let line = format!(
        "qemu-system-x86_64 -M q35 -drive file={url},if=none,id=cd,media=cdrom,format=raw,readonly=on \
         -device virtio-scsi-pci,id=scsi0 -device scsi-cd,drive=cd,bus=scsi0.0"
    );
    let (code, report) = json(&["--qemu-cmdline", &line, "--probe"]);
    assert_exit_matches(code, &report);
    let probe = &report["facts"]["probes"][0];
    assert_eq!(probe["kind"], "nbd", "{probe}");
    assert!(probe["error"].is_null(), "{probe}");
    assert_eq!(probe["server"], sock.display().to_string());
    // Each read waits 30 ms in the delay filter: a lower bound.
    assert!(probe["rtt_ns"].as_u64().unwrap() >= 30_000_000, "{probe}");
    assert_eq!(probe["read_bytes"], 1 << 20);
    assert!(findings(&report, "net.probe-failed").is_empty());
}

#[test]
fn a_running_qemu_on_a_redirecting_url_is_found_from_its_cmdline() {
    let dir = tempfile::tempdir().unwrap();
    let Some(bytes) = image(dir.path()) else {
        return;
    };
    let Some(qemu) = support::qemu() else {
        return;
    };
    let srv = server(&bytes, Mode::Redirect, 0);
    let url = srv.url(false);
    let vm = support::paused_vm(&qemu, &url);
    let pid = vm.0.id();
    // QEMU opened the drive (HEAD through the redirect) before it runs.
    let start = Instant::now();
    while srv
        .counters
        .heads
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "QEMU never opened {url}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, report) = json(&["--running", "--probe"]);
    assert_exit_matches(code, &report);
    let mine = format!("QEMU process {pid} ");
    let f: Vec<_> = findings(&report, "net.http-redirect")
        .into_iter()
        .filter(|f| f["subject"].as_str().unwrap().starts_with(&mine))
        .collect();
    assert_eq!(f.len(), 1, "{report:#}");
    drop(vm);
}
