//! The accelerator a VM gets: KVM, TCG (everything emulated), or a
//! paravirtual nested KVM whose numbers do not describe a real host.

use isotune_host::AccelFacts;
use isotune_vmconfig::{Accel, Origin, VmDefinition};

use crate::describe::{proxmox_vmid, virsh_edit, vm_label, Style};
use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};
use crate::fix::{ArgvEdit, DomainEdit, FixEdit, QmEdit};
use crate::rules::Rule;

/// `accel.no-kvm`.
pub(crate) const NO_KVM: Rule = Rule {
    id: "accel.no-kvm",
    layer: Layer::Accelerator,
    severity: Severity::Error,
    title: "A VM that runs (or would run) without KVM",
    why: "Without KVM, QEMU runs the guest under TCG: every guest instruction is \
          translated and emulated, the firmware, the boot loader and the kernel's \
          decompression included, which makes a boot many times slower whatever the \
          storage does. QEMU's default accelerator is TCG, so a command line without \
          `-accel kvm` (or `-enable-kvm`) and a libvirt domain of type 'qemu' both run \
          emulated. A VM that asks only for KVM on a host without a usable /dev/kvm does \
          not start at all. A VM's own choice of TCG is reported wherever isotune runs \
          (the same XML gets the same finding): as an error, and first, when the host \
          has usable KVM; as a warning naming what the host has when it has no usable \
          KVM, only a paravirtual nested one (kvm_pvm), or was not examined.",
    reference: "https://www.qemu.org/docs/master/system/invocation.html (-accel); \
                https://libvirt.org/formatdomain.html#element-and-attribute-overview (<domain type=>); \
                https://www.linux-kvm.org/page/FAQ",
    check: no_kvm,
};

/// What the host offers, as far as KVM goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kvm {
    /// Usable (or not examined).
    Usable,
    /// No /dev/kvm.
    Missing,
    /// /dev/kvm exists but this user cannot open it.
    NoAccess,
}

fn host_kvm(facts: &Facts, origin: &Origin) -> Kvm {
    let Some(host) = &facts.host else {
        return Kvm::Usable;
    };
    if !host.accel.kvm_device {
        Kvm::Missing
    } else if host.accel.kvm_accessible == Some(false)
        && !matches!(origin, Origin::LibvirtXml { .. })
    {
        // libvirt runs QEMU as its own user: this user's access does not matter there.
        Kvm::NoAccess
    } else {
        Kvm::Usable
    }
}

fn asks_kvm(vm: &VmDefinition) -> bool {
    vm.accel.contains(&Accel::Kvm) || vm.domain_type.as_deref() == Some("kvm")
}

/// Whether the VM runs under TCG: a libvirt domain of type 'qemu', or a
/// command line whose first accelerator is TCG (QEMU takes the first one
/// that works, and TCG always works) or that names none (QEMU's default).
fn tcg_only(vm: &VmDefinition) -> bool {
    match vm.domain_type.as_deref() {
        Some("qemu") => true,
        Some("kvm") => false,
        // Another hypervisor (xen, lxc, libvirt's test driver): not QEMU's TCG.
        Some(_) => vm.accel.first() == Some(&Accel::Tcg),
        None => vm.accel.first().is_none_or(|a| *a == Accel::Tcg),
    }
}

/// Whether KVM is asked for, but only after TCG (`-accel tcg -accel kvm`),
/// so it is never used.
fn kvm_after_tcg(vm: &VmDefinition) -> bool {
    vm.accel.first() == Some(&Accel::Tcg) && vm.accel.contains(&Accel::Kvm)
}

fn host_evidence(accel: &AccelFacts) -> Vec<String> {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mut e = vec![
        format!(
            "/dev/kvm: {}",
            if accel.kvm_device {
                "present"
            } else {
                "absent"
            }
        ),
        format!(
            "CPU virtualisation flags: vmx {}, svm {}",
            yes(accel.vmx),
            yes(accel.svm)
        ),
        format!(
            "KVM modules loaded: {}",
            if accel.kvm_modules.is_empty() {
                "none".to_string()
            } else {
                accel.kvm_modules.join(", ")
            }
        ),
    ];
    if let Some(a) = accel.kvm_accessible {
        e.push(format!("/dev/kvm read-write for this user: {}", yes(a)));
    }
    if accel.hypervisor {
        e.push("this host is itself a VM (hypervisor CPU flag)".into());
    }
    e
}

fn host_fix(accel: &AccelFacts) -> String {
    if !accel.kvm_device {
        if accel.vmx {
            "Load KVM: `sudo modprobe kvm_intel` (persist: `echo kvm_intel | sudo tee /etc/modules-load.d/kvm.conf`).".into()
        } else if accel.svm {
            "Load KVM: `sudo modprobe kvm_amd` (persist: `echo kvm_amd | sudo tee /etc/modules-load.d/kvm.conf`).".into()
        } else if accel.hypervisor {
            "This host is a VM whose CPU has no vmx/svm: enable nested virtualisation on the \
             outer host (`kvm_intel nested=1` / `kvm_amd nested=1`, and pass the CPU flag \
             through, e.g. `-cpu host`), or run the VMs on a bare-metal host."
                .into()
        } else {
            "The CPU shows no vmx/svm: enable Intel VT-x / AMD-V (SVM) in the firmware setup, then `sudo modprobe kvm_intel` or `kvm_amd`.".into()
        }
    } else {
        "Give this user access to /dev/kvm: `sudo usermod -aG kvm \"$USER\"` and log in again \
         (check with `ls -l /dev/kvm`)."
            .into()
    }
}

fn no_kvm(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    let pvm = facts.host.as_ref().is_some_and(|h| h.accel.pvm);
    for vm in &facts.vms {
        let kvm = host_kvm(facts, &vm.origin);
        let mut evidence = vec![format!(
            "accelerators asked for: {}",
            if vm.accel.is_empty() {
                "none (QEMU's default: TCG)".to_string()
            } else {
                vm.accel
                    .iter()
                    .map(|a| match a {
                        Accel::Kvm => "kvm".to_string(),
                        Accel::Tcg => "tcg".to_string(),
                        Accel::Other(o) => o.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )];
        if let Some(t) = &vm.domain_type {
            evidence.push(format!("libvirt domain type: {t}"));
        }
        let host = facts.host.as_ref().map(|h| &h.accel);
        if tcg_only(vm) {
            // The domain's own choice of TCG is always reported; the host
            // facts only decide how bad it is, and the evidence says which
            // facts the verdict used.
            let shadowed = vm.domain_type.is_none() && kvm_after_tcg(vm);
            let mut note = String::new();
            let title = if shadowed {
                format!(
                    "{} runs under TCG: tcg is listed before kvm, and QEMU takes the first \
                     accelerator that works",
                    vm_label(vm)
                )
            } else {
                format!(
                    "{} runs under TCG: every instruction is emulated",
                    vm_label(vm)
                )
            };
            let severity = match host {
                None => {
                    evidence.push(
                        "host: not examined, so whether KVM is usable there is unknown".into(),
                    );
                    Severity::Warn
                }
                Some(h) if pvm => {
                    evidence.extend(host_evidence(h));
                    evidence.push(
                        "host KVM: paravirtual nested (kvm_pvm), where TCG is the better \
                         choice (see accel.nested-pvm); on a host with real KVM this is an error"
                            .into(),
                    );
                    note = "On a host with real KVM only.".to_string();
                    Severity::Warn
                }
                Some(h) if kvm != Kvm::Usable => {
                    evidence.extend(host_evidence(h));
                    evidence.push("host KVM: not usable".into());
                    note = format!("Before that, on the host: {}", host_fix(h));
                    Severity::Warn
                }
                Some(h) => {
                    evidence.extend(host_evidence(h));
                    evidence.push("host KVM: usable, yet this VM does not use it".into());
                    Severity::Error
                }
            };
            let edit = match Style::of(vm) {
                Style::Libvirt => FixEdit::Domain {
                    open: virsh_edit(vm),
                    edits: vec![DomainEdit::DomainType {
                        value: "kvm".into(),
                    }],
                },
                // `kvm: 0` is how a Proxmox VM gets TCG.
                Style::Proxmox => FixEdit::Qm {
                    vmid: proxmox_vmid(vm).unwrap_or_default(),
                    edits: vec![QmEdit::Set {
                        key: "kvm".into(),
                        value: "1".into(),
                    }],
                },
                Style::Qemu => FixEdit::Argv {
                    edits: vec![ArgvEdit::SetAccel {
                        accels: if shadowed {
                            vec!["kvm".into(), "tcg".into()]
                        } else {
                            vec!["kvm".into()]
                        },
                    }],
                },
            };
            if !shadowed && Style::of(vm) == Style::Qemu {
                note = format!(
                    "{note} (`-accel kvm -accel tcg` falls back to TCG where KVM is missing)"
                )
                .trim()
                .to_string();
            }
            out.push(NO_KVM.finding_edit(severity, title, vm_label(vm), evidence, edit, &note));
        } else if asks_kvm(vm) && kvm != Kvm::Usable {
            let Some(h) = host else { continue };
            evidence.extend(host_evidence(h));
            let falls_back = Style::of(vm) == Style::Qemu
                && vm
                    .accel
                    .iter()
                    .skip_while(|a| **a != Accel::Kvm)
                    .any(|a| *a == Accel::Tcg);
            let (severity, title) = if falls_back {
                (
                    Severity::Warn,
                    format!("{} asks for KVM but will fall back to TCG", vm_label(vm)),
                )
            } else {
                (
                    Severity::Error,
                    format!(
                        "{} asks for KVM, which this host cannot give: it will not start",
                        vm_label(vm)
                    ),
                )
            };
            out.push(NO_KVM.finding(severity, title, vm_label(vm), evidence, host_fix(h)));
        }
    }
    if facts.vms.is_empty() {
        if let Some(h) = &facts.host {
            if !h.accel.kvm_device {
                out.push(NO_KVM.finding(
                    Severity::Warn,
                    "no /dev/kvm: VMs on this host run under TCG".into(),
                    "/dev/kvm".into(),
                    host_evidence(&h.accel),
                    host_fix(&h.accel),
                ));
            }
        }
    }
    out
}

/// `accel.nested-pvm`.
pub(crate) const NESTED_PVM: Rule = Rule {
    id: "accel.nested-pvm",
    layer: Layer::Accelerator,
    severity: Severity::Warn,
    title: "/dev/kvm is a paravirtual nested KVM (kvm_pvm)",
    why: "This host is a VM and its /dev/kvm comes from a paravirtual nested KVM \
          (kvm_pvm). Guest real-mode code, which is all of the BIOS firmware phase, is \
          emulated there: measured 40x slower than plain TCG for a SeaBIOS boot \
          (scripts/bench/accel.sh, docs/BENCHMARKS.md), and \
          unmodified Linux guests may crash. Boot timings taken here describe neither a \
          real KVM host nor TCG.",
    reference: "https://github.com/virt-pvm/linux (kvm_pvm); \
                https://www.qemu.org/docs/master/system/invocation.html (-accel)",
    check: nested_pvm,
};

fn nested_pvm(facts: &Facts) -> Vec<Finding> {
    let Some(host) = &facts.host else {
        return Vec::new();
    };
    if !host.accel.pvm {
        return Vec::new();
    }
    let mut evidence = host_evidence(&host.accel);
    let kvm_vms: Vec<String> = facts
        .vms
        .iter()
        .filter(|v| asks_kvm(v))
        .map(vm_label)
        .collect();
    if !kvm_vms.is_empty() {
        evidence.push(format!("asking for KVM here: {}", kvm_vms.join(", ")));
    }
    vec![NESTED_PVM.finding(
        Severity::Warn,
        "/dev/kvm is kvm_pvm: firmware code runs far slower than under TCG".into(),
        "/dev/kvm".into(),
        evidence,
        "To measure on this machine use `-accel tcg` (libvirt: <domain type='qemu'>); for \
         numbers that describe production, run on a bare-metal KVM host."
            .into(),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{example, healthy, qemu_vm};

    #[test]
    fn libvirt_qemu_domain_runs_under_tcg() {
        let f = no_kvm(&example("accel.no-kvm").unwrap());
        assert_eq!(f.len(), 1);
        // The host has usable KVM: an error.
        assert_eq!(f[0].severity, Severity::Error);
        assert!(f[0]
            .evidence
            .iter()
            .any(|e| e == "host KVM: usable, yet this VM does not use it"));
        assert!(f[0].fix.contains("<domain type='kvm'>"));
        assert!(no_kvm(&healthy()).is_empty());
    }

    /// The same XML gets a TCG finding wherever isotune runs; only its
    /// severity and evidence follow the host facts.
    #[test]
    fn tcg_domain_is_reported_on_any_host_saying_which_facts_were_used() {
        let mut facts = example("accel.no-kvm").unwrap();
        facts.host = None;
        let f = no_kvm(&facts);
        assert_eq!(f[0].severity, Severity::Warn);
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e.starts_with("host: not examined")),
            "{:?}",
            f[0].evidence
        );
        let mut facts = example("accel.no-kvm").unwrap();
        facts.host.as_mut().unwrap().accel.kvm_device = false;
        let f = no_kvm(&facts);
        assert_eq!(f[0].severity, Severity::Warn);
        assert!(f[0].evidence.iter().any(|e| e == "/dev/kvm: absent"));
        let mut facts = example("accel.no-kvm").unwrap();
        facts.host.as_mut().unwrap().accel.pvm = true;
        let f = no_kvm(&facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warn);
        assert!(f[0].evidence.iter().any(|e| e.contains("kvm_pvm")));
        // And it leads the report on a KVM host.
        let mut facts = example("accel.no-kvm").unwrap();
        facts.vms[0].drives[0].bus = isotune_vmconfig::Bus::Ide;
        facts.vms[0].drives[0].aio = Some(isotune_vmconfig::Aio::Native);
        let all = crate::diagnose(&facts);
        assert_eq!(all[0].id, "accel.no-kvm", "{all:#?}");
    }

    #[test]
    fn command_line_without_accel_is_tcg() {
        let mut facts = healthy();
        facts.vms = vec![qemu_vm()];
        facts.vms[0].accel.clear();
        let f = no_kvm(&facts);
        assert_eq!(f.len(), 1);
        assert!(f[0].fix.contains("-accel kvm"));
    }

    #[test]
    fn tcg_listed_before_kvm_runs_under_tcg() {
        let mut facts = healthy();
        facts.vms = vec![qemu_vm()];
        facts.vms[0].accel = vec![Accel::Tcg, Accel::Kvm];
        let f = no_kvm(&facts);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
        assert!(f[0].title.contains("runs under TCG"), "{}", f[0].title);
        assert!(f[0].fix.contains("`-accel kvm -accel tcg`"), "{}", f[0].fix);
        assert!(
            f[0].evidence[0].ends_with("tcg, kvm"),
            "{:?}",
            f[0].evidence
        );
        // kvm first falls back to TCG only without KVM: nothing to say here.
        facts.vms[0].accel = vec![Accel::Kvm, Accel::Tcg];
        assert!(no_kvm(&facts).is_empty());
    }

    #[test]
    fn parsed_command_lines_tcg_first_and_qemu_kvm() {
        let parse = |argv: &[&str]| {
            let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
            isotune_vmconfig::parse_argv(&argv, Origin::QemuCmdline)
        };
        let mut facts = healthy();
        facts.vms = vec![parse(&[
            "qemu-system-x86_64",
            "-accel",
            "tcg,thread=multi",
            "-accel",
            "kvm",
            "-cdrom",
            "/x.iso",
        ])];
        let f = no_kvm(&facts);
        assert_eq!(f.len(), 1);
        assert!(f[0].fix.contains("-accel kvm -accel tcg"), "{}", f[0].fix);
        // RHEL's qemu-kvm defaults to KVM: no TCG finding.
        facts.vms = vec![parse(&[
            "/usr/libexec/qemu-kvm",
            "-m",
            "2G",
            "-cdrom",
            "/x.iso",
        ])];
        assert!(no_kvm(&facts).is_empty(), "{:?}", no_kvm(&facts));
        // ...but a plain qemu-system binary without an accelerator is TCG.
        facts.vms = vec![parse(&[
            "qemu-system-x86_64",
            "-m",
            "2G",
            "-cdrom",
            "/x.iso",
        ])];
        assert_eq!(no_kvm(&facts).len(), 1);
    }

    #[test]
    fn kvm_only_without_dev_kvm_is_an_error_and_fallback_a_warning() {
        let mut facts = healthy();
        facts.host.as_mut().unwrap().accel.kvm_device = false;
        let f = no_kvm(&facts);
        assert_eq!(f[0].severity, Severity::Error);
        assert!(f[0].fix.contains("modprobe kvm_intel"));
        facts.vms = vec![qemu_vm()];
        facts.vms[0].accel = vec![Accel::Kvm, Accel::Tcg];
        assert_eq!(no_kvm(&facts)[0].severity, Severity::Warn);
    }

    #[test]
    fn inaccessible_kvm_matters_for_command_lines_not_libvirt() {
        let mut facts = healthy();
        facts.host.as_mut().unwrap().accel.kvm_accessible = Some(false);
        assert!(no_kvm(&facts).is_empty());
        facts.vms = vec![qemu_vm()];
        let f = no_kvm(&facts);
        assert!(f[0].fix.contains("usermod -aG kvm"));
    }

    #[test]
    fn host_without_vms_and_without_kvm() {
        let mut facts = healthy();
        facts.vms.clear();
        assert!(no_kvm(&facts).is_empty());
        facts.host.as_mut().unwrap().accel.kvm_device = false;
        assert_eq!(no_kvm(&facts)[0].subject, "/dev/kvm");
    }

    #[test]
    fn pvm_host_is_reported_and_tcg_there_is_a_warning() {
        let mut facts = example("accel.nested-pvm").unwrap();
        let f = nested_pvm(&facts);
        assert_eq!(f.len(), 1);
        assert!(f[0].evidence.iter().any(|e| e.contains("VM \"web1\"")));
        facts.vms[0].domain_type = Some("qemu".into());
        facts.vms[0].accel = vec![Accel::Tcg];
        // TCG is reported, as a warning that names the paravirtual KVM.
        let f = no_kvm(&facts);
        assert_eq!(f[0].severity, Severity::Warn);
        assert!(f[0].evidence.iter().any(|e| e.contains("kvm_pvm")));
        assert!(nested_pvm(&healthy()).is_empty());
    }
}
