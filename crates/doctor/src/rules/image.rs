//! The ISO file itself: a truncated download, an impossible volume size, a
//! failed implanted MD5 or digest, an image nothing confirms.

use crate::describe::bytes;
use crate::facts::{Facts, ImageFacts, VolumeRead};
use crate::finding::{Finding, Layer, Severity};
use crate::rules::Rule;

/// `image.truncated`.
pub(crate) const TRUNCATED: Rule = Rule {
    id: "image.truncated",
    layer: Layer::Image,
    severity: Severity::Error,
    title: "The image is shorter than its volume",
    why: "The primary volume descriptor declares a volume larger than the file: the \
          download or copy stopped early. Reads past the end fail or return nothing, so \
          the boot stalls, retries or fails late (often in the installer, long after the \
          firmware phase), which looks like a slow or hanging boot.",
    reference: "ECMA-119 (ISO 9660) 8.4.8 Volume Space Size, \
                https://ecma-international.org/publications-and-standards/standards/ecma-119/; \
                `isotune verify`",
    check: truncated,
};

/// Whether the image's volume facts say it is cut short: the declared
/// volume is larger than the file, or the file ends before (or has no)
/// volume descriptor. The one truncation test every rule uses.
pub(crate) fn is_truncated(img: &ImageFacts) -> bool {
    match img.volume {
        VolumeRead::TooShort | VolumeRead::NotIso9660 => true,
        VolumeRead::InvalidSize => false,
        VolumeRead::Read | VolumeRead::NotChecked => {
            img.volume_bytes.is_some_and(|v| v > img.file_bytes)
        }
    }
}

/// Reader anomalies that are symptoms of a truncated file (data past the
/// end): folded into the truncation finding instead of listed one by one.
pub(crate) const TRUNCATION_SYMPTOMS: [&str; 4] = [
    "image.truncated",
    "tree.extent-past-end",
    "boot.file-past-end",
    "boot.unreadable-file",
];

fn truncated(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for img in facts.images.iter().filter(|i| is_truncated(i)) {
        let path = img.path.display();
        let (title, mut evidence) = match (img.volume, img.volume_bytes) {
            (VolumeRead::TooShort, _) => (
                format!("{path} is too short to hold an ISO9660 volume"),
                vec![
                    format!("file size: {}", bytes(img.file_bytes)),
                    "the primary volume descriptor at byte 32768 is missing".to_owned(),
                ],
            ),
            (VolumeRead::NotIso9660, _) => (
                format!("{path} has no ISO9660 volume descriptor"),
                vec![
                    format!("file size: {}", bytes(img.file_bytes)),
                    "bytes 32769-32773 are not the signature CD001: not an ISO image, \
                     or a fragment of one"
                        .to_owned(),
                ],
            ),
            (_, Some(volume)) => {
                let missing = volume - img.file_bytes;
                (
                    format!("{path} is missing {} at its end", bytes(missing)),
                    vec![
                        format!("file size: {}", bytes(img.file_bytes)),
                        format!("volume size (primary volume descriptor): {}", bytes(volume)),
                        format!("missing: {}", bytes(missing)),
                    ],
                )
            }
            (_, None) => continue,
        };
        if let Some(boot) = &img.boot {
            let lost: Vec<&str> = boot
                .files
                .iter()
                .filter(|f| f.end_bytes > img.file_bytes)
                .map(|f| f.path.as_str())
                .collect();
            if !lost.is_empty() {
                evidence.push(format!("the boot cannot load {}", lost.join(", ")));
            }
        }
        // A cut file fails every digest: one finding for one cause, the
        // mismatches as its evidence (their own rules stay quiet).
        if img.implanted_md5.as_ref().is_some_and(|m| !m.matches) {
            evidence.push("implanted MD5: does not match (as for any cut copy)".to_owned());
        }
        for d in img
            .digests
            .iter()
            .filter(|d| d.matched.is_empty() && !d.mismatched_hex.is_empty())
        {
            evidence.push(format!(
                "{}: does not match the expected value",
                d.algorithm
            ));
        }
        let folded = img
            .anomalies
            .iter()
            .filter(|a| a.id != "image.truncated" && TRUNCATION_SYMPTOMS.contains(&a.id.as_str()))
            .count();
        if folded > 0 {
            evidence.push(format!(
                "{folded} more anomal{} about data past the end (`isotune inspect --files` lists them)",
                if folded == 1 { "y" } else { "ies" }
            ));
        }
        out.push(TRUNCATED.finding(
            Severity::Error,
            title,
            path.to_string(),
            evidence,
            format!(
                "Download the image again (resume with `curl -C - -o {path} URL`), then check \
                 it against the published checksum: `isotune verify {path} --sha256 HEX`."
            ),
        ));
    }
    out
}

/// `image.invalid-volume-size`.
pub(crate) const INVALID_VOLUME_SIZE: Rule = Rule {
    id: "image.invalid-volume-size",
    layer: Layer::Image,
    severity: Severity::Error,
    title: "The volume descriptor declares an impossible size",
    why: "The primary volume descriptor declares fewer than 17 sectors, which cannot even \
          hold the descriptors themselves: the image is corrupt, and nothing can say \
          whether it is complete.",
    reference: "ECMA-119 (ISO 9660) 8.4.8 Volume Space Size; `isotune verify`",
    check: invalid_volume_size,
};

fn invalid_volume_size(facts: &Facts) -> Vec<Finding> {
    facts
        .images
        .iter()
        .filter(|i| i.volume == VolumeRead::InvalidSize)
        .map(|img| {
            let path = img.path.display();
            INVALID_VOLUME_SIZE.finding(
                Severity::Error,
                format!("{path} declares an impossible volume size"),
                path.to_string(),
                vec![
                    format!(
                        "volume size (primary volume descriptor): {}",
                        bytes(img.volume_bytes.unwrap_or(0))
                    ),
                    format!("file size: {}", bytes(img.file_bytes)),
                ],
                format!("The image is corrupt: download or copy it again, then `isotune verify {path}`."),
            )
        })
        .collect()
}

/// `image.md5-mismatch`.
pub(crate) const MD5_MISMATCH: Rule = Rule {
    id: "image.md5-mismatch",
    layer: Layer::Image,
    severity: Severity::Error,
    title: "The implanted MD5 does not match",
    why: "The image carries an MD5 implanted by implantisomd5 (Fedora/RHEL-style media) \
          and its data no longer matches it: the image is corrupt. Installers that check \
          the media fail, and a corrupt squashfs or package makes the boot fail late.",
    reference: "implantisomd5(1), checkisomd5(1) (isomd5sum); `isotune verify`",
    check: md5_mismatch,
};

fn md5_mismatch(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for img in &facts.images {
        let Some(md5) = &img.implanted_md5 else {
            continue;
        };
        // A truncated image's mismatch is evidence of image.truncated.
        if md5.matches || is_truncated(img) {
            continue;
        }
        let path = img.path.display();
        let mut evidence = vec![
            format!("implanted MD5: {}", md5.expected),
            format!("computed MD5: {}", md5.actual),
        ];
        if let Some(frag) = md5.failed_fragment {
            evidence.push(format!("first failing fragment: {frag}"));
        }
        out.push(MD5_MISMATCH.finding(
            Severity::Error,
            format!("{path} fails its implanted MD5 check"),
            path.to_string(),
            evidence,
            format!(
                "Download the image again and check it: `isotune verify {path}` (or \
                 `checkisomd5 --verbose {path}`). Do not re-implant the MD5 to silence this."
            ),
        ));
    }
    out
}

/// `image.digest-mismatch`.
pub(crate) const DIGEST_MISMATCH: Rule = Rule {
    id: "image.digest-mismatch",
    layer: Layer::Image,
    severity: Severity::Error,
    title: "A digest does not match the expected value",
    why: "The image's digest differs from the one given (a checksum file or `--expect`): \
          the image is corrupt, or it is not the image the checksum names. A corrupt \
          image fails late in the boot or the installer.",
    reference: "sha256sum(1); `isotune verify --sums FILE`",
    check: digest_mismatch,
};

fn digest_mismatch(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for img in facts.images.iter().filter(|i| !is_truncated(i)) {
        for d in &img.digests {
            if !d.matched.is_empty() || d.mismatched_hex.is_empty() {
                continue;
            }
            let path = img.path.display();
            out.push(DIGEST_MISMATCH.finding(
                Severity::Error,
                format!("the {} digest of {path} does not match", d.algorithm),
                path.to_string(),
                vec![
                    format!("computed {}: {}", d.algorithm, d.computed_hex),
                    format!("expected: {}", d.mismatched_hex.join(" or ")),
                ],
                format!(
                    "The image is corrupt or not the one the checksum names: download it again \
                     and check it with `isotune verify {path} --sums SHA256SUMS`."
                ),
            ));
        }
    }
    out
}

/// `image.unverified`.
pub(crate) const UNVERIFIED: Rule = Rule {
    id: "image.unverified",
    layer: Layer::Image,
    severity: Severity::Info,
    title: "Nothing confirms the image's content",
    why: "The image carries no implanted MD5 and no checksum was given, so a corrupt \
          download cannot be told from a good one until it fails, often late in an install.",
    reference: "the publisher's checksum file (SHA256SUMS); `isotune verify --sums FILE`",
    check: unverified,
};

fn unverified(facts: &Facts) -> Vec<Finding> {
    facts
        .images
        .iter()
        .filter(|img| {
            let confirmed = img.digests.iter().any(|d| !d.matched.is_empty())
                || img.implanted_md5.as_ref().is_some_and(|m| m.matches);
            let failed = is_truncated(img)
                || img.volume == VolumeRead::InvalidSize
                || img.implanted_md5.as_ref().is_some_and(|m| !m.matches)
                || img.digests.iter().any(|d| !d.mismatched_hex.is_empty());
            img.integrity_checked && !confirmed && !failed
        })
        .map(|img| {
            let path = img.path.display();
            UNVERIFIED.finding(
                Severity::Info,
                format!("nothing confirms the content of {path}"),
                path.to_string(),
                vec!["it has no implanted MD5 and no checksum was given".to_owned()],
                format!(
                    "Pass the publisher's checksum file: `isotune check {path} --sums SHA256SUMS`."
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{example, healthy};

    #[test]
    fn truncation_reports_the_missing_bytes() {
        let f = truncated(&example("image.truncated").unwrap());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "/isos/x.iso");
        assert!(
            f[0].evidence[2].contains("1048576 bytes"),
            "{:?}",
            f[0].evidence
        );
        assert!(truncated(&healthy()).is_empty());
    }

    #[test]
    fn a_fragment_or_random_bytes_are_truncation() {
        for volume in [VolumeRead::TooShort, VolumeRead::NotIso9660] {
            let mut facts = healthy();
            facts.images[0].volume = volume;
            facts.images[0].volume_bytes = None;
            let f = truncated(&facts);
            assert_eq!(f.len(), 1, "{volume:?}");
            assert_eq!(f[0].severity, Severity::Error);
        }
    }

    #[test]
    fn truncation_folds_its_symptoms_and_names_lost_boot_files() {
        let mut facts = example("image.truncated").unwrap();
        let img = &mut facts.images[0];
        img.boot = Some(crate::facts::BootFacts {
            el_torito: true,
            files: vec![crate::facts::BootFileFact {
                path: "/casper/initrd".into(),
                size_bytes: 10,
                end_bytes: img.file_bytes + 5,
            }],
        });
        for id in [
            "tree.extent-past-end",
            "boot.file-past-end",
            "image.truncated",
        ] {
            img.anomalies.push(crate::facts::ImageAnomaly {
                id: id.into(),
                severity: Severity::Error,
                message: "past the end".into(),
            });
        }
        let f = truncated(&facts);
        assert!(f[0].evidence.iter().any(|e| e.contains("/casper/initrd")));
        assert!(f[0]
            .evidence
            .iter()
            .any(|e| e.starts_with("2 more anomalies")));
    }

    #[test]
    fn unverified_only_after_an_integrity_pass_that_confirmed_nothing() {
        let mut facts = healthy();
        facts.images[0].implanted_md5 = None;
        assert!(unverified(&facts).is_empty(), "no pass ran");
        facts.images[0].integrity_checked = true;
        assert_eq!(unverified(&facts).len(), 1);
        facts.images[0].digests.push(crate::facts::DigestCheck {
            algorithm: "sha256".into(),
            computed_hex: "ab".into(),
            matched: vec![],
            mismatched_hex: vec!["cd".into()],
        });
        assert!(
            unverified(&facts).is_empty(),
            "a mismatch is its own finding"
        );
        assert_eq!(digest_mismatch(&facts).len(), 1);
    }

    #[test]
    fn unreadable_volume_size_is_not_truncation() {
        let mut facts = healthy();
        facts.images[0].volume_bytes = None;
        assert!(truncated(&facts).is_empty());
    }

    #[test]
    fn md5_mismatch_names_the_fragment() {
        let f = md5_mismatch(&example("image.md5-mismatch").unwrap());
        assert_eq!(f.len(), 1);
        assert!(f[0]
            .evidence
            .iter()
            .any(|e| e == "first failing fragment: 3"));
        let mut no_md5 = healthy();
        no_md5.images[0].implanted_md5 = None;
        assert!(md5_mismatch(&no_md5).is_empty());
        assert!(md5_mismatch(&healthy()).is_empty());
    }

    /// Docs issue: a cut copy of an MD5-implanted image reported
    /// `image.md5-mismatch` first and `image.truncated` second, two errors
    /// for one cause. The truncation is the finding; the mismatch its
    /// evidence.
    #[test]
    fn regression_docs_a_cut_image_is_one_finding_with_its_mismatches() {
        let mut facts = example("image.md5-mismatch").unwrap();
        let img = &mut facts.images[0];
        img.volume_bytes = Some(img.file_bytes + 4096);
        img.digests.push(isotune_digest("sha256"));
        assert!(md5_mismatch(&facts).is_empty());
        assert!(digest_mismatch(&facts).is_empty());
        let t = truncated(&facts);
        assert_eq!(t.len(), 1);
        assert!(t[0]
            .evidence
            .iter()
            .any(|e| e.starts_with("implanted MD5: does not match")));
        assert!(t[0]
            .evidence
            .iter()
            .any(|e| e == "sha256: does not match the expected value"));
    }

    fn isotune_digest(algorithm: &str) -> crate::facts::DigestCheck {
        crate::facts::DigestCheck {
            algorithm: algorithm.into(),
            computed_hex: "ab".into(),
            matched: vec![],
            mismatched_hex: vec!["cd".into()],
        }
    }
}
