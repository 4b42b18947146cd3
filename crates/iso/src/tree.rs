//! Directory trees: walking a namespace, looking up one path, reading a file.
//!
//! A [`TreeReader`] walks the ISO9660, Joliet or Rock Ridge tree of an image
//! depth first, one positioned read per directory, and hands each
//! [`FileEntry`] to a callback ([`TreeReader::walk`]) or collects them into a
//! [`FileTree`]. Each directory's own entry comes just before its contents;
//! within a directory, files come before subdirectories.
//!
//! Names per namespace: ISO9660 names lose their `;1` version and a trailing
//! `.`; Joliet names are UCS-2; Rock Ridge names come from `NM` (falling back
//! to the ISO9660 name), with `PX` modes and `SL` link targets. In the Rock
//! Ridge tree, directories moved by deep-directory relocation appear at their
//! logical place (with [`FileEntry::relocated_from`]) and the relocation
//! directory (`rr_moved`) is hidden; the ISO9660 tree shows the physical
//! layout.
//!
//! Bounded on any input: directory size, total directory bytes, entries,
//! path bytes and depth have limits ([`MAX_DIR_BYTES`],
//! [`MAX_TOTAL_DIR_BYTES`], [`MAX_ENTRIES`], [`MAX_TOTAL_PATH_BYTES`],
//! [`MAX_DEPTH`]); a directory already listed (a loop, or a directory
//! pointing at itself) is reported and not followed. Damage is
//! reported as anomalies (at most [`MAX_ANOMALIES_PER_ID`] per id) rather than
//! errors, so a damaged image still lists what can be read.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::budget::ImageShared;
use crate::error::{Error, ErrorKind, Result};
use crate::listing::{Child, DirRef, Lister};

mod checks;
mod relocation;
mod walk;

use crate::source::ReadAt;
use crate::types::{Anomaly, Extent, FileEntry, FileKind, Namespace};
pub(crate) use checks::{cap_per_id, AnomalyLog};

/// Largest directory listed, in bytes (the rest of a bigger one is cut).
pub const MAX_DIR_BYTES: u64 = 64 * 1024 * 1024;
/// Most directory bytes read in one walk.
pub const MAX_TOTAL_DIR_BYTES: u64 = 1024 * 1024 * 1024;
/// Most entries listed in one walk, each extra section of a multi-extent
/// file counting as one more. Real installer and live images have fewer
/// than 100,000 (a full Debian DVD about 80,000); a [`FileTree`] costs
/// about 200 bytes an entry, so this bounds a hostile image's listing to
/// roughly 100 MB.
pub const MAX_ENTRIES: u64 = 500_000;
/// Most sections of one multi-extent file (ISO9660 sections are at most
/// 4 GiB, so 4,096 of them describe a 16 TiB file); the rest are skipped.
pub const MAX_SECTIONS_PER_FILE: usize = 4096;
/// Most bytes of paths produced in one walk (100,000 typical entries take
/// about 5 MB, so real images stay far below).
pub const MAX_TOTAL_PATH_BYTES: u64 = 128 * 1024 * 1024;
/// Deepest directory level followed (Rock Ridge relocation allows more than
/// ISO9660's 8).
pub const MAX_DEPTH: usize = 256;
/// Anomalies of one id kept per walk; the rest are counted in one summary.
pub const MAX_ANOMALIES_PER_ID: usize = 50;

/// A whole tree: every entry (the root excluded) and what was odd about it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileTree {
    /// The entries, each directory before its contents.
    pub entries: Vec<FileEntry>,
    /// Loops, extents past the end, overlaps, broken records, limits hit.
    pub anomalies: Vec<Anomaly>,
}

/// Walks one namespace of an image. Built by [`crate::IsoImage`].
#[derive(Debug)]
pub struct TreeReader<'a> {
    lister: Lister<'a>,
    root: Extent,
    phys: HashMap<u64, String>,
}

impl<'a> TreeReader<'a> {
    /// A reader of the tree whose root directory is `root`, in namespace
    /// `ns`. `susp_skip` is the `SP` skip length (used for Rock Ridge);
    /// `shared` is what all the image's readers share (the SUSP budget).
    pub fn new(
        src: &'a dyn ReadAt,
        file_size: u64,
        ns: Namespace,
        root: Extent,
        susp_skip: u8,
        shared: &'a ImageShared,
    ) -> Self {
        TreeReader {
            lister: Lister::new(src, file_size, ns, usize::from(susp_skip), shared),
            root,
            phys: HashMap::new(),
        }
    }

    /// The root directory as an entry (path `/`).
    pub fn root_entry(&self) -> FileEntry {
        FileEntry {
            path: "/".to_owned(),
            kind: FileKind::Directory,
            size: self.root.size,
            extents: vec![self.root],
            hidden: false,
            associated: false,
            mode: None,
            symlink_target: None,
            relocated_from: None,
        }
    }

    /// Collects every entry and the anomalies.
    pub fn files(&mut self) -> Result<FileTree> {
        let mut entries = Vec::new();
        let walked = self.walk_inner(&mut |e| {
            entries.push(e);
            ControlFlow::Continue(())
        })?;
        let mut log = walked.log;
        let name = |id: u32| {
            let i = usize::try_from(id).ok()?.checked_sub(1)?;
            entries.get(i).map(|e| e.path.clone())
        };
        walked.spans.check().report(&mut log, &name);
        Ok(FileTree {
            entries,
            anomalies: log.finish(),
        })
    }

    /// Calls `f` with every entry until it breaks; returns the anomalies.
    ///
    /// Entries are not kept, so when extents overlap (a damaged image) the
    /// tree is walked a second time to name the entries involved.
    pub fn walk(
        &mut self,
        f: &mut dyn FnMut(&FileEntry) -> ControlFlow<()>,
    ) -> Result<Vec<Anomaly>> {
        let budget_used = self.lister.dir_bytes_read;
        let walked = self.walk_inner(&mut |e| f(&e))?;
        let mut log = walked.log;
        let overlaps = walked.spans.check();
        let ids: BTreeSet<u32> = overlaps.ids().collect();
        let names = self.names_by_id(&ids, budget_used)?;
        overlaps.report(&mut log, &|id| names.get(&id).cloned());
        Ok(log.finish())
    }

    /// Resolves `path` component by component, reading only the
    /// directories on the way. In the ISO9660 namespace a name that does not
    /// match exactly is retried ignoring ASCII case. Symbolic links are not
    /// followed. `.` is ignored and `..` goes up.
    pub fn lookup(&mut self, path: &str) -> Result<Option<FileEntry>> {
        let mut log = AnomalyLog::default();
        let mut trail: Vec<(FileEntry, DirRef)> = vec![(
            self.root_entry(),
            DirRef {
                extent: self.root,
                child_link: false,
            },
        )];
        let comps: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if comps.len() > MAX_DEPTH * 4 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "the path has too many components",
            ));
        }
        for (i, comp) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            if *comp == ".." {
                if trail.len() > 1 {
                    trail.pop();
                }
                continue;
            }
            let Some((dir_entry, dir)) = trail.last() else {
                return Ok(None);
            };
            let (dir_path, extent) = (dir_entry.path.clone(), dir.extent);
            let rr = self.lister.ns == Namespace::RockRidge;
            let fold_case = self.lister.ns == Namespace::Iso9660;
            // The exact name wins; else (ISO9660) the first that matches
            // ignoring ASCII case.
            let mut exact: Option<Child> = None;
            let mut folded: Option<Child> = None;
            self.lister.list(extent, &dir_path, &mut log, &mut |c, _| {
                if rr && c.relocated {
                    return ControlFlow::Continue(());
                }
                if c.name() == *comp {
                    exact = Some(c);
                    return ControlFlow::Break(());
                }
                if fold_case && folded.is_none() && c.name().eq_ignore_ascii_case(comp) {
                    folded = Some(c);
                }
                ControlFlow::Continue(())
            })?;
            let Some(child) = exact.or(folded) else {
                return Ok(None);
            };
            let mut entry = child.entry;
            let Some(mut dir) = child.dir else {
                return Ok(if last { Some(entry) } else { None });
            };
            if dir.child_link {
                dir.extent = self.resolve_child_link(&mut entry, dir.extent.lba, &mut log)?;
                dir.child_link = false;
            }
            if trail.iter().any(|(_, d)| d.extent.lba == dir.extent.lba) || trail.len() > MAX_DEPTH
            {
                return Err(Error::malformed(format!(
                    "directory {} loops back to an ancestor",
                    entry.path
                )));
            }
            trail.push((entry, dir));
        }
        Ok(trail.pop().map(|(e, _)| e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{build_record, FileFlags};
    use crate::image::IsoImage;
    use crate::susp::{build_ce, build_entry};
    use crate::testimg::{nm, px, TestImage};

    fn ids(a: &[Anomaly]) -> Vec<&str> {
        a.iter().map(|a| a.id.as_str()).collect()
    }

    fn paths(t: &FileTree) -> Vec<&str> {
        t.entries.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn rock_ridge_names_modes_links_and_multi_extent() {
        let mut t = TestImage::new().rock_ridge();
        let mut su = nm("Read Me.txt");
        su.extend(px(0o100_644));
        t.file(0, b"README.TXT;1", b"hello", &su);
        let sub = t.dir(0, b"SUB", &[nm("sub"), px(0o040_755)].concat(), 1);
        let mut sl = vec![0u8, 0, 3];
        sl.extend(b"abc");
        let mut link = nm("link");
        link.extend(px(0o120_777));
        link.extend(build_entry(b"SL", 1, &sl));
        t.record(sub, build_record(0, 0, 0, b"LINK.;1", &link));
        // A file in three sections.
        let a = t.blob(&[b'a'; 2048]);
        let b = t.blob(&[b'b'; 2048]);
        let c = t.blob(b"cc");
        let me = FileFlags::MULTI_EXTENT;
        t.record(sub, build_record(a, 2048, me, b"BIG.BIN;1", &nm("big.bin")));
        t.record(sub, build_record(b, 2048, me, b"BIG.BIN;1", &nm("big.bin")));
        t.record(sub, build_record(c, 2, 0, b"BIG.BIN;1", &nm("big.bin")));
        t.record(
            sub,
            build_record(c, 0, FileFlags::HIDDEN, b"EMPTY.;1", &nm("empty")),
        );
        let iso = IsoImage::open(t.build()).unwrap();
        let tree = iso.files(Namespace::RockRidge).unwrap();
        assert!(tree.anomalies.is_empty(), "{:?}", tree.anomalies);
        assert_eq!(
            paths(&tree),
            [
                "/Read Me.txt",
                "/sub",
                "/sub/link",
                "/sub/big.bin",
                "/sub/empty"
            ]
        );
        let e = &tree.entries;
        assert_eq!(e[0].mode, Some(0o100_644));
        assert_eq!(e[1].kind, FileKind::Directory);
        assert_eq!(e[2].kind, FileKind::Symlink);
        assert_eq!(e[2].symlink_target.as_deref(), Some("abc"));
        assert_eq!(e[3].size, 4098);
        assert_eq!(e[3].extents.len(), 3);
        assert!(e[4].hidden);
        let data = iso.read_file(&e[3], u64::MAX).unwrap();
        assert_eq!(data.len(), 4098);
        assert_eq!((data[0], data[2048], data[4097]), (b'a', b'b', b'c'));
        assert_eq!(iso.read_file(&e[3], 2050).unwrap().len(), 2050);
        let iso_names = iso.files(Namespace::Iso9660).unwrap();
        assert_eq!(
            paths(&iso_names),
            [
                "/README.TXT",
                "/SUB",
                "/SUB/LINK",
                "/SUB/BIG.BIN",
                "/SUB/EMPTY"
            ]
        );
        let found = iso
            .lookup_in(Namespace::Iso9660, "sub/big.bin")
            .unwrap()
            .unwrap();
        assert_eq!(found.size, 4098);
        assert_eq!(
            iso.lookup("/sub/big.bin").unwrap().unwrap().path,
            "/sub/big.bin"
        );
        assert_eq!(iso.lookup("/SUB/BIG.BIN").unwrap(), None);
        assert_eq!(
            iso.lookup("/sub/../sub/./link").unwrap().unwrap().kind,
            FileKind::Symlink
        );
        assert_eq!(iso.lookup("/").unwrap().unwrap().path, "/");
        assert_eq!(iso.lookup("/Read Me.txt/x").unwrap(), None);
    }

    #[test]
    fn walk_can_stop_early() {
        let mut t = TestImage::new();
        for i in 0..5 {
            t.file(0, format!("F{i}.;1").as_bytes(), b"x", &[]);
        }
        let iso = IsoImage::open(t.build()).unwrap();
        let mut n = 0;
        iso.walk(Namespace::Iso9660, &mut |_| {
            n += 1;
            if n == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn directory_pointing_to_itself_or_an_ancestor() {
        let mut t = TestImage::new();
        let a = t.dir(0, b"A", &[], 1);
        let a_lba = t.dir_lba(a);
        t.record(
            a,
            build_record(a_lba, 2048, FileFlags::DIRECTORY, b"SELF", &[]),
        );
        t.record(
            a,
            build_record(
                crate::testimg::ROOT_LBA,
                2048,
                FileFlags::DIRECTORY,
                b"UP",
                &[],
            ),
        );
        let iso = IsoImage::open(t.build()).unwrap();
        let tree = iso.files(Namespace::Iso9660).unwrap();
        assert_eq!(paths(&tree), ["/A", "/A/SELF", "/A/UP"]);
        assert_eq!(
            ids(&tree.anomalies),
            ["tree.directory-loop", "tree.directory-loop"]
        );
        assert!(iso.lookup("/A/SELF/x").is_err());
    }

    #[test]
    fn ce_loop_and_ce_past_end_do_not_hang() {
        let mut t = TestImage::new().rock_ridge();
        let area_lba = t.alloc(1);
        let mut su = nm("looping");
        su.extend(build_ce(area_lba, 0, 28));
        t.record(0, build_record(40, 0, 0, b"L.;1", &su));
        let mut far = nm("far");
        far.extend(build_ce(1_000_000, 0, 100));
        t.record(0, build_record(40, 0, 0, b"F.;1", &far));
        let mut img = t.build();
        let area = build_ce(area_lba, 0, 28);
        let at = area_lba as usize * 2048;
        img[at..at + area.len()].copy_from_slice(&area);
        let iso = IsoImage::open(img).unwrap();
        let tree = iso.files(Namespace::RockRidge).unwrap();
        assert_eq!(paths(&tree), ["/looping", "/far"]);
        assert_eq!(ids(&tree.anomalies), ["susp.ce-loop", "susp.ce-past-end"]);
        assert!(tree.anomalies[0]
            .message
            .starts_with("directory / (record L): "));
    }

    #[test]
    fn overlaps_and_extents_past_the_end() {
        let mut t = TestImage::new();
        let lba = t.blob(&[1u8; 4096]);
        t.record(0, build_record(lba, 4096, 0, b"A.;1", &[]));
        t.record(0, build_record(lba, 4096, 0, b"HARDLINK.;1", &[]));
        t.record(0, build_record(lba + 1, 100, 0, b"PARTIAL.;1", &[]));
        t.record(0, build_record(lba, 0, 0, b"EMPTY.;1", &[]));
        t.record(
            0,
            build_record(crate::testimg::ROOT_LBA, 10, 0, b"INDIR.;1", &[]),
        );
        t.record(0, build_record(900_000, 10, 0, b"FAR.;1", &[]));
        let iso = IsoImage::open(t.build()).unwrap();
        let tree = iso.files(Namespace::Iso9660).unwrap();
        let mut got = ids(&tree.anomalies);
        got.sort_unstable();
        assert_eq!(
            got,
            [
                "tree.extent-past-end",
                "tree.overlapping-extents",
                "tree.overlapping-extents"
            ]
        );
        let far = tree.entries.iter().find(|e| e.path == "/FAR").unwrap();
        assert_eq!(
            iso.read_file(far, 10).unwrap_err().kind(),
            ErrorKind::Truncated
        );
    }

    #[test]
    fn unterminated_multi_extent_and_bad_names() {
        let mut t = TestImage::new();
        let lba = t.blob(b"12345");
        t.record(
            0,
            build_record(lba, 5, FileFlags::MULTI_EXTENT, b"X.;1", &[]),
        );
        t.record(0, build_record(lba, 5, 0, b"Y/Z.;1", &[]));
        t.record(
            0,
            build_record(lba, 5, FileFlags::MULTI_EXTENT, b"W.;1", &[]),
        );
        let tree = IsoImage::open(t.build())
            .unwrap()
            .files(Namespace::Iso9660)
            .unwrap();
        assert_eq!(paths(&tree), ["/X", "/Y_Z", "/W"]);
        let mut got = ids(&tree.anomalies);
        got.sort_unstable();
        assert_eq!(
            got,
            [
                "tree.bad-name",
                "tree.multi-extent-unterminated",
                "tree.multi-extent-unterminated"
            ]
        );
    }

    #[test]
    fn both_endian_mismatch_in_a_record() {
        let mut t = TestImage::new();
        let lba = t.blob(b"abc");
        let mut r = build_record(lba, 3, 0, b"M.;1", &[]);
        r[9] ^= 0xFF; // the big-endian copy of the block number
        t.record(0, r);
        let iso = IsoImage::open(t.build()).unwrap();
        let tree = iso.files(Namespace::Iso9660).unwrap();
        assert_eq!(ids(&tree.anomalies), ["tree.both-endian-mismatch"]);
        assert_eq!(iso.read_file(&tree.entries[0], 10).unwrap(), b"abc");
    }
}
