//! [`host_facts`]: everything about the host that does not depend on one
//! file, gathered from the per-concern readers.

use crate::accel::read_accel;
use crate::memory::read_memory;
use crate::procs::read_processes;
use crate::read::Warnings;
use crate::sysctl::read_sysctls;
use crate::{HostFacts, SysRoot};

/// Reads memory, accelerator, sysctls, running QEMU processes and
/// `qemu-nbd` servers under
/// `root`. Never fails: unreadable or malformed entries are lines in
/// [`HostFacts::warnings`].
pub fn host_facts(root: &SysRoot) -> HostFacts {
    let mut w = Warnings::default();
    let memory = read_memory(root, &mut w);
    let accel = read_accel(root, &mut w);
    let sysctls = read_sysctls(root, &mut w);
    let (qemu_processes, nbd_servers) = read_processes(root, &mut w);
    HostFacts {
        memory,
        accel,
        sysctls,
        qemu_processes,
        nbd_servers,
        warnings: w.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_tree_gives_warnings_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let f = host_facts(&SysRoot::at(dir.path()));
        assert_eq!(f.memory, None);
        assert!(f.sysctls.is_empty() && f.qemu_processes.is_empty());
        assert_eq!(
            f.warnings,
            [
                "/proc/meminfo: not found",
                "/proc/cpuinfo: not found",
                "/proc: not found"
            ]
        );
    }
}
