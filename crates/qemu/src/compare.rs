//! Before and after: a VM definition's cdrom turned into the boot matrix's
//! vocabulary ([`config_of`]), so `isotune tune --measure` can boot the
//! configuration a change left behind against the one it replaced, and the
//! two-configuration [`BootReport`] summed up as one [`Comparison`].
//!
//! Only what the boot runner can reproduce is carried over: the cdrom's
//! bus, the machine family, the firmware, O_DIRECT and the AIO backend. A
//! drive the runner cannot boot (a USB or virtio-blk cdrom, a network
//! source, a SCSI controller other than virtio-scsi) is reported with the
//! reason instead of being measured as something else.

use std::path::PathBuf;

use isotune_stats::Verdict;
use isotune_vmconfig::{Aio, Bus, Drive, Firmware, Source, VmDefinition};
use serde::{Deserialize, Serialize};

use crate::matrix::{
    invalid_reason, AioChoice, BootConfig, BusChoice, CacheChoice, FirmwareChoice, MachineChoice,
    WorkloadCaps,
};
use crate::report::BootReport;

/// The boot configuration of `vm` with `drive` as its cdrom, named `name`;
/// `Err` says why it cannot be booted by the runner (or by QEMU at all).
pub fn config_of(
    vm: &VmDefinition,
    drive: &Drive,
    name: &str,
    caps: WorkloadCaps,
) -> Result<(BootConfig, PathBuf), String> {
    let iso = match &drive.source {
        Source::File { path } | Source::Block { path } => path.clone(),
        Source::Empty => return Err("the cdrom has no medium".to_owned()),
        other => {
            return Err(format!(
                "the cdrom's source is not a local file ({}): only local ISOs are booted",
                source_kind(other)
            ))
        }
    };
    let machine = match vm.machine.as_deref() {
        Some(m) if m.contains("q35") => MachineChoice::Q35,
        Some(m) if m == "pc" || m.contains("i440fx") || m.starts_with("pc-") => MachineChoice::Pc,
        None => MachineChoice::Pc,
        Some(other) => return Err(format!("machine type {other} is neither pc nor q35")),
    };
    let bus = match &drive.bus {
        Bus::Ide if machine == MachineChoice::Q35 => BusChoice::Ahci,
        Bus::Ide => BusChoice::Ide,
        Bus::Sata => BusChoice::Ahci,
        Bus::Scsi => {
            let model = drive
                .controller
                .as_deref()
                .and_then(|id| vm.controllers.iter().find(|c| c.id.as_deref() == Some(id)))
                .map(|c| c.kind.as_str());
            match model {
                Some("virtio-scsi") | None => BusChoice::VirtioScsi,
                Some(other) => {
                    return Err(format!(
                        "the cdrom hangs on a {other} SCSI controller: only virtio-scsi is booted"
                    ))
                }
            }
        }
        other => {
            return Err(format!(
                "a cdrom on bus {other:?} is not booted by the runner"
            ))
        }
    };
    let firmware = match vm.firmware {
        Firmware::Uefi { .. } => FirmwareChoice::Uefi,
        Firmware::Default | Firmware::Bios { .. } => FirmwareChoice::Bios,
    };
    let config = BootConfig {
        name: name.to_owned(),
        bus,
        machine,
        firmware,
        cache: if drive.is_direct() {
            CacheChoice::None
        } else {
            CacheChoice::Writeback
        },
        aio: match drive.aio {
            Some(Aio::Native) => AioChoice::Native,
            Some(Aio::IoUring) => AioChoice::IoUring,
            _ => AioChoice::Threads,
        },
        storage: None,
        source: crate::source::SourceConfig::default(),
    };
    match invalid_reason(&config, caps) {
        Some(why) => Err(why),
        None => Ok((config, iso)),
    }
}

fn source_kind(s: &Source) -> String {
    let json = serde_json::to_value(s).unwrap_or_default();
    json.get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("other")
        .to_owned()
}

/// One configuration's side of a [`Comparison`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// The settings (`ide` on `pc`, BIOS, ...).
    pub config: BootConfig,
    /// Successful runs.
    pub runs: usize,
    /// Median seconds to the end of the boot.
    pub median_seconds: Option<f64>,
    /// Median bytes per read request from the ISO.
    pub median_bytes_per_request: Option<f64>,
    /// Failed runs, one line each.
    pub failures: Vec<String>,
}

/// The after configuration against the before one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Before the change (the baseline).
    pub before: Side,
    /// After it.
    pub after: Side,
    /// Before / after mean time: 2.0 = the change made the boot twice as
    /// fast; `None` with too few successful runs to compare.
    pub speedup: Option<f64>,
    /// 95% interval of the speed-up.
    pub speedup_ci95: Option<(f64, f64)>,
    /// Faster, slower, or no significant change at the 95% level; `None`
    /// when the runs could not be compared.
    pub verdict: Option<Verdict>,
    /// The accelerator the runs got.
    pub accel_used: Option<String>,
}

impl Comparison {
    /// The comparison in a report whose configuration 0 is before (the
    /// baseline) and 1 after; `None` for any other shape.
    pub fn from_report(report: &BootReport) -> Option<Comparison> {
        let [before, after] = report.configs.as_slice() else {
            return None;
        };
        if report.baseline != before.config.name {
            return None;
        }
        let side = |c: &crate::report::ConfigResult| Side {
            config: c.config.clone(),
            runs: c.runs.len(),
            median_seconds: c.summary.median_seconds,
            median_bytes_per_request: c.summary.median_bytes_per_request,
            failures: c.failures.iter().map(|f| f.to_string()).collect(),
        };
        let vs = after.summary.vs_baseline;
        Some(Comparison {
            before: side(before),
            after: side(after),
            speedup: vs.map(|v| v.speedup),
            speedup_ci95: vs.and_then(|v| v.speedup_ci95),
            verdict: vs.map(|v| v.verdict),
            accel_used: report.accel_used.clone(),
        })
    }

    /// Whether the change measurably slowed the boot down.
    pub fn slower(&self) -> bool {
        self.verdict == Some(Verdict::Slower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isotune_vmconfig::{parse_domain_xml, Origin};

    const BIOS: WorkloadCaps = WorkloadCaps {
        bios: true,
        uefi: true,
    };

    fn first_cdrom(xml: &str) -> Result<(BootConfig, PathBuf), String> {
        let vm = parse_domain_xml(xml, Origin::Isotune).unwrap();
        config_of(&vm, &vm.drives[0], "x", BIOS)
    }

    fn domain(machine: &str, disk: &str, extra: &str) -> String {
        format!(
            "<domain type='qemu'><name>d</name><os><type machine='{machine}'>hvm</type></os>\
             <devices>{extra}<disk type='file' device='cdrom'>{disk}</disk></devices></domain>"
        )
    }

    #[test]
    fn libvirt_buses_map_to_the_matrix() {
        let ide = first_cdrom(&domain(
            "pc-i440fx-7.2",
            "<source file='/i.iso'/><target dev='hdc' bus='ide'/>",
            "",
        ))
        .unwrap();
        assert_eq!(
            (ide.0.bus, ide.0.machine),
            (BusChoice::Ide, MachineChoice::Pc)
        );
        assert_eq!(ide.1, PathBuf::from("/i.iso"));
        let sata = first_cdrom(&domain(
            "pc-q35-8.2",
            "<source file='/i.iso'/><target dev='sda' bus='sata'/>",
            "",
        ))
        .unwrap()
        .0;
        assert_eq!(
            (sata.bus, sata.machine),
            (BusChoice::Ahci, MachineChoice::Q35)
        );
        let scsi = first_cdrom(&domain(
            "q35",
            "<driver name='qemu' type='raw' cache='none' io='native'/><source file='/i.iso'/><target dev='sda' bus='scsi'/>",
            "<controller type='scsi' index='0' model='virtio-scsi'/>",
        ))
        .unwrap()
        .0;
        assert_eq!(scsi.bus, BusChoice::VirtioScsi);
        assert_eq!(
            (scsi.cache, scsi.aio),
            (CacheChoice::None, AioChoice::Native)
        );
    }

    #[test]
    fn what_cannot_boot_says_why() {
        let native = first_cdrom(&domain(
            "pc",
            "<driver name='qemu' type='raw' io='native'/><source file='/i.iso'/><target dev='hdc' bus='ide'/>",
            "",
        ))
        .unwrap_err();
        assert!(native.contains("aio=native needs cache=none"), "{native}");
        let empty = first_cdrom(&domain("pc", "<target dev='hdc' bus='ide'/>", "")).unwrap_err();
        assert!(empty.contains("no medium"), "{empty}");
        let lsi = first_cdrom(&domain(
            "pc",
            "<source file='/i.iso'/><target dev='sda' bus='scsi'/>",
            "<controller type='scsi' index='0' model='lsilogic'/>",
        ))
        .unwrap_err();
        assert!(lsi.contains("virtio-scsi"), "{lsi}");
    }
}
