//! libvirt domain XML (`/etc/libvirt/qemu/*.xml`, `virsh dumpxml`,
//! `virt-install --print-xml`) to a [`VmDefinition`]: domain type, name,
//! memory, `<os>` (machine, firmware, direct kernel boot, boot devices),
//! iothreads, controllers and disks (`disk`).
//!
//! libvirt XML is large; elements this parser does not use are ignored,
//! except in `<disk>`, where elements and `<driver>` attributes libvirt does
//! not know (`<driver dmqueue_size='1024'/>`) become [`ConfigIssue`]s of kind
//! `Unknown` (libvirt drops them silently). Invalid values (`cache="fast"`)
//! become [`ConfigIssue`]s too. `<qemu:arg>`
//! pass-through arguments are parsed as a QEMU command line and only their
//! issues are kept (an `-enable-dma` smuggled in there is still a finding).

mod disk;
pub mod limits;

use std::path::{Path, PathBuf};

use roxmltree::{Document, Node};

use crate::error::{Error, ErrorKind};
use crate::model::{Accel, ConfigIssue, Firmware, IssueKind, Media, Origin, VmDefinition};

const QEMU_NS: &str = "http://libvirt.org/schemas/domain/qemu/1.0";

/// Parses one libvirt domain XML document.
///
/// When `text` holds several documents one after the other (what
/// `virt-install --print-xml` prints for an install: the install-time domain,
/// then the final one), the first is parsed: it is the one that boots the
/// install media.
pub fn parse_domain_xml(text: &str, origin: Origin) -> Result<VmDefinition, Error> {
    let path = match &origin {
        Origin::LibvirtXml { path } if path != Path::new("-") => Some(path.clone()),
        _ => None,
    };
    let located = |e: Error| match &path {
        Some(p) => e.with_path(p),
        None => e,
    };
    limits::check(text).map_err(located)?;
    let doc = match Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => match first_document(text).and_then(|t| Document::parse(t).ok()) {
            Some(doc) => doc,
            None => {
                let pos = e.pos();
                return Err(located(
                    Error::new(ErrorKind::MalformedXml {
                        line: pos.row,
                        column: pos.col,
                    })
                    .with_source(e),
                ));
            }
        },
    };
    let root = doc.root_element();
    if root.tag_name().name() != "domain" {
        return Err(located(Error::new(ErrorKind::NotADomain {
            root: root.tag_name().name().to_string(),
        })));
    }
    Ok(domain(root, origin))
}

/// The text up to the end of the first `</domain>` when more follows it.
fn first_document(text: &str) -> Option<&str> {
    let end = text.find("</domain>")? + "</domain>".len();
    (!text[end..].trim().is_empty()).then(|| &text[..end])
}

/// Loads a domain XML file, or every `*.xml` file of a directory (sorted by
/// name), each with its own result so one malformed file does not hide the
/// others. Fails only when `path` itself cannot be read.
#[allow(clippy::type_complexity)] // the documented contract
pub fn load_xml(path: &Path) -> Result<Vec<(PathBuf, Result<VmDefinition, Error>)>, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let files = if meta.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
            let p = entry.map_err(|e| Error::io(path, e))?.path();
            if p.extension().is_some_and(|x| x == "xml") && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    Ok(files
        .into_iter()
        .map(|p| {
            let result = read_xml(&p)
                .and_then(|text| parse_domain_xml(&text, Origin::LibvirtXml { path: p.clone() }));
            (p, result)
        })
        .collect())
}

/// The text of one XML file, read through `isotune-input`: a FIFO or socket
/// is refused without blocking, and a file over
/// [`caps::TEXT_FILE_BYTES`](isotune_input::caps::TEXT_FILE_BYTES) is refused
/// before it is read.
fn read_xml(path: &Path) -> Result<String, Error> {
    use isotune_input::{caps, read_to_string_capped, InputError};
    read_to_string_capped(path, caps::TEXT_FILE_BYTES, "a libvirt XML file").map_err(|e| match e {
        InputError::Io { source, .. } => Error::io(path, source),
        InputError::WrongKind { kind, expected, .. } => Error::new(ErrorKind::Refused {
            reason: format!("is {kind}, expected {expected}"),
        })
        .with_path(path),
        InputError::TooLarge {
            cap_bytes, what, ..
        } => Error::new(ErrorKind::Refused {
            reason: format!("larger than {cap_bytes} bytes, the limit for {what}"),
        })
        .with_path(path),
        other => Error::new(ErrorKind::Refused {
            reason: other.to_string(),
        })
        .with_path(path),
    })
}

pub(crate) fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

pub(crate) fn children<'a, 'i: 'a>(
    n: Node<'a, 'i>,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn domain(root: Node<'_, '_>, origin: Origin) -> VmDefinition {
    let mut def = VmDefinition {
        name: child(root, "name")
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string()),
        domain_type: root.attribute("type").map(str::to_string),
        ..VmDefinition::new(origin)
    };
    match def.domain_type.as_deref() {
        Some("kvm") => def.accel.push(Accel::Kvm),
        Some("qemu") => def.accel.push(Accel::Tcg),
        Some(t @ ("hvf" | "whpx" | "nvmm")) => def.accel.push(Accel::Other(t.to_string())),
        _ => {}
    }
    if let Some(m) = child(root, "memory") {
        let unit = m.attribute("unit").unwrap_or("KiB");
        let value = m.text().unwrap_or_default().trim();
        match (value.parse::<u64>().ok(), unit_bytes(unit)) {
            (Some(v), Some(u)) => def.memory_bytes = v.checked_mul(u),
            _ => def.issues.push(ConfigIssue::new(
                IssueKind::Invalid,
                format!("<memory unit=\"{unit}\">{value}</memory>"),
                "<memory>",
                "The memory size does not parse",
            )),
        }
    }
    let mut boot_devs = Vec::new();
    if let Some(os) = child(root, "os") {
        os_element(os, &mut def, &mut boot_devs);
    }
    iothreads(root, &mut def);
    if let Some(devices) = child(root, "devices") {
        disk::devices(devices, &mut def);
    }
    def.boot_devices = boot_devs.iter().map(|d| d.to_string()).collect();
    if !def.drives.iter().any(|d| d.boot_order.is_some()) {
        let mut n = 1;
        for dev in boot_devs {
            let media = match dev {
                "cdrom" => Media::Cdrom,
                "hd" => Media::Disk,
                _ => continue,
            };
            if let Some(d) = def
                .drives
                .iter_mut()
                .find(|d| d.media == media && d.boot_order.is_none())
            {
                d.boot_order = Some(n);
                n += 1;
            }
        }
    }
    qemu_commandline(root, &mut def);
    def
}

fn unit_bytes(unit: &str) -> Option<u64> {
    Some(match unit {
        "b" | "bytes" => 1,
        "KB" => 1000,
        "k" | "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "M" | "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "G" | "GiB" => 1 << 30,
        "TB" => 1_000_000_000_000,
        "T" | "TiB" => 1 << 40,
        "PB" => 1_000_000_000_000_000,
        "P" | "PiB" => 1 << 50,
        "EB" => 1_000_000_000_000_000_000,
        "E" | "EiB" => 1 << 60,
        _ => return None,
    })
}

fn os_element<'a>(os: Node<'a, '_>, def: &mut VmDefinition, boot_devs: &mut Vec<&'a str>) {
    if let Some(t) = child(os, "type") {
        def.machine = t.attribute("machine").map(str::to_string);
    }
    let path_of = |name: &str| {
        child(os, name)
            .and_then(|n| n.text())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(PathBuf::from)
    };
    def.kernel = path_of("kernel");
    def.initrd = path_of("initrd");
    let loader = child(os, "loader");
    let loader_path = path_of("loader");
    def.firmware = match (
        os.attribute("firmware"),
        loader.and_then(|l| l.attribute("type")),
    ) {
        (Some("efi"), _) | (_, Some("pflash")) => Firmware::Uefi { code: loader_path },
        (Some("bios"), _) => Firmware::Bios { path: loader_path },
        _ => match loader_path {
            Some(p) => crate::qemu::firmware_from_bios(&p.to_string_lossy()),
            None => Firmware::Default,
        },
    };
    boot_devs.extend(children(os, "boot").filter_map(|b| b.attribute("dev")));
}

/// `<iothreads>N</iothreads>` and `<iothreadids>`: the listed ids, then the
/// smallest unused ones up to N, as libvirt numbers them.
fn iothreads(root: Node<'_, '_>, def: &mut VmDefinition) {
    let mut ids: Vec<String> = child(root, "iothreadids")
        .map(|n| {
            children(n, "iothread")
                .filter_map(|t| t.attribute("id"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(n) = child(root, "iothreads") {
        let text = n.text().unwrap_or_default().trim();
        match text.parse::<u32>() {
            Ok(count) => {
                let mut next = 1u32;
                while ids.len() < count.min(4096) as usize {
                    if !ids.iter().any(|i| *i == next.to_string()) {
                        ids.push(next.to_string());
                    }
                    next += 1;
                }
            }
            Err(_) => def.issues.push(ConfigIssue::new(
                IssueKind::Invalid,
                format!("<iothreads>{text}</iothreads>"),
                "<iothreads>",
                "The iothread count is not a number",
            )),
        }
    }
    def.iothreads = ids;
}

fn qemu_commandline(root: Node<'_, '_>, def: &mut VmDefinition) {
    let Some(cmd) = root.children().find(|c| {
        c.is_element()
            && c.tag_name().name() == "commandline"
            && c.tag_name().namespace() == Some(QEMU_NS)
    }) else {
        return;
    };
    let mut argv = vec!["qemu".to_string()];
    argv.extend(
        cmd.children()
            .filter(|c| c.is_element() && c.tag_name().name() == "arg")
            .filter_map(|a| a.attribute("value"))
            .map(str::to_string),
    );
    let extra = crate::qemu::parse_argv(&argv, def.origin.clone());
    // Dangling references are expected: the rest of the VM is not in there.
    let kept = extra
        .issues
        .into_iter()
        .filter(|i| i.kind != IssueKind::Dangling);
    def.issues.extend(kept.map(|mut i| {
        i.context = format!("<qemu:commandline> {}", i.context);
        i
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn origin() -> Origin {
        Origin::LibvirtXml {
            path: "/etc/libvirt/qemu/t.xml".into(),
        }
    }

    const FULL: &str = r#"<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>win</name>
  <memory unit='GiB'>4</memory>
  <iothreads>2</iothreads>
  <iothreadids><iothread id='7'/></iothreadids>
  <os firmware='efi'>
    <type arch='x86_64' machine='pc-q35-8.2'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
    <boot dev='hd'/>
  </os>
  <devices>
    <controller type='scsi' index='0' model='virtio-scsi'><driver iothread='7'/></controller>
    <controller type='sata' index='0'/>
    <controller type='usb' model='qemu-xhci'/>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw' cache='none' io='native'/>
      <source file='/isos/a.iso'/>
      <target dev='sda' bus='scsi'/>
      <boot order='1'/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
    </disk>
    <disk type='network' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source protocol='https' name='/isos/b.iso' query='x=1'>
        <host name='example.org' port='443'/>
        <ssl verify='no'/><readahead size='65536'/><timeout seconds='10'/>
      </source>
      <target dev='sdb' bus='sata'/>
    </disk>
    <disk type='network' device='disk'>
      <source protocol='nbd' name='iso'><host transport='unix' socket='/run/n.sock'/></source>
      <driver name='qemu' type='raw' iothread='1' cache='fast'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='block' device='disk'><source dev='/dev/vg/x'/><target dev='hda'/></disk>
    <fancy-new-element/>
  </devices>
  <qemu:commandline><qemu:arg value='-enable-dma'/></qemu:commandline>
</domain>"#;

    #[test]
    fn full_domain() {
        let d = parse_domain_xml(FULL, origin()).unwrap();
        assert_eq!(d.name.as_deref(), Some("win"));
        assert_eq!(d.accel, [Accel::Kvm]);
        assert_eq!(d.memory_bytes, Some(4 << 30));
        assert_eq!(d.iothreads, ["7", "1"]);
        assert_eq!(d.machine.as_deref(), Some("pc-q35-8.2"));
        assert_eq!(
            d.firmware,
            Firmware::Uefi {
                code: Some("/usr/share/OVMF/OVMF_CODE_4M.fd".into())
            }
        );
        assert_eq!(d.controllers.len(), 2);
        assert_eq!(
            d.controllers[0],
            Controller {
                id: Some("scsi0".into()),
                kind: "virtio-scsi".into(),
                iothread: Some("7".into())
            }
        );
        assert_eq!(d.controllers[1].kind, "ahci");
        let [cd, net, nbd, blk] = &d.drives[..] else {
            panic!("{:?}", d.drives)
        };
        assert_eq!(
            (cd.bus.clone(), cd.media, cd.readonly),
            (Bus::Scsi, Media::Cdrom, Some(true))
        );
        assert_eq!(cd.controller.as_deref(), Some("scsi0"));
        assert_eq!(cd.iothread.as_deref(), Some("7"));
        assert_eq!(
            (cd.cache.clone(), cd.aio.clone(), cd.boot_order),
            (Some(CacheMode::None), Some(Aio::Native), Some(1))
        );
        assert_eq!(net.bus, Bus::Sata);
        assert_eq!(net.controller.as_deref(), Some("sata0"));
        assert_eq!(
            net.source,
            Source::Http {
                url: "https://example.org:443/isos/b.iso?x=1".into(),
                readahead_bytes: Some(65536),
                timeout_seconds: Some(10),
                sslverify: Some(false)
            }
        );
        assert_eq!(
            nbd.source,
            Source::Nbd {
                url: "nbd+unix:///iso?socket=/run/n.sock".into()
            }
        );
        assert_eq!(nbd.iothread.as_deref(), Some("1"));
        assert_eq!(nbd.cache, Some(CacheMode::Other("fast".into())));
        assert_eq!((blk.bus.clone(), blk.boot_order), (Bus::Ide, None));
        assert!(matches!(blk.source, Source::Block { .. }));
        assert_eq!(
            d.issue_summary(),
            [
                (IssueKind::Invalid, "cache=\"fast\"", "<disk> #3"),
                (
                    IssueKind::Unknown,
                    "-enable-dma",
                    "<qemu:commandline> argument 1"
                ),
            ]
        );
    }

    #[test]
    fn boot_dev_and_defaults() {
        let xml = "<domain type='qemu'><name>x</name><memory>1024</memory><os><type>hvm</type><boot dev='cdrom'/><boot dev='hd'/></os>
          <devices><disk type='file' device='disk'><source file='/d.img'/><target dev='vda' bus='virtio'/></disk>
          <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk></devices></domain>";
        let d = parse_domain_xml(xml, Origin::LibvirtXml { path: "-".into() }).unwrap();
        assert_eq!(d.accel, [Accel::Tcg]);
        assert_eq!(d.memory_bytes, Some(1 << 20));
        assert_eq!(d.drives[1].source, Source::Empty);
        assert_eq!(
            (d.drives[0].boot_order, d.drives[1].boot_order),
            (Some(2), Some(1))
        );
        assert!(d.issues.is_empty());
    }

    #[test]
    fn cdrom_tray_state_from_the_target() {
        let xml = "<domain type='kvm'><devices>
          <disk type='file' device='cdrom'><target dev='hdc' bus='ide' tray='open'/></disk>
          <disk type='file' device='cdrom'><source file='/a.iso'/><target dev='hdd' bus='ide'/></disk>
          <disk type='file' device='cdrom'><target dev='sda' bus='sata' tray='closed'/></disk>
          <disk type='file' device='cdrom'><target dev='sdb' bus='sata' tray='ajar'/></disk>
          </devices></domain>";
        let d = parse_domain_xml(xml, origin()).unwrap();
        let trays: Vec<_> = d.drives.iter().map(|x| x.tray_open).collect();
        assert_eq!(trays, [Some(true), None, Some(false), None]);
        assert_eq!(d.drives[0].source, Source::Empty);
        assert_eq!(d.issues.len(), 1, "{:?}", d.issues);
        assert!(
            format!("{:?}", d.issues[0]).contains("tray=\\\"ajar\\\""),
            "{:?}",
            d.issues
        );
    }

    #[test]
    fn iothread_on_ide_or_sata_is_kept() {
        let xml = "<domain type='kvm'><iothreads>1</iothreads><devices>
          <disk type='file' device='cdrom'>
            <driver name='qemu' type='raw' iothread='1'/>
            <source file='/isos/a.iso'/><target dev='hdc' bus='ide'/><readonly/>
          </disk>
          <disk type='file' device='cdrom'>
            <driver name='qemu' type='raw' iothread='1'/>
            <source file='/isos/b.iso'/><target dev='sdb' bus='sata'/>
          </disk></devices></domain>";
        let d = parse_domain_xml(xml, origin()).unwrap();
        assert_eq!(
            (d.drives[0].bus.clone(), d.drives[0].iothread.as_deref()),
            (Bus::Ide, Some("1"))
        );
        assert_eq!(
            (d.drives[1].bus.clone(), d.drives[1].iothread.as_deref()),
            (Bus::Sata, Some("1"))
        );
        assert!(d.issues.is_empty(), "{:?}", d.issues);
    }

    #[test]
    fn unknown_driver_attributes_and_disk_elements() {
        let xml = "<domain type='kvm'><devices>
          <disk type='file' device='disk'>
            <driver name='qemu' type='raw' cache='none' io='native' discard='unmap'
                    detect_zeroes='on' queues='4' queue_size='256'/>
            <source file='/d.img'/><target dev='vda' bus='virtio'/>
            <serial>x</serial><blockio logical_block_size='512'/><iotune/>
          </disk>
          <disk type='file' device='cdrom'>
            <driver name='qemu' type='raw' dmqueue_size='1024' dmblksz='4096'/>
            <source file='/isos/a.iso'/><target dev='sda' bus='sata'/><readonly/>
            <dmqueue_size>1024</dmqueue_size>
            <enable-dma/>
          </disk></devices></domain>";
        let d = parse_domain_xml(xml, origin()).unwrap();
        assert_eq!(
            d.issue_summary(),
            [
                (IssueKind::Unknown, "<dmqueue_size>", "<disk> #2"),
                (IssueKind::Unknown, "<enable-dma>", "<disk> #2"),
                (IssueKind::Unknown, "dmqueue_size='1024'", "<disk> #2"),
                (IssueKind::Unknown, "dmblksz='4096'", "<disk> #2"),
            ]
        );
        // The rest of the disk is still read.
        assert_eq!(d.drives[1].format.as_deref(), Some("raw"));
        assert_eq!(d.drives[1].bus, Bus::Sata);
    }

    #[test]
    fn non_ascii_target_name_does_not_panic() {
        let xml = "<domain><devices><disk type='file' device='cdrom'>\
                   <target dev='\u{20ac}x'/></disk></devices></domain>";
        let d = parse_domain_xml(xml, origin()).unwrap();
        assert_eq!(d.drives[0].bus, Bus::Other(String::new()));
    }

    #[test]
    fn malformed_and_foreign_documents() {
        let e = parse_domain_xml("<domain>\n  <name>x</nam>\n</domain>", origin()).unwrap_err();
        assert!(
            matches!(e.kind, ErrorKind::MalformedXml { line: 2, .. }),
            "{e}"
        );
        assert!(e.to_string().ends_with("in /etc/libvirt/qemu/t.xml"), "{e}");
        let e = parse_domain_xml("<network/>", Origin::QemuCmdline).unwrap_err();
        assert_eq!(e.to_string(), "The root element is <network>, not <domain>");
        // Two documents (virt-install --print-xml): the first is used.
        let two = "<domain><name>a</name></domain>\n<domain><name>b</name></domain>\n";
        assert_eq!(
            parse_domain_xml(two, origin()).unwrap().name.as_deref(),
            Some("a")
        );
    }

    #[test]
    fn loads_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.xml"), "<domain><name>b</name></domain>").unwrap();
        std::fs::write(dir.path().join("a.xml"), "<domain><name>a").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let all = load_xml(dir.path()).unwrap();
        assert_eq!(all.len(), 2);
        assert!(all[0].0.ends_with("a.xml") && all[0].1.is_err());
        assert_eq!(all[1].1.as_ref().unwrap().name.as_deref(), Some("b"));
        let one = load_xml(&dir.path().join("b.xml")).unwrap();
        assert_eq!(one.len(), 1);
        assert!(load_xml(&dir.path().join("missing")).is_err());
    }
}
