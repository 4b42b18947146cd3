//! End-to-end tests of `isotune boot --source` (issue 12, the boot part)
//! with real qemu-system-x86_64 under TCG, QEMU's curl driver
//! (qemu-block-extra), nbdkit and qemu-nbd: the firmware workload booted
//! from the file, isotune's HTTP server at 0 and 2 ms with three readahead
//! values, and nbdkit; HTTP at a bandwidth limit; GRUB over HTTP; URLs the
//! user serves; bad sources.
//! Structure and counts are asserted, never times (the timings are in
//! scripts/bench/boot-net.sh).

use isotune_testutil as common;

use std::path::{Path, PathBuf};

use common::exporter::Killed;
use common::rangeserver::{Config, Mode, RangeServer};
use isotune_bench::engine::Request;
use isotune_bench::predict::curl_replay;
use serde_json::Value;

mod support;
use support::*;

/// The firmware workload written to `dir`, with its layout.
fn firmware_iso(dir: &Path, payload_bytes: u64) -> isotune_qemu::workload::FirmwareIso {
    isotune_qemu::workload::write_firmware_iso(&dir.join("fw.iso"), payload_bytes).unwrap()
}

fn boot_json(tmp: &Path, args: &[&str]) -> Value {
    ok_json(boot_cmd(tmp).arg("--json").args(args))
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// The HTTP server's median GET count over a configuration's runs.
fn server_gets(c: &Value) -> u64 {
    median(
        c["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["server"]["requests"].as_u64().unwrap())
            .collect(),
    )
}

#[test]
fn firmware_workload_from_file_http_and_nbd() {
    if qemu().is_none() || common::tool("nbdkit").is_none() {
        return;
    }
    let tmp = tmpdir();
    let work = tempfile::tempdir().unwrap();
    let payload = 8u64 << 20;
    let fw = firmware_iso(work.path(), payload);
    let iso = fw.path.to_str().unwrap();
    let md = work.path().join("boot.md");
    // AHCI: SeaBIOS reads 32 KiB per request there (IDE: 2 KiB), the
    // fastest bus for this workload under TCG.
    let v = boot_json(
        tmp.path(),
        &[
            iso,
            "--until",
            &fw.done_marker,
            "--marker",
            &format!("start={}", fw.start_marker),
            "--bus",
            "ahci",
            "--runs",
            "3",
            "--source",
            "file",
            "--source",
            "http",
            "--source",
            "nbd",
            "--net-delay",
            "0",
            "--net-delay",
            "2",
            "--readahead",
            "256K",
            "--readahead",
            "2M",
            "--readahead",
            "2K",
            "--markdown",
            md.to_str().unwrap(),
        ],
    );
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("Network source:"), "{text}");
    assert!(
        text.contains("- at 2 ms per request and unlimited bandwidth, choose ahci/"),
        "{text}"
    );
    let names: Vec<&str> = v["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["config"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ahci/file",
            "ahci/http/0ms/ra=256K",
            "ahci/http/2ms/ra=256K",
            "ahci/http/0ms/ra=2M",
            "ahci/http/2ms/ra=2M",
            "ahci/http/0ms/ra=2K",
            "ahci/http/2ms/ra=2K",
            "ahci/nbd/0ms",
            "ahci/nbd/2ms",
        ]
    );
    // Every run booted; the guest read the same bytes in the same requests
    // whatever served them.
    let file = config(&v, "ahci/file");
    let bytes = file["runs"][0]["rd_bytes"].as_u64().unwrap();
    let ops = file["runs"][0]["rd_operations"].as_u64().unwrap();
    assert!(bytes >= payload, "{file:#}");
    for name in &names {
        let c = config(&v, name);
        assert!(c["failures"].as_array().unwrap().is_empty(), "{c:#}");
        assert_eq!(c["runs"].as_array().unwrap().len(), 3, "{name}");
        for r in c["runs"].as_array().unwrap() {
            assert_eq!(r["end"], "marker", "{name}: {r:#}");
            assert_eq!(r["rd_bytes"].as_u64().unwrap(), bytes, "{name}: {r:#}");
            assert_eq!(r["rd_operations"].as_u64().unwrap(), ops, "{name}: {r:#}");
        }
    }
    // The JSON says what served each configuration.
    let c = &config(&v, "ahci/http/2ms/ra=2M")["config"]["source"];
    assert_eq!(c["kind"], "http");
    assert_eq!(c["readahead_bytes"], 2 << 20);
    assert_eq!(c["delay_ms"], 2);
    assert_eq!(
        config(&v, "ahci/nbd/2ms")["config"]["source"]["kind"],
        "nbd"
    );
    assert!(config(&v, "ahci/nbd/2ms")["argv"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a.as_str().unwrap().contains("nbd+unix:///?socket=")));

    // The Range requests QEMU's curl driver sent match the readahead model
    // of crates/bench/src/predict.rs fed with the guest's reads: the
    // payload read in requests of the size the counters show, from its
    // first sector, after one read of the first volume descriptor and one
    // of the boot program. The firmware's other early reads (catalog,
    // descriptors: the requests before the start marker) are not in the
    // model; each adds at most one server request, so that count is the
    // tolerance.
    let start_ops = median(
        file["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["phase_reads"]["start"]["rd_operations"].as_u64().unwrap())
            .collect(),
    );
    let start = &file["runs"][0]["phase_reads"]["start"];
    let per_request = ((bytes - start["rd_bytes"].as_u64().unwrap()) as f64
        / (ops - start["rd_operations"].as_u64().unwrap()) as f64)
        .round() as u32;
    assert_eq!(per_request, 32 << 10, "AHCI reads 32 KiB per request");
    let mut trace = vec![
        Request {
            offset: 16 * 2048,
            len: 2048,
        },
        Request {
            offset: fw.boot_lba * 2048,
            len: 2048,
        },
    ];
    let mut at = fw.payload_lba * 2048;
    let end = at + fw.read_bytes;
    while at < end {
        let len = (end - at).min(u64::from(per_request)) as u32;
        trace.push(Request { offset: at, len });
        at += u64::from(len);
    }
    for (name, ra) in [
        ("ahci/http/0ms/ra=256K", 256u64 << 10),
        ("ahci/http/2ms/ra=256K", 256 << 10),
        ("ahci/http/0ms/ra=2M", 2 << 20),
        ("ahci/http/2ms/ra=2M", 2 << 20),
        ("ahci/http/0ms/ra=2K", 2 << 10),
        ("ahci/http/2ms/ra=2K", 2 << 10),
    ] {
        let (model, _) = curl_replay(&trace, fw.image_bytes, ra);
        let got = server_gets(config(&v, name));
        eprintln!("{name}: server GETs {got}, model {model}, tolerance {start_ops}");
        assert!(
            got.abs_diff(model) <= start_ops,
            "{name}: {got} GETs, model {model} ± {start_ops}"
        );
    }
    // A sequential reader: the large readahead needs fewer requests, and a
    // `readahead=2048` (bytes, not 2 MiB) sends one per guest read.
    assert!(
        server_gets(config(&v, "ahci/http/2ms/ra=2M"))
            < server_gets(config(&v, "ahci/http/2ms/ra=256K"))
    );
    assert!(
        server_gets(config(&v, "ahci/http/2ms/ra=2K"))
            > 4 * server_gets(config(&v, "ahci/http/2ms/ra=256K"))
    );
    // Advice at each latency, naming a configuration of that latency.
    let advice = v["source_advice"].as_array().unwrap();
    for delay in [0, 2] {
        let a = advice
            .iter()
            .find(|a| a["delay_ms"] == delay)
            .unwrap_or_else(|| panic!("no advice at {delay} ms: {v:#}"));
        assert!(
            a["best"].as_str().unwrap().contains(&format!("/{delay}ms")),
            "{a:#}"
        );
        assert_eq!(a["others"].as_array().unwrap().len(), 3, "{a:#}");
    }
    assert_nothing_left(tmp.path());
    assert!(nbdkit_processes().is_empty());
}

/// `--net-rate`: isotune's HTTP server paces its answers, so a run that
/// fetched B bytes at R bit/s took at least (B - one paced chunk) * 8 / R
/// seconds (the last chunk's slot is not waited out). A lower bound only.
#[test]
fn http_at_a_rate_takes_at_least_its_bytes_over_the_rate() {
    if qemu().is_none() {
        return;
    }
    let tmp = tmpdir();
    let work = tempfile::tempdir().unwrap();
    let fw = firmware_iso(work.path(), 4 << 20);
    let rate = 20_000_000u64;
    let v = boot_json(
        tmp.path(),
        &[
            fw.path.to_str().unwrap(),
            "--until",
            &fw.done_marker,
            "--bus",
            "ahci",
            "--runs",
            "1",
            "--source",
            "http",
            "--net-rate",
            "20M",
        ],
    );
    let c = &v["configs"][0];
    assert_eq!(c["config"]["source"]["rate_bits_per_s"], rate, "{c:#}");
    let run = &c["runs"][0];
    assert_eq!(run["end"], "marker", "{c:#}");
    let sent = run["server"]["bytes"].as_u64().unwrap();
    assert!(sent >= 4 << 20, "{run:#}");
    let floor = (sent - isotune_net::serve::PACE_CHUNK_BYTES as u64) as f64 * 8.0 / rate as f64;
    let seconds = run["seconds"].as_f64().unwrap();
    eprintln!("{sent} bytes at 20 Mbit/s: {seconds:.2} s, floor {floor:.2} s");
    assert!(seconds >= floor, "{seconds} s < {floor} s: {run:#}");
    assert_nothing_left(tmp.path());
}

/// nbdkit processes serving from a Unix socket of isotune's.
fn nbdkit_processes() -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let nbdkit = cmd.starts_with("nbdkit") || cmd.contains("/nbdkit ");
            if nbdkit && cmd.contains("isotune-nbd") {
                out.push(cmd);
            }
        }
    }
    out
}

#[test]
fn grub_over_http_boots_to_its_marker() {
    if qemu().is_none() {
        return;
    }
    let tmp = tmpdir();
    let work = tempfile::tempdir().unwrap();
    let Some(grub) = common::boot::grub_iso(work.path(), 4 << 20) else {
        return;
    };
    let v = boot_json(
        tmp.path(),
        &[
            grub.to_str().unwrap(),
            "--bus",
            "virtio-scsi",
            "--runs",
            "1",
            "--timeout",
            "120",
            "--source",
            "file",
            "--source",
            "http",
            "--net-delay",
            "2",
            "--readahead",
            "256K",
            "--readahead",
            "2M",
            "--marker",
            "grub=^isotune: grub-start",
            "--until",
            "^isotune: grub-done",
        ],
    );
    let bytes = config(&v, "virtio-scsi/file")["runs"][0]["rd_bytes"]
        .as_u64()
        .unwrap();
    for name in ["virtio-scsi/http/2ms/ra=256K", "virtio-scsi/http/2ms/ra=2M"] {
        let c = config(&v, name);
        let run = &c["runs"][0];
        assert_eq!(run["end"], "marker", "{name}: {c:#}");
        assert!(run["phases"]["grub"].as_f64().is_some(), "{name}: {run:#}");
        assert_eq!(run["rd_bytes"].as_u64().unwrap(), bytes, "{name}: {run:#}");
        assert!(run["server"]["requests"].as_u64().unwrap() > 0, "{run:#}");
        // QEMU's curl driver fetches at least what the guest read.
        assert!(run["server"]["bytes"].as_u64().unwrap() >= bytes, "{run:#}");
        eprintln!(
            "{name}: {} s, {} GETs, {} bytes",
            run["seconds"], run["server"]["requests"], run["server"]["bytes"]
        );
    }
    assert_nothing_left(tmp.path());
}

#[test]
fn user_urls_over_http_and_nbd_unix() {
    if qemu().is_none() {
        return;
    }
    let Some(qemu_nbd) = common::tool("qemu-nbd") else {
        return;
    };
    let tmp = tmpdir();
    let work = tempfile::tempdir().unwrap();
    let fw = firmware_iso(work.path(), 1 << 20);
    let image = std::fs::read(&fw.path).unwrap();
    let http = RangeServer::start(image, Config::default());
    let sock = work.path().join("nbd.sock");
    let _nbd = Killed(
        std::process::Command::new(qemu_nbd)
            .args([
                "--persistent",
                "--shared=8",
                "--read-only",
                "--format",
                "raw",
                "--socket",
            ])
            .arg(&sock)
            .arg(&fw.path)
            .spawn()
            .unwrap(),
    );
    wait_for(&sock);
    let http_url = format!("http://someone:s3cret@127.0.0.1:{}/image.iso", http.port);
    let nbd_url = format!("nbd+unix:///?socket={}", sock.display());
    let out = boot_cmd(tmp.path())
        .arg("--json")
        .arg(&fw.path)
        .args(["--until", &fw.done_marker, "--bus", "ahci", "--runs", "1"])
        .args(["--source", &http_url, "--source", &nbd_url])
        .args(["--net-delay", "0", "--net-delay", "5", "--net-rate", "20M"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("s3cret"), "credentials printed: {stdout}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for name in ["ahci/url", "ahci/url2"] {
        let c = config(&v, name);
        assert_eq!(c["runs"][0]["end"], "marker", "{c:#}");
        assert!(c["runs"][0]["rd_bytes"].as_u64().unwrap() >= 1 << 20);
    }
    assert_eq!(
        config(&v, "ahci/url")["config"]["source"]["url"],
        format!("http://***@127.0.0.1:{}/image.iso", http.port)
    );
    // The delay and the rate are isotune's servers' only: set aside for
    // both URLs.
    let skipped = v["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 4, "{skipped:#?}");
    for flag in ["--net-delay", "--net-rate"] {
        let n = skipped
            .iter()
            .filter(|s| s["reason"].as_str().unwrap().contains(flag))
            .count();
        assert_eq!(n, 2, "{flag}: {skipped:#?}");
    }
    // QEMU read it from the test's server (after the probe's requests).
    assert!(
        http.counters
            .gets
            .load(std::sync::atomic::Ordering::Relaxed)
            > 2
    );
    assert_nothing_left(tmp.path());
}

#[test]
fn bad_sources_are_one_line_and_exit_2() {
    if qemu().is_none() {
        return;
    }
    let tmp = tmpdir();
    let work = tempfile::tempdir().unwrap();
    let fw = firmware_iso(work.path(), 1 << 20);
    let no_ranges = RangeServer::start(
        std::fs::read(&fw.path).unwrap(),
        Config {
            mode: Mode::NoRanges,
            ..Config::default()
        },
    );
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cases: [(Vec<String>, &str); 4] = [
        (
            vec!["--source".into(), "ftp-ish".into()],
            "expected file, http, nbd or a URL",
        ),
        (vec!["--readahead".into(), "1000".into()], "multiple of 512"),
        (
            vec!["--source".into(), format!("http://127.0.0.1:{dead}/x.iso")],
            &format!("--source http://127.0.0.1:{dead}/x.iso:"),
        ),
        (
            vec!["--source".into(), no_ranges.url(false)],
            "QEMU's curl driver refuses a server without Range support",
        ),
    ];
    for (args, says) in cases {
        let out = boot_cmd(tmp.path())
            .arg(&fw.path)
            .args(["--until", &fw.done_marker, "--bus", "ahci", "--runs", "1"])
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| {
                !l.trim().is_empty()
                    && !l.starts_with("a run ends")
                    && !l.starts_with("For more information")
            })
            .collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert_nothing_left(tmp.path());
    }
}

fn wait_for(p: &Path) -> PathBuf {
    for _ in 0..500 {
        if p.exists() {
            return p.to_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{} did not appear", p.display());
}

/// Ctrl-C while QEMU reads from nbdkit: QEMU and nbdkit are gone, the
/// socket directory removed, exit 2.
#[test]
fn ctrl_c_stops_nbdkit_too() {
    if qemu().is_none() || common::tool("nbdkit").is_none() {
        return;
    }
    let tmp = tmpdir();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("isotune"))
        .env("TMPDIR", tmp.path())
        .args(["boot", "--accel", "tcg", "--runs", "2", "--bus", "ahci"])
        .args(["--payload-mib", "64", "--source", "nbd", "--net-delay", "5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let needle = tmp.path().to_string_lossy().into_owned();
    let serving = || {
        nbdkit_processes().iter().any(|c| c.contains(&needle))
            && !qemu_processes_mentioning(&needle).is_empty()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !serving() {
        assert!(
            std::time::Instant::now() < deadline,
            "nbdkit and QEMU never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert_nothing_left(tmp.path());
    assert!(
        !nbdkit_processes().iter().any(|c| c.contains(&needle)),
        "nbdkit left running"
    );
}
