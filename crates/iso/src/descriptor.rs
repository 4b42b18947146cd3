//! The volume descriptor set: what an image says about itself.
//!
//! Descriptors start at sector 16 and run, one per sector, up to a set
//! terminator (ECMA-119 8). [`VolumeDescriptorSet::read`] reads them with one
//! positioned read each and keeps every kind: primary, supplementary and
//! enhanced (Joliet is a supplementary descriptor with a UCS-2 escape
//! sequence), boot records (El Torito), volume partitions, and unknown types by
//! number. Oddities that do not stop reading (a both-endian field whose halves
//! disagree, a set without a terminator) become [`Anomaly`] values.

use serde::{Deserialize, Serialize};

use crate::bytes::{both_u32, field, le_u32, text, u8_at};
use crate::error::{Error, ErrorKind, Result};
use crate::source::ReadAt;
use crate::types::{Anomaly, Severity, SECTOR_SIZE};
use crate::volume::{joliet_level, mismatch};
pub use crate::volume::{
    PrimaryVolumeDescriptor, RootDirectory, SupplementaryVolumeDescriptor, VolumeInfo,
};

/// The sector the volume descriptor set starts at.
pub const FIRST_DESCRIPTOR_SECTOR: u64 = 16;
/// At most this many descriptors are read before giving up on a terminator.
pub const MAX_DESCRIPTORS: u64 = 256;
/// The standard identifier of every ISO9660 volume descriptor.
pub const STANDARD_ID: &[u8; 5] = b"CD001";
/// The boot system identifier of an El Torito boot record.
pub const EL_TORITO_ID: &str = "EL TORITO SPECIFICATION";

/// Every descriptor of the set, in on-disk order, plus reading anomalies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeDescriptorSet {
    /// The descriptors in the order they appear, terminator included.
    pub descriptors: Vec<VolumeDescriptor>,
    /// Oddities seen while reading (both-endian mismatches, no terminator).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<Anomaly>,
}

/// One volume descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum VolumeDescriptor {
    /// Type 0: a boot record (El Torito).
    BootRecord(BootRecord),
    /// Type 1: the primary volume descriptor.
    Primary(PrimaryVolumeDescriptor),
    /// Type 2: a supplementary (version 1, e.g. Joliet) or enhanced (version 2)
    /// volume descriptor.
    Supplementary(SupplementaryVolumeDescriptor),
    /// Type 3: a volume partition descriptor.
    Partition(PartitionDescriptor),
    /// Any other type number.
    Unknown {
        /// Sector the descriptor was read from.
        sector: u64,
        /// The descriptor type byte.
        type_code: u8,
        /// The descriptor version byte.
        version: u8,
    },
    /// Type 255: the set terminator.
    Terminator {
        /// Sector the terminator was read from.
        sector: u64,
    },
}

/// A boot record (type 0), e.g. the El Torito pointer to the boot catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootRecord {
    /// Sector the descriptor was read from.
    pub sector: u64,
    /// Boot system identifier ("EL TORITO SPECIFICATION" for El Torito).
    pub boot_system_id: String,
    /// Boot identifier.
    pub boot_id: String,
    /// Block of the El Torito boot catalog (little-endian `u32` at byte 71),
    /// when the boot system identifier is El Torito's.
    pub el_torito_catalog_lba: Option<u32>,
}

impl BootRecord {
    /// Block of the El Torito boot catalog, when this is an El Torito record.
    pub fn el_torito_catalog_lba(&self) -> Option<u32> {
        self.el_torito_catalog_lba
    }
}

/// A volume partition descriptor (type 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionDescriptor {
    /// Sector the descriptor was read from.
    pub sector: u64,
    /// System identifier.
    pub system_id: String,
    /// Volume partition identifier.
    pub volume_partition_id: String,
    /// First block of the partition.
    pub location: u32,
    /// Size of the partition in blocks.
    pub size: u32,
}

impl VolumeDescriptorSet {
    /// Reads the set from sector 16 on. Fails with [`ErrorKind::NotIso`] when
    /// sector 16 is not a volume descriptor, with [`ErrorKind::Truncated`] when
    /// the source ends before it, and with [`ErrorKind::Malformed`] when the
    /// set has no primary descriptor.
    pub fn read(src: &dyn ReadAt) -> Result<Self> {
        let mut set = VolumeDescriptorSet {
            descriptors: Vec::new(),
            anomalies: Vec::new(),
        };
        let mut buf = vec![0u8; SECTOR_SIZE as usize];
        let mut terminated = false;
        for sector in FIRST_DESCRIPTOR_SECTOR..FIRST_DESCRIPTOR_SECTOR + MAX_DESCRIPTORS {
            let offset = sector * SECTOR_SIZE;
            if let Err(e) = src.read_exact_at(&mut buf, offset) {
                if sector == FIRST_DESCRIPTOR_SECTOR {
                    return Err(Error::io("reading the first volume descriptor", offset, e));
                }
                set.note(
                    "descriptor.no-terminator",
                    Severity::Error,
                    format!("the image ends at sector {sector} inside the volume descriptor set"),
                );
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    break;
                }
                return Err(Error::io("reading a volume descriptor", offset, e));
            }
            if field(&buf, 1, 5) != STANDARD_ID {
                if sector == FIRST_DESCRIPTOR_SECTOR {
                    return Err(Error::new(
                        ErrorKind::NotIso,
                        "no ISO9660 volume descriptor (CD001) at sector 16",
                    )
                    .at(offset));
                }
                set.note(
                    "descriptor.no-terminator",
                    Severity::Warn,
                    format!(
                        "the volume descriptor set ends at sector {sector} without a set terminator"
                    ),
                );
                break;
            }
            let d = set.parse(&buf, sector);
            let end = matches!(d, VolumeDescriptor::Terminator { .. });
            set.descriptors.push(d);
            if end {
                terminated = true;
                break;
            }
        }
        if !terminated && set.descriptors.len() as u64 >= MAX_DESCRIPTORS {
            set.note(
                "descriptor.no-terminator",
                Severity::Error,
                format!("no set terminator within {MAX_DESCRIPTORS} volume descriptors"),
            );
        }
        if set.primary().is_none() {
            return Err(Error::malformed(
                "the volume descriptor set has no primary volume descriptor",
            )
            .at(FIRST_DESCRIPTOR_SECTOR * SECTOR_SIZE));
        }
        Ok(set)
    }

    fn note(&mut self, id: &str, severity: Severity, message: String) {
        self.anomalies.push(Anomaly::new(id, severity, message));
    }

    fn parse(&mut self, b: &[u8], sector: u64) -> VolumeDescriptor {
        let version = u8_at(b, 6);
        match u8_at(b, 0) {
            0 => {
                let boot_system_id = text(field(b, 7, 32));
                let el_torito_catalog_lba = (boot_system_id == EL_TORITO_ID).then(|| le_u32(b, 71));
                VolumeDescriptor::BootRecord(BootRecord {
                    sector,
                    boot_system_id,
                    boot_id: text(field(b, 39, 32)),
                    el_torito_catalog_lba,
                })
            }
            1 => {
                VolumeDescriptor::Primary(VolumeInfo::parse(b, sector, false, &mut self.anomalies))
            }
            2 => {
                let esc = field(b, 88, 32);
                let joliet_level = if version == 1 {
                    joliet_level(esc)
                } else {
                    None
                };
                let info =
                    VolumeInfo::parse(b, sector, joliet_level.is_some(), &mut self.anomalies);
                VolumeDescriptor::Supplementary(SupplementaryVolumeDescriptor {
                    info,
                    volume_flags: u8_at(b, 7),
                    escape_sequences: text(esc),
                    joliet_level,
                })
            }
            3 => {
                let (location, m1) = both_u32(b, 72);
                let (size, m2) = both_u32(b, 80);
                if m1 || m2 {
                    self.mismatch(sector, "volume partition location or size");
                }
                VolumeDescriptor::Partition(PartitionDescriptor {
                    sector,
                    system_id: text(field(b, 8, 32)),
                    volume_partition_id: text(field(b, 40, 32)),
                    location,
                    size,
                })
            }
            255 => VolumeDescriptor::Terminator { sector },
            type_code => VolumeDescriptor::Unknown {
                sector,
                type_code,
                version,
            },
        }
    }

    fn mismatch(&mut self, sector: u64, what: &str) {
        self.anomalies.push(mismatch(sector, what));
    }

    /// The first primary volume descriptor (`read` guarantees there is one).
    pub fn primary(&self) -> Option<&PrimaryVolumeDescriptor> {
        self.descriptors.iter().find_map(|d| match d {
            VolumeDescriptor::Primary(p) => Some(p),
            _ => None,
        })
    }

    /// Every supplementary and enhanced descriptor, in order.
    pub fn supplementaries(&self) -> impl Iterator<Item = &SupplementaryVolumeDescriptor> {
        self.descriptors.iter().filter_map(|d| match d {
            VolumeDescriptor::Supplementary(s) => Some(s),
            _ => None,
        })
    }

    /// The first Joliet descriptor, if any.
    pub fn joliet(&self) -> Option<&SupplementaryVolumeDescriptor> {
        self.supplementaries().find(|s| s.is_joliet())
    }

    /// Every boot record, in order.
    pub fn boot_records(&self) -> impl Iterator<Item = &BootRecord> {
        self.descriptors.iter().filter_map(|d| match d {
            VolumeDescriptor::BootRecord(b) => Some(b),
            _ => None,
        })
    }

    /// The first El Torito boot record, if any.
    pub fn el_torito(&self) -> Option<&BootRecord> {
        self.boot_records()
            .find(|b| b.el_torito_catalog_lba.is_some())
    }

    /// Every volume partition descriptor, in order.
    pub fn partitions(&self) -> impl Iterator<Item = &PartitionDescriptor> {
        self.descriptors.iter().filter_map(|d| match d {
            VolumeDescriptor::Partition(p) => Some(p),
            _ => None,
        })
    }

    /// Whether the set ends with a terminator.
    pub fn is_terminated(&self) -> bool {
        matches!(
            self.descriptors.last(),
            Some(VolumeDescriptor::Terminator { .. })
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_both32(b: &mut [u8], off: usize, v: u32) {
        b[off..off + 4].copy_from_slice(&v.to_le_bytes());
        b[off + 4..off + 8].copy_from_slice(&v.to_be_bytes());
    }

    fn put_both16(b: &mut [u8], off: usize, v: u16) {
        b[off..off + 2].copy_from_slice(&v.to_le_bytes());
        b[off + 2..off + 4].copy_from_slice(&v.to_be_bytes());
    }

    fn descriptor(kind: u8, version: u8) -> Vec<u8> {
        let mut b = vec![0u8; 2048];
        b[0] = kind;
        b[1..6].copy_from_slice(STANDARD_ID);
        b[6] = version;
        b
    }

    fn pvd() -> Vec<u8> {
        let mut b = descriptor(1, 1);
        b[8..40].fill(b' ');
        b[40..72].fill(b' ');
        b[40..46].copy_from_slice(b"MY_VOL");
        put_both32(&mut b, 80, 200);
        put_both16(&mut b, 120, 1);
        put_both16(&mut b, 124, 1);
        put_both16(&mut b, 128, 2048);
        b[156] = 34;
        put_both32(&mut b, 158, 20);
        put_both32(&mut b, 166, 2048);
        b[181] = 2;
        b[188] = 1;
        b[189] = 0;
        b[813..830].copy_from_slice(b"2023070809101112\0");
        b[830..847].copy_from_slice(b"0000000000000000\0");
        b[881] = 1;
        b[883..888].copy_from_slice(b"HELLO");
        b
    }

    fn image(descs: &[Vec<u8>]) -> Vec<u8> {
        let mut img = vec![0u8; 16 * 2048];
        for d in descs {
            img.extend_from_slice(d);
        }
        img
    }

    #[test]
    fn reads_primary_joliet_boot_and_terminator() {
        let mut boot = descriptor(0, 1);
        boot[7..7 + EL_TORITO_ID.len()].copy_from_slice(EL_TORITO_ID.as_bytes());
        boot[71..75].copy_from_slice(&19u32.to_le_bytes());
        let mut svd = pvd();
        svd[0] = 2;
        svd[88..91].copy_from_slice(b"%/E");
        svd[40..72].fill(0);
        for (i, c) in "Vol".encode_utf16().enumerate() {
            svd[40 + 2 * i..42 + 2 * i].copy_from_slice(&c.to_be_bytes());
        }
        let img = image(&[pvd(), boot, svd, descriptor(77, 1), descriptor(255, 1)]);
        let set = VolumeDescriptorSet::read(&img).unwrap();
        assert!(set.anomalies.is_empty(), "{:?}", set.anomalies);
        assert!(set.is_terminated());
        let p = set.primary().unwrap();
        assert_eq!(p.volume_id, "MY_VOL");
        assert_eq!(p.volume_space_size, 200);
        assert_eq!(p.logical_block_size, 2048);
        assert_eq!(p.root.extent_lba, 20);
        assert!(p.root.is_directory());
        assert_eq!(p.creation_date.unwrap().year, 2023);
        assert_eq!(p.modification_date, None);
        assert_eq!(&p.application_use[..5], b"HELLO");
        assert_eq!(p.application_use.len(), 512);
        let j = set.joliet().unwrap();
        assert_eq!(j.joliet_level, Some(3));
        assert_eq!(j.info.volume_id, "Vol");
        let br = set.el_torito().unwrap();
        assert_eq!(br.el_torito_catalog_lba(), Some(19));
        assert!(set
            .descriptors
            .iter()
            .any(|d| matches!(d, VolumeDescriptor::Unknown { type_code: 77, .. })));
        let json = serde_json::to_string(&set).unwrap();
        assert!(json.contains("\"application_use\":\"HELLO\""), "{json}");
        let back: VolumeDescriptorSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back.primary().unwrap().volume_id, "MY_VOL");
    }

    #[test]
    fn not_iso_truncated_and_no_primary() {
        let e = VolumeDescriptorSet::read(&vec![0u8; 40000]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotIso);
        let e = VolumeDescriptorSet::read(&vec![0u8; 100]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Truncated);
        let e = VolumeDescriptorSet::read(&image(&[descriptor(255, 1)])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);
    }

    #[test]
    fn missing_terminator_and_mismatch_are_anomalies() {
        let mut p = pvd();
        p[84] = 9; // big-endian half of the volume space size
        let set = VolumeDescriptorSet::read(&image(&[p])).unwrap();
        assert_eq!(set.primary().unwrap().volume_space_size, 200);
        let ids: Vec<_> = set.anomalies.iter().map(|a| a.id.as_str()).collect();
        assert!(ids.contains(&"descriptor.both-endian-mismatch"), "{ids:?}");
        assert!(ids.contains(&"descriptor.no-terminator"), "{ids:?}");
    }

    #[test]
    fn endless_set_is_bounded() {
        let descs: Vec<_> = std::iter::once(pvd())
            .chain(std::iter::repeat_n(descriptor(9, 1), 400))
            .collect();
        let set = VolumeDescriptorSet::read(&image(&descs)).unwrap();
        assert_eq!(set.descriptors.len() as u64, MAX_DESCRIPTORS);
        assert!(!set.is_terminated());
    }
}
