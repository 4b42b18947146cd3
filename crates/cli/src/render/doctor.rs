//! Human and Markdown rendering of `isotune doctor` reports: a summary table
//! grouped by layer (most severe first), then each rule's findings in full
//! (identical findings on many subjects printed once, with the subjects
//! listed), then the facts that were seen. JSON keeps one entry per subject.

use std::io::{self, Write};

use isotune_doctor::{Finding, Layer, Severity};
use isotune_host::{BlockLayer, FileFacts, HostFacts};
use isotune_scan::{DoctorReport, SysctlNote, Verdict};
use isotune_vmconfig::{Source, VmDefinition};

use super::{bytes, paint, status, table, word};

/// How the human report is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Colour.
    pub color: bool,
    /// Every sysctl note (not only changed values); in `check`, each
    /// finding's why and reference too.
    pub explain: bool,
}

/// `error`, `warn`, `info`, coloured when asked.
pub fn severity(s: Severity, color: bool) -> String {
    match s {
        Severity::Error => paint("error", color, "31;1"),
        Severity::Warn => paint("warn", color, "33"),
        Severity::Info => "info".to_owned(),
    }
}

/// `PASS` or `FAIL`.
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
    }
}

/// Findings grouped by layer, most severe first: layers ordered by their
/// most severe finding (ties in the order a boot meets them), findings by
/// severity inside a layer — the order both the table and the details use.
pub fn ordered(findings: &[Finding]) -> Vec<&Finding> {
    let worst = |layer: Layer| {
        findings
            .iter()
            .filter(|f| f.layer == layer)
            .map(|f| f.severity)
            .max()
    };
    let mut v: Vec<&Finding> = findings.iter().collect();
    v.sort_by_key(|f| {
        (
            std::cmp::Reverse(worst(f.layer)),
            f.layer,
            std::cmp::Reverse(f.severity),
            f.id,
        )
    });
    v
}

/// Findings identical but for their subject.
#[derive(Debug)]
pub struct Group<'a> {
    /// The findings, in order; the first one is shown in full.
    pub findings: Vec<&'a Finding>,
}

impl<'a> Group<'a> {
    /// The finding shown in full.
    pub fn first(&self) -> &'a Finding {
        self.findings[0]
    }
    /// The evidence lines every finding of the group shares.
    pub fn shared_evidence(&self) -> Vec<&'a str> {
        self.first()
            .evidence
            .iter()
            .filter(|e| self.findings.iter().all(|f| f.evidence.contains(e)))
            .map(String::as_str)
            .collect()
    }
    /// `web1 drive hdc`, or `web1 drive hdc and 49 more`.
    pub fn subjects_short(&self) -> String {
        match self.findings.len() {
            1 => self.first().subject.clone(),
            n => format!("{} and {} more", self.first().subject, n - 1),
        }
    }
}

/// [`ordered`] findings grouped when identical but for their subject (same
/// rule, severity and title): fifty VMs with the same finding become one
/// group listing fifty subjects.
pub fn groups(findings: &[Finding]) -> Vec<Group<'_>> {
    let mut out: Vec<Group<'_>> = Vec::new();
    for f in ordered(findings) {
        match out.iter_mut().find(|g| {
            let h = g.first();
            h.id == f.id && h.severity == f.severity && h.title == f.title
        }) {
            Some(g) => g.findings.push(f),
            None => out.push(Group { findings: vec![f] }),
        }
    }
    out
}

/// The terminal report.
pub fn human(out: &mut dyn Write, r: &DoctorReport, opts: Options) -> io::Result<()> {
    let count = |s: Severity| r.findings.iter().filter(|f| f.severity == s).count();
    writeln!(
        out,
        "{}  {} finding{}: {} error, {} warn, {} info  ({} ISO{}, {} VM definition{})",
        status(verdict_word(r.verdict), opts.color),
        r.findings.len(),
        plural(r.findings.len()),
        count(Severity::Error),
        count(Severity::Warn),
        count(Severity::Info),
        r.facts.files.len(),
        plural(r.facts.files.len()),
        r.facts.vms.len(),
        plural(r.facts.vms.len()),
    )?;
    let groups = groups(&r.findings);
    if !groups.is_empty() {
        writeln!(out)?;
        findings_table(out, &groups, opts.color)?;
        writeln!(out)?;
        for (i, g) in groups.iter().enumerate() {
            group_detail(out, i + 1, g, opts.color)?;
        }
    }
    writeln!(out, "facts")?;
    if let Some(h) = &r.facts.host {
        host_lines(out, h)?;
    }
    for f in &r.facts.files {
        file_lines(out, f)?;
    }
    for vm in &r.facts.vms {
        writeln!(out, "  vm        {}", vm_line(vm))?;
    }
    for line in domain_lines(&r.libvirt) {
        writeln!(out, "  domain    {line}")?;
    }
    for p in &r.facts.probes {
        writeln!(out, "  probe     {}", super::probe_line(p))?;
    }
    sysctl_lines(out, &r.sysctl_notes, opts.explain)?;
    if !r.notes.is_empty() {
        writeln!(out, "notes")?;
        for n in &r.notes {
            writeln!(out, "  {n}")?;
        }
    }
    if !r.warnings.is_empty() {
        writeln!(out, "warnings")?;
        for w in &r.warnings {
            writeln!(out, "  {w}")?;
        }
    }
    out.flush()
}

/// The sysctl notes: all with `explain`, else only values that differ from
/// the kernel's default. Sysctls sharing a note (vm.dirty_*) are listed
/// together.
fn sysctl_lines(out: &mut dyn Write, notes: &[SysctlNote], explain: bool) -> io::Result<()> {
    let shown: Vec<&SysctlNote> = notes.iter().filter(|s| explain || s.changed).collect();
    let mut i = 0;
    while i < shown.len() {
        let note = shown[i].note;
        let group: Vec<String> = shown[i..]
            .iter()
            .take_while(|s| s.note == note)
            .map(|s| match (s.changed, s.default) {
                (true, Some(d)) => format!("{} = {} (default {d})", s.name, s.value),
                _ => format!("{} = {}", s.name, s.value),
            })
            .collect();
        i += group.len();
        writeln!(out, "  sysctl    {}: {note}", group.join(", "))?;
    }
    let hidden = notes.len() - shown.len();
    if hidden > 0 {
        writeln!(
            out,
            "  sysctl    {hidden} at the kernel's default (`--explain` shows what each does for ISO reads)"
        )?;
    }
    Ok(())
}

/// The summary table: one row per group.
pub fn findings_table(out: &mut dyn Write, groups: &[Group<'_>], color: bool) -> io::Result<()> {
    let mut t = table(["#", "severity", "layer", "finding", "subject"]);
    for (i, g) in groups.iter().enumerate() {
        let f = g.first();
        let title = if g.findings.len() == 1 {
            f.title.clone()
        } else {
            isotune_doctor::Rule::by_id(f.id)
                .map_or_else(|| f.title.clone(), |r| r.title.to_owned())
        };
        t.add_row(vec![
            (i + 1).to_string(),
            severity(f.severity, color),
            word(&f.layer),
            format!("{title} [{}]", f.id),
            g.subjects_short(),
        ]);
    }
    writeln!(out, "{}", t.trim_fmt())
}

/// One group in full: the first finding, and the other subjects listed.
pub fn group_detail(out: &mut dyn Write, n: usize, g: &Group<'_>, color: bool) -> io::Result<()> {
    let f = g.first();
    if g.findings.len() == 1 {
        return finding_detail(out, n, f, color);
    }
    writeln!(
        out,
        "{n}. {} {} [{}] on {} subjects",
        severity(f.severity, color),
        f.title,
        f.id,
        g.findings.len()
    )?;
    for (i, other) in g.findings.iter().enumerate() {
        writeln!(
            out,
            "   {}{}",
            if i == 0 { "subjects:  " } else { "           " },
            other.subject
        )?;
    }
    for (i, e) in g.shared_evidence().iter().enumerate() {
        writeln!(
            out,
            "   {}{e}",
            if i == 0 { "seen:      " } else { "           " }
        )?;
    }
    writeln!(out, "   why:       {}", f.why)?;
    let mut fix = f.fix.lines();
    if let Some(first) = fix.next() {
        writeln!(out, "   fix:       (for {}; the others alike)", f.subject)?;
        writeln!(out, "              {first}")?;
        for l in fix {
            writeln!(out, "              {l}")?;
        }
    }
    writeln!(out, "   reference: {}", f.reference)?;
    writeln!(out)
}

/// One finding in full.
pub fn finding_detail(out: &mut dyn Write, n: usize, f: &Finding, color: bool) -> io::Result<()> {
    writeln!(
        out,
        "{n}. {} {} [{}]",
        severity(f.severity, color),
        f.title,
        f.id
    )?;
    writeln!(out, "   subject:   {}", f.subject)?;
    for (i, e) in f.evidence.iter().enumerate() {
        writeln!(
            out,
            "   {}{e}",
            if i == 0 { "seen:      " } else { "           " }
        )?;
    }
    writeln!(out, "   why:       {}", f.why)?;
    let mut fix = f.fix.lines();
    if let Some(first) = fix.next() {
        writeln!(out, "   fix:       {first}")?;
        for l in fix {
            writeln!(out, "              {l}")?;
        }
    }
    writeln!(out, "   reference: {}", f.reference)?;
    writeln!(out)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn host_lines(out: &mut dyn Write, h: &HostFacts) -> io::Result<()> {
    if let Some(m) = &h.memory {
        writeln!(
            out,
            "  memory    {} available of {}",
            bytes(m.available_bytes),
            bytes(m.total_bytes)
        )?;
    }
    let a = &h.accel;
    let mut accel = vec![if a.kvm_device {
        match a.kvm_accessible {
            Some(false) => "/dev/kvm present but not accessible".to_owned(),
            _ => "/dev/kvm present".to_owned(),
        }
    } else {
        "no /dev/kvm".to_owned()
    }];
    if a.pvm {
        accel.push("kvm_pvm (paravirtual nested KVM)".to_owned());
    } else if !a.kvm_modules.is_empty() {
        accel.push(format!("modules {}", a.kvm_modules.join(", ")));
    }
    accel.push(format!(
        "CPU: {}{}",
        match (a.vmx, a.svm) {
            (true, _) => "vmx",
            (_, true) => "svm",
            _ => "no vmx/svm",
        },
        if a.hypervisor { ", itself a VM" } else { "" }
    ));
    if let Some(n) = a.nested {
        accel.push(format!("nested={}", if n { "on" } else { "off" }));
    }
    writeln!(out, "  accel     {}", accel.join("; "))
}

/// One storage layer: name, class, rotational, scheduler, readahead, model.
pub fn layer_line(l: &BlockLayer) -> String {
    let mut parts = vec![format!("{} ({})", l.name, word(&l.class))];
    if let isotune_host::LayerKind::Loop {
        backing_file: Some(file),
        ..
    } = &l.kind
    {
        parts.push(format!("backing file {}", file.display()));
    }
    if let Some(r) = l.rotational {
        parts.push(if r { "rotational" } else { "non-rotational" }.to_owned());
    }
    if let Some(s) = &l.scheduler {
        parts.push(format!("scheduler {s}"));
    }
    if let Some(ra) = l.read_ahead_kb {
        parts.push(format!("read_ahead {ra} KiB"));
    }
    if let Some(m) = &l.model {
        parts.push(m.clone());
    }
    parts.join(", ")
}

/// `, 1.2 MiB in the page cache`, or `, in memory (tmpfs)` /
/// `, in memory (all of it in the page cache)`: never "cold" then.
pub fn residency(f: &FileFacts) -> String {
    let tmpfs = f
        .mount
        .as_ref()
        .filter(|m| matches!(m.fstype.as_str(), "tmpfs" | "ramfs"))
        .map(|m| m.fstype.clone());
    match (tmpfs, f.resident_bytes) {
        (Some(fs), _) => format!(", in memory ({fs})"),
        (None, Some(r)) if f.size_bytes > 0 && r >= f.size_bytes => {
            ", in memory (all of it in the page cache)".to_owned()
        }
        (None, Some(r)) => format!(", {} in the page cache", bytes(r)),
        (None, None) => String::new(),
    }
}

fn file_lines(out: &mut dyn Write, f: &FileFacts) -> io::Result<()> {
    writeln!(
        out,
        "  iso       {}: {}{}{}",
        f.path.display(),
        if f.block_device { "block device, " } else { "" },
        bytes(f.size_bytes),
        residency(f)
    )?;
    if let Some(m) = &f.mount {
        writeln!(
            out,
            "  fs        {} on {} ({}) {}",
            m.fstype,
            m.mount_point.display(),
            m.source,
            m.super_options.join(",")
        )?;
    }
    for l in &f.storage {
        writeln!(out, "  device    {}", layer_line(l))?;
    }
    Ok(())
}

/// One line per libvirt domain: name, state, and each cdrom's media and
/// read counters (`web1 (running): hda /isos/x.iso, 1234 reads, 2.4 MiB
/// read in 0.120 s`).
pub fn domain_lines(libvirt: &[isotune_scan::LibvirtFacts]) -> Vec<String> {
    let mut out = Vec::new();
    for l in libvirt {
        for d in &l.domains {
            let state = serde_json::to_value(d.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let cdroms: Vec<String> = d
                .cdroms
                .iter()
                .map(|c| {
                    let media = match &c.media {
                        Source::Empty => "empty tray".to_owned(),
                        Source::File { path } | Source::Block { path } => {
                            path.display().to_string()
                        }
                        Source::Http { url, .. }
                        | Source::Nbd { url }
                        | Source::Network { url, .. } => url.clone(),
                    };
                    let stats = match &c.stats {
                        Some(s) => format!(
                            ", {} reads, {} read in {:.3} s",
                            s.rd_req.map_or("?".to_owned(), |n| n.to_string()),
                            s.rd_bytes.map_or("? bytes".to_owned(), bytes),
                            s.rd_total_times_ns.map_or(0.0, |ns| ns as f64 / 1e9),
                        ),
                        None => String::new(),
                    };
                    format!("cdrom {} {media}{stats}", c.target)
                })
                .collect();
            out.push(format!(
                "{} ({state}, {}): {}",
                d.name,
                l.uri,
                if cdroms.is_empty() {
                    "no cdrom".to_owned()
                } else {
                    cdroms.join("; ")
                }
            ));
        }
    }
    out
}

/// One line about a VM definition: origin, machine, accelerator, cdroms.
pub fn vm_line(vm: &VmDefinition) -> String {
    let name = vm.name.as_deref().unwrap_or("(unnamed)");
    let origin = match &vm.origin {
        isotune_vmconfig::Origin::LibvirtXml { path } => format!("libvirt {}", path.display()),
        isotune_vmconfig::Origin::QemuCmdline => "command line".to_owned(),
        isotune_vmconfig::Origin::Process { pid } => format!("pid {pid}"),
        isotune_vmconfig::Origin::Isotune => "isotune".to_owned(),
        isotune_vmconfig::Origin::Libvirt { uri, .. } => format!("libvirt {uri}"),
        isotune_vmconfig::Origin::Proxmox { path, .. } => format!("proxmox {}", path.display()),
    };
    let accel = if vm.accel.is_empty() {
        "default accel (tcg)".to_owned()
    } else {
        vm.accel.iter().map(word).collect::<Vec<_>>().join(":")
    };
    let drives: Vec<String> = vm
        .drives
        .iter()
        .map(|d| {
            let src = match &d.source {
                Source::File { path } | Source::Block { path } => path.display().to_string(),
                Source::Http { url, .. } | Source::Nbd { url } | Source::Network { url, .. } => {
                    url.clone()
                }
                Source::Empty => "empty".to_owned(),
            };
            format!("{} on {} ({src})", word(&d.media), word(&d.bus))
        })
        .collect();
    format!(
        "{name} [{origin}]: machine {}, {accel}; {}",
        vm.machine.as_deref().unwrap_or("default"),
        if drives.is_empty() {
            "no drives".to_owned()
        } else {
            drives.join("; ")
        }
    )
}

/// The Markdown report.
pub fn markdown(out: &mut dyn Write, r: &DoctorReport) -> io::Result<()> {
    writeln!(out, "# isotune doctor\n")?;
    writeln!(
        out,
        "**Verdict: {}** ({} findings)\n",
        verdict_word(r.verdict),
        r.findings.len()
    )?;
    markdown_findings(out, &r.findings)?;
    let domains = domain_lines(&r.libvirt);
    if !domains.is_empty() {
        writeln!(out, "\n## libvirt domains\n")?;
        for d in domains {
            writeln!(out, "- {d}")?;
        }
    }
    if !r.facts.probes.is_empty() {
        writeln!(out, "\n## Network probes\n")?;
        for p in &r.facts.probes {
            writeln!(out, "- {}", super::probe_line(p))?;
        }
    }
    if !r.notes.is_empty() {
        writeln!(out, "\n## Notes\n")?;
        for n in &r.notes {
            writeln!(out, "- {n}")?;
        }
    }
    if !r.warnings.is_empty() {
        writeln!(out, "\n## Warnings\n")?;
        for w in &r.warnings {
            writeln!(out, "- {w}")?;
        }
    }
    out.flush()
}

/// Findings as a Markdown table followed by one section each.
pub fn markdown_findings(out: &mut dyn Write, findings: &[Finding]) -> io::Result<()> {
    let findings = ordered(findings);
    writeln!(out, "| # | severity | layer | finding | subject |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    for (i, f) in findings.iter().enumerate() {
        writeln!(
            out,
            "| {} | {} | {} | {} (`{}`) | {} |",
            i + 1,
            word(&f.severity),
            word(&f.layer),
            cell(&f.title),
            f.id,
            cell(&f.subject)
        )?;
    }
    for (i, f) in findings.iter().enumerate() {
        writeln!(out, "\n### {}. {} (`{}`)\n", i + 1, f.title, f.id)?;
        writeln!(out, "- subject: {}", f.subject)?;
        for e in &f.evidence {
            writeln!(out, "- seen: {e}")?;
        }
        writeln!(out, "- why: {}", f.why)?;
        writeln!(out, "- reference: {}\n", f.reference)?;
        writeln!(out, "```\n{}\n```", f.fix)?;
    }
    Ok(())
}

/// Text safe in a Markdown table cell (`|` escaped, one line).
pub(crate) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
