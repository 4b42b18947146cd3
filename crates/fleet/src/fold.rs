//! Folding hosts into counters. One host at a time: its report files are
//! read and parsed, duplicates dropped, and what is left is added to a
//! [`Tally`]; nothing of a report outlives its host. Each worker thread
//! keeps its own tally and the tallies are summed at the end, so hosts are
//! never shared between threads and per-host counts ("how many hosts have
//! this finding") are plain additions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use isotune_doctor::Severity;

use crate::parse::{parse, read_capped, Parsed};
use crate::report::{
    AgeSource, Drift, FindingSummary, HostRow, MissingHost, OlderSchema, StaleReport, Summary,
    Warning,
};
use crate::walk::HostFiles;

/// What every host is judged by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub limit_bytes: u64,
    pub max_age_seconds: u64,
    pub now_unix_seconds: u64,
}

/// One finding id, summed over hosts.
#[derive(Debug, Clone)]
struct Acc {
    severity: Severity,
    layer: String,
    title: String,
    hosts: u64,
    vms: u64,
    occurrences: u64,
}

/// One finding id on one host.
#[derive(Debug, Default)]
struct OnHost<'a> {
    severity: Option<Severity>,
    layer: &'a str,
    title: &'a str,
    subjects: BTreeSet<&'a str>,
    vms: BTreeSet<&'a str>,
}

/// Counters over the hosts folded so far.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    findings: HashMap<String, Acc>,
    pub summary: Summary,
    pub rows: Vec<HostRow>,
    pub missing: Vec<MissingHost>,
    pub stale: Vec<StaleReport>,
    pub older_schema: Vec<OlderSchema>,
    pub drift: Vec<Drift>,
    pub warnings: Vec<Warning>,
}

/// A report kept for its host, with where it came from and when.
struct Used {
    path: PathBuf,
    parsed: Parsed,
    unix_seconds: Option<u64>,
}

fn unix(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

impl Tally {
    /// Reads, parses and folds one host; `buf` is reused between files.
    pub fn host(&mut self, host: &HostFiles, limits: &Limits, buf: &mut Vec<u8>) {
        self.summary.hosts_seen += 1;
        self.summary.files_seen += host.files.len() as u64;
        let mut used: Vec<Used> = Vec::new();
        let mut unusable = 0;
        for path in &host.files {
            let parsed = read_capped(path, limits.limit_bytes, buf).and_then(|mtime| {
                parse(path, buf).map(|p| {
                    let t = p.timestamp.or_else(|| mtime.and_then(unix));
                    (p, t)
                })
            });
            let (parsed, unix_seconds) = match parsed {
                Ok(p) => p,
                Err(w) => {
                    self.warnings.push(w);
                    unusable += 1;
                    continue;
                }
            };
            let new = Used {
                path: path.clone(),
                parsed,
                unix_seconds,
            };
            self.keep(&host.name, &mut used, new);
        }
        if used.is_empty() {
            self.missing.push(MissingHost {
                host: host.name.clone(),
                path: host.dirs.first().cloned().unwrap_or_default(),
                unusable_files: unusable,
            });
        } else {
            self.summary.hosts_reporting += 1;
        }
        self.fold(&host.name, &used, limits);
    }

    /// Adds `new` to `used`, or, when a report of its kind (and image) is
    /// there already, keeps the newer of the two and warns about the other.
    fn keep(&mut self, host: &str, used: &mut Vec<Used>, new: Used) {
        let same = used
            .iter()
            .position(|u| u.parsed.kind == new.parsed.kind && u.parsed.key == new.parsed.key);
        let Some(i) = same else {
            used.push(new);
            return;
        };
        let kind = new.parsed.kind;
        let (kept, dropped) = if new.unix_seconds > used[i].unix_seconds {
            let old = std::mem::replace(&mut used[i], new);
            (used[i].path.clone(), old.path)
        } else {
            (used[i].path.clone(), new.path)
        };
        self.warnings.push(Warning::Duplicate {
            host: host.to_owned(),
            kind,
            used: kept,
            ignored: dropped,
        });
    }

    fn fold(&mut self, host: &str, used: &[Used], limits: &Limits) {
        let mut row = HostRow {
            host: host.to_owned(),
            reports: used.iter().map(|u| u.parsed.kind).collect(),
            errors: 0,
            warnings: 0,
            infos: 0,
            vms: 0,
            drift: 0,
            stale: false,
            older_schema: false,
        };
        row.reports.sort();
        row.reports.dedup();
        let vms: BTreeSet<&str> = used
            .iter()
            .flat_map(|u| u.parsed.vms.iter().map(String::as_str))
            .collect();
        row.vms = vms.len() as u64;
        self.summary.vms_seen += row.vms;
        let mut ids: BTreeMap<&str, OnHost<'_>> = BTreeMap::new();
        for u in used {
            let p = &u.parsed;
            *self.summary.reports.get_mut(p.kind) += 1;
            let current = p.kind.current_schema();
            if p.schema_version < current {
                row.older_schema = true;
                self.older_schema.push(OlderSchema {
                    host: host.to_owned(),
                    kind: p.kind,
                    path: u.path.clone(),
                    schema_version: p.schema_version,
                    current,
                });
            }
            if let Some(t) = u.unix_seconds {
                let age = limits.now_unix_seconds.saturating_sub(t);
                if age > limits.max_age_seconds {
                    row.stale = true;
                    self.stale.push(StaleReport {
                        host: host.to_owned(),
                        kind: p.kind,
                        path: u.path.clone(),
                        age_seconds: age,
                        age_from: if p.timestamp.is_some() {
                            AgeSource::Timestamp
                        } else {
                            AgeSource::Mtime
                        },
                    });
                }
            }
            for f in &p.findings {
                self.summary.findings += 1;
                let on = ids.entry(f.id.as_str()).or_default();
                on.severity = on.severity.max(Some(f.severity));
                on.layer = &f.layer;
                if on.title.is_empty() {
                    on.title = &f.title;
                }
                on.subjects.insert(&f.subject);
                if let Some(vm) = vms.iter().find(|vm| about(&f.subject, vm)) {
                    on.vms.insert(vm);
                }
            }
            for d in &p.drift {
                row.drift += 1;
                self.drift.push(Drift {
                    host: host.to_owned(),
                    path: u.path.clone(),
                    finding: d.finding.clone(),
                    target: d.target.clone(),
                    expected: d.expected.clone(),
                    actual: d.actual.clone(),
                    state: d.state.clone(),
                });
            }
        }
        for (id, on) in ids {
            let severity = on.severity.unwrap_or(Severity::Info);
            match severity {
                Severity::Error => row.errors += 1,
                Severity::Warn => row.warnings += 1,
                Severity::Info => row.infos += 1,
            }
            let acc = self.findings.entry(id.to_owned()).or_insert_with(|| Acc {
                severity,
                layer: on.layer.to_owned(),
                title: isotune_doctor::Rule::by_id(id)
                    .map_or_else(|| on.title.to_owned(), |r| r.title.to_owned()),
                hosts: 0,
                vms: 0,
                occurrences: 0,
            });
            acc.severity = acc.severity.max(severity);
            acc.hosts += 1;
            acc.vms += on.vms.len() as u64;
            acc.occurrences += on.subjects.len() as u64;
        }
        self.rows.push(row);
    }

    /// Adds another worker's tally to this one.
    pub fn merge(&mut self, other: Tally) {
        for (id, b) in other.findings {
            match self.findings.get_mut(&id) {
                Some(a) => {
                    a.severity = a.severity.max(b.severity);
                    a.hosts += b.hosts;
                    a.vms += b.vms;
                    a.occurrences += b.occurrences;
                }
                None => {
                    self.findings.insert(id, b);
                }
            }
        }
        let s = &mut self.summary;
        let o = &other.summary;
        s.hosts_seen += o.hosts_seen;
        s.hosts_reporting += o.hosts_reporting;
        s.vms_seen += o.vms_seen;
        s.files_seen += o.files_seen;
        s.findings += o.findings;
        s.reports.add(&o.reports);
        self.rows.extend(other.rows);
        self.missing.extend(other.missing);
        self.stale.extend(other.stale);
        self.older_schema.extend(other.older_schema);
        self.drift.extend(other.drift);
        self.warnings.extend(other.warnings);
    }

    /// The findings by id: most severe first, then by hosts, VMs and id.
    pub fn findings(&mut self) -> Vec<FindingSummary> {
        let mut v: Vec<FindingSummary> = self
            .findings
            .drain()
            .map(|(id, a)| FindingSummary {
                id,
                severity: a.severity,
                layer: a.layer,
                title: a.title,
                hosts: a.hosts,
                vms: a.vms,
                occurrences: a.occurrences,
            })
            .collect();
        v.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.hosts.cmp(&a.hosts))
                .then(b.vms.cmp(&a.vms))
                .then(a.id.cmp(&b.id))
        });
        v
    }
}

/// Whether a finding's subject is about the VM labelled `vm`: the subject
/// is the label, or the label and where in the VM (`VM "web1" -drive #2`),
/// so `VM "web10"` is not about `VM "web1"`.
fn about(subject: &str, vm: &str) -> bool {
    subject
        .strip_prefix(vm)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_about_a_vm_only_up_to_a_word_boundary() {
        assert!(about("VM \"web1\"", "VM \"web1\""));
        assert!(about("VM \"web1\" cdrom hdc", "VM \"web1\""));
        assert!(!about("VM \"web10\" cdrom hdc", "VM \"web1\""));
        assert!(!about("/isos/a.iso", "VM \"web1\""));
    }
}
