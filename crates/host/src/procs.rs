//! Running QEMU processes (`/proc/PID/cmdline`) and the ISO images they
//! hold open (`/proc/PID/fd/*`; a captured tree stores those as symlinks).

use std::io;
use std::path::{Path, PathBuf};

use crate::read::{list_dir, read_bytes, Warnings};
use crate::{QemuProcess, SysRoot};

/// Disk-image suffixes that are never an ISO, even when named by `file=`.
const DISK_IMAGE_SUFFIXES: &[&str] = &[".qcow2", ".qcow", ".qed", ".vmdk", ".vdi", ".vhd", ".vhdx"];

/// Scans `/proc` for QEMU processes.
pub(crate) fn read_qemu_processes(root: &SysRoot, w: &mut Warnings) -> Vec<QemuProcess> {
    let names = match list_dir(root, Path::new("/proc")) {
        Ok(n) => n,
        Err(e) => {
            w.io(Path::new("/proc"), &e);
            return Vec::new();
        }
    };
    let mut pids: Vec<u32> = names
        .iter()
        .filter_map(|n| n.to_str())
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|n| n.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.into_iter()
        .filter_map(|pid| read_process(root, pid, w))
        .collect()
}

fn read_process(root: &SysRoot, pid: u32, w: &mut Warnings) -> Option<QemuProcess> {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let cmdline = dir.join("cmdline");
    let raw = match read_bytes(root, &cmdline) {
        Ok(raw) => raw,
        // The process exited between the listing and now.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            w.io(&cmdline, &e);
            return None;
        }
    };
    let argv = split_cmdline(&raw);
    if !is_qemu(argv.first()?) {
        return None;
    }
    let cwd = std::fs::read_link(root.path(dir.join("cwd"))).ok();
    let named = named_images(&argv, cwd.as_deref());
    let fd_dir = dir.join("fd");
    let mut open_isos = Vec::new();
    match list_dir(root, &fd_dir) {
        Ok(fds) => {
            for fd in fds {
                let Ok(target) = std::fs::read_link(root.path(fd_dir.join(&fd))) else {
                    continue;
                };
                let target = strip_deleted(target);
                if (has_iso_suffix(&target) || named.contains(&target))
                    && !open_isos.contains(&target)
                {
                    open_isos.push(target);
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
        open_isos,
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
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    base.starts_with("qemu-system") || base == "qemu-kvm" || base == "kvm"
}

/// Files the command line names as images: the argument of `-cdrom` and any
/// `file=PATH` / `filename=PATH` option (except obvious disk-image formats),
/// made absolute against the process's working directory.
fn named_images(argv: &[String], cwd: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (i, arg) in argv.iter().enumerate() {
        let found: Vec<&str> = if i > 0 && matches!(argv[i - 1].as_str(), "-cdrom" | "--cdrom") {
            vec![arg.as_str()]
        } else {
            // QEMU escapes a comma in a value as ",,"; such paths are rare
            // enough to accept a miss.
            arg.split(',')
                .filter_map(|opt| {
                    let opt = opt.trim_start_matches('-');
                    opt.strip_prefix("file=")
                        .or_else(|| opt.strip_prefix("filename="))
                })
                .collect()
        };
        for f in found {
            let lower = f.to_ascii_lowercase();
            if f.is_empty() || (f.contains(':') && !f.starts_with('/')) {
                continue; // a protocol (nbd:, http://, json:), not a local file
            }
            if DISK_IMAGE_SUFFIXES.iter().any(|s| lower.ends_with(s)) {
                continue;
            }
            let p = Path::new(f);
            out.push(match cwd {
                Some(cwd) if p.is_relative() => cwd.join(p),
                _ => p.to_path_buf(),
            });
        }
    }
    out
}

/// `/x/a.iso (deleted)` -> `/x/a.iso`.
fn strip_deleted(target: PathBuf) -> PathBuf {
    match target.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
        Some(s) => PathBuf::from(s),
        None => target,
    }
}

fn has_iso_suffix(p: &Path) -> bool {
    p.is_absolute() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("iso"))
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
    fn images_named_in_argv() {
        let argv: Vec<String> = [
            "qemu-system-x86_64",
            "-cdrom",
            "inst.img",
            "-drive",
            "file=/vm/disk.qcow2,if=virtio",
            "-blockdev",
            "driver=file,filename=/srv/boot.bin,node-name=cd0",
            "-drive",
            "file=http://example.com/a.iso,media=cdrom",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            named_images(&argv, Some(Path::new("/home/u"))),
            [
                PathBuf::from("/home/u/inst.img"),
                PathBuf::from("/srv/boot.bin")
            ]
        );
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
        // Another user's process: the fd "directory" cannot be listed.
        put("proc/101/cmdline", b"/usr/bin/kvm\0-m\x00512\0");
        put("proc/101/fd", b"not a directory");
        put("proc/self", b"");
        let mut w = Warnings::default();
        let got = read_qemu_processes(&SysRoot::at(d), &mut w);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].pid, 100);
        assert_eq!(
            got[0].open_isos,
            [
                PathBuf::from("/srv/live.img"),
                PathBuf::from("/srv/OTHER.ISO")
            ]
        );
        assert_eq!(got[1].argv, ["/usr/bin/kvm", "-m", "512"]);
        assert!(got[1].open_isos.is_empty());
        assert_eq!(w.0, ["/proc/101/fd: is not a directory"]);
    }
}
