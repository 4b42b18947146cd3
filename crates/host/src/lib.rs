//! Host facts, read under a [`SysRoot`] so tests (and `--sysroot`) can point
//! every reader at a captured `/proc` + `/sys` tree instead of this machine.
//!
//! - [`facts`]: the serde data ([`HostFacts`], [`FileFacts`] and parts).
//!
//! Readers never fail because one entry is unreadable: they record a
//! warning in the facts and go on. They fail only when the file asked about
//! does not exist.

#![warn(missing_docs)]

pub mod facts;
mod sysroot;

pub use facts::*;
pub use sysroot::SysRoot;
