//! The few bytes of the primary volume descriptor verification needs: the
//! `CD001` signature, both copies of the volume size, and the
//! application-use field. Read directly with one positioned read, so this
//! crate does not wait for (or depend on) the full descriptor parser.

use std::io;

use isotune_iso::md5record::{self, APP_USE_OFFSET_IN_PVD, APP_USE_SIZE, PVD_OFFSET};
use isotune_iso::ReadAt;

/// What sector 16 says about the volume.
#[derive(Debug, Clone)]
pub(crate) struct VolumeHead {
    /// Descriptor type byte (1 = primary).
    pub descriptor_type: u8,
    /// Volume space size (little-endian, bytes 80..84) × logical block size
    /// (little-endian, bytes 128..130): the size the volume claims.
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

/// Reads the descriptor at sector 16. `Ok(None)` when the source is too
/// short to hold one or has no `CD001` at byte 32769.
pub(crate) fn read_head(src: &dyn ReadAt) -> io::Result<Option<VolumeHead>> {
    let mut pvd = vec![0u8; 2048];
    match src.read_exact_at(&mut pvd, PVD_OFFSET) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    if &pvd[1..6] != b"CD001" {
        return Ok(None);
    }
    let blocks = u32::from_le_bytes([pvd[80], pvd[81], pvd[82], pvd[83]]);
    let block_size = u16::from_le_bytes([pvd[128], pvd[129]]);
    let app = APP_USE_OFFSET_IN_PVD as usize;
    Ok(Some(VolumeHead {
        descriptor_type: pvd[0],
        volume_bytes: u64::from(blocks) * u64::from(block_size),
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

    #[test]
    fn reads_sizes_and_app_area() {
        let img = fake_iso(40, 50);
        let head = read_head(&img).unwrap().unwrap();
        assert!(head.is_primary());
        assert_eq!(head.volume_bytes, 50 * 2048);
        assert_eq!(head.isomd5_volume_bytes, 50 * 2048);
        assert!(md5record::is_blank(&head.app_use));
    }

    #[test]
    fn short_or_unsigned_sources_are_not_isos() {
        assert!(read_head(&vec![0u8; 1000]).unwrap().is_none());
        assert!(read_head(&vec![0u8; 40 * 2048]).unwrap().is_none());
    }
}
