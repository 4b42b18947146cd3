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
mod tests;
