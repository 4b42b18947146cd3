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
//! ```
//!
//! Nothing here prints; callers render the serde data.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod error;
pub mod source;
pub mod types;

pub use error::{Error, ErrorKind, Result};
pub use source::ReadAt;
pub use types::{Anomaly, Extent, FileEntry, FileKind, Namespace, Severity, SECTOR_SIZE};
