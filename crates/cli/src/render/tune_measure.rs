//! Human output of `tune --measure` and `tune apply --restart`.

use std::io::{self, Write};

use isotune_qemu::compare::Side;
use isotune_stats::Verdict;
use isotune_tune::{Restart, RestartOutcome};

use crate::cmd::tune_measure::{DomainMeasurement, MeasureResult};

/// What `--restart` did, one line per domain.
pub fn restarts(out: &mut dyn Write, rs: &[Restart]) -> io::Result<()> {
    for r in rs {
        let what = match &r.outcome {
            RestartOutcome::Restarted { shutdown_seconds } => format!(
                "restarted (shut down in {shutdown_seconds:.1} s, started): the change is live"
            ),
            RestartOutcome::NotRunning => {
                "not running: the change takes effect at its next start".to_owned()
            }
            RestartOutcome::ShutdownTimedOut { waited_seconds } => format!(
                "still running after {waited_seconds:.0} s of waiting for the guest to shut down: \
                 left running (never forced off); the change takes effect at its next start"
            ),
            RestartOutcome::Failed { error, left_off } => format!(
                "restart failed: {error}{}",
                if *left_off {
                    " (the domain is off: start it with `virsh start`)"
                } else {
                    ""
                }
            ),
        };
        writeln!(out, "domain {}: {what}", r.domain)?;
    }
    Ok(())
}

fn side(s: &Side) -> String {
    let c = &s.config;
    let median = s
        .median_seconds
        .map_or("no successful run".to_owned(), |m| format!("{m:.2} s"));
    let bpr = s
        .median_bytes_per_request
        .map_or(String::new(), |b| format!(", {} B/request", b.round()));
    let failed = if s.failures.is_empty() {
        String::new()
    } else {
        format!(
            ", {} run(s) failed: {}",
            s.failures.len(),
            s.failures.join("; ")
        )
    };
    format!(
        "{} on {}, {}, cache={}, aio={}: median {median} over {} run(s){bpr}{failed}",
        c.bus, c.machine, c.firmware, c.cache, c.aio, s.runs
    )
}

/// The before/after boots of each domain.
pub fn measurements(out: &mut dyn Write, ms: &[DomainMeasurement]) -> io::Result<()> {
    for m in ms {
        let iso = m
            .iso
            .as_ref()
            .map_or(String::new(), |p| format!(" booting {}", p.display()));
        writeln!(out, "\nmeasured domain {}{iso}:", m.domain)?;
        match &m.result {
            MeasureResult::NotMeasured { reason } => writeln!(out, "  not measured: {reason}")?,
            MeasureResult::Measured { comparison: c } => {
                writeln!(out, "  before: {}", side(&c.before))?;
                writeln!(out, "  after:  {}", side(&c.after))?;
                let accel = c
                    .accel_used
                    .as_deref()
                    .map_or(String::new(), |a| format!(" (accelerator: {a})"));
                let line = match (c.speedup, c.verdict) {
                    (Some(s), Some(v)) => {
                        let ci = c
                            .speedup_ci95
                            .map_or(" [interval unbounded]".to_owned(), |(lo, hi)| {
                                format!(" [95% CI {lo:.2}, {hi:.2}]")
                            });
                        let verdict = match v {
                            Verdict::Faster => "faster: the change helped",
                            Verdict::Slower => "SLOWER: the change made the boot slower",
                            Verdict::NoSignificantChange => "no significant difference",
                        };
                        format!("{s:.2}x{ci}, {verdict}")
                    }
                    _ => "too few successful runs to compare".to_owned(),
                };
                writeln!(out, "  speed-up: {line}{accel}")?;
                if c.slower() {
                    writeln!(out, "  undo with `isotune tune rollback {}`", m.transaction)?;
                }
            }
        }
    }
    Ok(())
}
