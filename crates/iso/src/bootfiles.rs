//! Boot-file discovery: the files a boot reads from the image, in load order,
//! with their extents (the input of the boot-trace benchmark).
//!
//! ```text
//!   El Torito catalog ──> BIOS image (isolinux.bin / eltorito.img) ──> its configs
//!                     │       ──> default kernel + initrds ──> other entries
//!                     └─> EFI image (efiboot.img) ──> GRUB configs ──> kernels ...
//! ```
//!
//! The configuration readers ([`syslinux::walk_syslinux`],
//! [`grub::walk_grub`]) are pure: they read files through a callback and
//! return [`ConfigRef`]s, so they are tested on literal text. [`discover`]
//! is the glue over an [`IsoImage`]: it reads the catalog's images, picks the
//! configurations each boot loader reads, looks every named file up and
//! attaches its extents. A named file the image lacks (or that is a
//! directory) is a `boot.missing-file` anomaly; a file whose data runs past
//! the end of the image file is `boot.file-past-end`.
//!
//! The default boot: the list holds everything any boot may read, and
//! [`BootFile::default_boot`] marks what the unattended boot reads (see
//! [`default_boot_files`]).
//!
//! Limits: configuration files are read up to [`MAX_CONFIG_BYTES`] each,
//! at most [`MAX_CONFIGS`] of them, nested at most [`MAX_DEPTH`] deep.

use std::collections::HashSet;
use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::eltorito::{read_boot_catalog, resolve_paths, BootCatalog};
use crate::image::IsoImage;
use crate::partition::read_partitions;
use crate::{Anomaly, Extent, FileEntry, FileKind, ReadAt, Result};

mod discovery;
pub mod estimate;
pub mod grub;
mod index;
mod modules;
pub mod syslinux;
mod walk;

/// Largest configuration file read (longer ones are read up to this size).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Most configuration files read in one walk.
pub const MAX_CONFIGS: usize = 64;
/// Deepest INCLUDE / CONFIG / source / configfile nesting followed.
pub const MAX_DEPTH: usize = 8;
/// Most files one walk reports.
const MAX_REFS: usize = 4096;

/// Why a boot reads a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootRole {
    /// The El Torito image a BIOS loads.
    ElToritoBios,
    /// The El Torito image an EFI firmware loads.
    ElToritoEfi,
    /// A boot loader configuration file.
    Config,
    /// A kernel.
    Kernel,
    /// An initrd (or multiboot module).
    Initrd,
    /// A boot loader module: a GRUB `.mod` (`normal`, what `insmod` and
    /// the commands used load, with their `moddep.lst` dependencies), a
    /// syslinux `.c32` (`ldlinux.c32`, the `UI` module and its libraries).
    Module,
    /// A boot loader's data file: GRUB's `command.lst`, `moddep.lst`...
    LoaderData,
    /// A font (`loadfont`, a theme's fonts).
    Font,
    /// A theme file or a background image (`set theme=`,
    /// `background_image`, syslinux `MENU BACKGROUND`).
    Theme,
}

impl BootRole {
    /// The role's JSON name (`kernel`, `el-torito-bios`...).
    pub fn as_str(self) -> &'static str {
        match self {
            BootRole::ElToritoBios => "el-torito-bios",
            BootRole::ElToritoEfi => "el-torito-efi",
            BootRole::Config => "config",
            BootRole::Kernel => "kernel",
            BootRole::Initrd => "initrd",
            BootRole::Module => "module",
            BootRole::LoaderData => "loader-data",
            BootRole::Font => "font",
            BootRole::Theme => "theme",
        }
    }
}

impl std::fmt::Display for BootRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One file a boot reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootFile {
    /// Path in the image (for an El Torito image no file covers, a
    /// description such as `(el-torito image at LBA 39)`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Where the data lives.
    pub extents: Vec<Extent>,
    /// Why it is read.
    pub role: BootRole,
    /// The configuration file that named it (none for catalog images and
    /// top-level configurations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The default (unattended) boot reads it: with a BIOS catalog entry,
    /// the BIOS boot image, the configuration files its loader reads and
    /// the default entry's kernel and initrds (following chained menus to
    /// their defaults); with no BIOS entry, the same for the UEFI path (the
    /// EFI image and GRUB's). Files of other menu entries, of loaders no
    /// catalog entry starts and of the other firmware's path are `false`.
    #[serde(default)]
    pub default_boot: bool,
}

/// The files of `files` the default boot reads ([`BootFile::default_boot`]),
/// in load order.
pub fn default_boot_files(files: &[BootFile]) -> Vec<&BootFile> {
    files.iter().filter(|f| f.default_boot).collect()
}

/// The result of [`discover`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootFiles {
    /// Files in load order, each path once.
    pub files: Vec<BootFile>,
    /// Missing files, unreadable or unresolvable references.
    pub anomalies: Vec<Anomaly>,
}

/// A file named by a boot configuration, before it is looked up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRef {
    /// Absolute, normalised path.
    pub path: String,
    /// What the configuration uses it as.
    pub role: BootRole,
    /// The configuration file that named it (none for the walk's roots).
    pub source: Option<String>,
    /// An unattended boot through this configuration reads it: a file of
    /// the first menu (and of the menus its default entry chains to), or the
    /// default entry's kernel and initrds.
    #[serde(default)]
    pub default_boot: bool,
}

impl ConfigRef {
    pub(crate) fn new(path: String, role: BootRole, source: &str) -> Self {
        ConfigRef {
            path,
            role,
            source: Some(source.to_owned()),
            default_boot: false,
        }
    }
}

/// Why a configuration walk's loader did not return a file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotLoaded {
    /// The image has nothing at that path.
    Missing,
    /// The path is a directory.
    Directory,
    /// Looking it up or reading it failed; the loader reported that itself.
    Failed,
}

/// How a configuration walk reads a file: its text (up to the loader's
/// size limit), or why not.
pub type LoadFn<'a> = dyn FnMut(&str) -> std::result::Result<String, NotLoaded> + 'a;

/// What a configuration walk found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigWalk {
    /// In load order: the configuration files read, the default entry's
    /// kernel and initrds, then the other entries' files; each path once.
    pub refs: Vec<ConfigRef>,
    /// Missing configuration files and unresolvable paths.
    pub anomalies: Vec<Anomaly>,
    /// What the default boot asks of GRUB (commands, `insmod`, terminals):
    /// the modules it loads. Empty for syslinux.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<grub::GrubNeed>,
}

/// The image's El Torito catalog with each entry's `path` (and the size an
/// EFI firmware loads) filled in from the directory tree and the partition
/// tables; `None` when the image has no El Torito boot record.
///
/// Fails only when the catalog's first sector cannot be read; a tree or
/// partition table that cannot be read just leaves paths unset.
pub fn boot_catalog<R: ReadAt>(image: &IsoImage<R>) -> Result<Option<BootCatalog>> {
    let lba = image
        .descriptors()
        .el_torito()
        .and_then(|b| b.el_torito_catalog_lba());
    let Some(lba) = lba else { return Ok(None) };
    let mut catalog = read_boot_catalog(image.source(), lba)?;
    let starts: HashSet<u64> = catalog
        .entries
        .iter()
        .map(|e| u64::from(e.load_rba))
        .collect();
    let mut files: Vec<FileEntry> = Vec::new();
    let mut matched = HashSet::new();
    // Only the files that start where an image does are kept; the walk
    // stops once every image has one.
    let _ = image.walk(image.best_namespace(), &mut |f: &FileEntry| {
        let start = f.extents.first().map(|x| x.lba);
        if let (FileKind::File, true, Some(lba)) = (&f.kind, f.size > 0, start) {
            if starts.contains(&lba) && matched.insert(lba) {
                files.push(f.clone());
            }
        }
        if matched.len() == starts.len() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    let partitions = read_partitions(image.source(), Some(image.primary().volume_bytes()))
        .map(|l| l.partitions)
        .unwrap_or_default();
    resolve_paths(&mut catalog, &files, &partitions);
    Ok(Some(catalog))
}

/// The files a boot of `image` reads, in load order: the BIOS boot image,
/// the configuration files of its loader (isolinux or GRUB), the default
/// entry's kernel and initrds, the other entries' files; then the EFI boot
/// image and GRUB's files; then the files of any loader no catalog entry
/// starts (listed last, since a boot may not read them). Each path once;
/// [`BootFile::default_boot`] marks the default boot's files.
///
/// `catalog` should come from [`boot_catalog`] (paths resolved). Nothing
/// here fails: unreadable or missing files become anomalies.
pub fn discover<R: ReadAt>(image: &IsoImage<R>, catalog: Option<&BootCatalog>) -> BootFiles {
    discovery::discover_in(&index::Indexed::new(image), catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config loader over literal `(path, text)` pairs; a path ending in
    /// `/` is a directory.
    pub(super) fn loader_from<'a>(
        files: &'a [(&'a str, &'a str)],
    ) -> impl FnMut(&str) -> std::result::Result<String, NotLoaded> + 'a {
        move |p: &str| {
            if files.iter().any(|(n, _)| n.strip_suffix('/') == Some(p)) {
                return Err(NotLoaded::Directory);
            }
            files
                .iter()
                .find(|(n, _)| *n == p)
                .map(|(_, t)| (*t).to_owned())
                .ok_or(NotLoaded::Missing)
        }
    }

    /// `role path` lines of a walk, for compact assertions; `*` marks the
    /// default boot's refs.
    pub(super) fn paths(walk: &ConfigWalk) -> Vec<String> {
        walk.refs
            .iter()
            .map(|r| {
                let role = serde_json::to_value(r.role).unwrap();
                format!("{} {}", role.as_str().unwrap(), r.path)
            })
            .collect()
    }

    /// The paths of the default boot's refs.
    pub(super) fn default_paths(walk: &ConfigWalk) -> Vec<&str> {
        walk.refs
            .iter()
            .filter(|r| r.default_boot)
            .map(|r| r.path.as_str())
            .collect()
    }

    #[test]
    fn default_boot_files_filters_in_order() {
        let file = |path: &str, default_boot| BootFile {
            path: path.to_owned(),
            size: 1,
            extents: Vec::new(),
            role: BootRole::Config,
            source: None,
            default_boot,
        };
        let files = [file("/a", true), file("/b", false), file("/c", true)];
        let got: Vec<_> = default_boot_files(&files)
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(got, ["/a", "/c"]);
        // Reports written before the field existed read as "not default".
        let old = r#"{"path":"/a","size":1,"extents":[],"role":"kernel"}"#;
        let f: BootFile = serde_json::from_str(old).unwrap();
        assert!(!f.default_boot);
    }
}
