//! The storage chain under a filesystem, from `/sys/dev/block/MAJ:MIN`
//! down through partitions, device-mapper (LVM, dm-crypt, multipath), md
//! RAID and loop devices to the disks, with each layer's queue settings
//! (scheduler, readahead, request sizes).
//!
//! The walk is breadth-first, top first, each device once, and bounded
//! ([`MAX_DEPTH`], [`MAX_LAYERS`]) so a cyclic captured tree cannot hang.
//!
//! Limitations:
//! - A partition has no `queue/` directory: its queue fields are left
//!   `None`; the disk layer right below it carries the values that apply.
//! - A loop device is followed through its backing file: the layer below a
//!   loop device is the top of the chain under the file system holding
//!   `loop/backing_file` (so an image on a spinning disk shows that disk).
//!   On the live root that device comes from `statx` on the backing file;
//!   a backing file reported as `(deleted)` or that cannot be stat'ed is a
//!   warning and the chain stops at the loop device. A captured tree cannot
//!   be stat'ed: its device comes from the backing file's line in the
//!   tree's `isotune-capture.tsv` (`PATH<TAB>MAJ:MIN<TAB>SIZE`), and without
//!   one the chain silently stops at the loop device. So when capturing a
//!   host whose ISO sits on a loop device, pass the backing file's path to
//!   `scripts/capture-host` as an extra PATH: that records its device and
//!   the chain under it, and the captured chain is complete.
//! - iSCSI and FC disks show up as `sd*` and are classed by rotation like
//!   local disks.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use crate::file::statx_size_dev;
use crate::mounts::{choose, parse_dev, MountEntry};
use crate::read::{exists, list_dir, read_bool, read_opt, read_parsed, resolve, why, Warnings};
use crate::{BlockLayer, DevNum, DeviceClass, LayerKind, SysRoot};

/// The file of a captured tree that lists each captured PATH with its
/// device number and size (written by `scripts/capture-host`).
const CAPTURE_TSV: &str = "/isotune-capture.tsv";

/// What `loop/backing_file` ends with when the file has been removed.
const DELETED: &str = " (deleted)";

/// Deepest layer visited (the top is depth 0).
pub const MAX_DEPTH: usize = 16;
/// Most layers in one chain.
pub const MAX_LAYERS: usize = 256;

/// The chain under device `dev`, top first. `source` is the mount source,
/// used when `dev` has no `/sys/dev/block` entry (btrfs and overlay report
/// an anonymous `0:N`) and the source names a block device (`/dev/sdb2`,
/// `/dev/mapper/NAME`). `mounts` (the tree's mountinfo) gives the mount
/// source of a loop device's backing file in the same way.
pub(crate) fn storage_chain(
    root: &SysRoot,
    dev: DevNum,
    source: Option<&str>,
    mounts: &[MountEntry],
    w: &mut Warnings,
) -> Vec<BlockLayer> {
    let Some(top) = find_top(root, dev, source, w) else {
        return Vec::new();
    };
    let mut backing = Backing {
        mounts,
        captured: None,
    };
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut todo = VecDeque::from([(top, 0usize)]);
    while let Some((dir, depth)) = todo.pop_front() {
        let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if !seen.insert(name.clone()) {
            continue;
        }
        if out.len() == MAX_LAYERS {
            w.add(
                &dir,
                format_args!("storage chain has more than {MAX_LAYERS} layers, stopped"),
            );
            break;
        }
        let (mut layer, mut below_dirs) = read_layer(root, &dir, &name, w);
        if let LayerKind::Loop {
            backing_file: Some(file),
            ..
        } = &layer.kind
        {
            below_dirs = backing.top(root, &dir, file, w).into_iter().collect();
            layer.below = dir_names(&below_dirs);
        }
        out.push(layer);
        if depth == MAX_DEPTH {
            if !below_dirs.is_empty() {
                w.add(
                    &dir,
                    format_args!("storage chain deeper than {MAX_DEPTH} layers, stopped"),
                );
            }
            continue;
        }
        todo.extend(below_dirs.into_iter().map(|d| (d, depth + 1)));
    }
    out
}

/// The `/sys/devices/...` directory (host path) of the filesystem's device.
fn find_top(
    root: &SysRoot,
    dev: DevNum,
    source: Option<&str>,
    w: &mut Warnings,
) -> Option<PathBuf> {
    let link = PathBuf::from(format!("/sys/dev/block/{}:{}", dev.major, dev.minor));
    if exists(root, &link) {
        return resolved(root, &link, w);
    }
    if let Some(name) = source.and_then(|s| s.strip_prefix("/dev/")) {
        if let Some(mapped) = name.strip_prefix("mapper/") {
            if let Some(dir) = dm_by_name(root, mapped, w) {
                return Some(dir);
            }
        } else {
            let by_name =
                Path::new("/sys/class/block").join(name.rsplit('/').next().unwrap_or(name));
            if exists(root, &by_name) {
                return resolved(root, &by_name, w);
            }
        }
    }
    // Anonymous devices (tmpfs, NFS, overlay without a block source) have
    // no chain; a real block device without an entry is worth a warning.
    if dev.major != 0 {
        w.add(&link, "not found");
    }
    None
}

/// Finds the device under a loop device's backing file.
struct Backing<'a> {
    /// The tree's mounts (the source of a backing file on an anonymous
    /// device).
    mounts: &'a [MountEntry],
    /// A captured tree's `isotune-capture.tsv`, `(PATH, device)` per line,
    /// read on first use (empty when the tree has none).
    captured: Option<Vec<(PathBuf, DevNum)>>,
}

impl Backing<'_> {
    /// The `/sys/devices/...` directory of the top of the chain under the
    /// backing file `file` of the loop device at `dir`; `None` (the chain
    /// stops at the loop device) when it cannot be told.
    fn top(
        &mut self,
        root: &SysRoot,
        dir: &Path,
        file: &Path,
        w: &mut Warnings,
    ) -> Option<PathBuf> {
        let entry = dir.join("loop/backing_file");
        if file
            .as_os_str()
            .as_encoded_bytes()
            .ends_with(DELETED.as_bytes())
        {
            w.add(
                &entry,
                "the backing file was deleted: the chain stops at the loop device",
            );
            return None;
        }
        let dev = if root.is_live() {
            match statx_size_dev(file) {
                Ok((_, dev)) => dev,
                Err(e) => {
                    w.add(
                        &entry,
                        format_args!("cannot stat {}: {}", file.display(), why(&e)),
                    );
                    return None;
                }
            }
        } else {
            self.captured(root, w)
                .iter()
                .find(|(p, _)| p == file)
                .map(|&(_, dev)| dev)?
        };
        let source = choose(self.mounts, file, dev).map(|m| m.facts.source.as_str());
        find_top(root, dev, source, w)
    }

    /// The lines of the tree's `isotune-capture.tsv`.
    fn captured(&mut self, root: &SysRoot, w: &mut Warnings) -> &[(PathBuf, DevNum)] {
        self.captured.get_or_insert_with(|| {
            let abs = Path::new(CAPTURE_TSV);
            read_opt(root, abs, w)
                .map(|text| parse_capture(&text, abs, w))
                .unwrap_or_default()
        })
    }
}

/// `PATH<TAB>MAJ:MIN<TAB>SIZE` lines (the path may itself hold a tab: the
/// last two fields are split off). A malformed line is a warning.
fn parse_capture(text: &str, abs: &Path, w: &mut Warnings) -> Vec<(PathBuf, DevNum)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut fields = line.rsplitn(3, '\t');
        let (_size, dev, path) = (fields.next(), fields.next(), fields.next());
        match (path, dev.and_then(parse_dev)) {
            (Some(path), Some(dev)) if path.starts_with('/') => {
                out.push((PathBuf::from(path), dev));
            }
            _ => w.add(abs, format_args!("line {}: cannot parse {line:?}", i + 1)),
        }
    }
    out
}

/// The kernel names (last components) of layer directories.
fn dir_names(dirs: &[PathBuf]) -> Vec<String> {
    dirs.iter()
        .filter_map(|d| d.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .collect()
}

fn resolved(root: &SysRoot, abs: &Path, w: &mut Warnings) -> Option<PathBuf> {
    match resolve(root, abs) {
        Ok(p) => Some(p),
        Err(e) => {
            w.io(abs, &e);
            None
        }
    }
}

/// `/sys/class/block/dm-*` whose `dm/name` is `name`.
fn dm_by_name(root: &SysRoot, name: &str, w: &mut Warnings) -> Option<PathBuf> {
    let class = Path::new("/sys/class/block");
    let entries = list_dir(root, class).ok()?;
    entries
        .iter()
        .filter_map(|e| e.to_str())
        .filter(|e| e.starts_with("dm-"))
        .find_map(|e| {
            let dir = resolved(root, &class.join(e), w)?;
            let n = read_opt(root, &dir.join("dm/name"), w)?;
            (n.trim() == name).then_some(dir)
        })
}

/// One layer and the directories of the layers directly below it.
fn read_layer(
    root: &SysRoot,
    dir: &Path,
    name: &str,
    w: &mut Warnings,
) -> (BlockLayer, Vec<PathBuf>) {
    let dev = read_opt(root, &dir.join("dev"), w)
        .and_then(|s| {
            let d = parse_dev(&s);
            if d.is_none() {
                w.add(
                    &dir.join("dev"),
                    format_args!("cannot parse {:?}", s.trim()),
                );
            }
            d
        })
        .unwrap_or(DevNum { major: 0, minor: 0 });
    let is_partition = exists(root, &dir.join("partition"));
    let (kind, below_dirs) = if is_partition {
        let disk = dir.parent().map(Path::to_path_buf);
        (LayerKind::Partition, disk.into_iter().collect())
    } else if name.starts_with("dm-") {
        let dm_name = trimmed(root, &dir.join("dm/name"), w).unwrap_or_default();
        let uuid = trimmed(root, &dir.join("dm/uuid"), w).unwrap_or_default();
        let kind = LayerKind::DeviceMapper {
            name: dm_name,
            target: dm_target(&uuid),
        };
        (kind, slaves(root, dir, w))
    } else if name.starts_with("md") && exists(root, &dir.join("md")) {
        let level = trimmed(root, &dir.join("md/level"), w).filter(|l| !l.is_empty());
        (LayerKind::Md { level }, slaves(root, dir, w))
    } else if name.starts_with("loop") {
        let backing_file = trimmed(root, &dir.join("loop/backing_file"), w).map(PathBuf::from);
        let direct_io = read_bool(root, &dir.join("loop/dio"), w);
        (
            LayerKind::Loop {
                backing_file,
                direct_io,
            },
            Vec::new(),
        )
    } else {
        (LayerKind::Disk, slaves(root, dir, w))
    };
    let below = dir_names(&below_dirs);
    let mut layer = BlockLayer {
        name: name.to_string(),
        dev,
        kind,
        class: DeviceClass::Unknown,
        below,
        rotational: None,
        scheduler: None,
        nr_requests: None,
        read_ahead_kb: None,
        max_sectors_kb: None,
        logical_block_bytes: None,
        physical_block_bytes: None,
        model: None,
    };
    if !is_partition {
        let q = dir.join("queue");
        layer.rotational = read_bool(root, &q.join("rotational"), w);
        layer.scheduler =
            read_opt(root, &q.join("scheduler"), w).and_then(|s| active_scheduler(&s));
        layer.nr_requests = read_parsed(root, &q.join("nr_requests"), w);
        layer.read_ahead_kb = read_parsed(root, &q.join("read_ahead_kb"), w);
        layer.max_sectors_kb = read_parsed(root, &q.join("max_sectors_kb"), w);
        layer.logical_block_bytes = read_parsed(root, &q.join("logical_block_size"), w);
        layer.physical_block_bytes = read_parsed(root, &q.join("physical_block_size"), w);
        layer.model = trimmed(root, &dir.join("device/model"), w).filter(|m| !m.is_empty());
    }
    let vendor = if matches!(layer.kind, LayerKind::Disk) {
        trimmed(root, &dir.join("device/vendor"), w)
    } else {
        None
    };
    layer.class = classify(&layer, vendor.as_deref());
    (layer, below_dirs)
}

fn trimmed(root: &SysRoot, abs: &Path, w: &mut Warnings) -> Option<String> {
    read_opt(root, abs, w).map(|s| s.trim().to_string())
}

/// The directories linked from `DIR/slaves/`.
fn slaves(root: &SysRoot, dir: &Path, w: &mut Warnings) -> Vec<PathBuf> {
    let sl = dir.join("slaves");
    match list_dir(root, &sl) {
        Ok(names) => names
            .iter()
            .filter_map(|n| resolved(root, &sl.join(n), w))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            w.io(&sl, &e);
            Vec::new()
        }
    }
}

/// `LVM-...` -> `lvm`, `CRYPT-...` -> `crypt`, `mpath-...` -> `multipath`,
/// another prefix lowercased, `dm` when there is none.
fn dm_target(uuid: &str) -> String {
    match uuid.split_once('-').map(|(p, _)| p) {
        Some("LVM") => "lvm".into(),
        Some("CRYPT") => "crypt".into(),
        Some("mpath") => "multipath".into(),
        Some(p) if !p.is_empty() => p.to_ascii_lowercase(),
        _ => "dm".into(),
    }
}

/// `none [mq-deadline] kyber` -> `mq-deadline`; a lone `none` -> `none`.
fn active_scheduler(s: &str) -> Option<String> {
    let s = s.trim();
    if let Some(start) = s.find('[') {
        let rest = &s[start + 1..];
        return rest.find(']').map(|end| rest[..end].to_string());
    }
    (!s.is_empty() && !s.contains(' ')).then(|| s.to_string())
}

fn classify(layer: &BlockLayer, vendor: Option<&str>) -> DeviceClass {
    if !matches!(layer.kind, LayerKind::Disk) {
        return DeviceClass::Stacked;
    }
    let n = layer.name.as_str();
    let model = layer.model.as_deref().unwrap_or("");
    if n.starts_with("nvme") {
        DeviceClass::Nvme
    } else if n.starts_with("vd") || n.starts_with("xvd") {
        DeviceClass::Virtual
    } else if n.starts_with("nbd") || n.starts_with("rbd") {
        DeviceClass::Network
    } else if n.starts_with("sd") || n.starts_with("hd") {
        let virt_vendor =
            vendor.is_some_and(|v| matches!(v, "QEMU" | "VMware" | "VMware," | "Msft" | "VBOX"));
        if virt_vendor
            || model.starts_with("QEMU")
            || model.starts_with("VBOX")
            || model == "Virtual disk"
        {
            DeviceClass::Virtual
        } else {
            match layer.rotational {
                Some(true) => DeviceClass::Hdd,
                Some(false) => DeviceClass::Ssd,
                None => DeviceClass::Unknown,
            }
        }
    } else {
        DeviceClass::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn scheduler_and_dm_target() {
        assert_eq!(
            active_scheduler("none [mq-deadline] kyber bfq \n").as_deref(),
            Some("mq-deadline")
        );
        assert_eq!(active_scheduler("none\n").as_deref(), Some("none"));
        assert_eq!(
            active_scheduler("[none] mq-deadline").as_deref(),
            Some("none")
        );
        assert_eq!(active_scheduler("none mq-deadline"), None);
        assert_eq!(dm_target("LVM-abcdef"), "lvm");
        assert_eq!(dm_target("CRYPT-LUKS2-1234-root"), "crypt");
        assert_eq!(dm_target("mpath-3600"), "multipath");
        assert_eq!(dm_target("VERITY-x"), "verity");
        assert_eq!(dm_target(""), "dm");
    }

    fn layer_dir(d: &Path, rel: &str, dev: &str) {
        isotune_testutil::put(d, &format!("{rel}/dev"), format!("{dev}\n").as_bytes());
    }

    #[test]
    fn cyclic_slaves_terminate() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        layer_dir(d, "sys/devices/virtual/block/dm-0", "253:0");
        layer_dir(d, "sys/devices/virtual/block/dm-1", "253:1");
        std::fs::create_dir_all(d.join("sys/devices/virtual/block/dm-0/slaves")).unwrap();
        std::fs::create_dir_all(d.join("sys/devices/virtual/block/dm-1/slaves")).unwrap();
        symlink(
            "../../dm-1",
            d.join("sys/devices/virtual/block/dm-0/slaves/dm-1"),
        )
        .unwrap();
        symlink(
            "../../dm-0",
            d.join("sys/devices/virtual/block/dm-1/slaves/dm-0"),
        )
        .unwrap();
        // A self-referencing link too.
        symlink("loop", d.join("sys/devices/virtual/block/dm-1/slaves/loop")).unwrap();
        std::fs::create_dir_all(d.join("sys/dev/block")).unwrap();
        symlink(
            "../../devices/virtual/block/dm-0",
            d.join("sys/dev/block/253:0"),
        )
        .unwrap();
        let mut w = Warnings::default();
        let chain = storage_chain(
            &SysRoot::at(d),
            DevNum {
                major: 253,
                minor: 0,
            },
            None,
            &[],
            &mut w,
        );
        let names: Vec<_> = chain.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["dm-0", "dm-1"]);
        assert_eq!(chain[1].below, ["dm-0"]);
        assert_eq!(chain[0].class, DeviceClass::Stacked);
        assert_eq!(w.0.len(), 1, "{:?}", w.0);
        assert!(w.0[0].contains("too many levels"), "{:?}", w.0);
    }

    #[test]
    fn deep_chains_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let base = "sys/devices/virtual/block";
        for i in 0..40 {
            layer_dir(d, &format!("{base}/dm-{i}"), &format!("253:{i}"));
            std::fs::create_dir_all(d.join(format!("{base}/dm-{i}/slaves"))).unwrap();
            symlink(
                format!("../../dm-{}", i + 1),
                d.join(format!("{base}/dm-{i}/slaves/dm-{}", i + 1)),
            )
            .unwrap();
        }
        std::fs::create_dir_all(d.join("sys/class/block")).unwrap();
        symlink(
            "../../devices/virtual/block/dm-0",
            d.join("sys/class/block/dm-0"),
        )
        .unwrap();
        isotune_testutil::put(d, &format!("{base}/dm-0/dm/name"), b"vg-root\n");
        // Found through the mount source: no /sys/dev/block entry.
        let mut w = Warnings::default();
        let chain = storage_chain(
            &SysRoot::at(d),
            DevNum {
                major: 0,
                minor: 41,
            },
            Some("/dev/mapper/vg-root"),
            &[],
            &mut w,
        );
        assert_eq!(chain.len(), MAX_DEPTH + 1);
        assert_eq!(w.0.len(), 1, "{:?}", w.0);
        assert!(w.0[0].contains("deeper than 16"), "{:?}", w.0);
    }

    #[test]
    fn directory_where_a_file_is_expected() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        layer_dir(d, "sys/devices/pci0/block/sda", "8:0");
        std::fs::create_dir_all(d.join("sys/devices/pci0/block/sda/queue/rotational")).unwrap();
        isotune_testutil::put(
            d,
            "sys/devices/pci0/block/sda/queue/read_ahead_kb",
            b"banana\n",
        );
        std::fs::create_dir_all(d.join("sys/class/block")).unwrap();
        symlink(
            "../../devices/pci0/block/sda",
            d.join("sys/class/block/sda"),
        )
        .unwrap();
        let mut w = Warnings::default();
        let chain = storage_chain(
            &SysRoot::at(d),
            DevNum {
                major: 0,
                minor: 40,
            },
            Some("/dev/sda"),
            &[],
            &mut w,
        );
        assert_eq!(chain.len(), 1);
        assert_eq!((chain[0].rotational, chain[0].read_ahead_kb), (None, None));
        assert_eq!(chain[0].class, DeviceClass::Unknown);
        assert_eq!(w.0.len(), 2, "{:?}", w.0);
        // No entry for a real device number is a warning; an anonymous one is not.
        let mut w = Warnings::default();
        assert!(storage_chain(
            &SysRoot::at(d),
            DevNum { major: 8, minor: 9 },
            None,
            &[],
            &mut w
        )
        .is_empty());
        assert_eq!(w.0, ["/sys/dev/block/8:9: not found"]);
        let mut w = Warnings::default();
        assert!(storage_chain(
            &SysRoot::at(d),
            DevNum {
                major: 0,
                minor: 52
            },
            Some("fs:/x"),
            &[],
            &mut w
        )
        .is_empty());
        assert!(w.0.is_empty());
    }
}
