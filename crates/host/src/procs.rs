//! Running QEMU processes (`/proc/PID/cmdline`, `cwd`) and the files they
//! hold open (`/proc/PID/fd/*`; a captured tree stores those as symlinks),
//! and running `qemu-nbd` servers (their command line).
//! The command line is only split here: parsing it is isotune-vmconfig's
//! job, and the scan matches an ISO against both the parsed drives and the
//! open files.

use std::io;
use std::path::{Path, PathBuf};

use crate::read::{list_dir, read_bytes, Warnings};
use crate::{NbdServerProcess, QemuProcess, SysRoot};

/// Scans `/proc` for QEMU processes and `qemu-nbd` servers.
pub(crate) fn read_processes(
    root: &SysRoot,
    w: &mut Warnings,
) -> (Vec<QemuProcess>, Vec<NbdServerProcess>) {
    let names = match list_dir(root, Path::new("/proc")) {
        Ok(n) => n,
        Err(e) => {
            w.io(Path::new("/proc"), &e);
            return (Vec::new(), Vec::new());
        }
    };
    let mut pids: Vec<u32> = names
        .iter()
        .filter_map(|n| n.to_str())
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|n| n.parse().ok())
        .collect();
    pids.sort_unstable();
    let (mut qemus, mut servers) = (Vec::new(), Vec::new());
    for pid in pids {
        let Some(argv) = read_argv(root, pid, w) else {
            continue;
        };
        let Some(argv0) = argv.first() else { continue };
        if is_qemu(argv0) {
            qemus.extend(read_process(root, pid, argv, w));
        } else if basename(argv0) == "qemu-nbd" {
            servers.push(NbdServerProcess { pid, argv });
        }
    }
    (qemus, servers)
}

/// `/proc/PID/cmdline`, `None` when the process is gone or unreadable.
fn read_argv(root: &SysRoot, pid: u32, w: &mut Warnings) -> Option<Vec<String>> {
    let cmdline = PathBuf::from(format!("/proc/{pid}/cmdline"));
    match read_bytes(root, &cmdline) {
        Ok(raw) => Some(split_cmdline(&raw)),
        // The process exited between the listing and now.
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            w.io(&cmdline, &e);
            None
        }
    }
}

fn read_process(
    root: &SysRoot,
    pid: u32,
    argv: Vec<String>,
    w: &mut Warnings,
) -> Option<QemuProcess> {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let cwd = std::fs::read_link(root.path(dir.join("cwd"))).ok();
    let fd_dir = dir.join("fd");
    let mut open_files = Vec::new();
    match list_dir(root, &fd_dir) {
        Ok(fds) => {
            for fd in fds {
                let Ok(target) = std::fs::read_link(root.path(fd_dir.join(&fd))) else {
                    continue;
                };
                let target = strip_deleted(target);
                if could_be_an_image(&target) && !open_files.contains(&target) {
                    open_files.push(target);
                }
            }
        }
        // It exited after its cmdline was read: no longer running.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => w.io(&fd_dir, &e),
    }
    Some(QemuProcess {
        pid,
        argv,
        cwd,
        open_files,
    })
}

/// NUL-separated, with the trailing NUL dropped; empty for kernel threads.
fn split_cmdline(raw: &[u8]) -> Vec<String> {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// `qemu-system-*`, `qemu-kvm` or `kvm` (Debian's wrapper), by basename.
fn is_qemu(argv0: &str) -> bool {
    let base = basename(argv0);
    base.starts_with("qemu-system") || base == "qemu-kvm" || base == "kvm"
}

fn basename(argv0: &str) -> &str {
    argv0.rsplit('/').next().unwrap_or(argv0)
}

/// `/x/a.iso (deleted)` -> `/x/a.iso`.
fn strip_deleted(target: PathBuf) -> PathBuf {
    match target.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
        Some(s) => PathBuf::from(s),
        None => target,
    }
}

/// An open file that can be a medium: an absolute path (not a socket,
/// pipe or anon inode), outside /proc and /sys, and under /dev only a
/// block device's name (`sr0`, `loop3`, `nbd0`, `sda`, `vdb`, `nvme0n1`,
/// `dm-2`, `md0`).
fn could_be_an_image(p: &Path) -> bool {
    if !p.is_absolute() || p.starts_with("/proc") || p.starts_with("/sys") {
        return false;
    }
    match p.strip_prefix("/dev") {
        Ok(rest) => rest.to_str().is_some_and(|n| {
            ["sr", "loop", "nbd", "sd", "vd", "nvme", "dm-", "md"]
                .iter()
                .any(|b| n.starts_with(b) && !n.contains('/'))
                && n != "loop-control"
        }),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn cmdline_and_names() {
        assert_eq!(
            split_cmdline(b"qemu-system-x86_64\0-m\x001G\0"),
            ["qemu-system-x86_64", "-m", "1G"]
        );
        assert!(split_cmdline(b"").is_empty());
        assert!(is_qemu("/usr/bin/qemu-system-x86_64"));
        assert!(is_qemu("qemu-kvm") && is_qemu("/usr/bin/kvm"));
        assert!(!is_qemu("/usr/bin/qemu-img") && !is_qemu("kvmtool"));
    }

    #[test]
    fn open_files_that_can_be_media() {
        for p in ["/srv/live.img", "/dev/sr0", "/dev/loop3", "/dev/nvme0n1p2"] {
            assert!(could_be_an_image(Path::new(p)), "{p}");
        }
        for p in [
            "pipe:[1]",
            "/dev/null",
            "/dev/kvm",
            "/dev/pts/1",
            "/proc/1/mem",
            "/dev/loop-control",
        ] {
            assert!(!could_be_an_image(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn processes_from_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let put = |rel: &str, s: &[u8]| isotune_testutil::put(d, rel, s);
        put("proc/2/cmdline", b"");
        put("proc/77/cmdline", b"/bin/bash\0");
        put(
            "proc/100/cmdline",
            b"qemu-system-x86_64\0-cdrom\0/srv/live.img\0",
        );
        std::fs::create_dir_all(d.join("proc/100/fd")).unwrap();
        symlink("/srv/live.img", d.join("proc/100/fd/7")).unwrap();
        symlink("/srv/live.img", d.join("proc/100/fd/8")).unwrap();
        symlink("/srv/OTHER.ISO (deleted)", d.join("proc/100/fd/9")).unwrap();
        symlink("pipe:[1234]", d.join("proc/100/fd/1")).unwrap();
        symlink("/dev/kvm", d.join("proc/100/fd/3")).unwrap();
        // Another user's process: the fd "directory" cannot be listed.
        put("proc/101/cmdline", b"/usr/bin/kvm\0-m\x00512\0");
        put("proc/101/fd", b"not a directory");
        put("proc/self", b"");
        let mut w = Warnings::default();
        let (got, _) = read_processes(&SysRoot::at(d), &mut w);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].pid, 100);
        assert_eq!(
            got[0].open_files,
            [
                PathBuf::from("/srv/live.img"),
                PathBuf::from("/srv/OTHER.ISO")
            ]
        );
        assert_eq!(got[1].argv, ["/usr/bin/kvm", "-m", "512"]);
        assert!(got[1].open_files.is_empty());
        assert_eq!(w.0, ["/proc/101/fd: is not a directory"]);
    }
}
