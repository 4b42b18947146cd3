//! The doctor's report ([`DoctorReport`]) and its parts: the verdict, the
//! sysctl notes, [`Warning`] (the inputs that could not be used) and
//! [`Note`] (things worth saying that are neither findings nor problems).

use std::fmt;
use std::path::PathBuf;

use isotune_doctor::{Facts, Finding, Severity};
use isotune_libvirt::LibvirtWarning;
use isotune_vmconfig::proxmox::ProxmoxWarning;
use isotune_vmconfig::Source;
use serde::Serialize;

use crate::live::LibvirtFacts;
use crate::scan::Scan;

/// Version of the JSON schema of [`DoctorReport`] (and of `check`'s).
/// 2: `warnings[]` are objects with a stable `code`; `sysctl_notes[]` say
/// whether the value is the kernel's default; facts gained image, boot and
/// bench data. 3: `libvirt[]` (each connection's domains with their live
/// facts) and `notes[]` (objects with a stable `code`).
pub const SCHEMA_VERSION: u32 = 3;

/// Overall result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No finding of severity error.
    Pass,
    /// At least one finding of severity error.
    Fail,
}

impl Verdict {
    /// `Fail` when a finding has severity error.
    pub fn of(findings: &[Finding]) -> Verdict {
        if findings.iter().any(|f| f.severity == Severity::Error) {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    }
}

/// The whole `doctor` result.
#[derive(Debug, Serialize)]
pub struct DoctorReport {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// `fail` when a finding has severity error.
    pub verdict: Verdict,
    /// Most severe first; one entry per subject.
    pub findings: Vec<Finding>,
    /// Everything the rules saw.
    pub facts: Facts,
    /// Notes on the sysctls read (what they do and do not do for ISO reads).
    pub sysctl_notes: Vec<SysctlNote>,
    /// Input that could not be used.
    pub warnings: Vec<Warning>,
    /// What each libvirt connection read showed: every domain, its state,
    /// cdroms (media, read counters) and pending cdrom changes.
    pub libvirt: Vec<LibvirtFacts>,
    /// Things worth saying that are neither findings nor problems.
    pub notes: Vec<Note>,
}

/// Something the report says that is neither a finding nor a problem with
/// the input, with a stable code.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Note {
    /// A libvirt domain's cdrom media differ between its live and its
    /// persistent XML: a change (`virsh edit`, `change-media --config`)
    /// that takes effect at the next boot.
    PendingCdromChange {
        /// The domain.
        domain: String,
        /// The cdrom's target (`hdc`).
        target: String,
        /// The media now (`None`: no such drive in the live XML).
        live: Option<Source>,
        /// The media at the next boot (`None`: no such drive then).
        next_boot: Option<Source>,
    },
}

fn media(s: Option<&Source>) -> String {
    match s {
        None => "no such drive".to_string(),
        Some(Source::Empty) => "an empty tray".to_string(),
        Some(Source::File { path } | Source::Block { path }) => path.display().to_string(),
        Some(Source::Http { url, .. } | Source::Nbd { url } | Source::Network { url, .. }) => {
            url.clone()
        }
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::PendingCdromChange {
                domain,
                target,
                live,
                next_boot,
            } => write!(
                f,
                "domain {domain}: cdrom {target} has {} now and {} from the next boot \
                 (its persistent XML differs from the live one)",
                media(live.as_ref()),
                media(next_boot.as_ref())
            ),
        }
    }
}

impl Note {
    /// The stable code JSON carries.
    pub fn code(&self) -> &'static str {
        match self {
            Note::PendingCdromChange { .. } => "libvirt-pending-cdrom-change",
        }
    }
}

/// JSON: `{"code", "message", ...the note's fields}`.
impl Serialize for Note {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("Note", 6)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.to_string())?;
        match self {
            Note::PendingCdromChange {
                domain,
                target,
                live,
                next_boot,
            } => {
                st.serialize_field("domain", domain)?;
                st.serialize_field("target", target)?;
                st.serialize_field("live", live)?;
                st.serialize_field("next_boot", next_boot)?;
            }
        }
        st.end()
    }
}

/// A sysctl with what it means for ISO reads.
#[derive(Debug, Serialize)]
pub struct SysctlNote {
    /// Dotted name.
    pub name: String,
    /// Value as read.
    pub value: String,
    /// The kernel's default, when it has one.
    pub default: Option<&'static str>,
    /// Whether `value` differs from `default` (renderers show such notes
    /// without `--explain`).
    pub changed: bool,
    /// What it does for ISO reads.
    pub note: &'static str,
}

/// Something the scan could not use or measure, with a stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// An input was skipped (others were examined).
    NotExamined {
        /// Why, naming the input.
        message: String,
    },
    /// A host entry could not be read.
    Host {
        /// The reader's line (`PATH: why`).
        message: String,
    },
    /// Something about one ISO could not be read or measured.
    File {
        /// The ISO.
        path: PathBuf,
        /// What.
        message: String,
    },
    /// VM definitions given that do not use the checked ISO.
    Unrelated {
        /// How many.
        count: usize,
        /// The ISO checked.
        iso: PathBuf,
    },
    /// Something a libvirt read could not get (the rest still stands).
    Libvirt(LibvirtWarning),
    /// Something of a Proxmox config tree that could not be used.
    Proxmox(ProxmoxWarning),
}

impl Warning {
    pub(crate) fn not_examined(e: &dyn std::error::Error) -> Warning {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Warning::NotExamined { message }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::NotExamined { message } => write!(f, "not examined: {message}"),
            Warning::Host { message } => f.write_str(message),
            Warning::File { path, message } => write!(f, "{}: {message}", path.display()),
            Warning::Unrelated { count, iso } => {
                let one = *count == 1;
                write!(
                    f,
                    "{count} VM definition{} given with --xml do{} not use {} (use `isotune doctor --xml` to examine {})",
                    if one { "" } else { "s" },
                    if one { "es" } else { "" },
                    iso.display(),
                    if one { "it" } else { "them" }
                )
            }
            Warning::Libvirt(w) => w.fmt(f),
            Warning::Proxmox(w) => w.fmt(f),
        }
    }
}

impl Warning {
    /// The stable code JSON carries.
    pub fn code(&self) -> &'static str {
        match self {
            Warning::NotExamined { .. } => "not-examined",
            Warning::Host { .. } => "host",
            Warning::File { .. } => "file",
            Warning::Unrelated { .. } => "unrelated",
            Warning::Libvirt(w) => crate::live::libvirt_code(w),
            Warning::Proxmox(w) => crate::live::proxmox_code(w),
        }
    }
}

/// JSON: `{"code": "...", "message": "..."}`, the message being the
/// sentence the human output prints.
impl Serialize for Warning {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("Warning", 2)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

/// Runs the rules over a whole [`Scan`] and builds the report, with the
/// scan's libvirt facts and notes.
pub fn diagnose_scan(scan: Scan) -> DoctorReport {
    let mut report = diagnose(scan.facts, scan.warnings);
    report.libvirt = scan.libvirt;
    report.notes = scan.notes;
    report
}

/// Runs the rules over gathered facts and builds the report.
pub fn diagnose(facts: Facts, mut warnings: Vec<Warning>) -> DoctorReport {
    if let Some(host) = &facts.host {
        warnings.extend(
            host.warnings
                .iter()
                .map(|w| Warning::Host { message: w.clone() }),
        );
    }
    for f in &facts.files {
        warnings.extend(f.warnings.iter().map(|w| Warning::File {
            path: f.path.clone(),
            message: w.clone(),
        }));
    }
    let sysctl_notes = facts
        .host
        .iter()
        .flat_map(|h| &h.sysctls)
        .filter_map(|s| {
            let note = isotune_doctor::sysctl_note(&s.name)?;
            let default = isotune_doctor::sysctl_default(&s.name);
            Some(SysctlNote {
                name: s.name.clone(),
                value: s.value.clone(),
                default,
                changed: default.is_some_and(|d| d != s.value),
                note,
            })
        })
        .collect();
    let findings = isotune_doctor::diagnose(&facts);
    DoctorReport {
        schema_version: SCHEMA_VERSION,
        verdict: Verdict::of(&findings),
        findings,
        facts,
        sysctl_notes,
        warnings,
        libvirt: Vec::new(),
        notes: Vec::new(),
    }
}
