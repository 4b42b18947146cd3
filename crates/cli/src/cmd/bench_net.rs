//! `isotune bench URL`: the bench's workloads over HTTP(S) Range requests
//! or NBD. The arguments mean what they mean for a file (workloads,
//! profiles, sizes, runs, `--baseline`, `--json`); the source is probed
//! first (size, Range support, redirects, round trips), the boot trace is
//! read from the image over the same link, and the report adds the probe and
//! the boot predictions (`isotune_bench::predict`).

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use isotune_bench::compare::compare_reports;
use isotune_bench::net::{run_net_workload, NetEngine};
use isotune_bench::predict::{predict_boot, NetworkReport};
use isotune_bench::result::{BenchReport, TargetInfo};
use isotune_bench::runner::{CacheMode, RunConfig};
use isotune_bench::workload::WorkloadSpec;
use isotune_bench::Notice;
use isotune_net::{NetOptions, NetSource};

use super::bench::{
    build_for, depth_warning, emit, queue_depth, read_baseline, size_limits, specs, Bars,
};
use super::Context;
use crate::args::{BenchArgs, EngineArg};
use crate::Outcome;

/// Runs `isotune bench` on `url`.
pub fn run(ctx: &Context, args: &BenchArgs, url: &str) -> Result<Outcome> {
    refuse_local_flags(args)?;
    let specs = specs(args)?;
    let baseline = match &args.baseline {
        Some(p) => Some(read_baseline(p)?),
        None => None,
    };
    let timeout = Duration::from_secs_f64(args.net_timeout);
    let options = NetOptions {
        cacert: args.cacert.clone(),
        connect_timeout: timeout,
        io_timeout: timeout,
    };
    let source = NetSource::open(url, &options).context("cannot benchmark")?;
    let name = source.url().redacted();
    let is_boot = |s: &WorkloadSpec| matches!(s, WorkloadSpec::Boot { .. });
    let mut specs = specs;
    let mut notices: Vec<Notice> = Vec::new();
    let mut trace = Vec::new();
    if specs.iter().any(is_boot) {
        let found = source
            .reader()
            .map_err(|e| e.to_string())
            .and_then(|reader| isotune_scan::boot_trace_of(reader, &name));
        match found {
            Ok(t) => trace = t,
            Err(why) => {
                specs.retain(|s| !is_boot(s));
                if specs.is_empty() {
                    bail!("{name}: nothing to replay for the boot workload: {why}");
                }
                notices.push(Notice::BootWorkloadSkipped { reason: why });
            }
        }
    }
    let (limits, capped) = size_limits(1, &specs, args.size, args.runtime.is_some());
    notices.extend(capped);
    let built = build_for(source.size_bytes(), 1, &name, &specs, &limits, &trace)?;
    let explicit = args.queue_depth.or(args.connections);
    let depths: Vec<u32> = built
        .iter()
        .map(|(_, spec, _)| queue_depth(spec, explicit))
        .collect();
    let connections = depths.iter().copied().max().unwrap_or(1);
    if connections > 64 {
        bail!("{connections} requests in flight need as many connections; at most 64");
    }
    let mut engine = NetEngine::open(&source, connections).context("cannot benchmark")?;
    for n in &notices {
        eprintln!("isotune: note: {n}");
    }

    let config = RunConfig {
        runs: args.runs as usize,
        warmup: args.warmup as usize,
        cache: CacheMode::Server,
        queue_depth: 1,
        size_limit_bytes: args.size,
        // Bounded at parse time (positive_seconds), so this cannot panic.
        runtime_limit: args.runtime.map(Duration::from_secs_f64),
    };
    let bars = Bars::new(ctx.quiet);
    let mut results = Vec::new();
    let mut predictions = Vec::new();
    let mut failed = None;
    for ((wname, spec, requests), &depth) in built.iter().zip(&depths) {
        let config = RunConfig {
            queue_depth: depth,
            ..config.clone()
        };
        match run_net_workload(&mut engine, wname, spec, requests, &config, &bars) {
            Ok(mut result) => {
                result.summary.warnings.extend(depth_warning(spec, depth));
                predictions.extend(predict_boot(&result, requests, source.info()));
                results.push(result);
            }
            Err(e) => {
                // A link that broke off: keep what was measured before it.
                notices.push(Notice::WorkloadFailed {
                    workload: wname.clone(),
                    reason: e.to_string(),
                });
                failed =
                    Some(anyhow::Error::new(e).context(format!("the {wname} workload failed")));
                break;
            }
        }
    }
    isotune_bench::runner::Progress::run_finished(&bars);

    let mut report = BenchReport::new(TargetInfo::of_source(&source), notices, results);
    report.network = Some(NetworkReport {
        source: source.info().clone(),
        connections,
        boot_predictions: predictions,
    });
    if let Some(base) = &baseline {
        report.comparison = Some(compare_reports(base, &report));
    }
    match failed {
        None => emit(ctx, args, &report),
        Some(e) if report.workloads.is_empty() => Err(e),
        Some(e) => {
            emit(ctx, args, &report)?;
            Err(e)
        }
    }
}

/// Options that only make sense for a local file or device.
fn refuse_local_flags(args: &BenchArgs) -> Result<()> {
    if args.direct {
        bail!("--direct is for files and block devices: a URL is read over the network, where there is no O_DIRECT");
    }
    match args.engine {
        EngineArg::Auto => {}
        EngineArg::IoUring | EngineArg::Psync => bail!(
            "--engine is for files and block devices: a URL is read by isotune's own HTTP or NBD client (use --connections for parallel requests)"
        ),
    }
    if args.cache.is_some() {
        bail!("--cache is for files and block devices: a URL's cache is the server's");
    }
    if args.export_fio.is_some() {
        bail!("--export-fio is for files and block devices (fio has no HTTP engine here; for NBD use fio --ioengine=nbd)");
    }
    Ok(())
}
