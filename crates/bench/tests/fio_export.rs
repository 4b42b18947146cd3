//! The fio export runs on real fio and reads what isotune would read.
//!
//! A 64 MiB file under /var/tmp (a real disk filesystem, so O_DIRECT and
//! cache invalidation work), the four kinds of workload exported, then
//! `fio --readonly --output-format=json job.fio` in the export directory:
//! every job must finish without error and read the bytes (and requests) the
//! request lists say.

use isotune_testutil as common;

use std::path::Path;
use std::process::Command;

use isotune_bench::fio::{fio_job, FioOptions, FioWorkload};
use isotune_bench::runner::CacheMode;
use isotune_bench::workload::{self, BootProfile, RandAmount, TraceExtent, WorkloadSpec};
use isotune_bench::{EngineKind, Request, Target, TargetOptions};

const SIZE: u64 = 64 << 20;

fn image(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("image.iso");
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 7 + i / 4096) as u8).collect();
    std::fs::write(&path, data).unwrap();
    path
}

fn trace() -> Vec<TraceExtent> {
    let ext = |sector: u64, len: u64, label: &str| TraceExtent {
        offset: sector * 2048,
        len,
        label: label.to_owned(),
    };
    vec![
        ext(16, 3 * 2048, "volume descriptors"),
        ext(20, 2048, "directory /"),
        ext(22, 2048, "directory /isolinux"),
        ext(30, 2048 * 4, "isolinux.bin"),
        ext(100, 5_000_000, "kernel /isolinux/vmlinuz"),
        ext(9000, 11_000_000, "initrd /isolinux/initrd.img"),
    ]
}

struct Job {
    name: String,
    spec: WorkloadSpec,
    requests: Vec<Request>,
}

fn jobs(align: u64) -> Vec<Job> {
    let trace = trace();
    let seq = WorkloadSpec::seq(1 << 20);
    let rand = WorkloadSpec::rand(4096, 12345);
    let ide = WorkloadSpec::boot(BootProfile::BiosIde);
    let virtio = WorkloadSpec::boot(BootProfile::LinuxVirtio);
    vec![
        Job {
            name: seq.default_name(),
            requests: workload::seq(SIZE, 1 << 20, Some(16 << 20), align).unwrap(),
            spec: seq,
        },
        Job {
            name: rand.default_name(),
            requests: workload::rand(SIZE, 4096, 12345, RandAmount::Requests(3000), align).unwrap(),
            spec: rand,
        },
        Job {
            name: ide.default_name(),
            requests: workload::boot(&trace[..4], ide.request_bytes(), align).unwrap(),
            spec: ide,
        },
        Job {
            name: virtio.default_name(),
            requests: workload::boot(&trace, virtio.request_bytes(), align).unwrap(),
            spec: virtio,
        },
    ]
}

/// Runs the export in `dir` and returns fio's jobs as (name, io_bytes,
/// total_ios, error).
fn run_fio(fio: &Path, dir: &Path, job_file: &str) -> Vec<(String, u64, u64, i64)> {
    common::run(Command::new(fio).current_dir(dir).args([
        "--readonly",
        "--output-format=json",
        "--output=out.json",
        job_file,
    ]));
    let out = std::fs::read_to_string(dir.join("out.json")).unwrap();
    // fio may print notices before the JSON document.
    let json: serde_json::Value = serde_json::from_str(&out[out.find('{').unwrap()..]).unwrap();
    json["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["jobname"].as_str().unwrap().to_owned(),
                j["read"]["io_bytes"].as_u64().unwrap(),
                j["read"]["total_ios"].as_u64().unwrap(),
                j["error"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn export_and_run(engine: EngineKind, direct: bool, queue_depth: u32) {
    let Some(fio) = common::tool("fio") else {
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("isotune-fio-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let path = image(dir.path());
    let align = if direct {
        match Target::open(&path, TargetOptions { direct: true }) {
            Ok(t) => u64::try_from(t.alignment().offset).unwrap(),
            Err(e) => {
                return isotune_testutil::skip(&format!("O_DIRECT is refused here: {e}"));
            }
        }
    } else {
        1
    };
    let jobs = jobs(align);
    let workloads: Vec<FioWorkload<'_>> = jobs
        .iter()
        .map(|j| FioWorkload {
            name: &j.name,
            spec: &j.spec,
            requests: &j.requests,
            queue_depth,
        })
        .collect();
    let options = FioOptions {
        target_path: &path,
        target_size_bytes: SIZE,
        engine,
        direct,
        cache: CacheMode::Cold,
        runtime_limit: None,
        align_bytes: align,
    };
    let export = fio_job(&workloads, &options);
    assert!(export.notes.is_empty(), "{:?}", export.notes);
    export.write_to(dir.path(), "job.fio").unwrap();
    let results = run_fio(&fio, dir.path(), "job.fio");
    eprintln!("{}", export.job_file);
    eprintln!("fio said (job, io_bytes, total_ios, error): {results:?}");

    assert_eq!(results.len(), jobs.len(), "one fio job per workload");
    let depth = if engine == EngineKind::Psync {
        1
    } else {
        u64::from(queue_depth)
    };
    for (job, (name, io_bytes, total_ios, error)) in jobs.iter().zip(&results) {
        assert_eq!(name, &job.name);
        assert_eq!(*error, 0, "fio job {name} failed");
        let bytes = workload::total_bytes(&job.requests);
        let count = job.requests.len() as u64;
        assert_eq!(*total_ios, count, "requests of {name}");
        match job.spec {
            WorkloadSpec::Boot { .. } if depth > 1 => {
                // fio 3.33 leaves the last iodepth-1 replayed requests out of
                // io_bytes (see the fio module docs).
                let largest = job.requests.iter().map(|r| u64::from(r.len)).max().unwrap();
                assert!(
                    *io_bytes <= bytes && *io_bytes + (depth - 1) * largest >= bytes,
                    "bytes of {name}: fio {io_bytes}, isotune {bytes}"
                );
            }
            _ => assert_eq!(*io_bytes, bytes, "bytes of {name}"),
        }
    }
}

#[test]
fn psync_buffered_export_reads_the_same_bytes() {
    export_and_run(EngineKind::Psync, false, 1);
}

#[test]
fn io_uring_direct_export_reads_the_same_requests() {
    if let Err(why) = isotune_bench::engine::uring_available() {
        return isotune_testutil::skip(&format!("io_uring unavailable ({why})"));
    }
    export_and_run(EngineKind::IoUring, true, 4);
}

#[test]
fn iolog_replays_the_boot_trace_in_order() {
    // The iolog is exactly the request list, one line per request, in order.
    let requests = workload::boot(&trace(), 16 << 10, 1).unwrap();
    let log = isotune_bench::fio::iolog("/x/image.iso", &requests);
    let reads: Vec<(u64, u32)> = log
        .lines()
        .filter_map(|l| l.strip_prefix("/x/image.iso read "))
        .map(|l| {
            let (o, n) = l.split_once(' ').unwrap();
            (o.parse().unwrap(), n.parse().unwrap())
        })
        .collect();
    let want: Vec<(u64, u32)> = requests.iter().map(|r| (r.offset, r.len)).collect();
    assert_eq!(reads, want);
}
