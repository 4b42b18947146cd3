//! What a boot reads from the image: no boot catalog, the volume of the
//! default boot, and the ISO reader's own anomalies (except the symptoms
//! of a truncated file, which the truncation finding folds in).

use crate::describe::bytes;
use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};
use crate::rules::image::{is_truncated, TRUNCATION_SYMPTOMS};
use crate::rules::Rule;

/// `image.anomaly`.
pub(crate) const ANOMALY: Rule = Rule {
    id: "image.anomaly",
    layer: Layer::Image,
    severity: Severity::Error,
    title: "The ISO reader found something a well-made image does not have",
    why: "The image's structure breaks ISO 9660 or El Torito in a way the reader noticed \
          (an extent outside the file, a directory loop, a boot entry pointing nowhere). \
          Firmware and guest drivers handle such images differently; some fail to boot or \
          read the file, some read far more than they need.",
    reference: "ECMA-119 (ISO 9660); El Torito 1.0; `isotune inspect`",
    check: anomaly,
};

fn anomaly(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for img in &facts.images {
        let truncated = is_truncated(img);
        for a in &img.anomalies {
            // The truncation rule reports truncation from the volume facts.
            if a.id == "image.truncated"
                || (truncated && TRUNCATION_SYMPTOMS.contains(&a.id.as_str()))
            {
                continue;
            }
            let path = img.path.display();
            out.push(ANOMALY.finding(
                a.severity,
                a.message.clone(),
                path.to_string(),
                vec![format!("{} ({})", a.message, a.id)],
                format!("`isotune inspect {path}` shows the structure; if the image was downloaded, get it again and check it with `isotune verify {path} --sums SHA256SUMS`."),
            ));
        }
    }
    out
}

/// `boot.not-bootable`.
pub(crate) const NOT_BOOTABLE: Rule = Rule {
    id: "boot.not-bootable",
    layer: Layer::Image,
    severity: Severity::Warn,
    title: "The image has no El Torito boot catalog",
    why: "Firmware boots a CD through its El Torito boot catalog. Without one, a VM cannot \
          boot from the image as a cdrom; it can still be attached as data.",
    reference: "El Torito Bootable CD-ROM Format Specification 1.0; `isotune inspect`",
    check: not_bootable,
};

fn not_bootable(facts: &Facts) -> Vec<Finding> {
    facts
        .images
        .iter()
        .filter(|img| img.boot.as_ref().is_some_and(|b| !b.el_torito) && !is_truncated(img))
        .map(|img| {
            let path = img.path.display();
            NOT_BOOTABLE.finding(
                Severity::Warn,
                format!("{path} has no El Torito boot catalog"),
                path.to_string(),
                vec!["no boot catalog: a VM cannot boot from it as a CD".to_owned()],
                "Attach it as data, or boot the VM another way (direct kernel boot with \
                 `-kernel`/`-initrd`, or a bootable image)."
                    .to_owned(),
            )
        })
        .collect()
}

/// `boot.read-volume`.
pub(crate) const READ_VOLUME: Rule = Rule {
    id: "boot.read-volume",
    layer: Layer::Image,
    severity: Severity::Info,
    title: "What the default boot reads from the image",
    why: "SeaBIOS reads an IDE cdrom one 2048-byte sector per request; AHCI and \
          virtio-scsi reach about 16 KiB per request. The firmware phase of a boot that \
          loads a large kernel and initrd is several times faster on virtio-scsi or AHCI.",
    reference: "docs/BENCHMARKS.md (boot matrices); `isotune boot` measures it on this host",
    check: read_volume,
};

fn read_volume(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for img in &facts.images {
        let Some(boot) = &img.boot else { continue };
        let total: u64 = boot.files.iter().map(|f| f.size_bytes).sum();
        if total == 0 || is_truncated(img) {
            continue;
        }
        let n = boot.files.len();
        let path = img.path.display();
        out.push(READ_VOLUME.finding(
            Severity::Info,
            format!("the default boot of {path} reads {}", bytes(total)),
            path.to_string(),
            vec![
                format!(
                    "{n} file{}: {}",
                    if n == 1 { "" } else { "s" },
                    boot.files
                        .iter()
                        .map(|f| f.path.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                format!(
                    "about {} requests of 2 KiB through a BIOS on an IDE cdrom, about {} of 16 KiB on virtio-scsi or AHCI",
                    total.div_ceil(2048),
                    total.div_ceil(16 * 1024)
                ),
            ],
            "Attach the cdrom to virtio-scsi (scsi-cd) or AHCI instead of IDE; `isotune boot` \
             measures the difference on this host."
                .to_owned(),
        ));
    }
    out
}
