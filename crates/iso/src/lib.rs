//! `isotune-iso` reads and writes ISO9660 images.
//!
//! The reader takes anything that implements [`ReadAt`] (a file, a block
//! device, a byte slice) and fetches each structure with positioned reads;
//! it never loads the image and keeps memory bounded on hostile input
//! (every loop, chain and table has a limit, and breaking one is an
//! [`Anomaly`] or an [`Error`] of kind [`ErrorKind::LimitExceeded`]).
//!
//! ```text
//!   ReadAt ──> IsoImage::open ──> descriptors (PVD, SVD/Joliet, boot record, ...)
//!                  │
//!                  ├─> tree: ISO9660 / Joliet / Rock Ridge directory walks, lookup
//!                  ├─> eltorito: boot catalog        ├─> partition: MBR / GPT
//!                  ├─> udf: bridge detection         ├─> md5record: implantisomd5 record
//!                  ├─> bootfiles: what a boot reads, in load order
//!                  └─> report: everything above as one serde struct (`isotune inspect`)
//!   writer: builds small images (files, Joliet, El Torito no-emulation) with no external tool
//!   crafted: hostile images (CE chains, overlapping multi-extent directories, a GPT past the
//!            end) for tests, benchmarks and fuzz seeds
//! ```
//!
//! One image's walks and lookups share a [`budget::ImageShared`]: the Rock
//! Ridge / SUSP budget and the last big directory read, so repeated lookups
//! of a crafted image cannot multiply its cost.
//!
//! Nothing here prints; callers render the serde data.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod bootfiles;
pub mod budget;
mod bytes;
pub mod crafted;
pub mod datetime;
pub mod descriptor;
pub mod directory;
pub mod eltorito;
pub mod error;
pub mod image;
mod listing;
pub mod md5record;
pub mod partition;
pub mod report;
pub mod rockridge;
pub mod sample;
pub mod source;
pub mod susp;
#[cfg(test)]
mod testimg;
pub mod trace;
pub mod tree;
pub mod types;
pub mod udf;
pub mod volume;
pub mod writer;

pub use datetime::IsoDateTime;
pub use descriptor::{
    BootRecord, PartitionDescriptor, PrimaryVolumeDescriptor, SupplementaryVolumeDescriptor,
    VolumeDescriptor, VolumeDescriptorSet, VolumeInfo,
};
pub use error::{Error, ErrorKind, Result};
pub use image::{IsoImage, OpenError, RockRidgeInfo};
pub use source::ReadAt;
pub use tree::{FileTree, TreeReader};
pub use types::{Anomaly, Extent, FileEntry, FileKind, Namespace, Severity, SECTOR_SIZE};
