//! Literal facts for tests: [`healthy`] (NVMe, KVM, a virtio-scsi cdrom,
//! raw, read-only) and, for each rule, an [`example`] that makes it fire.

use std::path::PathBuf;

use isotune_host::{
    AccelFacts, BlockLayer, DevNum, DeviceClass, FileFacts, HostFacts, LayerKind, MemoryFacts,
    MountFacts, NetworkFs, NetworkFsKind, Sysctl,
};
use isotune_vmconfig::{
    Accel, Aio, Bus, CacheMode, ConfigIssue, Controller, Drive, Firmware, IssueKind, Media, Origin,
    Source, VmDefinition,
};

use crate::facts::{Facts, ImageFacts, ImplantedMd5};

pub(crate) const GIB: u64 = 1 << 30;
pub(crate) const ISO: &str = "/isos/x.iso";

pub(crate) fn host() -> HostFacts {
    HostFacts {
        memory: Some(MemoryFacts {
            total_bytes: 32 * GIB,
            available_bytes: 16 * GIB,
        }),
        accel: AccelFacts {
            kvm_device: true,
            kvm_accessible: Some(true),
            vmx: true,
            svm: false,
            hypervisor: false,
            kvm_modules: vec!["kvm".into(), "kvm_intel".into()],
            nested: Some(false),
            pvm: false,
        },
        sysctls: vec![Sysctl {
            name: "net.core.somaxconn".into(),
            value: "4096".into(),
        }],
        qemu_processes: vec![],
        nbd_servers: vec![],
        warnings: vec![],
    }
}

pub(crate) fn layer(name: &str, kind: LayerKind, class: DeviceClass) -> BlockLayer {
    BlockLayer {
        name: name.into(),
        dev: DevNum {
            major: 259,
            minor: 0,
        },
        kind,
        class,
        below: vec![],
        rotational: Some(false),
        scheduler: Some("none".into()),
        nr_requests: Some(1023),
        read_ahead_kb: Some(128),
        max_sectors_kb: Some(512),
        logical_block_bytes: Some(512),
        physical_block_bytes: Some(512),
        model: None,
    }
}

pub(crate) fn file() -> FileFacts {
    let mut part = layer("nvme0n1p2", LayerKind::Partition, DeviceClass::Stacked);
    part.below = vec!["nvme0n1".into()];
    let mut disk = layer("nvme0n1", LayerKind::Disk, DeviceClass::Nvme);
    disk.model = Some("Samsung SSD 980 PRO 1TB".into());
    FileFacts {
        path: PathBuf::from(ISO),
        size_bytes: 4 * GIB,
        device: Some(DevNum {
            major: 259,
            minor: 2,
        }),
        mount: Some(MountFacts {
            mount_point: PathBuf::from("/"),
            fstype: "ext4".into(),
            source: "/dev/nvme0n1p2".into(),
            mount_options: vec!["rw".into(), "relatime".into()],
            super_options: vec!["rw".into()],
            network: None,
        }),
        storage: vec![part, disk],
        resident_bytes: Some(0),
        warnings: vec![],
        block_device: false,
    }
}

pub(crate) fn image() -> ImageFacts {
    ImageFacts {
        path: PathBuf::from(ISO),
        file_bytes: 4 * GIB,
        volume_bytes: Some(4 * GIB),
        implanted_md5: Some(ImplantedMd5 {
            matches: true,
            expected: "0123456789abcdef0123456789abcdef".into(),
            actual: "0123456789abcdef0123456789abcdef".into(),
            failed_fragment: None,
        }),
        ..ImageFacts::default()
    }
}

pub(crate) fn cdrom() -> Drive {
    Drive {
        id: Some("sda".into()),
        device: Some("scsi-cd".into()),
        controller: Some("scsi0".into()),
        format: Some("raw".into()),
        readonly: Some(true),
        boot_order: Some(1),
        ..Drive::new(
            Media::Cdrom,
            Bus::Scsi,
            Source::File {
                path: PathBuf::from(ISO),
            },
        )
    }
}

pub(crate) fn disk() -> Drive {
    Drive {
        id: Some("vda".into()),
        device: Some("virtio-blk-pci".into()),
        format: Some("qcow2".into()),
        cache: Some(CacheMode::None),
        aio: Some(Aio::Native),
        iothread: Some("1".into()),
        boot_order: Some(2),
        ..Drive::new(
            Media::Disk,
            Bus::Virtio,
            Source::File {
                path: PathBuf::from("/var/lib/libvirt/images/web1.qcow2"),
            },
        )
    }
}

pub(crate) fn vm() -> VmDefinition {
    VmDefinition {
        name: Some("web1".into()),
        domain_type: Some("kvm".into()),
        accel: vec![Accel::Kvm],
        machine: Some("pc-q35-8.2".into()),
        firmware: Firmware::Uefi { code: None },
        drives: vec![cdrom(), disk()],
        controllers: vec![Controller {
            id: Some("scsi0".into()),
            kind: "virtio-scsi".into(),
            iothread: Some("1".into()),
        }],
        iothreads: vec!["1".into()],
        memory_bytes: Some(4 * GIB),
        ..VmDefinition::new(Origin::LibvirtXml {
            path: PathBuf::from("/etc/libvirt/qemu/web1.xml"),
        })
    }
}

/// A QEMU command line VM: `-name cli1`, KVM, the same drives.
pub(crate) fn qemu_vm() -> VmDefinition {
    VmDefinition {
        name: Some("cli1".into()),
        origin: Origin::QemuCmdline,
        domain_type: None,
        ..vm()
    }
}

/// Nothing to complain about.
pub(crate) fn healthy() -> Facts {
    Facts {
        host: Some(host()),
        files: vec![file()],
        images: vec![image()],
        vms: vec![vm()],
        ..Facts::default()
    }
}

fn with_vm(edit: impl FnOnce(&mut VmDefinition)) -> Facts {
    let mut f = healthy();
    edit(&mut f.vms[0]);
    f
}

fn issue(kind: IssueKind, option: &str) -> ConfigIssue {
    ConfigIssue {
        kind,
        option: option.into(),
        context: "argv".into(),
        message: "not a QEMU option".into(),
    }
}

/// Facts that make the rule `id` fire (`None`: no example written).
pub(crate) fn example(id: &str) -> Option<Facts> {
    let mut f = healthy();
    match id {
        "image.truncated" => f.images[0].volume_bytes = Some(4 * GIB + (1 << 20)),
        "image.md5-mismatch" => {
            let md5 = f.images[0].implanted_md5.as_mut()?;
            md5.matches = false;
            md5.actual = "fedcba9876543210fedcba9876543210".into();
            md5.failed_fragment = Some(3);
        }
        "cdrom.ide-bus" => {
            return Some(with_vm(|vm| {
                vm.machine = Some("pc-i440fx-8.2".into());
                let d = &mut vm.drives[0];
                d.id = Some("hdc".into());
                d.bus = Bus::Ide;
                d.device = Some("ide-cd".into());
                d.controller = None;
            }))
        }
        "drive.format-not-raw" => {
            return Some(with_vm(|vm| vm.drives[0].format = Some("qcow2".into())))
        }
        "drive.not-readonly" => {
            return Some(with_vm(|vm| {
                let d = &mut vm.drives[0];
                d.media = Media::Disk;
                d.id = Some("vdb".into());
                d.bus = Bus::Virtio;
                d.device = Some("virtio-blk-pci".into());
                d.readonly = None;
            }))
        }
        "drive.aio-native-needs-direct" => return Some(with_vm(|vm| vm.drives[1].cache = None)),
        "drive.iothread-ignored" => {
            return Some(with_vm(|vm| {
                let d = &mut vm.drives[0];
                d.bus = Bus::Sata;
                d.iothread = Some("1".into());
            }))
        }
        "drive.dangling-reference" => {
            return Some(with_vm(|vm| {
                vm.issues.push(issue(IssueKind::Dangling, "iothread=io9"))
            }))
        }
        "myth.nonexistent-option" => {
            f.vms = vec![qemu_vm()];
            f.vms[0]
                .issues
                .push(issue(IssueKind::Unknown, "-enable-dma"));
        }
        "config.unknown-option" => {
            f.vms = vec![qemu_vm()];
            f.vms[0]
                .issues
                .push(issue(IssueKind::Unknown, "-cdrom-turbo"));
        }
        "accel.no-kvm" => {
            return Some(with_vm(|vm| {
                vm.domain_type = Some("qemu".into());
                vm.accel = vec![Accel::Tcg];
            }))
        }
        "accel.nested-pvm" => {
            let a = &mut f.host.as_mut()?.accel;
            a.pvm = true;
            a.hypervisor = true;
            a.kvm_modules = vec!["kvm".into(), "kvm_pvm".into()];
        }
        "fs.network" => {
            let file = &mut f.files[0];
            file.storage.clear();
            file.mount = Some(MountFacts {
                mount_point: PathBuf::from("/isos"),
                fstype: "nfs4".into(),
                source: "nas:/export/isos".into(),
                mount_options: vec!["ro".into()],
                super_options: vec!["vers=4.2".into(), "rsize=131072".into()],
                network: Some(NetworkFs {
                    kind: NetworkFsKind::Nfs,
                    server: Some("nas".into()),
                    vers: Some("4.2".into()),
                    rsize_bytes: Some(131_072),
                    nconnect: None,
                    actimeo_seconds: None,
                    wsize_bytes: Some(131_072),
                    noac: false,
                    cache: None,
                }),
            });
        }
        "cache.iso-exceeds-memory" => {
            f.host.as_mut()?.memory = Some(MemoryFacts {
                total_bytes: 4 * GIB,
                available_bytes: 2 * GIB,
            });
        }
        "storage.rotational" => {
            let disk = &mut f.files[0].storage[1];
            disk.name = "sda".into();
            disk.class = DeviceClass::Hdd;
            disk.rotational = Some(true);
            disk.scheduler = Some("mq-deadline".into());
            disk.model = Some("ST4000DM004-2CV1".into());
            f.files[0].storage[0].name = "sda2".into();
            f.files[0].storage[0].below = vec!["sda".into()];
        }
        "storage.low-readahead" => {
            for l in &mut f.files[0].storage {
                l.read_ahead_kb = Some(16);
            }
        }
        "net.curl-readahead" => {
            return Some(with_vm(|vm| {
                vm.drives[0].source = Source::Http {
                    url: "https://mirror.example.org/isos/x.iso".into(),
                    readahead_bytes: None,
                    timeout_seconds: None,
                    sslverify: None,
                };
            }))
        }
        "net.curl-timeout" | "net.curl-sslverify-off" => {
            return Some(with_vm(|vm| {
                vm.drives[0].source = Source::Http {
                    url: "https://mirror.example.org/isos/x.iso".into(),
                    readahead_bytes: Some(1 << 20),
                    timeout_seconds: (id == "net.curl-timeout").then_some(2),
                    sslverify: (id == "net.curl-sslverify-off").then_some(false),
                };
            }))
        }
        "net.http-redirect" | "net.http-no-ranges" | "net.probe-failed" => {
            let url = "https://mirror.example.org/isos/x.iso";
            f.vms[0].drives[0].source = Source::Http {
                url: url.into(),
                readahead_bytes: Some(1 << 20),
                timeout_seconds: None,
                sslverify: None,
            };
            let mut p = crate::facts::NetProbe {
                source: url.into(),
                kind: Some(crate::facts::ProbeKind::Http),
                server: "mirror.example.org:443".into(),
                connect_ns: Some(2_000_000),
                rtt_ns: Some(2_000_000),
                read_bytes: 1 << 20,
                read_ns: Some(20_000_000),
                ranges: Some(true),
                size_bytes: Some(4 * GIB),
                ..crate::facts::NetProbe::default()
            };
            match id {
                "net.http-redirect" => {
                    p.redirects = 1;
                    p.final_url = Some("https://cdn.example.org/real/x.iso".into());
                }
                "net.http-no-ranges" => {
                    p.ranges = Some(false);
                    p.error = Some(format!("{url}: the server does not serve byte ranges"));
                }
                _ => {
                    p = crate::facts::NetProbe {
                        error: Some(format!("{url}: connect: connection refused")),
                        ..crate::facts::NetProbe {
                            source: p.source,
                            kind: p.kind,
                            server: p.server,
                            ..crate::facts::NetProbe::default()
                        }
                    };
                }
            }
            f.probes.push(p);
        }
        "net.nfs-vers3" | "net.nfs-attr-cache" => {
            let mut nfs = example("fs.network")?;
            let net = nfs.files[0].mount.as_mut()?.network.as_mut()?;
            // Mounted well otherwise, so only this rule's problem is left.
            net.rsize_bytes = Some(1 << 20);
            net.nconnect = Some(4);
            if id == "net.nfs-vers3" {
                net.vers = Some("3".into());
            } else {
                net.noac = true;
                net.actimeo_seconds = Some(0);
            }
            return Some(nfs);
        }
        "net.nbd-single-client" | "net.nbd-not-persistent" => {
            // Two VMs on one default qemu-nbd (one client, not persistent).
            let url = "nbd+unix:///?socket=/run/isos.sock";
            f.host
                .as_mut()?
                .nbd_servers
                .push(isotune_host::NbdServerProcess {
                    pid: 4242,
                    argv: ["qemu-nbd", "-r", "-f", "raw", "-k", "/run/isos.sock", ISO]
                        .map(String::from)
                        .to_vec(),
                });
            f.vms[0].drives[0].source = Source::Nbd { url: url.into() };
            let mut second = f.vms[0].clone();
            second.name = Some("second".into());
            f.vms.push(second);
        }
        _ => return crate::fixtures_check::example(id),
    }
    Some(f)
}
