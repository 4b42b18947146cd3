//! UDF bridge detection: does the image also carry a UDF file system?
//!
//! A UDF bridge image (`genisoimage -udf`, Windows and some DVD images) puts
//! a volume recognition sequence (VRS) right after the ISO9660 descriptor set:
//! `BEA01`, then `NSR02` (UDF 1.02-1.50) or `NSR03` (UDF 2.00+), then
//! `TEA01`, one 2048-byte sector each. UDF then needs an anchor volume
//! descriptor pointer (tag id 2) at sector 256. [`detect_udf`] looks for both;
//! it does not read the UDF file tree.
//!
//! Limits: at most [`MAX_VRS_SECTORS`] sectors are scanned from sector 16.

use serde::{Deserialize, Serialize};

use crate::bytes::{le_u16, le_u32};
use crate::{Anomaly, ReadAt, Result, Severity, SECTOR_SIZE};

/// Most sectors scanned for the descriptor set and the recognition sequence.
pub const MAX_VRS_SECTORS: u64 = 128;
/// Sectors scanned after the ISO9660 terminator before giving up on a VRS.
const AFTER_TERMINATOR: u64 = 64;
/// Where UDF requires the anchor volume descriptor pointer.
pub const ANCHOR_SECTOR: u64 = 256;

/// One descriptor of the volume recognition area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrsDescriptor {
    /// Sector it was found at.
    pub sector: u64,
    /// Its standard identifier (`CD001`, `BEA01`, `NSR03`, ...).
    pub id: String,
}

/// Where a UDF volume descriptor sequence lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtentAd {
    /// First sector.
    pub location: u32,
    /// Length in bytes.
    pub length: u32,
}

/// The anchor volume descriptor pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// Sector it was found at.
    pub sector: u64,
    /// The tag checksum matches.
    pub tag_checksum_ok: bool,
    /// The tag's recorded location equals `sector`.
    pub location_ok: bool,
    /// The main volume descriptor sequence.
    pub main_vds: ExtentAd,
    /// The reserve volume descriptor sequence.
    pub reserve_vds: ExtentAd,
}

/// What the image says about UDF.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdfInfo {
    /// A UDF file system is present (an NSR descriptor inside BEA01..TEA01
    /// and an anchor at sector 256).
    pub present: bool,
    /// 2 for `NSR02`, 3 for `NSR03`.
    pub nsr: Option<u8>,
    /// The descriptors found from sector 16, in order (ISO9660 ones included).
    pub vrs: Vec<VrsDescriptor>,
    /// The anchor at sector 256, when there is one.
    pub anchor: Option<Anchor>,
    /// What was odd.
    pub anomalies: Vec<Anomaly>,
}

const KNOWN_IDS: [&[u8; 5]; 7] = [
    b"CD001", b"BEA01", b"NSR02", b"NSR03", b"TEA01", b"BOOT2", b"CDW02",
];

/// Scans the volume recognition area and the anchor at sector 256.
///
/// A short image simply has no UDF; only I/O errors other than the end of
/// the source fail.
pub fn detect_udf<R: ReadAt + ?Sized>(source: &R) -> Result<UdfInfo> {
    let mut info = UdfInfo::default();
    let mut buf = vec![0u8; SECTOR_SIZE as usize];
    let mut terminator = None;
    let mut in_extended = false;
    let mut tea_seen = false;
    let mut nsr_in_area = None;
    for sector in 16..16 + MAX_VRS_SECTORS {
        if let Some(t) = terminator {
            if sector > t + AFTER_TERMINATOR {
                break;
            }
        }
        if !read_sector(source, sector, &mut buf)? {
            break;
        }
        let id = &buf[1..6];
        let Some(known) = KNOWN_IDS.iter().find(|k| k[..] == *id) else {
            // The sequence ends at the first sector that is not a descriptor.
            break;
        };
        info.vrs.push(VrsDescriptor {
            sector,
            id: String::from_utf8_lossy(&known[..]).into_owned(),
        });
        match &known[..] {
            b"CD001" if buf[0] == 255 => terminator = Some(sector),
            b"BEA01" => in_extended = true,
            b"TEA01" => {
                in_extended = false;
                tea_seen = true;
                break;
            }
            b"NSR02" | b"NSR03" => {
                let n = if known[..] == *b"NSR02" { 2 } else { 3 };
                info.nsr = Some(n);
                if in_extended {
                    nsr_in_area = Some(n);
                }
            }
            _ => {}
        }
    }
    if info.nsr.is_some() && nsr_in_area.is_none() {
        info.anomalies.push(Anomaly::new(
            "udf.nsr-outside-extended-area",
            Severity::Warn,
            "an NSR descriptor was found outside a BEA01 ... TEA01 extended area",
        ));
    }
    if in_extended && !tea_seen {
        info.anomalies.push(Anomaly::new(
            "udf.missing-tea",
            Severity::Warn,
            "the UDF extended area (BEA01) has no terminating TEA01",
        ));
    }

    if read_sector(source, ANCHOR_SECTOR, &mut buf)? && le_u16(&buf, 0) == 2 {
        let checksum = buf
            .iter()
            .take(16)
            .enumerate()
            .filter(|&(i, _)| i != 4)
            .fold(0u8, |s, (_, &b)| s.wrapping_add(b));
        info.anchor = Some(Anchor {
            sector: ANCHOR_SECTOR,
            tag_checksum_ok: checksum == buf[4],
            location_ok: u64::from(le_u32(&buf, 12)) == ANCHOR_SECTOR,
            main_vds: ExtentAd {
                length: le_u32(&buf, 16),
                location: le_u32(&buf, 20),
            },
            reserve_vds: ExtentAd {
                length: le_u32(&buf, 24),
                location: le_u32(&buf, 28),
            },
        });
    }
    let anchor_ok = info
        .anchor
        .as_ref()
        .is_some_and(|a| a.tag_checksum_ok && a.location_ok);
    info.present = nsr_in_area.is_some() && anchor_ok;
    if nsr_in_area.is_some() && !anchor_ok {
        info.anomalies.push(Anomaly::new(
            "udf.no-anchor",
            Severity::Warn,
            format!(
                "the image announces UDF (NSR0{}) but has no valid anchor volume descriptor pointer at sector {ANCHOR_SECTOR}",
                nsr_in_area.unwrap_or(0)
            ),
        ));
    }
    Ok(info)
}

/// Reads one sector; `false` when the source ends before it.
fn read_sector<R: ReadAt + ?Sized>(source: &R, sector: u64, buf: &mut [u8]) -> Result<bool> {
    let off = sector * SECTOR_SIZE;
    match source.read_exact_at(buf, off) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(crate::Error::io("reading the UDF recognition area", off, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(img: &mut [u8], sector: usize, kind: u8, id: &[u8; 5]) {
        let s = &mut img[sector * 2048..];
        s[0] = kind;
        s[1..6].copy_from_slice(id);
        s[6] = 1;
    }

    fn anchor(img: &mut [u8], location: u32) {
        let s = &mut img[256 * 2048..257 * 2048];
        s[0] = 2;
        s[2] = 2;
        s[12..16].copy_from_slice(&location.to_le_bytes());
        s[16..20].copy_from_slice(&(16 * 2048u32).to_le_bytes());
        s[20..24].copy_from_slice(&32u32.to_le_bytes());
        s[24..28].copy_from_slice(&(16 * 2048u32).to_le_bytes());
        s[28..32].copy_from_slice(&48u32.to_le_bytes());
        let sum = s[..16]
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != 4)
            .fold(0u8, |a, (_, &b)| a.wrapping_add(b));
        s[4] = sum;
    }

    fn iso_with_vrs(vrs: &[&[u8; 5]]) -> Vec<u8> {
        let mut img = vec![0u8; 300 * 2048];
        put(&mut img, 16, 1, b"CD001");
        put(&mut img, 17, 255, b"CD001");
        for (i, id) in vrs.iter().enumerate() {
            put(&mut img, 18 + i, 0, id);
        }
        img
    }

    #[test]
    fn udf_bridge() {
        let mut img = iso_with_vrs(&[b"BEA01", b"NSR02", b"TEA01"]);
        anchor(&mut img, 256);
        let u = detect_udf(&img).unwrap();
        assert!(u.present, "{u:?}");
        assert_eq!(u.nsr, Some(2));
        let ids: Vec<_> = u.vrs.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["CD001", "CD001", "BEA01", "NSR02", "TEA01"]);
        let a = u.anchor.unwrap();
        assert_eq!(
            a.main_vds,
            ExtentAd {
                location: 32,
                length: 32768
            }
        );
        assert!(u.anomalies.is_empty());
    }

    #[test]
    fn plain_iso_has_no_udf() {
        let u = detect_udf(&iso_with_vrs(&[])).unwrap();
        assert!(!u.present && u.nsr.is_none() && u.anchor.is_none());
        assert_eq!(u.vrs.len(), 2);
    }

    #[test]
    fn nsr_without_anchor_or_tea() {
        let mut img = iso_with_vrs(&[b"BEA01", b"NSR03"]);
        anchor(&mut img, 999);
        let u = detect_udf(&img).unwrap();
        assert!(!u.present);
        assert_eq!(u.nsr, Some(3));
        assert!(!u.anchor.as_ref().unwrap().location_ok);
        let ids: Vec<_> = u.anomalies.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["udf.missing-tea", "udf.no-anchor"]);
    }

    #[test]
    fn short_and_endless_images_are_fine() {
        assert!(!detect_udf(&vec![0u8; 100]).unwrap().present);
        // Every sector a descriptor and no terminator: the scan stops at its limit.
        let mut img = vec![0u8; 400 * 2048];
        for s in 16..400 {
            put(&mut img, s, 1, b"CD001");
        }
        let u = detect_udf(&img).unwrap();
        assert_eq!(u.vrs.len() as u64, MAX_VRS_SECTORS);
    }

    use crate::testimg::noise;

    #[test]
    fn random_bytes_never_panic() {
        for seed in 0..20 {
            let mut img = noise(300 * 2048, seed);
            for (i, id) in [b"CD001", b"BEA01", b"NSR03"].iter().enumerate() {
                put(&mut img, 16 + i, 0, id);
            }
            img[256 * 2048] = 2;
            img[256 * 2048 + 1] = 0;
            let _ = detect_udf(&img);
        }
    }
}
