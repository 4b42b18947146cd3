//! Human and Markdown rendering of `isotune doctor` reports: a summary table
//! grouped by layer (most severe first), then each finding in full, then the
//! facts that were seen.

use std::io::{self, Write};

use isotune_doctor::{Finding, Layer, Severity};
use isotune_host::{BlockLayer, FileFacts, HostFacts};
use isotune_vmconfig::{Source, VmDefinition};

use super::{bytes, paint, status, table, word};
use crate::cmd::check::CheckVerdict;
use crate::cmd::doctor::DoctorReport;

/// `error`, `warn`, `info`, coloured when asked.
pub fn severity(s: Severity, color: bool) -> String {
    match s {
        Severity::Error => paint("error", color, "31;1"),
        Severity::Warn => paint("warn", color, "33"),
        Severity::Info => "info".to_owned(),
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

/// The terminal report.
pub fn human(out: &mut dyn Write, r: &DoctorReport, color: bool) -> io::Result<()> {
    let count = |s: Severity| r.findings.iter().filter(|f| f.severity == s).count();
    writeln!(
        out,
        "{}  {} finding{}: {} error, {} warn, {} info  ({} ISO{}, {} VM definition{})",
        status(
            match r.verdict {
                CheckVerdict::Pass => "PASS",
                CheckVerdict::Fail => "FAIL",
            },
            color
        ),
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
    let findings = ordered(&r.findings);
    if !findings.is_empty() {
        writeln!(out)?;
        findings_table(out, &findings, color)?;
        writeln!(out)?;
        for (i, f) in findings.iter().enumerate() {
            finding_detail(out, i + 1, f, color)?;
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
    // Sysctls sharing a note (vm.dirty_*) are listed together.
    let mut i = 0;
    while i < r.sysctl_notes.len() {
        let note = &r.sysctl_notes[i].note;
        let group: Vec<String> = r.sysctl_notes[i..]
            .iter()
            .take_while(|s| &s.note == note)
            .map(|s| format!("{} = {}", s.name, s.value))
            .collect();
        i += group.len();
        writeln!(out, "  sysctl    {}: {note}", group.join(", "))?;
    }
    if !r.warnings.is_empty() {
        writeln!(out, "warnings")?;
        for w in &r.warnings {
            writeln!(out, "  {w}")?;
        }
    }
    out.flush()
}

/// The summary table: one row per finding.
pub fn findings_table(out: &mut dyn Write, findings: &[&Finding], color: bool) -> io::Result<()> {
    let mut t = table(["#", "severity", "layer", "finding", "subject"]);
    for (i, f) in findings.iter().enumerate() {
        t.add_row(vec![
            (i + 1).to_string(),
            severity(f.severity, color),
            word(&f.layer),
            format!("{} [{}]", f.title, f.id),
            f.subject.clone(),
        ]);
    }
    writeln!(out, "{}", t.trim_fmt())
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

fn file_lines(out: &mut dyn Write, f: &FileFacts) -> io::Result<()> {
    let resident = f
        .resident_bytes
        .map(|r| format!(", {} in the page cache", bytes(r)))
        .unwrap_or_default();
    writeln!(
        out,
        "  iso       {}: {}{resident}",
        f.path.display(),
        bytes(f.size_bytes)
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
        match r.verdict {
            CheckVerdict::Pass => "PASS",
            CheckVerdict::Fail => "FAIL",
        },
        r.findings.len()
    )?;
    markdown_findings(out, &r.findings)?;
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

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
