//! The GUID partition table of a hybrid image: header (CRC32-checked),
//! entry array (CRC32-checked, bounded by [`MAX_GPT_ARRAY_BYTES`]), entries
//! with well-known type names. xorriso and isohybrid count it in 512-byte
//! sectors; a table found at byte 2048 counts 2048-byte sectors and is
//! converted to 512-byte ones.

use super::{read_bytes, GptInfo, Partition, PartitionLayout, Scheme, MAX_GPT_ARRAY_BYTES};
use crate::bytes::{le_u16, le_u32, le_u64};
use crate::{Anomaly, ReadAt, Severity};

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// CRC-32 (IEEE 802.3, as GPT uses it) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        CRC_TABLE[usize::from((c as u8) ^ b)] ^ (c >> 8)
    })
}

/// Formats 16 GPT GUID bytes (mixed endian) as `C12A7328-F81F-11D2-BA4B-00A0C93EC93B`.
pub fn format_guid(b: &[u8; 16]) -> String {
    format!(
        "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        le_u32(b, 0),
        le_u16(b, 4),
        le_u16(b, 6),
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// Name of a well-known GPT partition type GUID.
pub fn gpt_type_name(guid: &str) -> Option<&'static str> {
    Some(match guid {
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" => "EFI System",
        "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7" => "Basic data",
        "48465300-0000-11AA-AA11-00306543ECAC" => "HFS+",
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4" => "Linux filesystem",
        "21686148-6449-6E6F-744E-656564454649" => "BIOS boot",
        "E3C9E316-0B5C-4DB8-817D-F92DF00215AE" => "Microsoft reserved",
        "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F" => "Linux swap",
        "7C3457EF-0000-11AA-AA11-00306543ECAC" => "APFS",
        _ => return None,
    })
}

pub(super) fn read_gpt<R: ReadAt + ?Sized>(
    source: &R,
    h: &[u8],
    sector_size: u64,
    layout: &mut PartitionLayout,
) {
    let header_size = le_u32(h, 12) as usize;
    let header_crc_ok = if (92..=h.len()).contains(&header_size) {
        let mut copy = h[..header_size].to_vec();
        copy[16..20].fill(0);
        crc32(&copy) == le_u32(h, 16)
    } else {
        false
    };
    if !header_crc_ok {
        layout.anomalies.push(Anomaly::new(
            "partition.gpt-bad-header-crc",
            Severity::Warn,
            format!("the GPT header at byte {sector_size} has a bad CRC32 (or header size {header_size})"),
        ));
    }
    let mut disk = [0u8; 16];
    disk.copy_from_slice(&h[56..72]);
    let entries_lba = le_u64(h, 72);
    let entry_count = le_u32(h, 80);
    let entry_size = le_u32(h, 84);
    let mut info = GptInfo {
        sector_size,
        disk_guid: format_guid(&disk),
        header_crc_ok,
        entries_crc_ok: false,
        entries_lba,
        entry_count,
        entry_size,
        backup_lba: le_u64(h, 32),
    };
    let total = u64::from(entry_count).saturating_mul(u64::from(entry_size));
    let offset = entries_lba.checked_mul(sector_size);
    let usable = entry_size >= 128 && entry_size.is_multiple_of(8) && total <= MAX_GPT_ARRAY_BYTES;
    let array = match (usable, offset) {
        (true, Some(off)) => {
            read_bytes(source, off, total as usize, "reading the GPT entries").ok()
        }
        _ => None,
    };
    let Some(array) = array else {
        layout.anomalies.push(Anomaly::new(
            "partition.gpt-entries-unreadable",
            Severity::Warn,
            format!(
                "the GPT entry array ({entry_count} entries of {entry_size} bytes at LBA {entries_lba}) is implausible, too large or past the end"
            ),
        ));
        layout.gpt = Some(info);
        return;
    };
    info.entries_crc_ok = crc32(&array) == le_u32(h, 88);
    if !info.entries_crc_ok {
        layout.anomalies.push(Anomaly::new(
            "partition.gpt-bad-entries-crc",
            Severity::Warn,
            "the GPT partition entry array has a bad CRC32",
        ));
    }
    let scale = sector_size / 512;
    for (i, e) in array.chunks_exact(entry_size as usize).enumerate() {
        let mut ty = [0u8; 16];
        ty.copy_from_slice(&e[0..16]);
        if ty == [0u8; 16] {
            continue;
        }
        let mut uniq = [0u8; 16];
        uniq.copy_from_slice(&e[16..32]);
        let first = le_u64(e, 32);
        let last = le_u64(e, 40);
        let attributes = le_u64(e, 48);
        let units: Vec<u16> = e[56..128]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        let name = String::from_utf16_lossy(&units);
        let type_id = format_guid(&ty);
        if last < first {
            layout.anomalies.push(Anomaly::new(
                "partition.gpt-bad-range",
                Severity::Warn,
                format!(
                    "GPT partition {} ends (LBA {last}) before it starts (LBA {first})",
                    i + 1
                ),
            ));
        }
        layout.partitions.push(Partition {
            scheme: Scheme::Gpt,
            index: u32::try_from(i + 1).unwrap_or(u32::MAX),
            start_lba: first.saturating_mul(scale),
            size_sectors: last
                .checked_sub(first)
                .map_or(0, |n| n.saturating_add(1))
                .saturating_mul(scale),
            type_name: gpt_type_name(&type_id).map(str::to_owned),
            type_id,
            bootable: attributes & 4 != 0,
            name: (!name.is_empty()).then_some(name),
            appended: false,
            unique_guid: Some(format_guid(&uniq)),
            attributes: Some(attributes),
        });
    }
    layout.gpt = Some(info);
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) fn guid_bytes(s: &str) -> [u8; 16] {
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        let raw: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&[raw[3], raw[2], raw[1], raw[0]]);
        b[4..6].copy_from_slice(&[raw[5], raw[4]]);
        b[6..8].copy_from_slice(&[raw[7], raw[6]]);
        b[8..].copy_from_slice(&raw[8..]);
        b
    }

    /// Writes a GPT (512-byte LBAs, entries at LBA 2) with `parts` (type, first, last, name).
    pub(crate) fn gpt(img: &mut [u8], parts: &[(&str, u64, u64, &str)]) {
        let mut entries = vec![0u8; 4 * 128];
        for (i, (ty, first, last, name)) in parts.iter().enumerate() {
            let e = &mut entries[i * 128..(i + 1) * 128];
            e[..16].copy_from_slice(&guid_bytes(ty));
            e[16] = i as u8 + 1;
            e[32..40].copy_from_slice(&first.to_le_bytes());
            e[40..48].copy_from_slice(&last.to_le_bytes());
            e[48] = 4;
            for (k, u) in name.encode_utf16().enumerate() {
                e[56 + 2 * k..58 + 2 * k].copy_from_slice(&u.to_le_bytes());
            }
        }
        img[1024..1024 + entries.len()].copy_from_slice(&entries);
        let h = &mut img[512..1024];
        h[..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&1u64.to_le_bytes());
        h[72..80].copy_from_slice(&2u64.to_le_bytes());
        h[80..84].copy_from_slice(&4u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&crc32(&entries).to_le_bytes());
        let c = crc32(&h[..92]);
        h[16..20].copy_from_slice(&c.to_le_bytes());
    }

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn guid_formatting() {
        let b = guid_bytes("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        assert_eq!(b[..4], [0x28, 0x73, 0x2A, 0xC1]);
        assert_eq!(format_guid(&b), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    }
}
