//! Rock Ridge (RRIP, IEEE P1282): POSIX names, modes, links and deep
//! directories on top of the ISO9660 tree.
//!
//! [`RockRidge::read`] folds the SUSP entries of one directory record (its
//! continuation areas included, through [`SuspReader`]) into one struct:
//! `NM` names (joined across entries with the continue flag), `PX` mode and
//! ids, `PN` device numbers, `SL` symbolic-link targets (components joined
//! across entries and continuation areas), `TF` timestamps, and the
//! deep-directory relocation trio `CL` (this record stands for a directory
//! moved to the given block), `PL` (the parent a moved directory came from)
//! and `RE` (this record is a moved directory; hide it). Entries it does not
//! interpret (`ZF` beyond its header, `AL`, `SF`, ...) are remembered by
//! signature. Names and link targets are capped so a hostile chain cannot
//! grow them without bound.

use serde::{Deserialize, Serialize};

use crate::bytes::{both_u32, field, u8_at};
use crate::datetime::IsoDateTime;
use crate::error::Result;
use crate::susp::{ExtensionReference, SuspEntry, SuspReader};
use crate::types::Anomaly;

/// Longest Rock Ridge name kept, in bytes (Linux allows 255).
pub const MAX_NAME_BYTES: usize = 1024;
/// Longest symbolic-link target kept, in bytes (PATH_MAX).
pub const MAX_LINK_BYTES: usize = 4096;
const MAX_OTHER: usize = 16;

/// POSIX file type bits (`S_IFMT`) and the types Rock Ridge records.
pub mod mode {
    /// Mask of the file type bits.
    pub const S_IFMT: u32 = 0o170_000;
    /// Directory.
    pub const S_IFDIR: u32 = 0o040_000;
    /// Regular file.
    pub const S_IFREG: u32 = 0o100_000;
    /// Symbolic link.
    pub const S_IFLNK: u32 = 0o120_000;
}

/// Rock Ridge `TF` timestamps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timestamps {
    /// Creation.
    pub created: Option<IsoDateTime>,
    /// Last modification.
    pub modified: Option<IsoDateTime>,
    /// Last access.
    pub accessed: Option<IsoDateTime>,
    /// Last attribute change.
    pub attributes: Option<IsoDateTime>,
    /// Last backup.
    pub backup: Option<IsoDateTime>,
    /// Expiration.
    pub expiration: Option<IsoDateTime>,
    /// Effective.
    pub effective: Option<IsoDateTime>,
}

/// A `ZF` entry: the file is zisofs-compressed (its data length is the
/// compressed size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zisofs {
    /// Algorithm, `pz` for zisofs.
    pub algorithm: String,
    /// log2 of the compression block size.
    pub block_size_log2: u8,
    /// Size of the file once uncompressed, in bytes.
    pub uncompressed_size: u32,
}

/// Everything Rock Ridge says about one directory record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RockRidge {
    /// The POSIX name from `NM` (None when absent or "." / "..").
    pub name: Option<String>,
    /// `PX` file mode (type and permission bits).
    pub mode: Option<u32>,
    /// `PX` link count.
    pub links: Option<u32>,
    /// `PX` user id.
    pub uid: Option<u32>,
    /// `PX` group id.
    pub gid: Option<u32>,
    /// `PX` serial number (RRIP 1.12 only).
    pub inode: Option<u32>,
    /// `PN` device number (high, low).
    pub device: Option<(u32, u32)>,
    /// `SL` symbolic-link target.
    pub symlink_target: Option<String>,
    /// `CL`: this record stands for the directory relocated to this block.
    pub child_link: Option<u32>,
    /// `PL`: the original parent of a relocated directory (in its "..").
    pub parent_link: Option<u32>,
    /// `RE`: this record is a relocated directory (shown elsewhere via `CL`).
    pub relocated: bool,
    /// `TF` timestamps.
    pub times: Timestamps,
    /// `ZF` zisofs compression.
    pub zisofs: Option<Zisofs>,
    /// `SP` was present (only in the root's "." record).
    pub has_sp: bool,
    /// `ER` extension references (normally only in the root's "." record).
    pub extensions: Vec<ExtensionReference>,
    /// Signatures present but not interpreted (e.g. `AL`, `SF`), at most 16.
    pub other_signatures: Vec<String>,
}

#[derive(Default)]
struct Builder {
    rr: RockRidge,
    name: Vec<u8>,
    name_seen: bool,
    name_special: bool,
    link: Vec<u8>,
    link_seen: bool,
    link_started: bool,
    link_continues: bool,
}

impl Builder {
    fn apply(&mut self, e: &SuspEntry<'_>) {
        let d = e.data;
        match &e.signature {
            b"NM" => {
                self.name_seen = true;
                let flags = u8_at(d, 0);
                if flags & 0x06 != 0 {
                    self.name_special = true;
                }
                push_capped(&mut self.name, field(d, 1, usize::MAX), MAX_NAME_BYTES);
            }
            b"PX" => {
                self.rr.mode = Some(both_u32(d, 0).0);
                self.rr.links = Some(both_u32(d, 8).0);
                self.rr.uid = Some(both_u32(d, 16).0);
                self.rr.gid = Some(both_u32(d, 24).0);
                if d.len() >= 40 {
                    self.rr.inode = Some(both_u32(d, 32).0);
                }
            }
            b"PN" => self.rr.device = Some((both_u32(d, 0).0, both_u32(d, 8).0)),
            b"SL" => {
                self.link_seen = true;
                let mut pos = 1usize;
                while pos + 2 <= d.len() {
                    let flags = u8_at(d, pos);
                    let len = usize::from(u8_at(d, pos + 1));
                    let content = field(d, pos + 2, len);
                    self.link_component(flags, content);
                    pos = pos.saturating_add(2 + len);
                }
            }
            b"CL" => self.rr.child_link = Some(both_u32(d, 0).0),
            b"PL" => self.rr.parent_link = Some(both_u32(d, 0).0),
            b"RE" => self.rr.relocated = true,
            b"TF" => self.timestamps(d),
            b"SP" => self.rr.has_sp = true,
            b"ER" => {
                if self.rr.extensions.len() < 8 {
                    self.rr.extensions.push(ExtensionReference::parse(d));
                }
            }
            b"ZF" => {
                self.rr.zisofs = Some(Zisofs {
                    algorithm: String::from_utf8_lossy(field(d, 0, 2)).into_owned(),
                    block_size_log2: u8_at(d, 3),
                    uncompressed_size: both_u32(d, 4).0,
                });
            }
            b"RR" | b"ES" => {}
            sig => {
                // No allocation for a signature already seen: a crafted
                // area can repeat one unknown entry tens of thousands of times.
                if self.rr.other_signatures.len() < MAX_OTHER
                    && !self.rr.other_signatures.iter().any(|s| s.as_bytes() == sig)
                {
                    self.rr
                        .other_signatures
                        .push(String::from_utf8_lossy(sig).into_owned());
                }
            }
        }
    }

    /// Appends one `SL` component. Components are joined with `/` unless the
    /// previous one had the continue flag (a long name split in parts).
    fn link_component(&mut self, flags: u8, content: &[u8]) {
        let text: &[u8] = if flags & 0x02 != 0 {
            b"."
        } else if flags & 0x04 != 0 {
            b".."
        } else if flags & 0x08 != 0 || flags & 0x10 != 0 {
            b"/"
        } else if flags & 0x20 != 0 {
            b""
        } else {
            content
        };
        if text == b"/" {
            if !self.link.ends_with(b"/") {
                push_capped(&mut self.link, b"/", MAX_LINK_BYTES);
            }
        } else {
            if self.link_started && !self.link_continues && !self.link.ends_with(b"/") {
                push_capped(&mut self.link, b"/", MAX_LINK_BYTES);
            }
            push_capped(&mut self.link, text, MAX_LINK_BYTES);
        }
        self.link_started = true;
        self.link_continues = flags & 0x01 != 0;
    }

    fn timestamps(&mut self, d: &[u8]) {
        let flags = u8_at(d, 0);
        let long = flags & 0x80 != 0;
        let size = if long { 17 } else { 7 };
        let mut pos = 1usize;
        let t = &mut self.rr.times;
        let slots: [&mut Option<IsoDateTime>; 7] = [
            &mut t.created,
            &mut t.modified,
            &mut t.accessed,
            &mut t.attributes,
            &mut t.backup,
            &mut t.expiration,
            &mut t.effective,
        ];
        for (bit, slot) in slots.into_iter().enumerate() {
            if flags & (1 << bit) == 0 {
                continue;
            }
            let raw = field(d, pos, size);
            *slot = if long {
                IsoDateTime::from_descriptor(raw)
            } else {
                IsoDateTime::from_record(raw)
            };
            pos += size;
        }
    }

    fn finish(mut self) -> RockRidge {
        if self.name_seen && !self.name_special && !self.name.is_empty() {
            self.rr.name = Some(String::from_utf8_lossy(&self.name).into_owned());
        }
        if self.link_seen {
            self.rr.symlink_target = Some(String::from_utf8_lossy(&self.link).into_owned());
        }
        self.rr
    }
}

fn push_capped(dst: &mut Vec<u8>, src: &[u8], cap: usize) {
    let room = cap.saturating_sub(dst.len());
    dst.extend_from_slice(field(src, 0, room));
}

impl RockRidge {
    /// Reads the Rock Ridge entries of one record's system-use area (skipping
    /// the `SP` skip length) and of its continuation areas. Chain problems
    /// go to `anomalies`; only I/O errors fail.
    pub fn read(
        reader: &mut SuspReader<'_>,
        system_use: &[u8],
        skip: usize,
        anomalies: &mut Vec<Anomaly>,
    ) -> Result<Self> {
        let mut b = Builder::default();
        reader.for_each(system_use, skip, anomalies, &mut |e| b.apply(e))?;
        Ok(b.finish())
    }

    /// Whether `PX` says this is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.mode.is_some_and(|m| m & mode::S_IFMT == mode::S_IFLNK)
    }

    /// Whether `PX` says this is neither a file, a directory nor a link
    /// (device, FIFO, socket).
    pub fn is_special(&self) -> bool {
        self.mode.is_some_and(|m| {
            let t = m & mode::S_IFMT;
            t != 0 && t != mode::S_IFREG && t != mode::S_IFDIR && t != mode::S_IFLNK
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::susp::{build_ce, build_entry};

    fn both(v: u32) -> Vec<u8> {
        let mut d = v.to_le_bytes().to_vec();
        d.extend_from_slice(&v.to_be_bytes());
        d
    }

    fn read(img: &[u8], sua: &[u8]) -> (RockRidge, Vec<Anomaly>) {
        let mut r = SuspReader::new(&img, img.len() as u64);
        let mut a = Vec::new();
        let rr = RockRidge::read(&mut r, sua, 0, &mut a).unwrap();
        (rr, a)
    }

    #[test]
    fn name_mode_and_continued_name() {
        let mut px = Vec::new();
        for v in [0o100_644, 1, 1000, 100, 77] {
            px.extend(both(v));
        }
        let mut sua = build_entry(b"PX", 1, &px);
        sua.extend(build_entry(b"NM", 1, b"\x01hello-"));
        sua.extend(build_entry(b"NM", 1, b"\x00world.txt"));
        sua.extend(build_entry(b"AL", 1, b"xx"));
        sua.extend(build_entry(b"AL", 1, b"yy"));
        let (rr, a) = read(&[], &sua);
        assert!(a.is_empty());
        assert_eq!(rr.name.as_deref(), Some("hello-world.txt"));
        assert_eq!(rr.mode, Some(0o100_644));
        assert_eq!(
            (rr.uid, rr.gid, rr.inode),
            (Some(1000), Some(100), Some(77))
        );
        assert_eq!(rr.other_signatures, ["AL"]);
        assert!(!rr.is_symlink() && !rr.is_special());
    }

    #[test]
    fn dot_names_are_ignored() {
        let (rr, _) = read(&[], &build_entry(b"NM", 1, b"\x02"));
        assert_eq!(rr.name, None);
    }

    #[test]
    fn symlink_components_across_entries_and_ce() {
        // "/usr/lib/" + "very-long-" (continued) + "name" in a CE area, then "../x".
        let mut sl1 = vec![0x01, 0x08, 0];
        sl1.extend([0, 3]);
        sl1.extend(b"usr");
        sl1.extend([0, 3]);
        sl1.extend(b"lib");
        sl1.extend([0x01, 10]);
        sl1.extend(b"very-long-");
        let mut sl2 = vec![0x00, 0, 4];
        sl2.extend(b"name");
        sl2.extend([0x04, 0, 0, 1, b'x']);
        let area = build_entry(b"SL", 1, &sl2);
        let mut img = vec![0u8; 2 * 2048];
        img[2048..2048 + area.len()].copy_from_slice(&area);
        let mut sua = build_entry(b"SL", 1, &sl1);
        sua.extend(build_ce(1, 0, area.len() as u32));
        let (rr, a) = read(&img, &sua);
        assert!(a.is_empty(), "{a:?}");
        assert_eq!(
            rr.symlink_target.as_deref(),
            Some("/usr/lib/very-long-name/../x")
        );
    }

    #[test]
    fn relative_and_dot_links() {
        let mut sl = vec![0u8];
        sl.extend([0x02, 0, 0, 1, b'a']);
        let (rr, _) = read(&[], &build_entry(b"SL", 1, &sl));
        assert_eq!(rr.symlink_target.as_deref(), Some("./a"));
        // A component whose length runs past the entry is clamped.
        let (rr, _) = read(&[], &build_entry(b"SL", 1, &[0, 0, 200, b'z']));
        assert_eq!(rr.symlink_target.as_deref(), Some("z"));
    }

    #[test]
    fn relocation_entries_and_timestamps() {
        let mut sua = build_entry(b"CL", 1, &both(40));
        sua.extend(build_entry(b"PL", 1, &both(30)));
        sua.extend(build_entry(b"RE", 1, &[]));
        let mut tf = vec![0x02 | 0x04];
        tf.extend([124, 1, 2, 3, 4, 5, 0]);
        tf.extend([100, 1, 1, 0, 0, 0, 0]);
        sua.extend(build_entry(b"TF", 1, &tf));
        let mut long = vec![0x80 | 0x01];
        long.extend(b"2020010100000000\0");
        sua.extend(build_entry(b"TF", 1, &long));
        let (rr, _) = read(&[], &sua);
        assert_eq!(
            (rr.child_link, rr.parent_link, rr.relocated),
            (Some(40), Some(30), true)
        );
        assert_eq!(rr.times.modified.unwrap().year, 2024);
        assert_eq!(rr.times.accessed.unwrap().year, 2000);
        assert_eq!(rr.times.created.unwrap().year, 2020);
    }

    #[test]
    fn names_are_capped() {
        let mut sua = Vec::new();
        let chunk = [b'a'; 200];
        let mut nm = vec![1u8];
        nm.extend(chunk);
        // Put a long NM chain in a big continuation area.
        let mut area = Vec::new();
        for _ in 0..20 {
            area.extend(build_entry(b"NM", 1, &nm));
        }
        let mut img = vec![0u8; 2048];
        img.extend(&area);
        sua.extend(build_ce(1, 0, area.len() as u32));
        let (rr, a) = read(&img, &sua);
        assert!(a.is_empty());
        assert_eq!(rr.name.unwrap().len(), MAX_NAME_BYTES);
    }
}
