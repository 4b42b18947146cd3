//! The few bytes of the primary volume descriptor verification needs: the
//! `CD001` signature, the volume size, and the application-use field. Read
//! directly with one positioned read, so this crate does not wait for (or
//! depend on) the full descriptor parser in `isotune-iso`.
//!
//! Two volume sizes are kept apart on purpose:
//! - [`VolumeHead::volume_bytes`], for the truncation check: the
//!   little-endian volume space size × 2048. isotune always uses 2048-byte
//!   sectors; the logical block size field is not trusted (a value of 0
//!   would otherwise declare an empty, always "complete" volume).
//! - [`VolumeHead::isomd5_volume_bytes`], for the implanted MD5: the
//!   big-endian copy × 2048, which is what isomd5sum hashes against.

use std::io;

use isotune_iso::md5record::{self, APP_USE_OFFSET_IN_PVD, APP_USE_SIZE, PVD_OFFSET};
use isotune_iso::ReadAt;

/// Bytes of one sector, and of one logical block as isotune reads volumes.
pub(crate) const SECTOR_BYTES: u64 = 2048;

/// What sector 16 holds.
#[derive(Debug, Clone)]
pub(crate) enum Head {
    /// A volume descriptor (`CD001` at byte 32769) read whole.
    Iso(VolumeHead),
    /// The file ends before the descriptor does (at `file_bytes`, before
    /// byte 32768 + 2048): a truncated image, or not an image at all.
    TooShort {
        /// Size of the file in bytes.
        file_bytes: u64,
    },
    /// The bytes are there and are not `CD001`.
    NotIso,
}

/// What the descriptor at sector 16 says about the volume.
#[derive(Debug, Clone)]
pub(crate) struct VolumeHead {
    /// Descriptor type byte (1 = primary).
    pub descriptor_type: u8,
    /// Volume space size (little-endian, bytes 80..84) × 2048.
    pub volume_bytes: u64,
    /// The volume size isomd5sum uses (big-endian field × 2048).
    pub isomd5_volume_bytes: u64,
    /// The 512-byte application-use field.
    pub app_use: Vec<u8>,
}

impl VolumeHead {
    /// Whether sector 16 is a primary volume descriptor (where isomd5sum
    /// looks for its record).
    pub fn is_primary(&self) -> bool {
        self.descriptor_type == 1
    }
}

/// Reads the descriptor at sector 16 of a source of `file_bytes` bytes.
pub(crate) fn read_head(src: &dyn ReadAt, file_bytes: u64) -> io::Result<Head> {
    let available = file_bytes.saturating_sub(PVD_OFFSET).min(SECTOR_BYTES);
    // Whether the signature is there decides between "too short" and "not
    // an ISO": only bytes that exist can say an image is not one.
    if available < 6 {
        return Ok(Head::TooShort { file_bytes });
    }
    let mut pvd = vec![0u8; usize::try_from(available).unwrap_or(0)];
    src.read_exact_at(&mut pvd, PVD_OFFSET)?;
    if &pvd[1..6] != b"CD001" {
        return Ok(Head::NotIso);
    }
    if available < SECTOR_BYTES {
        return Ok(Head::TooShort { file_bytes });
    }
    let blocks = u32::from_le_bytes([pvd[80], pvd[81], pvd[82], pvd[83]]);
    let app = APP_USE_OFFSET_IN_PVD as usize;
    Ok(Head::Iso(VolumeHead {
        descriptor_type: pvd[0],
        volume_bytes: u64::from(blocks) * SECTOR_BYTES,
        isomd5_volume_bytes: md5record::isomd5_volume_bytes(&pvd).unwrap_or(0),
        app_use: pvd[app..app + APP_USE_SIZE].to_vec(),
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fake image: `sectors` sectors with a PVD at 16 declaring `volume`
    /// sectors of 2048 bytes and a blank application area.
    pub(crate) fn fake_iso(sectors: usize, volume: u32) -> Vec<u8> {
        let mut img = vec![0u8; sectors * 2048];
        let pvd = &mut img[32768..34816];
        pvd[0] = 1;
        pvd[1..6].copy_from_slice(b"CD001");
        pvd[6] = 1;
        pvd[80..84].copy_from_slice(&volume.to_le_bytes());
        pvd[84..88].copy_from_slice(&volume.to_be_bytes());
        pvd[128..130].copy_from_slice(&2048u16.to_le_bytes());
        pvd[130..132].copy_from_slice(&2048u16.to_be_bytes());
        pvd[883..883 + 512].fill(b' ');
        img
    }

    fn head(img: &[u8]) -> Head {
        read_head(&img, img.len() as u64).unwrap()
    }

    #[test]
    fn reads_sizes_and_app_area() {
        let Head::Iso(h) = head(&fake_iso(40, 50)) else {
            panic!("not read as an ISO");
        };
        assert!(h.is_primary());
        assert_eq!(h.volume_bytes, 50 * 2048);
        assert_eq!(h.isomd5_volume_bytes, 50 * 2048);
        assert!(md5record::is_blank(&h.app_use));
    }

    #[test]
    fn the_logical_block_size_field_is_not_trusted() {
        for block_size in [0u16, 512, 4096] {
            let mut img = fake_iso(40, 50);
            img[32768 + 128..32768 + 130].copy_from_slice(&block_size.to_le_bytes());
            let Head::Iso(h) = head(&img) else {
                panic!("not read as an ISO");
            };
            assert_eq!(h.volume_bytes, 50 * 2048, "block size {block_size}");
        }
    }

    #[test]
    fn the_two_copies_of_the_volume_size_stay_apart() {
        let mut img = fake_iso(40, 50);
        img[32768 + 84..32768 + 88].copy_from_slice(&30u32.to_be_bytes());
        let Head::Iso(h) = head(&img) else {
            panic!("not read as an ISO");
        };
        assert_eq!(h.volume_bytes, 50 * 2048);
        assert_eq!(h.isomd5_volume_bytes, 30 * 2048);
    }

    #[test]
    fn missing_bytes_are_too_short_and_other_bytes_are_not_an_iso() {
        let iso = fake_iso(40, 50);
        for cut in [0usize, 1000, 20_000, 32_768, 32_773] {
            assert!(
                matches!(head(&iso[..cut]), Head::TooShort { file_bytes } if file_bytes == cut as u64),
                "cut at {cut}"
            );
        }
        // The signature is there but the descriptor is cut.
        assert!(matches!(head(&iso[..33_000]), Head::TooShort { .. }));
        assert!(matches!(head(&iso[..34_816]), Head::Iso(_)));
        // The bytes exist and are not CD001.
        assert!(matches!(head(&vec![0u8; 32_774]), Head::NotIso));
        assert!(matches!(head(&vec![0u8; 40 * 2048]), Head::NotIso));
    }
}
