//! `isotune tune`: plan, apply, verify, rollback, status and warm. The
//! findings come from one function ([`findings`]) so that moving the
//! doctor's gathering into a library is a one-line change here; everything
//! else is `isotune_tune`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use isotune_doctor::{Facts, Finding};
use isotune_scan::{ScanRequest, VmSource};
use std::time::Duration;

use isotune_tune::{Bus, Journal, Plan, PlanOptions, Restart, RollbackSelect, Roots, Target};

use super::tune_measure::{self, DomainMeasurement};

use super::Context;
use crate::args_tune::{
    BusArg, TuneApplyArgs, TuneArgs, TuneCommand, TuneRollbackArgs, TuneSelect,
};
use crate::{output, progress, render, Outcome};

/// Test hook: `apply` stops itself (SIGSTOP) after this step (see
/// `ApplyHooks`), so the crash tests can SIGKILL it at every step boundary,
/// and other tests can change something and let it go on (SIGCONT).
const PAUSE_ENV: &str = "ISOTUNE_TUNE_PAUSE_AFTER_STEP";

/// Runs `isotune tune`.
pub fn run(ctx: &Context, args: &TuneArgs) -> Result<Outcome> {
    // Absolute, so a journal names its files wherever rollback runs from.
    let state_dir = absolute(&args.state_dir)?;
    let journal = Journal::new(&state_dir);
    let mut out = output::open(None)?;
    match &args.action {
        TuneCommand::Plan(select) => {
            let plan = make_plan(args, select, &[])?;
            show(&mut out, args.json, &plan, |o| render::tune::plan(o, &plan))?;
            Ok(Outcome::Pass)
        }
        TuneCommand::Apply(a) => apply(ctx, args, a, &journal, &mut out),
        TuneCommand::Verify(v) => {
            let report = isotune_tune::verify(&journal)?;
            let measurements = if v.measure.measure {
                let txs: Vec<_> = journal
                    .load_all()?
                    .into_iter()
                    .filter_map(Result::ok)
                    .collect();
                Some(tune_measure::measure(
                    ctx,
                    &v.measure,
                    &tune_measure::subjects_of_journal(&txs),
                )?)
            } else {
                None
            };
            let output = VerifyOutput {
                verify: &report,
                measurements: measurements.as_deref(),
            };
            show(&mut out, args.json, &output, |o| {
                render::tune::verify(o, &report, ctx.color)?;
                if let Some(ms) = &measurements {
                    render::tune_measure::measurements(o, ms)?;
                }
                Ok(())
            })?;
            let slower = measurements.iter().flatten().any(|m| m.slower());
            Ok(if report.passed() && !slower {
                Outcome::Pass
            } else {
                Outcome::Fail
            })
        }
        TuneCommand::Rollback(r) => {
            let report = isotune_tune::rollback(&journal, &rollback_select(r))?;
            show(&mut out, args.json, &report, |o| {
                render::tune::rollback(o, &report)
            })?;
            Ok(if report.passed() {
                Outcome::Pass
            } else {
                Outcome::Fail
            })
        }
        TuneCommand::Status => {
            let report = isotune_tune::status(&journal)?;
            show(&mut out, args.json, &report, |o| {
                render::tune::status(o, &report)
            })?;
            Ok(if report.journal_issues.is_empty() {
                Outcome::Pass
            } else {
                Outcome::Fail
            })
        }
        TuneCommand::Warm(w) => {
            let report = warm(ctx, &w.iso)?;
            show(&mut out, args.json, &report, |o| {
                render::tune::warm(o, &w.iso, &report)
            })?;
            Ok(Outcome::Pass)
        }
    }
}

fn show<T: serde::Serialize>(
    out: &mut Box<dyn std::io::Write>,
    json: bool,
    value: &T,
    human: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<()> {
    if json {
        output::json(out, value)
    } else {
        human(out)?;
        out.flush()?;
        Ok(())
    }
}

/// The doctor's facts and findings for `select`: the one place the tune
/// command gets them.
fn findings(select: &TuneSelect) -> Result<(Facts, Vec<Finding>)> {
    let mut sources: Vec<VmSource> = select
        .xml
        .iter()
        .cloned()
        .map(VmSource::LibvirtXml)
        .collect();
    let uri = match (&select.connect, select.domain.is_empty()) {
        (Some(uri), _) => Some(uri.clone()),
        (None, true) => None,
        (None, false) => {
            let choice = isotune_scan::resolve_uri_from_host(None);
            match choice.uri() {
                Some(u) => Some(u.to_owned()),
                None => bail!("--domain needs libvirt: {choice}; give --connect URI"),
            }
        }
    };
    if let Some(uri) = &uri {
        sources.push(VmSource::Libvirt {
            uri: uri.clone(),
            explicit: true,
        });
    }
    sources.extend(
        select
            .qemu_cmdline
            .iter()
            .cloned()
            .map(VmSource::QemuCmdline),
    );
    if let Some(dir) = &select.proxmox {
        sources.push(VmSource::Proxmox(dir.clone()));
    }
    let request = ScanRequest {
        isos: select.iso.clone(),
        sources,
        vm_isos: true,
        ..ScanRequest::default()
    };
    let scan = isotune_scan::scan(&request)?;
    if let Some(uri) = &uri {
        // A libvirt that could not be read is an error here: tune would
        // otherwise plan nothing for domains it never saw.
        if let Some(w) = scan.warnings.iter().find(|w| {
            matches!(
                w.code(),
                "libvirt-unreachable" | "libvirt-permission-denied" | "libvirt-timeout"
            )
        }) {
            bail!("{w}");
        }
        let known: Vec<&str> = scan
            .libvirt
            .iter()
            .flat_map(|l| l.domains.iter().map(|d| d.name.as_str()))
            .collect();
        if let Some(bad) = select.domain.iter().find(|d| !known.contains(&d.as_str())) {
            bail!("--domain {bad}: no such domain at {uri}");
        }
    }
    let report = isotune_scan::diagnose(scan.facts, scan.warnings);
    let mut findings = report.findings;
    if !select.domain.is_empty() {
        // Only the chosen domains' findings; host and ISO findings stay.
        findings.retain(|f| {
            !f.subject.starts_with("VM \"")
                || select
                    .domain
                    .iter()
                    .any(|d| f.subject.starts_with(&format!("VM \"{d}\"")))
        });
    }
    Ok((report.facts, findings))
}

fn make_plan(args: &TuneArgs, select: &TuneSelect, only: &[String]) -> Result<Plan> {
    if !args.root.is_dir() {
        bail!("{}: not a directory (--root)", args.root.display());
    }
    let (facts, findings) = findings(select)?;
    let roots = Roots {
        files: absolute(&args.root)?,
        sysfs: "/".into(),
    };
    let opts = PlanOptions {
        bus: select.bus.map(|b| match b {
            BusArg::Sata => Bus::Sata,
            BusArg::VirtioScsi => Bus::VirtioScsi,
        }),
    };
    Ok(isotune_tune::plan(&facts, &findings, &roots, &opts)?.select(only))
}

fn apply(
    ctx: &Context,
    args: &TuneArgs,
    a: &TuneApplyArgs,
    journal: &Journal,
    out: &mut Box<dyn std::io::Write>,
) -> Result<Outcome> {
    let plan = make_plan(args, &a.select, &[])?;
    let known: Vec<&str> = plan
        .changes
        .iter()
        .flat_map(|c| [c.id.as_str(), c.finding.as_str()])
        .collect();
    if let Some(bad) = a.only.iter().find(|o| !known.contains(&o.as_str())) {
        bail!(
            "--only {bad}: no such change in the plan (changes: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    }
    let plan = plan.select(&a.only);
    if a.dry_run {
        show(out, args.json, &plan, |o| render::tune::plan(o, &plan))?;
        return Ok(Outcome::Pass);
    }
    if plan.changes.is_empty() {
        show(out, args.json, &plan, |o| render::tune::plan(o, &plan))?;
        return Ok(Outcome::Pass);
    }
    if !a.yes {
        confirm(&plan)?;
    }
    let mut hooks = PauseHook(std::env::var(PAUSE_ENV).ok().and_then(|v| v.parse().ok()));
    let report = isotune_tune::apply(journal, &plan, &mut hooks)?;
    let restarts: Vec<Restart> = if a.restart {
        changed_domains(&report)
            .into_iter()
            .map(|(uri, domain)| {
                isotune_tune::restart_domain(
                    &uri,
                    &domain,
                    Duration::from_secs_f64(a.restart_timeout),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let measurements = if a.measure.measure {
        Some(tune_measure::measure(
            ctx,
            &a.measure,
            &tune_measure::subjects_of_apply(&report.transaction, &report.entries),
        )?)
    } else {
        None
    };
    let output = ApplyOutput {
        apply: &report,
        restarts: &restarts,
        measurements: measurements.as_deref(),
    };
    show(out, args.json, &output, |o| {
        render::tune::applied(o, &report, a.restart)?;
        render::tune_measure::restarts(o, &restarts)?;
        if let Some(ms) = &measurements {
            render::tune_measure::measurements(o, ms)?;
        }
        Ok(())
    })?;
    let slower: Vec<&DomainMeasurement> = measurements
        .iter()
        .flatten()
        .filter(|m| m.slower())
        .collect();
    if !slower.is_empty()
        && !args.json
        && std::io::stdin().is_terminal()
        && offer_rollback(&slower)?
    {
        let rb = isotune_tune::rollback(journal, &RollbackSelect::Id(report.transaction.clone()))?;
        render::tune::rollback(out, &rb)?;
        out.flush()?;
        return Ok(if rb.passed() {
            Outcome::Pass
        } else {
            Outcome::Fail
        });
    }
    let restarts_ok = restarts.iter().all(Restart::ok);
    Ok(if slower.is_empty() && restarts_ok {
        Outcome::Pass
    } else {
        Outcome::Fail
    })
}

/// `apply`'s JSON: the apply report with what `--restart` and `--measure`
/// added (absent without them).
#[derive(serde::Serialize)]
struct ApplyOutput<'a> {
    #[serde(flatten)]
    apply: &'a isotune_tune::ApplyReport,
    #[serde(skip_serializing_if = "<[Restart]>::is_empty")]
    restarts: &'a [Restart],
    #[serde(skip_serializing_if = "Option::is_none")]
    measurements: Option<&'a [DomainMeasurement]>,
}

/// `verify`'s JSON: the verify report with `--measure`'s boots.
#[derive(serde::Serialize)]
struct VerifyOutput<'a> {
    #[serde(flatten)]
    verify: &'a isotune_tune::VerifyReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    measurements: Option<&'a [DomainMeasurement]>,
}

/// The domains a transaction changed, each once, in order.
fn changed_domains(report: &isotune_tune::ApplyReport) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for e in &report.entries {
        if let Target::Domain { uri, domain, .. } = &e.change.target {
            let key = (uri.clone(), domain.clone());
            if !out.contains(&key) {
                out.push(key);
            }
        }
    }
    out
}

/// Asks whether to roll back a change that made a boot slower.
fn offer_rollback(slower: &[&DomainMeasurement]) -> Result<bool> {
    let mut err = std::io::stderr();
    let names: Vec<&str> = slower.iter().map(|m| m.domain.as_str()).collect();
    write!(
        err,
        "The change made the boot of {} slower. Roll back this transaction? [y/N] ",
        names.join(", ")
    )?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// Shows the plan on stderr and asks; refuses when there is no terminal.
fn confirm(plan: &Plan) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to change the host without --yes: standard input is not a terminal to ask on"
        );
    }
    let mut err = std::io::stderr();
    render::tune::plan(&mut err, plan)?;
    write!(err, "Apply {} change(s)? [y/N] ", plan.changes.len())?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if !matches!(line.trim(), "y" | "Y" | "yes") {
        bail!("not applied: not confirmed");
    }
    Ok(())
}

struct PauseHook(Option<u32>);

impl isotune_tune::ApplyHooks for PauseHook {
    fn step(&mut self, n: u32) {
        if self.0 == Some(n) {
            eprintln!("isotune: paused after apply step {n} ({PAUSE_ENV})");
            // Stopped until SIGCONT (the test changes something, then lets
            // the run go on) or SIGKILL (a crash at this step).
            let me = rustix::process::getpid();
            if rustix::process::kill_process(me, rustix::process::Signal::STOP).is_err() {
                loop {
                    std::thread::park();
                }
            }
        }
    }
}

fn absolute(p: &Path) -> Result<std::path::PathBuf> {
    std::path::absolute(p)
        .with_context(|| format!("{}: cannot make the path absolute", p.display()))
}

fn rollback_select(r: &TuneRollbackArgs) -> RollbackSelect {
    match (&r.id, r.all) {
        (Some(id), _) => RollbackSelect::Id(id.clone()),
        (None, true) => RollbackSelect::All,
        (None, false) => RollbackSelect::Last,
    }
}

fn warm(ctx: &Context, iso: &Path) -> Result<isotune_tune::WarmReport> {
    let (file, _kind) = isotune_input::open_image(iso)?;
    let size = {
        use std::io::Seek as _;
        (&file)
            .seek(std::io::SeekFrom::End(0))
            .with_context(|| format!("{}: cannot tell its size", iso.display()))?
    };
    // Boot files first; an image that is not ISO9660 is warmed front to back.
    let boot_ranges = |file: &std::fs::File| -> Vec<(u64, u64)> {
        isotune_iso::IsoImage::open(file)
            .ok()
            .map(|img| {
                let catalog = isotune_iso::bootfiles::boot_catalog(&img).ok().flatten();
                let found = isotune_iso::bootfiles::discover(&img, catalog.as_ref());
                isotune_iso::bootfiles::default_boot_files(&found.files)
                    .iter()
                    .flat_map(|f| f.extents.iter().map(|e| (e.offset(), e.size)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let bar = progress::bytes(size, "warming", ctx.quiet);
    let report = isotune_tune::warm(iso, &file, size, boot_ranges, &mut |n, total| {
        bar.set_length(total);
        bar.set_position(n);
    })?;
    bar.finish_and_clear();
    Ok(report)
}
