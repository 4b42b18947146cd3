//! The runner on a real file with the psync engine: seq, rand and boot
//! workloads read the bytes and requests their lists say, the run counts are
//! right, cold runs record the page-cache drop, and the limits stop runs.
//!
//! The file lives under /var/tmp (a disk filesystem: on tmpfs the page cache
//! *is* the file and a drop never takes).

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Duration;

use isotune_bench::engine::{open_engine, EngineChoice, EngineConfig};
use isotune_bench::runner::{run_workload, CacheMode, NoProgress, Progress, RunConfig};
use isotune_bench::workload::{
    request_alignment, total_bytes, BootProfile, TraceExtent, WorkloadSpec,
};
use isotune_bench::{EngineKind, Target, TargetOptions};

const SIZE: u64 = 32 << 20;

fn image() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("isotune-runner-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let path = dir.path().join("image.iso");
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 13 + i / 2048) as u8).collect();
    std::fs::write(&path, data).unwrap();
    // Written pages are dirty; make them clean so a drop can evict them.
    std::fs::File::open(&path).unwrap().sync_all().unwrap();
    (dir, path)
}

fn psync(target: &Target) -> Box<dyn isotune_bench::Engine> {
    let config = EngineConfig {
        choice: EngineChoice::Psync,
        queue_depth: 1,
        max_request_bytes: 1 << 20,
    };
    open_engine(target, &config).unwrap().engine
}

#[derive(Default)]
struct Recorder {
    starts: RefCell<Vec<(String, usize, usize, u64)>>,
    bytes: RefCell<u64>,
    finished: RefCell<usize>,
}

impl Progress for Recorder {
    fn run_started(&self, workload: &str, run: usize, total_runs: usize, total_bytes: u64) {
        self.starts
            .borrow_mut()
            .push((workload.to_owned(), run, total_runs, total_bytes));
    }
    fn advance(&self, bytes_done: u64) {
        *self.bytes.borrow_mut() += bytes_done;
    }
    fn run_finished(&self) {
        *self.finished.borrow_mut() += 1;
    }
}

#[test]
fn cold_seq_runs_read_everything_and_record_the_drop() {
    let (_dir, path) = image();
    let target = Target::open(&path, TargetOptions::default()).unwrap();
    let mut engine = psync(&target);
    let spec = WorkloadSpec::seq(1 << 20);
    let requests = spec
        .build(
            target.size_bytes(),
            request_alignment(&target),
            Some(8 << 20),
            &[],
        )
        .unwrap();
    let config = RunConfig {
        runs: 3,
        warmup: 1,
        ..RunConfig::default()
    };
    let progress = Recorder::default();
    let r = run_workload(
        &target,
        engine.as_mut(),
        "seq-1m",
        &spec,
        &requests,
        &config,
        &progress,
    )
    .unwrap();

    assert_eq!(r.engine, EngineKind::Psync);
    assert_eq!(r.cache_mode, CacheMode::Cold);
    assert_eq!((r.request_count, r.request_bytes), (8, 8 << 20));
    assert_eq!(r.warmup_runs.len(), 1);
    assert_eq!(r.runs.len(), 3);
    for (i, run) in r.warmup_runs.iter().chain(&r.runs).enumerate() {
        assert_eq!(run.warmup, i == 0);
        assert_eq!((run.bytes, run.requests), (8 << 20, 8), "run {i}");
        assert!(!run.stopped_early);
        assert!(run.elapsed_ns > 0 && run.iops > 0.0 && run.latency_ns.p50 > 0);
        // At QD1 the latencies add up to (nearly all of) the wall time.
        let busy_ns = run.latency_ns.mean * run.requests as f64;
        let wall_ns = run.elapsed_ns as f64;
        assert!(
            busy_ns <= wall_ns * 1.01 && busy_ns >= wall_ns * 0.3,
            "{run:?}"
        );
        assert!(
            run.latency_ns.min <= run.latency_ns.p50 && run.latency_ns.p99 <= run.latency_ns.max
        );
        let cache = run.cache.expect("cold runs record the drop");
        assert!(cache.dropped, "run {i}: {cache:?}");
        if i > 0 {
            // The previous run left (at least most of) its 8 MiB in the cache.
            assert!(cache.resident_before_bytes >= 4 << 20, "run {i}: {cache:?}");
        }
    }
    assert_eq!(
        r.runs.iter().map(|r| r.run).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(r.summary.iops_mean > 0.0 && r.summary.latency_ns.max >= r.summary.latency_ns.p99);
    assert!(
        !r.summary
            .warnings
            .iter()
            .any(|w| matches!(w, isotune_bench::Warning::CacheDropFailed { .. })),
        "{:?}",
        r.summary.warnings
    );

    let starts = progress.starts.borrow();
    assert_eq!(starts.len(), 4);
    assert_eq!(starts[3], ("seq-1m".to_owned(), 4, 4, 8 << 20));
    assert_eq!(*progress.bytes.borrow(), 4 * (8 << 20));
    assert_eq!(*progress.finished.borrow(), 4);
}

#[test]
fn warm_rand_reads_its_requests() {
    let (_dir, path) = image();
    let target = Target::open(&path, TargetOptions::default()).unwrap();
    let mut engine = psync(&target);
    let spec = WorkloadSpec::rand(4096, 99);
    let requests = spec
        .build(
            target.size_bytes(),
            request_alignment(&target),
            Some(4 << 20),
            &[],
        )
        .unwrap();
    assert_eq!(requests.len(), 1024);
    let config = RunConfig {
        runs: 2,
        warmup: 0,
        cache: CacheMode::Warm,
        ..RunConfig::default()
    };
    let r = run_workload(
        &target,
        engine.as_mut(),
        "rand-4k",
        &spec,
        &requests,
        &config,
        &NoProgress,
    )
    .unwrap();
    assert!(r.warmup_runs.is_empty());
    assert_eq!(r.runs.len(), 2);
    for run in &r.runs {
        assert_eq!((run.bytes, run.requests), (4 << 20, 1024));
        assert!(run.cache.is_none());
        assert!(run.cpu_ns_per_request >= 0.0);
    }
}

#[test]
fn boot_trace_and_limits() {
    let (_dir, path) = image();
    let target = Target::open(&path, TargetOptions::default()).unwrap();
    let mut engine = psync(&target);
    let trace = vec![
        TraceExtent {
            offset: 16 * 2048,
            len: 2 * 2048,
            label: "volume descriptors".into(),
        },
        TraceExtent {
            offset: 40 * 2048,
            len: 2048,
            label: "directory /".into(),
        },
        TraceExtent {
            offset: 1000 * 2048,
            len: 3_000_000,
            label: "kernel".into(),
        },
    ];
    let spec = WorkloadSpec::boot(BootProfile::LinuxIde);
    let requests = spec.build(target.size_bytes(), 1, None, &trace).unwrap();
    let config = RunConfig {
        runs: 2,
        warmup: 0,
        ..RunConfig::default()
    };
    let r = run_workload(
        &target,
        engine.as_mut(),
        "boot-linux-ide",
        &spec,
        &requests,
        &config,
        &NoProgress,
    )
    .unwrap();
    for run in &r.runs {
        assert_eq!(run.bytes, total_bytes(&requests));
        assert_eq!(run.requests, requests.len() as u64);
    }

    // A size limit keeps a prefix of the list.
    let limited = RunConfig {
        size_limit_bytes: Some(1 << 20),
        ..config.clone()
    };
    let r = run_workload(
        &target,
        engine.as_mut(),
        "boot-linux-ide",
        &spec,
        &requests,
        &limited,
        &NoProgress,
    )
    .unwrap();
    assert!(r.request_bytes <= 1 << 20 && r.request_bytes > (1 << 20) - (128 << 10));
    assert!(r.runs.iter().all(|run| run.bytes == r.request_bytes));

    // A runtime limit that has always passed stops after what the first
    // fill of the queue issued (at least one request).
    let seq = WorkloadSpec::seq(4096);
    let many = seq.build(target.size_bytes(), 1, None, &[]).unwrap();
    let timed = RunConfig {
        runtime_limit: Some(Duration::ZERO),
        cache: CacheMode::Warm,
        ..config
    };
    let r = run_workload(
        &target,
        engine.as_mut(),
        "seq-4k",
        &seq,
        &many,
        &timed,
        &NoProgress,
    )
    .unwrap();
    for run in &r.runs {
        assert!(run.stopped_early);
        assert!(
            run.requests > 0 && run.requests < many.len() as u64,
            "{}",
            run.requests
        );
        assert_eq!(run.bytes, run.requests * 4096);
    }
    assert!(r
        .summary
        .warnings
        .contains(&isotune_bench::Warning::StoppedEarly));
}

#[test]
fn bad_configs_are_refused() {
    let (_dir, path) = image();
    let target = Target::open(&path, TargetOptions::default()).unwrap();
    let mut engine = psync(&target);
    let spec = WorkloadSpec::seq(1 << 20);
    let requests = spec.build(target.size_bytes(), 1, None, &[]).unwrap();
    let zero_runs = RunConfig {
        runs: 0,
        ..RunConfig::default()
    };
    let e = run_workload(
        &target,
        engine.as_mut(),
        "x",
        &spec,
        &requests,
        &zero_runs,
        &NoProgress,
    )
    .unwrap_err();
    assert_eq!(e.kind(), isotune_bench::ErrorKind::InvalidInput);
    let e = run_workload(
        &target,
        engine.as_mut(),
        "x",
        &spec,
        &[],
        &RunConfig::default(),
        &NoProgress,
    )
    .unwrap_err();
    assert_eq!(e.kind(), isotune_bench::ErrorKind::Workload);
}
