//! `isotune bench URL` end to end on loopback: busybox httpd, the test
//! Range server of isotune-testutil (latency, TLS, no ranges, redirects,
//! garbage), nbdkit (`file` plugin + `delay` filter) and qemu-nbd. Every
//! network result is checked against the same workloads read from the local
//! file: the same requests and bytes; with a delay of D per request the
//! time is at least 0.8 x requests x D (never an upper bound on time).

use isotune_testutil as common;

mod support;
use support::{bench_json, isotune};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::exporter::{free_port, Killed};
use common::rangeserver::{Config, Mode, RangeServer};
use serde_json::Value;

/// An isolinux-booting image in `dir/www`.
fn boot_image(dir: &Path) -> Option<PathBuf> {
    let iso = dir.join("www").join("boot.iso");
    std::fs::create_dir_all(iso.parent().unwrap()).unwrap();
    common::isolinux_image(dir, &iso)?;
    Some(iso)
}

/// The boot image and the path of `tool`; `None` (skipped) without either.
fn image_and_tool(dir: &Path, tool: &str) -> Option<(PathBuf, PathBuf)> {
    let iso = boot_image(dir)?;
    Some((iso, common::tool(tool)?))
}

/// Runs bench on `target` expecting exit 2 and returns its one-line stderr.
fn bench_error(args: &[&str], target: &str) -> String {
    let out = isotune()
        .arg("bench")
        .args(args)
        .args(["--quiet", "--runs", "1", "--warmup", "0"])
        .arg(target)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{target}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

/// (name, request_count, request_bytes, bytes of run 1, requests of run 1).
fn shape(report: &Value) -> Vec<(String, u64, u64, u64, u64)> {
    report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap().to_owned(),
                w["request_count"].as_u64().unwrap(),
                w["request_bytes"].as_u64().unwrap(),
                w["runs"][0]["bytes"].as_u64().unwrap(),
                w["runs"][0]["requests"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The boot trace in 128 KiB requests, two runs.
const BOOT_LINUX_IDE: &[&str] = &[
    "-w",
    "boot",
    "--profile",
    "linux-ide",
    "--runs",
    "2",
    "--warmup",
    "0",
];

const SAME: &[&str] = &[
    "-w",
    "seq,rand,boot",
    "--profile",
    "bios-virtio,linux-ide",
    "--runs",
    "1",
    "--warmup",
    "0",
    "--size",
    "2M",
];

fn assert_same_as_local(url: &str, iso: &Path) -> Value {
    let local = bench_json(SAME, iso.to_str().unwrap());
    let net = bench_json(SAME, url);
    assert_eq!(shape(&net), shape(&local), "{url}");
    assert_eq!(net["target"]["size_bytes"], local["target"]["size_bytes"]);
    assert_eq!(
        net["network"]["source"]["size_bytes"],
        local["target"]["size_bytes"]
    );
    net
}

/// Asserts that `workload` took at least 0.8 x requests x `delay` per
/// run, divided by the connections in use.
fn assert_delay_shows(report: &Value, workload: &str, delay: Duration) {
    let w = report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == workload)
        .unwrap();
    let depth = w["queue_depth"].as_u64().unwrap() as f64;
    for run in w["runs"].as_array().unwrap() {
        let requests = run["requests"].as_u64().unwrap() as f64;
        let elapsed = run["elapsed_ns"].as_u64().unwrap() as f64;
        let floor = 0.8 * requests * delay.as_nanos() as f64 / depth;
        assert!(elapsed >= floor, "{workload}: {elapsed} ns < {floor} ns");
    }
}

#[test]
fn busybox_httpd_reads_like_the_local_file() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = boot_image(dir.path()) else {
        return;
    };
    let Some(httpd) = common::http::Httpd::start(iso.parent().unwrap()) else {
        return;
    };
    let url = format!("http://127.0.0.1:{}/boot.iso", httpd.port);
    let net = assert_same_as_local(&url, &iso);
    assert_eq!(net["target"]["kind"], "http");
    assert_eq!(net["workloads"][0]["engine"], "http");
    assert_eq!(net["workloads"][0]["cache_mode"], "server");
    let preds = net["network"]["boot_predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 2);
    for p in preds {
        let ra = p["curl_readahead"].as_array().unwrap();
        assert_eq!(ra.len(), 5);
        // More readahead never sends more requests for a replayed trace.
        let counts: Vec<u64> = ra
            .iter()
            .map(|r| r["server_requests"].as_u64().unwrap())
            .collect();
        assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
        assert!(counts[0] <= p["requests"].as_u64().unwrap());
    }
    // The human report shows the probe and the predictions.
    let out = isotune()
        .args([
            "bench", "-w", "boot", "--runs", "1", "--warmup", "0", "--quiet", &url,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("round trip") && text.contains("curl readahead=256k (default)"),
        "{text}"
    );
}

#[test]
fn per_request_latency_shows_in_the_time_and_connections_divide_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = boot_image(dir.path()) else {
        return;
    };
    let delay = Duration::from_millis(5);
    let server = RangeServer::start(
        std::fs::read(&iso).unwrap(),
        Config {
            delay,
            ..Config::default()
        },
    );
    let url = server.url(false);
    let args = BOOT_LINUX_IDE;
    let local = bench_json(args, iso.to_str().unwrap());
    let net = bench_json(args, &url);
    assert_eq!(shape(&net), shape(&local));
    assert_delay_shows(&net, "boot-linux-ide", delay);
    let p = &net["network"]["boot_predictions"][0];
    let requests = p["requests"].as_u64().unwrap() as f64;
    assert!(
        p["predicted_seconds"].as_f64().unwrap() >= 0.8 * requests * 0.005,
        "{p}"
    );
    assert!(
        net["network"]["source"]["round_trip"]["request_ns"]
            .as_u64()
            .unwrap()
            >= 4_000_000
    );

    // Four connections: four requests in flight, a quarter of the floor.
    let args = [
        "-w",
        "rand",
        "--size",
        "1M",
        "--connections",
        "4",
        "--runs",
        "1",
        "--warmup",
        "0",
    ];
    let net = bench_json(&args, &url);
    assert_eq!(net["workloads"][0]["queue_depth"], 4);
    assert_eq!(net["network"]["connections"], 4);
    assert_eq!(net["workloads"][0]["runs"][0]["requests"], 256);
    assert_delay_shows(&net, "rand-4k", delay);
}

#[test]
fn https_with_a_self_signed_certificate_and_cacert() {
    let dir = tempfile::tempdir().unwrap();
    let Some(iso) = boot_image(dir.path()) else {
        return;
    };
    let Some((cert, key)) = common::tls::self_signed(dir.path()) else {
        return;
    };
    let server = RangeServer::start(
        std::fs::read(&iso).unwrap(),
        Config {
            tls: Some((cert.clone(), key)),
            ..Config::default()
        },
    );
    let url = server.url(true);
    let mut args = SAME.to_vec();
    args.extend(["--cacert", cert.to_str().unwrap()]);
    let local = bench_json(SAME, iso.to_str().unwrap());
    let net = bench_json(&args, &url);
    assert_eq!(shape(&net), shape(&local));
    assert_eq!(net["network"]["source"]["tls"], true);
    // Without --cacert the system roots do not know the certificate...
    let err = bench_error(&["-w", "seq"], &url);
    assert!(err.contains("TLS") || err.contains("certificate"), "{err}");
    // ...unless the system bundle is pointed at it (SSL_CERT_FILE).
    let out = isotune()
        .env("SSL_CERT_FILE", &cert)
        .args([
            "bench", "-w", "seq", "--runs", "1", "--warmup", "0", "--quiet", &url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn servers_that_qemu_cannot_use_and_broken_ones_are_one_line_errors() {
    let image = common::Rng::new(5).bytes(1 << 20);
    let start = |mode| {
        RangeServer::start(
            image.clone(),
            Config {
                mode,
                ..Config::default()
            },
        )
    };
    let s = start(Mode::NoRanges);
    let err = bench_error(&["-w", "seq"], &s.url(false));
    assert!(
        err.contains("does not serve byte ranges") && err.contains("QEMU's curl driver refuses"),
        "{err}"
    );
    let s = start(Mode::Garbage);
    assert!(bench_error(&["-w", "seq"], &s.url(false)).contains("not an HTTP"));
    let s = start(Mode::Truncate);
    assert!(bench_error(&["-w", "seq"], &s.url(false)).contains("truncated"));
    let s = start(Mode::RedirectLoop);
    assert!(bench_error(&["-w", "seq"], &s.url(false)).contains("more than 10 redirects"));
    let dead = format!("http://127.0.0.1:{}/x.iso", free_port());
    assert!(bench_error(&["-w", "seq"], &dead).contains("cannot connect"));
    let dead = format!("nbd://127.0.0.1:{}/x", free_port());
    assert!(bench_error(&["-w", "seq"], &dead).contains("cannot connect"));
    // A server that accepts and never answers: the timeout, not a hang.
    let stalled = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x.iso", stalled.local_addr().unwrap());
    let err = bench_error(&["-w", "seq", "--net-timeout", "0.5"], &url);
    assert!(err.contains("timed out"), "{err}");
    let url = format!("nbd://{}/x", stalled.local_addr().unwrap());
    let err = bench_error(&["-w", "seq", "--net-timeout", "0.5"], &url);
    assert!(err.contains("timed out"), "{err}");

    // A server that dies in the middle of a run: the URL and the offset.
    let s = start(Mode::DieAfterGets(20));
    let err = bench_error(&["-w", "seq", "--seq-block", "64k"], &s.url(false));
    assert!(
        err.contains(&s.url(false)) && err.contains("at offset") && err.contains("closed"),
        "{err}"
    );

    // ...and the workloads that finished before are still reported.
    let s = start(Mode::DieAfterGets(30));
    let out = isotune()
        .args([
            "bench",
            "-w",
            "seq,rand",
            "--seq-block",
            "64k",
            "--runs",
            "1",
            "--warmup",
            "0",
        ])
        .args(["--json", "--quiet", &s.url(false)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the rand-4k workload failed") && stderr.contains("at offset"),
        "{stderr}"
    );
    let partial: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(partial["workloads"].as_array().unwrap().len(), 1);
    assert_eq!(partial["workloads"][0]["name"], "seq-64k");
    assert_eq!(partial["notices"][0]["code"], "workload-failed");

    // A redirect is followed and reported; credentials never appear.
    let s = start(Mode::Redirect);
    let url = s.url(false).replace("http://", "http://bob:hunter2@");
    let args = ["-w", "seq", "--runs", "1", "--warmup", "0"];
    let out = isotune()
        .arg("bench")
        .args(args)
        .args(["--json", "--quiet", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(!json.contains("hunter2") && json.contains("***@"), "{json}");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["network"]["source"]["redirects"], 1);
    let out = isotune()
        .arg("bench")
        .args(args)
        .args(["--quiet", &url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("redirected 1 time(s)") && !text.contains("hunter2"),
        "{text}"
    );
}

#[test]
fn url_refuses_local_only_flags() {
    let s = RangeServer::start(vec![0; 1 << 20], Config::default());
    let url = s.url(false);
    for (flags, text) in [
        (&["--direct"][..], "--direct is for files"),
        (&["--engine", "io_uring"][..], "--engine is for files"),
        (&["--cache", "warm"][..], "--cache is for files"),
    ] {
        assert!(bench_error(flags, &url).contains(text), "{flags:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.iso");
    std::fs::write(&file, vec![0u8; 1 << 20]).unwrap();
    assert!(bench_error(&["--connections", "2"], file.to_str().unwrap()).contains("is for URLs"));
}

#[test]
fn baseline_compares_network_runs() {
    let s = RangeServer::start(common::Rng::new(9).bytes(4 << 20), Config::default());
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    let args = [
        "-w", "seq,rand", "--size", "1M", "--runs", "3", "--warmup", "0",
    ];
    let report = bench_json(&args, s.url(false));
    std::fs::write(&base, report.to_string()).unwrap();
    let mut with = args.to_vec();
    with.extend(["--baseline", base.to_str().unwrap()]);
    let again = bench_json(&with, s.url(false));
    assert_eq!(again["comparison"].as_array().unwrap().len(), 2);
}

fn wait_for(path: &Path) {
    for _ in 0..200 {
        if path.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{} never appeared", path.display());
}

fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on {port}");
}

#[test]
fn nbdkit_with_the_delay_filter_reads_like_the_local_file() {
    let dir = tempfile::tempdir().unwrap();
    let Some((iso, nbdkit)) = image_and_tool(dir.path(), "nbdkit") else {
        return;
    };
    // TCP, no delay: the same requests and bytes as the file.
    let port = free_port();
    let _tcp = Killed(
        Command::new(&nbdkit)
            .args([
                "-f",
                "-r",
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "file",
            ])
            .arg(&iso)
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);
    let net = assert_same_as_local(&format!("nbd://127.0.0.1:{port}"), &iso);
    let nbd = &net["network"]["source"]["nbd"];
    assert_eq!(nbd["negotiation"], "go");
    assert_eq!(nbd["read_only"], true);

    // A Unix socket with 2 ms per read: the time shows it.
    let sock = dir.path().join("nbdkit.sock");
    let _unix = Killed(
        Command::new(&nbdkit)
            .args(["-f", "-r", "-U"])
            .arg(&sock)
            .args(["--filter=delay", "file"])
            .arg(&iso)
            .arg("rdelay=2ms")
            .spawn()
            .unwrap(),
    );
    wait_for(&sock);
    let url = format!("nbd+unix:///?socket={}", sock.display());
    let args = BOOT_LINUX_IDE;
    let net = bench_json(args, &url);
    let local = bench_json(args, iso.to_str().unwrap());
    assert_eq!(shape(&net), shape(&local));
    assert_delay_shows(&net, "boot-linux-ide", Duration::from_millis(2));
}

#[test]
fn qemu_nbd_over_a_unix_socket_reads_like_the_local_file() {
    let dir = tempfile::tempdir().unwrap();
    let Some((iso, qemu_nbd)) = image_and_tool(dir.path(), "qemu-nbd") else {
        return;
    };
    let sock = dir.path().join("qemu-nbd.sock");
    // -t: stay up after a client leaves; -e: the probe opens several connections.
    let _server = Killed(
        Command::new(qemu_nbd)
            .args(["--read-only", "-f", "raw", "-t", "-e", "16", "-k"])
            .arg(&sock)
            .arg(&iso)
            .spawn()
            .unwrap(),
    );
    wait_for(&sock);
    assert_same_as_local(&format!("nbd+unix:///?socket={}", sock.display()), &iso);
}
