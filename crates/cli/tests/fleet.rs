//! End-to-end tests of `isotune fleet report`: report trees made of the
//! real binary's own `doctor --json`, `check --json`, `tune verify --json`
//! and `bench --json` output on ISOs built with xorriso, broken copies of
//! them (corrupt, truncated, newer and older schema, stale, duplicate, an
//! empty directory, a 2 GiB file), drift from `tune verify` on a real loop
//! device, and the HTML page opened in headless
//! Chromium (it renders, a click on a header sorts, one bar per finding id).

use isotune_testutil as common;
use isotune_testutil::loopfs::LoopFs;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use assert_cmd::Command as Bin;
use serde_json::Value;

/// The binary, not reading this host's libvirt.
fn isotune() -> Bin {
    let mut cmd = Bin::cargo_bin("isotune").unwrap();
    cmd.env("ISOTUNE_NO_LIBVIRT", "1");
    cmd
}

/// Runs `cmd`, returns stdout and the exit code.
fn out(cmd: &mut Bin) -> (Vec<u8>, i32, String) {
    let o = cmd.output().unwrap();
    (
        o.stdout,
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn fleet_json(args: &[&Path]) -> (Value, i32, String) {
    let mut cmd = isotune();
    cmd.args(["fleet", "report", "--json"]).args(args);
    let (stdout, code, err) = out(&mut cmd);
    let v = serde_json::from_slice(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{err}",
            String::from_utf8_lossy(&stdout)
        )
    });
    (v, code, err)
}

/// A temporary directory on a real filesystem (check and bench read the
/// image with O_DIRECT; /var/tmp is not tmpfs here).
fn var_tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("isotune-fleet-test.")
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// An ISO large enough for bench's 1 MiB sequential workload.
fn iso(dir: &Path, name: &str) -> Option<PathBuf> {
    common::boot_iso(dir, name, 3_000_000)
}

/// `isotune ARGS` with its stdout saved as `reports/HOST/FILE`.
fn save(reports: &Path, host: &str, file: &str, args: &[&str]) -> Vec<u8> {
    let (stdout, code, err) = out(isotune().args(args));
    assert!(
        code == 0 || code == 1,
        "isotune {args:?}: exit {code}: {err}"
    );
    common::put(reports, &format!("{host}/{file}"), &stdout);
    stdout
}

/// A doctor report of a QEMU command line naming VM `vm`.
fn doctor_args(vm: &str, drive: &str) -> Vec<String> {
    vec![
        "doctor".into(),
        "--json".into(),
        "--qemu-cmdline".into(),
        format!("qemu-system-x86_64 -name {vm} {drive}"),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn set_age(path: &Path, days: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(days * 86_400))
        .unwrap();
}

fn finding<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id}: {v:#}"))
}

const IDE: &str = "-drive file=ISO,media=cdrom";
const MYTH: &str = "-enable-dma -drive file=ISO,media=cdrom,dmqueue_size=1024";
const SCSI: &str =
    "-device virtio-scsi-pci -drive file=ISO,if=none,id=cd,media=cdrom -device scsi-cd,drive=cd";

/// Three hosts: web1 (doctor: a myth, IDE; check of the image), web2
/// (doctor: IDE; tune verify of an empty journal), db1 (bench only).
fn real_fleet(dir: &Path) -> Option<PathBuf> {
    let image = iso(dir, "fleet")?;
    let image_s = image.to_str().unwrap();
    let r = dir.join("reports");
    let d = |vm: &str, drive: &str| doctor_args(vm, &drive.replace("ISO", image_s));
    save(&r, "web1", "doctor.json", &strs(&d("web1", MYTH)));
    save(
        &r,
        "web1",
        "check.json",
        &["check", "--json", "--quiet", "--no-bench", image_s],
    );
    save(&r, "web2", "doctor.json", &strs(&d("web2", IDE)));
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let state_s = state.to_str().unwrap();
    save(
        &r,
        "web2",
        "tune-verify.json",
        &["tune", "verify", "--json", "--state-dir", state_s],
    );
    save(
        &r,
        "db1",
        "bench.json",
        &[
            "bench", "--runs", "1", "--warmup", "0", "--json", "--quiet", image_s,
        ],
    );
    Some(r)
}

#[test]
fn real_reports_of_three_hosts_in_one_fleet_report() {
    let dir = var_tmp();
    let Some(reports) = real_fleet(dir.path()) else {
        return;
    };
    let (v, code, err) = fleet_json(&[&reports]);
    assert_eq!(code, 1, "an error-severity finding fails the fleet: {err}");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["verdict"], "fail");
    let s = &v["summary"];
    assert_eq!(s["hosts_seen"], 3, "{v:#}");
    assert_eq!(s["hosts_reporting"], 3);
    assert_eq!(s["reports"]["doctor"], 2);
    assert_eq!(s["reports"]["check"], 1);
    assert_eq!(s["reports"]["tune_verify"], 1);
    assert_eq!(s["reports"]["bench"], 1);
    assert_eq!(s["vms_seen"], 2, "VM web1 and VM web2");
    assert!(v["warnings"].as_array().unwrap().is_empty(), "{v:#}");
    let myth = finding(&v, "myth.nonexistent-option");
    assert_eq!(
        (myth["hosts"].as_u64(), myth["vms"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(myth["severity"], "error");
    let ide = finding(&v, "cdrom.ide-bus");
    assert_eq!(
        (ide["hosts"].as_u64(), ide["vms"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(v["findings"][0]["severity"], "error", "most severe first");
    assert_eq!(v["worst_hosts"][0]["host"], "web1");
    let hosts: Vec<&str> = v["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["db1", "web1", "web2"]);
    assert!(v["drift"].as_array().unwrap().is_empty());

    // Markdown and the human table say the same.
    let md = dir.path().join("out/fleet.md");
    std::fs::create_dir_all(md.parent().unwrap()).unwrap();
    let (stdout, code, _) = out(isotune()
        .args(["fleet", "report", "--color", "never", "--markdown"])
        .arg(&md)
        .arg(&reports));
    assert_eq!(code, 1);
    let human = String::from_utf8_lossy(&stdout);
    assert!(
        human.contains("3 hosts (3 reporting), 2 VMs, 5 reports"),
        "{human}"
    );
    assert!(
        human.contains("myth.nonexistent-option") && human.contains("worst hosts"),
        "{human}"
    );
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.starts_with("# isotune fleet report"), "{md}");
    assert!(
        md.contains("| error | `myth.nonexistent-option` | 1 | 1 |"),
        "{md}"
    );
    assert!(
        md.contains("## Worst hosts") && md.contains("| web1 |"),
        "{md}"
    );
}

#[test]
fn broken_stale_and_duplicate_reports_are_named_not_fatal() {
    let dir = var_tmp();
    let Some(image) = iso(dir.path(), "bad") else {
        return;
    };
    let image_s = image.to_str().unwrap();
    let r = dir.path().join("reports");
    let good = save(
        &r,
        "good",
        "doctor.json",
        &strs(&doctor_args("g", &IDE.replace("ISO", image_s))),
    );
    let text = String::from_utf8(good.clone()).unwrap();
    assert!(text.contains("\"schema_version\": 3"), "{text}");
    common::put(&r, "corrupt/doctor.json", &common::Rng::new(3).bytes(5000));
    common::put(&r, "truncated/doctor.json", &good[..good.len() / 2]);
    common::put(
        &r,
        "newer/doctor.json",
        text.replace("\"schema_version\": 3", "\"schema_version\": 99")
            .as_bytes(),
    );
    common::put(
        &r,
        "older/doctor.json",
        text.replace("\"schema_version\": 3", "\"schema_version\": 2")
            .as_bytes(),
    );
    common::put(&r, "stale/doctor.json", &good);
    set_age(&r.join("stale/doctor.json"), 30);
    common::put(&r, "dup/doctor.json", &good);
    common::put(&r, "dup/doctor-again.json", &good);
    set_age(&r.join("dup/doctor-again.json"), 1);
    std::fs::create_dir_all(r.join("empty")).unwrap();
    // 2 GiB of nothing: refused by its size, not read.
    std::fs::create_dir_all(r.join("huge")).unwrap();
    let huge = std::fs::File::create(r.join("huge/doctor.json")).unwrap();
    huge.set_len(2 << 30).unwrap();

    let started = std::time::Instant::now();
    let (v, code, err) = fleet_json(&[&r]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the 2 GiB file was not read"
    );
    assert_eq!(code, 0, "warn findings only: {err}\n{v:#}");
    let warnings: Vec<(String, String)> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let p = Path::new(w["path"].as_str().unwrap())
                .strip_prefix(&r)
                .unwrap();
            (
                w["code"].as_str().unwrap().to_owned(),
                p.display().to_string(),
            )
        })
        .collect();
    let want = [
        ("corrupt", "corrupt/doctor.json"),
        ("duplicate", "dup/doctor-again.json"),
        ("empty-directory", "empty"),
        ("too-large", "huge/doctor.json"),
        ("newer-schema", "newer/doctor.json"),
        ("truncated", "truncated/doctor.json"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(warnings, want, "{v:#}");
    let missing: Vec<&str> = v["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["host"].as_str().unwrap())
        .collect();
    assert_eq!(missing, ["corrupt", "empty", "huge", "newer", "truncated"]);
    assert_eq!(v["stale"].as_array().unwrap().len(), 1, "{v:#}");
    assert_eq!(v["stale"][0]["host"], "stale");
    assert_eq!(v["stale"][0]["age_from"], "mtime");
    assert_eq!(v["older_schema"][0]["host"], "older");
    assert_eq!(v["older_schema"][0]["schema_version"], 2);
    assert_eq!(
        v["summary"]["hosts_reporting"], 4,
        "good, older, stale, dup"
    );

    // Human output names every file too.
    let (stdout, _, _) = out(isotune()
        .args(["fleet", "report", "--max-age", "10d"])
        .arg(&r));
    let human = String::from_utf8_lossy(&stdout);
    for needle in [
        "truncated/doctor.json",
        "newer/doctor.json",
        "empty directory",
        "stale reports (older than 10d)",
    ] {
        assert!(human.contains(needle), "{needle}: {human}");
    }
}

#[test]
fn nothing_readable_and_bad_arguments_are_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("reports");
    common::put(
        &r,
        "h1/doctor.json",
        b"{\"schema_version\": 3, \"findings\": [",
    );
    let (_, code, err) = out(isotune().args(["fleet", "report", "--json"]).arg(&r));
    assert_eq!(code, 2);
    assert!(
        err.contains("no usable report") && err.contains("h1/doctor.json"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    for args in [
        vec![
            "fleet".to_owned(),
            "report".into(),
            dir.path().join("nope").display().to_string(),
        ],
        vec![
            "fleet".into(),
            "report".into(),
            "--max-age".into(),
            "3x".into(),
            r.display().to_string(),
        ],
        vec![
            "fleet".into(),
            "report".into(),
            "--html".into(),
            r.join("h1/doctor.json").display().to_string(),
            r.display().to_string(),
        ],
    ] {
        let (_, code, err) = out(isotune().args(&args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // The report was not replaced.
    let kept = std::fs::read(r.join("h1/doctor.json")).unwrap();
    assert!(kept.starts_with(b"{\"schema_version\""));
}

/// Runs headless Chromium on `url` with `args`, at most 90 s, with its
/// profile in `profile` (nothing written to $HOME).
fn chromium(chrome: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let out = Command::new("timeout")
        .args(["-k", "5", "90"])
        .arg(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn html_page_renders_sorts_and_has_one_bar_per_finding_id_in_chromium() {
    let Some(chrome) = common::tool("chromium") else {
        return;
    };
    let dir = var_tmp();
    let Some(image) = iso(dir.path(), "html") else {
        return;
    };
    let image_s = image.to_str().unwrap();
    let r = dir.path().join("reports");
    // Hosts in name order with error counts 0, 1, 0, 1: sorting must move them.
    for (host, drive) in [
        ("a-clean", SCSI),
        ("b-myth", MYTH),
        ("c-ide", IDE),
        ("d-myth", MYTH),
    ] {
        save(
            &r,
            host,
            "doctor.json",
            &strs(&doctor_args(host, &drive.replace("ISO", image_s))),
        );
    }
    let html = dir.path().join("site/fleet.html");
    std::fs::create_dir_all(html.parent().unwrap()).unwrap();
    let (stdout, _, err) = out(isotune()
        .args(["fleet", "report", "--json", "--html"])
        .arg(&html)
        .arg(&r));
    let v: Value = serde_json::from_slice(&stdout).unwrap_or_else(|e| panic!("{e}: {err}"));
    let ids = v["findings"].as_array().unwrap().len();
    assert!(ids >= 2, "{v:#}");
    let page = std::fs::read_to_string(&html).unwrap();
    for external in ["src=\"http", "href=\"http", "<link", "@import", "src=\"//"] {
        assert!(!page.contains(external), "external asset {external}");
    }

    let url = format!("file://{}", html.display());
    let profile = dir.path().join("chromium-profile");
    let budget = "--virtual-time-budget=5000";
    // As loaded: hosts by name.
    let dom = chromium(&chrome, &profile, &["--dump-dom", budget], &url);
    assert_eq!(errors_column(&dom), [0, 1, 0, 1], "{dom}");
    // The self-test clicks the errors header: rows must be reordered.
    let dom = chromium(
        &chrome,
        &profile,
        &["--dump-dom", budget],
        &format!("{url}#selftest"),
    );
    let errors = errors_column(&dom);
    assert_eq!(errors, [1, 1, 0, 0], "rows sorted by errors, descending");
    let report = selftest(&dom);
    assert_eq!(report["clicked"], "errors");
    assert_eq!(report["sorted"], true);
    assert_eq!(report["rows"], 4);
    assert_eq!(
        report["bars"].as_u64(),
        Some(ids as u64),
        "one bar per finding id"
    );
    assert_eq!(dom.matches("<rect class=\"bar ").count(), ids);

    let shot = dir.path().join("fleet.png");
    chromium(
        &chrome,
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,900",
            budget,
        ],
        &url,
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "{} bytes",
        png.len()
    );
}

/// The errors column of the hosts table in a dumped DOM, in row order.
fn errors_column(dom: &str) -> Vec<u64> {
    let start = dom.find("<table id=\"hosts\">").expect("hosts table");
    let body = &dom[start..];
    let body = &body[body.find("<tbody>").unwrap()..body.find("</tbody>").unwrap()];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row.split("<td").skip(1).collect();
            let cell = cells[1];
            let text = &cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()];
            text.parse().unwrap()
        })
        .collect()
}

fn selftest(dom: &str) -> Value {
    let start =
        dom.find("<pre id=\"selftest\">").expect("selftest") + "<pre id=\"selftest\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    serde_json::from_str(&dom[start..end]).unwrap_or_else(|e| panic!("{e}: {}", &dom[start..end]))
}

/// Drift as `tune verify` sees it on a real loop device: applied, then
/// changed behind isotune's back.
#[test]
fn drift_in_a_real_tune_verify_report_fails_the_fleet() {
    let Some(fs) = LoopFs::new() else { return };
    let tune = |sub: &str| {
        let mut c = isotune();
        c.args(["tune", sub, "--json", "--state-dir"])
            .arg(fs.state())
            .arg("--root")
            .arg(fs.root());
        c
    };
    let (_, code, err) = out(tune("apply").arg("--yes").arg("--iso").arg(fs.iso()));
    assert_eq!(code, 0, "{err}");
    fs.set_readahead("64");
    let (report, code, err) = out(&mut tune("verify"));
    assert_eq!(code, 1, "{err}");
    let r = fs.dir.path().join("reports");
    common::put(&r, "hv1/tune-verify.json", &report);
    let (v, code, err) = fleet_json(&[&r]);
    assert_eq!(code, 1, "drift fails the fleet: {err}\n{v:#}");
    let drift = &v["drift"][0];
    assert_eq!(drift["host"], "hv1");
    assert_eq!(drift["state"], "drift");
    assert_eq!(drift["target"], fs.sysfs().to_str().unwrap());
    assert_eq!(
        (drift["expected"].as_str(), drift["actual"].as_str()),
        (Some("4096"), Some("64"))
    );
    assert_eq!(drift["finding"], "storage.low-readahead");
    assert_eq!(v["hosts"][0]["drift"], 1);
    assert_eq!(v["worst_hosts"][0]["host"], "hv1");
    let (_, code, err) = out(&mut tune("rollback"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(fs.readahead(), "16");
}
