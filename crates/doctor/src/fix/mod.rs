//! Fixes a program can apply: the structured form of a finding's fix.
//!
//! A VM finding carries a [`FixEdit`] next to its text: for a libvirt domain
//! a list of element-level [`DomainEdit`]s that [`apply_to_domain`] applies
//! to the original XML, for a QEMU command line a list of [`ArgvEdit`]s that
//! [`apply_to_argv`] applies to the original argv. The text the user reads
//! ([`FixEdit::render`]) is rendered from the same edits, so what is printed
//! is what the tests apply, define with libvirt, start with QEMU and
//! diagnose again (`crates/doctor/tests/fixes_apply.rs`).
//!
//! Edits that add shared things (a virtio-scsi controller) are idempotent:
//! applying the fixes of two IDE cdroms of one VM adds one controller, and
//! the targets the two fixes pick are different.
//!
//! For a Proxmox VM the fix is a `qm set VMID ...` command ([`QmEdit`]s):
//! [`apply_to_qm_conf`] applies it to the VM's config text as `qm set` does
//! (set or delete keys), so tests re-diagnose the applied config.

mod argv;
mod domain;
mod qm;

use serde::{Deserialize, Serialize};

pub use argv::apply_to_argv;
pub use domain::apply_to_domain;
pub use qm::apply_to_qm_conf;

/// The structured form of a fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FixEdit {
    /// Edits to a libvirt domain's XML, applied in order.
    Domain {
        /// How to open the definition (`virsh edit web1`).
        open: String,
        /// The edits.
        edits: Vec<DomainEdit>,
    },
    /// Edits to a QEMU command line, applied in order.
    Argv {
        /// The edits.
        edits: Vec<ArgvEdit>,
    },
    /// A `qm set VMID ...` on a Proxmox VM's config, applied in order.
    Qm {
        /// The VM id.
        vmid: u32,
        /// The key changes.
        edits: Vec<QmEdit>,
    },
}

/// One key change of a Proxmox VM config (`qm set --KEY VALUE`, `--delete KEY`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum QmEdit {
    /// Set `key: value`.
    Set {
        /// The key (`scsi0`, `scsihw`).
        key: String,
        /// The value as qm writes it (`local:iso/x.iso,media=cdrom`).
        value: String,
    },
    /// Remove the key.
    Delete {
        /// The key (`ide2`).
        key: String,
    },
}

/// One attribute to set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attr {
    /// Its name.
    pub name: String,
    /// Its value (unescaped).
    pub value: String,
}

impl Attr {
    /// `name='value'`.
    pub fn new(name: &str, value: &str) -> Attr {
        Attr {
            name: name.to_string(),
            value: value.to_string(),
        }
    }
}

/// An element-level edit of a libvirt domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum DomainEdit {
    /// Set `<domain type=...>`.
    DomainType {
        /// `kvm` or `qemu`.
        value: String,
    },
    /// Add `xml` (a `<controller>`) to `<devices>` unless the domain already
    /// has a SCSI controller of this model.
    EnsureScsiController {
        /// The controller model (`virtio-scsi`).
        model: String,
        /// The element to add.
        xml: String,
    },
    /// Replace the `<disk>` whose `<target dev>` is `target` by `xml`.
    ReplaceDisk {
        /// The disk's target dev (`hdc`).
        target: String,
        /// The new `<disk>` element.
        xml: String,
    },
    /// Set and remove attributes of the disk's `<driver>` (added when the
    /// disk has none).
    SetDriver {
        /// The disk's target dev.
        target: String,
        /// Attributes to set.
        set: Vec<Attr>,
        /// Attributes to remove.
        remove: Vec<String>,
    },
    /// Put `xml` in the disk's `<source>` in place of its `name` children
    /// (`<readahead size='1048576'/>`).
    SetSourceChild {
        /// The disk's target dev.
        target: String,
        /// The element name.
        name: String,
        /// The element.
        xml: String,
    },
    /// Remove every child element `name` of the disk.
    RemoveDiskChild {
        /// The disk's target dev.
        target: String,
        /// The element name.
        name: String,
    },
    /// Add an empty child element (`<readonly/>`) to the disk unless it has one.
    AddDiskChild {
        /// The disk's target dev.
        target: String,
        /// The element name.
        name: String,
    },
}

/// Which drive of a command line an edit is about: the drive with this
/// source (and, when several have it, this id). Automatic ids (`ide0-cd1`)
/// change when another drive is removed, sources do not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriveRef {
    /// Its id (given or QEMU's automatic one, `ide1-cd0`).
    pub id: String,
    /// Its source.
    pub source: isotune_vmconfig::Source,
}

/// An edit of a QEMU argv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum ArgvEdit {
    /// Remove the options that define the drive (`-cdrom`, its `-drive`, the
    /// `-device` using it) and append `args`.
    ReplaceDrive {
        /// The drive.
        drive: DriveRef,
        /// The arguments defining it anew.
        args: Vec<String>,
    },
    /// Append `args` (a `-device` with this id) unless a controller with the
    /// id exists.
    EnsureController {
        /// The controller id (`scsi0`).
        id: String,
        /// The arguments.
        args: Vec<String>,
    },
    /// Set and remove options on the `-drive` (or `-cdrom`) defining the drive.
    DriveOptions {
        /// The drive.
        drive: DriveRef,
        /// `key=value` options to set.
        set: Vec<Attr>,
        /// Keys to remove.
        remove: Vec<String>,
    },
    /// Remove an option: a whole one (`-enable-dma`, with its argument when
    /// it has one), or a `key=value` item inside any option's argument
    /// (`dmqueue_size=1024`).
    RemoveOption {
        /// The option as written.
        option: String,
    },
    /// Replace every accelerator option (`-accel`, `-enable-kvm`,
    /// `-machine accel=`) by `-accel` options for `accels`, in order.
    SetAccel {
        /// `kvm`, `tcg`.
        accels: Vec<String>,
    },
    /// Remove a property from the `-device` that uses the drive.
    RemoveDeviceProperty {
        /// The drive.
        drive: DriveRef,
        /// The property (`iothread`).
        key: String,
    },
}

/// Why an edit could not be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FixError {
    /// The XML does not parse.
    #[error("the domain XML does not parse: {0}")]
    Xml(String),
    /// The domain has no `<devices>`.
    #[error("the domain has no <devices>")]
    NoDevices,
    /// The disk has no `<source>`.
    #[error("the <disk> with target {0} has no <source>")]
    NoSource(String),
    /// No `<disk>` has this target.
    #[error("no <disk> has target {0}")]
    NoDisk(String),
    /// The command line has no such drive.
    #[error("the command line has no drive {0}")]
    NoDrive(String),
    /// The drive is defined in a way the edit cannot change (`-blockdev`).
    #[error("drive {0} is not defined by -drive or -cdrom")]
    NotADriveOption(String),
}

impl FixEdit {
    /// The fix as the user reads it.
    pub fn render(&self) -> String {
        match self {
            FixEdit::Domain { open, edits } => {
                let steps: Vec<String> = edits.iter().map(render_domain).collect();
                format!("`{open}`, then:\n{}", steps.join("\n"))
            }
            FixEdit::Argv { edits } => edits.iter().map(render_argv).collect::<Vec<_>>().join("\n"),
            FixEdit::Qm { vmid, edits } => render_qm(*vmid, edits),
        }
    }
}

fn render_attrs(attrs: &[Attr]) -> String {
    attrs
        .iter()
        .map(|a| format!(" {}='{}'", a.name, domain::escape(&a.value)))
        .collect()
}

fn render_domain(e: &DomainEdit) -> String {
    match e {
        DomainEdit::DomainType { value } => format!("- set <domain type='{value}'>"),
        DomainEdit::EnsureScsiController { model, xml } => {
            format!("- in <devices>, add {xml} (unless a {model} controller is there already)")
        }
        DomainEdit::ReplaceDisk { target, xml } => {
            format!("- in <devices>, replace the <disk> with target {target} by:\n{xml}")
        }
        DomainEdit::SetDriver {
            target,
            set,
            remove,
        } => {
            let mut s = format!("- in the <disk> with target {target}: ");
            if !set.is_empty() {
                s += &format!("<driver{}/>", render_attrs(set));
            }
            if !remove.is_empty() {
                if !set.is_empty() {
                    s += ", and ";
                }
                s += &format!("remove {} from <driver>", remove.join(", "));
            }
            s
        }
        DomainEdit::AddDiskChild { target, name } => {
            format!("- add <{name}/> inside the <disk> with target {target}")
        }
        DomainEdit::SetSourceChild { target, xml, .. } => {
            format!("- in the <source> of the <disk> with target {target}: {xml}")
        }
        DomainEdit::RemoveDiskChild { target, name } => {
            format!("- remove <{name}> from the <disk> with target {target}")
        }
    }
}

/// `` `qm set 100 --scsihw virtio-scsi-single --scsi0 ... --delete ide2` ``:
/// one command, sets first, then the deletes (qm takes them comma-separated).
fn render_qm(vmid: u32, edits: &[QmEdit]) -> String {
    let mut cmd = format!("qm set {vmid}");
    let mut deletes = Vec::new();
    for e in edits {
        match e {
            QmEdit::Set { key, value } => {
                cmd += &format!(" --{key} {}", shell_quote(value));
            }
            QmEdit::Delete { key } => deletes.push(key.as_str()),
        }
    }
    if !deletes.is_empty() {
        cmd += &format!(" --delete {}", deletes.join(","));
    }
    format!("`{cmd}`")
}

fn render_argv(e: &ArgvEdit) -> String {
    let shell = |args: &[String]| -> String {
        args.iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match e {
        ArgvEdit::ReplaceDrive { drive, args } => format!(
            "Replace the arguments defining drive {} (its -cdrom/-drive/-device) by: `{}`",
            drive.id,
            shell(args)
        ),
        ArgvEdit::EnsureController { id, args } => {
            format!(
                "Add `{}` (unless a controller {id} is there already)",
                shell(args)
            )
        }
        ArgvEdit::DriveOptions { drive, set, remove } => {
            let mut s = format!("On drive {}: ", drive.id);
            if !set.is_empty() {
                let kv: Vec<String> = set
                    .iter()
                    .map(|a| format!("{}={}", a.name, a.value.replace(',', ",,")))
                    .collect();
                s += &format!("set {}", kv.join(","));
            }
            if !remove.is_empty() {
                if !set.is_empty() {
                    s += ", and ";
                }
                s += &format!("remove {}=", remove.join("=, "));
            }
            s + " (a -cdrom becomes -drive media=cdrom,if=ide,index=2,file=...)"
        }
        ArgvEdit::RemoveOption { option } => format!("Remove `{}`", shell_quote(option)),
        ArgvEdit::SetAccel { accels } => {
            let args: Vec<String> = accels.iter().map(|a| format!("-accel {a}")).collect();
            format!(
                "Replace the accelerator options (-accel, -enable-kvm, -machine accel=) by `{}`",
                args.join(" ")
            )
        }
        ArgvEdit::RemoveDeviceProperty { drive, key } => {
            format!(
                "Remove {key}= from the -device that uses drive {}",
                drive.id
            )
        }
    }
}

/// `arg`, single-quoted when the shell would split or expand it.
fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=,./:+@%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("file=/a.iso"), "file=/a.iso");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn renders_a_qm_set_command() {
        let fix = FixEdit::Qm {
            vmid: 100,
            edits: vec![
                QmEdit::Set {
                    key: "scsihw".into(),
                    value: "virtio-scsi-single".into(),
                },
                QmEdit::Set {
                    key: "scsi1".into(),
                    value: "local:iso/a b.iso,media=cdrom".into(),
                },
                QmEdit::Delete { key: "ide2".into() },
            ],
        };
        assert_eq!(
            fix.render(),
            "`qm set 100 --scsihw virtio-scsi-single --scsi1 'local:iso/a b.iso,media=cdrom' --delete ide2`"
        );
    }

    #[test]
    fn renders_every_domain_edit() {
        let fix = FixEdit::Domain {
            open: "virsh edit w".into(),
            edits: vec![
                DomainEdit::SetDriver {
                    target: "sda".into(),
                    set: vec![Attr::new("io", "io_uring")],
                    remove: vec!["cache".into()],
                },
                DomainEdit::AddDiskChild {
                    target: "vda".into(),
                    name: "readonly".into(),
                },
            ],
        };
        let text = fix.render();
        assert!(text.starts_with("`virsh edit w`, then:\n"), "{text}");
        assert!(
            text.contains("<driver io='io_uring'/>, and remove cache from <driver>"),
            "{text}"
        );
        assert!(text.contains("add <readonly/> inside the <disk> with target vda"));
    }
}
