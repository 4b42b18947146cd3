//! QEMU command lines: a parser from argv (as found in `/proc/PID/cmdline`,
//! a launcher script or libvirt's generated command line) to a
//! [`VmDefinition`], and an emitter from a [`VmDefinition`] back to the
//! storage and machine part of an argv.
//!
//! Parsing is two passes: `argv` walks the options and collects the pieces,
//! `resolve` (with `drive`) ties back ends, front ends, controllers and iothreads together.

mod argv;
mod devices;
mod drive;
mod emit;
mod options;
mod opts;
mod resolve;
mod shell;
mod source;

pub(crate) use argv::firmware_from_bios;
pub use emit::to_argv;
pub use shell::split_cmdline;

use crate::model::{Origin, VmDefinition};

/// Where each option of `argv` starts and ends (`argv[0]`, the binary, is
/// not an option): `-cdrom /a.iso` is one span of two arguments, `-S` one of
/// one. Spans follow the same argument table as [`parse_argv`], so a program
/// editing a command line removes or rewrites whole options.
pub fn option_spans(argv: &[String]) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let name = argv[i]
            .strip_prefix("--")
            .or_else(|| argv[i].strip_prefix('-'))
            .filter(|n| !n.is_empty());
        let len = match name.map(options::takes_arg) {
            Some(Some(true)) => 2,
            Some(None) if argv.get(i + 1).is_some_and(|n| !n.starts_with('-')) => 2,
            _ => 1,
        };
        let end = (i + len).min(argv.len());
        spans.push(i..end);
        i = end;
    }
    spans
}

/// Parses a QEMU argv (`argv[0]` is the binary). Never fails: options it does
/// not know, invalid values and references to nothing become
/// [`VmDefinition::issues`].
pub fn parse_argv(argv: &[String], origin: Origin) -> VmDefinition {
    resolve::resolve(argv::collect(argv, origin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn parse(s: &str) -> VmDefinition {
        let mut argv = vec!["qemu-system-x86_64".to_string()];
        argv.extend(split_cmdline(s).unwrap());
        parse_argv(&argv, Origin::QemuCmdline)
    }

    #[test]
    fn drive_device_controller_iothread_are_tied() {
        let d = parse(
            "-drive if=none,id=cd0,file=/isos/a.iso,format=raw,cache=none,aio=native \
             -device scsi-cd,drive=cd0,bus=scsi0.0,bootindex=1 \
             -device virtio-scsi-pci,id=scsi0,iothread=io0 -object iothread,id=io0 \
             -device e1000,netdev=n0,whatever=1",
        );
        assert!(d.issues.is_empty(), "{:?}", d.issues);
        assert_eq!(d.controllers[0].kind, "virtio-scsi");
        let cd = &d.drives[0];
        assert_eq!(cd.bus, Bus::Scsi);
        assert_eq!(cd.media, Media::Cdrom);
        assert_eq!(cd.controller.as_deref(), Some("scsi0"));
        assert_eq!(cd.iothread.as_deref(), Some("io0"));
        assert_eq!(cd.boot_order, Some(1));
        assert_eq!(cd.cache, Some(CacheMode::None));
        assert_eq!(cd.aio, Some(Aio::Native));
        assert!(cd.is_direct());
        assert_eq!(cd.local_path(), Some(std::path::Path::new("/isos/a.iso")));
    }

    #[test]
    fn blockdev_chains_json_and_dotted() {
        let d = parse(
            r#"-machine pc-q35-8.2,pflash0=fw -blockdev '{"driver":"file","filename":"/usr/share/OVMF/OVMF_CODE_4M.fd","node-name":"fw-storage","read-only":true}' -blockdev '{"node-name":"fw","driver":"raw","file":"fw-storage","read-only":true}'
               -blockdev '{"driver":"file","filename":"/isos/a.iso","node-name":"libvirt-1-storage","auto-read-only":true,"cache":{"direct":true,"no-flush":false},"aio":"io_uring"}'
               -blockdev '{"node-name":"libvirt-1-format","read-only":true,"driver":"raw","file":"libvirt-1-storage"}'
               -device '{"driver":"ide-cd","bus":"ide.0","drive":"libvirt-1-format","id":"sata0-0-0","bootindex":1}'
               -blockdev driver=raw,node-name=net0,read-only=on,file.driver=https,file.url=https://example.org/a.iso,file.readahead=1M,file.timeout=30,file.sslverify=off
               -device virtio-blk-pci,drive=net0"#,
        );
        assert!(d.issues.is_empty(), "{:?}", d.issues);
        assert_eq!(
            d.firmware,
            Firmware::Uefi {
                code: Some("/usr/share/OVMF/OVMF_CODE_4M.fd".into())
            }
        );
        assert_eq!(d.drives.len(), 2);
        let cd = &d.drives[0];
        assert_eq!(cd.id.as_deref(), Some("libvirt-1-format"));
        assert_eq!((cd.bus.clone(), cd.media), (Bus::Sata, Media::Cdrom));
        assert_eq!(cd.format.as_deref(), Some("raw"));
        assert_eq!(
            (cd.cache_direct, cd.aio.clone(), cd.readonly),
            (Some(true), Some(Aio::IoUring), Some(true))
        );
        assert_eq!(
            d.drives[1].source,
            Source::Http {
                url: "https://example.org/a.iso".into(),
                readahead_bytes: Some(1 << 20),
                timeout_seconds: Some(30),
                sslverify: Some(false)
            }
        );
        assert_eq!(d.drives[1].bus, Bus::Virtio);
    }

    /// A Proxmox VE command line (qemu-server 8) as `ps` shows it: `-id` is
    /// Proxmox's own option and must not be reported as unknown.
    #[test]
    fn proxmox_command_line_has_no_issues() {
        let d = parse(
            "-id 100 -name vm100,debug-threads=on -no-shutdown \
             -chardev socket,id=qmp,path=/var/run/qemu-server/100.qmp,server=on,wait=off \
             -mon chardev=qmp,mode=control -pidfile /var/run/qemu-server/100.pid -daemonize \
             -smbios type=1,uuid=7b3c2a40-0a0e-4c3e-9d6f-2f0f7e5f9c11 -smp 2,sockets=1,cores=2,maxcpus=2 \
             -nodefaults -boot menu=on,strict=on,reboot-timeout=1000 -vnc unix:/var/run/qemu-server/100.vnc,password=on \
             -cpu kvm64,enforce,+kvm_pv_eoi,+kvm_pv_unhalt -m 2048 \
             -iscsi initiator-name=iqn.1993-08.org.debian:01:abc \
             -drive file=/var/lib/vz/template/iso/debian.iso,if=none,id=drive-ide2,media=cdrom,aio=io_uring \
             -device ide-cd,bus=ide.1,unit=0,drive=drive-ide2,id=ide2,bootindex=101 \
             -machine type=pc-i440fx-8.1+pve0",
        );
        assert!(d.issues.is_empty(), "{:?}", d.issues);
        assert_eq!(d.name.as_deref(), Some("vm100"));
        assert_eq!(d.drives.len(), 1);
        assert_eq!(d.drives[0].bus, Bus::Ide);
    }

    #[test]
    fn legacy_shorthands_follow_the_machine() {
        let pc = parse("-cdrom /a.iso -hda disk.img -boot d");
        assert_eq!(pc.drives[0].bus, Bus::Ide);
        assert_eq!(pc.drives[0].id.as_deref(), Some("ide1-cd0"));
        assert_eq!(pc.drives[0].readonly, Some(true));
        assert_eq!(pc.drives[0].boot_order, Some(1));
        assert_eq!(pc.drives[1].id.as_deref(), Some("ide0-hd0"));
        assert_eq!(pc.drives[1].format, None);
        let q35 = parse("-M q35 -cdrom /a.iso -drive file=/b.iso,media=cdrom");
        assert_eq!(q35.drives[0].bus, Bus::Sata);
        assert_eq!(q35.drives[0].id.as_deref(), Some("ide2-cd0"));
        assert_eq!(q35.drives[1].id.as_deref(), Some("ide0-cd0"));
        let d = parse("-device ahci,id=ahci0 -drive if=none,id=c,file=/a.iso -device ide-cd,drive=c,bus=ahci0.0");
        assert_eq!(d.drives[0].bus, Bus::Sata);
        assert_eq!(d.drives[0].controller.as_deref(), Some("ahci0"));
        let d = parse("-drive file=/a.iso,if=virtio,readonly=on -drive file=/dev/sr0,if=scsi,media=cdrom -device ide-cd,bus=ide.1");
        assert_eq!(d.drives[0].bus, Bus::Virtio);
        assert!(matches!(d.drives[1].source, Source::Block { .. }));
        assert_eq!(
            (d.drives[1].bus.clone(), d.drives[1].device.as_deref()),
            (Bus::Scsi, Some("scsi-cd"))
        );
        assert_eq!(d.drives[2].source, Source::Empty);
    }

    #[test]
    fn network_drives() {
        let d = parse("-drive file=http://h/a.iso,file.readahead=256k,media=cdrom -drive file=nbd://h:10809/iso,if=virtio -drive file.driver=nbd,file.server.type=unix,file.server.path=/s,if=none,id=n");
        assert!(matches!(
            d.drives[0].source,
            Source::Http {
                readahead_bytes: Some(262144),
                ..
            }
        ));
        assert_eq!(
            d.drives[1].source,
            Source::Nbd {
                url: "nbd://h:10809/iso".into()
            }
        );
        assert_eq!(
            d.drives[2].source,
            Source::Nbd {
                url: "nbd+unix:///?socket=/s".into()
            }
        );
        assert_eq!(d.drives[2].bus, Bus::None);
        assert_eq!(d.issues.len(), 1, "{:?}", d.issues);
        assert_eq!(d.issues[0].kind, IssueKind::Dangling);
    }

    #[test]
    fn myths_become_issues() {
        let d = parse(
            "-enable-kvm -m 2048 -cdrom /a.iso -boot d -smp 2 -enable-dma \
             -drive file=/b.iso,media=cdrom,dmqueue_size=1024,dmblksz=4096,aio=fast,cache=quick \
             -device ide-cd,drive=nope,dma=on -device virtio-blk-pci,drive=x,iothread=io9 -drive if=none,id=x -device",
        );
        assert_eq!(
            d.issue_summary(),
            [
                (IssueKind::Unknown, "-enable-dma", "argument 10"),
                (IssueKind::Invalid, "-device", "argument 19"),
                (IssueKind::Unknown, "dma=on", "-device #1"),
                (IssueKind::Unknown, "dmqueue_size=1024", "-drive #1"),
                (IssueKind::Unknown, "dmblksz=4096", "-drive #1"),
                (IssueKind::Invalid, "cache=quick", "-drive #1"),
                (IssueKind::Invalid, "aio=fast", "-drive #1"),
                (IssueKind::Dangling, "drive=nope", "-device #1"),
                (IssueKind::Dangling, "iothread=io9", "-device #2"),
            ]
        );
        assert_eq!(d.accel, [Accel::Kvm]);
        assert_eq!(d.drives[1].cache, Some(CacheMode::Other("quick".into())));
    }

    #[test]
    fn iothread_on_ide_and_ahci_is_kept_and_reported() {
        let d = parse(
            "-object iothread,id=io0 -drive if=none,id=cd,file=/x.iso,media=cdrom \
             -device ide-cd,drive=cd,iothread=io0",
        );
        let cd = &d.drives[0];
        assert_eq!((cd.bus.clone(), cd.media), (Bus::Ide, Media::Cdrom));
        assert_eq!(cd.iothread.as_deref(), Some("io0"));
        assert_eq!(
            d.issue_summary(),
            [(IssueKind::Unknown, "iothread=io0", "-device #1")]
        );
        assert!(
            d.issues[0].message.contains("'ide-cd.iothread' not found"),
            "{}",
            d.issues[0].message
        );
        let d = parse(
            "-M q35 -object iothread,id=io0 -device ahci,id=ahci0 \
             -drive if=none,id=cd,file=/x.iso -device ide-cd,drive=cd,bus=ahci0.0,iothread=io0",
        );
        assert_eq!(d.drives[0].bus, Bus::Sata);
        assert_eq!(d.drives[0].iothread.as_deref(), Some("io0"));
        assert_eq!(
            d.issue_summary(),
            [(IssueKind::Unknown, "iothread=io0", "-device #2")]
        );
        // scsi-cd keeps its controller's iothread, not its own.
        let d = parse(
            "-object iothread,id=io0 -device virtio-scsi-pci,id=scsi0 \
             -drive if=none,id=cd,file=/x.iso -device scsi-cd,drive=cd,bus=scsi0.0",
        );
        assert_eq!(d.drives[0].iothread, None);
    }

    #[test]
    fn accel_defaults_follow_the_binary() {
        let argv: Vec<String> = ["/usr/libexec/qemu-kvm", "-m", "2G", "-cdrom", "/x.iso"]
            .map(String::from)
            .into();
        assert_eq!(parse_argv(&argv, Origin::QemuCmdline).accel, [Accel::Kvm]);
        assert!(parse("-m 2G -cdrom /x.iso").accel.is_empty());
        assert_eq!(
            parse("-accel tcg,thread=multi -accel kvm").accel,
            [Accel::Tcg, Accel::Kvm]
        );
    }

    #[test]
    fn odd_input_does_not_panic() {
        for s in [
            "",
            "-",
            "--",
            "-drive ,,,",
            "-blockdev {}",
            "-device ,",
            "-M",
            "-m x",
            "-drive if=none,id=a -device ide-cd,drive=a -device ide-cd,drive=a",
        ] {
            let _ = parse(s);
        }
        let d = parse_argv(&[], Origin::QemuCmdline);
        assert!(d.drives.is_empty());
    }
}

#[cfg(test)]
mod hostile {
    use super::*;

    /// Regression (hostile-input issue): a huge argv and huge option values
    /// parse in one pass. Tying 30,000 devices to their drives, numbering
    /// 30,000 drives without an id and naming 30,000 `-drive #N` each
    /// scanned what came before (80,000 pairs took 30 s, 20,000 took
    /// 0.45 s); now 80,000 take 1.5 s in a debug build.
    #[test]
    fn huge_argv_and_values_parse() {
        let n = 30_000;
        let mut argv = vec!["qemu-system-x86_64".to_string()];
        for k in 0..n {
            argv.push("-drive".into());
            argv.push(format!("if=none,id=d{k},file=/isos/{k}.iso,media=cdrom"));
            argv.push("-device".into());
            argv.push(format!("ide-cd,drive=d{k}"));
            argv.push("-drive".into());
            argv.push(format!("file=/isos/auto{k}.iso,media=cdrom,if=scsi"));
        }
        argv.push("-drive".into());
        argv.push(format!("file=/{}.iso,aio=native", "x".repeat(4 << 20)));
        let d = parse_argv(&argv, Origin::QemuCmdline);
        assert_eq!(d.drives.len(), 2 * n + 1);
        assert_eq!(d.drives[1].id.as_deref(), Some("scsi0-cd0"));
        assert_eq!(
            d.drives[2 * n - 1].id.as_deref(),
            Some(format!("scsi{}-cd{}", (n - 1) / 7, (n - 1) % 7).as_str())
        );
        assert!(d.drives.iter().all(|x| x.bus != crate::model::Bus::None));
    }
}
