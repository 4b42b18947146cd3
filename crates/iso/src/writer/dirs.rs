//! The directory trees of an image: one per namespace (ISO9660, Joliet),
//! each a list of directories in path-table order with sorted records, and
//! the bytes of their directory extents and path tables.
//!
//! Directories are numbered breadth first, each directory's children in
//! record order, which is exactly the path table order ECMA-119 6.9.1 asks
//! for (by level, then parent number, then identifier). A directory's size
//! only depends on its children's names, so sizes are known before any LBA
//! is assigned; records never cross a sector boundary (ECMA-119 6.8.1.1).

use std::cmp::Ordering;

use super::names;
use super::volume::{both16, both32, Timestamp, SECTOR};
use super::{invalid, InDir, InNode};
use crate::error::Result;

/// Path table parent numbers are 16-bit.
pub(super) const MAX_DIRS: usize = 65_535;

/// Which namespace a tree spells its names in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavour {
    /// ISO9660 level 2 names in the PVD tree.
    Iso,
    /// Joliet UCS-2 names in the SVD tree.
    Joliet,
}

impl Flavour {
    fn ident(self, name: &str, is_file: bool) -> Vec<u8> {
        match (self, is_file) {
            (Flavour::Iso, true) => names::iso_file_name(name),
            (Flavour::Iso, false) => names::iso_dir_name(name),
            (Flavour::Joliet, _) => names::joliet_name(name),
        }
    }

    fn order(self, a: &[u8], b: &[u8]) -> Ordering {
        match self {
            Flavour::Iso => names::iso_order(a, b),
            Flavour::Joliet => names::joliet_order(a, b),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Flavour::Iso => "ISO9660",
            Flavour::Joliet => "Joliet",
        }
    }
}

/// What a directory record points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// Index into [`Tree::dirs`].
    Dir(usize),
    /// Index into the writer's files.
    File(usize),
}

/// One record of a directory (besides `.` and `..`).
#[derive(Debug, Clone)]
pub(super) struct Child {
    pub ident: Vec<u8>,
    pub target: Target,
}

/// One directory of a tree.
#[derive(Debug, Clone)]
pub(super) struct Dir {
    /// Identifier; `[0]` for the root.
    pub ident: Vec<u8>,
    /// Index of the parent (the root is its own parent).
    pub parent: usize,
    /// Records in sorted order.
    pub children: Vec<Child>,
    /// Extent size in bytes, whole sectors.
    pub size: u32,
    /// First sector, once assigned.
    pub lba: u32,
}

/// A namespace's directories in path-table order, the root first.
#[derive(Debug, Clone)]
pub(super) struct Tree {
    pub dirs: Vec<Dir>,
    /// Path table length in bytes (unpadded).
    pub path_table_size: u32,
    pub l_table_lba: u32,
    pub m_table_lba: u32,
    /// For each file index, its path in this namespace.
    pub file_paths: Vec<String>,
}

/// Builds the `flavour` tree of `root`, rejecting names that collide once
/// mapped.
pub(super) fn build(root: &InDir, flavour: Flavour, file_count: usize) -> Result<Tree> {
    let joliet = flavour == Flavour::Joliet;
    let mut dirs = vec![Dir {
        ident: vec![0],
        parent: 0,
        children: Vec::new(),
        size: 0,
        lba: 0,
    }];
    // Input directory, its path as added, its path in this namespace.
    let mut inputs: Vec<(&InDir, String, String)> = vec![(root, String::new(), String::new())];
    let mut file_paths = vec![String::new(); file_count];
    let mut i = 0;
    while i < dirs.len() {
        let (in_dir, orig, shown) = inputs[i].clone();
        let mut named: Vec<(Vec<u8>, &str, &InNode)> = in_dir
            .children
            .iter()
            .map(|(name, node)| {
                let ident = flavour.ident(name, matches!(node, InNode::File(_)));
                (ident, name.as_str(), node)
            })
            .collect();
        named.sort_by(|a, b| flavour.order(&a.0, &b.0));
        if let Some(pair) = named
            .windows(2)
            .find(|p| flavour.order(&p[0].0, &p[1].0).is_eq())
        {
            return Err(invalid(format!(
                "`{orig}/{}` and `{orig}/{}` both map to the {} name `{}`; rename one of them",
                pair[0].1,
                pair[1].1,
                flavour.label(),
                names::display(&pair[0].0, joliet)
            )));
        }
        let mut children = Vec::with_capacity(named.len());
        for (ident, name, node) in named {
            let path = format!("{shown}/{}", names::display(&ident, joliet));
            let target = match node {
                InNode::File(index) => {
                    file_paths[*index] = path;
                    Target::File(*index)
                }
                InNode::Dir(sub) => {
                    if dirs.len() >= MAX_DIRS {
                        return Err(invalid(format!(
                            "the image would have more than {MAX_DIRS} directories, \
                             more than a path table can number"
                        )));
                    }
                    dirs.push(Dir {
                        ident: ident.clone(),
                        parent: i,
                        children: Vec::new(),
                        size: 0,
                        lba: 0,
                    });
                    inputs.push((sub, format!("{orig}/{name}"), path));
                    Target::Dir(dirs.len() - 1)
                }
            };
            children.push(Child { ident, target });
        }
        dirs[i].children = children;
        i += 1;
    }
    for dir in &mut dirs {
        dir.size = extent_size(dir);
    }
    let path_table_size = dirs.iter().map(|d| path_record_len(d.ident.len())).sum();
    Ok(Tree {
        dirs,
        path_table_size,
        l_table_lba: 0,
        m_table_lba: 0,
        file_paths,
    })
}

impl Tree {
    /// Sectors one path table occupies.
    pub(super) fn path_table_sectors(&self) -> u32 {
        self.path_table_size.div_ceil(SECTOR as u32)
    }

    /// Gives every directory an extent from `next` on; returns the next
    /// free sector.
    pub(super) fn assign_dirs(&mut self, mut next: u32) -> u32 {
        for dir in &mut self.dirs {
            dir.lba = next;
            next += dir.size / SECTOR as u32;
        }
        next
    }

    /// The L (`big_endian == false`) or M path table, unpadded.
    pub(super) fn path_table(&self, big_endian: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.path_table_size as usize);
        for dir in &self.dirs {
            let n = dir.ident.len();
            out.push(n as u8);
            out.push(0);
            // Parent numbers are 1-based; the root's parent is itself (1).
            let parent = (dir.parent + 1) as u16;
            if big_endian {
                out.extend_from_slice(&dir.lba.to_be_bytes());
                out.extend_from_slice(&parent.to_be_bytes());
            } else {
                out.extend_from_slice(&dir.lba.to_le_bytes());
                out.extend_from_slice(&parent.to_le_bytes());
            }
            out.extend_from_slice(&dir.ident);
            if n % 2 == 1 {
                out.push(0);
            }
        }
        out
    }

    /// The directory extent of `dirs[index]`; `files[i]` is the (lba, size)
    /// of file `i`.
    pub(super) fn dir_extent(&self, index: usize, files: &[(u32, u32)], ts: Timestamp) -> Vec<u8> {
        let date = ts.record_date();
        let dir = &self.dirs[index];
        let parent = &self.dirs[dir.parent];
        let mut out = vec![0u8; dir.size as usize];
        let mut end = 0;
        let mut put = |rec: Vec<u8>| {
            let at = place(end, rec.len());
            out[at..at + rec.len()].copy_from_slice(&rec);
            end = at + rec.len();
        };
        put(record(&[0], dir.lba, dir.size, true, date));
        put(record(&[1], parent.lba, parent.size, true, date));
        for child in &dir.children {
            let (lba, size, is_dir) = match child.target {
                Target::Dir(d) => (self.dirs[d].lba, self.dirs[d].size, true),
                Target::File(f) => (files[f].0, files[f].1, false),
            };
            put(record(&child.ident, lba, size, is_dir, date));
        }
        out
    }
}

/// The 34-byte root directory record of a volume descriptor.
pub(super) fn root_record(tree: &Tree, ts: Timestamp) -> Vec<u8> {
    let root = &tree.dirs[0];
    record(&[0], root.lba, root.size, true, ts.record_date())
}

fn record_len(ident_len: usize) -> usize {
    let n = 33 + ident_len;
    n + n % 2
}

fn path_record_len(ident_len: usize) -> u32 {
    (8 + ident_len + ident_len % 2) as u32
}

/// Where a record of `len` bytes starts when `end` bytes are used: at
/// `end`, or at the next sector when it would not fit in this one.
fn place(end: usize, len: usize) -> usize {
    let room = SECTOR - end % SECTOR;
    if len > room {
        end + room
    } else {
        end
    }
}

fn extent_size(dir: &Dir) -> u32 {
    let mut end = 0;
    let idents = [1usize, 1]
        .into_iter()
        .chain(dir.children.iter().map(|c| c.ident.len()));
    for len in idents.map(record_len) {
        end = place(end, len) + len;
    }
    (end.div_ceil(SECTOR) * SECTOR) as u32
}

/// One directory record (ECMA-119 9.1).
fn record(ident: &[u8], lba: u32, size: u32, is_dir: bool, date: [u8; 7]) -> Vec<u8> {
    let len = record_len(ident.len());
    let mut r = vec![0u8; len];
    r[0] = len as u8;
    r[2..10].copy_from_slice(&both32(lba));
    r[10..18].copy_from_slice(&both32(size));
    r[18..25].copy_from_slice(&date);
    r[25] = if is_dir { 0x02 } else { 0x00 };
    r[28..32].copy_from_slice(&both16(1)); // volume sequence number
    r[32] = ident.len() as u8;
    r[33..33 + ident.len()].copy_from_slice(ident);
    r
}

#[cfg(test)]
mod tests {
    use super::super::{FileSource, IsoWriter};
    use super::*;
    use crate::error::ErrorKind;

    fn tree(w: &IsoWriter, flavour: Flavour) -> Result<Tree> {
        build(&w.root, flavour, w.files.len())
    }

    #[test]
    fn path_table_is_by_level_then_parent_then_name() {
        let mut w = IsoWriter::new("T");
        for d in ["/zeta/b", "/zeta/a", "/alpha/z", "/alpha/y/deep", "/mid"] {
            w.add_dir(d).unwrap();
        }
        w.add_file("/alpha/file.txt", FileSource::zeros(1)).unwrap();
        let t = tree(&w, Flavour::Iso).unwrap();
        let order: Vec<(String, usize)> = t
            .dirs
            .iter()
            .map(|d| (names::display(&d.ident, false), d.parent + 1))
            .collect();
        let expect = [
            ("\0", 1),
            ("ALPHA", 1),
            ("MID", 1),
            ("ZETA", 1),
            ("Y", 2),
            ("Z", 2),
            ("A", 4),
            ("B", 4),
            ("DEEP", 5),
        ];
        let expect: Vec<(String, usize)> =
            expect.iter().map(|(n, p)| (n.to_string(), *p)).collect();
        assert_eq!(order, expect);
        assert_eq!(t.file_paths, ["/ALPHA/FILE.TXT;1"]);

        let mut t = t;
        t.assign_dirs(20);
        let table = t.path_table(false);
        assert_eq!(table.len() as u32, t.path_table_size);
        assert_eq!(&table[..10], &[1, 0, 20, 0, 0, 0, 1, 0, 0, 0]);
        // Second record: "ALPHA", parent 1, then one pad byte (odd length).
        assert_eq!(&table[10..18], &[5, 0, 21, 0, 0, 0, 1, 0]);
        assert_eq!(&table[18..24], b"ALPHA\0");
        let m = t.path_table(true);
        assert_eq!(&m[10..18], &[5, 0, 0, 0, 0, 21, 0, 1]);
    }

    #[test]
    fn names_colliding_after_mapping_are_rejected() {
        let mut w = IsoWriter::new("T");
        w.add_file("/docs/Readme.txt", FileSource::zeros(1))
            .unwrap();
        w.add_file("/docs/README.TXT", FileSource::zeros(1))
            .unwrap();
        let e = tree(&w, Flavour::Iso).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            e.message(),
            "`/docs/README.TXT` and `/docs/Readme.txt` both map to the ISO9660 name \
             `README.TXT;1`; rename one of them"
        );
        // Joliet keeps case, so the same names are fine there.
        tree(&w, Flavour::Joliet).unwrap();

        let mut w = IsoWriter::new("T");
        w.add_dir("/a-b").unwrap();
        w.add_dir("/a_b").unwrap();
        assert!(tree(&w, Flavour::Iso).is_err());
        let mut w = IsoWriter::new("T");
        w.add_dir(&format!("/{}1", "x".repeat(64))).unwrap();
        w.add_dir(&format!("/{}2", "x".repeat(64))).unwrap();
        let e = tree(&w, Flavour::Joliet).unwrap_err();
        assert!(e.message().contains("Joliet name"), "{e}");
    }

    #[test]
    fn records_never_cross_a_sector() {
        let mut w = IsoWriter::new("T");
        for i in 0..300 {
            w.add_file(&format!("/many/file{i:03}.dat"), FileSource::zeros(0))
                .unwrap();
        }
        let mut t = tree(&w, Flavour::Iso).unwrap();
        t.assign_dirs(30);
        let many = &t.dirs[1];
        // 300 records of 46 bytes: 44 per sector, 7 sectors with . and ..
        assert_eq!(many.size, 7 * 2048);
        let files = vec![(99u32, 0u32); 300];
        let ext = t.dir_extent(1, &files, Timestamp::DEFAULT);
        let mut count = 0;
        for sector in ext.chunks(SECTOR) {
            let mut at = 0;
            while at < SECTOR && sector[at] != 0 {
                let len = sector[at] as usize;
                assert!(at + len <= SECTOR);
                count += 1;
                at += len;
            }
        }
        assert_eq!(count, 302);
        assert_eq!(&ext[33..34], &[0]);
        assert_eq!(
            &ext[34 + 2..34 + 6],
            &30u32.to_le_bytes(),
            "`..` is the root"
        );
    }
}
