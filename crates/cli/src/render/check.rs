//! Human and Markdown rendering of `isotune check` reports.

use std::io::{self, Write};

use isotune_iso::bootfiles::default_boot_files;
use isotune_iso::Severity;

use super::{bytes, paint, rate, seconds, status, word};
use crate::cmd::check::{CheckReport, CheckVerdict};

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warn => "warn",
        Severity::Info => "info",
    }
}

fn verdict_word(v: CheckVerdict) -> &'static str {
    match v {
        CheckVerdict::Pass => "PASS",
        CheckVerdict::Fail => "FAIL",
    }
}

/// The terminal report: verdict, findings in order, then the details.
pub fn human(out: &mut dyn Write, r: &CheckReport, color: bool) -> io::Result<()> {
    if r.sample {
        writeln!(
            out,
            "No ISO given: checked a sample image isotune wrote to {} (removed afterwards).",
            r.iso.display()
        )?;
    }
    writeln!(
        out,
        "{}  {}  (volume {:?} of {}, file {}, {})",
        status(verdict_word(r.verdict), color),
        r.iso.display(),
        r.inspect.volume_id,
        bytes(r.inspect.volume_bytes),
        bytes(r.inspect.file_size),
        match r.inspect.el_torito.entries.len() {
            0 => "not bootable".to_owned(),
            n => format!("{n} boot entr{}", if n == 1 { "y" } else { "ies" }),
        }
    )?;
    writeln!(out)?;
    for (i, f) in r.findings.iter().enumerate() {
        let sev = match f.severity {
            Severity::Error => paint("error", color, "31;1"),
            Severity::Warn => paint("warn ", color, "33"),
            Severity::Info => "info ".to_owned(),
        };
        writeln!(out, "{:>2}. {sev} {} [{}]", i + 1, f.title, f.id)?;
        if f.evidence != f.title {
            writeln!(out, "           seen: {}", f.evidence)?;
        }
        if let Some(subject) = &f.subject {
            writeln!(out, "           on:   {subject}")?;
        }
        if let Some(fix) = &f.fix {
            let mut lines = fix.lines();
            writeln!(out, "           fix:  {}", lines.next().unwrap_or_default())?;
            for l in lines {
                writeln!(out, "                 {l}")?;
            }
        }
    }
    writeln!(out)?;
    writeln!(out, "details")?;
    writeln!(
        out,
        "  integrity   read {} in {} ({})",
        bytes(r.verify.bytes_read),
        seconds(r.verify.elapsed_ns),
        rate(r.verify.throughput_bytes_per_second)
    )?;
    for d in &r.verify.digests {
        let matched: Vec<String> = d
            .expected
            .iter()
            .filter(|e| e.matches)
            .map(|e| super::verify::source(&e.source))
            .collect();
        let note = if matched.is_empty() {
            String::new()
        } else {
            format!("  (matches {})", matched.join(", "))
        };
        writeln!(out, "  {:<11} {}{note}", d.algorithm.to_string(), d.hex)?;
    }
    if let Some(i) = &r.verify.implanted {
        writeln!(out, "  implanted   {}", word(&i.status))?;
    }
    for f in default_boot_files(&r.inspect.boot_files) {
        writeln!(
            out,
            "  boot file   {:<28} {:>12}  {}",
            f.path,
            bytes(f.size),
            word(&f.role)
        )?;
    }
    for l in &r.doctor.facts.files {
        for layer in &l.storage {
            writeln!(out, "  device      {}", super::doctor::layer_line(layer))?;
        }
    }
    if let (None, Some(why)) = (&r.bench, &r.bench_skipped) {
        writeln!(out, "  bench       skipped: {why}")?;
    }
    for w in &r.doctor.warnings {
        writeln!(out, "  warning     {w}")?;
    }
    if r.sample {
        writeln!(
            out,
            "\nNext: `isotune check YOUR.iso --sums SHA256SUMS` checks a real image."
        )?;
    } else {
        writeln!(
            out,
            "\nMore: `isotune inspect {0}` for the structure, `isotune verify {0} --sums FILE` for checksums.",
            r.iso.display()
        )?;
    }
    out.flush()
}

/// The Markdown report (for CI logs, tickets, wikis).
pub fn markdown(out: &mut dyn Write, r: &CheckReport) -> io::Result<()> {
    writeln!(out, "# isotune check: {}\n", r.iso.display())?;
    if r.sample {
        writeln!(
            out,
            "_No ISO given: this is the sample image isotune writes itself._\n"
        )?;
    }
    writeln!(out, "**Verdict: {}**\n", verdict_word(r.verdict))?;
    writeln!(out, "| # | severity | finding | subject | evidence |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    for (i, f) in r.findings.iter().enumerate() {
        writeln!(
            out,
            "| {} | {} | {} (`{}`) | {} | {} |",
            i + 1,
            severity_word(f.severity),
            md_cell(&f.title),
            f.id,
            md_cell(f.subject.as_deref().unwrap_or("the image")),
            md_cell(&f.evidence),
        )?;
    }
    writeln!(out, "\n## Fixes, in order\n")?;
    for (i, f) in r.findings.iter().enumerate() {
        let Some(fix) = &f.fix else { continue };
        writeln!(out, "{}. {} (`{}`)\n", i + 1, f.title, f.id)?;
        if let Some(why) = &f.why {
            writeln!(out, "   {why}\n")?;
        }
        writeln!(out, "   ```\n{}\n   ```\n", indent(fix, "   "))?;
        if let Some(reference) = &f.reference {
            writeln!(out, "   Reference: {reference}\n")?;
        }
    }
    writeln!(out, "\n## Image\n")?;
    writeln!(out, "- volume id: `{}`", r.inspect.volume_id)?;
    writeln!(
        out,
        "- volume: {} bytes; file: {} bytes",
        r.inspect.volume_bytes, r.inspect.file_size
    )?;
    for d in &r.verify.digests {
        writeln!(out, "- {}: `{}`", d.algorithm, d.hex)?;
    }
    writeln!(out, "\n## Boot files (load order)\n")?;
    writeln!(out, "| path | bytes | first LBA |")?;
    writeln!(out, "|---|---|---|")?;
    for f in default_boot_files(&r.inspect.boot_files) {
        writeln!(
            out,
            "| `{}` | {} | {} |",
            f.path,
            f.size,
            f.extents.first().map(|e| e.lba).unwrap_or_default()
        )?;
    }
    out.flush()
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
