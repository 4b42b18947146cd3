//! Proxmox VE VM configs (`/etc/pve/qemu-server/VMID.conf`) to
//! [`VmDefinition`]s, with volume ids resolved through `storage.cfg`
//! ([`storage`]).
//!
//! The format is the one `qm` writes (pve-docs, "qm.conf - Virtual Machine
//! configuration", <https://pve.proxmox.com/pve-docs/qm.conf.5.html>, and
//! the options of <https://pve.proxmox.com/pve-docs/qm.1.html>): one
//! `key: value` per line; lines starting with `#` are the VM's description
//! (ignored); a `[NAME]` line starts a snapshot section (or `[PENDING]`,
//! `[special:cloudinit]`), and everything from the first one on is ignored:
//! the top section is the current config.
//!
//! What is read: the drives `ide0..3`, `sata0..5`, `scsi0..30`,
//! `virtio0..15` (module `drive`) and `cdrom:` (an alias of `ide2` with
//! `media=cdrom`); `scsihw` (the SCSI controller, default `lsi`), `machine`,
//! `bios` (`seabios`, `ovmf`), `boot` (`order=a;b;c`, and the legacy
//! `boot: cdn` + `bootdisk:`), `memory` (MiB), `name`, `kvm` (`kvm: 0` means
//! TCG; Proxmox uses KVM otherwise) and `args` (parsed with the QEMU argv
//! parser, so an invented option there is an issue). Other known keys are
//! ignored; unknown keys, keys out of range (`ide4`), lines that are not
//! `key: value` and bad values are [`ConfigIssue`]s. Nothing here fails on
//! content: only an unreadable file is an error ([`load_dir`] reports it as
//! a [`ProxmoxWarning`]).

mod drive;
pub mod storage;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use storage::{Storage, StorageConfig};

use crate::model::{
    Accel, ConfigIssue, Controller, Firmware, IssueKind, Media, Origin, VmDefinition,
};

/// Keys of a VM config that exist in Proxmox but do not matter here.
const IGNORED_KEYS: &[&str] = &[
    "acpi",
    "affinity",
    "agent",
    "amd-sev",
    "arch",
    "audio0",
    "autostart",
    "balloon",
    "cicustom",
    "cipassword",
    "citype",
    "ciupgrade",
    "ciuser",
    "cores",
    "cpu",
    "cpulimit",
    "cpuunits",
    "description",
    "digest",
    "efidisk0",
    "freeze",
    "hookscript",
    "hotplug",
    "hugepages",
    "ivshmem",
    "keephugepages",
    "keyboard",
    "localtime",
    "lock",
    "meta",
    "migrate_downtime",
    "migrate_speed",
    "nameserver",
    "numa",
    "onboot",
    "ostype",
    "parent",
    "protection",
    "reboot",
    "rng0",
    "runningcpu",
    "runningmachine",
    "searchdomain",
    "shares",
    "smbios1",
    "smp",
    "snaptime",
    "sockets",
    "spice_enhancements",
    "sshkeys",
    "startdate",
    "startup",
    "tablet",
    "tags",
    "tdf",
    "template",
    "tpmstate0",
    "vcpus",
    "vga",
    "vmgenid",
    "vmstate",
    "vmstatestorage",
    "watchdog",
];

/// Indexed keys (`net0`, `unused3`) that exist in Proxmox but do not matter here.
const IGNORED_INDEXED: &[&str] = &[
    "hostpci", "ipconfig", "net", "numa", "parallel", "serial", "unused", "usb", "virtiofs",
];

/// Parses one VM config. `vmid` and `path` go into the [`Origin`]; volume
/// ids are resolved with `storage`.
pub fn parse_vm_config(
    text: &str,
    vmid: u32,
    path: &Path,
    storage: &StorageConfig,
) -> VmDefinition {
    let mut def = VmDefinition::new(Origin::Proxmox {
        vmid,
        path: path.to_path_buf(),
    });
    def.accel = vec![Accel::Kvm];
    let mut scsihw: Option<String> = None;
    let mut boot: Option<(usize, String)> = None;
    let mut bootdisk: Option<String> = None;
    let mut iothread_drives = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let context = format!("line {}", n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            break;
        }
        let Some((key, value)) = line.split_once(':') else {
            def.issues.push(ConfigIssue::new(
                IssueKind::Invalid,
                line,
                context,
                "Not a `key: value` line",
            ));
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let invalid = |def: &mut VmDefinition, why: &str| {
            def.issues.push(ConfigIssue::new(
                IssueKind::Invalid,
                format!("{key}: {value}"),
                format!("{key}:"),
                why,
            ))
        };
        if let Some((bus, _)) = drive::drive_key(key) {
            let p = drive::parse(key, bus, value, storage, &mut def.issues);
            if p.iothread {
                iothread_drives.push(key.to_string());
            }
            def.drives.push(p.drive);
            continue;
        }
        match key {
            "cdrom" => {
                let p = drive::parse("ide2", "ide", value, storage, &mut def.issues);
                let mut d = p.drive;
                d.media = Media::Cdrom;
                d.readonly = Some(true);
                d.device = Some("ide-cd".to_string());
                def.drives.push(d);
            }
            "name" => def.name = Some(value.to_string()),
            "scsihw" => scsihw = Some(value.to_string()),
            "machine" => {
                // `q35`, `pc-q35-8.1+pve0`, or a property string `type=q35,viommu=intel`.
                let first = value.split(',').next().unwrap_or_default();
                let ty = value
                    .split(',')
                    .find_map(|p| p.strip_prefix("type="))
                    .unwrap_or(first);
                def.machine = Some(ty.to_string());
            }
            "bios" => match value {
                "seabios" => def.firmware = Firmware::Bios { path: None },
                "ovmf" => def.firmware = Firmware::Uefi { code: None },
                _ => invalid(&mut def, "bios is `seabios` or `ovmf`"),
            },
            "boot" => boot = Some((n + 1, value.to_string())),
            "bootdisk" => bootdisk = Some(value.to_string()),
            "kvm" => match drive::parse_bool(value) {
                Some(true) => def.accel = vec![Accel::Kvm],
                Some(false) => def.accel = vec![Accel::Tcg],
                None => invalid(&mut def, "kvm is 0 or 1"),
            },
            "memory" => {
                let mib = value
                    .split(',')
                    .map(|p| p.strip_prefix("current=").unwrap_or(p))
                    .find_map(|p| p.parse::<u64>().ok());
                match mib {
                    Some(m) => def.memory_bytes = Some(m << 20),
                    None => invalid(&mut def, "memory is a number of MiB"),
                }
            }
            "args" => args(value, &mut def),
            _ if IGNORED_KEYS.contains(&key) => {}
            _ if IGNORED_INDEXED.iter().any(|p| {
                key.strip_prefix(p)
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            }) => {}
            _ => def.issues.push(ConfigIssue::new(
                IssueKind::Unknown,
                format!("{key}: {value}"),
                context,
                format!("Proxmox has no VM option `{key}`"),
            )),
        }
    }
    controllers(&mut def, scsihw.as_deref(), &iothread_drives);
    if let Some((line, b)) = boot {
        boot_order(&mut def, line, &b, bootdisk.as_deref());
    }
    def
}

/// The SCSI controller(s) from `scsihw` and the iothreads asked for.
fn controllers(def: &mut VmDefinition, scsihw: Option<&str>, iothread_drives: &[String]) {
    let hw = scsihw.unwrap_or("lsi");
    let kind = match hw {
        "virtio-scsi-pci" | "virtio-scsi-single" => "virtio-scsi",
        "lsi" => "lsilogic",
        "lsi53c810" | "megasas" | "pvscsi" => hw,
        _ => {
            def.issues.push(ConfigIssue::new(
                IssueKind::Invalid,
                format!("scsihw: {hw}"),
                "scsihw:",
                "scsihw is lsi, lsi53c810, virtio-scsi-pci, virtio-scsi-single, megasas or pvscsi",
            ));
            hw
        }
    };
    let single = hw == "virtio-scsi-single";
    for d in def.drives.iter_mut() {
        let key = d.id.clone().unwrap_or_default();
        let wants_iothread = iothread_drives.contains(&key);
        if let Some(n) = key.strip_prefix("scsi") {
            // virtio-scsi-single: one controller per drive, which can have
            // its own iothread; otherwise one shared `scsihw0`.
            let id = if single {
                format!("virtioscsi{n}")
            } else {
                "scsihw0".to_string()
            };
            if !def.controllers.iter().any(|c| c.id.as_deref() == Some(&id)) {
                let iothread = (single && wants_iothread).then(|| format!("iothread-{id}"));
                def.iothreads.extend(iothread.clone());
                def.controllers.push(Controller {
                    id: Some(id.clone()),
                    kind: kind.to_string(),
                    iothread,
                });
            }
            d.controller = Some(id);
        } else if key.starts_with("virtio") && wants_iothread {
            let t = format!("iothread-{key}");
            def.iothreads.push(t.clone());
            d.iothread = Some(t);
        } else if key.starts_with("sata") {
            d.controller = Some("ahci0".to_string());
            if !def.controllers.iter().any(|c| c.kind == "ahci") {
                def.controllers.push(Controller {
                    id: Some("ahci0".to_string()),
                    kind: "ahci".to_string(),
                    iothread: None,
                });
            }
        }
    }
}

/// `boot: order=scsi0;ide2;net0` (net devices are skipped), or the legacy
/// `boot: [acdn]{1,4}` with `bootdisk:` naming the disk for `c`.
fn boot_order(def: &mut VmDefinition, line: usize, value: &str, bootdisk: Option<&str>) {
    let mut names: Vec<String> = Vec::new();
    if let Some(order) = value.strip_prefix("order=") {
        names = order.split(';').map(|s| s.trim().to_string()).collect();
        def.boot_devices = names.iter().filter(|n| !n.is_empty()).cloned().collect();
    } else if !value.is_empty() && value.bytes().all(|b| b"acdn".contains(&b)) {
        for c in value.chars() {
            match c {
                'c' => names.extend(bootdisk.map(str::to_string)),
                'd' => names.extend(
                    def.drives
                        .iter()
                        .find(|d| d.media == Media::Cdrom)
                        .and_then(|d| d.id.clone()),
                ),
                _ => {}
            }
        }
    } else {
        def.issues.push(ConfigIssue::new(
            IssueKind::Invalid,
            format!("boot: {value}"),
            format!("line {line}"),
            "boot is `order=DEV;DEV;...` or letters from `acdn`",
        ));
        return;
    }
    let mut position = 0;
    for name in names
        .iter()
        .filter(|n| !n.starts_with("net") && !n.is_empty())
    {
        position += 1;
        match def
            .drives
            .iter_mut()
            .find(|d| d.id.as_deref() == Some(name))
        {
            Some(d) => d.boot_order = Some(position),
            None => def.issues.push(ConfigIssue::new(
                IssueKind::Dangling,
                name.clone(),
                "boot:",
                format!("The boot order names `{name}`, which is not defined"),
            )),
        }
    }
}

/// `args:` is extra QEMU arguments: only their issues are kept (the rest of
/// the VM is not in there, so dangling references are expected).
fn args(value: &str, def: &mut VmDefinition) {
    let split = match crate::qemu::split_cmdline(value) {
        Ok(s) => s,
        Err(e) => {
            def.issues.push(ConfigIssue::new(
                IssueKind::Invalid,
                value,
                "args:",
                e.to_string(),
            ));
            return;
        }
    };
    let mut argv = vec!["qemu".to_string()];
    argv.extend(split);
    let extra = crate::qemu::parse_argv(&argv, def.origin.clone());
    def.issues.extend(
        extra
            .issues
            .into_iter()
            .filter(|i| i.kind != IssueKind::Dangling)
            .map(|mut i| {
                i.context = format!("args: {}", i.context);
                i
            }),
    );
}

/// Something [`load_dir`] could not use; the rest is still read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum ProxmoxWarning {
    /// No `storage.cfg`: volume ids resolve with Proxmox's default `local` only.
    #[error("{}: not found; volume ids resolve only on the default storage `local` (/var/lib/vz)", path.display())]
    StorageCfgMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file could not be read (permission, too large, not a file).
    #[error("{reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why, naming the file.
        reason: String,
    },
    /// A `*.conf` whose name is not a VM id.
    #[error("{}: not a VMID.conf name; skipped", path.display())]
    NotAVmid {
        /// The file.
        path: PathBuf,
    },
}

/// What [`load_dir`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxmoxConfigs {
    /// One definition per readable `VMID.conf`, by VM id.
    pub vms: Vec<VmDefinition>,
    /// The storages used to resolve volume ids.
    pub storage: StorageConfig,
    /// What could not be used.
    pub warnings: Vec<ProxmoxWarning>,
}

/// Reads a Proxmox config tree: `/etc/pve` or a copy of it (`storage.cfg`
/// plus `qemu-server/*.conf`), or a directory holding `*.conf` files
/// directly (then `storage.cfg` is looked for in it and in its parent).
/// Fails only when `dir` itself cannot be listed.
pub fn load_dir(dir: &Path) -> Result<ProxmoxConfigs, crate::Error> {
    let (conf_dir, storage_candidates) = if dir.join("qemu-server").is_dir() {
        (dir.join("qemu-server"), vec![dir.join("storage.cfg")])
    } else {
        let parent = dir.parent().unwrap_or(dir).join("storage.cfg");
        (dir.to_path_buf(), vec![dir.join("storage.cfg"), parent])
    };
    let mut warnings = Vec::new();
    let storage = match storage_candidates.iter().find(|p| p.exists()) {
        Some(p) => match read(p) {
            Ok(text) => StorageConfig::parse(&text),
            Err(reason) => {
                warnings.push(ProxmoxWarning::Unreadable {
                    path: p.clone(),
                    reason,
                });
                StorageConfig::pve_default()
            }
        },
        None => {
            warnings.push(ProxmoxWarning::StorageCfgMissing {
                path: storage_candidates[0].clone(),
            });
            StorageConfig::pve_default()
        }
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&conf_dir).map_err(|e| crate::Error::io(&conf_dir, e))? {
        let p = entry.map_err(|e| crate::Error::io(&conf_dir, e))?.path();
        if p.extension().is_some_and(|e| e == "conf") {
            files.push(p);
        }
    }
    let mut vms = Vec::new();
    let mut found: Vec<(u32, PathBuf)> = Vec::new();
    for p in files {
        match p
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok())
        {
            Some(vmid) => found.push((vmid, p)),
            None => warnings.push(ProxmoxWarning::NotAVmid { path: p }),
        }
    }
    found.sort();
    for (vmid, p) in found {
        match read(&p) {
            Ok(text) => vms.push(parse_vm_config(&text, vmid, &p, &storage)),
            Err(reason) => warnings.push(ProxmoxWarning::Unreadable { path: p, reason }),
        }
    }
    Ok(ProxmoxConfigs {
        vms,
        storage,
        warnings,
    })
}

fn read(p: &Path) -> Result<String, String> {
    isotune_input::read_to_string_capped(
        p,
        isotune_input::caps::TEXT_FILE_BYTES,
        "a Proxmox config file",
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
