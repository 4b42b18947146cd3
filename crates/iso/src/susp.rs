//! The System Use Sharing Protocol (SUSP, IEEE P1281): the entry framing
//! Rock Ridge lives in.
//!
//! A directory record's system-use area holds entries (`sig[2] len ver
//! data...`). The area may continue elsewhere on the image through a `CE`
//! entry, and that area through another `CE`: [`SuspReader`] follows the chain
//! with a hop limit, loop detection and size caps, and hands every entry to a
//! callback without copying it. `SP` (in the root's "." record) says SUSP is in
//! use and how many bytes to skip in every other area; `ER` names the
//! extensions (Rock Ridge says `RRIP_1991A`, `IEEE_P1282` or `IEEE_1282`);
//! `ST` ends an area; `PD` is padding. Problems on hostile images (a `CE`
//! loop, a `CE` past the end, a broken entry) become anomalies: the entries
//! read so far are kept and the rest of the chain is dropped.
//!
//! Besides the per-record caps, a reader built with
//! [`SuspReader::with_budget`] counts every area it parses against the
//! image's [`SuspBudget`], and keeps the continuation areas it has read (up
//! to [`MAX_CE_CACHE_BYTES`]) so records sharing an area do not read it again.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::budget::SuspBudget;
use crate::bytes::{both_u32, field, read_up_to, u8_at};
use crate::error::{Error, Result};
use crate::source::ReadAt;
use crate::types::{Anomaly, Severity, SECTOR_SIZE};

/// At most this many `CE` continuation areas are followed per record.
pub const MAX_CE_HOPS: usize = 32;
/// A single continuation area larger than this is not read.
pub const MAX_CE_AREA_BYTES: u32 = 64 * 1024;
/// At most this many continuation bytes are read per record.
pub const MAX_CE_TOTAL_BYTES: u64 = 256 * 1024;
/// Continuation areas kept in memory for reuse, in bytes per reader.
pub const MAX_CE_CACHE_BYTES: usize = 1024 * 1024;

/// One SUSP entry, borrowing its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuspEntry<'a> {
    /// The two-character signature, e.g. `*b"NM"`.
    pub signature: [u8; 2],
    /// The entry version.
    pub version: u8,
    /// The bytes after the 4-byte header.
    pub data: &'a [u8],
}

/// A `CE` entry: where the system-use area continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContinuationArea {
    /// Block of the continuation area.
    pub lba: u32,
    /// Byte offset in that block.
    pub offset: u32,
    /// Length of the area in bytes.
    pub length: u32,
}

impl ContinuationArea {
    /// Decodes a `CE` entry's data.
    pub fn parse(data: &[u8]) -> Self {
        ContinuationArea {
            lba: both_u32(data, 0).0,
            offset: both_u32(data, 8).0,
            length: both_u32(data, 16).0,
        }
    }
}

/// An `ER` entry: an extension in use on this image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionReference {
    /// Extension identifier, e.g. `RRIP_1991A`.
    pub id: String,
    /// Human description.
    pub descriptor: String,
    /// Where the extension is specified.
    pub source: String,
    /// Extension version.
    pub version: u8,
}

impl ExtensionReference {
    /// Decodes an `ER` entry's data.
    pub fn parse(data: &[u8]) -> Self {
        let id_len = usize::from(u8_at(data, 0));
        let des_len = usize::from(u8_at(data, 1));
        let src_len = usize::from(u8_at(data, 2));
        let text =
            |off: usize, len: usize| String::from_utf8_lossy(field(data, off, len)).into_owned();
        ExtensionReference {
            id: text(4, id_len),
            descriptor: text(4 + id_len, des_len),
            source: text(4 + id_len + des_len, src_len),
            version: u8_at(data, 3),
        }
    }

    /// Whether this extension is Rock Ridge.
    pub fn is_rock_ridge(&self) -> bool {
        matches!(self.id.as_str(), "RRIP_1991A" | "IEEE_P1282" | "IEEE_1282")
    }
}

/// The `SP` skip length when `system_use` starts with a valid `SP` entry
/// (`SP`, length 7, check bytes `BE EF`), as in the root's "." record.
pub fn sp_skip_len(system_use: &[u8]) -> Option<u8> {
    let ok = field(system_use, 0, 2) == b"SP"
        && u8_at(system_use, 2) >= 7
        && field(system_use, 4, 2) == [0xBE, 0xEF];
    ok.then(|| u8_at(system_use, 6))
}

/// Iterates the entries of one area; stops at `ST`, at padding, or at a
/// broken entry (returned as `Err` with its offset). Adds the entries seen
/// to `count`.
fn scan_area<'a>(
    area: &'a [u8],
    ce: &mut Option<ContinuationArea>,
    count: &mut u64,
    f: &mut dyn FnMut(&SuspEntry<'_>),
) -> std::result::Result<(), usize> {
    let mut pos = 0usize;
    while area.len().saturating_sub(pos) >= 4 {
        let head = field(area, pos, 4);
        if head[0] == 0 && head[1] == 0 {
            break; // zero padding
        }
        let len = usize::from(head[2]);
        if len < 4 || len > area.len() - pos {
            return Err(pos);
        }
        *count += 1;
        let entry = SuspEntry {
            signature: [head[0], head[1]],
            version: head[3],
            data: field(area, pos + 4, len - 4),
        };
        match &entry.signature {
            b"ST" => break,
            b"CE" => *ce = Some(ContinuationArea::parse(entry.data)),
            b"PD" => {}
            _ => f(&entry),
        }
        pos += len;
    }
    Ok(())
}

/// Follows system-use areas and their `CE` chains. Keeps the last
/// continuation block read, since writers pack many records' continuation
/// areas into one block, and larger areas up to [`MAX_CE_CACHE_BYTES`].
pub struct SuspReader<'s> {
    src: &'s dyn ReadAt,
    file_size: u64,
    budget: Option<&'s SuspBudget>,
    block: Vec<u8>,
    block_lba: Option<u32>,
    scratch: Vec<u8>,
    cache: HashMap<(u64, u32), Vec<u8>>,
    cache_bytes: usize,
}

impl std::fmt::Debug for SuspReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuspReader")
            .field("file_size", &self.file_size)
            .field("block_lba", &self.block_lba)
            .finish_non_exhaustive()
    }
}

impl<'s> SuspReader<'s> {
    /// A reader over `src`, whose size is `file_size` bytes, with only the
    /// per-record limits (for one record, like the root's "." record).
    pub fn new(src: &'s dyn ReadAt, file_size: u64) -> Self {
        SuspReader {
            src,
            file_size,
            budget: None,
            block: Vec::new(),
            block_lba: None,
            scratch: Vec::new(),
            cache: HashMap::new(),
            cache_bytes: 0,
        }
    }

    /// A reader that also counts what it parses against an image's budget:
    /// once the budget is spent, areas are not read at all.
    pub fn with_budget(src: &'s dyn ReadAt, file_size: u64, budget: &'s SuspBudget) -> Self {
        SuspReader {
            budget: Some(budget),
            ..SuspReader::new(src, file_size)
        }
    }

    /// Whether the image's budget is spent (never, without a budget).
    pub fn budget_exceeded(&self) -> bool {
        self.budget.is_some_and(SuspBudget::is_exceeded)
    }

    /// Takes `bytes` from the budget (true when there is no budget).
    fn take_bytes(&self, bytes: usize) -> bool {
        self.budget.is_none_or(|b| b.take_bytes(bytes as u64))
    }

    /// Counts `n` entries against the budget (true when there is none).
    fn take_entries(&self, n: u64) -> bool {
        self.budget.is_none_or(|b| b.take_entries(n))
    }

    /// Calls `f` with every entry of `system_use` (after skipping `skip`
    /// bytes) and of its continuation areas, except `CE`, `ST` and `PD`.
    /// Chain problems are pushed to `anomalies`; only I/O errors fail.
    pub fn for_each(
        &mut self,
        system_use: &[u8],
        skip: usize,
        anomalies: &mut Vec<Anomaly>,
        f: &mut dyn FnMut(&SuspEntry<'_>),
    ) -> Result<()> {
        let mut next = None;
        let own = field(system_use, skip, usize::MAX);
        if own.is_empty() || !self.take_bytes(own.len()) {
            return Ok(());
        }
        let mut count = 0u64;
        let scanned = scan_area(own, &mut next, &mut count, f);
        if let Err(at) = scanned {
            anomalies.push(broken_entry(at));
        }
        if !self.take_entries(count) {
            return Ok(());
        }
        let mut seen: Vec<(u32, u32)> = Vec::new();
        let mut total = 0u64;
        while let Some(ce) = next.take() {
            if seen.len() >= MAX_CE_HOPS {
                anomalies.push(Anomaly::new(
                    "susp.ce-limit",
                    Severity::Warn,
                    format!("the continuation (CE) chain is longer than {MAX_CE_HOPS} areas; the rest is ignored"),
                ));
                break;
            }
            if seen.contains(&(ce.lba, ce.offset)) {
                anomalies.push(Anomaly::new(
                    "susp.ce-loop",
                    Severity::Error,
                    format!(
                        "the continuation (CE) chain loops back to block {} offset {}; not followed",
                        ce.lba, ce.offset
                    ),
                ));
                break;
            }
            seen.push((ce.lba, ce.offset));
            total = total.saturating_add(u64::from(ce.length));
            if ce.length > MAX_CE_AREA_BYTES || total > MAX_CE_TOTAL_BYTES {
                anomalies.push(Anomaly::new(
                    "susp.ce-limit",
                    Severity::Warn,
                    format!(
                        "a continuation (CE) area of {} bytes exceeds the limits ({MAX_CE_AREA_BYTES} bytes per area, {MAX_CE_TOTAL_BYTES} per record); not read",
                        ce.length
                    ),
                ));
                break;
            }
            let start = u64::from(ce.lba)
                .saturating_mul(SECTOR_SIZE)
                .saturating_add(u64::from(ce.offset));
            if start.saturating_add(u64::from(ce.length)) > self.file_size {
                anomalies.push(Anomaly::new(
                    "susp.ce-past-end",
                    Severity::Error,
                    format!(
                        "a continuation (CE) area at block {} offset {} ({} bytes) lies past the end of the image",
                        ce.lba, ce.offset, ce.length
                    ),
                ));
                break;
            }
            if !self.take_bytes(ce.length as usize) {
                break;
            }
            let area = self.area(ce, start)?;
            let mut count = 0u64;
            let scanned = scan_area(area, &mut next, &mut count, f);
            if let Err(at) = scanned {
                anomalies.push(broken_entry(at));
            }
            if !self.take_entries(count) {
                break;
            }
        }
        Ok(())
    }

    fn area(&mut self, ce: ContinuationArea, start: u64) -> Result<&[u8]> {
        let len = ce.length as usize;
        let in_block = u64::from(ce.offset) + u64::from(ce.length) <= SECTOR_SIZE;
        if in_block {
            if self.block_lba != Some(ce.lba) {
                self.block.resize(SECTOR_SIZE as usize, 0);
                let at = u64::from(ce.lba) * SECTOR_SIZE;
                let n = read_up_to(self.src, &mut self.block, at)
                    .map_err(|e| Error::io("reading a continuation area", at, e))?;
                self.block.truncate(n);
                self.block_lba = Some(ce.lba);
            }
            return Ok(field(&self.block, ce.offset as usize, len));
        }
        let key = (start, ce.length);
        if !self.cache.contains_key(&key) {
            self.scratch.resize(len, 0);
            self.src
                .read_exact_at(&mut self.scratch, start)
                .map_err(|e| Error::io("reading a continuation area", start, e))?;
            if self.cache_bytes + len > MAX_CE_CACHE_BYTES {
                return Ok(&self.scratch);
            }
            self.cache_bytes += len;
            self.cache.insert(key, self.scratch.clone());
        }
        Ok(self.cache.get(&key).map_or(&[][..], Vec::as_slice))
    }
}

fn broken_entry(at: usize) -> Anomaly {
    Anomaly::new(
        "susp.bad-entry",
        Severity::Warn,
        format!("a system-use entry at byte {at} of its area has an impossible length; the rest of the area is ignored"),
    )
}

/// Builds one SUSP entry (tests and the writer).
pub fn build_entry(sig: &[u8; 2], version: u8, data: &[u8]) -> Vec<u8> {
    let mut e = vec![sig[0], sig[1], (data.len() + 4).min(255) as u8, version];
    e.extend_from_slice(field(data, 0, 251));
    e
}

/// Builds a `CE` entry pointing at `lba`/`offset`/`length`.
pub fn build_ce(lba: u32, offset: u32, length: u32) -> Vec<u8> {
    let mut d = Vec::with_capacity(24);
    for v in [lba, offset, length] {
        d.extend_from_slice(&v.to_le_bytes());
        d.extend_from_slice(&v.to_be_bytes());
    }
    build_entry(b"CE", 1, &d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(img: &[u8], sua: &[u8], skip: usize) -> (Vec<String>, Vec<String>) {
        let mut r = SuspReader::new(&img, img.len() as u64);
        let mut anomalies = Vec::new();
        let mut seen = Vec::new();
        r.for_each(sua, skip, &mut anomalies, &mut |e| {
            seen.push(format!(
                "{}{}",
                e.signature[0] as char, e.signature[1] as char
            ))
        })
        .unwrap();
        (seen, anomalies.into_iter().map(|a| a.id).collect())
    }

    #[test]
    fn sp_and_skip() {
        let sp = build_entry(b"SP", 1, &[0xBE, 0xEF, 3]);
        assert_eq!(sp_skip_len(&sp), Some(3));
        assert_eq!(sp_skip_len(b"SP\x07\x01\x00\x00\x00"), None);
        let mut sua = vec![9, 9, 9];
        sua.extend(build_entry(b"NM", 1, b"\0x"));
        assert_eq!(collect(&[], &sua, 3).0, ["NM"]);
    }

    #[test]
    fn follows_ce_and_stops_at_st() {
        let mut img = vec![0u8; 4 * 2048];
        let mut area = build_entry(b"TF", 1, &[0]);
        area.extend(build_ce(3, 100, 8));
        area.extend(build_entry(b"ST", 1, &[]));
        area.extend(build_entry(b"XX", 1, &[]));
        img[2048 + 10..2048 + 10 + area.len()].copy_from_slice(&area);
        let tail = build_entry(b"SL", 1, &[0, 0, 0, 0]);
        img[3 * 2048 + 100..3 * 2048 + 108].copy_from_slice(&tail);
        let mut sua = build_entry(b"PX", 1, &[0; 32]);
        sua.extend(build_entry(b"PD", 1, &[0; 3]));
        sua.extend(build_ce(1, 10, area.len() as u32));
        let (seen, anomalies) = collect(&img, &sua, 0);
        assert_eq!(seen, ["PX", "TF", "SL"]);
        assert!(anomalies.is_empty());
    }

    #[test]
    fn ce_loop_is_detected() {
        let mut img = vec![0u8; 3 * 2048];
        let mut area = build_entry(b"NM", 1, b"\x01ab");
        area.extend(build_ce(1, 0, 0)); // length fixed below
        let n = area.len() as u32;
        let area2 = {
            let mut a = build_entry(b"NM", 1, b"\x01ab");
            a.extend(build_ce(1, 0, n));
            a
        };
        img[2048..2048 + area2.len()].copy_from_slice(&area2);
        let (seen, anomalies) = collect(&img, &build_ce(1, 0, n), 0);
        assert_eq!(seen, ["NM"]);
        assert_eq!(anomalies, ["susp.ce-loop"]);
    }

    #[test]
    fn ce_past_end_and_oversized_are_anomalies() {
        let img = vec![0u8; 2048];
        let (_, a) = collect(&img, &build_ce(100, 0, 10), 0);
        assert_eq!(a, ["susp.ce-past-end"]);
        let (_, a) = collect(&img, &build_ce(u32::MAX, u32::MAX, u32::MAX), 0);
        assert_eq!(a, ["susp.ce-limit"]);
        let (_, a) = collect(&img, &build_ce(u32::MAX, u32::MAX, 10), 0);
        assert_eq!(a, ["susp.ce-past-end"]);
    }

    #[test]
    fn long_chain_is_cut() {
        // Every block points to the next one: a chain longer than the limit.
        let blocks = MAX_CE_HOPS + 5;
        let mut img = vec![0u8; (blocks + 1) * 2048];
        let ce_len = build_ce(0, 0, 0).len() as u32;
        for i in 0..blocks {
            let e = build_ce(i as u32 + 1, 0, ce_len);
            img[i * 2048..i * 2048 + e.len()].copy_from_slice(&e);
        }
        let (_, a) = collect(&img, &build_ce(0, 0, ce_len), 0);
        assert_eq!(a, ["susp.ce-limit"]);
    }

    #[test]
    fn broken_entry_lengths() {
        let (seen, a) = collect(&[], &[b'N', b'M', 2, 1, 0, 0], 0);
        assert!(seen.is_empty());
        assert_eq!(a, ["susp.bad-entry"]);
        let (_, a) = collect(&[], &[b'N', b'M', 200, 1, 0, 0], 0);
        assert_eq!(a, ["susp.bad-entry"]);
        let (_, a) = collect(&[], b"NM", 0);
        assert!(a.is_empty());
        let (_, a) = collect(&[], &[1, 2, 3], 100);
        assert!(a.is_empty());
    }

    #[test]
    fn extension_reference() {
        let mut d = vec![10, 3, 2, 1];
        d.extend_from_slice(b"RRIP_1991Aabcxy");
        let er = ExtensionReference::parse(&d);
        assert_eq!(er.id, "RRIP_1991A");
        assert_eq!(er.descriptor, "abc");
        assert_eq!(er.source, "xy");
        assert!(er.is_rock_ridge());
    }
}
