//! The boot matrix: the cross product of the settings a user asked to
//! compare (cdrom bus, machine type, firmware, cache, aio, storage), with the
//! combinations QEMU cannot run set aside with the reason, and the
//! interleaved order the runs are made in.
//!
//! Pure: no QEMU is started here. [`BootConfig::vm_definition`] turns one
//! configuration into the `isotune-vmconfig` model the launcher emits as
//! argv, so the matrix, the doctor and the launcher speak one vocabulary.

use std::fmt;
use std::path::{Path, PathBuf};

use isotune_vmconfig::{
    Aio, Bus, CacheMode, Controller, Drive, Firmware, Media, Origin, Source, VmDefinition,
};
use serde::{Deserialize, Serialize};

use crate::source::{
    drive_source, source_configs, SourceChoice, SourceConfig, SourceSpec, SourceVaries,
};

/// The cdrom's bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BusChoice {
    /// `ide-cd` on PIIX IDE (machine `pc`).
    Ide,
    /// `ide-cd` on AHCI (q35's ICH9, or `-device ahci` on `pc`).
    Ahci,
    /// `scsi-cd` on `virtio-scsi-pci`.
    VirtioScsi,
}

/// Machine type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MachineChoice {
    /// i440FX + PIIX.
    Pc,
    /// Q35 + ICH9.
    Q35,
}

/// Firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FirmwareChoice {
    /// SeaBIOS.
    Bios,
    /// OVMF.
    Uefi,
}

/// Host cache mode of the cdrom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheChoice {
    /// `cache=none`: O_DIRECT.
    None,
    /// `cache=writeback`: QEMU's default.
    Writeback,
}

/// Host AIO backend of the cdrom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AioChoice {
    /// Thread pool (QEMU's default).
    Threads,
    /// io_uring.
    #[serde(rename = "io_uring")]
    IoUring,
    /// Linux AIO: needs `cache=none`.
    Native,
}

macro_rules! words {
    ($ty:ty { $($v:ident => $w:literal),+ $(,)? }) => {
        impl $ty {
            /// The word used on the command line and in names.
            pub fn word(self) -> &'static str {
                match self { $(Self::$v => $w),+ }
            }

            /// Parses [`word`](Self::word).
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($w => Some(Self::$v),)+ _ => None }
            }

            /// Every value, for help texts.
            pub const ALL: &'static [Self] = &[$(Self::$v),+];
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.word())
            }
        }
    };
}

words!(BusChoice { Ide => "ide", Ahci => "ahci", VirtioScsi => "virtio-scsi" });
words!(MachineChoice { Pc => "pc", Q35 => "q35" });
words!(FirmwareChoice { Bios => "bios", Uefi => "uefi" });
words!(CacheChoice { None => "none", Writeback => "writeback" });
words!(AioChoice { Threads => "threads", IoUring => "io_uring", Native => "native" });

/// What the user asked to compare. An empty `machines` means "the natural
/// machine for each bus": `pc` for IDE, `q35` for AHCI and virtio-scsi
/// (what virt-install picks for a new VM today).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixSpec {
    /// Buses.
    pub buses: Vec<BusChoice>,
    /// Machine types; empty = per bus.
    pub machines: Vec<MachineChoice>,
    /// Firmware.
    pub firmwares: Vec<FirmwareChoice>,
    /// Cache modes.
    pub caches: Vec<CacheChoice>,
    /// AIO backends.
    pub aios: Vec<AioChoice>,
    /// Directories to copy the ISO into; empty = the ISO where it is.
    pub storages: Vec<PathBuf>,
    /// Where the image is read from (file, HTTP, NBD) and the network axes.
    #[serde(default)]
    pub net: SourceSpec,
}

impl Default for MatrixSpec {
    fn default() -> Self {
        MatrixSpec {
            buses: BusChoice::ALL.to_vec(),
            machines: Vec::new(),
            firmwares: vec![FirmwareChoice::Bios],
            caches: vec![CacheChoice::Writeback],
            aios: vec![AioChoice::Threads],
            storages: Vec::new(),
            net: SourceSpec::default(),
        }
    }
}

/// What the workload can boot with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WorkloadCaps {
    /// It has a BIOS (El Torito x86) boot entry.
    pub bios: bool,
    /// It has a UEFI (El Torito EFI) boot entry.
    pub uefi: bool,
}

/// One configuration of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootConfig {
    /// Short unique name: the bus, then every setting that varies in the
    /// matrix (`virtio-scsi`, `ide/none/native`).
    pub name: String,
    /// Bus.
    pub bus: BusChoice,
    /// Machine type.
    pub machine: MachineChoice,
    /// Firmware.
    pub firmware: FirmwareChoice,
    /// Cache mode.
    pub cache: CacheChoice,
    /// AIO backend.
    pub aio: AioChoice,
    /// The directory the ISO is copied into; `None`: where it is.
    pub storage: Option<PathBuf>,
    /// Where the cdrom's image is read from.
    #[serde(default)]
    pub source: SourceConfig,
}

/// A combination that is not run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedConfig {
    /// The combination.
    pub config: BootConfig,
    /// One sentence.
    pub reason: String,
}

/// The expanded matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matrix {
    /// What runs, in the order the user listed the settings.
    pub configs: Vec<BootConfig>,
    /// What does not, with the reason.
    pub skipped: Vec<SkippedConfig>,
}

/// Why a combination cannot run, or `None` when it can.
pub fn invalid_reason(c: &BootConfig, caps: WorkloadCaps) -> Option<String> {
    if c.aio == AioChoice::Native && c.cache != CacheChoice::None {
        return Some(
            "aio=native needs cache=none (O_DIRECT); QEMU refuses to start otherwise".to_owned(),
        );
    }
    if c.bus == BusChoice::Ide && c.machine != MachineChoice::Pc {
        return Some(
            "q35 has no PIIX IDE controller (its ide.N buses are AHCI): IDE needs machine pc"
                .to_owned(),
        );
    }
    if c.source.choice != SourceChoice::File {
        if c.aio != AioChoice::Threads || c.cache != CacheChoice::Writeback {
            return Some(
                "cache= and aio= apply to local files; a network source is read by QEMU's \
                 network driver"
                    .to_owned(),
            );
        }
        if c.storage.is_some() && matches!(c.source.choice, SourceChoice::Url { .. }) {
            return Some(
                "--storage copies the local ISO; a URL is read from its server".to_owned(),
            );
        }
    }
    match c.firmware {
        FirmwareChoice::Bios if !caps.bios => Some("the image has no BIOS boot entry".to_owned()),
        FirmwareChoice::Uefi if !caps.uefi => Some("the image has no UEFI boot entry".to_owned()),
        _ => None,
    }
}

/// Expands `spec` into configurations, setting aside invalid ones.
pub fn expand(spec: &MatrixSpec, caps: WorkloadCaps) -> Matrix {
    let storages: Vec<Option<PathBuf>> = if spec.storages.is_empty() {
        vec![None]
    } else {
        spec.storages.iter().cloned().map(Some).collect()
    };
    let varies = Varies {
        machine: spec.machines.len() > 1,
        firmware: spec.firmwares.len() > 1,
        cache: spec.caches.len() > 1,
        aio: spec.aios.len() > 1,
        storage: storages.len() > 1,
    };
    let (sources, net_skipped) = source_configs(&spec.net);
    let source_varies = SourceVaries::of(&sources);
    let mut configs = Vec::new();
    let mut skipped = Vec::new();
    let mut combos = Vec::new();
    for storage in &storages {
        for (si, source) in sources.iter().enumerate() {
            combos.push((storage, source, si));
        }
        for (source, _) in &net_skipped {
            // Set aside with the reason below.
            combos.push((storage, source, usize::MAX));
        }
    }
    for (storage, source, si) in combos {
        let url_index = url_index(&sources, si);
        for &bus in &spec.buses {
            let machines = if spec.machines.is_empty() {
                vec![natural_machine(bus)]
            } else {
                spec.machines.clone()
            };
            for &machine in &machines {
                for &firmware in &spec.firmwares {
                    for &cache in &spec.caches {
                        for &aio in &spec.aios {
                            let mut c = BootConfig {
                                name: String::new(),
                                bus,
                                machine,
                                firmware,
                                cache,
                                aio,
                                storage: storage.clone(),
                                source: source.clone(),
                            };
                            c.name = varies.name(&c);
                            let parts = source_varies.parts(source, url_index);
                            if !parts.is_empty() {
                                c.name = format!("{}/{}", c.name, parts.join("/"));
                            }
                            let net_reason = net_skipped
                                .iter()
                                .find(|(s, _)| si == usize::MAX && s == source)
                                .map(|(_, r)| r.clone());
                            match net_reason.or_else(|| invalid_reason(&c, caps)) {
                                Some(reason) => skipped.push(SkippedConfig { config: c, reason }),
                                None => configs.push(c),
                            }
                        }
                    }
                }
            }
        }
    }
    Matrix { configs, skipped }
}

/// Which user URL (0-based) the source at `si` is, for its name.
fn url_index(sources: &[SourceConfig], si: usize) -> usize {
    sources
        .iter()
        .take(si.min(sources.len()))
        .filter(|s| matches!(s.choice, SourceChoice::Url { .. }))
        .count()
}

/// The machine a new VM with this cdrom bus gets from virt-install today.
pub fn natural_machine(bus: BusChoice) -> MachineChoice {
    match bus {
        BusChoice::Ide => MachineChoice::Pc,
        BusChoice::Ahci | BusChoice::VirtioScsi => MachineChoice::Q35,
    }
}

struct Varies {
    machine: bool,
    firmware: bool,
    cache: bool,
    aio: bool,
    storage: bool,
}

impl Varies {
    fn name(&self, c: &BootConfig) -> String {
        let mut parts = vec![c.bus.word().to_owned()];
        if self.machine {
            parts.push(c.machine.word().to_owned());
        }
        if self.firmware {
            parts.push(c.firmware.word().to_owned());
        }
        if self.cache {
            parts.push(format!("cache={}", c.cache));
        }
        if self.aio {
            parts.push(format!("aio={}", c.aio));
        }
        if self.storage {
            let dir = c.storage.as_deref().unwrap_or(Path::new("."));
            parts.push(format!("@{}", dir.display()));
        }
        parts.join("/")
    }
}

/// The order runs are made in: round-robin over the configurations
/// (A B C A B C ...), so slow drift of the host (thermal, other load,
/// page-cache pressure) hits every configuration alike instead of the last
/// one. Each item is `(config index, run index)`.
pub fn interleaved(configs: usize, runs: usize) -> Vec<(usize, usize)> {
    (0..runs)
        .flat_map(|r| (0..configs).map(move |c| (c, r)))
        .collect()
}

/// The cdrom drive's id in the definitions [`BootConfig::vm_definition`]
/// makes (and so the `device` to read from `query-blockstats`).
pub const CDROM_ID: &str = "cd0";

/// Where OVMF is, for UEFI configurations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UefiFirmware {
    /// The code image (read-only pflash), e.g. `/usr/share/OVMF/OVMF_CODE_4M.fd`.
    pub code: PathBuf,
}

impl BootConfig {
    /// The VM this configuration boots: one cdrom with `iso` as its medium
    /// on the configured bus, booted first.
    pub fn vm_definition(
        &self,
        iso: &Path,
        uefi: Option<&UefiFirmware>,
        memory_bytes: u64,
    ) -> VmDefinition {
        self.vm_definition_at(iso, None, uefi, memory_bytes)
    }

    /// [`BootConfig::vm_definition`] for a network source reachable at
    /// `url` (the server started for this run, or the user's URL); `iso`
    /// when the source is the local file.
    pub fn vm_definition_at(
        &self,
        iso: &Path,
        url: Option<&str>,
        uefi: Option<&UefiFirmware>,
        memory_bytes: u64,
    ) -> VmDefinition {
        let net = url.and_then(|u| drive_source(&self.source, u));
        let mut controllers = Vec::new();
        let (bus, device, controller) = match (self.bus, self.machine) {
            (BusChoice::Ide, _) => (Bus::Ide, "ide-cd", None),
            (BusChoice::Ahci, MachineChoice::Q35) => (Bus::Sata, "ide-cd", None),
            (BusChoice::Ahci, MachineChoice::Pc) => {
                controllers.push(Controller {
                    id: Some("ahci0".to_owned()),
                    kind: "ahci".to_owned(),
                    iothread: None,
                });
                (Bus::Sata, "ide-cd", Some("ahci0"))
            }
            (BusChoice::VirtioScsi, _) => {
                controllers.push(Controller {
                    id: Some("scsi0".to_owned()),
                    kind: "virtio-scsi".to_owned(),
                    iothread: None,
                });
                (Bus::Scsi, "scsi-cd", Some("scsi0"))
            }
        };
        let firmware = match self.firmware {
            FirmwareChoice::Bios => Firmware::Default,
            FirmwareChoice::Uefi => Firmware::Uefi {
                code: uefi.map(|u| u.code.clone()),
            },
        };
        VmDefinition {
            name: Some(self.name.clone()),
            machine: Some(self.machine.word().to_owned()),
            firmware,
            drives: vec![Drive {
                id: Some(CDROM_ID.to_owned()),
                media: Media::Cdrom,
                bus,
                device: Some(device.to_owned()),
                controller: controller.map(str::to_owned),
                aio: match net {
                    Some(_) => None,
                    None => Some(match self.aio {
                        AioChoice::Threads => Aio::Threads,
                        AioChoice::IoUring => Aio::IoUring,
                        AioChoice::Native => Aio::Native,
                    }),
                },
                source: net.unwrap_or_else(|| Source::File {
                    path: iso.to_owned(),
                }),
                format: Some("raw".to_owned()),
                cache: Some(match self.cache {
                    CacheChoice::None => CacheMode::None,
                    CacheChoice::Writeback => CacheMode::Writeback,
                }),
                cache_direct: None,
                readonly: Some(true),
                iothread: None,
                boot_order: Some(1),
                tray_open: None,
            }],
            controllers,
            memory_bytes: Some(memory_bytes),
            ..VmDefinition::new(Origin::Isotune)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: WorkloadCaps = WorkloadCaps {
        bios: true,
        uefi: true,
    };

    #[test]
    fn default_matrix_is_three_buses_on_their_natural_machines() {
        let m = expand(&MatrixSpec::default(), BOTH);
        let names: Vec<&str> = m.configs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["ide", "ahci", "virtio-scsi"]);
        assert_eq!(m.configs[0].machine, MachineChoice::Pc);
        assert_eq!(m.configs[2].machine, MachineChoice::Q35);
        assert!(m.skipped.is_empty());
    }

    #[test]
    fn invalid_combinations_are_skipped_with_a_reason() {
        let spec = MatrixSpec {
            buses: vec![BusChoice::Ide, BusChoice::VirtioScsi],
            machines: vec![MachineChoice::Pc, MachineChoice::Q35],
            firmwares: vec![FirmwareChoice::Bios, FirmwareChoice::Uefi],
            caches: vec![CacheChoice::None, CacheChoice::Writeback],
            aios: vec![AioChoice::Threads, AioChoice::Native],
            storages: Vec::new(),
            net: SourceSpec::default(),
        };
        let caps = WorkloadCaps {
            bios: true,
            uefi: false,
        };
        let m = expand(&spec, caps);
        assert_eq!(m.configs.len() + m.skipped.len(), 2 * 2 * 2 * 2 * 2);
        for c in &m.configs {
            assert!(invalid_reason(c, caps).is_none());
            assert_eq!(c.firmware, FirmwareChoice::Bios);
            assert!(!(c.aio == AioChoice::Native && c.cache == CacheChoice::Writeback));
            assert!(!(c.bus == BusChoice::Ide && c.machine == MachineChoice::Q35));
        }
        // ide/pc + virtio-scsi/pc + virtio-scsi/q35, each with 3 cache/aio pairs.
        assert_eq!(m.configs.len(), 9);
        assert!(m.skipped.iter().any(|s| s.reason.contains("aio=native")));
        assert!(m
            .skipped
            .iter()
            .any(|s| s.reason.contains("IDE needs machine pc")));
        assert!(m.skipped.iter().any(|s| s.reason.contains("UEFI")));
        let mut names: Vec<&str> = m.configs.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), m.configs.len(), "names are unique");
        assert!(names.contains(&"ide/pc/bios/cache=none/aio=native"));
    }

    #[test]
    fn storages_vary_the_name() {
        let spec = MatrixSpec {
            buses: vec![BusChoice::Ide],
            storages: vec!["/dev/shm".into(), "/var/tmp".into()],
            ..MatrixSpec::default()
        };
        let m = expand(&spec, BOTH);
        let names: Vec<&str> = m.configs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["ide/@/dev/shm", "ide/@/var/tmp"]);
    }

    #[test]
    fn runs_are_interleaved() {
        assert_eq!(
            interleaved(3, 2),
            [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]
        );
        assert!(interleaved(0, 5).is_empty());
    }

    #[test]
    fn words_round_trip() {
        for b in BusChoice::ALL {
            assert_eq!(BusChoice::parse(b.word()), Some(*b));
        }
        for a in AioChoice::ALL {
            assert_eq!(AioChoice::parse(a.word()), Some(*a));
        }
        assert_eq!(CacheChoice::parse("fast"), None);
    }

    #[test]
    fn definitions_put_the_cdrom_on_the_right_bus() {
        let m = expand(&MatrixSpec::default(), BOTH);
        let iso = Path::new("/tmp/x.iso");
        let ide = m.configs[0].vm_definition(iso, None, 256 << 20);
        assert_eq!(ide.drives[0].bus, Bus::Ide);
        assert!(ide.controllers.is_empty());
        let vs = m.configs[2].vm_definition(iso, None, 256 << 20);
        assert_eq!(vs.drives[0].bus, Bus::Scsi);
        assert_eq!(vs.controllers[0].kind, "virtio-scsi");
        assert_eq!(vs.drives[0].controller.as_deref(), Some("scsi0"));
        let ahci_pc = BootConfig {
            machine: MachineChoice::Pc,
            ..m.configs[1].clone()
        }
        .vm_definition(iso, None, 256 << 20);
        assert_eq!(ahci_pc.controllers[0].kind, "ahci");
        assert_eq!(ahci_pc.drives[0].readonly, Some(true));
    }

    #[test]
    fn network_sources_skip_file_driver_settings() {
        use crate::source::{NbdkitFilter, SourceChoice, SourceSpec};
        let spec = MatrixSpec {
            buses: vec![BusChoice::Ahci],
            caches: vec![CacheChoice::Writeback, CacheChoice::None],
            net: SourceSpec {
                sources: vec![SourceChoice::File, SourceChoice::Nbd],
                filters: vec![NbdkitFilter::None, NbdkitFilter::Cache],
                ..SourceSpec::default()
            },
            ..MatrixSpec::default()
        };
        let m = expand(&spec, BOTH);
        let names: Vec<&str> = m.configs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ahci/cache=writeback/file",
                "ahci/cache=none/file",
                "ahci/cache=writeback/nbd",
                "ahci/cache=writeback/nbd/cache"
            ]
        );
        assert_eq!(m.skipped.len(), 2);
        assert!(m.skipped[0].reason.contains("apply to local files"));
        let def = m.configs[3].vm_definition_at(
            Path::new("/x.iso"),
            Some("nbd+unix:///?socket=/s"),
            None,
            1 << 28,
        );
        assert_eq!(def.drives[0].aio, None);
        assert!(matches!(def.drives[0].source, Source::Nbd { .. }));
    }
}
