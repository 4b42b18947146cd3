//! Options from tuning folklore that do not exist (`-enable-dma`,
//! `dmqueue_size`, `dmblksz`, `sriov`), and other options the parsers did
//! not know.

use isotune_vmconfig::{ConfigIssue, IssueKind, VmDefinition};

use crate::describe::{issue_subject, virsh_edit, where_to_edit, Style};
use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};
use crate::fix::{ArgvEdit, DomainEdit, FixEdit};
use crate::rules::drive::{ignored_iothreads, reported_as_iothread_ignored};
use crate::rules::Rule;

/// A myth: an option that does not exist, and what to do instead.
#[derive(Debug)]
struct Myth {
    /// The option's key, normalised (no dashes, lower case, no `=value`).
    key: &'static str,
    /// Whether the key only has to contain `key` (`sriov`, `sriov_enable`, ...).
    contains: bool,
    /// What is true instead, and the real knob.
    truth: &'static str,
}

const MYTHS: &[Myth] = &[
    Myth {
        key: "enable-dma",
        contains: false,
        truth: "`-enable-dma` is not a QEMU option. IDE DMA is negotiated by the guest's \
                driver with the emulated controller; there is nothing to switch on. The real \
                lever is the bus: attach the cdrom to virtio-scsi (or AHCI) instead of IDE.",
    },
    Myth {
        key: "dmqueue_size",
        contains: false,
        truth: "`dmqueue_size` does not exist. The real knobs are virtio-blk's `queue-size` \
                (`-device virtio-blk-pci,queue-size=256`) and virtio-scsi's `virtqueue_size` \
                (`-device virtio-scsi-pci,virtqueue_size=256`); they do not apply to IDE, and \
                a boot reading an ISO rarely keeps more than a few requests in flight.",
    },
    Myth {
        key: "dmblksz",
        contains: false,
        truth: "`dmblksz` does not exist. Block sizes are device properties \
                (`logical_block_size`/`physical_block_size` on virtio-blk/scsi-hd), and a \
                cdrom has 2048-byte sectors by definition. Request sizes come from the bus \
                and the guest driver: use virtio-scsi for the cdrom.",
    },
    Myth {
        key: "sriov",
        contains: true,
        truth: "There is no SR-IOV switch for KVM or for a cdrom. SR-IOV is enabled per PCI \
                function with `echo N > /sys/bus/pci/devices/BDF/sriov_numvfs` on capable NICs \
                and NVMe drives, and has nothing to do with how fast a VM reads an ISO.",
    },
];

/// The key of an option as the parsers write it: `-enable-dma`,
/// `dmqueue_size=1024`, libvirt's `dmqueue_size='1024'` or `<dmqueue_size>`.
fn normalise(option: &str) -> String {
    let key = option.trim().trim_start_matches(['-', '<']);
    let key = key.split(['=', ' ', '>', '/']).next().unwrap_or(key);
    key.to_ascii_lowercase()
}

fn myth_of(option: &str) -> Option<&'static Myth> {
    let key = normalise(option);
    MYTHS.iter().find(|m| {
        if m.contains {
            key.contains(m.key)
        } else {
            key == m.key
        }
    })
}

/// `myth.nonexistent-option`.
pub(crate) const NONEXISTENT_OPTION: Rule = Rule {
    id: "myth.nonexistent-option",
    layer: Layer::VmConfig,
    severity: Severity::Error,
    title: "An option from tuning folklore that does not exist",
    why: "Popular tuning articles recommend `-enable-dma`, `dmqueue_size=1024`, \
          `dmblksz=4096` and an SR-IOV \"enable\" for KVM. None of them exists: QEMU refuses \
          to start with an unknown option (\"-enable-dma: invalid option\"), and libvirt \
          drops unknown XML silently, so the setting never did anything. The real levers \
          are the cdrom bus, cache.direct, aio, iothreads (virtio only), host readahead and \
          the storage under the ISO.",
    reference:
        "https://www.qemu.org/docs/master/system/invocation.html (the complete option list); \
                https://www.qemu.org/docs/master/system/devices/virtio/ (queue-size); \
                kernel Documentation/ABI/testing/sysfs-bus-pci (sriov_numvfs)",
    check: nonexistent_option,
};

fn remove_fix(vm: &VmDefinition, issue: &ConfigIssue) -> String {
    format!("Remove `{}` ({}).", issue.option, where_to_edit(vm))
}

/// The edit removing the option `issue` is about: the option itself on a
/// command line; on a libvirt `<disk>`, the `<driver>` attribute or the
/// child element. `None` elsewhere (`<qemu:commandline>`).
pub(crate) fn removal(vm: &VmDefinition, issue: &ConfigIssue) -> Option<FixEdit> {
    match Style::of(vm) {
        // In a Proxmox VM's `args:` line: removed by hand (the text says where).
        Style::Proxmox => None,
        Style::Qemu => Some(FixEdit::Argv {
            edits: vec![ArgvEdit::RemoveOption {
                option: issue.option.clone(),
            }],
        }),
        Style::Libvirt => {
            let n: usize = issue.context.strip_prefix("<disk> #")?.parse().ok()?;
            let target = vm.drives.get(n.checked_sub(1)?)?.id.clone()?;
            let edit = if let Some(name) = issue
                .option
                .strip_prefix('<')
                .and_then(|o| o.strip_suffix('>'))
            {
                DomainEdit::RemoveDiskChild {
                    target,
                    name: name.to_string(),
                }
            } else {
                let (name, _) = issue.option.split_once('=')?;
                DomainEdit::SetDriver {
                    target,
                    set: vec![],
                    remove: vec![name.to_string()],
                }
            };
            Some(FixEdit::Domain {
                open: virsh_edit(vm),
                edits: vec![edit],
            })
        }
    }
}

fn nonexistent_option(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for vm in &facts.vms {
        for issue in vm.issues.iter().filter(|i| i.kind == IssueKind::Unknown) {
            let Some(myth) = myth_of(&issue.option) else {
                continue;
            };
            let (severity, effect) = match Style::of(vm) {
                // A Proxmox VM's `args:` go to QEMU as they are.
                Style::Qemu | Style::Proxmox => (Severity::Error, "QEMU refuses to start with it"),
                Style::Libvirt => (
                    Severity::Warn,
                    "libvirt drops it, so it never had an effect",
                ),
            };
            let title = format!("`{}` does not exist: {effect}", issue.option);
            let subject = issue_subject(vm, issue);
            let evidence = vec![
                format!("option: {}", issue.option),
                format!("parser: {}", issue.message),
            ];
            out.push(match removal(vm, issue) {
                Some(edit) => NONEXISTENT_OPTION
                    .finding_edit(severity, title, subject, evidence, edit, myth.truth),
                None => NONEXISTENT_OPTION.finding(
                    severity,
                    title,
                    subject,
                    evidence,
                    format!("{} {}", remove_fix(vm, issue), myth.truth),
                ),
            });
        }
    }
    out
}

/// `config.unknown-option`.
pub(crate) const UNKNOWN_OPTION: Rule = Rule {
    id: "config.unknown-option",
    layer: Layer::VmConfig,
    severity: Severity::Warn,
    title: "An option the parser does not know, or an invalid value",
    why: "isotune's parsers know the QEMU and libvirt options that affect storage; an \
          option outside that set is either a typo or invented (QEMU then refuses to \
          start; libvirt drops unknown XML silently) or a real option isotune cannot judge. \
          An invalid value usually means QEMU will refuse it or fall back to a default.",
    reference: "https://www.qemu.org/docs/master/system/invocation.html; \
                https://libvirt.org/formatdomain.html",
    check: unknown_option,
};

fn unknown_option(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for vm in &facts.vms {
        // Once per VM: one lookup per issue keeps this linear.
        let ignored = ignored_iothreads(vm);
        for issue in &vm.issues {
            if reported_as_iothread_ignored(&ignored, issue) {
                continue;
            }
            let what = match issue.kind {
                IssueKind::Unknown if myth_of(&issue.option).is_none() => "unknown option",
                IssueKind::Invalid => "invalid value",
                _ => continue,
            };
            out.push(UNKNOWN_OPTION.finding(
                Severity::Warn,
                format!("{what} `{}`", issue.option),
                issue_subject(vm, issue),
                vec![
                    format!("option: {}", issue.option),
                    format!("parser: {}", issue.message),
                ],
                format!(
                    "Check `{}` against the QEMU/libvirt documentation; if it is not there, remove it ({}).",
                    issue.option,
                    where_to_edit(vm)
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{example, healthy};

    #[test]
    fn myths_are_recognised_in_any_spelling() {
        for o in [
            "-enable-dma",
            "--enable-dma",
            "dmqueue_size=1024",
            "DMBLKSZ=4096",
            "sriov",
            "sriov_enable=1",
            "dmqueue_size='1024'",
            "<dmqueue_size>",
            "<enable-dma/>",
        ] {
            assert!(myth_of(o).is_some(), "{o}");
        }
        for o in ["queue-size=256", "-enable-kvm", "dma"] {
            assert!(myth_of(o).is_none(), "{o}");
        }
    }

    #[test]
    fn enable_dma_on_qemu_is_an_error_naming_the_real_lever() {
        let f = nonexistent_option(&example("myth.nonexistent-option").unwrap());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
        assert!(f[0].fix.starts_with("Remove `-enable-dma`"));
        assert!(f[0].fix.contains("virtio-scsi"));
        // Not reported twice.
        assert!(unknown_option(&example("myth.nonexistent-option").unwrap()).is_empty());
        assert!(nonexistent_option(&healthy()).is_empty());
    }

    #[test]
    fn myth_in_libvirt_xml_is_a_warning() {
        let mut facts = healthy();
        facts.vms[0].issues.push(ConfigIssue {
            kind: IssueKind::Unknown,
            option: "dmqueue_size".into(),
            context: "<disk> #1".into(),
            message: "unknown attribute".into(),
        });
        let f = nonexistent_option(&facts);
        assert_eq!(f[0].severity, Severity::Warn);
        assert!(f[0].fix.contains("virtqueue_size"));
    }

    #[test]
    fn myths_in_literal_libvirt_xml_warn_and_others_are_unknown_options() {
        let xml = "<domain type='kvm'><name>w</name><devices>
          <disk type='file' device='cdrom'>
            <driver name='qemu' type='raw' dmqueue_size='1024' dmblksz='4096' turbo='on'/>
            <source file='/isos/a.iso'/><target dev='sda' bus='sata'/><readonly/>
            <dmqueue_size>1024</dmqueue_size><enable-dma/><sriov enable='yes'/><fancy/>
          </disk></devices></domain>";
        let origin = isotune_vmconfig::Origin::LibvirtXml {
            path: "/etc/libvirt/qemu/w.xml".into(),
        };
        let vm = isotune_vmconfig::parse_domain_xml(xml, origin).unwrap();
        let facts = Facts {
            vms: vec![vm],
            ..Facts::default()
        };
        let f = nonexistent_option(&facts);
        let titles: Vec<&str> = f.iter().map(|f| f.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "`<dmqueue_size>` does not exist: libvirt drops it, so it never had an effect",
                "`<enable-dma>` does not exist: libvirt drops it, so it never had an effect",
                "`<sriov>` does not exist: libvirt drops it, so it never had an effect",
                "`dmqueue_size='1024'` does not exist: libvirt drops it, so it never had an effect",
                "`dmblksz='4096'` does not exist: libvirt drops it, so it never had an effect",
            ]
        );
        for finding in &f {
            assert_eq!(finding.severity, Severity::Warn);
            assert_eq!(finding.subject, "VM \"w\" <disk> #1");
            assert!(finding.fix.contains("`virsh edit w`"), "{}", finding.fix);
        }
        assert!(f[3].fix.contains("virtqueue_size"), "{}", f[3].fix);
        let u = unknown_option(&facts);
        let titles: Vec<&str> = u.iter().map(|f| f.title.as_str()).collect();
        assert_eq!(
            titles,
            ["unknown option `<fancy>`", "unknown option `turbo='on'`"]
        );
        assert!(u.iter().all(|f| f.severity == Severity::Warn));
    }

    #[test]
    fn other_unknown_options_and_invalid_values() {
        let f = unknown_option(&example("config.unknown-option").unwrap());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].title, "unknown option `-cdrom-turbo`");
        assert!(nonexistent_option(&example("config.unknown-option").unwrap()).is_empty());
        assert!(unknown_option(&healthy()).is_empty());
    }
}
