//! The El Torito vocabulary: the catalog and its entries, firmware platforms
//! and emulation modes, with the JSON forms `isotune inspect` prints
//! (`"bios"`, `"efi"` or a number; `"none"`, `"floppy-1.44m"`, `"hard-disk"`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Anomaly;

/// The parsed boot catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootCatalog {
    /// LBA (2048-byte sector) of the catalog.
    pub catalog_lba: u32,
    /// The validation entry.
    pub validation: ValidationEntry,
    /// Boot entries in catalog order: the default entry, then section entries.
    pub entries: Vec<BootEntry>,
    /// What was odd about the catalog.
    pub anomalies: Vec<Anomaly>,
}

impl BootCatalog {
    /// The first bootable entry for `platform`, if any.
    pub fn first_for(&self, platform: Platform) -> Option<&BootEntry> {
        self.entries
            .iter()
            .find(|e| e.platform == platform && e.bootable)
    }
}

/// The catalog's validation entry (the first 32 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationEntry {
    /// Platform of the default entry.
    pub platform: Platform,
    /// Manufacturer / developer id string (trailing NULs and spaces removed).
    pub id: String,
    /// The 16-bit word sum of the entry is zero, as it must be.
    pub checksum_ok: bool,
    /// Bytes 30 and 31 hold the 0x55 0xAA key.
    pub key_ok: bool,
}

/// One bootable (or non-bootable) image listed in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootEntry {
    /// Firmware platform the entry is for.
    pub platform: Platform,
    /// What the BIOS emulates for the image.
    pub emulation: Emulation,
    /// Boot indicator 0x88 (0x00 means not bootable).
    pub bootable: bool,
    /// Real-mode segment the image is loaded at (0 in the catalog means 0x7C0).
    pub load_segment: u16,
    /// Partition type byte from the image's partition table (hard-disk emulation).
    pub system_type: u8,
    /// Sectors to load, in 512-byte virtual sectors.
    pub sector_count: u16,
    /// First 2048-byte sector of the image.
    pub load_rba: u32,
    /// Section id string of the section the entry is in (none for the default entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_id: Option<String>,
    /// Path of the file whose first extent starts at `load_rba`, when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The partition that starts at `load_rba`, when the partition tables
    /// list one (an EFI image appended as a partition by
    /// `xorriso -append_partition` has no file, only this). A GPT entry is
    /// preferred to an MBR or APM one for its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<crate::partition::PartitionRef>,
    /// Bytes the firmware loads: `sector_count` × 512 for no emulation (for
    /// EFI entries with a count of 0 or 1, the size of the file or partition
    /// it points at, once [`resolve_paths`](super::resolve_paths) ran), the medium size for floppy
    /// emulation, the image size (when known) for hard-disk emulation.
    pub size_bytes: u64,
}

/// Firmware platform of a catalog entry or section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// 0: x86 PC BIOS.
    Bios,
    /// 0xEF: UEFI.
    Efi,
    /// Any other id (1 PowerPC, 2 Mac, ...), reported by number.
    Other(u8),
}

impl Platform {
    /// The platform of catalog id `id`.
    pub fn from_id(id: u8) -> Self {
        match id {
            0 => Platform::Bios,
            0xEF => Platform::Efi,
            n => Platform::Other(n),
        }
    }

    /// The catalog id.
    pub fn id(self) -> u8 {
        match self {
            Platform::Bios => 0,
            Platform::Efi => 0xEF,
            Platform::Other(n) => n,
        }
    }

    /// A human name ("x86 BIOS", "EFI", "PowerPC", "Mac", "platform 0x..").
    pub fn name(self) -> String {
        match self.id() {
            0 => "x86 BIOS".to_owned(),
            0xEF => "EFI".to_owned(),
            1 => "PowerPC".to_owned(),
            2 => "Mac".to_owned(),
            n => format!("platform {n:#04x}"),
        }
    }
}

/// Serialized as `"bios"`, `"efi"`, or the platform number.
impl Serialize for Platform {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Platform::Bios => s.serialize_str("bios"),
            Platform::Efi => s.serialize_str("efi"),
            Platform::Other(n) => s.serialize_u8(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Name(String),
            Id(u8),
        }
        match Repr::deserialize(d)? {
            Repr::Id(n) => Ok(Platform::from_id(n)),
            Repr::Name(s) if s == "bios" => Ok(Platform::Bios),
            Repr::Name(s) if s == "efi" => Ok(Platform::Efi),
            Repr::Name(s) => Err(serde::de::Error::custom(format!("unknown platform `{s}`"))),
        }
    }
}

/// Boot media emulation of an entry (low nibble of the media type byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Emulation {
    /// The image is loaded as is (`sector_count` virtual sectors).
    None,
    /// A 1.2 MB floppy image.
    Floppy1200,
    /// A 1.44 MB floppy image.
    Floppy1440,
    /// A 2.88 MB floppy image.
    Floppy2880,
    /// A hard disk image (with its own MBR).
    HardDisk,
    /// A value the standard does not define, reported by number.
    Unknown(u8),
}

impl Emulation {
    /// The emulation of media type byte `b` (flag bits 4-7 ignored).
    pub fn from_media_type(b: u8) -> Self {
        match b & 0x0F {
            0 => Emulation::None,
            1 => Emulation::Floppy1200,
            2 => Emulation::Floppy1440,
            3 => Emulation::Floppy2880,
            4 => Emulation::HardDisk,
            n => Emulation::Unknown(n),
        }
    }

    /// The name used in JSON (`"none"`, `"floppy-1.44m"`, ...).
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Emulation::None => Some("none"),
            Emulation::Floppy1200 => Some("floppy-1.2m"),
            Emulation::Floppy1440 => Some("floppy-1.44m"),
            Emulation::Floppy2880 => Some("floppy-2.88m"),
            Emulation::HardDisk => Some("hard-disk"),
            Emulation::Unknown(_) => None,
        }
    }

    /// Size of the emulated floppy in bytes.
    pub fn floppy_bytes(self) -> Option<u64> {
        match self {
            Emulation::Floppy1200 => Some(1_228_800),
            Emulation::Floppy1440 => Some(1_474_560),
            Emulation::Floppy2880 => Some(2_949_120),
            _ => None,
        }
    }
}

/// Serialized as `"none"`, `"floppy-1.2m"`, `"floppy-1.44m"`,
/// `"floppy-2.88m"`, `"hard-disk"`, or the number of an unknown value.
impl Serialize for Emulation {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match (self.as_str(), self) {
            (Some(name), _) => s.serialize_str(name),
            (None, Emulation::Unknown(n)) => s.serialize_u8(*n),
            (None, _) => s.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for Emulation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Name(String),
            Id(u8),
        }
        match Repr::deserialize(d)? {
            Repr::Id(n) => Ok(Emulation::from_media_type(n)),
            Repr::Name(s) => (0..5)
                .map(Emulation::from_media_type)
                .find(|e| e.as_str() == Some(s.as_str()))
                .ok_or_else(|| serde::de::Error::custom(format!("unknown emulation `{s}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms_round_trip() {
        for (p, json) in [
            (Platform::Bios, serde_json::json!("bios")),
            (Platform::Efi, serde_json::json!("efi")),
            (Platform::Other(1), serde_json::json!(1)),
        ] {
            assert_eq!(serde_json::to_value(p).unwrap(), json);
            assert_eq!(serde_json::from_value::<Platform>(json).unwrap(), p);
        }
        assert_eq!(Platform::from_id(0xEF), Platform::Efi);
        assert_eq!(Platform::Other(2).name(), "Mac");
        for b in 0..16u8 {
            let e = Emulation::from_media_type(b | 0x20);
            let back: Emulation = serde_json::from_value(serde_json::to_value(e).unwrap()).unwrap();
            assert_eq!(back, e);
        }
        assert_eq!(
            serde_json::to_value(Emulation::Floppy1200).unwrap(),
            "floppy-1.2m"
        );
        assert_eq!(
            serde_json::to_value(Emulation::HardDisk).unwrap(),
            "hard-disk"
        );
        assert!(serde_json::from_value::<Platform>(serde_json::json!("ppc")).is_err());
    }
}
