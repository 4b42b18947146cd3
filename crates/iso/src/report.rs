//! Everything `isotune inspect` shows, gathered into one serde struct.
//!
//! [`inspect`] runs every reader of this crate over an opened image and
//! collects what they found; no reader failure other than the volume
//! descriptors themselves is fatal here: a broken boot catalog or partition
//! table becomes an [`Anomaly`] in the report, because a user inspecting a
//! damaged image wants to see everything that *can* be read.

use serde::{Deserialize, Serialize};

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
pub const SCHEMA_VERSION: u32 = 1;

/// What to gather besides the always-present summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InspectOptions {
    /// List the whole tree of this namespace (`--files`); `None`: no listing.
    pub files: Option<Namespace>,
}

/// The El Torito part of the report; always present, `entries` empty when
/// the image has no boot catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElToritoSummary {
    /// A boot record pointing at a catalog exists.
    pub present: bool,
    /// LBA of the boot catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_lba: Option<u32>,
    /// The validation entry's checksum and key were right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_ok: Option<bool>,
    /// Boot entries: the default entry first, then section entries.
    pub entries: Vec<crate::eltorito::BootEntry>,
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
    /// Logical block size in bytes (2048 on every real image).
    pub logical_block_size: u64,
    /// `volume_space_size × logical_block_size`, in bytes.
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

    let catalog: Option<BootCatalog> = match bootfiles::boot_catalog(image) {
        Ok(c) => c,
        Err(e) => {
            anomalies.push(Anomaly::new(
                "eltorito.unreadable",
                Severity::Error,
                format!("the boot catalog cannot be read: {e}"),
            ));
            None
        }
    };
    let el_torito = match &catalog {
        Some(c) => {
            anomalies.extend(c.anomalies.iter().cloned());
            ElToritoSummary {
                present: true,
                catalog_lba: Some(c.catalog_lba),
                validation_ok: Some(c.validation.checksum_ok && c.validation.key_ok),
                entries: c.entries.clone(),
            }
        }
        None => ElToritoSummary::default(),
    };

    let block = u64::from(pvd.logical_block_size);
    let blocks = u64::from(pvd.volume_space_size);
    let layout =
        match partition::read_partitions(image.source(), Some(blocks.saturating_mul(block))) {
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

    let files = match options.files {
        Some(ns) => {
            let tree = image.files(ns)?;
            anomalies.extend(tree.anomalies.iter().cloned());
            Some(tree.entries)
        }
        None => None,
    };

    // Most severe first; stable within a severity so readers see them in the
    // order the image was read.
    anomalies.sort_by_key(|a| std::cmp::Reverse(a.severity));
    anomalies.dedup();

    Ok(InspectReport {
        schema_version: SCHEMA_VERSION,
        volume_id: pvd.volume_id.clone(),
        system_id: pvd.system_id.clone(),
        application_id: pvd.application_id.clone(),
        volume_space_size: blocks,
        logical_block_size: block,
        volume_bytes: blocks.saturating_mul(block),
        file_size: image.file_size(),
        joliet: image.joliet().is_some(),
        rock_ridge: image.has_rock_ridge(),
        udf: udf_info.present,
        namespace: options.files.unwrap_or_else(|| image.best_namespace()),
        el_torito,
        partitions: layout.partitions.clone(),
        boot_files: boot.files,
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
