//! One drive line of a Proxmox VM config (`ide2: local:iso/x.iso,media=cdrom`)
//! to a [`Drive`]: the volume, then `key=value` options (qemu-server's
//! `PVE::QemuServer::Drive` property string). Options this parser does not
//! know become [`ConfigIssue`]s of kind `Unknown`; bad values `Invalid`.

use super::storage::StorageConfig;
use crate::model::{Aio, Bus, CacheMode, ConfigIssue, Drive, IssueKind, Media};

/// Drive keys and how many of each Proxmox allows (`ide0..3`, ...).
pub(super) const BUSES: &[(&str, u32)] = &[("ide", 4), ("sata", 6), ("scsi", 31), ("virtio", 16)];

/// Options of a drive property string that are valid but do not matter here.
const IGNORED: &[&str] = &[
    "size",
    "ssd",
    "discard",
    "backup",
    "replicate",
    "serial",
    "wwn",
    "model",
    "snapshot",
    "shared",
    "cyls",
    "heads",
    "secs",
    "trans",
    "detect_zeroes",
    "werror",
    "rerror",
    "import-from",
    "product",
    "vendor",
    "queues",
    "iothread_vq_mapping",
    "bps",
    "bps_max_length",
    "bps_rd",
    "bps_rd_max_length",
    "bps_wr",
    "bps_wr_max_length",
    "iops",
    "iops_max",
    "iops_max_length",
    "iops_rd",
    "iops_rd_max",
    "iops_rd_max_length",
    "iops_wr",
    "iops_wr_max",
    "iops_wr_max_length",
    "mbps",
    "mbps_max",
    "mbps_rd",
    "mbps_rd_max",
    "mbps_wr",
    "mbps_wr_max",
    "scsiblock",
];

/// Whether `key` is a drive key (`ide2`, `scsi30`) within Proxmox's range;
/// returns the bus name and index.
pub(super) fn drive_key(key: &str) -> Option<(&'static str, u32)> {
    BUSES.iter().find_map(|&(bus, count)| {
        let n: u32 = key.strip_prefix(bus)?.parse().ok()?;
        // `ide02` is not a key Proxmox writes.
        (n < count && key.len() == bus.len() + n.to_string().len()).then_some((bus, n))
    })
}

/// What a drive line gives besides the [`Drive`]: whether it asked for its
/// own iothread (`iothread=1`).
pub(super) struct Parsed {
    pub drive: Drive,
    pub iothread: bool,
}

/// Parses the value of drive `key` (`ide2`) on bus `bus`.
pub(super) fn parse(
    key: &str,
    bus: &str,
    value: &str,
    storage: &StorageConfig,
    issues: &mut Vec<ConfigIssue>,
) -> Parsed {
    let context = format!("{key}:");
    let mut parts = value.split(',');
    let first = parts.next().unwrap_or_default().trim();
    let volume = first.strip_prefix("file=").unwrap_or(first);
    let source = match storage.resolve(volume) {
        Ok(s) => s,
        Err((s, why)) => {
            issues.push(ConfigIssue::new(
                IssueKind::Dangling,
                volume,
                &context,
                format!("Cannot resolve the volume: {why}"),
            ));
            s
        }
    };
    let bus_kind = match bus {
        "ide" => Bus::Ide,
        "sata" => Bus::Sata,
        "scsi" => Bus::Scsi,
        _ => Bus::Virtio,
    };
    let mut drive = Drive::new(Media::Disk, bus_kind, source);
    drive.id = Some(key.to_string());
    let mut iothread = false;
    for opt in parts {
        let opt = opt.trim();
        if opt.is_empty() {
            continue;
        }
        let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
        let mut invalid = || {
            issues.push(ConfigIssue::new(
                IssueKind::Invalid,
                opt,
                &context,
                format!("`{v}` is not a valid value for {k}"),
            ))
        };
        match k {
            "media" => match v {
                "cdrom" => drive.media = Media::Cdrom,
                "disk" => drive.media = Media::Disk,
                _ => invalid(),
            },
            "cache" => match CacheMode::from_name(v) {
                Some(c) => drive.cache = Some(c),
                None => invalid(),
            },
            "aio" => match Aio::from_name(v) {
                Some(a) => drive.aio = Some(a),
                None => invalid(),
            },
            "format" => match v {
                "raw" | "qcow2" | "vmdk" | "cloop" | "cow" | "qed" | "vdi" => {
                    drive.format = Some(v.to_string())
                }
                _ => invalid(),
            },
            "iothread" | "ro" => match parse_bool(v) {
                Some(b) if k == "iothread" => iothread = b,
                Some(b) => drive.readonly = b.then_some(true),
                None => invalid(),
            },
            _ if IGNORED.contains(&k) => {}
            _ => issues.push(ConfigIssue::new(
                IssueKind::Unknown,
                opt,
                &context,
                format!("Proxmox has no drive option `{k}`"),
            )),
        }
    }
    if drive.media == Media::Cdrom {
        drive.readonly = Some(true);
    }
    drive.device = Some(device_model(bus, drive.media).to_string());
    Parsed { drive, iothread }
}

/// The QEMU device Proxmox gives a drive (qemu-server `print_drivedevice_full`).
fn device_model(bus: &str, media: Media) -> &'static str {
    match (bus, media) {
        ("ide" | "sata", Media::Cdrom) => "ide-cd",
        ("ide" | "sata", _) => "ide-hd",
        ("scsi", Media::Cdrom) => "scsi-cd",
        ("scsi", _) => "scsi-hd",
        _ => "virtio-blk-pci",
    }
}

/// Proxmox booleans: `1`/`0` (and the `on`/`off`, `yes`/`no` it also accepts).
pub(super) fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_keys_have_proxmox_ranges() {
        assert_eq!(drive_key("ide2"), Some(("ide", 2)));
        assert_eq!(drive_key("scsi30"), Some(("scsi", 30)));
        assert_eq!(drive_key("virtio15"), Some(("virtio", 15)));
        assert_eq!(drive_key("sata5"), Some(("sata", 5)));
        assert_eq!(drive_key("ide4"), None);
        assert_eq!(drive_key("scsi31"), None);
        assert_eq!(drive_key("sata6"), None);
        assert_eq!(drive_key("ide02"), None);
        assert_eq!(drive_key("scsihw"), None);
    }

    #[test]
    fn options_and_issues() {
        let st = StorageConfig::pve_default();
        let mut issues = Vec::new();
        let p = parse(
            "scsi1",
            "scsi",
            "local:iso/x.iso,media=cdrom,cache=none,aio=native,iothread=1,size=600M,dmqueue_size=1024,cache=fast",
            &st,
            &mut issues,
        );
        let d = p.drive;
        assert!(p.iothread);
        assert_eq!(d.id.as_deref(), Some("scsi1"));
        assert_eq!(d.media, Media::Cdrom);
        assert_eq!(d.device.as_deref(), Some("scsi-cd"));
        assert_eq!(d.readonly, Some(true));
        assert_eq!(d.cache, Some(CacheMode::None));
        assert_eq!(d.aio, Some(Aio::Native));
        assert_eq!(
            d.local_path(),
            Some("/var/lib/vz/template/iso/x.iso".as_ref())
        );
        let got: Vec<_> = issues.iter().map(|i| (i.kind, i.option.as_str())).collect();
        assert_eq!(
            got,
            [
                (IssueKind::Unknown, "dmqueue_size=1024"),
                (IssueKind::Invalid, "cache=fast")
            ]
        );
    }
}
