//! The accelerator: `/dev/kvm`, the CPU's virtualisation flags, the KVM
//! modules and whether nesting or a paravirtual KVM (`kvm_pvm`) is in play.
//! A `hypervisor` flag plus `kvm_pvm` means guests run on a nested
//! paravirtual KVM, where real-mode firmware code is very slow.

use std::io;
use std::path::{Path, PathBuf};

use crate::read::{exists, read, read_bool, Warnings};
use crate::{AccelFacts, SysRoot};

/// The KVM modules looked for, in report order.
const KVM_MODULES: &[&str] = &["kvm", "kvm_intel", "kvm_amd", "kvm_pvm"];

/// Reads the accelerator facts.
///
/// `/dev/kvm` counts when anything by that name exists under the root (a
/// captured tree stores a regular file). Whether it opens read-write is only
/// tried on the live root.
pub(crate) fn read_accel(root: &SysRoot, w: &mut Warnings) -> AccelFacts {
    let kvm_device = std::fs::symlink_metadata(root.path("/dev/kvm")).is_ok();
    let kvm_accessible = (root.is_live() && kvm_device).then(can_open_kvm);
    let flags = cpu_flags(root, w);
    let has = |f: &str| flags.iter().any(|g| g == f);
    let kvm_modules = kvm_modules(root, w);
    let nested = ["kvm_intel", "kvm_amd"].iter().find_map(|m| {
        read_bool(
            root,
            &Path::new("/sys/module").join(m).join("parameters/nested"),
            w,
        )
    });
    AccelFacts {
        kvm_device,
        kvm_accessible,
        vmx: has("vmx"),
        svm: has("svm"),
        hypervisor: has("hypervisor"),
        pvm: kvm_modules.iter().any(|m| m == "kvm_pvm"),
        kvm_modules,
        nested,
    }
}

/// Whether this user can open `/dev/kvm` read-write, as QEMU will.
fn can_open_kvm() -> bool {
    use rustix::fs::{open, Mode, OFlags};
    open("/dev/kvm", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).is_ok()
}

/// The words of the first `flags` line of `/proc/cpuinfo`.
fn cpu_flags(root: &SysRoot, w: &mut Warnings) -> Vec<String> {
    let abs = Path::new("/proc/cpuinfo");
    let text = match read(root, abs) {
        Ok(t) => t,
        Err(e) => {
            w.io(abs, &e);
            return Vec::new();
        }
    };
    match parse_flags(&text) {
        Some(flags) => flags,
        None => {
            w.add(abs, "no flags line");
            Vec::new()
        }
    }
}

fn parse_flags(cpuinfo: &str) -> Option<Vec<String>> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "flags").then(|| value.split_whitespace().map(String::from).collect())
    })
}

/// KVM modules named in `/proc/modules` or present as `/sys/module/NAME`
/// (built-in modules with parameters appear only there).
fn kvm_modules(root: &SysRoot, w: &mut Warnings) -> Vec<String> {
    let abs = Path::new("/proc/modules");
    let listed = match read(root, abs) {
        Ok(text) => text
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(String::from))
            .collect(),
        // No module support (or a capture without it): /sys/module decides.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            w.io(abs, &e);
            Vec::new()
        }
    };
    KVM_MODULES
        .iter()
        .filter(|m| {
            listed.iter().any(|l| l == *m) || exists(root, &PathBuf::from("/sys/module").join(m))
        })
        .map(|m| (*m).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_flags_line_only() {
        let text = "processor: 0\nflags\t\t: fpu vmx hypervisor\n\nprocessor: 1\nflags : svm\n";
        assert_eq!(parse_flags(text).unwrap(), ["fpu", "vmx", "hypervisor"]);
        assert_eq!(parse_flags("Features: fp asimd\n"), None);
    }

    #[test]
    fn modules_from_both_sources_and_nested() {
        let dir = tempfile::tempdir().unwrap();
        let put = |rel: &str, s: &str| isotune_testutil::put(dir.path(), rel, s.as_bytes());
        put(
            "proc/modules",
            "kvm_amd 200704 0 - Live 0x0\nkvm 1404928 1 kvm_amd, Live 0x0\n",
        );
        put("sys/module/kvm_amd/parameters/nested", "1\n");
        put("sys/module/kvm_pvm/parameters/force", "N\n");
        put("proc/cpuinfo", "flags : svm\n");
        let mut w = Warnings::default();
        let a = read_accel(&SysRoot::at(dir.path()), &mut w);
        assert_eq!(a.kvm_modules, ["kvm", "kvm_amd", "kvm_pvm"]);
        assert_eq!(a.nested, Some(true));
        assert!(a.pvm && a.svm && !a.vmx && !a.hypervisor && !a.kvm_device);
        assert_eq!(a.kvm_accessible, None);
        assert!(w.0.is_empty(), "{:?}", w.0);
    }

    #[test]
    fn odd_nested_value_and_missing_cpuinfo_are_warnings() {
        let dir = tempfile::tempdir().unwrap();
        isotune_testutil::put(
            dir.path(),
            "sys/module/kvm_intel/parameters/nested",
            b"maybe\n",
        );
        isotune_testutil::put(dir.path(), "dev/kvm", b"");
        let mut w = Warnings::default();
        let a = read_accel(&SysRoot::at(dir.path()), &mut w);
        assert!(a.kvm_device);
        assert_eq!(a.nested, None);
        assert_eq!(a.kvm_modules, ["kvm_intel"]);
        assert_eq!(w.0.len(), 2, "{:?}", w.0);
    }
}
