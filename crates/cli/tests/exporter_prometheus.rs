//! `isotune exporter` scraped by a real Prometheus (Debian's 2.42) every
//! second, with the rules of `deploy/prometheus` (a test copy with short
//! `for:`), while a real libvirt TCG domain (the harness's shared libvirtd)
//! boots from an IDE cdrom: the read counters rise, bytes per request is
//! 2048, the IDE alert fires, and every query of the Grafana dashboard
//! returns series. Everything started is stopped by Drop guards (the domain
//! destroyed and undefined), also when an assertion fails. The plain-QEMU
//! (QMP) source is covered by `exporter.rs`; one TCG boot serves both the
//! libvirt source and Prometheus here.

use isotune_testutil as common;
use isotune_testutil::exporter::{free_addr, halting_iso, Killed};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::libvirtd::{virsh, Libvirtd, TestDomain};
use serde_json::Value;

fn wait_listening(addr: &str, what: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < until,
            "{what} did not start listening on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The result vector of an instant query.
fn query(prom: &str, q: &str) -> Vec<Value> {
    let body = http_get(prom, &format!("/api/v1/query?query={}", encode(q)));
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{q}: {e}: {body}"));
    assert_eq!(v["status"], "success", "{q}: {body}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn sample(v: &Value) -> f64 {
    v["value"][1].as_str().unwrap().parse().unwrap()
}

/// Polls `q` until some series satisfies `ok`.
fn wait_for(prom: &str, q: &str, ok: impl Fn(&Value) -> bool, what: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(v) = query(prom, q).into_iter().find(|v| ok(v)) {
            return v;
        }
        assert!(
            Instant::now() < until,
            "{what}: {q} -> {:?}",
            query(prom, q)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn prometheus_scrapes_alerts_and_answers_every_dashboard_query() {
    let dir = tempfile::tempdir().unwrap();
    let Some(prometheus) = common::tool("prometheus") else {
        return;
    };
    let Some(_libvirtd) = Libvirtd::acquire() else {
        return;
    };
    let Some(iso) = halting_iso(dir.path()) else {
        return;
    };
    let name = format!("{}prom", common::libvirtd::unique_prefix());
    let iso_s = iso.display().to_string();
    let xml = format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='cdrom'/></os>\
         <features><acpi/></features><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>\
         <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>\
         <source file='{iso_s}'/><target dev='hda' bus='ide'/><readonly/></disk>\
         <video><model type='none'/></video></devices></domain>"
    );
    let domain = TestDomain::define(&name, &xml, dir.path());
    // Paused until Prometheus has scraped it once, so the boot's reads show
    // up as a rise of the counters.
    virsh(&["start", "--paused", &name]).expect("virsh start --paused");

    let exporter_addr = free_addr();
    let _exporter = Killed(
        Command::new(assert_cmd::cargo::cargo_bin("isotune"))
            .args(["exporter", "--listen", &exporter_addr])
            .args(["--connect", common::libvirtd::URI, "--doctor-interval", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(&exporter_addr, "isotune exporter");

    // The shipped rules with every `for:` shortened to one second.
    let rules =
        std::fs::read_to_string(repo().join("deploy/prometheus/isotune-rules.yml")).unwrap();
    let rules: String = rules
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 1s\n", &l[..l.len() - l.trim_start().len()]),
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         rule_files: [rules.yml]\n\
         scrape_configs:\n  - job_name: isotune\n    static_configs:\n      - targets: ['{exporter_addr}']\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let prom = free_addr();
    let _prometheus = Killed(
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prom}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(&prom, "prometheus");
    // Listening is not ready: until its storage is open Prometheus answers
    // queries with 503 Service Unavailable.
    let until = Instant::now() + Duration::from_secs(60);
    while !http_get(&prom, "/-/ready").contains("Ready") {
        assert!(Instant::now() < until, "prometheus never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }

    let sel = format!("{{domain=\"{name}\"}}");
    wait_for(
        &prom,
        &format!("isotune_cdrom_read_requests_total{sel}"),
        |_| true,
        "first scrape",
    );
    virsh(&["resume", &name]).expect("virsh resume");

    // The counters rise; firmware on IDE reads 2048 bytes per request.
    let rising = wait_for(
        &prom,
        &format!("increase(isotune_cdrom_read_requests_total{sel}[1m])"),
        |v| sample(v) > 0.0,
        "cdrom reads",
    );
    assert_eq!(rising["metric"]["drive"], "hda");
    assert_eq!(rising["metric"]["source"], "libvirt");
    let bpr = wait_for(
        &prom,
        &format!("isotune:cdrom_bytes_per_request:rate1m{sel}"),
        |_| true,
        "bytes per request",
    );
    assert_eq!(sample(&bpr), 2048.0, "{bpr}");

    // The IDE alert fires for this VM.
    let alert = wait_for(
        &prom,
        &format!(
            "ALERTS{{alertname=\"IsotuneCdromOnIde\",alertstate=\"firing\",domain=\"{name}\"}}"
        ),
        |_| true,
        "IsotuneCdromOnIde",
    );
    assert_eq!(alert["metric"]["iso"], iso_s.as_str());

    // The dashboard: its structure, then each panel's query returns series.
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/grafana/isotune.json")).unwrap(),
    )
    .unwrap();
    let vars: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["datasource", "domain"]);
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 6);
    let mut ids: Vec<i64> = panels.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    for p in panels {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap().replace("$domain", &name);
            wait_for(&prom, &expr, |_| true, p["title"].as_str().unwrap());
        }
    }
    drop(domain);
}
