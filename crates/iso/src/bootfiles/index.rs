//! Looking boot files up with each directory read once.
//!
//! A configuration can name thousands of files in one large directory
//! (hostile or just sloppy). Resolving each path from the root rereads
//! that directory every time: 4,096 lookups over a 64 MiB root directory
//! read 256 GiB. [`Indexed`] lists a directory the first time a lookup
//! needs it, keeps its children by name (exact, and ASCII-folded for the
//! ISO9660 namespace, the same matching as [`crate::IsoImage::lookup`]) and
//! answers every later lookup in it from memory.
//!
//! Directories themselves are resolved with the image's own lookup (once
//! each), so relocated Rock Ridge directories stay right; only their
//! listings are cached. At most [`MAX_INDEXED_ENTRIES`] children are kept
//! over all directories (each child once, ~250 bytes: about 64 MiB at the
//! cap), and a directory with more children than are left under the cap
//! is not listed into memory at all (its listing stops at the cap); lookups
//! in it fall back to the image's own, which rereads it from the image's
//! cache of the last big directory.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::rc::Rc;

use super::discovery::Media;
use crate::image::IsoImage;
use crate::listing::Lister;
use crate::tree::AnomalyLog;
use crate::{FileEntry, FileKind, Namespace, ReadAt, Result};

/// Most directory children kept in memory by one discovery.
pub(super) const MAX_INDEXED_ENTRIES: usize = 1 << 18;

/// The children of one directory, by name; each child is kept once.
#[derive(Default)]
struct DirIndex {
    children: Vec<FileEntry>,
    exact: HashMap<Box<str>, u32>,
    folded: HashMap<Box<str>, u32>,
}

impl DirIndex {
    /// The child called `name` (exactly, else ignoring ASCII case where
    /// the namespace does).
    fn get(&self, name: &str) -> Option<&FileEntry> {
        self.exact
            .get(name)
            .or_else(|| self.folded.get(name.to_ascii_lowercase().as_str()))
            .map(|&i| &self.children[i as usize])
    }
}

/// What [`Indexed`] needs besides [`Media`]: one directory's children.
pub(super) trait ListDir {
    /// The children of the directory `dir` (an entry a lookup returned)
    /// with their names, in record order, and whether names also match
    /// ignoring ASCII case; `None` when it has more than `max` children
    /// (the listing stops there).
    #[allow(clippy::type_complexity)]
    fn children(
        &self,
        dir: &FileEntry,
        max: usize,
    ) -> Result<Option<(Vec<(String, FileEntry)>, bool)>>;
}

impl<R: ReadAt> ListDir for IsoImage<R> {
    fn children(
        &self,
        dir: &FileEntry,
        max: usize,
    ) -> Result<Option<(Vec<(String, FileEntry)>, bool)>> {
        let ns = self.best_namespace();
        let skip = match (ns, self.rock_ridge()) {
            (Namespace::RockRidge, Some(rr)) => usize::from(rr.skip_len),
            _ => 0,
        };
        let mut lister = Lister::new(self.source(), self.file_size(), ns, skip, self.shared());
        let mut log = AnomalyLog::default();
        let mut out = Vec::new();
        let mut too_many = false;
        for extent in &dir.extents {
            lister.list(*extent, &dir.path, &mut log, &mut |c, _| {
                // Relocated directories show up at their logical place.
                if !(ns == Namespace::RockRidge && c.relocated) {
                    if out.len() == max {
                        too_many = true;
                        return ControlFlow::Break(());
                    }
                    out.push((c.name().to_owned(), c.entry));
                }
                ControlFlow::Continue(())
            })?;
            if too_many {
                return Ok(None);
            }
        }
        Ok(Some((out, ns == Namespace::Iso9660)))
    }
}

/// What a lookup knows about one directory path.
#[derive(Clone)]
enum Dir {
    /// Its children, in memory.
    Indexed(Rc<DirIndex>),
    /// No directory there: nothing below it exists.
    Absent,
    /// A directory not kept in memory (past the cap): ask the image.
    Unindexed,
}

/// A [`Media`] whose lookups read each directory once.
pub(super) struct Indexed<'a, M: ?Sized> {
    inner: &'a M,
    dirs: RefCell<HashMap<String, Dir>>,
    entries: RefCell<usize>,
    /// [`MAX_INDEXED_ENTRIES`], smaller in tests.
    cap: usize,
}

impl<'a, M: Media + ListDir + ?Sized> Indexed<'a, M> {
    pub(super) fn new(inner: &'a M) -> Self {
        Self::with_cap(inner, MAX_INDEXED_ENTRIES)
    }

    fn with_cap(inner: &'a M, cap: usize) -> Self {
        Indexed {
            inner,
            dirs: RefCell::new(HashMap::new()),
            entries: RefCell::new(0),
            cap,
        }
    }

    /// What is known of the directory at `path` (lower-case key), listing
    /// it on first use.
    fn dir(&self, path: &str) -> Result<Dir> {
        let key = path.to_ascii_lowercase();
        if let Some(known) = self.dirs.borrow().get(&key) {
            return Ok(known.clone());
        }
        // A directory the parent's index lacks is not looked for again;
        // one it has is resolved by the image (so a relocated Rock Ridge
        // directory gets its real extent).
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let in_parent = match comps.split_last() {
            None => true,
            Some((name, parents)) => match self.dir(&format!("/{}", parents.join("/")))? {
                Dir::Indexed(parent) => parent
                    .get(name)
                    .is_some_and(|e| e.kind == FileKind::Directory),
                Dir::Absent => false,
                Dir::Unindexed => true,
            },
        };
        let entry = match in_parent.then(|| self.inner.lookup(path)).transpose()? {
            Some(Some(e)) if e.kind == FileKind::Directory => Some(e),
            _ => None,
        };
        let dir = match entry {
            None => Dir::Absent,
            Some(e) => {
                let left = self.cap.saturating_sub(*self.entries.borrow());
                let listed = if left > 0 {
                    self.inner.children(&e, left)?
                } else {
                    None
                };
                match listed {
                    None => Dir::Unindexed,
                    Some((children, fold)) => {
                        *self.entries.borrow_mut() += children.len();
                        Dir::Indexed(Rc::new(DirIndex::new(children, fold)))
                    }
                }
            }
        };
        self.dirs.borrow_mut().insert(key, dir.clone());
        Ok(dir)
    }
}

impl DirIndex {
    fn new(children: Vec<(String, FileEntry)>, fold: bool) -> DirIndex {
        let mut index = DirIndex {
            children: Vec::with_capacity(children.len()),
            ..DirIndex::default()
        };
        for (i, (name, c)) in (0u32..).zip(children) {
            if fold {
                index
                    .folded
                    .entry(name.to_ascii_lowercase().into_boxed_str())
                    .or_insert(i);
            }
            index.exact.entry(name.into_boxed_str()).or_insert(i);
            index.children.push(c);
        }
        index
    }
}

impl<M: Media + ListDir + ?Sized> Media for Indexed<'_, M> {
    fn lookup(&self, path: &str) -> Result<Option<FileEntry>> {
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let plain = !comps.iter().any(|c| *c == "." || *c == "..");
        let Some((name, parents)) = comps.split_last().filter(|_| plain) else {
            return self.inner.lookup(path);
        };
        match self.dir(&format!("/{}", parents.join("/")))? {
            Dir::Indexed(index) => Ok(index.get(name).cloned()),
            Dir::Absent => Ok(None),
            Dir::Unindexed => self.inner.lookup(path),
        }
    }
    fn read(&self, entry: &FileEntry, max_bytes: u64) -> Result<Vec<u8>> {
        self.inner.read(entry, max_bytes)
    }
    fn size(&self) -> u64 {
        self.inner.size()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io;

    use super::*;
    use crate::bootfiles::{boot_catalog, discover};
    use crate::writer::{BootImage, FileSource, IsoWriter};
    use crate::Severity;

    /// An image in memory that counts the bytes read inside one range.
    struct Counting {
        bytes: Vec<u8>,
        range: Cell<(u64, u64)>,
        read_in_range: Cell<u64>,
    }

    impl ReadAt for Counting {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            let n = self.bytes.read_at(buf, offset)?;
            let (start, end) = self.range.get();
            let overlap = (offset + n as u64)
                .min(end)
                .saturating_sub(offset.max(start));
            self.read_in_range.set(self.read_in_range.get() + overlap);
            Ok(n)
        }
        fn size(&self) -> io::Result<u64> {
            Ok(self.bytes.len() as u64)
        }
    }

    /// An image whose root directory holds `filler` files, booting isolinux
    /// with a configuration of `labels` labels whose kernels are missing.
    fn image(filler: usize, labels: usize) -> IsoImage<Counting> {
        let mut cfg = String::from("default l0\n");
        for i in 0..labels {
            cfg.push_str(&format!("label l{i}\n kernel /gone{i}\n"));
        }
        let mut w = IsoWriter::new("BIG_ROOT");
        w.add_file("/isolinux/isolinux.bin", FileSource::pseudo_random(2048, 1))
            .unwrap()
            .add_file(
                "/isolinux/isolinux.cfg",
                FileSource::bytes(cfg.into_bytes()),
            )
            .unwrap();
        for i in 0..filler {
            w.add_file(&format!("/F{i:05}.TXT"), FileSource::bytes(b"x".to_vec()))
                .unwrap();
        }
        w.el_torito(BootImage::bios("/isolinux/isolinux.bin"));
        let mut bytes = Vec::new();
        w.write_to(&mut bytes).unwrap();
        let counting = Counting {
            bytes,
            range: Cell::new((0, 0)),
            read_in_range: Cell::new(0),
        };
        let image = IsoImage::open(counting).unwrap();
        let root = image.primary().root.extent();
        image
            .source()
            .range
            .set((root.offset(), root.offset() + root.size));
        image
    }

    /// Bytes of the root directory read by discovery, and its anomalies.
    fn root_reads(image: &IsoImage<Counting>) -> (u64, Vec<crate::Anomaly>) {
        let catalog = boot_catalog(image).unwrap();
        image.source().read_in_range.set(0);
        let found = discover(image, catalog.as_ref());
        (image.source().read_in_range.get(), found.anomalies)
    }

    /// Hostile-input issue: "a config naming 4,096 missing files over a 64
    /// MiB root directory took 148 s (each lookup rescans the directory)
    /// and printed 4,095 identical anomalies". Discovery reads the root
    /// directory the same number of times whether the configuration names
    /// 20 missing files or 250, and reports a bounded number of anomalies.
    #[test]
    fn regression_each_directory_is_read_once_however_many_lookups() {
        let few = image(3000, 20);
        let many = image(3000, 250);
        let root_bytes = few.primary().root.extent().size;
        assert!(root_bytes > 64 * 1024, "{root_bytes}");
        let (few_reads, _) = root_reads(&few);
        let (many_reads, anomalies) = root_reads(&many);
        // Listed once for the index, plus the image's own lookup of
        // /isolinux (which stops where it finds it); not once per missing
        // file, nor once per configuration path tried.
        assert_eq!(few_reads, many_reads);
        assert!(many_reads <= 2 * root_bytes, "{many_reads} vs {root_bytes}");
        // 250 missing kernels: the default one is a warning, the others
        // notes; at most the cap one by one, then one summary.
        assert!(
            anomalies.len() <= super::super::discovery::MAX_MISSING_REPORTED + 2,
            "{}",
            anomalies.len()
        );
        assert_eq!(anomalies[0].severity, Severity::Warn);
        assert!(anomalies[0].message.contains("/gone0"));
        let summary = anomalies.last().unwrap();
        assert_eq!(summary.severity, Severity::Info);
        assert!(
            summary.message.starts_with("218 more files"),
            "{}",
            summary.message
        );
    }

    /// Crafted-image issue: an index of a 64 MiB root directory of a
    /// million records took 750 MB. A directory with more children than
    /// the cap leaves is not kept in memory; lookups in it go to the image
    /// and find the same files.
    #[test]
    fn regression_a_directory_past_the_cap_is_looked_up_in_the_image() {
        let image = image(3000, 20);
        let catalog = boot_catalog(&image).unwrap();
        let whole = super::super::discovery::discover_in(&Indexed::new(&image), catalog.as_ref());
        let capped = Indexed::with_cap(&image, 1000);
        let found = super::super::discovery::discover_in(&capped, catalog.as_ref());
        assert!(*capped.entries.borrow() <= 1000);
        assert!(matches!(
            capped.dirs.borrow().get("/"),
            Some(Dir::Unindexed)
        ));
        let paths = |f: &crate::bootfiles::BootFiles| -> Vec<String> {
            f.files.iter().map(|b| b.path.clone()).collect()
        };
        assert!(!paths(&whole).is_empty());
        assert_eq!(paths(&found), paths(&whole));
        let messages =
            |a: &[crate::Anomaly]| -> Vec<String> { a.iter().map(|a| a.message.clone()).collect() };
        assert_eq!(messages(&found.anomalies), messages(&whole.anomalies));
    }
}
