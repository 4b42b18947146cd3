//! `isotune doctor`: arguments to an `isotune_scan::ScanRequest`, the scan
//! and the rules (both in libraries), then a renderer.
//!
//! Input that cannot be used becomes a warning when other input could be
//! analysed; only when nothing could is it an error: exit 2, one line
//! naming the file.

use std::path::{Path, PathBuf};

use anyhow::Result;
use isotune_scan::{ScanRequest, Verdict, VmSource};

use super::Context;
use crate::args::DoctorArgs;
use crate::{output, render, Outcome};

/// Runs `isotune doctor`.
pub fn run(ctx: &Context, args: &DoctorArgs) -> Result<Outcome> {
    let (req, live) = request(args);
    let scan = isotune_scan::scan(&req)?;
    live.say(ctx.quiet);
    let report = isotune_scan::diagnose_scan(scan);
    if let Some(md) = &args.markdown {
        let inputs: Vec<&Path> = args.iso.iter().map(PathBuf::as_path).collect();
        let mut f = output::open_beside(md, &inputs)?;
        render::doctor::markdown(&mut f, &report)?;
    }
    let mut out = output::open(None)?;
    if args.json {
        output::json(&mut out, &report)?;
    } else {
        let opts = render::doctor::Options {
            color: ctx.color,
            explain: args.explain,
        };
        render::doctor::human(&mut out, &report, opts)?;
    }
    Ok(match report.verdict {
        Verdict::Pass => Outcome::Pass,
        Verdict::Fail => Outcome::Fail,
    })
}

/// The scan `args` ask for, and what to say about the live sources.
pub fn request(args: &DoctorArgs) -> (ScanRequest, super::live::Live) {
    let live = super::live::sources(&args.live);
    let mut sources = live.sources.clone();
    sources.extend(args.xml.iter().cloned().map(VmSource::LibvirtXml));
    sources.extend(args.qemu_cmdline.iter().cloned().map(VmSource::QemuCmdline));
    if args.running {
        sources.push(VmSource::Running);
    }
    let req = ScanRequest {
        sysroot: args.sysroot.clone(),
        isos: args.iso.clone(),
        sources,
        vm_isos: true,
        only_using_isos: false,
        probe: args.probe,
    };
    (req, live)
}
