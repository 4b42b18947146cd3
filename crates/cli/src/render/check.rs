//! Human and Markdown rendering of `isotune check` reports. Findings are
//! the doctor's, grouped the same way (one entry per rule and severity,
//! with the subjects listed); `--explain` adds each one's why and
//! reference.

use std::io::{self, Write};

use isotune_doctor::Severity;
use isotune_iso::bootfiles::default_boot_files;
use isotune_scan::CheckReport;

use super::doctor::{groups, verdict_word, Options};
use super::{bytes, paint, rate, seconds, status, word};

/// The terminal report: verdict, findings in order, then the details.
pub fn human(out: &mut dyn Write, r: &CheckReport, opts: Options) -> io::Result<()> {
    let color = opts.color;
    if r.sample {
        writeln!(
            out,
            "No ISO given: checked a sample image isotune wrote to {} (removed afterwards).",
            r.iso.display()
        )?;
    }
    match &r.inspect {
        Some(i) => writeln!(
            out,
            "{}  {}  (volume {:?} of {}, file {}, {})",
            status(verdict_word(r.verdict), color),
            r.iso.display(),
            i.volume_id,
            bytes(i.volume_bytes),
            bytes(i.file_size),
            match i.el_torito.entries.len() {
                0 => "not bootable".to_owned(),
                n => format!("{n} boot entr{}", if n == 1 { "y" } else { "ies" }),
            }
        )?,
        None => writeln!(
            out,
            "{}  {}  (not a readable ISO9660 image)",
            status(verdict_word(r.verdict), color),
            r.iso.display()
        )?,
    }
    writeln!(out)?;
    for (i, g) in groups(&r.findings).iter().enumerate() {
        let f = g.first();
        let sev = match f.severity {
            Severity::Error => paint("error", color, "31;1"),
            Severity::Warn => paint("warn ", color, "33"),
            Severity::Info => "info ".to_owned(),
        };
        writeln!(out, "{:>2}. {sev} {} [{}]", i + 1, f.title, f.id)?;
        for (j, e) in g.shared_evidence().iter().enumerate() {
            writeln!(
                out,
                "           {}{e}",
                if j == 0 { "seen: " } else { "      " }
            )?;
        }
        for (j, other) in g.findings.iter().enumerate() {
            writeln!(
                out,
                "           {}{}",
                if j == 0 { "on:   " } else { "      " },
                other.subject
            )?;
        }
        let mut lines = f.fix.lines();
        let lead = if g.findings.len() > 1 {
            format!("(for {}; the others alike) ", f.subject)
        } else {
            String::new()
        };
        writeln!(
            out,
            "           fix:  {lead}{}",
            lines.next().unwrap_or_default()
        )?;
        for l in lines {
            writeln!(out, "                 {l}")?;
        }
        if opts.explain {
            writeln!(out, "           why:  {}", f.why)?;
            writeln!(out, "           ref:  {}", f.reference)?;
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
    let boot_files = r
        .inspect
        .as_ref()
        .map(|i| default_boot_files(&i.boot_files))
        .unwrap_or_default();
    for f in boot_files {
        writeln!(
            out,
            "  boot file   {:<28} {:>12}  {}",
            f.path,
            bytes(f.size),
            word(&f.role)
        )?;
    }
    for l in &r.doctor.facts.files {
        let mut residency = super::doctor::residency(l);
        if l.resident_bytes.is_some() && !residency.contains("tmpfs") && !residency.is_empty() {
            // Measured by the scan, before the integrity pass read it all.
            residency.push_str(" before the check");
        }
        if let Some(m) = &l.mount {
            writeln!(
                out,
                "  file        on {} ({}){residency}",
                m.fstype,
                m.mount_point.display()
            )?;
        } else if l.block_device {
            writeln!(
                out,
                "  file        block device, {}{residency}",
                bytes(l.size_bytes)
            )?;
        }
        for layer in &l.storage {
            writeln!(out, "  device      {}", super::doctor::layer_line(layer))?;
        }
    }
    if r.doctor.facts.bench.iter().any(|b| b.in_memory) {
        writeln!(
            out,
            "  bench       in memory: the image is on tmpfs or stayed in the page cache, so the \
             reads did not reach the storage (not a cold-cache measurement)"
        )?;
    }
    if let (None, Some(why)) = (&r.bench, &r.bench_skipped) {
        writeln!(out, "  bench       skipped: {why}")?;
    }
    for line in super::doctor::domain_lines(&r.doctor.libvirt) {
        writeln!(out, "  domain      {line}")?;
    }
    for n in &r.doctor.notes {
        writeln!(out, "  note        {n}")?;
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
            word(&f.severity),
            md_cell(&f.title),
            f.id,
            md_cell(&f.subject),
            md_cell(&f.evidence.join("; ")),
        )?;
    }
    writeln!(out, "\n## Fixes, in order\n")?;
    for (i, f) in r.findings.iter().enumerate() {
        writeln!(out, "{}. {} (`{}`)\n", i + 1, f.title, f.id)?;
        writeln!(out, "   {}\n", f.why)?;
        writeln!(out, "   ```\n{}\n   ```\n", indent(&f.fix, "   "))?;
        writeln!(out, "   Reference: {}\n", f.reference)?;
    }
    writeln!(out, "\n## Image\n")?;
    if let Some(i) = &r.inspect {
        writeln!(out, "- volume id: `{}`", i.volume_id)?;
        writeln!(
            out,
            "- volume: {} bytes; file: {} bytes",
            i.volume_bytes, i.file_size
        )?;
    }
    for d in &r.verify.digests {
        writeln!(out, "- {}: `{}`", d.algorithm, d.hex)?;
    }
    writeln!(out, "\n## Boot files (load order)\n")?;
    writeln!(out, "| path | bytes | first LBA |")?;
    writeln!(out, "|---|---|---|")?;
    let boot_files = r
        .inspect
        .as_ref()
        .map(|i| default_boot_files(&i.boot_files))
        .unwrap_or_default();
    for f in boot_files {
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
