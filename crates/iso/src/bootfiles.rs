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
//! attaches its extents. A named file the image lacks is a
//! `boot.missing-file` anomaly.
//!
//! Limits: configuration files are read up to [`MAX_CONFIG_BYTES`] each,
//! at most [`MAX_CONFIGS`] of them, nested at most [`MAX_DEPTH`] deep.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::eltorito::{read_boot_catalog, resolve_paths, BootCatalog, BootEntry, Platform};
use crate::image::IsoImage;
use crate::partition::read_partitions;
use crate::{Anomaly, Extent, FileEntry, FileKind, ReadAt, Result, Severity, SECTOR_SIZE};

pub mod grub;
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
}

impl ConfigRef {
    pub(crate) fn new(path: String, role: BootRole, source: &str) -> Self {
        ConfigRef {
            path,
            role,
            source: Some(source.to_owned()),
        }
    }
}

/// What a configuration walk found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigWalk {
    /// In load order: the configuration files read, the default entry's
    /// kernel and initrds, then the other entries' files; each path once.
    pub refs: Vec<ConfigRef>,
    /// Missing configuration files and unresolvable paths.
    pub anomalies: Vec<Anomaly>,
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
    let volume_bytes = u64::from(image.primary().volume_space_size) * SECTOR_SIZE;
    let partitions = read_partitions(image.source(), Some(volume_bytes))
        .map(|l| l.partitions)
        .unwrap_or_default();
    resolve_paths(&mut catalog, &files, &partitions);
    Ok(Some(catalog))
}

/// The files a boot of `image` reads, in load order: the BIOS boot image,
/// the configuration files of its loader (isolinux or GRUB), the default
/// entry's kernel and initrds, the other entries' files; then the EFI boot
/// image and GRUB's files; then the files of any loader no catalog entry
/// starts (listed last, since a boot may not read them). Each path once.
///
/// `catalog` should come from [`boot_catalog`] (paths resolved). Nothing
/// here fails: unreadable or missing files become anomalies.
pub fn discover<R: ReadAt>(image: &IsoImage<R>, catalog: Option<&BootCatalog>) -> BootFiles {
    discover_in(image, catalog)
}

/// What discovery needs from an image; a fake implements it in tests.
trait Media {
    fn lookup(&self, path: &str) -> Result<Option<FileEntry>>;
    fn read(&self, entry: &FileEntry, max_bytes: u64) -> Result<Vec<u8>>;
}

impl<R: ReadAt> Media for IsoImage<R> {
    fn lookup(&self, path: &str) -> Result<Option<FileEntry>> {
        IsoImage::lookup(self, path)
    }
    fn read(&self, entry: &FileEntry, max_bytes: u64) -> Result<Vec<u8>> {
        self.read_file(entry, max_bytes)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Syslinux,
    Grub,
}

fn family(path: &str) -> Option<Family> {
    let p = path.to_ascii_lowercase();
    if p.contains("isolinux") || p.contains("syslinux") {
        Some(Family::Syslinux)
    } else if p.contains("grub") || p.ends_with("eltorito.img") {
        Some(Family::Grub)
    } else {
        None
    }
}

/// Where isolinux looks for its configuration, after its own directory.
const SYSLINUX_ROOTS: [&str; 6] = [
    "/boot/isolinux/isolinux.cfg",
    "/isolinux/isolinux.cfg",
    "/boot/syslinux/syslinux.cfg",
    "/syslinux/syslinux.cfg",
    "/isolinux.cfg",
    "/syslinux.cfg",
];
/// The GRUB configurations boot media carry; the first found is the one a
/// normal boot reads (loopback.cfg serves loop-mounted boots).
const GRUB_ROOTS: [&str; 4] = [
    "/boot/grub/grub.cfg",
    "/EFI/BOOT/grub.cfg",
    "/boot/grub2/grub.cfg",
    "/boot/grub/loopback.cfg",
];

struct Discovery<'a> {
    media: &'a dyn Media,
    out: BootFiles,
    seen: HashSet<String>,
}

impl Discovery<'_> {
    /// Looks a path up, following symbolic links a few hops; errors become anomalies.
    fn find(&mut self, path: &str) -> Option<FileEntry> {
        let mut path = path.to_owned();
        for _ in 0..8 {
            match self.media.lookup(&path) {
                Ok(Some(e)) if e.kind == FileKind::Symlink => {
                    let target = e.symlink_target.as_deref()?;
                    path = walk::resolve(&walk::dirname(&e.path), target)?;
                }
                Ok(Some(e)) if e.kind == FileKind::File => return Some(e),
                Ok(_) => return None,
                Err(err) => {
                    self.out.anomalies.push(Anomaly::new(
                        "boot.unreadable-file",
                        Severity::Warn,
                        format!("looking up {path} failed: {err}"),
                    ));
                    return None;
                }
            }
        }
        None
    }

    fn push(
        &mut self,
        path: String,
        size: u64,
        extents: Vec<Extent>,
        role: BootRole,
        source: Option<String>,
    ) {
        if self.seen.insert(path.to_ascii_lowercase()) {
            self.out.files.push(BootFile {
                path,
                size,
                extents,
                role,
                source,
            });
        }
    }

    fn image(&mut self, entry: &BootEntry, role: BootRole) {
        let file = entry.path.clone().and_then(|p| self.find(&p));
        match file {
            Some(f) => self.push(f.path, f.size, f.extents, role, None),
            None => {
                let x = Extent {
                    lba: u64::from(entry.load_rba),
                    size: entry.size_bytes,
                };
                let name = format!("(el-torito image at LBA {})", entry.load_rba);
                self.push(name, x.size, vec![x], role, None);
            }
        }
    }

    fn configs(&mut self, fam: Family, bios_image: Option<&str>) {
        let media = self.media;
        let errors = RefCell::new(Vec::new());
        let mut read = |p: &str| -> Option<String> {
            let entry = match media.lookup(p) {
                Ok(Some(e)) if e.kind == FileKind::File => e,
                Ok(_) => return None,
                Err(err) => {
                    errors
                        .borrow_mut()
                        .push(format!("looking up {p} failed: {err}"));
                    return None;
                }
            };
            match media.read(&entry, MAX_CONFIG_BYTES) {
                Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                Err(err) => {
                    errors
                        .borrow_mut()
                        .push(format!("reading {p} failed: {err}"));
                    None
                }
            }
        };
        let exists = |p: &str| matches!(media.lookup(p), Ok(Some(e)) if e.kind == FileKind::File);
        let walk = match fam {
            Family::Syslinux => {
                let own = bios_image.map(walk::dirname).into_iter().flat_map(|d| {
                    let d = if d == "/" { String::new() } else { d };
                    [format!("{d}/isolinux.cfg"), format!("{d}/syslinux.cfg")]
                });
                let roots: Vec<String> = own
                    .chain(SYSLINUX_ROOTS.iter().map(|s| (*s).to_owned()))
                    .collect();
                match roots.iter().find(|r| exists(r)) {
                    Some(root) => syslinux::walk_syslinux(root, &mut read),
                    None => return,
                }
            }
            Family::Grub => {
                let roots: Vec<&str> = GRUB_ROOTS.iter().copied().filter(|r| exists(r)).collect();
                if roots.is_empty() {
                    return;
                }
                grub::walk_grub(&roots, &mut read)
            }
        };
        for e in errors.into_inner() {
            self.out
                .anomalies
                .push(Anomaly::new("boot.unreadable-file", Severity::Warn, e));
        }
        self.out.anomalies.extend(walk.anomalies);
        for r in walk.refs {
            match self.find(&r.path) {
                Some(f) => self.push(f.path, f.size, f.extents, r.role, r.source),
                None if r.role != BootRole::Config => {
                    let from = r.source.as_deref().unwrap_or("a boot configuration");
                    self.out.anomalies.push(walk::missing(from, &r.path));
                }
                None => {}
            }
        }
    }
}

fn discover_in(media: &dyn Media, catalog: Option<&BootCatalog>) -> BootFiles {
    let mut d = Discovery {
        media,
        out: BootFiles::default(),
        seen: HashSet::new(),
    };
    let pick = |p: Platform| {
        catalog.and_then(|c| {
            c.first_for(p)
                .or_else(|| c.entries.iter().find(|e| e.platform == p))
        })
    };
    let mut done = Vec::new();
    if let Some(bios) = pick(Platform::Bios) {
        d.image(bios, BootRole::ElToritoBios);
        if let Some(fam) = bios.path.as_deref().and_then(family) {
            d.configs(fam, bios.path.as_deref());
            done.push(fam);
        }
    }
    if let Some(efi) = pick(Platform::Efi) {
        d.image(efi, BootRole::ElToritoEfi);
        if !done.contains(&Family::Grub) {
            d.configs(Family::Grub, None);
            done.push(Family::Grub);
        }
    }
    for fam in [Family::Syslinux, Family::Grub] {
        if !done.contains(&fam) {
            d.configs(fam, None);
        }
    }
    d.out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config loader over literal `(path, text)` pairs.
    pub(super) fn loader_from<'a>(
        files: &'a [(&'a str, &'a str)],
    ) -> impl FnMut(&str) -> Option<String> + 'a {
        move |p: &str| {
            files
                .iter()
                .find(|(n, _)| *n == p)
                .map(|(_, t)| (*t).to_owned())
        }
    }

    /// `role path` lines of a walk, for compact assertions.
    pub(super) fn paths(walk: &ConfigWalk) -> Vec<String> {
        walk.refs
            .iter()
            .map(|r| {
                let role = serde_json::to_value(r.role).unwrap();
                format!("{} {}", role.as_str().unwrap(), r.path)
            })
            .collect()
    }

    /// An in-memory image: files by path, each at its own LBA.
    struct Fake(Vec<(FileEntry, Vec<u8>)>);

    impl Fake {
        fn new(files: &[(&str, &str)]) -> Self {
            let entries = files
                .iter()
                .enumerate()
                .map(|(i, (path, text))| {
                    let size = text.len() as u64;
                    let entry = FileEntry {
                        path: (*path).to_owned(),
                        kind: FileKind::File,
                        size,
                        extents: vec![Extent {
                            lba: 100 + i as u64 * 10,
                            size,
                        }],
                        hidden: false,
                        associated: false,
                        mode: None,
                        symlink_target: None,
                        relocated_from: None,
                    };
                    (entry, text.as_bytes().to_vec())
                })
                .collect();
            Fake(entries)
        }

        fn lba(&self, path: &str) -> u32 {
            let e = self.0.iter().find(|(e, _)| e.path == path).unwrap();
            e.0.extents[0].lba as u32
        }
    }

    impl Media for Fake {
        fn lookup(&self, path: &str) -> Result<Option<FileEntry>> {
            let hit = self
                .0
                .iter()
                .find(|(e, _)| e.path.eq_ignore_ascii_case(path));
            Ok(hit.map(|(e, _)| e.clone()))
        }
        fn read(&self, entry: &FileEntry, max_bytes: u64) -> Result<Vec<u8>> {
            let (_, data) = self.0.iter().find(|(e, _)| e.path == entry.path).unwrap();
            Ok(data[..data.len().min(max_bytes as usize)].to_vec())
        }
    }

    fn catalog(entries: &[(Platform, u32, Option<&str>)]) -> BootCatalog {
        BootCatalog {
            catalog_lba: 20,
            validation: crate::eltorito::ValidationEntry {
                platform: Platform::Bios,
                id: String::new(),
                checksum_ok: true,
                key_ok: true,
            },
            entries: entries
                .iter()
                .map(|(platform, rba, path)| BootEntry {
                    platform: *platform,
                    emulation: crate::eltorito::Emulation::None,
                    bootable: true,
                    load_segment: 0,
                    system_type: 0,
                    sector_count: 4,
                    load_rba: *rba,
                    section_id: None,
                    path: path.map(str::to_owned),
                    size_bytes: 2048,
                })
                .collect(),
            anomalies: Vec::new(),
        }
    }

    #[test]
    fn load_order_bios_isolinux_then_efi_grub() {
        let fake = Fake::new(&[
            ("/isolinux/isolinux.bin", "bin"),
            ("/isolinux/isolinux.cfg", "include menu.cfg\ndefault live\n"),
            (
                "/isolinux/menu.cfg",
                "label other\n kernel /live/vmlinuz-old\nlabel live\n kernel /live/vmlinuz\n append initrd=/live/initrd.img,/live/gone.img\n",
            ),
            ("/efiboot.img", "fat"),
            (
                "/boot/grub/grub.cfg",
                "menuentry x {\n linux /live/vmlinuz\n initrd /live/initrd.img /live/efi.img\n}\n",
            ),
            ("/live/vmlinuz", "k"),
            ("/live/vmlinuz-old", "k0"),
            ("/live/initrd.img", "i"),
            ("/live/efi.img", "e"),
        ]);
        let bios = fake.lba("/isolinux/isolinux.bin");
        let cat = catalog(&[
            (Platform::Bios, bios, Some("/isolinux/isolinux.bin")),
            (Platform::Efi, 7, None),
        ]);
        let found = discover_in(&fake, Some(&cat));
        let got: Vec<_> = found
            .files
            .iter()
            .map(|f| {
                (
                    serde_json::to_value(f.role)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    f.path.as_str(),
                )
            })
            .collect();
        let want = [
            ("el-torito-bios", "/isolinux/isolinux.bin"),
            ("config", "/isolinux/isolinux.cfg"),
            ("config", "/isolinux/menu.cfg"),
            ("kernel", "/live/vmlinuz"),
            ("initrd", "/live/initrd.img"),
            ("kernel", "/live/vmlinuz-old"),
            ("el-torito-efi", "(el-torito image at LBA 7)"),
            ("config", "/boot/grub/grub.cfg"),
            ("initrd", "/live/efi.img"),
        ];
        let want: Vec<_> = want.iter().map(|(r, p)| ((*r).to_owned(), *p)).collect();
        assert_eq!(got, want);
        assert_eq!(found.files[3].source.as_deref(), Some("/isolinux/menu.cfg"));
        assert_eq!(found.files[6].extents, [Extent { lba: 7, size: 2048 }]);
        assert_eq!(found.anomalies.len(), 1, "{:?}", found.anomalies);
        assert_eq!(found.anomalies[0].id, "boot.missing-file");
        assert!(found.anomalies[0].message.contains("/live/gone.img"));
    }

    #[test]
    fn no_catalog_still_lists_config_files() {
        let fake = Fake::new(&[
            ("/boot/grub/grub.cfg", "menuentry a {\n linux /vmlinuz\n}\n"),
            ("/VMLINUZ", "k"),
        ]);
        let found = discover_in(&fake, None);
        let paths: Vec<_> = found.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["/boot/grub/grub.cfg", "/VMLINUZ"]);
        assert!(discover_in(&Fake::new(&[]), None).files.is_empty());
    }
}
