//! The `/proc` collector: per QEMU process CPU time, vCPUs and resident
//! memory; per ISO image QEMU holds open, its page-cache residency.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use isotune_host::{pagecache, QemuProcess, SysRoot};
use isotune_input::{caps, read_to_string_capped};
use isotune_vmconfig::{qemu::parse_argv, Media, Origin};

use super::{CollectError, Collected};
use crate::model::{IsoSample, ProcSample};

/// Lists the running QEMU processes under `root`.
pub(crate) fn qemu_processes(root: &SysRoot) -> (Vec<QemuProcess>, Vec<CollectError>) {
    let facts = isotune_host::host_facts(root);
    let errors = facts
        .warnings
        .into_iter()
        // Only the process scan's warnings; memory, sysctls and the
        // accelerator are not this collector's business.
        .filter(|w| {
            w.starts_with("/proc:")
                || w.strip_prefix("/proc/")
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(CollectError::Proc)
        .collect();
    (facts.qemu_processes, errors)
}

/// The domain label of a QEMU process: its `-name`, else `pid-PID`.
pub(crate) fn domain_name(p: &QemuProcess) -> String {
    parse_argv(&p.argv, Origin::QemuCmdline)
        .name
        .unwrap_or_else(|| format!("pid-{}", p.pid))
}

/// The files `p` holds open that are ISO images: named `*.iso`, or the
/// medium of one of its cdrom drives (relative paths against its cwd).
fn open_isos(p: &QemuProcess) -> Vec<PathBuf> {
    let def = parse_argv(&p.argv, Origin::QemuCmdline);
    let cdroms: Vec<PathBuf> = def
        .drives
        .iter()
        .filter(|d| d.media == Media::Cdrom)
        .filter_map(|d| d.local_path())
        .map(|path| match &p.cwd {
            Some(cwd) if path.is_relative() => cwd.join(path),
            _ => path.to_path_buf(),
        })
        .collect();
    p.open_files
        .iter()
        .filter(|f| {
            f.extension().is_some_and(|e| e.eq_ignore_ascii_case("iso")) || cdroms.contains(f)
        })
        .cloned()
        .collect()
}

pub(super) fn collect(root: &SysRoot) -> Collected {
    let (procs, mut errors) = qemu_processes(root);
    let mut out = Collected::default();
    let mut isos: BTreeMap<PathBuf, u32> = BTreeMap::new();
    for p in &procs {
        let dir = root.path(format!("/proc/{}", p.pid));
        // A process that exits between the listing and here is simply gone.
        let Some(cpu_seconds) = read(&dir.join("stat")).as_deref().and_then(cpu_seconds) else {
            continue;
        };
        let resident = read(&dir.join("status"))
            .as_deref()
            .and_then(resident_bytes)
            .unwrap_or(0);
        out.samples.procs.push(ProcSample {
            domain: domain_name(p),
            pid: p.pid,
            cpu_seconds,
            vcpus: vcpus(&p.argv),
            resident_bytes: resident,
        });
        for iso in open_isos(p) {
            *isos.entry(iso).or_default() += 1;
        }
    }
    for (iso, open_by) in isos {
        match residency(&root.path(&iso)) {
            Ok((size_bytes, page_cache_bytes)) => {
                let (device, read_ahead_kb) = device_read_ahead(root, &iso);
                out.samples.isos.push(IsoSample {
                    iso,
                    size_bytes,
                    page_cache_bytes,
                    open_by,
                    device,
                    read_ahead_kb,
                });
            }
            Err(e) => errors.push(CollectError::Proc(format!("{}: {e}", iso.display()))),
        }
    }
    out.errors = errors;
    out
}

/// The block device under `iso`'s filesystem (the top of its storage
/// chain, whose read-ahead the page cache uses for the file) and its
/// `read_ahead_kb`, as `isotune doctor` reads them.
fn device_read_ahead(root: &SysRoot, iso: &Path) -> (Option<String>, Option<u32>) {
    match isotune_host::file_facts(root, &root.path(iso)) {
        Ok(f) => f.storage.first().map_or((None, None), |top| {
            (Some(top.name.clone()), top.read_ahead_kb)
        }),
        Err(_) => (None, None),
    }
}

fn read(path: &Path) -> Option<String> {
    read_to_string_capped(path, caps::PROC_FILE_BYTES, "proc file").ok()
}

fn residency(path: &Path) -> std::io::Result<(u64, u64)> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let (bytes, _) = pagecache::resident_bytes(&file, size).map_err(|e| e.into_io())?;
    Ok((size, bytes))
}

/// User plus system CPU seconds from the text of `/proc/PID/stat`.
pub fn cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces and parentheses: count
    // fields after the last ')'. utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second();
    Some((utime + stime) as f64 / ticks as f64)
}

/// `VmRSS` of `/proc/PID/status`, bytes.
pub fn resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The number of vCPUs from `-smp` (`-smp 4`, `-smp cpus=4,sockets=1`, or
/// sockets*dies*cores*threads when only the topology is given); 1 without.
pub fn vcpus(argv: &[String]) -> u32 {
    let Some(i) = argv.iter().position(|a| a == "-smp" || a == "--smp") else {
        return 1;
    };
    let Some(value) = argv.get(i + 1) else {
        return 1;
    };
    let mut cpus = None;
    let mut topology = 1u32;
    let mut has_topology = false;
    for (n, part) in value.split(',').enumerate() {
        match part.split_once('=') {
            Some(("cpus", v)) => cpus = v.parse().ok(),
            Some(("sockets" | "dies" | "clusters" | "cores" | "threads", v)) => {
                if let Ok(v) = v.parse::<u32>() {
                    topology = topology.saturating_mul(v);
                    has_topology = true;
                }
            }
            None if n == 0 => cpus = part.parse().ok(),
            _ => {}
        }
    }
    cpus.or(has_topology.then_some(topology))
        .filter(|&c| c > 0)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn vcpus_forms() {
        assert_eq!(vcpus(&argv("qemu -m 1G")), 1);
        assert_eq!(vcpus(&argv("qemu -smp 4")), 4);
        assert_eq!(vcpus(&argv("qemu -smp cpus=6,sockets=1")), 6);
        assert_eq!(vcpus(&argv("qemu -smp sockets=2,cores=3,threads=2")), 12);
        assert_eq!(vcpus(&argv("qemu -smp 0")), 1);
    }

    #[test]
    fn stat_and_status() {
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let stat = "1234 (qemu (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 5";
        assert_eq!(cpu_seconds(stat), Some(287.0 / ticks));
        assert_eq!(cpu_seconds("garbage"), None);
        let status = "Name:\tqemu\nVmPeak:\t 9 kB\nVmRSS:\t  123456 kB\nThreads: 5\n";
        assert_eq!(resident_bytes(status), Some(123456 * 1024));
        assert_eq!(resident_bytes("Name: x\n"), None);
    }
}
