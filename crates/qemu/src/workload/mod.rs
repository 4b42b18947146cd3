//! Boot workloads for `isotune boot`: images whose boot reads a known
//! amount of data from the ISO and says on the serial port when it starts
//! and ends, so the runner can time phases from markers and compare the
//! guest's reads (QMP `query-blockstats`) with what the workload asked for.
//!
//! - [`firmware`]: the built-in workload, an El Torito BIOS boot program
//!   (`crates/qemu/boot/isoread.asm`) that reads a payload through INT 13h
//!   and powers off. It measures the firmware phase alone and needs no tool
//!   on the host.
//!
//! GRUB and Linux workloads are built from distribution packages and live
//! in the test helpers (`isotune-testutil`'s `boot` module), since isotune
//! cannot ship a bootloader or a kernel.

use std::path::PathBuf;

pub mod firmware;

pub use firmware::{write_firmware_iso, FirmwareIso};

/// Why a workload image could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ISO writer failed (layout or I/O).
    #[error("cannot write the workload image `{path}`")]
    Iso {
        /// The image being written.
        path: PathBuf,
        /// What the writer reported.
        #[source]
        source: isotune_iso::Error,
    },
    /// The embedded boot program has no parameter block to patch.
    #[error("the boot program has no `ISOTUNE1` parameter block")]
    NoParamBlock,
    /// The payload does not fit what the boot program can address.
    #[error("a payload of {bytes} bytes is too large (at most {max} bytes)")]
    PayloadTooLarge {
        /// Requested payload size.
        bytes: u64,
        /// Largest payload accepted.
        max: u64,
    },
    /// The payload landed beyond the LBAs the boot program can address.
    #[error("the payload starts at sector {lba}, beyond the boot program's 32-bit LBA")]
    LbaOutOfRange {
        /// First sector of the payload.
        lba: u64,
    },
    /// Writing laid the image out differently from the plan the boot
    /// program was patched with (a writer bug).
    #[error("`{path}` was laid out differently from its plan")]
    LayoutChanged {
        /// The image written.
        path: PathBuf,
    },
}

#[cfg(test)]
mod guest_tests;
