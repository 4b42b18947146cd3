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
//! over all directories; past that, lookups fall back to the image.

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
pub(super) const MAX_INDEXED_ENTRIES: usize = 1 << 20;

/// The children of one directory, by name.
#[derive(Default)]
struct DirIndex {
    exact: HashMap<String, FileEntry>,
    folded: HashMap<String, FileEntry>,
}

/// What [`Indexed`] needs besides [`Media`]: one directory's children.
pub(super) trait ListDir {
    /// The children of the directory `dir` (an entry a lookup returned)
    /// with their names, in record order, and whether names also match
    /// ignoring ASCII case.
    #[allow(clippy::type_complexity)]
    fn children(&self, dir: &FileEntry) -> Result<(Vec<(String, FileEntry)>, bool)>;
}

impl<R: ReadAt> ListDir for IsoImage<R> {
    fn children(&self, dir: &FileEntry) -> Result<(Vec<(String, FileEntry)>, bool)> {
        let ns = self.best_namespace();
        let skip = match (ns, self.rock_ridge()) {
            (Namespace::RockRidge, Some(rr)) => usize::from(rr.skip_len),
            _ => 0,
        };
        let mut lister = Lister::new(self.source(), self.file_size(), ns, skip);
        let mut log = AnomalyLog::default();
        let mut out = Vec::new();
        for extent in &dir.extents {
            lister.list(*extent, &dir.path, &mut log, &mut |c, _| {
                // Relocated directories show up at their logical place.
                if !(ns == Namespace::RockRidge && c.relocated) {
                    out.push((c.name().to_owned(), c.entry));
                }
                ControlFlow::Continue(())
            })?;
        }
        Ok((out, ns == Namespace::Iso9660))
    }
}

/// A [`Media`] whose lookups read each directory once.
pub(super) struct Indexed<'a, M: ?Sized> {
    inner: &'a M,
    dirs: RefCell<HashMap<String, Option<Rc<DirIndex>>>>,
    entries: RefCell<usize>,
}

impl<'a, M: Media + ListDir + ?Sized> Indexed<'a, M> {
    pub(super) fn new(inner: &'a M) -> Self {
        Indexed {
            inner,
            dirs: RefCell::new(HashMap::new()),
            entries: RefCell::new(0),
        }
    }

    /// The index of the directory at `path` (lower-case key), building it
    /// on first use; `None` when it is not a directory or past the cap.
    fn dir(&self, path: &str) -> Result<Option<Rc<DirIndex>>> {
        let key = path.to_ascii_lowercase();
        if let Some(known) = self.dirs.borrow().get(&key) {
            return Ok(known.clone());
        }
        let entry = match self.inner.lookup(path)? {
            Some(e) if e.kind == FileKind::Directory => Some(e),
            _ => None,
        };
        let index = match entry {
            Some(e) if *self.entries.borrow() < MAX_INDEXED_ENTRIES => {
                let (children, fold) = self.inner.children(&e)?;
                *self.entries.borrow_mut() += children.len();
                let mut index = DirIndex::default();
                for (name, c) in children {
                    if fold {
                        index
                            .folded
                            .entry(name.to_ascii_lowercase())
                            .or_insert_with(|| c.clone());
                    }
                    index.exact.entry(name).or_insert(c);
                }
                Some(Rc::new(index))
            }
            _ => None,
        };
        self.dirs.borrow_mut().insert(key, index.clone());
        Ok(index)
    }
}

impl<M: Media + ListDir + ?Sized> Media for Indexed<'_, M> {
    fn lookup(&self, path: &str) -> Result<Option<FileEntry>> {
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let plain = !comps.iter().any(|c| *c == "." || *c == "..");
        let Some((name, parents)) = comps.split_last().filter(|_| plain) else {
            return self.inner.lookup(path);
        };
        let dir = format!("/{}", parents.join("/"));
        match self.dir(&dir)? {
            Some(index) => Ok(index
                .exact
                .get(*name)
                .or_else(|| index.folded.get(&name.to_ascii_lowercase()))
                .cloned()),
            // Not a directory (nothing below it), or too much indexed.
            None if *self.entries.borrow() < MAX_INDEXED_ENTRIES => Ok(None),
            None => self.inner.lookup(path),
        }
    }
    fn read(&self, entry: &FileEntry, max_bytes: u64) -> Result<Vec<u8>> {
        self.inner.read(entry, max_bytes)
    }
    fn size(&self) -> u64 {
        self.inner.size()
    }
}
