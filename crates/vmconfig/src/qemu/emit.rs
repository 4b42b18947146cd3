//! From a [`VmDefinition`] back to the machine and storage part of a QEMU
//! argv, as a launcher (the boot matrix) needs it: machine, accelerators,
//! firmware, memory, iothreads, controllers, one `-drive if=none` plus one
//! `-device` per drive, and direct kernel boot. Display, network and
//! monitor options are the launcher's business.
//!
//! What cannot be said on a command line is left out: `Firmware::Bios` and
//! `Firmware::Uefi` without an image (QEMU then uses its default), and
//! `Bus::None`/`Bus::Other` drives get no front end. A SATA drive on `pc`
//! without an AHCI controller gets one (`ahci0`), a SCSI drive without a
//! controller gets a virtio-scsi one (`scsi0`), a USB drive a `qemu-xhci`.

use std::collections::HashMap;

use super::opts::escape;
use crate::model::{Accel, Bus, Controller, Drive, Firmware, Media, Source, VmDefinition};

/// The QEMU argv (without `argv[0]`) for `def`'s machine and storage.
pub fn to_argv(def: &VmDefinition) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let push = |a: &mut Vec<String>, opt: &str, val: String| {
        a.push(opt.to_string());
        a.push(val);
    };
    let q35 = def.machine.as_deref().is_some_and(|m| m.contains("q35"));
    if let Some(name) = &def.name {
        push(&mut a, "-name", format!("guest={}", escape(name)));
    }
    if let Some(m) = &def.machine {
        push(&mut a, "-machine", escape(m));
    }
    for accel in &def.accel {
        let name = match accel {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
            Accel::Other(s) => s,
        };
        push(&mut a, "-accel", escape(name));
    }
    match &def.firmware {
        Firmware::Bios { path: Some(p) } => push(&mut a, "-bios", p.display().to_string()),
        Firmware::Uefi { code: Some(code) } => push(
            &mut a,
            "-drive",
            format!(
                "if=pflash,format=raw,readonly=on,file={}",
                escape(&code.display().to_string())
            ),
        ),
        _ => {}
    }
    if let Some(bytes) = def.memory_bytes {
        let size = if bytes % (1 << 20) == 0 {
            format!("{}M", bytes >> 20)
        } else {
            format!("{bytes}B")
        };
        push(&mut a, "-m", size);
    }
    for t in &def.iothreads {
        push(&mut a, "-object", format!("iothread,id={}", escape(t)));
    }

    // Controllers: the defined ones, plus those the drives need.
    let mut controllers: Vec<Controller> = def.controllers.clone();
    let has = |cs: &[Controller], kind: &str| cs.iter().any(|c| c.kind == kind);
    let needs = |bus: Bus| def.drives.iter().any(|d| d.bus == bus);
    if needs(Bus::Sata) && !q35 && !has(&controllers, "ahci") {
        controllers.push(implicit("ahci0", "ahci"));
    }
    if needs(Bus::Scsi) && !controllers.iter().any(|c| is_scsi(&c.kind)) {
        controllers.push(implicit("scsi0", "virtio-scsi"));
    }
    for (i, c) in controllers.iter_mut().enumerate() {
        if c.id.is_none() {
            c.id = Some(format!("ctrl{i}"));
        }
        let Some(model) = qemu_controller(&c.kind) else {
            continue;
        };
        let mut dev = format!("{model},id={}", escape(c.id.as_deref().unwrap_or_default()));
        if let Some(t) = c.iothread.as_deref().filter(|_| c.kind == "virtio-scsi") {
            dev.push_str(&format!(",iothread={}", escape(t)));
        }
        push(&mut a, "-device", dev);
    }
    if needs(Bus::Usb) {
        push(&mut a, "-device", "qemu-xhci,id=usb".into());
    }

    let mut ports: HashMap<String, u32> = HashMap::new();
    for (i, d) in def.drives.iter().enumerate() {
        let id = d.id.clone().unwrap_or_else(|| format!("drive{i}"));
        push(&mut a, "-drive", drive_opts(d, &id));
        if let Some(dev) = device_opts(d, &id, q35, &controllers, &mut ports) {
            push(&mut a, "-device", dev);
        }
    }
    if let Some(k) = &def.kernel {
        push(&mut a, "-kernel", k.display().to_string());
    }
    if let Some(i) = &def.initrd {
        push(&mut a, "-initrd", i.display().to_string());
    }
    a
}

fn implicit(id: &str, kind: &str) -> Controller {
    Controller {
        id: Some(id.to_string()),
        kind: kind.to_string(),
        iothread: None,
    }
}

fn is_scsi(kind: &str) -> bool {
    kind != "ahci" && kind != "ide" && qemu_controller(kind).is_some()
}

/// The QEMU device for a controller kind (libvirt model names included);
/// `None` for the built-in IDE.
fn qemu_controller(kind: &str) -> Option<&str> {
    Some(match kind {
        "virtio-scsi" => "virtio-scsi-pci",
        "ahci" => "ahci",
        "lsilogic" | "lsi53c895a" => "lsi53c895a",
        "lsisas1068" | "mptsas1068" => "mptsas1068",
        "lsisas1078" | "megasas" => "megasas",
        "vmpvscsi" | "pvscsi" => "pvscsi",
        "am53c974" | "dc390" | "lsi53c810" | "megasas-gen2" => kind,
        _ => return None,
    })
}

fn drive_opts(d: &Drive, id: &str) -> String {
    let mut o = vec!["if=none".to_string(), format!("id={}", escape(id))];
    match &d.source {
        Source::Empty => {}
        Source::File { path } => {
            let p = escape(&path.to_string_lossy());
            // `proto:` and `/dev/` would be read as a protocol or a device.
            if p.contains(':') || p.starts_with("/dev/") {
                o.push(format!("file.driver=file,file.filename={p}"));
            } else {
                o.push(format!("file={p}"));
            }
        }
        Source::Block { path } => o.push(format!(
            "file.driver=host_device,file.filename={}",
            escape(&path.to_string_lossy())
        )),
        Source::Http {
            url,
            readahead_bytes,
            timeout_seconds,
            sslverify,
        } => {
            let scheme = url
                .split("://")
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let driver = match scheme.as_str() {
                "https" | "ftp" | "ftps" => scheme.as_str(),
                _ => "http",
            };
            o.push(format!("file.driver={driver},file.url={}", escape(url)));
            if let Some(r) = readahead_bytes {
                o.push(format!("file.readahead={r}"));
            }
            if let Some(t) = timeout_seconds {
                o.push(format!("file.timeout={t}"));
            }
            if let Some(v) = sslverify {
                o.push(format!("file.sslverify={}", on_off(*v)));
            }
        }
        Source::Nbd { url } | Source::Network { url, .. } => {
            o.push(format!("file={}", escape(url)))
        }
    }
    if let Some(f) = &d.format {
        o.push(format!("format={}", escape(f)));
    }
    if let Some(r) = d.readonly {
        o.push(format!("readonly={}", on_off(r)));
    }
    if let Some(c) = &d.cache {
        o.push(format!("cache={}", escape(c.as_str())));
    }
    if let Some(direct) = d.cache_direct {
        o.push(format!("cache.direct={}", on_off(direct)));
    }
    if let Some(aio) = &d.aio {
        o.push(format!("aio={}", escape(aio.as_str())));
    }
    o.join(",")
}

fn device_opts(
    d: &Drive,
    id: &str,
    q35: bool,
    controllers: &[Controller],
    ports: &mut HashMap<String, u32>,
) -> Option<String> {
    let cd = d.media == Media::Cdrom;
    let mut next = |bus: &str| {
        let n = ports.entry(bus.to_string()).or_insert(0);
        *n += 1;
        *n - 1
    };
    let ide = if cd { "ide-cd" } else { "ide-hd" };
    let mut dev = match &d.bus {
        Bus::Sata => {
            let ahci = d
                .controller
                .as_deref()
                .filter(|c| {
                    controllers
                        .iter()
                        .any(|x| x.id.as_deref() == Some(c) && x.kind == "ahci")
                })
                .or_else(|| {
                    (!q35)
                        .then(|| controllers.iter().find(|x| x.kind == "ahci")?.id.as_deref())
                        .flatten()
                });
            match ahci {
                Some(c) => format!("{ide},drive={},bus={}.{}", escape(id), escape(c), next(c)),
                None => format!("{ide},drive={},bus=ide.{}", escape(id), next("ide")),
            }
        }
        Bus::Ide if q35 => format!("{ide},drive={},bus=ide.{}", escape(id), next("ide")),
        Bus::Ide => {
            // Secondary channel first, where `-cdrom` puts its drive.
            let k = next("ide");
            format!(
                "{ide},drive={},bus=ide.{}",
                escape(id),
                if k % 4 < 2 { 1 } else { 0 }
            )
        }
        Bus::Scsi => {
            let ctrl = d
                .controller
                .as_deref()
                .filter(|c| {
                    controllers
                        .iter()
                        .any(|x| x.id.as_deref() == Some(c) && is_scsi(&x.kind))
                })
                .or_else(|| controllers.iter().find(|x| is_scsi(&x.kind))?.id.as_deref())
                .unwrap_or("scsi0");
            let model = if cd { "scsi-cd" } else { "scsi-hd" };
            format!("{model},drive={},bus={}.0", escape(id), escape(ctrl))
        }
        Bus::Virtio => {
            let model = d
                .device
                .as_deref()
                .filter(|m| m.starts_with("virtio-blk"))
                .unwrap_or("virtio-blk-pci");
            let mut s = format!("{model},drive={}", escape(id));
            if let Some(t) = &d.iothread {
                s.push_str(&format!(",iothread={}", escape(t)));
            }
            s
        }
        Bus::Usb => format!("usb-storage,drive={},bus=usb.0", escape(id)),
        Bus::None | Bus::Other(_) => return None,
    };
    if let Some(n) = d.boot_order {
        dev.push_str(&format!(",bootindex={n}"));
    }
    Some(dev)
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::qemu::parse_argv;

    pub(crate) fn cdrom(id: &str, bus: Bus, device: &str) -> Drive {
        Drive {
            id: Some(id.into()),
            device: Some(device.into()),
            format: Some("raw".into()),
            readonly: Some(true),
            boot_order: Some(1),
            ..Drive::new(
                Media::Cdrom,
                bus,
                Source::File {
                    path: "/isos/a,b.iso".into(),
                },
            )
        }
    }

    pub(crate) fn def(machine: Option<&str>, drives: Vec<Drive>) -> VmDefinition {
        VmDefinition {
            name: Some("t,1".into()),
            accel: vec![Accel::Kvm, Accel::Tcg],
            machine: machine.map(str::to_string),
            drives,
            memory_bytes: Some(1 << 30),
            ..VmDefinition::new(Origin::Isotune)
        }
    }

    fn round_trip(d: &VmDefinition) {
        let mut argv = vec!["qemu-system-x86_64".to_string()];
        argv.extend(to_argv(d));
        let mut back = parse_argv(&argv, Origin::QemuCmdline);
        back.origin = d.origin.clone();
        assert_eq!(&back, d, "argv: {argv:?}");
    }

    #[test]
    fn round_trips() {
        // IDE on pc with cache modes and aio.
        let mut ide = cdrom("cd0", Bus::Ide, "ide-cd");
        ide.cache = Some(CacheMode::None);
        ide.aio = Some(Aio::Native);
        round_trip(&def(Some("pc"), vec![ide.clone()]));
        ide.cache = Some(CacheMode::Writeback);
        ide.cache_direct = Some(false);
        ide.aio = Some(Aio::IoUring);
        round_trip(&def(None, vec![ide]));

        // SATA: q35's built-in AHCI, and an AHCI controller on pc.
        let sata = cdrom("cd0", Bus::Sata, "ide-cd");
        round_trip(&def(Some("q35"), vec![sata.clone()]));
        let mut on_ahci = sata;
        on_ahci.controller = Some("ahci0".into());
        let mut d = def(Some("pc"), vec![on_ahci]);
        d.controllers.push(Controller {
            id: Some("ahci0".into()),
            kind: "ahci".into(),
            iothread: None,
        });
        round_trip(&d);

        // virtio-scsi with an iothread, plus an HTTP cdrom and a virtio disk.
        let mut scsi = cdrom("cd0", Bus::Scsi, "scsi-cd");
        scsi.controller = Some("scsi0".into());
        scsi.iothread = Some("io0".into());
        scsi.cache_direct = Some(true);
        scsi.aio = Some(Aio::Threads);
        let mut http = cdrom("net", Bus::Scsi, "scsi-cd");
        http.controller = Some("scsi0".into());
        http.iothread = Some("io0".into());
        http.boot_order = None;
        http.source = Source::Http {
            url: "https://example.org/a.iso".into(),
            readahead_bytes: Some(1 << 20),
            timeout_seconds: Some(10),
            sslverify: Some(true),
        };
        let mut disk = cdrom("vda", Bus::Virtio, "virtio-blk-pci");
        disk.media = Media::Disk;
        disk.iothread = Some("io1".into());
        disk.boot_order = Some(2);
        disk.source = Source::Block {
            path: "/dev/vg/x".into(),
        };
        let mut d = def(Some("q35"), vec![scsi, http, disk]);
        d.iothreads = vec!["io0".into(), "io1".into()];
        d.controllers.push(Controller {
            id: Some("scsi0".into()),
            kind: "virtio-scsi".into(),
            iothread: Some("io0".into()),
        });
        d.firmware = Firmware::Uefi {
            code: Some("/usr/share/OVMF/OVMF_CODE_4M.fd".into()),
        };
        d.kernel = Some("/boot/vmlinuz".into());
        d.initrd = Some("/boot/initrd".into());
        round_trip(&d);
    }

    #[test]
    fn implicit_controllers_and_shapes() {
        let mut scsi = cdrom("cd0", Bus::Scsi, "scsi-cd");
        scsi.source = Source::Empty;
        scsi.readonly = None;
        let argv = to_argv(&def(None, vec![scsi, cdrom("s", Bus::Sata, "ide-cd")]));
        let s = argv.join(" ");
        assert!(s.contains("-device virtio-scsi-pci,id=scsi0"), "{s}");
        assert!(s.contains("-device ahci,id=ahci0"), "{s}");
        assert!(s.contains("ide-cd,drive=s,bus=ahci0.0,bootindex=1"), "{s}");
        assert!(s.contains("-drive if=none,id=cd0,format=raw "), "{s}");
        assert!(s.contains("-m 1024M"), "{s}");
        assert!(s.contains("-accel kvm -accel tcg"), "{s}");
        let mut odd = cdrom("x", Bus::None, "none");
        odd.source = Source::File {
            path: "/a:b".into(),
        };
        let s = to_argv(&def(None, vec![odd])).join(" ");
        assert!(s.contains("file.driver=file,file.filename=/a:b"), "{s}");
    }
}
