//! Volume descriptors (primary, Joliet supplementary, El Torito boot record,
//! terminator), the dates written in them, and both-endian number fields.
//!
//! Every field sits at its ECMA-119 8.4 / Joliet / El Torito offset; the
//! offsets are written out literally so they can be checked against the
//! standards line by line.

use std::time::{SystemTime, UNIX_EPOCH};

use super::dirs::{self, Tree};
use super::names;
use crate::error::{Error, ErrorKind, Result};

/// One sector, as a `usize`.
pub(super) const SECTOR: usize = crate::types::SECTOR_SIZE as usize;

/// The date written in the volume descriptors and every directory record,
/// in UTC, to the second.
///
/// The writer never reads the clock itself: pass
/// `Timestamp::from_system_time(SystemTime::now())` for "now", or keep
/// [`Timestamp::DEFAULT`] for byte-identical output from run to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    unix_seconds: i64,
}

impl Timestamp {
    /// 2000-01-01T00:00:00Z, the default, so images are reproducible.
    pub const DEFAULT: Timestamp = Timestamp {
        unix_seconds: 946_684_800,
    };

    /// Earliest date a directory record can hold: 1900-01-01T00:00:00Z.
    pub const MIN_UNIX_SECONDS: i64 = -2_208_988_800;

    /// Latest date a directory record can hold: 2155-12-31T23:59:59Z.
    pub const MAX_UNIX_SECONDS: i64 = 5_869_583_999;

    /// A timestamp `seconds` after 1970-01-01T00:00:00Z; fails outside
    /// 1900..=2155, the years a directory record can hold.
    pub fn from_unix_seconds(seconds: i64) -> Result<Self> {
        if !(Self::MIN_UNIX_SECONDS..=Self::MAX_UNIX_SECONDS).contains(&seconds) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "timestamp {seconds} s since 1970 is outside the years 1900 to 2155 \
                     an ISO9660 directory record can hold"
                ),
            ));
        }
        Ok(Timestamp {
            unix_seconds: seconds,
        })
    }

    /// The timestamp of `time`, truncated to the second.
    pub fn from_system_time(time: SystemTime) -> Result<Self> {
        let seconds = match time.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => {
                // Before 1970: round down to the whole second.
                let d = e.duration();
                let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
                -i64::try_from(secs).unwrap_or(i64::MAX)
            }
        };
        Self::from_unix_seconds(seconds)
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix_seconds(self) -> i64 {
        self.unix_seconds
    }

    /// (year, month, day, hour, minute, second), UTC.
    fn fields(self) -> (i64, u8, u8, u8, u8, u8) {
        let days = self.unix_seconds.div_euclid(86_400);
        let secs = self.unix_seconds.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        // secs < 86400, so every part fits a u8.
        let hms = |v: i64| u8::try_from(v).unwrap_or(0);
        (
            y,
            m,
            d,
            hms(secs / 3600),
            hms(secs / 60 % 60),
            hms(secs % 60),
        )
    }

    /// The 7-byte date of a directory record (ECMA-119 9.1.5), GMT offset 0.
    pub(super) fn record_date(self) -> [u8; 7] {
        let (y, mo, d, h, mi, s) = self.fields();
        let year = u8::try_from(y - 1900).unwrap_or(0);
        [year, mo, d, h, mi, s, 0]
    }

    /// The 17-byte date of a volume descriptor (ECMA-119 8.4.26.1).
    fn descriptor_date(self) -> [u8; 17] {
        let (y, mo, d, h, mi, s) = self.fields();
        let text = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}00");
        let mut out = [0u8; 17];
        out[..16].copy_from_slice(text.as_bytes());
        out
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u8::try_from(m).unwrap_or(1),
        u8::try_from(d).unwrap_or(1),
    )
}

/// "Not specified" descriptor date: sixteen `0` digits and offset 0.
const UNSET_DATE: [u8; 17] = *b"0000000000000000\0";

/// A 16-bit number in both byte orders (ECMA-119 7.2.3).
pub(super) fn both16(v: u16) -> [u8; 4] {
    let (l, b) = (v.to_le_bytes(), v.to_be_bytes());
    [l[0], l[1], b[0], b[1]]
}

/// A 32-bit number in both byte orders (ECMA-119 7.3.3).
pub(super) fn both32(v: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&v.to_le_bytes());
    out[4..].copy_from_slice(&v.to_be_bytes());
    out
}

fn header(kind: u8) -> Vec<u8> {
    let mut d = vec![0u8; SECTOR];
    d[0] = kind;
    d[1..6].copy_from_slice(b"CD001");
    d[6] = 1;
    d
}

/// An a-character field of `len` bytes padded with spaces.
fn ascii_field(text: &str, len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = text.bytes().take(len).collect();
    out.resize(len, b' ');
    out
}

/// The primary volume descriptor (`joliet == false`, type 1) or the Joliet
/// supplementary volume descriptor (type 2, escape `%/E`, UCS-2 fields)
/// describing `tree`.
pub(super) fn volume_descriptor(
    joliet: bool,
    volume_id: &str,
    volume_sectors: u32,
    tree: &Tree,
    timestamp: Timestamp,
) -> Vec<u8> {
    let mut d = header(if joliet { 2 } else { 1 });
    let text = |s: &str, len: usize| {
        if joliet {
            names::joliet_field(s, len)
        } else {
            ascii_field(s, len)
        }
    };
    d[8..40].copy_from_slice(&text("", 32)); // system identifier
    let vol = if joliet {
        names::joliet_field(volume_id, 32)
    } else {
        ascii_field(
            &String::from_utf8_lossy(&names::iso_volume_id(volume_id)),
            32,
        )
    };
    d[40..72].copy_from_slice(&vol);
    d[80..88].copy_from_slice(&both32(volume_sectors));
    if joliet {
        d[88..91].copy_from_slice(b"%/E"); // UCS-2 level 3
    }
    d[120..124].copy_from_slice(&both16(1)); // volume set size
    d[124..128].copy_from_slice(&both16(1)); // volume sequence number
    d[128..132].copy_from_slice(&both16(2048)); // logical block size
    d[132..140].copy_from_slice(&both32(tree.path_table_size));
    d[140..144].copy_from_slice(&tree.l_table_lba.to_le_bytes());
    d[148..152].copy_from_slice(&tree.m_table_lba.to_be_bytes());
    d[156..190].copy_from_slice(&dirs::root_record(tree, timestamp));
    d[190..318].copy_from_slice(&text("", 128)); // volume set
    d[318..446].copy_from_slice(&text("", 128)); // publisher
    d[446..574].copy_from_slice(&text("", 128)); // data preparer
    d[574..702].copy_from_slice(&text("ISOTUNE", 128)); // application
    d[702..739].copy_from_slice(&text("", 37)); // copyright file
    d[739..776].copy_from_slice(&text("", 37)); // abstract file
    d[776..813].copy_from_slice(&text("", 37)); // bibliographic file
    let date = timestamp.descriptor_date();
    d[813..830].copy_from_slice(&date); // creation
    d[830..847].copy_from_slice(&date); // modification
    d[847..864].copy_from_slice(&UNSET_DATE); // expiration
    d[864..881].copy_from_slice(&date); // effective
    d[881] = 1; // file structure version
                // Application use: spaces, as mkisofs and xorriso leave it, so that
                // implantisomd5 (which refuses a non-blank area) can record an MD5 here.
    d[883..1395].fill(b' ');
    d
}

/// The El Torito boot record volume descriptor pointing at the catalog.
pub(super) fn boot_record(catalog_lba: u32) -> Vec<u8> {
    let mut d = header(0);
    d[7..30].copy_from_slice(b"EL TORITO SPECIFICATION");
    d[71..75].copy_from_slice(&catalog_lba.to_le_bytes());
    d
}

/// The volume descriptor set terminator.
pub(super) fn terminator() -> Vec<u8> {
    header(255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_fields() {
        let t = Timestamp::from_unix_seconds(1_709_214_307).unwrap();
        assert_eq!(&t.descriptor_date()[..16], b"2024022913450700");
        assert_eq!(t.record_date(), [124, 2, 29, 13, 45, 7, 0]);
        assert_eq!(
            &Timestamp::DEFAULT.descriptor_date()[..16],
            b"2000010100000000"
        );
        let min = Timestamp::from_unix_seconds(Timestamp::MIN_UNIX_SECONDS).unwrap();
        assert_eq!(min.record_date(), [0, 1, 1, 0, 0, 0, 0]);
        let max = Timestamp::from_unix_seconds(Timestamp::MAX_UNIX_SECONDS).unwrap();
        assert_eq!(max.record_date(), [255, 12, 31, 23, 59, 59, 0]);
        assert!(Timestamp::from_unix_seconds(Timestamp::MAX_UNIX_SECONDS + 1).is_err());
        assert!(Timestamp::from_unix_seconds(Timestamp::MIN_UNIX_SECONDS - 1).is_err());
        let now = Timestamp::from_system_time(UNIX_EPOCH).unwrap();
        assert_eq!(now.unix_seconds(), 0);
    }

    #[test]
    fn both_endian_fields() {
        assert_eq!(both16(0x0102), [2, 1, 1, 2]);
        assert_eq!(both32(0x0102_0304), [4, 3, 2, 1, 1, 2, 3, 4]);
    }

    #[test]
    fn boot_record_points_at_the_catalog() {
        let d = boot_record(0x1234);
        assert_eq!(&d[1..6], b"CD001");
        assert_eq!(&d[7..30], b"EL TORITO SPECIFICATION");
        assert_eq!(d[30], 0);
        assert_eq!(&d[71..75], &[0x34, 0x12, 0, 0]);
        assert_eq!(terminator()[0], 255);
    }
}
