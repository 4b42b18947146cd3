//! The boot trace: the byte ranges of an image a boot reads, in the order it
//! reads them. `isotune bench --workload boot` replays it on the host's
//! storage, cut into the request sizes of a boot path.
//!
//! The order follows what firmware and loaders do:
//! 1. the volume descriptor set (sector 16 up to the terminator), which
//!    every loader reads first to find the root directory;
//! 2. for each boot file in load order ([`crate::bootfiles`]): the
//!    directories on its path that have not been read yet (a loader walks
//!    them to find the file), then the file's extents.
//!
//! Limitation: a BIOS loads only `sector_count × 512` bytes of a
//! no-emulation boot image and the loader reads the rest itself; the trace
//! reads the whole file, which is what happens by the time the loader runs.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::bootfiles::BootFile;
use crate::descriptor::VolumeDescriptor;
use crate::{Extent, IsoImage, Namespace, ReadAt, Result, SECTOR_SIZE};

/// One range of the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceExtent {
    /// Byte offset in the image.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// What it is, e.g. `volume descriptors`, `directory /isolinux`,
    /// `kernel /casper/vmlinuz`.
    pub label: String,
}

/// Builds the boot trace of `image` for `boot_files` (in load order).
pub fn boot_trace<R: ReadAt>(
    image: &IsoImage<R>,
    boot_files: &[BootFile],
) -> Result<Vec<TraceExtent>> {
    let mut out = Vec::new();
    let set = image.descriptors();
    let last_sector = set
        .descriptors
        .iter()
        .filter_map(|d| match d {
            VolumeDescriptor::Terminator { sector } => Some(*sector),
            _ => None,
        })
        .next()
        .unwrap_or(16 + set.descriptors.len() as u64 - 1)
        .max(16);
    out.push(TraceExtent {
        offset: 16 * SECTOR_SIZE,
        len: (last_sector - 15) * SECTOR_SIZE,
        label: "volume descriptors".to_owned(),
    });

    let ns = image.best_namespace();
    let root = match (ns, image.joliet()) {
        (Namespace::Joliet, Some(svd)) => svd.info.root.extent(),
        _ => image.primary().root.extent(),
    };
    let mut seen_dirs: HashSet<String> = HashSet::new();
    seen_dirs.insert("/".to_owned());
    push_extents(&mut out, &[root], "directory /");

    for file in boot_files {
        // Directories on the way, outermost first.
        let mut prefix = String::new();
        let parts: Vec<&str> = file.path.split('/').filter(|p| !p.is_empty()).collect();
        for dir in parts.iter().take(parts.len().saturating_sub(1)) {
            prefix.push('/');
            prefix.push_str(dir);
            if !seen_dirs.insert(prefix.to_ascii_lowercase()) {
                continue;
            }
            if let Some(entry) = image.lookup(&prefix)? {
                push_extents(&mut out, &entry.extents, &format!("directory {prefix}"));
            }
        }
        let role = file.role.as_str();
        push_extents(&mut out, &file.extents, &format!("{role} {}", file.path));
    }
    Ok(out)
}

fn push_extents(out: &mut Vec<TraceExtent>, extents: &[Extent], label: &str) {
    for e in extents.iter().filter(|e| e.size > 0) {
        out.push(TraceExtent {
            offset: e.offset(),
            len: e.size,
            label: label.to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{inspect, InspectOptions};
    use crate::sample::{sample_writer, SampleSizes};

    #[test]
    fn sample_trace_walks_descriptors_directories_then_files() {
        let sizes = SampleSizes {
            kernel_bytes: 50_000,
            initrd_bytes: 70_000,
        };
        let mut bytes = Vec::new();
        sample_writer(sizes).unwrap().write_to(&mut bytes).unwrap();
        let image = IsoImage::open(bytes).unwrap();
        let report = inspect(&image, InspectOptions::default()).unwrap();
        let trace = boot_trace(&image, &report.boot_files).unwrap();
        assert_eq!(trace[0].label, "volume descriptors");
        assert_eq!(trace[0].offset, 16 * SECTOR_SIZE);
        assert_eq!(trace[1].label, "directory /");
        let labels: Vec<&str> = trace.iter().map(|t| t.label.as_str()).collect();
        let dir = labels
            .iter()
            .position(|l| *l == "directory /install")
            .unwrap();
        let kernel = labels
            .iter()
            .position(|l| *l == "kernel /install/vmlinuz")
            .unwrap();
        assert!(dir < kernel, "{labels:?}");
        // Each directory is read once.
        assert_eq!(
            labels
                .iter()
                .filter(|l| **l == "directory /install")
                .count(),
            1
        );
        let k = &trace[kernel];
        assert_eq!(k.len, sizes.kernel_bytes);
        // Every boot file's bytes are in the trace exactly.
        for f in &report.boot_files {
            let total: u64 = trace
                .iter()
                .filter(|t| t.label.ends_with(&format!(" {}", f.path)))
                .map(|t| t.len)
                .sum();
            assert_eq!(total, f.size, "{}", f.path);
        }
    }
}
