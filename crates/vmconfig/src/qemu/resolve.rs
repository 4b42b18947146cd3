//! The second pass over a QEMU argv: ties `-drive`/`-blockdev` back ends to
//! the `-device` front ends that use them, the front ends to their
//! controllers (`bus=scsi0.0`, `bus=ahci0.1`, `bus=ide.2`) and the
//! controllers to their iothreads, now that the machine type is known (an
//! `ide.N` bus is IDE on `pc` but SATA on `q35`). Whatever cannot be tied
//! becomes a [`ConfigIssue`].

use std::collections::{HashMap, HashSet};

use super::argv::{Collected, Piece};
use super::devices::{classify, known_property, DevClass};
use super::drive::{drive_from_opts, Slots};
use super::opts::Opts;
use super::source::{walk, Chain};
use crate::model::{
    Aio, Bus, ConfigIssue, Controller, Drive, Firmware, IssueKind, Media, Source, VmDefinition,
};

pub(crate) struct Out {
    pub(crate) pos: usize,
    pub(crate) drive: Drive,
    pub(crate) context: String,
    /// Can a `-device` use it (`if=none` drives, `-blockdev` nodes)?
    pub(crate) attachable: bool,
    pub(crate) used: bool,
}

pub(crate) fn resolve(c: Collected) -> VmDefinition {
    let Collected {
        mut def,
        machine_opts,
        drives,
        blockdevs,
        devices,
        boot,
        ..
    } = c;
    let q35 = def.machine.as_deref().is_some_and(|m| m.contains("q35"));
    let mut issues = std::mem::take(&mut def.issues);

    // Controllers first: drives on them need their kind and iothread.
    for d in &devices {
        let driver = d.opts.get("driver").unwrap_or_default();
        let class = classify(driver);
        if class == DevClass::Other {
            continue;
        }
        for (k, v) in &d.opts.pairs {
            if !known_property(driver, k) {
                let message = if k == "iothread" {
                    // Kept on the drive too (see `attach`), where the doctor
                    // reports it as `drive.iothread-ignored`.
                    format!(
                        "{driver} has no property iothread (QEMU: \"Property \
                         '{driver}.iothread' not found\"): only virtio devices run in an iothread"
                    )
                } else {
                    format!("{driver} has no property {k}")
                };
                issues.push(ConfigIssue::new(
                    IssueKind::Unknown,
                    format!("{k}={v}"),
                    &d.context,
                    message,
                ));
            }
        }
        if let DevClass::Controller(kind) = class {
            let iothread = d.opts.get("iothread").map(str::to_string);
            check_iothread(&def.iothreads, iothread.as_deref(), d, &mut issues);
            def.controllers.push(Controller {
                id: d.opts.get("id").map(str::to_string),
                kind,
                iothread,
            });
        }
    }

    // Block graph: which nodes are children or firmware, hence not drives.
    let nodes: HashMap<String, Opts> = blockdevs
        .iter()
        .filter_map(|p| Some((p.opts.get("node-name")?.to_string(), p.opts.clone())))
        .collect();
    let mut hidden: HashSet<String> = HashSet::new();
    for p in &blockdevs {
        let mut chain = Chain::default();
        walk(&p.opts, &nodes, &mut chain, 0);
        hidden.extend(chain.visited.into_iter().skip(1));
        if let Some(name) = chain.dangling {
            issues.push(ConfigIssue::new(
                IssueKind::Dangling,
                format!("file={name}"),
                &p.context,
                format!("No block node is named {name}"),
            ));
        }
    }
    for key in ["pflash0", "pflash1"] {
        let Some(name) = machine_opts.get(key) else {
            continue;
        };
        let Some(top) = nodes.get(name) else { continue };
        let mut chain = Chain::default();
        walk(top, &nodes, &mut chain, 0);
        hidden.extend(chain.visited);
        if key == "pflash0" {
            let code = match chain.source {
                Some(Source::File { path }) | Some(Source::Block { path }) => Some(path),
                _ => None,
            };
            def.firmware = Firmware::Uefi { code };
        }
    }

    let mut out: Vec<Out> = Vec::new();
    let mut slots: HashMap<String, Slots> = HashMap::new();
    for p in &drives {
        if let Some(o) = drive_from_opts(p, q35, &mut slots, &mut def.firmware, &mut issues) {
            out.push(o);
        }
    }
    for p in &blockdevs {
        let Some(name) = p.opts.get("node-name") else {
            continue;
        };
        if hidden.contains(name) {
            continue;
        }
        let mut chain = Chain::default();
        walk(&p.opts, &nodes, &mut chain, 0);
        let aio = chain.aio.map(|a| checked_aio(&a, &p.context, &mut issues));
        out.push(Out {
            pos: p.pos,
            drive: Drive {
                id: Some(name.to_string()),
                format: chain.format,
                cache_direct: chain.cache_direct,
                aio,
                readonly: chain.readonly,
                ..Drive::new(
                    Media::Disk,
                    Bus::None,
                    chain.source.unwrap_or(Source::Empty),
                )
            },
            context: p.context.clone(),
            attachable: true,
            used: false,
        });
    }

    // Front ends. Back ends by id, in argv order, so that tying each front
    // end to its drive is a lookup, not a scan (a hostile argv with 80,000
    // drives must stay linear).
    let mut by_id: HashMap<String, std::collections::VecDeque<usize>> = HashMap::new();
    for (k, o) in out.iter().enumerate() {
        if let (true, Some(id)) = (o.attachable, o.drive.id.as_deref()) {
            by_id.entry(id.to_string()).or_default().push_back(k);
        }
    }
    for d in &devices {
        let driver = d.opts.get("driver").unwrap_or_default();
        let DevClass::Drive(bus, media) = classify(driver) else {
            continue;
        };
        let k = match d.opts.get("drive") {
            Some(x) => {
                let found = by_id.get_mut(x).and_then(|q| q.pop_front());
                match found {
                    Some(k) => k,
                    None => {
                        issues.push(ConfigIssue::new(
                            IssueKind::Dangling,
                            format!("drive={x}"),
                            &d.context,
                            format!("No drive or block node is named {x}"),
                        ));
                        continue;
                    }
                }
            }
            None => {
                // A front end without a back end: an empty cdrom tray.
                out.push(Out {
                    pos: d.pos,
                    drive: empty_drive(d.opts.get("id")),
                    context: d.context.clone(),
                    attachable: false,
                    used: true,
                });
                out.len() - 1
            }
        };
        out[k].used = true;
        attach(
            &mut out[k].drive,
            bus,
            media,
            driver,
            d,
            q35,
            &def,
            &mut issues,
        );
    }

    for o in &out {
        if o.attachable && !o.used {
            let id = o.drive.id.clone().unwrap_or_default();
            issues.push(ConfigIssue::new(
                IssueKind::Dangling,
                id.clone(),
                &o.context,
                format!("No device uses drive {id}"),
            ));
        }
    }
    out.sort_by_key(|o| o.pos);
    def.drives = out.into_iter().map(|o| o.drive).collect();
    if let Some(boot) = boot {
        apply_boot_letters(&mut def.drives, &boot);
    }
    def.issues = issues;
    def
}

fn check_iothread(
    defined: &[String],
    iothread: Option<&str>,
    d: &Piece,
    issues: &mut Vec<ConfigIssue>,
) {
    if let Some(t) = iothread {
        if !defined.iter().any(|x| x == t) {
            issues.push(ConfigIssue::new(
                IssueKind::Dangling,
                format!("iothread={t}"),
                &d.context,
                format!("No iothread object is named {t}"),
            ));
        }
    }
}

pub(crate) fn checked_aio(v: &str, context: &str, issues: &mut Vec<ConfigIssue>) -> Aio {
    Aio::from_name(v).unwrap_or_else(|| {
        issues.push(ConfigIssue::new(
            IssueKind::Invalid,
            format!("aio={v}"),
            context,
            "aio must be threads, native or io_uring",
        ));
        Aio::Other(v.to_string())
    })
}

fn empty_drive(id: Option<&str>) -> Drive {
    Drive {
        id: id.map(str::to_string),
        ..Drive::new(Media::Cdrom, Bus::None, Source::Empty)
    }
}

/// Ties a front end to its drive: bus, controller, iothread, boot order.
#[allow(clippy::too_many_arguments)]
fn attach(
    drive: &mut Drive,
    bus: Bus,
    media: Media,
    driver: &str,
    d: &Piece,
    q35: bool,
    def: &VmDefinition,
    issues: &mut Vec<ConfigIssue>,
) {
    drive.device = Some(driver.to_string());
    let bus_prop = d.opts.get("bus");
    let bus_name = bus_prop.map(|b| b.rsplit_once('.').map_or(b, |(name, _)| name));
    let controller = |id: &str| def.controllers.iter().find(|c| c.id.as_deref() == Some(id));
    let mut dangling_bus = false;
    match bus {
        Bus::Ide => {
            drive.media = media;
            let builtin = if q35 { Bus::Sata } else { Bus::Ide };
            match bus_name {
                None | Some("ide") => drive.bus = builtin,
                Some(name) => {
                    drive.controller = Some(name.to_string());
                    drive.bus = match controller(name) {
                        Some(c) if c.kind == "ahci" => Bus::Sata,
                        Some(_) => Bus::Ide,
                        None => {
                            dangling_bus = true;
                            builtin
                        }
                    };
                }
            }
        }
        Bus::Scsi => {
            drive.media = media;
            drive.bus = Bus::Scsi;
            let name = match bus_name {
                Some(name) => Some(name),
                None => def
                    .controllers
                    .iter()
                    .find(|c| c.kind != "ahci" && c.kind != "ide")
                    .and_then(|c| c.id.as_deref()),
            };
            if let Some(name) = name.filter(|n| *n != "scsi") {
                drive.controller = Some(name.to_string());
                match controller(name) {
                    Some(c) => drive.iothread = c.iothread.clone(),
                    None => dangling_bus = true,
                }
            }
        }
        Bus::Virtio => {
            drive.media = Media::Disk;
            drive.bus = Bus::Virtio;
            let iothread = d.opts.get("iothread");
            check_iothread(&def.iothreads, iothread, d, issues);
            drive.iothread = iothread.map(str::to_string);
        }
        Bus::Usb => drive.bus = Bus::Usb,
        other => {
            drive.media = media;
            drive.bus = other;
        }
    }
    if !matches!(drive.bus, Bus::Virtio | Bus::Scsi) {
        // QEMU refuses `iothread=` on IDE, AHCI, USB and floppy front ends
        // (an `Unknown` issue says so); keeping it on the drive lets the
        // doctor explain what to do instead.
        if let Some(t) = d.opts.get("iothread") {
            drive.iothread = Some(t.to_string());
        }
    }
    if dangling_bus {
        let b = bus_prop.unwrap_or_default();
        issues.push(ConfigIssue::new(
            IssueKind::Dangling,
            format!("bus={b}"),
            &d.context,
            format!("No controller provides bus {b}"),
        ));
    }
    if let Some(v) = d.opts.get("bootindex") {
        match v.parse::<i64>() {
            Ok(n) if n >= 0 => drive.boot_order = u32::try_from(n).ok(),
            Ok(_) => {}
            Err(_) => issues.push(ConfigIssue::new(
                IssueKind::Invalid,
                format!("bootindex={v}"),
                &d.context,
                "bootindex must be a number",
            )),
        }
    }
}

/// `-boot order=dc` (or `once=d`): when no device has a `bootindex`, the
/// first cdrom (`d`) and the first disk (`c`) get boot orders in that order.
pub(crate) fn apply_boot_letters(drives: &mut [Drive], boot: &Opts) {
    if drives.iter().any(|d| d.boot_order.is_some()) {
        return;
    }
    let letters = boot.get("once").or(boot.get("order")).unwrap_or_default();
    let mut n = 1;
    for l in letters.chars() {
        let media = match l {
            'd' => Media::Cdrom,
            'c' => Media::Disk,
            _ => continue,
        };
        if let Some(d) = drives
            .iter_mut()
            .find(|d| d.media == media && d.boot_order.is_none() && d.bus != Bus::None)
        {
            d.boot_order = Some(n);
            n += 1;
        }
    }
}
