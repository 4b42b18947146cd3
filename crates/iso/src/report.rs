//! Everything `isotune inspect` shows, gathered into one serde struct.
//!
//! [`inspect`] runs every reader of this crate over an opened image and
//! collects what they found; no reader failure other than the volume
//! descriptors themselves is fatal here: a broken boot catalog or partition
//! table becomes an [`Anomaly`] in the report, because a user inspecting a
//! damaged image wants to see everything that *can* be read.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::bootfiles::estimate::{estimate, BootReadEstimate};
use crate::bootfiles::{self, BootFile};
use crate::eltorito::BootCatalog;
use crate::md5record::{self, ImplantedMd5};
use crate::partition::{self, Partition, PartitionLayout};
use crate::udf::{self, UdfInfo};
use crate::{
    Anomaly, FileEntry, IsoImage, Namespace, ReadAt, Result, Severity, VolumeDescriptorSet,
};

/// Version of the JSON schema of [`InspectReport`]; bumped on any change
/// that could break a consumer (renames, removals, meaning changes).
pub const SCHEMA_VERSION: u32 = 2;

/// What to gather besides the always-present summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InspectOptions {
    /// List the whole tree of this namespace (`--files`); `None`: no listing.
    pub files: Option<Namespace>,
}

/// The El Torito part of the report; always present, `entries` empty when
/// the image has no boot catalog or it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElToritoSummary {
    /// A boot record pointing at a catalog exists (whether or not the
    /// catalog can be read).
    pub present: bool,
    /// LBA of the boot catalog, as the boot record gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_lba: Option<u32>,
    /// The catalog's first sector could be read (false: `entries` is empty
    /// and an `eltorito.unreadable` anomaly says why). True when there is
    /// no catalog.
    #[serde(default = "yes")]
    pub readable: bool,
    /// The validation entry's checksum and key were right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_ok: Option<bool>,
    /// Boot entries: the default entry first, then section entries.
    pub entries: Vec<crate::eltorito::BootEntry>,
}

fn yes() -> bool {
    true
}

impl Default for ElToritoSummary {
    /// No catalog.
    fn default() -> Self {
        ElToritoSummary {
            present: false,
            catalog_lba: None,
            readable: true,
            validation_ok: None,
            entries: Vec::new(),
        }
    }
}

/// The `isotune inspect` report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InspectReport {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Primary volume identifier.
    pub volume_id: String,
    /// Primary system identifier.
    pub system_id: String,
    /// Application identifier (often names the tool that made the image).
    pub application_id: String,
    /// Volume space size in logical blocks.
    pub volume_space_size: u64,
    /// Logical block size in bytes, as declared (2048 on every real image;
    /// the reader uses 2048 whatever this says, and another value is an
    /// anomaly).
    pub logical_block_size: u64,
    /// `volume_space_size` × 2048, in bytes
    /// ([`PrimaryVolumeDescriptor::volume_bytes`](crate::PrimaryVolumeDescriptor::volume_bytes)).
    pub volume_bytes: u64,
    /// Size of the file or block device, in bytes.
    pub file_size: u64,
    /// A Joliet supplementary descriptor exists.
    pub joliet: bool,
    /// Rock Ridge entries exist in the primary tree.
    pub rock_ridge: bool,
    /// A UDF file system is bridged in.
    pub udf: bool,
    /// The namespace `files` and `boot_files` paths come from.
    pub namespace: Namespace,
    /// El Torito boot catalog.
    pub el_torito: ElToritoSummary,
    /// MBR / GPT / APM partitions (isohybrid, appended EFI partitions).
    pub partitions: Vec<Partition>,
    /// The files a boot reads, in load order.
    pub boot_files: Vec<BootFile>,
    /// What the default boot reads up to the kernel's start, what that
    /// covers, and the root filesystem images it leaves out (schema 2).
    #[serde(default)]
    pub boot_read: BootReadEstimate,
    /// The implantisomd5 record, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implanted_md5: Option<ImplantedMd5>,
    /// Everything odd, most severe first.
    pub anomalies: Vec<Anomaly>,
    /// Every volume descriptor with all its fields.
    pub descriptors: VolumeDescriptorSet,
    /// UDF detail.
    pub udf_info: UdfInfo,
    /// Partition-table detail (GPT header, protective MBR).
    pub partition_layout: PartitionLayoutSummary,
    /// The whole tree, with `--files`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileEntry>>,
}

/// Partition-table facts beyond the partition list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionLayoutSummary {
    /// A valid MBR signature with at least one entry.
    pub mbr: bool,
    /// The MBR is a GPT protective MBR (type 0xEE).
    pub protective_mbr: bool,
    /// The GPT header, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpt: Option<crate::partition::GptInfo>,
    /// An Apple partition map exists.
    pub apm: bool,
}

/// Inspects an opened image.
pub fn inspect<R: ReadAt>(image: &IsoImage<R>, options: InspectOptions) -> Result<InspectReport> {
    let pvd = image.primary();
    let mut anomalies: Vec<Anomaly> = image.anomalies();

    let (catalog, el_torito) = el_torito(image, &mut anomalies);

    let layout = match partition::read_partitions(image.source(), Some(pvd.volume_bytes())) {
        Ok(l) => l,
        Err(e) => {
            anomalies.push(Anomaly::new(
                "partition.unreadable",
                Severity::Warn,
                format!("the partition tables cannot be read: {e}"),
            ));
            PartitionLayout::default()
        }
    };
    anomalies.extend(layout.anomalies.iter().cloned());

    let udf_info = match udf::detect_udf(image.source()) {
        Ok(u) => u,
        Err(e) => {
            anomalies.push(Anomaly::new(
                "udf.unreadable",
                Severity::Warn,
                format!("the UDF recognition area cannot be read: {e}"),
            ));
            UdfInfo::default()
        }
    };
    anomalies.extend(udf_info.anomalies.iter().cloned());

    let boot = bootfiles::discover(image, catalog.as_ref());
    anomalies.extend(boot.anomalies.iter().cloned());
    let boot_read = estimate(image, &boot.files);

    let files = match options.files {
        Some(ns) => {
            let tree = image.files(ns)?;
            anomalies.extend(tree.anomalies.iter().cloned());
            Some(tree.entries)
        }
        None => None,
    };

    anomalies.extend(image.limit_anomalies());
    dedup_and_sort(&mut anomalies);

    Ok(InspectReport {
        schema_version: SCHEMA_VERSION,
        volume_id: pvd.volume_id.clone(),
        system_id: pvd.system_id.clone(),
        application_id: pvd.application_id.clone(),
        volume_space_size: u64::from(pvd.volume_space_size),
        logical_block_size: u64::from(pvd.logical_block_size),
        volume_bytes: pvd.volume_bytes(),
        file_size: image.file_size(),
        joliet: image.joliet().is_some(),
        rock_ridge: image.has_rock_ridge(),
        udf: udf_info.present,
        namespace: options.files.unwrap_or_else(|| image.best_namespace()),
        el_torito,
        partitions: layout.partitions.clone(),
        boot_files: boot.files,
        boot_read,
        implanted_md5: md5record::parse(&pvd.application_use),
        anomalies,
        descriptors: image.descriptors().clone(),
        udf_info,
        partition_layout: PartitionLayoutSummary {
            mbr: layout.mbr,
            protective_mbr: layout.protective_mbr,
            gpt: layout.gpt.clone(),
            apm: layout.apm,
        },
        files,
    })
}

/// The catalog (paths resolved) and its summary. A boot record pointing at
/// a catalog that cannot be read still makes El Torito `present`, with the
/// boot record's catalog LBA, `readable: false` and an anomaly.
fn el_torito<R: ReadAt>(
    image: &IsoImage<R>,
    anomalies: &mut Vec<Anomaly>,
) -> (Option<BootCatalog>, ElToritoSummary) {
    match bootfiles::boot_catalog(image) {
        Ok(Some(c)) => {
            anomalies.extend(c.anomalies.iter().cloned());
            let summary = ElToritoSummary {
                present: true,
                catalog_lba: Some(c.catalog_lba),
                readable: true,
                validation_ok: Some(c.validation.checksum_ok && c.validation.key_ok),
                entries: c.entries.clone(),
            };
            (Some(c), summary)
        }
        Ok(None) => (None, ElToritoSummary::default()),
        Err(e) => {
            anomalies.push(Anomaly::new(
                "eltorito.unreadable",
                Severity::Error,
                format!("the boot catalog cannot be read: {e}"),
            ));
            let lba = image
                .descriptors()
                .el_torito()
                .and_then(|b| b.el_torito_catalog_lba());
            let summary = ElToritoSummary {
                present: lba.is_some(),
                catalog_lba: lba,
                readable: false,
                ..ElToritoSummary::default()
            };
            (None, summary)
        }
    }
}

/// Drops repeated anomalies (same id and message; the first is kept, since
/// several readers may report the same thing), keeps at most
/// [`MAX_ANOMALIES_PER_ID`](crate::tree::MAX_ANOMALIES_PER_ID) of each id
/// (the rest counted in one summary per id), then orders them most severe
/// first. The sort is stable, so within a severity they stay in the order
/// the image was read.
fn dedup_and_sort(anomalies: &mut Vec<Anomaly>) {
    let mut seen: HashSet<(String, String, u64)> = HashSet::new();
    anomalies.retain(|a| seen.insert((a.id.clone(), a.message.clone(), a.unlisted)));
    *anomalies = crate::tree::cap_per_id(std::mem::take(anomalies));
    anomalies.sort_by_key(|a| std::cmp::Reverse(a.severity));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{sample_writer, SampleSizes};
    use crate::SECTOR_SIZE;

    /// The sample image (BIOS isolinux boot) and where its files are.
    fn sample() -> (Vec<u8>, crate::writer::WriteSummary) {
        let sizes = SampleSizes {
            kernel_bytes: 20_000,
            initrd_bytes: 30_000,
        };
        let mut bytes = Vec::new();
        let summary = sample_writer(sizes).unwrap().write_to(&mut bytes).unwrap();
        (bytes, summary)
    }

    fn report(bytes: Vec<u8>) -> InspectReport {
        inspect(&IsoImage::open(bytes).unwrap(), InspectOptions::default()).unwrap()
    }

    fn ids(r: &InspectReport) -> Vec<&str> {
        r.anomalies.iter().map(|a| a.id.as_str()).collect()
    }

    #[test]
    fn unreadable_catalog_is_still_present_with_its_lba() {
        let (mut bytes, _) = sample();
        let sector = SECTOR_SIZE as usize;
        let br = (16..32)
            .find(|s| bytes[s * sector] == 0 && &bytes[s * sector + 1..s * sector + 6] == b"CD001")
            .expect("a boot record");
        let at = br * sector + 71;
        bytes[at..at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let r = report(bytes);
        assert!(r.el_torito.present);
        assert!(!r.el_torito.readable);
        assert_eq!(r.el_torito.catalog_lba, Some(0xFFFF_FFF0));
        assert!(r.el_torito.entries.is_empty());
        assert_eq!(ids(&r)[0], "eltorito.unreadable");
        // Reports written before `readable` existed read as readable.
        let old = r#"{"present":true,"catalog_lba":40,"entries":[]}"#;
        let summary: ElToritoSummary = serde_json::from_str(old).unwrap();
        assert!(summary.readable);
        assert!(ElToritoSummary::default().readable);
    }

    #[test]
    fn duplicates_are_dropped_wherever_they_are_then_sorted_stably() {
        let a = |id: &str, sev, msg: &str| Anomaly::new(id, sev, msg);
        let mut v = vec![
            a("x", Severity::Info, "one"),
            a("y", Severity::Error, "two"),
            a("z", Severity::Warn, "three"),
            a("x", Severity::Info, "one"),
            a("x", Severity::Info, "other"),
            a("y", Severity::Warn, "two"),
            a("w", Severity::Error, "four"),
        ];
        dedup_and_sort(&mut v);
        let got: Vec<_> = v
            .iter()
            .map(|a| (a.id.as_str(), a.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("y", "two"),
                ("w", "four"),
                ("z", "three"),
                ("x", "one"),
                ("x", "other")
            ]
        );
        assert_eq!(v[0].severity, Severity::Error);
    }

    #[test]
    fn volume_bytes_count_2048_byte_blocks_whatever_the_declared_size() {
        let (bytes, _) = sample();
        let clean = report(bytes.clone());
        let pvd = 16 * SECTOR_SIZE as usize;
        for declared in [0u16, 512] {
            let mut b = bytes.clone();
            b[pvd + 128..pvd + 130].copy_from_slice(&declared.to_le_bytes());
            b[pvd + 130..pvd + 132].copy_from_slice(&declared.to_be_bytes());
            let r = report(b);
            assert_eq!(r.logical_block_size, u64::from(declared));
            assert_eq!(r.volume_bytes, r.volume_space_size * 2048);
            assert_eq!(r.volume_bytes, clean.volume_bytes);
            assert_eq!(ids(&r), ["descriptor.impossible-value"], "{declared}");
            let msg = &r.anomalies[0].message;
            assert!(
                msg.ends_with("isotune reads every block as 2048 bytes"),
                "{msg}"
            );
        }
    }

    #[test]
    fn boot_file_past_the_end_of_the_file() {
        let (mut bytes, summary) = sample();
        let initrd = summary.file("/install/initrd.gz").unwrap().extent;
        let cut = initrd.offset() + 100;
        bytes.truncate(cut as usize);
        let r = report(bytes);
        let past: Vec<_> = r
            .anomalies
            .iter()
            .filter(|a| a.id == "boot.file-past-end")
            .collect();
        assert!(!past.is_empty(), "{:?}", r.anomalies);
        let msg = &past[0].message;
        assert!(msg.starts_with("/install/initrd.gz ends at byte"), "{msg}");
        assert!(msg.contains(&format!("the {cut}-byte image file")), "{msg}");
        assert_eq!(past[0].severity, Severity::Error);
    }

    #[test]
    fn default_boot_files_are_marked_in_the_report() {
        let (bytes, _) = sample();
        let r = report(bytes);
        let default: Vec<_> = bootfiles::default_boot_files(&r.boot_files)
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(
            default,
            [
                "/isolinux/isolinux.bin",
                "/isolinux/isolinux.cfg",
                "/install/vmlinuz",
                "/install/initrd.gz"
            ]
        );
        // GRUB's configuration is on the disk but no catalog entry starts GRUB.
        let grub = r
            .boot_files
            .iter()
            .find(|f| f.path == "/boot/grub/grub.cfg");
        assert!(!grub.unwrap().default_boot);
    }
}
