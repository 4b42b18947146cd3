//! The libvirt and Proxmox sources `doctor` and `check` read, from
//! `--connect`, `--no-libvirt` and `--proxmox` and their defaults.

use std::path::Path;

use isotune_scan::{UriChoice, VmSource};

use crate::args::LiveArgs;

/// Where Proxmox VE keeps the VM configs; read by default when present.
pub const PVE_DIR: &str = "/etc/pve";

/// The live sources to read, and the info line to print once the report
/// stands (so that an error stays the only line on stderr).
pub struct Live {
    /// The sources.
    pub sources: Vec<VmSource>,
    /// `libvirt: not read (...)` when no libvirt applies.
    pub info: Option<String>,
}

impl Live {
    /// Prints the info line on stderr, unless `quiet`.
    pub fn say(&self, quiet: bool) {
        if let (Some(line), false) = (&self.info, quiet) {
            eprintln!("isotune: info: {line}");
        }
    }
}

/// The sources `args` ask for. libvirt: `--connect`, else
/// `LIBVIRT_DEFAULT_URI`, else `qemu:///system` when its socket exists,
/// else none and an info line. Proxmox: `--proxmox DIR`, else /etc/pve
/// when /etc/pve/qemu-server exists.
pub fn sources(args: &LiveArgs) -> Live {
    let mut out = Vec::new();
    let mut info = None;
    if !args.no_libvirt {
        let choice = isotune_scan::resolve_uri_from_host(args.connect.as_deref());
        match choice.uri() {
            Some(uri) => out.push(VmSource::Libvirt {
                uri: uri.to_owned(),
                explicit: matches!(choice, UriChoice::Explicit { .. }),
            }),
            None => info = Some(choice.to_string()),
        }
    }
    match &args.proxmox {
        Some(dir) => out.push(VmSource::Proxmox(dir.clone())),
        None if Path::new(PVE_DIR).join("qemu-server").is_dir() => {
            out.push(VmSource::Proxmox(PVE_DIR.into()))
        }
        None => {}
    }
    Live { sources: out, info }
}
