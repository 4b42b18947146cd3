//! The whole pipeline over small literal trees (the CLI's tests use reports
//! written by the real binary).

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;

fn doctor(findings: &[(&str, &str, &str)], vms: &[&str]) -> String {
    let f: Vec<String> = findings
        .iter()
        .map(|(id, sev, subject)| {
            format!(
                r#"{{"id": "{id}", "layer": "vm-config", "severity": "{sev}", "title": "t",
                    "subject": {}, "evidence": []}}"#,
                serde_json::to_string(subject).unwrap()
            )
        })
        .collect();
    let v: Vec<String> = vms
        .iter()
        .map(|n| format!(r#"{{"name": "{n}", "origin": {{"kind": "qemu-cmdline"}}}}"#))
        .collect();
    format!(
        r#"{{"schema_version": 3, "verdict": "pass", "findings": [{}],
            "facts": {{"vms": [{}]}}}}"#,
        f.join(","),
        v.join(",")
    )
}

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn age(root: &Path, rel: &str, days: u64) {
    let f = fs::File::options()
        .write(true)
        .open(root.join(rel))
        .unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(days * 86_400))
        .unwrap();
}

fn run(root: &Path, threads: usize) -> FleetReport {
    let mut req = Request::new(vec![root.to_owned()], 7 * 86_400);
    req.threads = threads;
    report(&req).unwrap()
}

fn fleet() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let ide = ("cdrom.ide-bus", "warn", "VM \"a\" cdrom hdc");
    let ide_b = ("cdrom.ide-bus", "warn", "VM \"b\" cdrom hdc");
    let myth = ("myth.nonexistent-option", "error", "VM \"a\"");
    put(
        r,
        "h1/doctor.json",
        &doctor(&[ide, ide_b, myth], &["a", "b"]),
    );
    put(r, "h2/doctor.json", &doctor(&[ide], &["a"]));
    put(r, "h3/doctor.json", &doctor(&[], &[]));
    age(r, "h3/doctor.json", 30);
    put(r, "h4/doctor.json", &doctor(&[myth], &["a"]));
    put(r, "h4/doctor-old.json", &doctor(&[ide], &["a"]));
    age(r, "h4/doctor-old.json", 2);
    put(
        r,
        "h5/doctor.json",
        "{\"schema_version\": 3, \"findings\": [",
    );
    put(
        r,
        "h6/doctor.json",
        &doctor(&[], &[]).replace("\"schema_version\": 3", "\"schema_version\": 9"),
    );
    fs::create_dir_all(r.join("h7")).unwrap();
    t
}

#[test]
fn findings_are_counted_per_host_and_vm_most_severe_first() {
    let t = fleet();
    let r = run(t.path(), 1);
    assert_eq!(r.schema_version, SCHEMA_VERSION);
    assert_eq!(r.verdict, Verdict::Fail);
    let ids: Vec<&str> = r.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["myth.nonexistent-option", "cdrom.ide-bus"]);
    let myth = &r.findings[0];
    assert_eq!((myth.hosts, myth.vms, myth.occurrences), (2, 2, 2));
    let ide = &r.findings[1];
    // h1 (VMs a and b) and h2; h4's older duplicate is not used.
    assert_eq!((ide.hosts, ide.vms, ide.occurrences), (2, 3, 3));
    assert_eq!(r.summary.hosts_seen, 7);
    assert_eq!(r.summary.hosts_reporting, 4);
    assert_eq!(r.summary.vms_seen, 4);
    assert_eq!(r.summary.reports.doctor, 4);
    assert_eq!(r.worst_hosts[0].host, "h1");
    assert_eq!(r.worst_hosts.len(), 3, "h3 has no findings");
}

#[test]
fn missing_stale_duplicate_truncated_newer_and_empty_are_named() {
    let t = fleet();
    let r = run(t.path(), 1);
    let missing: Vec<&str> = r.missing.iter().map(|m| m.host.as_str()).collect();
    assert_eq!(missing, ["h5", "h6", "h7"]);
    assert_eq!(r.stale.len(), 1);
    assert_eq!(r.stale[0].host, "h3");
    assert_eq!(r.stale[0].age_from, AgeSource::Mtime);
    assert!(r.stale[0].age_seconds >= 30 * 86_400);
    let codes: Vec<(&str, String)> = r
        .warnings
        .iter()
        .map(|w| {
            let p = w.path().strip_prefix(t.path()).unwrap();
            (w.code(), p.display().to_string())
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("duplicate", "h4/doctor-old.json".to_string()),
            ("truncated", "h5/doctor.json".to_string()),
            ("newer-schema", "h6/doctor.json".to_string()),
            ("empty-directory", "h7".to_string()),
        ]
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["warnings"][0]["code"], "duplicate");
    assert!(json["warnings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("doctor-old.json"));
}

#[test]
fn threads_do_not_change_the_result() {
    let t = fleet();
    let one = serde_json::to_string(&run(t.path(), 1)).unwrap();
    let three = serde_json::to_string(&run(t.path(), 3)).unwrap();
    assert_eq!(one, three);
}

#[test]
fn a_huge_file_is_refused_without_being_read() {
    let t = tempfile::tempdir().unwrap();
    put(t.path(), "h1/doctor.json", &doctor(&[], &[]));
    // 2 GiB, sparse: reading it whole would take seconds and the memory.
    let f = fs::File::create(t.path().join("h1/garbage.json")).unwrap();
    f.set_len(2 << 30).unwrap();
    let r = run(t.path(), 1);
    assert_eq!(r.summary.hosts_reporting, 1);
    assert_eq!(r.warnings.len(), 1);
    assert!(matches!(
        r.warnings[0],
        Warning::TooLarge {
            bytes: 2_147_483_648,
            ..
        }
    ));
}

#[test]
fn a_report_timestamp_wins_over_the_mtime() {
    let t = tempfile::tempdir().unwrap();
    let old = doctor(&[], &[]).replacen('{', "{\"generated_unix_seconds\": 1000, ", 1);
    put(t.path(), "h1/doctor.json", &old);
    let r = run(t.path(), 1);
    assert_eq!(r.stale.len(), 1);
    assert_eq!(r.stale[0].age_from, AgeSource::Timestamp);
    assert_eq!(r.verdict, Verdict::Pass);
}
