//! libvirt `<devices>`: `<controller>` elements (virtio-scsi, SATA/AHCI,
//! IDE, with their iothread) and `<disk>` elements (source, driver, target
//! bus, read-only, boot order, controller address) as [`Drive`]s.

use std::path::PathBuf;

use roxmltree::Node;

use super::{child, children};
use crate::model::{
    Aio, Bus, CacheMode, ConfigIssue, Controller, Drive, IssueKind, Media, Source, VmDefinition,
};

pub(super) fn devices(devices: Node<'_, '_>, def: &mut VmDefinition) {
    for c in children(devices, "controller") {
        let ty = c.attribute("type").unwrap_or_default();
        let kind = match ty {
            "scsi" => c.attribute("model").unwrap_or("lsilogic").to_string(),
            "sata" => "ahci".to_string(),
            "ide" => "ide".to_string(),
            _ => continue,
        };
        let index = c.attribute("index").unwrap_or("0");
        let iothread = child(c, "driver")
            .and_then(|d| d.attribute("iothread"))
            .map(str::to_string);
        let context = format!("<controller type=\"{ty}\" index=\"{index}\">");
        check_iothread(
            &def.iothreads,
            iothread.as_deref(),
            &context,
            &mut def.issues,
        );
        def.controllers.push(Controller {
            id: Some(format!("{ty}{index}")),
            kind,
            iothread,
        });
    }
    for (i, d) in children(devices, "disk").enumerate() {
        let context = format!("<disk> #{}", i + 1);
        let drive = disk(d, &context, def);
        def.drives.push(drive);
    }
}

fn check_iothread(
    defined: &[String],
    t: Option<&str>,
    context: &str,
    issues: &mut Vec<ConfigIssue>,
) {
    if let Some(t) = t {
        if !defined.iter().any(|x| x == t) {
            issues.push(ConfigIssue::new(
                IssueKind::Dangling,
                format!("iothread=\"{t}\""),
                context,
                format!("The domain defines no iothread {t}"),
            ));
        }
    }
}

fn disk(d: Node<'_, '_>, ctx: &str, def: &mut VmDefinition) -> Drive {
    unknown_xml(d, ctx, &mut def.issues);
    let issues = &mut def.issues;
    let mut invalid = |attr: &str, v: &str, why: &str| {
        issues.push(ConfigIssue::new(
            IssueKind::Invalid,
            format!("{attr}=\"{v}\""),
            ctx,
            why.to_string(),
        ));
    };
    let device = d.attribute("device").unwrap_or("disk");
    let media = match device {
        "cdrom" => Media::Cdrom,
        "disk" | "lun" => Media::Disk,
        "floppy" => Media::Other,
        other => {
            invalid("device", other, "device must be disk, cdrom, floppy or lun");
            Media::Disk
        }
    };
    let target = child(d, "target");
    let dev = target.and_then(|t| t.attribute("dev"));
    let bus_name = target.and_then(|t| t.attribute("bus")).or_else(|| {
        // libvirt derives the bus from the target name when it is missing.
        let dev = dev?;
        // `get`: the name is host input and may start with a multi-byte
        // character, where `[..2]` would panic.
        Some(match dev.get(..2).unwrap_or(dev) {
            "hd" => "ide",
            "sd" => "scsi",
            "vd" => "virtio",
            "fd" => "fdc",
            _ => return None,
        })
    });
    let bus = match bus_name {
        Some("ide") => Bus::Ide,
        Some("sata") => Bus::Sata,
        Some("scsi") => Bus::Scsi,
        Some("virtio") => Bus::Virtio,
        Some("usb") => Bus::Usb,
        Some(b @ ("fdc" | "xen" | "sd")) => Bus::Other(b.to_string()),
        Some(other) => {
            invalid(
                "bus",
                other,
                "bus must be ide, sata, scsi, virtio, usb, fdc, xen or sd",
            );
            Bus::Other(other.to_string())
        }
        None => Bus::Other(String::new()),
    };
    let tray_open = match target.and_then(|t| t.attribute("tray")) {
        Some("open") => Some(true),
        Some("closed") => Some(false),
        Some(other) => {
            invalid("tray", other, "tray must be open or closed");
            None
        }
        None => None,
    };
    let cd = media == Media::Cdrom;
    let qemu_device = match (&bus, device) {
        (Bus::Ide | Bus::Sata, _) => Some(if cd { "ide-cd" } else { "ide-hd" }),
        (Bus::Scsi, "lun") => Some("scsi-block"),
        (Bus::Scsi, _) => Some(if cd { "scsi-cd" } else { "scsi-hd" }),
        (Bus::Virtio, _) => Some("virtio-blk-pci"),
        (Bus::Usb, _) => Some("usb-storage"),
        _ => None,
    };

    let driver = child(d, "driver");
    let attr = |name: &str| {
        driver
            .and_then(|n| n.attribute(name))
            .filter(|v| *v != "default")
    };
    let cache = attr("cache").map(|v| {
        CacheMode::from_name(v).unwrap_or_else(|| {
            invalid(
                "cache",
                v,
                "cache must be default, none, writethrough, writeback, directsync or unsafe",
            );
            CacheMode::Other(v.to_string())
        })
    });
    let aio = attr("io").map(|v| {
        Aio::from_name(v).unwrap_or_else(|| {
            invalid("io", v, "io must be threads, native or io_uring");
            Aio::Other(v.to_string())
        })
    });
    let format = attr("type").map(str::to_string);
    let mut iothread = attr("iothread").map(str::to_string);

    let boot_order = child(d, "boot")
        .and_then(|b| b.attribute("order"))
        .and_then(|v| {
            let n = v.parse::<u32>().ok();
            if n.is_none() {
                invalid("order", v, "The boot order must be a number");
            }
            n
        });
    let readonly = (child(d, "readonly").is_some() || cd).then_some(true);
    let source = source(d);

    // The controller: `<address type="drive" controller="N">`, else the
    // first controller of the bus's type, which libvirt assigns.
    let ctype = match bus {
        Bus::Ide => Some("ide"),
        Bus::Sata => Some("sata"),
        Bus::Scsi => Some("scsi"),
        _ => None,
    };
    let controller = ctype.and_then(|ty| {
        let addressed = child(d, "address")
            .filter(|a| a.attribute("type") == Some("drive"))
            .and_then(|a| a.attribute("controller"));
        let id = format!("{ty}{}", addressed.unwrap_or("0"));
        (addressed.is_some() || def.controllers.iter().any(|c| c.id.as_deref() == Some(&id)))
            .then_some(id)
    });
    // SCSI disks run in their controller's iothread. On other buses a
    // `<driver iothread=...>` is kept as written even where it cannot work
    // (IDE, SATA, USB): the doctor reports it (`drive.iothread-ignored`).
    if bus == Bus::Scsi {
        let hba = def.controllers.iter().find(|c| c.id == controller);
        iothread = hba.and_then(|c| c.iothread.clone());
    } else if bus == Bus::Virtio {
        check_iothread(&def.iothreads, iothread.as_deref(), ctx, &mut def.issues);
    }
    Drive {
        id: dev.map(str::to_string),
        device: qemu_device.map(str::to_string),
        controller,
        format,
        cache,
        aio,
        readonly,
        iothread,
        boot_order,
        tray_open,
        ..Drive::new(media, bus, source)
    }
}

/// The attributes of a disk's `<driver>` that libvirt knows
/// (<https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms>).
const DRIVER_ATTRIBUTES: &[&str] = &[
    "name",
    "type",
    "cache",
    "error_policy",
    "rerror_policy",
    "io",
    "ioeventfd",
    "event_idx",
    "copy_on_read",
    "discard",
    "discard_no_unref",
    "detect_zeroes",
    "iothread",
    "queues",
    "queue_size",
    "packed",
    "page_per_vq",
    "ats",
    "iommu",
];

/// The child elements of `<disk>` that libvirt knows (same page).
/// `privateData` only appears in the status XML libvirt keeps for a running
/// domain (`/run/libvirt/qemu/*.xml`).
const DISK_CHILDREN: &[&str] = &[
    "driver",
    "source",
    "target",
    "readonly",
    "shareable",
    "transient",
    "boot",
    "address",
    "alias",
    "serial",
    "wwn",
    "vendor",
    "product",
    "blockio",
    "iotune",
    "backingStore",
    "mirror",
    "auth",
    "encryption",
    "geometry",
    "throttlefilters",
    "backenddomain",
    "privateData",
];

/// Attributes of `<driver>` and child elements of `<disk>` libvirt does not
/// know (`dmqueue_size='1024'`, `<dmqueue_size>`): libvirt drops them
/// silently, so they are issues of kind [`IssueKind::Unknown`]. Names in
/// another XML namespace belong to someone else and are left alone.
fn unknown_xml(d: Node<'_, '_>, ctx: &str, issues: &mut Vec<ConfigIssue>) {
    for c in d.children().filter(|c| c.is_element()) {
        let tag = c.tag_name();
        if tag.namespace().is_some() || DISK_CHILDREN.contains(&tag.name()) {
            continue;
        }
        issues.push(ConfigIssue::new(
            IssueKind::Unknown,
            format!("<{}>", tag.name()),
            ctx,
            format!("libvirt has no <{}> element in <disk>", tag.name()),
        ));
    }
    let Some(driver) = child(d, "driver") else {
        return;
    };
    for a in driver.attributes() {
        if a.namespace().is_some() || DRIVER_ATTRIBUTES.contains(&a.name()) {
            continue;
        }
        issues.push(ConfigIssue::new(
            IssueKind::Unknown,
            format!("{}='{}'", a.name(), a.value()),
            ctx,
            format!("libvirt's disk <driver> has no attribute {}", a.name()),
        ));
    }
}

/// `<source>` by disk type; a missing or empty source is an empty tray.
fn source(d: Node<'_, '_>) -> Source {
    let Some(s) = child(d, "source") else {
        return Source::Empty;
    };
    let nonempty = |name: &str| s.attribute(name).filter(|v| !v.is_empty());
    match d.attribute("type").unwrap_or("file") {
        "file" => nonempty("file").map_or(Source::Empty, |p| Source::File {
            path: PathBuf::from(p),
        }),
        "block" => nonempty("dev").map_or(Source::Empty, |p| Source::Block {
            path: PathBuf::from(p),
        }),
        "network" => network(s),
        "volume" => Source::Network {
            protocol: "volume".into(),
            url: format!(
                "{}/{}",
                s.attribute("pool").unwrap_or_default(),
                s.attribute("volume").unwrap_or_default()
            ),
        },
        "dir" => Source::Network {
            protocol: "dir".into(),
            url: s.attribute("dir").unwrap_or_default().to_string(),
        },
        other => Source::Network {
            protocol: other.to_string(),
            url: String::new(),
        },
    }
}

fn network(s: Node<'_, '_>) -> Source {
    let protocol = s.attribute("protocol").unwrap_or_default();
    let name = s.attribute("name").unwrap_or_default();
    let host = child(s, "host");
    let hostport = host
        .map(|h| {
            let name = h.attribute("name").unwrap_or("localhost");
            let name = if name.contains(':') {
                format!("[{name}]")
            } else {
                name.to_string()
            };
            match h.attribute("port") {
                Some(p) => format!("{name}:{p}"),
                None => name,
            }
        })
        .unwrap_or_default();
    let path = if name.starts_with('/') {
        name.to_string()
    } else {
        format!("/{name}")
    };
    match protocol {
        "http" | "https" | "ftp" | "ftps" => {
            let mut url = format!("{protocol}://{hostport}{path}");
            if let Some(q) = s.attribute("query") {
                url = format!("{url}?{q}");
            }
            let num = |el: &str, attr: &str| {
                child(s, el)
                    .and_then(|n| n.attribute(attr))
                    .and_then(|v| v.parse().ok())
            };
            Source::Http {
                url,
                readahead_bytes: num("readahead", "size"),
                timeout_seconds: num("timeout", "seconds"),
                sslverify: child(s, "ssl")
                    .and_then(|n| n.attribute("verify"))
                    .map(|v| v == "yes"),
            }
        }
        "nbd" => {
            let socket = host
                .filter(|h| h.attribute("transport") == Some("unix"))
                .and_then(|h| h.attribute("socket"));
            let export = name.trim_start_matches('/');
            Source::Nbd {
                url: match socket {
                    Some(sock) => format!("nbd+unix:///{export}?socket={sock}"),
                    None => format!("nbd://{hostport}/{export}"),
                },
            }
        }
        other => Source::Network {
            protocol: other.to_string(),
            url: format!("{other}://{hostport}{path}"),
        },
    }
}
