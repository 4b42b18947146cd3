//! `isotune exporter`'s libvirt source against a real libvirtd: a TCG
//! domain whose SeaBIOS boots an El Torito image from an IDE cdrom. The
//! libvirt counters rise at 2048 bytes per request, the doctor's
//! `cdrom.ide-bus` finding is a metric, the device under the ISO and its
//! read-ahead are served, an ejected medium and an open tray show, and libvirt going away and coming back, or
//! hanging, is an error count, then a recovery, never an error page.
//!
//! The libvirtd is the harness's shared one (other test binaries use it at
//! the same time), so this test never stops it. It reaches it through a
//! unix-socket relay of its own (`qemu+unix:///system?socket=RELAY`):
//! stopping the relay is, for the exporter, exactly a stopped libvirtd
//! (its socket refuses), and restarting it is libvirtd back. A private
//! libvirtd is not feasible here: a second `qemu:///system` daemon would
//! share /run/libvirt/qemu and /var/lib/libvirt/qemu with the first.

use isotune_testutil as common;
use isotune_testutil::exporter::{free_port, halting_iso, metric_value as value};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::libvirtd::{Libvirtd, TestDomain};

/// The exporter process, killed when dropped (also when a test fails).
struct Exporter {
    child: Child,
    addr: String,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A unix-socket relay to libvirtd's socket; stopped (listener and every
/// relayed connection closed, socket file removed) when dropped.
struct Relay {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<UnixStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    fn start(path: &Path, upstream: &'static str) -> Relay {
        let listener = UnixListener::bind(path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let (s, c) = (Arc::clone(&stop), Arc::clone(&conns));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Acquire) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = UnixStream::connect(upstream) else {
                    continue;
                };
                let mut list = c.lock().unwrap();
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server.try_clone().unwrap(), client.try_clone().unwrap()),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
                list.push(client);
                list.push(server);
            }
        });
        Relay {
            path: path.to_path_buf(),
            stop,
            conns,
            thread: Some(thread),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn start_exporter(extra: &[&str], log: &Path) -> Exporter {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(assert_cmd::cargo::cargo_bin("isotune"))
        .args(["exporter", "--listen", &addr])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    let e = Exporter { child, addr };
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&e.addr).is_err() {
        assert!(
            Instant::now() < until,
            "the exporter did not start listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    e
}

/// `GET /metrics` over HTTP/1.0: the body; the status must be 200.
fn metrics(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    body.to_string()
}

/// Scrapes until `ok` holds for the body (at most `secs`).
fn wait_for(addr: &str, secs: u64, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let body = metrics(addr);
        if ok(&body) {
            return body;
        }
        assert!(
            Instant::now() < until,
            "{what} not seen in {secs} s:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn promtool_check(promtool: &Path, text: &str) {
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const LIBVIRT_SOCKET: &str = "/run/libvirt/libvirt-sock";

#[test]
fn libvirt_cdrom_counters_findings_read_ahead_and_libvirt_going_away() {
    let Some(promtool) = common::tool("promtool") else {
        return;
    };
    let Some(_libvirtd) = Libvirtd::acquire() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = halting_iso(dir.path()) else {
        return;
    };
    let iso_s = iso.display().to_string();
    let name = format!("{}ide", common::libvirtd::unique_prefix());
    let xml = format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='cdrom'/></os>\
         <features><acpi/></features><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>\
         <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>\
         <source file='{iso_s}'/><target dev='hda' bus='ide'/><readonly/></disk>\
         <video><model type='none'/></video></devices></domain>"
    );
    let domain = TestDomain::define(&name, &xml, dir.path());
    domain.start();

    let relay_path = dir.path().join("libvirt-relay.sock");
    let mut relay = Some(Relay::start(&relay_path, LIBVIRT_SOCKET));
    let uri = format!("qemu+unix:///system?socket={}", relay_path.display());
    let log = dir.path().join("exporter.log");
    let exporter = start_exporter(
        &[
            "--connect",
            &uri,
            "--doctor-interval",
            "1",
            "--collector-timeout",
            "5",
        ],
        &log,
    );

    let cd = [
        ("domain", name.as_str()),
        ("drive", "hda"),
        ("source", "libvirt"),
    ];
    let finding = [
        ("id", "cdrom.ide-bus"),
        ("domain", name.as_str()),
        ("drive", "hda"),
    ];
    let text = wait_for(&exporter.addr, 60, "cdrom reads and the finding", |t| {
        value(t, "isotune_cdrom_read_requests_total", &cd).unwrap_or(0.0) >= 8.0
            && value(t, "isotune_finding", &finding) == Some(1.0)
    });
    // Firmware phase on IDE: one 2048-byte sector per request.
    let reqs = value(&text, "isotune_cdrom_read_requests_total", &cd).unwrap();
    let bytes = value(&text, "isotune_cdrom_read_bytes_total", &cd).unwrap();
    assert_eq!(bytes, reqs * 2048.0, "{text}");
    assert!(value(&text, "isotune_cdrom_read_time_seconds_total", &cd).unwrap() > 0.0);
    let info = [
        ("domain", name.as_str()),
        ("source", "libvirt"),
        ("bus", "ide"),
        ("iso", iso_s.as_str()),
    ];
    assert_eq!(
        value(&text, "isotune_cdrom_info", &info),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, "isotune_cdrom_medium_present", &cd), Some(1.0));
    let size = std::fs::metadata(&iso).unwrap().len() as f64;
    assert_eq!(
        value(&text, "isotune_cdrom_iso_size_bytes", &cd),
        Some(size)
    );
    // The live XML says where the tray is (closed: no `tray=` attribute).
    assert_eq!(
        value(&text, "isotune_cdrom_tray_open", &cd),
        Some(0.0),
        "{text}"
    );
    // The domain's QEMU is counted once: its cdrom through libvirt only,
    // its CPU and memory through /proc.
    let qmp = [("domain", name.as_str()), ("source", "qmp")];
    assert_eq!(
        value(&text, "isotune_cdrom_read_requests_total", &qmp),
        None
    );
    let proc = [("domain", name.as_str()), ("source", "proc")];
    assert_eq!(
        value(&text, "isotune_qemu_vcpus", &proc),
        Some(1.0),
        "{text}"
    );
    // The finding's severity is the doctor's.
    let sev = value(
        &text,
        "isotune_finding",
        &[
            ("id", "cdrom.ide-bus"),
            ("domain", name.as_str()),
            ("severity", "warn"),
        ],
    );
    assert_eq!(sev, Some(1.0), "{text}");
    let ok = |c: &str| value(&text, "isotune_collector_success", &[("collector", c)]);
    assert_eq!(ok("libvirt"), Some(1.0), "{text}");
    assert_eq!(ok("doctor"), Some(1.0), "{text}");

    // The device under the ISO is the one its inode lives on, with its
    // read-ahead as sysfs says.
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("isotune_iso_device_read_ahead_bytes{")
                && l.contains(&format!("iso=\"{iso_s}\""))
        })
        .unwrap_or_else(|| panic!("no read-ahead series for {iso_s}:\n{text}"));
    let device = line
        .split("device=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let sys = Path::new("/sys/class/block").join(device);
    let dev = std::fs::metadata(&iso).unwrap().dev();
    let (major, minor) = (
        ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff),
        (dev & 0xff) | ((dev >> 12) & !0xff),
    );
    assert_eq!(
        std::fs::read_to_string(sys.join("dev")).unwrap().trim(),
        format!("{major}:{minor}")
    );
    let kb: f64 = std::fs::read_to_string(sys.join("queue/read_ahead_kb"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let ra = value(
        &text,
        "isotune_iso_device_read_ahead_bytes",
        &[("iso", iso_s.as_str())],
    );
    assert_eq!(ra, Some(kb * 1024.0));
    promtool_check(&promtool, &text);

    // libvirt goes away: its cdrom series go, its errors count, the rest
    // is served.
    let errors = |t: &str| {
        value(
            t,
            "isotune_collector_errors_total",
            &[("collector", "libvirt")],
        )
        .unwrap_or(0.0)
    };
    let before = errors(&text);
    drop(relay.take());
    let text = wait_for(&exporter.addr, 30, "libvirt errors", |t| {
        errors(t) > before
            && value(t, "isotune_collector_success", &[("collector", "libvirt")]) == Some(0.0)
    });
    assert_eq!(
        value(&text, "isotune_cdrom_read_requests_total", &cd),
        None,
        "{text}"
    );
    assert_eq!(
        value(&text, "isotune_qemu_vcpus", &proc),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, "isotune_build_info", &[]), Some(1.0));
    promtool_check(&promtool, &text);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged
            .lines()
            .any(|l| l.starts_with("isotune exporter: libvirt: ") && l.contains("unreachable")),
        "{logged}"
    );

    // ... and back: the next scrape connects again.
    let _relay = Relay::start(&relay_path, LIBVIRT_SOCKET);
    let text = wait_for(&exporter.addr, 30, "libvirt back", |t| {
        value(t, "isotune_collector_success", &[("collector", "libvirt")]) == Some(1.0)
            && value(t, "isotune_cdrom_read_requests_total", &cd).is_some()
    });
    assert!(value(&text, "isotune_cdrom_read_requests_total", &cd).unwrap() >= reqs);

    // `virsh change-media --eject`: the cdrom stays, with no medium, and
    // its tray state is what the live XML says.
    common::libvirtd::virsh(&["change-media", &name, "hda", "--eject", "--live"])
        .expect("virsh change-media --eject");
    let live = common::libvirtd::virsh(&["dumpxml", &name]).unwrap();
    let open = if live.contains("tray='open'") {
        1.0
    } else {
        0.0
    };
    let text = wait_for(&exporter.addr, 30, "the ejected medium", |t| {
        value(t, "isotune_cdrom_medium_present", &cd) == Some(0.0)
    });
    assert_eq!(
        value(&text, "isotune_cdrom_tray_open", &cd),
        Some(open),
        "{live}\n{text}"
    );
    // The guest's view: QEMU opens the tray (as a guest's eject would),
    // libvirt hears DEVICE_TRAY_MOVED and its live XML says tray='open'.
    common::libvirtd::virsh(&[
        "qemu-monitor-command",
        &name,
        r#"{"execute":"blockdev-open-tray","arguments":{"id":"ide0-0-0"}}"#,
    ])
    .expect("blockdev-open-tray");
    let text = wait_for(&exporter.addr, 30, "the open tray", |t| {
        value(t, "isotune_cdrom_tray_open", &cd) == Some(1.0)
    });
    assert_eq!(value(&text, "isotune_cdrom_medium_present", &cd), Some(0.0));
    // For docs/monitor.md (`--nocapture`).
    for l in text
        .lines()
        .filter(|l| l.contains(&name) && l.starts_with("isotune_cdrom_"))
    {
        eprintln!("tray open: {l}");
    }
    let empty = [("domain", name.as_str()), ("drive", "hda"), ("iso", "")];
    assert_eq!(
        value(&text, "isotune_cdrom_info", &empty),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, "isotune_cdrom_iso_size_bytes", &cd), Some(0.0));
    assert_eq!(
        value(
            &text,
            "isotune_collector_success",
            &[("collector", "libvirt")]
        ),
        Some(1.0),
        "{text}"
    );
    promtool_check(&promtool, &text);

    // A hung libvirtd: a socket that takes connections and never answers.
    // Scrapes are still answered, the libvirt collector fails, and it
    // leaves one thread waiting, not one per scrape.
    drop(_relay);
    let hung = UnixListener::bind(&relay_path).unwrap();
    let before = errors(&text);
    let text = wait_for(&exporter.addr, 60, "libvirt hung", |t| {
        errors(t) > before
            && value(t, "isotune_collector_success", &[("collector", "libvirt")]) == Some(0.0)
    });
    assert_eq!(
        value(&text, "isotune_qemu_vcpus", &proc),
        Some(1.0),
        "{text}"
    );
    let tasks = || {
        std::fs::read_dir(format!("/proc/{}/task", exporter.child.id()))
            .unwrap()
            .count()
    };
    let first = tasks();
    for _ in 0..10 {
        metrics(&exporter.addr);
    }
    let last = tasks();
    assert!(last < first + 5, "threads grew from {first} to {last}");
    drop(hung);
    drop(exporter);
    drop(domain);
}

#[test]
fn a_bad_doctor_interval_or_an_empty_connect_exits_2() {
    for args in [
        &["--doctor-interval", "0"][..],
        &["--doctor-interval", "nan"][..],
        &["--connect", " "][..],
    ] {
        let out = Command::new(assert_cmd::cargo::cargo_bin("isotune"))
            .args(["exporter", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.lines().count() == 1 && err.contains(args[0]),
            "{args:?}: {err}"
        );
    }
}
