//! The libvirt and Proxmox sources `doctor` and `check` read, from
//! `--connect`, `--no-libvirt` and `--proxmox` and their defaults.

use std::path::Path;

use isotune_scan::{UriChoice, VmSource};

use crate::args::LiveArgs;

/// Where Proxmox VE keeps the VM configs; read by default when present.
pub const PVE_DIR: &str = "/etc/pve";

/// The sources `args` ask for. libvirt: `--connect`, else
/// `LIBVIRT_DEFAULT_URI`, else `qemu:///system` when its socket exists;
/// when none applies, one info line on stderr (unless `quiet`). Proxmox:
/// `--proxmox DIR`, else /etc/pve when /etc/pve/qemu-server exists.
pub fn sources(args: &LiveArgs, quiet: bool) -> Vec<VmSource> {
    let mut out = Vec::new();
    if !args.no_libvirt {
        let choice = isotune_scan::resolve_uri_from_host(args.connect.as_deref());
        match choice.uri() {
            Some(uri) => out.push(VmSource::Libvirt {
                uri: uri.to_owned(),
                explicit: matches!(choice, UriChoice::Explicit { .. }),
            }),
            None if !quiet => eprintln!("isotune: info: {choice}"),
            None => {}
        }
    }
    match &args.proxmox {
        Some(dir) => out.push(VmSource::Proxmox(dir.clone())),
        None if Path::new(PVE_DIR).join("qemu-server").is_dir() => {
            out.push(VmSource::Proxmox(PVE_DIR.into()))
        }
        None => {}
    }
    out
}
