//! Human rendering of `isotune inspect` reports.

use std::io::{self, Write};

use isotune_iso::report::InspectReport;
use isotune_iso::{FileKind, Namespace, Severity};

use super::{bytes, paint, table, word};

/// Which parts of the report to show.
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// The volume summary (everything but the boot view).
    pub summary: bool,
    /// El Torito, partitions and boot files.
    pub boot: bool,
    /// The file listing (when the report has one).
    pub files: bool,
    /// Extents in the file listing.
    pub extents: bool,
}

/// Writes the report.
pub fn report(out: &mut dyn Write, r: &InspectReport, view: View, color: bool) -> io::Result<()> {
    if view.summary {
        summary(out, r)?;
    }
    if view.boot {
        boot(out, r)?;
    }
    if view.summary || view.boot {
        anomalies(out, r, color)?;
    }
    if view.files {
        files(out, r, view.extents)?;
    }
    out.flush()
}

fn namespace_name(ns: Namespace) -> &'static str {
    match ns {
        Namespace::Iso9660 => "ISO9660",
        Namespace::Joliet => "Joliet",
        Namespace::RockRidge => "Rock Ridge",
    }
}

fn summary(out: &mut dyn Write, r: &InspectReport) -> io::Result<()> {
    writeln!(out, "volume       {:?}", r.volume_id)?;
    if !r.system_id.is_empty() {
        writeln!(out, "system       {:?}", r.system_id)?;
    }
    if !r.application_id.is_empty() {
        writeln!(out, "application  {:?}", r.application_id)?;
    }
    let state = if r.file_size < r.volume_bytes {
        format!("TRUNCATED: {} missing", bytes(r.volume_bytes - r.file_size))
    } else if r.file_size > r.volume_bytes {
        format!(
            "complete, {} after the volume",
            bytes(r.file_size - r.volume_bytes)
        )
    } else {
        "complete".to_owned()
    };
    writeln!(
        out,
        "size         volume {} ({} blocks of 2048 bytes), file {} ({} bytes): {state}",
        bytes(r.volume_bytes),
        r.volume_space_size,
        bytes(r.file_size),
        r.file_size
    )?;
    let mut ns = vec!["ISO9660"];
    if r.rock_ridge {
        ns.push("Rock Ridge");
    }
    if r.joliet {
        ns.push("Joliet");
    }
    if r.udf {
        ns.push("UDF bridge");
    }
    writeln!(
        out,
        "namespaces   {} (paths below: {})",
        ns.join(", "),
        namespace_name(r.namespace)
    )?;
    match &r.implanted_md5 {
        Some(m) => writeln!(
            out,
            "implanted    MD5 {} (skip {} sectors); check it with `isotune verify --implanted`",
            m.md5, m.skip_sectors
        )?,
        None => writeln!(out, "implanted    no implantisomd5 record")?,
    }
    Ok(())
}

fn boot(out: &mut dyn Write, r: &InspectReport) -> io::Result<()> {
    writeln!(out)?;
    if r.el_torito.present {
        let ok = match r.el_torito.validation_ok {
            Some(false) => " (validation entry BROKEN)",
            _ => "",
        };
        writeln!(
            out,
            "El Torito boot catalog at LBA {}{ok}",
            r.el_torito.catalog_lba.unwrap_or_default()
        )?;
        let mut t = table([
            "#",
            "platform",
            "emulation",
            "bootable",
            "load seg",
            "sectors",
            "loads",
            "LBA",
            "path",
        ]);
        for (i, e) in r.el_torito.entries.iter().enumerate() {
            t.add_row(vec![
                (i + 1).to_string(),
                word(&e.platform),
                word(&e.emulation),
                if e.bootable { "yes" } else { "no" }.to_owned(),
                match (word(&e.platform).as_str(), e.load_segment) {
                    ("bios", 0) => "0x07c0 (0)".to_owned(),
                    ("bios", seg) => format!("0x{seg:04x}"),
                    _ => "-".to_owned(),
                },
                e.sector_count.to_string(),
                bytes(e.size_bytes),
                e.load_rba.to_string(),
                e.path.clone().unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        writeln!(out, "{}", t.trim_fmt())?;
    } else {
        writeln!(out, "El Torito    none: this image is not bootable as a CD")?;
    }
    if !r.partitions.is_empty() {
        writeln!(
            out,
            "\npartitions (hybrid image; start and size in 512-byte sectors)"
        )?;
        let mut t = table(["scheme", "#", "start", "sectors", "type", "name", "note"]);
        for p in &r.partitions {
            let ty = match &p.type_name {
                Some(n) => format!("{} ({n})", p.type_id),
                None => p.type_id.clone(),
            };
            let mut note = Vec::new();
            if p.bootable {
                note.push("bootable");
            }
            if p.appended {
                note.push("appended after the ISO volume");
            }
            t.add_row(vec![
                word(&p.scheme),
                p.index.to_string(),
                p.start_lba.to_string(),
                p.size_sectors.to_string(),
                ty,
                p.name.clone().unwrap_or_default(),
                note.join(", "),
            ]);
        }
        writeln!(out, "{}", t.trim_fmt())?;
    }
    if r.boot_files.is_empty() {
        writeln!(out, "\nboot files   none found")?;
    } else {
        writeln!(
            out,
            "\nboot files in load order (the rows marked * are the default boot's: {} in {} files)",
            bytes(r.boot_read.file_bytes),
            r.boot_read.files
        )?;
        let mut t = table([
            "",
            "role",
            "path",
            "size",
            "first LBA",
            "extents",
            "named by",
        ]);
        for f in &r.boot_files {
            t.add_row(vec![
                if f.default_boot { "*" } else { "" }.to_owned(),
                word(&f.role),
                f.path.clone(),
                bytes(f.size),
                f.extents
                    .first()
                    .map(|e| e.lba.to_string())
                    .unwrap_or_default(),
                f.extents.len().to_string(),
                f.source.clone().unwrap_or_default(),
            ]);
        }
        writeln!(out, "{}", t.trim_fmt())?;
    }
    boot_read(out, r)
}

/// The boot-read estimate: the figure, what it covers, what it leaves out.
fn boot_read(out: &mut dyn Write, r: &InspectReport) -> io::Result<()> {
    let e = &r.boot_read;
    if e.files > 0 {
        let covers: Vec<String> = e.covers.iter().map(ToString::to_string).collect();
        writeln!(
            out,
            "\nboot reads   {} up to the kernel's start ({} of files plus the volume descriptors and directories on their paths)",
            bytes(e.bytes),
            bytes(e.file_bytes)
        )?;
        if let Some(b) = e.block_bytes {
            writeln!(
                out,
                "  counted    in whole {} blocks, GRUB's disk-cache unit",
                bytes(b)
            )?;
        }
        writeln!(out, "  covers     {}", covers.join(" + "))?;
    }
    if e.excluded.is_empty() {
        if e.files > 0 {
            writeln!(out, "  excludes   no root filesystem image found")?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "  excludes   the root filesystem image{} the booted system mounts later:",
        if e.excluded.len() == 1 { "" } else { "s" }
    )?;
    for x in &e.excluded {
        writeln!(
            out,
            "             {} ({}, {})",
            x.path,
            word(&x.kind),
            bytes(x.size_bytes)
        )?;
    }
    Ok(())
}

fn anomalies(out: &mut dyn Write, r: &InspectReport, color: bool) -> io::Result<()> {
    if r.anomalies.is_empty() {
        return writeln!(out, "\nanomalies    none");
    }
    writeln!(out, "\nanomalies")?;
    for a in &r.anomalies {
        let sev = match a.severity {
            Severity::Error => paint("error", color, "31;1"),
            Severity::Warn => paint("warn ", color, "33"),
            Severity::Info => "info ".to_owned(),
        };
        writeln!(out, "  {sev}  {}: {}", a.id, a.message)?;
    }
    Ok(())
}

/// The listing is written line by line (no table) so 100,000 files stream;
/// lines are assembled in one reused buffer because `format!` padding was a
/// tenth of the run time on large images.
fn files(out: &mut dyn Write, r: &InspectReport, extents: bool) -> io::Result<()> {
    let Some(files) = &r.files else {
        return Ok(());
    };
    if extents {
        writeln!(out, "{:>14}  {:>10}  {:>8}  path", "size", "LBA", "sectors")?;
    } else {
        writeln!(out, "{:>14}  path", "size")?;
    }
    let mut line: Vec<u8> = Vec::with_capacity(256);
    for f in files {
        let name_tail = |line: &mut Vec<u8>| {
            line.extend_from_slice(f.path.as_bytes());
            if f.kind == FileKind::Directory {
                line.push(b'/');
            }
            if let Some(t) = &f.symlink_target {
                line.extend_from_slice(b" -> ");
                line.extend_from_slice(t.as_bytes());
            }
            line.push(b'\n');
        };
        line.clear();
        if extents {
            match f.extents.split_first() {
                None => {
                    pad_num(&mut line, f.size, 14);
                    line.extend_from_slice(b"           -         0  ");
                    name_tail(&mut line);
                }
                Some((first, rest)) => {
                    pad_num(&mut line, f.size, 14);
                    line.extend_from_slice(b"  ");
                    pad_num(&mut line, first.lba, 10);
                    line.extend_from_slice(b"  ");
                    pad_num(&mut line, first.sectors(), 8);
                    line.extend_from_slice(b"  ");
                    name_tail(&mut line);
                    for e in rest {
                        line.extend_from_slice(&[b' '; 16]);
                        pad_num(&mut line, e.lba, 10);
                        line.extend_from_slice(b"  ");
                        pad_num(&mut line, e.sectors(), 8);
                        line.extend_from_slice(b"  (continued)\n");
                    }
                }
            }
        } else {
            pad_num(&mut line, f.size, 14);
            line.extend_from_slice(b"  ");
            name_tail(&mut line);
        }
        out.write_all(&line)?;
    }
    Ok(())
}

/// Appends `n` right-aligned in `width` columns.
fn pad_num(line: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    line.extend(std::iter::repeat_n(b' ', width.saturating_sub(len)));
    line.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::pad_num;

    #[test]
    fn numbers_pad_like_format() {
        for (n, w) in [
            (0u64, 14usize),
            (7, 3),
            (1234567, 4),
            (u64::MAX, 14),
            (42, 10),
        ] {
            let mut v = Vec::new();
            pad_num(&mut v, n, w);
            assert_eq!(String::from_utf8(v).unwrap(), format!("{n:>w$}"));
        }
    }
}
