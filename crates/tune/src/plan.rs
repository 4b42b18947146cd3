//! From the doctor's findings to a [`Plan`]: the findings isotune can fix
//! itself become changes, the rest are listed for a person.
//!
//! `storage.low-readahead` becomes two changes on the device whose queue
//! the ISO's reads go through: its `queue/read_ahead_kb` now (sysfs), and a
//! line in `/etc/udev/rules.d/60-isotune-readahead.rules` that sets it again
//! whenever the device appears. The rule names the device by a stable
//! attribute, never by `sdX` (kernel names change between boots): the WWN
//! (`wwid`) or serial of a disk (from sysfs, else from udev's database), the uuid of a device-mapper or md device,
//! and for a loop device, which has neither, its `loop/backing_file` (the
//! same file attached again gets the same readahead, whatever loopN it
//! gets). A device with no stable attribute gets the sysfs change only,
//! with a note saying so.

use std::path::{Path, PathBuf};

use isotune_doctor::{Facts, Finding, Severity};
use isotune_host::{BlockLayer, LayerKind};

use isotune_doctor::fix::{DomainEdit, FixEdit, FixError};
use isotune_vmconfig::{LibvirtConfig, Origin};

use crate::backend;
use crate::domain;
use crate::error::Error;
use crate::model::{
    Bus, Change, ChangeNote, DomainChange, Effect, Manual, Plan, Roots, Target, PLAN_SCHEMA_VERSION,
};

/// Choices the plan is made with.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--bus`: the bus an IDE cdrom moves to (default: virtio-scsi for a
    /// Linux guest per libosinfo, else SATA).
    pub bus: Option<Bus>,
}

/// A finding about a libvirt domain that carries edits of its XML.
struct DomainFinding<'a> {
    finding: &'a Finding,
    uri: String,
    domain: String,
    running: bool,
    edits: Vec<DomainEdit>,
}

/// The readahead isotune sets: 4 MiB, the value the doctor's fix proposes.
pub const READAHEAD_KB: u32 = 4096;

/// The udev rule file isotune owns.
pub const RULE_FILE: &str = "/etc/udev/rules.d/60-isotune-readahead.rules";

const RULE_HEADER: &str = "# Written by isotune tune apply (storage.low-readahead). \
`isotune tune rollback` restores the previous content.\n";

/// Builds the plan for `findings` (made from `facts`), reading current
/// values under `roots`.
pub fn plan(
    facts: &Facts,
    findings: &[Finding],
    roots: &Roots,
    opts: &PlanOptions,
) -> Result<Plan, Error> {
    let mut changes = Vec::new();
    let mut manual = Vec::new();
    let mut domain_findings = Vec::new();
    let rule_target = Target::File {
        path: PathBuf::from(RULE_FILE),
    };
    let rule_before = backend::read(roots, &rule_target)?;
    let mut rule_text = rule_before
        .clone()
        .unwrap_or_else(|| RULE_HEADER.to_owned());
    let mut rule_subjects = Vec::new();
    for f in findings {
        let layer = (f.id == "storage.low-readahead")
            .then(|| layer_named(facts, f.subject.trim_start_matches("/dev/")))
            .flatten();
        let Some(layer) = layer else {
            if let Some(d) = domain_finding(facts, f) {
                domain_findings.push(d);
                continue;
            }
            if f.severity != Severity::Info {
                manual.push(Manual {
                    finding: f.id.to_owned(),
                    subject: f.subject.clone(),
                    title: f.title.clone(),
                    fix: f.fix.clone(),
                });
            }
            continue;
        };
        let name = &layer.name;
        let target = Target::Sysfs {
            path: PathBuf::from(format!("/sys/block/{name}/queue/read_ahead_kb")),
        };
        let current = backend::read(roots, &target)?;
        let stable = stable_match(roots, layer);
        changes.push(Change {
            id: format!("readahead:{name}"),
            finding: f.id.to_owned(),
            subject: f.subject.clone(),
            target,
            current,
            new: READAHEAD_KB.to_string(),
            effect: Effect::Now,
            persists: false,
            domain: None,
            note: stable.is_none().then(|| ChangeNote::NotPersisted {
                device: name.clone(),
            }),
        });
        if let Some((key, value)) = stable {
            let matcher = format!("{key}==\"{}\"", escape(&value));
            // One line per device: a line for the same device is replaced.
            rule_text = rule_text
                .lines()
                .filter(|l| !l.contains(&matcher))
                .map(|l| format!("{l}\n"))
                .collect();
            rule_text.push_str(&format!(
                "ACTION==\"add|change\", SUBSYSTEM==\"block\", {matcher}, \
                 ATTR{{queue/read_ahead_kb}}=\"{READAHEAD_KB}\"\n"
            ));
            rule_subjects.push(f.subject.clone());
        }
    }
    if !rule_subjects.is_empty() && rule_before.as_deref() != Some(rule_text.as_str()) {
        changes.push(Change {
            id: "readahead-rule".to_owned(),
            finding: "storage.low-readahead".to_owned(),
            subject: rule_subjects.join(", "),
            target: rule_target,
            current: rule_before,
            new: rule_text,
            effect: Effect::NextBoot,
            persists: true,
            note: None,
            domain: None,
        });
    }
    plan_domains(&domain_findings, opts, &mut changes, &mut manual)?;
    Ok(Plan {
        schema_version: PLAN_SCHEMA_VERSION,
        changes,
        manual,
        roots: roots.clone(),
    })
}

/// The finding as a libvirt domain change, when it is about a domain read
/// through libvirtd and carries XML edits isotune makes. The accelerator
/// (`<domain type>`) is a host decision and stays manual.
fn domain_finding<'a>(facts: &Facts, f: &'a Finding) -> Option<DomainFinding<'a>> {
    let Some(FixEdit::Domain { edits, .. }) = &f.edit else {
        return None;
    };
    if edits
        .iter()
        .any(|e| matches!(e, DomainEdit::DomainType { .. }))
    {
        return None;
    }
    facts.vms.iter().find_map(|vm| match &vm.origin {
        Origin::Libvirt {
            uri,
            domain,
            config,
        } if f.subject.starts_with(&format!("VM \"{domain}\"")) => Some(DomainFinding {
            finding: f,
            uri: uri.clone(),
            domain: domain.clone(),
            running: *config == LibvirtConfig::Live,
            edits: edits.clone(),
        }),
        _ => None,
    })
}

/// One change per domain finding, planned in order on the persistent XML
/// as the previous changes of the same domain leave it. A finding whose
/// drive an earlier change already replaced (the cdrom moved off IDE also
/// gets `type='raw'` and `<readonly/>`) has nothing left to do.
fn plan_domains(
    found: &[DomainFinding<'_>],
    opts: &PlanOptions,
    changes: &mut Vec<Change>,
    manual: &mut Vec<Manual>,
) -> Result<(), Error> {
    let mut xmls: Vec<(String, String, String)> = Vec::new();
    // Each domain's persistent XML as read, before any planned change.
    let mut first: Vec<String> = Vec::new();
    for d in found {
        let pos = match xmls
            .iter()
            .position(|(u, n, _)| *u == d.uri && *n == d.domain)
        {
            Some(p) => p,
            None => {
                let xml = isotune_libvirt::inactive_xml(&d.uri, &d.domain)?;
                first.push(xml.clone());
                xmls.push((d.uri.clone(), d.domain.clone(), xml));
                xmls.len() - 1
            }
        };
        let before = xmls[pos].2.clone();
        let mut edits = domain::reindent(&before, &d.edits);
        let mut bus = None;
        if domain::moves_to_scsi(&edits) {
            let choice = domain::choose_bus(&before, opts.bus);
            if choice.bus == Bus::Sata {
                edits = domain::to_sata(&edits);
            }
            bus = Some(choice);
        }
        let after = match domain::edit(&before, &edits) {
            Ok(x) => x,
            // Replaced by an earlier change of this domain in this plan.
            Err(FixError::NoDisk(_)) if before != first[pos] => continue,
            Err(e) => {
                manual.push(Manual {
                    finding: d.finding.id.to_owned(),
                    subject: d.finding.subject.clone(),
                    title: d.finding.title.clone(),
                    fix: format!(
                        "{} (isotune cannot apply it to the persistent XML: {e})",
                        d.finding.fix
                    ),
                });
                continue;
            }
        };
        if after == before {
            continue;
        }
        let (Some(from), Some(to)) = (domain::source_element(&edits), domain::element_of(&edits))
        else {
            continue;
        };
        changes.push(Change {
            id: format!("libvirt:{}:{to}:{}", d.domain, d.finding.id),
            finding: d.finding.id.to_owned(),
            subject: d.finding.subject.clone(),
            target: Target::Domain {
                uri: d.uri.clone(),
                domain: d.domain.clone(),
                element: to.clone(),
            },
            current: domain::summary(&before, &from),
            new: domain::summary(&after, &to).unwrap_or_default(),
            effect: if d.running {
                Effect::NextStart
            } else {
                Effect::Now
            },
            persists: true,
            note: None,
            domain: Some(DomainChange {
                diff: domain::unified_diff(&before, &after, &format!("{}.xml", d.domain)),
                edits,
                running: d.running,
                bus,
            }),
        });
        xmls[pos].2 = after;
    }
    Ok(())
}

fn layer_named<'a>(facts: &'a Facts, name: &str) -> Option<&'a BlockLayer> {
    facts
        .files
        .iter()
        .flat_map(|f| &f.storage)
        .find(|l| l.name == name)
}

/// The udev match key and value that name `layer` across reboots.
fn stable_match(roots: &Roots, layer: &BlockLayer) -> Option<(&'static str, String)> {
    let base = PathBuf::from(format!("/sys/block/{}", layer.name));
    let attr = |rel: &str| -> Option<String> {
        let t = Target::Sysfs {
            path: base.join(rel),
        };
        backend::read(roots, &t)
            .ok()
            .flatten()
            .filter(|v| !v.is_empty())
    };
    match &layer.kind {
        LayerKind::Loop { .. } => attr("loop/backing_file")
            .filter(|f| !f.ends_with("(deleted)"))
            .map(|f| ("ATTR{loop/backing_file}", f)),
        LayerKind::DeviceMapper { .. } => attr("dm/uuid").map(|u| ("ENV{DM_UUID}", u)),
        LayerKind::Md { .. } => attr("md/uuid").map(|u| ("ATTR{md/uuid}", u)),
        LayerKind::Disk | LayerKind::Partition => attr("wwid")
            .map(|w| ("ATTR{wwid}", w))
            .or_else(|| attr("device/wwid").map(|w| ("ATTRS{wwid}", w)))
            .or_else(|| attr("device/serial").map(|s| ("ATTRS{serial}", s)))
            .or_else(|| udev_property(roots, layer, "ID_WWN").map(|w| ("ENV{ID_WWN}", w)))
            .or_else(|| udev_property(roots, layer, "ID_SERIAL").map(|s| ("ENV{ID_SERIAL}", s))),
    }
}

/// A property from udev's database (`/run/udev/data/bMAJ:MIN`, lines
/// `E:KEY=VALUE`): SATA disks have their WWN and serial only there (udev's
/// ata_id reads them from the drive), not in sysfs. Read under the sysfs
/// root, which is the live `/` on a real host.
fn udev_property(roots: &Roots, layer: &BlockLayer, key: &str) -> Option<String> {
    let path = PathBuf::from(format!(
        "/run/udev/data/b{}:{}",
        layer.dev.major, layer.dev.minor
    ));
    let text = backend::read(roots, &Target::Sysfs { path }).ok()??;
    text.lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, v)| *k == key && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

/// udev values are double-quoted; a `"` or `\` in a path is escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Whether `path` is the rule file isotune owns (under any root).
pub(crate) fn is_own_rule_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| Path::new(RULE_FILE).file_name() == Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use isotune_host::{DevNum, DeviceClass, FileFacts};

    fn loop_layer(name: &str) -> BlockLayer {
        BlockLayer {
            name: name.to_owned(),
            dev: DevNum { major: 7, minor: 0 },
            kind: LayerKind::Loop {
                backing_file: None,
                direct_io: None,
            },
            class: DeviceClass::Stacked,
            below: Vec::new(),
            rotational: None,
            scheduler: None,
            nr_requests: None,
            read_ahead_kb: Some(16),
            max_sectors_kb: None,
            logical_block_bytes: None,
            physical_block_bytes: None,
            model: None,
        }
    }

    fn finding(id: &'static str, subject: &str, severity: Severity) -> Finding {
        Finding {
            id,
            layer: isotune_doctor::Layer::Storage,
            severity,
            title: format!("{id} title"),
            subject: subject.to_owned(),
            evidence: Vec::new(),
            why: String::new(),
            fix: format!("{id} fix"),
            reference: String::new(),
            edit: None,
        }
    }

    #[test]
    fn readahead_finding_becomes_sysfs_and_rule_changes_others_manual() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        isotune_testutil::put(root, "sys/block/loop9/queue/read_ahead_kb", b"16\n");
        isotune_testutil::put(
            root,
            "sys/block/loop9/loop/backing_file",
            b"/srv/a \"b\".img\n",
        );
        let roots = Roots {
            files: root.to_owned(),
            sysfs: root.to_owned(),
        };
        let facts = Facts {
            files: vec![FileFacts {
                path: "/x.iso".into(),
                size_bytes: 1,
                device: None,
                mount: None,
                storage: vec![loop_layer("loop9")],
                resident_bytes: None,
                block_device: false,
                warnings: Vec::new(),
            }],
            ..Facts::default()
        };
        let findings = [
            finding("storage.low-readahead", "/dev/loop9", Severity::Warn),
            finding("fs.nfs", "/x.iso", Severity::Warn),
            finding("myth.sysctl", "host", Severity::Info),
        ];
        let p = plan(&facts, &findings, &roots, &PlanOptions::default()).unwrap();
        assert_eq!(p.changes.len(), 2);
        assert_eq!(p.changes[0].current.as_deref(), Some("16"));
        assert_eq!(p.changes[0].new, "4096");
        assert!(!p.changes[0].persists && p.changes[0].note.is_none());
        assert_eq!(p.changes[1].current, None);
        assert!(p.changes[1]
            .new
            .contains(r#"ATTR{loop/backing_file}=="/srv/a \"b\".img""#));
        assert_eq!(p.manual.len(), 1);
        assert_eq!(p.manual[0].fix, "fs.nfs fix");

        // Planned again over an applied rule: nothing to add.
        isotune_testutil::put(
            root,
            "etc/udev/rules.d/60-isotune-readahead.rules",
            p.changes[1].new.as_bytes(),
        );
        let again = plan(&facts, &findings, &roots, &PlanOptions::default()).unwrap();
        assert_eq!(again.changes.len(), 1);
    }

    #[test]
    fn device_without_stable_name_is_not_persisted() {
        let dir = tempfile::tempdir().unwrap();
        isotune_testutil::put(dir.path(), "sys/block/sdz/queue/read_ahead_kb", b"8\n");
        let roots = Roots {
            files: dir.path().to_owned(),
            sysfs: dir.path().to_owned(),
        };
        let mut layer = loop_layer("sdz");
        layer.kind = LayerKind::Disk;
        let facts = Facts {
            files: vec![FileFacts {
                path: "/x.iso".into(),
                size_bytes: 1,
                device: None,
                mount: None,
                storage: vec![layer],
                resident_bytes: None,
                block_device: false,
                warnings: Vec::new(),
            }],
            ..Facts::default()
        };
        let p = plan(
            &facts,
            &[finding("storage.low-readahead", "/dev/sdz", Severity::Warn)],
            &roots,
            &PlanOptions::default(),
        )
        .unwrap();
        assert_eq!(p.changes.len(), 1);
        assert_eq!(
            p.changes[0].note,
            Some(ChangeNote::NotPersisted {
                device: "sdz".to_owned()
            })
        );
    }
}
