//! Human rendering of `isotune verify` results.

use std::io::{self, Write};

use isotune_verify::{
    CheckStatus, ExpectedSource, ImplantReport, ImplantedStatus, TruncationResult, Verdict,
    VerifyReport,
};

use super::{bytes, rate, seconds, status, table};

/// The verification report as a table of checks and a verdict line.
pub fn report(out: &mut dyn Write, r: &VerifyReport, color: bool) -> io::Result<()> {
    writeln!(
        out,
        "{}: {} read in {} ({})",
        r.path.display(),
        bytes(r.bytes_read),
        seconds(r.elapsed_ns),
        rate(r.throughput_bytes_per_second)
    )?;
    let mut t = table(["check", "result", "detail"]);
    t.add_row(truncation_row(&r.truncation, color));
    for d in &r.digests {
        let (word, detail) = match d.status {
            CheckStatus::Pass => ("PASS", format!("{}  {}", d.hex, sources(&d.expected))),
            CheckStatus::Fail => {
                let want: Vec<String> = d
                    .expected
                    .iter()
                    .filter(|e| !e.matches)
                    .map(|e| format!("expected {} ({})", e.hex, source(&e.source)))
                    .collect();
                ("FAIL", format!("{}  {}", d.hex, want.join("; ")))
            }
            CheckStatus::NotCompared => ("-", format!("{}  (nothing to compare with)", d.hex)),
        };
        t.add_row(vec![d.algorithm.to_string(), status(word, color), detail]);
    }
    if let Some(imp) = &r.implanted {
        let (word, detail) = match imp.status {
            ImplantedStatus::Pass => (
                "PASS",
                format!(
                    "implanted MD5 {} over {}",
                    imp.expected_md5.as_deref().unwrap_or("?"),
                    bytes(imp.covered_bytes)
                ),
            ),
            ImplantedStatus::Fail => (
                "FAIL",
                match imp.failed_fragment {
                    Some(f) if imp.expected_md5.is_some() && imp.expected_md5 == imp.actual_md5 => {
                        format!(
                            "the whole-image MD5 {} matches, but fragment checkpoint {f} differs; \
                         checkisomd5 says FAIL too (isomd5sum records on images under ~700 KiB \
                         are short); re-implant with `isotune verify --implant`",
                            imp.actual_md5.as_deref().unwrap_or("?")
                        )
                    }
                    Some(f) => format!(
                        "fragment {f} differs (checkisomd5 stops there); implanted {}, computed {}",
                        imp.expected_md5.as_deref().unwrap_or("?"),
                        imp.actual_md5.as_deref().unwrap_or("?")
                    ),
                    None => format!(
                        "implanted {}, computed {}",
                        imp.expected_md5.as_deref().unwrap_or("?"),
                        imp.actual_md5.as_deref().unwrap_or("?")
                    ),
                },
            ),
            ImplantedStatus::NotImplanted => (
                "none",
                "no implantisomd5 record in the application area: nothing to check".to_owned(),
            ),
            ImplantedStatus::Incomplete => (
                "none",
                format!(
                    "the implantisomd5 record is incomplete ({}): checkisomd5 cannot check it either",
                    if imp.missing_fields.is_empty() {
                        "a field is unreadable".to_owned()
                    } else {
                        format!("missing {}", imp.missing_fields.join(", "))
                    }
                ),
            ),
        };
        t.add_row(vec!["implanted".to_owned(), status(word, color), detail]);
    }
    writeln!(out, "{}", t.trim_fmt())?;
    for s in &r.sums_files {
        if s.malformed_lines > 0 {
            writeln!(
                out,
                "note: {}: {} line(s) did not parse",
                s.path.display(),
                s.malformed_lines
            )?;
        }
    }
    let verdict = match r.verdict {
        Verdict::Pass => status("PASS", color),
        Verdict::Fail => status("FAIL", color),
        Verdict::Unverified => {
            let why = match &r.implanted {
                Some(i)
                    if matches!(
                        i.status,
                        ImplantedStatus::NotImplanted | ImplantedStatus::Incomplete
                    ) =>
                {
                    "the implanted MD5 check was asked for, but there is no usable record"
                }
                _ => {
                    "nothing failed, but nothing was compared: pass --sums, --expect or --implanted"
                }
            };
            format!("{} ({why})", status("UNVERIFIED", color))
        }
    };
    writeln!(out, "verdict: {verdict}")
}

fn truncation_row(t: &TruncationResult, color: bool) -> Vec<String> {
    let (word, detail) = match t {
        TruncationResult::Complete {
            volume_bytes,
            file_bytes,
        } => {
            let extra = file_bytes.saturating_sub(*volume_bytes);
            let tail = if extra > 0 {
                format!(" (+{} after the volume: normal for hybrid images)", bytes(extra))
            } else {
                String::new()
            };
            (
                "ok",
                format!("volume {volume_bytes} bytes, file {file_bytes} bytes{tail}"),
            )
        }
        TruncationResult::Truncated {
            volume_bytes,
            file_bytes,
            missing_bytes,
        } => (
            "FAIL",
            format!(
                "truncated: volume {volume_bytes} bytes, file {file_bytes} bytes, {missing_bytes} bytes missing"
            ),
        ),
        TruncationResult::TooShort { file_bytes } => (
            "FAIL",
            format!(
                "the file ends at {file_bytes} bytes, {} the volume descriptor at byte 32768: \
                 a truncated download or not an ISO image",
                if *file_bytes > 32768 { "inside" } else { "before" }
            ),
        ),
        TruncationResult::InvalidVolumeSize {
            volume_bytes,
            file_bytes,
        } => (
            "?",
            format!(
                "the volume descriptor declares an impossible {volume_bytes}-byte volume \
                 (file {file_bytes} bytes): the descriptor is corrupt"
            ),
        ),
        TruncationResult::NotIso => (
            "FAIL",
            "not an ISO9660 image (no CD001 signature at byte 32769)".to_owned(),
        ),
        TruncationResult::NotChecked => ("-", "not checked".to_owned()),
    };
    vec!["truncation".to_owned(), status(word, color), detail]
}

/// Where an expected digest came from: `--expect` or `FILE line N`.
pub fn source(s: &ExpectedSource) -> String {
    match s {
        ExpectedSource::Argument => "--expect".to_owned(),
        ExpectedSource::SumsFile { path, line, .. } => format!("{} line {line}", path.display()),
    }
}

fn sources(list: &[isotune_verify::ExpectedResult]) -> String {
    let v: Vec<String> = list.iter().map(|e| source(&e.source)).collect();
    format!("(matches {})", v.join(", "))
}

/// What an implant wrote (or would write).
pub fn implant(out: &mut dyn Write, r: &ImplantReport) -> io::Result<()> {
    match &r.written {
        Some(p) => writeln!(out, "implanted into {}", p.display())?,
        None => writeln!(out, "dry run: nothing written")?,
    }
    writeln!(out, "  ISO MD5SUM   {}", r.record.md5)?;
    writeln!(out, "  SKIPSECTORS  {}", r.record.skip_sectors)?;
    if let Some(n) = r.record.fragment_count {
        writeln!(out, "  fragments    {n}")?;
    }
    writeln!(
        out,
        "  hashed       {} in {}",
        bytes(r.hashed_bytes),
        seconds(r.elapsed_ns)
    )?;
    for p in &r.stale_temps_removed {
        writeln!(
            out,
            "  removed {}, a partial copy left by an interrupted run",
            p.display()
        )?;
    }
    if let Some(old) = &r.replaced {
        writeln!(out, "  replaced the record with MD5 {}", old.md5)?;
    } else if r.overwrote_used_area {
        writeln!(out, "  overwrote a used application area (--force)")?;
    }
    Ok(())
}
