//! `isotune bench`: the ISO's access patterns on this host's storage.
//!
//! Glue only: the boot trace comes from `isotune-iso` (the boot files in
//! load order), the measuring from `isotune-bench`, the statistics from
//! `isotune-stats` through it. Workloads run in the order given; a boot
//! workload on an image with no boot files is skipped with a notice when
//! other workloads remain, and is an error when it is the only one.

use std::cell::RefCell;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use indicatif::ProgressBar;
use isotune_bench::compare::{compare_reports, has_regression_beyond};
use isotune_bench::engine::{open_engine, EngineChoice, EngineConfig};
use isotune_bench::fio::{fio_job, FioOptions, FioWorkload};
use isotune_bench::result::{BenchReport, TargetInfo};
use isotune_bench::runner::{run_workload, CacheMode, Progress, RunConfig};
use isotune_bench::target::{Target, TargetOptions};
use isotune_bench::workload::{
    request_alignment, BootProfile, TraceExtent, WorkloadSpec, MAX_REQUESTS,
};
use isotune_bench::{Notice, Request, Warning};

use super::Context;
use crate::args::{BenchArgs, CacheArg, EngineArg, ProfileArg, WorkloadArg};
use crate::{output, progress, render, Outcome};

/// Draws one bar per run on stderr (also `check`'s short bench).
pub(crate) struct Bars {
    quiet: bool,
    bar: RefCell<Option<ProgressBar>>,
}

impl Bars {
    /// No bar yet; hidden with `--quiet` or off a terminal.
    pub(crate) fn new(quiet: bool) -> Self {
        Bars {
            quiet,
            bar: RefCell::new(None),
        }
    }
}

impl Progress for Bars {
    fn run_started(&self, workload: &str, run: usize, total_runs: usize, total_bytes: u64) {
        let bar = progress::bytes(
            total_bytes,
            &format!("{workload} run {run}/{total_runs}"),
            self.quiet,
        );
        if let Some(old) = self.bar.replace(Some(bar)) {
            old.finish_and_clear();
        }
    }
    fn advance(&self, bytes_done: u64) {
        if let Some(b) = self.bar.borrow().as_ref() {
            b.inc(bytes_done);
        }
    }
    fn run_finished(&self) {
        if let Some(b) = self.bar.borrow_mut().take() {
            b.finish_and_clear();
        }
    }
}

/// Runs `isotune bench`.
pub fn run(ctx: &Context, args: &BenchArgs) -> Result<Outcome> {
    if let Some(url) = args.iso.to_str().filter(|s| isotune_net::is_url(s)) {
        return super::bench_net::run(ctx, args, url);
    }
    for (given, flag) in [
        (args.connections.is_some(), "--connections"),
        (args.cacert.is_some(), "--cacert"),
    ] {
        if given {
            bail!(
                "{flag} is for URLs (http, https, nbd); {} is a local path",
                args.iso.display()
            );
        }
    }
    let specs = specs(args)?;
    let baseline = match &args.baseline {
        Some(p) => Some(read_baseline(p)?),
        None => None,
    };
    let target = Target::open(
        &args.iso,
        TargetOptions {
            direct: args.direct,
        },
    )
    .context("cannot benchmark")?;
    let is_boot = |s: &WorkloadSpec| matches!(s, WorkloadSpec::Boot { .. });
    let mut specs = specs;
    let mut notices: Vec<Notice> = Vec::new();
    let mut trace = Vec::new();
    if specs.iter().any(is_boot) {
        match boot_trace(&args.iso) {
            Ok(t) => trace = t,
            Err(why) => {
                specs.retain(|s| !is_boot(s));
                if specs.is_empty() {
                    bail!(
                        "{}: nothing to replay for the boot workload: {why:#}",
                        args.iso.display()
                    );
                }
                notices.push(Notice::BootWorkloadSkipped {
                    reason: format!("{why:#}"),
                });
            }
        }
    }

    let size_limit = args.size;
    let (limits, capped) = size_limits(
        request_alignment(&target),
        &specs,
        size_limit,
        args.runtime.is_some(),
    );
    notices.extend(capped);
    let built = build(&target, &specs, &limits, &trace)?;
    let max_request = built
        .iter()
        .flat_map(|(_, _, r)| r.iter().map(|q| q.len as usize))
        .max()
        .unwrap_or(2048);
    let depths: Vec<u32> = built
        .iter()
        .map(|(_, spec, _)| queue_depth(spec, args.queue_depth))
        .collect();
    let mut opened = open_engine(
        &target,
        &EngineConfig {
            choice: match args.engine {
                EngineArg::Psync => EngineChoice::Psync,
                EngineArg::IoUring => EngineChoice::IoUring,
                EngineArg::Auto => EngineChoice::Auto,
            },
            queue_depth: depths.iter().copied().max().unwrap_or(1),
            max_request_bytes: max_request,
        },
    )
    .context("cannot start the I/O engine")?;
    if let Some(n) = &opened.fallback_notice {
        notices.push(n.clone());
    }
    let buffer_bytes = u64::from(depths.iter().copied().max().unwrap_or(1)) * max_request as u64;
    if buffer_bytes > MAX_BUFFER_BYTES {
        bail!(
            "{} requests in flight of up to {max_request} bytes need {buffer_bytes} bytes of \
             buffers, more than the limit of {MAX_BUFFER_BYTES}; lower --iodepth or the \
             request size",
            depths.iter().copied().max().unwrap_or(1)
        );
    }
    for n in &notices {
        eprintln!("isotune: note: {n}");
    }

    let config = RunConfig {
        runs: args.runs as usize,
        warmup: args.warmup as usize,
        cache: match args.cache.unwrap_or(CacheArg::Cold) {
            CacheArg::Cold => CacheMode::Cold,
            CacheArg::Warm => CacheMode::Warm,
        },
        queue_depth: 1,
        size_limit_bytes: size_limit,
        // Bounded at parse time (positive_seconds), so this cannot panic.
        runtime_limit: args.runtime.map(Duration::from_secs_f64),
    };
    let mut results = Vec::new();
    for (one, &depth) in built.iter().zip(&depths) {
        let config = RunConfig {
            queue_depth: depth,
            ..config.clone()
        };
        let mut result = run_all(
            ctx,
            &target,
            opened.engine.as_mut(),
            std::slice::from_ref(one),
            &config,
        )?;
        for r in &mut result {
            r.summary.warnings.extend(depth_warning(&r.spec, depth));
        }
        results.extend(result);
    }

    let mut report = BenchReport::new(TargetInfo::of(&target), notices, results);
    if let Some(base) = &baseline {
        report.comparison = Some(compare_reports(base, &report));
    }

    if let Some(path) = &args.export_fio {
        export_fio(
            path,
            &target,
            &built,
            &depths,
            args,
            &config,
            opened.engine.kind(),
        )?;
    }
    let outcome = emit(ctx, args, &report)?;
    if let (Some(path), false) = (&args.export_fio, args.json) {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut out = output::open(None)?;
        writeln!(
            out,
            "fio job written to {} (check the numbers: cd {} && fio --readonly {})",
            path.display(),
            dir.display(),
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        )?;
        out.flush()?;
    }
    Ok(outcome)
}

/// Writes `report` (Markdown beside, then JSON or the human report on
/// stdout) and decides the exit code from `--fail-on-regression`.
pub(super) fn emit(ctx: &Context, args: &BenchArgs, report: &BenchReport) -> Result<Outcome> {
    if let Some(md) = &args.markdown {
        output::write_beside(md, &[&args.iso], |buf| {
            Ok(render::bench::markdown(buf, report)?)
        })?;
    }
    let mut out = output::open(None)?;
    if args.json {
        output::json(&mut out, report)?;
    } else {
        render::bench::human(&mut out, report, ctx.color)?;
        out.flush()?;
    }
    let regressed = match (args.fail_on_regression, &report.comparison) {
        (Some(pct), Some(c)) => has_regression_beyond(c, pct),
        _ => false,
    };
    Ok(if regressed {
        Outcome::Fail
    } else {
        Outcome::Pass
    })
}

use std::io::Write as _;

pub(super) fn specs(args: &BenchArgs) -> Result<Vec<WorkloadSpec>> {
    let to_u32 = |what: &str, v: u64| -> Result<u32> {
        if v == 0 || !v.is_multiple_of(2048) {
            bail!("{what} must be a non-zero multiple of 2048 bytes (one ISO sector), not {v}");
        }
        u32::try_from(v).with_context(|| format!("{what} of {v} bytes is too large"))
    };
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for w in &args.workload {
        if seen.contains(w) {
            continue;
        }
        seen.push(*w);
        match w {
            WorkloadArg::Seq => out.push(WorkloadSpec::seq(to_u32("--seq-block", args.seq_block)?)),
            WorkloadArg::Rand => out.push(WorkloadSpec::rand(
                to_u32("--rand-block", args.rand_block)?,
                args.seed,
            )),
            WorkloadArg::Boot => match args.request_size {
                Some(sz) => out.push(WorkloadSpec::boot_custom(to_u32("--request-size", sz)?)),
                None => {
                    for p in &args.profile {
                        out.push(WorkloadSpec::boot(match p {
                            ProfileArg::BiosIde => BootProfile::BiosIde,
                            ProfileArg::BiosVirtio => BootProfile::BiosVirtio,
                            ProfileArg::LinuxIde => BootProfile::LinuxIde,
                            ProfileArg::LinuxVirtio => BootProfile::LinuxVirtio,
                        }));
                    }
                }
            },
        }
    }
    Ok(out)
}

/// The boot trace of the image, as the bench crate's plain extents (built
/// by the scan, which `check`'s short bench shares).
pub(super) fn boot_trace(path: &Path) -> Result<Vec<TraceExtent>> {
    isotune_scan::boot_trace(path).map_err(anyhow::Error::msg)
}

/// Buffers of the engine at most (queue depth × largest request): 1 GiB.
const MAX_BUFFER_BYTES: u64 = 1 << 30;

/// The queue depth a workload runs at: `--iodepth` when given, else the
/// boot profile's own depth, else 1.
pub(super) fn queue_depth(spec: &WorkloadSpec, explicit: Option<u32>) -> u32 {
    let profile_depth = match spec {
        WorkloadSpec::Boot { profile, .. } => profile.queue_depth_hint(),
        _ => None,
    };
    explicit.or(profile_depth).unwrap_or(1)
}

/// The warning for a boot workload run at another depth than its profile's.
pub(super) fn depth_warning(spec: &WorkloadSpec, depth: u32) -> Option<Warning> {
    let WorkloadSpec::Boot { profile, .. } = spec else {
        return None;
    };
    let hint = profile.queue_depth_hint()?;
    (hint != depth).then_some(Warning::ProfileDepthOverridden {
        profile: *profile,
        profile_queue_depth: hint,
        queue_depth: depth,
    })
}

pub(super) fn read_baseline(path: &Path) -> Result<BenchReport> {
    let bytes = isotune_input::read_capped(
        path,
        isotune_input::caps::TEXT_FILE_BYTES,
        "a baseline JSON file",
    )?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not JSON", path.display()))?;
    let version = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(isotune_bench::result::SCHEMA_VERSION)) {
        bail!(
            "{}: written by another isotune version (schema_version {}, this one reads {}); \
             rerun `isotune bench --json` with this version for a baseline",
            path.display(),
            version.map_or_else(|| "missing".to_owned(), |v| v.to_string()),
            isotune_bench::result::SCHEMA_VERSION
        );
    }
    serde_json::from_value(value)
        .with_context(|| format!("{}: not an `isotune bench --json` result", path.display()))
}

fn export_fio(
    path: &Path,
    target: &Target,
    built: &[(String, WorkloadSpec, Vec<Request>)],
    depths: &[u32],
    args: &BenchArgs,
    config: &RunConfig,
    engine: isotune_bench::EngineKind,
) -> Result<()> {
    let workloads: Vec<FioWorkload<'_>> = built
        .iter()
        .zip(depths)
        .map(|((name, spec, requests), &queue_depth)| FioWorkload {
            name,
            spec,
            requests,
            queue_depth,
        })
        .collect();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The job is run from its own directory: name the target absolutely.
    let target_path = std::fs::canonicalize(target.path())
        .with_context(|| format!("cannot resolve {}", target.path().display()))?;
    let export = fio_job(
        &workloads,
        &FioOptions {
            target_path: &target_path,
            target_size_bytes: target.size_bytes(),
            engine,
            direct: args.direct,
            cache: config.cache,
            runtime_limit: config.runtime_limit,
            align_bytes: request_alignment(target).max(2048),
        },
    );
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .context("--export-fio needs a file name")?;
    // Neither the job file nor an iolog may replace the image being read.
    for out in export.paths(dir, name) {
        output::refuse_inputs(&out, &[&args.iso])?;
    }
    export
        .write_to(dir, name)
        .context("cannot write the fio job")?;
    for n in &export.notes {
        eprintln!("isotune: note: {n}");
    }
    Ok(())
}

/// A workload ready to run: its name, spec and requests.
pub(super) type Built = (String, WorkloadSpec, Vec<Request>);

/// Builds each workload's requests for `target`.
/// The size limit of each workload: `--size`, except that with `--runtime`
/// a random workload planning more than [`MAX_REQUESTS`] requests is cut to
/// that many (the deadline ends its runs anyway), with a notice.
pub(super) fn size_limits(
    align: u64,
    specs: &[WorkloadSpec],
    size_limit: Option<u64>,
    time_based: bool,
) -> (Vec<Option<u64>>, Vec<Notice>) {
    let align = align.max(1);
    let mut notices = Vec::new();
    let limits = specs
        .iter()
        .map(|spec| match (spec, size_limit) {
            (WorkloadSpec::Rand { block_bytes, .. }, Some(limit)) if time_based => {
                let len = u64::from(*block_bytes).next_multiple_of(align);
                let most = MAX_REQUESTS.saturating_mul(len);
                if limit > most {
                    notices.push(Notice::SizeCappedForRuntime {
                        workload: spec.default_name(),
                        requested_bytes: limit,
                        planned_bytes: most,
                    });
                    Some(most)
                } else {
                    Some(limit)
                }
            }
            _ => size_limit,
        })
        .collect();
    (limits, notices)
}

fn build(
    target: &Target,
    specs: &[WorkloadSpec],
    size_limits: &[Option<u64>],
    trace: &[TraceExtent],
) -> Result<Vec<Built>> {
    build_for(
        target.size_bytes(),
        request_alignment(target),
        &target.path().display().to_string(),
        specs,
        size_limits,
        trace,
    )
}

/// Builds each workload's requests for a target of `size_bytes` named `name`.
pub(super) fn build_for(
    size_bytes: u64,
    align: u64,
    name: &str,
    specs: &[WorkloadSpec],
    size_limits: &[Option<u64>],
    trace: &[TraceExtent],
) -> Result<Vec<Built>> {
    specs
        .iter()
        .zip(size_limits)
        .map(|(spec, &size_limit)| {
            let requests = spec
                .build(size_bytes, align, size_limit, trace)
                .with_context(|| {
                    format!("{name}: cannot build the {} workload", spec.default_name())
                })?;
            Ok((spec.default_name(), spec.clone(), requests))
        })
        .collect()
}

/// Runs the workloads in order, one progress bar per run.
fn run_all(
    ctx: &Context,
    target: &Target,
    engine: &mut dyn isotune_bench::engine::Engine,
    built: &[Built],
    config: &RunConfig,
) -> Result<Vec<isotune_bench::result::WorkloadResult>> {
    let bars = Bars::new(ctx.quiet);
    let mut results = Vec::new();
    for (name, spec, requests) in built {
        results.push(
            run_workload(target, engine, name, spec, requests, config, &bars)
                .with_context(|| format!("the {name} workload failed"))?,
        );
    }
    bars.run_finished();
    Ok(results)
}
