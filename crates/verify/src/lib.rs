//! `isotune-verify` checks the integrity of ISO images in one read pass:
//! several digests at once (MD5, SHA-1, SHA-256, SHA-512), checksum files
//! in GNU and BSD styles, the MD5 implanted by `implantisomd5` (checked
//! exactly as `checkisomd5` does, and implanted so that it accepts it), and
//! truncation (a volume larger than the file).
//!
//! ```text
//!   verify(path, options, progress)
//!     ├─ sums: checksum files -> expected values (by file name)
//!     ├─ volume: sector 16 -> volume size, application area (md5record)
//!     └─ pipeline: one reader, pooled buffers, one thread per consumer
//!          ├─ md5 / sha1 / sha256 / sha512
//!          └─ isomd5: checkisomd5's MD5 with fragment checkpoints
//!     └─ rules: truncation, partial records, the verdict (pure)
//!   implant_in_place / implant_to_copy / implant_dry_run: implantisomd5's record
//! ```
//!
//! Results are serde data ([`VerifyReport`], [`ImplantReport`]); progress
//! goes through [`Progress`]; nothing here prints.
//!
//! ```no_run
//! use isotune_verify::{verify, Algorithm, NoProgress, VerifyOptions};
//! let options = VerifyOptions {
//!     algorithms: vec![Algorithm::Sha256],
//!     implanted: true,
//!     ..VerifyOptions::default()
//! };
//! let report = verify("x.iso".as_ref(), &options, &NoProgress)?;
//! println!("{:?}", report.verdict);
//! # Ok::<(), isotune_verify::Error>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod algorithm;
pub mod error;
pub mod implant;
mod isomd5;
mod md5fast;
/// The hand-tuned MD5, public only for `examples/hash_speed.rs` (its speed
/// beside the `md-5` crate's).
#[doc(hidden)]
pub use md5fast::Md5 as Md5Fast;
pub mod pipeline;
pub mod report;
mod rules;
pub mod sums;
pub mod verify;
mod volume;

pub use algorithm::{Algorithm, Expected};
pub use error::{Error, ErrorKind, Result};
pub use implant::{implant_dry_run, implant_in_place, implant_to_copy};
pub use pipeline::{NoProgress, Progress};
pub use report::{
    CheckStatus, DigestResult, ExpectedResult, ExpectedSource, FailedCheck, ImplantReport,
    ImplantedResult, ImplantedStatus, SumsFileUse, TruncationResult, Verdict, VerifyReport,
    SCHEMA_VERSION,
};
pub use sums::{SumsEntry, SumsFile, SumsStyle};
pub use verify::{verify, TruncationCheck, VerifyOptions};
