//! Human and Markdown rendering of `isotune fleet report`: the summary
//! line, findings by id, the worst hosts, then missing, stale and
//! older-schema reports, drift and warnings (each section only when it has
//! something to say).

use std::io::{self, Write};

use isotune_fleet::{FleetReport, HostRow, Summary, Verdict};

use super::doctor::{cell, severity};
use super::{paint, status, table, word};

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
    }
}

/// `3d 4h`, `5h 2m`, `40s`: an age in the largest two units.
pub fn age(seconds: u64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// `12 hosts (11 reporting), 40 VMs, 23 reports (doctor 11, check 12)`.
pub fn summary_line(s: &Summary) -> String {
    let kinds: Vec<String> = [
        ("doctor", s.reports.doctor),
        ("check", s.reports.check),
        ("tune verify", s.reports.tune_verify),
        ("bench", s.reports.bench),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| format!("{k} {n}"))
    .collect();
    format!(
        "{} hosts ({} reporting), {} VMs, {} reports ({})",
        s.hosts_seen,
        s.hosts_reporting,
        s.vms_seen,
        s.reports.total(),
        if kinds.is_empty() {
            "none".to_owned()
        } else {
            kinds.join(", ")
        }
    )
}

fn host_cells(h: &HostRow, color: bool) -> Vec<String> {
    let n = |v: u64, code: &str| {
        if v == 0 {
            "0".to_owned()
        } else {
            paint(&v.to_string(), color, code)
        }
    };
    vec![
        h.host.clone(),
        n(h.errors, "31;1"),
        n(h.warnings, "33"),
        h.infos.to_string(),
        n(h.drift, "31;1"),
        h.vms.to_string(),
        h.reports
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", "),
    ]
}

/// The report for a terminal.
pub fn human(out: &mut dyn Write, r: &FleetReport, color: bool) -> io::Result<()> {
    writeln!(
        out,
        "fleet: {}  {}",
        summary_line(&r.summary),
        status(verdict_word(r.verdict), color)
    )?;
    if !r.findings.is_empty() {
        writeln!(out, "\nfindings by id (most severe first)")?;
        let mut t = table(["severity", "finding", "hosts", "VMs", "title"]);
        for f in &r.findings {
            t.add_row([
                severity(f.severity, color),
                f.id.clone(),
                f.hosts.to_string(),
                f.vms.to_string(),
                f.title.clone(),
            ]);
        }
        writeln!(out, "{}", t.trim_fmt())?;
    }
    if !r.worst_hosts.is_empty() {
        writeln!(out, "\nworst hosts")?;
        let mut t = table([
            "host", "errors", "warnings", "infos", "drift", "VMs", "reports",
        ]);
        for h in &r.worst_hosts {
            t.add_row(host_cells(h, color));
        }
        writeln!(out, "{}", t.trim_fmt())?;
    }
    if !r.missing.is_empty() {
        writeln!(out, "\nhosts with no usable report ({})", r.missing.len())?;
        let mut t = table(["host", "directory", "unusable files"]);
        for m in &r.missing {
            t.add_row([
                m.host.clone(),
                m.path.display().to_string(),
                m.unusable_files.to_string(),
            ]);
        }
        writeln!(out, "{}", t.trim_fmt())?;
    }
    if !r.stale.is_empty() {
        writeln!(
            out,
            "\nstale reports (older than {})",
            age(r.max_age_seconds)
        )?;
        let mut t = table(["host", "report", "age", "from", "file"]);
        for s in &r.stale {
            t.add_row([
                s.host.clone(),
                s.kind.name().to_owned(),
                age(s.age_seconds),
                word(&s.age_from),
                s.path.display().to_string(),
            ]);
        }
        writeln!(out, "{}", t.trim_fmt())?;
    }
    if !r.older_schema.is_empty() {
        writeln!(out, "\nreports from an older isotune")?;
        let mut t = table(["host", "report", "schema", "current", "file"]);
        for o in &r.older_schema {
            t.add_row([
                o.host.clone(),
                o.kind.name().to_owned(),
                o.schema_version.to_string(),
                o.current.to_string(),
                o.path.display().to_string(),
            ]);
        }
        writeln!(out, "{}", t.trim_fmt())?;
    }
    if !r.drift.is_empty() {
        writeln!(out, "\ndrift (tune verify)")?;
        let mut t = table(["host", "state", "target", "expected", "actual", "finding"]);
        for d in &r.drift {
            t.add_row([
                d.host.clone(),
                status(&d.state, color),
                d.target.clone(),
                d.expected.clone(),
                d.actual.clone().unwrap_or_else(|| "(none)".to_owned()),
                d.finding.clone(),
            ]);
        }
        writeln!(out, "{}", t.trim_fmt())?;
    }
    if !r.warnings.is_empty() {
        writeln!(out, "\nwarnings ({})", r.warnings.len())?;
        for w in &r.warnings {
            writeln!(out, "  {}: {w}", w.code())?;
        }
    }
    Ok(())
}

/// The report as Markdown.
pub fn markdown(out: &mut dyn Write, r: &FleetReport) -> anyhow::Result<()> {
    writeln!(out, "# isotune fleet report\n")?;
    writeln!(
        out,
        "**Verdict: {}**: {}\n",
        verdict_word(r.verdict),
        summary_line(&r.summary)
    )?;
    writeln!(out, "## Findings by id\n")?;
    if r.findings.is_empty() {
        writeln!(out, "No findings.")?;
    } else {
        writeln!(out, "| severity | finding | hosts | VMs | title |")?;
        writeln!(out, "|---|---|---:|---:|---|")?;
        for f in &r.findings {
            writeln!(
                out,
                "| {} | `{}` | {} | {} | {} |",
                word(&f.severity),
                f.id,
                f.hosts,
                f.vms,
                cell(&f.title)
            )?;
        }
    }
    if !r.worst_hosts.is_empty() {
        writeln!(out, "\n## Worst hosts\n")?;
        writeln!(
            out,
            "| host | errors | warnings | infos | drift | VMs | reports |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---:|---:|---|")?;
        for h in &r.worst_hosts {
            writeln!(
                out,
                "| {} |",
                host_cells(h, false)
                    .iter()
                    .map(|c| cell(c))
                    .collect::<Vec<_>>()
                    .join(" | ")
            )?;
        }
    }
    if !r.missing.is_empty() {
        writeln!(out, "\n## Hosts with no usable report\n")?;
        for m in &r.missing {
            writeln!(
                out,
                "- {} (`{}`, {} unusable files)",
                m.host,
                m.path.display(),
                m.unusable_files
            )?;
        }
    }
    if !r.stale.is_empty() {
        writeln!(
            out,
            "\n## Stale reports (older than {})\n",
            age(r.max_age_seconds)
        )?;
        for s in &r.stale {
            writeln!(
                out,
                "- {}: {} report `{}`, {} old ({})",
                s.host,
                s.kind.name(),
                s.path.display(),
                age(s.age_seconds),
                word(&s.age_from)
            )?;
        }
    }
    if !r.older_schema.is_empty() {
        writeln!(out, "\n## Reports from an older isotune\n")?;
        for o in &r.older_schema {
            writeln!(
                out,
                "- {}: {} report `{}`, schema {} (current {})",
                o.host,
                o.kind.name(),
                o.path.display(),
                o.schema_version,
                o.current
            )?;
        }
    }
    if !r.drift.is_empty() {
        writeln!(out, "\n## Drift\n")?;
        writeln!(
            out,
            "| host | state | target | expected | actual | finding |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|")?;
        for d in &r.drift {
            writeln!(
                out,
                "| {} | {} | `{}` | {} | {} | `{}` |",
                cell(&d.host),
                d.state,
                d.target,
                cell(&d.expected),
                cell(d.actual.as_deref().unwrap_or("(none)")),
                d.finding
            )?;
        }
    }
    if !r.warnings.is_empty() {
        writeln!(out, "\n## Warnings\n")?;
        for w in &r.warnings {
            writeln!(out, "- `{}`: {}", w.code(), cell(&w.to_string()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_use_two_units() {
        assert_eq!(age(40), "40s");
        assert_eq!(age(600), "10m");
        assert_eq!(age(3_600 * 5 + 120), "5h 2m");
        assert_eq!(age(86_400 * 30 + 3_600), "30d 1h");
        assert_eq!(age(86_400 * 7), "7d");
        assert_eq!(age(3_600 * 36), "1d 12h");
    }
}
