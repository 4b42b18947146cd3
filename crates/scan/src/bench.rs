//! The short bench `check` runs (about 10 s at most): a cold sequential
//! read in 1 MiB requests and a cold replay of the boot trace in the 2 KiB
//! requests SeaBIOS makes on an IDE cdrom, two runs each, each run stopped
//! after 2.5 s. Progress goes through the bench crate's callback.

use std::path::Path;
use std::time::Duration;

use isotune_bench::engine::{open_engine, EngineChoice, EngineConfig};
use isotune_bench::result::{BenchReport, TargetInfo};
use isotune_bench::runner::{run_workload, CacheMode, Progress, RunConfig};
use isotune_bench::target::{Target, TargetOptions};
use isotune_bench::warning::Notice;
use isotune_bench::workload::{request_alignment, BootProfile, WorkloadSpec};
use isotune_doctor::{BenchFacts, BenchPattern};

/// Runs the short bench on `iso`. `Err` says why it could not run (the
/// check goes on without it).
pub fn quick_bench(iso: &Path, progress: &dyn Progress) -> Result<BenchReport, String> {
    let target = Target::open(iso, TargetOptions { direct: false })
        .map_err(|e| format!("cannot benchmark {}: {e}", iso.display()))?;
    let mut notices = Vec::new();
    // 1 MiB requests, or smaller for an image smaller than that.
    let mut seq_block: u32 = 1 << 20;
    while u64::from(seq_block) > target.size_bytes() && seq_block > 2048 {
        seq_block /= 2;
    }
    let mut specs = vec![WorkloadSpec::seq(seq_block)];
    let trace = match crate::iso::boot_trace(iso) {
        Ok(t) => {
            specs.push(WorkloadSpec::boot(BootProfile::BiosIde));
            t
        }
        Err(why) => {
            notices.push(Notice::BootWorkloadSkipped {
                reason: why.to_string(),
            });
            Vec::new()
        }
    };
    let mut opened = open_engine(
        &target,
        &EngineConfig {
            choice: EngineChoice::Psync,
            queue_depth: 1,
            max_request_bytes: 1 << 20,
        },
    )
    .map_err(|e| format!("cannot start the I/O engine: {e}"))?;
    let config = RunConfig {
        runs: 2,
        warmup: 0,
        cache: CacheMode::Cold,
        queue_depth: 1,
        size_limit_bytes: None,
        runtime_limit: Some(Duration::from_millis(2500)),
    };
    let align = request_alignment(&target);
    let mut results = Vec::new();
    for spec in &specs {
        let name = spec.default_name();
        let requests = spec
            .build(target.size_bytes(), align, None, &trace)
            .map_err(|e| format!("cannot build the {name} workload: {e}"))?;
        results.push(
            run_workload(
                &target,
                opened.engine.as_mut(),
                &name,
                spec,
                &requests,
                &config,
                progress,
            )
            .map_err(|e| format!("the {name} workload failed: {e}"))?,
        );
    }
    progress.run_finished();
    Ok(BenchReport::new(TargetInfo::of(&target), notices, results))
}

/// The fastest run of each workload, as the doctor's facts. `in_memory_fs`:
/// the image is on tmpfs/ramfs, so no run reached storage.
pub(crate) fn bench_facts(iso: &Path, report: &BenchReport, in_memory_fs: bool) -> Vec<BenchFacts> {
    report
        .workloads
        .iter()
        .filter_map(|w| {
            let run = w.runs.iter().min_by_key(|r| r.elapsed_ns)?;
            let pattern = match w.spec {
                WorkloadSpec::Boot { .. } => BenchPattern::BootTrace,
                _ => BenchPattern::Sequential,
            };
            Some(BenchFacts {
                path: iso.to_owned(),
                pattern,
                bytes: run.bytes,
                requests: run.requests,
                elapsed_ns: run.elapsed_ns,
                stopped_early: run.stopped_early,
                in_memory: in_memory_fs || run.cache.is_some_and(|c| !c.dropped),
            })
        })
        .collect()
}
