//! A small ISO9660 writer, so `isotune check` can build a sample image and
//! `isotune boot` a bootable test image without any external tool.
//!
//! ```text
//!   IsoWriter (paths -> sources, Joliet, El Torito, timestamp)
//!      │
//!      ├─> plan:  names.rs (ISO9660 / Joliet names) -> dirs.rs (trees, sorted
//!      │          records, path tables) -> plan.rs (every LBA)   [`IsoWriter::plan`]
//!      └─> emit:  system area, volume descriptors (volume.rs), path tables,
//!                 directories, boot catalog (eltorito.rs), file data streamed
//!                 from each FileSource (source.rs)                [`IsoWriter::write_to`]
//! ```
//!
//! The image is laid out in this order, every structure sector aligned:
//! 16 zero sectors, the primary volume descriptor, the El Torito boot record
//! (when booting), the Joliet supplementary descriptor (when asked), the
//! terminator, the L and M path tables of each tree, the directory extents
//! of each tree, the boot catalog, then file data in the order files were
//! added. Only directory metadata is held in memory; file contents are
//! streamed, so a 1 GiB generated payload costs a 64 KiB buffer.
//!
//! Limitations: no Rock Ridge, no multi-extent files (a file is at most
//! [`MAX_FILE_SIZE`] bytes), no hybrid MBR/GPT, names are mapped to
//! ISO9660 level 2 (30 d-characters, `;1` on files) and Joliet names are cut
//! at 64 UCS-2 characters. Names that collide after mapping are rejected.

mod dirs;
mod eltorito;
mod emit;
mod names;
mod plan;
mod source;
mod volume;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::types::Extent;

pub use source::{FileSource, Pattern};
pub use volume::Timestamp;

/// The largest file the writer accepts: one ISO9660 extent, 4 GiB minus
/// one sector (multi-extent files are not written).
pub const MAX_FILE_SIZE: u64 = 0xFFFF_F800;

/// ISO9660 allows eight directory levels, the root being level 1.
pub const MAX_DIR_LEVELS: usize = 8;

/// At most this many boot images fit the one-sector boot catalog as written
/// (a validation entry, a default entry, then a header and an entry each).
pub const MAX_BOOT_IMAGES: usize = 32;

/// The firmware an El Torito entry is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    /// PC BIOS (platform id 0x00).
    Bios,
    /// UEFI (platform id 0xEF).
    Efi,
}

impl Platform {
    /// The El Torito platform id byte.
    pub fn id(self) -> u8 {
        match self {
            Platform::Bios => 0x00,
            Platform::Efi => 0xEF,
        }
    }
}

/// An El Torito no-emulation boot entry pointing at a file of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootImage {
    /// Path of the boot file in the image; it must be added with
    /// [`IsoWriter::add_file`].
    pub path: String,
    /// Firmware the entry is for.
    pub platform: Platform,
    /// Real-mode segment the BIOS loads the image to; 0 means the
    /// traditional 0x07C0.
    pub load_segment: u16,
    /// How many 512-byte virtual sectors the firmware loads; 0 means the
    /// whole file (rounded up, at most 65535).
    pub load_sectors: u16,
    /// Patch bytes 8..64 of the file with a boot info table (PVD LBA, file
    /// LBA, file length, checksum) as `mkisofs -boot-info-table` does.
    pub boot_info_table: bool,
}

impl BootImage {
    /// A BIOS entry loading 4 virtual sectors (2 KiB) to 0x07C0, as
    /// `mkisofs -no-emul-boot` does by default.
    pub fn bios(path: impl Into<String>) -> Self {
        BootImage {
            path: path.into(),
            platform: Platform::Bios,
            load_segment: 0,
            load_sectors: 4,
            boot_info_table: false,
        }
    }

    /// A UEFI entry whose load size covers the whole file (an EFI System
    /// Partition image).
    pub fn efi(path: impl Into<String>) -> Self {
        BootImage {
            path: path.into(),
            platform: Platform::Efi,
            load_segment: 0,
            load_sectors: 0,
            boot_info_table: false,
        }
    }
}

/// Where one file of a written image lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenFile {
    /// The path as added, normalised to `/a/b`.
    pub path: String,
    /// The ISO9660 path, e.g. `/A/README.TXT;1` (what `isoinfo -x` wants).
    pub iso_path: String,
    /// The Joliet path, when the image has a Joliet tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joliet_path: Option<String>,
    /// The file's data on the image.
    pub extent: Extent,
}

/// One El Torito entry as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenBootEntry {
    /// The boot file, normalised to `/a/b`.
    pub path: String,
    /// Firmware the entry is for.
    pub platform: Platform,
    /// Load segment as written (0 = 0x07C0).
    pub load_segment: u16,
    /// Load size in 512-byte virtual sectors as written.
    pub load_sectors: u16,
    /// First sector of the boot file (the catalog's load RBA).
    pub lba: u64,
}

/// What [`IsoWriter::write_to`] wrote (or [`IsoWriter::plan`] would write).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSummary {
    /// Every file, in data order (the order they were added).
    pub files: Vec<WrittenFile>,
    /// Volume size in 2048-byte sectors; the image is this many sectors long.
    pub volume_sectors: u64,
    /// Sector of the El Torito boot catalog, when the image boots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_catalog_lba: Option<u64>,
    /// El Torito entries, the default entry first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boot_entries: Vec<WrittenBootEntry>,
}

impl WriteSummary {
    /// The image size in bytes.
    pub fn image_bytes(&self) -> u64 {
        self.volume_sectors * crate::types::SECTOR_SIZE
    }

    /// The entry for the file added as `path` (`/a/b` or `a/b`).
    pub fn file(&self, path: &str) -> Option<&WrittenFile> {
        let want = path.strip_prefix('/').unwrap_or(path);
        self.files
            .iter()
            .find(|f| f.path.strip_prefix('/') == Some(want))
    }
}

/// A directory of the input tree, keyed by the caller's names.
#[derive(Debug, Clone, Default)]
struct InDir {
    children: BTreeMap<String, InNode>,
}

#[derive(Debug, Clone)]
enum InNode {
    Dir(InDir),
    /// Index into [`IsoWriter::files`].
    File(usize),
}

#[derive(Debug, Clone)]
struct InFile {
    /// Normalised path, `/a/b`.
    path: String,
    source: FileSource,
}

/// Builds an ISO9660 image (optionally with Joliet and El Torito) from
/// paths and [`FileSource`]s, then streams it to any [`Write`].
///
/// ```
/// use isotune_iso::writer::{FileSource, IsoWriter};
/// let mut w = IsoWriter::new("SAMPLE");
/// w.joliet(true);
/// w.add_file("/docs/readme.txt", FileSource::bytes(b"hello\n".to_vec()))?;
/// w.add_file("/payload.bin", FileSource::zeros(1 << 20))?;
/// let mut image = Vec::new();
/// let summary = w.write_to(&mut image)?;
/// assert_eq!(image.len() as u64, summary.image_bytes());
/// # Ok::<(), isotune_iso::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct IsoWriter {
    volume_id: String,
    joliet: bool,
    timestamp: Timestamp,
    boot: Vec<BootImage>,
    root: InDir,
    files: Vec<InFile>,
}

impl IsoWriter {
    /// A writer for an empty image called `volume_id` (mapped to at most 32
    /// d-characters in the PVD, 16 UCS-2 characters in Joliet).
    pub fn new(volume_id: impl Into<String>) -> Self {
        IsoWriter {
            volume_id: volume_id.into(),
            joliet: false,
            timestamp: Timestamp::DEFAULT,
            boot: Vec::new(),
            root: InDir::default(),
            files: Vec::new(),
        }
    }

    /// Adds an (empty) directory, and its parents. Adding a directory that
    /// already exists does nothing.
    pub fn add_dir(&mut self, path: &str) -> Result<&mut Self> {
        let comps = split_path(path)?;
        check_depth(comps.len() + 1, path)?;
        self.dir_mut(&comps, path)?;
        Ok(self)
    }

    /// Adds a file, creating its parent directories. Its data goes after
    /// the data of the files added before it.
    pub fn add_file(&mut self, path: &str, source: FileSource) -> Result<&mut Self> {
        let comps = split_path(path)?;
        let (name, parents) = comps
            .split_last()
            .expect("split_path never returns nothing");
        check_depth(parents.len() + 1, path)?;
        let canonical = format!("/{}", comps.join("/"));
        if let Some(size) = source.known_size() {
            check_file_size(size, &canonical)?;
        }
        let index = self.files.len();
        let dir = self.dir_mut(parents, path)?;
        match dir.children.get(*name) {
            Some(InNode::File(_)) => {
                return Err(invalid(format!("file `{canonical}` was added twice")));
            }
            Some(InNode::Dir(_)) => {
                return Err(invalid(format!(
                    "`{canonical}` is already a directory, so it cannot also be a file"
                )));
            }
            None => {
                dir.children.insert((*name).to_owned(), InNode::File(index));
            }
        }
        self.files.push(InFile {
            path: canonical,
            source,
        });
        Ok(self)
    }

    /// Adds a Joliet supplementary descriptor and tree (UCS-2 names up to
    /// 64 characters, original case). Off by default.
    pub fn joliet(&mut self, enabled: bool) -> &mut Self {
        self.joliet = enabled;
        self
    }

    /// Adds an El Torito no-emulation entry. The first call makes the
    /// default entry (its platform also goes in the validation entry); each
    /// later call adds a section of its own (header 0x90, the last 0x91).
    pub fn el_torito(&mut self, image: BootImage) -> &mut Self {
        self.boot.push(image);
        self
    }

    /// Sets the date written in the descriptors and every directory record.
    /// Defaults to [`Timestamp::DEFAULT`] so output is reproducible.
    pub fn timestamp(&mut self, timestamp: Timestamp) -> &mut Self {
        self.timestamp = timestamp;
        self
    }

    /// Lays the image out without writing it: every extent, the volume size
    /// and the boot catalog sector. Host files are only `stat`ed. Changing
    /// file contents without changing sizes keeps this layout, so a boot
    /// program can be built knowing where its payload will be.
    pub fn plan(&self) -> Result<WriteSummary> {
        Ok(plan::plan(self)?.summary())
    }

    /// Writes the image to `out`, streaming file data; returns the layout.
    /// `out` receives exactly `volume_sectors * 2048` bytes.
    pub fn write_to<W: Write + ?Sized>(&self, out: &mut W) -> Result<WriteSummary> {
        let plan = plan::plan(self)?;
        emit::emit(self, &plan, out)?;
        Ok(plan.summary())
    }

    /// Writes the image to a new file at `path` (replacing it); a partial
    /// file is removed when writing fails.
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<WriteSummary> {
        let path = path.as_ref();
        let what = format!("creating `{}`", path.display());
        let file = std::fs::File::create(path).map_err(|e| Error::io(what, 0, e))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let result = self.write_to(&mut out).and_then(|summary| {
            out.flush()
                .map_err(|e| Error::io(format!("writing `{}`", path.display()), 0, e))?;
            Ok(summary)
        });
        if result.is_err() {
            drop(out);
            // Best effort: the error being returned is the one that matters.
            let _ = std::fs::remove_file(path);
        }
        result
    }

    fn dir_mut(&mut self, comps: &[&str], path: &str) -> Result<&mut InDir> {
        let mut dir = &mut self.root;
        for (i, comp) in comps.iter().enumerate() {
            let node = dir
                .children
                .entry((*comp).to_owned())
                .or_insert_with(|| InNode::Dir(InDir::default()));
            dir = match node {
                InNode::Dir(d) => d,
                InNode::File(_) => {
                    return Err(invalid(format!(
                        "`/{}` is a file, so `{path}` cannot be created under it",
                        comps[..=i].join("/")
                    )));
                }
            };
        }
        Ok(dir)
    }

    /// Finds the file added at `path`.
    fn find_file(&self, path: &str) -> Result<usize> {
        let comps = split_path(path)?;
        let mut dir = &self.root;
        let (name, parents) = comps
            .split_last()
            .expect("split_path never returns nothing");
        for comp in parents {
            match dir.children.get(*comp) {
                Some(InNode::Dir(d)) => dir = d,
                _ => {
                    return Err(invalid(format!(
                        "boot image `{path}` is not a file added to the image"
                    )))
                }
            }
        }
        match dir.children.get(*name) {
            Some(InNode::File(index)) => Ok(*index),
            Some(InNode::Dir(_)) => Err(invalid(format!(
                "boot image `{path}` is a directory, not a file"
            ))),
            None => Err(invalid(format!(
                "boot image `{path}` is not a file added to the image"
            ))),
        }
    }
}

/// An [`ErrorKind::InvalidInput`] error.
fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidInput, message)
}

/// Splits an image path (`/a/b` or `a/b`) into names, rejecting what cannot
/// be written.
fn split_path(path: &str) -> Result<Vec<&str>> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    if rest.is_empty() {
        return Err(invalid(format!("path `{path}` names no file or directory")));
    }
    let comps: Vec<&str> = rest.split('/').collect();
    for comp in &comps {
        if comp.is_empty() {
            return Err(invalid(format!(
                "path `{path}` has an empty name (a doubled or trailing `/`)"
            )));
        }
        if *comp == ".." || *comp == "." {
            return Err(invalid(format!(
                "path `{path}` contains `{comp}`; image paths must name each directory"
            )));
        }
        if comp.chars().any(char::is_control) {
            return Err(invalid(format!(
                "path `{}` contains a control character",
                path.escape_debug()
            )));
        }
        if comp.len() > 255 {
            return Err(invalid(format!(
                "name `{comp}` in `{path}` is longer than 255 bytes"
            )));
        }
    }
    Ok(comps)
}

/// Rejects a directory at `level` (root = 1) beyond what ISO9660 allows.
fn check_depth(level: usize, path: &str) -> Result<()> {
    if level > MAX_DIR_LEVELS {
        return Err(invalid(format!(
            "`{path}` needs {level} directory levels; ISO9660 allows at most \
             {MAX_DIR_LEVELS} including the root"
        )));
    }
    Ok(())
}

fn check_file_size(size: u64, path: &str) -> Result<()> {
    if size > MAX_FILE_SIZE {
        return Err(invalid(format!(
            "file `{path}` is {size} bytes; the writer puts each file in one extent of \
             at most {MAX_FILE_SIZE} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(r: Result<&mut IsoWriter>) -> ErrorKind {
        r.expect_err("expected an error").kind()
    }

    #[test]
    fn bad_paths_are_invalid_input() {
        let mut w = IsoWriter::new("T");
        for p in ["", "/", "a//b", "a/", "/a/../b", "./a", "a\0b"] {
            let e = w.add_file(p, FileSource::zeros(1)).err().unwrap();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{p:?}");
        }
        let e = w.add_dir("/x/../y").err().unwrap();
        assert!(e.message().contains("`..`"), "{e}");
    }

    #[test]
    fn file_added_twice_or_over_a_directory() {
        let mut w = IsoWriter::new("T");
        w.add_file("/a/b.txt", FileSource::zeros(1)).unwrap();
        let e = w.add_file("a/b.txt", FileSource::zeros(2)).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(e.message(), "file `/a/b.txt` was added twice");
        assert_eq!(
            kind(w.add_file("/a", FileSource::zeros(1))),
            ErrorKind::InvalidInput
        );
        assert_eq!(kind(w.add_dir("/a/b.txt")), ErrorKind::InvalidInput);
        assert_eq!(kind(w.add_dir("/a/b.txt/c")), ErrorKind::InvalidInput);
        w.add_dir("/a").unwrap();
    }

    #[test]
    fn depth_limit_counts_the_root() {
        let mut w = IsoWriter::new("T");
        w.add_dir("/1/2/3/4/5/6/7").unwrap();
        w.add_file("/1/2/3/4/5/6/7/f", FileSource::zeros(1))
            .unwrap();
        assert_eq!(kind(w.add_dir("/1/2/3/4/5/6/7/8")), ErrorKind::InvalidInput);
        assert_eq!(
            kind(w.add_file("/1/2/3/4/5/6/7/8/f", FileSource::zeros(1))),
            ErrorKind::InvalidInput
        );
    }

    #[test]
    fn oversized_generated_file_is_rejected() {
        let mut w = IsoWriter::new("T");
        let r = w.add_file("/big", FileSource::zeros(MAX_FILE_SIZE + 1));
        assert_eq!(kind(r), ErrorKind::InvalidInput);
    }

    #[test]
    fn boot_image_must_be_a_file() {
        let mut w = IsoWriter::new("T");
        w.add_dir("/boot").unwrap();
        w.el_torito(BootImage::bios("/boot"));
        let e = w.plan().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.message().contains("is a directory"), "{e}");

        let mut w = IsoWriter::new("T");
        w.el_torito(BootImage::bios("/missing.bin"));
        assert_eq!(w.plan().unwrap_err().kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn summary_finds_files_with_or_without_slash() {
        let mut w = IsoWriter::new("T");
        w.add_file("x/y", FileSource::bytes(vec![1; 3000])).unwrap();
        let s = w.plan().unwrap();
        let f = s.file("/x/y").unwrap();
        assert_eq!(f.iso_path, "/X/Y.;1");
        assert_eq!(f.extent.size, 3000);
        assert_eq!(s.file("x/y"), Some(f));
        assert_eq!(s.volume_sectors, f.extent.lba + 2);
    }
}
