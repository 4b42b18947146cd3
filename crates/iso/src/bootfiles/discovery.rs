//! [`discover_in`], the glue behind [`super::discover`]: the catalog's
//! images, the configurations each boot loader reads, every named file
//! looked up with its extents, and which of them the default boot reads.
//!
//! The default boot is the BIOS path when the catalog has a BIOS entry
//! (firmware that can boot either way boots a CD through BIOS unless told
//! otherwise, and a BIOS-only machine has no choice), else the UEFI path.
//! Along it, the boot image, its loader's configuration files and the
//! default entry's files are marked; a BIOS image of a loader isotune does
//! not know (neither isolinux nor GRUB) marks only the image.
//!
//! Works over the [`Media`] trait so the tests run on an in-memory fake.

use std::cell::RefCell;
use std::collections::HashMap;

use super::{grub, syslinux, walk, BootFile, BootFiles, BootRole, NotLoaded, MAX_CONFIG_BYTES};
use crate::eltorito::{BootCatalog, BootEntry, Platform};
use crate::image::IsoImage;
use crate::{Anomaly, Extent, FileEntry, FileKind, ReadAt, Result, Severity};

/// What discovery needs from an image; a fake implements it in tests.
pub(super) trait Media {
    fn lookup(&self, path: &str) -> Result<Option<FileEntry>>;
    fn read(&self, entry: &FileEntry, max_bytes: u64) -> Result<Vec<u8>>;
    /// Size of the image file in bytes.
    fn size(&self) -> u64;
}

impl<R: ReadAt> Media for IsoImage<R> {
    fn lookup(&self, path: &str) -> Result<Option<FileEntry>> {
        IsoImage::lookup(self, path)
    }
    fn read(&self, entry: &FileEntry, max_bytes: u64) -> Result<Vec<u8>> {
        self.read_file(entry, max_bytes)
    }
    fn size(&self) -> u64 {
        self.file_size()
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

/// What a path names, for a boot loader that wants a file.
enum Found {
    File(FileEntry),
    Not(NotLoaded),
}

struct Discovery<'a> {
    media: &'a dyn Media,
    out: BootFiles,
    /// Index in `out.files` of each path, lower case.
    seen: HashMap<String, usize>,
}

impl Discovery<'_> {
    /// Looks a path up, following symbolic links a few hops; errors become anomalies.
    fn find(&mut self, path: &str) -> Found {
        let mut path = path.to_owned();
        for _ in 0..8 {
            match self.media.lookup(&path) {
                Ok(Some(e)) if e.kind == FileKind::Symlink => {
                    let target = e.symlink_target.as_deref();
                    match target.and_then(|t| walk::resolve(&walk::dirname(&e.path), t)) {
                        Some(next) => path = next,
                        None => return Found::Not(NotLoaded::Missing),
                    }
                }
                Ok(Some(e)) if e.kind == FileKind::File => return Found::File(e),
                Ok(Some(e)) if e.kind == FileKind::Directory => {
                    return Found::Not(NotLoaded::Directory)
                }
                Ok(_) => return Found::Not(NotLoaded::Missing),
                Err(err) => {
                    self.out.anomalies.push(Anomaly::new(
                        "boot.unreadable-file",
                        Severity::Warn,
                        format!("looking up {path} failed: {err}"),
                    ));
                    return Found::Not(NotLoaded::Failed);
                }
            }
        }
        Found::Not(NotLoaded::Missing)
    }

    /// Adds a file unless its path is listed already (then only its
    /// `default_boot` can turn on).
    fn push(&mut self, file: BootFile) {
        let key = file.path.to_ascii_lowercase();
        if let Some(&i) = self.seen.get(&key) {
            if let Some(known) = self.out.files.get_mut(i) {
                known.default_boot |= file.default_boot;
            }
            return;
        }
        // Catalog images no file covers have descriptions, not paths; the
        // catalog reader reports those past the end itself.
        if file.path.starts_with('/') {
            self.check_end(&file);
        }
        self.seen.insert(key, self.out.files.len());
        self.out.files.push(file);
    }

    fn check_end(&mut self, f: &BootFile) {
        let size = self.media.size();
        let end = f
            .extents
            .iter()
            .filter(|x| x.size > 0)
            .map(Extent::end)
            .max();
        if let Some(end) = end.filter(|&end| end > size) {
            self.out.anomalies.push(Anomaly::new(
                "boot.file-past-end",
                Severity::Error,
                format!(
                    "{} ends at byte {end}, past the end of the {size}-byte image file ({} bytes missing); a boot that reads it fails",
                    f.path,
                    end - size
                ),
            ));
        }
    }

    fn image(&mut self, entry: &BootEntry, role: BootRole, default_boot: bool) {
        let found = entry.path.as_deref().map(|p| self.find(p));
        let file = match found {
            Some(Found::File(f)) => BootFile {
                path: f.path,
                size: f.size,
                extents: f.extents,
                role,
                source: None,
                default_boot,
            },
            _ => {
                let x = Extent {
                    lba: u64::from(entry.load_rba),
                    size: entry.size_bytes,
                };
                let path = match &entry.partition {
                    Some(p) => format!("({p})"),
                    None => format!("(el-torito image at LBA {})", entry.load_rba),
                };
                BootFile {
                    path,
                    size: x.size,
                    extents: vec![x],
                    role,
                    source: None,
                    default_boot,
                }
            }
        };
        self.push(file);
    }

    fn configs(&mut self, fam: Family, bios_image: Option<&str>, default_boot: bool) {
        let media = self.media;
        let errors = RefCell::new(Vec::new());
        let mut read = |p: &str| -> std::result::Result<String, NotLoaded> {
            let entry = match media.lookup(p) {
                Ok(Some(e)) if e.kind == FileKind::File => e,
                Ok(Some(e)) if e.kind == FileKind::Directory => return Err(NotLoaded::Directory),
                Ok(_) => return Err(NotLoaded::Missing),
                Err(err) => {
                    errors
                        .borrow_mut()
                        .push(format!("looking up {p} failed: {err}"));
                    return Err(NotLoaded::Failed);
                }
            };
            match media.read(&entry, MAX_CONFIG_BYTES) {
                Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
                Err(err) => {
                    errors
                        .borrow_mut()
                        .push(format!("reading {p} failed: {err}"));
                    Err(NotLoaded::Failed)
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
                Found::File(f) => self.push(BootFile {
                    path: f.path,
                    size: f.size,
                    extents: f.extents,
                    role: r.role,
                    source: r.source,
                    default_boot: default_boot && r.default_boot,
                }),
                // Configuration files the walk could not read are reported by it.
                Found::Not(why) if r.role != BootRole::Config => {
                    let from = r.source.as_deref().unwrap_or("a boot configuration");
                    self.out
                        .anomalies
                        .extend(walk::not_loaded(from, &r.path, why));
                }
                Found::Not(_) => {}
            }
        }
    }
}

pub(super) fn discover_in(media: &dyn Media, catalog: Option<&BootCatalog>) -> BootFiles {
    let mut d = Discovery {
        media,
        out: BootFiles::default(),
        seen: HashMap::new(),
    };
    let pick = |p: Platform| {
        catalog.and_then(|c| {
            c.first_for(p)
                .or_else(|| c.entries.iter().find(|e| e.platform == p))
        })
    };
    let bios = pick(Platform::Bios);
    let mut done = Vec::new();
    if let Some(bios) = bios {
        d.image(bios, BootRole::ElToritoBios, true);
        if let Some(fam) = bios.path.as_deref().and_then(family) {
            d.configs(fam, bios.path.as_deref(), true);
            done.push(fam);
        }
    }
    if let Some(efi) = pick(Platform::Efi) {
        let default_boot = bios.is_none();
        d.image(efi, BootRole::ElToritoEfi, default_boot);
        if !done.contains(&Family::Grub) {
            d.configs(Family::Grub, None, default_boot);
            done.push(Family::Grub);
        }
    }
    for fam in [Family::Syslinux, Family::Grub] {
        if !done.contains(&fam) {
            d.configs(fam, None, false);
        }
    }
    d.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::{PartitionRef, Scheme};

    /// An in-memory image: files by path, each at its own LBA (a path
    /// ending in `/` is a directory), in an image file of `size` bytes.
    struct Fake {
        files: Vec<(FileEntry, Vec<u8>)>,
        size: u64,
    }

    impl Fake {
        fn new(files: &[(&str, &str)]) -> Self {
            let files = files
                .iter()
                .enumerate()
                .map(|(i, (path, text))| {
                    let size = text.len() as u64;
                    let (path, kind) = match path.strip_suffix('/') {
                        Some(dir) => (dir, FileKind::Directory),
                        None => (*path, FileKind::File),
                    };
                    let entry = FileEntry {
                        path: path.to_owned(),
                        kind,
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
            Fake {
                files,
                size: u64::MAX,
            }
        }

        fn lba(&self, path: &str) -> u32 {
            let e = self.files.iter().find(|(e, _)| e.path == path).unwrap();
            e.0.extents[0].lba as u32
        }
    }

    impl Media for Fake {
        fn lookup(&self, path: &str) -> Result<Option<FileEntry>> {
            let hit = self
                .files
                .iter()
                .find(|(e, _)| e.path.eq_ignore_ascii_case(path));
            Ok(hit.map(|(e, _)| e.clone()))
        }
        fn read(&self, entry: &FileEntry, max_bytes: u64) -> Result<Vec<u8>> {
            let (_, data) = self
                .files
                .iter()
                .find(|(e, _)| e.path == entry.path)
                .unwrap();
            Ok(data[..data.len().min(max_bytes as usize)].to_vec())
        }
        fn size(&self) -> u64 {
            self.size
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
                    partition: None,
                    size_bytes: 2048,
                })
                .collect(),
            anomalies: Vec::new(),
        }
    }

    /// `role path` per file, with ` *` after the default boot's.
    fn listed(found: &BootFiles) -> Vec<String> {
        found
            .files
            .iter()
            .map(|f| {
                let role = serde_json::to_value(f.role).unwrap();
                let mark = if f.default_boot { " *" } else { "" };
                format!("{} {}{mark}", role.as_str().unwrap(), f.path)
            })
            .collect()
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
        assert_eq!(
            listed(&found),
            [
                "el-torito-bios /isolinux/isolinux.bin *",
                "config /isolinux/isolinux.cfg *",
                "config /isolinux/menu.cfg *",
                "kernel /live/vmlinuz *",
                "initrd /live/initrd.img *",
                "kernel /live/vmlinuz-old",
                "el-torito-efi (el-torito image at LBA 7)",
                "config /boot/grub/grub.cfg",
                "initrd /live/efi.img",
            ]
        );
        assert_eq!(found.files[3].source.as_deref(), Some("/isolinux/menu.cfg"));
        assert_eq!(found.files[6].extents, [Extent { lba: 7, size: 2048 }]);
        assert_eq!(found.anomalies.len(), 1, "{:?}", found.anomalies);
        assert_eq!(found.anomalies[0].id, "boot.missing-file");
        assert!(found.anomalies[0].message.contains("/live/gone.img"));
    }

    /// The default BIOS boot: isolinux's `MENU DEFAULT` entry, not the
    /// memtest or second-kernel entries, not a `CONFIG` menu another label
    /// chains to, not a GRUB configuration no catalog entry starts, not the
    /// EFI image in an appended partition.
    #[test]
    fn default_boot_is_the_bios_menu_default() {
        let fake = Fake::new(&[
            ("/isolinux/isolinux.bin", "bin"),
            ("/isolinux/isolinux.cfg", "ui vesamenu.c32\ninclude menu.cfg\ntimeout 50\n"),
            (
                "/isolinux/menu.cfg",
                "label memtest\n kernel /boot/memtest86+.bin\n\
                 label live\n menu default\n kernel /live/vmlinuz\n append initrd=/live/initrd.img boot=live\n\
                 label second\n kernel /live/vmlinuz2\n initrd /live/initrd2.img\n\
                 label more\n config /isolinux/more.cfg\n",
            ),
            ("/isolinux/more.cfg", "label x\n kernel /x/vmlinuz\n"),
            (
                "/boot/grub/grub.cfg",
                "menuentry a {\n linux /live/vmlinuz\n initrd /live/initrd.img /live/grub.img\n}\n",
            ),
            ("/boot/memtest86+.bin", "m"),
            ("/live/vmlinuz", "k"),
            ("/live/initrd.img", "i"),
            ("/live/vmlinuz2", "k2"),
            ("/live/initrd2.img", "i2"),
            ("/x/vmlinuz", "x"),
            ("/live/grub.img", "g"),
        ]);
        let bios = fake.lba("/isolinux/isolinux.bin");
        let mut cat = catalog(&[
            (Platform::Bios, bios, Some("/isolinux/isolinux.bin")),
            (Platform::Efi, 4908 / 4, None),
        ]);
        cat.entries[1].partition = Some(PartitionRef {
            scheme: Scheme::Gpt,
            index: 2,
            name: Some("Appended2".to_owned()),
        });
        let found = discover_in(&fake, Some(&cat));
        assert_eq!(
            listed(&found),
            [
                "el-torito-bios /isolinux/isolinux.bin *",
                "config /isolinux/isolinux.cfg *",
                "config /isolinux/menu.cfg *",
                "config /isolinux/more.cfg",
                "kernel /live/vmlinuz *",
                "initrd /live/initrd.img *",
                "kernel /boot/memtest86+.bin",
                "kernel /live/vmlinuz2",
                "initrd /live/initrd2.img",
                "kernel /x/vmlinuz",
                "el-torito-efi (GPT partition 2 \"Appended2\")",
                "config /boot/grub/grub.cfg",
                "initrd /live/grub.img",
            ]
        );
        let default: Vec<_> = super::super::default_boot_files(&found.files)
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(
            default,
            [
                "/isolinux/isolinux.bin",
                "/isolinux/isolinux.cfg",
                "/isolinux/menu.cfg",
                "/live/vmlinuz",
                "/live/initrd.img",
            ]
        );
        assert!(found.anomalies.is_empty(), "{:?}", found.anomalies);
    }

    /// With no BIOS entry the UEFI path is the default boot: the EFI image,
    /// GRUB's configuration and its default entry; isolinux's files are not.
    #[test]
    fn default_boot_is_the_uefi_path_without_a_bios_entry() {
        let fake = Fake::new(&[
            ("/boot/grub/efi.img", "fat"),
            (
                "/boot/grub/grub.cfg",
                "set default=1\nmenuentry a {\n linux /a/vmlinuz\n}\nmenuentry b {\n linux /b/vmlinuz\n initrd /b/initrd\n}\n",
            ),
            ("/isolinux/isolinux.cfg", "label l\n kernel /a/vmlinuz\n"),
            ("/a/vmlinuz", "a"),
            ("/b/vmlinuz", "b"),
            ("/b/initrd", "bi"),
        ]);
        let efi = fake.lba("/boot/grub/efi.img");
        let cat = catalog(&[(Platform::Efi, efi, Some("/boot/grub/efi.img"))]);
        let found = discover_in(&fake, Some(&cat));
        assert_eq!(
            listed(&found),
            [
                "el-torito-efi /boot/grub/efi.img *",
                "config /boot/grub/grub.cfg *",
                "kernel /b/vmlinuz *",
                "initrd /b/initrd *",
                "kernel /a/vmlinuz",
                "config /isolinux/isolinux.cfg",
            ]
        );
        // No catalog: nothing boots by default.
        let found = discover_in(&fake, None);
        assert!(found.files.iter().all(|f| !f.default_boot));
    }

    #[test]
    fn directories_and_files_past_the_end_are_reported() {
        let mut fake = Fake::new(&[
            (
                "/boot/grub/grub.cfg",
                "menuentry a {\n linux /live\n initrd /live/initrd.img /nothing\n}\n",
            ),
            ("/live/", ""),
            ("/live/initrd.img", "0123456789"),
        ]);
        // The initrd (LBA 120, 10 bytes) ends 4 bytes past the end.
        fake.size = 120 * 2048 + 6;
        let found = discover_in(&fake, None);
        let messages: Vec<_> = found
            .anomalies
            .iter()
            .map(|a| format!("{} {}", a.id, a.message))
            .collect();
        assert_eq!(
            messages,
            [
                "boot.missing-file /boot/grub/grub.cfg names /live, which is a directory in the image, not a file",
                "boot.file-past-end /live/initrd.img ends at byte 245770, past the end of the 245766-byte image file (4 bytes missing); a boot that reads it fails",
                "boot.missing-file /boot/grub/grub.cfg names /nothing, which is not in the image",
            ]
        );
        assert_eq!(found.anomalies[1].severity, Severity::Error);
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
