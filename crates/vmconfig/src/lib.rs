//! The vocabulary of a VM's storage setup, as isotune needs it to explain a
//! slow ISO boot: which drives exist, on which bus, with which cache, aio,
//! format and iothread; the machine type, the accelerator and the firmware.
//!
//! - [`model`]: the serde data ([`VmDefinition`] and its parts).
//! - [`libvirt`]: a parser from libvirt domain XML (a file, a directory such
//!   as `/etc/libvirt/qemu`, or `virsh dumpxml` output).
//! - [`proxmox`]: Proxmox VE VM configs (`/etc/pve/qemu-server/VMID.conf`)
//!   with volume ids resolved through `storage.cfg`.
//! - [`qemu`]: a parser from a QEMU command line (QemuOpts syntax, `-drive`,
//!   `-blockdev` JSON and dotted, `-device`, ...) and an emitter back to argv.
//!
//! Parsers never fail on an option they do not know: it is kept in
//! [`VmDefinition::issues`] so the doctor can report it (an invented option
//! such as `-enable-dma` is a finding, not a crash). They fail only when
//! nothing can be analysed (an XML document that does not parse).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod libvirt;
pub mod model;
pub mod proxmox;
pub mod qemu;

pub use error::{Error, ErrorKind};
pub use libvirt::{load_xml, parse_domain_xml};
pub use model::*;
pub use qemu::{option_spans, parse_argv, split_cmdline, to_argv};
