//! The sysctls that tuning articles name for ISO speed: the network ones
//! (which do not matter for a local ISO; the doctor says so with evidence)
//! and the `vm.dirty_*` writeback ones.

use std::io;
use std::path::PathBuf;

use crate::read::{read, Warnings};
use crate::{SysRoot, Sysctl};

/// The sysctls read, dotted.
pub const SYSCTLS: &[&str] = &[
    "net.core.somaxconn",
    "net.core.netdev_max_backlog",
    "net.ipv4.tcp_congestion_control",
    "net.ipv4.tcp_available_congestion_control",
    "vm.dirty_ratio",
    "vm.dirty_background_ratio",
    "vm.dirty_bytes",
    "vm.dirty_background_bytes",
    "vm.dirty_expire_centisecs",
    "vm.dirty_writeback_centisecs",
];

/// Reads [`SYSCTLS`] from `/proc/sys`; missing ones are skipped silently
/// (containers and older kernels lack some), unreadable ones are warnings.
pub(crate) fn read_sysctls(root: &SysRoot, w: &mut Warnings) -> Vec<Sysctl> {
    let mut out = Vec::new();
    for name in SYSCTLS {
        let abs = PathBuf::from("/proc/sys").join(name.replace('.', "/"));
        match read(root, &abs) {
            Ok(value) => out.push(Sysctl {
                name: (*name).to_string(),
                value: value.trim().to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => w.io(&abs, &e),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_missing_and_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let put = |rel: &str, s: &str| isotune_testutil::put(dir.path(), rel, s.as_bytes());
        put("proc/sys/net/core/somaxconn", "4096\n");
        put("proc/sys/net/ipv4/tcp_congestion_control", "bbr\n");
        std::fs::create_dir_all(dir.path().join("proc/sys/vm/dirty_ratio")).unwrap();
        let mut w = Warnings::default();
        let got = read_sysctls(&SysRoot::at(dir.path()), &mut w);
        let pairs: Vec<_> = got
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("net.core.somaxconn", "4096"),
                ("net.ipv4.tcp_congestion_control", "bbr")
            ]
        );
        assert_eq!(
            w.0,
            ["/proc/sys/vm/dirty_ratio: is a directory, expected a file"]
        );
    }
}
