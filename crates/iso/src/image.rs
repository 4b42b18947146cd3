//! [`IsoImage`]: an opened ISO9660 image and everything the reader offers.
//!
//! Opening reads the volume descriptor set and the first sector of the root
//! directory (to find Rock Ridge); nothing else is read until asked. Trees are
//! walked on demand through [`IsoImage::files`], [`IsoImage::walk`] and
//! [`IsoImage::lookup`], file data through [`IsoImage::read_file`]. An image
//! whose descriptors are readable opens even when it is cut short or full of
//! impossible values: [`IsoImage::size_anomalies`] says what is wrong with it.

use std::fs::File;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::budget::{ImageShared, SuspBudget};
use crate::bytes::read_up_to;
use crate::descriptor::{
    PrimaryVolumeDescriptor, SupplementaryVolumeDescriptor, VolumeDescriptorSet,
    FIRST_DESCRIPTOR_SECTOR, STANDARD_ID,
};
use crate::directory::RecordIter;
use crate::error::{Error, ErrorKind, Result};
use crate::source::ReadAt;
use crate::susp::{sp_skip_len, ExtensionReference, SuspReader};
use crate::tree::{FileTree, TreeReader};
use crate::types::{Anomaly, Extent, FileEntry, Namespace, Severity, SECTOR_SIZE};

/// The smallest file that can hold an ISO9660 image: 16 system-area sectors
/// and one volume descriptor.
pub const MIN_IMAGE_BYTES: u64 = (FIRST_DESCRIPTOR_SECTOR + 1) * SECTOR_SIZE;

/// What the root directory's "." record says about SUSP and Rock Ridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RockRidgeInfo {
    /// The `SP` skip length: bytes to skip at the start of every other
    /// record's system-use area.
    pub skip_len: u8,
    /// The `ER` extension references (Rock Ridge: `RRIP_1991A`, `IEEE_P1282`,
    /// `IEEE_1282`; xorriso's AAIP: `AAIP_0200`).
    pub extensions: Vec<ExtensionReference>,
}

/// Why [`IsoImage::open_path`] failed. The message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The path could not be opened, or is not a regular file or a block
    /// device (a FIFO or socket is refused without blocking).
    #[error(transparent)]
    Input(#[from] isotune_input::InputError),
    /// The file was opened but is not a readable ISO9660 image.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: Error,
    },
}

impl OpenError {
    /// The reader's error, when the file opened but could not be read as an
    /// image.
    pub fn image_error(&self) -> Option<&Error> {
        match self {
            OpenError::Read { source, .. } => Some(source),
            OpenError::Input(_) => None,
        }
    }
}

impl IsoImage<File> {
    /// Opens the image at `path` (a regular file or a block device) through
    /// [`isotune_input::open_image`]: a FIFO, socket, character device or
    /// directory is refused at once instead of blocking the reader.
    pub fn open_path(path: &Path) -> std::result::Result<Self, OpenError> {
        let (file, _kind) = isotune_input::open_image(path)?;
        IsoImage::open(file).map_err(|source| OpenError::Read {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// An opened ISO9660 image over any positioned-read source.
#[derive(Debug)]
pub struct IsoImage<R: ReadAt> {
    source: R,
    file_size: u64,
    descriptors: VolumeDescriptorSet,
    primary: PrimaryVolumeDescriptor,
    rock_ridge: Option<RockRidgeInfo>,
    shared: ImageShared,
}

impl<R: ReadAt> IsoImage<R> {
    /// Opens an image: reads the volume descriptor set and looks for Rock
    /// Ridge. Fails with [`ErrorKind::Truncated`] when the source is shorter
    /// than 17 sectors, [`ErrorKind::NotIso`] when sector 16 is not a volume
    /// descriptor, [`ErrorKind::Malformed`] when there is no primary descriptor.
    pub fn open(source: R) -> Result<Self> {
        let file_size = source
            .size()
            .map_err(|e| Error::io("finding the size of the image", 0, e))?;
        if file_size < MIN_IMAGE_BYTES {
            let at = FIRST_DESCRIPTOR_SECTOR * SECTOR_SIZE;
            let mut id = [0u8; 6];
            let n = read_up_to(&source, &mut id, at)
                .map_err(|e| Error::io("reading sector 16", at, e))?;
            if n == id.len() && id[1..] != STANDARD_ID[..] {
                return Err(Error::new(
                    ErrorKind::NotIso,
                    "no ISO9660 volume descriptor (CD001) at sector 16",
                )
                .at(at));
            }
            return Err(Error::new(
                ErrorKind::Truncated,
                format!(
                    "the file is {file_size} bytes, shorter than the {MIN_IMAGE_BYTES} bytes (17 sectors) of the smallest ISO9660 image"
                ),
            ));
        }
        let descriptors = VolumeDescriptorSet::read(&source)?;
        let primary = descriptors.primary().cloned().ok_or_else(|| {
            Error::malformed("the volume descriptor set has no primary volume descriptor")
        })?;
        let rock_ridge = detect_rock_ridge(&source, file_size, primary.root.extent())?;
        Ok(IsoImage {
            source,
            file_size,
            descriptors,
            primary,
            rock_ridge,
            shared: ImageShared::for_image(file_size),
        })
    }

    /// The source the image is read from.
    pub fn source(&self) -> &R {
        &self.source
    }

    /// Gives the source back.
    pub fn into_source(self) -> R {
        self.source
    }

    /// Size of the source in bytes.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// The whole volume descriptor set (with its reading anomalies).
    pub fn descriptors(&self) -> &VolumeDescriptorSet {
        &self.descriptors
    }

    /// The (first) primary volume descriptor.
    pub fn primary(&self) -> &PrimaryVolumeDescriptor {
        &self.primary
    }

    /// The Joliet supplementary descriptor, if any.
    pub fn joliet(&self) -> Option<&SupplementaryVolumeDescriptor> {
        self.descriptors.joliet()
    }

    /// Whether the root's "." record starts with a SUSP `SP` entry (Rock Ridge).
    pub fn has_rock_ridge(&self) -> bool {
        self.rock_ridge.is_some()
    }

    /// The SUSP / Rock Ridge details from the root's "." record.
    pub fn rock_ridge(&self) -> Option<&RockRidgeInfo> {
        self.rock_ridge.as_ref()
    }

    /// The namespaces this image has, best first (Rock Ridge, Joliet, ISO9660).
    pub fn namespaces(&self) -> Vec<Namespace> {
        let mut v = Vec::with_capacity(3);
        if self.has_rock_ridge() {
            v.push(Namespace::RockRidge);
        }
        if self.joliet().is_some() {
            v.push(Namespace::Joliet);
        }
        v.push(Namespace::Iso9660);
        v
    }

    /// The richest namespace: Rock Ridge, else Joliet, else ISO9660.
    pub fn best_namespace(&self) -> Namespace {
        self.namespaces()
            .first()
            .copied()
            .unwrap_or(Namespace::Iso9660)
    }

    /// A reader of one namespace's tree. Fails with
    /// [`ErrorKind::InvalidInput`] when the image does not have it.
    pub fn tree(&self, ns: Namespace) -> Result<TreeReader<'_>> {
        let (root, skip) = match ns {
            Namespace::Iso9660 => (self.primary.root.extent(), 0),
            Namespace::RockRidge => match &self.rock_ridge {
                Some(rr) => (self.primary.root.extent(), rr.skip_len),
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        "the image has no Rock Ridge tree",
                    ))
                }
            },
            Namespace::Joliet => match self.joliet() {
                Some(j) => (j.info.root.extent(), 0),
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        "the image has no Joliet tree",
                    ))
                }
            },
        };
        Ok(TreeReader::new(
            &self.source,
            self.file_size,
            ns,
            root,
            skip,
            &self.shared,
        ))
    }

    /// What every reader of this image shares: the SUSP budget and the
    /// cache of the last big directory read.
    pub(crate) fn shared(&self) -> &ImageShared {
        &self.shared
    }

    /// The SUSP budget all this image's walks and lookups share.
    pub fn susp_budget(&self) -> &SuspBudget {
        &self.shared.susp
    }

    /// Anomalies about limits shared by every reader of this image (today
    /// the SUSP budget); empty until a walk or lookup hits one.
    pub fn limit_anomalies(&self) -> Vec<Anomaly> {
        self.shared.susp.anomaly().into_iter().collect()
    }

    /// Every entry of a namespace (the root excluded) and its anomalies.
    pub fn files(&self, ns: Namespace) -> Result<FileTree> {
        let mut tree = self.tree(ns)?.files()?;
        tree.anomalies.extend(self.limit_anomalies());
        Ok(tree)
    }

    /// Calls `f` with every entry of a namespace, each directory before its
    /// contents, until `f` breaks; returns the anomalies seen.
    pub fn walk(
        &self,
        ns: Namespace,
        f: &mut dyn FnMut(&FileEntry) -> ControlFlow<()>,
    ) -> Result<Vec<Anomaly>> {
        let mut anomalies = self.tree(ns)?.walk(f)?;
        anomalies.extend(self.limit_anomalies());
        Ok(anomalies)
    }

    /// Finds one path in the best namespace, reading only the directories on
    /// the way. `Ok(None)` when it does not exist.
    pub fn lookup(&self, path: &str) -> Result<Option<FileEntry>> {
        self.lookup_in(self.best_namespace(), path)
    }

    /// Finds one path in a given namespace (ISO9660 names also match
    /// ignoring ASCII case).
    pub fn lookup_in(&self, ns: Namespace, path: &str) -> Result<Option<FileEntry>> {
        self.tree(ns)?.lookup(path)
    }

    /// Reads up to `max_bytes` of an entry's data (across all its extents).
    /// `max_bytes` is also the memory bound.
    pub fn read_file(&self, entry: &FileEntry, max_bytes: u64) -> Result<Vec<u8>> {
        read_file(&self.source, self.file_size, entry, max_bytes)
    }

    /// The descriptor-set anomalies followed by [`IsoImage::size_anomalies`].
    pub fn anomalies(&self) -> Vec<Anomaly> {
        let mut v = self.descriptors.anomalies.clone();
        v.extend(self.size_anomalies());
        v
    }

    /// Compares the volume's declared size with the file and checks the
    /// primary descriptor for impossible values.
    pub fn size_anomalies(&self) -> Vec<Anomaly> {
        let p = &self.primary;
        let mut v = Vec::new();
        let mut impossible = |sev: Severity, msg: String| {
            v.push(Anomaly::new("descriptor.impossible-value", sev, msg))
        };
        // The reader always uses 2048-byte blocks (see
        // `VolumeInfo::volume_bytes`); a different declared size is only
        // reported.
        let declared = p.logical_block_size;
        match declared {
            2048 => {}
            512 | 1024 => impossible(
                Severity::Warn,
                format!("the logical block size is {declared} bytes; every real image uses 2048, and isotune reads every block as 2048 bytes"),
            ),
            _ => impossible(
                Severity::Error,
                format!("the logical block size is {declared} bytes, which ISO9660 does not allow (512, 1024 or 2048); isotune reads every block as 2048 bytes"),
            ),
        }
        let block = SECTOR_SIZE;
        let blocks = u64::from(p.volume_space_size);
        if blocks == 0 {
            impossible(
                Severity::Error,
                "the volume space size is 0 blocks".to_owned(),
            );
        } else if blocks < MIN_IMAGE_BYTES / block {
            impossible(
                Severity::Error,
                format!("the volume space size is {blocks} blocks, smaller than the system area and the descriptors"),
            );
        }
        let root = p.root;
        if !root.is_directory() {
            impossible(
                Severity::Error,
                "the root directory record does not have the directory flag".to_owned(),
            );
        }
        if root.data_length == 0 {
            impossible(
                Severity::Error,
                "the root directory is 0 bytes long".to_owned(),
            );
        }
        let root_end = root.extent().end();
        let volume_bytes = p.volume_bytes();
        if blocks > 0 && root_end > volume_bytes {
            impossible(
                Severity::Error,
                format!("the root directory (block {}, {} bytes) ends past the end of the volume ({volume_bytes} bytes)", root.extent_lba, root.data_length),
            );
        }
        if p.volume_set_size == 0
            || p.volume_sequence_number == 0
            || p.volume_sequence_number > p.volume_set_size
        {
            impossible(
                Severity::Warn,
                format!(
                    "volume {} of a set of {} is not a possible position",
                    p.volume_sequence_number, p.volume_set_size
                ),
            );
        }
        if u64::from(p.l_path_table).saturating_mul(block) >= self.file_size {
            impossible(
                Severity::Warn,
                format!(
                    "the type L path table (block {}) lies past the end of the file",
                    p.l_path_table
                ),
            );
        }
        if blocks > 0 && volume_bytes > self.file_size {
            let missing = volume_bytes - self.file_size;
            v.push(Anomaly::new(
                "image.truncated",
                Severity::Error,
                format!(
                    "the volume is {volume_bytes} bytes ({blocks} blocks of {block} bytes) but the file is {} bytes: {missing} bytes are missing (an incomplete download or copy)",
                    self.file_size
                ),
            ));
        } else if blocks > 0 && self.file_size > volume_bytes {
            let extra = self.file_size - volume_bytes;
            v.push(Anomaly::new(
                "image.trailing-data",
                Severity::Info,
                format!(
                    "the file is {extra} bytes longer than the {volume_bytes}-byte volume; this is normal for an appended partition (e.g. an EFI system partition added by xorriso -append_partition) or hybrid padding"
                ),
            ));
        }
        v
    }
}

/// Reads the root's "." record: an `SP` entry at its start means SUSP (and
/// Rock Ridge) is in use. A root past the end simply has no Rock Ridge.
fn detect_rock_ridge(
    src: &dyn ReadAt,
    file_size: u64,
    root: Extent,
) -> Result<Option<RockRidgeInfo>> {
    let mut buf = vec![0u8; root.size.min(SECTOR_SIZE) as usize];
    let n = read_up_to(src, &mut buf, root.offset())
        .map_err(|e| Error::io("reading the root directory", root.offset(), e))?;
    buf.truncate(n);
    let Some((_, Ok(dot))) = RecordIter::new(&buf).next() else {
        return Ok(None);
    };
    if !dot.is_dot() {
        return Ok(None);
    }
    let Some(skip_len) = sp_skip_len(dot.system_use) else {
        return Ok(None);
    };
    let mut extensions = Vec::new();
    let mut ignored = Vec::new();
    SuspReader::new(src, file_size).for_each(dot.system_use, 0, &mut ignored, &mut |e| {
        if &e.signature == b"ER" && extensions.len() < 8 {
            extensions.push(ExtensionReference::parse(e.data));
        }
    })?;
    Ok(Some(RockRidgeInfo {
        skip_len,
        extensions,
    }))
}

/// Bytes read per positioned read in [`read_file`].
const READ_CHUNK: u64 = 8 * 1024 * 1024;

/// Reads up to `max_bytes` of an entry's data, across its extents in order.
/// Fails with [`ErrorKind::Truncated`] when an extent lies past the end.
fn read_file(
    src: &dyn ReadAt,
    file_size: u64,
    entry: &FileEntry,
    max_bytes: u64,
) -> Result<Vec<u8>> {
    let total = entry
        .extents
        .iter()
        .fold(0u64, |acc, x| acc.saturating_add(x.size));
    let want = total.min(max_bytes);
    let mut out: Vec<u8> = Vec::with_capacity(want.min(READ_CHUNK) as usize);
    let mut got = 0u64;
    for x in &entry.extents {
        if got >= want {
            break;
        }
        let n = x.size.min(want - got);
        let start = x.offset();
        if start.saturating_add(n) > file_size {
            return Err(Error::new(
                ErrorKind::Truncated,
                format!(
                    "{} lies past the end of the image ({file_size} bytes)",
                    entry.path
                ),
            )
            .at(start));
        }
        let mut done = 0u64;
        while done < n {
            let step = (n - done).min(READ_CHUNK);
            let at = out.len();
            out.resize(at + step as usize, 0);
            let off = start + done;
            let dst = out.get_mut(at..).unwrap_or_default();
            src.read_exact_at(dst, off)
                .map_err(|e| Error::io(format!("reading {}", entry.path), off, e))?;
            done += step;
        }
        got += n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testimg::TestImage;

    #[test]
    fn short_and_foreign_files() {
        let e = IsoImage::open(Vec::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Truncated);
        let e = IsoImage::open(vec![0u8; 33000]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotIso);
        let e = IsoImage::open(vec![0u8; 40000]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotIso);
        let mut img = TestImage::new().build();
        img.truncate(33000);
        assert_eq!(
            IsoImage::open(img).unwrap_err().kind(),
            ErrorKind::Truncated
        );
    }

    #[test]
    fn size_anomalies() {
        let img = TestImage::new().build();
        let len = img.len() as u64;
        let iso = IsoImage::open(img.clone()).unwrap();
        assert!(
            iso.size_anomalies().is_empty(),
            "{:?}",
            iso.size_anomalies()
        );
        let mut cut = img.clone();
        cut.truncate(cut.len() - 4096);
        let iso = IsoImage::open(cut).unwrap();
        let a = iso.size_anomalies();
        assert_eq!(a[0].id, "image.truncated");
        assert!(
            a[0].message.contains("4096 bytes are missing"),
            "{}",
            a[0].message
        );
        let mut long = img.clone();
        long.extend(vec![0u8; 2048 * 10]);
        let a = IsoImage::open(long).unwrap().size_anomalies();
        assert_eq!(a[0].id, "image.trailing-data");
        assert_eq!(a[0].severity, Severity::Info);
        let mut bad = img;
        let pvd = 16 * 2048;
        bad[pvd + 80..pvd + 84].copy_from_slice(&u32::MAX.to_le_bytes());
        bad[pvd + 128..pvd + 130].copy_from_slice(&777u16.to_le_bytes());
        bad[pvd + 156 + 25] = 0; // root loses the directory flag
        let iso = IsoImage::open(bad).unwrap();
        let ids: Vec<_> = iso.anomalies().into_iter().map(|a| a.id).collect();
        assert!(
            ids.iter()
                .filter(|i| *i == "descriptor.impossible-value")
                .count()
                >= 2,
            "{ids:?}"
        );
        assert!(ids.contains(&"image.truncated".to_owned()));
        assert!(ids.contains(&"descriptor.both-endian-mismatch".to_owned()));
        assert!(iso.file_size() == len);
    }

    #[test]
    fn namespaces_and_rock_ridge() {
        let iso = IsoImage::open(TestImage::new().build()).unwrap();
        assert_eq!(iso.namespaces(), [Namespace::Iso9660]);
        assert!(!iso.has_rock_ridge());
        assert!(iso.files(Namespace::Joliet).is_err());
        let iso = IsoImage::open(TestImage::new().rock_ridge().build()).unwrap();
        assert!(iso.has_rock_ridge());
        assert_eq!(iso.best_namespace(), Namespace::RockRidge);
        assert_eq!(iso.rock_ridge().unwrap().extensions[0].id, "RRIP_1991A");
    }
}
