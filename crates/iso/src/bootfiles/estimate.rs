//! What the default boot reads from the image, as one figure with its
//! coverage: the boot trace ([`crate::trace::boot_trace`]) of the default
//! boot's files summed, the parts of a boot those files are, and the root
//! filesystem images the booted system mounts later, which the figure
//! leaves out and lists apart with their sizes.
//!
//! The figure ends where the kernel starts: firmware (the El Torito image),
//! boot loader (configuration, modules, lists, fonts, themes), kernel and
//! initrd, plus the volume descriptors and the directories a loader walks
//! to find them. An installer or live system then reads its root image
//! (squashfs, EROFS, an `install.img`) through the kernel's cdrom driver:
//! that is a different phase, often larger than everything before it.
//!
//! GRUB reads the disk through a cache of [`GRUB_BLOCK_BYTES`] blocks
//! (`GRUB_DISK_CACHE_BITS` = 6: 64 sectors of 512 bytes), aligned on the
//! disk: every file or directory it reads costs the whole blocks it
//! touches, so twenty small modules cost twenty blocks. When GRUB loads
//! the default boot, `bytes` counts the union of those blocks over the
//! trace; isolinux reads 2 KiB sectors and loads only the segments of its
//! `.c32` modules, so there the trace is summed as it is.

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use super::{BootFile, BootRole};
use crate::{FileEntry, FileKind, IsoImage, ReadAt};

/// GRUB's disk cache block: what one read of a small file costs.
pub const GRUB_BLOCK_BYTES: u64 = 32 * 1024;

/// Most root images listed.
const MAX_EXCLUDED: usize = 16;

/// A part of a boot that a read estimate covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootPart {
    /// The El Torito boot image the firmware loads.
    Firmware,
    /// The boot loader's configuration and data files.
    Loader,
    /// Boot loader modules (GRUB `.mod`, syslinux `.c32`).
    LoaderModules,
    /// Fonts.
    Fonts,
    /// Themes and background images.
    Themes,
    /// The kernel.
    Kernel,
    /// The initrds.
    Initrd,
}

impl BootPart {
    fn of(role: BootRole) -> BootPart {
        match role {
            BootRole::ElToritoBios | BootRole::ElToritoEfi => BootPart::Firmware,
            BootRole::Config | BootRole::LoaderData => BootPart::Loader,
            BootRole::Module => BootPart::LoaderModules,
            BootRole::Font => BootPart::Fonts,
            BootRole::Theme => BootPart::Themes,
            BootRole::Kernel => BootPart::Kernel,
            BootRole::Initrd => BootPart::Initrd,
        }
    }
}

impl std::fmt::Display for BootPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BootPart::Firmware => "firmware",
            BootPart::Loader => "loader",
            BootPart::LoaderModules => "loader modules",
            BootPart::Fonts => "fonts",
            BootPart::Themes => "themes",
            BootPart::Kernel => "kernel",
            BootPart::Initrd => "initrd",
        })
    }
}

/// What kind of root filesystem image a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootImageKind {
    /// A squashfs image (magic `hsqs`).
    Squashfs,
    /// An EROFS image.
    Erofs,
    /// Named like a root image (`*.squashfs`, `*.sfs`, `LiveOS/*.img`,
    /// `install.img`), contents not recognised.
    Other,
}

/// A root filesystem image the booted system mounts after the kernel
/// starts; not part of [`BootReadEstimate::bytes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExcludedImage {
    /// Path in the image.
    pub path: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// What it is.
    pub kind: RootImageKind,
}

/// What the default boot reads from the image up to the kernel's start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootReadEstimate {
    /// Bytes read: the boot trace of the default boot's files (volume
    /// descriptors, the directories on their paths, the files), in whole
    /// `block_bytes` blocks when the loader reads that way.
    pub bytes: u64,
    /// The loader's read unit when it is larger than a sector (GRUB:
    /// [`GRUB_BLOCK_BYTES`]); `None`: reads are counted as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_bytes: Option<u64>,
    /// The default boot's files alone, in bytes.
    pub file_bytes: u64,
    /// How many files the default boot reads.
    pub files: usize,
    /// The parts of a boot the figure covers, in boot order.
    pub covers: Vec<BootPart>,
    /// Root filesystem images found in the image: read later by the
    /// booted system, not counted.
    pub excluded: Vec<ExcludedImage>,
}

/// The estimate for the default boot among `files` (all of an image's
/// boot files, [`super::discover`]). Nothing here fails: an unreadable
/// tree leaves `excluded` short, an unreadable directory leaves the trace
/// without it.
pub fn estimate<R: ReadAt>(image: &IsoImage<R>, files: &[BootFile]) -> BootReadEstimate {
    let default: Vec<BootFile> = super::default_boot_files(files)
        .into_iter()
        .cloned()
        .collect();
    if default.is_empty() {
        return BootReadEstimate {
            excluded: root_images(image),
            ..BootReadEstimate::default()
        };
    }
    let trace = crate::trace::boot_trace(image, &default).unwrap_or_default();
    let mut covers: Vec<BootPart> = Vec::new();
    for f in &default {
        let part = BootPart::of(f.role);
        if !covers.contains(&part) {
            covers.push(part);
        }
    }
    covers.sort_by_key(|p| *p as u8);
    let grub = default.iter().any(|f| {
        let p = f.path.to_ascii_lowercase();
        (f.role == BootRole::Module && p.ends_with(".mod"))
            || (matches!(f.role, BootRole::ElToritoBios | BootRole::ElToritoEfi)
                && p.contains("grub"))
    });
    let block_bytes = grub.then_some(GRUB_BLOCK_BYTES);
    let bytes = match block_bytes {
        Some(b) => blocks_bytes(
            trace.iter().map(|t| (t.offset, t.len)),
            b,
            image.file_size(),
        ),
        None => trace.iter().map(|t| t.len).sum(),
    };
    BootReadEstimate {
        bytes,
        block_bytes,
        file_bytes: default.iter().map(|f| f.size).sum(),
        files: default.len(),
        covers,
        excluded: root_images(image),
    }
}

/// The bytes of the distinct `block`-aligned blocks the ranges touch,
/// the last block cut at `end` (the image's size).
fn blocks_bytes(ranges: impl Iterator<Item = (u64, u64)>, block: u64, end: u64) -> u64 {
    let mut spans: Vec<(u64, u64)> = ranges
        .filter(|(_, len)| *len > 0)
        .map(|(off, len)| {
            let first = off / block;
            let last = off.saturating_add(len - 1) / block;
            (first, last)
        })
        .collect();
    spans.sort_unstable();
    let mut total = 0u64;
    let mut next = 0u64;
    for (first, last) in spans {
        let first = first.max(next);
        if first > last {
            continue;
        }
        let start = first * block;
        let stop = ((last + 1) * block).min(end.max(start));
        total += stop - start;
        next = last + 1;
    }
    total
}

/// Whether a path is named like a root filesystem image.
fn root_image_name(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    [".squashfs", ".sfs", ".erofs"]
        .iter()
        .any(|e| name.ends_with(e))
        || matches!(name, "squashfs.img" | "rootfs.img" | "install.img")
        || (lower.starts_with("/liveos/") && name.ends_with(".img"))
}

/// The root filesystem images of the image, largest first.
fn root_images<R: ReadAt>(image: &IsoImage<R>) -> Vec<ExcludedImage> {
    let mut found: Vec<FileEntry> = Vec::new();
    let _ = image.walk(image.best_namespace(), &mut |f: &FileEntry| {
        if f.kind == FileKind::File && root_image_name(&f.path) {
            found.push(f.clone());
        }
        if found.len() >= MAX_EXCLUDED {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    let mut out: Vec<ExcludedImage> = found
        .into_iter()
        .map(|f| {
            let head = image.read_file(&f, 1028).unwrap_or_default();
            let kind = if head.starts_with(b"hsqs") {
                RootImageKind::Squashfs
            } else if head.get(1024..1028) == Some(&[0xE2, 0xE1, 0xF5, 0xE0]) {
                RootImageKind::Erofs
            } else {
                RootImageKind::Other
            };
            ExcludedImage {
                path: f.path,
                size_bytes: f.size,
                kind,
            }
        })
        .collect();
    out.sort_by(|a, b| b.size_bytes.cmp(&a.size_bytes).then(a.path.cmp(&b.path)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{BootImage, FileSource, IsoWriter};

    #[test]
    fn grub_blocks_are_counted_once() {
        let b = GRUB_BLOCK_BYTES;
        // Two small files in one block, one straddling two, one far away.
        let ranges = [(100, 10), (2048, 10), (b - 1, 2), (10 * b, 1)];
        assert_eq!(blocks_bytes(ranges.into_iter(), b, u64::MAX), 3 * b);
        // The last block stops at the end of the image.
        assert_eq!(blocks_bytes([(10 * b, 1)].into_iter(), b, 10 * b + 5), 5);
        assert_eq!(blocks_bytes([(0, 0)].into_iter(), b, u64::MAX), 0);
    }

    #[test]
    fn root_image_names() {
        for p in [
            "/live/filesystem.squashfs",
            "/arch/x86_64/airootfs.sfs",
            "/LiveOS/squashfs.img",
            "/images/install.img",
            "/casper/minimal.standard.live.squashfs",
        ] {
            assert!(root_image_name(p), "{p}");
        }
        for p in [
            "/boot/grub/efi.img",
            "/casper/initrd",
            "/isolinux/splash.png",
        ] {
            assert!(!root_image_name(p), "{p}");
        }
    }

    /// A live-style image: the figure covers the boot up to the kernel and
    /// lists the squashfs apart, with its size and kind.
    #[test]
    fn estimate_covers_the_boot_and_lists_the_root_image_apart() {
        let mut squash = b"hsqs".to_vec();
        squash.resize(300_000, 7);
        let cfg = b"default l\nlabel l\n kernel /live/vmlinuz\n initrd /live/initrd.img\n";
        let mut w = IsoWriter::new("LIVE");
        w.joliet(true);
        w.add_file("/isolinux/isolinux.bin", FileSource::pseudo_random(4096, 1))
            .unwrap()
            .add_file("/isolinux/ldlinux.c32", FileSource::pseudo_random(5000, 2))
            .unwrap()
            .add_file("/isolinux/isolinux.cfg", FileSource::bytes(cfg.to_vec()))
            .unwrap()
            .add_file("/live/vmlinuz", FileSource::pseudo_random(70_000, 3))
            .unwrap()
            .add_file("/live/initrd.img", FileSource::pseudo_random(50_000, 4))
            .unwrap()
            .add_file("/live/filesystem.squashfs", FileSource::bytes(squash))
            .unwrap()
            .add_file("/live/other.sfs", FileSource::pseudo_random(9000, 5))
            .unwrap();
        w.el_torito(BootImage::bios("/isolinux/isolinux.bin"));
        let mut bytes = Vec::new();
        w.write_to(&mut bytes).unwrap();
        let image = IsoImage::open(bytes).unwrap();
        let catalog = super::super::boot_catalog(&image).unwrap();
        let found = super::super::discover(&image, catalog.as_ref());
        let e = estimate(&image, &found.files);
        assert_eq!(e.files, 5);
        assert_eq!(
            e.file_bytes,
            4096 + 5000 + cfg.len() as u64 + 70_000 + 50_000
        );
        // Plus the descriptors and the directories / and /isolinux, /live.
        assert!(e.bytes > e.file_bytes, "{e:?}");
        assert!(e.bytes < e.file_bytes + 16 * 2048, "{e:?}");
        assert_eq!(
            e.covers,
            [
                BootPart::Firmware,
                BootPart::Loader,
                BootPart::LoaderModules,
                BootPart::Kernel,
                BootPart::Initrd
            ]
        );
        assert_eq!(
            e.excluded,
            [
                ExcludedImage {
                    path: "/live/filesystem.squashfs".into(),
                    size_bytes: 300_000,
                    kind: RootImageKind::Squashfs
                },
                ExcludedImage {
                    path: "/live/other.sfs".into(),
                    size_bytes: 9000,
                    kind: RootImageKind::Other
                },
            ]
        );
    }
}
