//! The rule catalogue ([`RULES`]) and [`diagnose`], which runs every rule.
//!
//! One file per layer; each rule is a `const` [`Rule`] next to its check
//! function and that file's tests. A rule's `why` and `reference` are
//! generic (they go into `docs/rules.md`); the findings it returns say what
//! was seen on this host, with units, and a fix for that subject.

use std::cmp::Reverse;

use serde::Serialize;

use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};
use crate::fix::FixEdit;

mod accel;
mod bench;
mod boot;
mod cache;
mod cdrom;
mod curl;
mod drive;
mod fs;
mod image;
mod myth;
mod nbd;
mod net;
mod nfs;
mod probe;
mod storage;
mod vm;

/// One rule of the catalogue.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    /// Stable id (`cdrom.ide-bus`); findings carry it.
    pub id: &'static str,
    /// The layer it looks at.
    pub layer: Layer,
    /// The highest severity it reports.
    pub severity: Severity,
    /// What it detects, in general terms.
    pub title: &'static str,
    /// Why it matters (the generic explanation, with the measurements).
    pub why: &'static str,
    /// Where it is documented: URLs or man pages.
    pub reference: &'static str,
    /// The check itself: facts in, findings out. Never reads the host.
    #[serde(skip)]
    pub check: fn(&Facts) -> Vec<Finding>,
}

impl Rule {
    /// A finding of this rule, with the rule's id, layer, why and reference.
    pub(crate) fn finding(
        &self,
        severity: Severity,
        title: String,
        subject: String,
        evidence: Vec<String>,
        fix: String,
    ) -> Finding {
        debug_assert!(
            severity <= self.severity,
            "{} reports above its severity",
            self.id
        );
        Finding {
            id: self.id,
            layer: self.layer,
            severity,
            title,
            subject,
            evidence,
            why: self.why.to_string(),
            fix,
            edit: None,
            reference: self.reference.to_string(),
        }
    }

    /// A finding whose fix is `edit`: the text is rendered from it, then
    /// `note` (an alternative the user may prefer) follows.
    pub(crate) fn finding_edit(
        &self,
        severity: Severity,
        title: String,
        subject: String,
        evidence: Vec<String>,
        edit: FixEdit,
        note: &str,
    ) -> Finding {
        let mut fix = edit.render();
        if !note.is_empty() {
            fix = format!("{fix}\n{note}");
        }
        Finding {
            edit: Some(edit),
            ..self.finding(severity, title, subject, evidence, fix)
        }
    }

    /// The rule with this id.
    pub fn by_id(id: &str) -> Option<&'static Rule> {
        RULES.iter().find(|r| r.id == id)
    }
}

/// Every rule, grouped by layer.
pub static RULES: &[Rule] = &[
    image::TRUNCATED,
    image::INVALID_VOLUME_SIZE,
    image::MD5_MISMATCH,
    image::DIGEST_MISMATCH,
    image::UNVERIFIED,
    boot::ANOMALY,
    boot::NOT_BOOTABLE,
    boot::READ_VOLUME,
    cdrom::CDROM_IDE_BUS,
    vm::FORMAT_NOT_RAW,
    vm::NOT_READONLY,
    drive::AIO_NATIVE_NEEDS_DIRECT,
    drive::IOTHREAD_IGNORED,
    drive::DANGLING_REFERENCE,
    myth::NONEXISTENT_OPTION,
    myth::UNKNOWN_OPTION,
    accel::NO_KVM,
    accel::NESTED_PVM,
    fs::NETWORK,
    cache::ISO_EXCEEDS_MEMORY,
    storage::ROTATIONAL,
    storage::LOW_READAHEAD,
    bench::COLD_READ,
    bench::BOOT_TRACE,
    net::CURL_READAHEAD,
    curl::TIMEOUT,
    curl::SSLVERIFY_OFF,
    probe::REDIRECT,
    probe::NO_RANGES,
    probe::FAILED,
    nbd::SINGLE_CLIENT,
    nbd::NOT_PERSISTENT,
    nfs::VERS3,
    nfs::ATTR_CACHE,
];

/// Runs every rule; findings come most severe first, then by layer, id and
/// subject, except that a VM running under TCG leads its severity: it is
/// the biggest single cause of a slow install.
pub fn diagnose(facts: &Facts) -> Vec<Finding> {
    let mut findings: Vec<Finding> = RULES.iter().flat_map(|r| (r.check)(facts)).collect();
    findings.sort_by(|a, b| {
        (
            Reverse(a.severity),
            a.id != accel::NO_KVM.id,
            a.layer,
            a.id,
            &a.subject,
        )
            .cmp(&(
                Reverse(b.severity),
                b.id != accel::NO_KVM.id,
                b.layer,
                b.id,
                &b.subject,
            ))
    });
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{example, healthy};
    use std::collections::HashSet;

    /// The ids the design asks for; more may exist.
    const REQUIRED: &[&str] = &[
        "accel.no-kvm",
        "accel.nested-pvm",
        "cdrom.ide-bus",
        "drive.format-not-raw",
        "drive.aio-native-needs-direct",
        "drive.iothread-ignored",
        "drive.not-readonly",
        "storage.rotational",
        "storage.low-readahead",
        "fs.network",
        "net.curl-readahead",
        "image.truncated",
        "image.md5-mismatch",
        "cache.iso-exceeds-memory",
        "myth.nonexistent-option",
    ];

    #[test]
    fn required_ids_exist_and_ids_are_unique() {
        for id in REQUIRED {
            assert!(Rule::by_id(id).is_some(), "{id} missing from RULES");
        }
        let mut seen = HashSet::new();
        for r in RULES {
            assert!(seen.insert(r.id), "{} twice in RULES", r.id);
        }
    }

    #[test]
    fn rules_are_grouped_by_layer() {
        let layers: Vec<Layer> = RULES.iter().map(|r| r.layer).collect();
        let mut sorted = layers.clone();
        sorted.sort();
        assert_eq!(layers, sorted);
    }

    #[test]
    fn every_rule_fires_on_its_example_and_not_on_healthy() {
        let healthy = healthy();
        for rule in RULES {
            let facts =
                example(rule.id).unwrap_or_else(|| panic!("no firing example for {}", rule.id));
            let found = (rule.check)(&facts);
            assert!(!found.is_empty(), "{} did not fire on its example", rule.id);
            for f in &found {
                assert_eq!(f.id, rule.id);
                assert_eq!(f.layer, rule.layer);
                assert!(
                    f.severity <= rule.severity,
                    "{} above its severity",
                    rule.id
                );
                assert!(!f.subject.is_empty() && !f.fix.is_empty() && !f.evidence.is_empty());
            }
            assert_eq!(
                (rule.check)(&healthy),
                vec![],
                "{} fired on healthy()",
                rule.id
            );
        }
    }

    #[test]
    fn healthy_setup_has_no_findings() {
        assert_eq!(diagnose(&healthy()), vec![]);
    }

    #[test]
    fn empty_facts_have_no_findings() {
        assert_eq!(diagnose(&Facts::default()), vec![]);
    }

    #[test]
    fn diagnose_sorts_most_severe_first_then_layer_then_id() {
        let mut facts = example("image.truncated").unwrap();
        let other = example("cdrom.ide-bus").unwrap();
        facts.vms = other.vms;
        facts
            .files
            .extend(example("storage.low-readahead").unwrap().files);
        let found = diagnose(&facts);
        assert!(found.len() >= 3);
        for pair in found.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let key = |f: &Finding| (Reverse(f.severity), f.id != "accel.no-kvm", f.layer, f.id);
            assert!(key(a) <= key(b), "{} before {}", a.id, b.id);
        }
        assert_eq!(found[0].id, "image.truncated");
    }
}
