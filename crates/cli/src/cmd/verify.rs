//! `isotune verify`: digests, checksum files, implanted MD5 and truncation
//! in one read pass; or `--implant`, the one writing mode, which says so.

use anyhow::{Context as _, Result};
use indicatif::ProgressBar;
use isotune_verify::{
    Algorithm, Expected, ImplantReport, Progress, Verdict, VerifyOptions, VerifyReport,
};

use super::Context;
use crate::args::VerifyArgs;
use crate::{output, progress, render, Outcome};

/// Adapts an indicatif bar to the library's progress callback.
pub struct Bar(pub ProgressBar);

impl Progress for Bar {
    fn start(&self, total_bytes: u64) {
        self.0.set_length(total_bytes);
    }
    fn advance(&self, bytes_done: u64) {
        self.0.set_position(bytes_done);
    }
}

/// Runs `isotune verify`.
pub fn run(ctx: &Context, args: &VerifyArgs) -> Result<Outcome> {
    if args.implant {
        return implant(ctx, args);
    }
    let options = options(args)?;
    let report = verify_with_bar(ctx, &args.iso, &options, "verify")?;
    let mut out = output::open(None)?;
    if args.json {
        output::json(&mut out, &report)?;
    } else {
        render::verify::report(&mut out, &report, ctx.color)?;
        out.flush()?;
    }
    // A check that was asked for and could not run fails, as checkisomd5
    // exits 1 for "no checksum information": a script gating on
    // `verify --implanted` must not pass an image without a record.
    let asked_but_missing = args.implanted
        && report.implanted.as_ref().is_some_and(|i| {
            matches!(
                i.status,
                isotune_verify::ImplantedStatus::NotImplanted
                    | isotune_verify::ImplantedStatus::Incomplete
            )
        });
    Ok(if asked_but_missing {
        Outcome::Fail
    } else {
        outcome(&report)
    })
}

/// Runs the verification pass with a progress bar on stderr.
pub fn verify_with_bar(
    ctx: &Context,
    iso: &std::path::Path,
    options: &VerifyOptions,
    label: &str,
) -> Result<VerifyReport> {
    let bar = Bar(progress::bytes(0, label, ctx.quiet));
    let report = isotune_verify::verify(iso, options, &bar);
    bar.0.finish_and_clear();
    report.with_context(|| "cannot verify the image".to_owned())
}

/// Exit status for a verification: 1 only when a check failed.
pub fn outcome(report: &VerifyReport) -> Outcome {
    match report.verdict {
        Verdict::Fail => Outcome::Fail,
        Verdict::Pass | Verdict::Unverified => Outcome::Pass,
    }
}

/// Parses `--expect` values (algorithm from the hex length).
pub fn expected(hexes: &[String]) -> Result<Vec<Expected>> {
    hexes.iter().map(|hex| Ok(Expected::parse(hex)?)).collect()
}

fn options(args: &VerifyArgs) -> Result<VerifyOptions> {
    let mut algorithms = Vec::new();
    for (on, alg) in [
        (args.md5, Algorithm::Md5),
        (args.sha1, Algorithm::Sha1),
        (args.sha256, Algorithm::Sha256),
        (args.sha512, Algorithm::Sha512),
    ] {
        if on {
            algorithms.push(alg);
        }
    }
    let expected = expected(&args.expect)?;
    // SHA-256 by default, unless something else already says what to compute
    // (or the only question is the implanted MD5).
    if algorithms.is_empty() && expected.is_empty() && args.sums.is_empty() && !args.implanted {
        algorithms.push(Algorithm::Sha256);
    }
    Ok(VerifyOptions {
        algorithms,
        expected,
        sums_files: args.sums.clone(),
        implanted: args.implanted,
        ..VerifyOptions::default()
    })
}

fn implant(ctx: &Context, args: &VerifyArgs) -> Result<Outcome> {
    if args.output.is_some() && !args.dry_run {
        // SIGINT, SIGTERM, SIGHUP: remove the partial copy, then exit as a
        // shell expects of an interrupted command. (SIGKILL cannot be
        // caught; the next run removes what it left.)
        let _ = ctrlc::set_handler(|| {
            isotune_input::atomic::remove_pending();
            std::process::exit(130);
        });
    }
    let bar = Bar(progress::bytes(0, "implant", ctx.quiet));
    let report: ImplantReport = if args.dry_run {
        isotune_verify::implant_dry_run(&args.iso, args.force, &bar)
    } else if let Some(copy) = &args.output {
        isotune_verify::implant_to_copy(&args.iso, copy, args.force, &bar)
    } else {
        isotune_verify::implant_in_place(&args.iso, args.force, &bar)
    }
    .context("cannot implant the MD5 record")?;
    bar.0.finish_and_clear();
    let mut out = output::open(None)?;
    if args.json {
        output::json(&mut out, &report)?;
    } else {
        render::verify::implant(&mut out, &report)?;
        out.flush()?;
    }
    Ok(Outcome::Pass)
}
