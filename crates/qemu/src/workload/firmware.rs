//! The built-in firmware workload: an ISO whose El Torito BIOS boot program
//! reads a payload file through INT 13h and powers the VM off.
//!
//! The boot program (`crates/qemu/boot/isoread.asm`, assembled by
//! `scripts/build-bootprog`, committed as `isoread.bin` so no assembler is
//! needed) prints [`START_MARKER`] on COM1, reads `PAYLOAD.BIN` in 32 KiB
//! INT 13h AH=42h requests, prints [`DONE_MARKER`] and powers off through
//! ACPI (a pause under `-action shutdown=pause`, so `query-blockstats` can
//! be read afterwards). It measures the firmware's cdrom path alone: SeaBIOS
//! turns each request into one ATAPI command of 2 KiB on IDE and larger
//! ones on AHCI and virtio-scsi.
//!
//! The image is laid out first, the payload's first sector and length are
//! patched into the program's parameter block, then the image is written
//! with the payload streamed (a 64 MiB payload costs one 64 KiB buffer).
//!
//! Limitations: BIOS only (SeaBIOS); under OVMF the image does not boot.
//! Without ACPI (`-machine ...,acpi=off`) the program falls back to
//! isa-debug-exit at 0xF4 ([`DEBUG_EXIT_DONE_STATUS`]) when that device is
//! present, and otherwise halts with the VM still running.

use std::path::{Path, PathBuf};

use isotune_iso::writer::{BootImage, FileSource, IsoWriter, Timestamp, WriteSummary};
use isotune_iso::SECTOR_SIZE;
use serde::{Deserialize, Serialize};

use super::Error;

/// The assembled boot program (2048 bytes, parameter block unpatched).
pub const BOOT_PROGRAM: &[u8] = include_bytes!("../../boot/isoread.bin");

/// The magic that opens the boot program's parameter block; the payload's
/// first LBA and its length in 2048-byte sectors follow as little-endian
/// `u32`s.
pub const PARAM_MAGIC: &[u8; 8] = b"ISOTUNE1";

/// Regex of the serial line the program prints before its first read.
pub const START_MARKER: &str = "^isotune: start";

/// Regex of the serial line the program prints after its last read.
pub const DONE_MARKER: &str = "^isotune: done";

/// Prefix of the serial line the program prints when a read fails
/// (followed by `AH=xx`, the INT 13h status in hex).
pub const ERROR_LINE_PREFIX: &str = "isotune: error";

/// Payload size `isotune boot` uses by default.
pub const DEFAULT_PAYLOAD_BYTES: u64 = 64 << 20;

/// QEMU's exit status when the program reached isa-debug-exit after
/// [`DONE_MARKER`] (the device only exists with
/// `-device isa-debug-exit,iobase=0xf4,iosize=0x04`, and is only reached
/// when ACPI power-off did not stop the VM).
pub const DEBUG_EXIT_DONE_STATUS: i32 = 1;

/// QEMU's exit status when the program reached isa-debug-exit after a
/// read error.
pub const DEBUG_EXIT_ERROR_STATUS: i32 = 3;

/// Volume identifier of the workload image.
pub const VOLUME_ID: &str = "ISOTUNE_BOOT";

/// Path of the boot program in the image.
pub const BOOT_PATH: &str = "/BOOT/ISOREAD.BIN";

/// Path of the payload in the image.
pub const PAYLOAD_PATH: &str = "/PAYLOAD.BIN";

/// Seed of the payload's pseudo-random content.
const PAYLOAD_SEED: u64 = 0x1507_u64;

/// A written firmware workload image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareIso {
    /// The image file.
    pub path: PathBuf,
    /// Size of the image in bytes.
    pub image_bytes: u64,
    /// First sector (2048 bytes) of the boot program.
    pub boot_lba: u64,
    /// First sector (2048 bytes) of the payload.
    pub payload_lba: u64,
    /// Payload size in bytes.
    pub payload_bytes: u64,
    /// Bytes the program reads: the payload rounded up to whole sectors.
    pub read_bytes: u64,
    /// Regex of the start marker line ([`START_MARKER`]).
    pub start_marker: String,
    /// Regex of the done marker line ([`DONE_MARKER`]).
    pub done_marker: String,
}

/// Writes the firmware workload image to `path` (replacing it) with a
/// pseudo-random payload of `payload_bytes`.
pub fn write_firmware_iso(path: &Path, payload_bytes: u64) -> Result<FirmwareIso, Error> {
    let max = isotune_iso::writer::MAX_FILE_SIZE;
    if payload_bytes > max {
        return Err(Error::PayloadTooLarge {
            bytes: payload_bytes,
            max,
        });
    }
    let iso_err = |source| Error::Iso {
        path: path.to_owned(),
        source,
    };
    // The program's size never changes, so the unpatched layout is the
    // final one.
    let plan = writer(BOOT_PROGRAM.to_vec(), payload_bytes)
        .map_err(iso_err)?
        .plan()
        .map_err(iso_err)?;
    let (boot_lba, payload_lba) = locations(&plan);
    let sectors = payload_bytes.div_ceil(SECTOR_SIZE);
    let lba = u32::try_from(payload_lba).map_err(|_| Error::LbaOutOfRange { lba: payload_lba })?;
    let count = u32::try_from(sectors).map_err(|_| Error::PayloadTooLarge {
        bytes: payload_bytes,
        max,
    })?;
    let program = patch_params(BOOT_PROGRAM, lba, count)?;
    let written = writer(program, payload_bytes)
        .map_err(iso_err)?
        .write_file(path)
        .map_err(iso_err)?;
    if written != plan {
        return Err(Error::LayoutChanged {
            path: path.to_owned(),
        });
    }
    Ok(FirmwareIso {
        path: path.to_owned(),
        image_bytes: written.image_bytes(),
        boot_lba,
        payload_lba,
        payload_bytes,
        read_bytes: sectors * SECTOR_SIZE,
        start_marker: START_MARKER.to_owned(),
        done_marker: DONE_MARKER.to_owned(),
    })
}

/// The image's writer with `program` as its boot image.
fn writer(program: Vec<u8>, payload_bytes: u64) -> isotune_iso::Result<IsoWriter> {
    let mut w = IsoWriter::new(VOLUME_ID);
    // A fixed date: the same payload size always gives the same image.
    w.timestamp(Timestamp::from_unix_seconds(1_767_225_600)?);
    w.add_file(BOOT_PATH, FileSource::bytes(program))?
        .add_file(
            PAYLOAD_PATH,
            FileSource::pseudo_random(payload_bytes, PAYLOAD_SEED),
        )?;
    w.el_torito(BootImage::bios(BOOT_PATH));
    Ok(w)
}

/// The boot program's and the payload's first sectors in a layout made by
/// [`writer`].
fn locations(summary: &WriteSummary) -> (u64, u64) {
    let lba = |p: &str| {
        summary
            .file(p)
            .map(|f| f.extent.lba)
            .expect("the writer lays out every file added")
    };
    (lba(BOOT_PATH), lba(PAYLOAD_PATH))
}

/// A copy of `program` with the payload's first sector and sector count in
/// its parameter block.
pub fn patch_params(program: &[u8], payload_lba: u32, sectors: u32) -> Result<Vec<u8>, Error> {
    let at = program
        .windows(PARAM_MAGIC.len())
        .position(|w| w == PARAM_MAGIC)
        .ok_or(Error::NoParamBlock)?;
    let fields = at + PARAM_MAGIC.len();
    if program.len() < fields + 8 {
        return Err(Error::NoParamBlock);
    }
    let mut out = program.to_vec();
    out[fields..fields + 4].copy_from_slice(&payload_lba.to_le_bytes());
    out[fields + 4..fields + 8].copy_from_slice(&sectors.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests;
