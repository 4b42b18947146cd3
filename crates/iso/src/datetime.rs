//! ISO9660 dates and times.
//!
//! Volume descriptors store dates as 17 bytes of ASCII digits plus a GMT
//! offset (ECMA-119 8.4.26.1); directory records and Rock Ridge `TF` entries
//! (short form) store 7 binary bytes (9.1.5). Both become an [`IsoDateTime`];
//! the "not specified" encodings (all zero digits, all zero bytes) become
//! `None`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A date and time as recorded on the image, in the recorder's local time
/// with its offset from GMT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IsoDateTime {
    /// Full year (e.g. 2024).
    pub year: u16,
    /// Month, 1-12 on a well-formed image.
    pub month: u8,
    /// Day of the month, 1-31 on a well-formed image.
    pub day: u8,
    /// Hour, 0-23.
    pub hour: u8,
    /// Minute, 0-59.
    pub minute: u8,
    /// Second, 0-59.
    pub second: u8,
    /// Hundredths of a second (always 0 in the 7-byte form).
    pub hundredths: u8,
    /// Offset from GMT in minutes (the image stores 15-minute units).
    pub gmt_offset_minutes: i16,
}

impl IsoDateTime {
    /// Decodes the 17-byte descriptor form ("YYYYMMDDHHMMSScc" + offset).
    /// Returns `None` for the unset value, non-digits or a short buffer.
    pub fn from_descriptor(b: &[u8]) -> Option<Self> {
        let b = b.get(..17)?;
        let digits = b.get(..16)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        if digits.iter().all(|&d| d == b'0') {
            return None;
        }
        let num = |from: usize, len: usize| -> u16 {
            digits
                .iter()
                .skip(from)
                .take(len)
                .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'))
        };
        let small = |from: usize| -> u8 { u8::try_from(num(from, 2)).unwrap_or(0) };
        Some(IsoDateTime {
            year: num(0, 4),
            month: small(4),
            day: small(6),
            hour: small(8),
            minute: small(10),
            second: small(12),
            hundredths: small(14),
            gmt_offset_minutes: offset_minutes(b[16]),
        })
    }

    /// Decodes the 7-byte directory-record form (years since 1900, month,
    /// day, hour, minute, second, offset). Returns `None` when all zero or short.
    pub fn from_record(b: &[u8]) -> Option<Self> {
        let b = b.get(..7)?;
        if b.iter().all(|&x| x == 0) {
            return None;
        }
        Some(IsoDateTime {
            year: 1900 + u16::from(b[0]),
            month: b[1],
            day: b[2],
            hour: b[3],
            minute: b[4],
            second: b[5],
            hundredths: 0,
            gmt_offset_minutes: offset_minutes(b[6]),
        })
    }

    /// Seconds since the Unix epoch (UTC), when the fields form a real date.
    pub fn unix_seconds(&self) -> Option<i64> {
        if !(1..=12).contains(&self.month) || !(1..=31).contains(&self.day) {
            return None;
        }
        if self.hour > 23 || self.minute > 59 || self.second > 60 {
            return None;
        }
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let local = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        Some(local - i64::from(self.gmt_offset_minutes) * 60)
    }
}

/// The stored offset is a signed count of 15-minute intervals (-48..=52).
fn offset_minutes(raw: u8) -> i16 {
    i16::from(i8::from_ne_bytes([raw])) * 15
}

impl fmt::Display for IsoDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let off = self.gmt_offset_minutes;
        let sign = if off < 0 { '-' } else { '+' };
        let abs = off.unsigned_abs();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:02}{}{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.hundredths,
            sign,
            abs / 60,
            abs % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_form() {
        let mut b = *b"2024010203040506\x04";
        let d = IsoDateTime::from_descriptor(&b).unwrap();
        assert_eq!((d.year, d.month, d.day), (2024, 1, 2));
        assert_eq!((d.hour, d.minute, d.second, d.hundredths), (3, 4, 5, 6));
        assert_eq!(d.gmt_offset_minutes, 60);
        assert_eq!(d.to_string(), "2024-01-02T03:04:05.06+01:00");
        b[16] = 0xF8; // -8 * 15 minutes
        assert_eq!(
            IsoDateTime::from_descriptor(&b).unwrap().gmt_offset_minutes,
            -120
        );
    }

    #[test]
    fn unset_and_garbage_descriptor_dates_are_none() {
        assert_eq!(IsoDateTime::from_descriptor(b"0000000000000000\0"), None);
        assert_eq!(IsoDateTime::from_descriptor(&[0u8; 17]), None);
        assert_eq!(IsoDateTime::from_descriptor(b"20240102"), None);
        assert_eq!(IsoDateTime::from_descriptor(b"2024x10203040506\0"), None);
    }

    #[test]
    fn record_form() {
        let d = IsoDateTime::from_record(&[124, 12, 31, 23, 59, 58, 0]).unwrap();
        assert_eq!((d.year, d.month, d.day), (2024, 12, 31));
        assert_eq!(d.hundredths, 0);
        assert_eq!(IsoDateTime::from_record(&[0; 7]), None);
        assert_eq!(IsoDateTime::from_record(&[1, 2]), None);
    }

    #[test]
    fn unix_seconds() {
        let epoch = IsoDateTime::from_record(&[70, 1, 1, 0, 0, 0, 0]).unwrap();
        assert_eq!(epoch.unix_seconds(), Some(0));
        let d = IsoDateTime::from_record(&[124, 2, 29, 12, 0, 0, 4]).unwrap();
        assert_eq!(d.unix_seconds(), Some(1_709_208_000 - 3600));
        let bad = IsoDateTime::from_record(&[124, 13, 1, 0, 0, 0, 0]).unwrap();
        assert_eq!(bad.unix_seconds(), None);
    }
}
