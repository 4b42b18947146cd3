//! One report file: read (never more than a limit), its kind told from its
//! fields, and only what the fleet view needs kept (finding ids, severities
//! and subjects, VM labels, drifted values). The rest of the report
//! (facts, digests, bench samples) is skipped by the parser, not stored.

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use isotune_doctor::Severity;
use isotune_vmconfig::Origin;
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::report::{ReportKind, Warning};

/// What one report contributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub kind: ReportKind,
    /// What a second report of the kind must share to be a duplicate: the
    /// image for check, the target for bench, nothing for the others.
    pub key: Option<String>,
    pub schema_version: u64,
    /// The report's own `generated_unix_seconds`, when it has one.
    pub timestamp: Option<u64>,
    pub findings: Vec<Found>,
    /// Labels of the VMs it saw (`VM "web1"`), as finding subjects start.
    pub vms: Vec<String>,
    pub drift: Vec<DriftItem>,
}

/// One finding of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub id: String,
    pub severity: Severity,
    pub layer: String,
    pub title: String,
    pub subject: String,
}

/// One `tune verify` item that is not `ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DriftItem {
    pub finding: String,
    pub target: String,
    pub expected: String,
    pub actual: Option<String>,
    pub state: String,
}

#[derive(Deserialize)]
struct Probe<'a> {
    schema_version: Option<u64>,
    generated_unix_seconds: Option<u64>,
    #[serde(borrow)]
    findings: Option<Vec<FindingIn<'a>>>,
    facts: Option<FactsIn>,
    doctor: Option<DoctorIn>,
    #[serde(borrow)]
    iso: Option<Cow<'a, str>>,
    verify: Option<IgnoredAny>,
    items: Option<Vec<ItemIn>>,
    journal_issues: Option<IgnoredAny>,
    target: Option<TargetIn>,
    workloads: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct FindingIn<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    severity: Severity,
    #[serde(borrow, default)]
    layer: Cow<'a, str>,
    #[serde(borrow, default)]
    title: Cow<'a, str>,
    #[serde(borrow, default)]
    subject: Cow<'a, str>,
}

#[derive(Deserialize)]
struct DoctorIn {
    facts: Option<FactsIn>,
}

#[derive(Deserialize)]
struct FactsIn {
    #[serde(default)]
    vms: Vec<VmIn>,
}

#[derive(Deserialize)]
struct VmIn {
    name: Option<String>,
    origin: Option<Origin>,
}

#[derive(Deserialize)]
struct ItemIn {
    change: ChangeIn,
    expected: String,
    actual: Option<String>,
    state: StateIn,
}

#[derive(Deserialize)]
struct ChangeIn {
    finding: String,
    target: isotune_tune::Target,
}

#[derive(Deserialize)]
struct StateIn {
    code: String,
}

#[derive(Deserialize)]
struct TargetIn {
    path: String,
}

/// Only the version and the fields that tell the kind: what is left to
/// read of a report whose other fields do not have the shape this isotune
/// knows (a newer schema).
#[derive(Deserialize)]
struct Shape {
    schema_version: Option<u64>,
    findings: Option<IgnoredAny>,
    facts: Option<IgnoredAny>,
    doctor: Option<IgnoredAny>,
    verify: Option<IgnoredAny>,
    items: Option<IgnoredAny>,
    journal_issues: Option<IgnoredAny>,
    target: Option<IgnoredAny>,
    workloads: Option<IgnoredAny>,
}

/// Which of the fields that tell a report's kind it has.
#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    findings: bool,
    facts: bool,
    doctor: bool,
    verify: bool,
    items: bool,
    journal_issues: bool,
    target: bool,
    workloads: bool,
}

impl Marks {
    /// The kind these fields say.
    fn kind(self) -> Option<ReportKind> {
        if self.items && self.journal_issues {
            Some(ReportKind::TuneVerify)
        } else if self.target && self.workloads {
            Some(ReportKind::Bench)
        } else if self.findings && self.verify && self.doctor {
            Some(ReportKind::Check)
        } else if self.findings && self.facts {
            Some(ReportKind::Doctor)
        } else {
            None
        }
    }
}

const NOT_A_REPORT: &str = "none of the fields that mark one: findings and facts (doctor), \
                            findings, verify and doctor (check), items and journal_issues \
                            (tune verify), target and workloads (bench)";

/// Parses one report's bytes. A report from a newer schema is a warning
/// (its fields may mean something else); one from an older schema is
/// parsed as far as its fields allow.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed, Warning> {
    let probe: Probe<'_> = match serde_json::from_slice(bytes) {
        Ok(p) => p,
        Err(e) => return Err(shape_problem(path, bytes, &e)),
    };
    let marks = Marks {
        findings: probe.findings.is_some(),
        facts: probe.facts.is_some(),
        doctor: probe.doctor.is_some(),
        verify: probe.verify.is_some(),
        items: probe.items.is_some(),
        journal_issues: probe.journal_issues.is_some(),
        target: probe.target.is_some(),
        workloads: probe.workloads.is_some(),
    };
    let Some(kind) = marks.kind() else {
        return Err(not_a_report(path, NOT_A_REPORT.to_string()));
    };
    let Some(version) = probe.schema_version else {
        return Err(not_a_report(path, "no schema_version".to_string()));
    };
    newer(path, kind, version)?;
    let facts = match kind {
        ReportKind::Doctor => probe.facts,
        ReportKind::Check => probe.doctor.and_then(|d| d.facts),
        _ => None,
    };
    let mut vms: Vec<String> = facts
        .map(|f| f.vms)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|vm| match (vm.name.as_deref(), vm.origin.as_ref()) {
            (None, None) => None,
            (name, Some(origin)) => Some(isotune_doctor::vm_label_of(name, origin)),
            (Some(name), None) => Some(format!("VM \"{name}\"")),
        })
        .collect();
    vms.sort();
    vms.dedup();
    let findings = match kind {
        ReportKind::Doctor | ReportKind::Check => probe
            .findings
            .unwrap_or_default()
            .into_iter()
            .map(|f| Found {
                id: f.id.into_owned(),
                severity: f.severity,
                layer: f.layer.into_owned(),
                title: f.title.into_owned(),
                subject: f.subject.into_owned(),
            })
            .collect(),
        _ => Vec::new(),
    };
    let drift = probe
        .items
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.state.code != "ok")
        .map(|i| DriftItem {
            finding: i.change.finding,
            target: i.change.target.label(),
            expected: i.expected,
            actual: i.actual,
            state: i.state.code,
        })
        .collect();
    let key = match kind {
        ReportKind::Check => probe.iso.map(Cow::into_owned),
        ReportKind::Bench => probe.target.map(|t| t.path),
        _ => None,
    };
    Ok(Parsed {
        kind,
        key,
        schema_version: version,
        timestamp: probe.generated_unix_seconds,
        findings,
        vms,
        drift,
    })
}

fn newer(path: &Path, kind: ReportKind, found: u64) -> Result<(), Warning> {
    let supported = kind.current_schema();
    if found > supported {
        return Err(Warning::NewerSchema {
            path: path.to_owned(),
            kind,
            found,
            supported,
        });
    }
    Ok(())
}

fn not_a_report(path: &Path, problem: String) -> Warning {
    Warning::NotAReport {
        path: path.to_owned(),
        problem,
    }
}

/// The warning for a report the full parse refused: broken JSON, JSON
/// that ends early, or a shape this isotune does not know (a newer schema
/// is named as such).
fn shape_problem(path: &Path, bytes: &[u8], e: &serde_json::Error) -> Warning {
    use serde_json::error::Category;
    if e.classify() == Category::Eof {
        return Warning::Truncated {
            path: path.to_owned(),
            line: e.line() as u64,
        };
    }
    // serde_json calls some type mismatches syntax errors (a number where
    // an enum's string belongs), so whether the JSON itself is valid is
    // asked of the shape-only parse, which accepts any value.
    match serde_json::from_slice::<Shape>(bytes) {
        Ok(s) => {
            let kind = Marks {
                findings: s.findings.is_some(),
                facts: s.facts.is_some(),
                doctor: s.doctor.is_some(),
                verify: s.verify.is_some(),
                items: s.items.is_some(),
                journal_issues: s.journal_issues.is_some(),
                target: s.target.is_some(),
                workloads: s.workloads.is_some(),
            }
            .kind();
            if let (Some(kind), Some(v)) = (kind, s.schema_version) {
                if let Err(w) = newer(path, kind, v) {
                    return w;
                }
            }
            not_a_report(path, e.to_string())
        }
        Err(shape) if shape.classify() == Category::Data => not_a_report(path, e.to_string()),
        Err(_) => Warning::Corrupt {
            path: path.to_owned(),
            problem: e.to_string(),
        },
    }
}

/// Reads `path` into `buf` (cleared first), refusing files larger than
/// `limit_bytes` before reading them and reading at most one byte past the
/// limit of one that grows meanwhile. Returns its modification time.
pub(crate) fn read_capped(
    path: &Path,
    limit_bytes: u64,
    buf: &mut Vec<u8>,
) -> Result<Option<SystemTime>, Warning> {
    buf.clear();
    let unreadable = |e: std::io::Error| Warning::Unreadable {
        path: path.to_owned(),
        error: e.to_string(),
    };
    let file = File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    let too_large = |bytes| Warning::TooLarge {
        path: path.to_owned(),
        bytes,
        limit_bytes,
    };
    if meta.len() > limit_bytes {
        return Err(too_large(meta.len()));
    }
    let got = file
        .take(limit_bytes + 1)
        .read_to_end(buf)
        .map_err(unreadable)?;
    if got as u64 > limit_bytes {
        return Err(too_large(got as u64));
    }
    Ok(meta.modified().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("r/web1/x.json")
    }

    const DOCTOR: &str = r#"{"schema_version": 3, "verdict": "fail", "findings": [
        {"id": "cdrom.ide-bus", "layer": "vm-config", "severity": "warn",
         "title": "t", "subject": "VM \"web1\" cdrom hdc", "evidence": []},
        {"id": "myth.nonexistent-option", "layer": "vm-config", "severity": "error",
         "title": "t", "subject": "VM on the QEMU command line", "evidence": []}],
        "facts": {"host": null, "files": [], "vms": [
        {"name": "web1", "origin": {"kind": "libvirt-xml", "path": "/etc/web1.xml"}},
        {"name": null, "origin": {"kind": "qemu-cmdline"}}]}}"#;

    #[test]
    fn doctor_reports_give_findings_and_vm_labels() {
        let r = parse(p(), DOCTOR.as_bytes()).unwrap();
        assert_eq!(r.kind, ReportKind::Doctor);
        assert_eq!(r.schema_version, 3);
        assert_eq!(r.findings.len(), 2);
        assert_eq!(r.findings[1].severity, Severity::Error);
        assert_eq!(r.vms, ["VM \"web1\"", "VM on the QEMU command line"]);
        assert_eq!(r.key, None);
    }

    #[test]
    fn kinds_are_told_by_their_fields() {
        let check = r#"{"schema_version": 3, "iso": "/isos/a.iso", "findings": [],
                        "verify": {}, "doctor": {"facts": {"vms": []}}}"#;
        let r = parse(p(), check.as_bytes()).unwrap();
        assert_eq!(
            (r.kind, r.key.as_deref()),
            (ReportKind::Check, Some("/isos/a.iso"))
        );
        let bench = r#"{"schema_version": 2, "target": {"path": "/isos/a.iso"}, "workloads": []}"#;
        assert_eq!(
            parse(p(), bench.as_bytes()).unwrap().kind,
            ReportKind::Bench
        );
        let verify = r#"{"schema_version": 1, "journal_issues": [], "items": [
            {"transaction": "t1", "expected": "4096", "actual": "64",
             "state": {"code": "drift"},
             "change": {"finding": "storage.low-readahead",
                        "target": {"kind": "sysfs", "path": "/sys/block/loop0/queue/read_ahead_kb"}}},
            {"transaction": "t1", "expected": "x", "actual": "x", "state": {"code": "ok"},
             "change": {"finding": "f", "target": {"kind": "file", "path": "/etc/x"}}}]}"#;
        let r = parse(p(), verify.as_bytes()).unwrap();
        assert_eq!(r.kind, ReportKind::TuneVerify);
        assert_eq!(r.drift.len(), 1, "ok items are not drift");
        assert_eq!(r.drift[0].target, "/sys/block/loop0/queue/read_ahead_kb");
        assert_eq!(r.drift[0].actual.as_deref(), Some("64"));
    }

    #[test]
    fn broken_input_is_named_by_kind_of_problem() {
        let cut = &DOCTOR[..DOCTOR.len() / 2];
        assert!(matches!(
            parse(p(), cut.as_bytes()),
            Err(Warning::Truncated { .. })
        ));
        assert!(matches!(
            parse(p(), b"{\"a\": ]"),
            Err(Warning::Corrupt { .. })
        ));
        assert!(matches!(
            parse(p(), b"\x00\xff garbage"),
            Err(Warning::Corrupt { .. })
        ));
        assert!(matches!(
            parse(p(), b"[1, 2]"),
            Err(Warning::NotAReport { .. })
        ));
        assert!(matches!(
            parse(p(), b"{\"x\": 1}"),
            Err(Warning::NotAReport { .. })
        ));
        let no_version = DOCTOR.replace("\"schema_version\": 3,", "");
        assert!(matches!(
            parse(p(), no_version.as_bytes()),
            Err(Warning::NotAReport { .. })
        ));
    }

    #[test]
    fn a_newer_schema_is_named_even_when_its_fields_changed_shape() {
        let newer = DOCTOR.replace("\"schema_version\": 3", "\"schema_version\": 99");
        let w = parse(p(), newer.as_bytes()).unwrap_err();
        assert!(
            matches!(
                w,
                Warning::NewerSchema {
                    found: 99,
                    supported: 3,
                    ..
                }
            ),
            "{w}"
        );
        // Severity renamed in a future schema: still a newer schema, not garbage.
        let changed = newer.replace("\"severity\": \"warn\"", "\"severity\": 2");
        let w = parse(p(), changed.as_bytes()).unwrap_err();
        assert!(matches!(w, Warning::NewerSchema { .. }), "{w}");
        let older = DOCTOR.replace("\"schema_version\": 3", "\"schema_version\": 2");
        assert_eq!(parse(p(), older.as_bytes()).unwrap().schema_version, 2);
    }

    #[test]
    fn reads_stop_at_the_limit() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("big.json");
        std::fs::write(&f, vec![b' '; 10_000]).unwrap();
        let mut buf = Vec::new();
        let w = read_capped(&f, 4096, &mut buf).unwrap_err();
        assert!(matches!(
            w,
            Warning::TooLarge {
                bytes: 10_000,
                limit_bytes: 4096,
                ..
            }
        ));
        assert!(buf.is_empty(), "refused before reading");
        assert!(read_capped(&f, 10_000, &mut buf).is_ok());
        assert_eq!(buf.len(), 10_000);
        let w = read_capped(&t.path().join("none.json"), 4096, &mut buf).unwrap_err();
        assert!(w.to_string().contains("none.json"), "{w}");
    }
}
