//! Bookkeeping of a tree walk: the capped anomaly log and the overlap check
//! over every extent the walk saw.

use super::MAX_ANOMALIES_PER_ID;
use crate::types::{Anomaly, FileEntry, FileKind, Severity};

/// Collects anomalies, keeping at most [`MAX_ANOMALIES_PER_ID`] per id.
#[derive(Debug, Default)]
pub(crate) struct AnomalyLog {
    kept: Vec<Anomaly>,
    counts: Vec<(String, usize, Severity)>,
}

impl AnomalyLog {
    pub fn push(&mut self, a: Anomaly) {
        let n = match self.counts.iter_mut().find(|(id, ..)| *id == a.id) {
            Some((_, n, sev)) => {
                *n += 1;
                *sev = (*sev).max(a.severity);
                *n
            }
            None => {
                self.counts.push((a.id.clone(), 1, a.severity));
                1
            }
        };
        if n <= MAX_ANOMALIES_PER_ID {
            self.kept.push(a);
        }
    }

    pub fn finish(mut self) -> Vec<Anomaly> {
        for (id, n, sev) in self.counts {
            if n > MAX_ANOMALIES_PER_ID {
                let more = n - MAX_ANOMALIES_PER_ID;
                self.kept.push(Anomaly::new(
                    &id,
                    sev,
                    format!("{more} more anomalies like the above were not listed"),
                ));
            }
        }
        self.kept
    }
}

/// Where file and directory data lie, for the overlap check.
#[derive(Debug, Default)]
pub(super) struct Spans {
    spans: Vec<(u64, u64, bool, u32)>,
    paths: String,
    ranges: Vec<(u32, u32)>,
}

impl Spans {
    pub(super) fn add(&mut self, e: &FileEntry) {
        let is_dir = e.kind == FileKind::Directory;
        let id = self.ranges.len() as u32;
        let mut added = false;
        for x in &e.extents {
            if x.size > 0 {
                self.spans.push((x.offset(), x.end(), is_dir, id));
                added = true;
            }
        }
        if added {
            let start = self.paths.len() as u32;
            self.paths.push_str(&e.path);
            self.ranges.push((start, e.path.len() as u32));
        }
    }

    fn path(&self, id: u32) -> &str {
        let (s, n) = self.ranges.get(id as usize).copied().unwrap_or((0, 0));
        self.paths
            .get(s as usize..(s as usize).saturating_add(n as usize))
            .unwrap_or("?")
    }

    /// Partial overlaps and file-vs-directory overlaps. Identical file
    /// extents are hard links (xorriso deduplicates identical files).
    pub(super) fn check(mut self, log: &mut AnomalyLog) {
        self.spans.sort_unstable();
        let mut widest: Option<(u64, u64, bool, u32)> = None;
        for &s in &self.spans {
            if let Some(w) = widest {
                let same = s.0 == w.0 && s.1 == w.1;
                if s.0 < w.1 && s.3 != w.3 && !(same && !s.2 && !w.2) && !(same && s.2 && w.2) {
                    let what = if s.2 || w.2 {
                        "a file and a directory"
                    } else {
                        "two files"
                    };
                    log.push(Anomaly::new(
                        "tree.overlapping-extents",
                        Severity::Error,
                        format!(
                            "{what} share bytes: {} (bytes {}-{}) and {} (bytes {}-{})",
                            self.path(w.3),
                            w.0,
                            w.1,
                            self.path(s.3),
                            s.0,
                            s.1
                        ),
                    ));
                }
                if s.1 > w.1 {
                    widest = Some(s);
                }
            } else {
                widest = Some(s);
            }
        }
    }
}

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
        for e in entries {
            spans.add(e);
        }
        let mut log = AnomalyLog::default();
        spans.check(&mut log);
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
