//! The libvirt and Proxmox sources `doctor` and `check` read, from
//! `--connect`, `--no-libvirt` and `--proxmox` and their defaults.

use std::path::Path;

use isotune_scan::{UriChoice, VmSource};

use crate::args::LiveArgs;

/// Where Proxmox VE keeps the VM configs; read by default when present.
pub const PVE_DIR: &str = "/etc/pve";

/// `ISOTUNE_NO_LIBVIRT=1` turns the default libvirt off (as `--no-libvirt`
/// does, but `--connect` still reads): for scripts and tests that must not
/// depend on whether this host runs libvirtd.
pub const NO_LIBVIRT_ENV: &str = "ISOTUNE_NO_LIBVIRT";

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
    let env_off = std::env::var_os(NO_LIBVIRT_ENV).is_some_and(|v| v == "1");
    let off = args.no_libvirt || (env_off && args.connect.is_none());
    if !off {
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
