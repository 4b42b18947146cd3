//! `isotune inspect`: the structure of an image and what a boot reads.

use std::fs::File;
use std::path::Path;

use anyhow::{Context as _, Result};
use isotune_iso::report::{self, InspectOptions};
use isotune_iso::{IsoImage, Namespace};

use super::Context;
use crate::args::{InspectArgs, NamespaceArg};
use crate::render::inspect::View;
use crate::{output, render, Outcome};

/// Opens an image read-only (a regular file or a block device; a FIFO or
/// socket is refused without blocking) with errors that name the file and
/// the problem.
pub fn open(path: &Path) -> Result<IsoImage<File>> {
    Ok(IsoImage::open_path(path)?)
}

/// Runs `isotune inspect`.
pub fn run(ctx: &Context, args: &InspectArgs) -> Result<Outcome> {
    let image = open(&args.iso)?;
    let files = (args.files || args.extents).then(|| match args.namespace {
        Some(NamespaceArg::Iso9660) => Namespace::Iso9660,
        Some(NamespaceArg::Joliet) => Namespace::Joliet,
        Some(NamespaceArg::RockRidge) => Namespace::RockRidge,
        None => image.best_namespace(),
    });
    let report = report::inspect(&image, InspectOptions { files })
        .with_context(|| format!("cannot read {}", args.iso.display()))?;
    let mut out = match &args.output {
        Some(p) => output::open_beside(p, &[&args.iso])?,
        None => output::open(None)?,
    };
    if args.json {
        output::json(&mut out, &report)?;
    } else {
        let view = View {
            summary: !args.boot,
            boot: true,
            files: files.is_some(),
            extents: args.extents,
        };
        render::inspect::report(&mut out, &report, view, ctx.color && args.output.is_none())?;
    }
    // Inspect describes; it does not judge. Anomalies are in the report,
    // `verify` and `check` turn them into a failing exit code.
    Ok(Outcome::Pass)
}
