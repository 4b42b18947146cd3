//! Findings and the rule catalogue's types.
//!
//! [`Severity`] lives here, not in the ISO reader: the rules engine judges
//! host, VM, image and bench facts alike and depends on no parser. The ISO
//! reader's anomalies carry their own severity; the scan maps it.

use serde::{Deserialize, Serialize};

/// How much a finding matters. Ordered: `Info < Warn < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Worth knowing; nothing to fix.
    Info,
    /// Slows the boot or risks a problem; worth fixing.
    Warn,
    /// The image is damaged or the setup is wrong: the command exits 1.
    Error,
}

/// The layer a finding is about, in the order a boot meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    /// The ISO file itself (truncation, checksum).
    Image,
    /// The VM definition (bus, format, cache, aio, iothreads).
    VmConfig,
    /// The accelerator (KVM, TCG, nested).
    Accelerator,
    /// The filesystem holding the ISO.
    Filesystem,
    /// The block devices under it.
    Storage,
    /// The network path to the ISO.
    Network,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The rule's stable id (`cdrom.ide-bus`).
    pub id: &'static str,
    /// Its layer.
    pub layer: Layer,
    /// How much it matters.
    pub severity: Severity,
    /// One line, specific to what was seen.
    pub title: String,
    /// What it applies to (a VM name and drive, an ISO path, a device).
    pub subject: String,
    /// The facts it saw, one per line, with units.
    pub evidence: Vec<String>,
    /// Why it matters.
    pub why: String,
    /// The exact fix: a command, an XML snippet or QEMU arguments.
    pub fix: String,
    /// The fix in a form a program applies to the VM definition (`fix` is
    /// rendered from it), for VM findings that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edit: Option<crate::fix::FixEdit>,
    /// Where it is documented (QEMU, libvirt, kernel).
    pub reference: String,
}

impl Layer {
    /// Every layer, in the order a boot meets them (and the catalogue lists them).
    pub const ALL: [Layer; 6] = [
        Layer::Image,
        Layer::VmConfig,
        Layer::Accelerator,
        Layer::Filesystem,
        Layer::Storage,
        Layer::Network,
    ];

    /// A heading for the layer (`VM configuration`).
    pub fn title(self) -> &'static str {
        match self {
            Layer::Image => "Image",
            Layer::VmConfig => "VM configuration",
            Layer::Accelerator => "Accelerator",
            Layer::Filesystem => "Filesystem and page cache",
            Layer::Storage => "Storage",
            Layer::Network => "Network",
        }
    }
}

/// The lower-case name of a severity, as the catalogue and renderers spell it.
pub fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warn => "warn",
        Severity::Error => "error",
    }
}
