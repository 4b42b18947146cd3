//! One directory, listed: records decoded, named for a namespace, Rock Ridge
//! applied, multi-extent sections merged.
//!
//! This is the piece the tree walk and the path lookup share. A directory
//! costs one positioned read of its extent (bounded by
//! [`MAX_DIR_BYTES`](crate::tree::MAX_DIR_BYTES)); every record becomes a
//! [`Child`] holding the finished [`FileEntry`], handed to a sink as soon as
//! it is complete. Nothing collects a directory's children: a hostile
//! directory of millions of records costs only what the sink keeps, and a
//! sink that has what it wants (a lookup's match, a walk at its limit) stops
//! the listing.

use std::ops::ControlFlow;

use std::sync::Arc;

use crate::budget::{DirCache, ImageShared};
use crate::bytes::{read_up_to, ucs2_text};
use crate::directory::{DirectoryRecord, RecordIter};
use crate::error::{Error, Result};
use crate::rockridge::RockRidge;
use crate::source::ReadAt;
use crate::susp::SuspReader;
use crate::tree::{AnomalyLog, MAX_DIR_BYTES, MAX_SECTIONS_PER_FILE, MAX_TOTAL_DIR_BYTES};
use crate::types::{Anomaly, Extent, FileEntry, FileKind, Namespace, Severity, SECTOR_SIZE};

/// A directory still to be listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DirRef {
    /// Where its records are. For a Rock Ridge `CL` link the size is only
    /// known once the target's "." record has been read.
    pub extent: Extent,
    /// Reached through a Rock Ridge `CL` (deep-directory relocation).
    pub child_link: bool,
}

/// One listed entry.
#[derive(Debug)]
pub(crate) struct Child {
    pub entry: FileEntry,
    /// Byte index in `entry.path` where the entry's own name starts.
    pub name_start: usize,
    /// The directory to descend into, for directories.
    pub dir: Option<DirRef>,
    /// Rock Ridge `RE`: a relocated directory, shown elsewhere.
    pub relocated: bool,
}

impl Child {
    pub fn name(&self) -> &str {
        self.entry.path.get(self.name_start..).unwrap_or("")
    }
}

/// Where [`Lister::list`] hands each child; the log is the listing's own, so
/// the sink can report what it decides.
pub(crate) type Sink<'s> = dyn FnMut(Child, &mut AnomalyLog) -> ControlFlow<()> + 's;

/// Counts from one listing.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ListStats {
    /// Records other than "." and "..".
    pub records: usize,
    /// Of those, records marked `RE` (Rock Ridge only).
    pub relocated: usize,
}

/// The reading side of a tree walk: the source, the namespace and the
/// reusable buffers.
pub(crate) struct Lister<'a> {
    pub src: &'a dyn ReadAt,
    pub file_size: u64,
    pub ns: Namespace,
    /// The `SP` skip length, for the Rock Ridge namespace.
    pub susp_skip: usize,
    pub susp: SuspReader<'a>,
    /// The directory being listed (shared with the image's cache when big).
    buf: Arc<Vec<u8>>,
    dir_cache: &'a DirCache,
    scratch: Vec<Anomaly>,
    pub dir_bytes_read: u64,
}

impl std::fmt::Debug for Lister<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lister")
            .field("file_size", &self.file_size)
            .field("ns", &self.ns)
            .field("dir_bytes_read", &self.dir_bytes_read)
            .finish_non_exhaustive()
    }
}

/// ISO9660 name without the `;N` version and a trailing `.`.
pub(crate) fn iso_name(raw: &[u8]) -> String {
    let base = match raw.iter().position(|&c| c == b';') {
        Some(p) => raw.get(..p).unwrap_or(raw),
        None => raw,
    };
    let base = base.strip_suffix(b".").unwrap_or(base);
    String::from_utf8_lossy(base).into_owned()
}

/// Joliet name: UCS-2 big-endian without the `;N` version.
fn joliet_name(raw: &[u8]) -> String {
    let mut s = ucs2_text(raw);
    if let Some(p) = s.rfind(';') {
        if s[p + 1..].bytes().all(|c| c.is_ascii_digit()) {
            s.truncate(p);
        }
    }
    s
}

/// Whether a raw Joliet name decodes as UTF-16 big-endian without loss.
fn joliet_valid(raw: &[u8]) -> bool {
    raw.len().is_multiple_of(2)
        && char::decode_utf16(
            raw.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]])),
        )
        .all(|r| r.is_ok())
}

/// A name's hash, for the duplicate check (a hash, not the name, so a
/// directory of millions of records costs 8 bytes a name).
fn name_hash(name: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(name)
}

impl<'a> Lister<'a> {
    pub fn new(
        src: &'a dyn ReadAt,
        file_size: u64,
        ns: Namespace,
        susp_skip: usize,
        shared: &'a ImageShared,
    ) -> Self {
        Lister {
            src,
            file_size,
            ns,
            susp_skip,
            susp: SuspReader::with_budget(src, file_size, &shared.susp),
            buf: Arc::default(),
            dir_cache: &shared.dir_cache,
            scratch: Vec::new(),
            dir_bytes_read: 0,
        }
    }

    /// Reads a directory extent into `buf`, bounded; reports what is cut.
    fn read_extent(&mut self, ext: Extent, path: &str, log: &mut AnomalyLog) -> Result<()> {
        let mut want = ext.size;
        if want > MAX_DIR_BYTES {
            log.push(Anomaly::new(
                "tree.limit-exceeded",
                Severity::Error,
                format!("directory {path} is {want} bytes, more than the {MAX_DIR_BYTES}-byte limit; only the start is listed"),
            ));
            want = MAX_DIR_BYTES;
        }
        if self.dir_bytes_read.saturating_add(want) > MAX_TOTAL_DIR_BYTES {
            log.push(Anomaly::new(
                "tree.limit-exceeded",
                Severity::Error,
                format!("directories total more than {MAX_TOTAL_DIR_BYTES} bytes; directory {path} is not listed"),
            ));
            want = 0;
        }
        self.dir_bytes_read = self.dir_bytes_read.saturating_add(want);
        let offset = ext.offset();
        let end = offset.saturating_add(want);
        if end > self.file_size {
            log.push(Anomaly::new(
                "tree.extent-past-end",
                Severity::Error,
                format!(
                    "directory {path} (block {}, {} bytes) ends {} bytes past the end of the image",
                    ext.lba,
                    ext.size,
                    end - self.file_size
                ),
            ));
            want = self.file_size.saturating_sub(offset).min(want);
        }
        if let Some(hit) = self.dir_cache.get(offset, want) {
            self.buf = hit;
            return Ok(());
        }
        if Arc::get_mut(&mut self.buf).is_none() {
            self.buf = Arc::default();
        }
        let buf = Arc::make_mut(&mut self.buf);
        buf.clear();
        buf.resize(want as usize, 0);
        let n = read_up_to(self.src, buf, offset)
            .map_err(|e| Error::io(format!("reading directory {path}"), offset, e))?;
        buf.truncate(n);
        self.dir_cache.offer(offset, want, &self.buf);
        Ok(())
    }

    /// Reads the first record ("." ) of the directory at `lba`, for a Rock
    /// Ridge `CL` target: returns its extent and mode.
    pub fn dot_record(
        &mut self,
        lba: u64,
        path: &str,
        log: &mut AnomalyLog,
    ) -> Result<Option<(Extent, Option<u32>)>> {
        let ext = Extent {
            lba,
            size: SECTOR_SIZE,
        };
        self.read_extent(ext, path, log)?;
        let buf = std::mem::take(&mut self.buf);
        let mut out = None;
        if let Some((_, Ok(r))) = RecordIter::new(&buf).next() {
            if r.is_dot() {
                let mut mode = None;
                if self.ns == Namespace::RockRidge {
                    let rr = self.rock_ridge(&r, path, log)?;
                    mode = rr.mode;
                }
                out = Some((
                    Extent {
                        lba,
                        size: u64::from(r.data_length),
                    },
                    mode,
                ));
            }
        }
        self.buf = buf;
        Ok(out)
    }

    fn rock_ridge(
        &mut self,
        r: &DirectoryRecord<'_>,
        path: &str,
        log: &mut AnomalyLog,
    ) -> Result<RockRidge> {
        let rr = RockRidge::read(
            &mut self.susp,
            r.system_use,
            self.susp_skip,
            &mut self.scratch,
        )?;
        if !self.scratch.is_empty() {
            let who = if r.is_dot() {
                String::new()
            } else {
                format!(" (record {})", iso_name(r.name))
            };
            for mut a in self.scratch.drain(..) {
                a.message = format!("directory {path}{who}: {}", a.message);
                log.push(a);
            }
        }
        Ok(rr)
    }

    /// Lists the directory at `dir` (whose path is `dir_path`), handing each
    /// child to `sink` in record order (a multi-extent file once, when its
    /// last section is read) until the sink breaks. The stats count the
    /// records seen up to then.
    pub fn list(
        &mut self,
        dir: Extent,
        dir_path: &str,
        log: &mut AnomalyLog,
        sink: &mut Sink<'_>,
    ) -> Result<ListStats> {
        self.read_extent(dir, dir_path, log)?;
        let buf = std::mem::take(&mut self.buf);
        let result = self.list_buf(&buf, dir, dir_path, log, sink);
        self.buf = buf;
        result
    }

    fn list_buf(
        &mut self,
        buf: &[u8],
        dir: Extent,
        dir_path: &str,
        log: &mut AnomalyLog,
        out: &mut Sink<'_>,
    ) -> Result<ListStats> {
        let mut stats = ListStats::default();
        // A multi-extent file in progress, with its raw identifier.
        let mut pending: Option<(Child, Vec<u8>)> = None;
        // Joliet names seen in this directory (hashes), for duplicates.
        let mut names: std::collections::HashSet<u64> = std::collections::HashSet::new();
        for (pos, item) in RecordIter::new(buf) {
            let r = match item {
                Ok(r) => r,
                Err(e) => {
                    log.push(Anomaly::new(
                        "tree.bad-record",
                        Severity::Warn,
                        format!(
                            "directory {dir_path}: {e} (byte {pos} of the directory at block {}); the rest of that sector is skipped",
                            dir.lba
                        ),
                    ));
                    continue;
                }
            };
            if r.is_dot() || r.is_dotdot() {
                continue;
            }
            stats.records += 1;
            if let Some((mut p, raw)) = pending.take() {
                if raw == r.name
                    && p.entry.associated == r.flags.associated()
                    && !r.flags.directory()
                {
                    let ext = r.data_extent();
                    if p.entry.extents.len() < MAX_SECTIONS_PER_FILE {
                        p.entry.size = p.entry.size.saturating_add(ext.size);
                        p.entry.extents.push(ext);
                    } else if p.entry.extents.len() == MAX_SECTIONS_PER_FILE {
                        log.push(Anomaly::new(
                            "tree.multi-extent-limit",
                            Severity::Error,
                            format!(
                                "{} has more than {MAX_SECTIONS_PER_FILE} sections; the rest are ignored",
                                p.entry.path
                            ),
                        ));
                        // One past the cap marks the anomaly as reported;
                        // `capped` drops it before the entry is handed out.
                        p.entry.extents.push(ext);
                    }
                    if r.flags.multi_extent() {
                        pending = Some((p, raw));
                    } else if out(capped(p), log).is_break() {
                        return Ok(stats);
                    }
                    continue;
                }
                unterminated(&p, log);
                if out(capped(p), log).is_break() {
                    return Ok(stats);
                }
            }
            let child = self.child(&r, dir_path, log)?;
            if self.ns == Namespace::Joliet && !names.insert(name_hash(child.name())) {
                log.push(Anomaly::new(
                    "joliet.duplicate-name",
                    Severity::Warn,
                    format!(
                        "directory {dir_path} holds more than one Joliet entry named {:?}; each is listed, and a path lookup finds the first",
                        child.name()
                    ),
                ));
            }
            if child.relocated {
                stats.relocated += 1;
            }
            if r.flags.multi_extent() && !r.flags.directory() {
                pending = Some((child, r.name.to_vec()));
            } else if out(child, log).is_break() {
                return Ok(stats);
            }
        }
        if let Some((p, _)) = pending {
            unterminated(&p, log);
            // The listing ends here either way.
            let _ = out(capped(p), log);
        }
        Ok(stats)
    }

    fn child(
        &mut self,
        r: &DirectoryRecord<'_>,
        dir_path: &str,
        log: &mut AnomalyLog,
    ) -> Result<Child> {
        let mut rr = None;
        let mut name = match self.ns {
            Namespace::Joliet => {
                if !joliet_valid(r.name) {
                    log.push(Anomaly::new(
                        "joliet.invalid-name",
                        Severity::Warn,
                        format!(
                            "directory {dir_path} holds a Joliet name that is not valid UTF-16 (an odd byte count or an unpaired surrogate); it is listed as {:?}, with U+FFFD for what cannot be decoded",
                            joliet_name(r.name)
                        ),
                    ));
                }
                joliet_name(r.name)
            }
            Namespace::Iso9660 => iso_name(r.name),
            // Past the image's SUSP budget nothing is parsed: the ISO9660
            // name, without building an empty Rock Ridge record each time.
            Namespace::RockRidge if self.susp.budget_exceeded() => iso_name(r.name),
            Namespace::RockRidge => {
                let mut info = self.rock_ridge(r, dir_path, log)?;
                let n = info.name.take().unwrap_or_else(|| iso_name(r.name));
                rr = Some(info);
                n
            }
        };
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            log.push(Anomaly::new(
                "tree.bad-name",
                Severity::Warn,
                format!("directory {dir_path} holds an entry named {name:?}, which cannot be a path component; it is listed with '_' instead"),
            ));
            name = name.replace(['/', '\0'], "_");
            if name.is_empty() || name == "." || name == ".." {
                name.push('_');
            }
        }
        if r.both_endian_mismatch {
            log.push(Anomaly::new(
                "tree.both-endian-mismatch",
                Severity::Warn,
                format!("directory {dir_path}: the little- and big-endian copies of a field of the record for {name} differ; the little-endian value is used"),
            ));
        }
        let mut path = String::with_capacity(dir_path.len() + 1 + name.len());
        path.push_str(dir_path);
        if !dir_path.ends_with('/') {
            path.push('/');
        }
        let name_start = path.len();
        path.push_str(&name);
        let ext = r.data_extent();
        let mut kind = if r.flags.directory() {
            FileKind::Directory
        } else {
            FileKind::File
        };
        let mut dir = r.flags.directory().then_some(DirRef {
            extent: ext,
            child_link: false,
        });
        let mut entry = FileEntry {
            path,
            kind: FileKind::File,
            size: ext.size,
            extents: vec![ext],
            hidden: r.flags.hidden(),
            associated: r.flags.associated(),
            mode: None,
            symlink_target: None,
            relocated_from: None,
        };
        let mut relocated = false;
        if let Some(rr) = rr {
            entry.mode = rr.mode;
            relocated = rr.relocated;
            if let Some(lba) = rr.child_link {
                kind = FileKind::Directory;
                dir = Some(DirRef {
                    extent: Extent {
                        lba: u64::from(lba),
                        size: 0,
                    },
                    child_link: true,
                });
            } else if rr.symlink_target.is_some() || rr.is_symlink() {
                kind = FileKind::Symlink;
                entry.symlink_target = rr.symlink_target;
            } else if rr.is_special() && !r.flags.directory() {
                kind = FileKind::Special;
            }
        }
        entry.kind = kind;
        if entry.kind != FileKind::Directory {
            dir = None;
        }
        Ok(Child {
            entry,
            name_start,
            dir,
            relocated,
        })
    }
}

/// A multi-extent file without the marker section past the cap.
fn capped(mut p: Child) -> Child {
    p.entry.extents.truncate(MAX_SECTIONS_PER_FILE);
    p
}

fn unterminated(p: &Child, log: &mut AnomalyLog) {
    log.push(Anomaly::new(
        "tree.multi-extent-unterminated",
        Severity::Warn,
        format!(
            "{} has the multi-extent flag on its last record ({} sections); the sections read are kept",
            p.entry.path,
            p.entry.extents.len().min(MAX_SECTIONS_PER_FILE)
        ),
    ));
}

#[cfg(test)]
mod tests;
