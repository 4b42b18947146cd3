//! The block devices under the ISO: spinning disks, and the readahead of
//! the device the page cache reads through.

use std::collections::BTreeMap;

use isotune_host::{BlockLayer, DeviceClass, FileFacts, LayerKind};

use crate::describe::or_unset;
use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};
use crate::rules::Rule;

/// The kernel's default `read_ahead_kb`; below it sequential reads shrink.
const DEFAULT_READAHEAD_KB: u32 = 128;
/// What the fix proposes: 4 MiB, a common value for streaming reads.
const PROPOSED_READAHEAD_KB: u32 = 4096;

/// `storage.rotational`.
pub(crate) const ROTATIONAL: Rule = Rule {
    id: "storage.rotational",
    layer: Layer::Storage,
    severity: Severity::Warn,
    title: "The ISO is on a spinning disk",
    why: "A boot does not read an ISO front to back: the firmware, the boot loader and \
          the kernel jump between the boot catalog, directories, the kernel, the initrd \
          and the squashfs. On a spinning disk every jump is a seek (several ms), and \
          small IDE-sized requests make more of them; a cold boot is then bound by seeks. \
          On SSD/NVMe, or from the page cache, the same reads cost microseconds. Larger \
          readahead on the filesystem's device turns more of the reads into long \
          sequential ones.",
    reference:
        "kernel Documentation/ABI/stable/sysfs-block (queue/rotational, queue/read_ahead_kb); \
                blockdev(8) (--setra)",
    check: rotational,
};

fn spinning(l: &BlockLayer) -> bool {
    l.class == DeviceClass::Hdd
        || (l.rotational == Some(true)
            && l.kind == LayerKind::Disk
            // Virtual and network disks often report rotational=1 whatever backs them.
            && !matches!(l.class, DeviceClass::Virtual | DeviceClass::Network))
}

/// Layers grouped by device name, with the files above each.
fn by_device<'a>(
    facts: &'a Facts,
    pick: impl Fn(&'a FileFacts) -> Option<&'a BlockLayer>,
) -> BTreeMap<&'a str, (&'a BlockLayer, Vec<&'a FileFacts>)> {
    let mut map: BTreeMap<&str, (&BlockLayer, Vec<&FileFacts>)> = BTreeMap::new();
    for file in &facts.files {
        if let Some(layer) = pick(file) {
            map.entry(layer.name.as_str())
                .or_insert((layer, Vec::new()))
                .1
                .push(file);
        }
    }
    map
}

fn files_line(files: &[&FileFacts]) -> String {
    let names: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    format!("holds: {}", names.join(", "))
}

fn rotational(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, (layer, files)) in by_device(facts, |f| f.storage.iter().find(|l| spinning(l))) {
        let top = files[0].storage.first().map_or(name, |l| l.name.as_str());
        let path = files[0].path.display();
        let mut evidence = vec![
            format!("model: {}", or_unset(layer.model.as_deref(), "unknown")),
            format!(
                "queue/rotational: {}",
                or_unset(layer.rotational.map(u8::from), "unknown")
            ),
            format!(
                "scheduler: {}",
                or_unset(layer.scheduler.as_deref(), "unknown")
            ),
            format!(
                "read_ahead_kb: {}",
                or_unset(layer.read_ahead_kb.map(|k| format!("{k} KiB")), "unknown")
            ),
        ];
        let all: Vec<&str> = files[0]
            .storage
            .iter()
            .filter(|l| spinning(l))
            .map(|l| l.name.as_str())
            .collect();
        if all.len() > 1 {
            evidence.push(format!("spinning disks in the stack: {}", all.join(", ")));
        }
        evidence.push(files_line(&files));
        out.push(ROTATIONAL.finding(
            Severity::Warn,
            format!("/dev/{name} under {path} is a spinning disk"),
            format!("/dev/{name}"),
            evidence,
            format!(
                "Copy the ISO to SSD/NVMe or to tmpfs (`cp {path} /dev/shm/`, lost at reboot) and \
                 point the VM at the copy; or raise readahead on the filesystem's device so \
                 reads become long and sequential: `sudo blockdev --setra 8192 /dev/{top}` \
                 (8192 sectors = 4 MiB)."
            ),
        ));
    }
    out
}

/// `storage.low-readahead`.
pub(crate) const LOW_READAHEAD: Rule = Rule {
    id: "storage.low-readahead",
    layer: Layer::Storage,
    severity: Severity::Warn,
    title: "Readahead below the kernel default on the ISO's device",
    why: "The page cache reads ahead through the filesystem's own block device (the top \
          of the stack: a dm/LVM volume, md array or disk), using that device's \
          read_ahead_kb; the values of the layers below do not apply to file reads. Below \
          the kernel default of 128 KiB, sequential reads from the ISO (the initrd, the \
          squashfs, an installer's packages) are split into small requests, and a VM \
          reading through the host page cache (cache=writeback) inherits them.",
    reference: "kernel Documentation/ABI/stable/sysfs-block (queue/read_ahead_kb); blockdev(8) \
                (--setra); lvchange(8) (--readahead); udev(7)",
    check: low_readahead,
};

/// The device whose queue a file's reads go through: partitions share
/// their disk's queue.
fn queue_device(file: &FileFacts) -> Option<&BlockLayer> {
    let top = file.storage.first()?;
    if top.kind != LayerKind::Partition {
        return Some(top);
    }
    let below = top.below.first()?;
    file.storage.iter().find(|l| &l.name == below).or(Some(top))
}

/// Splits a device-mapper LVM name (`vg--a-lv`) into VG and LV (`vg-a`, `lv`).
fn split_lvm(name: &str) -> Option<(String, String)> {
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'-' {
            if bytes.get(i + 1) == Some(&b'-') {
                i += 2;
                continue;
            }
            let vg = name[..i].replace("--", "-");
            let lv = name[i + 1..].replace("--", "-");
            return (!vg.is_empty() && !lv.is_empty()).then_some((vg, lv));
        }
        i += 1;
    }
    None
}

fn readahead_fix(layer: &BlockLayer) -> String {
    let name = &layer.name;
    let kb = PROPOSED_READAHEAD_KB;
    let sectors = kb * 2;
    match &layer.kind {
        LayerKind::DeviceMapper { name: dm, target } => match (target.as_str(), split_lvm(dm)) {
            ("lvm", Some((vg, lv))) => format!(
                "Now and persistently (LVM metadata): `sudo lvchange --readahead {sectors} {vg}/{lv}` \
                 ({sectors} sectors = 4 MiB); now only: `sudo blockdev --setra {sectors} /dev/mapper/{dm}`"
            ),
            _ => format!(
                "Now: `sudo blockdev --setra {sectors} /dev/mapper/{dm}`; persist with a udev rule in \
                 /etc/udev/rules.d/60-isotune-readahead.rules: \
                 `ACTION==\"add|change\", SUBSYSTEM==\"block\", ENV{{DM_NAME}}==\"{dm}\", ATTR{{queue/read_ahead_kb}}=\"{kb}\"`"
            ),
        },
        _ => format!(
            "Now: `echo {kb} | sudo tee /sys/block/{name}/queue/read_ahead_kb`; persist with a udev \
             rule in /etc/udev/rules.d/60-isotune-readahead.rules: \
             `ACTION==\"add|change\", KERNEL==\"{name}\", ATTR{{queue/read_ahead_kb}}=\"{kb}\"`"
        ),
    }
}

/// The queue device of a file whose top layer reads ahead too little.
fn low_queue(file: &FileFacts) -> Option<&BlockLayer> {
    let top = file.storage.first()?;
    top.read_ahead_kb.filter(|kb| *kb < DEFAULT_READAHEAD_KB)?;
    queue_device(file)
}

fn low_readahead(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, (layer, files)) in by_device(facts, low_queue) {
        let top_kb = files[0].storage[0].read_ahead_kb.unwrap_or(0);
        let mut evidence: Vec<String> = files[0]
            .storage
            .iter()
            .map(|l| {
                format!(
                    "{}: read_ahead_kb {}",
                    l.name,
                    or_unset(l.read_ahead_kb.map(|k| format!("{k} KiB")), "unknown")
                )
            })
            .collect();
        evidence.push(files_line(&files));
        out.push(LOW_READAHEAD.finding(
            Severity::Warn,
            format!(
                "readahead on /dev/{name} is {top_kb} KiB, below the kernel default of 128 KiB"
            ),
            format!("/dev/{name}"),
            evidence,
            readahead_fix(layer),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{example, file, healthy, layer};

    #[test]
    fn hdd_is_reported_once_per_device() {
        let mut facts = example("storage.rotational").unwrap();
        let mut second = facts.files[0].clone();
        second.path = "/isos/y.iso".into();
        facts.files.push(second);
        let f = rotational(&facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "/dev/sda");
        assert!(f[0]
            .evidence
            .contains(&"holds: /isos/x.iso, /isos/y.iso".to_string()));
        assert!(f[0]
            .evidence
            .contains(&"model: ST4000DM004-2CV1".to_string()));
        assert!(f[0].fix.contains("blockdev --setra 8192 /dev/sda2"));
        assert!(rotational(&healthy()).is_empty());
    }

    #[test]
    fn raid_of_hdds_lists_every_spinning_disk() {
        let mut facts = example("storage.rotational").unwrap();
        let mut sdb = facts.files[0].storage[1].clone();
        sdb.name = "sdb".into();
        facts.files[0].storage.push(sdb);
        let f = rotational(&facts);
        assert_eq!(f.len(), 1);
        assert!(f[0]
            .evidence
            .contains(&"spinning disks in the stack: sda, sdb".to_string()));
    }

    #[test]
    fn virtual_disks_claiming_rotation_are_not_hdds() {
        let mut facts = healthy();
        let disk = &mut facts.files[0].storage[1];
        disk.class = DeviceClass::Virtual;
        disk.rotational = Some(true);
        assert!(rotational(&facts).is_empty());
    }

    #[test]
    fn low_readahead_on_a_partition_fixes_its_disk() {
        let f = low_readahead(&example("storage.low-readahead").unwrap());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "/dev/nvme0n1");
        assert!(f[0].evidence[0] == "nvme0n1p2: read_ahead_kb 16 KiB");
        assert!(f[0].fix.contains("/sys/block/nvme0n1/queue/read_ahead_kb"));
        assert!(f[0]
            .fix
            .contains("KERNEL==\"nvme0n1\", ATTR{queue/read_ahead_kb}=\"4096\""));
        assert!(low_readahead(&healthy()).is_empty());
    }

    #[test]
    fn only_the_top_layer_counts() {
        let mut facts = healthy();
        facts.files[0].storage[1].read_ahead_kb = Some(16);
        assert!(low_readahead(&facts).is_empty());
    }

    #[test]
    fn lvm_and_other_dm_fixes() {
        let mut facts = healthy();
        let mut f = file();
        let mut lv = layer(
            "dm-0",
            LayerKind::DeviceMapper {
                name: "vg--data-isos".into(),
                target: "lvm".into(),
            },
            DeviceClass::Stacked,
        );
        lv.read_ahead_kb = Some(0);
        f.storage.insert(0, lv);
        facts.files = vec![f];
        let found = low_readahead(&facts);
        assert_eq!(found[0].subject, "/dev/dm-0");
        assert!(
            found[0]
                .fix
                .contains("lvchange --readahead 8192 vg-data/isos"),
            "{}",
            found[0].fix
        );
        if let LayerKind::DeviceMapper { target, .. } = &mut facts.files[0].storage[0].kind {
            *target = "crypt".into();
        }
        let found = low_readahead(&facts);
        assert!(
            found[0].fix.contains("ENV{DM_NAME}==\"vg--data-isos\""),
            "{}",
            found[0].fix
        );
    }

    #[test]
    fn lvm_names_split() {
        assert_eq!(split_lvm("vg-root"), Some(("vg".into(), "root".into())));
        assert_eq!(
            split_lvm("my--vg-lv--x"),
            Some(("my-vg".into(), "lv-x".into()))
        );
        assert_eq!(split_lvm("novg"), None);
    }
}
