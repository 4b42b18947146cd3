//! Bookkeeping of a tree walk: the capped anomaly log and the overlap check
//! over every extent the walk saw.

use super::MAX_ANOMALIES_PER_ID;
use crate::types::{Anomaly, FileEntry, FileKind, Severity};

/// Collects anomalies, keeping at most [`MAX_ANOMALIES_PER_ID`] per id; the
/// rest of an id are counted into one summary anomaly (whose
/// [`Anomaly::unlisted`] says how many). A summary pushed in (from another
/// log) adds its count, so logs can be merged and capped again.
#[derive(Debug, Default)]
pub(crate) struct AnomalyLog {
    kept: Vec<Anomaly>,
    counts: Vec<IdCount>,
}

#[derive(Debug)]
struct IdCount {
    id: String,
    /// Anomalies of this id pushed with their text.
    seen: usize,
    /// Anomalies counted without text (summaries, `count_unlisted`).
    unlisted: u64,
    severity: Severity,
}

impl AnomalyLog {
    fn count(&mut self, id: &str, severity: Severity) -> &mut IdCount {
        let i = match self.counts.iter().position(|c| c.id == id) {
            Some(i) => i,
            None => {
                self.counts.push(IdCount {
                    id: id.to_owned(),
                    seen: 0,
                    unlisted: 0,
                    severity,
                });
                self.counts.len() - 1
            }
        };
        let c = &mut self.counts[i];
        c.severity = c.severity.max(severity);
        c
    }

    pub fn push(&mut self, a: Anomaly) {
        if a.unlisted > 0 {
            let n = a.unlisted;
            self.count(&a.id, a.severity).unlisted += n;
            return;
        }
        let c = self.count(&a.id, a.severity);
        c.seen += 1;
        if c.seen <= MAX_ANOMALIES_PER_ID {
            self.kept.push(a);
        }
    }

    /// Counts `n` more anomalies of `id` without their text, for callers
    /// that stopped building messages past the cap.
    pub fn count_unlisted(&mut self, id: &str, severity: Severity, n: usize) {
        if n == 0 {
            return;
        }
        self.count(id, severity).unlisted += n as u64;
    }

    pub fn finish(mut self) -> Vec<Anomaly> {
        for c in self.counts {
            let over = c.seen.saturating_sub(MAX_ANOMALIES_PER_ID) as u64;
            let more = over.saturating_add(c.unlisted);
            if more > 0 {
                let mut a = Anomaly::new(
                    &c.id,
                    c.severity,
                    format!("{more} more anomalies like the above were not listed"),
                );
                a.unlisted = more;
                self.kept.push(a);
            }
        }
        self.kept
    }
}

/// Keeps at most [`MAX_ANOMALIES_PER_ID`] anomalies of each id (in order),
/// the rest counted in one summary per id placed after them.
pub(crate) fn cap_per_id(anomalies: Vec<Anomaly>) -> Vec<Anomaly> {
    let mut log = AnomalyLog::default();
    for a in anomalies {
        log.push(a);
    }
    log.finish()
}

/// Id of the root directory in [`Spans`]; entry `n` of a walk (0-based, in
/// the order the walk hands them out) has id `n + 1`.
pub(super) const ROOT_ID: u32 = 0;

/// One run of bytes some entry's data occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Span {
    start: u64,
    end: u64,
    is_dir: bool,
    id: u32,
}

/// Where file and directory data lie, for the overlap check.
///
/// Only the byte runs and an entry id are kept (24 bytes an extent), not
/// the paths: a walk of a million entries would otherwise hold a second
/// copy of every path. The few entries an overlap names are looked up by id
/// once the walk is over ([`Overlaps::report`]).
#[derive(Debug, Default)]
pub(super) struct Spans {
    spans: Vec<Span>,
}

impl Spans {
    /// Records the data of `e`, whose id is `id`.
    pub(super) fn add(&mut self, e: &FileEntry, id: u32) {
        let is_dir = e.kind == FileKind::Directory;
        for x in e.extents.iter().filter(|x| x.size > 0) {
            self.spans.push(Span {
                start: x.offset(),
                end: x.end(),
                is_dir,
                id,
            });
        }
    }

    /// Partial overlaps and file-vs-directory overlaps. Identical file
    /// extents are hard links (xorriso deduplicates identical files), and
    /// identical directory extents are the same directory reached twice
    /// (reported by the walk as a loop).
    pub(super) fn check(mut self) -> Overlaps {
        self.spans.sort_unstable();
        let mut out = Overlaps::default();
        let mut widest: Option<Span> = None;
        for &s in &self.spans {
            let Some(w) = widest else {
                widest = Some(s);
                continue;
            };
            let same = s.start == w.start && s.end == w.end;
            let linked = same && s.is_dir == w.is_dir;
            if s.start < w.end && s.id != w.id && !linked {
                if out.found.len() < MAX_ANOMALIES_PER_ID {
                    out.found.push((w, s));
                } else {
                    out.more += 1;
                }
            }
            if s.end > w.end {
                widest = Some(s);
            }
        }
        out
    }
}

/// What [`Spans::check`] found: the first overlaps (as many as an anomaly
/// id keeps) and how many more there were.
#[derive(Debug, Default)]
pub(super) struct Overlaps {
    found: Vec<(Span, Span)>,
    more: usize,
}

impl Overlaps {
    /// The entry ids the reported overlaps name, root excluded.
    pub(super) fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.found
            .iter()
            .flat_map(|(a, b)| [a.id, b.id])
            .filter(|&id| id != ROOT_ID)
    }

    /// Logs one anomaly per overlap, naming entries through `name` (by id;
    /// `None` when the entry is not known) and counting the rest.
    pub(super) fn report(self, log: &mut AnomalyLog, name: &dyn Fn(u32) -> Option<String>) {
        let name = |id: u32| match id {
            ROOT_ID => "/".to_owned(),
            id => name(id).unwrap_or_else(|| format!("entry {id} of the walk")),
        };
        for (w, s) in self.found {
            let what = if s.is_dir || w.is_dir {
                "a file and a directory"
            } else {
                "two files"
            };
            log.push(Anomaly::new(
                OVERLAP_ID,
                Severity::Error,
                format!(
                    "{what} share bytes: {} (bytes {}-{}) and {} (bytes {}-{})",
                    name(w.id),
                    w.start,
                    w.end,
                    name(s.id),
                    s.start,
                    s.end
                ),
            ));
        }
        log.count_unlisted(OVERLAP_ID, Severity::Error, self.more);
    }
}

const OVERLAP_ID: &str = "tree.overlapping-extents";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Extent;

    fn entry(path: &str, kind: FileKind, extents: &[(u64, u64)]) -> FileEntry {
        FileEntry {
            path: path.to_owned(),
            kind,
            size: extents.iter().map(|x| x.1).sum(),
            extents: extents
                .iter()
                .map(|&(lba, size)| Extent { lba, size })
                .collect(),
            hidden: false,
            associated: false,
            mode: None,
            symlink_target: None,
            relocated_from: None,
        }
    }

    fn overlaps(entries: &[FileEntry]) -> Vec<String> {
        let mut spans = Spans::default();
        for (i, e) in entries.iter().enumerate() {
            spans.add(e, i as u32 + 1);
        }
        let mut log = AnomalyLog::default();
        let name = |id: u32| entries.get(id as usize - 1).map(|e| e.path.clone());
        spans.check().report(&mut log, &name);
        log.finish().into_iter().map(|a| a.message).collect()
    }

    #[test]
    fn hard_links_and_empty_files_are_not_overlaps() {
        let v = overlaps(&[
            entry("/a", FileKind::File, &[(100, 5000)]),
            entry("/b", FileKind::File, &[(100, 5000)]),
            entry("/c", FileKind::File, &[(100, 0)]),
            entry("/d", FileKind::Directory, &[(50, 2048)]),
            entry("/big", FileKind::File, &[(200, 2048), (201, 10)]),
        ]);
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn partial_and_file_directory_overlaps() {
        let v = overlaps(&[
            entry("/a", FileKind::File, &[(100, 5000)]),
            entry("/b", FileKind::File, &[(101, 10)]),
            entry("/d", FileKind::Directory, &[(300, 2048)]),
            entry("/e", FileKind::File, &[(300, 2048)]),
        ]);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].starts_with("two files share bytes: /a"), "{v:?}");
        assert!(v[1].starts_with("a file and a directory"), "{v:?}");
    }

    #[test]
    fn anomaly_log_caps_each_id() {
        let mut log = AnomalyLog::default();
        for _ in 0..MAX_ANOMALIES_PER_ID + 7 {
            log.push(Anomaly::new("x", Severity::Warn, "m"));
        }
        log.push(Anomaly::new("y", Severity::Info, "m"));
        let v = log.finish();
        assert_eq!(v.len(), MAX_ANOMALIES_PER_ID + 2);
        assert!(v.last().unwrap().message.starts_with("7 more"));
    }
}
