//! `isotune check`: arguments to an `isotune_scan::CheckRequest`, the
//! check (verify, inspect, the doctor's scan and rules, a short bench: all
//! in libraries) with progress bars, then a renderer.
//!
//! With no ISO it writes the sample image of `isotune_scan::sample` to a
//! temporary directory and checks that; the directory is removed at the
//! end and on SIGINT, SIGTERM and SIGHUP, and one left by a SIGKILLed run
//! is removed by the next.

use anyhow::Result;
use isotune_scan::{CheckRequest, Verdict};

use super::Context;
use crate::args::CheckArgs;
use crate::{output, progress, render, Outcome};

/// The binary's bars behind the scan's progress callbacks.
struct Bars {
    verify: super::verify::Bar,
    bench: super::bench::Bars,
}

impl isotune_scan::Progress for Bars {
    fn verify(&self) -> &dyn isotune_verify::Progress {
        &self.verify
    }
    fn bench(&self) -> &dyn isotune_bench::runner::Progress {
        &self.bench
    }
}

/// Runs `isotune check`.
pub fn run(ctx: &Context, args: &CheckArgs) -> Result<Outcome> {
    // Kept alive until the report is written; dropping it removes it.
    let sample = match &args.iso {
        Some(_) => None,
        None => Some(write_sample()?),
    };
    let iso = match (&args.iso, &sample) {
        (Some(p), _) => p.clone(),
        (None, Some(s)) => s.path().to_owned(),
        (None, None) => unreachable!("a sample is written when no ISO is given"),
    };
    let live = super::live::sources(&args.live);
    let req = CheckRequest {
        iso,
        sample: sample.is_some(),
        sums: args.sums.clone(),
        expect: args.expect.clone(),
        xml: args.xml.clone(),
        sources: live.sources.clone(),
        bench: !args.no_bench,
    };
    let bars = Bars {
        verify: super::verify::Bar(progress::bytes(0, "check", ctx.quiet)),
        bench: super::bench::Bars::new(ctx.quiet),
    };
    let report = isotune_scan::check(&req, &bars);
    bars.verify.0.finish_and_clear();
    let report = report?;
    live.say(ctx.quiet);
    if let Some(md) = &args.markdown {
        let mut f = output::open_beside(md, &[&req.iso])?;
        render::check::markdown(&mut f, &report)?;
    }
    let mut out = output::open(None)?;
    if args.json {
        output::json(&mut out, &report)?;
    } else {
        let opts = render::doctor::Options {
            color: ctx.color,
            explain: args.explain,
        };
        render::check::human(&mut out, &report, opts)?;
    }
    drop(sample);
    Ok(match report.verdict {
        Verdict::Pass => Outcome::Pass,
        Verdict::Fail => Outcome::Fail,
    })
}

/// Writes the sample image, after removing what killed runs left, and
/// removes it again on a catchable signal.
fn write_sample() -> Result<isotune_scan::sample::Sample> {
    let tmp = std::env::temp_dir();
    isotune_scan::sample::remove_stale(&tmp);
    // Installed before the directory exists, so a signal while the image
    // is written removes it too. `termination` covers SIGINT, SIGTERM and
    // SIGHUP; exit as the shell reports a signal death (128 + SIGINT).
    let parent = tmp.clone();
    let _ = ctrlc::set_handler(move || {
        isotune_scan::sample::remove_own(&parent);
        std::process::exit(130);
    });
    Ok(isotune_scan::sample::write(&tmp)?)
}
