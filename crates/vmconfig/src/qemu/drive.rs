//! `-drive` (and the `-cdrom`, `-hda`, ... shorthands QEMU turns into one):
//! its keys checked against what QEMU accepts, its values validated, its
//! `file=` string or `file.*` protocol options turned into a [`Source`], its
//! interface into a bus (IDE is SATA on q35) and, without an `id`, the id
//! QEMU would give it (`ide1-cd0`).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::argv::Piece;
use super::opts::{parse_bool, Opts};
use super::resolve::{checked_aio, Out};
use super::source::{protocol_source, source_from_filename};
use crate::model::{Bus, CacheMode, ConfigIssue, Drive, Firmware, IssueKind, Media, Source};

/// Keys `-drive` accepts (QEMU's `qemu_common_drive_opts`,
/// `qemu_legacy_drive_opts` and the usual format options), without prefixes.
const DRIVE_KEYS: &[&str] = &[
    "file",
    "if",
    "bus",
    "unit",
    "index",
    "media",
    "cyls",
    "heads",
    "secs",
    "trans",
    "snapshot",
    "cache",
    "aio",
    "format",
    "driver",
    "serial",
    "addr",
    "werror",
    "rerror",
    "readonly",
    "read-only",
    "copy-on-read",
    "id",
    "node-name",
    "discard",
    "detect-zeroes",
    "auto-read-only",
    "force-share",
    "boot",
    "group",
    "stats-account-invalid",
    "stats-account-failed",
    "offset",
    "size",
    "l2-cache-size",
    "l2-cache-entry-size",
    "refcount-cache-size",
    "cache-size",
    "cache-clean-interval",
    "lazy-refcounts",
    "overlap-check",
    "pass-discard-request",
    "pass-discard-snapshot",
    "pass-discard-other",
    "discard-no-unref",
    "data-file",
    "encrypt",
    "backing",
    "locking",
];

/// Key prefixes `-drive` accepts (protocol, cache, throttling and statistics groups).
const DRIVE_PREFIXES: &[&str] = &[
    "file.",
    "cache.",
    "throttling.",
    "stats-intervals.",
    "encrypt.",
    "backing.",
    "data-file.",
    "overlap-check.",
    "x-",
    "bps",
    "iops",
];

const INTERFACES: &[&str] = &[
    "ide", "scsi", "sd", "mtd", "floppy", "pflash", "virtio", "none", "xen",
];

/// A `-drive` (or `-cdrom`, `-hda`, ...) as a drive; `None` for `if=pflash`,
/// which is firmware.
pub(crate) fn drive_from_opts(
    p: &Piece,
    q35: bool,
    slots: &mut HashMap<String, Slots>,
    firmware: &mut Firmware,
    issues: &mut Vec<ConfigIssue>,
) -> Option<Out> {
    let o = &p.opts;
    let ctx = p.context.as_str();
    let invalid = |issues: &mut Vec<ConfigIssue>, key: &str, v: &str, why: &str| {
        issues.push(ConfigIssue::new(
            IssueKind::Invalid,
            format!("{key}={v}"),
            ctx,
            why.to_string(),
        ));
    };
    if p.explicit {
        for (k, v) in &o.pairs {
            if !DRIVE_KEYS.contains(&k.as_str()) && !DRIVE_PREFIXES.iter().any(|x| k.starts_with(x))
            {
                issues.push(ConfigIssue::new(
                    IssueKind::Unknown,
                    format!("{k}={v}"),
                    ctx,
                    format!("-drive has no option {k}"),
                ));
            }
        }
    }
    let mut iface = o.get("if").unwrap_or("ide");
    if !INTERFACES.contains(&iface) {
        invalid(
            issues,
            "if",
            iface,
            "if must be ide, scsi, virtio, none, floppy, pflash, sd, mtd or xen",
        );
        iface = "none";
    }
    let cdrom = match o.get("media") {
        None | Some("disk") => false,
        Some("cdrom") => true,
        Some(v) => {
            invalid(issues, "media", v, "media must be disk or cdrom");
            false
        }
    };
    let file = o.get("file").filter(|f| !f.is_empty());
    if iface == "pflash" {
        if !matches!(firmware, Firmware::Uefi { code: Some(_) }) {
            *firmware = Firmware::Uefi {
                code: file.map(PathBuf::from),
            };
        }
        return None;
    }
    let boolean = |issues: &mut Vec<ConfigIssue>, key: &str| {
        let v = o.get(key)?;
        let b = parse_bool(v);
        if b.is_none() {
            invalid(issues, key, v, "expected on or off");
        }
        b
    };
    let cache_direct = boolean(issues, "cache.direct");
    let mut readonly = boolean(issues, "readonly").or_else(|| boolean(issues, "read-only"));
    if readonly.is_none() && cdrom {
        readonly = Some(true);
    }
    let cache = o.get("cache").map(|v| {
        CacheMode::from_name(v).unwrap_or_else(|| {
            issues.push(ConfigIssue::new(
                IssueKind::Invalid,
                format!("cache={v}"),
                ctx,
                "cache must be writeback, none, writethrough, directsync or unsafe",
            ));
            CacheMode::Other(v.to_string())
        })
    });
    let aio = o.get("aio").map(|v| checked_aio(v, ctx, issues));

    // The protocol layer: `file.driver=...` options, or the `file=` string.
    let proto = o.sub("file");
    let source = match (proto.get("driver"), file) {
        (Some(driver), _) => {
            let mut proto = proto.clone();
            if let (None, Some(f)) = (proto.get("filename"), file) {
                proto.pairs.push(("filename".into(), f.to_string()));
            }
            protocol_source(driver, &proto)
        }
        (None, Some(f)) => match source_from_filename(f) {
            Source::Http { url, .. } => protocol_source("http", &{
                let mut proto = proto.clone();
                proto.pairs.push(("url".into(), url));
                proto
            }),
            s => s,
        },
        (None, None) => Source::Empty,
    };

    let media = if cdrom { Media::Cdrom } else { Media::Disk };
    let (bus, device, max_devs) = match iface {
        "ide" => {
            let dev = if cdrom { "ide-cd" } else { "ide-hd" };
            (
                if q35 { Bus::Sata } else { Bus::Ide },
                Some(dev),
                if q35 { 1 } else { 2 },
            )
        }
        "scsi" => (
            Bus::Scsi,
            Some(if cdrom { "scsi-cd" } else { "scsi-hd" }),
            7,
        ),
        "virtio" => (Bus::Virtio, Some("virtio-blk-pci"), 0),
        "none" => (Bus::None, None, 0),
        "floppy" => (Bus::Other("floppy".into()), Some("floppy"), 2),
        other => (Bus::Other(other.into()), None, 0),
    };
    let media = match iface {
        "virtio" => Media::Disk,
        "floppy" | "sd" | "mtd" => Media::Other,
        _ => media,
    };
    let id = match o.get("id") {
        Some(id) => id.to_string(),
        None => auto_id(iface, o, cdrom, max_devs, slots),
    };
    Some(Out {
        pos: p.pos,
        drive: Drive {
            id: Some(id),
            device: device.map(str::to_string),
            format: o.get("format").or(o.get("driver")).map(str::to_string),
            cache,
            cache_direct,
            aio,
            readonly,
            ..Drive::new(media, bus, source)
        },
        context: p.context.clone(),
        attachable: iface == "none",
        used: false,
    })
}

/// The indices taken on one interface.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    used: HashSet<u32>,
    /// No index below this one is free.
    first_free: u32,
}

/// The id QEMU gives a `-drive` without one (`ide1-cd0`, `virtio0`), taking
/// the next free index on that interface as QEMU does.
fn auto_id(
    iface: &str,
    o: &Opts,
    cdrom: bool,
    max_devs: u32,
    slots: &mut HashMap<String, Slots>,
) -> String {
    let slots = slots.entry(iface.to_string()).or_default();
    let num = |k: &str| o.get(k).and_then(|v| v.parse::<u32>().ok());
    let index = match (num("index"), num("bus"), num("unit")) {
        (Some(i), _, _) => i,
        (None, b, Some(u)) if max_devs > 0 => {
            b.unwrap_or(0).saturating_mul(max_devs).saturating_add(u)
        }
        _ => {
            // Every index below `first_free` is taken: the search resumes
            // there, so n drives without an index cost O(n), not O(n^2).
            while slots.used.contains(&slots.first_free) {
                slots.first_free += 1;
            }
            slots.first_free
        }
    };
    slots.used.insert(index);
    let media = match (iface, cdrom) {
        ("ide" | "scsi", true) => "-cd",
        ("ide" | "scsi", false) => "-hd",
        _ => "",
    };
    match index.checked_div(max_devs) {
        Some(bus) => format!("{iface}{bus}{media}{}", index % max_devs),
        None => format!("{iface}{media}{index}"),
    }
}
