//! A small installer-shaped sample image, written with isotune's own writer.
//!
//! `isotune check` with no ISO audits this host with it, the fuzz target
//! seeds its corpus from it, and tests use it when they need a bootable
//! layout without external tools. It looks like a Debian-style installer:
//! an isolinux BIOS boot image, isolinux and GRUB configurations naming a
//! kernel and an initrd, and a README. The kernel and initrd are
//! pseudo-random bytes of realistic sizes (they do not boot; their job is
//! to be read the way a boot reads them).

use std::path::Path;

use crate::writer::{BootImage, FileSource, IsoWriter, Timestamp, WriteSummary};
use crate::Result;

/// Volume identifier of the sample image.
pub const VOLUME_ID: &str = "ISOTUNE_SAMPLE";

/// Sizes of the sample's boot payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleSizes {
    /// Size of `/install/vmlinuz` in bytes.
    pub kernel_bytes: u64,
    /// Size of `/install/initrd.gz` in bytes.
    pub initrd_bytes: u64,
}

impl Default for SampleSizes {
    /// About what a netinst installer's kernel and initrd weigh.
    fn default() -> Self {
        SampleSizes {
            kernel_bytes: 8 << 20,
            initrd_bytes: 24 << 20,
        }
    }
}

const ISOLINUX_CFG: &str = "\
# isolinux configuration of the isotune sample image
DEFAULT install
PROMPT 0
TIMEOUT 0
LABEL install
  KERNEL /install/vmlinuz
  APPEND vga=788 initrd=/install/initrd.gz --- quiet
";

const GRUB_CFG: &str = "\
# GRUB configuration of the isotune sample image (UEFI path)
set timeout=0
menuentry 'Install' {
    linux /install/vmlinuz vga=788 --- quiet
    initrd /install/initrd.gz
}
";

const README: &str = "\
This image was written by isotune (`isotune check` with no ISO) to audit the
host it runs on. Its kernel and initrd are pseudo-random bytes of realistic
sizes: they are read like a real installer's, but they do not boot.
";

/// The writer for the sample image (not yet written).
pub fn sample_writer(sizes: SampleSizes) -> Result<IsoWriter> {
    let mut w = IsoWriter::new(VOLUME_ID);
    w.joliet(true)
        // Fixed time: the same sizes always give byte-identical images.
        .timestamp(Timestamp::from_unix_seconds(1_767_225_600)?);
    // isolinux.bin: a stand-in of the real one's size, patched with a boot
    // info table as `-boot-info-table` does.
    w.add_file(
        "/isolinux/isolinux.bin",
        FileSource::pseudo_random(38 * 1024, 1),
    )?
    .add_file("/isolinux/isolinux.cfg", FileSource::bytes(ISOLINUX_CFG))?
    .add_file("/boot/grub/grub.cfg", FileSource::bytes(GRUB_CFG))?
    .add_file(
        "/install/vmlinuz",
        FileSource::pseudo_random(sizes.kernel_bytes, 2),
    )?
    .add_file(
        "/install/initrd.gz",
        FileSource::pseudo_random(sizes.initrd_bytes, 3),
    )?
    .add_file("/README.txt", FileSource::bytes(README))?;
    let mut boot = BootImage::bios("/isolinux/isolinux.bin");
    boot.boot_info_table = true;
    w.el_torito(boot);
    Ok(w)
}

/// Writes the sample image to `path`.
pub fn write_sample(path: &Path, sizes: SampleSizes) -> Result<WriteSummary> {
    sample_writer(sizes)?.write_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{inspect, InspectOptions};
    use crate::IsoImage;

    #[test]
    fn sample_reads_back_with_its_boot_files_in_order() {
        let sizes = SampleSizes {
            kernel_bytes: 100_000,
            initrd_bytes: 300_000,
        };
        let mut bytes = Vec::new();
        let summary = sample_writer(sizes).unwrap().write_to(&mut bytes).unwrap();
        let image = IsoImage::open(bytes).unwrap();
        let report = inspect(&image, InspectOptions::default()).unwrap();
        assert_eq!(report.volume_id, VOLUME_ID);
        assert!(report.joliet);
        assert_eq!(report.el_torito.entries.len(), 1);
        let paths: Vec<&str> = report.boot_files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths.first(), Some(&"/isolinux/isolinux.bin"));
        let kernel = report
            .boot_files
            .iter()
            .find(|f| f.path == "/install/vmlinuz")
            .expect("kernel discovered");
        assert_eq!(kernel.size, sizes.kernel_bytes);
        assert_eq!(
            kernel.extents[0].lba,
            summary.file("/install/vmlinuz").unwrap().extent.lba
        );
        assert!(paths.contains(&"/install/initrd.gz"));
        assert!(
            report
                .anomalies
                .iter()
                .all(|a| a.severity != crate::Severity::Error),
            "{:?}",
            report.anomalies
        );
    }
}
