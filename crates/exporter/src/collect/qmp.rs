//! The QMP collector: per cdrom read counters (`query-blockstats`) and
//! tray/medium state (`query-block`) from each QEMU monitor socket.
//!
//! Sockets come from `--qmp PATH` and from the command lines of running
//! QEMU processes (`-qmp unix:...`); the command line also gives the VM's
//! name and each cdrom's bus (parsed with `isotune-vmconfig`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use isotune_host::SysRoot;
use isotune_qemu::qmp::connect_unix;
use isotune_vmconfig::{parse_argv, Bus, Drive, Media, Origin, VmDefinition};
use serde_json::Value;

use super::proc::{domain_name, qemu_processes};
use super::{qmp_socket_from_argv, CollectError, Collected};
use crate::model::CdromSample;

/// One socket to ask, with what the command line said about its VM.
struct Target {
    socket: PathBuf,
    domain: Option<String>,
    def: Option<VmDefinition>,
}

pub(super) fn collect(root: &SysRoot, sockets: &[PathBuf], io_timeout: Duration) -> Collected {
    let mut out = Collected::default();
    let mut targets: Vec<Target> = Vec::new();
    let (procs, _) = qemu_processes(root);
    for p in &procs {
        // libvirtd owns the monitor of its domains (QMP serves one client):
        // their cdroms come from the libvirt source, never from here.
        if libvirt_managed(&p.argv) {
            continue;
        }
        if let Some(socket) = qmp_socket_from_argv(&p.argv) {
            targets.push(Target {
                socket: root.path(&socket),
                domain: Some(domain_name(p)),
                def: Some(parse_argv(&p.argv, Origin::QemuCmdline)),
            });
        }
    }
    for s in sockets {
        if !targets.iter().any(|t| &t.socket == s) {
            targets.push(Target {
                socket: s.clone(),
                domain: None,
                def: None,
            });
        }
    }
    for t in &targets {
        match query(t, io_timeout) {
            Ok(mut cdroms) => out.samples.cdroms.append(&mut cdroms),
            Err(reason) => out.errors.push(CollectError::Qmp {
                path: t.socket.clone(),
                reason,
            }),
        }
    }
    out
}

fn query(t: &Target, io_timeout: Duration) -> Result<Vec<CdromSample>, String> {
    let (mut qmp, _) = connect_unix(&t.socket, io_timeout).map_err(|e| reason(&e, &t.socket))?;
    let domain = match &t.domain {
        Some(d) => d.clone(),
        None => qmp
            .execute("query-name", None)
            .ok()
            .and_then(|v| v.get("name").and_then(Value::as_str).map(String::from))
            .unwrap_or_else(|| socket_stem(&t.socket)),
    };
    let block = qmp
        .execute("query-block", None)
        .map_err(|e| format!("query-block: {}", reason(&e, &t.socket)))?;
    let stats = qmp
        .query_blockstats()
        .map_err(|e| format!("query-blockstats: {}", reason(&e, &t.socket)))?;
    let mut out = Vec::new();
    for dev in block.as_array().map(Vec::as_slice).unwrap_or_default() {
        let device = str_field(dev, "device");
        let qdev = str_field(dev, "qdev");
        let argv_drive = t.def.as_ref().and_then(|d| find_drive(d, &device, &qdev));
        let is_cdrom = match argv_drive {
            Some(d) => d.media == Media::Cdrom,
            // Without a command line, a removable drive with a tray is a cdrom.
            None => dev.get("tray_open").is_some(),
        };
        if !is_cdrom {
            continue;
        }
        let drive = if device.is_empty() {
            qdev.rsplit('/').next().unwrap_or("").to_string()
        } else {
            device.clone()
        };
        let inserted = dev.get("inserted");
        let iso = inserted
            .and_then(|i| i.get("file"))
            .and_then(Value::as_str)
            .map(PathBuf::from);
        let iso_size_bytes = iso
            .as_deref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        let counters = stats
            .iter()
            .find(|s| s.matches(&device) || (!qdev.is_empty() && s.matches(&qdev)))
            .map(|s| s.stats);
        out.push(CdromSample {
            source: crate::model::Source::Qmp,
            domain: domain.clone(),
            drive,
            bus: bus_name(argv_drive.map(|d| &d.bus), &device),
            iso,
            iso_size_bytes,
            tray_open: Some(
                dev.get("tray_open")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            ),
            read_requests: counters.as_ref().map_or(0, |c| c.rd_operations),
            read_bytes: counters.as_ref().map_or(0, |c| c.rd_bytes),
            read_time_ns: counters.as_ref().map_or(0, |c| c.rd_total_time_ns),
        });
    }
    Ok(out)
}

/// Whether a QEMU command line is libvirt's: libvirt always gives its
/// domains the monitor chardev `charmonitor` (`-chardev
/// socket,id=charmonitor,...` with `-mon chardev=charmonitor,mode=control`).
pub(crate) fn libvirt_managed(argv: &[String]) -> bool {
    argv.windows(2).any(|w| {
        w[0].trim_start_matches('-') == "chardev" && w[1].starts_with("socket,id=charmonitor,")
    })
}

fn str_field(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn socket_stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// The command line's drive that QEMU reports as `device` / `qdev`.
/// `-cdrom` has no id on the command line: QEMU calls it `ide1-cd0`.
fn find_drive<'a>(def: &'a VmDefinition, device: &str, qdev: &str) -> Option<&'a Drive> {
    let qdev_id = qdev.rsplit('/').next().unwrap_or("");
    def.drives
        .iter()
        .find(|d| {
            d.id.as_deref()
                .is_some_and(|id| !id.is_empty() && (id == device || id == qdev_id))
        })
        .or_else(|| {
            (device == "ide1-cd0")
                .then(|| {
                    def.drives
                        .iter()
                        .find(|d| d.media == Media::Cdrom && d.bus == Bus::Ide && d.id.is_none())
                })
                .flatten()
        })
}

pub(super) fn bus_name(bus: Option<&Bus>, device: &str) -> String {
    match bus {
        Some(Bus::Ide) => "ide",
        Some(Bus::Sata) => "sata",
        Some(Bus::Scsi) => "scsi",
        Some(Bus::Virtio) => "virtio",
        Some(Bus::Usb) => "usb",
        Some(Bus::None | Bus::Other(_)) => "unknown",
        // Legacy drive names say their bus (`ide1-cd0`).
        None if device.starts_with("ide") => "ide",
        None => "unknown",
    }
    .to_string()
}

/// Why a QMP exchange with `socket` failed, for [`CollectError::Qmp`], which
/// names the socket itself: the client's message without its leading
/// `SOCKET: `, then its causes (the client's `Display` shows neither
/// `ECONNREFUSED` nor `ENOENT`, which say what to do).
fn reason(e: &isotune_qemu::Error, socket: &Path) -> String {
    let full = e.to_string();
    let prefix = format!("{}: ", socket.display());
    let mut out = full.strip_prefix(&prefix).unwrap_or(&full).to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Docs issue: the exporter logged "QMP socket /run/vm1.sock:
    /// /run/vm1.sock: Cannot connect to the QMP socket", the socket twice
    /// and no cause.
    #[test]
    fn regression_docs_a_qmp_error_names_the_socket_once_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("vm1.sock");
        let e = connect_unix(&socket, Duration::from_secs(1))
            .map(|_| ())
            .unwrap_err();
        let line = CollectError::Qmp {
            path: socket.clone(),
            reason: reason(&e, &socket),
        }
        .to_string();
        let name = socket.display().to_string();
        assert_eq!(line.matches(&name).count(), 1, "{line}");
        assert!(line.contains("Cannot connect to the QMP socket"), "{line}");
        assert!(line.contains("No such file or directory"), "{line}");
    }

    #[test]
    fn libvirt_command_lines_are_recognised() {
        let argv = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert!(libvirt_managed(&argv(
            "qemu-system-x86_64 -name guest=web1,debug-threads=on \
             -chardev socket,id=charmonitor,fd=30,server=on,wait=off \
             -mon chardev=charmonitor,id=monitor,mode=control"
        )));
        assert!(!libvirt_managed(&argv(
            "qemu-system-x86_64 -name web1 -chardev socket,id=mon0,path=/run/m.sock,server=on \
             -mon chardev=mon0,mode=control"
        )));
    }

    fn def(s: &str) -> VmDefinition {
        let argv: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse_argv(&argv, Origin::QemuCmdline)
    }

    #[test]
    fn drives_are_found_by_id_and_legacy_name() {
        let d = def("qemu -drive if=none,id=cd0,file=/a.iso,media=cdrom -device ide-cd,drive=cd0");
        let drive = find_drive(&d, "cd0", "").expect("cd0");
        assert_eq!(bus_name(Some(&drive.bus), "cd0"), "ide");
        let d = def("qemu -cdrom /a.iso");
        let drive = find_drive(&d, "ide1-cd0", "/machine/unattached/device[3]");
        assert_eq!(drive.map(|d| d.media), Some(Media::Cdrom));
        let d = def(
            "qemu -device virtio-scsi-pci,id=s0 -drive if=none,id=c,file=/a.iso,media=cdrom \
             -device scsi-cd,drive=c,id=scd",
        );
        let drive = find_drive(&d, "", "scd").or_else(|| find_drive(&d, "c", ""));
        assert_eq!(bus_name(drive.map(|d| &d.bus), "c"), "scsi");
        assert_eq!(bus_name(None, "ide0-cd1"), "ide");
        assert_eq!(bus_name(None, "cd7"), "unknown");
    }
}
