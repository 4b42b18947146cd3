//! Finding QEMU, choosing the accelerator, and turning a VM definition into
//! argv.
//!
//! The runner ([`crate::run`]) owns the process-level options (`-S`, QMP,
//! serial, `-accel`); [`vm_argv`] emits only the storage, machine and
//! firmware part from an `isotune-vmconfig` [`VmDefinition`], so the matrix,
//! the doctor and the launcher share one vocabulary.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use isotune_vmconfig::VmDefinition;
use serde::{Deserialize, Serialize};

use crate::cleanup::ChildGuard;
use crate::error::{Error, ErrorKind, Result};
use crate::qmp::KvmInfo;
use crate::serial::spawn_collector;

/// How long `QEMU -version` may take.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// The binary isotune looks for on PATH.
pub const QEMU_NAME: &str = "qemu-system-x86_64";

/// The environment variable that overrides the QEMU binary.
pub const QEMU_ENV: &str = "ISOTUNE_QEMU";

/// A QEMU system emulator binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QemuBinary {
    /// Its path.
    pub path: PathBuf,
}

/// A QEMU version as `-version` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QemuVersion {
    /// The version number as printed (`10.0.2`).
    pub version: String,
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// The distribution's package string in parentheses, when printed.
    pub package: Option<String>,
}

/// Finds QEMU: `$ISOTUNE_QEMU` when set, else `qemu-system-x86_64` on PATH.
pub fn find_qemu() -> Result<QemuBinary> {
    find_qemu_in(
        std::env::var_os(QEMU_ENV).as_deref(),
        std::env::var_os("PATH").as_deref(),
    )
}

/// [`find_qemu`] with the override and PATH given explicitly.
pub fn find_qemu_in(override_path: Option<&OsStr>, path_var: Option<&OsStr>) -> Result<QemuBinary> {
    if let Some(p) = override_path.filter(|p| !p.is_empty()) {
        let path = PathBuf::from(p);
        if !path.is_file() {
            return Err(Error::new(
                ErrorKind::QemuMissing,
                format!("{QEMU_ENV} names a QEMU binary that does not exist"),
            )
            .with_path(&path));
        }
        return Ok(QemuBinary { path });
    }
    path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(QEMU_NAME))
        .find(|p| p.is_file())
        .map(|path| QemuBinary { path })
        .ok_or_else(|| {
            Error::new(
                ErrorKind::QemuMissing,
                format!("{QEMU_NAME} not found on PATH (Debian: apt install qemu-system-x86)"),
            )
        })
}

impl QemuBinary {
    /// The binary at `path` (not checked until used).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        QemuBinary { path: path.into() }
    }

    /// Runs `QEMU -version` and parses its first line; gives up after
    /// [`VERSION_TIMEOUT`].
    pub fn version(&self) -> Result<QemuVersion> {
        self.version_cancellable(&AtomicBool::new(false))
    }

    /// [`QemuBinary::version`], also stopped (with [`ErrorKind::Cancelled`])
    /// as soon as `cancel` is set. A QEMU that hangs is killed with its
    /// process group after [`VERSION_TIMEOUT`].
    pub fn version_cancellable(&self, cancel: &AtomicBool) -> Result<QemuVersion> {
        let mut cmd = Command::new(&self.path);
        cmd.arg("-version")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut guard = ChildGuard::spawn(&mut cmd).map_err(|e| spawn_error(&self.path, e))?;
        let stdout = guard.child_mut().stdout.take().expect("stdout is piped");
        let reader = spawn_collector(stdout, 64 * 1024);
        let until = Instant::now() + VERSION_TIMEOUT;
        while !guard.has_exited() {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::new(ErrorKind::Cancelled, "The run was cancelled"));
            }
            if Instant::now() >= until {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "`-version` did not answer within {} s",
                        VERSION_TIMEOUT.as_secs()
                    ),
                )
                .with_path(&self.path));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Kills what is left of the group, so the pipe closes.
        let _ = guard.finish(Duration::ZERO);
        let text = reader.join().unwrap_or_default();
        parse_version(&text).ok_or_else(|| {
            let first = text.lines().next().unwrap_or_default();
            Error::new(
                ErrorKind::QemuFailed,
                format!("Cannot read the version from `-version` output: {first:?}"),
            )
            .with_path(&self.path)
        })
    }
}

/// The error for a QEMU binary that cannot be started.
pub(crate) fn spawn_error(path: &Path, e: std::io::Error) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            ErrorKind::QemuMissing
        }
        _ => ErrorKind::Io,
    };
    Error::io("Cannot start QEMU", e)
        .with_kind(kind)
        .with_path(path)
}

/// Parses `QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-1)`.
pub fn parse_version(text: &str) -> Option<QemuVersion> {
    let line = text.lines().find(|l| l.contains("version"))?;
    let rest = line.split("version").nth(1)?.trim();
    let version: String = rest
        .split_whitespace()
        .next()?
        .trim_end_matches(',')
        .to_owned();
    let mut nums = version.split('.').map(|n| n.parse::<u32>().ok());
    let major = nums.next()??;
    let minor = nums.next().flatten().unwrap_or(0);
    let package = rest.find('(').and_then(|a| {
        rest[a + 1..]
            .find(')')
            .map(|b| rest[a + 1..a + 1 + b].to_owned())
    });
    Some(QemuVersion {
        version,
        major,
        minor,
        package,
    })
}

/// Which accelerator to ask QEMU for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AccelChoice {
    /// KVM only: QEMU fails when it is unavailable.
    Kvm,
    /// TCG only.
    Tcg,
    /// KVM, falling back to TCG (`-accel kvm -accel tcg`); check
    /// [`AccelUsed`] for what QEMU took.
    #[default]
    Auto,
}

impl AccelChoice {
    /// The `-accel` options.
    pub fn argv(self) -> Vec<String> {
        let accels: &[&str] = match self {
            AccelChoice::Kvm => &["kvm"],
            AccelChoice::Tcg => &["tcg"],
            AccelChoice::Auto => &["kvm", "tcg"],
        };
        accels
            .iter()
            .flat_map(|a| ["-accel".to_owned(), (*a).to_owned()])
            .collect()
    }
}

/// The accelerator QEMU really used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccelUsed {
    /// KVM.
    Kvm,
    /// TCG (emulation).
    Tcg,
}

impl From<KvmInfo> for AccelUsed {
    fn from(k: KvmInfo) -> Self {
        if k.enabled {
            AccelUsed::Kvm
        } else {
            AccelUsed::Tcg
        }
    }
}

/// The machine, firmware and storage part of the argv for `def`, from
/// `isotune-vmconfig`'s emitter, without `-accel` / `-enable-kvm`: the runner
/// adds the accelerators it was asked for, and more `-accel` options would
/// only extend QEMU's fallback list.
pub fn vm_argv(def: &VmDefinition) -> Vec<String> {
    let mut out = Vec::new();
    let mut args = isotune_vmconfig::to_argv(def).into_iter();
    while let Some(a) = args.next() {
        if a == "-accel" || a == "-enable-kvm" {
            if a == "-accel" {
                args.next();
            }
            continue;
        }
        out.push(a);
    }
    out
}

/// The `-cdrom`-style drive name QEMU gives to `if=ide` drives, for
/// callers that measure a `-cdrom` VM (`ide1-cd0`).
pub const LEGACY_CDROM_DEVICE: &str = "ide1-cd0";

#[cfg(test)]
mod tests {
    use isotune_vmconfig::{Accel, Bus, Drive, Media, Origin, Source};

    use super::*;

    #[test]
    fn parses_qemu_versions() {
        let v = parse_version(
            "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-1)\nCopyright (c) 2003-2025\n",
        )
        .unwrap();
        assert_eq!(v.version, "10.0.2");
        assert_eq!((v.major, v.minor), (10, 0));
        assert_eq!(v.package.as_deref(), Some("Debian 1:10.0.2+ds-1"));
        let v = parse_version("QEMU emulator version 8.2.91\n").unwrap();
        assert_eq!((v.major, v.minor, v.package), (8, 2, None));
        assert!(parse_version("something else").is_none());
    }

    #[test]
    fn finds_qemu_by_override_or_path() {
        let dir = tempfile::tempdir().unwrap();
        let e = find_qemu_in(Some(OsStr::new("/nonexistent/qemu")), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::QemuMissing);
        let e = find_qemu_in(None, Some(dir.path().as_os_str())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::QemuMissing);
        assert_eq!(
            e.to_string(),
            "qemu-system-x86_64 not found on PATH (Debian: apt install qemu-system-x86)"
        );
        let bin = dir.path().join(QEMU_NAME);
        std::fs::write(&bin, "").unwrap();
        let path = std::env::join_paths(["/nonexistent", dir.path().to_str().unwrap()]).unwrap();
        assert_eq!(find_qemu_in(None, Some(&path)).unwrap().path, bin);
        assert_eq!(find_qemu_in(Some(bin.as_os_str()), None).unwrap().path, bin);
    }

    /// A "QEMU" that never answers is killed after the timeout or as soon as
    /// the caller cancels.
    #[test]
    fn version_probe_is_cancellable() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("qemu");
        std::fs::write(&fake, "#!/bin/sh\nsleep 600\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let q = QemuBinary::new(&fake);
        let cancel = std::sync::Arc::new(AtomicBool::new(false));
        let c = cancel.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            c.store(true, Ordering::SeqCst);
        });
        let e = q.version_cancellable(&cancel).unwrap_err();
        t.join().unwrap();
        assert_eq!(e.kind(), ErrorKind::Cancelled);
        let ok = dir.path().join("qemu-ok");
        std::fs::write(
            &ok,
            "#!/bin/sh\necho 'QEMU emulator version 9.2.1 (x)'\nsleep 600 &\n",
        )
        .unwrap();
        std::fs::set_permissions(&ok, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        assert_eq!(QemuBinary::new(&ok).version().unwrap().version, "9.2.1");
    }

    #[test]
    fn accel_argv() {
        assert_eq!(AccelChoice::Auto.argv(), ["-accel", "kvm", "-accel", "tcg"]);
        assert_eq!(AccelChoice::Tcg.argv(), ["-accel", "tcg"]);
        let k = KvmInfo {
            enabled: true,
            present: true,
        };
        assert_eq!(AccelUsed::from(k), AccelUsed::Kvm);
    }

    #[test]
    fn vm_argv_leaves_the_accelerator_to_the_runner() {
        let def = VmDefinition {
            accel: vec![Accel::Kvm, Accel::Tcg],
            machine: Some("pc".into()),
            drives: vec![Drive {
                id: Some("cd0".into()),
                media: Media::Cdrom,
                bus: Bus::Ide,
                device: None,
                controller: None,
                source: Source::File {
                    path: "/isos/a.iso".into(),
                },
                format: Some("raw".into()),
                cache: None,
                cache_direct: None,
                aio: None,
                readonly: Some(true),
                iothread: None,
                boot_order: Some(1),
                tray_open: None,
            }],
            ..VmDefinition::new(Origin::Isotune)
        };
        let a = vm_argv(&def);
        assert!(
            !a.iter().any(|x| x == "-accel" || x == "kvm" || x == "tcg"),
            "{a:?}"
        );
        assert_eq!(a[..2], ["-machine", "pc"]);
        assert!(
            a.iter()
                .any(|x| x.starts_with("ide-cd,") && x.contains("drive=cd0")),
            "{a:?}"
        );
    }
}
