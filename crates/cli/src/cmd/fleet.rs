//! `isotune fleet report`: the directories to an `isotune_fleet::Request`,
//! the library folds every report, then the renderers (human table, JSON,
//! Markdown, HTML).
//!
//! Exit codes follow `doctor` and `tune verify`: 1 when a host has a
//! finding of severity error or `tune verify` found drift, 2 when not one
//! report could be read (the report is still printed, so its warnings say
//! why). Output files are written all-or-nothing and never inside a
//! report directory, where they could replace a report or be read as one
//! next time.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use isotune_fleet::{FleetReport, Request, Verdict};

use super::Context;
use crate::args_fleet::{FleetArgs, FleetCommand, FleetReportArgs};
use crate::{output, render, Outcome};

/// Runs `isotune fleet`.
pub fn run(ctx: &Context, args: &FleetArgs) -> Result<Outcome> {
    match &args.action {
        FleetCommand::Report(a) => report(ctx, a),
    }
}

fn report(ctx: &Context, args: &FleetReportArgs) -> Result<Outcome> {
    for out in [&args.markdown, &args.html].into_iter().flatten() {
        refuse_inside(out, &args.dirs)?;
    }
    let report = isotune_fleet::report(&Request::new(args.dirs.clone(), args.max_age))?;
    if let Some(md) = &args.markdown {
        output::write_beside(md, &[], |buf| render::fleet::markdown(buf, &report))?;
    }
    if let Some(html) = &args.html {
        output::write_beside(html, &[], |buf| render::fleet_html::page(buf, &report))?;
    }
    let mut out = output::open(None)?;
    if args.json {
        output::json(&mut out, &report)?;
    } else {
        render::fleet::human(&mut out, &report, ctx.color)?;
        out.flush()?;
    }
    nothing_read(&report)?;
    Ok(match report.verdict {
        Verdict::Pass => Outcome::Pass,
        Verdict::Fail => Outcome::Fail,
    })
}

/// Exit 2 when not one report could be used.
fn nothing_read(r: &FleetReport) -> Result<()> {
    if r.summary.hosts_reporting > 0 {
        return Ok(());
    }
    let dirs: Vec<String> = r.inputs.iter().map(|d| d.display().to_string()).collect();
    match r.warnings.first() {
        Some(w) => bail!(
            "no usable report under {} ({} warnings; the first: {w})",
            dirs.join(", "),
            r.warnings.len()
        ),
        None => bail!("no report (HOST/*.json) under {}", dirs.join(", ")),
    }
}

/// Fails when `out` would land inside one of the report directories.
fn refuse_inside(out: &Path, dirs: &[PathBuf]) -> Result<()> {
    let resolved = resolve(out);
    for dir in dirs {
        let Ok(d) = std::fs::canonicalize(dir) else {
            continue;
        };
        if resolved.starts_with(&d) {
            bail!(
                "refusing to write {} inside the report directory {} (it could replace a \
                 report, and would be read as one next time)",
                out.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// `out` with its directory resolved (the file itself may not exist yet).
fn resolve(out: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(out) {
        return p;
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_owned());
    match out.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}
