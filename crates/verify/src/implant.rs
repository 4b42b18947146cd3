//! Implanting a checkisomd5-compatible MD5 record, the way `implantisomd5`
//! does, into a copy of an image or (explicitly) into the image itself.
//!
//! The rules follow implantisomd5 (isomd5sum 1.2.3-1.2.5):
//! - the application-use field must be all spaces unless `force` is given
//!   (zeros, or an older record, count as used);
//! - the MD5 covers the volume (PVD big-endian size × 2048) minus 15
//!   sectors, with the application field read as spaces, in 32 KiB steps
//!   with 20 fragment checkpoints; `RHLISOSTATUS=0`.
//!
//! Two deliberate differences: an image shorter than the range to hash is
//! refused ([`ErrorKind::Truncated`]; implantisomd5 would hash what exists
//! and certify a broken download), and on images under ~700 KiB, where one
//! 32 KiB read spans several fragments, the fragment sums are placed where
//! checkisomd5 looks for them (implantisomd5 writes them too short there,
//! and checkisomd5 then fails its own tool's record).
//!
//! The source of a copy is only ever opened read-only.

use std::fs::{File, OpenOptions};

use isotune_input::atomic::AtomicFile;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use isotune_iso::md5record::{
    self, ImplantedMd5, APP_USE_OFFSET, DEFAULT_FRAGMENT_COUNT, DEFAULT_SKIP_SECTORS,
};
use isotune_iso::ReadAt;

use crate::error::{Error, ErrorKind, Result};
use crate::isomd5::IsoMd5Sink;
use crate::pipeline::{self, PassConfig, Progress};
use crate::report::{ImplantReport, SCHEMA_VERSION};
use crate::rules::partial_record;
use crate::verify::{head_or_error, open_image};
use crate::volume::read_head;

/// Computes the record for `path` and writes it into `path` itself.
/// Refuses an application area that is already used unless `force`.
pub fn implant_in_place(
    path: &Path,
    force: bool,
    progress: &dyn Progress,
) -> Result<ImplantReport> {
    open_image(path)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, "open for writing", e))?;
    let started = Instant::now();
    let computed = compute(&file, path, force, progress)?;
    write_record(&file, path, &computed.record)?;
    Ok(computed.into_report(path, Some(path), started))
}

/// Copies `source` to the new file `output` and implants the record there;
/// `source` is only read. `output` must not exist
/// ([`ErrorKind::OutputExists`]).
///
/// All or nothing: the copy is written as a temporary file beside `output`
/// (`.NAME.isotune-partial.PID`), fsynced with its record and renamed to
/// `output` only then. On an error the temporary file is removed; a binary
/// that catches SIGINT/SIGTERM removes it through
/// [`isotune_input::atomic::remove_pending`]; after a SIGKILL the next
/// implant to the same `output` removes it and lists it in
/// [`ImplantReport::stale_temps_removed`].
pub fn implant_to_copy(
    source: &Path,
    output: &Path,
    force: bool,
    progress: &dyn Progress,
) -> Result<ImplantReport> {
    let src = open_image(source)?;
    // Fail before copying anything when the record could not be written.
    precheck(&src, source, force)?;
    let started = Instant::now();
    let mut dst = AtomicFile::create(output, false).map_err(Error::output)?;
    let stale = dst.stale_removed().to_vec();
    let computed = {
        let mut reader = &src;
        std::io::copy(&mut reader, &mut dst).map_err(|e| Error::io(output, "copy the image", e))?;
        if let Ok(meta) = src.metadata() {
            // Best effort: a copy that is not readable like the original is
            // a surprise, but not worth failing the implant for.
            let _ = dst.file().set_permissions(meta.permissions());
        }
        // Hash the copy, not the source: the record then describes exactly
        // the bytes it sits in, even if the source changes meanwhile.
        let computed = compute(dst.file(), output, force, progress)?;
        write_record(dst.file(), output, &computed.record)?;
        computed
    };
    dst.commit().map_err(Error::output)?;
    let mut report = computed.into_report(source, Some(output), started);
    report.stale_temps_removed = stale;
    Ok(report)
}

/// Computes the record `implant_in_place` would write, and writes nothing.
pub fn implant_dry_run(path: &Path, force: bool, progress: &dyn Progress) -> Result<ImplantReport> {
    let file = open_image(path)?;
    let started = Instant::now();
    let computed = compute(&file, path, force, progress)?;
    Ok(computed.into_report(path, None, started))
}

struct Computed {
    record: ImplantedMd5,
    replaced: Option<ImplantedMd5>,
    overwrote_used_area: bool,
    hashed_bytes: u64,
}

impl Computed {
    fn into_report(self, source: &Path, written: Option<&Path>, started: Instant) -> ImplantReport {
        ImplantReport {
            schema_version: SCHEMA_VERSION,
            source: source.to_path_buf(),
            written: written.map(Path::to_path_buf),
            record: self.record,
            replaced: self.replaced,
            overwrote_used_area: self.overwrote_used_area,
            hashed_bytes: self.hashed_bytes,
            elapsed_ns: u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            stale_temps_removed: Vec::new(),
        }
    }
}

/// The checks implantisomd5 makes before hashing; returns what the area
/// held and how many bytes will be hashed.
fn precheck(file: &File, path: &Path, force: bool) -> Result<(Option<ImplantedMd5>, bool, u64)> {
    let file_bytes = ReadAt::size(file).map_err(|e| Error::io(path, "read the size", e))?;
    let head = read_head(file, file_bytes)
        .map_err(|e| Error::io(path, "read the volume descriptor", e))?;
    let head = head_or_error(path, Some(&head))?;
    if !head.is_primary() {
        return Err(Error::new(
            ErrorKind::NotIso,
            Some(path),
            "sector 16 is not a primary volume descriptor",
        ));
    }
    let used = !md5record::is_blank(&head.app_use);
    let replaced = md5record::parse(&head.app_use);
    if used && !force {
        let what = if replaced.is_some() {
            "holds an implanted MD5 already"
        } else if partial_record(&head.app_use).is_some() {
            "holds an incomplete implanted MD5 record"
        } else {
            "holds other data"
        };
        return Err(Error::new(
            ErrorKind::AppAreaInUse,
            Some(path),
            format!(
                "the application area of the primary volume descriptor {what}; \
                 overwriting it needs --force (as implantisomd5 needs --force)"
            ),
        ));
    }
    let skip = u64::try_from(DEFAULT_SKIP_SECTORS).unwrap_or(0) * 2048;
    let total = head.isomd5_volume_bytes.saturating_sub(skip);
    if file_bytes < total {
        return Err(Error::new(
            ErrorKind::Truncated,
            Some(path),
            format!(
                "the image is {file_bytes} bytes but the MD5 must cover {total} bytes of its volume; \
                 refusing to certify a truncated image"
            ),
        ));
    }
    Ok((replaced, used, total))
}

fn compute(file: &File, path: &Path, force: bool, progress: &dyn Progress) -> Result<Computed> {
    let (replaced, used, total) = precheck(file, path, force)?;
    let mut sink = IsoMd5Sink::implant(total);
    pipeline::run(
        file,
        total,
        &mut [&mut sink],
        PassConfig::default(),
        progress,
    )
    .map_err(|e| Error::io(path, "read the image", e))?;
    let out = sink.finish();
    if out.hashed != total {
        return Err(Error::new(
            ErrorKind::Truncated,
            Some(path),
            format!(
                "the image ended after {} of {total} bytes while hashing",
                out.hashed
            ),
        ));
    }
    Ok(Computed {
        record: ImplantedMd5 {
            md5: out.md5,
            skip_sectors: DEFAULT_SKIP_SECTORS,
            supported: Some(0),
            fragment_sums: out.fragment_sums,
            fragment_count: Some(DEFAULT_FRAGMENT_COUNT),
        },
        replaced,
        overwrote_used_area: used,
        hashed_bytes: out.hashed,
    })
}

fn write_record(file: &File, path: &Path, record: &ImplantedMd5) -> Result<()> {
    let bytes = record.format().map_err(|e| {
        Error::new(
            ErrorKind::Io,
            Some(path),
            format!("cannot lay out the implanted MD5 record: {e}"),
        )
    })?;
    file.write_all_at(&bytes, APP_USE_OFFSET)
        .and_then(|()| file.sync_data())
        .map_err(|e| Error::io(path, "write the implanted MD5 record", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::NoProgress;
    use crate::report::ImplantedStatus;
    use crate::verify::{verify, VerifyOptions};
    use crate::volume::tests::fake_iso;

    fn checked(path: &Path) -> ImplantedStatus {
        let opts = VerifyOptions {
            implanted: true,
            ..VerifyOptions::default()
        };
        verify(path, &opts, &NoProgress)
            .unwrap()
            .implanted
            .unwrap()
            .status
    }

    #[test]
    fn in_place_then_check_then_refuse_then_force() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.iso");
        let mut img = fake_iso(400, 400);
        for (i, b) in img.iter_mut().enumerate().skip(40 * 2048) {
            *b = (i % 253) as u8;
        }
        std::fs::write(&p, &img).unwrap();
        assert_eq!(checked(&p), ImplantedStatus::NotImplanted);
        let r = implant_in_place(&p, false, &NoProgress).unwrap();
        assert_eq!(r.hashed_bytes, (400 - 15) * 2048);
        assert_eq!(r.record.fragment_sums.as_ref().unwrap().len(), 60);
        assert!(!r.overwrote_used_area);
        assert_eq!(checked(&p), ImplantedStatus::Pass);

        let e = implant_in_place(&p, false, &NoProgress).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AppAreaInUse);
        assert!(
            e.message()
                .ends_with("overwriting it needs --force (as implantisomd5 needs --force)"),
            "{e}"
        );
        let r2 = implant_in_place(&p, true, &NoProgress).unwrap();
        assert_eq!(r2.record, r.record);
        assert_eq!(r2.replaced.as_ref(), Some(&r.record));
        assert_eq!(checked(&p), ImplantedStatus::Pass);
    }

    #[test]
    fn copy_leaves_the_source_alone_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("s.iso");
        let dst = dir.path().join("d.iso");
        let img = fake_iso(100, 100);
        std::fs::write(&src, &img).unwrap();
        let dry = implant_dry_run(&src, false, &NoProgress).unwrap();
        assert_eq!(dry.written, None);
        let r = implant_to_copy(&src, &dst, false, &NoProgress).unwrap();
        assert_eq!(r.record, dry.record);
        assert_eq!(std::fs::read(&src).unwrap(), img);
        assert_eq!(checked(&dst), ImplantedStatus::Pass);
        let e = implant_to_copy(&src, &dst, false, &NoProgress).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OutputExists);
        // A used source area is refused before any file is created.
        let other = dir.path().join("o.iso");
        let e = implant_to_copy(&dst, &other, false, &NoProgress).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AppAreaInUse);
        assert!(!other.exists());
    }

    #[test]
    fn truncated_and_non_iso_sources_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.iso");
        std::fs::write(&p, fake_iso(50, 100)).unwrap();
        let e = implant_dry_run(&p, false, &NoProgress).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Truncated);
        std::fs::write(&p, vec![0u8; 100_000]).unwrap();
        let e = implant_in_place(&p, true, &NoProgress).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotIso);
        std::fs::write(&p, &fake_iso(50, 50)[..20_000]).unwrap();
        let e = implant_dry_run(&p, true, &NoProgress).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Truncated);
    }

    #[test]
    fn an_incomplete_record_counts_as_used() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("i.iso");
        let mut img = fake_iso(100, 100);
        let record = b"ISO MD5SUM = 0123456789abcdef0123456789abcdef;";
        let at = APP_USE_OFFSET as usize;
        img[at..at + record.len()].copy_from_slice(record);
        std::fs::write(&p, &img).unwrap();
        let e = implant_in_place(&p, false, &NoProgress).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AppAreaInUse);
        assert!(
            e.message().contains("incomplete implanted MD5 record"),
            "{e}"
        );
        let r = implant_in_place(&p, true, &NoProgress).unwrap();
        assert!(r.overwrote_used_area);
        assert_eq!(r.replaced, None);
        assert_eq!(checked(&p), ImplantedStatus::Pass);
    }
}
