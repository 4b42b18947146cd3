//! End-to-end tests of `isotune exporter`: the real binary serving metrics
//! of a real QEMU (TCG) whose SeaBIOS boots an El Torito image from an IDE
//! cdrom, checked with promtool; HTTP routes, concurrent scrapes, a slow
//! client, a QMP socket that refuses, a VM that disappears.

use isotune_testutil as common;
use isotune_testutil::exporter::{free_port, halting_iso, metric_value as value};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::boot::Qemu;

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

fn start(extra: &[&str]) -> Exporter {
    start_logging(extra, None)
}

/// Starts the exporter with its stderr in `log` (when given).
fn start_logging(extra: &[&str], log: Option<&Path>) -> Exporter {
    let addr = format!("127.0.0.1:{}", free_port());
    let stderr = match log {
        Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
        None => Stdio::null(),
    };
    let child = Command::new(assert_cmd::cargo::cargo_bin("isotune"))
        .args(["exporter", "--listen", &addr])
        .args(extra)
        // These tests are about QMP and /proc; a libvirtd that other tests
        // run on this host must not add a collector (exporter_libvirt.rs).
        .env("ISOTUNE_NO_LIBVIRT", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
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

/// One HTTP/1.0 GET: (status, head, body).
fn get(addr: &str, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n{accept}\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn domain_name(tag: &str) -> String {
    let mut rng = common::Rng::new(std::process::id().into());
    format!("isotune-test-{tag}-{:x}", rng.next_u64())
}

#[test]
fn ide_cdrom_reads_cpu_and_page_cache_of_a_running_vm() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = halting_iso(dir.path()) else {
        return;
    };
    let Some(promtool) = common::tool("promtool") else {
        return;
    };
    let name = domain_name("ide");
    let iso_s = iso.display().to_string();
    let Some(mut vm) = Qemu::spawn(
        dir.path(),
        &["-name", &name, "-m", "64", "-smp", "2", "-cdrom", &iso_s],
    ) else {
        return;
    };
    // A QMP socket nobody listens on: connect is refused.
    let refusing = dir.path().join("refusing.sock");
    drop(std::os::unix::net::UnixListener::bind(&refusing).unwrap());
    let log = dir.path().join("exporter.log");
    let exporter = start_logging(&["--qmp", refusing.to_str().unwrap()], Some(&log));

    let cd = [("domain", name.as_str()), ("drive", "ide1-cd0")];
    let until = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let (status, _, body) = get(&exporter.addr, "/metrics", None);
        assert_eq!(status, 200, "{body}");
        if value(&body, "isotune_cdrom_read_requests_total", &cd).unwrap_or(0.0) >= 8.0 {
            break body;
        }
        assert!(vm.exited().is_none(), "QEMU exited: {:?}", vm.exited());
        assert!(Instant::now() < until, "no cdrom reads seen:\n{body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    // Firmware phase on IDE: one 2048-byte sector per request.
    let reqs = value(&text, "isotune_cdrom_read_requests_total", &cd).unwrap();
    let bytes = value(&text, "isotune_cdrom_read_bytes_total", &cd).unwrap();
    assert_eq!(bytes, reqs * 2048.0, "{text}");
    assert!(value(&text, "isotune_cdrom_read_time_seconds_total", &cd).unwrap() > 0.0);
    let info = [
        ("domain", name.as_str()),
        ("bus", "ide"),
        ("iso", iso_s.as_str()),
    ];
    assert_eq!(
        value(&text, "isotune_cdrom_info", &info),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, "isotune_cdrom_tray_open", &cd), Some(0.0));
    assert_eq!(value(&text, "isotune_cdrom_medium_present", &cd), Some(1.0));
    let size = std::fs::metadata(&iso).unwrap().len() as f64;
    assert_eq!(
        value(&text, "isotune_cdrom_iso_size_bytes", &cd),
        Some(size)
    );
    let vmq = [("domain", name.as_str()), ("source", "proc")];
    assert_eq!(
        value(&text, "isotune_qemu_vcpus", &vmq),
        Some(2.0),
        "{text}"
    );
    assert!(value(&text, "isotune_qemu_cpu_seconds_total", &vmq).unwrap() > 0.0);
    assert!(value(&text, "isotune_qemu_resident_memory_bytes", &vmq).unwrap() > 1e6);
    let isol = [("iso", iso_s.as_str())];
    assert_eq!(value(&text, "isotune_iso_size_bytes", &isol), Some(size));
    // The guest read the boot image through the host page cache.
    assert!(value(&text, "isotune_iso_page_cache_bytes", &isol).unwrap() > 0.0);
    // The refusing socket is an error of the qmp collector, not an error page.
    let qmp = [("collector", "qmp")];
    assert!(value(&text, "isotune_collector_errors_total", &qmp).unwrap() >= 1.0);
    assert_eq!(value(&text, "isotune_collector_success", &qmp), Some(0.0));
    assert_eq!(value(&text, "isotune_build_info", &[]), Some(1.0));
    // ... and says why on stderr, one line naming the socket.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged
            .lines()
            .any(|l| l.starts_with("isotune exporter: qmp: QMP socket")
                && l.contains("refusing.sock")),
        "{logged}"
    );

    // The text format passes promtool's parser and linter.
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
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // OpenMetrics by content negotiation: same series, `# EOF` at the end.
    let (status, head, om) = get(
        &exporter.addr,
        "/metrics",
        Some("application/openmetrics-text; version=1.0.0"),
    );
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(
        om.contains("# TYPE isotune_cdrom_read_requests counter"),
        "{om}"
    );
    assert!(value(&om, "isotune_cdrom_read_requests_total", &cd).unwrap() >= reqs);

    // The VM goes away: the next scrape still answers, without it.
    drop(vm);
    std::thread::sleep(Duration::from_millis(300));
    let (status, _, after) = get(&exporter.addr, "/metrics", None);
    assert_eq!(status, 200);
    assert_eq!(
        value(&after, "isotune_cdrom_read_requests_total", &cd),
        None,
        "{after}"
    );
    assert_eq!(value(&after, "isotune_qemu_vcpus", &vmq), None);
    assert_eq!(value(&after, "isotune_build_info", &[]), Some(1.0));
}

#[test]
fn routes_concurrent_scrapes_and_a_slow_client() {
    let exporter = start(&["--max-scrapes", "4"]);
    let (status, head, body) = get(&exporter.addr, "/", None);
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("text/html"));
    assert!(body.contains("href=\"/metrics\""), "{body}");
    assert_eq!(get(&exporter.addr, "/-/healthy", None).0, 200);
    assert_eq!(get(&exporter.addr, "/nothing", None).0, 404);

    // A client that sends half a request and then waits.
    let mut slow = TcpStream::connect(&exporter.addr).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();

    // 200 scrapes at once: every one answers, 200 or 503 (over the limit).
    let addr = exporter.addr.clone();
    let handles: Vec<_> = (0..200)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || get(&addr, "/metrics", None))
        })
        .collect();
    let mut ok = 0;
    for h in handles {
        let (status, _, body) = h.join().unwrap();
        assert!(status == 200 || status == 503, "status {status}");
        if status == 200 {
            assert!(body.contains("isotune_build_info"), "{body}");
            ok += 1;
        }
    }
    assert!(ok >= 1, "no scrape succeeded");
    // The slow client still holds its connection; others are served.
    let (status, _, body) = get(&exporter.addr, "/metrics", None);
    assert_eq!(status, 200);
    assert!(body.contains("isotune_collector_duration_seconds"));
    drop(slow);
}

#[test]
fn a_listen_address_that_cannot_be_bound_exits_2() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(assert_cmd::cargo::cargo_bin("isotune"))
        .args(["exporter", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&addr) && err.lines().count() == 1, "{err}");

    let out = Command::new(assert_cmd::cargo::cargo_bin("isotune"))
        .args(["exporter", "--collector-timeout", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
