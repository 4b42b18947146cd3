//! fio export: a job file (and iolog files) that make fio read what isotune
//! read, so anyone can check isotune's numbers with the reference tool.
//!
//! One job section per workload, run one after another (`stonewall`):
//! - seq  → `rw=read`, `bs=`, `size=` (the bytes isotune read);
//! - rand → `rw=randread`, `bs=`, `blockalign=`, `randrepeat=1`,
//!   `randseed=`, `norandommap`, `io_size=`: fio draws its own offsets (a
//!   different generator), from the same distribution (uniform over aligned
//!   positions of the whole target), so the numbers agree but the offsets do
//!   not;
//! - boot → `read_iolog=NAME.iolog`, `replay_no_stall=1`, with an fio
//!   **iolog version 2** file listing every request of the trace in order.
//!
//! Common options: `ioengine=psync|io_uring` (with `fixedbufs=1`, as our
//! engine registers its buffers), `iomem=mmap` (anonymous-mapping buffers like
//! ours; fio's default malloc buffers were ~7x slower for warm 1 MiB reads on
//! the development VM), `iodepth`, `direct`, `filename=` (`:`
//! escaped as fio requires), `invalidate=1` for cold runs or `pre_read=1` for
//! warm ones, `runtime=` for a runtime limit, `allow_file_create=0`, and
//! `group_reporting`. Run it from the directory holding the iologs with
//! `fio --readonly job.fio` (`--readonly` makes fio refuse any write).
//!
//! Known differences, also written into the job file:
//! - fio skips a final partial block in `rw=read` (isotune reads it);
//! - fio 3.33 replaying an iolog at iodepth N counts only the first
//!   `requests - (N - 1)` requests in `io_bytes` and the latency statistics
//!   (`total_ios` is right); compare IOPS at QD1 or use `total_ios`;
//! - iolog lines are whitespace-separated, so a target path with whitespace
//!   cannot be replayed (a note says so).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::runner::CacheMode;
use crate::warning::FioNote;
use crate::workload::{total_bytes, WorkloadSpec};
use crate::{EngineKind, Error, Request, Result};

/// One workload to export.
#[derive(Debug, Clone, Copy)]
pub struct FioWorkload<'a> {
    /// Workload name (becomes the job name, made safe for fio).
    pub name: &'a str,
    /// What it reads.
    pub spec: &'a WorkloadSpec,
    /// The requests isotune ran (after the size limit): they set the bytes
    /// of seq and rand jobs and are the iolog of boot jobs.
    pub requests: &'a [Request],
    /// Requests in flight.
    pub queue_depth: u32,
}

/// Settings shared by every job.
#[derive(Debug, Clone, Copy)]
pub struct FioOptions<'a> {
    /// The ISO or block device.
    pub target_path: &'a Path,
    /// Size of the target in bytes (caps `size=` so fio never extends a file).
    pub target_size_bytes: u64,
    /// psync or io_uring.
    pub engine: EngineKind,
    /// O_DIRECT.
    pub direct: bool,
    /// Cold (`invalidate=1`) or warm (`pre_read=1`).
    pub cache: CacheMode,
    /// Stop each job after this long (`runtime=`).
    pub runtime_limit: Option<Duration>,
    /// The request alignment used to build the workloads (`blockalign=` of
    /// random jobs; at least 2048).
    pub align_bytes: u64,
}

/// A job file and the iologs it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FioExport {
    /// The job file (conventionally `job.fio`).
    pub job_file: String,
    /// `(file name, content)` of each iolog, to write next to the job file.
    pub iologs: Vec<(String, String)>,
    /// Caveats the caller should show (e.g. a path fio cannot replay).
    pub notes: Vec<FioNote>,
}

impl FioExport {
    /// The paths [`FioExport::write_to`] writes: the job file, then each
    /// iolog.
    pub fn paths(&self, dir: &Path, job_file_name: &str) -> Vec<std::path::PathBuf> {
        std::iter::once(dir.join(job_file_name))
            .chain(self.iologs.iter().map(|(name, _)| dir.join(name)))
            .collect()
    }

    /// Writes the job file as `dir/job_file_name` and every iolog into
    /// `dir`, each all-or-nothing (a temporary file renamed into place).
    pub fn write_to(&self, dir: &Path, job_file_name: &str) -> Result<()> {
        let write = |name: &str, content: &str| {
            let path = dir.join(name);
            isotune_input::atomic::write_file(&path, content.as_bytes()).map_err(|e| {
                let source = match e {
                    isotune_input::atomic::OutputError::Io { source, .. } => source,
                    other => std::io::Error::other(other.to_string()),
                };
                Error::io("cannot write the fio export", source).with_path(&path)
            })
        };
        write(job_file_name, &self.job_file)?;
        for (name, content) in &self.iologs {
            write(name, content)?;
        }
        Ok(())
    }
}

/// Builds the fio job file and iologs for `workloads`.
pub fn fio_job(workloads: &[FioWorkload<'_>], options: &FioOptions<'_>) -> FioExport {
    let path = options.target_path.display().to_string();
    let mut job = String::new();
    let mut iologs = Vec::new();
    let mut notes = Vec::new();

    let _ = writeln!(
        job,
        "# fio job file written by isotune {}",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        job,
        "# Reproduces the workloads of `isotune bench` on {path}."
    );
    let _ = writeln!(job, "# Run it from this directory: fio --readonly job.fio");
    let _ = writeln!(
        job,
        "# (isotune repeats each workload; run fio as many times to compare spreads.)"
    );
    let _ = writeln!(job);
    let _ = writeln!(job, "[global]");
    let _ = writeln!(job, "ioengine={}", engine_name(options.engine));
    if options.engine == EngineKind::IoUring {
        let _ = writeln!(job, "fixedbufs=1");
    }
    let _ = writeln!(job, "direct={}", u8::from(options.direct));
    // isotune's buffers are anonymous mappings (large heap blocks); fio's
    // default `iomem=malloc` made warm 1 MiB reads ~7x slower on the
    // development VM (p50 500 us against 80 us with mmap).
    let _ = writeln!(job, "iomem=mmap");
    match options.cache {
        CacheMode::Cold => {
            let _ = writeln!(job, "invalidate=1");
        }
        CacheMode::Warm => {
            let _ = writeln!(job, "invalidate=0");
            let _ = writeln!(job, "pre_read=1");
        }
        CacheMode::Server => {
            let _ = writeln!(job, "invalidate=0");
        }
    }
    if let Some(limit) = options.runtime_limit {
        let _ = writeln!(job, "runtime={}ms", limit.as_millis().max(1));
    }
    let _ = writeln!(job, "allow_file_create=0");
    let _ = writeln!(job, "group_reporting");

    let mut used_names: Vec<String> = Vec::new();
    for w in workloads {
        let name = unique_name(&job_name(w.name), &mut used_names);
        let depth = if options.engine == EngineKind::Psync {
            1
        } else {
            w.queue_depth.max(1)
        };
        let bytes = total_bytes(w.requests);
        let _ = writeln!(job);
        match *w.spec {
            WorkloadSpec::Seq { .. } => {
                let bs = w.requests.first().map_or(w.spec.request_bytes(), |r| r.len);
                let size = bytes.min(options.target_size_bytes);
                if !size.is_multiple_of(u64::from(bs)) {
                    let _ = writeln!(
                        job,
                        "# fio skips the final partial block: it reads {} bytes, isotune {size}.",
                        size - size % u64::from(bs)
                    );
                }
                let _ = writeln!(job, "[{name}]");
                let _ = writeln!(job, "filename={}", escape_filename(&path));
                let _ = writeln!(job, "rw=read");
                let _ = writeln!(job, "bs={bs}");
                let _ = writeln!(job, "offset=0");
                let _ = writeln!(job, "size={size}");
            }
            WorkloadSpec::Rand { seed, .. } => {
                let bs = w.requests.first().map_or(w.spec.request_bytes(), |r| r.len);
                let align = options.align_bytes.max(2048);
                let _ = writeln!(
                    job,
                    "# fio's random offsets are not isotune's (another generator), but they come\n\
                     # from the same distribution: uniform over the {align}-byte aligned\n\
                     # positions of the whole target, {} reads of {bs} bytes.",
                    w.requests.len()
                );
                let _ = writeln!(job, "[{name}]");
                let _ = writeln!(job, "filename={}", escape_filename(&path));
                let _ = writeln!(job, "rw=randread");
                let _ = writeln!(job, "bs={bs}");
                let _ = writeln!(job, "blockalign={align}");
                let _ = writeln!(job, "randrepeat=1");
                let _ = writeln!(job, "randseed={seed}");
                let _ = writeln!(job, "norandommap");
                let _ = writeln!(job, "io_size={bytes}");
            }
            WorkloadSpec::Boot { .. } => {
                let log_name = format!("{name}.iolog");
                if path.chars().any(char::is_whitespace) {
                    notes.push(FioNote::WhitespaceInPath {
                        iolog: log_name.clone(),
                    });
                }
                if depth > 1 {
                    let _ = writeln!(
                        job,
                        "# fio 3.33 replaying at iodepth {depth} leaves the last {} requests out of\n\
                         # io_bytes and the latency statistics (total_ios counts them).",
                        depth - 1
                    );
                }
                let _ = writeln!(
                    job,
                    "# The boot trace: {} requests, {bytes} bytes, in the order a boot reads them.",
                    w.requests.len()
                );
                let _ = writeln!(job, "[{name}]");
                let _ = writeln!(job, "read_iolog={log_name}");
                let _ = writeln!(job, "replay_no_stall=1");
                // No readahead hint, like QEMU and isotune's boot replay.
                let _ = writeln!(job, "fadvise_hint=0");
                iologs.push((log_name, iolog(&path, w.requests)));
            }
        }
        let _ = writeln!(job, "iodepth={depth}");
        let _ = writeln!(job, "stonewall");
    }
    FioExport {
        job_file: job,
        iologs,
        notes,
    }
}

/// An fio iolog version 2 for reading `requests` from `path` in order.
pub fn iolog(path: &str, requests: &[Request]) -> String {
    let mut out = String::with_capacity(requests.len() * (path.len() + 24) + 64);
    let _ = writeln!(out, "fio version 2 iolog");
    let _ = writeln!(out, "{path} add");
    let _ = writeln!(out, "{path} open");
    for r in requests {
        let _ = writeln!(out, "{path} read {} {}", r.offset, r.len);
    }
    let _ = writeln!(out, "{path} close");
    out
}

fn engine_name(engine: EngineKind) -> &'static str {
    match engine {
        EngineKind::Psync => "psync",
        EngineKind::IoUring => "io_uring",
        EngineKind::Http => "http",
        EngineKind::Nbd => "nbd",
    }
}

/// fio splits `filename=` on `:` (several files); a literal colon is `\:`.
fn escape_filename(path: &str) -> String {
    path.replace(':', "\\:")
}

/// A job name fio and file systems accept: `[A-Za-z0-9._-]`, others → `_`.
fn job_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() || cleaned == "global" {
        format!("job-{cleaned}")
    } else {
        cleaned
    }
}

fn unique_name(base: &str, used: &mut Vec<String>) -> String {
    let mut name = base.to_owned();
    let mut n = 2;
    while used.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    used.push(name.clone());
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{self, BootProfile, RandAmount, TraceExtent};

    fn options(path: &str) -> FioOptions<'_> {
        FioOptions {
            target_path: Path::new(path),
            target_size_bytes: 64 << 20,
            engine: EngineKind::IoUring,
            direct: true,
            cache: CacheMode::Cold,
            runtime_limit: None,
            align_bytes: 4096,
        }
    }

    fn section<'a>(job: &'a str, name: &str) -> Vec<&'a str> {
        job.split(&format!("[{name}]\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no [{name}] in\n{job}"))
            .lines()
            .take_while(|l| !l.is_empty())
            .collect()
    }

    #[test]
    fn one_section_per_workload_with_the_right_options() {
        let seq_spec = WorkloadSpec::seq(1 << 20);
        let seq = workload::seq(64 << 20, 1 << 20, Some(8 << 20), 4096).unwrap();
        let rand_spec = WorkloadSpec::rand(4096, 77);
        let rand = workload::rand(64 << 20, 4096, 77, RandAmount::Requests(100), 4096).unwrap();
        let boot_spec = WorkloadSpec::boot(BootProfile::LinuxIde);
        let trace = [TraceExtent {
            offset: 32768,
            len: 300_000,
            label: "kernel".into(),
        }];
        let boot = workload::boot(&trace, 128 << 10, 4096).unwrap();
        let w = [
            FioWorkload {
                name: "seq-1m",
                spec: &seq_spec,
                requests: &seq,
                queue_depth: 8,
            },
            FioWorkload {
                name: "rand-4k",
                spec: &rand_spec,
                requests: &rand,
                queue_depth: 8,
            },
            FioWorkload {
                name: "boot linux-ide",
                spec: &boot_spec,
                requests: &boot,
                queue_depth: 1,
            },
        ];
        let e = fio_job(&w, &options("/srv/isos/a:b.iso"));
        let job = &e.job_file;
        for line in [
            "ioengine=io_uring",
            "fixedbufs=1",
            "direct=1",
            "invalidate=1",
            "group_reporting",
        ] {
            assert!(job.lines().any(|l| l == line), "{line} missing in\n{job}");
        }
        let s = section(job, "seq-1m");
        for line in [
            "filename=/srv/isos/a\\:b.iso",
            "rw=read",
            "bs=1048576",
            "size=8388608",
            "iodepth=8",
            "stonewall",
        ] {
            assert!(s.contains(&line), "{line} not in {s:?}");
        }
        let r = section(job, "rand-4k");
        for line in [
            "rw=randread",
            "bs=4096",
            "blockalign=4096",
            "randrepeat=1",
            "randseed=77",
            "norandommap",
            "io_size=409600",
        ] {
            assert!(r.contains(&line), "{line} not in {r:?}");
        }
        assert!(job.contains("# fio's random offsets are not isotune's"));
        let b = section(job, "boot_linux-ide");
        assert!(b.contains(&"read_iolog=boot_linux-ide.iolog") && b.contains(&"replay_no_stall=1"));
        assert!(!b.iter().any(|l| l.starts_with("filename=")));
        assert_eq!(e.iologs.len(), 1);
        let (log_name, log) = &e.iologs[0];
        assert_eq!(log_name, "boot_linux-ide.iolog");
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines[0], "fio version 2 iolog");
        assert_eq!(lines[1], "/srv/isos/a:b.iso add");
        assert_eq!(lines[2], "/srv/isos/a:b.iso open");
        assert_eq!(lines[3], "/srv/isos/a:b.iso read 32768 131072");
        assert_eq!(lines[5], "/srv/isos/a:b.iso read 294912 40960");
        assert_eq!(*lines.last().unwrap(), "/srv/isos/a:b.iso close");
        assert_eq!(lines.len(), 3 + boot.len() + 1);
        assert!(e.notes.is_empty());
    }

    #[test]
    fn psync_warm_and_runtime() {
        let spec = WorkloadSpec::boot(BootProfile::BiosIde);
        let reqs = [Request {
            offset: 0,
            len: 2048,
        }];
        let w = [FioWorkload {
            name: "boot-bios-ide",
            spec: &spec,
            requests: &reqs,
            queue_depth: 4,
        }];
        let mut o = options("/tmp/my iso.iso");
        o.engine = EngineKind::Psync;
        o.cache = CacheMode::Warm;
        o.direct = false;
        o.runtime_limit = Some(Duration::from_millis(2500));
        let e = fio_job(&w, &o);
        for line in [
            "ioengine=psync",
            "direct=0",
            "invalidate=0",
            "pre_read=1",
            "runtime=2500ms",
            "iodepth=1",
        ] {
            assert!(
                e.job_file.lines().any(|l| l == line),
                "{line} missing in\n{}",
                e.job_file
            );
        }
        assert!(!e.job_file.contains("fixedbufs"));
        assert_eq!(e.notes.len(), 1, "whitespace in the path is noted");
    }

    #[test]
    fn names_are_sanitised_and_unique() {
        assert_eq!(job_name("boot [x]"), "boot__x_");
        assert_eq!(job_name("global"), "job-global");
        let mut used = Vec::new();
        assert_eq!(unique_name("a", &mut used), "a");
        assert_eq!(unique_name("a", &mut used), "a-2");
    }

    #[test]
    fn partial_last_block_is_commented() {
        let spec = WorkloadSpec::seq(1 << 20);
        let reqs = workload::seq((1 << 20) + 2048, 1 << 20, None, 1).unwrap();
        let w = [FioWorkload {
            name: "seq-1m",
            spec: &spec,
            requests: &reqs,
            queue_depth: 1,
        }];
        let e = fio_job(&w, &options("/x"));
        assert!(e.job_file.contains("fio skips the final partial block"));
    }
}
