//! The first pass over a QEMU argv: walks the options (one or two leading
//! dashes, argument consumption from the known-option table), reads the
//! machine-wide ones (machine, accelerators, memory, name, firmware, direct
//! kernel boot, iothread objects) and collects the storage pieces (`-drive`
//! and its legacy shorthands, `-blockdev`, `-device`) for
//! [`super::resolve`], which ties them together once the machine type is known.

use std::path::PathBuf;

use super::options::takes_arg;
use super::opts::{parse_any, parse_opts, parse_size, Opts};
use crate::model::{Accel, ConfigIssue, Firmware, IssueKind, Origin, VmDefinition};

/// One storage option, in argv order.
#[derive(Debug)]
pub(crate) struct Piece {
    /// Its argv index (drives are listed in this order).
    pub(crate) pos: usize,
    /// Its options.
    pub(crate) opts: Opts,
    /// `-drive #2`, `-cdrom`, `-device #1`, ...
    pub(crate) context: String,
    /// Whether unknown keys should be reported (explicit `-drive` only).
    pub(crate) explicit: bool,
}

/// What the first pass found.
#[derive(Debug)]
pub(crate) struct Collected {
    pub(crate) def: VmDefinition,
    pub(crate) machine_opts: Opts,
    pub(crate) drives: Vec<Piece>,
    pub(crate) blockdevs: Vec<Piece>,
    pub(crate) devices: Vec<Piece>,
    pub(crate) boot: Option<Opts>,
    /// How many explicit `-drive` options were seen so far.
    pub(crate) explicit_drives: usize,
}

pub(crate) fn collect(argv: &[String], origin: Origin) -> Collected {
    let mut c = Collected {
        def: VmDefinition::new(origin),
        machine_opts: Opts::default(),
        drives: Vec::new(),
        blockdevs: Vec::new(),
        devices: Vec::new(),
        boot: None,
        explicit_drives: 0,
    };
    let mut i = 1;
    while i < argv.len() {
        let arg = &argv[i];
        let name = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .filter(|n| !n.is_empty());
        let Some(name) = name else {
            // A bare word is a disk image, as with `-hda`.
            c.legacy(i, "-hda", arg, "ide", Some(0), "disk");
            i += 1;
            continue;
        };
        match takes_arg(name) {
            None => {
                c.issue(
                    IssueKind::Unknown,
                    arg,
                    format!("argument {i}"),
                    format!("QEMU has no option {arg}"),
                );
                // An invented option usually comes with a value: skip it too
                // rather than read it as a disk image.
                let next_is_value = argv.get(i + 1).is_some_and(|n| !n.starts_with('-'));
                i += if next_is_value { 2 } else { 1 };
            }
            Some(false) => {
                if name == "enable-kvm" {
                    push_accel(&mut c.def.accel, "kvm");
                }
                i += 1;
            }
            Some(true) => {
                let Some(value) = argv.get(i + 1) else {
                    c.issue(
                        IssueKind::Invalid,
                        arg,
                        format!("argument {i}"),
                        format!("{arg} needs an argument but the command line ends"),
                    );
                    break;
                };
                c.option(i, name, value);
                i += 2;
            }
        }
    }
    if c.def.accel.is_empty() && kvm_by_default(argv.first().map(String::as_str)) {
        c.def.accel.push(Accel::Kvm);
    }
    c
}

/// Whether the binary picks KVM when no accelerator is given: RHEL's
/// `/usr/libexec/qemu-kvm` (its machine types default to KVM) and Debian's
/// `kvm` wrapper (`qemu-system-x86_64 -enable-kvm "$@"`).
fn kvm_by_default(argv0: Option<&str>) -> bool {
    let Some(argv0) = argv0 else { return false };
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    matches!(base, "qemu-kvm" | "kvm")
}

impl Collected {
    fn issue(&mut self, kind: IssueKind, option: &str, context: String, message: String) {
        self.def
            .issues
            .push(ConfigIssue::new(kind, option, context, message));
    }

    /// A JSON-or-QemuOpts argument; an unparsable JSON one becomes an issue.
    fn any(&mut self, i: usize, name: &str, value: &str, implied: Option<&str>) -> Option<Opts> {
        match parse_any(value, implied) {
            Ok(o) => Some(o),
            Err(()) => {
                self.issue(
                    IssueKind::Invalid,
                    value,
                    format!("argument {}", i + 1),
                    format!("The JSON argument of -{name} does not parse"),
                );
                None
            }
        }
    }

    fn option(&mut self, i: usize, name: &str, value: &str) {
        match name {
            "machine" | "M" => {
                let o = parse_opts(value, Some("type"));
                if let Some(t) = o.get("type").filter(|t| *t != "help" && *t != "?") {
                    self.def.machine = Some(t.to_string());
                }
                if let Some(accels) = o.get("accel") {
                    for a in accels.split(':') {
                        push_accel(&mut self.def.accel, a);
                    }
                }
                self.machine_opts.pairs.extend(o.pairs);
            }
            "accel" => {
                if let Some(o) = self.any(i, name, value, Some("accel")) {
                    if let Some(a) = o.get("accel") {
                        push_accel(&mut self.def.accel, a);
                    }
                }
            }
            "m" => {
                let o = parse_opts(value, Some("size"));
                let size = o.get("size").and_then(|s| parse_size(s, 1 << 20));
                match size {
                    Some(b) => self.def.memory_bytes = Some(b),
                    None => self.issue(
                        IssueKind::Invalid,
                        value,
                        format!("argument {}", i + 1),
                        "The memory size of -m does not parse".into(),
                    ),
                }
            }
            "name" => {
                let o = parse_opts(value, Some("guest"));
                self.def.name = o.get("guest").map(str::to_string);
            }
            "kernel" => self.def.kernel = Some(PathBuf::from(value)),
            "initrd" => self.def.initrd = Some(PathBuf::from(value)),
            "bios" if !matches!(self.def.firmware, Firmware::Uefi { .. }) => {
                self.def.firmware = firmware_from_bios(value);
            }
            "pflash" if !matches!(self.def.firmware, Firmware::Uefi { code: Some(_) }) => {
                self.def.firmware = Firmware::Uefi {
                    code: Some(PathBuf::from(value)),
                };
            }
            "drive" => {
                // Counted, not recounted: a huge argv stays linear.
                self.explicit_drives += 1;
                let n = self.explicit_drives;
                self.drives.push(Piece {
                    pos: i,
                    opts: parse_opts(value, None),
                    context: format!("-drive #{n}"),
                    explicit: true,
                });
            }
            "cdrom" => self.legacy(i, "-cdrom", value, "ide", Some(2), "cdrom"),
            "hda" | "hdb" | "hdc" | "hdd" => {
                let index = u32::from(name.as_bytes()[2] - b'a');
                self.legacy(i, &format!("-{name}"), value, "ide", Some(index), "disk");
            }
            "fda" | "fdb" => {
                let index = u32::from(name.as_bytes()[2] - b'a');
                self.legacy(i, &format!("-{name}"), value, "floppy", Some(index), "disk");
            }
            "mtdblock" => self.legacy(i, "-mtdblock", value, "mtd", None, "disk"),
            "sd" => self.legacy(i, "-sd", value, "sd", None, "disk"),
            "blockdev" => {
                if let Some(opts) = self.any(i, name, value, None) {
                    let n = self.blockdevs.len() + 1;
                    self.blockdevs.push(Piece {
                        pos: i,
                        opts,
                        context: format!("-blockdev #{n}"),
                        explicit: true,
                    });
                }
            }
            "device" => {
                if let Some(opts) = self.any(i, name, value, Some("driver")) {
                    let n = self.devices.len() + 1;
                    self.devices.push(Piece {
                        pos: i,
                        opts,
                        context: format!("-device #{n}"),
                        explicit: true,
                    });
                }
            }
            "object" => {
                if let Some(o) = self.any(i, name, value, Some("qom-type")) {
                    if o.get("qom-type") == Some("iothread") {
                        if let Some(id) = o.get("id") {
                            self.def.iothreads.push(id.to_string());
                        }
                    }
                }
            }
            "boot" => self.boot = Some(parse_opts(value, Some("order"))),
            _ => {}
        }
    }

    /// `-cdrom FILE` and friends, as the `-drive` QEMU turns them into.
    fn legacy(
        &mut self,
        i: usize,
        option: &str,
        file: &str,
        iface: &str,
        index: Option<u32>,
        media: &str,
    ) {
        let mut pairs = vec![
            ("file".to_string(), file.to_string()),
            ("if".to_string(), iface.to_string()),
            ("media".to_string(), media.to_string()),
        ];
        if let Some(index) = index {
            pairs.push(("index".to_string(), index.to_string()));
        }
        self.drives.push(Piece {
            pos: i,
            opts: Opts { pairs },
            context: option.to_string(),
            explicit: false,
        });
    }
}

/// `-bios FILE`: an OVMF/edk2 image given as a ROM is still UEFI.
pub(crate) fn firmware_from_bios(path: &str) -> Firmware {
    let file = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    if file.contains("ovmf") || file.contains("edk2") || file.contains("uefi") {
        Firmware::Uefi {
            code: Some(PathBuf::from(path)),
        }
    } else {
        Firmware::Bios {
            path: Some(PathBuf::from(path)),
        }
    }
}

/// Adds an accelerator once, in order of preference.
pub(crate) fn push_accel(list: &mut Vec<Accel>, name: &str) {
    let a = match name {
        "kvm" => Accel::Kvm,
        "tcg" => Accel::Tcg,
        "" | "help" => return,
        other => Accel::Other(other.to_string()),
    };
    if !list.contains(&a) {
        list.push(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn machine_wide_options() {
        let c = collect(
            &argv("qemu --machine q35,accel=kvm:tcg -accel tcg,thread=single -enable-kvm -m 2G -name guest=vm1,debug-threads=on -kernel /k -initrd /i -bios /usr/share/qemu/OVMF.fd -object iothread,id=io0 -object {\"qom-type\":\"iothread\",\"id\":\"io1\"}"),
            Origin::QemuCmdline,
        );
        let d = &c.def;
        assert_eq!(d.machine.as_deref(), Some("q35"));
        assert_eq!(d.accel, [Accel::Kvm, Accel::Tcg]);
        assert_eq!(d.memory_bytes, Some(2 << 30));
        assert_eq!(d.name.as_deref(), Some("vm1"));
        assert_eq!(d.kernel, Some(PathBuf::from("/k")));
        assert!(matches!(d.firmware, Firmware::Uefi { .. }));
        assert_eq!(d.iothreads, ["io0", "io1"]);
        assert!(d.issues.is_empty(), "{:?}", d.issues);
    }

    #[test]
    fn qemu_kvm_and_kvm_default_to_kvm() {
        let c = collect(
            &argv("/usr/libexec/qemu-kvm -m 2G -cdrom /x.iso"),
            Origin::QemuCmdline,
        );
        assert_eq!(c.def.accel, [Accel::Kvm]);
        let c = collect(&argv("kvm -m 2G"), Origin::QemuCmdline);
        assert_eq!(c.def.accel, [Accel::Kvm]);
        // An explicit accelerator wins.
        let c = collect(
            &argv("/usr/libexec/qemu-kvm -accel tcg"),
            Origin::QemuCmdline,
        );
        assert_eq!(c.def.accel, [Accel::Tcg]);
        // Other binaries keep QEMU's default (TCG): nothing said.
        for bin in ["qemu-system-x86_64", "/usr/bin/kvm-ok", "qemu"] {
            let c = collect(&argv(&format!("{bin} -m 2G")), Origin::QemuCmdline);
            assert!(c.def.accel.is_empty(), "{bin}");
        }
        assert!(collect(&[], Origin::QemuCmdline).def.accel.is_empty());
    }

    #[test]
    fn accelerators_keep_their_order() {
        let c = collect(
            &argv("qemu -accel tcg,thread=multi -accel kvm"),
            Origin::QemuCmdline,
        );
        assert_eq!(c.def.accel, [Accel::Tcg, Accel::Kvm]);
        let c = collect(&argv("qemu -machine pc,accel=tcg:kvm"), Origin::QemuCmdline);
        assert_eq!(c.def.accel, [Accel::Tcg, Accel::Kvm]);
    }

    #[test]
    fn unknown_flags_truncation_and_memory_default_unit() {
        let c = collect(
            &argv("qemu -m 2048 -S -nographic -enable-dma -drive"),
            Origin::QemuCmdline,
        );
        assert_eq!(c.def.memory_bytes, Some(2048 << 20));
        assert_eq!(c.def.issues.len(), 2);
        assert_eq!(c.def.issues[0].option, "-enable-dma");
        assert_eq!(c.def.issues[0].context, "argument 5");
        assert_eq!(c.def.issues[1].kind, IssueKind::Invalid);
        let c = collect(
            &argv("qemu -bogus value /x.img -device {bad"),
            Origin::QemuCmdline,
        );
        assert_eq!(c.drives.len(), 1);
        assert_eq!(c.def.issues.len(), 2);
    }
}
