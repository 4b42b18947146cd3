//! The fields primary and supplementary volume descriptors share
//! (ECMA-119 8.4 and 8.5), and how Joliet is recognised among supplementary
//! descriptors.
//!
//! [`VolumeInfo`] is the decoded primary descriptor (and the common part of a
//! supplementary one): identifiers, the volume size, the path tables, the root
//! directory record, dates and the raw 512-byte application-use field (where
//! implantisomd5 keeps its record). [`VolumeDescriptorSet`](crate::descriptor::VolumeDescriptorSet)
//! decodes each primary and supplementary descriptor with `VolumeInfo::parse`.

use serde::{Deserialize, Serialize};

use crate::bytes::{both_u16, both_u32, field, le_u32, text, u8_at, ucs2_text};
use crate::datetime::IsoDateTime;
use crate::directory::DirectoryRecord;
use crate::types::{Anomaly, Severity, SECTOR_SIZE};

/// The fields primary and supplementary descriptors share (ECMA-119 8.4).
/// In a Joliet descriptor the identifiers are decoded from UCS-2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInfo {
    /// Sector the descriptor was read from.
    pub sector: u64,
    /// The descriptor version byte (1; 2 for an enhanced descriptor).
    pub version: u8,
    /// System identifier (the system that can act on sectors 0-15).
    pub system_id: String,
    /// Volume identifier (the label).
    pub volume_id: String,
    /// Volume space size in logical blocks.
    pub volume_space_size: u32,
    /// Number of volumes in the volume set.
    pub volume_set_size: u16,
    /// This volume's number in the set.
    pub volume_sequence_number: u16,
    /// Logical block size in bytes, as declared (2048 on every real image;
    /// the reader uses 2048 whatever this says, see [`VolumeInfo::volume_bytes`]).
    pub logical_block_size: u16,
    /// Path table size in bytes.
    pub path_table_size: u32,
    /// Block of the little-endian (type L) path table.
    pub l_path_table: u32,
    /// Block of the optional type L path table (0 = none).
    pub optional_l_path_table: u32,
    /// Block of the big-endian (type M) path table.
    pub m_path_table: u32,
    /// Block of the optional type M path table (0 = none).
    pub optional_m_path_table: u32,
    /// The root directory record.
    pub root: RootDirectory,
    /// Volume set identifier.
    pub volume_set_id: String,
    /// Publisher identifier.
    pub publisher_id: String,
    /// Data preparer identifier.
    pub data_preparer_id: String,
    /// Application identifier.
    pub application_id: String,
    /// Copyright file identifier.
    pub copyright_file_id: String,
    /// Abstract file identifier.
    pub abstract_file_id: String,
    /// Bibliographic file identifier.
    pub bibliographic_file_id: String,
    /// Volume creation date and time.
    pub creation_date: Option<IsoDateTime>,
    /// Volume modification date and time.
    pub modification_date: Option<IsoDateTime>,
    /// Date and time after which the volume is obsolete.
    pub expiration_date: Option<IsoDateTime>,
    /// Date and time from which the volume may be used.
    pub effective_date: Option<IsoDateTime>,
    /// File structure version (1).
    pub file_structure_version: u8,
    /// The 512-byte application-use field (bytes 883-1394), raw. In JSON it
    /// appears as text with trailing spaces and NULs trimmed.
    #[serde(with = "app_use_text")]
    pub application_use: Vec<u8>,
}

/// The primary volume descriptor: the ISO9660 tree and the volume's size.
pub type PrimaryVolumeDescriptor = VolumeInfo;

/// A supplementary or enhanced volume descriptor (ECMA-119 8.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplementaryVolumeDescriptor {
    /// Everything it shares with a primary descriptor.
    #[serde(flatten)]
    pub info: VolumeInfo,
    /// Volume flags (bit 0: escape sequences not registered per ISO 2375).
    pub volume_flags: u8,
    /// The 32-byte escape-sequence field, trimmed (Joliet: `%/@`, `%/C`, `%/E`).
    pub escape_sequences: String,
    /// Joliet level 1-3 when the escape sequences say UCS-2.
    pub joliet_level: Option<u8>,
}

impl SupplementaryVolumeDescriptor {
    /// Whether this is a Joliet descriptor (a version 1 SVD with a UCS-2
    /// escape sequence).
    pub fn is_joliet(&self) -> bool {
        self.joliet_level.is_some()
    }

    /// Whether this is an enhanced volume descriptor (version 2, ISO 9660:1999).
    pub fn is_enhanced(&self) -> bool {
        self.info.version == 2
    }
}

/// The root directory record embedded in a primary or supplementary descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootDirectory {
    /// First block of the root directory (including any extended attribute record).
    pub extent_lba: u32,
    /// Extended attribute record length in blocks.
    pub ext_attr_length: u8,
    /// Size of the root directory in bytes.
    pub data_length: u32,
    /// File flags (bit 1 must be set: it is a directory).
    pub flags: u8,
    /// Recording date and time.
    pub recorded: Option<IsoDateTime>,
}

impl RootDirectory {
    /// Whether the directory flag is set, as it must be.
    pub fn is_directory(&self) -> bool {
        self.flags & crate::directory::FileFlags::DIRECTORY != 0
    }

    /// The extent holding the directory's records.
    pub fn extent(&self) -> crate::types::Extent {
        crate::types::Extent {
            lba: u64::from(self.extent_lba).saturating_add(u64::from(self.ext_attr_length)),
            size: u64::from(self.data_length),
        }
    }
}

impl VolumeInfo {
    /// The volume's size in bytes: `volume_space_size` × 2048.
    ///
    /// The declared [`logical_block_size`](Self::logical_block_size) is not
    /// used: every real image declares 2048, El Torito counts 2048-byte
    /// sectors, isohybrid and xorriso place their partitions assuming it, and
    /// this reader reads every block number as a 2048-byte sector
    /// ([`SECTOR_SIZE`]). An image declaring another size is reported (a
    /// `descriptor.impossible-value` anomaly) and read the same way, so its
    /// size stays consistent with every other offset the reader computes.
    pub fn volume_bytes(&self) -> u64 {
        u64::from(self.volume_space_size).saturating_mul(SECTOR_SIZE)
    }

    /// Decodes the fields a primary or supplementary descriptor shares;
    /// `ucs2` for Joliet identifiers. Both-endian mismatches and an unreadable
    /// root record go to `anomalies`.
    pub(crate) fn parse(
        b: &[u8],
        sector: u64,
        ucs2: bool,
        anomalies: &mut Vec<Anomaly>,
    ) -> VolumeInfo {
        let id = |off: usize, len: usize| {
            if ucs2 {
                ucs2_text(field(b, off, len))
            } else {
                text(field(b, off, len))
            }
        };
        let (volume_space_size, m1) = both_u32(b, 80);
        let (volume_set_size, m2) = both_u16(b, 120);
        let (volume_sequence_number, m3) = both_u16(b, 124);
        let (logical_block_size, m4) = both_u16(b, 128);
        let (path_table_size, m5) = both_u32(b, 132);
        for (bad, what) in [
            (m1, "volume space size"),
            (m2, "volume set size"),
            (m3, "volume sequence number"),
            (m4, "logical block size"),
            (m5, "path table size"),
        ] {
            if bad {
                anomalies.push(mismatch(sector, what));
            }
        }
        let root_bytes = field(b, 156, 34);
        let root = match DirectoryRecord::parse(root_bytes) {
            Ok(r) => {
                if r.both_endian_mismatch {
                    anomalies.push(mismatch(sector, "root directory record"));
                }
                RootDirectory {
                    extent_lba: r.extent_lba,
                    ext_attr_length: r.ext_attr_length,
                    data_length: r.data_length,
                    flags: r.flags.0,
                    recorded: r.recorded(),
                }
            }
            Err(e) => {
                anomalies.push(Anomaly::new(
                    "descriptor.impossible-value",
                    Severity::Error,
                    format!("the root directory record of the descriptor at sector {sector} is unreadable: {e}"),
                ));
                RootDirectory {
                    extent_lba: 0,
                    ext_attr_length: 0,
                    data_length: 0,
                    flags: 0,
                    recorded: None,
                }
            }
        };
        VolumeInfo {
            sector,
            version: u8_at(b, 6),
            system_id: id(8, 32),
            volume_id: id(40, 32),
            volume_space_size,
            volume_set_size,
            volume_sequence_number,
            logical_block_size,
            path_table_size,
            l_path_table: le_u32(b, 140),
            optional_l_path_table: le_u32(b, 144),
            m_path_table: crate::bytes::be_u32(b, 148),
            optional_m_path_table: crate::bytes::be_u32(b, 152),
            root,
            volume_set_id: id(190, 128),
            publisher_id: id(318, 128),
            data_preparer_id: id(446, 128),
            application_id: id(574, 128),
            copyright_file_id: id(702, 37),
            abstract_file_id: id(739, 37),
            bibliographic_file_id: id(776, 37),
            creation_date: IsoDateTime::from_descriptor(field(b, 813, 17)),
            modification_date: IsoDateTime::from_descriptor(field(b, 830, 17)),
            expiration_date: IsoDateTime::from_descriptor(field(b, 847, 17)),
            effective_date: IsoDateTime::from_descriptor(field(b, 864, 17)),
            file_structure_version: u8_at(b, 881),
            application_use: field(b, 883, 512).to_vec(),
        }
    }
}

/// The anomaly for a both-endian field whose halves disagree.
pub(crate) fn mismatch(sector: u64, what: &str) -> Anomaly {
    Anomaly::new(
        "descriptor.both-endian-mismatch",
        Severity::Warn,
        format!(
            "the little- and big-endian copies of the {what} differ in the descriptor at sector {sector}; the little-endian value is used"
        ),
    )
}

/// Joliet level from the escape sequences: `%/@` = 1, `%/C` = 2, `%/E` = 3.
pub(crate) fn joliet_level(esc: &[u8]) -> Option<u8> {
    esc.windows(3).find_map(|w| match w {
        b"%/@" => Some(1),
        b"%/C" => Some(2),
        b"%/E" => Some(3),
        _ => None,
    })
}

/// Serde for the application-use bytes: trimmed text out, bytes back in.
mod app_use_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::bytes::text(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(String::deserialize(d)?.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joliet_levels() {
        let mut esc = [0u8; 32];
        assert_eq!(joliet_level(&esc), None);
        esc[..3].copy_from_slice(b"%/@");
        assert_eq!(joliet_level(&esc), Some(1));
        esc[..3].copy_from_slice(b"%/C");
        assert_eq!(joliet_level(&esc), Some(2));
        esc[5..8].copy_from_slice(b"%/E");
        esc[..3].fill(0);
        assert_eq!(joliet_level(&esc), Some(3));
    }

    #[test]
    fn short_or_empty_descriptor_bytes_do_not_panic() {
        let mut anomalies = Vec::new();
        let v = VolumeInfo::parse(&[], 16, false, &mut anomalies);
        assert_eq!(v.volume_space_size, 0);
        assert!(!v.root.is_directory());
        assert_eq!(anomalies.len(), 1);
        let v = VolumeInfo::parse(&[0xFF; 300], 16, true, &mut anomalies);
        assert_eq!(v.application_use.len(), 0);
    }
}
