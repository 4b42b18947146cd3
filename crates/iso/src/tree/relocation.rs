//! Rock Ridge deep-directory relocation in the tree walk.
//!
//! ISO9660 allows 8 directory levels; Rock Ridge writers move deeper
//! directories to a relocation directory (`rr_moved`), mark the moved
//! directory `RE`, and leave in its logical parent a placeholder record with a
//! `CL` entry pointing at it. Here a `CL` placeholder becomes the directory it
//! stands for, and its physical ISO9660 path is found by climbing `..` records
//! (it becomes [`FileEntry::relocated_from`]).

use super::{AnomalyLog, TreeReader, MAX_DIR_BYTES, MAX_TOTAL_DIR_BYTES};
use crate::directory::RecordIter;
use crate::error::{Error, Result};
use crate::listing::iso_name;
use crate::types::{Anomaly, Extent, FileEntry, Severity, SECTOR_SIZE};

/// Most parent steps taken to name a relocated directory's physical path.
const MAX_PHYSICAL_STEPS: usize = 64;

impl TreeReader<'_> {
    /// Fills in a Rock Ridge `CL` directory from its target's "." record and
    /// returns the extent to list.
    pub(super) fn resolve_child_link(
        &mut self,
        e: &mut FileEntry,
        lba: u64,
        log: &mut AnomalyLog,
    ) -> Result<Extent> {
        let mut extent = Extent { lba, size: 0 };
        match self.lister.dot_record(lba, &e.path, log)? {
            Some((x, mode)) => {
                extent = x;
                if mode.is_some() {
                    e.mode = mode;
                }
            }
            None => log.push(Anomaly::new(
                "tree.bad-relocation",
                Severity::Error,
                format!("{} is a relocated directory (Rock Ridge CL) but block {lba} holds no directory", e.path),
            )),
        }
        e.extents = vec![extent];
        e.size = extent.size;
        e.relocated_from = self.physical_path(lba)?;
        Ok(extent)
    }

    /// The ISO9660 path of the directory at `lba`, found by climbing ".."
    /// records and finding each directory in its parent. Every directory
    /// named on the way is remembered, so the next relocated directory under
    /// the same `rr_moved` costs two small reads.
    fn physical_path(&mut self, lba: u64) -> Result<Option<String>> {
        let mut climbed: Vec<(u64, String)> = Vec::new();
        let mut cur = lba;
        let mut base = None;
        for _ in 0..MAX_PHYSICAL_STEPS {
            if cur == self.root.lba {
                base = Some(String::new());
                break;
            }
            if let Some(known) = self.phys.get(&cur) {
                base = Some(known.clone());
                break;
            }
            let Some(parent) = self.parent_of(cur)? else {
                return Ok(None);
            };
            let Some(name) = self.name_in(parent, cur)? else {
                return Ok(None);
            };
            climbed.push((cur, name));
            cur = parent;
        }
        let Some(mut path) = base else {
            return Ok(None);
        };
        for (dir, name) in climbed.into_iter().rev() {
            path.push('/');
            path.push_str(&name);
            self.phys.insert(dir, path.clone());
        }
        Ok((!path.is_empty()).then_some(path))
    }

    /// The block of a directory's parent, from its ".." record.
    fn parent_of(&mut self, lba: u64) -> Result<Option<u64>> {
        let buf = self.read_raw(Extent {
            lba,
            size: SECTOR_SIZE,
        })?;
        Ok(RecordIter::new(&buf)
            .filter_map(|(_, r)| r.ok())
            .find(|r| r.is_dotdot())
            .map(|r| r.data_extent().lba))
    }

    /// The ISO9660 name of the directory at `child` inside the directory at `parent`.
    fn name_in(&mut self, parent: u64, child: u64) -> Result<Option<String>> {
        let head = self.read_raw(Extent {
            lba: parent,
            size: SECTOR_SIZE,
        })?;
        let size = RecordIter::new(&head)
            .filter_map(|(_, r)| r.ok())
            .find(|r| r.is_dot())
            .map_or(SECTOR_SIZE, |r| u64::from(r.data_length));
        let buf = self.read_raw(Extent {
            lba: parent,
            size: size.min(MAX_DIR_BYTES),
        })?;
        Ok(RecordIter::new(&buf)
            .filter_map(|(_, r)| r.ok())
            .find(|r| !r.is_dot() && !r.is_dotdot() && r.data_extent().lba == child)
            .map(|r| iso_name(r.name)))
    }

    /// Reads up to `ext.size` bytes (fewer at the end of the image). These
    /// reads count towards the walk's directory byte budget; past it they
    /// return nothing, so naming relocated directories stays bounded.
    fn read_raw(&mut self, ext: Extent) -> Result<Vec<u8>> {
        let avail = self
            .lister
            .file_size
            .saturating_sub(ext.offset())
            .min(ext.size);
        let spent = self.lister.dir_bytes_read.saturating_add(avail);
        if spent > MAX_TOTAL_DIR_BYTES {
            return Ok(Vec::new());
        }
        self.lister.dir_bytes_read = spent;
        let mut buf = vec![0u8; avail as usize];
        let n = crate::bytes::read_up_to(self.lister.src, &mut buf, ext.offset())
            .map_err(|e| Error::io("reading a directory", ext.offset(), e))?;
        buf.truncate(n);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use crate::directory::build_record;
    use crate::image::IsoImage;
    use crate::susp::build_entry;
    use crate::testimg::{both, nm, TestImage};
    use crate::types::{FileKind, Namespace};

    fn paths(t: &crate::tree::FileTree) -> Vec<&str> {
        t.entries.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn deep_relocation() {
        let mut t = TestImage::new().rock_ridge();
        let a = t.dir(0, b"A", &nm("a"), 1);
        let moved_parent = t.dir(0, b"RR_MOVED", &nm("rr_moved"), 1);
        let mut re = nm("deep");
        re.extend(build_entry(b"RE", 1, &[]));
        let deep = t.dir(moved_parent, b"DEEP", &re, 1);
        let a_lba = t.dir_lba(a);
        t.dotdot_su(deep, &build_entry(b"PL", 1, &both(a_lba)));
        t.file(deep, b"F.;1", b"data", &nm("f"));
        let mut cl = nm("deep");
        cl.extend(build_entry(b"CL", 1, &both(t.dir_lba(deep))));
        t.record(a, build_record(0, 0, 0, b"DEEP", &cl));
        let iso = IsoImage::open(t.build()).unwrap();
        let tree = iso.files(Namespace::RockRidge).unwrap();
        assert!(tree.anomalies.is_empty(), "{:?}", tree.anomalies);
        assert_eq!(paths(&tree), ["/a", "/a/deep", "/a/deep/f"]);
        let d = &tree.entries[1];
        assert_eq!(d.kind, FileKind::Directory);
        assert_eq!(d.relocated_from.as_deref(), Some("/RR_MOVED/DEEP"));
        assert_eq!(d.extents[0].lba, u64::from(t.dir_lba(deep)));
        assert_eq!(d.size, 2048);
        let plain = iso.files(Namespace::Iso9660).unwrap();
        assert_eq!(
            paths(&plain),
            [
                "/A",
                "/A/DEEP",
                "/RR_MOVED",
                "/RR_MOVED/DEEP",
                "/RR_MOVED/DEEP/F"
            ]
        );
        let f = iso.lookup("/a/deep/f").unwrap().unwrap();
        assert_eq!(iso.read_file(&f, 100).unwrap(), b"data");
        assert_eq!(
            iso.lookup("/rr_moved").unwrap().unwrap().kind,
            FileKind::Directory
        );
        assert_eq!(iso.lookup("/rr_moved/deep").unwrap(), None);
    }
}
