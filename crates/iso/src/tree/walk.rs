//! The depth-first walk behind [`TreeReader::files`] and [`TreeReader::walk`].
//!
//! Each directory is listed straight into the walk: a file is handed to the
//! caller as soon as its record is decoded, a subdirectory waits on the
//! stack, so memory holds the caller's entries and the pending directories,
//! never a whole directory's children at once. A directory's own entry is
//! handed out just before its first child, because only then is it known not
//! to be the Rock Ridge relocation directory (whose records are all `RE`).
//!
//! The walk keeps, for the overlap check, each extent's byte range and the
//! entry's number in the walk ([`Spans`]); paths are only produced for the
//! overlaps it reports, from the caller's entries or by a second walk.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::ControlFlow;

use super::checks::{Spans, ROOT_ID};
use super::{TreeReader, MAX_DEPTH, MAX_DIR_BYTES, MAX_ENTRIES, MAX_TOTAL_PATH_BYTES};
use crate::error::Result;
use crate::listing::{Child, DirRef};
use crate::tree::AnomalyLog;
use crate::types::{Anomaly, FileEntry, Namespace, Severity};

/// A directory waiting to be listed during a walk.
struct Pending {
    entry: Option<FileEntry>,
    dir: DirRef,
    depth: usize,
}

/// What a walk found besides the entries it handed out.
pub(super) struct Walked {
    pub(super) log: AnomalyLog,
    pub(super) spans: Spans,
}

/// The state one directory's listing updates.
struct Walk<'f> {
    f: &'f mut dyn FnMut(FileEntry) -> ControlFlow<()>,
    spans: Spans,
    /// Entries handed out so far.
    count: u64,
    /// Entries plus the extra sections of multi-extent files: what
    /// [`MAX_ENTRIES`] limits, since every section costs memory and output.
    items: u64,
    path_bytes: u64,
    visited: HashSet<u64>,
    /// Subdirectories of the directory being listed, in record order.
    subdirs: Vec<Pending>,
    /// The listed directory's own entry, until it is handed out.
    own: Option<FileEntry>,
    depth: usize,
    rock_ridge: bool,
    file_size: u64,
}

impl Walk<'_> {
    /// Hands `e` out; `spans`: its extents join the overlap check (not for
    /// a directory that is not followed: its extent is another directory's
    /// or was never read).
    fn emit(&mut self, e: FileEntry, spans: bool) -> ControlFlow<()> {
        if spans {
            // `count` stays below MAX_ENTRIES (one million), so ids fit.
            let id = u32::try_from(self.count + 1).unwrap_or(u32::MAX);
            self.spans.add(&e, id);
        }
        self.count += 1;
        self.items += e.extents.len().max(1) as u64;
        (self.f)(e)
    }

    fn child(&mut self, c: Child, log: &mut AnomalyLog) -> ControlFlow<()> {
        if self.rock_ridge && c.relocated {
            return ControlFlow::Continue(());
        }
        if let Some(own) = self.own.take() {
            self.emit(own, true)?;
        }
        self.path_bytes = self.path_bytes.saturating_add(c.entry.path.len() as u64);
        let items = c.entry.extents.len().max(1) as u64;
        if self.items.saturating_add(items) > MAX_ENTRIES || self.path_bytes > MAX_TOTAL_PATH_BYTES
        {
            log.push(Anomaly::new(
                "tree.limit-exceeded",
                Severity::Error,
                format!(
                    "the tree has more than {MAX_ENTRIES} entries and file sections or {MAX_TOTAL_PATH_BYTES} bytes of paths; the walk stops there"
                ),
            ));
            return ControlFlow::Break(());
        }
        let Some(dir) = c.dir else {
            check_end(self.file_size, &c.entry, log);
            return self.emit(c.entry, true);
        };
        if self.depth + 1 > MAX_DEPTH {
            log.push(Anomaly::new(
                "tree.limit-exceeded",
                Severity::Error,
                format!(
                    "{} is deeper than {MAX_DEPTH} levels; its contents are not listed",
                    c.entry.path
                ),
            ));
        } else if !self.visited.insert(dir.extent.lba) {
            log.push(Anomaly::new(
                "tree.directory-loop",
                Severity::Error,
                format!(
                    "directory {} points at block {}, a directory already listed (itself, an ancestor or another directory); not followed",
                    c.entry.path, dir.extent.lba
                ),
            ));
        } else {
            self.subdirs.push(Pending {
                entry: Some(c.entry),
                dir,
                depth: self.depth + 1,
            });
            return ControlFlow::Continue(());
        }
        self.emit(c.entry, false)
    }
}

/// The byte ranges of the directories listed in a walk (disjoint, by
/// start). A directory whose records overlap one already listed is not
/// listed: its records are another directory's, and listing them again is
/// how a few MB of crafted directories become gigabytes of entries.
#[derive(Default)]
struct Listed {
    ranges: BTreeMap<u64, u64>,
}

impl Listed {
    /// The bytes of `ext` the lister reads (at most [`MAX_DIR_BYTES`]).
    fn span(ext: crate::types::Extent) -> (u64, u64) {
        let start = ext.offset();
        (start, start.saturating_add(ext.size.min(MAX_DIR_BYTES)))
    }

    /// A listed range that `ext` overlaps, if any.
    fn overlap(&self, ext: crate::types::Extent) -> Option<(u64, u64)> {
        let (start, end) = Self::span(ext);
        if start == end {
            return None;
        }
        // Ranges are disjoint, so the last one starting before `end` reaches
        // furthest.
        let (&s, &e) = self.ranges.range(..end).next_back()?;
        (e > start).then_some((s, e))
    }

    fn insert(&mut self, ext: crate::types::Extent) {
        let (start, end) = Self::span(ext);
        if start < end {
            self.ranges.insert(start, end);
        }
    }
}

fn check_end(file_size: u64, e: &FileEntry, log: &mut AnomalyLog) {
    for x in &e.extents {
        if x.size > 0 && x.end() > file_size {
            log.push(Anomaly::new(
                "tree.extent-past-end",
                Severity::Error,
                format!(
                    "{} (block {}, {} bytes) ends {} bytes past the end of the image",
                    e.path,
                    x.lba,
                    x.size,
                    x.end() - file_size
                ),
            ));
        }
    }
}

impl TreeReader<'_> {
    /// Walks the tree, handing every entry to `f` until it breaks.
    pub(super) fn walk_inner(
        &mut self,
        f: &mut dyn FnMut(FileEntry) -> ControlFlow<()>,
    ) -> Result<Walked> {
        let mut log = AnomalyLog::default();
        let mut w = Walk {
            f,
            spans: Spans::default(),
            count: 0,
            items: 0,
            path_bytes: 0,
            visited: HashSet::from([self.root.lba]),
            subdirs: Vec::new(),
            own: None,
            depth: 0,
            rock_ridge: self.lister.ns == Namespace::RockRidge,
            file_size: self.lister.file_size,
        };
        w.spans.add(&self.root_entry(), ROOT_ID);
        let mut listed = Listed::default();
        let mut stack = vec![Pending {
            entry: None,
            dir: DirRef {
                extent: self.root,
                child_link: false,
            },
            depth: 0,
        }];
        while let Some(p) = stack.pop() {
            let mut entry = p.entry;
            let mut extent = p.dir.extent;
            if p.dir.child_link {
                if let Some(e) = entry.as_mut() {
                    extent = self.resolve_child_link(e, extent.lba, &mut log)?;
                }
            }
            let path = entry.as_ref().map_or("/", |e| e.path.as_str()).to_owned();
            if let Some(other) = listed.overlap(extent) {
                log.push(Anomaly::new(
                    "tree.directory-overlap",
                    Severity::Error,
                    format!(
                        "directory {path} (bytes {}..{}) overlaps the directory at bytes {}..{}, already listed; not listed",
                        extent.offset(),
                        extent.end(),
                        other.0,
                        other.1
                    ),
                ));
                if let Some(own) = entry {
                    if w.emit(own, false).is_break() {
                        break;
                    }
                }
                continue;
            }
            listed.insert(extent);
            w.own = entry;
            w.depth = p.depth;
            w.subdirs.clear();
            let mut stopped = false;
            let stats = self.lister.list(extent, &path, &mut log, &mut |c, log| {
                let flow = w.child(c, log);
                stopped = flow.is_break();
                flow
            })?;
            if stopped {
                break;
            }
            if let Some(own) = w.own.take() {
                // Nothing shown in it: an empty directory is listed, the
                // relocation directory (every record `RE`) is not.
                let relocation_dir =
                    w.rock_ridge && stats.records > 0 && stats.relocated == stats.records;
                if !relocation_dir && w.emit(own, true).is_break() {
                    break;
                }
            }
            stack.extend(w.subdirs.drain(..).rev());
        }
        Ok(Walked {
            log,
            spans: w.spans,
        })
    }

    /// The paths of the entries numbered `ids` in a walk, found by walking
    /// again (for [`TreeReader::walk`], whose caller keeps no entries). The
    /// second walk gets the same directory-byte budget as the first.
    pub(super) fn names_by_id(
        &mut self,
        ids: &BTreeSet<u32>,
        dir_bytes_budget_used: u64,
    ) -> Result<HashMap<u32, String>> {
        let mut names = HashMap::new();
        let Some(&last) = ids.last() else {
            return Ok(names);
        };
        self.lister.dir_bytes_read = dir_bytes_budget_used;
        let mut id = ROOT_ID;
        self.walk_inner(&mut |e| {
            id += 1;
            if ids.contains(&id) {
                names.insert(id, e.path);
            }
            if id >= last {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MAX_ANOMALIES_PER_ID, MAX_ENTRIES};
    use crate::directory::{build_record, FileFlags};
    use crate::image::IsoImage;
    use crate::testimg::TestImage;
    use crate::types::{Anomaly, Namespace};
    use std::ops::ControlFlow;

    fn ids(a: &[Anomaly]) -> Vec<&str> {
        a.iter().map(|a| a.id.as_str()).collect()
    }

    #[test]
    fn files_before_subdirectories_and_empty_directories_listed() {
        let mut t = TestImage::new();
        let d = t.dir(0, b"D", &[], 1);
        t.dir(0, b"EMPTY", &[], 1);
        t.file(d, b"IN.;1", b"x", &[]);
        t.file(0, b"TOP.;1", b"y", &[]);
        let iso = IsoImage::open(t.build()).unwrap();
        let tree = iso.files(Namespace::Iso9660).unwrap();
        let paths: Vec<_> = tree.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/TOP", "/D", "/D/IN", "/EMPTY"]);
        assert!(tree.anomalies.is_empty(), "{:?}", tree.anomalies);
    }

    #[test]
    fn walk_names_overlapping_entries_by_walking_again() {
        let mut t = TestImage::new();
        let lba = t.blob(&[1u8; 4096]);
        let d = t.dir(0, b"D", &[], 1);
        t.record(d, build_record(lba, 4096, 0, b"A.;1", &[]));
        t.record(0, build_record(lba + 1, 100, 0, b"PARTIAL.;1", &[]));
        let iso = IsoImage::open(t.build()).unwrap();
        let mut seen = 0;
        let anomalies = iso
            .walk(Namespace::Iso9660, &mut |_| {
                seen += 1;
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(seen, 3);
        assert_eq!(ids(&anomalies), ["tree.overlapping-extents"]);
        let msg = &anomalies[0].message;
        assert!(
            msg.contains("/D/A (bytes") && msg.contains("/PARTIAL (bytes"),
            "{msg}"
        );
        assert_eq!(anomalies, iso.files(Namespace::Iso9660).unwrap().anomalies);
    }

    #[test]
    fn overlaps_past_the_cap_are_counted() {
        let mut t = TestImage::new();
        let lba = t.blob(&[1u8; 4096]);
        let n = MAX_ANOMALIES_PER_ID + 5;
        let d = t.dir(0, b"D", &[], 4);
        t.record(d, build_record(lba, 4096, 0, b"WHOLE.;1", &[]));
        for i in 0..n {
            let name = format!("P{i}.;1");
            t.record(
                d,
                build_record(lba + 1, 10 + i as u32, 0, name.as_bytes(), &[]),
            );
        }
        let iso = IsoImage::open(t.build()).unwrap();
        let tree = iso.files(Namespace::Iso9660).unwrap();
        // WHOLE overlaps every P, and the Ps (different sizes) each other.
        let last = tree.anomalies.last().unwrap();
        assert_eq!(tree.anomalies.len(), MAX_ANOMALIES_PER_ID + 1);
        assert!(last
            .message
            .ends_with("more anomalies like the above were not listed"));
    }

    /// The review's `many.iso`: a root of millions of records (and
    /// subdirectories overlapping it). The walk hands out at most
    /// `MAX_ENTRIES` and never holds a whole directory's children.
    #[test]
    fn huge_directory_stops_at_the_entry_limit() {
        let per_sector = 2048 / 34;
        let records = MAX_ENTRIES as usize + 100;
        let sectors = records.div_ceil(per_sector) as u32 + 1;
        let mut t = TestImage::new();
        let blob = t.blob(b"x");
        let big = t.dir(0, b"BIG", &[], sectors);
        let big_lba = t.dir_lba(big);
        for k in 1..4 {
            let name = format!("D{k}");
            let r = build_record(
                big_lba + k,
                2048 * 8,
                FileFlags::DIRECTORY,
                name.as_bytes(),
                &[],
            );
            t.record(big, r);
        }
        for _ in 0..records {
            t.record(big, build_record(blob, 1, 0, b"A", &[]));
        }
        let iso = IsoImage::open(t.build()).unwrap();
        let tree = iso.files(Namespace::Iso9660).unwrap();
        assert_eq!(tree.entries.len() as u64, MAX_ENTRIES);
        assert_eq!(ids(&tree.anomalies), ["tree.limit-exceeded"]);
        let mut n = 0u64;
        iso.walk(Namespace::Iso9660, &mut |_| {
            n += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(n, MAX_ENTRIES);
    }
}
