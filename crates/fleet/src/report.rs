//! The fleet report ([`FleetReport`]) and its parts: findings by id across
//! the hosts, one row per host, the hosts whose reports are missing, stale
//! or from an older schema, drift, and [`Warning`] (the files and
//! directories that could not be used).

use std::fmt;
use std::path::PathBuf;

use isotune_doctor::Severity;
use serde::Serialize;

/// Version of the JSON schema of [`FleetReport`].
pub const SCHEMA_VERSION: u32 = 1;

/// The kinds of report `fleet report` reads, told apart by their fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportKind {
    /// `isotune doctor --json`: `findings` and `facts`.
    Doctor,
    /// `isotune check --json`: `findings`, `iso`, `verify` and `doctor`.
    Check,
    /// `isotune tune verify --json`: `items` and `journal_issues`.
    TuneVerify,
    /// `isotune bench --json`: `target` and `workloads`.
    Bench,
}

impl ReportKind {
    /// Every kind, in the order the tables list them.
    pub const ALL: [ReportKind; 4] = [
        ReportKind::Doctor,
        ReportKind::Check,
        ReportKind::TuneVerify,
        ReportKind::Bench,
    ];

    /// The command that writes it (`tune verify`).
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::Doctor => "doctor",
            ReportKind::Check => "check",
            ReportKind::TuneVerify => "tune verify",
            ReportKind::Bench => "bench",
        }
    }

    /// The `schema_version` this isotune writes for the kind (the
    /// libraries' own constants, so a new schema there is a new one here).
    pub fn current_schema(self) -> u64 {
        match self {
            ReportKind::Doctor | ReportKind::Check => u64::from(isotune_scan::SCHEMA_VERSION),
            ReportKind::TuneVerify => u64::from(isotune_tune::REPORT_SCHEMA_VERSION),
            ReportKind::Bench => u64::from(isotune_bench::result::SCHEMA_VERSION),
        }
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Overall result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No finding of severity error on any host, no drift.
    Pass,
    /// A host has a finding of severity error, or `tune verify` found drift.
    Fail,
}

/// The whole `fleet report` result.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `fail` when a host has an error-severity finding or drift.
    pub verdict: Verdict,
    /// Reports older than this are stale, seconds.
    pub max_age_seconds: u64,
    /// The directories read.
    pub inputs: Vec<PathBuf>,
    /// Counts over the whole fleet.
    pub summary: Summary,
    /// One entry per finding id, most severe first, then by hosts affected.
    pub findings: Vec<FindingSummary>,
    /// Up to [`WORST_HOSTS`] hosts with the most severe findings and drift.
    pub worst_hosts: Vec<HostRow>,
    /// Every host, by name.
    pub hosts: Vec<HostRow>,
    /// Host directories with no usable report.
    pub missing: Vec<MissingHost>,
    /// Reports older than `max_age_seconds`.
    pub stale: Vec<StaleReport>,
    /// Reports written by an older isotune (an older `schema_version`).
    pub older_schema: Vec<OlderSchema>,
    /// Values `tune verify` found changed behind isotune's back (or
    /// interrupted, or unreadable).
    pub drift: Vec<Drift>,
    /// Files and directories that could not be used.
    pub warnings: Vec<Warning>,
}

/// How many hosts [`FleetReport::worst_hosts`] lists.
pub const WORST_HOSTS: usize = 10;

/// Counts over the whole fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Host directories found.
    pub hosts_seen: u64,
    /// Hosts with at least one usable report.
    pub hosts_reporting: u64,
    /// VMs seen in the doctor and check reports (distinct per host).
    pub vms_seen: u64,
    /// `.json` files found.
    pub files_seen: u64,
    /// Reports used, by kind.
    pub reports: KindCounts,
    /// Findings counted (one per finding in a report used).
    pub findings: u64,
}

/// A count per [`ReportKind`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// `doctor` reports.
    pub doctor: u64,
    /// `check` reports.
    pub check: u64,
    /// `tune verify` reports.
    pub tune_verify: u64,
    /// `bench` reports.
    pub bench: u64,
}

impl KindCounts {
    /// The count of `kind`, mutably.
    pub fn get_mut(&mut self, kind: ReportKind) -> &mut u64 {
        match kind {
            ReportKind::Doctor => &mut self.doctor,
            ReportKind::Check => &mut self.check,
            ReportKind::TuneVerify => &mut self.tune_verify,
            ReportKind::Bench => &mut self.bench,
        }
    }

    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &KindCounts) {
        self.doctor += other.doctor;
        self.check += other.check;
        self.tune_verify += other.tune_verify;
        self.bench += other.bench;
    }

    /// All kinds together.
    pub fn total(&self) -> u64 {
        self.doctor + self.check + self.tune_verify + self.bench
    }
}

/// One finding id across the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingSummary {
    /// The rule's stable id (`cdrom.ide-bus`).
    pub id: String,
    /// The most severe occurrence.
    pub severity: Severity,
    /// The rule's layer (`vm-config`).
    pub layer: String,
    /// The rule's title (from this isotune's catalogue; for an id it does
    /// not know, the title of the first occurrence).
    pub title: String,
    /// Hosts with at least one occurrence.
    pub hosts: u64,
    /// VMs with at least one occurrence (findings whose subject is a VM).
    pub vms: u64,
    /// Occurrences (a host's doctor and check reports count once per
    /// subject).
    pub occurrences: u64,
}

/// One host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostRow {
    /// The host directory's name.
    pub host: String,
    /// The kinds of report used.
    pub reports: Vec<ReportKind>,
    /// Distinct findings of severity error.
    pub errors: u64,
    /// Distinct findings of severity warn.
    pub warnings: u64,
    /// Distinct findings of severity info.
    pub infos: u64,
    /// VMs seen.
    pub vms: u64,
    /// Drifted values.
    pub drift: u64,
    /// A report used is older than the maximum age.
    pub stale: bool,
    /// A report used is from an older schema.
    pub older_schema: bool,
}

/// A host directory with no usable report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingHost {
    /// The host.
    pub host: String,
    /// Its directory (the first one, when several trees name it).
    pub path: PathBuf,
    /// `.json` files in it that could not be used (see the warnings).
    pub unusable_files: u64,
}

/// Where a report's age comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgeSource {
    /// The report's own `generated_unix_seconds` field.
    Timestamp,
    /// The file's modification time (no report isotune writes today has
    /// its own timestamp; the Ansible role's fetch keeps the mtime).
    Mtime,
}

/// A report older than the maximum age.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleReport {
    /// The host.
    pub host: String,
    /// The kind.
    pub kind: ReportKind,
    /// The file.
    pub path: PathBuf,
    /// Its age, seconds.
    pub age_seconds: u64,
    /// Where the age comes from.
    pub age_from: AgeSource,
}

/// A report from an older schema (read as far as its fields allow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OlderSchema {
    /// The host.
    pub host: String,
    /// The kind.
    pub kind: ReportKind,
    /// The file.
    pub path: PathBuf,
    /// Its `schema_version`.
    pub schema_version: u64,
    /// The one this isotune writes.
    pub current: u64,
}

/// A value `tune verify` did not find as isotune left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// The host.
    pub host: String,
    /// The `tune verify` report.
    pub path: PathBuf,
    /// The finding the change fixed (`storage.low-readahead`).
    pub finding: String,
    /// What the change wrote to (`/sys/block/loop0/queue/read_ahead_kb`).
    pub target: String,
    /// What isotune wrote.
    pub expected: String,
    /// What is there now (`None`: gone or unreadable).
    pub actual: Option<String>,
    /// `tune verify`'s state code: `drift`, `interrupted`, `unreadable`.
    pub state: String,
}

/// A file or directory that could not be used: named, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// Not valid JSON.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        problem: String,
    },
    /// Valid JSON up to where it ends early.
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where it ends.
        line: u64,
    },
    /// JSON, but not a report `fleet report` knows (or with fields of the
    /// wrong type).
    NotAReport {
        /// The file.
        path: PathBuf,
        /// What did not fit.
        problem: String,
    },
    /// A report from a newer isotune: not used.
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its kind.
        kind: ReportKind,
        /// Its `schema_version`.
        found: u64,
        /// The newest this isotune reads.
        supported: u64,
    },
    /// Larger than the read limit: not read.
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size, bytes.
        bytes: u64,
        /// The limit, bytes.
        limit_bytes: u64,
    },
    /// The file or directory could not be read.
    Unreadable {
        /// It.
        path: PathBuf,
        /// The system's reason.
        error: String,
    },
    /// A directory with nothing in it.
    EmptyDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// Two reports of the same kind (and, for check and bench, the same
    /// image) for one host: the newer is used.
    Duplicate {
        /// The host.
        host: String,
        /// The kind.
        kind: ReportKind,
        /// The report used.
        used: PathBuf,
        /// The report left out.
        ignored: PathBuf,
    },
}

impl Warning {
    /// The stable code JSON carries.
    pub fn code(&self) -> &'static str {
        match self {
            Warning::Corrupt { .. } => "corrupt",
            Warning::Truncated { .. } => "truncated",
            Warning::NotAReport { .. } => "not-a-report",
            Warning::NewerSchema { .. } => "newer-schema",
            Warning::TooLarge { .. } => "too-large",
            Warning::Unreadable { .. } => "unreadable",
            Warning::EmptyDirectory { .. } => "empty-directory",
            Warning::Duplicate { .. } => "duplicate",
        }
    }

    /// The file or directory it is about (for a duplicate, the one left out).
    pub fn path(&self) -> &std::path::Path {
        match self {
            Warning::Corrupt { path, .. }
            | Warning::Truncated { path, .. }
            | Warning::NotAReport { path, .. }
            | Warning::NewerSchema { path, .. }
            | Warning::TooLarge { path, .. }
            | Warning::Unreadable { path, .. }
            | Warning::EmptyDirectory { path } => path,
            Warning::Duplicate { ignored, .. } => ignored,
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path().display();
        match self {
            Warning::Corrupt { problem, .. } => write!(f, "{p}: not valid JSON ({problem})"),
            Warning::Truncated { line, .. } => {
                write!(f, "{p}: truncated (the JSON ends early, line {line})")
            }
            Warning::NotAReport { problem, .. } => write!(
                f,
                "{p}: not a doctor, check, tune verify or bench report ({problem})"
            ),
            Warning::NewerSchema {
                kind,
                found,
                supported,
                ..
            } => write!(
                f,
                "{p}: {kind} report from a newer isotune (schema_version {found}, this one \
                 reads up to {supported}); not used"
            ),
            Warning::TooLarge {
                bytes, limit_bytes, ..
            } => write!(
                f,
                "{p}: {bytes} bytes, more than the {limit_bytes}-byte limit for a report; not read"
            ),
            Warning::Unreadable { error, .. } => write!(f, "{p}: cannot read ({error})"),
            Warning::EmptyDirectory { .. } => write!(f, "{p}: empty directory"),
            Warning::Duplicate {
                host, kind, used, ..
            } => write!(
                f,
                "{p}: a second {kind} report for host {host}; {} is used (newer)",
                used.display()
            ),
        }
    }
}

/// JSON: `{"code", "message", "path", ...the warning's fields}`.
impl Serialize for Warning {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("code", self.code())?;
        m.serialize_entry("message", &self.to_string())?;
        m.serialize_entry("path", self.path())?;
        match self {
            Warning::Corrupt { problem, .. } | Warning::NotAReport { problem, .. } => {
                m.serialize_entry("problem", problem)?;
            }
            Warning::Truncated { line, .. } => m.serialize_entry("line", line)?,
            Warning::NewerSchema {
                kind,
                found,
                supported,
                ..
            } => {
                m.serialize_entry("kind", kind)?;
                m.serialize_entry("schema_version", found)?;
                m.serialize_entry("supported", supported)?;
            }
            Warning::TooLarge {
                bytes, limit_bytes, ..
            } => {
                m.serialize_entry("bytes", bytes)?;
                m.serialize_entry("limit_bytes", limit_bytes)?;
            }
            Warning::Unreadable { error, .. } => m.serialize_entry("error", error)?,
            Warning::EmptyDirectory { .. } => {}
            Warning::Duplicate {
                host, kind, used, ..
            } => {
                m.serialize_entry("host", host)?;
                m.serialize_entry("kind", kind)?;
                m.serialize_entry("used", used)?;
            }
        }
        m.end()
    }
}
