//! The ISO file itself: a truncated download, a failed implanted MD5.

use crate::describe::bytes;
use crate::facts::Facts;
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

fn truncated(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for img in &facts.images {
        let Some(volume) = img.volume_bytes else {
            continue;
        };
        if volume <= img.file_bytes {
            continue;
        }
        let missing = volume - img.file_bytes;
        let path = img.path.display();
        out.push(TRUNCATED.finding(
            Severity::Error,
            format!("{path} is missing {} at its end", bytes(missing)),
            path.to_string(),
            vec![
                format!("file size: {}", bytes(img.file_bytes)),
                format!("volume size (primary volume descriptor): {}", bytes(volume)),
                format!("missing: {}", bytes(missing)),
            ],
            format!(
                "Download the image again (resume with `curl -C - -o {path} URL`), then check \
                 it against the published checksum: `isotune verify {path} --sha256 HEX`."
            ),
        ));
    }
    out
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
        if md5.matches {
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
}
