//! CPU time of one process (`/proc/PID/stat`), e.g. of the QEMU a boot
//! measurement runs: how much of a boot's wall time was emulation.

use std::path::PathBuf;

use crate::read::read;
use crate::SysRoot;

/// CPU time (user + system) of process `pid` under `root`, seconds; `None`
/// when the process is gone or its stat line cannot be parsed.
pub fn process_cpu_seconds(root: &SysRoot, pid: u32) -> Option<f64> {
    let stat = read(root, &PathBuf::from(format!("/proc/{pid}/stat"))).ok()?;
    parse_cpu_ticks(&stat).map(|t| t as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// utime + stime, the 14th and 15th fields; the command name (field 2) may
/// contain spaces and parentheses, so fields are counted after the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_from_stat() {
        let stat =
            "1234 (qemu (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 5 0 1000 1 1";
        assert_eq!(parse_cpu_ticks(stat), Some(287));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert!(process_cpu_seconds(&SysRoot::live(), std::process::id()).is_some());
        let dir = tempfile::tempdir().unwrap();
        isotune_testutil::put(dir.path(), "proc/7/stat", stat.as_bytes());
        let root = SysRoot::at(dir.path());
        let s = process_cpu_seconds(&root, 7).unwrap();
        assert!((s - 287.0 / rustix::param::clock_ticks_per_second() as f64).abs() < 1e-9);
        assert_eq!(process_cpu_seconds(&root, 8), None);
    }
}
