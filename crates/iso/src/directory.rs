//! Directory records and the iteration over a directory's extent.
//!
//! A directory is a run of sectors holding variable-length records
//! (ECMA-119 9.1). Records never cross a sector boundary: a zero length byte
//! means "the rest of this sector is padding". [`DirectoryRecord::parse`]
//! decodes one record without copying (the name and system-use area borrow
//! the buffer) and [`RecordIter`] walks a whole extent already in memory, so a
//! directory costs one positioned read however many records it holds. A
//! broken record is reported and the iteration resumes at the next sector.

use std::fmt;

use crate::bytes::{both_u16, both_u32, field, u8_at};
use crate::datetime::IsoDateTime;
use crate::types::{Extent, SECTOR_SIZE};

/// Bytes of a directory record before its file identifier.
pub const RECORD_HEADER_LEN: usize = 33;
const SECTOR: usize = SECTOR_SIZE as usize;

/// The file flags byte of a directory record (ECMA-119 9.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFlags(pub u8);

impl FileFlags {
    /// Bit 0, "existence": hide the entry from the user.
    pub const HIDDEN: u8 = 0x01;
    /// Bit 1: the entry is a directory.
    pub const DIRECTORY: u8 = 0x02;
    /// Bit 2: an associated file.
    pub const ASSOCIATED: u8 = 0x04;
    /// Bit 3: record format given in the extended attribute record.
    pub const RECORD: u8 = 0x08;
    /// Bit 4: owner and permissions given in the extended attribute record.
    pub const PROTECTION: u8 = 0x10;
    /// Bit 7: not the final record of a multi-extent file.
    pub const MULTI_EXTENT: u8 = 0x80;

    /// The existence (hidden) flag.
    pub fn hidden(self) -> bool {
        self.0 & Self::HIDDEN != 0
    }
    /// The directory flag.
    pub fn directory(self) -> bool {
        self.0 & Self::DIRECTORY != 0
    }
    /// The associated-file flag.
    pub fn associated(self) -> bool {
        self.0 & Self::ASSOCIATED != 0
    }
    /// The record-format flag.
    pub fn record(self) -> bool {
        self.0 & Self::RECORD != 0
    }
    /// The protection flag.
    pub fn protection(self) -> bool {
        self.0 & Self::PROTECTION != 0
    }
    /// The multi-extent flag: more records of the same file follow.
    pub fn multi_extent(self) -> bool {
        self.0 & Self::MULTI_EXTENT != 0
    }
}

/// One directory record, borrowing its name and system-use area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryRecord<'a> {
    /// Record length in bytes.
    pub length: u8,
    /// Extended attribute record length in blocks.
    pub ext_attr_length: u8,
    /// First block of the extent (the extended attribute record, if any, comes first).
    pub extent_lba: u32,
    /// Data length in bytes.
    pub data_length: u32,
    /// The raw 7-byte recording date; see [`DirectoryRecord::recorded`].
    pub recorded_raw: [u8; 7],
    /// File flags.
    pub flags: FileFlags,
    /// File unit size (interleaved files), 0 normally.
    pub file_unit_size: u8,
    /// Interleave gap size, 0 normally.
    pub interleave_gap_size: u8,
    /// Volume sequence number.
    pub volume_sequence_number: u16,
    /// The file identifier as stored (`[0]` is ".", `[1]` is "..").
    pub name: &'a [u8],
    /// The system-use area (SUSP / Rock Ridge entries live here).
    pub system_use: &'a [u8],
    /// A both-endian field's halves disagreed (the little-endian half is used).
    pub both_endian_mismatch: bool,
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// The length byte is smaller than the fixed part plus a name.
    TooShort(u8),
    /// The record runs past the end of its sector or buffer.
    PastSector(u8),
    /// The file identifier runs past the end of the record.
    NamePastRecord(u8),
    /// The file identifier is empty (ISO9660 requires at least one byte).
    EmptyName,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::TooShort(n) => {
                write!(f, "record length {n} is shorter than the 34-byte minimum")
            }
            RecordError::PastSector(n) => {
                write!(f, "record of {n} bytes runs past the end of its sector")
            }
            RecordError::NamePastRecord(n) => {
                write!(
                    f,
                    "file identifier of {n} bytes runs past the end of its record"
                )
            }
            RecordError::EmptyName => f.write_str("record has an empty file identifier"),
        }
    }
}

impl<'a> DirectoryRecord<'a> {
    /// Decodes the record at the start of `b` (which may hold more after it).
    pub fn parse(b: &'a [u8]) -> Result<Self, RecordError> {
        let length = u8_at(b, 0);
        let len = usize::from(length);
        if len < RECORD_HEADER_LEN + 1 {
            return Err(RecordError::TooShort(length));
        }
        let Some(rec) = b.get(..len) else {
            return Err(RecordError::PastSector(length));
        };
        let name_len = usize::from(u8_at(rec, 32));
        if name_len == 0 {
            return Err(RecordError::EmptyName);
        }
        let name_end = RECORD_HEADER_LEN + name_len;
        if name_end > len {
            return Err(RecordError::NamePastRecord(u8_at(rec, 32)));
        }
        let name = field(rec, RECORD_HEADER_LEN, name_len);
        // A pad byte follows an even-length identifier so the system-use
        // area starts on an even offset.
        let su_start = (name_end + usize::from(name_len % 2 == 0)).min(len);
        let (extent_lba, m1) = both_u32(rec, 2);
        let (data_length, m2) = both_u32(rec, 10);
        let (volume_sequence_number, m3) = both_u16(rec, 28);
        let mut recorded_raw = [0u8; 7];
        recorded_raw.copy_from_slice(field(rec, 18, 7));
        Ok(DirectoryRecord {
            length,
            ext_attr_length: u8_at(rec, 1),
            extent_lba,
            data_length,
            recorded_raw,
            flags: FileFlags(u8_at(rec, 25)),
            file_unit_size: u8_at(rec, 26),
            interleave_gap_size: u8_at(rec, 27),
            volume_sequence_number,
            name,
            system_use: field(rec, su_start, len - su_start),
            both_endian_mismatch: m1 || m2 || m3,
        })
    }

    /// The recording date, if set.
    pub fn recorded(&self) -> Option<IsoDateTime> {
        IsoDateTime::from_record(&self.recorded_raw)
    }

    /// The "." record (identifier `0x00`).
    pub fn is_dot(&self) -> bool {
        self.name == [0]
    }

    /// The ".." record (identifier `0x01`).
    pub fn is_dotdot(&self) -> bool {
        self.name == [1]
    }

    /// Where the data lives: after the extended attribute record, if any.
    pub fn data_extent(&self) -> Extent {
        Extent {
            lba: u64::from(self.extent_lba) + u64::from(self.ext_attr_length),
            size: u64::from(self.data_length),
        }
    }
}

/// Iterates the records of a directory extent held in memory. Yields the
/// offset of each record in the buffer and the record or why it is broken;
/// after a broken record it resumes at the next sector.
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> RecordIter<'a> {
    /// Iterates `buf`, which starts at a sector boundary.
    pub fn new(buf: &'a [u8]) -> Self {
        RecordIter { buf, pos: 0 }
    }
}

fn next_sector(pos: usize) -> usize {
    (pos / SECTOR).saturating_add(1).saturating_mul(SECTOR)
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = (usize, Result<DirectoryRecord<'a>, RecordError>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let pos = self.pos;
            let len = usize::from(*self.buf.get(pos)?);
            if len == 0 {
                self.pos = next_sector(pos);
                continue;
            }
            let sector_end = next_sector(pos).min(self.buf.len());
            let rec_end = pos.saturating_add(len);
            if rec_end > sector_end {
                self.pos = next_sector(pos);
                return Some((pos, Err(RecordError::PastSector(len as u8))));
            }
            let rec = field(self.buf, pos, len);
            return match DirectoryRecord::parse(rec) {
                Ok(r) => {
                    self.pos = rec_end;
                    Some((pos, Ok(r)))
                }
                Err(e) => {
                    self.pos = next_sector(pos);
                    Some((pos, Err(e)))
                }
            };
        }
    }
}

/// Builds a directory record (for tests and the writer): `name` as stored,
/// system-use bytes appended, padded to even length.
pub fn build_record(lba: u32, size: u32, flags: u8, name: &[u8], system_use: &[u8]) -> Vec<u8> {
    let mut r = vec![0u8; RECORD_HEADER_LEN];
    r[2..6].copy_from_slice(&lba.to_le_bytes());
    r[6..10].copy_from_slice(&lba.to_be_bytes());
    r[10..14].copy_from_slice(&size.to_le_bytes());
    r[14..18].copy_from_slice(&size.to_be_bytes());
    r[25] = flags;
    r[28..30].copy_from_slice(&1u16.to_le_bytes());
    r[30..32].copy_from_slice(&1u16.to_be_bytes());
    r[32] = name.len().min(255) as u8;
    r.extend_from_slice(field(name, 0, 255));
    if name.len().is_multiple_of(2) {
        r.push(0);
    }
    r.extend_from_slice(system_use);
    if r.len() % 2 == 1 {
        r.push(0);
    }
    r[0] = r.len().min(255) as u8;
    r.truncate(255);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_record() {
        let r = build_record(30, 5000, 0x80 | 0x01, b"FILE.TXT;1", b"PX");
        let d = DirectoryRecord::parse(&r).unwrap();
        assert_eq!(d.extent_lba, 30);
        assert_eq!(d.data_length, 5000);
        assert!(d.flags.multi_extent() && d.flags.hidden() && !d.flags.directory());
        assert_eq!(d.name, b"FILE.TXT;1");
        assert_eq!(&d.system_use[..2], b"PX");
        assert_eq!(
            d.data_extent(),
            Extent {
                lba: 30,
                size: 5000
            }
        );
        assert!(!d.both_endian_mismatch);
        assert_eq!(d.recorded(), None);
    }

    #[test]
    fn broken_records_are_errors() {
        assert_eq!(DirectoryRecord::parse(&[]), Err(RecordError::TooShort(0)));
        assert_eq!(
            DirectoryRecord::parse(&[10; 10]),
            Err(RecordError::TooShort(10))
        );
        let mut r = build_record(1, 1, 0, b"A", b"");
        assert_eq!(
            DirectoryRecord::parse(&r[..20]),
            Err(RecordError::PastSector(34))
        );
        r[32] = 200;
        assert_eq!(
            DirectoryRecord::parse(&r),
            Err(RecordError::NamePastRecord(200))
        );
        r[32] = 0;
        assert_eq!(DirectoryRecord::parse(&r), Err(RecordError::EmptyName));
    }

    #[test]
    fn iteration_skips_padding_and_resumes_after_damage() {
        let mut dir = vec![0u8; 3 * SECTOR];
        let a = build_record(20, 2048, 2, &[0], b"");
        let b = build_record(21, 10, 0, b"B;1", b"");
        dir[..a.len()].copy_from_slice(&a);
        dir[a.len()..a.len() + b.len()].copy_from_slice(&b);
        // Sector 1: 60 records of 34 bytes, then one claiming to run past
        // the sector end.
        let d = build_record(23, 1, 0, b"D", b"");
        for i in 0..60 {
            let at = SECTOR + i * d.len();
            dir[at..at + d.len()].copy_from_slice(&d);
        }
        let bad_at = SECTOR + 60 * d.len();
        dir[bad_at] = 34;
        // Sector 2: a too-short record; the rest of the sector is skipped.
        dir[2 * SECTOR] = 5;
        let c = build_record(22, 10, 0, b"C;1", b"");
        dir[2 * SECTOR + 100..2 * SECTOR + 100 + c.len()].copy_from_slice(&c);
        let items: Vec<_> = RecordIter::new(&dir).collect();
        assert_eq!(items.len(), 64);
        assert!(items[0].1.unwrap().is_dot());
        assert_eq!(items[1].1.unwrap().name, b"B;1");
        assert_eq!(items[61].1.unwrap().name, b"D");
        assert_eq!(items[62], (bad_at, Err(RecordError::PastSector(34))));
        assert_eq!(items[63], (2 * SECTOR, Err(RecordError::TooShort(5))));
    }

    #[test]
    fn partial_last_sector_is_bounded() {
        let mut dir = build_record(5, 5, 0, b"X;1", b"");
        dir.push(200); // a record start with too few bytes left
        let items: Vec<_> = RecordIter::new(&dir).collect();
        assert_eq!(items.len(), 2);
        assert!(items[1].1.is_err());
    }
}
