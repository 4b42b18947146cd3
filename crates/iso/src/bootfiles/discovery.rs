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

use super::{
    grub, modules, syslinux, walk, BootFile, BootFiles, BootRole, NotLoaded, MAX_CONFIG_BYTES,
};
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
    /// `boot.missing-file` anomalies past [`MAX_MISSING_REPORTED`], by
    /// severity (summarised at the end).
    missing_more: HashMap<Severity, usize>,
    missing_reported: usize,
}

/// Most `boot.missing-file` anomalies reported one by one; the rest are
/// counted in one summary per severity (a configuration naming thousands of
/// missing files gets a few lines, not thousands).
pub(super) const MAX_MISSING_REPORTED: usize = 32;

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

    /// Walks the configurations of loader family `fam` and adds what they
    /// name. `platform` is GRUB's module directory name for the firmware
    /// path taken (`i386-pc`, `x86_64-efi`), `None` when no catalog entry
    /// starts this loader (its own files are then not listed).
    fn configs(
        &mut self,
        fam: Family,
        bios_image: Option<&str>,
        platform: Option<&str>,
        default_boot: bool,
    ) {
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
        let bios_dir = bios_image.map(walk::dirname);
        let mut own: Vec<(String, BootRole)> = Vec::new();
        let walk = match fam {
            Family::Syslinux => {
                let dirs = bios_dir.iter().map(|d| d.trim_end_matches('/').to_owned());
                let roots: Vec<String> = dirs
                    .clone()
                    .flat_map(|d| [format!("{d}/isolinux.cfg"), format!("{d}/syslinux.cfg")])
                    .chain(SYSLINUX_ROOTS.iter().map(|s| (*s).to_owned()))
                    .collect();
                let Some(root) = roots.iter().find(|r| exists(r)) else {
                    return;
                };
                // Since syslinux 5.00 isolinux.bin loads ldlinux.c32 from
                // its own directory before any configuration.
                if platform.is_some() {
                    own.extend(dirs.map(|d| (format!("{d}/ldlinux.c32"), BootRole::Module)));
                }
                syslinux::walk_syslinux(root, &mut read)
            }
            Family::Grub => {
                let roots: Vec<&str> = GRUB_ROOTS.iter().copied().filter(|r| exists(r)).collect();
                let Some(first) = roots.first() else { return };
                let prefix = walk::dirname(first);
                let walk = grub::walk_grub(&roots, &mut read);
                if let Some(platform) = platform {
                    let dir = format!("{}/{platform}", prefix.trim_end_matches('/'));
                    own = modules::grub_files(&dir, &walk.needs, &mut |p| read(p).ok());
                }
                walk
            }
        };
        for e in errors.into_inner() {
            self.out
                .anomalies
                .push(Anomaly::new("boot.unreadable-file", Severity::Warn, e));
        }
        for mut a in walk.anomalies {
            if !default_boot && a.severity == Severity::Warn && a.id == "boot.missing-file" {
                a.severity = Severity::Info;
            }
            self.anomaly(a);
        }
        // The loader's own files: what is missing is built in.
        for (path, role) in own {
            if let Found::File(f) = self.find(&path) {
                self.push(file(f, role, None, default_boot));
            }
        }
        for r in walk.refs {
            let default = default_boot && r.default_boot;
            let found = match self.find(&r.path) {
                Found::Not(NotLoaded::Missing) if r.role == BootRole::Module => {
                    self.find_module(&r.path, bios_dir.as_deref())
                }
                found => found,
            };
            match found {
                Found::File(f) => {
                    let libs = match r.role {
                        BootRole::Module => modules::syslinux_libraries(&f.path),
                        _ => &[],
                    };
                    let dir = walk::dirname(&f.path);
                    let source = r.source.clone();
                    self.push(file(f, r.role, r.source, default));
                    for lib in libs {
                        let path = format!("{}/{lib}", dir.trim_end_matches('/'));
                        if let Found::File(f) = self.find(&path) {
                            self.push(file(f, BootRole::Module, source.clone(), default));
                        }
                    }
                }
                // Configuration files the walk could not read are reported by it.
                Found::Not(why) if r.role != BootRole::Config => {
                    let from = r.source.as_deref().unwrap_or("a boot configuration");
                    // Only what the default boot needs to start is a warning.
                    let needed = matches!(
                        r.role,
                        BootRole::Kernel | BootRole::Initrd | BootRole::Module
                    );
                    if let Some(mut a) = walk::not_loaded(from, &r.path, why) {
                        if !(default && needed) {
                            a.severity = Severity::Info;
                        }
                        self.anomaly(a);
                    }
                }
                Found::Not(_) => {}
            }
        }
    }

    /// Adds an anomaly, counting `boot.missing-file` past the cap.
    fn anomaly(&mut self, a: Anomaly) {
        if a.id == "boot.missing-file" {
            if self.missing_reported >= MAX_MISSING_REPORTED {
                *self.missing_more.entry(a.severity).or_default() += 1;
                return;
            }
            self.missing_reported += 1;
        }
        self.out.anomalies.push(a);
    }

    /// The summaries of the missing files not reported one by one.
    fn finish(mut self) -> BootFiles {
        let mut more: Vec<(Severity, usize)> = self.missing_more.into_iter().collect();
        more.sort();
        for (severity, n) in more.into_iter().rev() {
            self.out.anomalies.push(Anomaly::new(
                "boot.missing-file",
                severity,
                format!(
                    "{n} more file{} named by the boot configurations {} not in the image (not listed one by one)",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "is" } else { "are" }
                ),
            ));
        }
        self.out
    }

    /// A syslinux module the configuration names relative to its working
    /// directory, looked for where the loader also searches: its own
    /// directory and the usual syslinux directories.
    fn find_module(&mut self, path: &str, bios_dir: Option<&str>) -> Found {
        let name = path.rsplit('/').next().unwrap_or(path);
        let dirs = bios_dir.into_iter().chain([
            "/isolinux",
            "/boot/isolinux",
            "/syslinux",
            "/boot/syslinux",
        ]);
        for d in dirs {
            let candidate = format!("{}/{name}", d.trim_end_matches('/'));
            if candidate != path {
                if let found @ Found::File(_) = self.find(&candidate) {
                    return found;
                }
            }
        }
        Found::Not(NotLoaded::Missing)
    }
}

fn file(f: FileEntry, role: BootRole, source: Option<String>, default_boot: bool) -> BootFile {
    BootFile {
        path: f.path,
        size: f.size,
        extents: f.extents,
        role,
        source,
        default_boot,
    }
}

pub(super) fn discover_in(media: &dyn Media, catalog: Option<&BootCatalog>) -> BootFiles {
    let mut d = Discovery {
        media,
        out: BootFiles::default(),
        seen: HashMap::new(),
        missing_more: HashMap::new(),
        missing_reported: 0,
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
            d.configs(fam, bios.path.as_deref(), Some("i386-pc"), true);
            done.push(fam);
        }
    }
    if let Some(efi) = pick(Platform::Efi) {
        let default_boot = bios.is_none();
        d.image(efi, BootRole::ElToritoEfi, default_boot);
        if !done.contains(&Family::Grub) {
            d.configs(Family::Grub, None, Some("x86_64-efi"), default_boot);
            done.push(Family::Grub);
        }
    }
    for fam in [Family::Syslinux, Family::Grub] {
        if !done.contains(&fam) {
            d.configs(fam, None, None, false);
        }
    }
    d.finish()
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
            ("/isolinux/ldlinux.c32", "ld"),
            ("/isolinux/vesamenu.c32", "vm"),
            ("/isolinux/libcom32.c32", "lc"),
            ("/isolinux/libutil.c32", "lu"),
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
                "module /isolinux/ldlinux.c32 *",
                "config /isolinux/isolinux.cfg *",
                "module /isolinux/vesamenu.c32 *",
                "module /isolinux/libcom32.c32 *",
                "module /isolinux/libutil.c32 *",
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
                "/isolinux/ldlinux.c32",
                "/isolinux/isolinux.cfg",
                "/isolinux/vesamenu.c32",
                "/isolinux/libcom32.c32",
                "/isolinux/libutil.c32",
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

    /// Issue "boot.missing-file fired nine times on a healthy ISO": entries
    /// that boot another disk (`set root=`, `search --set=root --file`, a
    /// device prefix, a configfile there), multiboot module arguments and
    /// kernel arguments are not the image's files; files of non-default
    /// entries that are missing are notes, not warnings.
    #[test]
    fn regression_no_false_missing_files_for_other_disks_and_arguments() {
        let grub_cfg = "\
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set default=0
menuentry 'Live' {
  linux /live/vmlinuz root=/dev/sr0 init=/bin/sh boot=live exec
  initrd /live/initrd.img
}
menuentry 'First hard disk' {
  set root=(hd0,msdos1)
  linux /vmlinuz-on-disk root=/dev/sda1
  configfile /boot/grub/grub.cfg-on-disk
  chainloader +1
}
menuentry 'Disk found by search' {
  search --no-floppy --set=root --file /something-not-on-the-iso
  linux /boot/vmlinuz-on-disk
  initrd /boot/initrd-on-disk
}
menuentry 'Explicit device' {
  linux (hd1,gpt2)/vmlinuz init=/bin/sh
  configfile (hd0,msdos1)/boot/grub/grub.cfg
}
menuentry 'Hurd' {
  insmod ext2
  multiboot /boot/gnumach.gz root=part:1:device:wd0 console=com0
  module /hurd/ext2fs.static ext2fs --multiboot-command-line='${kernel-command-line}'
  module /lib/ld.so.1 exec /hurd/exec '$(exec-task=task-create)'
}
menuentry 'Back on the cdrom' {
  search --set=root --file /live/vmlinuz
  linux /live/vmlinuz2 quiet
}
";
        let fake = Fake::new(&[
            ("/boot/grub/i386-pc/eltorito.img", "core"),
            ("/boot/grub/grub.cfg", grub_cfg),
            (
                "/boot/grub/i386-pc/command.lst",
                "linux: linux\ninitrd: linux\n*serial: serial\nterminal_input: terminal\n*multiboot: multiboot\n",
            ),
            ("/boot/grub/i386-pc/terminal.lst", "iserial: serial\noserial: serial\n"),
            (
                "/boot/grub/i386-pc/moddep.lst",
                "normal: boot\nlinux: boot relocator\nserial: terminfo\next2: fshelp\n",
            ),
            ("/boot/grub/i386-pc/normal.mod", "n"),
            ("/boot/grub/i386-pc/boot.mod", "b"),
            ("/boot/grub/i386-pc/relocator.mod", "r"),
            ("/boot/grub/i386-pc/linux.mod", "l"),
            ("/boot/grub/i386-pc/terminfo.mod", "t"),
            ("/boot/grub/i386-pc/serial.mod", "s"),
            ("/boot/grub/i386-pc/ext2.mod", "e"),
            ("/live/vmlinuz", "k"),
            ("/live/initrd.img", "i"),
        ]);
        let bios = fake.lba("/boot/grub/i386-pc/eltorito.img");
        let cat = catalog(&[(
            Platform::Bios,
            bios,
            Some("/boot/grub/i386-pc/eltorito.img"),
        )]);
        let found = discover_in(&fake, Some(&cat));
        let warnings: Vec<_> = found
            .anomalies
            .iter()
            .filter(|a| a.severity > Severity::Info)
            .collect();
        assert!(warnings.is_empty(), "{warnings:#?}");
        let notes: Vec<_> = found.anomalies.iter().map(|a| a.message.as_str()).collect();
        assert_eq!(
            notes,
            [
                "/boot/grub/grub.cfg names /boot/gnumach.gz, which is not in the image",
                "/boot/grub/grub.cfg names /hurd/ext2fs.static, which is not in the image",
                "/boot/grub/grub.cfg names /lib/ld.so.1, which is not in the image",
                "/boot/grub/grub.cfg names /live/vmlinuz2, which is not in the image",
            ]
        );
        // The default boot: GRUB's lists, normal and the modules of the
        // commands and terminals it uses, after their dependencies; the
        // Hurd entry's `insmod ext2` is not on the default path.
        assert_eq!(
            listed(&found),
            [
                "el-torito-bios /boot/grub/i386-pc/eltorito.img *",
                "loader-data /boot/grub/i386-pc/command.lst *",
                "loader-data /boot/grub/i386-pc/terminal.lst *",
                "loader-data /boot/grub/i386-pc/moddep.lst *",
                "module /boot/grub/i386-pc/boot.mod *",
                "module /boot/grub/i386-pc/normal.mod *",
                "module /boot/grub/i386-pc/terminfo.mod *",
                "module /boot/grub/i386-pc/serial.mod *",
                "module /boot/grub/i386-pc/relocator.mod *",
                "module /boot/grub/i386-pc/linux.mod *",
                "config /boot/grub/grub.cfg *",
                "kernel /live/vmlinuz *",
                "initrd /live/initrd.img *",
            ]
        );
    }

    /// isolinux: `APPEND` arguments are not files, a `COM32` chain to a
    /// disk is not a kernel, and a missing kernel of a non-default label is
    /// a note.
    #[test]
    fn regression_isolinux_arguments_and_other_labels() {
        let fake = Fake::new(&[
            ("/isolinux/isolinux.bin", "bin"),
            ("/isolinux/ldlinux.c32", "ld"),
            (
                "/isolinux/isolinux.cfg",
                "default live\nlabel live\n kernel /live/vmlinuz\n append root=/dev/sr0 init=/bin/sh initrd=/live/initrd.img ext2fs exec\n\
                 label hd\n com32 chain.c32\n append hd0 1\n\
                 label old\n kernel /old/vmlinuz\n",
            ),
            ("/live/vmlinuz", "k"),
            ("/live/initrd.img", "i"),
        ]);
        let bios = fake.lba("/isolinux/isolinux.bin");
        let cat = catalog(&[(Platform::Bios, bios, Some("/isolinux/isolinux.bin"))]);
        let found = discover_in(&fake, Some(&cat));
        let got: Vec<_> = found
            .anomalies
            .iter()
            .map(|a| (a.severity, a.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [(
                Severity::Info,
                "/isolinux/isolinux.cfg names /old/vmlinuz, which is not in the image"
            )]
        );
        assert_eq!(
            listed(&found),
            [
                "el-torito-bios /isolinux/isolinux.bin *",
                "module /isolinux/ldlinux.c32 *",
                "config /isolinux/isolinux.cfg *",
                "kernel /live/vmlinuz *",
                "initrd /live/initrd.img *",
            ]
        );
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
