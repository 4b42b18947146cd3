//! QEMU storage devices: what a `-device` driver is (a drive's front end or a
//! controller) and which properties it has, so an invented property on a
//! storage device is reported while NICs and other devices pass silently.

use crate::model::{Bus, Media};

/// What a `-device` driver is, as far as storage goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DevClass {
    /// A drive front end on `bus`, cdrom or disk.
    Drive(Bus, Media),
    /// A storage controller of this kind.
    Controller(String),
    /// Not storage.
    Other,
}

/// Classifies a `-device` driver name.
pub(crate) fn classify(driver: &str) -> DevClass {
    match driver {
        "ide-cd" => DevClass::Drive(Bus::Ide, Media::Cdrom),
        "ide-hd" | "ide-drive" => DevClass::Drive(Bus::Ide, Media::Disk),
        "scsi-cd" => DevClass::Drive(Bus::Scsi, Media::Cdrom),
        "scsi-hd" | "scsi-disk" | "scsi-block" | "scsi-generic" => {
            DevClass::Drive(Bus::Scsi, Media::Disk)
        }
        "usb-storage" | "usb-uas" => DevClass::Drive(Bus::Usb, Media::Disk),
        "floppy" => DevClass::Drive(Bus::Other("floppy".into()), Media::Other),
        "ahci" | "ich9-ahci" => DevClass::Controller("ahci".into()),
        "piix3-ide" | "piix4-ide" | "piix3-ide-xen" | "via-ide" | "cmd646-ide" | "sii3112" => {
            DevClass::Controller("ide".into())
        }
        "lsi53c895a" | "lsi53c810" | "lsi" | "megasas" | "megasas-gen2" | "mptsas1068"
        | "pvscsi" | "am53c974" | "dc390" => DevClass::Controller(driver.to_string()),
        d if d.starts_with("virtio-blk") => DevClass::Drive(Bus::Virtio, Media::Disk),
        d if d.starts_with("virtio-scsi") => DevClass::Controller("virtio-scsi".into()),
        _ => DevClass::Other,
    }
}

/// Properties every device or every PCI device has.
const COMMON: &[&str] = &[
    "driver",
    "id",
    "bus",
    "addr",
    "multifunction",
    "romfile",
    "rombar",
    "romsize",
    "failover_pair_id",
    "acpi-index",
    "hotpluggable",
    "x-pcie-lnksta-dllla",
    "x-pcie-extcap-init",
];

/// Block front-end properties (`DEFINE_BLOCK_PROPERTIES` and friends).
const BLOCK: &[&str] = &[
    "drive",
    "bootindex",
    "logical_block_size",
    "physical_block_size",
    "min_io_size",
    "opt_io_size",
    "discard_granularity",
    "write-cache",
    "share-rw",
    "account-invalid",
    "account-failed",
    "backend_defaults",
    "rerror",
    "werror",
    "serial",
    "cyls",
    "heads",
    "secs",
    "lcyls",
    "lheads",
    "lsecs",
    "bios-chs-trans",
];

const IDE: &[&str] = &["unit", "ver", "wwn", "model", "rotation_rate"];

const SCSI: &[&str] = &[
    "channel",
    "scsi-id",
    "lun",
    "ver",
    "wwn",
    "port_wwn",
    "port_index",
    "vendor",
    "product",
    "device_id",
    "removable",
    "dpofua",
    "max_unmap_size",
    "max_io_size",
    "rotation_rate",
    "scsi_version",
    "migrate-emulated-scsi-request",
];

/// virtio and virtio-pci transport properties.
const VIRTIO: &[&str] = &[
    "iothread",
    "iothread-vq-mapping",
    "num-queues",
    "num_queues",
    "queue-size",
    "virtqueue_size",
    "seg-max-adjust",
    "seg_max_adjust",
    "config-wce",
    "request-merging",
    "discard",
    "write-zeroes",
    "max-discard-sectors",
    "max-write-zeroes-sectors",
    "report-discard-granularity",
    "max_sectors",
    "cmd_per_lun",
    "hotplug",
    "param_change",
    "packed",
    "event_idx",
    "indirect_desc",
    "ioeventfd",
    "vectors",
    "disable-legacy",
    "disable-modern",
    "page-per-vq",
    "iommu_platform",
    "ats",
    "aer",
    "modern-pio-notify",
    "queue_reset",
    "use-started",
    "use-disabled-flag",
    "any_layout",
    "notify_on_empty",
    "virtio-pci-bus-master-bug-migration",
    "migrate-extra",
    "x-disable-legacy-check",
    "ats_page_aligned",
    "in_order",
];

const USB: &[&str] = &[
    "port",
    "removable",
    "pcap",
    "attached",
    "msos-desc",
    "commandlog",
];

/// Whether `key` is a property of the storage device `driver` (only asked
/// for drivers [`classify`] knows).
pub(crate) fn known_property(driver: &str, key: &str) -> bool {
    // Nested keys (`iothread-vq-mapping.0.iothread`) belong to their head.
    let head = key.split('.').next().unwrap_or(key);
    if COMMON.contains(&head) || head.starts_with("x-") || head.starts_with("quirk_") {
        return true;
    }
    let lists: &[&[&str]] = match classify(driver) {
        DevClass::Drive(Bus::Ide, _) => &[BLOCK, IDE],
        DevClass::Drive(Bus::Scsi, _) => &[BLOCK, SCSI],
        DevClass::Drive(Bus::Virtio, _) => &[BLOCK, VIRTIO],
        DevClass::Drive(Bus::Usb, _) => &[BLOCK, USB, SCSI],
        DevClass::Drive(..) => &[BLOCK],
        DevClass::Controller(k) if k == "virtio-scsi" => &[VIRTIO],
        DevClass::Controller(_) => &[&["ncq", "sector-size", "iothread"]],
        DevClass::Other => return true,
    };
    lists.iter().any(|l| l.contains(&head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_properties() {
        assert_eq!(classify("ide-cd"), DevClass::Drive(Bus::Ide, Media::Cdrom));
        assert_eq!(
            classify("virtio-scsi-pci-non-transitional"),
            DevClass::Controller("virtio-scsi".into())
        );
        assert_eq!(
            classify("virtio-blk-pci"),
            DevClass::Drive(Bus::Virtio, Media::Disk)
        );
        assert_eq!(classify("e1000"), DevClass::Other);
        assert!(known_property("scsi-cd", "bootindex"));
        assert!(known_property(
            "virtio-blk-pci",
            "iothread-vq-mapping.0.iothread"
        ));
        assert!(known_property("virtio-scsi-pci", "virtqueue_size"));
        assert!(!known_property("ide-cd", "dmqueue_size"));
        assert!(!known_property("ide-cd", "iothread"));
        assert!(known_property("e1000", "anything"));
    }
}
